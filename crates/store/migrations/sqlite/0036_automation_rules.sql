-- Automation rules: a definition (JSON of the domain's `automation::RuleDraft`), whether it
-- runs, and its runs: in all, and in the current hour's window, which its rate limit counts.
-- Nodes keep the enabled rules with the catalog, so a change to a definition or to whether a
-- rule runs gives `catalog_version` a new value; counting runs does not.
CREATE TABLE automation_rules (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    enabled INTEGER NOT NULL,
    event TEXT NOT NULL,
    definition TEXT NOT NULL,
    runs INTEGER NOT NULL DEFAULT 0,
    last_run_at INTEGER,
    window_start INTEGER NOT NULL DEFAULT 0,
    window_runs INTEGER NOT NULL DEFAULT 0,
    -- Why the rule stopped running on its own (its rate limit), until someone enables it again.
    disabled_reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TRIGGER automation_rules_insert_catalog AFTER INSERT ON automation_rules
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER automation_rules_update_catalog AFTER UPDATE OF name, enabled, event, definition ON automation_rules
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER automation_rules_delete_catalog AFTER DELETE ON automation_rules
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

-- When a time-based rule last ran for a ticket: it runs again only after the ticket changed
-- and then waited again.
CREATE TABLE automation_rule_waits (
    rule_id INTEGER NOT NULL REFERENCES automation_rules (id) ON DELETE CASCADE,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    ran_at INTEGER NOT NULL,
    PRIMARY KEY (rule_id, ticket_id)
);

-- The sweep for `ticket.pending_over` looks for pending tickets unchanged since a time.
CREATE INDEX tickets_pending_since ON tickets (updated_at) WHERE status = 'pending';
