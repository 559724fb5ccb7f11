//! The knowledge base: articles and runbooks, their revisions and feedback, search, and the
//! articles linked to tickets.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use opsdesk_app::knowledge::{
    Article, ArticleFile, ArticlePatch, ArticleQuery, ArticleResults, FeedbackReceipt,
    KnowledgeGap, NewArticle, NewFeedback, NewStepOutcome, Revision, RevisionDiff, SearchMiss,
    TicketRunbook,
};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::tagged;
use crate::error::Problem;
use crate::extract::{ApiJson, ApiQuery, Auth, IfMatch};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_article, list_articles))
        .routes(routes!(get_article, update_article, delete_article))
        .routes(routes!(article_revisions))
        .routes(routes!(article_diff))
        .routes(routes!(restore_revision))
        .routes(routes!(article_feedback))
        .routes(routes!(search_misses))
        .routes(routes!(knowledge_gaps))
        .routes(routes!(upload_file, list_files))
        .routes(routes!(download_file, delete_file))
        .routes(routes!(draft_from_gap))
        .routes(routes!(link_article, ticket_articles))
        .routes(routes!(draft_article))
        .routes(routes!(ticket_runbooks))
        .routes(routes!(record_runbook_step))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ArticleFilter {
    /// Words to search for: ranked results with snippets; mistyped words are corrected.
    q: Option<String>,
    /// `draft`, `in_review`, `published` or `archived` (staff; others see published only).
    status: Option<String>,
    /// `article` or `runbook`.
    kind: Option<String>,
    /// Category by name or `Parent/Child`.
    category: Option<String>,
    /// 1 to 100; 20 when absent.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// `true` for a search made while someone types (suggestions): it is not logged among
    /// the searches that found nothing.
    as_you_type: Option<bool>,
}

/// Writes a new draft article or runbook (staff).
#[utoipa::path(post, path = "/api/v1/articles", tag = "knowledge", request_body = NewArticle,
    responses((status = 201, body = Article)))]
async fn create_article(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewArticle>,
) -> Result<Response, ApiError> {
    let article = state.app.create_article(&principal, input).await?;
    Ok(tagged(StatusCode::CREATED, article.version, article))
}

/// Searches (`q`) or lists the articles you may read: staff all, customers the published
/// ones their audience allows.
#[utoipa::path(get, path = "/api/v1/articles", tag = "knowledge", params(ArticleFilter),
    responses((status = 200, body = ArticleResults)))]
async fn list_articles(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(filter): ApiQuery<ArticleFilter>,
) -> Result<Json<ArticleResults>, ApiError> {
    let query = ArticleQuery {
        text: filter.q.unwrap_or_default(),
        status: filter.status,
        kind: filter.kind,
        category: filter.category,
        limit: filter.limit.unwrap_or(20),
        offset: filter.offset.unwrap_or(0),
        log_miss: !filter.as_you_type.unwrap_or(false),
    };
    Ok(Json(state.app.articles(&principal, &query).await?))
}

/// One article.
#[utoipa::path(get, path = "/api/v1/articles/{id}", tag = "knowledge",
    responses((status = 200, body = Article)))]
async fn get_article(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let article = state.app.article(&principal, id).await?;
    Ok(tagged(StatusCode::OK, article.version, article))
}

/// Edits an article or moves it through its workflow (staff; publishing and archiving are
/// for approvers). A change of title, body or steps is kept as a new revision.
#[utoipa::path(patch, path = "/api/v1/articles/{id}", tag = "knowledge", request_body = ArticlePatch,
    responses((status = 200, body = Article)))]
async fn update_article(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<ArticlePatch>,
) -> Result<Response, ApiError> {
    let article = state
        .app
        .update_article(&principal, id, version, patch)
        .await?;
    Ok(tagged(StatusCode::OK, article.version, article))
}

/// Deletes an article with its revisions (admins); archiving keeps it instead.
#[utoipa::path(delete, path = "/api/v1/articles/{id}", tag = "knowledge", responses((status = 204)))]
async fn delete_article(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_article(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every kept revision, newest first, with its author (staff).
#[utoipa::path(get, path = "/api/v1/articles/{id}/revisions", tag = "knowledge",
    responses((status = 200, body = Vec<Revision>)))]
