//! Who is on call: every schedule with the person on call now and until when, the
//! overrides to come, and taking over a stretch.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::oncall::{NewOverride, Schedule, ScheduleOverride};
use opsdesk_app::paging::{EscalationPolicy, Page};

use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/on-call", get(page))
        .route("/on-call/{id}/take-over", post(take_over))
        .route("/on-call/my-shifts.ics", get(my_shifts))
}

#[derive(Template)]
#[template(path = "oncall.html")]
struct OnCallPage {
    c: Chrome,
    schedules: Vec<(Schedule, Vec<ScheduleOverride>)>,
    /// Pages waiting for someone.
    pages: Vec<Page>,
    policies: Vec<EscalationPolicy>,
    /// What a policy's level may page (admins' form): `(value, label)`.
    targets: Vec<(String, String)>,
    form_levels: [usize; 3],
}

async fn page(State(state): State<AppState>, WebUser(p): WebUser) -> Result<Response, WebError> {
    p.require_staff()?;
    let mut schedules = Vec::new();
    for schedule in state.app.schedules(&p).await? {
        let overrides = state.app.schedule_overrides(&p, schedule.id).await?;
        schedules.push((schedule, overrides));
    }
    let mut targets: Vec<(String, String)> = schedules
        .iter()
        .map(|(s, _)| {
            let label = format!("{} {}", Lang.t("escalation.on_call_of"), s.name);
            (format!("schedule:{}", s.id), label)
        })
        .collect();
    if p.role == opsdesk_domain::account::Role::Admin {
        for group in state.app.groups(&p).await? {
            for member in group.members {
                let option = (format!("user:{member}"), member);
                if !targets.contains(&option) {
                    targets.push(option);
                }
            }
        }
    }
    Ok(render(&OnCallPage {
        c: Chrome::new(&p, Lang.t("oncall.title")),
        schedules,
        pages: state.app.open_pages(&p).await?,
        policies: state.app.escalation_policies(&p).await?,
        targets,
        form_levels: super::paging::FORM_LEVELS,
    }))
}

/// The signed-in person's shifts for the next 90 days, for their calendar app.
async fn my_shifts(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    let calendar = state
        .app
        .shifts_calendar(&p, Some(&p.email), opsdesk_app::oncall::MOST_SHIFT_DAYS)
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"on-call.ics\"",
            ),
        ],
        calendar,
    )
        .into_response())
}

/// Takes over a schedule from now for the hours chosen, as the signed-in user.
async fn take_over(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let hours: i64 = form
        .get("hours")
        .parse()
        .ok()
        .filter(|h| (1..=24 * 14).contains(h))
        .ok_or_else(|| opsdesk_app::AppError::invalid("hours", "1 to 336 hours"))?;
    let from = state.app.now();
    let until = from
        .checked_add(jiff::SignedDuration::from_hours(hours))
        .map_err(|e| opsdesk_app::AppError::invalid("hours", e))?;
    let input = NewOverride {
        person: None,
        from,
        until,
    };
    state.app.add_override(&form.principal, id, input).await?;
    Ok(Redirect::to("/on-call"))
}
