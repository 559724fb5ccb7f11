//! Monitoring use cases: monitors and heartbeats, recording check results and pings, and
//! turning outages into incidents exactly once.
//!
//! A state change and the outage it opens or closes are written in one transaction with a
//! conditional update (`state_version`, and the node's lease), and the incident work is a
//! job in the durable outbox queued in that same transaction. So a result recorded twice,
//! late or by two nodes changes nothing twice, and a crash between the two halves only
//! delays the incident.

use opsdesk_domain::monitor::{
    Alert, CheckState, FLAP_WINDOW, FailureNotes, HeartbeatState, HeartbeatStatus, LastFailureNote,
    MaintenanceWindow, MonitorKind, MonitorStatus, Ping, PingSchedule, ProbeOutcome, ProbeSettings,
    Recurrence, Suppression, Thresholds, alert, status,
};
use opsdesk_domain::schedule::{CronSchedule, ScheduleError, late_by};
use opsdesk_domain::ticket::Tag;
use opsdesk_domain::ticket::{Impact, Urgency};
use opsdesk_store::monitors::{
    self as store, CheckUpdate, MaintenanceRow, MonitorConfig, MonitorRow, OutageRow,
    StoredMaintenance, Tally,
};
use opsdesk_store::tickets::TicketRow;
use opsdesk_store::{Batch, Conn, tickets as ticket_store};
use serde::{Deserialize, Serialize};

use crate::Precondition;
use crate::audit::{Change, record, snapshot};
use crate::jobs::{self, JobKind};
use crate::tickets::{
    NewComment, NewTicket, TicketChange, TicketPatch, insert_comment, insert_ticket, number_of,
    patch_ticket, validate_comment, validate_ticket,
};
use crate::{App, AppError, FieldError, Principal, now_ms, timestamp};

/// Shortest check interval.
const MIN_INTERVAL_S: i64 = 1;
/// Longest check interval (a day); heartbeats may have longer periods.
const MAX_INTERVAL_S: i64 = 86_400;
/// A lease outlives the check's timeout by this much before another node may take over.
const LEASE_SLACK_MS: i64 = 5_000;
/// How often a PostgreSQL write conflict on one monitor is retried.
const WRITE_ATTEMPTS: usize = 5;
/// The time zone of a heartbeat schedule given without one.
const DEFAULT_TIMEZONE: &str = "UTC";

/// How a monitor's incidents are filed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentSettings {
    /// `high`, `medium` (default) or `low`.
    #[serde(default = "medium")]
    pub impact: String,
    /// `high` (default), `medium` or `low`.
    #[serde(default = "high")]
    pub urgency: String,
    /// Support group by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Category by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The incidents' requester (default: whoever created the monitor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// Resolve the incident on recovery (default); `false` only notes the recovery.
    #[serde(default = "yes")]
    pub resolve: bool,
}

fn medium() -> String {
    "medium".to_owned()
}
fn high() -> String {
    "high".to_owned()
}
fn yes() -> bool {
    true
}

impl Default for IncidentSettings {
    fn default() -> Self {
        Self {
            impact: medium(),
            urgency: high(),
            group: None,
            category: None,
            requester: None,
            resolve: true,
        }
    }
}

/// A new monitor.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMonitor {
    pub name: String,
    /// `http`, `tcp`, `icmp`, `dns`, `tls` or `heartbeat`.
    pub kind: String,
    /// URL (http), `host:port` (tcp, tls), host (icmp), name (dns); empty for heartbeats.
    #[serde(default)]
    pub target: String,
    /// Seconds between checks (probes, default 60) or expected between pings (heartbeats).
    #[serde(default)]
    pub interval_s: Option<i64>,
    /// Heartbeats, instead of `interval_s`: a cron expression (`0 3 * * *`; a sixth,
    /// leading field for seconds is allowed) giving the times pings are expected.
    #[serde(default)]
    pub schedule: Option<String>,
    /// The IANA time zone `schedule` is read in (default `UTC`).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Seconds a check may take (default 10).
    #[serde(default)]
    pub timeout_s: Option<i64>,
    /// Consecutive failures before down (default 1).
    #[serde(default)]
    pub retries: Option<i64>,
    /// Consecutive successes before up again (default 1).
    #[serde(default)]
    pub recover_after: Option<i64>,
    /// Heartbeats: seconds of lateness allowed before down (default 60).
    #[serde(default)]
    pub grace_s: Option<i64>,
    #[serde(default)]
    pub incident: Option<IncidentSettings>,
    /// The organization the monitor belongs to (status page, visibility).
    #[serde(default)]
    pub organization_id: Option<i64>,
    /// A monitor this one depends on: while it is down, this one shows `unreachable`.
    #[serde(default)]
    pub depends_on: Option<i64>,
    #[serde(default)]
    pub paused: bool,
    /// Labels such as `database` or `eu-west`, for maintenance windows that cover every
    /// monitor with a tag.
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(flatten)]
    #[schema(inline, value_type = Object)]
    pub settings: ProbeSettings,
}

/// Changes to a monitor; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorPatch {
    pub name: Option<String>,
    pub target: Option<String>,
    /// Heartbeats: a period; replaces a `schedule`.
    pub interval_s: Option<i64>,
    /// Heartbeats: a cron schedule; replaces an `interval_s`.
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub timeout_s: Option<i64>,
    pub retries: Option<i64>,
    pub recover_after: Option<i64>,
    pub grace_s: Option<i64>,
    pub incident: Option<IncidentSettings>,
    pub depends_on: Option<i64>,
    pub paused: Option<bool>,
    /// Replaces the tags as a whole.
    pub tags: Option<Vec<String>>,
    /// Replaces the probe settings as a whole.
    #[schema(value_type = Object)]
    pub settings: Option<ProbeSettings>,
}

/// A monitor as its users see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Monitor {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub target: String,
    /// Absent for heartbeats on a `schedule`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<i64>,
    /// Heartbeats: the cron schedule pings are expected on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Heartbeats: the time zone of `schedule`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    pub timeout_s: i64,
    pub retries: i64,
    pub recover_after: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_s: Option<i64>,
    /// Heartbeats: when the next ping is due (after the first ping).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_ping_due_at: Option<jiff::Timestamp>,
    /// Heartbeats: seconds the next ping is overdue; absent while it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_by_s: Option<i64>,
    pub incident: IncidentSettings,
    #[schema(value_type = Object)]
    pub settings: ProbeSettings,
    pub organization_id: Option<i64>,
    pub depends_on: Option<i64>,
    pub paused: bool,
    pub tags: Vec<String>,
    /// `up`, `down`, `pending`, `paused`, `maintenance` or `unreachable`.
    pub status: String,
    /// Heartbeats: `new`, `up`, `grace` or `down`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<String>,
    pub flapping: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_check_at: Option<jiff::Timestamp>,
    pub last_latency_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Percentage of successful checks over the last 24 hours; `null` without checks.
    pub uptime_24h: Option<f64>,
    /// The incident open for the current outage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_incident: Option<String>,
    /// Heartbeats: where the job reports (`/ping/<uuid>`, made absolute by the HTTP layer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_url: Option<String>,
    pub version: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

/// Uptime and response times over a range.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Uptime {
    #[schema(value_type = String, format = DateTime)]
    pub from: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: jiff::Timestamp,
    pub checks: i64,
    /// Percentage of successful checks, maintenance excluded; `null` without checks.
    pub uptime_percent: Option<f64>,
    /// One point per hour with checks.
    pub series: Vec<UptimePoint>,
}

/// One hour of results.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UptimePoint {
    #[schema(value_type = String, format = DateTime)]
    pub at: jiff::Timestamp,
    pub checks: i64,
    pub uptime_percent: f64,
    pub avg_latency_ms: i64,
    pub max_latency_ms: i64,
}

/// A check the scheduler should run now.
#[derive(Debug, Clone)]
pub struct DueCheck {
    pub monitor_id: i64,
    pub kind: MonitorKind,
    pub target: String,
    pub settings: ProbeSettings,
    pub timeout_ms: i64,
    pub state_version: i64,
    /// When the check was due, to measure scheduling lag.
    pub due_at: i64,
}

