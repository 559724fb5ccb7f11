//! The knowledge base through the API, on SQLite and PostgreSQL: the review workflow and
//! who may publish, audiences, ranked search with typo correction and the log of searches
//! that found nothing, revisions with diffs and restore, feedback that opens a task for the
//! owner, translations, and articles drafted from and linked to tickets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, TestServer, dual_backend_test};
use serde_json::{Value, json};

async fn desk(backend: Backend) -> (TestServer, String, String, String) {
    let server = TestServer::service_desk(backend).await;
    let agent = server.token_for("ann@msp.example").await;
    let admin = server.token_for("root@msp.example").await;
    let customer = server.token_for("carol@acme.example").await;
    (server, agent, admin, customer)
}

async fn admin_ticket_id(server: &TestServer, number: &str) -> i64 {
    server
        .admin()
        .get(&format!("/api/v1/tickets/{number}"))
        .await
        .body["id"]
        .as_i64()
        .unwrap()
}

const JAM: &str = "Open tray 2 and pull the sheet out slowly.\nClose the tray.\nPrint a test page.";

dual_backend_test!(
    writers_submit_approvers_publish_and_readers_find_it,
    |backend: Backend| async move {
        let (server, agent, admin, customer) = desk(backend).await;
        let (agent, admin, customer) = (
            server.client(&agent),
            server.client(&admin),
            server.client(&customer),
        );
        let created = agent
            .post(
                "/api/v1/articles",
                json!({"title": "Clearing a paper jam", "body": JAM, "category": "Printer",
                       "tags": ["Printer", "jam"], "audience": "public"}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        assert_eq!(created.body["status"], "draft");
        assert_eq!(created.body["owner"], "ann@msp.example");
        assert_eq!(created.body["tags"], json!(["jam", "printer"]));
        let id = created.body["id"].as_i64().unwrap();
        let path = format!("/api/v1/articles/{id}");
        assert_eq!(
            customer.get(&path).await.status,
            404,
            "drafts are for staff"
        );

        let submitted = agent
            .patch(&path, json!({"status": "in_review"}), None)
            .await;
        assert_eq!(submitted.status, 200, "{}", submitted.text);
        let refused = agent
            .patch(&path, json!({"status": "published"}), None)
            .await;
        assert_eq!(refused.status, 403, "{}", refused.text);
        let skipped = admin
            .patch(&path, json!({"status": "archived"}), None)
            .await;
        assert_eq!(skipped.status, 422, "{}", skipped.text);
        let etag = submitted.header("etag").unwrap().to_owned();
        let published = admin
            .patch(&path, json!({"status": "published"}), Some(&etag))
            .await;
        assert_eq!(published.status, 200, "{}", published.text);
        assert!(published.body["published_at"].is_string());
        let stale = admin
            .patch(&path, json!({"title": "Stale"}), Some(&etag))
            .await;
        assert_eq!(stale.status, 412);

        // Readers find it, ranked, with a snippet; mistyped words are corrected.
        let found = customer.get("/api/v1/articles?q=printer%20jam").await;
        assert_eq!(found.status, 200, "{}", found.text);
        assert_eq!(found.body["items"][0]["id"], id, "{}", found.text);
        assert!(found.body["items"][0]["score"].as_f64().unwrap() > 0.0);
        assert!(
            found.body["items"][0]["snippet"]
                .as_str()
                .unwrap()
                .contains("tray"),
            "{}",
            found.text
        );
        let prefix = customer.get("/api/v1/articles?q=pap").await;
        assert_eq!(
            prefix.body["items"][0]["id"], id,
            "prefixes match: {}",
            prefix.text
        );
        let typo = customer.get("/api/v1/articles?q=pritner").await;
        assert_eq!(typo.body["items"][0]["id"], id, "{}", typo.text);
        assert_eq!(typo.body["corrected"], "printer", "{}", typo.text);
        let nothing = customer
            .get("/api/v1/articles?q=kubernetes%20ingress")
            .await;
        assert_eq!(nothing.body["items"], json!([]), "{}", nothing.text);
        let misses = agent.get("/api/v1/articles/search-misses").await;
        assert_eq!(misses.status, 200, "{}", misses.text);
        assert_eq!(
            misses.body[0]["query"], "kubernetes ingress",
            "{}",
            misses.text
        );
        assert_eq!(misses.body[0]["times"], 1);
        assert_eq!(
            customer.get("/api/v1/articles/search-misses").await.status,
            403
        );
        for path in [
            "/api/v1/articles?limit=0",
            "/api/v1/articles?offset=-1",
            "/api/v1/articles/search-misses?days=0",
        ] {
            assert_eq!(agent.get(path).await.status, 422, "{path}");
        }
        server.stop();
    }
);

dual_backend_test!(
    audiences_keep_internal_and_other_organizations_articles_away,
    |backend: Backend| async move {
        let (server, _agent, admin, customer) = desk(backend).await;
        let (admin, customer) = (server.client(&admin), server.client(&customer));
        let organizations = admin.get("/api/v1/organizations").await;
        let globex = organizations.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "Globex")
            .unwrap()["id"]
            .clone();
        let publish = |body: Value| {
            let admin = admin.clone();
            async move {
                let created = admin.post("/api/v1/articles", body).await;
                assert_eq!(created.status, 201, "{}", created.text);
                let path = format!("/api/v1/articles/{}", created.body["id"]);
                let published = admin
                    .patch(&path, json!({"status": "published"}), None)
                    .await;
                assert_eq!(published.status, 200, "{}", published.text);
                path
            }
        };
        let internal =
            publish(json!({"title": "Printer admin password", "body": "In the vault."})).await;
        let globex_only = publish(
            json!({"title": "Globex printer fleet", "body": "Model list.",
                                         "audience": "customers", "organizations": [globex]}),
        )
        .await;
        let customers = publish(json!({"title": "Printer drivers", "body": "Download them.",
                                       "audience": "customers"}))
        .await;
        assert_eq!(customer.get(&internal).await.status, 404);
        assert_eq!(customer.get(&globex_only).await.status, 404);
        assert_eq!(customer.get(&customers).await.status, 200);
        let found = customer.get("/api/v1/articles?q=printer").await;
        let titles: Vec<&str> = found.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, ["Printer drivers"], "{}", found.text);
        let wrong = admin
            .post(
                "/api/v1/articles",
                json!({"title": "x", "audience": "internal", "organizations": [globex]}),
            )
            .await;
        assert_eq!(wrong.status, 422, "{}", wrong.text);
        assert_eq!(wrong.body["errors"][0]["field"], "organizations");
        server.stop();
    }
);

