//! What a change does beyond itself: its items' monitors held in maintenance, the
//! incidents after it, "what changed?", and how changes went.

use sqlx::AnyConnection;

use super::in_slices;
use crate::error::StoreError;

/// The maintenance windows agreed for item `ci_id` that span `at`: those of its monitors (by
/// id or tag) that recur, other than those changes made.
pub async fn agreed_maintenance(
    conn: &mut AnyConnection,
    ci_id: i64,
    at: i64,
) -> Result<Vec<crate::monitors::MaintenanceRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT w.monitor_id, w.tag, w.starts_at, w.ends_at, w.reason, w.schedule, w.timezone, \
         w.duration_s FROM maintenance_windows w WHERE w.schedule IS NOT NULL \
         AND w.change_id IS NULL AND w.starts_at <= $2 AND w.ends_at > $2 \
         AND (w.monitor_id IN (SELECT id FROM monitors WHERE ci_id = $1) \
         OR w.tag IN (SELECT t.tag FROM monitor_tags t JOIN monitors m ON m.id = t.monitor_id \
         WHERE m.ci_id = $1)) LIMIT 100",
    )
    .bind(ci_id)
    .bind(at)
    .fetch_all(conn)
    .await?)
}

/// Holds the monitors of change `id`'s items in maintenance over `[start, end)`; returns
/// how many windows were made. Earlier windows of the change are replaced.
pub async fn hold_monitors(
    conn: &mut AnyConnection,
    id: i64,
    start: i64,
    end: i64,
    reason: &str,
    now: i64,
) -> Result<u64, StoreError> {
    release_monitors(conn, id).await?;
    let done = sqlx::query(
        "INSERT INTO maintenance_windows (monitor_id, starts_at, ends_at, reason, created_at, \
         change_id) SELECT DISTINCT m.id, $2, $3, $4, $5, $1 FROM change_cis l \
         JOIN monitors m ON m.ci_id = l.ci_id WHERE l.change_id = $1",
    )
    .bind(id)
    .bind(start)
    .bind(end)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Removes the maintenance windows change `id` made.
pub async fn release_monitors(conn: &mut AnyConnection, id: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM maintenance_windows WHERE change_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Changes touching item `ci_id` whose window began at or before `at` and ended no more
/// than their watch hours before it: what an incident opened at `at` may come from.
pub async fn changes_before(
    conn: &mut AnyConnection,
    ci_id: i64,
    at: i64,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT c.id FROM change_cis l JOIN changes c ON c.id = l.change_id \
         WHERE l.ci_id = $1 AND c.planned_start <= $2 \
         AND COALESCE(c.actual_end, c.planned_end) + c.watch_hours * 3600000 >= $2 \
         AND c.state IN ('implementing', 'review', 'closed', 'failed') ORDER BY c.id",
    )
    .bind(ci_id)
    .bind(at)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Links an incident to a change as possibly caused by it; false when it was already.
pub async fn link_incident(
    conn: &mut AnyConnection,
    change_id: i64,
    ticket_id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO change_incidents (change_id, ticket_id, linked_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(change_id)
    .bind(ticket_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A ticket beside a change: an incident it may have caused.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IncidentRow {
    pub id: i64,
    pub ticket_type: String,
    pub number: i64,
    pub title: String,
    pub status: String,
    pub created_at: i64,
}

pub async fn incidents_of(
    conn: &mut AnyConnection,
    change_id: i64,
) -> Result<Vec<IncidentRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT t.id, t.ticket_type, t.number, t.title, t.status, t.created_at \
         FROM change_incidents l JOIN tickets t ON t.id = l.ticket_id \
         WHERE l.change_id = $1 ORDER BY t.created_at, t.id",
    )
    .bind(change_id)
    .fetch_all(conn)
    .await?)
}

/// The changes an incident was linked to: `(id, title, state)`.
pub async fn changes_of_incident(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT c.id, c.title, c.state FROM change_incidents l JOIN changes c ON c.id = l.change_id \
         WHERE l.ticket_id = $1 ORDER BY c.id",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?)
}

/// Changes whose window touched `cis` between `from` and `to`, for "what changed?":
/// `(change id, title, state, start, end, item)`.
pub async fn changes_on_between(
    conn: &mut AnyConnection,
    cis: &[i64],
    from: i64,
    to: i64,
) -> Result<Vec<(i64, String, String, i64, i64, i64)>, StoreError> {
    in_slices(conn, cis, &[from, to], |list| {
        format!(
            "SELECT c.id, c.title, c.state, c.planned_start, \
             COALESCE(c.actual_end, c.planned_end), l.ci_id FROM change_cis l \
             JOIN changes c ON c.id = l.change_id WHERE l.ci_id IN ({list}) \
             AND c.planned_start <= $2 AND COALESCE(c.actual_end, c.planned_end) >= $1 \
             AND c.state IN ('implementing', 'review', 'closed', 'failed', 'scheduled')"
        )
    })
    .await
}

/// Inventory changes of `cis` between `from` and `to`: `(item, at, section, summary)`.
pub async fn inventory_changes_between(
    conn: &mut AnyConnection,
    cis: &[i64],
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64, String, String)>, StoreError> {
    in_slices(conn, cis, &[from, to], |list| {
        format!(
            "SELECT ci_id, at, section, summary FROM ci_inventory_changes \
             WHERE ci_id IN ({list}) AND at >= $1 AND at <= $2 ORDER BY at DESC LIMIT 200"
        )
    })
    .await
}

/// Over changes whose window ended in `[from, to)`: how many finished (closed or failed),
/// how many failed, how many have an incident linked, and how many did either.
pub async fn outcomes(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
) -> Result<(i64, i64, i64, i64), StoreError> {
    Ok(sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(failed), 0), COALESCE(SUM(linked), 0), \
         COALESCE(SUM(CASE WHEN failed = 1 OR linked = 1 THEN 1 ELSE 0 END), 0) FROM \
         (SELECT CASE WHEN c.state = 'failed' THEN 1 ELSE 0 END AS failed, \
         CASE WHEN EXISTS (SELECT 1 FROM change_incidents l WHERE l.change_id = c.id) \
         THEN 1 ELSE 0 END AS linked FROM changes c WHERE c.state IN ('closed', 'failed') \
         AND c.planned_end >= $1 AND c.planned_end < $2) finished",
    )
    .bind(from)
    .bind(to)
    .fetch_one(conn)
    .await?)
}
