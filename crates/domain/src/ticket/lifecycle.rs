//! The status lifecycle: statuses, resolutions, the one transition function and the
//! rules for customer replies and automatic closing.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{NameError, parse_name, string_newtype};
use crate::string_enum;

string_enum! {
    /// Where a ticket is in its lifecycle. The full state, with the pending reason and
    /// the resolution, is [`Lifecycle`].
    pub enum TicketStatus as "ticket status" {
        /// Logged, nobody has looked at it yet.
        New => "new",
        /// Being worked on.
        Open => "open",
        /// Waiting on someone outside the group; SLA clocks usually pause.
        Pending => "pending",
        /// The agent believes it is fixed; the requester can still reopen it.
        Resolved => "resolved",
        /// Final: resolved and confirmed or aged out.
        Closed => "closed",
        /// Final: withdrawn or raised in error, never resolved.
        Cancelled => "cancelled",
    }
}

impl TicketStatus {
    /// Whether work is still expected: new, open or pending.
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            TicketStatus::New | TicketStatus::Open | TicketStatus::Pending
        )
    }

    /// Whether no further transition is possible: closed or cancelled.
    pub const fn is_final(self) -> bool {
        matches!(self, TicketStatus::Closed | TicketStatus::Cancelled)
    }
}

string_enum! {
    /// Whom a pending ticket waits for.
    pub enum PendingReason as "pending reason" {
        /// The requester must answer; their reply reopens the ticket.
        Customer => "customer",
        /// A vendor or other outside party.
        ThirdParty => "third_party",
        /// A scheduled change must be carried out first.
        Change => "change",
    }
}

/// A resolution code such as `fixed`, `workaround` or `duplicate`: lowercase `a-z`,
/// `0-9`, `-`, `_`, at most 50 characters.
///
/// Codes are a validated name rather than a fixed enum because every service desk reports
/// on its own set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResolutionCode(String);

impl ResolutionCode {
    /// The longest code, in characters.
    pub const MAX_CHARS: usize = 50;

    /// Validates and normalizes a resolution code.
    pub fn parse(raw: &str) -> Result<ResolutionCode, NameError> {
        parse_name(
            raw,
            "resolution code",
            Self::MAX_CHARS,
            "a-z, 0-9, `-` and `_`",
            |_, c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'),
        )
        .map(ResolutionCode)
    }
}

string_newtype!(ResolutionCode, NameError);

/// Why a resolution note was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolutionNoteError {
    /// Nothing left after trimming; omit the note instead.
    #[error("resolution note is empty; omit it instead")]
    Empty,
    /// Longer than [`ResolutionNote::MAX_CHARS`].
    #[error("resolution note is {len} characters long; the limit is {max}")]
    TooLong {
        /// The length after trimming.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Free text explaining a resolution, trimmed, 1..=5000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolutionNote(String);

impl ResolutionNote {
    /// The longest note, in characters.
    pub const MAX_CHARS: usize = 5000;

    /// Validates and trims a note.
    pub fn parse(raw: &str) -> Result<ResolutionNote, ResolutionNoteError> {
        let note = raw.trim();
        if note.is_empty() {
            return Err(ResolutionNoteError::Empty);
        }
        let len = note.chars().count();
        if len > Self::MAX_CHARS {
            return Err(ResolutionNoteError::TooLong {
                len,
                max: Self::MAX_CHARS,
            });
        }
        Ok(ResolutionNote(note.to_owned()))
    }
}

string_newtype!(ResolutionNote, ResolutionNoteError);

/// The full lifecycle state of a ticket.
///
/// The data a state needs lives inside its variant, so a pending ticket always has a
/// reason and a resolved or closed ticket always has a resolution code. Change it only
/// through [`transition`]. Serialized as `{"status": "pending", "reason": "customer"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Lifecycle {
    /// Logged, not yet picked up.
    New,
    /// Being worked on.
    Open,
    /// Waiting for someone outside the group.
    Pending {
        /// Whom the ticket waits for.
        reason: PendingReason,
    },
    /// Believed fixed.
    Resolved {
        /// How it was resolved.
        resolution: ResolutionCode,
        /// Optional explanation for the requester and for reporting.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<ResolutionNote>,
    },
    /// Final; keeps the resolution it was closed with.
    Closed {
        /// How it was resolved.
        resolution: ResolutionCode,
        /// The resolution note, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<ResolutionNote>,
    },
    /// Final; withdrawn without a resolution.
    Cancelled,
}

