//! Change management pages: the list and the changes waiting for your vote, a new change
//! from a template, a change with its plan, conflicts, votes, lifecycle and review, the
//! calendar (month, week or list, with iCalendar export), freeze periods, templates, and
//! the approval page a mailed link opens without a session.

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan};
use opsdesk_app::changes::{
    ApprovalLink, CalendarEntry, Change, ChangeConflict, ChangeOutcomes, ChangePatch, ChangeQuery,
    ChangeSummary, ChangeTemplate, Delegation, FreezeWindow, NewChange, NewChangeTemplate,
    NewFreezeWindow, NewVote,
};
use opsdesk_app::{AppError, FieldError, Precondition, Principal};
use opsdesk_domain::change::{
    ApprovalStatus, ChangeState, ChangeType, RiskOption, RiskQuestion, transition,
};
use serde::Deserialize;

use super::cmdb::{SentForm, text};
use super::monitoring::utc_time;
use super::suppliers::{chrome, or_form, status_of};
use super::{Chrome, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/changes", get(list).post(create))
        .route("/changes/new", get(new_form))
        .route("/changes/calendar", get(calendar))
        .route("/changes/calendar.ics", get(calendar_ics))
        .route("/changes/freezes", get(freezes).post(create_freeze))
        .route("/changes/freezes/{id}/delete", post(delete_freeze))
        .route("/changes/templates", get(templates).post(create_template))
        .route("/changes/delegation", post(delegate))
        .route("/changes/approve/{token}", get(by_link).post(vote_by_link))
        .route("/changes/{number}", get(show).post(update))
        .route("/changes/{number}/state", post(move_state))
        .route("/changes/{number}/vote", post(vote))
}

/// A time for a `datetime-local` field: minutes, UTC.
fn local(at: &Option<Timestamp>) -> String {
    at.map(|t| t.strftime("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// Item ids typed as `12, 15 17`.
fn ids(form: &SignedForm, name: &str, errors: &mut Vec<FieldError>) -> Vec<i64> {
    let mut out = Vec::new();
    for part in form
        .get(name)
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        match part.parse() {
            Ok(id) => out.push(id),
            Err(_) => errors.push(FieldError::new(name, "item ids, separated by commas")),
        }
    }
    out
}

fn risk_answers(form: &SignedForm) -> BTreeMap<String, String> {
    form.fields
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("risk.")?.to_owned(), v.clone())))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

#[derive(Template)]
#[template(path = "changes.html")]
struct ListPage {
    c: Chrome,
    changes: Vec<ChangeSummary>,
    awaiting: Vec<ChangeSummary>,
    state: String,
    delegation: Option<Delegation>,
    /// How the changes of the last 90 days went.
    outcomes: ChangeOutcomes,
    form: SentForm,
}

impl ListPage {
    fn states(&self) -> &'static [&'static str] {
        ChangeState::NAMES
    }

    fn failure_percent(&self) -> String {
        format!("{:.0}", self.outcomes.failure_rate * 100.0)
    }
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    state: Option<String>,
}

async fn list_page(
    state: &AppState,
    principal: &Principal,
    filter: Option<String>,
    form: SentForm,
) -> Result<Response, WebError> {
    let query = ChangeQuery {
        state: filter.clone().filter(|s| !s.is_empty()),
        before: None,
        limit: 200,
    };
    let changes = state.app.changes(principal, &query).await?;
    let awaiting = state.app.changes_awaiting_vote(principal).await?;
    let delegation = state.app.approval_delegation(principal).await?;
    let now = state.app.now();
    let outcomes = state
        .app
        .change_outcomes(principal, now - SignedDuration::from_hours(24 * 90), now)
        .await?;
    let c = chrome(principal, "change.list", &form);
    Ok((
        status_of(&form),
        render(&ListPage {
            c,
            changes,
            awaiting,
            state: filter.unwrap_or_default(),
            delegation,
            outcomes,
            form,
        }),
    )
        .into_response())
}

async fn list(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(query): Query<ListQuery>,
) -> Result<Response, WebError> {
    list_page(&state, &principal, query.state, SentForm::default()).await
}

