//! Monitoring against real targets started on 127.0.0.1 (an HTTP server, a TCP listener, a
//! DNS server, a TLS server with a certificate expiring in 3 days), on SQLite and PostgreSQL:
//! a target going down opens exactly one incident, coming back resolves it, flapping opens no
//! storm, heartbeats go down when silent, and two nodes share the checks without duplicates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use opsdesk_testkit::{
    Backend, Client, ServerProcess, TestDb, TestServer, dual_backend_test, eventually,
    postgres_url, run_command,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

const BIN: &str = env!("CARGO_BIN_EXE_opsdesk");
const WAIT: Duration = Duration::from_secs(30);

/// How the HTTP target answers.
const UP: u8 = 0;
const DOWN: u8 = 1;
/// Alternates between up and down on every request.
const FLAPPING: u8 = 2;
/// Answers 200 without the keyword the tests look for: down, with another error than DOWN's.
const WRONG_BODY: u8 = 3;

/// A small real HTTP server whose health the test switches.
struct Target {
    url: String,
    mode: Arc<AtomicU8>,
    hits: Arc<AtomicUsize>,
}

impl Target {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(UP));
        let hits = Arc::new(AtomicUsize::new(0));
        let (m, h) = (mode.clone(), hits.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (m, h) = (m.clone(), h.clone());
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 4096];
                    let mut read = 0;
                    while !buffer[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buffer[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    let hit = h.fetch_add(1, Ordering::SeqCst);
                    let healthy = ("200 OK", "status: all good");
                    let broken = ("503 Service Unavailable", "status: broken");
                    let (status, body) = match m.load(Ordering::SeqCst) {
                        UP => healthy,
                        DOWN => broken,
                        WRONG_BODY => ("200 OK", "status: degraded"),
                        _ if hit % 2 == 0 => healthy,
                        _ => broken,
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        Self { url, mode, hits }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

async fn monitor(client: &Client, id: i64) -> Value {
    let reply = client.get(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

async fn wait_for_status(client: &Client, id: i64, status: &str) -> Value {
    let last = std::sync::Mutex::new(Value::Null);
    let reached = eventually(WAIT, || async {
        let now = monitor(client, id).await;
        let done = now["status"] == status;
        *last.lock().unwrap() = now;
        done
    })
    .await;
    let last = last.into_inner().unwrap();
    assert!(reached, "monitor {id} never became {status}: {last}");
    last
}

/// Incidents the monitors opened.
async fn monitor_incidents(client: &Client) -> Vec<Value> {
    let reply = client.get("/api/v1/tickets?q=tag:monitor&limit=500").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["items"].as_array().unwrap().clone()
}

async fn create(client: &Client, body: Value) -> i64 {
    let reply = client.post("/api/v1/monitors", body).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.body["id"].as_i64().unwrap()
}

async fn checks(client: &Client, id: i64) -> i64 {
    let reply = client.get(&format!("/api/v1/monitors/{id}/uptime")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["checks"].as_i64().unwrap()
}

/// Waits until `n` more checks of monitor `id` were recorded.
async fn wait_checks(client: &Client, id: i64, n: i64) {
    let start = checks(client, id).await;
    let done = eventually(WAIT, || async { checks(client, id).await >= start + n }).await;
    assert!(done, "monitor {id} stopped checking");
}

dual_backend_test!(
    an_http_outage_opens_one_incident_and_recovery_resolves_it,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        let target = Target::start().await;
        let id = create(
            &admin,
            json!({"name": "Shop front", "kind": "http", "target": target.url, "interval_s": 1,
                   "timeout_s": 5, "retries": 2, "keyword": "all good",
                   "incident": {"impact": "high", "urgency": "high"}}),
        )
        .await;
        let up = wait_for_status(&admin, id, "up").await;
        assert!(up["last_latency_ms"].as_i64().is_some(), "{up}");
        assert!(up.get("open_incident").is_none(), "{up}");

        target.set(DOWN);
        let down = wait_for_status(&admin, id, "down").await;
        assert!(
            down["last_error"].as_str().unwrap().contains("503"),
            "{down}"
        );
        let opened = eventually(WAIT, || async {
            monitor(&admin, id).await.get("open_incident").is_some()
        })
        .await;
        assert!(opened, "no incident was opened");
        // Further failures add to the same incident instead of opening more.
        wait_checks(&admin, id, 3).await;
        let incidents = monitor_incidents(&admin).await;
        assert_eq!(incidents.len(), 1, "{incidents:?}");
        let number = incidents[0]["number"].as_str().unwrap().to_owned();
        assert!(number.starts_with("INC-"), "{number}");
        let ticket = admin.get(&format!("/api/v1/tickets/{number}")).await;
        assert_eq!(ticket.body["source"], "monitor", "{}", ticket.text);
        assert_eq!(ticket.body["priority"], "P1", "{}", ticket.text);
        assert!(
            ticket.body["title"]
                .as_str()
                .unwrap()
                .contains("Shop front"),
            "{}",
            ticket.text
        );

        target.set(UP);
        wait_for_status(&admin, id, "up").await;
        let resolved = eventually(WAIT, || async {
            admin.get(&format!("/api/v1/tickets/{number}")).await.body["status"] == "resolved"
        })
        .await;
        assert!(resolved, "the incident was not resolved on recovery");
        let ticket = admin.get(&format!("/api/v1/tickets/{number}")).await;
        assert!(
            ticket.text.contains("back up after"),
            "the recovery note is missing: {}",
            ticket.text
        );
        assert!(monitor(&admin, id).await.get("open_incident").is_none());
        assert_eq!(monitor_incidents(&admin).await.len(), 1);

        let uptime = admin
            .get(&format!(
                "/api/v1/monitors/{id}/uptime?from=2020-01-01T00:00:00Z"
            ))
            .await;
        assert_eq!(uptime.status, 200, "{}", uptime.text);
        let percent = uptime.body["uptime_percent"].as_f64().unwrap();
        assert!(percent > 0.0 && percent < 100.0, "{}", uptime.text);
        assert!(!uptime.body["series"].as_array().unwrap().is_empty());
        assert!(target.hits.load(Ordering::SeqCst) > 5);
    }
);

/// The staff-only notes of further failures on an incident's timeline, as `who` sees them.
async fn failure_notes(who: &Client, number: &str) -> Vec<Value> {
    let reply = who
        .get(&format!("/api/v1/tickets/{number}/timeline?limit=500"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "monitor_failures")
        .cloned()
        .collect()
}

dual_backend_test!(
    further_failures_are_noted_on_the_incident_when_the_error_changes,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        let acme = server.organization("Acme").await;
        let customer = server.client(
            &server
                .user("cat@acme.example", "customer", Some(acme), &[])
                .await,
        );
        let target = Target::start().await;
        let id = create(
            &admin,
            json!({"name": "Shop front", "kind": "http", "target": target.url, "interval_s": 1,
                   "timeout_s": 5, "keyword": "all good", "organization_id": acme,
                   "incident": {"requester": "cat@acme.example"}}),
        )
        .await;
        wait_for_status(&admin, id, "up").await;

        target.set(DOWN);
        let opened = std::sync::Mutex::new(Value::Null);
        let linked = eventually(WAIT, || async {
            let now = monitor(&admin, id).await;
            let done = now.get("open_incident").is_some();
            *opened.lock().unwrap() = now;
            done
        })
        .await;
        let opened = opened.into_inner().unwrap();
        assert!(linked, "no incident was opened: {opened}");
        let number = opened["open_incident"].as_str().unwrap().to_owned();

        // The same error again and again within the quarter hour adds nothing.
        wait_checks(&admin, id, 3).await;
        let notes = failure_notes(&admin, &number).await;
        assert!(notes.is_empty(), "{notes:?}");

        // A new error is noted once, however often it then repeats.
        target.set(WRONG_BODY);
        let noted = eventually(WAIT, || async {
            !failure_notes(&admin, &number).await.is_empty()
        })
        .await;
        assert!(noted, "the changed error was not noted");
        wait_checks(&admin, id, 3).await;
        let notes = failure_notes(&admin, &number).await;
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0]["public"], false, "{notes:?}");
        let body = notes[0]["data"]["body"].as_str().unwrap();
        assert!(body.contains("more failed check"), "{body}");
        assert!(
            body.ends_with("last error: the body does not contain \"all good\""),
            "{body}"
        );

        // The requester follows the incident but never sees the staff-only notes.
        let seen = failure_notes(&customer, &number).await;
        assert!(seen.is_empty(), "the customer sees {seen:?}");
    }
);

dual_backend_test!(
    a_flapping_target_opens_no_incident_storm,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        let target = Target::start().await;
        target.set(FLAPPING);
        let id = create(
            &admin,
            json!({"name": "Wobbly", "kind": "http", "target": target.url, "interval_s": 1}),
        )
        .await;
        wait_checks(&admin, id, 14).await;
        let state = monitor(&admin, id).await;
        assert_eq!(state["flapping"], true, "{state}");
        let incidents = monitor_incidents(&admin).await;
        assert!(
            incidents.len() <= 1,
            "{} incidents: {incidents:?}",
            incidents.len()
        );
    }
);

dual_backend_test!(
    tcp_listener_up_then_closed_is_down,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let id = create(
            &admin,
            json!({"name": "Database port", "kind": "tcp", "target": address.to_string(), "interval_s": 1}),
        )
        .await;
        wait_for_status(&admin, id, "up").await;
        drop(listener);
        let down = wait_for_status(&admin, id, "down").await;
        assert!(
            down["last_error"]
                .as_str()
                .unwrap()
                .contains("cannot connect"),
            "{down}"
        );
    }
);

dual_backend_test!(
    a_silent_heartbeat_goes_down_and_a_ping_brings_it_back,
    |backend: Backend| async move {
        // The server's clock stands still until the test moves it: silence is made, not waited for.
        let clock = opsdesk_app::ManualClock::starting_at("2026-03-02T10:00:00Z".parse().unwrap());
        let server = TestServer::start_on_clock(
            TestDb::new(backend).await,
            opsdesk_http::HttpConfig::default(),
            opsdesk_app::AppConfig::default(),
            Arc::new(clock.clone()),
        )
        .await;
        let admin = server.admin();
        let created = admin
            .post(
                "/api/v1/monitors",
                json!({"name": "Nightly backup", "kind": "heartbeat", "interval_s": 2, "grace_s": 1}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let id = created.body["id"].as_i64().unwrap();
        let ping_url = created.body["ping_url"].as_str().unwrap().to_owned();
        assert!(
            ping_url.starts_with(&format!("{}/ping/", server.url)),
            "{ping_url}"
        );
        assert_eq!(created.body["status"], "pending");
        assert_eq!(created.body["heartbeat"], "new");

        // No login: the secret URL is the credential. GET and POST both count.
        let http = reqwest::Client::new();
        let pinged = http.post(format!("{ping_url}/start")).send().await.unwrap();
        assert_eq!(pinged.status(), 200);
        let pinged = http.get(&ping_url).send().await.unwrap();
        assert_eq!(pinged.status(), 200);
        let up = monitor(&admin, id).await;
        assert_eq!(up["status"], "up", "{up}");
        assert!(
            up["last_latency_ms"].as_i64().is_some(),
            "the run's duration is recorded: {up}"
        );
        let unknown = http
            .get(format!("{}/ping/{}", server.url, uuid_like()))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 404);
        let bad = http
            .get(format!("{ping_url}/sideways"))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 422);

        // Silence past period and grace: down, with one incident.
        clock.advance(jiff::SignedDuration::from_secs(4));
        let down = wait_for_status(&admin, id, "down").await;
        assert_eq!(down["heartbeat"], "down", "{down}");
        let opened = eventually(WAIT, || async {
            monitor_incidents(&admin).await.len() == 1
        })
        .await;
        assert!(opened, "no incident for the silent heartbeat");

        assert_eq!(http.get(&ping_url).send().await.unwrap().status(), 200);
        assert_eq!(monitor(&admin, id).await["status"], "up");
        let resolved = eventually(WAIT, || async {
            monitor_incidents(&admin)
                .await
                .iter()
                .all(|t| t["status"] == "resolved")
        })
        .await;
        assert!(resolved, "the heartbeat's incident was not resolved");

        // A non-zero exit code is a failure at once.
        assert_eq!(
            http.post(format!("{ping_url}/3"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(monitor(&admin, id).await["status"], "down");
        // A start without a finish within the grace time is down too.
        assert_eq!(
            http.get(format!("{ping_url}/0"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(monitor(&admin, id).await["status"], "up");
        assert_eq!(
            http.get(format!("{ping_url}/start"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        clock.advance(jiff::SignedDuration::from_secs(2));
        let stuck = wait_for_status(&admin, id, "down").await;
        assert!(
            stuck["last_error"]
                .as_str()
                .unwrap_or_default()
                .contains("did not finish")
                || stuck["heartbeat"] == "down",
            "{stuck}"
        );
    }
);

dual_backend_test!(
    a_cron_heartbeat_is_expected_on_its_schedule_in_its_time_zone,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        let http = reqwest::Client::new();
        let nightly = admin
            .post(
                "/api/v1/monitors",
                json!({"name": "Nightly backup", "kind": "heartbeat", "schedule": "0 3 * * *",
                       "timezone": "Europe/London", "grace_s": 3600}),
            )
            .await;
        assert_eq!(nightly.status, 201, "{}", nightly.text);
        assert_eq!(nightly.body["schedule"], "0 3 * * *");
        assert_eq!(nightly.body["timezone"], "Europe/London");
        assert!(nightly.body.get("interval_s").is_none(), "{}", nightly.text);
        let nightly_id = nightly.body["id"].as_i64().unwrap();
        let nightly_url = nightly.body["ping_url"].as_str().unwrap().to_owned();
        assert_eq!(http.get(&nightly_url).send().await.unwrap().status(), 200);
        let pinged = monitor(&admin, nightly_id).await;
        assert_eq!(pinged["status"], "up", "{pinged}");
        // The next run is due at 03:00 London time, winter or summer, within a day.
        let due: jiff::Timestamp = pinged["next_ping_due_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let local = due.in_tz("Europe/London").unwrap();
        assert_eq!((local.hour(), local.minute()), (3, 0), "{pinged}");
        let ahead = due.as_second() - server.app.now().as_second();
        assert!((0..=25 * 3600).contains(&ahead), "{pinged}");
        assert!(pinged.get("late_by_s").is_none(), "{pinged}");

        // Every second with one second of grace: silence goes down within seconds.
        let busy = admin
            .post(
                "/api/v1/monitors",
                json!({"name": "Queue drain", "kind": "heartbeat", "schedule": "* * * * * *",
                       "grace_s": 1}),
            )
            .await;
        assert_eq!(busy.status, 201, "{}", busy.text);
        assert_eq!(
            busy.body["timezone"], "UTC",
            "a schedule's zone defaults to UTC"
        );
        let busy_id = busy.body["id"].as_i64().unwrap();
        let busy_url = busy.body["ping_url"].as_str().unwrap().to_owned();
        assert_eq!(http.post(&busy_url).send().await.unwrap().status(), 200);
        assert_eq!(monitor(&admin, busy_id).await["status"], "up");
        let down = wait_for_status(&admin, busy_id, "down").await;
        assert_eq!(down["heartbeat"], "down", "{down}");
        assert!(down["late_by_s"].as_i64().unwrap() >= 1, "{down}");
        assert!(
            down["last_error"].as_str().unwrap().contains("run due at"),
            "{down}"
        );
        let opened = eventually(WAIT, || async {
            monitor_incidents(&admin).await.len() == 1
        })
        .await;
        assert!(opened, "no incident for the silent cron heartbeat");
        // Meanwhile the nightly one, pinged and not yet due, stayed up.
        assert_eq!(monitor(&admin, nightly_id).await["status"], "up");
        assert_eq!(http.get(&busy_url).send().await.unwrap().status(), 200);
        assert_eq!(monitor(&admin, busy_id).await["status"], "up");

        // A heartbeat moves from a schedule to a period by being sent one.
        let current = admin.get(&format!("/api/v1/monitors/{nightly_id}")).await;
        let patched = admin
            .patch(
                &format!("/api/v1/monitors/{nightly_id}"),
                json!({"interval_s": 3600}),
                current.header("etag"),
            )
            .await;
        assert_eq!(patched.status, 200, "{}", patched.text);
        assert_eq!(patched.body["interval_s"], 3600);
        assert!(patched.body.get("schedule").is_none(), "{}", patched.text);
        assert!(patched.body.get("timezone").is_none(), "{}", patched.text);

        for (body, field) in [
            (
                json!({"name": "x", "kind": "heartbeat", "schedule": "0 25 * * *"}),
                "schedule",
            ),
            (
                json!({"name": "x", "kind": "heartbeat", "schedule": "0 0 30 2 *"}),
                "schedule",
            ),
            (
                json!({"name": "x", "kind": "heartbeat", "schedule": "0 3 * * *",
                       "timezone": "Europe/Atlantis"}),
                "timezone",
            ),
            (
                json!({"name": "x", "kind": "heartbeat", "schedule": "0 3 * * *", "interval_s": 60}),
                "schedule",
            ),
            (
                json!({"name": "x", "kind": "heartbeat", "timezone": "Europe/London"}),
                "timezone",
            ),
            (
                json!({"name": "x", "kind": "http", "target": "http://a", "schedule": "* * * * *"}),
                "schedule",
            ),
        ] {
            let reply = admin.post("/api/v1/monitors", body.clone()).await;
            assert_eq!(reply.status, 422, "{body}: {}", reply.text);
            assert_eq!(
                reply.header("content-type"),
                Some("application/problem+json"),
                "{body}"
            );
            assert!(
                reply.body["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["field"] == field),
                "{body}: {}",
                reply.text
            );
        }
    }
);

fn uuid_like() -> &'static str {
    "0b6f4a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
}

dual_backend_test!(
    bad_monitors_are_refused_naming_the_field,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        for (body, field) in [
            (json!({"name": "x", "kind": "smtp", "target": "a"}), "kind"),
            (
                json!({"name": "x", "kind": "http", "target": "ftp://a"}),
                "target",
            ),
            (
                json!({"name": "x", "kind": "tcp", "target": "db"}),
                "target",
            ),
            (
                json!({"name": "x", "kind": "http", "target": "http://a", "interval_s": 0}),
                "interval_s",
            ),
            (
                json!({"name": "x", "kind": "dns", "target": "a.example", "resolver": "nope"}),
                "resolver",
            ),
            (
                json!({"name": "x", "kind": "http", "target": "http://a", "incident": {"impact": "huge"}}),
                "incident.impact",
            ),
        ] {
            let reply = admin.post("/api/v1/monitors", body.clone()).await;
            assert_eq!(reply.status, 422, "{body}: {}", reply.text);
            assert!(
                reply.body["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["field"] == field),
                "{body}: {}",
                reply.text
            );
        }
        let unknown = admin
            .post(
                "/api/v1/monitors",
                json!({"name": "x", "kind": "http", "target": "http://a", "colour": 1}),
            )
            .await;
        assert!(
            unknown.status == 400 || unknown.status == 422,
            "{}",
            unknown.text
        );
        assert_eq!(admin.get("/api/v1/monitors/999999").await.status, 404);
    }
);

dual_backend_test!(
    a_certificate_expiring_in_three_days_is_down,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        let address = opsdesk_testkit::expiring_tls_server(3).await;
        let target = format!("localhost:{}", address.port());
        let soon = create(
            &admin,
            json!({"name": "Portal certificate", "kind": "tls", "target": target, "interval_s": 1, "verify_tls": false}),
        )
        .await;
        let relaxed = create(
            &admin,
            json!({"name": "Relaxed", "kind": "tls", "target": target, "interval_s": 1,
                   "verify_tls": false, "min_days_left": 1}),
        )
        .await;
        let verified = create(
            &admin,
            json!({"name": "Verified", "kind": "tls", "target": target, "interval_s": 1, "min_days_left": 1}),
        )
        .await;
        wait_for_status(&admin, soon, "down").await;
        // A loaded machine may time a check out first; the certificate is what must show.
        let last = std::sync::Mutex::new(Value::Null);
        let expiring = eventually(WAIT, || async {
            let now = monitor(&admin, soon).await;
            let found = now["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("expires in 2 days"));
            *last.lock().unwrap() = now;
            found
        })
        .await;
        assert!(expiring, "{}", last.into_inner().unwrap());
        wait_for_status(&admin, relaxed, "up").await;
        let untrusted = wait_for_status(&admin, verified, "down").await;
        assert!(
            untrusted["last_error"].as_str().unwrap().contains("chain"),
            "{untrusted}"
        );
    }
);

/// A small real DNS server on UDP: `app.test` has A 127.0.0.7; every other name is NXDOMAIN.
async fn dns_server() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buffer = [0u8; 512];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buffer).await else {
                return;
            };
            let query = &buffer[..n];
            if n < 12 {
                continue;
            }
            // The question: labels up to the zero byte, then type and class.
            let mut end = 12;
            let mut labels = Vec::new();
            while end < n && query[end] != 0 {
                let len = query[end] as usize;
                labels.push(String::from_utf8_lossy(&query[end + 1..end + 1 + len]).to_lowercase());
                end += 1 + len;
            }
            let question_end = end + 5;
            let qtype = u16::from_be_bytes([query[end + 1], query[end + 2]]);
            let known = labels.join(".") == "app.test" && qtype == 1;
            let mut reply = Vec::with_capacity(64);
            reply.extend_from_slice(&query[..2]);
            reply.extend_from_slice(&[0x81, if known { 0x80 } else { 0x83 }]);
            reply.extend_from_slice(&[0, 1, 0, u8::from(known), 0, 0, 0, 0]);
            reply.extend_from_slice(&query[12..question_end]);
            if known {
                reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 7]);
            }
            let _ = socket.send_to(&reply, peer).await;
        }
    });
    address
}

dual_backend_test!(
    dns_answers_are_checked_against_the_expected_value,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        let resolver = dns_server().await.to_string();
        let right = create(
            &admin,
            json!({"name": "App record", "kind": "dns", "target": "app.test", "interval_s": 1,
                   "record_type": "A", "expected": "127.0.0.7", "resolver": resolver}),
        )
        .await;
        let wrong = create(
            &admin,
            json!({"name": "Moved record", "kind": "dns", "target": "app.test", "interval_s": 1,
                   "expected": "10.0.0.1", "resolver": resolver}),
        )
        .await;
        let missing = create(
            &admin,
            json!({"name": "Missing record", "kind": "dns", "target": "gone.test", "interval_s": 1,
                   "resolver": resolver}),
        )
        .await;
        wait_for_status(&admin, right, "up").await;
        let moved = wait_for_status(&admin, wrong, "down").await;
        assert!(
            moved["last_error"]
                .as_str()
                .unwrap()
                .contains("expected 10.0.0.1, got 127.0.0.7"),
            "{moved}"
        );
        wait_for_status(&admin, missing, "down").await;
    }
);

dual_backend_test!(
    icmp_ping_reaches_the_loopback,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        let id = create(
            &admin,
            json!({"name": "Gateway", "kind": "icmp", "target": "127.0.0.1", "interval_s": 1, "count": 2}),
        )
        .await;
        let last = std::sync::Mutex::new(Value::Null);
        let settled = eventually(WAIT, || async {
            let now = monitor(&admin, id).await;
            let done = now["status"] != "pending";
            *last.lock().unwrap() = now;
            done
        })
        .await;
        let last = last.into_inner().unwrap();
        assert!(settled, "{last}");
        if last["status"] == "down" {
            // Without raw sockets the probe reports why; a user would see the same.
            let error = last["last_error"].as_str().unwrap_or_default().to_owned();
            assert!(error.contains("ICMP socket"), "{last}");
            assert!(
                std::env::var("OPSDESK_REQUIRE_SERVICES").is_err(),
                "ICMP sockets are unavailable here: {error}"
            );
            eprintln!("skipping the ICMP round trip: {error}");
            return;
        }
        assert_eq!(last["status"], "up", "{last}");
    }
);

const PASSWORD: &str = "correct horse battery staple";

fn cli_admin(db: &TestDb) -> String {
    let database = db.cli_args();
    let database: Vec<&str> = database.iter().map(String::as_str).collect();
    let email = "admin@example.com";
    let mut add = vec![
        "user",
        "add",
        "--email",
        email,
        "--name",
        "Admin",
        "--role",
        "admin",
        "--password-stdin",
    ];
    add.extend(&database);
    run_command(BIN, &add, Some(PASSWORD));
    let mut create = vec!["token", "create", "--email", email];
    create.extend(&database);
    run_command(BIN, &create, None).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_the_checks_and_a_survivor_takes_over_without_duplicates() {
    if postgres_url().is_none() {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let token = cli_admin(&db);
    let mut north =
        ServerProcess::start_with_env(BIN, &db.cli_args(), &[("OPSDESK_NODE_NAME", "north")]).await;
    let south =
        ServerProcess::start_with_env(BIN, &db.cli_args(), &[("OPSDESK_NODE_NAME", "south")]).await;
    let client = |url: &str| Client {
        base: url.to_owned(),
        token: Some(token.clone()),
        http: reqwest::Client::new(),
    };
    let (north_api, south_api) = (client(&north.url), client(&south.url));
    let target = Target::start().await;
    let mut ids = Vec::new();
    for n in 0..12 {
        let api = if n % 2 == 0 { &north_api } else { &south_api };
        ids.push(
            create(
                api,
                json!({"name": format!("Service {n}"), "kind": "http", "target": target.url,
                       "interval_s": 1, "timeout_s": 2}),
            )
            .await,
        );
    }
    for id in &ids {
        wait_for_status(&south_api, *id, "up").await;
    }

    // One outage on two nodes: one incident per monitor, never one per node.
    target.set(DOWN);
    let opened = eventually(Duration::from_secs(60), || async {
        monitor_incidents(&south_api).await.len() >= ids.len()
    })
    .await;
    assert!(opened, "not every monitor opened its incident");
    for id in &ids {
        wait_checks(&south_api, *id, 2).await;
    }
    let incidents = monitor_incidents(&south_api).await;
    assert_eq!(incidents.len(), ids.len(), "{incidents:?}");
    target.set(UP);
    for id in &ids {
        wait_for_status(&south_api, *id, "up").await;
    }

    // North dies, mid-check or not: south keeps every monitor running.
    north.kill();
    drop(north_api);
    for id in &ids {
        wait_checks(&south_api, *id, 3).await;
    }
    target.set(DOWN);
    for id in &ids {
        wait_for_status(&south_api, *id, "down").await;
    }
    let reopened = eventually(Duration::from_secs(60), || async {
        let incidents = monitor_incidents(&south_api).await;
        incidents
            .iter()
            .filter(|t| t["status"] != "resolved")
            .count()
            == ids.len()
    })
    .await;
    let incidents = monitor_incidents(&south_api).await;
    assert!(reopened, "{incidents:?}");
    assert!(incidents.len() <= 2 * ids.len(), "{incidents:?}");
    let mut open: Vec<String> = Vec::new();
    for id in &ids {
        let m = monitor(&south_api, *id).await;
        open.push(m["open_incident"].as_str().unwrap().to_owned());
    }
    open.sort();
    open.dedup();
    assert_eq!(
        open.len(),
        ids.len(),
        "two monitors share an incident: {open:?}"
    );
    drop(south);
}

/// The incidents of `ids`' open outages, one per monitor once every incident is linked.
async fn open_incidents(client: &Client, ids: &[i64]) -> Vec<Option<String>> {
    let mut open = Vec::with_capacity(ids.len());
    for id in ids {
        open.push(
            monitor(client, *id).await["open_incident"]
                .as_str()
                .map(str::to_owned),
        );
    }
    open
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_leaves_no_monitor_waiting_and_no_outage_with_two_incidents() {
    if postgres_url().is_none() {
        return;
    }
    const MONITORS: usize = 20;
    const ROUNDS: usize = 3;
    // Well inside what a person waits for, and well below a check's 10 s timeout: a dead
    // node's claims must not be waited out.
    const RECOVERY: Duration = Duration::from_secs(15);
    let db = TestDb::new(Backend::Postgres).await;
    let token = cli_admin(&db);
    let south =
        ServerProcess::start_with_env(BIN, &db.cli_args(), &[("OPSDESK_NODE_NAME", "south")]).await;
    let client = |url: &str| Client {
        base: url.to_owned(),
        token: Some(token.clone()),
        http: reqwest::Client::new(),
    };
    let south_api = client(&south.url);
    let target = Target::start().await;
    let mut ids = Vec::new();
    for n in 0..MONITORS {
        // The default 10 s timeout: a check's claim may outlive a dead node by that much.
        ids.push(
            create(
                &south_api,
                json!({"name": format!("Service {n}"), "kind": "http", "target": target.url,
                       "interval_s": 1}),
            )
            .await,
        );
    }
    let mut linked: Vec<String> = Vec::new();
    for round in 1..=ROUNDS {
        let mut north =
            ServerProcess::start_with_env(BIN, &db.cli_args(), &[("OPSDESK_NODE_NAME", "north")])
                .await;
        for id in &ids {
            wait_for_status(&south_api, *id, "up").await;
        }
        target.set(DOWN);
        // Every monitor's outage has its incident; north is killed right then, while it
        // may still be checking, recording or finishing incident work.
        let opened = eventually(Duration::from_secs(60), || async {
            open_incidents(&south_api, &ids)
                .await
                .iter()
                .all(Option::is_some)
        })
        .await;
        assert!(
            opened,
            "round {round}: not every monitor opened its incident"
        );
        north.kill();
        let open: Vec<String> = open_incidents(&south_api, &ids)
            .await
            .into_iter()
            .flatten()
            .collect();
        let mut distinct = open.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), MONITORS, "round {round}: {open:?}");
        linked.extend(open);
        target.set(UP);

        let started = tokio::time::Instant::now();
        let recovered = eventually(RECOVERY, || async {
            let mut up = true;
            for id in &ids {
                up &= monitor(&south_api, *id).await["status"] == "up";
            }
            up && monitor_incidents(&south_api)
                .await
                .iter()
                .all(|t| t["status"] == "resolved")
        })
        .await;
        let mut waiting = Vec::new();
        for id in &ids {
            let m = monitor(&south_api, *id).await;
            if m["status"] != "up" || m.get("open_incident").is_some() {
                waiting.push(m);
            }
        }
        let unresolved: Vec<Value> = monitor_incidents(&south_api)
            .await
            .into_iter()
            .filter(|t| t["status"] != "resolved")
            .collect();
        assert!(
            recovered,
            "round {round}: not recovered {:?} after north died: monitors {waiting:?}, \
             incidents {unresolved:?}",
            started.elapsed()
        );
        // One incident per outage: every incident is one a monitor showed as its own.
        let incidents = monitor_incidents(&south_api).await;
        let strays: Vec<&Value> = incidents
            .iter()
            .filter(|t| !linked.iter().any(|n| t["number"] == n.as_str()))
            .collect();
        assert!(
            strays.is_empty(),
            "round {round}: incidents of no outage: {strays:?}"
        );
    }
    drop(south);
}

dual_backend_test!(
    maintenance_dependencies_and_the_public_status_page,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        let acme = server.organization("Acme <Tools> & Co").await;
        let router = Target::start().await;
        let app = Target::start().await;
        let planned = Target::start().await;
        let gateway = create(
            &admin,
            json!({"name": "Gateway", "kind": "http", "target": router.url, "interval_s": 1,
                   "organization_id": acme}),
        )
        .await;
        let shop = create(
            &admin,
            json!({"name": "Shop <b>front</b>", "kind": "http", "target": app.url, "interval_s": 1,
                   "retries": 3, "depends_on": gateway, "organization_id": acme}),
        )
        .await;
        let batch = create(
            &admin,
            json!({"name": "Batch", "kind": "http", "target": planned.url, "interval_s": 1,
                   "organization_id": acme}),
        )
        .await;
        for id in [gateway, shop, batch] {
            wait_for_status(&admin, id, "up").await;
        }
        let now = server.app.now();
        let window = admin
            .post(
                "/api/v1/maintenance-windows",
                json!({"monitor_id": batch, "starts_at": now.to_string(),
                       "ends_at": (now + jiff::SignedDuration::from_hours(1)).to_string(),
                       "reason": "upgrade"}),
            )
            .await;
        assert_eq!(window.status, 201, "{}", window.text);
        planned.set(DOWN);
        router.set(DOWN);
        app.set(DOWN);
        wait_for_status(&admin, gateway, "down").await;
        wait_for_status(&admin, shop, "unreachable").await;
        wait_for_status(&admin, batch, "maintenance").await;
        wait_checks(&admin, shop, 4).await;
        let opened = eventually(WAIT, || async {
            monitor_incidents(&admin).await.len() == 1
        })
        .await;
        assert!(opened, "the gateway's outage should be the only incident");
        // Checks inside the window do not count in uptime, so watch the last check instead.
        for _ in 0..2 {
            let before = monitor(&admin, batch).await["last_check_at"].clone();
            let checked = eventually(WAIT, || async {
                monitor(&admin, batch).await["last_check_at"] != before
            })
            .await;
            assert!(checked, "the monitor in maintenance stopped checking");
        }
        let incidents = monitor_incidents(&admin).await;
        assert_eq!(incidents.len(), 1, "{incidents:?}");
        assert!(incidents[0]["title"].as_str().unwrap().contains("Gateway"));

        let page = server
            .anonymous()
            .get(&format!("/api/v1/status/{acme}"))
            .await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert_eq!(page.body["overall"], "degraded");
        assert_eq!(page.body["components"].as_array().unwrap().len(), 3);
        assert_eq!(
            page.body["components"][0]["days"].as_array().unwrap().len(),
            90
        );
        assert_eq!(page.body["incidents"][0]["component"], "Gateway");
        assert_eq!(page.body["maintenance"][0]["component"], "Batch");
        assert!(!page.text.contains(&router.url), "targets stay private");
        let html = reqwest::get(format!("{}/status/{acme}", server.url))
            .await
            .unwrap();
        assert_eq!(html.status(), 200);
        let html = html.text().await.unwrap();
        // Escaped by the page template, as every page is.
        assert!(html.contains("Acme &#60;Tools&#62; &#38; Co"), "{html}");
        assert!(html.contains("Shop &#60;b&#62;front&#60;/b&#62;"), "{html}");
        assert!(!html.contains("<b>front"), "{html}");
        assert_eq!(
            server.anonymous().get("/api/v1/status/999999").await.status,
            404
        );
    }
);

dual_backend_test!(
    a_recurring_window_for_a_tag_holds_the_tagged_monitors_alerts,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        let target = Target::start().await;
        let database = create(
            &admin,
            json!({"name": "Primary database", "kind": "http", "target": target.url,
                   "interval_s": 1, "tags": ["database", "eu-west", "database"]}),
        )
        .await;
        let website = create(
            &admin,
            json!({"name": "Website", "kind": "http", "target": target.url, "interval_s": 1,
                   "tags": ["web"]}),
        )
        .await;
        let tagged = wait_for_status(&admin, database, "up").await;
        assert_eq!(tagged["tags"], json!(["database", "eu-west"]), "{tagged}");
        wait_for_status(&admin, website, "up").await;

        // Every minute for an hour: in force now, whatever the time.
        let started = server.app.now() - jiff::SignedDuration::from_mins(2);
        let window = admin
            .post(
                "/api/v1/maintenance-windows",
                json!({"tag": "database", "starts_at": started.to_string(),
                       "recurrence": {"schedule": "* * * * *", "timezone": "Europe/London",
                                      "duration_s": 3600},
                       "reason": "vacuum"}),
            )
            .await;
        assert_eq!(window.status, 201, "{}", window.text);

        target.set(DOWN);
        wait_for_status(&admin, database, "maintenance").await;
        wait_for_status(&admin, website, "down").await;
        // Checks inside the window do not count in uptime, so watch the last check instead.
        for _ in 0..3 {
            let before = monitor(&admin, database).await["last_check_at"].clone();
            let checked = eventually(WAIT, || async {
                monitor(&admin, database).await["last_check_at"] != before
            })
            .await;
            assert!(checked, "the monitor in maintenance stopped checking");
        }
        let opened = eventually(WAIT, || async {
            monitor_incidents(&admin).await.len() == 1
        })
        .await;
        assert!(opened, "the website's outage should open an incident");
        let incidents = monitor_incidents(&admin).await;
        assert_eq!(incidents.len(), 1, "{incidents:?}");
        assert!(incidents[0]["title"].as_str().unwrap().contains("Website"));
        assert_eq!(monitor(&admin, database).await["status"], "maintenance");
        let uptime = admin
            .get(&format!("/api/v1/monitors/{database}/uptime"))
            .await;
        assert_eq!(uptime.body["uptime_percent"], 100.0, "{}", uptime.text);

        let now = server.app.now().to_string();
        for (body, field) in [
            (
                json!({"tag": "database", "monitor_id": website, "starts_at": now,
                       "ends_at": "2099-01-01T00:00:00Z"}),
                "tag",
            ),
            (
                json!({"tag": "Not a tag!", "starts_at": now, "ends_at": "2099-01-01T00:00:00Z"}),
                "tag",
            ),
            (json!({"tag": "database", "starts_at": now}), "ends_at"),
            (
                json!({"tag": "database", "starts_at": now,
                       "recurrence": {"schedule": "0 2 * * FUNDAY", "duration_s": 3600}}),
                "recurrence.schedule",
            ),
            (
                json!({"tag": "database", "starts_at": now,
                       "recurrence": {"schedule": "0 2 * * SUN", "timezone": "Mars/Olympus",
                                      "duration_s": 3600}}),
                "recurrence.timezone",
            ),
        ] {
            let reply = admin
                .post("/api/v1/maintenance-windows", body.clone())
                .await;
            assert_eq!(reply.status, 422, "{body}: {}", reply.text);
            assert!(
                reply.body["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["field"] == field),
                "{body}: {}",
                reply.text
            );
        }
    }
);

/// Ids of the maintenance windows a list answers with.
fn window_ids(reply: &opsdesk_testkit::Reply) -> Vec<i64> {
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_i64().unwrap())
        .collect()
}

