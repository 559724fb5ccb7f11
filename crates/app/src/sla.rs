//! SLAs: which policy covers a ticket, its response and resolution clocks (paused, resumed,
//! met, re-targeted as the ticket changes), the sweeper that raises each warning and breach
//! exactly once, the compliance report, and the admin API for calendars and policies.

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

/// A business calendar as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Calendar {
    pub id: i64,
    pub name: String,
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    #[serde(skip)]
    pub version: i64,
}

/// A calendar to create or replace: `{"name", "timezone", "hours": [{"weekday","start","end"}],
/// "holidays": ["2026-12-25", "01-01"], "always_open"}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    pub name: String,
    /// An IANA time zone, e.g. `Europe/London`.
    pub timezone: String,
    /// Working intervals: `{"weekday": "monday", "start": "09:00", "end": "17:00"}`; an end
    /// at or before the start runs past midnight.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub hours: Vec<WorkingHoursSpec>,
    /// Dated (`2026-12-25`) or yearly (`12-25`) holidays.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// 24×7: every moment is working time (holidays still apply).
    #[serde(default)]
    pub always_open: bool,
}

/// An SLA policy as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Policy {
    pub id: i64,
    /// Policies are tried in ascending position; the first that covers a ticket applies.
    pub position: i64,
    pub calendar_id: i64,
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    #[serde(skip)]
    pub version: i64,
}

/// A policy to create or replace.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    pub position: i64,
    pub calendar_id: i64,
    /// `{"name", "organizations", "ticket_types", "priorities", "categories", "targets":
    /// {"P1": {"response_seconds", "resolution_seconds"}, …}, "warnings": [75, 90],
    /// "pause_on": ["pending:customer", "pending:third_party"]}`
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
}

fn calendar_view(row: store::CalendarRow) -> Calendar {
    Calendar {
        id: row.id,
        name: row.name,
        spec: serde_json::from_str(&row.spec).unwrap_or(serde_json::Value::Null),
        version: row.version,
    }
}

fn policy_view(row: store::PolicyRow) -> Policy {
    Policy {
        id: row.id,
        position: row.position,
        calendar_id: row.calendar_id,
        spec: serde_json::from_str(&row.spec).unwrap_or(serde_json::Value::Null),
        version: row.version,
    }
}

fn parse_calendar(input: &CalendarInput) -> Result<(String, String), AppError> {
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid("name", "must be 1 to 100 characters"));
    }
    let spec = CalendarSpec {
        timezone: input.timezone.clone(),
        hours: input.hours.clone(),
        holidays: input.holidays.clone(),
        always_open: input.always_open,
    };
    let calendar = BusinessCalendar::try_from(spec).map_err(|e| AppError::invalid("hours", e))?;
    let json = serde_json::to_string(calendar.spec())
        .map_err(|e| AppError::internal("serialising a calendar", e))?;
    Ok((name, json))
}

fn parse_policy(input: &PolicyInput) -> Result<String, AppError> {
    let spec: PolicySpec =
        serde_json::from_value(input.spec.clone()).map_err(|e| AppError::invalid("spec", e))?;
    spec.validate().map_err(|e| AppError::invalid("spec", e))?;
    serde_json::to_string(&spec).map_err(|e| AppError::internal("serialising a calendar", e))
}

/// One row of the compliance report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComplianceLine {
    /// The priority, organization or group (`none` when the ticket has none).
    pub key: String,
    pub tickets: i64,
    pub response_met: i64,
    pub response_breached: i64,
    /// Met ÷ (met + breached), in percent; absent when nothing was decided yet.
    pub response_compliance: Option<f64>,
    pub resolution_met: i64,
    pub resolution_breached: i64,
    pub resolution_compliance: Option<f64>,
}

fn percent(met: i64, breached: i64) -> Option<f64> {
    let decided = met + breached;
    (decided > 0).then(|| (met as f64 * 1000.0 / decided as f64).round() / 10.0)
}

/// The records admins edit here, as the audit log names them.
trait SlaRecord: Serialize {
    const ENTITY: Entity;

    fn id(&self) -> i64;
}

impl SlaRecord for Calendar {
    const ENTITY: Entity = Entity::Calendar;

    fn id(&self) -> i64 {
        self.id
    }
}

impl SlaRecord for Policy {
    const ENTITY: Entity = Entity::SlaPolicy;

    fn id(&self) -> i64 {
        self.id
    }
}

fn created_event<R: SlaRecord>(after: &R) -> Event {
    Event::created(R::ENTITY, after.id(), after)
}

fn updated_event<R: SlaRecord>(before: &R, after: &R) -> Event {
    Event::updated(R::ENTITY, after.id(), before, after)
}

fn deleted_event<R: SlaRecord>(before: &R) -> Event {
    Event::deleted(R::ENTITY, before.id(), before)
}

async fn calendar_record(conn: &mut Conn, id: i64) -> Result<Calendar, AppError> {
    store::get_calendar(conn, id)
        .await?
        .map(calendar_view)
        .ok_or(AppError::NotFound("calendar"))
}

