-- One attachment store: the files a message brings join uploads in `attachments`, linked to
-- the comment the message became, so every file of a conversation is listed, served and
-- guarded (staff-only with an internal note) the same way.

ALTER TABLE attachments ADD COLUMN source TEXT NOT NULL DEFAULT 'upload'
    CHECK (source IN ('upload', 'mail'));
ALTER TABLE attachments ADD COLUMN comment_id BIGINT REFERENCES comments (id) ON DELETE SET NULL;
ALTER TABLE attachments ADD COLUMN mail_id BIGINT REFERENCES mail_messages (id) ON DELETE SET NULL;
-- For a mail's inline images: the `cid:` its HTML refers to.
ALTER TABLE attachments ADD COLUMN content_id TEXT;
ALTER TABLE attachments ADD COLUMN inline BIGINT NOT NULL DEFAULT 0;
CREATE INDEX attachments_comment ON attachments (comment_id) WHERE comment_id IS NOT NULL;

-- Files of mail that joined a ticket move over, keyed by their content's SHA-256 like uploads.
-- Files of mail that joined no ticket (quarantine, rate limit) stay in the original message,
-- and are filed when it is re-processed.
INSERT INTO attachment_blobs (sha256, content)
SELECT DISTINCT ON (hash) hash, data
FROM (SELECT encode(sha256(data), 'hex') AS hash, data FROM mail_attachments WHERE ticket_id IS NOT NULL) AS files
ON CONFLICT (sha256) DO NOTHING;

-- A file is public when its message became a public comment or opened the ticket; the files
-- of internal notes, auto-replies and bounces are staff-only.
INSERT INTO attachments (ticket_id, filename, content_type, size, sha256, public, uploaded_by,
    created_at, source, comment_id, mail_id, content_id, inline)
SELECT f.ticket_id, f.filename, f.content_type, f.size, encode(sha256(f.data), 'hex'),
    CASE WHEN c.id IS NOT NULL THEN c.public WHEN m.status = 'ticket' THEN 1 ELSE 0 END,
    COALESCE(c.author_id, (SELECT u.id FROM users u WHERE u.email = m.address)),
    m.created_at, 'mail', c.id, f.mail_id, f.content_id, f.inline
FROM mail_attachments f
JOIN mail_messages m ON m.id = f.mail_id
LEFT JOIN comments c ON c.id = m.comment_id
WHERE f.ticket_id IS NOT NULL
ORDER BY f.id;

DROP TABLE mail_attachments;
