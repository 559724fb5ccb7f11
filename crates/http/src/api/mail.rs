//! The mail channel's API: the quarantine and the notification templates (admins), and
//! original messages as `.eml`. The files a message brings are the ticket's attachments
//! (`/api/v1/tickets/{id}/attachments`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use opsdesk_app::mail::{
    IngestOutcome, MailRecord, MailTemplate, PreviewRequest, RenderedMail, TemplateText,
};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiQuery, Auth, ListParams, Page};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(quarantine))
        .routes(routes!(reprocess))
        .routes(routes!(discard))
        .routes(routes!(original))
        .routes(routes!(list_templates))
        .routes(routes!(get_template, save_template, revert_template))
        .routes(routes!(preview_template))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct QuarantineFilter {
    cursor: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// Mail that could not be parsed or routed, newest first, with the reason (admins).
#[utoipa::path(get, path = "/api/v1/mail/quarantine", tag = "mail", params(QuarantineFilter),
    responses((status = 200, body = Page<MailRecord>)))]
async fn quarantine(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(filter): ApiQuery<QuarantineFilter>,
) -> Result<Json<Page<MailRecord>>, ApiError> {
    let (before, limit) = ListParams {
        cursor: filter.cursor,
        limit: filter.limit,
    }
    .resolve_newest_first()?;
    let items = state
        .app
        .quarantined_mail(&principal, before, limit + 1)
        .await?;
    Ok(Json(Page::from_overfetch(items, limit, |mail| mail.id)))
}

/// Routes a quarantined message again, e.g. after mapping its sender's domain (admins).
#[utoipa::path(post, path = "/api/v1/mail/quarantine/{id}/reprocess", tag = "mail",
    responses((status = 200, body = IngestOutcome)))]
async fn reprocess(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<IngestOutcome>, ApiError> {
    Ok(Json(state.app.reprocess_mail(&principal, id).await?))
}

/// Takes a message out of the quarantine as needing nothing; it stays on record (admins).
#[utoipa::path(post, path = "/api/v1/mail/quarantine/{id}/discard", tag = "mail",
    responses((status = 200, body = MailRecord)))]
async fn discard(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<MailRecord>, ApiError> {
    Ok(Json(state.app.discard_mail(&principal, id).await?))
}

/// Bytes offered as a download, never shown inline: mail content is untrusted.
fn download(content_type: &str, filename: &str, bytes: Vec<u8>) -> Response {
    let safe: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// A received message as it arrived, as an `.eml` file (staff who may see its ticket).
#[utoipa::path(get, path = "/api/v1/mail/{id}/original", tag = "mail",
    responses((status = 200, content_type = "message/rfc822", body = String)))]
async fn original(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let raw = state.app.mail_original(&principal, id).await?;
    Ok(download(
        "message/rfc822",
        &format!("message-{id}.eml"),
        raw,
    ))
}

/// Every notice's template as it is sent now, with where it comes from: `custom` (saved
/// here), `templates_dir` (files on the server) or `built_in` (admins).
#[utoipa::path(get, path = "/api/v1/mail/templates", tag = "mail",
    responses((status = 200, body = Vec<MailTemplate>)))]
async fn list_templates(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<MailTemplate>>, ApiError> {
    Ok(Json(state.app.mail_templates(&principal).await?))
}

/// One notice's template: `acknowledgement`, `reply` or `resolution` (admins).
#[utoipa::path(get, path = "/api/v1/mail/templates/{notice}", tag = "mail",
    responses((status = 200, body = MailTemplate)))]
async fn get_template(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(notice): Path<String>,
) -> Result<Json<MailTemplate>, ApiError> {
    Ok(Json(state.app.mail_template(&principal, &notice).await?))
}

/// Saves a notice's subject, text and HTML templates; they replace the server's files and
/// the built-in text until reverted. Unknown placeholders and unbalanced braces are refused
/// with 422 naming `subject`, `text` or `html` (admins).
#[utoipa::path(put, path = "/api/v1/mail/templates/{notice}", tag = "mail",
    request_body = TemplateText,
    responses((status = 200, body = MailTemplate)))]
async fn save_template(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(notice): Path<String>,
    ApiJson(template): ApiJson<TemplateText>,
) -> Result<Json<MailTemplate>, ApiError> {
    Ok(Json(
        state
            .app
            .save_mail_template(&principal, &notice, template)
            .await?,
    ))
}

/// Reverts a notice to the server's files or the built-in text (admins).
#[utoipa::path(delete, path = "/api/v1/mail/templates/{notice}", tag = "mail",
    responses((status = 204)))]
async fn revert_template(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(notice): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.revert_mail_template(&principal, &notice).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Renders a notice as it would be sent: the `draft` given (checked like a save) or the
/// template in use, against `ticket` or sample values (admins).
#[utoipa::path(post, path = "/api/v1/mail/templates/{notice}/preview", tag = "mail",
    request_body = PreviewRequest,
    responses((status = 200, body = RenderedMail)))]
async fn preview_template(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(notice): Path<String>,
    ApiJson(request): ApiJson<PreviewRequest>,
) -> Result<Json<RenderedMail>, ApiError> {
    Ok(Json(
        state
            .app
            .preview_mail_template(&principal, &notice, request)
            .await?,
    ))
}
