//! The knowledge base: articles and runbooks written, reviewed and published by staff,
//! read by whoever their audience allows, searched with typo correction, rated by readers,
//! and linked to the tickets they solved.

mod articles;
mod feedback;
mod files;
mod gaps;
mod revisions;
mod search;
mod tickets;

pub(crate) use articles::write_kept_article;
pub use files::ArticleFile;
pub use gaps::{GapTicket, KnowledgeGap};
pub(crate) use tickets::link_to_ticket;

use std::collections::HashMap;

use opsdesk_domain::knowledge::{
    self as rules, ArticleKind, ArticleStatus, Audience, DiffLine, Reader, RunbookStep, StepResult,
};
use opsdesk_store::Conn;
use opsdesk_store::knowledge::{self as store, ArticleFields, ArticleListing, ReaderFilter};
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::{Need, Tx};
use crate::precondition::Precondition;
use crate::tickets::{NewTicket, find_visible, number_of};
use crate::{App, AppError, FieldError, Principal, timestamp};

/// An article as readers and the API see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Article {
    pub id: i64,
    /// `article` or `runbook`.
    #[schema(value_type = String)]
    pub kind: ArticleKind,
    pub title: String,
    /// Markdown.
    pub body: String,
    /// A runbook's steps, in order.
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<RunbookStep>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    /// `public`, `customers` or `internal`.
    #[schema(value_type = String)]
    pub audience: Audience,
    /// For the `customers` audience: only these organizations (ids); empty means all.
    pub organizations: Vec<i64>,
    /// For a runbook: the monitors (ids) whose incidents offer it.
    pub monitors: Vec<i64>,
    /// `draft`, `in_review`, `published` or `archived`.
    #[schema(value_type = String)]
    pub status: ArticleStatus,
    pub language: String,
    /// The article this one translates.
    pub translation_of: Option<i64>,
    /// Who keeps the article right: reviews, feedback tasks.
    pub owner: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub review_by: Option<jiff::Timestamp>,
    /// Counts every change of title, body or steps, from 1.
    pub revision: i64,
    pub helpful: i64,
    pub unhelpful: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub published_at: Option<jiff::Timestamp>,
    #[serde(skip)]
    pub version: i64,
    #[serde(skip)]
    owner_id: i64,
    #[serde(skip)]
    category_id: Option<i64>,
}

/// A new article; it starts as a draft.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewArticle {
    /// `article` (default) or `runbook`.
    #[serde(default)]
    pub kind: Option<String>,
    pub title: String,
    /// Markdown.
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<RunbookStep>,
    /// Category by name, or `Parent/Child`.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `public`, `customers` or `internal` (default).
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default)]
    pub organizations: Vec<i64>,
    /// For a runbook: the monitors (ids) whose incidents offer it.
    #[serde(default)]
    pub monitors: Vec<i64>,
    /// A language tag such as `en` (default) or `de`.
    #[serde(default)]
    pub language: Option<String>,
    /// The id of the article this one translates.
    #[serde(default)]
    pub translation_of: Option<i64>,
    /// The owner's e-mail address (a staff member); yourself when absent.
    #[serde(default)]
    pub owner: Option<String>,
    /// When the article should next be checked: `2027-03-31` or a full timestamp.
    #[serde(default)]
    pub review_by: Option<String>,
}

/// Changes to an article; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticlePatch {
    pub kind: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub steps: Option<Vec<RunbookStep>>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    pub audience: Option<String>,
    pub organizations: Option<Vec<i64>>,
    pub monitors: Option<Vec<i64>>,
    pub language: Option<String>,
    pub owner: Option<String>,
    pub review_by: Option<String>,
    /// Moves the article through its workflow: `in_review` (submit), `published`
    /// (approvers), `archived` (approvers) or `draft` (rework).
    pub status: Option<String>,
}

/// A reader's answer to "did this help?".
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFeedback {
    pub helpful: bool,
    #[serde(default)]
    pub comment: String,
}

/// What a low rating did: the task it opened for the article's owner, if any.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedbackReceipt {
    pub helpful: i64,
    pub unhelpful: i64,
    /// The ticket opened for the owner when the article did not help and the reader said why.
    pub task: Option<String>,
}

/// A search result.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArticleHit {
    pub id: i64,
    #[schema(value_type = String)]
    pub kind: ArticleKind,
    pub title: String,
    pub category: Option<String>,
    #[schema(value_type = String)]
    pub status: ArticleStatus,
    #[schema(value_type = String)]
    pub audience: Audience,
    /// Relevance: higher is better.
    pub score: f64,
    /// A passage of the body around the words found.
    pub snippet: String,
}

/// Articles found, or listed when there was nothing to search for.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArticleResults {
    pub items: Vec<ArticleHit>,
    /// The words searched for instead, when some were mistyped and nothing matched them.
    pub corrected: Option<String>,
}

