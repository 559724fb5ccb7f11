//! What conflict detection and the calendar read: overlapping changes, the relations
//! around items, freeze periods.

use sqlx::AnyConnection;

use super::in_slices;
use crate::error::StoreError;

/// A change that may conflict with another: one of the items it touches among those asked
/// about, or none when it is found by its implementer.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OverlapRow {
    pub id: i64,
    pub planned_start: i64,
    pub planned_end: i64,
    pub implementer_id: Option<i64>,
    pub ci_id: Option<i64>,
}

/// Planned changes other than `except` whose window overlaps `[start, end)` and that touch
/// one of `cis`, or that `implementer` carries out.
pub async fn overlapping(
    conn: &mut AnyConnection,
    except: i64,
    start: i64,
    end: i64,
    cis: &[i64],
    implementer: Option<i64>,
) -> Result<Vec<OverlapRow>, StoreError> {
    const PLANNED: &str = "('assessment', 'approval', 'scheduled', 'implementing')";
    // `CROSS JOIN` keeps `change_cis` the outer table on SQLite, so the join starts from the
    // items (index change_cis_ci, a few dozen changes per item) and reads each change by its
    // key. With a plain join and no statistics SQLite started from changes_state instead and
    // read every planned change starting before the window's end (half of 100,000 in the
    // conflicts benchmark, ~40 ms). PostgreSQL plans it as the inner join it is.
    let mut rows: Vec<OverlapRow> = in_slices(conn, cis, &[except, start, end], |list| {
        format!(
            "SELECT c.id, c.planned_start, c.planned_end, c.implementer_id, l.ci_id \
             FROM change_cis l CROSS JOIN changes c \
             WHERE c.id = l.change_id AND l.ci_id IN ({list}) AND c.id <> $1 \
             AND c.planned_start < $3 AND c.planned_end > $2 AND c.state IN {PLANNED}"
        )
    })
    .await?;
    if let Some(implementer) = implementer {
        let by_person: Vec<OverlapRow> = sqlx::query_as(sql!(
            "SELECT c.id, c.planned_start, c.planned_end, c.implementer_id, \
             CAST(NULL AS BIGINT) AS ci_id FROM changes c WHERE c.implementer_id = $4 \
             AND c.id <> $1 AND c.planned_start < $3 AND c.planned_end > $2 \
             AND c.state IN {PLANNED}"
        ))
        .bind(except)
        .bind(start)
        .bind(end)
        .bind(implementer)
        .fetch_all(conn)
        .await?;
        rows.extend(by_person);
    }
    Ok(rows)
}

/// The current relations touching any of `cis`: `(source, kind, target)`.
pub async fn relations_around(
    conn: &mut AnyConnection,
    cis: &[i64],
) -> Result<Vec<(i64, String, i64)>, StoreError> {
    // The list twice in one statement: slices of 500 stay within SQLite's 32,766
    // parameters and PostgreSQL's 65,535.
    in_slices(conn, cis, &[], |list| {
        format!(
            "SELECT source_id, kind, target_id FROM ci_relations WHERE removed_at IS NULL \
             AND source_id IN ({list}) UNION SELECT source_id, kind, target_id FROM ci_relations \
             WHERE removed_at IS NULL AND target_id IN ({list})"
        )
    })
    .await
}

/// A freeze or blackout period as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FreezeRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub organization_id: Option<i64>,
    pub organization: Option<String>,
    pub ci_id: Option<i64>,
    pub ci: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
}

const FREEZE_SELECT: &str = "SELECT f.id, f.name, f.kind, f.starts_at, f.ends_at, \
     f.organization_id, o.name AS organization, f.ci_id, c.name AS ci, f.reason, f.created_by, \
     f.created_at FROM freeze_windows f LEFT JOIN organizations o ON o.id = f.organization_id \
     LEFT JOIN cis c ON c.id = f.ci_id";

pub struct NewFreeze<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub starts_at: i64,
    pub ends_at: i64,
    pub organization_id: Option<i64>,
    pub ci_id: Option<i64>,
    pub reason: &'a str,
    pub created_by: &'a str,
}

pub async fn insert_freeze(
    conn: &mut AnyConnection,
    f: &NewFreeze<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO freeze_windows (name, kind, starts_at, ends_at, organization_id, ci_id, \
         reason, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(f.name)
    .bind(f.kind)
    .bind(f.starts_at)
    .bind(f.ends_at)
    .bind(f.organization_id)
    .bind(f.ci_id)
    .bind(f.reason)
    .bind(f.created_by)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn freeze(conn: &mut AnyConnection, id: i64) -> Result<Option<FreezeRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{FREEZE_SELECT} WHERE f.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

pub async fn delete_freeze(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM freeze_windows WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Freeze periods overlapping `[from, to)`, the earliest first.
pub async fn freezes(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
) -> Result<Vec<FreezeRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "{FREEZE_SELECT} WHERE f.starts_at < $2 AND f.ends_at > $1 ORDER BY f.starts_at, f.id"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?)
}

/// The items of organization `organization_id`, among `cis`.
pub async fn cis_of_organization(
    conn: &mut AnyConnection,
    organization_id: i64,
    cis: &[i64],
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = in_slices(conn, cis, &[organization_id], |list| {
        format!("SELECT id FROM cis WHERE organization_id = $1 AND id IN ({list})")
    })
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
