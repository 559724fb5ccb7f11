//! The rule simulator's engine: recorded notifications replayed through an integration's
//! settings — grouping, silences, threshold, hold-back, resolve timeout, storm cap — to
//! count the incidents they would have opened. It follows the live pipeline's rules on a
//! clock of its own: the time of each notification, and the timers (hold-back, timeout)
//! that fall due between them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use super::{AlertStatus, HOUR_MS, Notice, Pipeline, group_key};
use crate::silence::{Matcher, mutes};

/// One notification as received, at `at` (milliseconds).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: i64,
    pub notice: Notice,
}

/// A silence over `[starts_at, ends_at)`.
#[derive(Debug, Clone)]
pub struct TimedSilence {
    pub starts_at: i64,
    pub ends_at: i64,
    pub matchers: Vec<Matcher>,
}

impl TimedSilence {
    fn mutes(&self, at: i64, labels: &BTreeMap<String, String>) -> bool {
        (self.starts_at..self.ends_at).contains(&at) && mutes(&self.matchers, labels)
    }
}

/// The settings replayed.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub group_by: Vec<String>,
    pub pipeline: Pipeline,
    pub silences: Vec<TimedSilence>,
}

/// An incident the replay opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayedIncident {
    pub opened_at: i64,
    pub title: String,
    /// The integration's alert storm incident, past the storm cap.
    pub storm: bool,
    /// When its last alert resolved it; none while still open at the end.
    pub resolved_at: Option<i64>,
}

/// What a replay produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    pub incidents: Vec<ReplayedIncident>,
    /// Firing notifications a silence muted.
    pub silenced: usize,
    /// Firing notifications that waited for their group's threshold.
    pub pending: usize,
}

/// An alert's state during the replay.
struct AlertState {
    firing: bool,
    last_at: i64,
    group: String,
    incident: Option<usize>,
}

/// A group's state: the incident it has (open, or with its resolution held back) and the
/// times it fired while short of the threshold.
#[derive(Default)]
struct GroupState {
    incident: Option<usize>,
    firings: Vec<i64>,
}

/// A timer falling due: an alert's resolve timeout (for the firing spell that ended at
/// `last_at`), or an incident's held-back resolution.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Timeout { fingerprint: String, last_at: i64 },
    Settle { incident: usize, resolved_at: i64 },
}

struct Replay<'a> {
    settings: &'a Settings,
    alerts: HashMap<String, AlertState>,
    groups: HashMap<String, GroupState>,
    timers: BinaryHeap<Reverse<(i64, Timer)>>,
    storm: Option<usize>,
    /// When each incident's alerts last all resolved, while its hold-back runs.
    last_resolution: HashMap<usize, i64>,
    out: Replayed,
}

/// Replays `recorded` (in any order) through `settings`, with the timers due up to `until`.
pub fn replay(settings: &Settings, recorded: &[Recorded], until: i64) -> Replayed {
    let mut order: Vec<&Recorded> = recorded.iter().collect();
    order.sort_by_key(|r| r.at);
    let mut replay = Replay {
        settings,
        alerts: HashMap::new(),
        groups: HashMap::new(),
        timers: BinaryHeap::new(),
        storm: None,
        last_resolution: HashMap::new(),
        out: Replayed::default(),
    };
    for r in order {
        replay.run_timers(r.at);
        replay.apply(r.at, &r.notice);
    }
    replay.run_timers(until);
    replay.out
}

