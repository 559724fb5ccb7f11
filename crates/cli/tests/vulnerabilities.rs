//! Vulnerabilities and patch compliance: `opsdesk vuln import` reads an offline OSV feed,
//! a machine reporting an affected openssl gets a finding with the fixed version, the
//! search finds it with `vulnerable:`, the compliance report counts it, a critical finding
//! opens one incident linked to the machine (and a re-import opens none), and upgrading
//! the package clears it; the feed is read as OSV serves it, a zip archive, too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{
    Backend, TestServer, agent_report, dual_backend_test, package, run_command_output,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_opsdesk");

fn feed() -> String {
    format!("{}/tests/fixtures/osv", env!("CARGO_MANIFEST_DIR"))
}

async fn vuln_import(server: &TestServer, flags: &[&str]) -> (bool, String) {
    vuln_import_from(server, &feed(), flags).await
}

async fn vuln_import_from(server: &TestServer, feed: &str, flags: &[&str]) -> (bool, String) {
    let mut args = vec!["vuln", "import", feed];
    args.extend(flags);
    let database = server.db.cli_args();
    args.extend(database.iter().map(String::as_str));
    let output = run_command_output(BIN, &args, None).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_owned())
        .collect()
}

dual_backend_test!(
    an_osv_feed_finds_the_vulnerable_openssl_opens_one_incident_and_the_upgrade_clears_it,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let (ci, agent) = server.enrolled_agent("Acme", "db1").await;
        let first = agent_report(
            "db1",
            &[
                (
                    "packages",
                    json!([
                        package("curl", "7.88.1-10+deb12u5"),
                        package("openssl", "3.0.11-1~deb12u2"),
                        package("zlib1g", "1:1.2.13.dfsg-1")
                    ]),
                ),
                (
                    "updates",
                    json!([{"name": "openssl", "current": "3.0.11-1~deb12u2",
                        "candidate": "3.0.13-1~deb12u1", "security": true}]),
                ),
            ],
        );
        let taken = agent.post("/api/v1/agents/report", first).await;
        assert_eq!(taken.status, 200, "{}", taken.text);

        // Bad flags are refused with a clear message, before anything is written.
        let (ok, text) = vuln_import(
            &server,
            &["--open-incidents", "dire", "--requester", "ann@msp.example"],
        )
        .await;
        assert!(!ok && text.contains("--open-incidents"), "{text}");
        let (ok, text) = vuln_import(
            &server,
            &[
                "--open-incidents",
                "critical",
                "--requester",
                "nobody@example.com",
            ],
        )
        .await;
        assert!(!ok && text.contains("requester"), "{text}");

        let (ok, text) = vuln_import(
            &server,
            &[
                "--open-incidents",
                "critical",
                "--requester",
                "ann@msp.example",
            ],
        )
        .await;
        assert!(ok, "{text}");
        assert!(
            text.contains(
                "3 advisories read (1 withdrawn left out): 2 new, 0 updated, 0 unchanged, 1 about packages no machine here has"
            ),
            "{text}"
        );
        assert!(text.contains("findings: 2 on 1 of 1 machines"), "{text}");
        assert!(text.contains("incidents opened: 1"), "{text}");

        let findings = admin
            .get(&format!("/api/v1/cis/{ci}/vulnerabilities"))
            .await;
        assert_eq!(findings.status, 200, "{}", findings.text);
        let list = findings.body.as_array().unwrap();
        assert_eq!(list.len(), 2, "{}", findings.text);
        assert_eq!(list[0]["advisory"], "DSA-5621-1");
        assert_eq!(list[0]["aliases"], json!(["CVE-2024-0727"]));
        assert_eq!(list[0]["severity"], "critical", "CVSS 9.8");
        assert_eq!(list[0]["package"], "openssl");
        assert_eq!(list[0]["version"], "3.0.11-1~deb12u2");
        assert_eq!(list[0]["fixed"], "3.0.13-1~deb12u1");
        let incident = list[0]["incident"].as_str().unwrap().to_owned();
        assert_eq!(list[1]["advisory"], "DLA-3800-1");
        assert_eq!(list[1]["severity"], "medium", "Debian's urgency");
        assert!(
            list[1]["incident"].is_null(),
            "only critical findings open one"
        );

        // The incident is an ordinary one, about the machine.
        let ticket = admin.get(&format!("/api/v1/tickets/{incident}")).await;
        assert_eq!(ticket.status, 200, "{}", ticket.text);
        assert!(
            ticket.body["title"]
                .as_str()
                .unwrap()
                .contains("CVE-2024-0727"),
            "{}",
            ticket.text
        );
        let about = admin.get(&format!("/api/v1/tickets/{incident}/cis")).await;
        assert_eq!(about.body[0]["ci"]["id"], ci, "{}", about.text);

        // One query: which machines have a vulnerable openssl?
        for (q, expected) in [
            ("package:openssl%20vulnerable:any", vec!["db1"]),
            ("vulnerable:cve-2024-0727", vec!["db1"]),
            ("vulnerable:DSA-5621-1", vec!["db1"]),
            ("vulnerable:critical", vec!["db1"]),
            ("package:zlib1g%20vulnerable:any", vec![]),
            ("vulnerable:CVE-2000-0001", vec![]),
        ] {
            let found = admin.get(&format!("/api/v1/cis?q={q}")).await;
            assert_eq!(found.status, 200, "{q}: {}", found.text);
            assert_eq!(names(&found.body), expected, "{q}");
        }
        let bad = admin.get("/api/v1/cis?q=vulnerable:yes").await;
        assert_eq!(bad.status, 422, "{}", bad.text);
        assert_eq!(bad.body["errors"][0]["field"], "q");

        let advisories = admin
            .get("/api/v1/vulnerabilities?severity=medium&affecting=true")
            .await;
        assert_eq!(advisories.status, 200, "{}", advisories.text);
        let ids: Vec<&str> = advisories
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["DSA-5621-1", "DLA-3800-1"], "{}", advisories.text);
        assert_eq!(advisories.body[0]["affected_hosts"], 1);

        // A patch campaign is a change whose affected items are the vulnerable machines.
        let campaign = admin
            .post(
                "/api/v1/patch-campaigns",
                json!({"advisory": "CVE-2024-0727", "planned_start": "2030-01-05T02:00:00Z",
                       "planned_end": "2030-01-05T04:00:00Z"}),
            )
            .await;
        assert_eq!(campaign.status, 201, "{}", campaign.text);
        assert_eq!(campaign.body["title"], "Patch campaign: CVE-2024-0727");
        let hosts: Vec<&str> = campaign.body["cis"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(hosts, ["db1"], "{}", campaign.text);
        let nothing = admin
            .post(
                "/api/v1/patch-campaigns",
                json!({"advisory": "CVE-2000-0001"}),
            )
            .await;
        assert_eq!(nothing.status, 422, "{}", nothing.text);
        assert_eq!(nothing.body["errors"][0]["field"], "advisory");
        let django = admin.get("/api/v1/vulnerabilities?q=django").await;
        assert_eq!(
            django.body,
            json!([]),
            "no machine has django: {}",
            django.text
        );
        let bad = admin.get("/api/v1/vulnerabilities?severity=dire").await;
        assert_eq!(bad.status, 422, "{}", bad.text);
        assert_eq!(bad.body["errors"][0]["field"], "severity");

        let compliance = admin.get("/api/v1/compliance").await;
        assert_eq!(compliance.status, 200, "{}", compliance.text);
        let acme = &compliance.body["organizations"][0];
        assert_eq!(acme["organization"], "Acme", "{}", compliance.text);
        assert_eq!(acme["hosts"], 1);
        assert_eq!(
            acme["security_updates"],
            json!({"under_7_days": 1, "days_7_to_30": 0, "over_30_days": 0})
        );
        assert_eq!(
            acme["findings"],
            json!({"critical": 1, "high": 0, "medium": 1, "low": 0, "unknown": 0})
        );
        assert_eq!(compliance.body["hosts"][0]["ci"]["name"], "db1");
        // An agent limited to Globex sees none of Acme's machines; customers see nothing.
        let organizations = admin.get("/api/v1/organizations").await;
        let globex = organizations.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "Globex")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let gus = server.client(
            &server
                .user("gina@msp.example", "agent", None, &[globex])
                .await,
        );
        let theirs = gus.get("/api/v1/compliance").await;
        assert_eq!(
            theirs.body,
            json!({"organizations": [], "hosts": []}),
            "{}",
            theirs.text
        );
        let gus_counts = gus.get("/api/v1/vulnerabilities?affecting=true").await;
        assert_eq!(gus_counts.body, json!([]), "{}", gus_counts.text);
        let carol = server.client(&server.token_for("carol@acme.example").await);
        assert_eq!(carol.get("/api/v1/compliance").await.status, 403);

        // The pages show it.
        let (ann, _) = server.web_session("ann@msp.example").await;
        let page = ann
            .get(format!("{}/cmdb/compliance", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        let page = page.text().await.unwrap();
        assert!(page.contains("db1"), "{page}");
        assert!(page.contains("CVE-2024-0727"), "{page}");
        let item = ann
            .get(format!("{}/cmdb/{ci}", server.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(item.contains("Vulnerabilities"), "{item}");
        assert!(item.contains("3.0.13-1~deb12u1"), "{item}");
        assert!(item.contains(&incident), "{item}");

        // Importing the same feed again changes nothing and opens no second incident.
        let (ok, text) = vuln_import(
            &server,
            &[
                "--open-incidents",
                "critical",
                "--requester",
                "ann@msp.example",
            ],
        )
        .await;
        assert!(ok, "{text}");
        assert!(text.contains("0 new, 0 updated, 2 unchanged"), "{text}");
        assert!(text.contains("incidents opened: none"), "{text}");

        // The upgrade clears the openssl finding; curl's stays.
        let upgraded = agent_report(
            "db1",
            &[
                (
                    "packages",
                    json!([
                        package("curl", "7.88.1-10+deb12u5"),
                        package("openssl", "3.0.13-1~deb12u1"),
                        package("zlib1g", "1:1.2.13.dfsg-1")
                    ]),
                ),
                ("updates", json!([])),
            ],
        );
        let taken = agent.post("/api/v1/agents/report", upgraded).await;
        assert_eq!(taken.status, 200, "{}", taken.text);
        let findings = admin
            .get(&format!("/api/v1/cis/{ci}/vulnerabilities"))
            .await;
        let advisories: Vec<&str> = findings
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["advisory"].as_str().unwrap())
            .collect();
        assert_eq!(advisories, ["DLA-3800-1"], "{}", findings.text);
        assert_eq!(
            admin
                .get("/api/v1/cis?q=package:openssl%20vulnerable:any")
                .await
                .body,
            json!([])
        );
        let compliance = admin.get("/api/v1/compliance").await;
        assert_eq!(
            compliance.body["organizations"][0]["findings"]["critical"], 0,
            "{}",
            compliance.text
        );
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_is_read_from_its_zip_archive_as_osv_serves_it() {
    let server = TestServer::service_desk(Backend::Sqlite).await;
    let (_, agent) = server.enrolled_agent("Acme", "db1").await;
    let report = agent_report(
        "db1",
        &[("packages", json!([package("openssl", "3.0.11-1~deb12u2")]))],
    );
    assert_eq!(
        agent.post("/api/v1/agents/report", report).await.status,
        200
    );
    // The fixture folder's records, zipped into an `all.zip` with a folder inside, as
    // archives often hold, and a file that is no record.
    let folder = tempfile::tempdir().unwrap();
    let archive = folder.path().join("all.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&archive).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    for entry in std::fs::read_dir(feed()).unwrap() {
        let path = entry.unwrap().path();
        let name = format!("osv/{}", path.file_name().unwrap().to_str().unwrap());
        zip.start_file(name, options).unwrap();
        std::io::Write::write_all(&mut zip, &std::fs::read(&path).unwrap()).unwrap();
    }
    zip.start_file("README.txt", options).unwrap();
    std::io::Write::write_all(&mut zip, b"not a record").unwrap();
    zip.finish().unwrap();

    let (ok, text) = vuln_import_from(&server, archive.to_str().unwrap(), &[]).await;
    assert!(ok, "{text}");
    assert!(
        text.contains("3 advisories read (1 withdrawn left out): 2 new"),
        "{text}"
    );
    assert!(text.contains("findings: 1 on 1 of 1 machines"), "{text}");

    // A file that only looks like an archive is refused with a message naming it.
    let broken = folder.path().join("broken.zip");
    std::fs::write(&broken, b"PK\x03\x04 and then nothing").unwrap();
    let (ok, text) = vuln_import_from(&server, broken.to_str().unwrap(), &[]).await;
    assert!(!ok, "{text}");
    assert!(text.contains("broken.zip"), "{text}");
}
