//! Monitors, their outages, check results (raw, then hourly roll-ups), heartbeat pings and
//! maintenance windows. Checks are leased like jobs: a node claims a due monitor until its
//! check can no longer be running, so each check runs on one node, and a dead node's
//! monitors fall to the others once their short leases lapse.

use sqlx::AnyConnection;

use crate::db::Backend;
use crate::error::StoreError;

/// A monitor with its configuration and check state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MonitorRow {
    pub id: i64,
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
    pub ping_token: Option<String>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub grace_s: i64,
    pub paused: i64,
    pub up: Option<i64>,
    pub fail_streak: i64,
    pub ok_streak: i64,
    pub history: i64,
    pub seen: i64,
    pub flapping: i64,
    pub last_check_at: Option<i64>,
    pub last_latency_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_ping_at: Option<i64>,
    pub started_at: Option<i64>,
    pub ping_failed: i64,
    pub open_outage_id: Option<i64>,
    pub state_version: i64,
    pub next_check_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

const COLUMNS: &str = "id, organization_id, name, kind, target, settings, interval_s, timeout_s, \
    retries, recover_after, incident, requester, depends_on, ping_token, cron, timezone, grace_s, \
    paused, up, fail_streak, ok_streak, history, seen, flapping, last_check_at, last_latency_ms, \
    last_error, last_ping_at, started_at, ping_failed, open_outage_id, state_version, \
    next_check_at, lease_owner, lease_until, created_at, updated_at, version";

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

/// A heartbeat found by its ping token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PingedHeartbeat {
    #[sqlx(flatten)]
    pub monitor: MonitorRow,
    /// How many maintenance windows covering it span the time of the ping (see
    /// [`maintenance_covering`]): with none, it is not in maintenance.
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