dual_backend_test!(
    maintenance_windows_are_listed_read_and_deleted_and_a_deleted_one_holds_nothing,
    |backend: Backend| async move {
        let server = TestServer::start(backend).await;
        let admin = server.admin();
        let acme = server.organization("Acme").await;
        let globex = server.organization("Globex").await;
        let agent = server.client(
            &server
                .user("ann@opsdesk.example", "agent", None, &[acme])
                .await,
        );
        let customer = server.client(
            &server
                .user("cat@acme.example", "customer", Some(acme), &[])
                .await,
        );
        let target = Target::start().await;
        let shop = create(
            &admin,
            json!({"name": "Shop", "kind": "http", "target": target.url, "interval_s": 1,
                   "organization_id": acme}),
        )
        .await;
        let ledger = create(
            &admin,
            json!({"name": "Ledger", "kind": "http", "target": target.url, "interval_s": 1,
                   "organization_id": globex, "tags": ["database"]}),
        )
        .await;
        wait_for_status(&admin, shop, "up").await;

        let now = server.app.now();
        let hour_later = (now + jiff::SignedDuration::from_hours(1)).to_string();
        let mut windows = Vec::new();
        for body in [
            json!({"monitor_id": shop, "starts_at": now.to_string(), "ends_at": hour_later,
                   "reason": "upgrade"}),
            json!({"tag": "database", "starts_at": now.to_string(),
                   "recurrence": {"schedule": "0 2 * * SUN", "duration_s": 3600}}),
            json!({"monitor_id": ledger, "starts_at": now.to_string(), "ends_at": hour_later}),
        ] {
            let reply = admin.post("/api/v1/maintenance-windows", body).await;
            assert_eq!(reply.status, 201, "{}", reply.text);
            windows.push(reply.body["id"].as_i64().unwrap());
        }
        let [for_shop, for_tag, for_ledger] = windows[..] else {
            unreachable!()
        };

        let all = admin.get("/api/v1/maintenance-windows").await;
        assert_eq!(window_ids(&all), windows);
        let first = admin.get("/api/v1/maintenance-windows?limit=2").await;
        assert_eq!(window_ids(&first), [for_shop, for_tag]);
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let rest = admin
            .get(&format!(
                "/api/v1/maintenance-windows?limit=2&cursor={cursor}"
            ))
            .await;
        assert_eq!(window_ids(&rest), [for_ledger]);
        assert!(rest.body["next_cursor"].is_null(), "{}", rest.text);
        let covering = admin
            .get(&format!("/api/v1/maintenance-windows?monitor={ledger}"))
            .await;
        assert_eq!(window_ids(&covering), [for_tag, for_ledger]);
        let tagged = admin.get("/api/v1/maintenance-windows?tag=database").await;
        assert_eq!(window_ids(&tagged), [for_tag]);
        let bad_tag = admin
            .get("/api/v1/maintenance-windows?tag=Not%20a%20tag!")
            .await;
        assert_eq!(bad_tag.status, 422, "{}", bad_tag.text);
        assert_eq!(bad_tag.body["errors"][0]["field"], "tag");

        let one = admin
            .get(&format!("/api/v1/maintenance-windows/{for_shop}"))
            .await;
        assert_eq!(one.status, 200, "{}", one.text);
        assert_eq!(one.body["monitor_id"], shop);
        assert_eq!(one.body["reason"], "upgrade");
        assert_eq!(one.body["in_force"], true);
        let recurring = admin
            .get(&format!("/api/v1/maintenance-windows/{for_tag}"))
            .await;
        assert_eq!(recurring.body["tag"], "database", "{}", recurring.text);
        assert!(recurring.body["ends_at"].is_null(), "{}", recurring.text);
        assert_eq!(recurring.body["recurrence"]["schedule"], "0 2 * * SUN");
        assert_eq!(recurring.body["recurrence"]["timezone"], "UTC");

        // An agent serving Acme sees Acme's and the tag's windows, not Globex's; a tag's
        // window is the admins' to delete.
        let seen = agent.get("/api/v1/maintenance-windows").await;
        assert_eq!(window_ids(&seen), [for_shop, for_tag]);
        let hidden = agent
            .get(&format!("/api/v1/maintenance-windows/{for_ledger}"))
            .await;
        assert_eq!(hidden.status, 404, "{}", hidden.text);
        assert_eq!(
            hidden.header("content-type"),
            Some("application/problem+json")
        );
        let hidden = agent
            .delete(&format!("/api/v1/maintenance-windows/{for_ledger}"))
            .await;
        assert_eq!(hidden.status, 404, "{}", hidden.text);
        let refused = agent
            .delete(&format!("/api/v1/maintenance-windows/{for_tag}"))
            .await;
        assert_eq!(refused.status, 403, "{}", refused.text);
        for path in [
            "/api/v1/maintenance-windows".to_owned(),
            format!("/api/v1/maintenance-windows/{for_shop}"),
        ] {
            assert_eq!(customer.get(&path).await.status, 403, "{path}");
        }
        let refused = customer
            .delete(&format!("/api/v1/maintenance-windows/{for_shop}"))
            .await;
        assert_eq!(refused.status, 403, "{}", refused.text);
        for missing in [
            admin.get("/api/v1/maintenance-windows/999999").await,
            admin.delete("/api/v1/maintenance-windows/999999").await,
        ] {
            assert_eq!(missing.status, 404, "{}", missing.text);
            assert_eq!(
                missing.header("content-type"),
                Some("application/problem+json")
            );
        }

        // The window holds the outage's alert until it is deleted.
        target.set(DOWN);
        wait_for_status(&admin, shop, "maintenance").await;
        for _ in 0..2 {
            let before = monitor(&admin, shop).await["last_check_at"].clone();
            let checked = eventually(WAIT, || async {
                monitor(&admin, shop).await["last_check_at"] != before
            })
            .await;
            assert!(checked, "the monitor in maintenance stopped checking");
        }
        assert!(monitor_incidents(&admin).await.is_empty());
        let deleted = agent
            .delete(&format!("/api/v1/maintenance-windows/{for_shop}"))
            .await;
        assert_eq!(deleted.status, 204, "{}", deleted.text);
        wait_for_status(&admin, shop, "down").await;
        let opened = eventually(WAIT, || async {
            monitor_incidents(&admin).await.len() == 1
        })
        .await;
        assert!(
            opened,
            "the outage should open an incident once the window is gone"
        );
        let gone = admin
            .get(&format!("/api/v1/maintenance-windows/{for_shop}"))
            .await;
        assert_eq!(gone.status, 404, "{}", gone.text);
        let left = admin.get("/api/v1/maintenance-windows").await;
        assert_eq!(window_ids(&left), [for_tag, for_ledger]);

        let audit = admin
            .get(&format!(
                "/api/v1/audit?entity=maintenance_window&entity_id={for_shop}"
            ))
            .await;
        assert_eq!(audit.status, 200, "{}", audit.text);
        let entries = audit.body["items"].as_array().unwrap();
        let actions: Vec<_> = entries.iter().map(|e| e["action"].clone()).collect();
        assert_eq!(
            actions,
            [json!("created"), json!("deleted")],
            "{}",
            audit.text
        );
        assert!(
            entries[1]["actor"]
                .as_str()
                .unwrap()
                .contains("ann@opsdesk.example")
        );
        assert_eq!(entries[1]["before"]["reason"], "upgrade");
        assert_eq!(entries[1]["before"]["monitor_id"], shop);

        let openapi = server.anonymous().get("/api/v1/openapi.json").await.body;
        let paths = &openapi["paths"];
        for method in ["get", "post"] {
            assert!(
                paths["/api/v1/maintenance-windows"][method].is_object(),
                "{method}"
            );
        }
        for method in ["get", "delete"] {
            assert!(
                paths["/api/v1/maintenance-windows/{id}"][method].is_object(),
                "{method}"
            );
        }
    }
);
