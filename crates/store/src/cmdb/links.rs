//! The tickets and monitors an item is linked to.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// Links a ticket to an item; false when it already was.
pub async fn link_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
    ci_id: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO ticket_cis (ticket_id, ci_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(ticket_id)
    .bind(ci_id)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

pub async fn unlink_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
    ci_id: i64,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("DELETE FROM ticket_cis WHERE ticket_id = $1 AND ci_id = $2")
            .bind(ticket_id)
            .bind(ci_id)
            .execute(conn)
            .await?
            .rows_affected()
            > 0,
    )
}

/// The items a ticket is about.
pub async fn ticket_ci_ids(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT ci_id FROM ticket_cis WHERE ticket_id = $1 ORDER BY ci_id")
            .bind(ticket_id)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A ticket linked to an item, for the item's page.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LinkedTicket {
    pub id: i64,
    pub ticket_type: String,
    pub number: i64,
    pub organization_id: Option<i64>,
    pub title: String,
    pub status: String,
    pub created_at: i64,
}

/// Tickets about item `ci_id`, open ones first, then the latest; of the restricted ones
/// only those of `restricted` groups (`None`: all).
pub async fn tickets_of(
    conn: &mut AnyConnection,
    ci_id: i64,
    limit: i64,
    restricted: Option<&[i64]>,
) -> Result<Vec<LinkedTicket>, StoreError> {
    let visible = crate::tickets::restricted_visible("t", restricted);
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT t.id, t.ticket_type, t.number, t.organization_id, t.title, t.status, t.created_at \
         FROM ticket_cis l \
         JOIN tickets t ON t.id = l.ticket_id WHERE l.ci_id = $1 AND {visible} \
         ORDER BY CASE WHEN t.status IN ('resolved', 'closed') THEN 1 ELSE 0 END, \
         t.created_at DESC LIMIT $2"
    )))
    .bind(ci_id)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The item monitor `monitor_id` watches, if it is linked to one.
pub async fn monitor_ci(
    conn: &mut AnyConnection,
    monitor_id: i64,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(Option<i64>,)> = sqlx::query_as("SELECT ci_id FROM monitors WHERE id = $1")
        .bind(monitor_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.and_then(|(ci,)| ci))
}

/// A monitor of an item.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LinkedMonitor {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub up: Option<i64>,
    pub paused: i64,
}

pub async fn monitors_of(
    conn: &mut AnyConnection,
    ci_id: i64,
) -> Result<Vec<LinkedMonitor>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, name, kind, up, paused FROM monitors WHERE ci_id = $1 ORDER BY name, id",
    )
    .bind(ci_id)
    .fetch_all(conn)
    .await?)
}

pub async fn set_monitor_ci(
    conn: &mut AnyConnection,
    monitor_id: i64,
    ci_id: Option<i64>,
) -> Result<bool, StoreError> {
    Ok(sqlx::query("UPDATE monitors SET ci_id = $2 WHERE id = $1")
        .bind(monitor_id)
        .bind(ci_id)
        .execute(conn)
        .await?
        .rows_affected()
        > 0)
}
