-- 003_identity.sql - per-subject keys for erasable personal data (lib/pii.c)
--
-- Invariants:
--  * a subject has at most one key, stored wrapped (secretbox under TIXMO_PII_KEY: 24-byte
--    nonce || 32-byte key || 16-byte MAC = 72 bytes); the raw key is never stored;
--  * a row is either live (wrapped_key set, erased_at NULL) or erased (wrapped_key NULL,
--    erased_at set);
--  * erasure is final: once erased_at is set, no update may bring a key back or move the
--    erasure time, and the application role may not DELETE rows (a deleted tombstone would let
--    a new key be created for the subject);
--  * old row versions still hold the wrapped key until VACUUM removes them, so the table is
--    vacuumed eagerly.

CREATE TABLE subject_keys (
    subject_id  text PRIMARY KEY CHECK (length(subject_id) BETWEEN 1 AND 128),
    wrapped_key bytea CHECK (wrapped_key IS NULL OR length(wrapped_key) = 72),
    created_at  timestamptz NOT NULL DEFAULT now(),
    erased_at   timestamptz,
    CONSTRAINT subject_keys_live_or_erased CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
);

ALTER TABLE subject_keys SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1);

CREATE FUNCTION tix_subject_key_erasure_is_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.erased_at IS NOT NULL AND
       (NEW.wrapped_key IS NOT NULL OR NEW.erased_at IS DISTINCT FROM OLD.erased_at) THEN
        RAISE EXCEPTION 'subject_keys: the key of % was erased; erasure is final', OLD.subject_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.subject_id IS DISTINCT FROM OLD.subject_id OR
       NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'subject_keys: subject_id and created_at are immutable'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.erased_at IS NULL AND NEW.erased_at IS NULL AND
       NEW.wrapped_key IS DISTINCT FROM OLD.wrapped_key THEN
        RAISE EXCEPTION 'subject_keys: a live key is never replaced'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER subject_keys_erasure_is_final BEFORE UPDATE ON subject_keys
    FOR EACH ROW EXECUTE FUNCTION tix_subject_key_erasure_is_final();

REVOKE ALL ON subject_keys FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON subject_keys TO tixmo_app;
