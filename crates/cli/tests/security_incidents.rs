//! Security incidents through the API and the web, on SQLite and PostgreSQL: seen only by
//! admins and the members of their restricted group on every route, evidence whose every
//! access is on record with its hash checked, and the runbook checklist's rules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, Client, TestServer, dual_backend_test};
use serde_json::{Value, json};

/// The service desk plus a "Security" group whose only member is the agent sam@; returns
/// sam's client.
async fn with_security_team(server: &TestServer) -> Client {
    let sam = server.user("sam@msp.example", "agent", None, &[]).await;
    let group = server
        .admin()
        .post(
            "/api/v1/groups",
            json!({"name": "Security", "tier": 2, "members": ["sam@msp.example"]}),
        )
        .await;
    assert_eq!(group.status, 201, "{}", group.text);
    server.client(&sam)
}

async fn open_incident(sam: &Client, title: &str) -> Value {
    let created = sam
        .post(
            "/api/v1/security-incidents",
            json!({"title": title, "description": "Files renamed to .locked on FS01",
                   "severity": "critical", "group": "Security",
                   "affected_accounts": ["carol@acme.example", "svc-backup"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.body
}

async fn upload(client: &Client, number: &str, body: &'static [u8]) -> opsdesk_testkit::Reply {
    let request = client
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/tickets/{number}/attachments?filename=fs01-memory.txt"),
        )
        .header("content-type", "text/plain")
        .body(body);
    client.send(request).await
}

fn numbers(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap().to_owned())
        .collect()
}

dual_backend_test!(
    only_admins_and_the_restricted_group_see_a_security_incident,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let sam = with_security_team(&server).await;
        let admin = server.admin();
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let carol = server.client(&server.token_for("carol@acme.example").await);

        let incident = open_incident(&sam, "Ransomware on FS01").await;
        let number = incident["ticket"]["number"].as_str().unwrap().to_owned();
        assert!(number.starts_with("SEC-"), "{number}");
        assert_eq!(incident["severity"], "critical");
        assert_eq!(incident["ticket"]["priority"], "P1");
        assert_eq!(incident["restricted_group"]["name"], "Security");
        assert_eq!(incident["next_item"], "containment.isolate_systems");
        let accounts = incident["affected_accounts"].as_array().unwrap();
        assert_eq!(accounts.len(), 2);
        assert!(accounts[0]["user_id"].is_i64(), "a desk user is linked");
        assert!(accounts[1]["user_id"].is_null());
        let file = upload(&sam, &number, b"memory image").await;
        assert_eq!(file.status, 201, "{}", file.text);
        let file_id = file.body["id"].as_i64().unwrap();
        let ordinary = server
            .incident("Printer jam", "low", "low", "carol@acme.example")
            .await;

        // Members and admins see it everywhere.
        for client in [&sam, &admin] {
            let got = client
                .get(&format!("/api/v1/security-incidents/{number}"))
                .await;
            assert_eq!(got.status, 200, "{}", got.text);
            let found = client.get("/api/v1/tickets?q=Ransomware").await;
            assert_eq!(
                numbers(&found.body),
                std::slice::from_ref(&number),
                "{}",
                found.text
            );
            let listed = client.get("/api/v1/security-incidents").await;
            assert_eq!(
                numbers(&listed.body),
                std::slice::from_ref(&number),
                "{}",
                listed.text
            );
        }

        // An agent outside the group and a customer (one of the affected accounts) get
        // nothing: no ticket, no hit, no count, no file, no history.
        for client in [&ann, &carol] {
            for path in [
                format!("/api/v1/security-incidents/{number}"),
                format!("/api/v1/security-incidents/{number}/custody"),
                format!("/api/v1/tickets/{number}"),
                format!("/api/v1/tickets/{number}/timeline"),
                format!("/api/v1/tickets/{number}/attachments"),
                format!("/api/v1/attachments/{file_id}"),
            ] {
                let hidden = client.get(&path).await;
                assert!(
                    hidden.status == 404 || (hidden.status == 403 && path.ends_with("custody")),
                    "{path}: {} {}",
                    hidden.status,
                    hidden.text
                );
                assert!(
                    !hidden.text.contains("Ransomware"),
                    "{path}: {}",
                    hidden.text
                );
            }
            for query in [
                "Ransomware",
                "FS01",
                "",
                "type:security_incident",
                "priority:P1",
            ] {
                let found = client
                    .get(&format!("/api/v1/tickets?q={query}&limit=500"))
                    .await;
                assert_eq!(found.status, 200, "{}", found.text);
                assert!(
                    !numbers(&found.body).contains(&number),
                    "{query}: {}",
                    found.text
                );
                assert!(!found.text.contains("Ransomware"), "{query}");
            }
            let commented = client
                .post(
                    &format!("/api/v1/tickets/{number}/comments"),
                    json!({"body": "anything?", "public": true}),
                )
                .await;
            assert_eq!(commented.status, 404, "{}", commented.text);
        }
        let listed = ann.get("/api/v1/security-incidents").await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert!(numbers(&listed.body).is_empty(), "{}", listed.text);
        assert!(
            numbers(&ann.get("/api/v1/tickets?limit=500").await.body).contains(&ordinary),
            "the agent still sees ordinary tickets"
        );

        // The web pages follow the same rule.
        let (ann_web, _) = server.web_session("ann@msp.example").await;
        let page = ann_web
            .get(format!("{}/tickets/{number}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 404);
        let list = ann_web
            .get(format!("{}/tickets?q=Ransomware", server.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !list.contains("Ransomware on FS01") && !list.contains(&number),
            "{list}"
        );
        let (sam_web, _) = server.web_session("sam@msp.example").await;
        let page = sam_web
            .get(format!("{}/tickets/{number}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        assert!(page.text().await.unwrap().contains("Ransomware on FS01"));

        // Watchers who could not see it are refused: they would be mailed it.
        let watched = sam
            .patch(
                &format!("/api/v1/tickets/{number}"),
                json!({"watchers": ["ann@msp.example"]}),
                None,
            )
            .await;
        assert_eq!(watched.status, 422, "{}", watched.text);
        assert_eq!(watched.body["errors"][0]["field"], "watchers[0]");
    }
);

dual_backend_test!(
    evidence_access_is_recorded_and_tampering_detected,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let sam = with_security_team(&server).await;
        let incident = open_incident(&sam, "Phishing campaign").await;
        let number = incident["ticket"]["number"].as_str().unwrap().to_owned();
        let file = upload(&sam, &number, b"From: attacker@evil.example").await;
        assert_eq!(file.status, 201, "{}", file.text);
        let (file_id, sha256) = (
            file.body["id"].as_i64().unwrap(),
            file.body["sha256"].as_str().unwrap().to_owned(),
        );

        let downloaded = sam.get(&format!("/api/v1/attachments/{file_id}")).await;
        assert_eq!(downloaded.status, 200, "{}", downloaded.text);
        assert_eq!(downloaded.text, "From: attacker@evil.example");
        let custody = sam
            .get(&format!("/api/v1/security-incidents/{number}/custody"))
            .await;
        assert_eq!(custody.status, 200, "{}", custody.text);
        let entries = custody.body.as_array().unwrap();
        assert_eq!(entries.len(), 2, "{}", custody.text);
        assert_eq!(entries[0]["action"], "upload");
        assert_eq!(entries[0]["recorded_sha256"], sha256.as_str());
        assert_eq!(entries[1]["action"], "download");
        assert_eq!(entries[1]["via"], "api");
        assert_eq!(entries[1]["intact"], true);
        assert_eq!(entries[1]["observed_sha256"], sha256.as_str());
        assert!(
            entries[1]["actor"]
                .as_str()
                .unwrap()
                .contains("sam@msp.example")
        );
        let audit = server
            .admin()
            .get(&format!(
                "/api/v1/audit?entity=attachment&entity_id={file_id}&limit=500"
            ))
            .await;
        assert_eq!(audit.status, 200, "{}", audit.text);
        assert!(
            audit.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|entry| entry["action"] == "accessed"),
            "{}",
            audit.text
        );

        // Someone alters the stored copy behind opsdesk's back.
        let mut conn = server.db.connect().await;
        sqlx::query("UPDATE attachment_blobs SET content = $1 WHERE sha256 = $2")
            .bind(b"From: someone-else@example.com".to_vec())
            .bind(&sha256)
            .execute(&mut conn)
            .await
            .unwrap();
        let refused = sam.get(&format!("/api/v1/attachments/{file_id}")).await;
        assert_eq!(refused.status, 409, "{}", refused.text);
        assert!(refused.text.contains("altered"), "{}", refused.text);
        let custody = sam
            .get(&format!("/api/v1/security-incidents/{number}/custody"))
            .await;
        let last = custody.body.as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["intact"], false, "{}", custody.text);
        assert_ne!(last["observed_sha256"], last["recorded_sha256"]);
    }
);

dual_backend_test!(
    the_runbook_goes_phase_by_phase_before_resolving,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let sam = with_security_team(&server).await;
        let admin = server.admin();

        let generic = admin
            .post(
                "/api/v1/tickets",
                json!({"type": "security_incident", "title": "x", "impact": "low", "urgency": "low"}),
            )
            .await;
        assert_eq!(generic.status, 422, "{}", generic.text);
        assert_eq!(generic.body["errors"][0]["field"], "type");
        let outsider = admin
            .post(
                "/api/v1/security-incidents",
                json!({"title": "x", "severity": "severe", "group": "Security",
                       "affected_cis": [999]}),
            )
            .await;
        assert_eq!(outsider.status, 422, "{}", outsider.text);
        assert_eq!(outsider.body["errors"][0]["field"], "severity");
        let no_ci = admin
            .post(
                "/api/v1/security-incidents",
                json!({"title": "x", "severity": "low", "group": "Security",
                       "affected_cis": [999]}),
            )
            .await;
        assert_eq!(no_ci.status, 422, "{}", no_ci.text);
        assert_eq!(no_ci.body["errors"][0]["field"], "affected_cis[0]");
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let not_member = ann
            .post(
                "/api/v1/security-incidents",
                json!({"title": "x", "severity": "low", "group": "Security"}),
            )
            .await;
        assert_eq!(not_member.status, 422, "{}", not_member.text);
        assert_eq!(not_member.body["errors"][0]["field"], "group");

        let incident = open_incident(&sam, "Stolen laptop").await;
        let number = incident["ticket"]["number"].as_str().unwrap().to_owned();
        let tick = |item: &'static str| {
            let sam = sam.clone();
            let number = number.clone();
            async move {
                sam.post(
                    &format!("/api/v1/security-incidents/{number}/checklist/{item}/done"),
                    json!({}),
                )
                .await
            }
        };
        let early = tick("eradication.remove_cause").await;
        assert_eq!(early.status, 409, "{}", early.text);
        assert!(early.text.contains("containment"), "{}", early.text);
        assert_eq!(tick("containment.panic").await.status, 404);
        for item in [
            "containment.isolate_systems",
            "containment.preserve_evidence",
            "containment.disable_accounts",
        ] {
            let done = tick(item).await;
            assert_eq!(done.status, 200, "{}", done.text);
        }
        assert_eq!(tick("containment.isolate_systems").await.status, 409);
        let now = tick("eradication.remove_cause").await;
        assert_eq!(now.status, 200, "{}", now.text);
        assert_eq!(now.body["next_item"], "eradication.close_entry_point");
        let ticked = &now.body["checklist"][0];
        assert_eq!(ticked["done"], true);
        assert!(ticked["done_by"].as_str().unwrap().contains("sam@"));

        let ticket_path = format!("/api/v1/tickets/{number}");
        let resolve = || {
            sam.patch(
                &ticket_path,
                json!({"status": "resolved", "resolution_code": "fixed",
                       "resolution_note": "Laptop wiped remotely"}),
                None,
            )
        };
        let refused = resolve().await;
        assert_eq!(refused.status, 409, "{}", refused.text);
        assert!(refused.text.contains("runbook"), "{}", refused.text);
        let short = sam
            .patch(
                &format!("/api/v1/security-incidents/{number}"),
                json!({"override_reason": "meh"}),
                None,
            )
            .await;
        assert_eq!(short.status, 422, "{}", short.text);
        assert_eq!(short.body["errors"][0]["field"], "override_reason");
        let overridden = sam
            .patch(
                &format!("/api/v1/security-incidents/{number}"),
                json!({"override_reason": "Disk was encrypted; no recovery work needed",
                       "severity": "medium"}),
                None,
            )
            .await;
        assert_eq!(overridden.status, 200, "{}", overridden.text);
        assert_eq!(overridden.body["severity"], "medium");
        assert!(overridden.body["runbook_override"]["reason"].is_string());
        let resolved = resolve().await;
        assert_eq!(resolved.status, 200, "{}", resolved.text);

        let timeline = sam
            .get(&format!("/api/v1/tickets/{number}/timeline?limit=200"))
            .await;
        let kinds: Vec<&str> = timeline.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&"checklist_done"), "{kinds:?}");
        assert!(kinds.contains(&"security_updated"), "{kinds:?}");
        let audit = admin
            .get("/api/v1/audit?entity=security_incident&limit=500")
            .await;
        assert_eq!(audit.status, 200, "{}", audit.text);
        assert!(
            audit.body["items"].as_array().unwrap().len() >= 6,
            "{}",
            audit.text
        );
    }
);

