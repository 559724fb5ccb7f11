//! Paging in the web UI: the page of an incident acted on from the ticket, from the on-call
//! page, or from the link mailed to whoever was paged (which needs no session: the link's
//! secret says who they are); and escalation policies made by admins.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::AppError;
use opsdesk_app::paging::{NewEscalationPolicy, Page};
use opsdesk_domain::escalation::{Level, PageAction, Target};

use super::{Chrome, SignedForm, WebError, render};
use crate::AppState;

/// Levels the policy form offers.
pub(super) const FORM_LEVELS: [usize; 3] = [1, 2, 3];

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/page/{token}", get(by_link).post(act_by_link))
        .route("/tickets/{number}/page", post(act))
        .route("/on-call/policies", post(create_policy))
}

#[derive(Template)]
#[template(path = "page_link.html")]
struct PageLink {
    c: Chrome,
    p: Page,
    action: String,
}

fn action_of(fields: &[(String, String)]) -> Result<PageAction, AppError> {
    fields
        .iter()
        .find(|(key, _)| key == "action")
        .and_then(|(_, value)| value.parse().ok())
        .ok_or_else(|| AppError::invalid("action", "acknowledge, escalate or resolve"))
}

async fn by_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let (principal, page) = state.app.page_by_link(&token).await?;
    Ok(render(&PageLink {
        c: Chrome::new(&principal, format!("{} {}", page.incident, page.title)),
        p: page,
        action: format!("/page/{token}"),
    }))
}

/// Acts on the page the link is for. No session or CSRF token: the link's secret is the
/// credential, and another site cannot know it.
async fn act_by_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Redirect, WebError> {
    state.app.act_by_link(&token, action_of(&fields)?).await?;
    Ok(Redirect::to(&format!("/page/{token}")))
}

async fn act(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let page = state
        .app
        .act_on_page(&form.principal, &number, action_of(&form.fields)?)
        .await?;
    // Acted on from the on-call page: back there; else back to the ticket.
    if form.get("back") == "/on-call" {
        return Ok(Redirect::to("/on-call"));
    }
    Ok(Redirect::to(&format!(
        "/tickets/{}",
        super::agent::encode(&page.incident)
    )))
}

/// A target as the policy form's options write it: `schedule:<id>` or `user:<e-mail>`.
fn target_of(value: &str) -> Option<Target> {
    match value.split_once(':')? {
        ("schedule", id) => id.parse().ok().map(Target::Schedule),
        ("user", email) => Some(Target::User(email.to_owned())),
        _ => None,
    }
}

async fn create_policy(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let mut levels = Vec::new();
    for n in FORM_LEVELS {
        let targets: Vec<Target> = form
            .all(&format!("target{n}"))
            .iter()
            .filter_map(|value| target_of(value))
            .collect();
        if targets.is_empty() {
            continue;
        }
        let wait_minutes = form
            .get(&format!("wait{n}"))
            .parse()
            .map_err(|_| AppError::invalid(format!("wait{n}"), "must be a number of minutes"))?;
        levels.push(Level {
            targets,
            wait_minutes,
            round_robin: form.get(&format!("round_robin{n}")) == "on",
        });
    }
    let repeat = form.opt("repeat").map_or(Ok(0), |r| {
        r.parse()
            .map_err(|_| AppError::invalid("repeat", "must be a number"))
    })?;
    let input = NewEscalationPolicy {
        name: form.get("name").to_owned(),
        levels,
        repeat,
        chat_webhook_url: form.opt("chat_webhook_url"),
    };
    state
        .app
        .create_escalation_policy(&form.principal, input)
        .await?;
    Ok(Redirect::to("/on-call"))
}

/// The page of a ticket when it has one, for the ticket view (incidents only).
pub(super) async fn of_ticket(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    ticket: &opsdesk_app::tickets::Ticket,
) -> Result<Option<Page>, AppError> {
    if ticket.ticket_type != opsdesk_domain::ticket::TicketType::Incident {
        return Ok(None);
    }
    state.app.page(principal, &ticket.number).await
}
