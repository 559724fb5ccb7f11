//! Read-only queries behind the staff dashboard and the monitoring pages: a monitor's
//! recent checks and outages, and uptime per period for many monitors at once, so a page
//! runs one query for all its rows instead of one per row.

use sqlx::AnyConnection;

use crate::accounts::placeholders;
use crate::error::StoreError;

/// One stored check result.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckRow {
    pub at: i64,
    pub ok: i64,
    pub latency_ms: Option<i64>,
    pub error: Option<String>,
    pub maintenance: i64,
}

/// A monitor's latest raw check results, newest first.
pub async fn recent_checks(
    conn: &mut AnyConnection,
    monitor_id: i64,
    limit: i64,
) -> Result<Vec<CheckRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT at, ok, latency_ms, error, maintenance FROM monitor_results \
         WHERE monitor_id = $1 ORDER BY at DESC LIMIT $2",
    )
    .bind(monitor_id)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// An outage with the incident opened for it (type and number, when there is one).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutageIncidentRow {
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub failures: i64,
    pub first_error: Option<String>,
    pub ticket_type: Option<String>,
    pub ticket_number: Option<i64>,
}

/// A monitor's latest outages, newest first, with their incidents: of the restricted ones
/// only those of `restricted` groups (`None`: all), the others' outages shown without one.
pub async fn recent_outages(
    conn: &mut AnyConnection,
    monitor_id: i64,
    limit: i64,
    restricted: Option<&[i64]>,
) -> Result<Vec<OutageIncidentRow>, StoreError> {
    let visible = crate::tickets::restricted_visible("t", restricted);
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT o.started_at, o.ended_at, o.failures, o.first_error, \
                t.ticket_type, t.number AS ticket_number \
         FROM monitor_outages o LEFT JOIN tickets t ON t.id = o.ticket_id AND {visible} \
         WHERE o.monitor_id = $1 ORDER BY o.started_at DESC LIMIT $2"
    )))
    .bind(monitor_id)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Checks, successes and summed latency of one monitor in one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct PeriodTally {
    pub monitor_id: i64,
    /// Start of the period (a multiple of its length since the epoch).
    pub period: i64,
    pub checks: i64,
    pub ok: i64,
    pub latency_sum: i64,
}

/// Results of the monitors `ids` in `[from, to)` per period of `period_ms` (an hour or a
/// multiple of it), raw and rolled up, maintenance excluded.
pub async fn tallies(
    conn: &mut AnyConnection,
    ids: &[i64],
    from: i64,
    to: i64,
    period_ms: i64,
) -> Result<Vec<PeriodTally>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let raw_ids = placeholders(4, ids.len());
    let rollup_ids = placeholders(4 + ids.len(), ids.len());
    let mut query = sqlx::query_as(sql!(
        // PostgreSQL sums BIGINT into NUMERIC; the casts keep both dialects on BIGINT.
        "SELECT monitor_id, period, CAST(SUM(checks) AS BIGINT) AS checks, \
                CAST(SUM(ok) AS BIGINT) AS ok, CAST(SUM(latency_sum) AS BIGINT) AS latency_sum \
         FROM ( \
           SELECT monitor_id, (at / $3) * $3 AS period, CAST(1 AS BIGINT) AS checks, ok, \
                  COALESCE(latency_ms, 0) AS latency_sum \
           FROM monitor_results WHERE at >= $1 AND at < $2 AND maintenance = 0 \
             AND monitor_id IN ({raw_ids}) \
           UNION ALL \
           SELECT monitor_id, (hour / $3) * $3 AS period, checks, ok, latency_sum \
           FROM monitor_rollups WHERE hour >= $1 AND hour < $2 AND monitor_id IN ({rollup_ids}) \
         ) t GROUP BY monitor_id, period ORDER BY monitor_id, period"
    ))
    .bind(from)
    .bind(to)
    .bind(period_ms);
    for id in ids.iter().chain(ids) {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(conn).await?)
}
