//! The service desk API: tickets, their conversation and history, search, queues, and the
//! reference data (groups, categories, custom fields, macros).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use opsdesk_app::tickets::{
    Attachment, BulkOutcome, Category, Comment, Group, GroupMember, Macro, NewCategory, NewComment,
    NewCustomField, NewGroup, NewMacro, NewTicket, NewView, Queue, SavedView, Ticket, TicketHit,
    TicketPatch, TimelineEntry,
};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::tagged;
use crate::error::Problem;
use crate::extract::{ApiJson, ApiQuery, Auth, IfMatch, ListParams, Page};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_ticket, search_tickets))
        .routes(routes!(get_ticket, update_ticket, delete_ticket))
        .routes(routes!(add_comment))
        .routes(routes!(ticket_timeline))
        .routes(routes!(link_ticket))
        .routes(routes!(merge_ticket))
        .routes(routes!(apply_macro))
        .routes(routes!(bulk_update))
        .routes(routes!(create_group, list_groups))
        .routes(routes!(list_group_members))
        .routes(routes!(add_group_member, remove_group_member))
        .routes(routes!(create_category, list_categories))
        .routes(routes!(create_custom_field, list_custom_fields))
        .routes(routes!(create_macro, list_macros))
        .routes(routes!(list_queues))
        .routes(routes!(create_view))
        .routes(routes!(upload_attachment, list_attachments))
        .routes(routes!(download_attachment))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct UploadParams {
    /// The file's name; folders and unsafe characters are removed.
    filename: String,
    /// Whether the requester sees it (staff only; customers' files are always public, the
    /// files of internal notes never).
    public: Option<bool>,
    /// The comment (id) the file belongs to; it is listed next to it.
    comment: Option<i64>,
}

/// Attaches a file: the request body is the file, its `Content-Type` the file's type.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/attachments", tag = "tickets", params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Attachment)))]
async fn upload_attachment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    let body = body.map_err(|rejection| ApiError::unreadable_body(&state, &rejection))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let attachment = state
        .app
        .add_attachment(
            &principal,
            &id,
            &params.filename,
            content_type,
            body.to_vec(),
            params.public.unwrap_or(true),
            params.comment,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(attachment)))
}

/// A ticket's files in arrival order: uploads and the files mail brought, each with its
/// `source`, the comment it came with (`comment_id`) and, for mail, `mail_id` and the
/// `content_id` of inline images. Requesters see only the public ones: never those of an
/// internal note.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/attachments", tag = "tickets",
    responses((status = 200, body = Vec<Attachment>)))]
async fn list_attachments(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<Attachment>>, ApiError> {
    Ok(Json(state.app.attachments(&principal, &id).await?))
}

/// Downloads an attachment, uploaded or mailed. Always as a download
/// (`Content-Disposition: attachment`), with a content type that cannot run in the browser,
/// `nosniff`, in a sandbox. A requester gets 404 for a staff-only file. A security
/// incident's file is evidence: each download is recorded in its chain of custody, and one
/// whose stored bytes no longer match the SHA-256 recorded at upload answers 409.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "tickets",
    responses((status = 200, content_type = "application/octet-stream"),
        (status = 409, body = Problem)))]
async fn download_attachment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let (attachment, content) = state.app.attachment(&principal, id).await?;
    Ok(crate::download::download(
        &attachment.filename,
        &attachment.content_type,
        content,
    ))
}

/// Opens a ticket. Priority follows from impact × urgency (ITIL matrix).
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", request_body = NewTicket,
    responses((status = 201, body = Ticket)))]
async fn create_ticket(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewTicket>,
) -> Result<Response, ApiError> {
    let ticket = state.app.create_ticket(&principal, input).await?;
    Ok(tagged(StatusCode::CREATED, ticket.version, ticket))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    /// A query, e.g. `status:open,pending priority:P1,P2 group:"Service Desk" assignee:me printer jam`.
    q: Option<String>,
    cursor: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// Searches tickets: filters and full text in one query language. A malformed query is a
/// 422 naming `q` and the position of the error.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", params(SearchParams),
    responses((status = 200, body = Page<TicketHit>)))]
