//! The admin and attachment flows of the web UI in a real browser (headless Chromium): an
//! admin tightens an SLA policy and the ticket's countdown follows; a quarantined mail is
//! reprocessed once its organization's domain is added; a file sent with a reply reaches the
//! customer while a note's file does not. Screenshots of these pages go to docs/screenshots/.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fantoccini::{Client, Locator};
use opsdesk_testkit::browser::{
    Driver, chromedriver, click, link_href, screenshot, sign_in, text_at, type_into, wait_for_text,
};
use opsdesk_testkit::{Backend, TestServer};
use serde_json::{Value, json};

/// Fetches `href` inside the browser, with its session: the status and the body.
async fn fetch_in_browser(browser: &Client, href: &str) -> (u16, String) {
    let reply = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.text().then(t => done([r.status, t])));",
            vec![json!(href)],
        )
        .await
        .unwrap();
    let status = u16::try_from(reply[0].as_u64().unwrap()).unwrap();
    (status, reply[1].as_str().unwrap().to_owned())
}

/// The response countdown's words on the ticket page.
async fn response_countdown(browser: &Client, server: &TestServer, number: &str) -> String {
    browser
        .goto(&format!("{}/tickets/{number}", server.url))
        .await
        .unwrap();
    wait_for_text(browser, "#ticket-sla", "Response:").await;
    for element in browser
        .find_all(Locator::Css("#ticket-sla .sla"))
        .await
        .unwrap()
    {
        let text = element.text().await.unwrap();
        if let Some(rest) = text.strip_prefix("Response:") {
            return rest.trim().to_owned();
        }
    }
    panic!("no response countdown on {number}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_tightens_an_sla_policy_and_the_tickets_countdown_follows() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let policy = server
        .admin()
        .post(
            "/api/v1/sla-policies",
            json!({"position": 1, "calendar_id": 1, "spec": {
                "name": "Planning work", "priorities": ["P5"],
                "targets": {"P5": {"response_seconds": 28800, "resolution_seconds": 86400}}}}),
        )
        .await;
    assert_eq!(policy.status, 201, "{}", policy.text);
    let number = server
        .incident(
            "New starter needs a laptop",
            "low",
            "low",
            "carol@acme.example",
        )
        .await;

    let driver = Driver::start(&binary).await;
    let (admin, _profile) = driver.browser().await;
    sign_in(&admin, &server, "root@msp.example").await;
    let before = response_countdown(&admin, &server, &number).await;
    assert_eq!(before, "8 h 0 m left");

    click(&admin, "nav a[href='/admin']").await;
    click(&admin, "a[href='/admin/sla']").await;
    click(&admin, "tr[data-policy='Planning work'] a").await;
    let response = admin
        .wait()
        .for_element(Locator::Css("#response-P5"))
        .await
        .unwrap();
    response.clear().await.unwrap();
    response.send_keys("20").await.unwrap();
    screenshot(&admin, "admin-sla-policy").await;
    click(&admin, "#save-policy").await;
    wait_for_text(&admin, "tr[data-policy='Planning work']", "P5").await;
    let stored = server
        .admin()
        .get(&format!("/api/v1/sla-policies/{}", policy.body["id"]))
        .await;
    assert_eq!(
        stored.body["spec"]["targets"]["P5"]["response_seconds"], 1200,
        "{}",
        stored.text
    );

    let after = response_countdown(&admin, &server, &number).await;
    let minutes: i64 = after
        .strip_suffix(" m left")
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("{after}"));
    assert!((19..=20).contains(&minutes), "{after}");
    admin.close().await.unwrap();
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantined_mail_is_reprocessed_once_its_organizations_domain_is_added() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    server.organization("Initech").await;
    let raw = "Message-ID: <tps-1@initech.example>\r\nFrom: Peter <peter@initech.example>\r\nSubject: TPS reports fail\r\n\r\nThe cover sheet is missing.\r\n";
    let held = server
        .app
        .ingest_mail(raw.as_bytes().to_vec())
        .await
        .unwrap();
    assert_eq!(held.status, "quarantined", "{held:?}");

    let driver = Driver::start(&binary).await;
    let (admin, _profile) = driver.browser().await;
    sign_in(&admin, &server, "root@msp.example").await;
    click(&admin, "nav a[href='/admin']").await;
    click(&admin, "a[href='/admin/quarantine']").await;
    wait_for_text(&admin, "table.quarantine", "TPS reports fail").await;
    wait_for_text(&admin, "table.quarantine", "peter@initech.example").await;
    screenshot(&admin, "admin-quarantine").await;

    // The sender's domain is added to Initech through the organization's form.
    admin
        .goto(&format!("{}/admin/organizations", server.url))
        .await
        .unwrap();
    click(&admin, "tr[data-organization='Initech'] a").await;
    type_into(&admin, "#domain", "initech.example").await;
    screenshot(&admin, "admin-organization").await;
    click(&admin, "#organization-form button[type='submit']").await;
    wait_for_text(&admin, "tr[data-organization='Initech']", "initech.example").await;

    admin
        .goto(&format!("{}/admin/quarantine", server.url))
        .await
        .unwrap();
    click(
        &admin,
        &format!(
            "form[action='/admin/quarantine/{}/reprocess'] button",
            held.mail_id
        ),
    )
    .await;
    wait_for_text(&admin, "main", "Opened a ticket").await;
    wait_for_text(&admin, "table.quarantine", "The quarantine is empty.").await;

    let found = server
        .admin()
        .get("/api/v1/tickets?q=organization:Initech")
        .await;
    let titles: Vec<&Value> = found.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["title"])
        .collect();
    assert_eq!(titles, [&json!("TPS reports fail")], "{}", found.text);
    admin.close().await.unwrap();
    server.stop();
}

