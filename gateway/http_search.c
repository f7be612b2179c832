/* http_search.c - public search: events (full text, typo-tolerant fallback, filters, facets,
 * near a point), venues, autocomplete
 *
 * The SQL lives in search_sql.c (shared with bench/search.c); this file reads and checks the
 * parameters (422 naming the parameter) before they reach SQL: strings must be UTF-8 of bounded
 * length, times RFC 3339 with a real calendar date, numbers in range, a point "lat,lng" in
 * degrees, a price range in minor units (as GET /events takes it). /api/v1/events/search is the
 * same handler as /api/v1/search/events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"

#include "gateway.h"
#include "routes.h"
#include "search_sql.h"

#define SEARCH_LIMIT_DEFAULT  20
#define SEARCH_LIMIT_MAX      100
#define SEARCH_OFFSET_MAX     10000
#define SEARCH_Q_MAX_CHARS    200
#define SEARCH_TERM_MAX_CHARS 100
#define SUGGEST_MAX_CHARS     100

struct search_args {
    char *q, *category, *city, *from, *to; /* NULL: not given */
    char limit[24], offset[24];
    char price_min[24], price_max[24]; /* "-1": unbounded */
    struct tix_gw_near near;
};

static void args_deinit(struct search_args *a)
{
    free(a->q);
    free(a->category);
    free(a->city);
    free(a->from);
    free(a->to);
}

/* q, city, limit, offset and near: what events and venues searches share. */
static bool read_common(struct tix_req *req, struct search_args *a)
{
    return tix_gw_query_text(req, "q", 0, SEARCH_Q_MAX_CHARS, &a->q) &&
           tix_gw_query_text(req, "city", 0, SEARCH_TERM_MAX_CHARS, &a->city) &&
           tix_gw_query_int(req, "limit", 1, SEARCH_LIMIT_MAX, SEARCH_LIMIT_DEFAULT, a->limit) &&
           tix_gw_query_int(req, "offset", 0, SEARCH_OFFSET_MAX, 0, a->offset) &&
           tix_gw_query_near(req, &a->near);
}

static bool read_event_args(struct tix_req *req, struct search_args *a)
{
    return read_common(req, a) &&
           tix_gw_query_text(req, "category", 0, SEARCH_TERM_MAX_CHARS, &a->category) &&
           tix_gw_query_time(req, "from", &a->from) && tix_gw_query_time(req, "to", &a->to) &&
           tix_gw_query_price_range(req, a->price_min, a->price_max);
}

/* Runs sql and returns the JSON of its only cell (a new reference); NULL after answering 503
 * or 500. */
static json_t *query_cell(struct tix_req *req, const char *sql, int n, const char *const *params)
{
    PGresult *res = NULL;
    if (tix_db_exec(req->th->db, sql, n, params, &res, NULL) != TIX_OK) {
        tix_gw_problem(req, 503, "unavailable", "the search index can't be read right now");
        return NULL;
    }
    const char *text = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
    json_t *doc = tix_json_parse(text, strlen(text), NULL);
    PQclear(res);
    if (doc == NULL)
        tix_gw_problem(req, 500, "internal", "the search index gave an unreadable answer");
    return doc;
}

/* Runs sql and answers 200 with the JSON of its only cell. */
static void reply_cell(struct tix_req *req, const char *sql, int n, const char *const *params)
{
    json_t *doc = query_cell(req, sql, n, params);
    if (doc != NULL)
        tix_gw_reply_json(req, 200, doc);
}

void tix_http_search_events(struct tix_req *req)
{
    struct search_args a = {0};
    if (read_event_args(req, &a)) {
        const char *params[TIX_SEARCH_EVENTS_PARAMS] = {a.q,  a.category, a.city,  a.from,
                                                        a.to, a.limit,    a.offset};
        tix_gw_near_params(&a.near, &params[7]);
        params[14] = a.price_min;
        params[15] = a.price_max;
        json_t *doc = query_cell(req, tix_search_events_sql, TIX_SEARCH_EVENTS_PARAMS, params);
        if (doc != NULL && a.q != NULL && json_integer_value(json_object_get(doc, "total")) == 0) {
            json_decref(doc); /* nothing matched the words: names like q, for typos */
            doc = query_cell(req, tix_search_events_fuzzy_sql, TIX_SEARCH_EVENTS_PARAMS, params);
        }
        if (doc != NULL)
            tix_gw_reply_json(req, 200, doc);
    }
    args_deinit(&a);
}

void tix_http_search_venues(struct tix_req *req)
{
    struct search_args a = {0};
    if (read_common(req, &a)) {
        const char *params[TIX_SEARCH_VENUES_PARAMS] = {a.q, a.city, a.limit, a.offset};
        tix_gw_near_params(&a.near, &params[4]);
        reply_cell(req, tix_search_venues_sql, TIX_SEARCH_VENUES_PARAMS, params);
    }
    args_deinit(&a);
}

void tix_http_search_autocomplete(struct tix_req *req)
{
    char *q = NULL;
    if (!tix_gw_query_text(req, "q", 1, SUGGEST_MAX_CHARS, &q)) {
        free(q);
        return;
    }
    char *prefix = tix_search_like_escape(q);
    const char *params[TIX_SEARCH_SUGGEST_PARAMS] = {q, prefix};
    reply_cell(req, tix_search_suggest_sql, TIX_SEARCH_SUGGEST_PARAMS, params);
    free(prefix);
    free(q);
}
