//! Alert integrations and the alerts they received.

use sqlx::AnyConnection;

use crate::db::Backend;
use crate::error::StoreError;

/// An integration as stored (its secret only as a hash).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IntegrationRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub requester_id: i64,
    pub requester_email: String,
    pub group_by: String,
    pub escalation_policy_id: Option<i64>,
    pub escalation_policy: Option<String>,
    pub created_at: i64,
}

const INTEGRATION_SELECT: &str = "SELECT i.id, i.name, i.kind, i.requester_id, \
     u.email AS requester_email, i.group_by, i.escalation_policy_id, \
     e.name AS escalation_policy, i.created_at \
     FROM integrations i JOIN users u ON u.id = i.requester_id \
     LEFT JOIN escalation_policies e ON e.id = i.escalation_policy_id";

pub struct NewIntegration<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub requester_id: i64,
    pub token_hash: &'a str,
    pub group_by: &'a str,
    pub escalation_policy_id: Option<i64>,
}

pub async fn insert_integration(
    conn: &mut AnyConnection,
    new: &NewIntegration<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO integrations (name, kind, requester_id, token_hash, group_by, \
         escalation_policy_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(new.name)
    .bind(new.kind)
    .bind(new.requester_id)
    .bind(new.token_hash)
    .bind(new.group_by)
    .bind(new.escalation_policy_id)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name"))?;
    Ok(id)
}

pub async fn integrations(conn: &mut AnyConnection) -> Result<Vec<IntegrationRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{INTEGRATION_SELECT} ORDER BY i.name"
    )))
    .fetch_all(conn)
    .await?)
}

pub async fn integration(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<IntegrationRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{INTEGRATION_SELECT} WHERE i.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn integration_by_name(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<IntegrationRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("{INTEGRATION_SELECT} WHERE i.name = $1"))
            .bind(name)
            .fetch_optional(conn)
            .await?,
    )
}

/// The integration whose secret hashes to `token_hash`.
pub async fn integration_by_token(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<IntegrationRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{INTEGRATION_SELECT} WHERE i.token_hash = $1"
    )))
    .bind(token_hash)
    .fetch_optional(conn)
    .await?)
}

pub async fn delete_integration(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM integrations WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// One alert as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AlertRow {
    pub id: i64,
    pub integration_id: i64,
    pub integration: String,
    pub fingerprint: String,
    pub group_key: String,
    pub status: String,
    pub title: String,
    pub severity: String,
    pub labels: String,
    pub ticket_id: Option<i64>,
    pub first_at: i64,
    pub last_at: i64,
    pub resolved_at: Option<i64>,
    pub occurrences: i64,
    /// The silence that muted its last notification.
    pub silence_id: Option<i64>,
}

const ALERT_SELECT: &str = "SELECT a.id, a.integration_id, i.name AS integration, a.fingerprint, \
     a.group_key, a.status, a.title, a.severity, a.labels, a.ticket_id, a.first_at, a.last_at, \
     a.resolved_at, a.occurrences, a.silence_id \
     FROM alerts a JOIN integrations i ON i.id = a.integration_id";

pub async fn alert_by_fingerprint(
    conn: &mut AnyConnection,
    integration_id: i64,
    fingerprint: &str,
) -> Result<Option<AlertRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ALERT_SELECT} WHERE a.integration_id = $1 AND a.fingerprint = $2"
    )))
    .bind(integration_id)
    .bind(fingerprint)
    .fetch_optional(conn)
    .await?)
}

/// What one notification says of an alert.
pub struct AlertUpdate<'a> {
    pub integration_id: i64,
    pub fingerprint: &'a str,
    pub group_key: &'a str,
    pub status: &'a str,
    pub title: &'a str,
    pub severity: &'a str,
    pub labels: &'a str,
    pub ticket_id: Option<i64>,
    pub silence_id: Option<i64>,
    /// What a search of alerts looks in (see [`alerts`]).
    pub search_text: &'a str,
    pub payload: &'a str,
}

