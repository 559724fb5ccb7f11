//! The public status page of an organization, as server-rendered HTML (every value escaped)
//! and as JSON. No login.

use std::fmt::Write as _;

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
        render(&page),
    )
        .into_response())
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn bar_class(uptime: Option<f64>) -> &'static str {
    match uptime {
        None => "none",
        Some(u) if u >= 99.9 => "good",
        Some(u) if u >= 95.0 => "fair",
        Some(_) => "bad",
    }
}

fn render(page: &StatusPage) -> String {
    let name = escape(&page.organization);
    let mut html = String::with_capacity(16 * 1024);
    // Writing to a String cannot fail.
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{name} status</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         .overall{{padding:1rem;border-radius:.5rem;font-weight:600}}\
         .operational{{background:#e6f4ea}}.degraded{{background:#fce8e6}}.maintenance{{background:#e8f0fe}}\
         .component{{margin:1.5rem 0}}.bars{{display:flex;gap:1px;height:2rem}}\
         .bars span{{flex:1}}.good{{background:#34a853}}.fair{{background:#fbbc04}}.bad{{background:#ea4335}}.none{{background:#ddd}}\
         .status{{float:right}}</style></head><body><h1>{name}</h1>\
         <p class=\"overall {overall}\">{overall_text}</p>",
        overall = escape(&page.overall),
        overall_text = match page.overall.as_str() {
            "degraded" => "Some services are down",
            "maintenance" => "Maintenance in progress",
            _ => "All services are operational",
        },
    );
    if !page.incidents.is_empty() {
        html.push_str("<h2>Current incidents</h2><ul>");
        for incident in &page.incidents {
            let _ = write!(
                html,
                "<li>{} is down since {}</li>",
                escape(&incident.component),
                escape(&incident.since.to_string())
            );
        }
        html.push_str("</ul>");
    }
    if !page.maintenance.is_empty() {
        html.push_str("<h2>Maintenance</h2><ul>");
        for window in &page.maintenance {
            let _ = write!(
                html,
                "<li>{}: {} to {}{}</li>",
                escape(window.component.as_deref().unwrap_or("All services")),
                escape(&window.starts_at.to_string()),
                escape(&window.ends_at.to_string()),
                if window.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", escape(&window.reason))
                }
            );
        }
        html.push_str("</ul>");
    }
    html.push_str("<h2>Services</h2>");
    for component in &page.components {
        let uptime = component
            .uptime_90d
            .map_or("no data".to_owned(), |u| format!("{u:.2} % uptime"));
        let _ = write!(
            html,
            "<div class=\"component\"><strong>{}</strong> <span class=\"status\">{} · {}</span>\
             <div class=\"bars\" aria-label=\"90 days of uptime\">",
            escape(&component.name),
            escape(&component.status),
            escape(&uptime)
        );
        for day in &component.days {
            let title = day.map_or("no data".to_owned(), |u| format!("{u:.2} %"));
            let _ = write!(
                html,
                "<span class=\"{}\" title=\"{}\"></span>",
                bar_class(*day),
                escape(&title)
            );
        }
        html.push_str("</div></div>");
    }
    let _ = write!(
        html,
        "<footer><small>Updated {}</small></footer></body></html>",
        escape(&page.generated_at.to_string())
    );
    html
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
