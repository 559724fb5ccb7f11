//! Raising a new change, from a template or not, for given items or a patch advisory.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use opsdesk_app::changes::{ChangeTemplate, NewChange};
use opsdesk_app::{AppError, Principal};
use opsdesk_domain::change::{ChangeType, RiskQuestion};
use serde::Deserialize;

use super::{ids, risk_answers};
use crate::AppState;
use crate::web::cmdb::{SentForm, text};
use crate::web::monitoring::form_time;
use crate::web::suppliers::{chrome, or_form, status_of};
use crate::web::{Chrome, SignedForm, WebError, WebUser, render};

#[derive(Template)]
#[template(path = "change_form.html")]
struct NewPage {
    c: Chrome,
    templates: Vec<ChangeTemplate>,
    template: Option<ChangeTemplate>,
    form: SentForm,
}

impl NewPage {
    fn types(&self) -> &'static [&'static str] {
        ChangeType::NAMES
    }

    fn questions(&self) -> &[RiskQuestion] {
        self.template.as_ref().map_or(&[], |t| &t.questions)
    }

    fn plan(&self, field: &str) -> String {
        let sent = self.form.v(field);
        if !sent.is_empty() {
            return sent.to_owned();
        }
        let Some(t) = &self.template else {
            return String::new();
        };
        match field {
            "implementation_plan" => t.implementation_plan.clone(),
            "test_plan" => t.test_plan.clone(),
            "backout_plan" => t.backout_plan.clone(),
            _ => String::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct NewQuery {
    template: Option<String>,
    ci: Option<i64>,
    /// A patch campaign: the machines this advisory affects, and a title naming it.
    advisory: Option<String>,
}

async fn new_page(
    state: &AppState,
    principal: &Principal,
    template: Option<&str>,
    form: SentForm,
) -> Result<Response, WebError> {
    let templates = state.app.change_templates(principal).await?;
    let template = template
        .and_then(|name| templates.iter().find(|t| t.name == name))
        .cloned();
    let c = chrome(principal, "change.new", &form);
    Ok((
        status_of(&form),
        render(&NewPage {
            c,
            templates,
            template,
            form,
        }),
    )
        .into_response())
}

pub(super) async fn new_form(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(query): Query<NewQuery>,
) -> Result<Response, WebError> {
    let mut values = BTreeMap::new();
    if let Some(ci) = query.ci {
        values.insert("cis".to_owned(), ci.to_string());
    }
    if let Some(t) = &query.template {
        values.insert("template".to_owned(), t.clone());
    }
    if let Some(advisory) = query.advisory.as_deref().filter(|a| !a.trim().is_empty()) {
        let hosts = state.app.patch_campaign_hosts(&principal, advisory).await?;
        let ids: Vec<String> = hosts.iter().map(i64::to_string).collect();
        values.insert("cis".to_owned(), ids.join(", "));
        values.insert(
            "title".to_owned(),
            format!("Patch campaign: {}", advisory.trim()),
        );
    }
    let form = SentForm::with_values(values.into_iter().collect());
    new_page(&state, &principal, query.template.as_deref(), form).await
}

pub(super) async fn create(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut errors = Vec::new();
    let cis = ids(&form, "cis", &mut errors);
    let planned_start = form_time(&form, "planned_start", &mut errors);
    let planned_end = form_time(&form, "planned_end", &mut errors);
    let done = if errors.is_empty() {
        let input = NewChange {
            title: form.get("title").to_owned(),
            description: form.get("description").to_owned(),
            change_type: text(&form, "type"),
            template: text(&form, "template"),
            organization: text(&form, "organization"),
            implementer: text(&form, "implementer"),
            cis,
            risk_answers: risk_answers(&form),
            implementation_plan: Some(form.get("implementation_plan").to_owned()),
            test_plan: Some(form.get("test_plan").to_owned()),
            backout_plan: Some(form.get("backout_plan").to_owned()),
            planned_start,
            planned_end,
        };
        state.app.create_change(&form.principal, input).await
    } else {
        Err(AppError::Invalid(errors))
    };
    let template = text(&form, "template");
    or_form(
        done,
        &form,
        |c| format!("/changes/{}", c.number),
        |sent| new_page(&state, &form.principal, template.as_deref(), sent),
    )
    .await
}
