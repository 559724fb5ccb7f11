//! The real agent on this machine: `opsdesk agent enrol` and `opsdesk agent run --once`
//! report its dpkg packages and pending apt updates into a server, where they are
//! searchable; a second run sends only what changed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, EnrolledAgent, TestServer, dual_backend_test};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_opsdesk");

dual_backend_test!(
    the_agent_reports_this_machine_and_its_packages_are_searchable,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let machine = EnrolledAgent::enrol(&server, BIN).await;
        machine.run_once().await;

        // dpkg is installed wherever dpkg reports packages: this machine is found by it.
        let found = admin
            .get("/api/v1/cis?q=package:dpkg%20organization:Acme")
            .await;
        assert_eq!(found.status, 200, "{}", found.text);
        assert_eq!(found.body.as_array().unwrap().len(), 1, "{}", found.text);
        let ci = found.body[0]["id"].as_i64().unwrap();
        assert_eq!(ci, machine.ci);
        let inventory = admin.get(&format!("/api/v1/cis/{ci}/inventory")).await;
        let packages = inventory.body["packages"].as_array().unwrap();
        assert!(packages.len() > 50, "{} packages", packages.len());
        assert!(packages.iter().all(|p| p["manager"] == "dpkg"));
        assert!(inventory.body["updates"].is_array(), "{}", inventory.text);
        assert!(inventory.body["hardware"]["cpu_cores"].as_u64().unwrap() >= 1);
        assert!(!inventory.body["os"]["kernel"].as_str().unwrap().is_empty());
        let version = packages.iter().find(|p| p["name"] == "dpkg").unwrap()["version"]
            .as_str()
            .unwrap()
            .to_owned();
        let exact = admin
            .get(&format!("/api/v1/cis?q=package:dpkg={version}"))
            .await;
        assert_eq!(exact.body.as_array().unwrap().len(), 1, "{}", exact.text);
        let newer = admin
            .get(&format!("/api/v1/cis?q=package:dpkg%3E{version}"))
            .await;
        assert_eq!(newer.body, json!([]));

        // The packages did not change: the second report carries their hash only, and
        // neither they nor their history move. (Listening sockets may: other tests on this
        // machine open and close servers.)
        machine.run_once().await;
        let changes = admin
            .get(&format!("/api/v1/cis/{ci}/inventory/changes"))
            .await;
        let package_changes: Vec<_> = changes
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["section"] != "services")
            .collect();
        assert!(package_changes.is_empty(), "{}", changes.text);
        let after = admin.get(&format!("/api/v1/cis/{ci}/inventory")).await;
        assert_eq!(after.body["packages"], inventory.body["packages"]);
        assert_ne!(after.body["agents"][0]["last_report_at"], json!(null));
    }
);
