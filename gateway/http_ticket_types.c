/* http_ticket_types.c - ticket types, pools, sale settings, availability and the seat map
 *
 * Management routes (/api/v1/events/{eventId}/ticket-types POST/PATCH/DELETE, /sale-settings,
 * /pools) are event routes: the route table checks the caller's role in the organization that
 * owns the event (promoter or higher; a stranger gets 404). The gateway assigns ticket type and
 * pool ids; the stock aggregate (stock-<event_id>) decides everything else (shapes of tiers,
 * bundles and sections, windows, never below what is held and sold).
 *
 * Reads are public for a public event that is not a draft, from the sale read model only (never
 * the processors): the list leaves hidden types out (a hidden type is sold by its link), each
 * type carries its current tier price and its availability per session, and the seat map
 * lists every seat of the event's chart with its status in one session (free, held, sold).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "gateway.h"
#include "routes.h"
#include "sale_http.h"

#define PRICE_MAX 100000000000L /* minor units */
#define QTY_MAX   1000000

/* The public sees the sale of a public event that is not a draft. */
#define PUBLIC_EVENT_SQL                                                                           \
    "EXISTS (SELECT 1 FROM rm.events e WHERE e.id = t.event_id AND NOT e.is_deleted"               \
    " AND e.visibility = 'public' AND e.status <> 'draft')"

/* One type (t) as JSON; the first step of its tiers still open gives the current price. */
#define TYPE_JSON TIX_SALE_TYPE_JSON

/* A type's fields; is_req: whether the required ones are (a create) or none is (an update). */
#define TYPE_FIELDS(is_req)                                                                        \
    {"name", TIX_F_STRING, is_req, 1, 200}, {"kind", TIX_F_STRING, is_req, 1, 32},                 \
        {"price_minor", TIX_F_INT, is_req, 0, PRICE_MAX},                                          \
        {"currency", TIX_F_STRING, is_req, 3, 3}, {"quantity", TIX_F_INT, false, 1, QTY_MAX},      \
        {"pool_id", TIX_F_UUID, false, 0, 0}, {"session_ids", TIX_F_ARRAY, false, 0, 0},           \
        {"sales_start", TIX_F_STRING, false, 0, 20}, {"sales_end", TIX_F_STRING, false, 0, 20},    \
        {"min_per_order", TIX_F_INT, false, 1, 100}, {"max_per_order", TIX_F_INT, false, 1, 100},  \
        {"hidden", TIX_F_BOOL, false, 0, 0}, {"sections", TIX_F_ARRAY, false, 0, 0},               \
        {"categories", TIX_F_ARRAY, false, 0, 0}, {"tiers", TIX_F_ARRAY, false, 0, 0},             \
        {"components", TIX_F_ARRAY, false, 0, 0}, {"group_size", TIX_F_INT, false, 2, 100},        \
        {"allows_reentry", TIX_F_BOOL, false, 0, 0},                                               \
    {                                                                                              \
        NULL, TIX_F_STRING, false, 0, 0                                                            \
    }

static const struct tix_field type_fields[] = {TYPE_FIELDS(true)};
static const struct tix_field type_update_fields[] = {TYPE_FIELDS(false)};

/* ---- writes -------------------------------------------------------------------------------- */

static json_t *created_type(struct tix_req *req, const json_t *outcome, void *ctx)
{
    (void)outcome;
    const char *id = ctx;
    char location[160];
    snprintf(location, sizeof(location), "/api/v1/events/%s/ticket-types/%s",
             tix_gw_param(req, "eventId"), id);
    tix_gw_header(req, "Location", location);
    return json_pack("{ss ss}", "id", id, "status", "created");
}

void tix_http_ticket_type_create(struct tix_req *req)
{
    json_t *body = tix_gw_body(req, type_fields);
    if (body == NULL)
        return;
    char *id = malloc(TIX_UUID_LEN + 1);
    if (id == NULL)
        abort();
    tix_uuid_v7(id);
    json_object_set_new(body, "ticket_type_id", json_string(id));
    struct tix_gw_command cmd = {.type = "ticket_type.create",
                                 .success_status = 201,
                                 .on_success = created_type,
                                 .ctx = id,
                                 .ctx_free = free};
    tix_sale_submit(req, tix_gw_param(req, "eventId"), body, &cmd);
}

