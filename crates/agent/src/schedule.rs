//! When to report: the server's interval spread by jitter (so that a thousand machines
//! restarted together do not report together), and backoff while the server is away.
//! Randomness is passed in, which keeps these rules testable.

use std::time::Duration;

/// The shortest and longest report interval the agent accepts from a server.
pub const SHORTEST_INTERVAL: Duration = Duration::from_secs(60);
pub const LONGEST_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// The first wait after a failed send; it doubles up to the report interval.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(15);
/// The longest first delay of a service start.
pub const MOST_START_DELAY: Duration = Duration::from_secs(30);
/// The longest `Retry-After` honoured; a server asking for more is waited for this long.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The interval the server asks for, within bounds the agent can live with.
pub fn report_interval(report_every_seconds: u32) -> Duration {
    Duration::from_secs(u64::from(report_every_seconds)).clamp(SHORTEST_INTERVAL, LONGEST_INTERVAL)
}

/// `base` moved by up to ±10 %, `random` choosing where in that range.
pub fn jittered(base: Duration, random: u64) -> Duration {
    let millis = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
    let spread = millis / 10;
    let offset = random % (2 * spread + 1);
    Duration::from_millis(millis - spread + offset)
}

/// A start delay between zero and [`MOST_START_DELAY`].
pub fn start_delay(random: u64) -> Duration {
    let most = u64::try_from(MOST_START_DELAY.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(random % (most + 1))
}

/// The wait after `failures` failed sends in a row: doubling from [`FIRST_BACKOFF`], never
/// longer than `interval`.
pub fn backoff(failures: u32, interval: Duration) -> Duration {
    let factor = 2_u32.saturating_pow(failures.saturating_sub(1));
    FIRST_BACKOFF.saturating_mul(factor).min(interval)
}

/// A `Retry-After` header in its seconds form; the date form is left to the backoff.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(LONGEST_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        let hour = Duration::from_secs(3600);
        assert_eq!(jittered(hour, 0), Duration::from_secs(3240));
        assert_eq!(jittered(hour, 720_000), Duration::from_secs(3960));
        assert_eq!(jittered(hour, 360_000), hour);
        for random in [1, 7, 99_999, 123_456_789, u64::MAX] {
            let wait = jittered(hour, random);
            assert!(wait >= Duration::from_secs(3240) && wait <= Duration::from_secs(3960));
        }
    }

    #[test]
    fn a_service_start_waits_at_most_thirty_seconds() {
        assert_eq!(start_delay(0), Duration::ZERO);
        assert_eq!(start_delay(30_000), Duration::from_secs(30));
        assert!(start_delay(u64::MAX) <= MOST_START_DELAY);
    }

    #[test]
    fn backoff_doubles_up_to_the_interval() {
        let interval = Duration::from_secs(300);
        let waits: Vec<u64> = (1..=7).map(|n| backoff(n, interval).as_secs()).collect();
        assert_eq!(waits, [15, 30, 60, 120, 240, 300, 300]);
        assert_eq!(backoff(u32::MAX, interval), interval);
    }

    #[test]
    fn server_intervals_are_bounded() {
        assert_eq!(report_interval(0), SHORTEST_INTERVAL);
        assert_eq!(report_interval(3600), Duration::from_secs(3600));
        assert_eq!(report_interval(u32::MAX), LONGEST_INTERVAL);
    }

    #[test]
    fn retry_after_reads_seconds() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(
            parse_retry_after("99999999"),
            Some(Duration::from_secs(24 * 3600))
        );
    }
}