impl Lifecycle {
    /// The state of `status`, asking for what it needs only when it needs it: the pending
    /// reason of a pending ticket, the resolution of a resolved or closed one.
    pub fn of<E>(
        status: TicketStatus,
        reason: impl FnOnce() -> Result<PendingReason, E>,
        resolution: impl FnOnce() -> Result<(ResolutionCode, Option<ResolutionNote>), E>,
    ) -> Result<Lifecycle, E> {
        Ok(match status {
            TicketStatus::New => Lifecycle::New,
            TicketStatus::Open => Lifecycle::Open,
            TicketStatus::Pending => Lifecycle::Pending { reason: reason()? },
            TicketStatus::Resolved => {
                let (resolution, note) = resolution()?;
                Lifecycle::Resolved { resolution, note }
            }
            TicketStatus::Closed => {
                let (resolution, note) = resolution()?;
                Lifecycle::Closed { resolution, note }
            }
            TicketStatus::Cancelled => Lifecycle::Cancelled,
        })
    }

    /// The status this state belongs to.
    pub const fn status(&self) -> TicketStatus {
        match self {
            Lifecycle::New => TicketStatus::New,
            Lifecycle::Open => TicketStatus::Open,
            Lifecycle::Pending { .. } => TicketStatus::Pending,
            Lifecycle::Resolved { .. } => TicketStatus::Resolved,
            Lifecycle::Closed { .. } => TicketStatus::Closed,
            Lifecycle::Cancelled => TicketStatus::Cancelled,
        }
    }

    /// The pending reason, when pending.
    pub const fn pending_reason(&self) -> Option<PendingReason> {
        match self {
            Lifecycle::Pending { reason } => Some(*reason),
            _ => None,
        }
    }

    /// The resolution code, when resolved or closed.
    pub const fn resolution(&self) -> Option<&ResolutionCode> {
        match self {
            Lifecycle::Resolved { resolution, .. } | Lifecycle::Closed { resolution, .. } => {
                Some(resolution)
            }
            _ => None,
        }
    }
}

/// A requested status change, carrying what the target state needs.
///
/// Serialized like [`Lifecycle`]: `{"status": "resolved", "resolution": "fixed"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StatusChange {
    /// Start work, resume after pending, or reopen a resolved ticket.
    Open,
    /// Wait for someone; changing the reason of a pending ticket is allowed.
    Pending {
        /// Whom the ticket will wait for.
        reason: PendingReason,
    },
    /// Mark as fixed.
    Resolved {
        /// How it was resolved.
        resolution: ResolutionCode,
        /// Optional explanation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<ResolutionNote>,
    },
    /// Close a resolved ticket for good.
    Closed,
    /// Withdraw a ticket that was never resolved.
    Cancelled,
}

impl StatusChange {
    /// The status this change leads to.
    pub const fn target(&self) -> TicketStatus {
        match self {
            StatusChange::Open => TicketStatus::Open,
            StatusChange::Pending { .. } => TicketStatus::Pending,
            StatusChange::Resolved { .. } => TicketStatus::Resolved,
            StatusChange::Closed => TicketStatus::Closed,
            StatusChange::Cancelled => TicketStatus::Cancelled,
        }
    }
}

/// The article-prefixed status for messages: "a closed ticket", "an open ticket".
fn a_status(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::New => "a new",
        TicketStatus::Open => "an open",
        TicketStatus::Pending => "a pending",
        TicketStatus::Resolved => "a resolved",
        TicketStatus::Closed => "a closed",
        TicketStatus::Cancelled => "a cancelled",
    }
}

/// Why a status change is not allowed. Maps to HTTP 409.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// Closed and cancelled tickets never change again; open a new ticket instead.
    #[error("cannot move {} ticket to {to}: {from} tickets are final", a_status(*.from))]
    Final {
        /// The current, final status.
        from: TicketStatus,
        /// The requested status.
        to: TicketStatus,
    },
    /// Closing is the confirmation of a resolution, so there must be one.
    #[error("cannot move {} ticket to closed: only resolved tickets can be closed", a_status(*.from))]
    CloseUnresolved {
        /// The current status.
        from: TicketStatus,
    },
    /// A resolved ticket has been worked; withdrawing it would lose that record.
    #[error("cannot move a resolved ticket to cancelled: reopen it or close it instead")]
    CancelResolved,
    /// Resolved tickets go back to work only by reopening.
    #[error("cannot move a resolved ticket to {to}: reopen it first")]
    NotReopened {
        /// The requested status.
        to: TicketStatus,
    },
    /// Moving to the state the ticket is already in is almost always a stale client.
    #[error("the ticket is already {status}")]
    Unchanged {
        /// The current status.
        status: TicketStatus,
    },
}