/// Leases up to `limit` due, unpaused monitors to `node` until their check's timeout plus
/// `slack_ms` has passed. A lease still held by another live node means its check may be
/// running there; one that ran out, or whose node stopped renewing its row (it died), is
/// taken over.
pub async fn claim_due(
    conn: &mut AnyConnection,
    backend: Backend,
    node: &str,
    now: i64,
    slack_ms: i64,
    limit: i64,
) -> Result<Vec<MonitorRow>, StoreError> {
    let locking = match backend {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let gone = crate::nodes::holder_gone("lease_owner", "$1", "$3");
    Ok(sqlx::query_as(sql!(
        "UPDATE monitors SET lease_owner = $1, lease_until = $3 + timeout_s * 1000 + $2 \
         WHERE id IN (SELECT id FROM monitors \
             WHERE next_check_at <= $3 AND paused = 0 \
             AND (lease_until IS NULL OR lease_until < $3 OR {gone}) \
             ORDER BY next_check_at LIMIT $4 {locking}) \
         RETURNING {COLUMNS}"
    ))
    .bind(node)
    .bind(slack_ms)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The earliest time any unpaused monitor is due, to sleep until then.
pub async fn next_due(conn: &mut AnyConnection) -> Result<Option<i64>, StoreError> {
    let (next,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(next_check_at) FROM monitors WHERE paused = 0")
            .fetch_one(conn)
            .await?;
    Ok(next)
}

/// A monitor's check state after a check or ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckUpdate {
    pub up: Option<i64>,
    pub fail_streak: i64,
    pub ok_streak: i64,
    pub history: i64,
    pub seen: i64,
    pub flapping: i64,
    pub last_check_at: Option<i64>,
    pub last_latency_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_ping_at: Option<i64>,
    pub started_at: Option<i64>,
    pub ping_failed: i64,
    pub open_outage_id: Option<i64>,
    pub next_check_at: i64,
}

/// Writes a new check state if the monitor is still at `state_version` (nobody recorded
/// a result in between) and, when `lease_owner` is given, still leased to that node; releases
/// the lease. Returns whether it did: a `false` means the result is stale and must be dropped.
pub async fn update_state(
    conn: &mut AnyConnection,
    id: i64,
    state_version: i64,
    lease_owner: Option<&str>,
    update: &CheckUpdate,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE monitors SET up = $1, fail_streak = $2, ok_streak = $3, history = $4, seen = $5, \
         flapping = $6, last_check_at = $7, last_latency_ms = $8, last_error = $9, \
         last_ping_at = $10, started_at = $11, ping_failed = $12, open_outage_id = $13, \
         next_check_at = $14, updated_at = $15, state_version = state_version + 1, \
         lease_owner = NULL, lease_until = NULL \
         WHERE id = $16 AND state_version = $17 AND ($18 IS NULL OR lease_owner = $18)",
    )
    .bind(update.up)
    .bind(update.fail_streak)
    .bind(update.ok_streak)
    .bind(update.history)
    .bind(update.seen)
    .bind(update.flapping)
    .bind(update.last_check_at)
    .bind(update.last_latency_ms)
    .bind(&update.last_error)
    .bind(update.last_ping_at)
    .bind(update.started_at)
    .bind(update.ping_failed)
    .bind(update.open_outage_id)
    .bind(update.next_check_at)
    .bind(now)
    .bind(id)
    .bind(state_version)
    .bind(lease_owner)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Sets when a monitor is next due.
pub async fn set_next_check(conn: &mut AnyConnection, id: i64, at: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE monitors SET next_check_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Points a monitor at its open outage (or none).
pub async fn set_open_outage(
    conn: &mut AnyConnection,
    id: i64,
    outage_id: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE monitors SET open_outage_id = $1 WHERE id = $2")
        .bind(outage_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores one check result; one taken during maintenance does not count in uptime.
pub async fn insert_result(
    conn: &mut AnyConnection,
    monitor_id: i64,
    at: i64,
    ok: bool,
    latency_ms: Option<i64>,
    error: Option<&str>,
    maintenance: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO monitor_results (monitor_id, at, ok, latency_ms, error, maintenance) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(monitor_id)
    .bind(at)
    .bind(i64::from(ok))
    .bind(latency_ms)
    .bind(error)
    .bind(i64::from(maintenance))
    .execute(conn)
    .await?;
    Ok(())
}

/// An outage: a period a monitor was down, and the incident opened for it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutageRow {
    pub id: i64,
    pub monitor_id: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub failures: i64,
    pub first_error: Option<String>,
    pub ticket_id: Option<i64>,
    pub ticket_resolved: i64,
    /// When failures were last noted on the incident's timeline; `None` before the first note.
    pub noted_at: Option<i64>,
    /// The failure count the last note (or the incident's description) accounted for.
    pub noted_failures: i64,
    /// The error the incident last reported: the first error until a note says otherwise.
    pub noted_error: Option<String>,
}

const OUTAGE_COLUMNS: &str = "id, monitor_id, started_at, ended_at, failures, first_error, \
    ticket_id, ticket_resolved, noted_at, noted_failures, noted_error";

/// Opens an outage. The database allows one open outage per monitor.
pub async fn open_outage(
    conn: &mut AnyConnection,
    monitor_id: i64,
    started_at: i64,
    error: Option<&str>,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO monitor_outages (monitor_id, started_at, first_error, noted_error) \
         VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(monitor_id)
    .bind(started_at)
    .bind(error)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// The monitor's latest outage if it ended at or after `since`: a target going down again
/// that soon continues it rather than starting another (one incident for a flapping target).
pub async fn recent_outage(
    conn: &mut AnyConnection,
    monitor_id: i64,
    since: i64,
) -> Result<Option<OutageRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {OUTAGE_COLUMNS} FROM monitor_outages \
         WHERE monitor_id = $1 AND ended_at IS NOT NULL AND ended_at >= $2 \
         ORDER BY ended_at DESC LIMIT 1"
    ))
    .bind(monitor_id)
    .bind(since)
    .fetch_optional(conn)
    .await?)
}

/// Opens an ended outage again.
pub async fn reopen_outage(conn: &mut AnyConnection, outage_id: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE monitor_outages SET ended_at = NULL, failures = failures + 1 WHERE id = $1",
    )
    .bind(outage_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts one more failed check in an open outage; returns the outage as it now is.
pub async fn count_failure(
    conn: &mut AnyConnection,
    outage_id: i64,
) -> Result<Option<OutageRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "UPDATE monitor_outages SET failures = failures + 1 WHERE id = $1 \
         RETURNING {OUTAGE_COLUMNS}"
    ))
    .bind(outage_id)
    .fetch_optional(conn)
    .await?)
}

