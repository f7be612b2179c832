-- 008_read_model_notify.sql - tell the gateways which read-model rows changed
--
-- The gateway caches the rows its security decisions and hottest reads depend on (who is a
-- member with which role, API keys, a user's profile and personal-data key: gateway/cache.c)
-- and LISTENs on channel tix_rm. Every change of such a row notifies '<table>:<key>' when its
-- transaction commits, where <key> is the values of the trigger's arguments (column names)
-- joined by ':'. Notifications of one transaction with the same payload arrive once.
--
-- The read-model tables live in projection schemas created at run time: their triggers come
-- with the projections' DDL (projections/users.c, organizations.c, api_keys.c) and call this
-- function; the projection runtime notifies '*' when it points the rm views at another version.

CREATE FUNCTION tix_rm_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
    payload text := TG_TABLE_NAME;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := to_jsonb(OLD);
    ELSE
        r := to_jsonb(NEW);
    END IF;
    FOR i IN 0 .. TG_NARGS - 1 LOOP
        payload := payload || ':' || coalesce(r ->> TG_ARGV[i], '');
    END LOOP;
    PERFORM pg_notify('tix_rm', payload);
    RETURN NULL;
END
$$;

-- Erasure and new keys: a cached profile holds the wrapped key.
CREATE TRIGGER subject_keys_notify AFTER INSERT OR UPDATE OR DELETE ON subject_keys
    FOR EACH ROW EXECUTE FUNCTION tix_rm_notify('subject_id');
