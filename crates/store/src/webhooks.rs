//! Outgoing webhooks: URLs that are told about events as they happen.

use sqlx::AnyConnection;

use crate::batch::Batch;
use crate::db::Backend;
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

/// Adds to `batch` a `kind` job for every active webhook subscribed to `event` (by name or
/// by `*`), each carrying the webhook's id and `body`. One statement, whatever the number of
/// webhooks, and none of them read beforehand.
pub fn queue_deliveries(
    batch: &mut Batch,
    kind: &str,
    event: &str,
    body: &str,
    max_attempts: i64,
    now: i64,
) {
    let (payload, subscribed) = match batch.backend() {
        Backend::Sqlite => (
            "json_object('webhook_id', id, 'body', json($2))",
            "instr(',' || events || ',', ',' || $3 || ',') > 0 \
             OR instr(',' || events || ',', ',*,') > 0",
        ),
        Backend::Postgres => (
            "json_build_object('webhook_id', id, 'body', $2::json)::text",
            "strpos(',' || events || ',', ',' || $3 || ',') > 0 \
             OR strpos(',' || events || ',', ',*,') > 0",
        ),
    };
    batch
        .push(&format!(
            "INSERT INTO jobs (kind, payload, status, max_attempts, run_at, created_at, updated_at) \
             SELECT $1, {payload}, 'queued', $4, $5, $5, $5 FROM webhooks \
             WHERE active = 1 AND ({subscribed}) ORDER BY id"
        ))
        .bind(kind)
        .bind(body)
        .bind(event)
        .bind(max_attempts)
        .bind(now);
}

pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    let result = sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deliveries_go_to_active_webhooks_subscribed_by_name_or_star()
    -> Result<(), Box<dyn std::error::Error>> {
        let (db, dir) = crate::db::scratch_db("webhook-deliveries").await?;
        let queued: Vec<(i64, String)> = db
            .write(|conn| {
                Box::pin(async move {
                    for events in [
                        "user.created",
                        "*",
                        "ticket.created,user.created",
                        "user.created_by_import",
                        "ticket.created",
                    ] {
                        insert(&mut *conn, "https://hooks.example/", "s", events, 0).await?;
                    }
                    let inactive =
                        insert(&mut *conn, "https://hooks.example/", "s", "user.created", 0)
                            .await?;
                    sqlx::query("UPDATE webhooks SET active = 0 WHERE id = $1")
                        .bind(inactive.id)
                        .execute(&mut *conn)
                        .await?;
                    let mut batch = Batch::new(conn);
                    queue_deliveries(
                        &mut batch,
                        "webhook_delivery",
                        "user.created",
                        r#"{"n":1}"#,
                        8,
                        0,
                    );
                    batch.run(&mut *conn).await?;
                    Ok::<_, StoreError>(
                        sqlx::query_as("SELECT id, payload FROM jobs ORDER BY id")
                            .fetch_all(&mut *conn)
                            .await?,
                    )
                })
            })
            .await?;
        let hooks: Vec<serde_json::Value> = queued
            .iter()
            .map(|(_, payload)| serde_json::from_str(payload))
            .collect::<Result<_, _>>()?;
        let ids: Vec<i64> = hooks
            .iter()
            .filter_map(|p| p["webhook_id"].as_i64())
            .collect();
        assert_eq!(ids, [1, 2, 3]);
        assert!(
            hooks
                .iter()
                .all(|p| p["body"] == serde_json::json!({"n": 1}))
        );
        db.close().await;
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }
}
