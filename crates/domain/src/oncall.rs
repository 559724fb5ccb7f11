//! Who is on call: schedules of rotation layers in a time zone, with restrictions (say,
//! business hours only) and overrides.
//!
//! A layer's people take turns of whole days (handing off at the layer's start time of day,
//! on the wall clock of the schedule's zone, so a daily 09:00 hand-off stays at 09:00 when
//! the clocks change and that turn lasts 23 or 25 hours) or of a fixed number of hours.
//! Where several layers are on, the last one listed wins; an override wins over every
//! layer, and of overlapping overrides the last one added.

use jiff::civil::{DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

/// How long one turn lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Turn {
    /// Whole days, handed off at the layer's start time of day (local time).
    Days(u32),
    /// A fixed number of hours, whatever the clocks do.
    Hours(u32),
}

/// When a layer is on: these weekdays, from `from` to `to` (local time; `to` before `from`
/// runs past midnight).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restriction {
    /// `monday` … `sunday`.
    #[serde(with = "weekdays")]
    pub days: Vec<Weekday>,
    pub from: Time,
    pub to: Time,
}

impl Restriction {
    fn allows(&self, local: DateTime) -> bool {
        let time = local.time();
        if self.from <= self.to {
            self.days.contains(&local.weekday()) && self.from <= time && time < self.to
        } else {
            // Past midnight: the evening belongs to its day, the early morning to the day
            // before.
            (time >= self.from && self.days.contains(&local.weekday()))
                || (time < self.to
                    && self
                        .days
                        .contains(&local.yesterday().map_or(local.weekday(), |d| d.weekday())))
        }
    }
}

/// Weekdays by name, as the SLA calendars write them.
mod weekdays {
    use jiff::civil::Weekday;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::sla::{parse_weekday, weekday_name};

    pub fn serialize<S: Serializer>(days: &[Weekday], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(days.iter().map(|day| weekday_name(*day)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Weekday>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|name| {
                parse_weekday(name).ok_or_else(|| {
                    D::Error::custom(format!("unknown weekday {name:?}; use monday … sunday"))
                })
            })
            .collect()
    }
}

/// People taking turns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub people: Vec<String>,
    /// When the first person's first turn starts (local time in the schedule's zone).
    pub start: DateTime,
    pub turn: Turn,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restriction: Option<Restriction>,
}

/// Someone on call instead, for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub person: String,
    pub from: Timestamp,
    pub until: Timestamp,
}

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnCallError {
    #[error("layer {0} has nobody in it")]
    Empty(usize),
    #[error("layer {0}: a turn lasts at least one hour (or day) and at most a year")]
    Turn(usize),
    #[error("layer {0}: a restriction needs at least one day, and a start other than its end")]
    Restriction(usize),
    #[error("an override must end after it starts")]
    Override,
}

/// A schedule's layers in its zone.
#[derive(Debug, Clone)]
pub struct Rotation {
    zone: TimeZone,
    layers: Vec<Layer>,
}

impl Rotation {
    /// Checks the layers.
    pub fn new(zone: TimeZone, layers: Vec<Layer>) -> Result<Self, OnCallError> {
        for (index, layer) in layers.iter().enumerate() {
            if layer.people.is_empty() {
                return Err(OnCallError::Empty(index));
            }
            let (Turn::Days(n) | Turn::Hours(n)) = layer.turn;
            let most = match layer.turn {
                Turn::Days(_) => 366,
                Turn::Hours(_) => 366 * 24,
            };
            if !(1..=most).contains(&n) {
                return Err(OnCallError::Turn(index));
            }
            if let Some(r) = &layer.restriction
                && (r.days.is_empty() || r.from == r.to)
            {
                return Err(OnCallError::Restriction(index));
            }
        }
        Ok(Self { zone, layers })
    }

    /// When turn `k` of `layer` starts.
    fn handoff(&self, layer: &Layer, k: i64) -> Option<Timestamp> {
        match layer.turn {
            Turn::Days(n) => {
                let local = layer.start.checked_add((k * i64::from(n)).days()).ok()?;
                // A hand-off in a skipped hour happens once the clock has jumped; in a
                // repeated hour, the first time.
                self.zone
                    .to_ambiguous_zoned_datetime(local)
                    .compatible()
                    .ok()
                    .map(|z| z.timestamp())
            }
            Turn::Hours(n) => {
                let first = self
                    .zone
                    .to_ambiguous_zoned_datetime(layer.start)
                    .compatible()
                    .ok()?;
                first
                    .timestamp()
                    .checked_add(SignedDuration::from_hours(k * i64::from(n)))
                    .ok()
            }
        }
    }

