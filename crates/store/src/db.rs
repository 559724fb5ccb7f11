//! Connection pools and the write path.
//!
//! SQLite allows one writer at a time, so every write goes to one task that owns the only
//! writing connection. That task commits whatever commands are waiting in one transaction
//! (group commit), each inside its own savepoint so a failing command rolls back alone, and
//! rebuilds the search entries the group changed just before it commits.
//! Readers use a separate pool and never wait for writers (WAL). On PostgreSQL each write
//! is an ordinary transaction on a pooled connection.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::migrate;
use crate::tickets::search::REBUILD_STALE_ENTRIES;

/// Which database engine is behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The engine `conn` talks to.
    pub fn of(conn: &AnyConnection) -> Self {
        if conn.backend_name() == "PostgreSQL" {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Connections used for reads (and for writes on PostgreSQL).
    pub max_connections: u32,
    /// How many waiting SQLite writes one transaction may carry.
    pub group_commit_size: usize,
    /// Leaves SQLite's checkpoints to [`Db::checkpoint`], so that the write-ahead log is
    /// only started over after its archive has copied it (see [`crate::log_shipping`]).
    pub manual_checkpoints: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            group_commit_size: 64,
            manual_checkpoints: false,
        }
    }
}

/// What a checkpoint did: of the frames in the write-ahead log, how many the database file
/// now holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub busy: bool,
    pub log_frames: u64,
    pub checkpointed: u64,
}

/// A future returned by a write command, borrowing the transaction's connection.
pub type WriteFuture<'c, T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>;

type Deliver = Box<dyn FnOnce(Option<StoreError>) + Send>;
type QueuedWrite =
    Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, (bool, Deliver)> + Send>;

/// What the SQLite writer is asked to do: a write, or something to run between two groups
/// of writes, outside any transaction, while no write can start.
enum Queued {
    Write(QueuedWrite),
    BetweenWrites(BoxFuture<'static, ()>),
}

#[derive(Clone)]
enum Writer {
    Queue(mpsc::Sender<Queued>),
    Pool,
}

/// The database: a read pool and a write path, on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
    pool: AnyPool,
    writer: Writer,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

// The busy timeout comes first: switching to WAL needs a lock, which another process
// checkpointing as it closes the database may hold for a moment.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;";

impl Db {
    /// Opens (creating if needed) the SQLite database file `opsdesk.db` in `data_dir`.
    pub async fn open_sqlite(data_dir: &Path, options: &DbOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        crate::tickets::register_ranking();
        let file = data_dir.join("opsdesk.db");
        let location = file.display().to_string();
        let open_error = |source| StoreError::Open {
            location: location.clone(),
            source,
        };
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let connect = AnyConnectOptions::from_str(&url).map_err(open_error)?;
        let pragmas = if options.manual_checkpoints {
            format!("{SQLITE_PRAGMAS} PRAGMA wal_autocheckpoint = 0;")
        } else {
            SQLITE_PRAGMAS.to_owned()
        };
        let pool_options = || {
            let pragmas = pragmas.clone();
            AnyPoolOptions::new().after_connect(move |conn, _| {
                let pragmas = pragmas.clone();
                Box::pin(async move {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(pragmas))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
        };
        let read_pool = pool_options()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect.clone())
            .await
            .map_err(open_error)?;
        {
            let mut conn = read_pool.acquire().await?;
            migrate::run(&mut conn, Backend::Sqlite).await?;
        }
        // Opened by the writer's own thread (below), so that the connection's thread is
        // created there and shares its CPU.
        let write_pool = pool_options().max_connections(1).connect_lazy_with(connect);
        let (sender, receiver) = mpsc::channel(options.group_commit_size * 16);
        let group = options.group_commit_size.max(1);
        spawn_sqlite_writer(write_pool, receiver, group).map_err(open_error)?;
        Ok(Self {
            backend: Backend::Sqlite,
            pool: read_pool,
            writer: Writer::Queue(sender),
        })
    }

    /// Connects to PostgreSQL at `url` and brings its schema up to date.
    pub async fn open_postgres(url: &str, options: &DbOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|source| StoreError::Open {
                location: redact(url),
                source,
            })?;
        {
            let mut conn = pool.acquire().await?;
            migrate::run(&mut conn, Backend::Postgres).await?;
        }
        Ok(Self {
            backend: Backend::Postgres,
            pool,
            writer: Writer::Pool,
        })
    }

    /// Opens PostgreSQL when `database_url` is given, else SQLite in `data_dir`.
    pub async fn open(
        database_url: Option<&str>,
        data_dir: &Path,
        options: &DbOptions,
    ) -> Result<Self, StoreError> {
        match database_url {
            Some(url) => Self::open_postgres(url, options).await,
            None => {
                std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Open {
                    location: data_dir.display().to_string(),
                    source: sqlx::Error::Io(e),
                })?;
                Self::open_sqlite(data_dir, options).await
            }
        }
    }