/// Every webhook delivery queued so far, as text.
async fn webhook_bodies(admin: &Client) -> Vec<String> {
    let jobs = admin.get("/api/v1/jobs?limit=500").await;
    assert_eq!(jobs.status, 200, "{}", jobs.text);
    jobs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|job| job["kind"] == "webhook.delivery")
        .map(|job| job["payload"].to_string())
        .collect()
}

dual_backend_test!(
    lists_that_name_other_tickets_leave_out_a_security_incident,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let sam = with_security_team(&server).await;
        let admin = server.admin();
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let hook = admin
            .post(
                "/api/v1/webhooks",
                json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]}),
            )
            .await;
        assert_eq!(hook.status, 201, "{}", hook.text);
        let tagging = admin
            .post(
                "/api/v1/rules",
                json!({"name": "Tag every new ticket", "event": "ticket.created",
                       "conditions": [{"field": "priority", "op": "is", "value": "P1"}],
                       "actions": [{"add_tag": "ruled"}]}),
            )
            .await;
        assert_eq!(tagging.status, 201, "{}", tagging.text);

        let incident = open_incident(&sam, "Ransomware on FS01").await;
        let secret = incident["ticket"]["number"].as_str().unwrap().to_owned();
        let ordinary = server
            .incident("File share slow", "high", "high", "carol@acme.example")
            .await;
        let problem = admin
            .post(
                "/api/v1/tickets",
                json!({"type": "problem", "title": "Shares keep failing", "impact": "medium",
                       "urgency": "medium", "requester": "carol@acme.example"}),
            )
            .await;
        assert_eq!(problem.status, 201, "{}", problem.text);
        let problem = problem.body["number"].as_str().unwrap().to_owned();
        for (from, link_type, to) in [
            (&ordinary, "relates_to", &secret),
            (&secret, "caused_by", &problem),
        ] {
            let linked = sam
                .post(
                    &format!("/api/v1/tickets/{from}/links"),
                    json!({"type": link_type, "target": to}),
                )
                .await;
            assert_eq!(linked.status, 201, "{}", linked.text);
        }
        let ci = admin
            .post("/api/v1/cis", json!({"class": "server", "name": "fs01"}))
            .await;
        assert_eq!(ci.status, 201, "{}", ci.text);
        let ci = ci.body["id"].as_i64().unwrap();
        for number in [&secret, &ordinary] {
            let linked = sam
                .send(sam.request(
                    reqwest::Method::PUT,
                    &format!("/api/v1/tickets/{number}/cis/{ci}"),
                ))
                .await;
            assert_eq!(linked.status, 204, "{}", linked.text);
        }

        // A member of the group sees the incident wherever another ticket names it.
        let links = |ticket: &Value| -> Vec<String> {
            ticket["links"]
                .as_array()
                .unwrap()
                .iter()
                .map(|link| link["target"].as_str().unwrap().to_owned())
                .collect()
        };
        let seen = sam.get(&format!("/api/v1/tickets/{ordinary}")).await;
        assert_eq!(
            links(&seen.body),
            std::slice::from_ref(&secret),
            "{}",
            seen.text
        );
        // Their update of the ordinary ticket shows them the link; its webhook, below, not.
        let updated = sam
            .patch(
                &format!("/api/v1/tickets/{ordinary}"),
                json!({"description": "Slower since Monday"}),
                None,
            )
            .await;
        assert_eq!(updated.status, 200, "{}", updated.text);
        assert_eq!(
            links(&updated.body),
            std::slice::from_ref(&secret),
            "{}",
            updated.text
        );
        let caused = sam
            .get(&format!("/api/v1/problems/{problem}/incidents"))
            .await;
        assert!(caused.text.contains(&secret), "{}", caused.text);
        let items = sam.get(&format!("/api/v1/tickets/{ordinary}/cis")).await;
        assert!(items.text.contains(&secret), "{}", items.text);

        // An agent outside it sees the other tickets as if the incident did not exist.
        let seen = ann.get(&format!("/api/v1/tickets/{ordinary}")).await;
        assert_eq!(seen.status, 200, "{}", seen.text);
        assert!(links(&seen.body).is_empty(), "{}", seen.text);
        let caused = ann
            .get(&format!("/api/v1/problems/{problem}/incidents"))
            .await;
        assert_eq!(caused.status, 200, "{}", caused.text);
        assert_eq!(caused.body, json!([]), "{}", caused.text);
        let items = ann.get(&format!("/api/v1/tickets/{ordinary}/cis")).await;
        assert_eq!(items.status, 200, "{}", items.text);
        assert_eq!(items.body[0]["open_tickets"], json!([]), "{}", items.text);
        assert!(!items.text.contains("Ransomware"), "{}", items.text);

        // Rules and webhooks leave it alone; the ordinary ticket they handle as ever.
        let ruled = |ticket: &Value| ticket["tags"].as_array().unwrap().contains(&json!("ruled"));
        let ordinary_ticket = admin.get(&format!("/api/v1/tickets/{ordinary}")).await;
        assert!(ruled(&ordinary_ticket.body), "{}", ordinary_ticket.text);
        let secret_ticket = admin.get(&format!("/api/v1/tickets/{secret}")).await;
        assert!(!ruled(&secret_ticket.body), "{}", secret_ticket.text);
        let bodies = webhook_bodies(&admin).await;
        assert!(
            bodies
                .iter()
                .any(|body| body.contains(&ordinary) && body.contains("ticket.updated")),
            "{bodies:?}"
        );
        for body in &bodies {
            assert!(!body.contains(&secret), "{body}");
            assert!(!body.contains("Ransomware"), "{body}");
        }
    }
);

