//! Suspected duplicates, and merging one item into another.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// Records a suspected duplicate pair (once).
pub async fn insert_duplicate(
    conn: &mut AnyConnection,
    ci_id: i64,
    other_id: i64,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    let (low, high) = (ci_id.min(other_id), ci_id.max(other_id));
    sqlx::query(
        "INSERT INTO ci_duplicates (ci_id, other_id, reason, found_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (ci_id, other_id) DO NOTHING",
    )
    .bind(low)
    .bind(high)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DuplicateRow {
    pub id: i64,
    pub ci_id: i64,
    pub ci_name: String,
    pub other_id: i64,
    pub other_name: String,
    pub reason: String,
    pub found_at: i64,
}

/// Open suspected duplicates, the latest found first.
pub async fn open_duplicates(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<DuplicateRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT d.id, d.ci_id, a.name AS ci_name, d.other_id, b.name AS other_name, d.reason, \
         d.found_at FROM ci_duplicates d JOIN cis a ON a.id = d.ci_id \
         JOIN cis b ON b.id = d.other_id WHERE d.resolved_at IS NULL \
         ORDER BY d.found_at DESC, d.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub async fn duplicate(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<DuplicateRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT d.id, d.ci_id, a.name AS ci_name, d.other_id, b.name AS other_name, d.reason, \
         d.found_at FROM ci_duplicates d JOIN cis a ON a.id = d.ci_id \
         JOIN cis b ON b.id = d.other_id WHERE d.id = $1 AND d.resolved_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn resolve_duplicate(
    conn: &mut AnyConnection,
    id: i64,
    resolution: &str,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE ci_duplicates SET resolved_at = $2, resolution = $3 \
         WHERE id = $1 AND resolved_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .bind(resolution)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

/// Moves what points at item `from` to item `into`: relations, ticket links, monitors,
/// agents, MACs and inventory. Relations that would join `into` to itself are dropped.
pub async fn move_references(
    conn: &mut AnyConnection,
    from: i64,
    into: i64,
) -> Result<(), StoreError> {
    let statements = [
        "DELETE FROM ci_relations WHERE (source_id = $1 AND target_id = $2) \
         OR (source_id = $2 AND target_id = $1)",
        "UPDATE ci_relations SET source_id = $2 WHERE source_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM ci_relations o WHERE o.source_id = $2 AND o.kind = ci_relations.kind \
         AND o.target_id = ci_relations.target_id AND o.removed_at IS NULL)",
        "UPDATE ci_relations SET target_id = $2 WHERE target_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM ci_relations o WHERE o.target_id = $2 AND o.kind = ci_relations.kind \
         AND o.source_id = ci_relations.source_id AND o.removed_at IS NULL)",
        "INSERT INTO ticket_cis (ticket_id, ci_id) SELECT ticket_id, $2 FROM ticket_cis \
         WHERE ci_id = $1 ON CONFLICT DO NOTHING",
        "UPDATE monitors SET ci_id = $2 WHERE ci_id = $1",
        "UPDATE agents SET ci_id = $2 WHERE ci_id = $1",
        "INSERT INTO ci_macs (ci_id, mac) SELECT $2, mac FROM ci_macs WHERE ci_id = $1 \
         ON CONFLICT DO NOTHING",
        "UPDATE ci_inventory_changes SET ci_id = $2 WHERE ci_id = $1",
        "UPDATE ci_history SET ci_id = $2 WHERE ci_id = $1",
    ];
    for statement in statements {
        sqlx::query(statement)
            .bind(from)
            .bind(into)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
