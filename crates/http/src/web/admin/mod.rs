//! Admin pages: users, organizations, groups and tiers, categories with the portal's
//! diagnostic questions, custom fields, API tokens, mail templates, the mail quarantine,
//! automation rules, runbook script approvals, background jobs, backups and the audit log.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::collections::BTreeMap;

use opsdesk_app::accounts::{
    NewOrganization, NewUserInput, Organization, OrganizationPatch, OrganizationRef, User,
    UserPatch,
};
use opsdesk_app::alerts::{
    Alert, AlertFilter, Integration, IntegrationPatch, NewIntegration, OpenAfter,
};
use opsdesk_app::audit::AuditEntry;
use opsdesk_app::auth::ApiToken;
use opsdesk_app::backups::BackupStatus;
use opsdesk_app::jobs::Job;
use opsdesk_app::mail::{
    MailRecord, MailTemplate, PLACEHOLDERS, PreviewRequest, RenderedMail, TemplateSource,
    TemplateText,
};
use opsdesk_app::portal::{CategoryQuestion, NewCategoryQuestion};
use opsdesk_app::tickets::{Category, Group, GroupMember, NewCategory, NewCustomField, NewGroup};
use opsdesk_app::webhooks::{NewWebhook, Webhook};
use opsdesk_app::{AppError, FieldError, Precondition, Principal};
use opsdesk_domain::ticket::{Impact, Priority, Urgency};
use serde::Deserialize;

mod import;
mod integrations;
mod operations;
mod organizations;
mod provisioning;
mod rules;
mod scripts;
mod triage;

use import::ImportPage;
use integrations::{
    IntegrationsPage, create_integration, delete_integration, integrations, simulate_integration,
    update_integration,
};
use operations::{
    backups, create_webhook, delete_webhook, discard, jobs, quarantine, reprocess, retry_job,
    webhooks,
};
use organizations::{OrganizationForm, edit_organization, update_organization};
use rules::RulesPage;
use scripts::ScriptLine;
use triage::TriagePage;

use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/users") }))
        .route("/admin/users", get(users).post(create_user))
        .route(
            "/admin/provisioning",
            get(provisioning::provisioning).post(provisioning::create_client),
        )
        .route(
            "/admin/provisioning/{id}/revoke",
            post(provisioning::revoke_client),
        )
        .route("/admin/users/{id}", get(edit_user).post(update_user))
        .route(
            "/admin/organizations",
            get(organizations).post(create_organization),
        )
        .route(
            "/admin/organizations/{id}",
            get(edit_organization).post(update_organization),
        )
        .route("/admin/groups", get(groups).post(create_group))
        .route("/admin/groups/{id}/members", post(add_group_member))
        .route(
            "/admin/groups/{id}/members/{user}/remove",
            post(remove_group_member),
        )
        .route("/admin/categories", get(categories).post(create_category))
        .route("/admin/categories/questions", post(create_question))
        .route(
            "/admin/categories/questions/{id}/delete",
            post(delete_question),
        )
        .route("/admin/fields", get(fields).post(create_field))
        .route("/admin/tokens", get(tokens).post(create_token))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
        .route("/admin/mail", get(mail_templates))
        .route(
            "/admin/mail/{notice}",
            get(edit_mail_template).post(save_mail_template),
        )
        .route("/admin/mail/{notice}/preview", post(preview_mail_template))
        .route("/admin/mail/{notice}/revert", post(revert_mail_template))
        .route("/admin/audit", get(audit))
        .route("/admin/quarantine", get(quarantine))
        .route("/admin/quarantine/{id}/reprocess", post(reprocess))
        .route("/admin/quarantine/{id}/discard", post(discard))
        .route("/admin/webhooks", get(webhooks).post(create_webhook))
        .route("/admin/webhooks/{id}/delete", post(delete_webhook))
        .route("/admin/jobs", get(jobs))
        .route("/admin/backups", get(backups))
        .route("/admin/jobs/{id}/retry", post(retry_job))
        .route(
            "/admin/integrations",
            get(integrations).post(create_integration),
        )
        .route("/admin/integrations/{id}/delete", post(delete_integration))
        .route(
            "/admin/integrations/{id}/pipeline",
            post(update_integration),
        )
        .route(
            "/admin/integrations/{id}/simulate",
            post(simulate_integration),
        )
        .route("/admin/rules", get(rules::rules).post(rules::create_rule))
        .route("/admin/rules/{id}", post(rules::update_rule))
        .route("/admin/rules/{id}/enabled", post(rules::set_enabled))
        .route("/admin/rules/{id}/dry-run", post(rules::dry_run))
        .route("/admin/scripts", get(scripts::scripts))
        .route("/admin/scripts/{hash}/approve", post(scripts::approve))
        .route("/admin/scripts/{hash}/withdraw", post(scripts::withdraw))
        .route("/admin/triage", get(triage::triage))
        .route(
            "/admin/import",
            get(import::import_page).post(import::import_file),
        )
        .route("/admin/triage/train", post(triage::train))
        .route("/admin/triage/thresholds", post(triage::set_threshold))
        .route(
            "/admin/triage/models/{version}/activate",
            post(triage::activate),
        )
}

