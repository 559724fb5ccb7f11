//! Problem management through the API, on SQLite and PostgreSQL: incidents linked to a
//! problem and resolved with it, the root-cause analysis and its known error published as
//! a knowledge-base article, and candidate problems from repeat incidents.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, Client, TestServer, dual_backend_test};
use serde_json::{Value, json};

async fn open_problem(admin: &Client, title: &str) -> String {
    let created = admin
        .post(
            "/api/v1/tickets",
            json!({"type": "problem", "title": title, "impact": "medium", "urgency": "medium",
                   "requester": "carol@acme.example"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.body["number"].as_str().unwrap().to_owned()
}

async fn resolve(admin: &Client, ticket: &str, note: &str) {
    let resolved = admin
        .patch(
            &format!("/api/v1/tickets/{ticket}"),
            json!({"status": "resolved", "resolution_code": "fixed", "resolution_note": note}),
            None,
        )
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);
}

async fn link(admin: &Client, problem: &str, incidents: &[&str]) -> opsdesk_testkit::Reply {
    admin
        .post(
            &format!("/api/v1/problems/{problem}/incidents"),
            json!({ "incidents": incidents }),
        )
        .await
}

fn numbers(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|ticket| ticket["number"].as_str().unwrap())
        .collect()
}

/// How many entries of `kind` a ticket's timeline has.
async fn timeline_entries(admin: &Client, ticket: &str, kind: &str) -> usize {
    let timeline = admin
        .get(&format!("/api/v1/tickets/{ticket}/timeline?limit=200"))
        .await;
    assert_eq!(timeline.status, 200, "{}", timeline.text);
    timeline.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["kind"] == kind)
        .count()
}

dual_backend_test!(
    resolving_a_problem_resolves_its_open_incidents,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let problem = open_problem(&admin, "The print spooler crashes").await;
        let mut incidents = Vec::new();
        for title in ["Cannot print", "Printing hangs", "Printer queue gone"] {
            incidents.push(
                server
                    .incident(title, "medium", "medium", "carol@acme.example")
                    .await,
            );
        }
        let (first, second, done) = (&incidents[0], &incidents[1], &incidents[2]);
        resolve(&admin, done, "Reinstalled the driver").await;

        let linked = link(&admin, &problem, &[first, second, done]).await;
        assert_eq!(linked.status, 200, "{}", linked.text);
        assert_eq!(numbers(&linked.body), [first, second, done]);
        // Linking again changes nothing: no second link, no second timeline entry.
        let again = link(&admin, &problem, &[first]).await;
        assert_eq!(again.status, 200, "{}", again.text);
        assert_eq!(numbers(&again.body).len(), 3);
        assert_eq!(timeline_entries(&admin, first, "linked").await, 1);
        assert_eq!(timeline_entries(&admin, &problem, "linked").await, 3);
        let listed = admin
            .get(&format!("/api/v1/problems/{problem}/incidents"))
            .await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert_eq!(numbers(&listed.body), [first, second, done]);
        let incident = admin.get(&format!("/api/v1/tickets/{first}")).await;
        assert!(
            incident.body["links"]
                .as_array()
                .unwrap()
                .iter()
                .any(|link| {
                    link["type"] == "caused_by"
                        && link["target"] == problem.as_str()
                        && link["direction"] == "outgoing"
                }),
            "{}",
            incident.text
        );

        let analysis = admin
            .put(
                &format!("/api/v1/problems/{problem}/analysis"),
                json!({"root_cause": "The spooler leaks a handle per job",
                       "workaround": "Restart the spooler"}),
            )
            .await;
        assert_eq!(analysis.status, 200, "{}", analysis.text);
        resolve(&admin, &problem, "Patched the spooler").await;
        for open in [first, second] {
            let incident = admin.get(&format!("/api/v1/tickets/{open}")).await;
            assert_eq!(incident.body["status"], "resolved", "{}", incident.text);
            assert_eq!(incident.body["resolution_code"], "fixed");
            assert_eq!(
                incident.body["resolution_note"],
                format!("Resolved with problem {problem}: The spooler leaks a handle per job")
            );
        }
        let untouched = admin.get(&format!("/api/v1/tickets/{done}")).await;
        assert_eq!(untouched.body["resolution_note"], "Reinstalled the driver");
    }
);

