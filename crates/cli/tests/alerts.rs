//! Alerts from other monitoring tools: through an integration's secret URL, a firing alert
//! opens one incident, the same alert again keeps it, alerts of one group share it, and the
//! last one resolved resolves it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, TestServer, dual_backend_test, page_csrf_token, page_text};
use serde_json::{Value, json};

async fn post(server: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn alertmanager(status: &str, alerts: Vec<Value>) -> Value {
    json!({"version": "4", "groupKey": "{}:{alertname=\"NodeDown\"}", "truncatedAlerts": 0,
           "status": status, "receiver": "opsdesk", "groupLabels": {"alertname": "NodeDown"},
           "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
           "alerts": alerts})
}

fn node(instance: &str, status: &str) -> Value {
    json!({"status": status,
           "labels": {"alertname": "NodeDown", "instance": instance, "severity": "critical"},
           "annotations": {"summary": format!("{instance} is down")},
           "startsAt": "2026-03-02T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
           "generatorURL": "http://prometheus", "fingerprint": format!("fp-{instance}")})
}

dual_backend_test!(
    alerts_open_one_incident_per_problem_and_resolve_it,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let agent = server.client(&server.token_for("ann@msp.example").await);
        let denied = agent
            .post(
                "/api/v1/integrations",
                json!({"name": "x", "kind": "generic", "requester": "carol@acme.example"}),
            )
            .await;
        assert_eq!(denied.status, 403);
        let generic = admin
            .post(
                "/api/v1/integrations",
                json!({"name": "Uptime checks", "kind": "generic",
                       "requester": "carol@acme.example"}),
            )
            .await;
        assert_eq!(generic.status, 201, "{}", generic.text);
        let generic_url = generic.body["url_path"].as_str().unwrap().to_owned();
        assert!(generic_url.starts_with("/alerts/"));
        assert!(agent.get("/api/v1/integrations").await.body[0]["url_path"].is_null());

        // A firing alert opens an incident; the same alert again keeps it.
        let firing =
            json!({"status": "firing", "title": "VPN gateway down", "severity": "critical"});
        let (status, receipt) = post(&server, &generic_url, firing.clone()).await;
        assert_eq!(status, 202, "{receipt}");
        let number = receipt["opened"][0].as_str().unwrap().to_owned();
        let (_, again) = post(&server, &generic_url, firing).await;
        assert_eq!(again["opened"], json!([]), "{again}");
        let incident = admin.get(&format!("/api/v1/tickets/{number}")).await.body;
        assert_eq!(incident["title"], "VPN gateway down");
        assert_eq!(incident["priority"], "P1");
        assert_eq!(incident["source"], "alert");
        assert_eq!(incident["organization"]["name"], "Acme");
        let (_, resolved) = post(
            &server,
            &generic_url,
            json!({"status": "resolved", "title": "VPN gateway down"}),
        )
        .await;
        assert_eq!(resolved["resolved"], json!([number.clone()]), "{resolved}");
        let incident = admin.get(&format!("/api/v1/tickets/{number}")).await.body;
        assert_eq!(incident["status"], "resolved");

        // Alertmanager: one outage of forty nodes, grouped by alertname, is one incident.
        let am = admin
            .post(
                "/api/v1/integrations",
                json!({"name": "Prometheus", "kind": "alertmanager",
                       "requester": "carol@acme.example", "group_by": ["alertname"]}),
            )
            .await;
        let am_url = am.body["url_path"].as_str().unwrap().to_owned();
        let nodes: Vec<Value> = (1..=40)
            .map(|n| node(&format!("node{n}"), "firing"))
            .collect();
        let (status, receipt) = post(&server, &am_url, alertmanager("firing", nodes)).await;
        assert_eq!(status, 202, "{receipt}");
        assert_eq!(receipt["alerts"], 40);
        assert_eq!(receipt["opened"].as_array().unwrap().len(), 1, "{receipt}");
        let outage = receipt["opened"][0].as_str().unwrap().to_owned();
        let firing = agent.get("/api/v1/alerts?status=firing").await;
        assert_eq!(firing.body.as_array().unwrap().len(), 40, "{}", firing.text);
        assert!(
            firing
                .body
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["ticket"] == outage)
        );
        // Thirty-nine recover: the incident stays open; the last one resolves it.
        let recovered: Vec<Value> = (1..=39)
            .map(|n| node(&format!("node{n}"), "resolved"))
            .collect();
        let (_, partly) = post(&server, &am_url, alertmanager("resolved", recovered)).await;
        assert_eq!(partly["resolved"], json!([]), "{partly}");
        let (_, last) = post(
            &server,
            &am_url,
            alertmanager("resolved", vec![node("node40", "resolved")]),
        )
        .await;
        assert_eq!(last["resolved"], json!([outage.clone()]), "{last}");
        let timeline = admin
            .get(&format!("/api/v1/tickets/{outage}/timeline?limit=500"))
            .await;
        let alerts = timeline.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "alert")
            .count();
        assert_eq!(
            alerts,
            39 + 40,
            "joined and resolved alerts are noted: {}",
            timeline.text
        );
        // Firing again after recovery opens a new incident.
        let (_, back) = post(
            &server,
            &am_url,
            alertmanager("firing", vec![node("node7", "firing")]),
        )
        .await;
        assert_eq!(back["opened"].as_array().unwrap().len(), 1);
        assert_ne!(back["opened"][0], json!(outage));

        // The admin page creates integrations, shows the URL once, and lists the alerts.
        let (browser, _) = server.web_session("root@msp.example").await;
        let page = page_text(&browser, format!("{}/admin/integrations", server.url)).await;
        assert!(
            page.contains("Prometheus") && page.contains("node7 is down"),
            "{page}"
        );
        let created = browser
            .post(format!("{}/admin/integrations", server.url))
            .form(&[
                ("csrf_token", page_csrf_token(&page).as_str()),
                ("name", "Zabbix"),
                ("kind", "generic"),
                ("requester", "gus@globex.example"),
                ("group_by", "host, trigger"),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            created.contains("/alerts/") && created.contains("host, trigger"),
            "{created}"
        );

        let (status, problem) = post(&server, &am_url, json!({"alerts": "nope"})).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "body");
        let (status, _) = post(&server, "/alerts/not-a-secret", json!({})).await;
        assert_eq!(status, 404);
        let gone = admin
            .delete(&format!("/api/v1/integrations/{}", generic.body["id"]))
            .await;
        assert_eq!(gone.status, 204);
        let (status, _) = post(
            &server,
            &generic_url,
            json!({"status": "firing", "title": "x"}),
        )
        .await;
        assert_eq!(status, 404, "a deleted integration's URL is dead");
    }
);

