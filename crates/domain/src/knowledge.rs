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

string_enum! {
    /// Who carries out a runbook step.
    #[derive(Default)]
    pub enum StepKind as "step kind" {
        /// A person, by hand.
        #[default]
        Manual => "manual",
        /// The host's agent, running the step's script.
        Script => "script",
    }
}

string_enum! {
    /// What a runbook script is written in.
    pub enum ScriptLanguage as "script language" {
        /// POSIX shell (`/bin/sh`).
        Shell => "shell",
        /// Python 3.
        Python => "python",
        /// PowerShell (`pwsh`), where the host has it.
        Powershell => "powershell",
    }
}

/// Longest a script may run when its step names no limit, in seconds.
pub const DEFAULT_SCRIPT_TIMEOUT_SECONDS: u32 = 60;
/// Longest a script may ever run, in seconds.
pub const MAX_SCRIPT_TIMEOUT_SECONDS: u32 = 3_600;
/// Longest script text accepted, in bytes.
pub const MAX_SCRIPT_BYTES: usize = 64 * 1024;

/// One step of a runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookStep {
    /// `manual` (done by a person) or `script` (run by the host's agent).
    #[serde(default)]
    pub kind: StepKind,
    /// What to check or do, in words.
    pub check: String,
    /// A command to run by hand, if the step has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// What should be seen when it goes right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// For a `script` step: what the script is written in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<ScriptLanguage>,
    /// For a `script` step: the script itself. It runs only once an admin approved this
    /// exact text (its [`script_hash`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// For a `script` step: seconds before the agent stops it (60 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
}

impl RunbookStep {
    /// The language and text of a script step.
    pub fn script(&self) -> Option<(ScriptLanguage, &str)> {
        match (self.kind, self.language, &self.script) {
            (StepKind::Script, Some(language), Some(script)) => Some((language, script)),
            _ => None,
        }
    }

    /// Seconds a script step may run.
    pub fn timeout(&self) -> u32 {
        self.timeout_seconds
            .unwrap_or(DEFAULT_SCRIPT_TIMEOUT_SECONDS)
            .clamp(1, MAX_SCRIPT_TIMEOUT_SECONDS)
    }
}

/// The identity of one version of a script: SHA-256 over its language and its exact text,
/// in hex. Approval is given to this hash, so any edit needs a new approval.
pub fn script_hash(language: ScriptLanguage, script: &str) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(language.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(script.as_bytes());
    hex::encode(hasher.finalize())
}

/// Runbook steps as the web form writes them, one step per line: `check | command |
/// expected` for a step done by hand; `[shell] check` (or `[python 30s] check`) for a
/// script step, followed by its script, each line indented by four spaces or a tab.
pub fn parse_steps_text(text: &str) -> Vec<RunbookStep> {
    let mut steps: Vec<RunbookStep> = Vec::new();
    let mut script: Option<Vec<&str>> = None;
    let finish = |steps: &mut Vec<RunbookStep>, script: &mut Option<Vec<&str>>| {
        if let (Some(lines), Some(step)) = (script.take(), steps.last_mut()) {
            let body = lines.join("\n");
            step.script = Some(body.trim_end().to_owned());
        }
    };
    for line in text.lines() {
        let indented = line
            .strip_prefix("    ")
            .or_else(|| line.strip_prefix('\t'));
        if let (Some(lines), Some(rest)) = (script.as_mut(), indented) {
            lines.push(rest);
            continue;
        }
        if line.trim().is_empty() {
            if let Some(lines) = script.as_mut() {
                lines.push("");
            }
            continue;
        }
        finish(&mut steps, &mut script);
        let line = line.trim();
        if let Some((tag, check)) = line.strip_prefix('[').and_then(|l| l.split_once(']')) {
            let mut words = tag.split_whitespace();
            let language = words.next().and_then(|w| w.parse::<ScriptLanguage>().ok());
            let timeout = words
                .next()
                .and_then(|w| w.trim_end_matches('s').parse::<u32>().ok());
            if let Some(language) = language {
                steps.push(RunbookStep {
                    kind: StepKind::Script,
                    check: check.trim().to_owned(),
                    command: None,
                    expected: None,
                    language: Some(language),
                    script: None,
                    timeout_seconds: timeout,
                });
                script = Some(Vec::new());
                continue;
            }
        }
        let mut parts = line.split('|').map(str::trim);
        let mut next = || parts.next().filter(|p| !p.is_empty()).map(str::to_owned);
        steps.push(RunbookStep {
            kind: StepKind::Manual,
            check: next().unwrap_or_default(),
            command: next(),
            expected: next(),
            language: None,
            script: None,
            timeout_seconds: None,
        });
    }
    finish(&mut steps, &mut script);
    steps
}

