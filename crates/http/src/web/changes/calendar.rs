//! The change calendar by month, week or list, with freeze periods, and its iCalendar export.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan};
use opsdesk_app::AppError;
use opsdesk_app::changes::{CalendarEntry, FreezeWindow};
use serde::Deserialize;

use crate::AppState;
use crate::web::{Chrome, WebError, WebUser, render};

#[derive(Debug, Default, Deserialize)]
pub(super) struct CalendarQuery {
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

pub(super) async fn calendar(
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
pub(super) struct IcsQuery {
    from: Timestamp,
    to: Timestamp,
}

pub(super) async fn calendar_ics(
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
