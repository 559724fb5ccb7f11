//! Monitoring: monitors and heartbeats, their uptime, maintenance windows, and the
//! heartbeat ping URLs (no login: the secret in the URL is the credential).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opsdesk_app::AppError;
use opsdesk_app::monitors::{
    Maintenance, MaintenanceQuery, Monitor, MonitorPatch, NewMaintenance, NewMonitor, Uptime,
};
use opsdesk_domain::monitor::Ping;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::tagged;
use crate::extract::{ApiJson, ApiQuery, Auth, IfMatch, ListParams, Page};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_monitor, list_monitors))
        .routes(routes!(get_monitor, update_monitor, delete_monitor))
        .routes(routes!(monitor_uptime))
        .routes(routes!(create_maintenance, list_maintenance))
        .routes(routes!(get_maintenance, delete_maintenance))
        .routes(routes!(ping))
        .routes(routes!(ping_signal))
}

/// Makes a heartbeat's `/ping/<uuid>` absolute, on the address the client used.
fn absolute(mut monitor: Monitor, headers: &HeaderMap) -> Monitor {
    if let Some(path) = &monitor.ping_url {
        monitor.ping_url = absolute_url(path, headers);
    }
    monitor
}

/// `path` on the address the client used (its `Host`, and `https` behind a proxy that says so).
pub(crate) fn absolute_url(path: &str, headers: &HeaderMap) -> Option<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    Some(format!("{scheme}://{host}{path}"))
}

/// Adds a monitor (staff). `kind` is `http`, `tcp`, `icmp`, `dns`, `tls` or `heartbeat`;
/// probe settings (`method`, `headers`, `body`, `expected_status`, `keyword`, `regex`,
/// `max_latency_ms`, `follow_redirects`, `verify_tls`, `min_days_left`, `record_type`,
/// `expected`, `resolver`, `count`, `max_loss_percent`) sit beside the common fields.
/// Heartbeats answer with their secret `ping_url`.
#[utoipa::path(post, path = "/api/v1/monitors", tag = "monitoring", request_body = NewMonitor,
    responses((status = 201, body = Monitor)))]
async fn create_monitor(
    State(state): State<AppState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    ApiJson(input): ApiJson<NewMonitor>,
) -> Result<Response, ApiError> {
    let monitor = state.app.create_monitor(&principal, input).await?;
    Ok(tagged(
        StatusCode::CREATED,
        monitor.version,
        absolute(monitor, &headers),
    ))
}

/// Monitors, in id order (staff).
#[utoipa::path(get, path = "/api/v1/monitors", tag = "monitoring", params(ListParams),
    responses((status = 200, body = Page<Monitor>)))]
async fn list_monitors(
    State(state): State<AppState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<Monitor>>, ApiError> {
    let (after, limit) = params.resolve()?;
    let items = state.app.monitors(&principal, after, limit + 1).await?;
    let items = items.into_iter().map(|m| absolute(m, &headers)).collect();
    Ok(Json(Page::from_overfetch(items, limit, |m: &Monitor| m.id)))
}

/// A monitor with its status (`up`, `down`, `pending`, `paused`, `maintenance`,
/// `unreachable`), last check, 24-hour uptime and open incident.
#[utoipa::path(get, path = "/api/v1/monitors/{id}", tag = "monitoring",
    responses((status = 200, body = Monitor)))]
async fn get_monitor(
    State(state): State<AppState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let monitor = state.app.monitor(&principal, id).await?;
    Ok(tagged(
        StatusCode::OK,
        monitor.version,
        absolute(monitor, &headers),
    ))
}

/// Changes a monitor (staff); `If-Match` guards against lost updates.
#[utoipa::path(patch, path = "/api/v1/monitors/{id}", tag = "monitoring", request_body = MonitorPatch,
    responses((status = 200, body = Monitor)))]
async fn update_monitor(
    State(state): State<AppState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    Path(id): Path<i64>,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<MonitorPatch>,
) -> Result<Response, ApiError> {
    let monitor = state
        .app
        .update_monitor(&principal, id, version, patch)
        .await?;
    Ok(tagged(
        StatusCode::OK,
        monitor.version,
        absolute(monitor, &headers),
    ))
}

/// Deletes a monitor and its history (staff); incidents it opened stay.
#[utoipa::path(delete, path = "/api/v1/monitors/{id}", tag = "monitoring",
    responses((status = 204)))]
