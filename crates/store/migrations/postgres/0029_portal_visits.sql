-- A customer's visit to the portal's new-ticket form during which the portal showed them
-- articles. One who leaves without a ticket, and sends no ticket or mail in the next 7
-- days, counts as deflected.
CREATE TABLE portal_visits (
    token TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    category_id BIGINT REFERENCES categories (id) ON DELETE SET NULL,
    started_at BIGINT NOT NULL,
    query TEXT NOT NULL,
    articles_shown BIGINT NOT NULL,
    submitted_at BIGINT
);
CREATE INDEX portal_visits_started ON portal_visits (started_at);
