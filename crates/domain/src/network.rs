//! Network interfaces read over SNMP: the traffic, error and discard rates between two
//! readings of an interface's counters, and whether an interface is up and within its
//! thresholds. Pure: the SNMP client takes the readings, callers pass them in.
//!
//! ## Counters
//!
//! Interface counters only ever grow and wrap at their width: 2^32 for `Counter32`
//! (`ifInOctets`, 34 seconds at 1 Gbit/s), 2^64 for `Counter64` (`ifHCInOctets`, centuries at
//! any speed). Between two readings:
//! - if the device restarted (its `sysUpTime` went down), every counter began again at zero:
//!   the readings are not comparable and give no rate;
//! - else a `Counter32` that went down wrapped exactly once (poll often enough that it cannot
//!   wrap twice: every 30 s at 1 Gbit/s);
//! - else a `Counter64` that went down cannot have wrapped: the agent reset it (a
//!   discontinuity, RFC 2863 `ifCounterDiscontinuityTime`), so again no rate.
//!
//! `sysUpTime` itself wraps after 497 days; that one interval is taken as a restart and gives
//! no rate, which costs one poll's worth of data, never a wrong number.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::string_enum;

/// The width of an SNMP counter, which decides where it wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterWidth {
    /// `Counter32`: wraps after 4,294,967,295.
    Bits32,
    /// `Counter64`: never wraps in practice.
    Bits64,
}

impl CounterWidth {
    /// The width of the counters in a sample: 64-bit when it was read from the
    /// high-capacity (`ifHC…`) columns.
    pub fn of(sample: &InterfaceSample) -> Self {
        if sample.counters_64bit {
            Self::Bits64
        } else {
            Self::Bits32
        }
    }
}

/// How much a counter grew between two readings taken while the device stayed up; `None`
/// when the readings cannot be compared (a 64-bit counter that went down was reset, and a
/// 32-bit reading above 2^32 − 1 is not a `Counter32` at all). See the module documentation
/// for the rule.
pub fn counter_delta(previous: u64, current: u64, width: CounterWidth) -> Option<u64> {
    if current >= previous {
        return match width {
            CounterWidth::Bits32 if current > u64::from(u32::MAX) => None,
            _ => Some(current - previous),
        };
    }
    match width {
        // One wrap: the way up to the top, then from zero to the current reading.
        CounterWidth::Bits32 if previous <= u64::from(u32::MAX) => {
            Some(u64::from(u32::MAX) - previous + current + 1)
        }
        _ => None,
    }
}

/// Whether the device restarted between two readings of its `sysUpTime` (hundredths of a
/// second since its agent started): the uptime went down.
pub fn device_restarted(previous_uptime_centis: u32, current_uptime_centis: u32) -> bool {
    current_uptime_centis < previous_uptime_centis
}

/// One reading of an interface's status and counters, as one SNMP poll returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceSample {
    /// When the reading was taken, in milliseconds since the Unix epoch (the poller's
    /// clock): rates are per second of this clock.
    pub at_ms: i64,
    /// The device's `sysUpTime` at the reading, in hundredths of a second: tells a restart.
    pub uptime_centis: u32,
    /// `ifOperStatus` is up(1): the interface passes traffic.
    pub oper_up: bool,
    /// `ifAdminStatus` is up(1): an operator has not shut the interface.
    pub admin_up: bool,
    /// Octets received (`ifHCInOctets`, else `ifInOctets`).
    pub in_octets: u64,
    /// Octets sent (`ifHCOutOctets`, else `ifOutOctets`).
    pub out_octets: u64,
    /// Received packets dropped as faulty (`ifInErrors`).
    pub in_errors: u64,
    /// Packets that could not be sent because of errors (`ifOutErrors`).
    pub out_errors: u64,
    /// Received packets dropped though sound, e.g. for lack of buffers (`ifInDiscards`).
    pub in_discards: u64,
    /// Packets dropped before sending though sound, e.g. a full queue (`ifOutDiscards`).
    pub out_discards: u64,
    /// The octet counters came from the 64-bit `ifHCInOctets`/`ifHCOutOctets`; the error
    /// and discard counters are always 32-bit.
    pub counters_64bit: bool,
}

