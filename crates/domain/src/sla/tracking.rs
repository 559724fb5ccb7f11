//! SLA clocks as stored per ticket: a checkpoint (business seconds used so far, and since when
//! the clock runs) rather than a replayed history, so that "what is due next" is one column
//! a database can index. Warnings and the breach are levels raised once each, in order.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{BusinessCalendar, BusinessTimeError};

/// Which SLA clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// Until the first public reply of an agent.
    Response,
    /// Until the ticket is resolved.
    Resolution,
}

impl ClockKind {
    pub const ALL: [ClockKind; 2] = [ClockKind::Response, ClockKind::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            ClockKind::Response => "response",
            ClockKind::Resolution => "resolution",
        }
    }
}

/// One clock's checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackedClock {
    /// The target, in business seconds.
    pub target_seconds: i64,
    /// Business seconds used up to `running_since` (or to the pause/stop).
    pub elapsed_seconds: i64,
    /// When the clock last started running; `None` while paused or stopped.
    pub running_since: Option<Timestamp>,
    /// When the clock stopped because its goal was met (reply sent, ticket resolved).
    pub met_at: Option<Timestamp>,
    /// How many levels were raised: warnings in order, then the breach (the last level).
    pub raised: u8,
}

/// A level crossed: a warning at some percentage, or the breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crossing {
    /// 1-based level; `levels` (warnings + 1) is the breach.
    pub level: u8,
    /// The percentage of the target this level stands for (100 for the breach).
    pub percent: u8,
    /// When the level was (or will be) crossed.
    pub at: Timestamp,
}

impl TrackedClock {
    /// A clock started at `at` for `target_seconds`.
    pub fn started(target_seconds: i64, at: Timestamp) -> Self {
        Self {
            target_seconds,
            elapsed_seconds: 0,
            running_since: Some(at),
            met_at: None,
            raised: 0,
        }
    }

    /// Business seconds used by `now`.
    pub fn elapsed_at(
        &self,
        calendar: &BusinessCalendar,
        now: Timestamp,
    ) -> Result<i64, BusinessTimeError> {
        match self.running_since {
            Some(since) if now > since => {
                Ok(self.elapsed_seconds + calendar.business_seconds_between(since, now)?)
            }
            _ => Ok(self.elapsed_seconds),
        }
    }

    /// Stops counting (a pausing status); the time used is kept.
    pub fn pause(
        &mut self,
        calendar: &BusinessCalendar,
        now: Timestamp,
    ) -> Result<(), BusinessTimeError> {
        if self.running_since.is_some() {
            self.elapsed_seconds = self.elapsed_at(calendar, now)?;
            self.running_since = None;
        }
        Ok(())
    }

    /// Counts again from `now` (resumed, or reopened after being met).
    pub fn resume(&mut self, now: Timestamp) {
        if self.running_since.is_none() {
            self.running_since = Some(now);
            self.met_at = None;
        }
    }

    /// The goal was met at `now`: the clock stops for good unless resumed.
    pub fn meet(
        &mut self,
        calendar: &BusinessCalendar,
        now: Timestamp,
    ) -> Result<(), BusinessTimeError> {
        self.pause(calendar, now)?;
        self.met_at = Some(now);
        Ok(())
    }

    /// Whether the clock counts right now.
    pub fn is_running(&self) -> bool {
        self.running_since.is_some()
    }

    /// The instant `percent` of the target is used up, if the clock keeps running; a level
    /// already passed before the last checkpoint is reported at the checkpoint.
    fn instant_of(
        &self,
        calendar: &BusinessCalendar,
        percent: u8,
    ) -> Result<Option<Timestamp>, BusinessTimeError> {
        let Some(since) = self.running_since else {
            return Ok(None);
        };
        let threshold = self.target_seconds * i64::from(percent) / 100;
        let remaining = (threshold - self.elapsed_seconds).max(0);
        calendar.add_business_seconds(since, remaining).map(Some)
    }

    /// When the target runs out, if the clock keeps running.
    pub fn due_at(
        &self,
        calendar: &BusinessCalendar,
    ) -> Result<Option<Timestamp>, BusinessTimeError> {
        self.instant_of(calendar, 100)
    }

    /// Business seconds left at `now` (negative once breached).
    pub fn remaining_at(
        &self,
        calendar: &BusinessCalendar,
        now: Timestamp,
    ) -> Result<i64, BusinessTimeError> {
        Ok(self.target_seconds - self.elapsed_at(calendar, now)?)
    }

