//! Monitoring pages for staff: the monitors with their state and uptime charts (inline SVG,
//! drawn on the server), a monitor's checks, outages and incidents, the forms creating and
//! changing monitors of every kind, and maintenance windows.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::accounts::Organization;
use opsdesk_app::dashboard::{MonitorHistory, UptimeChart};
use opsdesk_app::monitors::{
    IncidentSettings, Maintenance, MaintenanceQuery, Monitor, MonitorPatch, NewMaintenance,
    NewMonitor, NewRecurrence,
};
use opsdesk_app::{AppError, FieldError, Principal};
use opsdesk_domain::monitor::{MonitorKind, ProbeSettings};
use opsdesk_domain::ticket::Impact;
use serde::Deserialize;

mod forms;
mod maintenance;
mod silences;

use forms::{create, edit_form, form_errors, form_field, new_form, number, pause, update};
pub(super) use maintenance::form_time;
use maintenance::{create_maintenance, delete_maintenance, maintenance};

use super::{Chrome, Lang, Locale, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/monitors", get(list))
        .route("/monitors/new", get(new_form).post(create))
        .route("/monitors/{id}", get(show))
        .route("/monitors/{id}/edit", get(edit_form).post(update))
        .route("/monitors/{id}/pause", post(pause))
        .route("/maintenance", get(maintenance).post(create_maintenance))
        .route("/maintenance/{id}/delete", post(delete_maintenance))
        .route(
            "/silences",
            get(silences::silences).post(silences::create_silence),
        )
        .route("/silences/{id}/expire", post(silences::expire_silence))
}

/// Monitors, organizations and maintenance windows on one page.
const LIMIT: i64 = 500;
/// Height of the uptime charts, in SVG units.
const CHART_HEIGHT: i64 = 24;
/// Width of one bar and the gap after it.
const BAR: i64 = 4;

/// One bar of a chart.
pub(crate) struct Bar {
    pub x: i64,
    pub y: i64,
    pub height: i64,
    pub class: &'static str,
    pub title: String,
}

/// A small bar chart drawn as inline SVG; colours come from the stylesheet's classes.
pub(crate) struct Chart {
    pub width: i64,
    pub height: i64,
    pub label: String,
    pub bars: Vec<Bar>,
}

/// How an uptime percentage is coloured.
fn uptime_class(uptime: Option<f64>) -> &'static str {
    match uptime {
        None => "bar-none",
        Some(u) if u >= 99.9 => "bar-good",
        Some(u) if u >= 95.0 => "bar-fair",
        Some(_) => "bar-bad",
    }
}

/// An uptime percentage as pages show it; a dash without checks.
pub(crate) fn uptime_label(uptime: Option<f64>) -> String {
    uptime.map_or_else(|| "–".to_owned(), |u| format!("{u:.2} %"))
}

/// Bars of uptime per period: full height for a period without failures, lower the more
/// failed, a stub where nothing was checked.
fn uptime_chart(
    chart: &UptimeChart,
    label: String,
    stamp: impl Fn(jiff::Timestamp) -> String,
) -> Chart {
    let bars = chart
        .periods
        .iter()
        .zip(0..)
        .map(|(period, n)| {
            let height = period.uptime_percent.map_or(2, |u| {
                ((u / 100.0) * CHART_HEIGHT as f64).round().max(2.0) as i64
            });
            Bar {
                x: n * BAR,
                y: CHART_HEIGHT - height,
                height,
                class: uptime_class(period.uptime_percent),
                title: format!(
                    "{}: {}",
                    stamp(period.at),
                    uptime_label(period.uptime_percent)
                ),
            }
        })
        .collect::<Vec<_>>();
    Chart {
        width: bars.len() as i64 * BAR,
        height: CHART_HEIGHT,
        label,
        bars,
    }
}

/// The day of a 30-day chart's bar: its periods are UTC days.
fn utc_day(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d").to_string()
}

/// Quarter hours in a day: the bars of a traffic chart.
const TRAFFIC_BARS: i64 = 96;

