-- The mail channel: every message received or sent, so a delivery is processed exactly once
-- (unique dedup_key), replies thread by Message-ID, and unroutable mail waits in quarantine.

CREATE TABLE mail_messages (
    id INTEGER PRIMARY KEY,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    -- Inbound: `mid:<Message-ID>` or `sha256:<hash>`; outbound: `out:<Message-ID>`.
    dedup_key TEXT NOT NULL UNIQUE,
    message_id TEXT,
    ticket_id INTEGER REFERENCES tickets (id) ON DELETE SET NULL,
    comment_id INTEGER,
    -- The other party: the sender of inbound mail, the recipient of outbound mail.
    address TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- in: ticket, comment, auto_reply, bounce, rate_limited, quarantined;
    -- out: queued, sent, bounced.
    status TEXT NOT NULL,
    reason TEXT,
    -- Inbound HTML, sanitized for display.
    html TEXT,
    raw BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX mail_messages_message_id ON mail_messages (message_id);
CREATE INDEX mail_messages_address ON mail_messages (address, created_at);
CREATE INDEX mail_messages_ticket ON mail_messages (ticket_id, id);
CREATE INDEX mail_messages_status ON mail_messages (status, id);

CREATE TABLE mail_attachments (
    id INTEGER PRIMARY KEY,
    mail_id INTEGER NOT NULL REFERENCES mail_messages (id) ON DELETE CASCADE,
    ticket_id INTEGER REFERENCES tickets (id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content_id TEXT,
    inline INTEGER NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX mail_attachments_mail ON mail_attachments (mail_id);
CREATE INDEX mail_attachments_ticket ON mail_attachments (ticket_id);
