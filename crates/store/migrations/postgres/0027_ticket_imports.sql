-- Tickets brought in by `opsdesk import tickets`, keyed on their id in the desk they came
-- from, so that running the same file again skips them.
CREATE TABLE ticket_imports (
    external_id TEXT PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    imported_at BIGINT NOT NULL
);
CREATE INDEX ticket_imports_ticket ON ticket_imports (ticket_id);
