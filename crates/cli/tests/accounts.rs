//! Accounts, organizations and tokens through the HTTP API, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, TestServer, dual_backend_test};
use serde_json::json;

dual_backend_test!(
    admin_manages_organizations_and_users,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();

        let me = admin.get("/api/v1/me").await;
        assert_eq!(me.status, 200);
        assert_eq!(me.body["email"], "admin@example.com");
        assert_eq!(me.body["role"], "admin");

        let acme = admin
            .post(
                "/api/v1/organizations",
                json!({"name": "Acme", "domain": "acme.example"}),
            )
            .await;
        assert_eq!(acme.status, 201, "{}", acme.text);
        let acme_id = acme.body["id"].as_i64().unwrap();

        let duplicate = admin
            .post("/api/v1/organizations", json!({"name": "ACME"}))
            .await;
        assert_eq!(duplicate.status, 409, "{}", duplicate.text);
        assert_eq!(
            duplicate.header("content-type"),
            Some("application/problem+json")
        );

        let customer = admin
        .post(
            "/api/v1/users",
            json!({"email": "Carol@Acme.example", "name": "Carol", "role": "customer", "organization": "Acme"}),
        )
        .await;
        assert_eq!(customer.status, 201, "{}", customer.text);
        assert_eq!(customer.body["email"], "carol@acme.example");
        assert_eq!(customer.body["organization"], "Acme");
        assert_eq!(customer.body["organization_id"], acme_id);
        assert!(customer.body.get("password_hash").is_none());

        let orphan = admin
            .post(
                "/api/v1/users",
                json!({"email": "x@y.example", "name": "X", "role": "customer"}),
            )
            .await;
        assert_eq!(orphan.status, 422);
        assert_eq!(orphan.body["errors"][0]["field"], "organization");

        let fetched = admin.get(&format!("/api/v1/organizations/{acme_id}")).await;
        let etag = fetched.header("etag").unwrap().to_owned();
        let renamed = admin
            .patch(
                &format!("/api/v1/organizations/{acme_id}"),
                json!({"name": "Acme Ltd"}),
                Some(&etag),
            )
            .await;
        assert_eq!(renamed.status, 200, "{}", renamed.text);
        assert_eq!(renamed.body["name"], "Acme Ltd");
        assert_ne!(renamed.header("etag"), Some(etag.as_str()));

        let stale = admin
            .patch(
                &format!("/api/v1/organizations/{acme_id}"),
                json!({"name": "Lost Update"}),
                Some(&etag),
            )
            .await;
        assert_eq!(stale.status, 412, "{}", stale.text);
        let current = admin.get(&format!("/api/v1/organizations/{acme_id}")).await;
        assert_eq!(
            current.body["name"], "Acme Ltd",
            "a stale write must overwrite nothing"
        );
        let current_etag = current.header("etag").unwrap().to_owned();

        // Strong comparison: a weak tag never satisfies If-Match, even for the current version.
        let weak = admin
            .patch(
                &format!("/api/v1/organizations/{acme_id}"),
                json!({"name": "Weakly Matched"}),
                Some(&format!("W/{current_etag}")),
            )
            .await;
        assert_eq!(weak.status, 412, "{}", weak.text);

        // A list matches when any of its tags does.
        let listed = admin
            .patch(
                &format!("/api/v1/organizations/{acme_id}"),
                json!({"name": "Acme Group"}),
                Some(&format!("{etag}, {current_etag}")),
            )
            .await;
        assert_eq!(listed.status, 200, "{}", listed.text);

        // `*` matches whatever version is current.
        let any = admin
            .patch(
                &format!("/api/v1/organizations/{acme_id}"),
                json!({"name": "Acme Holdings"}),
                Some("*"),
            )
            .await;
        assert_eq!(any.status, 200, "{}", any.text);
        assert_eq!(any.body["name"], "Acme Holdings");

        // ... but there must be a record to match.
        let missing = admin
            .patch(
                "/api/v1/organizations/999999",
                json!({"name": "Nobody"}),
                Some("*"),
            )
            .await;
        assert_eq!(missing.status, 404, "{}", missing.text);
    }
);

