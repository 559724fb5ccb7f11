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
