//! Every string the web UI shows, in tables per language. English ships, one table per part
//! of the UI (`en/`); a translation is another set with the same keys (the tests check that
//! templates use only known keys).

mod en;

/// A point in time, however a template holds it (by value or by reference).
pub(crate) trait Moment {
    fn moment(&self) -> jiff::Timestamp;
}

impl Moment for jiff::Timestamp {
    fn moment(&self) -> jiff::Timestamp {
        *self
    }
}

impl<T: Moment + ?Sized> Moment for &T {
    fn moment(&self) -> jiff::Timestamp {
        (**self).moment()
    }
}

/// The language pages are rendered in.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Lang;

/// The language and time zone one person's pages are rendered in: their own time zone,
/// else UTC. Its texts are [`Lang`]'s.
#[derive(Debug, Clone)]
pub(crate) struct Locale {
    lang: Lang,
    zone: jiff::tz::TimeZone,
}

impl Locale {
    /// The pages of `principal`: in the time zone they chose, else UTC.
    pub(crate) fn of(principal: &opsdesk_app::Principal) -> Self {
        let zone = principal
            .time_zone
            .as_deref()
            .and_then(|name| jiff::tz::TimeZone::get(name).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        Self { lang: Lang, zone }
    }

    /// Pages nobody is signed in to: UTC.
    pub(crate) fn utc() -> Self {
        Self {
            lang: Lang,
            zone: jiff::tz::TimeZone::UTC,
        }
    }

    /// A time as this person's pages show it: minutes, in their time zone, named.
    pub(crate) fn when(&self, at: impl Moment) -> String {
        when(&at.moment(), &self.zone)
    }

    /// The time of day of `at` in this person's time zone, named: `21:15 EST`.
    pub(crate) fn clock(&self, at: jiff::Timestamp) -> String {
        at.to_zoned_datetime(self.zone.clone())
            .strftime("%H:%M %Z")
            .to_string()
    }

    /// Text `key` with `{zone}` naming this person's time zone, as forms label their times.
    pub(crate) fn zoned(&self, key: &str) -> String {
        self.t(key)
            .replace("{zone}", self.zone.iana_name().unwrap_or("UTC"))
    }

    /// A time as a `datetime-local` field holds it: minutes, in this person's time zone.
    pub(crate) fn field(&self, at: jiff::Timestamp) -> String {
        at.to_zoned_datetime(self.zone.clone())
            .strftime("%Y-%m-%dT%H:%M")
            .to_string()
    }

    /// A time typed into a `datetime-local` field, read in this person's time zone (the
    /// earlier of two readings when the clocks go back); `None` when it does not read.
    pub(crate) fn read_field(&self, text: &str) -> Option<jiff::Timestamp> {
        let civil = text.parse::<jiff::civil::DateTime>().ok()?;
        Some(civil.to_zoned_datetime(self.zone.clone()).ok()?.timestamp())
    }
}

impl std::ops::Deref for Locale {
    type Target = Lang;

    fn deref(&self) -> &Lang {
        &self.lang
    }
}

impl Lang {
    /// The text for `key`; the key itself when missing, so a gap is visible, not fatal.
    pub(crate) fn t<'a>(&self, key: &'a str) -> &'a str {
        lookup(key).unwrap_or(key)
    }

    /// The language code for `<html lang>`.
    pub(crate) fn code(&self) -> &'static str {
        "en"
    }

    /// The label of a value in a family: `label("status", "open")` is the text of
    /// `status.open`.
    pub(crate) fn label(&self, family: &str, value: impl std::fmt::Display) -> String {
        let key = format!("{family}.{value}");
        lookup(&key).map_or(key, str::to_owned)
    }

    /// A span of business time as countdowns show it: hours and minutes, rounded up so
    /// that "0 m left" only ever means the time is up. `static/app.js` formats the same way.
    pub(crate) fn span(&self, seconds: i64) -> String {
        let minutes = (seconds.max(0) + 59) / 60;
        let (hours, minutes) = (minutes / 60, (minutes % 60).to_string());
        if hours == 0 {
            self.t("sla.minutes").replace("{m}", &minutes)
        } else {
            self.t("sla.hours")
                .replace("{h}", &hours.to_string())
                .replace("{m}", &minutes)
        }
    }
}

/// A time as pages show it: minutes, in `zone`, named by its abbreviation (`UTC`, `CET`).
fn when(at: &jiff::Timestamp, zone: &jiff::tz::TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

fn lookup(key: &str) -> Option<&'static str> {
    let table = en::table(key);
    table
        .binary_search_by(|(k, _)| (*k).cmp(key))
        .ok()
        .map(|index| table[index].1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn each_table_is_sorted_without_duplicates_and_holds_only_its_own_keys() {
        for table in en::TABLES {
            for pair in table.windows(2) {
                assert!(
                    pair[0].0 < pair[1].0,
                    "{} must come before {}",
                    pair[0].0,
                    pair[1].0
                );
            }
            for (key, _) in table {
                // Tables are told apart by their first key.
                assert!(
                    en::table(key)[0] == table[0],
                    "{key} is in a table its first segment does not choose"
                );
            }
        }
    }

    #[test]
    fn times_are_shown_in_the_persons_zone_else_utc() {
        let at: jiff::Timestamp = "2026-07-01T12:30:00Z".parse().unwrap();
        assert_eq!(Locale::utc().when(at), "2026-07-01 12:30 UTC");
        let mut principal = opsdesk_app::Principal::system("test");
        assert_eq!(Locale::of(&principal).when(at), "2026-07-01 12:30 UTC");
        principal.time_zone = Some("Europe/Paris".to_owned());
        assert_eq!(Locale::of(&principal).when(at), "2026-07-01 14:30 CEST");
        principal.time_zone = Some("Mars/Olympus".to_owned());
        assert_eq!(Locale::of(&principal).when(at), "2026-07-01 12:30 UTC");
    }

    #[test]
    fn templates_use_only_known_keys() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for piece in text.split(".t(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                if lookup(key).is_none() {
                    missing.push(key.to_owned());
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys missing from the table: {missing:?}"
        );
    }

    #[test]
    fn every_status_level_link_and_channel_has_a_label() {
        use opsdesk_domain::ticket::{
            Impact, LinkType, PendingReason, Source, TicketStatus, TicketType,
        };
        let names = TicketStatus::NAMES
            .iter()
            .map(|n| format!("status.{n}"))
            .chain(Impact::NAMES.iter().map(|n| format!("level.{n}")))
            .chain(LinkType::NAMES.iter().map(|n| format!("link.{n}")))
            .chain(PendingReason::NAMES.iter().map(|n| format!("pending.{n}")))
            .chain(TicketType::NAMES.iter().map(|n| format!("type.{n}")))
            .chain(Source::NAMES.iter().map(|n| format!("via.{n}")))
            .chain(
                super::super::agent::RESOLUTION_CODES
                    .iter()
                    .map(|n| format!("resolution.{n}")),
            );
        for key in names {
            assert!(lookup(&key).is_some(), "no label for {key}");
        }
    }
}
