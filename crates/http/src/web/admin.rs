//! Admin pages: users, organizations, groups and tiers, categories with the portal's
//! diagnostic questions, custom fields, API tokens and the audit log.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::accounts::{NewOrganization, NewUserInput, Organization, OrganizationRef, User};
use opsdesk_app::audit::AuditEntry;
use opsdesk_app::auth::ApiToken;
use opsdesk_app::portal::{CategoryQuestion, NewCategoryQuestion};
use opsdesk_app::tickets::{Category, Group, NewCategory, NewCustomField, NewGroup};
use opsdesk_app::{AppError, Principal};
use serde::Deserialize;

use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/users") }))
        .route("/admin/users", get(users).post(create_user))
        .route(
            "/admin/organizations",
            get(organizations).post(create_organization),
        )
        .route("/admin/groups", get(groups).post(create_group))
        .route("/admin/categories", get(categories).post(create_category))
        .route("/admin/categories/questions", post(create_question))
        .route(
            "/admin/categories/questions/{id}/delete",
            post(delete_question),
        )
        .route("/admin/fields", get(fields).post(create_field))
        .route("/admin/tokens", get(tokens).post(create_token))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
        .route("/admin/audit", get(audit))
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

/// What one admin page shows.
enum Section {
    Users(Vec<User>, Vec<Organization>),
    Organizations(Vec<Organization>),
    Groups(Vec<Group>),
    Categories(Vec<Category>, Vec<CategoryQuestion>),
    Fields(Vec<FieldRow>),
    /// The tokens, and the secret of one just created (shown once).
    Tokens(Vec<ApiToken>, Option<String>),
    /// Entries, and where the next page starts.
    Audit(Vec<AuditEntry>, Option<i64>),
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
    "audit",
];

impl AdminPage {
    fn tabs(&self) -> &'static [&'static str] {
        TABS
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
    let groups = state.app.groups(&p).await?;
    page(&p, "groups", Section::Groups(groups))
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
