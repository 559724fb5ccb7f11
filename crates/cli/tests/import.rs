//! `opsdesk import tickets`: another desk's history comes in with its dates, status and
//! conversation, names that do not exist are refused by line or created on request, a
//! second run brings nothing twice, and nothing is mailed or sent to webhooks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, TestServer, dual_backend_test, run_command_output, sqlx};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_opsdesk");

fn history() -> String {
    [
        json!({
            "external_id": "rt-101", "type": "incident", "title": "VPN drops every hour",
            "description": "The tunnel falls over at ten past each hour.",
            "category": "Network/VPN", "group": "Network", "priority": "P2",
            "status": "resolved", "resolution_note": "Raised the idle timeout on the concentrator",
            "requester": "carol@acme.example",
            "created_at": "2025-03-03T09:00:00Z", "resolved_at": "2025-03-03T11:30:00Z",
            "comments": [
                {"body": "Which client version do you run?", "public": true,
                 "author": "ann@msp.example", "at": "2025-03-03T09:20:00Z"},
                {"body": "Concentrator logs show idle disconnects", "public": false,
                 "author": "max@oldmsp.example", "at": "2025-03-03T10:00:00Z"},
                {"body": "Version 5.1", "public": true, "author": "carol@acme.example",
                 "at": "2025-03-03T10:05:00Z"}
            ]
        }),
        json!({
            "external_id": "rt-102", "type": "service_request", "title": "Laptop for a new starter",
            "category": "Printer", "requester": "dora@initech.example", "organization": "Initech",
            "status": "open", "created_at": "2025-03-04T08:00:00Z"
        }),
        json!({
            "external_id": "rt-103", "title": "Printer offline on floor 2",
            "organization": "Initech", "status": "closed", "resolved_at": "2025-03-05T16:00:00Z",
            "created_at": "2025-03-05T15:00:00Z"
        }),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n")
}

async fn import(server: &TestServer, file: &std::path::Path, flags: &[&str]) -> (bool, String) {
    let mut args = vec!["import", "tickets", file.to_str().unwrap()];
    args.extend(flags);
    let database = server.db.cli_args();
    args.extend(database.iter().map(String::as_str));
    let output = run_command_output(BIN, &args, None).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn count(server: &TestServer, sql: &'static str) -> i64 {
    let mut conn = server.db.connect().await;
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut conn).await.unwrap();
    n
}

dual_backend_test!(
    history_comes_in_once_with_its_dates_and_conversation_and_without_side_effects,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let hook = admin
            .post(
                "/api/v1/webhooks",
                json!({"url": "http://127.0.0.1:9/hook", "events": ["ticket.created"]}),
            )
            .await;
        assert_eq!(hook.status, 201, "{}", hook.text);
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("history.jsonl");
        std::fs::write(&file, history()).unwrap();
        let tickets = "SELECT count(*) FROM tickets";
        let before = count(&server, tickets).await;

        let (ok, text) = import(&server, &file, &[]).await;
        assert!(!ok, "{text}");
        for expected in [
            "line 1: category `Network/VPN` does not exist (--create-missing creates it)",
            "line 1: group `Network` does not exist",
            "line 1: agent max@oldmsp.example does not exist",
            "line 2: organization `Initech` does not exist",
            "line 2: customer dora@initech.example of Initech does not exist",
            "nothing was written",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }

        let (ok, text) = import(&server, &file, &["--create-missing", "--dry-run"]).await;
        assert!(ok, "{text}");
        assert!(
            text.contains("3 tickets, 0 imported before, 3 to import"),
            "{text}"
        );
        assert!(text.contains("would create"), "{text}");
        assert!(text.contains("category `Network/VPN`"), "{text}");
        assert!(text.contains("dry run: nothing was written"), "{text}");
        assert_eq!(count(&server, tickets).await, before);
        assert_eq!(
            count(
                &server,
                "SELECT count(*) FROM organizations WHERE name = 'Initech'"
            )
            .await,
            0
        );

        let (ok, text) = import(&server, &file, &["--create-missing"]).await;
        assert!(ok, "{text}");
        assert!(text.contains("imported 3 tickets"), "{text}");
        assert_eq!(count(&server, tickets).await, before + 3);
        assert_eq!(
            count(&server, "SELECT count(*) FROM jobs").await,
            0,
            "an import queues no mail and no webhook"
        );

        let found = admin.get("/api/v1/tickets?q=VPN%20drops").await;
        assert_eq!(found.status, 200, "{}", found.text);
        let number = found.body["items"][0]["number"]
            .as_str()
            .unwrap()
            .to_owned();
        let vpn = admin.get(&format!("/api/v1/tickets/{number}")).await.body;
        assert_eq!(vpn["status"], "resolved");
        assert_eq!(vpn["priority"], "P2");
        assert_eq!(vpn["source"], "import");
        assert_eq!(vpn["group"]["name"], "Network");
        assert_eq!(vpn["requester"]["email"], "carol@acme.example");
        assert_eq!(vpn["resolution_code"], "fixed");
        assert_eq!(
            vpn["resolution_note"],
            "Raised the idle timeout on the concentrator"
        );
        assert_eq!(vpn["created_at"], "2025-03-03T09:00:00Z");
        assert_eq!(vpn["resolved_at"], "2025-03-03T11:30:00Z");
        assert!(
            vpn["sla"].is_null(),
            "imported tickets start no SLA clocks: {vpn}"
        );

        let customer = server.client(&server.token_for("carol@acme.example").await);
        let seen = customer
            .get(&format!("/api/v1/tickets/{number}/timeline"))
            .await;
        assert_eq!(seen.status, 200, "{}", seen.text);
        let kinds: Vec<(String, String)> = seen.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_owned(),
                    e["at"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("created", "2025-03-03T09:00:00Z"),
                ("comment", "2025-03-03T09:20:00Z"),
                ("comment", "2025-03-03T10:05:00Z"),
                ("status_changed", "2025-03-03T11:30:00Z"),
            ]
            .map(|(k, a)| (k.to_owned(), a.to_owned())),
            "the requester sees the replies in order, and not the internal note"
        );
        let staff = admin
            .get(&format!("/api/v1/tickets/{number}/timeline"))
            .await;
        assert!(
            staff
                .text
                .contains("Concentrator logs show idle disconnects")
        );
        assert_eq!(
            count(
                &server,
                "SELECT count(*) FROM users WHERE email = 'max@oldmsp.example' AND role = 'agent'"
            )
            .await,
            1
        );

        let floor = admin.get("/api/v1/tickets?q=Printer%20offline").await;
        let floor = &floor.body["items"][0];
        assert_eq!(floor["status"], "closed");
        let placeholder = admin
            .get(&format!(
                "/api/v1/tickets/{}",
                floor["number"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            placeholder.body["requester"]["email"],
            "unknown-requester@initech.invalid"
        );
        assert_eq!(placeholder.body["organization"]["name"], "Initech");

        let (ok, text) = import(&server, &file, &[]).await;
        assert!(ok, "{text}");
        assert!(text.contains("3 imported before, 0 to import"), "{text}");
        assert_eq!(count(&server, tickets).await, before + 3);

        // The webhook is live: a ticket opened the usual way is sent to it.
        server
            .incident("Mail is slow", "low", "low", "carol@acme.example")
            .await;
        assert_eq!(count(&server, "SELECT count(*) FROM jobs").await, 1);

        std::fs::write(&file, format!("{}\n{{\"title\": 5}}\n", history())).unwrap();
        let (ok, text) = import(&server, &file, &[]).await;
        assert!(!ok);
        assert!(text.contains("line 4: not a ticket"), "{text}");
    }
);

dual_backend_test!(
    a_csv_export_comes_in_row_by_row_naming_the_columns_it_leaves_out,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("export.csv");
        std::fs::write(
            &file,
            "External_ID,title,description,status,priority,requester,created_at,resolved_at,tags,Owner\n\
             os-7,Scanner jams,\"Jams on every\nsecond page\",resolved,P4,carol@acme.example,\
             2025-04-01T08:00:00Z,2025-04-01T09:00:00Z,osticket-7 hardware,max\n\
             os-8,Wi-Fi slow in room 3,,,,carol@acme.example,2025-04-02T08:00:00Z,,,\n",
        )
        .unwrap();
        let (ok, text) = import(&server, &file, &[]).await;
        assert!(ok, "{text}");
        assert!(
            text.contains("columns left out (not ticket fields): owner"),
            "{text}"
        );

        let found = admin.get("/api/v1/tickets?q=tag:osticket-7").await;
        assert_eq!(found.status, 200, "{}", found.text);
        let number = found.body["items"][0]["number"].as_str().unwrap();
        let scanner = admin.get(&format!("/api/v1/tickets/{number}")).await.body;
        assert_eq!(scanner["title"], "Scanner jams");
        assert_eq!(scanner["description"], "Jams on every\nsecond page");
        assert_eq!(scanner["status"], "resolved");
        assert_eq!(scanner["priority"], "P4");
        assert_eq!(scanner["resolved_at"], "2025-04-01T09:00:00Z");
        let wifi = admin.get("/api/v1/tickets?q=Wi-Fi%20slow").await;
        assert_eq!(wifi.body["items"][0]["status"], "new", "{}", wifi.text);

        // A row without a title is refused by its line: the header is line 1 and the
        // first row spans lines 2 and 3.
        std::fs::write(
            &file,
            "external_id,title,description\nos-9,Toner,\"low\nagain\"\nos-10,,no title\n",
        )
        .unwrap();
        let (ok, text) = import(&server, &file, &[]).await;
        assert!(!ok, "{text}");
        assert!(text.contains("line 4: not a ticket"), "{text}");
    }
);

