//! The SLA admin pages: calendars and policies at a glance, and a form for each policy
//! (targets per priority, warnings, which pending reasons pause the clocks).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use opsdesk_app::sla::{Calendar, CalendarInput, Policy, PolicyInput};
use opsdesk_app::{AppError, FieldError, Principal};
use opsdesk_domain::sla::WorkingHoursSpec;
use opsdesk_domain::ticket::{PendingReason, Priority};
use serde_json::{Value, json};

use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/sla", get(overview))
        .route(
            "/admin/sla/policies/new",
            get(new_policy).post(create_policy),
        )
        .route(
            "/admin/sla/policies/{id}",
            get(edit_policy).post(update_policy),
        )
        .route(
            "/admin/sla/calendars/new",
            get(new_calendar).post(create_calendar),
        )
        .route(
            "/admin/sla/calendars/{id}",
            get(edit_calendar).post(update_calendar),
        )
}

/// A policy as the overview lists it.
pub(super) struct PolicyRow {
    id: i64,
    position: i64,
    name: String,
    priorities: String,
    calendar: String,
}

#[derive(Template)]
#[template(path = "sla_admin.html")]
struct OverviewPage {
    c: Chrome,
    calendars: Vec<Calendar>,
    policies: Vec<PolicyRow>,
}

/// The policy form: what is saved, or what was typed with what is wrong with it.
pub(super) struct PolicyForm {
    id: Option<i64>,
    version: i64,
    name: String,
    position: String,
    calendar_id: i64,
    calendars: Vec<(i64, String)>,
    priorities: Vec<String>,
    /// Response and resolution targets in minutes per priority, as typed.
    targets: Vec<(String, String, String)>,
    warnings: String,
    pause_on: Vec<String>,
    /// The policy's other conditions (organizations, types, categories), kept as they are.
    rest: Value,
    errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "sla_policy.html")]
struct PolicyPage {
    c: Chrome,
    form: PolicyForm,
}

impl PolicyPage {
    fn reasons(&self) -> &'static [&'static str] {
        PendingReason::NAMES
    }
}

