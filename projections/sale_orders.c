/* sale_orders.c - the sale read model's holds, orders and tickets (see sale.h)
 *
 * Counters move with states, never by recount: a statement changes a hold's or an order's state
 * only from the state it expects (UPDATE ... WHERE state = ... RETURNING its lines) and moves
 * the units of exactly the rows it changed, in the same statement (data-modifying CTEs). So an
 * event applied to a row already past that state changes nothing, and held and sold always
 * equal what the holds and orders tables say.
 *
 * Seats: a seat of an active hold or of an order awaiting payment has a seat_status row
 * "held"; a seat of a paid order "sold"; a free seat has none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "sale.h"

/* What the lines of the rows of CTE `src` (columns event_id, session_id, lines, dh, ds) take,
 * times dh (held) and ds (sold), recorded as moves that availability adds up at the end of the
 * pass (sale.c: apply_moves_sql). Appended to a WITH list that defines
 * src. As the stock aggregate counts: a line takes its units of its type in the hold's session
 * (a season pass: in each of its session_ids), and a bundle also takes units times each
 * component's quantity of the component types. One move per line and type, not grouped here:
 * the apply adds them up anyway, and a GROUP BY over jsonb_array_elements is planned for
 * thousands of groups (100 rows a call), a hash table zeroed and walked at every hold. */
#define MOVE_UNITS                                                                                 \
    ", takes AS (SELECT src.event_id, COALESCE(sx.sid::uuid, src.session_id) AS session_id,"       \
    " tk.tt, tk.q * src.dh AS dh, tk.q * src.ds AS ds FROM src"                                    \
    " CROSS JOIN LATERAL jsonb_array_elements(src.lines) x"                                        \
    " LEFT JOIN LATERAL jsonb_array_elements_text(NULLIF(x->'session_ids', 'null')) sx(sid)"       \
    " ON true CROSS JOIN LATERAL (SELECT (x->>'ticket_type_id')::uuid AS tt, " SALE_LINE_UNITS     \
    " AS q UNION ALL SELECT (c->>'ticket_type_id')::uuid, " SALE_LINE_UNITS                        \
    " * (c->>'quantity')::int FROM ticket_types bt, jsonb_array_elements(COALESCE(bt.components,"  \
    " '[]')) c WHERE bt.event_id = src.event_id AND bt.id = (x->>'ticket_type_id')::uuid"          \
    " AND bt.kind = 'bundle') tk)"                                                                 \
    " INSERT INTO availability_moves (event_id, session_id, ticket_type_id, held, sold)"           \
    " SELECT event_id, session_id, tt, dh, ds FROM takes"

/* ---- holds --------------------------------------------------------------------------------- */

/* The hold's row ($1 .. $7), as h. */
#define HOLD_INSERT                                                                                \
    "WITH h AS (INSERT INTO holds (id, event_id, session_id, buyer_id, lines, expires_at,"         \
    " extensions, state, created_at, updated_at) VALUES ($1::uuid, $2::uuid, $3::uuid, $4,"        \
    " $5::jsonb, $6::timestamptz, 0, 'active', $7, $7) ON CONFLICT (id) DO NOTHING"                \
    " RETURNING id, event_id, session_id, lines)"

static const char hold_placed_sql[] =
    HOLD_INSERT ", src AS (SELECT h.*, 1 AS dh, 0 AS ds FROM h)" MOVE_UNITS;

/* A hold that names seats: the same, and its seats held, in one statement (the seats come from
 * the row inserted, not from a second look-up of the hold by a statement of their own). */
static const char hold_placed_seats_sql[] = HOLD_INSERT
    ", seats_changed AS (INSERT INTO seat_status (event_id, session_id, seat_id,"
    " status, hold_id) SELECT h.event_id, h.session_id, s, 'held', h.id FROM h,"
    " jsonb_array_elements(h.lines) x, jsonb_array_elements_text(COALESCE(NULLIF(x->'seats',"
    " 'null'), '[]')) s ON CONFLICT (event_id, session_id, seat_id) DO UPDATE SET"
    " status = 'held', hold_id = EXCLUDED.hold_id, order_id = NULL"
    " RETURNING event_id, session_id, seat_id," SEAT_UPSERTED " AS n)" SEAT_CHANGES ","
    " src AS (SELECT h.event_id, h.session_id, h.lines, 1 AS dh, 0 AS ds FROM h)" MOVE_UNITS;

