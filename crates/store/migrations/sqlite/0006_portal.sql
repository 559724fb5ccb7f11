-- The self-service portal: diagnostic questions asked when a customer opens a ticket in a
-- category; the answers are kept on the ticket.

CREATE TABLE category_questions (
    id INTEGER PRIMARY KEY,
    category_id INTEGER NOT NULL REFERENCES categories (id),
    position INTEGER NOT NULL DEFAULT 0,
    question TEXT NOT NULL,
    required INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX category_questions_category ON category_questions (category_id, position, id);
