//! The triage assistant: trained on the desk's tickets through the API (SQLite and
//! PostgreSQL), it suggests category, group and priority with the words behind them and
//! finds similar past tickets; `opsdesk triage` evaluates it against the baseline on a file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use opsdesk_testkit::{
    Backend, TestServer, dual_backend_test, eventually, page_csrf_token, page_text,
    run_command_output,
};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_opsdesk");

dual_backend_test!(
    it_learns_the_desks_tickets_and_suggests_with_reasons,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        for (name, tier) in [("Network", 2), ("Accounts", 1)] {
            let created = admin
                .post("/api/v1/categories", json!({"name": name}))
                .await;
            assert_eq!(created.status, 201, "{}", created.text);
            let group = admin
                .post(
                    "/api/v1/groups",
                    json!({"name": format!("{name} team"), "tier": tier}),
                )
                .await;
            assert_eq!(group.status, 201, "{}", group.text);
        }
        let agent = server.client(&server.token_for("ann@msp.example").await);
        let before = agent
            .post("/api/v1/triage/suggest", json!({"title": "printer jam"}))
            .await;
        assert_eq!(before.status, 200, "{}", before.text);
        assert!(before.body["model"].is_null());
        assert_eq!(before.body["category"], json!([]));
        assert_eq!(
            admin.post("/api/v1/triage/train", json!({})).await.status,
            409
        );
        assert_eq!(agent.get("/api/v1/triage/model").await.status, 404);

        let kinds = [
            (
                "Printer",
                "Service Desk",
                "paper jam in the printer tray",
                "low",
            ),
            (
                "Printer",
                "Service Desk",
                "printer toner cartridge empty",
                "low",
            ),
            (
                "Network",
                "Network team",
                "vpn connection drops every hour",
                "high",
            ),
            (
                "Network",
                "Network team",
                "wifi signal lost on floor 3",
                "high",
            ),
            (
                "Accounts",
                "Accounts team",
                "password expired cannot sign in",
                "medium",
            ),
            (
                "Accounts",
                "Accounts team",
                "account locked after failed logins",
                "medium",
            ),
        ];
        let mut printer_tickets = Vec::new();
        for round in 0..5 {
            for (category, group, title, impact) in kinds {
                let created = admin
                    .post(
                        "/api/v1/tickets",
                        json!({"type": "incident", "title": format!("{title} ({round})"),
                               "impact": impact, "urgency": impact, "category": category,
                               "group": group, "requester": "carol@acme.example"}),
                    )
                    .await;
                assert_eq!(created.status, 201, "{}", created.text);
                if category == "Printer" {
                    printer_tickets.push(created.body["number"].as_str().unwrap().to_owned());
                }
            }
        }
        assert_eq!(
            agent.post("/api/v1/triage/train", json!({})).await.status,
            403
        );
        let trained = admin.post("/api/v1/triage/train", json!({})).await;
        assert_eq!(trained.status, 200, "{}", trained.text);
        assert_eq!(trained.body["trained_on"], 30);
        let top1 = trained.body["accuracy"]["top1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&top1), "{}", trained.text);
        let model = agent.get("/api/v1/triage/model").await;
        assert_eq!(model.body["model"], trained.body["model"]);

        let suggested = agent
            .post(
                "/api/v1/triage/suggest",
                json!({"title": "The printer has a paper jam", "description": "tray 2"}),
            )
            .await;
        assert_eq!(suggested.status, 200, "{}", suggested.text);
        let category = &suggested.body["category"][0];
        assert_eq!(category["name"], "Printer", "{}", suggested.text);
        assert!(
            category["score"].as_f64().unwrap() > 0.4,
            "{}",
            suggested.text
        );
        assert!(
            category["because"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w == "printer" || w == "jam" || w == "paper"),
            "{}",
            suggested.text
        );
        assert_eq!(suggested.body["group"][0]["name"], "Service Desk");
        assert_eq!(
            suggested.body["priority"][0]["name"], "P5",
            "{}",
            suggested.text
        );
        let similar = suggested.body["similar"][0]["number"].as_str().unwrap();
        assert!(
            printer_tickets.iter().any(|n| n == similar),
            "{}",
            suggested.text
        );
        assert_eq!(suggested.body["model"], trained.body["model"]);

        let empty = agent
            .post("/api/v1/triage/suggest", json!({"title": " "}))
            .await;
        assert_eq!(empty.status, 422);
        let customer = server.client(&server.token_for("carol@acme.example").await);
        assert_eq!(
            customer
                .post("/api/v1/triage/suggest", json!({"title": "printer"}))
                .await
                .status,
            403
        );

        // Above its category's threshold, the assistant sets a new ticket's category and
        // group itself; below, it only keeps its suggestion.
        let threshold = |category: &str, value: serde_json::Value| json!({"category": category, "threshold": value});
        assert_eq!(
            put(&agent, threshold("Printer", json!(0.5))).await.status,
            403
        );
        let refused = put(&admin, threshold("Printer", json!(0.2))).await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(refused.body["errors"][0]["field"], "threshold");
        assert_eq!(
            put(&admin, threshold("Printer", json!(0.5))).await.status,
            204
        );
        let listed = agent.get("/api/v1/triage/thresholds").await;
        assert_eq!(
            listed.body,
            json!([{"category": "Printer", "threshold": 0.5}])
        );

        let jam = customer
            .post(
                "/api/v1/tickets",
                json!({"type": "incident", "title": "paper jam in the printer again",
                       "impact": "low", "urgency": "low"}),
            )
            .await;
        assert_eq!(jam.status, 201, "{}", jam.text);
        let jam = jam.body["number"].as_str().unwrap().to_owned();
        let applied = eventually(Duration::from_secs(10), || async {
            let ticket = admin.get(&format!("/api/v1/tickets/{jam}")).await.body;
            ticket["category"]["name"] == "Printer" && ticket["group"]["name"] == "Service Desk"
        })
        .await;
        assert!(applied, "the assistant did not set the category");
        let timeline = admin.get(&format!("/api/v1/tickets/{jam}/timeline")).await;
        let entry = timeline.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "triage_applied")
            .cloned()
            .unwrap_or_else(|| panic!("{}", timeline.text));
        assert_eq!(entry["actor"], "system:triage assistant");
        assert_eq!(entry["data"]["automatic"], true);
        assert_eq!(entry["data"]["threshold"], 0.5);

        let wifi = customer
            .post(
                "/api/v1/tickets",
                json!({"type": "incident", "title": "wifi signal lost on floor 4",
                       "impact": "high", "urgency": "high"}),
            )
            .await;
        let wifi = wifi.body["number"].as_str().unwrap().to_owned();
        let kept = eventually(Duration::from_secs(10), || async {
            agent.get("/api/v1/triage/accuracy").await.body[0]["suggested"] == 2
        })
        .await;
        assert!(kept, "the suggestion for the second ticket was not kept");
        let untouched = admin.get(&format!("/api/v1/tickets/{wifi}")).await.body;
        assert!(untouched["category"].is_null(), "{untouched}");
        let fixed = agent
            .patch(
                &format!("/api/v1/tickets/{wifi}"),
                json!({"category": "Accounts"}),
                None,
            )
            .await;
        assert_eq!(fixed.status, 200, "{}", fixed.text);
        let week = agent.get("/api/v1/triage/accuracy?weeks=1").await.body[0].clone();
        assert_eq!(week["suggested"], 2, "{week}");
        assert_eq!(week["applied"], 1, "{week}");
        assert_eq!(week["corrected"], 1, "{week}");
        assert_eq!(week["accuracy"], 0.5, "{week}");

        // Versions are kept, and an admin goes back to an earlier one.
        let second = admin.post("/api/v1/triage/train", json!({})).await;
        assert_eq!(second.status, 200, "{}", second.text);
        assert_ne!(second.body["model"], trained.body["model"]);
        let versions = agent.get("/api/v1/triage/models").await.body;
        assert_eq!(versions[0]["model"], second.body["model"], "{versions}");
        assert_eq!(versions[0]["active"], true);
        assert_eq!(versions[1]["model"], trained.body["model"]);
        assert_eq!(versions[1]["active"], false);
        assert!(
            versions[1]["trained_by"]
                .as_str()
                .unwrap()
                .contains("admin@example.com")
        );
        let first = trained.body["model"].as_str().unwrap();
        let back = admin
            .post(
                &format!("/api/v1/triage/models/{first}/activate"),
                json!({}),
            )
            .await;
        assert_eq!(back.status, 200, "{}", back.text);
        assert_eq!(agent.get("/api/v1/triage/model").await.body["model"], first);
        assert_eq!(
            agent.get("/api/v1/triage/models").await.body[1]["active"],
            true
        );
        assert_eq!(
            admin
                .post("/api/v1/triage/models/nope/activate", json!({}))
                .await
                .status,
            404
        );

        // The same on the admin page.
        let (browser, _) = server.web_session("root@msp.example").await;
        let page = page_text(&browser, format!("{}/admin/triage", server.url)).await;
        assert!(
            page.contains(first) && page.contains("In service"),
            "{page}"
        );
        assert!(page.contains("Use this version"), "{page}");
        let csrf = page_csrf_token(&page);
        let sent = browser
            .post(format!("{}/admin/triage/thresholds", server.url))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("category", "Network"),
                ("threshold", "abc"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 422);
        assert!(
            sent.text()
                .await
                .unwrap()
                .contains("give a number from 50 to 100")
        );
        let sent = browser
            .post(format!("{}/admin/triage/thresholds", server.url))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("category", "Network"),
                ("threshold", "85"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 200);
        assert!(sent.text().await.unwrap().contains("85.0 %"));
        server.stop();
    }
);

