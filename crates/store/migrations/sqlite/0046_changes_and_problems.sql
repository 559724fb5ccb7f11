-- Change management: templates with their risk questionnaire and board, changes (CHG-n)
-- with their affected items, votes and timeline, approval links sent by mail, freeze and
-- blackout periods, and the incidents possibly caused by a change. Problems: their
-- root-cause analysis and known error.

CREATE TABLE change_templates (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    change_type TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- JSON list of {"key", "text", "options": [{"label", "score"}]}.
    questions TEXT NOT NULL DEFAULT '[]',
    -- The change advisory board: the members of this group vote.
    board_group_id INTEGER REFERENCES groups (id) ON DELETE SET NULL,
    quorum INTEGER NOT NULL DEFAULT 1,
    veto INTEGER NOT NULL DEFAULT 1,
    -- From this risk level, this person must approve as well.
    named_approver_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    named_from_risk TEXT,
    -- Hours an approval may wait before the board's members are reminded and the
    -- admins told.
    approval_timeout_h INTEGER,
    implementation_plan TEXT NOT NULL DEFAULT '',
    test_plan TEXT NOT NULL DEFAULT '',
    backout_plan TEXT NOT NULL DEFAULT '',
    -- Incidents on the affected items up to this many hours after the window are
    -- linked to the change as possibly caused by it.
    watch_hours INTEGER NOT NULL DEFAULT 24,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX change_templates_name ON change_templates (lower(name));

CREATE TABLE changes (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    change_type TEXT NOT NULL,
    state TEXT NOT NULL,
    approval TEXT NOT NULL,
    template_id INTEGER REFERENCES change_templates (id) ON DELETE SET NULL,
    organization_id INTEGER REFERENCES organizations (id),
    requester_id INTEGER NOT NULL REFERENCES users (id),
    implementer_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- JSON object: question key → chosen label.
    risk_answers TEXT NOT NULL DEFAULT '{}',
    risk_score INTEGER NOT NULL DEFAULT 0,
    risk_level TEXT NOT NULL DEFAULT 'low',
    implementation_plan TEXT NOT NULL DEFAULT '',
    test_plan TEXT NOT NULL DEFAULT '',
    backout_plan TEXT NOT NULL DEFAULT '',
    planned_start INTEGER,
    planned_end INTEGER,
    actual_start INTEGER,
    actual_end INTEGER,
    -- The post-implementation review.
    review TEXT NOT NULL DEFAULT '',
    -- Copied from the template: how long after the window incidents are linked.
    watch_hours INTEGER NOT NULL DEFAULT 24,
    approval_requested_at INTEGER,
    -- When the board's members were reminded of an approval left waiting.
    approval_escalated_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX changes_state ON changes (state, planned_start);
CREATE INDEX changes_window ON changes (planned_start, planned_end);
CREATE INDEX changes_implementer ON changes (implementer_id, planned_start) WHERE implementer_id IS NOT NULL;

CREATE TABLE change_cis (
    change_id INTEGER NOT NULL REFERENCES changes (id) ON DELETE CASCADE,
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    PRIMARY KEY (change_id, ci_id)
);
CREATE INDEX change_cis_ci ON change_cis (ci_id, change_id);

-- One vote per member; a delegate votes in the name of the member they stand in for.
CREATE TABLE change_votes (
    change_id INTEGER NOT NULL REFERENCES changes (id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL REFERENCES users (id),
    cast_by_id INTEGER NOT NULL REFERENCES users (id),
    decision TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    at INTEGER NOT NULL,
    PRIMARY KEY (change_id, member_id)
);

-- Who votes for a member while they are away.
CREATE TABLE approval_delegations (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    delegate_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    until INTEGER NOT NULL
);

-- The secret of each mailed approval link, hashed: a link votes for one person on one change.
CREATE TABLE change_approval_links (
    token_hash TEXT PRIMARY KEY,
    change_id INTEGER NOT NULL REFERENCES changes (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);

CREATE TABLE change_timeline (
    id INTEGER PRIMARY KEY,
    change_id INTEGER NOT NULL REFERENCES changes (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX change_timeline_change ON change_timeline (change_id, id);

-- Incidents on a change's items soon after its window: possibly caused by it.
CREATE TABLE change_incidents (
    change_id INTEGER NOT NULL REFERENCES changes (id) ON DELETE CASCADE,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (change_id, ticket_id)
);
CREATE INDEX change_incidents_ticket ON change_incidents (ticket_id);

CREATE TABLE freeze_windows (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    -- Over one organization's items, one service (an item and what it runs on), or all.
    organization_id INTEGER REFERENCES organizations (id) ON DELETE CASCADE,
    ci_id INTEGER REFERENCES cis (id) ON DELETE CASCADE,
    reason TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX freeze_windows_end ON freeze_windows (ends_at);

-- An approved change's window holds its items' monitors in maintenance.
ALTER TABLE maintenance_windows ADD COLUMN change_id INTEGER REFERENCES changes (id) ON DELETE CASCADE;
CREATE INDEX maintenance_windows_change ON maintenance_windows (change_id) WHERE change_id IS NOT NULL;

-- A problem's root-cause analysis and, once known, its known error.
CREATE TABLE problem_analyses (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    -- JSON list of the answers to "why?", in order.
    whys TEXT NOT NULL DEFAULT '[]',
    contributing_factors TEXT NOT NULL DEFAULT '',
    root_cause TEXT NOT NULL DEFAULT '',
    workaround TEXT NOT NULL DEFAULT '',
    known_error INTEGER NOT NULL DEFAULT 0,
    -- The knowledge-base article the known error is published as.
    article_id INTEGER REFERENCES articles (id) ON DELETE SET NULL,
    updated_at INTEGER NOT NULL
);
