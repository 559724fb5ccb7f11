//! The knowledge base in the browser: staff write, review and publish articles and runbooks
//! under `/kb` (with revisions, diffs and restore); everyone reads what their audience
//! allows under `/help`, anonymous visitors the public articles, and rates them.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::knowledge::{
    Article, ArticleHit, ArticlePatch, ArticleQuery, NewArticle, NewFeedback, Revision,
    RevisionDiff, SearchMiss,
};
use opsdesk_app::tickets::Category;
use opsdesk_app::{AppError, FieldError, Principal};
use opsdesk_domain::knowledge::{self as rules, ArticleStatus, DiffLine, RunbookStep};
use serde::Deserialize;

use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;
use crate::extract::{SESSION_COOKIE, cookie};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/kb", get(staff_list))
        .route("/kb/new", get(new_form).post(create))
        .route("/kb/gaps/draft", post(draft_from_gap))
        .route("/kb/{id}", get(staff_article))
        .route("/kb/{id}/edit", get(edit_form).post(save))
        .route("/kb/{id}/status", post(move_status))
        .route("/kb/{id}/diff", get(diff))
        .route("/kb/{id}/revisions/{revision}/restore", post(restore))
        .route("/help", get(help_list))
        .route("/help/{id}", get(help_article))
        .route("/help/{id}/feedback", post(feedback))
        .route("/help/{id}/files/{file}", get(help_file))
        .route("/kb/{id}/files", post(upload_file))
        .route("/kb/{id}/files/{file}/delete", post(delete_file))
        .route("/tickets/{number}/articles", post(solved_by))
        .route("/tickets/{number}/draft-article", post(draft_from_ticket))
        .route("/tickets/{number}/runbook-steps", post(runbook_step))
        .route("/tickets/{number}/triage", post(apply_triage))
}

/// Runbook titles, each looked up once per page; a runbook since deleted still names where
/// a script or a run came from, by its number.
#[derive(Default)]
pub(crate) struct RunbookTitles(std::collections::BTreeMap<i64, String>);

impl RunbookTitles {
    pub(crate) async fn of(&mut self, state: &AppState, principal: &Principal, id: i64) -> String {
        if let Some(title) = self.0.get(&id) {
            return title.clone();
        }
        let title = match state.app.article(principal, id).await {
            Ok(article) => article.title,
            Err(_) => format!("#{id}"),
        };
        self.0.insert(id, title.clone());
        title
    }
}

#[derive(Debug, Default, Deserialize)]
struct ListParams {
    q: Option<String>,
    status: Option<String>,
    kind: Option<String>,
    translation_of: Option<i64>,
}

#[derive(Template)]
#[template(path = "kb_list.html")]
struct ListPage {
    c: Chrome,
    /// `/kb` for staff, `/help` for readers.
    base: &'static str,
    q: String,
    status: String,
    items: Vec<ArticleHit>,
    corrected: Option<String>,
    misses: Vec<SearchMiss>,
    /// Portal deflection per category over the last 30 days (staff only).
    deflection: Vec<opsdesk_app::deflection::DeflectionLine>,
    /// Questions answered again and again without an article (staff only).
    gaps: Vec<opsdesk_app::knowledge::KnowledgeGap>,
    statuses: &'static [&'static str],
}

impl ListPage {
    /// A share as a whole percentage.
    fn percent(&self, share: &f64) -> String {
        format!("{:.0} %", share * 100.0)
    }
}

/// The signed-in user, if any: `/help` is open to anonymous visitors.
async fn reader(state: &AppState, headers: &HeaderMap) -> Option<Principal> {
    let secret = cookie(headers, SESSION_COOKIE)?;
    state.app.authenticate_session(&secret).await.ok()
}

fn query_of(params: &ListParams) -> ArticleQuery {
    ArticleQuery {
        text: params.q.clone().unwrap_or_default(),
        status: params.status.clone().filter(|s| !s.is_empty()),
        kind: params.kind.clone().filter(|k| !k.is_empty()),
        category: None,
        limit: 50,
        offset: 0,
        log_miss: true,
    }
}