/// A running Alertmanager, stopped when dropped.
struct Alertmanager {
    child: std::process::Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    /// Starts `binary` with one route: every alert, grouped by `alertname`, to `webhook`.
    async fn start(binary: &str, webhook: &str) -> Self {
        let data = tempfile::tempdir().unwrap();
        let config = data.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: opsdesk\n  group_by: ['alertname']\n  group_wait: 1s\n  \
                 group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: opsdesk\n    \
                 webhook_configs:\n      - url: '{webhook}'\n        send_resolved: true\n"
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", data.path().display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let ready = opsdesk_testkit::eventually(std::time::Duration::from_secs(20), || async {
            reqwest::get(format!("{url}/-/ready"))
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        assert!(ready, "Alertmanager did not start");
        Self {
            child,
            url,
            _data: data,
        }
    }

    /// Posts alerts to Alertmanager as Prometheus would.
    async fn fire(&self, alerts: &Value) {
        let sent = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(alerts)
            .send()
            .await
            .unwrap();
        assert!(sent.status().is_success(), "{}", sent.text().await.unwrap());
    }
}

dual_backend_test!(
    a_real_alertmanager_opens_one_incident_for_an_outage_and_resolves_it,
    |backend: Backend| async move {
        let Some(binary) = opsdesk_testkit::service_binary(
            "OPSDESK_TEST_ALERTMANAGER",
            "/usr/bin/prometheus-alertmanager",
            ".ci/setup.d/45-alertmanager.sh",
        ) else {
            return;
        };
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let policy = admin
            .post(
                "/api/v1/escalation-policies",
                json!({"name": "Nodes", "levels": [
                    {"targets": [{"user": "ann@msp.example"}], "wait_minutes": 15}]}),
            )
            .await;
        assert_eq!(policy.status, 201, "{}", policy.text);
        let integration = admin
            .post(
                "/api/v1/integrations",
                json!({"name": "Prometheus", "kind": "alertmanager",
                       "requester": "carol@acme.example", "group_by": ["alertname"],
                       "escalation_policy": "Nodes"}),
            )
            .await;
        assert_eq!(integration.status, 201, "{}", integration.text);
        let webhook = format!(
            "{}{}",
            server.url,
            integration.body["url_path"].as_str().unwrap()
        );
        let alertmanager = Alertmanager::start(&binary, &webhook).await;
        let outage = |ends: Option<&str>| {
            let alerts: Vec<Value> = (1..=40)
                .map(|n| {
                    let mut alert = json!({
                        "labels": {"alertname": "NodeDown", "instance": format!("node{n}"),
                                   "severity": "critical"},
                        "annotations": {"summary": "Nodes are down"},
                    });
                    if let Some(ends) = ends {
                        alert["endsAt"] = json!(ends);
                    }
                    alert
                })
                .collect();
            Value::Array(alerts)
        };
        alertmanager.fire(&outage(None)).await;
        let firing = || async { admin.get("/api/v1/alerts?status=firing").await.body };
        let arrived = opsdesk_testkit::eventually(std::time::Duration::from_secs(30), || async {
            firing().await.as_array().is_some_and(|a| a.len() == 40)
        })
        .await;
        assert!(arrived, "{}", firing().await);
        let alerts = firing().await;
        let incident = alerts[0]["ticket"].as_str().unwrap().to_owned();
        assert!(
            alerts
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["ticket"] == incident)
        );
        // Prometheus re-sends firing alerts: nothing new opens.
        alertmanager.fire(&outage(None)).await;
        let incidents = admin.get("/api/v1/tickets?q=tag:alert").await;
        assert_eq!(
            incidents.body["items"].as_array().unwrap().len(),
            1,
            "{}",
            incidents.text
        );
        // Forty alerts, sent twice: one page, to one person.
        let page = admin
            .get(&format!("/api/v1/incidents/{incident}/page"))
            .await;
        assert_eq!(
            page.body["notifications"].as_array().unwrap().len(),
            1,
            "{}",
            page.text
        );

        let now = server.app.now().to_string();
        alertmanager.fire(&outage(Some(&now))).await;
        let resolved = opsdesk_testkit::eventually(std::time::Duration::from_secs(30), || async {
            admin.get(&format!("/api/v1/tickets/{incident}")).await.body["status"] == "resolved"
        })
        .await;
        assert!(resolved, "the incident was not resolved");
        let page = admin
            .get(&format!("/api/v1/incidents/{incident}/page"))
            .await;
        assert_eq!(page.body["status"], "resolved", "{}", page.text);
    }
);

dual_backend_test!(
    alerts_of_a_new_problem_arriving_together_open_one_incident,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let integration = server
            .admin()
            .post(
                "/api/v1/integrations",
                json!({"name": "Zabbix", "kind": "generic", "requester": "carol@acme.example",
                       "group_by": ["service"]}),
            )
            .await;
        let url = integration.body["url_path"].as_str().unwrap().to_owned();
        let sends = (0..20).map(|n| {
            post(
                &server,
                &url,
                json!({"status": "firing", "title": "Mail queue stuck",
                       "labels": {"service": "mail", "host": format!("mx{n}")}}),
            )
        });
        let receipts = futures::future::join_all(sends).await;
        let opened: usize = receipts
            .iter()
            .map(|(status, receipt)| {
                assert_eq!(*status, 202, "{receipt}");
                receipt["opened"].as_array().unwrap().len()
            })
            .sum();
        assert_eq!(opened, 1, "{receipts:?}");
    }
);

/// Creates an integration as the admin; returns the path its alerts are posted to.
async fn integration(server: &TestServer, settings: Value) -> String {
    let created = server.admin().post("/api/v1/integrations", settings).await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.body["url_path"].as_str().unwrap().to_owned()
}

/// The alert of `fingerprint` as `GET /api/v1/alerts` shows it.
async fn alert_of(server: &TestServer, fingerprint: &str) -> Value {
    let alerts = server.admin().get("/api/v1/alerts").await.body;
    alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["fingerprint"] == fingerprint)
        .cloned()
        .unwrap_or(Value::Null)
}

