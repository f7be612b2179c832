/* sale_http.h - what the sale's handlers share (gateway/sale_http.c)
 *
 * Every sale command is keyed by its event id and carries it as "event_id" (docs/sale.md), so
 * it is decided in the event's partition by the stock aggregate.
 */
#ifndef TIX_GATEWAY_SALE_HTTP_H
#define TIX_GATEWAY_SALE_HTTP_H

#include <stdbool.h>

#include "gateway.h"
#include "tix/ids.h"

/* A line's units in SQL for a jsonb line x: its quantity, or its number of seats. */
#define TIX_SALE_UNITS                                                                             \
    "COALESCE((x->>'quantity')::int, jsonb_array_length(COALESCE(NULLIF(x->'seats', 'null'),"      \
    " '[]')))"

/* One ticket (k) as JSON, with its type, session and seat described. */
#define TIX_SALE_TICKET_JSON                                                                       \
    "json_build_object('id', k.id, 'event_id', k.event_id, 'event_name', (SELECT e.name"           \
    " FROM rm.events e WHERE e.id = k.event_id), 'order_id', k.order_id,"                          \
    " 'ticket_type_id', k.ticket_type_id, 'ticket_type_name', (SELECT t.name"                      \
    " FROM rm.ticket_types t WHERE t.event_id = k.event_id AND t.id = k.ticket_type_id),"          \
    " 'session_id', k.session_id, 'session_starts_at', (SELECT s.starts_at"                        \
    " FROM rm.event_sessions s WHERE s.event_id = k.event_id AND s.session_id = k.session_id),"    \
    " 'seat', CASE WHEN k.seat_id IS NULL THEN NULL ELSE COALESCE((SELECT json_build_object("      \
    "'seat_id', z.seat_id, 'section', z.section, 'row', z.row_label, 'label', z.label)"            \
    " FROM rm.seats z WHERE z.event_id = k.event_id AND z.seat_id = k.seat_id),"                   \
    " json_build_object('seat_id', k.seat_id)) END, 'holder_id', k.holder_id,"                     \
    " 'status', k.status, 'is_inside', k.is_inside, 'scans', k.scans,"                             \
    " 'last_scan', CASE WHEN k.last_scan_at IS NULL THEN NULL ELSE json_build_object('at',"        \
    " k.last_scan_at, 'device_id', k.last_scan_device, 'direction', k.last_direction) END,"        \
    " 'issued_at', k.issued_at, 'transferred_from', k.transferred_from,"                           \
    " 'transferred_at', k.transferred_at)"

/* A new random (version 4) UUID into out: ids nobody can guess (tickets, transfers). */
void tix_sale_random_id(char out[TIX_UUID_LEN + 1]);

/* Seconds the buyer's commands wait for their decision (the answer is the outcome, or 503). */
#define TIX_SALE_WAIT_S 10

/* Sends cmd (type and the answer fields set by the caller) for event_id with payload (stolen)
 * plus "event_id". */
void tix_sale_submit(struct tix_req *req, const char *event_id, json_t *payload,
                     struct tix_gw_command *cmd);
/* The only session of event into out; false after answering 404 (no such event) or 422
 * (session_id is required: the event has several sessions). */
bool tix_sale_only_session(struct tix_req *req, const char *event, char out[TIX_UUID_LEN + 1]);
/* A copy of the outcome's "result" when it is an object, else an empty object. */
json_t *tix_sale_result(const json_t *outcome);
/* Frees a json_t ctx (ctx_free for commands whose ctx is JSON). */
void tix_sale_json_free(void *ctx);
/* The caller's active hold: hold_id when given (it must be the caller's), else the only one
 * (of event_id when given), from the sale read model. With both hold_id and event_id the read
 * model is not asked (a hold placed a moment ago may not be there yet): the stock aggregate
 * refuses a hold that is not the caller's. Writes its id and event; false after answering
 * 404/422. */
