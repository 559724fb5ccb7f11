//! Who is signed in, organizations, users and API tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use opsdesk_app::accounts::{
    NewOrganization, NewUserInput, Organization, OrganizationPatch, User, UserPatch,
};
use opsdesk_app::auth::{ApiToken, CreatedToken};
use opsdesk_app::preferences::TimeZoneSetting;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiQuery, Auth, IfMatch, ListParams, Page, etag};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(my_time_zone, set_my_time_zone))
        .routes(routes!(create_organization, list_organizations))
        .routes(routes!(get_organization, update_organization))
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

/// A JSON body with the record's ETag, so the client can update it with `If-Match`.
pub(crate) fn tagged<T: serde::Serialize>(status: StatusCode, version: i64, body: T) -> Response {
    (status, [(header::ETAG, etag(version))], Json(body)).into_response()
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts",
    responses((status = 200, body = User)))]
async fn me(State(state): State<AppState>, Auth(principal): Auth) -> Result<Json<User>, ApiError> {
    Ok(Json(state.app.me(&principal).await?))
}

/// The signed-in person's own time zone (staff and customers).
#[utoipa::path(get, path = "/api/v1/me/time-zone", tag = "accounts",
    responses((status = 200, body = TimeZoneSetting)))]
async fn my_time_zone(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<TimeZoneSetting>, ApiError> {
    Ok(Json(state.app.time_zone(&principal).await?))
}

/// Chooses the signed-in person's own time zone: the web UI shows their times in it, and
/// their reports default to it. `null` clears it (UTC); an unknown name is refused (422).
#[utoipa::path(put, path = "/api/v1/me/time-zone", tag = "accounts", request_body = TimeZoneSetting,
    responses((status = 200, body = TimeZoneSetting)))]
async fn set_my_time_zone(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<TimeZoneSetting>,
) -> Result<Json<TimeZoneSetting>, ApiError> {
    Ok(Json(state.app.set_time_zone(&principal, input).await?))
}

/// Creates an organization (admins).
#[utoipa::path(post, path = "/api/v1/organizations", tag = "accounts", request_body = NewOrganization,
    responses((status = 201, body = Organization)))]
async fn create_organization(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewOrganization>,
) -> Result<Response, ApiError> {
    let organization = state.app.create_organization(&principal, input).await?;
    Ok(tagged(
        StatusCode::CREATED,
        organization.version,
        organization,
    ))
}

/// Organizations the caller may see.
#[utoipa::path(get, path = "/api/v1/organizations", tag = "accounts", params(ListParams),
    responses((status = 200, body = Page<Organization>)))]
async fn list_organizations(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<Organization>>, ApiError> {
    let (after, limit) = params.resolve()?;
    let items = state
        .app
        .organizations(&principal, after, limit + 1)
        .await?;
    Ok(Json(Page::from_overfetch(items, limit, |org| org.id)))
}

/// One organization.
#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "accounts",
    responses((status = 200, body = Organization)))]
async fn get_organization(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let organization = state.app.organization(&principal, id).await?;
    Ok(tagged(StatusCode::OK, organization.version, organization))
}

/// Changes an organization (admins). Send `If-Match` with the ETag you read.
#[utoipa::path(patch, path = "/api/v1/organizations/{id}", tag = "accounts", request_body = OrganizationPatch,
    responses((status = 200, body = Organization)))]
async fn update_organization(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<OrganizationPatch>,
) -> Result<Response, ApiError> {
    let organization = state
        .app
        .update_organization(&principal, id, version, patch)
        .await?;
    Ok(tagged(StatusCode::OK, organization.version, organization))
}

/// Creates a user (admins).
#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", request_body = NewUserInput,
    responses((status = 201, body = User)))]
async fn create_user(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewUserInput>,
) -> Result<Response, ApiError> {
    let user = state.app.create_user(&principal, input).await?;
    Ok(tagged(StatusCode::CREATED, user.version, user))
}

/// Users the caller may see (staff).
#[utoipa::path(get, path = "/api/v1/users", tag = "accounts", params(ListParams),
    responses((status = 200, body = Page<User>)))]
async fn list_users(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<User>>, ApiError> {
    let (after, limit) = params.resolve()?;
    let items = state.app.users(&principal, after, limit + 1).await?;
    Ok(Json(Page::from_overfetch(items, limit, |user| user.id)))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "accounts",
    responses((status = 200, body = User)))]
async fn get_user(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let user = state.app.user(&principal, id).await?;
    Ok(tagged(StatusCode::OK, user.version, user))
}

/// Changes a user (admins). Send `If-Match` with the ETag you read.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "accounts", request_body = UserPatch,
    responses((status = 200, body = User)))]
async fn update_user(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<Response, ApiError> {
    let user = state
        .app
        .update_user(&principal, id, version, patch)
        .await?;
    Ok(tagged(StatusCode::OK, user.version, user))
}

/// A token request: for yourself, or (admins) for another user.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    /// Whose token; yourself when absent.
    email: Option<String>,
}

/// Creates an API token. The secret is in this response only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "accounts", request_body = NewToken,
    responses((status = 201, body = CreatedToken)))]
async fn create_token(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let email = input.email.unwrap_or_else(|| principal.email.clone());
    let token = state
        .app
        .create_token(&principal, &email, &input.name)
        .await?;
    Ok((StatusCode::CREATED, Json(token)))
}

/// Your API tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "accounts",
    responses((status = 200, body = Vec<ApiToken>)))]
async fn list_tokens(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<ApiToken>>, ApiError> {
    Ok(Json(state.app.tokens(&principal).await?))
}

/// Revokes a token at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "accounts",
    responses((status = 200, body = ApiToken)))]
async fn revoke_token(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<ApiToken>, ApiError> {
    Ok(Json(state.app.revoke_token(&principal, id).await?))
}
