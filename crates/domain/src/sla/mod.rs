//! Service-level agreement time: business calendars, business-time arithmetic and SLA clocks.
//!
//! Everything here is pure. Instants are `jiff::Timestamp` (UTC); a [`BusinessCalendar`]
//! turns them into local wall-clock time only to decide which stretches are working time.
//!
//! - [`BusinessCalendar`] is a validated calendar, built from a serde-friendly
//!   [`CalendarSpec`] with `BusinessCalendar::try_from(spec)`.
//! - [`BusinessCalendar::add_business_seconds`] answers "when is this due?" and
//!   [`BusinessCalendar::business_seconds_between`] answers "how much working time passed?".
//! - [`SlaClock`] replays started/paused/resumed/stopped/reopened events to measure a ticket's
//!   elapsed business time and its due instant.
//!
//! The rules a support manager needs to know are in `docs/sla-worked-examples.md`.

mod business_time;
mod calendar;
pub use calendar::parse_weekday;
pub(crate) use calendar::weekday_name;
mod clock;
mod policy;
mod tracking;

pub use business_time::{BusinessTimeError, SEARCH_HORIZON_DAYS, STRETCH_HORIZON_DAYS};
pub use calendar::{
    BusinessCalendar, CalendarError, CalendarSpec, MAX_HOLIDAYS, MAX_WORKING_INTERVALS,
    WorkingHoursSpec,
};
pub use clock::{ClockError, ClockEvent, ClockEventKind, ClockState, SlaClock};
pub use policy::{Coverage, PolicyError, PolicySpec, Targets, default_policy, first_match};
pub use tracking::{ClockKind, Crossing, TrackedClock};
