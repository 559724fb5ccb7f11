//! Network devices over HTTP: adding one discovers it and its interfaces over SNMP; each
//! interface monitor's traffic is kept for its chart.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use opsdesk_app::network::{NetworkDevice, NewNetworkDevice, TrafficSample};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_network_device, list_network_devices))
        .routes(routes!(get_network_device))
        .routes(routes!(interface_traffic))
}

/// Adds a network device (staff): discovers its system data and interfaces over SNMP
/// (`{"version": "2c", "community"}` or v3 with authPriv), records it as a
/// `network_device` item, and watches every interface not shut on purpose with an
/// `snmp_interface` monitor. A device that does not answer is a 422 naming `address`.
#[utoipa::path(post, path = "/api/v1/network-devices", tag = "network",
    request_body = NewNetworkDevice, responses((status = 201, body = NetworkDevice)))]
async fn add_network_device(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewNetworkDevice>,
) -> Result<(StatusCode, Json<NetworkDevice>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.add_network_device(&principal, input).await?),
    ))
}

/// The network devices you may see, with their interfaces (staff).
#[utoipa::path(get, path = "/api/v1/network-devices", tag = "network",
    responses((status = 200, body = [NetworkDevice])))]
async fn list_network_devices(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<NetworkDevice>>, ApiError> {
    Ok(Json(state.app.network_devices(&principal).await?))
}

/// A network device with its interfaces and their monitors (staff).
#[utoipa::path(get, path = "/api/v1/network-devices/{id}", tag = "network",
    params(("id" = i64, Path)), responses((status = 200, body = NetworkDevice)))]
async fn get_network_device(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<NetworkDevice>, ApiError> {
    Ok(Json(state.app.network_device(&principal, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct TrafficRange {
    /// How far back, in hours: 1 to 720 (24 when absent).
    hours: Option<i64>,
}

/// The traffic an `snmp_interface` monitor measured, oldest first (staff): bits per second
/// in and out, utilisation, errors and discards per minute.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/traffic", tag = "network",
    params(("id" = i64, Path), TrafficRange), responses((status = 200, body = [TrafficSample])))]
async fn interface_traffic(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiQuery(range): ApiQuery<TrafficRange>,
) -> Result<Json<Vec<TrafficSample>>, ApiError> {
    Ok(Json(
        state
            .app
            .interface_traffic(&principal, id, range.hours.unwrap_or(24))
            .await?,
    ))
}
