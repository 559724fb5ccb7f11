//! The self-service portal: customers follow their organization's tickets, answer them,
//! and open new ones through a guided form (category first, then its diagnostic questions).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::portal::{CategoryQuestion, PortalRequest};
use opsdesk_app::tickets::{Category, NewComment, Ticket};
use opsdesk_app::{AppError, FieldError};
use opsdesk_domain::ticket::Urgency;
use serde::Deserialize;

use super::agent::{Item, Row, encode, timeline};
use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal", get(home))
        .route("/portal/new", get(new_ticket).post(open_ticket))
        .route("/portal/tickets/{number}", get(show))
        .route("/portal/tickets/{number}/reply", post(reply))
}

/// Tickets listed on the portal's front page, most recently updated first.
const HOME_LIMIT: i64 = 50;

#[derive(Template)]
#[template(path = "portal_home.html")]
struct HomePage {
    c: Chrome,
    rows: Vec<Row>,
    /// The organization whose public status page the customer is shown.
    status_page: Option<i64>,
}

async fn home(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    let page = state
        .app
        .search_tickets(&principal, "sort:-updated", None, HOME_LIMIT)
        .await?;
    let c = Chrome::new(&principal, Lang.t("portal.title"));
    Ok(render(&HomePage {
        rows: page
            .items
            .iter()
            .map(|hit| Row::of(&hit.ticket, state.app.now(), &c.l))
            .collect(),
        c,
        status_page: principal.organization_id,
    }))
}

#[derive(Template)]
#[template(path = "portal_category.html")]
struct CategoryStep {
    c: Chrome,
    categories: Vec<Category>,
}

/// A question with what the customer typed so far and what is wrong with it.
struct Asked {
    q: CategoryQuestion,
    answer: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "portal_new.html")]
struct QuestionStep {
    c: Chrome,
    category: String,
    asked: Vec<Asked>,
    title: String,
    description: String,
    urgency: String,
    urgencies: &'static [&'static str],
    errors: Vec<FieldError>,
    /// This visit to the form, so that the articles shown and whether it ended with a
    /// ticket are counted together (portal deflection).
    visit: String,
}

#[derive(Deserialize)]
struct Step {
    category: Option<String>,
}

async fn new_ticket(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(step): Query<Step>,
) -> Result<Response, WebError> {
    let Some(category) = step.category.filter(|c| !c.trim().is_empty()) else {
        return Ok(render(&CategoryStep {
            c: Chrome::new(&principal, Lang.t("portal.new.title")),
            categories: state.app.categories().await?,
        }));
    };
    let questions = state.app.category_questions(Some(&category)).await?;
    Ok(render(&QuestionStep {
        c: Chrome::new(&principal, Lang.t("portal.new.title")),
        category,
        asked: questions
            .into_iter()
            .map(|q| Asked {
                q,
                answer: String::new(),
                error: None,
            })
            .collect(),
        title: String::new(),
        description: String::new(),
        urgency: "medium".into(),
        urgencies: Urgency::NAMES,
        errors: Vec::new(),
        visit: uuid::Uuid::new_v4().simple().to_string(),
    }))
}

async fn open_ticket(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let category = form.get("category").to_owned();
    let questions = state.app.category_questions(Some(&category)).await?;
    let answer_of = |id: i64| form.get(&format!("answer_{id}")).to_owned();
    let request = PortalRequest {
        category: category.clone(),
        title: form.get("title").to_owned(),
        description: form.get("description").to_owned(),
        urgency: form.get("urgency").to_owned(),
        answers: questions.iter().map(|q| (q.id, answer_of(q.id))).collect(),
    };
    match state.app.open_portal_ticket(&form.principal, request).await {
        Ok(ticket) => {
            state
                .app
                .portal_visit_submitted(&form.principal, form.get("visit"))
                .await?;
            Ok(
                Redirect::to(&format!("/portal/tickets/{}", encode(&ticket.number)))
                    .into_response(),
            )
        }
        // Mistakes come back on the same form, with what was typed kept.
        Err(AppError::Invalid(errors)) => {
            let mut c = Chrome::new(&form.principal, Lang.t("portal.new.title"));
            c.notice = Some(Lang.t("form.fix_errors").to_owned());
            let asked = questions
                .into_iter()
                .map(|q| {
                    let field = format!("answers.{}", q.id);
                    Asked {
                        answer: answer_of(q.id),
                        error: errors
                            .iter()
                            .find(|e| e.field == field)
                            .map(|e| e.message.clone()),
                        q,
                    }
                })
                .collect();
            let page = QuestionStep {
                c,
                category,
                asked,
                title: form.get("title").to_owned(),
                description: form.get("description").to_owned(),
                urgency: form.get("urgency").to_owned(),
                urgencies: Urgency::NAMES,
                errors: errors
                    .into_iter()
                    .filter(|e| !e.field.starts_with("answers."))
                    .collect(),
                visit: form.get("visit").to_owned(),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "portal_ticket.html")]
struct TicketPage {
    c: Chrome,
    t: Ticket,
    /// The description as safe HTML (written in Markdown).
    description: String,
    items: Vec<Item>,
    /// The satisfaction survey's form, once the ticket is resolved.
    rating: Option<super::surveys::RatingForm>,
}

async fn show(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(number): Path<String>,
) -> Result<Response, WebError> {
    // Another organization's ticket is "not found", exactly like one that does not exist.
    let t = state.app.ticket(&principal, &number).await?;
    let items = timeline(&state, &principal, &t.number).await?;
    let c = Chrome::new(&principal, format!("{} {}", t.number, t.title));
    let rating = super::surveys::portal_rating(&state, &principal, &t, &c.csrf).await?;
    Ok(render(&TicketPage {
        c,
        rating,
        description: super::markdown::to_html(&t.description),
        t,
        items,
    }))
}

async fn reply(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let comment = state
        .app
        .add_comment(
            &form.principal,
            &number,
            NewComment {
                body: form.get("body").to_owned(),
                public: true,
                time_spent_minutes: None,
            },
        )
        .await?;
    super::attach_uploads(&state, &form, &number, &comment).await?;
    Ok(Redirect::to(&format!(
        "/portal/tickets/{}#timeline",
        encode(&number)
    )))
}
