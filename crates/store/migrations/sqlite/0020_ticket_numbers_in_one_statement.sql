-- A new ticket takes the number after its type's counter inside its own INSERT
-- (opsdesk_store::tickets::insert); this trigger then moves the counter on, so a creation
-- needs no separate statement for its number. Tickets written with a number of their own
-- (bulk loading) move it on too.
CREATE TRIGGER tickets_advance_counter AFTER INSERT ON tickets
BEGIN
    UPDATE ticket_counters SET last_number = NEW.number
    WHERE ticket_type = NEW.ticket_type AND last_number < NEW.number;
END;
