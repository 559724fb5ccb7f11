//! Working on a ticket's machines through the web pages, on SQLite and PostgreSQL: a TCP
//! diagnostic from the ticket page against a local listener lands on the timeline and a
//! target elsewhere comes back as the field's mistake; remote access set on the item's page
//! and "Connect" from the ticket, whose note of what was done lands on the ticket; an admin
//! approves a runbook's script on Admin → Scripts (an agent cannot), and the run started
//! from the ticket page shows the real agent's output.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, EnrolledAgent, TestServer, WebForms, dual_backend_test};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_opsdesk");

/// A server item named `name` reached as `localhost`, linked to a new incident; the
/// incident's number and the item's id.
async fn incident_about_localhost(server: &TestServer, name: &str) -> (String, i64) {
    let admin = server.admin();
    let created = admin
        .post(
            "/api/v1/cis",
            json!({"class": "server", "name": name, "hostname": "localhost",
                   "organization": "Acme"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let ci = created.body["id"].as_i64().unwrap();
    let number = server
        .incident(
            "The intranet does not answer",
            "medium",
            "high",
            "carol@acme.example",
        )
        .await;
    link(server, &number, ci).await;
    (number, ci)
}

async fn link(server: &TestServer, number: &str, ci: i64) {
    let admin = server.admin();
    let linked = admin
        .send(admin.request(
            reqwest::Method::PUT,
            &format!("/api/v1/tickets/{number}/cis/{ci}"),
        ))
        .await;
    assert_eq!(linked.status, 204, "{}", linked.text);
}

dual_backend_test!(
    a_diagnostic_from_the_ticket_page_lands_on_its_timeline,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let (number, _) = incident_about_localhost(&server, "intranet01").await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { while listener.accept().await.is_ok() {} });
        let ann = server.web_forms("ann@msp.example").await;
        let ticket = format!("/tickets/{number}");

        let page = ann.page(&ticket).await;
        assert!(page.contains("id=\"diagnostic-form\""), "{page}");
        assert!(page.contains("placeholder=\"localhost\""), "{page}");

        let target = format!("localhost:{port}");
        let (status, path, page) = ann
            .post(
                &format!("{ticket}/diagnostics"),
                &[("kind", "tcp"), ("target", &target), ("agent", "")],
            )
            .await;
        assert_eq!((status, path.as_str()), (200, ticket.as_str()), "{page}");
        assert!(
            page.contains(&format!(
                "Diagnostic: tcp {target}</strong> from the server succeeded"
            )),
            "{page}"
        );

        // Elsewhere is off limits: the form comes back with the target's mistake, as typed.
        let (status, _, page) = ann
            .post(
                &format!("{ticket}/diagnostics"),
                &[("kind", "tcp"), ("target", "192.0.2.10:22"), ("agent", "")],
            )
            .await;
        assert_eq!(status, 422, "{page}");
        let error = page
            .split("id=\"diagnostic-target-error\">")
            .nth(1)
            .unwrap_or_else(|| panic!("no target mistake in {page}"));
        assert!(error.contains("allow-list"), "{error}");
        assert!(page.contains("value=\"192.0.2.10:22\""), "{page}");
        assert!(!page.contains("Diagnostic: tcp 192.0.2.10"), "{page}");
    }
);

/// The session page's id, from its path (`/remote-sessions/7`).
fn session_id(path: &str) -> i64 {
    path.strip_prefix("/remote-sessions/")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not a session page: {path}"))
}

dual_backend_test!(
    remote_access_set_on_the_item_page_connects_from_the_ticket,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let (number, ci) = incident_about_localhost(&server, "web01").await;
        let ann = server.web_forms("ann@msp.example").await;
        let item = format!("/cmdb/{ci}");

        // Two filled rows and a blank one, which is left out.
        let rows = [
            ("method", "ssh"),
            ("address", "localhost"),
            ("username", "root"),
            ("method", "web"),
            ("address", "https://idrac-web01.example/console"),
            ("username", ""),
            ("method", "ssh"),
            ("address", ""),
            ("username", ""),
        ];
        let (status, path, page) = ann.post(&format!("{item}/access"), &rows).await;
        assert_eq!((status, path.as_str()), (200, item.as_str()), "{page}");
        assert!(page.contains("href=\"ssh://root@localhost:22\""), "{page}");
        assert!(
            page.contains("href=\"https://idrac-web01.example/console\""),
            "{page}"
        );

        // A mistake comes back next to its row, and nothing changes.
        let (status, _, page) = ann
            .post(
                &format!("{item}/access"),
                &[("method", "web"), ("address", "javascript:alert(1)")],
            )
            .await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("id=\"access-1-error\""), "{page}");
        let stored = server
            .admin()
            .get(&format!("/api/v1/cis/{ci}/access"))
            .await;
        assert_eq!(stored.body.as_array().unwrap().len(), 2, "{}", stored.text);
        let ssh = stored.body[0]["id"].as_i64().unwrap();

        let ticket = format!("/tickets/{number}");
        let page = ann.page(&ticket).await;
        assert!(
            page.contains(&format!("name=\"access\" value=\"{ssh}\"")),
            "{page}"
        );
        let (status, path, page) = ann
            .post(
                &format!("{ticket}/connect"),
                &[("access", &ssh.to_string())],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let session = session_id(&path);
        assert!(
            page.contains("http-equiv=\"refresh\" content=\"0;url=ssh://root@localhost:22\""),
            "{page}"
        );
        assert!(
            page.contains("<a href=\"ssh://root@localhost:22\">"),
            "{page}"
        );

        let note = format!("/remote-sessions/{session}/note");
        let (status, _, page) = ann.post(&note, &[("note", " ")]).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("id=\"note-error\""), "{page}");
        let (status, path, page) = ann
            .post(&note, &[("note", "Renewed the certificate.")])
            .await;
        assert_eq!((status, path.as_str()), (200, ticket.as_str()), "{page}");
        assert!(page.contains("connected to web01 by SSH"), "{page}");
        assert!(page.contains("Renewed the certificate."), "{page}");

        // Another agent cannot write what someone else did.
        server.user("bob@msp.example", "agent", None, &[]).await;
        let bob = server.web_forms("bob@msp.example").await;
        let (status, _, page) = bob.post(&note, &[("note", "Not me.")]).await;
        assert_eq!(status, 403, "{page}");
    }
);

