//! opsdesk's host agent for Linux: it enrols once with a token, then reports the machine's
//! inventory (hardware, operating system, packages, pending updates, listening services,
//! login accounts) to the server on a schedule, sending in full only what changed, and
//! polls for work: runbook scripts an admin approved, and diagnostics to run from the host.
//!
//! Collectors read `/proc` and `/sys` and run the package tools; each is a pure parser of
//! text plus a thin reader, so the parsers are tested on captured outputs.

pub mod command;
pub mod delta;
pub mod hardware;
pub mod inventory;
pub mod os;
pub mod packages;
pub mod schedule;
pub mod services;
pub mod state;
pub mod updates;
pub mod users;

mod client;
mod report;
mod work;

use std::path::{Path, PathBuf};

pub use client::{check_server_url, enrol};
pub use report::{RunOptions, run};

/// Where the agent keeps its identity and spool unless told otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/opsdesk-agent";

/// What stops the agent, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{url}: plain http:// is allowed only to this machine (loopback); use https://")]
    InsecureUrl { url: String },
    #[error("{url} is not a server URL (expected https://host[:port]): {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "this machine is not enrolled ({path} is missing); enrol it with `opsdesk agent enrol --server URL --token TOKEN`"
    )]
    NotEnrolled { path: PathBuf },
    #[error("cannot use {path}: {source}")]
    State {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged ({source}); enrol again to replace it")]
    DamagedState {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot use the CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    #[error("the server refused the enrolment ({status}): {detail}")]
    EnrolmentRefused { status: u16, detail: String },
    #[error(
        "the server no longer accepts this agent's credential (revoked or unknown); enrol again with `opsdesk agent enrol --server URL --token TOKEN`"
    )]
    CredentialRefused,
    #[error("the server rejected the report ({status}): {detail}")]
    ReportRejected { status: u16, detail: String },
    #[error("the server is unreachable or busy: {detail}")]
    Unavailable { detail: String },
}

impl AgentError {
    /// Whether only a new enrolment helps: retrying or restarting the agent does not.
    pub fn needs_enrolment(&self) -> bool {
        matches!(
            self,
            AgentError::NotEnrolled { .. }
                | AgentError::DamagedState { .. }
                | AgentError::CredentialRefused
        )
    }
}

/// The contents of a small text file, trimmed; none when it cannot be read (absent, or
/// readable only by root).
pub(crate) fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_owned())
}
