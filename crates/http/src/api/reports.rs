//! Reports over HTTP: the figures of a period beside the previous period's, as JSON, CSV or
//! PDF, the tickets behind each count, and the weekly report mail one subscribes to.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use opsdesk_app::AppError;
use opsdesk_app::reports::{
    CountedTickets, DrillDown, Report, ReportQuery, ReportSubscription, ReportSubscriptionInput,
    report_csv, report_pdf,
};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_report))
        .routes(routes!(list_counted_tickets))
        .routes(routes!(
            get_subscription,
            put_subscription,
            delete_subscription
        ))
        .routes(routes!(list_subscriptions))
}

/// A day as a report takes it, the field named when it is not one.
fn day(field: &str, text: Option<&str>) -> Result<Option<jiff::civil::Date>, AppError> {
    text.map(|text| {
        text.parse()
            .map_err(|_| AppError::invalid(field, "expected a YYYY-MM-DD date"))
    })
    .transpose()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ReportParams {
    /// First day (`YYYY-MM-DD`, included); 29 days before `to` when absent.
    from: Option<String>,
    /// Last day (included); today when absent. At most 366 days after `from`.
    to: Option<String>,
    /// An IANA time zone the days are in; when absent the viewer's own time zone, else their
    /// quiet-hours zone, else UTC.
    #[param(max_length = 64)]
    tz: Option<String>,
    /// One organization's figures (an id it may see).
    organization: Option<i64>,
    /// `json` (default), `csv` or `pdf`.
    format: Option<String>,
}

/// A report's period and organization as the query string gives them.
pub(crate) fn report_query(
    from: Option<&str>,
    to: Option<&str>,
    tz: Option<String>,
    organization: Option<i64>,
) -> Result<ReportQuery, AppError> {
    Ok(ReportQuery {
        from: day("from", from)?,
        to: day("to", to)?,
        organization,
        time_zone: tz,
    })
}

/// The service desk's figures over a period of days (staff: every organization they see;
/// customers: their own organization's), each beside the previous period of equal length:
/// tickets created and resolved, MTTA and MTTR (business time where an SLA calendar timed
/// them), first-contact resolution, reopen rate, SLA compliance, backlog by age, volume by
/// category, organization, group, agent and channel, tickets per day, monitor uptime and
/// outage minutes, change success and deflection. Each count's `drill_down` is the query
/// string of `GET /api/v1/reports/tickets` that lists the tickets it counted.
/// `format=csv` for a spreadsheet, `format=pdf` to print or mail.
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", params(ReportParams),
    responses((status = 200, content((Report = "application/json"), (String = "text/csv"),
        (Vec<u8> = "application/pdf")))))]
async fn get_report(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Response, ApiError> {
    let format = params.format.as_deref().unwrap_or("json");
    if !["json", "csv", "pdf"].contains(&format) {
        return Err(AppError::invalid("format", "expected json, csv or pdf").into());
    }
    let query = report_query(
        params.from.as_deref(),
        params.to.as_deref(),
        params.tz,
        params.organization,
    )?;
    let report = state.app.report(&principal, &query).await?;
    match format {
        "json" => Ok(Json(report).into_response()),
        file => Ok(report_file(&report, file)?),
    }
}

/// A report as a file to download: `pdf`, else CSV.
pub(crate) fn report_file(report: &Report, format: &str) -> Result<Response, AppError> {
    let name = format!("report-{}-{}", report.from, report.to);
    Ok(if format == "pdf" {
        crate::download::download(
            &format!("{name}.pdf"),
            "application/pdf",
            report_pdf(report),
        )
    } else {
        crate::download::download(
            &format!("{name}.csv"),
            "text/csv",
            report_csv(report)?.into_bytes(),
        )
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CountedParams {
    /// The figure: `created`, `responded`, `response_met`, `response_breached`,
    /// `resolution_met`, `resolution_breached`, `resolved`, `first_contact`, `reopened`,
    /// `backlog` (with `age`) or `volume` (with `by` and `key`).
    #[param(max_length = 32)]
    figure: String,
    /// As for the report.
    from: Option<String>,
    to: Option<String>,
    #[param(max_length = 64)]
    tz: Option<String>,
    organization: Option<i64>,
    /// `previous` for the period before; `current` when absent.
    period: Option<String>,
    /// Backlog: 0 (under a day old) to 4 (over 30 days).
    #[param(minimum = 0, maximum = 4)]
    age: Option<usize>,
    /// Volume: `category`, `organization`, `group`, `agent` or `channel`.
    by: Option<String>,
    /// Volume: the value's `key` as the report gives it (an id, a channel, or `none`).
    #[param(max_length = 64)]
    key: Option<String>,
    cursor: Option<String>,
    /// 1 to 500 (50 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// The tickets one count of a report counted, in ticket order, a page at a time: exactly
/// as many, over all pages, as the count says.
#[utoipa::path(get, path = "/api/v1/reports/tickets", tag = "reports", params(CountedParams),
    responses((status = 200, body = CountedTickets)))]
async fn list_counted_tickets(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<CountedParams>,
) -> Result<Json<CountedTickets>, ApiError> {
    let query = report_query(
        params.from.as_deref(),
        params.to.as_deref(),
        params.tz,
        params.organization,
    )?;
    let drill = DrillDown {
        figure: params.figure,
        period: params.period,
        age: params.age,
        by: params.by,
        key: params.key,
        cursor: params.cursor,
        limit: params.limit.unwrap_or(50),
    };
    Ok(Json(
        state.app.report_tickets(&principal, &query, &drill).await?,
    ))
}

/// The signed-in person's weekly report mail: every Monday at 07:00 in its time zone, the
/// week before's report (Monday to Sunday) as they see it, its main figures in the mail and
/// the whole report attached as CSV and PDF. 404 when they have not subscribed.
#[utoipa::path(get, path = "/api/v1/reports/subscription", tag = "reports",
    responses((status = 200, body = ReportSubscription)))]
async fn get_subscription(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<ReportSubscription>, ApiError> {
    let subscription = state.app.report_subscription(&principal).await?;
    Ok(Json(
        subscription.ok_or(AppError::NotFound("report subscription"))?,
    ))
}

/// Subscribes the signed-in person to the weekly report mail, or changes the time zone or
/// organization of their subscription; the next mail leaves on the coming Monday at 07:00.
#[utoipa::path(put, path = "/api/v1/reports/subscription", tag = "reports",
    request_body = ReportSubscriptionInput,
    responses((status = 200, body = ReportSubscription)))]
async fn put_subscription(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<ReportSubscriptionInput>,
) -> Result<Json<ReportSubscription>, ApiError> {
    Ok(Json(
        state.app.subscribe_to_report(&principal, input).await?,
    ))
}

/// Ends the signed-in person's weekly report mail.
#[utoipa::path(delete, path = "/api/v1/reports/subscription", tag = "reports",
    responses((status = 204)))]
async fn delete_subscription(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<StatusCode, ApiError> {
    if !state.app.unsubscribe_from_report(&principal).await? {
        return Err(AppError::NotFound("report subscription").into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Everyone mailed the weekly report (admins).
#[utoipa::path(get, path = "/api/v1/reports/subscriptions", tag = "reports",
    responses((status = 200, body = Vec<ReportSubscription>)))]
async fn list_subscriptions(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<ReportSubscription>>, ApiError> {
    Ok(Json(state.app.report_subscriptions(&principal).await?))
}
