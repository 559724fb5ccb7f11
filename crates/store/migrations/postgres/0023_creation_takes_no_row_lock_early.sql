-- A ticket creation no longer holds a row lock across round trips.
--
-- Ticket numbers come from one sequence per type. The counter row they came from stayed
-- locked from the ticket's insert until its commit, so every creation of a type waited for
-- the whole transaction before it. A creation that rolls back leaves a gap in the numbers,
-- as sequences do; numbers stay unique and increasing.
CREATE SEQUENCE ticket_number_incident;
CREATE SEQUENCE ticket_number_service_request;
CREATE SEQUENCE ticket_number_problem;
SELECT setval(('ticket_number_' || ticket_type)::regclass, GREATEST(last_number, 1), last_number > 0)
FROM ticket_counters;
DROP TABLE ticket_counters;

-- Audited changes no longer wait for each other. A change adds its audit entry to
-- `audit_pending`, which takes no lock; `audit_seal` then chains pending entries into
-- `audit_log` in the order they were added, a batch at a time, under the head row's lock.
-- Holding that lock from a change's audit entry to its commit had put every audited change
-- of every node in one line, each waiting for the one before it to reach the disk. Nodes
-- seal after their writes and before the log is read or verified.
CREATE TABLE audit_pending (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL,
    before TEXT,
    after TEXT
);

-- The hash `opsdesk_domain::audit::chain_hash` computes: every field length-prefixed (8
-- bytes, big-endian), integers as 8 big-endian bytes, optional texts as "some" + text or
-- "none".
CREATE FUNCTION audit_field(value bytea) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT int8send(octet_length(value)::bigint) || value $$;

CREATE FUNCTION audit_optional_field(value text) RETURNS bytea
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE WHEN value IS NULL THEN audit_field('none'::bytea)
               ELSE audit_field('some'::bytea) || audit_field(convert_to(value, 'UTF8')) END $$;

-- PL/pgSQL rather than SQL: a SQL function that is not inlined is planned at every call,
-- which made chaining five times slower.
CREATE FUNCTION audit_chain_hash(previous text, seq bigint, at bigint, actor text, entity text,
                                 entity_id text, action text, before text, after text)
    RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    AS $$
BEGIN
    RETURN encode(sha256(
        audit_field(convert_to(previous, 'UTF8'))
        || audit_field(int8send(seq))
        || audit_field(int8send(at))
        || audit_field(convert_to(actor, 'UTF8'))
        || audit_field(convert_to(entity, 'UTF8'))
        || audit_field(convert_to(entity_id, 'UTF8'))
        || audit_field(convert_to(action, 'UTF8'))
        || audit_optional_field(before)
        || audit_optional_field(after)), 'hex');
END
$$;

-- Chains up to `max_entries` pending entries; returns how many it chained.
CREATE FUNCTION audit_seal(max_entries integer) RETURNS integer AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    entry audit_pending%ROWTYPE;
    sealed bigint[] := '{}';
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_pending) THEN
        RETURN 0;
    END IF;
    SELECT seq, hash INTO head_seq, head_hash FROM audit_head WHERE id = 1 FOR UPDATE;
    -- Read after the lock: what another node sealed meanwhile is gone from the queue.
    FOR entry IN SELECT * FROM audit_pending ORDER BY id LIMIT max_entries LOOP
        head_seq := head_seq + 1;
        INSERT INTO audit_log (seq, at, actor, entity, entity_id, action, before, after,
                               prev_hash, hash)
        VALUES (head_seq, entry.at, entry.actor, entry.entity, entry.entity_id, entry.action,
                entry.before, entry.after, head_hash,
                audit_chain_hash(head_hash, head_seq, entry.at, entry.actor, entry.entity,
                                 entry.entity_id, entry.action, entry.before, entry.after))
        RETURNING hash INTO head_hash;
        sealed := sealed || entry.id;
    END LOOP;
    DELETE FROM audit_pending WHERE id = ANY (sealed);
    UPDATE audit_head SET seq = head_seq, hash = head_hash WHERE id = 1;
    RETURN cardinality(sealed);
END
$$ LANGUAGE plpgsql;

-- `audit_seal` moves the head itself, once per batch.
DROP TRIGGER audit_log_moves_head ON audit_log;
DROP FUNCTION audit_head_follows_log();