async fn delegate(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    let mut errors = Vec::new();
    let delegation = match text(&form, "delegate") {
        None => None,
        Some(delegate) => {
            utc_time(&form, "until", &mut errors).map(|until| Delegation { delegate, until })
        }
    };
    let done = if errors.is_empty() {
        state
            .app
            .set_approval_delegation(&form.principal, delegation)
            .await
    } else {
        Err(AppError::Invalid(errors))
    };
    or_form(
        done,
        &form,
        |_| "/changes".to_owned(),
        |sent| list_page(&state, &form.principal, None, sent),
    )
    .await
}

#[derive(Template)]
#[template(path = "change_form.html")]
struct NewPage {
    c: Chrome,
    templates: Vec<ChangeTemplate>,
    template: Option<ChangeTemplate>,
    form: SentForm,
}

impl NewPage {
    fn types(&self) -> &'static [&'static str] {
        ChangeType::NAMES
    }

    fn questions(&self) -> &[RiskQuestion] {
        self.template.as_ref().map_or(&[], |t| &t.questions)
    }

    fn plan(&self, field: &str) -> String {
        let sent = self.form.v(field);
        if !sent.is_empty() {
            return sent.to_owned();
        }
        let Some(t) = &self.template else {
            return String::new();
        };
        match field {
            "implementation_plan" => t.implementation_plan.clone(),
            "test_plan" => t.test_plan.clone(),
            "backout_plan" => t.backout_plan.clone(),
            _ => String::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct NewQuery {
    template: Option<String>,
    ci: Option<i64>,
    /// A patch campaign: the machines this advisory affects, and a title naming it.
    advisory: Option<String>,
}

async fn new_page(
    state: &AppState,
    principal: &Principal,
    template: Option<&str>,
    form: SentForm,
) -> Result<Response, WebError> {
    let templates = state.app.change_templates(principal).await?;
    let template = template
        .and_then(|name| templates.iter().find(|t| t.name == name))
        .cloned();
    let c = chrome(principal, "change.new", &form);
    Ok((
        status_of(&form),
        render(&NewPage {
            c,
            templates,
            template,
            form,
        }),
    )
        .into_response())
}

async fn new_form(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(query): Query<NewQuery>,
) -> Result<Response, WebError> {
    let mut values = BTreeMap::new();
    if let Some(ci) = query.ci {
        values.insert("cis".to_owned(), ci.to_string());
    }
    if let Some(t) = &query.template {
        values.insert("template".to_owned(), t.clone());
    }
    if let Some(advisory) = query.advisory.as_deref().filter(|a| !a.trim().is_empty()) {
        let hosts = state.app.patch_campaign_hosts(&principal, advisory).await?;
        let ids: Vec<String> = hosts.iter().map(i64::to_string).collect();
        values.insert("cis".to_owned(), ids.join(", "));
        values.insert(
            "title".to_owned(),
            format!("Patch campaign: {}", advisory.trim()),
        );
    }
    let form = SentForm::with_values(values.into_iter().collect());
    new_page(&state, &principal, query.template.as_deref(), form).await
}

async fn create(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    let mut errors = Vec::new();
    let cis = ids(&form, "cis", &mut errors);
    let planned_start = utc_time(&form, "planned_start", &mut errors);
    let planned_end = utc_time(&form, "planned_end", &mut errors);
    let done = if errors.is_empty() {
        let input = NewChange {
            title: form.get("title").to_owned(),
            description: form.get("description").to_owned(),
            change_type: text(&form, "type"),
            template: text(&form, "template"),
            organization: text(&form, "organization"),
            implementer: text(&form, "implementer"),
            cis,
            risk_answers: risk_answers(&form),
            implementation_plan: Some(form.get("implementation_plan").to_owned()),
            test_plan: Some(form.get("test_plan").to_owned()),
            backout_plan: Some(form.get("backout_plan").to_owned()),
            planned_start,
            planned_end,
        };
        state.app.create_change(&form.principal, input).await
    } else {
        Err(AppError::Invalid(errors))
    };
    let template = text(&form, "template");
    or_form(
        done,
        &form,
        |c| format!("/changes/{}", c.number),
        |sent| new_page(&state, &form.principal, template.as_deref(), sent),
    )
    .await
}

#[derive(Template)]
#[template(path = "change.html")]
struct ShowPage {
    c: Chrome,
    change: Change,
    conflicts: Vec<ChangeConflict>,
    next: Vec<&'static str>,
    planning: bool,
    form: SentForm,
}

impl ShowPage {
    fn when(&self, at: &Option<Timestamp>) -> String {
        at.map_or_else(|| "—".to_owned(), |t| self.c.l.when(t))
    }

    fn local(&self, at: &Option<Timestamp>) -> String {
        local(at)
    }

    fn ci_ids(&self) -> String {
        let ids: Vec<String> = self.change.cis.iter().map(|c| c.id.to_string()).collect();
        ids.join(", ")
    }

    fn entry(&self, data: &serde_json::Value) -> String {
        match data {
            serde_json::Value::Object(map) => map
                .iter()
                .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {other}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        }
    }
}

/// The states a person may move `change` to now.
fn next_states(change: &Change) -> Vec<&'static str> {
    let (Ok(kind), Ok(from), Ok(approval)) = (
        change.change_type.parse::<ChangeType>(),
        change.state.parse::<ChangeState>(),
        change.approval.parse::<ApprovalStatus>(),
    ) else {
        return Vec::new();
    };
    let has_window = change.planned_start.is_some() && change.planned_end.is_some();
    ChangeState::ALL
        .iter()
        .filter(|to| **to != from)
        .filter(|to| transition(kind, from, **to, approval, has_window).is_ok())
        .map(|to| to.as_str())
        .collect()
}

async fn show_page(
    state: &AppState,
    principal: &Principal,
    number: &str,
    form: SentForm,
) -> Result<Response, WebError> {
    let change = state.app.change_by_number(principal, number).await?;
    let conflicts = state.app.change_conflicts(principal, number).await?;
    let mut c = chrome(principal, "change.list", &form);
    c.title = format!("{} {}", change.number, change.title);
    let planning = matches!(change.state.as_str(), "draft" | "assessment");
    Ok((
        status_of(&form),
        render(&ShowPage {
            c,
            next: next_states(&change),
            change,
            conflicts,
            planning,
            form,
        }),
    )
        .into_response())
}

async fn show(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(number): Path<String>,
) -> Result<Response, WebError> {
    show_page(&state, &principal, &number, SentForm::default()).await
}

/// Saves the plan (while planning) or the review.
async fn update(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut errors = Vec::new();
    let planning = form.get("part") == "plan";
    let mut patch = ChangePatch {
        review: form.opt("review"),
        ..ChangePatch::default()
    };
    if planning {
        patch.title = form.opt("title");
        patch.description = form.opt("description");
        patch.implementer = form.opt("implementer");
        patch.cis = Some(ids(&form, "cis", &mut errors));
        patch.risk_answers = Some(risk_answers(&form)).filter(|a| !a.is_empty());
        patch.implementation_plan = form.opt("implementation_plan");
        patch.test_plan = form.opt("test_plan");
        patch.backout_plan = form.opt("backout_plan");
        patch.planned_start = utc_time(&form, "planned_start", &mut errors);
        patch.planned_end = utc_time(&form, "planned_end", &mut errors);
    }
    let expected = Precondition::from(form.get("version").parse::<i64>().ok());
    let done = if errors.is_empty() {
        state
            .app
            .update_change(&form.principal, &number, expected, patch)
            .await
    } else {
        Err(AppError::Invalid(errors))
    };
    or_form(
        done,
        &form,
        |c| format!("/changes/{}", c.number),
        |sent| show_page(&state, &form.principal, &number, sent),
    )
    .await
}

async fn move_state(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let patch = ChangePatch {
        state: form.opt("state"),
        comment: form.opt("comment"),
        ..ChangePatch::default()
    };
    let done = state
        .app
        .update_change(&form.principal, &number, Precondition::Any, patch)
        .await;
    or_form(
        done,
        &form,
        |c| format!("/changes/{}", c.number),
        |sent| show_page(&state, &form.principal, &number, sent),
    )
    .await
}

fn vote_of(form: &SignedForm) -> NewVote {
    NewVote {
        decision: form.get("decision").to_owned(),
        comment: form.get("comment").to_owned(),
    }
}

async fn vote(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let done = state
        .app
        .vote_on_change(&form.principal, &number, vote_of(&form))
        .await;
    or_form(
        done,
        &form,
        |c| format!("/changes/{}", c.number),
        |sent| show_page(&state, &form.principal, &number, sent),
    )
    .await
}

#[derive(Template)]
#[template(path = "change_link.html")]
struct LinkPage {
    c: Chrome,
    link: ApprovalLink,
    action: String,
    error: Option<String>,
}

async fn link_page(
    state: &AppState,
    token: &str,
    error: Option<String>,
) -> Result<Response, WebError> {
    let link = state.app.approval_link(token).await?;
    let c = Chrome::anonymous(&format!("{} {}", link.change.number, link.change.title));
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    Ok((
        status,
        render(&LinkPage {
            c,
            link,
            action: format!("/changes/approve/{token}"),
            error,
        }),
    )
        .into_response())
}

async fn by_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    link_page(&state, &token, None).await
}

