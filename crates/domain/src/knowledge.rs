//! The knowledge base's rules: an article's workflow (draft → in review → published →
//! archived) and who may move it, who may read it (its audience), runbook steps, the
//! difference between two revisions, and the correction of a mistyped search word.

use serde::{Deserialize, Serialize};

use crate::string_enum;

string_enum! {
    /// What an article is: prose, or a runbook of steps to follow by hand.
    pub enum ArticleKind as "article kind" {
        /// Explains something: a how-to, a known error and its workaround.
        Article => "article",
        /// Ordered steps: a check, a command to run by hand, the expected result.
        Runbook => "runbook",
    }
}

string_enum! {
    /// Who may read a published article.
    pub enum Audience as "audience" {
        /// Anyone who opens the portal, signed in or not.
        Public => "public",
        /// Signed-in customers, optionally only those of named organizations.
        Customers => "customers",
        /// Staff only.
        Internal => "internal",
    }
}

string_enum! {
    /// Where an article is in its workflow.
    pub enum ArticleStatus as "article status" {
        /// Being written; only staff see it.
        Draft => "draft",
        /// Waiting for an approver.
        InReview => "in_review",
        /// Live for its audience.
        Published => "published",
        /// Kept for the record; no longer shown to customers or offered in replies.
        Archived => "archived",
    }
}

string_enum! {
    /// How a runbook step went when an agent followed it on a ticket.
    pub enum StepResult as "step outcome" {
        /// Done, with the expected result.
        Done => "done",
        /// Done, but the result was not the expected one.
        Failed => "failed",
        /// Not needed, or not possible here.
        Skipped => "skipped",
    }
}

/// Why a workflow step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("an article cannot go from {from} to {to}")]
    NotAllowed {
        from: ArticleStatus,
        to: ArticleStatus,
    },
    #[error(
        "only an approver (an admin, or an agent an admin made an approver) may publish or archive an article"
    )]
    ApproverOnly,
}

/// Checks a status change by a member of staff (customers never edit articles), who is an
/// `approver` or not. Writers move drafts to review and back; approvers publish — straight
/// from a draft too, as a small team's approver writes as well — and archive; anyone on
/// staff reopens an archived or published article as a draft to rework it.
pub fn check_transition(
    from: ArticleStatus,
    to: ArticleStatus,
    approver: bool,
) -> Result<(), WorkflowError> {
    use ArticleStatus::*;
    let allowed = matches!(
        (from, to),
        (Draft, InReview)
            | (InReview, Draft)
            | (Draft | InReview, Published)
            | (Published, Archived)
            | (Published | Archived, Draft)
    );
    if !allowed {
        return Err(WorkflowError::NotAllowed { from, to });
    }
    if matches!(to, Published | Archived) && !approver {
        return Err(WorkflowError::ApproverOnly);
    }
    Ok(())
}

/// Who is reading: staff, a signed-in customer of an organization, or an anonymous visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Staff,
    Customer { organization: Option<i64> },
    Anonymous,
}

/// Whether `reader` may read an article: staff read everything; others only published
/// articles their audience allows.
pub fn may_read(
    reader: Reader,
    status: ArticleStatus,
    audience: Audience,
    organizations: &[i64],
) -> bool {
    match reader {
        Reader::Staff => true,
        _ if status != ArticleStatus::Published => false,
        Reader::Anonymous => audience == Audience::Public,
        Reader::Customer { organization } => match audience {
            Audience::Public => true,
            Audience::Customers => {
                organizations.is_empty()
                    || organization.is_some_and(|id| organizations.contains(&id))
            }
            Audience::Internal => false,
        },
    }
}

/// One step of a runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookStep {
    /// What to check or do, in words.
    pub check: String,
    /// A command to run by hand, if the step has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// What should be seen when it goes right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// Why runbook steps were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepsError {
    #[error("step {0} needs a check: what to look at or do")]
    EmptyCheck(usize),
    #[error("only a runbook has steps")]
    NotARunbook,
}

/// Checks a runbook's steps (numbered from 1 in messages).
pub fn check_steps(kind: ArticleKind, steps: &[RunbookStep]) -> Result<(), StepsError> {
    if kind != ArticleKind::Runbook && !steps.is_empty() {
        return Err(StepsError::NotARunbook);
    }
    match steps.iter().position(|step| step.check.trim().is_empty()) {
        Some(index) => Err(StepsError::EmptyCheck(index + 1)),
        None => Ok(()),
    }
}

/// One line of a difference between two texts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", content = "line", rename_all = "snake_case")]
pub enum DiffLine {
    Same(String),
    Added(String),
    Removed(String),
}

/// The line-by-line difference from `old` to `new`: unchanged lines stay put and only
/// what changed is marked.
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|change| {
            let line = change.value().trim_end_matches(['\r', '\n']).to_owned();
            match change.tag() {
                similar::ChangeTag::Equal => DiffLine::Same(line),
                similar::ChangeTag::Insert => DiffLine::Added(line),
                similar::ChangeTag::Delete => DiffLine::Removed(line),
            }
        })
        .collect()
}

