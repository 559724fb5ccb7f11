-- The CMDB: configuration items, their relations and history, and what host agents
-- report about the machines they run on.

CREATE TABLE cis (
    id INTEGER PRIMARY KEY,
    class TEXT NOT NULL,
    name TEXT NOT NULL,
    organization_id INTEGER REFERENCES organizations (id),
    owner_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    location TEXT NOT NULL DEFAULT '',
    lifecycle TEXT NOT NULL,
    asset_tag TEXT UNIQUE,
    serial_number TEXT,
    smbios_uuid TEXT,
    hostname TEXT,
    -- Of the items it depends on, how many must be up for it to be; all of them when NULL.
    needed INTEGER,
    -- The class's custom fields' values, a JSON object.
    fields TEXT NOT NULL DEFAULT '{}',
    -- Which source last set each identifying or owned attribute: JSON {"attribute": "agent"}.
    sources TEXT NOT NULL DEFAULT '{}',
    purchased_on TEXT,
    purchase_cost TEXT,
    warranty_ends_on TEXT,
    -- Name, hostname, asset tag and serial number in lower case: what words search.
    search_text TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX cis_organization ON cis (organization_id);
CREATE INDEX cis_class ON cis (class);
CREATE INDEX cis_serial ON cis (serial_number) WHERE serial_number IS NOT NULL;
CREATE INDEX cis_smbios_uuid ON cis (smbios_uuid) WHERE smbios_uuid IS NOT NULL;
CREATE INDEX cis_hostname ON cis (lower(hostname)) WHERE hostname IS NOT NULL;

CREATE TABLE ci_macs (
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    mac TEXT NOT NULL,
    PRIMARY KEY (mac, ci_id)
);
CREATE INDEX ci_macs_ci ON ci_macs (ci_id);

-- Each attribute change, lifecycle moves included, with who made it.
CREATE TABLE ci_history (
    id INTEGER PRIMARY KEY,
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    field TEXT NOT NULL,
    before TEXT,
    after TEXT
);
CREATE INDEX ci_history_ci ON ci_history (ci_id, at);

-- `source kind target` (`app runs_on vm`); a removed relation stays, with when and by whom.
CREATE TABLE ci_relations (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    target_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    removed_at INTEGER,
    removed_by TEXT
);
CREATE INDEX ci_relations_source ON ci_relations (source_id) WHERE removed_at IS NULL;
CREATE INDEX ci_relations_target ON ci_relations (target_id) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX ci_relations_current ON ci_relations (source_id, kind, target_id) WHERE removed_at IS NULL;

-- Pairs that look like one machine recorded twice, until someone merges or dismisses them.
CREATE TABLE ci_duplicates (
    id INTEGER PRIMARY KEY,
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    other_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    found_at INTEGER NOT NULL,
    resolved_at INTEGER,
    resolution TEXT,
    UNIQUE (ci_id, other_id)
);

CREATE TABLE ticket_cis (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    PRIMARY KEY (ticket_id, ci_id)
);
CREATE INDEX ticket_cis_ci ON ticket_cis (ci_id);

ALTER TABLE monitors ADD COLUMN ci_id INTEGER REFERENCES cis (id) ON DELETE SET NULL;
CREATE INDEX monitors_ci ON monitors (ci_id) WHERE ci_id IS NOT NULL;

-- One-time tokens an admin makes for agents to enrol with, kept hashed.
CREATE TABLE agent_enrolments (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    organization_id INTEGER REFERENCES organizations (id) ON DELETE CASCADE,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);

CREATE TABLE agents (
    id INTEGER PRIMARY KEY,
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    credential_hash TEXT NOT NULL UNIQUE,
    hostname TEXT NOT NULL,
    -- The heartbeat monitor its reports ping.
    monitor_id INTEGER REFERENCES monitors (id) ON DELETE SET NULL,
    enrolled_at INTEGER NOT NULL,
    last_report_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX agents_ci ON agents (ci_id);

-- The last report of each inventory section: its hash, and its JSON.
CREATE TABLE ci_sections (
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    section TEXT NOT NULL,
    hash TEXT NOT NULL,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (ci_id, section)
);

CREATE TABLE ci_packages (
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    architecture TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL,
    manager TEXT NOT NULL,
    PRIMARY KEY (ci_id, name, architecture)
);
CREATE INDEX ci_packages_name ON ci_packages (name);

CREATE TABLE ci_updates (
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    current_version TEXT NOT NULL,
    candidate TEXT NOT NULL,
    security INTEGER NOT NULL,
    -- When a report first listed it: how long it has waited.
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (ci_id, name)
);
CREATE INDEX ci_updates_security ON ci_updates (security, first_seen_at);

-- What changed in a machine's inventory: `openssl 3.0.11 → 3.0.13`.
CREATE TABLE ci_inventory_changes (
    id INTEGER PRIMARY KEY,
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    section TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX ci_inventory_changes_ci ON ci_inventory_changes (ci_id, at);

-- Each class's own custom fields.
CREATE TABLE ci_class_fields (
    class TEXT NOT NULL,
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    -- 'text', 'number', 'date' or 'boolean'
    kind TEXT NOT NULL,
    required INTEGER NOT NULL DEFAULT 0,
    position INTEGER NOT NULL,
    PRIMARY KEY (class, name)
);
