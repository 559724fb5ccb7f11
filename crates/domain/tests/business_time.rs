//! Business-time arithmetic, business calendars and SLA clocks, tested the way a support
//! manager would notice: due times, DST weekends, holidays, night shifts and pauses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use jiff::civil::{Date, DateTime};
use jiff::{SignedDuration, Timestamp};
use opsdesk_domain::sla::{
    BusinessCalendar, BusinessTimeError, CalendarError, CalendarSpec, ClockError, ClockEvent,
    ClockEventKind, ClockState, SEARCH_HORIZON_DAYS, STRETCH_HORIZON_DAYS, SlaClock,
    WorkingHoursSpec,
};
use proptest::prelude::*;

const HOUR: i64 = 3_600;
const MINUTE: i64 = 60;
const WEEKDAYS: [&str; 5] = ["monday", "tuesday", "wednesday", "thursday", "friday"];

// ---------------------------------------------------------------------------------------
// Helpers

fn spec(timezone: &str, hours: &[(&str, &str, &str)], holidays: &[&str]) -> CalendarSpec {
    CalendarSpec {
        timezone: timezone.to_string(),
        hours: hours
            .iter()
            .map(|(weekday, start, end)| WorkingHoursSpec {
                weekday: weekday.to_string(),
                start: start.to_string(),
                end: end.to_string(),
            })
            .collect(),
        holidays: holidays.iter().map(|h| h.to_string()).collect(),
        always_open: false,
    }
}

fn calendar(timezone: &str, hours: &[(&str, &str, &str)], holidays: &[&str]) -> BusinessCalendar {
    BusinessCalendar::try_from(spec(timezone, hours, holidays)).unwrap()
}

/// Monday to Friday, the same hours every day.
fn weekdays(timezone: &str, intervals: &[(&str, &str)], holidays: &[&str]) -> BusinessCalendar {
    let hours: Vec<(&str, &str, &str)> = WEEKDAYS
        .iter()
        .flat_map(|day| {
            intervals
                .iter()
                .map(move |(start, end)| (*day, *start, *end))
        })
        .collect();
    calendar(timezone, &hours, holidays)
}

fn always_open(timezone: &str, holidays: &[&str]) -> BusinessCalendar {
    let mut spec = spec(timezone, &[], holidays);
    spec.always_open = true;
    BusinessCalendar::try_from(spec).unwrap()
}

/// A local wall-clock time (`2026-06-01T10:00` or `2026-06-01 10:00`) in the calendar's zone.
fn local(calendar: &BusinessCalendar, text: &str) -> Timestamp {
    let datetime: DateTime = text.replace(' ', "T").parse().unwrap();
    calendar.time_zone().to_timestamp(datetime).unwrap()
}

/// `Mon 2026-06-01 10:00`, as in the worked-examples table.
fn show(calendar: &BusinessCalendar, instant: Timestamp) -> String {
    instant
        .to_zoned_datetime(calendar.time_zone().clone())
        .strftime("%a %Y-%m-%d %H:%M")
        .to_string()
}

