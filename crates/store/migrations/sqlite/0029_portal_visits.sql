-- A customer's visit to the portal's new-ticket form during which the portal showed them
-- articles. One who leaves without a ticket, and sends no ticket or mail in the next 7
-- days, counts as deflected.
CREATE TABLE portal_visits (
    token TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    category_id INTEGER REFERENCES categories (id) ON DELETE SET NULL,
    started_at INTEGER NOT NULL,
    query TEXT NOT NULL,
    articles_shown INTEGER NOT NULL,
    submitted_at INTEGER
);
CREATE INDEX portal_visits_started ON portal_visits (started_at);
