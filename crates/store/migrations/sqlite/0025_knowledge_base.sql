-- The knowledge base: articles and runbooks with every revision kept, readers' feedback,
-- the tickets an article solved, and the searches that found nothing.
CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('article', 'runbook')),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    -- A runbook's steps, as JSON: [{"check", "command"?, "expected"?}].
    steps TEXT NOT NULL DEFAULT '[]',
    category_id INTEGER REFERENCES categories (id),
    -- Comma-separated, lower case.
    tags TEXT NOT NULL DEFAULT '',
    audience TEXT NOT NULL CHECK (audience IN ('public', 'customers', 'internal')),
    -- For the customers audience: the organizations (comma-separated ids) it is limited to.
    organizations TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('draft', 'in_review', 'published', 'archived')),
    language TEXT NOT NULL DEFAULT 'en',
    translation_of INTEGER REFERENCES articles (id) ON DELETE CASCADE,
    owner_id INTEGER NOT NULL REFERENCES users (id),
    review_by INTEGER,
    revision INTEGER NOT NULL,
    helpful INTEGER NOT NULL DEFAULT 0,
    unhelpful INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    published_at INTEGER
);
CREATE UNIQUE INDEX articles_one_per_language ON articles (translation_of, language)
    WHERE translation_of IS NOT NULL;
CREATE INDEX articles_status ON articles (status, audience);

CREATE TABLE article_revisions (
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    revision INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    steps TEXT NOT NULL,
    author_id INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (article_id, revision)
);

CREATE TABLE article_feedback (
    id INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    user_id INTEGER REFERENCES users (id),
    helpful INTEGER NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX article_feedback_article ON article_feedback (article_id, created_at);

CREATE TABLE ticket_articles (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, article_id)
);
CREATE INDEX ticket_articles_article ON ticket_articles (article_id);

CREATE TABLE article_search_misses (
    id INTEGER PRIMARY KEY,
    query TEXT NOT NULL,
    reader TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Full text, kept in step with articles by the store on every write; the vocabulary
-- table lists the indexed words, from which mistyped search words are corrected.
CREATE VIRTUAL TABLE article_search USING fts5 (
    title, tags, body,
    tokenize = 'porter unicode61'
);
CREATE VIRTUAL TABLE article_search_terms USING fts5vocab (article_search, 'row');
