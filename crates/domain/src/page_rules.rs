//! A person's notification rules for pages: when they are mailed after being paged (at once,
//! and again after some minutes while nobody acknowledges), by the incident's urgency, and
//! the quiet hours in their time zone when low-urgency pages wait until morning.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Most mails one page sends one person, and the longest wait before one.
pub const MOST_NOTIFICATIONS: usize = 5;
pub const MOST_DELAY_MINUTES: u32 = 1_440;

/// How urgent a page is: high for an incident of high urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageUrgency {
    High,
    Low,
}

/// Hours of the day, in a time zone, when low-urgency pages wait; `start` after `end`
/// spans midnight (22:00–07:00).
#[derive(Debug, Clone, PartialEq)]
pub struct QuietHours {
    pub start: Time,
    pub end: Time,
    pub zone: TimeZone,
}

/// A person's rules: the minutes after being paged at which each mail leaves, by urgency.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRules {
    pub high: Vec<u32>,
    pub low: Vec<u32>,
    pub quiet: Option<QuietHours>,
}

impl Default for PageRules {
    /// One mail at once, whatever the urgency, at any hour.
    fn default() -> Self {
        Self {
            high: vec![0],
            low: vec![0],
            quiet: None,
        }
    }
}

/// Why rules were refused, each naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("1 to 5 delays, each 0 to 1440 minutes")]
    Delays { field: &'static str },
    #[error("quiet hours must start and end at different times")]
    EmptyQuietHours,
}

impl RulesError {
    pub fn field(&self) -> &'static str {
        match self {
            RulesError::Delays { field } => field,
            RulesError::EmptyQuietHours => "quiet_hours",
        }
    }
}

/// The serialised shape, for storage and the API: minutes, and `HH:MM` in an IANA zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHoursSpec {
    pub start: String,
    pub end: String,
    pub time_zone: String,
}

impl PageRules {
    /// Rules from their parts, checked.
    pub fn new(
        mut high: Vec<u32>,
        mut low: Vec<u32>,
        quiet: Option<QuietHours>,
    ) -> Result<Self, RulesError> {
        for (field, delays) in [("high_urgency", &mut high), ("low_urgency", &mut low)] {
            delays.sort_unstable();
            delays.dedup();
            if delays.is_empty()
                || delays.len() > MOST_NOTIFICATIONS
                || delays.iter().any(|d| *d > MOST_DELAY_MINUTES)
            {
                return Err(RulesError::Delays { field });
            }
        }
        if quiet.as_ref().is_some_and(|q| q.start == q.end) {
            return Err(RulesError::EmptyQuietHours);
        }
        Ok(Self { high, low, quiet })
    }

    /// When the mails of a page at `paged_at` leave, in order: each delay after it, and
    /// for a low-urgency page, one falling in quiet hours waits until they end.
    pub fn send_times(&self, urgency: PageUrgency, paged_at: Timestamp) -> Vec<Timestamp> {
        let delays = match urgency {
            PageUrgency::High => &self.high,
            PageUrgency::Low => &self.low,
        };
        let mut times: Vec<Timestamp> = delays
            .iter()
            .map(|minutes| {
                let at = later(paged_at, *minutes);
                match (&self.quiet, urgency) {
                    (Some(quiet), PageUrgency::Low) => quiet.after(at),
                    _ => at,
                }
            })
            .collect();
        times.sort();
        times.dedup();
        times
    }
}

/// `minutes` after `at`.
fn later(at: Timestamp, minutes: u32) -> Timestamp {
    at.saturating_add(SignedDuration::from_mins(i64::from(minutes)))
        .unwrap_or(Timestamp::MAX)
}

impl QuietHours {
    /// Whether `at` falls in the quiet hours.
    pub fn contains(&self, at: Timestamp) -> bool {
        let time = at.to_zoned_datetime(self.zone.clone()).time();
        if self.start < self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }

    /// `at`, or when the quiet hours it falls in end.
    pub fn after(&self, at: Timestamp) -> Timestamp {
        if !self.contains(at) {
            return at;
        }
        let local = at.to_zoned_datetime(self.zone.clone());
        let mut date = local.date();
        loop {
            // An end the clocks skip (a spring change) comes at the jump.
            let end = self
                .zone
                .to_ambiguous_zoned_datetime(jiff::civil::DateTime::from_parts(date, self.end))
                .compatible()
                .map(|z| z.timestamp());
            match end {
                Ok(end) if end > at => return end,
                _ => match date.tomorrow() {
                    Ok(next) => date = next,
                    Err(_) => return at,
                },
            }
        }
    }

