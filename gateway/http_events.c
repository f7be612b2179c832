/* http_events.c - events (the shows): create, edit, lifecycle, reads
 *
 * Writes go through the organization in the path (/api/v1/organizations/{id}/events/...), so the
 * route table's membership and role check applies; a handler then checks that the event in the
 * path belongs to that organization (rm.events) and answers 404 when it does not. The gateway
 * assigns the event id and every session id the client left out, and checks that a venue named
 * by a new event belongs to the organization; the event aggregate decides everything else
 * (shapes, time order, lifecycle transitions).
 *
 * Reads: the public sees an event only when it is public, not a draft and not deleted; members
 * (scanner or higher) see their organization's events in every status. Lists are newest first
 * (by the first session's start) with an opaque cursor: base64url of "<starts_at>|<id>" of the
 * last row, starts_at in Unix microseconds (exact, and checked before it reaches SQL). Times are
 * RFC 3339 (built by Postgres with to_json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/tz.h"

#include "event.h"
#include "gateway.h"
#include "sale_http.h"
#include "recurrence.h"
#include "routes.h"

/* One event as JSON text with its sessions; $1 is the event id. Callers add the WHERE rest. */
#define EVENT_JSON_SQL                                                                             \
    "SELECT json_build_object('id', e.id, 'organization_id', e.organization_id,"                   \
    " 'venue_id', e.venue_id, 'chart_version', e.chart_version, 'name', e.name,"                   \
    " 'description', e.description, 'category', e.category, 'tags', e.tags,"                       \
    " 'images', e.images, 'videos', e.videos, 'metadata', e.metadata,"                             \
    " 'timezone', e.timezone, 'visibility', e.visibility, 'status', e.status,"                     \
    " 'capacity', e.capacity, 'sales_start', e.sales_start, 'sales_end', e.sales_end,"             \
    " 'starts_at', e.starts_at, 'ends_at', e.ends_at, 'cancel_reason', e.cancel_reason,"           \
    " 'created_at', e.created_at, 'updated_at', e.updated_at, 'version', e.version,"               \
    " 'sessions', (SELECT COALESCE(json_agg(json_build_object('session_id', s.session_id,"         \
    " 'name', s.name, 'starts_at', s.starts_at, 'ends_at', s.ends_at, 'capacity', s.capacity,"     \
    " 'status', s.status, 'cancel_reason', s.cancel_reason)"                                       \
    " ORDER BY s.starts_at), '[]'::json) FROM rm.event_sessions s WHERE s.event_id = e.id),"       \
    " 'ticket_types', (SELECT COALESCE(json_agg(" TIX_SALE_TYPE_JSON " ORDER BY t.price_minor,"    \
    " t.name), '[]'::json) FROM rm.ticket_types t WHERE t.event_id = e.id AND NOT t.is_deleted"    \
    " AND NOT t.hidden)"                                                                           \
    ")::text FROM rm.events e WHERE e.id = $1 AND NOT e.is_deleted"

static bool is_own_event(struct tix_req *req)
{
    return tix_gw_is_owned(req, "eventId",
                           "SELECT 1 FROM rm.events WHERE id = $1 AND organization_id = $2 AND "
                           "NOT is_deleted",
                           "no such event");
}

/* Whether body's venue_id (when given) names a venue of the organization in the path, not
 * deleted, and its chart_version (when given) a published chart of it; answers 422 (or 503)
 * itself when not. */
static bool is_venue_usable(struct tix_req *req, const json_t *body)
{
    const char *venue = tix_json_str(body, "venue_id");
    if (venue == NULL)
        return true;
    char version[24] = "";
    const json_t *v = json_object_get(body, "chart_version");
    if (json_is_integer(v))
        snprintf(version, sizeof(version), "%lld", (long long)json_integer_value(v));
    const char *params[] = {venue, tix_gw_param(req, "id"), version[0] != '\0' ? version : NULL};
    PGresult *res = NULL;
    if (!tix_gw_read(
            req,
            "SELECT $3::int IS NULL OR $3::int = 0 OR EXISTS (SELECT 1 FROM rm.seating_charts c"
            " WHERE c.venue_id = v.id AND c.version = $3::int) FROM rm.venues v"
            " WHERE v.id = $1 AND v.organization_id = $2 AND NOT v.is_deleted",
            3, params, &res))
        return false;
    bool has_venue = PQntuples(res) == 1;
    bool has_chart = has_venue && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!has_venue)
        tix_gw_invalid(req, "venue_id", "must name a venue of this organization");
    else if (!has_chart)
        tix_gw_invalid(req, "chart_version", "must name a published seating chart of the venue");
    return has_venue && has_chart;
}

/* Turns body's recurrence (when given) into its sessions, in body's time zone; exactly one of
 * sessions and recurrence must be given. False after answering 422. */