    /// The turn of `layer` running at `at` (negative before the layer starts).
    fn turn_at(&self, layer: &Layer, at: Timestamp) -> Option<i64> {
        let first = self.handoff(layer, 0)?;
        let estimate = match layer.turn {
            Turn::Days(n) => {
                let local = self.zone.to_datetime(at);
                let days = i64::from(layer.start.date().until(local.date()).ok()?.get_days());
                days.div_euclid(i64::from(n))
            }
            Turn::Hours(n) => {
                let hours = at.duration_since(first).as_hours();
                hours.div_euclid(i64::from(n))
            }
        };
        // The estimate is off by one around hand-off times and clock changes.
        let mut k = estimate;
        while self.handoff(layer, k)? > at {
            k -= 1;
        }
        while self.handoff(layer, k + 1)? <= at {
            k += 1;
        }
        Some(k)
    }

    /// Who a layer puts on call at `at`, if it is on.
    fn of_layer(&self, layer: &Layer, at: Timestamp) -> Option<String> {
        if let Some(restriction) = &layer.restriction
            && !restriction.allows(self.zone.to_datetime(at))
        {
            return None;
        }
        let k = self.turn_at(layer, at)?;
        if k < 0 {
            return None;
        }
        let count = i64::try_from(layer.people.len()).ok()?;
        let index = usize::try_from(k.rem_euclid(count)).ok()?;
        layer.people.get(index).cloned()
    }

    /// Who is on call at `at`: an override's person, else the last layer that is on; nobody
    /// when no layer is.
    pub fn on_call(&self, overrides: &[Override], at: Timestamp) -> Option<String> {
        if let Some(o) = overrides
            .iter()
            .rev()
            .find(|o| o.from <= at && at < o.until)
        {
            return Some(o.person.clone());
        }
        self.layers
            .iter()
            .rev()
            .find_map(|layer| self.of_layer(layer, at))
    }

    /// The times at or after `from` and before `until` when who is on call may change: each
    /// layer's hand-offs and restriction edges, and the overrides' edges. (The answer to
    /// "who is on call" is constant between consecutive ones.)
    pub fn changes(
        &self,
        overrides: &[Override],
        from: Timestamp,
        until: Timestamp,
    ) -> Vec<Timestamp> {
        let mut times = Vec::new();
        for layer in &self.layers {
            if let Some(restriction) = &layer.restriction {
                times.extend(self.restriction_edges(restriction, from, until));
            }
            if let Some(mut k) = self.turn_at(layer, from) {
                while let Some(at) = self.handoff(layer, k + 1) {
                    if at >= until {
                        break;
                    }
                    times.push(at);
                    k += 1;
                }
            }
        }
        for o in overrides {
            times.extend(
                [o.from, o.until]
                    .into_iter()
                    .filter(|t| *t >= from && *t < until),
            );
        }
        times.sort();
        times.dedup();
        times
    }
}

impl Rotation {
    /// The instants in `[from, until)` when `restriction` starts or ends letting its layer
    /// on, on the zone's wall clock (a day before `from` too: a stretch past midnight).
    fn restriction_edges(
        &self,
        restriction: &Restriction,
        from: Timestamp,
        until: Timestamp,
    ) -> Vec<Timestamp> {
        let mut edges = Vec::new();
        let (Ok(mut day), last) = (
            self.zone.to_datetime(from).date().yesterday(),
            self.zone.to_datetime(until).date(),
        ) else {
            return edges;
        };
        while day <= last {
            for time in [restriction.from, restriction.to] {
                edges.extend(
                    self.crossings(day.to_datetime(time))
                        .into_iter()
                        .filter(|at| from <= *at && *at < until),
                );
            }
            let Ok(next) = day.tomorrow() else { break };
            day = next;
        }
        edges
    }

