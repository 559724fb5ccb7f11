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
    day INTEGER PRIMARY KEY,
    folded_at INTEGER NOT NULL
);

CREATE TABLE rollup_changes (
    id INTEGER PRIMARY KEY,
    day INTEGER NOT NULL
);
CREATE INDEX rollup_changes_day ON rollup_changes (day);

-- `organization_key`: the organization's id, 0 for tickets of none.
CREATE TABLE rollup_created (
    day INTEGER NOT NULL,
    organization_key INTEGER NOT NULL,
    created INTEGER NOT NULL,
    responded INTEGER NOT NULL,
    response_ms INTEGER NOT NULL,
    response_met INTEGER NOT NULL,
    response_breached INTEGER NOT NULL,
    resolution_met INTEGER NOT NULL,
    resolution_breached INTEGER NOT NULL,
    -- Of those created, the tickets open when the day was folded: the backlog by age.
    still_open INTEGER NOT NULL,
    PRIMARY KEY (day, organization_key)
);

CREATE TABLE rollup_resolved (
    day INTEGER NOT NULL,
    organization_key INTEGER NOT NULL,
    resolved INTEGER NOT NULL,
    resolution_ms INTEGER NOT NULL,
    first_contact INTEGER NOT NULL,
    reopened INTEGER NOT NULL,
    rated INTEGER NOT NULL,
    satisfied INTEGER NOT NULL,
    PRIMARY KEY (day, organization_key)
);

-- `key`: the dimension's value as the reports show it (an id, a channel), '' for none.
CREATE TABLE rollup_volumes (
    dimension TEXT NOT NULL,
    day INTEGER NOT NULL,
    organization_key INTEGER NOT NULL,
    key TEXT NOT NULL,
    tickets INTEGER NOT NULL,
    PRIMARY KEY (dimension, day, organization_key, key)
);

CREATE TABLE rollup_quarters (
    quarter INTEGER NOT NULL,
    organization_key INTEGER NOT NULL,
    created INTEGER NOT NULL,
    resolved INTEGER NOT NULL,
    PRIMARY KEY (quarter, organization_key)
);

-- One writer: a day already recorded needs no second row.
CREATE TRIGGER tickets_rollup_insert AFTER INSERT ON tickets
BEGIN
    INSERT INTO rollup_changes (day) SELECT d.day FROM
        (SELECT NEW.created_at / 86400000 AS day UNION SELECT NEW.resolved_at / 86400000) d
        WHERE d.day IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM rollup_changes c WHERE c.day = d.day);
END;

CREATE TRIGGER tickets_rollup_update AFTER UPDATE OF status, organization_id, category_id,
    group_id, assignee_id, source, first_response_at, resolved_at, reopened_count, staff_replies,
    restricted_group_id, created_at ON tickets
WHEN OLD.status IS NOT NEW.status OR OLD.organization_id IS NOT NEW.organization_id
    OR OLD.category_id IS NOT NEW.category_id OR OLD.group_id IS NOT NEW.group_id
    OR OLD.assignee_id IS NOT NEW.assignee_id OR OLD.source IS NOT NEW.source
    OR OLD.first_response_at IS NOT NEW.first_response_at
    OR OLD.resolved_at IS NOT NEW.resolved_at OR OLD.reopened_count IS NOT NEW.reopened_count
    OR OLD.staff_replies IS NOT NEW.staff_replies
    OR OLD.restricted_group_id IS NOT NEW.restricted_group_id
    OR OLD.created_at IS NOT NEW.created_at
BEGIN
    INSERT INTO rollup_changes (day) SELECT d.day FROM
        (SELECT OLD.created_at / 86400000 AS day UNION SELECT NEW.created_at / 86400000
         UNION SELECT OLD.resolved_at / 86400000 UNION SELECT NEW.resolved_at / 86400000) d
        WHERE d.day IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM rollup_changes c WHERE c.day = d.day);
END;

