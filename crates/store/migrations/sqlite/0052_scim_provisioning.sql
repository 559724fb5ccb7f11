-- SCIM 2.0 provisioning: the clients (identity providers) allowed to push users and groups,
-- each with its own bearer token and scope, and the support groups a client manages.

CREATE TABLE scim_clients (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- The organization whose customers it provisions; NULL provisions staff (agents).
    organization_id INTEGER REFERENCES organizations (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);

-- A support group a staff client created or adopted, known to it by its own external id.
CREATE TABLE scim_groups (
    client_id INTEGER NOT NULL REFERENCES scim_clients (id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    external_id TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, group_id)
);