    /// Whether the target was exceeded (while running, or before it was met).
    pub fn is_breached(
        &self,
        calendar: &BusinessCalendar,
        now: Timestamp,
    ) -> Result<bool, BusinessTimeError> {
        Ok(self.elapsed_at(calendar, now)? > self.target_seconds)
    }

    /// The next level not yet raised, and when it will be crossed if the clock keeps running.
    /// `warnings` are ascending percentages below 100; the breach follows them.
    pub fn next_crossing(
        &self,
        calendar: &BusinessCalendar,
        warnings: &[u8],
    ) -> Result<Option<Crossing>, BusinessTimeError> {
        let levels: Vec<u8> = warnings.iter().copied().chain([100]).collect();
        let Some(&percent) = levels.get(usize::from(self.raised)) else {
            return Ok(None);
        };
        Ok(self.instant_of(calendar, percent)?.map(|at| Crossing {
            level: self.raised + 1,
            percent,
            at,
        }))
    }

    /// Every level crossed by `now` that is not raised yet, in order. The caller records
    /// them and sets `raised` to the last one, so each is raised exactly once.
    pub fn crossings_due(
        &self,
        calendar: &BusinessCalendar,
        warnings: &[u8],
        now: Timestamp,
    ) -> Result<Vec<Crossing>, BusinessTimeError> {
        let mut clock = *self;
        let mut due = Vec::new();
        while let Some(crossing) = clock.next_crossing(calendar, warnings)? {
            if crossing.at > now {
                break;
            }
            due.push(crossing);
            clock.raised = crossing.level;
        }
        Ok(due)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sla::CalendarSpec;
    use proptest::prelude::*;

    fn always_open() -> BusinessCalendar {
        BusinessCalendar::try_from(CalendarSpec {
            timezone: "UTC".into(),
            hours: Vec::new(),
            holidays: Vec::new(),
            always_open: true,
        })
        .unwrap()
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn pauses_do_not_count() {
        let calendar = always_open();
        let mut clock = TrackedClock::started(3600, at(0));
        clock.pause(&calendar, at(600)).unwrap();
        assert_eq!(clock.elapsed_at(&calendar, at(5000)).unwrap(), 600);
        assert_eq!(
            clock.due_at(&calendar).unwrap(),
            None,
            "a paused clock is not due"
        );
        clock.resume(at(5000));
        assert_eq!(clock.due_at(&calendar).unwrap(), Some(at(5000 + 3000)));
    }

    #[test]
    fn warnings_then_breach_are_raised_once_in_order() {
        let calendar = always_open();
        let mut clock = TrackedClock::started(1000, at(0));
        let warnings = [75, 90];
        assert!(
            clock
                .crossings_due(&calendar, &warnings, at(700))
                .unwrap()
                .is_empty()
        );
        let due = clock.crossings_due(&calendar, &warnings, at(950)).unwrap();
        assert_eq!(
            due.iter().map(|c| c.percent).collect::<Vec<_>>(),
            vec![75, 90]
        );
        clock.raised = 2;
        let breach = clock.crossings_due(&calendar, &warnings, at(1001)).unwrap();
        assert_eq!(breach.len(), 1);
        assert_eq!(
            (breach[0].level, breach[0].percent, breach[0].at),
            (3, 100, at(1000))
        );
        clock.raised = 3;
        assert!(
            clock
                .crossings_due(&calendar, &warnings, at(99_999))
                .unwrap()
                .is_empty()
        );
        assert_eq!(clock.next_crossing(&calendar, &warnings).unwrap(), None);
    }

    #[test]
    fn a_met_clock_raises_nothing() {
        let calendar = always_open();
        let mut clock = TrackedClock::started(1000, at(0));
        clock.meet(&calendar, at(100)).unwrap();
        assert!(
            clock
                .crossings_due(&calendar, &[75], at(5000))
                .unwrap()
                .is_empty()
        );
        assert!(!clock.is_breached(&calendar, at(5000)).unwrap());
    }

    proptest! {
        #[test]
        fn elapsed_equals_the_running_stretches(stretches in proptest::collection::vec((1_i64..10_000, 1_i64..10_000), 1..20)) {
            let calendar = always_open();
            let mut clock = TrackedClock::started(1_000_000, at(0));
            let mut now = 0;
            let mut expected = 0;
            for (running, paused) in stretches {
                now += running;
                expected += running;
                clock.pause(&calendar, at(now)).unwrap();
                now += paused;
                clock.resume(at(now));
            }
            prop_assert_eq!(clock.elapsed_at(&calendar, at(now)).unwrap(), expected);
            let due = clock.due_at(&calendar).unwrap().unwrap();
            prop_assert_eq!(due, at(now + 1_000_000 - expected));
        }
    }
}
