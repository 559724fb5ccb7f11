-- Notification templates admins edit in the application. A notice without a row here uses the
-- files in `templates_dir`, else the built-in text, so reverting is deleting the row.

CREATE TABLE mail_templates (
    id INTEGER PRIMARY KEY,
    -- acknowledgement, reply, resolution
    notice TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    text_part TEXT NOT NULL,
    html_part TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
