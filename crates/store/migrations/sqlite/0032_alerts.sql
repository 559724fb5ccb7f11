-- Alert integrations: a secret URL per source (Alertmanager, or any tool posting JSON) whose
-- alerts become incidents of the requester's organization, one per problem.
CREATE TABLE integrations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('alertmanager', 'generic')),
    requester_id INTEGER NOT NULL REFERENCES users (id),
    -- SHA-256 of the URL's secret.
    token_hash TEXT NOT NULL UNIQUE,
    -- JSON list of label names alerts are grouped by into one incident; empty: by alert.
    group_by TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL
);

-- One alert (one fingerprint) of an integration, while it fires and after; a firing alert
-- belongs to the open incident of its group.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    integration_id INTEGER NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    group_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    labels TEXT NOT NULL,
    ticket_id INTEGER REFERENCES tickets (id) ON DELETE SET NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    resolved_at INTEGER,
    occurrences INTEGER NOT NULL,
    -- The last payload received for it, as sent.
    payload TEXT NOT NULL,
    UNIQUE (integration_id, fingerprint)
);
CREATE INDEX alerts_group ON alerts (integration_id, group_key, status);
CREATE INDEX alerts_ticket ON alerts (ticket_id);
CREATE INDEX alerts_last ON alerts (last_at);