/// The one place ticket status changes are decided.
///
/// Allowed: new → open, pending, resolved, cancelled; open ↔ pending; open or pending →
/// resolved or cancelled; pending → pending with a different reason; resolved → open
/// (reopen) or closed. Closed and cancelled are final.
pub fn transition(from: &Lifecycle, change: StatusChange) -> Result<Lifecycle, TransitionError> {
    let status = from.status();
    let to = change.target();
    if status.is_final() {
        return Err(TransitionError::Final { from: status, to });
    }
    match (from, change) {
        (Lifecycle::Pending { reason: old }, StatusChange::Pending { reason })
            if *old == reason =>
        {
            Err(TransitionError::Unchanged { status })
        }
        (Lifecycle::Open, StatusChange::Open)
        | (Lifecycle::Resolved { .. }, StatusChange::Resolved { .. }) => {
            Err(TransitionError::Unchanged { status })
        }
        (Lifecycle::Resolved { resolution, note }, StatusChange::Closed) => Ok(Lifecycle::Closed {
            resolution: resolution.clone(),
            note: note.clone(),
        }),
        (_, StatusChange::Closed) => Err(TransitionError::CloseUnresolved { from: status }),
        (Lifecycle::Resolved { .. }, StatusChange::Cancelled) => {
            Err(TransitionError::CancelResolved)
        }
        (Lifecycle::Resolved { .. }, StatusChange::Pending { .. }) => {
            Err(TransitionError::NotReopened { to })
        }
        (_, StatusChange::Open) => Ok(Lifecycle::Open),
        (_, StatusChange::Pending { reason }) => Ok(Lifecycle::Pending { reason }),
        (_, StatusChange::Resolved { resolution, note }) => {
            Ok(Lifecycle::Resolved { resolution, note })
        }
        (_, StatusChange::Cancelled) => Ok(Lifecycle::Cancelled),
    }
}

/// The state a requester's reply moves the ticket to, or `None` when it stays put.
///
/// A reply reopens a resolved ticket (the fix did not work) and resumes a ticket that was
/// pending on the customer (the wait is over). Other states are unchanged; a reply to a
/// closed ticket should start a new ticket, which is the caller's decision.
pub fn on_customer_reply(current: &Lifecycle) -> Option<Lifecycle> {
    match current {
        Lifecycle::Resolved { .. }
        | Lifecycle::Pending {
            reason: PendingReason::Customer,
        } => transition(current, StatusChange::Open).ok(),
        _ => None,
    }
}

/// Whether a ticket resolved at `resolved_at` is due to be closed automatically at `now`,
/// after `after_days` full days (of 24 hours). `after_days = 0` means due at once.
pub fn auto_close_due(resolved_at: Timestamp, now: Timestamp, after_days: u32) -> bool {
    const NANOS_PER_DAY: i128 = 86_400 * 1_000_000_000;
    // i128 nanoseconds cannot overflow for any pair of jiff timestamps and u32 days.
    now.as_nanosecond() - resolved_at.as_nanosecond() >= i128::from(after_days) * NANOS_PER_DAY
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn auto_close_counts_full_days() {
        let resolved: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let almost: Timestamp = "2026-03-04T09:59:59.999Z".parse().unwrap();
        let exactly: Timestamp = "2026-03-04T10:00:00Z".parse().unwrap();
        assert!(!auto_close_due(resolved, almost, 3));
        assert!(auto_close_due(resolved, exactly, 3));
        assert!(auto_close_due(resolved, resolved, 0));
        assert!(!auto_close_due(resolved, Timestamp::MIN, 0));
        // Extremes must neither overflow nor wrap around.
        assert!(auto_close_due(Timestamp::MIN, Timestamp::MAX, 7_000_000));
        assert!(!auto_close_due(Timestamp::MIN, Timestamp::MAX, u32::MAX));
        assert!(!auto_close_due(Timestamp::MAX, Timestamp::MIN, 0));
    }
}