/// A finished check for [`App::record_checks`].
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub monitor_id: i64,
    pub state_version: i64,
    pub at: i64,
    /// The probe's finding; `None` for heartbeats, whose status is worked out from pings.
    pub outcome: Option<ProbeOutcome>,
}

/// A maintenance window.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMaintenance {
    /// The monitor it covers; with neither this nor `tag`: every monitor.
    #[serde(default)]
    pub monitor_id: Option<i64>,
    /// Covers every monitor with this tag, now or later tagged.
    #[serde(default)]
    pub tag: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: jiff::Timestamp,
    /// Required for a one-off window; a recurring one without it recurs for ever.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<jiff::Timestamp>,
    /// Makes the window recur between `starts_at` and `ends_at`.
    #[serde(default)]
    pub recurrence: Option<NewRecurrence>,
    #[serde(default)]
    pub reason: String,
}

/// When a recurring maintenance window is in force: `duration_s` from each time of
/// `schedule`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecurrence {
    /// A cron expression, e.g. `0 2 * * SUN` for Sundays at 02:00.
    pub schedule: String,
    /// The IANA time zone `schedule` is read in (default `UTC`).
    #[serde(default)]
    pub timezone: Option<String>,
    /// How long each period of maintenance lasts, in seconds (60 to 604800).
    pub duration_s: i64,
}

/// A maintenance window as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Maintenance {
    pub id: i64,
    /// The monitor it covers; with neither this nor `tag`: every monitor.
    pub monitor_id: Option<i64>,
    /// Covers every monitor with this tag.
    pub tag: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: jiff::Timestamp,
    /// Absent for a recurring window that recurs for ever.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<jiff::Timestamp>,
    pub recurrence: Option<NewRecurrence>,
    pub reason: String,
    /// Whether the window holds alerts right now.
    pub in_force: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

impl Maintenance {
    fn from_stored(stored: StoredMaintenance, now: i64) -> Self {
        let in_force = maintenance_window(&stored.window).is_some_and(|w| w.active_at(now));
        let window = stored.window;
        let recurrence = match (window.schedule, window.duration_s) {
            (Some(schedule), Some(duration_s)) => Some(NewRecurrence {
                schedule,
                timezone: window.timezone,
                duration_s,
            }),
            _ => None,
        };
        Self {
            id: stored.id,
            monitor_id: window.monitor_id,
            tag: window.tag,
            starts_at: timestamp(window.starts_at),
            ends_at: (window.ends_at != i64::MAX).then(|| timestamp(window.ends_at)),
            recurrence,
            reason: window.reason,
            in_force,
            created_at: timestamp(stored.created_at),
        }
    }
}

/// Which maintenance windows to list.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceQuery {
    /// Windows covering this monitor: its own, its tags' and those for every monitor.
    pub monitor_id: Option<i64>,
    /// Windows for this tag.
    pub tag: Option<String>,
}

/// A window's settings, for the audit log.
fn maintenance_snapshot(window: &MaintenanceRow) -> serde_json::Value {
    serde_json::json!({
        "monitor_id": window.monitor_id, "tag": window.tag,
        "starts_at": timestamp(window.starts_at),
        "ends_at": (window.ends_at != i64::MAX).then(|| timestamp(window.ends_at)),
        "schedule": window.schedule, "timezone": window.timezone,
        "duration_s": window.duration_s, "reason": window.reason,
    })
}

/// Refuses a principal who may not change `window`: one monitor's window is for the staff
/// who see that monitor (others get not found); a tag may span organizations, so like
/// "every monitor" it is for admins.
async fn require_maintenance_access(
    conn: &mut Conn,
    principal: &Principal,
    window: &MaintenanceRow,
) -> Result<(), AppError> {
    match window.monitor_id {
        Some(monitor) => visible(conn, principal, monitor).await.map(|_| ()),
        None => principal.require_admin(),
    }
}

/// Longest period of a recurring maintenance window: a week.
const MAX_MAINTENANCE_S: i64 = 7 * 86_400;

/// Checks a new window; every problem names its field.
fn maintenance_row(input: &NewMaintenance) -> Result<MaintenanceRow, AppError> {
    let mut errors = Vec::new();
    if input.monitor_id.is_some() && input.tag.is_some() {
        errors.push(FieldError::new(
            "tag",
            "give either monitor_id or tag, not both",
        ));
    }
    let tag = input.tag.as_deref().and_then(|tag| match Tag::parse(tag) {
        Ok(tag) => Some(tag.as_str().to_owned()),
        Err(e) => {
            errors.push(FieldError::new("tag", e));
            None
        }
    });
    let starts_at = input.starts_at.as_millisecond();
    let ends_at = match (input.ends_at, &input.recurrence) {
        (Some(end), _) => end.as_millisecond(),
        (None, Some(_)) => i64::MAX,
        (None, None) => {
            errors.push(FieldError::new("ends_at", "a one-off window needs an end"));
            i64::MAX
        }
    };
    if ends_at <= starts_at {
        errors.push(FieldError::new("ends_at", "must be after `starts_at`"));
    }
    if let Some(recurrence) = &input.recurrence {
        let timezone = recurrence.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE);
        match CronSchedule::parse(&recurrence.schedule, timezone) {
            Ok(_) => {}
            Err(e @ ScheduleError::TimeZone(_)) => {
                errors.push(FieldError::new("recurrence.timezone", e));
            }
            Err(e @ (ScheduleError::Expression(_) | ScheduleError::Never)) => {
                errors.push(FieldError::new("recurrence.schedule", e));
            }
        }
        if !(60..=MAX_MAINTENANCE_S).contains(&recurrence.duration_s) {
            range_error("recurrence.duration_s", 60, MAX_MAINTENANCE_S, &mut errors);
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let recurrence = input.recurrence.as_ref();
    Ok(MaintenanceRow {
        monitor_id: input.monitor_id,
        tag,
        starts_at,
        ends_at,
        reason: input.reason.trim().to_owned(),
        schedule: recurrence.map(|r| r.schedule.trim().to_owned()),
        timezone: recurrence.map(|r| {
            r.timezone
                .as_deref()
                .unwrap_or(DEFAULT_TIMEZONE)
                .trim()
                .to_owned()
        }),
        duration_s: recurrence.map(|r| r.duration_s),
    })
}

/// A stored window in time; `None` (logged) if its schedule no longer parses.
pub(crate) fn maintenance_window(row: &MaintenanceRow) -> Option<MaintenanceWindow> {
    let recurrence = match (&row.schedule, row.duration_s) {
        (Some(schedule), Some(duration_s)) => {
            let timezone = row.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE);
            match CronSchedule::parse(schedule, timezone) {
                Ok(schedule) => Some(Recurrence {
                    schedule,
                    duration_ms: duration_s.saturating_mul(1000),
                }),
                Err(error) => {
                    tracing::error!(%error, "a stored maintenance schedule does not parse");
                    return None;
                }
            }
        }
        _ => None,
    };
    Some(MaintenanceWindow {
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        recurrence,
    })
}

/// Whether a maintenance window covering the monitor is in force at `now`.
async fn in_maintenance(conn: &mut Conn, monitor_id: i64, now: i64) -> Result<bool, AppError> {
    Ok(store::maintenance_covering(conn, monitor_id, now)
        .await?
        .iter()
        .filter_map(maintenance_window)
        .any(|window| window.active_at(now)))
}

/// Most tags on one monitor.
const MAX_TAGS: usize = 20;

/// Validates and normalizes a monitor's tags as tickets' are.
fn monitor_tags(tags: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    let parsed = crate::tickets::parse_tags(tags, errors);
    if parsed.len() > MAX_TAGS {
        errors.push(FieldError::new("tags", format!("at most {MAX_TAGS} tags")));
    }
    parsed
}

fn kind_of(row: &MonitorRow) -> Result<MonitorKind, AppError> {
    row.kind
        .parse()
        .map_err(|_| AppError::broken(format!("monitor {} has an invalid kind", row.id)))
}