/* Ends an active hold ($1) in state $2: its units and seats come back. */
static const char hold_end_sql[] =
    "WITH h AS (UPDATE holds SET state = $2, end_reason = $3, updated_at = $4"
    " WHERE id = $1::uuid AND " TIX_SQL_HOLD_IS_ACTIVE " RETURNING event_id, session_id, lines),"
    " seats_changed AS (DELETE FROM seat_status WHERE hold_id = $1::uuid AND order_id IS NULL"
    " RETURNING event_id, session_id, seat_id, -1 AS n)" SEAT_CHANGES ","
    " src AS (SELECT h.*, -1 AS dh, 0 AS ds FROM h)" MOVE_UNITS;

/* True when an element of the array list has a non-empty array `seats` (lines) or a string
 * `seat_id` (tickets): only then does seat_status change. A statement that touches no seat still
 * costs its plan and its SEAT_CHANGES inserts, and most holds of an on-sale are unseated. */
static bool has_seats(const json_t *list)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *x = json_array_get(list, i);
        if (json_array_size(json_object_get(x, "seats")) > 0 ||
            json_is_string(json_object_get(x, "seat_id")))
            return true;
    }
    return false;
}

static enum tix_rc on_hold_placed(const struct sale_ctx *c)
{
    const char *hold = tix_json_str(c->d, "hold_id"), *session = tix_json_str(c->d, "session_id");
    const json_t *lines = json_object_get(c->d, "lines");
    char expires[40];
    if (!tix_uuid_is_valid(hold) || !tix_uuid_is_valid(session) || !json_is_array(lines) ||
        tix_sale_instant(json_object_get(c->d, "expires_at"), expires) == NULL)
        return TIX_EINVAL;
    const char *buyer = tix_json_str(c->d, "buyer_id");
    char *doc = tix_json_dump(lines);
    tix_stmts_add(c->out, has_seats(lines) ? hold_placed_seats_sql : hold_placed_sql, 7, hold,
                  c->event_id, session, buyer ? buyer : "", doc, expires, c->at);
    free(doc);
    tix_sale_refresh(c, session);
    return TIX_OK;
}

static enum tix_rc on_hold_extended(const struct sale_ctx *c)
{
    const char *hold = tix_json_str(c->d, "hold_id");
    char expires[40], ext[24];
    if (!tix_uuid_is_valid(hold) ||
        tix_sale_instant(json_object_get(c->d, "expires_at"), expires) == NULL)
        return TIX_EINVAL;
    snprintf(ext, sizeof(ext), "%lld", (long long)tix_json_int(c->d, "extensions", 0));
    tix_stmts_add(c->out,
                  "UPDATE holds SET expires_at = $2::timestamptz, extensions = $3::int,"
                  " updated_at = $4 WHERE id = $1::uuid",
                  4, hold, expires, ext, c->at);
    return TIX_OK;
}

static enum tix_rc on_hold_released(const struct sale_ctx *c)
{
    const char *hold = tix_json_str(c->d, "hold_id");
    if (!tix_uuid_is_valid(hold))
        return TIX_EINVAL;
    const char *reason = tix_json_str(c->d, "reason");
    tix_stmts_add(c->out, hold_end_sql, 4, hold, "released", reason ? reason : "buyer", c->at);
    tix_sale_refresh(c, NULL);
    return TIX_OK;
}

/* Applies sql ($1 = each id of the array d[key], then the rest) to every id. */
static enum tix_rc each_id(const struct sale_ctx *c, const char *key, const char *sql,
                           const char *state, const char *reason)
{
    const json_t *ids = json_object_get(c->d, key);
    if (!json_is_array(ids))
        return TIX_EINVAL;
    for (size_t i = 0; i < json_array_size(ids); i++)
        if (!tix_uuid_is_valid(json_string_value(json_array_get(ids, i))))
            return TIX_EINVAL;
    for (size_t i = 0; i < json_array_size(ids); i++)
        tix_stmts_add(c->out, sql, 4, json_string_value(json_array_get(ids, i)), state, reason,
                      c->at);
    tix_sale_refresh(c, NULL);
    return TIX_OK;
}