dual_backend_test!(
    a_silence_mutes_the_alerts_it_fits_until_it_is_expired,
    |backend: Backend| async move {
        let start: jiff::Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
        let clock = opsdesk_app::ManualClock::starting_at(start);
        let server =
            TestServer::service_desk_on_clock(backend, std::sync::Arc::new(clock.clone())).await;
        let agent = server.client(&server.token_for("ann@msp.example").await);
        let am_url = integration(
            &server,
            json!({"name": "Prometheus", "kind": "alertmanager",
                   "requester": "carol@acme.example", "group_by": ["alertname"]}),
        )
        .await;
        let generic_url = integration(
            &server,
            json!({"name": "Uptime checks", "kind": "generic",
                   "requester": "carol@acme.example"}),
        )
        .await;
        let in_two_hours = "2026-03-02T12:00:00Z";

        // Mistakes are named by their field.
        for (mistake, field) in [
            (
                json!({"matchers": [{"name": "instance", "op": "=~", "value": "node(1"}],
                       "ends_at": in_two_hours, "comment": "x"}),
                "matchers[0].value",
            ),
            (
                json!({"matchers": [{"name": "a", "op": "=", "value": "b"},
                                    {"name": "", "op": "=", "value": "b"}],
                       "ends_at": in_two_hours, "comment": "x"}),
                "matchers[1].name",
            ),
            (
                json!({"matchers": [{"name": "a", "op": "~", "value": "b"}],
                       "ends_at": in_two_hours, "comment": "x"}),
                "matchers[0].op",
            ),
            (
                json!({"matchers": [{"name": "instance", "op": "=~", "value": ".*"}],
                       "ends_at": in_two_hours, "comment": "x"}),
                "matchers",
            ),
            (
                json!({"matchers": [{"name": "a", "op": "=", "value": "b"}],
                       "ends_at": "2026-03-02T09:00:00Z", "comment": "x"}),
                "ends_at",
            ),
            (
                json!({"matchers": [{"name": "a", "op": "=", "value": "b"}],
                       "ends_at": in_two_hours, "comment": " "}),
                "comment",
            ),
            (
                json!({"integration": "Nagios", "matchers": [{"name": "a", "op": "=", "value": "b"}],
                       "ends_at": in_two_hours, "comment": "x"}),
                "integration",
            ),
        ] {
            let refused = agent.post("/api/v1/silences", mistake).await;
            assert_eq!(refused.status, 422, "{}", refused.text);
            assert_eq!(
                refused.body["errors"][0]["field"], field,
                "{}",
                refused.text
            );
        }
        let customer = server.client(&server.token_for("carol@acme.example").await);
        assert_eq!(customer.get("/api/v1/silences").await.status, 403);

        let created = agent
            .post(
                "/api/v1/silences",
                json!({"integration": "Prometheus",
                       "matchers": [{"name": "alertname", "op": "=", "value": "NodeDown"},
                                    {"name": "instance", "op": "=~", "value": "node(1|2)"}],
                       "ends_at": in_two_hours, "comment": "Rebooting node1 and node2"}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        assert_eq!(created.body["state"], "active");
        assert_eq!(created.body["created_by"], "ann@msp.example");
        let silence = created.body["id"].as_i64().unwrap();

        // Muted: recorded as firing, with no incident.
        let (_, receipt) = post(
            &server,
            &am_url,
            alertmanager(
                "firing",
                vec![node("node1", "firing"), node("node2", "firing")],
            ),
        )
        .await;
        assert_eq!(receipt["opened"], json!([]), "{receipt}");
        assert_eq!(receipt["silenced"], 2, "{receipt}");
        let muted = alert_of(&server, "fp-node1").await;
        assert_eq!(muted["status"], "firing", "{muted}");
        assert_eq!(muted["silenced"], true, "{muted}");
        assert_eq!(muted["silence_id"], silence, "{muted}");
        assert!(muted["ticket"].is_null(), "{muted}");
        let incidents = || async {
            server.admin().get("/api/v1/tickets?q=tag:alert").await.body["items"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(incidents().await, 0);
        // Another node, and another integration's alert, are not muted.
        let (_, other) = post(
            &server,
            &am_url,
            alertmanager("firing", vec![node("node3", "firing")]),
        )
        .await;
        let outage = other["opened"][0].as_str().unwrap().to_owned();
        let (_, generic) = post(
            &server,
            &generic_url,
            json!({"status": "firing", "title": "node1 unreachable",
                   "labels": {"alertname": "NodeDown", "instance": "node1"}}),
        )
        .await;
        assert_eq!(generic["opened"].as_array().unwrap().len(), 1, "{generic}");
        let timeline = server
            .admin()
            .get(&format!("/api/v1/tickets/{outage}/timeline"))
            .await;
        assert!(!timeline.text.contains("fp-node1"), "{}", timeline.text);

        let listed = agent.get("/api/v1/silences").await;
        assert_eq!(listed.body[0]["id"], silence, "{}", listed.text);
        // Expired, it mutes nothing: node1 firing again joins the outage.
        assert_eq!(
            agent
                .delete(&format!("/api/v1/silences/{silence}"))
                .await
                .status,
            204
        );
        assert_eq!(agent.get("/api/v1/silences").await.body, json!([]));
        let all = agent.get("/api/v1/silences?all=true").await;
        assert_eq!(all.body[0]["state"], "expired", "{}", all.text);
        post(
            &server,
            &am_url,
            alertmanager("firing", vec![node("node1", "firing")]),
        )
        .await;
        let unmuted = alert_of(&server, "fp-node1").await;
        assert_eq!(unmuted["silenced"], false, "{unmuted}");
        assert_eq!(unmuted["ticket"], json!(outage), "{unmuted}");
        let audit = server.admin().get("/api/v1/audit?entity=silence").await;
        let actions: Vec<&str> = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["created", "updated"], "{}", audit.text);

        // A silence also ends by itself, at its end.
        let short = agent
            .post(
                "/api/v1/silences",
                json!({"matchers": [{"name": "title", "op": "=", "value": "VPN down"}],
                       "ends_at": "2026-03-02T10:30:00Z", "comment": "VPN maintenance"}),
            )
            .await;
        assert_eq!(short.status, 201, "{}", short.text);
        let vpn = json!({"status": "firing", "title": "VPN down"});
        let (_, muted) = post(&server, &generic_url, vpn.clone()).await;
        assert_eq!(muted["silenced"], 1, "{muted}");
        clock.advance(jiff::SignedDuration::from_mins(31));
        let (_, after) = post(&server, &generic_url, vpn).await;
        assert_eq!(after["opened"].as_array().unwrap().len(), 1, "{after}");

        // The page lists silences, creates one from its matcher lines, and expires it.
        let (browser, _) = server.web_session("ann@msp.example").await;
        let page = page_text(&browser, format!("{}/silences", server.url)).await;
        assert!(page.contains("Silences"), "{page}");
        let csrf = page_csrf_token(&page);
        let refused = browser
            .post(format!("{}/silences", server.url))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("integration", "Prometheus"),
                ("matcher-0-name", "alertname"),
                ("matcher-0-op", "="),
                ("matcher-0-value", "NodeDown"),
                ("matcher-1-name", "instance"),
                ("matcher-1-op", "=~"),
                ("matcher-1-value", "db("),
                ("hours", "4"),
                ("comment", "Disk swap"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 422);
        let refused = refused.text().await.unwrap();
        assert!(
            refused.contains("matcher-1-value-error") && refused.contains("db("),
            "{refused}"
        );
        let created = browser
            .post(format!("{}/silences", server.url))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("integration", "Prometheus"),
                ("matcher-0-name", "alertname"),
                ("matcher-0-op", "="),
                ("matcher-0-value", "NodeDown"),
                ("matcher-2-name", "instance"),
                ("matcher-2-op", "=~"),
                ("matcher-2-value", "db.*"),
                ("hours", "4"),
                ("comment", "Disk swap"),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(created.contains("Disk swap"), "{created}");
        let made = agent.get("/api/v1/silences").await.body[0].clone();
        assert_eq!(
            made["matchers"],
            json!([{"name": "alertname", "op": "=", "value": "NodeDown"},
                   {"name": "instance", "op": "=~", "value": "db.*"}]),
            "{made}"
        );
        assert_eq!(made["integration"], "Prometheus", "{made}");
        assert_eq!(made["ends_at"], "2026-03-02T14:31:00Z", "{made}");
        browser
            .post(format!("{}/silences/{}/expire", server.url, made["id"]))
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(agent.get("/api/v1/silences").await.body, json!([]));
    }
);

dual_backend_test!(
    alerts_are_found_by_text_with_their_status_and_silence,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let am_url = integration(
            &server,
            json!({"name": "Prometheus", "kind": "alertmanager",
                   "requester": "carol@acme.example", "group_by": ["alertname"]}),
        )
        .await;
        let zabbix_url = integration(
            &server,
            json!({"name": "Zabbix", "kind": "generic", "requester": "carol@acme.example",
                   "group_by": ["service"]}),
        )
        .await;
        let agent = server.client(&server.token_for("ann@msp.example").await);
        let muted = agent
            .post(
                "/api/v1/silences",
                json!({"integration": "Zabbix",
                       "matchers": [{"name": "host", "op": "=", "value": "MX2"}],
                       "ends_at": "2100-01-01T00:00:00Z", "comment": "MX2 is being replaced"}),
            )
            .await;
        assert_eq!(muted.status, 201, "{}", muted.text);
        post(
            &server,
            &am_url,
            alertmanager("firing", vec![node("node1", "firing")]),
        )
        .await;
        for host in ["MX1", "MX2"] {
            post(
                &server,
                &zabbix_url,
                json!({"status": "firing", "title": format!("Mail queue stuck on {host}"),
                       "labels": {"service": "mail", "host": host}}),
            )
            .await;
        }
        let titles = |query: &str| {
            let agent = &agent;
            let query = query.to_owned();
            async move {
                let found = agent.get(&format!("/api/v1/alerts?{query}")).await;
                assert_eq!(found.status, 200, "{query}: {}", found.text);
                let mut titles: Vec<String> = found
                    .body
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["title"].as_str().unwrap().to_owned())
                    .collect();
                titles.sort();
                titles
            }
        };
        let (mx1, mx2) = ("Mail queue stuck on MX1", "Mail queue stuck on MX2");
        // A label value, in any case; a title; an integration's name; a fingerprint.
        assert_eq!(titles("q=mx1").await, [mx1]);
        assert_eq!(titles("q=QUEUE%20STUCK").await, [mx1, mx2]);
        assert_eq!(titles("q=zabbix").await, [mx1, mx2]);
        assert_eq!(titles("q=fp-node1").await, ["node1 is down"]);
        assert_eq!(titles("q=NodeDown").await, ["node1 is down"]);
        // Label names are not searched, and wildcards are plain characters.
        assert!(titles("q=instance").await.is_empty());
        assert!(titles("q=%25").await.is_empty());
        assert!(titles("q=mx_").await.is_empty());
        // Combined with silenced and status.
        assert_eq!(titles("q=mail&silenced=true").await, [mx2]);
        assert_eq!(titles("q=mail&silenced=false").await, [mx1]);
        post(
            &server,
            &zabbix_url,
            json!({"status": "resolved", "title": mx1,
                   "labels": {"service": "mail", "host": "MX1"}}),
        )
        .await;
        assert_eq!(titles("q=mail&status=firing").await, [mx2]);
        assert_eq!(titles("q=mail").await, [mx1, mx2]);

        let long = agent
            .get(&format!("/api/v1/alerts?q={}", "x".repeat(201)))
            .await;
        assert_eq!(long.status, 422, "{}", long.text);
        assert_eq!(long.body["errors"][0]["field"], "q");
        let wrong = agent.get("/api/v1/alerts?silenced=maybe").await;
        assert_eq!(wrong.status, 422, "{}", wrong.text);
        assert_eq!(wrong.body["errors"][0]["field"], "silenced");
    }
);

/// A test server on a clock the test moves, from 2026-03-02 10:00 UTC.
async fn server_on_clock(backend: Backend) -> (TestServer, opsdesk_app::ManualClock) {
    let start: jiff::Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
    let clock = opsdesk_app::ManualClock::starting_at(start);
    let server =
        TestServer::service_desk_on_clock(backend, std::sync::Arc::new(clock.clone())).await;
    (server, clock)
}

fn minutes(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_mins(n)
}

async fn ticket_status(server: &TestServer, number: &str) -> String {
    let ticket = server
        .admin()
        .get(&format!("/api/v1/tickets/{number}"))
        .await;
    ticket.body["status"].as_str().unwrap().to_owned()
}

async fn alert_incidents(server: &TestServer) -> Vec<Value> {
    let found = server
        .admin()
        .get("/api/v1/tickets?q=tag:alert&limit=500")
        .await;
    found.body["items"].as_array().unwrap().clone()
}

dual_backend_test!(
    a_flapping_alert_keeps_one_incident_until_it_stays_resolved_for_the_hold_back,
    |backend: Backend| async move {
        let (server, clock) = server_on_clock(backend).await;
        let url = integration(
            &server,
            json!({"name": "Uptime checks", "kind": "generic",
                   "requester": "carol@acme.example", "hold_back_minutes": 10}),
        )
        .await;
        let firing = json!({"status": "firing", "title": "VPN gateway down"});
        let resolved = json!({"status": "resolved", "title": "VPN gateway down"});
        let (_, opened) = post(&server, &url, firing.clone()).await;
        let incident = opened["opened"][0].as_str().unwrap().to_owned();
        // Flapping: resolved, firing again, resolved, all within the hold-back.
        for (after, body) in [(1, &resolved), (2, &firing), (1, &resolved)] {
            clock.advance(minutes(after));
            let (status, receipt) = post(&server, &url, body.clone()).await;
            assert_eq!(status, 202, "{receipt}");
            assert_eq!(receipt["opened"], json!([]), "{receipt}");
            assert_eq!(receipt["resolved"], json!([]), "{receipt}");
        }
        assert_eq!(alert_incidents(&server).await.len(), 1);
        assert_eq!(
            alert_of(&server, &opened_fingerprint(&server).await).await["ticket"],
            incident
        );
        // The first resolution's hold-back ends (11 minutes in), but the alert was resolved
        // again at 4 minutes: the incident stays open until 14.
        clock.advance(minutes(9));
        assert!(server.jobs_done("alert.settle", 1).await);
        assert_ne!(ticket_status(&server, &incident).await, "resolved");
        clock.advance(minutes(2));
        let settled = opsdesk_testkit::eventually(std::time::Duration::from_secs(20), || async {
            ticket_status(&server, &incident).await == "resolved"
        })
        .await;
        assert!(settled, "the incident was not resolved after the hold-back");
        // Firing after that opens a new incident.
        let (_, again) = post(&server, &url, firing).await;
        assert_eq!(again["opened"].as_array().unwrap().len(), 1, "{again}");
    }
);

/// The fingerprint of the only alert received.
async fn opened_fingerprint(server: &TestServer) -> String {
    let alerts = server.admin().get("/api/v1/alerts").await.body;
    alerts[0]["fingerprint"].as_str().unwrap().to_owned()
}

dual_backend_test!(
    an_alert_not_received_again_for_resolve_after_is_resolved,
    |backend: Backend| async move {
        let (server, clock) = server_on_clock(backend).await;
        let url = integration(
            &server,
            json!({"name": "Zabbix", "kind": "generic", "requester": "carol@acme.example",
                   "resolve_after_minutes": 30}),
        )
        .await;
        let firing = json!({"status": "firing", "title": "Backup job failing"});
        let (_, opened) = post(&server, &url, firing.clone()).await;
        let incident = opened["opened"][0].as_str().unwrap().to_owned();
        // Repeated after 20 minutes: the timeout counts from then.
        clock.advance(minutes(20));
        post(&server, &url, firing).await;
        clock.advance(minutes(20));
        assert!(server.jobs_done("alert.timeout", 1).await);
        assert_ne!(ticket_status(&server, &incident).await, "resolved");
        clock.advance(minutes(11));
        let timed_out = opsdesk_testkit::eventually(std::time::Duration::from_secs(20), || async {
            ticket_status(&server, &incident).await == "resolved"
        })
        .await;
        assert!(timed_out, "the silent alert did not resolve its incident");
        assert_eq!(
            alert_of(&server, &opened_fingerprint(&server).await).await["status"],
            "resolved"
        );
    }
);

dual_backend_test!(
    a_group_opens_its_incident_on_the_nth_firing_within_the_window,
    |backend: Backend| async move {
        let (server, clock) = server_on_clock(backend).await;
        let url = integration(
            &server,
            json!({"name": "Zabbix", "kind": "generic", "requester": "carol@acme.example",
                   "group_by": ["service"], "open_after": {"count": 3, "minutes": 10}}),
        )
        .await;
        let fire = |host: &str| {
            json!({"status": "firing", "title": format!("Mail queue stuck on {host}"),
                   "labels": {"service": "mail", "host": host}})
        };
        let (_, first) = post(&server, &url, fire("mx1")).await;
        assert_eq!(first["pending"], 1, "{first}");
        assert_eq!(first["opened"], json!([]), "{first}");
        clock.advance(minutes(2));
        post(&server, &url, fire("mx2")).await;
        let waiting = alert_of(&server, &opened_fingerprint(&server).await).await;
        assert_eq!(waiting["pending"], true, "{waiting}");
        assert!(waiting["ticket"].is_null(), "{waiting}");
        // The window passes: the count starts over.
        clock.advance(minutes(15));
        for host in ["mx1", "mx2"] {
            let (_, receipt) = post(&server, &url, fire(host)).await;
            assert_eq!(receipt["opened"], json!([]), "{receipt}");
        }
        assert!(alert_incidents(&server).await.is_empty());
        // The third firing within ten minutes opens it, and the waiting alerts join.
        clock.advance(minutes(1));
        let (_, third) = post(&server, &url, fire("mx3")).await;
        let incident = third["opened"][0].as_str().unwrap().to_owned();
        let alerts = server.admin().get("/api/v1/alerts").await.body;
        assert_eq!(alerts.as_array().unwrap().len(), 3);
        for alert in alerts.as_array().unwrap() {
            assert_eq!(alert["ticket"], json!(incident), "{alert}");
            assert_eq!(alert["pending"], false, "{alert}");
        }
    }
);

dual_backend_test!(
    beyond_the_storm_cap_new_problems_join_one_storm_incident,
    |backend: Backend| async move {
        let (server, clock) = server_on_clock(backend).await;
        let admin = server.admin();
        let created = admin
            .post(
                "/api/v1/integrations",
                json!({"name": "Prometheus", "kind": "alertmanager",
                       "requester": "carol@acme.example", "group_by": ["alertname"],
                       "max_incidents_per_hour": 2}),
            )
            .await;
        assert_eq!(
            created.body["max_incidents_per_hour"], 2,
            "{}",
            created.text
        );
        let url = created.body["url_path"].as_str().unwrap().to_owned();
        let problem = |name: &str, status: &str| {
            json!({"status": status, "labels": {"alertname": name, "severity": "warning"},
                   "annotations": {"summary": format!("{name} fires")},
                   "fingerprint": format!("fp-{name}")})
        };
        let five: Vec<Value> = ["A", "B", "C", "D", "E"]
            .iter()
            .map(|name| problem(name, "firing"))
            .collect();
        let (_, receipt) = post(&server, &url, alertmanager("firing", five)).await;
        // Two problems open their own; the third opens the storm, which the rest join.
        let opened = receipt["opened"].as_array().unwrap().clone();
        assert_eq!(opened.len(), 3, "{receipt}");
        let storm = opened[2].as_str().unwrap().to_owned();
        let storm_ticket = admin.get(&format!("/api/v1/tickets/{storm}")).await.body;
        assert_eq!(storm_ticket["title"], "Alert storm: Prometheus");
        for name in ["C", "D", "E"] {
            let alert = alert_of(&server, &format!("fp-{name}")).await;
            assert_eq!(alert["ticket"], json!(storm), "{alert}");
        }
        assert_eq!(alert_incidents(&server).await.len(), 3);
        // A sixth problem in the same hour joins the storm too.
        let (_, sixth) = post(
            &server,
            &url,
            alertmanager("firing", vec![problem("F", "firing")]),
        )
        .await;
        assert_eq!(sixth["opened"], json!([]), "{sixth}");
        assert_eq!(alert_of(&server, "fp-F").await["ticket"], json!(storm));
        // The storm incident is resolved with its last alert.
        let calm: Vec<Value> = ["C", "D", "E", "F"]
            .iter()
            .map(|name| problem(name, "resolved"))
            .collect();
        let (_, calmed) = post(&server, &url, alertmanager("resolved", calm)).await;
        assert_eq!(calmed["resolved"], json!([storm]), "{calmed}");
        // An hour on, a new problem opens its own incident again.
        clock.advance(minutes(61));
        let (_, later) = post(
            &server,
            &url,
            alertmanager("firing", vec![problem("G", "firing")]),
        )
        .await;
        let own = later["opened"][0].as_str().unwrap();
        assert_ne!(own, storm);
        assert_eq!(
            admin.get(&format!("/api/v1/tickets/{own}")).await.body["title"],
            "G fires"
        );
    }
);

dual_backend_test!(
    admins_change_an_integrations_pipeline_from_the_version_they_read,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        integration(
            &server,
            json!({"name": "Zabbix", "kind": "generic", "requester": "carol@acme.example"}),
        )
        .await;
        let listed = admin.get("/api/v1/integrations").await.body[0].clone();
        assert_eq!(listed["hold_back_minutes"], 0, "{listed}");
        assert_eq!(listed["open_after"], json!({"count": 1, "minutes": 0}));
        let path = format!("/api/v1/integrations/{}", listed["id"]);
        let agent = server.client(&server.token_for("ann@msp.example").await);
        assert_eq!(
            agent
                .patch(&path, json!({"hold_back_minutes": 5}), None)
                .await
                .status,
            403
        );
        let wrong = admin
            .patch(
                &path,
                json!({"open_after": {"count": 3, "minutes": 0}}),
                None,
            )
            .await;
        assert_eq!(wrong.status, 422, "{}", wrong.text);
        assert_eq!(wrong.body["errors"][0]["field"], "open_after.minutes");
        let changed = admin
            .patch(
                &path,
                json!({"hold_back_minutes": 5, "open_after": {"count": 3, "minutes": 10}}),
                Some("\"v1\""),
            )
            .await;
        assert_eq!(changed.status, 200, "{}", changed.text);
        assert_eq!(changed.header("etag"), Some("\"v2\""));
        assert_eq!(changed.body["hold_back_minutes"], 5);
        assert_eq!(changed.body["resolve_after_minutes"], 0);
        let stale = admin
            .patch(&path, json!({"hold_back_minutes": 1}), Some("\"v1\""))
            .await;
        assert_eq!(stale.status, 412, "{}", stale.text);

        // The admin page shows the settings and saves them.
        let (browser, _) = server.web_session("root@msp.example").await;
        let page = page_text(&browser, format!("{}/admin/integrations", server.url)).await;
        assert!(page.contains("name=\"hold_back_minutes\""), "{page}");
        let saved = browser
            .post(format!(
                "{}/admin/integrations/{}/pipeline",
                server.url, listed["id"]
            ))
            .form(&[
                ("csrf_token", page_csrf_token(&page).as_str()),
                ("version", "2"),
                ("hold_back_minutes", "15"),
                ("resolve_after_minutes", "60"),
                ("open_after_count", "3"),
                ("open_after_minutes", "10"),
                ("max_incidents_per_hour", "20"),
            ])
            .send()
            .await
            .unwrap();
        assert!(saved.status().is_success(), "{}", saved.status());
        let now = admin.get("/api/v1/integrations").await.body[0].clone();
        assert_eq!(now["hold_back_minutes"], 15, "{now}");
        assert_eq!(now["resolve_after_minutes"], 60, "{now}");
        assert_eq!(now["max_incidents_per_hour"], 20, "{now}");
        let audit = admin.get("/api/v1/audit?entity=integration").await;
        let actions: Vec<&str> = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["created", "updated", "updated"], "{}", audit.text);
    }
);

