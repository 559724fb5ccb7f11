//! Reports: the service desk's figures over a period of days in the viewer's time zone,
//! each beside the previous period of equal length, and the tickets behind every count.
//! Staff see the organizations they may see; a customer sees their own organization's.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use opsdesk_store::dashboard as uptime_store;
use opsdesk_store::portal as portal_store;
use opsdesk_store::reports::{self as store, Counted, Dimension, Key, Scope};
use serde::Serialize;

use crate::deflection::DEFLECTION_WINDOW_MS;
use crate::tickets::number_of;
use crate::{App, AppError, Principal};

const HOUR_MS: i64 = 3_600_000;
/// Days a report covers when none are asked for.
const DEFAULT_DAYS: i64 = 30;
/// The longest period a report covers.
const MAX_DAYS: i64 = 366;
/// Monitors the wall dashboard looks at, at most.
const WALL_MONITORS: i64 = 10_000;
/// Tickets a drill-down lists per page, at most.
pub const MAX_DRILL_DOWN: i64 = 500;

/// What a report is asked for: days `from` to `to` (both included) in `time_zone`, and
/// optionally one organization.
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub organization: Option<i64>,
    /// An IANA time zone; the viewer's own (their quiet hours' zone) or UTC when absent.
    pub time_zone: Option<String>,
}

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

/// Open incidents of one priority, and the ticket search that lists them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WallPriority {
    /// `P1` to `P5`.
    pub priority: String,
    pub tickets: i64,
    /// A query of the search language (`/tickets?q=`) for exactly these tickets.
    pub query: String,
}

/// What the wall dashboard shows, for today in the viewer's time zone (staff).
#[derive(Debug, Clone, PartialEq)]
pub struct Wall {
    pub open_incidents: Vec<WallPriority>,
    /// Tickets whose response or resolution target fell due today and was missed.
    pub breaches_today: i64,
    pub monitors_down: usize,
    /// Mean time to respond to the tickets opened today and answered.
    pub mtta_today: Option<f64>,
    pub answered_today: i64,
}

/// A page of the tickets a figure counted.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CountedTickets {
    pub items: Vec<CountedTicket>,
    pub next_cursor: Option<String>,
}

/// One counted ticket.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CountedTicket {
    /// `INC-42`.
    pub number: String,
    pub title: String,
}

/// A drill-down as asked: the figure and what narrows it.
#[derive(Debug, Clone, Default)]
pub struct DrillDown {
    /// `created`, `responded`, `response_met`, `response_breached`, `resolution_met`,
    /// `resolution_breached`, `resolved`, `first_contact`, `reopened`, `backlog`, `volume`.
    pub figure: String,
    /// `previous` for the previous period.
    pub period: Option<String>,
    /// Backlog: the age bucket, 0 (youngest) to 4.
    pub age: Option<usize>,
    /// Volume: the dimension and the value's key.
    pub by: Option<String>,
    pub key: Option<String>,
    pub cursor: Option<String>,
    pub limit: i64,
}

/// A report's period in milliseconds, and the one before it.
#[derive(Debug, Clone)]
struct Period {
    from: Date,
    to: Date,
    zone: TimeZone,
    zone_name: String,
    start: i64,
    end: i64,
    previous_start: i64,
    organization: Option<i64>,
}

impl Period {
    /// The query string common to this period's drill-downs.
    fn query(&self, previous: bool) -> String {
        let mut query = format!("from={}&to={}&tz={}", self.from, self.to, self.zone_name);
        if let Some(id) = self.organization {
            query.push_str(&format!("&organization={id}"));
        }
        if previous {
            query.push_str("&period=previous");
        }
        query
    }

    fn drill(&self, figure: &str, previous: bool) -> String {
        format!("figure={figure}&{}", self.query(previous))
    }

    fn count(&self, figure: &str, value: i64, previous: i64) -> ReportCount {
        ReportCount {
            value,
            previous,
            drill_down: self.drill(figure, false),
            previous_drill_down: self.drill(figure, true),
        }
    }
}

const AGE_LABELS: [&str; 5] = ["<1d", "1-3d", "3-7d", "7-30d", ">30d"];

