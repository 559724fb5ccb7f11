//! Satisfaction surveys through the API, the mailed link and a real mail server: resolving
//! a ticket mails its requester five score links; following one records nothing, sending
//! its form records the score and comment, which can be changed until the link expires; a
//! low score mails the group's lead; the summary adds the answers up as counted by hand,
//! and a customer sees only their organization's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use opsdesk_app::ManualClock;
use opsdesk_testkit::{Backend, Client, TestServer, dual_backend_test, eventually, mails_about};
use serde_json::{Value, json};

/// The time every test starts at.
const NOW: &str = "2026-03-02T10:00:00Z";

/// The service desk mailing through the test mail server on a clock standing at [`NOW`],
/// with the maildir it delivers to; none when that server is not set up.
async fn mailing_desk(backend: Backend) -> Option<(TestServer, ManualClock, String)> {
    let clock = ManualClock::starting_at(NOW.parse().unwrap());
    let (server, maildir) =
        TestServer::mailing_service_desk(backend, Arc::new(clock.clone())).await?;
    Some((server, clock, maildir))
}

/// The mails in the maildir whose subject holds `about` and `title`.
fn mails(maildir: &str, about: &str, title: &str) -> Vec<(String, String)> {
    mails_about(maildir, &[about, title])
}

/// The score links in a survey mail's text, as paths.
fn score_links(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|word| word.starts_with("http://desk.test/survey/"))
        .map(|word| word.trim_start_matches("http://desk.test").to_owned())
        .collect()
}

/// Opens an incident requested by `requester`; returns its number.
async fn incident(server: &TestServer, title: &str, requester: &str) -> String {
    server.incident(title, "low", "low", requester).await
}

/// Resolves a ticket as the Service Desk group's.
async fn resolve(admin: &Client, number: &str) {
    let resolved = admin
        .patch(
            &format!("/api/v1/tickets/{number}"),
            json!({"status": "resolved", "resolution_code": "fixed", "group": "Service Desk"}),
            None,
        )
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);
}

async fn rate(who: &Client, number: &str, score: Value, comment: &str) -> opsdesk_testkit::Reply {
    who.put(
        &format!("/api/v1/tickets/{number}/rating"),
        json!({"score": score, "comment": comment}),
    )
    .await
}

/// Posts the link page's form as a browser without a session would.
async fn send_form(server: &TestServer, path: &str, score: &str, comment: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let reply = client
        .post(format!("{}{path}", server.url))
        .form(&[("score", score), ("comment", comment)])
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.text().await.unwrap())
}