    /// The instants the zone's wall clock passes `local`: once as a rule; twice when the
    /// clocks go back over it; and when they jump over it, the instant they jump.
    fn crossings(&self, local: DateTime) -> Vec<Timestamp> {
        let ambiguous = self.zone.to_ambiguous_timestamp(local);
        match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { .. } => {
                ambiguous.compatible().ok().into_iter().collect()
            }
            AmbiguousOffset::Fold { .. } => [ambiguous.earlier(), ambiguous.later()]
                .into_iter()
                .filter_map(Result::ok)
                .collect(),
            AmbiguousOffset::Gap { .. } => ambiguous
                .compatible()
                .ok()
                .and_then(|after| self.zone.preceding(after).next())
                .map(|jump| jump.timestamp())
                .into_iter()
                .collect(),
        }
    }

    /// Who is on call from `from` to `until`, as unbroken shifts in order; stretches with
    /// nobody on call are left out.
    pub fn shifts(&self, overrides: &[Override], from: Timestamp, until: Timestamp) -> Vec<Shift> {
        let mut edges = vec![from];
        edges.extend(
            self.changes(overrides, from, until)
                .into_iter()
                .filter(|t| *t > from),
        );
        edges.push(until);
        let mut shifts: Vec<Shift> = Vec::new();
        for pair in edges.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            let Some(person) = self.on_call(overrides, start) else {
                continue;
            };
            match shifts.last_mut() {
                Some(last) if last.until == start && last.person == person => last.until = end,
                _ => shifts.push(Shift {
                    person,
                    from: start,
                    until: end,
                }),
            }
        }
        shifts
    }
}

/// A stretch someone is on call without a break.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shift {
    pub person: String,
    pub from: Timestamp,
    pub until: Timestamp,
}