fn check_state(row: &MonitorRow) -> CheckState {
    CheckState {
        up: row.up.map(|up| up != 0),
        fail_streak: u32::try_from(row.fail_streak).unwrap_or(u32::MAX),
        ok_streak: u32::try_from(row.ok_streak).unwrap_or(u32::MAX),
        history: u32::try_from(row.history).unwrap_or(0),
        seen: u32::try_from(row.seen).unwrap_or(0),
        flapping: row.flapping != 0,
    }
}

fn thresholds(row: &MonitorRow) -> Thresholds {
    Thresholds {
        down_after: u32::try_from(row.retries).unwrap_or(1),
        up_after: u32::try_from(row.recover_after).unwrap_or(1),
        ..Thresholds::default()
    }
}

fn heartbeat_state(row: &MonitorRow) -> HeartbeatState {
    HeartbeatState {
        last_ping: row.last_ping_at,
        started_at: row.started_at,
        failed: row.ping_failed != 0,
    }
}

/// When a monitor expects results: its period, or a heartbeat's cron schedule. `None`
/// (logged) if a stored schedule no longer parses, e.g. on a host whose time zone
/// database lacks the zone.
fn ping_schedule(row: &MonitorRow) -> Option<PingSchedule> {
    let Some(cron) = &row.cron else {
        return Some(PingSchedule::Period(row.interval_s.saturating_mul(1000)));
    };
    match CronSchedule::parse(cron, row.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE)) {
        Ok(schedule) => Some(PingSchedule::Cron(Box::new(schedule))),
        Err(error) => {
            tracing::error!(monitor = row.id, %error, "a stored heartbeat schedule does not parse");
            None
        }
    }
}

/// When the next ping is due after the last one.
fn next_expected(row: &MonitorRow) -> Option<i64> {
    let last = row.last_ping_at?;
    ping_schedule(row)?.next_expected(last)
}

/// The update that writes `state` (and heartbeat fields from `row`) back.
fn update_from(row: &MonitorRow, state: &CheckState) -> CheckUpdate {
    CheckUpdate {
        up: state.up.map(i64::from),
        fail_streak: i64::from(state.fail_streak),
        ok_streak: i64::from(state.ok_streak),
        history: i64::from(state.history),
        seen: i64::from(state.seen),
        flapping: i64::from(state.flapping),
        last_check_at: row.last_check_at,
        last_latency_ms: row.last_latency_ms,
        last_error: row.last_error.clone(),
        last_ping_at: row.last_ping_at,
        started_at: row.started_at,
        ping_failed: row.ping_failed,
        open_outage_id: row.open_outage_id,
        next_check_at: row.next_check_at,
    }
}

/// Spreads monitors over their interval so that thousands created together do not all
/// fire in the same second: a fixed offset per monitor id (Fibonacci hashing).
fn jitter_ms(id: i64, interval_s: i64) -> i64 {
    let span = interval_s.max(1).saturating_mul(1000) as u64;
    let hash = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (hash % span) as i64
}

fn range_error(field: &str, low: i64, high: i64, errors: &mut Vec<FieldError>) {
    errors.push(FieldError::new(
        field,
        format!("must be between {low} and {high}"),
    ));
}

/// Checks a configuration; every problem names its field.
fn validate(
    config: &MonitorConfig,
    kind: MonitorKind,
    settings: &ProbeSettings,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = config.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    let heartbeat = kind == MonitorKind::Heartbeat;
    let max_interval = if heartbeat {
        366 * 86_400
    } else {
        MAX_INTERVAL_S
    };
    match (&config.cron, &config.timezone) {
        (Some(_), _) if !heartbeat => {
            errors.push(FieldError::new(
                "schedule",
                "only heartbeats have a schedule",
            ));
        }
        (Some(cron), timezone) => {
            match CronSchedule::parse(cron, timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE)) {
                Ok(_) => {}
                Err(e @ ScheduleError::TimeZone(_)) => {
                    errors.push(FieldError::new("timezone", e));
                }
                Err(e @ (ScheduleError::Expression(_) | ScheduleError::Never)) => {
                    errors.push(FieldError::new("schedule", e));
                }
            }
        }
        (None, Some(_)) => {
            errors.push(FieldError::new("timezone", "only with a schedule"));
        }
        (None, None) => {
            if !(MIN_INTERVAL_S..=max_interval).contains(&config.interval_s) {
                range_error("interval_s", MIN_INTERVAL_S, max_interval, &mut errors);
            }
        }
    }
    if !(1..=120).contains(&config.timeout_s) {
        range_error("timeout_s", 1, 120, &mut errors);
    }
    if !(1..=100).contains(&config.retries) {
        range_error("retries", 1, 100, &mut errors);
    }
    if !(1..=100).contains(&config.recover_after) {
        range_error("recover_after", 1, 100, &mut errors);
    }
    if !(0..=max_interval).contains(&config.grace_s) {
        range_error("grace_s", 0, max_interval, &mut errors);
    }
    let target = config.target.trim();
    match kind {
        MonitorKind::Heartbeat => {}
        MonitorKind::Http => {
            let scheme_ok = target.starts_with("http://") || target.starts_with("https://");
            if !scheme_ok || target.len() > 2000 {
                errors.push(FieldError::new(
                    "target",
                    "must be an http:// or https:// URL",
                ));
            }
        }
        MonitorKind::Tcp | MonitorKind::Tls => {
            let port_ok = target
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                errors.push(FieldError::new("target", "must be host:port"));
            }
        }
        MonitorKind::Icmp | MonitorKind::Dns => {
            if target.is_empty() || target.len() > 253 || target.contains(char::is_whitespace) {
                errors.push(FieldError::new("target", "must be a host name or address"));
            }
        }
    }
    if let Some(method) = &settings.method
        && !matches!(
            method.to_ascii_uppercase().as_str(),
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS"
        )
    {
        errors.push(FieldError::new(
            "method",
            "must be GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS",
        ));
    }
    if let Some(pattern) = &settings.regex
        && pattern.len() > 1000
    {
        errors.push(FieldError::new("regex", "must be at most 1000 characters"));
    }
    if settings
        .expected_status
        .iter()
        .any(|s| !(100..=599).contains(s))
    {
        errors.push(FieldError::new(
            "expected_status",
            "must be HTTP status codes (100-599)",
        ));
    }
    if let Some(resolver) = &settings.resolver
        && resolver.parse::<std::net::SocketAddr>().is_err()
    {
        errors.push(FieldError::new("resolver", "must be ip:port"));
    }
    if let Some(record_type) = &settings.record_type
        && !matches!(
            record_type.to_ascii_uppercase().as_str(),
            "A" | "AAAA" | "CNAME" | "MX" | "TXT" | "NS" | "SOA" | "SRV" | "PTR" | "CAA"
        )
    {
        errors.push(FieldError::new(
            "record_type",
            "must be A, AAAA, CNAME, MX, TXT, NS, SOA, SRV, PTR or CAA",
        ));
    }
    if settings.count.is_some_and(|c| !(1..=20).contains(&c)) {
        errors.push(FieldError::new("count", "must be between 1 and 20"));
    }
    if settings.max_loss_percent.is_some_and(|p| p > 100) {
        errors.push(FieldError::new(
            "max_loss_percent",
            "must be between 0 and 100",
        ));
    }
    match serde_json::from_str::<IncidentSettings>(&config.incident) {
        Ok(incident) => {
            if incident.impact.parse::<Impact>().is_err() {
                errors.push(FieldError::new(
                    "incident.impact",
                    "must be high, medium or low",
                ));
            }
            if incident.urgency.parse::<Urgency>().is_err() {
                errors.push(FieldError::new(
                    "incident.urgency",
                    "must be high, medium or low",
                ));
            }
        }
        Err(e) => errors.push(FieldError::new("incident", e)),
    }
    if config.requester.trim().is_empty() {
        errors.push(FieldError::new(
            "incident.requester",
            "name the incidents' requester by e-mail address",
        ));
    }
    errors
}