    /// The engine behind this database.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A pooled connection for reads. Never write through it: writes go through [`Db::write`].
    pub async fn reader(&self) -> Result<PoolConnection<Any>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.reader().await?;
        conn.ping().await?;
        Ok(())
    }

    /// Copies the SQLite write-ahead log's frames into the database file as far as readers
    /// allow, without waiting for readers or the writer (a passive checkpoint).
    pub async fn checkpoint(&self) -> Result<Checkpoint, StoreError> {
        let mut conn = self.reader().await?;
        let (busy, log_frames, checkpointed): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&mut *conn)
                .await?;
        Ok(Checkpoint {
            busy: busy != 0,
            log_frames: log_frames.max(0) as u64,
            checkpointed: checkpointed.max(0) as u64,
        })
    }

    /// Runs `command` in a transaction and returns its result once committed. An `Err` from
    /// the command rolls back everything it wrote and nothing else.
    pub async fn write<T, E, F>(&self, command: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> WriteFuture<'c, T, E> + Send + 'static,
    {
        match &self.writer {
            Writer::Pool => {
                let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
                let value = command(&mut tx).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(value)
            }
            Writer::Queue(queue) => {
                let (sender, receiver) = oneshot::channel::<Result<T, E>>();
                let queued: QueuedWrite = Box::new(move |conn| {
                    Box::pin(async move {
                        let outcome = command(conn).await;
                        let succeeded = outcome.is_ok();
                        let deliver: Deliver = Box::new(move |commit_error| {
                            let result = match (outcome, commit_error) {
                                (Ok(_), Some(error)) => Err(E::from(error)),
                                (outcome, _) => outcome,
                            };
                            // The caller may have gone away (request cancelled); the write stands.
                            let _ = sender.send(result);
                        });
                        (succeeded, deliver)
                    })
                });
                queue
                    .send(Queued::Write(queued))
                    .await
                    .map_err(|_| E::from(StoreError::WriterGone))?;
                receiver
                    .await
                    .map_err(|_| E::from(StoreError::WriterGone))?
            }
        }
    }

    /// Runs `task` while no write is in progress and none can start: on SQLite, between two
    /// of the writer's transactions (what `task` reads of the database's files then stays
    /// as it is until `task` ends); on PostgreSQL, at once.
    pub async fn between_writes<T: Send + 'static>(
        &self,
        task: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, StoreError> {
        match &self.writer {
            Writer::Pool => Ok(task.await),
            Writer::Queue(queue) => {
                let (sender, receiver) = oneshot::channel();
                let queued = Box::pin(async move {
                    let _ = sender.send(task.await);
                });
                queue
                    .send(Queued::BetweenWrites(queued))
                    .await
                    .map_err(|_| StoreError::WriterGone)?;
                receiver.await.map_err(|_| StoreError::WriterGone)
            }
        }
    }

    /// Closes every connection, waiting for queued writes to finish.
    pub async fn close(self) {
        drop(self.writer);
        self.pool.close().await;
    }
}

/// Starts the writer on a thread of its own, bound to one CPU.
///
/// sqlx runs each statement on the connection's thread and hands the result back to the
/// task that asked. A hand-off to a thread on another CPU costs a cross-CPU wake-up, which on
/// virtual machines is often 40 µs or more, several times what a write statement takes; a
/// creation's dozen statements made that the writer's main cost. The connection's thread is
/// created by the thread that opens the connection and inherits its CPU binding, so the
/// writer and its connection share one CPU and hand statements back and forth in place.
fn spawn_sqlite_writer(
    pool: AnyPool,
    queue: mpsc::Receiver<Queued>,
    group: usize,
) -> Result<(), sqlx::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("opsdesk-writer".into())
        .spawn(move || {
            if let Some(cpu) = core_affinity::get_core_ids().and_then(|cpus| cpus.last().copied()) {
                core_affinity::set_for_current(cpu);
            }
            batch_scheduling();
            runtime.block_on(run_sqlite_writer(pool, queue, group));
        })?;
    Ok(())
}

/// Puts the calling thread, and the threads it starts from then on, under `SCHED_BATCH`.
///
/// A thread woken under the default policy usually preempts the one that woke it. The
/// connection's thread sends each statement's result as it finishes, so the writer woke, and
/// took the CPU back, once per statement of a multi-statement batch. A batch-scheduled writer
/// waits until the connection's thread blocks, and collects every result in one turn.
#[cfg(target_os = "linux")]
fn batch_scheduling() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `sched_setscheduler` with pid 0 changes only the calling thread, and `param`
    // is a valid, initialised `sched_param` that outlives the call.
    let status = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if status != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "SCHED_BATCH refused");
    }
}

#[cfg(not(target_os = "linux"))]
fn batch_scheduling() {}

