-- Lists sorted by priority (`sort:priority`) walk this index and stop after one page,
-- instead of sorting every ticket the filter lets through.
CREATE INDEX tickets_priority ON tickets (priority, id);