/// The closest word of `vocabulary` to a mistyped `word`: at most one edit away for words of
/// up to five letters, two for longer ones (a swap of neighbours counts as one edit); ties go
/// to the word that shares the longer start, then to the first. `None` when the word is
/// already known or nothing is close.
pub fn correct<'a>(word: &str, vocabulary: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let budget = if word.chars().count() <= 5 { 1 } else { 2 };
    let mut best: Option<(usize, usize, &str)> = None;
    for candidate in vocabulary {
        if candidate == word {
            return None;
        }
        let distance = strsim::osa_distance(&word, candidate);
        if distance == 0 || distance > budget {
            continue;
        }
        let shared = word
            .chars()
            .zip(candidate.chars())
            .take_while(|(a, b)| a == b)
            .count();
        let better = match best {
            None => true,
            Some((d, s, _)) => distance < d || (distance == d && shared > s),
        };
        if better {
            best = Some((distance, shared, candidate));
        }
    }
    best.map(|(_, _, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn writers_submit_and_approvers_publish_and_archive() {
        use ArticleStatus::*;
        assert_eq!(check_transition(Draft, InReview, false), Ok(()));
        assert_eq!(
            check_transition(InReview, Published, false),
            Err(WorkflowError::ApproverOnly)
        );
        assert_eq!(check_transition(InReview, Published, true), Ok(()));
        assert_eq!(check_transition(Published, Archived, true), Ok(()));
        assert_eq!(check_transition(Archived, Draft, false), Ok(()));
        assert_eq!(
            check_transition(Archived, Published, true),
            Err(WorkflowError::NotAllowed {
                from: Archived,
                to: Published
            })
        );
        assert!(check_transition(Draft, Draft, true).is_err());
    }

    #[test]
    fn audiences_decide_who_reads_published_articles() {
        use ArticleStatus::*;
        let acme = Reader::Customer {
            organization: Some(1),
        };
        let globex = Reader::Customer {
            organization: Some(2),
        };
        assert!(may_read(
            Reader::Anonymous,
            Published,
            Audience::Public,
            &[]
        ));
        assert!(!may_read(
            Reader::Anonymous,
            Published,
            Audience::Customers,
            &[]
        ));
        assert!(may_read(acme, Published, Audience::Customers, &[]));
        assert!(may_read(acme, Published, Audience::Customers, &[1]));
        assert!(!may_read(globex, Published, Audience::Customers, &[1]));
        assert!(!may_read(acme, Published, Audience::Internal, &[]));
        assert!(!may_read(acme, Draft, Audience::Public, &[]));
        assert!(may_read(Reader::Staff, Draft, Audience::Internal, &[]));
    }

    #[test]
    fn only_runbooks_have_steps_and_each_step_says_what_to_check() {
        let step = |check: &str| RunbookStep {
            check: check.into(),
            command: None,
            expected: None,
        };
        assert_eq!(
            check_steps(ArticleKind::Article, &[step("x")]),
            Err(StepsError::NotARunbook)
        );
        assert_eq!(
            check_steps(ArticleKind::Runbook, &[step("ping the gateway"), step(" ")]),
            Err(StepsError::EmptyCheck(2))
        );
        assert_eq!(check_steps(ArticleKind::Runbook, &[step("ok")]), Ok(()));
    }

    #[test]
    fn a_diff_marks_only_the_changed_lines() {
        let diff = diff_lines("a\nb\nc\n", "a\nB\nc\nd\n");
        assert_eq!(
            diff,
            vec![
                DiffLine::Same("a".into()),
                DiffLine::Removed("b".into()),
                DiffLine::Added("B".into()),
                DiffLine::Same("c".into()),
                DiffLine::Added("d".into()),
            ]
        );
    }

    #[test]
    fn mistyped_words_are_corrected_to_the_closest_known_word() {
        let vocabulary = ["printer", "print", "jam", "vpn", "password"];
        assert_eq!(correct("pritner", vocabulary), Some("printer"));
        assert_eq!(correct("pasword", vocabulary), Some("password"));
        assert_eq!(correct("jma", vocabulary), Some("jam"));
        assert_eq!(correct("vpn", vocabulary), None, "known words stay");
        assert_eq!(correct("zzzzzz", vocabulary), None);
    }

    proptest! {
        #[test]
        fn applying_a_diff_gives_the_new_text(
            old in proptest::collection::vec("[abc]{0,2}", 0..8),
            new in proptest::collection::vec("[abc]{0,2}", 0..8),
        ) {
            let (old, new) = (old.join("\n"), new.join("\n"));
            let diff = diff_lines(&old, &new);
            let rebuilt: Vec<&str> = diff.iter().filter_map(|line| match line {
                DiffLine::Same(l) | DiffLine::Added(l) => Some(l.as_str()),
                DiffLine::Removed(_) => None,
            }).collect();
            let original: Vec<&str> = diff.iter().filter_map(|line| match line {
                DiffLine::Same(l) | DiffLine::Removed(l) => Some(l.as_str()),
                DiffLine::Added(_) => None,
            }).collect();
            prop_assert_eq!(rebuilt, new.lines().collect::<Vec<_>>());
            prop_assert_eq!(original, old.lines().collect::<Vec<_>>());
        }
    }
}
