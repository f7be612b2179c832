/* http_catalog.c - the public catalog: the events listing, featured events, a venue's events
 *
 * Reads rm.events (projections/events.c) with the venue's city from rm.venues. Everyone sees
 * public events in a live status (published, on_sale, sold_out); with ?organization_id, a
 * member of that organization (any role; an API key of it with events:read) also sees its
 * drafts, private and past-status events. Nobody else ever sees them: the visibility rule is
 * part of the one statement that reads the rows.
 *
 * Pagination is keyset: the cursor holds the sort's name, the last row's id and its sort key
 * (Unix microseconds for times, the text for names, the rank for featured), and the next page
 * starts strictly after that (key, id) pair in the sort's order. Rows inserted meanwhile never
 * shift a page: they show up in order or not at all, and no row repeats or is skipped.
 *
 * The statement is put together from compiled-in fragments only (the sort's key and direction);
 * every value travels as a parameter.
 *
 * Featuring (POST/DELETE /api/v1/events/{id}/feature) is the event.feature/.unfeature command
 * of the event aggregate; the route names the event, not its organization, so the handler
 * checks the caller's role in the event's organization itself (owner or admin).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/mem.h"

#include "event.h"
#include "gateway.h"
#include "routes.h"

#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX     100
#define LIST_TERM_MAX      100

/* One order of the listing. key is the SQL ordered on, key_text the key as cursor text, and
 * from_cursor turns the cursor's text ($12) back into a key. */
struct sort_spec {
    const char *name;
    const char *key;
    const char *key_text;
    const char *from_cursor;
    bool is_desc;
    bool is_number;
};

#define TIME_KEY(col)                                                                              \
    "e." col, "(extract(epoch FROM e." col ") * 1000000)::bigint::text",                           \
        "('epoch'::timestamptz + $12::text::bigint * interval '1 microsecond')"
#define NAME_KEY "e.name COLLATE \"C\"", "e.name", "($12::text COLLATE \"C\")"

/* The public sorts first (their names are the ?sort values), then the fixed ones. */
static const struct sort_spec sorts[] = {
    {"starts_at", TIME_KEY("starts_at"), false, true},
    {"-starts_at", TIME_KEY("starts_at"), true, true},
    {"name", NAME_KEY, false, false},
    {"-name", NAME_KEY, true, false},
    {"created", TIME_KEY("created_at"), false, true},
    {"-created", TIME_KEY("created_at"), true, true},
    {"featured", "e.featured_rank", "e.featured_rank::text", "$12::text::int", false, true},
};

#define N_PUBLIC_SORTS 6
#define SORT_FEATURED  6

/* A listing item: the event's summary with its venue. */
#define SUMMARY_JSON                                                                               \
    "json_build_object('id', e.id, 'organization_id', e.organization_id, 'name', e.name,"          \
    " 'category', e.category, 'tags', e.tags, 'images', e.images, 'status', e.status,"             \
    " 'visibility', e.visibility, 'timezone', e.timezone, 'starts_at', e.starts_at,"               \
    " 'ends_at', e.ends_at, 'featured_rank', e.featured_rank, 'venue', CASE WHEN e.venue_id IS"    \
    " NULL THEN NULL ELSE json_build_object('id', e.venue_id, 'name', v.name, 'city', v.city,"     \
    " 'country', v.country) END, 'created_at', e.created_at, 'updated_at', e.updated_at)::text"

/* $1 the caller is a member of $2 (t/f), $2 organization_id, $3 category, $4 tag, $5 from, $6 to,
 * $7 venue_id, $8 city, $9 status, $10 upcoming/past, $11 featured only, $12 cursor key,
 * $13 cursor id, $14 rows to fetch, $15/$16 lowest/highest ticket price in minor units (-1: any;
 * an event matches when one of its visible ticket types costs that much). The %s are the sort's
 * fragments. */
