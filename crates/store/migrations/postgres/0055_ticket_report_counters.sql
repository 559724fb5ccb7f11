-- What the reports count of each resolved ticket, kept on the ticket as it happens instead of
-- read back from its timeline and comments for every ticket of a period: how many times it was
-- reopened (a requester's reply, or a move out of resolved other than closing), and how many
-- public replies staff wrote.
ALTER TABLE tickets ADD COLUMN reopened_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN staff_replies BIGINT NOT NULL DEFAULT 0;

UPDATE tickets SET
    reopened_count = (SELECT COUNT(*) FROM timeline r WHERE r.ticket_id = tickets.id AND
        (r.kind = 'reopened' OR (r.kind = 'status_changed' AND r.data LIKE '%"from":"resolved"%'
         AND r.data NOT LIKE '%"to":"closed"%'))),
    staff_replies = (SELECT COUNT(*) FROM comments c JOIN users u ON u.id = c.author_id
        WHERE c.ticket_id = tickets.id AND c.public = 1 AND u.role <> 'customer');
