//! The CMDB through the API: items with lifecycle and history, kept apart by organization;
//! relations and impact that respects redundancy; agents enrolling and reporting deltas,
//! their packages searchable; twins found by serial number and merged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use opsdesk_testkit::{
    Backend, Client, TestServer, agent_report, dual_backend_test, eventually, package,
};
use serde_json::{Value, json};

async fn create(admin: &Client, body: Value) -> i64 {
    let created = admin.post("/api/v1/cis", body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.body["id"].as_i64().unwrap()
}

async fn relate(admin: &Client, source: i64, kind: &str, target: i64) {
    let related = admin
        .post(
            &format!("/api/v1/cis/{source}/relations"),
            json!({"kind": kind, "target": target}),
        )
        .await;
    assert_eq!(related.status, 201, "{}", related.text);
}

async fn put_fields(who: &Client, body: Value) -> opsdesk_testkit::Reply {
    let request = who
        .request(reqwest::Method::PUT, "/api/v1/ci-classes/laptop/fields")
        .json(&body);
    who.send(request).await
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

dual_backend_test!(
    items_keep_their_history_and_stay_in_their_organization,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        for (bad, field) in [
            (json!({"class": "toaster", "name": "x"}), "class"),
            (json!({"class": "laptop", "name": " "}), "name"),
            (
                json!({"class": "laptop", "name": "x", "macs": ["zz"]}),
                "macs[0]",
            ),
            (
                json!({"class": "laptop", "name": "x", "warranty_ends_on": "soon"}),
                "warranty_ends_on",
            ),
            (
                json!({"class": "laptop", "name": "x", "organization": "Nowhere"}),
                "organization",
            ),
        ] {
            let refused = admin.post("/api/v1/cis", bad).await;
            assert_eq!(refused.status, 422, "{}", refused.text);
            assert_eq!(
                refused.body["errors"][0]["field"], field,
                "{}",
                refused.text
            );
        }
        // Laptops have a colour and must say their memory.
        let fields = json!([{"name": "colour", "label": "Colour", "kind": "text"},
                            {"name": "ram_gb", "label": "RAM (GB)", "kind": "number",
                             "required": true}]);
        let ann = server.client(&server.token_for("ann@msp.example").await);
        assert_eq!(put_fields(&ann, fields.clone()).await.status, 403);
        let bad = put_fields(
            &admin,
            json!([{"name": "Bad Name", "label": "x", "kind": "text"}]),
        )
        .await;
        assert_eq!(bad.status, 422);
        assert_eq!(bad.body["errors"][0]["field"], "fields[0].name");
        let defined = put_fields(&admin, fields).await;
        assert_eq!(defined.status, 200, "{}", defined.text);
        for (values, field) in [
            (json!({"colour": "grey"}), "fields.ram_gb"),
            (json!({"ram_gb": 8, "shoe_size": 42}), "fields.shoe_size"),
            (json!({"ram_gb": "lots"}), "fields.ram_gb"),
        ] {
            let refused = admin
                .post(
                    "/api/v1/cis",
                    json!({"class": "laptop", "name": "x", "fields": values}),
                )
                .await;
            assert_eq!(refused.status, 422, "{}", refused.text);
            assert_eq!(
                refused.body["errors"][0]["field"], field,
                "{}",
                refused.text
            );
        }
        let laptop = create(
            &admin,
            json!({"class": "laptop", "name": "Carol's laptop", "organization": "Acme",
                   "owner": "carol@acme.example", "asset_tag": "ACME-0001",
                   "serial_number": "PF3XYZ", "macs": ["AA-BB-CC-00-11-22"],
                   "lifecycle": "ordered", "fields": {"colour": "grey", "ram_gb": 16},
                   "warranty_ends_on": "2029-03-31"}),
        )
        .await;
        let shown = admin.get(&format!("/api/v1/cis/{laptop}")).await;
        assert_eq!(shown.body["macs"], json!(["aa:bb:cc:00:11:22"]));
        assert_eq!(shown.body["owner"], "carol@acme.example");
        let etag = shown.header("etag").unwrap().to_owned();
        let taken = admin
            .post(
                "/api/v1/cis",
                json!({"class": "printer", "name": "Other", "asset_tag": "ACME-0001"}),
            )
            .await;
        assert_eq!(taken.status, 409, "{}", taken.text);

        let path = format!("/api/v1/cis/{laptop}");
        let deployed = admin
            .patch(
                &path,
                json!({"lifecycle": "deployed", "location": "Room 4"}),
                Some(&etag),
            )
            .await;
        assert_eq!(deployed.status, 200, "{}", deployed.text);
        let stale = admin
            .patch(&path, json!({"location": "Room 5"}), Some(&etag))
            .await;
        assert_eq!(stale.status, 412, "{}", stale.text);
        let retired = admin
            .patch(&path, json!({"lifecycle": "retired"}), None)
            .await;
        assert_eq!(retired.status, 200);
        let back = admin
            .patch(&path, json!({"lifecycle": "deployed"}), None)
            .await;
        assert_eq!(back.status, 422, "{}", back.text);
        assert_eq!(back.body["errors"][0]["field"], "lifecycle");
        let history = admin.get(&format!("{path}/history")).await;
        let lifecycle: Vec<(Value, Value)> = history
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["field"] == "lifecycle")
            .map(|c| (c["before"].clone(), c["after"].clone()))
            .collect();
        assert_eq!(
            lifecycle,
            [
                (json!("deployed"), json!("retired")),
                (json!("ordered"), json!("deployed")),
                (Value::Null, json!("ordered")),
            ],
            "{}",
            history.text
        );

        // A customer sees their organization's items and no other's; an agent limited to
        // Globex does not see Acme's.
        let carol = server.client(&server.token_for("carol@acme.example").await);
        let gus = server.client(&server.token_for("gus@globex.example").await);
        assert_eq!(carol.get(&path).await.status, 200);
        assert_eq!(gus.get(&path).await.status, 404);
        assert_eq!(gus.get("/api/v1/cis").await.body, json!([]));
        assert_eq!(
            gus.patch(&path, json!({"name": "mine"}), None).await.status,
            403
        );
        let organizations = admin.get("/api/v1/organizations").await;
        let globex = organizations.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "Globex")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        server
            .user("gil@msp.example", "agent", None, &[globex])
            .await;
        let gil = server.client(&server.token_for("gil@msp.example").await);
        assert_eq!(gil.get(&path).await.status, 404);
        assert_eq!(
            names(
                &admin
                    .get("/api/v1/cis?q=organization:Acme%20class:laptop")
                    .await
                    .body
            ),
            ["Carol's laptop"]
        );
        let wrong = admin.get("/api/v1/cis?q=colour:red").await;
        assert_eq!(wrong.status, 422);
        assert_eq!(wrong.body["errors"][0]["field"], "q");
        assert_eq!(admin.delete(&path).await.status, 204);
        assert_eq!(admin.get(&path).await.status, 404);
    }
);