/// Rows on one admin list page.
const LIMIT: i64 = 500;
/// Audit entries on one page.
const AUDIT_PAGE: i64 = 100;

/// A custom field definition as the fields page lists it.
struct FieldRow {
    key: String,
    label: String,
    kind: String,
    required: bool,
}

/// The form editing one user: what it shows (the stored user, or what the admin sent when
/// it comes back with mistakes) and the mistakes, by field.
struct UserForm {
    user: User,
    name: String,
    role: String,
    organization: Option<i64>,
    limits: Vec<i64>,
    active: bool,
    approves_articles: bool,
    /// The version the form is based on: saving over a newer change is refused.
    version: i64,
    organizations: Vec<Organization>,
    errors: Vec<FieldError>,
}

impl UserForm {
    fn new(user: User, organizations: Vec<Organization>) -> Self {
        Self {
            name: user.name.clone(),
            role: user.role.as_str().to_owned(),
            organization: user.organization_id,
            limits: user.organizations.clone(),
            active: user.active,
            approves_articles: user.approves_articles,
            version: user.version,
            user,
            organizations,
            errors: Vec::new(),
        }
    }

    /// The mistake in `field`, if any.
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| form_field(e) == field)
            .map(|e| e.message.as_str())
    }

    /// Whether the user belongs to organization `id` (templates hand over references).
    fn belongs_to(&self, id: &i64) -> bool {
        self.organization == Some(*id)
    }

    /// Whether the agent is limited to organization `id`.
    fn limited_to(&self, id: &i64) -> bool {
        self.limits.contains(id)
    }

    /// Mistakes in fields the form does not have, shown above it.
    fn other_errors(&self) -> Vec<&FieldError> {
        self.errors
            .iter()
            .filter(|e| !USER_FIELDS.contains(&form_field(e)))
            .collect()
    }
}

/// The form field a mistake belongs to: `organizations[2]` is the `organizations` boxes.
fn form_field(error: &FieldError) -> &str {
    error.field.split('[').next().unwrap_or_default()
}

/// The fields of the user form, which show their own mistakes.
const USER_FIELDS: &[&str] = &[
    "name",
    "role",
    "organization",
    "organizations",
    "active",
    "approves_articles",
];
/// Roles offered in the new-user and edit-user forms.
const ROLES: &[&str] = &["customer", "agent", "admin"];

/// The form editing one notice's templates: what it shows (the template in use, or what the
/// admin sent when it comes back with mistakes) and the mistakes, by part.
struct TemplateForm {
    current: MailTemplate,
    template: TemplateText,
    errors: Vec<FieldError>,
    /// The form's templates rendered with sample values, when the admin asked to see them.
    preview: Option<RenderedMail>,
}