static bool expand_recurrence(struct tix_req *req, json_t *body)
{
    const json_t *rule = json_object_get(body, "recurrence");
    bool has_sessions = json_object_get(body, "sessions") != NULL;
    if (rule == NULL && !has_sessions) {
        tix_gw_invalid(req, "sessions", "is required (or give a recurrence)");
        return false;
    }
    if (rule == NULL)
        return true;
    if (has_sessions) {
        tix_gw_invalid(req, "recurrence", "give sessions or a recurrence, not both");
        return false;
    }
    struct tix_tz *tz = NULL;
    struct tix_err err;
    if (tix_tz_load(NULL, tix_json_str(body, "timezone"), &tz, &err) != TIX_OK) {
        tix_gw_invalid(req, "timezone", "must be a time zone of the IANA database");
        return false;
    }
    json_t *sessions = NULL;
    enum tix_rc rc = tix_recurrence_expand(rule, tz, &sessions, &err);
    tix_tz_destroy(tz);
    if (rc != TIX_OK) {
        tix_gw_invalid(req, err.field, err.msg);
        return false;
    }
    json_object_set_new(body, "sessions", sessions);
    json_object_del(body, "recurrence");
    return true;
}

/* Gives every session object of sessions without a session_id a new one. */
static void assign_session_ids(json_t *sessions)
{
    for (size_t i = 0; i < json_array_size(sessions); i++) {
        json_t *s = json_array_get(sessions, i);
        if (json_is_object(s) && json_object_get(s, "session_id") == NULL) {
            char id[TIX_UUID_LEN + 1];
            tix_uuid_v7(id);
            json_object_set_new(s, "session_id", json_string(id));
        }
    }
}

static json_t *created_event(struct tix_req *req, const json_t *outcome, void *ctx)
{
    (void)outcome;
    const json_t *created = ctx; /* {id, session_ids} */
    char location[96];
    snprintf(location, sizeof(location), "/api/v1/events/%s", tix_json_str(created, "id"));
    tix_gw_header(req, "Location", location);
    json_t *body = json_deep_copy(created);
    json_object_set_new(body, "status", json_string("created"));
    return body;
}

static void free_json_cb(void *ctx)
{
    json_decref(ctx);
}

/* Whether the raw body is a JSON object with a "recurrence" member (then sessions are not
 * required; the body is checked fully by tix_gw_body). */
static bool has_recurrence(const struct tix_req *req)
{
    json_t *raw = tix_json_parse(req->body.ptr, req->body.len, NULL);
    bool has = json_object_get(raw, "recurrence") != NULL;
    json_decref(raw);
    return has;
}

void tix_http_event_create(struct tix_req *req)
{
    static const struct tix_field fields[] = {
        {"name", TIX_F_STRING, true, 1, TIX_EVENT_NAME_MAX_CHARS},
        {"description", TIX_F_STRING, false, 0, TIX_EVENT_DESCRIPTION_MAX},
        {"category", TIX_F_STRING, true, 1, TIX_EVENT_CATEGORY_MAX},
        {"tags", TIX_F_ARRAY, false, 0, 0},
        {"images", TIX_F_ARRAY, false, 0, 0},
        {"videos", TIX_F_ARRAY, false, 0, 0},
        {"metadata", TIX_F_OBJECT, false, 0, 0},
        {"venue_id", TIX_F_UUID, false, 0, 0},
        {"chart_version", TIX_F_INT, false, 0, INT32_MAX},
        {"timezone", TIX_F_STRING, true, 1, 64},
        {"visibility", TIX_F_STRING, true, 1, 16},
        {"capacity", TIX_F_INT, true, 1, TIX_EVENT_CAPACITY_MAX},
        {"sales_start", TIX_F_STRING, false, 0, TIX_EVENT_INSTANT_LEN},
        {"sales_end", TIX_F_STRING, false, 0, TIX_EVENT_INSTANT_LEN},
        {"sessions", TIX_F_ARRAY, true, 0, 0}, /* not required with a recurrence */
        {"recurrence", TIX_F_OBJECT, false, 0, 0},
        {NULL, TIX_F_STRING, false, 0, 0}};
    struct tix_field checked[sizeof(fields) / sizeof(fields[0])];
    memcpy(checked, fields, sizeof(fields));
    for (size_t i = 0; checked[i].name != NULL; i++)
        if (strcmp(checked[i].name, "sessions") == 0)
            checked[i].is_required = !has_recurrence(req);
    json_t *body = tix_gw_body(req, checked);
    if (body == NULL)
        return;
    if (!expand_recurrence(req, body) || !is_venue_usable(req, body)) {
        json_decref(body);
        return;
    }
    char id[TIX_UUID_LEN + 1];
    tix_uuid_v7(id);
    json_t *sessions = json_object_get(body, "sessions");
    assign_session_ids(sessions);
    json_t *session_ids = json_array();
    for (size_t i = 0; i < json_array_size(sessions); i++) {
        const json_t *sid = json_object_get(json_array_get(sessions, i), "session_id");
        json_array_append_new(session_ids,
                              json_is_string(sid) ? json_copy((json_t *)sid) : json_null());
    }
    json_object_set_new(body, "event_id", json_string(id));
    json_object_set_new(body, "organization_id", json_string(tix_gw_param(req, "id")));
    json_t *created = json_pack("{ss so}", "id", id, "session_ids", session_ids);
    struct tix_gw_command cmd = {.type = "event.create",
                                 .key = id,
                                 .payload = body,
                                 .success_status = 201,
                                 .on_success = created_event,
                                 .ctx = created,
                                 .ctx_free = free_json_cb};
    tix_gw_submit(req, &cmd);
}