/// Records a notification: a new alert, or the next one of a known alert (which starts
/// over when it fires again after being resolved).
pub async fn save_alert(
    conn: &mut AnyConnection,
    update: &AlertUpdate<'_>,
    now: i64,
) -> Result<(), StoreError> {
    let resolved_at = (update.status == "resolved").then_some(now);
    sqlx::query(
        "INSERT INTO alerts (integration_id, fingerprint, group_key, status, title, severity, \
         labels, ticket_id, first_at, last_at, resolved_at, occurrences, payload, silence_id, \
         search_text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, 1, $11, $12, $13) \
         ON CONFLICT (integration_id, fingerprint) DO UPDATE SET group_key = excluded.group_key, \
         status = excluded.status, title = excluded.title, severity = excluded.severity, \
         labels = excluded.labels, ticket_id = excluded.ticket_id, \
         silence_id = excluded.silence_id, search_text = excluded.search_text, \
         first_at = CASE WHEN alerts.status = 'resolved' AND excluded.status = 'firing' \
           THEN excluded.first_at ELSE alerts.first_at END, \
         last_at = excluded.last_at, resolved_at = excluded.resolved_at, \
         occurrences = alerts.occurrences + 1, payload = excluded.payload",
    )
    .bind(update.integration_id)
    .bind(update.fingerprint)
    .bind(update.group_key)
    .bind(update.status)
    .bind(update.title)
    .bind(update.severity)
    .bind(update.labels)
    .bind(update.ticket_id)
    .bind(now)
    .bind(resolved_at)
    .bind(update.payload)
    .bind(update.silence_id)
    .bind(update.search_text)
    .execute(conn)
    .await?;
    Ok(())
}

/// Holds the group `group_key` of an integration until the transaction ends, so that two
/// alerts of a new problem arriving together open one incident, not two. SQLite's single
/// writer already does; PostgreSQL takes a transaction-scoped advisory lock on the group.
pub async fn lock_group(
    conn: &mut AnyConnection,
    backend: Backend,
    integration_id: i64,
    group_key: &str,
) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        // FNV-1a of the integration and key: stable, and collisions only make two groups
        // wait for each other.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in integration_id
            .to_le_bytes()
            .iter()
            .chain(group_key.as_bytes())
        {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(i64::from_ne_bytes(hash.to_ne_bytes()))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The incident of a group's firing alerts, if it has any.
pub async fn group_ticket(
    conn: &mut AnyConnection,
    integration_id: i64,
    group_key: &str,
) -> Result<Option<i64>, StoreError> {
    let found: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT a.ticket_id FROM alerts a JOIN tickets t ON t.id = a.ticket_id \
         WHERE a.integration_id = $1 AND a.group_key = $2 AND a.status = 'firing' \
         AND t.status IN ('new', 'open', 'pending') ORDER BY a.last_at DESC LIMIT 1",
    )
    .bind(integration_id)
    .bind(group_key)
    .fetch_optional(conn)
    .await?;
    Ok(found.and_then(|(id,)| id))
}

/// How many alerts of an incident still fire.
pub async fn firing_of_ticket(conn: &mut AnyConnection, ticket_id: i64) -> Result<i64, StoreError> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM alerts WHERE ticket_id = $1 AND status = 'firing'")
            .bind(ticket_id)
            .fetch_one(conn)
            .await?;
    Ok(count)
}

/// Which alerts a list shows.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery<'a> {
    /// Only those still firing.
    pub firing_only: bool,
    /// Only those a silence muted (`true`) or did not (`false`).
    pub silenced: Option<bool>,
    /// Only those with this text (lower case) in their title, fingerprint, label values or
    /// integration's name.
    pub text: Option<&'a str>,
    pub limit: i64,
}

/// The most recent alerts that `query` asks for, newest first.
pub async fn alerts(
    conn: &mut AnyConnection,
    query: &AlertQuery<'_>,
) -> Result<Vec<AlertRow>, StoreError> {
    let mut clauses = Vec::new();
    if query.firing_only {
        clauses.push("a.status = 'firing'");
    }
    match query.silenced {
        Some(true) => clauses.push("a.silence_id IS NOT NULL"),
        Some(false) => clauses.push("a.silence_id IS NULL"),
        None => {}
    }
    // The text, when given, is $1; the limit follows.
    let pattern = query.text.map(|text| {
        clauses.push("(a.search_text LIKE $1 ESCAPE '\\' OR lower(i.name) LIKE $1 ESCAPE '\\')");
        format!("%{}%", escape_like(text))
    });
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let limit_at = if pattern.is_some() { 2 } else { 1 };
    let sql = sql!("{ALERT_SELECT}{filter} ORDER BY a.last_at DESC, a.id DESC LIMIT ${limit_at}");
    let mut statement = sqlx::query_as(sql);
    if let Some(pattern) = pattern {
        statement = statement.bind(pattern);
    }
    Ok(statement.bind(query.limit).fetch_all(conn).await?)
}

/// `text` matched literally by `LIKE … ESCAPE '\'`.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
