-- Attachments: metadata per upload; content in a table of its own, shared by identical files,
-- so ticket and comment rows stay small and every node of a cluster can serve every file.

CREATE TABLE attachment_blobs (
    sha256 TEXT PRIMARY KEY,
    content BLOB NOT NULL
);

CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL REFERENCES attachment_blobs (sha256),
    public INTEGER NOT NULL,
    uploaded_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX attachments_ticket ON attachments (ticket_id, id);

-- Major incidents: a child ticket follows its parent when the parent is resolved.
ALTER TABLE tickets ADD COLUMN parent_id INTEGER REFERENCES tickets (id);
CREATE INDEX tickets_parent ON tickets (parent_id) WHERE parent_id IS NOT NULL;

-- An organization may override the ITIL priority matrix, and may let its customers see all of
-- the organization's tickets rather than only their own.
ALTER TABLE organizations ADD COLUMN priority_matrix TEXT;
ALTER TABLE organizations ADD COLUMN customers_see_all INTEGER NOT NULL DEFAULT 0;