impl TemplateForm {
    /// The mistake in `field` (`subject`, `text` or `html`), if any.
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    /// The placeholders templates may use, as they are written.
    fn placeholders(&self) -> String {
        PLACEHOLDERS
            .iter()
            .map(|name| format!("{{{{{name}}}}}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A group on the groups page: its members, and the active agents and admins who could join.
struct GroupRoster {
    group: Group,
    members: Vec<GroupMember>,
    candidates: Vec<User>,
}

/// What one admin page shows.
enum Section {
    Users(Vec<User>, Vec<Organization>),
    EditUser(Box<UserForm>),
    Organizations(Vec<Organization>),
    EditOrganization(Box<OrganizationForm>),
    Groups(Vec<GroupRoster>),
    Categories(Vec<Category>, Vec<CategoryQuestion>),
    Fields(Vec<FieldRow>),
    /// The tokens, and the secret of one just created (shown once).
    Tokens(Vec<ApiToken>, Option<String>),
    /// Entries, and where the next page starts.
    Audit(Vec<AuditEntry>, Option<i64>),
    MailTemplates(Vec<MailTemplate>),
    EditMailTemplate(Box<TemplateForm>),
    /// The webhooks, the secret of one just created (shown once), and a mistake in the form.
    Webhooks(Vec<Webhook>, Option<String>, Vec<FieldError>),
    /// Messages waiting in the quarantine, and the outcome of the last reprocessing.
    Quarantine(Vec<MailRecord>, Option<String>),
    /// Jobs in the chosen status (all when empty), newest first.
    Jobs(Vec<Job>, &'static str),
    Triage(Box<TriagePage>),
    Rules(Box<RulesPage>),
    Integrations(Box<IntegrationsPage>),
    /// Runbook script versions, those waiting for approval first.
    Scripts(Vec<ScriptLine>),
    Import(Box<ImportPage>),
    Backups(Box<BackupStatus>),
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    c: Chrome,
    tab: &'static str,
    section: Section,
}

const TABS: &[&str] = &[
    "users",
    "organizations",
    "groups",
    "categories",
    "fields",
    "tokens",
    "mail",
    "sla",
    "surveys",
    "identity-providers",
    "directories",
    "provisioning",
    "quarantine",
    "webhooks",
    "integrations",
    "rules",
    "scripts",
    "jobs",
    "triage",
    "import",
    "backups",
    "audit",
];

/// The admin pages agents may open too (read only).
const STAFF_TABS: &[&str] = &["scripts"];

/// The job statuses an admin filters by; the empty one is "all".
const JOB_STATUSES: &[&str] = &["", "dead", "queued", "running", "done"];

impl AdminPage {
    /// The pages the signed-in user may open.
    fn tabs(&self) -> &'static [&'static str] {
        if self.c.admin { TABS } else { STAFF_TABS }
    }

    /// A script's hash as shown: its first 12 characters, enough to tell versions apart.
    fn short_hash<'a>(&self, hash: &'a str) -> &'a str {
        hash.get(..12).unwrap_or(hash)
    }

    fn roles(&self) -> &'static [&'static str] {
        ROLES
    }

    fn job_statuses(&self) -> &'static [&'static str] {
        JOB_STATUSES
    }

    /// A share as a percentage with one decimal.
    fn percent(&self, share: &f64) -> String {
        format!("{:.1} %", share * 100.0)
    }

    fn size(&self, bytes: &u64) -> String {
        crate::web::agent::size_label(i64::try_from(*bytes).unwrap_or(i64::MAX))
    }
}

fn page(principal: &Principal, tab: &'static str, section: Section) -> Result<Response, WebError> {
    principal.require_admin()?;
    let title = Lang.label("admin", tab);
    Ok(render(&AdminPage {
        c: Chrome::new(principal, title),
        tab,
        section,
    }))
}

fn admin(principal: &Principal) -> Result<(), WebError> {
    Ok(principal.require_admin()?)
}

async fn users(State(state): State<AppState>, WebUser(p): WebUser) -> Result<Response, WebError> {
    admin(&p)?;
    let users = state.app.users(&p, 0, LIMIT).await?;
    let orgs = state.app.organizations(&p, 0, LIMIT).await?;
    page(&p, "users", Section::Users(users, orgs))
}