dual_backend_test!(
    impact_follows_dependencies_and_respects_redundancy,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let switch = create(
            &admin,
            json!({"class": "network_device", "name": "core-sw1"}),
        )
        .await;
        let mut hosts = Vec::new();
        for n in 1..=3 {
            let host = create(
                &admin,
                json!({"class": "server", "name": format!("web{n}"), "organization": "Acme"}),
            )
            .await;
            hosts.push(host);
        }
        let spare = create(&admin, json!({"class": "server", "name": "web-spare"})).await;
        // web1 and web2 hang on the switch; web3 is elsewhere. The shop needs 2 of 3.
        relate(&admin, hosts[0], "connects_to", switch).await;
        relate(&admin, hosts[1], "connects_to", switch).await;
        relate(&admin, spare, "connects_to", hosts[2]).await;
        let shop = create(
            &admin,
            json!({"class": "service", "name": "Web shop", "organization": "Acme", "needed": 2}),
        )
        .await;
        for host in &hosts {
            relate(&admin, shop, "runs_on", *host).await;
        }
        let portal = create(&admin, json!({"class": "service", "name": "Portal"})).await;
        // "used_by" reads the other way: the shop is used by the portal.
        relate(&admin, shop, "used_by", portal).await;
        let contract = create(&admin, json!({"class": "contract", "name": "Support"})).await;
        relate(&admin, switch, "covered_by", contract).await;

        let impact = admin.get(&format!("/api/v1/cis/{switch}/impact")).await;
        assert_eq!(impact.status, 200, "{}", impact.text);
        // Two of three hosts gone: the shop is down, and so is the portal that uses it.
        assert_eq!(
            names(&impact.body["down"]),
            ["Portal", "Web shop", "web1", "web2"],
            "{}",
            impact.text
        );
        assert_eq!(names(&impact.body["degraded"]), Vec::<String>::new());
        assert_eq!(impact.body["down_total"], 4);
        assert_eq!(impact.body["degraded_total"], 0);
        assert_eq!(impact.body["organizations"], json!(["Acme"]));
        // Carol is Acme's one person.
        assert_eq!(impact.body["users"], 1);

        // One host down leaves the shop degraded, not down.
        let one = admin.get(&format!("/api/v1/cis/{}/impact", hosts[0])).await;
        assert_eq!(
            names(&one.body["down"]),
            Vec::<String>::new(),
            "{}",
            one.text
        );
        assert_eq!(names(&one.body["degraded"]), ["Portal", "Web shop"]);

        // A relation removed stops carrying failure, and stays in the history.
        let relations = admin
            .get(&format!("/api/v1/cis/{}/relations", hosts[1]))
            .await;
        let to_switch = relations
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == "connects_to")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let removed = admin
            .delete(&format!("/api/v1/cis/{}/relations/{to_switch}", hosts[1]))
            .await;
        assert_eq!(removed.status, 204);
        let after = admin.get(&format!("/api/v1/cis/{switch}/impact")).await;
        assert_eq!(names(&after.body["down"]), ["web1"], "{}", after.text);
        let all = admin
            .get(&format!("/api/v1/cis/{}/relations?all=true", hosts[1]))
            .await;
        assert!(all.text.contains("\"removed_by\""), "{}", all.text);
        assert!(!all.body[0]["removed_at"].is_null() || !all.body[1]["removed_at"].is_null());
        let twice = admin
            .post(
                &format!("/api/v1/cis/{shop}/relations"),
                json!({"kind": "runs_on", "target": hosts[0]}),
            )
            .await;
        assert_eq!(twice.status, 409);
        let itself = admin
            .post(
                &format!("/api/v1/cis/{shop}/relations"),
                json!({"kind": "runs_on", "target": shop}),
            )
            .await;
        assert_eq!(itself.status, 422);
    }
);