fn dimension_name(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Category => "category",
        Dimension::Organization => "organization",
        Dimension::Group => "group",
        Dimension::Agent => "agent",
        Dimension::Channel => "channel",
    }
}

fn percent(counted: i64, of: i64) -> Option<f64> {
    (of > 0).then(|| (counted as f64 * 1000.0 / of as f64).round() / 10.0)
}

fn minutes(total_ms: i64, tickets: i64) -> Option<f64> {
    (tickets > 0).then(|| (total_ms as f64 / tickets as f64 / 60_000.0 * 10.0).round() / 10.0)
}

fn midnight(date: Date, zone: &TimeZone, field: &str) -> Result<i64, AppError> {
    date.to_zoned_datetime(zone.clone())
        .map(|zoned| zoned.timestamp().as_millisecond())
        .map_err(|e| AppError::invalid(field, e))
}

/// The counted figure a drill-down names.
fn counted_of(drill: &DrillDown) -> Result<Counted, AppError> {
    Ok(match drill.figure.as_str() {
        "created" => Counted::Created,
        "responded" => Counted::Responded,
        "response_met" => Counted::ResponseMet,
        "response_breached" => Counted::ResponseBreached,
        "resolution_met" => Counted::ResolutionMet,
        "resolution_breached" => Counted::ResolutionBreached,
        "resolved" => Counted::Resolved,
        "first_contact" => Counted::FirstContact,
        "reopened" => Counted::Reopened,
        "rated" => Counted::Rated,
        "satisfied" => Counted::Satisfied,
        "backlog" => match drill.age {
            Some(age) if age < AGE_LABELS.len() => Counted::Backlog(age),
            _ => return Err(AppError::invalid("age", "expected 0 to 4")),
        },
        "volume" => {
            let by = Dimension::ALL
                .into_iter()
                .find(|d| Some(dimension_name(*d)) == drill.by.as_deref())
                .ok_or_else(|| {
                    AppError::invalid(
                        "by",
                        "expected category, organization, group, agent or channel",
                    )
                })?;
            let key = match drill.key.as_deref() {
                None => return Err(AppError::invalid("key", "name the value to list")),
                Some("none") => Key::None,
                Some(text) if by == Dimension::Channel => Key::Text(text.to_owned()),
                Some(text) => Key::Id(
                    text.parse()
                        .map_err(|_| AppError::invalid("key", "expected an id or none"))?,
                ),
            };
            Counted::Volume(by, key)
        }
        _ => return Err(AppError::invalid("figure", "not a counted figure")),
    })
}

impl App {
    /// The period a query asks for, checked: `from` not after `to`, at most 366 days.
    async fn period(&self, principal: &Principal, query: &ReportQuery) -> Result<Period, AppError> {
        let zone_name = match &query.time_zone {
            Some(name) => name.clone(),
            None if principal.role.is_staff() && principal.user_id.is_some() => self
                .notification_rules(principal)
                .await?
                .quiet_hours
                .map_or_else(|| "UTC".to_owned(), |quiet| quiet.time_zone),
            None => "UTC".to_owned(),
        };
        let zone = TimeZone::get(&zone_name)
            .map_err(|_| AppError::invalid("tz", "expected an IANA time zone"))?;
        let today = self.now().to_zoned_datetime(zone.clone()).date();
        let to = query.to.unwrap_or(today);
        let from = match query.from {
            Some(from) => from,
            None => to
                .checked_sub(jiff::Span::new().days(DEFAULT_DAYS - 1))
                .map_err(|e| AppError::invalid("to", e))?,
        };
        if from > to {
            return Err(AppError::invalid("from", "must not be after to"));
        }
        let longest = from
            .checked_add(jiff::Span::new().days(MAX_DAYS - 1))
            .map_err(|e| AppError::invalid("from", e))?;
        if to > longest {
            return Err(AppError::invalid("to", "a report covers at most 366 days"));
        }
        let start = midnight(from, &zone, "from")?;
        let after = to.tomorrow().map_err(|e| AppError::invalid("to", e))?;
        let end = midnight(after, &zone, "to")?;
        if let Some(id) = query.organization
            && !principal.can_see_organization(Some(id))
        {
            return Err(AppError::NotFound("organization"));
        }
        Ok(Period {
            from,
            to,
            zone,
            zone_name,
            start,
            end,
            previous_start: start - (end - start),
            organization: query.organization,
        })
    }

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

