//! Who is on call: every schedule with the person on call now and until when, the
//! overrides to come, and taking over a stretch; and each person's own notification rules,
//! time zone and calendar link.

use std::sync::LazyLock;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::oncall::{NewOverride, NewSchedule, Schedule, ScheduleOverride};
use opsdesk_app::paging::{EscalationPolicy, Page};
use opsdesk_app::preferences::{NotificationRules, QuietHours};
use opsdesk_app::{AppError, FieldError};
use opsdesk_domain::oncall::{Layer, Restriction, Turn};

use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/on-call", get(page))
        .route("/on-call/{id}/take-over", post(take_over))
        .route("/on-call/my-shifts.ics", get(my_shifts))
        .route("/on-call/schedules", post(create_schedule))
        .route("/on-call/my-rules", post(set_rules))
        .route("/on-call/calendar-link", post(new_calendar_link))
        .route("/on-call/calendar-link/remove", post(remove_calendar_link))
        .route("/on-call/calendar/{file}", get(calendar_by_link))
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
    /// The signed-in person's notification rules and time zone, as saved or as sent with
    /// mistakes.
    rules: RulesForm,
    /// The time zones the time zone fields suggest.
    time_zones: &'static [String],
    /// A calendar link just made (shown once), and whether they have one.
    calendar_url: Option<String>,
    has_calendar_link: bool,
    /// The new schedule form (admins), as sent back with mistakes.
    schedule: ScheduleForm,
    form_layers: [usize; 2],
}

/// The notification rules form's fields, and its mistakes.
#[derive(Default)]
struct RulesForm {
    high: String,
    low: String,
    quiet_start: String,
    quiet_end: String,
    quiet_zone: String,
    /// The person's own time zone; empty: none chosen.
    time_zone: String,
    errors: Vec<FieldError>,
}

/// Every IANA time zone the time-zone database knows, sorted; read once.
pub(super) fn time_zone_names() -> &'static [String] {
    static NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|name| name.as_str().to_owned())
            .collect();
        names.sort();
        names.dedup();
        names
    });
    &NAMES
}

