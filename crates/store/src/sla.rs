//! SLA storage: calendars, policies and each ticket's clock checkpoints.

use sqlx::AnyConnection;

use crate::batch::Batch;
use crate::db::Backend;
use crate::error::StoreError;

/// A business calendar; `spec` is its JSON definition.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CalendarRow {
    pub id: i64,
    pub name: String,
    pub spec: String,
    pub version: i64,
}

/// An SLA policy; `spec` is its JSON definition.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRow {
    pub id: i64,
    pub position: i64,
    pub calendar_id: i64,
    pub spec: String,
    pub version: i64,
}

/// One ticket's SLA clocks.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TicketSlaRow {
    pub ticket_id: i64,
    pub policy_id: Option<i64>,
    pub policy_name: String,
    pub calendar_id: i64,
    pub warnings: String,
    pub response_target: i64,
    pub response_elapsed: i64,
    pub response_running_since: Option<i64>,
    pub response_met_at: Option<i64>,
    pub response_raised: i64,
    pub response_due_at: Option<i64>,
    pub response_breached: i64,
    pub resolution_target: i64,
    pub resolution_elapsed: i64,
    pub resolution_running_since: Option<i64>,
    pub resolution_met_at: Option<i64>,
    pub resolution_raised: i64,
    pub resolution_due_at: Option<i64>,
    pub resolution_breached: i64,
    pub next_check_at: Option<i64>,
}

pub(crate) const SLA_COLUMNS: &str = "ticket_id, policy_id, policy_name, calendar_id, warnings, response_target, \
     response_elapsed, response_running_since, response_met_at, response_raised, response_due_at, \
     response_breached, resolution_target, resolution_elapsed, resolution_running_since, \
     resolution_met_at, resolution_raised, resolution_due_at, resolution_breached, next_check_at";

pub async fn insert_calendar(
    conn: &mut AnyConnection,
    name: &str,
    spec: &str,
    now: i64,
) -> Result<CalendarRow, StoreError> {
    sqlx::query_as(
        "INSERT INTO calendars (name, spec, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         RETURNING id, name, spec, version",
    )
    .bind(name)
    .bind(spec)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name"))
}

pub async fn update_calendar(
    conn: &mut AnyConnection,
    id: i64,
    expected_version: i64,
    name: &str,
    spec: &str,
    now: i64,
) -> Result<Option<CalendarRow>, StoreError> {
    sqlx::query_as(
        "UPDATE calendars SET name = $1, spec = $2, updated_at = $3, version = version + 1 \
         WHERE id = $4 AND version = $5 RETURNING id, name, spec, version",
    )
    .bind(name)
    .bind(spec)
    .bind(now)
    .bind(id)
    .bind(expected_version)
    .fetch_optional(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name"))
}

pub async fn calendars(conn: &mut AnyConnection) -> Result<Vec<CalendarRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, name, spec, version FROM calendars ORDER BY id")
            .fetch_all(conn)
            .await?,
    )
}

pub async fn get_calendar(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<CalendarRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, name, spec, version FROM calendars WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Deletes a calendar no policy uses; `false` when it is in use or absent.
pub async fn delete_calendar(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "DELETE FROM calendars WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM sla_policies WHERE calendar_id = $1) \
         AND NOT EXISTS (SELECT 1 FROM ticket_sla WHERE calendar_id = $1)",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn insert_policy(
    conn: &mut AnyConnection,
    position: i64,
    calendar_id: i64,
    spec: &str,
    now: i64,
) -> Result<PolicyRow, StoreError> {
    Ok(sqlx::query_as(
        "INSERT INTO sla_policies (position, calendar_id, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         RETURNING id, position, calendar_id, spec, version",
    )
    .bind(position)
    .bind(calendar_id)
    .bind(spec)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

pub async fn update_policy(
    conn: &mut AnyConnection,
    id: i64,
    expected_version: i64,
    position: i64,
    calendar_id: i64,
    spec: &str,
    now: i64,
) -> Result<Option<PolicyRow>, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE sla_policies SET position = $1, calendar_id = $2, spec = $3, updated_at = $4, version = version + 1 \
         WHERE id = $5 AND version = $6 RETURNING id, position, calendar_id, spec, version",
    )
    .bind(position)
    .bind(calendar_id)
    .bind(spec)
    .bind(now)
    .bind(id)
    .bind(expected_version)
    .fetch_optional(conn)
    .await?)
}

pub async fn delete_policy(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    let result = sqlx::query("DELETE FROM sla_policies WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Policies in matching order.
pub async fn policies(conn: &mut AnyConnection) -> Result<Vec<PolicyRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, position, calendar_id, spec, version FROM sla_policies ORDER BY position, id",
    )
    .fetch_all(conn)
    .await?)
}

