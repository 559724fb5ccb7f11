//! The knowledge base: articles and runbooks written, reviewed and published by staff,
//! read by whoever their audience allows, searched with typo correction, rated by readers,
//! and linked to the tickets they solved.

use std::collections::HashMap;

use opsdesk_domain::knowledge::{
    self as rules, ArticleKind, ArticleStatus, Audience, DiffLine, Reader, RunbookStep, StepResult,
};
use opsdesk_store::Conn;
use opsdesk_store::knowledge::{self as store, ArticleFields, ArticleListing, ReaderFilter};
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::Need;
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

/// Words that say nothing about a problem; searched for, they only add noise.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "at", "be", "but", "can", "cannot", "do", "does", "for", "from",
    "has", "have", "how", "i", "in", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or",
    "our", "so", "that", "the", "this", "to", "was", "we", "what", "when", "why", "will", "with",
    "won", "you", "your",
];

/// The words of a search: lower case, letters and digits only, stop words left out.
pub(crate) fn search_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect();
    words.dedup();
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
async fn category_paths(app: &App) -> Result<HashMap<i64, String>, AppError> {
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

impl App {
    /// Writes a new draft.
    pub async fn create_article(
        &self,
        principal: &Principal,
        input: NewArticle,
    ) -> Result<Article, AppError> {
        principal.require_staff()?;
        let categories = category_paths(self).await?;
        let now = self.now();
        let mut article = Article {
            id: 0,
            kind: ArticleKind::Article,
            title: String::new(),
            body: String::new(),
            steps: Vec::new(),
            category: None,
            tags: Vec::new(),
            audience: Audience::Internal,
            organizations: Vec::new(),
            monitors: Vec::new(),
            status: ArticleStatus::Draft,
            language: "en".into(),
            translation_of: input.translation_of,
            owner: principal.email.clone(),
            review_by: None,
            revision: 1,
            helpful: 0,
            unhelpful: 0,
            created_at: now,
            updated_at: now,
            published_at: None,
            version: 1,
            owner_id: principal.user_id.unwrap_or_default(),
            category_id: None,
        };
        apply(
            &mut article,
            &ArticlePatch {
                kind: input.kind,
                title: Some(input.title),
                body: Some(input.body),
                steps: Some(input.steps),
                category: input.category,
                tags: Some(input.tags),
                audience: input.audience,
                organizations: Some(input.organizations),
                monitors: Some(input.monitors),
                language: input.language,
                owner: None,
                review_by: input.review_by,
                status: None,
            },
            &categories,
        )?;
        let owner = input.owner;
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                if let Some(owner) = &owner {
                    article.owner_id = staff_id(tx.conn, owner).await?;
                }
                if let Some(original) = article.translation_of {
                    store::get(tx.conn, original, ReaderFilter::Staff)
                        .await?
                        .ok_or_else(|| AppError::invalid("translation_of", "no such article"))?;
                }
                let author = tx.principal.user_id.unwrap_or(article.owner_id);
                let id = store::insert(tx.conn, &article.fields(), author, tx.now)
                    .await
                    .map_err(|e| translation_conflict(e, &article.language))?;
                save_monitors(tx.conn, id, &article.monitors).await?;
                let created = load(tx.conn, id, STAFF, &categories).await?;
                tx.record(Event::created(Entity::Article, id, &created))
                    .await?;
                Ok(created)
            })
        })
        .await
    }

    /// One article, if `principal` may read it.
    pub async fn article(&self, principal: &Principal, id: i64) -> Result<Article, AppError> {
        let categories = category_paths(self).await?;
        let mut conn = self.db().reader().await?;
        load(&mut conn, id, reader_of(principal), &categories).await
    }

    /// A published article an anonymous portal visitor may read (audience `public`).
    pub async fn public_article(&self, id: i64) -> Result<Article, AppError> {
        let categories = category_paths(self).await?;
        let mut conn = self.db().reader().await?;
        load(
            &mut conn,
            id,
            (Reader::Anonymous, ReaderFilter::Anonymous),
            &categories,
        )
        .await
    }

    /// The translations of an article (and the article it translates), for its language links.
    pub async fn article_translations(
        &self,
        principal: &Principal,
        article: &Article,
    ) -> Result<Vec<Article>, AppError> {
        let original = article.translation_of.unwrap_or(article.id);
        let categories = category_paths(self).await?;
        let mut conn = self.db().reader().await?;
        Ok(
            store::translations(&mut conn, original, reader_of(principal).1)
                .await?
                .into_iter()
                .filter(|row| row.id != article.id)
                .map(|row| Article::from_row(row, &categories))
                .collect(),
        )
    }

    /// Changes an article and moves it through its workflow.
    pub async fn update_article(
        &self,
        principal: &Principal,
        id: i64,
        expected: impl Into<Precondition>,
        patch: ArticlePatch,
    ) -> Result<Article, AppError> {
        principal.require_staff()?;
        let expected: Precondition = expected.into();
        let categories = category_paths(self).await?;
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let before = load(tx.conn, id, STAFF, &categories).await?;
                let version = expected.check(before.version)?;
                let mut after = before.clone();
                apply(&mut after, &patch, &categories)?;
                if let Some(owner) = &patch.owner {
                    after.owner_id = staff_id(tx.conn, owner).await?;
                }
                let mut status = before.status;
                if let Some(raw) = &patch.status {
                    let to: ArticleStatus =
                        raw.parse().map_err(|e| AppError::invalid("status", e))?;
                    if to != before.status {
                        rules::check_transition(before.status, to, tx.principal.role).map_err(
                            |e| match e {
                                rules::WorkflowError::ApproverOnly => {
                                    AppError::Forbidden(e.to_string())
                                }
                                other => AppError::invalid("status", other),
                            },
                        )?;
                        status = to;
                    }
                }
                let author = tx.principal.user_id.unwrap_or(before.owner_id);
                let saved = store::update(
                    tx.conn,
                    id,
                    version,
                    &after.fields(),
                    status.as_str(),
                    author,
                    tx.now,
                )
                .await
                .map_err(|e| translation_conflict(e, &after.language))?;
                if !saved {
                    return Err(AppError::Stale);
                }
                if after.monitors != before.monitors {
                    save_monitors(tx.conn, id, &after.monitors).await?;
                }
                let updated = load(tx.conn, id, STAFF, &categories).await?;
                tx.record(Event::updated(Entity::Article, id, &before, &updated))
                    .await?;
                Ok(updated)
            })
        })
        .await
    }

    pub async fn delete_article(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        let categories = category_paths(self).await?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = load(tx.conn, id, STAFF, &categories).await?;
                store::delete(tx.conn, id).await?;
                tx.record(Event::deleted(Entity::Article, id, &before))
                    .await
            })
        })
        .await
    }

    /// Searches (with `text`) or lists the articles `principal` may read. Mistyped words
    /// that match nothing are corrected to the closest indexed word and searched again; a
    /// search that still finds nothing is logged for the gap report.
    pub async fn articles(
        &self,
        principal: &Principal,
        query: &ArticleQuery,
    ) -> Result<ArticleResults, AppError> {
        self.find_articles(reader_of(principal), query).await
    }

    /// [`App::articles`] for an anonymous portal visitor: public articles only.
    pub async fn public_articles(&self, query: &ArticleQuery) -> Result<ArticleResults, AppError> {
        self.find_articles((Reader::Anonymous, ReaderFilter::Anonymous), query)
            .await
    }

    async fn find_articles(
        &self,
        (reader, filter): (Reader, ReaderFilter),
        query: &ArticleQuery,
    ) -> Result<ArticleResults, AppError> {
        let categories = category_paths(self).await?;
        let limit = query.limit;
        let mut errors = Vec::new();
        if !(1..=100).contains(&limit) {
            errors.push(FieldError::new("limit", "must be 1 to 100"));
        }
        if query.offset < 0 {
            errors.push(FieldError::new("offset", "must not be negative"));
        }
        if let Some(status) = &query.status {
            parse::<ArticleStatus>("status", status, &mut errors);
        }
        if let Some(kind) = &query.kind {
            parse::<ArticleKind>("kind", kind, &mut errors);
        }
        let category_id = match &query.category {
            Some(path) => match categories
                .iter()
                .find(|(_, p)| p.eq_ignore_ascii_case(path))
            {
                Some((id, _)) => Some(*id),
                None => {
                    errors.push(FieldError::new("category", format!("no category `{path}`")));
                    None
                }
            },
            None => None,
        };
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let hit = |article: Article, score: f64, snippet: String| ArticleHit {
            id: article.id,
            kind: article.kind,
            title: article.title,
            category: article.category,
            status: article.status,
            audience: article.audience,
            score,
            snippet,
        };
        let mut conn = self.db().reader().await?;
        let words = search_words(&query.text);
        if words.is_empty() {
            let rows = store::list(
                &mut conn,
                filter,
                &ArticleListing {
                    status: query.status.clone(),
                    kind: query.kind.clone(),
                    category_id,
                    limit,
                    offset: query.offset,
                },
            )
            .await?;
            let items = rows
                .into_iter()
                .map(|row| {
                    let article = Article::from_row(row, &categories);
                    let snippet = article.body.chars().take(160).collect();
                    hit(article, 0.0, snippet)
                })
                .collect();
            return Ok(ArticleResults {
                items,
                corrected: None,
            });
        }
        let published_only =
            reader != Reader::Staff || query.status.as_deref() == Some("published");
        let mut found = store::search(&mut conn, &words, filter, published_only, limit).await?;
        let mut corrected = None;
        if found.is_empty() {
            let known = store::indexed_words(&mut conn).await?;
            let fixed: Vec<String> = words
                .iter()
                .map(|w| {
                    rules::correct(w, known.iter().map(String::as_str))
                        .map_or_else(|| w.clone(), str::to_owned)
                })
                .collect();
            if fixed != words {
                found = store::search(&mut conn, &fixed, filter, published_only, limit).await?;
                corrected = Some(fixed.join(" "));
            }
        }
        let matches_filters = |row: &store::ArticleRow| {
            query.kind.as_deref().is_none_or(|k| row.kind == k)
                && query.status.as_deref().is_none_or(|s| row.status == s)
                && category_id.is_none_or(|c| row.category_id == Some(c))
        };
        let items: Vec<ArticleHit> = found
            .into_iter()
            .filter(|h| matches_filters(&h.article))
            .map(|h| {
                hit(
                    Article::from_row(h.article, &categories),
                    h.score,
                    h.snippet,
                )
            })
            .collect();
        if items.is_empty() && query.log_miss {
            drop(conn);
            let who = match reader {
                Reader::Staff => "staff",
                Reader::Customer { .. } => "customer",
                Reader::Anonymous => "anonymous",
            };
            let text = query.text.trim().to_owned();
            self.system_change("knowledge", move |tx| {
                Box::pin(async move {
                    store::record_miss(tx.conn, &text, who, tx.now).await?;
                    Ok(())
                })
            })
            .await?;
        }
        Ok(ArticleResults { items, corrected })
    }

    /// An article's kept revisions, newest first (staff).
    pub async fn article_revisions(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Vec<Revision>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        store::get(&mut conn, id, ReaderFilter::Staff)
            .await?
            .ok_or(AppError::NotFound("article"))?;
        let mut authors: HashMap<i64, String> = HashMap::new();
        let mut revisions = Vec::new();
        for row in store::revisions(&mut conn, id).await? {
            let author = match row.author_id {
                Some(user) => {
                    if !authors.contains_key(&user)
                        && let Some(found) =
                            opsdesk_store::accounts::get_user(&mut conn, user).await?
                    {
                        authors.insert(user, found.email);
                    }
                    authors.get(&user).cloned()
                }
                None => None,
            };
            revisions.push(Revision {
                revision: row.revision,
                title: row.title,
                body: row.body,
                steps: serde_json::from_str(&row.steps).unwrap_or_default(),
                author,
                created_at: timestamp(row.created_at),
            });
        }
        Ok(revisions)
    }

    /// What changed from revision `from` to revision `to`.
    pub async fn article_diff(
        &self,
        principal: &Principal,
        id: i64,
        from: i64,
        to: i64,
    ) -> Result<RevisionDiff, AppError> {
        let revisions = self.article_revisions(principal, id).await?;
        let find = |n: i64, field: &str| {
            revisions
                .iter()
                .find(|r| r.revision == n)
                .ok_or_else(|| AppError::invalid(field.to_owned(), format!("no revision {n}")))
        };
        let (old, new) = (find(from, "from")?, find(to, "to")?);
        let text = |r: &Revision| {
            let mut text = r.body.clone();
            for (index, step) in r.steps.iter().enumerate() {
                text.push_str(&format!("\n{}. {}", index + 1, step.check));
                if let Some(command) = &step.command {
                    text.push_str(&format!("\n   $ {command}"));
                }
                if let Some(expected) = &step.expected {
                    text.push_str(&format!("\n   → {expected}"));
                }
            }
            text
        };
        Ok(RevisionDiff {
            from,
            to,
            title: (old.title.clone(), new.title.clone()),
            lines: rules::diff_lines(&text(old), &text(new)),
        })
    }

    /// Makes an old revision's words the article's current ones (as a new revision).
    pub async fn restore_article_revision(
        &self,
        principal: &Principal,
        id: i64,
        revision: i64,
    ) -> Result<Article, AppError> {
        let old = self
            .article_revisions(principal, id)
            .await?
            .into_iter()
            .find(|r| r.revision == revision)
            .ok_or(AppError::NotFound("revision"))?;
        self.update_article(
            principal,
            id,
            Precondition::Any,
            ArticlePatch {
                title: Some(old.title),
                body: Some(old.body),
                steps: Some(old.steps),
                ..ArticlePatch::default()
            },
        )
        .await
    }

    /// Records whether an article helped. "No" with a comment opens a task for its owner.
    pub async fn article_feedback(
        &self,
        principal: &Principal,
        id: i64,
        input: NewFeedback,
    ) -> Result<FeedbackReceipt, AppError> {
        let article = self.article(principal, id).await?;
        let comment = input.comment.trim().to_owned();
        if comment.chars().count() > 2000 {
            return Err(AppError::invalid(
                "comment",
                "must be at most 2000 characters",
            ));
        }
        let user = principal.user_id;
        let helpful = input.helpful;
        let saved_comment = comment.clone();
        self.change(principal, Need::Anyone, move |tx| {
            Box::pin(async move {
                store::add_feedback(tx.conn, id, user, helpful, &saved_comment, tx.now).await?;
                Ok(())
            })
        })
        .await?;
        let task = if !helpful && !comment.is_empty() {
            let description = format!(
                "A reader ({}) said article #{} did not help:\n\n> {}\n\nReview it at /kb/{}.",
                principal.email, article.id, comment, article.id
            );
            let title = format!("Article feedback: {}", article.title);
            Some(
                self.owner_task(&article.owner, title, description, "kb-feedback")
                    .await?,
            )
        } else {
            None
        };
        let article = self.article(principal, id).await?;
        Ok(FeedbackReceipt {
            helpful: article.helpful,
            unhelpful: article.unhelpful,
            task,
        })
    }

    /// Opens a service request for an article's owner, assigned to them; returns its number.
    async fn owner_task(
        &self,
        owner: &str,
        title: String,
        description: String,
        tag: &str,
    ) -> Result<String, AppError> {
        let opened = self
            .create_ticket(
                &Principal::system("knowledge"),
                NewTicket {
                    ticket_type: "service_request".into(),
                    title,
                    description,
                    impact: "low".into(),
                    urgency: "low".into(),
                    requester: Some(owner.to_owned()),
                    assignee: Some(owner.to_owned()),
                    source: Some("web".into()),
                    tags: vec![tag.to_owned()],
                    ..NewTicket::default()
                },
            )
            .await?;
        Ok(opened.number)
    }

    /// Reminds owners of the published articles whose review date has passed, once per
    /// date, with a task each; returns how many.
    pub async fn remind_article_reviews(&self) -> Result<usize, AppError> {
        let due = self
            .system_change("knowledge", |tx| {
                Box::pin(async move { Ok(store::claim_due_reviews(tx.conn, tx.now).await?) })
            })
            .await?;
        for (id, title, owner_id) in &due {
            let owner = {
                let mut conn = self.db().reader().await?;
                opsdesk_store::accounts::get_user(&mut conn, *owner_id).await?
            };
            let Some(owner) = owner else { continue };
            let description = format!(
                "Article #{id} was due for review. Check it is still right, then set its next \
                 review date at /kb/{id}/edit."
            );
            self.owner_task(
                &owner.email,
                format!("Review article: {title}"),
                description,
                "kb-review",
            )
            .await?;
        }
        Ok(due.len())
    }

    /// The runbooks for a ticket (those of its category and of the monitors whose outages
    /// opened it), with the step outcomes recorded so far (staff).
    pub async fn ticket_runbooks(
        &self,
        principal: &Principal,
        ticket: &str,
    ) -> Result<Vec<TicketRunbook>, AppError> {
        principal.require_staff()?;
        let found = self.ticket(principal, ticket).await?;
        let mut conn = self.db().reader().await?;
        runbooks_of(&mut conn, found.id, found.category.as_ref().map(|c| c.id)).await
    }

    /// Records how a runbook step went on a ticket (staff), in its timeline.
    pub async fn record_runbook_step(
        &self,
        principal: &Principal,
        ticket: &str,
        input: NewStepOutcome,
    ) -> Result<Vec<TicketRunbook>, AppError> {
        principal.require_staff()?;
        let outcome: StepResult = input
            .outcome
            .parse()
            .map_err(|e| AppError::invalid("outcome", e))?;
        let found = self.ticket(principal, ticket).await?;
        let category = found.category.as_ref().map(|c| c.id);
        let note = input.note.trim().to_owned();
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let runbooks = runbooks_of(tx.conn, found.id, category).await?;
                let runbook = runbooks
                    .iter()
                    .find(|r| r.id == input.article_id)
                    .ok_or_else(|| {
                        AppError::invalid("article_id", "not a runbook offered on this ticket")
                    })?;
                if !(1..=i64::try_from(runbook.steps.len()).unwrap_or(0)).contains(&input.step) {
                    return Err(AppError::invalid(
                        "step",
                        format!("the runbook has steps 1 to {}", runbook.steps.len()),
                    ));
                }
                store::record_step(
                    tx.conn,
                    found.id,
                    runbook.id,
                    input.step,
                    outcome.as_str(),
                    &note,
                    tx.principal.user_id,
                    tx.now,
                )
                .await?;
                let mut batch = tx.batch();
                crate::tickets::timeline(
                    &mut batch,
                    found.id,
                    tx.now,
                    tx.actor,
                    "runbook_step",
                    false,
                    serde_json::json!({
                        "article_id": runbook.id, "title": runbook.title, "step": input.step,
                        "outcome": outcome.as_str(), "note": note,
                    }),
                );
                let event = Event {
                    entity: Entity::Ticket,
                    entity_id: found.id,
                    action: crate::audit::Action::Updated,
                    before: None,
                    after: Some(serde_json::json!({
                        "ticket": found.number, "runbook": runbook.id, "step": input.step,
                        "outcome": outcome.as_str(),
                    })),
                };
                tx.record_with(batch, event).await?;
                runbooks_of(tx.conn, found.id, category).await
            })
        })
        .await
    }

    /// Records that an article solved a ticket (staff), in the ticket's timeline.
    pub async fn link_article(
        &self,
        principal: &Principal,
        ticket: &str,
        article_id: i64,
    ) -> Result<Vec<Article>, AppError> {
        principal.require_staff()?;
        let categories = category_paths(self).await?;
        let reference = ticket.to_owned();
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let row = find_visible(tx.conn, tx.principal, &reference).await?;
                let article = load(tx.conn, article_id, STAFF, &categories).await?;
                if store::link_ticket(tx.conn, row.id, article_id, tx.now).await? {
                    let mut batch = tx.batch();
                    crate::tickets::timeline(
                        &mut batch,
                        row.id,
                        tx.now,
                        tx.actor,
                        "article_linked",
                        false,
                        serde_json::json!({"article_id": article.id, "title": article.title}),
                    );
                    let event = Event {
                        entity: Entity::Ticket,
                        entity_id: row.id,
                        action: crate::audit::Action::Linked,
                        before: None,
                        after: Some(serde_json::json!({
                            "ticket": number_of(&row.ticket_type, row.number),
                            "article": article.id,
                        })),
                    };
                    tx.record_with(batch, event).await?;
                }
                Ok(
                    store::articles_of_ticket(tx.conn, row.id, ReaderFilter::Staff)
                        .await?
                        .into_iter()
                        .map(|row| Article::from_row(row, &categories))
                        .collect(),
                )
            })
        })
        .await
    }

    /// The articles linked to a ticket that `principal` may read.
    pub async fn ticket_articles(
        &self,
        principal: &Principal,
        ticket: &str,
    ) -> Result<Vec<Article>, AppError> {
        let categories = category_paths(self).await?;
        let mut conn = self.db().reader().await?;
        let row = find_visible(&mut conn, principal, ticket).await?;
        Ok(
            store::articles_of_ticket(&mut conn, row.id, reader_of(principal).1)
                .await?
                .into_iter()
                .map(|row| Article::from_row(row, &categories))
                .collect(),
        )
    }

    /// Turns a resolved ticket into a draft article: its title, the problem as described,
    /// and the fix from its resolution note and public replies; the ticket is linked to it.
    pub async fn draft_article_from_ticket(
        &self,
        principal: &Principal,
        ticket: &str,
    ) -> Result<Article, AppError> {
        principal.require_staff()?;
        let found = self.ticket(principal, ticket).await?;
        let timeline = self.ticket_timeline(principal, ticket, 0, 500).await?;
        let replies: Vec<String> = timeline
            .iter()
            .filter(|entry| entry.kind == "comment" && entry.public)
            .filter_map(|entry| entry.data.get("body").and_then(|b| b.as_str()))
            .map(str::to_owned)
            .collect();
        let mut body = format!(
            "## Problem\n\n{}\n\n## Solution\n\n",
            found.description.trim()
        );
        if let Some(note) = &found.resolution_note {
            body.push_str(note.trim());
            body.push_str("\n\n");
        }
        for reply in &replies {
            body.push_str(reply.trim());
            body.push_str("\n\n");
        }
        let created = self
            .create_article(
                principal,
                NewArticle {
                    title: found.title.clone(),
                    body: body.trim_end().to_owned(),
                    category: found.category.as_ref().map(|c| c.name.clone()),
                    tags: found.tags.clone(),
                    ..NewArticle::default()
                },
            )
            .await?;
        self.link_article(principal, &found.number, created.id)
            .await?;
        Ok(created)
    }

    /// Searches that found nothing in the last `days`, the most frequent first (staff).
    pub async fn article_search_misses(
        &self,
        principal: &Principal,
        days: i64,
    ) -> Result<Vec<SearchMiss>, AppError> {
        principal.require_staff()?;
        if !(1..=366).contains(&days) {
            return Err(AppError::invalid("days", "must be 1 to 366"));
        }
        let since = self.now_ms() - days * 86_400_000;
        let mut conn = self.db().reader().await?;
        Ok(store::misses(&mut conn, since, 100)
            .await?
            .into_iter()
            .map(|m| SearchMiss {
                query: m.query,
                times: m.times,
                last_at: timestamp(m.last_at),
            })
            .collect())
    }
}

