//! Outages: periods a monitor was down, and the incident opened for each.

use sqlx::AnyConnection;

use crate::db::Backend;
use crate::error::StoreError;

/// Points a monitor at its open outage (or none).
pub async fn set_open_outage(
    conn: &mut AnyConnection,
    id: i64,
    outage_id: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE monitors SET open_outage_id = $1 WHERE id = $2")
        .bind(outage_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// An outage: a period a monitor was down, and the incident opened for it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutageRow {
    pub id: i64,
    pub monitor_id: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub failures: i64,
    pub first_error: Option<String>,
    pub ticket_id: Option<i64>,
    pub ticket_resolved: i64,
    /// When failures were last noted on the incident's timeline; `None` before the first note.
    pub noted_at: Option<i64>,
    /// The failure count the last note (or the incident's description) accounted for.
    pub noted_failures: i64,
    /// The error the incident last reported: the first error until a note says otherwise.
    pub noted_error: Option<String>,
}

const OUTAGE_COLUMNS: &str = "id, monitor_id, started_at, ended_at, failures, first_error, \
    ticket_id, ticket_resolved, noted_at, noted_failures, noted_error";

/// Opens an outage. The database allows one open outage per monitor.
pub async fn open_outage(
    conn: &mut AnyConnection,
    monitor_id: i64,
    started_at: i64,
    error: Option<&str>,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO monitor_outages (monitor_id, started_at, first_error, noted_error) \
         VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(monitor_id)
    .bind(started_at)
    .bind(error)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// The monitor's latest outage if it ended at or after `since`: a target going down again
/// that soon continues it rather than starting another (one incident for a flapping target).
pub async fn recent_outage(
    conn: &mut AnyConnection,
    monitor_id: i64,
    since: i64,
) -> Result<Option<OutageRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {OUTAGE_COLUMNS} FROM monitor_outages \
         WHERE monitor_id = $1 AND ended_at IS NOT NULL AND ended_at >= $2 \
         ORDER BY ended_at DESC LIMIT 1"
    ))
    .bind(monitor_id)
    .bind(since)
    .fetch_optional(conn)
    .await?)
}

/// Opens an ended outage again.
pub async fn reopen_outage(conn: &mut AnyConnection, outage_id: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE monitor_outages SET ended_at = NULL, failures = failures + 1 WHERE id = $1",
    )
    .bind(outage_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts one more failed check in an open outage; returns the outage as it now is.
pub async fn count_failure(
    conn: &mut AnyConnection,
    outage_id: i64,
) -> Result<Option<OutageRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "UPDATE monitor_outages SET failures = failures + 1 WHERE id = $1 \
         RETURNING {OUTAGE_COLUMNS}"
    ))
    .bind(outage_id)
    .fetch_optional(conn)
    .await?)
}

/// Records that the incident's timeline now accounts for `failures` failed checks, the last
/// with `error`, as of `at`.
pub async fn note_failures(
    conn: &mut AnyConnection,
    outage_id: i64,
    at: i64,
    failures: i64,
    error: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE monitor_outages SET noted_at = $1, noted_failures = $2, noted_error = $3 \
         WHERE id = $4",
    )
    .bind(at)
    .bind(failures)
    .bind(error)
    .bind(outage_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends an outage.
pub async fn end_outage(
    conn: &mut AnyConnection,
    outage_id: i64,
    ended_at: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE monitor_outages SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
        .bind(ended_at)
        .bind(outage_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// One outage.
pub async fn outage(conn: &mut AnyConnection, id: i64) -> Result<Option<OutageRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {OUTAGE_COLUMNS} FROM monitor_outages WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Links an outage to the incident opened for it unless it already has one; returns
/// whether it did.
pub async fn link_ticket(
    conn: &mut AnyConnection,
    outage_id: i64,
    ticket_id: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE monitor_outages SET ticket_id = $1 WHERE id = $2 AND ticket_id IS NULL",
    )
    .bind(ticket_id)
    .bind(outage_id)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// One outage, locked until the caller's transaction ends, so that the work on its incident
/// runs one transaction at a time (SQLite's single writer already does that). A row lock
/// lives no longer than its connection: a node that dies mid-work holds nobody up.
pub async fn lock_outage(
    conn: &mut AnyConnection,
    backend: Backend,
    id: i64,
) -> Result<Option<OutageRow>, StoreError> {
    let locking = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    Ok(sqlx::query_as(sql!(
        "SELECT {OUTAGE_COLUMNS} FROM monitor_outages WHERE id = $1{locking}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Records whether the outage's incident is resolved (or its recovery noted).
pub async fn mark_ticket_resolved(
    conn: &mut AnyConnection,
    outage_id: i64,
    resolved: bool,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE monitor_outages SET ticket_resolved = $1 WHERE id = $2")
        .bind(i64::from(resolved))
        .bind(outage_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The ticket carrying `tag`, to find an incident opened before a crash kept us from
/// linking it.
pub async fn ticket_with_tag(
    conn: &mut AnyConnection,
    tag: &str,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT ticket_id FROM ticket_tags WHERE tag = $1 LIMIT 1")
            .bind(tag)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(id,)| id))
}

/// Outages still open on an organization's monitors: `(monitor name, started_at)`.
pub async fn open_outages(
    conn: &mut AnyConnection,
    organization_id: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT m.name, o.started_at FROM monitor_outages o JOIN monitors m ON m.id = o.monitor_id \
         WHERE m.organization_id = $1 AND o.ended_at IS NULL ORDER BY o.started_at",
    )
    .bind(organization_id)
    .fetch_all(conn)
    .await?)
}
