//! Patch and vulnerability compliance across the machines.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use opsdesk_app::cmdb::{AdvisorySummary, Compliance};

use crate::AppState;
use crate::web::{Chrome, Lang, WebError, WebUser, render};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/cmdb/compliance", get(compliance))
}

/// Advisories the compliance page lists.
const TOP_ADVISORIES: i64 = 20;

#[derive(Template)]
#[template(path = "cmdb_compliance.html")]
struct CompliancePage {
    c: Chrome,
    compliance: Compliance,
    advisories: Vec<AdvisorySummary>,
}

/// Patch compliance per organization and machine, and the advisories affecting most.
async fn compliance(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    let compliance = state.app.compliance(&principal).await?;
    let advisories = state
        .app
        .vulnerabilities(&principal, None, "", true, TOP_ADVISORIES)
        .await?;
    Ok(render(&CompliancePage {
        c: Chrome::new(&principal, Lang.t("cmdb.compliance.title")),
        compliance,
        advisories,
    }))
}