/// One kept revision.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Revision {
    pub revision: i64,
    pub title: String,
    pub body: String,
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<RunbookStep>,
    pub author: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

/// The difference between two revisions, line by line.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevisionDiff {
    pub from: i64,
    pub to: i64,
    /// The title before and after.
    #[schema(value_type = Vec<String>)]
    pub title: (String, String),
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<DiffLine>,
}

/// A search that found nothing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchMiss {
    pub query: String,
    pub times: i64,
    #[schema(value_type = String, format = DateTime)]
    pub last_at: jiff::Timestamp,
}

/// A runbook as followed on a ticket: its steps and the outcomes recorded so far.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketRunbook {
    pub id: i64,
    pub title: String,
    pub steps: Vec<StepProgress>,
}

/// One runbook step on a ticket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepProgress {
    /// From 1.
    pub step: i64,
    /// `manual` (done by a person) or `script` (run by the host's agent in a runbook run).
    pub kind: String,
    pub check: String,
    pub command: Option<String>,
    pub expected: Option<String>,
    /// `done`, `failed` or `skipped`; absent until recorded.
    pub outcome: Option<String>,
    pub note: Option<String>,
    /// Who recorded it.
    pub by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<jiff::Timestamp>,
}

/// The outcome of one runbook step, recorded on a ticket.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStepOutcome {
    pub article_id: i64,
    /// The step's number, from 1.
    pub step: i64,
    /// `done`, `failed` or `skipped`.
    pub outcome: String,
    #[serde(default)]
    pub note: String,
}

/// Which articles to list or search.
#[derive(Debug, Clone, Default)]
pub struct ArticleQuery {
    pub text: String,
    pub status: Option<String>,
    pub kind: Option<String>,
    pub category: Option<String>,
    pub limit: i64,
    pub offset: i64,
    /// Log the search for the gap report when it finds nothing; searches made while
    /// someone types, or to suggest articles for a ticket, are not.
    pub log_miss: bool,
}

/// The words of a search (those the triage assistant reads: stop words left out), each once.
pub(crate) fn search_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for word in opsdesk_domain::triage::words(text) {
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words.truncate(16);
    words
}

const STAFF: (Reader, ReaderFilter) = (Reader::Staff, ReaderFilter::Staff);

fn reader_of(principal: &Principal) -> (Reader, ReaderFilter) {
    if principal.role.is_staff() {
        (Reader::Staff, ReaderFilter::Staff)
    } else {
        let organization = principal.organization_id;
        (
            Reader::Customer { organization },
            ReaderFilter::Customer(organization),
        )
    }
}

fn parse<T: std::str::FromStr>(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e: T::Err| errors.push(FieldError::new(field, e)))
        .ok()
}

fn parse_review_by(raw: &str) -> Result<i64, String> {
    if let Ok(at) = raw.parse::<jiff::Timestamp>() {
        return Ok(at.as_millisecond());
    }
    raw.parse::<jiff::civil::Date>()
        .map_err(|_| "must be a date (2027-03-31) or a timestamp".to_owned())
        .and_then(|date| {
            jiff::tz::TimeZone::UTC
                .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
                .map(|at| at.as_millisecond())
                .map_err(|e| e.to_string())
        })
}

fn tags_text(tags: &[String]) -> String {
    let mut tags: Vec<String> = tags
        .iter()
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    tags.sort();
    tags.dedup();
    tags.join(",")
}

impl Article {
    fn from_row(row: store::ArticleRow, categories: &HashMap<i64, String>) -> Self {
        let ids = |text: &str| -> Vec<i64> {
            text.split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect()
        };
        Self {
            id: row.id,
            kind: row.kind.parse().unwrap_or(ArticleKind::Article),
            title: row.title,
            body: row.body,
            steps: serde_json::from_str(&row.steps).unwrap_or_default(),
            category: row.category_id.and_then(|id| categories.get(&id).cloned()),
            tags: row
                .tags
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            audience: row.audience.parse().unwrap_or(Audience::Internal),
            organizations: ids(&row.organizations),
            monitors: Vec::new(),
            status: row.status.parse().unwrap_or(ArticleStatus::Draft),
            language: row.language,
            translation_of: row.translation_of,
            owner: row.owner_email,
            review_by: row.review_by.map(timestamp),
            revision: row.revision,
            helpful: row.helpful,
            unhelpful: row.unhelpful,
            created_at: timestamp(row.created_at),
            updated_at: timestamp(row.updated_at),
            published_at: row.published_at.map(timestamp),
            version: row.version,
            owner_id: row.owner_id,
            category_id: row.category_id,
        }
    }

