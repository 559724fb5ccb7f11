//! Satisfaction surveys over HTTP: the answers and their summary over a time range, the
//! requester's rating of a resolved ticket, the survey settings and the groups' leads.

use axum::Json;
use axum::extract::{Path, State};
use opsdesk_app::surveys::{
    GroupLead, NewGroupLead, Rating, Survey, SurveyQuery, SurveySettings, SurveySummary,
};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiQuery, Auth, ListParams, Page};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_surveys))
        .routes(routes!(summary))
        .routes(routes!(ticket_rating, rate_ticket))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(list_group_leads))
        .routes(routes!(set_group_lead))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SurveyParams {
    /// Sent at or after this RFC 3339 time; 30 days before `to` when absent.
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<jiff::Timestamp>,
    /// Sent before this RFC 3339 time; now when absent.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<jiff::Timestamp>,
    /// Only this organization's (by id).
    organization: Option<i64>,
    /// Only answers with this score, 1 to 5.
    #[param(minimum = 1, maximum = 5)]
    score: Option<i64>,
    cursor: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// Satisfaction surveys sent in a time range, newest first, answered or not: staff see
/// those of the organizations they may see, a customer their organization's. Another
/// organization named in `organization` is 404.
#[utoipa::path(get, path = "/api/v1/surveys", tag = "surveys", params(SurveyParams),
    responses((status = 200, body = Page<Survey>)))]
async fn list_surveys(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<SurveyParams>,
) -> Result<Json<Page<Survey>>, ApiError> {
    let (before, limit) = ListParams {
        cursor: params.cursor,
        limit: params.limit,
    }
    .resolve_newest_first()?;
    let query = SurveyQuery {
        from: params.from,
        to: params.to,
        organization: params.organization,
        score: params.score,
    };
    let items = state
        .app
        .surveys(&principal, &query, before, limit + 1)
        .await?;
    Ok(Json(Page::from_overfetch(items, limit, |s| s.id)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SummaryParams {
    /// Sent at or after this RFC 3339 time; 30 days before `to` when absent.
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<jiff::Timestamp>,
    /// Sent before this RFC 3339 time; now when absent.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<jiff::Timestamp>,
    /// Only this organization's (by id).
    organization: Option<i64>,
}

/// The surveys sent in a time range added up: how many were sent and answered, the mean
/// score, how many gave each score, and CSAT (the share of answers scoring 4 or 5), for the
/// organizations the caller may see.
#[utoipa::path(get, path = "/api/v1/surveys/summary", tag = "surveys", params(SummaryParams),
    responses((status = 200, body = SurveySummary)))]
async fn summary(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<SummaryParams>,
) -> Result<Json<SurveySummary>, ApiError> {
    let to = params.to.unwrap_or_else(|| state.app.now());
    let from = params
        .from
        .unwrap_or_else(|| to - jiff::SignedDuration::from_hours(24 * 30));
    Ok(Json(
        state
            .app
            .satisfaction_summary(&principal, from..to, params.organization)
            .await?,
    ))
}

/// The latest satisfaction survey of a ticket (its requester, or staff). 404 when the
/// ticket has none.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/rating", tag = "surveys",
    params(("id" = String, Path, description = "Ticket number (`INC-42`) or id")),
    responses((status = 200, body = Survey)))]
async fn ticket_rating(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<Survey>, ApiError> {
    let form = state.app.ticket_survey(&principal, &id).await?;
    Ok(Json(
        form.ok_or(opsdesk_app::AppError::NotFound("survey"))?
            .survey,
    ))
}

/// Rates the resolution of a resolved or closed ticket, 1 to 5 with an optional comment (its
/// requester); a rating can be changed until the survey closes, 30 days after the
/// resolution (409 after). A score out of range is 422 naming `score`.
#[utoipa::path(put, path = "/api/v1/tickets/{id}/rating", tag = "surveys",
    params(("id" = String, Path, description = "Ticket number (`INC-42`) or id")),
    request_body = Rating,
    responses((status = 200, body = Survey)))]
async fn rate_ticket(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiJson(rating): ApiJson<Rating>,
) -> Result<Json<Survey>, ApiError> {
    Ok(Json(state.app.rate_ticket(&principal, &id, rating).await?))
}

/// The survey settings (admins).
#[utoipa::path(get, path = "/api/v1/survey-settings", tag = "surveys",
    responses((status = 200, body = SurveySettings)))]
async fn get_settings(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<SurveySettings>, ApiError> {
    Ok(Json(state.app.survey_settings(&principal).await?))
}

/// Replaces the survey settings (admins): whether resolving a ticket offers a survey, for
/// which ticket types, and the score at or below which the group's lead is mailed.
#[utoipa::path(put, path = "/api/v1/survey-settings", tag = "surveys",
    request_body = SurveySettings,
    responses((status = 200, body = SurveySettings)))]
async fn put_settings(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(settings): ApiJson<SurveySettings>,
) -> Result<Json<SurveySettings>, ApiError> {
    Ok(Json(
        state.app.set_survey_settings(&principal, settings).await?,
    ))
}

/// Every group with its lead, by name (staff).
#[utoipa::path(get, path = "/api/v1/group-leads", tag = "surveys",
    responses((status = 200, body = Vec<GroupLead>)))]
async fn list_group_leads(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<GroupLead>>, ApiError> {
    Ok(Json(state.app.group_leads(&principal).await?))
}

/// Sets or clears a group's lead (admins), whom the group's low satisfaction scores are
/// mailed to; without a lead they go to the group's members.
#[utoipa::path(put, path = "/api/v1/groups/{id}/lead", tag = "surveys",
    params(("id" = i64, Path, description = "The group's id")),
    request_body = NewGroupLead,
    responses((status = 200, body = GroupLead)))]
async fn set_group_lead(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<NewGroupLead>,
) -> Result<Json<GroupLead>, ApiError> {
    Ok(Json(
        state.app.set_group_lead(&principal, id, input.lead).await?,
    ))
}
