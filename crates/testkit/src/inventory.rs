//! Host agents as tests play them: enrolled through the API, reporting what they choose.

use serde_json::{Value, json};

use crate::{Client, TestServer, run_command_output};

/// A dpkg package as an agent reports it.
pub fn package(name: &str, version: &str) -> Value {
    json!({"name": name, "version": version, "architecture": "amd64", "manager": "dpkg"})
}

/// A report from `hostname` carrying the given sections in full, hashed as the agent
/// hashes them: over the typed sections.
pub fn agent_report(hostname: &str, sections: &[(&str, Value)]) -> Value {
    use opsdesk_domain::inventory::Report;
    let mut body = json!({"hostname": hostname, "uptime_seconds": 3600, "hashes": {}});
    for (name, value) in sections {
        body[*name] = value.clone();
    }
    let mut typed: Report = serde_json::from_value(body).expect("a report");
    for (section, hash) in typed.carried() {
        typed.hashes.insert(section, hash);
    }
    serde_json::to_value(typed).expect("a report as JSON")
}

impl TestServer {
    /// Enrols an agent for `hostname` in `organization` with a token an admin makes;
    /// returns its item's id and a client holding its credential.
    pub async fn enrolled_agent(&self, organization: &str, hostname: &str) -> (i64, Client) {
        let made = self
            .admin()
            .post(
                "/api/v1/agent-enrolments",
                json!({"organization": organization}),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.text);
        let enrolled = self
            .anonymous()
            .post(
                "/api/v1/agents/enrol",
                json!({"token": made.body["token"], "hostname": hostname}),
            )
            .await;
        assert_eq!(enrolled.status, 201, "{}", enrolled.text);
        let ci = enrolled.body["ci"].as_i64().expect("the agent's item");
        let credential = enrolled.body["credential"].as_str().expect("a credential");
        (ci, self.client(credential))
    }
}

/// This machine's agent, enrolled into a test server for Acme and run from the built
/// `opsdesk` binary with a state folder of its own (removed when dropped).
pub struct EnrolledAgent {
    binary: String,
    state: tempfile::TempDir,
    /// The configuration item the enrolment made for this machine.
    pub ci: i64,
}

impl EnrolledAgent {
    /// Enrols this machine with `opsdesk agent enrol` and an enrolment token for Acme.
    pub async fn enrol(server: &TestServer, binary: &str) -> Self {
        let made = server
            .admin()
            .post("/api/v1/agent-enrolments", json!({"organization": "Acme"}))
            .await;
        assert_eq!(made.status, 201, "{}", made.text);
        let token = made.body["token"].as_str().unwrap();
        let state = tempfile::tempdir().unwrap();
        let state_dir = state.path().to_str().unwrap();
        let args = [
            "agent",
            "enrol",
            "--server",
            &server.url,
            "--token",
            token,
            "--state-dir",
            state_dir,
        ];
        let enrolled = run_command_output(binary, &args, None).await;
        assert!(
            enrolled.status.success(),
            "{}",
            String::from_utf8_lossy(&enrolled.stderr)
        );
        let said = String::from_utf8_lossy(&enrolled.stdout).into_owned();
        let ci = said
            .split("configuration item ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no item in {said}"));
        Self {
            binary: binary.to_owned(),
            state,
            ci,
        }
    }

    /// One round of `opsdesk agent run --once`: it reports, and does its queued work.
    pub async fn run_once(&self) {
        let state_dir = self.state.path().to_str().unwrap();
        let args = ["agent", "run", "--once", "--state-dir", state_dir];
        let ran = run_command_output(&self.binary, &args, None).await;
        assert!(
            ran.status.success(),
            "{}",
            String::from_utf8_lossy(&ran.stderr)
        );
    }
}
