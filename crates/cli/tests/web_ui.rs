//! The web UI in a real browser (headless Chromium through chromedriver): a customer opens
//! a ticket through the portal's guided form, an agent answers and resolves it, output is
//! escaped, and organizations stay apart. Also, without a browser: CSRF on forms and the
//! security headers. Screenshots of the main pages go to docs/screenshots/.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use fantoccini::{Client, Locator};
use opsdesk_testkit::browser::{
    Driver, WAIT, chromedriver, click, reload_until, screenshot, sign_in, type_into, wait_for_text,
};
use opsdesk_testkit::{
    Backend, PASSWORD, TestServer, dual_backend_test, eventually, page_csrf_token, page_text,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_opens_agent_replies_customer_sees_agent_resolves() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let driver = Driver::start(&binary).await;
    let (customer, _customer_profile) = driver.browser().await;
    let (agent, _agent_profile) = driver.browser().await;

    // The customer opens a ticket: category first, then the category's questions.
    sign_in(&customer, &server, "carol@acme.example").await;
    wait_for_text(&customer, "h1", "Support portal").await;
    click(&customer, "#new-ticket").await;
    click(&customer, "input[value='Printer']").await;
    click(&customer, "#next").await;
    wait_for_text(&customer, "form.guided", "What error message do you see?").await;
    type_into(&customer, "#title", "Printer on floor 3 shows an error").await;
    let answers = customer
        .find_all(Locator::Css("form.guided textarea[name^='answer_']"))
        .await
        .unwrap();
    assert_eq!(answers.len(), 2, "both diagnostic questions are asked");
    answers[0].send_keys("E-502 paper feed").await.unwrap();
    answers[1].send_keys("New toner yesterday").await.unwrap();
    screenshot(&customer, "portal-new-ticket").await;
    click(&customer, "#submit-ticket").await;
    wait_for_text(&customer, ".description", "E-502 paper feed").await;
    let number = customer
        .find(Locator::Css(".number"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(number.starts_with("INC-"), "{number}");
    let stored = server
        .app
        .ticket(&opsdesk_app::Principal::system("test"), &number)
        .await
        .unwrap();
    assert!(
        stored
            .description
            .contains("### What error message do you see?\nE-502 paper feed")
    );
    assert!(
        stored
            .description
            .contains("### What changed recently?\nNew toner yesterday")
    );
    assert_eq!(stored.category.map(|c| c.name).as_deref(), Some("Printer"));

    // The agent finds it in the ticket list and replies.
    sign_in(&agent, &server, "ann@msp.example").await;
    wait_for_text(&agent, "table.tickets", &number).await;
    wait_for_text(&agent, "table.tickets", "Printer on floor 3 shows an error").await;
    screenshot(&agent, "queue").await;
    click(&agent, &format!("tr[data-number='{number}'] td.title a")).await;
    wait_for_text(&agent, ".description", "What changed recently?").await;
    type_into(
        &agent,
        "#body",
        "Please open tray 2 and remove the jammed sheet.",
    )
    .await;
    click(&agent, "#send").await;
    wait_for_text(&agent, ".timeline", "Please open tray 2").await;

    // The customer sees the reply; their own answer shows up live on the agent's page.
    customer.refresh().await.unwrap();
    wait_for_text(
        &customer,
        ".timeline",
        "Please open tray 2 and remove the jammed sheet.",
    )
    .await;
    screenshot(&customer, "portal-ticket").await;
    type_into(&customer, "#body", "Done, it prints again. Thanks!").await;
    click(&customer, "#send").await;
    wait_for_text(&customer, ".timeline", "Done, it prints again").await;
    let announced = eventually(WAIT, || async {
        agent
            .find(Locator::Css("#ticket-changed"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap_or(false)
    })
    .await;
    assert!(
        announced,
        "the agent's open ticket page announces the customer's reply"
    );

    // The agent resolves it.
    agent.refresh().await.unwrap();
    agent
        .find(Locator::Css("#status"))
        .await
        .unwrap()
        .select_by_value("resolved")
        .await
        .unwrap();
    click(&agent, "#save").await;
    wait_for_text(&agent, "#ticket-status", "Resolved").await;
    agent
        .goto(&format!("{}/tickets/{number}", server.url))
        .await
        .unwrap();
    wait_for_text(&agent, "#ticket-status", "Resolved").await;
    screenshot(&agent, "ticket").await;
    customer.refresh().await.unwrap();
    wait_for_text(&customer, "#ticket-status", "Resolved").await;
    customer
        .goto(&format!("{}/portal", server.url))
        .await
        .unwrap();
    wait_for_text(&customer, "table.tickets", &number).await;
    screenshot(&customer, "portal").await;

    // The admin's category page lists the questions the portal asked.
    let (admin, _admin_profile) = driver.browser().await;
    sign_in(&admin, &server, "root@msp.example").await;
    admin
        .goto(&format!("{}/admin/categories", server.url))
        .await
        .unwrap();
    wait_for_text(&admin, "main", "What error message do you see?").await;
    screenshot(&admin, "admin").await;

    for browser in [customer, agent, admin] {
        browser.close().await.unwrap();
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_a_title_shows_as_text() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let title = "<script>alert(1)</script>";
    let created = server
        .admin()
        .post(
            "/api/v1/tickets",
            json!({"type": "incident", "title": title, "description": "<img src=x onerror=alert(2)>",
                   "impact": "low", "urgency": "low", "requester": "carol@acme.example"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let number = created.body["number"].as_str().unwrap().to_owned();
    let driver = Driver::start(&binary).await;
    let (agent, _profile) = driver.browser().await;
    sign_in(&agent, &server, "ann@msp.example").await;
    wait_for_text(&agent, "table.tickets", title).await;
    agent
        .goto(&format!("{}/tickets/{number}", server.url))
        .await
        .unwrap();
    wait_for_text(&agent, "#ticket-title", title).await;
    wait_for_text(&agent, ".description", "<img src=x onerror=alert(2)>").await;
    assert!(
        agent.get_alert_text().await.is_err(),
        "no script ran, so no alert is open"
    );
    let source = agent.source().await.unwrap();
    assert!(source.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!source.contains("<script>alert(1)</script>"));
    agent.close().await.unwrap();
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_cannot_open_another_organizations_ticket() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let created = server
        .admin()
        .post(
            "/api/v1/tickets",
            json!({"type": "incident", "title": "Acme payroll server down", "impact": "high",
                   "urgency": "high", "requester": "carol@acme.example"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let number = created.body["number"].as_str().unwrap().to_owned();
    let driver = Driver::start(&binary).await;
    let (outsider, _profile) = driver.browser().await;
    sign_in(&outsider, &server, "gus@globex.example").await;
    for path in [
        format!("/portal/tickets/{number}"),
        format!("/tickets/{number}"),
    ] {
        outsider
            .goto(&format!("{}{path}", server.url))
            .await
            .unwrap();
        wait_for_text(
            &outsider,
            "main",
            "There is nothing here, or it is not yours to see.",
        )
        .await;
        let source = outsider.source().await.unwrap();
        assert!(
            !source.contains("Acme payroll server down"),
            "{path} leaked the title"
        );
    }
    // The agent console is staff-only: a customer is sent to the portal.
    outsider
        .goto(&format!("{}/tickets", server.url))
        .await
        .unwrap();
    wait_for_text(&outsider, "h1", "Support portal").await;
    let listed = outsider.source().await.unwrap();
    assert!(!listed.contains("Acme payroll server down"));
    outsider.close().await.unwrap();
    server.stop();
}

dual_backend_test!(
    files_sent_with_a_reply_reach_the_customer_but_a_notes_do_not,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let number = server
            .admin()
            .post(
                "/api/v1/tickets",
                json!({"type": "incident", "title": "Printer jams", "impact": "low",
                       "urgency": "low", "requester": "carol@acme.example"}),
            )
            .await
            .body["number"]
            .as_str()
            .unwrap()
            .to_owned();
        let (agent, token) = server.web_session("ann@msp.example").await;
        let send = |visibility: &'static str, filename: &'static str, content: &'static [u8]| {
            let form = reqwest::multipart::Form::new()
                .text("csrf_token", token.clone())
                .text("visibility", visibility)
                .text("body", format!("See **{filename}**"))
                .part(
                    "files",
                    reqwest::multipart::Part::bytes(content)
                        .file_name(filename)
                        .mime_str("text/plain")
                        .unwrap(),
                )
                // An input left empty sends an empty part: no file.
                .part(
                    "files",
                    reqwest::multipart::Part::bytes(Vec::new()).file_name(""),
                );
            agent
                .post(format!("{}/tickets/{number}/comment", server.url))
                .multipart(form)
                .send()
        };
        assert!(
            send("public", "steps.txt", b"1. open tray")
                .await
                .unwrap()
                .status()
                .is_success()
        );
        assert!(
            send("note", "internal.txt", b"vendor case 42")
                .await
                .unwrap()
                .status()
                .is_success()
        );
        let files = server
            .admin()
            .get(&format!("/api/v1/tickets/{number}/attachments"))
            .await;
        assert_eq!(files.body.as_array().unwrap().len(), 2, "{}", files.text);

        let carol = server
            .signed_in_client("carol@acme.example", PASSWORD)
            .await;
        let page = page_text(&carol, format!("{}/portal/tickets/{number}", server.url)).await;
        assert!(
            page.contains("<strong>steps.txt</strong>"),
            "Markdown renders: {page}"
        );
        assert!(page.contains("steps.txt"), "{page}");
        assert!(
            !page.contains("internal.txt"),
            "a note's file stays with staff"
        );
        let href = page
            .split("href=\"/api/v1/attachments/")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a download link");
        let download = carol
            .get(format!("{}/api/v1/attachments/{href}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(download.status(), 200);
        assert_eq!(download.bytes().await.unwrap().as_ref(), b"1. open tray");
        server.stop();
    }
);

dual_backend_test!(
    an_admin_reprocesses_quarantined_mail_and_sees_the_jobs,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let raw = "Message-ID: <first-1@initech.example>\r\nFrom: Peter <peter@initech.example>\r\nSubject: <b>TPS</b> reports fail\r\n\r\nThe cover sheet is missing.\r\n";
        let held = server
            .app
            .ingest_mail(raw.as_bytes().to_vec())
            .await
            .unwrap();
        assert_eq!(held.status, "quarantined", "{held:?}");
        let (admin, token) = server.web_session("admin@example.com").await;
        let page = page_text(&admin, format!("{}/admin/quarantine", server.url)).await;
        assert!(
            page.contains("&#60;b&#62;TPS&#60;/b&#62; reports fail"),
            "{page}"
        );
        let reprocess = format!("{}/admin/quarantine/{}/reprocess", server.url, held.mail_id);
        let forged = admin
            .post(&reprocess)
            .form(&[("csrf_token", "nope")])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);
        let still = admin
            .post(&reprocess)
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert!(still.text().await.unwrap().contains("Still quarantined"));

        let initech = server.organization("Initech").await;
        let mapped = server
            .admin()
            .patch(
                &format!("/api/v1/organizations/{initech}"),
                json!({"domain": "initech.example"}),
                None,
            )
            .await;
        assert_eq!(mapped.status, 200, "{}", mapped.text);
        let done = admin
            .post(&reprocess)
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        let done = done.text().await.unwrap();
        assert!(done.contains("Opened a ticket"), "{done}");
        assert!(done.contains("The quarantine is empty."), "{done}");

        // A second message nobody needs is discarded: out of the quarantine, still on record.
        let spam = "Message-ID: <offer-1@spam.example>\r\nFrom: deals@spam.example\r\nSubject: Offer\r\n\r\nBuy now\r\n";
        let spam = server
            .app
            .ingest_mail(spam.as_bytes().to_vec())
            .await
            .unwrap();
        assert_eq!(spam.status, "quarantined");
        let discard = format!("{}/admin/quarantine/{}/discard", server.url, spam.mail_id);
        let discarded = admin
            .post(&discard)
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert!(
            discarded
                .text()
                .await
                .unwrap()
                .contains("The quarantine is empty.")
        );
        let again = server
            .admin()
            .post(
                &format!("/api/v1/mail/quarantine/{}/discard", spam.mail_id),
                json!({}),
            )
            .await;
        assert_eq!(again.status, 409, "{}", again.text);
        let original = server
            .admin()
            .get(&format!("/api/v1/mail/{}/original", spam.mail_id))
            .await;
        assert_eq!(original.status, 200, "the message stays on record");

        let jobs = page_text(&admin, format!("{}/admin/jobs", server.url)).await;
        assert!(jobs.contains("Background jobs"), "{jobs}");
        let (agent, _) = server.web_session("ann@msp.example").await;
        for path in ["/admin/quarantine", "/admin/jobs"] {
            let refused = agent
                .get(format!("{}{path}", server.url))
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status(), 403, "{path}");
        }
        server.stop();
    }
);

dual_backend_test!(
    an_admin_edits_an_organization_with_its_priority_matrix,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let acme = server.admin().get("/api/v1/organizations").await.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "Acme")
            .unwrap()
            .clone();
        let id = acme["id"].as_i64().unwrap();
        let (admin, token) = server.web_session("admin@example.com").await;
        let url = format!("{}/admin/organizations/{id}", server.url);
        let form = page_text(&admin, url.clone()).await;
        assert!(form.contains("name=\"matrix.high/high\""), "{form}");
        let version = form
            .split("name=\"version\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
        let levels = ["low", "medium", "high"];
        let mut fields: Vec<(String, String)> = vec![
            ("csrf_token".into(), token.clone()),
            ("version".into(), version.clone()),
            ("name".into(), "Acme Corp".into()),
            ("domain".into(), "acme.example".into()),
            ("customers_see_all".into(), "on".into()),
        ];
        // One cell alone is refused: a matrix has all nine.
        let mut partial = fields.clone();
        partial.push(("matrix.high/high".into(), "P1".into()));
        let refused = admin.post(&url).form(&partial).send().await.unwrap();
        assert_eq!(refused.status(), 422);
        let refused = refused.text().await.unwrap();
        assert!(refused.contains("class=\"field-error\""), "{refused}");
        assert!(
            refused.contains("value=\"Acme Corp\""),
            "what was typed is kept"
        );
        for impact in levels {
            for urgency in levels {
                fields.push((format!("matrix.{impact}/{urgency}"), "P2".into()));
            }
        }
        let saved = admin.post(&url).form(&fields).send().await.unwrap();
        assert!(saved.status().is_success(), "{}", saved.status());
        let after = server
            .admin()
            .get(&format!("/api/v1/organizations/{id}"))
            .await;
        assert_eq!(after.body["name"], "Acme Corp", "{}", after.text);
        assert_eq!(after.body["customers_see_all"], true);
        assert_eq!(after.body["priority_matrix"]["low/low"], "P2");
        // The same form again is a save over a newer version.
        let stale = admin.post(&url).form(&fields).send().await.unwrap();
        assert_eq!(stale.status(), 422);
        assert!(stale.text().await.unwrap().contains("newer version"));
        let (agent, _) = server.web_session("ann@msp.example").await;
        assert_eq!(agent.get(&url).send().await.unwrap().status(), 403);
        server.stop();
    }
);

dual_backend_test!(
    an_admin_adds_and_removes_a_webhook_in_the_ui,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let (admin, token) = server.web_session("admin@example.com").await;
        let url = format!("{}/admin/webhooks", server.url);
        let wrong = admin
            .post(&url)
            .form(&[
                ("csrf_token", token.as_str()),
                ("url", "ftp://x"),
                ("events", "*"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 422);
        let added = admin
            .post(&url)
            .form(&[
                ("csrf_token", token.as_str()),
                ("url", "https://hooks.example.com/opsdesk"),
                ("events", "ticket.created, user.updated"),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(added.contains("id=\"webhook-secret\""), "{added}");
        let hooks = server.admin().get("/api/v1/webhooks").await;
        let hook = &hooks.body.as_array().unwrap()[0];
        assert_eq!(hook["events"], json!(["ticket.created", "user.updated"]));
        let listed = page_text(&admin, url.clone()).await;
        assert!(listed.contains("https://hooks.example.com/opsdesk"));
        assert!(
            !listed.contains("webhook-secret"),
            "the secret is shown once"
        );
        let deleted = admin
            .post(format!("{url}/{}/delete", hook["id"]))
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert!(deleted.status().is_success());
        assert!(
            server
                .admin()
                .get("/api/v1/webhooks")
                .await
                .body
                .as_array()
                .unwrap()
                .is_empty()
        );
        server.stop();
    }
);

dual_backend_test!(
    an_admin_edits_an_sla_policy_and_the_ticket_follows,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let (admin, token) = server.web_session("admin@example.com").await;
        let created = admin
            .post(format!("{}/admin/sla/policies/new", server.url))
            .form(&[
                ("csrf_token", token.as_str()),
                ("name", "Gold"),
                ("position", "1"),
                ("calendar_id", "1"),
                ("priorities", "P5"),
                ("response.P5", "30"),
                ("resolution.P5", "oops"),
                ("warnings", "50"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 422, "a target that is not a number");
        let created = admin
            .post(format!("{}/admin/sla/policies/new", server.url))
            .form(&[
                ("csrf_token", token.as_str()),
                ("name", "Gold"),
                ("position", "1"),
                ("calendar_id", "1"),
                ("priorities", "P5"),
                ("response.P5", "30"),
                ("resolution.P5", "120"),
                ("warnings", "50"),
                ("pause_on", "pending:customer"),
            ])
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success(), "{}", created.status());
        let overview = created.text().await.unwrap();
        assert!(overview.contains("data-policy=\"Gold\""), "{overview}");
        let ticket = server
            .admin()
            .post(
                "/api/v1/tickets",
                json!({"type": "incident", "title": "Slow wiki", "impact": "low",
                       "urgency": "low", "requester": "carol@acme.example"}),
            )
            .await;
        assert_eq!(ticket.body["sla"]["policy"], "Gold", "{}", ticket.text);
        let first_due: jiff::Timestamp = ticket.body["sla"]["response_due_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();

        let policies = server.admin().get("/api/v1/sla-policies").await;
        let gold = policies
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["spec"]["name"] == "Gold")
            .unwrap()
            .clone();
        let url = format!("{}/admin/sla/policies/{}", server.url, gold["id"]);
        let form = page_text(&admin, url.clone()).await;
        assert!(
            form.contains("name=\"response.P5\" id=\"response-P5\" value=\"30\""),
            "{form}"
        );
        let version = form
            .split("name=\"version\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
        let saved = admin
            .post(&url)
            .form(&[
                ("csrf_token", token.as_str()),
                ("version", version.as_str()),
                ("name", "Gold"),
                ("position", "1"),
                ("calendar_id", "1"),
                ("priorities", "P5"),
                ("response.P5", "90"),
                ("resolution.P5", "240"),
                ("warnings", "50, 80"),
                ("pause_on", "pending:customer"),
            ])
            .send()
            .await
            .unwrap();
        assert!(saved.status().is_success(), "{}", saved.status());
        // The ticket's targets follow the policy from its next change.
        let number = ticket.body["number"].as_str().unwrap();
        let touched = server
            .admin()
            .patch(
                &format!("/api/v1/tickets/{number}"),
                json!({"urgency": "low", "impact": "medium"}),
                None,
            )
            .await;
        assert_eq!(touched.status, 200, "{}", touched.text);
        let touched = server
            .admin()
            .patch(
                &format!("/api/v1/tickets/{number}"),
                json!({"impact": "low"}),
                None,
            )
            .await;
        let due: jiff::Timestamp = touched.body["sla"]["response_due_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(due > first_due, "{due} after {first_due}");
        let page = page_text(&admin, format!("{}/admin/sla", server.url)).await;
        assert!(page.contains("Gold"));
        server.stop();
    }
);

dual_backend_test!(
    an_admin_keeps_a_business_calendar_in_a_form,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let (admin, token) = server.web_session("admin@example.com").await;
        let new = format!("{}/admin/sla/calendars/new", server.url);
        let mut fields = vec![
            ("csrf_token", token.clone()),
            ("name", "London office".to_owned()),
            ("timezone", "Mars/Olympus".to_owned()),
            ("start.monday", "09:00".to_owned()),
            ("end.monday", "17:30".to_owned()),
            ("holidays", "12-25\n2026-12-28".to_owned()),
        ];
        let refused = admin.post(&new).form(&fields).send().await.unwrap();
        assert_eq!(refused.status(), 422);
        assert!(
            refused.text().await.unwrap().contains("value=\"17:30\""),
            "what was typed is kept"
        );
        fields[2].1 = "Europe/London".to_owned();
        let saved = admin.post(&new).form(&fields).send().await.unwrap();
        assert!(
            saved
                .text()
                .await
                .unwrap()
                .contains("data-calendar=\"London office\"")
        );
        let calendars = server.admin().get("/api/v1/calendars").await;
        let office = calendars
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "London office")
            .unwrap()
            .clone();
        assert_eq!(office["spec"]["timezone"], "Europe/London", "{office}");
        assert_eq!(office["spec"]["holidays"], json!(["12-25", "2026-12-28"]));
        let form = page_text(
            &admin,
            format!("{}/admin/sla/calendars/{}", server.url, office["id"]),
        )
        .await;
        assert!(
            form.contains("name=\"end.monday\" value=\"17:30\""),
            "{form}"
        );
        server.stop();
    }
);

dual_backend_test!(
    the_portal_links_the_customers_status_page,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let client = server
            .signed_in_client("carol@acme.example", PASSWORD)
            .await;
        let home = page_text(&client, format!("{}/portal", server.url)).await;
        let link = home
            .split("href=\"/status/")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the portal links a status page");
        let status = page_text(&client, format!("{}/status/{link}", server.url)).await;
        assert!(status.contains("Acme"), "{status}");
        server.stop();
    }
);

dual_backend_test!(
    forms_need_the_csrf_token_and_pages_carry_a_content_security_policy,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let (client, token) = server.web_session("carol@acme.example").await;
        let fields = [
            ("category", "Printer"),
            ("title", "Toner low"),
            ("urgency", "low"),
            ("description", "Light prints"),
        ];
        let forged = client
            .post(format!("{}/portal/new", server.url))
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);
        let mut with_wrong = fields.to_vec();
        with_wrong.push(("csrf_token", "not-the-token"));
        let wrong = client
            .post(format!("{}/portal/new", server.url))
            .form(&with_wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 403);

        // The guided form insists on required answers and keeps what was typed.
        let mut unanswered = fields.to_vec();
        unanswered.push(("csrf_token", &token));
        let refused = client
            .post(format!("{}/portal/new", server.url))
            .form(&unanswered)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 422);
        let page = refused.text().await.unwrap();
        assert!(page.contains("please answer this question"));
        assert!(page.contains("value=\"Toner low\""));

        let page = client
            .get(format!("{}/portal", server.url))
            .send()
            .await
            .unwrap();
        let policy = page
            .headers()
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains("default-src 'self'"), "{policy}");
        assert!(policy.contains("script-src 'self'"), "{policy}");
        let html = page.text().await.unwrap();
        assert!(!html.contains("<script>"), "no inline script");
        assert!(html.contains("<script src=\"/static/app.js\" defer></script>"));

        // Signing in needs the sign-in form's own token, so no other site can sign people in.
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let credentials = [("email", "carol@acme.example"), ("password", PASSWORD)];
        let forged_login = browser
            .post(format!("{}/login", server.url))
            .form(&credentials)
            .send()
            .await
            .unwrap();
        assert_eq!(forged_login.status(), 403);
        let form = page_text(&browser, format!("{}/login", server.url)).await;
        let login_token = page_csrf_token(&form);
        let mut with_token = credentials.to_vec();
        with_token.push(("csrf_token", &login_token));
        let login = browser
            .post(format!("{}/login", server.url))
            .form(&with_token)
            .send()
            .await
            .unwrap();
        let cookie = login
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(login.status(), 303);
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        server.stop();
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_see_each_other_replying() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    server.user("bob@msp.example", "agent", None, &[]).await;
    let created = server
        .admin()
        .post(
            "/api/v1/tickets",
            json!({"type": "incident", "title": "VPN drops every hour", "impact": "medium",
                   "urgency": "medium", "requester": "carol@acme.example"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let number = created.body["number"].as_str().unwrap().to_owned();
    let driver = Driver::start(&binary).await;
    let (ann, _ann_profile) = driver.browser().await;
    let (bob, _bob_profile) = driver.browser().await;
    for (browser, email) in [(&ann, "ann@msp.example"), (&bob, "bob@msp.example")] {
        sign_in(browser, &server, email).await;
        browser
            .goto(&format!("{}/tickets/{number}", server.url))
            .await
            .unwrap();
        wait_for_text(browser, "#ticket-title", "VPN drops every hour").await;
    }
    let warned = eventually(WAIT, || async {
        // Typing announces the reply; keep typing until Ann's page has its stream open.
        type_into(&bob, "#body", "Checking the tunnel logs").await;
        ann.find(Locator::Css("#replying"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap_or(false)
    })
    .await;
    assert!(warned, "Ann is warned that Bob is replying too");
    wait_for_text(&ann, "#replying-who", "bob@msp.example").await;
    let own = bob
        .find(Locator::Css("#replying"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap();
    assert!(!own, "nobody is warned about themselves");
    for browser in [ann, bob] {
        browser.close().await.unwrap();
    }
    server.stop();
}

/// The next server-sent event's name and data.
async fn next_event(
    response: &mut reqwest::Response,
    buffer: &mut String,
) -> (String, serde_json::Value) {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                return (event, serde_json::from_str(&data).unwrap());
            }
            continue;
        }
        let chunk = tokio::time::timeout(WAIT, response.chunk())
            .await
            .expect("an event within the timeout")
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

dual_backend_test!(
    customers_live_updates_skip_internal_notes,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let system = opsdesk_app::Principal::system("test");
        let created = server
            .admin()
            .post(
                "/api/v1/tickets",
                json!({"type": "incident", "title": "Mail bounces", "impact": "low",
                   "urgency": "low", "requester": "carol@acme.example"}),
            )
            .await;
        let number = created.body["number"].as_str().unwrap().to_owned();
        let (customer, _) = server.web_session("carol@acme.example").await;
        let mut events = customer
            .get(format!("{}/events?ticket={number}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(events.status(), 200);
        let mut buffer = String::new();
        server
            .app
            .add_comment(
                &system,
                &number,
                opsdesk_app::tickets::NewComment {
                    body: "Customer's MX record looks wrong".into(),
                    public: false,
                    time_spent_minutes: None,
                },
            )
            .await
            .unwrap();
        server
            .app
            .update_ticket(
                &system,
                &number,
                None,
                opsdesk_app::tickets::TicketPatch {
                    status: Some("open".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        // Events arrive in order: had the note been announced, it would come first.
        let (event, data) = next_event(&mut events, &mut buffer).await;
        assert_eq!(event, "changed");
        assert_eq!(data["number"], number.as_str());
        assert_eq!(data["kind"], "updated");

        // Another organization's customer cannot listen to this ticket at all.
        let (outsider, _) = server.web_session("gus@globex.example").await;
        let refused = outsider
            .get(format!("{}/events?ticket={number}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 404);
        // Nor to the agents' stream of every change.
        let all = outsider
            .get(format!("{}/events", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(all.status(), 403);
        server.stop();
    }
);

dual_backend_test!(
    admins_keep_the_diagnostic_questions,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let listed = admin
            .get("/api/v1/category-questions?category=Printer")
            .await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        let questions = listed.body.as_array().unwrap().clone();
        assert_eq!(questions.len(), 2);
        assert_eq!(questions[0]["question"], "What error message do you see?");
        assert_eq!(questions[0]["required"], true);
        assert_eq!(questions[1]["position"], 2);

        let customer = server.client(&server.token_for("carol@acme.example").await);
        let refused = customer
            .post(
                "/api/v1/category-questions",
                json!({"category": "Printer", "question": "Why?"}),
            )
            .await;
        assert_eq!(refused.status, 403, "{}", refused.text);
        let unknown = admin
            .post(
                "/api/v1/category-questions",
                json!({"category": "Nope", "question": "Why?"}),
            )
            .await;
        assert_eq!(unknown.status, 422, "{}", unknown.text);
        let empty = admin
            .post(
                "/api/v1/category-questions",
                json!({"category": "Printer", "question": "  "}),
            )
            .await;
        assert_eq!(empty.status, 422, "{}", empty.text);

        let id = questions[1]["id"].as_i64().unwrap();
        let deleted = admin
            .delete(&format!("/api/v1/category-questions/{id}"))
            .await;
        assert_eq!(deleted.status, 204, "{}", deleted.text);
        let again = admin
            .delete(&format!("/api/v1/category-questions/{id}"))
            .await;
        assert_eq!(again.status, 404, "{}", again.text);
        let audit = server
            .app
            .audit_entries(
                &opsdesk_app::Principal::system("test"),
                0,
                500,
                Some("category_question"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(audit.len(), 3, "two created, one deleted");
        server.stop();
    }
);

dual_backend_test!(
    saving_over_a_newer_change_is_refused,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let created = server
            .admin()
            .post(
                "/api/v1/tickets",
                json!({"type": "incident", "title": "Disk almost full", "impact": "low",
                   "urgency": "low", "requester": "carol@acme.example"}),
            )
            .await;
        let number = created.body["number"].as_str().unwrap().to_owned();
        let (agent, token) = server.web_session("ann@msp.example").await;
        let page = page_text(&agent, format!("{}/tickets/{number}", server.url)).await;
        let version = page
            .split("name=\"version\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
        // Someone else raises the urgency after the page was shown.
        server
            .app
            .update_ticket(
                &opsdesk_app::Principal::system("test"),
                &number,
                None,
                opsdesk_app::tickets::TicketPatch {
                    urgency: Some("high".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let save = |version: String| {
            let (agent, token, url) = (agent.clone(), token.clone(), server.url.clone());
            let number = number.clone();
            async move {
                agent
                    .post(format!("{url}/tickets/{number}/update"))
                    .form(&[
                        ("csrf_token", token.as_str()),
                        ("version", version.as_str()),
                        ("status", "open"),
                        ("impact", "low"),
                        ("urgency", "low"),
                    ])
                    .send()
                    .await
                    .unwrap()
            }
        };
        let stale = save(version).await;
        // The same status the API gives a stale `If-Match`: one table for both channels.
        assert_eq!(stale.status(), 412);
        assert!(
            stale
                .text()
                .await
                .unwrap()
                .contains("Someone else changed this")
        );
        let current = server
            .app
            .ticket(&opsdesk_app::Principal::system("test"), &number)
            .await
            .unwrap();
        assert_eq!(current.urgency.as_str(), "high", "the newer change stands");
        let fresh = save(current.version.to_string()).await;
        assert_eq!(fresh.status(), 200, "saved and shown again");
        let saved = server
            .app
            .ticket(&opsdesk_app::Principal::system("test"), &number)
            .await
            .unwrap();
        assert_eq!(saved.status.as_str(), "open");
        assert_eq!(saved.urgency.as_str(), "low");
        server.stop();
    }
);

/// The SLA countdown of `clock` (`response` or `resolution`) inside the element at `scope`:
/// its state (the CSS class after `sla-`) and its words.
async fn countdown(browser: &Client, scope: &str, clock: &str) -> (String, String) {
    let label = if clock == "response" {
        "Response:"
    } else {
        "Resolution:"
    };
    for element in browser
        .find_all(Locator::Css(&format!("{scope} .sla")))
        .await
        .unwrap()
    {
        let text = element.text().await.unwrap();
        if let Some(rest) = text.strip_prefix(label) {
            let class = element.attr("class").await.unwrap().unwrap_or_default();
            let state = class
                .split(' ')
                .find_map(|c| c.strip_prefix("sla-"))
                .unwrap_or_default()
                .to_owned();
            return (state, rest.trim().to_owned());
        }
    }
    panic!("no {clock} countdown in {scope}");
}

/// A policy, tried first, for one priority, with targets in seconds and a warning at half.
async fn policy_for(server: &TestServer, priority: &str, response: i64, resolution: i64) {
    let created = server
        .admin()
        .post(
            "/api/v1/sla-policies",
            json!({"position": 1, "calendar_id": 1, "spec": {
                "name": format!("Tight {priority}"), "priorities": [priority],
                "targets": {priority: {"response_seconds": response, "resolution_seconds": resolution}},
                "warnings": [50]}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_countdowns_show_breaches_in_red_and_tick_without_a_reload() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    // P4 (low impact, medium urgency) breaches at once; P5 (low, low) has a minute to reply.
    policy_for(&server, "P4", 1, 2).await;
    policy_for(&server, "P5", 60, 3600).await;
    let driver = Driver::start(&binary).await;
    let (agent, _profile) = driver.browser().await;
    sign_in(&agent, &server, "ann@msp.example").await;

    let open = |title: &str, urgency: &str| {
        json!({"type": "incident", "title": title, "impact": "low", "urgency": urgency,
               "requester": "carol@acme.example"})
    };
    let late = server
        .admin()
        .post(
            "/api/v1/tickets",
            open("Backups failed overnight", "medium"),
        )
        .await;
    assert_eq!(late.body["priority"], "P4", "{}", late.text);
    let late = late.body["number"].as_str().unwrap().to_owned();
    let soon = server
        .admin()
        .post("/api/v1/tickets", open("Shared drive is slow", "low"))
        .await;
    assert_eq!(soon.body["priority"], "P5", "{}", soon.text);
    let soon = soon.body["number"].as_str().unwrap().to_owned();
    let overdue = eventually(WAIT, || async {
        let ticket = server.admin().get(&format!("/api/v1/tickets/{late}")).await;
        ticket.body["sla"]["remaining_business_seconds"]["resolution"]
            .as_i64()
            .is_some_and(|left| left < 0)
    })
    .await;
    assert!(overdue, "the 2-second resolution target runs out");

    // The list: red and worded "breached …" for the late ticket, on track for the other.
    agent
        .goto(&format!("{}/tickets", server.url))
        .await
        .unwrap();
    wait_for_text(&agent, "table.tickets", &soon).await;
    let late_row = format!("tr[data-number='{late}']");
    let soon_row = format!("tr[data-number='{soon}']");
    for clock in ["response", "resolution"] {
        let (state, text) = countdown(&agent, &late_row, clock).await;
        assert_eq!(state, "breached", "{clock}: {text}");
        assert!(
            text.starts_with("breached ") && text.ends_with(" ago"),
            "{text}"
        );
    }
    let (state, text) = countdown(&agent, &soon_row, "response").await;
    assert_eq!((state.as_str(), text.as_str()), ("on_track", "1 m left"));
    let (state, text) = countdown(&agent, &soon_row, "resolution").await;
    assert_eq!(state, "on_track");
    assert!(text.ends_with(" m left"), "{text}");
    let breached_colour = agent
        .find(Locator::Css(&format!("{late_row} .sla-breached")))
        .await
        .unwrap()
        .css_value("color")
        .await
        .unwrap();
    assert_eq!(breached_colour, "rgba(164, 22, 26, 1)", "the red of --red");
    screenshot(&agent, "queue-sla").await;

    // The script ticks: within two 30-second ticks the P5 reply clock passes its 50 %
    // warning, and the page was not reloaded (the marker set now survives).
    agent
        .execute("window.notReloaded = true;", Vec::new())
        .await
        .unwrap();
    let warned = eventually(Duration::from_secs(75), || async {
        countdown(&agent, &soon_row, "response").await.0 != "on_track"
    })
    .await;
    let (state, text) = countdown(&agent, &soon_row, "response").await;
    assert!(warned, "still {state}: {text}");
    assert!(
        (state == "warning" && text.ends_with("left, due soon"))
            || (state == "breached" && text.starts_with("breached")),
        "{state}: {text}"
    );
    let marker = agent
        .execute("return window.notReloaded === true;", Vec::new())
        .await
        .unwrap();
    assert_eq!(
        marker,
        json!(true),
        "the countdown changed without a reload"
    );

    // The ticket page shows the same clocks.
    agent
        .goto(&format!("{}/tickets/{late}", server.url))
        .await
        .unwrap();
    wait_for_text(&agent, "#ticket-sla", "Tight P4").await;
    let (state, text) = countdown(&agent, "#ticket-sla", "resolution").await;
    assert_eq!(state, "breached");
    assert!(text.starts_with("breached "), "{text}");
    agent.close().await.unwrap();
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_changes_a_users_role_through_the_form() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let driver = Driver::start(&binary).await;
    let (admin, _profile) = driver.browser().await;
    sign_in(&admin, &server, "root@msp.example").await;
    admin
        .goto(&format!("{}/admin/users", server.url))
        .await
        .unwrap();
    click(&admin, "tr[data-user='ann@msp.example'] a").await;
    wait_for_text(&admin, "h1", "Edit user: ann@msp.example").await;
    admin
        .find(Locator::Css("#role"))
        .await
        .unwrap()
        .select_by_value("admin")
        .await
        .unwrap();
    let name = admin.find(Locator::Css("#name")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("Ann Agent").await.unwrap();
    screenshot(&admin, "admin-user").await;
    click(&admin, "#save-user").await;
    wait_for_text(&admin, "tr[data-user='ann@msp.example']", "Ann Agent").await;
    wait_for_text(&admin, "tr[data-user='ann@msp.example']", "Admin").await;

    let users = server.admin().get("/api/v1/users?limit=500").await;
    let ann = users.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "ann@msp.example")
        .unwrap()
        .clone();
    assert_eq!(ann["role"], "admin", "the change is stored");
    assert_eq!(ann["name"], "Ann Agent");

    // The audit log records who changed the user, before and after.
    let audit = server
        .app
        .audit_entries(
            &opsdesk_app::Principal::system("test"),
            0,
            500,
            Some("user"),
            None,
        )
        .await
        .unwrap();
    let ann_id = ann["id"].as_i64().unwrap().to_string();
    let entry = audit
        .iter()
        .find(|e| e.action == "updated" && e.entity_id == ann_id)
        .expect("an audit entry for the change");
    assert!(entry.actor.contains("root@msp.example"), "{}", entry.actor);
    assert_eq!(entry.before.as_ref().unwrap()["role"], "agent");
    assert_eq!(entry.after.as_ref().unwrap()["role"], "admin");
    admin
        .goto(&format!("{}/admin/audit", server.url))
        .await
        .unwrap();
    wait_for_text(&admin, "table.audit", "root@msp.example").await;
    wait_for_text(&admin, "table.audit", "updated").await;
    admin.close().await.unwrap();
    server.stop();
}

dual_backend_test!(
    the_user_form_needs_its_token_and_shows_mistakes_next_to_the_field,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let (ann, root) = (
            server.user_id("ann@msp.example").await,
            server.user_id("root@msp.example").await,
        );
        let (client, token) = server.web_session("root@msp.example").await;
        let post = |id: i64, fields: Vec<(&'static str, String)>| {
            let (client, url) = (client.clone(), server.url.clone());
            async move {
                let response = client
                    .post(format!("{url}/admin/users/{id}"))
                    .form(&fields)
                    .send()
                    .await
                    .unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        };
        let fields = |token: &str, role: &str, organization: &str| {
            vec![
                ("csrf_token", token.to_owned()),
                ("name", "Somebody".to_owned()),
                ("role", role.to_owned()),
                ("organization", organization.to_owned()),
                ("active", "on".to_owned()),
            ]
        };

        let (status, _) = post(ann, fields("forged", "admin", "")).await;
        assert_eq!(status, 403, "a form without the session's token is refused");

        // A customer needs an organization: the message sits next to that field.
        let (status, page) = post(ann, fields(&token, "customer", "")).await;
        assert_eq!(status, 422);
        assert!(
            page.contains(
                "<span class=\"field-error\" id=\"organization-error\">a customer must belong to an organization</span>"
            ),
            "{page}"
        );
        assert!(page.contains("aria-describedby=\"organization-error\""));
        assert!(
            page.contains("value=\"Somebody\""),
            "what was typed is kept"
        );

        // Admins cannot demote themselves; the reason is shown at the role.
        let (status, page) = post(root, fields(&token, "agent", "")).await;
        assert_eq!(status, 422);
        assert!(page.contains("id=\"role-error\""), "{page}");

        // Deactivating (the box left unticked) signs the user out and is stored.
        let mut deactivate = fields(&token, "agent", "");
        deactivate.retain(|(key, _)| *key != "active");
        let (status, _) = post(ann, deactivate).await;
        assert_eq!(status, 200, "saved, then the user list");
        let stored = server.admin().get(&format!("/api/v1/users/{ann}")).await;
        assert_eq!(stored.body["active"], false);
        assert_eq!(stored.body["role"], "agent");
        let unchanged = server.admin().get(&format!("/api/v1/users/{root}")).await;
        assert_eq!(unchanged.body["role"], "admin");
        server.stop();
    }
);

dual_backend_test!(
    admins_edit_mail_templates_in_a_form_that_shows_mistakes_next_to_the_part,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let (client, token) = server.web_session("root@msp.example").await;
        let url = server.url.clone();
        let post = |path: &'static str, fields: Vec<(&'static str, String)>| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let response = client
                    .post(format!("{url}{path}"))
                    .form(&fields)
                    .send()
                    .await
                    .unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        };
        let fields = |token: &str, text: &str| {
            vec![
                ("csrf_token", token.to_owned()),
                ("subject", "[{{number}}] Got it: {{title}}".to_owned()),
                ("text", text.to_owned()),
                ("html", "<h1>{{title}}</h1>".to_owned()),
            ]
        };
        let list = page_text(&client, format!("{url}/admin/mail")).await;
        assert!(
            list.contains("Acknowledgement (a ticket is opened)"),
            "{list}"
        );
        assert!(list.contains("href=\"/admin/mail/acknowledgement\""));

        let (status, _) = post(
            "/admin/mail/acknowledgement",
            fields("forged", "Hello {{requester}}"),
        )
        .await;
        assert_eq!(status, 403, "a form without the session's token is refused");

        // The mistake sits next to the plain-text part; what was typed is kept, escaped.
        let (status, page) = post(
            "/admin/mail/acknowledgement",
            fields(&token, "Hello {{nope}}"),
        )
        .await;
        assert_eq!(status, 422);
        assert!(
            page.contains(
                "<span class=\"field-error\" id=\"text-error\">unknown placeholder `{{nope}}`"
            ),
            "{page}"
        );
        assert!(page.contains("aria-describedby=\"text-error\""));
        assert!(!page.contains("id=\"html-error\""));
        assert!(page.contains("Hello {{nope}}</textarea>"));
        assert!(
            page.contains("&#60;h1&#62;{{title}}&#60;/h1&#62;</textarea>"),
            "the HTML part is shown as text: {page}"
        );
        let api = server.admin();
        let stored = api.get("/api/v1/mail/templates/acknowledgement").await;
        assert_eq!(stored.body["source"], "built_in");

        let (status, page) = post(
            "/admin/mail/acknowledgement",
            fields(&token, "Hello {{requester}}"),
        )
        .await;
        assert_eq!(status, 200, "saved, then the list: {page}");
        assert!(page.contains("Saved here"), "{page}");
        let stored = api.get("/api/v1/mail/templates/acknowledgement").await;
        assert_eq!(stored.body["text"], "Hello {{requester}}");
        assert!(
            stored.body["updated_by"]
                .as_str()
                .unwrap()
                .contains("root@msp.example")
        );

        // An agent does not get the page; the admin reverts to the built-in text.
        let (agent, agent_token) = server.web_session("ann@msp.example").await;
        let denied = agent
            .get(format!("{url}/admin/mail/acknowledgement"))
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status().as_u16(), 403);
        let denied = agent
            .post(format!("{url}/admin/mail/acknowledgement/revert"))
            .form(&[("csrf_token", agent_token)])
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status().as_u16(), 403);
        let (status, _) = post(
            "/admin/mail/acknowledgement/revert",
            vec![("csrf_token", token.clone())],
        )
        .await;
        assert_eq!(status, 200);
        let stored = api.get("/api/v1/mail/templates/acknowledgement").await;
        assert_eq!(stored.body["source"], "built_in");
        server.stop();
    }
);

dual_backend_test!(
    the_groups_page_adds_and_removes_members,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let group = server.admin().get("/api/v1/groups").await.body[0].clone();
        assert_eq!(group["name"], "Service Desk");
        let users = server.admin().get("/api/v1/users?limit=500").await;
        let root = users.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == "root@msp.example")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let (client, token) = server.web_session("root@msp.example").await;
        let url = format!("{}/admin/groups/{}/members", server.url, group["id"]);
        let post = |path: String, fields: Vec<(&'static str, String)>| {
            let client = client.clone();
            async move {
                let response = client.post(path).form(&fields).send().await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        };
        let member_emails = || async {
            let listed = server
                .admin()
                .get(&format!("/api/v1/groups/{}/members", group["id"]))
                .await;
            listed
                .body
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["email"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };

        let page = page_text(&client, format!("{}/admin/groups", server.url)).await;
        let select = format!("id=\"add-member-{}\"", group["id"]);
        assert!(
            page.contains(&format!(
                "<label for=\"add-member-{}\">Add agent",
                group["id"]
            )),
            "the select has a label: {page}"
        );
        assert!(page.contains(&select));
        assert!(
            page.contains(&format!(
                "<option value=\"{root}\">root@msp.example</option>"
            )),
            "agents who are not members are offered"
        );

        let forged = vec![
            ("csrf_token", "forged".to_owned()),
            ("user", root.to_string()),
        ];
        let (status, _) = post(url.clone(), forged).await;
        assert_eq!(status, 403, "a form without the session's token is refused");
        assert_eq!(member_emails().await, ["ann@msp.example"]);

        let add = vec![("csrf_token", token.clone()), ("user", root.to_string())];
        let (status, page) = post(url.clone(), add).await;
        assert_eq!(status, 200, "added, then the groups page: {page}");
        assert_eq!(
            member_emails().await,
            ["ann@msp.example", "root@msp.example"]
        );
        assert!(
            page.contains(&format!(
                "action=\"{}/{root}/remove\"",
                url.trim_start_matches(&server.url)
            )),
            "the new member can be removed: {page}"
        );
        assert!(
            page.contains("aria-label=\"Remove from the group: root@msp.example, Service Desk\"")
        );

        let (status, page) = post(
            format!("{url}/{root}/remove"),
            vec![("csrf_token", token.clone())],
        )
        .await;
        assert_eq!(status, 200, "removed, then the groups page: {page}");
        assert_eq!(member_emails().await, ["ann@msp.example"]);
        assert!(page.contains(&format!(
            "<option value=\"{root}\">root@msp.example</option>"
        )));

        let carol = users.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == "carol@acme.example")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let (status, page) = post(
            url.clone(),
            vec![("csrf_token", token.clone()), ("user", carol.to_string())],
        )
        .await;
        assert_eq!(status, 422, "customers are not group members");
        assert!(page.contains("user: groups are made of agents"), "{page}");
        server.stop();
    }
);

dual_backend_test!(
    the_mail_template_preview_fills_placeholders_and_runs_no_script,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let (client, token) = server.web_session("root@msp.example").await;
        let preview = |token: String, text: &'static str| {
            let client = client.clone();
            let url = format!("{}/admin/mail/acknowledgement/preview", server.url);
            async move {
                client
                    .post(url)
                    .form(&[
                        ("csrf_token", token),
                        ("subject", "[{{number}}] Got it: {{title}}".to_owned()),
                        ("text", text.to_owned()),
                        (
                            "html",
                            "<p>Hi {{requester}}</p><script>alert('owned')</script>".to_owned(),
                        ),
                    ])
                    .send()
                    .await
                    .unwrap()
            }
        };
        let edit = page_text(
            &client,
            format!("{}/admin/mail/acknowledgement", server.url),
        )
        .await;
        assert!(
            edit.contains("formaction=\"/admin/mail/acknowledgement/preview\""),
            "the edit form offers a preview: {edit}"
        );
        assert!(!edit.contains("id=\"mail-preview\""));

        let forged = preview("forged".to_owned(), "Hello {{requester}}").await;
        assert_eq!(forged.status().as_u16(), 403);

        let shown = preview(token.clone(), "Hello {{requester}}, about {{number}}").await;
        assert_eq!(shown.status().as_u16(), 200);
        let policy = shown.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
            "{policy}"
        );
        let page = shown.text().await.unwrap();
        assert!(
            page.contains("<strong id=\"preview-subject\">[INC-1042] Got it: Printer on floor 3 is jammed</strong>"),
            "{page}"
        );
        assert!(
            page.contains("<pre id=\"preview-text\">Hello Carol Smith, about INC-1042</pre>"),
            "{page}"
        );
        // The HTML part is a sandboxed document that may run nothing; its markup, script
        // included, reaches the page only as an escaped attribute value.
        assert!(
            page.contains(
                "sandbox=\"\" srcdoc=\"&#60;p&#62;Hi Carol Smith&#60;/p&#62;&#60;script&#62;alert(&#39;owned&#39;)&#60;/script&#62;\""
            ),
            "{page}"
        );
        assert!(!page.contains("<script>alert"), "{page}");
        // Nothing was saved: the preview renders the form as typed, which stays in the form.
        assert!(page.contains("Hello {{requester}}, about {{number}}</textarea>"));
        let stored = server
            .admin()
            .get("/api/v1/mail/templates/acknowledgement")
            .await;
        assert_eq!(stored.body["source"], "built_in");

        // A template with a mistake is not previewed; the mistake shows next to its part.
        let refused = preview(token, "Hello {{nope}}").await;
        assert_eq!(refused.status().as_u16(), 422);
        let page = refused.text().await.unwrap();
        assert!(page.contains("id=\"text-error\""), "{page}");
        assert!(!page.contains("id=\"mail-preview\""));
        server.stop();
    }
);

/// A local HTTP target answering 200 until it is stopped; then connections are refused.
struct Target {
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Target {
    async fn start() -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 4096];
                    let mut read = 0;
                    while !buffer[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buffer[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    let reply =
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        Self { url, server }
    }

    /// Closes the listening socket: checks now fail with "connection refused".
    async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_a_monitor_sees_it_go_down_and_opens_its_incident_from_the_dashboard() {
    let Some(binary) = chromedriver() else { return };
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let target = Target::start().await;
    let driver = Driver::start(&binary).await;
    let (admin, _profile) = driver.browser().await;
    sign_in(&admin, &server, "root@msp.example").await;

    // The monitor is made through the form, checked every second.
    click(&admin, "nav a[href='/monitors']").await;
    click(&admin, "#new-http").await;
    type_into(&admin, "#name", "Shop front").await;
    type_into(&admin, "#target", &target.url).await;
    let interval = admin.find(Locator::Css("#interval_s")).await.unwrap();
    interval.clear().await.unwrap();
    interval.send_keys("1").await.unwrap();
    click(&admin, "#save-monitor").await;
    wait_for_text(&admin, "h1", "Shop front").await;
    let page = admin.current_url().await.unwrap();
    let id = page.path().rsplit('/').next().unwrap().to_owned();
    assert!(id.parse::<i64>().is_ok(), "{page}");
    reload_until(&admin, page.as_str(), "#monitor-state", "Up").await;

    // The target stops: the list shows the monitor down, its page the outage's incident.
    target.stop().await;
    let list = format!("{}/monitors", server.url);
    reload_until(&admin, &list, &format!("tr[data-monitor='{id}']"), "Down").await;
    reload_until(&admin, &list, &format!("tr[data-monitor='{id}']"), "INC-").await;
    screenshot(&admin, "monitors").await;
    reload_until(&admin, page.as_str(), "table.outages", "INC-").await;
    screenshot(&admin, "monitor").await;

    // The dashboard lists it among the monitors down and today's monitor incidents.
    click(&admin, "nav a[href='/dashboard']").await;
    wait_for_text(&admin, "#card-down", "Shop front").await;
    wait_for_text(&admin, "#card-monitor-incidents", "Shop front is down").await;
    screenshot(&admin, "dashboard").await;
    click(&admin, "#card-monitor-incidents li a").await;
    wait_for_text(&admin, "h1", "Shop front is down").await;
    assert!(
        admin
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/tickets/INC-")
    );
    admin.close().await.unwrap();
    server.stop();
}

dual_backend_test!(
    monitoring_pages_are_for_staff_escape_names_and_their_forms_need_the_csrf_token,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let created = admin
            .post(
                "/api/v1/monitors",
                json!({"name": "<script>alert(1)</script>", "kind": "http",
                       "target": "http://127.0.0.1:9/", "paused": true}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let id = created.body["id"].as_i64().unwrap();
        let heartbeat = admin
            .post(
                "/api/v1/monitors",
                json!({"name": "Nightly backup", "kind": "heartbeat", "interval_s": 86400}),
            )
            .await;
        assert_eq!(heartbeat.status, 201, "{}", heartbeat.text);
        let beat = heartbeat.body["id"].as_i64().unwrap();

        let (client, token) = server.web_session("ann@msp.example").await;
        let mut pages = vec![
            "/dashboard".to_owned(),
            "/monitors".to_owned(),
            format!("/monitors/{id}"),
            format!("/monitors/{id}/edit"),
            format!("/monitors/{beat}"),
            "/maintenance".to_owned(),
        ];
        for kind in ["http", "tcp", "icmp", "dns", "tls", "heartbeat"] {
            pages.push(format!("/monitors/new?kind={kind}"));
        }
        for page in &pages {
            let reply = client
                .get(format!("{}{page}", server.url))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200, "{page}");
            let html = reply.text().await.unwrap();
            assert!(!html.contains("<script>alert"), "{page} must escape names");
        }
        let list = page_text(&client, format!("{}/monitors", server.url)).await;
        assert!(
            list.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{list}"
        );
        assert!(list.contains("<svg class=\"chart\""), "{list}");
        assert!(!list.contains("style="), "no inline styles under the CSP");
        let beat_page = page_text(&client, format!("{}/monitors/{beat}", server.url)).await;
        assert!(beat_page.contains("curl -fsS"), "{beat_page}");
        assert!(beat_page.contains("/ping/"), "{beat_page}");

        // Customers are refused every page.
        let (customer, _) = server.web_session("carol@acme.example").await;
        for page in &pages {
            let reply = customer
                .get(format!("{}{page}", server.url))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 403, "{page}");
        }

        // Forms need the session's token.
        let fields = vec![
            ("kind", "http"),
            ("name", "Shop front"),
            ("target", "http://127.0.0.1:9/health"),
            ("interval_s", "60"),
            ("impact", "medium"),
            ("urgency", "high"),
            ("paused", "on"),
        ];
        let forged = client
            .post(format!("{}/monitors/new", server.url))
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);
        let mut wrong = fields.clone();
        wrong[2] = ("target", "ftp://example.com");
        wrong.push(("csrf_token", &token));
        let refused = client
            .post(format!("{}/monitors/new", server.url))
            .form(&wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 422);
        let html = refused.text().await.unwrap();
        assert!(
            html.contains("must be an http:// or https:// URL"),
            "{html}"
        );
        assert!(
            html.contains("value=\"Shop front\""),
            "what was typed stays"
        );
        let mut signed = fields.clone();
        signed.push(("csrf_token", &token));
        let saved = client
            .post(format!("{}/monitors/new", server.url))
            .form(&signed)
            .send()
            .await
            .unwrap();
        assert_eq!(saved.status(), 200);
        assert!(
            saved.url().path().starts_with("/monitors/"),
            "{}",
            saved.url()
        );

        let resume = client
            .post(format!("{}/monitors/{id}/pause", server.url))
            .form(&[("paused", "false")])
            .send()
            .await
            .unwrap();
        assert_eq!(resume.status(), 403);
        let resume = client
            .post(format!("{}/monitors/{id}/pause", server.url))
            .form(&[("paused", "false"), ("csrf_token", &token)])
            .send()
            .await
            .unwrap();
        assert_eq!(resume.status(), 200);
        let monitor = admin.get(&format!("/api/v1/monitors/{id}")).await;
        assert_eq!(monitor.body["paused"], false, "{}", monitor.text);

        // Maintenance windows: created and deleted through the forms, with the token.
        let window = [
            ("monitor_id", id.to_string()),
            ("starts_at", "2030-01-01T00:00".to_owned()),
            ("ends_at", "2030-01-01T02:00".to_owned()),
            ("reason", "Database upgrade".to_owned()),
        ];
        let forged = client
            .post(format!("{}/maintenance", server.url))
            .form(&window)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);
        let mut with_token = window.to_vec();
        with_token.push(("csrf_token", token.clone()));
        let listed = client
            .post(format!("{}/maintenance", server.url))
            .form(&with_token)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), 200);
        assert!(listed.text().await.unwrap().contains("Database upgrade"));
        let windows = admin.get("/api/v1/maintenance-windows").await;
        let window_id = windows.body["items"][0]["id"].as_i64().unwrap();
        let deleted = client
            .post(format!("{}/maintenance/{window_id}/delete", server.url))
            .form(&[("csrf_token", &token)])
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 200);
        let windows = admin.get("/api/v1/maintenance-windows").await;
        assert_eq!(windows.body["items"].as_array().unwrap().len(), 0);
        server.stop();
    }
);