pub async fn get_policy(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<PolicyRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, position, calendar_id, spec, version FROM sla_policies WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn ticket_sla(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Option<TicketSlaRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {SLA_COLUMNS} FROM ticket_sla WHERE ticket_id = $1"
    ))
    .bind(ticket_id)
    .fetch_optional(conn)
    .await?)
}

/// The clocks of each of `ids` that has them.
pub async fn ticket_slas(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<TicketSlaRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {SLA_COLUMNS} FROM ticket_sla WHERE ticket_id IN ({})",
        crate::accounts::placeholders(1, ids.len())
    );
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(conn).await?)
}

/// What a set of ticket clocks is timed by.
#[derive(Debug, Clone, Copy)]
pub enum TimedBy {
    Policy(i64),
    Calendar(i64),
}

/// The clocks timed by `owner` that are not both met yet, each with its ticket's priority
/// rank: what a change to that policy or calendar re-times.
pub async fn unmet_clocks(
    conn: &mut AnyConnection,
    owner: TimedBy,
) -> Result<Vec<(TicketSlaRow, i64)>, StoreError> {
    let (column, id) = match owner {
        TimedBy::Policy(id) => ("policy_id", id),
        TimedBy::Calendar(id) => ("calendar_id", id),
    };
    let unmet = format!("{column} = $1 AND (response_met_at IS NULL OR resolution_met_at IS NULL)");
    let rows: Vec<TicketSlaRow> =
        sqlx::query_as(sql!("SELECT {SLA_COLUMNS} FROM ticket_sla WHERE {unmet}"))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    let priorities: std::collections::HashMap<i64, i64> = sqlx::query_as(sql!(
        "SELECT id, priority FROM tickets WHERE id IN (SELECT ticket_id FROM ticket_sla WHERE {unmet})"
    ))
    .bind(id)
    .fetch_all(conn)
    .await?
    .into_iter()
    .collect();
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let priority = *priorities.get(&row.ticket_id)?;
            Some((row, priority))
        })
        .collect())
}

/// Writes a ticket's clocks (insert or replace).
pub fn save_ticket_sla(batch: &mut Batch, row: &TicketSlaRow) {
    batch
        .push("DELETE FROM ticket_sla WHERE ticket_id = $1")
        .bind(row.ticket_id);
    insert_ticket_sla(batch, row);
}

/// Writes the clocks of a ticket that has none yet.
pub fn insert_ticket_sla(batch: &mut Batch, row: &TicketSlaRow) {
    batch
        .push(&format!(
            "INSERT INTO ticket_sla ({SLA_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
        ))
        .bind(row.ticket_id)
        .bind(row.policy_id)
        .bind(&row.policy_name)
        .bind(row.calendar_id)
        .bind(&row.warnings)
        .bind(row.response_target)
        .bind(row.response_elapsed)
        .bind(row.response_running_since)
        .bind(row.response_met_at)
        .bind(row.response_raised)
        .bind(row.response_due_at)
        .bind(row.response_breached)
        .bind(row.resolution_target)
        .bind(row.resolution_elapsed)
        .bind(row.resolution_running_since)
        .bind(row.resolution_met_at)
        .bind(row.resolution_raised)
        .bind(row.resolution_due_at)
        .bind(row.resolution_breached)
        .bind(row.next_check_at);
}

