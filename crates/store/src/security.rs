//! Security incidents' own rows (migration 0053): severity and runbook override, affected
//! CIs and accounts, the checklist, and the evidence files' chain of custody.

use std::collections::HashMap;

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A security incident's details.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecurityRow {
    pub ticket_id: i64,
    pub severity: String,
    pub override_reason: Option<String>,
    pub overridden_by: Option<i64>,
    pub overridden_at: Option<i64>,
}

pub async fn insert(
    conn: &mut AnyConnection,
    ticket_id: i64,
    severity: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO security_incidents (ticket_id, severity) VALUES ($1, $2)")
        .bind(ticket_id)
        .bind(severity)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Option<SecurityRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT ticket_id, severity, override_reason, overridden_by, overridden_at \
         FROM security_incidents WHERE ticket_id = $1",
    )
    .bind(ticket_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn set_severity(
    conn: &mut AnyConnection,
    ticket_id: i64,
    severity: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE security_incidents SET severity = $1 WHERE ticket_id = $2")
        .bind(severity)
        .bind(ticket_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_override(
    conn: &mut AnyConnection,
    ticket_id: i64,
    reason: &str,
    by: Option<i64>,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE security_incidents SET override_reason = $1, overridden_by = $2, \
         overridden_at = $3 WHERE ticket_id = $4",
    )
    .bind(reason)
    .bind(by)
    .bind(at)
    .bind(ticket_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The affected CIs as `(id, name)`, by name.
pub async fn affected_cis(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT c.id, c.name FROM security_affected_cis a JOIN cis c ON c.id = a.ci_id \
         WHERE a.ticket_id = $1 ORDER BY c.name, c.id",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?)
}

pub async fn set_affected_cis(
    conn: &mut AnyConnection,
    ticket_id: i64,
    cis: &[i64],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM security_affected_cis WHERE ticket_id = $1")
        .bind(ticket_id)
        .execute(&mut *conn)
        .await?;
    for ci in cis {
        sqlx::query("INSERT INTO security_affected_cis (ticket_id, ci_id) VALUES ($1, $2)")
            .bind(ticket_id)
            .bind(*ci)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The affected accounts as `(account, user id when it is one of the desk's users)`.
pub async fn affected_accounts(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Vec<(String, Option<i64>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT account, user_id FROM security_affected_accounts WHERE ticket_id = $1 \
         ORDER BY account",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?)
}

pub async fn set_affected_accounts(
    conn: &mut AnyConnection,
    ticket_id: i64,
    accounts: &[(String, Option<i64>)],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM security_affected_accounts WHERE ticket_id = $1")
        .bind(ticket_id)
        .execute(&mut *conn)
        .await?;
    for (account, user) in accounts {
        sqlx::query(
            "INSERT INTO security_affected_accounts (ticket_id, account, user_id) \
             VALUES ($1, $2, $3)",
        )
        .bind(ticket_id)
        .bind(account)
        .bind(*user)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// What a list of security incidents shows of one beyond its ticket.
#[derive(Debug, Clone, Default)]
pub struct SummaryRow {
    pub severity: String,
    /// The restricted group's name.
    pub group: String,
    /// The checklist items done.
    pub done: Vec<String>,
}

/// [`SummaryRow`]s of the security incidents `ticket_ids`, by ticket id, in one statement.
pub async fn summaries(
    conn: &mut AnyConnection,
    ticket_ids: &[i64],
) -> Result<HashMap<i64, SummaryRow>, StoreError> {
    if ticket_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT s.ticket_id, s.severity, COALESCE(g.name, ''), c.item FROM security_incidents s \
         JOIN tickets t ON t.id = s.ticket_id LEFT JOIN groups g ON g.id = t.restricted_group_id \
         LEFT JOIN security_checklist c ON c.ticket_id = s.ticket_id \
         WHERE s.ticket_id IN ({})",
        crate::accounts::placeholders(1, ticket_ids.len())
    );
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for id in ticket_ids {
        query = query.bind(*id);
    }
    let rows: Vec<(i64, String, String, Option<String>)> = query.fetch_all(conn).await?;
    let mut summaries: HashMap<i64, SummaryRow> = HashMap::new();
    for (ticket_id, severity, group, item) in rows {
        let summary = summaries.entry(ticket_id).or_insert_with(|| SummaryRow {
            severity,
            group,
            done: Vec::new(),
        });
        summary.done.extend(item);
    }
    Ok(summaries)
}

/// A ticked checklist item.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckedRow {
    pub item: String,
    pub done_by: Option<i64>,
    pub done_actor: String,
    pub done_at: i64,
}

pub async fn checklist(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Vec<CheckedRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT item, done_by, done_actor, done_at FROM security_checklist \
         WHERE ticket_id = $1 ORDER BY done_at, item",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?)
}

pub async fn tick(
    conn: &mut AnyConnection,
    ticket_id: i64,
    checked: &CheckedRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO security_checklist (ticket_id, item, done_by, done_actor, done_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(ticket_id)
    .bind(&checked.item)
    .bind(checked.done_by)
    .bind(&checked.done_actor)
    .bind(checked.done_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// One handling of an evidence file.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustodyRow {
    pub id: i64,
    pub attachment_id: i64,
    pub filename: String,
    pub action: String,
    pub via: String,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub at: i64,
    pub recorded_sha256: String,
    pub observed_sha256: String,
    pub intact: i64,
}

/// A handling to record.
#[derive(Debug, Clone)]
pub struct NewCustody<'a> {
    pub ticket_id: i64,
    pub attachment_id: i64,
    pub action: &'a str,
    pub via: &'a str,
    pub actor_id: Option<i64>,
    pub actor: &'a str,
    pub recorded_sha256: &'a str,
    pub observed_sha256: &'a str,
}

pub async fn add_custody(
    conn: &mut AnyConnection,
    entry: &NewCustody<'_>,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO evidence_custody (ticket_id, attachment_id, action, via, actor_id, actor, \
         at, recorded_sha256, observed_sha256, intact) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(entry.ticket_id)
    .bind(entry.attachment_id)
    .bind(entry.action)
    .bind(entry.via)
    .bind(entry.actor_id)
    .bind(entry.actor)
    .bind(at)
    .bind(entry.recorded_sha256)
    .bind(entry.observed_sha256)
    .bind(i64::from(entry.recorded_sha256 == entry.observed_sha256))
    .execute(conn)
    .await?;
    Ok(())
}

/// A ticket's chain of custody, oldest first.
pub async fn custody(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Vec<CustodyRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT e.id, e.attachment_id, a.filename, e.action, e.via, e.actor_id, e.actor, e.at, \
         e.recorded_sha256, e.observed_sha256, e.intact \
         FROM evidence_custody e JOIN attachments a ON a.id = e.attachment_id \
         WHERE e.ticket_id = $1 ORDER BY e.id",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?)
}
