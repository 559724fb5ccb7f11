//! SLAs: which policy covers a ticket, its response and resolution clocks (paused, resumed,
//! met, re-targeted as the ticket changes), the sweeper that raises each warning and breach
//! exactly once, the compliance report, and the admin API for calendars and policies.

mod admin;
mod report;
mod sweep;

use std::collections::HashMap;

use opsdesk_domain::sla::{
    BusinessCalendar, CalendarSpec, ClockKind, Coverage, Crossing, PolicySpec, Targets,
    TrackedClock, WorkingHoursSpec,
};
use opsdesk_domain::ticket::{Priority, TicketStatus, TicketType};
use opsdesk_store::sla::{self as store, TicketSlaRow};
use opsdesk_store::{Batch, Conn};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::Precondition;
use crate::audit::{Action, Entity, Event};
use crate::catalog::Catalog;
use crate::change::{Need, Tx};
use crate::{App, AppError, Principal, timestamp};

/// The ticket facts SLAs depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlaFacts {
    pub ticket_id: i64,
    pub organization: Option<i64>,
    pub ticket_type: TicketType,
    pub priority: Priority,
    pub category: Option<i64>,
    pub status: TicketStatus,
    pub pending_reason: Option<String>,
}

impl SlaFacts {
    fn coverage(&self) -> Coverage {
        Coverage {
            organization: self.organization,
            ticket_type: self.ticket_type,
            priority: self.priority,
            category: self.category,
        }
    }

    fn is_active(&self) -> bool {
        matches!(
            self.status,
            TicketStatus::New | TicketStatus::Open | TicketStatus::Pending
        )
    }
}

fn ms(t: jiff::Timestamp) -> i64 {
    t.as_millisecond()
}

fn invalid_time(e: impl std::fmt::Display) -> AppError {
    // The SLA calendar's errors are plain messages; the message is the cause.
    AppError::internal("SLA time arithmetic failed", e.to_string())
}

fn clock_of(row: &TicketSlaRow, kind: ClockKind) -> TrackedClock {
    let (target, elapsed, since, met, raised) = match kind {
        ClockKind::Response => (
            row.response_target,
            row.response_elapsed,
            row.response_running_since,
            row.response_met_at,
            row.response_raised,
        ),
        ClockKind::Resolution => (
            row.resolution_target,
            row.resolution_elapsed,
            row.resolution_running_since,
            row.resolution_met_at,
            row.resolution_raised,
        ),
    };
    TrackedClock {
        target_seconds: target,
        elapsed_seconds: elapsed,
        running_since: since.map(timestamp),
        met_at: met.map(timestamp),
        raised: u8::try_from(raised).unwrap_or(u8::MAX),
    }
}

fn set_clock(row: &mut TicketSlaRow, kind: ClockKind, clock: &TrackedClock) {
    let (target, elapsed, since, met, raised) = match kind {
        ClockKind::Response => (
            &mut row.response_target,
            &mut row.response_elapsed,
            &mut row.response_running_since,
            &mut row.response_met_at,
            &mut row.response_raised,
        ),
        ClockKind::Resolution => (
            &mut row.resolution_target,
            &mut row.resolution_elapsed,
            &mut row.resolution_running_since,
            &mut row.resolution_met_at,
            &mut row.resolution_raised,
        ),
    };
    *target = clock.target_seconds;
    *elapsed = clock.elapsed_seconds;
    *since = clock.running_since.map(ms);
    *met = clock.met_at.map(ms);
    *raised = i64::from(clock.raised);
}

fn warnings_of(row: &TicketSlaRow) -> Vec<u8> {
    row.warnings
        .split(',')
        .filter_map(|w| w.trim().parse().ok())
        .collect()
}

/// Recomputes the due instants and the next check from the clocks.
fn refresh(row: &mut TicketSlaRow, calendar: &BusinessCalendar) -> Result<(), AppError> {
    let warnings = warnings_of(row);
    let mut next: Option<i64> = None;
    for kind in ClockKind::ALL {
        let clock = clock_of(row, kind);
        let due = clock.due_at(calendar).map_err(invalid_time)?.map(ms);
        match kind {
            ClockKind::Response => row.response_due_at = due,
            ClockKind::Resolution => row.resolution_due_at = due,
        }
        if let Some(crossing) = clock
            .next_crossing(calendar, &warnings)
            .map_err(invalid_time)?
        {
            let at = ms(crossing.at);
            next = Some(next.map_or(at, |n| n.min(at)));
        }
    }
    row.next_check_at = next;
    Ok(())
}

