/* sale.h - the sale read model's parts (projections/sale.c, projections/sale_orders.c)
 *
 * One projection, "sale", folds the stock-<event_id> streams (docs/sale.md) and the sessions of
 * the event-<event_id> streams into: sale_settings, ticket_types, pools, sale_sessions, seats,
 * seat_status (held or sold seats only: a seat without a row is free), availability (per session
 * and ticket type: held, sold, available), holds, orders, tickets (void once refunded; a
 * transferred ticket keeps its row, status "transferred", and goes on under its new id), refunds
 * (one row per refund granted, with Stripe's outcome), ticket_transfers (one row per transfer
 * offered to an email's blind index: pending, replaced by a later offer of the ticket, or
 * accepted under the ticket's new id), avail_outbox (the (event, session) pairs whose
 * availability or seats changed since the projector last pushed them to Redis) and
 * avail_seat_outbox (those changed seats, one row each; see availability.h).
 *
 * Counting rules (the same as the stock aggregate's): units of an active hold and of an order
 * awaiting payment are held; units of a paid order are sold. A line's units are its quantity,
 * or its number of seats when it names seats. available is, for a type that sells seats, the
 * number of free seats of the session it may sell; for the others the least of what its own
 * quantity and its pool leave (NULL when neither bounds it).
 */
#ifndef TIX_PROJECTIONS_SALE_H
#define TIX_PROJECTIONS_SALE_H

#include <jansson.h>

#include "projection.h"

/* Everything apply needs about the event at hand. */
struct sale_ctx {
    const char *event_id; /* the payload's event_id */
    const json_t *d;      /* the payload */
    const char *at;       /* recorded_at, RFC 3339 */
    const char *ver;      /* stream version */
    struct tix_stmts *out;
};

/* A line's units in SQL, for a jsonb element x of a lines array. */
#define SALE_LINE_UNITS                                                                            \
    "COALESCE((x->>'quantity')::int, jsonb_array_length(COALESCE(NULLIF(x->'seats', 'null'),"      \
    " '[]')))"

/* An outbox row's touch counter moves once per transaction (a later touch in the same
 * transaction only locks the row): a publisher compares it against what it read before the
 * transaction committed, so once is enough, and the row grows no chain of versions over a
 * pass (see availability_moves in sale.c). */
#define ONCE_PER_TRANSACTION " o.xmin <> xid(pg_current_xact_id())"

/* CTEs appended to a WITH list whose CTE seats_changed (event_id, session_id, seat_id, n) is the
 * RETURNING of the statement's change to seat_status, n = 1 for a row inserted, -1 for a row
 * deleted, 0 for a row updated: the (event, session) and each seat go to the outbox for the live
 * availability (availability.h), and the rows added or removed move seat_taken (added up at the
 * end of the pass). seats_changed names each seat once (a statement changes a row once), so the
 * seats go to their outbox without a DISTINCT (a sort per statement). A seat's group is looked up
 * seat by seat, once, by its key (a LATERAL subquery the LIMIT keeps the planner from flattening):
 * the planner counts thousands of rows in seats_changed and would otherwise join by scanning every
 * chart's seats. Every statement that changes a seat's status ends with them; a statement of its
 * own costs a fraction of the statement triggers that did this before (five plpgsql calls per seat
 * statement).
 */
#define SEAT_CHANGES                                                                               \
    ", touched AS (INSERT INTO avail_outbox AS o (event_id, session_id) SELECT DISTINCT"           \
    " event_id, session_id FROM seats_changed ON CONFLICT (event_id, session_id) DO UPDATE"        \
    " SET touches = o.touches + 1 WHERE" ONCE_PER_TRANSACTION "),"                                 \
    " listed AS (INSERT INTO avail_seat_outbox (event_id, session_id, seat_id) SELECT"             \
    " event_id, session_id, seat_id FROM seats_changed ON CONFLICT DO NOTHING),"                   \
    " counted AS (INSERT INTO seat_taken_moves SELECT c.event_id, c.session_id,"                   \
    " COALESCE(z.section, ''), COALESCE(z.category, ''), c.n FROM seats_changed c"                 \
    " LEFT JOIN LATERAL (SELECT section, category FROM seats z WHERE z.event_id = c.event_id"      \
    " AND z.seat_id = c.seat_id LIMIT 1) z ON true WHERE c.n <> 0)"

/* The n of a seat_status row an INSERT ... ON CONFLICT DO UPDATE returns: 1 when inserted, 0
 * when the existing row was updated (it was locked first, so its xmax is set). */
#define SEAT_UPSERTED " CASE WHEN xmax = 0 THEN 1 ELSE 0 END"

/* Recomputes available for the event's rows ($1), one session ($2) or all (NULL). */
void tix_sale_refresh(const struct sale_ctx *c, const char *session_id);

/* Holds, orders and tickets (sale_orders.c): TIX_ENOTFOUND for a type they don't handle. */
enum tix_rc tix_sale_orders_apply(const char *type, const struct sale_ctx *c);

/* A JSON instant (RFC 3339 string, or Unix seconds / microseconds as a number) as RFC 3339 text
 * into out; NULL when v is absent or null. */
const char *tix_sale_instant(const json_t *v, char out[40]);

#endif
