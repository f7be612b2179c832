-- 002_read_models.sql - where read models live
--
-- Each projection version is a schema rm_<name>_v<version> created by the projector (the
-- application role), so the application role may create schemas in this database. The schema
-- rm holds one view per read-model table pointing at the active version.
DO $$
BEGIN
    EXECUTE format('GRANT CREATE ON DATABASE %I TO tixmo_app', current_database());
END
$$;

CREATE SCHEMA IF NOT EXISTS rm;
GRANT USAGE, CREATE ON SCHEMA rm TO tixmo_app;
