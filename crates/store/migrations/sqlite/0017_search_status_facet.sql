-- The full-text index carries each ticket's status as a token in a column of its own
-- (`facets`, e.g. `statusopen`), so a search with a status filter narrows its matches inside
-- the index instead of joining every match to `tickets` first. A trigger keeps the token in
-- step with the ticket, whichever code path changes its status.
CREATE VIRTUAL TABLE ticket_search_faceted USING fts5 (
    title, description, conversation, notes, facets,
    tokenize = 'porter unicode61'
);

INSERT INTO ticket_search_faceted (rowid, title, description, conversation, notes, facets)
SELECT s.rowid, s.title, s.description, s.conversation, s.notes, 'status' || t.status
FROM ticket_search s JOIN tickets t ON t.id = s.rowid;

DROP TABLE ticket_search;
ALTER TABLE ticket_search_faceted RENAME TO ticket_search;

CREATE TRIGGER tickets_status_in_search AFTER UPDATE OF status ON tickets
WHEN NEW.status IS NOT OLD.status
BEGIN
    UPDATE ticket_search SET facets = 'status' || NEW.status WHERE rowid = NEW.id;
END;
