//! Business-time arithmetic on a [`BusinessCalendar`]: adding and measuring working time.
//!
//! Both operations walk the calendar one working interval at a time (never per second or
//! minute), so a due date ten business days ahead costs a few dozen time-zone conversions.

use std::ops::ControlFlow;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::AmbiguousOffset;
use jiff::{SignedDuration, Span, Timestamp};

use super::calendar::{BusinessCalendar, Shift};

/// How far (in days) a search for working time may run before giving up.
///
/// Ten years: long enough for any real SLA, short enough that a calendar whose holidays
/// close every working day fails fast instead of spinning.
pub const SEARCH_HORIZON_DAYS: i32 = 3_660;

/// How far (in days) [`BusinessCalendar::working_until`] looks for the end of a working
/// stretch: a page showing a countdown is reloaded long before.
pub const STRETCH_HORIZON_DAYS: i32 = 7;

/// Why a business-time computation has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusinessTimeError {
    /// Business time to add must not be negative.
    #[error("business time to add cannot be negative (got {seconds} seconds)")]
    NegativeDuration {
        /// The amount given.
        seconds: i64,
    },
    /// The answer lies more than [`SEARCH_HORIZON_DAYS`] away, or never comes.
    #[error("not enough working time within {days} days; check the calendar's holidays and hours")]
    BeyondHorizon {
        /// The horizon searched.
        days: i32,
    },
    /// The instant is too close to the limits of representable dates.
    #[error("the instant is outside the supported range of dates")]
    OutOfRange,
}

impl BusinessCalendar {
    /// The instant at which `seconds` of business time have elapsed after `start`.
    ///
    /// A positive amount always ends inside a working interval or exactly at its end (never
    /// at the start of the next one); zero returns `start` unchanged. Use it for due dates.
    pub fn add_business_seconds(
        &self,
        start: Timestamp,
        seconds: i64,
    ) -> Result<Timestamp, BusinessTimeError> {
        if seconds < 0 {
            return Err(BusinessTimeError::NegativeDuration { seconds });
        }
        self.add_business_duration(start, SignedDuration::from_secs(seconds))
    }

    /// Business seconds from `from` to `to`; negative when `to` is before `from`.
    ///
    /// Sub-second remainders are truncated. Fails with [`BusinessTimeError::BeyondHorizon`]
    /// when the instants are more than [`SEARCH_HORIZON_DAYS`] apart (unless 24×7 without
    /// holidays, which needs no walk).
    pub fn business_seconds_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<i64, BusinessTimeError> {
        Ok(self.business_duration_between(from, to)?.as_secs())
    }

    /// [`add_business_seconds`](Self::add_business_seconds) with nanosecond precision.
    pub fn add_business_duration(
        &self,
        start: Timestamp,
        amount: SignedDuration,
    ) -> Result<Timestamp, BusinessTimeError> {
        if amount.is_negative() {
            return Err(BusinessTimeError::NegativeDuration {
                seconds: amount.as_secs(),
            });
        }
        if amount.is_zero() {
            return Ok(start);
        }
        if self.is_continuous() {
            return start
                .checked_add(amount)
                .map_err(|_| BusinessTimeError::OutOfRange);
        }

        let start_day = self.local_date(start);
        let first_day = previous_day(start_day)?;
        let last_day = add_days(start_day, SEARCH_HORIZON_DAYS)?;
        let mut remaining = amount;
        let due = self.walk_intervals(first_day, last_day, |open, close| {
            if close <= start {
                return ControlFlow::Continue(());
            }
            let from = open.max(start);
            let available = close.duration_since(from);
            if remaining <= available {
                return ControlFlow::Break(from.checked_add(remaining));
            }
            remaining -= available;
            ControlFlow::Continue(())
        })?;
        match due {
            Some(Ok(due)) => Ok(due),
            Some(Err(_)) => Err(BusinessTimeError::OutOfRange),
            None => Err(BusinessTimeError::BeyondHorizon {
                days: SEARCH_HORIZON_DAYS,
            }),
        }
    }

    /// [`business_seconds_between`](Self::business_seconds_between) with nanosecond precision.
    pub fn business_duration_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<SignedDuration, BusinessTimeError> {
        if to < from {
            return Ok(-self.business_duration_between(to, from)?);
        }
        if self.is_continuous() {
            return Ok(to.duration_since(from));
        }
        // Two spare days: the walk starts the day before `from` to catch a night shift.
        let horizon = SignedDuration::from_hours(24 * (i64::from(SEARCH_HORIZON_DAYS) + 2));
        if to.duration_since(from) > horizon {
            return Err(BusinessTimeError::BeyondHorizon {
                days: SEARCH_HORIZON_DAYS,
            });
        }

        let first_day = previous_day(self.local_date(from))?;
        let last_day = self.local_date(to);
        let mut total = SignedDuration::ZERO;
        self.walk_intervals(first_day, last_day, |open, close| {
            if open >= to {
                return ControlFlow::Break(());
            }
            let overlap_start = open.max(from);
            let overlap_end = close.min(to);
            if overlap_end > overlap_start {
                total += overlap_end.duration_since(overlap_start);
            }
            ControlFlow::Continue(())
        })?;
        Ok(total)
    }

