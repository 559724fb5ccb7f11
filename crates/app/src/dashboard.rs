//! What the staff dashboard and the monitoring pages read beyond the monitors themselves:
//! a monitor's recent checks and outages with their incidents, and uptime per hour and per
//! day for a whole page of monitors in one query. Reads only.

use std::collections::HashMap;

use opsdesk_store::dashboard as store;
use opsdesk_store::monitors as monitor_store;

use crate::monitors::Monitor;
use crate::tickets::number_of;
use crate::{App, AppError, Principal, timestamp};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// Hours in the short uptime chart.
const HOURS: i64 = 24;
/// Days in the long uptime chart.
const DAYS: i64 = 30;
/// Checks and outages a monitor's page shows.
const RECENT_CHECKS: i64 = 50;
const RECENT_OUTAGES: i64 = 20;

/// One check result as a monitor's page lists it.
#[derive(Debug, Clone)]
pub struct CheckEntry {
    pub at: jiff::Timestamp,
    pub ok: bool,
    pub latency_ms: Option<i64>,
    pub error: Option<String>,
    /// Taken inside a maintenance window: it does not count in uptime.
    pub maintenance: bool,
}

/// An outage and the incident it opened.
#[derive(Debug, Clone)]
pub struct OutageEntry {
    pub started_at: jiff::Timestamp,
    /// `None` while the monitor is still down.
    pub ended_at: Option<jiff::Timestamp>,
    pub failures: i64,
    pub first_error: Option<String>,
    /// The incident's number, e.g. `INC-12`.
    pub incident: Option<String>,
}

/// A monitor's recent history.
#[derive(Debug, Clone, Default)]
pub struct MonitorHistory {
    /// Newest first.
    pub checks: Vec<CheckEntry>,
    /// Newest first.
    pub outages: Vec<OutageEntry>,
}

/// Uptime in one period of a chart.
#[derive(Debug, Clone)]
pub struct PeriodUptime {
    pub at: jiff::Timestamp,
    pub checks: i64,
    /// `None` without checks.
    pub uptime_percent: Option<f64>,
    pub avg_latency_ms: Option<i64>,
}

/// Uptime over a span, as a total and period by period (oldest first, every period present).
#[derive(Debug, Clone, Default)]
pub struct UptimeChart {
    /// `None` without checks.
    pub uptime_percent: Option<f64>,
    pub periods: Vec<PeriodUptime>,
}

/// A monitor's uptime over the last 24 hours (hourly) and 30 days (daily).
#[derive(Debug, Clone, Default)]
pub struct MonitorUptimes {
    pub day: UptimeChart,
    pub month: UptimeChart,
}

fn percent(checks: i64, ok: i64) -> Option<f64> {
    (checks > 0).then(|| (ok as f64) * 100.0 / (checks as f64))
}

/// Every period of `period_ms` from `first` for `count` periods, from the tallies found.
fn chart(tallies: &[store::PeriodTally], first: i64, period_ms: i64, count: i64) -> UptimeChart {
    let by_period: HashMap<i64, &store::PeriodTally> =
        tallies.iter().map(|t| (t.period, t)).collect();
    let (checks, ok) = tallies
        .iter()
        .fold((0, 0), |(c, o), t| (c + t.checks, o + t.ok));
    UptimeChart {
        uptime_percent: percent(checks, ok),
        periods: (0..count)
            .map(|n| {
                let at = first + n * period_ms;
                let tally = by_period.get(&at);
                let checks = tally.map_or(0, |t| t.checks);
                PeriodUptime {
                    at: timestamp(at),
                    checks,
                    uptime_percent: tally.and_then(|t| percent(t.checks, t.ok)),
                    avg_latency_ms: tally
                        .filter(|t| t.checks > 0)
                        .map(|t| t.latency_sum / t.checks),
                }
            })
            .collect(),
    }
}

fn by_monitor(rows: Vec<store::PeriodTally>) -> HashMap<i64, Vec<store::PeriodTally>> {
    let mut map: HashMap<i64, Vec<store::PeriodTally>> = HashMap::new();
    for row in rows {
        map.entry(row.monitor_id).or_default().push(row);
    }
    map
}

impl App {
    /// The latest checks and outages of monitor `id` (staff who see it).
    pub async fn monitor_history(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<MonitorHistory, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let row = monitor_store::get(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("monitor"))?;
        if !principal.can_see_organization(row.organization_id) {
            return Err(AppError::NotFound("monitor"));
        }
        let checks = store::recent_checks(&mut conn, id, RECENT_CHECKS).await?;
        let restricted = principal.restricted_filter();
        let outages =
            store::recent_outages(&mut conn, id, RECENT_OUTAGES, restricted.as_deref()).await?;
        Ok(MonitorHistory {
            checks: checks
                .into_iter()
                .map(|c| CheckEntry {
                    at: timestamp(c.at),
                    ok: c.ok != 0,
                    latency_ms: c.latency_ms,
                    error: c.error,
                    maintenance: c.maintenance != 0,
                })
                .collect(),
            outages: outages
                .into_iter()
                .map(|o| OutageEntry {
                    started_at: timestamp(o.started_at),
                    ended_at: o.ended_at.map(timestamp),
                    failures: o.failures,
                    first_error: o.first_error,
                    incident: o
                        .ticket_type
                        .zip(o.ticket_number)
                        .map(|(kind, number)| number_of(&kind, number)),
                })
                .collect(),
        })
    }

    /// Hourly uptime over the last 24 hours and daily uptime over the last 30 days of
    /// `monitors` (as listed to `principal`), by monitor id: two queries for all of them.
    pub async fn monitor_uptimes(
        &self,
        principal: &Principal,
        monitors: &[Monitor],
    ) -> Result<HashMap<i64, MonitorUptimes>, AppError> {
        principal.require_staff()?;
        let ids: Vec<i64> = monitors
            .iter()
            .filter(|m| principal.can_see_organization(m.organization_id))
            .map(|m| m.id)
            .collect();
        let now = self.now_ms();
        let first_hour = (now / HOUR_MS - (HOURS - 1)) * HOUR_MS;
        let first_day = (now / DAY_MS - (DAYS - 1)) * DAY_MS;
        let mut conn = self.db().reader().await?;
        let hourly = store::tallies(&mut conn, &ids, first_hour, now + 1, HOUR_MS).await?;
        let daily = store::tallies(&mut conn, &ids, first_day, now + 1, DAY_MS).await?;
        let (hourly, daily) = (by_monitor(hourly), by_monitor(daily));
        Ok(ids
            .iter()
            .map(|id| {
                let hours = hourly.get(id).map_or(&[][..], Vec::as_slice);
                let days = daily.get(id).map_or(&[][..], Vec::as_slice);
                let uptimes = MonitorUptimes {
                    day: chart(hours, first_hour, HOUR_MS, HOURS),
                    month: chart(days, first_day, DAY_MS, DAYS),
                };
                (*id, uptimes)
            })
            .collect())
    }
}
