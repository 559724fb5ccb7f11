//! Asset labels (QR codes) and the stocktake that checks them off as they are scanned.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opsdesk_app::AppError;
use opsdesk_app::cmdb::{Ci, Scan, Stocktake};
use serde::Deserialize;

use super::{ListParams, PAGE};
use crate::AppState;
use crate::web::{Chrome, Lang, SignedForm, WebError, WebUser, render};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cmdb/stocktake", get(stocktake).post(scan))
        .route("/cmdb/labels", get(labels))
        .route("/cmdb/{id}/label.svg", get(label))
}

/// An item's label: a QR code of its asset tag (`CI-<id>` without one), which a scanner
/// types into the stocktake page.
fn label_code(ci: &Ci) -> String {
    ci.asset_tag
        .clone()
        .unwrap_or_else(|| format!("CI-{}", ci.id))
}

async fn label(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    let ci = state.app.ci(&principal, id).await?;
    let code = qrcode::QrCode::new(label_code(&ci).as_bytes())
        .map_err(|e| AppError::internal("drawing a label", e.to_string()))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(160, 160)
        .build();
    Ok(([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

#[derive(Template)]
#[template(path = "cmdb_labels.html")]
struct LabelsPage {
    c: Chrome,
    q: String,
    /// Each item with the code its label carries.
    labels: Vec<(Ci, String)>,
}

/// A printable sheet of labels for the items a search finds.
async fn labels(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let q = params.q.unwrap_or_default();
    let cis = state.app.search_cis(&principal, &q, 0, PAGE).await?;
    Ok(render(&LabelsPage {
        c: Chrome::new(&principal, Lang.t("cmdb.labels.title")),
        q,
        labels: cis
            .into_iter()
            .map(|ci| {
                let code = label_code(&ci);
                (ci, code)
            })
            .collect(),
    }))
}

#[derive(Template)]
#[template(path = "cmdb_stocktake.html")]
struct StocktakePage {
    c: Chrome,
    /// The stocktake under way, when a location is chosen.
    take: Option<Stocktake>,
    /// When it started, in stored milliseconds.
    since: i64,
    /// What the last scan found, or why it found nothing.
    scanned: Option<Result<Scan, String>>,
}

#[derive(Deserialize)]
struct StocktakeParams {
    location: Option<String>,
    since: Option<i64>,
}

async fn stocktake_page(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    location: Option<String>,
    since: Option<i64>,
    scanned: Option<Result<Scan, String>>,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    let since = since.unwrap_or_else(|| state.app.now_ms());
    let take = match location.filter(|l| !l.trim().is_empty()) {
        Some(location) => Some(state.app.stocktake(principal, &location, since).await?),
        None => None,
    };
    let status = if matches!(scanned, Some(Err(_))) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = StocktakePage {
        c: Chrome::new(principal, Lang.t("cmdb.stocktake.title")),
        take,
        since,
        scanned,
    };
    Ok((status, render(&page)).into_response())
}

async fn stocktake(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(params): Query<StocktakeParams>,
) -> Result<Response, WebError> {
    stocktake_page(&state, &principal, params.location, params.since, None).await
}

/// One scan: the scanner types the code and Enter sends it; the page comes back ready
/// for the next.
async fn scan(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    let location = form.get("location").to_owned();
    let since = form.get("since").parse::<i64>().ok();
    let scanned = match state
        .app
        .stocktake_scan(&form.principal, &location, form.get("code"))
        .await
    {
        Ok(scan) => Ok(scan),
        Err(AppError::Invalid(errors)) => Err(errors
            .into_iter()
            .map(|e| e.message)
            .collect::<Vec<_>>()
            .join("; ")),
        Err(other) => return Err(other.into()),
    };
    stocktake_page(
        &state,
        &form.principal,
        Some(location),
        since,
        Some(scanned),
    )
    .await
}
