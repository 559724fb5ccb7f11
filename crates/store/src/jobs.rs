//! The durable job outbox: side effects recorded in the same transaction as the change that
//! causes them, then leased by workers. A lease that runs out (a node died) makes the job
//! claimable again, so work is never lost; leases are exclusive, so it runs on one node at a time.

use sqlx::AnyConnection;

use crate::batch::Batch;
use crate::db::Backend;
use crate::error::StoreError;

/// A job as a worker sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: i64,
    pub locked_until: Option<i64>,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const JOB_COLUMNS: &str = "id, kind, payload, status, attempts, max_attempts, run_at, \
     locked_until, locked_by, last_error, created_at, updated_at";

/// Adds a job to `batch`; it is queued in the caller's transaction when the batch runs.
pub fn queue(
    batch: &mut Batch,
    kind: &str,
    payload: &str,
    run_at: i64,
    max_attempts: i64,
    now: i64,
) {
    batch
        .push(
            "INSERT INTO jobs (kind, payload, status, max_attempts, run_at, created_at, updated_at) \
             VALUES ($1, $2, 'queued', $3, $4, $5, $5)",
        )
        .bind(kind)
        .bind(payload)
        .bind(max_attempts)
        .bind(run_at)
        .bind(now);
}

/// Whether [`claim`] would find a job now. A read, so a node woken with nothing to do does
/// not take the writer.
pub async fn any_claimable(
    conn: &mut AnyConnection,
    node: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let lapsed = lapsed("$2", "$1");
    let found: Option<(i64,)> = sqlx::query_as(sql!(
        "SELECT id FROM jobs WHERE (status = 'queued' AND run_at <= $1) OR {lapsed} LIMIT 1"
    ))
    .bind(now)
    .bind(node)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// The SQL condition that a job is running under a lease that lapsed at `now`: it ran out,
/// or its node, another than `node`, stopped renewing its row (it died mid-run).
fn lapsed(node: &str, now: &str) -> String {
    let gone = crate::nodes::holder_gone("locked_by", node, now);
    format!("(status = 'running' AND (locked_until < {now} OR {gone}))")
}

/// Leases up to `limit` due jobs to `node` until `now + lease_ms`, counting an attempt each.
/// Jobs whose lease lapsed are taken over. Pages go first: someone is being woken, and a
/// burst of incidents queues other mail beside them.
pub async fn claim(
    conn: &mut AnyConnection,
    backend: Backend,
    node: &str,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<JobRow>, StoreError> {
    // PostgreSQL nodes claim concurrently, so they skip rows another node is locking;
    // SQLite has a single writer and no row locks.
    let locking = match backend {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let lapsed = lapsed("$2", "$3");
    let sql = format!(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $1, \
         locked_by = $2, updated_at = $3 \
         WHERE id IN (SELECT id FROM jobs \
             WHERE (status = 'queued' AND run_at <= $3) OR {lapsed} \
             ORDER BY CASE WHEN kind LIKE 'page.%' THEN 0 ELSE 1 END, run_at LIMIT $4 {locking}) \
         RETURNING {JOB_COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now + lease_ms)
        .bind(node)
        .bind(now)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

/// Marks a leased job done; `false` if the lease was lost to another node meanwhile.
pub async fn complete(
    conn: &mut AnyConnection,
    id: i64,
    node: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE jobs SET status = 'done', locked_until = NULL, last_error = NULL, updated_at = $1 \
         WHERE id = $2 AND status = 'running' AND locked_by = $3",
    )
    .bind(now)
    .bind(id)
    .bind(node)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Extends a running job's lease; `false` if it was lost to another node meanwhile.
pub async fn renew(
    conn: &mut AnyConnection,
    id: i64,
    node: &str,
    until: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE jobs SET locked_until = $1 WHERE id = $2 AND status = 'running' AND locked_by = $3",
    )
    .bind(until)
    .bind(id)
    .bind(node)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Records a failed attempt: queued again at `retry_at`, or dead when `retry_at` is `None`.
pub async fn fail(
    conn: &mut AnyConnection,
    id: i64,
    node: &str,
    error: &str,
    retry_at: Option<i64>,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE jobs SET status = $1, run_at = COALESCE($2, run_at), locked_until = NULL, \
         last_error = $3, updated_at = $4 WHERE id = $5 AND status = 'running' AND locked_by = $6",
    )
    .bind(if retry_at.is_some() { "queued" } else { "dead" })
    .bind(retry_at)
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(node)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Jobs in one status, newest first, with id below `before`.
pub async fn list(
    conn: &mut AnyConnection,
    status: Option<&str>,
    before: i64,
    limit: i64,
) -> Result<Vec<JobRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE id < $1 AND ($2 IS NULL OR status = $2) \
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(before)
    .bind(status)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<JobRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Puts a dead job back in the queue with a fresh set of attempts.
pub async fn retry_dead(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $1, updated_at = $1 \
         WHERE id = $2 AND status = 'dead'",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// How many jobs are in each status, for metrics.
pub async fn counts(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
            .fetch_all(conn)
            .await?,
    )
}

/// The earliest time a queued job is due, so an idle worker can sleep until then.
pub async fn next_due(conn: &mut AnyConnection) -> Result<Option<i64>, StoreError> {
    let (next,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(run_at) FROM jobs WHERE status = 'queued'")
            .fetch_one(conn)
            .await?;
    Ok(next)
}
