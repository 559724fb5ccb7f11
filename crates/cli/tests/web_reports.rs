//! The reports page in a real browser (headless Chromium): a figure's count is a link, and
//! following it lists exactly the tickets it counted. Screenshots go to docs/screenshots/.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use fantoccini::Locator;
use opsdesk_app::ManualClock;
use opsdesk_testkit::browser::{Driver, chromedriver, click, screenshot, sign_in, text_at};
use opsdesk_testkit::{Backend, TestServer};
use serde_json::json;

/// The ticket numbers the drill-down page lists.
async fn listed(browser: &fantoccini::Client) -> Vec<String> {
    let mut numbers = Vec::new();
    for link in browser
        .find_all(Locator::Css("table.report-tickets tbody td:first-child a"))
        .await
        .unwrap()
    {
        numbers.push(link.text().await.unwrap());
    }
    numbers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_figure_opens_the_list_of_exactly_the_tickets_it_counted() {
    let Some(binary) = chromedriver() else { return };
    let clock = ManualClock::starting_at("2026-03-02T09:00:00Z".parse().unwrap());
    let server = TestServer::service_desk_on_clock(Backend::Sqlite, Arc::new(clock.clone())).await;
    let admin = server.admin();
    // Three incidents on Monday 2 March; the printer one is resolved at 11:00. One more
    // the Friday before, outside the period.
    clock.set("2026-02-27T09:00:00Z".parse().unwrap());
    let earlier = server
        .incident("Wi-Fi drops", "low", "low", "carol@acme.example")
        .await;
    clock.set("2026-03-02T09:00:00Z".parse().unwrap());
    let mut counted = Vec::new();
    for title in ["Printer jam", "VPN slow", "Outlook crashes"] {
        counted.push(
            server
                .incident(title, "medium", "medium", "carol@acme.example")
                .await,
        );
    }
    clock.set("2026-03-02T11:00:00Z".parse().unwrap());
    let resolved = admin
        .patch(
            &format!("/api/v1/tickets/{}", counted[0]),
            json!({"status": "resolved", "resolution_code": "fixed"}),
            None,
        )
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    clock.set("2026-03-04T12:00:00Z".parse().unwrap());

    let driver = Driver::start(&binary).await;
    let (browser, _profile) = driver.browser().await;
    sign_in(&browser, &server, "root@msp.example").await;
    let report = format!(
        "{}/reports?from=2026-03-02&to=2026-03-04&tz=UTC",
        server.url
    );
    browser.goto(&report).await.unwrap();
    let created = "tr[data-figure='report.created'] td:nth-of-type(1)";
    assert_eq!(text_at(&browser, created).await, "3");
    assert_eq!(
        text_at(
            &browser,
            "tr[data-figure='report.created'] td:nth-of-type(2)"
        )
        .await,
        "1",
        "the Friday before"
    );
    assert!(
        browser.find(Locator::Css("svg.chart rect")).await.is_ok(),
        "the created and resolved chart is drawn"
    );
    screenshot(&browser, "reports").await;

    click(&browser, &format!("{created} a")).await;
    browser
        .wait()
        .for_element(Locator::Css("table.report-tickets"))
        .await
        .unwrap();
    assert_eq!(listed(&browser).await, counted);

    browser.goto(&report).await.unwrap();
    click(
        &browser,
        "tr[data-figure='report.resolved'] td:nth-of-type(1) a",
    )
    .await;
    browser
        .wait()
        .for_element(Locator::Css("table.report-tickets"))
        .await
        .unwrap();
    assert_eq!(listed(&browser).await, [counted[0].clone()]);

    browser.goto(&report).await.unwrap();
    click(
        &browser,
        "tr[data-figure='report.created'] td:nth-of-type(2) a",
    )
    .await;
    browser
        .wait()
        .for_element(Locator::Css("table.report-tickets"))
        .await
        .unwrap();
    assert_eq!(listed(&browser).await, [earlier]);
}
