//! The agent's files in its state folder: `agent.json` (who it is, which hashes the server
//! acknowledged) and `spool.json` (the last report the server has not taken yet).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use opsdesk_domain::inventory::Report;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::AgentError;
use crate::delta::Acknowledged;

const AGENT_FILE: &str = "agent.json";
const SPOOL_FILE: &str = "spool.json";

/// Who this agent is to its server. Holds a secret: the file is readable by its owner only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    /// The server's base URL, without a trailing slash.
    pub server: String,
    /// The agent's id on the server.
    pub agent: i64,
    /// The configuration item the machine is on the server.
    pub ci: i64,
    pub credential: String,
    pub report_every_seconds: u32,
    /// A private CA to trust for the server's certificate, as given at enrolment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The section hashes the server acknowledged.
    #[serde(default)]
    pub acknowledged: Acknowledged,
}

/// The state folder and the files in it.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn agent_path(&self) -> PathBuf {
        self.dir.join(AGENT_FILE)
    }

    pub fn spool_path(&self) -> PathBuf {
        self.dir.join(SPOOL_FILE)
    }

    /// The agent's identity; [`AgentError::NotEnrolled`] before enrolment.
    pub fn load_agent(&self) -> Result<AgentState, AgentError> {
        let path = self.agent_path();
        read_json(&path)?.ok_or(AgentError::NotEnrolled { path })
    }

    pub fn save_agent(&self, agent: &AgentState) -> Result<(), AgentError> {
        write_json(&self.dir, &self.agent_path(), agent)
    }

    /// The report waiting to be sent, if any. A damaged spool is dropped: the next report
    /// replaces it anyway.
    pub fn load_spool(&self) -> Option<Report> {
        match read_json(&self.spool_path()) {
            Ok(report) => report,
            Err(error) => {
                tracing::warn!(%error, "dropping the spooled report");
                None
            }
        }
    }

    /// Keeps `report` for sending later, replacing any report kept before.
    pub fn save_spool(&self, report: &Report) -> Result<(), AgentError> {
        write_json(&self.dir, &self.spool_path(), report)
    }

    pub fn remove_spool(&self) -> Result<(), AgentError> {
        let path = self.spool_path();
        match std::fs::remove_file(&path) {
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                Err(AgentError::State { path, source })
            }
            _ => Ok(()),
        }
    }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, AgentError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AgentError::State {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| AgentError::DamagedState {
            path: path.to_owned(),
            source,
        })
}

/// Writes `value` to `path` whole or not at all (a temporary file renamed over it), readable
/// by the owner only, creating the folder (owner only) when missing.
fn write_json<T: Serialize>(dir: &Path, path: &Path, value: &T) -> Result<(), AgentError> {
    let failed = |source| AgentError::State {
        path: path.to_owned(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(failed)?;
    let json = serde_json::to_vec_pretty(value).map_err(|e| failed(std::io::Error::other(e)))?;
    let temporary = path.with_extension("json.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(failed)?;
    file.write_all(&json).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opsdesk_domain::inventory::Section;
    use std::os::unix::fs::PermissionsExt;

    fn agent() -> AgentState {
        AgentState {
            server: "https://desk.example.com".into(),
            agent: 7,
            ci: 42,
            credential: "oda_secret".into(),
            report_every_seconds: 3600,
            ca_file: None,
            acknowledged: Acknowledged::from([(Section::Os, "abc".to_owned())]),
        }
    }

    #[test]
    fn the_identity_is_kept_readable_by_its_owner_only() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let state = StateDir::new(dir.path().join("state"));
        assert!(matches!(
            state.load_agent(),
            Err(AgentError::NotEnrolled { .. })
        ));
        state.save_agent(&agent())?;
        assert_eq!(state.load_agent()?, agent());
        let mode = std::fs::metadata(state.agent_path())?.permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        Ok(())
    }

    #[test]
    fn a_newer_report_replaces_the_spooled_one() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let state = StateDir::new(dir.path());
        assert_eq!(state.load_spool(), None);
        let older = Report {
            hostname: "web-1".into(),
            uptime_seconds: 5,
            ..Report::default()
        };
        let newer = Report {
            uptime_seconds: 3605,
            ..older.clone()
        };
        state.save_spool(&older)?;
        state.save_spool(&newer)?;
        assert_eq!(state.load_spool(), Some(newer));
        state.remove_spool()?;
        state.remove_spool()?;
        assert_eq!(state.load_spool(), None);
        Ok(())
    }

    #[test]
    fn a_damaged_identity_says_so() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let state = StateDir::new(dir.path());
        std::fs::write(state.agent_path(), "{not json")?;
        assert!(matches!(
            state.load_agent(),
            Err(AgentError::DamagedState { .. })
        ));
        Ok(())
    }
}
