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

/// Replaces a schedule's name, zone and layers; `None` when there is no such schedule.
pub async fn update_schedule(
    conn: &mut AnyConnection,
    id: i64,
    name: &str,
    time_zone: &str,
    layers: &str,
    now: i64,
) -> Result<Option<ScheduleRow>, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE schedules SET name = $2, time_zone = $3, layers = $4, updated_at = $5 \
         WHERE id = $1 RETURNING {SCHEDULE_COLUMNS}"
    )))
    .bind(id)
    .bind(name)
    .bind(time_zone)
    .bind(layers)
    .bind(now)
    .fetch_optional(conn)
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

/// A person's on-call preferences, as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PreferencesRow {
    pub user_id: i64,
    pub high_urgency: String,
    pub low_urgency: String,
    pub quiet_hours: Option<String>,
    pub calendar_token_hash: Option<String>,
}

const PREFERENCES_SELECT: &str = "SELECT user_id, high_urgency, low_urgency, quiet_hours, \
     calendar_token_hash FROM on_call_preferences";

pub async fn preferences(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Option<PreferencesRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("{PREFERENCES_SELECT} WHERE user_id = $1"))
            .bind(user_id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Writes a person's notification rules, keeping their calendar link.
pub async fn put_rules(
    conn: &mut AnyConnection,
    user_id: i64,
    (high, low): (&str, &str),
    quiet_hours: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO on_call_preferences (user_id, high_urgency, low_urgency, quiet_hours, \
         updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET \
         high_urgency = excluded.high_urgency, low_urgency = excluded.low_urgency, \
         quiet_hours = excluded.quiet_hours, updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(high)
    .bind(low)
    .bind(quiet_hours)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets (or, with none, removes) the secret of a person's calendar link.
pub async fn put_calendar_token(
    conn: &mut AnyConnection,
    user_id: i64,
    token_hash: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO on_call_preferences (user_id, calendar_token_hash, updated_at) \
         VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE SET \
         calendar_token_hash = excluded.calendar_token_hash, updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(token_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The person whose calendar link's secret hashes to `token_hash`.
pub async fn user_of_calendar_token(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT user_id FROM on_call_preferences WHERE calendar_token_hash = $1")
            .bind(token_hash)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(id,)| id))
}