dual_backend_test!(
    agents_enrol_report_deltas_and_their_packages_are_searchable,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let ann = server.client(&server.token_for("ann@msp.example").await);
        assert_eq!(
            ann.post("/api/v1/agent-enrolments", json!({})).await.status,
            403
        );
        let made = admin
            .post("/api/v1/agent-enrolments", json!({"organization": "Acme"}))
            .await;
        assert_eq!(made.status, 201, "{}", made.text);
        let token = made.body["token"].as_str().unwrap().to_owned();
        assert!(made.body["command"].as_str().unwrap().contains(&token));

        let anonymous = server.anonymous();
        let enrolled = anonymous
            .post(
                "/api/v1/agents/enrol",
                json!({"token": token, "hostname": "db1"}),
            )
            .await;
        assert_eq!(enrolled.status, 201, "{}", enrolled.text);
        let again = anonymous
            .post(
                "/api/v1/agents/enrol",
                json!({"token": token, "hostname": "db1"}),
            )
            .await;
        assert_eq!(again.status, 401, "a token enrols once: {}", again.text);
        let ci = enrolled.body["ci"].as_i64().unwrap();
        let credential = enrolled.body["credential"].as_str().unwrap().to_owned();
        let agent = server.client(&credential);

        let hardware = json!({"vendor": "Dell Inc.", "model": "R650", "serial_number": "SRV-77",
            "smbios_uuid": "4C4C4544-0042", "cpu_model": "Xeon", "cpu_cores": 16,
            "memory_bytes": 68719476736u64, "disks": [],
            "nics": [{"name": "eno1", "mac": "52:54:00:AA:BB:01", "addresses": ["192.0.2.7/24"]}]});
        let os = json!({"name": "Debian GNU/Linux 12 (bookworm)", "version": "12",
            "kernel": "6.1.0-18-amd64", "architecture": "x86_64"});
        let packages = json!([
            package("curl", "7.88.1-10+deb12u5"),
            package("openssl", "3.0.11-1~deb12u2")
        ]);
        let updates = json!([{"name": "openssl", "current": "3.0.11-1~deb12u2",
            "candidate": "3.0.13-1~deb12u1", "security": true}]);
        let first = agent_report(
            "db1",
            &[
                ("hardware", hardware.clone()),
                ("os", os.clone()),
                ("packages", packages.clone()),
                ("updates", updates.clone()),
            ],
        );
        let unauthorised = server.client("not-a-credential");
        assert_eq!(
            unauthorised
                .post("/api/v1/agents/report", first.clone())
                .await
                .status,
            401
        );
        let taken = agent.post("/api/v1/agents/report", first.clone()).await;
        assert_eq!(taken.status, 200, "{}", taken.text);
        assert_eq!(taken.body["resend"], json!([]));

        let item = admin.get(&format!("/api/v1/cis/{ci}")).await;
        assert_eq!(item.body["organization"], "Acme");
        assert_eq!(item.body["serial_number"], "SRV-77");
        assert_eq!(item.body["smbios_uuid"], "4c4c4544-0042");
        assert_eq!(item.body["macs"], json!(["52:54:00:aa:bb:01"]));
        let vulnerable = admin
            .get("/api/v1/cis?q=package:openssl%3C3.0.13%20organization:Acme")
            .await;
        assert_eq!(names(&vulnerable.body), ["db1"], "{}", vulnerable.text);
        assert_eq!(
            admin
                .get("/api/v1/cis?q=package:openssl%3E=3.0.13")
                .await
                .body,
            json!([])
        );
        assert_eq!(
            names(&admin.get("/api/v1/cis?q=updates:security").await.body),
            ["db1"]
        );

        // The next report carries only the hashes of unchanged sections, and the packages
        // that changed: openssl upgraded, curl removed.
        let upgraded = json!([package("openssl", "3.0.13-1~deb12u1")]);
        let mut delta = agent_report("db1", &[("packages", upgraded), ("updates", json!([]))]);
        delta["hashes"]["hardware"] = first["hashes"]["hardware"].clone();
        delta["hashes"]["os"] = first["hashes"]["os"].clone();
        let taken = agent.post("/api/v1/agents/report", delta).await;
        assert_eq!(taken.body["resend"], json!([]), "{}", taken.text);
        let changes = admin
            .get(&format!("/api/v1/cis/{ci}/inventory/changes"))
            .await;
        let summaries: Vec<&str> = changes
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["summary"].as_str().unwrap())
            .collect();
        assert!(
            summaries.contains(&"openssl 3.0.11-1~deb12u2 → 3.0.13-1~deb12u1"),
            "{summaries:?}"
        );
        assert!(
            summaries.contains(&"curl 7.88.1-10+deb12u5 removed"),
            "{summaries:?}"
        );
        assert_eq!(
            admin
                .get("/api/v1/cis?q=package:openssl%3C3.0.13")
                .await
                .body,
            json!([])
        );
        assert_eq!(admin.get("/api/v1/cis?q=updates:any").await.body, json!([]));

        // A hash the server does not hold, with no section, is asked for again.
        let mut unknown = agent_report("db1", &[]);
        unknown["hashes"]["users"] = json!("0000");
        unknown["hashes"]["os"] = first["hashes"]["os"].clone();
        let asked = agent.post("/api/v1/agents/report", unknown).await;
        assert_eq!(asked.body["resend"], json!(["users"]), "{}", asked.text);

        let inventory = admin.get(&format!("/api/v1/cis/{ci}/inventory")).await;
        assert_eq!(inventory.body["os"]["kernel"], "6.1.0-18-amd64");
        assert_eq!(inventory.body["packages"][0]["name"], "openssl");
        assert!(!inventory.body["agents"][0]["last_report_at"].is_null());
        // Its reports feed a heartbeat monitor of the item.
        let monitors = admin.get("/api/v1/monitors").await;
        assert!(monitors.text.contains("Agent on db1"), "{}", monitors.text);

        // Someone had recorded the machine by hand with its serial: a suspected twin,
        // merged into the agent's item with its ticket.
        let manual = create(
            &admin,
            json!({"class": "server", "name": "Database server", "serial_number": "SRV-77",
                   "organization": "Acme", "location": "Rack 3"}),
        )
        .await;
        let incident = server
            .incident(
                "The database is slow",
                "medium",
                "high",
                "carol@acme.example",
            )
            .await;
        let linked = admin
            .send(admin.request(
                reqwest::Method::PUT,
                &format!("/api/v1/tickets/{incident}/cis/{manual}"),
            ))
            .await;
        assert_eq!(linked.status, 204, "{}", linked.text);
        let twins = admin.get("/api/v1/ci-duplicates").await;
        assert_eq!(twins.body.as_array().unwrap().len(), 1, "{}", twins.text);
        assert_eq!(twins.body[0]["reason"], "serial_number SRV-77");
        let pair = twins.body[0]["id"].as_i64().unwrap();
        let merged = admin
            .post(
                &format!("/api/v1/ci-duplicates/{pair}"),
                json!({"keep": ci}),
            )
            .await;
        assert_eq!(merged.status, 200, "{}", merged.text);
        assert_eq!(
            admin.get(&format!("/api/v1/cis/{manual}")).await.status,
            404
        );
        let about = admin.get(&format!("/api/v1/tickets/{incident}/cis")).await;
        assert_eq!(about.body[0]["ci"]["id"], ci, "{}", about.text);
        assert!(
            about
                .text
                .contains("openssl 3.0.11-1~deb12u2 → 3.0.13-1~deb12u1"),
            "the ticket shows what changed on its machine: {}",
            about.text
        );
        assert_eq!(admin.get("/api/v1/ci-duplicates").await.body, json!([]));

        // A revoked agent is refused.
        let agent_id = enrolled.body["agent"].as_i64().unwrap();
        assert_eq!(
            admin
                .delete(&format!("/api/v1/agents/{agent_id}"))
                .await
                .status,
            204
        );
        assert_eq!(
            agent
                .post("/api/v1/agents/report", agent_report("db1", &[]))
                .await
                .status,
            401
        );
    }
);

