//! SLAs through the HTTP API, on SQLite and PostgreSQL: default targets, pause and resume,
//! reopen, priority changes, warnings and breaches raised exactly once (also with two nodes),
//! filters and the compliance report.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use opsdesk_app::{App, AppConfig, Db, DbOptions, ManualClock};
use opsdesk_testkit::{Backend, TestDb, TestServer, dual_backend_test, eventually};
use serde_json::{Value, json};

fn fast_sweeps() -> AppConfig {
    AppConfig {
        sla_sweep_interval_ms: 100,
        ..AppConfig::default()
    }
}

async fn server(backend: Backend) -> TestServer {
    server_on(backend, Arc::new(opsdesk_app::SystemClock)).await
}

/// A server reading the time from `clock`, with a customer of Acme.
async fn server_on(backend: Backend, clock: opsdesk_app::SharedClock) -> TestServer {
    let server = TestServer::start_on_clock(
        TestDb::new(backend).await,
        opsdesk_http::HttpConfig::default(),
        fast_sweeps(),
        clock,
    )
    .await;
    let acme = server.organization("Acme").await;
    server
        .user("carol@acme.example", "customer", Some(acme), &[])
        .await;
    server
}

fn ticket(impact: &str, urgency: &str) -> Value {
    json!({"type": "incident", "title": "Mail is down", "impact": impact, "urgency": urgency,
           "requester": "carol@acme.example"})
}

fn time(value: &Value) -> jiff::Timestamp {
    value.as_str().unwrap().parse().unwrap()
}

/// A policy, tried first, giving P4 tickets tight targets measured in seconds.
async fn tight_policy(server: &TestServer, response: i64, resolution: i64) {
    let policy = server
        .admin()
        .post(
            "/api/v1/sla-policies",
            json!({"position": 1, "calendar_id": 1, "spec": {
                "name": "Tight", "priorities": ["P4"],
                "targets": {"P4": {"response_seconds": response, "resolution_seconds": resolution}},
                "warnings": [50]}}),
        )
        .await;
    assert_eq!(policy.status, 201, "{}", policy.text);
}

