-- Scripts that runbook steps run on hosts, each version known by its hash and run only once
-- an admin approved it; runbook runs on a ticket's host; the work agents fetch when they
-- poll (script steps and diagnostics from the host); how each item is reached remotely,
-- and who connected to what from which ticket.
CREATE TABLE scripts (
    id INTEGER PRIMARY KEY,
    -- SHA-256 over the language and the exact text, in hex.
    hash TEXT NOT NULL UNIQUE,
    language TEXT NOT NULL CHECK (language IN ('shell', 'python', 'powershell')),
    body TEXT NOT NULL,
    -- The runbook it was first seen in.
    article_id INTEGER REFERENCES articles (id) ON DELETE SET NULL,
    step INTEGER,
    first_seen_at INTEGER NOT NULL,
    approved_by TEXT,
    approved_at INTEGER
);

CREATE TABLE runbook_runs (
    id INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    -- The runbook's steps as they were when the run began, as JSON.
    steps TEXT NOT NULL,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    agent_id INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'timed_out', 'refused')),
    requested_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX runbook_runs_ticket ON runbook_runs (ticket_id);

CREATE TABLE agent_work (
    id INTEGER PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    ticket_id INTEGER REFERENCES tickets (id) ON DELETE CASCADE,
    run_id INTEGER REFERENCES runbook_runs (id) ON DELETE CASCADE,
    -- The runbook step (from 1) of a script.
    step INTEGER,
    kind TEXT NOT NULL CHECK (kind IN ('script', 'diagnostic')),
    script_hash TEXT REFERENCES scripts (hash),
    timeout_seconds INTEGER,
    diagnostic TEXT,
    target TEXT,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'timed_out', 'refused')),
    requested_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    exit_code INTEGER,
    duration_ms INTEGER,
    output TEXT,
    truncated INTEGER NOT NULL DEFAULT 0,
    -- A diagnostic's outcome as JSON, or why the agent refused.
    result TEXT
);
CREATE INDEX agent_work_queue ON agent_work (agent_id, state, id);
CREATE INDEX agent_work_run ON agent_work (run_id);

-- How to reach an item: SSH, RDP, VNC or a web console.
CREATE TABLE ci_access (
    id INTEGER PRIMARY KEY,
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    method TEXT NOT NULL CHECK (method IN ('ssh', 'rdp', 'vnc', 'web')),
    -- A host[:port] for ssh, rdp and vnc; an https:// URL for a web console.
    address TEXT NOT NULL,
    username TEXT,
    UNIQUE (ci_id, method, address)
);

CREATE TABLE remote_sessions (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    ci_id INTEGER NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    method TEXT NOT NULL,
    uri TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    actor TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    -- What was done, written afterwards.
    note TEXT,
    noted_at INTEGER
);
CREATE INDEX remote_sessions_ticket ON remote_sessions (ticket_id);
