-- The search entries of changed tickets are written when the writer commits, not statement by
-- statement. FTS5 writes its pending entries to disk at every statement savepoint of a
-- transaction that has touched it, so an entry written mid-transaction became a segment of its
-- own, with the merges that follow: most of what a ticket creation cost. A change now lists the
-- ticket here, and the writer rebuilds the listed tickets' entries from their rows just before
-- it commits (`opsdesk_store::tickets::search::REBUILD_STALE_ENTRIES`): one segment per commit.
CREATE TABLE ticket_search_stale (ticket_id INTEGER PRIMARY KEY);

DROP TRIGGER tickets_status_in_search;
CREATE TRIGGER tickets_status_in_search AFTER UPDATE OF status ON tickets
WHEN NEW.status IS NOT OLD.status
BEGIN
    INSERT OR IGNORE INTO ticket_search_stale (ticket_id) VALUES (NEW.id);
END;
