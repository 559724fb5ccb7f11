//! Properties of the monitor state machine: streak thresholds, flapping and alerts.

use opsdesk_domain::monitor::{Alert, CheckState, Suppression, Thresholds, alert};
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
