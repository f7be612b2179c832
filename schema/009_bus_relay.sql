-- 009_bus_relay.sql - how far each partition's events have been published to the bus
--
-- The events table is the outbox: the processor's relay (commands/relay.h) publishes every
-- partition's events past last_seq to the events exchange, waits for the broker's confirms and
-- only then moves last_seq. A store that already has history starts relaying at its current
-- heads (what was there before this table was published by the processor itself); a new store
-- gets its rows, at 0, when the relay first starts.
CREATE TABLE bus_relay (
    partition int PRIMARY KEY REFERENCES partition_heads (partition),
    last_seq  bigint NOT NULL CHECK (last_seq >= 0)
);

INSERT INTO bus_relay (partition, last_seq) SELECT partition, last_seq FROM partition_heads;

REVOKE ALL ON bus_relay FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON bus_relay TO tixmo_app;
