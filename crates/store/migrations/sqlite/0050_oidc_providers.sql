-- OpenID Connect sign-in: the providers people sign in with, per organization or for staff,
-- and the sign-ins under way between the redirect to a provider and its answer.

-- A provider. Without an organization it signs in staff (and only such a provider may give
-- the agent or admin role); with one it only ever signs in customers of that organization.
CREATE TABLE identity_providers (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER REFERENCES organizations (id) ON DELETE CASCADE,
    -- How admins tell providers apart; `label` is what the sign-in button says.
    name TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    -- Empty for a public client (PKCE alone); never shown back by the API.
    client_secret TEXT NOT NULL DEFAULT '',
    -- Space-separated scopes asked for besides `openid`.
    scopes TEXT NOT NULL DEFAULT 'email profile',
    email_claim TEXT NOT NULL DEFAULT 'email',
    name_claim TEXT NOT NULL DEFAULT 'name',
    groups_claim TEXT NOT NULL DEFAULT 'groups',
    -- JSON: [{"group": "...", "role": "agent"}], the first rule whose group matches wins.
    role_rules TEXT NOT NULL DEFAULT '[]',
    -- The role when no rule matches; none refuses such people. Customers for organizations.
    default_role TEXT,
    -- JSON: [{"group": "...", "support_group_id": 3}] (staff providers).
    group_mappings TEXT NOT NULL DEFAULT '[]',
    -- Create an account on a first sign-in of someone opsdesk does not know.
    allow_signup INTEGER NOT NULL DEFAULT 0,
    -- Refuse addresses the provider does not say it verified.
    require_verified_email INTEGER NOT NULL DEFAULT 1,
    -- Comma-separated domains whose addresses the sign-in form sends to this provider.
    email_domains TEXT NOT NULL DEFAULT '',
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX identity_providers_organization ON identity_providers (organization_id);

-- A sign-in sent to a provider and not yet back: keyed on the hash of its `state`, deleted
-- when the answer arrives, so a state is good once and an unknown one is refused.
CREATE TABLE oidc_login_attempts (
    state_hash TEXT PRIMARY KEY,
    provider_id INTEGER NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    -- The address the provider was told to answer at; the code is redeemed with it.
    redirect_uri TEXT NOT NULL,
    -- Where the person goes once signed in: a path of opsdesk's own.
    return_to TEXT NOT NULL DEFAULT '/',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oidc_login_attempts_expiry ON oidc_login_attempts (expires_at);
