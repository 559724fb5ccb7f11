//! Reports through the API, on SQLite and PostgreSQL: a small desk seeded at known times on
//! a manual clock, every figure checked against the value worked out by hand below, each
//! count's drill-down listing exactly the tickets counted, customers limited to their own
//! organization, the CSV download, the validation of the period, and the weekly report
//! mailed through the test mail server on Monday morning.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use opsdesk_app::ManualClock;
use opsdesk_testkit::{Backend, Client, TestServer, dual_backend_test, eventually, mails_about};
use serde_json::{Value, json};

/// The week reported on (UTC), Monday 2 to Sunday 8 March 2026; the previous period is
/// 23 February to 1 March.
const WEEK: &str = "from=2026-03-02&to=2026-03-08&tz=UTC";

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Opens an incident (medium impact and urgency: P3) for `requester` at the clock's time.
async fn ticket(admin: &Client, requester: &str, extra: Value) -> String {
    let mut body = json!({"type": "incident", "title": format!("Trouble of {requester}"),
                          "impact": "medium", "urgency": "medium", "requester": requester});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let created = admin.post("/api/v1/tickets", body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["priority"], "P3");
    created.body["number"].as_str().unwrap().to_owned()
}

async fn reply(who: &Client, number: &str) {
    let comment = who
        .post(
            &format!("/api/v1/tickets/{number}/comments"),
            json!({"body": "Looking into it", "public": true}),
        )
        .await;
    assert_eq!(comment.status, 201, "{}", comment.text);
}

/// The requester rates the ticket's resolution from 1 to 5.
async fn rate(requester: &Client, number: &str, score: i64) {
    let rated = requester
        .put(
            &format!("/api/v1/tickets/{number}/rating"),
            json!({"score": score, "comment": ""}),
        )
        .await;
    assert_eq!(rated.status, 200, "{}", rated.text);
}

async fn resolve(admin: &Client, number: &str) {
    let resolved = admin
        .patch(
            &format!("/api/v1/tickets/{number}"),
            json!({"status": "resolved", "resolution_code": "fixed"}),
            None,
        )
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);
}

/// Every ticket number a drill-down lists, following its pages.
async fn drilled(who: &Client, query: &str) -> Vec<String> {
    let mut numbers = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = who
            .get(&format!("/api/v1/reports/tickets?{query}&limit=2{cursor}"))
            .await;
        assert_eq!(page.status, 200, "{query}: {}", page.text);
        for item in page.body["items"].as_array().unwrap() {
            numbers.push(item["number"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return numbers,
        }
    }
}

/// Checks that every count of `report` (this period's and the previous one's) lists
/// exactly as many tickets as it says.
async fn every_drill_down_matches(who: &Client, report: &Value) {
    let mut counts: Vec<&Value> = Vec::new();
    for name in [
        "created",
        "resolved",
        "response_breached",
        "resolution_breached",
    ] {
        counts.push(&report[name]);
    }
    for name in ["mtta_minutes", "mttr_minutes"] {
        counts.push(&report[name]["over"]);
    }
    for name in [
        "first_contact_resolution",
        "reopen_rate",
        "response_compliance",
        "resolution_compliance",
        "satisfaction",
    ] {
        counts.push(&report[name]["counted"]);
    }
    // The other shares' totals are sums of two counts, each drilled on its own.
    counts.push(&report["satisfaction"]["of"]);
    for count in counts {
        for (value, drill) in [("value", "drill_down"), ("previous", "previous_drill_down")] {
            let listed = drilled(who, count[drill].as_str().unwrap()).await;
            assert_eq!(
                listed.len() as i64,
                count[value].as_i64().unwrap(),
                "{count}"
            );
        }
    }
    let mut lines: Vec<&Value> = report["backlog"].as_array().unwrap().iter().collect();
    for volume in report["volume"].as_array().unwrap() {
        lines.extend(volume["lines"].as_array().unwrap());
    }
    for line in lines {
        let listed = drilled(who, line["drill_down"].as_str().unwrap()).await;
        assert_eq!(
            listed.len() as i64,
            line["tickets"].as_i64().unwrap(),
            "{line}"
        );
    }
}

/// `(key label, tickets)` of the volume by `by`.
/// Where two reports differ first (a JSON path and both values), if they do.
fn difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .find_map(|(k, v)| {
                difference(v, y.get(k).unwrap_or(&Value::Null), &format!("{path}.{k}"))
            })
            .or_else(|| (x.len() != y.len()).then(|| format!("{path}: other keys"))),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(n, (v, w))| difference(v, w, &format!("{path}[{n}]"))),
        _ => (a != b).then(|| format!("{path}: {a} against {b}")),
    }
}

/// Asserts the reports are the same, naming where they differ.
fn assert_same(a: &[Value], b: &[Value]) {
    for (n, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(difference(x, y, &format!("report {n}")), None);
    }
    assert_eq!(a.len(), b.len());
}

/// The reports at `paths`, each answered 200.
async fn reports(who: &Client, paths: &[String]) -> Vec<Value> {
    let mut bodies = Vec::new();
    for path in paths {
        let report = who.get(path).await;
        assert_eq!(report.status, 200, "{path}: {}", report.text);
        bodies.push(report.body);
    }
    bodies
}

fn volume(report: &Value, by: &str) -> Vec<(String, i64)> {
    let volume = report["volume"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["by"] == by)
        .unwrap();
    volume["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["label"].as_str().unwrap().to_owned(),
                l["tickets"].as_i64().unwrap(),
            )
        })
        .collect()
}

