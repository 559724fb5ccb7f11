//! Business calendars: when a support team is at work, in its own time zone.

use std::collections::BTreeSet;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// The most working intervals one calendar may list; bounds validation work and every scan.
pub const MAX_WORKING_INTERVALS: usize = 7 * 24;

/// The most holidays one calendar may list (366 lets a calendar close every date of the year).
pub const MAX_HOLIDAYS: usize = 2_000;

pub(crate) const SECONDS_PER_DAY: i32 = 86_400;
const SECONDS_PER_WEEK: i64 = 7 * SECONDS_PER_DAY as i64;

/// The stored, serde-friendly definition of a business calendar.
///
/// Use it for JSON, TOML and database columns; turn it into a [`BusinessCalendar`] with
/// `BusinessCalendar::try_from(spec)`, which checks every field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// IANA time zone name, such as `Europe/London`; working hours are wall-clock times there.
    pub timezone: String,
    /// Weekly working hours. Must be empty when `always_open` is set, non-empty otherwise.
    #[serde(default)]
    pub hours: Vec<WorkingHoursSpec>,
    /// Holidays: `YYYY-MM-DD` for one date, `MM-DD` for the same date every year.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// 24×7: every instant is working time except on holidays.
    #[serde(default)]
    pub always_open: bool,
}

/// One weekly working interval, as written in a [`CalendarSpec`].
///
/// `end` at or before `start` means the interval runs past midnight into the next day
/// (Friday 22:00–02:00 belongs to Friday). `end` may be `24:00`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingHoursSpec {
    /// Day the interval starts on: `monday` … `sunday` (or `mon` … `sun`), any case.
    pub weekday: String,
    /// Local start time, `HH:MM`.
    pub start: String,
    /// Local end time, `HH:MM` or `24:00`.
    pub end: String,
}

/// Why a [`CalendarSpec`] is not a usable calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The time zone is not in the IANA database available to this build.
    #[error("unknown time zone {name:?}; use an IANA name such as \"Europe/London\"")]
    UnknownTimeZone {
        /// The name as given.
        name: String,
    },
    /// A weekday name that is not `monday` … `sunday` or `mon` … `sun`.
    #[error("unknown weekday {value:?}; use monday … sunday")]
    UnknownWeekday {
        /// The weekday as given.
        value: String,
    },
    /// A time that is not `HH:MM` (or `24:00`, which is only allowed as an end).
    #[error("invalid time {value:?}; use HH:MM from 00:00 to 23:59 (24:00 only as an end)")]
    InvalidTime {
        /// The time as given.
        value: String,
    },
    /// An interval whose start equals its end.
    #[error("working hours {interval} are empty; for a whole day write 00:00-24:00")]
    EmptyInterval {
        /// The interval, such as `monday 09:00-09:00`.
        interval: String,
    },
    /// Two intervals share working time, so it would be counted twice.
    #[error("working hours {first} and {second} overlap")]
    OverlappingIntervals {
        /// The earlier interval in the week.
        first: String,
        /// The interval that starts before `first` ends.
        second: String,
    },
    /// A holiday that is neither `YYYY-MM-DD` nor `MM-DD`, or names no real date.
    #[error("invalid holiday {value:?}; use YYYY-MM-DD for one date or MM-DD for every year")]
    InvalidHoliday {
        /// The holiday as given.
        value: String,
    },
    /// Neither working hours nor `always_open`: no SLA could ever come due.
    #[error("the calendar has no working hours; list hours or set always_open")]
    NoWorkingHours,
    /// `always_open` together with working hours is contradictory.
    #[error("an always-open calendar cannot also list working hours")]
    AlwaysOpenWithHours,
    /// More intervals than [`MAX_WORKING_INTERVALS`].
    #[error("too many working intervals ({count}); at most {max} are allowed")]
    TooManyIntervals {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More holidays than [`MAX_HOLIDAYS`].
    #[error("too many holidays ({count}); at most {max} are allowed")]
    TooManyHolidays {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
}

/// A working interval that starts on some weekday, in local seconds after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shift {
    /// Local start, seconds after midnight, `0..86_400`.
    pub(crate) start: i32,
    /// Local wall-clock length in seconds, `1..=86_400`; may run past midnight.
    pub(crate) length: i32,
}

/// A validated business calendar: time zone, weekly working hours and holidays, or 24×7.
///
/// Build one with `BusinessCalendar::try_from(spec)`; it serializes back to its
/// [`CalendarSpec`]. Working hours are local wall-clock times, so an interval keeps its
/// local start and end across daylight-saving changes. A holiday cancels the working
/// intervals that start on that local date (a night shift belongs to the day it starts).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "CalendarSpec", into = "CalendarSpec")]
pub struct BusinessCalendar {
    spec: CalendarSpec,
    pub(crate) time_zone: TimeZone,
    /// Shifts by weekday, Monday first, each list sorted by start.
    pub(crate) shifts: [Vec<Shift>; 7],
    dated_holidays: BTreeSet<Date>,
    /// `(month, day)` pairs.
    yearly_holidays: BTreeSet<(i8, i8)>,
    pub(crate) always_open: bool,
}

