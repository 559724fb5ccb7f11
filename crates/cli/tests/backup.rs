//! Backups of a desk that is serving: taken under write load, checked by `backup verify`,
//! restored into SQLite and PostgreSQL with every acknowledged write and every table as the
//! manifest recorded it; damage is caught and an occupied destination is not overwritten.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opsdesk_app::{Clock, SystemClock};
use opsdesk_store::log_shipping;
use opsdesk_testkit::{
    Backend, Client, ServerProcess, TestDb, dual_backend_test, eventually, page_text, postgres_url,
    run_command, run_command_output, signed_in_client,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_opsdesk");
const PASSWORD: &str = "correct horse battery staple\n";

fn cli_admin(db: &TestDb) -> String {
    cli_user(db, "admin@example.com", "admin")
}

/// Adds a person with `role` through the command line; their API token.
fn cli_user(db: &TestDb, email: &str, role: &str) -> String {
    let database = db.cli_args();
    let database: Vec<&str> = database.iter().map(String::as_str).collect();
    let mut add = vec![
        "user",
        "add",
        "--email",
        email,
        "--name",
        role,
        "--role",
        role,
        "--password-stdin",
    ];
    add.extend(&database);
    run_command(BIN, &add, Some(PASSWORD));
    let mut create = vec!["token", "create", "--email", email];
    create.extend(&database);
    run_command(BIN, &create, None).trim().to_owned()
}

fn client(url: &str, token: &str) -> Client {
    Client {
        base: url.to_owned(),
        token: Some(token.to_owned()),
        http: reqwest::Client::new(),
    }
}

/// Runs `opsdesk` with `args` and then `database`'s flags.
async fn opsdesk(args: &[&str], database: &[String]) -> std::process::Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(database.iter().map(String::as_str));
    run_command_output(BIN, &all, None).await
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every ticket number the desk at `url` lists.
async fn ticket_numbers(admin: &Client) -> BTreeSet<String> {
    let mut numbers = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/tickets?limit=500&cursor={cursor}"),
            None => "/api/v1/tickets?limit=500".to_owned(),
        };
        let page = admin.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.text);
        for ticket in page.body["items"].as_array().unwrap() {
            numbers.insert(ticket["number"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return numbers,
        }
    }
}

