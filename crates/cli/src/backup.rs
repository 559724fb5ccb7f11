//! `opsdesk backup` and `opsdesk restore`: the database and its attachments as one set of
//! files with a manifest of hashes, taken while the server runs, checked by restoring it into
//! a temporary copy, and restored into SQLite or — to move a growing desk — PostgreSQL.
//!
//! A set is a folder: `opsdesk.db` (an SQLite snapshot) or `opsdesk.pgdump` (a `pg_dump`
//! archive taken in the same snapshot as the digests), and `manifest.json`, which records
//! the file's SHA-256 and each table's row count — and, for a PostgreSQL archive, whose bytes
//! say nothing of its rows, each table's content digest.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use opsdesk_app::backups::{
    AttachmentsEntry, FORMAT, FileEntry, MANIFEST, Manifest, TableEntry, complete_sets,
};
use opsdesk_app::{App, AppConfig, Db, DbOptions};
use opsdesk_app::{Clock, SystemClock};
use opsdesk_store::backup::{self as store, Table, TableDigest};
use opsdesk_store::{Conn, redact};
use sha2::{Digest, Sha256};

use crate::config::BackupConfig;
use crate::{DatabaseArgs, load_config, lock_data_dir};

mod continuous;
mod one_ticket;

use continuous::{LogReplay, Replayed};

const SQLITE_FILE: &str = "opsdesk.db";
const POSTGRES_FILE: &str = "opsdesk.pgdump";

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Folder to write the backup set into; it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    to: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<BackupCommand>,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
enum BackupCommand {
    /// Restore a backup set into a temporary copy and check it: every file's hash, every
    /// table's rows against the manifest, the database's own integrity check, every
    /// attachment's hash and the audit log's chain.
    #[command(
        after_help = "A PostgreSQL set is restored into a temporary database on the \
        server given by --database-url, which needs the CREATEDB privilege; it is dropped after."
    )]
    Verify {
        /// The backup set's folder.
        dir: PathBuf,
    },
}

/// `opsdesk restore`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    opsdesk restore /backups/2026-12-06 --data-dir ./opsdesk-data\n  \
    opsdesk restore /backups/2026-12-06 --database-url postgres://opsdesk@db/opsdesk   # SQLite into PostgreSQL\n  \
    opsdesk restore /backups/opsdesk --at 2026-12-06T14:03:00Z --data-dir ./opsdesk-data   # back to a moment\n  \
    opsdesk restore /backups/opsdesk --ticket INC-42 --data-dir ./opsdesk-data   # one deleted ticket, into the live desk")]
