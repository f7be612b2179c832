/* availability.h - the sale's availability pushed to Redis and published for live streams
 *
 * The sale projection's statement triggers record in rm.avail_outbox every (event, session)
 * whose counts or seats changed, and in rm.avail_seat_outbox every seat that changed, in the
 * transaction that changed them. After each sweep the projector calls
 * tix_avail_publish(), which for each outbox row:
 *   - HSET avail:<event_id>  "<session_id>:<ticket_type_id>" -> {"available","held","sold"}
 *   - HSET / HDEL seats:<event_id>:<session_id>  "<seat_id>" -> "held" | "sold" (free: absent)
 *   - PUBLISH avail:<event_id> {"event_id","session_id","ticket_types":[{"ticket_type_id",
 *     "available","held","sold"}],"seats":{"<seat_id>":"free"|"held"|"sold"}}
 * and deletes the row and its seats only if nothing touched it meanwhile (a touch counter that
 * every change of the session's counts or seats moves), so a change is
 * published at least once after it committed, even across a Redis outage or a crash. Redis is
 * only a cache here: Postgres (rm.availability, rm.seat_status) stays the reference.
 */
#ifndef TIX_PROJECTIONS_AVAILABILITY_H
#define TIX_PROJECTIONS_AVAILABILITY_H

#include "tix/db.h"
#include "tix/redis.h"

/* Publishes up to limit outbox rows; *published gets how many. TIX_ETRANSIENT when Redis is
 * away (the rows stay for the next call). */
enum tix_rc tix_avail_publish(struct tix_db *db, struct tix_redis *redis, int limit, int *published,
                              struct tix_err *err);

#endif
