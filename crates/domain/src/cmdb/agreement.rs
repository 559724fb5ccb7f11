//! Contracts and licences: their kinds, when a renewal is due, where a term stands on a
//! given day, and whether a licence covers what is installed.

use jiff::Span;
use jiff::civil::Date;

crate::string_enum! {
    /// What a contract item is for.
    pub enum ContractKind as "contract kind" {
        Support => "support",
        Warranty => "warranty",
        Lease => "lease",
        Maintenance => "maintenance",
    }
}

crate::string_enum! {
    /// How a licence counts: seats (people), devices, or a whole site without a count.
    pub enum LicenceModel as "licence model" {
        PerSeat => "per_seat",
        PerDevice => "per_device",
        Site => "site",
    }
}

crate::string_enum! {
    /// Where a term stands on a given day.
    pub enum TermStatus as "term status" {
        /// It has not started yet.
        Upcoming => "upcoming",
        Active => "active",
        /// Within its notice period: renew or end it now.
        RenewalDue => "renewal_due",
        Ended => "ended",
    }
}

/// The most days of notice a term may ask for: three years.
pub const MOST_NOTICE_DAYS: i64 = 1_096;

/// The day a renewal reminder is due: `notice_days` before the end.
pub fn renew_by(ends_on: Date, notice_days: i64) -> Date {
    ends_on
        .checked_sub(Span::new().days(notice_days.clamp(0, MOST_NOTICE_DAYS)))
        .unwrap_or(Date::MIN)
}

/// Where a term from `starts_on` to `ends_on` (both days included) stands on `today`.
pub fn status(
    starts_on: Option<Date>,
    ends_on: Option<Date>,
    notice_days: i64,
    today: Date,
) -> TermStatus {
    if starts_on.is_some_and(|start| today < start) {
        return TermStatus::Upcoming;
    }
    match ends_on {
        Some(end) if today > end => TermStatus::Ended,
        Some(end) if today >= renew_by(end, notice_days) => TermStatus::RenewalDue,
        _ => TermStatus::Active,
    }
}

/// How a licence's purchases compare with its installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicencePosition {
    /// Seats or devices still free; none for a site licence.
    pub available: Option<i64>,
    /// Installs beyond what was bought.
    pub over: i64,
}

impl LicencePosition {
    pub fn compliant(self) -> bool {
        self.over == 0
    }
}

/// Compares `installed` with `purchased` under `model`: a site licence covers any number.
pub fn position(model: LicenceModel, purchased: Option<i64>, installed: i64) -> LicencePosition {
    match (model, purchased) {
        (LicenceModel::Site, _) => LicencePosition {
            available: None,
            over: 0,
        },
        (_, purchased) => {
            let purchased = purchased.unwrap_or(0).max(0);
            LicencePosition {
                available: Some((purchased - installed).max(0)),
                over: (installed - purchased).max(0),
            }
        }
    }
}

/// Checks a term's dates: the end may not come before the start.
pub fn check_dates(starts_on: Option<Date>, ends_on: Option<Date>) -> Result<(), &'static str> {
    match (starts_on, ends_on) {
        (Some(start), Some(end)) if end < start => Err("must not be before starts_on"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use jiff::ToSpan;
    use proptest::prelude::*;

    use super::*;

    fn days_after(date: Date, days: i64) -> Date {
        date.checked_add(days.days()).unwrap_or(Date::MAX)
    }

    fn day(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn a_term_moves_from_upcoming_through_renewal_to_ended() {
        let (start, end) = (Some(day("2027-01-01")), Some(day("2027-12-31")));
        assert_eq!(
            status(start, end, 30, day("2026-12-31")),
            TermStatus::Upcoming
        );
        assert_eq!(
            status(start, end, 30, day("2027-06-01")),
            TermStatus::Active
        );
        assert_eq!(
            status(start, end, 30, day("2027-12-01")),
            TermStatus::RenewalDue
        );
        assert_eq!(
            status(start, end, 30, day("2027-12-31")),
            TermStatus::RenewalDue
        );
        assert_eq!(status(start, end, 30, day("2028-01-01")), TermStatus::Ended);
        assert_eq!(
            status(None, None, 30, day("2030-01-01")),
            TermStatus::Active
        );
    }

    #[test]
    fn a_site_licence_is_never_over_and_a_seat_licence_counts() {
        assert!(position(LicenceModel::Site, None, 10_000).compliant());
        let seats = position(LicenceModel::PerSeat, Some(10), 12);
        assert_eq!((seats.available, seats.over), (Some(0), 2));
        let devices = position(LicenceModel::PerDevice, Some(10), 4);
        assert_eq!((devices.available, devices.over), (Some(6), 0));
    }

    #[test]
    fn an_end_before_the_start_is_refused() {
        assert!(check_dates(Some(day("2027-02-01")), Some(day("2027-01-31"))).is_err());
        assert!(check_dates(Some(day("2027-02-01")), Some(day("2027-02-01"))).is_ok());
    }

    proptest! {
        #[test]
        fn the_renewal_day_is_the_notice_before_the_end(
            offset in 0i64..20_000, notice in 0i64..MOST_NOTICE_DAYS
        ) {
            let end = days_after(day("2000-01-01"), offset);
            let due = renew_by(end, notice);
            prop_assert_eq!(days_after(due, notice), end);
            prop_assert_eq!(status(None, Some(end), notice, due), TermStatus::RenewalDue);
            if notice > 0 {
                prop_assert_eq!(
                    status(None, Some(end), notice, days_after(due, -1)),
                    TermStatus::Active
                );
            }
        }

        #[test]
        fn purchases_split_into_free_and_over(
            purchased in 0i64..10_000, installed in 0i64..10_000
        ) {
            let p = position(LicenceModel::PerDevice, Some(purchased), installed);
            prop_assert_eq!(p.available.unwrap() - p.over, purchased - installed);
            prop_assert_eq!(p.compliant(), installed <= purchased);
        }
    }
}
