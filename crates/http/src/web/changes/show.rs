//! A change's page: its plan, conflicts and votes; saving the plan or the review, moving it
//! through its lifecycle, and voting on it.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use opsdesk_app::changes::{Change, ChangeConflict, ChangePatch, NewVote};
use opsdesk_app::{AppError, Precondition, Principal};
use opsdesk_domain::change::{ApprovalStatus, ChangeState, ChangeType, transition};

use super::{ids, risk_answers};
use crate::AppState;
use crate::web::cmdb::SentForm;
use crate::web::monitoring::form_time;
use crate::web::suppliers::{chrome, or_form, status_of};
use crate::web::{Chrome, SignedForm, WebError, WebUser, render};

#[derive(Template)]
#[template(path = "change.html")]
struct ShowPage {
    c: Chrome,
    change: Change,
    conflicts: Vec<ChangeConflict>,
    next: Vec<&'static str>,
    planning: bool,
    form: SentForm,
}

impl ShowPage {
    fn when(&self, at: &Option<Timestamp>) -> String {
        at.map_or_else(|| "—".to_owned(), |t| self.c.l.when(t))
    }

    /// A time for a `datetime-local` field, in the viewer's time zone.
    fn local(&self, at: &Option<Timestamp>) -> String {
        at.map(|t| self.c.l.field(t)).unwrap_or_default()
    }

    fn ci_ids(&self) -> String {
        let ids: Vec<String> = self.change.cis.iter().map(|c| c.id.to_string()).collect();
        ids.join(", ")
    }

    fn entry(&self, data: &serde_json::Value) -> String {
        match data {
            serde_json::Value::Object(map) => map
                .iter()
                .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {other}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        }
    }
}

/// The states a person may move `change` to now.
fn next_states(change: &Change) -> Vec<&'static str> {
    let (Ok(kind), Ok(from), Ok(approval)) = (
        change.change_type.parse::<ChangeType>(),
        change.state.parse::<ChangeState>(),
        change.approval.parse::<ApprovalStatus>(),
    ) else {
        return Vec::new();
    };
    let has_window = change.planned_start.is_some() && change.planned_end.is_some();
    ChangeState::ALL
        .iter()
        .filter(|to| **to != from)
        .filter(|to| transition(kind, from, **to, approval, has_window).is_ok())
        .map(|to| to.as_str())
        .collect()
}

async fn show_page(
    state: &AppState,
    principal: &Principal,
    number: &str,
    form: SentForm,
) -> Result<Response, WebError> {
    let change = state.app.change_by_number(principal, number).await?;
    let conflicts = state.app.change_conflicts(principal, number).await?;
    let mut c = chrome(principal, "change.list", &form);
    c.title = format!("{} {}", change.number, change.title);
    let planning = matches!(change.state.as_str(), "draft" | "assessment");
    Ok((
        status_of(&form),
        render(&ShowPage {
            c,
            next: next_states(&change),
            change,
            conflicts,
            planning,
            form,
        }),
    )
        .into_response())
}

pub(super) async fn show(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(number): Path<String>,
) -> Result<Response, WebError> {
    show_page(&state, &principal, &number, SentForm::default()).await
}

/// Saves the plan (while planning) or the review.
pub(super) async fn update(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut errors = Vec::new();
    let planning = form.get("part") == "plan";
    let mut patch = ChangePatch {
        review: form.opt("review"),
        ..ChangePatch::default()
    };
    if planning {
        patch.title = form.opt("title");
        patch.description = form.opt("description");
        patch.implementer = form.opt("implementer");
        patch.cis = Some(ids(&form, "cis", &mut errors));
        patch.risk_answers = Some(risk_answers(&form)).filter(|a| !a.is_empty());
        patch.implementation_plan = form.opt("implementation_plan");
        patch.test_plan = form.opt("test_plan");
        patch.backout_plan = form.opt("backout_plan");
        patch.planned_start = form_time(&form, "planned_start", &mut errors);
        patch.planned_end = form_time(&form, "planned_end", &mut errors);
    }
    let expected = Precondition::from(form.get("version").parse::<i64>().ok());
    let done = if errors.is_empty() {
        state
            .app
            .update_change(&form.principal, &number, expected, patch)
            .await
    } else {
        Err(AppError::Invalid(errors))
    };
    or_form(
        done,
        &form,
        |c| format!("/changes/{}", c.number),
        |sent| show_page(&state, &form.principal, &number, sent),
    )
    .await
}

pub(super) async fn move_state(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let patch = ChangePatch {
        state: form.opt("state"),
        comment: form.opt("comment"),
        ..ChangePatch::default()
    };
    let done = state
        .app
        .update_change(&form.principal, &number, Precondition::Any, patch)
        .await;
    or_form(
        done,
        &form,
        |c| format!("/changes/{}", c.number),
        |sent| show_page(&state, &form.principal, &number, sent),
    )
    .await
}

fn vote_of(form: &SignedForm) -> NewVote {
    NewVote {
        decision: form.get("decision").to_owned(),
        comment: form.get("comment").to_owned(),
    }
}

pub(super) async fn vote(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let done = state
        .app
        .vote_on_change(&form.principal, &number, vote_of(&form))
        .await;
    or_form(
        done,
        &form,
        |c| format!("/changes/{}", c.number),
        |sent| show_page(&state, &form.principal, &number, sent),
    )
    .await
}