impl RulesForm {
    fn of(rules: &NotificationRules) -> Self {
        let minutes = |list: &[u32]| {
            list.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let quiet = rules.quiet_hours.as_ref();
        Self {
            high: minutes(&rules.high_urgency),
            low: minutes(&rules.low_urgency),
            quiet_start: quiet.map(|q| q.start.clone()).unwrap_or_default(),
            quiet_end: quiet.map(|q| q.end.clone()).unwrap_or_default(),
            quiet_zone: quiet.map_or_else(|| "UTC".to_owned(), |q| q.time_zone.clone()),
            time_zone: rules.time_zone.clone().unwrap_or_default(),
            errors: Vec::new(),
        }
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

/// What a form brought back to the page.
#[derive(Default)]
struct Brought {
    rules: Option<RulesForm>,
    calendar_url: Option<String>,
    schedule: ScheduleForm,
}

/// The new schedule form as sent, and its mistakes.
#[derive(Default)]
struct ScheduleForm {
    sent: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

impl ScheduleForm {
    /// The form filled in with a schedule, to edit it.
    fn of(schedule: &Schedule) -> Self {
        let mut sent = vec![
            ("schedule_id".to_owned(), schedule.id.to_string()),
            ("name".to_owned(), schedule.name.clone()),
            ("time_zone".to_owned(), schedule.time_zone.clone()),
        ];
        for (n, layer) in FORM_LAYERS.iter().zip(&schedule.layers) {
            let (length, unit) = match layer.turn {
                Turn::Days(days) => (days, "days"),
                Turn::Hours(hours) => (hours, "hours"),
            };
            sent.push((format!("people{n}"), layer.people.join(", ")));
            sent.push((
                format!("start{n}"),
                layer.start.strftime("%Y-%m-%dT%H:%M").to_string(),
            ));
            sent.push((format!("turn{n}"), length.to_string()));
            sent.push((format!("turn_unit{n}"), unit.to_owned()));
            if let Some(r) = &layer.restriction {
                sent.push((format!("restrict{n}"), "on".to_owned()));
                for day in &r.days {
                    let name = WEEKDAYS[usize::from(day.to_monday_zero_offset().unsigned_abs())];
                    sent.push((format!("day{n}"), name.to_owned()));
                }
                sent.push((format!("from{n}"), r.from.strftime("%H:%M").to_string()));
                sent.push((format!("to{n}"), r.to.strftime("%H:%M").to_string()));
            }
        }
        Self {
            sent,
            errors: Vec::new(),
        }
    }

    fn v(&self, field: &str) -> &str {
        self.sent
            .iter()
            .find(|(name, _)| name == field)
            .map_or("", |(_, value)| value.as_str())
    }

    /// Whether layer `n`'s restriction had `day` ticked.
    fn ticked(&self, n: &usize, day: &str) -> bool {
        let field = format!("day{n}");
        self.sent
            .iter()
            .any(|(name, value)| *name == field && value == day)
    }

    fn days(&self) -> &'static [&'static str] {
        &WEEKDAYS
    }
}

/// Layers the schedule form offers.
const FORM_LAYERS: [usize; 2] = [1, 2];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

#[derive(Debug, Default, serde::Deserialize)]
struct PageQuery {
    /// A schedule to edit: the schedule form starts from it.
    edit: Option<i64>,
}

async fn page(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    axum::extract::Query(query): axum::extract::Query<PageQuery>,
) -> Result<Response, WebError> {
    let mut brought = Brought::default();
    if let Some(id) = query.edit {
        let schedule = state
            .app
            .schedules(&p)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(AppError::NotFound("schedule"))?;
        brought.schedule = ScheduleForm::of(&schedule);
    }
    on_call_page(&state, &p, brought).await
}

async fn on_call_page(
    state: &AppState,
    p: &opsdesk_app::Principal,
    brought: Brought,
) -> Result<Response, WebError> {
    p.require_staff()?;
    let mut schedules = Vec::new();
    for schedule in state.app.schedules(p).await? {
        let overrides = state.app.schedule_overrides(p, schedule.id).await?;
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
        for group in state.app.groups(p).await? {
            for member in group.members {
                let option = (format!("user:{member}"), member);
                if !targets.contains(&option) {
                    targets.push(option);
                }
            }
        }
    }
    let rules = match brought.rules {
        Some(sent) => sent,
        None => RulesForm::of(&state.app.notification_rules(p).await?),
    };
    let status = if rules.errors.is_empty() && brought.schedule.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = OnCallPage {
        c: Chrome::new(p, Lang.t("oncall.title")),
        schedules,
        pages: state.app.open_pages(p).await?,
        policies: state.app.escalation_policies(p).await?,
        targets,
        form_levels: super::paging::FORM_LEVELS,
        rules,
        time_zones: time_zone_names(),
        has_calendar_link: state.app.has_calendar_link(p).await?,
        calendar_url: brought.calendar_url,
        schedule: brought.schedule,
        form_layers: FORM_LAYERS,
    };
    Ok((status, render(&page)).into_response())
}

/// Minutes as typed (`0, 5`); text that is no list of whole minutes is `field`'s mistake.
fn minutes(text: &str, field: &str, errors: &mut Vec<FieldError>) -> Vec<u32> {
    let parsed: Result<Vec<u32>, _> = text
        .split([',', ' '])
        .filter(|m| !m.trim().is_empty())
        .map(|m| m.trim().parse::<u32>())
        .collect();
    parsed.unwrap_or_else(|_| {
        errors.push(FieldError::new(field, Lang.t("oncall.rules.minutes")));
        Vec::new()
    })
}

/// Saves the signed-in person's notification rules and time zone through the same use case as
/// `PUT /api/v1/me/notification-rules`; mistakes come back on the form.
async fn set_rules(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    let sent = RulesForm {
        high: form.get("high_urgency").to_owned(),
        low: form.get("low_urgency").to_owned(),
        quiet_start: form.get("quiet_start").trim().to_owned(),
        quiet_end: form.get("quiet_end").trim().to_owned(),
        quiet_zone: form.get("quiet_time_zone").trim().to_owned(),
        time_zone: form.get("time_zone").trim().to_owned(),
        errors: Vec::new(),
    };
    let mut errors = Vec::new();
    let high_urgency = minutes(&sent.high, "high_urgency", &mut errors);
    let low_urgency = minutes(&sent.low, "low_urgency", &mut errors);
    let quiet_hours =
        (!sent.quiet_start.is_empty() || !sent.quiet_end.is_empty()).then(|| QuietHours {
            start: sent.quiet_start.clone(),
            end: sent.quiet_end.clone(),
            time_zone: sent.quiet_zone.clone(),
        });
    if errors.is_empty() {
        let rules = NotificationRules {
            high_urgency,
            low_urgency,
            quiet_hours,
            time_zone: (!sent.time_zone.is_empty()).then(|| sent.time_zone.clone()),
        };
        match state
            .app
            .set_notification_rules(&form.principal, rules)
            .await
        {
            Ok(_) => return Ok(Redirect::to("/on-call#my-rules").into_response()),
            Err(AppError::Invalid(invalid)) => errors = invalid,
            Err(other) => return Err(other.into()),
        }
    }
    let brought = Brought {
        rules: Some(RulesForm { errors, ..sent }),
        ..Brought::default()
    };
    on_call_page(&state, &form.principal, brought).await
}

/// Makes a new calendar link and shows it once.
async fn new_calendar_link(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    form: SignedForm,
) -> Result<Response, WebError> {
    let link = state.app.new_calendar_link(&form.principal).await?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let brought = Brought {
        calendar_url: Some(format!("http://{host}{}", link.url_path)),
        ..Brought::default()
    };
    on_call_page(&state, &form.principal, brought).await
}

async fn remove_calendar_link(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.remove_calendar_link(&form.principal).await?;
    Ok(Redirect::to("/on-call#my-rules"))
}

/// A person's shifts by their calendar link, without a session: the secret is the
/// credential.
async fn calendar_by_link(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, WebError> {
    let secret = file.strip_suffix(".ics").unwrap_or(&file);
    let calendar = state.app.calendar_by_link(secret).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        calendar,
    )
        .into_response())
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

/// One layer of the schedule form, when its people field is filled in.
fn layer_sent(form: &SignedForm, n: usize) -> Option<Result<Layer, FieldError>> {
    let people: Vec<String> = form
        .get(&format!("people{n}"))
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    if people.is_empty() {
        return None;
    }
    let wrong = |field: &str, key: &str| FieldError::new(format!("{field}{n}"), Lang.t(key));
    let layer = (|| {
        let start = form
            .get(&format!("start{n}"))
            .parse::<jiff::civil::DateTime>()
            .map_err(|_| wrong("start", "oncall.schedule.start.hint"))?;
        let length = form
            .get(&format!("turn{n}"))
            .parse::<u32>()
            .map_err(|_| wrong("turn", "form.whole_number"))?;
        let turn = match form.get(&format!("turn_unit{n}")) {
            "hours" => Turn::Hours(length),
            _ => Turn::Days(length),
        };
        let restriction = if form.get(&format!("restrict{n}")) == "on" {
            let days = form
                .all(&format!("day{n}"))
                .iter()
                .filter_map(|day| opsdesk_domain::sla::parse_weekday(day))
                .collect();
            let time = |field: &str| {
                form.get(&format!("{field}{n}"))
                    .parse::<jiff::civil::Time>()
                    .map_err(|_| wrong(field, "oncall.schedule.time.hint"))
            };
            Some(Restriction {
                days,
                from: time("from")?,
                to: time("to")?,
            })
        } else {
            None
        };
        Ok(Layer {
            people,
            start,
            turn,
            restriction,
        })
    })();
    Some(layer)
}

/// Makes a schedule (admins) through the same use case as `POST /api/v1/schedules`;
/// mistakes come back on the form with what was sent.
async fn create_schedule(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut errors = Vec::new();
    let mut layers = Vec::new();
    for n in FORM_LAYERS {
        match layer_sent(&form, n) {
            Some(Ok(layer)) => layers.push(layer),
            Some(Err(error)) => errors.push(error),
            None => {}
        }
    }
    if layers.is_empty() && errors.is_empty() {
        errors.push(FieldError::new(
            "people1",
            Lang.t("oncall.schedule.people.hint"),
        ));
    }
    if errors.is_empty() {
        let input = NewSchedule {
            name: form.get("name").trim().to_owned(),
            time_zone: form.get("time_zone").trim().to_owned(),
            layers,
        };
        let saved = match form.get("schedule_id").parse::<i64>() {
            Ok(id) => state.app.update_schedule(&form.principal, id, input).await,
            Err(_) => state.app.create_schedule(&form.principal, input).await,
        };
        match saved {
            Ok(_) => return Ok(Redirect::to("/on-call").into_response()),
            Err(AppError::Invalid(invalid)) => errors = invalid,
            Err(other) => return Err(other.into()),
        }
    }
    let brought = Brought {
        schedule: ScheduleForm {
            sent: form.sent(),
            errors,
        },
        ..Brought::default()
    };
    on_call_page(&state, &form.principal, brought).await
}
