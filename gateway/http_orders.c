/* http_orders.c - orders: placing one from the cart's hold, reading, cancelling, refunding
 *
 * POST /orders converts one of the caller's active holds (named, or the only one, of an event
 * when given) into an order awaiting payment (order.place, answered with the decision): prices,
 * fees and tax are fixed then by the stock aggregate. The order number and totals come in the
 * decision's result; the order itself appears in the read model a few milliseconds later. The
 * command carries a fresh 32-byte ticket seed: an order whose total is 0 is paid at once and its
 * tickets are issued from it (status "paid" in the answer).
 *
 * POST /orders/{id}/refund (order.refund, answered with the decision) is for owners and admins
 * of the organization that owns the event (any tickets of a paid order, or all of them), and
 * for the order's buyer once the event is cancelled (the whole order); a promoter gets 403, a
 * stranger 404. The aggregate voids the tickets and gives their stock back; the payment worker
 * returns the money through Stripe.
 *
 * Reads come from the sale read model: a buyer sees their own orders; members of the organization
 * that owns the event with the promoter role or higher see that event's orders too (support);
 * anybody else gets 404, whether or not the order exists.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "gateway.h"
#include "routes.h"
#include "sale_http.h"

/* One order (o) as JSON. */
#define ORDER_JSON                                                                                 \
    "json_build_object('id', o.id, 'number', o.number, 'event_id', o.event_id,"                    \
    " 'event_name', (SELECT e.name FROM rm.events e WHERE e.id = o.event_id),"                     \
    " 'session_id', o.session_id, 'hold_id', o.hold_id, 'buyer_id', o.buyer_id,"                   \
    " 'status', o.status, 'currency', o.currency, 'lines', (SELECT COALESCE(json_agg("             \
    "json_build_object('ticket_type_id', x->'ticket_type_id', 'name', t.name,"                     \
    " 'quantity', " TIX_SALE_UNITS ", 'seats', x->'seats', 'unit_price_minor',"                    \
    " x->'unit_price_minor', 'total_minor', COALESCE((x->>'unit_price_minor')::bigint, 0) "        \
    "* " TIX_SALE_UNITS ")), '[]'::json) FROM jsonb_array_elements(o.lines) x"                     \
    " LEFT JOIN rm.ticket_types t ON t.event_id = o.event_id"                                      \
    " AND t.id = (x->>'ticket_type_id')::uuid), 'subtotal_minor', o.subtotal_minor,"               \
    " 'fees_minor', o.fees_minor, 'tax_minor', o.tax_minor, 'total_minor', o.total_minor,"         \
    " 'expires_at', o.expires_at, 'payment_intent_id', o.payment_intent_id,"                       \
    " 'paid_at', o.paid_at, 'failure_reason', o.failure_reason,"                                   \
    " 'refund_reason', o.refund_reason, 'refund_id', o.refund_id,"                                 \
    " 'refunded_minor', o.refunded_minor, 'refunds', (SELECT COALESCE(json_agg("                   \
    "json_build_object('request_id', r.request_id, 'ticket_ids', r.ticket_ids,"                    \
    " 'amount_minor', r.amount_minor, 'reason', r.reason, 'requested_by', r.requested_by,"         \
    " 'status', r.status, 'refund_id', r.refund_id, 'failure_reason', r.failure_reason,"           \
    " 'created_at', r.created_at) ORDER BY r.created_at, r.request_id), '[]'::json)"               \
    " FROM rm.refunds r WHERE r.order_id = o.id),"                                                 \
    " 'tickets', (SELECT count(*) FROM rm.tickets k WHERE k.order_id = o.id),"                     \
    " 'created_at', o.created_at, 'updated_at', o.updated_at)"

/* ---- placing, cancelling, refunding -------------------------------------------------------- */

static json_t *placed_order(struct tix_req *req, const json_t *outcome, void *ctx)
{
    const json_t *sent = ctx; /* {id, event_id, hold_id} */
    json_t *body = tix_sale_result(outcome);
    json_object_update_missing(body, (json_t *)sent);
    if (json_object_get(body, "status") == NULL)
        json_object_set_new(body, "status", json_string("pending_payment"));
    char location[96];
    snprintf(location, sizeof(location), "/api/v1/orders/%s", tix_json_str(sent, "id"));
    tix_gw_header(req, "Location", location);
    return body;
}

