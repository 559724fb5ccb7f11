//! Importing and exporting configuration items: rows find their items by the class's
//! identifiers, so an import updates the machine an agent reported instead of recording it
//! twice, re-importing changes nothing, a dry run reports what the real run does, and an
//! export imports back unchanged — over the API, the pages and the command line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{
    Backend, Client, Reply, TestServer, agent_report, dual_backend_test, run_command_output,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_opsdesk");

/// A laptop new to the CMDB, and the server an agent reported (by its serial number) with
/// the hostname people use for it, which the agent's word outranks.
const ITEMS: &str = "class,name,organization,location,lifecycle,asset_tag,serial_number,hostname,macs,purchased_on,warranty_ends_on\n\
laptop,Ann's laptop,Acme,Office 2,in_stock,A-0001,PF-1,ann-lt,AA-BB-CC-00-00-01,2025-01-10,2028-01-10\n\
server,Database server,,Rack 4,,,SRV-77,db-primary,,,\n";

async fn import(who: &Client, body: &str, media_type: &str, dry_run: bool) -> Reply {
    let request = who
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/cis/import?dry_run={dry_run}"),
        )
        .header("content-type", media_type)
        .body(body.to_owned());
    who.send(request).await
}

/// What each row of a report says, without the ids a dry run cannot know.
fn outcomes(report: &Value) -> Vec<(String, Vec<String>, Vec<String>)> {
    let strings = |list: &Value, key: Option<&str>| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|v| match key {
                Some(key) => v[key].as_str().unwrap().to_owned(),
                None => v.as_str().unwrap().to_owned(),
            })
            .collect()
    };
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["outcome"].as_str().unwrap().to_owned(),
                strings(&row["changes"], None),
                strings(&row["errors"], Some("field")),
            )
        })
        .collect()
}

/// A server with an agent that reported serial SRV-77 for its machine; returns the item.
async fn agent_reported(server: &TestServer) -> i64 {
    let (ci, agent) = server.enrolled_agent("Acme", "db1").await;
    let hardware = json!({"vendor": "Dell Inc.", "model": "R650", "serial_number": "SRV-77",
        "cpu_model": "Xeon", "cpu_cores": 16, "memory_bytes": 1024, "disks": [], "nics": []});
    let taken = agent
        .post(
            "/api/v1/agents/report",
            agent_report("db1", &[("hardware", hardware)]),
        )
        .await;
    assert_eq!(taken.status, 200, "{}", taken.text);
    ci
}

async fn count(admin: &Client) -> usize {
    admin
        .get("/api/v1/cis?limit=500")
        .await
        .body
        .as_array()
        .unwrap()
        .len()
}

