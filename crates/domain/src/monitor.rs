//! Monitors: what a check result does to a monitor's state (consecutive failures before
//! down, successes before up, flap detection), when an outage should open or resolve, when
//! its further failures are worth a note on the incident, and heartbeat (dead man's switch)
//! status. Pure: callers pass `now` and every observation in.

use serde::{Deserialize, Serialize};

use crate::schedule::CronSchedule;
use crate::string_enum;

string_enum! {
    /// How a monitor checks its target.
    pub enum MonitorKind as "monitor kind" {
        /// An HTTP(S) request with an expected status, body and latency.
        Http => "http",
        /// A TCP connection.
        Tcp => "tcp",
        /// ICMP echo: loss and round-trip time.
        Icmp => "icmp",
        /// A DNS query with an expected answer.
        Dns => "dns",
        /// A TLS handshake and the certificate's days left.
        Tls => "tls",
        /// Pings sent by the monitored job itself; silence is the failure.
        Heartbeat => "heartbeat",
        /// A network device's interface over SNMP: operational status, and traffic, errors
        /// and discards against limits.
        SnmpInterface => "snmp_interface",
    }
}

string_enum! {
    /// What a monitor shows.
    pub enum MonitorStatus as "monitor status" {
        /// Not enough results yet.
        Pending => "pending",
        Up => "up",
        Down => "down",
        /// Switched off by a person.
        Paused => "paused",
        /// Inside a maintenance window: failures raise no alerts.
        Maintenance => "maintenance",
        /// Something it depends on is down, so its own failures say nothing new.
        Unreachable => "unreachable",
    }
}

/// How a probe checks its target, beyond the target itself. Each kind reads the fields
/// that concern it; the rest stay unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSettings {
    /// HTTP: the request method (default `GET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// HTTP: extra request headers.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
    /// HTTP: the request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// HTTP: the statuses that count as up (default: any 2xx).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_status: Vec<u16>,
    /// HTTP: text the response body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    /// HTTP: a regular expression the response body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// HTTP, TCP, ICMP, DNS: slower than this many milliseconds counts as down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_ms: Option<u64>,
    /// HTTP: follow redirects (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    /// HTTP, TLS: verify the server's certificate (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_tls: Option<bool>,
    /// TLS: fewer days left than this counts as down (default 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_days_left: Option<u32>,
    /// DNS: the record type (default `A`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    /// DNS: a value the answer must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// DNS: the resolver to ask, `ip:port` (default: the system's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<String>,
    /// ICMP: echo requests per check (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// ICMP: a higher loss percentage counts as down (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_loss_percent: Option<u32>,
    /// SNMP interface: which interface of which network device, and its limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<crate::network::InterfaceSettings>,
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub ok: bool,
    pub latency_ms: Option<i64>,
    /// Why it failed, for a person to read.
    pub error: Option<String>,
}

/// Checks kept for flap detection (as Nagios does).
pub const FLAP_WINDOW: u32 = 21;

/// When a monitor changes state and when it counts as flapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive failures before down (at least 1).
    pub down_after: u32,
    /// Consecutive successes before up again (at least 1).
    pub up_after: u32,
    /// Percentage of state changes over the window at which flapping starts.
    pub flap_high: u32,
    /// Percentage below which flapping stops.
    pub flap_low: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            down_after: 1,
            up_after: 1,
            flap_high: 50,
            flap_low: 25,
        }
    }
}

/// The part of a monitor's state that check results drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckState {
    /// Whether the target is up; `None` before the first decision.
    pub up: Option<bool>,
    pub fail_streak: u32,
    pub ok_streak: u32,
    /// The last results, newest in bit 0 (1 = success).
    pub history: u32,
    /// How many results `history` holds: 0 before the first, then [`FLAP_WINDOW`].
    pub seen: u32,
    pub flapping: bool,
}

impl CheckState {
    /// The state after one more check result.
    pub fn observe(self, ok: bool, thresholds: Thresholds) -> CheckState {
        let mask = (1u32 << FLAP_WINDOW) - 1;
        // As Nagios does, the window starts filled with the first result, so that a few
        // early results do not read as a high rate of change.
        let previous = match (self.seen, ok) {
            (0, true) => mask,
            (0, false) => 0,
            _ => self.history,
        };
        let history = ((previous << 1) | u32::from(ok)) & mask;
        let seen = FLAP_WINDOW;
        let (fail_streak, ok_streak) = if ok {
            (0, self.ok_streak.saturating_add(1))
        } else {
            (self.fail_streak.saturating_add(1), 0)
        };
        let up = if ok && ok_streak >= thresholds.up_after.max(1) {
            Some(true)
        } else if !ok && fail_streak >= thresholds.down_after.max(1) {
            Some(false)
        } else {
            self.up
        };
        let changes = change_percent(history, seen);
        let flapping = if self.flapping {
            changes >= thresholds.flap_low
        } else {
            changes >= thresholds.flap_high
        };
        CheckState {
            up,
            fail_streak,
            ok_streak,
            history,
            seen,
            flapping,
        }
    }
}

