//! Automation rules: what they do, whether they run, and dry runs against recent tickets.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use opsdesk_app::automation::{AutomationRule, DryRun, NewRule, RulePatch};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_rule, list_rules))
        .routes(routes!(update_rule))
        .routes(routes!(dry_run_rule))
        .routes(routes!(dry_run_draft))
}

/// Creates a rule (admins). Errors name the field at fault, e.g. `conditions[0].field`.
#[utoipa::path(post, path = "/api/v1/rules", tag = "automation", request_body = NewRule,
    responses((status = 201, body = AutomationRule)))]
async fn create_rule(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewRule>,
) -> Result<(StatusCode, Json<AutomationRule>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_rule(&principal, input).await?),
    ))
}

/// Every rule, with whether it runs, its runs and its last run (staff).
#[utoipa::path(get, path = "/api/v1/rules", tag = "automation",
    responses((status = 200, body = Vec<AutomationRule>)))]
async fn list_rules(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<AutomationRule>>, ApiError> {
    Ok(Json(state.app.rules(&principal).await?))
}

/// Changes a rule (admins): `{"enabled": true}` starts a rule the rate limit stopped again.
#[utoipa::path(patch, path = "/api/v1/rules/{id}", tag = "automation", request_body = RulePatch,
    responses((status = 200, body = AutomationRule)))]
async fn update_rule(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<RulePatch>,
) -> Result<Json<AutomationRule>, ApiError> {
    Ok(Json(state.app.update_rule(&principal, id, patch).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Recent {
    /// How many of the most recent tickets to look at (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// What a saved rule would do to the most recent tickets as they are now, had its event just
/// happened (admins). Writes nothing.
#[utoipa::path(post, path = "/api/v1/rules/{id}/dry-run", tag = "automation", params(Recent),
    responses((status = 200, body = DryRun)))]
async fn dry_run_rule(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiQuery(recent): ApiQuery<Recent>,
) -> Result<Json<DryRun>, ApiError> {
    let limit = recent.limit.unwrap_or(100);
    Ok(Json(state.app.dry_run_rule(&principal, id, limit).await?))
}

/// What a draft rule would do to the most recent tickets (admins). Writes nothing.
#[utoipa::path(post, path = "/api/v1/rules/dry-run", tag = "automation", params(Recent),
    request_body = NewRule, responses((status = 200, body = DryRun)))]
async fn dry_run_draft(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(recent): ApiQuery<Recent>,
    ApiJson(input): ApiJson<NewRule>,
) -> Result<Json<DryRun>, ApiError> {
    let limit = recent.limit.unwrap_or(100);
    Ok(Json(
        state.app.dry_run_draft(&principal, input, limit).await?,
    ))
}
