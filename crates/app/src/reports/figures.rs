//! The figures of a period beside the previous period's, each count with the query that
//! lists the tickets it counted.

use jiff::civil::Date;
use opsdesk_store::dashboard as uptime_store;
use opsdesk_store::portal as portal_store;
use opsdesk_store::reports::{self as store, Dimension, Scope};
use serde::Serialize;

use super::{
    AGE_LABELS, Period, ReportQuery, dimension_name, midnight, minutes, percent, scope_of,
};
use crate::deflection::DEFLECTION_WINDOW_MS;
use crate::{App, AppError, Principal};

const HOUR_MS: i64 = 3_600_000;

/// A count of tickets in the period and the previous one, with where to list them.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReportCount {
    pub value: i64,
    pub previous: i64,
    /// The query string of `GET /api/v1/reports/tickets` that lists the tickets counted.
    pub drill_down: String,
    /// The same for the previous period.
    pub previous_drill_down: String,
}

/// An average time in minutes over counted tickets; none without tickets.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReportAverage {
    pub value: Option<f64>,
    pub previous: Option<f64>,
    /// The tickets averaged over.
    pub over: ReportCount,
}

/// A share of tickets in percent: `counted` out of `of`; none when `of` is 0.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReportShare {
    pub value: Option<f64>,
    pub previous: Option<f64>,
    pub counted: ReportCount,
    pub of: ReportCount,
}

/// Open tickets of one age.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReportAge {
    /// `<1d`, `1-3d`, `3-7d`, `7-30d` or `>30d`.
    pub age: String,
    pub tickets: i64,
    pub drill_down: String,
}

/// Tickets created in the period with one value of a dimension.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReportVolumeLine {
    /// The value's id (a channel's name for channels), `none` for tickets without one.
    pub key: String,
    /// Its name; `none` for tickets without one.
    pub label: String,
    pub tickets: i64,
    pub drill_down: String,
}

/// Tickets created in the period by one dimension, most first.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReportVolume {
    /// `category`, `organization`, `group`, `agent` or `channel`.
    pub by: String,
    pub lines: Vec<ReportVolumeLine>,
}

/// Tickets created and resolved on one day of the period.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReportDay {
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    pub created: i64,
    pub resolved: i64,
}

/// The monitors of the scope over the period.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReportMonitors {
    pub monitors: usize,
    /// Successful checks out of all, outside maintenance, in percent; none without checks.
    pub uptime: Option<f64>,
    pub previous_uptime: Option<f64>,
    /// Outages overlapping the period.
    pub outages: i64,
    pub previous_outages: i64,
    /// Minutes of outage inside the period (an ongoing one until now).
    pub outage_minutes: i64,
    pub previous_outage_minutes: i64,
}

/// Changes finished in the period (staff).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReportChanges {
    pub finished: i64,
    pub previous_finished: i64,
    /// Finished neither failed nor followed by an incident, in percent; none without any.
    pub success_rate: Option<f64>,
    pub previous_success_rate: Option<f64>,
}

/// Portal visits that showed articles and ended without a ticket (staff).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReportDeflection {
    pub visits: i64,
    pub deflected: i64,
    /// Deflected out of the visits judged (7 days after they began), in percent.
    pub rate: Option<f64>,
    pub previous_rate: Option<f64>,
}

/// A report over a period.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Report {
    #[schema(value_type = String, format = Date)]
    pub from: Date,
    #[schema(value_type = String, format = Date)]
    pub to: Date,
    pub time_zone: String,
    pub organization: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub starts: jiff::Timestamp,
    /// The end, excluded: midnight after `to`.
    #[schema(value_type = String, format = DateTime)]
    pub ends: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub previous_starts: jiff::Timestamp,
    /// The previous period's first and last days.
    #[schema(value_type = String, format = Date)]
    pub previous_from: Date,
    #[schema(value_type = String, format = Date)]
    pub previous_to: Date,
    pub created: ReportCount,
    pub resolved: ReportCount,
    /// Mean time to the first public reply of staff, over tickets created in the period.
    pub mtta_minutes: ReportAverage,
    /// Mean time to resolve, over tickets resolved in the period.
    pub mttr_minutes: ReportAverage,
    pub first_contact_resolution: ReportShare,
    pub reopen_rate: ReportShare,
    /// Response targets met out of those decided, of tickets created in the period.
    pub response_compliance: ReportShare,
    pub response_breached: ReportCount,
    pub resolution_compliance: ReportShare,
    pub resolution_breached: ReportCount,
    /// Open tickets now, youngest first.
    pub backlog: Vec<ReportAge>,
    pub volume: Vec<ReportVolume>,
    pub days: Vec<ReportDay>,
    pub monitors: ReportMonitors,
    /// For staff only.
    pub changes: Option<ReportChanges>,
    /// For staff only.
    pub deflection: Option<ReportDeflection>,
    /// Of the tickets resolved in the period and rated by their requester, the share
    /// rated 4 or 5 (CSAT).
    pub satisfaction: ReportShare,
}

