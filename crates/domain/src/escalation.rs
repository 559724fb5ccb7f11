//! Escalation policies and pages: who is paged for an incident, and who next when nobody
//! acknowledges.
//!
//! A policy is a list of levels; each names its targets (an on-call schedule, or a person)
//! and how long to wait for an acknowledgement before the next level is paged. After the
//! last level the policy starts again from the first, `repeat` more times, then gives up.

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

/// Most levels in a policy.
pub const MOST_LEVELS: usize = 10;
/// Most targets on one level.
pub const MOST_TARGETS: usize = 10;
/// Most times a policy starts again after its last level.
pub const MOST_REPEATS: u32 = 9;
/// Longest wait before the next level: a day.
pub const LONGEST_WAIT_MINUTES: u32 = 1_440;

/// Who a level pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// Whoever is on call on this schedule (by id) when the level is reached.
    Schedule(i64),
    /// This person (an e-mail address).
    User(String),
}

/// One level of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub targets: Vec<Target>,
    /// Minutes to wait for an acknowledgement before the next level is paged.
    pub wait_minutes: u32,
    /// Pages one of the level's people instead of all, taking turns from one incident to
    /// the next, so a team shares the load.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub round_robin: bool,
}

impl Level {
    /// Who of `people` (the level's targets resolved, in order) the `ordinal`-th page of
    /// the policy notifies: all of them, or with round robin one, in turn.
    pub fn chosen<T: Clone>(&self, people: &[T], ordinal: u64) -> Vec<T> {
        if !self.round_robin || people.is_empty() {
            return people.to_vec();
        }
        let turn = ordinal % people.len() as u64;
        people
            .get(usize::try_from(turn).unwrap_or(0))
            .cloned()
            .into_iter()
            .collect()
    }
}

/// A checked policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    levels: Vec<Level>,
    repeat: u32,
}

/// Where a page stands in its policy: the level being paged, in which round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Step {
    /// 0 on the first pass through the levels, then 1 … `repeat`.
    pub round: u32,
    /// Index into the policy's levels.
    pub level: usize,
}

/// Why a policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("a policy needs 1 to {MOST_LEVELS} levels")]
    Levels,
    #[error("level {0} needs 1 to {MOST_TARGETS} targets")]
    Targets(usize),
    #[error("level {0} waits 1 to {LONGEST_WAIT_MINUTES} minutes")]
    Wait(usize),
    #[error("a policy repeats at most {MOST_REPEATS} times")]
    Repeat,
}

impl Policy {
    /// Checks `levels` and `repeat`. Levels are numbered from 1 in errors, as people read
    /// them.
    pub fn new(levels: Vec<Level>, repeat: u32) -> Result<Self, PolicyError> {
        if levels.is_empty() || levels.len() > MOST_LEVELS {
            return Err(PolicyError::Levels);
        }
        for (index, level) in levels.iter().enumerate() {
            if level.targets.is_empty() || level.targets.len() > MOST_TARGETS {
                return Err(PolicyError::Targets(index + 1));
            }
            if !(1..=LONGEST_WAIT_MINUTES).contains(&level.wait_minutes) {
                return Err(PolicyError::Wait(index + 1));
            }
        }
        if repeat > MOST_REPEATS {
            return Err(PolicyError::Repeat);
        }
        Ok(Self { levels, repeat })
    }

    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    pub fn repeat(&self) -> u32 {
        self.repeat
    }

    /// The step a page starts at.
    pub fn first(&self) -> Step {
        Step { round: 0, level: 0 }
    }

    /// The step after `step`; none once the last level of the last round was paged.
    pub fn next(&self, step: Step) -> Option<Step> {
        if step.level + 1 < self.levels.len() {
            Some(Step {
                level: step.level + 1,
                ..step
            })
        } else if step.round < self.repeat {
            Some(Step {
                round: step.round + 1,
                level: 0,
            })
        } else {
            None
        }
    }

    /// The level paged at `step` (the last one for a step past the end).
    pub fn level(&self, step: Step) -> &Level {
        &self.levels[step.level.min(self.levels.len() - 1)]
    }

    /// How long a page waits at `step` before going on.
    pub fn wait(&self, step: Step) -> SignedDuration {
        SignedDuration::from_mins(i64::from(self.level(step).wait_minutes))
    }
}

crate::string_enum! {
    /// Where a page is.
    pub enum PageStatus as "page status" {
        /// Paging, and going on to the next level when its wait ends.
        Triggered => "triggered",
        /// Someone took it; nobody else is paged.
        Acknowledged => "acknowledged",
        /// The incident was resolved.
        Resolved => "resolved",
        /// Every level of every round was paged and nobody acknowledged.
        Exhausted => "exhausted",
    }
}

crate::string_enum! {
    /// What someone (or the wait) does to a page.
    pub enum PageAction as "page action" {
        /// "I am on it": stops the escalation.
        Acknowledge => "acknowledge",
        /// Pages the next level now (also of an acknowledged page: "I need help").
        Escalate => "escalate",
        /// The incident is resolved.
        Resolve => "resolve",
    }
}

/// Why an action does not apply to a page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a page that is {status} cannot be {action}d")]
pub struct PageTransitionError {
    pub status: PageStatus,
    pub action: PageAction,
}