dual_backend_test!(
    a_source_silent_longer_than_expected_raises_its_own_alert_until_it_speaks,
    |backend: Backend| async move {
        let (server, clock) = server_on_clock(backend).await;
        let refused = server
            .admin()
            .post(
                "/api/v1/integrations",
                json!({"name": "x", "kind": "generic", "requester": "carol@acme.example",
                       "silent_after_minutes": 20_000}),
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(refused.body["errors"][0]["field"], "silent_after_minutes");
        let url = integration(
            &server,
            json!({"name": "Prometheus", "kind": "alertmanager",
                   "requester": "carol@acme.example", "silent_after_minutes": 10}),
        )
        .await;
        // The Watchdog keeps arriving: nothing is raised.
        let watchdog = json!({"status": "firing", "labels": {"alertname": "Watchdog"}});
        for _ in 0..3 {
            clock.advance(minutes(5));
            let (status, _) = post(
                &server,
                &url,
                alertmanager("firing", vec![watchdog.clone()]),
            )
            .await;
            assert_eq!(status, 202);
            server.app.housekeeping().await.unwrap();
        }
        let before = alert_incidents(&server).await.len();

        // Then it stops: after ten quiet minutes the switch fires, once.
        clock.advance(minutes(11));
        server.app.housekeeping().await.unwrap();
        clock.advance(minutes(5));
        server.app.housekeeping().await.unwrap();
        let incidents = alert_incidents(&server).await;
        assert_eq!(incidents.len(), before + 1, "{incidents:?}");
        let silent = incidents
            .iter()
            .find(|t| t["title"] == "Prometheus sent nothing for 10 minutes")
            .expect("the switch's incident");
        let number = silent["number"].as_str().unwrap().to_owned();
        assert_eq!(silent["priority"], "P1", "a critical alert: {silent}");
        assert_eq!(
            alert_of(&server, "opsdesk-source-silent").await["status"],
            "firing"
        );

        // The source speaks again: the switch's alert resolves its incident.
        let (status, receipt) = post(&server, &url, alertmanager("firing", vec![watchdog])).await;
        assert_eq!(status, 202, "{receipt}");
        assert_eq!(receipt["resolved"], json!([number.clone()]), "{receipt}");
        assert_eq!(ticket_status(&server, &number).await, "resolved");
        let settings = server.admin().get("/api/v1/integrations").await;
        assert_eq!(settings.body[0]["silent_after_minutes"], 10);
    }
);

/// A monitoring tool's notification mail to `to`, as Nagios sends it.
fn nagios_mail(id: &str, to: &str, subject: &str) -> Vec<u8> {
    format!(
        "Delivered-To: {to}\r\nFrom: Nagios <nagios@mon.example>\r\nTo: oncall@acme.example\r\n\
         Auto-Submitted: auto-generated\r\nSubject: {subject}\r\nMessage-ID: <{id}@mon.example>\r\n\
         Content-Type: text/plain\r\n\r\nHost: web1\r\nInfo: connection refused\r\n"
    )
    .into_bytes()
}

dual_backend_test!(
    mail_to_an_email_integration_fires_and_resolves_alerts,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let settings = |address: Value, kind: &str| {
            json!({"name": format!("Nagios {kind} {address}"), "kind": kind,
                   "requester": "carol@acme.example", "address": address})
        };
        let missing = admin
            .post("/api/v1/integrations", settings(Value::Null, "email"))
            .await;
        assert_eq!(missing.status, 422, "{}", missing.text);
        assert_eq!(missing.body["errors"][0]["field"], "address");
        let wrong_kind = admin
            .post(
                "/api/v1/integrations",
                settings(json!("x@desk.example"), "generic"),
            )
            .await;
        assert_eq!(wrong_kind.status, 422, "{}", wrong_kind.text);
        let created = admin
            .post(
                "/api/v1/integrations",
                settings(json!("Alerts@Desk.Example"), "email"),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        assert_eq!(created.body["address"], "alerts@desk.example");
        let taken = admin
            .post(
                "/api/v1/integrations",
                json!({"name": "Zabbix", "kind": "email", "requester": "carol@acme.example",
                       "address": "alerts@desk.example"}),
            )
            .await;
        assert_eq!(taken.status, 409, "{}", taken.text);
        assert_eq!(
            taken.body["errors"][0]["field"], "address",
            "{}",
            taken.text
        );
        // Its secret URL takes no posts: its alerts come by mail.
        let url = created.body["url_path"].as_str().unwrap().to_owned();
        let (status, _) = post(&server, &url, json!({"status": "firing", "title": "x"})).await;
        assert_eq!(status, 422);

        // The problem mail opens a P1 incident, though marked auto-generated; again, it joins.
        let problem = "** PROBLEM Service Alert: web1/HTTP is CRITICAL **";
        let first = server
            .app
            .ingest_mail(nagios_mail("p1", "alerts@desk.example", problem))
            .await
            .unwrap();
        assert_eq!(first.status, "alert", "{first:?}");
        let number = first.ticket.clone().unwrap();
        let incident = admin.get(&format!("/api/v1/tickets/{number}")).await.body;
        assert_eq!(incident["title"], problem.trim_matches(['*', ' ']));
        assert_eq!(incident["priority"], "P1");
        assert_eq!(incident["source"], "alert");
        assert_eq!(incident["organization"]["name"], "Acme");
        let again = server
            .app
            .ingest_mail(nagios_mail("p2", "alerts@desk.example", problem))
            .await
            .unwrap();
        assert_eq!(again.status, "alert");
        assert_eq!(again.ticket.as_deref(), Some(number.as_str()));
        let alerts = admin.get("/api/v1/alerts").await.body;
        let alert = alerts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["ticket"] == number.as_str())
            .unwrap();
        assert_eq!(alert["occurrences"], 2, "{alert}");
        assert_eq!(alert["integration"], created.body["name"]);
        // Redelivering a message changes nothing.
        let redelivered = server
            .app
            .ingest_mail(nagios_mail("p2", "alerts@desk.example", problem))
            .await
            .unwrap();
        assert!(redelivered.duplicate);

        // The recovery mail resolves it.
        let recovery = "** RECOVERY Service Alert: web1/HTTP is OK **";
        let over = server
            .app
            .ingest_mail(nagios_mail("r1", "alerts@desk.example", recovery))
            .await
            .unwrap();
        assert_eq!(over.status, "alert");
        let incident = admin.get(&format!("/api/v1/tickets/{number}")).await.body;
        assert_eq!(incident["status"], "resolved", "{incident}");

        // Mail to any other address is still a ticket, or the quarantine's.
        let other = server
            .app
            .ingest_mail(nagios_mail("p3", "support@desk.example", problem))
            .await
            .unwrap();
        assert_ne!(other.status, "alert", "{other:?}");

        // The admin page makes one too, names a missing address, and lists each address.
        let forms = server.web_forms("root@msp.example").await;
        let fields = |address: &'static str| {
            [
                ("name", "Zabbix"),
                ("kind", "email"),
                ("address", address),
                ("requester", "gus@globex.example"),
            ]
        };
        let (status, _, page) = forms.post("/admin/integrations", &fields("")).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("needs the address"), "{page}");
        let (status, _, page) = forms
            .post("/admin/integrations", &fields("zabbix@desk.example"))
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("zabbix@desk.example") && page.contains("alerts@desk.example"),
            "{page}"
        );
    }
);

