-- What an outage's incident last said about its failures, so that further failures are
-- noted on its timeline only when the error changes or a while has passed: when the last
-- note was written (NULL: none yet, only the incident's description), the failure count
-- it accounted for, and the error it reported (the first error until then).
ALTER TABLE monitor_outages ADD COLUMN noted_at BIGINT;
ALTER TABLE monitor_outages ADD COLUMN noted_failures BIGINT NOT NULL DEFAULT 1;
ALTER TABLE monitor_outages ADD COLUMN noted_error TEXT;
UPDATE monitor_outages SET noted_error = first_error;
