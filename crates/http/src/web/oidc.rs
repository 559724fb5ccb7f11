//! Signing in through OpenID Connect providers: the redirect to a provider, its answer at
//! the one callback, the sign-in form's home-realm discovery (an address whose domain has a
//! provider goes there), and the admins' provider pages.

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::oidc::{
    CALLBACK_PATH, Callback, IdentityProvider, IdentityProviderPatch, NewIdentityProvider,
    SignInRefused, Trouble,
};
use opsdesk_app::{AppError, FieldError, Principal};
use opsdesk_domain::account::Role;
use opsdesk_domain::oidc::{GroupMapping, RoleRule};
use serde::Deserialize;

use super::{Chrome, Lang, SignedForm, WebError, WebUser, login_form, render, signed_in};
use crate::AppState;
use crate::api::absolute_url;
use crate::extract::cookie;

/// Cookie binding a sign-in under way to the browser that started it: its `state`.
const STATE_COOKIE: &str = "opsdesk_oidc";
/// The providers an admin page lists at most.
const MOST_PROVIDERS: i64 = 500;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(CALLBACK_PATH, get(callback))
        .route("/login/oidc/{id}", get(start))
        .route(
            "/admin/identity-providers",
            get(list_page).post(create_provider),
        )
        .route(
            "/admin/identity-providers/{id}",
            get(edit_page).post(update_provider),
        )
        .route(
            "/admin/identity-providers/{id}/delete",
            post(delete_provider),
        )
}

/// The state cookie: sent back on the provider's redirect (a top-level navigation, so
/// `SameSite=Lax` lets it through), readable by no script.
fn state_cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{STATE_COOKIE}={value}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    )
}

/// opsdesk's address as the browser reached it: the redirect URI is built on it, and
/// must be registered at the provider as such.
fn origin(headers: &HeaderMap) -> String {
    absolute_url("", headers).unwrap_or_default()
}

/// The sign-in page with a message saying why signing in through a provider failed.
async fn refused_page(state: &AppState, refused: &SignInRefused) -> Response {
    let key = match refused.trouble {
        Trouble::UnknownState | Trouble::Expired | Trouble::OtherBrowser => "oidc.refused.state",
        Trouble::ProviderError => "oidc.refused.provider",
        Trouble::NoProvider => "oidc.refused.no_provider",
        Trouble::Unreachable | Trouble::CodeRefused => "oidc.refused.unreachable",
        Trouble::NoIdToken
        | Trouble::Signature
        | Trouble::Audience
        | Trouble::Issuer
        | Trouble::Nonce
        | Trouble::InvalidToken => "oidc.refused.token",
        Trouble::TokenExpired => "oidc.refused.expired",
        Trouble::RateLimited => "error.rate_limited",
        Trouble::Account(refusal) => match refusal.code() {
            "email_not_verified" => "oidc.refused.email_not_verified",
            "signup_closed" => "oidc.refused.signup_closed",
            "no_role" => "oidc.refused.no_role",
            "deactivated" | "no_email" => "oidc.refused.account",
            _ => "oidc.refused.other_account",
        },
        Trouble::Internal => "error.internal",
    };
    let status = match refused.trouble {
        Trouble::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        Trouble::Unreachable => StatusCode::BAD_GATEWAY,
        Trouble::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Trouble::NoProvider => StatusCode::NOT_FOUND,
        _ => StatusCode::UNAUTHORIZED,
    };
    let mut response = login_form(state, status, String::new(), Some(Lang.t(key))).await;
    if let Ok(value) = state_cookie(state, "", 0).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Debug, Default, Deserialize)]
struct StartQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
}

