-- Lists walk an index in the order they show and stop after one page, instead of sorting
-- every ticket the filter lets through: by priority (`sort:priority`), and newest first
-- within an assignee's or a group's tickets ("my open tickets", a group's queue).
CREATE INDEX tickets_priority ON tickets (priority, id);
CREATE INDEX tickets_assignee_created ON tickets (assignee_id, created_at);
CREATE INDEX tickets_group_created ON tickets (group_id, created_at);