/// An interface's traffic between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InterfaceRates {
    /// Bits per second received.
    pub in_bps: f64,
    /// Bits per second sent.
    pub out_bps: f64,
    /// The busier direction against the interface's speed, in percent; none when the speed
    /// is unknown. Above 100 when the device reports a wrong speed.
    pub utilisation_pct: Option<f64>,
    /// Inbound plus outbound errors per minute.
    pub errors_per_min: f64,
    /// Inbound plus outbound discards per minute.
    pub discards_per_min: f64,
}

impl InterfaceRates {
    /// The rates from `previous` to `current` for an interface of `speed_bps` bit/s. None
    /// when the samples are not comparable: the device restarted, a counter was reset, the
    /// counter width changed, or `current` is not later than `previous`.
    pub fn between(
        previous: &InterfaceSample,
        current: &InterfaceSample,
        speed_bps: Option<u64>,
    ) -> Option<Self> {
        if device_restarted(previous.uptime_centis, current.uptime_centis)
            || previous.counters_64bit != current.counters_64bit
        {
            return None;
        }
        let elapsed_ms = current.at_ms.checked_sub(previous.at_ms)?;
        if elapsed_ms <= 0 {
            return None;
        }
        let octets = CounterWidth::of(current);
        let small = CounterWidth::Bits32;
        let in_octets = counter_delta(previous.in_octets, current.in_octets, octets)?;
        let out_octets = counter_delta(previous.out_octets, current.out_octets, octets)?;
        let errors = counter_delta(previous.in_errors, current.in_errors, small)?
            + counter_delta(previous.out_errors, current.out_errors, small)?;
        let discards = counter_delta(previous.in_discards, current.in_discards, small)?
            + counter_delta(previous.out_discards, current.out_discards, small)?;

        let seconds = elapsed_ms as f64 / 1_000.0;
        let minutes = seconds / 60.0;
        let in_bps = in_octets as f64 * 8.0 / seconds;
        let out_bps = out_octets as f64 * 8.0 / seconds;
        let utilisation_pct = speed_bps
            .filter(|speed| *speed > 0)
            .map(|speed| in_bps.max(out_bps) / speed as f64 * 100.0);
        Some(Self {
            in_bps,
            out_bps,
            utilisation_pct,
            errors_per_min: errors as f64 / minutes,
            discards_per_min: discards as f64 / minutes,
        })
    }
}

/// Limits past which an up interface counts as failing. Unset limits are not checked.
/// Deserialising checks the values ([`InterfaceThresholds::validate`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "UncheckedThresholds")]
pub struct InterfaceThresholds {
    /// Utilisation in percent of the interface's speed, in (0, 100].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_utilisation_pct: Option<f64>,
    /// Errors (in plus out) per minute, at least 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_errors_per_min: Option<f64>,
    /// Discards (in plus out) per minute, at least 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_discards_per_min: Option<f64>,
}

/// The thresholds as they arrive, before [`InterfaceThresholds::validate`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UncheckedThresholds {
    #[serde(default)]
    max_utilisation_pct: Option<f64>,
    #[serde(default)]
    max_errors_per_min: Option<f64>,
    #[serde(default)]
    max_discards_per_min: Option<f64>,
}

impl TryFrom<UncheckedThresholds> for InterfaceThresholds {
    type Error = ThresholdError;

    fn try_from(unchecked: UncheckedThresholds) -> Result<Self, Self::Error> {
        let thresholds = Self {
            max_utilisation_pct: unchecked.max_utilisation_pct,
            max_errors_per_min: unchecked.max_errors_per_min,
            max_discards_per_min: unchecked.max_discards_per_min,
        };
        thresholds.validate()?;
        Ok(thresholds)
    }
}