    /// Whether `instant` is working time: inside a working interval, counting its start but
    /// not its end.
    pub fn is_open_at(&self, instant: Timestamp) -> Result<bool, BusinessTimeError> {
        if self.is_continuous() {
            return Ok(true);
        }
        let day = self.local_date(instant);
        let open = self.walk_intervals(previous_day(day)?, day, |open, close| {
            if open <= instant && instant < close {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok(open.is_some())
    }

    /// Until when business time keeps passing like wall time from `instant`: the end of the
    /// working stretch `instant` lies in, back-to-back intervals joined. `None` outside
    /// working hours. A stretch longer than [`STRETCH_HORIZON_DAYS`] is reported as ending
    /// then, so a countdown can tick without knowing the calendar and the walk stays short.
    pub fn working_until(
        &self,
        instant: Timestamp,
    ) -> Result<Option<Timestamp>, BusinessTimeError> {
        let horizon = instant
            .checked_add(SignedDuration::from_hours(
                24 * i64::from(STRETCH_HORIZON_DAYS),
            ))
            .map_err(|_| BusinessTimeError::OutOfRange)?;
        if self.is_continuous() {
            return Ok(Some(horizon));
        }
        let day = self.local_date(instant);
        let mut end: Option<Timestamp> = None;
        self.walk_intervals(
            previous_day(day)?,
            add_days(day, STRETCH_HORIZON_DAYS + 1)?,
            |open, close| match end {
                None if open <= instant && instant < close => {
                    end = Some(close);
                    ControlFlow::Continue(())
                }
                // Intervals come in time order: once one opens later, none holds `instant`.
                None if open > instant => ControlFlow::Break(()),
                None => ControlFlow::Continue(()),
                Some(stretch) if open <= stretch && stretch < horizon => {
                    end = Some(stretch.max(close));
                    ControlFlow::Continue(())
                }
                Some(_) => ControlFlow::Break(()),
            },
        )?;
        Ok(end.map(|end| end.min(horizon)))
    }

    /// 24×7 without holidays: business time is plain elapsed time, no walk needed.
    fn is_continuous(&self) -> bool {
        self.always_open && !self.has_holidays()
    }

    fn local_date(&self, instant: Timestamp) -> Date {
        self.time_zone.to_datetime(instant).date()
    }

    /// Calls `visit` with each working interval `[open, close)` that starts on a local date
    /// from `first_day` to `last_day`, in time order, until `visit` breaks.
    fn walk_intervals<T>(
        &self,
        first_day: Date,
        last_day: Date,
        mut visit: impl FnMut(Timestamp, Timestamp) -> ControlFlow<T>,
    ) -> Result<Option<T>, BusinessTimeError> {
        let mut day = first_day;
        loop {
            if !self.is_holiday(day) {
                for shift in self.shifts_on(day.weekday()) {
                    let (open, close) = self.shift_instants(day, *shift)?;
                    // A shift lying wholly in a spring-forward gap has no real time.
                    if open < close
                        && let ControlFlow::Break(value) = visit(open, close)
                    {
                        return Ok(Some(value));
                    }
                }
            }
            if day >= last_day {
                return Ok(None);
            }
            day = day.tomorrow().map_err(|_| BusinessTimeError::OutOfRange)?;
        }
    }

    /// The real instants at which `shift`, starting on local date `day`, opens and closes.
    fn shift_instants(
        &self,
        day: Date,
        shift: Shift,
    ) -> Result<(Timestamp, Timestamp), BusinessTimeError> {
        let midnight = day.to_datetime(Time::midnight());
        let open_local = local_after(midnight, shift.start)?;
        let close_local = local_after(open_local, shift.length)?;
        Ok((
            self.boundary_instant(open_local)?,
            self.boundary_instant(close_local)?,
        ))
    }

    /// The first instant at which the local wall clock reads `local` or later.
    ///
    /// Outside DST changes that is just `local` in the calendar's zone. In a fold (clocks go
    /// back) it is the first of the two instants; in a gap (clocks go forward) the wall clock
    /// never reads `local`, so it is the moment of the jump. This keeps interval boundaries
    /// in time order, so a gap or fold inside an interval shortens or lengthens it by the
    /// real change and nothing else.
    fn boundary_instant(&self, local: DateTime) -> Result<Timestamp, BusinessTimeError> {
        let ambiguous = self.time_zone.to_ambiguous_timestamp(local);
        let instant = match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { .. } => ambiguous.compatible(),
            AmbiguousOffset::Fold { .. } => ambiguous.earlier(),
            AmbiguousOffset::Gap { .. } => {
                // `earlier` reads `local` with the post-jump offset: an instant before the jump.
                let before_jump = ambiguous
                    .earlier()
                    .map_err(|_| BusinessTimeError::OutOfRange)?;
                match self.time_zone.following(before_jump).next() {
                    Some(transition) => Ok(transition.timestamp()),
                    None => ambiguous.compatible(),
                }
            }
        };
        instant.map_err(|_| BusinessTimeError::OutOfRange)
    }
}

fn local_after(local: DateTime, seconds: i32) -> Result<DateTime, BusinessTimeError> {
    local
        .checked_add(SignedDuration::from_secs(i64::from(seconds)))
        .map_err(|_| BusinessTimeError::OutOfRange)
}

fn previous_day(day: Date) -> Result<Date, BusinessTimeError> {
    day.yesterday().map_err(|_| BusinessTimeError::OutOfRange)
}

fn add_days(day: Date, days: i32) -> Result<Date, BusinessTimeError> {
    day.checked_add(Span::new().days(days))
        .map_err(|_| BusinessTimeError::OutOfRange)
}
