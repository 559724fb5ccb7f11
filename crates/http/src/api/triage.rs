//! The triage assistant: suggestions for a new ticket, training, and the model in service.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use opsdesk_app::tickets::Ticket;
use opsdesk_app::triage::{
    AlikeIncident, ThresholdInput, TriageInput, TriageReport, TriageSuggestion, TriageThreshold,
    TriageVersion, WeeklyAccuracy,
};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Problem;
use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(suggest))
        .routes(routes!(train))
        .routes(routes!(model))
        .routes(routes!(versions))
        .routes(routes!(activate))
        .routes(routes!(thresholds, set_threshold))
        .routes(routes!(accuracy))
        .routes(routes!(alike))
        .routes(routes!(major_incident))
}

/// Suggests a category, group and priority for a ticket (each with a confidence and the
/// words behind it; an empty list when the assistant declines), the most similar past
/// tickets and the articles that may answer it (staff).
#[utoipa::path(post, path = "/api/v1/triage/suggest", tag = "triage", request_body = TriageInput,
    responses((status = 200, body = TriageSuggestion)))]
async fn suggest(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<TriageInput>,
) -> Result<Json<TriageSuggestion>, ApiError> {
    Ok(Json(state.app.suggest_triage(&principal, input).await?))
}

/// Trains a new version on the desk's most recent labelled tickets and puts it in service,
/// reporting the accuracy measured on a fifth held out (admins). 409 while there are too
/// few to learn from.
#[utoipa::path(post, path = "/api/v1/triage/train", tag = "triage",
    responses((status = 200, body = TriageReport), (status = 409, body = Problem)))]
async fn train(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<TriageReport>, ApiError> {
    Ok(Json(state.app.train_triage(&principal).await?))
}

/// The model in service and its report (staff); 404 before the first training.
#[utoipa::path(get, path = "/api/v1/triage/model", tag = "triage",
    responses((status = 200, body = TriageReport), (status = 404, body = Problem)))]
async fn model(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<TriageReport>, ApiError> {
    Ok(Json(state.app.triage_model(&principal).await?))
}

/// The model versions kept, newest first, with the one in service marked (staff).
#[utoipa::path(get, path = "/api/v1/triage/models", tag = "triage",
    responses((status = 200, body = Vec<TriageVersion>)))]
async fn versions(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<TriageVersion>>, ApiError> {
    Ok(Json(state.app.triage_versions(&principal).await?))
}

/// Puts a kept version back in service (admins): a rollback. Every node serves it within a
/// minute.
#[utoipa::path(post, path = "/api/v1/triage/models/{version}/activate", tag = "triage",
    responses((status = 200, body = TriageVersion), (status = 404, body = Problem)))]
async fn activate(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(version): Path<String>,
) -> Result<Json<TriageVersion>, ApiError> {
    Ok(Json(
        state
            .app
            .activate_triage_version(&principal, &version)
            .await?,
    ))
}

/// The categories whose suggestions the assistant applies itself, with their confidence
/// thresholds (staff).
#[utoipa::path(get, path = "/api/v1/triage/thresholds", tag = "triage",
    responses((status = 200, body = Vec<TriageThreshold>)))]
async fn thresholds(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<TriageThreshold>>, ApiError> {
    Ok(Json(state.app.triage_thresholds(&principal).await?))
}

/// Sets a category's threshold (0.5 to 1), or removes it with `null` (admins). A new ticket
/// without a category gets the suggested one when the assistant is at least this sure.
#[utoipa::path(put, path = "/api/v1/triage/thresholds", tag = "triage", request_body = ThresholdInput,
    responses((status = 204)))]
async fn set_threshold(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<ThresholdInput>,
) -> Result<StatusCode, ApiError> {
    state.app.set_triage_threshold(&principal, input).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Weeks {
    /// How many weeks back, 1 to 52; 8 when absent.
    #[param(minimum = 1, maximum = 52)]
    weeks: Option<i64>,
}

/// Week by week: the suggestions made for new tickets, those applied automatically, those
/// agents corrected, and the share right (staff).
#[utoipa::path(get, path = "/api/v1/triage/accuracy", tag = "triage", params(Weeks),
    responses((status = 200, body = Vec<WeeklyAccuracy>)))]
async fn accuracy(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(range): ApiQuery<Weeks>,
) -> Result<Json<Vec<WeeklyAccuracy>>, ApiError> {
    Ok(Json(
        state
            .app
            .triage_accuracy(&principal, range.weeks.unwrap_or(8))
            .await?,
    ))
}

/// Open incidents alike to this one, opened within half an hour of it and under no major
/// incident, when there are at least two: a proposal to group them (staff). Empty otherwise.
#[utoipa::path(get, path = "/api/v1/tickets/{number}/alike", tag = "triage",
    responses((status = 200, body = Vec<AlikeIncident>)))]
async fn alike(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<AlikeIncident>>, ApiError> {
    let ticket = state.app.ticket(&principal, &number).await?;
    Ok(Json(
        state
            .app
            .major_incident_proposal(&principal, &ticket)
            .await?,
    ))
}

/// The incidents to group under a new major incident.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Grouped {
    /// Their numbers; the first gives the major incident its title, group and category.
    tickets: Vec<String>,
}

/// Opens a major incident (high impact and urgency) and files the incidents under it
/// (staff): resolving it resolves them.
#[utoipa::path(post, path = "/api/v1/major-incidents", tag = "triage", request_body = Grouped,
    responses((status = 201, body = Ticket)))]
async fn major_incident(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(grouped): ApiJson<Grouped>,
) -> Result<(StatusCode, Json<Ticket>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .app
                .open_major_incident(&principal, &grouped.tickets)
                .await?,
        ),
    ))
}
