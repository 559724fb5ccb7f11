//! Changes to production (`CHG-n`): their types and states, the risk questionnaire, the
//! approval tally of a change advisory board, and the conflicts of a planned window with
//! other changes, freeze periods and people.
//!
//! Times are integer milliseconds (UTC), as stored; windows are half-open `[start, end)`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::monitor::MaintenanceWindow;
use crate::string_enum;

string_enum! {
    /// How a change is approved.
    pub enum ChangeType as "change type" {
        /// From a pre-approved template: approved as soon as it is submitted.
        Standard => "standard",
        /// Assessed, then approved by the template's board.
        Normal => "normal",
        /// Implemented at once; its board approves it afterwards.
        Emergency => "emergency",
    }
}

string_enum! {
    /// Where a change stands.
    pub enum ChangeState as "change state" {
        Draft => "draft",
        Assessment => "assessment",
        Approval => "approval",
        Scheduled => "scheduled",
        Implementing => "implementing",
        Review => "review",
        Closed => "closed",
        Rejected => "rejected",
        Cancelled => "cancelled",
        Failed => "failed",
    }
}

string_enum! {
    /// Where a change's approval stands, apart from its state: an emergency change is
    /// implemented while its approval is still pending.
    pub enum ApprovalStatus as "approval status" {
        /// Not asked for yet.
        NotRequested => "not_requested",
        Pending => "pending",
        Approved => "approved",
        Rejected => "rejected",
    }
}

string_enum! {
    pub enum RiskLevel as "risk level" {
        Low => "low",
        Medium => "medium",
        High => "high",
    }
}

string_enum! {
    /// What a freeze period stops.
    pub enum FreezeKind as "freeze kind" {
        /// No standard or normal change; emergencies still go ahead.
        Freeze => "freeze",
        /// No change at all.
        Blackout => "blackout",
    }
}

impl ChangeState {
    /// A change in this state is over: nothing moves it again.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            ChangeState::Closed
                | ChangeState::Rejected
                | ChangeState::Cancelled
                | ChangeState::Failed
        )
    }

    /// Whether a change in this state holds its window on the calendar: planned, on its way
    /// to approval, or happening. A draft is not a plan yet; a finished change is history.
    pub const fn is_planned(self) -> bool {
        matches!(
            self,
            ChangeState::Assessment
                | ChangeState::Approval
                | ChangeState::Scheduled
                | ChangeState::Implementing
        )
    }
}

/// Why a change may not move to a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeTransitionError {
    #[error("a {kind} change cannot go from {from} to {to}")]
    NotAllowed {
        kind: ChangeType,
        from: ChangeState,
        to: ChangeState,
    },
    #[error("a change is scheduled when its approvers approve it, not by hand")]
    NeedsApproval,
    #[error("an emergency change is closed once its board has decided on it")]
    ApprovalPending,
    #[error("a change needs a planned window before it leaves draft")]
    NoWindow,
}

/// The states a change of `kind` goes to when its owner submits it from draft.
pub const fn submitted_state(kind: ChangeType) -> ChangeState {
    match kind {
        ChangeType::Standard => ChangeState::Scheduled,
        ChangeType::Normal => ChangeState::Assessment,
        ChangeType::Emergency => ChangeState::Approval,
    }
}

/// Whether a person may move a change of `kind` from `from` to `to`, given where its
/// approval stands and whether it has a window. The moves the approval makes itself
/// (approval → scheduled or rejected) are [`decided_state`].
pub fn transition(
    kind: ChangeType,
    from: ChangeState,
    to: ChangeState,
    approval: ApprovalStatus,
    has_window: bool,
) -> Result<(), ChangeTransitionError> {
    use ChangeState as S;
    let not_allowed = ChangeTransitionError::NotAllowed { kind, from, to };
    if from == S::Draft && to != S::Cancelled && !has_window {
        return Err(ChangeTransitionError::NoWindow);
    }
    let allowed = match (from, to) {
        (S::Draft, to) => to == submitted_state(kind) || to == S::Cancelled,
        (S::Assessment, S::Approval) => kind == ChangeType::Normal,
        (S::Assessment, S::Draft | S::Cancelled) => true,
        (S::Approval, S::Scheduled) => {
            return if approval == ApprovalStatus::Approved {
                Ok(())
            } else {
                Err(ChangeTransitionError::NeedsApproval)
            };
        }
        (S::Approval, S::Implementing) => kind == ChangeType::Emergency,
        (S::Approval, S::Cancelled) => true,
        // A new plan is assessed and approved again.
        (S::Scheduled, S::Assessment) => kind == ChangeType::Normal,
        (S::Scheduled, S::Implementing | S::Cancelled) => true,
        (S::Implementing, S::Review | S::Failed) => true,
        (S::Review, S::Closed) => {
            return if approval == ApprovalStatus::Pending {
                Err(ChangeTransitionError::ApprovalPending)
            } else {
                Ok(())
            };
        }
        _ => false,
    };
    if allowed { Ok(()) } else { Err(not_allowed) }
}

