//! The server's continuous backup on SQLite: every `every_hours` a backup set whose database
//! file is a byte-for-byte copy, and SQLite's write-ahead log copied beside it every second
//! (see [`opsdesk_store::log_shipping`]), so that `opsdesk restore DIR --at TIME` can go
//! back to any moment since, and a crash loses at most about a second of writes.

use std::sync::Arc;
use std::time::Duration;

use opsdesk_app::backups::LOG_FOLDER;
use opsdesk_store::log_shipping::{self, LogArchive, LogError};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::*;

const COPY_EVERY: Duration = Duration::from_secs(1);
/// The log's size, in frames of a page each, past which the server checkpoints: SQLite's own
/// automatic checkpoint, which the server turns off, would at the same size.
const CHECKPOINT_AFTER_FRAMES: u64 = 1000;
/// How often a set's first checkpoint is tried while readers hold older pages.
const CHECKPOINT_ATTEMPTS: u32 = 100;
/// How long after a failed set the next attempt is made.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// The set being followed, and its log's archive.
struct Current {
    name: String,
    archive: Arc<Mutex<LogArchive>>,
}

fn now_ms() -> i64 {
    SystemClock.now().as_millisecond()
}

/// Keeps a set in a new subfolder of `dir` every `config.every_hours` with the log of the
/// database in `data_dir` copied beside it, keeping the newest `config.keep` sets, until
/// `stopped`; the server must have opened `db` with manual checkpoints.
pub async fn run(
    db: Db,
    data_dir: PathBuf,
    dir: PathBuf,
    config: BackupConfig,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let log = data_dir.join(format!("{SQLITE_FILE}-wal"));
    let every = Duration::from_secs(config.every_hours.max(1) * 3600);
    let mut current: Option<Current> = None;
    let mut next_set = Instant::now();
    let mut ticks = tokio::time::interval(COPY_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.changed() => {
                // What was written since the last copy goes with the set before the server stops.
                if let Some(current) = &current
                    && let Err(error) = copy(current, &log).await
                {
                    tracing::error!(error = format!("{error:#}"), "the log's last copy failed");
                }
                return;
            }
        }
        if Instant::now() >= next_set {
            match begin_set(&db, &log, &data_dir, &dir, current.as_ref()).await {
                Ok(set) => {
                    tracing::info!(set = %set.name, "backup written; its log is copied beside it");
                    current = Some(set);
                    next_set = Instant::now() + every;
                    if let Err(error) = prune(&dir, config.keep) {
                        tracing::warn!(%error, "old backups could not be removed");
                    }
                }
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "backup failed");
                    current = None;
                    next_set = Instant::now() + RETRY_AFTER;
                }
            }
            continue;
        }
        let Some(following) = &current else {
            // Without a set to copy into, the log is still kept from growing without end.
            if let Err(error) = db.checkpoint().await {
                tracing::warn!(%error, "checkpoint failed");
            }
            continue;
        };
        if let Err(error) = keep_up(&db, following, &log).await {
            tracing::error!(
                set = %following.name,
                error = format!("{error:#}"),
                "the log could not be copied; a new backup begins"
            );
            current = None;
            next_set = Instant::now();
        }
    }
}

/// Copies what the log gained; past [`CHECKPOINT_AFTER_FRAMES`], checkpoints too.
async fn keep_up(db: &Db, current: &Current, log: &Path) -> anyhow::Result<()> {
    let copied = copy(current, log).await?;
    if copied.run_frames < CHECKPOINT_AFTER_FRAMES {
        return Ok(());
    }
    let (archive, log, reader) = (current.archive.clone(), log.to_owned(), db.clone());
    // Between the writer's transactions no frame is appended between the last copy and the
    // checkpoint, so the log cannot start over on frames the archive never saw; and the next
    // transaction, starting after a complete checkpoint, starts the log over.
    db.between_writes(async move {
        archive.lock().await.copy(&log, now_ms)?;
        let checkpoint = reader.checkpoint().await?;
        tracing::debug!(?checkpoint, "log checkpointed");
        archive
            .lock()
            .await
            .checkpointed(checkpoint.log_frames, checkpoint.checkpointed);
        Ok::<_, anyhow::Error>(())
    })
    .await?
}

async fn copy(current: &Current, log: &Path) -> anyhow::Result<log_shipping::Copied> {
    let (archive, log) = (current.archive.clone(), log.to_owned());
    let copied =
        tokio::task::spawn_blocking(move || archive.blocking_lock().copy(&log, now_ms)).await??;
    Ok(copied)
}

