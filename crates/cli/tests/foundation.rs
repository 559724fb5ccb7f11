//! What the foundation must show, end to end against the real binary or the real server:
//! acknowledged writes survive `kill -9`, two nodes share one PostgreSQL database without
//! delivering an event twice, failing webhooks end as dead letters an admin can retry, bad
//! requests get problem details and change nothing, the audit chain catches tampering, a data
//! folder serves one server at a time, and the health and OpenAPI endpoints answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opsdesk_app::AppConfig;
use opsdesk_http::HttpConfig;
use opsdesk_testkit::{
    Backend, Client, Reply, ServerProcess, TestDb, TestServer, WebhookReceiver, dual_backend_test,
    eventually, postgres_url, run_command, run_command_output, sqlx,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_opsdesk");
const PASSWORD: &str = "correct horse battery staple\n";

/// Creates an admin with the CLI and returns an API token for them, as an operator would.
fn cli_admin(db: &TestDb, email: &str) -> String {
    let database = db.cli_args();
    let database: Vec<&str> = database.iter().map(String::as_str).collect();
    let mut add = vec![
        "user",
        "add",
        "--email",
        email,
        "--name",
        "Admin",
        "--role",
        "admin",
        "--password-stdin",
    ];
    add.extend(&database);
    run_command(BIN, &add, Some(PASSWORD));
    let mut create = vec!["token", "create", "--email", email];
    create.extend(&database);
    run_command(BIN, &create, None).trim().to_owned()
}

/// A client for a server started as a process.
fn client(url: &str, token: &str) -> Client {
    Client {
        base: url.to_owned(),
        token: Some(token.to_owned()),
        http: reqwest::Client::new(),
    }
}

/// Follows `next_cursor` through every page of a list at `path` (which has no query yet).
async fn all_items(client: &Client, path: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_path = match &cursor {
            Some(cursor) => format!("{path}?limit=500&cursor={cursor}{query}"),
            None => format!("{path}?limit=500{query}"),
        };
        let page = client.get(&page_path).await;
        assert_eq!(page.status, 200, "{page_path}: {}", page.text);
        items.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// Asserts `reply` is an RFC 9457 problem with `status`.
fn assert_problem(reply: &Reply, status: u16, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.text);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "{what}"
    );
    assert_eq!(reply.body["status"], status, "{what}: {}", reply.text);
    assert!(reply.body["type"].is_string(), "{what}: {}", reply.text);
    assert!(reply.body["title"].is_string(), "{what}: {}", reply.text);
    assert!(reply.body["detail"].is_string(), "{what}: {}", reply.text);
    assert!(
        reply
            .header("x-request-id")
            .is_some_and(|id| !id.is_empty()),
        "{what}: no x-request-id"
    );
}

fn audit_verify_args(db: &TestDb) -> Vec<String> {
    let mut args = vec!["audit".to_owned(), "verify".to_owned()];
    args.extend(db.cli_args());
    args
}

async fn audit_verify(db: &TestDb) -> std::process::Output {
    let args = audit_verify_args(db);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_command_output(BIN, &args, None).await
}