async fn staff_list(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    let results = state.app.articles(&principal, &query_of(&params)).await?;
    let misses = state.app.article_search_misses(&principal, 30).await?;
    Ok(render(&ListPage {
        c: Chrome::new(&principal, Lang.t("kb.title")),
        base: "/kb",
        q: params.q.unwrap_or_default(),
        status: params.status.unwrap_or_default(),
        items: results.items,
        corrected: results.corrected,
        misses: misses.into_iter().take(10).collect(),
        deflection: state.app.deflection_report(&principal, 30).await?,
        gaps: state.app.knowledge_gaps(&principal, 30).await?,
        statuses: ArticleStatus::NAMES,
    }))
}

async fn help_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let query = ArticleQuery {
        status: None,
        ..query_of(&params)
    };
    let principal = reader(&state, &headers).await;
    let (c, results) = match &principal {
        Some(principal) => (
            Chrome::new(principal, Lang.t("help.title")),
            state
                .app
                .articles(
                    principal,
                    &ArticleQuery {
                        status: Some("published".into()),
                        ..query
                    },
                )
                .await?,
        ),
        None => (
            Chrome::anonymous(Lang.t("help.title")),
            state.app.public_articles(&query).await?,
        ),
    };
    Ok(render(&ListPage {
        c,
        base: "/help",
        q: params.q.unwrap_or_default(),
        status: String::new(),
        items: results.items,
        corrected: results.corrected,
        misses: Vec::new(),
        deflection: Vec::new(),
        gaps: Vec::new(),
        statuses: &[],
    }))
}

#[derive(Template)]
#[template(path = "kb_article.html")]
struct ArticlePage {
    c: Chrome,
    a: Article,
    /// The body as safe HTML (written in Markdown).
    body: String,
    /// Staff see the workflow, revisions and translations; readers the feedback form.
    staff: bool,
    revisions: Vec<Revision>,
    translations: Vec<Article>,
    /// The workflow steps open from here: (target status, label key).
    moves: Vec<(&'static str, &'static str)>,
    thanks: bool,
    files: Vec<opsdesk_app::knowledge::ArticleFile>,
}

fn moves(status: ArticleStatus, approver: bool) -> Vec<(&'static str, &'static str)> {
    use ArticleStatus::*;
    let mut moves = Vec::new();
    match status {
        Draft => moves.push(("in_review", "kb.move.submit")),
        InReview => moves.push(("draft", "kb.move.rework")),
        Published | Archived => moves.push(("draft", "kb.move.rework")),
    }
    if approver {
        match status {
            Draft | InReview => moves.push(("published", "kb.move.publish")),
            Published => moves.push(("archived", "kb.move.archive")),
            Archived => {}
        }
    }
    moves
}

async fn staff_article(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    let a = state.app.article(&principal, id).await?;
    let revisions = state.app.article_revisions(&principal, id).await?;
    let translations = state.app.article_translations(&principal, &a).await?;
    let approver = state.app.approves_articles(&principal).await?;
    let files = state.app.article_files(Some(&principal), id).await?;
    Ok(render(&ArticlePage {
        c: Chrome::new(&principal, a.title.clone()),
        body: super::markdown::to_html(&a.body),
        staff: true,
        revisions,
        translations,
        moves: moves(a.status, approver),
        thanks: false,
        files,
        a,
    }))
}

#[derive(Debug, Default, Deserialize)]
struct Thanks {
    thanks: Option<String>,
}

async fn help_article(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(thanks): Query<Thanks>,
) -> Result<Response, WebError> {
    let principal = reader(&state, &headers).await;
    let (c, a) = match &principal {
        // Staff read the published text here too, as customers see it.
        Some(principal) => {
            let a = state.app.article(principal, id).await?;
            if a.status != ArticleStatus::Published {
                return Err(AppError::NotFound("article").into());
            }
            (Chrome::new(principal, a.title.clone()), a)
        }
        None => {
            let a = state.app.public_article(id).await?;
            (Chrome::anonymous(&a.title), a)
        }
    };
    let files = state.app.article_files(principal.as_ref(), id).await?;
    Ok(render(&ArticlePage {
        c,
        body: super::markdown::to_html(&a.body),
        staff: false,
        revisions: Vec::new(),
        translations: Vec::new(),
        moves: Vec::new(),
        thanks: thanks.thanks.is_some(),
        files,
        a,
    }))
}

