//! The web UI: server-rendered pages for agents (queues, tickets), customers (the portal)
//! and admins, from templates compiled into the binary. Every form carries the session's
//! CSRF token; every page is sent with a Content-Security-Policy that allows only our own
//! script and stylesheet.

mod account;
mod admin;
mod agent;
mod changes;
mod cmdb;
mod countdown;
mod dashboard;
mod directories;
mod i18n;
mod knowledge;
mod live;
mod markdown;
mod monitoring;
mod network;
mod oidc;
mod oncall;
mod operations;
mod paging;
mod portal;
mod problems;
mod reports;
mod security;
mod sla_admin;
mod suppliers;
mod surveys;

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::auth::{Session, SignIn};
use opsdesk_app::{AppError, Principal, Via};
use opsdesk_domain::account::Role;

use crate::AppState;
use crate::extract::{SESSION_COOKIE, cookie};
pub(crate) use i18n::{Lang, Locale};
pub(crate) use live::Presence;

/// The pages' routes, merged beside the API.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/static/{file}", get(asset))
        .merge(agent::routes())
        .merge(portal::routes())
        .merge(admin::routes())
        .merge(sla_admin::routes())
        .merge(knowledge::routes())
        .merge(live::routes())
        .merge(dashboard::routes())
        .merge(monitoring::routes())
        .merge(network::routes())
        .merge(cmdb::routes())
        .merge(suppliers::routes())
        .merge(oncall::routes())
        .merge(paging::routes())
        .merge(operations::routes())
        .merge(problems::routes())
        .merge(security::routes())
        .merge(reports::routes())
        .merge(changes::routes())
        .merge(surveys::routes())
        .merge(account::routes())
        .merge(oidc::routes())
        .merge(directories::routes())
}

/// What every page shows around its content: who is signed in and the form token.
pub(crate) struct Chrome {
    /// The signed-in person's language and time zone.
    pub l: Locale,
    pub title: String,
    pub email: String,
    pub staff: bool,
    pub admin: bool,
    pub csrf: String,
    /// A one-line message at the top (an error the user should fix).
    pub notice: Option<String>,
}

impl Chrome {
    pub(crate) fn new(principal: &Principal, title: impl Into<String>) -> Self {
        let csrf = match &principal.via {
            Via::Session { csrf_token, .. } => csrf_token.clone(),
            _ => String::new(),
        };
        Self {
            l: Locale::of(principal),
            title: title.into(),
            email: principal.email.clone(),
            staff: principal.role.is_staff(),
            admin: principal.role == Role::Admin,
            csrf,
            notice: None,
        }
    }

    pub(super) fn anonymous(title: &str) -> Self {
        Self {
            l: Locale::utc(),
            title: title.to_owned(),
            email: String::new(),
            staff: false,
            admin: false,
            csrf: String::new(),
            notice: None,
        }
    }
}

/// Why a page could not be shown: not signed in (go to the sign-in page) or an application
/// error, shown as an HTML page with the matching status.
pub(crate) enum WebError {
    SignIn,
    App(AppError),
}

impl From<AppError> for WebError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Unauthenticated(_) => WebError::SignIn,
            other => WebError::App(other),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    message: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let error = match self {
            WebError::SignIn => return Redirect::to("/login").into_response(),
            WebError::App(error) => error,
        };
        let l = Lang;
        let status = crate::error::class_of(&error).status;
        let message = match &error {
            AppError::NotFound(_) => l.t("error.not_found").to_owned(),
            AppError::Forbidden(_) => l.t("error.forbidden").to_owned(),
            AppError::Stale => l.t("error.stale").to_owned(),
            AppError::RateLimited { .. } => l.t("error.rate_limited").to_owned(),
            AppError::Invalid(_) | AppError::Conflict { .. } => crate::error::error_detail(&error),
            AppError::QueryError { message, .. } => message.clone(),
            other => {
                tracing::error!(error = %opsdesk_app::error_chain(other), "page failed");
                l.t("error.internal").to_owned()
            }
        };
        let page = ErrorPage {
            c: Chrome::anonymous(l.t("error.title")),
            message,
        };
        (status, render(&page)).into_response()
    }
}

/// Renders a template as an HTML response.
pub(crate) fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// The signed-in user of a page request (browser session only). Without a valid session the
/// browser is sent to the sign-in page.
pub(crate) struct WebUser(pub Principal);