CREATE TRIGGER tickets_rollup_delete AFTER DELETE ON tickets
BEGIN
    INSERT INTO rollup_changes (day) SELECT d.day FROM
        (SELECT OLD.created_at / 86400000 AS day UNION SELECT OLD.resolved_at / 86400000) d
        WHERE d.day IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM rollup_changes c WHERE c.day = d.day);
END;

-- The SLA clocks count towards the day the ticket was created.
CREATE TRIGGER ticket_sla_rollup_insert AFTER INSERT ON ticket_sla
BEGIN
    INSERT INTO rollup_changes (day) SELECT t.created_at / 86400000 FROM tickets t
        WHERE t.id = NEW.ticket_id AND NOT EXISTS
            (SELECT 1 FROM rollup_changes c WHERE c.day = t.created_at / 86400000);
END;

CREATE TRIGGER ticket_sla_rollup_update AFTER UPDATE ON ticket_sla
WHEN OLD.response_met_at IS NOT NEW.response_met_at
    OR OLD.response_breached IS NOT NEW.response_breached
    OR OLD.response_elapsed IS NOT NEW.response_elapsed
    OR OLD.resolution_met_at IS NOT NEW.resolution_met_at
    OR OLD.resolution_breached IS NOT NEW.resolution_breached
    OR OLD.resolution_elapsed IS NOT NEW.resolution_elapsed
    OR OLD.ticket_id IS NOT NEW.ticket_id
BEGIN
    INSERT INTO rollup_changes (day) SELECT t.created_at / 86400000 FROM tickets t
        WHERE t.id IN (OLD.ticket_id, NEW.ticket_id) AND NOT EXISTS
            (SELECT 1 FROM rollup_changes c WHERE c.day = t.created_at / 86400000);
END;

CREATE TRIGGER ticket_sla_rollup_delete AFTER DELETE ON ticket_sla
BEGIN
    INSERT INTO rollup_changes (day) SELECT t.created_at / 86400000 FROM tickets t
        WHERE t.id = OLD.ticket_id AND NOT EXISTS
            (SELECT 1 FROM rollup_changes c WHERE c.day = t.created_at / 86400000);
END;

-- A rating counts towards the day the ticket was resolved.
CREATE TRIGGER satisfaction_surveys_rollup_insert AFTER INSERT ON satisfaction_surveys
BEGIN
    INSERT INTO rollup_changes (day) SELECT t.resolved_at / 86400000 FROM tickets t
        WHERE t.id = NEW.ticket_id AND t.resolved_at IS NOT NULL AND NOT EXISTS
            (SELECT 1 FROM rollup_changes c WHERE c.day = t.resolved_at / 86400000);
END;

CREATE TRIGGER satisfaction_surveys_rollup_update AFTER UPDATE ON satisfaction_surveys
WHEN OLD.score IS NOT NEW.score OR OLD.ticket_id IS NOT NEW.ticket_id
BEGIN
    INSERT INTO rollup_changes (day) SELECT t.resolved_at / 86400000 FROM tickets t
        WHERE t.id IN (OLD.ticket_id, NEW.ticket_id) AND t.resolved_at IS NOT NULL AND NOT EXISTS
            (SELECT 1 FROM rollup_changes c WHERE c.day = t.resolved_at / 86400000);
END;

CREATE TRIGGER satisfaction_surveys_rollup_delete AFTER DELETE ON satisfaction_surveys
BEGIN
    INSERT INTO rollup_changes (day) SELECT t.resolved_at / 86400000 FROM tickets t
        WHERE t.id = OLD.ticket_id AND t.resolved_at IS NOT NULL AND NOT EXISTS
            (SELECT 1 FROM rollup_changes c WHERE c.day = t.resolved_at / 86400000);
END;

-- The first fold rolls up every day from the oldest ticket's on.
INSERT INTO rollup_changes (day) SELECT created_at / 86400000 FROM tickets ORDER BY created_at LIMIT 1;
