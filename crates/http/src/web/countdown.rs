//! SLA countdowns in the agent console: where each of a ticket's clocks stands, rendered on
//! the server from the ticket's `sla` view (no extra queries), with what the script needs to
//! tick running ones between reloads.

use opsdesk_app::sla::TicketSla;
use opsdesk_app::tickets::Ticket;

use super::Lang;

/// How a clock stands, as the console colours and words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClockState {
    /// Running with time left before the policy's first warning.
    OnTrack,
    /// Running past the policy's first warning threshold.
    Warning,
    /// The target was exceeded and not met in time.
    Breached,
    /// Standing still in a pausing status.
    Paused,
    /// Not counting and never met: the ticket was cancelled or closed without it.
    Stopped,
    /// The goal was reached (reply sent, ticket resolved).
    Met,
}

impl ClockState {
    /// The CSS class suffix; the script uses the same names.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ClockState::OnTrack => "on_track",
            ClockState::Warning => "warning",
            ClockState::Breached => "breached",
            ClockState::Paused => "paused",
            ClockState::Stopped => "stopped",
            ClockState::Met => "met",
        }
    }
}

/// One SLA clock of a ticket as the console shows it.
pub(crate) struct Countdown {
    /// `response` or `resolution`.
    pub clock: &'static str,
    pub state: ClockState,
    /// Business seconds left; negative once breached.
    pub left: i64,
    /// Business seconds left when the policy's first warning is due; `None` without warnings.
    pub warn_left: Option<i64>,
    /// For how many seconds from now business time passes like wall time, when the clock
    /// counts right now: how far the script may tick it without asking the server.
    pub counting: Option<i64>,
    /// A met clock that had been breached first.
    late: bool,
}

/// One clock's facts, picked out of the ticket's SLA view.
struct Facts {
    clock: &'static str,
    left: i64,
    target: i64,
    running: bool,
    met: bool,
    breached: bool,
}

impl Countdown {
    /// A ticket's countdowns as of `now`; none when no policy covers it.
    pub(crate) fn of_ticket(ticket: &Ticket, now: jiff::Timestamp) -> Vec<Countdown> {
        ticket
            .sla
            .as_ref()
            .map(|sla| Countdown::of(sla, now))
            .unwrap_or_default()
    }

    /// The response and resolution countdowns of a ticket's SLA, as of `now`.
    pub(crate) fn of(sla: &TicketSla, now: jiff::Timestamp) -> Vec<Countdown> {
        let clocks = [
            Facts {
                clock: "response",
                left: sla.remaining_business_seconds.response,
                target: sla.target_business_seconds.response,
                running: sla.response_due_at.is_some(),
                met: sla.response_met_at.is_some(),
                breached: sla.breached.response,
            },
            Facts {
                clock: "resolution",
                left: sla.remaining_business_seconds.resolution,
                target: sla.target_business_seconds.resolution,
                running: sla.resolution_due_at.is_some(),
                met: sla.resolution_met_at.is_some(),
                breached: sla.breached.resolution,
            },
        ];
        let working = sla
            .working_until
            .map(|until| until.duration_since(now).as_secs().max(0));
        clocks
            .into_iter()
            .map(|facts| {
                // The sweeper warns once this share of the target is used; same arithmetic.
                let warn_left = sla
                    .warning_percents
                    .first()
                    .map(|percent| facts.target - facts.target * i64::from(*percent) / 100);
                let state = if facts.met {
                    ClockState::Met
                } else if facts.left < 0 || facts.breached {
                    ClockState::Breached
                } else if !facts.running {
                    if sla.paused {
                        ClockState::Paused
                    } else {
                        ClockState::Stopped
                    }
                } else if warn_left.is_some_and(|warn| facts.left <= warn) {
                    ClockState::Warning
                } else {
                    ClockState::OnTrack
                };
                // A breach recorded before the target was raised leaves time "left" that
                // must not count down to a second breach, so only that case stands still.
                let ticks = facts.running && !facts.met && !(facts.breached && facts.left > 0);
                Countdown {
                    clock: facts.clock,
                    state,
                    left: facts.left,
                    warn_left,
                    counting: working.filter(|_| ticks),
                    late: facts.met && facts.breached,
                }
            })
            .collect()
    }