/* Whether the type in the path is a live type of the event in the path; 404 itself if not. */
static bool is_event_type(struct tix_req *req)
{
    const char *id = tix_gw_param(req, "id"), *event = tix_gw_param(req, "eventId");
    if (!tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", "no such ticket type");
        return false;
    }
    const char *params[] = {event, id};
    PGresult *res = NULL;
    if (!tix_gw_read(req,
                     "SELECT 1 FROM rm.ticket_types WHERE event_id = $1 AND id = $2"
                     " AND NOT is_deleted",
                     2, params, &res))
        return false;
    bool found = PQntuples(res) == 1;
    PQclear(res);
    if (!found)
        tix_gw_problem(req, 404, "not-found", "no such ticket type");
    return found;
}

void tix_http_ticket_type_update(struct tix_req *req)
{
    json_t *body = tix_gw_body(req, type_update_fields);
    if (body == NULL)
        return;
    if (!is_event_type(req)) {
        json_decref(body);
        return;
    }
    json_object_set_new(body, "ticket_type_id", json_string(tix_gw_param(req, "id")));
    struct tix_gw_command cmd = {.type = "ticket_type.update", .success_status = 200};
    tix_sale_submit(req, tix_gw_param(req, "eventId"), body, &cmd);
}

void tix_http_ticket_type_delete(struct tix_req *req)
{
    if (!is_event_type(req))
        return;
    json_t *body = json_pack("{ss}", "ticket_type_id", tix_gw_param(req, "id"));
    struct tix_gw_command cmd = {.type = "ticket_type.delete", .success_status = 200};
    tix_sale_submit(req, tix_gw_param(req, "eventId"), body, &cmd);
}

void tix_http_sale_settings(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"hold_minutes", TIX_F_INT, false, 1, 60},
                                              {"max_extensions", TIX_F_INT, false, 0, 10},
                                              {"extension_minutes", TIX_F_INT, false, 1, 60},
                                              {"fee_fixed_minor", TIX_F_INT, false, 0, 1000000},
                                              {"fee_percent_bp", TIX_F_INT, false, 0, 10000},
                                              {"tax_percent_bp", TIX_F_INT, false, 0, 10000},
                                              {"no_single_seat_gap", TIX_F_BOOL, false, 0, 0},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    struct tix_gw_command cmd = {.type = "stock.configure", .success_status = 200};
    tix_sale_submit(req, tix_gw_param(req, "eventId"), body, &cmd);
}

static json_t *defined_pool(struct tix_req *req, const json_t *outcome, void *ctx)
{
    (void)req;
    (void)outcome;
    return json_pack("{ss ss}", "pool_id", (const char *)ctx, "status", "defined");
}

void tix_http_pool_define(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"pool_id", TIX_F_UUID, false, 0, 0},
                                              {"name", TIX_F_STRING, true, 1, 200},
                                              {"capacity", TIX_F_INT, true, 1, QTY_MAX},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    char *id = malloc(TIX_UUID_LEN + 1);
    if (id == NULL)
        abort();
    const char *given = tix_json_str(body, "pool_id");
    if (given != NULL)
        snprintf(id, TIX_UUID_LEN + 1, "%s", given);
    else
        tix_uuid_v7(id);
    json_object_set_new(body, "pool_id", json_string(id));
    struct tix_gw_command cmd = {.type = "pool.define",
                                 .success_status = 200,
                                 .on_success = defined_pool,
                                 .ctx = id,
                                 .ctx_free = free};
    tix_sale_submit(req, tix_gw_param(req, "eventId"), body, &cmd);
}

/* ---- reads --------------------------------------------------------------------------------- */

void tix_http_ticket_types_list(struct tix_req *req)
{
    const char *event = tix_gw_param(req, "eventId");
    if (!tix_uuid_is_valid(event)) {
        tix_gw_problem(req, 404, "not-found", "no such event");
        return;
    }
    const char *params[] = {event};
    PGresult *res = NULL;
    if (!tix_gw_read(req,
                     "SELECT COALESCE(json_agg(x.j ORDER BY x.price, x.name), '[]')::text,"
                     " EXISTS (SELECT 1 FROM rm.events e WHERE e.id = $1::uuid AND NOT"
                     " e.is_deleted AND e.visibility = 'public' AND e.status <> 'draft')"
                     " FROM (SELECT " TYPE_JSON " AS j, t.price_minor AS price, t.name AS name"
                     " FROM rm.ticket_types t WHERE t.event_id = $1::uuid AND NOT t.is_deleted"
                     " AND NOT t.hidden) x",
                     1, params, &res))
        return;
    if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
        PQclear(res);
        tix_gw_problem(req, 404, "not-found", "no such event");
        return;
    }
    tix_sale_reply_items(req, res);
}