/// Sends the browser to provider `id`, remembering the sign-in's state in a cookie.
async fn start(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    Query(query): Query<StartQuery>,
    headers: HeaderMap,
) -> Response {
    match state
        .app
        .begin_oidc_sign_in(
            id,
            &origin(&headers),
            query.return_to.as_deref(),
            query.login_hint.as_deref(),
            client.ip(),
        )
        .await
    {
        Ok(redirect) => (
            [(
                header::SET_COOKIE,
                state_cookie(&state, &redirect.state, 600),
            )],
            Redirect::to(&redirect.url),
        )
            .into_response(),
        Err(refused) => refused_page(&state, &refused).await,
    }
}

#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider's answer: signed in (with the session cookie, as the password form sets
/// it) and on to where the person was going, or back to the sign-in page saying why not.
async fn callback(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Response {
    let client_info = crate::api::client_info(client, &headers);
    let answer = Callback {
        code: query.code,
        state: query.state,
        error: query.error,
        error_description: query.error_description,
        browser_state: cookie(&headers, STATE_COOKIE),
    };
    match state.app.finish_oidc_sign_in(answer, &client_info).await {
        Ok(done) => {
            let mut response = signed_in(&state, &done.session);
            let headers = response.headers_mut();
            if done.return_to != "/"
                && let Ok(location) = done.return_to.parse()
            {
                headers.insert(header::LOCATION, location);
            }
            if let Ok(value) = state_cookie(&state, "", 0).parse() {
                headers.append(header::SET_COOKIE, value);
            }
            response
        }
        Err(refused) => refused_page(&state, &refused).await,
    }
}

#[derive(Template)]
#[template(path = "oidc_continue.html")]
struct ContinuePage {
    c: Chrome,
    label: String,
    url: String,
}

/// Home-realm discovery from the sign-in form: an address whose domain has a provider goes
/// to it; any other is told to use a password. The way on is a page that moves on by
/// itself, not a redirect: the form may only post to opsdesk (`form-action 'self'`), and a
/// browser holds the redirects that follow a form to the same rule.
pub(super) async fn home_realm(state: &AppState, email: String) -> Response {
    match state.app.provider_for_address(&email).await {
        Ok(Some(provider)) => {
            let hint: String = form_urlencoded::byte_serialize(email.trim().as_bytes()).collect();
            render(&ContinuePage {
                c: Chrome::anonymous(Lang.t("login.title")),
                url: format!("/login/oidc/{}?login_hint={hint}", provider.id),
                label: Lang
                    .t("oidc.sign_in_with")
                    .replace("{label}", &provider.label),
            })
        }
        Ok(None) => {
            login_form(
                state,
                StatusCode::UNAUTHORIZED,
                email,
                Some(Lang.t("oidc.no_provider_for_address")),
            )
            .await
        }
        Err(error) => WebError::App(error).into_response(),
    }
}

/// The provider form: a provider's settings, or what was typed with what is wrong with it.
pub(super) struct ProviderForm {
    pub id: Option<i64>,
    pub version: i64,
    pub organization_id: Option<i64>,
    pub name: String,
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    pub has_client_secret: bool,
    pub scopes: String,
    pub email_claim: String,
    pub name_claim: String,
    pub groups_claim: String,
    /// One `group = role` per line.
    pub role_rules: String,
    pub default_role: String,
    /// One `group = support group name` per line.
    pub group_mappings: String,
    pub allow_signup: bool,
    pub require_verified_email: bool,
    pub email_domains: String,
    pub active: bool,
    pub errors: Vec<FieldError>,
}

impl Default for ProviderForm {
    fn default() -> Self {
        Self {
            id: None,
            version: 0,
            organization_id: None,
            name: String::new(),
            label: String::new(),
            issuer: String::new(),
            client_id: String::new(),
            has_client_secret: false,
            scopes: "email profile".into(),
            email_claim: "email".into(),
            name_claim: "name".into(),
            groups_claim: "groups".into(),
            role_rules: String::new(),
            default_role: String::new(),
            group_mappings: String::new(),
            allow_signup: false,
            require_verified_email: true,
            email_domains: String::new(),
            active: true,
            errors: Vec::new(),
        }
    }
}

impl ProviderForm {
    fn of(provider: &IdentityProvider, groups: &[(i64, String)]) -> Self {
        let group_name = |id: i64| {
            groups
                .iter()
                .find(|(g, _)| *g == id)
                .map_or_else(|| id.to_string(), |(_, name)| name.clone())
        };
        Self {
            id: Some(provider.id),
            version: provider.version,
            organization_id: provider.organization_id,
            name: provider.name.clone(),
            label: provider.label.clone(),
            issuer: provider.issuer.clone(),
            client_id: provider.client_id.clone(),
            has_client_secret: provider.has_client_secret,
            scopes: provider.scopes.join(" "),
            email_claim: provider.email_claim.clone(),
            name_claim: provider.name_claim.clone(),
            groups_claim: provider.groups_claim.clone(),
            role_rules: provider
                .role_rules
                .iter()
                .map(|r| format!("{} = {}", r.group, r.role.as_str()))
                .collect::<Vec<_>>()
                .join("\n"),
            default_role: provider
                .default_role
                .map(|r| r.as_str().to_owned())
                .unwrap_or_default(),
            group_mappings: provider
                .group_mappings
                .iter()
                .map(|m| format!("{} = {}", m.group, group_name(m.support_group_id)))
                .collect::<Vec<_>>()
                .join("\n"),
            allow_signup: provider.allow_signup,
            require_verified_email: provider.require_verified_email,
            email_domains: provider.email_domains.join(", "),
            active: provider.active,
            errors: Vec::new(),
        }
    }

    /// What the submitted form says; lines that cannot be read become mistakes.
    fn typed(form: &SignedForm, groups: &[(i64, String)]) -> Self {
        let mut errors = Vec::new();
        let parsed = Self {
            id: None,
            version: form.get("version").parse().unwrap_or(0),
            organization_id: form.get("organization_id").parse().ok(),
            name: form.get("name").to_owned(),
            label: form.get("label").to_owned(),
            issuer: form.get("issuer").to_owned(),
            client_id: form.get("client_id").to_owned(),
            has_client_secret: false,
            scopes: form.get("scopes").to_owned(),
            email_claim: form.get("email_claim").to_owned(),
            name_claim: form.get("name_claim").to_owned(),
            groups_claim: form.get("groups_claim").to_owned(),
            role_rules: form.get("role_rules").to_owned(),
            default_role: form.get("default_role").to_owned(),
            group_mappings: form.get("group_mappings").to_owned(),
            allow_signup: form.get("allow_signup") == "on",
            require_verified_email: form.get("require_verified_email") == "on",
            email_domains: form.get("email_domains").to_owned(),
            active: form.get("active") == "on",
            errors: Vec::new(),
        };
        // Checked here so that a mistake shows next to the field, before saving.
        let _ = parsed.rules(&mut errors);
        let _ = parsed.mappings(groups, &mut errors);
        Self { errors, ..parsed }
    }

    /// `group = value` lines.
    fn pairs(text: &str) -> impl Iterator<Item = (usize, Option<(&str, &str)>)> {
        text.lines()
            .map(str::trim)
            .enumerate()
            .filter(|(_, line)| !line.is_empty())
            .map(|(index, line)| {
                (
                    index,
                    line.rsplit_once('=').map(|(g, v)| (g.trim(), v.trim())),
                )
            })
    }

    fn rules(&self, errors: &mut Vec<FieldError>) -> Vec<RoleRule> {
        let mut rules = Vec::new();
        for (index, pair) in Self::pairs(&self.role_rules) {
            match pair.and_then(|(group, role)| Some((group, role.parse::<Role>().ok()?))) {
                Some((group, role)) => rules.push(RoleRule {
                    group: group.to_owned(),
                    role,
                }),
                None => errors.push(FieldError::new(
                    "role_rules",
                    format!(
                        "{} {}: {}",
                        Lang.t("oidc.admin.line"),
                        index + 1,
                        Lang.t("oidc.admin.rule_format")
                    ),
                )),
            }
        }
        rules
    }

    fn mappings(
        &self,
        groups: &[(i64, String)],
        errors: &mut Vec<FieldError>,
    ) -> Vec<GroupMapping> {
        let mut mappings = Vec::new();
        for (index, pair) in Self::pairs(&self.group_mappings) {
            let found = pair.and_then(|(group, name)| {
                let (id, _) = groups.iter().find(|(_, n)| n.eq_ignore_ascii_case(name))?;
                Some(GroupMapping {
                    group: group.to_owned(),
                    support_group_id: *id,
                })
            });
            match found {
                Some(mapping) => mappings.push(mapping),
                None => errors.push(FieldError::new(
                    "group_mappings",
                    format!(
                        "{} {}: {}",
                        Lang.t("oidc.admin.line"),
                        index + 1,
                        Lang.t("oidc.admin.mapping_format")
                    ),
                )),
            }
        }
        mappings
    }

    fn words(text: &str) -> Vec<String> {
        text.split([' ', ',', '\n'])
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn default_role(&self) -> Option<Role> {
        self.default_role.parse().ok()
    }

    pub(super) fn is_organization(&self, id: &i64) -> bool {
        self.organization_id == Some(*id)
    }

    pub(super) fn roles(&self) -> [&'static str; 3] {
        ["customer", "agent", "admin"]
    }
}

#[derive(Template)]
#[template(path = "oidc_admin.html")]
struct ProvidersPage {
    c: Chrome,
    providers: Vec<IdentityProvider>,
    redirect_uri: String,
    organizations: Vec<(i64, String)>,
    form: ProviderForm,
}

async fn choices(
    state: &AppState,
    principal: &Principal,
) -> Result<(Vec<(i64, String)>, Vec<(i64, String)>), WebError> {
    let organizations = state
        .app
        .organizations(principal, 0, MOST_PROVIDERS)
        .await?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let groups = state
        .app
        .groups(principal)
        .await?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    Ok((organizations, groups))
}

async fn providers_page(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    form: ProviderForm,
    status: StatusCode,
) -> Result<Response, WebError> {
    let providers = state
        .app
        .identity_providers(principal, 0, MOST_PROVIDERS)
        .await?;
    let (organizations, _) = choices(state, principal).await?;
    let page = ProvidersPage {
        c: Chrome::new(principal, Lang.t("oidc.admin.title")),
        providers,
        redirect_uri: format!("{}{CALLBACK_PATH}", origin(headers)),
        organizations,
        form,
    };
    Ok((status, render(&page)).into_response())
}

async fn list_page(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    principal.require_admin()?;
    providers_page(
        &state,
        &principal,
        &headers,
        ProviderForm::default(),
        StatusCode::OK,
    )
    .await
}

/// A failed save's mistakes, or the error to show as a page.
fn mistakes(error: AppError) -> Result<Vec<FieldError>, WebError> {
    match error {
        AppError::Invalid(errors) => Ok(errors),
        AppError::Stale => Ok(vec![FieldError::new("name", Lang.t("admin.stale"))]),
        AppError::Conflict {
            field: Some(field),
            message,
        } => Ok(vec![FieldError::new(field, message)]),
        other => Err(other.into()),
    }
}

async fn create_provider(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: SignedForm,
) -> Result<Response, WebError> {
    let principal = form.principal.clone();
    principal.require_admin()?;
    let (_, groups) = choices(&state, &principal).await?;
    let mut typed = ProviderForm::typed(&form, &groups);
    if typed.errors.is_empty() {
        let mut ignored = Vec::new();
        let input = NewIdentityProvider {
            organization_id: typed.organization_id,
            name: typed.name.clone(),
            label: Some(typed.label.clone()).filter(|l| !l.is_empty()),
            issuer: typed.issuer.clone(),
            client_id: typed.client_id.clone(),
            client_secret: form.opt("client_secret"),
            scopes: Some(ProviderForm::words(&typed.scopes)),
            email_claim: Some(typed.email_claim.clone()),
            name_claim: Some(typed.name_claim.clone()),
            groups_claim: Some(typed.groups_claim.clone()),
            role_rules: typed.rules(&mut ignored),
            default_role: typed.default_role(),
            group_mappings: typed.mappings(&groups, &mut ignored),
            allow_signup: typed.allow_signup,
            require_verified_email: Some(typed.require_verified_email),
            email_domains: ProviderForm::words(&typed.email_domains),
            active: Some(typed.active),
        };
        match state.app.create_identity_provider(&principal, input).await {
            Ok(_) => return Ok(Redirect::to("/admin/identity-providers").into_response()),
            Err(error) => typed.errors = mistakes(error)?,
        }
    }
    providers_page(
        &state,
        &principal,
        &headers,
        typed,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

#[derive(Template)]
#[template(path = "oidc_provider.html")]
struct EditPage {
    c: Chrome,
    redirect_uri: String,
    organizations: Vec<(i64, String)>,
    form: ProviderForm,
}

async fn edit_form(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    form: ProviderForm,
    status: StatusCode,
) -> Result<Response, WebError> {
    let (organizations, _) = choices(state, principal).await?;
    let page = EditPage {
        c: Chrome::new(principal, form.name.clone()),
        redirect_uri: format!("{}{CALLBACK_PATH}", origin(headers)),
        organizations,
        form,
    };
    Ok((status, render(&page)).into_response())
}

async fn edit_page(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    principal.require_admin()?;
    let provider = state.app.identity_provider(&principal, id).await?;
    let (_, groups) = choices(&state, &principal).await?;
    edit_form(
        &state,
        &principal,
        &headers,
        ProviderForm::of(&provider, &groups),
        StatusCode::OK,
    )
    .await
}

async fn update_provider(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    form: SignedForm,
) -> Result<Response, WebError> {
    let principal = form.principal.clone();
    principal.require_admin()?;
    let (_, groups) = choices(&state, &principal).await?;
    let current = state.app.identity_provider(&principal, id).await?;
    let mut typed = ProviderForm {
        id: Some(id),
        has_client_secret: current.has_client_secret,
        ..ProviderForm::typed(&form, &groups)
    };
    if typed.errors.is_empty() {
        let mut ignored = Vec::new();
        let patch = IdentityProviderPatch {
            organization_id: Some(typed.organization_id),
            name: Some(typed.name.clone()),
            label: Some(typed.label.clone()),
            issuer: Some(typed.issuer.clone()),
            client_id: Some(typed.client_id.clone()),
            // Left empty, the secret stays: it is never shown, so the form cannot repeat it.
            client_secret: form.opt("client_secret"),
            scopes: Some(ProviderForm::words(&typed.scopes)),
            email_claim: Some(typed.email_claim.clone()),
            name_claim: Some(typed.name_claim.clone()),
            groups_claim: Some(typed.groups_claim.clone()),
            role_rules: Some(typed.rules(&mut ignored)),
            default_role: Some(typed.default_role()),
            group_mappings: Some(typed.mappings(&groups, &mut ignored)),
            allow_signup: Some(typed.allow_signup),
            require_verified_email: Some(typed.require_verified_email),
            email_domains: Some(ProviderForm::words(&typed.email_domains)),
            active: Some(typed.active),
        };
        let version = Some(typed.version).filter(|v| *v > 0);
        match state
            .app
            .update_identity_provider(&principal, id, version, patch)
            .await
        {
            Ok(_) => return Ok(Redirect::to("/admin/identity-providers").into_response()),
            Err(error) => typed.errors = mistakes(error)?,
        }
    }
    edit_form(
        &state,
        &principal,
        &headers,
        typed,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

async fn delete_provider(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .delete_identity_provider(&form.principal, id)
        .await?;
    Ok(Redirect::to("/admin/identity-providers"))
}