dual_backend_test!(
    revisions_are_kept_compared_and_restored,
    |backend: Backend| async move {
        let (server, agent, _admin, _customer) = desk(backend).await;
        let agent = server.client(&agent);
        let created = agent
            .post(
                "/api/v1/articles",
                json!({"title": "Clearing a paper jam", "body": JAM}),
            )
            .await;
        let path = format!("/api/v1/articles/{}", created.body["id"]);
        let edited = agent
            .patch(
                &path,
                json!({"body": JAM.replace("slowly", "gently")}),
                None,
            )
            .await;
        assert_eq!(edited.body["revision"], 2, "{}", edited.text);
        let retagged = agent.patch(&path, json!({"tags": ["paper"]}), None).await;
        assert_eq!(retagged.body["revision"], 2, "tags are not a new revision");
        let revisions = agent.get(&format!("{path}/revisions")).await;
        let numbers: Vec<i64> = revisions
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["revision"].as_i64().unwrap())
            .collect();
        assert_eq!(numbers, [2, 1]);
        assert_eq!(revisions.body[0]["author"], "ann@msp.example");
        let diff = agent.get(&format!("{path}/diff?from=1&to=2")).await;
        assert_eq!(diff.status, 200, "{}", diff.text);
        assert_eq!(
            diff.body["lines"],
            json!([
                {"op": "removed", "line": "Open tray 2 and pull the sheet out slowly."},
                {"op": "added", "line": "Open tray 2 and pull the sheet out gently."},
                {"op": "same", "line": "Close the tray."},
                {"op": "same", "line": "Print a test page."},
            ])
        );
        let restored = agent
            .post(&format!("{path}/revisions/1/restore"), json!({}))
            .await;
        assert_eq!(restored.status, 200, "{}", restored.text);
        assert_eq!(restored.body["revision"], 3);
        assert_eq!(restored.body["body"], JAM);
        assert_eq!(
            agent.get(&format!("{path}/diff?from=1&to=9")).await.status,
            422
        );
        server.stop();
    }
);