/// Percentage of result-to-result changes among the last `seen` results.
fn change_percent(history: u32, seen: u32) -> u32 {
    if seen < 2 {
        return 0;
    }
    let pairs = seen - 1;
    let mask = (1u32 << pairs) - 1;
    let changes = ((history ^ (history >> 1)) & mask).count_ones();
    changes * 100 / (FLAP_WINDOW - 1)
}

/// What the alerting side should do about an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// Nothing to change.
    Hold,
    /// Open an outage (and its incident).
    Open,
    /// Close the open outage (and resolve its incident).
    Resolve,
}

/// Circumstances that hold alerts back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Suppression {
    /// Inside a maintenance window.
    pub maintenance: bool,
    /// A monitor this one depends on is down.
    pub dependency_down: bool,
}

/// A maintenance window in time: once from `starts_at` to `ends_at`, or, with a
/// recurrence, for its duration from each time of its schedule between the two (as
/// Uptime Kuma's cron windows and Datadog's recurring downtimes do).
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceWindow {
    pub starts_at: i64,
    pub ends_at: i64,
    pub recurrence: Option<Recurrence>,
}

/// When a recurring maintenance window is in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Recurrence {
    /// The times each period of maintenance begins.
    pub schedule: CronSchedule,
    /// How long each period lasts, in milliseconds.
    pub duration_ms: i64,
}

impl MaintenanceWindow {
    /// Whether maintenance is in force at `now`.
    pub fn active_at(&self, now: i64) -> bool {
        self.current_or_next(now)
            .is_some_and(|(start, _)| start <= now)
    }

    /// The period of maintenance in force at `now`, else the next one, as `(start, end)`
    /// clipped to the window; `None` once the window is over.
    pub fn current_or_next(&self, now: i64) -> Option<(i64, i64)> {
        if now >= self.ends_at {
            return None;
        }
        let Some(recurrence) = &self.recurrence else {
            return Some((self.starts_at, self.ends_at));
        };
        let clip = |start: i64| {
            let end = start
                .saturating_add(recurrence.duration_ms)
                .min(self.ends_at);
            (start.max(self.starts_at), end)
        };
        // The latest period to begin is the one still running, if any: all last as long.
        if let Some(start) = recurrence.schedule.latest_at_or_before(now) {
            let (from, to) = clip(start);
            if from < to && now < to && from <= now {
                return Some((from, to));
            }
        }
        let next = recurrence
            .schedule
            .next_after(now.max(self.starts_at.saturating_sub(1)))?;
        let (from, to) = clip(next);
        (from < to).then_some((from, to))
    }
}

/// Reconciles the outage with the state: one outage per period of being down, none while
/// flapping, in maintenance or behind a failed dependency. Evaluated after every check, so
/// an alert held back while flapping is raised once the flapping stops.
pub fn alert(state: &CheckState, outage_open: bool, suppression: Suppression) -> Alert {
    if state.flapping {
        return Alert::Hold;
    }
    match (state.up, outage_open) {
        (Some(false), false) if !suppression.maintenance && !suppression.dependency_down => {
            Alert::Open
        }
        (Some(true), true) => Alert::Resolve,
        _ => Alert::Hold,
    }
}

/// How often an open outage's further failures are written on its incident's timeline, so
/// that a monitor checked every second adds a few readable entries, not thousands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureNotes {
    /// A changed error is noted no sooner than this after the previous note.
    pub min_gap_ms: i64,
    /// While the error stays the same, a note this long after the previous one.
    pub repeat_ms: i64,
}

impl Default for FailureNotes {
    fn default() -> Self {
        Self {
            min_gap_ms: 60_000,
            repeat_ms: 15 * 60_000,
        }
    }
}

/// What an outage's incident last said about its failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastFailureNote {
    /// When the last note was written; `None` before the first, when the incident's
    /// description (the outage's start and first error) is all it says.
    pub at: Option<i64>,
    /// When the outage began.
    pub outage_started_at: i64,
    /// The error it reported.
    pub error: Option<String>,
    /// The outage's failure count it accounted for.
    pub failures: i64,
}

/// A note due on an incident's timeline: `failures` more failed checks since `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureNote {
    pub failures: i64,
    pub since: i64,
}

