//! Work the server hands host agents: a runbook script to run on the host, or a diagnostic
//! to run from it. Agents poll for work, so no host opens a port; each piece of work is
//! answered once with a [`WorkResult`].

use serde::{Deserialize, Serialize};

use crate::diagnostics::{DiagnosticKind, DiagnosticOutcome};
use crate::knowledge::ScriptLanguage;
use crate::string_enum;

/// Most output kept from one script, in bytes; the agent cuts the rest.
pub const OUTPUT_LIMIT_BYTES: usize = 64 * 1024;

/// One piece of work for an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Work {
    pub id: i64,
    #[serde(flatten)]
    pub job: Job,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Run an approved script. The agent checks `hash` against the text it received and
    /// refuses a mismatch.
    Script {
        language: ScriptLanguage,
        script: String,
        hash: String,
        timeout_seconds: u32,
        output_limit_bytes: usize,
    },
    /// Run a diagnostic from this host.
    Diagnostic {
        diagnostic: DiagnosticKind,
        target: String,
    },
}

/// The server's answer to an agent asking for work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkReply {
    /// In the order to run them; empty when there is nothing to do.
    pub work: Vec<Work>,
    /// When to ask again, in seconds.
    pub poll_every_seconds: u32,
}

string_enum! {
    /// How a piece of work ended.
    pub enum WorkOutcome as "work outcome" {
        /// The script exited with status 0, or the diagnostic succeeded.
        Succeeded => "succeeded",
        /// The script exited with another status, or the diagnostic failed.
        Failed => "failed",
        /// The script ran past its timeout and was stopped.
        TimedOut => "timed_out",
        /// The agent would not run it: the hash did not match, or the interpreter is missing.
        Refused => "refused",
    }
}

/// What an agent reports back for one piece of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkResult {
    pub outcome: WorkOutcome,
    /// A script's exit status, when it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// A script's standard output and error, interleaved, cut at the output limit.
    #[serde(default)]
    pub output: String,
    /// Whether output was cut.
    #[serde(default)]
    pub truncated: bool,
    pub duration_ms: u64,
    /// A diagnostic's outcome.
    #[serde(default)]
    pub diagnostic: Option<DiagnosticOutcome>,
    /// Why the work was refused or could not start.
    #[serde(default)]
    pub detail: Option<String>,
}

impl WorkResult {
    /// Work that was not run, and why.
    pub fn refused(detail: impl Into<String>) -> Self {
        Self {
            outcome: WorkOutcome::Refused,
            exit_code: None,
            output: String::new(),
            truncated: false,
            duration_ms: 0,
            diagnostic: None,
            detail: Some(detail.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn work_is_tagged_by_kind_on_the_wire() {
        let work = Work {
            id: 7,
            job: Job::Diagnostic {
                diagnostic: DiagnosticKind::Tcp,
                target: "db:5432".into(),
            },
        };
        let json = serde_json::to_value(&work).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": 7, "kind": "diagnostic", "diagnostic": "tcp", "target": "db:5432"})
        );
        assert_eq!(serde_json::from_value::<Work>(json).unwrap(), work);
    }
}
