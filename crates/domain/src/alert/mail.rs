//! Alerts from monitoring tools that only send mail (Nagios, Zabbix, Healthchecks, Uptime
//! Kuma, Alertmanager's e-mail receiver …). Their subjects follow one pattern: a status word
//! (`PROBLEM`, `[FIRING:2]`, `is DOWN`) around a description of what is wrong that stays the
//! same when the problem ends (`RECOVERY`, `[RESOLVED]`, `is UP`). The status word decides
//! whether the alert fires or resolves; the subject without status, severity and counts is
//! the alert's identity, so the recovery mail finds its problem.

use std::collections::BTreeMap;

use super::{AlertStatus, Notice, Severity, fingerprint_of};

/// Words that say the problem goes on.
const FIRING: &[&str] = &["problem", "firing", "down", "failed", "failure"];
/// Words that say it is over.
const RESOLVED: &[&str] = &["recovery", "recovered", "resolved", "ok", "up", "cleared"];
/// Words that say how bad it is; they change between the problem and its recovery, so
/// they are not part of its identity either.
const SEVERITIES: &[&str] = &[
    "critical",
    "crit",
    "emergency",
    "fatal",
    "high",
    "error",
    "major",
    "warning",
    "warn",
    "minor",
    "average",
    "unknown",
    "info",
    "information",
    "low",
];
/// Prefixes mail clients and servers add when passing a message on.
const FORWARD_PREFIXES: &[&str] = &["re", "fw", "fwd", "aw", "wg", "tr"];

/// Longest description kept, in characters.
const MOST_DESCRIPTION_CHARS: usize = 10_000;

/// One alert read from a message `from` an address, with its subject and text. The labels
/// are the sender and the subject's identity, so grouping and silences can match them.
pub fn read(from: &str, subject: &str, text: &str) -> Notice {
    let words = words(subject);
    let status = words
        .iter()
        .find_map(|w| {
            if FIRING.contains(&w.as_str()) {
                Some(AlertStatus::Firing)
            } else if RESOLVED.contains(&w.as_str()) {
                Some(AlertStatus::Resolved)
            } else {
                None
            }
        })
        .unwrap_or(AlertStatus::Firing);
    let severity = Severity::read(
        words
            .iter()
            .find(|w| SEVERITIES.contains(&w.as_str()))
            .map(String::as_str),
    );
    let identity = identity(&words);
    let mut labels = BTreeMap::new();
    labels.insert("from".to_owned(), from.to_ascii_lowercase());
    labels.insert("subject".to_owned(), identity);
    let title = subject
        .trim()
        .trim_matches(|c: char| c == '*' || c.is_whitespace())
        .to_owned();
    Notice {
        fingerprint: fingerprint_of(&labels),
        status,
        title: if title.is_empty() {
            "(no subject)".to_owned()
        } else {
            title
        },
        description: text.trim().chars().take(MOST_DESCRIPTION_CHARS).collect(),
        severity,
        labels,
    }
}