dual_backend_test!(
    an_import_finds_items_by_their_identifiers,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let server_ci = agent_reported(&server).await;
        let before = count(&admin).await;

        // A dry run reports what the import will do and writes nothing.
        let dry = import(&admin, ITEMS, "text/csv", true).await;
        assert_eq!(dry.status, 200, "{}", dry.text);
        assert_eq!(dry.body["dry_run"], true);
        assert_eq!(
            (dry.body["created"].as_u64(), dry.body["updated"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(count(&admin).await, before, "a dry run creates nothing");
        let untouched = admin.get(&format!("/api/v1/cis/{server_ci}")).await;
        assert_eq!(untouched.body["location"], "", "a dry run changes nothing");

        let real = import(&admin, ITEMS, "text/csv; charset=utf-8", false).await;
        assert_eq!(real.status, 200, "{}", real.text);
        assert_eq!(outcomes(&dry.body), outcomes(&real.body));
        assert_eq!(
            outcomes(&real.body),
            [
                ("created".to_owned(), vec![], vec![]),
                (
                    "updated".to_owned(),
                    vec!["name".to_owned(), "location".to_owned()],
                    vec![]
                ),
            ]
        );
        assert_eq!(
            count(&admin).await,
            before + 1,
            "the server was not recorded twice"
        );
        // The row found the agent's machine by its serial: it takes the location, but the
        // agent's hostname stands.
        assert_eq!(real.body["rows"][1]["ci"], server_ci);
        let machine = admin.get(&format!("/api/v1/cis/{server_ci}")).await;
        assert_eq!(machine.body["location"], "Rack 4");
        assert_eq!(machine.body["hostname"], "db1");
        assert_eq!(machine.body["name"], "Database server");
        let history = admin.get(&format!("/api/v1/cis/{server_ci}/history")).await;
        assert!(
            history
                .body
                .as_array()
                .unwrap()
                .iter()
                .any(|line| line["actor"] == "import"
                    && line["field"] == "location"
                    && line["after"] == "Rack 4"),
            "{}",
            history.text
        );
        let laptop = real.body["rows"][0]["ci"].as_i64().unwrap();
        let laptop = admin.get(&format!("/api/v1/cis/{laptop}")).await;
        assert_eq!(laptop.body["organization"], "Acme");
        assert_eq!(laptop.body["macs"], json!(["aa:bb:cc:00:00:01"]));

        // The same file again changes nothing.
        let again = import(&admin, ITEMS, "text/csv", false).await;
        assert_eq!(again.body["unchanged"], 2, "{}", again.text);

        // A row's mistakes are named by row and column; the other rows go in.
        let mistaken = "class,name,purchased_on,serial_number\n\
            laptop,Fine,,PF-9\nlaptop,Bad date,soon,PF-10\ntoaster,Odd,,\n";
        let report = import(&admin, mistaken, "text/csv", false).await;
        assert_eq!(report.status, 200, "{}", report.text);
        assert_eq!(
            outcomes(&report.body),
            [
                ("created".to_owned(), vec![], vec![]),
                (
                    "error".to_owned(),
                    vec![],
                    vec!["rows[1].purchased_on".to_owned()]
                ),
                ("error".to_owned(), vec![], vec!["rows[2].class".to_owned()]),
            ]
        );

        // A header with a column import does not know refuses the whole file.
        let refused = import(
            &admin,
            "class,name,colour\nlaptop,x,red\n",
            "text/csv",
            false,
        )
        .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(refused.body["errors"][0]["field"], "header.colour");
        // So is a JSON item with an attribute items do not have.
        let odd = import(
            &admin,
            r#"[{"class": "laptop", "name": "x"}, {"class": "laptop", "name": "y", "colour": "red"}]"#,
            "application/json",
            true,
        )
        .await;
        assert_eq!(odd.status, 422, "{}", odd.text);
        assert_eq!(odd.body["errors"][0]["field"], "rows[1]");
        assert_eq!(
            refused.header("content-type"),
            Some("application/problem+json")
        );

        // A row that two items claim is refused, not guessed: PF-1 is the laptop's serial
        // and SRV-77 the server's.
        let both = "class,name,serial_number,hostname\nlaptop,Which,PF-1,db1\n";
        let report = import(&admin, both, "text/csv", false).await;
        assert_eq!(
            report.body["rows"][0]["outcome"], "error",
            "{}",
            report.text
        );
        assert_eq!(report.body["rows"][0]["errors"][0]["field"], "rows[0]");

        // An export imports back unchanged, as CSV and as JSON.
        let csv = admin.get("/api/v1/cis/export?format=csv").await;
        assert_eq!(csv.status, 200, "{}", csv.text);
        assert_eq!(csv.header("content-type"), Some("text/csv"));
        assert!(
            csv.header("content-disposition")
                .is_some_and(|d| d.starts_with("attachment")),
        );
        assert!(csv.text.starts_with("class,name,organization,owner,location,lifecycle,asset_tag,serial_number,smbios_uuid,hostname,macs,needed,purchased_on,purchase_cost,warranty_ends_on"), "{}", csv.text);
        let total = count(&admin).await;
        let back = import(&admin, &csv.text, "text/csv", false).await;
        assert_eq!(
            back.body["unchanged"].as_u64(),
            Some(total as u64),
            "{}",
            back.text
        );
        let json = admin
            .get("/api/v1/cis/export?format=json&q=class:laptop")
            .await;
        assert_eq!(json.status, 200, "{}", json.text);
        let laptops = json.body.as_array().unwrap().len();
        assert!(laptops >= 2, "{}", json.text);
        let back = import(&admin, &json.text, "application/json", false).await;
        assert_eq!(
            back.body["unchanged"].as_u64(),
            Some(laptops as u64),
            "{}",
            back.text
        );
        assert_eq!(count(&admin).await, total);

        // Customers neither import nor export.
        let carol = server.client(&server.token_for("carol@acme.example").await);
        assert_eq!(import(&carol, ITEMS, "text/csv", true).await.status, 403);
        assert_eq!(carol.get("/api/v1/cis/export").await.status, 403);

        // The pages: a dry run from the upload form shows the report and writes nothing.
        let web = server.web_forms("ann@msp.example").await;
        let page = web.page("/cmdb/transfer?q=class:laptop").await;
        assert!(
            page.contains("/cmdb/export?format=csv&amp;q=class%3Alaptop"),
            "{page}"
        );
        let file = "class,name,serial_number\nprinter,Hall printer,PR-1\n";
        let form = reqwest::multipart::Form::new()
            .text("csrf_token", web.csrf.clone())
            .text("dry_run", "on")
            .part(
                "file",
                reqwest::multipart::Part::bytes(file.as_bytes().to_vec()).file_name("items.csv"),
            );
        let sent = web
            .client
            .post(format!("{}/cmdb/transfer", server.url))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 200);
        let page = sent.text().await.unwrap();
        assert!(page.contains(r#"data-outcome="created""#), "{page}");
        assert!(page.contains("Hall printer"), "{page}");
        assert_eq!(count(&admin).await, total);
    }
);

dual_backend_test!(
    the_command_line_imports_and_exports,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let before = count(&server.admin()).await;
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("items.csv");
        std::fs::write(&file, ITEMS).unwrap();
        let database = server.db.cli_args();
        let run = |extra: Vec<String>| {
            let mut args = extra;
            args.extend(database.clone());
            async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run_command_output(BIN, &args, None).await
            }
        };
        let path = file.display().to_string();
        let dry = run(vec![
            "import".into(),
            "cis".into(),
            path.clone(),
            "--dry-run".into(),
        ])
        .await;
        let stdout = String::from_utf8_lossy(&dry.stdout);
        assert!(
            dry.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&dry.stderr)
        );
        assert!(
            stdout.contains("2 would be created, 0 would be updated"),
            "{stdout}"
        );
        assert!(stdout.contains("dry run: nothing was written"), "{stdout}");
        assert_eq!(count(&server.admin()).await, before);

        let real = run(vec!["import".into(), "cis".into(), path]).await;
        let stdout = String::from_utf8_lossy(&real.stdout);
        assert!(
            real.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&real.stderr)
        );
        assert!(stdout.contains("2 were created"), "{stdout}");
        assert_eq!(count(&server.admin()).await, before + 2);

        let exported = folder.path().join("export.json");
        let out = exported.display().to_string();
        let export = run(vec![
            "export".into(),
            "cis".into(),
            "--q".into(),
            "class:laptop".into(),
            "--output".into(),
            out,
        ])
        .await;
        assert!(
            export.status.success(),
            "{}",
            String::from_utf8_lossy(&export.stderr)
        );
        let items: Value = serde_json::from_slice(&std::fs::read(&exported).unwrap()).unwrap();
        assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
        assert_eq!(items[0]["serial_number"], "PF-1");
    }
);
