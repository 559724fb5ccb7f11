//! Security incidents: their severity and the runbook every one of them follows —
//! containment, eradication, recovery, lessons learned — as a fixed checklist.
//!
//! The phases are worked in order (eradicating what is not yet contained destroys evidence
//! and tips off the attacker), and an incident is resolved only when every item is done or
//! someone has written down why it may be resolved without.

use crate::string_enum;
use crate::ticket::{Impact, Urgency};

string_enum! {
    /// How bad a security incident is.
    pub enum Severity as "security severity" {
        /// A policy breach or a blocked attempt: no data or system affected.
        Low => "low",
        /// One system or account compromised, contained to it.
        Medium => "medium",
        /// Several systems or accounts, or personal data, at risk.
        High => "high",
        /// An active breach of critical systems or confirmed data loss.
        Critical => "critical",
    }
}

impl Severity {
    /// The impact and urgency the incident's ticket takes, and with them its priority.
    pub const fn impact_urgency(self) -> (Impact, Urgency) {
        match self {
            Severity::Low => (Impact::Low, Urgency::Low),
            Severity::Medium => (Impact::Medium, Urgency::Medium),
            Severity::High => (Impact::High, Urgency::Medium),
            Severity::Critical => (Impact::High, Urgency::High),
        }
    }
}

string_enum! {
    /// The phases of the incident-response runbook, in the order they are worked.
    pub enum Phase as "runbook phase" {
        /// Stop the spread: isolate what is affected, keep the evidence.
        Containment => "containment",
        /// Remove the cause: malware, the attacker's access, the weakness used.
        Eradication => "eradication",
        /// Bring systems and accounts back into service and watch them.
        Recovery => "recovery",
        /// Review what happened and what to change.
        LessonsLearned => "lessons_learned",
    }
}

/// One item of the runbook checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChecklistItem {
    /// Its key, `phase.item`, e.g. `containment.isolate_systems`.
    pub key: &'static str,
    pub phase: Phase,
}

/// Every item of the checklist, phase by phase.
pub const CHECKLIST: &[ChecklistItem] = &[
    item("containment.isolate_systems", Phase::Containment),
    item("containment.preserve_evidence", Phase::Containment),
    item("containment.disable_accounts", Phase::Containment),
    item("eradication.remove_cause", Phase::Eradication),
    item("eradication.close_entry_point", Phase::Eradication),
    item("recovery.restore_services", Phase::Recovery),
    item("recovery.reset_credentials", Phase::Recovery),
    item("recovery.monitor_recurrence", Phase::Recovery),
    item("lessons_learned.review_held", Phase::LessonsLearned),
    item("lessons_learned.actions_recorded", Phase::LessonsLearned),
];

const fn item(key: &'static str, phase: Phase) -> ChecklistItem {
    ChecklistItem { key, phase }
}

/// Why a checklist step or a resolution is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecklistError {
    #[error(
        "`{0}` is not a checklist item; items are phase.item, e.g. containment.isolate_systems"
    )]
    UnknownItem(String),
    #[error("`{item}` is already done")]
    AlreadyDone { item: &'static str },
    #[error("{phase} comes first: {missing} still to do")]
    EarlierPhaseOpen { phase: Phase, missing: &'static str },
    #[error(
        "the runbook is not finished ({missing} still to do); finish it or give an override reason"
    )]
    Unfinished { missing: &'static str },
    #[error("an override reason must be 10 to 1000 characters")]
    InvalidOverride,
}

impl ChecklistItem {
    /// The item called `key`.
    pub fn parse(key: &str) -> Result<ChecklistItem, ChecklistError> {
        CHECKLIST
            .iter()
            .copied()
            .find(|item| item.key == key)
            .ok_or_else(|| ChecklistError::UnknownItem(key.to_owned()))
    }
}

/// Whether `item` may be ticked now, `done` being the items already ticked: not twice, and
/// only once every item of the earlier phases is done.
pub fn may_tick(item: ChecklistItem, done: &[ChecklistItem]) -> Result<(), ChecklistError> {
    if done.contains(&item) {
        return Err(ChecklistError::AlreadyDone { item: item.key });
    }
    match first_open(done) {
        Some(open) if open.phase < item.phase => Err(ChecklistError::EarlierPhaseOpen {
            phase: open.phase,
            missing: open.key,
        }),
        _ => Ok(()),
    }
}

