//! Importing items from a CSV or JSON file, and exporting a search's items as one.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opsdesk_app::cmdb::{ImportReport, TransferFormat};
use opsdesk_app::{AppError, FieldError};
use serde::Deserialize;

use crate::AppState;
use crate::web::{Chrome, Lang, SignedForm, WebError, WebUser, render};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cmdb/transfer", get(transfer).post(import))
        .route("/cmdb/export", get(export))
}

#[derive(Template)]
#[template(path = "cmdb_transfer.html")]
struct TransferPage {
    c: Chrome,
    /// The search the export links keep.
    q: String,
    /// Whether the dry run box is ticked: it is until someone unticks it.
    dry_run: bool,
    report: Option<ImportReport>,
    /// Why the file was refused whole.
    errors: Vec<FieldError>,
}

#[derive(Deserialize)]
struct TransferParams {
    q: Option<String>,
}

fn transfer_page(
    principal: &opsdesk_app::Principal,
    q: String,
    dry_run: bool,
    report: Option<ImportReport>,
    errors: Vec<FieldError>,
) -> Response {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = TransferPage {
        c: Chrome::new(principal, Lang.t("cmdb.transfer.title")),
        q,
        dry_run,
        report,
        errors,
    };
    (status, render(&page)).into_response()
}

async fn transfer(
    WebUser(principal): WebUser,
    Query(params): Query<TransferParams>,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    let q = params.q.unwrap_or_default();
    Ok(transfer_page(&principal, q, true, None, Vec::new()))
}

/// Imports the chosen file through the same use case as `POST /api/v1/cis/import`; the
/// page comes back with the report.
async fn import(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    form.principal.require_staff()?;
    let dry_run = form.get("dry_run") == "on";
    let q = form.get("q").to_owned();
    let Some(file) = form.files.first() else {
        let error = FieldError::new("file", Lang.t("cmdb.transfer.no_file"));
        return Ok(transfer_page(
            &form.principal,
            q,
            dry_run,
            None,
            vec![error],
        ));
    };
    let Some(format) = TransferFormat::of_file_name(&file.filename) else {
        let error = FieldError::new("file", Lang.t("cmdb.transfer.not_csv_or_json"));
        return Ok(transfer_page(
            &form.principal,
            q,
            dry_run,
            None,
            vec![error],
        ));
    };
    let imported = match opsdesk_app::cmdb::read_rows(format, file.content.clone()).await {
        Ok(rows) => state.app.import_cis(&form.principal, rows, dry_run).await,
        Err(error) => Err(error),
    };
    match imported {
        Ok(report) => Ok(transfer_page(
            &form.principal,
            q,
            dry_run,
            Some(report),
            Vec::new(),
        )),
        Err(AppError::Invalid(errors)) => {
            Ok(transfer_page(&form.principal, q, dry_run, None, errors))
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct ExportParams {
    q: Option<String>,
    format: Option<String>,
}

/// The items of a search as a CSV or JSON download.
async fn export(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(params): Query<ExportParams>,
) -> Result<Response, WebError> {
    let format = params.format.as_deref().unwrap_or("csv").parse()?;
    let cis = state
        .app
        .export_cis(&principal, params.q.as_deref().unwrap_or(""))
        .await?;
    Ok(crate::download::items_file(&cis, format)?)
}