impl App {
    /// Adds a monitor (staff). Heartbeats get a secret ping URL.
    pub async fn create_monitor(
        &self,
        principal: &Principal,
        input: NewMonitor,
    ) -> Result<Monitor, AppError> {
        principal.require_staff()?;
        let kind: MonitorKind = input
            .kind
            .parse()
            .map_err(|e| AppError::invalid("kind", e))?;
        let heartbeat = kind == MonitorKind::Heartbeat;
        if input.schedule.is_some() && input.interval_s.is_some() {
            return Err(AppError::invalid(
                "schedule",
                "give either interval_s or schedule, not both",
            ));
        }
        let cron = input.schedule.map(|s| s.trim().to_owned());
        // A schedule without a zone is read in UTC; a zone without a schedule is refused.
        let timezone = match (&cron, input.timezone) {
            (Some(_), None) => Some(DEFAULT_TIMEZONE.to_owned()),
            (_, zone) => zone.map(|z| z.trim().to_owned()),
        };
        let incident = input.incident.unwrap_or_default();
        let config = MonitorConfig {
            organization_id: input.organization_id,
            name: input.name.trim().to_owned(),
            kind: kind.as_str().to_owned(),
            target: input.target.trim().to_owned(),
            settings: serde_json::to_string(&input.settings)
                .map_err(|e| AppError::internal("serialising a monitor's settings", e))?,
            // A scheduled heartbeat has no period.
            interval_s: if cron.is_some() {
                0
            } else {
                input.interval_s.unwrap_or(60)
            },
            timeout_s: input.timeout_s.unwrap_or(10),
            retries: input.retries.unwrap_or(1),
            recover_after: input.recover_after.unwrap_or(1),
            requester: incident
                .requester
                .clone()
                .unwrap_or_else(|| principal.email.clone()),
            incident: serde_json::to_string(&incident)
                .map_err(|e| AppError::internal("serialising a monitor's incident", e))?,
            depends_on: input.depends_on,
            cron,
            timezone,
            grace_s: input.grace_s.unwrap_or(if heartbeat { 60 } else { 0 }),
            paused: input.paused,
        };
        let mut errors = validate(&config, kind, &input.settings);
        let tags = monitor_tags(&input.tags, &mut errors);
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        if !principal.can_see_organization(config.organization_id) {
            return Err(AppError::invalid(
                "organization_id",
                "not an organization you serve",
            ));
        }
        let token = heartbeat.then(|| uuid::Uuid::new_v4().to_string());
        let actor = principal.audit_label();
        let now = now_ms();
        let row = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    check_dependency(conn, config.depends_on, None).await?;
                    // Heartbeats are evaluated once their first ping sets a deadline.
                    let first = if heartbeat { i64::MAX } else { now };
                    let id = store::insert(conn, &config, token.as_deref(), first, now).await?;
                    store::set_tags(conn, id, &tags).await?;
                    if !heartbeat {
                        let due = now + jitter_ms(id, config.interval_s);
                        store::set_next_check(conn, id, due).await?;
                    }
                    let row = store::get(conn, id)
                        .await?
                        .ok_or(AppError::NotFound("monitor"))?;
                    record(
                        conn,
                        &Change {
                            actor: &actor,
                            entity: "monitor",
                            entity_id: id,
                            action: "created",
                            before: None,
                            after: snapshot(&config_snapshot(&row)),
                        },
                        now,
                    )
                    .await?;
                    Ok::<_, AppError>(row)
                })
            })
            .await?;
        self.wake_jobs();
        let mut conn = self.db().reader().await?;
        view(&mut conn, row, now).await
    }

    /// One monitor with its status.
    pub async fn monitor(&self, principal: &Principal, id: i64) -> Result<Monitor, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let row = visible(&mut conn, principal, id).await?;
        view(&mut conn, row, now_ms()).await
    }

    /// Monitors after id `after`, in id order.
    pub async fn monitors(
        &self,
        principal: &Principal,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Monitor>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let filter = principal.organization_filter();
        let rows = store::list(&mut conn, filter.as_deref(), after, limit).await?;
        let now = now_ms();
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(view(&mut conn, row, now).await?);
        }
        Ok(items)
    }

    /// Changes a monitor (staff); `expected_version` comes from `If-Match`.
    pub async fn update_monitor(
        &self,
        principal: &Principal,
        id: i64,
        expected_version: impl Into<Precondition>,
        patch: MonitorPatch,
    ) -> Result<Monitor, AppError> {
        let expected_version: Precondition = expected_version.into();
        principal.require_staff()?;
        let actor = principal.audit_label();
        let principal = principal.clone();
        let now = now_ms();
        let row = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    let row = visible(conn, &principal, id).await?;
                    expected_version.check(row.version)?;
                    let kind = kind_of(&row)?;
                    let mut incident: IncidentSettings =
                        serde_json::from_str(&row.incident).unwrap_or_default();
                    let mut requester = row.requester.clone();
                    if let Some(new) = patch.incident {
                        if let Some(r) = &new.requester {
                            requester.clone_from(r);
                        }
                        incident = new;
                    }
                    let settings = match patch.settings {
                        Some(s) => s,
                        None => serde_json::from_str(&row.settings).unwrap_or_default(),
                    };
                    // A heartbeat has a period or a schedule: whichever is sent replaces the other.
                    let (interval_s, cron, timezone) = match (patch.interval_s, patch.schedule) {
                        (Some(_), Some(_)) => {
                            return Err(AppError::invalid(
                                "schedule",
                                "give either interval_s or schedule, not both",
                            ));
                        }
                        (Some(interval), None) => (interval, None, patch.timezone),
                        (None, Some(cron)) => (
                            0,
                            Some(cron.trim().to_owned()),
                            patch
                                .timezone
                                .or(row.timezone.clone())
                                .or_else(|| Some(DEFAULT_TIMEZONE.to_owned())),
                        ),
                        (None, None) => (
                            row.interval_s,
                            row.cron.clone(),
                            patch.timezone.or(row.timezone.clone()),
                        ),
                    };
                    let config = MonitorConfig {
                        organization_id: row.organization_id,
                        name: patch
                            .name
                            .map(|n| n.trim().to_owned())
                            .unwrap_or_else(|| row.name.clone()),
                        kind: row.kind.clone(),
                        target: patch
                            .target
                            .map(|t| t.trim().to_owned())
                            .unwrap_or_else(|| row.target.clone()),
                        settings: serde_json::to_string(&settings).map_err(|e| {
                            AppError::internal("serialising a monitor's settings", e)
                        })?,
                        interval_s,
                        timeout_s: patch.timeout_s.unwrap_or(row.timeout_s),
                        retries: patch.retries.unwrap_or(row.retries),
                        recover_after: patch.recover_after.unwrap_or(row.recover_after),
                        incident: serde_json::to_string(&incident).map_err(|e| {
                            AppError::internal("serialising a monitor's incident", e)
                        })?,
                        requester,
                        depends_on: patch.depends_on.or(row.depends_on),
                        cron,
                        timezone: timezone.map(|z| z.trim().to_owned()),
                        grace_s: patch.grace_s.unwrap_or(row.grace_s),
                        paused: patch.paused.unwrap_or(row.paused != 0),
                    };
                    let mut errors = validate(&config, kind, &settings);
                    let tags = patch.tags.map(|tags| monitor_tags(&tags, &mut errors));
                    if !errors.is_empty() {
                        return Err(AppError::Invalid(errors));
                    }
                    check_dependency(conn, config.depends_on, Some(id)).await?;
                    if let Some(tags) = &tags {
                        store::set_tags(conn, id, tags).await?;
                    }
                    // A changed interval or an unpaused monitor is checked soon, not after
                    // the old interval; a heartbeat is re-evaluated against its new period or
                    // schedule at once.
                    let next = if kind == MonitorKind::Heartbeat {
                        row.next_check_at.min(now)
                    } else {
                        row.next_check_at
                            .min(now + jitter_ms(id, config.interval_s))
                    };
                    if !store::update_config(conn, id, row.version, &config, next, now).await? {
                        return Err(AppError::Stale);
                    }
                    let after = store::get(conn, id)
                        .await?
                        .ok_or(AppError::NotFound("monitor"))?;
                    record(
                        conn,
                        &Change {
                            actor: &actor,
                            entity: "monitor",
                            entity_id: id,
                            action: "updated",
                            before: snapshot(&config_snapshot(&row)),
                            after: snapshot(&config_snapshot(&after)),
                        },
                        now,
                    )
                    .await?;
                    Ok(after)
                })
            })
            .await?;
        self.wake_jobs();
        let mut conn = self.db().reader().await?;
        view(&mut conn, row, now).await
    }

    /// Deletes a monitor and its history (staff). Incidents it opened stay.
    pub async fn delete_monitor(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        principal.require_staff()?;
        let actor = principal.audit_label();
        let principal = principal.clone();
        let now = now_ms();
        self.db()
            .write(move |conn| {
                Box::pin(async move {
                    let row = visible(conn, &principal, id).await?;
                    store::delete(conn, id).await?;
                    record(
                        conn,
                        &Change {
                            actor: &actor,
                            entity: "monitor",
                            entity_id: id,
                            action: "deleted",
                            before: snapshot(&config_snapshot(&row)),
                            after: None,
                        },
                        now,
                    )
                    .await?;
                    Ok::<_, AppError>(())
                })
            })
            .await?;
        self.wake_jobs();
        Ok(())
    }

    /// Uptime and hourly response times of a monitor over `[from, to)`.
    pub async fn monitor_uptime(
        &self,
        principal: &Principal,
        id: i64,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> Result<Uptime, AppError> {
        principal.require_staff()?;
        if to <= from {
            return Err(AppError::invalid("to", "must be after `from`"));
        }
        let mut conn = self.db().reader().await?;
        let row = visible(&mut conn, principal, id).await?;
        let hours = store::hourly(
            &mut conn,
            row.id,
            from.as_millisecond(),
            to.as_millisecond(),
        )
        .await?;
        let total = hours.iter().fold(Tally::default(), |acc, (_, t)| Tally {
            checks: acc.checks + t.checks,
            ok: acc.ok + t.ok,
            latency_sum: acc.latency_sum + t.latency_sum,
            latency_max: acc.latency_max.max(t.latency_max),
        });
        Ok(Uptime {
            from,
            to,
            checks: total.checks,
            uptime_percent: percent(&total),
            series: hours
                .into_iter()
                .map(|(hour, t)| UptimePoint {
                    at: timestamp(hour),
                    checks: t.checks,
                    uptime_percent: percent(&t).unwrap_or(0.0),
                    avg_latency_ms: t.latency_sum / t.checks.max(1),
                    max_latency_ms: t.latency_max,
                })
                .collect(),
        })
    }

    /// Adds a maintenance window (staff): alerts are held and checks inside it do not count
    /// against uptime.
    pub async fn create_maintenance(
        &self,
        principal: &Principal,
        input: NewMaintenance,
    ) -> Result<i64, AppError> {
        principal.require_staff()?;
        let window = maintenance_row(&input)?;
        let principal = principal.clone();
        let actor = principal.audit_label();
        let now = now_ms();
        self.db()
            .write(move |conn| {
                Box::pin(async move {
                    require_maintenance_access(conn, &principal, &window).await?;
                    let id = store::insert_maintenance(conn, &window, now).await?;
                    record(
                        conn,
                        &Change {
                            actor: &actor,
                            entity: "maintenance_window",
                            entity_id: id,
                            action: "created",
                            before: None,
                            after: Some(maintenance_snapshot(&window)),
                        },
                        now,
                    )
                    .await?;
                    Ok::<_, AppError>(id)
                })
            })
            .await
    }

    /// Maintenance windows after id `after`, in id order (staff). Windows for monitors the
    /// principal does not see are left out.
    pub async fn maintenance_windows(
        &self,
        principal: &Principal,
        query: &MaintenanceQuery,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Maintenance>, AppError> {
        principal.require_staff()?;
        let tag = match &query.tag {
            Some(tag) => Some(
                Tag::parse(tag)
                    .map_err(|e| AppError::invalid("tag", e))?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let mut conn = self.db().reader().await?;
        if let Some(monitor) = query.monitor_id {
            visible(&mut conn, principal, monitor).await?;
        }
        let organizations = principal.organization_filter();
        let filter = store::MaintenanceFilter {
            organizations: organizations.as_deref(),
            covering: query.monitor_id,
            tag: tag.as_deref(),
        };
        let now = now_ms();
        Ok(store::list_maintenance(&mut conn, &filter, after, limit)
            .await?
            .into_iter()
            .map(|stored| Maintenance::from_stored(stored, now))
            .collect())
    }

    /// One maintenance window (staff); not found if it is for a monitor the principal does
    /// not see.
    pub async fn maintenance_window(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Maintenance, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let stored = visible_maintenance(&mut conn, principal, id).await?;
        Ok(Maintenance::from_stored(stored, now_ms()))
    }

    /// Deletes a maintenance window: alerts it held go out from the next check. Who may
    /// delete a window is who may create it.
    pub async fn delete_maintenance(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        principal.require_staff()?;
        let actor = principal.audit_label();
        let principal = principal.clone();
        let now = now_ms();
        self.db()
            .write(move |conn| {
                Box::pin(async move {
                    let stored = visible_maintenance(conn, &principal, id).await?;
                    require_maintenance_access(conn, &principal, &stored.window).await?;
                    store::delete_maintenance(conn, id).await?;
                    record(
                        conn,
                        &Change {
                            actor: &actor,
                            entity: "maintenance_window",
                            entity_id: id,
                            action: "deleted",
                            before: Some(maintenance_snapshot(&stored.window)),
                            after: None,
                        },
                        now,
                    )
                    .await?;
                    Ok::<_, AppError>(())
                })
            })
            .await
    }

    /// Leases up to `limit` due checks to this node (the scheduler's side).
    pub async fn claim_monitor_checks(&self, limit: i64) -> Result<Vec<DueCheck>, AppError> {
        let node = self.config().node_name.clone();
        let backend = self.db().backend();
        let now = now_ms();
        let rows = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    crate::nodes::renew(conn, &node, now).await?;
                    Ok::<_, AppError>(
                        store::claim_due(conn, backend, &node, now, LEASE_SLACK_MS, limit).await?,
                    )
                })
            })
            .await?;
        let mut due = Vec::with_capacity(rows.len());
        for row in rows {
            let Ok(kind) = kind_of(&row) else {
                tracing::error!(monitor = row.id, kind = %row.kind, "monitor has an unknown kind");
                continue;
            };
            due.push(DueCheck {
                monitor_id: row.id,
                kind,
                target: row.target.clone(),
                settings: serde_json::from_str(&row.settings).unwrap_or_default(),
                timeout_ms: row.timeout_s.saturating_mul(1000),
                state_version: row.state_version,
                due_at: row.next_check_at,
            });
        }
        Ok(due)
    }

    /// The earliest time any monitor is due, so the scheduler can sleep until then.
    pub async fn next_monitor_due(&self) -> Result<Option<i64>, AppError> {
        let mut conn = self.db().reader().await?;
        Ok(store::next_due(&mut conn).await?)
    }

    /// Records finished checks in one transaction; returns how many counted (a result whose
    /// lease was lost, or that raced another, is dropped).
    pub async fn record_checks(&self, results: Vec<CheckResult>) -> Result<usize, AppError> {
        let node = self.config().node_name.clone();
        let now = now_ms();
        let (recorded, outage_work) = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    let (mut recorded, mut outage_work) = (0, false);
                    for result in &results {
                        let written = record_one(conn, result, Some(&node), now).await?;
                        recorded += usize::from(written != Recorded::Stale);
                        outage_work |= written == Recorded::WithOutageJob;
                    }
                    Ok::<_, AppError>((recorded, outage_work))
                })
            })
            .await?;
        if outage_work {
            self.wake_jobs();
        }
        Ok(recorded)
    }

    /// A heartbeat ping (no login: the secret token is the credential). Durable when this
    /// returns. `exit_code` comes from `/ping/<uuid>/<exit-code>`.
    pub async fn heartbeat_ping(
        &self,
        token: &str,
        ping: Ping,
        exit_code: Option<u8>,
    ) -> Result<(), AppError> {
        if uuid::Uuid::parse_str(token).is_err() {
            return Err(AppError::NotFound("heartbeat"));
        }
        let token = token.to_owned();
        for attempt in 1..=WRITE_ATTEMPTS {
            let token = token.clone();
            let now = now_ms();
            let written = self
                .db()
                .write(move |conn| {
                    Box::pin(async move {
                        let pinged = store::by_token(conn, &token, now)
                            .await?
                            .ok_or(AppError::NotFound("heartbeat"))?;
                        let row = pinged.monitor;
                        let (heartbeat, duration) = heartbeat_state(&row).ping(ping, now);
                        let kind = match ping {
                            Ping::Start => "start",
                            Ping::Success => "success",
                            Ping::Fail => "fail",
                        };
                        store::insert_ping(
                            conn,
                            row.id,
                            now,
                            kind,
                            exit_code.map(i64::from),
                            duration,
                        )
                        .await?;
                        let mut updated = row.clone();
                        updated.last_ping_at = heartbeat.last_ping;
                        updated.started_at = heartbeat.started_at;
                        updated.ping_failed = i64::from(heartbeat.failed);
                        updated.last_latency_ms = duration.or(row.last_latency_ms);
                        if row.paused != 0 {
                            let update = update_from(&updated, &check_state(&row));
                            let written = store::update_state(
                                conn,
                                row.id,
                                row.state_version,
                                None,
                                &update,
                                now,
                            )
                            .await?;
                            return Ok::<_, AppError>(Recorded::state_written(written));
                        }
                        // Most pings fall in no window, as the lookup has already told.
                        let maintenance = pinged.spanning_windows > 0
                            && in_maintenance(conn, row.id, now).await?;
                        evaluate(
                            conn,
                            &updated,
                            row.state_version,
                            None,
                            now,
                            None,
                            maintenance,
                        )
                        .await
                    })
                })
                .await?;
            if written == Recorded::WithOutageJob {
                self.wake_jobs();
            }
            if written != Recorded::Stale {
                return Ok(());
            }
            tracing::debug!(attempt, "heartbeat ping raced another write; retrying");
        }
        Err(AppError::Conflict {
            field: None,
            message: "the heartbeat is busy; ping again".to_owned(),
        })
    }

    /// Rolls raw results older than `keep_days` up into hourly figures.
    pub async fn roll_up_monitor_results(&self, keep_days: i64) -> Result<u64, AppError> {
        let hour = 3_600_000;
        let before = (now_ms() - keep_days.max(1) * 86_400_000) / hour * hour;
        self.db()
            .write(move |conn| {
                Box::pin(async move { Ok::<_, AppError>(store::roll_up(conn, before).await?) })
            })
            .await
    }

    /// Brings an outage's incident in line with the outage: opens it once, and resolves
    /// (or notes) it once the outage has ended. Run from the job outbox; safe to repeat.
    pub(crate) async fn sync_outage_incident(
        &self,
        payload: &serde_json::Value,
    ) -> Result<(), String> {
        let outage_id = payload
            .get("outage_id")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| "payload has no outage_id".to_owned())?;
        let system = Principal::system("monitor");
        let writer = system.clone();
        let backend = self.db().backend();
        let notify = self.notifications_enabled();
        let now = now_ms();
        let events = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    let change = TicketChange {
                        backend,
                        principal: &writer,
                        notify,
                        now,
                    };
                    reconcile_outage(conn, &change, outage_id).await
                })
            })
            .await
            .map_err(|e| e.to_string())?;
        if !events.is_empty() {
            self.wake_jobs();
        }
        for event in events {
            self.publish(event.ticket_id, &event.number, event.kind, &system);
        }
        Ok(())
    }
}

