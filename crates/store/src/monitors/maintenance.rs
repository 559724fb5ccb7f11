//! Maintenance windows: planned time in which monitors alert no one.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A maintenance window: for one monitor, the monitors with a tag, or (neither) all;
/// once from `starts_at` to `ends_at`, or for `duration_s` from each time of `schedule`
/// between them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MaintenanceRow {
    pub monitor_id: Option<i64>,
    pub tag: Option<String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub reason: String,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub duration_s: Option<i64>,
}

/// The condition on maintenance windows `w` that cover monitor `monitor` (by id, by one of
/// its tags, or all monitors) and whose span includes `now` (SQL expressions).
pub(super) fn covering_windows(monitor: &str, now: &str) -> String {
    format!(
        "w.starts_at <= {now} AND w.ends_at > {now} AND (w.monitor_id = {monitor} \
         OR (w.monitor_id IS NULL AND w.tag IS NULL) \
         OR w.tag IN (SELECT t.tag FROM monitor_tags t WHERE t.monitor_id = {monitor}))"
    )
}

/// The windows covering a monitor (by id, by one of its tags, or all monitors) whose span
/// includes `now`; whether a recurring one is in force is for the caller to work out.
pub async fn maintenance_covering(
    conn: &mut AnyConnection,
    monitor_id: i64,
    now: i64,
) -> Result<Vec<MaintenanceRow>, StoreError> {
    let covering = covering_windows("$1", "$2");
    Ok(sqlx::query_as(sql!(
        "SELECT w.monitor_id, w.tag, w.starts_at, w.ends_at, w.reason, w.schedule, w.timezone, \
                w.duration_s \
         FROM maintenance_windows w WHERE {covering} LIMIT 100"
    ))
    .bind(monitor_id)
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// Adds a maintenance window.
pub async fn insert_maintenance(
    conn: &mut AnyConnection,
    window: &MaintenanceRow,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO maintenance_windows (monitor_id, tag, starts_at, ends_at, reason, schedule, \
         timezone, duration_s, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(window.monitor_id)
    .bind(&window.tag)
    .bind(window.starts_at)
    .bind(window.ends_at)
    .bind(&window.reason)
    .bind(&window.schedule)
    .bind(&window.timezone)
    .bind(window.duration_s)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// A stored maintenance window with its id.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredMaintenance {
    pub id: i64,
    pub created_at: i64,
    #[sqlx(flatten)]
    pub window: MaintenanceRow,
}

const MAINTENANCE_COLUMNS: &str = "w.id, w.created_at, w.monitor_id, w.tag, w.starts_at, \
    w.ends_at, w.reason, w.schedule, w.timezone, w.duration_s";

/// Which maintenance windows a list shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaintenanceFilter<'a> {
    /// Only windows whose monitor is in one of these organizations, or that have no
    /// organization's monitor (tag windows, windows for every monitor, monitors of none).
    pub organizations: Option<&'a [i64]>,
    /// Only windows covering this monitor: its own, its tags' and those for every monitor.
    pub covering: Option<i64>,
    /// Only windows for this tag.
    pub tag: Option<&'a str>,
}

/// Maintenance windows after id `after`, in id order.
pub async fn list_maintenance(
    conn: &mut AnyConnection,
    filter: &MaintenanceFilter<'_>,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredMaintenance>, StoreError> {
    // $1 and $2 are the page; the optional filters take the numbers after them.
    let mut conditions = vec!["w.id > $1".to_owned()];
    match filter.organizations {
        None => {}
        Some([]) => conditions.push("(w.monitor_id IS NULL OR m.organization_id IS NULL)".into()),
        Some(ids) => conditions.push(format!(
            "(w.monitor_id IS NULL OR m.organization_id IS NULL OR m.organization_id IN ({}))",
            ids.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    let mut next = 3;
    if filter.covering.is_some() {
        conditions.push(format!(
            "(w.monitor_id = ${next} OR (w.monitor_id IS NULL AND w.tag IS NULL) \
             OR w.tag IN (SELECT tag FROM monitor_tags WHERE monitor_id = ${next}))"
        ));
        next += 1;
    }
    if filter.tag.is_some() {
        conditions.push(format!("w.tag = ${next}"));
    }
    let conditions = conditions.join(" AND ");
    let sql = sql!(
        "SELECT {MAINTENANCE_COLUMNS} FROM maintenance_windows w \
         LEFT JOIN monitors m ON m.id = w.monitor_id \
         WHERE {conditions} ORDER BY w.id LIMIT $2"
    );
    let mut query = sqlx::query_as(sql).bind(after).bind(limit);
    if let Some(monitor_id) = filter.covering {
        query = query.bind(monitor_id);
    }
    if let Some(tag) = filter.tag {
        query = query.bind(tag);
    }
    Ok(query.fetch_all(conn).await?)
}

/// One maintenance window.
pub async fn maintenance(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<StoredMaintenance>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {MAINTENANCE_COLUMNS} FROM maintenance_windows w WHERE w.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Deletes a maintenance window.
pub async fn delete_maintenance(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    let result = sqlx::query("DELETE FROM maintenance_windows WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Maintenance windows not yet over that cover an organization's monitors (one row per
/// monitor covered by a tag) or all monitors: `(monitor name or none, window)`.
pub async fn upcoming_maintenance(
    conn: &mut AnyConnection,
    organization_id: i64,
    now: i64,
) -> Result<Vec<(Option<String>, MaintenanceRow)>, StoreError> {
    let rows: Vec<MaintenanceWithName> = sqlx::query_as(
        "SELECT m.name, w.monitor_id, w.tag, w.starts_at, w.ends_at, w.reason, w.schedule, \
                w.timezone, w.duration_s \
         FROM maintenance_windows w \
         LEFT JOIN monitors m ON m.id = w.monitor_id \
             OR m.id IN (SELECT t.monitor_id FROM monitor_tags t WHERE t.tag = w.tag) \
         WHERE w.ends_at > $2 \
           AND ((w.monitor_id IS NULL AND w.tag IS NULL) OR m.organization_id = $1) \
         ORDER BY w.starts_at LIMIT 50",
    )
    .bind(organization_id)
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.name, r.window)).collect())
}

#[derive(sqlx::FromRow)]
struct MaintenanceWithName {
    name: Option<String>,
    #[sqlx(flatten)]
    window: MaintenanceRow,
}
