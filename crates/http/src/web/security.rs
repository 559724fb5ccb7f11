//! Security incident pages: the list of those the viewer may see, the form that opens one,
//! and the security panel of an incident's ticket page (severity, affected CIs and accounts,
//! the runbook checklist phase by phase, the override reason, and the evidence's chain of
//! custody).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::security::{
    ChecklistEntry, CustodyEntry, NewSecurityIncident, SecurityIncident, SecurityPatch,
    SecuritySummary,
};
use opsdesk_app::tickets::Ticket;
use opsdesk_app::{AppError, Principal};
use opsdesk_domain::security::{Phase, Severity};
use opsdesk_domain::ticket::TicketType;
use serde::Deserialize;

use super::agent::{back_to, encode};
use super::cmdb::{SentForm, form_errors};
use super::operations::sent_back;
use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/security-incidents", get(list).post(create))
        .route("/security-incidents/new", get(new_form))
        .route("/tickets/{number}/security", post(update))
        .route("/tickets/{number}/security/override", post(set_override))
        .route("/tickets/{number}/security/checklist/{item}", post(tick))
}

/// Incidents per page of the list.
const PAGE_SIZE: i64 = 50;

/// A security incident as one row of the list.
struct Row {
    number: String,
    title: String,
    status: String,
    severity: Severity,
    group: String,
    done: usize,
    total: usize,
    /// The phase of the first item still to do; none when the runbook is finished.
    phase: Option<Phase>,
}

impl From<SecuritySummary> for Row {
    fn from(incident: SecuritySummary) -> Self {
        Row {
            done: incident.done,
            total: incident.total,
            phase: incident.phase,
            number: incident.ticket.number,
            title: incident.ticket.title,
            status: incident.ticket.status.to_string(),
            severity: incident.severity,
            group: incident.restricted_group,
        }
    }
}

#[derive(Template)]
#[template(path = "security_incidents.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<Row>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ListParams {
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let page = state
        .app
        .security_incident_summaries(&principal, params.cursor.as_deref(), PAGE_SIZE)
        .await?;
    let c = Chrome::new(&principal, Lang.t("security.title"));
    Ok(render(&ListPage {
        c,
        rows: page.items.into_iter().map(Row::from).collect(),
        next_cursor: page.next_cursor,
    })
    .into_response())
}

#[derive(Template)]
#[template(path = "security_incident_form.html")]
struct FormPage {
    c: Chrome,
    form: SentForm,
    /// The groups the viewer may restrict an incident to: theirs, or every group for admins.
    groups: Vec<String>,
    severities: &'static [&'static str],
}