pub struct RestoreArgs {
    /// The backup set's folder, or the folder of scheduled sets (the newest one that began
    /// before --at is taken).
    dir: PathBuf,
    /// Go back to this moment (RFC 3339, e.g. 2026-12-06T14:03:00Z) by replaying the log
    /// copied beside the set up to it; without it, the whole log is replayed.
    #[arg(long, value_name = "TIME")]
    at: Option<jiff::Timestamp>,
    /// Replace the desk already in the destination.
    #[arg(long, conflicts_with = "ticket")]
    force: bool,
    /// Bring only this deleted ticket (e.g. INC-42) back, with its conversation and files,
    /// into the desk as it is now, which may keep serving.
    #[arg(long, value_name = "NUMBER")]
    ticket: Option<String>,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(BackupCommand::Verify { dir }) => verify(&dir, &args.database).await,
        None => {
            let Some(to) = args.to else {
                bail!("say where the backup goes: opsdesk backup --to DIR");
            };
            let manifest = take(&to, &args.database).await?;
            let rows: u64 = manifest.tables.values().map(|t| t.rows).sum();
            println!(
                "backup written to {}: {} tables, {rows} rows, {} attachments, {} bytes",
                to.display(),
                manifest.tables.len(),
                manifest.attachments.files,
                manifest.file.bytes
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Takes a backup set into `to` from the database `database` names, while it serves.
async fn take(to: &Path, database: &DatabaseArgs) -> anyhow::Result<Manifest> {
    let config = load_config(database, None)?;
    let db = Db::open(
        config.database_url.as_deref(),
        &config.data_dir,
        &DbOptions::default(),
    )
    .await
    .context("could not open the database")?;
    let manifest = take_from(&db, config.database_url.as_deref(), to).await;
    db.close().await;
    manifest
}

/// Takes a backup set into `to` from `db` (at `url` when it is PostgreSQL).
async fn take_from(db: &Db, url: Option<&str>, to: &Path) -> anyhow::Result<Manifest> {
    prepare_empty_folder(to)?;
    let manifest = match url {
        None => take_sqlite(db, to).await?,
        Some(url) => take_postgres(db, url, to).await?,
    };
    write_manifest(to, &manifest)?;
    Ok(manifest)
}

/// Writes the manifest into the set `to`, which makes it complete.
fn write_manifest(to: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let file = std::fs::File::create(to.join(MANIFEST)).context("cannot write the manifest")?;
    serde_json::to_writer_pretty(&file, manifest)?;
    file.sync_all()?;
    sync_folder(to)
}

/// Takes a backup into a new subfolder of `config.dir` every `config.every_hours`, keeping
/// the newest `config.keep` sets, until `stopped`; on SQLite, copying the log beside the
/// newest set unless `config.continuous` is off. On PostgreSQL give one node the setting.
pub async fn run_scheduled(
    db: Db,
    url: Option<String>,
    data_dir: PathBuf,
    config: BackupConfig,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    if config.copies_log(url.as_deref())
        && let Some(dir) = config.dir.clone()
    {
        return continuous::run(db, data_dir, dir, config, stopped).await;
    }
    let Some(dir) = config.dir else { return };
    let every = std::time::Duration::from_secs(config.every_hours.max(1) * 3600);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped.changed() => return,
        }
        let name = format!("opsdesk-{}", SystemClock.now().strftime("%Y%m%dT%H%M%SZ"));
        match take_from(&db, url.as_deref(), &dir.join(&name)).await {
            Ok(manifest) => {
                tracing::info!(set = %name, bytes = manifest.file.bytes, "backup written");
                if let Err(error) = prune(&dir, config.keep) {
                    tracing::warn!(%error, "old backups could not be removed");
                }
            }
            Err(error) => {
                tracing::error!(set = %name, error = format!("{error:#}"), "backup failed")
            }
        }
    }
}

/// Removes all but the newest `keep` complete sets in `dir` (their names sort by time), and
/// the sets begun before the newest complete one that never got their manifest (a backup that
/// failed halfway), which nothing would ever read.
fn prune(dir: &Path, keep: usize) -> anyhow::Result<()> {
    let sets = complete_sets(dir)?;
    for old in sets_to_remove(&sets, keep) {
        std::fs::remove_dir_all(old)?;
    }
    if let Some(newest) = sets.last() {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let unfinished = path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("opsdesk-"))
                && path.is_dir()
                && !path.join(MANIFEST).exists();
            if unfinished && &path < newest {
                std::fs::remove_dir_all(&path)?;
            }
        }
    }
    Ok(())
}

/// The sets beyond the newest `keep`, of `sets` sorted oldest first.
fn sets_to_remove(sets: &[PathBuf], keep: usize) -> &[PathBuf] {
    sets.get(..sets.len().saturating_sub(keep.max(1)))
        .unwrap_or_default()
}

fn prepare_empty_folder(to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        let mut entries =
            std::fs::read_dir(to).with_context(|| format!("cannot read {}", to.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty; give each backup a folder of its own",
                to.display()
            );
        }
    }
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))
}

async fn take_sqlite(db: &Db, to: &Path) -> anyhow::Result<Manifest> {
    let file = to.join(SQLITE_FILE);
    let spinner = spinner("copying the database")?;
    {
        let mut conn = db.reader().await?;
        store::snapshot_sqlite(&mut conn, &file)
            .await
            .context("could not copy the database")?;
    }
    spinner.finish_and_clear();
    describe_sqlite_copy(&file, SystemClock.now()).await
}

/// The manifest of the SQLite copy `file`, the desk as it was at `created_at`.
async fn describe_sqlite_copy(
    file: &Path,
    created_at: jiff::Timestamp,
) -> anyhow::Result<Manifest> {
    let mut copy = store::open_sqlite_file(file).await?;
    let (tables, attachments) = describe(&mut copy, false).await?;
    let schema_version = store::schema_version(&mut copy).await?;
    drop(copy);
    Ok(Manifest {
        format: FORMAT.into(),
        opsdesk_version: env!("CARGO_PKG_VERSION").into(),
        created_at,
        source: "sqlite".into(),
        schema_version,
        // Hashed after SQLite opened it: opening a snapshot turns it to WAL mode.
        file: hash_file(file)?,
        tables,
        attachments,
    })
}

