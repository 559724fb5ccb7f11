-- LDAP and Active Directory directories that people sign in with and that are synced into
-- the desk, and the self-service password resets and unlocks done against them.

-- A directory: how to reach it (never plain text to a remote server: `ldaps://`, or
-- `ldap://` with StartTLS, or plain `ldap://` on loopback only), the service account that
-- searches it, where its people and groups are, which attributes mean what, how a disabled
-- account shows, and what its groups make of people in the desk. An organization's
-- directory only ever makes customers of that organization; one without (NULL) is staff's.
CREATE TABLE ldap_directories (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- `openldap` (password modify operation, pwdAccountLockedTime) or `active_directory`
    -- (unicodePwd, lockoutTime, userAccountControl).
    kind TEXT NOT NULL CHECK (kind IN ('openldap', 'active_directory')),
    url TEXT NOT NULL,
    starttls INTEGER NOT NULL DEFAULT 0,
    -- PEM certificates of the CA that signed the server's certificate; NULL trusts the
    -- well-known public CAs only.
    ca_pem TEXT,
    bind_dn TEXT NOT NULL,
    -- Kept as given: opsdesk binds with it. Never shown by the API.
    bind_password TEXT NOT NULL,
    user_base TEXT NOT NULL,
    user_filter TEXT NOT NULL,
    login_attribute TEXT NOT NULL,
    mail_attribute TEXT NOT NULL,
    name_attribute TEXT NOT NULL,
    -- Where password-reset codes go; NULL: the mail attribute.
    recovery_attribute TEXT,
    manager_attribute TEXT,
    -- `ad_account_control` (userAccountControl bit 2), `ppolicy_locked`
    -- (pwdAccountLockedTime), `enabled_filter` (people outside it are disabled) or `none`;
    -- a person no longer found is disabled in every case.
    disabled_detection TEXT NOT NULL
        CHECK (disabled_detection IN ('ad_account_control', 'ppolicy_locked', 'enabled_filter', 'none')),
    enabled_filter TEXT,
    group_base TEXT,
    group_filter TEXT NOT NULL,
    member_attribute TEXT NOT NULL,
    -- JSON: [{"group": "<group DN or cn>", "support_group": "<opsdesk group name>"}].
    group_mappings TEXT NOT NULL DEFAULT '[]',
    -- JSON: [{"group": "<group DN or cn>", "role": "admin|agent|customer"}], first match wins.
    role_rules TEXT NOT NULL DEFAULT '[]',
    default_role TEXT NOT NULL CHECK (default_role IN ('admin', 'agent', 'customer')),
    -- Whether a person the directory knows but the desk does not gets an account at their
    -- first sign-in.
    allow_signup INTEGER NOT NULL DEFAULT 0,
    sync_interval_minutes INTEGER NOT NULL DEFAULT 60,
    -- When the next scheduled sync is due; the node that moves it forward runs the sync.
    next_sync_at INTEGER,
    last_sync_at INTEGER,
    -- JSON summary of the last sync (counts, or the error).
    last_sync_result TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX ldap_directories_name ON ldap_directories (lower(name));
CREATE INDEX ldap_directories_due ON ldap_directories (next_sync_at);

-- A request to reset a password or lift a lockout: a one-time code mailed to the person's
-- recovery address (only its hash kept), tried a few times at most before it expires.
-- `handle_hash` is the hash of the secret in the page's address that the code is entered on.
CREATE TABLE password_resets (
    id INTEGER PRIMARY KEY,
    handle_hash TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    directory_id INTEGER NOT NULL REFERENCES ldap_directories (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('reset', 'unlock')),
    user_dn TEXT NOT NULL,
    recovery_address TEXT NOT NULL,
    code_hash TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('pending', 'completed', 'failed', 'expired')),
    client_ip TEXT NOT NULL,
    ticket_id INTEGER REFERENCES tickets (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE INDEX password_resets_user ON password_resets (user_id, created_at);
