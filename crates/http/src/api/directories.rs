//! LDAP and Active Directory directories over HTTP (admins): their settings, a connection
//! check, and syncs — real or dry runs that list what would change.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use opsdesk_app::ldap::sync::SyncReport;
use opsdesk_app::ldap::{ConnectionCheck, Directory, DirectoryInput};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::tagged;
use crate::extract::{ApiJson, ApiQuery, Auth, IfMatch, ListParams, Page};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_directories, create_directory))
        .routes(routes!(get_directory, update_directory, delete_directory))
        .routes(routes!(sync_directory))
        .routes(routes!(check_directory))
}

/// The directories people sign in with and that are synced into the desk (admins).
#[utoipa::path(get, path = "/api/v1/directories", tag = "directories", params(ListParams),
    responses((status = 200, body = Page<Directory>)))]
async fn list_directories(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<Directory>>, ApiError> {
    let (after, limit) = params.resolve()?;
    let mut items: Vec<Directory> = state
        .app
        .directories(&principal)
        .await?
        .into_iter()
        .filter(|d| d.id > after)
        .collect();
    items.sort_by_key(|d| d.id);
    items.truncate(usize::try_from(limit + 1).unwrap_or(usize::MAX));
    Ok(Json(Page::from_overfetch(items, limit, |d| d.id)))
}

/// Adds a directory (admins). `name`, `url`, `bind_dn`, `bind_password` and `user_base`
/// are required; the kind's defaults fill the rest. A plain `ldap://` address without
/// `starttls` to anything but loopback is 422 naming `url`: never plain text to a remote
/// server. The service account's password is never shown again.
#[utoipa::path(post, path = "/api/v1/directories", tag = "directories",
    request_body = DirectoryInput,
    responses((status = 201, body = Directory)))]
async fn create_directory(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<DirectoryInput>,
) -> Result<Response, ApiError> {
    let directory = state.app.create_directory(&principal, input).await?;
    Ok(tagged(StatusCode::CREATED, directory.version, directory))
}

/// One directory (admins).
#[utoipa::path(get, path = "/api/v1/directories/{id}", tag = "directories",
    params(("id" = i64, Path, description = "The directory's id")),
    responses((status = 200, body = Directory)))]
async fn get_directory(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let directory = state.app.directory(&principal, id).await?;
    Ok(tagged(StatusCode::OK, directory.version, directory))
}

/// Changes a directory's settings (admins); absent fields stay as they are.
#[utoipa::path(patch, path = "/api/v1/directories/{id}", tag = "directories",
    params(("id" = i64, Path, description = "The directory's id")),
    request_body = DirectoryInput,
    responses((status = 200, body = Directory)))]
async fn update_directory(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    IfMatch(version): IfMatch,
    ApiJson(input): ApiJson<DirectoryInput>,
) -> Result<Response, ApiError> {
    let directory = state
        .app
        .update_directory(&principal, id, version, input)
        .await?;
    Ok(tagged(StatusCode::OK, directory.version, directory))
}

/// Removes a directory (admins); its accounts stay, no longer linked.
#[utoipa::path(delete, path = "/api/v1/directories/{id}", tag = "directories",
    params(("id" = i64, Path, description = "The directory's id")),
    responses((status = 204)))]
async fn delete_directory(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_directory(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SyncParams {
    /// Only say what would change; write nothing.
    dry_run: Option<bool>,
}

/// Syncs a directory now (admins): new people get accounts, changed ones are updated,
/// disabled or vanished ones are deactivated with their sessions and tokens revoked, and
/// mapped groups fill support groups. With `dry_run=true` nothing is written and the answer
/// lists what would change. A directory that cannot be reached is 409.
#[utoipa::path(post, path = "/api/v1/directories/{id}/sync", tag = "directories",
    params(("id" = i64, Path, description = "The directory's id"), SyncParams),
    responses((status = 200, body = SyncReport)))]
async fn sync_directory(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiQuery(params): ApiQuery<SyncParams>,
) -> Result<Json<SyncReport>, ApiError> {
    let dry_run = params.dry_run.unwrap_or(false);
    Ok(Json(
        state
            .app
            .sync_directory(&principal, id, dry_run, &())
            .await?,
    ))
}

/// Connects to a directory and binds as its service account (admins).
#[utoipa::path(post, path = "/api/v1/directories/{id}/check", tag = "directories",
    params(("id" = i64, Path, description = "The directory's id")),
    responses((status = 200, body = ConnectionCheck)))]
async fn check_directory(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<ConnectionCheck>, ApiError> {
    Ok(Json(state.app.check_directory(&principal, id).await?))
}
