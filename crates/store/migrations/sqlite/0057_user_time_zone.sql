-- A person's own time zone (an IANA name): the web UI shows them times in it, and their
-- reports and weekly report mail default to it. None: UTC, or for reports their quiet hours' zone.
ALTER TABLE users ADD COLUMN time_zone TEXT;
