-- An outage's incident work is claimed by the job doing it, and the claim lapses with that
-- job's lease instead of after a fixed time that could outlast a dead node by minutes.
ALTER TABLE monitor_outages ADD COLUMN claimed_by_job BIGINT;
ALTER TABLE monitor_outages DROP COLUMN claimed_until;