async fn feedback(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .article_feedback(
            &form.principal,
            id,
            NewFeedback {
                helpful: form.get("helpful") == "yes",
                comment: form.get("comment").to_owned(),
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/help/{id}?thanks=1#feedback")))
}

/// What the article form shows: the values typed and the mistakes to fix.
struct ArticleForm {
    id: Option<i64>,
    version: i64,
    kind: String,
    title: String,
    body: String,
    /// One step per line: `check | command | expected`.
    steps: String,
    category: String,
    tags: String,
    audience: String,
    organizations: String,
    language: String,
    translation_of: Option<i64>,
    owner: String,
    review_by: String,
    /// The monitors ticked: a runbook is offered on their incidents.
    monitors: Vec<i64>,
    categories: Vec<Category>,
    /// Every monitor, to choose from: (id, name).
    all_monitors: Vec<(i64, String)>,
    errors: Vec<FieldError>,
}

impl ArticleForm {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field || e.field.starts_with(&format!("{field}[")))
            .map(|e| e.message.as_str())
    }

    fn audiences(&self) -> &'static [&'static str] {
        opsdesk_domain::knowledge::Audience::NAMES
    }

    fn links(&self, monitor: &i64) -> bool {
        self.monitors.contains(monitor)
    }

    fn of(article: &Article, categories: Vec<Category>, all_monitors: Vec<(i64, String)>) -> Self {
        Self {
            id: Some(article.id),
            version: article.version,
            kind: article.kind.as_str().to_owned(),
            title: article.title.clone(),
            body: article.body.clone(),
            steps: rules::steps_text(&article.steps),
            category: article.category.clone().unwrap_or_default(),
            tags: article.tags.join(", "),
            audience: article.audience.as_str().to_owned(),
            organizations: article
                .organizations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            language: article.language.clone(),
            translation_of: article.translation_of,
            owner: article.owner.clone(),
            review_by: article
                .review_by
                .map(|t| t.to_string().chars().take(10).collect())
                .unwrap_or_default(),
            monitors: article.monitors.clone(),
            categories,
            all_monitors,
            errors: Vec::new(),
        }
    }

    fn from_fields(
        form: &SignedForm,
        id: Option<i64>,
        categories: Vec<Category>,
        all_monitors: Vec<(i64, String)>,
    ) -> Self {
        Self {
            id,
            version: form.get("version").parse().unwrap_or_default(),
            kind: form.get("kind").to_owned(),
            title: form.get("title").to_owned(),
            body: form.get("body").to_owned(),
            steps: form.get("steps").to_owned(),
            category: form.get("category").to_owned(),
            tags: form.get("tags").to_owned(),
            audience: form.get("audience").to_owned(),
            organizations: form.get("organizations").to_owned(),
            language: form.get("language").to_owned(),
            translation_of: form.get("translation_of").parse().ok(),
            owner: form.get("owner").to_owned(),
            review_by: form.get("review_by").to_owned(),
            monitors: form
                .all("monitors")
                .iter()
                .filter_map(|id| id.parse().ok())
                .collect(),
            categories,
            all_monitors,
            errors: Vec::new(),
        }
    }

    fn steps(&self) -> Vec<RunbookStep> {
        rules::parse_steps_text(&self.steps)
    }

    fn list(text: &str) -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn organization_ids(&self) -> Result<Vec<i64>, AppError> {
        Self::list(&self.organizations)
            .iter()
            .map(|id| {
                id.parse()
                    .map_err(|_| AppError::invalid("organizations", "must be organization ids"))
            })
            .collect()
    }
}

#[derive(Template)]
#[template(path = "kb_form.html")]
struct FormPage {
    c: Chrome,
    form: ArticleForm,
}

fn form_page(principal: &Principal, form: ArticleForm, status: StatusCode) -> Response {
    let title = if form.id.is_some() {
        form.title.clone()
    } else {
        Lang.t("kb.new").to_owned()
    };
    let mut c = Chrome::new(principal, title);
    if !form.errors.is_empty() {
        c.notice = Some(Lang.t("form.fix_errors").to_owned());
    }
    (status, render(&FormPage { c, form })).into_response()
}

/// What the form offers to choose from: the categories and the monitors (id, name).
async fn choices(
    state: &AppState,
    principal: &Principal,
) -> Result<(Vec<Category>, Vec<(i64, String)>), AppError> {
    let categories = state.app.categories().await?;
    let monitors = state
        .app
        .monitors(principal, 0, 1000)
        .await?
        .into_iter()
        .map(|m| (m.id, m.name))
        .collect();
    Ok((categories, monitors))
}

