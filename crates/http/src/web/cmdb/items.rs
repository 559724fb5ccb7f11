//! The items: the list with the search language, creating one, an item's page (details,
//! lifecycle, relations, inventory from its agent, what changed, tickets, monitors,
//! history) and its edits, and the enrolment tokens admins hand to host agents.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::cmdb::{
    Ci, CiChange, CiField, CiMonitor, CiPatch, CiTicket, EnrolmentToken, Finding, Inventory,
    InventoryChange, NewCi, NewEnrolment, Relation,
};
use opsdesk_app::remote::Access;
use opsdesk_app::{AppError, FieldError, Precondition};
use opsdesk_domain::cmdb::RelationKind;

use super::access::AccessForm;
use super::{CHANGE_DAYS, ListParams, PAGE, SentForm, classes, form_errors, lifecycles, text};
use crate::AppState;
use crate::web::{Chrome, Lang, SignedForm, WebError, WebUser, render};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cmdb", get(list).post(create))
        .route("/cmdb/enrolments", post(enrolment))
        .route("/cmdb/{id}", get(show).post(update))
        .route("/cmdb/{id}/monitors", post(watch))
        .route("/cmdb/{id}/monitors/{monitor}/unlink", post(unwatch))
        .route("/tickets/{number}/cis", post(link_ticket))
        .route("/tickets/{number}/cis/{ci}/unlink", post(unlink_ticket))
}

#[derive(Template)]
#[template(path = "cmdb_list.html")]
struct ListPage {
    c: Chrome,
    q: String,
    cis: Vec<Ci>,
    /// The id after which the next page starts, when there is one.
    next: Option<i64>,
    error: Option<String>,
    form: SentForm,
    /// A token just made, shown once.
    token: Option<EnrolmentToken>,
}

impl ListPage {
    fn classes(&self) -> &'static [&'static str] {
        classes()
    }
    fn lifecycles(&self) -> &'static [&'static str] {
        lifecycles()
    }
}

