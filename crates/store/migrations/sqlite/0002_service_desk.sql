-- The service desk: support groups (tiers), categories, custom fields, tickets with their
-- conversation, timeline, links and escalations, canned responses, and full-text search.

CREATE TABLE groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    tier INTEGER NOT NULL DEFAULT 1,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX groups_name ON groups (lower(name));

CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE categories (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id INTEGER REFERENCES categories (id),
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX categories_name ON categories (COALESCE(parent_id, 0), lower(name));

CREATE TABLE custom_fields (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE ticket_counters (
    ticket_type TEXT PRIMARY KEY,
    last_number INTEGER NOT NULL
);
INSERT INTO ticket_counters (ticket_type, last_number)
VALUES ('incident', 0), ('service_request', 0), ('problem', 0);

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    ticket_type TEXT NOT NULL,
    number INTEGER NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    pending_reason TEXT,
    resolution_code TEXT,
    resolution_note TEXT,
    impact TEXT NOT NULL,
    urgency TEXT NOT NULL,
    priority INTEGER NOT NULL,
    category_id INTEGER REFERENCES categories (id),
    requester_id INTEGER NOT NULL REFERENCES users (id),
    organization_id INTEGER REFERENCES organizations (id),
    group_id INTEGER REFERENCES groups (id),
    assignee_id INTEGER REFERENCES users (id),
    custom TEXT NOT NULL DEFAULT '{}',
    source TEXT NOT NULL,
    merged_into_id INTEGER REFERENCES tickets (id),
    first_response_at INTEGER,
    resolved_at INTEGER,
    closed_at INTEGER,
    time_spent_minutes INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX tickets_number ON tickets (ticket_type, number);
CREATE INDEX tickets_status_created ON tickets (status, created_at);
CREATE INDEX tickets_organization_status ON tickets (organization_id, status);
CREATE INDEX tickets_group_status ON tickets (group_id, status);
CREATE INDEX tickets_assignee_status ON tickets (assignee_id, status);
CREATE INDEX tickets_requester ON tickets (requester_id);
CREATE INDEX tickets_updated ON tickets (updated_at);
CREATE INDEX tickets_resolved ON tickets (status, resolved_at);

CREATE TABLE ticket_tags (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (ticket_id, tag)
);
CREATE INDEX ticket_tags_tag ON ticket_tags (tag);

CREATE TABLE ticket_watchers (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (ticket_id, user_id)
);
CREATE INDEX ticket_watchers_user ON ticket_watchers (user_id);

CREATE TABLE comments (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    author_id INTEGER REFERENCES users (id),
    body TEXT NOT NULL,
    public INTEGER NOT NULL,
    time_spent_minutes INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX comments_ticket ON comments (ticket_id, id);

-- Everything that happened to a ticket, in order. `public` entries are what the requester
-- may see; the rest (internal notes, escalations, assignments) is for staff only.
CREATE TABLE timeline (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    public INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX timeline_ticket ON timeline (ticket_id, id);

CREATE TABLE ticket_links (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    target_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    link_type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, target_id, link_type)
);
CREATE INDEX ticket_links_target ON ticket_links (target_id);

CREATE TABLE escalations (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    from_group_id INTEGER REFERENCES groups (id),
    to_group_id INTEGER REFERENCES groups (id),
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX escalations_ticket ON escalations (ticket_id);

CREATE TABLE macros (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    public INTEGER NOT NULL DEFAULT 1,
    set_status TEXT,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX macros_name ON macros (lower(name));

-- Saved views (queues): a query and a name, personal (owner set) or shared (no owner).
CREATE TABLE saved_views (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    owner_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE INDEX saved_views_owner ON saved_views (owner_id);

-- Full text: title, description and the public conversation, plus internal notes in a
-- column of their own so that searches by customers can leave it out.
CREATE VIRTUAL TABLE ticket_search USING fts5 (
    title, description, conversation, notes,
    tokenize = 'porter unicode61'
);
