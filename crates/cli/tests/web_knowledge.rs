//! The knowledge base in a real browser (headless Chromium): an agent writes an article and
//! submits it, an admin publishes it and the portal shows it; a customer describing a
//! printer jam is offered the article while typing and leaves without opening a ticket; an
//! agent inserts an article's link into a reply and records that it solved the ticket.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fantoccini::Locator;
use opsdesk_testkit::browser::{
    Driver, chromedriver, click, screenshot, sign_in, text_at, type_into, wait_for_text,
};
use opsdesk_testkit::{Backend, TestServer};
use serde_json::json;

const JAM: &str = "Open tray 2 and pull the sheet out slowly, then print a test page.";

/// A published public article about paper jams in the Printer category; returns its id.
async fn published_jam_article(server: &TestServer) -> i64 {
    let admin = server.admin();
    let created = admin
        .post(
            "/api/v1/articles",
            json!({"title": "Clearing a printer paper jam", "body": JAM, "category": "Printer",
                   "audience": "public"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    let published = admin
        .patch(
            &format!("/api/v1/articles/{id}"),
            json!({"status": "published"}),
            None,
        )
        .await;
    assert_eq!(published.status, 200, "{}", published.text);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_writes_an_admin_publishes_and_the_portal_shows_it() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let driver = Driver::start(&binary).await;

    let (agent, _agent_profile) = driver.browser().await;
    sign_in(&agent, &server, "ann@msp.example").await;
    click(&agent, "nav a[href='/kb']").await;
    click(&agent, "#new-article").await;
    type_into(&agent, "#title", "Resetting the VPN client").await;
    type_into(
        &agent,
        "#body",
        "1. Quit the client.\n2. Delete the **profile** folder.\n3. Sign in again.",
    )
    .await;
    type_into(&agent, "#tags", "vpn, remote").await;
    click(&agent, "#audience-public").await;
    screenshot(&agent, "kb-article-form").await;
    click(&agent, "#save-article").await;
    wait_for_text(&agent, "#article-status", "Draft").await;
    let page = agent.current_url().await.unwrap();
    let id: i64 = page.path().rsplit('/').next().unwrap().parse().unwrap();
    assert!(
        agent.find(Locator::Css("#move-published")).await.is_err(),
        "an agent may not publish"
    );
    click(&agent, "#move-in_review").await;
    wait_for_text(&agent, "#article-status", "In review").await;

    let (customer, _customer_profile) = driver.browser().await;
    sign_in(&customer, &server, "carol@acme.example").await;
    customer
        .goto(&format!("{}/help", server.url))
        .await
        .unwrap();
    wait_for_text(&customer, "#articles", "No articles yet.").await;

    let (admin, _admin_profile) = driver.browser().await;
    sign_in(&admin, &server, "root@msp.example").await;
    admin
        .goto(&format!("{}/kb/{id}", server.url))
        .await
        .unwrap();
    click(&admin, "#move-published").await;
    wait_for_text(&admin, "#article-status", "Published").await;
    screenshot(&admin, "kb-article").await;

    customer
        .goto(&format!("{}/help", server.url))
        .await
        .unwrap();
    wait_for_text(&customer, "#articles", "Resetting the VPN client").await;
    click(&customer, &format!("li[data-article='{id}'] a")).await;
    wait_for_text(&customer, "#article-body", "Delete the profile folder").await;
    let bold = text_at(&customer, "#article-body strong").await;
    assert_eq!(bold, "profile", "the body is rendered from Markdown");

    // Anonymous visitors read public articles too.
    let (visitor, _visitor_profile) = driver.browser().await;
    visitor
        .goto(&format!("{}/help/{id}", server.url))
        .await
        .unwrap();
    wait_for_text(&visitor, "h1", "Resetting the VPN client").await;
    for browser in [agent, customer, admin, visitor] {
        browser.close().await.unwrap();
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_typing_printer_jam_reads_the_article_and_leaves_without_a_ticket() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let id = published_jam_article(&server).await;
    let driver = Driver::start(&binary).await;
    let (customer, _profile) = driver.browser().await;
    sign_in(&customer, &server, "carol@acme.example").await;
    customer
        .goto(&format!("{}/portal/new?category=Printer", server.url))
        .await
        .unwrap();
    type_into(&customer, "#title", "printer jam").await;
    wait_for_text(&customer, "#suggestions", "Clearing a printer paper jam").await;
    screenshot(&customer, "portal-suggestions").await;
    click(&customer, &format!("#suggestions a[href='/help/{id}']")).await;
    wait_for_text(&customer, "#article-body", "pull the sheet out slowly").await;
    click(&customer, "#helpful-yes").await;
    wait_for_text(&customer, "#feedback", "Thank you").await;

    let article = server.admin().get(&format!("/api/v1/articles/{id}")).await;
    assert_eq!(article.body["helpful"], 1, "{}", article.text);
    let tickets = server.admin().get("/api/v1/tickets").await;
    assert_eq!(tickets.body["items"], json!([]), "no ticket was opened");
    let misses = server.admin().get("/api/v1/articles/search-misses").await;
    assert_eq!(
        misses.body,
        json!([]),
        "typing is not logged as failed searches"
    );
    // The visit is kept, to be judged deflected if nothing follows within 7 days.
    let deflection = server.admin().get("/api/v1/portal/deflection").await;
    assert_eq!(
        deflection.body[0]["category"], "Printer",
        "{}",
        deflection.text
    );
    assert_eq!(deflection.body[0]["visits"], 1, "{}", deflection.text);
    assert_eq!(deflection.body[0]["waiting"], 1, "{}", deflection.text);
    customer.close().await.unwrap();
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_links_an_article_in_a_reply_and_records_that_it_solved_the_ticket() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let id = published_jam_article(&server).await;
    let number = server
        .incident(
            "Paper jam in the printer",
            "low",
            "medium",
            "carol@acme.example",
        )
        .await;
    let driver = Driver::start(&binary).await;
    let (agent, _profile) = driver.browser().await;
    sign_in(&agent, &server, "ann@msp.example").await;
    agent
        .goto(&format!("{}/tickets/{number}", server.url))
        .await
        .unwrap();
    wait_for_text(
        &agent,
        "#suggested-articles",
        "Clearing a printer paper jam",
    )
    .await;
    click(&agent, &format!("li[data-article='{id}'] .insert-link")).await;
    let body = agent
        .find(Locator::Css("#body"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(body, format!("[Clearing a printer paper jam](/help/{id})"));
    click(&agent, "#send").await;
    wait_for_text(&agent, "ol.timeline", "Clearing a printer paper jam").await;
    click(
        &agent,
        &format!("li[data-article='{id}'] form button[type='submit']"),
    )
    .await;
    wait_for_text(&agent, "#solved-by", "Clearing a printer paper jam").await;
    wait_for_text(&agent, "ol.timeline", "linked a knowledge article").await;
    let linked = server
        .admin()
        .get(&format!("/api/v1/tickets/{number}/articles"))
        .await;
    assert_eq!(linked.body[0]["id"], id, "{}", linked.text);
    agent.close().await.unwrap();
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_applies_the_assistants_suggestion_with_one_key() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let admin = server.admin();
    let created = admin
        .post("/api/v1/categories", json!({"name": "Network"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let created = admin
        .post("/api/v1/groups", json!({"name": "Network team", "tier": 2}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    for round in 0..12 {
        for (title, category, group) in [
            ("paper jam in the printer tray", "Printer", "Service Desk"),
            ("vpn connection keeps dropping", "Network", "Network team"),
        ] {
            let opened = admin
                .post(
                    "/api/v1/tickets",
                    json!({"type": "incident", "title": format!("{title} {round}"),
                           "impact": "low", "urgency": "low", "category": category,
                           "group": group, "requester": "carol@acme.example"}),
                )
                .await;
            assert_eq!(opened.status, 201, "{}", opened.text);
        }
    }
    let trained = admin.post("/api/v1/triage/train", json!({})).await;
    assert_eq!(trained.status, 200, "{}", trained.text);
    let number = server
        .incident(
            "The printer says paper jam",
            "low",
            "low",
            "carol@acme.example",
        )
        .await;

    let driver = Driver::start(&binary).await;
    let (agent, _profile) = driver.browser().await;
    sign_in(&agent, &server, "ann@msp.example").await;
    agent
        .goto(&format!("{}/tickets/{number}", server.url))
        .await
        .unwrap();
    wait_for_text(&agent, "#suggested-category", "Printer").await;
    agent
        .execute(
            "document.getElementById('assistant').scrollIntoView();",
            Vec::new(),
        )
        .await
        .unwrap();
    screenshot(&agent, "ticket-assistant").await;
    agent
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("a")
        .await
        .unwrap();
    wait_for_text(&agent, "ol.timeline", "as suggested by model").await;
    let ticket = admin.get(&format!("/api/v1/tickets/{number}")).await;
    assert_eq!(
        ticket.body["category"]["name"], "Printer",
        "{}",
        ticket.text
    );
    assert_eq!(
        ticket.body["group"]["name"], "Service Desk",
        "{}",
        ticket.text
    );
    assert!(
        agent.find(Locator::Css("#assistant")).await.is_err(),
        "nothing left to suggest"
    );
    agent.close().await.unwrap();
    server.stop();
}