/// A rate in bits per second as people read it: `12.3 Mbit/s`.
fn rate_label(bps: f64) -> String {
    let (value, unit) = [(1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s")]
        .into_iter()
        .find(|(size, _)| bps >= *size)
        .map_or((bps, "bit/s"), |(size, unit)| (bps / size, unit));
    format!("{value:.1} {unit}")
}

/// Bars of an interface's traffic over the last 24 h, one per quarter hour (the average of
/// its checks), scaled to the busiest; a stub where nothing was measured.
fn traffic_chart(
    samples: &[opsdesk_app::network::TrafficSample],
    now: jiff::Timestamp,
    value: fn(&opsdesk_app::network::TrafficSample) -> f64,
    label: String,
    l: &Locale,
) -> Chart {
    let quarter = 15 * 60_000;
    let start = now.as_millisecond() - TRAFFIC_BARS * quarter;
    let mut sums = vec![(0.0_f64, 0_u32); TRAFFIC_BARS as usize];
    for sample in samples {
        let slot = (sample.at.as_millisecond() - start).div_euclid(quarter);
        if let Some(sum) = usize::try_from(slot).ok().and_then(|i| sums.get_mut(i)) {
            sum.0 += value(sample);
            sum.1 += 1;
        }
    }
    let averages: Vec<Option<f64>> = sums
        .iter()
        .map(|(total, count)| (*count > 0).then(|| total / f64::from(*count)))
        .collect();
    let busiest = averages.iter().flatten().copied().fold(1.0_f64, f64::max);
    let bars = averages
        .iter()
        .zip(0..)
        .map(|(average, n)| {
            let height = average.map_or(1, |v| {
                ((v / busiest) * CHART_HEIGHT as f64).round().max(1.0) as i64
            });
            let at = jiff::Timestamp::from_millisecond(start + n * quarter).unwrap_or(now);
            Bar {
                x: n * BAR,
                y: CHART_HEIGHT - height,
                height,
                class: if average.is_some() {
                    "bar-latency"
                } else {
                    "bar-none"
                },
                title: format!(
                    "{}: {}",
                    l.clock(at),
                    average.map_or_else(|| "–".to_owned(), rate_label)
                ),
            }
        })
        .collect::<Vec<_>>();
    Chart {
        width: TRAFFIC_BARS * BAR,
        height: CHART_HEIGHT,
        label: format!("{label} (peak {})", rate_label(busiest)),
        bars,
    }
}

/// Bars of average response time per period, scaled to the slowest.
fn latency_chart(chart: &UptimeChart, label: String, l: &Locale) -> Chart {
    let slowest = chart
        .periods
        .iter()
        .filter_map(|p| p.avg_latency_ms)
        .max()
        .unwrap_or(0)
        .max(1);
    let bars = chart
        .periods
        .iter()
        .zip(0..)
        .map(|(period, n)| {
            let height = period
                .avg_latency_ms
                .map_or(0, |ms| (ms * CHART_HEIGHT / slowest).max(1));
            Bar {
                x: n * BAR,
                y: CHART_HEIGHT - height,
                height,
                class: "bar-latency",
                title: format!(
                    "{}: {}",
                    l.clock(period.at),
                    period
                        .avg_latency_ms
                        .map_or_else(|| "–".to_owned(), |ms| format!("{ms} ms"))
                ),
            }
        })
        .collect::<Vec<_>>();
    Chart {
        width: bars.len() as i64 * BAR,
        height: CHART_HEIGHT,
        label,
        bars,
    }
}

/// A monitor as one row of the list.
struct MonitorRow {
    m: Monitor,
    last_check: String,
    latency: String,
    uptime_24h: String,
    uptime_30d: String,
    day: Chart,
    month: Chart,
}

#[derive(Template)]
#[template(path = "monitors.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<MonitorRow>,
    organizations: Vec<Organization>,
    kinds: &'static [&'static str],
}

fn staff(principal: &Principal) -> Result<(), WebError> {
    Ok(principal.require_staff()?)
}