/// Sends `content` as `name` through the import page's form; the status and page.
async fn upload(
    server: &TestServer,
    browser: &reqwest::Client,
    csrf: &str,
    name: &'static str,
    content: String,
    options: &[&'static str],
) -> (u16, String) {
    let mut form = reqwest::multipart::Form::new()
        .text("csrf_token", csrf.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(content.into_bytes()).file_name(name),
        );
    for option in options {
        form = form.text(*option, "on");
    }
    let response = browser
        .post(format!("{}/admin/import", server.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Sends [`history`] through the import page with `options` ticked.
async fn upload_history(
    server: &TestServer,
    browser: &reqwest::Client,
    csrf: &str,
    options: &[&'static str],
) -> (u16, String) {
    upload(server, browser, csrf, "history.jsonl", history(), options).await
}

dual_backend_test!(
    an_admin_imports_a_ticket_file_from_the_web_page_after_a_dry_run,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let (browser, csrf) = server.web_session("root@msp.example").await;
        let page =
            opsdesk_testkit::page_text(&browser, format!("{}/admin/import", server.url)).await;
        assert!(page.contains(r#"id="import-form""#), "{page}");

        // Names that do not exist stop it, by line, until the admin agrees to create them.
        let (status, shown) = upload_history(&server, &browser, &csrf, &[]).await;
        assert_eq!(status, 422, "{shown}");
        assert!(
            shown.contains("line 1: category `Network/VPN` does not exist"),
            "{shown}"
        );
        assert_eq!(
            count(&server, "SELECT COUNT(*) FROM ticket_imports").await,
            0
        );

        let (status, shown) =
            upload_history(&server, &browser, &csrf, &["create_missing", "dry_run"]).await;
        assert_eq!(status, 200, "{shown}");
        assert!(shown.contains(r#"id="import-dry""#), "{shown}");
        assert!(shown.contains("category `Network/VPN` (line 1)"), "{shown}");
        assert!(shown.contains("Tickets in the file: 3"), "{shown}");
        assert_eq!(
            count(&server, "SELECT COUNT(*) FROM ticket_imports").await,
            0
        );

        let (status, shown) = upload_history(&server, &browser, &csrf, &["create_missing"]).await;
        assert_eq!(status, 200, "{shown}");
        assert!(shown.contains("Tickets imported: 3"), "{shown}");
        let found = admin.get("/api/v1/tickets?q=VPN%20drops").await;
        assert_eq!(
            found.body["items"][0]["status"], "resolved",
            "{}",
            found.text
        );

        // Sent again, nothing comes twice; a CSV names the columns it leaves out.
        let (_, shown) = upload_history(&server, &browser, &csrf, &["create_missing"]).await;
        assert!(shown.contains("imported before: 3"), "{shown}");
        assert!(shown.contains("Tickets imported: 0"), "{shown}");
        let csv = "external_id,title,requester,Owner\nos-1,Scanner jams,carol@acme.example,max\n";
        let (status, shown) =
            upload(&server, &browser, &csrf, "export.csv", csv.to_owned(), &[]).await;
        assert_eq!(status, 200, "{shown}");
        assert!(shown.contains("Tickets imported: 1"), "{shown}");
        assert!(shown.contains("(not ticket fields): owner"), "{shown}");

        // Agents cannot.
        let (agent, agent_csrf) = server.web_session("ann@msp.example").await;
        let (status, _) = upload(
            &server,
            &agent,
            &agent_csrf,
            "export.csv",
            csv.to_owned(),
            &[],
        )
        .await;
        assert_eq!(status, 403);
    }
);