/// A change made to an incident, announced once its transaction has committed.
struct IncidentEvent {
    ticket_id: i64,
    number: String,
    kind: crate::TicketEventKind,
}

/// The work of [`App::sync_outage_incident`], in one transaction that holds the outage's
/// row lock: an incident is created and linked, reopened or resolved together with the
/// outage's record of it, so a job that dies halfway leaves nothing half done (no incident
/// left unlinked for another job to duplicate, no `ticket_resolved` that disagrees with the
/// incident), and the jobs of one outage wait only for each other's transactions.
async fn reconcile_outage(
    conn: &mut Conn,
    change: &TicketChange<'_>,
    outage_id: i64,
) -> Result<Vec<IncidentEvent>, AppError> {
    let Some(outage) = store::lock_outage(conn, change.backend, outage_id).await? else {
        return Ok(Vec::new()); // its monitor was deleted
    };
    let Some(monitor) = store::get(conn, outage.monitor_id).await? else {
        return Ok(Vec::new());
    };
    let incident: IncidentSettings = serde_json::from_str(&monitor.incident).unwrap_or_default();
    let mut events = Vec::new();
    let tag = format!("monitor-outage-{outage_id}");
    // Earlier versions created the incident and linked it in two transactions; the tag finds
    // one a crash left unlinked.
    let found = match outage.ticket_id {
        Some(id) => Some(id),
        None => store::ticket_with_tag(conn, &tag).await?,
    };
    let ticket_id = match found {
        Some(id) => id,
        None => {
            let error = outage
                .first_error
                .clone()
                .unwrap_or_else(|| "no answer".to_owned());
            let valid = validate_ticket(
                change.principal,
                NewTicket {
                    ticket_type: "incident".to_owned(),
                    title: format!("{} is down", monitor.name),
                    description: format!(
                        "Monitor \"{}\" ({} {}) is down since {}.\n\nFirst failure: {error}",
                        monitor.name,
                        monitor.kind,
                        monitor.target,
                        timestamp(outage.started_at)
                    ),
                    impact: incident.impact.clone(),
                    urgency: incident.urgency.clone(),
                    requester: Some(monitor.requester.clone()),
                    group: incident.group.clone(),
                    assignee: None,
                    category: incident.category.clone(),
                    tags: vec!["monitor".to_owned(), tag],
                    watchers: Vec::new(),
                    custom: Default::default(),
                    source: Some("monitor".to_owned()),
                    parent: None,
                },
            )?;
            let (backend, principal) = (change.backend, change.principal);
            let id =
                insert_ticket(conn, backend, principal, valid, change.notify, change.now).await?;
            events.push(IncidentEvent::of(conn, id, crate::TicketEventKind::Created).await?);
            id
        }
    };
    // The outage row is locked, so this links; the condition keeps a second incident from
    // ever being committed should two jobs get here all the same.
    if outage.ticket_id.is_none() && !store::link_ticket(conn, outage_id, ticket_id).await? {
        return Err(AppError::Conflict {
            field: None,
            message: format!("outage {outage_id} already has an incident"),
        });
    }
    let Some(ended_at) = outage.ended_at else {
        if outage.ticket_resolved != 0 {
            // Down again soon after recovering: the same incident goes back to work.
            let row = incident_row(conn, ticket_id).await?;
            if row.status == "resolved" {
                let patch = TicketPatch {
                    status: Some("open".to_owned()),
                    ..Default::default()
                };
                patch_ticket(conn, change, row, Precondition::Any, patch).await?;
                events.push(
                    IncidentEvent::of(conn, ticket_id, crate::TicketEventKind::Updated).await?,
                );
            }
            note(
                conn,
                change,
                ticket_id,
                format!("{} is down again.", monitor.name),
            )
            .await?;
            events.push(IncidentEvent::of(conn, ticket_id, crate::TicketEventKind::Comment).await?);
            store::mark_ticket_resolved(conn, outage_id, false).await?;
        }
        return Ok(events);
    };
    if outage.ticket_resolved != 0 {
        return Ok(events);
    }
    let row = incident_row(conn, ticket_id).await?;
    let minutes = (ended_at - outage.started_at) / 60_000;
    let seconds = (ended_at - outage.started_at) / 1000 % 60;
    let recovery = format!(
        "{} is back up after {minutes} min {seconds} s ({} failed checks).",
        monitor.name, outage.failures
    );
    let open = !matches!(row.status.as_str(), "resolved" | "closed");
    if open && incident.resolve {
        let patch = TicketPatch {
            status: Some("resolved".to_owned()),
            resolution_code: Some("fixed".to_owned()),
            resolution_note: Some(recovery),
            ..Default::default()
        };
        patch_ticket(conn, change, row, Precondition::Any, patch).await?;
        events.push(IncidentEvent::of(conn, ticket_id, crate::TicketEventKind::Updated).await?);
    } else if open {
        note(conn, change, ticket_id, recovery).await?;
        events.push(IncidentEvent::of(conn, ticket_id, crate::TicketEventKind::Comment).await?);
    }
    store::mark_ticket_resolved(conn, outage_id, true).await?;
    Ok(events)
}