void tix_http_order_place(struct tix_req *req)
{
    char hold[TIX_UUID_LEN + 1], event[TIX_UUID_LEN + 1], id[TIX_UUID_LEN + 1];
    if (!tix_sale_body_hold(req, hold, event))
        return;
    tix_uuid_v7(id);
    unsigned char seed[32];
    char seed_hex[65];
    randombytes_buf(seed, sizeof(seed));
    sodium_bin2hex(seed_hex, sizeof(seed_hex), seed, sizeof(seed));
    struct tix_gw_command cmd = {
        .type = "order.place",
        .success_status = 201,
        .on_success = placed_order,
        .force_wait_s = TIX_SALE_WAIT_S,
        .ctx = json_pack("{ss ss ss}", "id", id, "event_id", event, "hold_id", hold),
        .ctx_free = tix_sale_json_free};
    tix_sale_submit(
        req, event,
        json_pack("{ss ss ss}", "order_id", id, "hold_id", hold, "ticket_seed", seed_hex), &cmd);
}

void tix_http_order_cancel(struct tix_req *req)
{
    const char *id = tix_gw_param(req, "id");
    if (!tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", "no such order");
        return;
    }
    const char *params[] = {id, req->who.id};
    PGresult *res = NULL;
    if (!tix_gw_read(req, "SELECT event_id FROM rm.orders WHERE id = $1 AND buyer_id = $2", 2,
                     params, &res))
        return;
    if (PQntuples(res) != 1) {
        PQclear(res);
        tix_gw_problem(req, 404, "not-found", "no such order");
        return;
    }
    char event[TIX_UUID_LEN + 1];
    snprintf(event, sizeof(event), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    struct tix_gw_command cmd = {.type = "order.cancel", .success_status = 200};
    tix_sale_submit(req, event, json_pack("{ss}", "order_id", id), &cmd);
}

static const struct tix_field refund_fields[] = {{"ticket_ids", TIX_F_ARRAY, false, 1, 500},
                                                 {"reason", TIX_F_STRING, false, 1, 500},
                                                 {NULL, TIX_F_STRING, false, 0, 0}};

/* The body's ticket_ids, when given, are UUIDs; false after answering 422. */
static bool refund_ids_valid(struct tix_req *req, const json_t *ids)
{
    size_t n = json_array_size(ids);
    if (ids != NULL && (n == 0 || n > 500)) {
        tix_gw_invalid(req, "ticket_ids", "must list 1..500 ticket ids");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!tix_uuid_is_valid(json_string_value(json_array_get(ids, i)))) {
            char field[48];
            snprintf(field, sizeof(field), "ticket_ids[%zu]", i);
            tix_gw_invalid(req, field, "must be a ticket id (UUID)");
            return false;
        }
    }
    return true;
}

/* Who asks for the refund of order (buyer, of event): "organizer" for owners and admins of the
 * event's organization, "buyer" for the buyer; NULL after answering 403/404/503. */
static const char *refund_requester(struct tix_req *req, const char *buyer, const char *event)
{
    int role = tix_gw_event_role(req, event);
    if (role == -2) {
        tix_gw_problem(req, 503, "unavailable", "access can't be checked right now");
        return NULL;
    }
    if (role >= TIX_ROLE_ADMIN)
        return "organizer";
    if (strcmp(buyer, req->who.id) == 0)
        return "buyer";
    if (role >= TIX_ROLE_PROMOTER)
        tix_gw_problem(req, 403, "forbidden", "refunds are for owners and admins");
    else
        tix_gw_problem(req, 404, "not-found", "no such order");
    return NULL;
}

