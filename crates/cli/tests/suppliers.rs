//! Vendors with contacts, contracts covering items with renewal reminders, licences
//! counting installs against purchases, and tickets waiting on a vendor's answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use jiff::SignedDuration;
use opsdesk_testkit::{Backend, Client, TestServer, agent_report, dual_backend_test, package};
use serde_json::{Value, json};

async fn created(who: &Client, path: &str, body: Value) -> Value {
    let reply = who.post(path, body).await;
    assert_eq!(reply.status, 201, "{path}: {}", reply.text);
    reply.body
}

fn refused_field(reply: &opsdesk_testkit::Reply) -> String {
    assert_eq!(reply.status, 422, "{}", reply.text);
    reply.body["errors"][0]["field"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

fn on_clock(at: &str) -> opsdesk_app::ManualClock {
    opsdesk_app::ManualClock::starting_at(at.parse().unwrap())
}

dual_backend_test!(
    vendors_keep_contacts_and_contracts_cover_items_of_their_organization,
    |backend: Backend| async move {
        let clock = on_clock("2026-03-02T10:00:00Z");
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let carol = server.client(&server.token_for("carol@acme.example").await);
        let gus = server.client(&server.token_for("gus@globex.example").await);

        for (bad, field) in [
            (json!({"name": " "}), "name"),
            (
                json!({"name": "Dell", "response_hours": 0}),
                "response_hours",
            ),
            (
                json!({"name": "Dell", "contacts": [{"name": ""}]}),
                "contacts[0].name",
            ),
        ] {
            assert_eq!(
                refused_field(&ann.post("/api/v1/vendors", bad).await),
                field
            );
        }
        let dell = created(
            &ann,
            "/api/v1/vendors",
            json!({"name": "Dell", "support_phone": "+1 800 624 9896", "response_hours": 24,
                   "contacts": [{"name": "Dana Reed", "role": "Account manager",
                                 "email": "dana@dell.example"}]}),
        )
        .await;
        let dell_id = dell["id"].as_i64().unwrap();
        assert_eq!(dell["contacts"][0]["role"], "Account manager");
        let twin = ann.post("/api/v1/vendors", json!({"name": "Dell"})).await;
        assert_eq!(twin.status, 409, "{}", twin.text);
        assert_eq!(carol.get("/api/v1/vendors").await.status, 403);
        let stale = ann
            .patch(
                &format!("/api/v1/vendors/{dell_id}"),
                json!({"notes": "x"}),
                Some("\"99\""),
            )
            .await;
        assert_eq!(stale.status, 412, "{}", stale.text);
        let changed = ann
            .patch(
                &format!("/api/v1/vendors/{dell_id}"),
                json!({"contacts": [{"name": "Sam Lee", "role": "Support"}]}),
                None,
            )
            .await;
        assert_eq!(changed.status, 200, "{}", changed.text);
        assert_eq!(
            changed.body["contacts"],
            json!([{"name": "Sam Lee", "role": "Support",
                                                    "email": "", "phone": ""}])
        );

        let laptop = created(
            &admin,
            "/api/v1/cis",
            json!({"class": "laptop", "name": "lt-7", "organization": "Acme"}),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        let server_ci = created(
            &admin,
            "/api/v1/cis",
            json!({"class": "server", "name": "db1", "organization": "Acme"}),
        )
        .await["id"]
            .as_i64()
            .unwrap();

        // Mistakes in the terms leave no contract item behind.
        for (bad, field) in [
            (json!({"name": "x", "kind": "gold"}), "kind"),
            (
                json!({"name": "x", "kind": "support", "starts_on": "2026-05-01",
                       "ends_on": "2026-04-30"}),
                "ends_on",
            ),
            (
                json!({"name": "x", "kind": "support", "notice_days": -1}),
                "notice_days",
            ),
            (
                json!({"name": "x", "kind": "support", "vendor": 999_999}),
                "vendor",
            ),
            (
                json!({"name": "x", "kind": "support", "covers": [999_999]}),
                "covers[0]",
            ),
        ] {
            assert_eq!(
                refused_field(&ann.post("/api/v1/contracts", bad).await),
                field
            );
        }
        assert_eq!(
            admin.get("/api/v1/cis?q=class:contract").await.body,
            json!([])
        );

        let contract = created(
            &ann,
            "/api/v1/contracts",
            json!({"name": "ProSupport Acme", "kind": "support", "vendor": dell_id,
                   "organization": "Acme", "reference": "PS-1234",
                   "starts_on": "2026-01-01", "ends_on": "2026-12-31", "notice_days": 60,
                   "response_hours": 4, "covers": [laptop]}),
        )
        .await;
        let contract_id = contract["item"]["id"].as_i64().unwrap();
        assert_eq!(contract["item"]["class"], "contract");
        assert_eq!(contract["vendor"]["name"], "Dell");
        assert_eq!(contract["status"], "active");
        assert_eq!(contract["renew_by"], "2026-11-01");
        assert_eq!(ids(&contract["covers"]), [laptop]);
        let history = admin.get(&format!("/api/v1/cis/{laptop}/history")).await;
        assert!(
            history.text.contains("covered_by ProSupport Acme"),
            "{}",
            history.text
        );

        // `covers` replaces the list: the laptop stops being covered, the server starts.
        let moved = ann
            .patch(
                &format!("/api/v1/contracts/{contract_id}"),
                json!({"covers": [server_ci], "ends_on": "2027-01-31"}),
                None,
            )
            .await;
        assert_eq!(moved.status, 200, "{}", moved.text);
        assert_eq!(ids(&moved.body["covers"]), [server_ci]);
        assert_eq!(moved.body["renew_by"], "2026-12-02");
        let relations = admin
            .get(&format!("/api/v1/cis/{laptop}/relations?all=true"))
            .await;
        assert!(
            relations.body[0]["removed_at"].is_string(),
            "{}",
            relations.text
        );
        assert_eq!(
            refused_field(
                &ann.patch(
                    &format!("/api/v1/contracts/{contract_id}"),
                    json!({"purchased": 3}),
                    None
                )
                .await
            ),
            "purchased"
        );
        // A laptop is no contract.
        assert_eq!(
            admin
                .get(&format!("/api/v1/contracts/{laptop}"))
                .await
                .status,
            404
        );

        // Acme's customer sees Acme's contract; Globex's does not.
        assert_eq!(
            carol
                .get(&format!("/api/v1/contracts/{contract_id}"))
                .await
                .status,
            200
        );
        assert_eq!(
            gus.get(&format!("/api/v1/contracts/{contract_id}"))
                .await
                .status,
            404
        );
        assert_eq!(gus.get("/api/v1/contracts").await.body, json!([]));
        assert_eq!(
            ids(&json!(
                carol
                    .get("/api/v1/contracts")
                    .await
                    .body
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["item"].clone())
                    .collect::<Vec<_>>()
            )),
            [contract_id]
        );

        // Deleting the vendor keeps the contract, without a vendor.
        assert_eq!(
            ann.delete(&format!("/api/v1/vendors/{dell_id}"))
                .await
                .status,
            403
        );
        assert_eq!(
            admin
                .delete(&format!("/api/v1/vendors/{dell_id}"))
                .await
                .status,
            204
        );
        let kept = admin.get(&format!("/api/v1/contracts/{contract_id}")).await;
        assert_eq!(kept.body["vendor"], Value::Null);
        assert_eq!(kept.body["reference"], "PS-1234");
    }
);

dual_backend_test!(
    a_licence_counts_installs_from_agents_or_assignments_against_purchases,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let zoom = created(
            &ann,
            "/api/v1/licences",
            json!({"name": "Zoom Workplace", "model": "per_device", "purchased": 1,
                   "package": "zoom", "organization": "Acme"}),
        )
        .await;
        let zoom_id = zoom["item"]["id"].as_i64().unwrap();
        assert_eq!(
            (zoom["installed"].clone(), zoom["available"].clone()),
            (json!(0), json!(1))
        );
        // Two Acme machines and one of Globex report zoom installed.
        for (organization, host) in [("Acme", "lt-1"), ("Acme", "lt-2"), ("Globex", "lt-9")] {
            let (_, agent) = server.enrolled_agent(organization, host).await;
            let report = agent_report(
                host,
                &[(
                    "packages",
                    json!([package("zoom", "6.1.0"), package("curl", "7.88")]),
                )],
            );
            let taken = agent.post("/api/v1/agents/report", report).await;
            assert_eq!(taken.status, 200, "{}", taken.text);
        }
        let counted = ann.get(&format!("/api/v1/licences/{zoom_id}")).await;
        assert_eq!(counted.body["installed"], 2, "{}", counted.text);
        assert_eq!(counted.body["over"], 1);
        assert_eq!(counted.body["compliant"], false);
        // Buying two more makes it right.
        let bought = ann
            .patch(
                &format!("/api/v1/licences/{zoom_id}"),
                json!({"purchased": 3}),
                None,
            )
            .await;
        assert_eq!(bought.status, 200, "{}", bought.text);
        assert_eq!(
            (
                bought.body["available"].clone(),
                bought.body["compliant"].clone()
            ),
            (json!(1), json!(true))
        );

        // Without a package, the items assigned to it by `covered_by` count.
        let office = created(
            &ann,
            "/api/v1/licences",
            json!({"name": "Office", "model": "per_seat", "purchased": 1}),
        )
        .await["item"]["id"]
            .as_i64()
            .unwrap();
        for name in ["ws-1", "ws-2"] {
            let item = created(
                &ann,
                "/api/v1/cis",
                json!({"class": "laptop", "name": name}),
            )
            .await["id"]
                .as_i64()
                .unwrap();
            let related = ann
                .post(
                    &format!("/api/v1/cis/{item}/relations"),
                    json!({"kind": "covered_by", "target": office}),
                )
                .await;
            assert_eq!(related.status, 201, "{}", related.text);
        }
        let seats = ann.get(&format!("/api/v1/licences/{office}")).await;
        assert_eq!(
            (seats.body["installed"].clone(), seats.body["over"].clone()),
            (json!(2), json!(1))
        );
        let site = ann
            .patch(
                &format!("/api/v1/licences/{office}"),
                json!({"kind": "site"}),
                None,
            )
            .await;
        assert_eq!(site.status, 200, "{}", site.text);
        assert_eq!(site.body["compliant"], true);
        assert_eq!(site.body["available"], Value::Null);
        assert_eq!(
            refused_field(
                &ann.post("/api/v1/licences", json!({"name": "x", "model": "per_cpu"}))
                    .await
            ),
            "model"
        );
        let listed = ann.get("/api/v1/licences").await;
        let names: Vec<&str> = listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["item"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Office", "Zoom Workplace"]);
    }
);

dual_backend_test!(
    a_renewal_task_opens_once_when_the_notice_period_begins,
    |backend: Backend| async move {
        let clock = on_clock("2026-03-02T10:00:00Z");
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let contract = created(
            &ann,
            "/api/v1/contracts",
            json!({"name": "Copier lease", "kind": "lease", "owner": "ann@msp.example",
                   "ends_on": "2026-04-30", "notice_days": 30}),
        )
        .await;
        let id = contract["item"]["id"].as_i64().unwrap();
        let renewals = || async {
            let found = server.admin().get("/api/v1/tickets?q=tag:renewal").await;
            assert_eq!(found.status, 200, "{}", found.text);
            found.body["items"].as_array().cloned().unwrap_or_default()
        };
        server.app.housekeeping().await.unwrap();
        assert!(renewals().await.is_empty(), "not before the notice period");

        clock.advance(SignedDuration::from_hours(24 * 30));
        let due = ann.get(&format!("/api/v1/contracts/{id}")).await;
        assert_eq!(due.body["status"], "renewal_due");
        server.app.housekeeping().await.unwrap();
        server.app.housekeeping().await.unwrap();
        let opened = renewals().await;
        assert_eq!(opened.len(), 1, "once per end date: {opened:?}");
        assert_eq!(
            opened[0]["title"],
            "Renew contract: Copier lease (ends 2026-04-30)"
        );
        assert_eq!(opened[0]["assignee"]["email"], "ann@msp.example");

        // Renewed for a year: the next reminder waits for the next notice period.
        let renewed = ann
            .patch(
                &format!("/api/v1/contracts/{id}"),
                json!({"ends_on": "2027-04-30"}),
                None,
            )
            .await;
        assert_eq!(renewed.body["status"], "active", "{}", renewed.text);
        server.app.housekeeping().await.unwrap();
        assert_eq!(renewals().await.len(), 1);
        clock.advance(SignedDuration::from_hours(24 * 365));
        server.app.housekeeping().await.unwrap();
        assert_eq!(renewals().await.len(), 2);
    }
);

dual_backend_test!(
    a_ticket_waiting_on_a_vendor_shows_when_their_answer_is_due,
    |backend: Backend| async move {
        let clock = on_clock("2026-03-02T10:00:00Z");
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let carol = server.client(&server.token_for("carol@acme.example").await);
        let hp = created(
            &ann,
            "/api/v1/vendors",
            json!({"name": "HP", "response_hours": 24}),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        let number = server
            .incident("Printer jams", "low", "low", "carol@acme.example")
            .await;
        let path = format!("/api/v1/tickets/{number}/vendor-wait");
        assert_eq!(ann.get(&path).await.status, 404);
        let wait = |body: Value| {
            let request = ann.request(reqwest::Method::PUT, &path).json(&body);
            ann.send(request)
        };
        let refused = wait(json!({"vendor": 999_999})).await;
        assert_eq!(refused_field(&refused), "vendor");
        let started = wait(json!({"vendor": hp, "reference": "HP-55"})).await;
        assert_eq!(started.status, 200, "{}", started.text);
        assert_eq!(started.body["due_at"], "2026-03-03T10:00:00Z");
        assert_eq!(started.body["overdue"], false);

        // A contract covering the ticket's printer promises four hours.
        let printer = created(
            &ann,
            "/api/v1/cis",
            json!({"class": "printer", "name": "pr-3", "organization": "Acme"}),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        created(
            &ann,
            "/api/v1/contracts",
            json!({"name": "HP Care Pack", "kind": "support", "vendor": hp,
                   "response_hours": 4, "covers": [printer]}),
        )
        .await;
        let linked = ann
            .send(ann.request(
                reqwest::Method::PUT,
                &format!("/api/v1/tickets/{number}/cis/{printer}"),
            ))
            .await;
        assert!(linked.status < 300, "{}", linked.text);
        let restarted = wait(json!({"vendor": hp, "reference": "HP-55"})).await;
        assert_eq!(
            restarted.body["due_at"], "2026-03-02T14:00:00Z",
            "{}",
            restarted.text
        );

        clock.advance(SignedDuration::from_hours(5));
        let late = ann.get(&path).await;
        assert_eq!(late.body["overdue"], true, "{}", late.text);
        assert_eq!(carol.get(&path).await.status, 403);
        let page = server.web_forms("ann@msp.example").await;
        let ticket_page = page.page(&format!("/tickets/{number}")).await;
        assert!(ticket_page.contains("HP-55"), "{ticket_page}");
        assert!(
            ticket_page.contains("Their answer was due"),
            "{ticket_page}"
        );
        let (status, _, _) = page
            .post(&format!("/tickets/{number}/vendor-wait/end"), &[])
            .await;
        assert_eq!(status, 200);
        assert_eq!(ann.get(&path).await.status, 404);
        assert_eq!(ann.delete(&path).await.status, 404);
    }
);

dual_backend_test!(
    vendors_contracts_and_licences_are_kept_from_their_pages,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let ann = server.web_forms("ann@msp.example").await;
        let (status, _, page) = ann
            .post(
                "/cmdb/vendors",
                &[("name", "Lenovo"), ("response_hours", "soon")],
            )
            .await;
        assert_eq!(status, 422);
        assert!(page.contains("a whole number"), "{page}");
        let (status, vendor_path, _) = ann
            .post(
                "/cmdb/vendors",
                &[
                    ("name", "Lenovo"),
                    ("support_email", "support@lenovo.example"),
                ],
            )
            .await;
        assert_eq!(status, 200);
        let (status, _, page) = ann
            .post(
                &format!("{vendor_path}/contacts"),
                &[("contact_name", "Kim Park"), ("contact_role", "Support")],
            )
            .await;
        assert_eq!(status, 200);
        assert!(page.contains("Kim Park"), "{page}");
        let vendor = vendor_path.rsplit('/').next().unwrap().to_owned();

        let (status, _, page) = ann
            .post(
                "/cmdb/contracts",
                &[
                    ("name", "Warranty"),
                    ("kind", "warranty"),
                    ("starts_on", "2027-01-01"),
                    ("ends_on", "2026-01-01"),
                ],
            )
            .await;
        assert_eq!(status, 422);
        assert!(page.contains("must not be before starts_on"), "{page}");
        let (status, contract_path, page) = ann
            .post(
                "/cmdb/contracts",
                &[
                    ("name", "ThinkPad warranty"),
                    ("kind", "warranty"),
                    ("vendor", &vendor),
                    ("ends_on", "2029-06-30"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(
            contract_path.starts_with("/cmdb/contracts/"),
            "{contract_path}"
        );
        assert!(
            page.contains("2029-05-31"),
            "renew by, 30 days before: {page}"
        );
        let list = ann.page("/cmdb/contracts").await;
        assert!(
            list.contains("ThinkPad warranty") && list.contains("Lenovo"),
            "{list}"
        );

        let (status, licence_path, page) = ann
            .post(
                "/cmdb/licences",
                &[
                    ("name", "Windows 11 Pro"),
                    ("kind", "per_device"),
                    ("purchased", "25"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let (status, _, page) = ann
            .post(
                &licence_path,
                &[
                    ("kind", "per_device"),
                    ("purchased", "-4"),
                    ("reference", ""),
                ],
            )
            .await;
        assert_eq!(status, 422);
        assert!(page.contains("from 0 to"), "{page}");
        let list = ann.page("/cmdb/licences").await;
        assert!(
            list.contains("Windows 11 Pro") && list.contains("25 free"),
            "{list}"
        );
    }
);
