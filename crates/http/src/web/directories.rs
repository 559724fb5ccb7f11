//! Directory pages: the admins' list of LDAP and Active Directory directories, each one's
//! settings with "Test connection", "Dry run" (the lists of what would change) and "Sync
//! now", and the portal's public self-service password reset and unlock, with the pages a
//! manager approves a reset on and the person then finishes it on.

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::ldap::reset::{ApprovalRequest, ResetDone, ResetKind, ResetProof};
use opsdesk_app::ldap::sync::SyncReport;
use opsdesk_app::ldap::{ConnectionCheck, Directory, DirectoryInput, GroupMapping, RoleRule};
use opsdesk_app::{AppError, FieldError, Precondition};

use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/directories", get(list).post(create))
        .route("/admin/directories/{id}", get(show).post(save))
        .route("/admin/directories/{id}/check", post(check))
        .route("/admin/directories/{id}/sync", post(sync))
        .route("/admin/directories/{id}/delete", post(delete))
        .route("/portal/password", get(reset_page).post(start_reset))
        .route(
            "/portal/password/{handle}",
            get(code_page).post(finish_reset),
        )
        .route(
            "/portal/password/approval/{token}",
            get(approval_page).post(decide),
        )
        .route(
            "/portal/password/approved/{link}",
            get(approved_page).post(finish_approved),
        )
}

/// What the directory form shows: the values typed (or stored) and the mistakes.
pub(super) struct DirectoryForm {
    pub values: Vec<(String, String)>,
    pub errors: Vec<FieldError>,
}