dual_backend_test!(
    staff_work_a_security_incident_from_its_pages,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let sam_api = with_security_team(&server).await;
        let admin = server.admin();
        let forensics = admin
            .post(
                "/api/v1/groups",
                json!({"name": "Forensics", "tier": 2, "members": ["ann@msp.example"]}),
            )
            .await;
        assert_eq!(forensics.status, 201, "{}", forensics.text);
        let hidden = admin
            .post(
                "/api/v1/security-incidents",
                json!({"title": "Insider data theft", "severity": "high", "group": "Forensics"}),
            )
            .await;
        assert_eq!(hidden.status, 201, "{}", hidden.text);
        let fs01 = admin
            .post("/api/v1/cis", json!({"class": "server", "name": "fs01"}))
            .await;
        assert_eq!(fs01.status, 201, "{}", fs01.text);
        let fs01_id = fs01.body["id"].as_i64().unwrap().to_string();
        let sam = server.web_forms("sam@msp.example").await;

        // The form offers only the groups sam may restrict to, and sends mistakes back.
        let form = sam.page("/security-incidents/new").await;
        assert!(form.contains("<option value=\"Security\""), "{form}");
        assert!(!form.contains("<option value=\"Forensics\""), "{form}");
        let (status, _, page) = sam
            .post(
                "/security-incidents",
                &[
                    ("title", "Ransomware on FS01"),
                    ("severity", "critical"),
                    ("group", "Security"),
                    ("affected_cis", "fs01"),
                ],
            )
            .await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("a CI number, such as 12"), "{page}");
        assert!(page.contains("value=\"Ransomware on FS01\""), "{page}");
        let (status, path, page) = sam
            .post(
                "/security-incidents",
                &[
                    ("title", "Ransomware on FS01"),
                    ("description", "Files renamed to .locked"),
                    ("severity", "critical"),
                    ("group", "Security"),
                    ("affected_cis", &fs01_id),
                    ("affected_accounts", "carol@acme.example\r\nsvc-backup\r\n"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let number = path.trim_start_matches("/tickets/").to_owned();
        assert!(number.starts_with("SEC-"), "{path}");
        assert!(
            page.contains(&format!("<a href=\"/cmdb/{fs01_id}\">fs01</a>")),
            "{page}"
        );
        assert!(page.contains("svc-backup"), "{page}");
        assert!(page.contains("opened the security incident"), "{page}");

        // The list shows what sam may see, and only that.
        let list = sam.page("/security-incidents").await;
        assert!(
            list.contains(&format!("data-incident=\"{number}\"")),
            "{list}"
        );
        assert!(list.contains("Critical") && list.contains("0/10"), "{list}");
        assert!(!list.contains("Insider data theft"), "{list}");
        let ann_list = server
            .web_forms("ann@msp.example")
            .await
            .page("/security-incidents")
            .await;
        assert!(ann_list.contains("Insider data theft"), "{ann_list}");
        assert!(!ann_list.contains("Ransomware"), "{ann_list}");

        // Ticking through the page: out of order is refused with the reason.
        let tick = |item: &str| format!("/tickets/{number}/security/checklist/{item}");
        let (status, _, page) = sam.post(&tick("eradication.remove_cause"), &[]).await;
        assert_eq!(status, 409, "{page}");
        let refused = page
            .split("id=\"checklist-refused\">")
            .nth(1)
            .and_then(|rest| rest.split("</p>").next())
            .unwrap_or_else(|| panic!("the ticket page says why: {page}"));
        assert_eq!(
            refused,
            "containment comes first: containment.isolate_systems still to do"
        );
        assert!(
            page.contains("id=\"security-custody\"") && page.contains("Ransomware on FS01"),
            "the incident's own page, its runbook still there: {page}"
        );
        let (status, _, page) = sam.post(&tick("containment.isolate_systems"), &[]).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("data-item=\"containment.isolate_systems\" class=\"done\""),
            "{page}"
        );
        assert!(page.contains("ticked a runbook item"), "{page}");
        let (status, _, page) = sam
            .post(
                &format!("/tickets/{number}/security"),
                &[
                    ("severity", "medium"),
                    ("affected_cis", ""),
                    ("affected_accounts", "svc-backup"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("id=\"security-severity\">Medium<"), "{page}");
        let accounts = page
            .split("id=\"security-accounts\">")
            .nth(1)
            .and_then(|rest| rest.split("</dd>").next())
            .unwrap();
        assert_eq!(accounts, "svc-backup", "{page}");
        let (status, _, page) = sam
            .post(
                &format!("/tickets/{number}/security/override"),
                &[("override_reason", "Contained by restoring FS01 from backup")],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("Contained by restoring FS01 from backup"),
            "{page}"
        );

        // The chain of custody: each handling, then a loud marker once the copy is altered.
        let file = upload(&sam_api, &number, b"memory image").await;
        assert_eq!(file.status, 201, "{}", file.text);
        let (file_id, sha256) = (
            file.body["id"].as_i64().unwrap(),
            file.body["sha256"].as_str().unwrap().to_owned(),
        );
        let read = sam_api.get(&format!("/api/v1/attachments/{file_id}")).await;
        assert_eq!(read.status, 200, "{}", read.text);
        let page = sam.page(&format!("/tickets/{number}")).await;
        let custody = page.split("id=\"security-custody\"").nth(1).unwrap();
        assert_eq!(custody.matches("<code>").count(), 2, "{custody}");
        assert!(
            custody.contains(&sha256) && custody.contains("accessed"),
            "{custody}"
        );
        assert!(!page.contains("ALTERED"), "{page}");
        let mut conn = server.db.connect().await;
        sqlx::query("UPDATE attachment_blobs SET content = $1 WHERE sha256 = $2")
            .bind(b"another image".to_vec())
            .bind(&sha256)
            .execute(&mut conn)
            .await
            .unwrap();
        let refused = sam_api.get(&format!("/api/v1/attachments/{file_id}")).await;
        assert_eq!(refused.status, 409, "{}", refused.text);
        let page = sam.page(&format!("/tickets/{number}")).await;
        assert!(page.contains("id=\"evidence-tampered\""), "{page}");
        assert!(page.contains("class=\"tampered\""), "{page}");
        assert!(page.contains("ALTERED: hash mismatch"), "{page}");
    }
);

dual_backend_test!(
    live_updates_tell_only_the_group_of_a_security_incident,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let sam = with_security_team(&server).await;
        let incident = open_incident(&sam, "Ransomware on FS01").await;
        let secret = incident["ticket"]["number"].as_str().unwrap().to_owned();
        let ordinary = server
            .incident("File share slow", "high", "high", "carol@acme.example")
            .await;
        let listen = |email: &'static str| {
            let server = &server;
            async move {
                let (web, _) = server.web_session(email).await;
                let events = web
                    .get(format!("{}/events", server.url))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(events.status(), 200);
                events
            }
        };
        let mut ann = listen("ann@msp.example").await;
        let mut member = listen("sam@msp.example").await;

        for number in [&secret, &ordinary] {
            let noted = sam
                .post(
                    &format!("/api/v1/tickets/{number}/comments"),
                    json!({"body": "Checked the share", "public": false}),
                )
                .await;
            assert_eq!(noted.status, 201, "{}", noted.text);
        }
        // Events come in order: the incident's would reach ann before the ordinary ticket's.
        let ann_heard = heard_until(&mut ann, &ordinary).await;
        assert!(!ann_heard.contains(&secret), "{ann_heard}");
        let member_heard = heard_until(&mut member, &ordinary).await;
        assert!(member_heard.contains(&secret), "{member_heard}");
        server.stop();
    }
);

