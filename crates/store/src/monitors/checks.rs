//! Checks: leasing due monitors to nodes, recording results and check states, and the
//! hourly and daily roll-ups uptime figures come from.

use sqlx::AnyConnection;

use super::{COLUMNS, MonitorRow};
use crate::db::Backend;
use crate::error::StoreError;

/// Leases up to `limit` due, unpaused monitors to `node` until their check's timeout plus
/// `slack_ms` has passed. A lease still held by another live node means its check may be
/// running there; one that ran out, or whose node stopped renewing its row (it died), is
/// taken over.
pub async fn claim_due(
    conn: &mut AnyConnection,
    backend: Backend,
    node: &str,
    now: i64,
    slack_ms: i64,
    limit: i64,
) -> Result<Vec<MonitorRow>, StoreError> {
    let locking = match backend {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let gone = crate::nodes::holder_gone("lease_owner", "$1", "$3");
    Ok(sqlx::query_as(sql!(
        "UPDATE monitors SET lease_owner = $1, lease_until = $3 + timeout_s * 1000 + $2 \
         WHERE id IN (SELECT id FROM monitors \
             WHERE next_check_at <= $3 AND paused = 0 \
             AND (lease_until IS NULL OR lease_until < $3 OR {gone}) \
             ORDER BY next_check_at LIMIT $4 {locking}) \
         RETURNING {COLUMNS}"
    ))
    .bind(node)
    .bind(slack_ms)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The earliest time any unpaused monitor is due, to sleep until then.
pub async fn next_due(conn: &mut AnyConnection) -> Result<Option<i64>, StoreError> {
    let (next,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(next_check_at) FROM monitors WHERE paused = 0")
            .fetch_one(conn)
            .await?;
    Ok(next)
}

/// A monitor's check state after a check or ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckUpdate {
    pub up: Option<i64>,
    pub fail_streak: i64,
    pub ok_streak: i64,
    pub history: i64,
    pub seen: i64,
    pub flapping: i64,
    pub last_check_at: Option<i64>,
    pub last_latency_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_ping_at: Option<i64>,
    pub started_at: Option<i64>,
    pub ping_failed: i64,
    pub open_outage_id: Option<i64>,
    pub next_check_at: i64,
}

/// Writes a new check state if the monitor is still at `state_version` (nobody recorded
/// a result in between) and, when `lease_owner` is given, still leased to that node; releases
/// the lease. Returns whether it did: a `false` means the result is stale and must be dropped.
pub async fn update_state(
    conn: &mut AnyConnection,
    id: i64,
    state_version: i64,
    lease_owner: Option<&str>,
    update: &CheckUpdate,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE monitors SET up = $1, fail_streak = $2, ok_streak = $3, history = $4, seen = $5, \
         flapping = $6, last_check_at = $7, last_latency_ms = $8, last_error = $9, \
         last_ping_at = $10, started_at = $11, ping_failed = $12, open_outage_id = $13, \
         next_check_at = $14, updated_at = $15, state_version = state_version + 1, \
         lease_owner = NULL, lease_until = NULL \
         WHERE id = $16 AND state_version = $17 AND ($18 IS NULL OR lease_owner = $18)",
    )
    .bind(update.up)
    .bind(update.fail_streak)
    .bind(update.ok_streak)
    .bind(update.history)
    .bind(update.seen)
    .bind(update.flapping)
    .bind(update.last_check_at)
    .bind(update.last_latency_ms)
    .bind(&update.last_error)
    .bind(update.last_ping_at)
    .bind(update.started_at)
    .bind(update.ping_failed)
    .bind(update.open_outage_id)
    .bind(update.next_check_at)
    .bind(now)
    .bind(id)
    .bind(state_version)
    .bind(lease_owner)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Sets when a monitor is next due.
pub async fn set_next_check(conn: &mut AnyConnection, id: i64, at: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE monitors SET next_check_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores one check result; one taken during maintenance does not count in uptime.
pub async fn insert_result(
    conn: &mut AnyConnection,
    monitor_id: i64,
    at: i64,
    ok: bool,
    latency_ms: Option<i64>,
    error: Option<&str>,
    maintenance: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO monitor_results (monitor_id, at, ok, latency_ms, error, maintenance) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(monitor_id)
    .bind(at)
    .bind(i64::from(ok))
    .bind(latency_ms)
    .bind(error)
    .bind(i64::from(maintenance))
    .execute(conn)
    .await?;
    Ok(())
}

/// Checks and successes with summed and worst latency over a period, for uptime figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Tally {
    pub checks: i64,
    pub ok: i64,
    pub latency_sum: i64,
    pub latency_max: i64,
}

/// Raw results per hour in `[from, to)`, merged with the roll-ups of hours already rolled
/// up; each row is `(hour start, tally)`. Results inside maintenance windows are left out.
pub async fn hourly(
    conn: &mut AnyConnection,
    monitor_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Tally)>, StoreError> {
    let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
        // PostgreSQL sums BIGINT into NUMERIC; the casts keep both dialects on BIGINT.
        "SELECT hour, CAST(SUM(checks) AS BIGINT), CAST(SUM(ok) AS BIGINT), \
                CAST(SUM(latency_sum) AS BIGINT), CAST(MAX(latency_max) AS BIGINT) FROM ( \
           SELECT (r.at / 3600000) * 3600000 AS hour, CAST(1 AS BIGINT) AS checks, r.ok AS ok, \
                  COALESCE(r.latency_ms, 0) AS latency_sum, COALESCE(r.latency_ms, 0) AS latency_max \
           FROM monitor_results r WHERE r.monitor_id = $1 AND r.at >= $2 AND r.at < $3 \
             AND r.maintenance = 0 \
           UNION ALL \
           SELECT hour, checks, ok, latency_sum, latency_max FROM monitor_rollups \
           WHERE monitor_id = $1 AND hour >= $2 AND hour < $3 \
         ) t GROUP BY hour ORDER BY hour",
    )
    .bind(monitor_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(hour, checks, ok, latency_sum, latency_max)| {
            (
                hour,
                Tally {
                    checks,
                    ok,
                    latency_sum,
                    latency_max,
                },
            )
        })
        .collect())
}

/// Rolls raw results older than `before` (an hour boundary) up into hourly rows and deletes
/// them; returns how many raw results went.
pub async fn roll_up(conn: &mut AnyConnection, before: i64) -> Result<u64, StoreError> {
    sqlx::query(
        "INSERT INTO monitor_rollups (monitor_id, hour, checks, ok, latency_sum, latency_max) \
         SELECT monitor_id, (at / 3600000) * 3600000, COUNT(*), SUM(ok), \
                SUM(COALESCE(latency_ms, 0)), MAX(COALESCE(latency_ms, 0)) \
         FROM monitor_results r WHERE at < $1 AND r.maintenance = 0 \
         GROUP BY monitor_id, (at / 3600000) * 3600000 \
         ON CONFLICT (monitor_id, hour) DO UPDATE SET checks = monitor_rollups.checks + excluded.checks, \
           ok = monitor_rollups.ok + excluded.ok, latency_sum = monitor_rollups.latency_sum + excluded.latency_sum, \
           latency_max = CASE WHEN excluded.latency_max > monitor_rollups.latency_max \
                         THEN excluded.latency_max ELSE monitor_rollups.latency_max END",
    )
    .bind(before)
    .execute(&mut *conn)
    .await?;
    let deleted = sqlx::query("DELETE FROM monitor_results WHERE at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(deleted.rows_affected())
}

/// Checks and successes per monitor and UTC day in `[from, to)` for an organization's
/// monitors, raw and rolled up, maintenance excluded: `(monitor_id, day start, checks, ok)`.
pub async fn daily(
    conn: &mut AnyConnection,
    organization_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64, i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT monitor_id, day, CAST(SUM(checks) AS BIGINT), CAST(SUM(ok) AS BIGINT) FROM ( \
           SELECT r.monitor_id, (r.at / 86400000) * 86400000 AS day, CAST(1 AS BIGINT) AS checks, r.ok AS ok \
           FROM monitor_results r JOIN monitors m ON m.id = r.monitor_id \
           WHERE m.organization_id = $1 AND r.at >= $2 AND r.at < $3 AND r.maintenance = 0 \
           UNION ALL \
           SELECT u.monitor_id, (u.hour / 86400000) * 86400000 AS day, u.checks, u.ok \
           FROM monitor_rollups u JOIN monitors m ON m.id = u.monitor_id \
           WHERE m.organization_id = $1 AND u.hour >= $2 AND u.hour < $3 \
         ) t GROUP BY monitor_id, day",
    )
    .bind(organization_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?)
}