bool tix_sale_find_hold(struct tix_req *req, const char *hold_id, const char *event_id,
                        char hold[TIX_UUID_LEN + 1], char event[TIX_UUID_LEN + 1]);

/* The hold an optional body {hold_id?, event_id?} names (see tix_sale_find_hold); false after
 * answering. */
bool tix_sale_body_hold(struct tix_req *req, char hold[TIX_UUID_LEN + 1],
                        char event[TIX_UUID_LEN + 1]);
/* Answers {"items": <the JSON array text in res's first cell>}; clears res. */
void tix_sale_reply_items(struct tix_req *req, PGresult *res);

/* Query parameter name: NULL when absent, else one of allowed (NULL-terminated) into *out (a new
 * string, free()); false after answering 422. */
bool tix_sale_enum_param(struct tix_req *req, const char *name, const char *const *allowed,
                         char **out);
/* The hold an optional body {hold_id?, event_id?} names (see tix_sale_find_hold); false after
 * answering. */
bool tix_sale_body_hold(struct tix_req *req, char hold[TIX_UUID_LEN + 1],
                        char event[TIX_UUID_LEN + 1]);
/* Answers {"items": <the JSON array text in res's first cell>}; clears res. */
void tix_sale_reply_items(struct tix_req *req, PGresult *res);

/* Query parameter name: NULL when absent, else a UUID into *out (a new string, free()); false
 * after answering 422. */
bool tix_sale_uuid_param(struct tix_req *req, const char *name, char **out);

/* One ticket type (t, a row of rm.ticket_types) as JSON, with its current tier price and what is
 * left: the ticket-type routes and GET /events/{id} answer the same shape. */
#define TIX_SALE_TYPE_JSON                                                                         \
    "json_build_object('id', t.id, 'event_id', t.event_id, 'name', t.name,"                        \
    " 'kind', t.kind, 'description', t.description, 'currency', t.currency,"                       \
    " 'price_minor', t.price_minor, 'current_price_minor', COALESCE((SELECT"                       \
    " (s->>'price_minor')::bigint FROM jsonb_array_elements(t.tiers) WITH ORDINALITY AS"           \
    " x(s, i) WHERE (s->>'until' IS NULL OR (s->>'until')::timestamptz > now())"                   \
    " AND (s->>'until_sold' IS NULL OR (SELECT COALESCE(sum(a.sold), 0) FROM rm.availability a"    \
    " WHERE a.event_id = t.event_id AND a.ticket_type_id = t.id) < (s->>'until_sold')::int)"       \
    " ORDER BY i LIMIT 1), t.price_minor), 'quantity', t.quantity, 'pool_id', t.pool_id,"          \
    " 'session_ids', t.session_ids, 'sections', t.sections, 'categories', t.categories,"           \
    " 'tiers', t.tiers, 'components', t.components, 'group_size', t.group_size,"                   \
    " 'allows_reentry', t.allows_reentry, 'sales_start', t.sales_start,"                           \
    " 'sales_end', t.sales_end, 'min_per_order', t.min_per_order,"                                 \
    " 'max_per_order', t.max_per_order, 'hidden', t.hidden,"                                       \
    " 'is_on_sale', (t.sales_start IS NULL OR t.sales_start <= now())"                             \
    " AND (t.sales_end IS NULL OR t.sales_end > now()),"                                           \
    " 'available', (SELECT sum(a.available) FROM rm.availability a"                                \
    " WHERE a.event_id = t.event_id AND a.ticket_type_id = t.id),"                                 \
    " 'availability', (SELECT COALESCE(json_agg(json_build_object('session_id', a.session_id,"     \
    " 'available', a.available, 'held', a.held, 'sold', a.sold) ORDER BY a.session_id),"           \
    " '[]'::json) FROM rm.availability a WHERE a.event_id = t.event_id"                            \
    " AND a.ticket_type_id = t.id), 'created_at', t.created_at, 'updated_at', t.updated_at,"       \
    " 'version', t.version)"

#endif
