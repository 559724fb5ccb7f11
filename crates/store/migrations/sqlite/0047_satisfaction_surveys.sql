-- Satisfaction surveys: one per resolution of a ticket, rated 1 to 5 by its requester from
-- a mailed link or the portal; the survey settings; and each group's lead, whom a low score
-- is mailed to.

ALTER TABLE groups ADD COLUMN lead_user_id INTEGER REFERENCES users (id) ON DELETE SET NULL;

CREATE TABLE survey_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    enabled INTEGER NOT NULL DEFAULT 1,
    -- Comma-separated ticket types whose resolution is surveyed.
    ticket_types TEXT NOT NULL DEFAULT 'incident,service_request',
    -- A score at or below this notifies the group's lead.
    low_score_threshold INTEGER NOT NULL DEFAULT 2,
    updated_at INTEGER NOT NULL DEFAULT 0
);
INSERT INTO survey_settings (id) VALUES (1);

CREATE TABLE satisfaction_surveys (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    organization_id INTEGER REFERENCES organizations (id) ON DELETE SET NULL,
    group_id INTEGER REFERENCES groups (id) ON DELETE SET NULL,
    assignee_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    requester_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- sha256 of the mailed link's secret; set when the mail is sent.
    token_hash TEXT,
    sent_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    score INTEGER,
    comment TEXT NOT NULL DEFAULT '',
    answered_at INTEGER,
    -- `mail` or `portal`: where the last answer came from.
    channel TEXT
);
CREATE UNIQUE INDEX satisfaction_surveys_token ON satisfaction_surveys (token_hash);
CREATE INDEX satisfaction_surveys_ticket ON satisfaction_surveys (ticket_id, id);
CREATE INDEX satisfaction_surveys_sent ON satisfaction_surveys (sent_at, id);
CREATE INDEX satisfaction_surveys_organization ON satisfaction_surveys (organization_id, sent_at, id);