impl FailureNotes {
    /// Whether a failure at `now` with `error`, bringing the outage's count to `failures`,
    /// is worth a note after `last`, and what it summarises.
    pub fn due(
        &self,
        last: &LastFailureNote,
        failures: i64,
        now: i64,
        error: Option<&str>,
    ) -> Option<FailureNote> {
        let new = failures.saturating_sub(last.failures);
        if new < 1 {
            return None;
        }
        let since = last.at.unwrap_or(last.outage_started_at);
        let elapsed = now.saturating_sub(since);
        let due = if last.error.as_deref() == error {
            elapsed >= self.repeat_ms
        } else {
            // The first change is news at once; later ones are limited so that an error
            // alternating between two messages does not write an entry per check.
            last.at.is_none() || elapsed >= self.min_gap_ms
        };
        due.then_some(FailureNote {
            failures: new,
            since,
        })
    }
}

/// The status a monitor shows.
pub fn status(state: &CheckState, paused: bool, suppression: Suppression) -> MonitorStatus {
    if paused {
        return MonitorStatus::Paused;
    }
    match state.up {
        None => MonitorStatus::Pending,
        Some(true) => MonitorStatus::Up,
        Some(false) if suppression.maintenance => MonitorStatus::Maintenance,
        Some(false) if suppression.dependency_down => MonitorStatus::Unreachable,
        Some(false) => MonitorStatus::Down,
    }
}

string_enum! {
    /// A heartbeat's status, as healthchecks.io defines it.
    pub enum HeartbeatStatus as "heartbeat status" {
        /// Never pinged.
        New => "new",
        Up => "up",
        /// Late, but within the grace time.
        Grace => "grace",
        Down => "down",
    }
}

/// What a heartbeat has heard so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeartbeatState {
    /// The last success (or plain) ping.
    pub last_ping: Option<i64>,
    /// The last `/start` not yet followed by a finish.
    pub started_at: Option<i64>,
    /// The last finish reported a failure.
    pub failed: bool,
}

/// A ping to a heartbeat's URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    /// `/ping/<uuid>/start`: the job began.
    Start,
    /// `/ping/<uuid>`, or exit code 0: the job finished well.
    Success,
    /// `/ping/<uuid>/fail`, or a non-zero exit code.
    Fail,
}

impl Ping {
    /// The ping for an exit code.
    pub fn from_exit_code(code: u8) -> Ping {
        if code == 0 { Ping::Success } else { Ping::Fail }
    }
}

/// When a heartbeat expects its pings.
#[derive(Debug, Clone, PartialEq)]
pub enum PingSchedule {
    /// A ping at most this many milliseconds after the last one.
    Period(i64),
    /// A ping at every time of a cron schedule.
    Cron(Box<CronSchedule>),
}

impl PingSchedule {
    /// When the next ping is due after one at `last_ping`: the period later, or the first
    /// scheduled time after it (as healthchecks.io does), so a run that pings a little
    /// late is not late for the next one as well.
    pub fn next_expected(&self, last_ping: i64) -> Option<i64> {
        match self {
            PingSchedule::Period(period_ms) => Some(last_ping.saturating_add(*period_ms)),
            PingSchedule::Cron(schedule) => schedule.next_after(last_ping),
        }
    }

    /// The time between two expected pings around `at`, for sizing the window in which
    /// going down again continues the previous outage.
    pub fn period_near(&self, at: i64) -> i64 {
        match self {
            PingSchedule::Period(period_ms) => *period_ms,
            PingSchedule::Cron(schedule) => schedule
                .next_after(at)
                .and_then(|next| Some(schedule.next_after(next)? - next))
                .unwrap_or(0),
        }
    }
}

impl HeartbeatState {
    /// The state after a ping at `now`, with the run's duration when it finished one.
    pub fn ping(self, ping: Ping, now: i64) -> (HeartbeatState, Option<i64>) {
        match ping {
            Ping::Start => (
                HeartbeatState {
                    started_at: Some(now),
                    ..self
                },
                None,
            ),
            Ping::Success | Ping::Fail => {
                let duration = self.started_at.map(|start| (now - start).max(0));
                (
                    HeartbeatState {
                        last_ping: Some(now),
                        started_at: None,
                        failed: ping == Ping::Fail,
                    },
                    duration,
                )
            }
        }
    }

    /// The status at `now`. `next_expected` is when the next ping is due after the last one
    /// (last ping + period, or the cron schedule's next time); `grace_ms` the lateness allowed.
    pub fn status(&self, now: i64, next_expected: Option<i64>, grace_ms: i64) -> HeartbeatStatus {
        if self.failed {
            return HeartbeatStatus::Down;
        }
        if let Some(start) = self.started_at
            && now > start.saturating_add(grace_ms)
        {
            return HeartbeatStatus::Down;
        }
        let (Some(_), Some(due)) = (self.last_ping, next_expected) else {
            return HeartbeatStatus::New;
        };
        if now <= due {
            HeartbeatStatus::Up
        } else if now <= due.saturating_add(grace_ms) {
            HeartbeatStatus::Grace
        } else {
            HeartbeatStatus::Down
        }
    }