    pub fn spec(&self) -> QuietHoursSpec {
        QuietHoursSpec {
            start: self.start.strftime("%H:%M").to_string(),
            end: self.end.strftime("%H:%M").to_string(),
            time_zone: self.zone.iana_name().unwrap_or("UTC").to_owned(),
        }
    }
}

/// Why a quiet hours spec was refused, naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SpecError {
    pub field: &'static str,
    pub message: String,
}

impl QuietHoursSpec {
    /// The quiet hours this spec names.
    pub fn read(&self) -> Result<QuietHours, SpecError> {
        let time = |field: &'static str, text: &str| {
            Time::strptime("%H:%M", text.trim()).map_err(|_| SpecError {
                field,
                message: "a time of day as HH:MM".to_owned(),
            })
        };
        Ok(QuietHours {
            start: time("quiet_hours.start", &self.start)?,
            end: time("quiet_hours.end", &self.end)?,
            zone: TimeZone::get(self.time_zone.trim()).map_err(|_| SpecError {
                field: "quiet_hours.time_zone",
                message: "an IANA time zone such as Europe/London".to_owned(),
            })?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;

    fn quiet(start: &str, end: &str, zone: &str) -> QuietHours {
        QuietHoursSpec {
            start: start.into(),
            end: end.into(),
            time_zone: zone.into(),
        }
        .read()
        .unwrap()
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn high_urgency_repeats_at_any_hour_and_low_waits_for_morning() {
        let rules = PageRules::new(
            vec![5, 0],
            vec![0],
            Some(quiet("22:00", "07:00", "Europe/London")),
        )
        .unwrap();
        let night = ts("2026-12-06T02:30:00Z");
        assert_eq!(
            rules.send_times(PageUrgency::High, night),
            [night, ts("2026-12-06T02:35:00Z")]
        );
        assert_eq!(
            rules.send_times(PageUrgency::Low, night),
            [ts("2026-12-06T07:00:00Z")]
        );
        let day = ts("2026-12-06T12:00:00Z");
        assert_eq!(rules.send_times(PageUrgency::Low, day), [day]);
        // In summer, 07:00 in London is 06:00 UTC.
        assert_eq!(
            rules.send_times(PageUrgency::Low, ts("2026-07-01T23:30:00Z")),
            [ts("2026-07-02T06:00:00Z")]
        );
    }

    #[test]
    fn rules_are_checked() {
        assert_eq!(
            PageRules::new(vec![], vec![0], None).unwrap_err().field(),
            "high_urgency"
        );
        assert_eq!(
            PageRules::new(vec![0], vec![0, 1, 2, 3, 4, 5], None)
                .unwrap_err()
                .field(),
            "low_urgency"
        );
        assert_eq!(
            PageRules::new(vec![0], vec![0], Some(quiet("08:00", "08:00", "UTC")))
                .unwrap_err()
                .field(),
            "quiet_hours"
        );
        let wrong = QuietHoursSpec {
            start: "25:00".into(),
            end: "07:00".into(),
            time_zone: "UTC".into(),
        };
        assert_eq!(wrong.read().unwrap_err().field, "quiet_hours.start");
    }

    proptest! {
        /// A low-urgency mail never leaves in quiet hours, never before its delay, and
        /// within a day of it — across the daylight-saving changes of London and New York.
        #[test]
        fn low_urgency_mail_never_leaves_in_quiet_hours(
            seconds in 1_767_225_600i64..1_830_297_600,
            start in 0i8..24, start_minute in 0i8..60,
            end in 0i8..24, end_minute in 0i8..60,
            zone in prop::sample::select(vec!["Europe/London", "America/New_York"]),
            delay in 0u32..1440,
        ) {
            let start = Time::new(start, start_minute, 0, 0).unwrap();
            let end = Time::new(end, end_minute, 0, 0).unwrap();
            prop_assume!(start != end);
            let quiet = QuietHours { start, end, zone: TimeZone::get(zone).unwrap() };
            let rules = PageRules::new(vec![0], vec![delay], Some(quiet.clone())).unwrap();
            let paged = Timestamp::from_second(seconds).unwrap();
            let due = later(paged, delay);
            for at in rules.send_times(PageUrgency::Low, paged) {
                prop_assert!(!quiet.contains(at), "{at} is quiet");
                prop_assert!(at >= due);
                prop_assert!(at.duration_since(due) <= SignedDuration::from_hours(25));
            }
            prop_assert_eq!(rules.send_times(PageUrgency::High, paged), vec![paged]);
        }
    }
}
