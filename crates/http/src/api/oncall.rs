//! On-call schedules: their rotations, who is on call when, and overrides.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header;
use axum::response::IntoResponse;
use opsdesk_app::oncall::{
    NewOverride, NewSchedule, OnCall, OnCallShift, Schedule, ScheduleOverride,
};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_schedule, list_schedules))
        .routes(routes!(update_schedule))
        .routes(routes!(on_call))
        .routes(routes!(add_override, list_overrides))
        .routes(routes!(shifts))
        .routes(routes!(shifts_calendar))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ShiftFilter {
    /// Only this person's shifts (an e-mail address).
    person: Option<String>,
    /// Days from now to show, 1 to 90 (default 30).
    #[param(minimum = 1, maximum = 90)]
    days: Option<u32>,
}

/// Who is on call from now, as shifts of every schedule (staff).
#[utoipa::path(get, path = "/api/v1/shifts", tag = "on-call", params(ShiftFilter),
    responses((status = 200, body = Vec<OnCallShift>)))]
async fn shifts(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(filter): ApiQuery<ShiftFilter>,
) -> Result<Json<Vec<OnCallShift>>, ApiError> {
    let days = filter.days.unwrap_or(30);
    Ok(Json(
        state
            .app
            .shifts(&principal, filter.person.as_deref(), days)
            .await?,
    ))
}

/// The same shifts as an iCalendar document, to import into a calendar app (staff).
#[utoipa::path(get, path = "/api/v1/shifts.ics", tag = "on-call", params(ShiftFilter),
    responses((status = 200, content_type = "text/calendar", body = String)))]
async fn shifts_calendar(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(filter): ApiQuery<ShiftFilter>,
) -> Result<impl IntoResponse, ApiError> {
    let days = filter.days.unwrap_or(30);
    let calendar = state
        .app
        .shifts_calendar(&principal, filter.person.as_deref(), days)
        .await?;
    Ok((
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        calendar,
    ))
}

/// Replaces a schedule's name, time zone and layers (admins); its overrides stay.
#[utoipa::path(put, path = "/api/v1/schedules/{id}", tag = "on-call",
    params(("id" = i64, Path)), request_body = NewSchedule,
    responses((status = 200, body = Schedule)))]
async fn update_schedule(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<NewSchedule>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(
        state.app.update_schedule(&principal, id, input).await?,
    ))
}

/// Creates a schedule (admins): rotation layers of active staff in an IANA time zone.
#[utoipa::path(post, path = "/api/v1/schedules", tag = "on-call", request_body = NewSchedule,
    responses((status = 201, body = Schedule)))]
async fn create_schedule(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewSchedule>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_schedule(&principal, input).await?),
    ))
}

/// Every schedule, with who is on call now and until when (staff).
#[utoipa::path(get, path = "/api/v1/schedules", tag = "on-call",
    responses((status = 200, body = Vec<Schedule>)))]
async fn list_schedules(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<Schedule>>, ApiError> {
    Ok(Json(state.app.schedules(&principal).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct At {
    /// An RFC 3339 time; now when absent.
    #[param(value_type = Option<String>, format = DateTime)]
    at: Option<jiff::Timestamp>,
}

/// Who is on call at a time, and until when (staff).
#[utoipa::path(get, path = "/api/v1/schedules/{id}/on-call", tag = "on-call", params(At),
    responses((status = 200, body = OnCall)))]
async fn on_call(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiQuery(at): ApiQuery<At>,
) -> Result<Json<OnCall>, ApiError> {
    Ok(Json(state.app.on_call(&principal, id, at.at).await?))
}

/// Puts someone (yourself when `person` is absent) on call instead of the rotation for a
/// while (staff).
#[utoipa::path(post, path = "/api/v1/schedules/{id}/overrides", tag = "on-call",
    request_body = NewOverride, responses((status = 201, body = ScheduleOverride)))]
async fn add_override(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<NewOverride>,
) -> Result<(StatusCode, Json<ScheduleOverride>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.add_override(&principal, id, input).await?),
    ))
}

/// A schedule's overrides running or to come (staff).
#[utoipa::path(get, path = "/api/v1/schedules/{id}/overrides", tag = "on-call",
    responses((status = 200, body = Vec<ScheduleOverride>)))]
async fn list_overrides(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Vec<ScheduleOverride>>, ApiError> {
    Ok(Json(state.app.schedule_overrides(&principal, id).await?))
}
