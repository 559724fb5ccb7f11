-- A person's on-call preferences: when a page mails them (minutes after being paged, by the
-- incident's urgency), quiet hours when low-urgency pages wait, and the secret of the
-- calendar link their calendar app subscribes to.
CREATE TABLE on_call_preferences (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- JSON lists of minutes, e.g. [0, 5]: mailed at once and again after five minutes.
    high_urgency TEXT NOT NULL DEFAULT '[0]',
    low_urgency TEXT NOT NULL DEFAULT '[0]',
    -- JSON {"start": "22:00", "end": "07:00", "time_zone": "Europe/London"}; none: no quiet hours.
    quiet_hours TEXT,
    -- SHA-256 of the calendar link's secret; none: no link.
    calendar_token_hash TEXT UNIQUE,
    updated_at BIGINT NOT NULL
);
