//! Work for host agents: approved scripts, runbook runs, the queue agents poll, and the
//! ways to reach an item remotely with who connected from which ticket.

use sqlx::AnyConnection;

use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ScriptRow {
    pub id: i64,
    pub hash: String,
    pub language: String,
    pub body: String,
    pub article_id: Option<i64>,
    pub step: Option<i64>,
    pub first_seen_at: i64,
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
}

const SCRIPT_COLUMNS: &str =
    "id, hash, language, body, article_id, step, first_seen_at, approved_by, approved_at";

/// Records a script version the first time a runbook holds it; a known one stays as it is.
pub async fn note_script(
    conn: &mut AnyConnection,
    hash: &str,
    language: &str,
    body: &str,
    article_id: i64,
    step: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scripts (hash, language, body, article_id, step, first_seen_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING",
    )
    .bind(hash)
    .bind(language)
    .bind(body)
    .bind(article_id)
    .bind(step)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn script(conn: &mut AnyConnection, hash: &str) -> Result<Option<ScriptRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("SELECT {SCRIPT_COLUMNS} FROM scripts WHERE hash = $1"))
            .bind(hash)
            .fetch_optional(conn)
            .await?,
    )
}

/// Every script version, those waiting for approval first, newest first.
pub async fn scripts(conn: &mut AnyConnection) -> Result<Vec<ScriptRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {SCRIPT_COLUMNS} FROM scripts \
         ORDER BY CASE WHEN approved_at IS NULL THEN 0 ELSE 1 END, first_seen_at DESC, hash"
    ))
    .fetch_all(conn)
    .await?)
}

/// Approves a script version; false when it was approved already.
pub async fn approve_script(
    conn: &mut AnyConnection,
    hash: &str,
    by: &str,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE scripts SET approved_by = $2, approved_at = $3 \
         WHERE hash = $1 AND approved_at IS NULL",
    )
    .bind(hash)
    .bind(by)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

/// Withdraws an approval; false when there was none.
pub async fn withdraw_script(conn: &mut AnyConnection, hash: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE scripts SET approved_by = NULL, approved_at = NULL \
         WHERE hash = $1 AND approved_at IS NOT NULL",
    )
    .bind(hash)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub article_id: i64,
    pub steps: String,
    pub ticket_id: i64,
    pub ci_id: i64,
    pub agent_id: i64,
    pub state: String,
    pub requested_by: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const RUN_COLUMNS: &str = "id, article_id, steps, ticket_id, ci_id, agent_id, state, \
                           requested_by, created_at, finished_at";

pub struct NewRun<'a> {
    pub article_id: i64,
    pub steps: &'a str,
    pub ticket_id: i64,
    pub ci_id: i64,
    pub agent_id: i64,
    pub requested_by: &'a str,
}

pub async fn insert_run(
    conn: &mut AnyConnection,
    run: &NewRun<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO runbook_runs (article_id, steps, ticket_id, ci_id, agent_id, state, \
         requested_by, created_at) VALUES ($1, $2, $3, $4, $5, 'running', $6, $7) RETURNING id",
    )
    .bind(run.article_id)
    .bind(run.steps)
    .bind(run.ticket_id)
    .bind(run.ci_id)
    .bind(run.agent_id)
    .bind(run.requested_by)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn run(conn: &mut AnyConnection, id: i64) -> Result<Option<RunRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("SELECT {RUN_COLUMNS} FROM runbook_runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn runs_of_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Vec<RunRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {RUN_COLUMNS} FROM runbook_runs WHERE ticket_id = $1 ORDER BY id DESC"
    ))
    .bind(ticket_id)
    .fetch_all(conn)
    .await?)
}

pub async fn finish_run(
    conn: &mut AnyConnection,
    id: i64,
    state: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE runbook_runs SET state = $2, finished_at = $3 WHERE id = $1 AND state = 'running'",
    )
    .bind(id)
    .bind(state)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WorkRow {
    pub id: i64,
    pub agent_id: i64,
    pub ticket_id: Option<i64>,
    pub run_id: Option<i64>,
    pub step: Option<i64>,
    pub kind: String,
    pub script_hash: Option<String>,
    pub timeout_seconds: Option<i64>,
    pub diagnostic: Option<String>,
    pub target: Option<String>,
    pub state: String,
    pub requested_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<i64>,
    pub output: Option<String>,
    pub truncated: i64,
    pub result: Option<String>,
}

const WORK_COLUMNS: &str = "id, agent_id, ticket_id, run_id, step, kind, script_hash, \
                            timeout_seconds, diagnostic, target, state, requested_by, created_at, \
                            started_at, finished_at, exit_code, duration_ms, output, truncated, result";

/// A piece of work to queue: a script step of a run, or a diagnostic.
pub struct NewWork<'a> {
    pub agent_id: i64,
    pub ticket_id: Option<i64>,
    pub run_id: Option<i64>,
    pub step: Option<i64>,
    pub kind: &'a str,
    pub script_hash: Option<&'a str>,
    pub timeout_seconds: Option<i64>,
    pub diagnostic: Option<&'a str>,
    pub target: Option<&'a str>,
    pub requested_by: &'a str,
}