/// The first policy, in order, that covers the ticket: its (policy, calendar) ids, its
/// definition and the targets it gives the ticket.
fn covering<'a>(
    policies: &'a [((i64, i64), PolicySpec)],
    ticket: &Coverage,
) -> Option<((i64, i64), &'a PolicySpec, Targets)> {
    policies.iter().find_map(|(ids, spec)| {
        spec.targets_for(ticket)
            .map(|targets| (*ids, spec, targets))
    })
}

/// A policy's warning thresholds as stored: `75,90`.
fn warnings_text(spec: &PolicySpec) -> String {
    spec.warnings
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether the ticket's clocks stand still under `policy`.
fn is_paused(facts: &SlaFacts, policy: Option<&PolicySpec>) -> bool {
    facts.status == TicketStatus::Pending
        && facts
            .pending_reason
            .as_deref()
            .is_some_and(|reason| policy.is_some_and(|p| p.pauses_for(reason)))
}

/// The clocks of a new ticket under the first policy that covers it, started at `now`, or
/// `None` when no policy does.
pub(crate) fn new_clocks(
    catalog: &Catalog,
    facts: &SlaFacts,
    now: i64,
) -> Result<Option<TicketSlaRow>, AppError> {
    let Some(((policy_id, calendar_id), spec, targets)) =
        covering(catalog.policies(), &facts.coverage())
    else {
        return Ok(None);
    };
    let start = timestamp(now);
    let mut row = started_clocks(
        facts.ticket_id,
        (policy_id, calendar_id),
        spec,
        targets,
        start,
    );
    let calendar = catalog.calendar(calendar_id)?;
    if is_paused(facts, Some(spec)) {
        for kind in ClockKind::ALL {
            let mut clock = clock_of(&row, kind);
            clock.pause(calendar, start).map_err(invalid_time)?;
            set_clock(&mut row, kind, &clock);
        }
    }
    refresh(&mut row, calendar)?;
    Ok(Some(row))
}

/// Both clocks of a ticket started at `start` under a policy; due dates not computed yet.
fn started_clocks(
    ticket_id: i64,
    (policy_id, calendar_id): (i64, i64),
    spec: &PolicySpec,
    targets: Targets,
    start: jiff::Timestamp,
) -> TicketSlaRow {
    let mut row = TicketSlaRow {
        ticket_id,
        policy_id: Some(policy_id),
        policy_name: spec.name.clone(),
        calendar_id,
        warnings: warnings_text(spec),
        response_target: targets.response_seconds,
        response_elapsed: 0,
        response_running_since: None,
        response_met_at: None,
        response_raised: 0,
        response_due_at: None,
        response_breached: 0,
        resolution_target: targets.resolution_seconds,
        resolution_elapsed: 0,
        resolution_running_since: None,
        resolution_met_at: None,
        resolution_raised: 0,
        resolution_due_at: None,
        resolution_breached: 0,
        next_check_at: None,
    };
    set_clock(
        &mut row,
        ClockKind::Response,
        &TrackedClock::started(targets.response_seconds, start),
    );
    set_clock(
        &mut row,
        ClockKind::Resolution,
        &TrackedClock::started(targets.resolution_seconds, start),
    );
    row
}

/// Follows a ticket change: re-targets on a new priority (or type, organization, category),
/// pauses and resumes with its status, stops resolution at `resolved` and resumes it with the
/// time already used when the ticket reopens.
pub(crate) async fn on_ticket_changed(
    conn: &mut Conn,
    catalog: &Catalog,
    before: &SlaFacts,
    after: &SlaFacts,
    now: i64,
) -> Result<(), AppError> {
    let Some(mut row) = store::ticket_sla(conn, after.ticket_id).await? else {
        // A ticket no policy covered may be covered now (its priority changed).
        if before.coverage() != after.coverage()
            && after.is_active()
            && let Some(clocks) = new_clocks(catalog, after, now)?
        {
            save(conn, &clocks).await?;
        }
        return Ok(());
    };
    let at = timestamp(now);
    let original = row.clone();
    if before.coverage() != after.coverage()
        && let Some(((policy_id, calendar_id), spec, targets)) =
            covering(catalog.policies(), &after.coverage())
    {
        // Targets count from creation: the time already used stays; only the goal moves.
        row.response_target = targets.response_seconds;
        row.resolution_target = targets.resolution_seconds;
        row.policy_id = Some(policy_id);
        row.calendar_id = calendar_id;
        row.policy_name = spec.name.clone();
        row.warnings = warnings_text(spec);
    }
    let calendar = catalog.calendar(row.calendar_id)?;
    let policy = row.policy_id.and_then(|id| catalog.policy(id));
    let running = after.is_active() && !is_paused(after, policy);
    for kind in ClockKind::ALL {
        let mut clock = clock_of(&row, kind);
        let reopened = kind == ClockKind::Resolution
            && before.status == TicketStatus::Resolved
            && after.is_active();
        let should_run = running && (clock.met_at.is_none() || reopened);
        if should_run {
            clock.resume(at);
        } else if kind == ClockKind::Resolution
            && after.status == TicketStatus::Resolved
            && clock.met_at.is_none()
        {
            clock.meet(calendar, at).map_err(invalid_time)?;
        } else {
            clock.pause(calendar, at).map_err(invalid_time)?;
        }
        set_clock(&mut row, kind, &clock);
    }
    refresh(&mut row, calendar)?;
    if row != original {
        save(conn, &row).await?;
    }
    Ok(())
}

/// A policy's or calendar's change reaches the open tickets it times, as when a ticket's
/// priority changes: the time already used stays; the goals (and the policy's name, warnings
/// and calendar) move, and the due dates follow. A clock already met keeps the target it was
/// met against.
pub(crate) async fn retime_clocks(
    conn: &mut Conn,
    owner: store::TimedBy,
    policy: Option<&PolicySpec>,
    calendar: (i64, &BusinessCalendar),
) -> Result<(), AppError> {
    let mut batch = Batch::new(conn);
    for (mut row, priority) in store::unmet_clocks(conn, owner).await? {
        let original = row.clone();
        if let Some(spec) = policy {
            let Some(targets) = spec
                .targets
                .get(&crate::tickets::priority_from_rank(priority))
            else {
                continue;
            };
            if row.response_met_at.is_none() {
                row.response_target = targets.response_seconds;
            }
            if row.resolution_met_at.is_none() {
                row.resolution_target = targets.resolution_seconds;
            }
            row.policy_name = spec.name.clone();
            row.warnings = warnings_text(spec);
            row.calendar_id = calendar.0;
        }
        refresh(&mut row, calendar.1)?;
        if row != original {
            store::save_ticket_sla(&mut batch, &row);
        }
    }
    Ok(batch.run(conn).await?)
}

/// Writes a ticket's clocks, replacing any it had, in one round trip.
async fn save(conn: &mut Conn, row: &TicketSlaRow) -> Result<(), AppError> {
    let mut batch = Batch::new(conn);
    store::save_ticket_sla(&mut batch, row);
    Ok(batch.run(conn).await?)
}

/// An agent's first public reply meets the response target.
pub(crate) async fn on_first_response(
    conn: &mut Conn,
    ticket_id: i64,
    now: i64,
) -> Result<(), AppError> {
    let Some(mut row) = store::ticket_sla(conn, ticket_id).await? else {
        return Ok(());
    };
    let mut clock = clock_of(&row, ClockKind::Response);
    if clock.met_at.is_some() {
        return Ok(());
    }
    let catalog = crate::catalog::current(conn).await?;
    let calendar = catalog.calendar(row.calendar_id)?;
    clock.meet(calendar, timestamp(now)).map_err(invalid_time)?;
    set_clock(&mut row, ClockKind::Response, &clock);
    refresh(&mut row, calendar)?;
    save(conn, &row).await?;
    Ok(())
}

/// Remaining business seconds per clock.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PerClock<T> {
    pub response: T,
    pub resolution: T,
}

