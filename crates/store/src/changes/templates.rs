//! Change templates: what a kind of change asks and who approves it.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A template as stored, with its board's name.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: i64,
    pub name: String,
    pub change_type: String,
    pub description: String,
    pub questions: String,
    pub board_group_id: Option<i64>,
    pub board: Option<String>,
    pub quorum: i64,
    pub veto: i64,
    pub named_approver_id: Option<i64>,
    pub named_approver: Option<String>,
    pub named_from_risk: Option<String>,
    pub approval_timeout_h: Option<i64>,
    pub implementation_plan: String,
    pub test_plan: String,
    pub backout_plan: String,
    pub watch_hours: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const TEMPLATE_SELECT: &str = "SELECT t.id, t.name, t.change_type, t.description, t.questions, \
     t.board_group_id, g.name AS board, t.quorum, t.veto, t.named_approver_id, \
     u.email AS named_approver, t.named_from_risk, t.approval_timeout_h, \
     t.implementation_plan, t.test_plan, t.backout_plan, t.watch_hours, t.created_at, \
     t.updated_at FROM change_templates t LEFT JOIN groups g ON g.id = t.board_group_id \
     LEFT JOIN users u ON u.id = t.named_approver_id";

/// A template's values, to insert or to replace.
pub struct TemplateValues<'a> {
    pub name: &'a str,
    pub change_type: &'a str,
    pub description: &'a str,
    pub questions: &'a str,
    pub board_group_id: Option<i64>,
    pub quorum: i64,
    pub veto: bool,
    pub named_approver_id: Option<i64>,
    pub named_from_risk: Option<&'a str>,
    pub approval_timeout_h: Option<i64>,
    pub implementation_plan: &'a str,
    pub test_plan: &'a str,
    pub backout_plan: &'a str,
    pub watch_hours: i64,
}

pub async fn insert_template(
    conn: &mut AnyConnection,
    t: &TemplateValues<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO change_templates (name, change_type, description, questions, \
         board_group_id, quorum, veto, named_approver_id, named_from_risk, approval_timeout_h, \
         implementation_plan, test_plan, backout_plan, watch_hours, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) \
         RETURNING id",
    )
    .bind(t.name)
    .bind(t.change_type)
    .bind(t.description)
    .bind(t.questions)
    .bind(t.board_group_id)
    .bind(t.quorum)
    .bind(i64::from(t.veto))
    .bind(t.named_approver_id)
    .bind(t.named_from_risk)
    .bind(t.approval_timeout_h)
    .bind(t.implementation_plan)
    .bind(t.test_plan)
    .bind(t.backout_plan)
    .bind(t.watch_hours)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn template(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<TemplateRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{TEMPLATE_SELECT} WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

pub async fn template_by_name(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<TemplateRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("{TEMPLATE_SELECT} WHERE lower(t.name) = lower($1)"))
            .bind(name)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn templates(conn: &mut AnyConnection) -> Result<Vec<TemplateRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("{TEMPLATE_SELECT} ORDER BY lower(t.name)"))
            .fetch_all(conn)
            .await?,
    )
}