/// Votes as the person the link was mailed to. No session or CSRF token: the link's
/// secret is the credential, and another site cannot know it. A GET only shows the
/// change, so a mail scanner that follows links votes for no one.
async fn vote_by_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let vote = NewVote {
        decision: field("decision"),
        comment: field("comment"),
    };
    match state.app.vote_by_link(&token, vote).await {
        Ok(_) => Ok(Redirect::to(&format!("/changes/approve/{token}")).into_response()),
        Err(AppError::Invalid(errors)) => {
            let message = errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            link_page(&state, &token, Some(message)).await
        }
        Err(AppError::Conflict { message, .. }) => link_page(&state, &token, Some(message)).await,
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
struct CalendarQuery {
    /// `month` (default), `week` or `list`.
    view: Option<String>,
    /// A day in the period shown, `2026-03-02`; today when absent.
    at: Option<String>,
}

/// One day of the calendar, with what happens on it.
struct Day {
    date: Date,
    in_period: bool,
    changes: Vec<CalendarEntry>,
    freezes: Vec<FreezeWindow>,
}

#[derive(Template)]
#[template(path = "change_calendar.html")]
struct CalendarPage {
    c: Chrome,
    view: String,
    title: String,
    weeks: Vec<Vec<Day>>,
    entries: Vec<CalendarEntry>,
    freezes: Vec<FreezeWindow>,
    previous: String,
    next: String,
    ics: String,
}

impl CalendarPage {
    fn conflicted(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| !e.conflicts.is_empty())
            .count()
    }
}