/// Attaches the file [`assert_restored`] looks for to INC-1.
async fn attach_driver(admin: &Client, token: &str) {
    let upload = admin
        .http
        .post(format!(
            "{}/api/v1/tickets/INC-1/attachments?filename=driver.zip",
            admin.base
        ))
        .bearer_auth(token)
        .header("content-type", "application/zip")
        .body(b"PK driver for the scanner".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
}

/// What a restored desk must hold: every ticket acknowledged before the backup began, the
/// attachment byte for byte, an intact audit log, and room for the next ticket.
async fn assert_restored(restored: &TestDb, token: &str, before: &BTreeSet<String>) {
    let server = ServerProcess::start(BIN, &restored.cli_args()).await;
    let admin = client(&server.url, token);
    let numbers = ticket_numbers(&admin).await;
    let lost: Vec<&String> = before.difference(&numbers).collect();
    assert!(lost.is_empty(), "acknowledged tickets lost: {lost:?}");
    let file = admin.get("/api/v1/tickets/INC-1/attachments").await;
    assert_eq!(file.status, 200, "{}", file.text);
    let id = file.body[0]["id"].as_i64().unwrap();
    assert_eq!(
        attachment_bytes(&admin, token, id).await,
        Ok(b"PK driver for the scanner".to_vec())
    );
    // Numbers go on after the restored ones rather than colliding with them.
    let next = admin
        .post(
            "/api/v1/tickets",
            json!({"type": "incident", "title": "After the restore", "impact": "low", "urgency": "low"}),
        )
        .await;
    assert_eq!(next.status, 201, "{}", next.text);
    let number: u64 = next.body["number"].as_str().unwrap()[4..].parse().unwrap();
    let highest = numbers
        .iter()
        .map(|n| n[4..].parse::<u64>().unwrap())
        .max()
        .unwrap();
    assert!(number > highest, "INC-{number} after INC-{highest}");
    drop(server);
    let audit = opsdesk(&["audit", "verify"], &restored.cli_args()).await;
    assert!(audit.status.success(), "{}", text(&audit));
}

dual_backend_test!(
    a_backup_taken_under_write_load_restores_every_acknowledged_write,
    |backend: Backend| async move {
        let db = TestDb::new(backend).await;
        let token = cli_admin(&db);
        let server = ServerProcess::start(BIN, &db.cli_args()).await;
        let admin = client(&server.url, &token);
        let first = admin
            .post(
                "/api/v1/tickets",
                json!({"type": "incident", "title": "Scanner offline", "impact": "low", "urgency": "low"}),
            )
            .await;
        assert_eq!(first.status, 201, "{}", first.text);
        attach_driver(&admin, &token).await;

        // Four clients create tickets without pause; a ticket acknowledged before the backup
        // starts must be in it, whatever is written while it runs.
        let started = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let before = Arc::new(Mutex::new(BTreeSet::<String>::new()));
        let during = Arc::new(Mutex::new(0_usize));
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let admin = client(&server.url, &token);
                let (started, stop, before, during) = (
                    started.clone(),
                    stop.clone(),
                    before.clone(),
                    during.clone(),
                );
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        n += 1;
                        let created = admin
                            .post(
                                "/api/v1/tickets",
                                json!({"type": "incident", "title": format!("Load {writer}-{n}"),
                                       "description": "written while the backup runs",
                                       "impact": "low", "urgency": "medium"}),
                            )
                            .await;
                        assert_eq!(created.status, 201, "{}", created.text);
                        if started.load(Ordering::SeqCst) {
                            *during.lock().unwrap() += 1;
                        } else {
                            before
                                .lock()
                                .unwrap()
                                .insert(created.body["number"].as_str().unwrap().to_owned());
                        }
                    }
                })
            })
            .collect();
        let enough = eventually(Duration::from_secs(60), || async {
            before.lock().unwrap().len() >= 200
        })
        .await;
        assert!(enough, "too few tickets were written");

        let sets = tempfile::tempdir().unwrap();
        let set = sets.path().join("set");
        let set_arg = set.display().to_string();
        started.store(true, Ordering::SeqCst);
        let backup = opsdesk(&["backup", "--to", &set_arg], &db.cli_args()).await;
        // Writes go on while the backup runs: it blocks no writer.
        let more = eventually(Duration::from_secs(30), || async {
            *during.lock().unwrap() >= 20
        })
        .await;
        stop.store(true, Ordering::SeqCst);
        for writer in writers {
            writer.await.unwrap();
        }
        assert!(backup.status.success(), "{}", text(&backup));
        assert!(more, "no ticket was acknowledged while the backup ran");
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["attachments"]["files"], 1);
        assert!(manifest["tables"]["tickets"]["rows"].as_u64().unwrap() > 200);

        let verified = opsdesk(&["backup", "verify", &set_arg], &db.cli_args()).await;
        assert!(verified.status.success(), "{}", text(&verified));
        assert!(
            text(&verified).contains("is sound") && text(&verified).contains("audit log intact"),
            "{}",
            text(&verified)
        );
        let before = before.lock().unwrap().clone();

        // Into the backend it came from.
        let restored = TestDb::new(backend).await;
        let restore = opsdesk(&["restore", &set_arg], &restored.cli_args()).await;
        assert!(restore.status.success(), "{}", text(&restore));
        assert_restored(&restored, &token, &before).await;

        // And from SQLite into PostgreSQL, to move a growing desk.
        if backend == Backend::Sqlite && postgres_url().is_some() {
            let moved = TestDb::new(Backend::Postgres).await;
            let restore = opsdesk(&["restore", &set_arg], &moved.cli_args()).await;
            assert!(restore.status.success(), "{}", text(&restore));
            assert_restored(&moved, &token, &before).await;
        }
    }
);