async fn article_revisions(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Vec<Revision>>, ApiError> {
    Ok(Json(state.app.article_revisions(&principal, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DiffRange {
    /// The older revision.
    from: i64,
    /// The newer revision.
    to: i64,
}

/// What changed between two revisions, line by line (staff).
#[utoipa::path(get, path = "/api/v1/articles/{id}/diff", tag = "knowledge", params(DiffRange),
    responses((status = 200, body = RevisionDiff)))]
async fn article_diff(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiQuery(range): ApiQuery<DiffRange>,
) -> Result<Json<RevisionDiff>, ApiError> {
    Ok(Json(
        state
            .app
            .article_diff(&principal, id, range.from, range.to)
            .await?,
    ))
}

/// Makes an old revision's words current again, as a new revision (staff).
#[utoipa::path(post, path = "/api/v1/articles/{id}/revisions/{revision}/restore", tag = "knowledge",
    responses((status = 200, body = Article)))]
async fn restore_revision(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, revision)): Path<(i64, i64)>,
) -> Result<Response, ApiError> {
    let article = state
        .app
        .restore_article_revision(&principal, id, revision)
        .await?;
    Ok(tagged(StatusCode::OK, article.version, article))
}

/// "Did this help?" from anyone who may read the article. "No" with a comment opens a task
/// for the article's owner.
#[utoipa::path(post, path = "/api/v1/articles/{id}/feedback", tag = "knowledge", request_body = NewFeedback,
    responses((status = 201, body = FeedbackReceipt)))]
async fn article_feedback(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<NewFeedback>,
) -> Result<(StatusCode, Json<FeedbackReceipt>), ApiError> {
    let receipt = state.app.article_feedback(&principal, id, input).await?;
    Ok((StatusCode::CREATED, Json(receipt)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct MissWindow {
    /// How many days back, 1 to 366; 30 when absent.
    #[param(minimum = 1, maximum = 366)]
    days: Option<i64>,
}

/// Searches that found nothing, the most frequent first: the articles to write next (staff).
#[utoipa::path(get, path = "/api/v1/articles/search-misses", tag = "knowledge", params(MissWindow),
    responses((status = 200, body = Vec<SearchMiss>)))]
async fn search_misses(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(window): ApiQuery<MissWindow>,
) -> Result<Json<Vec<SearchMiss>>, ApiError> {
    Ok(Json(
        state
            .app
            .article_search_misses(&principal, window.days.unwrap_or(30))
            .await?,
    ))
}

/// Questions answered again and again without an article: resolved tickets of the period
/// (30 days by default) no article is linked to, grouped by alike titles, three or more to a
/// group, largest first, with each ticket's resolution (staff).
#[utoipa::path(get, path = "/api/v1/articles/gaps", tag = "knowledge", params(MissWindow),
    responses((status = 200, body = Vec<KnowledgeGap>)))]
async fn knowledge_gaps(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(window): ApiQuery<MissWindow>,
) -> Result<Json<Vec<KnowledgeGap>>, ApiError> {
    Ok(Json(
        state
            .app
            .knowledge_gaps(&principal, window.days.unwrap_or(30))
            .await?,
    ))
}

/// The tickets of a gap.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct GapTickets {
    tickets: Vec<String>,
}

/// Drafts an article from a gap's tickets (staff): the problem as they put it and every
/// distinct resolution; the tickets are linked to it.
#[utoipa::path(post, path = "/api/v1/articles/gaps/draft", tag = "knowledge",
    request_body = GapTickets, responses((status = 201, body = Article)))]