async fn take_postgres(db: &Db, url: &str, to: &Path) -> anyhow::Result<Manifest> {
    let file = to.join(POSTGRES_FILE);
    let mut conn = db.reader().await?;
    // One snapshot for the dump and the digests: what the manifest describes is what the
    // archive holds, while writers go on.
    sqlx_execute(
        &mut conn,
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    )
    .await?;
    let dumped = dump_in_snapshot(&mut conn, url, &file).await;
    // The connection goes back to the pool (the server's, for scheduled backups): whatever
    // happened, it must not stay inside this read-only transaction.
    sqlx_execute(&mut conn, "ROLLBACK").await?;
    let (tables, attachments, schema_version) = dumped?;
    Ok(Manifest {
        format: FORMAT.into(),
        opsdesk_version: env!("CARGO_PKG_VERSION").into(),
        created_at: SystemClock.now(),
        source: "postgres".into(),
        schema_version,
        file: hash_file(&file)?,
        tables,
        attachments,
    })
}

/// Runs `pg_dump` into `file` in the snapshot of the transaction open on `conn`, and
/// describes the tables in that same snapshot meanwhile.
async fn dump_in_snapshot(
    conn: &mut Conn,
    url: &str,
    file: &Path,
) -> anyhow::Result<(BTreeMap<String, TableEntry>, AttachmentsEntry, i64)> {
    let snapshot: String = store::export_snapshot(conn).await?;
    let dump = tokio::process::Command::new("pg_dump")
        .arg("--format=custom")
        .arg("--no-owner")
        .arg(format!("--snapshot={snapshot}"))
        .arg(format!("--file={}", file.display()))
        .arg(format!("--dbname={url}"))
        .kill_on_drop(true)
        .spawn()
        .context(
            "could not start pg_dump; install the PostgreSQL client tools of the server's version",
        )?;
    let described = describe(conn, true).await;
    let schema_version = store::schema_version(conn).await;
    // The snapshot must outlive pg_dump's use of it: wait for it before anything ends.
    let dumped = dump.wait_with_output().await?;
    if !dumped.status.success() {
        bail!("pg_dump failed ({})", dumped.status);
    }
    let (tables, attachments) = described?;
    Ok((tables, attachments, schema_version?))
}

async fn sqlx_execute(conn: &mut Conn, statement: &'static str) -> anyhow::Result<()> {
    store::execute(conn, statement)
        .await
        .with_context(|| format!("{statement} failed"))
}

/// Every table's row count (and digest, when `digests`) and the attachments' count.
async fn describe(
    conn: &mut Conn,
    digests: bool,
) -> anyhow::Result<(BTreeMap<String, TableEntry>, AttachmentsEntry)> {
    let tables = store::tables(conn).await?;
    let mut entries = BTreeMap::new();
    if digests {
        let digests = digest_tables(conn, tables.values()).await?;
        for (table, digest) in tables.values().zip(digests) {
            entries.insert(
                table.name.clone(),
                TableEntry {
                    rows: digest.rows,
                    sha256: Some(digest.sha256),
                    columns: table.column_names(),
                },
            );
        }
    } else {
        for table in tables.values() {
            entries.insert(
                table.name.clone(),
                TableEntry {
                    rows: store::row_count(conn, table).await?,
                    sha256: None,
                    columns: table.column_names(),
                },
            );
        }
    }
    let (files, bytes) = store::attachment_totals(conn).await?;
    Ok((entries, AttachmentsEntry { files, bytes }))
}

async fn digest_tables<'a>(
    conn: &mut Conn,
    tables: impl Iterator<Item = &'a Table>,
) -> anyhow::Result<Vec<TableDigest>> {
    let bar = ProgressBar::no_length().with_style(ProgressStyle::with_template(
        "{spinner} reading {msg}: {human_pos} rows, {per_sec}",
    )?);
    let mut digests = Vec::new();
    for table in tables {
        bar.set_message(table.name.clone());
        digests.push(store::digest(conn, table, &mut |n| bar.inc(n)).await?);
    }
    bar.finish_and_clear();
    Ok(digests)
}

