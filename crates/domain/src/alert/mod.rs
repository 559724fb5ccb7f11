//! Alerts from other monitoring tools: the payloads they send, read into one shape, and the
//! rules that make incidents of them — how severe an alert is, and which alerts are one
//! problem.

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::ticket::{Impact, Urgency};

pub mod mail;
pub mod replay;

crate::string_enum! {
    /// The payload an integration reads.
    pub enum IntegrationKind as "integration kind" {
        /// Prometheus Alertmanager's webhook (version 4).
        Alertmanager => "alertmanager",
        /// One JSON object: `{"fingerprint"?, "status", "title", "severity"?, "labels"?,
        /// "description"?}`.
        Generic => "generic",
        /// Mail sent to the integration's address, read by [`mail::read`].
        Email => "email",
    }
}

crate::string_enum! {
    /// Whether the problem an alert reports goes on.
    pub enum AlertStatus as "alert status" {
        Firing => "firing",
        Resolved => "resolved",
    }
}

crate::string_enum! {
    /// How bad an alert says things are, read from its `severity` label.
    pub enum Severity as "severity" {
        Critical => "critical",
        High => "high",
        Warning => "warning",
        Info => "info",
    }
}

impl Severity {
    /// Reads the severities tools use (`page`, `error`, `major`, `minor`, `low` …); what is
    /// not known is a warning.
    pub fn read(label: Option<&str>) -> Severity {
        match label.map(str::to_ascii_lowercase).as_deref() {
            Some("critical" | "crit" | "page" | "emergency" | "fatal" | "p1") => Severity::Critical,
            Some("high" | "error" | "major" | "err" | "p2") => Severity::High,
            Some("info" | "informational" | "low" | "none" | "ok" | "p4" | "p5") => Severity::Info,
            _ => Severity::Warning,
        }
    }

    /// The impact and urgency an incident of this severity gets.
    pub fn impact_urgency(self) -> (Impact, Urgency) {
        match self {
            Severity::Critical => (Impact::High, Urgency::High),
            Severity::High => (Impact::High, Urgency::Medium),
            Severity::Warning => (Impact::Medium, Urgency::Medium),
            Severity::Info => (Impact::Low, Urgency::Low),
        }
    }
}

/// One alert as received, whatever sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Stable for one alert across its notifications: the sender's, or one made from its
    /// labels.
    pub fingerprint: String,
    pub status: AlertStatus,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub labels: BTreeMap<String, String>,
}

impl Notice {
    /// What a search of alerts looks in: the title, the fingerprint and the label values,
    /// in lower case, one a line.
    pub fn search_text(&self) -> String {
        let mut text = format!("{}\n{}", self.title, self.fingerprint);
        for value in self.labels.values() {
            text.push('\n');
            text.push_str(value);
        }
        text.to_lowercase()
    }
}