dual_backend_test!(
    figures_equal_what_was_worked_out_by_hand,
    |backend: Backend| async move {
        let clock = ManualClock::starting_at(at("2026-01-20T10:00:00Z"));
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        let carol = server.client(&server.token_for("carol@acme.example").await);
        let gus = server.client(&server.token_for("gus@globex.example").await);
        let organizations = admin.get("/api/v1/organizations").await;
        let globex = organizations.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "Globex")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        // Globex works office hours: Monday to Friday 09:00–17:00 UTC, P3 answered within
        // 4 business hours and resolved within 3 business days (24 hours). Acme has the
        // default policy, around the clock: P3 4 h and 3 days.
        let office = admin
            .post(
                "/api/v1/calendars",
                json!({"name": "Office", "timezone": "UTC", "hours": [
                    {"weekday": "monday", "start": "09:00", "end": "17:00"},
                    {"weekday": "tuesday", "start": "09:00", "end": "17:00"},
                    {"weekday": "wednesday", "start": "09:00", "end": "17:00"},
                    {"weekday": "thursday", "start": "09:00", "end": "17:00"},
                    {"weekday": "friday", "start": "09:00", "end": "17:00"}], "holidays": []}),
            )
            .await;
        assert_eq!(office.status, 201, "{}", office.text);
        let policy = admin
            .post(
                "/api/v1/sla-policies",
                json!({"position": 1, "calendar_id": office.body["id"], "spec": {
                    "name": "Globex office", "organizations": [globex],
                    "targets": {"P3": {"response_seconds": 14_400, "resolution_seconds": 86_400}}}}),
            )
            .await;
        assert_eq!(policy.status, 201, "{}", policy.text);

        // T8, Acme, 20 January: open ever since (older than 30 days at the end).
        let t8 = ticket(&admin, "carol@acme.example", json!({})).await;
        // T0, Acme, previous period: created Wed 25 Feb 10:00, answered 10:30, resolved 12:00.
        clock.set(at("2026-02-25T10:00:00Z"));
        let t0 = ticket(&admin, "carol@acme.example", json!({})).await;
        clock.set(at("2026-02-25T10:30:00Z"));
        reply(&admin, &t0).await;
        clock.set(at("2026-02-25T12:00:00Z"));
        resolve(&admin, &t0).await;
        rate(&carol, &t0, 5).await;
        // T7, Globex, previous period: created Thu 26 Feb 10:00, never answered.
        clock.set(at("2026-02-26T10:00:00Z"));
        let t7 = ticket(&admin, "gus@globex.example", json!({})).await;
        // T1, Acme, Mon 2 Mar 10:00, Printer, Service Desk, assigned to ann: answered 10:20,
        // resolved 11:00.
        clock.set(at("2026-03-02T10:00:00Z"));
        let t1 = ticket(
            &admin,
            "carol@acme.example",
            json!({"category": "Printer", "group": "Service Desk", "assignee": "ann@msp.example"}),
        )
        .await;
        clock.set(at("2026-03-02T10:20:00Z"));
        reply(&admin, &t1).await;
        clock.set(at("2026-03-02T11:00:00Z"));
        resolve(&admin, &t1).await;
        rate(&carol, &t1, 5).await;
        // T2, Acme, Mon 2 Mar 20:00 by phone, Service Desk: answered 20:40 and again 21:00,
        // resolved 22:00.
        clock.set(at("2026-03-02T20:00:00Z"));
        let t2 = ticket(
            &admin,
            "carol@acme.example",
            json!({"source": "phone", "group": "Service Desk"}),
        )
        .await;
        clock.set(at("2026-03-02T20:40:00Z"));
        reply(&admin, &t2).await;
        clock.set(at("2026-03-02T21:00:00Z"));
        reply(&admin, &t2).await;
        clock.set(at("2026-03-02T22:00:00Z"));
        resolve(&admin, &t2).await;
        rate(&carol, &t2, 2).await;
        // T3, Acme, Tue 3 Mar 09:00: answered 09:30, resolved 10:00, reopened by carol's
        // reply at 11:00, resolved again 12:00.
        clock.set(at("2026-03-03T09:00:00Z"));
        let t3 = ticket(&admin, "carol@acme.example", json!({})).await;
        clock.set(at("2026-03-03T09:30:00Z"));
        reply(&admin, &t3).await;
        clock.set(at("2026-03-03T10:00:00Z"));
        resolve(&admin, &t3).await;
        clock.set(at("2026-03-03T11:00:00Z"));
        reply(&carol, &t3).await;
        clock.set(at("2026-03-03T12:00:00Z"));
        resolve(&admin, &t3).await;
        // T5, Globex, Wed 4 Mar 10:00: never answered.
        clock.set(at("2026-03-04T10:00:00Z"));
        let t5 = ticket(&admin, "gus@globex.example", json!({})).await;
        // T4, Globex, Thu 5 Mar 16:30: answered Fri 6 Mar 09:30, resolved 10:00.
        clock.set(at("2026-03-05T16:30:00Z"));
        let t4 = ticket(&admin, "gus@globex.example", json!({})).await;
        clock.set(at("2026-03-06T09:30:00Z"));
        reply(&admin, &t4).await;
        clock.set(at("2026-03-06T10:00:00Z"));
        resolve(&admin, &t4).await;
        rate(&gus, &t4, 4).await;
        // T6, Acme, Sat 7 Mar 08:00: never answered.
        clock.set(at("2026-03-07T08:00:00Z"));
        let t6 = ticket(&admin, "carol@acme.example", json!({})).await;
        // T9, Acme, Mon 9 Mar 11:00, after the week: open.
        clock.set(at("2026-03-09T11:00:00Z"));
        let t9 = ticket(&admin, "carol@acme.example", json!({})).await;
        // The report is read at Mon 9 Mar 12:00, once the sweeper has marked the breaches:
        // T5, T6, T7 and T8 missed their response targets.
        clock.set(at("2026-03-09T12:00:00Z"));
        assert!(
            eventually(Duration::from_secs(20), || async {
                let breached = admin.get("/api/v1/tickets?q=sla:breached&limit=50").await;
                breached.body["items"].as_array().map(Vec::len) == Some(4)
            })
            .await,
            "the sweeper marks T5, T6, T7 and T8 breached"
        );

        let report = admin.get(&format!("/api/v1/reports?{WEEK}")).await;
        assert_eq!(report.status, 200, "{}", report.text);
        let r = &report.body;
        assert_eq!(r["starts"], "2026-03-02T00:00:00Z");
        assert_eq!(r["ends"], "2026-03-09T00:00:00Z");
        assert_eq!(r["previous_starts"], "2026-02-23T00:00:00Z");
        assert_eq!(
            (r["previous_from"].as_str(), r["previous_to"].as_str()),
            (Some("2026-02-23"), Some("2026-03-01"))
        );
        // Created: T1–T6 this week; T0 and T7 the week before.
        assert_eq!(
            (
                r["created"]["value"].as_i64(),
                r["created"]["previous"].as_i64()
            ),
            (Some(6), Some(2))
        );
        // Resolved: T1, T2, T3 (its last resolution, Tue 12:00) and T4; before: T0.
        assert_eq!(
            (
                r["resolved"]["value"].as_i64(),
                r["resolved"]["previous"].as_i64()
            ),
            (Some(4), Some(1))
        );
        // MTTA over the 4 answered: T1 20 min, T2 40, T3 30, T4 in business hours
        // 16:30–17:00 Thu and 09:00–09:30 Fri = 60 (17 hours on the wall):
        // (20 + 40 + 30 + 60) / 4 = 37.5. Before: T0 30.
        assert_eq!(r["mtta_minutes"]["value"], 37.5);
        assert_eq!(r["mtta_minutes"]["previous"], 30.0);
        assert_eq!(r["mtta_minutes"]["over"]["value"], 4);
        // MTTR over the 4 resolved: T1 60 min, T2 120, T3 60 + 60 (its clock stood while
        // resolved, 10:00–11:00) = 120, T4 30 Thu + 60 Fri = 90: 390 / 4 = 97.5.
        // Before: T0 120.
        assert_eq!(r["mttr_minutes"]["value"], 97.5);
        assert_eq!(r["mttr_minutes"]["previous"], 120.0);
        // First contact: T1 and T4 (T2 took two replies, T3 was reopened): 2 / 4 = 50 %;
        // before T0: 100 %.
        assert_eq!(r["first_contact_resolution"]["value"], 50.0);
        assert_eq!(r["first_contact_resolution"]["previous"], 100.0);
        // Reopened: T3 of 4 = 25 %; before 0 %.
        assert_eq!(r["reopen_rate"]["value"], 25.0);
        assert_eq!(r["reopen_rate"]["previous"], 0.0);
        // Response: met T1–T4, breached T5 (4 business hours from Wed 10:00) and T6 (4 h
        // from Sat 08:00): 4 / 6 = 66.7 %. Before: T0 met, T7 breached: 50 %.
        assert_eq!(r["response_compliance"]["value"], 66.7);
        assert_eq!(r["response_compliance"]["previous"], 50.0);
        assert_eq!(r["response_breached"]["value"], 2);
        // Resolution: met T1–T4; T5 breached at Mon 9 Mar 10:00 (Wed 7 h + Thu 8 + Fri 8 +
        // Mon 1 = 24 business hours); T6 is due only Tue 10 Mar 08:00: 4 / 5 = 80 %.
        // Before: T0 met, T7 breached Tue 3 Mar 10:00: 50 %.
        assert_eq!(r["resolution_compliance"]["value"], 80.0);
        assert_eq!(r["resolution_compliance"]["previous"], 50.0);
        assert_eq!(r["resolution_breached"]["value"], 1);
        // Open at Mon 9 Mar 12:00: T9 1 h old, T6 2 d 4 h, T5 5 d 2 h, T7 11 d 2 h, T8 48 d.
        let backlog: Vec<(String, i64)> = r["backlog"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["age"].as_str().unwrap().to_owned(),
                    b["tickets"].as_i64().unwrap(),
                )
            })
            .collect();
        let one_each = ["<1d", "1-3d", "3-7d", "7-30d", ">30d"].map(|a| (a.to_owned(), 1));
        assert_eq!(backlog, one_each);
        // Volumes of T1–T6.
        let lines = |pairs: &[(&str, i64)]| -> Vec<(String, i64)> {
            pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
        };
        assert_eq!(
            volume(r, "organization"),
            lines(&[("Acme", 4), ("Globex", 2)])
        );
        assert_eq!(
            volume(r, "group"),
            lines(&[("none", 4), ("Service Desk", 2)])
        );
        assert_eq!(volume(r, "category"), lines(&[("none", 5), ("Printer", 1)]));
        assert_eq!(volume(r, "agent")[1].1, 1, "ann has T1");
        assert_eq!(volume(r, "channel"), lines(&[("api", 5), ("phone", 1)]));
        // Per day: created Mon 2 (T1, T2), Tue 1, Wed 1, Thu 1, Sat 1; resolved Mon 2, Tue 1
        // (T3), Fri 1 (T4).
        let days: Vec<(i64, i64)> = r["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["created"].as_i64().unwrap(),
                    d["resolved"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            days,
            [(2, 2), (1, 1), (1, 0), (1, 0), (0, 1), (1, 0), (0, 0)]
        );
        assert_eq!(r["monitors"]["monitors"], 0);
        assert_eq!(r["monitors"]["uptime"], Value::Null);
        assert_eq!(r["changes"]["finished"], 0);
        // Satisfaction: of the resolved and rated, T1 (5) and T4 (4) satisfied, T2 (2) not;
        // before, T0 (5).
        assert_eq!(r["satisfaction"]["counted"]["value"], 2);
        assert_eq!(r["satisfaction"]["of"]["value"], 3);
        assert_eq!(r["satisfaction"]["previous"], 100.0);
        // Shares are given to one decimal.
        assert_eq!(r["satisfaction"]["value"], 66.7);
        assert_eq!(
            drilled(
                &admin,
                r["satisfaction"]["counted"]["drill_down"].as_str().unwrap()
            )
            .await,
            [t1.clone(), t4.clone()]
        );

        // Drill-downs list exactly what was counted.
        every_drill_down_matches(&admin, r).await;
        let first_contact = r["first_contact_resolution"]["counted"]["drill_down"]
            .as_str()
            .unwrap();
        assert_eq!(
            drilled(&admin, first_contact).await,
            [t1.clone(), t4.clone()]
        );
        let reopened = r["reopen_rate"]["counted"]["drill_down"].as_str().unwrap();
        assert_eq!(drilled(&admin, reopened).await, std::slice::from_ref(&t3));
        let breached = r["response_breached"]["drill_down"].as_str().unwrap();
        assert_eq!(drilled(&admin, breached).await, [t5.clone(), t6.clone()]);
        let oldest = r["backlog"][4]["drill_down"].as_str().unwrap();
        assert_eq!(drilled(&admin, oldest).await, std::slice::from_ref(&t8));
        let newest = r["backlog"][0]["drill_down"].as_str().unwrap();
        assert_eq!(drilled(&admin, newest).await, std::slice::from_ref(&t9));
        let before = r["created"]["previous_drill_down"].as_str().unwrap();
        assert_eq!(drilled(&admin, before).await, [t0.clone(), t7.clone()]);

        // In Tokyo (UTC+9) Tuesday 3 March began at 15:00 UTC on Monday: T2 (20:00 UTC)
        // and T3 were opened that day there, only T3 in UTC.
        let tokyo = admin
            .get("/api/v1/reports?from=2026-03-03&to=2026-03-03&tz=Asia/Tokyo")
            .await;
        assert_eq!(tokyo.body["created"]["value"], 2, "{}", tokyo.text);
        let utc = admin
            .get("/api/v1/reports?from=2026-03-03&to=2026-03-03&tz=UTC")
            .await;
        assert_eq!(utc.body["created"]["value"], 1, "{}", utc.text);

        // Customers see their own organization's figures only.
        let acme = carol.get(&format!("/api/v1/reports?{WEEK}")).await;
        assert_eq!(acme.status, 200, "{}", acme.text);
        assert_eq!(acme.body["created"]["value"], 4, "T1, T2, T3, T6");
        assert_eq!(acme.body["created"]["previous"], 1, "T0");
        assert_eq!(acme.body["resolved"]["value"], 3, "T1, T2, T3");
        assert_eq!(volume(&acme.body, "organization"), lines(&[("Acme", 4)]));
        assert_eq!(acme.body["changes"], Value::Null);
        let created = acme.body["created"]["drill_down"].as_str().unwrap();
        assert_eq!(drilled(&carol, created).await, [t1, t2, t3, t6.clone()]);
        every_drill_down_matches(&carol, &acme.body).await;
        let globex_report = gus.get(&format!("/api/v1/reports?{WEEK}")).await;
        assert_eq!(globex_report.body["created"]["value"], 2, "T4, T5");
        assert_eq!(globex_report.body["created"]["previous"], 1, "T7");
        let other = carol
            .get(&format!("/api/v1/reports?{WEEK}&organization={globex}"))
            .await;
        assert_eq!(other.status, 404, "{}", other.text);
        let staff_globex = admin
            .get(&format!("/api/v1/reports?{WEEK}&organization={globex}"))
            .await;
        assert_eq!(staff_globex.body["created"]["value"], 2);

        // The CSV download carries the same figures.
        let csv = admin
            .get(&format!("/api/v1/reports?{WEEK}&format=csv"))
            .await;
        assert_eq!(csv.status, 200);
        assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
        assert!(
            csv.text.starts_with("section,figure,value,previous\n"),
            "{}",
            csv.text
        );
        for line in [
            "tickets,created,6,2",
            "tickets,mtta_minutes,37.5,30",
            "tickets,reopen_rate_percent,25,0",
            "backlog,>30d,1,",
            "volume_by_organization,Acme,4,",
            "created_per_day,2026-03-02,2,",
        ] {
            assert!(
                csv.text.lines().any(|l| l == line),
                "{line} in {}",
                csv.text
            );
        }

        // So does the PDF: each cell is a text run of its page's content (uncompressed).
        let pdf = admin
            .get(&format!("/api/v1/reports?{WEEK}&format=pdf"))
            .await;
        assert_eq!(pdf.status, 200);
        assert_eq!(pdf.header("content-type"), Some("application/pdf"));
        assert!(pdf.text.starts_with("%PDF-"), "{}", pdf.text);
        assert!(pdf.text.trim_end().ends_with("%%EOF"));
        for run in [
            "(Service desk report 2026-03-02 to 2026-03-08 (UTC))",
            "(mtta minutes) Tj",
            "(37.5) Tj",
            "(volume by organization) Tj",
            "(page 1 of 1)",
        ] {
            assert!(pdf.text.contains(run), "{run} in {}", pdf.text);
        }

        // Rolled up, the days before today (9 March) give the same reports: in UTC, for one
        // organization, and in a zone whose days begin on the half hour.
        let asked = [
            format!("/api/v1/reports?{WEEK}"),
            format!("/api/v1/reports?{WEEK}&organization={globex}"),
            "/api/v1/reports?from=2026-02-20&to=2026-03-09&tz=Asia/Kolkata".to_owned(),
        ];
        let counted = reports(&admin, &asked).await;
        let carols = reports(&carol, &asked[2..]).await;
        server.app.fold_reports().await.unwrap();
        assert_eq!(
            server.app.fold_reports().await.unwrap(),
            0,
            "nothing changed since"
        );
        assert_same(&reports(&admin, &asked).await, &counted);
        assert_same(&reports(&carol, &asked[2..]).await, &carols);
        // They are read from the roll-ups: a roll-up changed behind opsdesk's back shows.
        let mut db = server.db.connect().await;
        let monday = at("2026-03-02T00:00:00Z").as_millisecond() / 86_400_000;
        let tamper = |by: i64| {
            sqlx::query("UPDATE rollup_created SET created = created + $1 WHERE day = $2")
                .bind(by)
                .bind(monday)
        };
        tamper(100).execute(&mut db).await.unwrap();
        let tampered = admin.get(&asked[0]).await;
        assert_eq!(tampered.body["created"]["value"], 106, "{}", tampered.text);
        tamper(-100).execute(&mut db).await.unwrap();
        // A change to a rolled-up day counts at once: T6 (7 March) answered now.
        reply(&admin, &t6).await;
        let changed = reports(&admin, &asked).await;
        assert_eq!(
            changed[0]["mtta_minutes"]["over"]["value"], 5,
            "T1–T4 and T6"
        );
        // The same as counted from the tickets alone, and once rolled up again.
        sqlx::query("DELETE FROM rollup_days")
            .execute(&mut db)
            .await
            .unwrap();
        assert_same(&reports(&admin, &asked).await, &changed);
        server.app.fold_reports().await.unwrap();
        assert_same(&reports(&admin, &asked).await, &changed);

        // A security incident on a rolled-up day (4 March) counts for whoever may see it (the
        // admin) and not for an agent outside its group: restricted tickets are never rolled
        // up, and always counted from the tickets.
        server.user("sam@msp.example", "agent", None, &[]).await;
        let security = admin
            .post(
                "/api/v1/groups",
                json!({"name": "Security", "tier": 2, "members": ["sam@msp.example"]}),
            )
            .await;
        assert_eq!(security.status, 201, "{}", security.text);
        clock.set(at("2026-03-04T15:00:00Z"));
        let incident = admin
            .post(
                "/api/v1/security-incidents",
                json!({"title": "Files renamed on FS01", "severity": "critical", "group": "Security"}),
            )
            .await;
        assert_eq!(incident.status, 201, "{}", incident.text);
        clock.set(at("2026-03-09T12:00:00Z"));
        // Once the sweeper has marked it breached, the last change to its day.
        assert!(
            eventually(Duration::from_secs(20), || async {
                let report = admin.get(&asked[0]).await;
                report.body["resolution_breached"]["value"] == 2
            })
            .await,
            "the incident missed its resolution target"
        );
        server.app.fold_reports().await.unwrap();
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let (admins, anns) = (reports(&admin, &asked).await, reports(&ann, &asked).await);
        assert_eq!(admins[0]["created"]["value"], 7, "T1–T6 and the incident");
        assert_eq!(anns[0]["created"]["value"], 6, "T1–T6");
        sqlx::query("DELETE FROM rollup_days")
            .execute(&mut db)
            .await
            .unwrap();
        assert_same(&reports(&admin, &asked).await, &admins);
        assert_same(&reports(&ann, &asked).await, &anns);
    }
);