/// Starts a new set: between two of the writer's transactions, the previous set's log is
/// completed, the log checkpointed completely and this set's archive started; then the
/// database file is copied (nothing checkpoints until the next copy, so the file stays as it
/// was) and the manifest written.
async fn begin_set(
    db: &Db,
    log: &Path,
    data_dir: &Path,
    dir: &Path,
    previous: Option<&Current>,
) -> anyhow::Result<Current> {
    let began = SystemClock.now();
    let name = format!("opsdesk-{}", began.strftime("%Y%m%dT%H%M%SZ"));
    let set = dir.join(&name);
    prepare_empty_folder(&set)?;
    let mut previous = previous.map(|p| p.archive.clone());
    let mut attempts = 0;
    let archive = loop {
        let (archive_dir, log_file, reader) = (set.join(LOG_FOLDER), log.to_owned(), db.clone());
        let finishing = previous.take();
        let started = db
            .between_writes(async move {
                if let Some(previous) = &finishing {
                    previous.lock().await.copy(&log_file, now_ms)?;
                }
                // Only a database file holding the whole log is a sound copy on its own.
                let checkpoint = reader.checkpoint().await?;
                if checkpoint.checkpointed < checkpoint.log_frames {
                    return Ok::<_, anyhow::Error>(Err(finishing));
                }
                let mut archive =
                    LogArchive::start(&archive_dir, &log_file, began.as_millisecond())?;
                archive.checkpointed(checkpoint.log_frames, checkpoint.checkpointed);
                Ok(Ok(archive))
            })
            .await??;
        match started {
            Ok(archive) => break archive,
            Err(unfinished) if attempts < CHECKPOINT_ATTEMPTS => {
                // A reader still needs older pages; readers are short, so it soon lets go.
                previous = unfinished;
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => bail!("readers kept the checkpoint before the backup from completing"),
        }
    };
    let (from, to) = (data_dir.join(SQLITE_FILE), set.join(SQLITE_FILE));
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        std::fs::copy(&from, &to).with_context(|| format!("cannot copy {}", from.display()))?;
        std::fs::File::open(&to)?.sync_all()?;
        Ok(())
    })
    .await??;
    let manifest = describe_sqlite_copy(&set.join(SQLITE_FILE), began).await?;
    write_manifest(&set, &manifest)?;
    Ok(Current {
        name,
        archive: Arc::new(Mutex::new(archive)),
    })
}

/// The log copied beside a set, to replay onto its database up to `at` (or to its end).
pub(super) struct LogReplay {
    archive: PathBuf,
    at: Option<jiff::Timestamp>,
}

impl LogReplay {
    /// The log beside the set in `set`, if it has one. Going back to a moment needs one.
    pub(super) fn of(
        set: &Path,
        manifest: &Manifest,
        at: Option<jiff::Timestamp>,
    ) -> anyhow::Result<Option<Self>> {
        let archive = set.join(LOG_FOLDER);
        if archive.is_dir() {
            return Ok(Some(LogReplay { archive, at }));
        }
        if at.is_some() {
            bail!(
                "{} has no log beside it to go forward from its backup of {}: restore it \
                 without --at, or take a set the server keeps with `[backup] continuous`",
                set.display(),
                manifest.created_at
            );
        }
        Ok(None)
    }

    /// Replays the log onto the SQLite file `file`, then runs SQLite's integrity check on it.
    pub(super) async fn replay_onto(&self, file: &Path) -> anyhow::Result<Replayed> {
        let at_ms = self.at.map(|at| at.as_millisecond());
        let replayed =
            log_shipping::replay(&self.archive, file, at_ms).map_err(|error| {
                match (error, self.at) {
                    (LogError::BeforeBackup { began_ms }, Some(at)) => anyhow::anyhow!(
                        "{at} is before this set's backup began ({}); restore an earlier set",
                        timestamp(began_ms)
                    ),
                    (error, _) => anyhow::Error::new(error).context("cannot replay the log"),
                }
            })?;
        let mut conn = store::open_sqlite_file(file).await?;
        let problems = store::sqlite_integrity_problems(&mut conn).await?;
        store::close_file(conn).await?;
        if !problems.is_empty() {
            bail!(
                "the database replayed from the log fails its integrity check: {}",
                problems.join("; ")
            );
        }
        Ok(Replayed {
            frames: replayed.frames,
            until: timestamp(replayed.until_ms),
        })
    }
}

/// How far a replay went.
pub(super) struct Replayed {
    pub frames: u64,
    /// Every transaction committed before this moment is in the database.
    pub until: jiff::Timestamp,
}

fn timestamp(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or_default()
}

/// The set in `dir` — or, when `dir` is a folder of scheduled sets, the newest of them that
/// began at or before `at`.
pub(super) fn choose_set(dir: &Path, at: Option<jiff::Timestamp>) -> anyhow::Result<PathBuf> {
    if dir.join(MANIFEST).exists() {
        return Ok(dir.to_owned());
    }
    let sets = complete_sets(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for set in sets.into_iter().rev() {
        let (manifest, _) = read_set(&set)?;
        if at.is_none_or(|at| manifest.created_at <= at) {
            return Ok(set);
        }
    }
    match at {
        Some(at) => bail!("{} holds no backup set from before {at}", dir.display()),
        None => bail!("{} holds no backup set", dir.display()),
    }
}
