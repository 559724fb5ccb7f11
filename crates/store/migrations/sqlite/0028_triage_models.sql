-- Every model the triage assistant trained, with its report and the tickets (and labels)
-- it learned from: training is deterministic, so any node rebuilds the version in service
-- from them, and an admin can go back to an earlier version.
CREATE TABLE triage_models (
    id INTEGER PRIMARY KEY,
    version TEXT NOT NULL UNIQUE,
    trained_at INTEGER NOT NULL,
    trained_on INTEGER NOT NULL,
    trained_by TEXT NOT NULL,
    -- JSON {"top1", "top3", "macro_f1"}
    accuracy TEXT NOT NULL,
    -- JSON [[ticket id, category id, group id, priority rank], …]
    examples TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX triage_models_one_active ON triage_models (active) WHERE active = 1;

-- At or above its threshold the assistant sets a new ticket's category itself.
CREATE TABLE triage_thresholds (
    category_id INTEGER PRIMARY KEY REFERENCES categories (id) ON DELETE CASCADE,
    threshold REAL NOT NULL CHECK (threshold > 0 AND threshold <= 1)
);

-- What the assistant suggested for a new ticket without a category, whether it applied it,
-- and the category an agent chose instead.
CREATE TABLE triage_outcomes (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    category_id INTEGER REFERENCES categories (id) ON DELETE SET NULL,
    confidence REAL NOT NULL,
    applied INTEGER NOT NULL,
    suggested_at INTEGER NOT NULL,
    corrected_category_id INTEGER REFERENCES categories (id) ON DELETE SET NULL,
    corrected_by TEXT,
    corrected_at INTEGER
);
CREATE INDEX triage_outcomes_suggested_at ON triage_outcomes (suggested_at);
