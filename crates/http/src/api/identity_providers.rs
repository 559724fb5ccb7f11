//! OpenID Connect providers over HTTP (admins): staff sign in with a provider of no
//! organization, each organization's customers with theirs. The client secret is
//! write-only: answers only say whether there is one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use opsdesk_app::oidc::{IdentityProvider, IdentityProviderPatch, NewIdentityProvider};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::tagged;
use crate::extract::{ApiJson, ApiQuery, Auth, IfMatch, ListParams, Page};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_providers, create_provider))
        .routes(routes!(get_provider, update_provider, delete_provider))
}

/// The identity providers, by id (admins).
#[utoipa::path(get, path = "/api/v1/identity-providers", tag = "identity providers",
    params(ListParams),
    responses((status = 200, body = Page<IdentityProvider>)))]
async fn list_providers(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<IdentityProvider>>, ApiError> {
    let (after, limit) = params.resolve()?;
    let items = state
        .app
        .identity_providers(&principal, after, limit + 1)
        .await?;
    Ok(Json(Page::from_overfetch(items, limit, |p| p.id)))
}

/// Adds an OpenID Connect provider (admins). Register opsdesk at the provider with the
/// redirect URI `https://<opsdesk's address>/login/oidc/callback`. The issuer must be
/// `https://` (plain `http://` only on loopback); an organization's provider only ever
/// signs in customers of that organization, so its role rules may give only `customer`
/// and it maps no support groups (422 naming the field otherwise).
#[utoipa::path(post, path = "/api/v1/identity-providers", tag = "identity providers",
    request_body = NewIdentityProvider,
    responses((status = 201, body = IdentityProvider)))]
async fn create_provider(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewIdentityProvider>,
) -> Result<Response, ApiError> {
    let provider = state
        .app
        .create_identity_provider(&principal, input)
        .await?;
    Ok(tagged(StatusCode::CREATED, provider.version, provider))
}

/// One identity provider (admins).
#[utoipa::path(get, path = "/api/v1/identity-providers/{id}", tag = "identity providers",
    params(("id" = i64, Path, description = "The provider's id")),
    responses((status = 200, body = IdentityProvider)))]
async fn get_provider(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let provider = state.app.identity_provider(&principal, id).await?;
    Ok(tagged(StatusCode::OK, provider.version, provider))
}

/// Changes an identity provider (admins); `"active": false` disables it. Send `If-Match`
/// with the ETag you read.
#[utoipa::path(patch, path = "/api/v1/identity-providers/{id}", tag = "identity providers",
    params(("id" = i64, Path, description = "The provider's id")),
    request_body = IdentityProviderPatch,
    responses((status = 200, body = IdentityProvider)))]
async fn update_provider(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<IdentityProviderPatch>,
) -> Result<Response, ApiError> {
    let provider = state
        .app
        .update_identity_provider(&principal, id, version, patch)
        .await?;
    Ok(tagged(StatusCode::OK, provider.version, provider))
}

/// Removes an identity provider (admins). Accounts it created stay, and sign in as any
/// other way allows them.
#[utoipa::path(delete, path = "/api/v1/identity-providers/{id}", tag = "identity providers",
    params(("id" = i64, Path, description = "The provider's id")),
    responses((status = 204)))]
async fn delete_provider(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_identity_provider(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