impl PageStatus {
    /// The status after `action`. Escalating re-triggers the page at its next level.
    pub fn after(self, action: PageAction) -> Result<PageStatus, PageTransitionError> {
        use PageAction as A;
        use PageStatus as S;
        match (self, action) {
            (S::Triggered, A::Acknowledge) => Ok(S::Acknowledged),
            (S::Triggered | S::Acknowledged | S::Exhausted, A::Escalate) => Ok(S::Triggered),
            (S::Triggered | S::Acknowledged | S::Exhausted, A::Resolve) => Ok(S::Resolved),
            (S::Exhausted, A::Acknowledge) => Ok(S::Acknowledged),
            (status, action) => Err(PageTransitionError { status, action }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use proptest::prelude::*;

    use super::*;

    fn level(wait_minutes: u32) -> Level {
        Level {
            round_robin: false,
            targets: vec![Target::Schedule(1)],
            wait_minutes,
        }
    }

    #[test]
    fn policies_are_checked() {
        assert_eq!(Policy::new(vec![], 0), Err(PolicyError::Levels));
        let empty = Level {
            round_robin: false,
            targets: vec![],
            wait_minutes: 5,
        };
        assert_eq!(
            Policy::new(vec![level(5), empty], 0),
            Err(PolicyError::Targets(2))
        );
        assert_eq!(Policy::new(vec![level(0)], 0), Err(PolicyError::Wait(1)));
        assert_eq!(
            Policy::new(vec![level(5)], MOST_REPEATS + 1),
            Err(PolicyError::Repeat)
        );
    }

    #[test]
    fn targets_read_as_one_key_objects() {
        let level: Level = serde_json::from_str(
            r#"{"targets": [{"schedule": 3}, {"user": "ana@example.com"}], "wait_minutes": 15}"#,
        )
        .unwrap();
        assert_eq!(
            level.targets,
            vec![Target::Schedule(3), Target::User("ana@example.com".into())]
        );
        assert!(serde_json::from_str::<Target>(r#"{"team": 3}"#).is_err());
    }

    #[test]
    fn page_statuses_follow_their_actions() {
        use PageAction as A;
        use PageStatus as S;
        assert_eq!(S::Triggered.after(A::Acknowledge), Ok(S::Acknowledged));
        assert_eq!(S::Acknowledged.after(A::Escalate), Ok(S::Triggered));
        assert_eq!(S::Exhausted.after(A::Acknowledge), Ok(S::Acknowledged));
        assert!(S::Acknowledged.after(A::Acknowledge).is_err());
        for action in PageAction::ALL {
            assert!(S::Resolved.after(*action).is_err(), "{action}");
        }
    }

    #[test]
    fn round_robin_takes_turns_and_plain_levels_page_everyone() {
        let mut shared = level(5);
        let people = ["ann", "bob", "cy"];
        assert_eq!(shared.chosen(&people, 7), people);
        shared.round_robin = true;
        let turns: Vec<Vec<&str>> = (0..4).map(|n| shared.chosen(&people, n)).collect();
        assert_eq!(turns, [["ann"], ["bob"], ["cy"], ["ann"]]);
        assert!(shared.chosen::<&str>(&[], 3).is_empty());
        let read: Level = serde_json::from_str(
            r#"{"targets": [{"user": "a@x.example"}], "wait_minutes": 5, "round_robin": true}"#,
        )
        .unwrap();
        assert!(read.round_robin);
        let plain = serde_json::to_value(level(5)).unwrap();
        assert!(plain.get("round_robin").is_none(), "{plain}");
    }

    proptest! {
        /// Over any run of consecutive pages, round robin spreads them evenly: nobody gets
        /// more than one page more than anyone else.
        #[test]
        fn round_robin_spreads_pages_evenly(people in 1usize..8, start in 0u64..1000, pages in 0u64..100) {
            let mut shared = level(5);
            shared.round_robin = true;
            let team: Vec<usize> = (0..people).collect();
            let mut counts = vec![0u64; people];
            for ordinal in start..start + pages {
                let chosen = shared.chosen(&team, ordinal);
                prop_assert_eq!(chosen.len(), 1);
                counts[chosen[0]] += 1;
            }
            let (most, least) = (counts.iter().max().unwrap(), counts.iter().min().unwrap());
            prop_assert!(most - least <= 1);
        }
    }

    proptest! {
        /// Walking a policy pages every level once per round, in order, then stops; the
        /// waits add up to the policy's whole length.
        #[test]
        fn a_page_walks_every_level_of_every_round(
            waits in prop::collection::vec(1u32..=LONGEST_WAIT_MINUTES, 1..=MOST_LEVELS),
            repeat in 0u32..=MOST_REPEATS,
        ) {
            let policy = Policy::new(waits.iter().map(|w| level(*w)).collect(), repeat).unwrap();
            let mut steps = vec![policy.first()];
            while let Some(next) = policy.next(*steps.last().unwrap()) {
                prop_assert!(next > *steps.last().unwrap());
                steps.push(next);
            }
            let rounds = usize::try_from(repeat).unwrap() + 1;
            prop_assert_eq!(steps.len(), waits.len() * rounds);
            for (index, step) in steps.iter().enumerate() {
                prop_assert_eq!(step.level, index % waits.len());
            }
            let total: i64 = steps.iter().map(|s| policy.wait(*s).as_mins()).sum();
            let per_round: i64 = waits.iter().map(|w| i64::from(*w)).sum();
            prop_assert_eq!(total, per_round * i64::try_from(rounds).unwrap());
        }
    }
}
