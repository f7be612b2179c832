-- 001_event_store.sql - the append-only event store
--
-- Invariants:
--  * partition_heads holds, per partition, the last sequence number and chain hash. An append
--    takes that row (compare-and-set on last_seq), so partition_seq is gap-free and in commit
--    order within a partition: readers never need gap detection.
--  * (stream_id, stream_version) is unique: two writers expecting the same version cannot both
--    succeed (optimistic concurrency; a mismatch is an error, never ignored).
--  * processed_commands records the first outcome of every command id, in the same transaction
--    as its events: a redelivered command returns that outcome and appends nothing.
--  * events and processed_commands are immutable: the application role may only SELECT and
--    INSERT, and triggers refuse UPDATE, DELETE and TRUNCATE for everybody.
--  * data and metadata are stored as `json` (exact text) because the hash chain covers the
--    exact bytes written.

CREATE TABLE install_settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE partition_heads (
    partition        int PRIMARY KEY CHECK (partition >= 0),
    last_seq         bigint NOT NULL DEFAULT 0,
    last_hash        bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    last_outcome_seq bigint NOT NULL DEFAULT 0
);

CREATE TABLE events (
    partition      int NOT NULL,
    partition_seq  bigint NOT NULL CHECK (partition_seq > 0),
    global_pos     bigint GENERATED ALWAYS AS IDENTITY,
    stream_id      text NOT NULL CHECK (length(stream_id) BETWEEN 1 AND 159),
    stream_version bigint NOT NULL CHECK (stream_version > 0),
    event_id       uuid NOT NULL,
    command_id     text,
    type           text NOT NULL,
    schema_version int NOT NULL CHECK (schema_version > 0),
    data           json NOT NULL,
    metadata       json NOT NULL,
    recorded_at    timestamptz NOT NULL,
    prev_hash      bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash           bytea NOT NULL CHECK (length(hash) = 32),
    CONSTRAINT events_pkey PRIMARY KEY (partition, partition_seq),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

CREATE TABLE processed_commands (
    command_id   text NOT NULL,
    partition    int NOT NULL,
    outcome_seq  bigint NOT NULL CHECK (outcome_seq > 0),
    command_type text NOT NULL,
    actor        text NOT NULL,
    status       text NOT NULL CHECK (status IN ('succeeded', 'rejected')),
    outcome      json NOT NULL,
    decided_at   timestamptz NOT NULL,
    CONSTRAINT processed_commands_pkey PRIMARY KEY (command_id),
    CONSTRAINT processed_commands_seq_key UNIQUE (partition, outcome_seq)
);

CREATE FUNCTION tix_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_immutable BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION tix_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION tix_refuse_change();
CREATE TRIGGER processed_commands_immutable BEFORE UPDATE OR DELETE ON processed_commands
    FOR EACH ROW EXECUTE FUNCTION tix_refuse_change();
CREATE TRIGGER processed_commands_no_truncate BEFORE TRUNCATE ON processed_commands
    FOR EACH STATEMENT EXECUTE FUNCTION tix_refuse_change();

-- Projections: which version of each read model is live, and how far each has read.
CREATE TABLE projections (
    name             text PRIMARY KEY,
    active_version   int NOT NULL,
    building_version int
);

CREATE TABLE projection_checkpoints (
    projection text NOT NULL,
    version    int NOT NULL,
    partition  int NOT NULL,
    last_seq   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, version, partition)
);

REVOKE ALL ON events, processed_commands, partition_heads, install_settings FROM PUBLIC;
GRANT SELECT, INSERT ON events TO tixmo_app;
GRANT SELECT, INSERT ON processed_commands TO tixmo_app;
GRANT SELECT, UPDATE ON partition_heads TO tixmo_app;
GRANT SELECT ON install_settings TO tixmo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON projections, projection_checkpoints TO tixmo_app;