async fn search_tickets(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<Page<TicketHit>>, ApiError> {
    let (_, limit) = ListParams {
        cursor: None,
        limit: params.limit,
    }
    .resolve()?;
    let page = state
        .app
        .search_tickets(
            &principal,
            params.q.as_deref().unwrap_or(""),
            params.cursor.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(Page {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// A ticket by id or number (`INC-1042`), with its ETag.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets",
    responses((status = 200, body = Ticket)))]
async fn get_ticket(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ticket = state.app.ticket(&principal, &id).await?;
    Ok(tagged(StatusCode::OK, ticket.version, ticket))
}

/// Changes a ticket (staff). Send `If-Match` with the ETag you read; a stale one gets 412.
/// Illegal status transitions get 409.
#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "tickets", request_body = TicketPatch,
    responses((status = 200, body = Ticket)))]
async fn update_ticket(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<TicketPatch>,
) -> Result<Response, ApiError> {
    let ticket = state
        .app
        .update_ticket(&principal, &id, version, patch)
        .await?;
    Ok(tagged(StatusCode::OK, ticket.version, ticket))
}

/// Deletes a ticket for good, with its conversation, timeline and files (admins): for spam or
/// a ticket opened by mistake. The audit log keeps the ticket as it was, and
/// `opsdesk restore DIR --ticket NUMBER` brings it back from a backup. 409 while other
/// tickets are merged into it or filed under it.
#[utoipa::path(delete, path = "/api/v1/tickets/{id}", tag = "tickets",
    responses((status = 204, description = "The ticket is deleted.")))]
async fn delete_ticket(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_ticket(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a public reply or (staff) an internal note.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/comments", tag = "tickets", request_body = NewComment,
    responses((status = 201, body = Comment)))]
async fn add_comment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewComment>,
) -> Result<(StatusCode, Json<Comment>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.add_comment(&principal, &id, input).await?),
    ))
}

/// The ticket's history, oldest first. Requesters see the public part only.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/timeline", tag = "tickets", params(ListParams),
    responses((status = 200, body = Page<TimelineEntry>)))]
async fn ticket_timeline(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<TimelineEntry>>, ApiError> {
    let (after, limit) = params.resolve()?;
    let items = state
        .app
        .ticket_timeline(&principal, &id, after, limit + 1)
        .await?;
    Ok(Json(Page::from_overfetch(items, limit, |entry| entry.id)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewLink {
    /// `relates_to`, `duplicate_of` or `caused_by`.
    #[serde(rename = "type")]
    link_type: String,
    /// The other ticket's id or number.
    target: String,
}

/// Relates this ticket to another (staff).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/links", tag = "tickets", request_body = NewLink,
    responses((status = 201, body = Ticket)))]
async fn link_ticket(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiJson(link): ApiJson<NewLink>,
) -> Result<Response, ApiError> {
    let ticket = state
        .app
        .link_tickets(&principal, &id, &link.link_type, &link.target)
        .await?;
    Ok(tagged(StatusCode::CREATED, ticket.version, ticket))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MergeInto {
    /// The ticket (id or number) that receives the conversation.
    into: String,
}

/// Merges this ticket into another (staff); returns the target.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/merge", tag = "tickets", request_body = MergeInto,
    responses((status = 200, body = Ticket)))]
async fn merge_ticket(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiJson(merge): ApiJson<MergeInto>,
) -> Result<Response, ApiError> {
    let ticket = state.app.merge_ticket(&principal, &id, &merge.into).await?;
    Ok(tagged(StatusCode::OK, ticket.version, ticket))
}

/// Applies a canned response to a ticket (staff).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/macros/{macro_id}", tag = "tickets",
    responses((status = 201, body = Comment)))]
async fn apply_macro(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, macro_id)): Path<(String, i64)>,
) -> Result<(StatusCode, Json<Comment>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.apply_macro(&principal, &id, macro_id).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkRequest {
    /// Ticket ids or numbers, at most 500.
    tickets: Vec<String>,
    patch: TicketPatch,
}

/// Applies one change to many tickets (staff); each ticket succeeds or fails on its own.
#[utoipa::path(post, path = "/api/v1/tickets/bulk", tag = "tickets", request_body = BulkRequest,
    responses((status = 200, body = Vec<BulkResult>)))]
async fn bulk_update(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(request): ApiJson<BulkRequest>,
) -> Result<Json<Vec<BulkResult>>, ApiError> {
    let outcomes = state
        .app
        .bulk_update(&principal, request.tickets, request.patch)
        .await?;
    Ok(Json(outcomes.into_iter().map(BulkResult::from).collect()))
}

/// The outcome of one ticket in a bulk update: the status a single update would have had.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = BulkOutcome)]
struct BulkResult {
    ticket: String,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<BulkOutcome> for BulkResult {
    fn from(outcome: BulkOutcome) -> Self {
        let (status, error) = match &outcome.result {
            Ok(()) => (200, None),
            Err(error) => (
                crate::error::class_of(error).status.as_u16(),
                Some(crate::error::error_detail(error)),
            ),
        };
        Self {
            ticket: outcome.ticket,
            status,
            error,
        }
    }
}

/// Creates a support group (admins).
#[utoipa::path(post, path = "/api/v1/groups", tag = "reference", request_body = NewGroup,
    responses((status = 201, body = Group)))]