dual_backend_test!(lists_paginate_with_cursors, |backend: Backend| async move {
    let server = TestServer::start(backend).await;
    for n in 0..7 {
        server.organization(&format!("Client {n}")).await;
    }
    let admin = server.admin();
    let mut seen = Vec::new();
    let mut path = "/api/v1/organizations?limit=3".to_owned();
    loop {
        let page = admin.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.text);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/organizations?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).map(|n| format!("Client {n}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(admin.get("/api/v1/organizations?limit=0").await.status, 422);
    assert_eq!(
        admin.get("/api/v1/organizations?cursor=abc").await.status,
        422
    );
});

dual_backend_test!(
    customers_and_limited_agents_see_only_their_organizations,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let acme = server.organization("Acme").await;
        let globex = server.organization("Globex").await;
        let carol = server.client(
            &server
                .user("carol@acme.example", "customer", Some(acme), &[])
                .await,
        );
        let agent = server.client(&server.user("ann@msp.example", "agent", None, &[acme]).await);

        assert_eq!(
            carol
                .get(&format!("/api/v1/organizations/{acme}"))
                .await
                .status,
            200
        );
        let other = carol.get(&format!("/api/v1/organizations/{globex}")).await;
        assert_eq!(
            other.status, 404,
            "another organization must look absent, not forbidden"
        );
        let listed = carol.get("/api/v1/organizations").await;
        assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(carol.get("/api/v1/users").await.status, 403);
        assert_eq!(
            carol
                .post("/api/v1/organizations", json!({"name": "Mine"}))
                .await
                .status,
            403
        );

        assert_eq!(
            agent
                .get(&format!("/api/v1/organizations/{globex}"))
                .await
                .status,
            404
        );
        let users = agent.get("/api/v1/users").await;
        let emails: Vec<&str> = users.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        assert_eq!(emails, vec!["carol@acme.example"]);
    }
);

dual_backend_test!(
    tokens_are_shown_once_and_revocable,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        let created = admin
            .post("/api/v1/tokens", json!({"name": "backup script"}))
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let secret = created.body["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("odk_"));
        let id = created.body["id"].as_i64().unwrap();

        let script = server.client(&secret);
        assert_eq!(script.get("/api/v1/me").await.status, 200);
        let listed = admin.get("/api/v1/tokens").await;
        let token = listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone();
        assert!(
            token.get("secret").is_none(),
            "a token's secret is never shown again"
        );
        assert!(
            token["last_used_at"].is_string(),
            "use is recorded: {token}"
        );

        assert_eq!(
            admin.delete(&format!("/api/v1/tokens/{id}")).await.status,
            200
        );
        let revoked = script.get("/api/v1/me").await;
        assert_eq!(revoked.status, 401);
        assert_eq!(
            revoked.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(
            server
                .client("odk_not-a-token")
                .get("/api/v1/me")
                .await
                .status,
            401
        );
        assert_eq!(server.anonymous().get("/api/v1/me").await.status, 401);
    }
);

dual_backend_test!(
    sessions_need_csrf_and_wrong_passwords_lock_out,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        server.user("ann@msp.example", "agent", None, &[]).await;
        let browser = server.anonymous();
        let login = browser
            .post(
                "/api/v1/session",
                json!({"email": "ann@msp.example", "password": "correct horse battery staple"}),
            )
            .await;
        assert_eq!(login.status, 200, "{}", login.text);
        let cookie = login.header("set-cookie").unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        let csrf = login.body["csrf_token"].as_str().unwrap().to_owned();

        assert_eq!(browser.get("/api/v1/me").await.status, 200);
        let without_csrf = browser.post("/api/v1/tokens", json!({"name": "x"})).await;
        assert_eq!(without_csrf.status, 403, "{}", without_csrf.text);
        let with_csrf = browser
            .send(
                browser
                    .request(reqwest::Method::POST, "/api/v1/tokens")
                    .header("x-csrf-token", csrf)
                    .json(&json!({"name": "x"})),
            )
            .await;
        assert_eq!(with_csrf.status, 201, "{}", with_csrf.text);

        let attacker = server.anonymous();
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let attempt = attacker
                .post(
                    "/api/v1/session",
                    json!({"email": "ann@msp.example", "password": "wrong password!"}),
                )
                .await;
            statuses.push(attempt.status);
        }
        assert_eq!(&statuses[..5], &[401; 5]);
        assert_eq!(
            statuses[5], 429,
            "the account locks after five wrong passwords"
        );
        let right_but_locked = attacker
            .post(
                "/api/v1/session",
                json!({"email": "ann@msp.example", "password": "correct horse battery staple"}),
            )
            .await;
        assert_eq!(right_but_locked.status, 429);
        assert!(right_but_locked.header("retry-after").is_some());
    }
);