/* ---- orders -------------------------------------------------------------------------------- */

static const char order_placed_sql[] =
    "INSERT INTO orders (id, event_id, number, buyer_id, hold_id, session_id, currency, lines,"
    " subtotal_minor, fees_minor, tax_minor, total_minor, status, expires_at, created_at,"
    " updated_at) SELECT (o->>'order_id')::uuid, $1::uuid, COALESCE(o->>'number', ''),"
    " COALESCE(o->>'buyer_id', ''), (o->>'hold_id')::uuid, (o->>'session_id')::uuid,"
    " o->>'currency', COALESCE(o->'lines', '[]'), COALESCE((o->>'subtotal_minor')::bigint, 0),"
    " COALESCE((o->>'fees_minor')::bigint, 0), COALESCE((o->>'tax_minor')::bigint, 0),"
    " COALESCE((o->>'total_minor')::bigint, 0), 'pending_payment', $3::timestamptz, $2, $2"
    " FROM (SELECT $4::jsonb AS o) x ON CONFLICT (id) DO NOTHING";

/* The hold becomes the order: its units and seats stay held, now by the order. */
static const char hold_converted_sql[] =
    "UPDATE holds SET state = 'converted', order_id = $2::uuid, updated_at = $3"
    " WHERE id = $1::uuid AND " TIX_SQL_HOLD_IS_ACTIVE;

/* The seats stay held (what the seat map shows does not change): no SEAT_CHANGES. */
static const char hold_seats_ordered_sql[] =
    "UPDATE seat_status SET order_id = $2::uuid WHERE hold_id = $1::uuid";

/* Ends an order awaiting payment ($1) in state $2 (why, when given: $3): its units and seats
 * come back. */
static const char order_end_sql[] =
    "WITH o AS (UPDATE orders SET status = $2, failure_reason = COALESCE($3, failure_reason),"
    " updated_at = $4 WHERE id = $1::uuid AND " TIX_SQL_ORDER_IS_PENDING
    " RETURNING event_id, session_id, lines),"
    " seats_changed AS (DELETE FROM seat_status WHERE order_id = $1::uuid AND status = 'held'"
    " RETURNING event_id, session_id, seat_id, -1 AS n)" SEAT_CHANGES ","
    " src AS (SELECT o.*, -1 AS dh, 0 AS ds FROM o)" MOVE_UNITS;

/* Pays an order ($1) not paid yet: units held by it (if it was still awaiting payment) become
 * sold; an order paid after it lapsed takes its units again. */
static const char order_paid_sql[] =
    "WITH was AS (SELECT status FROM orders WHERE id = $1::uuid),"
    " o AS (UPDATE orders SET status = 'paid', payment_intent_id = COALESCE($2,"
    " payment_intent_id), paid_at = $3::timestamptz, updated_at = $4"
    " WHERE id = $1::uuid AND status <> 'paid' RETURNING event_id, session_id, lines),"
    " src AS (SELECT o.*, CASE WHEN was.status = 'pending_payment' THEN -1 ELSE 0 END AS dh,"
    " 1 AS ds FROM o, was)" MOVE_UNITS;

static const char order_seats_sold_sql[] =
    "WITH seats_changed AS (INSERT INTO seat_status (event_id, session_id, seat_id, status,"
    " hold_id, order_id) SELECT o.event_id, o.session_id, s, 'sold', o.hold_id, o.id FROM"
    " orders o, jsonb_array_elements(o.lines) x,"
    " jsonb_array_elements_text(COALESCE(NULLIF(x->'seats', 'null'), '[]')) s"
    " WHERE o.id = $1::uuid AND o.status = 'paid'"
    " ON CONFLICT (event_id, session_id, seat_id) DO UPDATE SET status = 'sold',"
    " hold_id = EXCLUDED.hold_id, order_id = EXCLUDED.order_id"
    " RETURNING event_id, session_id, seat_id," SEAT_UPSERTED " AS n)" SEAT_CHANGES
    " SELECT count(*) FROM seats_changed";