impl App {
    /// The figures of the period `query` asks for, beside the previous period's.
    pub async fn report(
        &self,
        principal: &Principal,
        query: &ReportQuery,
    ) -> Result<Report, AppError> {
        let period = self.period(principal, query).await?;
        let scope = scope_of(principal, period.organization);
        let now = self.now_ms();
        let (start, end, before) = (period.start, period.end, period.previous_start);
        // Each read on a connection of its own, so that the database answers them side by side.
        macro_rules! apart {
            (|$conn:ident| $read:expr) => {
                async {
                    let mut held = self.db().reader().await?;
                    let $conn = &mut *held;
                    $read.await.map_err(AppError::from)
                }
            };
        }
        let scope = &scope;
        let volumes = futures::future::try_join_all(Dimension::ALL.map(|dimension| async move {
            let mut conn = self.db().reader().await?;
            Ok::<_, AppError>(store::volume(&mut conn, scope, dimension, start, end).await?)
        }));
        let (created, created_before, resolved, resolved_before, backlog, rows, days, monitors) = tokio::try_join!(
            apart!(|c| store::created_totals(c, scope, start, end)),
            apart!(|c| store::created_totals(c, scope, before, start)),
            apart!(|c| store::resolved_totals(c, scope, start, end)),
            apart!(|c| store::resolved_totals(c, scope, before, start)),
            apart!(|c| store::backlog(c, scope, now)),
            volumes,
            self.days(scope, &period),
            apart!(|c| monitor_figures(c, scope, &period, now)),
        )?;
        let volume = Dimension::ALL
            .into_iter()
            .zip(rows)
            .map(|(dimension, rows)| {
                let by = dimension_name(dimension);
                ReportVolume {
                    by: by.to_owned(),
                    lines: rows
                        .into_iter()
                        .map(|row| {
                            let key = row.key.unwrap_or_else(|| "none".to_owned());
                            ReportVolumeLine {
                                drill_down: format!(
                                    "{}&by={by}&key={}",
                                    period.drill("volume", false),
                                    urlencoding(&key)
                                ),
                                key,
                                label: row.label.unwrap_or_else(|| "none".to_owned()),
                                tickets: row.tickets,
                            }
                        })
                        .collect(),
                }
            })
            .collect();
        let (changes, deflection) = if principal.role.is_staff() {
            (
                Some(self.change_figures(principal, &period).await?),
                Some(self.deflection_figures(&period, now).await?),
            )
        } else {
            (None, None)
        };
        let p = &period;
        let share = |counted: ReportCount, of: ReportCount| ReportShare {
            value: percent(counted.value, of.value),
            previous: percent(counted.previous, of.previous),
            counted,
            of,
        };
        let response_met = p.count(
            "response_met",
            created.response_met,
            created_before.response_met,
        );
        let response_breached = p.count(
            "response_breached",
            created.response_breached,
            created_before.response_breached,
        );
        let resolution_met = p.count(
            "resolution_met",
            created.resolution_met,
            created_before.resolution_met,
        );
        let resolution_breached = p.count(
            "resolution_breached",
            created.resolution_breached,
            created_before.resolution_breached,
        );
        let resolved_count = p.count("resolved", resolved.resolved, resolved_before.resolved);
        Ok(Report {
            from: p.from,
            to: p.to,
            time_zone: p.zone_name.clone(),
            organization: p.organization,
            starts: crate::timestamp(start),
            ends: crate::timestamp(end),
            previous_starts: crate::timestamp(before),
            previous_from: p
                .from
                .checked_sub(
                    jiff::Span::new().days(
                        p.from
                            .until(p.to)
                            .map_err(|e| AppError::invalid("to", e))?
                            .get_days()
                            + 1,
                    ),
                )
                .map_err(|e| AppError::invalid("from", e))?,
            previous_to: p
                .from
                .yesterday()
                .map_err(|e| AppError::invalid("from", e))?,
            created: p.count("created", created.created, created_before.created),
            resolved: resolved_count.clone(),
            mtta_minutes: ReportAverage {
                value: minutes(created.response_ms, created.responded),
                previous: minutes(created_before.response_ms, created_before.responded),
                over: p.count("responded", created.responded, created_before.responded),
            },
            mttr_minutes: ReportAverage {
                value: minutes(resolved.resolution_ms, resolved.resolved),
                previous: minutes(resolved_before.resolution_ms, resolved_before.resolved),
                over: resolved_count.clone(),
            },
            first_contact_resolution: share(
                p.count(
                    "first_contact",
                    resolved.first_contact,
                    resolved_before.first_contact,
                ),
                resolved_count.clone(),
            ),
            reopen_rate: share(
                p.count("reopened", resolved.reopened, resolved_before.reopened),
                resolved_count,
            ),
            response_compliance: share(
                response_met.clone(),
                ReportCount {
                    value: response_met.value + response_breached.value,
                    previous: response_met.previous + response_breached.previous,
                    drill_down: String::new(),
                    previous_drill_down: String::new(),
                },
            ),
            response_breached,
            resolution_compliance: share(
                resolution_met.clone(),
                ReportCount {
                    value: resolution_met.value + resolution_breached.value,
                    previous: resolution_met.previous + resolution_breached.previous,
                    drill_down: String::new(),
                    previous_drill_down: String::new(),
                },
            ),
            resolution_breached,
            backlog: backlog
                .into_iter()
                .zip(AGE_LABELS)
                .enumerate()
                .map(|(n, (tickets, age))| ReportAge {
                    age: age.to_owned(),
                    tickets,
                    drill_down: format!("{}&age={n}", p.drill("backlog", false)),
                })
                .collect(),
            volume,
            days,
            monitors,
            changes,
            deflection,
            satisfaction: share(
                p.count("satisfied", resolved.satisfied, resolved_before.satisfied),
                p.count("rated", resolved.rated, resolved_before.rated),
            ),
        })
    }