fn day_start(date: Date) -> Timestamp {
    date.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The first and last day shown, the period's own days, and the dates of the previous and
/// next periods.
fn period(view: &str, at: Date) -> (Date, Date, Date, Date, Date, Date) {
    let monday = |d: Date| {
        d.checked_sub(i64::from(d.weekday().to_monday_zero_offset()).days())
            .unwrap_or(d)
    };
    match view {
        "week" => {
            let start = monday(at);
            let end = start.checked_add(6.days()).unwrap_or(start);
            let previous = start.checked_sub(7.days()).unwrap_or(start);
            let next = start.checked_add(7.days()).unwrap_or(start);
            (start, end, start, end, previous, next)
        }
        _ => {
            let first = at.first_of_month();
            let last = at.last_of_month();
            let start = monday(first);
            let end = monday(last).checked_add(6.days()).unwrap_or(last);
            let previous = first.checked_sub(1.month()).unwrap_or(first);
            let next = first.checked_add(1.month()).unwrap_or(first);
            (start, end, first, last, previous, next)
        }
    }
}

async fn calendar(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(query): Query<CalendarQuery>,
) -> Result<Response, WebError> {
    let view = match query.view.as_deref() {
        Some("week") => "week",
        Some("list") => "list",
        _ => "month",
    };
    let today = state
        .app
        .now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let at = match query.at.as_deref() {
        None | Some("") => today,
        Some(text) => text
            .parse::<Date>()
            .map_err(|_| AppError::invalid("at", "a date such as 2026-03-02"))?,
    };
    // The list covers the same month as the month view.
    let (start, end, own_start, own_end, previous, next) =
        period(if view == "list" { "month" } else { view }, at);
    let from = day_start(start);
    let to = day_start(end) + SignedDuration::from_hours(24);
    let calendar = state.app.change_calendar(&principal, from, to).await?;
    let mut weeks = Vec::new();
    let mut day = start;
    while day <= end {
        let mut week = Vec::with_capacity(7);
        for _ in 0..7 {
            let (begins, ends) = (
                day_start(day),
                day_start(day) + SignedDuration::from_hours(24),
            );
            let touches = |from: Option<Timestamp>, until: Option<Timestamp>| matches!((from, until), (Some(f), Some(u)) if f < ends && u > begins);
            week.push(Day {
                date: day,
                in_period: day >= own_start && day <= own_end,
                changes: calendar
                    .changes
                    .iter()
                    .filter(|e| touches(e.change.planned_start, e.change.planned_end))
                    .cloned()
                    .collect(),
                freezes: calendar
                    .freezes
                    .iter()
                    .filter(|f| touches(Some(f.starts_at), Some(f.ends_at)))
                    .cloned()
                    .collect(),
            });
            day = day.checked_add(1.day()).unwrap_or(day);
        }
        weeks.push(week);
    }
    let title = if view == "week" {
        format!("{start} – {end}")
    } else {
        at.strftime("%B %Y").to_string()
    };
    let c = Chrome::new(&principal, title.clone());
    Ok(render(&CalendarPage {
        c,
        view: view.to_owned(),
        title,
        weeks,
        entries: calendar.changes,
        freezes: calendar.freezes,
        previous: previous.to_string(),
        next: next.to_string(),
        ics: format!("/changes/calendar.ics?from={from}&to={to}"),
    }))
}

#[derive(Debug, Deserialize)]
struct IcsQuery {
    from: Timestamp,
    to: Timestamp,
}

async fn calendar_ics(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(query): Query<IcsQuery>,
) -> Result<Response, WebError> {
    let ics = state
        .app
        .change_calendar_ical(&principal, query.from, query.to)
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"changes.ics\"",
            ),
        ],
        ics,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "change_freezes.html")]