    /// Today's big numbers for the wall dashboard (staff): open incidents by priority, SLA
    /// breaches today, monitors down and today's MTTA.
    pub async fn wall(&self, principal: &Principal) -> Result<Wall, AppError> {
        principal.require_staff()?;
        let date = self.period(principal, &ReportQuery::default()).await?.to;
        let today = ReportQuery {
            from: Some(date),
            to: Some(date),
            ..ReportQuery::default()
        };
        let today = self.period(principal, &today).await?;
        let scope = scope_of(principal, None);
        let mut conn = self.db().reader().await?;
        let counts = store::open_incidents(&mut conn, &scope).await?;
        let breaches_today = store::breaches(&mut conn, &scope, today.start, today.end).await?;
        let created = store::created_totals(&mut conn, &scope, today.start, today.end).await?;
        drop(conn);
        let monitors_down = self
            .monitors(principal, 0, WALL_MONITORS)
            .await?
            .iter()
            .filter(|m| m.status == "down")
            .count();
        Ok(Wall {
            open_incidents: (1..=5)
                .map(|rank| WallPriority {
                    priority: format!("P{rank}"),
                    tickets: counts
                        .iter()
                        .find(|(p, _)| *p == rank)
                        .map_or(0, |(_, n)| *n),
                    query: format!("type:incident status:new,open,pending priority:P{rank}"),
                })
                .collect(),
            breaches_today,
            monitors_down,
            mtta_today: minutes(created.response_ms, created.responded),
            answered_today: created.responded,
        })
    }

    /// The tickets a figure counted, a page at a time by ticket id.
    pub async fn report_tickets(
        &self,
        principal: &Principal,
        query: &ReportQuery,
        drill: &DrillDown,
    ) -> Result<CountedTickets, AppError> {
        let counted = counted_of(drill)?;
        let period = self.period(principal, query).await?;
        let (from, to) = match drill.period.as_deref() {
            None | Some("current") => (period.start, period.end),
            Some("previous") => (period.previous_start, period.start),
            Some(_) => return Err(AppError::invalid("period", "expected current or previous")),
        };
        let after = match &drill.cursor {
            None => 0,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| AppError::invalid("cursor", "not a cursor this list gave"))?,
        };
        if !(1..=MAX_DRILL_DOWN).contains(&drill.limit) {
            return Err(AppError::invalid("limit", "must be 1 to 500"));
        }
        let scope = scope_of(principal, period.organization);
        let mut conn = self.db().reader().await?;
        let mut rows = store::counted_tickets(
            &mut conn,
            &scope,
            &counted,
            from,
            to,
            self.now_ms(),
            after,
            drill.limit + 1,
        )
        .await?;
        let more = rows.len() as i64 > drill.limit;
        rows.truncate(drill.limit as usize);
        Ok(CountedTickets {
            next_cursor: more
                .then(|| rows.last().map(|row| row.id.to_string()))
                .flatten(),
            items: rows
                .into_iter()
                .map(|row| CountedTicket {
                    number: number_of(&row.ticket_type, row.number),
                    title: row.title,
                })
                .collect(),
        })
    }
}

