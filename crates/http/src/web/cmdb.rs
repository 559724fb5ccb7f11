//! CMDB pages for staff: the items with the search language, creating one, an item's page
//! (details, lifecycle, relations, inventory from its agent, what changed, tickets,
//! monitors, history), its impact analysis, the queue of suspected duplicates, and the
//! enrolment tokens admins hand to host agents.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::cmdb::{
    AdvisorySummary, Ci, CiChange, CiClassFields, CiField, CiMonitor, CiPatch, CiTicket,
    Compliance, EnrolmentToken, Finding, Impact, ImpactedCi, ImportReport, Inventory,
    InventoryChange, NewCi, NewEnrolment, NewRelation, Relation, Scan, Stocktake,
    SuspectedDuplicate, TransferFormat,
};
use opsdesk_app::{AppError, FieldError, Precondition};
use opsdesk_domain::cmdb::{CiClass, Lifecycle, RelationKind};
use serde::Deserialize;

use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cmdb", get(list).post(create))
        .route("/cmdb/duplicates", get(duplicates))
        .route("/cmdb/compliance", get(compliance))
        .route("/cmdb/duplicates/{id}", post(settle))
        .route("/cmdb/enrolments", post(enrolment))
        .route("/cmdb/classes", get(class_list))
        .route("/cmdb/stocktake", get(stocktake).post(scan))
        .route("/cmdb/transfer", get(transfer).post(import))
        .route("/cmdb/export", get(export))
        .route("/cmdb/labels", get(labels))
        .route("/cmdb/{id}/label.svg", get(label))
        .route("/cmdb/classes/{class}/fields", post(add_class_field))
        .route(
            "/cmdb/classes/{class}/fields/{name}/remove",
            post(remove_class_field),
        )
        .route("/cmdb/{id}", get(show).post(update))
        .route("/cmdb/{id}/relations", post(relate))
        .route("/cmdb/{id}/relations/{relation}/remove", post(unrelate))
        .route("/cmdb/{id}/impact", get(impact))
        .route("/cmdb/{id}/monitors", post(watch))
        .route("/cmdb/{id}/monitors/{monitor}/unlink", post(unwatch))
        .route("/tickets/{number}/cis", post(link_ticket))
        .route("/tickets/{number}/cis/{ci}/unlink", post(unlink_ticket))
}

/// Items one page lists.
const PAGE: i64 = 100;
/// Days of inventory changes an item's page shows.
const CHANGE_DAYS: i64 = 14;

/// A form sent back with its mistakes: the values as sent, and each mistake by field.
#[derive(Default)]
pub(crate) struct SentForm {
    values: HashMap<String, String>,
    errors: Vec<FieldError>,
}

impl SentForm {
    pub(super) fn of(form: &SignedForm, errors: Vec<FieldError>) -> Self {
        Self {
            values: form
                .fields
                .iter()
                .filter(|(k, _)| k != "csrf_token")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            errors,
        }
    }

    pub(super) fn v(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }

    pub(super) fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field || e.field.starts_with(&format!("{field}[")))
            .map(|e| e.message.as_str())
    }

    /// Mistakes in custom fields (`fields.ram_gb`), as label-less lines.
    fn field_errors(&self) -> Vec<&FieldError> {
        self.errors
            .iter()
            .filter(|e| e.field.starts_with("fields."))
            .collect()
    }

    pub(super) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

fn classes() -> &'static [&'static str] {
    CiClass::NAMES
}

