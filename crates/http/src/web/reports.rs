//! The reports page: a period's figures beside the previous period's, each count linked to
//! the page listing the tickets it counted, created against resolved per day and the
//! backlog by age as server-drawn SVG, the same report as a CSV or PDF file, and the
//! weekly mail of it one subscribes to.

use askama::Template;
use axum::Router;
use axum::extract::{Query, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use opsdesk_app::AppError;
use opsdesk_app::reports::{
    CountedTicket, DrillDown, MAX_DRILL_DOWN, Report, ReportCount, ReportQuery, ReportSubscription,
    ReportSubscriptionInput, Wall,
};
use serde::Deserialize;

use super::monitoring::{Bar, Chart};
use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;
use crate::api::reports::{report_file, report_query};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/reports", get(report_page))
        .route("/reports.csv", report_download("csv"))
        .route("/reports.pdf", report_download("pdf"))
        .route("/reports/subscription", post(subscribe))
        .route("/reports/subscription/delete", post(unsubscribe))
        .route("/reports/tickets", get(counted_page))
        .route("/reports/wall", get(wall_page))
}

/// Height of the report charts, in SVG units.
const CHART_HEIGHT: i64 = 60;
/// Room for one day: a created bar, a resolved bar and a gap.
const DAY_WIDTH: i64 = 8;

/// The period form as the page's query string carries it; empty fields are absent.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PeriodForm {
    from: Option<String>,
    to: Option<String>,
    tz: Option<String>,
    organization: Option<String>,
}

fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl PeriodForm {
    pub(super) fn query(&self) -> Result<ReportQuery, AppError> {
        let organization = filled(&self.organization)
            .map(|id| {
                id.parse()
                    .map_err(|_| AppError::invalid("organization", "must be a number"))
            })
            .transpose()?;
        report_query(
            filled(&self.from),
            filled(&self.to),
            filled(&self.tz).map(str::to_owned),
            organization,
        )
    }
}

/// One line of the figures table: a count links to its tickets.
struct FigureLine {
    /// Its name's key in the translation table.
    name: &'static str,
    value: String,
    previous: String,
    link: Option<String>,
    previous_link: Option<String>,
}

/// A count's own line.
fn count_line(name: &'static str, count: &ReportCount) -> FigureLine {
    FigureLine {
        name,
        value: count.value.to_string(),
        previous: count.previous.to_string(),
        link: Some(drill_link(&count.drill_down)),
        previous_link: Some(drill_link(&count.previous_drill_down)),
    }
}

/// A figure that is no count (an average, a share): its value, unlinked.
fn measure_line(
    name: &'static str,
    value: Option<f64>,
    previous: Option<f64>,
    unit: &str,
) -> FigureLine {
    let shown = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}{unit}"));
    FigureLine {
        name,
        value: shown(value),
        previous: shown(previous),
        link: None,
        previous_link: None,
    }
}

pub(super) fn drill_link(drill_down: &str) -> String {
    format!("/reports/tickets?{drill_down}")
}

fn figure_lines(report: &Report) -> Vec<FigureLine> {
    let r = report;
    let m = &r.monitors;
    let mut lines = vec![
        count_line("report.created", &r.created),
        count_line("report.resolved", &r.resolved),
        measure_line(
            "report.mtta",
            r.mtta_minutes.value,
            r.mtta_minutes.previous,
            " min",
        ),
        count_line("report.responded", &r.mtta_minutes.over),
        measure_line(
            "report.mttr",
            r.mttr_minutes.value,
            r.mttr_minutes.previous,
            " min",
        ),
        measure_line(
            "report.first_contact_rate",
            r.first_contact_resolution.value,
            r.first_contact_resolution.previous,
            " %",
        ),
        count_line("report.first_contact", &r.first_contact_resolution.counted),
        measure_line(
            "report.reopen_rate",
            r.reopen_rate.value,
            r.reopen_rate.previous,
            " %",
        ),
        count_line("report.reopened", &r.reopen_rate.counted),
        measure_line(
            "report.response_compliance",
            r.response_compliance.value,
            r.response_compliance.previous,
            " %",
        ),
        count_line("report.response_met", &r.response_compliance.counted),
        count_line("report.response_breached", &r.response_breached),
        measure_line(
            "report.resolution_compliance",
            r.resolution_compliance.value,
            r.resolution_compliance.previous,
            " %",
        ),
        count_line("report.resolution_met", &r.resolution_compliance.counted),
        count_line("report.resolution_breached", &r.resolution_breached),
        measure_line(
            "report.satisfaction",
            r.satisfaction.value,
            r.satisfaction.previous,
            " %",
        ),
        count_line("report.satisfied", &r.satisfaction.counted),
        count_line("report.rated", &r.satisfaction.of),
        measure_line("report.uptime", m.uptime, m.previous_uptime, " %"),
        FigureLine {
            name: "report.outage_minutes",
            value: m.outage_minutes.to_string(),
            previous: m.previous_outage_minutes.to_string(),
            link: None,
            previous_link: None,
        },
    ];
    if let Some(c) = &r.changes {
        lines.push(measure_line(
            "report.change_success",
            c.success_rate,
            c.previous_success_rate,
            " %",
        ));
    }
    if let Some(d) = &r.deflection {
        lines.push(measure_line(
            "report.deflection",
            d.rate,
            d.previous_rate,
            " %",
        ));
    }
    lines
}

