//! The public status page of an organization, as server-rendered HTML (every value escaped)
//! and as JSON. No login.

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use opsdesk_app::status_page::StatusPage;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status_html))
        .routes(routes!(status_json))
}

/// The status page as JSON: components, 90-day uptime, open outages, maintenance.
#[utoipa::path(get, path = "/api/v1/status/{organization_id}", tag = "monitoring", security(()),
    responses((status = 200, body = StatusPage)))]
async fn status_json(
    State(state): State<AppState>,
    Path(organization_id): Path<i64>,
) -> Result<Json<StatusPage>, ApiError> {
    Ok(Json(state.app.status_page(organization_id).await?))
}

/// The status page as HTML.
#[utoipa::path(get, path = "/status/{organization_id}", tag = "monitoring", security(()),
    responses((status = 200, content_type = "text/html")))]
async fn status_html(
    State(state): State<AppState>,
    Path(organization_id): Path<i64>,
) -> Result<Response, ApiError> {
    let page = state.app.status_page(organization_id).await?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=30"),
        ],
        render(&page)
            .map_err(|e| opsdesk_app::AppError::internal("rendering the status page", e))?,
    )
        .into_response())
}

fn bar_class(uptime: Option<f64>) -> &'static str {
    match uptime {
        None => "none",
        Some(u) if u >= 99.9 => "good",
        Some(u) if u >= 95.0 => "fair",
        Some(_) => "bad",
    }
}

/// The page, escaped by the template like every other page.
#[derive(Template)]
#[template(path = "status_page.html")]
struct StatusHtml<'a> {
    page: &'a StatusPage,
    overall_text: &'static str,
    components: Vec<ComponentRow<'a>>,
}

struct ComponentRow<'a> {
    name: &'a str,
    status: &'a str,
    uptime: String,
    days: Vec<DayBar>,
}

struct DayBar {
    class: &'static str,
    title: String,
}

fn render(page: &StatusPage) -> Result<String, askama::Error> {
    let components = page
        .components
        .iter()
        .map(|component| ComponentRow {
            name: &component.name,
            status: &component.status,
            uptime: component
                .uptime_90d
                .map_or("no data".to_owned(), |u| format!("{u:.2} % uptime")),
            days: component
                .days
                .iter()
                .map(|day| DayBar {
                    class: bar_class(*day),
                    title: day.map_or("no data".to_owned(), |u| format!("{u:.2} %")),
                })
                .collect(),
        })
        .collect();
    StatusHtml {
        page,
        overall_text: match page.overall.as_str() {
            "degraded" => "Some services are down",
            "maintenance" => "Maintenance in progress",
            _ => "All services are operational",
        },
        components,
    }
    .render()
}
