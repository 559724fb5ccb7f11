//! On-call schedules and their overrides.

use sqlx::AnyConnection;

use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ScheduleRow {
    pub id: i64,
    pub name: String,
    pub time_zone: String,
    pub layers: String,
    pub created_at: i64,
}

const SCHEDULE_COLUMNS: &str = "id, name, time_zone, layers, created_at";

pub async fn insert_schedule(
    conn: &mut AnyConnection,
    name: &str,
    time_zone: &str,
    layers: &str,
    now: i64,
) -> Result<ScheduleRow, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO schedules (name, time_zone, layers, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING {SCHEDULE_COLUMNS}"
    )))
    .bind(name)
    .bind(time_zone)
    .bind(layers)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name"))
}

pub async fn schedules(conn: &mut AnyConnection) -> Result<Vec<ScheduleRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY name"
    )))
    .fetch_all(conn)
    .await?)
}

pub async fn schedule(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<ScheduleRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OverrideRow {
    pub id: i64,
    pub schedule_id: i64,
    pub email: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
}

pub async fn insert_override(
    conn: &mut AnyConnection,
    schedule_id: i64,
    user_id: i64,
    (starts_at, ends_at): (i64, i64),
    created_by: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO schedule_overrides (schedule_id, user_id, starts_at, ends_at, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(schedule_id)
    .bind(user_id)
    .bind(starts_at)
    .bind(ends_at)
    .bind(created_by)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// A schedule's overrides that end after `after`, in the order they were added.
pub async fn overrides(
    conn: &mut AnyConnection,
    schedule_id: i64,
    after: i64,
) -> Result<Vec<OverrideRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT o.id, o.schedule_id, u.email, o.starts_at, o.ends_at, o.created_by \
         FROM schedule_overrides o JOIN users u ON u.id = o.user_id \
         WHERE o.schedule_id = $1 AND o.ends_at > $2 ORDER BY o.id",
    )
    .bind(schedule_id)
    .bind(after)
    .fetch_all(conn)
    .await?)
}