/// Created (blue) and resolved (green) bars for each day, scaled to the busiest day.
fn days_chart(report: &Report) -> Chart {
    let highest = report
        .days
        .iter()
        .map(|d| d.created.max(d.resolved))
        .max()
        .unwrap_or(0)
        .max(1);
    let height = |n: i64| (n * CHART_HEIGHT / highest).max(if n > 0 { 2 } else { 0 });
    let mut bars = Vec::new();
    for (day, n) in report.days.iter().zip(0..) {
        for (offset, count, class, key) in [
            (0, day.created, "bar-latency", "report.created"),
            (4, day.resolved, "bar-good", "report.resolved"),
        ] {
            bars.push(Bar {
                x: n * DAY_WIDTH + offset,
                y: CHART_HEIGHT - height(count),
                height: height(count),
                class,
                title: format!("{}: {} {count}", day.date, Lang.t(key)),
            });
        }
    }
    Chart {
        width: (report.days.len() as i64 * DAY_WIDTH).max(DAY_WIDTH),
        height: CHART_HEIGHT,
        label: Lang.t("report.chart.days").to_owned(),
        bars,
    }
}

/// One bar per age of the backlog, scaled to the largest.
fn backlog_chart(report: &Report) -> Chart {
    let highest = report
        .backlog
        .iter()
        .map(|a| a.tickets)
        .max()
        .unwrap_or(0)
        .max(1);
    let bars = report
        .backlog
        .iter()
        .zip(0..)
        .map(|(age, n)| {
            let height =
                (age.tickets * CHART_HEIGHT / highest).max(if age.tickets > 0 { 2 } else { 0 });
            Bar {
                x: n * DAY_WIDTH,
                y: CHART_HEIGHT - height,
                height,
                class: "bar-fair",
                title: format!("{}: {}", age.age, age.tickets),
            }
        })
        .collect::<Vec<_>>();
    Chart {
        width: bars.len() as i64 * DAY_WIDTH,
        height: CHART_HEIGHT,
        label: Lang.t("report.chart.backlog").to_owned(),
        bars,
    }
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportPage {
    c: Chrome,
    report: Report,
    lines: Vec<FigureLine>,
    days: Chart,
    backlog: Chart,
    /// The period's query string, for the download link.
    query: String,
    tz: String,
    organization: String,
    /// The viewer's weekly mail, if they subscribed.
    subscription: Option<ReportSubscription>,
    /// When it next leaves, as the page shows times.
    next_mail: String,
    /// Everyone mailed the report (shown to admins).
    subscribers: Vec<ReportSubscription>,
}

async fn report_page(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(form): Query<PeriodForm>,
) -> Result<Response, WebError> {
    let report = state.app.report(&principal, &form.query()?).await?;
    let subscription = state.app.report_subscription(&principal).await?;
    let subscribers = if principal.role == opsdesk_domain::account::Role::Admin {
        state.app.report_subscriptions(&principal).await?
    } else {
        Vec::new()
    };
    let c = Chrome::new(&principal, Lang.t("report.title"));
    Ok(render(&ReportPage {
        next_mail: subscription
            .as_ref()
            .map_or_else(String::new, |s| c.l.when(s.next_mail_at)),
        subscription,
        subscribers,
        c,
        lines: figure_lines(&report),
        days: days_chart(&report),
        backlog: backlog_chart(&report),
        query: period_query(&report),
        tz: report.time_zone.clone(),
        organization: report
            .organization
            .map(|id| id.to_string())
            .unwrap_or_default(),
        report,
    })
    .into_response())
}

/// The query string of a report's period, as the form would send it.
fn period_query(report: &Report) -> String {
    let mut query = format!(
        "from={}&to={}&tz={}",
        report.from, report.to, report.time_zone
    );
    if let Some(id) = report.organization {
        query.push_str(&format!("&organization={id}"));
    }
    query
}

/// The route downloading the report of the query string's period as `format`.
fn report_download(format: &'static str) -> MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>,
              WebUser(principal): WebUser,
              Query(form): Query<PeriodForm>| async move {
            let report = state.app.report(&principal, &form.query()?).await?;
            Ok::<_, WebError>(report_file(&report, format)?)
        },
    )
}

