//! SLA administration (calendars, policies) and the compliance report.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use opsdesk_app::AppError;
use opsdesk_app::sla::{Calendar, CalendarInput, ComplianceLine, Policy, PolicyInput};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::tagged;
use crate::extract::{ApiJson, ApiQuery, Auth, IfMatch};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_calendar, list_calendars))
        .routes(routes!(get_calendar, update_calendar, delete_calendar))
        .routes(routes!(create_policy, list_policies))
        .routes(routes!(get_policy, update_policy, delete_policy))
        .routes(routes!(sla_report))
}

/// Creates a business calendar (admins): time zone, weekly hours, holidays, or 24×7.
#[utoipa::path(post, path = "/api/v1/calendars", tag = "sla", request_body = CalendarInput,
    responses((status = 201, body = Calendar)))]
async fn create_calendar(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<CalendarInput>,
) -> Result<Response, ApiError> {
    let calendar = state.app.create_calendar(&principal, input).await?;
    Ok(tagged(StatusCode::CREATED, calendar.version, calendar))
}

/// Business calendars (staff).
#[utoipa::path(get, path = "/api/v1/calendars", tag = "sla", responses((status = 200, body = Vec<Calendar>)))]
async fn list_calendars(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<Calendar>>, ApiError> {
    Ok(Json(state.app.calendars(&principal).await?))
}

/// One calendar.
#[utoipa::path(get, path = "/api/v1/calendars/{id}", tag = "sla", responses((status = 200, body = Calendar)))]
async fn get_calendar(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let calendar = state.app.calendar(&principal, id).await?;
    Ok(tagged(StatusCode::OK, calendar.version, calendar))
}

/// Replaces a calendar (admins). Send `If-Match` with the ETag you read.
#[utoipa::path(patch, path = "/api/v1/calendars/{id}", tag = "sla", request_body = CalendarInput,
    responses((status = 200, body = Calendar)))]
async fn update_calendar(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    IfMatch(version): IfMatch,
    ApiJson(input): ApiJson<CalendarInput>,
) -> Result<Response, ApiError> {
    let calendar = state
        .app
        .update_calendar(&principal, id, version, input)
        .await?;
    Ok(tagged(StatusCode::OK, calendar.version, calendar))
}

/// Deletes a calendar no policy or ticket uses (admins).
#[utoipa::path(delete, path = "/api/v1/calendars/{id}", tag = "sla", responses((status = 204)))]
async fn delete_calendar(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_calendar(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates an SLA policy (admins).
#[utoipa::path(post, path = "/api/v1/sla-policies", tag = "sla", request_body = PolicyInput,
    responses((status = 201, body = Policy)))]
async fn create_policy(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<PolicyInput>,
) -> Result<Response, ApiError> {
    let policy = state.app.create_sla_policy(&principal, input).await?;
    Ok(tagged(StatusCode::CREATED, policy.version, policy))
}

/// SLA policies in matching order (staff).
#[utoipa::path(get, path = "/api/v1/sla-policies", tag = "sla", responses((status = 200, body = Vec<Policy>)))]
async fn list_policies(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<Policy>>, ApiError> {
    Ok(Json(state.app.sla_policies(&principal).await?))
}

/// One SLA policy.
#[utoipa::path(get, path = "/api/v1/sla-policies/{id}", tag = "sla", responses((status = 200, body = Policy)))]
async fn get_policy(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let policy = state.app.sla_policy(&principal, id).await?;
    Ok(tagged(StatusCode::OK, policy.version, policy))
}

/// Replaces an SLA policy (admins). The open tickets it covers are re-timed at once: the
/// business time they used stays, the targets move.
#[utoipa::path(patch, path = "/api/v1/sla-policies/{id}", tag = "sla", request_body = PolicyInput,
    responses((status = 200, body = Policy)))]
async fn update_policy(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    IfMatch(version): IfMatch,
    ApiJson(input): ApiJson<PolicyInput>,
) -> Result<Response, ApiError> {
    let policy = state
        .app
        .update_sla_policy(&principal, id, version, input)
        .await?;
    Ok(tagged(StatusCode::OK, policy.version, policy))
}

/// Deletes an SLA policy (admins).
#[utoipa::path(delete, path = "/api/v1/sla-policies/{id}", tag = "sla", responses((status = 204)))]
async fn delete_policy(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_sla_policy(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ReportParams {
    /// Tickets created at or after this instant (RFC 3339) or date (`YYYY-MM-DD`).
    from: String,
    /// Tickets created before this instant or date.
    to: String,
    /// `priority` (default), `organization` or `group`.
    group_by: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

fn instant(field: &str, text: &str) -> Result<i64, ApiError> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    text.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|date| date.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
        .map(|zoned| zoned.timestamp().as_millisecond())
        .ok_or_else(|| {
            AppError::invalid(field, "expected an RFC 3339 time or a YYYY-MM-DD date").into()
        })
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// SLA compliance: met and breached counts and percentages for response and resolution, for
/// tickets created in a period (admins). `format=csv` for a spreadsheet.
#[utoipa::path(get, path = "/api/v1/reports/sla", tag = "sla", params(ReportParams),
    responses((status = 200, body = Vec<ComplianceLine>)))]
async fn sla_report(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Response, ApiError> {
    let (from, to) = (instant("from", &params.from)?, instant("to", &params.to)?);
    let lines = state
        .app
        .sla_report(
            &principal,
            from,
            to,
            params.group_by.as_deref().unwrap_or("priority"),
        )
        .await?;
    match params.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(lines).into_response()),
        "csv" => {
            let mut out = String::from(
                "key,tickets,response_met,response_breached,response_compliance,resolution_met,resolution_breached,resolution_compliance\n",
            );
            let percent = |p: Option<f64>| p.map(|p| format!("{p:.1}")).unwrap_or_default();
            for line in lines {
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{}\n",
                    csv_field(&line.key),
                    line.tickets,
                    line.response_met,
                    line.response_breached,
                    percent(line.response_compliance),
                    line.resolution_met,
                    line.resolution_breached,
                    percent(line.resolution_compliance)
                ));
            }
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"sla-report.csv\"",
                    ),
                ],
                out,
            )
                .into_response())
        }
        _ => Err(AppError::invalid("format", "expected json or csv").into()),
    }
}