impl BusinessCalendar {
    /// The definition this calendar was built from.
    pub fn spec(&self) -> &CalendarSpec {
        &self.spec
    }

    /// The time zone in which working hours and holidays are read.
    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    /// Whether this is a 24×7 calendar (holidays may still close whole dates).
    pub fn is_always_open(&self) -> bool {
        self.always_open
    }

    /// Whether `date` (a local date in this calendar's time zone) is a holiday.
    pub fn is_holiday(&self, date: Date) -> bool {
        self.dated_holidays.contains(&date)
            || self.yearly_holidays.contains(&(date.month(), date.day()))
    }

    pub(crate) fn has_holidays(&self) -> bool {
        !self.dated_holidays.is_empty() || !self.yearly_holidays.is_empty()
    }

    pub(crate) fn shifts_on(&self, weekday: Weekday) -> &[Shift] {
        let index = usize::try_from(weekday.to_monday_zero_offset()).unwrap_or(0);
        self.shifts.get(index).map_or(&[], Vec::as_slice)
    }
}

impl From<BusinessCalendar> for CalendarSpec {
    fn from(calendar: BusinessCalendar) -> Self {
        calendar.spec
    }
}

impl TryFrom<CalendarSpec> for BusinessCalendar {
    type Error = CalendarError;

    fn try_from(spec: CalendarSpec) -> Result<Self, Self::Error> {
        let time_zone =
            TimeZone::get(&spec.timezone).map_err(|_| CalendarError::UnknownTimeZone {
                name: spec.timezone.clone(),
            })?;

        if spec.always_open && !spec.hours.is_empty() {
            return Err(CalendarError::AlwaysOpenWithHours);
        }
        if !spec.always_open && spec.hours.is_empty() {
            return Err(CalendarError::NoWorkingHours);
        }
        if spec.hours.len() > MAX_WORKING_INTERVALS {
            return Err(CalendarError::TooManyIntervals {
                count: spec.hours.len(),
                max: MAX_WORKING_INTERVALS,
            });
        }
        if spec.holidays.len() > MAX_HOLIDAYS {
            return Err(CalendarError::TooManyHolidays {
                count: spec.holidays.len(),
                max: MAX_HOLIDAYS,
            });
        }

        let mut shifts: [Vec<Shift>; 7] = Default::default();
        if spec.always_open {
            // 24×7 is modelled as whole local days so holidays can remove dates; a day of
            // 23 or 25 real hours on a DST change is then still counted as it really elapses.
            for day in &mut shifts {
                day.push(Shift {
                    start: 0,
                    length: SECONDS_PER_DAY,
                });
            }
        } else {
            let mut in_week = Vec::with_capacity(spec.hours.len());
            for hours in &spec.hours {
                let interval = parse_interval(hours)?;
                in_week.push(interval);
            }
            check_no_overlap(&mut in_week)?;
            for interval in in_week {
                if let Some(day) = shifts.get_mut(interval.weekday_index) {
                    day.push(interval.shift);
                }
            }
            for day in &mut shifts {
                day.sort_by_key(|shift| shift.start);
            }
        }

        let mut dated_holidays = BTreeSet::new();
        let mut yearly_holidays = BTreeSet::new();
        for holiday in &spec.holidays {
            match parse_holiday(holiday) {
                Some(Holiday::Dated(date)) => {
                    dated_holidays.insert(date);
                }
                Some(Holiday::Yearly { month, day }) => {
                    yearly_holidays.insert((month, day));
                }
                None => {
                    return Err(CalendarError::InvalidHoliday {
                        value: holiday.clone(),
                    });
                }
            }
        }

        let always_open = spec.always_open;
        Ok(BusinessCalendar {
            spec,
            time_zone,
            shifts,
            dated_holidays,
            yearly_holidays,
            always_open,
        })
    }
}

/// A parsed interval with its place in the week, for the overlap check.
struct WeeklyInterval {
    weekday_index: usize,
    shift: Shift,
    label: String,
}

impl WeeklyInterval {
    /// Seconds after Monday 00:00 at which the interval starts.
    fn week_start(&self) -> i64 {
        i64::try_from(self.weekday_index).unwrap_or(0) * i64::from(SECONDS_PER_DAY)
            + i64::from(self.shift.start)
    }

    fn week_end(&self) -> i64 {
        self.week_start() + i64::from(self.shift.length)
    }
}