/* Answers the first cell of sql ($1 = the event in the path, $2 = the type) as the row. */
static void reply_type_row(struct tix_req *req, const char *sql)
{
    const char *event = tix_gw_param(req, "eventId"), *id = tix_gw_param(req, "id");
    if (!tix_uuid_is_valid(event) || !tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", "no such ticket type");
        return;
    }
    const char *params[] = {event, id};
    PGresult *res = NULL;
    if (tix_gw_read(req, sql, 2, params, &res))
        tix_gw_reply_row(req, res, "no such ticket type");
}

void tix_http_ticket_type_get(struct tix_req *req)
{
    reply_type_row(req, "SELECT " TYPE_JSON "::text FROM rm.ticket_types t"
                        " WHERE t.event_id = $1::uuid AND t.id = $2::uuid AND NOT t.is_deleted"
                        " AND " PUBLIC_EVENT_SQL);
}

void tix_http_ticket_type_availability(struct tix_req *req)
{
    reply_type_row(
        req, "SELECT json_build_object('ticket_type_id', t.id, 'event_id', t.event_id,"
             " 'available', (SELECT sum(a.available) FROM rm.availability a"
             " WHERE a.event_id = t.event_id AND a.ticket_type_id = t.id),"
             " 'sessions', (SELECT COALESCE(json_agg(json_build_object('session_id',"
             " a.session_id, 'available', a.available, 'held', a.held, 'sold', a.sold)"
             " ORDER BY s.starts_at, a.session_id), '[]'::json) FROM rm.availability a"
             " JOIN rm.sale_sessions s ON s.event_id = a.event_id AND s.session_id = a.session_id"
             " WHERE a.event_id = t.event_id AND a.ticket_type_id = t.id))::text"
             " FROM rm.ticket_types t WHERE t.event_id = $1::uuid AND t.id = $2::uuid"
             " AND NOT t.is_deleted AND " PUBLIC_EVENT_SQL);
}

/* ?session_id, or the event's only session; false after answering 404/422. */
static bool seat_map_session(struct tix_req *req, const char *event, char out[TIX_UUID_LEN + 1])
{
    char *given = tix_gw_query(req, "session_id");
    bool is_ok = given == NULL || tix_uuid_is_valid(given);
    if (is_ok && given != NULL)
        snprintf(out, TIX_UUID_LEN + 1, "%s", given);
    free(given);
    if (!is_ok) {
        tix_gw_invalid(req, "session_id", "must be a session id (a UUID)");
        return false;
    }
    return given != NULL || tix_sale_only_session(req, event, out);
}

void tix_http_seat_map(struct tix_req *req)
{
    const char *event = tix_gw_param(req, "eventId");
    char session[TIX_UUID_LEN + 1];
    if (!tix_uuid_is_valid(event)) {
        tix_gw_problem(req, 404, "not-found", "no such event");
        return;
    }
    if (!seat_map_session(req, event, session))
        return;
    const char *params[] = {event, session};
    PGresult *res = NULL;
    if (tix_gw_read(
            req,
            "SELECT json_build_object('event_id', s.event_id, 'session_id', s.session_id,"
            " 'seats', (SELECT COALESCE(json_agg(json_build_object('seat_id', z.seat_id,"
            " 'section', z.section, 'row', z.row_label, 'label', z.label, 'category', z.category,"
            " 'accessible', z.accessible, 'status', COALESCE(ss.status, 'free'))"
            " ORDER BY z.section, z.row_label, z.seat_id), '[]'::json) FROM rm.seats z"
            " LEFT JOIN rm.seat_status ss ON ss.event_id = z.event_id"
            " AND ss.session_id = s.session_id AND ss.seat_id = z.seat_id"
            " WHERE z.event_id = s.event_id))::text FROM rm.sale_sessions s"
            " JOIN rm.events e ON e.id = s.event_id AND NOT e.is_deleted"
            " AND e.visibility = 'public' AND e.status <> 'draft'"
            " WHERE s.event_id = $1::uuid AND s.session_id = $2::uuid",
            2, params, &res))
        tix_gw_reply_row(req, res, "no such event or session");
}