dual_backend_test!(
    staff_keep_the_cmdb_from_its_pages,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let ann = server.web_forms("ann@msp.example").await;
        let (status, _, page) = ann
            .post(
                "/cmdb",
                &[("class", "server"), ("name", "db1"), ("macs", "nonsense")],
            )
            .await;
        assert_eq!(status, 422);
        assert!(page.contains("a MAC address such as"), "{page}");
        assert!(page.contains("value=\"db1\""), "what was typed comes back");
        let (status, url, page) = ann
            .post(
                "/cmdb",
                &[
                    ("class", "server"),
                    ("name", "db1"),
                    ("organization", "Acme"),
                    ("serial_number", "SRV-9"),
                    ("lifecycle", "deployed"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let db1: i64 = url.trim_start_matches("/cmdb/").parse().unwrap();
        assert!(page.contains("SRV-9"));
        let (_, url, _) = ann
            .post(
                "/cmdb",
                &[("class", "network_device"), ("name", "core-sw1")],
            )
            .await;
        let switch = url.trim_start_matches("/cmdb/").to_owned();
        let (status, _, page) = ann
            .post(
                &format!("/cmdb/{db1}/relations"),
                &[("kind", "connects_to"), ("target", &switch)],
            )
            .await;
        assert_eq!(status, 200);
        assert!(page.contains("core-sw1"), "{page}");
        let impact = ann.page(&format!("/cmdb/{switch}/impact")).await;
        assert!(impact.contains("db1"), "{impact}");

        // A lifecycle move the lifecycle does not allow comes back with its reason.
        let (status, _, _) = ann
            .post(&format!("/cmdb/{switch}"), &[("lifecycle", "retired")])
            .await;
        assert_eq!(status, 200);
        let (status, _, page) = ann
            .post(&format!("/cmdb/{switch}"), &[("lifecycle", "deployed")])
            .await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("retired is final"), "{page}");

        // A ticket about the machine shows it; a twin recorded by hand is merged.
        let incident = server
            .incident("db1 is slow", "medium", "high", "carol@acme.example")
            .await;
        let (status, _, page) = ann
            .post(
                &format!("/tickets/{incident}/cis"),
                &[("ci", &db1.to_string())],
            )
            .await;
        assert_eq!(status, 200);
        assert!(page.contains(&format!("/cmdb/{db1}")), "{page}");
        let (status, _, page) = ann
            .post(
                "/cmdb",
                &[
                    ("class", "server"),
                    ("name", "Old record"),
                    ("serial_number", "SRV-9"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let queue = ann.page("/cmdb/duplicates").await;
        assert!(queue.contains("serial_number SRV-9"), "{queue}");
        let pair = server.admin().get("/api/v1/ci-duplicates").await.body[0]["id"]
            .as_i64()
            .unwrap();
        let (status, url, _) = ann
            .post(
                &format!("/cmdb/duplicates/{pair}"),
                &[("keep", &db1.to_string())],
            )
            .await;
        assert_eq!((status, url), (200, format!("/cmdb/{db1}")));

        // Only admins make enrolment tokens; the page shows the command once.
        let (status, _, _) = ann
            .post("/cmdb/enrolments", &[("organization", "Acme")])
            .await;
        assert_eq!(status, 403);
        let root = server.web_forms("root@msp.example").await;
        let (_, _, page) = root
            .post("/cmdb/enrolments", &[("organization", "Acme")])
            .await;
        assert!(page.contains("opsdesk agent enrol --server"), "{page}");

        // An admin gives servers a required rack; the item's form then asks for it.
        let (status, _, page) = root
            .post(
                "/cmdb/classes/server/fields",
                &[
                    ("name", "rack"),
                    ("label", "Rack"),
                    ("kind", "text"),
                    ("required", "on"),
                ],
            )
            .await;
        assert_eq!(status, 200);
        assert!(page.contains("<code>rack</code>"));
        let (status, _, _) = root
            .post(
                "/cmdb/classes/server/fields",
                &[("name", "Rack Unit"), ("label", "U"), ("kind", "text")],
            )
            .await;
        assert_eq!(status, 422);
        let (status, _, page) = ann
            .post(&format!("/cmdb/{db1}"), &[("field.rack", "")])
            .await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("field-rack-error"), "{page}");
        let (status, _, page) = ann
            .post(&format!("/cmdb/{db1}"), &[("field.rack", "R3")])
            .await;
        assert_eq!(status, 200);
        assert!(page.contains("R3"), "{page}");
    }
);

dual_backend_test!(
    impact_shows_what_monitors_already_see_failing,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let switch = create(&admin, json!({"class": "network_device", "name": "sw1"})).await;
        let host = create(&admin, json!({"class": "server", "name": "db1"})).await;
        let app = create(&admin, json!({"class": "service", "name": "Billing"})).await;
        relate(&admin, host, "connects_to", switch).await;
        relate(&admin, app, "runs_on", host).await;
        // A port nobody listens on: the host's monitor goes down.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = closed.local_addr().unwrap().to_string();
        drop(closed);
        let monitor = admin
            .post(
                "/api/v1/monitors",
                json!({"name": "db1 port", "kind": "tcp", "target": address, "interval_s": 1}),
            )
            .await;
        assert_eq!(monitor.status, 201, "{}", monitor.text);
        let monitor = monitor.body["id"].as_i64().unwrap();
        let watch = |method: reqwest::Method| {
            admin.send(admin.request(method, &format!("/api/v1/cis/{host}/monitors/{monitor}")))
        };
        assert_eq!(watch(reqwest::Method::PUT).await.status, 204);
        let down = eventually(Duration::from_secs(30), || async {
            admin.get(&format!("/api/v1/monitors/{monitor}")).await.body["status"] == "down"
        })
        .await;
        assert!(down, "the monitor of a closed port goes down");
        let impact = admin.get(&format!("/api/v1/cis/{switch}/impact")).await;
        let failing: Vec<(String, bool)> = impact.body["down"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["name"].as_str().unwrap().to_owned(),
                    i["already_failing"] == true,
                )
            })
            .collect();
        assert!(
            failing.contains(&("db1".to_owned(), true)),
            "{}",
            impact.text
        );
        // What runs on a host already down is already failing too.
        assert!(
            failing.contains(&("Billing".to_owned(), true)),
            "{}",
            impact.text
        );
        assert_eq!(admin.get(&format!("/api/v1/cis/{host}")).await.status, 200);
        assert_eq!(watch(reqwest::Method::DELETE).await.status, 204);
        assert_eq!(watch(reqwest::Method::DELETE).await.status, 404);
        let after = admin.get(&format!("/api/v1/cis/{switch}/impact")).await;
        assert!(
            !after.text.contains("\"already_failing\":true"),
            "{}",
            after.text
        );
    }
);

