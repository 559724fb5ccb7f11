//! SCIM 2.0 provisioning endpoint (RFC 7644) under `/scim/v2`, for identity providers that
//! push users and groups. It speaks SCIM's own media type and error format rather than
//! problem+json, because provisioning clients parse only those. Clients authenticate with a
//! provisioning token made under `/api/v1/scim-clients`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opsdesk_app::AppError;
use opsdesk_app::scim::{
    CreatedScimClient, NewScimClient, ScimCaller, ScimClient, ScimGroup, ScimList, ScimUser,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(revoke_client))
        .routes(routes!(service_provider_config))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, replace_user, patch_user, delete_user))
        .routes(routes!(list_groups, create_group))
        .routes(routes!(get_group, replace_group, patch_group, delete_group))
}

/// Paths that answer in SCIM's format rather than problem+json.
pub(super) const PREFIX: &str = "/scim/v2/";

const SCIM_JSON: &str = "application/scim+json";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A SCIM error response (RFC 7644 §3.12).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ScimErrorBody {
    schemas: Vec<String>,
    /// The HTTP status, as a string.
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    scim_type: Option<String>,
    detail: String,
}

/// The errors a SCIM route can answer, in SCIM's format: status, name and meaning.
const ERRORS: [(u16, &str, &str); 7] = [
    (
        400,
        "ScimBadRequest",
        "The request or a value in it is malformed (`scimType` says how).",
    ),
    (401, "ScimUnauthorized", "No valid provisioning token."),
    (
        403,
        "ScimForbidden",
        "The client may not do this (an organization's client and groups).",
    ),
    (404, "ScimNotFound", "No such resource for this client."),
    (
        409,
        "ScimConflict",
        "The user or group already exists (`scimType` `uniqueness`).",
    ),
    (
        429,
        "ScimTooManyRequests",
        "Too many requests; retry later.",
    ),
    (500, "ScimInternal", "Something broke on the server."),
];

/// Declares SCIM's error responses once and attaches them to every SCIM operation that
/// needs a token (the public discovery document can only fail with 500).
pub(super) fn declare_errors(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::PartialSchema;
    use utoipa::openapi::response::ResponseBuilder;
    use utoipa::openapi::{Content, Ref, RefOr};

    let components = openapi.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert("ScimErrorBody".into(), ScimErrorBody::schema());
    for (_, name, description) in ERRORS {
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                SCIM_JSON,
                Content::new(Some(Ref::from_schema_name("ScimErrorBody"))),
            )
            .build();
        components
            .responses
            .insert(name.to_owned(), RefOr::T(response));
    }
    for (path, item) in &mut openapi.paths.paths {
        if !path.starts_with(PREFIX) {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let public = operation
                .security
                .as_ref()
                .is_some_and(|requirements| requirements.iter().all(|r| *r == Default::default()));
            for (status, name, _) in ERRORS {
                if public && status != 500 {
                    continue;
                }
                operation.responses.responses.insert(
                    status.to_string(),
                    RefOr::Ref(Ref::new(format!("#/components/responses/{name}"))),
                );
            }
        }
    }
}

/// An error answered in SCIM's format.
struct ScimError(AppError);

impl From<AppError> for ScimError {
    fn from(error: AppError) -> Self {
        ScimError(error)
    }
}

fn scim_error(status: StatusCode, scim_type: Option<&str>, detail: String) -> Response {
    let body = ScimErrorBody {
        schemas: vec![ERROR_SCHEMA.into()],
        status: status.as_u16().to_string(),
        scim_type: scim_type.map(str::to_owned),
        detail,
    };
    scim_response(status, &body)
}

fn scim_response(status: StatusCode, body: &impl Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        match self.0 {
            AppError::Invalid(errors) => {
                let first = errors.first();
                let scim_type = match first.map(|e| e.field.as_str()) {
                    Some("filter") => "invalidFilter",
                    Some("path") => "invalidPath",
                    Some("userName" | "displayName") => "mutability",
                    _ => "invalidValue",
                };
                let detail = first
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .unwrap_or_default();
                scim_error(StatusCode::BAD_REQUEST, Some(scim_type), detail)
            }
            AppError::Conflict { message, .. } => {
                scim_error(StatusCode::CONFLICT, Some("uniqueness"), message)
            }
            AppError::NotFound(what) => {
                scim_error(StatusCode::NOT_FOUND, None, format!("no such {what}"))
            }
            AppError::Unauthenticated(message) => {
                scim_error(StatusCode::UNAUTHORIZED, None, message)
            }
            AppError::Forbidden(message) => scim_error(StatusCode::FORBIDDEN, None, message),
            AppError::RateLimited { .. } => scim_error(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                "too many requests".into(),
            ),
            other => {
                tracing::error!(error = %opsdesk_app::error_chain(&other), "SCIM request failed");
                scim_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "the request could not be carried out".into(),
                )
            }
        }
    }
}