/// Records raised levels and the next check, only if nobody raised them meanwhile; `false`
/// means another node got there first and nothing was written.
pub async fn record_raised(
    conn: &mut AnyConnection,
    before: &TicketSlaRow,
    after: &TicketSlaRow,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE ticket_sla SET response_raised = $1, resolution_raised = $2, response_breached = $3, \
         resolution_breached = $4, next_check_at = $5 \
         WHERE ticket_id = $6 AND response_raised = $7 AND resolution_raised = $8",
    )
    .bind(after.response_raised)
    .bind(after.resolution_raised)
    .bind(after.response_breached)
    .bind(after.resolution_breached)
    .bind(after.next_check_at)
    .bind(before.ticket_id)
    .bind(before.response_raised)
    .bind(before.resolution_raised)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The sweeper's query: tickets whose next warning or breach is due by `$1`, earliest
/// first, at most `$2`. On PostgreSQL the rows are locked and rows other nodes hold are
/// skipped, so sweepers split the work.
fn due_checks_sql(backend: Backend) -> String {
    let locking = match backend {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    format!(
        "SELECT {SLA_COLUMNS} FROM ticket_sla WHERE next_check_at IS NOT NULL AND next_check_at <= $1 \
         ORDER BY next_check_at LIMIT $2 {locking}"
    )
}

/// Tickets with a warning or breach due by `now`, earliest first (see [`due_checks_sql`]).
pub async fn due_checks(
    conn: &mut AnyConnection,
    backend: Backend,
    now: i64,
    limit: i64,
) -> Result<Vec<TicketSlaRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(due_checks_sql(backend)))
        .bind(now)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

/// The database's plan for [`due_checks`], one line per step: `EXPLAIN QUERY PLAN` on
/// SQLite, `EXPLAIN` on PostgreSQL. It shows whether due tickets are found through an index.
pub async fn explain_due_checks(
    conn: &mut AnyConnection,
    backend: Backend,
    now: i64,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let (explain, column) = match backend {
        Backend::Sqlite => ("EXPLAIN QUERY PLAN", "detail"),
        Backend::Postgres => ("EXPLAIN", "QUERY PLAN"),
    };
    let rows = sqlx::query(sql!("{explain} {}", due_checks_sql(backend)))
        .bind(now)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| Ok(sqlx::Row::try_get::<String, _>(row, column)?))
        .collect()
}

/// One group's SLA outcome counts for the report.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ComplianceRow {
    pub bucket: Option<String>,
    pub tickets: i64,
    pub response_met: i64,
    pub response_breached: i64,
    pub resolution_met: i64,
    pub resolution_breached: i64,
}

/// Met and breached counts for tickets created in `[from, to)`, grouped by `bucket_sql`
/// (a trusted expression chosen by the caller from a fixed list).
pub async fn compliance(
    conn: &mut AnyConnection,
    bucket_sql: &'static str,
    joins: &'static str,
    from: i64,
    to: i64,
) -> Result<Vec<ComplianceRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {bucket_sql} AS bucket, COUNT(*) AS tickets, \
         CAST(SUM(CASE WHEN s.response_met_at IS NOT NULL AND s.response_breached = 0 THEN 1 ELSE 0 END) AS BIGINT) AS response_met, \
         CAST(SUM(s.response_breached) AS BIGINT) AS response_breached, \
         CAST(SUM(CASE WHEN s.resolution_met_at IS NOT NULL AND s.resolution_breached = 0 THEN 1 ELSE 0 END) AS BIGINT) AS resolution_met, \
         CAST(SUM(s.resolution_breached) AS BIGINT) AS resolution_breached \
         FROM ticket_sla s JOIN tickets t ON t.id = s.ticket_id {joins} \
         WHERE t.created_at >= $1 AND t.created_at < $2 GROUP BY {bucket_sql} ORDER BY {bucket_sql}"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?)
}