impl Replay<'_> {
    fn run_timers(&mut self, until: i64) {
        while let Some(Reverse((at, _))) = self.timers.peek()
            && *at <= until
        {
            let Some(Reverse((at, timer))) = self.timers.pop() else {
                break;
            };
            match timer {
                Timer::Timeout {
                    fingerprint,
                    last_at,
                } => {
                    let still = self
                        .alerts
                        .get(&fingerprint)
                        .is_some_and(|a| a.firing && a.last_at == last_at);
                    if still {
                        self.resolve(at, &fingerprint);
                    }
                }
                // Only the latest resolution's timer settles: firing again and resolving
                // since starts the hold-back over.
                Timer::Settle {
                    incident,
                    resolved_at,
                } => {
                    if self.last_resolution.get(&incident) == Some(&resolved_at)
                        && !self.has_firing(incident)
                    {
                        self.close(incident, at);
                    }
                }
            }
        }
    }

    fn apply(&mut self, at: i64, notice: &Notice) {
        match notice.status {
            AlertStatus::Firing => self.fire(at, notice),
            AlertStatus::Resolved => {
                if self
                    .alerts
                    .get(&notice.fingerprint)
                    .is_some_and(|a| a.firing)
                {
                    self.resolve(at, &notice.fingerprint);
                }
            }
        }
    }

    fn fire(&mut self, at: i64, notice: &Notice) {
        let pipeline = self.settings.pipeline;
        let group = group_key(&self.settings.group_by, notice);
        let previous = self.alerts.get(&notice.fingerprint);
        let silenced = self
            .settings
            .silences
            .iter()
            .any(|s| s.mutes(at, &notice.labels));
        let incident = if silenced {
            self.out.silenced += 1;
            previous.filter(|a| a.firing).and_then(|a| a.incident)
        } else {
            let open = self
                .groups
                .get(&group)
                .and_then(|g| g.incident)
                .filter(|i| self.out.incidents[*i].resolved_at.is_none());
            match open {
                Some(incident) => Some(incident),
                None => self.admit(at, &group, notice),
            }
        };
        if incident.is_none() && !silenced {
            self.out.pending += 1;
        }
        self.alerts.insert(
            notice.fingerprint.clone(),
            AlertState {
                firing: true,
                last_at: at,
                group,
                incident,
            },
        );
        // The live timer looks again that long after the last time the alert was heard:
        // each firing sets one, and only the one of the latest firing counts.
        if pipeline.resolve_after_minutes > 0 {
            self.timers.push(Reverse((
                at + pipeline.resolve_after_ms(),
                Timer::Timeout {
                    fingerprint: notice.fingerprint.clone(),
                    last_at: at,
                },
            )));
        }
    }

    /// A group without an incident: waits for the threshold, opens its own, or joins the
    /// storm incident past the cap. The group's waiting alerts join what it gets.
    fn admit(&mut self, at: i64, group: &str, notice: &Notice) -> Option<usize> {
        let pipeline = self.settings.pipeline;
        let state = self.groups.entry(group.to_owned()).or_default();
        if pipeline.has_threshold() {
            let since = at - pipeline.open_after_ms();
            state.firings.retain(|t| *t >= since);
            state.firings.push(at);
            if !pipeline.threshold_met(state.firings.len() as i64) {
                return None;
            }
            state.firings.clear();
        }
        let opened = self
            .out
            .incidents
            .iter()
            .filter(|i| !i.storm && i.opened_at > at - HOUR_MS)
            .count() as i64;
        let incident = if pipeline.may_open(opened) {
            self.open(at, notice.title.clone(), false)
        } else {
            match self
                .storm
                .filter(|s| self.out.incidents[*s].resolved_at.is_none())
            {
                Some(storm) => storm,
                None => {
                    let storm = self.open(at, "Alert storm".to_owned(), true);
                    self.storm = Some(storm);
                    storm
                }
            }
        };
        if let Some(state) = self.groups.get_mut(group) {
            state.incident = Some(incident);
        }
        for alert in self.alerts.values_mut() {
            if alert.firing && alert.incident.is_none() && alert.group == group {
                alert.incident = Some(incident);
            }
        }
        Some(incident)
    }

    fn open(&mut self, at: i64, title: String, storm: bool) -> usize {
        self.out.incidents.push(ReplayedIncident {
            opened_at: at,
            title,
            storm,
            resolved_at: None,
        });
        self.out.incidents.len() - 1
    }

    fn resolve(&mut self, at: i64, fingerprint: &str) {
        let Some(alert) = self.alerts.get_mut(fingerprint) else {
            return;
        };
        alert.firing = false;
        let Some(incident) = alert.incident else {
            return;
        };
        if self.has_firing(incident) {
            return;
        }
        let hold_back = self.settings.pipeline.hold_back_ms();
        if hold_back > 0 {
            self.last_resolution.insert(incident, at);
            let settle = Timer::Settle {
                incident,
                resolved_at: at,
            };
            self.timers.push(Reverse((at + hold_back, settle)));
        } else {
            self.close(incident, at);
        }
    }

    fn has_firing(&self, incident: usize) -> bool {
        self.alerts
            .values()
            .any(|a| a.firing && a.incident == Some(incident))
    }

    fn close(&mut self, incident: usize, at: i64) {
        let record = &mut self.out.incidents[incident];
        if record.resolved_at.is_none() {
            record.resolved_at = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;
    use crate::alert::Severity;
    use crate::silence::MatchOp;

    const MINUTE: i64 = 60_000;

    fn notice(fingerprint: &str, status: AlertStatus, host: &str) -> Notice {
        Notice {
            fingerprint: fingerprint.to_owned(),
            status,
            title: format!("{fingerprint} on {host}"),
            description: String::new(),
            severity: Severity::Critical,
            labels: [
                ("alertname".to_owned(), fingerprint.to_owned()),
                ("host".to_owned(), host.to_owned()),
            ]
            .into_iter()
            .collect(),
        }
    }

    fn at(minute: i64, fingerprint: &str, status: AlertStatus, host: &str) -> Recorded {
        Recorded {
            at: minute * MINUTE,
            notice: notice(fingerprint, status, host),
        }
    }

    use AlertStatus::{Firing, Resolved};

    #[test]
    fn grouping_gathers_an_outage_into_one_incident() {
        let outage: Vec<Recorded> = (0..40)
            .map(|n| at(n, "NodeDown", Firing, &format!("node{n}")))
            .map(|mut r| {
                r.notice.fingerprint = r.notice.title.clone();
                r
            })
            .collect();
        let alone = replay(&Settings::default(), &outage, 100 * MINUTE);
        assert_eq!(alone.incidents.len(), 40);
        let grouped = Settings {
            group_by: vec!["alertname".into()],
            ..Settings::default()
        };
        assert_eq!(replay(&grouped, &outage, 100 * MINUTE).incidents.len(), 1);
    }

    #[test]
    fn hold_back_keeps_a_flapping_alert_on_one_incident() {
        let flapping: Vec<Recorded> = (0..10)
            .map(|n| {
                let status = if n % 2 == 0 { Firing } else { Resolved };
                at(n * 2, "Flappy", status, "web1")
            })
            .collect();
        let plain = replay(&Settings::default(), &flapping, 60 * MINUTE);
        assert_eq!(plain.incidents.len(), 5);
        let held = Settings {
            pipeline: Pipeline {
                hold_back_minutes: 5,
                ..Pipeline::default()
            },
            ..Settings::default()
        };
        let once = replay(&held, &flapping, 60 * MINUTE);
        assert_eq!(once.incidents.len(), 1);
        // The last resolution at minute 18 settles five minutes later.
        assert_eq!(once.incidents[0].resolved_at, Some(23 * MINUTE));
    }

    #[test]
    fn a_threshold_opens_only_when_reached_and_silences_mute() {
        let bursts = vec![
            at(0, "Disk", Firing, "db1"),
            at(20, "Disk", Firing, "db1"),
            at(40, "Disk", Firing, "db1"),
            at(41, "Disk", Firing, "db1"),
            at(42, "Disk", Firing, "db1"),
        ];
        let threshold = Settings {
            pipeline: Pipeline {
                open_after_count: 3,
                open_after_minutes: 10,
                ..Pipeline::default()
            },
            ..Settings::default()
        };
        let replayed = replay(&threshold, &bursts, 60 * MINUTE);
        assert_eq!(replayed.incidents.len(), 1);
        assert_eq!(replayed.incidents[0].opened_at, 42 * MINUTE);
        assert_eq!(replayed.pending, 4);
        let silenced = Settings {
            silences: vec![TimedSilence {
                starts_at: 0,
                ends_at: 30 * MINUTE,
                matchers: vec![Matcher::new("host", MatchOp::Equal, "db1").unwrap()],
            }],
            ..Settings::default()
        };
        let replayed = replay(&silenced, &bursts, 60 * MINUTE);
        assert_eq!(replayed.silenced, 2);
        assert_eq!(replayed.incidents.len(), 1);
        assert_eq!(replayed.incidents[0].opened_at, 40 * MINUTE);
    }

    #[test]
    fn the_timeout_resolves_and_the_storm_cap_gathers() {
        let quiet = vec![at(0, "Cron", Firing, "app1"), at(5, "Cron", Firing, "app1")];
        let timeout = Settings {
            pipeline: Pipeline {
                resolve_after_minutes: 10,
                ..Pipeline::default()
            },
            ..Settings::default()
        };
        let replayed = replay(&timeout, &quiet, 60 * MINUTE);
        assert_eq!(replayed.incidents[0].resolved_at, Some(15 * MINUTE));
        let storm: Vec<Recorded> = (0..10)
            .map(|n| at(n, &format!("A{n}"), Firing, "x"))
            .collect();
        let capped = Settings {
            pipeline: Pipeline {
                max_incidents_per_hour: 3,
                ..Pipeline::default()
            },
            ..Settings::default()
        };
        let replayed = replay(&capped, &storm, 60 * MINUTE);
        assert_eq!(replayed.incidents.len(), 4);
        assert!(replayed.incidents[3].storm);
    }

    fn recorded() -> impl Strategy<Value = Vec<Recorded>> {
        prop::collection::vec((0i64..600, 0usize..6, any::<bool>(), 0usize..3), 0..80).prop_map(
            |events| {
                events
                    .into_iter()
                    .map(|(minute, alert, firing, host)| {
                        let status = if firing { Firing } else { Resolved };
                        let mut r = at(minute, &format!("A{alert}"), status, &format!("h{host}"));
                        // One alert is one set of labels, as fingerprints are made.
                        r.notice.fingerprint = format!("A{alert}-h{host}");
                        r
                    })
                    .collect()
            },
        )
    }

    proptest! {
        /// Grouping, a silence, a higher threshold or a storm cap never make more incidents
        /// than the settings without them; and with none, every incident opens with a
        /// firing notification.
        #[test]
        fn stricter_settings_never_open_more(events in recorded(), count in 2i64..5) {
            let end = 700 * MINUTE;
            let plain = replay(&Settings::default(), &events, end);
            let firing_times: Vec<i64> = events
                .iter()
                .filter(|r| r.notice.status == Firing)
                .map(|r| r.at)
                .collect();
            for incident in &plain.incidents {
                prop_assert!(firing_times.contains(&incident.opened_at));
            }
            let stricter = [
                Settings { group_by: vec!["host".into()], ..Settings::default() },
                Settings {
                    silences: vec![TimedSilence {
                        starts_at: 0,
                        ends_at: end,
                        matchers: vec![Matcher::new("host", MatchOp::Equal, "h0").unwrap()],
                    }],
                    ..Settings::default()
                },
                Settings {
                    pipeline: Pipeline {
                        open_after_count: count,
                        open_after_minutes: 30,
                        ..Pipeline::default()
                    },
                    ..Settings::default()
                },
                Settings {
                    pipeline: Pipeline { max_incidents_per_hour: 2, ..Pipeline::default() },
                    ..Settings::default()
                },
            ];
            for settings in &stricter {
                let replayed = replay(settings, &events, end);
                prop_assert!(replayed.incidents.len() <= plain.incidents.len());
            }
        }
    }
}