/// The provisioning client a request's bearer token belongs to.
struct ScimAuth(ScimCaller);

impl FromRequestParts<AppState> for ScimAuth {
    type Rejection = ScimError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .trim();
        Ok(ScimAuth(state.app.authenticate_scim(token).await?))
    }
}

/// A SCIM body: JSON sent as `application/scim+json` or `application/json`.
fn body(bytes: &Bytes) -> Result<Value, ScimError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ScimError(AppError::invalid("body", format!("not JSON: {e}"))))?;
    if !value.is_object() {
        return Err(ScimError(AppError::invalid(
            "body",
            "a resource is a JSON object",
        )));
    }
    Ok(value)
}

fn created<T: Serialize>(resource: &T, location: &str) -> Response {
    let mut response = scim_response(StatusCode::CREATED, resource);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Provisioning clients (admins): the identity providers allowed to push users and groups.
#[utoipa::path(get, path = "/api/v1/scim-clients", tag = "provisioning",
    responses((status = 200, body = Vec<ScimClient>)))]
async fn list_clients(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<ScimClient>>, ApiError> {
    Ok(Json(state.app.scim_clients(&principal).await?))
}

/// Creates a provisioning client (admins). Its token is in this response only.
#[utoipa::path(post, path = "/api/v1/scim-clients", tag = "provisioning",
    request_body = NewScimClient, responses((status = 201, body = CreatedScimClient)))]
async fn create_client(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewScimClient>,
) -> Result<(StatusCode, Json<CreatedScimClient>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_scim_client(&principal, input).await?),
    ))
}

/// Revokes a provisioning client's token (admins). The accounts it made stay.
#[utoipa::path(delete, path = "/api/v1/scim-clients/{id}", tag = "provisioning",
    params(("id" = i64, Path, description = "The client's id")),
    responses((status = 200, body = ScimClient)))]
async fn revoke_client(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<ScimClient>, ApiError> {
    Ok(Json(state.app.revoke_scim_client(&principal, id).await?))
}

/// What this SCIM service supports (RFC 7644 §5): PATCH and filtering by `eq`; no bulk,
/// sorting, ETags or password changes.
#[utoipa::path(get, path = "/scim/v2/ServiceProviderConfig", tag = "scim", security(()),
    responses((status = 200, body = Object, content_type = "application/scim+json")))]
async fn service_provider_config() -> Response {
    let unsupported = json!({"supported": false});
    scim_response(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://opsdesk.example/docs/scim",
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": opsdesk_app::scim::MAX_PAGE},
            "changePassword": unsupported,
            "sort": unsupported,
            "etag": unsupported,
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A provisioning token made by an opsdesk admin",
                "primary": true
            }]
        }),
    )
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    /// `userName eq "ann@example.com"` (also `externalId`, `displayName`, `id`).
    filter: Option<String>,
    /// 1-based index of the first result.
    start_index: Option<i64>,
    /// Results per page, at most 200.
    count: Option<i64>,
}

/// Users this client provisioned.
#[utoipa::path(get, path = "/scim/v2/Users", tag = "scim", params(ListQuery),
    responses((status = 200, body = ScimList<ScimUser>, content_type = "application/scim+json")))]
async fn list_users(
    State(state): State<AppState>,
    ScimAuth(caller): ScimAuth,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ScimError> {
    let list = state
        .app
        .scim_users(
            &caller,
            query.filter.as_deref(),
            query.start_index.unwrap_or(1),
            query.count.unwrap_or(100),
        )
        .await?;
    Ok(scim_response(StatusCode::OK, &list))
}

/// Creates a user, or takes over the existing account with that address in the client's
/// scope.
#[utoipa::path(post, path = "/scim/v2/Users", tag = "scim",
    request_body(content = Object, content_type = "application/scim+json"),
    responses((status = 201, body = ScimUser, content_type = "application/scim+json")))]
async fn create_user(
    State(state): State<AppState>,
    ScimAuth(caller): ScimAuth,
    bytes: Bytes,
) -> Result<Response, ScimError> {
    let user = state.app.scim_create_user(&caller, &body(&bytes)?).await?;
    let location = user.meta.location.clone();
    Ok(created(&user, &location))
}

/// One provisioned user.
#[utoipa::path(get, path = "/scim/v2/Users/{id}", tag = "scim",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, body = ScimUser, content_type = "application/scim+json")))]
async fn get_user(
    State(state): State<AppState>,
    ScimAuth(caller): ScimAuth,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let user = state.app.scim_user(&caller, &id).await?;
    Ok(scim_response(StatusCode::OK, &user))
}

