/* expiry.h - the processor's clock: holds and orders past their deadline are expired by
 * commands the processor sends itself (docs/sale.md, "Expiry")
 *
 * Once a second (and at start, which is the sweep) the processor asks the sale read model for
 * active holds and orders awaiting payment whose expires_at is at or before its own clock, and
 * sends one hold.expire (actor system:clock) per event that has some, keyed by the event so it
 * is decided in the event's partition. The command id is derived from the event and the due
 * (hold id, expires_at) pairs: every processor (active or standby) that sees the same due set
 * sends the same id, and the processor that decides it answers the copies with the first
 * outcome; a hold extended meanwhile changes the set, hence the id.
 *
 * Why the read model and not a timer per partition fed by decisions: it needs no knowledge of
 * the stock aggregate's state inside the processor loop, survives restarts and failovers with
 * nothing to rebuild (the query is the sweep), and costs one indexed query per second. Its lag
 * is the projector's (milliseconds); should the projector stop, every sale decision still
 * expires the lapsed holds it meets in the same decision (hold.expired before its own events),
 * so no sale waits for this timer: it only keeps counts and seat maps fresh.
 */
#ifndef TIX_COMMANDS_EXPIRY_H
#define TIX_COMMANDS_EXPIRY_H

#include <stdint.h>

#include "tix/bus.h"
#include "tix/db.h"

#define TIX_EXPIRY_PERIOD_MS  1000
#define TIX_EXPIRY_MAX_EVENTS 200 /* events per sweep; the rest wait a second */

/* Sends hold.expire for every event with holds or orders due at now_us (the processor's clock)
 * on bus (confirmed). *sent gets the number of commands. TIX_ENOTFOUND is never returned: a
 * read model not prepared yet means nothing is due. */
enum tix_rc tix_expiry_sweep(struct tix_db *db, struct tix_bus *bus, int partitions, int64_t now_us,
                             int *sent, struct tix_err *err);

#endif
