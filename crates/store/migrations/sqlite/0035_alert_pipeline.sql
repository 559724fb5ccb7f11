-- Silences, searching alerts, and each integration's pipeline settings.

-- A silence mutes the alerts its matchers fit, of one integration or of all, from
-- starts_at until ends_at: they are recorded, but open and join no incident.
CREATE TABLE silences (
    id INTEGER PRIMARY KEY,
    integration_id INTEGER REFERENCES integrations (id) ON DELETE CASCADE,
    -- JSON list of {"name", "op", "value"}; every one must fit an alert's labels.
    matchers TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    comment TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX silences_ends ON silences (ends_at);

-- The silence that muted an alert's last notification, if one did.
ALTER TABLE alerts ADD COLUMN silence_id INTEGER REFERENCES silences (id) ON DELETE SET NULL;
-- The alert's title, fingerprint and label values in lower case, one a line: what a
-- search of alerts looks in.
ALTER TABLE alerts ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE alerts SET search_text = lower(title || char(10) || fingerprint || char(10)
    || COALESCE((SELECT group_concat(value, char(10)) FROM json_each(alerts.labels)), ''));

-- How an integration's alerts become incidents; 0 turns a setting off.
ALTER TABLE integrations ADD COLUMN hold_back_minutes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN resolve_after_minutes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN open_after_count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE integrations ADD COLUMN open_after_minutes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN max_incidents_per_hour INTEGER NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- The incidents an integration's alerts opened: the storm cap counts the last hour's.
CREATE TABLE alert_incidents (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    integration_id INTEGER NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    -- 'group': one problem's; 'storm': the one new problems join beyond the cap.
    kind TEXT NOT NULL CHECK (kind IN ('group', 'storm')),
    opened_at INTEGER NOT NULL
);
CREATE INDEX alert_incidents_opened ON alert_incidents (integration_id, kind, opened_at);

-- Firing notifications of groups still short of their integration's threshold.
CREATE TABLE alert_firings (
    id INTEGER PRIMARY KEY,
    integration_id INTEGER NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    group_key TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX alert_firings_group ON alert_firings (integration_id, group_key, at);