/// Sends the composer with `body` and the file at `path`, as a reply or an internal note.
async fn send_with_file(agent: &Client, body: &str, path: &std::path::Path, note: bool) {
    if note {
        click(agent, "label[for='vis-note']").await;
    } else {
        click(agent, "label[for='vis-public']").await;
    }
    type_into(agent, "#body", body).await;
    type_into(agent, "#files", path.to_str().unwrap()).await;
    click(agent, "#send").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sent_with_a_reply_reaches_the_customer_and_a_notes_file_does_not() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let number = server
        .incident(
            "Scanner will not send to e-mail",
            "low",
            "medium",
            "carol@acme.example",
        )
        .await;
    let files = tempfile::tempdir().unwrap();
    let guide = files.path().join("scan-to-mail-guide.txt");
    std::fs::write(&guide, "1. Press Scan. 2. Choose E-mail.").unwrap();
    let notes = files.path().join("smtp-relay-password.txt");
    std::fs::write(&notes, "relay password: hunter2").unwrap();

    let driver = Driver::start(&binary).await;
    let (agent, _agent_profile) = driver.browser().await;
    sign_in(&agent, &server, "ann@msp.example").await;
    agent
        .goto(&format!("{}/tickets/{number}", server.url))
        .await
        .unwrap();
    send_with_file(&agent, "The steps are attached.", &guide, false).await;
    wait_for_text(&agent, "ol.timeline", "scan-to-mail-guide.txt").await;
    send_with_file(&agent, "Relay credentials for tier 2.", &notes, true).await;
    wait_for_text(&agent, "ol.timeline", "smtp-relay-password.txt").await;
    screenshot(&agent, "ticket-attachments").await;
    // The timeline speaks in sentences, and shows each file once, on its message.
    let timeline = text_at(&agent, "ol.timeline").await;
    assert!(
        timeline.contains("with priority P4, through the API"),
        "{timeline}"
    );
    assert!(!timeline.contains("filename:"), "{timeline}");
    assert_eq!(
        timeline.matches("scan-to-mail-guide.txt").count(),
        1,
        "{timeline}"
    );
    let secret_href = link_href(&agent, "smtp-relay-password.txt").await;

    let (customer, _customer_profile) = driver.browser().await;
    sign_in(&customer, &server, "carol@acme.example").await;
    customer
        .goto(&format!("{}/portal/tickets/{number}", server.url))
        .await
        .unwrap();
    wait_for_text(&customer, "ol.timeline", "The steps are attached.").await;
    let page = customer.source().await.unwrap();
    assert!(!page.contains("smtp-relay-password"), "{page}");
    assert!(!page.contains("Relay credentials"), "{page}");
    let guide_href = link_href(&customer, "scan-to-mail-guide.txt").await;
    assert_eq!(
        fetch_in_browser(&customer, &guide_href).await,
        (200, "1. Press Scan. 2. Choose E-mail.".to_owned())
    );
    let (status, body) = fetch_in_browser(&customer, &secret_href).await;
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("hunter2"));
    agent.close().await.unwrap();
    customer.close().await.unwrap();
    server.stop();
}