dual_backend_test!(
    reopens_and_replies_are_counted_however_they_come,
    |backend: Backend| async move {
        let clock = ManualClock::starting_at(at("2026-03-02T09:00:00Z"));
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        // R: resolved, moved back to open by an agent, resolved again: reopened.
        let r = ticket(&admin, "carol@acme.example", json!({})).await;
        resolve(&admin, &r).await;
        let reopened = admin
            .patch(
                &format!("/api/v1/tickets/{r}"),
                json!({"status": "open"}),
                None,
            )
            .await;
        assert_eq!(reopened.status, 200, "{}", reopened.text);
        resolve(&admin, &r).await;
        // C: resolved, then closed: not reopened, and first contact (no reply at all).
        let c = ticket(&admin, "carol@acme.example", json!({})).await;
        resolve(&admin, &c).await;
        let closed = admin
            .patch(
                &format!("/api/v1/tickets/{c}"),
                json!({"status": "closed"}),
                None,
            )
            .await;
        assert_eq!(closed.status, 200, "{}", closed.text);
        // M: one reply of its own and one from the ticket merged into it: two replies, so
        // not resolved at first contact.
        let m = ticket(&admin, "carol@acme.example", json!({})).await;
        let merged = ticket(&admin, "carol@acme.example", json!({})).await;
        reply(&admin, &m).await;
        reply(&admin, &merged).await;
        let merging = admin
            .post(
                &format!("/api/v1/tickets/{merged}/merge"),
                json!({"into": m}),
            )
            .await;
        assert_eq!(merging.status, 200, "{}", merging.text);
        resolve(&admin, &m).await;

        clock.set(at("2026-03-09T12:00:00Z"));
        let report = admin.get(&format!("/api/v1/reports?{WEEK}")).await;
        assert_eq!(report.status, 200, "{}", report.text);
        let reopened = report.body["reopen_rate"]["counted"]["drill_down"]
            .as_str()
            .unwrap();
        assert_eq!(drilled(&admin, reopened).await, std::slice::from_ref(&r));
        let first_contact = report.body["first_contact_resolution"]["counted"]["drill_down"]
            .as_str()
            .unwrap();
        assert_eq!(drilled(&admin, first_contact).await, [c]);
    }
);