fn spinner(message: &'static str) -> anyhow::Result<ProgressBar> {
    let spinner = ProgressBar::new_spinner()
        .with_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})")?)
        .with_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    Ok(spinner)
}

fn hash_file(path: &Path) -> anyhow::Result<FileEntry> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let total = file.metadata()?.len();
    let bar = ProgressBar::new(total).with_style(ProgressStyle::with_template(
        "{bar:40} hashing {msg}: {binary_bytes}/{binary_total_bytes}, {binary_bytes_per_sec}",
    )?);
    bar.set_message(file_name(path));
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(buffer.get(..read).unwrap_or_default());
        bar.inc(read as u64);
    }
    bar.finish_and_clear();
    file.sync_all()?;
    Ok(FileEntry {
        name: file_name(path),
        bytes: total,
        sha256: hex::encode(hasher.finalize()),
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sync_folder(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Reads `dir`'s manifest and checks its file is whole.
fn read_set(dir: &Path) -> anyhow::Result<(Manifest, PathBuf)> {
    let manifest_path = dir.join(MANIFEST);
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(&manifest_path).with_context(|| {
            format!(
                "{} has no manifest: it is not a backup set, or its backup did not finish",
                dir.display()
            )
        })?)
        .with_context(|| format!("{} cannot be read", manifest_path.display()))?;
    if manifest.format != FORMAT {
        bail!(
            "{} is a backup of format {}, which this opsdesk does not read",
            dir.display(),
            manifest.format
        );
    }
    let file = dir.join(&manifest.file.name);
    let found = hash_file(&file)?;
    if found.sha256 != manifest.file.sha256 || found.bytes != manifest.file.bytes {
        bail!(
            "{} does not match the manifest (SHA-256 {}, expected {}): the backup is damaged",
            file.display(),
            found.sha256,
            manifest.file.sha256
        );
    }
    Ok((manifest, file))
}

/// Compares the tables on `conn` with the manifest's; the differences, one per line.
async fn compare_tables(
    conn: &mut Conn,
    expected: &BTreeMap<String, TableEntry>,
) -> anyhow::Result<Vec<String>> {
    let found = store::tables(conn).await?;
    let mut problems = Vec::new();
    let mut narrowed = Vec::new();
    for (name, entry) in expected {
        match found.get(name).and_then(|t| t.with_columns(&entry.columns)) {
            Some(table) => narrowed.push(table),
            None => problems.push(format!("table {name} is missing or lost columns")),
        }
    }
    let bar = ProgressBar::no_length().with_style(ProgressStyle::with_template(
        "{spinner} checking {msg}: {human_pos} rows, {per_sec}",
    )?);
    for table in &narrowed {
        let Some(entry) = expected.get(&table.name) else {
            continue;
        };
        bar.set_message(table.name.clone());
        let (rows, sha256) = match &entry.sha256 {
            Some(_) => {
                let digest = store::digest(conn, table, &mut |n| bar.inc(n)).await?;
                (digest.rows, Some(digest.sha256))
            }
            None => (store::row_count(conn, table).await?, None),
        };
        if rows != entry.rows || sha256 != entry.sha256 {
            problems.push(format!(
                "table {} differs: {rows} rows, expected {}{}",
                table.name,
                entry.rows,
                match (&sha256, &entry.sha256) {
                    (Some(found), Some(expected)) if found != expected =>
                        format!("; digest {found}, expected {expected}"),
                    _ => String::new(),
                }
            ));
        }
    }
    bar.finish_and_clear();
    Ok(problems)
}

async fn verify(dir: &Path, database: &DatabaseArgs) -> anyhow::Result<ExitCode> {
    let (manifest, file) = read_set(dir)?;
    let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
    let mut problems = Vec::new();
    // The manifest counts the set's attachments; a replayed log may have added some.
    let mut expected_attachments = Some(manifest.attachments.files);
    let db = match manifest.source.as_str() {
        "sqlite" => {
            let copy = scratch.path().join(SQLITE_FILE);
            std::fs::copy(&file, &copy).context("cannot copy the backup")?;
            let mut conn = store::open_sqlite_file(&copy).await?;
            problems.extend(store::sqlite_integrity_problems(&mut conn).await?);
            problems.extend(compare_tables(&mut conn, &manifest.tables).await?);
            store::close_file(conn).await?;
            // The log beside the set must replay to its end onto a sound database.
            if let Some(log) = LogReplay::of(dir, &manifest, None)? {
                expected_attachments = None;
                match log.replay_onto(&copy).await {
                    Ok(replayed) => println!(
                        "its log replays to {} ({} frames)",
                        replayed.until, replayed.frames
                    ),
                    Err(error) => problems.push(format!("{error:#}")),
                }
            }
            Db::open_sqlite(scratch.path(), &DbOptions::default()).await?
        }
        _ => {
            let config = load_config(database, None)?;
            let Some(url) = config.database_url else {
                bail!("a PostgreSQL backup is checked on a PostgreSQL server: give --database-url");
            };
            let scratch_db = ScratchDatabase::create(&url).await?;
            let outcome =
                verify_in_postgres(&file, &manifest, &scratch_db.url, &mut problems).await;
            scratch_db.drop_it().await?;
            return finish_verify(dir, &manifest, outcome, problems);
        }
    };
    let outcome = check_contents(db, expected_attachments, &mut problems).await;
    finish_verify(dir, &manifest, outcome, problems)
}

async fn verify_in_postgres(
    file: &Path,
    manifest: &Manifest,
    url: &str,
    problems: &mut Vec<String>,
) -> anyhow::Result<i64> {
    pg_restore(file, url, false).await?;
    problems.extend(compare_tables(&mut store::connect(url).await?, &manifest.tables).await?);
    let db = Db::open_postgres(url, &DbOptions::default()).await?;
    check_contents(db, Some(manifest.attachments.files), problems).await
}

/// The attachments' hashes (and count, when `expected_attachments` is known) and the audit
/// chain, on a restored copy; the audit entries.
async fn check_contents(
    db: Db,
    expected_attachments: Option<u64>,
    problems: &mut Vec<String>,
) -> anyhow::Result<i64> {
    let (damaged, files, _) = {
        let mut conn = db.reader().await?;
        store::damaged_attachments(&mut conn).await?
    };
    if let Some(expected) = expected_attachments
        && files != expected
    {
        problems.push(format!("{files} attachments, expected {expected}"));
    }
    problems.extend(
        damaged
            .into_iter()
            .map(|key| format!("attachment {key} does not match its hash")),
    );
    let app = App::new(db, AppConfig::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let entries = match app.verify_audit_chain().await? {
        Ok(verified) => verified.entries,
        Err(chain_break) => {
            problems.push(format!("audit log broken: {chain_break}"));
            0
        }
    };
    app.db().clone().close().await;
    Ok(entries)
}

fn finish_verify(
    dir: &Path,
    manifest: &Manifest,
    audit_entries: anyhow::Result<i64>,
    problems: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let audit_entries = audit_entries?;
    if !problems.is_empty() {
        eprintln!("backup {} FAILED its check:", dir.display());
        for problem in &problems {
            eprintln!("  {problem}");
        }
        return Ok(ExitCode::FAILURE);
    }
    let rows: u64 = manifest.tables.values().map(|t| t.rows).sum();
    println!(
        "backup {} is sound: {} tables and {rows} rows as recorded, {} attachments intact, \
         audit log intact ({audit_entries} entries)",
        dir.display(),
        manifest.tables.len(),
        manifest.attachments.files,
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let set = continuous::choose_set(&args.dir, args.at)?;
    let (manifest, file) = read_set(&set)?;
    let log = match manifest.source.as_str() {
        "sqlite" => LogReplay::of(&set, &manifest, args.at)?,
        _ if args.at.is_some() => bail!(
            "a PostgreSQL desk goes back to a moment with PostgreSQL's own WAL archive \
             (docs/backup.md, \"Point-in-time recovery on PostgreSQL\"), not with --at"
        ),
        _ => None,
    };
    let config = load_config(&args.database, None)?;
    if let Some(reference) = &args.ticket {
        let from = one_ticket::Source {
            manifest: &manifest,
            file: &file,
            log: log.as_ref(),
        };
        one_ticket::restore(&from, reference, &config).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let replayed = match (manifest.source.as_str(), config.database_url.as_deref()) {
        ("sqlite", None) => {
            let tables = &manifest.tables;
            restore_sqlite(&file, tables, log.as_ref(), &config.data_dir, args.force).await?
        }
        ("sqlite", Some(url)) => {
            let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
            let (file, replayed) = match &log {
                Some(log) => {
                    let copy = scratch.path().join(SQLITE_FILE);
                    std::fs::copy(&file, &copy).context("cannot copy the backup")?;
                    let replayed = log.replay_onto(&copy).await?;
                    (copy, Some(replayed))
                }
                None => (file, None),
            };
            sqlite_into_postgres(&file, url, args.force).await?;
            replayed
        }
        (_, Some(url)) => {
            postgres_into_postgres(&file, &manifest, url, args.force).await?;
            None
        }
        (_, None) => bail!(
            "this backup was taken from PostgreSQL and restores into PostgreSQL: give --database-url"
        ),
    };
    println!(
        "restored the backup of {} ({} tables) from {}",
        manifest.created_at,
        manifest.tables.len(),
        set.display()
    );
    if let Some(replayed) = replayed {
        println!(
            "and its log to {} ({} frames): every write committed before then is back",
            replayed.until, replayed.frames
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn restore_sqlite(
    file: &Path,
    tables: &BTreeMap<String, TableEntry>,
    log: Option<&LogReplay>,
    data_dir: &Path,
    force: bool,
) -> anyhow::Result<Option<Replayed>> {
    // Holding the server's lock keeps a server from starting on a half-restored folder.
    let _lock = lock_data_dir(data_dir)?;
    let live = data_dir.join(SQLITE_FILE);
    if live.exists() && !force {
        bail!(
            "{} already holds a desk; add --force to replace it",
            data_dir.display()
        );
    }
    let incoming = data_dir.join("opsdesk.db.restoring");
    std::fs::copy(file, &incoming).context("cannot copy the backup into the data folder")?;
    std::fs::File::open(&incoming)?.sync_all()?;
    let mut conn = store::open_sqlite_file(&incoming).await?;
    let problems = compare_tables(&mut conn, tables).await?;
    store::close_file(conn).await?;
    if !problems.is_empty() {
        std::fs::remove_file(&incoming)?;
        bail!(
            "the backup differs from its manifest, so it was not restored: {}",
            problems.join("; ")
        );
    }
    let replayed = match log {
        Some(log) => match log.replay_onto(&incoming).await {
            Ok(replayed) => Some(replayed),
            Err(error) => {
                std::fs::remove_file(&incoming)?;
                return Err(error.context("nothing was restored"));
            }
        },
        None => None,
    };
    for stale in ["opsdesk.db-wal", "opsdesk.db-shm"] {
        match std::fs::remove_file(data_dir.join(stale)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    std::fs::rename(&incoming, &live)?;
    sync_folder(data_dir)?;
    // Brings an older backup's schema up to this version now rather than at the next start.
    Db::open_sqlite(data_dir, &DbOptions::default())
        .await?
        .close()
        .await;
    Ok(replayed)
}

/// Refuses to replace the desk the PostgreSQL database at `url` holds, unless forced.
async fn refuse_occupied(url: &str, force: bool) -> anyhow::Result<()> {
    let mut conn = store::connect(url).await?;
    if !force && store::holds_desk(&mut conn).await? {
        bail!(
            "{} already holds a desk; add --force to replace it",
            redact(url)
        );
    }
    Ok(())
}

async fn sqlite_into_postgres(file: &Path, url: &str, force: bool) -> anyhow::Result<()> {
    // The copy is brought up to this version's schema first, so both sides match.
    let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
    std::fs::copy(file, scratch.path().join(SQLITE_FILE)).context("cannot copy the backup")?;
    refuse_occupied(url, force).await?;
    let source = Db::open_sqlite(scratch.path(), &DbOptions::default()).await?;
    let dest = Db::open_postgres(url, &DbOptions::default())
        .await
        .context("could not open the PostgreSQL database")?;
    let mut from = source.reader().await?;
    let mut to = dest.reader().await?;
    let bar = ProgressBar::no_length().with_style(ProgressStyle::with_template(
        "{spinner} copying {msg}: {human_pos} rows, {per_sec}",
    )?);
    let copied = store::copy_into_postgres(&mut from, &mut to, &mut |table, n| {
        bar.set_message(table.to_owned());
        bar.inc(n);
    })
    .await
    .context("the copy into PostgreSQL failed; nothing was written")?;
    bar.finish_and_clear();
    // The copy is checked against its source, table by table.
    let source_digests = digest_tables(&mut from, copied.values()).await?;
    let dest_digests = digest_tables(&mut to, copied.values()).await?;
    let differing: Vec<&str> = copied
        .values()
        .zip(source_digests.iter().zip(&dest_digests))
        .filter(|(_, (a, b))| a != b)
        .map(|(table, _)| table.name.as_str())
        .collect();
    drop((from, to));
    source.close().await;
    dest.close().await;
    if !differing.is_empty() {
        bail!(
            "the copy differs from the backup in {}",
            differing.join(", ")
        );
    }
    Ok(())
}

async fn postgres_into_postgres(
    file: &Path,
    manifest: &Manifest,
    url: &str,
    force: bool,
) -> anyhow::Result<()> {
    refuse_occupied(url, force).await?;
    store::drop_all_tables(&mut store::connect(url).await?).await?;
    pg_restore(file, url, true).await?;
    // Checked as restored, before the schema is brought up to this version.
    let problems = compare_tables(&mut store::connect(url).await?, &manifest.tables).await?;
    if !problems.is_empty() {
        bail!(
            "the restored database differs from the backup: {}",
            problems.join("; ")
        );
    }
    Db::open_postgres(url, &DbOptions::default())
        .await?
        .close()
        .await;
    Ok(())
}

async fn pg_restore(file: &Path, url: &str, single_transaction: bool) -> anyhow::Result<()> {
    let mut command = tokio::process::Command::new("pg_restore");
    command
        .arg("--no-owner")
        .arg("--exit-on-error")
        .arg(format!("--dbname={url}"))
        .arg(file);
    if single_transaction {
        command.arg("--single-transaction");
    }
    let status = command
        .status()
        .await
        .context("could not start pg_restore; install the PostgreSQL client tools")?;
    if !status.success() {
        bail!("pg_restore failed ({status})");
    }
    Ok(())
}

/// A database created for one check and dropped after it.
struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    async fn create(url: &str) -> anyhow::Result<Self> {
        let name = format!("opsdesk_verify_{}", std::process::id());
        let scratch = Self {
            admin_url: url.to_owned(),
            url: with_database(url, &name),
            name,
        };
        store::create_database(&scratch.admin_url, &scratch.name)
            .await
            .context("could not create a temporary database (the user needs CREATEDB)")?;
        Ok(scratch)
    }

    async fn drop_it(self) -> anyhow::Result<()> {
        store::drop_database(&self.admin_url, &self.name).await?;
        Ok(())
    }
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base.get(authority_end..).and_then(|rest| rest.find('/')) {
        Some(slash) => base.get(..authority_end + slash).unwrap_or(base),
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_sets_are_kept_and_never_the_last_one_removed() {
        let sets: Vec<PathBuf> = [
            "opsdesk-20261201T020000Z",
            "opsdesk-20261202T020000Z",
            "opsdesk-20261203T020000Z",
        ]
        .map(PathBuf::from)
        .to_vec();
        assert_eq!(sets_to_remove(&sets, 2), &sets[..1]);
        assert!(sets_to_remove(&sets, 7).is_empty());
        assert_eq!(sets_to_remove(&sets, 0), &sets[..2]);
    }

    #[test]
    fn pruning_keeps_the_newest_sets_and_removes_older_ones_that_never_finished()
    -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let names = [
            ("opsdesk-20261201T020000Z", true),
            ("opsdesk-20261202T020000Z", false),
            ("opsdesk-20261203T020000Z", true),
            ("opsdesk-20261204T020000Z", true),
            ("opsdesk-20261205T020000Z", false),
        ];
        for (name, complete) in names {
            std::fs::create_dir(dir.path().join(name))?;
            if complete {
                std::fs::write(dir.path().join(name).join(MANIFEST), "{}")?;
            }
        }
        prune(dir.path(), 2)?;
        let mut left = std::fs::read_dir(dir.path())?
            .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<Vec<String>>>()?;
        left.sort();
        // The one still being written, after the newest complete set, stays.
        assert_eq!(
            left,
            [
                "opsdesk-20261203T020000Z",
                "opsdesk-20261204T020000Z",
                "opsdesk-20261205T020000Z"
            ]
        );
        Ok(())
    }

    #[test]
    fn a_database_url_is_pointed_at_another_database() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/desk?sslmode=require", "scratch"),
            "postgres://u:p@h:5432/scratch?sslmode=require"
        );
        assert_eq!(
            with_database("postgres://h", "scratch"),
            "postgres://h/scratch"
        );
    }
}