async fn create_group(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewGroup>,
) -> Result<(StatusCode, Json<Group>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_group(&principal, input).await?),
    ))
}

/// Support groups by tier (staff).
#[utoipa::path(get, path = "/api/v1/groups", tag = "reference", responses((status = 200, body = Vec<Group>)))]
async fn list_groups(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<Group>>, ApiError> {
    Ok(Json(state.app.groups(&principal).await?))
}

/// A group's members (staff).
#[utoipa::path(get, path = "/api/v1/groups/{id}/members", tag = "reference",
    responses((status = 200, body = Vec<GroupMember>)))]
async fn list_group_members(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Vec<GroupMember>>, ApiError> {
    Ok(Json(state.app.group_members(&principal, id).await?))
}

/// Adds an agent or admin, named by id or e-mail address, to a group (admins): 201 when
/// added, 200 when already a member. A customer or an unknown user is refused with 422
/// naming `user`.
#[utoipa::path(put, path = "/api/v1/groups/{id}/members/{user}", tag = "reference",
    responses((status = 201, body = GroupMember), (status = 200, body = GroupMember)))]
async fn add_group_member(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, user)): Path<(i64, String)>,
) -> Result<(StatusCode, Json<GroupMember>), ApiError> {
    let membership = state.app.add_group_member(&principal, id, &user).await?;
    let status = if membership.added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(membership.member)))
}

/// Removes a member, named by id or e-mail address, from a group (admins); removing someone
/// who is not a member succeeds too. Tickets assigned to them stay assigned.
#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{user}", tag = "reference",
    responses((status = 204)))]
async fn remove_group_member(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, user)): Path<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    state.app.remove_group_member(&principal, id, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates a category or subcategory (admins).
#[utoipa::path(post, path = "/api/v1/categories", tag = "reference", request_body = NewCategory,
    responses((status = 201, body = Category)))]
async fn create_category(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewCategory>,
) -> Result<(StatusCode, Json<Category>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_category(&principal, input).await?),
    ))
}

/// The category tree.
#[utoipa::path(get, path = "/api/v1/categories", tag = "reference", responses((status = 200, body = Vec<Category>)))]
async fn list_categories(
    State(state): State<AppState>,
    Auth(_principal): Auth,
) -> Result<Json<Vec<Category>>, ApiError> {
    Ok(Json(state.app.categories().await?))
}

/// Defines a custom ticket field (admins).
#[utoipa::path(post, path = "/api/v1/custom-fields", tag = "reference", request_body = NewCustomField,
    responses((status = 201, body = NewCustomField)))]
async fn create_custom_field(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewCustomField>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_custom_field(&principal, input).await?),
    ))
}

/// Custom field definitions.
#[utoipa::path(get, path = "/api/v1/custom-fields", tag = "reference", responses((status = 200, body = Vec<NewCustomField>)))]
async fn list_custom_fields(
    State(state): State<AppState>,
    Auth(_principal): Auth,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    Ok(Json(state.app.custom_fields().await?))
}

/// Creates a canned response (admins).
#[utoipa::path(post, path = "/api/v1/macros", tag = "reference", request_body = NewMacro,
    responses((status = 201, body = Macro)))]
async fn create_macro(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewMacro>,
) -> Result<(StatusCode, Json<Macro>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_macro(&principal, input).await?),
    ))
}

/// Canned responses (staff).
#[utoipa::path(get, path = "/api/v1/macros", tag = "reference", responses((status = 200, body = Vec<Macro>)))]
async fn list_macros(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<Macro>>, ApiError> {
    Ok(Json(state.app.macros(&principal).await?))
}

/// The caller's queues with live counts (staff).
#[utoipa::path(get, path = "/api/v1/queues", tag = "tickets", responses((status = 200, body = Vec<Queue>)))]
async fn list_queues(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<Queue>>, ApiError> {
    Ok(Json(state.app.queues(&principal).await?))
}

/// Saves a view (a named query); shared views are for admins to create.
#[utoipa::path(post, path = "/api/v1/views", tag = "tickets", request_body = NewView,
    responses((status = 201, body = SavedView)))]
async fn create_view(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewView>,
) -> Result<(StatusCode, Json<SavedView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_view(&principal, input).await?),
    ))
}