dual_backend_test!(
    unhelpful_feedback_opens_a_task_for_the_owner,
    |backend: Backend| async move {
        let (server, agent, admin, customer) = desk(backend).await;
        let (agent, admin, customer) = (
            server.client(&agent),
            server.client(&admin),
            server.client(&customer),
        );
        let created = agent
            .post(
                "/api/v1/articles",
                json!({"title": "Clearing a paper jam", "body": JAM, "audience": "public"}),
            )
            .await;
        let id = created.body["id"].as_i64().unwrap();
        let path = format!("/api/v1/articles/{id}");
        admin
            .patch(&path, json!({"status": "published"}), None)
            .await;
        let liked = customer
            .post(&format!("{path}/feedback"), json!({"helpful": true}))
            .await;
        assert_eq!(liked.status, 201, "{}", liked.text);
        assert!(liked.body["task"].is_null());
        let disliked = customer
            .post(
                &format!("{path}/feedback"),
                json!({"helpful": false, "comment": "Tray 2 has no lever on our model."}),
            )
            .await;
        assert_eq!(disliked.status, 201, "{}", disliked.text);
        assert_eq!(
            (
                disliked.body["helpful"].as_i64(),
                disliked.body["unhelpful"].as_i64()
            ),
            (Some(1), Some(1))
        );
        let task = disliked.body["task"].as_str().unwrap();
        let ticket = admin.get(&format!("/api/v1/tickets/{task}")).await;
        assert_eq!(
            ticket.body["assignee"]["email"], "ann@msp.example",
            "{}",
            ticket.text
        );
        assert!(
            ticket.body["description"]
                .as_str()
                .unwrap()
                .contains("no lever on our model")
        );
        server.stop();
    }
);

