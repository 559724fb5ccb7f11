//! The change list with the changes waiting for your vote, how recent changes went, and
//! handing your approvals to someone else for a while.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use jiff::SignedDuration;
use opsdesk_app::changes::{ChangeOutcomes, ChangeQuery, ChangeSummary, Delegation};
use opsdesk_app::{AppError, Principal};
use opsdesk_domain::change::ChangeState;
use serde::Deserialize;

use crate::AppState;
use crate::web::cmdb::{SentForm, text};
use crate::web::monitoring::form_time;
use crate::web::suppliers::{chrome, or_form, status_of};
use crate::web::{Chrome, SignedForm, WebError, WebUser, render};

#[derive(Template)]
#[template(path = "changes.html")]
struct ListPage {
    c: Chrome,
    changes: Vec<ChangeSummary>,
    awaiting: Vec<ChangeSummary>,
    state: String,
    delegation: Option<Delegation>,
    /// How the changes of the last 90 days went.
    outcomes: ChangeOutcomes,
    form: SentForm,
}

impl ListPage {
    fn states(&self) -> &'static [&'static str] {
        ChangeState::NAMES
    }

    fn failure_percent(&self) -> String {
        format!("{:.0}", self.outcomes.failure_rate * 100.0)
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    state: Option<String>,
}

async fn list_page(
    state: &AppState,
    principal: &Principal,
    filter: Option<String>,
    form: SentForm,
) -> Result<Response, WebError> {
    let query = ChangeQuery {
        state: filter.clone().filter(|s| !s.is_empty()),
        before: None,
        limit: 200,
    };
    let changes = state.app.changes(principal, &query).await?;
    let awaiting = state.app.changes_awaiting_vote(principal).await?;
    let delegation = state.app.approval_delegation(principal).await?;
    let now = state.app.now();
    let outcomes = state
        .app
        .change_outcomes(principal, now - SignedDuration::from_hours(24 * 90), now)
        .await?;
    let c = chrome(principal, "change.list", &form);
    Ok((
        status_of(&form),
        render(&ListPage {
            c,
            changes,
            awaiting,
            state: filter.unwrap_or_default(),
            delegation,
            outcomes,
            form,
        }),
    )
        .into_response())
}

pub(super) async fn list(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(query): Query<ListQuery>,
) -> Result<Response, WebError> {
    list_page(&state, &principal, query.state, SentForm::default()).await
}

pub(super) async fn delegate(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut errors = Vec::new();
    let delegation = match text(&form, "delegate") {
        None => None,
        Some(delegate) => {
            form_time(&form, "until", &mut errors).map(|until| Delegation { delegate, until })
        }
    };
    let done = if errors.is_empty() {
        state
            .app
            .set_approval_delegation(&form.principal, delegation)
            .await
    } else {
        Err(AppError::Invalid(errors))
    };
    or_form(
        done,
        &form,
        |_| "/changes".to_owned(),
        |sent| list_page(&state, &form.principal, None, sent),
    )
    .await
}