/// Subscribes the viewer to the weekly mail of the report they are looking at (its time zone
/// and organization), or moves their subscription to it.
async fn subscribe(State(state): State<AppState>, form: SignedForm) -> Result<Redirect, WebError> {
    let organization = form
        .opt("organization")
        .map(|id| {
            id.parse()
                .map_err(|_| AppError::invalid("organization", "must be a number"))
        })
        .transpose()?;
    let input = ReportSubscriptionInput {
        time_zone: form.opt("tz"),
        organization,
    };
    state
        .app
        .subscribe_to_report(&form.principal, input)
        .await?;
    Ok(Redirect::to(&back_to_report(&form)))
}

async fn unsubscribe(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.unsubscribe_from_report(&form.principal).await?;
    Ok(Redirect::to(&back_to_report(&form)))
}

/// The report page the form was sent from: its `back` field when it is one, else today's.
fn back_to_report(form: &SignedForm) -> String {
    let back = form.get("back");
    if back.starts_with("/reports?") {
        back.to_owned()
    } else {
        "/reports".to_owned()
    }
}

#[derive(Template)]
#[template(path = "report_tickets.html")]
struct CountedPage {
    c: Chrome,
    figure: String,
    tickets: Vec<CountedTicket>,
    next: Option<String>,
    back: String,
}

async fn counted_page(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let raw = raw.unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&raw)
        .map_err(|_| AppError::invalid("query", "not a drill-down of a report"))?;
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let period = PeriodForm {
        from: field("from"),
        to: field("to"),
        tz: field("tz"),
        organization: field("organization"),
    };
    let figure = field("figure").unwrap_or_default();
    let drill = DrillDown {
        figure: figure.clone(),
        period: field("period"),
        age: field("age")
            .map(|age| {
                age.parse()
                    .map_err(|_| AppError::invalid("age", "expected 0 to 4"))
            })
            .transpose()?,
        by: field("by"),
        key: field("key"),
        cursor: field("cursor"),
        limit: MAX_DRILL_DOWN,
    };
    let page = state
        .app
        .report_tickets(&principal, &period.query()?, &drill)
        .await?;
    let without_cursor: Vec<&(String, String)> =
        pairs.iter().filter(|(k, _)| k != "cursor").collect();
    let base = serde_urlencoded::to_string(&without_cursor)
        .map_err(|e| AppError::internal("writing a link", e))?;
    let c = Chrome::new(&principal, Lang.t("report.tickets"));
    Ok(render(&CountedPage {
        c,
        figure: Lang.label("report.figure", &figure),
        tickets: page.items,
        next: page
            .next_cursor
            .map(|cursor| format!("/reports/tickets?{base}&cursor={cursor}")),
        back: format!(
            "/reports?{}",
            serde_urlencoded::to_string(
                pairs
                    .iter()
                    .filter(|(k, _)| ["from", "to", "tz", "organization"].contains(&k.as_str()))
                    .collect::<Vec<_>>()
            )
            .map_err(|e| AppError::internal("writing a link", e))?
        ),
    })
    .into_response())
}

#[derive(Template)]
#[template(path = "report_wall.html")]
struct WallPage {
    c: Chrome,
    wall: Wall,
    updated: String,
}

/// The wall dashboard (staff): today's big numbers, the page reloading itself every 30 s.
async fn wall_page(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    let wall = state.app.wall(&principal).await?;
    let c = Chrome::new(&principal, Lang.t("report.wall"));
    Ok(render(&WallPage {
        updated: c.l.when(state.app.now()),
        c,
        wall,
    })
    .into_response())
}
