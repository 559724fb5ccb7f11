-- E-mail integrations: mail delivered to an integration's address becomes its alerts. One
-- address belongs to one integration; the other kinds have none.
ALTER TABLE integrations DROP CONSTRAINT integrations_kind_check;
ALTER TABLE integrations ADD CONSTRAINT integrations_kind_check
    CHECK (kind IN ('alertmanager', 'generic', 'email'));
ALTER TABLE integrations ADD COLUMN address TEXT UNIQUE;