dual_backend_test!(
    a_period_that_does_not_read_is_refused_naming_the_field,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        for (query, field) in [
            ("from=2026-03-08&to=2026-03-02", "from"),
            ("from=2026-13-01", "from"),
            ("to=yesterday", "to"),
            ("from=2025-01-01&to=2026-03-02", "to"),
            ("tz=Mars/Olympus", "tz"),
            ("format=docx", "format"),
            ("colour=red", "colour"),
        ] {
            let refused = admin.get(&format!("/api/v1/reports?{query}")).await;
            assert_eq!(refused.status, 422, "{query}: {}", refused.text);
            assert_eq!(
                refused.body["errors"][0]["field"], field,
                "{query}: {}",
                refused.text
            );
        }
        for (query, field) in [
            ("figure=mood", "figure"),
            ("figure=backlog&age=9", "age"),
            ("figure=volume&by=colour&key=1", "by"),
            ("figure=created&cursor=abc", "cursor"),
            ("figure=created&limit=0", "limit"),
        ] {
            let refused = admin.get(&format!("/api/v1/reports/tickets?{query}")).await;
            assert_eq!(refused.status, 422, "{query}: {}", refused.text);
            assert_eq!(
                refused.body["errors"][0]["field"], field,
                "{query}: {}",
                refused.text
            );
        }
    }
);