async fn run_sqlite_writer(pool: AnyPool, mut queue: mpsc::Receiver<Queued>, group: usize) {
    let mut received = Vec::with_capacity(group);
    let mut batch = Vec::with_capacity(group);
    loop {
        if queue.recv_many(&mut received, group).await == 0 {
            break;
        }
        let mut conn = match pool.acquire().await {
            Ok(conn) => conn,
            Err(error) => {
                tracing::error!(%error, "database writer could not get its connection");
                // Dropping a command drops its result sender; the caller sees `WriterGone`.
                received.clear();
                continue;
            }
        };
        for queued in received.drain(..) {
            match queued {
                Queued::Write(write) => batch.push(write),
                Queued::BetweenWrites(task) => {
                    commit_logged(&mut conn, &mut batch).await;
                    task.await;
                }
            }
        }
        commit_logged(&mut conn, &mut batch).await;
    }
    pool.close().await;
}

async fn commit_logged(conn: &mut AnyConnection, batch: &mut Vec<QueuedWrite>) {
    if let Err(error) = commit_batch(conn, batch).await {
        tracing::error!(%error, "group commit failed");
    }
}

async fn commit_batch(
    conn: &mut AnyConnection,
    batch: &mut Vec<QueuedWrite>,
) -> Result<(), sqlx::Error> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut deliveries: Vec<Deliver> = Vec::with_capacity(batch.len());
    // Each command runs in its own savepoint. The statement that closes one command's
    // savepoint also opens the next one's (or commits), so the bookkeeping costs one round
    // trip to the connection's thread per command rather than two.
    let mut next_step = String::from("BEGIN IMMEDIATE; SAVEPOINT command");
    let mut outcome = Ok(());
    let count = batch.len();
    for (index, command) in batch.drain(..).enumerate() {
        if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe(std::mem::take(&mut next_step)))
            .execute(&mut *conn)
            .await
        {
            outcome = Err(error);
            break;
        }
        let (succeeded, deliver) = command(conn).await;
        deliveries.push(deliver);
        let finish = if succeeded {
            "RELEASE command"
        } else {
            "ROLLBACK TO command; RELEASE command"
        };
        next_step = if index + 1 == count {
            format!("{finish}; {REBUILD_STALE_ENTRIES}; COMMIT")
        } else {
            format!("{finish}; SAVEPOINT command")
        };
    }
    if outcome.is_ok() {
        outcome = sqlx::raw_sql(sqlx::AssertSqlSafe(next_step))
            .execute(&mut *conn)
            .await
            .map(|_| ());
    }
    if outcome.is_err() {
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
    }
    for deliver in deliveries {
        let commit_error = outcome
            .as_ref()
            .err()
            .map(|error| StoreError::Sql(sqlx::Error::Protocol(format!("commit failed: {error}"))));
        deliver(commit_error);
    }
    outcome
}

/// Hides the password in a database URL for messages and logs.
/// `url` with its password masked, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A new SQLite database in a folder of its own under the system's temporary folder.
#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "a unique folder name, not a time anything reads"
)]
pub(crate) async fn scratch_db(
    name: &str,
) -> Result<(Db, std::path::PathBuf), Box<dyn std::error::Error>> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("opsdesk-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = Db::open_sqlite(&dir, &DbOptions::default()).await?;
    Ok((db, dir))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::scratch_db;
    use crate::error::StoreError;

    #[tokio::test]
    async fn a_failing_command_rolls_back_alone_and_its_group_commits() {
        let (db, dir) = scratch_db("group-commit").await.unwrap();
        db.write(|conn| {
            Box::pin(async move {
                sqlx::query("CREATE TABLE numbers (n INTEGER NOT NULL)")
                    .execute(conn)
                    .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await
        .unwrap();
        // Queued together, so the writer commits them as one group.
        let writes = (0..10_i64).map(|n| {
            db.write(move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO numbers (n) VALUES ($1)")
                        .bind(n)
                        .execute(&mut *conn)
                        .await?;
                    if n % 3 == 0 {
                        return Err(StoreError::WriterGone);
                    }
                    Ok(n)
                })
            })
        });
        let results = futures::future::join_all(writes).await;
        let committed: Vec<i64> = results.into_iter().filter_map(Result::ok).collect();
        assert_eq!(committed, [1, 2, 4, 5, 7, 8]);
        let mut conn = db.reader().await.unwrap();
        let stored: Vec<(i64,)> = sqlx::query_as("SELECT n FROM numbers ORDER BY n")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let stored: Vec<i64> = stored.into_iter().map(|(n,)| n).collect();
        assert_eq!(stored, committed);
        drop(conn);
        db.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://ops:secret@db:5432/opsdesk"),
            "postgres://ops:***@db:5432/opsdesk"
        );
        assert_eq!(
            super::redact("postgres://db/opsdesk"),
            "postgres://db/opsdesk"
        );
    }
}