dual_backend_test!(
    only_visible_incidents_link_and_only_to_a_problem,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let problem = open_problem(&admin, "VPN drops every hour").await;
        let incident = server
            .incident("VPN dropped", "medium", "high", "carol@acme.example")
            .await;

        let unknown = link(&admin, &problem, &[&incident, "INC-9999"]).await;
        assert_eq!(unknown.status, 422, "{}", unknown.text);
        assert_eq!(unknown.body["errors"][0]["field"], "incidents[1]");
        let not_an_incident = link(&admin, &problem, &[&problem]).await;
        assert_eq!(not_an_incident.status, 422, "{}", not_an_incident.text);
        assert_eq!(not_an_incident.body["errors"][0]["field"], "incidents[0]");
        let none = link(&admin, &problem, &[]).await;
        assert_eq!(none.status, 422, "{}", none.text);
        assert_eq!(none.body["errors"][0]["field"], "incidents");
        // Nothing was linked by the refused requests.
        let listed = admin
            .get(&format!("/api/v1/problems/{problem}/incidents"))
            .await;
        assert_eq!(listed.body, json!([]));

        let not_a_problem = link(&admin, &incident, &[&incident]).await;
        assert_eq!(not_a_problem.status, 404, "{}", not_a_problem.text);
        let missing = admin.get("/api/v1/problems/PRB-999/analysis").await;
        assert_eq!(missing.status, 404, "{}", missing.text);
        let carol = server.client(&server.token_for("carol@acme.example").await);
        let customer = carol
            .get(&format!("/api/v1/problems/{problem}/incidents"))
            .await;
        assert_eq!(customer.status, 403, "{}", customer.text);
    }
);

dual_backend_test!(
    a_known_error_is_published_as_an_article,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let problem = open_problem(&admin, "Outlook loses its profile").await;
        let path = format!("/api/v1/problems/{problem}/analysis");

        let empty = admin.get(&path).await;
        assert_eq!(empty.status, 200, "{}", empty.text);
        assert_eq!(empty.body["whys"], json!([]));
        assert_eq!(empty.body["known_error"], false);
        for (bad, field) in [
            (json!({"root_cause": "x", "publish": "internal"}), "publish"),
            (json!({"known_error": true}), "workaround"),
            (json!({"whys": vec!["why"; 11]}), "whys"),
            (
                json!({"known_error": true, "root_cause": "x", "publish": "everyone"}),
                "publish",
            ),
        ] {
            let refused = admin.put(&path, bad).await;
            assert_eq!(refused.status, 422, "{}", refused.text);
            assert_eq!(
                refused.body["errors"][0]["field"], field,
                "{}",
                refused.text
            );
        }

        let saved = admin
            .put(
                &path,
                json!({"whys": ["The profile is rebuilt", "", "The roaming share times out"],
                       "contributing_factors": "Slow file server",
                       "root_cause": "Roaming profiles sync over a saturated link",
                       "workaround": "Start Outlook with /resetnavpane",
                       "known_error": true, "publish": "internal"}),
            )
            .await;
        assert_eq!(saved.status, 200, "{}", saved.text);
        assert_eq!(
            saved.body["whys"],
            json!(["The profile is rebuilt", "The roaming share times out"])
        );
        let article_id = saved.body["article_id"].as_i64().unwrap();
        let article = admin.get(&format!("/api/v1/articles/{article_id}")).await;
        assert_eq!(article.status, 200, "{}", article.text);
        assert_eq!(
            article.body["title"],
            "Known error: Outlook loses its profile"
        );
        assert_eq!(article.body["audience"], "internal");
        // The admin approves articles, so the known error is published at once.
        assert_eq!(article.body["status"], "published");
        let body = article.body["body"].as_str().unwrap();
        assert!(
            body.contains("## Root cause\n\nRoaming profiles sync over a saturated link")
                && body.contains("## Workaround\n\nStart Outlook with /resetnavpane"),
            "{body}"
        );
        let linked = admin
            .get(&format!("/api/v1/tickets/{problem}/articles"))
            .await;
        assert_eq!(linked.status, 200, "{}", linked.text);
        assert_eq!(linked.body[0]["id"], article_id, "{}", linked.text);
        assert_eq!(admin.get(&path).await.body, saved.body);

        // Publishing again brings the same article up to date.
        let republished = admin
            .put(
                &path,
                json!({"root_cause": "Roaming profiles sync over a saturated link",
                       "workaround": "Use cached mode", "known_error": true,
                       "publish": "public"}),
            )
            .await;
        assert_eq!(republished.status, 200, "{}", republished.text);
        assert_eq!(republished.body["article_id"], article_id);
        let article = admin.get(&format!("/api/v1/articles/{article_id}")).await;
        assert_eq!(article.body["audience"], "public");
        assert!(
            article.body["body"]
                .as_str()
                .unwrap()
                .contains("Use cached mode"),
            "{}",
            article.text
        );

        // An agent who does not approve articles submits the known error for review.
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let other = open_problem(&admin, "Badge readers reject new cards").await;
        let submitted = ann
            .put(
                &format!("/api/v1/problems/{other}/analysis"),
                json!({"workaround": "Re-enrol the card", "known_error": true,
                       "publish": "internal"}),
            )
            .await;
        assert_eq!(submitted.status, 200, "{}", submitted.text);
        let article_id = submitted.body["article_id"].as_i64().unwrap();
        let article = admin.get(&format!("/api/v1/articles/{article_id}")).await;
        assert_eq!(article.body["status"], "in_review", "{}", article.text);
    }
);