dual_backend_test!(
    the_wall_shows_today_in_big_numbers,
    |backend: Backend| async move {
        let clock = ManualClock::starting_at(at("2026-03-04T09:00:00Z"));
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        // Two P3 incidents at 09:00; the first answered at 09:30 (30 min), the second never:
        // its 4-hour response target is missed at 13:00.
        let answered = ticket(&admin, "carol@acme.example", json!({})).await;
        ticket(&admin, "gus@globex.example", json!({})).await;
        clock.set(at("2026-03-04T09:30:00Z"));
        reply(&admin, &answered).await;
        clock.set(at("2026-03-04T14:00:00Z"));
        assert!(
            eventually(Duration::from_secs(20), || async {
                let breached = admin.get("/api/v1/tickets?q=sla:breached").await;
                breached.body["items"].as_array().map(Vec::len) == Some(1)
            })
            .await
        );
        let wall = server
            .web_forms("ann@msp.example")
            .await
            .page("/reports/wall")
            .await;
        for shown in [
            r#"data-priority="P3"><strong>2</strong>"#,
            r#"data-priority="P1"><strong>0</strong>"#,
            r#"data-wall="breaches"><strong>1</strong>"#,
            r#"data-wall="down"><strong>0</strong>"#,
            r#"data-wall="mtta"><strong>30.0</strong>"#,
            r#"<meta http-equiv="refresh" content="30">"#,
        ] {
            assert!(wall.contains(shown), "{shown} in {wall}");
        }
        let (customer, _) = server.web_session("carol@acme.example").await;
        let refused = customer
            .get(format!("{}/reports/wall", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
    }
);

/// The `report.weekly` jobs of Monday `send_on` for `user_id`, as the jobs list shows them.
async fn weekly_jobs(admin: &Client, user_id: i64, send_on: &str) -> Vec<Value> {
    let jobs = admin.get("/api/v1/jobs?limit=500").await;
    assert_eq!(jobs.status, 200, "{}", jobs.text);
    jobs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|job| {
            job["kind"] == "report.weekly"
                && job["payload"]["user_id"] == user_id
                && job["payload"]["send_on"] == send_on
        })
        .cloned()
        .collect()
}

/// Whether every such job has run.
async fn weekly_jobs_done(admin: &Client, user_id: i64, send_on: &str) -> bool {
    let jobs = weekly_jobs(admin, user_id, send_on).await;
    !jobs.is_empty() && jobs.iter().all(|job| job["status"] == "done")
}

dual_backend_test!(
    the_weekly_report_is_mailed_on_monday_morning_in_the_subscribers_zone,
    |backend: Backend| async move {
        // Wednesday 4 March 2026, noon UTC.
        let clock = ManualClock::starting_at(at("2026-03-04T12:00:00Z"));
        let Some((server, maildir)) =
            TestServer::mailing_service_desk(backend, Arc::new(clock.clone())).await
        else {
            return;
        };
        let admin = server.admin();
        // The maildir is shared by every test and run: the organization's name is this run's.
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("Weekly {tag}");
        let organization = admin
            .post("/api/v1/organizations", json!({"name": name}))
            .await;
        assert_eq!(organization.status, 201, "{}", organization.text);
        let organization = organization.body["id"].as_i64().unwrap();
        let requester = format!("pat@{tag}.example");
        let user = admin
            .post(
                "/api/v1/users",
                json!({"email": requester, "name": "Pat", "role": "customer",
                       "organization": organization}),
            )
            .await;
        assert_eq!(user.status, 201, "{}", user.text);

        // Mistakes are named by their field; a customer cannot ask for another organization.
        for (body, field) in [
            (json!({"time_zone": "Mars/Olympus"}), "time_zone"),
            (json!({"organization": 999_999}), "organization"),
            (json!({"colour": "red"}), "colour"),
            (json!({"time_zone": 5}), "time_zone"),
        ] {
            let refused = admin.put("/api/v1/reports/subscription", body).await;
            assert_eq!(refused.status, 422, "{}", refused.text);
            assert_eq!(
                refused.body["errors"][0]["field"], field,
                "{}",
                refused.text
            );
        }
        // Only an object is a subscription, even one whose fields are all optional.
        let refused = admin
            .put("/api/v1/reports/subscription", json!([null, null]))
            .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        let carol = server.client(&server.token_for("carol@acme.example").await);
        let refused = carol
            .put(
                "/api/v1/reports/subscription",
                json!({"organization": organization}),
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(carol.get("/api/v1/reports/subscriptions").await.status, 403);
        assert_eq!(admin.get("/api/v1/reports/subscription").await.status, 404);

        // First New York, then moved to Paris: Monday 07:00 there is 06:00 UTC. The job
        // queued for New York's Monday morning finds the subscription moved and sends nothing.
        let first = admin
            .put(
                "/api/v1/reports/subscription",
                json!({"time_zone": "America/New_York", "organization": organization}),
            )
            .await;
        assert_eq!(
            first.body["next_mail_at"], "2026-03-09T11:00:00Z",
            "{}",
            first.text
        );
        let subscribed = admin
            .put(
                "/api/v1/reports/subscription",
                json!({"time_zone": "Europe/Paris", "organization": organization}),
            )
            .await;
        assert_eq!(subscribed.status, 200, "{}", subscribed.text);
        assert_eq!(subscribed.body["next_mail_at"], "2026-03-09T06:00:00Z");
        assert_eq!(subscribed.body["organization_name"], name.as_str());
        let listed = admin.get("/api/v1/reports/subscriptions").await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert!(listed.body.as_array().unwrap().contains(&subscribed.body));

        // The week: two tickets of the organization, one resolved; one of another's.
        let first = ticket(&admin, &requester, json!({})).await;
        clock.set(at("2026-03-04T13:00:00Z"));
        reply(&admin, &first).await;
        resolve(&admin, &first).await;
        clock.set(at("2026-03-05T09:00:00Z"));
        ticket(&admin, &requester, json!({})).await;
        ticket(&admin, "carol@acme.example", json!({})).await;

        clock.set(at("2026-03-09T06:00:01Z"));
        let subject = ["Weekly report 2026-03-02 to 2026-03-08", name.as_str()];
        assert!(
            eventually(Duration::from_secs(20), || async {
                !mails_about(&maildir, &subject).is_empty()
            })
            .await,
            "no weekly report mail: {}",
            admin.get("/api/v1/jobs?limit=20").await.text
        );
        let mails = mails_about(&maildir, &subject);
        assert_eq!(mails.len(), 1);
        let (raw, text) = &mails[0];
        for line in [
            "Tickets created: 2 (the week before: 0)",
            "Tickets resolved: 1 (the week before: 0)",
            "Mean time to respond (MTTA): 60.0 min",
            "http://desk.test/reports?from=2026-03-02&to=2026-03-08&tz=Europe/Paris",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        let mail = opsdesk_mail::parse(raw.as_bytes()).unwrap();
        let csv = mail
            .attachments
            .iter()
            .find(|file| file.filename == "report-2026-03-02-2026-03-08.csv")
            .unwrap_or_else(|| panic!("no CSV in {raw}"));
        let csv = String::from_utf8(csv.data.clone()).unwrap();
        assert!(
            csv.lines().any(|line| line == "tickets,created,2,0"),
            "{csv}"
        );
        let pdf = mail
            .attachments
            .iter()
            .find(|file| file.filename == "report-2026-03-02-2026-03-08.pdf")
            .unwrap_or_else(|| panic!("no PDF in {raw}"));
        assert!(pdf.data.starts_with(b"%PDF-"));

        // Next Monday's is queued; a cancelled subscription sends it nothing.
        assert!(
            eventually(Duration::from_secs(20), || async {
                let next = admin.get("/api/v1/reports/subscription").await;
                next.body["next_mail_at"] == "2026-03-16T06:00:00Z"
            })
            .await
        );
        let me = admin.get("/api/v1/me").await;
        let user_id = me.body["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("{}", me.text));
        assert_eq!(weekly_jobs(&admin, user_id, "2026-03-16").await.len(), 1);
        assert_eq!(
            admin.delete("/api/v1/reports/subscription").await.status,
            204
        );
        assert_eq!(
            admin.delete("/api/v1/reports/subscription").await.status,
            404
        );
        clock.set(at("2026-03-16T06:00:01Z"));
        assert!(
            eventually(Duration::from_secs(20), || async {
                weekly_jobs_done(&admin, user_id, "2026-03-16").await
                    && weekly_jobs_done(&admin, user_id, "2026-03-09").await
            })
            .await
        );
        // Both of the first Monday's jobs ran: Paris's sent, New York's found the zone moved.
        assert_eq!(weekly_jobs(&admin, user_id, "2026-03-09").await.len(), 2);
        let later = ["Weekly report 2026-03-09 to 2026-03-15", name.as_str()];
        assert!(mails_about(&maildir, &later).is_empty());
        assert_eq!(mails_about(&maildir, &subject).len(), 1, "one mail a week");
        assert!(weekly_jobs(&admin, user_id, "2026-03-23").await.is_empty());
    }
);

dual_backend_test!(
    the_report_page_subscribes_to_the_weekly_mail_of_what_it_shows,
    |backend: Backend| async move {
        let clock = ManualClock::starting_at(at("2026-03-04T12:00:00Z"));
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let forms = server.web_forms("carol@acme.example").await;
        let page = forms.page("/reports?tz=America/New_York").await;
        assert!(page.contains("Mail me this report every Monday"), "{page}");
        let (status, path, page) = forms
            .post(
                "/reports/subscription",
                &[
                    ("tz", "America/New_York"),
                    ("organization", ""),
                    ("back", "/reports?tz=America/New_York"),
                ],
            )
            .await;
        assert_eq!((status, path.as_str()), (200, "/reports"), "{page}");
        assert!(page.contains(r#"id="report-weekly-next""#), "{page}");
        assert!(page.contains("(America/New_York)"), "{page}");
        let carol = server.client(&server.token_for("carol@acme.example").await);
        let mine = carol.get("/api/v1/reports/subscription").await;
        // 07:00 in New York on Monday 9 March (daylight saving time from the 8th) is 11:00 UTC.
        assert_eq!(
            mine.body["next_mail_at"], "2026-03-09T11:00:00Z",
            "{}",
            mine.text
        );
        let (status, _, page) = forms
            .post("/reports/subscription/delete", &[("back", "/reports")])
            .await;
        assert_eq!(status, 200);
        assert!(!page.contains(r#"id="report-weekly-next""#), "{page}");
        assert_eq!(carol.get("/api/v1/reports/subscription").await.status, 404);
        let (status, _, _) = forms
            .post("/reports/subscription", &[("tz", "Mars/Olympus")])
            .await;
        assert_eq!(status, 422);
    }
);

dual_backend_test!(
    reports_the_weekly_mail_and_page_times_follow_a_persons_own_time_zone,
    |backend: Backend| async move {
        // Wednesday 4 March 2026, 02:00 UTC: Tuesday evening in New York, Wednesday in Tokyo.
        let clock = ManualClock::starting_at(at("2026-03-04T02:00:00Z"));
        let server = TestServer::service_desk_on_clock(backend, Arc::new(clock.clone())).await;
        let admin = server.admin();
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let number = ticket(&admin, "carol@acme.example", json!({})).await;

        // Quiet hours alone: reports are in their zone.
        let quiet = json!({"high_urgency": [0], "low_urgency": [0],
                           "quiet_hours": {"start": "22:00", "end": "07:00",
                                           "time_zone": "Asia/Tokyo"}});
        let saved = ann.put("/api/v1/me/notification-rules", quiet).await;
        assert_eq!(saved.status, 200, "{}", saved.text);
        let report = ann.get("/api/v1/reports").await;
        assert_eq!(report.status, 200, "{}", report.text);
        assert_eq!(report.body["time_zone"], "Asia/Tokyo", "{}", report.text);
        assert_eq!(report.body["to"], "2026-03-04");

        // Their own zone wins over the quiet hours' zone.
        let own = json!({"high_urgency": [0], "low_urgency": [0],
                         "quiet_hours": {"start": "22:00", "end": "07:00",
                                         "time_zone": "Asia/Tokyo"},
                         "time_zone": "America/New_York"});
        let saved = ann.put("/api/v1/me/notification-rules", own).await;
        assert_eq!(saved.status, 200, "{}", saved.text);
        let report = ann.get("/api/v1/reports").await;
        assert_eq!(
            report.body["time_zone"], "America/New_York",
            "{}",
            report.text
        );
        assert_eq!(report.body["to"], "2026-03-03", "today in New York");
        let named = ann.get("/api/v1/reports?tz=UTC").await;
        assert_eq!(named.body["time_zone"], "UTC", "a named zone still wins");

        // The weekly mail defaults to it: Monday 07:00 in New York (summer time from the 8th).
        let subscribed = ann.put("/api/v1/reports/subscription", json!({})).await;
        assert_eq!(subscribed.status, 200, "{}", subscribed.text);
        assert_eq!(subscribed.body["time_zone"], "America/New_York");
        assert_eq!(subscribed.body["next_mail_at"], "2026-03-09T11:00:00Z");

        // The web UI shows them times in it: the report page's zone and the ticket's header.
        let forms = server.web_forms("ann@msp.example").await;
        let page = forms.page("/reports").await;
        assert!(page.contains("America/New_York"), "{page}");
        let page = forms.page(&format!("/tickets/{number}")).await;
        assert!(page.contains("2026-03-03 21:00 EST"), "{page}");
        // Times typed into forms are read in it, and shown back in it: 09:00 in New York on
        // 10 March (summer time) is 13:00 UTC.
        let (status, path, page) = forms
            .post(
                "/changes",
                &[
                    ("title", "Swap the core switch"),
                    ("planned_start", "2026-03-10T09:00"),
                    ("planned_end", "2026-03-10T10:30"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("Planned start (America/New_York)")
                && page.contains(r#"value="2026-03-10T09:00""#),
            "{page}"
        );
        let change = ann.get(&format!("/api/v1{path}")).await;
        assert_eq!(
            change.body["planned_start"], "2026-03-10T13:00:00Z",
            "{}",
            change.text
        );
        // Someone who chose no zone still reads UTC.
        let root = server.web_forms("root@msp.example").await;
        let page = root.page(&format!("/tickets/{number}")).await;
        assert!(page.contains("2026-03-04 02:00 UTC"), "{page}");

        // A customer chooses theirs too, by the API or on their account page.
        let carol = server.client(&server.token_for("carol@acme.example").await);
        let refused = carol
            .put("/api/v1/me/time-zone", json!({"time_zone": "Mars/Olympus"}))
            .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert!(refused.text.contains("time_zone"), "{}", refused.text);
        let chosen = carol
            .put("/api/v1/me/time-zone", json!({"time_zone": "asia/tokyo"}))
            .await;
        assert_eq!(
            chosen.body,
            json!({"time_zone": "Asia/Tokyo"}),
            "{}",
            chosen.text
        );
        let portal = server.web_forms("carol@acme.example").await;
        let page = portal.page(&format!("/portal/tickets/{number}")).await;
        assert!(page.contains("2026-03-04 11:00 JST"), "{page}");
        let (status, _, page) = portal
            .post("/account/time-zone", &[("time_zone", "")])
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(
            carol.get("/api/v1/me/time-zone").await.body,
            json!({"time_zone": null})
        );
        let page = portal.page(&format!("/portal/tickets/{number}")).await;
        assert!(page.contains("2026-03-04 02:00 UTC"), "{page}");
    }
);
