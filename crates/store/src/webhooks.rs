//! Outgoing webhooks: URLs that are told about events as they happen.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A registered webhook. `events` is a comma-separated list of event names.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub events: String,
    pub active: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

const WEBHOOK_COLUMNS: &str = "id, url, secret, events, active, created_at, updated_at, version";

pub async fn insert(
    conn: &mut AnyConnection,
    url: &str,
    secret: &str,
    events: &str,
    now: i64,
) -> Result<WebhookRow, StoreError> {
    Ok(sqlx::query_as(sql!(
        "INSERT INTO webhooks (url, secret, events, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING {WEBHOOK_COLUMNS}"
    ))
    .bind(url)
    .bind(secret)
    .bind(events)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<WebhookRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id"))
            .fetch_all(conn)
            .await?,
    )
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<WebhookRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Active webhooks subscribed to `event`.
pub async fn subscribers(
    conn: &mut AnyConnection,
    event: &str,
) -> Result<Vec<WebhookRow>, StoreError> {
    let all: Vec<WebhookRow> = sqlx::query_as(sql!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE active = 1 ORDER BY id"
    ))
    .fetch_all(conn)
    .await?;
    Ok(all
        .into_iter()
        .filter(|hook| hook.events.split(',').any(|e| e == event || e == "*"))
        .collect())
}

pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    let result = sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}