    fn fields(&self) -> ArticleFields {
        ArticleFields {
            kind: self.kind.as_str().to_owned(),
            title: self.title.clone(),
            body: self.body.clone(),
            steps: serde_json::to_string(&self.steps).unwrap_or_else(|_| "[]".into()),
            category_id: self.category_id,
            tags: tags_text(&self.tags),
            audience: self.audience.as_str().to_owned(),
            organizations: self
                .organizations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            language: self.language.clone(),
            translation_of: self.translation_of,
            owner_id: self.owner_id,
            review_by: self.review_by.map(|t| t.as_millisecond()),
        }
    }
}

/// Category paths (`Parent/Child`) by id.
pub(crate) async fn category_paths(app: &App) -> Result<HashMap<i64, String>, AppError> {
    Ok(app
        .categories()
        .await?
        .into_iter()
        .map(|c| (c.id, c.path))
        .collect())
}

async fn staff_id(conn: &mut Conn, email: &str) -> Result<i64, AppError> {
    match opsdesk_store::accounts::find_user_by_email(conn, email).await? {
        Some(user) if user.role != "customer" => Ok(user.id),
        _ => Err(AppError::invalid(
            "owner",
            format!("no agent or admin `{email}`"),
        )),
    }
}

async fn load(
    conn: &mut Conn,
    id: i64,
    (reader, filter): (Reader, ReaderFilter),
    categories: &HashMap<i64, String>,
) -> Result<Article, AppError> {
    let mut article = store::get(conn, id, filter)
        .await?
        .map(|row| Article::from_row(row, categories))
        // The statement filters by the same rule; the domain's is the one that is tested.
        .filter(|a| rules::may_read(reader, a.status, a.audience, &a.organizations))
        .ok_or(AppError::NotFound("article"))?;
    article.monitors = store::monitors_of(conn, id).await?;
    Ok(article)
}

/// Links a runbook to monitors, which must exist.
async fn save_monitors(conn: &mut Conn, article_id: i64, monitors: &[i64]) -> Result<(), AppError> {
    for (index, id) in monitors.iter().enumerate() {
        if opsdesk_store::monitors::get(conn, *id).await?.is_none() {
            return Err(AppError::invalid(
                format!("monitors[{index}]"),
                format!("no monitor {id}"),
            ));
        }
    }
    Ok(store::set_monitors(conn, article_id, monitors).await?)
}

/// Checks and applies the author's fields of `input` onto `article`.
fn apply(
    article: &mut Article,
    patch: &ArticlePatch,
    categories: &HashMap<i64, String>,
) -> Result<(), AppError> {
    let mut errors = Vec::new();
    if let Some(kind) = &patch.kind
        && let Some(kind) = parse("kind", kind, &mut errors)
    {
        article.kind = kind;
    }
    if let Some(title) = &patch.title {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > 200 {
            errors.push(FieldError::new("title", "must be 1 to 200 characters"));
        }
        article.title = title.to_owned();
    }
    if let Some(body) = &patch.body {
        article.body = body.clone();
    }
    if let Some(steps) = &patch.steps {
        article.steps = steps.clone();
    }
    if let Err(e) = rules::check_steps(article.kind, &article.steps) {
        errors.push(FieldError::new("steps", e));
    }
    if let Some(category) = &patch.category {
        if category.trim().is_empty() {
            article.category_id = None;
        } else {
            match categories
                .iter()
                .find(|(_, path)| path.eq_ignore_ascii_case(category.trim()))
            {
                Some((id, _)) => article.category_id = Some(*id),
                None => errors.push(FieldError::new(
                    "category",
                    format!("no category `{category}`"),
                )),
            }
        }
    }
    if let Some(tags) = &patch.tags {
        article.tags = tags_text(tags)
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if let Some(audience) = &patch.audience
        && let Some(audience) = parse("audience", audience, &mut errors)
    {
        article.audience = audience;
    }
    if let Some(organizations) = &patch.organizations {
        article.organizations = organizations.clone();
    }
    if article.audience != Audience::Customers && !article.organizations.is_empty() {
        errors.push(FieldError::new(
            "organizations",
            "only an article for customers is limited to organizations",
        ));
    }
    if let Some(monitors) = &patch.monitors {
        article.monitors = monitors.clone();
    }
    if article.kind != ArticleKind::Runbook && !article.monitors.is_empty() {
        errors.push(FieldError::new(
            "monitors",
            "only a runbook is linked to monitors",
        ));
    }
    if let Some(language) = &patch.language {
        let valid = (2..=8).contains(&language.len())
            && language
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            errors.push(FieldError::new(
                "language",
                "must be a language tag such as `en` or `pt-BR`",
            ));
        }
        article.language = language.clone();
    }
    if let Some(review_by) = &patch.review_by {
        if review_by.is_empty() {
            article.review_by = None;
        } else {
            match parse_review_by(review_by) {
                Ok(ms) => article.review_by = Some(timestamp(ms)),
                Err(message) => errors.push(FieldError::new("review_by", message)),
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid(errors))
    }
}