static const char list_sql[] =
    "SELECT %s, e.id, " SUMMARY_JSON " FROM rm.events e LEFT JOIN rm.venues v ON v.id = e.venue_id"
    " WHERE NOT e.is_deleted AND ((e.visibility = 'public'"
    " AND e.status IN ('published', 'on_sale', 'sold_out'))"
    " OR ($1::boolean AND e.organization_id = $2::uuid))"
    " AND ($2::uuid IS NULL OR e.organization_id = $2::uuid)"
    " AND ($3::text IS NULL OR e.category = lower($3::text))"
    " AND ($4::text IS NULL OR e.tags @> ARRAY[$4::text])"
    " AND (($5::timestamptz IS NULL AND $6::timestamptz IS NULL) OR EXISTS (SELECT 1 FROM"
    " rm.event_sessions s WHERE s.event_id = e.id AND s.status <> 'cancelled'"
    " AND ($5::timestamptz IS NULL OR s.starts_at >="
    " $5::timestamptz) AND ($6::timestamptz IS NULL OR s.starts_at < $6::timestamptz)))"
    " AND ($7::uuid IS NULL OR e.venue_id = $7::uuid)"
    " AND ($8::text IS NULL OR lower(v.city) = lower($8::text))"
    " AND ($9::text IS NULL OR e.status = $9::text)"
    " AND ($10::text IS NULL OR ($10::text = 'upcoming' AND e.ends_at >= now())"
    " OR ($10::text = 'past' AND e.ends_at < now()))"
    " AND ($11::text IS NULL OR e.featured_rank IS NOT NULL)"
    " AND (($15::bigint < 0 AND $16::bigint < 0) OR EXISTS (SELECT 1 FROM rm.ticket_types t"
    " WHERE t.event_id = e.id AND NOT t.is_deleted AND NOT t.hidden AND ($15::bigint < 0 OR"
    " t.price_minor >= $15::bigint) AND ($16::bigint < 0 OR t.price_minor <= $16::bigint)))"
    " AND ($12::text IS NULL OR (%s, e.id) %s (%s, $13::uuid))"
    " ORDER BY %s %s, e.id %s LIMIT $14::int";

#define N_LIST_PARAMS 16

struct list_args {
    const struct sort_spec *sort;
    char *org, *category, *tag, *from, *to, *venue, *city, *status; /* NULL: no filter */
    const char *when;                                               /* "upcoming", "past" */
    bool is_featured;
    bool is_member;
    char limit[24], fetch[24];
    char price_min[24], price_max[24]; /* "-1": any */
    char cursor[TIX_GW_CURSOR_MAX];
    const char *after_key, *after_id; /* NULL: from the start */
};

static void args_deinit(struct list_args *a)
{
    free(a->org);
    free(a->category);
    free(a->tag);
    free(a->from);
    free(a->to);
    free(a->venue);
    free(a->city);
    free(a->status);
}

/* Whether key is a cursor key of a's sort: a decimal integer, or UTF-8 text of a name. */
static bool is_cursor_key(const struct list_args *a, const char *key)
{
    if (!a->sort->is_number) {
        json_t *j = json_string(key);
        json_decref(j);
        return j != NULL && strlen(key) <= TIX_EVENT_NAME_MAX_CHARS * 4;
    }
    const char *p = key[0] == '-' ? key + 1 : key;
    size_t n = strlen(p);
    return n >= 1 && n <= 18 && strspn(p, "0123456789") == n;
}

/* Reads ?cursor (parts: sort name, id, key); false after answering 422. */
static bool read_cursor(struct tix_req *req, struct list_args *a)
{
    const char *parts[3] = {NULL, NULL, NULL};
    bool is_given = false;
    if (!tix_gw_query_cursor(req, a->cursor, parts, 3, &is_given))
        return false;
    if (!is_given)
        return true;
    if (strcmp(parts[0], a->sort->name) != 0 || !tix_uuid_is_valid(parts[1]) ||
        !is_cursor_key(a, parts[2])) {
        tix_gw_invalid(req, "cursor", "is not a cursor from this list with this sort");
        return false;
    }
    a->after_id = parts[1];
    a->after_key = parts[2];
    return true;
}

static bool read_limit(struct tix_req *req, struct list_args *a)
{
    if (!tix_gw_query_int(req, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT, a->limit))
        return false;
    snprintf(a->fetch, sizeof(a->fetch), "%ld", strtol(a->limit, NULL, 10) + 1);
    return true;
}

