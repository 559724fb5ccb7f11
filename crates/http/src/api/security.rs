//! Security incidents over HTTP: opening one, its details (severity, restricted group,
//! affected CIs and accounts, runbook checklist), and its evidence's chain of custody. Only
//! admins and members of an incident's restricted group see it; to anyone else it does not
//! exist (404).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use opsdesk_app::security::{CustodyEntry, NewSecurityIncident, SecurityIncident, SecurityPatch};
use opsdesk_app::tickets::TicketHit;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiQuery, Auth, ListParams, Page};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_incident, list_incidents))
        .routes(routes!(get_incident, update_incident))
        .routes(routes!(tick_item))
        .routes(routes!(custody))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    cursor: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// Opens a security incident (staff). Its ticket (`SEC-n`) is restricted to `group`, which
/// you must belong to unless you are an admin; severity sets impact and urgency. 422 names
/// the field at fault (`severity`, `group`, `affected_cis[i]`, `affected_accounts[i]`).
#[utoipa::path(post, path = "/api/v1/security-incidents", tag = "security",
    request_body = NewSecurityIncident,
    responses((status = 201, body = SecurityIncident)))]
async fn create_incident(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewSecurityIncident>,
) -> Result<(StatusCode, Json<SecurityIncident>), ApiError> {
    let incident = state
        .app
        .create_security_incident(&principal, input)
        .await?;
    Ok((StatusCode::CREATED, Json(incident)))
}

/// The security incidents you may see (staff), newest first.
#[utoipa::path(get, path = "/api/v1/security-incidents", tag = "security", params(ListQuery),
    responses((status = 200, body = Page<TicketHit>)))]
async fn list_incidents(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<ListQuery>,
) -> Result<Json<Page<TicketHit>>, ApiError> {
    let (_, limit) = ListParams {
        cursor: None,
        limit: params.limit,
    }
    .resolve()?;
    let page = state
        .app
        .security_incidents(&principal, params.cursor.as_deref(), limit)
        .await?;
    Ok(Json(Page {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// A security incident with its details; 404 when it does not exist or is not yours to see.
#[utoipa::path(get, path = "/api/v1/security-incidents/{id}", tag = "security",
    params(("id" = String, Path, description = "Incident number (`SEC-3`) or id")),
    responses((status = 200, body = SecurityIncident)))]
async fn get_incident(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<SecurityIncident>, ApiError> {
    Ok(Json(state.app.security_incident(&principal, &id).await?))
}

/// Changes severity, affected CIs or accounts (lists replace the old ones), or records an
/// `override_reason` that lets the incident be resolved with its runbook unfinished.
#[utoipa::path(patch, path = "/api/v1/security-incidents/{id}", tag = "security",
    params(("id" = String, Path, description = "Incident number (`SEC-3`) or id")),
    request_body = SecurityPatch,
    responses((status = 200, body = SecurityIncident)))]
async fn update_incident(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<SecurityPatch>,
) -> Result<Json<SecurityIncident>, ApiError> {
    Ok(Json(
        state
            .app
            .update_security_incident(&principal, &id, patch)
            .await?,
    ))
}

/// Ticks a runbook item, e.g. `containment.isolate_systems`. Phases go in order: 409 when
/// an earlier phase is still open or the item is done already; 404 for an unknown item.
#[utoipa::path(post, path = "/api/v1/security-incidents/{id}/checklist/{item}/done",
    tag = "security",
    params(("id" = String, Path, description = "Incident number (`SEC-3`) or id"),
        ("item" = String, Path, description = "Checklist item, `phase.item`")),
    responses((status = 200, body = SecurityIncident)))]
async fn tick_item(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, item)): Path<(String, String)>,
) -> Result<Json<SecurityIncident>, ApiError> {
    Ok(Json(
        state
            .app
            .tick_security_checklist(&principal, &id, &item)
            .await?,
    ))
}

/// The chain of custody of the incident's evidence: each upload and download, who, when,
/// through which channel, and whether the stored file still matched its recorded SHA-256.
#[utoipa::path(get, path = "/api/v1/security-incidents/{id}/custody", tag = "security",
    params(("id" = String, Path, description = "Incident number (`SEC-3`) or id")),
    responses((status = 200, body = [CustodyEntry])))]
async fn custody(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<CustodyEntry>>, ApiError> {
    Ok(Json(state.app.evidence_custody(&principal, &id).await?))
}