/// Where a change in `state` goes when its approval is decided: a change waiting for its
/// approval is scheduled or rejected; an emergency change already under way stays where it
/// is (its decision is recorded beside it).
pub fn decided_state(state: ChangeState, outcome: ApprovalStatus) -> ChangeState {
    match (state, outcome) {
        (ChangeState::Approval, ApprovalStatus::Approved) => ChangeState::Scheduled,
        (ChangeState::Approval, ApprovalStatus::Rejected) => ChangeState::Rejected,
        (state, _) => state,
    }
}

/// One answer a risk question offers, and what it adds to the score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskOption {
    pub label: String,
    pub score: u32,
}

/// A question of a template's risk questionnaire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskQuestion {
    /// What answers name it by: `users_affected`.
    pub key: String,
    pub text: String,
    pub options: Vec<RiskOption>,
}

/// Most questions a questionnaire has, and most options a question offers.
pub const MOST_QUESTIONS: usize = 30;
pub const MOST_OPTIONS: usize = 10;
/// What each open incident and each open problem on the affected items adds to the
/// score, and the most they add in all: a change to something already failing is riskier.
pub const OPEN_INCIDENT_SCORE: u32 = 3;
pub const OPEN_PROBLEM_SCORE: u32 = 5;
pub const MOST_OPEN_WORK_SCORE: u32 = 15;
/// The scores from which a change is of medium and of high risk.
pub const MEDIUM_RISK_FROM: u32 = 10;
pub const HIGH_RISK_FROM: u32 = 20;

/// A questionnaire's fault, with the field it is in (`questions[2].options`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RiskError {
    pub field: String,
    pub message: String,
}

fn risk_error(field: impl Into<String>, message: impl Into<String>) -> RiskError {
    RiskError {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks a questionnaire: keys unique and plain, every question with 1 to
/// [`MOST_OPTIONS`] options with distinct labels.
pub fn check_questionnaire(questions: &[RiskQuestion]) -> Result<(), RiskError> {
    if questions.len() > MOST_QUESTIONS {
        return Err(risk_error(
            "questions",
            format!("at most {MOST_QUESTIONS} questions"),
        ));
    }
    let mut keys = BTreeSet::new();
    for (index, question) in questions.iter().enumerate() {
        let at = format!("questions[{index}]");
        let plain = !question.key.is_empty()
            && question.key.len() <= 50
            && question
                .key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain {
            return Err(risk_error(
                format!("{at}.key"),
                "1 to 50 lower-case letters, digits or underscores",
            ));
        }
        if !keys.insert(question.key.as_str()) {
            return Err(risk_error(format!("{at}.key"), "is used twice"));
        }
        if question.text.trim().is_empty() {
            return Err(risk_error(format!("{at}.text"), "must not be empty"));
        }
        let labels: BTreeSet<&str> = question.options.iter().map(|o| o.label.as_str()).collect();
        if question.options.is_empty()
            || question.options.len() > MOST_OPTIONS
            || labels.len() != question.options.len()
            || labels.contains("")
        {
            return Err(risk_error(
                format!("{at}.options"),
                format!("1 to {MOST_OPTIONS} options with distinct, non-empty labels"),
            ));
        }
    }
    Ok(())
}

/// A change's assessed risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Risk {
    pub score: u32,
    pub level: RiskLevel,
}

/// Scores `answers` (question key → chosen label) against `questions`, adding the weight
/// of open incidents and problems on the affected items. Every question must be answered
/// with one of its labels; an answer to no question is a mistake too.
pub fn assess(
    questions: &[RiskQuestion],
    answers: &BTreeMap<String, String>,
    open_incidents: u32,
    open_problems: u32,
) -> Result<Risk, RiskError> {
    let mut score: u32 = 0;
    for question in questions {
        let field = format!("risk_answers.{}", question.key);
        let Some(answer) = answers.get(&question.key) else {
            return Err(risk_error(field, "must be answered"));
        };
        let option = question
            .options
            .iter()
            .find(|o| &o.label == answer)
            .ok_or_else(|| {
                let labels: Vec<&str> = question.options.iter().map(|o| o.label.as_str()).collect();
                risk_error(field.clone(), format!("one of: {}", labels.join(", ")))
            })?;
        score = score.saturating_add(option.score);
    }
    if let Some(stray) = answers
        .keys()
        .find(|key| !questions.iter().any(|q| &q.key == *key))
    {
        return Err(risk_error(
            format!("risk_answers.{stray}"),
            "the template asks no such question",
        ));
    }
    let open_work = open_incidents
        .saturating_mul(OPEN_INCIDENT_SCORE)
        .saturating_add(open_problems.saturating_mul(OPEN_PROBLEM_SCORE))
        .min(MOST_OPEN_WORK_SCORE);
    let score = score.saturating_add(open_work);
    Ok(Risk {
        score,
        level: risk_level(score),
    })
}

/// The level of a risk score.
pub const fn risk_level(score: u32) -> RiskLevel {
    if score >= HIGH_RISK_FROM {
        RiskLevel::High
    } else if score >= MEDIUM_RISK_FROM {
        RiskLevel::Medium
    } else {
        RiskLevel::Low
    }
}

/// How a board decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRule {
    /// Approvals needed.
    pub quorum: u32,
    /// Whether one rejection rejects the change.
    pub veto: bool,
}

