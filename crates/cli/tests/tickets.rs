//! The service desk through the HTTP API, on SQLite and PostgreSQL: lifecycle, roles and
//! organizations, internal notes, escalation, links, merge, search.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, TestServer, dual_backend_test};
use serde_json::{Value, json};

/// A service desk: organizations Acme and Globex, agents Ann (tier 1, "Service Desk") and Bob
/// (tier 2, "Infrastructure"), and Carol, a customer of Acme, whose API token comes last.
async fn desk(backend: Backend) -> (TestServer, i64, i64, String) {
    desk_on(backend, std::sync::Arc::new(opsdesk_app::SystemClock)).await
}

/// [`desk`] on a server reading the time from `clock`.
async fn desk_on(
    backend: Backend,
    clock: opsdesk_app::SharedClock,
) -> (TestServer, i64, i64, String) {
    let server = TestServer::start_on_clock(
        opsdesk_testkit::TestDb::new(backend).await,
        opsdesk_http::HttpConfig::default(),
        opsdesk_app::AppConfig::default(),
        clock,
    )
    .await;
    let acme = server.organization("Acme").await;
    let globex = server.organization("Globex").await;
    let admin = server.admin();
    server.user("ann@msp.example", "agent", None, &[]).await;
    server.user("bob@msp.example", "agent", None, &[]).await;
    let tier1 = admin
        .post(
            "/api/v1/groups",
            json!({"name": "Service Desk", "tier": 1, "members": ["ann@msp.example"]}),
        )
        .await;
    assert_eq!(tier1.status, 201, "{}", tier1.text);
    let tier2 = admin
        .post(
            "/api/v1/groups",
            json!({"name": "Infrastructure", "tier": 2, "members": ["bob@msp.example"]}),
        )
        .await;
    assert_eq!(tier2.status, 201, "{}", tier2.text);
    let carol = server
        .user("carol@acme.example", "customer", Some(acme), &[])
        .await;
    (server, acme, globex, carol)
}

/// A priority matrix that gives every impact × urgency the same priority.
fn every_cell(priority: &str) -> serde_json::Map<String, Value> {
    ["high", "medium", "low"]
        .iter()
        .flat_map(|impact| {
            ["high", "medium", "low"]
                .iter()
                .map(move |urgency| (format!("{impact}/{urgency}"), json!(priority)))
        })
        .collect()
}

fn ticket(requester: &str, title: &str) -> Value {
    json!({"type": "incident", "title": title, "description": "Paper jam in tray 2 on the third floor",
           "impact": "medium", "urgency": "high", "requester": requester, "group": "Service Desk"})
}