/// A report as a CSV file: one line per figure (`section,figure,value,previous`), then the
/// backlog, volumes and days.
pub fn report_csv(report: &Report) -> Result<String, AppError> {
    let failed = |e: csv::Error| AppError::internal("writing CSV", e);
    let mut writer = csv::Writer::from_writer(Vec::new());
    let text = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut lines: Vec<[String; 4]> =
        vec![["section", "figure", "value", "previous"].map(String::from)];
    let mut line = |section: &str, figure: &str, value: String, previous: String| {
        lines.push([section.to_owned(), figure.to_owned(), value, previous]);
    };
    let r = report;
    for (figure, count) in [
        ("created", &r.created),
        ("resolved", &r.resolved),
        ("response_breached", &r.response_breached),
        ("resolution_breached", &r.resolution_breached),
    ] {
        line(
            "tickets",
            figure,
            count.value.to_string(),
            count.previous.to_string(),
        );
    }
    for (figure, average) in [
        ("mtta_minutes", &r.mtta_minutes),
        ("mttr_minutes", &r.mttr_minutes),
    ] {
        line(
            "tickets",
            figure,
            text(average.value),
            text(average.previous),
        );
    }
    for (figure, share) in [
        (
            "first_contact_resolution_percent",
            &r.first_contact_resolution,
        ),
        ("reopen_rate_percent", &r.reopen_rate),
        ("response_compliance_percent", &r.response_compliance),
        ("resolution_compliance_percent", &r.resolution_compliance),
        ("satisfaction_percent", &r.satisfaction),
    ] {
        line("tickets", figure, text(share.value), text(share.previous));
    }
    let m = &r.monitors;
    line(
        "monitors",
        "uptime_percent",
        text(m.uptime),
        text(m.previous_uptime),
    );
    line(
        "monitors",
        "outages",
        m.outages.to_string(),
        m.previous_outages.to_string(),
    );
    line(
        "monitors",
        "outage_minutes",
        m.outage_minutes.to_string(),
        m.previous_outage_minutes.to_string(),
    );
    if let Some(c) = &r.changes {
        line(
            "changes",
            "finished",
            c.finished.to_string(),
            c.previous_finished.to_string(),
        );
        line(
            "changes",
            "success_rate_percent",
            text(c.success_rate),
            text(c.previous_success_rate),
        );
    }
    if let Some(d) = &r.deflection {
        line(
            "deflection",
            "rate_percent",
            text(d.rate),
            text(d.previous_rate),
        );
    }
    for age in &r.backlog {
        line("backlog", &age.age, age.tickets.to_string(), String::new());
    }
    for volume in &r.volume {
        for v in &volume.lines {
            line(
                &format!("volume_by_{}", volume.by),
                &v.label,
                v.tickets.to_string(),
                String::new(),
            );
        }
    }
    for day in &r.days {
        line(
            "created_per_day",
            &day.date.to_string(),
            day.created.to_string(),
            String::new(),
        );
        line(
            "resolved_per_day",
            &day.date.to_string(),
            day.resolved.to_string(),
            String::new(),
        );
    }
    for record in lines {
        writer.write_record(record).map_err(failed)?;
    }
    String::from_utf8(
        writer
            .into_inner()
            .map_err(|e| AppError::internal("writing CSV", e))?,
    )
    .map_err(|e| AppError::internal("writing CSV", e))
}

/// The organizations a report covers: the one asked for, or all the principal sees.
fn scope_of(principal: &Principal, organization: Option<i64>) -> Scope {
    match organization {
        Some(id) => Scope {
            organizations: Some(vec![id]),
            unowned: false,
            restricted_groups: principal.restricted_filter(),
        },
        None => Scope {
            organizations: principal.organization_filter(),
            unowned: principal.role.is_staff(),
            restricted_groups: principal.restricted_filter(),
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_and_shares_round_to_a_tenth() {
        assert_eq!(minutes(3 * 60_000 + 30_000, 1), Some(3.5));
        assert_eq!(minutes(100, 0), None);
        assert_eq!(percent(1, 3), Some(33.3));
        assert_eq!(percent(0, 0), None);
    }

    #[test]
    fn a_drill_down_names_a_figure_the_report_counts() {
        let drill = |figure: &str, by: Option<&str>, key: Option<&str>| DrillDown {
            figure: figure.into(),
            by: by.map(Into::into),
            key: key.map(Into::into),
            ..DrillDown::default()
        };
        assert_eq!(
            counted_of(&drill("volume", Some("channel"), Some("web"))).ok(),
            Some(Counted::Volume(Dimension::Channel, Key::Text("web".into())))
        );
        assert_eq!(
            counted_of(&drill("volume", Some("group"), Some("none"))).ok(),
            Some(Counted::Volume(Dimension::Group, Key::None))
        );
        assert!(counted_of(&drill("volume", Some("group"), Some("x"))).is_err());
        assert!(counted_of(&drill("backlog", None, None)).is_err());
        assert!(counted_of(&drill("mood", None, None)).is_err());
    }
}
