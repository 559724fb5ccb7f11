-- Runbooks are offered on the incidents of the monitors they are linked to; the outcome of
-- each step is recorded as an agent follows a runbook on a ticket; an article's owner is
-- reminded once when its review date passes.
CREATE TABLE article_monitors (
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    monitor_id INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    PRIMARY KEY (article_id, monitor_id)
);
CREATE INDEX article_monitors_monitor ON article_monitors (monitor_id);

CREATE TABLE ticket_runbook_steps (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    -- From 1, in the runbook's order.
    step INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('done', 'failed', 'skipped')),
    note TEXT NOT NULL DEFAULT '',
    user_id INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, article_id, step)
);

ALTER TABLE articles ADD COLUMN review_reminded_at INTEGER;