void tix_gw_event_command(struct tix_req *req, const char *event, const char *type, json_t *payload)
{
    json_object_set_new(payload, "event_id", json_string(event));
    struct tix_gw_command cmd = {
        .type = type, .key = event, .payload = payload, .success_status = 200};
    tix_gw_submit(req, &cmd);
}

/* Sends type for the event in the path (already checked) with payload plus event_id. */
static void event_command(struct tix_req *req, const char *type, json_t *payload)
{
    tix_gw_event_command(req, tix_gw_param(req, "eventId"), type, payload);
}

void tix_http_event_update(struct tix_req *req)
{
    static const struct tix_field fields[] = {
        {"name", TIX_F_STRING, false, 1, TIX_EVENT_NAME_MAX_CHARS},
        {"description", TIX_F_STRING, false, 0, TIX_EVENT_DESCRIPTION_MAX},
        {"category", TIX_F_STRING, false, 1, TIX_EVENT_CATEGORY_MAX},
        {"tags", TIX_F_ARRAY, false, 0, 0},
        {"images", TIX_F_ARRAY, false, 0, 0},
        {"videos", TIX_F_ARRAY, false, 0, 0},
        {"metadata", TIX_F_OBJECT, false, 0, 0},
        {"visibility", TIX_F_STRING, false, 1, 16},
        {"capacity", TIX_F_INT, false, 1, TIX_EVENT_CAPACITY_MAX},
        {"sales_start", TIX_F_STRING, false, 0, TIX_EVENT_INSTANT_LEN},
        {"sales_end", TIX_F_STRING, false, 0, TIX_EVENT_INSTANT_LEN},
        {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    if (!is_own_event(req)) {
        json_decref(body);
        return;
    }
    event_command(req, "event.update", body);
}

void tix_http_event_session_update(struct tix_req *req)
{
    static const struct tix_field fields[] = {
        {"name", TIX_F_STRING, false, 1, TIX_EVENT_NAME_MAX_CHARS},
        {"starts_at", TIX_F_STRING, false, 0, TIX_EVENT_INSTANT_LEN},
        {"ends_at", TIX_F_STRING, false, 0, TIX_EVENT_INSTANT_LEN},
        {"capacity", TIX_F_INT, false, 1, TIX_EVENT_CAPACITY_MAX},
        {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    const char *session = tix_gw_param(req, "sessionId");
    if (!is_own_event(req)) {
        json_decref(body);
        return;
    }
    if (!tix_uuid_is_valid(session)) {
        json_decref(body);
        tix_gw_problem(req, 404, "not-found", "no such session");
        return;
    }
    json_object_set_new(body, "session_id", json_string(session));
    event_command(req, "event.update_session", body);
}

/* Whether the session in the path is one of the event in the path; 404 itself if not. */
static bool is_event_session(struct tix_req *req)
{
    const char *session = tix_gw_param(req, "sessionId");
    if (!tix_uuid_is_valid(session)) {
        tix_gw_problem(req, 404, "not-found", "no such session");
        return false;
    }
    const char *params[] = {tix_gw_param(req, "eventId"), session};
    PGresult *res = NULL;
    if (!tix_gw_read(req, "SELECT 1 FROM rm.event_sessions WHERE event_id = $1 AND session_id = $2",
                     2, params, &res))
        return false;
    bool is_found = PQntuples(res) == 1;
    PQclear(res);
    if (!is_found)
        tix_gw_problem(req, 404, "not-found", "no such session");
    return is_found;
}

/* The {reason} body of a cancellation; NULL after answering. */
static json_t *reason_body(struct tix_req *req)
{
    static const struct tix_field fields[] = {
        {"reason", TIX_F_STRING, true, 1, TIX_EVENT_REASON_MAX_CHARS},
        {NULL, TIX_F_STRING, false, 0, 0}};
    return tix_gw_body(req, fields);
}

/* Calls off one session (event.cancel_session); the organization was checked from the event. */
void tix_http_event_session_cancel(struct tix_req *req)
{
    json_t *body = reason_body(req);
    if (body == NULL)
        return;
    if (!is_event_session(req)) {
        json_decref(body);
        return;
    }
    json_object_set_new(body, "session_id", json_string(tix_gw_param(req, "sessionId")));
    event_command(req, "event.cancel_session", body);
}

void tix_http_event_delete(struct tix_req *req)
{
    if (is_own_event(req))
        event_command(req, "event.delete", json_object());
}

void tix_http_event_publish(struct tix_req *req)
{
    if (is_own_event(req))
        event_command(req, "event.publish", json_object());
}

void tix_http_event_unpublish(struct tix_req *req)
{
    if (is_own_event(req))
        event_command(req, "event.unpublish", json_object());
}

void tix_http_event_open_sales(struct tix_req *req)
{
    if (is_own_event(req))
        event_command(req, "event.open_sales", json_object());
}

void tix_http_event_mark_sold_out(struct tix_req *req)
{
    if (is_own_event(req))
        event_command(req, "event.mark_sold_out", json_object());
}

void tix_http_event_reopen_sales(struct tix_req *req)
{
    if (is_own_event(req))
        event_command(req, "event.reopen_sales", json_object());
}

void tix_http_event_cancel(struct tix_req *req)
{
    json_t *body = reason_body(req);
    if (body == NULL)
        return;
    if (!is_own_event(req)) {
        json_decref(body);
        return;
    }
    event_command(req, "event.cancel", body);
}

void tix_http_event_get(struct tix_req *req)
{
    const char *id = tix_gw_param(req, "id");
    if (!tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", "no such event");
        return;
    }
    const char *params[] = {id};
    PGresult *res = NULL;
    if (tix_gw_read(req, EVENT_JSON_SQL " AND e.visibility = 'public' AND e.status <> 'draft'", 1,
                    params, &res))
        tix_gw_reply_row(req, res, "no such event");
}

void tix_http_org_event_get(struct tix_req *req)
{
    const char *id = tix_gw_param(req, "eventId");
    if (!tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", "no such event");
        return;
    }
    const char *params[] = {id, tix_gw_param(req, "id")};
    PGresult *res = NULL;
    if (tix_gw_read(req, EVENT_JSON_SQL " AND e.organization_id = $2", 2, params, &res))
        tix_gw_reply_row(req, res, "no such event");
}

/* ---- the organization's list ------------------------------------------------------------ */

/* Reads ?status into *status (a new string or NULL); false after answering 422. */
static bool parse_status(struct tix_req *req, char **status)
{
    *status = tix_gw_query(req, "status");
    if (*status == NULL || tix_event_status_parse(*status) >= 0)
        return true;
    free(*status);
    *status = NULL;
    tix_gw_invalid(req, "status",
                   "must be draft, published, on_sale, sold_out, completed or cancelled");
    return false;
}

void tix_http_org_events_list(struct tix_req *req)
{
    struct tix_gw_page page;
    char *status = NULL;
    if (!tix_gw_page_params(req, &page) || !parse_status(req, &status))
        return;
    char fetch[24];
    snprintf(fetch, sizeof(fetch), "%ld", page.limit + 1);
    const char *params[] = {tix_gw_param(req, "id"), status, page.after_us, page.after_id, fetch};
    PGresult *res = NULL;
    bool is_ok = tix_gw_read(
        req,
        "SELECT (extract(epoch FROM e.starts_at) * 1000000)::bigint, e.id,"
        " json_build_object('id', e.id,"
        " 'organization_id', e.organization_id, 'venue_id', e.venue_id,"
        " 'chart_version', e.chart_version, 'name', e.name, 'category', e.category,"
        " 'tags', e.tags, 'timezone', e.timezone, 'visibility', e.visibility,"
        " 'status', e.status, 'capacity', e.capacity, 'sales_start', e.sales_start,"
        " 'sales_end', e.sales_end, 'starts_at', e.starts_at, 'ends_at', e.ends_at,"
        " 'created_at', e.created_at, 'updated_at', e.updated_at, 'version', e.version)::text"
        " FROM rm.events e WHERE e.organization_id = $1 AND NOT e.is_deleted"
        " AND ($2::text IS NULL OR e.status = $2)"
        " AND ($3::bigint IS NULL OR (e.starts_at, e.id) <"
        " ('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::uuid))"
        " ORDER BY e.starts_at DESC, e.id DESC LIMIT $5::int",
        5, params, &res);
    free(status);
    if (is_ok)
        tix_gw_reply_page(req, res, page.limit);
}