dual_backend_test!(the_whole_lifecycle, |backend: Backend| async move {
    let (server, _, _, carol) = desk(backend).await;
    let carol = server.client(&carol);
    let ann = server.client(&server.token_for("ann@msp.example").await);

    let created = carol
        .post(
            "/api/v1/tickets",
            json!({"type": "incident", "title": "Printer jam", "description": "Tray 2 jams",
                                        "impact": "medium", "urgency": "high", "source": "web"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["status"], "new");
    assert_eq!(
        created.body["priority"], "P2",
        "medium impact × high urgency is P2"
    );
    assert_eq!(created.body["number"], "INC-1");
    assert_eq!(created.body["organization"]["name"], "Acme");
    assert_eq!(created.body["requester"]["email"], "carol@acme.example");

    let fetched = ann.get("/api/v1/tickets/INC-1").await;
    assert_eq!(fetched.status, 200);
    let etag = fetched.header("etag").unwrap().to_owned();
    let assigned = ann
        .patch(
            "/api/v1/tickets/INC-1",
            json!({"group": "Service Desk", "assignee": "ann@msp.example", "status": "open"}),
            Some(&etag),
        )
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.text);
    assert_eq!(assigned.body["status"], "open");
    assert_eq!(assigned.body["assignee"]["email"], "ann@msp.example");
    let stale = ann
        .patch(
            "/api/v1/tickets/INC-1",
            json!({"title": "Lost"}),
            Some(&etag),
        )
        .await;
    assert_eq!(stale.status, 412);
    let current_etag = assigned.header("etag").unwrap().to_owned();
    let weak = ann
        .patch(
            "/api/v1/tickets/INC-1",
            json!({"title": "Weak"}),
            Some(&format!("W/{current_etag}")),
        )
        .await;
    assert_eq!(weak.status, 412, "a weak tag never satisfies If-Match");
    let any = ann
        .patch(
            "/api/v1/tickets/INC-1",
            json!({"urgency": "high"}),
            Some("*"),
        )
        .await;
    assert_eq!(any.status, 200, "{}", any.text);

    let not_member = ann
        .patch(
            "/api/v1/tickets/INC-1",
            json!({"assignee": "bob@msp.example"}),
            None,
        )
        .await;
    assert_eq!(
        not_member.status, 422,
        "an assignee must belong to the ticket's group"
    );

    let illegal = ann
        .patch("/api/v1/tickets/INC-1", json!({"status": "closed"}), None)
        .await;
    assert_eq!(illegal.status, 409, "{}", illegal.text);
    let no_reason = ann
        .patch("/api/v1/tickets/INC-1", json!({"status": "pending"}), None)
        .await;
    assert_eq!(no_reason.status, 422);
    assert_eq!(no_reason.body["errors"][0]["field"], "pending_reason");

    let note = ann
        .post(
            "/api/v1/tickets/INC-1/comments",
            json!({"body": "Suspect the fuser unit", "public": false}),
        )
        .await;
    assert_eq!(note.status, 201, "{}", note.text);
    let reply = ann
        .post("/api/v1/tickets/INC-1/comments", json!({"body": "We are sending a technician", "public": true, "time_spent_minutes": 15}))
        .await;
    assert_eq!(reply.status, 201);

    let resolved = ann
        .patch("/api/v1/tickets/INC-1", json!({"status": "resolved", "resolution_code": "fixed", "resolution_note": "Fuser replaced"}), None)
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    assert!(resolved.body["resolved_at"].is_string());
    assert!(
        resolved.body["first_response_at"].is_string(),
        "the agent's public reply is the first response"
    );
    assert_eq!(resolved.body["time_spent_minutes"], 15);

    let customer_reply = carol
        .post(
            "/api/v1/tickets/INC-1/comments",
            json!({"body": "Still jamming!"}),
        )
        .await;
    assert_eq!(customer_reply.status, 201);
    assert_eq!(
        ann.get("/api/v1/tickets/INC-1").await.body["status"],
        "open",
        "a customer reply reopens a resolved ticket"
    );
    assert_eq!(
        carol
            .post(
                "/api/v1/tickets/INC-1/comments",
                json!({"body": "x", "public": false})
            )
            .await
            .status,
        422
    );

    ann.patch(
        "/api/v1/tickets/INC-1",
        json!({"status": "resolved", "resolution_code": "fixed"}),
        None,
    )
    .await;
    let closed = ann
        .patch("/api/v1/tickets/INC-1", json!({"status": "closed"}), None)
        .await;
    assert_eq!(closed.body["status"], "closed");
    let reopen_closed = ann
        .patch("/api/v1/tickets/INC-1", json!({"status": "open"}), None)
        .await;
    assert_eq!(reopen_closed.status, 409, "closed tickets are final");

    let staff_timeline = ann.get("/api/v1/tickets/INC-1/timeline?limit=500").await;
    let kinds: Vec<&str> = staff_timeline.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "created",
        "assigned",
        "status_changed",
        "note",
        "comment",
        "reopened",
    ] {
        assert!(kinds.contains(&kind), "timeline lacks {kind}: {kinds:?}");
    }
    let customer_timeline = carol.get("/api/v1/tickets/INC-1/timeline?limit=500").await;
    let text = customer_timeline.text.clone();
    assert!(
        !text.contains("fuser unit"),
        "internal notes never reach the customer: {text}"
    );
    assert!(
        customer_timeline.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["public"] == true)
    );

    let audit = server
        .admin()
        .get("/api/v1/audit?entity=ticket&limit=500")
        .await;
    assert!(
        audit.body["items"].as_array().unwrap().len() >= 5,
        "every ticket change is audited"
    );
});

