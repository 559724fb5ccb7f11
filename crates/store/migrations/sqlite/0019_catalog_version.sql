-- The catalog tickets are checked against (groups, categories, custom fields, organizations'
-- priority matrices, SLA policies and calendars) is kept in memory by every node. Any change
-- to it gives `catalog_version` a new random value, so a node reads that one value to know
-- whether its copy is current. Random rather than counted: a value seen inside a transaction
-- that rolls back is never seen again.
CREATE TABLE catalog_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, random());

CREATE TRIGGER groups_insert_catalog AFTER INSERT ON groups
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER groups_update_catalog AFTER UPDATE ON groups
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER groups_delete_catalog AFTER DELETE ON groups
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER categories_insert_catalog AFTER INSERT ON categories
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER categories_update_catalog AFTER UPDATE ON categories
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER categories_delete_catalog AFTER DELETE ON categories
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER custom_fields_insert_catalog AFTER INSERT ON custom_fields
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER custom_fields_update_catalog AFTER UPDATE ON custom_fields
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER custom_fields_delete_catalog AFTER DELETE ON custom_fields
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER calendars_insert_catalog AFTER INSERT ON calendars
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER calendars_update_catalog AFTER UPDATE ON calendars
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER calendars_delete_catalog AFTER DELETE ON calendars
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER sla_policies_insert_catalog AFTER INSERT ON sla_policies
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER sla_policies_update_catalog AFTER UPDATE ON sla_policies
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER sla_policies_delete_catalog AFTER DELETE ON sla_policies
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER organizations_insert_catalog AFTER INSERT ON organizations
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER organizations_update_catalog AFTER UPDATE OF priority_matrix ON organizations
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;

CREATE TRIGGER organizations_delete_catalog AFTER DELETE ON organizations
BEGIN
    UPDATE catalog_version SET version = random() WHERE id = 1;
END;
