//! Network devices against a real net-snmp `snmpd` (started by .ci/setup.d/50-snmpd.sh), on
//! SQLite and PostgreSQL: discovery over v2c and v3 into the CMDB with a monitor per
//! interface; an interface going down (its ifOperStatus set by SNMP) opens an incident and
//! coming back resolves it; its traffic is kept for the chart; a trap sent with the real
//! `snmptrap` becomes an incident linked to the device's item.
//!
//! Skipped when `OPSDESK_TEST_SNMPD` is unset, unless `OPSDESK_REQUIRE_SERVICES=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use opsdesk_testkit::{Backend, Client, TestServer, dual_backend_test, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

struct Snmpd {
    address: String,
    community: String,
    write_community: String,
    v3_user: String,
    v3_auth_password: String,
    v3_privacy_password: String,
    flip_index: u32,
}

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: see .ci/setup.d/50-snmpd.sh"))
}

fn snmpd() -> Option<Snmpd> {
    let Ok(address) = std::env::var("OPSDESK_TEST_SNMPD") else {
        assert!(
            std::env::var("OPSDESK_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "OPSDESK_TEST_SNMPD is not set but OPSDESK_REQUIRE_SERVICES=1: run \
             .ci/setup.d/50-snmpd.sh with OPSDESK_CI_ENV and source the file it writes"
        );
        eprintln!("skipped: OPSDESK_TEST_SNMPD is not set (see .ci/setup.d/50-snmpd.sh)");
        return None;
    };
    Some(Snmpd {
        address,
        community: setting("OPSDESK_TEST_SNMPD_COMMUNITY"),
        write_community: setting("OPSDESK_TEST_SNMPD_WRITE_COMMUNITY"),
        v3_user: setting("OPSDESK_TEST_SNMPD_V3_USER"),
        v3_auth_password: setting("OPSDESK_TEST_SNMPD_V3_AUTH_PASSWORD"),
        v3_privacy_password: setting("OPSDESK_TEST_SNMPD_V3_PRIVACY_PASSWORD"),
        flip_index: setting("OPSDESK_TEST_SNMPD_FLIP_INDEX").parse().unwrap(),
    })
}

/// Both backends' tests share one daemon: one flips the interface at a time.
static FLIPPING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Sets the interface's ifOperStatus with the real `snmpset` (1 up, 2 down).
fn set_oper_status(snmpd: &Snmpd, status: u8) {
    let oid = format!("1.3.6.1.2.1.2.2.1.8.{}", snmpd.flip_index);
    let done = std::process::Command::new("snmpset")
        .args([
            "-v",
            "2c",
            "-c",
            &snmpd.write_community,
            &snmpd.address,
            &oid,
            "i",
            &status.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
}

/// Puts the interface back up however the test ends.
struct BackUp<'a>(&'a Snmpd);

impl Drop for BackUp<'_> {
    fn drop(&mut self) {
        set_oper_status(self.0, 1);
    }
}

async fn monitor_status(admin: &Client, monitor: i64) -> Value {
    admin.get(&format!("/api/v1/monitors/{monitor}")).await.body
}

dual_backend_test!(
    a_device_is_discovered_watched_and_its_traps_become_incidents,
    |backend: Backend| async move {
        let Some(snmpd) = snmpd() else { return };
        let server = TestServer::service_desk(backend).await;
        let admin = server.client(&server.token_for("root@msp.example").await);

        let added = admin
            .post(
                "/api/v1/network-devices",
                json!({"address": snmpd.address, "organization": "Acme", "interval_s": 1,
                       "snmp": {"version": "2c", "community": snmpd.community}}),
            )
            .await;
        assert_eq!(added.status, 201, "{}", added.text);
        assert_eq!(added.body["snmp_version"], "2c");
        assert!(
            !added.text.contains(&snmpd.community),
            "credentials are never shown"
        );
        let ci = added.body["ci"].as_i64().unwrap();
        let item = admin.get(&format!("/api/v1/cis/{ci}")).await;
        assert_eq!(item.body["class"], "network_device", "{}", item.text);
        let watched = added.body["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["index"] == snmpd.flip_index)
            .cloned()
            .unwrap_or_else(|| panic!("no interface {} in {}", snmpd.flip_index, added.text));
        let monitor = watched["monitor"].as_i64().unwrap();
        let kind = monitor_status(&admin, monitor).await;
        assert_eq!(kind["kind"], "snmp_interface", "{kind}");

        let v3 = admin
            .post(
                "/api/v1/network-devices",
                json!({"address": snmpd.address, "name": "snmpd over v3",
                       "snmp": {"version": "3", "user": snmpd.v3_user,
                                "auth_protocol": "sha1", "auth_password": snmpd.v3_auth_password,
                                "privacy_protocol": "aes128",
                                "privacy_password": snmpd.v3_privacy_password}}),
            )
            .await;
        assert_eq!(v3.status, 201, "{}", v3.text);
        assert_eq!(v3.body["snmp_version"], "3");
        let wrong = admin
            .post(
                "/api/v1/network-devices",
                json!({"address": snmpd.address,
                       "snmp": {"version": "2c", "community": "not-the-community"}}),
            )
            .await;
        assert_eq!(wrong.status, 422, "{}", wrong.text);
        assert!(wrong.text.contains("\"address\""), "{}", wrong.text);

        // Its traffic is measured from the second check on.
        let measured = eventually(WAIT, || async {
            let traffic = admin
                .get(&format!("/api/v1/monitors/{monitor}/traffic?hours=1"))
                .await;
            traffic.body.as_array().is_some_and(|s| !s.is_empty())
        })
        .await;
        assert!(measured, "no traffic was measured");

        {
            let _one_at_a_time = FLIPPING.lock().await;
            let up = eventually(WAIT, || async {
                monitor_status(&admin, monitor).await["status"] == "up"
            })
            .await;
            assert!(up, "{}", monitor_status(&admin, monitor).await);
            set_oper_status(&snmpd, 2);
            let _back_up = BackUp(&snmpd);
            let down = eventually(WAIT, || async {
                monitor_status(&admin, monitor).await["status"] == "down"
            })
            .await;
            let seen = monitor_status(&admin, monitor).await;
            assert!(down, "{seen}");
            assert!(seen.to_string().contains("oper status is down"), "{seen}");
            let outage = format!(
                "{} {} is down",
                added.body["name"].as_str().unwrap(),
                watched["name"].as_str().unwrap()
            );
            let opened = eventually(WAIT, || async {
                admin
                    .get("/api/v1/tickets?limit=100")
                    .await
                    .text
                    .contains(&outage)
            })
            .await;
            assert!(opened, "{}", admin.get("/api/v1/tickets").await.text);
        }
        let recovered = eventually(WAIT, || async {
            monitor_status(&admin, monitor).await["status"] == "up"
        })
        .await;
        assert!(recovered, "{}", monitor_status(&admin, monitor).await);

        // A trap from the device becomes an incident about its item.
        let integration = admin
            .post(
                "/api/v1/integrations",
                json!({"name": "SNMP traps", "kind": "generic", "requester": "carol@acme.example"}),
            )
            .await;
        assert_eq!(integration.status, 201, "{}", integration.text);
        let listener = opsdesk_network::TrapListener::bind("127.0.0.1:0", ["public"])
            .await
            .unwrap();
        let port = listener.local_addr().port();
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(opsdesk_monitor::receive_traps(
            server.app.clone(),
            listener,
            "SNMP traps".to_owned(),
            stopped,
        ));
        let sent = tokio::process::Command::new("snmptrap")
            .args([
                "-v",
                "2c",
                "-c",
                "public",
                &format!("127.0.0.1:{port}"),
                "",
                "1.3.6.1.6.3.1.1.5.3",
                &format!("1.3.6.1.2.1.2.2.1.1.{}", snmpd.flip_index),
                "i",
                &snmpd.flip_index.to_string(),
            ])
            .output()
            .await
            .unwrap();
        assert!(
            sent.status.success(),
            "{}",
            String::from_utf8_lossy(&sent.stderr)
        );
        let name = added.body["name"].as_str().unwrap().to_owned();
        let title = format!("{name} {}: link down", watched["name"].as_str().unwrap());
        let incident = std::sync::Mutex::new(None);
        let opened = eventually(WAIT, || async {
            let tickets = admin.get("/api/v1/tickets?limit=100").await.body["items"].clone();
            let found = tickets
                .as_array()
                .and_then(|list| list.iter().find(|t| t["title"] == title.as_str()))
                .map(|t| t["number"].as_str().unwrap().to_owned());
            let seen = found.is_some();
            *incident.lock().unwrap() = found;
            seen
        })
        .await;
        assert!(
            opened,
            "{title} not in {}",
            admin.get("/api/v1/tickets?limit=100").await.text
        );
        let number = incident.into_inner().unwrap().unwrap();
        let about = admin.get(&format!("/api/v1/tickets/{number}/cis")).await;
        assert_eq!(about.body[0]["ci"]["id"], ci, "{}", about.text);

        // The same from the web UI: the form adds a device; its interfaces link to their
        // monitors, whose page charts the traffic.
        let web = server.web_forms("root@msp.example").await;
        let (status, _, page) = web
            .post(
                "/cmdb/network-devices",
                &[
                    ("address", snmpd.address.as_str()),
                    ("version", "2c"),
                    ("community", "not-the-community"),
                ],
            )
            .await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("field-error"), "{page}");
        assert!(
            !page.contains("not-the-community"),
            "the community is not sent back"
        );
        let (status, path, page) = web
            .post(
                "/cmdb/network-devices",
                &[
                    ("address", snmpd.address.as_str()),
                    ("name", "core switch"),
                    ("version", "2c"),
                    ("community", snmpd.community.as_str()),
                    ("max_utilisation_pct", "80"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(path.starts_with("/cmdb/network-devices/"), "{path}");
        assert!(
            page.contains("core switch") && page.contains("status and traffic"),
            "{page}"
        );
        let listed = web.page("/cmdb/network-devices").await;
        assert!(listed.contains("core switch"), "{listed}");
        let chart = web.page(&format!("/monitors/{monitor}")).await;
        assert!(
            chart.contains("Traffic in, 24 h") && chart.contains("<svg"),
            "{chart}"
        );

        // Its limits are edited on the monitor's form; the device and index stay.
        let current = monitor_status(&admin, monitor).await;
        let version = current["version"].to_string();
        let edit = |limit: &'static str| {
            [
                ("name", current["name"].as_str().unwrap().to_owned()),
                ("target", current["target"].as_str().unwrap().to_owned()),
                ("interval_s", "1".to_owned()),
                ("timeout_s", "10".to_owned()),
                ("retries", "1".to_owned()),
                ("recover_after", "1".to_owned()),
                ("impact", "medium".to_owned()),
                ("urgency", "high".to_owned()),
                ("tags", "network".to_owned()),
                ("version", version.clone()),
                ("max_utilisation_pct", limit.to_owned()),
            ]
        };
        let fields = edit("150");
        let sent: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, page) = web.post(&format!("/monitors/{monitor}/edit"), &sent).await;
        assert_eq!(status, 422, "{page}");
        assert!(
            page.contains("max_utilisation_pct must be above 0"),
            "{page}"
        );
        let fields = edit("75");
        let sent: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, path, page) = web.post(&format!("/monitors/{monitor}/edit"), &sent).await;
        assert_eq!(
            (status, path.as_str()),
            (200, format!("/monitors/{monitor}").as_str()),
            "{page}"
        );
        let edited = monitor_status(&admin, monitor).await;
        let interface = &edited["settings"]["interface"];
        assert_eq!(
            interface["thresholds"]["max_utilisation_pct"], 75.0,
            "{edited}"
        );
        assert_eq!(interface["if_index"], snmpd.flip_index, "{edited}");
    }
);