dual_backend_test!(
    upgrading_to_email_integrations_keeps_each_integration_and_its_alerts,
    |backend: Backend| async move {
        let store_backend = opsdesk_store::Backend::from(backend);
        let db = opsdesk_testkit::TestDb::new(backend).await;
        let mut conn = db.connect().await;
        opsdesk_store::migrate_to(&mut conn, store_backend, 40)
            .await
            .unwrap();
        for statement in [
            "INSERT INTO users (id, email, name, role, created_at, updated_at) \
             VALUES (7, 'mon@msp.example', 'Mon', 'agent', 0, 0)",
            "INSERT INTO integrations (id, name, kind, requester_id, token_hash, created_at, \
             open_after_count, silent_after_minutes) \
             VALUES (3, 'Prometheus', 'alertmanager', 7, 'hash', 0, 2, 15)",
            "INSERT INTO alerts (integration_id, fingerprint, group_key, status, title, \
             severity, labels, first_at, last_at, occurrences, payload) \
             VALUES (3, 'fp', 'fp', 'firing', 'Disk full', 'critical', '{}', 0, 0, 1, '{}')",
        ] {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
        opsdesk_store::migrate_to(&mut conn, store_backend, i64::MAX)
            .await
            .unwrap();
        let (alerts,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM alerts WHERE integration_id = 3")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(
            alerts, 1,
            "the alerts of an integration outlive the upgrade"
        );
        let (count, silent): (i64, i64) = sqlx::query_as(
            "SELECT open_after_count, silent_after_minutes FROM integrations WHERE id = 3",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!((count, silent), (2, 15));
        sqlx::query(
            "INSERT INTO integrations (name, kind, requester_id, token_hash, created_at, address) \
             VALUES ('Nagios', 'email', 7, 'other', 0, 'alerts@desk.example')",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        // Deleting an integration still takes its alerts along: the rebuilt table is the one
        // the alerts refer to.
        sqlx::query("DELETE FROM integrations WHERE id = 3")
            .execute(&mut conn)
            .await
            .unwrap();
        let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM alerts")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(left, 0);
    }
);

dual_backend_test!(
    the_simulator_replays_recent_alerts_through_draft_settings,
    |backend: Backend| async move {
        let (server, clock) = server_on_clock(backend).await;
        let admin = server.admin();
        let policy = admin
            .post(
                "/api/v1/escalation-policies",
                json!({"name": "NOC", "levels": [{"targets": [{"user": "ann@msp.example"}],
                                                  "wait_minutes": 5}]}),
            )
            .await;
        assert_eq!(policy.status, 201, "{}", policy.text);
        let created = admin
            .post(
                "/api/v1/integrations",
                json!({"name": "Prometheus", "kind": "generic",
                       "requester": "carol@acme.example", "escalation_policy": "NOC"}),
            )
            .await;
        let id = created.body["id"].as_i64().unwrap();
        let url = created.body["url_path"].as_str().unwrap().to_owned();
        let alert = |title: &str, status: &str, node: &str| {
            json!({"status": status, "title": title,
                   "labels": {"alertname": title, "node": node}})
        };
        // A flapping alert fires five times over ten minutes, and three nodes go down.
        for _ in 0..5 {
            post(&server, &url, alert("Flappy", "firing", "web1")).await;
            clock.advance(minutes(1));
            post(&server, &url, alert("Flappy", "resolved", "web1")).await;
            clock.advance(minutes(1));
        }
        for node in ["node1", "node2", "node3"] {
            let (status, receipt) = post(&server, &url, alert("NodeDown", "firing", node)).await;
            assert_eq!(status, 202, "{receipt}");
        }
        clock.advance(minutes(60));

        let simulate = |draft: Value| {
            let admin = server.admin();
            async move {
                admin
                    .post(&format!("/api/v1/integrations/{id}/simulate"), draft)
                    .await
            }
        };
        let tried = simulate(json!({"changes": {"group_by": ["alertname"],
                                                "hold_back_minutes": 5}}))
        .await;
        assert_eq!(tried.status, 200, "{}", tried.text);
        let body = &tried.body;
        assert_eq!(body["notifications"], 13, "{body}");
        assert_eq!(body["actual"]["incidents"], 8, "{body}");
        assert_eq!(
            body["actual"]["paged"],
            json!([{"person": "ann@msp.example", "pages": 8}])
        );
        // Replayed as configured, the day comes out as it happened.
        assert_eq!(body["current"]["incidents"], 8, "{body}");
        assert_eq!(body["current"]["pages"], 8);
        // Grouped and held back: one flapping incident, one outage.
        assert_eq!(body["draft"]["incidents"], 2, "{body}");
        assert_eq!(
            body["draft"]["paged"],
            json!([{"person": "ann@msp.example", "pages": 2}])
        );

        let silenced = simulate(json!({"silence": {"matchers": [
            {"name": "alertname", "op": "=", "value": "Flappy"}]},
            "changes": {"escalation_policy": ""}}))
        .await;
        assert_eq!(silenced.status, 200, "{}", silenced.text);
        assert_eq!(silenced.body["draft"]["incidents"], 3, "{}", silenced.text);
        assert_eq!(silenced.body["draft"]["silenced"], 5);
        assert_eq!(silenced.body["draft"]["pages"], 0);

        // The admin page tries the same on the integration's own form, and keeps the values.
        let forms = server.web_forms("root@msp.example").await;
        let tried_fields = [
            ("version", "1"),
            ("group_by", "alertname"),
            ("escalation_policy", "NOC"),
            ("hold_back_minutes", "5"),
            ("resolve_after_minutes", "0"),
            ("open_after_count", "1"),
            ("open_after_minutes", "0"),
            ("max_incidents_per_hour", "0"),
            ("silent_after_minutes", "0"),
        ];
        let (status, _, page) = forms
            .post(&format!("/admin/integrations/{id}/simulate"), &tried_fields)
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains(r#"data-draft="incidents">2<"#), "{page}");
        assert!(page.contains("ann@msp.example × 2"), "{page}");
        assert!(
            page.contains(r#"name="group_by" value="alertname""#),
            "{page}"
        );
        let (status, _, page) = forms
            .post(
                &format!("/admin/integrations/{id}/simulate"),
                &[("hold_back_minutes", "-3")],
            )
            .await;
        assert_eq!(status, 422, "{page}");

        // Nothing was changed by trying; saving the same changes makes them so.
        let integration = &admin.get("/api/v1/integrations").await.body[0];
        assert_eq!(integration["group_by"], json!([]));
        assert_eq!(integration["hold_back_minutes"], 0);
        let saved = admin
            .patch(
                &format!("/api/v1/integrations/{id}"),
                json!({"group_by": ["alertname"], "hold_back_minutes": 5,
                       "escalation_policy": ""}),
                Some("\"v1\""),
            )
            .await;
        assert_eq!(saved.status, 200, "{}", saved.text);
        assert_eq!(saved.body["group_by"], json!(["alertname"]));
        assert_eq!(saved.body["escalation_policy"], Value::Null);
        let now_as_drafted = simulate(json!({})).await;
        assert_eq!(now_as_drafted.body["current"]["incidents"], 2);
        assert_eq!(now_as_drafted.body["current"]["pages"], 0);

        for (draft, field) in [
            (json!({"days": 31}), "days"),
            (
                json!({"changes": {"hold_back_minutes": -1}}),
                "changes.hold_back_minutes",
            ),
            (
                json!({"changes": {"escalation_policy": "nope"}}),
                "changes.escalation_policy",
            ),
            (json!({"silence": {"matchers": []}}), "silence.matchers"),
        ] {
            let refused = simulate(draft).await;
            assert_eq!(refused.status, 422, "{}", refused.text);
            assert_eq!(
                refused.body["errors"][0]["field"], field,
                "{}",
                refused.text
            );
        }
        let customer = server.client(&server.token_for("carol@acme.example").await);
        let denied = customer
            .post(&format!("/api/v1/integrations/{id}/simulate"), json!({}))
            .await;
        assert_eq!(denied.status, 403);

        // Notifications are kept thirty days.
        clock.advance(jiff::SignedDuration::from_hours(31 * 24));
        server.app.housekeeping().await.unwrap();
        let later = simulate(json!({})).await;
        assert_eq!(later.body["notifications"], 0, "{}", later.text);
        let (kept,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM alert_notifications")
            .fetch_one(&mut server.db.connect().await)
            .await
            .unwrap();
        assert_eq!(
            kept, 0,
            "housekeeping forgets what the simulator no longer replays"
        );
    }
);
