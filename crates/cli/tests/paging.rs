//! Paging: an alert's incident pages whoever is on call on the policy's first level; when
//! nobody acknowledges within the wait the next level is paged (on a clock the test moves);
//! acknowledging stops it, and a level with nobody on call is skipped; with nobody on call
//! at any level, the admins are paged. With the test mail
//! server, the page arrives by mail with a link that acknowledges it without signing in,
//! and the policy's chat webhook is told.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use opsdesk_app::ManualClock;
use opsdesk_testkit::{
    Backend, Client, TestServer, WebhookReceiver, dual_backend_test, eventually, mails_about,
};
use serde_json::{Value, json};

async fn post_alert(server: &TestServer, url_path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}{url_path}", server.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    response.json().await.unwrap()
}

fn firing(fingerprint: &str, service: &str) -> Value {
    json!({"fingerprint": fingerprint, "status": "firing", "title": format!("{service} is down"),
           "severity": "critical", "labels": {"service": service}})
}

fn paged(page: &Value) -> Vec<(String, i64)> {
    page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["person"].as_str().unwrap().to_owned(),
                n["level"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Waits until the job runner has nothing due: every queued job left runs later.
async fn jobs_settled(admin: &Client, clock: &ManualClock) {
    let settled = eventually(Duration::from_secs(20), || async {
        let queued = admin.get("/api/v1/jobs?status=queued&limit=500").await.body;
        let running = admin
            .get("/api/v1/jobs?status=running&limit=500")
            .await
            .body;
        let now = opsdesk_app::Clock::now(clock);
        running["items"].as_array().unwrap().is_empty()
            && queued["items"].as_array().unwrap().iter().all(|job| {
                job["run_at"]
                    .as_str()
                    .unwrap()
                    .parse::<jiff::Timestamp>()
                    .unwrap()
                    > now
            })
    })
    .await;
    assert!(settled, "the job runner did not catch up");
}

dual_backend_test!(
    a_page_nobody_acknowledges_goes_to_the_next_level_and_an_acknowledged_one_stops,
    |backend: Backend| async move {
        let clock = ManualClock::starting_at("2026-03-02T10:00:00Z".parse().unwrap());
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        let ann = server.client(&server.token_for("ann@msp.example").await);

        // What a policy may name is checked, and only admins make them.
        for (bad, field) in [
            (json!({"name": "x", "levels": []}), "levels"),
            (
                json!({"name": "x", "levels": [{"targets": [{"schedule": 999}], "wait_minutes": 5}]}),
                "levels[0].targets",
            ),
            (
                json!({"name": "x", "levels": [{"targets": [{"user": "carol@acme.example"}],
                                                "wait_minutes": 5}]}),
                "levels[0].targets",
            ),
            (
                json!({"name": "x", "levels": [{"targets": [{"user": "ann@msp.example"}],
                                                "wait_minutes": 0}]}),
                "levels",
            ),
            (
                json!({"name": "x", "chat_webhook_url": "ftp://chat", "levels": [
                    {"targets": [{"user": "ann@msp.example"}], "wait_minutes": 5}]}),
                "chat_webhook_url",
            ),
        ] {
            let refused = admin.post("/api/v1/escalation-policies", bad).await;
            assert_eq!(refused.status, 422, "{}", refused.text);
            assert_eq!(
                refused.body["errors"][0]["field"], field,
                "{}",
                refused.text
            );
        }
        let by_agent = ann
            .post(
                "/api/v1/escalation-policies",
                json!({"name": "x", "levels": [{"targets": [{"user": "ann@msp.example"}],
                                                "wait_minutes": 5}]}),
            )
            .await;
        assert_eq!(by_agent.status, 403);

        let url = server.paged_integration(None, None).await;
        // Forty alerts of one outage: one incident, one page.
        let first = post_alert(&server, &url, firing("db-1", "database")).await;
        let incident = first["opened"][0].as_str().unwrap().to_owned();
        for n in 2..=40 {
            let more = post_alert(&server, &url, firing(&format!("db-{n}"), "database")).await;
            assert_eq!(more["opened"], json!([]));
        }
        let page_path = format!("/api/v1/incidents/{incident}/page");
        let page = ann.get(&page_path).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert_eq!(page.body["status"], "triggered");
        assert_eq!(paged(&page.body), vec![("ann@msp.example".into(), 1)]);
        let waiting = ann.get("/api/v1/pages").await.body;
        assert_eq!(waiting[0]["incident"], incident.as_str());

        // Nobody acknowledges: after the level's five minutes root@ is paged too.
        clock.advance(jiff::SignedDuration::from_mins(4));
        jobs_settled(&admin, &clock).await;
        assert_eq!(paged(&ann.get(&page_path).await.body).len(), 1);
        clock.advance(jiff::SignedDuration::from_mins(1));
        let escalated = eventually(Duration::from_secs(20), || async {
            ann.get(&page_path).await.body["level"] == 2
        })
        .await;
        assert!(escalated, "{}", ann.get(&page_path).await.text);
        assert_eq!(
            paged(&ann.get(&page_path).await.body),
            vec![
                ("ann@msp.example".into(), 1),
                ("root@msp.example".into(), 2)
            ]
        );

        // Ann acknowledges: the incident is hers, and nobody else is paged, ever.
        let acknowledged = ann
            .post(
                &format!("/api/v1/incidents/{incident}/acknowledge"),
                json!({}),
            )
            .await;
        assert_eq!(acknowledged.status, 200, "{}", acknowledged.text);
        assert_eq!(acknowledged.body["status"], "acknowledged");
        assert_eq!(acknowledged.body["acknowledged_by"], "ann@msp.example");
        let again = ann
            .post(
                &format!("/api/v1/incidents/{incident}/acknowledge"),
                json!({}),
            )
            .await;
        assert_eq!(again.status, 409, "{}", again.text);
        let ticket = ann.get(&format!("/api/v1/tickets/{incident}")).await.body;
        assert_eq!(ticket["assignee"]["email"], "ann@msp.example", "{ticket}");
        assert_eq!(ticket["status"], "open");
        clock.advance(jiff::SignedDuration::from_mins(60));
        jobs_settled(&admin, &clock).await;
        let page = ann.get(&page_path).await.body;
        assert_eq!(page["status"], "acknowledged");
        assert_eq!(paged(&page).len(), 2);
        assert_eq!(ann.get("/api/v1/pages").await.body, json!([]));
        // The last level has no level after it.
        let escalate = ann
            .post(&format!("/api/v1/incidents/{incident}/escalate"), json!({}))
            .await;
        assert_eq!(escalate.status, 409, "{}", escalate.text);

        // The timeline tells the story; resolving the incident ends the page.
        let timeline = ann
            .get(&format!("/api/v1/tickets/{incident}/timeline"))
            .await
            .body;
        let events: Vec<&str> = timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "page")
            .map(|e| e["data"]["event"].as_str().unwrap())
            .collect();
        assert_eq!(events, ["paged", "paged", "acknowledged"], "{timeline}");
        let resolved = ann
            .patch(
                &format!("/api/v1/tickets/{incident}"),
                json!({"status": "resolved", "resolution_code": "fixed"}),
                None,
            )
            .await;
        assert_eq!(resolved.status, 200, "{}", resolved.text);
        assert_eq!(ann.get(&page_path).await.body["status"], "resolved");
        let customer = server.client(&server.token_for("carol@acme.example").await);
        assert_eq!(customer.get(&page_path).await.status, 403);
    }
);

dual_backend_test!(
    a_level_with_nobody_on_call_is_skipped_at_once,
    |backend: Backend| async move {
        // A Saturday: the schedule covers weekdays only.
        let clock = ManualClock::starting_at("2026-03-07T10:00:00Z".parse().unwrap());
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        let weekdays = json!({"days": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                              "from": "09:00", "to": "17:00"});
        let url = server.paged_integration(None, Some(weekdays)).await;
        let opened = post_alert(&server, &url, firing("web-1", "web")).await;
        let incident = opened["opened"][0].as_str().unwrap();
        let page = admin
            .get(&format!("/api/v1/incidents/{incident}/page"))
            .await
            .body;
        assert_eq!(page["level"], 2, "{page}");
        assert_eq!(paged(&page), vec![("root@msp.example".into(), 2)]);
        let timeline = admin
            .get(&format!("/api/v1/tickets/{incident}/timeline"))
            .await
            .body;
        let nobody = timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "page" && e["data"]["event"] == "nobody")
            .unwrap_or_else(|| panic!("{timeline}"));
        assert_eq!(nobody["data"]["level"], 1);
        // The last level unanswered: the page is exhausted, and still waits for someone.
        clock.advance(jiff::SignedDuration::from_mins(10));
        let exhausted = eventually(Duration::from_secs(20), || async {
            admin
                .get(&format!("/api/v1/incidents/{incident}/page"))
                .await
                .body["status"]
                == "exhausted"
        })
        .await;
        assert!(exhausted);
        assert_eq!(
            admin.get("/api/v1/pages").await.body[0]["status"],
            "exhausted"
        );
    }
);