dual_backend_test!(
    a_resolved_ticket_mails_five_links_and_only_sending_the_form_records_a_rating,
    |backend: Backend| async move {
        let Some((server, clock, maildir)) = mailing_desk(backend).await else {
            return;
        };
        let admin = server.admin();
        let carol = server.client(&server.token_for("carol@acme.example").await);
        // Unique per run: the maildir is shared by every test.
        let title = format!("VPN drops hourly ({})", uuid::Uuid::new_v4().simple());
        let number = incident(&server, &title, "carol@acme.example").await;
        resolve(&admin, &number).await;

        assert!(server.jobs_done("survey.request", 1).await);
        let mailed = eventually(Duration::from_secs(20), || async {
            !mails(&maildir, "How did we do?", &title).is_empty()
        })
        .await;
        assert!(mailed, "the survey was not mailed");
        let sent = mails(&maildir, "How did we do?", &title);
        assert_eq!(sent.len(), 1, "one mail per resolution");
        assert!(sent[0].0.contains("carol@acme.example"));
        let links = score_links(&sent[0].1);
        assert_eq!(links.len(), 5, "{}", sent[0].1);
        for (n, link) in links.iter().enumerate() {
            assert!(link.ends_with(&format!("?score={}", n + 1)), "{link}");
        }
        let path = links[3].split('?').next().unwrap().to_owned();

        // Following a link, as a mail scanner does, shows the form and records nothing.
        let page = reqwest::get(format!("{}{}", server.url, links[3]))
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let page = page.text().await.unwrap();
        assert!(page.contains(r#"id="score-4" checked"#), "{page}");
        assert!(page.contains(&number));
        let unanswered = admin.get(&format!("/api/v1/tickets/{number}/rating")).await;
        assert_eq!(unanswered.status, 200, "{}", unanswered.text);
        assert_eq!(unanswered.body["score"], Value::Null);

        // Sending the form records the score and the comment.
        let (status, _) = send_form(&server, &path, "4", "Fixed quickly").await;
        assert_eq!(status, 303);
        let answered = admin.get(&format!("/api/v1/tickets/{number}/rating")).await;
        assert_eq!(answered.body["score"], 4, "{}", answered.text);
        assert_eq!(answered.body["comment"], "Fixed quickly");
        assert_eq!(answered.body["channel"], "mail");
        // Staff see it on the ticket's timeline; the requester's portal timeline does not.
        let timeline = admin
            .get(&format!("/api/v1/tickets/{number}/timeline"))
            .await;
        let rated: Vec<&Value> = timeline.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "rated")
            .collect();
        assert_eq!(rated.len(), 1, "{}", timeline.text);
        assert_eq!(rated[0]["data"]["score"], 4);
        let theirs = carol
            .get(&format!("/api/v1/tickets/{number}/timeline"))
            .await;
        assert!(!theirs.text.contains("\"rated\""), "{}", theirs.text);

        // A score out of range is refused, naming it; the answer stands.
        let (status, page) = send_form(&server, &path, "0", "").await;
        assert_eq!(status, 422, "{page}");
        for bad in [json!(0), json!(6), json!("x")] {
            let refused = rate(&carol, &number, bad.clone(), "").await;
            assert_eq!(refused.status, 422, "{bad}: {}", refused.text);
            assert_eq!(
                refused.body["errors"][0]["field"], "score",
                "{}",
                refused.text
            );
        }

        // The answer can be changed until the link expires.
        clock.advance(SignedDuration::from_hours(24 * 29));
        let (status, _) = send_form(&server, &path, "5", "Fixed for good").await;
        assert_eq!(status, 303);
        let changed = admin.get(&format!("/api/v1/tickets/{number}/rating")).await;
        assert_eq!(changed.body["score"], 5);
        assert_eq!(changed.body["comment"], "Fixed for good");

        // Past 30 days the link is refused and the form is gone.
        clock.advance(SignedDuration::from_hours(24 * 2));
        let (status, page) = send_form(&server, &path, "1", "Broken again").await;
        assert_eq!(status, 409, "{page}");
        let closed = reqwest::get(format!("{}{path}", server.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(closed.contains("rating-closed") && !closed.contains("rating-form"));
        let kept = admin.get(&format!("/api/v1/tickets/{number}/rating")).await;
        assert_eq!(kept.body["score"], 5);
        let unknown = reqwest::get(format!("{}/survey/not-a-secret", server.url))
            .await
            .unwrap();
        assert_eq!(unknown.status(), 404);

        // Reopened and resolved again, the ticket is surveyed afresh.
        let reopened = admin
            .patch(
                &format!("/api/v1/tickets/{number}"),
                json!({"status": "open"}),
                None,
            )
            .await;
        assert_eq!(reopened.status, 200, "{}", reopened.text);
        resolve(&admin, &number).await;
        let again = eventually(Duration::from_secs(20), || async {
            mails(&maildir, "How did we do?", &title).len() == 2
        })
        .await;
        assert!(again, "the second resolution was not surveyed");
        let fresh = admin.get(&format!("/api/v1/tickets/{number}/rating")).await;
        assert_eq!(fresh.body["score"], Value::Null, "{}", fresh.text);
        assert_ne!(fresh.body["id"], kept.body["id"]);
    }
);

dual_backend_test!(
    a_low_score_mails_the_group_lead_and_not_its_other_members,
    |backend: Backend| async move {
        let Some((server, _clock, maildir)) = mailing_desk(backend).await else {
            return;
        };
        let admin = server.admin();
        server.user("lee@msp.example", "agent", None, &[]).await;
        let groups = admin.get("/api/v1/groups").await;
        let desk = groups.body.as_array().unwrap()[0]["id"].as_i64().unwrap();
        let joined = admin
            .put(
                &format!("/api/v1/groups/{desk}/members/lee@msp.example"),
                json!({}),
            )
            .await;
        assert_eq!(joined.status, 201, "{}", joined.text);
        let lead = admin
            .put(
                &format!("/api/v1/groups/{desk}/lead"),
                json!({"lead": "lee@msp.example"}),
            )
            .await;
        assert_eq!(lead.status, 200, "{}", lead.text);
        assert_eq!(lead.body["lead"], "lee@msp.example");
        let nobody = admin
            .put(
                &format!("/api/v1/groups/{desk}/lead"),
                json!({"lead": "carol@acme.example"}),
            )
            .await;
        assert_eq!(nobody.status, 422, "{}", nobody.text);
        assert_eq!(nobody.body["errors"][0]["field"], "lead");

        let carol = server.client(&server.token_for("carol@acme.example").await);
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let low = incident(
            &server,
            &format!("Printer offline ({tag})"),
            "carol@acme.example",
        )
        .await;
        let high = incident(&server, &format!("New mouse ({tag})"), "carol@acme.example").await;
        resolve(&admin, &low).await;
        resolve(&admin, &high).await;
        let rated = rate(&carol, &low, json!(2), "Took three days").await;
        assert_eq!(rated.status, 200, "{}", rated.text);
        assert_eq!(rated.body["channel"], "portal");
        assert_eq!(rate(&carol, &high, json!(5), "").await.status, 200);

        let mailed = eventually(Duration::from_secs(20), || async {
            !mails(&maildir, "Low satisfaction score", &tag).is_empty()
        })
        .await;
        assert!(mailed, "the lead was not told");
        // Titles carry a tag of this run: the mailbox is shared with other tests and runs.
        let told = mails(&maildir, "Low satisfaction score", &tag);
        assert_eq!(told.len(), 1, "only the lead is told");
        let (raw, text) = &told[0];
        assert!(raw.contains("lee@msp.example") && !raw.contains("ann@msp.example"));
        assert!(
            text.contains("2 out of 5") && text.contains("Took three days"),
            "{text}"
        );
        assert!(
            text.contains(&format!("http://desk.test/tickets/{low}")),
            "{text}"
        );
        assert!(server.jobs_done("survey.low_score", 1).await);
        assert!(
            mails(
                &maildir,
                "Low satisfaction score",
                &format!("New mouse ({tag})")
            )
            .is_empty()
        );
    }
);

dual_backend_test!(
    the_summary_adds_up_the_answers_and_customers_see_only_their_organization,
    |backend: Backend| async move {
        let clock = ManualClock::starting_at(NOW.parse().unwrap());
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        let carol = server.client(&server.token_for("carol@acme.example").await);
        let gus = server.client(&server.token_for("gus@globex.example").await);
        // Acme: five resolutions answered 5, 4, 2, 1 and one not at all.
        for score in [Some(5), Some(4), Some(2), Some(1), None] {
            let number = incident(&server, "Slow laptop", "carol@acme.example").await;
            resolve(&admin, &number).await;
            if let Some(score) = score {
                let rated = rate(&carol, &number, json!(score), "").await;
                assert_eq!(rated.status, 200, "{}", rated.text);
            }
        }
        // Globex: one, answered 5.
        let theirs = incident(&server, "Badge reader", "gus@globex.example").await;
        resolve(&admin, &theirs).await;
        assert_eq!(rate(&gus, &theirs, json!(5), "").await.status, 200);
        // Only the requester rates: staff cannot answer for them.
        assert_eq!(rate(&admin, &theirs, json!(1), "").await.status, 403);
        clock.advance(SignedDuration::from_hours(1));

        let organizations = admin.get("/api/v1/organizations").await;
        let acme = organizations.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "Acme")
            .and_then(|o| o["id"].as_i64())
            .unwrap();
        let range = "from=2026-03-01T00:00:00Z&to=2026-03-03T00:00:00Z";
        let summary = admin
            .get(&format!(
                "/api/v1/surveys/summary?{range}&organization={acme}"
            ))
            .await;
        assert_eq!(summary.status, 200, "{}", summary.text);
        assert_eq!(
            summary.body,
            json!({"sent": 5, "answered": 4, "response_rate": 0.8, "average": 3.0,
                   "distribution": [1, 1, 0, 1, 1], "csat_percent": 50.0})
        );
        let everyone = admin.get(&format!("/api/v1/surveys/summary?{range}")).await;
        assert_eq!(everyone.body["sent"], 6);
        assert_eq!(everyone.body["distribution"], json!([1, 1, 0, 1, 2]));
        let before = admin
            .get("/api/v1/surveys/summary?from=2026-02-01T00:00:00Z&to=2026-03-01T00:00:00Z")
            .await;
        assert_eq!(before.body["sent"], 0);
        assert_eq!(before.body["average"], Value::Null);
        let fours = admin.get(&format!("/api/v1/surveys?{range}&score=4")).await;
        assert_eq!(fours.body["items"].as_array().unwrap().len(), 1);
        let page = admin.get(&format!("/api/v1/surveys?{range}&limit=4")).await;
        assert_eq!(page.body["items"].as_array().unwrap().len(), 4);
        let cursor = page.body["next_cursor"].as_str().unwrap();
        let rest = admin
            .get(&format!("/api/v1/surveys?{range}&limit=4&cursor={cursor}"))
            .await;
        assert_eq!(rest.body["items"].as_array().unwrap().len(), 2);

        // A customer reads their organization's surveys only; another's is not found.
        let own = gus.get(&format!("/api/v1/surveys?{range}")).await;
        assert_eq!(own.status, 200, "{}", own.text);
        let items = own.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["ticket"], theirs.as_str());
        let own_summary = gus.get(&format!("/api/v1/surveys/summary?{range}")).await;
        assert_eq!(own_summary.body["sent"], 1);
        for path in [
            format!("/api/v1/surveys?{range}&organization={acme}"),
            format!("/api/v1/surveys/summary?{range}&organization={acme}"),
        ] {
            assert_eq!(gus.get(&path).await.status, 404, "{path}");
        }
        let bad = admin.get(&format!("/api/v1/surveys?{range}&score=x")).await;
        assert_eq!(bad.status, 422);
        assert_eq!(bad.body["errors"][0]["field"], "score");
        let out_of_range = admin.get(&format!("/api/v1/surveys?{range}&score=6")).await;
        assert_eq!(out_of_range.status, 422);
        assert_eq!(out_of_range.body["errors"][0]["field"], "score");
        let backwards = admin
            .get("/api/v1/surveys/summary?from=2026-03-03T00:00:00Z&to=2026-03-01T00:00:00Z")
            .await;
        assert_eq!(backwards.status, 422);
        assert_eq!(backwards.body["errors"][0]["field"], "to");

        // Turned off, resolving surveys nobody.
        let settings = admin.get("/api/v1/survey-settings").await;
        assert_eq!(
            settings.body,
            json!({"enabled": true, "ticket_types": ["incident", "service_request"],
                   "low_score_threshold": 2})
        );
        assert_eq!(carol.get("/api/v1/survey-settings").await.status, 403);
        let off = admin
            .put(
                "/api/v1/survey-settings",
                json!({"enabled": false, "ticket_types": ["incident"], "low_score_threshold": 1}),
            )
            .await;
        assert_eq!(off.status, 200, "{}", off.text);
        let wrong = admin
            .put(
                "/api/v1/survey-settings",
                json!({"enabled": true, "ticket_types": ["outage"], "low_score_threshold": 1}),
            )
            .await;
        assert_eq!(wrong.status, 422);
        assert_eq!(wrong.body["errors"][0]["field"], "ticket_types[0]");
        let quiet = incident(&server, "Monitor flickers", "carol@acme.example").await;
        resolve(&admin, &quiet).await;
        let none = admin.get(&format!("/api/v1/tickets/{quiet}/rating")).await;
        assert_eq!(none.status, 404, "{}", none.text);
        assert_eq!(rate(&carol, &quiet, json!(3), "").await.status, 409);
    }
);
