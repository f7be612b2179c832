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

/* Recomputes available for the event's rows ($1), one session ($2) or all (NULL). */
void tix_sale_refresh(const struct sale_ctx *c, const char *session_id);

/* Holds, orders and tickets (sale_orders.c): TIX_ENOTFOUND for a type they don't handle. */
enum tix_rc tix_sale_orders_apply(const char *type, const struct sale_ctx *c);

/* A JSON instant (RFC 3339 string, or Unix seconds / microseconds as a number) as RFC 3339 text
 * into out; NULL when v is absent or null. */
const char *tix_sale_instant(const json_t *v, char out[40]);

#endif