/// Why interface thresholds were refused; the field is named as in the JSON.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    /// The utilisation limit is not in (0, 100].
    #[error("max_utilisation_pct must be above 0 and at most 100, not {0}")]
    Utilisation(f64),
    /// A rate limit is negative or not a number.
    #[error("{field} must be a number of at least 0, not {value}")]
    Rate { field: &'static str, value: f64 },
}

impl InterfaceThresholds {
    /// Checks that utilisation is in (0, 100] and the rates are finite and at least 0.
    pub fn validate(&self) -> Result<(), ThresholdError> {
        if let Some(pct) = self.max_utilisation_pct
            && !(pct > 0.0 && pct <= 100.0)
        {
            return Err(ThresholdError::Utilisation(pct));
        }
        for (field, value) in [
            ("max_errors_per_min", self.max_errors_per_min),
            ("max_discards_per_min", self.max_discards_per_min),
        ] {
            if let Some(value) = value
                && !(value.is_finite() && value >= 0.0)
            {
                return Err(ThresholdError::Rate { field, value });
            }
        }
        Ok(())
    }
}

/// What an `snmp_interface` monitor watches: an interface of a network device, by its
/// `ifIndex`, with the interface's speed for utilisation and the limits it is held to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceSettings {
    /// The network device (its id in opsdesk), whose address and credentials are used.
    pub device: i64,
    /// The interface's `ifIndex`.
    pub if_index: u32,
    /// Its speed in bit/s, as discovered; none when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_bps: Option<u64>,
    #[serde(default)]
    pub thresholds: InterfaceThresholds,
}

string_enum! {
    /// What an interface check found.
    pub enum InterfaceState as "interface state" {
        /// Passing traffic, within every threshold.
        Up => "up",
        /// Failing: its operational status is not up, or a threshold is exceeded.
        Down => "down",
        /// Shut by an operator: not a failure, and no alert.
        AdminDown => "admin_down",
    }
}

/// The verdict on one interface from its latest sample.
#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceCheck {
    /// Up, down, or shut on purpose.
    pub state: InterfaceState,
    /// Why it is down or admin down, for a person to read; none when up.
    pub reason: Option<String>,
    /// The rates since the previous sample, when there was a comparable one.
    pub rates: Option<InterfaceRates>,
}

impl InterfaceCheck {
    /// Whether the check failed (admin down is no failure).
    pub fn is_failure(&self) -> bool {
        self.state == InterfaceState::Down
    }
}

/// Checks `current` (and the rates since `previous`, when given and comparable) against
/// `thresholds`. An interface an operator shut is admin down whatever its counters say; an
/// interface whose operational status is not up is down; otherwise each exceeded threshold
/// adds to the reason and makes it down.
pub fn evaluate(
    thresholds: &InterfaceThresholds,
    previous: Option<&InterfaceSample>,
    current: &InterfaceSample,
    speed_bps: Option<u64>,
) -> InterfaceCheck {
    let rates = previous.and_then(|previous| InterfaceRates::between(previous, current, speed_bps));
    if !current.admin_up {
        return InterfaceCheck {
            state: InterfaceState::AdminDown,
            reason: Some("admin status is down (shut on purpose)".to_owned()),
            rates,
        };
    }
    if !current.oper_up {
        return InterfaceCheck {
            state: InterfaceState::Down,
            reason: Some("oper status is down".to_owned()),
            rates,
        };
    }
    let mut reason = String::new();
    if let Some(rates) = &rates {
        let mut breach = |text: std::fmt::Arguments<'_>| {
            if !reason.is_empty() {
                reason.push_str("; ");
            }
            // Writing into a String cannot fail.
            let _ = reason.write_fmt(text);
        };
        if let (Some(limit), Some(pct)) = (thresholds.max_utilisation_pct, rates.utilisation_pct)
            && pct > limit
        {
            breach(format_args!("utilisation {pct:.1} % above {limit} %"));
        }
        if let Some(limit) = thresholds.max_errors_per_min
            && rates.errors_per_min > limit
        {
            breach(format_args!(
                "{:.1} errors/min above {limit}",
                rates.errors_per_min
            ));
        }
        if let Some(limit) = thresholds.max_discards_per_min
            && rates.discards_per_min > limit
        {
            breach(format_args!(
                "{:.1} discards/min above {limit}",
                rates.discards_per_min
            ));
        }
    }
    InterfaceCheck {
        state: if reason.is_empty() {
            InterfaceState::Up
        } else {
            InterfaceState::Down
        },
        reason: (!reason.is_empty()).then_some(reason),
        rates,
    }
}

