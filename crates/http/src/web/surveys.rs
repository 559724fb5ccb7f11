//! Satisfaction survey pages: the page a mailed score link opens without a session, the
//! rating form on a resolved ticket in the portal, and the admins' survey settings with the
//! groups' leads.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::surveys::{GroupLead, Rating, SurveyForm, SurveySettings};
use opsdesk_app::tickets::Ticket;
use opsdesk_app::{AppError, Principal};
use opsdesk_domain::ticket::{TicketStatus, TicketType};
use serde::Deserialize;

use super::agent::encode;
use super::{Chrome, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/survey/{token}", get(by_link).post(rate_by_link))
        .route("/portal/tickets/{number}/rating", post(rate_in_portal))
        .route("/admin/surveys", get(settings).post(save_settings))
        .route("/admin/surveys/leads/{id}", post(save_lead))
}

/// The rating form as a page shows it: the survey, where the form posts, the score chosen
/// and the comment typed, and what was wrong with them.
pub(super) struct RatingForm {
    pub form: SurveyForm,
    pub action: String,
    /// The CSRF token of a signed-in form; the mailed link's secret is its own credential.
    pub csrf: Option<String>,
    pub chosen: i64,
    pub comment: String,
    pub error: Option<String>,
    /// The answer was just saved.
    pub sent: bool,
}

impl RatingForm {
    fn new(form: SurveyForm, action: String, csrf: Option<String>) -> Self {
        RatingForm {
            chosen: form.survey.score.unwrap_or(0),
            comment: form.survey.comment.clone(),
            form,
            action,
            csrf,
            error: None,
            sent: false,
        }
    }

    pub(super) fn scores(&self) -> [i64; 5] {
        [1, 2, 3, 4, 5]
    }

    pub(super) fn is_chosen(&self, score: &i64) -> bool {
        *score == self.chosen
    }
}

/// The rating form of a portal ticket: for its requester, once resolved or closed and
/// surveyed.
pub(super) async fn portal_rating(
    state: &AppState,
    principal: &Principal,
    ticket: &Ticket,
    csrf: &str,
) -> Result<Option<RatingForm>, WebError> {
    if !matches!(ticket.status, TicketStatus::Resolved | TicketStatus::Closed) {
        return Ok(None);
    }
    let action = format!("/portal/tickets/{}/rating", encode(&ticket.number));
    Ok(state
        .app
        .ticket_survey(principal, &ticket.number)
        .await?
        .filter(|_| principal.user_id.is_some() && !principal.role.is_staff())
        .map(|form| RatingForm::new(form, action, Some(csrf.to_owned()))))
}

/// A rating typed into a form: a score that is no number is out of range, 422 naming it.
fn typed_rating(fields: &[(String, String)]) -> Rating {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    Rating {
        score: field("score").parse().unwrap_or(0),
        comment: field("comment"),
    }
}

#[derive(Template)]
#[template(path = "survey.html")]
struct LinkPage {
    c: Chrome,
    rating: RatingForm,
}

#[derive(Debug, Default, Deserialize)]
struct LinkQuery {
    /// The score the mailed link chose; anything else preselects nothing.
    score: Option<String>,
    /// Set after an answer was saved.
    sent: Option<String>,
}

async fn by_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<LinkQuery>,
) -> Result<Response, WebError> {
    let form = state.app.survey_by_link(&token).await?;
    let mut rating = RatingForm::new(form, format!("/survey/{token}"), None);
    if let Some(score) = query.score.and_then(|s| s.parse::<i64>().ok())
        && (1..=5).contains(&score)
    {
        rating.chosen = score;
    }
    rating.sent = query.sent.is_some();
    Ok(link_page(rating, StatusCode::OK))
}

fn link_page(rating: RatingForm, status: StatusCode) -> Response {
    let survey = &rating.form.survey;
    let c = Chrome::anonymous(&format!("{} {}", survey.ticket, survey.title));
    (status, render(&LinkPage { c, rating })).into_response()
}

/// Answers as the requester the link was mailed to. No session or CSRF token: the link's
/// secret is the credential, and another site cannot know it. A GET only shows the form,
/// so a mail scanner that follows the score links records nothing.
async fn rate_by_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let rating = typed_rating(&fields);
    let (chosen, comment) = (rating.score, rating.comment.clone());
    let (error, status) = match state.app.rate_by_link(&token, rating).await {
        Ok(_) => return Ok(Redirect::to(&format!("/survey/{token}?sent=1")).into_response()),
        Err(error @ (AppError::Invalid(_) | AppError::Conflict { .. })) => {
            let status = crate::error::class_of(&error).status;
            (crate::error::error_detail(&error), status)
        }
        Err(other) => return Err(other.into()),
    };
    let form = state.app.survey_by_link(&token).await?;
    let mut rating = RatingForm::new(form, format!("/survey/{token}"), None);
    rating.chosen = chosen;
    rating.comment = comment;
    rating.error = Some(error);
    Ok(link_page(rating, status))
}

async fn rate_in_portal(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state
        .app
        .rate_ticket(&form.principal, &number, typed_rating(&form.fields))
        .await?;
    Ok(Redirect::to(&format!(
        "/portal/tickets/{}#rating",
        encode(&number)
    )))
}

#[derive(Template)]
#[template(path = "survey_admin.html")]
struct SettingsPage {
    c: Chrome,
    settings: SurveySettings,
    leads: Vec<GroupLead>,
}

impl SettingsPage {
    fn ticket_types(&self) -> [&'static str; 3] {
        [
            TicketType::Incident.as_str(),
            TicketType::ServiceRequest.as_str(),
            TicketType::Problem.as_str(),
        ]
    }

    fn surveys(&self, kind: &str) -> bool {
        self.settings.ticket_types.iter().any(|t| t == kind)
    }

    fn thresholds(&self) -> [i64; 5] {
        [0, 1, 2, 3, 4]
    }

    fn is_threshold(&self, value: &i64) -> bool {
        *value == self.settings.low_score_threshold
    }
}

async fn settings(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    let settings = state.app.survey_settings(&principal).await?;
    let leads = state.app.group_leads(&principal).await?;
    Ok(render(&SettingsPage {
        c: Chrome::new(&principal, super::Lang.t("admin.surveys")),
        settings,
        leads,
    }))
}

async fn save_settings(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let settings = SurveySettings {
        enabled: form.get("enabled") == "1",
        ticket_types: form
            .fields
            .iter()
            .filter(|(k, _)| k == "ticket_types")
            .map(|(_, v)| v.clone())
            .collect(),
        low_score_threshold: form.get("low_score_threshold").parse().unwrap_or(-1),
    };
    state
        .app
        .set_survey_settings(&form.principal, settings)
        .await?;
    Ok(Redirect::to("/admin/surveys"))
}

async fn save_lead(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let lead = Some(form.get("lead").to_owned()).filter(|l| !l.is_empty());
    state.app.set_group_lead(&form.principal, id, lead).await?;
    Ok(Redirect::to("/admin/surveys"))
}