/// Whether the incident may be resolved: every item done, or an override on record.
pub fn may_resolve(done: &[ChecklistItem], overridden: bool) -> Result<(), ChecklistError> {
    match first_open(done) {
        Some(open) if !overridden => Err(ChecklistError::Unfinished { missing: open.key }),
        _ => Ok(()),
    }
}

/// The first item, in runbook order, not yet done.
pub fn first_open(done: &[ChecklistItem]) -> Option<ChecklistItem> {
    CHECKLIST.iter().copied().find(|item| !done.contains(item))
}

/// Why an incident may be resolved with its runbook unfinished, written for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideReason(String);

impl OverrideReason {
    pub fn parse(text: &str) -> Result<OverrideReason, ChecklistError> {
        let text = text.trim();
        if (10..=1000).contains(&text.chars().count()) {
            Ok(OverrideReason(text.to_owned()))
        } else {
            Err(ChecklistError::InvalidOverride)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn items(keys: &[&str]) -> Vec<ChecklistItem> {
        keys.iter()
            .filter_map(|key| ChecklistItem::parse(key).ok())
            .collect()
    }

    #[test]
    fn every_phase_has_items_and_keys_name_their_phase() {
        for phase in Phase::ALL {
            assert!(CHECKLIST.iter().any(|item| item.phase == *phase));
        }
        for item in CHECKLIST {
            assert!(item.key.starts_with(&format!("{}.", item.phase)));
        }
    }

    #[test]
    fn phases_are_worked_in_order() {
        let first = ChecklistItem::parse("containment.isolate_systems");
        assert_eq!(first.map(|i| may_tick(i, &[])), Ok(Ok(())));
        let later = ChecklistItem::parse("eradication.remove_cause");
        assert_eq!(
            later
                .clone()
                .map(|i| may_tick(i, &items(&["containment.isolate_systems"]))),
            Ok(Err(ChecklistError::EarlierPhaseOpen {
                phase: Phase::Containment,
                missing: "containment.preserve_evidence",
            }))
        );
        let contained = items(&[
            "containment.isolate_systems",
            "containment.preserve_evidence",
            "containment.disable_accounts",
        ]);
        assert_eq!(later.map(|i| may_tick(i, &contained)), Ok(Ok(())));
        // Items of the same phase go in any order.
        let same = ChecklistItem::parse("containment.disable_accounts");
        assert_eq!(same.map(|i| may_tick(i, &[])), Ok(Ok(())));
    }

    #[test]
    fn an_item_is_ticked_once_and_unknown_items_are_named() {
        let done = items(&["containment.isolate_systems"]);
        assert_eq!(
            may_tick(done[0], &done),
            Err(ChecklistError::AlreadyDone {
                item: "containment.isolate_systems"
            })
        );
        assert_eq!(
            ChecklistItem::parse("containment.panic"),
            Err(ChecklistError::UnknownItem("containment.panic".into()))
        );
    }

    #[test]
    fn resolving_needs_the_whole_runbook_or_an_override() {
        assert_eq!(
            may_resolve(&[], false),
            Err(ChecklistError::Unfinished {
                missing: "containment.isolate_systems"
            })
        );
        assert_eq!(may_resolve(&[], true), Ok(()));
        assert_eq!(may_resolve(CHECKLIST, false), Ok(()));
        assert!(OverrideReason::parse("  too short ").is_err());
        assert_eq!(
            OverrideReason::parse(" false positive: a pen test ").map(|r| r.as_str().to_owned()),
            Ok("false positive: a pen test".to_owned())
        );
    }

    #[test]
    fn severity_sets_priority_inputs() {
        assert_eq!(
            Severity::Critical.impact_urgency(),
            (Impact::High, Urgency::High)
        );
        assert_eq!(Severity::Low.impact_urgency(), (Impact::Low, Urgency::Low));
    }

    proptest! {
        /// However items are ticked, following the rule never lets a later phase start
        /// while an earlier one is open, and ticking every item in order always works.
        #[test]
        fn ticking_by_the_rules_keeps_phases_in_order(order in Just(CHECKLIST.to_vec()).prop_shuffle()) {
            let mut done = Vec::new();
            for item in order {
                if may_tick(item, &done).is_ok() {
                    prop_assert!(CHECKLIST
                        .iter()
                        .filter(|earlier| earlier.phase < item.phase)
                        .all(|earlier| done.contains(earlier)));
                    done.push(item);
                }
            }
            for item in CHECKLIST {
                if !done.contains(item) {
                    prop_assert!(may_tick(*item, &done).is_ok());
                    done.push(*item);
                }
            }
            prop_assert_eq!(may_resolve(&done, false), Ok(()));
        }
    }
}