/// Starts the runbook's scripts on `host` from the ticket page.
async fn run_on_host(forms: &WebForms, ticket: &str, runbook: i64, host: i64) -> (u16, String) {
    let (status, _, page) = forms
        .post(
            &format!("{ticket}/runbook-runs"),
            &[
                ("runbook", &runbook.to_string()),
                ("host", &host.to_string()),
            ],
        )
        .await;
    (status, page)
}

dual_backend_test!(
    an_admin_approves_a_script_and_the_run_from_the_ticket_shows_its_output,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let machine = EnrolledAgent::enrol(&server, BIN).await;
        let admin = server.admin();
        let created = admin
            .post(
                "/api/v1/tickets",
                json!({"type": "incident", "title": "Printer queue stuck", "impact": "low",
                       "urgency": "medium", "requester": "carol@acme.example",
                       "category": "Printer"}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let number = created.body["number"].as_str().unwrap().to_owned();
        link(&server, &number, machine.ci).await;
        let runbook = admin
            .post(
                "/api/v1/articles",
                json!({"kind": "runbook", "title": "Printer queue stuck", "body": "Clear it.",
                       "category": "Printer", "audience": "internal",
                       "steps": [{"kind": "script", "check": "Count the jobs",
                                  "language": "shell", "script": "echo 3 jobs waiting"}]}),
            )
            .await;
        assert_eq!(runbook.status, 201, "{}", runbook.text);
        let runbook = runbook.body["id"].as_i64().unwrap();
        let ticket = format!("/tickets/{number}");
        let ann = server.web_forms("ann@msp.example").await;

        // Not approved yet: the form says so, and where to look.
        let (status, page) = run_on_host(&ann, &ticket, runbook, machine.ci).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("is not approved"), "{page}");
        assert!(page.contains("href=\"/admin/scripts\""), "{page}");

        // An agent sees the script waiting, read only, and cannot approve it.
        let listed = ann.page("/admin/scripts").await;
        assert!(listed.contains("echo 3 jobs waiting"), "{listed}");
        assert!(listed.contains("Waiting for approval"), "{listed}");
        assert!(!listed.contains("/approve\""), "{listed}");
        let hash = listed
            .split("data-script=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
        let approve = format!("/admin/scripts/{hash}/approve");
        let (status, _, page) = ann.post(&approve, &[]).await;
        assert_eq!(status, 403, "{page}");

        let root = server.web_forms("root@msp.example").await;
        assert!(
            root.page("/admin")
                .await
                .contains("href=\"/admin/scripts\"")
        );
        let (status, path, page) = root.post(&approve, &[]).await;
        assert_eq!((status, path.as_str()), (200, "/admin/scripts"), "{page}");
        assert!(page.contains("Approved by root@msp.example"), "{page}");
        assert!(
            page.contains(&format!("/admin/scripts/{hash}/withdraw")),
            "{page}"
        );

        let (status, page) = run_on_host(&ann, &ticket, runbook, machine.ci).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Queued for the agent"), "{page}");
        machine.run_once().await;
        let page = ann.page(&ticket).await;
        assert!(
            page.contains("<pre class=\"output\">3 jobs waiting\n</pre>"),
            "{page}"
        );
        assert!(page.contains("Succeeded"), "{page}");
    }
);
