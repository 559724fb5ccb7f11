//! Change management through the API: a board's quorum approves a normal change and a
//! veto rejects one; a window inside a freeze, or over an item another change touches, is
//! flagged; an approved window holds its items' monitors in maintenance; incidents right
//! after the window are linked to the change, and "what changed?" names it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use opsdesk_app::ManualClock;
use opsdesk_testkit::{Backend, Client, TestServer, dual_backend_test};
use serde_json::{Value, json};

/// The time every test starts at.
const NOW: &str = "2026-03-02T10:00:00Z";

fn at(hours_from_now: i64) -> String {
    let now: Timestamp = NOW.parse().unwrap();
    (now + SignedDuration::from_hours(hours_from_now)).to_string()
}

/// The service desk on a clock standing at [`NOW`].
async fn server(backend: Backend) -> TestServer {
    server_and_clock(backend).await.0
}

/// [`server`], with its clock for the test to move.
async fn server_and_clock(backend: Backend) -> (TestServer, ManualClock) {
    let clock = ManualClock::starting_at(NOW.parse().unwrap());
    let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
    (server, clock)
}

async fn item(admin: &Client, name: &str) -> i64 {
    let created = admin
        .post("/api/v1/cis", json!({"class": "server", "name": name}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.body["id"].as_i64().unwrap()
}

async fn template(admin: &Client, body: Value) {
    let created = admin.post("/api/v1/change-templates", body).await;
    assert_eq!(created.status, 201, "{}", created.text);
}

async fn change(who: &Client, body: Value) -> String {
    let created = who.post("/api/v1/changes", body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["state"], "draft");
    created.body["number"].as_str().unwrap().to_owned()
}

async fn move_to(who: &Client, number: &str, state: &str) -> Value {
    let moved = who
        .patch(
            &format!("/api/v1/changes/{number}"),
            json!({"state": state}),
            None,
        )
        .await;
    assert_eq!(moved.status, 200, "{number} → {state}: {}", moved.text);
    moved.body
}

async fn vote(who: &Client, number: &str, decision: &str, comment: &str) -> opsdesk_testkit::Reply {
    who.post(
        &format!("/api/v1/changes/{number}/approvals"),
        json!({"decision": decision, "comment": comment}),
    )
    .await
}

/// A board "CAB" of three agents, and a normal template it approves with `quorum`.
async fn board(server: &TestServer, quorum: i64) -> [Client; 3] {
    let mut members = Vec::new();
    for email in ["ann@cab.example", "bob@cab.example", "cy@cab.example"] {
        members.push(server.client(&server.user(email, "agent", None, &[]).await));
    }
    let admin = server.admin();
    let group = admin
        .post(
            "/api/v1/groups",
            json!({"name": "CAB", "tier": 3,
                   "members": ["ann@cab.example", "bob@cab.example", "cy@cab.example"]}),
        )
        .await;
    assert_eq!(group.status, 201, "{}", group.text);
    template(
        &admin,
        json!({
            "name": "Server patching", "type": "normal", "board": "CAB", "quorum": quorum,
            "veto": true, "backout_plan": "Reinstall the previous packages.",
            "questions": [
                {"key": "users", "text": "Who notices?", "options": [
                    {"label": "nobody", "score": 0}, {"label": "everyone", "score": 12}]},
                {"key": "tested", "text": "Tested in staging?", "options": [
                    {"label": "yes", "score": 0}, {"label": "no", "score": 8}]},
            ],
        }),
    )
    .await;
    members.try_into().ok().unwrap()
}

dual_backend_test!(
    a_normal_change_needs_its_quorum_and_a_veto_rejects_it,
    |backend: Backend| async move {
        let server = server(backend).await;
        let admin = server.admin();
        let [ann, bob, cy] = board(&server, 2).await;
        let db = item(&admin, "db-01").await;
        let refused = admin
            .post(
                "/api/v1/changes",
                json!({"title": "Patch", "template": "Server patching", "cis": [db],
                       "risk_answers": {"users": "some", "tested": "yes"}}),
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(refused.body["errors"][0]["field"], "risk_answers.users");

        let body = json!({"title": "Patch db-01", "template": "Server patching", "cis": [db],
                          "risk_answers": {"users": "everyone", "tested": "no"},
                          "planned_start": at(24), "planned_end": at(26)});
        let number = change(&ann, body.clone()).await;
        let fetched = admin.get(&format!("/api/v1/changes/{number}")).await;
        assert_eq!(fetched.body["risk"]["level"], "high", "{}", fetched.text);
        assert_eq!(
            fetched.body["backout_plan"],
            "Reinstall the previous packages."
        );
        // A normal change is assessed before it goes to its board.
        let skipped = ann
            .patch(
                &format!("/api/v1/changes/{number}"),
                json!({"state": "approval"}),
                None,
            )
            .await;
        assert_eq!(skipped.status, 409, "{}", skipped.text);
        move_to(&ann, &number, "assessment").await;
        let asked = move_to(&ann, &number, "approval").await;
        assert_eq!(asked["approval"], "pending");

        // Only the board votes, each member once; one approval is not the quorum.
        let outsider = vote(&admin, &number, "approve", "").await;
        assert_eq!(outsider.status, 403, "{}", outsider.text);
        let first = vote(&ann, &number, "approve", "Looks fine").await;
        assert_eq!(first.status, 200, "{}", first.text);
        assert_eq!(first.body["state"], "approval");
        assert_eq!(vote(&ann, &number, "approve", "").await.status, 409);
        let by_hand = admin
            .patch(
                &format!("/api/v1/changes/{number}"),
                json!({"state": "scheduled"}),
                None,
            )
            .await;
        assert_eq!(by_hand.status, 409, "{}", by_hand.text);
        let second = vote(&bob, &number, "approve", "").await;
        assert_eq!(second.status, 200, "{}", second.text);
        assert_eq!(second.body["state"], "scheduled");
        assert_eq!(second.body["approval"], "approved");
        let votes = second.body["votes"].as_array().unwrap();
        assert_eq!(votes.len(), 2);
        assert_eq!(votes[0]["comment"], "Looks fine");
        assert!(
            second.body["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "approval_decided")
        );
        // Once decided, no more votes.
        assert_eq!(vote(&cy, &number, "reject", "late").await.status, 409);

        // Another change: a rejection needs a reason, and one rejection is a veto.
        let other = change(&ann, body).await;
        move_to(&ann, &other, "assessment").await;
        move_to(&ann, &other, "approval").await;
        assert_eq!(vote(&bob, &other, "approve", "").await.status, 200);
        let unexplained = vote(&cy, &other, "reject", " ").await;
        assert_eq!(unexplained.status, 422, "{}", unexplained.text);
        assert_eq!(unexplained.body["errors"][0]["field"], "comment");
        let vetoed = vote(&cy, &other, "reject", "Month-end close runs that night").await;
        assert_eq!(vetoed.status, 200, "{}", vetoed.text);
        assert_eq!(vetoed.body["state"], "rejected");
        assert_eq!(vetoed.body["approval"], "rejected");
        // A rejected change is over.
        let revived = ann
            .patch(
                &format!("/api/v1/changes/{other}"),
                json!({"state": "scheduled"}),
                None,
            )
            .await;
        assert_eq!(revived.status, 409, "{}", revived.text);
    }
);

dual_backend_test!(
    a_delegate_votes_for_a_member_who_is_away,
    |backend: Backend| async move {
        let server = server(backend).await;
        let admin = server.admin();
        let [ann, bob, _cy] = board(&server, 3).await;
        let dee = server.client(&server.user("dee@msp.example", "agent", None, &[]).await);
        let away = ann
            .put(
                "/api/v1/me/approval-delegation",
                json!({"delegate": "dee@msp.example", "until": at(72)}),
            )
            .await;
        assert_eq!(away.status, 200, "{}", away.text);
        let db = item(&admin, "db-02").await;
        let number = change(
            &bob,
            json!({"title": "Resize db-02", "template": "Server patching", "cis": [db],
                   "risk_answers": {"users": "nobody", "tested": "yes"},
                   "planned_start": at(5), "planned_end": at(6)}),
        )
        .await;
        move_to(&bob, &number, "assessment").await;
        move_to(&bob, &number, "approval").await;
        let for_ann = vote(&dee, &number, "approve", "for Ann").await;
        assert_eq!(for_ann.status, 200, "{}", for_ann.text);
        let cast = &for_ann.body["votes"][0];
        assert_eq!(cast["member"], "ann@cab.example");
        assert_eq!(cast["cast_by"], "dee@msp.example");
        // Ann's vote is in: she cannot vote again herself.
        assert_eq!(vote(&ann, &number, "approve", "").await.status, 409);
    }
);

dual_backend_test!(
    a_window_inside_a_freeze_or_over_a_busy_item_is_flagged,
    |backend: Backend| async move {
        let server = server(backend).await;
        let admin = server.admin();
        server.user("ops@msp.example", "agent", None, &[]).await;
        let app_server = item(&admin, "app-01").await;
        let vm_host = item(&admin, "esx-01").await;
        let related = admin
            .post(
                &format!("/api/v1/cis/{app_server}/relations"),
                json!({"kind": "runs_on", "target": vm_host}),
            )
            .await;
        assert_eq!(related.status, 201, "{}", related.text);
        let freeze = admin
            .post(
                "/api/v1/freeze-windows",
                json!({"name": "Year-end close", "starts_at": at(40), "ends_at": at(60),
                       "reason": "Finance closes the books"}),
            )
            .await;
        assert_eq!(freeze.status, 201, "{}", freeze.text);
        let backwards = admin
            .post(
                "/api/v1/freeze-windows",
                json!({"name": "x", "starts_at": at(5), "ends_at": at(4)}),
            )
            .await;
        assert_eq!(backwards.status, 422);
        assert_eq!(backwards.body["errors"][0]["field"], "ends_at");

        let planned = |title: &str, ci: i64, from: i64, to: i64| {
            json!({"title": title, "cis": [ci], "planned_start": at(from),
                   "planned_end": at(to), "implementer": "ops@msp.example"})
        };
        let first = change(&admin, planned("Upgrade app-01", app_server, 10, 14)).await;
        move_to(&admin, &first, "assessment").await;
        let second = change(&admin, planned("Patch app-01 again", app_server, 12, 14)).await;
        move_to(&admin, &second, "assessment").await;
        let host = change(&admin, planned("Firmware esx-01", vm_host, 13, 15)).await;
        move_to(&admin, &host, "assessment").await;
        let frozen = change(&admin, planned("Year-end tweak", app_server, 45, 46)).await;
        move_to(&admin, &frozen, "assessment").await;

        let found = admin
            .get(&format!("/api/v1/changes/{second}/conflicts"))
            .await;
        assert_eq!(found.status, 200, "{}", found.text);
        let kinds: Vec<(String, String)> = found
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["kind"].as_str().unwrap().to_owned(),
                    c["with"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("same_ci".to_owned(), first.clone()),
                ("related_ci".to_owned(), host.clone()),
            ],
            "{}",
            found.text
        );
        let in_freeze = admin
            .get(&format!("/api/v1/changes/{frozen}/conflicts"))
            .await;
        assert_eq!(in_freeze.body[0]["kind"], "freeze", "{}", in_freeze.text);
        assert_eq!(in_freeze.body[0]["with"], "Year-end close");

        // esx-01 is maintained on Sundays 02:00–06:00 UTC (its monitor's recurring
        // window): a change to it on a Tuesday evening is flagged, one at 03:00 on Sunday not.
        let monitor = admin
            .post(
                "/api/v1/monitors",
                json!({"name": "esx-01 backup", "kind": "heartbeat", "interval_s": 3600,
                       "grace_s": 60}),
            )
            .await;
        let monitor = monitor.body["id"].as_i64().unwrap();
        let linked = admin
            .send(admin.request(
                reqwest::Method::PUT,
                &format!("/api/v1/cis/{vm_host}/monitors/{monitor}"),
            ))
            .await;
        assert!(linked.status < 300, "{}", linked.text);
        let sundays = admin
            .post(
                "/api/v1/maintenance-windows",
                json!({"monitor_id": monitor, "starts_at": at(-24 * 30), "ends_at": at(24 * 365),
                       "reason": "Sunday patch window",
                       "recurrence": {"schedule": "0 2 * * 0", "timezone": "UTC",
                                      "duration_s": 14400}}),
            )
            .await;
        assert_eq!(sundays.status, 201, "{}", sundays.text);
        let outside = admin
            .get(&format!("/api/v1/changes/{host}/conflicts"))
            .await;
        assert!(
            outside
                .body
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["kind"] == "outside_maintenance"),
            "{}",
            outside.text
        );
        // 2026-03-08 is a Sunday.
        let inside = change(
            &admin,
            json!({"title": "Firmware esx-01, in its window", "cis": [vm_host],
                   "planned_start": "2026-03-08T03:00:00Z", "planned_end": "2026-03-08T04:00:00Z"}),
        )
        .await;
        let fits = admin
            .get(&format!("/api/v1/changes/{inside}/conflicts"))
            .await;
        assert_eq!(fits.body, json!([]), "{}", fits.text);

        // The calendar shows both, with their conflicts, as JSON and as iCalendar.
        let range = format!("from={}&to={}", at(0), at(24 * 7));
        let calendar = admin
            .get(&format!("/api/v1/changes/calendar?{range}"))
            .await;
        assert_eq!(calendar.status, 200, "{}", calendar.text);
        let entries = calendar.body["changes"].as_array().unwrap();
        assert_eq!(entries.len(), 4, "{}", calendar.text);
        let frozen_entry = entries
            .iter()
            .find(|e| e["number"] == frozen.as_str())
            .unwrap();
        assert_eq!(frozen_entry["conflicts"][0]["kind"], "freeze");
        assert_eq!(calendar.body["freezes"][0]["name"], "Year-end close");
        let ics = admin
            .send(
                admin
                    .request(
                        reqwest::Method::GET,
                        &format!("/api/v1/changes/calendar?{range}"),
                    )
                    .header("accept", "text/calendar"),
            )
            .await;
        assert_eq!(ics.status, 200);
        assert!(
            ics.header("content-type")
                .unwrap()
                .starts_with("text/calendar")
        );
        assert!(
            ics.text
                .contains(&format!("SUMMARY:{first}: Upgrade app-01")),
            "{}",
            ics.text
        );
        assert_eq!(ics.text.matches("BEGIN:VEVENT").count(), 5, "{}", ics.text);
    }
);

dual_backend_test!(
    an_approved_window_holds_its_monitors_and_the_incidents_after_it_are_linked,
    |backend: Backend| async move {
        let server = server(backend).await;
        let admin = server.admin();
        let web = item(&admin, "web-01").await;
        let monitor = admin
            .post(
                "/api/v1/monitors",
                json!({"name": "web-01 backup", "kind": "heartbeat", "interval_s": 3600,
                       "grace_s": 60}),
            )
            .await;
        assert_eq!(monitor.status, 201, "{}", monitor.text);
        let monitor = monitor.body["id"].as_i64().unwrap();
        let linked = admin
            .send(admin.request(
                reqwest::Method::PUT,
                &format!("/api/v1/cis/{web}/monitors/{monitor}"),
            ))
            .await;
        assert!(linked.status < 300, "{}", linked.text);
        template(
            &admin,
            json!({"name": "Restart web server", "type": "standard", "watch_hours": 4,
                   "implementation_plan": "systemctl restart nginx"}),
        )
        .await;
        let number = change(
            &admin,
            json!({"title": "Restart nginx on web-01", "template": "Restart web server",
                   "cis": [web], "planned_start": at(-1), "planned_end": at(1)}),
        )
        .await;
        // A standard change is approved as it is submitted, and its window holds the
        // item's monitors.
        let scheduled = move_to(&admin, &number, "scheduled").await;
        assert_eq!(scheduled["approval"], "approved");
        let held = admin
            .get(&format!("/api/v1/maintenance-windows?monitor={monitor}"))
            .await;
        let windows = held.body["items"].as_array().unwrap();
        assert_eq!(windows.len(), 1, "{}", held.text);
        assert_eq!(windows[0]["in_force"], true);
        assert!(windows[0]["reason"].as_str().unwrap().starts_with(&number));

        move_to(&admin, &number, "implementing").await;
        // An incident on the item during the work, linked before the work is done …
        let during = server
            .incident("web-01 answers 502", "medium", "high", "carol@acme.example")
            .await;
        let link = |ticket: String| {
            let admin = admin.clone();
            async move {
                let linked = admin
                    .send(admin.request(
                        reqwest::Method::PUT,
                        &format!("/api/v1/tickets/{ticket}/cis/{web}"),
                    ))
                    .await;
                assert!(linked.status < 300, "{}", linked.text);
            }
        };
        link(during.clone()).await;
        let reviewed = move_to(&admin, &number, "review").await;
        let incidents: Vec<&str> = reviewed["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["number"].as_str().unwrap())
            .collect();
        assert_eq!(incidents, vec![during.as_str()], "{reviewed}");
        // … and one after it, linked as it is tied to the item.
        let after = server
            .incident("web-01 slow", "low", "low", "carol@acme.example")
            .await;
        link(after.clone()).await;
        let fetched = admin.get(&format!("/api/v1/changes/{number}")).await;
        assert_eq!(
            fetched.body["incidents"].as_array().unwrap().len(),
            2,
            "{}",
            fetched.text
        );

        let what = admin
            .get(&format!("/api/v1/tickets/{after}/what-changed"))
            .await;
        assert_eq!(what.status, 200, "{}", what.text);
        assert_eq!(what.body[0]["kind"], "change", "{}", what.text);
        assert_eq!(what.body[0]["change"], number.as_str());
        assert_eq!(what.body[0]["distance"], 0);
        // The incident's page says it too.
        let page = server
            .web_forms("root@msp.example")
            .await
            .page(&format!("/tickets/{after}"))
            .await;
        let panel = page
            .split("id=\"what-changed\"")
            .nth(1)
            .unwrap_or_else(|| panic!("{page}"));
        assert!(
            panel.contains(&format!("href=\"/changes/{number}\"")),
            "{panel}"
        );

        // The review is written, the change closed; followed by incidents, it counts
        // against the failure rate.
        let closed = admin
            .patch(
                &format!("/api/v1/changes/{number}"),
                json!({"state": "closed", "review": "Restart fixed the leak; 502s were the reload."}),
                None,
            )
            .await;
        assert_eq!(closed.status, 200, "{}", closed.text);
        let outcomes = admin
            .get(&format!(
                "/api/v1/changes/outcomes?from={}&to={}",
                at(-48),
                at(48)
            ))
            .await;
        assert_eq!(outcomes.body["finished"], 1, "{}", outcomes.text);
        assert_eq!(outcomes.body["with_incidents"], 1);
        assert_eq!(outcomes.body["failure_rate"], 1.0);

        // A cancelled change lets its monitors go.
        let cancelled = change(
            &admin,
            json!({"title": "Restart again", "template": "Restart web server", "cis": [web],
                   "planned_start": at(2), "planned_end": at(3)}),
        )
        .await;
        move_to(&admin, &cancelled, "scheduled").await;
        let before = admin
            .get(&format!("/api/v1/maintenance-windows?monitor={monitor}"))
            .await;
        assert_eq!(
            before.body["items"].as_array().unwrap().len(),
            2,
            "{}",
            before.text
        );
        move_to(&admin, &cancelled, "cancelled").await;
        let after_cancel = admin
            .get(&format!("/api/v1/maintenance-windows?monitor={monitor}"))
            .await;
        assert_eq!(after_cancel.body["items"].as_array().unwrap().len(), 1);
    }
);

dual_backend_test!(
    an_approval_left_waiting_past_its_timeout_is_escalated_once,
    |backend: Backend| async move {
        let (server, clock) = server_and_clock(backend).await;
        let admin = server.admin();
        let [ann, bob, cy] = board(&server, 2).await;
        template(
            &admin,
            json!({"name": "Urgent patching", "type": "normal", "board": "CAB", "quorum": 2,
                   "approval_timeout_h": 4}),
        )
        .await;
        let db = item(&admin, "db-03").await;
        let body = json!({"title": "Patch db-03", "template": "Urgent patching", "cis": [db],
                          "planned_start": at(24), "planned_end": at(25)});
        let waiting = change(&ann, body.clone()).await;
        let decided = change(&ann, body).await;
        for number in [&waiting, &decided] {
            move_to(&ann, number, "assessment").await;
            move_to(&ann, number, "approval").await;
        }
        assert_eq!(vote(&ann, &waiting, "approve", "").await.status, 200);
        assert_eq!(vote(&bob, &decided, "approve", "").await.status, 200);
        assert_eq!(vote(&cy, &decided, "approve", "").await.status, 200);

        clock.advance(SignedDuration::from_hours(5));
        let kinds = |change: Value| -> Vec<String> {
            change["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["kind"].as_str().unwrap().to_owned())
                .collect()
        };
        let escalated = opsdesk_testkit::eventually(std::time::Duration::from_secs(20), || async {
            let now = admin.get(&format!("/api/v1/changes/{waiting}")).await.body;
            kinds(now).contains(&"approval_overdue".to_owned())
        })
        .await;
        assert!(escalated, "the waiting approval was not escalated");
        let overdue = admin.get(&format!("/api/v1/changes/{waiting}")).await.body;
        let entry = overdue["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "approval_overdue")
            .unwrap();
        // Bob and Cy have not voted; the admins are told too.
        assert!(entry["data"]["reminded"].as_i64().unwrap() >= 3, "{entry}");
        let settled = admin.get(&format!("/api/v1/changes/{decided}")).await.body;
        assert_eq!(settled["state"], "scheduled");
        assert!(!kinds(settled).contains(&"approval_overdue".to_owned()));
        // Once: a later look finds nothing more to do.
        clock.advance(SignedDuration::from_hours(5));
        let again = admin.get(&format!("/api/v1/changes/{waiting}")).await.body;
        assert_eq!(
            kinds(again)
                .iter()
                .filter(|k| *k == "approval_overdue")
                .count(),
            1
        );
    }
);