dual_backend_test!(
    when_nobody_is_on_call_at_any_level_the_admins_are_paged,
    |backend: Backend| async move {
        // A Saturday, and the only level is a weekday schedule.
        let clock = ManualClock::starting_at("2026-03-07T10:00:00Z".parse().unwrap());
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        let schedule = admin
            .post(
                "/api/v1/schedules",
                json!({"name": "Office", "time_zone": "UTC", "layers": [
                    {"people": ["ann@msp.example"], "start": "2026-01-05T09:00:00",
                     "turn": {"days": 7},
                     "restriction": {"days": ["monday", "tuesday", "wednesday", "thursday",
                                              "friday"], "from": "09:00", "to": "17:00"}}]}),
            )
            .await;
        assert_eq!(schedule.status, 201, "{}", schedule.text);
        let policy = admin
            .post(
                "/api/v1/escalation-policies",
                json!({"name": "Office hours", "levels": [
                    {"targets": [{"schedule": schedule.body["id"]}], "wait_minutes": 5}]}),
            )
            .await;
        assert_eq!(policy.status, 201, "{}", policy.text);
        let integration = admin
            .post(
                "/api/v1/integrations",
                json!({"name": "Uptime", "kind": "generic", "requester": "carol@acme.example",
                       "escalation_policy": "Office hours"}),
            )
            .await;
        assert_eq!(integration.status, 201, "{}", integration.text);
        let url = integration.body["url_path"].as_str().unwrap().to_owned();
        let opened = post_alert(&server, &url, firing("web-1", "web")).await;
        let incident = opened["opened"][0].as_str().unwrap();
        let page = admin
            .get(&format!("/api/v1/incidents/{incident}/page"))
            .await
            .body;
        assert_eq!(page["status"], "exhausted", "{page}");
        // Every admin: the one the server was set up with, and root@.
        assert_eq!(
            paged(&page),
            vec![
                ("admin@example.com".into(), 1),
                ("root@msp.example".into(), 1)
            ]
        );
        let timeline = admin
            .get(&format!("/api/v1/tickets/{incident}/timeline"))
            .await
            .body;
        let told = timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "page" && e["data"]["event"] == "nobody_on_call")
            .unwrap_or_else(|| panic!("{timeline}"));
        assert_eq!(
            told["data"]["people"],
            json!(["admin@example.com", "root@msp.example"])
        );
    }
);