async fn list_page(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    params: ListParams,
    form: SentForm,
    token: Option<EnrolmentToken>,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    let q = params.q.unwrap_or_default();
    let (cis, error) = match state
        .app
        .search_cis(principal, &q, params.after.unwrap_or(0), PAGE + 1)
        .await
    {
        Ok(cis) => (cis, None),
        Err(AppError::Invalid(errors)) => (
            Vec::new(),
            Some(
                errors
                    .into_iter()
                    .map(|e| e.message)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ),
        Err(other) => return Err(other.into()),
    };
    let mut cis = cis;
    let next = (cis.len() as i64 > PAGE).then(|| {
        cis.truncate(PAGE as usize);
        cis.last().map_or(0, |c| c.id)
    });
    let status = if form.has_errors() || error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut c = Chrome::new(principal, Lang.t("cmdb.title"));
    if form.has_errors() {
        c.notice = Some(Lang.t("form.fix_errors").to_owned());
    }
    Ok((
        status,
        render(&ListPage {
            c,
            q,
            cis,
            next,
            error,
            form,
            token,
        }),
    )
        .into_response())
}

async fn list(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    list_page(&state, &principal, params, SentForm::default(), None).await
}

/// Creates through the same use case as `POST /api/v1/cis`.
async fn create(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    let input = NewCi {
        class: form.get("class").to_owned(),
        name: form.get("name").to_owned(),
        organization: text(&form, "organization"),
        owner: text(&form, "owner"),
        location: text(&form, "location"),
        lifecycle: text(&form, "lifecycle"),
        asset_tag: text(&form, "asset_tag"),
        serial_number: text(&form, "serial_number"),
        hostname: text(&form, "hostname"),
        macs: form
            .get("macs")
            .split([',', ' ', '\n'])
            .filter(|m| !m.trim().is_empty())
            .map(|m| m.trim().to_owned())
            .collect(),
        warranty_ends_on: text(&form, "warranty_ends_on"),
        ..NewCi::default()
    };
    match state.app.create_ci(&form.principal, input).await {
        Ok(ci) => Ok(Redirect::to(&format!("/cmdb/{}", ci.id)).into_response()),
        Err(error) => {
            let errors = form_errors(error)?;
            let sent = SentForm::of(&form, errors);
            let params = ListParams {
                q: None,
                after: None,
            };
            list_page(&state, &form.principal, params, sent, None).await
        }
    }
}

/// Makes an enrolment token (admins) and shows it once, with the command to run.
async fn enrolment(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    let input = NewEnrolment {
        organization: text(&form, "organization"),
        hours: None,
    };
    match state.app.create_enrolment(&form.principal, input).await {
        Ok(token) => {
            let params = ListParams {
                q: None,
                after: None,
            };
            list_page(
                &state,
                &form.principal,
                params,
                SentForm::default(),
                Some(token),
            )
            .await
        }
        Err(error) => {
            let errors = form_errors(error)?
                .into_iter()
                .map(|e| FieldError::new(format!("enrol_{}", e.field), e.message))
                .collect();
            let sent = SentForm::of(&form, errors);
            let params = ListParams {
                q: None,
                after: None,
            };
            list_page(&state, &form.principal, params, sent, None).await
        }
    }
}

#[derive(Template)]
#[template(path = "cmdb_item.html")]
struct ItemPage {
    c: Chrome,
    ci: Ci,
    relations: Vec<Relation>,
    inventory: Inventory,
    changes: Vec<InventoryChange>,
    tickets: Vec<CiTicket>,
    monitors: Vec<CiMonitor>,
    /// Monitors that could watch it, by id and name.
    watchable: Vec<(i64, String)>,
    /// Its class's custom fields.
    class_fields: Vec<CiField>,
    history: Vec<CiChange>,
    vulnerabilities: Vec<Finding>,
    /// The ways to reach it, with the links that open their clients.
    access: Vec<Access>,
    form: SentForm,
    relation_form: SentForm,
    access_form: AccessForm,
}

/// The item page's forms, each empty or sent back with its mistakes.
#[derive(Default)]
pub(super) struct ItemForms {
    pub edit: SentForm,
    pub relation: SentForm,
    /// The remote access rows as sent; the item's own entries when `None`.
    pub access: Option<AccessForm>,
}

impl ItemForms {
    /// The edit form sent back with its mistakes.
    fn edited(edit: SentForm) -> Self {
        Self {
            edit,
            ..Self::default()
        }
    }
}

impl ItemPage {
    fn lifecycles(&self) -> &'static [&'static str] {
        lifecycles()
    }
    fn kinds(&self) -> &'static [&'static str] {
        RelationKind::NAMES
    }
    /// The edit form's value: what was sent back, else the item's.
    fn value(&self, field: &str, current: &Option<String>) -> String {
        match self.form.values.get(field) {
            Some(sent) => sent.clone(),
            None => current.clone().unwrap_or_default(),
        }
    }
    /// A custom field's value in the edit form: as sent back, else the item's.
    fn field_value(&self, name: &str) -> String {
        if let Some(sent) = self.form.values.get(&format!("field.{name}")) {
            return sent.clone();
        }
        match self.ci.fields.get(name) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Bool(true)) => "yes".to_owned(),
            Some(serde_json::Value::Bool(false)) => "no".to_owned(),
            Some(other) if !other.is_null() => other.to_string(),
            _ => String::new(),
        }
    }
    fn field_error(&self, name: &str) -> Option<&str> {
        self.form.error(&format!("fields.{name}"))
    }
    fn needed_value(&self) -> String {
        self.value("needed", &self.ci.needed.map(|n| n.to_string()))
    }
    fn security_updates(&self) -> usize {
        self.inventory.updates.iter().filter(|u| u.security).count()
    }
    fn gib(&self, bytes: &u64) -> String {
        format!("{:.1}", *bytes as f64 / 1_073_741_824.0)
    }
}

pub(super) async fn item_page(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    id: i64,
    forms: ItemForms,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    let ci = state.app.ci(principal, id).await?;
    let access = state.app.ci_access(principal, id).await?;
    let access_form = forms.access.unwrap_or_else(|| AccessForm::of(&access));
    let class_fields = state
        .app
        .ci_classes(principal)
        .await?
        .into_iter()
        .find(|c| c.class == ci.class)
        .map(|c| c.fields)
        .unwrap_or_default();
    let since = state.app.now_ms() - CHANGE_DAYS * 24 * 3_600_000;
    let page = ItemPage {
        c: Chrome::new(principal, ci.name.clone()),
        relations: state.app.ci_relations(principal, id, false).await?,
        inventory: state.app.ci_inventory(principal, id).await?,
        changes: state.app.ci_inventory_changes(principal, id, since).await?,
        tickets: state.app.ci_tickets(principal, id).await?,
        monitors: state.app.ci_monitors(principal, id).await?,
        watchable: state
            .app
            .monitors(principal, 0, 500)
            .await?
            .into_iter()
            .map(|m| (m.id, m.name))
            .collect(),
        history: state.app.ci_history(principal, id).await?,
        class_fields,
        vulnerabilities: state.app.ci_vulnerabilities(principal, id).await?,
        ci,
        access,
        form: forms.edit,
        relation_form: forms.relation,
        access_form,
    };
    let status = if page.form.has_errors()
        || page.relation_form.has_errors()
        || page.access_form.has_errors()
    {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, render(&page)).into_response())
}

