/* http_cart.c - the buyer's cart: their active holds
 *
 * A cart item is a hold (docs/sale.md): a ticket type and a quantity, or specific seats, of one
 * session, kept for the buyer until its expires_at. Placing one sends hold.place and waits for
 * the decision (201 with the hold, or 409 naming what ran out or which seat is taken): a buyer
 * needs to know now whether they have the tickets. Releasing, clearing and extending send
 * hold.release / hold.extend for holds the sale read model says are the caller's; the stock
 * aggregate checks again that the hold is theirs and still active.
 *
 * The cart is read from the sale read model (rm.holds), never from the processors: a hold
 * placed a few milliseconds ago may be missing from GET /cart until the projector applied it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "gateway.h"
#include "routes.h"
#include "sale_http.h"

#define LINES_MAX 20
#define SEATS_MAX 50
#define QTY_MAX   100

/* The caller's active holds as one JSON array text; $1 = the caller's user id. */
#define CART_SQL                                                                                   \
    "SELECT COALESCE(json_agg(json_build_object('id', h.id, 'event_id', h.event_id,"               \
    " 'session_id', h.session_id, 'lines', (SELECT json_agg(json_build_object("                    \
    "'ticket_type_id', x->'ticket_type_id', 'name', t.name, 'quantity', x->'quantity',"            \
    " 'seats', x->'seats', 'unit_price_minor', x->'unit_price_minor', 'currency', t.currency))"    \
    " FROM jsonb_array_elements(h.lines) x LEFT JOIN rm.ticket_types t"                            \
    " ON t.event_id = h.event_id AND t.id = (x->>'ticket_type_id')::uuid),"                        \
    " 'subtotal_minor', (SELECT COALESCE(sum(COALESCE((x->>'unit_price_minor')::bigint, 0)"        \
    " * COALESCE((x->>'quantity')::int, jsonb_array_length(COALESCE(NULLIF(x->'seats',"            \
    " 'null'), '[]')))), 0) FROM jsonb_array_elements(h.lines) x),"                                \
    " 'expires_at', h.expires_at, 'extensions', h.extensions, 'created_at', h.created_at)"         \
    " ORDER BY h.created_at), '[]')::text FROM rm.holds h WHERE h.buyer_id = $1"                   \
    " AND " TIX_SQL_HOLD_IS_ACTIVE " AND h.expires_at > now()"

void tix_http_cart_get(struct tix_req *req)
{
    const char *params[] = {req->who.id};
    PGresult *res = NULL;
    if (tix_gw_read(req, CART_SQL, 1, params, &res))
        tix_sale_reply_items(req, res);
}

/* ---- placing holds ------------------------------------------------------------------------- */

/* Checks one line {ticket_type_id, quantity?, seats?} (path names it in errors); appends errors.
 * A line needs a quantity or seats, not both. */
static void check_line(const json_t *line, const char *path, json_t *errors)
{
    char field[64];
    const json_t *qty = json_object_get(line, "quantity"), *seats = json_object_get(line, "seats");
    snprintf(field, sizeof(field), "%sticket_type_id", path);
    if (!tix_uuid_is_valid(tix_json_str(line, "ticket_type_id")))
        json_array_append_new(errors, json_pack("{ss ss}", "field", field, "message",
                                                "must be a ticket type id (a UUID)"));
    snprintf(field, sizeof(field), "%squantity", path);
    if (qty != NULL &&
        (!json_is_integer(qty) || json_integer_value(qty) < 1 || json_integer_value(qty) > QTY_MAX))
        json_array_append_new(errors, json_pack("{ss ss}", "field", field, "message",
                                                "must be an integer from 1 to 100"));
    snprintf(field, sizeof(field), "%sseats", path);
    bool is_seats_ok = seats == NULL || (json_is_array(seats) && json_array_size(seats) >= 1 &&
                                         json_array_size(seats) <= SEATS_MAX);
    for (size_t i = 0; is_seats_ok && i < json_array_size(seats); i++) {
        const char *s = json_string_value(json_array_get(seats, i));
        is_seats_ok = s != NULL && s[0] != '\0' && strlen(s) <= 64;
    }
    if (!is_seats_ok)
        json_array_append_new(errors, json_pack("{ss ss}", "field", field, "message",
                                                "must be 1 to 50 seat ids (strings)"));
    if ((qty == NULL) == (seats == NULL))
        json_array_append_new(errors, json_pack("{ss ss}", "field", field, "message",
                                                "give either a quantity or seats"));
}