/// The subject's words in lower case: letters, digits and the characters that hold host and
/// service names together (`web1/HTTP`, `db-2.example`, `disk_used`).
fn words(subject: &str) -> Vec<String> {
    subject
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '/' | '.' | '-' | '_' | '@')))
        .map(|w| w.trim_matches(['.', '-']).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// What stays of the subject when the problem ends: its words without forwarding prefixes,
/// status, severity and bare numbers (`[FIRING:2]`).
fn identity(words: &[String]) -> String {
    let leading_prefixes = words
        .iter()
        .take_while(|w| FORWARD_PREFIXES.contains(&w.as_str()))
        .count();
    words[leading_prefixes..]
        .iter()
        .filter(|w| {
            let w = w.as_str();
            !FIRING.contains(&w)
                && !RESOLVED.contains(&w)
                && !SEVERITIES.contains(&w)
                && !w.chars().all(|c| c.is_ascii_digit())
        })
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;

    /// Problem and recovery subjects of the tools people run, as they send them.
    const PAIRS: &[(&str, &str)] = &[
        (
            "** PROBLEM Service Alert: web1/HTTP is CRITICAL **",
            "** RECOVERY Service Alert: web1/HTTP is OK **",
        ),
        (
            "** PROBLEM Host Alert: db-2.example is DOWN **",
            "** RECOVERY Host Alert: db-2.example is UP **",
        ),
        (
            "Problem: Zabbix agent is not available (for 3m)",
            "Resolved: Zabbix agent is not available (for 3m)",
        ),
        (
            "[FIRING:2] HighLatency (api prod)",
            "[RESOLVED] HighLatency (api prod)",
        ),
        ("DOWN | nightly-backup", "UP | nightly-backup"),
        ("[🔴 Down] Intranet", "[✅ Up] Intranet"),
    ];

    #[test]
    fn each_tools_recovery_resolves_its_problem() {
        for (problem, recovery) in PAIRS {
            let fired = read("nagios@mon.example", problem, "");
            let over = read("nagios@mon.example", recovery, "");
            assert_eq!(fired.status, AlertStatus::Firing, "{problem}");
            assert_eq!(over.status, AlertStatus::Resolved, "{recovery}");
            assert_eq!(
                fired.fingerprint, over.fingerprint,
                "{problem} / {recovery}"
            );
        }
        let other = read(
            "nagios@mon.example",
            "** PROBLEM Service Alert: web2/HTTP is CRITICAL **",
            "",
        );
        let web1 = read("nagios@mon.example", PAIRS[0].0, "");
        assert_ne!(other.fingerprint, web1.fingerprint);
    }

    #[test]
    fn severity_title_and_labels_come_from_the_message() {
        let notice = read(
            "Nagios@Mon.Example",
            "** PROBLEM Service Alert: web1/HTTP is CRITICAL **",
            "  Info: connection refused \n",
        );
        assert_eq!(notice.severity, Severity::Critical);
        assert_eq!(notice.title, "PROBLEM Service Alert: web1/HTTP is CRITICAL");
        assert_eq!(notice.description, "Info: connection refused");
        assert_eq!(notice.labels["from"], "nagios@mon.example");
        assert_eq!(notice.labels["subject"], "service alert web1/http is");
        let plain = read("cron@host.example", "Disk almost full", "");
        assert_eq!(plain.status, AlertStatus::Firing);
        assert_eq!(plain.severity, Severity::Warning);
    }

    #[test]
    fn the_same_problem_from_another_sender_is_another_alert() {
        let a = read("a@mon.example", PAIRS[0].0, "");
        let b = read("b@mon.example", PAIRS[0].0, "");
        assert_ne!(a.fingerprint, b.fingerprint);
    }

    #[test]
    fn a_forwarded_alert_is_the_same_alert() {
        let forwarded = read("n@mon.example", &format!("Fwd: {}", PAIRS[3].0), "");
        assert_eq!(
            forwarded.fingerprint,
            read("n@mon.example", PAIRS[3].0, "").fingerprint
        );
    }

    proptest! {
        /// Whatever the description, wrapping it as a problem and as its recovery (any
        /// severity, any count) gives one alert that fires, then resolves.
        #[test]
        fn a_recovery_always_matches_its_problem(
            description in "[A-Za-z][A-Za-z0-9/_.-]{0,12}( [A-Za-z][A-Za-z0-9/_.-]{0,12}){0,5}",
            firing in prop::sample::select(FIRING),
            resolved in prop::sample::select(RESOLVED),
            severity in prop::sample::select(SEVERITIES),
            count in 0u32..100,
        ) {
            let description_words = words(&description);
            prop_assume!(description_words.iter().all(|w| {
                !FIRING.contains(&w.as_str())
                    && !RESOLVED.contains(&w.as_str())
                    && !FORWARD_PREFIXES.contains(&w.as_str())
            }));
            let problem = format!("[{firing}:{count}] {description} is {severity}");
            let recovery = format!("[{resolved}] {description} is ok");
            let fired = read("m@mon.example", &problem, "");
            let over = read("m@mon.example", &recovery, "");
            prop_assert_eq!(fired.status, AlertStatus::Firing);
            prop_assert_eq!(over.status, AlertStatus::Resolved);
            prop_assert_eq!(fired.fingerprint, over.fingerprint);
        }
    }
}