dual_backend_test!(
    acknowledged_writes_survive_kill_9,
    |backend: Backend| async move {
        let db = TestDb::new(backend).await;
        let token = cli_admin(&db, "admin@example.com");
        let mut server = ServerProcess::start(BIN, &db.cli_args()).await;

        // Eight clients write as fast as the server acknowledges; each stops at its first
        // failed request, which is when the server is gone.
        let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
        let writers: Vec<_> = (0..8)
            .map(|writer| {
                let http = reqwest::Client::new();
                let url = format!("{}/api/v1/organizations", server.url);
                let token = token.clone();
                let acknowledged = acknowledged.clone();
                tokio::spawn(async move {
                    let mut sent_count = 0_usize;
                    loop {
                        let name = format!("Crash {writer}-{sent_count}");
                        sent_count += 1;
                        let sent = http
                            .post(&url)
                            .bearer_auth(&token)
                            .json(&json!({ "name": name }))
                            .send()
                            .await;
                        match sent {
                            Ok(response) if response.status() == 201 => {
                                acknowledged.lock().unwrap().push(name);
                            }
                            Ok(response) => panic!("{name}: answered {}", response.status()),
                            Err(_) => return sent_count,
                        }
                    }
                })
            })
            .collect();
        let enough = eventually(Duration::from_secs(120), || async {
            acknowledged.lock().unwrap().len() >= 300
        })
        .await;
        assert!(enough, "the server acknowledged too few writes");
        server.kill();
        let mut attempted = 0;
        for writer in writers {
            attempted += writer.await.unwrap();
        }
        let acknowledged = acknowledged.lock().unwrap().clone();
        eprintln!(
            "{} writes acknowledged before kill -9, {attempted} sent",
            acknowledged.len()
        );

        let server = ServerProcess::start(BIN, &db.cli_args()).await;
        let admin = client(&server.url, &token);
        let organizations = all_items(&admin, "/api/v1/organizations", "").await;
        let stored: HashSet<&str> = organizations
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect();
        let lost: Vec<&String> = acknowledged
            .iter()
            .filter(|name| !stored.contains(name.as_str()))
            .collect();
        assert!(
            lost.is_empty(),
            "{} acknowledged organizations lost: {lost:?}",
            lost.len()
        );
        // Each organization was written with its audit entry in one transaction: the crash
        // may not leave one without the other.
        let audited = all_items(&admin, "/api/v1/audit", "&entity=organization").await;
        assert_eq!(audited.len(), organizations.len());

        let verified = audit_verify(&db).await;
        assert!(
            verified.status.success(),
            "{}",
            String::from_utf8_lossy(&verified.stderr)
        );
        assert!(String::from_utf8_lossy(&verified.stdout).contains("audit log intact"));

        let after = admin
            .post("/api/v1/organizations", json!({"name": "After the crash"}))
            .await;
        assert_eq!(after.status, 201, "{}", after.text);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_database_deliver_each_event_once() {
    if postgres_url().is_none() {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let token = cli_admin(&db, "admin@example.com");
    let north =
        ServerProcess::start_with_env(BIN, &db.cli_args(), &[("OPSDESK_NODE_NAME", "north")]).await;
    let south =
        ServerProcess::start_with_env(BIN, &db.cli_args(), &[("OPSDESK_NODE_NAME", "south")]).await;
    let nodes = [client(&north.url, &token), client(&south.url, &token)];
    for node in &nodes {
        assert_eq!(node.get("/healthz").await.status, 200);
        let me = node.get("/api/v1/me").await;
        assert_eq!(me.status, 200, "{}", me.text);
        assert_eq!(me.body["email"], "admin@example.com");
    }

    let receiver = WebhookReceiver::start(200).await;
    let hook = nodes[0]
        .post(
            "/api/v1/webhooks",
            json!({"url": receiver.url, "events": ["user.created"]}),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let mut emails = HashSet::new();
    for n in 0..50 {
        let email = format!("agent{n}@msp.example");
        let created = nodes[n % 2]
            .post(
                "/api/v1/users",
                json!({"email": email, "name": format!("Agent {n}"), "role": "agent"}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        emails.insert(email);
    }

    let delivered = eventually(Duration::from_secs(60), || async {
        receiver.deliveries().len() >= 50
    })
    .await;
    assert!(
        delivered,
        "only {} of 50 events delivered",
        receiver.deliveries().len()
    );
    let settled = eventually(Duration::from_secs(30), || async {
        all_items(&nodes[1], "/api/v1/jobs", "&status=done")
            .await
            .len()
            == 50
    })
    .await;
    assert!(settled, "not every delivery job was marked done");
    // A job run twice would show up as a second POST, possibly after the first run settled.
    let duplicate = eventually(Duration::from_secs(2), || async {
        receiver.deliveries().len() > 50
    })
    .await;
    assert!(!duplicate, "an event was delivered more than once");

    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 50);
    let ids: HashSet<&str> = deliveries.iter().map(|d| d.delivery.as_str()).collect();
    assert_eq!(ids.len(), 50, "a delivery id arrived twice");
    let delivered_emails: HashSet<String> = deliveries
        .iter()
        .map(|d| d.body["data"]["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(delivered_emails, emails);
    assert!(deliveries.iter().all(|d| d.event == "user.created"));

    let mut by_node = BTreeMap::<String, usize>::new();
    for job in all_items(&nodes[0], "/api/v1/jobs", "&status=done").await {
        let node = job["locked_by"].as_str().unwrap_or("?").to_owned();
        assert!(node == "north" || node == "south", "{job}");
        *by_node.entry(node).or_default() += 1;
    }
    eprintln!("deliveries per node: {by_node:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_held_by_a_node_that_dies_passes_to_another_within_seconds() {
    if postgres_url().is_none() {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let token = cli_admin(&db, "admin@example.com");
    let receiver = WebhookReceiver::start_slow(200, Duration::from_secs(8)).await;
    let mut north =
        ServerProcess::start_with_env(BIN, &db.cli_args(), &[("OPSDESK_NODE_NAME", "north")]).await;
    let api = client(&north.url, &token);
    let hook = api
        .post(
            "/api/v1/webhooks",
            json!({"url": receiver.url, "events": ["user.created"]}),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let created = api
        .post(
            "/api/v1/users",
            json!({"email": "late@msp.example", "name": "Late", "role": "agent"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let arrived = eventually(Duration::from_secs(20), || async {
        !receiver.deliveries().is_empty()
    })
    .await;
    assert!(arrived, "north never started the delivery");

    // North dies while its delivery waits for an answer; the job's lease is all it leaves.
    north.kill();
    let south =
        ServerProcess::start_with_env(BIN, &db.cli_args(), &[("OPSDESK_NODE_NAME", "south")]).await;
    let south_api = client(&south.url, &token);
    let done = eventually(Duration::from_secs(45), || async {
        all_items(&south_api, "/api/v1/jobs", "&status=done")
            .await
            .iter()
            .any(|job| job["locked_by"] == "south")
    })
    .await;
    assert!(done, "south did not take over the dead node's job");
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 2, "one interrupted try and one retry");
    assert_eq!(deliveries[0].delivery, deliveries[1].delivery);
}

dual_backend_test!(
    failing_webhooks_end_as_dead_letters_an_admin_can_retry,
    |backend: Backend| async move {
        let receiver = WebhookReceiver::start(500).await;
        let server = TestServer::start_with(
            TestDb::new(backend).await,
            HttpConfig::default(),
            AppConfig {
                job_retry_base_ms: 50,
                ..AppConfig::default()
            },
        )
        .await;
        let admin = server.admin();
        let hook = admin
            .post(
                "/api/v1/webhooks",
                json!({"url": receiver.url, "events": ["organization.created"]}),
            )
            .await;
        assert_eq!(hook.status, 201, "{}", hook.text);
        let acme = admin
            .post("/api/v1/organizations", json!({"name": "Acme"}))
            .await;
        assert_eq!(acme.status, 201, "{}", acme.text);

        let died = eventually(Duration::from_secs(90), || async {
            let dead = admin.get("/api/v1/jobs?status=dead").await;
            dead.body["items"]
                .as_array()
                .is_some_and(|items| items.len() == 1)
        })
        .await;
        assert!(
            died,
            "the delivery never became a dead letter; receiver got {} attempts",
            receiver.deliveries().len()
        );
        let dead = admin.get("/api/v1/jobs?status=dead").await.body["items"][0].clone();
        assert_eq!(dead["kind"], "webhook.delivery");
        assert_eq!(dead["status"], "dead");
        assert_eq!(dead["attempts"], 8, "{dead}");
        assert_eq!(dead["max_attempts"], 8, "{dead}");
        assert!(
            dead["last_error"].as_str().unwrap().contains("500"),
            "{dead}"
        );
        let id = dead["id"].as_i64().unwrap();

        let attempts = receiver.deliveries();
        assert_eq!(attempts.len(), 8, "one POST per attempt");
        assert!(
            attempts
                .iter()
                .all(|a| a.delivery == id.to_string() && a.event == "organization.created"),
            "every attempt carries the same delivery id: {attempts:?}"
        );
        assert!(attempts.iter().all(|a| a.signature.starts_with("sha256=")));

        let metrics = server.anonymous().get("/metrics").await;
        assert_eq!(metrics.status, 200);
        assert!(
            metrics.text.contains("opsdesk_jobs{status=\"dead\"} 1\n"),
            "{}",
            metrics.text
        );

        let retried = admin
            .send(admin.request(reqwest::Method::POST, &format!("/api/v1/jobs/{id}/retry")))
            .await;
        assert_eq!(retried.status, 200, "{}", retried.text);
        assert_eq!(retried.body["status"], "queued");
        assert_eq!(retried.body["attempts"], 0);
        let tried_again = eventually(Duration::from_secs(30), || async {
            receiver.deliveries().len() > 8
        })
        .await;
        assert!(tried_again, "the retried job was not run again");

        let missing = admin
            .send(admin.request(reqwest::Method::POST, "/api/v1/jobs/999999/retry"))
            .await;
        assert_problem(&missing, 404, "retry of a job that does not exist");
    }
);

dual_backend_test!(
    bad_requests_get_problem_details_and_change_nothing,
    |backend: Backend| async move {
        let server = TestServer::start_on(
            TestDb::new(backend).await,
            HttpConfig {
                max_body_bytes: 1024,
                ..HttpConfig::default()
            },
        )
        .await;
        let admin = server.admin();
        let acme = server.organization("Acme").await;
        let globex = server.organization("Globex").await;
        let carol = server.client(
            &server
                .user("carol@acme.example", "customer", Some(acme), &[])
                .await,
        );
        let old = admin.post("/api/v1/tokens", json!({"name": "old"})).await;
        assert_eq!(old.status, 201, "{}", old.text);
        let revoked = old.body["secret"].as_str().unwrap().to_owned();
        let revoke = admin
            .delete(&format!("/api/v1/tokens/{}", old.body["id"]))
            .await;
        assert_eq!(revoke.status, 200, "{}", revoke.text);

        let organizations_before = all_items(&admin, "/api/v1/organizations", "").await;
        let audit_before = all_items(&admin, "/api/v1/audit", "").await;
        let raw = |content_type: Option<&str>, body: String| {
            let request = admin.request(reqwest::Method::POST, "/api/v1/organizations");
            let request = match content_type {
                Some(content_type) => request.header("content-type", content_type),
                None => request,
            };
            admin.send(request.body(body))
        };
        let new = json!({"name": "Initech"});

        let malformed = raw(Some("application/json"), "{\"name\": ".into()).await;
        assert_problem(&malformed, 400, "malformed JSON");

        let trailing = raw(Some("application/json"), "{\"name\": 5} {}".into()).await;
        assert_problem(&trailing, 400, "a wrong type in malformed JSON");

        let wrong_type = admin
            .post("/api/v1/organizations", json!({"name": 5}))
            .await;
        assert_problem(&wrong_type, 422, "wrong type");
        assert_eq!(wrong_type.body["errors"][0]["field"], "name");

        let unknown = admin
            .post(
                "/api/v1/organizations",
                json!({"name": "Initech", "colour": "red"}),
            )
            .await;
        assert_problem(&unknown, 422, "unknown field");
        assert_eq!(unknown.body["errors"][0]["field"], "colour");

        let missing = admin.post("/api/v1/organizations", json!({})).await;
        assert_problem(&missing, 422, "missing field");
        assert_eq!(missing.body["errors"][0]["field"], "name");

        let too_large = admin
            .post("/api/v1/organizations", json!({"name": "x".repeat(2_000)}))
            .await;
        assert_problem(&too_large, 413, "body over the limit");

        let text = raw(Some("text/plain"), new.to_string()).await;
        assert_problem(&text, 400, "wrong content type");
        let untyped = raw(None, new.to_string()).await;
        assert_problem(&untyped, 400, "no content type");

        let anonymous = server
            .anonymous()
            .post("/api/v1/organizations", new.clone())
            .await;
        assert_problem(&anonymous, 401, "no token");
        let invalid = server
            .client("odk_not-a-token")
            .post("/api/v1/organizations", new.clone())
            .await;
        assert_problem(&invalid, 401, "invalid token");
        let not_bearer = server
            .anonymous()
            .send(
                admin
                    .request(reqwest::Method::GET, "/api/v1/me")
                    .header("authorization", "Basic YWRtaW46YWRtaW4="),
            )
            .await;
        assert_problem(&not_bearer, 401, "not a bearer token");
        let after_revoke = server
            .client(&revoked)
            .post("/api/v1/organizations", new.clone())
            .await;
        assert_problem(&after_revoke, 401, "revoked token");

        let other = carol.get(&format!("/api/v1/organizations/{globex}")).await;
        assert_problem(&other, 404, "another organization's record");
        let users = carol.get("/api/v1/users").await;
        assert_problem(&users, 403, "a customer listing users");
        let nowhere = admin.get("/api/v1/nowhere").await;
        assert_problem(&nowhere, 404, "unknown API route");
        let outside = server.anonymous().get("/no/such/page").await;
        assert_problem(&outside, 404, "unknown route");

        // A path segment of the wrong type is malformed, in the same format as everything else.
        let not_a_number = admin.get("/api/v1/organizations/abc").await;
        assert_problem(&not_a_number, 400, "an id that is not a number");
        let nul = admin.get("/api/v1/tickets/a%00b").await;
        assert_problem(&nul, 400, "a NUL character in the path");
        // A query parameter that is unknown, of the wrong type, out of range or not a cursor
        // is 422 naming it, as a JSON body's fields are.
        for (what, path, field) in [
            (
                "a limit that is not a number",
                "/api/v1/organizations?limit=abc",
                "limit",
            ),
            (
                "a limit out of range",
                "/api/v1/organizations?limit=0",
                "limit",
            ),
            (
                "an unknown query parameter",
                "/api/v1/organizations?colour=red",
                "colour",
            ),
            (
                "a cursor this API did not hand out",
                "/api/v1/organizations?cursor=abc",
                "cursor",
            ),
            ("a NUL character in a query", "/api/v1/tickets?q=a%00b", "q"),
        ] {
            let reply = admin.get(path).await;
            assert_problem(&reply, 422, what);
            assert_eq!(reply.body["errors"][0]["field"], field, "{what}");
        }
        let nul_in_body = admin
            .post("/api/v1/organizations", json!({"name": "Ini\u{0}tech"}))
            .await;
        assert_problem(&nul_in_body, 422, "a NUL character in a body");
        assert_eq!(nul_in_body.body["errors"][0]["field"], "name");
        let wrong_method = admin.delete("/api/v1/organizations").await;
        assert_problem(&wrong_method, 405, "a method the route lacks");
        assert!(
            wrong_method
                .header("allow")
                .is_some_and(|allow| allow.contains("POST"))
        );

        let organizations_after = all_items(&admin, "/api/v1/organizations", "").await;
        assert_eq!(organizations_after, organizations_before);
        let audit_after = all_items(&admin, "/api/v1/audit", "").await;
        assert_eq!(
            audit_after.len(),
            audit_before.len(),
            "a refused request wrote an audit entry"
        );

        let listed = admin.get("/api/v1/organizations").await;
        assert_eq!(listed.status, 200);
        assert!(listed.header("x-request-id").is_some());
        let traced = admin
            .send(
                admin
                    .request(reqwest::Method::GET, "/api/v1/me")
                    .header("x-request-id", "support-call-42"),
            )
            .await;
        assert_eq!(traced.header("x-request-id"), Some("support-call-42"));
    }
);

dual_backend_test!(
    audit_verify_names_altered_and_removed_entries,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        for name in ["Acme", "Globex", "Initech"] {
            let created = admin
                .post("/api/v1/organizations", json!({"name": name}))
                .await;
            assert_eq!(created.status, 201, "{}", created.text);
        }
        let globex = admin.get("/api/v1/organizations?limit=500").await.body["items"][1].clone();
        assert_eq!(globex["name"], "Globex");
        let path = format!("/api/v1/organizations/{}", globex["id"]);
        let etag = admin.get(&path).await.header("etag").unwrap().to_owned();
        let renamed = admin
            .patch(&path, json!({"name": "Globex Corp"}), Some(&etag))
            .await;
        assert_eq!(renamed.status, 200, "{}", renamed.text);
        server.stop();

        let intact = audit_verify(&server.db).await;
        assert!(
            intact.status.success(),
            "{}",
            String::from_utf8_lossy(&intact.stderr)
        );
        let report = String::from_utf8_lossy(&intact.stdout).into_owned();
        assert!(report.starts_with("audit log intact: "), "{report}");

        let mut conn = server.db.connect().await;
        let (seq, after): (i64, String) = sqlx::query_as(
            "SELECT seq, after FROM audit_log \
             WHERE entity = 'organization' AND action = 'created' AND after LIKE '%Globex%'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let forged = after.replace("Globex", "Globex Evil");
        assert_ne!(forged, after);
        sqlx::query("UPDATE audit_log SET after = $1 WHERE seq = $2")
            .bind(&forged)
            .bind(seq)
            .execute(&mut conn)
            .await
            .unwrap();
        let altered = audit_verify(&server.db).await;
        assert_eq!(altered.status.code(), Some(1));
        let complaint = String::from_utf8_lossy(&altered.stderr).into_owned();
        assert!(
            complaint.contains(&format!("audit log BROKEN: entry {seq}:")),
            "{complaint}"
        );

        sqlx::query("UPDATE audit_log SET after = $1 WHERE seq = $2")
            .bind(&after)
            .bind(seq)
            .execute(&mut conn)
            .await
            .unwrap();
        let restored = audit_verify(&server.db).await;
        assert!(
            restored.status.success(),
            "{}",
            String::from_utf8_lossy(&restored.stderr)
        );

        let (last,): (i64,) = sqlx::query_as("SELECT MAX(seq) FROM audit_log")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        sqlx::query("DELETE FROM audit_log WHERE seq = $1")
            .bind(last)
            .execute(&mut conn)
            .await
            .unwrap();
        let truncated = audit_verify(&server.db).await;
        assert_eq!(truncated.status.code(), Some(1));
        let complaint = String::from_utf8_lossy(&truncated.stderr).into_owned();
        assert!(
            complaint.contains(&format!("audit log BROKEN: entry {last}:")),
            "{complaint}"
        );
    }
);

dual_backend_test!(
    the_audit_chain_written_by_the_database_verifies_for_any_text,
    |backend: Backend| async move {
        use opsdesk_domain::audit::{GENESIS_HASH, verify_chain};
        use opsdesk_store::{Batch, StoreError, audit};

        let test_db = TestDb::new(backend).await;
        let db = test_db.open().await;
        let texts = [
            None,
            Some(String::new()),
            Some("plain".to_owned()),
            Some("Grüße — 日本語 🎉 'quoted' \\ back\\slash".to_owned()),
            Some("x".repeat(70_000)),
        ];
        // Concurrent appends, so that on PostgreSQL writers on several connections chain
        // one after another.
        let writes = (0..40_i64).map(|n| {
            let before = texts[n as usize % texts.len()].clone();
            let after = texts[(n as usize / texts.len()) % texts.len()].clone();
            db.write(move |conn| {
                Box::pin(async move {
                    let mut batch = Batch::new(conn);
                    let entry = audit::NewAuditEntry {
                        at: -n * 1_000_000_007,
                        actor: "user:ü",
                        entity: "ticket",
                        entity_id: &n.to_string(),
                        action: "updated",
                        before: before.as_deref(),
                        after: after.as_deref(),
                    };
                    audit::append(conn, &mut batch, &entry).await?;
                    batch.run(conn).await?;
                    Ok::<_, StoreError>(())
                })
            })
        });
        for written in futures::future::join_all(writes).await {
            written.unwrap();
        }
        db.write(|conn| Box::pin(async move { audit::seal(conn, 30).await }))
            .await
            .unwrap();
        db.write(|conn| Box::pin(async move { audit::seal(conn, 30).await }))
            .await
            .unwrap();
        let mut conn = db.reader().await.unwrap();
        let entries = audit::list(&mut conn, 0, 1_000, None, None).await.unwrap();
        assert_eq!(entries.len(), 40);
        let head = verify_chain(GENESIS_HASH, &entries).unwrap();
        assert_eq!(audit::head(&mut conn).await.unwrap(), (40, head));
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_data_dir_refuses_a_second_server_but_not_the_cli() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = ServerProcess::start(BIN, &db.cli_args()).await;
    let data_dir = db.data_dir.display().to_string();

    let second = run_command_output(
        BIN,
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", &data_dir],
        None,
    )
    .await;
    assert!(!second.status.success(), "a second server started");
    let complaint = String::from_utf8_lossy(&second.stderr).into_owned();
    assert!(complaint.contains("already using"), "{complaint}");
    assert_eq!(
        reqwest::get(format!("{}/healthz", server.url))
            .await
            .unwrap()
            .status(),
        200,
        "the first server still answers"
    );

    let token = cli_admin(&db, "admin@example.com");
    run_command(
        BIN,
        &[
            "organization",
            "add",
            "--name",
            "Acme",
            "--data-dir",
            &data_dir,
        ],
        None,
    );
    let admin = client(&server.url, &token);
    let me = admin.get("/api/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["email"], "admin@example.com");
    let created = admin
        .post("/api/v1/organizations", json!({"name": "Globex"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let names: Vec<String> = all_items(&admin, "/api/v1/organizations", "")
        .await
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Acme", "Globex"]);
}

dual_backend_test!(
    health_readiness_and_openapi_answer,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let anonymous = server.anonymous();
        let health = anonymous.get("/healthz").await;
        assert_eq!(health.status, 200);
        assert!(health.header("x-request-id").is_some());
        assert_eq!(anonymous.get("/readyz").await.status, 200);

        let openapi = anonymous.get("/api/v1/openapi.json").await;
        assert_eq!(openapi.status, 200);
        assert_eq!(openapi.header("content-type"), Some("application/json"));
        let document: Value = serde_json::from_str(&openapi.text).expect("valid JSON");
        for path in ["/api/v1/me", "/api/v1/organizations", "/api/v1/users"] {
            assert!(
                document["paths"].get(path).is_some(),
                "{path} missing from the OpenAPI document"
            );
        }
        let paths = &document["paths"];
        assert!(paths["/api/v1/groups/{id}/members"]["get"].is_object());
        for method in ["put", "delete"] {
            assert!(
                paths["/api/v1/groups/{id}/members/{user}"][method].is_object(),
                "{method} of a group member is missing from the OpenAPI document"
            );
        }
        let printed: Value = serde_json::from_str(&run_command(BIN, &["openapi"], None)).unwrap();
        assert_eq!(
            printed, document,
            "`opsdesk openapi` prints what the server serves"
        );
    }
);

#[test]
fn logs_written_to_a_file_or_pipe_carry_no_colour_codes() {
    let folder = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(BIN)
        .args(["migrate", "--data-dir"])
        .arg(folder.path())
        .env("OPSDESK_LOG", "info")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("applied migration"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "a log read by a machine has no ANSI escapes: {log}"
    );
}

dual_backend_test!(
    a_database_from_any_earlier_release_upgrades_and_starts,
    |backend: Backend| async move {
        let store_backend = opsdesk_store::Backend::from(backend);
        let versions = opsdesk_store::migration_versions(store_backend);
        let (oldest, newest) = (versions[0], versions[versions.len() - 1]);
        for &version in &versions[..versions.len() - 1] {
            let db = TestDb::new(backend).await;
            let mut conn = db.connect().await;
            opsdesk_store::migrate_to(&mut conn, store_backend, version)
                .await
                .unwrap();
            if version == oldest {
                // A record written by the oldest schema must come through every upgrade.
                sqlx::query(
                    "INSERT INTO organizations (name, domain, created_at, updated_at) \
                     VALUES ('Initech', 'initech.example', 0, 0)",
                )
                .execute(&mut conn)
                .await
                .unwrap();
            } else {
                // Ticket numbers carry on from where the older schema left them: a counter
                // row, or on PostgreSQL from migration 23 a sequence.
                let numbered_by_sequence = backend == Backend::Postgres && version >= 23;
                sqlx::query(if numbered_by_sequence {
                    "SELECT setval('ticket_number_incident', 41)"
                } else {
                    "UPDATE ticket_counters SET last_number = 41 WHERE ticket_type = 'incident'"
                })
                .execute(&mut conn)
                .await
                .unwrap();
            }
            drop(conn);

            let server = ServerProcess::start(BIN, &db.cli_args()).await;
            let token = cli_admin(&db, "admin@example.com");
            let admin = client(&server.url, &token);
            let organizations = all_items(&admin, "/api/v1/organizations", "").await;
            if version == oldest {
                assert_eq!(organizations.len(), 1, "{organizations:?}");
                assert_eq!(organizations[0]["name"], "Initech");
            }
            let created = admin
                .post(
                    "/api/v1/tickets",
                    json!({"type": "incident", "title": "After the upgrade",
                           "impact": "low", "urgency": "low"}),
                )
                .await;
            assert_eq!(
                created.status, 201,
                "a database at migration {version} upgraded to {newest} takes writes: {}",
                created.text
            );
            if version != oldest {
                assert_eq!(
                    created.body["number"], "INC-42",
                    "after migration {version}"
                );
            }
        }
    }
);