/* The hold's lines from the body: "lines", or one line from its top-level fields (removed from
 * body). Returns a new array, or NULL after answering 422. */
static json_t *take_lines(struct tix_req *req, json_t *body)
{
    json_t *lines = json_object_get(body, "lines");
    json_t *errors = json_array();
    if (lines != NULL) {
        json_incref(lines);
        json_object_del(body, "lines");
        if (json_object_get(body, "ticket_type_id") != NULL)
            json_array_append_new(errors, json_pack("{ss ss}", "field", "ticket_type_id", "message",
                                                    "give lines or one ticket type"));
        if (json_array_size(lines) == 0 || json_array_size(lines) > LINES_MAX)
            json_array_append_new(errors, json_pack("{ss ss}", "field", "lines", "message",
                                                    "must hold 1 to 20 lines"));
        for (size_t i = 0; i < json_array_size(lines); i++) {
            char path[32];
            snprintf(path, sizeof(path), "lines[%zu].", i);
            check_line(json_array_get(lines, i), path, errors);
        }
    } else {
        json_t *line = json_object();
        static const char *const keys[] = {"ticket_type_id", "quantity", "seats"};
        for (size_t i = 0; i < 3; i++) {
            json_t *v = json_object_get(body, keys[i]);
            if (v != NULL)
                json_object_set(line, keys[i], v);
            json_object_del(body, keys[i]);
        }
        check_line(line, "", errors);
        lines = json_pack("[o]", line);
    }
    if (json_array_size(errors) == 0) {
        json_decref(errors);
        return lines;
    }
    json_decref(lines);
    tix_gw_problem_fields(req, 422, "the request body has invalid fields", errors);
    return NULL;
}

static json_t *placed_hold(struct tix_req *req, const json_t *outcome, void *ctx)
{
    const json_t *hold = ctx; /* {id, event_id, session_id, lines} as sent */
    json_t *body = tix_sale_result(outcome);
    json_object_update_missing(body, (json_t *)hold);
    json_object_set_new(body, "status", json_string("active"));
    char location[96];
    snprintf(location, sizeof(location), "/api/v1/cart/items/%s", tix_json_str(hold, "id"));
    tix_gw_header(req, "Location", location);
    return body;
}

/* Sends hold.place for the body (stolen) once checked: event_id, session_id?, lines. */
static void place_hold(struct tix_req *req, json_t *body)
{
    json_t *lines = take_lines(req, body);
    if (lines == NULL) {
        json_decref(body);
        return;
    }
    char event[TIX_UUID_LEN + 1], session[TIX_UUID_LEN + 1], id[TIX_UUID_LEN + 1];
    snprintf(event, sizeof(event), "%s", tix_json_str(body, "event_id"));
    const char *given = tix_json_str(body, "session_id");
    if (given != NULL)
        snprintf(session, sizeof(session), "%s", given);
    else if (!tix_sale_only_session(req, event, session)) {
        json_decref(lines);
        json_decref(body);
        return;
    }
    json_decref(body);
    tix_uuid_v7(id);
    json_t *hold = json_pack("{ss ss ss sO}", "id", id, "event_id", event, "session_id", session,
                             "lines", lines);
    json_t *payload = json_pack("{ss ss so}", "hold_id", id, "session_id", session, "lines", lines);
    struct tix_gw_command cmd = {.type = "hold.place",
                                 .success_status = 201,
                                 .on_success = placed_hold,
                                 .force_wait_s = TIX_SALE_WAIT_S,
                                 .ctx = hold,
                                 .ctx_free = tix_sale_json_free};
    tix_sale_submit(req, event, payload, &cmd);
}

void tix_http_cart_add(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"event_id", TIX_F_UUID, true, 0, 0},
                                              {"session_id", TIX_F_UUID, false, 0, 0},
                                              {"ticket_type_id", TIX_F_UUID, false, 0, 0},
                                              {"quantity", TIX_F_INT, false, 1, QTY_MAX},
                                              {"seats", TIX_F_ARRAY, false, 0, 0},
                                              {"lines", TIX_F_ARRAY, false, 0, 0},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body != NULL)
        place_hold(req, body);
}

void tix_http_cart_lock_seats(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"event_id", TIX_F_UUID, true, 0, 0},
                                              {"session_id", TIX_F_UUID, false, 0, 0},
                                              {"ticket_type_id", TIX_F_UUID, true, 0, 0},
                                              {"seats", TIX_F_ARRAY, true, 0, 0},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body != NULL)
        place_hold(req, body);
}

