-- Paging: escalation policies (levels of targets, JSON of the domain's
-- `escalation::Level`), the page of an incident as it walks its policy, and each
-- notification sent, with the hash of the secret its acknowledge link carries.
CREATE TABLE escalation_policies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    levels TEXT NOT NULL,
    repeats INTEGER NOT NULL,
    -- An incoming webhook of a chat tool (Slack, Mattermost, Teams) told of every page.
    chat_webhook_url TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

ALTER TABLE integrations ADD COLUMN escalation_policy_id INTEGER REFERENCES escalation_policies (id);

CREATE TABLE pages (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL UNIQUE REFERENCES tickets (id) ON DELETE CASCADE,
    policy_id INTEGER NOT NULL REFERENCES escalation_policies (id),
    status TEXT NOT NULL CHECK (status IN ('triggered', 'acknowledged', 'resolved', 'exhausted')),
    round INTEGER NOT NULL,
    level INTEGER NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX pages_status ON pages (status, updated_at);

CREATE TABLE page_notifications (
    id INTEGER PRIMARY KEY,
    page_id INTEGER NOT NULL REFERENCES pages (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id),
    round INTEGER NOT NULL,
    level INTEGER NOT NULL,
    -- SHA-256 of the secret in the mailed link; set when the mail is sent.
    token_hash TEXT UNIQUE,
    sent_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX page_notifications_page ON page_notifications (page_id);
