-- Agents an admin lets publish and archive knowledge-base articles (admins always may).
ALTER TABLE users ADD COLUMN approves_articles INTEGER NOT NULL DEFAULT 0;