/// Records that the incident's timeline now accounts for `failures` failed checks, the last
/// with `error`, as of `at`.
pub async fn note_failures(
    conn: &mut AnyConnection,
    outage_id: i64,
    at: i64,
    failures: i64,
    error: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE monitor_outages SET noted_at = $1, noted_failures = $2, noted_error = $3 \
         WHERE id = $4",
    )
    .bind(at)
    .bind(failures)
    .bind(error)
    .bind(outage_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends an outage.
pub async fn end_outage(
    conn: &mut AnyConnection,
    outage_id: i64,
    ended_at: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE monitor_outages SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
        .bind(ended_at)
        .bind(outage_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// One outage.
pub async fn outage(conn: &mut AnyConnection, id: i64) -> Result<Option<OutageRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {OUTAGE_COLUMNS} FROM monitor_outages WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Links an outage to the incident opened for it unless it already has one; returns
/// whether it did.
pub async fn link_ticket(
    conn: &mut AnyConnection,
    outage_id: i64,
    ticket_id: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE monitor_outages SET ticket_id = $1 WHERE id = $2 AND ticket_id IS NULL",
    )
    .bind(ticket_id)
    .bind(outage_id)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// One outage, locked until the caller's transaction ends, so that the work on its incident
/// runs one transaction at a time (SQLite's single writer already does that). A row lock
/// lives no longer than its connection: a node that dies mid-work holds nobody up.
pub async fn lock_outage(
    conn: &mut AnyConnection,
    backend: Backend,
    id: i64,
) -> Result<Option<OutageRow>, StoreError> {
    let locking = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    Ok(sqlx::query_as(sql!(
        "SELECT {OUTAGE_COLUMNS} FROM monitor_outages WHERE id = $1{locking}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Records whether the outage's incident is resolved (or its recovery noted).
pub async fn mark_ticket_resolved(
    conn: &mut AnyConnection,
    outage_id: i64,
    resolved: bool,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE monitor_outages SET ticket_resolved = $1 WHERE id = $2")
        .bind(i64::from(resolved))
        .bind(outage_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The ticket carrying `tag`, to find an incident opened before a crash kept us from
/// linking it.
pub async fn ticket_with_tag(
    conn: &mut AnyConnection,
    tag: &str,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT ticket_id FROM ticket_tags WHERE tag = $1 LIMIT 1")
            .bind(tag)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(id,)| id))
}

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
fn covering_windows(monitor: &str, now: &str) -> String {
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

/// Checks and successes with summed and worst latency over a period, for uptime figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Tally {
    pub checks: i64,
    pub ok: i64,
    pub latency_sum: i64,
    pub latency_max: i64,
}

/// Raw results per hour in `[from, to)`, merged with the roll-ups of hours already rolled
/// up; each row is `(hour start, tally)`. Results inside maintenance windows are left out.
pub async fn hourly(
    conn: &mut AnyConnection,
    monitor_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Tally)>, StoreError> {
    let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
        // PostgreSQL sums BIGINT into NUMERIC; the casts keep both dialects on BIGINT.
        "SELECT hour, CAST(SUM(checks) AS BIGINT), CAST(SUM(ok) AS BIGINT), \
                CAST(SUM(latency_sum) AS BIGINT), CAST(MAX(latency_max) AS BIGINT) FROM ( \
           SELECT (r.at / 3600000) * 3600000 AS hour, CAST(1 AS BIGINT) AS checks, r.ok AS ok, \
                  COALESCE(r.latency_ms, 0) AS latency_sum, COALESCE(r.latency_ms, 0) AS latency_max \
           FROM monitor_results r WHERE r.monitor_id = $1 AND r.at >= $2 AND r.at < $3 \
             AND r.maintenance = 0 \
           UNION ALL \
           SELECT hour, checks, ok, latency_sum, latency_max FROM monitor_rollups \
           WHERE monitor_id = $1 AND hour >= $2 AND hour < $3 \
         ) t GROUP BY hour ORDER BY hour",
    )
    .bind(monitor_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(hour, checks, ok, latency_sum, latency_max)| {
            (
                hour,
                Tally {
                    checks,
                    ok,
                    latency_sum,
                    latency_max,
                },
            )
        })
        .collect())
}

/// Rolls raw results older than `before` (an hour boundary) up into hourly rows and deletes
/// them; returns how many raw results went.
pub async fn roll_up(conn: &mut AnyConnection, before: i64) -> Result<u64, StoreError> {
    sqlx::query(
        "INSERT INTO monitor_rollups (monitor_id, hour, checks, ok, latency_sum, latency_max) \
         SELECT monitor_id, (at / 3600000) * 3600000, COUNT(*), SUM(ok), \
                SUM(COALESCE(latency_ms, 0)), MAX(COALESCE(latency_ms, 0)) \
         FROM monitor_results r WHERE at < $1 AND r.maintenance = 0 \
         GROUP BY monitor_id, (at / 3600000) * 3600000 \
         ON CONFLICT (monitor_id, hour) DO UPDATE SET checks = monitor_rollups.checks + excluded.checks, \
           ok = monitor_rollups.ok + excluded.ok, latency_sum = monitor_rollups.latency_sum + excluded.latency_sum, \
           latency_max = CASE WHEN excluded.latency_max > monitor_rollups.latency_max \
                         THEN excluded.latency_max ELSE monitor_rollups.latency_max END",
    )
    .bind(before)
    .execute(&mut *conn)
    .await?;
    let deleted = sqlx::query("DELETE FROM monitor_results WHERE at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(deleted.rows_affected())
}

/// Checks and successes per monitor and UTC day in `[from, to)` for an organization's
/// monitors, raw and rolled up, maintenance excluded: `(monitor_id, day start, checks, ok)`.
pub async fn daily(
    conn: &mut AnyConnection,
    organization_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64, i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT monitor_id, day, CAST(SUM(checks) AS BIGINT), CAST(SUM(ok) AS BIGINT) FROM ( \
           SELECT r.monitor_id, (r.at / 86400000) * 86400000 AS day, CAST(1 AS BIGINT) AS checks, r.ok AS ok \
           FROM monitor_results r JOIN monitors m ON m.id = r.monitor_id \
           WHERE m.organization_id = $1 AND r.at >= $2 AND r.at < $3 AND r.maintenance = 0 \
           UNION ALL \
           SELECT u.monitor_id, (u.hour / 86400000) * 86400000 AS day, u.checks, u.ok \
           FROM monitor_rollups u JOIN monitors m ON m.id = u.monitor_id \
           WHERE m.organization_id = $1 AND u.hour >= $2 AND u.hour < $3 \
         ) t GROUP BY monitor_id, day",
    )
    .bind(organization_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?)
}

/// Outages still open on an organization's monitors: `(monitor name, started_at)`.
pub async fn open_outages(
    conn: &mut AnyConnection,
    organization_id: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT m.name, o.started_at FROM monitor_outages o JOIN monitors m ON m.id = o.monitor_id \
         WHERE m.organization_id = $1 AND o.ended_at IS NULL ORDER BY o.started_at",
    )
    .bind(organization_id)
    .fetch_all(conn)
    .await?)
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