async fn draft_from_gap(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(gap): ApiJson<GapTickets>,
) -> Result<Response, ApiError> {
    let article = state
        .app
        .draft_article_from_gap(&principal, &gap.tickets)
        .await?;
    Ok(tagged(StatusCode::CREATED, article.version, article))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FileName {
    /// The file's name; folders and unsafe characters are removed.
    filename: String,
}

/// Attaches a file to an article (staff): the request body is the file, its `Content-Type`
/// the file's type.
#[utoipa::path(post, path = "/api/v1/articles/{id}/files", tag = "knowledge", params(FileName),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = ArticleFile), (status = 413, body = Problem)))]
async fn upload_file(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiQuery(name): ApiQuery<FileName>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ArticleFile>), ApiError> {
    let body = body.map_err(|rejection| ApiError::unreadable_body(&state, &rejection))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let file = state
        .app
        .add_article_file(&principal, id, &name.filename, content_type, body.to_vec())
        .await?;
    Ok((StatusCode::CREATED, Json(file)))
}

/// An article's files, for whoever may read it.
#[utoipa::path(get, path = "/api/v1/articles/{id}/files", tag = "knowledge",
    responses((status = 200, body = Vec<ArticleFile>)))]
async fn list_files(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Vec<ArticleFile>>, ApiError> {
    Ok(Json(state.app.article_files(Some(&principal), id).await?))
}

/// Downloads one of an article's files (as a download, never shown inline).
#[utoipa::path(get, path = "/api/v1/articles/{id}/files/{file}", tag = "knowledge",
    responses((status = 200, content_type = "application/octet-stream")))]
async fn download_file(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, file)): Path<(i64, i64)>,
) -> Result<Response, ApiError> {
    let (file, content) = state.app.article_file(Some(&principal), id, file).await?;
    Ok(crate::download::download(
        &file.filename,
        &file.content_type,
        content,
    ))
}

/// Removes one of an article's files (staff).
#[utoipa::path(delete, path = "/api/v1/articles/{id}/files/{file}", tag = "knowledge",
    responses((status = 204)))]
async fn delete_file(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, file)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_article_file(&principal, id, file).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An article to link to a ticket.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ArticleLink {
    article_id: i64,
}

/// Records that an article solved the ticket (staff); noted in the ticket's timeline.
#[utoipa::path(post, path = "/api/v1/tickets/{number}/articles", tag = "knowledge", request_body = ArticleLink,
    responses((status = 200, body = Vec<Article>)))]
async fn link_article(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
    ApiJson(link): ApiJson<ArticleLink>,
) -> Result<Json<Vec<Article>>, ApiError> {
    Ok(Json(
        state
            .app
            .link_article(&principal, &number, link.article_id)
            .await?,
    ))
}

/// The articles linked to a ticket that you may read.
#[utoipa::path(get, path = "/api/v1/tickets/{number}/articles", tag = "knowledge",
    responses((status = 200, body = Vec<Article>)))]
async fn ticket_articles(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<Article>>, ApiError> {
    Ok(Json(state.app.ticket_articles(&principal, &number).await?))
}

/// Turns a ticket into a draft article (its problem, resolution and public replies) and
/// links the two (staff).
#[utoipa::path(post, path = "/api/v1/tickets/{number}/draft-article", tag = "knowledge",
    responses((status = 201, body = Article)))]
async fn draft_article(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
) -> Result<Response, ApiError> {
    let article = state
        .app
        .draft_article_from_ticket(&principal, &number)
        .await?;
    Ok(tagged(StatusCode::CREATED, article.version, article))
}

/// The runbooks for a ticket — those of its category and of the monitors whose outages opened
/// it — with the step outcomes recorded so far (staff).
#[utoipa::path(get, path = "/api/v1/tickets/{number}/runbooks", tag = "knowledge",
    responses((status = 200, body = Vec<TicketRunbook>)))]
async fn ticket_runbooks(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<TicketRunbook>>, ApiError> {
    Ok(Json(state.app.ticket_runbooks(&principal, &number).await?))
}

/// Records how a runbook step went on the ticket (staff); noted in its timeline.
#[utoipa::path(post, path = "/api/v1/tickets/{number}/runbook-steps", tag = "knowledge",
    request_body = NewStepOutcome, responses((status = 200, body = Vec<TicketRunbook>)))]
async fn record_runbook_step(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
    ApiJson(input): ApiJson<NewStepOutcome>,
) -> Result<Json<Vec<TicketRunbook>>, ApiError> {
    Ok(Json(
        state
            .app
            .record_runbook_step(&principal, &number, input)
            .await?,
    ))
}
