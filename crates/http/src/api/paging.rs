//! Paging: escalation policies, and acknowledging or escalating an incident's page.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use opsdesk_app::paging::{EscalationPolicy, NewEscalationPolicy, Page};
use opsdesk_app::preferences::{CalendarLink, NotificationRules};
use opsdesk_domain::escalation::PageAction;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_policy, list_policies))
        .routes(routes!(open_pages))
        .routes(routes!(incident_page))
        .routes(routes!(acknowledge))
        .routes(routes!(escalate))
        .routes(routes!(notification_rules, set_notification_rules))
        .routes(routes!(new_calendar_link, remove_calendar_link))
}

/// Creates an escalation policy (admins): levels of schedules or people to page, each
/// waiting for an acknowledgement before the next.
#[utoipa::path(post, path = "/api/v1/escalation-policies", tag = "on-call",
    request_body = NewEscalationPolicy, responses((status = 201, body = EscalationPolicy)))]
async fn create_policy(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewEscalationPolicy>,
) -> Result<(StatusCode, Json<EscalationPolicy>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .app
                .create_escalation_policy(&principal, input)
                .await?,
        ),
    ))
}

/// Every escalation policy (staff).
#[utoipa::path(get, path = "/api/v1/escalation-policies", tag = "on-call",
    responses((status = 200, body = Vec<EscalationPolicy>)))]
async fn list_policies(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<EscalationPolicy>>, ApiError> {
    Ok(Json(state.app.escalation_policies(&principal).await?))
}

/// Pages still waiting for someone: triggered, or exhausted with nobody acknowledging
/// (staff).
#[utoipa::path(get, path = "/api/v1/pages", tag = "on-call",
    responses((status = 200, body = Vec<Page>)))]
async fn open_pages(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<Page>>, ApiError> {
    Ok(Json(state.app.open_pages(&principal).await?))
}

/// The page of an incident: its status and everyone paged (staff).
#[utoipa::path(get, path = "/api/v1/incidents/{id}/page", tag = "on-call",
    params(("id" = String, Path, description = "The incident's id or number (`INC-42`)")),
    responses((status = 200, body = Page)))]
async fn incident_page(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<Page>, ApiError> {
    let page = state.app.page(&principal, &id).await?;
    Ok(Json(page.ok_or(opsdesk_app::AppError::NotFound("page"))?))
}

/// Acknowledges an incident's page (staff): nobody else is paged, and the incident is
/// yours unless it was assigned. 409 when it is not paging.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", tag = "on-call",
    params(("id" = String, Path, description = "The incident's id or number (`INC-42`)")),
    responses((status = 200, body = Page)))]
async fn acknowledge(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<Page>, ApiError> {
    Ok(Json(
        state
            .app
            .act_on_page(&principal, &id, PageAction::Acknowledge)
            .await?,
    ))
}

/// Pages the next level of an incident's escalation policy now (staff). 409 at the last
/// level.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/escalate", tag = "on-call",
    params(("id" = String, Path, description = "The incident's id or number (`INC-42`)")),
    responses((status = 200, body = Page)))]
async fn escalate(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<Page>, ApiError> {
    Ok(Json(
        state
            .app
            .act_on_page(&principal, &id, PageAction::Escalate)
            .await?,
    ))
}

/// Your notification rules (staff): when a page mails you, by the incident's urgency, your
/// quiet hours, and your own time zone.
#[utoipa::path(get, path = "/api/v1/me/notification-rules", tag = "on-call",
    responses((status = 200, body = NotificationRules)))]
async fn notification_rules(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<NotificationRules>, ApiError> {
    Ok(Json(state.app.notification_rules(&principal).await?))
}

/// Replaces your notification rules and time zone (staff): `high_urgency` and `low_urgency`
/// list the minutes after being paged at which a mail leaves while the page waits at your
/// level (`[0, 5]`: at once and again five minutes later); low-urgency mails falling in
/// `quiet_hours` wait until they end. `time_zone` (an IANA name; null or left out: none) is
/// the zone the web UI shows you times in and your reports and weekly report mail default
/// to; an unknown zone is 422 naming `time_zone`.
#[utoipa::path(put, path = "/api/v1/me/notification-rules", tag = "on-call",
    request_body = NotificationRules, responses((status = 200, body = NotificationRules)))]
async fn set_notification_rules(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(rules): ApiJson<NotificationRules>,
) -> Result<Json<NotificationRules>, ApiError> {
    Ok(Json(
        state.app.set_notification_rules(&principal, rules).await?,
    ))
}

/// Makes you a calendar link of your shifts for the next 90 days (staff), which a calendar
/// app subscribes to without signing in: the secret in `url_path` is the credential, shown
/// this once. A new link revokes the one before.
#[utoipa::path(post, path = "/api/v1/me/calendar-link", tag = "on-call",
    responses((status = 201, body = CalendarLink)))]
async fn new_calendar_link(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<(StatusCode, Json<CalendarLink>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.new_calendar_link(&principal).await?),
    ))
}

/// Revokes your calendar link (staff).
#[utoipa::path(delete, path = "/api/v1/me/calendar-link", tag = "on-call",
    responses((status = 204)))]
async fn remove_calendar_link(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<StatusCode, ApiError> {
    state.app.remove_calendar_link(&principal).await?;
    Ok(StatusCode::NO_CONTENT)
}
