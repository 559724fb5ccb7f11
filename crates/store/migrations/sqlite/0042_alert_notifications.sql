-- Every notification an integration received, kept thirty days: the rule simulator replays
-- them through draft settings.
CREATE TABLE alert_notifications (
    id INTEGER PRIMARY KEY,
    integration_id INTEGER NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    received_at INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    -- JSON object of the alert's labels.
    labels TEXT NOT NULL
);
CREATE INDEX alert_notifications_received ON alert_notifications (integration_id, received_at);
CREATE INDEX alert_notifications_age ON alert_notifications (received_at);