dual_backend_test!(
    repeat_incidents_on_one_item_are_a_candidate_problem,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let ci = admin
            .post(
                "/api/v1/cis",
                json!({"class": "server", "name": "files01", "organization": "Acme"}),
            )
            .await;
        assert_eq!(ci.status, 201, "{}", ci.text);
        let ci = ci.body["id"].as_i64().unwrap();
        let candidates = || async { admin.get("/api/v1/problems/candidates").await };

        let mut incidents = Vec::new();
        for title in ["Share slow", "Share unreachable", "Share read-only"] {
            let incident = server
                .incident(title, "medium", "medium", "carol@acme.example")
                .await;
            let linked = admin
                .send(admin.request(
                    reqwest::Method::PUT,
                    &format!("/api/v1/tickets/{incident}/cis/{ci}"),
                ))
                .await;
            assert_eq!(linked.status, 204, "{}", linked.text);
            incidents.push(incident);
            let listed = candidates().await;
            assert_eq!(listed.status, 200, "{}", listed.text);
            if incidents.len() < 3 {
                assert_eq!(listed.body, json!([]), "two incidents are no pattern yet");
            }
        }
        let listed = candidates().await;
        assert_eq!(
            listed.body,
            json!([{"kind": "item", "id": ci, "name": "files01", "incidents": incidents}])
        );
        // The same incidents in one category make that category a candidate too.
        let category = admin
            .post("/api/v1/categories", json!({"name": "Storage"}))
            .await;
        assert_eq!(category.status, 201, "{}", category.text);
        for incident in &incidents {
            let moved = admin
                .patch(
                    &format!("/api/v1/tickets/{incident}"),
                    json!({"category": "Storage"}),
                    None,
                )
                .await;
            assert_eq!(moved.status, 200, "{}", moved.text);
        }
        let listed = candidates().await;
        assert_eq!(listed.body[1]["kind"], "category", "{}", listed.text);
        assert_eq!(listed.body[1]["name"], "Storage");
        assert_eq!(listed.body[1]["incidents"], json!(incidents));

        // Once a problem covers them they are no candidate any more.
        let problem = open_problem(&admin, "files01 keeps failing").await;
        let refs: Vec<&str> = incidents.iter().map(String::as_str).collect();
        let linked = link(&admin, &problem, &refs).await;
        assert_eq!(linked.status, 200, "{}", linked.text);
        assert_eq!(candidates().await.body, json!([]));
    }
);

