//! Cron schedules in a time zone: when a cron heartbeat's next ping is due, and when a
//! recurring maintenance window opens. Times are milliseconds since the Unix epoch (UTC);
//! the cron fields are matched on the wall clock of the schedule's IANA time zone, so
//! `0 3 * * *` in `Europe/London` is 03:00 local time in both winter and summer.
//!
//! Daylight saving time follows cron's usual rules (croner's, as Vixie cron and systemd):
//! a fixed time skipped when the clock goes forward fires once the clock has jumped
//! (01:30 on the spring change is 02:00 BST), and a fixed time repeated when the clock
//! goes back fires once, on its first occurrence.

use std::cmp::Ordering;
use std::fmt;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use croner::time::{CivilDate, CivilDateTime, CivilTime, CronDateTime, Resolution, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ZonedDateTime};

/// Why a schedule was refused; each variant names the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error("not a cron expression (minute hour day month weekday): {0}")]
    Expression(String),
    /// The cron expression parses but names no time that ever comes (`0 0 30 2 *`).
    #[error("the cron expression never fires")]
    Never,
    /// Not an IANA time zone name.
    #[error("unknown time zone {0:?}: use an IANA name such as Europe/London")]
    TimeZone(String),
}

/// A cron expression evaluated in an IANA time zone.
#[derive(Clone)]
pub struct CronSchedule {
    cron: Cron,
    expression: String,
    zone: TimeZone,
    timezone: String,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CronSchedule({:?} in {})",
            self.expression, self.timezone
        )
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression && self.timezone == other.timezone
    }
}

/// Longest cron expression accepted; real ones are a few dozen characters.
const MAX_EXPRESSION_CHARS: usize = 200;

impl CronSchedule {
    /// Parses a 5-field cron expression (or 6 fields with seconds first) and an IANA
    /// time zone name.
    pub fn parse(expression: &str, timezone: &str) -> Result<CronSchedule, ScheduleError> {
        let expression = expression.trim();
        if expression.chars().count() > MAX_EXPRESSION_CHARS {
            return Err(ScheduleError::Expression(format!(
                "longer than {MAX_EXPRESSION_CHARS} characters"
            )));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| ScheduleError::Expression(e.to_string()))?;
        let zone = TimeZone::get(timezone.trim())
            .map_err(|_| ScheduleError::TimeZone(timezone.to_owned()))?;
        let schedule = CronSchedule {
            cron,
            expression: expression.to_owned(),
            zone,
            timezone: timezone.trim().to_owned(),
        };
        // An impossible date (30 February) parses but would leave a heartbeat never due.
        // Without a year field a schedule that fires once fires again within 400 years
        // (the Gregorian cycle), so looking from 1970 on decides it for all time.
        if schedule.next_after(0).is_none() {
            return Err(ScheduleError::Never);
        }
        Ok(schedule)
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The IANA time zone name.
    pub fn timezone(&self) -> &str {
        &self.timezone
    }

    /// The first scheduled time strictly after `at`; `None` if there is none.
    pub fn next_after(&self, at: i64) -> Option<i64> {
        // Cron counts whole seconds: anything within the second `at` falls in is past.
        let second = Timestamp::from_second(at.div_euclid(1000)).ok()?;
        let start = Wall(second.to_zoned_datetime(self.zone.clone()));
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        Some(next.0.timestamp().as_millisecond())
    }

    /// The last scheduled time at or before `at`; `None` if there is none.
    pub fn latest_at_or_before(&self, at: i64) -> Option<i64> {
        let second = Timestamp::from_second(at.div_euclid(1000)).ok()?;
        let start = Wall(second.to_zoned_datetime(self.zone.clone()));
        let previous = self.cron.find_previous_occurrence(&start, true).ok()?;
        Some(previous.0.timestamp().as_millisecond())
    }
}

/// How late something due at `due` is at `now`: zero while it is not yet due.
pub fn late_by(due: i64, now: i64) -> i64 {
    now.saturating_sub(due).max(0)
}

/// A jiff 1 zoned time as croner sees it. croner's own `jiff` feature is built for jiff
/// 0.2, so this adapter connects jiff 1 through croner's backend trait instead.
#[derive(Clone)]
struct Wall(ZonedDateTime);

fn to_civil(datetime: jiff::civil::DateTime) -> CivilDateTime {
    // jiff keeps every part in range, so croner need not check them again.
    CivilDateTime::new(
        CivilDate::from_parts_unchecked(
            i32::from(datetime.year()),
            u32::from(datetime.month().unsigned_abs()),
            u32::from(datetime.day().unsigned_abs()),
        ),
        CivilTime::from_parts_unchecked(
            u32::from(datetime.hour().unsigned_abs()),
            u32::from(datetime.minute().unsigned_abs()),
            u32::from(datetime.second().unsigned_abs()),
        ),
    )
}

fn to_jiff(civil: CivilDateTime) -> Result<jiff::civil::DateTime, croner::errors::CronError> {
    let invalid = |_| croner::errors::CronError::InvalidDate;
    let part = |value: u32| i8::try_from(value).map_err(invalid);
    jiff::civil::DateTime::new(
        i16::try_from(civil.year()).map_err(invalid)?,
        part(civil.month())?,
        part(civil.day())?,
        part(civil.hour())?,
        part(civil.minute())?,
        part(civil.second())?,
        0,
    )
    .map_err(|_| croner::errors::CronError::InvalidDate)
}

impl CronDateTime for Wall {
    fn to_civil(&self) -> CivilDateTime {
        to_civil(self.0.datetime())
    }