struct FreezesPage {
    c: Chrome,
    freezes: Vec<FreezeWindow>,
    form: SentForm,
}

async fn freezes_page(
    state: &AppState,
    principal: &Principal,
    form: SentForm,
) -> Result<Response, WebError> {
    let freezes = state.app.freeze_windows(principal, None).await?;
    let c = chrome(principal, "change.freezes", &form);
    Ok((status_of(&form), render(&FreezesPage { c, freezes, form })).into_response())
}

async fn freezes(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    freezes_page(&state, &principal, SentForm::default()).await
}

async fn create_freeze(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut errors = Vec::new();
    let starts_at = utc_time(&form, "starts_at", &mut errors);
    let ends_at = utc_time(&form, "ends_at", &mut errors);
    let ci = match text(&form, "ci").map(|v| v.trim().parse::<i64>()) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            errors.push(FieldError::new("ci", "an item id"));
            None
        }
    };
    let done = match (starts_at, ends_at) {
        (Some(starts_at), Some(ends_at)) if errors.is_empty() => {
            let input = NewFreezeWindow {
                name: form.get("name").to_owned(),
                kind: text(&form, "kind"),
                starts_at,
                ends_at,
                organization: text(&form, "organization"),
                ci,
                reason: form.get("reason").to_owned(),
            };
            state.app.create_freeze_window(&form.principal, input).await
        }
        _ => {
            for field in ["starts_at", "ends_at"] {
                if form.get(field).is_empty() {
                    errors.push(FieldError::new(field, "must be given"));
                }
            }
            Err(AppError::Invalid(errors))
        }
    };
    or_form(
        done,
        &form,
        |_| "/changes/freezes".to_owned(),
        |sent| freezes_page(&state, &form.principal, sent),
    )
    .await
}

