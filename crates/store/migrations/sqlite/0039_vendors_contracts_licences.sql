-- Suppliers with their contacts; the terms of contract and licence items; and tickets
-- waiting on a vendor, whose response time runs while they wait.

CREATE TABLE vendors (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    website TEXT NOT NULL DEFAULT '',
    support_email TEXT NOT NULL DEFAULT '',
    support_phone TEXT NOT NULL DEFAULT '',
    -- How many hours the vendor has to answer a case; none when it promises nothing.
    response_hours INTEGER,
    notes TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE vendor_contacts (
    id INTEGER PRIMARY KEY,
    vendor_id INTEGER NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT ''
);
CREATE INDEX vendor_contacts_vendor ON vendor_contacts (vendor_id, position);

-- The terms of a contract or licence item. Contracts cover the items related to them by
-- `covered_by`; a licence counts its installs from agents' packages or those relations.
CREATE TABLE agreements (
    ci_id INTEGER PRIMARY KEY REFERENCES cis (id) ON DELETE CASCADE,
    vendor_id INTEGER REFERENCES vendors (id) ON DELETE SET NULL,
    -- Contracts: support, warranty, lease or maintenance; licences: per_seat, per_device
    -- or site.
    kind TEXT NOT NULL,
    reference TEXT NOT NULL DEFAULT '',
    starts_on TEXT,
    ends_on TEXT,
    -- Days before the end the renewal reminder is due, and that day.
    notice_days INTEGER NOT NULL DEFAULT 30,
    renew_by TEXT,
    -- The end date a renewal reminder was opened for, so each end reminds once.
    reminded_for TEXT,
    -- Contracts: overrides the vendor's response time for the items they cover.
    response_hours INTEGER,
    -- Licences: seats or devices bought (none for a site licence), and the package name
    -- agents report for the licensed software.
    purchased INTEGER,
    package TEXT
);
CREATE INDEX agreements_renew_by ON agreements (renew_by);
CREATE INDEX agreements_vendor ON agreements (vendor_id);

-- A ticket waiting on a vendor: one wait at a time, ended when they answer.
CREATE TABLE ticket_vendor_waits (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    vendor_id INTEGER NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    -- The vendor's own case number.
    reference TEXT NOT NULL DEFAULT '',
    since INTEGER NOT NULL,
    -- When their answer is due, from a contract covering the ticket's items or the vendor.
    due_at INTEGER
);
CREATE INDEX ticket_vendor_waits_vendor ON ticket_vendor_waits (vendor_id);
