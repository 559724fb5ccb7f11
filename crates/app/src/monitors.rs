//! Monitoring use cases: monitors and heartbeats, recording check results and pings, and
//! turning outages into incidents exactly once.
//!
//! A state change and the outage it opens or closes are written in one transaction with a
//! conditional update (`state_version`, and the node's lease), and the incident work is a
//! job in the durable outbox queued in that same transaction. So a result recorded twice,
//! late or by two nodes changes nothing twice, and a crash between the two halves only
//! delays the incident.

mod checks;
mod heartbeats;
mod maintenance;
mod manage;
mod outages;

use checks::{Recorded, evaluate};
use maintenance::in_maintenance;
pub(crate) use maintenance::maintenance_window;
pub use maintenance::{Maintenance, MaintenanceQuery, NewMaintenance, NewRecurrence};

use opsdesk_domain::monitor::{
    Alert, CheckState, FLAP_WINDOW, FailureNotes, HeartbeatState, HeartbeatStatus, LastFailureNote,
    MaintenanceWindow, MonitorKind, MonitorStatus, Ping, PingSchedule, ProbeOutcome, ProbeSettings,
    Recurrence, Suppression, Thresholds, alert, status,
};
use opsdesk_domain::network::ThresholdError;
use opsdesk_domain::schedule::{CronSchedule, ScheduleError, late_by};
use opsdesk_domain::ticket::Tag;
use opsdesk_domain::ticket::{Impact, Urgency};
use opsdesk_store::monitors::{
    self as store, CheckUpdate, MaintenanceRow, MonitorConfig, MonitorRow, OutageRow,
    StoredMaintenance, Tally,
};
use opsdesk_store::tickets::TicketRow;
use opsdesk_store::{Conn, tickets as ticket_store};
use serde::{Deserialize, Serialize};

use crate::Precondition;
use crate::audit::{Entity, Event};
use crate::change::{Need, Tx};
use crate::jobs::{self, JobKind};
use crate::tickets::{
    NewComment, NewTicket, TicketPatch, insert_comment, insert_ticket, number_of, patch_ticket,
    validate_comment, validate_ticket,
};
use crate::{App, AppError, FieldError, Principal, timestamp};

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
    /// For an SNMP interface: the device's address and credentials.
    pub snmp: Option<(String, opsdesk_network::Credentials)>,
}

/// A finished check for [`App::record_checks`].
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub monitor_id: i64,
    pub state_version: i64,
    pub at: i64,
    /// The probe's finding; `None` for heartbeats, whose status is worked out from pings.
    pub outcome: Option<ProbeOutcome>,
    /// For an SNMP interface: the traffic since its previous check.
    pub rates: Option<opsdesk_domain::network::InterfaceRates>,
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
        MonitorKind::SnmpInterface => match &settings.interface {
            None => errors.push(FieldError::new(
                "interface",
                "an snmp_interface monitor needs {\"device\", \"if_index\"}; add devices with POST /api/v1/network-devices",
            )),
            Some(interface) => {
                if let Err(e) = interface.thresholds.validate() {
                    let field = match &e {
                        ThresholdError::Utilisation(_) => "max_utilisation_pct",
                        ThresholdError::Rate { field, .. } => field,
                    };
                    errors.push(FieldError::new(field, e));
                }
            }
        },
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

fn percent(t: &Tally) -> Option<f64> {
    (t.checks > 0).then(|| (t.ok as f64) * 100.0 / (t.checks as f64))
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