/// A trap as the alert pipeline takes it, with the device and interface it names resolved
/// to what opsdesk knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrapFacts<'a> {
    /// The address the trap came from.
    pub source: &'a str,
    /// The device's configuration item name, when the source is a known device.
    pub device: Option<&'a str>,
    /// The standard trap's name (`linkDown` …), when it is one.
    pub name: Option<&'a str>,
    pub trap_oid: &'a str,
    pub if_index: Option<u32>,
    /// The interface's name, when the device and index are known.
    pub interface: Option<&'a str>,
}

/// The alert a trap raises. linkDown fires and linkUp resolves the same alert (one per
/// interface), so a flapping port is one incident; restarts, authentication failures and
/// vendors' own traps fire alerts that the integration's resolve timeout ends.
pub fn trap_notice(trap: &TrapFacts<'_>) -> crate::alert::Notice {
    use crate::alert::{AlertStatus, Notice, Severity};
    let device = trap.device.unwrap_or(trap.source);
    let interface = match (trap.interface, trap.if_index) {
        (Some(name), _) => name.to_owned(),
        (None, Some(index)) => format!("ifIndex {index}"),
        (None, None) => String::new(),
    };
    let link = trap.if_index.map_or_else(String::new, |i| i.to_string());
    let (fingerprint, status, severity, title) = match trap.name {
        Some("linkDown") => (
            format!("snmp:{}:link:{link}", trap.source),
            AlertStatus::Firing,
            Severity::High,
            format!("{device} {interface}: link down"),
        ),
        Some("linkUp") => (
            format!("snmp:{}:link:{link}", trap.source),
            AlertStatus::Resolved,
            Severity::High,
            format!("{device} {interface}: link down"),
        ),
        Some(name @ ("coldStart" | "warmStart")) => (
            format!("snmp:{}:restart", trap.source),
            AlertStatus::Firing,
            Severity::Warning,
            format!("{device} restarted ({name})"),
        ),
        Some(name) => (
            format!("snmp:{}:{name}", trap.source),
            AlertStatus::Firing,
            Severity::Warning,
            format!("{device}: {name}"),
        ),
        None => (
            format!("snmp:{}:{}", trap.source, trap.trap_oid),
            AlertStatus::Firing,
            Severity::Warning,
            format!("{device}: trap {}", trap.trap_oid),
        ),
    };
    let mut labels = std::collections::BTreeMap::from([
        (
            "alertname".to_owned(),
            trap.name.unwrap_or("snmpTrap").to_owned(),
        ),
        ("device".to_owned(), device.to_owned()),
        ("source".to_owned(), trap.source.to_owned()),
        ("trap_oid".to_owned(), trap.trap_oid.to_owned()),
    ]);
    if !interface.is_empty() {
        labels.insert("interface".to_owned(), interface);
    }
    Notice {
        description: format!(
            "SNMP trap {} from {}.",
            trap.name.unwrap_or(trap.trap_oid),
            trap.source
        ),
        fingerprint,
        status,
        title: title.trim().to_owned(),
        severity,
        labels,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use proptest::prelude::*;

    use super::*;

    const WRAP32: u64 = 1 << 32;

    fn sample(at_ms: i64, uptime_centis: u32, octets: u64) -> InterfaceSample {
        InterfaceSample {
            at_ms,
            uptime_centis,
            oper_up: true,
            admin_up: true,
            in_octets: octets,
            out_octets: octets / 2,
            in_errors: 0,
            out_errors: 0,
            in_discards: 0,
            out_discards: 0,
            counters_64bit: true,
        }
    }

    #[test]
    fn counter_deltas_follow_the_wrap_and_reset_rule() {
        use CounterWidth::{Bits32, Bits64};
        // (previous, current, width, delta)
        let table: &[(u64, u64, CounterWidth, Option<u64>)] = &[
            (100, 250, Bits32, Some(150)),
            (100, 100, Bits32, Some(0)),
            (u64::from(u32::MAX) - 9, 5, Bits32, Some(15)),
            (u64::from(u32::MAX), 0, Bits32, Some(1)),
            (100, 250, Bits64, Some(150)),
            (250, 100, Bits64, None),
            (0, WRAP32, Bits32, None),
            (WRAP32, 1, Bits32, None),
        ];
        for (previous, current, width, delta) in table {
            assert_eq!(
                counter_delta(*previous, *current, *width),
                *delta,
                "{previous} → {current} ({width:?})"
            );
        }
    }

    #[test]
    fn rates_are_bits_per_second_and_events_per_minute() {
        let previous = sample(0, 1_000, 1_000_000);
        let mut current = sample(60_000, 7_000, 1_000_000 + 7_500_000);
        current.out_octets = previous.out_octets + 750_000;
        current.in_errors = 6;
        current.out_errors = 6;
        current.in_discards = 3;
        let rates = InterfaceRates::between(&previous, &current, Some(10_000_000)).unwrap();
        assert_eq!(rates.in_bps, 1_000_000.0);
        assert_eq!(rates.out_bps, 100_000.0);
        assert_eq!(rates.utilisation_pct, Some(10.0));
        assert_eq!(rates.errors_per_min, 12.0);
        assert_eq!(rates.discards_per_min, 3.0);
    }

    #[test]
    fn a_restart_or_a_width_change_or_no_elapsed_time_gives_no_rates() {
        let previous = sample(0, 50_000, 9_000);
        let restarted = sample(60_000, 200, 10);
        assert_eq!(InterfaceRates::between(&previous, &restarted, None), None);
        let mut narrower = sample(60_000, 56_000, 9_500);
        narrower.counters_64bit = false;
        assert_eq!(InterfaceRates::between(&previous, &narrower, None), None);
        let same_time = sample(0, 50_000, 9_500);
        assert_eq!(InterfaceRates::between(&previous, &same_time, None), None);
    }

    #[test]
    fn a_counter32_that_wrapped_gives_the_true_rate() {
        let mut previous = sample(0, 100, u64::from(u32::MAX) - 999);
        previous.counters_64bit = false;
        previous.out_octets = 0;
        let mut current = sample(1_000, 200, 1_000);
        current.counters_64bit = false;
        current.out_octets = 0;
        let rates = InterfaceRates::between(&previous, &current, None).unwrap();
        assert_eq!(rates.in_bps, 2_000.0 * 8.0);
        assert_eq!(rates.utilisation_pct, None);
    }

    fn busy_interface() -> (InterfaceSample, InterfaceSample) {
        let previous = sample(0, 0, 0);
        let mut current = sample(60_000, 6_000, 60 * 93_200_000 / 8);
        current.in_errors = 12;
        current.out_discards = 1;
        (previous, current)
    }

    #[test]
    fn evaluate_names_every_exceeded_threshold() {
        let thresholds = InterfaceThresholds {
            max_utilisation_pct: Some(80.0),
            max_errors_per_min: Some(5.0),
            max_discards_per_min: Some(1.0),
        };
        let (previous, current) = busy_interface();
        let check = evaluate(&thresholds, Some(&previous), &current, Some(100_000_000));
        assert_eq!(check.state, InterfaceState::Down);
        assert!(check.is_failure());
        assert_eq!(
            check.reason.as_deref(),
            Some("utilisation 93.2 % above 80 %; 12.0 errors/min above 5")
        );
    }

    #[test]
    fn evaluate_is_up_within_thresholds_and_without_a_previous_sample() {
        let thresholds = InterfaceThresholds {
            max_utilisation_pct: Some(95.0),
            max_errors_per_min: Some(20.0),
            max_discards_per_min: None,
        };
        let (previous, current) = busy_interface();
        let check = evaluate(&thresholds, Some(&previous), &current, Some(100_000_000));
        assert_eq!((check.state, check.reason), (InterfaceState::Up, None));
        let first = evaluate(&InterfaceThresholds::default(), None, &current, None);
        assert_eq!(first.state, InterfaceState::Up);
        assert_eq!(first.rates, None);
    }

    #[test]
    fn evaluate_tells_oper_down_from_admin_down() {
        let thresholds = InterfaceThresholds::default();
        let mut current = sample(0, 0, 0);
        current.oper_up = false;
        let check = evaluate(&thresholds, None, &current, None);
        assert_eq!(check.state, InterfaceState::Down);
        assert_eq!(check.reason.as_deref(), Some("oper status is down"));
        current.admin_up = false;
        let check = evaluate(&thresholds, None, &current, None);
        assert_eq!(check.state, InterfaceState::AdminDown);
        assert!(!check.is_failure());
        assert_eq!(InterfaceState::AdminDown.to_string(), "admin_down");
    }

    #[test]
    fn thresholds_are_checked_when_read() {
        let read: InterfaceThresholds =
            serde_json::from_str(r#"{"max_utilisation_pct": 80, "max_errors_per_min": 0}"#)
                .unwrap();
        assert_eq!(read.max_utilisation_pct, Some(80.0));
        assert_eq!(read.max_errors_per_min, Some(0.0));
        assert_eq!(read.max_discards_per_min, None);
        for (json, message) in [
            (
                r#"{"max_utilisation_pct": 0}"#,
                "max_utilisation_pct must be above 0 and at most 100, not 0",
            ),
            (
                r#"{"max_utilisation_pct": 100.5}"#,
                "max_utilisation_pct must be above 0 and at most 100, not 100.5",
            ),
            (
                r#"{"max_discards_per_min": -1}"#,
                "max_discards_per_min must be a number of at least 0, not -1",
            ),
            (
                r#"{"max_utilisation": 50}"#,
                "unknown field `max_utilisation`",
            ),
        ] {
            let error = serde_json::from_str::<InterfaceThresholds>(json).unwrap_err();
            assert!(error.to_string().contains(message), "{json}: {error}");
        }
        let written = serde_json::to_value(read).unwrap();
        assert_eq!(
            written,
            serde_json::json!({"max_utilisation_pct": 80.0, "max_errors_per_min": 0.0})
        );
    }

    fn any_sample() -> impl Strategy<Value = InterfaceSample> {
        (
            (0i64..1 << 40, any::<u32>(), any::<bool>(), any::<bool>()),
            (any::<u64>(), any::<u64>(), any::<u32>(), any::<u32>()),
            (any::<u32>(), any::<u32>(), any::<bool>()),
        )
            .prop_map(
                |(
                    (at_ms, uptime_centis, oper_up, admin_up),
                    (in_octets, out_octets, in_errors, out_errors),
                    (in_discards, out_discards, counters_64bit),
                )| {
                    let octets = |value: u64| {
                        if counters_64bit {
                            value
                        } else {
                            value & u64::from(u32::MAX)
                        }
                    };
                    InterfaceSample {
                        at_ms,
                        uptime_centis,
                        oper_up,
                        admin_up,
                        in_octets: octets(in_octets),
                        out_octets: octets(out_octets),
                        in_errors: in_errors.into(),
                        out_errors: out_errors.into(),
                        in_discards: in_discards.into(),
                        out_discards: out_discards.into(),
                        counters_64bit,
                    }
                },
            )
    }

    proptest! {
        /// A Counter32 that wraps once gives the same delta as the unwrapped difference.
        #[test]
        fn a_counter32_wrapping_once_loses_nothing(previous in any::<u32>(), growth in any::<u32>()) {
            let current = previous.wrapping_add(growth);
            prop_assert_eq!(
                counter_delta(previous.into(), current.into(), CounterWidth::Bits32),
                Some(u64::from(growth))
            );
        }

        /// A Counter64 gives its difference when it grew and no delta when it went down.
        #[test]
        fn a_counter64_never_wraps(previous in any::<u64>(), current in any::<u64>()) {
            let delta = counter_delta(previous, current, CounterWidth::Bits64);
            prop_assert_eq!(delta, current.checked_sub(previous));
        }

        /// Utilisation is never negative, and never computed without a speed.
        #[test]
        fn utilisation_needs_a_speed_and_is_never_negative(
            previous in any_sample(),
            current in any_sample(),
            speed in prop::option::of(0u64..400_000_000_000),
        ) {
            if let Some(rates) = InterfaceRates::between(&previous, &current, speed) {
                prop_assert!(rates.in_bps >= 0.0 && rates.out_bps >= 0.0);
                prop_assert!(rates.errors_per_min >= 0.0 && rates.discards_per_min >= 0.0);
                match (speed, rates.utilisation_pct) {
                    (Some(speed), Some(pct)) => prop_assert!(speed > 0 && pct >= 0.0),
                    (Some(speed), None) => prop_assert_eq!(speed, 0),
                    (None, pct) => prop_assert_eq!(pct, None),
                }
            }
        }

        /// A restart between two samples never gives rates.
        #[test]
        fn a_restart_never_gives_rates(previous in any_sample(), current in any_sample()) {
            prop_assume!(current.uptime_centis < previous.uptime_centis);
            prop_assert_eq!(InterfaceRates::between(&previous, &current, Some(1_000)), None);
        }

        /// Admin down wins over everything; oper down fails whatever the thresholds.
        #[test]
        fn the_status_columns_decide_before_the_thresholds(
            previous in any_sample(),
            current in any_sample(),
            speed in prop::option::of(any::<u64>()),
        ) {
            let thresholds = InterfaceThresholds {
                max_utilisation_pct: Some(50.0),
                max_errors_per_min: Some(1.0),
                max_discards_per_min: Some(1.0),
            };
            let check = evaluate(&thresholds, Some(&previous), &current, speed);
            let expected = if !current.admin_up {
                InterfaceState::AdminDown
            } else if !current.oper_up {
                InterfaceState::Down
            } else {
                check.state
            };
            prop_assert_eq!(check.state, expected);
            prop_assert_eq!(check.reason.is_some(), check.state != InterfaceState::Up);
        }
    }

    #[test]
    fn link_down_and_up_are_one_alert_per_interface() {
        use crate::alert::AlertStatus;
        let down = TrapFacts {
            source: "192.0.2.1",
            device: Some("sw1"),
            name: Some("linkDown"),
            trap_oid: "1.3.6.1.6.3.1.1.5.3",
            if_index: Some(3),
            interface: Some("Gi0/3"),
        };
        let up = TrapFacts {
            name: Some("linkUp"),
            trap_oid: "1.3.6.1.6.3.1.1.5.4",
            ..down.clone()
        };
        let other_port = TrapFacts {
            if_index: Some(4),
            interface: None,
            ..down.clone()
        };
        let (down, up, other) = (
            trap_notice(&down),
            trap_notice(&up),
            trap_notice(&other_port),
        );
        assert_eq!(down.status, AlertStatus::Firing);
        assert_eq!(up.status, AlertStatus::Resolved);
        assert_eq!(down.fingerprint, up.fingerprint);
        assert_ne!(down.fingerprint, other.fingerprint);
        assert_eq!(down.title, "sw1 Gi0/3: link down");
        assert_eq!(other.title, "sw1 ifIndex 4: link down");
        assert_eq!(down.labels["interface"], "Gi0/3");
    }
}
