-- Security advisories imported from OSV feeds, which installed packages they affect, and
-- the incidents opened for them.

CREATE TABLE advisories (
    -- The feed's id: DSA-5678-1, CVE-2024-1234, GHSA-…
    id TEXT PRIMARY KEY,
    -- The feed's `modified`, as given: a re-import with the same one changes nothing.
    modified TEXT NOT NULL,
    -- Its other names (CVE ids), upper case, separated by spaces: what searches read.
    aliases TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL,
    details TEXT NOT NULL,
    -- 'critical', 'high', 'medium', 'low' or 'unknown', and its rank 4 to 0.
    severity TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,
    imported_at INTEGER NOT NULL
);
CREATE INDEX advisories_severity ON advisories (severity_rank);

CREATE TABLE advisory_aliases (
    alias TEXT NOT NULL,
    advisory_id TEXT NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
    PRIMARY KEY (alias, advisory_id)
);
CREATE INDEX advisory_aliases_advisory ON advisory_aliases (advisory_id);

-- Each package an advisory affects, in one ecosystem: its version spans as JSON.
CREATE TABLE advisory_packages (
    advisory_id TEXT NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    affected TEXT NOT NULL,
    PRIMARY KEY (advisory_id, position)
);
CREATE INDEX advisory_packages_name ON advisory_packages (name);

-- An installed package an advisory affects on an item, until the package is upgraded.
CREATE TABLE ci_vulnerabilities (
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    advisory_id TEXT NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
    package TEXT NOT NULL,
    version TEXT NOT NULL,
    -- The version that fixes it, when the advisory knows one.
    fixed TEXT,
    severity_rank INTEGER NOT NULL,
    found_at INTEGER NOT NULL,
    PRIMARY KEY (ci_id, advisory_id, package)
);
CREATE INDEX ci_vulnerabilities_advisory ON ci_vulnerabilities (advisory_id);
CREATE INDEX ci_vulnerabilities_severity ON ci_vulnerabilities (severity_rank, ci_id);

-- The incident opened for an item and an advisory: one, ever, per pair.
CREATE TABLE vulnerability_incidents (
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    advisory_id TEXT NOT NULL,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    opened_at INTEGER NOT NULL,
    PRIMARY KEY (ci_id, advisory_id)
);
