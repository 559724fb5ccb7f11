-- Monitoring: tags on monitors, maintenance windows that cover the monitors with a tag and
-- that recur on a cron schedule, and results marked as taken during maintenance (a
-- recurring window cannot be matched in SQL, so the check itself records it).

CREATE TABLE monitor_tags (
    monitor_id INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (monitor_id, tag)
);
CREATE INDEX monitor_tags_tag ON monitor_tags (tag);

-- With neither monitor_id nor tag a window covers every monitor.
ALTER TABLE maintenance_windows ADD COLUMN tag TEXT;
-- A recurring window is in force for duration_s from each time of schedule (cron, read
-- in timezone) between starts_at and ends_at.
ALTER TABLE maintenance_windows ADD COLUMN schedule TEXT;
ALTER TABLE maintenance_windows ADD COLUMN timezone TEXT;
ALTER TABLE maintenance_windows ADD COLUMN duration_s INTEGER;
CREATE INDEX maintenance_windows_tag ON maintenance_windows (tag, ends_at);

ALTER TABLE monitor_results ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
UPDATE monitor_results SET maintenance = 1 WHERE EXISTS (
    SELECT 1 FROM maintenance_windows w
    WHERE (w.monitor_id = monitor_results.monitor_id OR w.monitor_id IS NULL)
      AND w.starts_at <= monitor_results.at AND w.ends_at > monitor_results.at);
