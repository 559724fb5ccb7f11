//! Problem management pages: the problem panel of a problem's ticket page (its incidents and
//! its root-cause analysis), and the candidate problems that repeat incidents suggest.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::problems::{
    NewProblemAnalysis, ProblemAnalysis, ProblemCandidate, ProblemIncident,
};
use opsdesk_app::tickets::{NewTicket, Ticket};
use opsdesk_app::{AppError, Principal};
use opsdesk_domain::ticket::TicketType;

use super::agent::{back_to, encode};
use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/problems/candidates", get(candidates))
        .route("/problems/candidates/open", post(open_problem))
        .route("/tickets/{number}/problem/incidents", post(link_incidents))
        .route("/tickets/{number}/problem/analysis", post(save_analysis))
}

/// Answers to "why?" the analysis form offers at least: the five of the method.
const WHY_FIELDS: usize = 5;
/// Where publishing a known error can go; `none` leaves its article as it is.
const PUBLISH_CHOICES: &[&str] = &["none", "internal", "public"];

/// What the ticket page shows about problems: for a problem its incidents and analysis,
/// for another ticket the problems it is linked to.
pub(crate) enum ProblemPanel {
    Problem {
        incidents: Vec<ProblemIncident>,
        analysis: ProblemAnalysis,
        /// The answers so far, padded with empty ones to at least five fields.
        whys: Vec<String>,
        publish_choices: &'static [&'static str],
    },
    CausedBy(Vec<ProblemIncident>),
}

impl ProblemPanel {
    pub(crate) async fn load(
        state: &AppState,
        principal: &Principal,
        ticket: &Ticket,
    ) -> Result<Self, AppError> {
        if ticket.ticket_type != TicketType::Problem {
            let problems = state.app.ticket_problems(principal, &ticket.number).await?;
            return Ok(Self::CausedBy(problems));
        }
        let incidents = state
            .app
            .problem_incidents(principal, &ticket.number)
            .await?;
        let analysis = state
            .app
            .problem_analysis(principal, &ticket.number)
            .await?;
        let mut whys = analysis.whys.clone();
        whys.resize(whys.len().max(WHY_FIELDS), String::new());
        Ok(Self::Problem {
            incidents,
            analysis,
            whys,
            publish_choices: PUBLISH_CHOICES,
        })
    }
}

/// Links the incidents typed into the problem panel: numbers separated by spaces or commas.
async fn link_incidents(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let incidents = form
        .get("incidents")
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(str::to_owned)
        .collect();
    state
        .app
        .link_problem_incidents(&form.principal, &number, incidents)
        .await?;
    Ok(back_to(&number, "problem"))
}

async fn save_analysis(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let input = NewProblemAnalysis {
        whys: form.all("whys"),
        contributing_factors: form.get("contributing_factors").to_owned(),
        root_cause: form.get("root_cause").to_owned(),
        workaround: form.get("workaround").to_owned(),
        known_error: form.get("known_error") == "on",
        publish: form.opt("publish"),
    };
    state
        .app
        .save_problem_analysis(&form.principal, &number, input)
        .await?;
    Ok(back_to(&number, "problem"))
}

#[derive(Template)]
#[template(path = "problem_candidates.html")]
struct CandidatesPage {
    c: Chrome,
    candidates: Vec<ProblemCandidate>,
}

async fn candidates(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    let candidates = state.app.problem_candidates(&principal).await?;
    let c = Chrome::new(&principal, Lang.t("problem.candidates"));
    Ok(render(&CandidatesPage { c, candidates }).into_response())
}

/// Opens a problem for a candidate, titled after its item or category, with its incidents
/// linked, and shows it.
async fn open_problem(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let incidents = form.all("incidents");
    let title = Lang
        .t("problem.candidates.problem_title")
        .replace("{name}", form.get("name"));
    let description = Lang
        .t("problem.candidates.problem_description")
        .replace("{incidents}", &incidents.join(", "));
    let problem = state
        .app
        .create_ticket(
            &form.principal,
            NewTicket {
                ticket_type: TicketType::Problem.as_str().to_owned(),
                title,
                description,
                impact: "medium".to_owned(),
                urgency: "medium".to_owned(),
                source: Some("web".to_owned()),
                ..NewTicket::default()
            },
        )
        .await?;
    state
        .app
        .link_problem_incidents(&form.principal, &problem.number, incidents)
        .await?;
    Ok(Redirect::to(&format!(
        "/tickets/{}#problem",
        encode(&problem.number)
    )))
}
