-- Monitoring: monitors (probes and heartbeats) with their check state and scheduling
-- lease, outages linked to incidents, raw results with hourly roll-ups, heartbeat pings and
-- maintenance windows.

CREATE TABLE monitors (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER REFERENCES organizations (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    settings TEXT NOT NULL DEFAULT '{}',
    interval_s INTEGER NOT NULL,
    timeout_s INTEGER NOT NULL,
    retries INTEGER NOT NULL,
    recover_after INTEGER NOT NULL,
    incident TEXT NOT NULL DEFAULT '{}',
    requester TEXT NOT NULL,
    depends_on INTEGER REFERENCES monitors (id) ON DELETE SET NULL,
    ping_token TEXT UNIQUE,
    cron TEXT,
    timezone TEXT,
    grace_s INTEGER NOT NULL DEFAULT 0,
    paused INTEGER NOT NULL DEFAULT 0,
    up INTEGER,
    fail_streak INTEGER NOT NULL DEFAULT 0,
    ok_streak INTEGER NOT NULL DEFAULT 0,
    history INTEGER NOT NULL DEFAULT 0,
    seen INTEGER NOT NULL DEFAULT 0,
    flapping INTEGER NOT NULL DEFAULT 0,
    last_check_at INTEGER,
    last_latency_ms INTEGER,
    last_error TEXT,
    last_ping_at INTEGER,
    started_at INTEGER,
    ping_failed INTEGER NOT NULL DEFAULT 0,
    open_outage_id INTEGER,
    state_version INTEGER NOT NULL DEFAULT 0,
    next_check_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX monitors_due ON monitors (next_check_at);
CREATE INDEX monitors_organization ON monitors (organization_id);

CREATE TABLE monitor_outages (
    id INTEGER PRIMARY KEY,
    monitor_id INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    failures INTEGER NOT NULL DEFAULT 1,
    first_error TEXT,
    ticket_id INTEGER REFERENCES tickets (id),
    ticket_resolved INTEGER NOT NULL DEFAULT 0,
    -- One worker at a time brings the incident in line with the outage.
    claimed_until INTEGER
);
-- The database, not only the code, guarantees one open outage per monitor.
CREATE UNIQUE INDEX monitor_outages_open ON monitor_outages (monitor_id) WHERE ended_at IS NULL;
CREATE INDEX monitor_outages_monitor ON monitor_outages (monitor_id, started_at);

CREATE TABLE monitor_results (
    monitor_id INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    latency_ms INTEGER,
    error TEXT
);
CREATE INDEX monitor_results_monitor ON monitor_results (monitor_id, at);
CREATE INDEX monitor_results_at ON monitor_results (at);

CREATE TABLE monitor_rollups (
    monitor_id INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    hour INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    latency_sum INTEGER NOT NULL,
    latency_max INTEGER NOT NULL,
    PRIMARY KEY (monitor_id, hour)
);

CREATE TABLE heartbeat_pings (
    id INTEGER PRIMARY KEY,
    monitor_id INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    exit_code INTEGER,
    duration_ms INTEGER
);
CREATE INDEX heartbeat_pings_monitor ON heartbeat_pings (monitor_id, at);

CREATE TABLE maintenance_windows (
    id INTEGER PRIMARY KEY,
    monitor_id INTEGER REFERENCES monitors (id) ON DELETE CASCADE,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX maintenance_windows_monitor ON maintenance_windows (monitor_id, ends_at);