async fn show(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    item_page(&state, &principal, id, ItemForms::default()).await
}

/// An empty field clears the attribute.
fn cleared(form: &SignedForm, name: &str) -> Option<Option<String>> {
    form.fields
        .iter()
        .any(|(k, _)| k == name)
        .then(|| text(form, name))
}

/// The custom field inputs (`field.<name>`) as the item's values, when the form has any.
fn custom_fields(
    form: &SignedForm,
) -> Option<std::collections::BTreeMap<String, serde_json::Value>> {
    let values: std::collections::BTreeMap<String, serde_json::Value> = form
        .fields
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("field.")
                .map(|name| (name.to_owned(), serde_json::Value::String(v.clone())))
        })
        .collect();
    (!values.is_empty()).then_some(values)
}

/// Changes through the same use case as `PATCH /api/v1/cis/{id}`, from the version the
/// form was read at.
async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let needed = match form.get("needed").trim() {
        "" => Some(None),
        n => match n.parse::<i64>() {
            Ok(n) => Some(Some(n)),
            Err(_) => {
                let sent = SentForm::of(
                    &form,
                    vec![FieldError::new("needed", Lang.t("cmdb.needed.hint"))],
                );
                return item_page(&state, &form.principal, id, ItemForms::edited(sent)).await;
            }
        },
    };
    let patch = CiPatch {
        name: form.opt("name"),
        organization: cleared(&form, "organization"),
        owner: cleared(&form, "owner"),
        location: form.opt("location"),
        lifecycle: form.opt("lifecycle"),
        asset_tag: cleared(&form, "asset_tag"),
        serial_number: cleared(&form, "serial_number"),
        hostname: cleared(&form, "hostname"),
        needed,
        warranty_ends_on: cleared(&form, "warranty_ends_on"),
        fields: custom_fields(&form),
        ..CiPatch::default()
    };
    let precondition = Precondition::from(form.get("version").parse::<i64>().ok());
    match state
        .app
        .update_ci(&form.principal, id, precondition, patch)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/cmdb/{id}")).into_response()),
        Err(AppError::Stale) => {
            let sent = SentForm::of(&form, vec![FieldError::new("", Lang.t("cmdb.stale"))]);
            item_page(&state, &form.principal, id, ItemForms::edited(sent)).await
        }
        Err(error) => {
            let sent = SentForm::of(&form, form_errors(error)?);
            item_page(&state, &form.principal, id, ItemForms::edited(sent)).await
        }
    }
}

/// Links the ticket to the item numbered in the form.
async fn link_ticket(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let ci = form
        .get("ci")
        .trim()
        .trim_start_matches('#')
        .parse::<i64>()
        .map_err(|_| AppError::invalid("ci", Lang.t("cmdb.relation.target.hint")))?;
    state
        .app
        .link_ticket_ci(&form.principal, &number, ci)
        .await?;
    Ok(Redirect::to(&format!(
        "/tickets/{}#cis",
        crate::web::agent::encode(&number)
    )))
}

async fn unlink_ticket(
    State(state): State<AppState>,
    Path((number, ci)): Path<(String, i64)>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .unlink_ticket_ci(&form.principal, &number, ci)
        .await?;
    Ok(Redirect::to(&format!(
        "/tickets/{}#cis",
        crate::web::agent::encode(&number)
    )))
}

/// Makes the monitor chosen watch the item.
async fn watch(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let monitor = form.number("monitor")?;
    state
        .app
        .link_monitor_ci(&form.principal, id, monitor)
        .await?;
    Ok(Redirect::to(&format!("/cmdb/{id}#monitors")))
}

async fn unwatch(
    State(state): State<AppState>,
    Path((id, monitor)): Path<(i64, i64)>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .unlink_monitor_ci(&form.principal, id, monitor)
        .await?;
    Ok(Redirect::to(&format!("/cmdb/{id}#monitors")))
}
