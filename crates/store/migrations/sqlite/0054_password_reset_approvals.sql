-- Password resets a person's manager approves instead of a mailed code: the manager's
-- decision (approve or deny, one mailed token for both) and, once approved, the link mailed
-- to the person to finish with. Only hashes of the two secrets are kept.

CREATE TABLE password_reset_approvals (
    reset_id INTEGER PRIMARY KEY REFERENCES password_resets (id) ON DELETE CASCADE,
    manager_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Set when the mail to the manager is sent: the token exists in that mail alone.
    decision_hash TEXT UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('waiting', 'approved', 'denied')),
    decided_at INTEGER,
    -- Set when the mail to the person is sent, after approval.
    link_hash TEXT UNIQUE
);