dual_backend_test!(
    organizations_and_roles_limit_what_is_seen,
    |backend: Backend| async move {
        let (server, acme, globex, carol) = desk(backend).await;
        let carol = server.client(&carol);
        let dave = server.client(
            &server
                .user("dave@acme.example", "customer", Some(acme), &[])
                .await,
        );
        let gina = server.client(
            &server
                .user("gina@globex.example", "customer", Some(globex), &[])
                .await,
        );
        let limited = server.client(
            &server
                .user("lena@msp.example", "agent", None, &[acme])
                .await,
        );
        let admin = server.admin();

        let acme_ticket = admin
            .post(
                "/api/v1/tickets",
                ticket("carol@acme.example", "Acme printer"),
            )
            .await;
        assert_eq!(acme_ticket.status, 201, "{}", acme_ticket.text);
        let globex_ticket = admin
            .post(
                "/api/v1/tickets",
                ticket("gina@globex.example", "Globex printer"),
            )
            .await;
        let globex_number = globex_ticket.body["number"].as_str().unwrap().to_owned();
        let globex_id = globex_ticket.body["id"].as_i64().unwrap();
        admin
            .post(
                &format!("/api/v1/tickets/{globex_number}/comments"),
                json!({"body": "secret vendor escalation code 7731", "public": false}),
            )
            .await;

        assert_eq!(
            gina.get(&format!("/api/v1/tickets/{globex_number}"))
                .await
                .status,
            200
        );
        assert_eq!(
            carol
                .get(&format!("/api/v1/tickets/{globex_number}"))
                .await
                .status,
            404
        );
        assert_eq!(
            carol
                .get(&format!("/api/v1/tickets/{globex_id}"))
                .await
                .status,
            404
        );
        assert_eq!(
            dave.get("/api/v1/tickets/INC-1").await.status,
            404,
            "customers see their own tickets only"
        );
        assert_eq!(
            limited
                .get(&format!("/api/v1/tickets/{globex_number}"))
                .await
                .status,
            404,
            "an agent limited to Acme"
        );
        assert_eq!(limited.get("/api/v1/tickets/INC-1").await.status, 200);
        assert_eq!(
            carol
                .patch("/api/v1/tickets/INC-1", json!({"title": "x"}), None)
                .await
                .status,
            403
        );

        let carol_search = carol.get("/api/v1/tickets?q=printer").await;
        let numbers: Vec<&str> = carol_search.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["number"].as_str().unwrap())
            .collect();
        assert_eq!(numbers, vec!["INC-1"]);
        let limited_search = limited.get("/api/v1/tickets?q=printer").await;
        assert_eq!(limited_search.body["items"].as_array().unwrap().len(), 1);

        let gina_note_search = gina.get("/api/v1/tickets?q=vendor%20escalation").await;
        assert_eq!(gina_note_search.status, 200);
        assert!(
            gina_note_search.body["items"]
                .as_array()
                .unwrap()
                .is_empty(),
            "internal notes are not searchable by customers: {}",
            gina_note_search.text
        );
        let staff_note_search = admin.get("/api/v1/tickets?q=vendor%20escalation").await;
        assert_eq!(staff_note_search.body["items"].as_array().unwrap().len(), 1);
        let gina_search = gina.get("/api/v1/tickets?q=printer").await;
        assert!(
            !gina_search.text.contains("7731"),
            "snippets never quote internal notes"
        );
    }
);

dual_backend_test!(escalation_links_and_merge, |backend: Backend| async move {
    let (server, _, _, _) = desk(backend).await;
    let admin = server.admin();
    let first = admin
        .post("/api/v1/tickets", ticket("carol@acme.example", "VPN down"))
        .await;
    let second = admin
        .post(
            "/api/v1/tickets",
            ticket("carol@acme.example", "VPN not connecting"),
        )
        .await;
    let (a, b) = (
        first.body["number"].as_str().unwrap().to_owned(),
        second.body["number"].as_str().unwrap().to_owned(),
    );

    let escalated = admin
        .patch(
            &format!("/api/v1/tickets/{a}"),
            json!({"group": "Infrastructure", "escalation_reason": "needs firewall access"}),
            None,
        )
        .await;
    assert_eq!(escalated.status, 200, "{}", escalated.text);
    assert_eq!(escalated.body["group"]["tier"], 2);
    let timeline = admin.get(&format!("/api/v1/tickets/{a}/timeline")).await;
    let escalation = timeline.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "escalated")
        .unwrap()
        .clone();
    assert_eq!(escalation["data"]["from"], "Service Desk");
    assert_eq!(escalation["data"]["to"], "Infrastructure");
    assert_eq!(escalation["data"]["reason"], "needs firewall access");

    let linked = admin
        .post(
            &format!("/api/v1/tickets/{a}/links"),
            json!({"type": "relates_to", "target": b}),
        )
        .await;
    assert_eq!(linked.status, 201, "{}", linked.text);
    assert_eq!(linked.body["links"][0]["target"], b);
    assert_eq!(
        admin
            .post(
                &format!("/api/v1/tickets/{a}/links"),
                json!({"type": "relates_to", "target": b})
            )
            .await
            .status,
        409
    );
    assert_eq!(
        admin
            .post(
                &format!("/api/v1/tickets/{a}/links"),
                json!({"type": "blocks", "target": b})
            )
            .await
            .status,
        422
    );

    admin
        .post(
            &format!("/api/v1/tickets/{b}/comments"),
            json!({"body": "Happens since this morning"}),
        )
        .await;
    let merged = admin
        .post(&format!("/api/v1/tickets/{b}/merge"), json!({"into": a}))
        .await;
    assert_eq!(merged.status, 200, "{}", merged.text);
    let source = admin.get(&format!("/api/v1/tickets/{b}")).await;
    assert_eq!(source.body["merged_into"], a.as_str());
    assert_eq!(source.body["status"], "closed");
    let target_timeline = admin
        .get(&format!("/api/v1/tickets/{a}/timeline?limit=500"))
        .await;
    assert!(target_timeline.text.contains("merged"));
    let found = admin.get("/api/v1/tickets?q=morning").await;
    assert_eq!(
        found.body["items"][0]["number"],
        a.as_str(),
        "the moved conversation is searchable on the target"
    );
});

