//! The mail channel's API: the quarantine (admins), original messages as `.eml`, and the
//! attachments that came with a ticket's mail.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use opsdesk_app::mail::{IngestOutcome, MailAttachment, MailRecord};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Problem;
use crate::extract::{Auth, ListParams, Page};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(quarantine))
        .routes(routes!(reprocess))
        .routes(routes!(original))
        .routes(routes!(ticket_attachments))
        .routes(routes!(download_attachment))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct QuarantineFilter {
    cursor: Option<String>,
    limit: Option<i64>,
}

/// Mail that could not be parsed or routed, newest first, with the reason (admins).
#[utoipa::path(get, path = "/api/v1/mail/quarantine", tag = "mail", params(QuarantineFilter),
    responses((status = 200, body = Page<MailRecord>), (status = 403, body = Problem)))]
async fn quarantine(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Query(filter): Query<QuarantineFilter>,
) -> Result<Json<Page<MailRecord>>, ApiError> {
    let (before, limit) = ListParams {
        cursor: filter.cursor,
        limit: filter.limit,
    }
    .resolve()?;
    let before = if before == 0 { i64::MAX } else { before };
    let items = state
        .app
        .quarantined_mail(&principal, before, limit + 1)
        .await?;
    Ok(Json(Page::from_overfetch(items, limit, |mail| mail.id)))
}

/// Routes a quarantined message again, e.g. after mapping its sender's domain (admins).
#[utoipa::path(post, path = "/api/v1/mail/quarantine/{id}/reprocess", tag = "mail",
    responses((status = 200, body = IngestOutcome), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn reprocess(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<IngestOutcome>, ApiError> {
    Ok(Json(state.app.reprocess_mail(&principal, id).await?))
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
    responses((status = 200, content_type = "message/rfc822", body = String), (status = 404, body = Problem)))]
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

/// The files that came by mail with a ticket.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/mail-attachments", tag = "mail",
    responses((status = 200, body = Vec<MailAttachment>), (status = 404, body = Problem)))]
async fn ticket_attachments(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<MailAttachment>>, ApiError> {
    Ok(Json(state.app.ticket_attachments(&principal, &id).await?))
}

/// Downloads one attachment.
#[utoipa::path(get, path = "/api/v1/mail/attachments/{id}", tag = "mail",
    responses((status = 200, content_type = "application/octet-stream", body = String), (status = 404, body = Problem)))]
async fn download_attachment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let (attachment, bytes) = state.app.mail_attachment(&principal, id).await?;
    Ok(download(
        &attachment.content_type,
        &attachment.filename,
        bytes,
    ))
}
