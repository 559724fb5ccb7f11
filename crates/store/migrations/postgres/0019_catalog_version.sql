-- The catalog tickets are checked against (groups, categories, custom fields, organizations'
-- priority matrices, SLA policies and calendars) is kept in memory by every node. Any change
-- to it gives `catalog_version` a new random value, so a node reads that one value to know
-- whether its copy is current. Random rather than counted: a value seen inside a transaction
-- that rolls back is never seen again.
CREATE TABLE catalog_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, (random() * 9e18)::BIGINT);

CREATE FUNCTION catalog_changed() RETURNS trigger AS $$
BEGIN
    UPDATE catalog_version SET version = (random() * 9e18)::BIGINT WHERE id = 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER groups_catalog AFTER INSERT OR UPDATE OR DELETE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_changed();

CREATE TRIGGER categories_catalog AFTER INSERT OR UPDATE OR DELETE ON categories
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_changed();

CREATE TRIGGER custom_fields_catalog AFTER INSERT OR UPDATE OR DELETE ON custom_fields
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_changed();

CREATE TRIGGER calendars_catalog AFTER INSERT OR UPDATE OR DELETE ON calendars
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_changed();

CREATE TRIGGER sla_policies_catalog AFTER INSERT OR UPDATE OR DELETE ON sla_policies
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_changed();

CREATE TRIGGER organizations_catalog AFTER INSERT OR UPDATE OF priority_matrix OR DELETE
    ON organizations FOR EACH STATEMENT EXECUTE FUNCTION catalog_changed();
