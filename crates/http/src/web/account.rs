//! A person's own security page — signed-in sessions, API tokens, the authenticator app —
//! the admins' view of anyone's sessions, and the sign-in step that asks for the second
//! factor.

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::accounts::User;
use opsdesk_app::auth::{ApiToken, CreatedToken};
use opsdesk_app::preferences::TimeZoneSetting;
use opsdesk_app::second_factor::{SecondFactorStatus, TotpEnrolment};
use opsdesk_app::sessions::SessionInfo;
use opsdesk_app::{AppError, Principal};

use super::{
    Chrome, Lang, SignedForm, WebError, WebUser, login_token, login_token_matches, render,
};
use crate::AppState;
use crate::extract::cookie;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(security))
        .route("/account/sessions/{id}/revoke", post(revoke_session))
        .route("/account/sign-out-everywhere", post(sign_out_everywhere))
        .route("/account/time-zone", post(set_time_zone))
        .route("/account/tokens", post(create_token))
        .route("/account/tokens/{id}/revoke", post(revoke_token))
        .route("/account/second-factor", post(begin_totp))
        .route("/account/second-factor/confirm", post(confirm_totp))
        .route("/account/second-factor/off", post(disable_totp))
        .route("/admin/users/{id}/access", get(user_access))
        .route("/admin/users/{id}/revoke-access", post(revoke_user_access))
        .route(
            "/admin/users/{id}/second-factor/off",
            post(disable_user_totp),
        )
        .route(
            "/login/second-factor",
            get(second_factor_page).post(answer_second_factor),
        )
}

/// Holds the sign-in challenge between the password and the code; only `/login` sees it.
const CHALLENGE_COOKIE: &str = "opsdesk_challenge";

/// What the security page shows besides the lists: a token or recovery codes just made
/// (shown once), or an authenticator being added.
#[derive(Default)]
enum Moment {
    #[default]
    Nothing,
    NewToken(CreatedToken),
    Enrolling {
        enrolment: TotpEnrolment,
        qr_svg: String,
    },
    RecoveryCodes(Vec<String>),
}

#[derive(Template)]
#[template(path = "account.html")]
struct SecurityPage {
    c: Chrome,
    sessions: Vec<SessionInfo>,
    tokens: Vec<ApiToken>,
    second_factor: SecondFactorStatus,
    moment: Moment,
    /// The person's own time zone; empty: none chosen.
    time_zone: String,
    time_zones: &'static [String],
}

async fn security_page(
    state: &AppState,
    principal: &Principal,
    moment: Moment,
    notice: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let mut c = Chrome::new(principal, Lang.t("account.title"));
    c.notice = notice;
    let page = SecurityPage {
        c,
        sessions: state.app.sessions(principal, None).await?,
        tokens: state.app.tokens(principal).await?,
        second_factor: state.app.second_factor_status(principal).await?,
        moment,
        time_zone: state
            .app
            .time_zone(principal)
            .await?
            .time_zone
            .unwrap_or_default(),
        time_zones: super::oncall::time_zone_names(),
    };
    Ok((status, render(&page)).into_response())
}

async fn security(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    security_page(&state, &p, Moment::Nothing, None, StatusCode::OK).await
}