static bool read_status(struct tix_req *req, struct list_args *a)
{
    a->status = tix_gw_query(req, "status");
    if (a->status == NULL || tix_event_status_parse(a->status) >= 0)
        return true;
    tix_gw_invalid(req, "status",
                   "must be draft, published, on_sale, sold_out, completed or cancelled");
    return false;
}

/* Whether the caller may see the drafts of ?organization_id; false after answering 503. */
static bool read_membership(struct tix_req *req, struct list_args *a)
{
    if (a->org == NULL)
        return true;
    int role = tix_gw_org_role(req, a->org, "events:read");
    if (role == -2) {
        tix_gw_problem(req, 503, "unavailable", "access can't be checked right now");
        return false;
    }
    a->is_member = role >= TIX_ROLE_SCANNER;
    return true;
}

/* The filters of the events listing (and of the featured list). */
static bool read_filters(struct tix_req *req, struct list_args *a)
{
    return tix_gw_query_uuid(req, "organization_id", &a->org) &&
           tix_gw_query_text(req, "category", 0, TIX_EVENT_CATEGORY_MAX, &a->category) &&
           tix_gw_query_text(req, "tag", 0, TIX_EVENT_TAG_MAX_CHARS, &a->tag) &&
           tix_gw_query_time(req, "from", &a->from) && tix_gw_query_time(req, "to", &a->to) &&
           tix_gw_query_uuid(req, "venue_id", &a->venue) &&
           tix_gw_query_text(req, "city", 0, LIST_TERM_MAX, &a->city) &&
           tix_gw_query_price_range(req, a->price_min, a->price_max) && read_status(req, a) &&
           read_membership(req, a);
}

static bool read_sort(struct tix_req *req, struct list_args *a)
{
    const char *names[N_PUBLIC_SORTS + 1] = {NULL};
    for (int i = 0; i < N_PUBLIC_SORTS; i++)
        names[i] = sorts[i].name;
    int i = tix_gw_query_choice(req, "sort", names,
                                "must be starts_at, -starts_at, name, -name, created or -created");
    if (i < 0)
        return false;
    a->sort = &sorts[i];
    return true;
}

/* The cursor after row i of res (columns: key text, id). */
static json_t *cursor_after(const struct list_args *a, PGresult *res, int i)
{
    const char *parts[] = {a->sort->name, PQgetvalue(res, i, 1), PQgetvalue(res, i, 0)};
    return tix_gw_cursor_make(parts, 3);
}

/* Runs the listing for a and answers {items, next_cursor}. */
static void run_list(struct tix_req *req, struct list_args *a)
{
    const struct sort_spec *s = a->sort;
    const char *dir = s->is_desc ? "DESC" : "ASC";
    char sql[sizeof(list_sql) + 512];
    snprintf(sql, sizeof(sql), list_sql, s->key_text, s->key, s->is_desc ? "<" : ">",
             s->from_cursor, s->key, dir, dir);
    const char *params[N_LIST_PARAMS] = {a->is_member ? "t" : "f",
                                         a->org,
                                         a->category,
                                         a->tag,
                                         a->from,
                                         a->to,
                                         a->venue,
                                         a->city,
                                         a->status,
                                         a->when,
                                         a->is_featured ? "t" : NULL,
                                         a->after_key,
                                         a->after_id,
                                         a->fetch,
                                         a->price_min,
                                         a->price_max};
    PGresult *res = NULL;
    if (!tix_gw_read(req, sql, N_LIST_PARAMS, params, &res))
        return;
    long limit = strtol(a->limit, NULL, 10);
    int rows = PQntuples(res);
    int shown = rows > limit ? (int)limit : rows;
    json_t *items = json_array();
    for (int i = 0; i < shown; i++) {
        const char *text = PQgetvalue(res, i, 2);
        json_t *e = tix_json_parse(text, strlen(text), NULL);
        if (e != NULL)
            json_array_append_new(items, e);
    }
    json_t *next = rows > limit && shown > 0 ? cursor_after(a, res, shown - 1) : json_null();
    PQclear(res);
    tix_gw_reply_json(req, 200, json_pack("{so so}", "items", items, "next_cursor", next));
}