void tix_http_order_refund(struct tix_req *req)
{
    const char *id = tix_gw_param(req, "id");
    json_t *body = tix_gw_body(req, refund_fields);
    if (body == NULL)
        return;
    if (!refund_ids_valid(req, json_object_get(body, "ticket_ids"))) {
        json_decref(body);
        return;
    }
    const char *params[] = {tix_uuid_is_valid(id) ? id : "00000000-0000-0000-0000-000000000000"};
    PGresult *res = NULL;
    if (!tix_gw_read(req, "SELECT buyer_id, event_id FROM rm.orders WHERE id = $1", 1, params,
                     &res)) {
        json_decref(body);
        return;
    }
    char buyer[TIX_UUID_LEN + 1] = "", event[TIX_UUID_LEN + 1] = "";
    if (PQntuples(res) == 1) {
        snprintf(buyer, sizeof(buyer), "%s", PQgetvalue(res, 0, 0));
        snprintf(event, sizeof(event), "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    const char *by = event[0] != '\0' ? refund_requester(req, buyer, event) : NULL;
    if (event[0] == '\0')
        tix_gw_problem(req, 404, "not-found", "no such order");
    if (by == NULL) {
        json_decref(body);
        return;
    }
    char request[TIX_UUID_LEN + 1];
    tix_uuid_v7(request);
    json_object_set_new(body, "order_id", json_string(id));
    json_object_set_new(body, "request_id", json_string(request));
    json_object_set_new(body, "requested_by", json_string(by));
    struct tix_gw_command cmd = {
        .type = "order.refund", .success_status = 200, .force_wait_s = TIX_SALE_WAIT_S};
    tix_sale_submit(req, event, body, &cmd);
}

/* ---- reads --------------------------------------------------------------------------------- */

/* Whether the caller may read the order in path parameter "id": theirs, or staff (promoter or
 * higher) of its event's organization. Answers 404/503 itself when not. */
static bool may_read_order(struct tix_req *req)
{
    const char *id = tix_gw_param(req, "id");
    if (!tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", "no such order");
        return false;
    }
    const char *params[] = {id};
    PGresult *res = NULL;
    if (!tix_gw_read(req, "SELECT buyer_id, event_id FROM rm.orders WHERE id = $1", 1, params,
                     &res))
        return false;
    bool is_own = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), req->who.id) == 0;
    char event[TIX_UUID_LEN + 1] = "";
    if (PQntuples(res) == 1)
        snprintf(event, sizeof(event), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    if (is_own)
        return true;
    int role = event[0] != '\0' ? tix_gw_event_role(req, event) : TIX_ROLE_CUSTOMER;
    if (role == -2)
        tix_gw_problem(req, 503, "unavailable", "access can't be checked right now");
    else if (role < TIX_ROLE_PROMOTER)
        tix_gw_problem(req, 404, "not-found", "no such order");
    return role >= TIX_ROLE_PROMOTER;
}

void tix_http_order_get(struct tix_req *req)
{
    if (!may_read_order(req))
        return;
    const char *params[] = {tix_gw_param(req, "id")};
    PGresult *res = NULL;
    if (tix_gw_read(req, "SELECT " ORDER_JSON "::text FROM rm.orders o WHERE o.id = $1", 1, params,
                    &res))
        tix_gw_reply_row(req, res, "no such order");
}

void tix_http_order_tickets(struct tix_req *req)
{
    if (!may_read_order(req))
        return;
    const char *params[] = {tix_gw_param(req, "id")};
    PGresult *res = NULL;
    if (!tix_gw_read(req,
                     "SELECT COALESCE(json_agg(" TIX_SALE_TICKET_JSON " ORDER BY k.seat_id, k.id),"
                     " '[]')::text FROM rm.tickets k WHERE k.order_id = $1",
                     1, params, &res))
        return;
    tix_sale_reply_items(req, res);
}

static const char *const order_statuses[] = {
    "pending_payment",    "paid", "expired", "cancelled", "refund_pending", "refunded",
    "partially_refunded", NULL};

void tix_http_orders_list(struct tix_req *req)
{
    struct tix_gw_page page;
    char *status = NULL, *event = NULL;
    if (!tix_gw_page_params(req, &page) ||
        !tix_sale_enum_param(req, "status", order_statuses, &status) ||
        !tix_sale_uuid_param(req, "event_id", &event)) {
        free(status);
        return;
    }
    char fetch[24];
    snprintf(fetch, sizeof(fetch), "%ld", page.limit + 1);
    const char *params[] = {req->who.id, status, event, page.after_us, page.after_id, fetch};
    PGresult *res = NULL;
    bool is_ok = tix_gw_read(
        req,
        "SELECT (extract(epoch FROM o.created_at) * 1000000)::bigint, o.id, " ORDER_JSON "::text"
        " FROM rm.orders o WHERE o.buyer_id = $1 AND ($2::text IS NULL OR o.status = $2)"
        " AND ($3::uuid IS NULL OR o.event_id = $3::uuid)"
        " AND ($4::bigint IS NULL OR (o.created_at, o.id) <"
        " ('epoch'::timestamptz + $4::bigint * interval '1 microsecond', $5::uuid))"
        " ORDER BY o.created_at DESC, o.id DESC LIMIT $6::int",
        6, params, &res);
    free(status);
    free(event);
    if (is_ok)
        tix_gw_reply_page(req, res, page.limit);
}