impl IncidentEvent {
    async fn of(
        conn: &mut Conn,
        ticket_id: i64,
        kind: crate::TicketEventKind,
    ) -> Result<Self, AppError> {
        let row = incident_row(conn, ticket_id).await?;
        Ok(Self {
            ticket_id,
            number: number_of(&row.ticket_type, row.number),
            kind,
        })
    }
}

async fn incident_row(conn: &mut Conn, ticket_id: i64) -> Result<TicketRow, AppError> {
    ticket_store::get(conn, ticket_id)
        .await?
        .ok_or(AppError::NotFound("ticket"))
}

/// Adds a staff-only note to the incident.
async fn note(
    conn: &mut Conn,
    change: &TicketChange<'_>,
    ticket_id: i64,
    body: String,
) -> Result<(), AppError> {
    let row = incident_row(conn, ticket_id).await?;
    let comment = NewComment {
        body,
        public: false,
        time_spent_minutes: None,
    };
    let valid = validate_comment(change.principal, comment)?;
    let (backend, principal, notify) = (change.backend, change.principal, change.notify);
    insert_comment(conn, backend, principal, row, valid, notify, change.now).await?;
    Ok(())
}

fn percent(t: &Tally) -> Option<f64> {
    (t.checks > 0).then(|| (t.ok as f64) * 100.0 / (t.checks as f64))
}

