//! Host agents, their enrolment tokens, and the inventory they report.

use serde::Serialize;
use sqlx::AnyConnection;

use crate::accounts::placeholders;
use crate::batch::Batch;
use crate::db::Backend;
use crate::error::StoreError;

pub async fn insert_enrolment(
    conn: &mut AnyConnection,
    token_hash: &str,
    organization_id: Option<i64>,
    created_by: &str,
    now: i64,
    expires_at: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO agent_enrolments (token_hash, organization_id, created_by, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(token_hash)
    .bind(organization_id)
    .bind(created_by)
    .bind(now)
    .bind(expires_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Spends an enrolment token: its organization and who made it, when it was unused and
/// unexpired; `None` otherwise.
pub async fn use_enrolment(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<Option<(Option<i64>, String)>, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE agent_enrolments SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
         AND expires_at > $2 RETURNING organization_id, created_by",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AgentRow {
    pub id: i64,
    pub ci_id: i64,
    pub hostname: String,
    pub monitor_id: Option<i64>,
    pub enrolled_at: i64,
    pub last_report_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const AGENT_COLUMNS: &str =
    "id, ci_id, hostname, monitor_id, enrolled_at, last_report_at, revoked_at";

pub async fn insert_agent(
    conn: &mut AnyConnection,
    ci_id: i64,
    credential_hash: &str,
    hostname: &str,
    monitor_id: Option<i64>,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO agents (ci_id, credential_hash, hostname, monitor_id, enrolled_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(ci_id)
    .bind(credential_hash)
    .bind(hostname)
    .bind(monitor_id)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// The unrevoked agent a credential belongs to.
pub async fn agent_by_credential(
    conn: &mut AnyConnection,
    credential_hash: &str,
) -> Result<Option<AgentRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {AGENT_COLUMNS} FROM agents WHERE credential_hash = $1 AND revoked_at IS NULL"
    ))
    .bind(credential_hash)
    .fetch_optional(conn)
    .await?)
}

/// What a report needs of the unrevoked agent a credential belongs to: its id, its item,
/// and the ping token of its heartbeat monitor.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReportingAgent {
    pub id: i64,
    pub ci_id: i64,
    pub ping_token: Option<String>,
}

pub async fn reporting_agent(
    conn: &mut AnyConnection,
    credential_hash: &str,
) -> Result<Option<ReportingAgent>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.ci_id, m.ping_token FROM agents a \
         LEFT JOIN monitors m ON m.id = a.monitor_id \
         WHERE a.credential_hash = $1 AND a.revoked_at IS NULL",
    )
    .bind(credential_hash)
    .fetch_optional(conn)
    .await?)
}

pub async fn agents_of(conn: &mut AnyConnection, ci_id: i64) -> Result<Vec<AgentRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {AGENT_COLUMNS} FROM agents WHERE ci_id = $1 ORDER BY id DESC"
    ))
    .bind(ci_id)
    .fetch_all(conn)
    .await?)
}

pub async fn agent(conn: &mut AnyConnection, id: i64) -> Result<Option<AgentRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn revoke_agent(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("UPDATE agents SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected()
            > 0,
    )
}

pub fn touch_agent(batch: &mut Batch, id: i64, hostname: &str, now: i64) {
    batch
        .push("UPDATE agents SET last_report_at = $2, hostname = $3 WHERE id = $1")
        .bind(id)
        .bind(now)
        .bind(hostname);
}

/// A stored section of an item: its hash, and its JSON when asked for.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SectionRow {
    pub section: String,
    pub hash: String,
    pub data: Option<String>,
}

/// Each stored section of item `ci_id` with its hash, and the JSON of those named in
/// `with_data`: one query for what a report compares and diffs against.
pub async fn sections(
    conn: &mut AnyConnection,
    ci_id: i64,
    with_data: &[&str],
) -> Result<Vec<SectionRow>, StoreError> {
    let data = if with_data.is_empty() {
        "NULL".to_owned()
    } else {
        format!(
            "CASE WHEN section IN ({}) THEN data END",
            placeholders(2, with_data.len())
        )
    };
    let sql = sql!("SELECT section, hash, {data} AS data FROM ci_sections WHERE ci_id = $1");
    let mut query = sqlx::query_as(sql).bind(ci_id);
    for section in with_data {
        query = query.bind(*section);
    }
    Ok(query.fetch_all(conn).await?)
}

