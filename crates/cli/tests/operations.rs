//! Working on machines from a ticket, on SQLite and PostgreSQL: diagnostics against real
//! local targets (a TLS server whose certificate expires in 3 days, a name that does not
//! resolve, a refused target), remote access links, and runbook scripts run by the real
//! agent process — an unapproved script refused, an approved one run with its output on
//! the ticket, and one stopped at its timeout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, Client, EnrolledAgent, TestServer, dual_backend_test};
use serde_json::{Value, json};
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_opsdesk");

async fn link(admin: &Client, incident: &str, ci: i64) {
    let linked = admin
        .send(admin.request(
            reqwest::Method::PUT,
            &format!("/api/v1/tickets/{incident}/cis/{ci}"),
        ))
        .await;
    assert_eq!(linked.status, 204, "{}", linked.text);
}

async fn notes(admin: &Client, incident: &str) -> String {
    let comments = admin
        .get(&format!("/api/v1/tickets/{incident}/timeline?limit=200"))
        .await;
    assert_eq!(comments.status, 200, "{}", comments.text);
    comments.text
}

dual_backend_test!(
    diagnostics_run_against_the_tickets_item_and_land_on_the_ticket,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let created = admin
            .post(
                "/api/v1/cis",
                json!({"class": "server", "name": "web01", "hostname": "localhost",
                       "organization": "Acme"}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let ci = created.body["id"].as_i64().unwrap();
        let incident = server
            .incident(
                "The intranet warns about its certificate",
                "medium",
                "high",
                "carol@acme.example",
            )
            .await;
        link(&admin, &incident, ci).await;
        let path = format!("/api/v1/tickets/{incident}/diagnostics");

        let tls = opsdesk_testkit::expiring_tls_server(3).await;
        let checked = admin
            .post(
                &path,
                json!({"kind": "tls", "target": format!("localhost:{}", tls.port())}),
            )
            .await;
        assert_eq!(checked.status, 200, "{}", checked.text);
        assert_eq!(checked.body["state"], "failed", "{}", checked.text);
        assert_eq!(checked.body["from"], "server");
        assert!(
            checked.body["summary"]
                .as_str()
                .unwrap()
                .starts_with("the certificate expires in"),
            "{}",
            checked.text
        );
        assert!(
            checked.text.contains("subject: CN=")
                && checked.text.contains("names: DNSName(localhost)"),
            "{}",
            checked.text
        );
        assert!(checked.body["duration_ms"].as_u64().is_some());

        // The ticket's item is the target when none is typed.
        let pinged = admin.post(&path, json!({"kind": "ping"})).await;
        assert_eq!(pinged.status, 200, "{}", pinged.text);
        assert_eq!(pinged.body["target"], "localhost");
        assert_eq!(pinged.body["state"], "succeeded", "{}", pinged.text);

        // Traceroute runs the system's tool, or says it is missing.
        let traced = admin.post(&path, json!({"kind": "traceroute"})).await;
        assert_eq!(traced.status, 200, "{}", traced.text);
        let installed = ["traceroute", "tracepath"]
            .iter()
            .any(|tool| std::process::Command::new(tool).arg("-V").output().is_ok());
        if installed {
            assert_eq!(traced.body["state"], "succeeded", "{}", traced.text);
            assert!(traced.text.contains("127.0.0.1"), "{}", traced.text);
        } else {
            assert_eq!(traced.body["state"], "failed", "{}", traced.text);
            assert!(traced.text.contains("is installed"), "{}", traced.text);
        }

        let unresolved = admin
            .post(
                &path,
                json!({"kind": "dns", "target": "nothing-here.invalid"}),
            )
            .await;
        assert_eq!(unresolved.status, 200, "{}", unresolved.text);
        assert_eq!(unresolved.body["state"], "failed", "{}", unresolved.text);

        // Elsewhere is off limits unless the operator allowed it.
        let scan = admin
            .post(&path, json!({"kind": "tcp", "target": "192.0.2.10:22"}))
            .await;
        assert_eq!(scan.status, 422, "{}", scan.text);
        assert!(scan.text.contains("allow-list"), "{}", scan.text);
        assert!(scan.text.contains("\"target\""), "{}", scan.text);
        let customer = server.client(&server.token_for("carol@acme.example").await);
        assert_eq!(
            customer.post(&path, json!({"kind": "ping"})).await.status,
            403
        );

        let written = notes(&admin, &incident).await;
        assert!(written.contains("Diagnostic: tls localhost:"), "{written}");
        assert!(
            written.contains("Diagnostic: dns nothing-here.invalid"),
            "{written}"
        );

        // Remote access: the link opens the client, and connecting is recorded.
        let access = admin
            .put(
                &format!("/api/v1/cis/{ci}/access"),
                json!([{"method": "ssh", "address": "localhost", "username": "root"},
                       {"method": "web", "address": "https://idrac-web01.example/console"}]),
            )
            .await;
        assert_eq!(access.status, 200, "{}", access.text);
        assert_eq!(
            access.body[0]["uri"], "ssh://root@localhost:22",
            "{}",
            access.text
        );
        let ssh = access.body[0]["id"].as_i64().unwrap();
        let bad = admin
            .put(
                &format!("/api/v1/cis/{ci}/access"),
                json!([{"method": "web", "address": "javascript:alert(1)"}]),
            )
            .await;
        assert_eq!(bad.status, 422, "{}", bad.text);
        let session = admin
            .post(
                &format!("/api/v1/tickets/{incident}/remote-sessions"),
                json!({"access": ssh}),
            )
            .await;
        assert_eq!(session.status, 201, "{}", session.text);
        assert_eq!(session.body["uri"], "ssh://root@localhost:22");
        let id = session.body["id"].as_i64().unwrap();
        let noted = admin
            .post(
                &format!("/api/v1/remote-sessions/{id}/note"),
                json!({"note": "Renewed the certificate."}),
            )
            .await;
        assert_eq!(noted.status, 200, "{}", noted.text);
        let written = notes(&admin, &incident).await;
        assert!(written.contains("connected to web01 by SSH"), "{written}");
        assert!(written.contains("Renewed the certificate."), "{written}");
    }
);

async fn runbook(admin: &Client, title: &str, steps: Value) -> i64 {
    let created = admin
        .post(
            "/api/v1/articles",
            json!({"kind": "runbook", "title": title, "body": "When the site is down.",
                   "steps": steps, "audience": "internal"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.body["id"].as_i64().unwrap()
}

async fn approve_scripts_of(admin: &Client, runbook: i64) {
    let scripts = admin.get("/api/v1/scripts").await;
    assert_eq!(scripts.status, 200, "{}", scripts.text);
    for script in scripts.body.as_array().unwrap() {
        if script["runbook"] == runbook {
            assert!(script["approved_at"].is_null());
            let hash = script["hash"].as_str().unwrap();
            let approved = admin
                .post(&format!("/api/v1/scripts/{hash}/approve"), json!({}))
                .await;
            assert_eq!(approved.status, 200, "{}", approved.text);
            assert_eq!(approved.body["approved_by"], "root@msp.example");
        }
    }
}

dual_backend_test!(
    runbook_scripts_run_through_the_real_agent_only_once_approved,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.client(&server.token_for("root@msp.example").await);
        let agent = server.client(&server.token_for("ann@msp.example").await);
        let machine = EnrolledAgent::enrol(&server, BIN).await;
        let host = machine.ci;
        machine.run_once().await;
        let incident = server
            .incident(
                "The web server is down",
                "high",
                "high",
                "carol@acme.example",
            )
            .await;
        let restart = runbook(
            &admin,
            "Web server down",
            json!([
                {"check": "Look at the dashboard"},
                {"kind": "script", "check": "Say who runs it", "language": "shell",
                 "script": "echo \"hello from $(hostname)\"; id -un"},
                {"kind": "script", "check": "Count to three", "language": "python",
                 "script": "for n in range(1, 4):\n    print(n)"}
            ]),
        )
        .await;
        let start = json!({"runbook": restart, "ticket": incident, "host": host});

        let refused = agent.post("/api/v1/runbook-runs", start.clone()).await;
        assert_eq!(refused.status, 409, "{}", refused.text);
        assert!(refused.text.contains("not approved"), "{}", refused.text);
        // Only an admin approves.
        let scripts = agent.get("/api/v1/scripts").await;
        let hash = scripts.body[0]["hash"].as_str().unwrap().to_owned();
        assert_eq!(
            agent
                .post(&format!("/api/v1/scripts/{hash}/approve"), json!({}))
                .await
                .status,
            403
        );
        approve_scripts_of(&admin, restart).await;

        let started = agent.post("/api/v1/runbook-runs", start).await;
        assert_eq!(started.status, 201, "{}", started.text);
        assert_eq!(started.body["state"], "running");
        assert_eq!(started.body["steps"][0]["kind"], "manual");
        assert_eq!(started.body["steps"][1]["state"], "queued");
        assert_eq!(started.body["steps"][2]["state"], "pending");
        let run = started.body["id"].as_i64().unwrap();
        machine.run_once().await;
        let done = agent.get(&format!("/api/v1/runbook-runs/{run}")).await;
        assert_eq!(done.body["state"], "succeeded", "{}", done.text);
        assert_eq!(done.body["steps"][1]["exit_code"], 0);
        assert!(
            done.body["steps"][1]["output"]
                .as_str()
                .unwrap()
                .contains("hello from"),
            "{}",
            done.text
        );
        assert_eq!(
            done.body["steps"][2]["output"], "1\n2\n3\n",
            "{}",
            done.text
        );
        let written = notes(&admin, &incident).await;
        assert!(
            written.contains("Runbook step 2: Say who runs it"),
            "{written}"
        );
        assert!(
            written.contains("Runbook step 3: Count to three"),
            "{written}"
        );

        // A script past its timeout is stopped, and the run ends there.
        let slow = runbook(
            &admin,
            "Slow check",
            json!([{"kind": "script", "check": "Wait", "language": "shell",
                    "script": "echo waiting; sleep 60", "timeout_seconds": 1}]),
        )
        .await;
        approve_scripts_of(&admin, slow).await;
        let started = agent
            .post(
                "/api/v1/runbook-runs",
                json!({"runbook": slow, "ticket": incident, "host": host}),
            )
            .await;
        assert_eq!(started.status, 201, "{}", started.text);
        let run = started.body["id"].as_i64().unwrap();
        machine.run_once().await;
        let done = agent.get(&format!("/api/v1/runbook-runs/{run}")).await;
        assert_eq!(done.body["state"], "timed_out", "{}", done.text);
        assert_eq!(
            done.body["steps"][0]["output"], "waiting\n",
            "{}",
            done.text
        );

        // A diagnostic from the host: the request waits while the agent, asking for its
        // work, runs it there.
        link(&admin, &incident, host).await;
        let item = admin.get(&format!("/api/v1/cis/{host}")).await;
        let hostname = item.body["hostname"].as_str().unwrap().to_owned();
        let inventory = admin.get(&format!("/api/v1/cis/{host}/inventory")).await;
        let agent_id = inventory.body["agents"][0]["id"].as_i64().unwrap();
        let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let asking = tokio::spawn({
            let agent = agent.clone();
            let path = format!("/api/v1/tickets/{incident}/diagnostics");
            let body =
                json!({"kind": "tcp", "target": format!("{hostname}:{port}"), "agent": agent_id});
            async move { agent.post(&path, body).await }
        });
        machine.run_once().await;
        let answered = asking.await.unwrap();
        assert_eq!(answered.status, 200, "{}", answered.text);
        assert_eq!(
            answered.body["from"],
            hostname.as_str(),
            "{}",
            answered.text
        );
        assert_eq!(answered.body["state"], "succeeded", "{}", answered.text);
        let written = notes(&admin, &incident).await;
        assert!(
            written.contains(&format!("from {hostname} succeeded")),
            "{written}"
        );

        // Every execution is in the audit log.
        let audit = admin.get("/api/v1/audit?entity=runbook_run").await;
        assert!(
            audit.text.matches("\"outcome\"").count() >= 3,
            "{}",
            audit.text
        );
    }
);