/// What a server-sent event stream says until it names `number`.
async fn heard_until(events: &mut reqwest::Response, number: &str) -> String {
    let mut heard = String::new();
    while !heard.contains(&format!("\"{number}\"")) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(30), events.chunk())
            .await
            .expect("an event within the timeout")
            .unwrap()
            .expect("the stream stays open");
        heard.push_str(&String::from_utf8_lossy(&chunk));
    }
    heard
}

dual_backend_test!(
    files_mailed_to_a_security_incident_start_their_chain_of_custody,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let sam = with_security_team(&server).await;
        let incident = open_incident(&sam, "Ransomware on FS01").await;
        let number = incident["ticket"]["number"].as_str().unwrap().to_owned();
        let raw = format!(
            "Message-ID: <evidence-1@msp.example>\r\nFrom: Sam <sam@msp.example>\r\n\
             To: support@desk.test\r\nSubject: Re: [{number}] Ransomware on FS01\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/plain\r\n\r\nThe memory image of FS01.\r\n\
             --b1\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: attachment; filename=\"fs01-memory.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nbWVtb3J5IGltYWdl\r\n--b1--\r\n"
        );
        let outcome = server.app.ingest_mail(raw.into_bytes()).await.unwrap();
        assert_eq!(outcome.status, "comment", "{outcome:?}");
        assert_eq!(outcome.ticket.as_deref(), Some(number.as_str()));

        let files = sam
            .get(&format!("/api/v1/tickets/{number}/attachments"))
            .await;
        assert_eq!(files.status, 200, "{}", files.text);
        let file = &files.body.as_array().unwrap()[0];
        let custody = sam
            .get(&format!("/api/v1/security-incidents/{number}/custody"))
            .await;
        assert_eq!(custody.status, 200, "{}", custody.text);
        let entries = custody.body.as_array().unwrap();
        assert_eq!(entries.len(), 1, "{}", custody.text);
        assert_eq!(entries[0]["action"], "upload");
        assert_eq!(entries[0]["via"], "mail");
        assert_eq!(entries[0]["attachment_id"], file["id"]);
        assert_eq!(entries[0]["recorded_sha256"], file["sha256"]);
        assert!(
            entries[0]["actor"]
                .as_str()
                .unwrap()
                .contains("sam@msp.example"),
            "{}",
            custody.text
        );
    }
);

