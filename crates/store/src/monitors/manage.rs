//! Managing monitors: their configuration, tags, and reading them back.

use sqlx::AnyConnection;

use super::{COLUMNS, MonitorRow};
use crate::error::StoreError;

/// What a person configures on a monitor.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub organization_id: Option<i64>,
    pub name: String,
    pub kind: String,
    pub target: String,
    pub settings: String,
    pub interval_s: i64,
    pub timeout_s: i64,
    pub retries: i64,
    pub recover_after: i64,
    pub incident: String,
    pub requester: String,
    pub depends_on: Option<i64>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub grace_s: i64,
    pub paused: bool,
}

/// Adds a monitor, first due at `first_check_at`.
pub async fn insert(
    conn: &mut AnyConnection,
    config: &MonitorConfig,
    ping_token: Option<&str>,
    first_check_at: i64,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO monitors (organization_id, name, kind, target, settings, interval_s, timeout_s, \
         retries, recover_after, incident, requester, depends_on, cron, timezone, grace_s, paused, \
         ping_token, next_check_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19) \
         RETURNING id",
    )
    .bind(config.organization_id)
    .bind(&config.name)
    .bind(&config.kind)
    .bind(&config.target)
    .bind(&config.settings)
    .bind(config.interval_s)
    .bind(config.timeout_s)
    .bind(config.retries)
    .bind(config.recover_after)
    .bind(&config.incident)
    .bind(&config.requester)
    .bind(config.depends_on)
    .bind(&config.cron)
    .bind(&config.timezone)
    .bind(config.grace_s)
    .bind(i64::from(config.paused))
    .bind(ping_token)
    .bind(first_check_at)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Replaces a monitor's configuration if it is still at `version`; the next check is due at
/// `next_check_at`. Returns whether it was.
pub async fn update_config(
    conn: &mut AnyConnection,
    id: i64,
    version: i64,
    config: &MonitorConfig,
    next_check_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE monitors SET organization_id = $1, name = $2, target = $3, settings = $4, \
         interval_s = $5, timeout_s = $6, retries = $7, recover_after = $8, incident = $9, \
         depends_on = $10, cron = $11, timezone = $12, grace_s = $13, paused = $14, \
         next_check_at = $15, updated_at = $16, version = version + 1 \
         WHERE id = $17 AND version = $18",
    )
    .bind(config.organization_id)
    .bind(&config.name)
    .bind(&config.target)
    .bind(&config.settings)
    .bind(config.interval_s)
    .bind(config.timeout_s)
    .bind(config.retries)
    .bind(config.recover_after)
    .bind(&config.incident)
    .bind(config.depends_on)
    .bind(&config.cron)
    .bind(&config.timezone)
    .bind(config.grace_s)
    .bind(i64::from(config.paused))
    .bind(next_check_at)
    .bind(now)
    .bind(id)
    .bind(version)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Deletes a monitor with its history.
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    let result = sqlx::query("DELETE FROM monitors WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// One monitor.
pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<MonitorRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("SELECT {COLUMNS} FROM monitors WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Monitors after id `after`, in id order; `organizations` limits them when given (records
/// of no organization are then left out).
pub async fn list(
    conn: &mut AnyConnection,
    organizations: Option<&[i64]>,
    after: i64,
    limit: i64,
) -> Result<Vec<MonitorRow>, StoreError> {
    let filter = match organizations {
        None => String::new(),
        Some([]) => " AND 1 = 0".to_owned(),
        Some(ids) => format!(
            " AND organization_id IN ({})",
            ids.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Ok(sqlx::query_as(sql!(
        "SELECT {COLUMNS} FROM monitors WHERE id > $1{filter} ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// A monitor's tags, in order.
pub async fn tags(conn: &mut AnyConnection, monitor_id: i64) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT tag FROM monitor_tags WHERE monitor_id = $1 ORDER BY tag")
            .bind(monitor_id)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(tag,)| tag).collect())
}

/// Replaces a monitor's tags.
pub async fn set_tags(
    conn: &mut AnyConnection,
    monitor_id: i64,
    tags: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM monitor_tags WHERE monitor_id = $1")
        .bind(monitor_id)
        .execute(&mut *conn)
        .await?;
    for tag in tags {
        sqlx::query("INSERT INTO monitor_tags (monitor_id, tag) VALUES ($1, $2)")
            .bind(monitor_id)
            .bind(tag)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