dual_backend_test!(
    search_language_filters_and_errors,
    |backend: Backend| async move {
        let (server, _, _, _) = desk(backend).await;
        let admin = server.admin();
        for (title, impact, urgency) in [
            ("Printer jam in tray 2", "high", "high"),
            ("Outlook keeps crashing", "low", "low"),
            ("Printer offline", "medium", "medium"),
        ] {
            let mut body = ticket("carol@acme.example", title);
            body["impact"] = json!(impact);
            body["urgency"] = json!(urgency);
            assert_eq!(admin.post("/api/v1/tickets", body).await.status, 201);
        }
        let p1 = admin.get("/api/v1/tickets?q=priority:P1").await;
        assert_eq!(p1.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(p1.body["items"][0]["title"], "Printer jam in tray 2");

        let query = "status:new,open%20group:%22Service%20Desk%22%20printer";
        let printers = admin.get(&format!("/api/v1/tickets?q={query}")).await;
        assert_eq!(
            printers.body["items"].as_array().unwrap().len(),
            2,
            "{}",
            printers.text
        );
        assert!(
            printers.body["items"][0]["snippet"]
                .as_str()
                .unwrap()
                .contains("«")
        );

        // Text with only status filters is ranked inside the full-text index, which must
        // follow a status change made after the ticket was indexed, and page by offset.
        let offline = admin.get("/api/v1/tickets?q=printer%20offline").await;
        let offline = offline.body["items"][0]["number"]
            .as_str()
            .unwrap()
            .to_owned();
        let opened = admin
            .patch(
                &format!("/api/v1/tickets/{offline}"),
                json!({"status": "open"}),
                None,
            )
            .await;
        assert_eq!(opened.status, 200, "{}", opened.text);
        let open_printers = admin.get("/api/v1/tickets?q=status:open%20printer").await;
        let numbers = |reply: &opsdesk_testkit::Reply| -> Vec<String> {
            reply.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["number"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(numbers(&open_printers), std::slice::from_ref(&offline));
        let first = admin
            .get("/api/v1/tickets?q=status:new,open%20printer&limit=1")
            .await;
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let second = admin
            .get(&format!(
                "/api/v1/tickets?q=status:new,open%20printer&limit=1&cursor={cursor}"
            ))
            .await;
        let mut both = [numbers(&first), numbers(&second)].concat();
        both.sort();
        assert_eq!(both.len(), 2, "{} / {}", first.text, second.text);
        assert!(both.contains(&offline));
        assert_ne!(both[0], both[1]);

        let negated = admin.get("/api/v1/tickets?q=-priority:P1%20printer").await;
        assert_eq!(negated.body["items"].as_array().unwrap().len(), 1);

        let sorted = admin.get("/api/v1/tickets?q=sort:priority&limit=2").await;
        assert_eq!(sorted.body["items"][0]["priority"], "P1");
        let cursor = sorted.body["next_cursor"].as_str().unwrap();
        let rest = admin
            .get(&format!(
                "/api/v1/tickets?q=sort:priority&limit=2&cursor={cursor}"
            ))
            .await;
        assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(rest.body["items"][0]["priority"], "P5");

        let malformed = admin
            .get("/api/v1/tickets?q=status:open%20prority:P1")
            .await;
        assert_eq!(malformed.status, 422);
        assert_eq!(malformed.body["errors"][0]["field"], "q");
        assert_eq!(
            malformed.header("content-type"),
            Some("application/problem+json")
        );
        assert!(
            malformed.body["detail"]
                .as_str()
                .unwrap()
                .contains("position 12"),
            "{}",
            malformed.text
        );

        let queues = admin.get("/api/v1/queues").await;
        assert_eq!(queues.status, 200, "{}", queues.text);
        let view = admin
            .post(
                "/api/v1/views",
                json!({"name": "Printers", "query": "printer is:open", "shared": true}),
            )
            .await;
        assert_eq!(view.status, 201, "{}", view.text);
        let queues = admin.get("/api/v1/queues").await;
        let printers = queues
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == "Printers")
            .unwrap()
            .clone();
        assert_eq!(printers["count"], 2);
    }
);

dual_backend_test!(
    custom_fields_categories_macros_and_bulk,
    |backend: Backend| async move {
        let (server, _, _, _) = desk(backend).await;
        let admin = server.admin();
        assert_eq!(
            admin
                .post("/api/v1/categories", json!({"name": "Hardware"}))
                .await
                .status,
            201
        );
        let sub = admin
            .post(
                "/api/v1/categories",
                json!({"name": "Printer", "parent": "Hardware"}),
            )
            .await;
        assert_eq!(sub.body["path"], "Hardware/Printer");
        let field = admin
            .post(
                "/api/v1/custom-fields",
                json!({"key": "asset_tag", "label": "Asset tag", "kind": "text"}),
            )
            .await;
        assert_eq!(field.status, 201, "{}", field.text);
        let select = admin
        .post("/api/v1/custom-fields", json!({"key": "floor", "label": "Floor", "kind": "select", "options": ["1", "2", "3"]}))
        .await;
        assert_eq!(select.status, 201, "{}", select.text);

        let mut body = ticket("carol@acme.example", "Printer smoking");
        body["category"] = json!("Hardware/Printer");
        body["custom"] = json!({"asset_tag": "PRN-0042", "floor": "3"});
        let created = admin.post("/api/v1/tickets", body.clone()).await;
        assert_eq!(created.status, 201, "{}", created.text);
        assert_eq!(created.body["custom"]["floor"], "3");
        assert_eq!(created.body["category"]["name"], "Printer");
        assert_eq!(
            admin.get("/api/v1/tickets?q=category:Hardware").await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        body["custom"] = json!({"floor": "9"});
        let invalid = admin.post("/api/v1/tickets", body).await;
        assert_eq!(invalid.status, 422);
        assert_eq!(invalid.body["errors"][0]["field"], "custom.floor");

        let canned = admin
        .post("/api/v1/macros", json!({"name": "Thanks", "body": "Hello {{requester.name}}, {{ticket.number}} is fixed.", "set_status": "open"}))
        .await;
        assert_eq!(canned.status, 201, "{}", canned.text);
        let number = created.body["number"].as_str().unwrap();
        let applied = admin
            .post(
                &format!("/api/v1/tickets/{number}/macros/{}", canned.body["id"]),
                json!({}),
            )
            .await;
        assert_eq!(applied.status, 201, "{}", applied.text);
        assert_eq!(
            applied.body["body"],
            format!("Hello carol, {number} is fixed.")
        );
        assert_eq!(
            admin.get(&format!("/api/v1/tickets/{number}")).await.body["status"],
            "open"
        );

        let second = admin
            .post("/api/v1/tickets", ticket("carol@acme.example", "Another"))
            .await;
        let bulk = admin
        .post("/api/v1/tickets/bulk", json!({"tickets": [number, second.body["number"], "INC-999"], "patch": {"tags": ["floor-3"]}}))
        .await;
        assert_eq!(bulk.status, 200, "{}", bulk.text);
        let statuses: Vec<i64> = bulk
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["status"].as_i64().unwrap())
            .collect();
        assert_eq!(statuses, vec![200, 200, 404]);
        assert_eq!(
            admin.get("/api/v1/tickets?q=tag:floor-3").await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
);

async fn upload(
    client: &opsdesk_testkit::Client,
    number: &str,
    query: &str,
    content_type: &str,
    body: &'static [u8],
) -> opsdesk_testkit::Reply {
    let request = client
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/tickets/{number}/attachments?{query}"),
        )
        .header("content-type", content_type)
        .body(body);
    client.send(request).await
}

dual_backend_test!(
    attachments_are_stored_apart_and_served_safely,
    |backend: Backend| async move {
        let (server, acme, _, carol) = desk(backend).await;
        let carol = server.client(&carol);
        let admin = server.admin();
        let created = admin
            .post(
                "/api/v1/tickets",
                ticket("carol@acme.example", "Screen flickers"),
            )
            .await;
        let number = created.body["number"].as_str().unwrap().to_owned();

        let page = upload(
            &admin,
            &number,
            "filename=..%2F..%2Fevil.html",
            "text/html",
            b"<script>alert(1)</script>",
        )
        .await;
        assert_eq!(page.status, 201, "{}", page.text);
        assert_eq!(page.body["filename"], "evil.html");
        let note_file = upload(
            &admin,
            &number,
            "filename=vendor.txt&public=false",
            "text/plain",
            b"internal price list",
        )
        .await;
        assert_eq!(note_file.status, 201);
        let photo = upload(
            &carol,
            &number,
            "filename=photo.png&public=false",
            "image/png",
            b"\x89PNG fake",
        )
        .await;
        assert_eq!(photo.status, 201, "{}", photo.text);
        assert_eq!(
            photo.body["public"], true,
            "customers' files are always public"
        );

        let download = admin
            .get(&format!("/api/v1/attachments/{}", page.body["id"]))
            .await;
        assert_eq!(download.status, 200);
        assert_eq!(
            download.header("content-type"),
            Some("application/octet-stream"),
            "HTML is never served as HTML"
        );
        assert!(
            download
                .header("content-disposition")
                .unwrap()
                .starts_with("attachment;")
        );
        assert_eq!(download.text, "<script>alert(1)</script>");
        let png = carol
            .get(&format!("/api/v1/attachments/{}", photo.body["id"]))
            .await;
        assert_eq!(png.header("content-type"), Some("image/png"));

        let listed = carol
            .get(&format!("/api/v1/tickets/{number}/attachments"))
            .await;
        let names: Vec<&str> = listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["filename"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            vec!["evil.html", "photo.png"],
            "the staff-only file is not listed for the customer"
        );
        assert_eq!(
            carol
                .get(&format!("/api/v1/attachments/{}", note_file.body["id"]))
                .await
                .status,
            404
        );
        let dave = server.client(
            &server
                .user("dave@acme.example", "customer", Some(acme), &[])
                .await,
        );
        assert_eq!(
            dave.get(&format!("/api/v1/attachments/{}", photo.body["id"]))
                .await
                .status,
            404
        );
    }
);

dual_backend_test!(
    major_incidents_matrices_and_shared_visibility,
    |backend: Backend| async move {
        let (server, acme, _, carol) = desk(backend).await;
        let carol = server.client(&carol);
        let dave = server.client(
            &server
                .user("dave@acme.example", "customer", Some(acme), &[])
                .await,
        );
        let admin = server.admin();

        let parent = admin
            .post(
                "/api/v1/tickets",
                ticket("carol@acme.example", "Email outage"),
            )
            .await;
        let parent_number = parent.body["number"].as_str().unwrap().to_owned();
        let mut child_body = ticket("dave@acme.example", "Cannot send mail");
        child_body["parent"] = json!(parent_number);
        let child = admin.post("/api/v1/tickets", child_body).await;
        assert_eq!(child.status, 201, "{}", child.text);
        let child_number = child.body["number"].as_str().unwrap().to_owned();
        assert_eq!(child.body["parent"], parent_number.as_str());
        assert_eq!(
            admin
                .get(&format!("/api/v1/tickets/{parent_number}"))
                .await
                .body["children"][0],
            child_number.as_str()
        );
        let resolved = admin
            .patch(
                &format!("/api/v1/tickets/{parent_number}"),
                json!({"status": "resolved", "resolution_code": "fixed"}),
                None,
            )
            .await;
        assert_eq!(resolved.status, 200, "{}", resolved.text);
        let child_now = admin.get(&format!("/api/v1/tickets/{child_number}")).await;
        assert_eq!(
            child_now.body["status"], "resolved",
            "resolving the parent resolves its children"
        );
        assert_eq!(
            child_now.body["resolution_note"],
            format!("Resolved with its parent {parent_number}.")
        );

        let matrix = every_cell("P1");
        let patched = admin
            .patch(
                &format!("/api/v1/organizations/{acme}"),
                json!({"priority_matrix": matrix, "customers_see_all": true}),
                None,
            )
            .await;
        assert_eq!(patched.status, 200, "{}", patched.text);
        let mut low = ticket("carol@acme.example", "Mouse squeaks");
        low["impact"] = json!("low");
        low["urgency"] = json!("low");
        assert_eq!(
            admin.post("/api/v1/tickets", low).await.body["priority"],
            "P1",
            "Acme's matrix makes everything P1"
        );
        assert_eq!(
            dave.get(&format!("/api/v1/tickets/{parent_number}"))
                .await
                .status,
            200,
            "Acme's customers see all its tickets"
        );
        assert_eq!(
            carol.get("/api/v1/tickets").await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            3
        );

        let invalid = admin
            .patch(
                &format!("/api/v1/organizations/{acme}"),
                json!({"priority_matrix": {"high/high": "P9"}}),
                None,
            )
            .await;
        assert_eq!(invalid.status, 422);
        assert_eq!(invalid.body["errors"][0]["field"], "priority_matrix");
    }
);

dual_backend_test!(
    resolved_tickets_close_automatically,
    |backend: Backend| async move {
        let clock = opsdesk_app::ManualClock::starting_at("2026-03-02T10:00:00Z".parse().unwrap());
        let (server, _, _, _) = desk_on(backend, std::sync::Arc::new(clock.clone())).await;
        let admin = server.admin();
        let created = admin
            .post("/api/v1/tickets", ticket("carol@acme.example", "Old issue"))
            .await;
        let number = created.body["number"].as_str().unwrap().to_owned();
        admin
            .patch(
                &format!("/api/v1/tickets/{number}"),
                json!({"status": "resolved", "resolution_code": "fixed"}),
                None,
            )
            .await;
        clock.advance(jiff::SignedDuration::from_hours(7 * 24 - 1));
        assert_eq!(
            server.app.close_resolved_tickets(7).await.unwrap(),
            0,
            "resolved an hour less than 7 days ago: not due"
        );
        clock.advance(jiff::SignedDuration::from_hours(2));
        assert_eq!(server.app.close_resolved_tickets(7).await.unwrap(), 1);
        let closed = admin.get(&format!("/api/v1/tickets/{number}")).await;
        assert_eq!(closed.body["status"], "closed");
        let timeline = admin
            .get(&format!("/api/v1/tickets/{number}/timeline?limit=500"))
            .await;
        assert!(
            timeline.text.contains("system:auto-close"),
            "{}",
            timeline.text
        );
    }
);

/// The count of `client`'s built-in queue called `name`, if they have it.
async fn queue_count(client: &opsdesk_testkit::Client, name: &str) -> Option<i64> {
    let queues = client.get("/api/v1/queues").await;
    assert_eq!(queues.status, 200, "{}", queues.text);
    queues
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .map(|q| q["count"].as_i64().unwrap())
}

dual_backend_test!(
    admins_change_who_works_in_a_group,
    |backend: Backend| async move {
        let (server, _, _, _) = desk(backend).await;
        let admin = server.admin();
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let bob = server.client(&server.token_for("bob@msp.example").await);
        let groups = admin.get("/api/v1/groups").await;
        let desk_id = groups
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "Service Desk")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let members = format!("/api/v1/groups/{desk_id}/members");
        let put = |client: &opsdesk_testkit::Client, user: &str| {
            let request = client.request(reqwest::Method::PUT, &format!("{members}/{user}"));
            let client = client.clone();
            async move { client.send(request).await }
        };
        let unassigned = admin
            .post(
                "/api/v1/tickets",
                ticket("carol@acme.example", "Printer jam"),
            )
            .await;
        assert_eq!(unassigned.status, 201, "{}", unassigned.text);
        let taken = admin
            .post(
                "/api/v1/tickets",
                ticket("carol@acme.example", "Scanner jam"),
            )
            .await;
        assert_eq!(taken.status, 201, "{}", taken.text);
        let taken = taken.body["number"].as_str().unwrap().to_owned();

        // Bob works in Infrastructure only: the Service Desk's unassigned ticket is not his.
        assert_eq!(queue_count(&bob, "Unassigned in my groups").await, Some(0));

        let added = put(&admin, "bob@msp.example").await;
        assert_eq!(added.status, 201, "{}", added.text);
        assert_eq!(added.body["email"], "bob@msp.example");
        assert_eq!(added.body["role"], "agent");
        let bob_id = added.body["id"].as_i64().unwrap();
        let again = put(&admin, &bob_id.to_string()).await;
        assert_eq!(again.status, 200, "adding a member again is no change");
        let listed = ann.get(&members).await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        let emails: Vec<&str> = listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["email"].as_str().unwrap())
            .collect();
        assert_eq!(emails, ["ann@msp.example", "bob@msp.example"]);

        // Now he may take the group's tickets, and sees what nobody has taken yet.
        let assigned = admin
            .patch(
                &format!("/api/v1/tickets/{taken}"),
                json!({"assignee": "bob@msp.example"}),
                None,
            )
            .await;
        assert_eq!(assigned.status, 200, "{}", assigned.text);
        assert_eq!(queue_count(&bob, "Unassigned in my groups").await, Some(1));

        let removed = admin.delete(&format!("{members}/bob@msp.example")).await;
        assert_eq!(removed.status, 204, "{}", removed.text);
        assert_eq!(queue_count(&bob, "Unassigned in my groups").await, Some(0));
        let kept = admin.get(&format!("/api/v1/tickets/{taken}")).await;
        assert_eq!(
            kept.body["assignee"]["email"], "bob@msp.example",
            "his tickets stay assigned to him"
        );
        assert_eq!(queue_count(&bob, "My open tickets").await, Some(1));
        let absent = admin.delete(&format!("{members}/bob@msp.example")).await;
        assert_eq!(absent.status, 204, "removing a non-member is no change");

        let customer = put(&admin, "carol@acme.example").await;
        assert_eq!(customer.status, 422, "{}", customer.text);
        assert_eq!(
            customer.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(customer.body["errors"][0]["field"], "user");
        let unknown = put(&admin, "nobody@msp.example").await;
        assert_eq!(unknown.status, 422, "{}", unknown.text);
        assert_eq!(unknown.body["errors"][0]["field"], "user");
        let no_group = admin
            .send(admin.request(
                reqwest::Method::PUT,
                "/api/v1/groups/999999/members/bob@msp.example",
            ))
            .await;
        assert_eq!(no_group.status, 404, "{}", no_group.text);
        assert_eq!(put(&ann, "bob@msp.example").await.status, 403);
        assert_eq!(
            ann.delete(&format!("{members}/ann@msp.example"))
                .await
                .status,
            403
        );

        // Only real changes are audited: one addition, one removal.
        let audit = admin.get("/api/v1/audit?entity=group&limit=500").await;
        let desk_key = desk_id.to_string();
        let actions: Vec<&str> = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["entity_id"] == desk_key.as_str())
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["created", "member_added", "member_removed"]);
    }
);