fn parse_interval(hours: &WorkingHoursSpec) -> Result<WeeklyInterval, CalendarError> {
    let weekday = parse_weekday(&hours.weekday).ok_or_else(|| CalendarError::UnknownWeekday {
        value: hours.weekday.clone(),
    })?;
    let start =
        parse_clock_time(&hours.start, false).ok_or_else(|| CalendarError::InvalidTime {
            value: hours.start.clone(),
        })?;
    let end = parse_clock_time(&hours.end, true).ok_or_else(|| CalendarError::InvalidTime {
        value: hours.end.clone(),
    })?;
    let label = format!("{} {}-{}", weekday_name(weekday), hours.start, hours.end);
    let length = match end.cmp(&start) {
        std::cmp::Ordering::Greater => end - start,
        // An end at or before the start runs past midnight into the next day.
        std::cmp::Ordering::Less => end + SECONDS_PER_DAY - start,
        std::cmp::Ordering::Equal => return Err(CalendarError::EmptyInterval { interval: label }),
    };
    Ok(WeeklyInterval {
        weekday_index: usize::try_from(weekday.to_monday_zero_offset()).unwrap_or(0),
        shift: Shift { start, length },
        label,
    })
}

/// Refuses intervals that share time; touching intervals (one ends as the next starts) are fine.
fn check_no_overlap(intervals: &mut [WeeklyInterval]) -> Result<(), CalendarError> {
    intervals.sort_by_key(WeeklyInterval::week_start);
    for pair in intervals.windows(2) {
        if let [first, second] = pair
            && first.week_end() > second.week_start()
        {
            return Err(overlap(first, second));
        }
    }
    // The week is a circle: a Sunday night interval may run into Monday morning.
    if let (Some(last), Some(first)) = (intervals.last(), intervals.first())
        && intervals.len() > 1
        && last.week_end() - SECONDS_PER_WEEK > first.week_start()
    {
        return Err(overlap(last, first));
    }
    Ok(())
}

fn overlap(first: &WeeklyInterval, second: &WeeklyInterval) -> CalendarError {
    CalendarError::OverlappingIntervals {
        first: first.label.clone(),
        second: second.label.clone(),
    }
}

pub fn parse_weekday(value: &str) -> Option<Weekday> {
    let weekday = match value.to_ascii_lowercase().as_str() {
        "monday" | "mon" => Weekday::Monday,
        "tuesday" | "tue" => Weekday::Tuesday,
        "wednesday" | "wed" => Weekday::Wednesday,
        "thursday" | "thu" => Weekday::Thursday,
        "friday" | "fri" => Weekday::Friday,
        "saturday" | "sat" => Weekday::Saturday,
        "sunday" | "sun" => Weekday::Sunday,
        _ => return None,
    };
    Some(weekday)
}

pub(crate) fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Monday => "monday",
        Weekday::Tuesday => "tuesday",
        Weekday::Wednesday => "wednesday",
        Weekday::Thursday => "thursday",
        Weekday::Friday => "friday",
        Weekday::Saturday => "saturday",
        Weekday::Sunday => "sunday",
    }
}

/// Parses strict `HH:MM` into seconds after midnight; `24:00` only when `allow_end_of_day`.
fn parse_clock_time(value: &str, allow_end_of_day: bool) -> Option<i32> {
    let (hours, minutes) = value.split_once(':')?;
    let hours = parse_two_digits(hours)?;
    let minutes = parse_two_digits(minutes)?;
    if minutes >= 60 {
        return None;
    }
    if hours == 24 && minutes == 0 && allow_end_of_day {
        return Some(SECONDS_PER_DAY);
    }
    if hours >= 24 {
        return None;
    }
    Some(hours * 3_600 + minutes * 60)
}

fn parse_two_digits(text: &str) -> Option<i32> {
    if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

enum Holiday {
    Dated(Date),
    Yearly { month: i8, day: i8 },
}

fn parse_holiday(value: &str) -> Option<Holiday> {
    let parts: Vec<&str> = value.split('-').collect();
    match parts.as_slice() {
        [year, month, day] => {
            if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let year: i16 = year.parse().ok()?;
            let month = i8::try_from(parse_two_digits(month)?).ok()?;
            let day = i8::try_from(parse_two_digits(day)?).ok()?;
            Date::new(year, month, day).ok().map(Holiday::Dated)
        }
        [month, day] => {
            let month = i8::try_from(parse_two_digits(month)?).ok()?;
            let day = i8::try_from(parse_two_digits(day)?).ok()?;
            // 2000 is a leap year, so a yearly 02-29 is accepted and applies in leap years.
            Date::new(2000, month, day).ok()?;
            Some(Holiday::Yearly { month, day })
        }
        _ => None,
    }
}