/// The votes cast so far, and who could still vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub approvals: u32,
    pub rejections: u32,
    /// Members of the board who may vote, those who voted included.
    pub eligible: u32,
    /// Whether a named approver must approve too (the change's risk asks for one), and
    /// what they said: `None` while they have not voted.
    pub named: Option<Option<bool>>,
}

/// Where a change's approval stands after `tally` under `rule`. A rejection is final under
/// a veto; without one, a change is rejected once the members left cannot reach the quorum.
pub fn decide(rule: ApprovalRule, tally: Tally) -> ApprovalStatus {
    if tally.named == Some(Some(false)) || (rule.veto && tally.rejections > 0) {
        return ApprovalStatus::Rejected;
    }
    let undecided = tally
        .eligible
        .saturating_sub(tally.approvals + tally.rejections);
    if tally.approvals.saturating_add(undecided) < rule.quorum {
        return ApprovalStatus::Rejected;
    }
    let named_done = matches!(tally.named, None | Some(Some(true)));
    if tally.approvals >= rule.quorum && named_done {
        ApprovalStatus::Approved
    } else {
        ApprovalStatus::Pending
    }
}

/// A change as conflict detection sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    pub id: i64,
    pub number: String,
    pub start: i64,
    pub end: i64,
    /// The affected items.
    pub cis: BTreeSet<i64>,
    pub implementer: Option<i64>,
}

/// A freeze or blackout period: over every item when `cis` is empty (an organization's or
/// everyone's), else over those items (a service's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    pub id: i64,
    pub name: String,
    pub kind: FreezeKind,
    pub start: i64,
    pub end: i64,
    pub cis: BTreeSet<i64>,
}

/// Why a planned window is a problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Conflict {
    /// Another change touches the same item at an overlapping time.
    SameCi { change: String, ci: i64 },
    /// Another change touches an item this one's item runs on or serves.
    RelatedCi {
        change: String,
        ci: i64,
        related: i64,
    },
    /// The window falls inside a freeze or blackout period.
    Freeze {
        freeze: String,
        freeze_kind: FreezeKind,
    },
    /// The implementer is booked on another change at an overlapping time.
    Implementer { change: String },
    /// The item has agreed maintenance periods and the window does not fit in one.
    OutsideMaintenance { ci: i64 },
}

/// Whether `[start, end)` fits inside one period of one of an item's agreed maintenance
/// `windows`; an item without any takes changes at any time.
pub fn fits_maintenance(windows: &[MaintenanceWindow], start: i64, end: i64) -> bool {
    windows.is_empty()
        || windows.iter().any(|w| {
            w.current_or_next(start)
                .is_some_and(|(from, until)| from <= start && end <= until)
        })
}

/// Whether `[a_start, a_end)` and `[b_start, b_end)` overlap.
pub const fn overlaps(a_start: i64, a_end: i64, b_start: i64, b_end: i64) -> bool {
    a_start < b_end && b_start < a_end
}