dual_backend_test!(
    a_stocktake_checks_off_scanned_labels_and_lists_what_is_missing,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let since = "2020-01-01T00:00:00Z";
        let printer = create(
            &admin,
            json!({"class": "printer", "name": "Printer 4", "asset_tag": "A-100",
                   "location": "Room 4"}),
        )
        .await;
        create(
            &admin,
            json!({"class": "laptop", "name": "Spare laptop", "asset_tag": "A-101",
                   "location": "Room 4"}),
        )
        .await;
        let stray = create(
            &admin,
            json!({"class": "server", "name": "Old NAS", "location": "Basement"}),
        )
        .await;
        let scan = |code: String| {
            admin.post(
                "/api/v1/stocktake/scans",
                json!({"location": "Room 4", "code": code}),
            )
        };
        let found = scan("A-100".to_owned()).await;
        assert_eq!(found.status, 200, "{}", found.text);
        assert_eq!(found.body["ci"]["id"], printer);
        assert!(found.body["moved_from"].is_null());
        // An item without a tag scans by its number; it was recorded elsewhere and moves.
        let moved = scan(format!("CI-{stray}")).await;
        assert_eq!(moved.body["moved_from"], "Basement", "{}", moved.text);
        assert_eq!(
            admin.get(&format!("/api/v1/cis/{stray}")).await.body["location"],
            "Room 4"
        );
        let unknown = scan("NOPE".to_owned()).await;
        assert_eq!(unknown.status, 422);
        assert_eq!(unknown.body["errors"][0]["field"], "code");
        let state = admin
            .get(&format!(
                "/api/v1/stocktake?location=Room%204&since={since}"
            ))
            .await;
        assert_eq!(state.status, 200, "{}", state.text);
        assert_eq!(names(&state.body["missing"]), ["Spare laptop"]);
        let found: Vec<&str> = state.body["found"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["ci"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(found.len(), 2, "{found:?}");

        // Labels: a QR code per item, as SVG, on a printable sheet.
        let (web, _) = server.web_session("ann@msp.example").await;
        let svg = web
            .get(format!("{}/cmdb/{printer}/label.svg", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(svg.headers()["content-type"], "image/svg+xml");
        assert!(svg.text().await.unwrap().contains("<svg"));
        let sheet = web
            .get(format!("{}/cmdb/labels?q=class:printer", server.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            sheet.contains(&format!("/cmdb/{printer}/label.svg")),
            "{sheet}"
        );
        assert!(sheet.contains("A-100"));
        let page = web
            .get(format!(
                "{}/cmdb/stocktake?location=Room%204&since=0",
                server.url
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("Spare laptop") && page.contains("Printer 4"),
            "{page}"
        );
    }
);