/// What recording a check result or ping wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    /// Nothing: another write changed the monitor first, so the result was stale.
    Stale,
    /// The monitor's new state (and the result).
    State,
    /// The new state and an outage job, which the job runner should be woken for.
    WithOutageJob,
}

impl Recorded {
    fn state_written(written: bool) -> Self {
        if written { Self::State } else { Self::Stale }
    }
}

/// Records one result in the caller's transaction. See [`evaluate`].
async fn record_one(
    conn: &mut Conn,
    result: &CheckResult,
    node: Option<&str>,
    now: i64,
) -> Result<Recorded, AppError> {
    let Some(row) = store::get(conn, result.monitor_id).await? else {
        return Ok(Recorded::Stale);
    };
    if row.state_version != result.state_version || row.paused != 0 {
        return Ok(Recorded::Stale);
    }
    let mut updated = row.clone();
    if let Some(outcome) = &result.outcome {
        updated.last_check_at = Some(result.at);
        updated.last_latency_ms = outcome.latency_ms;
        updated.last_error.clone_from(&outcome.error);
    }
    let maintenance = in_maintenance(conn, row.id, now).await?;
    evaluate(
        conn,
        &updated,
        row.state_version,
        node,
        now,
        result.outcome.as_ref(),
        maintenance,
    )
    .await
}

/// Feeds a probe outcome (or, for heartbeats, the status worked out from pings) into the
/// state machine and writes the new state if nobody else did first; opens or ends the
/// outage and queues its incident job in the same transaction. `maintenance` says whether
/// a window holds the monitor's alerts now.
async fn evaluate(
    conn: &mut Conn,
    row: &MonitorRow,
    state_version: i64,
    node: Option<&str>,
    now: i64,
    outcome: Option<&ProbeOutcome>,
    maintenance: bool,
) -> Result<Recorded, AppError> {
    let kind = kind_of(row)?;
    let before = check_state(row);
    let (ok, error, next_check_at) = match (kind, outcome) {
        (MonitorKind::Heartbeat, _) => {
            let heartbeat = heartbeat_state(row);
            let expected = next_expected(row);
            let grace_ms = row.grace_s.saturating_mul(1000);
            let hb = heartbeat.status(now, expected, grace_ms);
            let next = heartbeat
                .next_change(now, expected, grace_ms)
                .unwrap_or(i64::MAX);
            let error = match hb {
                HeartbeatStatus::Down if heartbeat.failed => {
                    Some("the job reported a failure".to_owned())
                }
                HeartbeatStatus::Down if heartbeat.started_at.is_some() => {
                    Some("the job started but did not finish within the grace time".to_owned())
                }
                HeartbeatStatus::Down => Some(match expected {
                    Some(due) if row.cron.is_some() => format!(
                        "no ping for the run due at {} and the grace time after it",
                        timestamp(due)
                    ),
                    _ => "no ping within the period and grace time".to_owned(),
                }),
                _ => None,
            };
            if hb == HeartbeatStatus::New {
                // Nothing heard yet: nothing to decide.
                let mut update = update_from(row, &before);
                update.next_check_at = next;
                let written =
                    store::update_state(conn, row.id, state_version, node, &update, now).await?;
                return Ok(Recorded::state_written(written));
            }
            (hb != HeartbeatStatus::Down, error, next)
        }
        (_, Some(outcome)) => (
            outcome.ok,
            outcome.error.clone(),
            // Keep the cadence: the next check is one interval after this one was due.
            (row.next_check_at.saturating_add(row.interval_s * 1000)).max(now),
        ),
        (_, None) => {
            return Err(AppError::broken("a probe result without an outcome"));
        }
    };
    let state = before.observe(ok, thresholds(row));
    let suppression = Suppression {
        maintenance,
        dependency_down: match row.depends_on {
            Some(dep) => store::get(conn, dep)
                .await?
                .is_some_and(|d| d.up == Some(0) && d.paused == 0),
            None => false,
        },
    };
    let mut update = update_from(row, &state);
    update.next_check_at = next_check_at;
    if kind == MonitorKind::Heartbeat {
        // A probe's error comes with its result; a heartbeat's is what silence means.
        update.last_error.clone_from(&error);
    }
    let action = alert(&state, row.open_outage_id.is_some(), suppression);
    if action == Alert::Resolve {
        update.open_outage_id = None;
    }
    // The conditional update comes first: if another write got there, nothing else happens.
    if !store::update_state(conn, row.id, state_version, node, &update, now).await? {
        return Ok(Recorded::Stale);
    }
    let outage = match (action, row.open_outage_id) {
        (Alert::Open, _) => {
            let period = ping_schedule(row).map_or(0, |s| s.period_near(now));
            let window = i64::from(FLAP_WINDOW).saturating_mul(period);
            let outage = match store::recent_outage(conn, row.id, now - window).await? {
                Some(previous) => {
                    store::reopen_outage(conn, previous.id).await?;
                    previous.id
                }
                None => store::open_outage(conn, row.id, now, error.as_deref()).await?,
            };
            store::set_open_outage(conn, row.id, Some(outage)).await?;
            Some(outage)
        }
        (Alert::Resolve, Some(outage)) => {
            store::end_outage(conn, outage, now).await?;
            Some(outage)
        }
        (Alert::Hold, Some(outage)) if !ok => {
            if let Some(outage) = store::count_failure(conn, outage).await? {
                note_failures(conn, &outage, now, error.as_deref()).await?;
            }
            None
        }
        _ => None,
    };
    if let Some(outage) = outage {
        let mut batch = Batch::new(conn);
        jobs::queue(
            &mut batch,
            JobKind::MonitorOutage,
            &serde_json::json!({"outage_id": outage}),
            now,
        );
        batch.run(conn).await?;
    }
    let latency = outcome.and_then(|o| o.latency_ms);
    store::insert_result(
        conn,
        row.id,
        now,
        ok,
        latency,
        error.as_deref(),
        suppression.maintenance,
    )
    .await?;
    Ok(if outage.is_some() {
        Recorded::WithOutageJob
    } else {
        Recorded::State
    })
}

