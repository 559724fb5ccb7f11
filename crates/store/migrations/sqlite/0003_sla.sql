-- SLAs: business calendars, policies, and each ticket's clocks.

CREATE TABLE calendars (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX calendars_name ON calendars (lower(name));

-- Policies are tried in `position` order; the first that covers a ticket applies.
CREATE TABLE sla_policies (
    id INTEGER PRIMARY KEY,
    position INTEGER NOT NULL,
    calendar_id INTEGER NOT NULL REFERENCES calendars (id),
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX sla_policies_position ON sla_policies (position, id);

-- One row per ticket under an SLA. Each clock is a checkpoint: business seconds used so far
-- and since when it runs. `next_check_at` is the earliest warning or breach still to raise,
-- so the sweeper finds due tickets through an index, never a scan of open tickets.
CREATE TABLE ticket_sla (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    policy_id INTEGER REFERENCES sla_policies (id) ON DELETE SET NULL,
    policy_name TEXT NOT NULL,
    calendar_id INTEGER NOT NULL REFERENCES calendars (id),
    warnings TEXT NOT NULL,
    response_target INTEGER NOT NULL,
    response_elapsed INTEGER NOT NULL DEFAULT 0,
    response_running_since INTEGER,
    response_met_at INTEGER,
    response_raised INTEGER NOT NULL DEFAULT 0,
    response_due_at INTEGER,
    response_breached INTEGER NOT NULL DEFAULT 0,
    resolution_target INTEGER NOT NULL,
    resolution_elapsed INTEGER NOT NULL DEFAULT 0,
    resolution_running_since INTEGER,
    resolution_met_at INTEGER,
    resolution_raised INTEGER NOT NULL DEFAULT 0,
    resolution_due_at INTEGER,
    resolution_breached INTEGER NOT NULL DEFAULT 0,
    next_check_at INTEGER
);
CREATE INDEX ticket_sla_next_check ON ticket_sla (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX ticket_sla_response_due ON ticket_sla (response_due_at) WHERE response_due_at IS NOT NULL;
CREATE INDEX ticket_sla_resolution_due ON ticket_sla (resolution_due_at) WHERE resolution_due_at IS NOT NULL;

INSERT INTO calendars (id, name, spec, created_at, updated_at)
VALUES (1, '24x7 UTC', '{"timezone":"UTC","hours":[],"holidays":[],"always_open":true}', 0, 0);

INSERT INTO sla_policies (id, position, calendar_id, spec, created_at, updated_at)
VALUES (1, 100, 1, '{"name":"Default","organizations":[],"ticket_types":[],"priorities":[],"categories":[],"targets":{"P1":{"response_seconds":900,"resolution_seconds":14400},"P2":{"response_seconds":3600,"resolution_seconds":28800},"P3":{"response_seconds":14400,"resolution_seconds":259200},"P4":{"response_seconds":28800,"resolution_seconds":432000},"P5":{"response_seconds":172800,"resolution_seconds":864000}},"warnings":[75,90]}', 0, 0);
