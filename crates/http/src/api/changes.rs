//! Changes over HTTP: templates, changes and their lifecycle, votes, conflicts, freeze
//! periods, the calendar (JSON or iCalendar), and what changed before an incident.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use opsdesk_app::changes::{
    Change, ChangeCalendar, ChangeConflict, ChangeOutcomes, ChangePatch, ChangeQuery,
    ChangeSummary, ChangeTemplate, Delegation, FreezeWindow, NewChange, NewChangeTemplate,
    NewFreezeWindow, NewPatchCampaign, NewVote, WhatChanged,
};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::tagged;
use crate::extract::{ApiJson, ApiQuery, Auth, IfMatch};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_change, list_changes))
        .routes(routes!(get_change, update_change))
        .routes(routes!(vote))
        .routes(routes!(conflicts))
        .routes(routes!(calendar))
        .routes(routes!(outcomes))
        .routes(routes!(create_template, list_templates))
        .routes(routes!(create_freeze, list_freezes))
        .routes(routes!(delete_freeze))
        .routes(routes!(get_delegation, set_delegation, end_delegation))
        .routes(routes!(what_changed))
        .routes(routes!(plan_patch_campaign))
}

/// Creates a change in draft (staff): from a template by name (its questionnaire, board and
/// plans), with its affected items, risk answers, plans and planned window.
#[utoipa::path(post, path = "/api/v1/changes", tag = "changes", request_body = NewChange,
    responses((status = 201, body = Change)))]
async fn create_change(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewChange>,
) -> Result<Response, ApiError> {
    let change = state.app.create_change(&principal, input).await?;
    Ok(tagged(StatusCode::CREATED, change.version, change))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ChangeListQuery {
    /// Only changes in this state.
    state: Option<String>,
    /// Only changes with a lower id: the last id of the previous page.
    before: Option<i64>,
    /// 1 to 500; 50 when absent.
    limit: Option<i64>,
}

/// Changes, the newest first (staff; those of the organizations you see).
#[utoipa::path(get, path = "/api/v1/changes", tag = "changes", params(ChangeListQuery),
    responses((status = 200, body = [ChangeSummary])))]
async fn list_changes(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(query): ApiQuery<ChangeListQuery>,
) -> Result<Json<Vec<ChangeSummary>>, ApiError> {
    let query = ChangeQuery {
        state: query.state,
        before: query.before,
        limit: query.limit.unwrap_or(50),
    };
    Ok(Json(state.app.changes(&principal, &query).await?))
}

/// A change by number (`CHG-42`) or id, with its items, votes, linked incidents and
/// timeline, and its ETag.
#[utoipa::path(get, path = "/api/v1/changes/{id}", tag = "changes",
    params(("id" = String, Path)), responses((status = 200, body = Change)))]
async fn get_change(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let change = state.app.change_by_number(&principal, &id).await?;
    Ok(tagged(StatusCode::OK, change.version, change))
}

/// Changes a change (staff): its plan while in draft or assessment, its review, and its
/// `state` along the lifecycle (`draft → assessment → approval → scheduled → implementing
/// → review → closed`, or `rejected`, `cancelled`, `failed`). Approval moves a normal
/// change to scheduled, never a PATCH; an illegal move is a 409.
#[utoipa::path(patch, path = "/api/v1/changes/{id}", tag = "changes",
    params(("id" = String, Path)), request_body = ChangePatch,
    responses((status = 200, body = Change)))]
async fn update_change(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<ChangePatch>,
) -> Result<Response, ApiError> {
    let change = state
        .app
        .update_change(&principal, &id, version, patch)
        .await?;
    Ok(tagged(StatusCode::OK, change.version, change))
}

/// Votes on a change waiting for approval: `{"decision": "approve|reject", "comment"}`
/// (a member of its board, a member's delegate, or its named approver; a rejection says
/// why). The vote that decides moves the change on.
#[utoipa::path(post, path = "/api/v1/changes/{id}/approvals", tag = "changes",
    params(("id" = String, Path)), request_body = NewVote,
    responses((status = 200, body = Change)))]
async fn vote(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewVote>,
) -> Result<Json<Change>, ApiError> {
    Ok(Json(
        state.app.vote_on_change(&principal, &id, input).await?,
    ))
}

/// The conflicts of a change's window: other planned changes on the same or related
/// items, freeze or blackout periods, and its implementer's other bookings.
#[utoipa::path(get, path = "/api/v1/changes/{id}/conflicts", tag = "changes",
    params(("id" = String, Path)), responses((status = 200, body = [ChangeConflict])))]
