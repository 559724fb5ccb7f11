-- Reports over a long history count whole UTC days from roll-ups instead of every ticket:
-- per day and organization the figures of the tickets created and of those resolved, the
-- volumes by dimension, and per quarter hour the tickets created and resolved (charts in any
-- time zone). Restricted tickets (security incidents) are never rolled up: who may count
-- them depends on the reader, so they are always counted from the tickets.
--
-- A day is rolled up ("folded") once it has ended. Every change to what a day's figures
-- count (a ticket, its SLA clocks, its survey) records the day in `rollup_changes`, by the
-- triggers below, so no write path can forget it; a day with a recorded change is counted
-- from the tickets until it is folded again.
CREATE TABLE rollup_days (
    day BIGINT PRIMARY KEY,
    folded_at BIGINT NOT NULL
);

CREATE TABLE rollup_changes (
    id BIGSERIAL PRIMARY KEY,
    day BIGINT NOT NULL
);
CREATE INDEX rollup_changes_day ON rollup_changes (day);

-- `organization_key`: the organization's id, 0 for tickets of none.
CREATE TABLE rollup_created (
    day BIGINT NOT NULL,
    organization_key BIGINT NOT NULL,
    created BIGINT NOT NULL,
    responded BIGINT NOT NULL,
    response_ms BIGINT NOT NULL,
    response_met BIGINT NOT NULL,
    response_breached BIGINT NOT NULL,
    resolution_met BIGINT NOT NULL,
    resolution_breached BIGINT NOT NULL,
    -- Of those created, the tickets open when the day was folded: the backlog by age.
    still_open BIGINT NOT NULL,
    PRIMARY KEY (day, organization_key)
);

CREATE TABLE rollup_resolved (
    day BIGINT NOT NULL,
    organization_key BIGINT NOT NULL,
    resolved BIGINT NOT NULL,
    resolution_ms BIGINT NOT NULL,
    first_contact BIGINT NOT NULL,
    reopened BIGINT NOT NULL,
    rated BIGINT NOT NULL,
    satisfied BIGINT NOT NULL,
    PRIMARY KEY (day, organization_key)
);

-- `key`: the dimension's value as the reports show it (an id, a channel), '' for none.
CREATE TABLE rollup_volumes (
    dimension TEXT NOT NULL,
    day BIGINT NOT NULL,
    organization_key BIGINT NOT NULL,
    key TEXT NOT NULL,
    tickets BIGINT NOT NULL,
    PRIMARY KEY (dimension, day, organization_key, key)
);

CREATE TABLE rollup_quarters (
    quarter BIGINT NOT NULL,
    organization_key BIGINT NOT NULL,
    created BIGINT NOT NULL,
    resolved BIGINT NOT NULL,
    PRIMARY KEY (quarter, organization_key)
);

-- Several nodes write at once: each change is a row of its own, so that writers never wait
-- on one another's row, and a fold deletes only the rows its snapshot saw.
CREATE FUNCTION rollup_change_of_ticket() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NOT (
        OLD.status IS DISTINCT FROM NEW.status OR OLD.organization_id IS DISTINCT FROM NEW.organization_id
        OR OLD.category_id IS DISTINCT FROM NEW.category_id OR OLD.group_id IS DISTINCT FROM NEW.group_id
        OR OLD.assignee_id IS DISTINCT FROM NEW.assignee_id OR OLD.source IS DISTINCT FROM NEW.source
        OR OLD.first_response_at IS DISTINCT FROM NEW.first_response_at
        OR OLD.resolved_at IS DISTINCT FROM NEW.resolved_at
        OR OLD.reopened_count IS DISTINCT FROM NEW.reopened_count
        OR OLD.staff_replies IS DISTINCT FROM NEW.staff_replies
        OR OLD.restricted_group_id IS DISTINCT FROM NEW.restricted_group_id
        OR OLD.created_at IS DISTINCT FROM NEW.created_at) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO rollup_changes (day) SELECT DISTINCT d FROM
            unnest(ARRAY[OLD.created_at / 86400000, OLD.resolved_at / 86400000]) d
            WHERE d IS NOT NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO rollup_changes (day) SELECT DISTINCT d FROM
            unnest(ARRAY[NEW.created_at / 86400000, NEW.resolved_at / 86400000]) d
            WHERE d IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER tickets_rollup AFTER INSERT OR UPDATE OR DELETE ON tickets
    FOR EACH ROW EXECUTE FUNCTION rollup_change_of_ticket();

-- The SLA clocks count towards the day the ticket was created.
CREATE FUNCTION rollup_change_of_sla() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NOT (
        OLD.response_met_at IS DISTINCT FROM NEW.response_met_at
        OR OLD.response_breached IS DISTINCT FROM NEW.response_breached
        OR OLD.response_elapsed IS DISTINCT FROM NEW.response_elapsed
        OR OLD.resolution_met_at IS DISTINCT FROM NEW.resolution_met_at
        OR OLD.resolution_breached IS DISTINCT FROM NEW.resolution_breached
        OR OLD.resolution_elapsed IS DISTINCT FROM NEW.resolution_elapsed
        OR OLD.ticket_id IS DISTINCT FROM NEW.ticket_id) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO rollup_changes (day)
            SELECT t.created_at / 86400000 FROM tickets t WHERE t.id = OLD.ticket_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND OLD.ticket_id <> NEW.ticket_id) THEN
        INSERT INTO rollup_changes (day)
            SELECT t.created_at / 86400000 FROM tickets t WHERE t.id = NEW.ticket_id;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER ticket_sla_rollup AFTER INSERT OR UPDATE OR DELETE ON ticket_sla
    FOR EACH ROW EXECUTE FUNCTION rollup_change_of_sla();

-- A rating counts towards the day the ticket was resolved.
CREATE FUNCTION rollup_change_of_survey() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NOT (OLD.score IS DISTINCT FROM NEW.score
        OR OLD.ticket_id IS DISTINCT FROM NEW.ticket_id) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO rollup_changes (day) SELECT t.resolved_at / 86400000 FROM tickets t
            WHERE t.id = OLD.ticket_id AND t.resolved_at IS NOT NULL;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND OLD.ticket_id <> NEW.ticket_id) THEN
        INSERT INTO rollup_changes (day) SELECT t.resolved_at / 86400000 FROM tickets t
            WHERE t.id = NEW.ticket_id AND t.resolved_at IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER satisfaction_surveys_rollup AFTER INSERT OR UPDATE OR DELETE ON satisfaction_surveys
    FOR EACH ROW EXECUTE FUNCTION rollup_change_of_survey();

-- The first fold rolls up every day from the oldest ticket's on.
INSERT INTO rollup_changes (day) SELECT created_at / 86400000 FROM tickets ORDER BY created_at LIMIT 1;