/// Rewrites the manifest's record of the database file after the file was changed, as
/// someone covering their tracks would; the table digests must still give it away.
fn rehash(set: &Path) {
    use sha2::{Digest, Sha256};
    let manifest_path = set.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let file = std::fs::read(set.join("opsdesk.db")).unwrap();
    manifest["file"]["sha256"] = json!(hex::encode(Sha256::digest(&file)));
    manifest["file"]["bytes"] = json!(file.len());
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_backup_fails_its_check_and_a_restore_never_overwrites_unasked() {
    let db = TestDb::new(Backend::Sqlite).await;
    cli_admin(&db);
    let sets = tempfile::tempdir().unwrap();
    let set = sets.path().join("set");
    let set_arg = set.display().to_string();
    let backup = opsdesk(&["backup", "--to", &set_arg], &db.cli_args()).await;
    assert!(backup.status.success(), "{}", text(&backup));

    let again = opsdesk(&["backup", "--to", &set_arg], &db.cli_args()).await;
    assert!(!again.status.success());
    assert!(text(&again).contains("is not empty"), "{}", text(&again));

    let occupied = opsdesk(&["restore", &set_arg], &db.cli_args()).await;
    assert!(!occupied.status.success());
    assert!(text(&occupied).contains("--force"), "{}", text(&occupied));
    let forced = opsdesk(&["restore", &set_arg, "--force"], &db.cli_args()).await;
    assert!(forced.status.success(), "{}", text(&forced));

    // A row removed, with the file's hash in the manifest brought up to date.
    {
        use sqlx::Connection;
        let url = format!("sqlite://{}?mode=rw", set.join("opsdesk.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("DELETE FROM api_tokens")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let tampered = opsdesk(&["backup", "verify", &set_arg], &[]).await;
    assert!(!tampered.status.success());
    assert!(
        text(&tampered).contains("does not match the manifest"),
        "{}",
        text(&tampered)
    );
    rehash(&set);
    let covered = opsdesk(&["backup", "verify", &set_arg], &[]).await;
    assert!(!covered.status.success());
    assert!(
        text(&covered).contains("table api_tokens differs"),
        "{}",
        text(&covered)
    );
    let elsewhere = sets.path().join("elsewhere");
    let refused = opsdesk(
        &["restore", &set_arg, "--data-dir"],
        &[elsewhere.display().to_string()],
    )
    .await;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("table api_tokens differs"),
        "{}",
        text(&refused)
    );
    assert!(
        !elsewhere.join("opsdesk.db").exists(),
        "a damaged backup was restored"
    );

    let incomplete = sets.path().join("incomplete");
    std::fs::create_dir(&incomplete).unwrap();
    let missing = opsdesk(
        &["backup", "verify", &incomplete.display().to_string()],
        &[],
    )
    .await;
    assert!(!missing.status.success());
    assert!(text(&missing).contains("no manifest"), "{}", text(&missing));
}

/// Creates `count` tickets one after another (each its own commit, so the log grows), and
/// returns their numbers.
async fn create_tickets(admin: &Client, label: &str, count: usize) -> BTreeSet<String> {
    let mut numbers = BTreeSet::new();
    for n in 0..count {
        let created = admin
            .post(
                "/api/v1/tickets",
                json!({"type": "incident", "title": format!("{label} {n}"),
                       "description": "written while the log is copied",
                       "impact": "low", "urgency": "medium"}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        numbers.insert(created.body["number"].as_str().unwrap().to_owned());
    }
    numbers
}

/// Waits until the log beside the newest set in `backups` holds every transaction
/// committed before now.
async fn wait_for_the_log(backups: &Path) -> log_shipping::Coverage {
    let asked = SystemClock.now().as_millisecond();
    let mut covered = None;
    let caught_up = eventually(Duration::from_secs(30), || {
        let coverage = newest_set(backups)
            .and_then(|set| log_shipping::coverage(&set.join("wal")).ok())
            .filter(|coverage| coverage.complete_ms > asked);
        covered = coverage;
        async move { coverage.is_some() }
    })
    .await;
    assert!(caught_up, "the log was not copied within 30 s");
    covered.unwrap()
}

fn newest_set(backups: &Path) -> Option<std::path::PathBuf> {
    let mut sets: Vec<_> = std::fs::read_dir(backups)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("manifest.json").exists())
        .collect();
    sets.sort();
    sets.pop()
}

async fn ticket_title(admin: &Client, number: &str) -> String {
    let ticket = admin.get(&format!("/api/v1/tickets/{number}")).await;
    assert_eq!(ticket.status, 200, "{}", ticket.text);
    ticket.body["title"].as_str().unwrap().to_owned()
}

/// Restores `from` (with `extra` arguments such as `--at`) into a new desk on `backend`,
/// and returns its ticket numbers and INC-1's title, checked as [`assert_restored`] does.
async fn restore_into(
    backend: Backend,
    from: &str,
    extra: &[&str],
    token: &str,
    expected: &BTreeSet<String>,
) -> (String, String) {
    let restored = TestDb::new(backend).await;
    let mut args = vec!["restore", from];
    args.extend(extra);
    let restore = opsdesk(&args, &restored.cli_args()).await;
    assert!(restore.status.success(), "{}", text(&restore));
    let server = ServerProcess::start(BIN, &restored.cli_args()).await;
    let admin = client(&server.url, token);
    assert_eq!(&ticket_numbers(&admin).await, expected);
    let title = ticket_title(&admin, "INC-1").await;
    drop(server);
    assert_restored(&restored, token, expected).await;
    (text(&restore), title)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_copied_beside_a_backup_takes_the_desk_back_to_any_moment() {
    let db = TestDb::new(Backend::Sqlite).await;
    let token = cli_admin(&db);
    let backups = tempfile::tempdir().unwrap();
    let backups_arg = backups.path().display().to_string();
    let mut server = ServerProcess::start_with_env(
        BIN,
        &db.cli_args(),
        &[("OPSDESK_BACKUP__DIR", &backups_arg)],
    )
    .await;
    let admin = client(&server.url, &token);
    let mut before = create_tickets(&admin, "Before", 1).await;
    attach_driver(&admin, &token).await;
    before.extend(create_tickets(&admin, "Before", 199).await);
    wait_for_the_log(backups.path()).await;
    // The moment to go back to: after every "before" write was acknowledged and copied,
    // before any "after" write began.
    let moment = SystemClock.now();

    let after = create_tickets(&admin, "After", 200).await;
    let renamed = admin
        .patch(
            "/api/v1/tickets/INC-1",
            json!({"title": "Overwritten by mistake"}),
            None,
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    let coverage = wait_for_the_log(backups.path()).await;
    // The server checkpointed, and SQLite started its log over, while it was copied.
    assert!(coverage.runs >= 2, "{coverage:?}");
    // The admin's backup page shows the set and how far its log reaches.
    let browser = signed_in_client(&server.url, "admin@example.com", PASSWORD.trim()).await;
    let page = page_text(&browser, format!("{}/admin/backups", server.url)).await;
    let set_name = newest_set(backups.path()).unwrap();
    let set_name = set_name.file_name().unwrap().to_string_lossy();
    assert!(
        page.contains(&format!("data-set=\"{set_name}\"")) && page.contains("Log copied up to"),
        "{page}"
    );
    assert!(page.contains(" runs, "), "{page}");
    // Killed without a chance to finish anything: what was acknowledged is in the log.
    server.kill();
    let set = newest_set(backups.path()).unwrap();
    let set_arg = set.display().to_string();

    let verified = opsdesk(&["backup", "verify", &set_arg], &[]).await;
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(
        text(&verified).contains("its log replays to"),
        "{}",
        text(&verified)
    );

    let at = moment.to_string();
    let (said, title) = restore_into(
        Backend::Sqlite,
        &backups_arg,
        &["--at", &at],
        &token,
        &before,
    )
    .await;
    assert!(said.contains("and its log to"), "{said}");
    assert_eq!(title, "Before 0");

    let everything: BTreeSet<String> = before.union(&after).cloned().collect();
    let (_, title) = restore_into(Backend::Sqlite, &set_arg, &[], &token, &everything).await;
    assert_eq!(title, "Overwritten by mistake");

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap();
    let began: jiff::Timestamp = manifest["created_at"].as_str().unwrap().parse().unwrap();
    let too_early = (began - jiff::SignedDuration::from_secs(1)).to_string();
    let refused = opsdesk(
        &["restore", &set_arg, "--at", &too_early, "--data-dir"],
        &[backups.path().join("nowhere").display().to_string()],
    )
    .await;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("before this set's backup began"),
        "{}",
        text(&refused)
    );

    // The same moment, into PostgreSQL.
    if postgres_url().is_some() {
        restore_into(Backend::Postgres, &set_arg, &["--at", &at], &token, &before).await;
    }
}

/// The parts of a ticket and its history that must come back as they were.
async fn ticket_record(admin: &Client, number: &str) -> (Value, Value) {
    let ticket = admin.get(&format!("/api/v1/tickets/{number}")).await;
    assert_eq!(ticket.status, 200, "{}", ticket.text);
    let timeline = admin
        .get(&format!("/api/v1/tickets/{number}/timeline?limit=500"))
        .await;
    assert_eq!(timeline.status, 200, "{}", timeline.text);
    let mut kept = ticket.body.clone();
    // The SLA clock's remaining time moves with the clock.
    kept.as_object_mut().unwrap().remove("sla");
    (kept, timeline.body["items"].clone())
}

/// The bytes of attachment `id`, or the status that refused them.
async fn attachment_bytes(admin: &Client, token: &str, id: i64) -> Result<Vec<u8>, u16> {
    let response = admin
        .http
        .get(format!("{}/api/v1/attachments/{id}", admin.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    match response.status().as_u16() {
        200 => Ok(response.bytes().await.unwrap().to_vec()),
        status => Err(status),
    }
}

/// The tickets ticket `number` is linked with, either way.
async fn linked_to(admin: &Client, number: &str) -> BTreeSet<String> {
    let ticket = admin.get(&format!("/api/v1/tickets/{number}")).await;
    assert_eq!(ticket.status, 200, "{}", ticket.text);
    ticket.body["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|link| link["target"].as_str().unwrap().to_owned())
        .collect()
}

async fn found_by_search(admin: &Client, words: &str) -> BTreeSet<String> {
    let found = admin
        .get(&format!("/api/v1/tickets?q={}", words.replace(' ', "+")))
        .await;
    assert_eq!(found.status, 200, "{}", found.text);
    found.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap().to_owned())
        .collect()
}

dual_backend_test!(
    a_deleted_ticket_comes_back_from_a_backup_with_its_conversation_and_files,
    |backend: Backend| async move {
        let db = TestDb::new(backend).await;
        let token = cli_admin(&db);
        let agent_token = cli_user(&db, "agent@example.com", "agent");
        let server = ServerProcess::start(BIN, &db.cli_args()).await;
        let admin = client(&server.url, &token);
        for title in [
            "Scanner offline",
            "Printer jams on tray 2",
            "Printer still jams",
        ] {
            let created = admin
                .post(
                    "/api/v1/tickets",
                    json!({"type": "incident", "title": title, "impact": "low", "urgency": "low",
                           "description": "Seen on the third floor"}),
                )
                .await;
            assert_eq!(created.status, 201, "{}", created.text);
        }
        attach_driver(&admin, &token).await;
        for (body, public) in [
            ("Reinstalled the driver", true),
            ("Vendor case 4711", false),
        ] {
            let comment = admin
                .post(
                    "/api/v1/tickets/INC-1/comments",
                    json!({"body": body, "public": public}),
                )
                .await;
            assert_eq!(comment.status, 201, "{}", comment.text);
        }
        let linked = admin
            .post(
                "/api/v1/tickets/INC-1/links",
                json!({"type": "relates_to", "target": "INC-2"}),
            )
            .await;
        assert_eq!(linked.status, 201, "{}", linked.text);
        let merged = admin
            .post("/api/v1/tickets/INC-3/merge", json!({"into": "INC-2"}))
            .await;
        assert_eq!(merged.status, 200, "{}", merged.text);
        let (ticket_before, timeline_before) = ticket_record(&admin, "INC-1").await;
        let file = admin.get("/api/v1/tickets/INC-1/attachments").await;
        let file_id = file.body[0]["id"].as_i64().unwrap();

        let sets = tempfile::tempdir().unwrap();
        let set = sets.path().join("set");
        let set_arg = set.display().to_string();
        let backup = opsdesk(&["backup", "--to", &set_arg], &db.cli_args()).await;
        assert!(backup.status.success(), "{}", text(&backup));

        // Only admins delete, and not a ticket others were merged into.
        let agent = client(&server.url, &agent_token);
        assert_eq!(agent.delete("/api/v1/tickets/INC-1").await.status, 403);
        let refused = admin.delete("/api/v1/tickets/INC-2").await;
        assert_eq!(refused.status, 409, "{}", refused.text);
        assert!(refused.text.contains("INC-3"), "{}", refused.text);

        // Deleted from the web page, once its number is typed.
        let browser = signed_in_client(&server.url, "admin@example.com", PASSWORD.trim()).await;
        let page = page_text(&browser, format!("{}/tickets/INC-1", server.url)).await;
        assert!(page.contains("id=\"delete-ticket\""), "{page}");
        let csrf = opsdesk_testkit::page_csrf_token(&page);
        let delete = |confirm: &'static str| {
            browser
                .post(format!("{}/tickets/INC-1/delete", server.url))
                .form(&[("csrf_token", csrf.as_str()), ("confirm", confirm)])
                .send()
        };
        assert_eq!(delete("INC-2").await.unwrap().status(), 422);
        let deleted = delete("INC-1").await.unwrap();
        assert_eq!(deleted.status(), 200);
        assert!(deleted.url().as_str().ends_with("/tickets?deleted=INC-1"));
        let list = deleted.text().await.unwrap();
        assert!(list.contains("INC-1 was deleted"), "{list}");

        assert_eq!(admin.get("/api/v1/tickets/INC-1").await.status, 404);
        assert_eq!(attachment_bytes(&admin, &token, file_id).await, Err(404));
        assert!(found_by_search(&admin, "Scanner offline").await.is_empty());
        assert!(!linked_to(&admin, "INC-2").await.contains("INC-1"));
        let audit = admin
            .get("/api/v1/audit?entity=ticket&entity_id=1&limit=500")
            .await;
        let gone = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["action"] == "deleted")
            .unwrap_or_else(|| panic!("no deletion in {}", audit.text));
        assert_eq!(gone["before"]["title"], "Scanner offline");

        // Brought back while the server serves, as it was.
        let restored = opsdesk(&["restore", &set_arg, "--ticket", "INC-1"], &db.cli_args()).await;
        assert!(restored.status.success(), "{}", text(&restored));
        assert!(
            text(&restored).contains("brought INC-1 \"Scanner offline\" back"),
            "{}",
            text(&restored)
        );
        let (ticket_after, timeline_after) = ticket_record(&admin, "INC-1").await;
        assert_eq!(ticket_after, ticket_before);
        assert_eq!(timeline_after, timeline_before);
        assert_eq!(
            attachment_bytes(&admin, &token, file_id).await,
            Ok(b"PK driver for the scanner".to_vec())
        );
        assert_eq!(
            found_by_search(&admin, "Scanner offline").await,
            BTreeSet::from(["INC-1".to_owned()])
        );
        assert!(linked_to(&admin, "INC-2").await.contains("INC-1"));

        let again = opsdesk(&["restore", &set_arg, "--ticket", "INC-1"], &db.cli_args()).await;
        assert!(!again.status.success());
        assert!(text(&again).contains("is in the desk"), "{}", text(&again));
        let absent = opsdesk(&["restore", &set_arg, "--ticket", "INC-99"], &db.cli_args()).await;
        assert!(!absent.status.success());
        assert!(
            text(&absent).contains("INC-99 is not in the backup"),
            "{}",
            text(&absent)
        );
        drop(server);
        let audit = opsdesk(&["audit", "verify"], &db.cli_args()).await;
        assert!(audit.status.success(), "{}", text(&audit));
    }
);
