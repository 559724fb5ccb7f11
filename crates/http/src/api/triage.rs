//! The triage assistant: suggestions for a new ticket, training, and the model in service.

use axum::Json;
use axum::extract::State;
use opsdesk_app::triage::{TriageInput, TriageReport, TriageSuggestion};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Problem;
use crate::extract::{ApiJson, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(suggest))
        .routes(routes!(train))
        .routes(routes!(model))
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

/// Retrains on the desk's most recent labelled tickets, reporting the accuracy measured on
/// a fifth held out (admins). 409 while there are too few to learn from.
#[utoipa::path(post, path = "/api/v1/triage/train", tag = "triage",
    responses((status = 200, body = TriageReport)))]
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
