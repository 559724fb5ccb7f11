//! Monitors, their outages, check results (raw, then hourly roll-ups), heartbeat pings and
//! maintenance windows. Checks are leased like jobs: a node claims a due monitor until its
//! check can no longer be running, so each check runs on one node, and a dead node's
//! monitors fall to the others once their short leases lapse.

mod checks;
mod heartbeats;
mod maintenance;
mod manage;
mod outages;

pub use checks::{
    CheckUpdate, Tally, claim_due, daily, hourly, insert_result, next_due, roll_up, set_next_check,
    update_state,
};
pub use heartbeats::{PingedHeartbeat, by_token, insert_ping};
pub use maintenance::{
    MaintenanceFilter, MaintenanceRow, StoredMaintenance, delete_maintenance, insert_maintenance,
    list_maintenance, maintenance, maintenance_covering, upcoming_maintenance,
};
pub use manage::{MonitorConfig, delete, get, insert, list, set_tags, tags, update_config};
pub use outages::{
    OutageRow, count_failure, end_outage, link_ticket, lock_outage, mark_ticket_resolved,
    note_failures, open_outage, open_outages, outage, recent_outage, reopen_outage,
    set_open_outage, ticket_with_tag,
};

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
