/* projection.h - read models as pure functions from events to SQL statements
 *
 * A projection declares its tables (DDL with unqualified names), the tables queries may read,
 * and apply(), which turns one recorded event into statements. The runtime owns transactions,
 * checkpoints and versions: each version of a projection lives in its own schema
 * "rm_<name>_v<version>" and the runtime sets search_path there before running DDL or apply's
 * statements; the schema "rm" has one view per table pointing at the active version.
 *
 * Sources: most projections read the events table; command status reads the recorded command
 * outcomes (processed_commands), which carry rejections that append no event. An outcome is
 * presented to apply as an event with type "command.succeeded" or "command.rejected", stream_id
 * = command id, data = the outcome JSON, metadata = {"command_type", "actor"}.
 */
#ifndef TIX_PROJECTIONS_PROJECTION_H
#define TIX_PROJECTIONS_PROJECTION_H

#include <stdbool.h>

#include "tix/db.h"
#include "tix/store.h"

#define TIX_STMT_MAX_PARAMS 12

/* The advisory lock (transaction scope) around re-pointing the rm.* views: prepare and the
 * switch of a rebuilt version take it exclusive before their first view, and a reader that
 * reads several views in one transaction or statement (the availability publisher) takes it
 * shared first, so neither holds one view while waiting for another in the other's order. */
#define TIX_PROJECTION_VIEWS_LOCK "727272"

struct tix_stmt {
    const char *sql; /* static string */
    int n;
    char *params[TIX_STMT_MAX_PARAMS]; /* owned copies; NULL = SQL NULL */
    bool is_deferred;                  /* see tix_stmts_defer */
    bool is_last_latest;               /* see tix_stmts_defer_latest */
};

/* A growable list of statements; apply() adds to it, the runtime executes and resets it. */
struct tix_stmts {
    struct tix_stmt *items;
    int n;
    int cap;
};

void tix_stmts_init(struct tix_stmts *s);
void tix_stmts_reset(struct tix_stmts *s);
void tix_stmts_deinit(struct tix_stmts *s);
/* Adds sql (static) with n parameters given as const char * varargs (copied; NULL allowed). */
void tix_stmts_add(struct tix_stmts *s, const char *sql, int n, ...);
/* Like tix_stmts_add, for a statement that only recomputes rows from the tables as they are
 * (a derived figure, e.g. what is available): the runtime runs it once, after the last event of
 * the pass, however many events of the pass asked for it with the same parameters. Same
 * transaction, so nobody sees the rows in between. */
void tix_stmts_defer(struct tix_stmts *s, const char *sql, int n, ...);
/* Like tix_stmts_defer, but asks that differ only in their last parameter are one statement: it
 * runs once, in the place of the first ask, with the last parameter of the latest ask (e.g. the
 * recorded time of the last event of the pass that asked). */
void tix_stmts_defer_latest(struct tix_stmts *s, const char *sql, int n, ...);

enum tix_projection_source { TIX_SOURCE_EVENTS, TIX_SOURCE_OUTCOMES };

struct tix_projection {
    const char *name;
    enum tix_projection_source source;
    const char *ddl;           /* idempotent CREATE ... IF NOT EXISTS statements */
    const char *const *tables; /* NULL-terminated: tables exposed as views in schema rm */
    /* Pure: statements for one event; events it does not care about add nothing. TIX_EINVAL
     * for a malformed event of a known type. */
    enum tix_rc (*apply)(const struct tix_event *e, struct tix_stmts *out);
    /* Its statements read rows that events of other partitions wrote (search: an event's hit
     * takes its venue's city). Steps of one version then never run at once: each takes a
     * transaction-scoped advisory lock on (projection, version) first, so none misses the rows
     * of another's uncommitted transaction on another partition. */
    bool is_cross_partition;
};

/* The lifecycle status an event of type leads to ("event.sold_out" -> "sold_out"), or NULL
 * when type is no lifecycle step (events.c; shared by every read model that keeps a status). */
const char *tix_event_status_after(const char *type);

/* Every projection, NULL-terminated. */
extern const struct tix_projection *const tix_projections[];
const struct tix_projection *tix_projection_find(const char *name);

/* Creates version's schema, tables and checkpoints if missing; registers the projection with
 * this version active when it has none. Idempotent. */
enum tix_rc tix_projection_prepare(struct tix_db *db, const struct tix_projection *proj,
                                   int version, int partitions, struct tix_err *err);
/* In one transaction: takes the (projection, version, partition) checkpoint row (skipping it
 * when another worker holds it), applies up to limit events after it, advances it with a
 * compare-and-set. *applied gets the number of events read (0 when busy or caught up). */
