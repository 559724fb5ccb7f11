//! Automation rules, their run counts, and the tickets time-based rules wait on.

use sqlx::AnyConnection;

use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RuleRow {
    pub id: i64,
    pub name: String,
    pub enabled: i64,
    pub event: String,
    /// JSON of the domain's `automation::RuleDraft`.
    pub definition: String,
    pub runs: i64,
    pub last_run_at: Option<i64>,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const RULE_COLUMNS: &str = "id, name, enabled, event, definition, runs, last_run_at, \
     disabled_reason, created_at, updated_at";

/// A rule's definition as it is written.
pub struct RuleDefinition<'a> {
    pub name: &'a str,
    pub enabled: bool,
    pub event: &'a str,
    pub definition: &'a str,
}

pub async fn insert_rule(
    conn: &mut AnyConnection,
    rule: &RuleDefinition<'_>,
    now: i64,
) -> Result<RuleRow, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO automation_rules (name, enabled, event, definition, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING {RULE_COLUMNS}"
    )))
    .bind(rule.name)
    .bind(i64::from(rule.enabled))
    .bind(rule.event)
    .bind(rule.definition)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name"))
}

/// Replaces a rule's definition; enabling a disabled rule clears why it was disabled and
/// starts its hour afresh.
pub async fn update_rule(
    conn: &mut AnyConnection,
    id: i64,
    rule: &RuleDefinition<'_>,
    now: i64,
) -> Result<Option<RuleRow>, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE automation_rules SET name = $2, enabled = $3, event = $4, definition = $5, \
         disabled_reason = CASE WHEN $3 = 1 THEN NULL ELSE disabled_reason END, \
         window_runs = CASE WHEN $3 = 1 AND enabled = 0 THEN 0 ELSE window_runs END, \
         updated_at = $6 \
         WHERE id = $1 RETURNING {RULE_COLUMNS}"
    )))
    .bind(id)
    .bind(rule.name)
    .bind(i64::from(rule.enabled))
    .bind(rule.event)
    .bind(rule.definition)
    .bind(now)
    .fetch_optional(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name"))
}

/// Every rule, by name.
pub async fn rules(conn: &mut AnyConnection) -> Result<Vec<RuleRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RULE_COLUMNS} FROM automation_rules ORDER BY name"
    )))
    .fetch_all(conn)
    .await?)
}

/// `(id, definition)` of the enabled rules, for the catalog.
pub async fn enabled_rules(conn: &mut AnyConnection) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, definition FROM automation_rules WHERE enabled = 1 ORDER BY name, id",
    )
    .fetch_all(conn)
    .await?)
}

pub async fn rule(conn: &mut AnyConnection, id: i64) -> Result<Option<RuleRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RULE_COLUMNS} FROM automation_rules WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Counts a run of rule `id` at `now` in its hour's window (a new window starts an hour after
/// the last one did); returns the runs in the window, this one included, or `None` when the
/// rule no longer runs (disabled, or gone, since the caller read it).
pub async fn count_run(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let counted: Option<(i64,)> = sqlx::query_as(
        "UPDATE automation_rules SET runs = runs + 1, last_run_at = $2, \
         window_runs = CASE WHEN window_start <= $2 - 3600000 THEN 1 ELSE window_runs + 1 END, \
         window_start = CASE WHEN window_start <= $2 - 3600000 THEN $2 ELSE window_start END \
         WHERE id = $1 AND enabled = 1 RETURNING window_runs",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(counted.map(|(runs,)| runs))
}

/// Stops rule `id` from running, saying why.
pub async fn disable_rule(
    conn: &mut AnyConnection,
    id: i64,
    reason: &str,
    now: i64,
) -> Result<Option<RuleRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE automation_rules SET enabled = 0, disabled_reason = $2, updated_at = $3 \
         WHERE id = $1 RETURNING {RULE_COLUMNS}"
    )))
    .bind(id)
    .bind(reason)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Pending tickets unchanged since `before` that rule `rule_id` has not run for since they
/// last changed, oldest change first; security incidents, which rules never run on, left out.
pub async fn pending_unchanged(
    conn: &mut AnyConnection,
    rule_id: i64,
    before: i64,
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT t.id FROM tickets t \
         LEFT JOIN automation_rule_waits w ON w.rule_id = $1 AND w.ticket_id = t.id \
         WHERE t.status = 'pending' AND t.updated_at <= $2 AND t.restricted_group_id IS NULL \
           AND (w.ran_at IS NULL OR w.ran_at < t.updated_at) \
         ORDER BY t.updated_at LIMIT $3",
    )
    .bind(rule_id)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Notes that time-based rule `rule_id` ran (or looked) for ticket `ticket_id` at `now`.
pub async fn mark_waited(
    conn: &mut AnyConnection,
    rule_id: i64,
    ticket_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO automation_rule_waits (rule_id, ticket_id, ran_at) VALUES ($1, $2, $3) \
         ON CONFLICT (rule_id, ticket_id) DO UPDATE SET ran_at = excluded.ran_at",
    )
    .bind(rule_id)
    .bind(ticket_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The most recently created tickets' ids, newest first, for dry runs; security incidents,
/// which rules never run on, left out.
pub async fn latest_tickets(conn: &mut AnyConnection, limit: i64) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM tickets WHERE restricted_group_id IS NULL ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Marks where one rule's run starts in the enclosing transaction, so that a run that fails
/// can be undone on its own (see [`undo_run`]) without failing the change that raised it.
pub async fn begin_run(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query("SAVEPOINT automation_rule")
        .execute(conn)
        .await?;
    Ok(())
}

/// Keeps what the run begun last wrote.
pub async fn end_run(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query("RELEASE SAVEPOINT automation_rule")
        .execute(conn)
        .await?;
    Ok(())
}

/// Undoes what the run begun last wrote.
pub async fn undo_run(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query("ROLLBACK TO SAVEPOINT automation_rule")
        .execute(&mut *conn)
        .await?;
    sqlx::query("RELEASE SAVEPOINT automation_rule")
        .execute(conn)
        .await?;
    Ok(())
}