    /// What the countdown says, so that colour is never the only signal.
    pub(crate) fn text(&self, l: &Lang) -> String {
        let with_span = |key: &str, seconds: i64| l.t(key).replace("{time}", &l.span(seconds));
        match self.state {
            ClockState::OnTrack => with_span("sla.left", self.left),
            ClockState::Warning => with_span("sla.due_soon", self.left),
            ClockState::Breached if self.left < 0 => with_span("sla.breached_ago", -self.left),
            ClockState::Breached => l.t("sla.breached").to_owned(),
            ClockState::Paused => with_span("sla.paused", self.left),
            ClockState::Stopped => l.t("sla.stopped").to_owned(),
            ClockState::Met if self.late => l.t("sla.met_late").to_owned(),
            ClockState::Met => l.t("sla.met").to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use opsdesk_app::sla::PerClock;

    fn at(second: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    /// A running ticket under a 75 % warning, one hour per target, in working hours.
    fn running(left: i64) -> TicketSla {
        TicketSla {
            policy: "Default".into(),
            response_due_at: Some(at(left)),
            resolution_due_at: Some(at(left)),
            response_met_at: None,
            resolution_met_at: None,
            paused: false,
            breached: PerClock {
                response: left < 0,
                resolution: left < 0,
            },
            remaining_business_seconds: PerClock {
                response: left,
                resolution: left,
            },
            target_business_seconds: PerClock {
                response: 3600,
                resolution: 3600,
            },
            warning_percents: vec![75, 90],
            working_until: Some(at(7200)),
        }
    }

    fn response(sla: &TicketSla) -> Countdown {
        Countdown::of(sla, at(0)).remove(0)
    }

    #[test]
    fn clocks_turn_amber_at_the_first_warning_and_red_when_breached() {
        let l = Lang;
        let cases = [
            (4800, ClockState::OnTrack, "1 h 20 m left"),
            (901, ClockState::OnTrack, "16 m left"),
            (900, ClockState::Warning, "15 m left, due soon"),
            (30, ClockState::Warning, "1 m left, due soon"),
            (-720, ClockState::Breached, "breached 12 m ago"),
        ];
        for (left, state, text) in cases {
            let countdown = response(&running(left));
            assert_eq!(countdown.state, state, "{left} s left");
            assert_eq!(countdown.text(&l), text);
            assert_eq!(countdown.counting, Some(7200), "a running clock ticks");
        }
    }

    #[test]
    fn met_paused_and_stopped_clocks_are_neutral_and_do_not_tick() {
        let l = Lang;
        let mut met = running(-60);
        met.response_met_at = Some(at(0));
        met.response_due_at = None;
        let countdown = response(&met);
        assert_eq!(
            (countdown.state, countdown.text(&l).as_str()),
            (ClockState::Met, "met late")
        );
        assert_eq!(countdown.counting, None);

        let mut paused = running(600);
        paused.response_due_at = None;
        paused.paused = true;
        let countdown = response(&paused);
        assert_eq!(countdown.state, ClockState::Paused);
        assert_eq!(countdown.text(&l), "paused, 10 m left");
        assert_eq!(countdown.counting, None);

        paused.paused = false;
        assert_eq!(response(&paused).text(&l), "stopped");
    }

    #[test]
    fn outside_working_hours_nothing_ticks() {
        let mut closed = running(600);
        closed.working_until = None;
        assert_eq!(response(&closed).counting, None);
        assert_eq!(response(&closed).state, ClockState::Warning);
    }
}