    /// Tickets created and resolved per day of the period, in its time zone.
    async fn days(&self, scope: &Scope, period: &Period) -> Result<Vec<ReportDay>, AppError> {
        let per_quarter_hour = |base| async move {
            let mut conn = self.db().reader().await?;
            Ok::<_, AppError>(
                store::per_quarter_hour(&mut conn, scope, base, period.start, period.end).await?,
            )
        };
        let (created, resolved) = tokio::try_join!(
            per_quarter_hour(store::Base::Created),
            per_quarter_hour(store::Base::Resolved)
        )?;
        let mut days = Vec::new();
        let mut date = period.from;
        while date <= period.to {
            let next = date.tomorrow().map_err(|e| AppError::invalid("to", e))?;
            let (start, end) = (
                midnight(date, &period.zone, "from")?,
                midnight(next, &period.zone, "to")?,
            );
            let within = |rows: &[(i64, i64)]| -> i64 {
                rows.iter()
                    .filter(|(at, _)| *at >= start && *at < end)
                    .map(|(_, n)| n)
                    .sum()
            };
            days.push(ReportDay {
                date,
                created: within(&created),
                resolved: within(&resolved),
            });
            date = next;
        }
        Ok(days)
    }

    async fn change_figures(
        &self,
        principal: &Principal,
        period: &Period,
    ) -> Result<ReportChanges, AppError> {
        let at = crate::timestamp;
        let now = self
            .change_outcomes(principal, at(period.start), at(period.end))
            .await?;
        let before = self
            .change_outcomes(principal, at(period.previous_start), at(period.start))
            .await?;
        let success = |o: &crate::changes::ChangeOutcomes| {
            (o.finished > 0).then(|| ((1.0 - o.failure_rate) * 1000.0).round() / 10.0)
        };
        Ok(ReportChanges {
            finished: now.finished,
            previous_finished: before.finished,
            success_rate: success(&now),
            previous_success_rate: success(&before),
        })
    }

    async fn deflection_figures(
        &self,
        period: &Period,
        now: i64,
    ) -> Result<ReportDeflection, AppError> {
        let mut conn = self.db().reader().await?;
        let mut totals = [(0, 0, 0); 2];
        for (total, (from, to)) in totals.iter_mut().zip([
            (period.start, period.end),
            (period.previous_start, period.start),
        ]) {
            for row in
                portal_store::deflection(&mut conn, from, to, now, DEFLECTION_WINDOW_MS).await?
            {
                let deflected = row.visits - row.submitted - row.waiting - row.came_back;
                total.0 += row.visits;
                total.1 += deflected;
                total.2 += row.visits - row.waiting;
            }
        }
        let [
            (visits, deflected, judged),
            (_, deflected_before, judged_before),
        ] = totals;
        Ok(ReportDeflection {
            visits,
            deflected,
            rate: percent(deflected, judged),
            previous_rate: percent(deflected_before, judged_before),
        })
    }
}

async fn monitor_figures(
    conn: &mut opsdesk_store::Conn,
    scope: &Scope,
    period: &Period,
    now: i64,
) -> Result<ReportMonitors, AppError> {
    let ids = store::monitor_ids(conn, scope).await?;
    let mut uptimes = [None; 2];
    let mut outages = [
        store::OutageTotals::default(),
        store::OutageTotals::default(),
    ];
    for (n, (from, to)) in [
        (period.start, period.end),
        (period.previous_start, period.start),
    ]
    .into_iter()
    .enumerate()
    {
        let tallies = uptime_store::tallies(conn, &ids, from, to, HOUR_MS).await?;
        let (checks, ok) = tallies
            .iter()
            .fold((0, 0), |(c, o), t| (c + t.checks, o + t.ok));
        uptimes[n] = (checks > 0).then(|| (ok as f64 * 10_000.0 / checks as f64).round() / 100.0);
        outages[n] = store::outages(conn, scope, from, to, now).await?;
    }
    let [now_outages, before_outages] = outages;
    Ok(ReportMonitors {
        monitors: ids.len(),
        uptime: uptimes[0],
        previous_uptime: uptimes[1],
        outages: now_outages.outages,
        previous_outages: before_outages.outages,
        outage_minutes: now_outages.down_ms / 60_000,
        previous_outage_minutes: before_outages.down_ms / 60_000,
    })
}

/// A volume key in a query string: ids and channel names need no more than spaces escaped.
fn urlencoding(key: &str) -> String {
    key.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