enum tix_rc tix_projection_step(struct tix_db *db, const struct tix_projection *proj, int version,
                                int partition, int limit, int *applied, struct tix_err *err);
/* Takes the lock that serializes the steps of one version of a cross-partition projection
 * (is_cross_partition), inside the caller's transaction, until it ends; waits while another
 * transaction holds it. Every step takes it first. */
enum tix_rc tix_projection_lock_version(struct tix_db *db, const struct tix_projection *proj,
                                        int version, struct tix_err *err);
/* One (projection, version) of a group step; applied is set to the events it applied. */
struct tix_step_target {
    const struct tix_projection *proj;
    int version;
    int applied;
    int64_t first_recorded_us; /* recorded_at_us of the first event applied (0: none) */
};
/* tix_projection_step for n (projection, version) pairs on one partition, in one transaction:
 * takes the advisory locks of the cross-partition ones (by name, then version, so two steps
 * never deadlock), then the pairs' checkpoint rows in one query (a pair whose row another
 * worker holds applies nothing); reads the partition's events once, from the smallest
 * checkpoint (and outcomes likewise for the pairs that read them), up to limit; gives each pair
 * the events after its own checkpoint, sends every statement (search_path, the events', the
 * deferred ones, pair after pair) in one round trip, and advances the checkpoints that moved
 * with one compare-and-set. A failure rolls everything back (TIX_ECONFLICT when a checkpoint
 * moved meanwhile) and names the projection and event. *is_full tells whether a read returned
 * limit rows (more may wait). */
enum tix_rc tix_projection_step_group(struct tix_db *db, struct tix_step_target *targets, int n,
                                      int partition, int limit, bool *is_full, struct tix_err *err);
/* A checkpoint row a step takes: (name, version) on the step's partition, as the group steps of
 * projections and of reactors (reactor.h) hold and advance theirs. */
struct tix_checkpoint {
    const char *name; /* a compiled-in identifier */
    int version;
    bool is_held;     /* its row is this transaction's */
    int64_t from;     /* its last_seq as taken */
    int64_t last_seq; /* the last event handed to its reader; from until one is */
};
/* Sends the k statements of batch (the transaction's BEGIN and its first locks), then takes the
 * rows of the n checkpoints on partition in one query, all in one round trip (batch has room for
 * k + 1; FOR UPDATE SKIP LOCKED: a row another worker holds, or one not prepared, stays not
 * held), and sets from and last_seq of each held one. */
enum tix_rc tix_checkpoints_lock(struct tix_db *db, struct tix_db_stmt *batch, int k,
                                 struct tix_checkpoint *cps, int n, int partition,
                                 struct tix_err *err);
/* Sends the k statements of batch and then, when a held checkpoint moved (last_seq > from), the
 * compare-and-set that advances every moved one, in one round trip (batch has room for k + 1).
 * TIX_ECONFLICT when one moved meanwhile; a failed statement's error, its index in *failed (-1
 * when none failed: see tix_db_exec_batch). */
enum tix_rc tix_checkpoints_advance(struct tix_db *db, struct tix_db_stmt *batch, int k,
                                    const struct tix_checkpoint *cps, int n, int partition,
                                    int *failed, struct tix_err *err);
/* The active and building versions (building 0 when none). TIX_ENOTFOUND before prepare. */
enum tix_rc tix_projection_versions(struct tix_db *db, const char *name, int *active, int *building,
                                    struct tix_err *err);
/* Every projection's active and building versions in one query, into active[i] and
 * building[i] for tix_projections[i] (arrays of as many entries). TIX_ENOTFOUND when one is not
 * prepared. */
enum tix_rc tix_projection_versions_all(struct tix_db *db, int *active, int *building,
                                        struct tix_err *err);
/* How many events version still has to apply, over all partitions. */
enum tix_rc tix_projection_lag(struct tix_db *db, const struct tix_projection *proj, int version,
                               int64_t *lag, struct tix_err *err);

/* Called during a rebuild with events applied so far and the total to apply. */
typedef void (*tix_progress_cb)(int64_t done, int64_t total, void *ctx);
/* Rebuilds proj from sequence 0 into a new version, then makes it active and points the rm
 * views at it. *new_version gets the version built. The previous version's schema is kept. */
enum tix_rc tix_projection_rebuild(struct tix_db *db, const struct tix_projection *proj,
                                   int partitions, int *new_version, tix_progress_cb progress,
                                   void *ctx, struct tix_err *err);

#endif
