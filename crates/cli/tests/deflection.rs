//! Answering before a ticket exists: the portal's suggestions are kept per visit and judged
//! seven days later (deflected, came back, or ended with a ticket), many alike reports in
//! one organization are said on the portal, and alike incidents opened together are
//! proposed as one major incident.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use opsdesk_app::ManualClock;
use opsdesk_testkit::{Backend, TestServer, dual_backend_test, page_csrf_token, page_text};
use serde_json::{Value, json};

fn visit(n: u32) -> String {
    format!("visit{n:0>20}")
}

dual_backend_test!(
    visits_that_showed_articles_are_judged_a_week_later,
    |backend: Backend| async move {
        let clock = ManualClock::starting_at("2026-03-02T10:00:00Z".parse().unwrap());
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        let created = admin
            .post(
                "/api/v1/articles",
                json!({"title": "Clearing a printer paper jam", "body": "Open tray 2.",
                       "audience": "public", "category": "Printer"}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let path = format!("/api/v1/articles/{}", created.body["id"]);
        let published = admin
            .patch(&path, json!({"status": "published"}), None)
            .await;
        assert_eq!(published.status, 200, "{}", published.text);

        let carol = server.client(&server.token_for("carol@acme.example").await);
        let typed = |n: u32| {
            format!(
                "/api/v1/portal/suggestions?q=printer%20jam&category=Printer&visit={}",
                visit(n)
            )
        };
        let show = |n: u32| {
            let (carol, path) = (carol.clone(), typed(n));
            async move {
                let shown = carol.get(&path).await;
                assert_eq!(shown.status, 200, "{}", shown.text);
                assert_eq!(
                    shown.body["articles"][0]["title"],
                    "Clearing a printer paper jam"
                );
                assert_eq!(shown.body["similar_reports"], 0);
            }
        };
        // Visit 1 leaves, and nothing follows within the week.
        show(1).await;
        show(1).await; // typing on in the same visit counts once
        let nothing = carol
            .get(&format!(
                "/api/v1/portal/suggestions?q=zebra%20quantum&visit={}",
                visit(9)
            ))
            .await;
        assert_eq!(nothing.body["articles"], json!([]));
        clock.advance(jiff::SignedDuration::from_hours(8 * 24));

        // Visit 2 ends with a ticket from the portal's form.
        show(2).await;
        let (browser, _) = server.web_session("carol@acme.example").await;
        let form = page_text(
            &browser,
            format!("{}/portal/new?category=Printer", server.url),
        )
        .await;
        assert!(form.contains("name=\"visit\""), "{form}");
        let csrf = page_csrf_token(&form);
        let sent = browser
            .post(format!("{}/portal/new", server.url))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("category", "Printer"),
                ("visit", visit(2).as_str()),
                ("title", "Printer jam that will not clear"),
                ("urgency", "medium"),
                ("answer_1", "E-04"),
            ])
            .send()
            .await
            .unwrap();
        assert!(
            sent.url().path().starts_with("/portal/tickets/"),
            "{}",
            sent.url()
        );
        // Visit 3 leaves, but the customer writes in two days later.
        show(3).await;
        clock.advance(jiff::SignedDuration::from_hours(48));
        server
            .incident("Printer still jams", "low", "low", "carol@acme.example")
            .await;

        let staff = server.client(&server.token_for("ann@msp.example").await);
        let early = staff.get("/api/v1/portal/deflection").await;
        assert_eq!(early.status, 200, "{}", early.text);
        assert_eq!(
            early.body,
            json!([{"category": "Printer", "visits": 3, "submitted": 1, "waiting": 1,
                    "came_back": 0, "deflected": 1, "rate": 0.5}])
        );
        clock.advance(jiff::SignedDuration::from_hours(6 * 24));
        let judged = staff.get("/api/v1/portal/deflection").await;
        assert_eq!(
            judged.body,
            json!([{"category": "Printer", "visits": 3, "submitted": 1, "waiting": 0,
                    "came_back": 1, "deflected": 1, "rate": 1.0 / 3.0}])
        );
        assert_eq!(carol.get("/api/v1/portal/deflection").await.status, 403);
        let page = page_text(
            &server.web_session("ann@msp.example").await.0,
            format!("{}/kb", server.url),
        )
        .await;
        assert!(
            page.contains("Deflection") && page.contains("33 %"),
            "{page}"
        );
    }
);

dual_backend_test!(
    many_alike_reports_are_said_on_the_portal_and_proposed_as_one_major_incident,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let mut numbers = Vec::new();
        for (title, requester) in [
            ("VPN is down", "carol@acme.example"),
            ("The VPN is down again", "carol@acme.example"),
            ("VPN down for everyone", "carol@acme.example"),
            ("Printer out of toner", "carol@acme.example"),
        ] {
            numbers.push(server.incident(title, "medium", "medium", requester).await);
        }
        let carol = server.client(&server.token_for("carol@acme.example").await);
        let said = carol.get("/api/v1/portal/suggestions?q=vpn%20down").await;
        assert_eq!(said.status, 200, "{}", said.text);
        assert_eq!(said.body["similar_reports"], 3, "{}", said.text);
        let gus = server.client(&server.token_for("gus@globex.example").await);
        let other = gus.get("/api/v1/portal/suggestions?q=vpn%20down").await;
        assert_eq!(
            other.body["similar_reports"], 0,
            "another organization's reports stay its own"
        );
        assert_eq!(
            carol
                .get("/api/v1/portal/suggestions?q=printer%20toner")
                .await
                .body["similar_reports"],
            0
        );

        let ann = server.client(&server.token_for("ann@msp.example").await);
        let alike = ann
            .get(&format!("/api/v1/tickets/{}/alike", numbers[0]))
            .await;
        assert_eq!(alike.status, 200, "{}", alike.text);
        let mut proposed: Vec<&str> = alike
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["number"].as_str().unwrap())
            .collect();
        proposed.sort();
        assert_eq!(proposed, [numbers[1].as_str(), numbers[2].as_str()]);
        assert_eq!(
            ann.get(&format!("/api/v1/tickets/{}/alike", numbers[3]))
                .await
                .body,
            json!([])
        );

        // On the ticket page, one click opens the major incident.
        let (browser, _) = server.web_session("ann@msp.example").await;
        let page = page_text(&browser, format!("{}/tickets/{}", server.url, numbers[0])).await;
        assert!(
            page.contains("Open a major incident for all of them"),
            "{page}"
        );
        let csrf = page_csrf_token(&page);
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str())];
        for number in &numbers[..3] {
            form.push(("tickets", number));
        }
        let sent = browser
            .post(format!(
                "{}/tickets/{}/major-incident",
                server.url, numbers[0]
            ))
            .form(&form)
            .send()
            .await
            .unwrap();
        let major = sent.url().path().trim_start_matches("/tickets/").to_owned();
        let major = admin.get(&format!("/api/v1/tickets/{major}")).await.body;
        assert_eq!(major["title"], "Major incident: VPN is down", "{major}");
        assert_eq!(major["priority"], "P1");
        let mut children: Vec<String> = major["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        children.sort();
        let mut expected: Vec<String> = numbers[..3].to_vec();
        expected.sort();
        assert_eq!(children, expected);
        assert_eq!(
            ann.get(&format!("/api/v1/tickets/{}/alike", numbers[0]))
                .await
                .body,
            Value::Array(Vec::new()),
            "grouped incidents are not proposed again"
        );
    }
);