/// Replaces a user's name, external id and active flag.
#[utoipa::path(put, path = "/scim/v2/Users/{id}", tag = "scim",
    params(("id" = String, Path, description = "The user's id")),
    request_body(content = Object, content_type = "application/scim+json"),
    responses((status = 200, body = ScimUser, content_type = "application/scim+json")))]
async fn replace_user(
    State(state): State<AppState>,
    ScimAuth(caller): ScimAuth,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ScimError> {
    let user = state
        .app
        .scim_replace_user(&caller, &id, &body(&bytes)?)
        .await?;
    Ok(scim_response(StatusCode::OK, &user))
}

/// Changes a user (PatchOp); `active: false` deactivates and signs them out everywhere.
#[utoipa::path(patch, path = "/scim/v2/Users/{id}", tag = "scim",
    params(("id" = String, Path, description = "The user's id")),
    request_body(content = Object, content_type = "application/scim+json"),
    responses((status = 200, body = ScimUser, content_type = "application/scim+json")))]
async fn patch_user(
    State(state): State<AppState>,
    ScimAuth(caller): ScimAuth,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ScimError> {
    let user = state
        .app
        .scim_patch_user(&caller, &id, &body(&bytes)?)
        .await?;
    Ok(scim_response(StatusCode::OK, &user))
}

/// Deprovisions a user: deactivated and signed out everywhere; their tickets stay.
#[utoipa::path(delete, path = "/scim/v2/Users/{id}", tag = "scim",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 204)))]
async fn delete_user(
    State(state): State<AppState>,
    ScimAuth(caller): ScimAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ScimError> {
    state.app.scim_delete_user(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct GroupQuery {
    /// `displayName eq "Network team"`.
    filter: Option<String>,
}

/// Support groups this client manages.
#[utoipa::path(get, path = "/scim/v2/Groups", tag = "scim", params(GroupQuery),
    responses((status = 200, body = ScimList<ScimGroup>, content_type = "application/scim+json")))]
async fn list_groups(
    State(state): State<AppState>,
    ScimAuth(caller): ScimAuth,
    ApiQuery(query): ApiQuery<GroupQuery>,
) -> Result<Response, ScimError> {
    let list = state
        .app
        .scim_groups(&caller, query.filter.as_deref())
        .await?;
    Ok(scim_response(StatusCode::OK, &list))
}

/// Creates a support group (or takes over the one of that name) with its members.
#[utoipa::path(post, path = "/scim/v2/Groups", tag = "scim",
    request_body(content = Object, content_type = "application/scim+json"),
    responses((status = 201, body = ScimGroup, content_type = "application/scim+json")))]
async fn create_group(
    State(state): State<AppState>,
    ScimAuth(caller): ScimAuth,
    bytes: Bytes,
) -> Result<Response, ScimError> {
    let group = state.app.scim_create_group(&caller, &body(&bytes)?).await?;
    let location = group.meta.location.clone();
    Ok(created(&group, &location))
}

/// One managed group with its members.
#[utoipa::path(get, path = "/scim/v2/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "The group's id")),
    responses((status = 200, body = ScimGroup, content_type = "application/scim+json")))]
async fn get_group(
    State(state): State<AppState>,
    ScimAuth(caller): ScimAuth,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let group = state.app.scim_group(&caller, &id).await?;
    Ok(scim_response(StatusCode::OK, &group))
}

/// Sets a group's members to exactly those sent.
#[utoipa::path(put, path = "/scim/v2/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "The group's id")),
    request_body(content = Object, content_type = "application/scim+json"),
    responses((status = 200, body = ScimGroup, content_type = "application/scim+json")))]
async fn replace_group(
    State(state): State<AppState>,
    ScimAuth(caller): ScimAuth,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ScimError> {
    let group = state
        .app
        .scim_replace_group(&caller, &id, &body(&bytes)?)
        .await?;
    Ok(scim_response(StatusCode::OK, &group))
}

/// Adds and removes members (PatchOp).
#[utoipa::path(patch, path = "/scim/v2/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "The group's id")),
    request_body(content = Object, content_type = "application/scim+json"),
    responses((status = 200, body = ScimGroup, content_type = "application/scim+json")))]
async fn patch_group(
    State(state): State<AppState>,
    ScimAuth(caller): ScimAuth,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ScimError> {
    let group = state
        .app
        .scim_patch_group(&caller, &id, &body(&bytes)?)
        .await?;
    Ok(scim_response(StatusCode::OK, &group))
}

/// Stops managing a group: its provisioned members leave it; the group stays.
#[utoipa::path(delete, path = "/scim/v2/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "The group's id")),
    responses((status = 204)))]
async fn delete_group(
    State(state): State<AppState>,
    ScimAuth(caller): ScimAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ScimError> {
    state.app.scim_delete_group(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