fn lifecycles() -> &'static [&'static str] {
    Lifecycle::NAMES
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

#[derive(Deserialize)]
struct ListParams {
    q: Option<String>,
    after: Option<i64>,
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

pub(super) fn text(form: &SignedForm, name: &str) -> Option<String> {
    form.opt(name).filter(|v| !v.trim().is_empty())
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

/// Field mistakes go back to the form; anything else is the page's error.
pub(super) fn form_errors(error: AppError) -> Result<Vec<FieldError>, WebError> {
    match error {
        AppError::Invalid(errors) => Ok(errors),
        AppError::Conflict {
            field: Some(field),
            message,
        } => Ok(vec![FieldError::new(field, message)]),
        AppError::Conflict {
            field: None,
            message,
        } => Ok(vec![FieldError::new("", message)]),
        other => Err(other.into()),
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
    form: SentForm,
    relation_form: SentForm,
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

async fn item_page(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    id: i64,
    form: SentForm,
    relation_form: SentForm,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    let ci = state.app.ci(principal, id).await?;
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
        form,
        relation_form,
    };
    let status = if page.form.has_errors() || page.relation_form.has_errors() {
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
    item_page(
        &state,
        &principal,
        id,
        SentForm::default(),
        SentForm::default(),
    )
    .await
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
                return item_page(&state, &form.principal, id, sent, SentForm::default()).await;
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
            item_page(&state, &form.principal, id, sent, SentForm::default()).await
        }
        Err(error) => {
            let sent = SentForm::of(&form, form_errors(error)?);
            item_page(&state, &form.principal, id, sent, SentForm::default()).await
        }
    }
}

async fn relate(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let target = form
        .get("target")
        .trim()
        .trim_start_matches('#')
        .parse::<i64>();
    let result = match target {
        Ok(target) => {
            let input = NewRelation {
                kind: form.get("kind").to_owned(),
                target,
            };
            state
                .app
                .add_relation(&form.principal, id, input)
                .await
                .map(|_| ())
        }
        Err(_) => Err(AppError::invalid(
            "target",
            Lang.t("cmdb.relation.target.hint"),
        )),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/cmdb/{id}#relations")).into_response()),
        Err(error) => {
            let sent = SentForm::of(&form, form_errors(error)?);
            item_page(&state, &form.principal, id, SentForm::default(), sent).await
        }
    }
}

async fn unrelate(
    State(state): State<AppState>,
    Path((id, relation)): Path<(i64, i64)>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .remove_relation(&form.principal, id, relation)
        .await?;
    Ok(Redirect::to(&format!("/cmdb/{id}#relations")))
}

#[derive(Template)]
#[template(path = "cmdb_impact.html")]
struct ImpactPage {
    c: Chrome,
    impact: Impact,
}

impl ImpactPage {
    /// The lists, each under its heading's key.
    fn groups(&self) -> [(&'static str, &Vec<ImpactedCi>); 2] {
        [
            ("cmdb.impact.down", &self.impact.down),
            ("cmdb.impact.degraded", &self.impact.degraded),
        ]
    }
}

async fn impact(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let impact = state.app.ci_impact(&principal, id).await?;
    let title = format!("{} {}", Lang.t("cmdb.impact.title"), impact.ci.name);
    Ok(render(&ImpactPage {
        c: Chrome::new(&principal, title),
        impact,
    }))
}

#[derive(Template)]
#[template(path = "cmdb_duplicates.html")]
struct DuplicatesPage {
    c: Chrome,
    pairs: Vec<SuspectedDuplicate>,
}

async fn duplicates(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    let pairs = state.app.suspected_duplicates(&principal).await?;
    Ok(render(&DuplicatesPage {
        c: Chrome::new(&principal, Lang.t("cmdb.duplicates.title")),
        pairs,
    }))
}

/// Advisories the compliance page lists.
const TOP_ADVISORIES: i64 = 20;

#[derive(Template)]
#[template(path = "cmdb_compliance.html")]
struct CompliancePage {
    c: Chrome,
    compliance: Compliance,
    advisories: Vec<AdvisorySummary>,
}

/// Patch compliance per organization and machine, and the advisories affecting most.
async fn compliance(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    let compliance = state.app.compliance(&principal).await?;
    let advisories = state
        .app
        .vulnerabilities(&principal, None, "", true, TOP_ADVISORIES)
        .await?;
    Ok(render(&CompliancePage {
        c: Chrome::new(&principal, Lang.t("cmdb.compliance.title")),
        compliance,
        advisories,
    }))
}

/// Merges into the item chosen (`keep`), or dismisses the pair (`keep` empty).
async fn settle(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let keep = form.get("keep").parse::<i64>().ok();
    match state
        .app
        .settle_duplicate(&form.principal, id, keep)
        .await?
    {
        Some(kept) => Ok(Redirect::to(&format!("/cmdb/{}", kept.id))),
        None => Ok(Redirect::to("/cmdb/duplicates")),
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
        super::agent::encode(&number)
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
        super::agent::encode(&number)
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

#[derive(Template)]
#[template(path = "cmdb_classes.html")]
struct ClassesPage {
    c: Chrome,
    classes: Vec<CiClassFields>,
    /// The class whose form came back with mistakes, and them.
    failed: Option<(String, SentForm)>,
}

impl ClassesPage {
    fn kinds(&self) -> &'static [&'static str] {
        opsdesk_domain::cmdb::fields::FieldKind::NAMES
    }
    fn error(&self, class: &str, field: &str) -> Option<&str> {
        match &self.failed {
            Some((failed, form)) if failed == class => form.error(field),
            _ => None,
        }
    }
    fn sent(&self, class: &str, field: &str) -> &str {
        match &self.failed {
            Some((failed, form)) if failed == class => form.v(field),
            _ => "",
        }
    }
}

async fn classes_page(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    failed: Option<(String, SentForm)>,
) -> Result<Response, WebError> {
    let classes = state.app.ci_classes(principal).await?;
    let status = if failed.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = ClassesPage {
        c: Chrome::new(principal, Lang.t("cmdb.classes.title")),
        classes,
        failed,
    };
    Ok((status, render(&page)).into_response())
}

async fn class_list(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    classes_page(&state, &principal, None).await
}

/// The class's fields as they are, for a change of one.
async fn fields_of(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    class: &str,
) -> Result<Vec<CiField>, WebError> {
    Ok(state
        .app
        .ci_classes(principal)
        .await?
        .into_iter()
        .find(|c| c.class == class)
        .map(|c| c.fields)
        .ok_or(AppError::NotFound("class"))?)
}

/// Adds one field to a class (admins), through the same use case as the API's PUT.
async fn add_class_field(
    State(state): State<AppState>,
    Path(class): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut fields = fields_of(&state, &form.principal, &class).await?;
    let index = fields.len();
    fields.push(CiField {
        name: form.get("name").trim().to_owned(),
        label: form.get("label").trim().to_owned(),
        kind: form.get("kind").to_owned(),
        required: form.get("required") == "on",
    });
    match state
        .app
        .set_class_fields(&form.principal, &class, fields)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/cmdb/classes#class-{class}")).into_response()),
        Err(error) => {
            let prefix = format!("fields[{index}].");
            let errors = form_errors(error)?
                .into_iter()
                .map(|e| match e.field.strip_prefix(&prefix) {
                    Some(field) => FieldError::new(field, e.message),
                    None => FieldError::new("", format!("{}: {}", e.field, e.message)),
                })
                .collect();
            let sent = SentForm::of(&form, errors);
            classes_page(&state, &form.principal, Some((class, sent))).await
        }
    }
}

async fn remove_class_field(
    State(state): State<AppState>,
    Path((class, name)): Path<(String, String)>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let fields = fields_of(&state, &form.principal, &class)
        .await?
        .into_iter()
        .filter(|f| f.name != name)
        .collect();
    state
        .app
        .set_class_fields(&form.principal, &class, fields)
        .await?;
    Ok(Redirect::to(&format!("/cmdb/classes#class-{class}")))
}

/// An item's label: a QR code of its asset tag (`CI-<id>` without one), which a scanner
/// types into the stocktake page.
fn label_code(ci: &Ci) -> String {
    ci.asset_tag
        .clone()
        .unwrap_or_else(|| format!("CI-{}", ci.id))
}

async fn label(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    let ci = state.app.ci(&principal, id).await?;
    let code = qrcode::QrCode::new(label_code(&ci).as_bytes())
        .map_err(|e| AppError::internal("drawing a label", e.to_string()))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(160, 160)
        .build();
    Ok(([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

#[derive(Template)]
#[template(path = "cmdb_labels.html")]
struct LabelsPage {
    c: Chrome,
    q: String,
    /// Each item with the code its label carries.
    labels: Vec<(Ci, String)>,
}

/// A printable sheet of labels for the items a search finds.
async fn labels(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let q = params.q.unwrap_or_default();
    let cis = state.app.search_cis(&principal, &q, 0, PAGE).await?;
    Ok(render(&LabelsPage {
        c: Chrome::new(&principal, Lang.t("cmdb.labels.title")),
        q,
        labels: cis
            .into_iter()
            .map(|ci| {
                let code = label_code(&ci);
                (ci, code)
            })
            .collect(),
    }))
}

#[derive(Template)]
#[template(path = "cmdb_stocktake.html")]
struct StocktakePage {
    c: Chrome,
    /// The stocktake under way, when a location is chosen.
    take: Option<Stocktake>,
    /// When it started, in stored milliseconds.
    since: i64,
    /// What the last scan found, or why it found nothing.
    scanned: Option<Result<Scan, String>>,
}

#[derive(Deserialize)]
struct StocktakeParams {
    location: Option<String>,
    since: Option<i64>,
}

async fn stocktake_page(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    location: Option<String>,
    since: Option<i64>,
    scanned: Option<Result<Scan, String>>,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    let since = since.unwrap_or_else(|| state.app.now_ms());
    let take = match location.filter(|l| !l.trim().is_empty()) {
        Some(location) => Some(state.app.stocktake(principal, &location, since).await?),
        None => None,
    };
    let status = if matches!(scanned, Some(Err(_))) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = StocktakePage {
        c: Chrome::new(principal, Lang.t("cmdb.stocktake.title")),
        take,
        since,
        scanned,
    };
    Ok((status, render(&page)).into_response())
}

async fn stocktake(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(params): Query<StocktakeParams>,
) -> Result<Response, WebError> {
    stocktake_page(&state, &principal, params.location, params.since, None).await
}

/// One scan: the scanner types the code and Enter sends it; the page comes back ready
/// for the next.
async fn scan(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    let location = form.get("location").to_owned();
    let since = form.get("since").parse::<i64>().ok();
    let scanned = match state
        .app
        .stocktake_scan(&form.principal, &location, form.get("code"))
        .await
    {
        Ok(scan) => Ok(scan),
        Err(AppError::Invalid(errors)) => Err(errors
            .into_iter()
            .map(|e| e.message)
            .collect::<Vec<_>>()
            .join("; ")),
        Err(other) => return Err(other.into()),
    };
    stocktake_page(
        &state,
        &form.principal,
        Some(location),
        since,
        Some(scanned),
    )
    .await
}

#[derive(Template)]
#[template(path = "cmdb_transfer.html")]
struct TransferPage {
    c: Chrome,
    /// The search the export links keep.
    q: String,
    /// Whether the dry run box is ticked: it is until someone unticks it.
    dry_run: bool,
    report: Option<ImportReport>,
    /// Why the file was refused whole.
    errors: Vec<FieldError>,
}

#[derive(Deserialize)]
struct TransferParams {
    q: Option<String>,
}

fn transfer_page(
    principal: &opsdesk_app::Principal,
    q: String,
    dry_run: bool,
    report: Option<ImportReport>,
    errors: Vec<FieldError>,
) -> Response {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = TransferPage {
        c: Chrome::new(principal, Lang.t("cmdb.transfer.title")),
        q,
        dry_run,
        report,
        errors,
    };
    (status, render(&page)).into_response()
}

async fn transfer(
    WebUser(principal): WebUser,
    Query(params): Query<TransferParams>,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    let q = params.q.unwrap_or_default();
    Ok(transfer_page(&principal, q, true, None, Vec::new()))
}

/// Imports the chosen file through the same use case as `POST /api/v1/cis/import`; the
/// page comes back with the report.
async fn import(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    form.principal.require_staff()?;
    let dry_run = form.get("dry_run") == "on";
    let q = form.get("q").to_owned();
    let Some(file) = form.files.first() else {
        let error = FieldError::new("file", Lang.t("cmdb.transfer.no_file"));
        return Ok(transfer_page(
            &form.principal,
            q,
            dry_run,
            None,
            vec![error],
        ));
    };
    let Some(format) = TransferFormat::of_file_name(&file.filename) else {
        let error = FieldError::new("file", Lang.t("cmdb.transfer.not_csv_or_json"));
        return Ok(transfer_page(
            &form.principal,
            q,
            dry_run,
            None,
            vec![error],
        ));
    };
    let imported = match opsdesk_app::cmdb::read_rows(format, file.content.clone()).await {
        Ok(rows) => state.app.import_cis(&form.principal, rows, dry_run).await,
        Err(error) => Err(error),
    };
    match imported {
        Ok(report) => Ok(transfer_page(
            &form.principal,
            q,
            dry_run,
            Some(report),
            Vec::new(),
        )),
        Err(AppError::Invalid(errors)) => {
            Ok(transfer_page(&form.principal, q, dry_run, None, errors))
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct ExportParams {
    q: Option<String>,
    format: Option<String>,
}

/// The items of a search as a CSV or JSON download.
async fn export(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(params): Query<ExportParams>,
) -> Result<Response, WebError> {
    let format = params.format.as_deref().unwrap_or("csv").parse()?;
    let cis = state
        .app
        .export_cis(&principal, params.q.as_deref().unwrap_or(""))
        .await?;
    Ok(crate::download::items_file(&cis, format)?)
}
