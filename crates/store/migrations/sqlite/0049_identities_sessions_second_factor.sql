-- Accounts that come from a directory, sessions a person can see and revoke, and a second
-- factor for local passwords.

-- Where an account comes from besides a local password: an OpenID Connect provider, an
-- LDAP directory or a SCIM client, keyed on that source's own stable id for the person
-- (`sub`, entryUUID, SCIM id), so a renamed address still finds the same account.
CREATE TABLE user_identities (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source TEXT NOT NULL CHECK (source IN ('oidc', 'ldap', 'scim')),
    -- The provider's, directory's or SCIM client's id in its own table.
    source_id INTEGER NOT NULL,
    subject TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER,
    UNIQUE (source, source_id, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);

-- A session's id that may be shown (the token hash stays private), and what the person
-- needs to recognise it: how it signed in, from where, with what, and when it was last used.
ALTER TABLE sessions ADD COLUMN public_id TEXT;
UPDATE sessions SET public_id = substr(token_hash, 1, 32);
CREATE UNIQUE INDEX sessions_public_id ON sessions (public_id);
CREATE INDEX sessions_user ON sessions (user_id);
ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password';
ALTER TABLE sessions ADD COLUMN client_ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER;

-- A time-based one-time password (RFC 6238) for a local account. `confirmed_at` is set once
-- the person has entered a first code; `last_step` refuses a code used twice.
CREATE TABLE user_totp (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    confirmed_at INTEGER,
    last_step INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

-- One-time recovery codes, stored hashed, for a person who lost their authenticator.
CREATE TABLE user_recovery_codes (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

-- A password that was right, waiting for its second factor; short-lived and single-use.
CREATE TABLE login_challenges (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    attempts INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL
);