dual_backend_test!(
    a_resolved_ticket_becomes_a_linked_draft_and_translations_are_one_per_language,
    |backend: Backend| async move {
        let (server, agent, _admin, customer) = desk(backend).await;
        let (agent, customer) = (server.client(&agent), server.client(&customer));
        let number = server
            .incident(
                "VPN drops every hour",
                "medium",
                "medium",
                "carol@acme.example",
            )
            .await;
        let reply = agent
            .post(
                &format!("/api/v1/tickets/{number}/comments"),
                json!({"body": "Update the client to 5.2; the old one renews keys wrongly.",
                       "public": true}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let drafted = agent
            .post(
                &format!("/api/v1/tickets/{number}/draft-article"),
                json!({}),
            )
            .await;
        assert_eq!(drafted.status, 201, "{}", drafted.text);
        assert_eq!(drafted.body["title"], "VPN drops every hour");
        assert_eq!(drafted.body["status"], "draft");
        assert!(
            drafted.body["body"]
                .as_str()
                .unwrap()
                .contains("Update the client to 5.2"),
            "{}",
            drafted.text
        );
        let linked = agent
            .get(&format!("/api/v1/tickets/{number}/articles"))
            .await;
        assert_eq!(linked.body[0]["id"], drafted.body["id"], "{}", linked.text);
        let seen = customer
            .get(&format!("/api/v1/tickets/{number}/articles"))
            .await;
        assert_eq!(seen.body, json!([]), "the customer does not see a draft");
        let timeline = agent
            .get(&format!("/api/v1/tickets/{number}/timeline"))
            .await;
        assert!(
            timeline.text.contains("article_linked"),
            "{}",
            timeline.text
        );

        let german = agent
            .post(
                "/api/v1/articles",
                json!({"title": "VPN bricht stündlich ab", "language": "de",
                       "translation_of": drafted.body["id"]}),
            )
            .await;
        assert_eq!(german.status, 201, "{}", german.text);
        let twice = agent
            .post(
                "/api/v1/articles",
                json!({"title": "Noch einmal", "language": "de",
                       "translation_of": drafted.body["id"]}),
            )
            .await;
        assert_eq!(twice.status, 422, "{}", twice.text);
        assert_eq!(twice.body["errors"][0]["field"], "language");
        server.stop();
    }
);

dual_backend_test!(
    a_runbook_of_the_tickets_category_records_each_steps_outcome,
    |backend: Backend| async move {
        let (server, agent, _admin, _customer) = desk(backend).await;
        let agent = server.client(&agent);
        let monitor = agent
            .post(
                "/api/v1/monitors",
                json!({"name": "Print server", "kind": "tcp", "target": "127.0.0.1:9",
                       "paused": true}),
            )
            .await;
        let monitor = monitor.body["id"].as_i64().unwrap();
        let steps = json!([
            {"check": "Is the spooler running?", "command": "systemctl status cups",
             "expected": "active (running)"},
            {"check": "Restart the spooler", "command": "systemctl restart cups"},
        ]);
        let article = agent
            .post(
                "/api/v1/articles",
                json!({"title": "Print queue stuck", "kind": "article", "steps": steps}),
            )
            .await;
        assert_eq!(
            article.status, 422,
            "only runbooks have steps: {}",
            article.text
        );
        let unknown = agent
            .post(
                "/api/v1/articles",
                json!({"title": "Print queue stuck", "kind": "runbook", "steps": steps,
                       "monitors": [monitor + 100]}),
            )
            .await;
        assert_eq!(unknown.status, 422, "{}", unknown.text);
        assert_eq!(unknown.body["errors"][0]["field"], "monitors[0]");
        let runbook = agent
            .post(
                "/api/v1/articles",
                json!({"title": "Print queue stuck", "kind": "runbook", "steps": steps,
                       "category": "Printer", "monitors": [monitor]}),
            )
            .await;
        assert_eq!(runbook.status, 201, "{}", runbook.text);
        assert_eq!(runbook.body["monitors"], json!([monitor]));
        let id = runbook.body["id"].as_i64().unwrap();
        let prose = agent
            .post(
                "/api/v1/articles",
                json!({"title": "Why the print queue gets stuck", "body": "Spooler."}),
            )
            .await;
        assert_eq!(prose.status, 201, "{}", prose.text);
        // Filters apply to ranked results too, before the limit.
        let runbooks = agent
            .get("/api/v1/articles?q=print%20queue&kind=runbook&limit=1")
            .await;
        assert_eq!(runbooks.body["items"][0]["id"], id, "{}", runbooks.text);
        assert_eq!(runbooks.body["items"].as_array().unwrap().len(), 1);

        let ticket = agent
            .post(
                "/api/v1/tickets",
                json!({"type": "incident", "title": "Nothing prints", "impact": "medium",
                       "urgency": "medium", "requester": "carol@acme.example",
                       "category": "Printer"}),
            )
            .await;
        let number = ticket.body["number"].as_str().unwrap().to_owned();
        let offered = agent
            .get(&format!("/api/v1/tickets/{number}/runbooks"))
            .await;
        assert_eq!(offered.status, 200, "{}", offered.text);
        assert_eq!(offered.body[0]["id"], id);
        assert!(offered.body[0]["steps"][0]["outcome"].is_null());

        let path = format!("/api/v1/tickets/{number}/runbook-steps");
        let recorded = agent
            .post(
                &path,
                json!({"article_id": id, "step": 1, "outcome": "failed",
                       "note": "inactive (dead)"}),
            )
            .await;
        assert_eq!(recorded.status, 200, "{}", recorded.text);
        let first = &recorded.body[0]["steps"][0];
        assert_eq!(first["outcome"], "failed");
        assert_eq!(first["note"], "inactive (dead)");
        assert_eq!(first["by"], "ann@msp.example");
        for (body, field) in [
            (
                json!({"article_id": id, "step": 3, "outcome": "done"}),
                "step",
            ),
            (
                json!({"article_id": id, "step": 1, "outcome": "maybe"}),
                "outcome",
            ),
            (
                json!({"article_id": id + 1, "step": 1, "outcome": "done"}),
                "article_id",
            ),
        ] {
            let refused = agent.post(&path, body).await;
            assert_eq!(refused.status, 422, "{}", refused.text);
            assert_eq!(
                refused.body["errors"][0]["field"], field,
                "{}",
                refused.text
            );
        }
        let timeline = agent
            .get(&format!("/api/v1/tickets/{number}/timeline"))
            .await;
        assert!(timeline.text.contains("runbook_step"), "{}", timeline.text);

        // The ticket page's runbook panel records a step through its form.
        let (browser, csrf) = server.web_session("ann@msp.example").await;
        let page = browser
            .post(format!("{}/tickets/{number}/runbook-steps", server.url))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("article_id", &id.to_string()),
                ("step", "2"),
                ("outcome", "done"),
                ("note", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("id=\"runbooks\""), "{html}");
        let offered = agent
            .get(&format!("/api/v1/tickets/{number}/runbooks"))
            .await;
        assert_eq!(offered.body[0]["steps"][1]["outcome"], "done");

        // An incident the linked monitor's outage opened is offered the runbook too.
        let outage = server
            .incident("Print server is down", "high", "high", "carol@acme.example")
            .await;
        let outage_id = admin_ticket_id(&server, &outage).await;
        let mut conn = server.db.connect().await;
        opsdesk_testkit::sqlx::query(
            "INSERT INTO monitor_outages (monitor_id, started_at, ticket_id) VALUES ($1, 0, $2)",
        )
        .bind(monitor)
        .bind(outage_id)
        .execute(&mut conn)
        .await
        .unwrap();
        let offered = agent
            .get(&format!("/api/v1/tickets/{outage}/runbooks"))
            .await;
        assert_eq!(offered.body[0]["id"], id, "{}", offered.text);
        server.stop();
    }
);

dual_backend_test!(
    owners_are_reminded_once_when_a_review_date_passes,
    |backend: Backend| async move {
        let (server, agent, admin, _customer) = desk(backend).await;
        let (agent, admin) = (server.client(&agent), server.client(&admin));
        let yesterday = (server.app.now() - jiff::SignedDuration::from_hours(24)).to_string();
        let created = agent
            .post(
                "/api/v1/articles",
                json!({"title": "Wi-Fi passwords", "body": "Ask reception.",
                       "review_by": yesterday}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        assert_eq!(
            server.app.remind_article_reviews().await.unwrap(),
            0,
            "drafts are not reminded"
        );
        let path = format!("/api/v1/articles/{}", created.body["id"]);
        admin
            .patch(&path, json!({"status": "published"}), None)
            .await;
        assert_eq!(server.app.remind_article_reviews().await.unwrap(), 1);
        assert_eq!(
            server.app.remind_article_reviews().await.unwrap(),
            0,
            "once"
        );
        let tasks = admin.get("/api/v1/tickets?q=tag:kb-review").await;
        assert_eq!(
            tasks.body["items"][0]["title"],
            "Review article: Wi-Fi passwords"
        );
        assert_eq!(
            tasks.body["items"][0]["assignee"]["email"], "ann@msp.example",
            "{}",
            tasks.text
        );
        server.stop();
    }
);

dual_backend_test!(
    the_gap_finder_groups_questions_answered_without_an_article_and_drafts_one,
    |backend: Backend| async move {
        let (server, agent, _admin, _customer) = desk(backend).await;
        let agent = server.client(&agent);
        let resolved = [
            (
                "Outlook keeps asking for my password",
                "Removed the stale credential",
            ),
            (
                "Outlook asking for password again",
                "Reset the Outlook profile",
            ),
            (
                "outlook password prompt every hour",
                "Removed the stale credential",
            ),
            ("Printer out of toner", "Replaced the cartridge"),
        ];
        let mut numbers = Vec::new();
        for (title, note) in resolved {
            let number = server
                .incident(title, "low", "low", "carol@acme.example")
                .await;
            let done = agent
                .patch(
                    &format!("/api/v1/tickets/{number}"),
                    json!({"status": "resolved", "resolution_code": "fixed",
                           "resolution_note": note, "category": "Printer"}),
                    None,
                )
                .await;
            assert_eq!(done.status, 200, "{}", done.text);
            numbers.push(number);
        }
        // Still open: not an answered question yet.
        server
            .incident(
                "Outlook password box keeps popping up",
                "low",
                "low",
                "carol@acme.example",
            )
            .await;

        let gaps = agent.get("/api/v1/articles/gaps").await;
        assert_eq!(gaps.status, 200, "{}", gaps.text);
        let gaps = gaps.body.as_array().unwrap().clone();
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert_eq!(gaps[0]["count"], 3);
        assert_eq!(gaps[0]["category"], "Printer");
        assert!(
            gaps[0]["words"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w == "outlook")
        );
        let tickets: Vec<String> = gaps[0]["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["number"].as_str().unwrap().to_owned())
            .collect();
        let mut expected = numbers[..3].to_vec();
        expected.sort();
        let mut found = tickets.clone();
        found.sort();
        assert_eq!(found, expected);
        assert_eq!(
            server
                .client(&server.token_for("carol@acme.example").await)
                .get("/api/v1/articles/gaps")
                .await
                .status,
            403
        );

        let drafted = agent
            .post("/api/v1/articles/gaps/draft", json!({"tickets": tickets}))
            .await;
        assert_eq!(drafted.status, 201, "{}", drafted.text);
        assert_eq!(drafted.body["status"], "draft");
        let body = drafted.body["body"].as_str().unwrap();
        assert_eq!(
            body.matches("Removed the stale credential").count(),
            1,
            "{body}"
        );
        assert!(body.contains("Reset the Outlook profile"), "{body}");
        assert_eq!(agent.get("/api/v1/articles/gaps").await.body, json!([]));
        let linked = agent
            .get(&format!("/api/v1/tickets/{}/articles", numbers[0]))
            .await;
        assert_eq!(linked.body[0]["id"], drafted.body["id"], "{}", linked.text);
    }
);

dual_backend_test!(
    an_admin_makes_an_agent_an_approver_who_then_publishes,
    |backend: Backend| async move {
        let (server, agent, admin, _customer) = desk(backend).await;
        let (agent, admin) = (server.client(&agent), server.client(&admin));
        let created = agent
            .post(
                "/api/v1/articles",
                json!({"title": "VPN on a hotel network", "body": "Use port 443."}),
            )
            .await;
        let path = format!("/api/v1/articles/{}", created.body["id"]);
        assert_eq!(
            agent
                .patch(&path, json!({"status": "published"}), None)
                .await
                .status,
            403
        );
        let refused = admin
            .patch(
                &format!(
                    "/api/v1/users/{}",
                    server.user_id("carol@acme.example").await
                ),
                json!({"approves_articles": true}),
                None,
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        let made = admin
            .patch(
                &format!("/api/v1/users/{}", server.user_id("ann@msp.example").await),
                json!({"approves_articles": true}),
                None,
            )
            .await;
        assert_eq!(made.status, 200, "{}", made.text);
        assert_eq!(made.body["approves_articles"], true);
        let published = agent
            .patch(&path, json!({"status": "published"}), None)
            .await;
        assert_eq!(published.status, 200, "{}", published.text);
        let archived = agent
            .patch(&path, json!({"status": "archived"}), None)
            .await;
        assert_eq!(archived.status, 200, "{}", archived.text);
    }
);

dual_backend_test!(
    article_files_are_served_to_whoever_may_read_the_article,
    |backend: Backend| async move {
        let (server, agent, admin, customer) = desk(backend).await;
        let (agent, admin, customer) = (
            server.client(&agent),
            server.client(&admin),
            server.client(&customer),
        );
        let publish = |body: Value| {
            let admin = admin.clone();
            async move {
                let created = admin.post("/api/v1/articles", body).await;
                let id = created.body["id"].as_i64().unwrap();
                let path = format!("/api/v1/articles/{id}");
                let published = admin
                    .patch(&path, json!({"status": "published"}), None)
                    .await;
                assert_eq!(published.status, 200, "{}", published.text);
                id
            }
        };
        let public = publish(
            json!({"title": "Printer driver", "body": "Install it.", "audience": "public"}),
        )
        .await;
        let internal = publish(json!({"title": "Printer admin", "body": "In the vault."})).await;
        let upload = |id: i64, name: &str, bytes: &'static [u8]| {
            let request = agent
                .request(
                    reqwest::Method::POST,
                    &format!("/api/v1/articles/{id}/files?filename={name}"),
                )
                .header("content-type", "application/pdf")
                .body(bytes);
            agent.send(request)
        };
        let driver = upload(public, "driver%20setup.pdf", b"%PDF-1.7 driver").await;
        assert_eq!(driver.status, 201, "{}", driver.text);
        assert_eq!(driver.body["filename"], "driver setup.pdf");
        let secret = upload(internal, "vault.pdf", b"%PDF-1.7 vault").await;
        assert_eq!(secret.status, 201, "{}", secret.text);
        let refused = customer
            .send(
                customer
                    .request(
                        reqwest::Method::POST,
                        &format!("/api/v1/articles/{public}/files?filename=x.txt"),
                    )
                    .body("x"),
            )
            .await;
        assert_eq!(refused.status, 403);

        let anonymous = reqwest::Client::new();
        let fetched = anonymous
            .get(format!(
                "{}/help/{public}/files/{}",
                server.url, driver.body["id"]
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(fetched.status(), 200);
        assert!(
            fetched.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );
        assert_eq!(fetched.bytes().await.unwrap().as_ref(), b"%PDF-1.7 driver");
        let hidden = anonymous
            .get(format!(
                "{}/help/{internal}/files/{}",
                server.url, secret.body["id"]
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            hidden.status(),
            404,
            "internal articles' files stay with staff"
        );
        assert_eq!(
            customer
                .get(&format!("/api/v1/articles/{internal}/files"))
                .await
                .status,
            404
        );
        let listed = customer
            .get(&format!("/api/v1/articles/{public}/files"))
            .await;
        assert_eq!(
            listed.body[0]["filename"], "driver setup.pdf",
            "{}",
            listed.text
        );
        // A file of one article is not reachable through another.
        assert_eq!(
            customer
                .get(&format!(
                    "/api/v1/articles/{public}/files/{}",
                    secret.body["id"]
                ))
                .await
                .status,
            404
        );
        let page =
            opsdesk_testkit::page_text(&anonymous, format!("{}/help/{public}", server.url)).await;
        assert!(page.contains("driver setup.pdf"), "{page}");

        let path = format!("/api/v1/articles/{public}/files/{}", driver.body["id"]);
        assert_eq!(customer.delete(&path).await.status, 403);
        assert_eq!(agent.delete(&path).await.status, 204);
        assert_eq!(agent.get(&path).await.status, 404);
    }
);