/// A mistake in a form on the security page comes back on the page, not as an error page.
async fn or_notice(
    state: &AppState,
    principal: &Principal,
    result: Result<Moment, AppError>,
) -> Result<Response, WebError> {
    match result {
        Ok(Moment::Nothing) => Ok(Redirect::to("/account").into_response()),
        Ok(moment) => security_page(state, principal, moment, None, StatusCode::OK).await,
        Err(AppError::Invalid(errors)) => {
            let message = errors
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_default();
            security_page(
                state,
                principal,
                Moment::Nothing,
                Some(message),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(AppError::Conflict { message, .. }) => {
            security_page(
                state,
                principal,
                Moment::Nothing,
                Some(message),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

async fn revoke_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    state.app.revoke_session(&form.principal, &id).await?;
    Ok(Redirect::to("/account").into_response())
}

async fn sign_out_everywhere(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let user_id = form
        .principal
        .user_id
        .ok_or(WebError::App(AppError::NotFound("user")))?;
    state
        .app
        .revoke_all_access(&form.principal, user_id)
        .await?;
    Ok(Redirect::to("/login").into_response())
}

/// Chooses the person's own time zone (empty: none, UTC).
async fn set_time_zone(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let p = &form.principal;
    let input = TimeZoneSetting {
        time_zone: Some(form.get("time_zone").to_owned()),
    };
    let result = state
        .app
        .set_time_zone(p, input)
        .await
        .map(|_| Moment::Nothing);
    or_notice(&state, p, result).await
}

async fn create_token(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let p = &form.principal;
    let result = state
        .app
        .create_token(p, &p.email, form.get("name"))
        .await
        .map(Moment::NewToken);
    or_notice(&state, p, result).await
}

async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    state.app.revoke_token(&form.principal, id).await?;
    Ok(Redirect::to("/account").into_response())
}

async fn begin_totp(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    let p = &form.principal;
    let result = match state.app.begin_totp(p).await {
        Ok(enrolment) => {
            qr_svg(&enrolment.otpauth_uri).map(|qr_svg| Moment::Enrolling { enrolment, qr_svg })
        }
        Err(error) => Err(error),
    };
    or_notice(&state, p, result).await
}

/// The authenticator's set-up as a QR code, drawn as SVG like the asset labels.
fn qr_svg(uri: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| AppError::internal("QR code", e.to_string()))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build())
}

async fn confirm_totp(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let p = &form.principal;
    let result = state
        .app
        .confirm_totp(p, form.get("code"))
        .await
        .map(|codes| Moment::RecoveryCodes(codes.codes));
    or_notice(&state, p, result).await
}

async fn disable_totp(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let p = &form.principal;
    let user_id = p.user_id.unwrap_or_default();
    let result = state
        .app
        .disable_second_factor(p, user_id, Some(form.get("code")))
        .await
        .map(|()| Moment::Nothing);
    or_notice(&state, p, result).await
}

#[derive(Template)]
#[template(path = "account_admin.html")]
struct UserAccessPage {
    c: Chrome,
    user: User,
    sessions: Vec<SessionInfo>,
}

/// Admins: a person's sessions, and the buttons to sign them out everywhere or to turn off a
/// second factor they can no longer use.
async fn user_access(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    p.require_admin()?;
    let user = state.app.user(&p, id).await?;
    let c = Chrome::new(
        &p,
        format!("{}: {}", Lang.t("account.admin.title"), user.email),
    );
    let sessions = state.app.sessions(&p, Some(id)).await?;
    Ok(render(&UserAccessPage { c, user, sessions }))
}

async fn revoke_user_access(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    form.principal.require_admin()?;
    state.app.revoke_all_access(&form.principal, id).await?;
    Ok(Redirect::to(&format!("/admin/users/{id}/access")).into_response())
}

async fn disable_user_totp(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    form.principal.require_admin()?;
    state
        .app
        .disable_second_factor(&form.principal, id, None)
        .await?;
    Ok(Redirect::to(&format!("/admin/users/{id}/access")).into_response())
}

#[derive(Template)]
#[template(path = "login_second_factor.html")]
struct SecondFactorPage {
    c: Chrome,
}

/// The code form, with a fresh sign-in form token; `challenge` (set after a right password)
/// goes into its own cookie.
fn second_factor_form(
    state: &AppState,
    status: StatusCode,
    notice: Option<&str>,
    challenge: Option<&str>,
) -> Response {
    let (token, login_cookie) = login_token(state);
    let mut c = Chrome::anonymous(Lang.t("account.second_factor.title"));
    c.csrf = token;
    c.notice = notice.map(str::to_owned);
    let mut response = (status, render(&SecondFactorPage { c })).into_response();
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let mut cookies = vec![login_cookie];
    if let Some(challenge) = challenge {
        cookies.push(format!(
            "{CHALLENGE_COOKIE}={challenge}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=300{secure}"
        ));
    }
    for value in cookies {
        if let Ok(value) = header::HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// After a right password for an account with a second factor.
pub(super) fn ask_second_factor(state: &AppState, challenge: &str) -> Response {
    second_factor_form(state, StatusCode::OK, None, Some(challenge))
}

async fn second_factor_page(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if cookie(&headers, CHALLENGE_COOKIE).is_none() {
        return Redirect::to("/login").into_response();
    }
    second_factor_form(&state, StatusCode::OK, None, None)
}

#[derive(serde::Deserialize)]
struct CodeForm {
    code: String,
    #[serde(default)]
    csrf_token: String,
}

async fn answer_second_factor(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    axum::Form(form): axum::Form<CodeForm>,
) -> Response {
    let challenge = cookie(&headers, CHALLENGE_COOKIE).unwrap_or_default();
    if challenge.is_empty() || !login_token_matches(&headers, &form.csrf_token) {
        return Redirect::to("/login").into_response();
    }
    let client = crate::api::client_info(client, &headers);
    match state
        .app
        .answer_second_factor(&challenge, &form.code, &client)
        .await
    {
        Ok(session) => {
            let mut response = super::signed_in(&state, &session);
            let clear = format!("{CHALLENGE_COOKIE}=; Path=/login; HttpOnly; Max-Age=0");
            if let Ok(value) = header::HeaderValue::from_str(&clear) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Err(AppError::Unauthenticated(_)) => Redirect::to("/login").into_response(),
        Err(AppError::RateLimited { .. }) => second_factor_form(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            Some(Lang.t("error.rate_limited")),
            None,
        ),
        Err(_) => second_factor_form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some(Lang.t("account.second_factor.wrong")),
            None,
        ),
    }
}