impl<S> FromRequestParts<S> for WebUser
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state).app;
        let secret = cookie(&parts.headers, SESSION_COOKIE).ok_or(WebError::SignIn)?;
        Ok(WebUser(app.authenticate_session(&secret).await?))
    }
}

/// A submitted HTML form from a signed-in user whose `csrf_token` field matched the
/// session's token. Fields keep their order and repeats (checkbox lists).
pub(crate) struct SignedForm {
    pub principal: Principal,
    pub fields: Vec<(String, String)>,
    /// Files chosen in the form's file inputs (a `multipart/form-data` form).
    pub files: Vec<UploadedFile>,
}

/// A file sent with a form.
pub(crate) struct UploadedFile {
    pub filename: String,
    pub content_type: Option<String>,
    pub content: Vec<u8>,
}

impl SignedForm {
    /// The first value of field `name`, trimmed; empty when absent.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.trim())
    }

    /// `Some(value)` when the field was sent non-empty.
    pub(crate) fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// Field `name` as a number (an id), or a mistake naming the field.
    pub(crate) fn number(&self, name: &str) -> Result<i64, AppError> {
        self.get(name)
            .parse()
            .map_err(|_| AppError::invalid(name.to_owned(), "must be a number"))
    }

    /// What the form sent but its CSRF token, trimmed: kept to show the form again.
    pub(crate) fn sent<C: FromIterator<(String, String)>>(&self) -> C {
        self.fields
            .iter()
            .filter(|(key, _)| key != "csrf_token")
            .map(|(key, value)| (key.clone(), value.trim().to_owned()))
            .collect()
    }

    /// Every non-empty value of field `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(key, value)| key == name && !value.trim().is_empty())
            .map(|(_, value)| value.trim().to_owned())
            .collect()
    }
}

impl<S> FromRequest<S> for SignedForm
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = WebError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let WebUser(principal) = WebUser::from_request_parts(&mut parts, state).await?;
        let multipart = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("multipart/form-data"));
        let request = Request::from_parts(parts, body);
        let (fields, files) = if multipart {
            multipart_fields(request, state).await?
        } else {
            let axum::Form(fields) =
                axum::Form::<Vec<(String, String)>>::from_request(request, state)
                    .await
                    .map_err(|rejection| AppError::invalid("form", rejection.body_text()))?;
            (fields, Vec::new())
        };
        let form = SignedForm {
            principal,
            fields,
            files,
        };
        let expected = match &form.principal.via {
            Via::Session { csrf_token, .. } => csrf_token.as_str(),
            _ => "",
        };
        if expected.is_empty()
            || !crate::extract::constant_time_eq(
                form.get("csrf_token").as_bytes(),
                expected.as_bytes(),
            )
        {
            return Err(WebError::App(AppError::Forbidden(
                "the form's CSRF token is missing or stale".into(),
            )));
        }
        Ok(form)
    }
}

/// The text fields and the chosen files of a `multipart/form-data` form. A file input left
/// empty sends a part with no file name and no bytes: it is no file.
async fn multipart_fields<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<(Vec<(String, String)>, Vec<UploadedFile>), WebError> {
    let bad = |error: axum::extract::multipart::MultipartError| {
        WebError::App(AppError::invalid("form", error.body_text()))
    };
    let mut multipart = axum::extract::Multipart::from_request(request, state)
        .await
        .map_err(|rejection| AppError::invalid("form", rejection.body_text()))?;
    let (mut fields, mut files) = (Vec::new(), Vec::new());
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(str::to_owned) {
            Some(filename) => {
                let content_type = field.content_type().map(str::to_owned);
                let content = field.bytes().await.map_err(bad)?.to_vec();
                if !filename.is_empty() && !content.is_empty() {
                    files.push(UploadedFile {
                        filename,
                        content_type,
                        content,
                    });
                }
            }
            None => fields.push((name, field.text().await.map_err(bad)?)),
        }
    }
    Ok((fields, files))
}

/// Files the uploads of a form with the message they came with, as public as the message.
pub(crate) async fn attach_uploads(
    state: &AppState,
    form: &SignedForm,
    number: &str,
    comment: &opsdesk_app::tickets::Comment,
) -> Result<(), AppError> {
    for file in &form.files {
        state
            .app
            .add_attachment(
                &form.principal,
                number,
                &file.filename,
                file.content_type.as_deref(),
                file.content.clone(),
                comment.public,
                Some(comment.id),
            )
            .await?;
    }
    Ok(())
}