async fn delete_monitor(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_monitor(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Range {
    /// Start (RFC 3339); default 24 hours before `to`.
    from: Option<String>,
    /// End (RFC 3339); default now.
    to: Option<String>,
}

fn parse_time(field: &str, value: &str) -> Result<jiff::Timestamp, AppError> {
    value.parse().map_err(|_| {
        AppError::invalid(field, "must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z")
    })
}

/// Uptime percentage (maintenance excluded) and hourly response times over a range.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/uptime", tag = "monitoring", params(Range),
    responses((status = 200, body = Uptime)))]
async fn monitor_uptime(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Json<Uptime>, ApiError> {
    let to = match &range.to {
        Some(to) => parse_time("to", to)?,
        None => state.app.now(),
    };
    let from = match &range.from {
        Some(from) => parse_time("from", from)?,
        None => to - jiff::SignedDuration::from_hours(24),
    };
    Ok(Json(
        state.app.monitor_uptime(&principal, id, from, to).await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Created {
    id: i64,
}

/// Adds a maintenance window for one monitor (staff) or all (admins): alerts are held and
/// the time does not count against uptime.
#[utoipa::path(post, path = "/api/v1/maintenance-windows", tag = "monitoring", request_body = NewMaintenance,
    responses((status = 201, body = Created)))]
async fn create_maintenance(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewMaintenance>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let id = state.app.create_maintenance(&principal, input).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct MaintenanceFilter {
    /// Only windows covering this monitor: its own, its tags' and those for every monitor.
    monitor: Option<i64>,
    /// Only windows for this tag.
    tag: Option<String>,
    cursor: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// Maintenance windows, in id order (staff); those for monitors you do not see are left out.
#[utoipa::path(get, path = "/api/v1/maintenance-windows", tag = "monitoring", params(MaintenanceFilter),
    responses((status = 200, body = Page<Maintenance>)))]
async fn list_maintenance(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(filter): ApiQuery<MaintenanceFilter>,
) -> Result<Json<Page<Maintenance>>, ApiError> {
    let (after, limit) = ListParams {
        cursor: filter.cursor,
        limit: filter.limit,
    }
    .resolve()?;
    let query = MaintenanceQuery {
        monitor_id: filter.monitor,
        tag: filter.tag,
    };
    let items = state
        .app
        .maintenance_windows(&principal, &query, after, limit + 1)
        .await?;
    Ok(Json(Page::from_overfetch(
        items,
        limit,
        |w: &Maintenance| w.id,
    )))
}

/// One maintenance window (staff), with whether it is in force now.
#[utoipa::path(get, path = "/api/v1/maintenance-windows/{id}", tag = "monitoring",
    responses((status = 200, body = Maintenance)))]
async fn get_maintenance(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Maintenance>, ApiError> {
    Ok(Json(state.app.maintenance_window(&principal, id).await?))
}

/// Deletes a maintenance window (staff for one monitor's, admins for a tag's or every
/// monitor's): the alerts it held go out from the next check.
#[utoipa::path(delete, path = "/api/v1/maintenance-windows/{id}", tag = "monitoring",
    responses((status = 204)))]
async fn delete_maintenance(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_maintenance(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A heartbeat ping: the job finished well. GET or POST, no login.
#[utoipa::path(method(get, post), path = "/ping/{token}", tag = "monitoring", security(()),
    responses((status = 200, description = "recorded")))]
async fn ping(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    state
        .app
        .heartbeat_ping(&token, Ping::Success, None)
        .await?;
    Ok(ok())
}

/// A heartbeat signal: `start` (the job began), `fail`, or the job's exit code (0 is
/// success). GET or POST, no login.
#[utoipa::path(method(get, post), path = "/ping/{token}/{signal}", tag = "monitoring", security(()),
    responses((status = 200, description = "recorded")))]
async fn ping_signal(
    State(state): State<AppState>,
    Path((token, signal)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (ping, code) = match signal.as_str() {
        "start" => (Ping::Start, None),
        "fail" => (Ping::Fail, None),
        code => match code.parse::<u8>() {
            Ok(code) => (Ping::from_exit_code(code), Some(code)),
            Err(_) => {
                return Err(AppError::invalid(
                    "signal",
                    "must be start, fail or an exit code 0-255",
                )
                .into());
            }
        },
    };
    state.app.heartbeat_ping(&token, ping, code).await?;
    Ok(ok())
}

fn ok() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "OK\n",
    )
        .into_response()
}