dual_backend_test!(
    the_problem_panel_links_incidents_and_publishes_the_known_error,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let problem = open_problem(&admin, "Wi-Fi drops in building B").await;
        let first = server
            .incident("No Wi-Fi", "medium", "medium", "carol@acme.example")
            .await;
        let second = server
            .incident("Wi-Fi slow", "medium", "medium", "carol@acme.example")
            .await;
        let root = server.web_forms("root@msp.example").await;

        let (status, path, page) = root
            .post(
                &format!("/tickets/{problem}/problem/incidents"),
                &[("incidents", &format!("{first}, {second}"))],
            )
            .await;
        assert_eq!(
            (status, path.as_str()),
            (200, format!("/tickets/{problem}").as_str())
        );
        let listed = page.split("id=\"problem-incidents\"").nth(1).unwrap();
        assert!(
            listed.contains(&first) && listed.contains(&second),
            "{page}"
        );
        let (status, _, page) = root
            .post(
                &format!("/tickets/{problem}/problem/analysis"),
                &[
                    ("whys", "The access points reboot"),
                    ("whys", ""),
                    ("root_cause", "Firmware 2.1 leaks memory"),
                    ("workaround", "Reboot the access points nightly"),
                    ("known_error", "on"),
                    ("publish", "internal"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("value=\"The access points reboot\""),
            "{page}"
        );
        let analysis = admin
            .get(&format!("/api/v1/problems/{problem}/analysis"))
            .await;
        let article_id = analysis.body["article_id"].as_i64().unwrap();
        assert!(
            page.contains("id=\"problem-article\"")
                && page.contains(&format!("href=\"/kb/{article_id}\"")),
            "{page}"
        );
        let mistake = root
            .post(
                &format!("/tickets/{problem}/problem/incidents"),
                &[("incidents", "INC-999")],
            )
            .await;
        assert_eq!(mistake.0, 422, "{}", mistake.2);

        // The incident's page names its problem.
        let incident = root.page(&format!("/tickets/{first}")).await;
        let named = incident.split("id=\"caused-by-problems\"").nth(1).unwrap();
        assert!(named.contains(&problem), "{incident}");
        let candidates = root.page("/problems/candidates").await;
        assert!(candidates.contains("No repeat incidents"), "{candidates}");

        // A candidate opens as a problem with its incidents linked.
        let ci = admin
            .post(
                "/api/v1/cis",
                json!({"class": "server", "name": "ap-b1", "organization": "Acme"}),
            )
            .await;
        let ci = ci.body["id"].as_i64().unwrap();
        let mut repeats = Vec::new();
        for title in ["AP down", "AP down again", "AP down once more"] {
            let incident = server
                .incident(title, "medium", "medium", "carol@acme.example")
                .await;
            let linked = admin
                .send(admin.request(
                    reqwest::Method::PUT,
                    &format!("/api/v1/tickets/{incident}/cis/{ci}"),
                ))
                .await;
            assert_eq!(linked.status, 204, "{}", linked.text);
            repeats.push(incident);
        }
        let candidates = root.page("/problems/candidates").await;
        assert!(
            candidates.contains("data-candidate=\"item-"),
            "{candidates}"
        );
        let mut fields = vec![("name", "ap-b1")];
        fields.extend(repeats.iter().map(|number| ("incidents", number.as_str())));
        let (status, path, page) = root.post("/problems/candidates/open", &fields).await;
        assert_eq!(status, 200, "{page}");
        assert!(path.starts_with("/tickets/PRB-"), "{path}");
        assert!(page.contains("Repeat incidents: ap-b1"), "{page}");
        let listed = page.split("id=\"problem-incidents\"").nth(1).unwrap();
        assert!(
            repeats
                .iter()
                .all(|number| listed.contains(number.as_str())),
            "{page}"
        );
    }
);