async fn home(user: Result<WebUser, WebError>) -> Redirect {
    match user {
        Ok(WebUser(p)) if p.role.is_staff() => Redirect::to("/tickets"),
        Ok(_) => Redirect::to("/portal"),
        Err(_) => Redirect::to("/login"),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    email: String,
    /// The identity providers' "Sign in with …" buttons.
    providers: Vec<opsdesk_app::oidc::SignInButton>,
}

/// Cookie holding the sign-in form's token. There is no session yet, so the form's token is
/// checked against this cookie instead (double submit): another site can neither read it
/// nor make the browser send it (SameSite=Strict), so it cannot sign people in as someone else.
const LOGIN_COOKIE: &str = "opsdesk_login";

/// A fresh sign-in form token and the cookie that carries it.
pub(super) fn login_token(state: &AppState) -> (String, String) {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    );
    (token, cookie)
}

/// Whether a sign-in form's token matches its cookie.
pub(super) fn login_token_matches(headers: &axum::http::HeaderMap, sent: &str) -> bool {
    let expected = cookie(headers, LOGIN_COOKIE).unwrap_or_default();
    !expected.is_empty() && crate::extract::constant_time_eq(sent.as_bytes(), expected.as_bytes())
}

/// The sign-in page with a fresh form token, in the page and in its cookie.
async fn login_form(
    state: &AppState,
    status: StatusCode,
    email: String,
    notice: Option<&str>,
) -> Response {
    let (token, cookie) = login_token(state);
    let mut c = Chrome::anonymous(Lang.t("login.title"));
    c.csrf = token;
    c.notice = notice.map(str::to_owned);
    let providers = state.app.sign_in_buttons().await;
    (
        status,
        [(header::SET_COOKIE, cookie)],
        render(&LoginPage {
            c,
            email,
            providers,
        }),
    )
        .into_response()
}

async fn login_page(State(state): State<AppState>) -> Response {
    login_form(&state, StatusCode::OK, String::new(), None).await
}

#[derive(serde::Deserialize)]
struct Credentials {
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
    /// Set by the single sign-on button: find the address's provider instead.
    #[serde(default)]
    sso: String,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    axum::Form(credentials): axum::Form<Credentials>,
) -> Response {
    if !login_token_matches(&headers, &credentials.csrf_token) {
        return login_form(
            &state,
            StatusCode::FORBIDDEN,
            credentials.email,
            Some(Lang.t("login.expired")),
        )
        .await;
    }
    if !credentials.sso.is_empty() || credentials.password.is_empty() {
        return oidc::home_realm(&state, credentials.email).await;
    }
    let client = crate::api::client_info(client, &headers);
    match state
        .app
        .login(&credentials.email, &credentials.password, &client)
        .await
    {
        Ok(SignIn::Session(session)) => signed_in(&state, &session),
        Ok(SignIn::SecondFactor { challenge }) => account::ask_second_factor(&state, &challenge),
        Err(error) => {
            let (status, notice) = match error {
                AppError::RateLimited { .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, Lang.t("error.rate_limited"))
                }
                _ => (StatusCode::UNAUTHORIZED, Lang.t("login.failed")),
            };
            login_form(&state, status, credentials.email, Some(notice)).await
        }
    }
}

/// Sets the new session's cookie and goes to the signed-in home page. Every way of
/// signing in on the web ends here.
pub(crate) fn signed_in(state: &AppState, session: &Session) -> Response {
    let max_age = state.app.config().session_ttl_secs;
    let cookie = session_cookie(state, &session.secret, max_age);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// The session cookie: HttpOnly, SameSite=Lax, and Secure when served over HTTPS.
fn session_cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// Signing out is a form post with the CSRF token, so another site cannot sign people out.
async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    _form: SignedForm,
) -> Result<Response, WebError> {
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        state.app.logout(&secret).await?;
    }
    Ok((
        [(header::SET_COOKIE, session_cookie(&state, "", 0))],
        Redirect::to("/login"),
    )
        .into_response())
}

const STYLESHEET: &str = include_str!("../../static/app.css");
const SCRIPT: &str = include_str!("../../static/app.js");

/// Our own stylesheet and script, compiled into the binary.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return WebError::App(AppError::NotFound("file")).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}
