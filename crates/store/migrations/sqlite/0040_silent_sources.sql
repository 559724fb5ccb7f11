-- The dead-man's switch: an integration that hears nothing for silent_after_minutes (0: off)
-- raises its own alert, resolved by the next request it receives.
ALTER TABLE integrations ADD COLUMN silent_after_minutes INTEGER NOT NULL DEFAULT 0;
-- When the last request came in (or, before any did, when it was made).
ALTER TABLE integrations ADD COLUMN last_received_at INTEGER;
-- When the switch fired; none while the source speaks.
ALTER TABLE integrations ADD COLUMN silent_since INTEGER;
UPDATE integrations SET last_received_at = created_at;