/// The conflicts of `change` (of `kind`) with `others`, `freezes`, and the items related
/// to each of its items (`related`: item → the items it runs on or that run on it).
/// Each other change is named once, by its closest reason: the same item before a related
/// one, and that before a shared implementer.
pub fn conflicts(
    change: &PlannedChange,
    kind: ChangeType,
    related: &BTreeMap<i64, BTreeSet<i64>>,
    others: &[PlannedChange],
    freezes: &[Freeze],
) -> Vec<Conflict> {
    let mut found = Vec::new();
    for other in others {
        if other.id == change.id || !overlaps(change.start, change.end, other.start, other.end) {
            continue;
        }
        if let Some(ci) = change.cis.intersection(&other.cis).next() {
            found.push(Conflict::SameCi {
                change: other.number.clone(),
                ci: *ci,
            });
            continue;
        }
        let by_relation = change.cis.iter().find_map(|ci| {
            related
                .get(ci)?
                .iter()
                .find(|r| other.cis.contains(r))
                .map(|r| (*ci, *r))
        });
        if let Some((ci, related)) = by_relation {
            found.push(Conflict::RelatedCi {
                change: other.number.clone(),
                ci,
                related,
            });
        } else if change.implementer.is_some() && change.implementer == other.implementer {
            found.push(Conflict::Implementer {
                change: other.number.clone(),
            });
        }
    }
    for freeze in freezes {
        let stops = match freeze.kind {
            FreezeKind::Blackout => true,
            FreezeKind::Freeze => kind != ChangeType::Emergency,
        };
        let covers = freeze.cis.is_empty() || !freeze.cis.is_disjoint(&change.cis);
        if stops && covers && overlaps(change.start, change.end, freeze.start, freeze.end) {
            found.push(Conflict::Freeze {
                freeze: freeze.name.clone(),
                freeze_kind: freeze.kind,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;

    fn planned(
        id: i64,
        start: i64,
        end: i64,
        cis: &[i64],
        implementer: Option<i64>,
    ) -> PlannedChange {
        PlannedChange {
            id,
            number: format!("CHG-{id}"),
            start,
            end,
            cis: cis.iter().copied().collect(),
            implementer,
        }
    }

    #[test]
    fn each_type_is_submitted_to_its_own_state() {
        use ChangeState as S;
        let pending = ApprovalStatus::NotRequested;
        for kind in ChangeType::ALL {
            let to = submitted_state(*kind);
            assert_eq!(transition(*kind, S::Draft, to, pending, true), Ok(()));
            assert_eq!(
                transition(*kind, S::Draft, to, pending, false),
                Err(ChangeTransitionError::NoWindow)
            );
        }
        assert!(transition(ChangeType::Normal, S::Draft, S::Scheduled, pending, true).is_err());
    }

    #[test]
    fn only_the_approval_schedules_a_normal_change() {
        use ChangeState as S;
        assert_eq!(
            transition(
                ChangeType::Normal,
                S::Approval,
                S::Scheduled,
                ApprovalStatus::Pending,
                true
            ),
            Err(ChangeTransitionError::NeedsApproval)
        );
        assert_eq!(
            decided_state(S::Approval, ApprovalStatus::Approved),
            S::Scheduled
        );
        assert_eq!(
            decided_state(S::Approval, ApprovalStatus::Rejected),
            S::Rejected
        );
        // An emergency under way keeps going; the decision is recorded beside it.
        assert_eq!(
            decided_state(S::Implementing, ApprovalStatus::Rejected),
            S::Implementing
        );
    }

    #[test]
    fn an_emergency_is_implemented_before_its_approval_but_not_closed_without_it() {
        use ChangeState as S;
        let kind = ChangeType::Emergency;
        assert_eq!(
            transition(
                kind,
                S::Approval,
                S::Implementing,
                ApprovalStatus::Pending,
                true
            ),
            Ok(())
        );
        assert!(
            transition(
                ChangeType::Normal,
                S::Approval,
                S::Implementing,
                ApprovalStatus::Pending,
                true
            )
            .is_err()
        );
        assert_eq!(
            transition(kind, S::Review, S::Closed, ApprovalStatus::Pending, true),
            Err(ChangeTransitionError::ApprovalPending)
        );
        assert_eq!(
            transition(kind, S::Review, S::Closed, ApprovalStatus::Approved, true),
            Ok(())
        );
    }

    #[test]
    fn final_states_go_nowhere() {
        for from in ChangeState::ALL.iter().filter(|s| s.is_final()) {
            for to in ChangeState::ALL {
                for kind in ChangeType::ALL {
                    assert!(
                        transition(*kind, *from, *to, ApprovalStatus::Approved, true).is_err(),
                        "{from} → {to}"
                    );
                }
            }
        }
    }

    fn questionnaire() -> Vec<RiskQuestion> {
        vec![
            RiskQuestion {
                key: "users".into(),
                text: "How many users notice?".into(),
                options: vec![
                    RiskOption {
                        label: "none".into(),
                        score: 0,
                    },
                    RiskOption {
                        label: "all".into(),
                        score: 12,
                    },
                ],
            },
            RiskQuestion {
                key: "tested".into(),
                text: "Tested in staging?".into(),
                options: vec![
                    RiskOption {
                        label: "yes".into(),
                        score: 0,
                    },
                    RiskOption {
                        label: "no".into(),
                        score: 8,
                    },
                ],
            },
        ]
    }

    fn answers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn risk_adds_answers_and_open_work() {
        let q = questionnaire();
        let low = assess(&q, &answers(&[("users", "none"), ("tested", "yes")]), 0, 0).unwrap();
        assert_eq!((low.score, low.level), (0, RiskLevel::Low));
        let high = assess(&q, &answers(&[("users", "all"), ("tested", "no")]), 0, 0).unwrap();
        assert_eq!((high.score, high.level), (20, RiskLevel::High));
        // Two open incidents and a problem on the items raise a quiet change to medium.
        let busy = assess(&q, &answers(&[("users", "none"), ("tested", "yes")]), 2, 1).unwrap();
        assert_eq!((busy.score, busy.level), (11, RiskLevel::Medium));
        // Open work weighs at most 15.
        let swamped = assess(
            &q,
            &answers(&[("users", "none"), ("tested", "yes")]),
            50,
            50,
        )
        .unwrap();
        assert_eq!(swamped.score, MOST_OPEN_WORK_SCORE);
    }

    #[test]
    fn risk_answers_name_the_question_at_fault() {
        let q = questionnaire();
        let missing = assess(&q, &answers(&[("users", "none")]), 0, 0).unwrap_err();
        assert_eq!(missing.field, "risk_answers.tested");
        let wrong =
            assess(&q, &answers(&[("users", "some"), ("tested", "yes")]), 0, 0).unwrap_err();
        assert_eq!(wrong.field, "risk_answers.users");
        assert!(wrong.message.contains("none, all"));
        let stray = assess(
            &q,
            &answers(&[("users", "none"), ("tested", "yes"), ("color", "red")]),
            0,
            0,
        )
        .unwrap_err();
        assert_eq!(stray.field, "risk_answers.color");
    }

    #[test]
    fn a_questionnaire_with_a_twice_used_key_is_refused() {
        let mut q = questionnaire();
        q[1].key = "users".into();
        assert_eq!(
            check_questionnaire(&q).unwrap_err().field,
            "questions[1].key"
        );
        assert!(check_questionnaire(&questionnaire()).is_ok());
    }

    #[test]
    fn a_quorum_approves_and_a_veto_rejects() {
        let rule = ApprovalRule {
            quorum: 2,
            veto: true,
        };
        let tally = |approvals, rejections| Tally {
            approvals,
            rejections,
            eligible: 3,
            named: None,
        };
        assert_eq!(decide(rule, tally(1, 0)), ApprovalStatus::Pending);
        assert_eq!(decide(rule, tally(2, 0)), ApprovalStatus::Approved);
        assert_eq!(decide(rule, tally(1, 1)), ApprovalStatus::Rejected);
        let majority = ApprovalRule {
            quorum: 2,
            veto: false,
        };
        assert_eq!(decide(majority, tally(1, 1)), ApprovalStatus::Pending);
        assert_eq!(decide(majority, tally(0, 2)), ApprovalStatus::Rejected);
    }

    #[test]
    fn a_named_approver_must_approve_too() {
        let rule = ApprovalRule {
            quorum: 1,
            veto: false,
        };
        let with = |named| Tally {
            approvals: 3,
            rejections: 0,
            eligible: 3,
            named: Some(named),
        };
        assert_eq!(decide(rule, with(None)), ApprovalStatus::Pending);
        assert_eq!(decide(rule, with(Some(true))), ApprovalStatus::Approved);
        assert_eq!(decide(rule, with(Some(false))), ApprovalStatus::Rejected);
    }

    #[test]
    fn conflicts_name_the_closest_reason() {
        let mine = planned(1, 100, 200, &[10], Some(7));
        let related = BTreeMap::from([(10, BTreeSet::from([20]))]);
        let others = [
            planned(2, 150, 250, &[10], None),
            planned(3, 0, 101, &[20], None),
            planned(4, 199, 300, &[99], Some(7)),
            // Touches the same item, but after the window ends.
            planned(5, 200, 300, &[10], Some(7)),
        ];
        let freezes = [Freeze {
            id: 1,
            name: "Year end".into(),
            kind: FreezeKind::Freeze,
            start: 190,
            end: 400,
            cis: BTreeSet::new(),
        }];
        let found = conflicts(&mine, ChangeType::Normal, &related, &others, &freezes);
        assert_eq!(
            found,
            vec![
                Conflict::SameCi {
                    change: "CHG-2".into(),
                    ci: 10
                },
                Conflict::RelatedCi {
                    change: "CHG-3".into(),
                    ci: 10,
                    related: 20
                },
                Conflict::Implementer {
                    change: "CHG-4".into()
                },
                Conflict::Freeze {
                    freeze: "Year end".into(),
                    freeze_kind: FreezeKind::Freeze
                },
            ]
        );
        // An emergency ignores a freeze, never a blackout.
        assert!(
            !conflicts(&mine, ChangeType::Emergency, &related, &[], &freezes)
                .iter()
                .any(|c| matches!(c, Conflict::Freeze { .. }))
        );
        let blackout = [Freeze {
            kind: FreezeKind::Blackout,
            ..freezes[0].clone()
        }];
        assert_eq!(
            conflicts(&mine, ChangeType::Emergency, &related, &[], &blackout).len(),
            1
        );
    }

    #[test]
    fn a_window_must_fit_in_one_agreed_maintenance_period() {
        let sundays = MaintenanceWindow {
            starts_at: 0,
            ends_at: 1_000,
            recurrence: None,
        };
        assert!(fits_maintenance(&[], 5_000, 6_000));
        assert!(fits_maintenance(std::slice::from_ref(&sundays), 100, 900));
        assert!(!fits_maintenance(
            std::slice::from_ref(&sundays),
            900,
            1_100
        ));
        assert!(!fits_maintenance(&[sundays], 2_000, 2_100));
    }

    #[test]
    fn a_service_freeze_covers_only_its_items() {
        let mine = planned(1, 0, 10, &[10], None);
        let freeze = Freeze {
            id: 1,
            name: "Payroll run".into(),
            kind: FreezeKind::Blackout,
            start: 0,
            end: 10,
            cis: BTreeSet::from([11]),
        };
        assert!(
            conflicts(
                &mine,
                ChangeType::Normal,
                &BTreeMap::new(),
                &[],
                std::slice::from_ref(&freeze)
            )
            .is_empty()
        );
        let on_it = planned(1, 0, 10, &[10, 11], None);
        assert_eq!(
            conflicts(&on_it, ChangeType::Normal, &BTreeMap::new(), &[], &[freeze]).len(),
            1
        );
    }

    proptest! {
        /// More approvals never turn an approved change into a rejected one, and a decision
        /// once reached under a veto stays when more members vote the same way.
        #[test]
        fn approvals_only_help(
            quorum in 1u32..6, veto: bool, approvals in 0u32..8, rejections in 0u32..8, extra in 0u32..4
        ) {
            let eligible = approvals + rejections + extra;
            let rule = ApprovalRule { quorum, veto };
            let before = decide(rule, Tally { approvals, rejections, eligible, named: None });
            let after = decide(rule, Tally { approvals: approvals + 1, rejections, eligible: eligible + 1, named: None });
            if before == ApprovalStatus::Approved {
                prop_assert_eq!(after, ApprovalStatus::Approved);
            }
            if after == ApprovalStatus::Rejected {
                prop_assert_eq!(before, ApprovalStatus::Rejected);
            }
        }

        /// A change never conflicts with one whose window does not overlap its own, and
        /// overlap is symmetric.
        #[test]
        fn conflicts_need_overlapping_windows(
            a in 0i64..100, la in 1i64..50, b in 0i64..100, lb in 1i64..50, shared: bool
        ) {
            let mine = planned(1, a, a + la, &[1], Some(1));
            let other = planned(2, b, b + lb, if shared { &[1] } else { &[2] }, Some(1));
            let found = conflicts(&mine, ChangeType::Normal, &BTreeMap::new(), &[other], &[]);
            prop_assert_eq!(overlaps(a, a + la, b, b + lb), overlaps(b, b + lb, a, a + la));
            prop_assert_eq!(!found.is_empty(), overlaps(a, a + la, b, b + lb));
        }
    }
}