/// A ticket's SLA as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketSla {
    pub policy: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub response_due_at: Option<jiff::Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolution_due_at: Option<jiff::Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub response_met_at: Option<jiff::Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolution_met_at: Option<jiff::Timestamp>,
    /// Whether the clocks stand still (a pausing status).
    pub paused: bool,
    #[schema(value_type = Object)]
    pub breached: PerClock<bool>,
    /// Business seconds left; negative once breached.
    #[schema(value_type = Object)]
    pub remaining_business_seconds: PerClock<i64>,
    /// Each clock's target, in business seconds.
    #[schema(value_type = Object)]
    pub target_business_seconds: PerClock<i64>,
    /// The policy's warning thresholds: percentages of a target used, ascending.
    pub warning_percents: Vec<u8>,
    /// Within working hours: when the current working stretch ends (at most a week ahead).
    /// Until then a running clock's business time passes like wall time, so a countdown can
    /// tick on its own; `null` outside working hours.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub working_until: Option<jiff::Timestamp>,
}

/// The SLA part of the views of `tickets` (`(id, whether the ticket is active)`), for those
/// that have clocks, at `now`; each calendar is read once.
pub(crate) async fn ticket_sla_views(
    conn: &mut Conn,
    tickets: &[(i64, bool)],
    now: i64,
) -> Result<HashMap<i64, TicketSla>, AppError> {
    let ids: Vec<i64> = tickets.iter().map(|(id, _)| *id).collect();
    let rows = store::ticket_slas(conn, &ids).await?;
    let mut views = HashMap::with_capacity(rows.len());
    if rows.is_empty() {
        return Ok(views);
    }
    let catalog = crate::catalog::current(conn).await?;
    let now = timestamp(now);
    for row in rows {
        let active = tickets
            .iter()
            .any(|(id, active)| *id == row.ticket_id && *active);
        let calendar = catalog.calendar(row.calendar_id)?;
        views.insert(row.ticket_id, sla_view(&row, calendar, active, now)?);
    }
    Ok(views)
}