static const char tickets_issued_sql[] =
    "INSERT INTO tickets (id, event_id, order_id, ticket_type_id, session_id, seat_id,"
    " holder_id, status, issued_at) SELECT (t->>'ticket_id')::uuid, $1::uuid, $2::uuid,"
    " (t->>'ticket_type_id')::uuid, (t->>'session_id')::uuid, t->>'seat_id',"
    " COALESCE(t->>'holder_id', ''), 'valid', $3 FROM jsonb_array_elements($4::jsonb) t"
    " ON CONFLICT (id) DO NOTHING";

/* Refunds: an order paid twice, for the wrong amount or too late gets refunds required; an
 * expired or cancelled one (or one refunded before) waits for them (refund_pending), and is
 * refunded once every required refund is done. A paid order stays paid. */
static const char refund_required_sql[] =
    "UPDATE orders SET refunds_required = refunds_required + 1, refund_reason = $2,"
    " status = CASE WHEN status IN ('expired', 'cancelled', 'refunded') THEN 'refund_pending'"
    " ELSE status END, updated_at = $3 WHERE id = $1::uuid";

static const char refunded_sql[] =
    "UPDATE orders SET refunds_done = refunds_done + 1, refund_id = $2,"
    " status = CASE WHEN status = 'refund_pending'"
    " AND refunds_done + refunds_failed + 1 >= refunds_required THEN 'refunded'"
    " WHEN status = 'paid' AND $4::uuid IS NOT NULL THEN 'partially_refunded' ELSE status END,"
    " updated_at = $3 WHERE id = $1::uuid";

/* A refund granted by the organizer (sale.h): the tickets are void, the order's status follows
 * (every ticket void: refunded, or refund_pending while money goes back; else partially
 * refunded once no money is owed), and the lines it gives back ($3) come off sold. */
static const char tickets_voided_sql[] =
    "UPDATE tickets SET status = 'void', voided_at = $3 WHERE order_id = $1::uuid"
    " AND status = 'valid' AND id IN (SELECT jsonb_array_elements_text($2::jsonb)::uuid)";

static const char refund_granted_sql[] =
    "WITH o AS (UPDATE orders SET refunded_minor = refunded_minor + $2::bigint,"
    " status = CASE WHEN EXISTS (SELECT 1 FROM tickets k WHERE k.order_id = $1::uuid"
    " AND k.status = 'valid') THEN CASE WHEN $2::bigint = 0 THEN 'partially_refunded'"
    " ELSE status END WHEN $2::bigint > 0 THEN 'refund_pending' ELSE 'refunded' END,"
    " updated_at = $4 WHERE id = $1::uuid AND status IN ('paid', 'partially_refunded')"
    " RETURNING event_id, session_id),"
    " src AS (SELECT o.event_id, o.session_id, $3::jsonb AS lines, 0 AS dh, -1 AS ds FROM "
    "o)" MOVE_UNITS;

static const char seats_back_sql[] =
    "WITH seats_changed AS (DELETE FROM seat_status WHERE order_id = $1::uuid AND seat_id IN"
    " (SELECT jsonb_array_elements_text(x->'seats') FROM jsonb_array_elements($2::jsonb) x)"
    " RETURNING event_id, session_id, seat_id, -1 AS n)" SEAT_CHANGES
    " SELECT count(*) FROM seats_changed";

static const char refund_row_sql[] =
    "INSERT INTO refunds (request_id, event_id, order_id, ticket_ids, amount_minor, currency,"
    " reason, requested_by, status, created_at, updated_at) VALUES ($1::uuid, $2::uuid,"
    " $3::uuid, $4::jsonb, $5::bigint, $6, $7, $8, CASE WHEN $5::bigint > 0 THEN 'pending'"
    " ELSE 'succeeded' END, $9, $9) ON CONFLICT (request_id) DO NOTHING";