    fn civil_weekday(&self) -> Weekday {
        let days = self.0.weekday().to_sunday_zero_offset().unsigned_abs();
        Weekday::from_days_from_sunday(u32::from(days))
    }

    fn resolve_civil(
        &self,
        civil: CivilDateTime,
    ) -> Result<Resolution<Self>, croner::errors::CronError> {
        let invalid = |_| croner::errors::CronError::InvalidTime;
        let ambiguous = self
            .0
            .time_zone()
            .to_ambiguous_zoned_datetime(to_jiff(civil)?);
        Ok(match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { .. } => {
                Resolution::Single(Wall(ambiguous.unambiguous().map_err(invalid)?))
            }
            AmbiguousOffset::Fold { .. } => Resolution::Ambiguous(
                Wall(ambiguous.clone().earlier().map_err(invalid)?),
                Wall(ambiguous.later().map_err(invalid)?),
            ),
            AmbiguousOffset::Gap { .. } => Resolution::Gap,
        })
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0
            .checked_add(SignedDuration::from_secs(seconds))
            .ok()
            .map(Wall)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.timestamp().cmp(&other.0.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        rfc3339
            .parse::<Timestamp>()
            .map(Timestamp::as_millisecond)
            .unwrap_or(i64::MIN)
    }

    fn london(expression: &str) -> CronSchedule {
        CronSchedule::parse(expression, "Europe/London").unwrap_or_else(|e| {
            unreachable!("{expression} should parse: {e}");
        })
    }

    #[test]
    fn a_daily_time_is_local_time_in_winter_and_summer() {
        let nightly = london("0 3 * * *");
        // GMT (UTC+0) in January, BST (UTC+1) in July.
        assert_eq!(
            nightly.next_after(ms("2026-01-10T12:00:00Z")),
            Some(ms("2026-01-11T03:00:00Z"))
        );
        assert_eq!(
            nightly.next_after(ms("2026-07-10T12:00:00Z")),
            Some(ms("2026-07-11T02:00:00Z"))
        );
    }

    #[test]
    fn the_next_time_is_strictly_after() {
        let nightly = london("0 3 * * *");
        let due = ms("2026-01-11T03:00:00Z");
        assert_eq!(nightly.next_after(due), Some(ms("2026-01-12T03:00:00Z")));
        assert_eq!(
            nightly.next_after(due + 999),
            Some(ms("2026-01-12T03:00:00Z"))
        );
        assert_eq!(nightly.next_after(due - 1), Some(due));
        assert_eq!(nightly.latest_at_or_before(due), Some(due));
        assert_eq!(
            nightly.latest_at_or_before(due - 1),
            Some(ms("2026-01-10T03:00:00Z"))
        );
    }

    #[test]
    fn across_the_spring_change_a_day_is_23_hours() {
        // 29 March 2026: London's clocks go from 01:00 GMT to 02:00 BST.
        let nightly = london("0 3 * * *");
        let saturday = ms("2026-03-28T03:00:00Z");
        let sunday = nightly.next_after(saturday);
        assert_eq!(sunday, Some(ms("2026-03-29T02:00:00Z")));
        assert_eq!(sunday.map(|s| s - saturday), Some(23 * 3_600_000));
    }

    #[test]
    fn a_time_skipped_in_spring_fires_once_the_clock_has_jumped() {
        let skipped = london("30 1 * * *");
        let next = skipped.next_after(ms("2026-03-28T12:00:00Z"));
        // 01:30 does not exist that night; the job runs at 02:00 BST (01:00 UTC).
        assert_eq!(next, Some(ms("2026-03-29T01:00:00Z")));
        assert_eq!(
            next.and_then(|n| skipped.next_after(n)),
            Some(ms("2026-03-30T00:30:00Z"))
        );
    }

    #[test]
    fn a_time_repeated_in_autumn_fires_once() {
        // 25 October 2026: 02:00 BST becomes 01:00 GMT, so 01:30 happens twice.
        let repeated = london("30 1 * * *");
        let first = repeated.next_after(ms("2026-10-24T12:00:00Z"));
        assert_eq!(first, Some(ms("2026-10-25T00:30:00Z")));
        assert_eq!(
            first.and_then(|f| repeated.next_after(f)),
            Some(ms("2026-10-26T01:30:00Z"))
        );
    }

    #[test]
    fn seconds_are_an_optional_sixth_field() {
        let every_second = CronSchedule::parse("* * * * * *", "UTC");
        assert_eq!(every_second.map(|s| s.next_after(1_500)), Ok(Some(2_000)));
    }

    #[test]
    fn bad_expressions_and_zones_are_refused_by_part() {
        assert!(matches!(
            CronSchedule::parse("61 * * * *", "UTC"),
            Err(ScheduleError::Expression(_))
        ));
        assert!(matches!(
            CronSchedule::parse("every day", "UTC"),
            Err(ScheduleError::Expression(_))
        ));
        assert_eq!(
            CronSchedule::parse("0 0 30 2 *", "UTC"),
            Err(ScheduleError::Never)
        );
        assert_eq!(
            CronSchedule::parse("0 3 * * *", "Europe/Atlantis"),
            Err(ScheduleError::TimeZone("Europe/Atlantis".to_owned()))
        );
    }

    #[test]
    fn late_by_is_zero_until_due() {
        assert_eq!(late_by(100, 50), 0);
        assert_eq!(late_by(100, 100), 0);
        assert_eq!(late_by(100, 160), 60);
    }
}
