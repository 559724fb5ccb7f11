//! The portal's diagnostic questions per category, kept by admins.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
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