static enum tix_rc on_order_placed(const struct sale_ctx *c)
{
    const char *order = tix_json_str(c->d, "order_id"), *hold = tix_json_str(c->d, "hold_id");
    char expires[40];
    if (!tix_uuid_is_valid(order) || !tix_uuid_is_valid(tix_json_str(c->d, "session_id")) ||
        !json_is_array(json_object_get(c->d, "lines")))
        return TIX_EINVAL;
    char *doc = tix_json_dump(c->d);
    tix_stmts_add(c->out, order_placed_sql, 4, c->event_id, c->at,
                  tix_sale_instant(json_object_get(c->d, "expires_at"), expires), doc);
    free(doc);
    if (tix_uuid_is_valid(hold))
        tix_stmts_add(c->out, hold_converted_sql, 3, hold, order, c->at);
    if (tix_uuid_is_valid(hold) && has_seats(json_object_get(c->d, "lines")))
        tix_stmts_add(c->out, hold_seats_ordered_sql, 2, hold, order);
    return TIX_OK;
}

static enum tix_rc on_order_paid(const struct sale_ctx *c)
{
    const char *order = tix_json_str(c->d, "order_id");
    const json_t *tickets = json_object_get(c->d, "tickets");
    char paid[40];
    if (!tix_uuid_is_valid(order) || (tickets != NULL && !json_is_array(tickets)))
        return TIX_EINVAL;
    const char *paid_at = tix_sale_instant(json_object_get(c->d, "paid_at"), paid);
    tix_stmts_add(c->out, order_paid_sql, 4, order, tix_json_str(c->d, "payment_intent_id"),
                  paid_at ? paid_at : c->at, c->at);
    if (tickets == NULL || has_seats(tickets))
        tix_stmts_add(c->out, order_seats_sold_sql, 1, order);
    char *doc = tix_json_dump(tickets != NULL ? tickets : json_array());
    tix_stmts_add(c->out, tickets_issued_sql, 4, c->event_id, order, c->at, doc);
    free(doc);
    tix_sale_refresh(c, NULL);
    return TIX_OK;
}

/* Updates of an order that move no units: $1 order, $2 value, $3 recorded_at. */
static enum tix_rc order_note(const struct sale_ctx *c, const char *sql, const char *key)
{
    const char *order = tix_json_str(c->d, "order_id");
    if (!tix_uuid_is_valid(order))
        return TIX_EINVAL;
    tix_stmts_add(c->out, sql, 3, order, tix_json_str(c->d, key), c->at);
    return TIX_OK;
}

static enum tix_rc on_order_ended(const struct sale_ctx *c, const char *state)
{
    const char *order = tix_json_str(c->d, "order_id");
    if (!tix_uuid_is_valid(order))
        return TIX_EINVAL;
    tix_stmts_add(c->out, order_end_sql, 4, order, state, tix_json_str(c->d, "reason"), c->at);
    tix_sale_refresh(c, NULL);
    return TIX_OK;
}

static enum tix_rc on_refund_granted(const struct sale_ctx *c)
{
    const char *order = tix_json_str(c->d, "order_id"), *request = tix_json_str(c->d, "request_id");
    const json_t *ids = json_object_get(c->d, "ticket_ids"),
                 *lines = json_object_get(c->d, "lines");
    if (!tix_uuid_is_valid(order) || !tix_uuid_is_valid(request) || !json_is_array(ids) ||
        !json_is_array(lines))
        return TIX_EINVAL;
    char amount[24], *ids_doc = tix_json_dump(ids), *lines_doc = tix_json_dump(lines);
    snprintf(amount, sizeof(amount), "%lld", (long long)tix_json_int(c->d, "amount_minor", 0));
    tix_stmts_add(c->out, tickets_voided_sql, 3, order, ids_doc, c->at);
    tix_stmts_add(c->out, refund_granted_sql, 4, order, amount, lines_doc, c->at);
    tix_stmts_add(c->out, seats_back_sql, 2, order, lines_doc);
    const char *by = tix_json_str(c->d, "requested_by");
    tix_stmts_add(c->out, refund_row_sql, 9, request, c->event_id, order, ids_doc, amount,
                  tix_json_str(c->d, "currency"), tix_json_str(c->d, "reason"),
                  by != NULL ? by : "organizer", c->at);
    free(ids_doc);
    free(lines_doc);
    tix_sale_refresh(c, NULL);
    return TIX_OK;
}