async fn form_page(
    state: &AppState,
    principal: &Principal,
    form: SentForm,
) -> Result<Response, WebError> {
    let groups = state
        .app
        .groups(principal)
        .await?
        .into_iter()
        .filter(|g| principal.can_see_restricted(Some(g.id)))
        .map(|g| g.name)
        .collect();
    let mut c = Chrome::new(principal, Lang.t("security.new"));
    let status = if form.has_errors() {
        c.notice = Some(Lang.t("form.fix_errors").to_owned());
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = FormPage {
        c,
        form,
        groups,
        severities: Severity::NAMES,
    };
    Ok((status, render(&page)).into_response())
}

async fn new_form(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    principal.require_staff()?;
    form_page(&state, &principal, SentForm::default()).await
}

/// Words separated by commas or white space: CI ids as the CI pages show them.
fn cis_of(form: &SignedForm) -> Result<Vec<i64>, AppError> {
    form.get("affected_cis")
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .enumerate()
        .map(|(index, part)| {
            part.parse().map_err(|_| {
                AppError::invalid(
                    format!("affected_cis[{index}]"),
                    Lang.t("security.cis.not_a_number"),
                )
            })
        })
        .collect()
}

/// One account a line.
fn accounts_of(form: &SignedForm) -> Vec<String> {
    form.get("affected_accounts")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Opens an incident through the same use case as `POST /api/v1/security-incidents`.
async fn create(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    let created = match cis_of(&form) {
        Ok(affected_cis) => {
            let input = NewSecurityIncident {
                title: form.get("title").to_owned(),
                description: form.get("description").to_owned(),
                severity: form.get("severity").to_owned(),
                group: form.get("group").to_owned(),
                affected_cis,
                affected_accounts: accounts_of(&form),
            };
            state
                .app
                .create_security_incident(&form.principal, input)
                .await
        }
        Err(error) => Err(error),
    };
    match created {
        Ok(incident) => Ok(Redirect::to(&format!(
            "/tickets/{}#security",
            encode(&incident.ticket.number)
        ))
        .into_response()),
        Err(error) => {
            let sent = SentForm::of(&form, form_errors(error)?);
            form_page(&state, &form.principal, sent).await
        }
    }
}

/// The runbook items of one phase.
pub(crate) struct PhaseItems {
    pub phase: Phase,
    pub items: Vec<ChecklistEntry>,
}

/// What the ticket page of a security incident adds.
pub(crate) struct SecurityPanel {
    pub incident: SecurityIncident,
    pub phases: Vec<PhaseItems>,
    pub custody: Vec<CustodyEntry>,
    /// Whether any access found an evidence file altered.
    pub tampered: bool,
    pub severities: &'static [&'static str],
    /// The affected CIs and accounts as the edit form's fields hold them.
    pub cis_text: String,
    pub accounts_text: String,
    /// Why the runbook item just ticked was refused (an earlier phase still open).
    pub refused: Option<String>,
}

impl SecurityPanel {
    /// The panel of `ticket`, with the runbook tick `checklist` sent back; `None` unless
    /// it is a security incident.
    pub(crate) async fn load(
        state: &AppState,
        principal: &Principal,
        ticket: &Ticket,
        checklist: &SentForm,
    ) -> Result<Option<Self>, AppError> {
        if ticket.ticket_type != TicketType::SecurityIncident {
            return Ok(None);
        }
        let incident = state
            .app
            .security_incident(principal, &ticket.number)
            .await?;
        let custody = state
            .app
            .evidence_custody(principal, &ticket.number)
            .await?;
        let mut phases: Vec<PhaseItems> = Vec::new();
        for entry in &incident.checklist {
            match phases.last_mut() {
                Some(last) if last.phase == entry.phase => last.items.push(entry.clone()),
                _ => phases.push(PhaseItems {
                    phase: entry.phase,
                    items: vec![entry.clone()],
                }),
            }
        }
        let cis_text = incident
            .affected_cis
            .iter()
            .map(|ci| ci.id.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let accounts_text = incident
            .affected_accounts
            .iter()
            .map(|a| a.account.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Some(Self {
            tampered: custody.iter().any(|entry| !entry.intact),
            incident,
            phases,
            custody,
            severities: Severity::NAMES,
            cis_text,
            accounts_text,
            refused: checklist.first_error().map(str::to_owned),
        }))
    }
}

async fn update(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let patch = SecurityPatch {
        severity: form.opt("severity"),
        affected_cis: Some(cis_of(&form)?),
        affected_accounts: Some(accounts_of(&form)),
        override_reason: None,
    };
    state
        .app
        .update_security_incident(&form.principal, &number, patch)
        .await?;
    Ok(back_to(&number, "security"))
}

async fn set_override(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let patch = SecurityPatch {
        override_reason: Some(form.get("override_reason").to_owned()),
        ..SecurityPatch::default()
    };
    state
        .app
        .update_security_incident(&form.principal, &number, patch)
        .await?;
    Ok(back_to(&number, "security"))
}

/// Ticks a runbook item; a refused tick shows the ticket page again (409) with the use
/// case's reason above the runbook.
async fn tick(
    State(state): State<AppState>,
    Path((number, item)): Path<(String, String)>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let ticked = state
        .app
        .tick_security_checklist(&form.principal, &number, &item)
        .await;
    match ticked {
        Ok(_) => Ok(back_to(&number, "security").into_response()),
        Err(error) => {
            let mut page = sent_back(&state, &form, &number, error, |forms, sent| {
                forms.checklist = sent;
            })
            .await?;
            // Refused rather than mistaken: the page answers as the API does.
            *page.status_mut() = StatusCode::CONFLICT;
            Ok(page)
        }
    }
}