impl DirectoryForm {
    fn of(directory: &Directory) -> Self {
        let pairs = |items: Vec<(String, String)>| {
            items
                .into_iter()
                .map(|(a, b)| format!("{a} => {b}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let values = vec![
            ("name", directory.name.clone()),
            ("kind", directory.kind.clone()),
            ("url", directory.url.clone()),
            (
                "starttls",
                if directory.starttls { "1" } else { "" }.to_owned(),
            ),
            ("ca_pem", text(&directory.ca_pem)),
            ("bind_dn", directory.bind_dn.clone()),
            ("user_base", directory.user_base.clone()),
            ("user_filter", directory.user_filter.clone()),
            ("login_attribute", directory.login_attribute.clone()),
            ("mail_attribute", directory.mail_attribute.clone()),
            ("name_attribute", directory.name_attribute.clone()),
            ("recovery_attribute", text(&directory.recovery_attribute)),
            ("disabled_detection", directory.disabled_detection.clone()),
            ("enabled_filter", text(&directory.enabled_filter)),
            ("group_base", text(&directory.group_base)),
            ("group_filter", directory.group_filter.clone()),
            ("member_attribute", directory.member_attribute.clone()),
            (
                "group_mappings",
                pairs(
                    directory
                        .group_mappings
                        .iter()
                        .map(|m| (m.group.clone(), m.support_group.clone()))
                        .collect(),
                ),
            ),
            (
                "role_rules",
                pairs(
                    directory
                        .role_rules
                        .iter()
                        .map(|r| (r.group.clone(), r.role.clone()))
                        .collect(),
                ),
            ),
            ("default_role", directory.default_role.clone()),
            (
                "allow_signup",
                if directory.allow_signup { "1" } else { "" }.to_owned(),
            ),
            (
                "sync_interval_minutes",
                directory.sync_interval_minutes.to_string(),
            ),
            ("active", if directory.active { "1" } else { "" }.to_owned()),
            (
                "organization_id",
                directory
                    .organization_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
            ),
        ];
        Self {
            values: values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            errors: Vec::new(),
        }
    }

    fn empty() -> Self {
        Self {
            values: vec![
                ("sync_interval_minutes".to_owned(), "60".to_owned()),
                ("active".to_owned(), "1".to_owned()),
            ],
            errors: Vec::new(),
        }
    }

    pub(super) fn value(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub(super) fn checked(&self, name: &str) -> bool {
        !self.value(name).is_empty()
    }

    pub(super) fn error(&self, field: &str) -> Option<String> {
        let messages: Vec<&str> = self
            .errors
            .iter()
            .filter(|e| e.field == field || e.field.starts_with(&format!("{field}[")))
            .map(|e| e.message.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    }
}

/// `group => value` lines.
fn pairs_of(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (group, value) = line.split_once("=>")?;
            Some((group.trim().to_owned(), value.trim().to_owned()))
        })
        .filter(|(group, value)| !group.is_empty() && !value.is_empty())
        .collect()
}

/// The settings a form sent, as the API takes them. The service account's password is
/// changed only when typed.
fn input_of(form: &SignedForm, creating: bool) -> DirectoryInput {
    let optional = |name: &str| Some(form.opt(name));
    DirectoryInput {
        organization_id: Some(form.get("organization_id").parse().ok()),
        name: Some(form.get("name").to_owned()),
        kind: creating
            .then(|| form.get("kind").to_owned())
            .filter(|k| !k.is_empty()),
        url: Some(form.get("url").to_owned()),
        starttls: Some(form.get("starttls") == "1"),
        ca_pem: optional("ca_pem"),
        bind_dn: Some(form.get("bind_dn").to_owned()),
        bind_password: form
            .opt("bind_password")
            .or_else(|| creating.then(String::new)),
        user_base: Some(form.get("user_base").to_owned()),
        user_filter: form.opt("user_filter"),
        login_attribute: form.opt("login_attribute"),
        mail_attribute: form.opt("mail_attribute"),
        name_attribute: form.opt("name_attribute"),
        recovery_attribute: optional("recovery_attribute"),
        manager_attribute: None,
        disabled_detection: form.opt("disabled_detection"),
        enabled_filter: optional("enabled_filter"),
        group_base: optional("group_base"),
        group_filter: form.opt("group_filter"),
        member_attribute: form.opt("member_attribute"),
        group_mappings: Some(
            pairs_of(form.get("group_mappings"))
                .into_iter()
                .map(|(group, support_group)| GroupMapping {
                    group,
                    support_group,
                })
                .collect(),
        ),
        role_rules: Some(
            pairs_of(form.get("role_rules"))
                .into_iter()
                .map(|(group, role)| RoleRule { group, role })
                .collect(),
        ),
        default_role: form.opt("default_role"),
        allow_signup: Some(form.get("allow_signup") == "1"),
        sync_interval_minutes: Some(form.get("sync_interval_minutes").parse().unwrap_or(-1)),
        active: Some(form.get("active") == "1"),
    }
}

#[derive(Template)]
#[template(path = "directories.html")]
struct ListPage {
    c: Chrome,
    directories: Vec<Directory>,
    form: DirectoryForm,
}

/// What the directory page shows below its settings after an action.
pub(super) enum Outcome {
    None,
    Check(ConnectionCheck),
    Sync(Box<SyncReport>),
}

#[derive(Template)]
#[template(path = "directory.html")]
struct DirectoryPage {
    c: Chrome,
    directory: Directory,
    form: DirectoryForm,
    outcome: Outcome,
}

async fn list(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    let directories = state.app.directories(&principal).await?;
    Ok(render(&ListPage {
        c: Chrome::new(&principal, Lang.t("ldap.title")),
        directories,
        form: DirectoryForm::empty(),
    }))
}

async fn create(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    match state
        .app
        .create_directory(&form.principal, input_of(&form, true))
        .await
    {
        Ok(directory) => {
            Ok(Redirect::to(&format!("/admin/directories/{}", directory.id)).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            let directories = state.app.directories(&form.principal).await?;
            let page = ListPage {
                c: Chrome::new(&form.principal, Lang.t("ldap.title")),
                directories,
                form: DirectoryForm {
                    values: form.sent(),
                    errors,
                },
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

fn directory_page(
    principal: &opsdesk_app::Principal,
    directory: Directory,
    form: DirectoryForm,
    outcome: Outcome,
) -> Response {
    let c = Chrome::new(principal, directory.name.clone());
    render(&DirectoryPage {
        c,
        directory,
        form,
        outcome,
    })
}

async fn show(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let directory = state.app.directory(&principal, id).await?;
    let form = DirectoryForm::of(&directory);
    Ok(directory_page(&principal, directory, form, Outcome::None))
}

async fn save(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let version = form.get("version").parse().ok();
    let result = state
        .app
        .update_directory(
            &form.principal,
            id,
            Precondition::from(version),
            input_of(&form, false),
        )
        .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/admin/directories/{id}")).into_response()),
        Err(AppError::Invalid(errors)) => {
            let directory = state.app.directory(&form.principal, id).await?;
            let sent = DirectoryForm {
                values: form.sent(),
                errors,
            };
            let page = directory_page(&form.principal, directory, sent, Outcome::None);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

async fn check(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let checked = state.app.check_directory(&form.principal, id).await?;
    let directory = state.app.directory(&form.principal, id).await?;
    let settings = DirectoryForm::of(&directory);
    Ok(directory_page(
        &form.principal,
        directory,
        settings,
        Outcome::Check(checked),
    ))
}

async fn sync(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let dry_run = form.get("dry_run") == "1";
    let report = state
        .app
        .sync_directory(&form.principal, id, dry_run, &())
        .await?;
    let directory = state.app.directory(&form.principal, id).await?;
    let settings = DirectoryForm::of(&directory);
    Ok(directory_page(
        &form.principal,
        directory,
        settings,
        Outcome::Sync(Box::new(report)),
    ))
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.delete_directory(&form.principal, id).await?;
    Ok(Redirect::to("/admin/directories"))
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage {
    c: Chrome,
    /// The page to enter the code on, once a reset was asked for.
    handle: Option<String>,
    /// The page to finish on with the link mailed once a manager approved.
    link: Option<String>,
    kind: String,
    proof: String,
    login: String,
    /// The manager was asked (if the desk knows the account and its manager).
    asked_manager: bool,
    /// What went wrong, by field (`login`, `code`, `link`, `password`).
    error: Option<FieldError>,
    /// The service request the completed reset was recorded as.
    done: Option<String>,
}

impl ResetPage {
    fn new(handle: Option<String>) -> Self {
        Self {
            c: Chrome::anonymous(Lang.t("ldap.reset.title")),
            handle,
            link: None,
            kind: ResetKind::Reset.as_str().to_owned(),
            proof: ResetProof::Code.as_str().to_owned(),
            login: String::new(),
            asked_manager: false,
            error: None,
            done: None,
        }
    }

    fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

/// A refusal as the reset page shows it, beside the field at fault.
fn page_error(error: AppError) -> Result<(StatusCode, FieldError), WebError> {
    match error {
        AppError::Invalid(mut errors) if !errors.is_empty() => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, errors.remove(0)))
        }
        AppError::RateLimited { .. } => Ok((
            StatusCode::TOO_MANY_REQUESTS,
            FieldError::new("login", Lang.t("error.rate_limited")),
        )),
        other => Err(other.into()),
    }
}

async fn reset_page() -> Response {
    render(&ResetPage::new(None))
}

async fn start_reset(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let kind = field("kind").parse().unwrap_or(ResetKind::Reset);
    let proof = field("proof").parse().unwrap_or(ResetProof::Code);
    let login = field("login");
    match state
        .app
        .start_password_reset(&login, kind, proof, client.ip())
        .await
    {
        Ok(handle) => Ok(match proof {
            ResetProof::Code => Redirect::to(&format!("/portal/password/{handle}")).into_response(),
            // No code to enter: the link to finish with comes by mail once approved.
            ResetProof::Manager => {
                let mut page = ResetPage::new(None);
                page.asked_manager = true;
                render(&page)
            }
        }),
        Err(error) => {
            let (status, error) = page_error(error)?;
            let mut page = ResetPage::new(None);
            page.login = login;
            page.kind = kind.as_str().to_owned();
            page.proof = proof.as_str().to_owned();
            page.error = Some(error);
            Ok((status, render(&page)).into_response())
        }
    }
}

async fn code_page(Path(handle): Path<String>) -> Response {
    render(&ResetPage::new(Some(handle)))
}

/// The code and the new password. No session or CSRF token: the page's secret address is
/// the credential, and another site cannot know it.
async fn finish_reset(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(handle): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let page = ResetPage::new(Some(handle.clone()));
    let code = fields
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    finish_with(page, &fields, |password| async move {
        state
            .app
            .finish_password_reset(&handle, &code, password.as_deref(), client.ip())
            .await
    })
    .await
}

/// The new password on `page`, from `fields`, handed to `finish`: the code's page and the
/// approved link's answer alike.
async fn finish_with<F, Fut>(
    mut page: ResetPage,
    fields: &[(String, String)],
    finish: F,
) -> Result<Response, WebError>
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: Future<Output = Result<ResetDone, AppError>>,
{
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let password = field("password");
    if password != field("confirm") {
        page.error = Some(FieldError::new("password", Lang.t("ldap.reset.mismatch")));
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response());
    }
    match finish(Some(password).filter(|p| !p.is_empty())).await {
        Ok(done) => {
            page.done = Some(done.ticket);
            page.kind = done.kind.as_str().to_owned();
            Ok(render(&page))
        }
        Err(error) => {
            let (status, error) = page_error(error)?;
            page.error = Some(error);
            Ok((status, render(&page)).into_response())
        }
    }
}

fn approved_link_page(link: String) -> ResetPage {
    let mut page = ResetPage::new(None);
    page.link = Some(link);
    page
}

/// The page the link mailed after a manager's approval opens: the new password, as on the
/// code's page but without a code. Its secret address is the credential.
async fn approved_page(Path(link): Path<String>) -> Response {
    render(&approved_link_page(link))
}

async fn finish_approved(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(link): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let page = approved_link_page(link.clone());
    finish_with(page, &fields, |password| async move {
        state
            .app
            .finish_approved_reset(&link, password.as_deref(), client.ip())
            .await
    })
    .await
}

#[derive(Template)]
#[template(path = "password_approval.html")]
struct ApprovalPage {
    c: Chrome,
    token: String,
    /// The decision the mailed link offered: `approve` or `deny`.
    decision: String,
    request: Option<ApprovalRequest>,
    /// The decision just made.
    decided: Option<String>,
}

#[derive(serde::Deserialize)]
struct DecisionQuery {
    decision: Option<String>,
}

fn decision_of(text: &str) -> &'static str {
    if text == "deny" { "deny" } else { "approve" }
}

impl ApprovalPage {
    /// What the reset asks for, as its manager reads it.
    fn asks(&self) -> &'static str {
        match self.request.as_ref().map(|r| r.kind) {
            Some(ResetKind::Unlock) => Lang.t("ldap.reset.approval.kind.unlock"),
            _ => Lang.t("ldap.reset.approval.kind.reset"),
        }
    }
}

/// The request a manager's mailed link is for, with the button for the decision the link
/// offered. Only the manager it was sent to, signed in, sees it: a mail read by someone else
/// is not enough to decide.
async fn approval_page(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(token): Path<String>,
    Query(query): Query<DecisionQuery>,
) -> Result<Response, WebError> {
    let request = state
        .app
        .password_reset_approval(&principal, &token)
        .await?;
    Ok(render(&ApprovalPage {
        c: Chrome::new(&principal, Lang.t("ldap.reset.approval.title")),
        token,
        decision: decision_of(query.decision.as_deref().unwrap_or_default()).to_owned(),
        request: Some(request),
        decided: None,
    }))
}

async fn decide(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let decision = decision_of(form.get("decision"));
    state
        .app
        .decide_password_reset(&form.principal, &token, decision == "approve", client.ip())
        .await?;
    Ok(render(&ApprovalPage {
        c: Chrome::new(&form.principal, Lang.t("ldap.reset.approval.title")),
        token,
        decision: decision.to_owned(),
        request: None,
        decided: Some(decision.to_owned()),
    }))
}
