//! Changes (`CHG-n`), their templates, votes, timeline and approval links; freeze periods;
//! the incidents possibly caused by a change. This file holds the changes themselves and
//! their timeline; the other use cases have a file each.

mod aftermath;
mod approvals;
mod calendar;
mod templates;

pub use aftermath::*;
pub use approvals::*;
pub use calendar::*;
pub use templates::*;

use sqlx::AnyConnection;

use crate::accounts::placeholders;
use crate::error::StoreError;

/// Rows of `sql(list)` for every slice of `ids`, where `list` is the placeholders of the
/// slice's ids after the `lead` parameters: long lists are asked for in slices, within the
/// databases' limits on parameters.
async fn in_slices<T>(
    conn: &mut AnyConnection,
    ids: &[i64],
    lead: &[i64],
    sql: impl Fn(&str) -> String,
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let mut rows = Vec::new();
    for slice in ids.chunks(500) {
        let text = sql(&placeholders(lead.len() + 1, slice.len()));
        let mut query = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(text));
        for value in lead.iter().chain(slice) {
            query = query.bind(*value);
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// A change as stored, with the names of who and what it refers to.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ChangeRow {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub change_type: String,
    pub state: String,
    pub approval: String,
    pub template_id: Option<i64>,
    pub template: Option<String>,
    pub organization_id: Option<i64>,
    pub organization: Option<String>,
    pub requester_id: i64,
    pub requester: String,
    pub implementer_id: Option<i64>,
    pub implementer: Option<String>,
    pub risk_answers: String,
    pub risk_score: i64,
    pub risk_level: String,
    pub implementation_plan: String,
    pub test_plan: String,
    pub backout_plan: String,
    pub planned_start: Option<i64>,
    pub planned_end: Option<i64>,
    pub actual_start: Option<i64>,
    pub actual_end: Option<i64>,
    pub review: String,
    pub watch_hours: i64,
    pub approval_requested_at: Option<i64>,
    pub approval_escalated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

const CHANGE_SELECT: &str = "SELECT c.id, c.title, c.description, c.change_type, c.state, \
     c.approval, c.template_id, t.name AS template, c.organization_id, o.name AS organization, \
     c.requester_id, r.email AS requester, c.implementer_id, i.email AS implementer, \
     c.risk_answers, c.risk_score, c.risk_level, c.implementation_plan, c.test_plan, \
     c.backout_plan, c.planned_start, c.planned_end, c.actual_start, c.actual_end, c.review, \
     c.watch_hours, c.approval_requested_at, c.approval_escalated_at, c.created_at, \
     c.updated_at, c.version FROM changes c \
     LEFT JOIN change_templates t ON t.id = c.template_id \
     LEFT JOIN organizations o ON o.id = c.organization_id \
     JOIN users r ON r.id = c.requester_id \
     LEFT JOIN users i ON i.id = c.implementer_id";

/// Everything a person writes on a change; the state and approval move apart.
pub struct ChangeValues<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub change_type: &'a str,
    pub template_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub implementer_id: Option<i64>,
    pub risk_answers: &'a str,
    pub risk_score: i64,
    pub risk_level: &'a str,
    pub implementation_plan: &'a str,
    pub test_plan: &'a str,
    pub backout_plan: &'a str,
    pub planned_start: Option<i64>,
    pub planned_end: Option<i64>,
    pub review: &'a str,
    pub watch_hours: i64,
}

pub async fn insert_change(
    conn: &mut AnyConnection,
    v: &ChangeValues<'_>,
    requester_id: i64,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO changes (title, description, change_type, state, approval, template_id, \
         organization_id, requester_id, implementer_id, risk_answers, risk_score, risk_level, \
         implementation_plan, test_plan, backout_plan, planned_start, planned_end, review, \
         watch_hours, created_at, updated_at) VALUES ($1, $2, $3, 'draft', 'not_requested', \
         $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18) RETURNING id",
    )
    .bind(v.title)
    .bind(v.description)
    .bind(v.change_type)
    .bind(v.template_id)
    .bind(v.organization_id)
    .bind(requester_id)
    .bind(v.implementer_id)
    .bind(v.risk_answers)
    .bind(v.risk_score)
    .bind(v.risk_level)
    .bind(v.implementation_plan)
    .bind(v.test_plan)
    .bind(v.backout_plan)
    .bind(v.planned_start)
    .bind(v.planned_end)
    .bind(v.review)
    .bind(v.watch_hours)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Replaces what a person writes on change `id`, when it is still at `version`.
pub async fn update_change(
    conn: &mut AnyConnection,
    id: i64,
    version: i64,
    v: &ChangeValues<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE changes SET title = $3, description = $4, change_type = $5, template_id = $6, \
         organization_id = $7, implementer_id = $8, risk_answers = $9, risk_score = $10, \
         risk_level = $11, implementation_plan = $12, test_plan = $13, backout_plan = $14, \
         planned_start = $15, planned_end = $16, review = $17, watch_hours = $18, \
         updated_at = $19, version = version + 1 WHERE id = $1 AND version = $2",
    )
    .bind(id)
    .bind(version)
    .bind(v.title)
    .bind(v.description)
    .bind(v.change_type)
    .bind(v.template_id)
    .bind(v.organization_id)
    .bind(v.implementer_id)
    .bind(v.risk_answers)
    .bind(v.risk_score)
    .bind(v.risk_level)
    .bind(v.implementation_plan)
    .bind(v.test_plan)
    .bind(v.backout_plan)
    .bind(v.planned_start)
    .bind(v.planned_end)
    .bind(v.review)
    .bind(v.watch_hours)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves change `id` to `state` and its approval to `approval`, noting when the work began
/// or ended and when approval was asked for.
pub async fn set_state(
    conn: &mut AnyConnection,
    id: i64,
    state: &str,
    approval: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE changes SET state = $2, approval = $3, updated_at = $4, version = version + 1, \
         actual_start = CASE WHEN $2 = 'implementing' AND actual_start IS NULL THEN $4 \
         ELSE actual_start END, \
         actual_end = CASE WHEN $2 IN ('review', 'failed') AND actual_end IS NULL THEN $4 \
         ELSE actual_end END, \
         approval_requested_at = CASE WHEN $3 = 'pending' AND approval <> 'pending' THEN $4 \
         WHEN $3 = 'not_requested' THEN NULL ELSE approval_requested_at END, \
         approval_escalated_at = CASE WHEN $3 = 'pending' AND approval <> 'pending' THEN NULL \
         ELSE approval_escalated_at END WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(approval)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn change(conn: &mut AnyConnection, id: i64) -> Result<Option<ChangeRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{CHANGE_SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// Which changes a list shows.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter<'a> {
    pub state: Option<&'a str>,
    /// Only these organizations' changes and those of none; every change when `None`.
    pub organizations: Option<&'a [i64]>,
    /// Changes whose window overlaps `[from, to)`; windowless ones are left out then.
    pub window: Option<(i64, i64)>,
}

/// Changes fitting `filter` with ids below `before`, the newest first.
pub async fn changes(
    conn: &mut AnyConnection,
    filter: &ChangeFilter<'_>,
    before: i64,
    limit: i64,
) -> Result<Vec<ChangeRow>, StoreError> {
    let mut sql = format!("{CHANGE_SELECT} WHERE c.id < $1");
    let mut n = 2;
    if filter.state.is_some() {
        sql.push_str(&format!(" AND c.state = ${n}"));
        n += 1;
    }
    if filter.window.is_some() {
        sql.push_str(&format!(
            " AND c.planned_start < ${} AND c.planned_end > ${n} \
             AND c.state NOT IN ('draft', 'cancelled', 'rejected')",
            n + 1
        ));
        n += 2;
    }
    if let Some(orgs) = filter.organizations {
        sql.push_str(&format!(
            " AND (c.organization_id IS NULL OR c.organization_id IN ({}))",
            if orgs.is_empty() {
                "NULL".to_owned()
            } else {
                placeholders(n, orgs.len())
            }
        ));
    }
    sql.push_str(&format!(" ORDER BY c.id DESC LIMIT {}", limit.max(0)));
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(before);
    if let Some(state) = filter.state {
        query = query.bind(state);
    }
    if let Some((from, to)) = filter.window {
        query = query.bind(from).bind(to);
    }
    for org in filter.organizations.unwrap_or_default() {
        query = query.bind(*org);
    }
    Ok(query.fetch_all(conn).await?)
}

/// Replaces the items change `id` affects.
pub async fn set_cis(conn: &mut AnyConnection, id: i64, cis: &[i64]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM change_cis WHERE change_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for ci in cis {
        sqlx::query("INSERT INTO change_cis (change_id, ci_id) VALUES ($1, $2)")
            .bind(id)
            .bind(ci)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The items change `id` affects: id, name, class.
pub async fn cis_of(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT c.id, c.name, c.class FROM change_cis l JOIN cis c ON c.id = l.ci_id \
         WHERE l.change_id = $1 ORDER BY c.name, c.id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?)
}

/// Open incidents and open problems among the tickets linked to any of `cis`.
pub async fn open_work_on(conn: &mut AnyConnection, cis: &[i64]) -> Result<(i64, i64), StoreError> {
    if cis.is_empty() {
        return Ok((0, 0));
    }
    let sql = format!(
        "SELECT COALESCE(SUM(CASE WHEN t.ticket_type = 'incident' THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN t.ticket_type = 'problem' THEN 1 ELSE 0 END), 0) \
         FROM tickets t WHERE t.status NOT IN ('resolved', 'closed') AND t.id IN \
         (SELECT DISTINCT ticket_id FROM ticket_cis WHERE ci_id IN ({}))",
        placeholders(1, cis.len())
    );
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for ci in cis {
        query = query.bind(*ci);
    }
    Ok(query.fetch_one(conn).await?)
}

pub async fn insert_timeline(
    conn: &mut AnyConnection,
    change_id: i64,
    at: i64,
    actor: &str,
    kind: &str,
    data: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO change_timeline (change_id, at, actor, kind, data) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(change_id)
    .bind(at)
    .bind(actor)
    .bind(kind)
    .bind(data)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TimelineRow {
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub data: String,
}

pub async fn timeline(
    conn: &mut AnyConnection,
    change_id: i64,
) -> Result<Vec<TimelineRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT at, actor, kind, data FROM change_timeline WHERE change_id = $1 ORDER BY id",
    )
    .bind(change_id)
    .fetch_all(conn)
    .await?)
}
