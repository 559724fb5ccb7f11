//! SLA clocks: how much business time a ticket has used, and when its target falls due.
//!
//! A clock is rebuilt from its events every time, so there is no stored running total to
//! drift; the events are the single source of truth.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::business_time::BusinessTimeError;
use super::calendar::BusinessCalendar;

/// What happened to an SLA clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockEventKind {
    /// The clock starts counting (for example, the ticket was created).
    Started,
    /// Counting stops for a while (for example, waiting on the requester).
    Paused,
    /// Counting continues after a pause.
    Resumed,
    /// The clock is done (for example, the ticket was resolved).
    Stopped,
    /// A stopped clock counts again, continuing from its elapsed time.
    Reopened,
}

/// One event of an SLA clock at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockEvent {
    /// What happened.
    pub kind: ClockEventKind,
    /// When it happened.
    pub at: Timestamp,
}

impl ClockEvent {
    /// An event of `kind` at `at`.
    pub fn new(kind: ClockEventKind, at: Timestamp) -> Self {
        ClockEvent { kind, at }
    }
}

/// Where an SLA clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// No `started` event yet.
    NotStarted,
    /// Counting business time.
    Running,
    /// Paused; time does not count until resumed.
    Paused,
    /// Stopped; time does not count unless reopened.
    Stopped,
}

impl ClockState {
    /// The state after `event`, or [`ClockError::IllegalTransition`] if it cannot happen now.
    ///
    /// This is the clock's one transition function.
    pub fn apply(self, event: ClockEventKind) -> Result<ClockState, ClockError> {
        use ClockEventKind as E;
        use ClockState as S;
        match (self, event) {
            (S::NotStarted, E::Started) => Ok(S::Running),
            (S::Running, E::Paused) => Ok(S::Paused),
            (S::Paused, E::Resumed) => Ok(S::Running),
            // A ticket may be resolved while it waits on the requester.
            (S::Running | S::Paused, E::Stopped) => Ok(S::Stopped),
            (S::Stopped, E::Reopened) => Ok(S::Running),
            (state, event) => Err(ClockError::IllegalTransition { state, event }),
        }
    }

    /// Whether business time counts in this state.
    pub fn is_running(self) -> bool {
        self == ClockState::Running
    }
}

impl fmt::Display for ClockState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClockState::NotStarted => "not started",
            ClockState::Running => "running",
            ClockState::Paused => "paused",
            ClockState::Stopped => "stopped",
        })
    }
}

impl fmt::Display for ClockEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClockEventKind::Started => "started",
            ClockEventKind::Paused => "paused",
            ClockEventKind::Resumed => "resumed",
            ClockEventKind::Stopped => "stopped",
            ClockEventKind::Reopened => "reopened",
        })
    }
}

/// Why a sequence of clock events is not a possible history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The event cannot happen in the clock's state (such as resuming a running clock).
    #[error("a {state} clock cannot be {event}")]
    IllegalTransition {
        /// The state before the event.
        state: ClockState,
        /// The event refused.
        event: ClockEventKind,
    },
    /// Events must be in time order; equal instants keep their given order.
    #[error("clock event at {at} comes before the previous event at {previous}")]
    OutOfOrder {
        /// The offending event's instant.
        at: Timestamp,
        /// The previous event's instant.
        previous: Timestamp,
    },
}

/// An SLA clock replayed from its events: elapsed business time, state and due instant.
///
/// Every query takes `now` and considers only events at or before it, so the same clock
/// answers "where do we stand?" and "where did we stand at 10:00 yesterday?". Paused and
/// stopped time never counts; a reopened clock continues from the time already used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaClock {
    events: Vec<ClockEvent>,
}

impl SlaClock {
    /// Checks that `events` are a possible history (time-ordered, legal transitions).
    pub fn new(events: impl IntoIterator<Item = ClockEvent>) -> Result<Self, ClockError> {
        let events: Vec<ClockEvent> = events.into_iter().collect();
        let mut state = ClockState::NotStarted;
        let mut previous: Option<Timestamp> = None;
        for event in &events {
            if let Some(previous) = previous
                && event.at < previous
            {
                return Err(ClockError::OutOfOrder {
                    at: event.at,
                    previous,
                });
            }
            state = state.apply(event.kind)?;
            previous = Some(event.at);
        }
        Ok(SlaClock { events })
    }

    /// The events this clock was built from, in time order.
    pub fn events(&self) -> &[ClockEvent] {
        &self.events
    }

    /// The clock's state at `now`.
    pub fn state_at(&self, now: Timestamp) -> ClockState {
        self.events_until(now)
            .fold(ClockState::NotStarted, |state, event| {
                // Validated in `new`, so every transition is legal; keep the state if not.
                state.apply(event.kind).unwrap_or(state)
            })
    }

    /// Whether the clock is paused at `now`.
    pub fn is_paused(&self, now: Timestamp) -> bool {
        self.state_at(now) == ClockState::Paused
    }

    /// Business seconds the clock has counted up to `now` (sub-seconds truncated).
    pub fn elapsed_business_seconds(
        &self,
        calendar: &BusinessCalendar,
        now: Timestamp,
    ) -> Result<i64, BusinessTimeError> {
        let mut elapsed = SignedDuration::ZERO;
        for (from, to) in self.running_spans(now) {
            elapsed += calendar.business_duration_between(from, to.unwrap_or(now))?;
        }
        Ok(elapsed.as_secs())
    }

    /// The instant at which the clock reaches `target_seconds` of business time, as known
    /// at `now`.
    ///
    /// `Some` in the past when the target was already reached (the breach instant), `Some`
    /// in the future while running, and `None` while not started, paused or stopped short
    /// of the target: no due instant exists until the clock runs again.
    pub fn due_at(
        &self,
        calendar: &BusinessCalendar,
        target_seconds: i64,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, BusinessTimeError> {
        if target_seconds < 0 {
            return Err(BusinessTimeError::NegativeDuration {
                seconds: target_seconds,
            });
        }
        let mut remaining = SignedDuration::from_secs(target_seconds);
        for (from, to) in self.running_spans(now) {
            let Some(to) = to else {
                // Still running: the rest of the target is counted from this span's start.
                return calendar.add_business_duration(from, remaining).map(Some);
            };
            let counted = calendar.business_duration_between(from, to)?;
            if remaining <= counted {
                return calendar.add_business_duration(from, remaining).map(Some);
            }
            remaining -= counted;
        }
        Ok(None)
    }

    fn events_until(&self, now: Timestamp) -> impl Iterator<Item = &ClockEvent> {
        self.events.iter().take_while(move |event| event.at <= now)
    }

    /// Spans in which the clock ran, as of `now`; the last has no end while still running.
    fn running_spans(&self, now: Timestamp) -> Vec<(Timestamp, Option<Timestamp>)> {
        let mut spans = Vec::new();
        let mut open: Option<Timestamp> = None;
        for event in self.events_until(now) {
            match event.kind {
                ClockEventKind::Started | ClockEventKind::Resumed | ClockEventKind::Reopened => {
                    open = Some(event.at);
                }
                ClockEventKind::Paused | ClockEventKind::Stopped => {
                    if let Some(from) = open.take() {
                        spans.push((from, Some(event.at)));
                    }
                }
            }
        }
        if let Some(from) = open {
            spans.push((from, None));
        }
        spans
    }
}