    /// When the status will next turn worse, for scheduling the next evaluation.
    pub fn next_change(&self, now: i64, next_expected: Option<i64>, grace_ms: i64) -> Option<i64> {
        let mut times = Vec::with_capacity(3);
        if let Some(start) = self.started_at {
            times.push(start.saturating_add(grace_ms).saturating_add(1));
        }
        if let Some(due) = next_expected {
            times.push(due.saturating_add(1));
            times.push(due.saturating_add(grace_ms).saturating_add(1));
        }
        times.into_iter().filter(|t| *t > now).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(results: &[bool], thresholds: Thresholds) -> CheckState {
        results
            .iter()
            .fold(CheckState::default(), |s, ok| s.observe(*ok, thresholds))
    }

    #[test]
    fn down_after_n_failures_up_after_m_successes() {
        let t = Thresholds {
            down_after: 3,
            up_after: 2,
            ..Thresholds::default()
        };
        assert_eq!(run(&[true], t).up, None);
        assert_eq!(run(&[true, true], t).up, Some(true));
        assert_eq!(run(&[true, true, false, false], t).up, Some(true));
        assert_eq!(run(&[true, true, false, false, false], t).up, Some(false));
        assert_eq!(
            run(&[true, true, false, false, false, true], t).up,
            Some(false)
        );
    }

    #[test]
    fn alternating_results_flap_and_hold_alerts() {
        let t = Thresholds::default();
        let results: Vec<bool> = (0..21).map(|i| i % 2 == 0).collect();
        let state = run(&results, t);
        assert!(state.flapping);
        assert_eq!(alert(&state, false, Suppression::default()), Alert::Hold);
        let steady = (0..21).fold(state, |s, _| s.observe(false, t));
        assert!(!steady.flapping);
        assert_eq!(alert(&steady, false, Suppression::default()), Alert::Open);
    }

    #[test]
    fn failure_notes_follow_error_changes_and_repeat_while_the_same() {
        let rule = FailureNotes::default();
        let minute = 60_000;
        // The incident opened at 0 with "refused"; no note written yet, 5 failures counted.
        let opened = LastFailureNote {
            at: None,
            outage_started_at: 0,
            error: Some("refused".to_owned()),
            failures: 1,
        };
        let noted = LastFailureNote {
            at: Some(10 * minute),
            error: Some("timeout".to_owned()),
            failures: 40,
            ..opened.clone()
        };
        let note = |failures, since| Some(FailureNote { failures, since });
        let cases = [
            // (after, failures, now, error, expected)
            (&opened, 5, minute, Some("refused"), None),
            (&opened, 5, 15 * minute - 1, Some("refused"), None),
            (&opened, 5, 15 * minute, Some("refused"), note(4, 0)),
            (&opened, 5, 1_000, Some("timeout"), note(4, 0)),
            (&opened, 5, 1_000, None, note(4, 0)),
            (&noted, 41, 10 * minute + 59_999, Some("refused"), None),
            (
                &noted,
                52,
                11 * minute,
                Some("refused"),
                note(12, 10 * minute),
            ),
            (&noted, 52, 24 * minute, Some("timeout"), None),
            (
                &noted,
                52,
                25 * minute,
                Some("timeout"),
                note(12, 10 * minute),
            ),
            // Nothing counted since the last note: nothing to say.
            (&noted, 40, 30 * minute, Some("refused"), None),
        ];
        for (after, failures, now, error, expected) in cases {
            assert_eq!(
                rule.due(after, failures, now, error),
                expected,
                "{failures} failures at {now} with {error:?} after {after:?}"
            );
        }
    }

    #[test]
    fn heartbeat_goes_late_then_down() {
        let hb = HeartbeatState::default();
        assert_eq!(hb.status(0, None, 10), HeartbeatStatus::New);
        let (hb, _) = hb.ping(Ping::Success, 100);
        let due = Some(200);
        assert_eq!(hb.status(150, due, 10), HeartbeatStatus::Up);
        assert_eq!(hb.status(205, due, 10), HeartbeatStatus::Grace);
        assert_eq!(hb.status(211, due, 10), HeartbeatStatus::Down);
        let (started, _) = hb.ping(Ping::Start, 150);
        assert_eq!(started.status(161, due, 10), HeartbeatStatus::Down);
        let (finished, took) = started.ping(Ping::Success, 158);
        assert_eq!(took, Some(8));
        assert_eq!(finished.status(160, Some(258), 10), HeartbeatStatus::Up);
        let (failed, _) = finished.ping(Ping::from_exit_code(2), 170);
        assert_eq!(failed.status(171, Some(270), 10), HeartbeatStatus::Down);
    }
}