dual_backend_test!(
    catalog_changes_from_another_node_apply_at_once,
    |backend: Backend| async move {
        let (server, acme, _, _) = desk(backend).await;
        let admin = server.admin();
        let created = admin
            .post("/api/v1/tickets", ticket("carol@acme.example", "Before"))
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        assert_eq!(created.body["priority"], "P2");

        // Another node (here: a plain connection) renames a group and gives Acme its own
        // priority matrix; this node's copy of the catalog must not answer from before.
        let mut other_node = server.db.connect().await;
        sqlx::query("UPDATE groups SET name = 'Front Desk' WHERE name = 'Service Desk'")
            .execute(&mut other_node)
            .await
            .unwrap();
        sqlx::query("UPDATE organizations SET priority_matrix = $1 WHERE id = $2")
            .bind(Value::Object(every_cell("P5")).to_string())
            .bind(acme)
            .execute(&mut other_node)
            .await
            .unwrap();

        let stale = admin
            .post("/api/v1/tickets", ticket("carol@acme.example", "Old name"))
            .await;
        assert_eq!(stale.status, 422, "{}", stale.text);
        assert_eq!(stale.body["errors"][0]["field"], "group");
        let mut renamed = ticket("carol@acme.example", "New name");
        renamed["group"] = json!("front desk");
        let created = admin.post("/api/v1/tickets", renamed).await;
        assert_eq!(created.status, 201, "{}", created.text);
        assert_eq!(created.body["group"]["name"], "Front Desk");
        assert_eq!(created.body["priority"], "P5", "Acme's new matrix applies");
    }
);

dual_backend_test!(
    numbers_stay_unique_and_gap_free_across_nodes,
    |backend: Backend| async move {
        let (server, _, _, _) = desk(backend).await;
        // A second node on the same database (PostgreSQL deployments run several).
        let other_node =
            opsdesk_app::App::new(server.db.open().await, opsdesk_app::AppConfig::default())
                .unwrap();
        let system = opsdesk_app::Principal::system("test");
        let creations = (0..40).map(|n| {
            let app = if n % 2 == 0 {
                server.app.clone()
            } else {
                other_node.clone()
            };
            let system = system.clone();
            tokio::spawn(async move {
                let ticket: opsdesk_app::tickets::NewTicket =
                    serde_json::from_value(ticket("carol@acme.example", &format!("Burst {n}")))
                        .unwrap();
                app.create_ticket(&system, ticket).await
            })
        });
        let mut numbers: Vec<String> = futures::future::join_all(creations)
            .await
            .into_iter()
            .map(|created| created.unwrap().unwrap().number)
            .collect();
        numbers.sort_by_key(|n| n["INC-".len()..].parse::<u32>().unwrap());
        let expected: Vec<String> = (1..=40).map(|n| format!("INC-{n}")).collect();
        assert_eq!(numbers, expected);
    }
);