#[tokio::test]
async fn evaluate_compares_the_assistant_with_the_baseline_on_a_sample() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("tickets.jsonl");
    let sample = run_command_output(BIN, &["triage", "sample", "--tickets", "600"], None).await;
    assert!(sample.status.success());
    std::fs::write(&file, &sample.stdout).unwrap();
    let lines = String::from_utf8(sample.stdout).unwrap();
    assert_eq!(lines.lines().count(), 600);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert!(first["category"].is_string() && first["priority"].is_string());

    let report = run_command_output(
        BIN,
        &[
            "triage",
            "evaluate",
            file.to_str().unwrap(),
            "--test-fraction",
            "0.2",
        ],
        None,
    )
    .await;
    let text = String::from_utf8(report.stdout).unwrap();
    assert!(report.status.success(), "{text}");
    assert!(text.contains("trained on 480, tested on 120"), "{text}");
    for model in ["| opsdesk", "| baseline"] {
        let row = text.lines().find(|l| l.starts_with(model)).unwrap();
        let top1: f64 = row.split('|').nth(2).unwrap().trim().parse().unwrap();
        assert!((0.0..=1.0).contains(&top1), "{row}");
    }

    std::fs::write(
        &file,
        "{\"title\": \"ok\", \"external_id\": \"1\"}\nnot json\n",
    )
    .unwrap();
    let refused =
        run_command_output(BIN, &["triage", "evaluate", file.to_str().unwrap()], None).await;
    assert!(!refused.status.success());
    let error = String::from_utf8(refused.stderr).unwrap();
    assert!(error.contains("line 2"), "{error}");
}

async fn put(client: &opsdesk_testkit::Client, body: serde_json::Value) -> opsdesk_testkit::Reply {
    let request = client
        .request(reqwest::Method::PUT, "/api/v1/triage/thresholds")
        .json(&body);
    client.send(request).await
}
