/* store.h - the event store: append a partition's batch, read streams and partitions
 *
 * An append writes a batch of events and command outcomes for ONE partition in ONE statement
 * (so one transaction and one round trip), only if the partition head is still the one the
 * caller holds. Each event gets the next partition_seq and a hash chained to the previous one
 * (see chain.h). On any failure nothing is written.
 *
 * Not thread-safe per struct tix_db; use one connection per thread.
 */
#ifndef TIX_STORE_H
#define TIX_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "tix/db.h"
#include "tix/rc.h"

#define TIX_HASH_LEN 32

/* A recorded event. Strings are borrowed from the store's result and valid only during the
 * callback that receives the event. */
struct tix_event {
    int partition;
    int64_t partition_seq;
    int64_t global_pos;
    const char *stream_id;
    int64_t stream_version;
    const char *event_id;
    const char *command_id; /* "" when none */
    const char *type;
    int schema_version;
    const char *data;     /* exact JSON text as written */
    const char *metadata; /* exact JSON text as written */
    int64_t recorded_at_us;
    uint8_t prev_hash[TIX_HASH_LEN];
    uint8_t hash[TIX_HASH_LEN];
};

/* An event to append; every pointer borrowed for the duration of the call. data and metadata
 * must be canonical JSON (tix_json_dump). */
struct tix_append_event {
    const char *stream_id;
    int64_t stream_version; /* the version this event will have: expected current + 1 */
    const char *event_id;
    const char *command_id;
    const char *type;
    int schema_version;
    const char *data;
    const char *metadata;
};

/* A command's outcome to record; borrowed. outcome is canonical JSON. */
struct tix_append_outcome {
    const char *command_id;
    const char *command_type;
    const char *actor;
    bool is_succeeded;
    const char *outcome;
};

struct tix_partition_head {
    int64_t last_seq;
    uint8_t last_hash[TIX_HASH_LEN];
    int64_t last_outcome_seq;
};

/* Reads partition's head. TIX_ENOTFOUND when the partition was never installed. */
enum tix_rc tix_store_head(struct tix_db *db, int partition, struct tix_partition_head *out,
                           struct tix_err *err);

/* Appends events and outcomes to partition if its head still equals *head; on success advances
 * *head. On TIX_ECONFLICT nothing was written and err->field says why: "head" (another writer
 * appended to the partition: reload the head and your states), "stream" (an expected stream
 * version is taken), "command" (a command id already has an outcome). Every event and outcome
 * gets recorded_at_us. Also notifies channel "tixmo_events" with the partition at commit. */
enum tix_rc tix_store_append(struct tix_db *db, int partition, struct tix_partition_head *head,
                             const struct tix_append_event *events, int n_events,
                             const struct tix_append_outcome *outcomes, int n_outcomes,
                             int64_t recorded_at_us, struct tix_err *err);

/* Called once per event, in order; a non-TIX_OK return stops the read and is returned. */
typedef enum tix_rc (*tix_event_cb)(const struct tix_event *e, void *ctx);

/* Reads stream_id's events with version > after_version, in version order. */
enum tix_rc tix_store_read_stream(struct tix_db *db, const char *stream_id, int64_t after_version,
                                  tix_event_cb cb, void *ctx, struct tix_err *err);
/* Reads up to limit events of partition with seq > after_seq, in seq order; *count gets how
 * many were read. */
enum tix_rc tix_store_read_partition(struct tix_db *db, int partition, int64_t after_seq, int limit,
                                     tix_event_cb cb, void *ctx, int *count, struct tix_err *err);

/* Which events tix_store_scan visits; NULL / -1 fields match everything. */
struct tix_event_filter {
    const char *stream_id;
    const char *type;  /* exact type, or a prefix ending in '*' */
    int partition;     /* -1 = all */
    const char *since; /* RFC 3339 instant, inclusive */
    const char *until; /* RFC 3339 instant, exclusive */
};

/* Visits every matching event ordered by (partition, partition_seq), reading in pages so the
 * log never has to fit in memory. TIX_EINVAL (field named) for a malformed filter value. */
enum tix_rc tix_store_scan(struct tix_db *db, const struct tix_event_filter *f, tix_event_cb cb,
                           void *ctx, struct tix_err *err);

/* Called for each command id that already has an outcome. */
typedef enum tix_rc (*tix_outcome_cb)(const char *command_id, const char *outcome, void *ctx);
/* Looks up the recorded outcomes of n command ids. */
enum tix_rc tix_store_find_outcomes(struct tix_db *db, const char *const *command_ids, int n,
                                    tix_outcome_cb cb, void *ctx, struct tix_err *err);

/* Number of installed partitions (install_settings.partitions); TIX_ENOTFOUND if not migrated. */
enum tix_rc tix_store_partitions(struct tix_db *db, int *out, struct tix_err *err);

#endif
