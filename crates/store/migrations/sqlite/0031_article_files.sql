-- Files attached to knowledge-base articles (screenshots, scripts, forms). Their content is
-- kept with the tickets' files, once per distinct content.
CREATE TABLE article_files (
    id INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL REFERENCES attachment_blobs (sha256),
    uploaded_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX article_files_article ON article_files (article_id, id);