async fn delete_freeze(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.delete_freeze_window(&form.principal, id).await?;
    Ok(Redirect::to("/changes/freezes"))
}

#[derive(Template)]
#[template(path = "change_templates.html")]
struct TemplatesPage {
    c: Chrome,
    templates: Vec<ChangeTemplate>,
    groups: Vec<String>,
    form: SentForm,
}

impl TemplatesPage {
    fn types(&self) -> &'static [&'static str] {
        ChangeType::NAMES
    }

    fn written(&self, questions: &[RiskQuestion]) -> String {
        questions
            .iter()
            .map(|q| {
                let options: Vec<String> = q
                    .options
                    .iter()
                    .map(|o| format!("{}={}", o.label, o.score))
                    .collect();
                format!("{} | {} | {}", q.key, q.text, options.join("; "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Questions written one per line: `key | Question? | label=score; label=score`.
fn questions(text: &str, errors: &mut Vec<FieldError>) -> Vec<RiskQuestion> {
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let [key, question, options] = parts[..] else {
            errors.push(FieldError::new(
                "questions",
                format!(
                    "line {}: write key | question | label=score; label=score",
                    n + 1
                ),
            ));
            continue;
        };
        let mut parsed = Vec::new();
        for option in options.split(';').map(str::trim).filter(|o| !o.is_empty()) {
            match option
                .rsplit_once('=')
                .map(|(l, s)| (l.trim(), s.trim().parse::<u32>()))
            {
                Some((label, Ok(score))) => parsed.push(RiskOption {
                    label: label.to_owned(),
                    score,
                }),
                _ => errors.push(FieldError::new(
                    "questions",
                    format!("line {}: `{option}` is not label=score", n + 1),
                )),
            }
        }
        out.push(RiskQuestion {
            key: key.to_owned(),
            text: question.to_owned(),
            options: parsed,
        });
    }
    out
}

async fn templates_page(
    state: &AppState,
    principal: &Principal,
    form: SentForm,
) -> Result<Response, WebError> {
    let templates = state.app.change_templates(principal).await?;
    let groups = state
        .app
        .groups(principal)
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    let c = chrome(principal, "change.templates", &form);
    Ok((
        status_of(&form),
        render(&TemplatesPage {
            c,
            templates,
            groups,
            form,
        }),
    )
        .into_response())
}

async fn templates(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    templates_page(&state, &principal, SentForm::default()).await
}

async fn create_template(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut errors = Vec::new();
    let number = |name: &str, errors: &mut Vec<FieldError>| match text(&form, name) {
        None => None,
        Some(v) => v.trim().parse::<i64>().map(Some).unwrap_or_else(|_| {
            errors.push(FieldError::new(name, "a whole number"));
            None
        }),
    };
    let quorum = number("quorum", &mut errors).unwrap_or(1);
    let approval_timeout_h = number("approval_timeout_h", &mut errors);
    let watch_hours = number("watch_hours", &mut errors);
    let questions = questions(form.get("questions"), &mut errors);
    let done = if errors.is_empty() {
        let input = NewChangeTemplate {
            name: form.get("name").to_owned(),
            change_type: form.get("type").to_owned(),
            description: form.get("description").to_owned(),
            questions,
            board: text(&form, "board"),
            quorum,
            veto: form.get("veto") == "on",
            named_approver: text(&form, "named_approver"),
            named_from_risk: text(&form, "named_from_risk"),
            approval_timeout_h,
            implementation_plan: form.get("implementation_plan").to_owned(),
            test_plan: form.get("test_plan").to_owned(),
            backout_plan: form.get("backout_plan").to_owned(),
            watch_hours,
        };
        state
            .app
            .create_change_template(&form.principal, input)
            .await
    } else {
        Err(AppError::Invalid(errors))
    };
    or_form(
        done,
        &form,
        |_| "/changes/templates".to_owned(),
        |sent| templates_page(&state, &form.principal, sent),
    )
    .await
}