/* A refund's outcome from Stripe (order.refunded or order.refund_failed). */
static enum tix_rc on_refund_outcome(const struct sale_ctx *c, bool is_done)
{
    const char *order = tix_json_str(c->d, "order_id"), *request = tix_json_str(c->d, "request_id");
    if (!tix_uuid_is_valid(order) || (request != NULL && !tix_uuid_is_valid(request)))
        return TIX_EINVAL;
    const char *refund = tix_json_str(c->d, "refund_id"), *reason = tix_json_str(c->d, "reason");
    if (is_done)
        tix_stmts_add(c->out, refunded_sql, 4, order, refund, c->at, request);
    else
        tix_stmts_add(c->out,
                      "UPDATE orders SET refunds_failed = refunds_failed + 1, updated_at = $2"
                      " WHERE id = $1::uuid",
                      2, order, c->at);
    if (request != NULL)
        tix_stmts_add(c->out,
                      "UPDATE refunds SET status = $2, refund_id = COALESCE($3, refund_id),"
                      " failure_reason = $4, updated_at = $5 WHERE request_id = $1::uuid",
                      5, request, is_done ? "succeeded" : "failed", refund, reason, c->at);
    return TIX_OK;
}

/* ---- tickets ------------------------------------------------------------------------------- */

/* The ticket goes on under its new id with its new holder; the old row stays, transferred. */
static enum tix_rc on_transferred(const struct sale_ctx *c)
{
    const char *old = tix_json_str(c->d, "ticket_id"), *id = tix_json_str(c->d, "new_ticket_id");
    const char *to = tix_json_str(c->d, "to_user_id");
    char at[40];
    if (!tix_uuid_is_valid(old) || !tix_uuid_is_valid(id) || to == NULL)
        return TIX_EINVAL;
    const char *when = tix_sale_instant(json_object_get(c->d, "at"), at);
    tix_stmts_add(c->out,
                  "INSERT INTO tickets (id, event_id, order_id, ticket_type_id, session_id,"
                  " seat_id, holder_id, status, issued_at, transferred_from, transferred_at)"
                  " SELECT $2::uuid, event_id, order_id, ticket_type_id, session_id, seat_id, $3,"
                  " 'valid', $4::timestamptz, id, $4::timestamptz FROM tickets WHERE id = $1::uuid"
                  " ON CONFLICT (id) DO NOTHING",
                  4, old, id, to, when ? when : c->at);
    tix_stmts_add(c->out,
                  "UPDATE tickets SET status = 'transferred', transferred_to = $2::uuid"
                  " WHERE id = $1::uuid",
                  2, old, id);
    tix_stmts_add(c->out,
                  "UPDATE ticket_transfers SET status = 'accepted', new_ticket_id = $2::uuid,"
                  " accepted_at = $3::timestamptz WHERE ticket_id = $1::uuid"
                  " AND status = 'pending'",
                  3, old, id, when ? when : c->at);
    return TIX_OK;
}

/* A cancelled event's sale (reason event_cancelled) or a called-off session's
 * (session_cancelled): its active holds released, its pending orders cancelled (each list
 * absent when empty). */
static enum tix_rc on_sale_cancelled(const struct sale_ctx *c, const char *reason)
{
    enum tix_rc rc = TIX_OK;
    if (json_object_get(c->d, "hold_ids") != NULL)
        rc = each_id(c, "hold_ids", hold_end_sql, "released", reason);
    if (rc == TIX_OK && json_object_get(c->d, "cancelled_order_ids") != NULL)
        rc = each_id(c, "cancelled_order_ids", order_end_sql, "cancelled", NULL);
    return rc;
}