/// Why a payload was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("not a {kind} payload: {reason}")]
    Malformed { kind: &'static str, reason: String },
    #[error("alert {index}: {reason}")]
    Alert { index: usize, reason: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlertmanagerPayload {
    alerts: Vec<AlertmanagerAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlertmanagerAlert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    fingerprint: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericAlert {
    #[serde(default)]
    fingerprint: Option<String>,
    status: String,
    title: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    description: Option<String>,
}

/// A fingerprint made from an alert's labels (sorted, so their order does not matter).
pub fn fingerprint_of(labels: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    for (name, value) in labels {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..8])
}

fn status(raw: &str, index: usize) -> Result<AlertStatus, PayloadError> {
    raw.parse().map_err(|_| PayloadError::Alert {
        index,
        reason: format!("status must be firing or resolved, not `{raw}`"),
    })
}

/// Reads a payload of `kind` into its alerts.
pub fn read(kind: IntegrationKind, body: &[u8]) -> Result<Vec<Notice>, PayloadError> {
    let malformed = |reason: String| PayloadError::Malformed {
        kind: kind.as_str(),
        reason,
    };
    match kind {
        IntegrationKind::Alertmanager => {
            let payload: AlertmanagerPayload =
                serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
            payload
                .alerts
                .into_iter()
                .enumerate()
                .map(|(index, alert)| {
                    let title = alert
                        .annotations
                        .get("summary")
                        .or_else(|| alert.labels.get("alertname"))
                        .cloned()
                        .unwrap_or_else(|| "Alert".to_owned());
                    Ok(Notice {
                        fingerprint: alert
                            .fingerprint
                            .filter(|f| !f.trim().is_empty())
                            .unwrap_or_else(|| fingerprint_of(&alert.labels)),
                        status: status(&alert.status, index)?,
                        title,
                        description: alert
                            .annotations
                            .get("description")
                            .cloned()
                            .unwrap_or_default(),
                        severity: Severity::read(alert.labels.get("severity").map(String::as_str)),
                        labels: alert.labels,
                    })
                })
                .collect()
        }
        IntegrationKind::Email => Err(malformed(
            "an e-mail integration reads the mail sent to its address, not posts".to_owned(),
        )),
        IntegrationKind::Generic => {
            let alert: GenericAlert =
                serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
            if alert.title.trim().is_empty() {
                return Err(PayloadError::Alert {
                    index: 0,
                    reason: "title is empty".into(),
                });
            }
            let mut labels = alert.labels;
            let fingerprint = match alert.fingerprint.filter(|f| !f.trim().is_empty()) {
                Some(fingerprint) => fingerprint,
                None => {
                    // Without labels, the title tells alerts apart.
                    if labels.is_empty() {
                        labels.insert("title".into(), alert.title.clone());
                    }
                    fingerprint_of(&labels)
                }
            };
            Ok(vec![Notice {
                fingerprint,
                status: status(&alert.status, 0)?,
                severity: Severity::read(
                    alert
                        .severity
                        .as_deref()
                        .or(labels.get("severity").map(String::as_str)),
                ),
                title: alert.title,
                description: alert.description.unwrap_or_default(),
                labels,
            }])
        }
    }
}

/// The problem an alert belongs to: the values of the integration's grouping labels, or the
/// alert itself when it groups by none.
pub fn group_key(group_by: &[String], notice: &Notice) -> String {
    if group_by.is_empty() {
        return notice.fingerprint.clone();
    }
    group_by
        .iter()
        .map(|name| {
            format!(
                "{name}={}",
                notice.labels.get(name).map_or("", String::as_str)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// How an integration's alerts become incidents, beyond grouping. Every setting at 0 (or
/// a threshold of 1) leaves alerts as they are: the first opens, the last resolved resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pipeline {
    /// A resolved alert resolves its incident only after staying resolved this long;
    /// firing again before keeps the incident, so a flapping alert pages once.
    pub hold_back_minutes: i64,
    /// A firing alert not received again for this long counts as resolved, for sources that
    /// never say so.
    pub resolve_after_minutes: i64,
    /// A group opens its incident only once it fired this many times …
    pub open_after_count: i64,
    /// … within this many minutes.
    pub open_after_minutes: i64,
    /// Beyond this many incidents opened in an hour, new problems join one alert storm
    /// incident instead.
    pub max_incidents_per_hour: i64,
    /// A source that sends nothing for this long raises its own alert (a dead-man's
    /// switch); 0: never.
    pub silent_after_minutes: i64,
}

impl Default for Pipeline {
    fn default() -> Self {
        Self {
            hold_back_minutes: 0,
            resolve_after_minutes: 0,
            open_after_count: 1,
            open_after_minutes: 0,
            max_incidents_per_hour: 0,
            silent_after_minutes: 0,
        }
    }
}

/// The bounds of each setting, inclusive: a day of hold-back or of threshold window, a
/// week of silence before resolving.
pub const HOLD_BACK_MINUTES: (i64, i64) = (0, 1_440);
pub const RESOLVE_AFTER_MINUTES: (i64, i64) = (0, 10_080);
pub const OPEN_AFTER_COUNT: (i64, i64) = (1, 1_000);
pub const OPEN_AFTER_MINUTES: (i64, i64) = (0, 1_440);
pub const MAX_INCIDENTS_PER_HOUR: (i64, i64) = (0, 10_000);
/// A week, as for resolving.
pub const SILENT_AFTER_MINUTES: (i64, i64) = (0, 10_080);

const MINUTE_MS: i64 = 60_000;
/// The storm cap's window.
pub const HOUR_MS: i64 = 3_600_000;

impl Pipeline {
    /// The settings out of bounds, each with what is wrong (fields named as the API's).
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut faults = Vec::new();
        for (field, value, (low, high)) in [
            (
                "hold_back_minutes",
                self.hold_back_minutes,
                HOLD_BACK_MINUTES,
            ),
            (
                "resolve_after_minutes",
                self.resolve_after_minutes,
                RESOLVE_AFTER_MINUTES,
            ),
            ("open_after.count", self.open_after_count, OPEN_AFTER_COUNT),
            (
                "open_after.minutes",
                self.open_after_minutes,
                OPEN_AFTER_MINUTES,
            ),
            (
                "max_incidents_per_hour",
                self.max_incidents_per_hour,
                MAX_INCIDENTS_PER_HOUR,
            ),
            (
                "silent_after_minutes",
                self.silent_after_minutes,
                SILENT_AFTER_MINUTES,
            ),
        ] {
            if !(low..=high).contains(&value) {
                faults.push((field, format!("must be {low} to {high}")));
            }
        }
        if self.open_after_count > 1 && self.open_after_minutes < 1 {
            faults.push((
                "open_after.minutes",
                "a count above 1 needs a window of at least a minute".to_owned(),
            ));
        }
        faults
    }

    pub fn hold_back_ms(&self) -> i64 {
        self.hold_back_minutes.saturating_mul(MINUTE_MS)
    }

    pub fn resolve_after_ms(&self) -> i64 {
        self.resolve_after_minutes.saturating_mul(MINUTE_MS)
    }

    /// Whether a group's firings are counted before it opens an incident.
    pub fn has_threshold(&self) -> bool {
        self.open_after_count > 1
    }

    /// The threshold's window.
    pub fn open_after_ms(&self) -> i64 {
        self.open_after_minutes.saturating_mul(MINUTE_MS)
    }

    /// Whether a group that fired `firings` times within the window opens its incident.
    pub fn threshold_met(&self, firings: i64) -> bool {
        firings >= self.open_after_count
    }

    /// Whether a new problem opens an incident of its own when the integration's alerts
    /// opened `opened` in the last hour; otherwise it joins the alert storm incident.
    pub fn may_open(&self, opened: i64) -> bool {
        self.max_incidents_per_hour == 0 || opened < self.max_incidents_per_hour
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn alertmanager_alerts_keep_their_fingerprint_and_read_summary_and_severity() {
        let body = br#"{"version":"4","groupKey":"{}:{alertname=\"DiskFull\"}","truncatedAlerts":0,
            "status":"firing","receiver":"opsdesk","groupLabels":{},"commonLabels":{},
            "commonAnnotations":{},"externalURL":"http://am","alerts":[
            {"status":"firing","labels":{"alertname":"DiskFull","instance":"db1","severity":"page"},
             "annotations":{"summary":"Disk full on db1"},"startsAt":"2026-01-01T00:00:00Z",
             "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://p","fingerprint":"abc123"},
            {"status":"resolved","labels":{"alertname":"DiskFull","instance":"db2"},
             "annotations":{},"startsAt":"2026-01-01T00:00:00Z","endsAt":"2026-01-01T01:00:00Z"}]}"#;
        let notices = read(IntegrationKind::Alertmanager, body).unwrap();
        assert_eq!(notices[0].fingerprint, "abc123");
        assert_eq!(notices[0].title, "Disk full on db1");
        assert_eq!(notices[0].severity, Severity::Critical);
        assert_eq!(notices[1].status, AlertStatus::Resolved);
        assert_eq!(notices[1].title, "DiskFull");
        assert_eq!(notices[1].fingerprint, fingerprint_of(&notices[1].labels));
        assert_eq!(
            group_key(&["alertname".into()], &notices[0]),
            group_key(&["alertname".into()], &notices[1])
        );
        assert_ne!(group_key(&[], &notices[0]), group_key(&[], &notices[1]));
        assert_eq!(
            notices[0].search_text(),
            "disk full on db1\nabc123\ndiskfull\ndb1\npage"
        );
    }

    #[test]
    fn generic_alerts_are_checked_and_told_apart_by_labels_or_title() {
        let vpn = read(
            IntegrationKind::Generic,
            br#"{"status":"firing","title":"VPN down"}"#,
        )
        .unwrap();
        let again = read(
            IntegrationKind::Generic,
            br#"{"status":"resolved","title":"VPN down","severity":"info"}"#,
        )
        .unwrap();
        assert_eq!(vpn[0].fingerprint, again[0].fingerprint);
        assert_eq!(again[0].severity, Severity::Info);
        assert!(matches!(
            read(
                IntegrationKind::Generic,
                br#"{"status":"burning","title":"x"}"#
            ),
            Err(PayloadError::Alert { .. })
        ));
        assert!(matches!(
            read(IntegrationKind::Generic, b"not json"),
            Err(PayloadError::Malformed { .. })
        ));
    }

    #[test]
    fn pipeline_settings_are_bounded_and_off_by_default() {
        let off = Pipeline::default();
        assert!(off.check().is_empty());
        assert!(!off.has_threshold() && off.threshold_met(1) && off.may_open(1_000_000));
        let storm = Pipeline {
            max_incidents_per_hour: 3,
            ..off
        };
        assert!(storm.may_open(2) && !storm.may_open(3));
        let threshold = Pipeline {
            open_after_count: 3,
            open_after_minutes: 10,
            ..off
        };
        assert!(threshold.has_threshold());
        assert!(!threshold.threshold_met(2) && threshold.threshold_met(3));
        assert_eq!(threshold.open_after_ms(), 600_000);
        let wrong = Pipeline {
            hold_back_minutes: -1,
            open_after_count: 2,
            open_after_minutes: 0,
            ..off
        };
        let fields: Vec<&str> = wrong.check().iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["hold_back_minutes", "open_after.minutes"]);
    }

    #[test]
    fn severities_map_to_impact_and_urgency() {
        assert_eq!(
            Severity::read(Some("CRITICAL")).impact_urgency(),
            (Impact::High, Urgency::High)
        );
        assert_eq!(Severity::read(None), Severity::Warning);
    }
}
