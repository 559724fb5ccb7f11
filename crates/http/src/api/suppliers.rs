//! Vendors, contracts and licences over HTTP, and tickets waiting on a vendor.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use opsdesk_app::cmdb::{
    Contract, Licence, NewContract, NewLicence, NewVendor, NewVendorWait, TermsPatch, Vendor,
    VendorPatch, VendorWait,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::accounts::tagged;
use crate::extract::{ApiJson, Auth, IfMatch};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_vendors, create_vendor))
        .routes(routes!(get_vendor, update_vendor, delete_vendor))
        .routes(routes!(list_contracts, create_contract))
        .routes(routes!(get_contract, update_contract))
        .routes(routes!(list_licences, create_licence))
        .routes(routes!(get_licence, update_licence))
        .routes(routes!(get_vendor_wait, wait_on_vendor, end_vendor_wait))
}

/// Every vendor with their contacts, by name (staff).
#[utoipa::path(get, path = "/api/v1/vendors", tag = "cmdb",
    responses((status = 200, body = Vec<Vendor>)))]
async fn list_vendors(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<Vendor>>, ApiError> {
    Ok(Json(state.app.vendors(&principal).await?))
}

/// Adds a vendor with its contacts (staff).
#[utoipa::path(post, path = "/api/v1/vendors", tag = "cmdb", request_body = NewVendor,
    responses((status = 201, body = Vendor)))]
async fn create_vendor(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewVendor>,
) -> Result<Response, ApiError> {
    let vendor = state.app.create_vendor(&principal, input).await?;
    Ok(tagged(StatusCode::CREATED, vendor.version, vendor))
}

#[utoipa::path(get, path = "/api/v1/vendors/{id}", tag = "cmdb",
    responses((status = 200, body = Vendor)))]
async fn get_vendor(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let vendor = state.app.vendor(&principal, id).await?;
    Ok(tagged(StatusCode::OK, vendor.version, vendor))
}

/// Changes a vendor (staff); `contacts`, when given, replaces the list.
#[utoipa::path(patch, path = "/api/v1/vendors/{id}", tag = "cmdb", request_body = VendorPatch,
    responses((status = 200, body = Vendor)))]
async fn update_vendor(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    IfMatch(precondition): IfMatch,
    ApiJson(patch): ApiJson<VendorPatch>,
) -> Result<Response, ApiError> {
    let vendor = state
        .app
        .update_vendor(&principal, id, precondition, patch)
        .await?;
    Ok(tagged(StatusCode::OK, vendor.version, vendor))
}

/// Deletes a vendor (admins): contracts and licences keep their terms without it.
#[utoipa::path(delete, path = "/api/v1/vendors/{id}", tag = "cmdb", responses((status = 204)))]
async fn delete_vendor(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_vendor(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Contracts, those ending first first (staff; customers see their organization's).
#[utoipa::path(get, path = "/api/v1/contracts", tag = "cmdb",
    responses((status = 200, body = Vec<Contract>)))]
async fn list_contracts(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<Contract>>, ApiError> {
    Ok(Json(state.app.contracts(&principal).await?))
}

/// Adds a contract: an item of class `contract` with its terms and the items it covers
/// (staff). Its owner gets a renewal task when the notice period begins.
#[utoipa::path(post, path = "/api/v1/contracts", tag = "cmdb", request_body = NewContract,
    responses((status = 201, body = Contract)))]
async fn create_contract(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewContract>,
) -> Result<(StatusCode, Json<Contract>), ApiError> {
    let contract = state.app.create_contract(&principal, input).await?;
    Ok((StatusCode::CREATED, Json(contract)))
}

#[utoipa::path(get, path = "/api/v1/contracts/{id}", tag = "cmdb",
    responses((status = 200, body = Contract)))]
async fn get_contract(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Contract>, ApiError> {
    Ok(Json(state.app.contract(&principal, id).await?))
}

/// Changes a contract's terms (staff); `covers` replaces the items it covers. The item's
/// own attributes change through `PATCH /api/v1/cis/{id}`.
#[utoipa::path(patch, path = "/api/v1/contracts/{id}", tag = "cmdb", request_body = TermsPatch,
    responses((status = 200, body = Contract)))]
async fn update_contract(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<TermsPatch>,
) -> Result<Json<Contract>, ApiError> {
    Ok(Json(
        state.app.update_contract(&principal, id, patch).await?,
    ))
}

/// Licences with installs against purchases, by name (staff; customers see their
/// organization's).
#[utoipa::path(get, path = "/api/v1/licences", tag = "cmdb",
    responses((status = 200, body = Vec<Licence>)))]
async fn list_licences(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<Licence>>, ApiError> {
    Ok(Json(state.app.licences(&principal).await?))
}

/// Adds a licence: an item of class `licence` with its terms (staff).
#[utoipa::path(post, path = "/api/v1/licences", tag = "cmdb", request_body = NewLicence,
    responses((status = 201, body = Licence)))]
async fn create_licence(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewLicence>,
) -> Result<(StatusCode, Json<Licence>), ApiError> {
    let licence = state.app.create_licence(&principal, input).await?;
    Ok((StatusCode::CREATED, Json(licence)))
}

#[utoipa::path(get, path = "/api/v1/licences/{id}", tag = "cmdb",
    responses((status = 200, body = Licence)))]
async fn get_licence(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Licence>, ApiError> {
    Ok(Json(state.app.licence(&principal, id).await?))
}

/// Changes a licence's terms (staff); `kind` is its model.
#[utoipa::path(patch, path = "/api/v1/licences/{id}", tag = "cmdb", request_body = TermsPatch,
    responses((status = 200, body = Licence)))]
async fn update_licence(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<TermsPatch>,
) -> Result<Json<Licence>, ApiError> {
    Ok(Json(state.app.update_licence(&principal, id, patch).await?))
}

/// What a ticket waits for from a vendor (staff); 404 when it waits for none.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/vendor-wait", tag = "cmdb",
    responses((status = 200, body = VendorWait)))]
async fn get_vendor_wait(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(ticket): Path<String>,
) -> Result<Json<VendorWait>, ApiError> {
    let wait = state.app.vendor_wait(&principal, &ticket).await?;
    Ok(Json(
        wait.ok_or(opsdesk_app::AppError::NotFound("vendor wait"))?,
    ))
}

/// Starts (or replaces) a ticket's wait on a vendor (staff): the vendor's response time, or
/// a shorter one from a contract covering the ticket's items, runs from now.
#[utoipa::path(put, path = "/api/v1/tickets/{id}/vendor-wait", tag = "cmdb",
    request_body = NewVendorWait, responses((status = 200, body = VendorWait)))]
async fn wait_on_vendor(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(ticket): Path<String>,
    ApiJson(input): ApiJson<NewVendorWait>,
) -> Result<Json<VendorWait>, ApiError> {
    Ok(Json(
        state.app.wait_on_vendor(&principal, &ticket, input).await?,
    ))
}

/// Ends a ticket's wait: the vendor answered (staff).
#[utoipa::path(delete, path = "/api/v1/tickets/{id}/vendor-wait", tag = "cmdb",
    responses((status = 204)))]
async fn end_vendor_wait(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(ticket): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.end_vendor_wait(&principal, &ticket).await?;
    Ok(StatusCode::NO_CONTENT)
}
