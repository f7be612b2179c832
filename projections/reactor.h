/* reactor.h - process managers: events of one partition become commands for another
 *
 * A reactor reads the log like a projection (per-partition checkpoints, SKIP LOCKED, replay
 * from zero is harmless) but its output is commands, not rows. react() turns one recorded event
 * into zero or more commands from the event and, at most, read-model rows that never change
 * once written (a published seating chart), so it gives the same commands whenever it runs;
 * each command has an id derived from the event, so
 * a command sent twice (a crash after the publish, before the checkpoint moved) is decided once:
 * the processor answers the second with the first outcome. The runner publishes a batch's
 * commands with confirms and only then advances the checkpoint, in one transaction; the
 * reactors of a partition step together, reading its events once.
 */
#ifndef TIX_PROJECTIONS_REACTOR_H
#define TIX_PROJECTIONS_REACTOR_H

#include <jansson.h>

#include "tix/bus.h"
#include "tix/db.h"
#include "tix/store.h"

struct tix_reactor {
    const char *name; /* checkpoint name, e.g. "pm_venue_binding" */
    /* Appends commands {"command_id", "type", "key", "payload"} to out (an array) for event e,
     * reading only immutable read-model rows through db; TIX_EINVAL for a malformed event of a
     * type it handles, TIX_ETRANSIENT when a row it needs is not projected yet (the step is
     * retried later). */
    enum tix_rc (*react)(const struct tix_event *e, struct tix_db *db, json_t *out);
};

/* Every reactor, NULL-terminated. */
extern const struct tix_reactor *const tix_reactors[];

/* Creates r's checkpoints for every partition if missing. Idempotent. */
enum tix_rc tix_reactor_prepare(struct tix_db *db, const struct tix_reactor *r, int partitions,
                                struct tix_err *err);
/* One step of n reactors on one partition, in one transaction: takes their checkpoint rows
 * (version 1) in one query (a row another worker holds is left out), reads the partition's events
 * once, from the smallest checkpoint, up to limit, gives each reactor the events after its own
 * checkpoint, publishes every command with confirms on bus, then advances the checkpoints that
 * moved with one compare-and-set (the projections' tix_checkpoints_lock and _advance). A failure (a
 * reaction, the broker, TIX_ECONFLICT for a checkpoint that moved meanwhile) rolls everything back:
 * no checkpoint moves. *applied = events read (0 when busy or caught up). */
enum tix_rc tix_reactor_step_group(struct tix_db *db, struct tix_bus *bus, int partitions,
                                   const struct tix_reactor *const *rs, int n, int partition,
                                   int limit, int *applied, struct tix_err *err);

#endif
