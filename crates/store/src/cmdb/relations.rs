//! Relations between items, and what an impact analysis reads of the whole graph.

use sqlx::AnyConnection;

use super::rows_by_ids;
use crate::accounts::placeholders;
use crate::error::StoreError;

/// A relation as stored, with both ends' names and classes.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RelationRow {
    pub id: i64,
    pub source_id: i64,
    pub source_name: String,
    pub source_class: String,
    pub kind: String,
    pub target_id: i64,
    pub target_name: String,
    pub target_class: String,
    pub created_at: i64,
    pub created_by: String,
    pub removed_at: Option<i64>,
    pub removed_by: Option<String>,
}

const RELATION_SELECT: &str = "SELECT r.id, r.source_id, s.name AS source_name, \
     s.class AS source_class, r.kind, r.target_id, t.name AS target_name, \
     t.class AS target_class, r.created_at, r.created_by, r.removed_at, r.removed_by \
     FROM ci_relations r JOIN cis s ON s.id = r.source_id JOIN cis t ON t.id = r.target_id";

/// Records `source kind target`; `None` when that relation is already in place.
pub async fn insert_relation(
    conn: &mut AnyConnection,
    source_id: i64,
    kind: &str,
    target_id: i64,
    actor: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO ci_relations (source_id, kind, target_id, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (source_id, kind, target_id) WHERE removed_at IS NULL DO NOTHING \
         RETURNING id",
    )
    .bind(source_id)
    .bind(kind)
    .bind(target_id)
    .bind(now)
    .bind(actor)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id,)| id))
}

pub async fn relation(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<RelationRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{RELATION_SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// Ends a relation; false when it had already ended.
pub async fn remove_relation(
    conn: &mut AnyConnection,
    id: i64,
    actor: &str,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE ci_relations SET removed_at = $2, removed_by = $3 \
         WHERE id = $1 AND removed_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .bind(actor)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

/// An item's relations either way, current ones, or with `ended` those removed too,
/// the latest first.
pub async fn relations_of(
    conn: &mut AnyConnection,
    ci_id: i64,
    ended: bool,
) -> Result<Vec<RelationRow>, StoreError> {
    let current = if ended {
        ""
    } else {
        " AND r.removed_at IS NULL"
    };
    Ok(sqlx::query_as(sql!(
        "{RELATION_SELECT} WHERE (r.source_id = $1 OR r.target_id = $1){current} \
         ORDER BY r.created_at DESC, r.id DESC LIMIT 1000"
    ))
    .bind(ci_id)
    .fetch_all(conn)
    .await?)
}

/// How many active people the impact reaches: members of `organizations` and the
/// owners in `owners`.
pub async fn people_reached(
    conn: &mut AnyConnection,
    organizations: &[i64],
    owners: &[i64],
) -> Result<i64, StoreError> {
    if organizations.is_empty() && owners.is_empty() {
        return Ok(0);
    }
    let orgs = if organizations.is_empty() {
        "1 = 0".to_owned()
    } else {
        format!(
            "organization_id IN ({})",
            placeholders(1, organizations.len())
        )
    };
    let people = if owners.is_empty() {
        "1 = 0".to_owned()
    } else {
        format!(
            "id IN ({})",
            placeholders(organizations.len() + 1, owners.len())
        )
    };
    let mut query = sqlx::query_as::<_, (i64,)>(sql!(
        "SELECT COUNT(*) FROM users WHERE active = 1 AND ({orgs} OR {people})"
    ));
    for id in organizations.iter().chain(owners) {
        query = query.bind(*id);
    }
    Ok(query.fetch_one(conn).await?.0)
}

/// Every current relation, as `(source, kind, target)`.
pub async fn all_edges(conn: &mut AnyConnection) -> Result<Vec<(i64, String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT source_id, kind, target_id FROM ci_relations WHERE removed_at IS NULL",
    )
    .fetch_all(conn)
    .await?)
}

/// Every item's `needed`, organization and owner: what an impact analysis reads of each.
pub async fn all_impact_facts(
    conn: &mut AnyConnection,
) -> Result<Vec<(i64, Option<i64>, Option<i64>, Option<i64>)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, needed, organization_id, owner_id FROM cis")
            .fetch_all(conn)
            .await?,
    )
}

/// Name, class and organization name of each of `ids`, in id order: all an impact
/// analysis shows of the items it lists, without the rest of their rows.
pub async fn ci_labels(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<(i64, String, String, Option<String>)>, StoreError> {
    rows_by_ids(
        conn,
        "SELECT c.id, c.name, c.class, o.name FROM cis c \
         LEFT JOIN organizations o ON o.id = c.organization_id",
        ids,
    )
    .await
}

/// Items a monitor watching them sees down now.
pub async fn failing_cis(conn: &mut AnyConnection) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT DISTINCT ci_id FROM monitors WHERE ci_id IS NOT NULL AND up = 0 AND paused = 0",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
