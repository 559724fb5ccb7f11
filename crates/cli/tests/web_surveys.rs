//! A satisfaction survey in a real browser (headless Chromium) with a real mail server: the
//! requester opens the score link from the mail they were sent, without signing in, changes
//! the preselected score, adds a comment and sends it; the rating shows on the ticket's
//! timeline for staff and in the requester's portal. Screenshots go to docs/screenshots/.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use fantoccini::Locator;
use opsdesk_app::ManualClock;
use opsdesk_testkit::browser::{
    Driver, chromedriver, click, screenshot, sign_in, type_into, wait_for_text,
};
use opsdesk_testkit::{Backend, TestServer, eventually, mails_about};
use serde_json::json;

/// The survey mail about `title` in the test mail server's maildir: its text.
fn survey_mail(maildir: &str, title: &str) -> Option<String> {
    mails_about(maildir, &["How did we do?", title])
        .into_iter()
        .next()
        .map(|(_, text)| text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_rates_a_resolution_from_the_mailed_link() {
    let Some(binary) = chromedriver() else { return };
    let clock = ManualClock::starting_at("2026-03-02T10:00:00Z".parse().unwrap());
    let Some((server, maildir)) =
        TestServer::mailing_service_desk(Backend::Sqlite, Arc::new(clock)).await
    else {
        return;
    };
    let admin = server.admin();
    // Unique per run: the maildir is shared by every test.
    let title = format!(
        "Shared drive is read-only ({})",
        uuid::Uuid::new_v4().simple()
    );
    let number = server
        .incident(&title, "medium", "medium", "carol@acme.example")
        .await;
    let resolved = admin
        .patch(
            &format!("/api/v1/tickets/{number}"),
            json!({"status": "resolved", "resolution_code": "fixed"}),
            None,
        )
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);

    let mailed = eventually(Duration::from_secs(30), || async {
        survey_mail(&maildir, &title).is_some()
    })
    .await;
    assert!(mailed, "the survey was not mailed");
    let text = survey_mail(&maildir, &title).unwrap();
    let link = text
        .split_whitespace()
        .find(|word| word.starts_with("http://desk.test/survey/") && word.ends_with("score=4"))
        .unwrap_or_else(|| panic!("{text}"));
    let path = link.trim_start_matches("http://desk.test");

    // The link opens without signing in, with its score chosen; nothing is recorded yet.
    let driver = Driver::start(&binary).await;
    let (anonymous, _anonymous_profile) = driver.browser().await;
    anonymous
        .goto(&format!("{}{path}", server.url))
        .await
        .unwrap();
    wait_for_text(&anonymous, "main", "carol@acme.example").await;
    let four = anonymous
        .find(Locator::Css("#score-4"))
        .await
        .unwrap()
        .prop("checked")
        .await
        .unwrap();
    assert_eq!(four.as_deref(), Some("true"));
    let before = admin.get(&format!("/api/v1/tickets/{number}/rating")).await;
    assert!(before.body["score"].is_null(), "{}", before.text);

    click(&anonymous, "#score-5").await;
    type_into(&anonymous, "#rating-comment", "Sorted within the hour").await;
    screenshot(&anonymous, "survey-link").await;
    click(&anonymous, "#rating-send").await;
    wait_for_text(&anonymous, "#rating-thanks", "Thank you").await;
    wait_for_text(&anonymous, "#rating-current", "5").await;
    anonymous.close().await.unwrap();

    let rated = admin.get(&format!("/api/v1/tickets/{number}/rating")).await;
    assert_eq!(rated.body["score"], 5, "{}", rated.text);
    assert_eq!(rated.body["comment"], "Sorted within the hour");

    // Staff see the rating on the ticket's timeline; the requester sees it in the portal.
    let (browser, _profile) = driver.browser().await;
    sign_in(&browser, &server, "root@msp.example").await;
    browser
        .goto(&format!("{}/tickets/{number}", server.url))
        .await
        .unwrap();
    wait_for_text(
        &browser,
        ".kind-rated",
        "rated the resolution 5 out of 5: “Sorted within the hour”",
    )
    .await;
    browser.close().await.unwrap();
    let (portal, _portal_profile) = driver.browser().await;
    sign_in(&portal, &server, "carol@acme.example").await;
    portal
        .goto(&format!("{}/portal/tickets/{number}", server.url))
        .await
        .unwrap();
    wait_for_text(&portal, "#rating-current", "Sorted within the hour").await;
    portal.close().await.unwrap();
}