fn utc(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn london_office() -> BusinessCalendar {
    weekdays(
        "Europe/London",
        &[("09:00", "17:00")],
        &["12-25", "12-26", "2026-12-28"],
    )
}

fn new_york_support() -> BusinessCalendar {
    weekdays(
        "America/New_York",
        &[("08:00", "12:00"), ("13:00", "17:00")],
        &["07-04", "2026-11-26"],
    )
}

fn london_night_desk() -> BusinessCalendar {
    weekdays("Europe/London", &[("22:00", "06:00")], &["2026-12-25"])
}

// ---------------------------------------------------------------------------------------
// The worked examples in docs/sla-worked-examples.md, checked row by row.

const WORKED_EXAMPLES: &str = include_str!("../../../docs/sla-worked-examples.md");
const EXAMPLES_HEADER: &str = "| Calendar | Start (local) | Target | Due (local) | Why |";

struct Example {
    calendar: String,
    start: String,
    target: String,
    due: String,
}

fn worked_examples() -> Vec<Example> {
    let mut lines = WORKED_EXAMPLES
        .lines()
        .skip_while(|line| line.trim() != EXAMPLES_HEADER)
        .skip(2); // the header and the |---| separator
    let mut examples = Vec::new();
    for line in lines.by_ref().take_while(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [calendar, start, target, due, _why] = cells.as_slice() else {
            panic!("worked example row has the wrong number of columns: {line}");
        };
        examples.push(Example {
            calendar: calendar.to_string(),
            start: start.to_string(),
            target: target.to_string(),
            due: due.to_string(),
        });
    }
    examples
}

/// `4h`, `30m` or `2h 30m` as seconds.
fn parse_target(text: &str) -> i64 {
    text.split_whitespace()
        .map(|part| {
            if let Some(hours) = part.strip_suffix('h') {
                hours.parse::<i64>().unwrap() * HOUR
            } else if let Some(minutes) = part.strip_suffix('m') {
                minutes.parse::<i64>().unwrap() * MINUTE
            } else {
                panic!("target {text:?} is not like 4h or 2h 30m")
            }
        })
        .sum()
}

#[test]
fn worked_examples_in_the_docs_hold() {
    let examples = worked_examples();
    assert!(
        examples.len() >= 15,
        "expected the worked-examples table, found {} rows",
        examples.len()
    );
    let mut wrong = Vec::new();
    for example in &examples {
        let calendar = match example.calendar.as_str() {
            "London office" => london_office(),
            "New York support" => new_york_support(),
            "London night desk" => london_night_desk(),
            "Always on" => always_open("Europe/London", &[]),
            other => panic!("worked example uses an unknown calendar {other:?}"),
        };
        // Drop the weekday, then check it so a typo in the table cannot hide.
        let (_, start_text) = example.start.split_once(' ').unwrap();
        let start = local(&calendar, start_text);
        assert_eq!(
            show(&calendar, start),
            example.start,
            "weekday in the table"
        );
        let due = calendar
            .add_business_seconds(start, parse_target(&example.target))
            .unwrap();
        if show(&calendar, due) != example.due {
            wrong.push(format!(
                "{} | {} | {}: table says {}, computed {}",
                example.calendar,
                example.start,
                example.target,
                example.due,
                show(&calendar, due)
            ));
        }
        // Measuring the time back gives the target again.
        assert_eq!(
            calendar.business_seconds_between(start, due).unwrap(),
            parse_target(&example.target)
        );
    }
    assert!(
        wrong.is_empty(),
        "worked examples disagree:\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Daylight saving time

#[test]
fn london_spring_forward_keeps_wall_clock_hours() {
    // 2026-03-29: clocks jump from 01:00 GMT to 02:00 BST.
    let calendar = calendar(
        "Europe/London",
        &[("sunday", "00:00", "04:00"), ("sunday", "09:00", "17:00")],
        &[],
    );
    let day = local(&calendar, "2026-03-29T00:00");
    let next_day = local(&calendar, "2026-03-30T00:00");
    let night = calendar.business_seconds_between(day, local(&calendar, "2026-03-29T04:00"));
    assert_eq!(
        night.unwrap(),
        3 * HOUR,
        "the lost hour is inside 00:00-04:00"
    );
    let office = calendar.business_seconds_between(
        local(&calendar, "2026-03-29T09:00"),
        local(&calendar, "2026-03-29T17:00"),
    );
    assert_eq!(office.unwrap(), 8 * HOUR, "09:00-17:00 is untouched");
    assert_eq!(
        calendar.business_seconds_between(day, next_day).unwrap(),
        11 * HOUR
    );
    // Two business hours after midnight the wall clock reads 03:00 BST.
    let due = calendar.add_business_seconds(day, 2 * HOUR).unwrap();
    assert_eq!(due, utc("2026-03-29T02:00:00Z"));
    // The whole night interval is used up at 04:00 BST, not at the next interval's start.
    let due = calendar.add_business_seconds(day, 3 * HOUR).unwrap();
    assert_eq!(due, utc("2026-03-29T03:00:00Z"));
}

#[test]
fn london_interval_starting_inside_the_spring_gap_opens_at_the_jump() {
    // 01:30 never appears on the clock on 2026-03-29; the desk opens when clocks jump.
    let calendar = calendar("Europe/London", &[("sunday", "01:30", "03:00")], &[]);
    let day = local(&calendar, "2026-03-29T00:00");
    let due = calendar.add_business_seconds(day, 1).unwrap();
    assert_eq!(due, utc("2026-03-29T01:00:01Z"));
    let whole_day = calendar.business_seconds_between(day, local(&calendar, "2026-03-30T00:00"));
    assert_eq!(whole_day.unwrap(), HOUR);
}

#[test]
fn london_fall_back_counts_the_repeated_hour_once_per_real_hour() {
    // 2026-10-25: clocks fall back from 02:00 BST to 01:00 GMT.
    let calendar = calendar(
        "Europe/London",
        &[("sunday", "00:00", "04:00"), ("sunday", "09:00", "17:00")],
        &[],
    );
    let night = calendar.business_seconds_between(
        local(&calendar, "2026-10-25T00:00"),
        local(&calendar, "2026-10-25T04:00"),
    );
    assert_eq!(night.unwrap(), 5 * HOUR);
    let office = calendar.business_seconds_between(
        local(&calendar, "2026-10-25T09:00"),
        local(&calendar, "2026-10-25T17:00"),
    );
    assert_eq!(office.unwrap(), 8 * HOUR);
    // Four business hours after midnight: 00:00 BST + 4h = 03:00 UTC = 03:00 GMT.
    let due = calendar
        .add_business_seconds(local(&calendar, "2026-10-25T00:00"), 4 * HOUR)
        .unwrap();
    assert_eq!(due, utc("2026-10-25T03:00:00Z"));
}

#[test]
fn london_interval_starting_inside_the_fold_opens_the_first_time() {
    // 01:30 happens twice on 2026-10-25; the desk opens the first time (00:30 UTC).
    let calendar = calendar("Europe/London", &[("sunday", "01:30", "03:00")], &[]);
    let day = local(&calendar, "2026-10-25T00:00");
    assert_eq!(
        calendar.add_business_seconds(day, 1).unwrap(),
        utc("2026-10-25T00:30:01Z")
    );
    let whole_day = calendar.business_seconds_between(day, local(&calendar, "2026-10-26T00:00"));
    assert_eq!(whole_day.unwrap(), 2 * HOUR + 30 * MINUTE);
}

#[test]
fn new_york_spring_forward_and_fall_back() {
    let calendar = calendar(
        "America/New_York",
        &[("sunday", "00:00", "04:00"), ("sunday", "09:00", "17:00")],
        &[],
    );
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    let spring = calendar.business_seconds_between(
        local(&calendar, "2026-03-08T00:00"),
        local(&calendar, "2026-03-09T00:00"),
    );
    assert_eq!(spring.unwrap(), 3 * HOUR + 8 * HOUR);
    // 2026-11-01: 02:00 EDT falls back to 01:00 EST.
    let fall = calendar.business_seconds_between(
        local(&calendar, "2026-11-01T00:00"),
        local(&calendar, "2026-11-02T00:00"),
    );
    assert_eq!(fall.unwrap(), 5 * HOUR + 8 * HOUR);
    let due = calendar
        .add_business_seconds(local(&calendar, "2026-11-01T09:00"), 8 * HOUR)
        .unwrap();
    assert_eq!(show(&calendar, due), "Sun 2026-11-01 17:00");
}

#[test]
fn new_york_office_due_across_dst_weekends_is_wall_clock() {
    let calendar = new_york_support();
    for (start, due) in [
        ("2026-03-06T16:00", "Mon 2026-03-09 10:00"),
        ("2026-10-30T16:00", "Mon 2026-11-02 10:00"),
    ] {
        let computed = calendar
            .add_business_seconds(local(&calendar, start), 3 * HOUR)
            .unwrap();
        assert_eq!(show(&calendar, computed), due);
    }
}

// ---------------------------------------------------------------------------------------
// 24×7

#[test]
fn always_open_counts_real_elapsed_time_across_dst() {
    let new_york = always_open("America/New_York", &[]);
    let spring_day = new_york.business_seconds_between(
        local(&new_york, "2026-03-08T00:00"),
        local(&new_york, "2026-03-09T00:00"),
    );
    assert_eq!(spring_day.unwrap(), 23 * HOUR);
    let start = utc("2026-03-07T12:00:00Z");
    assert_eq!(
        new_york.add_business_seconds(start, 36 * HOUR).unwrap(),
        utc("2026-03-09T00:00:00Z")
    );
}

#[test]
fn always_open_with_a_holiday_skips_that_whole_local_day() {
    let london = always_open("Europe/London", &["2026-10-25"]);
    let weekend = london.business_seconds_between(
        local(&london, "2026-10-24T00:00"),
        local(&london, "2026-10-26T00:00"),
    );
    // Saturday's 24 hours count; Sunday (25 real hours) is a holiday.
    assert_eq!(weekend.unwrap(), 24 * HOUR);
    let due = london
        .add_business_seconds(local(&london, "2026-10-24T23:00"), 2 * HOUR)
        .unwrap();
    assert_eq!(show(&london, due), "Mon 2026-10-26 01:00");
    assert!(
        !london
            .is_open_at(local(&london, "2026-10-25T12:00"))
            .unwrap()
    );
    assert!(
        london
            .is_open_at(local(&london, "2026-10-26T00:00"))
            .unwrap()
    );
}

#[test]
fn always_open_without_holidays_is_not_limited_by_the_search_horizon() {
    let utc_calendar = always_open("UTC", &[]);
    let start = utc("2026-01-01T00:00:00Z");
    let twenty_years = 20 * 365 * 24 * HOUR;
    let due = utc_calendar
        .add_business_seconds(start, twenty_years)
        .unwrap();
    assert_eq!(
        utc_calendar.business_seconds_between(start, due).unwrap(),
        twenty_years
    );
}

// ---------------------------------------------------------------------------------------
// Holidays

#[test]
fn dated_and_yearly_holidays_remove_working_days() {
    let calendar = weekdays(
        "Europe/London",
        &[("09:00", "17:00")],
        &["2026-12-31", "01-01"],
    );
    // Thursday 31 December (dated) and Friday 1 January 2027 (yearly) do not count.
    let due = calendar
        .add_business_seconds(local(&calendar, "2026-12-30T16:00"), 2 * HOUR)
        .unwrap();
    assert_eq!(show(&calendar, due), "Mon 2027-01-04 10:00");
    assert!(calendar.is_holiday(Date::constant(2031, 1, 1)));
    assert!(!calendar.is_holiday(Date::constant(2027, 12, 31)));
    assert!(calendar.is_holiday(Date::constant(2026, 12, 31)));
}

#[test]
fn a_yearly_leap_day_holiday_applies_in_leap_years_only() {
    let calendar = weekdays("Europe/London", &[("09:00", "17:00")], &["02-29"]);
    assert!(calendar.is_holiday(Date::constant(2028, 2, 29)));
    // Tue 2028-02-29 is skipped.
    let due = calendar
        .add_business_seconds(local(&calendar, "2028-02-28T16:00"), 2 * HOUR)
        .unwrap();
    assert_eq!(show(&calendar, due), "Wed 2028-03-01 10:00");
}

#[test]
fn a_holiday_cancels_the_night_shift_that_starts_on_it_not_the_one_ending_on_it() {
    let friday_holiday = weekdays("Europe/London", &[("22:00", "06:00")], &["2026-06-05"]);
    // Friday 5 June is a holiday: its 22:00-06:00 shift, Saturday morning included, is gone.
    assert!(
        !friday_holiday
            .is_open_at(local(&friday_holiday, "2026-06-06T03:00"))
            .unwrap()
    );
    // Thursday's shift runs into Friday morning and still counts.
    assert!(
        friday_holiday
            .is_open_at(local(&friday_holiday, "2026-06-05T03:00"))
            .unwrap()
    );
}

// ---------------------------------------------------------------------------------------
// Intervals crossing midnight

#[test]
fn a_start_in_the_small_hours_continues_the_previous_nights_shift() {
    let calendar = london_night_desk();
    let due = calendar
        .add_business_seconds(local(&calendar, "2026-06-06T01:00"), 2 * HOUR)
        .unwrap();
    assert_eq!(show(&calendar, due), "Sat 2026-06-06 03:00");
    let friday_night = calendar.business_seconds_between(
        local(&calendar, "2026-06-05T12:00"),
        local(&calendar, "2026-06-06T12:00"),
    );
    assert_eq!(friday_night.unwrap(), 8 * HOUR);
}

#[test]
fn a_sunday_night_shift_wraps_into_monday() {
    let calendar = calendar("UTC", &[("sunday", "20:00", "04:00")], &[]);
    let due = calendar
        .add_business_seconds(utc("2026-06-07T23:00:00Z"), 3 * HOUR)
        .unwrap();
    assert_eq!(due, utc("2026-06-08T02:00:00Z"));
    // Next week's shift follows when this one is used up.
    let due = calendar
        .add_business_seconds(utc("2026-06-07T23:00:00Z"), 6 * HOUR)
        .unwrap();
    assert_eq!(due, utc("2026-06-14T21:00:00Z"));
}

#[test]
fn a_due_time_never_lands_on_the_next_opening() {
    let calendar = london_office();
    let due = calendar
        .add_business_seconds(local(&calendar, "2026-06-01T09:00"), 8 * HOUR)
        .unwrap();
    assert_eq!(show(&calendar, due), "Mon 2026-06-01 17:00");
    assert_eq!(
        calendar
            .add_business_seconds(local(&calendar, "2026-06-01T12:00"), 0)
            .unwrap(),
        local(&calendar, "2026-06-01T12:00"),
        "adding nothing changes nothing"
    );
}

// ---------------------------------------------------------------------------------------
// Validation

fn spec_error(spec: CalendarSpec) -> CalendarError {
    BusinessCalendar::try_from(spec).unwrap_err()
}

#[test]
fn invalid_calendars_are_refused_with_the_reason() {
    let tz = "Europe/London";
    assert_eq!(
        spec_error(spec("Europe/Atlantis", &[("mon", "09:00", "17:00")], &[])),
        CalendarError::UnknownTimeZone {
            name: "Europe/Atlantis".into()
        }
    );
    assert_eq!(
        spec_error(spec(tz, &[("funday", "09:00", "17:00")], &[])),
        CalendarError::UnknownWeekday {
            value: "funday".into()
        }
    );
    for bad_time in ["9:00", "25:00", "09:60", "0900", "24:00", "ab:cd", ""] {
        assert_eq!(
            spec_error(spec(tz, &[("mon", bad_time, "17:00")], &[])),
            CalendarError::InvalidTime {
                value: bad_time.into()
            }
        );
    }
    assert_eq!(
        spec_error(spec(tz, &[("mon", "09:00", "09:00")], &[])),
        CalendarError::EmptyInterval {
            interval: "monday 09:00-09:00".into()
        }
    );
    assert_eq!(
        spec_error(spec(
            tz,
            &[("mon", "09:00", "12:30"), ("Monday", "12:00", "17:00")],
            &[]
        )),
        CalendarError::OverlappingIntervals {
            first: "monday 09:00-12:30".into(),
            second: "monday 12:00-17:00".into()
        }
    );
    // A night shift crossing midnight overlaps the next morning's shift.
    assert!(matches!(
        spec_error(spec(
            tz,
            &[("fri", "22:00", "02:00"), ("sat", "01:00", "05:00")],
            &[]
        )),
        CalendarError::OverlappingIntervals { .. }
    ));
    // Sunday night wraps round the week into Monday morning.
    assert_eq!(
        spec_error(spec(
            tz,
            &[("mon", "05:00", "09:00"), ("sun", "22:00", "06:00")],
            &[]
        )),
        CalendarError::OverlappingIntervals {
            first: "sunday 22:00-06:00".into(),
            second: "monday 05:00-09:00".into()
        }
    );
    for bad_holiday in [
        "2026-02-30",
        "13-01",
        "12/25",
        "2026-12-25T00:00",
        "xmas",
        "26-12-25",
    ] {
        assert_eq!(
            spec_error(spec(tz, &[("mon", "09:00", "17:00")], &[bad_holiday])),
            CalendarError::InvalidHoliday {
                value: bad_holiday.into()
            }
        );
    }
    assert_eq!(
        spec_error(spec(tz, &[], &[])),
        CalendarError::NoWorkingHours
    );
    let mut both = spec(tz, &[("mon", "09:00", "17:00")], &[]);
    both.always_open = true;
    assert_eq!(spec_error(both), CalendarError::AlwaysOpenWithHours);
    let too_many: Vec<(&str, &str, &str)> = (0..200).map(|_| ("mon", "09:00", "10:00")).collect();
    assert!(matches!(
        spec_error(spec(tz, &too_many, &[])),
        CalendarError::TooManyIntervals { count: 200, .. }
    ));
}

#[test]
fn touching_intervals_and_whole_days_are_accepted() {
    let calendar = calendar(
        "Europe/London",
        &[
            ("mon", "00:00", "24:00"),
            ("tue", "00:00", "12:00"),
            ("tue", "12:00", "13:00"),
            ("sun", "22:00", "00:00"),
        ],
        &[],
    );
    let monday = calendar.business_seconds_between(
        local(&calendar, "2026-06-07T00:00"),
        local(&calendar, "2026-06-10T00:00"),
    );
    assert_eq!(monday.unwrap(), (2 + 24 + 13) * HOUR);
}

#[test]
fn calendars_round_trip_through_json_and_validate_on_the_way_in() {
    let json = r#"{
        "timezone": "America/New_York",
        "hours": [{"weekday": "friday", "start": "22:00", "end": "02:00"}],
        "holidays": ["2026-12-25", "07-04"]
    }"#;
    let calendar: BusinessCalendar = serde_json::from_str(json).unwrap();
    assert!(!calendar.is_always_open());
    let back = serde_json::to_value(&calendar).unwrap();
    assert_eq!(back["hours"][0]["end"], "02:00");
    assert_eq!(back["always_open"], false);

    let invalid = r#"{"timezone": "Mars/Olympus", "always_open": true}"#;
    let error = serde_json::from_str::<BusinessCalendar>(invalid).unwrap_err();
    assert!(error.to_string().contains("unknown time zone"), "{error}");
}

// ---------------------------------------------------------------------------------------
// Bounded loops and errors

#[test]
fn a_calendar_whose_holidays_close_every_day_has_no_due_time() {
    let every_date: Vec<String> = (1..=12)
        .flat_map(|month| (1..=31).map(move |day| (month, day)))
        .filter(|&(month, day)| Date::new(2000, month, day).is_ok())
        .map(|(month, day)| format!("{month:02}-{day:02}"))
        .collect();
    let holidays: Vec<&str> = every_date.iter().map(String::as_str).collect();
    let calendar = weekdays("Europe/London", &[("09:00", "17:00")], &holidays);
    let result = calendar.add_business_seconds(utc("2026-06-01T00:00:00Z"), HOUR);
    assert_eq!(
        result,
        Err(BusinessTimeError::BeyondHorizon {
            days: SEARCH_HORIZON_DAYS
        })
    );
}

#[test]
fn measuring_more_than_the_horizon_is_refused_and_negative_targets_too() {
    let calendar = london_office();
    let start = utc("2026-01-01T00:00:00Z");
    let far = utc("2038-01-01T00:00:00Z");
    assert!(matches!(
        calendar.business_seconds_between(start, far),
        Err(BusinessTimeError::BeyondHorizon { .. })
    ));
    assert_eq!(
        calendar.add_business_seconds(start, -1),
        Err(BusinessTimeError::NegativeDuration { seconds: -1 })
    );
    assert_eq!(
        calendar.business_seconds_between(utc("2026-06-02T00:00:00Z"), utc("2026-06-01T00:00:00Z")),
        Ok(-8 * HOUR)
    );
}

#[test]
fn ten_business_days_ahead_is_the_same_time_two_weeks_later() {
    let calendar = new_york_support();
    let start = local(&calendar, "2026-06-01T10:17");
    let due = calendar.add_business_seconds(start, 10 * 8 * HOUR).unwrap();
    assert_eq!(show(&calendar, due), "Mon 2026-06-15 10:17");
}

#[test]
fn a_working_stretch_ends_at_closing_time_and_joins_back_to_back_shifts() {
    let office = london_office();
    let until = |calendar: &BusinessCalendar, at: &str| {
        calendar
            .working_until(local(calendar, at))
            .unwrap()
            .map(|end| show(calendar, end))
    };
    assert_eq!(
        until(&office, "2026-06-01T10:00").as_deref(),
        Some("Mon 2026-06-01 17:00")
    );
    assert_eq!(
        until(&office, "2026-06-01T17:00"),
        None,
        "closing time is closed"
    );
    assert_eq!(until(&office, "2026-06-06T10:00"), None, "Saturday");
    // Lunch breaks end a stretch; the night desk's shift runs past midnight.
    assert_eq!(
        until(&new_york_support(), "2026-06-01T11:30").as_deref(),
        Some("Mon 2026-06-01 12:00")
    );
    assert_eq!(
        until(&london_night_desk(), "2026-06-01T23:00").as_deref(),
        Some("Tue 2026-06-02 06:00")
    );
    // Back-to-back shifts are one stretch.
    let split = weekdays("UTC", &[("09:00", "12:00"), ("12:00", "17:00")], &[]);
    assert_eq!(
        until(&split, "2026-06-01T10:00").as_deref(),
        Some("Mon 2026-06-01 17:00")
    );
    // 24×7 never closes: the stretch is cut at the horizon.
    let start = utc("2026-06-01T10:00:00Z");
    assert_eq!(
        always_open("UTC", &[]).working_until(start).unwrap(),
        Some(start + SignedDuration::from_hours(24 * i64::from(STRETCH_HORIZON_DAYS)))
    );
}

// ---------------------------------------------------------------------------------------
// SLA clocks

fn event(kind: ClockEventKind, calendar: &BusinessCalendar, at: &str) -> ClockEvent {
    ClockEvent::new(kind, local(calendar, at))
}

#[test]
fn a_paused_clock_stops_counting_and_has_no_due_time() {
    use ClockEventKind::*;
    let office = london_office();
    let clock = SlaClock::new([
        event(Started, &office, "2026-06-01T09:00"),
        event(Paused, &office, "2026-06-01T11:00"),
        event(Resumed, &office, "2026-06-02T10:00"),
    ])
    .unwrap();

    let tuesday_noon = local(&office, "2026-06-02T12:00");
    assert_eq!(
        clock
            .elapsed_business_seconds(&office, tuesday_noon)
            .unwrap(),
        4 * HOUR
    );
    assert_eq!(clock.state_at(tuesday_noon), ClockState::Running);
    let due = clock
        .due_at(&office, 8 * HOUR, tuesday_noon)
        .unwrap()
        .unwrap();
    assert_eq!(show(&office, due), "Tue 2026-06-02 16:00");

    // Seen from Monday afternoon the clock was paused: no due time, two hours used.
    let monday_afternoon = local(&office, "2026-06-01T15:00");
    assert!(clock.is_paused(monday_afternoon));
    assert_eq!(clock.due_at(&office, 8 * HOUR, monday_afternoon), Ok(None));
    assert_eq!(
        clock.elapsed_business_seconds(&office, monday_afternoon),
        Ok(2 * HOUR)
    );
    assert_eq!(
        clock.state_at(local(&office, "2026-06-01T08:00")),
        ClockState::NotStarted
    );
}

#[test]
fn a_breached_target_reports_the_instant_it_was_breached() {
    use ClockEventKind::*;
    let office = london_office();
    let clock = SlaClock::new([
        event(Started, &office, "2026-06-01T09:00"),
        event(Stopped, &office, "2026-06-01T15:00"),
        event(Reopened, &office, "2026-06-03T09:00"),
        event(Paused, &office, "2026-06-03T12:00"),
    ])
    .unwrap();
    let later = local(&office, "2026-06-10T09:00");
    assert_eq!(clock.elapsed_business_seconds(&office, later), Ok(9 * HOUR));
    let breach = clock.due_at(&office, 4 * HOUR, later).unwrap().unwrap();
    assert_eq!(show(&office, breach), "Mon 2026-06-01 13:00");
    // Reopening continues from six hours: the eighth hour came on Wednesday at 11:00.
    let breach = clock.due_at(&office, 8 * HOUR, later).unwrap().unwrap();
    assert_eq!(show(&office, breach), "Wed 2026-06-03 11:00");
    assert_eq!(clock.due_at(&office, 10 * HOUR, later), Ok(None));
}

#[test]
fn impossible_clock_histories_are_refused() {
    use ClockEventKind::*;
    let office = london_office();
    assert_eq!(
        SlaClock::new([
            event(Started, &office, "2026-06-01T09:00"),
            event(Resumed, &office, "2026-06-01T10:00"),
        ]),
        Err(ClockError::IllegalTransition {
            state: ClockState::Running,
            event: Resumed
        })
    );
    assert_eq!(
        SlaClock::new([event(Paused, &office, "2026-06-01T09:00")]),
        Err(ClockError::IllegalTransition {
            state: ClockState::NotStarted,
            event: Paused
        })
    );
    assert!(matches!(
        SlaClock::new([
            event(Started, &office, "2026-06-01T09:00"),
            event(Paused, &office, "2026-06-01T08:00"),
        ]),
        Err(ClockError::OutOfOrder { .. })
    ));
    // Resolving a ticket while it waits on the requester is allowed.
    assert!(
        SlaClock::new([
            event(Started, &office, "2026-06-01T09:00"),
            event(Paused, &office, "2026-06-01T10:00"),
            event(Stopped, &office, "2026-06-01T10:00"),
        ])
        .is_ok()
    );
}

// ---------------------------------------------------------------------------------------
// Properties

/// Calendars with the awkward parts: lunch breaks, night shifts, DST-crossing intervals,
/// holidays, 24×7 with and without holidays.
fn fixtures() -> &'static [BusinessCalendar] {
    static FIXTURES: OnceLock<Vec<BusinessCalendar>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        vec![
            london_office(),
            new_york_support(),
            london_night_desk(),
            always_open("Europe/London", &[]),
            always_open("America/New_York", &["12-25", "2026-11-01"]),
            calendar(
                "Europe/London",
                &[
                    ("sunday", "00:30", "03:30"),
                    ("saturday", "23:00", "00:15"),
                    ("wednesday", "01:15", "01:45"),
                    ("friday", "12:00", "12:01"),
                ],
                &["2027-03-28"],
            ),
            calendar(
                "America/New_York",
                &[
                    ("sunday", "01:30", "02:30"),
                    ("sunday", "22:00", "03:00"),
                    ("thursday", "09:00", "17:00"),
                ],
                &["07-04"],
            ),
        ]
    })
}