async fn new_form(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    let (categories, all_monitors) = choices(&state, &principal).await?;
    let mut form = ArticleForm {
        id: None,
        version: 0,
        kind: params.kind.unwrap_or_else(|| "article".into()),
        title: String::new(),
        body: String::new(),
        steps: String::new(),
        category: String::new(),
        tags: String::new(),
        audience: "internal".into(),
        organizations: String::new(),
        language: "en".into(),
        translation_of: params.translation_of,
        owner: principal.email.clone(),
        review_by: String::new(),
        monitors: Vec::new(),
        categories,
        all_monitors,
        errors: Vec::new(),
    };
    if let Some(original) = params.translation_of {
        let original = state.app.article(&principal, original).await?;
        form = ArticleForm {
            id: None,
            version: 0,
            language: String::new(),
            translation_of: Some(original.id),
            monitors: Vec::new(),
            ..ArticleForm::of(&original, form.categories, form.all_monitors)
        };
    }
    Ok(form_page(&principal, form, StatusCode::OK))
}

/// A form's answer: to the article when saved, back to the form with its mistakes when not.
fn saved_or_form(
    result: Result<Article, AppError>,
    principal: &Principal,
    mut form: ArticleForm,
) -> Result<Response, WebError> {
    match result {
        Ok(article) => Ok(Redirect::to(&format!("/kb/{}", article.id)).into_response()),
        Err(AppError::Invalid(errors)) => {
            form.errors = errors;
            Ok(form_page(principal, form, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(AppError::Stale) => {
            form.errors = vec![FieldError::new("version", Lang.t("error.stale"))];
            Ok(form_page(principal, form, StatusCode::CONFLICT))
        }
        Err(other) => Err(other.into()),
    }
}

async fn create(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    let (categories, all_monitors) = choices(&state, &form.principal).await?;
    let fields = ArticleForm::from_fields(&form, None, categories, all_monitors);
    let organizations = fields.organization_ids();
    let result = match organizations {
        Ok(organizations) => {
            state
                .app
                .create_article(
                    &form.principal,
                    NewArticle {
                        kind: Some(fields.kind.clone()),
                        title: fields.title.clone(),
                        body: fields.body.clone(),
                        steps: fields.steps(),
                        category: Some(fields.category.clone()).filter(|c| !c.is_empty()),
                        tags: ArticleForm::list(&fields.tags),
                        audience: Some(fields.audience.clone()),
                        organizations,
                        monitors: fields.monitors.clone(),
                        language: Some(fields.language.clone()).filter(|l| !l.is_empty()),
                        translation_of: fields.translation_of,
                        owner: Some(fields.owner.clone()).filter(|o| !o.is_empty()),
                        review_by: Some(fields.review_by.clone()).filter(|r| !r.is_empty()),
                    },
                )
                .await
        }
        Err(error) => Err(error),
    };
    saved_or_form(result, &form.principal, fields)
}

async fn edit_form(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    let article = state.app.article(&principal, id).await?;
    let (categories, all_monitors) = choices(&state, &principal).await?;
    Ok(form_page(
        &principal,
        ArticleForm::of(&article, categories, all_monitors),
        StatusCode::OK,
    ))
}

async fn save(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let (categories, all_monitors) = choices(&state, &form.principal).await?;
    let fields = ArticleForm::from_fields(&form, Some(id), categories, all_monitors);
    let result = match fields.organization_ids() {
        Ok(organizations) => {
            state
                .app
                .update_article(
                    &form.principal,
                    id,
                    opsdesk_app::Precondition::OneOf(vec![fields.version]),
                    ArticlePatch {
                        kind: Some(fields.kind.clone()),
                        title: Some(fields.title.clone()),
                        body: Some(fields.body.clone()),
                        steps: Some(fields.steps()),
                        category: Some(fields.category.clone()),
                        tags: Some(ArticleForm::list(&fields.tags)),
                        audience: Some(fields.audience.clone()),
                        organizations: Some(organizations),
                        monitors: Some(fields.monitors.clone()),
                        language: Some(fields.language.clone()),
                        owner: Some(fields.owner.clone()).filter(|o| !o.is_empty()),
                        review_by: Some(fields.review_by.clone()),
                        status: None,
                    },
                )
                .await
        }
        Err(error) => Err(error),
    };
    saved_or_form(result, &form.principal, fields)
}

async fn move_status(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .update_article(
            &form.principal,
            id,
            opsdesk_app::Precondition::Any,
            ArticlePatch {
                status: Some(form.get("status").to_owned()),
                ..ArticlePatch::default()
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/kb/{id}")))
}

#[derive(Debug, Deserialize)]
struct DiffParams {
    from: i64,
    to: i64,
}

#[derive(Template)]
#[template(path = "kb_diff.html")]
struct DiffPage {
    c: Chrome,
    id: i64,
    d: RevisionDiff,
}

impl DiffPage {
    /// Each line with its CSS class and sign.
    fn lines(&self) -> Vec<(&'static str, &'static str, &str)> {
        self.d
            .lines
            .iter()
            .map(|line| match line {
                DiffLine::Same(text) => ("same", " ", text.as_str()),
                DiffLine::Added(text) => ("added", "+", text.as_str()),
                DiffLine::Removed(text) => ("removed", "−", text.as_str()),
            })
            .collect()
    }
}

async fn diff(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    Query(range): Query<DiffParams>,
) -> Result<Response, WebError> {
    let d = state
        .app
        .article_diff(&principal, id, range.from, range.to)
        .await?;
    Ok(render(&DiffPage {
        c: Chrome::new(&principal, Lang.t("kb.diff")),
        id,
        d,
    }))
}

async fn restore(
    State(state): State<AppState>,
    Path((id, revision)): Path<(i64, i64)>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .restore_article_revision(&form.principal, id, revision)
        .await?;
    Ok(Redirect::to(&format!("/kb/{id}")))
}

/// "Solved by this": records the article on the ticket.
async fn solved_by(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .link_article(&form.principal, &number, form.number("article_id")?)
        .await?;
    Ok(super::agent::back_to(&number, "knowledge"))
}

/// Drafts an article from the ticket and opens it for editing.
async fn draft_from_ticket(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let article = state
        .app
        .draft_article_from_ticket(&form.principal, &number)
        .await?;
    Ok(Redirect::to(&format!("/kb/{}/edit", article.id)))
}

/// Records how a runbook step went, from the ticket's runbook panel.
async fn runbook_step(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .record_runbook_step(
            &form.principal,
            &number,
            opsdesk_app::knowledge::NewStepOutcome {
                article_id: form.number("article_id")?,
                step: form.number("step")?,
                outcome: form.get("outcome").to_owned(),
                note: form.get("note").to_owned(),
            },
        )
        .await?;
    Ok(super::agent::back_to(&number, "runbooks"))
}

/// "Apply": the triage assistant's category and group, set by the agent.
async fn apply_triage(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .apply_triage(
            &form.principal,
            &number,
            form.opt("category"),
            form.opt("group"),
        )
        .await?;
    Ok(Redirect::to(&format!(
        "/tickets/{}",
        super::agent::encode(&number)
    )))
}

/// Drafts an article from a gap's tickets and opens it for editing.
async fn draft_from_gap(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let tickets = form.all("tickets");
    let article = state
        .app
        .draft_article_from_gap(&form.principal, &tickets)
        .await?;
    Ok(Redirect::to(&format!("/kb/{}/edit", article.id)))
}

/// One of an article's files, for whoever may read the article (anonymous visitors too,
/// for public ones).
async fn help_file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, file)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    let principal = reader(&state, &headers).await;
    let (file, content) = state.app.article_file(principal.as_ref(), id, file).await?;
    Ok(crate::download::download(
        &file.filename,
        &file.content_type,
        content,
    ))
}

/// Attaches the files chosen on the article page.
async fn upload_file(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    for file in form.files {
        state
            .app
            .add_article_file(
                &form.principal,
                id,
                &file.filename,
                file.content_type.as_deref(),
                file.content,
            )
            .await?;
    }
    Ok(Redirect::to(&format!("/kb/{id}")))
}

async fn delete_file(
    State(state): State<AppState>,
    Path((id, file)): Path<(i64, i64)>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .delete_article_file(&form.principal, id, file)
        .await?;
    Ok(Redirect::to(&format!("/kb/{id}")))
}