impl PolicyForm {
    fn of(policy: Option<&Policy>, calendars: &[Calendar]) -> Self {
        let spec = policy.map_or_else(|| json!({}), |p| p.spec.clone());
        let strings = |key: &str| -> Vec<String> {
            spec.get(key)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let minutes = |priority: &str, clock: &str| {
            spec.pointer(&format!("/targets/{priority}/{clock}"))
                .and_then(Value::as_i64)
                .map(|seconds| (seconds / 60).to_string())
                .unwrap_or_default()
        };
        let targets = Priority::NAMES
            .iter()
            .map(|p| {
                (
                    (*p).to_owned(),
                    minutes(p, "response_seconds"),
                    minutes(p, "resolution_seconds"),
                )
            })
            .collect();
        let warnings = spec
            .get("warnings")
            .and_then(Value::as_array)
            .map(|w| {
                w.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| "75, 90".to_owned());
        let pause_on = match policy {
            Some(_) => strings("pause_on"),
            None => vec!["pending:customer".into(), "pending:third_party".into()],
        };
        Self {
            id: policy.map(|p| p.id),
            version: policy.map_or(0, |p| p.version),
            name: spec
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            position: policy.map_or_else(|| "1".to_owned(), |p| p.position.to_string()),
            calendar_id: policy
                .map_or_else(|| calendars.first().map_or(0, |c| c.id), |p| p.calendar_id),
            calendars: calendars.iter().map(|c| (c.id, c.name.clone())).collect(),
            priorities: strings("priorities"),
            targets,
            warnings,
            pause_on,
            rest: spec,
            errors: Vec::new(),
        }
    }

    /// The form as sent, over `self` (the saved policy or a new one).
    fn typed(mut self, form: &SignedForm) -> Self {
        self.name = form.get("name").to_owned();
        self.position = form.get("position").to_owned();
        self.calendar_id = form.get("calendar_id").parse().unwrap_or(self.calendar_id);
        self.priorities = form.all("priorities");
        self.targets = Priority::NAMES
            .iter()
            .map(|p| {
                (
                    (*p).to_owned(),
                    form.get(&format!("response.{p}")).to_owned(),
                    form.get(&format!("resolution.{p}")).to_owned(),
                )
            })
            .collect();
        self.warnings = form.get("warnings").to_owned();
        self.pause_on = form.all("pause_on");
        self
    }

    /// The API's input for what the form holds; a value that is not a number is a mistake
    /// next to its field.
    fn input(&self) -> Result<PolicyInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut targets = serde_json::Map::new();
        for (priority, response, resolution) in &self.targets {
            if response.is_empty() && resolution.is_empty() {
                continue;
            }
            let mut seconds = |field: String, text: &str| match text.parse::<i64>() {
                Ok(minutes) if minutes > 0 => minutes * 60,
                _ => {
                    errors.push(FieldError::new(field, Lang.t("admin.sla.minutes_needed")));
                    0
                }
            };
            let response = seconds(format!("response.{priority}"), response);
            let resolution = seconds(format!("resolution.{priority}"), resolution);
            targets.insert(
                priority.clone(),
                json!({"response_seconds": response, "resolution_seconds": resolution}),
            );
        }
        let mut warnings = Vec::new();
        for part in self
            .warnings
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match part.parse::<u8>() {
                Ok(percent) => warnings.push(percent),
                Err(_) => errors.push(FieldError::new(
                    "warnings",
                    Lang.t("admin.sla.percent_needed"),
                )),
            }
        }
        let position = self.position.parse::<i64>().unwrap_or_else(|_| {
            errors.push(FieldError::new(
                "position",
                Lang.t("admin.sla.number_needed"),
            ));
            0
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut spec = self.rest.clone();
        spec["name"] = json!(self.name);
        spec["priorities"] = json!(self.priorities);
        spec["targets"] = Value::Object(targets);
        spec["warnings"] = json!(warnings);
        spec["pause_on"] = json!(self.pause_on);
        Ok(PolicyInput {
            position,
            calendar_id: self.calendar_id,
            spec,
        })
    }

    pub(super) fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field || e.field == format!("spec.{field}"))
            .map(|e| e.message.as_str())
    }

    /// Mistakes that belong to no field of the form (the policy as a whole).
    pub(super) fn general_errors(&self) -> Vec<&FieldError> {
        self.errors
            .iter()
            .filter(|e| {
                !["name", "position", "warnings"].contains(&e.field.as_str())
                    && !e.field.starts_with("response.")
                    && !e.field.starts_with("resolution.")
            })
            .collect()
    }

    pub(super) fn covers(&self, priority: &str) -> bool {
        self.priorities.iter().any(|p| p == priority)
    }

    pub(super) fn pauses(&self, reason: &str) -> bool {
        self.pause_on
            .iter()
            .any(|p| *p == format!("pending:{reason}"))
    }
}

async fn overview(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    p.require_admin()?;
    let calendars = state.app.calendars(&p).await?;
    let policies = state
        .app
        .sla_policies(&p)
        .await?
        .into_iter()
        .map(|policy| {
            let form = PolicyForm::of(Some(&policy), &calendars);
            PolicyRow {
                id: policy.id,
                position: policy.position,
                calendar: calendars
                    .iter()
                    .find(|c| c.id == policy.calendar_id)
                    .map_or_else(String::new, |c| c.name.clone()),
                priorities: if form.priorities.is_empty() {
                    Lang.t("admin.sla.all_priorities").to_owned()
                } else {
                    form.priorities.join(", ")
                },
                name: form.name,
            }
        })
        .collect();
    Ok(render(&OverviewPage {
        c: Chrome::new(&p, Lang.t("admin.sla")),
        calendars,
        policies,
    }))
}