dual_backend_test!(
    a_mailed_page_link_acknowledges_and_the_chat_is_told,
    |backend: Backend| async move {
        let Some((server, _clock, maildir)) = mailing_desk(backend).await else {
            return;
        };
        let admin = server.admin();
        let chat = WebhookReceiver::start(200).await;
        let url = server.paged_integration(Some(&chat.url), None).await;
        // Unique per run: the maildir is shared by every test.
        let title = format!("paging-{}", uuid::Uuid::new_v4().simple());
        let opened = post_alert(&server, &url, firing("cache-1", &title)).await;
        let incident = opened["opened"][0].as_str().unwrap().to_owned();

        let mail = eventually(Duration::from_secs(30), || async {
            page_mail(&maildir, &title).is_some()
        })
        .await;
        assert!(mail, "the page was not mailed");
        let (raw, text) = page_mail(&maildir, &title).unwrap();
        assert!(raw.contains("To: ann@msp.example"), "{raw}");
        let link = text
            .split_whitespace()
            .find(|word| word.starts_with("http://desk.test/page/"))
            .unwrap_or_else(|| panic!("{text}"))
            .trim_end_matches(['>', '"', '.'])
            .to_owned();
        let path = link.trim_start_matches("http://desk.test");

        // The link works without signing in, as ann.
        let anonymous = reqwest::Client::new();
        let shown = anonymous
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(shown.status(), 200);
        let shown = shown.text().await.unwrap();
        assert!(shown.contains(&incident), "{shown}");
        let acted = anonymous
            .post(format!("{}{path}", server.url))
            .form(&[("action", "acknowledge")])
            .send()
            .await
            .unwrap();
        assert!(acted.status().is_success() || acted.status().is_redirection());
        let page = admin
            .get(&format!("/api/v1/incidents/{incident}/page"))
            .await
            .body;
        assert_eq!(page["status"], "acknowledged");
        assert_eq!(page["acknowledged_by"], "ann@msp.example");
        assert!(page["notifications"][0]["sent_at"].is_string(), "{page}");
        let wrong = anonymous
            .get(format!("{}/page/not-a-secret", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 404);

        let told = eventually(Duration::from_secs(20), || async {
            !chat.deliveries().is_empty()
        })
        .await;
        assert!(told, "the chat webhook was not called");
        let said = chat.deliveries()[0].body["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            said.contains("ann@msp.example") && said.contains(&incident),
            "{said}"
        );
    }
);

/// The service desk on a manual clock at 2026-03-02 10:00 UTC, mailing through the test
/// mail server, with the maildir it delivers to; none when that server is not set up.
async fn mailing_desk(backend: Backend) -> Option<(TestServer, ManualClock, String)> {
    let clock = ManualClock::starting_at("2026-03-02T10:00:00Z".parse().unwrap());
    let (server, maildir) =
        TestServer::mailing_service_desk(backend, Arc::new(clock.clone())).await?;
    Some((server, clock, maildir))
}

/// The page mails about `title` in the test mail server's maildir: each as received, and
/// its text.
fn page_mails(maildir: &str, title: &str) -> Vec<(String, String)> {
    mails_about(maildir, &[title, "Paged"])
}

/// The first page mail about `title`.
fn page_mail(maildir: &str, title: &str) -> Option<(String, String)> {
    page_mails(maildir, title).into_iter().next()
}

dual_backend_test!(
    personal_rules_repeat_a_page_until_acknowledged_and_quiet_hours_hold_low_urgency,
    |backend: Backend| async move {
        let Some((server, clock, maildir)) = mailing_desk(backend).await else {
            return;
        };
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let rules = json!({"high_urgency": [0, 3, 4], "low_urgency": [0],
                           "quiet_hours": {"start": "09:00", "end": "17:00",
                                           "time_zone": "Europe/London"},
                           "time_zone": null});
        let saved = ann
            .put("/api/v1/me/notification-rules", rules.clone())
            .await;
        assert_eq!(saved.status, 200, "{}", saved.text);
        assert_eq!(ann.get("/api/v1/me/notification-rules").await.body, rules);
        for (wrong, field) in [
            (
                json!({"high_urgency": [], "low_urgency": [0]}),
                "high_urgency",
            ),
            (
                json!({"high_urgency": [0], "low_urgency": [0],
                       "quiet_hours": {"start": "9", "end": "17:00", "time_zone": "UTC"}}),
                "quiet_hours.start",
            ),
        ] {
            let refused = ann.put("/api/v1/me/notification-rules", wrong).await;
            assert_eq!(refused.status, 422, "{}", refused.text);
            assert_eq!(refused.body["errors"][0]["field"], field);
        }
        let carol = server.client(&server.token_for("carol@acme.example").await);
        assert_eq!(carol.get("/api/v1/me/notification-rules").await.status, 403);

        // A critical incident mails ann at once, again three minutes later, and would a
        // minute after that — but she acknowledges first.
        let url = server.paged_integration(None, None).await;
        let title = format!("rules-{}", uuid::Uuid::new_v4().simple());
        let opened = post_alert(&server, &url, firing("db-1", &title)).await;
        let incident = opened["opened"][0].as_str().unwrap().to_owned();
        let page = ann
            .get(&format!("/api/v1/incidents/{incident}/page"))
            .await
            .body;
        let due: Vec<&str> = page["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["due_at"].as_str().unwrap())
            .collect();
        assert_eq!(
            due,
            [
                "2026-03-02T10:00:00Z",
                "2026-03-02T10:03:00Z",
                "2026-03-02T10:04:00Z"
            ]
        );
        let first = eventually(Duration::from_secs(30), || async {
            page_mails(&maildir, &title).len() == 1
        })
        .await;
        assert!(first, "the first mail did not leave");
        clock.advance(jiff::SignedDuration::from_mins(3));
        let again = eventually(Duration::from_secs(30), || async {
            page_mails(&maildir, &title).len() == 2
        })
        .await;
        assert!(again, "the repeat did not leave");
        let acked = ann
            .post(
                &format!("/api/v1/incidents/{incident}/acknowledge"),
                json!({}),
            )
            .await;
        assert_eq!(acked.status, 200, "{}", acked.text);
        clock.advance(jiff::SignedDuration::from_mins(1));
        assert!(
            server.jobs_done("page.notification", 3).await,
            "the third mail's job did not run"
        );
        assert_eq!(
            page_mails(&maildir, &title).len(),
            2,
            "acknowledged: no third mail"
        );
        let page = ann
            .get(&format!("/api/v1/incidents/{incident}/page"))
            .await
            .body;
        assert!(page["notifications"][2]["sent_at"].is_null(), "{page}");

        // A low-urgency incident in ann's quiet hours waits until they end (17:00 in London
        // is 17:00 UTC in March).
        let low = json!({"fingerprint": "disk-1", "status": "firing", "severity": "info",
                         "title": format!("{title} disk"), "labels": {"service": "disk"}});
        let opened = post_alert(&server, &url, low).await;
        let incident = opened["opened"][0].as_str().unwrap().to_owned();
        let page = ann
            .get(&format!("/api/v1/incidents/{incident}/page"))
            .await
            .body;
        assert_eq!(
            page["notifications"][0]["due_at"], "2026-03-02T17:00:00Z",
            "{page}"
        );
    }
);

dual_backend_test!(
    a_calendar_link_serves_shifts_without_signing_in_until_revoked,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        server.paged_integration(None, None).await;
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let link = ann.post("/api/v1/me/calendar-link", json!({})).await;
        assert_eq!(link.status, 201, "{}", link.text);
        let path = link.body["url_path"].as_str().unwrap().to_owned();
        assert!(path.starts_with("/on-call/calendar/") && path.ends_with(".ics"));
        let anonymous = reqwest::Client::new();
        let fetch = |path: String| {
            let anonymous = anonymous.clone();
            let url = format!("{}{path}", server.url);
            async move { anonymous.get(url).send().await.unwrap() }
        };
        let calendar = fetch(path.clone()).await;
        assert_eq!(calendar.status(), 200);
        assert!(
            calendar.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/calendar")
        );
        let text = calendar.text().await.unwrap();
        assert!(
            text.contains("BEGIN:VCALENDAR") && text.contains("On call: Primary"),
            "{text}"
        );
        // A new link revokes the old; revoking leaves none.
        let newer = ann.post("/api/v1/me/calendar-link", json!({})).await;
        let newer = newer.body["url_path"].as_str().unwrap().to_owned();
        assert_eq!(fetch(path).await.status(), 404);
        assert_eq!(fetch(newer.clone()).await.status(), 200);
        assert_eq!(ann.delete("/api/v1/me/calendar-link").await.status, 204);
        assert_eq!(fetch(newer).await.status(), 404);
        assert_eq!(
            fetch("/on-call/calendar/not-a-secret.ics".into())
                .await
                .status(),
            404
        );

        // The on-call page keeps both: the rules form and the calendar link.
        let forms = server.web_forms("ann@msp.example").await;
        let rules = |zone: &'static str| {
            [
                ("high_urgency", "0, 5"),
                ("low_urgency", "0"),
                ("quiet_start", "22:00"),
                ("quiet_end", "07:00"),
                ("quiet_time_zone", zone),
            ]
        };
        let (status, _, page) = forms
            .post("/on-call/my-rules", &rules("Mars/Olympus"))
            .await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("IANA time zone"), "{page}");
        let (status, _, page) = forms
            .post("/on-call/my-rules", &rules("Europe/London"))
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains(r#"value="0, 5""#), "{page}");
        let saved = ann.get("/api/v1/me/notification-rules").await.body;
        assert_eq!(saved["quiet_hours"]["time_zone"], "Europe/London");
        let (status, _, page) = forms.post("/on-call/calendar-link", &[]).await;
        assert_eq!(status, 200, "{page}");
        let made = page
            .split("<code id=\"calendar-url\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap_or_else(|| panic!("{page}"))
            .to_owned();
        let served = anonymous.get(made).send().await.unwrap();
        assert_eq!(served.status(), 200);
    }
);

dual_backend_test!(
    a_round_robin_level_pages_its_people_in_turn,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        // Made on the On call page's form: two people on one level, taking turns.
        let forms = server.web_forms("root@msp.example").await;
        let (status, _, page) = forms
            .post(
                "/on-call/policies",
                &[
                    ("name", "Desk"),
                    ("target1", "user:ann@msp.example"),
                    ("target1", "user:root@msp.example"),
                    ("round_robin1", "on"),
                    ("wait1", "10"),
                    ("wait2", "15"),
                    ("wait3", "15"),
                    ("repeat", "0"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("round robin"), "{page}");
        let policies = admin.get("/api/v1/escalation-policies").await.body;
        assert_eq!(
            policies[0]["levels"],
            json!([{"targets": [{"user": "ann@msp.example"}, {"user": "root@msp.example"}],
                    "wait_minutes": 10, "round_robin": true}]),
            "{policies}"
        );
        let integration = admin
            .post(
                "/api/v1/integrations",
                json!({"name": "Checks", "kind": "generic", "requester": "carol@acme.example",
                       "escalation_policy": "Desk"}),
            )
            .await;
        let url = integration.body["url_path"].as_str().unwrap().to_owned();
        let mut paged_first = Vec::new();
        for n in 0..3 {
            let opened = post_alert(&server, &url, firing(&format!("svc-{n}"), "svc")).await;
            let incident = opened["opened"][0].as_str().unwrap().to_owned();
            let page = admin
                .get(&format!("/api/v1/incidents/{incident}/page"))
                .await
                .body;
            let people = paged(&page);
            assert_eq!(people.len(), 1, "one person per incident: {page}");
            paged_first.push(people[0].0.clone());
        }
        assert_eq!(
            paged_first,
            ["ann@msp.example", "root@msp.example", "ann@msp.example"]
        );
    }
);

dual_backend_test!(
    a_person_sets_their_own_time_zone_through_the_api_and_the_on_call_page,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let rules =
            |zone: Value| json!({"high_urgency": [0], "low_urgency": [0], "time_zone": zone});

        // Through the API: kept in the zone's own spelling, read back, and removed with null.
        let saved = ann
            .put(
                "/api/v1/me/notification-rules",
                rules(json!("europe/paris")),
            )
            .await;
        assert_eq!(saved.status, 200, "{}", saved.text);
        assert_eq!(saved.body["time_zone"], "Europe/Paris");
        let read = ann.get("/api/v1/me/notification-rules").await;
        assert_eq!(read.body["time_zone"], "Europe/Paris", "{}", read.text);
        let refused = ann
            .put(
                "/api/v1/me/notification-rules",
                rules(json!("Mars/Olympus")),
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(
            refused.header("content-type"),
            Some("application/problem+json"),
            "{:?}",
            refused.headers
        );
        assert_eq!(
            refused.body["errors"][0]["field"], "time_zone",
            "{}",
            refused.text
        );
        let read = ann.get("/api/v1/me/notification-rules").await;
        assert_eq!(
            read.body["time_zone"], "Europe/Paris",
            "a refusal changes nothing"
        );
        let cleared = ann
            .put("/api/v1/me/notification-rules", rules(Value::Null))
            .await;
        assert_eq!(cleared.status, 200, "{}", cleared.text);
        let read = ann.get("/api/v1/me/notification-rules").await;
        assert!(read.body["time_zone"].is_null(), "{}", read.text);

        // Through the on-call page: offered from the time-zone database, refused next to
        // the field, then saved and shown prefilled.
        let forms = server.web_forms("ann@msp.example").await;
        let page = forms.page("/on-call").await;
        assert!(page.contains(r#"name="time_zone" value="""#), "{page}");
        assert!(page.contains(r#"<option value="Asia/Tokyo">"#), "{page}");
        let form = |zone: &'static str| {
            [
                ("high_urgency", "0"),
                ("low_urgency", "0"),
                ("quiet_start", ""),
                ("quiet_end", ""),
                ("quiet_time_zone", "UTC"),
                ("time_zone", zone),
            ]
        };
        let (status, _, page) = forms.post("/on-call/my-rules", &form("Mars/Olympus")).await;
        assert_eq!(status, 422, "{page}");
        assert!(
            page.contains(r#"<p class="field-error" role="alert" id="time-zone-error">expected an IANA time zone"#),
            "{page}"
        );
        assert!(
            page.contains(r#"value="Mars/Olympus""#),
            "what was sent stays: {page}"
        );
        let (status, _, page) = forms.post("/on-call/my-rules", &form("Asia/Tokyo")).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains(r#"name="time_zone" value="Asia/Tokyo""#),
            "{page}"
        );
        let read = ann.get("/api/v1/me/notification-rules").await;
        assert_eq!(read.body["time_zone"], "Asia/Tokyo", "{}", read.text);
    }
);