/// A stored section's JSON.
pub async fn section(
    conn: &mut AnyConnection,
    ci_id: i64,
    section: &str,
) -> Result<Option<(String, i64)>, StoreError> {
    Ok(
        sqlx::query_as(
            "SELECT data, updated_at FROM ci_sections WHERE ci_id = $1 AND section = $2",
        )
        .bind(ci_id)
        .bind(section)
        .fetch_optional(conn)
        .await?,
    )
}

pub fn put_section(
    batch: &mut Batch,
    ci_id: i64,
    section: &str,
    hash: &str,
    data: String,
    now: i64,
) {
    batch
        .push(
            "INSERT INTO ci_sections (ci_id, section, hash, data, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ci_id, section) \
             DO UPDATE SET hash = excluded.hash, data = excluded.data, \
             updated_at = excluded.updated_at",
        )
        .bind(ci_id)
        .bind(section)
        .bind(hash)
        .bind(data)
        .bind(now);
}

/// An installed package as stored.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct PackageRow {
    pub name: String,
    pub architecture: String,
    pub version: String,
    pub manager: String,
}

pub async fn packages(conn: &mut AnyConnection, ci_id: i64) -> Result<Vec<PackageRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT name, architecture, version, manager FROM ci_packages WHERE ci_id = $1 \
         ORDER BY name, architecture",
    )
    .bind(ci_id)
    .fetch_all(conn)
    .await?)
}

/// The rows of a JSON array of objects with text fields `columns`, for `SELECT … FROM`:
/// one statement whose text (and cached preparation) is the same however many rows.
fn json_rows(backend: Backend, placeholder: &str, columns: &[&str]) -> String {
    match backend {
        Backend::Sqlite => {
            let fields: Vec<String> = columns
                .iter()
                .map(|c| format!("json_extract(value, '$.{c}') AS {c}"))
                .collect();
            format!(
                "(SELECT {} FROM json_each({placeholder}))",
                fields.join(", ")
            )
        }
        Backend::Postgres => {
            let fields: Vec<String> = columns.iter().map(|c| format!("{c} text")).collect();
            format!(
                "json_to_recordset({placeholder}::json) AS r({})",
                fields.join(", ")
            )
        }
    }
}

/// Writes item `ci_id`'s `packages`, new or in a new version.
pub fn upsert_packages(batch: &mut Batch, ci_id: i64, packages: &[PackageRow]) {
    if packages.is_empty() {
        return;
    }
    let rows = json_rows(
        batch.backend(),
        "$2",
        &["name", "architecture", "version", "manager"],
    );
    // `WHERE true` tells SQLite's parser the `ON CONFLICT` is the upsert's, not a join's.
    batch
        .push(&format!(
            "INSERT INTO ci_packages (ci_id, name, architecture, version, manager) \
             SELECT $1, name, architecture, version, manager FROM {rows} WHERE true \
             ON CONFLICT (ci_id, name, architecture) \
             DO UPDATE SET version = excluded.version, manager = excluded.manager"
        ))
        .bind(ci_id)
        .bind(serde_json::to_string(packages).unwrap_or_default());
}

/// A package to remove, by its key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackageKey<'a> {
    pub name: &'a str,
    pub architecture: &'a str,
}

