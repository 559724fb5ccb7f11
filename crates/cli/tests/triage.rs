//! The triage assistant: trained on the desk's tickets through the API (SQLite and
//! PostgreSQL), it suggests category, group and priority with the words behind them and
//! finds similar past tickets; `opsdesk triage` evaluates it against the baseline on a file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, TestServer, dual_backend_test, run_command_output};
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