void tix_http_events_list(struct tix_req *req)
{
    struct list_args a = {0};
    if (read_sort(req, &a) && read_filters(req, &a) && read_limit(req, &a) && read_cursor(req, &a))
        run_list(req, &a);
    args_deinit(&a);
}

void tix_http_events_featured(struct tix_req *req)
{
    struct list_args a = {.sort = &sorts[SORT_FEATURED], .is_featured = true};
    if (read_filters(req, &a) && read_limit(req, &a) && read_cursor(req, &a))
        run_list(req, &a);
    args_deinit(&a);
}

/* Whether the venue in the path exists (not deleted); answers 404 or 503 itself when not. */
static bool is_live_venue(struct tix_req *req)
{
    const char *id = tix_gw_param(req, "id");
    if (!tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", "no such venue");
        return false;
    }
    const char *params[] = {id};
    PGresult *res = NULL;
    if (!tix_gw_read(req, "SELECT 1 FROM rm.venues WHERE id = $1 AND NOT is_deleted", 1, params,
                     &res))
        return false;
    bool is_live = PQntuples(res) == 1;
    PQclear(res);
    if (!is_live)
        tix_gw_problem(req, 404, "not-found", "no such venue");
    return is_live;
}

void tix_http_venue_events(struct tix_req *req)
{
    static const char *const whens[] = {"false", "true", NULL};
    struct list_args a = {.price_min = "-1", .price_max = "-1"};
    int past = tix_gw_query_choice(req, "past", whens, "must be true or false");
    if (past >= 0 && read_limit(req, &a)) {
        a.sort = &sorts[past == 1 ? 1 : 0]; /* past: latest first; upcoming: soonest first */
        a.when = past == 1 ? "past" : "upcoming";
        if (read_cursor(req, &a) && is_live_venue(req)) {
            a.venue = tix_xstrdup(tix_gw_param(req, "id"));
            run_list(req, &a);
        }
    }
    args_deinit(&a);
}

/* ---- featuring -------------------------------------------------------------------------- */

#define FEATURE_RANK_DEFAULT 100

/* Whether the caller may (un)feature the event in the path: an owner or admin of its
 * organization (an API key of it with events:write). Otherwise answers itself: 404 for an
 * unknown event or one the public can't see, 403 for a public one. */
static bool may_feature(struct tix_req *req)
{
    const char *id = tix_gw_param(req, "id");
    if (!tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", "no such event");
        return false;
    }
    const char *params[] = {id};
    PGresult *res = NULL;
    if (!tix_gw_read(req,
                     "SELECT organization_id, visibility = 'public' AND status <> 'draft'"
                     " FROM rm.events WHERE id = $1 AND NOT is_deleted",
                     1, params, &res))
        return false;
    char org[40] = "";
    bool is_public = false;
    if (PQntuples(res) == 1) {
        snprintf(org, sizeof(org), "%s", PQgetvalue(res, 0, 0));
        is_public = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    }
    PQclear(res);
    int role = org[0] != '\0' ? tix_gw_org_role(req, org, "events:write") : -1;
    if (role == -2) {
        tix_gw_problem(req, 503, "unavailable", "access can't be checked right now");
        return false;
    }
    if (role >= TIX_ROLE_ADMIN)
        return true;
    if (role < 0 && !is_public)
        tix_gw_problem(req, 404, "not-found", "no such event");
    else
        tix_gw_problem(req, 403, "forbidden",
                       "featuring needs the admin role or higher in the event's organization");
    return false;
}

void tix_http_event_feature(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"rank", TIX_F_INT, false, 1, TIX_EVENT_RANK_MAX},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = req->body.len > 0 ? tix_gw_body(req, fields) : json_object();
    if (body == NULL)
        return;
    if (json_object_get(body, "rank") == NULL)
        json_object_set_new(body, "rank", json_integer(FEATURE_RANK_DEFAULT));
    if (!may_feature(req)) {
        json_decref(body);
        return;
    }
    tix_gw_event_command(req, tix_gw_param(req, "id"), "event.feature", body);
}

void tix_http_event_unfeature(struct tix_req *req)
{
    if (may_feature(req))
        tix_gw_event_command(req, tix_gw_param(req, "id"), "event.unfeature", json_object());
}
