//! Problem management over HTTP: the incidents a problem caused, its root-cause analysis
//! and known error, and the candidate problems repeat incidents suggest.

use axum::Json;
use axum::extract::{Path, State};
use opsdesk_app::problems::{
    NewProblemAnalysis, ProblemAnalysis, ProblemCandidate, ProblemIncident,
};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(link_incidents, list_incidents))
        .routes(routes!(get_analysis, save_analysis))
        .routes(routes!(list_candidates))
}

/// Incidents to link to a problem.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct IncidentsToLink {
    /// Incident numbers (`INC-42`) or ids, 1 to 100; an incident already linked stays as it
    /// is.
    incidents: Vec<String>,
}

/// Links incidents to a problem as caused by it (staff), with an entry in both tickets'
/// timelines. Answers all the problem's incidents. 404 when the problem is no visible
/// problem; 422 naming `incidents[i]` for an entry that is no visible incident.
#[utoipa::path(post, path = "/api/v1/problems/{id}/incidents", tag = "problems",
    params(("id" = String, Path, description = "Problem number (`PRB-3`) or id")),
    request_body = IncidentsToLink,
    responses((status = 200, body = [ProblemIncident])))]
async fn link_incidents(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<IncidentsToLink>,
) -> Result<Json<Vec<ProblemIncident>>, ApiError> {
    Ok(Json(
        state
            .app
            .link_problem_incidents(&principal, &id, input.incidents)
            .await?,
    ))
}

/// The tickets linked to a problem as caused by it (staff), oldest first.
#[utoipa::path(get, path = "/api/v1/problems/{id}/incidents", tag = "problems",
    params(("id" = String, Path, description = "Problem number (`PRB-3`) or id")),
    responses((status = 200, body = [ProblemIncident])))]
async fn list_incidents(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<ProblemIncident>>, ApiError> {
    Ok(Json(state.app.problem_incidents(&principal, &id).await?))
}

/// A problem's root-cause analysis and known error (staff); empty until written.
#[utoipa::path(get, path = "/api/v1/problems/{id}/analysis", tag = "problems",
    params(("id" = String, Path, description = "Problem number (`PRB-3`) or id")),
    responses((status = 200, body = ProblemAnalysis)))]
async fn get_analysis(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<ProblemAnalysis>, ApiError> {
    Ok(Json(state.app.problem_analysis(&principal, &id).await?))
}

/// Writes a problem's analysis (staff), replacing the one before. A known error with
/// `publish` set is written as a knowledge-base article "Known error: <title>" (or that
/// article is brought up to date) and linked to the problem, in the same transaction;
/// `article_id` names it. An article approver publishes it; anyone else submits it for
/// review.
#[utoipa::path(put, path = "/api/v1/problems/{id}/analysis", tag = "problems",
    params(("id" = String, Path, description = "Problem number (`PRB-3`) or id")),
    request_body = NewProblemAnalysis,
    responses((status = 200, body = ProblemAnalysis)))]
async fn save_analysis(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewProblemAnalysis>,
) -> Result<Json<ProblemAnalysis>, ApiError> {
    Ok(Json(
        state
            .app
            .save_problem_analysis(&principal, &id, input)
            .await?,
    ))
}

/// Candidate problems (staff): configuration items and categories with at least three
/// incidents in the last 30 days that no problem covers, each with those incidents; the
/// most incidents first.
#[utoipa::path(get, path = "/api/v1/problems/candidates", tag = "problems",
    responses((status = 200, body = [ProblemCandidate])))]
async fn list_candidates(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<ProblemCandidate>>, ApiError> {
    Ok(Json(state.app.problem_candidates(&principal).await?))
}