fn sla_view(
    row: &TicketSlaRow,
    calendar: &BusinessCalendar,
    active: bool,
    now: jiff::Timestamp,
) -> Result<TicketSla, AppError> {
    let response = clock_of(row, ClockKind::Response);
    let resolution = clock_of(row, ClockKind::Resolution);
    let breached = |clock: &TrackedClock, flag: i64| -> Result<bool, AppError> {
        Ok(flag != 0 || clock.is_breached(calendar, now).map_err(invalid_time)?)
    };
    Ok(TicketSla {
        policy: row.policy_name.clone(),
        response_due_at: row.response_due_at.map(timestamp),
        resolution_due_at: row.resolution_due_at.map(timestamp),
        response_met_at: row.response_met_at.map(timestamp),
        resolution_met_at: row.resolution_met_at.map(timestamp),
        paused: active
            && !response.is_running()
            && !resolution.is_running()
            && resolution.met_at.is_none(),
        breached: PerClock {
            response: breached(&response, row.response_breached)?,
            resolution: breached(&resolution, row.resolution_breached)?,
        },
        remaining_business_seconds: PerClock {
            response: response.remaining_at(calendar, now).map_err(invalid_time)?,
            resolution: resolution
                .remaining_at(calendar, now)
                .map_err(invalid_time)?,
        },
        target_business_seconds: PerClock {
            response: response.target_seconds,
            resolution: resolution.target_seconds,
        },
        warning_percents: warnings_of(row),
        working_until: calendar.working_until(now).map_err(invalid_time)?,
    })
}

/// The SLA policies and their calendars, read once. For bulk loads, which write generated
/// tickets straight into the tables and so skip the use cases that start the clocks.
#[derive(Debug, Clone)]
pub struct SlaRules {
    policies: Vec<((i64, i64), PolicySpec)>,
    calendars: HashMap<i64, BusinessCalendar>,
}

impl SlaRules {
    /// The targets of the first policy that covers `ticket`.
    pub fn targets_for(&self, ticket: &Coverage) -> Option<Targets> {
        covering(&self.policies, ticket).map(|(_, _, targets)| targets)
    }

    /// The clocks of ticket `ticket_id`, opened at `opened_at` and open without a reply ever
    /// since, as the sweeper leaves them at `swept_at`: each warning and breach crossed by
    /// then is raised. `None` when no policy covers the ticket.
    pub fn swept_clocks(
        &self,
        ticket_id: i64,
        ticket: &Coverage,
        opened_at: i64,
        swept_at: i64,
    ) -> Result<Option<TicketSlaRow>, AppError> {
        let Some((ids, spec, targets)) = covering(&self.policies, ticket) else {
            return Ok(None);
        };
        let calendar = self
            .calendars
            .get(&ids.1)
            .ok_or(AppError::NotFound("calendar"))?;
        let started = started_clocks(ticket_id, ids, spec, targets, timestamp(opened_at));
        let (swept, _) = raise_due(&started, calendar, swept_at)?;
        Ok(Some(swept))
    }
}

impl App {
    /// The SLA policies in force and their calendars.
    pub async fn sla_rules(&self) -> Result<SlaRules, AppError> {
        let mut conn = self.db().reader().await?;
        let catalog = crate::catalog::current(&mut conn).await?;
        let policies = catalog.policies().to_vec();
        let mut calendars = HashMap::new();
        for &((_, calendar_id), _) in &policies {
            calendars.insert(calendar_id, catalog.calendar(calendar_id)?.clone());
        }
        Ok(SlaRules {
            policies,
            calendars,
        })
    }
}

pub use admin::{Calendar, CalendarInput, Policy, PolicyInput};
pub use report::ComplianceLine;
pub use sweep::SLA_SWEEP_BATCH;
use sweep::raise_due;