async fn list(State(state): State<AppState>, WebUser(p): WebUser) -> Result<Response, WebError> {
    staff(&p)?;
    let monitors = state.app.monitors(&p, 0, LIMIT).await?;
    let mut uptimes = state.app.monitor_uptimes(&p, &monitors).await?;
    let organizations = state.app.organizations(&p, 0, LIMIT).await?;
    let l = Locale::of(&p);
    let rows = monitors
        .into_iter()
        .map(|m| {
            let uptime = uptimes.remove(&m.id).unwrap_or_default();
            MonitorRow {
                last_check: m.last_check_at.map(|at| l.when(at)).unwrap_or_default(),
                latency: m
                    .last_latency_ms
                    .map(|ms| format!("{ms} ms"))
                    .unwrap_or_default(),
                uptime_24h: uptime_label(uptime.day.uptime_percent),
                uptime_30d: uptime_label(uptime.month.uptime_percent),
                day: uptime_chart(
                    &uptime.day,
                    format!("{} {}", l.t("monitor.uptime_24h"), m.name),
                    |at| l.clock(at),
                ),
                month: uptime_chart(
                    &uptime.month,
                    format!("{} {}", l.t("monitor.uptime_30d"), m.name),
                    utc_day,
                ),
                m,
            }
        })
        .collect();
    Ok(render(&ListPage {
        c: Chrome::new(&p, l.t("monitor.title")),
        rows,
        organizations,
        kinds: MonitorKind::NAMES,
    }))
}

/// A heartbeat's ping URL, absolute on the address the browser used.
fn ping_url(monitor: &Monitor, headers: &HeaderMap) -> Option<String> {
    crate::api::absolute_url(monitor.ping_url.as_deref()?, headers)
}

#[derive(Template)]
#[template(path = "monitor.html")]
struct MonitorPage {
    c: Chrome,
    m: Monitor,
    history: MonitorHistory,
    ping_url: Option<String>,
    uptime_24h: String,
    uptime_30d: String,
    day: Chart,
    month: Chart,
    latency: Chart,
    /// For an SNMP interface: traffic in and out over the last 24 h.
    traffic: Option<[Chart; 2]>,
    windows: Vec<Maintenance>,
}

async fn show(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    staff(&p)?;
    let m = state.app.monitor(&p, id).await?;
    let history = state.app.monitor_history(&p, id).await?;
    let uptime = state
        .app
        .monitor_uptimes(&p, std::slice::from_ref(&m))
        .await?
        .remove(&id)
        .unwrap_or_default();
    let query = MaintenanceQuery {
        monitor_id: Some(id),
        tag: None,
    };
    let windows = state.app.maintenance_windows(&p, &query, 0, LIMIT).await?;
    let l = Locale::of(&p);
    let traffic = if m.kind == MonitorKind::SnmpInterface.as_str() {
        let samples = state.app.interface_traffic(&p, id, 24).await?;
        let now = state.app.now();
        Some([
            traffic_chart(
                &samples,
                now,
                |s| s.in_bps,
                l.t("monitor.traffic_in").to_owned(),
                &l,
            ),
            traffic_chart(
                &samples,
                now,
                |s| s.out_bps,
                l.t("monitor.traffic_out").to_owned(),
                &l,
            ),
        ])
    } else {
        None
    };
    Ok(render(&MonitorPage {
        traffic,
        c: Chrome::new(&p, format!("{}: {}", l.t("monitor.one"), m.name)),
        ping_url: ping_url(&m, &headers),
        uptime_24h: uptime_label(uptime.day.uptime_percent),
        uptime_30d: uptime_label(uptime.month.uptime_percent),
        day: uptime_chart(&uptime.day, l.t("monitor.uptime_24h").to_owned(), |at| {
            l.clock(at)
        }),
        month: uptime_chart(&uptime.month, l.t("monitor.uptime_30d").to_owned(), utc_day),
        latency: latency_chart(&uptime.day, l.t("monitor.latency_24h").to_owned(), &l),
        history,
        windows,
        m,
    }))
}
