//! Host agents as tests play them: enrolled through the API, reporting what they choose.

use serde_json::{Value, json};

use crate::{Client, TestServer};

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