/// Runbook steps in the form's text, as [`parse_steps_text`] reads them.
pub fn steps_text(steps: &[RunbookStep]) -> String {
    steps
        .iter()
        .map(|step| match (step.language, &step.script) {
            (Some(language), Some(script)) if step.kind == StepKind::Script => {
                let tag = match step.timeout_seconds {
                    Some(seconds) => format!("[{language} {seconds}s]"),
                    None => format!("[{language}]"),
                };
                let body: Vec<String> = script
                    .lines()
                    .map(|line| {
                        if line.is_empty() {
                            String::new()
                        } else {
                            format!("    {line}")
                        }
                    })
                    .collect();
                format!("{tag} {}\n{}", step.check, body.join("\n"))
            }
            _ => format!(
                "{} | {} | {}",
                step.check,
                step.command.as_deref().unwrap_or(""),
                step.expected.as_deref().unwrap_or("")
            )
            .trim_end_matches([' ', '|'])
            .to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why runbook steps were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepsError {
    #[error("step {0} needs a check: what to look at or do")]
    EmptyCheck(usize),
    #[error("only a runbook has steps")]
    NotARunbook,
    #[error("step {0} is a script step: it needs a language and a script")]
    MissingScript(usize),
    #[error("step {0} is done by hand: a language, script or timeout belongs to a script step")]
    ScriptOnManualStep(usize),
    #[error("step {0}'s script is longer than {MAX_SCRIPT_BYTES} bytes")]
    ScriptTooLong(usize),
    #[error("step {0}'s timeout must be from 1 to {MAX_SCRIPT_TIMEOUT_SECONDS} seconds")]
    Timeout(usize),
}

/// Checks a runbook's steps (numbered from 1 in messages).
pub fn check_steps(kind: ArticleKind, steps: &[RunbookStep]) -> Result<(), StepsError> {
    if kind != ArticleKind::Runbook && !steps.is_empty() {
        return Err(StepsError::NotARunbook);
    }
    for (index, step) in steps.iter().enumerate() {
        let number = index + 1;
        if step.check.trim().is_empty() {
            return Err(StepsError::EmptyCheck(number));
        }
        match step.kind {
            StepKind::Manual => {
                if step.language.is_some()
                    || step.script.is_some()
                    || step.timeout_seconds.is_some()
                {
                    return Err(StepsError::ScriptOnManualStep(number));
                }
            }
            StepKind::Script => {
                let script = step.script.as_deref().unwrap_or_default();
                if step.language.is_none() || script.trim().is_empty() {
                    return Err(StepsError::MissingScript(number));
                }
                if script.len() > MAX_SCRIPT_BYTES {
                    return Err(StepsError::ScriptTooLong(number));
                }
                if step
                    .timeout_seconds
                    .is_some_and(|t| !(1..=MAX_SCRIPT_TIMEOUT_SECONDS).contains(&t))
                {
                    return Err(StepsError::Timeout(number));
                }
            }
        }
    }
    Ok(())
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
            kind: StepKind::Manual,
            check: check.into(),
            command: None,
            expected: None,
            language: None,
            script: None,
            timeout_seconds: None,
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
    fn a_script_step_carries_its_script_and_a_manual_step_none() {
        let manual = RunbookStep {
            kind: StepKind::Manual,
            check: "look at the queue".into(),
            command: None,
            expected: None,
            language: None,
            script: None,
            timeout_seconds: None,
        };
        let script = RunbookStep {
            kind: StepKind::Script,
            language: Some(ScriptLanguage::Shell),
            script: Some("systemctl restart nginx".into()),
            ..manual.clone()
        };
        let runbook = |steps: &[RunbookStep]| check_steps(ArticleKind::Runbook, steps);
        assert_eq!(runbook(&[manual.clone(), script.clone()]), Ok(()));
        assert_eq!(
            script.script(),
            Some((ScriptLanguage::Shell, "systemctl restart nginx"))
        );
        assert_eq!(script.timeout(), DEFAULT_SCRIPT_TIMEOUT_SECONDS);
        let bare = RunbookStep {
            script: None,
            ..script.clone()
        };
        assert_eq!(runbook(&[bare]), Err(StepsError::MissingScript(1)));
        let scripted_by_hand = RunbookStep {
            kind: StepKind::Manual,
            ..script.clone()
        };
        assert_eq!(
            runbook(&[manual.clone(), scripted_by_hand]),
            Err(StepsError::ScriptOnManualStep(2))
        );
        let forever = RunbookStep {
            timeout_seconds: Some(MAX_SCRIPT_TIMEOUT_SECONDS + 1),
            ..script.clone()
        };
        assert_eq!(runbook(&[forever]), Err(StepsError::Timeout(1)));
        // Older runbooks stored steps without a kind: they are manual.
        let stored: RunbookStep = serde_json::from_str(r#"{"check":"ping the gateway"}"#).unwrap();
        assert_eq!(stored.kind, StepKind::Manual);
    }

    #[test]
    fn the_form_text_holds_manual_and_script_steps() {
        let text = "Check the disk | df -h | below 90 %\n\
                    [shell 30s] Restart the web server\n\
                    \x20   systemctl restart nginx\n\
                    \n\
                    \x20   systemctl is-active nginx\n\
                    Look at the site";
        let steps = parse_steps_text(text);
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert_eq!(steps[0].command.as_deref(), Some("df -h"));
        assert_eq!(steps[1].kind, StepKind::Script);
        assert_eq!(steps[1].timeout_seconds, Some(30));
        assert_eq!(
            steps[1].script.as_deref(),
            Some("systemctl restart nginx\n\nsystemctl is-active nginx")
        );
        assert_eq!(steps[2].check, "Look at the site");
        assert_eq!(parse_steps_text(&steps_text(&steps)), steps);
    }

    fn any_step() -> impl Strategy<Value = RunbookStep> {
        let field = "[a-z][a-z ]{0,10}[a-z]";
        let manual = (
            field,
            proptest::option::of(field),
            proptest::option::of(field),
        )
            .prop_map(|(check, command, expected)| RunbookStep {
                kind: StepKind::Manual,
                check,
                // An expected result is only readable after a command.
                expected: command.as_ref().and(expected),
                command,
                language: None,
                script: None,
                timeout_seconds: None,
            });
        let script = (
            field,
            proptest::sample::select(ScriptLanguage::ALL),
            proptest::collection::vec("[ -~]{0,12}", 1..4),
            proptest::option::of(1u32..3600),
        )
            .prop_filter_map(
                "a script needs a line",
                |(check, language, lines, timeout)| {
                    let script = lines.join("\n").trim_end().to_owned();
                    (!script.trim().is_empty()
                        && script.lines().all(|l| l.is_empty() || !l.trim().is_empty()))
                    .then_some(RunbookStep {
                        kind: StepKind::Script,
                        check,
                        command: None,
                        expected: None,
                        language: Some(language),
                        script: Some(script),
                        timeout_seconds: timeout,
                    })
                },
            );
        prop_oneof![manual, script]
    }

    proptest! {
        #[test]
        fn steps_survive_the_form_text(steps in proptest::collection::vec(any_step(), 0..6)) {
            prop_assert_eq!(parse_steps_text(&steps_text(&steps)), steps);
        }

        #[test]
        fn a_script_hash_changes_with_any_edit_and_only_then(
            script in "[ -~]{0,40}",
            edit in 0usize..41,
            letter in "[a-z]",
        ) {
            let hash = script_hash(ScriptLanguage::Shell, &script);
            prop_assert_eq!(hash.len(), 64);
            prop_assert_eq!(&hash, &script_hash(ScriptLanguage::Shell, &script));
            prop_assert_ne!(&hash, &script_hash(ScriptLanguage::Python, &script));
            let at = edit.min(script.len());
            let mut edited = script.clone();
            edited.insert_str(at, &letter);
            prop_assert_ne!(hash, script_hash(ScriptLanguage::Shell, &edited));
        }
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