dual_backend_test!(
    an_alert_list_names_a_security_incident_only_to_its_group,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let sam = with_security_team(&server).await;
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let incident = open_incident(&sam, "Ransomware on FS01").await;
        let secret = incident["ticket"]["number"].as_str().unwrap().to_owned();
        let integration = server
            .admin()
            .post(
                "/api/v1/integrations",
                json!({"name": "EDR", "kind": "generic", "requester": "carol@acme.example"}),
            )
            .await;
        assert_eq!(integration.status, 201, "{}", integration.text);
        let url = integration.body["url_path"].as_str().unwrap();
        let fired = reqwest::Client::new()
            .post(format!("{}{url}", server.url))
            .json(
                &json!({"status": "firing", "title": "Ransomware beacon", "severity": "critical"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(fired.status().as_u16(), 202);
        // Alerts open incidents of their own; should one ever name a security incident (an
        // analyst's EDR alert filed to it), the list must not tell outsiders.
        let mut conn = server.db.connect().await;
        sqlx::query(
            "UPDATE alerts SET ticket_id = \
             (SELECT id FROM tickets WHERE ticket_type = 'security_incident')",
        )
        .execute(&mut conn)
        .await
        .unwrap();

        let listed = sam.get("/api/v1/alerts").await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert_eq!(listed.body[0]["ticket"], secret.as_str(), "{}", listed.text);
        let listed = ann.get("/api/v1/alerts").await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert_eq!(
            listed.body[0]["title"], "Ransomware beacon",
            "{}",
            listed.text
        );
        assert!(listed.body[0]["ticket"].is_null(), "{}", listed.text);
        assert!(!listed.text.contains(&secret), "{}", listed.text);
    }
);