/// The runbooks for a ticket with the outcomes recorded on it.
async fn runbooks_of(
    conn: &mut Conn,
    ticket_id: i64,
    category: Option<i64>,
) -> Result<Vec<TicketRunbook>, AppError> {
    let outcomes = store::steps_of_ticket(conn, ticket_id).await?;
    Ok(store::runbooks_for_ticket(conn, ticket_id, category)
        .await?
        .into_iter()
        .map(|row| {
            let steps: Vec<RunbookStep> = serde_json::from_str(&row.steps).unwrap_or_default();
            TicketRunbook {
                id: row.id,
                title: row.title,
                steps: (1..)
                    .zip(steps)
                    .map(|(step, s)| {
                        let recorded = outcomes
                            .iter()
                            .find(|o| o.article_id == row.id && o.step == step);
                        StepProgress {
                            step,
                            check: s.check,
                            command: s.command,
                            expected: s.expected,
                            outcome: recorded.map(|o| o.outcome.clone()),
                            note: recorded.map(|o| o.note.clone()).filter(|n| !n.is_empty()),
                            by: recorded.and_then(|o| o.user_email.clone()),
                            at: recorded.map(|o| timestamp(o.created_at)),
                        }
                    })
                    .collect(),
            }
        })
        .collect())
}

/// A second article in one language for the same original is refused by the database.
fn translation_conflict(error: opsdesk_store::StoreError, language: &str) -> AppError {
    let text = error.to_string();
    if text.contains("articles_one_per_language")
        || text.contains("articles.translation_of, articles.language")
    {
        AppError::invalid(
            "language",
            format!("the article already has a `{language}` translation"),
        )
    } else {
        error.into()
    }
}