/* A pending offer of the ticket to an email's blind index; it replaces the ticket's earlier. */
static enum tix_rc on_transfer_offered(const struct sale_ctx *c)
{
    const char *ticket = tix_json_str(c->d, "ticket_id"), *id = tix_json_str(c->d, "transfer_id");
    const char *from = tix_json_str(c->d, "from_user_id");
    const char *to = tix_json_str(c->d, "to_email_index");
    char at[40];
    if (!tix_uuid_is_valid(ticket) || !tix_uuid_is_valid(id) || from == NULL || to == NULL)
        return TIX_EINVAL;
    const char *when = tix_sale_instant(json_object_get(c->d, "at"), at);
    tix_stmts_add(c->out,
                  "UPDATE ticket_transfers SET status = 'replaced' WHERE ticket_id = $1::uuid"
                  " AND status = 'pending' AND id <> $2::uuid",
                  2, ticket, id);
    tix_stmts_add(c->out,
                  "INSERT INTO ticket_transfers (id, event_id, ticket_id, from_user_id,"
                  " to_email_index, status, offered_at) VALUES ($1::uuid, $2::uuid, $3::uuid, $4,"
                  " $5, 'pending', $6::timestamptz) ON CONFLICT (id) DO NOTHING",
                  6, id, c->event_id, ticket, from, to, when ? when : c->at);
    return TIX_OK;
}

static enum tix_rc on_checked_in(const struct sale_ctx *c)
{
    const char *ticket = tix_json_str(c->d, "ticket_id");
    const char *direction = tix_json_str(c->d, "direction");
    char at[40];
    if (!tix_uuid_is_valid(ticket))
        return TIX_EINVAL;
    const char *when = tix_sale_instant(json_object_get(c->d, "at"), at);
    bool is_in = direction == NULL || strcmp(direction, "out") != 0;
    tix_stmts_add(c->out,
                  "UPDATE tickets SET is_inside = $2::boolean, scans = scans + 1,"
                  " first_in_at = CASE WHEN $2::boolean THEN COALESCE(first_in_at,"
                  " $3::timestamptz) ELSE first_in_at END, last_scan_at = $3::timestamptz,"
                  " last_scan_device = $4, last_direction = $5 WHERE id = $1::uuid",
                  5, ticket, is_in ? "true" : "false", when ? when : c->at,
                  tix_json_str(c->d, "device_id"), is_in ? "in" : "out");
    return TIX_OK;
}

enum tix_rc tix_sale_orders_apply(const char *type, const struct sale_ctx *c)
{
    if (strcmp(type, "hold.placed") == 0)
        return on_hold_placed(c);
    if (strcmp(type, "hold.extended") == 0)
        return on_hold_extended(c);
    if (strcmp(type, "hold.released") == 0)
        return on_hold_released(c);
    if (strcmp(type, "hold.expired") == 0)
        return each_id(c, "hold_ids", hold_end_sql, "expired", "expired");
    if (strcmp(type, "order.placed") == 0)
        return on_order_placed(c);
    if (strcmp(type, "order.cancelled") == 0)
        return on_order_ended(c, "cancelled");
    if (strcmp(type, "order.expired") == 0)
        return each_id(c, "order_ids", order_end_sql, "expired", NULL);
    if (strcmp(type, "order.payment_attached") == 0)
        return order_note(c,
                          "UPDATE orders SET payment_intent_id = $2, updated_at = $3"
                          " WHERE id = $1::uuid",
                          "payment_intent_id");
    if (strcmp(type, "order.payment_failed") == 0)
        return order_note(c,
                          "UPDATE orders SET failure_reason = $2, updated_at = $3"
                          " WHERE id = $1::uuid",
                          "reason");
    if (strcmp(type, "order.refund_required") == 0)
        return order_note(c, refund_required_sql, "reason");
    if (strcmp(type, "order.paid") == 0)
        return on_order_paid(c);
    if (strcmp(type, "order.refunded") == 0)
        return on_refund_outcome(c, true);
    if (strcmp(type, "order.refund_failed") == 0)
        return on_refund_outcome(c, false);
    if (strcmp(type, "order.refund_granted") == 0)
        return on_refund_granted(c);
    if (strcmp(type, "ticket.transferred") == 0)
        return on_transferred(c);
    if (strcmp(type, "ticket.transfer_offered") == 0)
        return on_transfer_offered(c);
    if (strcmp(type, "stock.sale_cancelled") == 0)
        return on_sale_cancelled(c, "event_cancelled");
    if (strcmp(type, "stock.session_cancelled") == 0)
        return on_sale_cancelled(c, "session_cancelled");
    if (strcmp(type, "ticket.checked_in") == 0)
        return on_checked_in(c);
    return TIX_ENOTFOUND;
}