fn any_calendar() -> impl Strategy<Value = &'static BusinessCalendar> {
    (0..fixtures().len()).prop_map(|index| &fixtures()[index])
}

/// Whole-second instants from 2025 to 2028, covering several DST changes each year.
fn any_instant() -> impl Strategy<Value = Timestamp> {
    (1_735_689_600_i64..1_861_920_000).prop_map(|second| Timestamp::from_second(second).unwrap())
}

/// Business time to add: up to 60 days of 24 hours, which the sparsest fixture (under five
/// working hours a week) needs almost six years to provide, well inside the search horizon.
fn any_amount() -> impl Strategy<Value = i64> {
    prop_oneof![0_i64..4 * HOUR, 0_i64..60 * 24 * HOUR]
}

/// Two amounts whose sum is itself [`any_amount`]; two independent amounts could add up to
/// more business time than the sparsest fixture offers within the search horizon.
fn two_amounts() -> impl Strategy<Value = (i64, i64)> {
    any_amount().prop_flat_map(|total| (0..=total).prop_map(move |amount| (amount, total - amount)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn adding_then_measuring_gives_the_amount_back(
        calendar in any_calendar(), start in any_instant(), amount in any_amount()
    ) {
        let due = calendar.add_business_seconds(start, amount).unwrap();
        prop_assert!(due >= start);
        prop_assert_eq!(calendar.business_seconds_between(start, due).unwrap(), amount);
    }

    #[test]
    fn a_due_time_is_the_first_instant_with_enough_time_and_inside_working_hours(
        calendar in any_calendar(), start in any_instant(), amount in 1_i64..30 * 24 * HOUR
    ) {
        let due = calendar.add_business_seconds(start, amount).unwrap();
        let just_before = due - SignedDuration::from_secs(1);
        prop_assert!(calendar.is_open_at(just_before).unwrap(), "{} is not working time", just_before);
        prop_assert_eq!(calendar.business_seconds_between(start, just_before).unwrap(), amount - 1);
    }

    #[test]
    fn due_times_are_monotonic(
        calendar in any_calendar(),
        start in any_instant(),
        later_by in 0_i64..10 * 24 * HOUR,
        (amount, more) in two_amounts(),
    ) {
        let due = calendar.add_business_seconds(start, amount).unwrap();
        prop_assert!(calendar.add_business_seconds(start, amount + more).unwrap() >= due);
        let later = start + SignedDuration::from_secs(later_by);
        prop_assert!(calendar.add_business_seconds(later, amount).unwrap() >= due);
    }

    #[test]
    fn measuring_is_additive_bounded_and_antisymmetric(
        calendar in any_calendar(), a in any_instant(), ab in 0_i64..20 * 24 * HOUR, bc in 0_i64..20 * 24 * HOUR
    ) {
        let b = a + SignedDuration::from_secs(ab);
        let c = b + SignedDuration::from_secs(bc);
        let between = |x, y| calendar.business_seconds_between(x, y).unwrap();
        prop_assert_eq!(between(a, c), between(a, b) + between(b, c));
        prop_assert!((0..=ab).contains(&between(a, b)));
        prop_assert_eq!(between(b, a), -between(a, b));
    }

    #[test]
    fn business_time_passes_like_wall_time_until_the_stretch_ends(
        calendar in any_calendar(), start in any_instant()
    ) {
        match calendar.working_until(start).unwrap() {
            Some(until) => {
                prop_assert!(until > start);
                let wall = until.duration_since(start).as_secs();
                prop_assert_eq!(calendar.business_seconds_between(start, until).unwrap(), wall);
                let horizon = 24 * i64::from(STRETCH_HORIZON_DAYS) * HOUR;
                if wall < horizon {
                    prop_assert!(!calendar.is_open_at(until).unwrap(), "the stretch ends at a closing");
                }
            }
            None => prop_assert!(!calendar.is_open_at(start).unwrap()),
        }
    }

    #[test]
    fn a_clock_counts_exactly_the_time_it_was_not_paused(
        calendar in any_calendar(),
        start in any_instant(),
        gaps in prop::collection::vec(0_i64..3 * 24 * HOUR, 0..8),
        after_last in 0_i64..3 * 24 * HOUR,
        target in any_amount(),
    ) {
        // Alternate pause/resume after each gap.
        let mut events = vec![ClockEvent::new(ClockEventKind::Started, start)];
        let mut at = start;
        let mut paused_spans = Vec::new();
        for (index, gap) in gaps.iter().enumerate() {
            let next = at + SignedDuration::from_secs(*gap);
            let kind = if index % 2 == 0 { ClockEventKind::Paused } else { ClockEventKind::Resumed };
            if kind == ClockEventKind::Resumed {
                paused_spans.push((at, next));
            }
            events.push(ClockEvent::new(kind, next));
            at = next;
        }
        let now = at + SignedDuration::from_secs(after_last);
        let still_paused = gaps.len() % 2 == 1;
        if still_paused {
            paused_spans.push((at, now));
        }
        let clock = SlaClock::new(events).unwrap();

        let paused: i64 = paused_spans
            .iter()
            .map(|(from, to)| calendar.business_seconds_between(*from, *to).unwrap())
            .sum();
        let elapsed = clock.elapsed_business_seconds(calendar, now).unwrap();
        prop_assert_eq!(elapsed, calendar.business_seconds_between(start, now).unwrap() - paused);
        prop_assert_eq!(clock.is_paused(now), still_paused);

        match clock.due_at(calendar, target, now).unwrap() {
            Some(due) if due <= now => {
                // Already reached: the clock had counted exactly the target at that instant.
                prop_assert!(elapsed >= target);
                prop_assert_eq!(clock.elapsed_business_seconds(calendar, due).unwrap(), target);
            }
            Some(due) => {
                prop_assert!(!still_paused && elapsed < target);
                // Still running with no further events: by `due` the target is used exactly.
                prop_assert_eq!(clock.elapsed_business_seconds(calendar, due).unwrap(), target);
            }
            None => prop_assert!(still_paused && elapsed < target),
        }
    }
}