async fn policy_record(conn: &mut Conn, id: i64) -> Result<Policy, AppError> {
    store::get_policy(conn, id)
        .await?
        .map(policy_view)
        .ok_or(AppError::NotFound("SLA policy"))
}

/// A policy's calendar must exist.
async fn check_policy_calendar(conn: &mut Conn, input: &PolicyInput) -> Result<(), AppError> {
    match store::get_calendar(conn, input.calendar_id).await? {
        Some(_) => Ok(()),
        None => Err(AppError::invalid("calendar_id", "no such calendar")),
    }
}

impl App {
    pub async fn calendars(&self, principal: &Principal) -> Result<Vec<Calendar>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        Ok(store::calendars(&mut conn)
            .await?
            .into_iter()
            .map(calendar_view)
            .collect())
    }

    pub async fn calendar(&self, principal: &Principal, id: i64) -> Result<Calendar, AppError> {
        principal.require_staff()?;
        calendar_record(&mut *self.db().reader().await?, id).await
    }

    pub async fn create_calendar(
        &self,
        principal: &Principal,
        input: CalendarInput,
    ) -> Result<Calendar, AppError> {
        principal.require_admin()?;
        let (name, spec) = parse_calendar(&input)?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let created =
                    calendar_view(store::insert_calendar(tx.conn, &name, &spec, tx.now).await?);
                tx.record(created_event(&created)).await?;
                Ok(created)
            })
        })
        .await
    }

    /// Replaces a calendar. Running clocks keep the time they used; due dates follow the new
    /// hours from their next change.
    pub async fn update_calendar(
        &self,
        principal: &Principal,
        id: i64,
        expected: impl Into<Precondition>,
        input: CalendarInput,
    ) -> Result<Calendar, AppError> {
        principal.require_admin()?;
        let expected: Precondition = expected.into();
        let (name, spec) = parse_calendar(&input)?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = calendar_record(tx.conn, id).await?;
                let version = expected.check(before.version)?;
                let after = store::update_calendar(tx.conn, id, version, &name, &spec, tx.now)
                    .await?
                    .map(calendar_view)
                    .ok_or(AppError::Stale)?;
                tx.record(updated_event(&before, &after)).await?;
                Ok(after)
            })
        })
        .await
    }

    pub async fn delete_calendar(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = calendar_record(tx.conn, id).await?;
                if !store::delete_calendar(tx.conn, id).await? {
                    return Err(AppError::Conflict {
                        field: None,
                        message: "the calendar is used by a policy or a ticket's SLA".into(),
                    });
                }
                tx.record(deleted_event(&before)).await
            })
        })
        .await
    }

    pub async fn sla_policies(&self, principal: &Principal) -> Result<Vec<Policy>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        Ok(store::policies(&mut conn)
            .await?
            .into_iter()
            .map(policy_view)
            .collect())
    }

    pub async fn sla_policy(&self, principal: &Principal, id: i64) -> Result<Policy, AppError> {
        principal.require_staff()?;
        policy_record(&mut *self.db().reader().await?, id).await
    }

    pub async fn create_sla_policy(
        &self,
        principal: &Principal,
        input: PolicyInput,
    ) -> Result<Policy, AppError> {
        principal.require_admin()?;
        let spec = parse_policy(&input)?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                check_policy_calendar(tx.conn, &input).await?;
                let created = policy_view(
                    store::insert_policy(tx.conn, input.position, input.calendar_id, &spec, tx.now)
                        .await?,
                );
                tx.record(created_event(&created)).await?;
                Ok(created)
            })
        })
        .await
    }

    pub async fn update_sla_policy(
        &self,
        principal: &Principal,
        id: i64,
        expected: impl Into<Precondition>,
        input: PolicyInput,
    ) -> Result<Policy, AppError> {
        principal.require_admin()?;
        let expected: Precondition = expected.into();
        let spec = parse_policy(&input)?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = policy_record(tx.conn, id).await?;
                check_policy_calendar(tx.conn, &input).await?;
                let version = expected.check(before.version)?;
                let after = store::update_policy(
                    tx.conn,
                    id,
                    version,
                    input.position,
                    input.calendar_id,
                    &spec,
                    tx.now,
                )
                .await?
                .map(policy_view)
                .ok_or(AppError::Stale)?;
                tx.record(updated_event(&before, &after)).await?;
                Ok(after)
            })
        })
        .await
    }

    pub async fn delete_sla_policy(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = policy_record(tx.conn, id).await?;
                store::delete_policy(tx.conn, id).await?;
                tx.record(deleted_event(&before)).await
            })
        })
        .await
    }

    /// Raises the warnings and breaches that are due, each exactly once (also with several
    /// nodes: a conditional update decides who records it). Returns how many were raised.
    pub async fn sweep_sla(&self) -> Result<usize, AppError> {
        self.system_change("sla", |mut tx| {
            Box::pin(async move { sweep(&mut tx).await })
        })
        .await
    }

    /// Runs the SLA sweeper every `interval` until `shutdown` turns true, and about once a
    /// minute the housekeeping: closing long-resolved tickets, dropping expired sessions.
    pub async fn run_sla(
        &self,
        interval: std::time::Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut last_housekeeping: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(error) = self.sweep_sla().await {
                tracing::warn!(%error, "SLA sweep failed");
            }
            if last_housekeeping.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(60))
            {
                last_housekeeping = Some(std::time::Instant::now());
                if let Err(error) = self.housekeeping().await {
                    tracing::warn!(%error, "housekeeping failed");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Closes tickets resolved longer than `auto_close_days` ago and deletes expired sessions.
    pub async fn housekeeping(&self) -> Result<(), AppError> {
        let days = self.config().auto_close_days;
        if days > 0 {
            let closed = self.close_resolved_tickets(days).await?;
            if closed > 0 {
                tracing::info!(closed, "closed tickets resolved more than {days} days ago");
            }
        }
        self.system_change("housekeeping", |tx| {
            Box::pin(async move {
                opsdesk_store::accounts::delete_expired_sessions(tx.conn, tx.now).await?;
                Ok(())
            })
        })
        .await
    }

    /// Met and breached counts and compliance for tickets created in `[from, to)`, grouped
    /// by `priority`, `organization` or `group` (admins).
    pub async fn sla_report(
        &self,
        principal: &Principal,
        from: i64,
        to: i64,
        group_by: &str,
    ) -> Result<Vec<ComplianceLine>, AppError> {
        principal.require_admin()?;
        let (bucket, joins) = match group_by {
            "priority" => ("t.priority", ""),
            "organization" => (
                "o.name",
                "LEFT JOIN organizations o ON o.id = t.organization_id",
            ),
            "group" => ("g.name", "LEFT JOIN groups g ON g.id = t.group_id"),
            _ => {
                return Err(AppError::invalid(
                    "group_by",
                    "expected priority, organization or group",
                ));
            }
        };
        let mut conn = self.db().reader().await?;
        let bucket_text = match group_by {
            "priority" => "'P' || CAST(t.priority AS TEXT)",
            _ => bucket,
        };
        let rows = store::compliance(&mut conn, bucket_text, joins, from, to).await?;
        Ok(rows
            .into_iter()
            .map(|row| ComplianceLine {
                key: row.bucket.unwrap_or_else(|| "none".into()),
                tickets: row.tickets,
                response_met: row.response_met,
                response_breached: row.response_breached,
                response_compliance: percent(row.response_met, row.response_breached),
                resolution_met: row.resolution_met,
                resolution_breached: row.resolution_breached,
                resolution_compliance: percent(row.resolution_met, row.resolution_breached),
            })
            .collect())
    }
}

/// Most due tickets one sweep handles; the rest wait for the next sweep.
pub const SLA_SWEEP_BATCH: i64 = 500;

/// The clocks after raising every level crossed by `now`, and those crossings in order.
fn raise_due(
    before: &TicketSlaRow,
    calendar: &BusinessCalendar,
    now: i64,
) -> Result<(TicketSlaRow, Vec<(ClockKind, Crossing)>), AppError> {
    let warnings = warnings_of(before);
    let mut after = before.clone();
    let mut crossings = Vec::new();
    for kind in ClockKind::ALL {
        let mut clock = clock_of(before, kind);
        for crossing in clock
            .crossings_due(calendar, &warnings, timestamp(now))
            .map_err(invalid_time)?
        {
            clock.raised = crossing.level;
            crossings.push((kind, crossing));
        }
        set_clock(&mut after, kind, &clock);
    }
    for (kind, crossing) in &crossings {
        if crossing.percent == 100 {
            match kind {
                ClockKind::Response => after.response_breached = 1,
                ClockKind::Resolution => after.resolution_breached = 1,
            }
        }
    }
    refresh(&mut after, calendar)?;
    Ok((after, crossings))
}

async fn sweep(tx: &mut Tx<'_>) -> Result<usize, AppError> {
    let now = tx.now;
    let due = store::due_checks(tx.conn, tx.backend, now, SLA_SWEEP_BATCH).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let catalog = crate::catalog::current(tx.conn).await?;
    let mut raised = 0;
    for before in due {
        let calendar = catalog.calendar(before.calendar_id)?;
        let (after, crossings) = raise_due(&before, calendar, now)?;
        if !store::record_raised(tx.conn, &before, &after).await? {
            continue;
        }
        for (kind, crossing) in crossings {
            let action = if crossing.percent == 100 {
                Action::SlaBreached
            } else {
                Action::SlaWarning
            };
            let data = serde_json::json!({
                "clock": kind.as_str(), "percent": crossing.percent, "at": timestamp(ms(crossing.at)),
            });
            let mut batch = tx.batch();
            opsdesk_store::tickets::add_timeline(
                &mut batch,
                before.ticket_id,
                now,
                tx.actor,
                action.as_str(),
                false,
                &data.to_string(),
            );
            let event = Event {
                entity: Entity::Ticket,
                entity_id: before.ticket_id,
                action,
                before: None,
                after: Some(data),
            };
            tx.record_with(batch, event).await?;
            raised += 1;
        }
    }
    Ok(raised)
}
