-- opsdesk: foreign keys off
-- E-mail integrations: mail delivered to an integration's address becomes its alerts. One
-- address belongs to one integration; the other kinds have none. The kind's CHECK gains
-- `email`, and SQLite changes a constraint only by rebuilding the table: foreign keys are
-- off meanwhile (the first line asks for it), so the alerts, silences and firings that
-- refer to an integration stay, and are checked before the change commits.
CREATE TABLE integrations_rebuilt (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('alertmanager', 'generic', 'email')),
    requester_id INTEGER NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    group_by TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    escalation_policy_id INTEGER REFERENCES escalation_policies (id),
    hold_back_minutes INTEGER NOT NULL DEFAULT 0,
    resolve_after_minutes INTEGER NOT NULL DEFAULT 0,
    open_after_count INTEGER NOT NULL DEFAULT 1,
    open_after_minutes INTEGER NOT NULL DEFAULT 0,
    max_incidents_per_hour INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    silent_after_minutes INTEGER NOT NULL DEFAULT 0,
    last_received_at INTEGER,
    silent_since INTEGER,
    address TEXT UNIQUE
);
INSERT INTO integrations_rebuilt (id, name, kind, requester_id, token_hash, group_by,
    created_at, escalation_policy_id, hold_back_minutes, resolve_after_minutes,
    open_after_count, open_after_minutes, max_incidents_per_hour, version,
    silent_after_minutes, last_received_at, silent_since)
SELECT id, name, kind, requester_id, token_hash, group_by, created_at, escalation_policy_id,
    hold_back_minutes, resolve_after_minutes, open_after_count, open_after_minutes,
    max_incidents_per_hour, version, silent_after_minutes, last_received_at, silent_since
FROM integrations;
DROP TABLE integrations;
ALTER TABLE integrations_rebuilt RENAME TO integrations;
