//! Properties of cron schedules in a time zone, of cron heartbeats' expected pings and of
//! recurring maintenance windows, over years that include London's DST changes.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use opsdesk_domain::monitor::{
    HeartbeatState, HeartbeatStatus, MaintenanceWindow, Ping, PingSchedule, Recurrence,
};
use opsdesk_domain::schedule::{CronSchedule, late_by};
use proptest::prelude::*;

/// 2025-01-01 to 2028-01-01: four springs and autumns of London's changes.
fn instant() -> impl Strategy<Value = i64> {
    1_735_689_600_000i64..1_830_297_600_000
}

fn expression() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "0 3 * * *",
        "30 1 * * *",
        "*/15 * * * *",
        "0 */6 * * 1-5",
        "15 2 1 * *",
        "0 9 * * MON",
    ])
}

fn london(expression: &str) -> CronSchedule {
    CronSchedule::parse(expression, "Europe/London")
        .unwrap_or_else(|e| unreachable!("{expression}: {e}"))
}

fn wall_clock(ms: i64) -> (i8, i8) {
    let zone = TimeZone::get("Europe/London").unwrap_or(TimeZone::UTC);
    let local = Timestamp::from_millisecond(ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(zone);
    (local.hour(), local.minute())
}

fn ms(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<Timestamp>()
        .map(Timestamp::as_millisecond)
        .unwrap_or_else(|e| unreachable!("{rfc3339}: {e}"))
}

/// Sundays 02:00 to 04:00 London time from 2026 on.
fn sunday_nights() -> MaintenanceWindow {
    MaintenanceWindow {
        starts_at: ms("2026-01-01T00:00:00Z"),
        ends_at: i64::MAX,
        recurrence: Some(Recurrence {
            schedule: london("0 2 * * SUN"),
            duration_ms: 2 * 3_600_000,
        }),
    }
}

proptest! {
    /// Maintenance in force at a time is a period that contains it, and a period that is
    /// not in force yet lies ahead.
    #[test]
    fn the_current_period_contains_now(now in instant(), expression in expression(), minutes in 1i64..600) {
        let window = MaintenanceWindow {
            starts_at: ms("2025-06-01T00:00:00Z"),
            ends_at: ms("2027-06-01T00:00:00Z"),
            recurrence: Some(Recurrence { schedule: london(expression), duration_ms: minutes * 60_000 }),
        };
        match window.current_or_next(now) {
            Some((start, end)) if window.active_at(now) => {
                prop_assert!(start <= now && now < end);
            }
            Some((start, end)) => {
                prop_assert!(now < start && start < end);
                prop_assert!(end - start <= minutes * 60_000);
            }
            None => prop_assert!(!window.active_at(now)),
        }
    }

    /// The next time is after `at`, and no scheduled time lies between them.
    #[test]
    fn next_is_the_first_time_after(at in instant(), expression in expression()) {
        let schedule = london(expression);
        let next = schedule.next_after(at);
        prop_assert!(next.is_some());
        let next = next.unwrap_or_default();
        prop_assert!(next > at);
        prop_assert_eq!(next % 1000, 0);
        let before = schedule.latest_at_or_before(next - 1).unwrap_or(i64::MIN);
        prop_assert!(before <= at, "{} lies between {} and {}", before, at, next);
        prop_assert_eq!(schedule.latest_at_or_before(next), Some(next));
    }

    /// A daily 03:00 job is at 03:00 London time whatever the season, and consecutive
    /// runs are 24 hours apart except across a change (23 or 25).
    #[test]
    fn a_nightly_job_keeps_its_wall_clock_time(at in instant()) {
        let nightly = london("0 3 * * *");
        let first = nightly.next_after(at).unwrap_or_default();
        let second = nightly.next_after(first).unwrap_or_default();
        prop_assert_eq!(wall_clock(first), (3, 0));
        prop_assert_eq!(wall_clock(second), (3, 0));
        let hours = (second - first) / 3_600_000;
        prop_assert!([23, 24, 25].contains(&hours), "{} hours", hours);
        prop_assert_eq!((second - first) % 3_600_000, 0);
    }

    /// A cron heartbeat pinged at any time is up until its next scheduled time, in grace
    /// for the grace time after it, and down after that.
    #[test]
    fn a_cron_heartbeat_goes_late_then_down(
        ping in instant(),
        expression in expression(),
        grace_ms in 0i64..7_200_000,
        probe in 0i64..90_000_000,
    ) {
        let schedule = PingSchedule::Cron(Box::new(london(expression)));
        let (heartbeat, _) = HeartbeatState::default().ping(Ping::Success, ping);
        let due = schedule.next_expected(ping).unwrap_or_default();
        let now = ping + probe;
        let expected = if now <= due {
            HeartbeatStatus::Up
        } else if now <= due + grace_ms {
            HeartbeatStatus::Grace
        } else {
            HeartbeatStatus::Down
        };
        prop_assert_eq!(heartbeat.status(now, Some(due), grace_ms), expected);
        prop_assert_eq!(late_by(due, now) > grace_ms, expected == HeartbeatStatus::Down);
    }
}

#[test]
fn a_nightly_heartbeat_across_the_autumn_change() {
    // 25 October 2026, 02:00 BST becomes 01:00 GMT: the night is 25 hours long.
    let nightly = PingSchedule::Cron(Box::new(london("0 3 * * *")));
    let saturday_run: i64 = "2026-10-24T02:00:05Z"
        .parse::<Timestamp>()
        .map(Timestamp::as_millisecond)
        .unwrap_or_default();
    let due = nightly.next_expected(saturday_run);
    let sunday_three_gmt: i64 = "2026-10-25T03:00:00Z"
        .parse::<Timestamp>()
        .map(Timestamp::as_millisecond)
        .unwrap_or_default();
    assert_eq!(due, Some(sunday_three_gmt));
    // 24 hours after Saturday's run would be an hour early: not late yet.
    let (heartbeat, _) = HeartbeatState::default().ping(Ping::Success, saturday_run);
    let a_day_later = saturday_run + 24 * 3_600_000 + 60_000;
    assert_eq!(
        heartbeat.status(a_day_later, due, 600_000),
        HeartbeatStatus::Up
    );
    // From before Saturday's run, the runs around are Saturday's and Sunday's.
    assert_eq!(
        nightly.period_near(saturday_run - 3_600_000),
        25 * 3_600_000
    );
}

#[test]
fn a_period_heartbeat_is_due_one_period_after_its_ping() {
    let hourly = PingSchedule::Period(3_600_000);
    assert_eq!(hourly.next_expected(1_000), Some(3_601_000));
    assert_eq!(hourly.period_near(0), 3_600_000);
}

#[test]
fn a_weekly_window_is_in_force_on_sunday_nights_local_time() {
    let window = sunday_nights();
    for (at, active) in [
        // Winter (GMT): 02:00-04:00 UTC.
        ("2026-01-04T01:59:59Z", false),
        ("2026-01-04T02:00:00Z", true),
        ("2026-01-04T03:59:59Z", true),
        ("2026-01-04T04:00:00Z", false),
        ("2026-01-05T02:30:00Z", false),
        // Summer (BST): 01:00-03:00 UTC.
        ("2026-07-05T01:30:00Z", true),
        ("2026-07-05T03:30:00Z", false),
        // 29 March, the spring change: the clocks jump at 01:00 UTC, so 02:00 BST is 01:00 UTC.
        ("2026-03-29T01:30:00Z", true),
        ("2026-03-29T02:59:59Z", true),
        ("2026-03-29T03:00:00Z", false),
        // Before the window begins.
        ("2025-12-28T02:30:00Z", false),
    ] {
        assert_eq!(window.active_at(ms(at)), active, "at {at}");
    }
    assert_eq!(
        window.current_or_next(ms("2026-01-05T12:00:00Z")),
        Some((ms("2026-01-11T02:00:00Z"), ms("2026-01-11T04:00:00Z")))
    );
}

#[test]
fn a_one_off_window_is_in_force_between_its_times() {
    let window = MaintenanceWindow {
        starts_at: 1_000,
        ends_at: 2_000,
        recurrence: None,
    };
    assert!(!window.active_at(999));
    assert!(window.active_at(1_000));
    assert!(!window.active_at(2_000));
    assert_eq!(window.current_or_next(500), Some((1_000, 2_000)));
    assert_eq!(window.current_or_next(2_000), None);
}

#[test]
fn a_recurring_window_ends_with_its_span() {
    let mut window = sunday_nights();
    window.ends_at = ms("2026-01-04T03:00:00Z");
    assert!(window.active_at(ms("2026-01-04T02:30:00Z")));
    assert!(!window.active_at(ms("2026-01-04T03:30:00Z")));
    assert_eq!(window.current_or_next(ms("2026-01-04T03:30:00Z")), None);
}
