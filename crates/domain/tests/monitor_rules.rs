//! Properties of the monitor state machine: streak thresholds, flapping, alerts, and how
//! often an outage's failures are noted on its incident.

use opsdesk_domain::monitor::{
    Alert, CheckState, FailureNote, FailureNotes, LastFailureNote, Suppression, Thresholds, alert,
};
use proptest::prelude::*;

fn thresholds() -> impl Strategy<Value = Thresholds> {
    (1u32..6, 1u32..6).prop_map(|(down_after, up_after)| Thresholds {
        down_after,
        up_after,
        ..Thresholds::default()
    })
}

proptest! {
    /// Driving the outage with `alert` after every result never opens a second outage
    /// while one is open, and never resolves one that is not.
    #[test]
    fn outages_open_and_resolve_alternately(results in prop::collection::vec(any::<bool>(), 0..200), t in thresholds()) {
        let mut state = CheckState::default();
        let mut open = false;
        for ok in results {
            state = state.observe(ok, t);
            match alert(&state, open, Suppression::default()) {
                Alert::Open => { prop_assert!(!open); prop_assert_eq!(state.up, Some(false)); open = true; }
                Alert::Resolve => { prop_assert!(open); prop_assert_eq!(state.up, Some(true)); open = false; }
                Alert::Hold => {}
            }
        }
    }

    /// A monitor is down exactly when its last `down_after` results failed, once decided.
    #[test]
    fn down_needs_consecutive_failures(results in prop::collection::vec(any::<bool>(), 1..100), t in thresholds()) {
        let state = results.iter().fold(CheckState::default(), |s, ok| s.observe(*ok, t));
        let tail_failures = results.iter().rev().take_while(|ok| !**ok).count() as u32;
        if tail_failures >= t.down_after {
            prop_assert_eq!(state.up, Some(false));
        }
        let tail_successes = results.iter().rev().take_while(|ok| **ok).count() as u32;
        if tail_successes >= t.up_after {
            prop_assert_eq!(state.up, Some(true));
        }
    }

    /// A steady target never flaps.
    #[test]
    fn steady_results_never_flap(ok in any::<bool>(), n in 1usize..100) {
        let state = (0..n).fold(CheckState::default(), |s, _| s.observe(ok, Thresholds::default()));
        prop_assert!(!state.flapping);
    }

    /// However the results come, maintenance never opens an outage.
    #[test]
    fn maintenance_never_opens(results in prop::collection::vec(any::<bool>(), 0..60)) {
        let state = results.iter().fold(CheckState::default(), |s, ok| s.observe(*ok, Thresholds::default()));
        let held = Suppression { maintenance: true, dependency_down: false };
        prop_assert_ne!(alert(&state, false, held), Alert::Open);
    }
}

/// Feeds a failure every `interval_ms` with the given errors through [`FailureNotes`], as
/// the application does, and returns the notes written with when they were written.
fn notes_for(rule: FailureNotes, interval_ms: i64, errors: &[u8]) -> Vec<(i64, FailureNote)> {
    let mut last = LastFailureNote {
        at: None,
        outage_started_at: 0,
        error: Some("error 0".to_owned()),
        failures: 1,
    };
    let mut notes = Vec::new();
    for (i, code) in errors.iter().enumerate() {
        let failures = i as i64 + 2;
        let now = (i as i64 + 1) * interval_ms;
        let error = format!("error {code}");
        if let Some(note) = rule.due(&last, failures, now, Some(&error)) {
            notes.push((now, note));
            last = LastFailureNote {
                at: Some(now),
                error: Some(error),
                failures,
                ..last
            };
        }
    }
    notes
}

proptest! {
    /// However the errors come, notes after the first are at least the minimum gap apart,
    /// and together they account for every failure up to the last one exactly once.
    #[test]
    fn failure_notes_are_spaced_and_count_each_failure_once(
        errors in prop::collection::vec(0u8..3, 1..2_000),
        interval_ms in prop::sample::select(vec![1_000i64, 5_000, 60_000]),
    ) {
        let rule = FailureNotes::default();
        let notes = notes_for(rule, interval_ms, &errors);
        for pair in notes.windows(2) {
            prop_assert!(pair[1].0 - pair[0].0 >= rule.min_gap_ms, "{pair:?}");
            prop_assert_eq!(pair[1].1.since, pair[0].0);
        }
        if let Some((_, first)) = notes.first() {
            prop_assert_eq!(first.since, 0);
        }
        let counted: i64 = notes.iter().map(|(_, note)| note.failures).sum();
        // The failure at `at` is the outage's `at / interval_ms + 1`th; the first is the
        // incident's own.
        let accounted = notes.last().map_or(0, |(at, _)| at / interval_ms);
        prop_assert_eq!(counted, accounted);
    }

    /// A steady error is noted once per repeat interval, never more often, never less.
    #[test]
    fn a_steady_error_is_noted_every_repeat_interval(
        checks in 1usize..3_000,
        interval_ms in prop::sample::select(vec![1_000i64, 7_000, 60_000]),
    ) {
        let rule = FailureNotes::default();
        let notes = notes_for(rule, interval_ms, &vec![0; checks]);
        let mut previous = 0;
        for (at, _) in &notes {
            prop_assert!(*at - previous >= rule.repeat_ms);
            prop_assert!(*at - previous < rule.repeat_ms + interval_ms);
            previous = *at;
        }
        let end = checks as i64 * interval_ms;
        prop_assert!(end - previous < rule.repeat_ms);
    }
}
