//! Change management in a real browser (headless Chromium) with a real mail server: the
//! change calendar marks two changes that touch the same firewall at the same time, and a
//! board member approves a change from the link in the mail they were sent, without
//! signing in. Screenshots go to docs/screenshots/.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use fantoccini::Locator;
use opsdesk_app::ManualClock;
use opsdesk_testkit::browser::{Driver, chromedriver, click, screenshot, sign_in, wait_for_text};
use opsdesk_testkit::{Backend, Client, TestServer, eventually, mails_about};
use serde_json::json;

/// The approval mail about `title` in the test mail server's maildir: its text.
fn approval_mail(maildir: &str, title: &str) -> Option<String> {
    mails_about(maildir, &["Approval needed", title])
        .into_iter()
        .next()
        .map(|(_, text)| text)
}

async fn submitted(admin: &Client, title: &str, ci: i64, from: &str, to: &str) -> String {
    let created = admin
        .post(
            "/api/v1/changes",
            json!({"title": title, "template": "Firewall rule", "cis": [ci],
                   "planned_start": from, "planned_end": to}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let number = created.body["number"].as_str().unwrap().to_owned();
    let moved = admin
        .patch(
            &format!("/api/v1/changes/{number}"),
            json!({"state": "assessment"}),
            None,
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    number
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calendar_shows_a_conflict_and_an_approver_approves_from_the_mail() {
    let Some(binary) = chromedriver() else { return };
    let clock = ManualClock::starting_at("2026-03-02T10:00:00Z".parse().unwrap());
    let Some((server, maildir)) =
        TestServer::mailing_service_desk(Backend::Sqlite, Arc::new(clock)).await
    else {
        return;
    };
    let admin = server.admin();
    let cab = admin
        .post(
            "/api/v1/groups",
            json!({"name": "CAB", "tier": 3, "members": ["ann@msp.example"]}),
        )
        .await;
    assert_eq!(cab.status, 201, "{}", cab.text);
    let template = admin
        .post(
            "/api/v1/change-templates",
            json!({"name": "Firewall rule", "type": "normal", "board": "CAB", "quorum": 1,
                   "backout_plan": "Remove the rule."}),
        )
        .await;
    assert_eq!(template.status, 201, "{}", template.text);
    let firewall = admin
        .post(
            "/api/v1/cis",
            json!({"class": "network_device", "name": "fw-01"}),
        )
        .await;
    assert_eq!(firewall.status, 201, "{}", firewall.text);
    let firewall = firewall.body["id"].as_i64().unwrap();
    // Unique per run: the maildir is shared by every test.
    let title = format!("Open 443 to the VPN ({})", uuid::Uuid::new_v4().simple());
    let first = submitted(
        &admin,
        &title,
        firewall,
        "2026-03-10T20:00:00Z",
        "2026-03-10T22:00:00Z",
    )
    .await;
    let second = submitted(
        &admin,
        "Replace fw-01 power supply",
        firewall,
        "2026-03-10T21:00:00Z",
        "2026-03-10T23:00:00Z",
    )
    .await;

    let driver = Driver::start(&binary).await;
    let (browser, _profile) = driver.browser().await;
    sign_in(&browser, &server, "root@msp.example").await;
    browser
        .goto(&format!("{}/changes/calendar", server.url))
        .await
        .unwrap();
    wait_for_text(
        &browser,
        "#conflict-summary",
        "2 planned changes have conflicts",
    )
    .await;
    let day = browser
        .find(Locator::Css("td[data-day='2026-03-10']"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(day.contains(&first) && day.contains(&second), "{day}");
    let marked = browser
        .find_all(Locator::Css("td[data-day='2026-03-10'] .has-conflict"))
        .await
        .unwrap();
    assert_eq!(marked.len(), 2);
    screenshot(&browser, "change-calendar").await;
    // The change's own page says what it collides with.
    click(
        &browser,
        &format!("td[data-day='2026-03-10'] a[data-change='{second}']"),
    )
    .await;
    wait_for_text(&browser, "#conflicts", &first).await;
    browser.close().await.unwrap();

    // The first change goes to its board; ann, its only member, is mailed.
    let asked = admin
        .patch(
            &format!("/api/v1/changes/{first}"),
            json!({"state": "approval"}),
            None,
        )
        .await;
    assert_eq!(asked.status, 200, "{}", asked.text);
    let mailed = eventually(Duration::from_secs(30), || async {
        approval_mail(&maildir, &title).is_some()
    })
    .await;
    assert!(mailed, "the approval request was not mailed");
    let text = approval_mail(&maildir, &title).unwrap();
    let link = text
        .split_whitespace()
        .find(|word| word.starts_with("http://desk.test/changes/approve/"))
        .unwrap_or_else(|| panic!("{text}"))
        .trim_end_matches(['>', '"', '.']);
    let path = link.trim_start_matches("http://desk.test");

    // The link opens without signing in, as ann.
    let (anonymous, _anonymous_profile) = driver.browser().await;
    anonymous
        .goto(&format!("{}{path}", server.url))
        .await
        .unwrap();
    wait_for_text(&anonymous, "main", "ann@msp.example").await;
    wait_for_text(&anonymous, "#change-approval", "Pending").await;
    anonymous
        .find(Locator::Css("#vote-comment"))
        .await
        .unwrap()
        .send_keys("Fine outside business hours")
        .await
        .unwrap();
    screenshot(&anonymous, "change-approval-link").await;
    click(&anonymous, "#approve").await;
    wait_for_text(&anonymous, "#change-approval", "Approved").await;
    wait_for_text(&anonymous, "#link-done", "Thank you").await;
    anonymous.close().await.unwrap();

    let approved = admin.get(&format!("/api/v1/changes/{first}")).await;
    assert_eq!(approved.body["state"], "scheduled", "{}", approved.text);
    assert_eq!(approved.body["votes"][0]["member"], "ann@msp.example");
    assert_eq!(
        approved.body["votes"][0]["comment"],
        "Fine outside business hours"
    );
    // A link that is not one of ours opens nothing.
    let wrong = reqwest::get(format!("{}/changes/approve/not-a-secret", server.url))
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
}