async fn create_user(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let input = NewUserInput {
        email: form.get("email").to_owned(),
        name: form.get("name").to_owned(),
        role: form.get("role").to_owned(),
        organization: form.opt("organization").map(OrganizationRef::Name),
        organizations: Vec::new(),
        password: form.opt("password"),
    };
    state.app.create_user(&form.principal, input).await?;
    Ok(Redirect::to("/admin/users"))
}

/// The page editing one user, with `status` (422 when it comes back with mistakes).
fn user_page(
    principal: &Principal,
    form: UserForm,
    status: StatusCode,
) -> Result<Response, WebError> {
    let title = format!("{}: {}", Lang.t("admin.user.edit"), form.user.email);
    let has_errors = !form.errors.is_empty();
    form_page(
        principal,
        title,
        has_errors,
        "users",
        Section::EditUser(Box::new(form)),
        status,
    )
}

/// An admin page holding one form, titled `title`, with a notice when the form came back
/// with mistakes.
fn form_page(
    principal: &Principal,
    title: String,
    has_errors: bool,
    tab: &'static str,
    section: Section,
    status: StatusCode,
) -> Result<Response, WebError> {
    principal.require_admin()?;
    let mut c = Chrome::new(principal, title);
    if has_errors {
        c.notice = Some(Lang.t("form.fix_errors").to_owned());
    }
    let page = AdminPage { c, tab, section };
    Ok((status, render(&page)).into_response())
}

async fn edit_user(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    admin(&p)?;
    let user = state.app.user(&p, id).await?;
    let orgs = state.app.organizations(&p, 0, LIMIT).await?;
    user_page(&p, UserForm::new(user, orgs), StatusCode::OK)
}

/// Saves the whole form through the same use case as `PATCH /api/v1/users/{id}`, so the
/// rules (admins only, no demoting yourself, organizations only for agents) and the audit
/// entry stay in one place. Mistakes come back on the form, next to their field.
async fn update_user(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let id_of = |value: &str| value.parse::<i64>().ok();
    let organization = id_of(form.get("organization"));
    let limits: Vec<i64> = form
        .all("organizations")
        .iter()
        .filter_map(|v| id_of(v))
        .collect();
    let active = form.get("active") == "on";
    let approves_articles = form.get("approves_articles") == "on";
    let version = form.get("version").parse::<i64>().ok();
    let patch = UserPatch {
        name: Some(form.get("name").to_owned()),
        role: Some(form.get("role").to_owned()),
        organization: Some(organization.map(OrganizationRef::Id)),
        organizations: Some(limits.iter().copied().map(OrganizationRef::Id).collect()),
        active: Some(active),
        approves_articles: Some(approves_articles),
        password: None,
    };
    let errors = match state
        .app
        .update_user(&form.principal, id, version, patch)
        .await
    {
        Ok(_) => return Ok(Redirect::to("/admin/users").into_response()),
        Err(AppError::Invalid(errors)) => errors,
        Err(AppError::Conflict {
            field: Some(field),
            message,
        }) => vec![FieldError::new(field, message)],
        Err(other) => return Err(other.into()),
    };
    let user = state.app.user(&form.principal, id).await?;
    let organizations = state.app.organizations(&form.principal, 0, LIMIT).await?;
    let edited = UserForm {
        name: form.get("name").to_owned(),
        role: form.get("role").to_owned(),
        organization,
        limits,
        active,
        approves_articles,
        version: version.unwrap_or(user.version),
        user,
        organizations,
        errors,
    };
    user_page(&form.principal, edited, StatusCode::UNPROCESSABLE_ENTITY)
}

async fn organizations(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    admin(&p)?;
    let orgs = state.app.organizations(&p, 0, LIMIT).await?;
    page(&p, "organizations", Section::Organizations(orgs))
}

async fn create_organization(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let input = NewOrganization {
        name: form.get("name").to_owned(),
        domain: form.opt("domain"),
        ..NewOrganization::default()
    };
    state
        .app
        .create_organization(&form.principal, input)
        .await?;
    Ok(Redirect::to("/admin/organizations"))
}

