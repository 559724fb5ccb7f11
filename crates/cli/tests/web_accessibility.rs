//! Every page of the web UI passes axe-core's WCAG 2.1 A/AA rules in a real browser, with no
//! serious or critical violation: the sign-in page and the public status page, the portal as
//! a customer, the agent console, monitoring and every admin page as an admin, and forms
//! sent back with mistakes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fantoccini::Client;
use opsdesk_testkit::browser::{
    Driver, accessibility_violations, axe_script, chromedriver, click, sign_in, type_into,
    wait_for_text,
};
use opsdesk_testkit::{Backend, TestServer};
use serde_json::json;

/// A problem caused `incident` and is a known error published as an article, so its page
/// shows the whole problem panel and the incident's page names it.
async fn analysed_problem(server: &TestServer, incident: &str) -> String {
    let admin = server.admin();
    let created = admin
        .post(
            "/api/v1/tickets",
            json!({"type": "problem", "title": "Tray 2 rollers wear out", "impact": "medium",
                   "urgency": "medium"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let problem = created.body["number"].as_str().unwrap().to_owned();
    let linked = admin
        .post(
            &format!("/api/v1/problems/{problem}/incidents"),
            json!({"incidents": [incident]}),
        )
        .await;
    assert_eq!(linked.status, 200, "{}", linked.text);
    let analysed = admin
        .put(
            &format!("/api/v1/problems/{problem}/analysis"),
            json!({"whys": ["Paper jams", "The rollers slip"], "root_cause": "Worn rollers",
                   "workaround": "Use tray 1", "known_error": true, "publish": "internal"}),
        )
        .await;
    assert_eq!(analysed.status, 200, "{}", analysed.text);
    problem
}

/// Opens each of `pages` and collects its serious and critical violations.
async fn audit(browser: &Client, server: &TestServer, axe: &str, pages: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for page in pages {
        browser
            .goto(&format!("{}{page}", server.url))
            .await
            .unwrap();
        found.extend(
            accessibility_violations(browser, axe)
                .await
                .into_iter()
                .map(|v| format!("{page}: {v}")),
        );
    }
    found
}

/// A desk with something on every page: a ticket with a reply, monitors of each kind with a
/// maintenance window, an SLA policy, a quarantined mail, a webhook and a published
/// article with two revisions and a runbook for the ticket's category.
async fn furnished_desk() -> (TestServer, String, i64, i64, i64) {
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let admin = server.admin();
    let acme = admin.get("/api/v1/organizations").await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "Acme")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let ticket = admin
        .post(
            "/api/v1/tickets",
            json!({"type": "incident", "title": "Printer jams on tray 2", "impact": "medium",
                   "urgency": "medium", "requester": "carol@acme.example", "category": "Printer",
                   "description": "## What error message do you see?\n\nPaper jam 13.B2"}),
        )
        .await;
    assert_eq!(ticket.status, 201, "{}", ticket.text);
    let number = ticket.body["number"].as_str().unwrap().to_owned();
    let reply = admin
        .post(
            &format!("/api/v1/tickets/{number}/comments"),
            json!({"body": "Please open **tray 2** and remove the sheet.", "public": true}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let monitor = admin
        .post(
            "/api/v1/monitors",
            json!({"name": "Shop front", "kind": "http", "target": "http://127.0.0.1:9/",
                   "paused": true, "organization_id": acme}),
        )
        .await;
    assert_eq!(monitor.status, 201, "{}", monitor.text);
    let monitor = monitor.body["id"].as_i64().unwrap();
    let window = admin
        .post(
            "/api/v1/maintenance-windows",
            json!({"monitor_id": monitor, "starts_at": "2030-01-01T00:00:00Z",
                   "ends_at": "2030-01-01T02:00:00Z", "reason": "Database upgrade"}),
        )
        .await;
    assert_eq!(window.status, 201, "{}", window.text);
    let policy = admin
        .post(
            "/api/v1/sla-policies",
            json!({"position": 1, "calendar_id": 1, "spec": {"name": "Planning work",
                   "priorities": ["P5"],
                   "targets": {"P5": {"response_seconds": 28800, "resolution_seconds": 86400}}}}),
        )
        .await;
    assert_eq!(policy.status, 201, "{}", policy.text);
    let hook = admin
        .post(
            "/api/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "events": ["ticket.created"]}),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let raw = "Message-ID: <tps-1@initech.example>\r\nFrom: peter@initech.example\r\nSubject: TPS reports\r\n\r\nHello\r\n";
    server
        .app
        .ingest_mail(raw.as_bytes().to_vec())
        .await
        .unwrap();
    let article = admin
        .post(
            "/api/v1/articles",
            json!({"title": "Clearing a paper jam", "body": "Open tray 2.", "audience": "public",
                   "category": "Printer"}),
        )
        .await;
    assert_eq!(article.status, 201, "{}", article.text);
    let article = article.body["id"].as_i64().unwrap();
    let published = admin
        .patch(
            &format!("/api/v1/articles/{article}"),
            json!({"body": "Open tray 2.\nPull the sheet out slowly.", "status": "published"}),
            None,
        )
        .await;
    assert_eq!(published.status, 200, "{}", published.text);
    let runbook = admin
        .post(
            "/api/v1/articles",
            json!({"title": "Printer offline", "kind": "runbook", "category": "Printer",
                   "monitors": [monitor],
                   "steps": [{"check": "Ping the printer", "command": "ping -c 3 printer1",
                              "expected": "3 replies"}]}),
        )
        .await;
    assert_eq!(runbook.status, 201, "{}", runbook.text);
    (server, number, monitor, acme, article)
}

/// An incident opened by an alert that pages an escalation policy; its number.
/// A server on a switch, with a twin recorded by hand and a ticket about it: the CMDB
/// pages with something in every section. Returns the server's item id.
/// Items, a vendor, a contract and a licence; the ticket waits on the vendor. Returns the
/// pages' paths.
async fn cmdb_items(server: &TestServer, ticket: &str) -> (i64, Vec<String>) {
    let admin = server.admin();
    let mut ids = Vec::new();
    for body in [
        json!({"class": "network_device", "name": "core-sw1"}),
        json!({"class": "server", "name": "db1", "organization": "Acme",
               "serial_number": "SRV-1", "macs": ["52:54:00:00:00:01"], "lifecycle": "deployed"}),
        json!({"class": "server", "name": "Database server", "serial_number": "SRV-1"}),
    ] {
        let created = admin.post("/api/v1/cis", body).await;
        assert_eq!(created.status, 201, "{}", created.text);
        ids.push(created.body["id"].as_i64().unwrap());
    }
    let related = admin
        .post(
            &format!("/api/v1/cis/{}/relations", ids[1]),
            json!({"kind": "connects_to", "target": ids[0]}),
        )
        .await;
    assert_eq!(related.status, 201, "{}", related.text);
    let linked = admin
        .send(admin.request(
            reqwest::Method::PUT,
            &format!("/api/v1/tickets/{ticket}/cis/{}", ids[1]),
        ))
        .await;
    assert_eq!(linked.status, 204, "{}", linked.text);
    let vendor = admin
        .post(
            "/api/v1/vendors",
            json!({"name": "Dell", "response_hours": 8,
                   "contacts": [{"name": "Dana Reed", "role": "Support"}]}),
        )
        .await;
    assert_eq!(vendor.status, 201, "{}", vendor.text);
    let vendor = vendor.body["id"].as_i64().unwrap();
    let contract = admin
        .post(
            "/api/v1/contracts",
            json!({"name": "ProSupport", "kind": "support", "vendor": vendor,
                   "ends_on": "2030-01-31", "covers": [ids[1]]}),
        )
        .await;
    assert_eq!(contract.status, 201, "{}", contract.text);
    let licence = admin
        .post(
            "/api/v1/licences",
            json!({"name": "Office", "model": "per_seat", "purchased": 10}),
        )
        .await;
    assert_eq!(licence.status, 201, "{}", licence.text);
    let waiting = admin
        .send(
            admin
                .request(
                    reqwest::Method::PUT,
                    &format!("/api/v1/tickets/{ticket}/vendor-wait"),
                )
                .json(&json!({"vendor": vendor, "reference": "SR-1"})),
        )
        .await;
    assert_eq!(waiting.status, 200, "{}", waiting.text);
    let pages = vec![
        "/cmdb/vendors".to_owned(),
        format!("/cmdb/vendors/{vendor}"),
        "/cmdb/contracts".to_owned(),
        format!("/cmdb/contracts/{}", contract.body["item"]["id"]),
        "/cmdb/licences".to_owned(),
        format!("/cmdb/licences/{}", licence.body["item"]["id"]),
    ];
    (ids[1], pages)
}

/// Ways to reach the ticket's item, a remote session opened from the ticket, and a runbook
/// for the ticket's category with a script waiting for approval. Returns the scripts page
/// and the session's page.
async fn operations(server: &TestServer, ticket: &str, ci: i64) -> (String, String) {
    let admin = server.admin();
    let access = admin
        .put(
            &format!("/api/v1/cis/{ci}/access"),
            json!([{"method": "ssh", "address": "db1.acme.example", "username": "root"},
                   {"method": "web", "address": "https://idrac-db1.acme.example/console"}]),
        )
        .await;
    assert_eq!(access.status, 200, "{}", access.text);
    let session = admin
        .post(
            &format!("/api/v1/tickets/{ticket}/remote-sessions"),
            json!({"access": access.body[0]["id"]}),
        )
        .await;
    assert_eq!(session.status, 201, "{}", session.text);
    let runbook = admin
        .post(
            "/api/v1/articles",
            json!({"title": "Printer spooler stuck", "kind": "runbook", "category": "Printer",
                   "steps": [{"kind": "script", "check": "Restart the spooler",
                              "language": "shell", "script": "systemctl restart cups"}]}),
        )
        .await;
    assert_eq!(runbook.status, 201, "{}", runbook.text);
    (
        "/admin/scripts".to_owned(),
        format!("/remote-sessions/{}", session.body["id"]),
    )
}

async fn paged_incident(server: &TestServer) -> String {
    let url_path = server.paged_integration(None, None).await;
    let receipt: serde_json::Value = reqwest::Client::new()
        .post(format!("{}{url_path}", server.url))
        .json(&json!({"status": "firing", "title": "Database is down", "severity": "critical"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    receipt["opened"][0].as_str().unwrap().to_owned()
}

/// A change on item `ci` waiting for approval, from a template with a questionnaire,
/// beside a freeze it falls in: its number.
async fn planned_change(server: &TestServer, ci: i64) -> String {
    let admin = server.admin();
    let template = admin
        .post(
            "/api/v1/change-templates",
            json!({"name": "Reboot", "type": "normal", "questions": [
                {"key": "users", "text": "Who notices?", "options": [
                    {"label": "nobody", "score": 0}, {"label": "everyone", "score": 12}]}]}),
        )
        .await;
    assert_eq!(template.status, 201, "{}", template.text);
    let freeze = admin
        .post(
            "/api/v1/freeze-windows",
            json!({"name": "Quarter end", "starts_at": "2030-01-01T00:00:00Z",
                   "ends_at": "2030-01-03T00:00:00Z"}),
        )
        .await;
    assert_eq!(freeze.status, 201, "{}", freeze.text);
    let created = admin
        .post(
            "/api/v1/changes",
            json!({"title": "Reboot the item", "template": "Reboot", "cis": [ci],
                   "risk_answers": {"users": "everyone"},
                   "planned_start": "2030-01-02T20:00:00Z", "planned_end": "2030-01-02T21:00:00Z"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let number = created.body["number"].as_str().unwrap().to_owned();
    for state in ["assessment", "approval"] {
        let moved = admin
            .patch(
                &format!("/api/v1/changes/{number}"),
                json!({"state": state}),
                None,
            )
            .await;
        assert_eq!(moved.status, 200, "{}", moved.text);
    }
    number
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_without_serious_or_critical_violations() {
    let Some(binary) = chromedriver() else { return };
    let Some(axe) = axe_script() else { return };
    let (server, number, monitor, acme, article) = furnished_desk().await;
    let driver = Driver::start(&binary).await;
    let mut violations = Vec::new();

    let (anonymous, _anonymous_profile) = driver.browser().await;
    let public = [
        "/login".to_owned(),
        format!("/status/{acme}"),
        "/help".to_owned(),
        format!("/help/{article}"),
    ];
    violations.extend(audit(&anonymous, &server, &axe, &public).await);
    anonymous.close().await.unwrap();

    let (customer, _customer_profile) = driver.browser().await;
    sign_in(&customer, &server, "carol@acme.example").await;
    let portal = [
        "/portal".to_owned(),
        "/portal/new".to_owned(),
        "/portal/new?category=Printer".to_owned(),
        format!("/portal/tickets/{number}"),
        "/help?q=paper".to_owned(),
        format!("/help/{article}"),
    ];
    violations.extend(audit(&customer, &server, &axe, &portal).await);
    customer.close().await.unwrap();

    let paged = paged_incident(&server).await;
    let (ci, supply_pages) = cmdb_items(&server, &number).await;
    let (scripts_page, session_page) = operations(&server, &number, ci).await;
    let (admin, _admin_profile) = driver.browser().await;
    sign_in(&admin, &server, "root@msp.example").await;
    let problem = analysed_problem(&server, &number).await;
    let change = planned_change(&server, ci).await;
    let mut staff = vec![
        "/changes".to_owned(),
        "/changes/new?template=Reboot".to_owned(),
        format!("/changes/{change}"),
        "/changes/calendar".to_owned(),
        "/changes/calendar?view=week".to_owned(),
        "/changes/calendar?view=list".to_owned(),
        "/changes/freezes".to_owned(),
        "/changes/templates".to_owned(),
        format!("/tickets/{problem}"),
        "/problems/candidates".to_owned(),
        format!("/tickets/{paged}"),
        "/dashboard".to_owned(),
        "/tickets".to_owned(),
        format!("/tickets/{number}"),
        "/monitors".to_owned(),
        format!("/monitors/{monitor}"),
        format!("/monitors/{monitor}/edit"),
        "/maintenance".to_owned(),
        "/admin".to_owned(),
        "/admin/users".to_owned(),
        "/admin/users/1".to_owned(),
        "/admin/organizations".to_owned(),
        format!("/admin/organizations/{acme}"),
        "/admin/groups".to_owned(),
        "/admin/categories".to_owned(),
        "/admin/fields".to_owned(),
        "/admin/mail".to_owned(),
        "/admin/mail/acknowledgement".to_owned(),
        "/admin/tokens".to_owned(),
        "/admin/audit".to_owned(),
        "/admin/sla".to_owned(),
        "/admin/sla/policies/new".to_owned(),
        "/admin/sla/calendars/new".to_owned(),
        "/admin/sla/calendars/1".to_owned(),
        "/admin/surveys".to_owned(),
        "/admin/quarantine".to_owned(),
        "/admin/webhooks".to_owned(),
        "/admin/jobs".to_owned(),
        "/admin/backups".to_owned(),
        "/admin/triage".to_owned(),
        "/admin/integrations".to_owned(),
        "/admin/rules".to_owned(),
        "/admin/import".to_owned(),
        "/on-call".to_owned(),
        "/silences".to_owned(),
        "/cmdb".to_owned(),
        "/cmdb?q=class:toaster".to_owned(),
        format!("/cmdb/{ci}"),
        format!("/cmdb/{ci}/impact"),
        "/cmdb/duplicates".to_owned(),
        "/cmdb/classes".to_owned(),
        "/cmdb/stocktake".to_owned(),
        "/cmdb/stocktake?location=Room%204".to_owned(),
        "/cmdb/labels".to_owned(),
        "/cmdb/compliance".to_owned(),
        "/cmdb/transfer".to_owned(),
        "/kb".to_owned(),
        "/kb/new".to_owned(),
        "/kb/new?kind=runbook".to_owned(),
        format!("/kb/{article}"),
        format!("/kb/{article}/edit"),
        format!("/kb/{article}/diff?from=1&to=2"),
        "/no/such/page".to_owned(),
    ];
    staff.extend(supply_pages);
    staff.push(scripts_page);
    for kind in ["http", "tcp", "icmp", "dns", "tls", "heartbeat"] {
        staff.push(format!("/monitors/new?kind={kind}"));
    }
    violations.extend(audit(&admin, &server, &axe, &staff).await);

    // A form sent back with its mistakes marked.
    admin
        .goto(&format!("{}/admin/sla/policies/new", server.url))
        .await
        .unwrap();
    type_into(&admin, "#name", "Broken").await;
    type_into(&admin, "#response-P1", "soon").await;
    click(&admin, "#save-policy").await;
    wait_for_text(&admin, "main", "minutes").await;
    assert!(
        admin
            .find(fantoccini::Locator::Css(".field-error"))
            .await
            .is_ok()
    );
    violations.extend(
        accessibility_violations(&admin, &axe)
            .await
            .into_iter()
            .map(|v| format!("(policy form with mistakes): {v}")),
    );

    // The ticket page's diagnostic form sent back: a target outside the allow-list.
    admin
        .goto(&format!("{}/tickets/{number}", server.url))
        .await
        .unwrap();
    type_into(&admin, "#diagnostic-target", "192.0.2.10").await;
    click(&admin, "#run-diagnostic").await;
    wait_for_text(&admin, "#diagnostic-target-error", "allow-list").await;
    violations.extend(
        accessibility_violations(&admin, &axe)
            .await
            .into_iter()
            .map(|v| format!("(diagnostic form with mistakes): {v}")),
    );
    admin.close().await.unwrap();

    // A remote session's page opens `ssh://` as it loads, which leaves a browser waiting on
    // the client: it gets a browser of its own, last.
    let (connecting, _connecting_profile) = driver.browser().await;
    sign_in(&connecting, &server, "root@msp.example").await;
    violations.extend(audit(&connecting, &server, &axe, &[session_page]).await);
    connecting.close().await.unwrap();

    assert!(
        violations.is_empty(),
        "{} violations:\n{}",
        violations.len(),
        violations.join("\n")
    );
    server.stop();
}