/// The title of a form page: the record's name, or what a new one is called.
fn form_title(id: Option<i64>, name: &str, new: &str) -> String {
    match id {
        Some(_) => name.to_owned(),
        None => Lang.t(new).to_owned(),
    }
}

/// A form page, answered 422 when it comes back with mistakes.
fn form_response(page: &impl Template, failed: bool) -> Response {
    let mut response = render(page);
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

fn policy_page(principal: &Principal, form: PolicyForm) -> Response {
    let title = form_title(form.id, &form.name, "admin.sla.new_policy");
    let failed = !form.errors.is_empty();
    form_response(
        &PolicyPage {
            c: Chrome::new(principal, title),
            form,
        },
        failed,
    )
}

async fn new_policy(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    p.require_admin()?;
    let calendars = state.app.calendars(&p).await?;
    Ok(policy_page(&p, PolicyForm::of(None, &calendars)))
}

async fn edit_policy(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    p.require_admin()?;
    let calendars = state.app.calendars(&p).await?;
    let policy = state.app.sla_policy(&p, id).await?;
    Ok(policy_page(&p, PolicyForm::of(Some(&policy), &calendars)))
}

/// What a refused save shows: the mistakes, or a newer version saved meanwhile.
fn refusal(error: AppError) -> Result<Vec<FieldError>, WebError> {
    match error {
        AppError::Invalid(errors) => Ok(errors),
        AppError::Stale => Ok(vec![FieldError::new("policy", Lang.t("admin.stale"))]),
        AppError::Conflict { message, .. } => Ok(vec![FieldError::new("policy", message)]),
        other => Err(other.into()),
    }
}

async fn create_policy(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    form.principal.require_admin()?;
    let calendars = state.app.calendars(&form.principal).await?;
    let mut typed = PolicyForm::of(None, &calendars).typed(&form);
    let saved = match typed.input() {
        Ok(input) => state.app.create_sla_policy(&form.principal, input).await,
        Err(errors) => Err(AppError::Invalid(errors)),
    };
    match saved {
        Ok(_) => Ok(Redirect::to("/admin/sla").into_response()),
        Err(error) => {
            typed.errors = refusal(error)?;
            Ok(policy_page(&form.principal, typed))
        }
    }
}

async fn update_policy(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    form.principal.require_admin()?;
    let calendars = state.app.calendars(&form.principal).await?;
    let policy = state.app.sla_policy(&form.principal, id).await?;
    let mut typed = PolicyForm::of(Some(&policy), &calendars).typed(&form);
    let version = form.get("version").parse::<i64>().ok();
    let saved = match typed.input() {
        Ok(input) => {
            state
                .app
                .update_sla_policy(&form.principal, id, version, input)
                .await
        }
        Err(errors) => Err(AppError::Invalid(errors)),
    };
    match saved {
        Ok(_) => Ok(Redirect::to("/admin/sla").into_response()),
        Err(error) => {
            typed.errors = refusal(error)?;
            if let Some(sent) = version {
                typed.version = sent;
            }
            Ok(policy_page(&form.principal, typed))
        }
    }
}

/// The days of the week, as calendars name them.
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// The calendar form: one working interval per weekday (empty: not a working day), the
/// holidays one per line, the time zone, or open around the clock.
pub(super) struct CalendarForm {
    id: Option<i64>,
    version: i64,
    name: String,
    timezone: String,
    always_open: bool,
    /// `(weekday, start, end)`, as typed.
    days: Vec<(&'static str, String, String)>,
    holidays: String,
    errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "sla_calendar.html")]
struct CalendarPage {
    c: Chrome,
    form: CalendarForm,
}

impl CalendarForm {
    fn of(calendar: Option<&Calendar>) -> Self {
        let spec = calendar.map_or_else(|| json!({}), |c| c.spec.clone());
        let hours: Vec<WorkingHoursSpec> = spec
            .get("hours")
            .cloned()
            .and_then(|h| serde_json::from_value(h).ok())
            .unwrap_or_default();
        let days = WEEKDAYS
            .iter()
            .map(|day| {
                let interval = hours
                    .iter()
                    .find(|h| h.weekday.to_ascii_lowercase().starts_with(&day[..3]));
                (
                    *day,
                    interval.map_or_else(String::new, |h| h.start.clone()),
                    interval.map_or_else(String::new, |h| h.end.clone()),
                )
            })
            .collect();
        let holidays = spec
            .get("holidays")
            .and_then(Value::as_array)
            .map(|h| {
                h.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        Self {
            id: calendar.map(|c| c.id),
            version: calendar.map_or(0, |c| c.version),
            name: calendar.map_or_else(String::new, |c| c.name.clone()),
            timezone: spec
                .get("timezone")
                .and_then(Value::as_str)
                .unwrap_or("UTC")
                .to_owned(),
            always_open: spec
                .get("always_open")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            days,
            holidays,
            errors: Vec::new(),
        }
    }

    fn typed(mut self, form: &SignedForm) -> Self {
        self.name = form.get("name").to_owned();
        self.timezone = form.get("timezone").to_owned();
        self.always_open = form.get("always_open") == "on";
        self.days = WEEKDAYS
            .iter()
            .map(|day| {
                (
                    *day,
                    form.get(&format!("start.{day}")).to_owned(),
                    form.get(&format!("end.{day}")).to_owned(),
                )
            })
            .collect();
        self.holidays = form.get("holidays").to_owned();
        self
    }

    fn input(&self) -> CalendarInput {
        CalendarInput {
            name: self.name.clone(),
            timezone: self.timezone.clone(),
            hours: self
                .days
                .iter()
                .filter(|(_, start, end)| !start.is_empty() || !end.is_empty())
                .map(|(day, start, end)| WorkingHoursSpec {
                    weekday: (*day).to_owned(),
                    start: start.clone(),
                    end: end.clone(),
                })
                .collect(),
            holidays: self
                .holidays
                .lines()
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
                .collect(),
            always_open: self.always_open,
        }
    }

    pub(super) fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

fn calendar_page(principal: &Principal, form: CalendarForm) -> Response {
    let title = form_title(form.id, &form.name, "admin.sla.new_calendar");
    let failed = !form.errors.is_empty();
    form_response(
        &CalendarPage {
            c: Chrome::new(principal, title),
            form,
        },
        failed,
    )
}

async fn new_calendar(WebUser(p): WebUser) -> Result<Response, WebError> {
    p.require_admin()?;
    Ok(calendar_page(&p, CalendarForm::of(None)))
}

async fn edit_calendar(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    p.require_admin()?;
    let calendar = state.app.calendar(&p, id).await?;
    Ok(calendar_page(&p, CalendarForm::of(Some(&calendar))))
}

async fn create_calendar(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    form.principal.require_admin()?;
    let mut typed = CalendarForm::of(None).typed(&form);
    match state
        .app
        .create_calendar(&form.principal, typed.input())
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/sla").into_response()),
        Err(error) => {
            typed.errors = refusal(error)?;
            Ok(calendar_page(&form.principal, typed))
        }
    }
}

async fn update_calendar(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    form.principal.require_admin()?;
    let calendar = state.app.calendar(&form.principal, id).await?;
    let mut typed = CalendarForm::of(Some(&calendar)).typed(&form);
    let version = form.get("version").parse::<i64>().ok();
    match state
        .app
        .update_calendar(&form.principal, id, version, typed.input())
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/sla").into_response()),
        Err(error) => {
            typed.errors = refusal(error)?;
            if let Some(sent) = version {
                typed.version = sent;
            }
            Ok(calendar_page(&form.principal, typed))
        }
    }
}
