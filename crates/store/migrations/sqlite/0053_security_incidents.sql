-- Security incidents: a ticket type seen only by admins and the members of its restricted
-- support group, with a severity, the CIs and accounts affected, the incident-response
-- runbook's checklist, and the chain of custody of its evidence files.

-- The restricted group sits on the ticket itself so that every query over tickets (search,
-- reports, lists) filters with the ticket row it already reads.
ALTER TABLE tickets ADD COLUMN restricted_group_id INTEGER REFERENCES groups (id)
    CHECK (ticket_type <> 'security_incident' OR restricted_group_id IS NOT NULL);
CREATE INDEX tickets_restricted ON tickets (restricted_group_id) WHERE restricted_group_id IS NOT NULL;

INSERT INTO ticket_counters (ticket_type, last_number) VALUES ('security_incident', 0);

CREATE TABLE security_incidents (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    severity TEXT NOT NULL,
    -- Why it may be resolved with its runbook unfinished; NULL until someone says so.
    override_reason TEXT,
    overridden_by INTEGER REFERENCES users (id),
    overridden_at INTEGER
);

CREATE TABLE security_affected_cis (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    PRIMARY KEY (ticket_id, ci_id)
);
CREATE INDEX security_affected_cis_ci ON security_affected_cis (ci_id);

-- An account of the desk's own users (user_id) or of a system outside it (name only).
CREATE TABLE security_affected_accounts (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    account TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (ticket_id, account)
);

CREATE TABLE security_checklist (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    item TEXT NOT NULL,
    done_by INTEGER REFERENCES users (id),
    done_actor TEXT NOT NULL,
    done_at INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, item)
);

-- Every handling of an evidence file: its upload (the hash recorded then) and each access,
-- with the hash of the stored bytes computed at that moment. Append-only.
CREATE TABLE evidence_custody (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    attachment_id INTEGER NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    via TEXT NOT NULL,
    actor_id INTEGER REFERENCES users (id),
    actor TEXT NOT NULL,
    at INTEGER NOT NULL,
    recorded_sha256 TEXT NOT NULL,
    observed_sha256 TEXT NOT NULL,
    intact INTEGER NOT NULL
);
CREATE INDEX evidence_custody_ticket ON evidence_custody (ticket_id, id);
