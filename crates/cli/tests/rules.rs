//! Automation rules: a rule routes and tags new tickets of a category, as the rule in the
//! timeline and the audit log; rules chain, and a rule that keeps triggering itself stops at
//! the depth limit; a rule that runs too often disables itself; dry runs count matches and
//! write nothing; a time-based rule runs once a ticket has waited pending; only admins make
//! rules, and bad definitions name the field at fault; the admin page writes, stops and
//! dry-runs rules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use opsdesk_app::ManualClock;
use opsdesk_testkit::{
    Backend, Client, TestServer, WebhookReceiver, dual_backend_test, eventually, page_csrf_token,
    page_text,
};
use serde_json::{Value, json};

async fn rule(admin: &Client, body: Value) -> Value {
    let created = admin.post("/api/v1/rules", body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.body
}

async fn open(admin: &Client, title: &str, category: Option<&str>) -> Value {
    let created = admin
        .post(
            "/api/v1/tickets",
            json!({"type": "incident", "title": title, "impact": "low", "urgency": "low",
                   "category": category, "requester": "carol@acme.example"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.body
}

async fn timeline(client: &Client, number: &str) -> Vec<Value> {
    let reply = client
        .get(&format!("/api/v1/tickets/{number}/timeline?limit=500"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["items"].as_array().unwrap().clone()
}

fn tags(ticket: &Value) -> Vec<&str> {
    ticket["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}

dual_backend_test!(
    a_rule_routes_and_tags_new_tickets_of_a_category_as_the_rule,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let created = admin
            .post("/api/v1/categories", json!({"name": "Network"}))
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let receiver = WebhookReceiver::start(200).await;
        let network = rule(
            &admin,
            json!({"name": "Network to the desk", "event": "ticket.created",
                   "conditions": [{"field": "category", "op": "is", "value": "network"}],
                   "actions": [{"set": {"priority": "P2", "group": "Service Desk"}},
                               {"add_tag": "network"}, {"webhook": receiver.url}]}),
        )
        .await;
        assert_eq!(network["enabled"], true);
        assert_eq!(network["max_runs_per_hour"], 100);
        assert_eq!(network["runs"], 0);

        let routed = open(&admin, "VPN drops", Some("Network")).await;
        assert_eq!(routed["priority"], "P2");
        assert_eq!(routed["group"]["name"], "Service Desk");
        assert_eq!(tags(&routed), ["network"]);
        let other = open(&admin, "Toner low", Some("Printer")).await;
        assert_eq!(other["priority"], "P5");
        assert!(other["group"].is_null());
        assert!(tags(&other).is_empty());

        // The timeline names the rule as who made the change; staff may read the rules.
        let number = routed["number"].as_str().unwrap();
        let entries = timeline(&ann, number).await;
        let by_rule: Vec<&str> = entries
            .iter()
            .filter(|e| e["actor"] == "system:rule Network to the desk")
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        for kind in ["escalated", "updated", "automation"] {
            assert!(
                by_rule.contains(&kind),
                "no {kind} by the rule: {entries:?}"
            );
        }
        let listed = ann.get("/api/v1/rules").await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert_eq!(listed.body[0]["runs"], 1);
        assert!(listed.body[0]["last_run_at"].is_string());

        let audit = admin.get("/api/v1/audit?entity=ticket&limit=500").await;
        assert!(
            audit.body["items"].as_array().unwrap().iter().any(|e| {
                e["actor"] == "system:rule Network to the desk" && e["action"] == "updated"
            }),
            "{}",
            audit.text
        );

        // The webhook action POSTs the ticket through the job outbox.
        let delivered = eventually(Duration::from_secs(20), || async {
            receiver.deliveries().iter().any(|d| {
                d.body["ticket"]["number"] == number && d.body["rule"] == "Network to the desk"
            })
        })
        .await;
        assert!(delivered, "the rule's webhook was not delivered");
    }
);

dual_backend_test!(
    rules_chain_and_a_rule_that_triggers_itself_stops_at_the_depth_limit,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        rule(
            &admin,
            json!({"name": "Outages are urgent", "event": "ticket.created",
                   "conditions": [{"text_contains": "OUTAGE"}, {"field": "type", "op": "in", "values": ["incident", "problem"]}],
                   "actions": [{"set": {"priority": "P1"}}]}),
        )
        .await;
        rule(
            &admin,
            json!({"name": "Urgent tickets are tagged", "event": "ticket.updated",
                   "conditions": [{"field": "priority", "op": "is", "value": "P1"},
                                  {"field": "type", "op": "is_not", "value": "problem"}],
                   "actions": [{"add_tag": "urgent"},
                               {"open_linked": {"type": "problem", "title": "Find the outage's cause"}}]}),
        )
        .await;

        // Created → priority P1 (rule 1) → updated → tag and a linked problem (rule 2).
        let ticket = open(&admin, "Mail outage in Berlin", None).await;
        assert_eq!(ticket["priority"], "P1");
        assert_eq!(tags(&ticket), ["urgent"]);
        assert_eq!(ticket["links"][0]["type"], "relates_to");
        let problem = ticket["links"][0]["target"].as_str().unwrap();
        assert!(problem.starts_with("PRB-"), "{problem}");
        let calm = open(&admin, "Printer jam", None).await;
        assert!(tags(&calm).is_empty());

        // A rule whose note raises the event it runs on goes round until the depth limit.
        rule(
            &admin,
            json!({"name": "Echo", "event": "ticket.commented",
                   "actions": [{"note": "Seen by the desk."}]}),
        )
        .await;
        let number = calm["number"].as_str().unwrap();
        let commented = admin
            .post(
                &format!("/api/v1/tickets/{number}/comments"),
                json!({"body": "Which printer?", "public": true}),
            )
            .await;
        assert_eq!(commented.status, 201, "{}", commented.text);
        let entries = timeline(&admin, number).await;
        let echoes = entries
            .iter()
            .filter(|e| e["kind"] == "note" && e["actor"] == "system:rule Echo")
            .count();
        assert_eq!(echoes, 3, "{entries:?}");
        let stopped: Vec<&Value> = entries
            .iter()
            .filter(|e| e["kind"] == "automation_stopped")
            .collect();
        assert_eq!(stopped.len(), 1, "{entries:?}");
        assert_eq!(stopped[0]["data"]["rule"], "Echo");
        assert_eq!(stopped[0]["public"], false);
    }
);

dual_backend_test!(
    a_rule_past_its_hourly_limit_is_disabled_and_the_audit_log_says_so,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let tagger = rule(
            &admin,
            json!({"name": "Tag everything", "event": "ticket.created", "max_runs_per_hour": 2,
                   "actions": [{"add_tag": "seen"}]}),
        )
        .await;
        let id = tagger["id"].as_i64().unwrap();
        for title in ["One", "Two"] {
            assert_eq!(tags(&open(&admin, title, None).await), ["seen"]);
        }
        let third = open(&admin, "Three", None).await;
        assert!(tags(&third).is_empty(), "the third run went ahead");

        let listed = admin.get("/api/v1/rules").await;
        let stopped = &listed.body[0];
        assert_eq!(stopped["enabled"], false);
        assert_eq!(stopped["runs"], 3);
        assert!(
            stopped["disabled_reason"]
                .as_str()
                .unwrap()
                .contains("more than 2 times in an hour")
        );
        let audit = admin
            .get("/api/v1/audit?entity=automation_rule&limit=500")
            .await;
        let disabled = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "updated")
            .unwrap_or_else(|| panic!("no audit entry: {}", audit.text));
        assert_eq!(disabled["actor"], "system:rule Tag everything");
        assert_eq!(disabled["before"]["enabled"], true);
        assert_eq!(disabled["after"]["enabled"], false);

        // Enabled again, it runs again.
        let enabled = admin
            .patch(
                &format!("/api/v1/rules/{id}"),
                json!({"enabled": true}),
                None,
            )
            .await;
        assert_eq!(enabled.status, 200, "{}", enabled.text);
        assert!(enabled.body["disabled_reason"].is_null());
        assert_eq!(tags(&open(&admin, "Four", None).await), ["seen"]);
    }
);

dual_backend_test!(
    a_dry_run_counts_the_matches_and_changes_nothing,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        for title in ["Printer jam", "Printer offline", "VPN drops"] {
            open(&admin, title, None).await;
        }
        let draft = json!({"name": "Printers", "event": "ticket.created", "enabled": false,
                           "conditions": [{"text_contains": "printer"}],
                           "actions": [{"add_tag": "printer"}, {"set": {"priority": "P5"}}]});
        let saved = rule(&admin, draft.clone()).await;
        let id = saved["id"].as_i64().unwrap();

        let run = admin
            .post(&format!("/api/v1/rules/{id}/dry-run?limit=2"), json!({}))
            .await;
        assert_eq!(run.status, 200, "{}", run.text);
        // The two most recent: one printer ticket matches.
        assert_eq!(run.body["matched"], 1);
        assert_eq!(run.body["tickets"][0]["number"], "INC-2");
        // Already P5: only the tag would change.
        assert_eq!(
            run.body["tickets"][0]["actions"],
            json!([{"add_tag": "printer"}])
        );
        let all = admin.post("/api/v1/rules/dry-run", draft).await;
        assert_eq!(all.status, 200, "{}", all.text);
        assert_eq!(all.body["matched"], 2);

        for number in ["INC-1", "INC-2", "INC-3"] {
            let ticket = admin.get(&format!("/api/v1/tickets/{number}")).await;
            assert!(tags(&ticket.body).is_empty(), "{number} changed");
        }
        let listed = admin.get("/api/v1/rules").await;
        assert_eq!(listed.body[0]["runs"], 0);
        let too_many = admin
            .post(&format!("/api/v1/rules/{id}/dry-run?limit=501"), json!({}))
            .await;
        assert_eq!(too_many.status, 422, "{}", too_many.text);
    }
);

dual_backend_test!(
    a_time_based_rule_runs_once_a_ticket_has_waited_pending,
    |backend: Backend| async move {
        let clock = ManualClock::starting_at("2026-03-02T10:00:00Z".parse().unwrap());
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        rule(
            &admin,
            json!({"name": "Chase the customer", "event": "ticket.pending_over", "after_hours": 48,
                   "conditions": [{"field": "status", "op": "is", "value": "pending"}],
                   "actions": [{"add_tag": "chased"}, {"note": "Waiting two days: call the customer."}]}),
        )
        .await;
        let ticket = open(&admin, "Laptop for the new starter", None).await;
        let number = ticket["number"].as_str().unwrap().to_owned();
        let pending = admin
            .patch(
                &format!("/api/v1/tickets/{number}"),
                json!({"status": "pending", "pending_reason": "customer"}),
                None,
            )
            .await;
        assert_eq!(pending.status, 200, "{}", pending.text);

        clock.advance(jiff::SignedDuration::from_hours(48));
        // Pending for an hour only when the first has waited 49: the sweep leaves it alone.
        let recent = open(&admin, "Monitor for the new starter", None).await;
        let recent = recent["number"].as_str().unwrap().to_owned();
        let pending = admin
            .patch(
                &format!("/api/v1/tickets/{recent}"),
                json!({"status": "pending", "pending_reason": "customer"}),
                None,
            )
            .await;
        assert_eq!(pending.status, 200, "{}", pending.text);
        clock.advance(jiff::SignedDuration::from_hours(1));
        let chased = eventually(Duration::from_secs(20), || async {
            let ticket = admin.get(&format!("/api/v1/tickets/{number}")).await;
            tags(&ticket.body) == ["chased"]
        })
        .await;
        assert!(chased, "the time-based rule did not run");
        let waiting = admin.get(&format!("/api/v1/tickets/{recent}")).await;
        assert!(tags(&waiting.body).is_empty(), "{}", waiting.text);
        let notes = timeline(&admin, &number)
            .await
            .into_iter()
            .filter(|e| e["kind"] == "note" && e["actor"] == "system:rule Chase the customer")
            .count();
        assert_eq!(notes, 1);
    }
);

dual_backend_test!(
    only_admins_make_rules_and_bad_definitions_name_the_field,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let body =
            json!({"name": "Mine", "event": "ticket.created", "actions": [{"add_tag": "x"}]});
        let refused = ann.post("/api/v1/rules", body).await;
        assert_eq!(refused.status, 403, "{}", refused.text);

        let bad = admin
            .post(
                "/api/v1/rules",
                json!({"name": "Bad", "event": "ticket.created",
                       "conditions": [{"field": "colour", "op": "is", "value": "red"}],
                       "actions": [{"set": {"group": "Nobody"}}]}),
            )
            .await;
        assert_eq!(bad.status, 422, "{}", bad.text);
        let fields: Vec<&str> = bad.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["conditions[0].field"]);
        let unknown_group = admin
            .post(
                "/api/v1/rules",
                json!({"name": "Bad", "event": "ticket.created",
                       "actions": [{"set": {"group": "Nobody"}}]}),
            )
            .await;
        assert_eq!(unknown_group.status, 422, "{}", unknown_group.text);
        assert_eq!(unknown_group.body["errors"][0]["field"], "actions[0]");
        assert!(
            admin
                .get("/api/v1/rules")
                .await
                .body
                .as_array()
                .unwrap()
                .is_empty()
        );

        // A time-based rule moved to another event leaves its wait behind.
        let waiting = rule(
            &admin,
            json!({"name": "Chase", "event": "ticket.pending_over", "after_hours": 24,
                   "actions": [{"add_tag": "chased"}]}),
        )
        .await;
        let path = format!("/api/v1/rules/{}", waiting["id"]);
        let moved = admin
            .patch(&path, json!({"event": "ticket.updated"}), None)
            .await;
        assert_eq!(moved.status, 200, "{}", moved.text);
        assert!(moved.body["after_hours"].is_null());
        let refused = ann.patch(&path, json!({"enabled": false}), None).await;
        assert_eq!(refused.status, 403, "{}", refused.text);
    }
);

dual_backend_test!(
    admins_write_stop_and_dry_run_rules_on_their_page,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        open(&admin, "Printer jam", None).await;
        let (browser, _) = server.web_session("root@msp.example").await;
        let url = format!("{}/admin/rules", server.url);
        let page = page_text(&browser, url.clone()).await;
        assert!(page.contains("No rules yet."), "{page}");

        let post = |path: String, fields: Vec<(&'static str, String)>| {
            let browser = browser.clone();
            async move {
                let response = browser.post(path).form(&fields).send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.text().await.unwrap())
            }
        };
        // A row per condition and per action; the empty rows the form offers are skipped.
        let form = |kind: &str, value: &str| {
            vec![
                ("csrf_token", page_csrf_token(&page)),
                ("name", "Printers".to_owned()),
                ("event", "ticket.created".to_owned()),
                ("after_hours", String::new()),
                ("max_runs_per_hour", "50".to_owned()),
                ("condition_subject", "text".to_owned()),
                ("condition_op", "is".to_owned()),
                ("condition_value", "printer".to_owned()),
                ("condition_subject", "type".to_owned()),
                ("condition_op", "in".to_owned()),
                ("condition_value", "incident, problem".to_owned()),
                ("condition_subject", String::new()),
                ("condition_op", "is".to_owned()),
                ("condition_value", String::new()),
                ("action_kind", kind.to_owned()),
                ("action_value", value.to_owned()),
                ("action_kind", String::new()),
                ("action_value", String::new()),
            ]
        };
        let (status, shown) = post(url.clone(), form("set.status", "resolved")).await;
        assert_eq!(status, 422, "{shown}");
        assert!(shown.contains("actions[0].set.status"), "{shown}");
        // What was written comes back in its rows.
        assert!(shown.contains(r#"value="incident, problem""#), "{shown}");
        assert!(
            shown.contains(r#"<option value="set.status" selected>"#),
            "{shown}"
        );
        let (status, shown) = post(url.clone(), form("add_tag", "printer")).await;
        assert_eq!(status, 200, "{shown}");
        let rules = admin.get("/api/v1/rules").await;
        let id = rules.body[0]["id"].as_i64().unwrap();
        assert!(shown.contains(&format!("data-rule=\"{id}\"")), "{shown}");
        assert_eq!(
            rules.body[0]["conditions"],
            json!([{"text_contains": "printer"},
                   {"field": "type", "op": "in", "values": ["incident", "problem"]}])
        );
        assert_eq!(rules.body[0]["actions"], json!([{"add_tag": "printer"}]));
        // Changing it starts from its rows.
        let editing = page_text(&browser, format!("{url}?edit={id}")).await;
        for shown in [
            r#"<option value="text" selected>"#,
            r#"<option value="type" selected>"#,
            r#"<option value="in" selected>"#,
            r#"value="incident, problem""#,
            r#"<option value="add_tag" selected>"#,
            r#"name="action_value" value="printer""#,
        ] {
            assert!(editing.contains(shown), "{shown} in {editing}");
        }

        let (_, shown) = post(
            format!("{url}/{id}/dry-run"),
            vec![("csrf_token", page_csrf_token(&page))],
        )
        .await;
        assert!(shown.contains("1 of the last 100 tickets match"), "{shown}");
        assert!(shown.contains("INC-1"), "{shown}");

        post(
            format!("{url}/{id}/enabled"),
            vec![
                ("csrf_token", page_csrf_token(&page)),
                ("enabled", "false".to_owned()),
            ],
        )
        .await;
        assert_eq!(admin.get("/api/v1/rules").await.body[0]["enabled"], false);
        assert!(tags(&open(&admin, "Printer offline", None).await).is_empty());
    }
);

dual_backend_test!(
    a_business_hours_condition_tells_nights_from_office_hours,
    |backend: Backend| async move {
        // Monday 2026-03-02, 20:00 in London: after office hours.
        let clock = ManualClock::starting_at("2026-03-02T20:00:00Z".parse().unwrap());
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        let office = admin
            .post(
                "/api/v1/calendars",
                json!({"name": "Office", "timezone": "Europe/London", "hours": [
                    {"weekday": "monday", "start": "09:00", "end": "17:00"}]}),
            )
            .await;
        assert_eq!(office.status, 201, "{}", office.text);
        let policy = admin
            .post(
                "/api/v1/sla-policies",
                json!({"position": 1, "calendar_id": office.body["id"], "spec": {
                    "name": "Office hours", "targets": {
                        "P4": {"response_seconds": 3600, "resolution_seconds": 86400},
                        "P5": {"response_seconds": 3600, "resolution_seconds": 86400}}}}),
            )
            .await;
        assert_eq!(policy.status, 201, "{}", policy.text);
        let refused = admin
            .post(
                "/api/v1/rules",
                json!({"name": "x", "event": "ticket.created",
                       "conditions": [{"business_hours": "nights"}],
                       "actions": [{"add_tag": "x"}]}),
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(
            refused.body["errors"][0]["field"],
            "conditions[0].business_hours"
        );
        rule(
            &admin,
            json!({"name": "After hours", "event": "ticket.created",
                   "conditions": [{"business_hours": false}],
                   "actions": [{"add_tag": "after-hours"}]}),
        )
        .await;
        let night = open(&admin, "Mail is down", None).await;
        let fetched = admin
            .get(&format!(
                "/api/v1/tickets/{}",
                night["number"].as_str().unwrap()
            ))
            .await;
        assert_eq!(tags(&fetched.body), ["after-hours"], "{}", fetched.text);

        // Next Monday at 10:00 in London the office is open.
        clock.set("2026-03-09T10:00:00Z".parse().unwrap());
        let day = open(&admin, "Mail is slow", None).await;
        let fetched = admin
            .get(&format!(
                "/api/v1/tickets/{}",
                day["number"].as_str().unwrap()
            ))
            .await;
        assert!(tags(&fetched.body).is_empty(), "{}", fetched.text);
    }
);
