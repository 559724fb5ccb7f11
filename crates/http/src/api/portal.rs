//! The portal: diagnostic questions per category (kept by admins), the suggestions shown
//! while a customer describes a problem, and how many visits they deflected.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use opsdesk_app::deflection::{DeflectionLine, PortalSuggestions};
use opsdesk_app::portal::{CategoryQuestion, NewCategoryQuestion};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_question, list_questions))
        .routes(routes!(delete_question))
        .routes(routes!(suggestions))
        .routes(routes!(deflection))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Typed {
    /// What the customer has typed so far.
    q: String,
    /// The portal form's visit token (16 to 64 letters and digits): the visit is kept for
    /// the deflection report.
    visit: Option<String>,
    /// The category chosen on the portal, by path.
    category: Option<String>,
}

/// The published articles that may answer what a customer is typing, and how many alike
/// incidents their organization reported in the last 24 hours (0 below 3).
#[utoipa::path(get, path = "/api/v1/portal/suggestions", tag = "portal", params(Typed),
    responses((status = 200, body = PortalSuggestions)))]
async fn suggestions(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(typed): ApiQuery<Typed>,
) -> Result<Json<PortalSuggestions>, ApiError> {
    Ok(Json(
        state
            .app
            .portal_suggestions(
                &principal,
                typed.visit.as_deref(),
                typed.category.as_deref(),
                &typed.q,
            )
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Period {
    /// Visits of the last this many days, 1 to 366; 30 when absent.
    #[param(minimum = 1, maximum = 366)]
    days: Option<i64>,
}

/// Per category: portal visits that showed articles, those that ended with a ticket, those
/// followed by a ticket or mail within 7 days, and those deflected (staff).
#[utoipa::path(get, path = "/api/v1/portal/deflection", tag = "portal", params(Period),
    responses((status = 200, body = Vec<DeflectionLine>)))]
async fn deflection(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(period): ApiQuery<Period>,
) -> Result<Json<Vec<DeflectionLine>>, ApiError> {
    Ok(Json(
        state
            .app
            .deflection_report(&principal, period.days.unwrap_or(30))
            .await?,
    ))
}

/// Adds a question the portal asks when a ticket is opened in the category (admins).
#[utoipa::path(post, path = "/api/v1/category-questions", tag = "reference",
    request_body = NewCategoryQuestion,
    responses((status = 201, body = CategoryQuestion)))]
async fn create_question(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewCategoryQuestion>,
) -> Result<(StatusCode, Json<CategoryQuestion>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .app
                .create_category_question(&principal, input)
                .await?,
        ),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct QuestionFilter {
    /// A category path: only its questions.
    category: Option<String>,
}

/// Diagnostic questions in the order the portal asks them.
#[utoipa::path(get, path = "/api/v1/category-questions", tag = "reference", params(QuestionFilter),
    responses((status = 200, body = Vec<CategoryQuestion>)))]
async fn list_questions(
    State(state): State<AppState>,
    Auth(_principal): Auth,
    ApiQuery(filter): ApiQuery<QuestionFilter>,
) -> Result<Json<Vec<CategoryQuestion>>, ApiError> {
    Ok(Json(
        state
            .app
            .category_questions(filter.category.as_deref())
            .await?,
    ))
}

/// Removes a diagnostic question (admins); answers on existing tickets stay.
#[utoipa::path(delete, path = "/api/v1/category-questions/{id}", tag = "reference",
    responses((status = 204)))]
async fn delete_question(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_category_question(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
