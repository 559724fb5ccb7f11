//! Browser sign-in: a session cookie (HttpOnly, SameSite=Lax) plus a CSRF token that pages
//! echo in `X-CSRF-Token` on every change.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use opsdesk_app::auth::{ClientInfo, Session, SignIn};
use opsdesk_app::second_factor::{RecoveryCodes, SecondFactorStatus, TotpEnrolment};
use opsdesk_app::sessions::{AccessRevoked, SessionInfo};

use crate::error::Problem;
use crate::extract::{ApiJson, ApiQuery, Auth, SESSION_COOKIE};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login, logout))
        .routes(routes!(answer_second_factor))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(revoke_access))
        .routes(routes!(
            second_factor,
            begin_totp,
            disable_own_second_factor
        ))
        .routes(routes!(confirm_totp))
        .routes(routes!(disable_second_factor))
}

/// Where a request comes from, as a new session records it.
pub(crate) fn client_info(client: SocketAddr, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        ip: client.ip(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SignedIn {
    /// Send this in `X-CSRF-Token` with every request that changes something.
    csrf_token: String,
    #[schema(value_type = String, format = DateTime)]
    expires_at: jiff::Timestamp,
}

/// The password was right and the account has a second factor: answer the challenge.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SecondFactorRequired {
    /// Send with the code to `POST /api/v1/session/second-factor` within five minutes.
    challenge: String,
}

/// Signs in and sets the session cookie. An account with a second factor gets `202` and a
/// challenge instead. Repeated failures are rate limited (429).
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = Credentials, security(()),
    responses((status = 200, body = SignedIn), (status = 202, body = SecondFactorRequired),
        (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(credentials): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let client = client_info(client, &headers);
    match state
        .app
        .login(&credentials.email, &credentials.password, &client)
        .await?
    {
        SignIn::Session(session) => Ok(signed_in(&state, session)),
        SignIn::SecondFactor { challenge } => Ok((
            StatusCode::ACCEPTED,
            Json(SecondFactorRequired { challenge }),
        )
            .into_response()),
    }
}

fn signed_in(state: &AppState, session: Session) -> Response {
    let max_age = state.app.config().session_ttl_secs;
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        session.secret
    );
    let body = SignedIn {
        csrf_token: session.csrf_token,
        expires_at: opsdesk_app::timestamp(session.expires_at_ms),
    };
    ([(header::SET_COOKIE, cookie)], Json(body)).into_response()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SecondFactorAnswer {
    challenge: String,
    /// The six digits the authenticator shows, or an unused recovery code.
    code: String,
}

/// Completes a sign-in with the authenticator's code or a recovery code, and sets the
/// session cookie. Five wrong codes end the challenge.
#[utoipa::path(post, path = "/api/v1/session/second-factor", tag = "session",
    request_body = SecondFactorAnswer, security(()),
    responses((status = 200, body = SignedIn), (status = 401, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn answer_second_factor(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(answer): ApiJson<SecondFactorAnswer>,
) -> Result<Response, ApiError> {
    let client = client_info(client, &headers);
    let session = state
        .app
        .answer_second_factor(&answer.challenge, &answer.code, &client)
        .await?;
    Ok(signed_in(&state, session))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SessionsQuery {
    /// Whose sessions (admins); your own when absent.
    user_id: Option<i64>,
}

/// Signed-in browser sessions: your own, or (admins) anyone's.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "session", params(SessionsQuery),
    responses((status = 200, body = Vec<SessionInfo>)))]
async fn list_sessions(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(query): ApiQuery<SessionsQuery>,
) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    Ok(Json(state.app.sessions(&principal, query.user_id).await?))
}

/// Ends a session at once: your own, or (admins) anyone's.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "session",
    params(("id" = String, Path, description = "The session's id from the list")),
    responses((status = 204)))]
async fn revoke_session(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.revoke_session(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session and revokes every API token of a user: yourself ("sign out
/// everywhere"), or (admins) anyone.
#[utoipa::path(post, path = "/api/v1/users/{id}/revoke-access", tag = "session",
    params(("id" = i64, Path, description = "The user's id")),
    responses((status = 200, body = AccessRevoked)))]
async fn revoke_access(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<AccessRevoked>, ApiError> {
    Ok(Json(state.app.revoke_all_access(&principal, id).await?))
}

/// Whether your account has a second factor.
#[utoipa::path(get, path = "/api/v1/me/second-factor", tag = "session",
    responses((status = 200, body = SecondFactorStatus)))]
async fn second_factor(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<SecondFactorStatus>, ApiError> {
    Ok(Json(state.app.second_factor_status(&principal).await?))
}

/// Starts adding an authenticator app to your local account: scan the URI, then confirm
/// with a first code. Directory accounts (no local password) are refused (409).
#[utoipa::path(post, path = "/api/v1/me/second-factor", tag = "session",
    responses((status = 201, body = TotpEnrolment)))]
async fn begin_totp(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<(StatusCode, Json<TotpEnrolment>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.begin_totp(&principal).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Code {
    code: String,
}

/// Turns the second factor on with the authenticator's first code; returns ten single-use
/// recovery codes, shown only here.
#[utoipa::path(post, path = "/api/v1/me/second-factor/confirm", tag = "session",
    request_body = Code, responses((status = 200, body = RecoveryCodes)))]
async fn confirm_totp(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<Code>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    Ok(Json(state.app.confirm_totp(&principal, &body.code).await?))
}

/// Turns your second factor off; needs a current code.
#[utoipa::path(delete, path = "/api/v1/me/second-factor", tag = "session",
    request_body = Code, responses((status = 204)))]
async fn disable_own_second_factor(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<Code>,
) -> Result<StatusCode, ApiError> {
    let user_id = principal.user_id.unwrap_or_default();
    state
        .app
        .disable_second_factor(&principal, user_id, Some(&body.code))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Turns off a user's second factor (admins), for a person who lost their device and their
/// recovery codes.
#[utoipa::path(delete, path = "/api/v1/users/{id}/second-factor", tag = "session",
    params(("id" = i64, Path, description = "The user's id")),
    responses((status = 204)))]
async fn disable_second_factor(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .app
        .disable_second_factor(&principal, id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Signs out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session", security(()), responses((status = 204)))]
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let session = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned());
    if let Some(secret) = session {
        state.app.logout(&secret).await?;
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}