pub async fn queue_work(
    conn: &mut AnyConnection,
    work: &NewWork<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO agent_work (agent_id, ticket_id, run_id, step, kind, script_hash, \
         timeout_seconds, diagnostic, target, state, requested_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10, $11) RETURNING id",
    )
    .bind(work.agent_id)
    .bind(work.ticket_id)
    .bind(work.run_id)
    .bind(work.step)
    .bind(work.kind)
    .bind(work.script_hash)
    .bind(work.timeout_seconds)
    .bind(work.diagnostic)
    .bind(work.target)
    .bind(work.requested_by)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn work(conn: &mut AnyConnection, id: i64) -> Result<Option<WorkRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("SELECT {WORK_COLUMNS} FROM agent_work WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// The work of a run, step by step.
pub async fn work_of_run(
    conn: &mut AnyConnection,
    run_id: i64,
) -> Result<Vec<WorkRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {WORK_COLUMNS} FROM agent_work WHERE run_id = $1 ORDER BY id"
    ))
    .bind(run_id)
    .fetch_all(conn)
    .await?)
}

/// Hands an agent its queued work, oldest first, marking it running.
pub async fn start_queued_work(
    conn: &mut AnyConnection,
    agent_id: i64,
    limit: i64,
    now: i64,
) -> Result<Vec<WorkRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "UPDATE agent_work SET state = 'running', started_at = $2 \
         WHERE id IN (SELECT id FROM agent_work WHERE agent_id = $1 AND state = 'queued' \
                      ORDER BY id LIMIT $3) \
         RETURNING {WORK_COLUMNS}"
    ))
    .bind(agent_id)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// What an agent answered for one piece of work.
pub struct Finished<'a> {
    pub state: &'a str,
    pub exit_code: Option<i64>,
    pub duration_ms: i64,
    pub output: &'a str,
    pub truncated: bool,
    pub result: Option<&'a str>,
}

/// Records the end of running work; false when it was not running (answered already).
pub async fn finish_work(
    conn: &mut AnyConnection,
    id: i64,
    finished: &Finished<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE agent_work SET state = $2, exit_code = $3, duration_ms = $4, output = $5, \
         truncated = $6, result = $7, finished_at = $8 WHERE id = $1 AND state = 'running'",
    )
    .bind(id)
    .bind(finished.state)
    .bind(finished.exit_code)
    .bind(finished.duration_ms)
    .bind(finished.output)
    .bind(i64::from(finished.truncated))
    .bind(finished.result)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

/// Running work whose agent never answered by `deadline` (started before it, counting each
/// piece's own timeout): the ids, to be recorded as timed out.
pub async fn overdue_work(
    conn: &mut AnyConnection,
    now: i64,
    grace_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM agent_work WHERE state = 'running' \
         AND started_at + COALESCE(timeout_seconds, 60) * 1000 + $2 < $1 ORDER BY id",
    )
    .bind(now)
    .bind(grace_ms)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AccessRow {
    pub id: i64,
    pub ci_id: i64,
    pub method: String,
    pub address: String,
    pub username: Option<String>,
}

pub async fn access_of(conn: &mut AnyConnection, ci_id: i64) -> Result<Vec<AccessRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, ci_id, method, address, username FROM ci_access WHERE ci_id = $1 \
         ORDER BY method, id",
    )
    .bind(ci_id)
    .fetch_all(conn)
    .await?)
}

/// Replaces how an item is reached.
pub async fn set_access(
    conn: &mut AnyConnection,
    ci_id: i64,
    access: &[(String, String, Option<String>)],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM ci_access WHERE ci_id = $1")
        .bind(ci_id)
        .execute(&mut *conn)
        .await?;
    for (method, address, username) in access {
        sqlx::query(
            "INSERT INTO ci_access (ci_id, method, address, username) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (ci_id, method, address) DO NOTHING",
        )
        .bind(ci_id)
        .bind(method)
        .bind(address)
        .bind(username.as_deref())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub ticket_id: i64,
    pub ci_id: i64,
    pub method: String,
    pub uri: String,
    pub actor: String,
    pub started_at: i64,
    pub note: Option<String>,
    pub noted_at: Option<i64>,
}

pub struct NewSession<'a> {
    pub ticket_id: i64,
    pub ci_id: i64,
    pub method: &'a str,
    pub uri: &'a str,
    pub user_id: Option<i64>,
    pub actor: &'a str,
}

pub async fn insert_session(
    conn: &mut AnyConnection,
    session: &NewSession<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO remote_sessions (ticket_id, ci_id, method, uri, user_id, actor, started_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(session.ticket_id)
    .bind(session.ci_id)
    .bind(session.method)
    .bind(session.uri)
    .bind(session.user_id)
    .bind(session.actor)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn session(conn: &mut AnyConnection, id: i64) -> Result<Option<SessionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, ticket_id, ci_id, method, uri, actor, started_at, note, noted_at \
         FROM remote_sessions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn note_session(
    conn: &mut AnyConnection,
    id: i64,
    note: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE remote_sessions SET note = $2, noted_at = $3 WHERE id = $1")
        .bind(id)
        .bind(note)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}