/// Checks an override.
pub fn check_override(o: &Override) -> Result<(), OnCallError> {
    if o.until > o.from {
        Ok(())
    } else {
        Err(OnCallError::Override)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    fn daily(people: &[&str], start: &str) -> Layer {
        Layer {
            people: people.iter().map(|p| (*p).to_owned()).collect(),
            start: start.parse().unwrap(),
            turn: Turn::Days(1),
            restriction: None,
        }
    }

    fn at(zone_name: &str, local: &str) -> Timestamp {
        let local: DateTime = local.parse().unwrap();
        zone(zone_name)
            .to_ambiguous_zoned_datetime(local)
            .compatible()
            .unwrap()
            .timestamp()
    }

    #[test]
    fn a_daily_handoff_stays_at_nine_across_the_clock_changes() {
        for name in ["Europe/London", "America/New_York"] {
            let rotation =
                Rotation::new(zone(name), vec![daily(&["ann", "ben"], "2026-01-01T09:00")])
                    .unwrap();
            // Europe/London springs forward on 29 March 2026, New York on 8 March.
            for (day, who) in [
                ("2026-03-07", "ben"),
                ("2026-03-08", "ann"),
                ("2026-03-29", "ben"),
                ("2026-03-30", "ann"),
            ] {
                let before = at(name, &format!("{day}T08:59:59"));
                let after = at(name, &format!("{day}T09:00"));
                let owner = rotation.on_call(&[], after).unwrap();
                assert_eq!(owner, who, "{name} {day}");
                assert_ne!(
                    rotation.on_call(&[], before).unwrap(),
                    owner,
                    "{name} {day}"
                );
            }
            // The turn across a change lasts 23 hours (spring) in either zone.
            let changes = rotation.changes(
                &[],
                at(name, "2026-03-01T00:00"),
                at(name, "2026-04-01T00:00"),
            );
            assert!(
                changes
                    .windows(2)
                    .any(|w| w[1].duration_since(w[0]) == SignedDuration::from_hours(23)),
                "{name}"
            );
            assert!(
                changes
                    .iter()
                    .all(|t| zone(name).to_datetime(*t).time() == Time::constant(9, 0, 0, 0))
            );
        }
    }

    #[test]
    fn later_layers_and_overrides_win_and_restrictions_leave_gaps() {
        let mut business = daily(&["dan"], "2026-01-05T00:00");
        business.restriction = Some(Restriction {
            days: vec![
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
            ],
            from: Time::constant(9, 0, 0, 0),
            to: Time::constant(17, 0, 0, 0),
        });
        let rotation = Rotation::new(
            zone("Europe/London"),
            vec![daily(&["ann"], "2026-01-01T00:00"), business.clone()],
        )
        .unwrap();
        assert_eq!(
            rotation
                .on_call(&[], at("Europe/London", "2026-03-02T10:00"))
                .unwrap(),
            "dan"
        );
        assert_eq!(
            rotation
                .on_call(&[], at("Europe/London", "2026-03-02T18:00"))
                .unwrap(),
            "ann"
        );
        assert_eq!(
            rotation
                .on_call(&[], at("Europe/London", "2026-03-07T10:00"))
                .unwrap(),
            "ann"
        );
        let cover = Override {
            person: "eve".into(),
            from: at("Europe/London", "2026-03-02T09:30"),
            until: at("Europe/London", "2026-03-02T12:00"),
        };
        assert_eq!(
            rotation
                .on_call(
                    std::slice::from_ref(&cover),
                    at("Europe/London", "2026-03-02T10:00")
                )
                .unwrap(),
            "eve"
        );
        let alone = Rotation::new(zone("Europe/London"), vec![business]).unwrap();
        assert_eq!(
            alone.on_call(&[], at("Europe/London", "2026-03-02T18:00")),
            None
        );
        assert_eq!(
            alone.on_call(&[], at("Europe/London", "2026-01-04T10:00")),
            None,
            "before it starts"
        );
        assert!(Rotation::new(zone("UTC"), vec![daily(&[], "2026-01-01T00:00")]).is_err());
    }

    #[test]
    fn a_business_hours_layer_ends_its_shift_at_five() {
        let mut layer = daily(&["ann", "ben"], "2026-01-05T09:00");
        layer.restriction = Some(Restriction {
            days: vec![Weekday::Monday, Weekday::Tuesday],
            from: Time::constant(9, 0, 0, 0),
            to: Time::constant(17, 0, 0, 0),
        });
        let rotation = Rotation::new(zone("Europe/London"), vec![layer]).unwrap();
        let shifts = rotation.shifts(
            &[],
            at("Europe/London", "2026-01-05T00:00"),
            at("Europe/London", "2026-01-08T00:00"),
        );
        let expected = [
            ("ann", "2026-01-05T09:00", "2026-01-05T17:00"),
            ("ben", "2026-01-06T09:00", "2026-01-06T17:00"),
        ];
        assert_eq!(shifts.len(), expected.len(), "{shifts:?}");
        for (shift, (person, from, until)) in shifts.iter().zip(expected) {
            assert_eq!(shift.person, person);
            assert_eq!(shift.from, at("Europe/London", from));
            assert_eq!(shift.until, at("Europe/London", until));
        }
    }

    #[test]
    fn a_restriction_ending_in_the_skipped_hour_ends_when_the_clocks_jump() {
        // Saturday 23:00 to Sunday 02:30 in New York; on 8 March 2026 the clocks jump from
        // 02:00 to 03:00, so the layer goes off at the jump.
        let mut night = daily(&["ann"], "2026-03-01T18:00");
        night.turn = Turn::Days(1);
        let mut late = daily(&["dee"], "2026-03-01T09:00");
        late.restriction = Some(Restriction {
            days: vec![Weekday::Saturday],
            from: Time::constant(23, 0, 0, 0),
            to: Time::constant(2, 30, 0, 0),
        });
        let rotation = Rotation::new(zone("America/New_York"), vec![night, late]).unwrap();
        let start = at("America/New_York", "2026-03-07T20:00");
        let end = at("America/New_York", "2026-03-08T12:00");
        let shifts = rotation.shifts(&[], start, end);
        let jump: Timestamp = "2026-03-08T07:00:00Z".parse().unwrap();
        let dee = shifts.iter().find(|s| s.person == "dee").unwrap();
        assert_eq!(dee.until, jump, "{shifts:?}");
        assert_eq!(rotation.on_call(&[], jump).as_deref(), Some("ann"));
    }

    proptest! {
        /// Shifts say exactly who `on_call` says at every instant, however layers,
        /// restrictions and overrides combine.
        #[test]
        fn shifts_agree_with_who_is_on_call_at_every_instant(
            days in 1u32..4,
            restricted in any::<bool>(),
            from_hour in 0i8..24,
            length in 1i8..23,
            cover in proptest::option::of((0i64..(24 * 20), 1i64..72)),
            probes in prop::collection::vec(0i64..(24 * 60 * 21), 20),
            london in any::<bool>(),
        ) {
            let name = if london { "Europe/London" } else { "America/New_York" };
            let mut night = daily(&["ann", "ben", "cy"], "2026-03-01T18:00");
            night.turn = Turn::Days(days);
            let mut day = daily(&["dee", "eve"], "2026-03-01T09:00");
            if restricted {
                day.restriction = Some(Restriction {
                    days: vec![Weekday::Monday, Weekday::Wednesday, Weekday::Saturday],
                    from: Time::constant(from_hour, 0, 0, 0),
                    to: Time::constant((from_hour + length) % 24, 30, 0, 0),
                });
            }
            let rotation = Rotation::new(zone(name), vec![night, day]).unwrap();
            let start = at(name, "2026-03-05T00:00");
            let minutes = |m: i64| start.checked_add(SignedDuration::from_mins(m)).unwrap();
            let overrides: Vec<Override> = cover
                .map(|(from, hours)| Override {
                    person: "zed".into(),
                    from: minutes(from * 60),
                    until: minutes((from + hours) * 60),
                })
                .into_iter()
                .collect();
            let end = minutes(24 * 60 * 21);
            let shifts = rotation.shifts(&overrides, start, end);
            for w in shifts.windows(2) {
                prop_assert!(w[0].until <= w[1].from);
                prop_assert!(w[0].until < w[1].from || w[0].person != w[1].person);
            }
            for probe in probes {
                let t = minutes(probe);
                let shift = shifts.iter().find(|s| s.from <= t && t < s.until);
                prop_assert_eq!(
                    shift.map(|s| s.person.clone()),
                    rotation.on_call(&overrides, t),
                    "at {}", t
                );
            }
        }

        #[test]
        fn someone_is_always_on_call_and_keeps_the_turn_until_the_next_handoff(
            people in 1usize..5,
            days in 1u32..8,
            hour in 0i8..24,
            offset_hours in 0i64..(24 * 400),
            london in any::<bool>(),
        ) {
            let name = if london { "Europe/London" } else { "America/New_York" };
            let names: Vec<String> = (0..people).map(|i| format!("p{i}")).collect();
            let layer = Layer {
                people: names.clone(),
                start: DateTime::constant(2026, 1, 1, hour, 0, 0, 0),
                turn: Turn::Days(days),
                restriction: None,
            };
            let rotation = Rotation::new(zone(name), vec![layer]).unwrap();
            let first = rotation.handoff(&rotation.layers[0], 0).unwrap();
            let t = first.checked_add(SignedDuration::from_hours(offset_hours)).unwrap();
            let who = rotation.on_call(&[], t);
            prop_assert!(who.as_ref().is_some_and(|w| names.contains(w)));
            let changes = rotation.changes(&[], t, t.checked_add(SignedDuration::from_hours(24 * 9)).unwrap());
            // Up to the next hand-off, nobody else; the hand-offs are days × 24 h apart,
            // give or take an hour for a clock change.
            if let Some(next) = changes.first() {
                let just_before = next.checked_sub(SignedDuration::from_secs(1)).unwrap();
                prop_assert_eq!(rotation.on_call(&[], just_before), who.clone());
            }
            for w in changes.windows(2) {
                let hours = w[1].duration_since(w[0]).as_hours();
                prop_assert!((hours - 24 * i64::from(days)).abs() <= 1, "{hours}");
            }
        }

        #[test]
        fn an_override_wins_for_exactly_its_time(start in 0i64..1000, length in 1i64..200, probe in 0i64..1400) {
            let rotation = Rotation::new(zone("Europe/London"), vec![daily(&["ann", "ben"], "2026-01-01T09:00")]).unwrap();
            let base = at("Europe/London", "2026-03-20T00:00");
            let hours = |h: i64| base.checked_add(SignedDuration::from_hours(h)).unwrap();
            let cover = Override { person: "eve".into(), from: hours(start), until: hours(start + length) };
            let t = hours(probe);
            let who = rotation.on_call(std::slice::from_ref(&cover), t).unwrap();
            prop_assert_eq!(who == "eve", t >= cover.from && t < cover.until);
        }
    }
}
