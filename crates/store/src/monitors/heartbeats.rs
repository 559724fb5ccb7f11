//! Heartbeats: finding one by its ping token, and recording its pings.

use sqlx::AnyConnection;

use super::maintenance::covering_windows;
use super::{COLUMNS, MonitorRow};
use crate::error::StoreError;

/// A heartbeat found by its ping token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PingedHeartbeat {
    #[sqlx(flatten)]
    pub monitor: MonitorRow,
    /// How many maintenance windows covering it span the time of the ping (see
    /// [`maintenance_covering`](super::maintenance_covering)): with none, it is not in
    /// maintenance.
    pub spanning_windows: i64,
}

/// The heartbeat with this secret ping token, and whether maintenance may hold it at `now`,
/// in one query: a ping is the hottest write path.
pub async fn by_token(
    conn: &mut AnyConnection,
    token: &str,
    now: i64,
) -> Result<Option<PingedHeartbeat>, StoreError> {
    let covering = covering_windows("monitors.id", "$2");
    Ok(sqlx::query_as(sql!(
        "SELECT {COLUMNS}, (SELECT COUNT(*) FROM maintenance_windows w WHERE {covering}) \
         AS spanning_windows FROM monitors WHERE ping_token = $1"
    ))
    .bind(token)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Records a heartbeat ping.
pub async fn insert_ping(
    conn: &mut AnyConnection,
    monitor_id: i64,
    at: i64,
    kind: &str,
    exit_code: Option<i64>,
    duration_ms: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO heartbeat_pings (monitor_id, at, kind, exit_code, duration_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(monitor_id)
    .bind(at)
    .bind(kind)
    .bind(exit_code)
    .bind(duration_ms)
    .execute(conn)
    .await?;
    Ok(())
}
