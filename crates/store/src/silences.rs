//! Silences: matchers that mute alerts for a while.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A silence as stored, with its integration's name when it has one.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SilenceRow {
    pub id: i64,
    pub integration_id: Option<i64>,
    pub integration: Option<String>,
    /// JSON list of `{"name", "op", "value"}`.
    pub matchers: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub comment: String,
    pub created_by: String,
    pub created_at: i64,
}

const SILENCE_SELECT: &str = "SELECT s.id, s.integration_id, i.name AS integration, s.matchers, \
     s.starts_at, s.ends_at, s.comment, s.created_by, s.created_at \
     FROM silences s LEFT JOIN integrations i ON i.id = s.integration_id";

pub struct NewSilence<'a> {
    pub integration_id: Option<i64>,
    pub matchers: &'a str,
    pub starts_at: i64,
    pub ends_at: i64,
    pub comment: &'a str,
    pub created_by: &'a str,
}

pub async fn insert_silence(
    conn: &mut AnyConnection,
    new: &NewSilence<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO silences (integration_id, matchers, starts_at, ends_at, comment, \
         created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(new.integration_id)
    .bind(new.matchers)
    .bind(new.starts_at)
    .bind(new.ends_at)
    .bind(new.comment)
    .bind(new.created_by)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn silence(conn: &mut AnyConnection, id: i64) -> Result<Option<SilenceRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{SILENCE_SELECT} WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// Silences ending after `ends_after` (all when `None`), the latest to start first.
pub async fn silences(
    conn: &mut AnyConnection,
    ends_after: Option<i64>,
    limit: i64,
) -> Result<Vec<SilenceRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "{SILENCE_SELECT} WHERE s.ends_at > $1 ORDER BY s.starts_at DESC, s.id DESC LIMIT $2"
    ))
    .bind(ends_after.unwrap_or(i64::MIN))
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The silences in force at `now` over the alerts of integration `integration_id`: its
/// own and those of every integration, oldest first.
pub async fn silences_in_force(
    conn: &mut AnyConnection,
    integration_id: i64,
    now: i64,
) -> Result<Vec<SilenceRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "{SILENCE_SELECT} WHERE s.ends_at > $1 AND s.starts_at <= $1 \
         AND (s.integration_id IS NULL OR s.integration_id = $2) ORDER BY s.id"
    ))
    .bind(now)
    .bind(integration_id)
    .fetch_all(conn)
    .await?)
}

/// The silences over the alerts of integration `integration_id` at any time after `since`
/// (its own and those of every integration), oldest first: what the simulator replays with.
pub async fn silences_since(
    conn: &mut AnyConnection,
    integration_id: i64,
    since: i64,
) -> Result<Vec<SilenceRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "{SILENCE_SELECT} WHERE s.ends_at > $1 \
         AND (s.integration_id IS NULL OR s.integration_id = $2) ORDER BY s.id"
    ))
    .bind(since)
    .bind(integration_id)
    .fetch_all(conn)
    .await?)
}

/// Ends a silence at `now` (one yet to start ends before it starts); false when it had
/// already ended.
pub async fn expire_silence(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE silences SET ends_at = $2, \
         starts_at = CASE WHEN starts_at > $2 THEN $2 ELSE starts_at END \
         WHERE id = $1 AND ends_at > $2",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