async fn groups(State(state): State<AppState>, WebUser(p): WebUser) -> Result<Response, WebError> {
    admin(&p)?;
    let staff: Vec<User> = state
        .app
        .users(&p, 0, LIMIT)
        .await?
        .into_iter()
        .filter(|u| u.role.is_staff() && u.active)
        .collect();
    let mut rosters = Vec::new();
    for group in state.app.groups(&p).await? {
        let members = state.app.group_members(&p, group.id).await?;
        let candidates = staff
            .iter()
            .filter(|u| members.iter().all(|m| m.id != u.id))
            .cloned()
            .collect();
        rosters.push(GroupRoster {
            group,
            members,
            candidates,
        });
    }
    page(&p, "groups", Section::Groups(rosters))
}

/// Adds the agent chosen in a group's select, through the same use case as the API.
async fn add_group_member(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .add_group_member(&form.principal, id, form.get("user"))
        .await?;
    Ok(Redirect::to("/admin/groups"))
}

async fn remove_group_member(
    State(state): State<AppState>,
    Path((id, user)): Path<(i64, i64)>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .remove_group_member(&form.principal, id, &user.to_string())
        .await?;
    Ok(Redirect::to("/admin/groups"))
}

async fn create_group(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let tier = form
        .get("tier")
        .parse::<i64>()
        .map_err(|_| AppError::invalid("tier", "must be a whole number"))?;
    let input = NewGroup {
        name: form.get("name").to_owned(),
        tier,
        description: form.get("description").to_owned(),
        members: split_list(form.get("members")),
    };
    state.app.create_group(&form.principal, input).await?;
    Ok(Redirect::to("/admin/groups"))
}

/// A comma- or newline-separated list typed into one field.
fn split_list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn categories(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    admin(&p)?;
    let categories = state.app.categories().await?;
    let questions = state.app.category_questions(None).await?;
    page(&p, "categories", Section::Categories(categories, questions))
}

async fn create_category(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let input = NewCategory {
        name: form.get("name").to_owned(),
        parent: form.opt("parent"),
    };
    state.app.create_category(&form.principal, input).await?;
    Ok(Redirect::to("/admin/categories"))
}

async fn create_question(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let input = NewCategoryQuestion {
        category: form.get("category").to_owned(),
        question: form.get("question").to_owned(),
        required: form.get("required") == "on",
    };
    state
        .app
        .create_category_question(&form.principal, input)
        .await?;
    Ok(Redirect::to("/admin/categories"))
}

async fn delete_question(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .delete_category_question(&form.principal, id)
        .await?;
    Ok(Redirect::to("/admin/categories"))
}

async fn fields(State(state): State<AppState>, WebUser(p): WebUser) -> Result<Response, WebError> {
    admin(&p)?;
    let text = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let rows = state
        .app
        .custom_fields()
        .await?
        .iter()
        .map(|v| FieldRow {
            key: text(v, "key"),
            label: text(v, "label"),
            kind: text(v, "kind"),
            required: v.get("required").and_then(|x| x.as_bool()).unwrap_or(false),
        })
        .collect();
    page(&p, "fields", Section::Fields(rows))
}

async fn create_field(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let input = NewCustomField {
        key: form.get("key").to_owned(),
        label: form.get("label").to_owned(),
        required: form.get("required") == "on",
        kind: form.get("kind").to_owned(),
        options: split_list(form.get("options")),
    };
    state
        .app
        .create_custom_field(&form.principal, input)
        .await?;
    Ok(Redirect::to("/admin/fields"))
}

async fn tokens(State(state): State<AppState>, WebUser(p): WebUser) -> Result<Response, WebError> {
    admin(&p)?;
    let tokens = state.app.tokens(&p).await?;
    page(&p, "tokens", Section::Tokens(tokens, None))
}

/// Shows the new secret on the page itself, once; it is never stored in clear.
async fn create_token(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let email = form
        .opt("email")
        .unwrap_or_else(|| form.principal.email.clone());
    let created = state
        .app
        .create_token(&form.principal, &email, form.get("name"))
        .await?;
    let tokens = state.app.tokens(&form.principal).await?;
    page(
        &form.principal,
        "tokens",
        Section::Tokens(tokens, Some(created.secret)),
    )
}