/* ---- releasing and extending --------------------------------------------------------------- */

void tix_http_cart_remove(struct tix_req *req)
{
    char hold[TIX_UUID_LEN + 1], event[TIX_UUID_LEN + 1];
    const char *id = tix_gw_param(req, "id");
    if (!tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", "no such hold in your cart");
        return;
    }
    if (!tix_sale_find_hold(req, id, NULL, hold, event))
        return;
    struct tix_gw_command cmd = {.type = "hold.release", .success_status = 200};
    tix_sale_submit(req, event, json_pack("{ss ss}", "hold_id", hold, "reason", "buyer"), &cmd);
}

/* Clearing the cart: one hold.release after the other (each waits for its outcome), then
 * {"released": [...]}. ctx is {"holds": [[id, event]...], "next": i, "released": [...]}. */
static void release_next(struct tix_req *req, json_t *ctx);

static json_t *released_one(struct tix_req *req, const json_t *outcome, void *arg)
{
    (void)outcome;
    json_t *ctx = arg;
    size_t i = (size_t)json_integer_value(json_object_get(ctx, "next"));
    json_t *pair = json_array_get(json_object_get(ctx, "holds"), i);
    json_array_append(json_object_get(ctx, "released"), json_array_get(pair, 0));
    json_object_set_new(ctx, "next", json_integer((json_int_t)i + 1));
    if (i + 1 >= json_array_size(json_object_get(ctx, "holds")))
        return json_pack("{sO}", "released", json_object_get(ctx, "released"));
    release_next(req, json_incref(ctx));
    return TIX_GW_CHAINED;
}

static void release_next(struct tix_req *req, json_t *ctx)
{
    size_t i = (size_t)json_integer_value(json_object_get(ctx, "next"));
    json_t *pair = json_array_get(json_object_get(ctx, "holds"), i);
    const char *hold = json_string_value(json_array_get(pair, 0));
    char event[TIX_UUID_LEN + 1];
    snprintf(event, sizeof(event), "%s", json_string_value(json_array_get(pair, 1)));
    struct tix_gw_command cmd = {.type = "hold.release",
                                 .success_status = 200,
                                 .on_success = released_one,
                                 .force_wait_s = TIX_SALE_WAIT_S,
                                 .ctx = ctx,
                                 .ctx_free = tix_sale_json_free};
    tix_sale_submit(req, event, json_pack("{ss ss}", "hold_id", hold, "reason", "cart_cleared"),
                    &cmd);
}

void tix_http_cart_clear(struct tix_req *req)
{
    const char *params[] = {req->who.id};
    PGresult *res = NULL;
    if (!tix_gw_read(req,
                     "SELECT COALESCE(json_agg(json_build_array(id, event_id) ORDER BY"
                     " created_at), '[]')::text FROM rm.holds WHERE buyer_id = $1"
                     " AND " TIX_SQL_HOLD_IS_ACTIVE " AND expires_at > now()",
                     1, params, &res))
        return;
    const char *text = PQgetvalue(res, 0, 0);
    json_t *holds = tix_json_parse(text, strlen(text), NULL);
    PQclear(res);
    if (json_array_size(holds) == 0) {
        json_decref(holds);
        tix_gw_reply_json(req, 200, json_pack("{s[]}", "released"));
        return;
    }
    release_next(req, json_pack("{so si s[]}", "holds", holds, "next", 0, "released"));
}

static json_t *extended_hold(struct tix_req *req, const json_t *outcome, void *ctx)
{
    (void)req;
    json_t *body = tix_sale_result(outcome);
    json_object_set_new(body, "id", json_string((const char *)ctx));
    return body;
}

void tix_http_cart_extend(struct tix_req *req)
{
    char *hold = malloc(TIX_UUID_LEN + 1);
    char event[TIX_UUID_LEN + 1];
    if (hold == NULL)
        abort();
    if (!tix_sale_body_hold(req, hold, event)) {
        free(hold);
        return;
    }
    struct tix_gw_command cmd = {.type = "hold.extend",
                                 .success_status = 200,
                                 .on_success = extended_hold,
                                 .force_wait_s = TIX_SALE_WAIT_S,
                                 .ctx = hold,
                                 .ctx_free = free};
    tix_sale_submit(req, event, json_pack("{ss}", "hold_id", hold), &cmd);
}