async fn timeline_kinds(server: &TestServer, number: &str) -> Vec<(String, String)> {
    let timeline = server
        .admin()
        .get(&format!("/api/v1/tickets/{number}/timeline?limit=500"))
        .await;
    timeline.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("sla_"))
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["data"]["clock"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

dual_backend_test!(
    the_default_policy_sets_due_dates,
    |backend: Backend| async move {
        let server = server(backend).await;
        let created = server
            .admin()
            .post("/api/v1/tickets", ticket("high", "high"))
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let sla = &created.body["sla"];
        assert_eq!(sla["policy"], "Default");
        let start = time(&created.body["created_at"]);
        assert_eq!(
            time(&sla["response_due_at"])
                .duration_since(start)
                .as_secs(),
            15 * 60
        );
        assert_eq!(
            time(&sla["resolution_due_at"])
                .duration_since(start)
                .as_secs(),
            4 * 3600
        );
        assert_eq!(sla["paused"], false);
        assert_eq!(sla["breached"]["response"], false);

        let number = created.body["number"].as_str().unwrap();
        let replied = server
            .admin()
            .post(
                &format!("/api/v1/tickets/{number}/comments"),
                json!({"body": "Looking into it"}),
            )
            .await;
        assert_eq!(replied.status, 201);
        let after = server
            .admin()
            .get(&format!("/api/v1/tickets/{number}"))
            .await;
        assert!(
            after.body["sla"]["response_met_at"].is_string(),
            "the first public agent reply meets the response target"
        );
        assert!(after.body["sla"]["response_due_at"].is_null());

        let due_soon = server.admin().get("/api/v1/tickets?q=sla:due<5h").await;
        assert_eq!(
            due_soon.body["items"].as_array().unwrap().len(),
            1,
            "{}",
            due_soon.text
        );
        assert_eq!(
            server
                .admin()
                .get("/api/v1/tickets?q=sla:due<1m")
                .await
                .body["items"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
    }
);

dual_backend_test!(
    pauses_resumes_reopens_and_retargets,
    |backend: Backend| async move {
        let clock = ManualClock::starting_at("2026-03-02T10:00:00Z".parse().unwrap());
        let server = server_on(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        let created = admin
            .post("/api/v1/tickets", ticket("medium", "medium"))
            .await;
        let number = created.body["number"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/tickets/{number}");
        assert_eq!(created.body["priority"], "P3");
        // Business time is counted in whole seconds: let some pass so "time used" is visible.
        clock.advance(jiff::SignedDuration::from_secs(5));

        let pending = admin
            .patch(
                &path,
                json!({"status": "pending", "pending_reason": "customer"}),
                None,
            )
            .await;
        assert_eq!(pending.status, 200, "{}", pending.text);
        assert_eq!(
            pending.body["sla"]["paused"], true,
            "{}",
            pending.body["sla"]
        );
        assert!(
            pending.body["sla"]["resolution_due_at"].is_null(),
            "a paused clock is not due"
        );
        // Paused for 30 s.
        clock.advance(jiff::SignedDuration::from_secs(30));
        let change = admin
            .patch(
                &path,
                json!({"status": "pending", "pending_reason": "change"}),
                None,
            )
            .await;
        assert_eq!(
            change.body["sla"]["paused"], false,
            "pending for a change does not pause by default"
        );

        let open = admin.patch(&path, json!({"status": "open"}), None).await;
        assert_eq!(open.body["sla"]["paused"], false);
        let due_before = time(&open.body["sla"]["resolution_due_at"]);
        assert!(
            due_before > time(&created.body["sla"]["resolution_due_at"]),
            "time paused is added to the due date"
        );

        let retargeted = admin
            .patch(&path, json!({"impact": "high", "urgency": "high"}), None)
            .await;
        assert_eq!(retargeted.body["priority"], "P1");
        let start = time(&created.body["created_at"]);
        let response_due = time(&retargeted.body["sla"]["response_due_at"]);
        let from_creation = response_due.duration_since(start).as_secs();
        assert!(
            (15 * 60..15 * 60 + 60).contains(&from_creation),
            "P1 targets count from creation, plus the pause: {from_creation}"
        );

        let resolved = admin
            .patch(
                &path,
                json!({"status": "resolved", "resolution_code": "fixed"}),
                None,
            )
            .await;
        assert!(resolved.body["sla"]["resolution_met_at"].is_string());
        assert!(resolved.body["sla"]["resolution_due_at"].is_null());
        let carol = server.client(&server.token_for("carol@acme.example").await);
        carol
            .post(
                &format!("{path}/comments"),
                json!({"body": "It broke again"}),
            )
            .await;
        let reopened = admin.get(&path).await;
        assert_eq!(reopened.body["status"], "open");
        assert!(reopened.body["sla"]["resolution_met_at"].is_null());
        let remaining = reopened.body["sla"]["remaining_business_seconds"]["resolution"]
            .as_i64()
            .unwrap();
        assert!(
            remaining < 4 * 3600,
            "the time already used is kept on reopen: {remaining}"
        );
        assert!(remaining > 4 * 3600 - 120);
    }
);

dual_backend_test!(
    warnings_and_breaches_are_raised_once,
    |backend: Backend| async move {
        let clock = ManualClock::starting_at("2026-03-02T10:00:00Z".parse().unwrap());
        let server = server_on(backend, Arc::new(clock.clone())).await;
        tight_policy(&server, 60, 120).await;
        let created = server
            .admin()
            .post("/api/v1/tickets", ticket("low", "medium"))
            .await;
        assert_eq!(created.body["priority"], "P4");
        assert_eq!(created.body["sla"]["policy"], "Tight");
        let number = created.body["number"].as_str().unwrap().to_owned();
        let pairs = |raised: &[(&str, &str)]| -> Vec<(String, String)> {
            let mut pairs: Vec<(String, String)> = raised
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect();
            pairs.sort();
            pairs
        };
        // Each step moves the clock past one crossing and sweeps (the server's own sweeper
        // may get there first); a crossing is raised at its step, and never again.
        let steps: [(i64, &[(&str, &str)]); 4] = [
            (29, &[]),
            (31, &[("sla_warning", "response")]),
            (
                61,
                &[
                    ("sla_warning", "response"),
                    ("sla_breached", "response"),
                    ("sla_warning", "resolution"),
                ],
            ),
            (
                121,
                &[
                    ("sla_warning", "response"),
                    ("sla_breached", "response"),
                    ("sla_warning", "resolution"),
                    ("sla_breached", "resolution"),
                ],
            ),
        ];
        let start: jiff::Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
        for (seconds, expected) in steps {
            clock.set(start + jiff::SignedDuration::from_secs(seconds));
            for _ in 0..3 {
                server.app.sweep_sla().await.unwrap();
            }
            let mut raised = timeline_kinds(&server, &number).await;
            raised.sort();
            assert_eq!(raised, pairs(expected), "after {seconds} s");
        }

        let ticket = server
            .admin()
            .get(&format!("/api/v1/tickets/{number}"))
            .await;
        assert_eq!(ticket.body["sla"]["breached"]["response"], true);
        assert_eq!(ticket.body["sla"]["breached"]["resolution"], true);
        assert!(
            ticket.body["sla"]["remaining_business_seconds"]["resolution"]
                .as_i64()
                .unwrap()
                <= 0
        );
        let breached = server.admin().get("/api/v1/tickets?q=sla:breached").await;
        assert_eq!(breached.body["items"].as_array().unwrap().len(), 1);

        let report = server
            .admin()
            .get("/api/v1/reports/sla?from=2000-01-01&to=2100-01-01&group_by=priority")
            .await;
        assert_eq!(report.status, 200, "{}", report.text);
        let p4 = report
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["key"] == "P4")
            .unwrap()
            .clone();
        assert_eq!(p4["response_breached"], 1);
        assert_eq!(p4["response_compliance"], 0.0);
        let csv = server
            .admin()
            .get("/api/v1/reports/sla?from=2000-01-01&to=2100-01-01&format=csv")
            .await;
        assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
        assert!(csv.text.starts_with("key,tickets,response_met"));
        assert!(csv.text.contains("\nP4,1,0,1,0.0,"), "{}", csv.text);
    }
);

dual_backend_test!(
    calendars_and_policies_are_validated,
    |backend: Backend| async move {
        let server = server(backend).await;
        let admin = server.admin();
        let overlapping = admin
            .post(
                "/api/v1/calendars",
                json!({"name": "Office", "timezone": "Europe/London", "hours": [
            {"weekday": "monday", "start": "09:00", "end": "17:00"},
            {"weekday": "monday", "start": "16:00", "end": "18:00"}], "holidays": []}),
            )
            .await;
        assert_eq!(overlapping.status, 422, "{}", overlapping.text);
        let bad_zone = admin
            .post(
                "/api/v1/calendars",
                json!({"name": "Nowhere", "timezone": "Mars/Olympus", "hours": [
            {"weekday": "monday", "start": "09:00", "end": "17:00"}]}),
            )
            .await;
        assert_eq!(bad_zone.status, 422);
        let office = admin
            .post(
                "/api/v1/calendars",
                json!({"name": "Office", "timezone": "Europe/London", "hours": [
            {"weekday": "monday", "start": "09:00", "end": "17:00"}], "holidays": ["12-25"]}),
            )
            .await;
        assert_eq!(office.status, 201, "{}", office.text);
        let zero = admin
        .post("/api/v1/sla-policies", json!({"position": 1, "calendar_id": office.body["id"], "spec": {
            "name": "Broken", "targets": {"P1": {"response_seconds": 0, "resolution_seconds": 60}}}}))
        .await;
        assert_eq!(zero.status, 422, "{}", zero.text);
        let policies = admin.get("/api/v1/sla-policies").await;
        assert_eq!(
            policies.body.as_array().unwrap().len(),
            1,
            "the fresh install's default policy"
        );
        let customer = server.client(&server.token_for("carol@acme.example").await);
        assert_eq!(customer.get("/api/v1/sla-policies").await.status, 403);
    }
);

dual_backend_test!(
    calendar_and_policy_changes_are_audited,
    |backend: Backend| async move {
        let server = server(backend).await;
        let admin = server.admin();
        let hours = json!([{"weekday": "monday", "start": "09:00", "end": "17:00"}]);
        let office = admin
            .post(
                "/api/v1/calendars",
                json!({"name": "Office", "timezone": "Europe/London", "hours": hours}),
            )
            .await;
        assert_eq!(office.status, 201, "{}", office.text);
        let calendar = format!("/api/v1/calendars/{}", office.body["id"]);
        let etag = office.header("etag").unwrap().to_owned();
        let renamed = admin
            .patch(
                &calendar,
                json!({"name": "Head office", "timezone": "Europe/London", "hours": hours}),
                Some(&etag),
            )
            .await;
        assert_eq!(renamed.status, 200, "{}", renamed.text);
        let stale = admin
            .patch(
                &calendar,
                json!({"name": "Stale", "timezone": "UTC", "hours": hours}),
                Some(&etag),
            )
            .await;
        assert_eq!(stale.status, 412, "{}", stale.text);

        let spec = |name: &str| json!({"name": name, "targets": {"P1": {"response_seconds": 60, "resolution_seconds": 600}}});
        let missing_calendar = admin
            .post(
                "/api/v1/sla-policies",
                json!({"position": 1, "calendar_id": 999, "spec": spec("Nowhere")}),
            )
            .await;
        assert_eq!(missing_calendar.status, 422, "{}", missing_calendar.text);
        let policy = admin
            .post(
                "/api/v1/sla-policies",
                json!({"position": 1, "calendar_id": office.body["id"], "spec": spec("Office P1")}),
            )
            .await;
        assert_eq!(policy.status, 201, "{}", policy.text);
        let policy_path = format!("/api/v1/sla-policies/{}", policy.body["id"]);
        assert_eq!(
            admin.delete(&calendar).await.status,
            409,
            "a calendar a policy uses stays"
        );
        let moved = admin
            .patch(
                &policy_path,
                json!({"position": 2, "calendar_id": office.body["id"], "spec": spec("Office P1")}),
                None,
            )
            .await;
        assert_eq!(moved.status, 200, "{}", moved.text);
        assert_eq!(moved.body["position"], 2);
        assert_eq!(admin.delete(&policy_path).await.status, 204);
        assert_eq!(admin.get(&policy_path).await.status, 404);
        assert_eq!(admin.delete(&calendar).await.status, 204);
        assert_eq!(admin.get(&calendar).await.status, 404);

        let audited = |entity: &'static str| {
            let admin = server.admin();
            async move {
                let log = admin
                    .get(&format!("/api/v1/audit?entity={entity}&limit=500"))
                    .await;
                assert_eq!(log.status, 200, "{}", log.text);
                let mut entries: Vec<(String, String, Value, Value)> = log.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        (
                            e["action"].as_str().unwrap().to_owned(),
                            e["entity_id"].as_str().unwrap().to_owned(),
                            e["before"]["name"].clone(),
                            e["after"]["name"].clone(),
                        )
                    })
                    .collect();
                entries.sort_by_key(|(action, ..)| {
                    ["created", "updated", "deleted"]
                        .iter()
                        .position(|a| a == action)
                });
                entries
            }
        };
        let office_id = office.body["id"].to_string();
        assert_eq!(
            audited("calendar").await,
            vec![
                (
                    "created".into(),
                    office_id.clone(),
                    Value::Null,
                    json!("Office")
                ),
                (
                    "updated".into(),
                    office_id.clone(),
                    json!("Office"),
                    json!("Head office")
                ),
                (
                    "deleted".into(),
                    office_id,
                    json!("Head office"),
                    Value::Null
                ),
            ]
        );
        let policy_actions: Vec<String> = audited("sla_policy")
            .await
            .into_iter()
            .map(|(action, id, ..)| {
                assert_eq!(id, policy.body["id"].to_string());
                action
            })
            .collect();
        assert_eq!(policy_actions, ["created", "updated", "deleted"]);
    }
);

dual_backend_test!(
    editing_a_policy_or_its_calendar_retimes_the_open_tickets,
    |backend: Backend| async move {
        // Monday 10:00 in London (UTC in March).
        let clock = ManualClock::starting_at("2026-03-02T10:00:00Z".parse().unwrap());
        let server = server_on(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        let hours: Vec<Value> = ["monday", "tuesday", "wednesday", "thursday", "friday"]
            .iter()
            .map(|day| json!({"weekday": day, "start": "09:00", "end": "17:00"}))
            .collect();
        let office = admin
            .post(
                "/api/v1/calendars",
                json!({"name": "Office", "timezone": "Europe/London", "hours": hours}),
            )
            .await;
        assert_eq!(office.status, 201, "{}", office.text);
        let spec = |response: i64, resolution: i64| {
            json!({"position": 1, "calendar_id": office.body["id"], "spec": {
                "name": "Office P4", "priorities": ["P4"],
                "targets": {"P4": {"response_seconds": response, "resolution_seconds": resolution}}}})
        };
        let policy = admin.post("/api/v1/sla-policies", spec(3600, 7200)).await;
        assert_eq!(policy.status, 201, "{}", policy.text);
        let open = |title: &str| {
            let admin = server.admin();
            let body = json!({"type": "incident", "title": title, "impact": "low",
                              "urgency": "medium", "requester": "carol@acme.example"});
            async move {
                let created = admin.post("/api/v1/tickets", body).await;
                assert_eq!(created.body["priority"], "P4", "{}", created.text);
                format!(
                    "/api/v1/tickets/{}",
                    created.body["number"].as_str().unwrap()
                )
            }
        };
        let waiting = open("VPN drops").await;
        let answered = open("Printer offline").await;
        let reply = admin
            .post(
                &format!("{answered}/comments"),
                json!({"body": "Looking at it now.", "public": true}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        clock.advance(jiff::SignedDuration::from_secs(600));

        // Tighter targets: the 10 minutes used stay, the goals move.
        let tightened = admin
            .patch(
                &format!("/api/v1/sla-policies/{}", policy.body["id"]),
                spec(1800, 3600),
                None,
            )
            .await;
        assert_eq!(tightened.status, 200, "{}", tightened.text);
        let sla = admin.get(&waiting).await.body["sla"].clone();
        assert_eq!(sla["remaining_business_seconds"]["response"], 1200, "{sla}");
        assert_eq!(
            sla["remaining_business_seconds"]["resolution"], 3000,
            "{sla}"
        );
        assert_eq!(
            time(&sla["response_due_at"]),
            "2026-03-02T10:30:00Z".parse().unwrap()
        );
        let sla = admin.get(&answered).await.body["sla"].clone();
        assert!(
            sla["response_due_at"].is_null(),
            "a met clock keeps its target: {sla}"
        );
        assert_eq!(
            sla["remaining_business_seconds"]["resolution"], 3000,
            "{sla}"
        );

        // Today becomes a holiday: the running clocks are due on Tuesday instead, and this
        // morning's ten minutes no longer count as business time.
        let holiday = admin
            .patch(
                &format!("/api/v1/calendars/{}", office.body["id"]),
                json!({"name": "Office", "timezone": "Europe/London", "hours": hours,
                       "holidays": ["2026-03-02"]}),
                None,
            )
            .await;
        assert_eq!(holiday.status, 200, "{}", holiday.text);
        let sla = admin.get(&waiting).await.body["sla"].clone();
        assert_eq!(
            time(&sla["response_due_at"]),
            "2026-03-03T09:30:00Z".parse().unwrap(),
            "{sla}"
        );
    }
);

/// Two nodes sweep one PostgreSQL database: each warning and breach is still raised once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_raise_each_breach_once() {
    let Some(_) = opsdesk_testkit::postgres_url() else {
        return;
    };
    let server = server(Backend::Postgres).await;
    tight_policy(&server, 1, 2).await;
    let second = App::new(
        Db::open(
            server.db.database_url.as_deref(),
            &server.db.data_dir,
            &DbOptions::default(),
        )
        .await
        .unwrap(),
        AppConfig {
            node_name: "second".into(),
            ..fast_sweeps()
        },
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn({
        let second = second.clone();
        async move { second.run_sla(Duration::from_millis(50), stopped).await }
    });
    let mut numbers = Vec::new();
    for _ in 0..10 {
        let created = server
            .admin()
            .post("/api/v1/tickets", ticket("low", "medium"))
            .await;
        numbers.push(created.body["number"].as_str().unwrap().to_owned());
    }
    for number in &numbers {
        let raised = eventually(Duration::from_secs(30), || async {
            timeline_kinds(&server, number).await.len() >= 4
        })
        .await;
        assert!(
            raised,
            "{number}: {:?}",
            timeline_kinds(&server, number).await
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for number in &numbers {
        assert_eq!(
            timeline_kinds(&server, number).await.len(),
            4,
            "{number} raised something twice"
        );
    }
    let _ = stop.send(true);
    sweeper.await.unwrap();
}