async fn conflicts(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<ChangeConflict>>, ApiError> {
    Ok(Json(state.app.change_conflicts(&principal, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Range {
    /// Start of the range (RFC 3339).
    #[param(value_type = String, format = DateTime)]
    from: Timestamp,
    /// End of the range, at most 400 days later.
    #[param(value_type = String, format = DateTime)]
    to: Timestamp,
}

/// The change calendar over a range: changes with their conflicts, and freeze periods.
/// Answers `text/calendar` (iCalendar) when the request accepts it, JSON otherwise.
#[utoipa::path(get, path = "/api/v1/changes/calendar", tag = "changes", params(Range),
    responses((status = 200, content(
        (ChangeCalendar = "application/json"),
        (String = "text/calendar"),
    ))))]
async fn calendar(
    State(state): State<AppState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Response, ApiError> {
    let wants_ical = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/calendar"));
    if wants_ical {
        let ics = state
            .app
            .change_calendar_ical(&principal, range.from, range.to)
            .await?;
        return Ok((
            [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
            ics,
        )
            .into_response());
    }
    Ok(Json(
        state
            .app
            .change_calendar(&principal, range.from, range.to)
            .await?,
    )
    .into_response())
}

/// How the changes whose window ended in a range went: finished, failed, followed by an
/// incident, and the change failure rate.
#[utoipa::path(get, path = "/api/v1/changes/outcomes", tag = "changes", params(Range),
    responses((status = 200, body = ChangeOutcomes)))]
async fn outcomes(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Json<ChangeOutcomes>, ApiError> {
    Ok(Json(
        state
            .app
            .change_outcomes(&principal, range.from, range.to)
            .await?,
    ))
}

/// Creates a change template (admins): type, risk questionnaire, board (a support group),
/// quorum, veto, a named approver from a risk level, approval timeout, default plans.
#[utoipa::path(post, path = "/api/v1/change-templates", tag = "changes",
    request_body = NewChangeTemplate, responses((status = 201, body = ChangeTemplate)))]
async fn create_template(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewChangeTemplate>,
) -> Result<(StatusCode, Json<ChangeTemplate>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_change_template(&principal, input).await?),
    ))
}

/// The change templates (staff).
#[utoipa::path(get, path = "/api/v1/change-templates", tag = "changes",
    responses((status = 200, body = [ChangeTemplate])))]
async fn list_templates(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<ChangeTemplate>>, ApiError> {
    Ok(Json(state.app.change_templates(&principal).await?))
}

/// Creates a freeze (no standard or normal changes) or blackout (no changes) period
/// (admins), over everything, one organization, or one item.
#[utoipa::path(post, path = "/api/v1/freeze-windows", tag = "changes",
    request_body = NewFreezeWindow, responses((status = 201, body = FreezeWindow)))]
async fn create_freeze(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewFreezeWindow>,
) -> Result<(StatusCode, Json<FreezeWindow>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_freeze_window(&principal, input).await?),
    ))
}

/// Freeze and blackout periods that have not ended (staff).
#[utoipa::path(get, path = "/api/v1/freeze-windows", tag = "changes",
    responses((status = 200, body = [FreezeWindow])))]
async fn list_freezes(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<FreezeWindow>>, ApiError> {
    Ok(Json(state.app.freeze_windows(&principal, None).await?))
}

/// Removes a freeze or blackout period (admins).
#[utoipa::path(delete, path = "/api/v1/freeze-windows/{id}", tag = "changes",
    params(("id" = i64, Path)), responses((status = 204)))]
async fn delete_freeze(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_freeze_window(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who votes on changes for you while you are away, if anyone.
#[utoipa::path(get, path = "/api/v1/me/approval-delegation", tag = "changes",
    responses((status = 200, body = Option<Delegation>)))]
async fn get_delegation(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Option<Delegation>>, ApiError> {
    Ok(Json(state.app.approval_delegation(&principal).await?))
}

/// Sets who votes on changes for you until a time: `{"delegate", "until"}`.
#[utoipa::path(put, path = "/api/v1/me/approval-delegation", tag = "changes",
    request_body = Delegation, responses((status = 200, body = Delegation)))]
async fn set_delegation(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<Delegation>,
) -> Result<Json<Option<Delegation>>, ApiError> {
    Ok(Json(
        state
            .app
            .set_approval_delegation(&principal, Some(input))
            .await?,
    ))
}

/// Ends your delegation: you vote on changes yourself again.
#[utoipa::path(delete, path = "/api/v1/me/approval-delegation", tag = "changes",
    responses((status = 204)))]
async fn end_delegation(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<StatusCode, ApiError> {
    state.app.set_approval_delegation(&principal, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What changed before an incident on its items and what they depend on: changes and
/// inventory drift of the week before it, the likeliest first (staff).
#[utoipa::path(get, path = "/api/v1/tickets/{id}/what-changed", tag = "changes",
    params(("id" = String, Path)), responses((status = 200, body = [WhatChanged])))]
async fn what_changed(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<WhatChanged>>, ApiError> {
    Ok(Json(state.app.what_changed(&principal, &id).await?))
}

/// Plans a patch campaign (staff): a change in draft whose affected items are the machines
/// with an open finding of the advisory; a 422 naming `advisory` when none is affected.
#[utoipa::path(post, path = "/api/v1/patch-campaigns", tag = "changes",
    request_body = NewPatchCampaign, responses((status = 201, body = Change)))]
async fn plan_patch_campaign(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewPatchCampaign>,
) -> Result<Response, ApiError> {
    let change = state.app.plan_patch_campaign(&principal, input).await?;
    Ok(tagged(StatusCode::CREATED, change.version, change))
}