/// Removes item `ci_id`'s `packages`.
pub fn delete_packages(batch: &mut Batch, ci_id: i64, packages: &[PackageKey<'_>]) {
    if packages.is_empty() {
        return;
    }
    let rows = json_rows(batch.backend(), "$2", &["name", "architecture"]);
    batch
        .push(&format!(
            "DELETE FROM ci_packages WHERE ci_id = $1 AND (name, architecture) IN \
             (SELECT name, architecture FROM {rows})"
        ))
        .bind(ci_id)
        .bind(serde_json::to_string(packages).unwrap_or_default());
}

/// Items with package `name` installed, with its version.
pub async fn installs_of(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT ci_id, version FROM ci_packages WHERE name = $1 ORDER BY ci_id")
            .bind(name)
            .fetch_all(conn)
            .await?,
    )
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UpdateRow {
    pub name: String,
    pub current_version: String,
    pub candidate: String,
    pub security: i64,
    pub first_seen_at: i64,
}

pub async fn updates(conn: &mut AnyConnection, ci_id: i64) -> Result<Vec<UpdateRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT name, current_version, candidate, security, first_seen_at FROM ci_updates \
         WHERE ci_id = $1 ORDER BY security DESC, first_seen_at, name",
    )
    .bind(ci_id)
    .fetch_all(conn)
    .await?)
}

/// Replaces item `ci_id`'s pending updates, keeping when each was first seen.
pub async fn replace_updates(
    conn: &mut AnyConnection,
    ci_id: i64,
    updates: &[UpdateRow],
) -> Result<(), StoreError> {
    let names: Vec<&str> = updates.iter().map(|u| u.name.as_str()).collect();
    if names.is_empty() {
        sqlx::query("DELETE FROM ci_updates WHERE ci_id = $1")
            .bind(ci_id)
            .execute(&mut *conn)
            .await?;
    } else {
        // Few updates are pending on a host; the list fits one statement.
        let sql = sql!(
            "DELETE FROM ci_updates WHERE ci_id = $1 AND name NOT IN ({})",
            placeholders(2, names.len())
        );
        let mut query = sqlx::query(sql).bind(ci_id);
        for name in &names {
            query = query.bind(*name);
        }
        query.execute(&mut *conn).await?;
    }
    for update in updates {
        sqlx::query(
            "INSERT INTO ci_updates (ci_id, name, current_version, candidate, security, \
             first_seen_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ci_id, name) \
             DO UPDATE SET current_version = excluded.current_version, \
             candidate = excluded.candidate, security = excluded.security",
        )
        .bind(ci_id)
        .bind(&update.name)
        .bind(&update.current_version)
        .bind(&update.candidate)
        .bind(update.security)
        .bind(update.first_seen_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Items with a pending update (a security one with `security_only`).
pub async fn ids_with_updates(
    conn: &mut AnyConnection,
    security_only: bool,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT DISTINCT ci_id FROM ci_updates WHERE security >= $1 ORDER BY ci_id")
            .bind(i64::from(security_only))
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Adds lines to item `ci_id`'s inventory history, in the order given.
pub fn insert_changes(batch: &mut Batch, ci_id: i64, at: i64, section: &str, summaries: &[String]) {
    if summaries.is_empty() {
        return;
    }
    let lines = match batch.backend() {
        Backend::Sqlite => "SELECT $1, $2, $3, value FROM json_each($4) ORDER BY key",
        Backend::Postgres => {
            "SELECT $1, $2, $3, value FROM json_array_elements_text($4::json) \
             WITH ORDINALITY AS l(value, n) ORDER BY n"
        }
    };
    batch
        .push(&format!(
            "INSERT INTO ci_inventory_changes (ci_id, at, section, summary) {lines}"
        ))
        .bind(ci_id)
        .bind(at)
        .bind(section)
        .bind(serde_json::to_string(summaries).unwrap_or_default());
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ChangeRow {
    pub at: i64,
    pub section: String,
    pub summary: String,
}

/// What changed in item `ci_id`'s inventory since `since`, the latest first.
pub async fn changes(
    conn: &mut AnyConnection,
    ci_id: i64,
    since: i64,
    limit: i64,
) -> Result<Vec<ChangeRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT at, section, summary FROM ci_inventory_changes WHERE ci_id = $1 AND at >= $2 \
         ORDER BY at DESC, id DESC LIMIT $3",
    )
    .bind(ci_id)
    .bind(since)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub async fn set_agent_monitor(
    conn: &mut AnyConnection,
    agent: i64,
    monitor: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE agents SET monitor_id = $2 WHERE id = $1")
        .bind(agent)
        .bind(monitor)
        .execute(conn)
        .await?;
    Ok(())
}
