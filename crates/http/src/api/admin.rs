//! Administration: the audit log, the job outbox (with its dead letters) and webhooks.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use opsdesk_app::audit::AuditEntry;
use opsdesk_app::jobs::Job;
use opsdesk_app::webhooks::{NewWebhook, Webhook};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiQuery, Auth, ListParams, Page};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit_log))
        .routes(routes!(list_jobs))
        .routes(routes!(retry_job))
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(delete_webhook))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditFilter {
    /// Only entries about this kind of record (`user`, `organization`, …).
    entity: Option<String>,
    /// Only entries about this record.
    entity_id: Option<String>,
    cursor: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// The audit log, oldest first (admins).
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditFilter),
    responses((status = 200, body = Page<AuditEntry>)))]
async fn audit_log(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let (after, limit) = ListParams {
        cursor: filter.cursor,
        limit: filter.limit,
    }
    .resolve()?;
    let items = state
        .app
        .audit_entries(
            &principal,
            after,
            limit + 1,
            filter.entity.as_deref(),
            filter.entity_id.as_deref(),
        )
        .await?;
    Ok(Json(Page::from_overfetch(items, limit, |entry| entry.seq)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct JobFilter {
    /// `queued`, `running`, `done` or `dead`.
    status: Option<String>,
    cursor: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// Jobs in the outbox, newest first (admins). `?status=dead` lists the dead letters.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "admin", params(JobFilter),
    responses((status = 200, body = Page<Job>)))]
async fn list_jobs(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(filter): ApiQuery<JobFilter>,
) -> Result<Json<Page<Job>>, ApiError> {
    let (before, limit) = ListParams {
        cursor: filter.cursor,
        limit: filter.limit,
    }
    .resolve_newest_first()?;
    let items = state
        .app
        .jobs(&principal, filter.status.as_deref(), before, limit + 1)
        .await?;
    Ok(Json(Page::from_overfetch(items, limit, |job| job.id)))
}

/// Sends a dead job back to the queue (admins).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "admin",
    responses((status = 200, body = Job)))]
async fn retry_job(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(state.app.retry_job(&principal, id).await?))
}

/// Registers a webhook (admins). The signing secret is in this response only.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "admin", request_body = NewWebhook,
    responses((status = 201, body = Webhook)))]
async fn create_webhook(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewWebhook>,
) -> Result<(StatusCode, Json<Webhook>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_webhook(&principal, input).await?),
    ))
}

/// Registered webhooks (admins).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "admin", responses((status = 200, body = Vec<Webhook>)))]
async fn list_webhooks(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<Webhook>>, ApiError> {
    Ok(Json(state.app.webhooks(&principal).await?))
}

/// Removes a webhook (admins).
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "admin",
    responses((status = 204)))]
async fn delete_webhook(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_webhook(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
