-- The audit head's hash follows every appended entry inside the database, so appending
-- an entry is one statement after the head row is bumped, not two.
CREATE FUNCTION audit_head_follows_log() RETURNS trigger AS $$
BEGIN
    UPDATE audit_head SET hash = NEW.hash WHERE id = 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_log_moves_head AFTER INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_head_follows_log();