async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.revoke_token(&form.principal, id).await?;
    Ok(Redirect::to("/admin/tokens"))
}

#[derive(Deserialize)]
struct AuditParams {
    after: Option<i64>,
}

async fn audit(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    Query(params): Query<AuditParams>,
) -> Result<Response, WebError> {
    admin(&p)?;
    let entries = state
        .app
        .audit_entries(&p, params.after.unwrap_or(0), AUDIT_PAGE, None, None)
        .await?;
    let next = (entries.len() as i64 == AUDIT_PAGE)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    page(&p, "audit", Section::Audit(entries, next)).map(IntoResponse::into_response)
}

async fn mail_templates(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    let templates = state.app.mail_templates(&p).await?;
    page(&p, "mail", Section::MailTemplates(templates))
}

/// The page editing one notice's templates, with `status` (422 when it comes back with
/// mistakes).
fn template_page(
    principal: &Principal,
    form: TemplateForm,
    status: StatusCode,
) -> Result<Response, WebError> {
    let title = format!(
        "{}: {}",
        Lang.t("admin.mail.edit"),
        Lang.label("notice", form.current.notice.as_str())
    );
    let has_errors = !form.errors.is_empty();
    let section = Section::EditMailTemplate(Box::new(form));
    form_page(principal, title, has_errors, "mail", section, status)
}

async fn edit_mail_template(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    Path(notice): Path<String>,
) -> Result<Response, WebError> {
    let current = state.app.mail_template(&p, &notice).await?;
    let form = TemplateForm {
        template: current.template.clone(),
        current,
        errors: Vec::new(),
        preview: None,
    };
    template_page(&p, form, StatusCode::OK)
}

/// The templates a mail-template form sent.
fn submitted_template(form: &SignedForm) -> TemplateText {
    TemplateText {
        subject: form.get("subject").to_owned(),
        text: form.get("text").to_owned(),
        html: form.get("html").to_owned(),
    }
}

/// Saves through the same use case as `PUT /api/v1/mail/templates/{notice}`, so the checks
/// and the audit entry stay in one place; mistakes come back next to their part.
async fn save_mail_template(
    State(state): State<AppState>,
    Path(notice): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let template = submitted_template(&form);
    let errors = match state
        .app
        .save_mail_template(&form.principal, &notice, template.clone())
        .await
    {
        Ok(_) => return Ok(Redirect::to("/admin/mail").into_response()),
        Err(AppError::Invalid(errors)) => errors,
        Err(other) => return Err(other.into()),
    };
    let current = state.app.mail_template(&form.principal, &notice).await?;
    let edited = TemplateForm {
        current,
        template,
        errors,
        preview: None,
    };
    template_page(&form.principal, edited, StatusCode::UNPROCESSABLE_ENTITY)
}

/// Renders the form's templates, unsaved, through the same use case as
/// `POST /api/v1/mail/templates/{notice}/preview`, and shows them below the form kept as
/// the admin wrote it.
async fn preview_mail_template(
    State(state): State<AppState>,
    Path(notice): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let template = submitted_template(&form);
    let request = PreviewRequest {
        ticket: None,
        draft: Some(template.clone()),
    };
    let (preview, errors, status) = match state
        .app
        .preview_mail_template(&form.principal, &notice, request)
        .await
    {
        Ok(rendered) => (Some(rendered), Vec::new(), StatusCode::OK),
        Err(AppError::Invalid(errors)) => (None, errors, StatusCode::UNPROCESSABLE_ENTITY),
        Err(other) => return Err(other.into()),
    };
    let current = state.app.mail_template(&form.principal, &notice).await?;
    let previewed = TemplateForm {
        current,
        template,
        errors,
        preview,
    };
    template_page(&form.principal, previewed, status)
}

async fn revert_mail_template(
    State(state): State<AppState>,
    Path(notice): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .revert_mail_template(&form.principal, &notice)
        .await?;
    Ok(Redirect::to("/admin/mail"))
}