/// Notes the outage's failures on its incident's timeline, staff only, when [`FailureNotes`]
/// says one is due. Nothing before the incident job has linked the incident (its description
/// reports the first error) or once it has resolved it.
async fn note_failures(
    conn: &mut Conn,
    outage: &OutageRow,
    now: i64,
    error: Option<&str>,
) -> Result<(), AppError> {
    let Some(ticket_id) = outage.ticket_id else {
        return Ok(());
    };
    if outage.ticket_resolved != 0 {
        return Ok(());
    }
    let last = LastFailureNote {
        at: outage.noted_at,
        outage_started_at: outage.started_at,
        error: outage.noted_error.clone(),
        failures: outage.noted_failures,
    };
    let Some(note) = FailureNotes::default().due(&last, outage.failures, now, error) else {
        return Ok(());
    };
    let checks = if note.failures == 1 {
        "check"
    } else {
        "checks"
    };
    let mut body = format!(
        "{} more failed {checks} since {}",
        note.failures,
        timestamp(note.since)
    );
    if let Some(error) = error {
        body.push_str(&format!("; last error: {error}"));
    }
    let mut batch = Batch::new(conn);
    crate::tickets::timeline(
        &mut batch,
        ticket_id,
        now,
        "system:monitor",
        "monitor_failures",
        false,
        serde_json::json!({ "body": body }),
    );
    batch.run(conn).await?;
    store::note_failures(conn, outage.id, now, outage.failures, error).await?;
    Ok(())
}

/// A monitor the principal may see, or not found.
async fn visible(conn: &mut Conn, principal: &Principal, id: i64) -> Result<MonitorRow, AppError> {
    let row = store::get(conn, id)
        .await?
        .ok_or(AppError::NotFound("monitor"))?;
    if !principal.can_see_organization(row.organization_id) {
        return Err(AppError::NotFound("monitor"));
    }
    Ok(row)
}

/// A maintenance window the principal may see (any but those for monitors it does not
/// see), or not found.
async fn visible_maintenance(
    conn: &mut Conn,
    principal: &Principal,
    id: i64,
) -> Result<StoredMaintenance, AppError> {
    let stored = store::maintenance(conn, id)
        .await?
        .ok_or(AppError::NotFound("maintenance window"))?;
    if let Some(monitor) = stored.window.monitor_id {
        match visible(conn, principal, monitor).await {
            Err(AppError::NotFound(_)) => return Err(AppError::NotFound("maintenance window")),
            other => other?,
        };
    }
    Ok(stored)
}

/// Refuses a dependency that does not exist or would make a monitor depend on itself.
async fn check_dependency(
    conn: &mut Conn,
    depends_on: Option<i64>,
    id: Option<i64>,
) -> Result<(), AppError> {
    let Some(dep) = depends_on else { return Ok(()) };
    if Some(dep) == id {
        return Err(AppError::invalid(
            "depends_on",
            "a monitor cannot depend on itself",
        ));
    }
    let row = store::get(conn, dep)
        .await?
        .ok_or_else(|| AppError::invalid("depends_on", "no such monitor"))?;
    if row.depends_on.is_some_and(|d| Some(d) == id) {
        return Err(AppError::invalid(
            "depends_on",
            "the two monitors would depend on each other",
        ));
    }
    Ok(())
}

/// The configuration part of a monitor, for the audit log.
fn config_snapshot(row: &MonitorRow) -> serde_json::Value {
    serde_json::json!({
        "name": row.name, "kind": row.kind, "target": row.target, "interval_s": row.interval_s,
        "timeout_s": row.timeout_s, "retries": row.retries, "recover_after": row.recover_after,
        "schedule": row.cron, "timezone": row.timezone,
        "grace_s": row.grace_s, "paused": row.paused != 0, "depends_on": row.depends_on,
        "organization_id": row.organization_id,
        "settings": serde_json::from_str::<serde_json::Value>(&row.settings).unwrap_or_default(),
        "incident": serde_json::from_str::<serde_json::Value>(&row.incident).unwrap_or_default(),
    })
}

/// The status a monitor shows now: its check state seen through pause, maintenance and
/// its dependency.
pub(crate) async fn current_status(
    conn: &mut Conn,
    row: &MonitorRow,
    now: i64,
) -> Result<MonitorStatus, AppError> {
    let state = check_state(row);
    let suppression = Suppression {
        maintenance: in_maintenance(conn, row.id, now).await?,
        dependency_down: match row.depends_on {
            Some(dep) => store::get(conn, dep)
                .await?
                .is_some_and(|d| d.up == Some(0) && d.paused == 0),
            None => false,
        },
    };
    let shown = status(&state, row.paused != 0, suppression);
    Ok(if shown == MonitorStatus::Up && suppression.maintenance {
        MonitorStatus::Maintenance
    } else {
        shown
    })
}

async fn view(conn: &mut Conn, row: MonitorRow, now: i64) -> Result<Monitor, AppError> {
    let kind = kind_of(&row)?;
    let state = check_state(&row);
    let shown = current_status(conn, &row, now).await?;
    let is_heartbeat = kind == MonitorKind::Heartbeat;
    let due = if is_heartbeat {
        next_expected(&row)
    } else {
        None
    };
    let heartbeat = is_heartbeat.then(|| {
        heartbeat_state(&row)
            .status(now, due, row.grace_s.saturating_mul(1000))
            .as_str()
            .to_owned()
    });
    let day = store::hourly(conn, row.id, now - 86_400_000, now + 1).await?;
    let tally = day.iter().fold(Tally::default(), |acc, (_, t)| Tally {
        checks: acc.checks + t.checks,
        ok: acc.ok + t.ok,
        ..acc
    });
    let open_incident = match row.open_outage_id {
        Some(outage) => match store::outage(conn, outage).await?.and_then(|o| o.ticket_id) {
            Some(ticket) => ticket_store::get(conn, ticket)
                .await?
                .map(|t| crate::tickets::number_of(&t.ticket_type, t.number)),
            None => None,
        },
        None => None,
    };
    Ok(Monitor {
        id: row.id,
        kind: row.kind.clone(),
        target: row.target.clone(),
        interval_s: row.cron.is_none().then_some(row.interval_s),
        schedule: row.cron.clone(),
        timezone: row.timezone.clone(),
        timeout_s: row.timeout_s,
        retries: row.retries,
        recover_after: row.recover_after,
        grace_s: is_heartbeat.then_some(row.grace_s),
        next_ping_due_at: due.map(timestamp),
        late_by_s: due
            .map(|due| late_by(due, now) / 1000)
            .filter(|late| *late > 0),
        incident: {
            let mut incident: IncidentSettings =
                serde_json::from_str(&row.incident).unwrap_or_default();
            incident.requester = Some(row.requester.clone());
            incident
        },
        settings: serde_json::from_str(&row.settings).unwrap_or_default(),
        organization_id: row.organization_id,
        depends_on: row.depends_on,
        paused: row.paused != 0,
        tags: store::tags(conn, row.id).await?,
        status: shown.as_str().to_owned(),
        heartbeat,
        flapping: state.flapping,
        last_check_at: row.last_check_at.or(row.last_ping_at).map(timestamp),
        last_latency_ms: row.last_latency_ms,
        last_error: row.last_error.clone(),
        uptime_24h: percent(&tally),
        open_incident,
        ping_url: row.ping_token.as_ref().map(|t| format!("/ping/{t}")),
        version: row.version,
        created_at: timestamp(row.created_at),
        name: row.name,
    })
}
