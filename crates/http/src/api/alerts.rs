//! Alerts from other monitoring tools: integrations (each with a secret URL), the URL they
//! post to, and the alerts received.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use opsdesk_app::alerts::simulate::{Simulation, SimulationDraft};
use opsdesk_app::alerts::{
    Alert, AlertFilter, AlertReceipt, Integration, IntegrationPatch, NewIntegration,
};
use opsdesk_app::silences::{NewSilence, Silence};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::accounts::tagged;
use crate::error::Problem;
use crate::extract::{ApiJson, ApiQuery, Auth, IfMatch};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_integration, list_integrations))
        .routes(routes!(update_integration, delete_integration))
        .routes(routes!(simulate_integration))
        .routes(routes!(list_alerts))
        .routes(routes!(receive))
        .routes(routes!(create_silence, list_silences))
        .routes(routes!(expire_silence))
}

/// Creates an integration (admins). The answer's `url_path` (`/alerts/<secret>`) is where
/// the tool posts, shown this once: Alertmanager's webhook for `alertmanager`, one JSON
/// alert per request for `generic`.
#[utoipa::path(post, path = "/api/v1/integrations", tag = "alerts", request_body = NewIntegration,
    responses((status = 201, body = Integration)))]
async fn create_integration(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewIntegration>,
) -> Result<(StatusCode, Json<Integration>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_integration(&principal, input).await?),
    ))
}

/// Every integration, without its secret (staff).
#[utoipa::path(get, path = "/api/v1/integrations", tag = "alerts",
    responses((status = 200, body = Vec<Integration>)))]
async fn list_integrations(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<Integration>>, ApiError> {
    Ok(Json(state.app.integrations(&principal).await?))
}

/// Changes an integration's pipeline settings (admins); send `If-Match: "v<version>"`
/// with the version you read to refuse overwriting another change.
#[utoipa::path(patch, path = "/api/v1/integrations/{id}", tag = "alerts",
    request_body = IntegrationPatch, responses((status = 200, body = Integration)))]
async fn update_integration(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    IfMatch(precondition): IfMatch,
    ApiJson(patch): ApiJson<IntegrationPatch>,
) -> Result<Response, ApiError> {
    let integration = state
        .app
        .update_integration(&principal, id, precondition, patch)
        .await?;
    Ok(tagged(StatusCode::OK, integration.version, integration))
}

/// The rule simulator (staff): replays the notifications the integration received in the
/// last `days` (30 at most, all that is kept) through draft settings — grouping, pipeline,
/// escalation policy, an added silence — and through its settings as they are, beside what
/// actually happened: incidents, pages, and who would have been paged first. Nothing is
/// changed.
#[utoipa::path(post, path = "/api/v1/integrations/{id}/simulate", tag = "alerts",
    request_body = SimulationDraft, responses((status = 200, body = Simulation)))]
async fn simulate_integration(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiJson(draft): ApiJson<SimulationDraft>,
) -> Result<Json<Simulation>, ApiError> {
    Ok(Json(
        state
            .app
            .simulate_integration(&principal, id, draft)
            .await?,
    ))
}

/// Deletes an integration and its alerts (admins); its incidents stay.
#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "alerts",
    responses((status = 204)))]
async fn delete_integration(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_integration(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A list's `limit`: 1 to 500, 100 when absent.
fn limit_of(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(opsdesk_app::AppError::invalid("limit", "must be 1 to 500").into());
    }
    Ok(limit)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AlertParams {
    /// `firing` for those still firing; all when absent.
    status: Option<String>,
    /// Text to find, in any case, in the title, fingerprint, label values or integration
    /// name (at most 200 characters).
    #[param(max_length = 200)]
    q: Option<String>,
    /// `true` for the alerts a silence muted, `false` for the others; all when absent.
    silenced: Option<bool>,
    /// At most this many, 1 to 500 (100 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// The most recent alerts, newest first, with their incidents (staff).
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertParams),
    responses((status = 200, body = Vec<Alert>)))]
async fn list_alerts(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<AlertParams>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    let firing_only = match params.status.as_deref() {
        None => false,
        Some("firing") => true,
        Some(_) => {
            return Err(opsdesk_app::AppError::invalid("status", "only `firing` filters").into());
        }
    };
    let filter = AlertFilter {
        firing_only,
        silenced: params.silenced,
        text: params.q,
        limit: limit_of(params.limit)?,
    };
    Ok(Json(state.app.alerts(&principal, &filter).await?))
}

/// Alerts from a monitoring tool, to an integration's secret URL (no login: the secret is
/// the credential). Each alert opens its group's incident, joins it, or resolves it with
/// the group's last alert.
#[utoipa::path(post, path = "/alerts/{token}", tag = "alerts", security(()),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 202, body = AlertReceipt), (status = 404, body = Problem),
        (status = 413, body = Problem)))]
async fn receive(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<AlertReceipt>), ApiError> {
    let body = body.map_err(|rejection| ApiError::unreadable_body(&state, &rejection))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(state.app.receive_alerts(&token, body.to_vec()).await?),
    ))
}

/// Mutes the alerts whose labels fit every matcher, of one integration or of all, from
/// `starts_at` (now when absent) until `ends_at` (staff). Muted alerts are recorded but open
/// and join no incident.
#[utoipa::path(post, path = "/api/v1/silences", tag = "alerts", request_body = NewSilence,
    responses((status = 201, body = Silence)))]
async fn create_silence(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewSilence>,
) -> Result<(StatusCode, Json<Silence>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_silence(&principal, input).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SilenceFilter {
    /// `true` lists expired silences too; without it, those active and yet to start.
    all: Option<bool>,
    /// At most this many, 1 to 500 (100 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// Silences, the latest to start first (staff).
#[utoipa::path(get, path = "/api/v1/silences", tag = "alerts", params(SilenceFilter),
    responses((status = 200, body = Vec<Silence>)))]
async fn list_silences(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(filter): ApiQuery<SilenceFilter>,
) -> Result<Json<Vec<Silence>>, ApiError> {
    let all = filter.all.unwrap_or(false);
    Ok(Json(
        state
            .app
            .silences(&principal, all, limit_of(filter.limit)?)
            .await?,
    ))
}

/// Expires a silence now (staff): alerts it muted open incidents again when they next
/// arrive.
#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "alerts",
    responses((status = 204)))]
async fn expire_silence(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.expire_silence(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
