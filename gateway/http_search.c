/* http_search.c - public search over live events: full text, typo-tolerant fallback, facets
 *
 * Reads rm.search_events and rm.search_venues (projections/search.c). Only public, not deleted
 * events in a live status (published, on_sale, sold_out) are ever seen. With q, events match
 * websearch_to_tsquery('english', q) on their weighted document and rank by ts_rank_cd; when
 * nothing matches, the name's trigram similarity to q (> 0.2, pg_trgm) decides instead, so a
 * typo still finds its event. Without q, events come by start time. Facets count categories
 * and cities over the whole filtered set, before limit and offset. One SQL statement answers a
 * request, so items, total and facets come from the same snapshot.
 *
 * Parameters are checked here (422 naming the parameter) before they reach SQL: strings must
 * be UTF-8 of bounded length, times RFC 3339 with a real calendar date, numbers in range.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"
#include "tix/mem.h"

#include "gateway.h"
#include "routes.h"

#define SEARCH_LIMIT_DEFAULT  20
#define SEARCH_LIMIT_MAX      100
#define SEARCH_OFFSET_MAX     10000
#define SEARCH_Q_MAX_CHARS    200
#define SEARCH_TERM_MAX_CHARS 100
#define SUGGEST_MAX_CHARS     100

/* The live, public events with their venue; $2..$5 filter them (NULL: no filter). */
#define LIVE_SQL                                                                                   \
    "SELECT e.id, e.name, e.description, e.category, e.tags, e.status, e.starts_at, e.ends_at,"    \
    " e.venue_id, e.document, v.name AS venue_name, v.city, v.country"                             \
    " FROM rm.search_events e LEFT JOIN rm.search_venues v ON v.id = e.venue_id"                   \
    " WHERE e.visibility = 'public' AND e.status IN ('published', 'on_sale', 'sold_out')"          \
    " AND NOT e.is_deleted AND ($2::text IS NULL OR lower(e.category) = lower($2))"                \
    " AND ($3::text IS NULL OR lower(v.city) = lower($3))"                                         \
    " AND ($4::timestamptz IS NULL OR e.starts_at >= $4::timestamptz)"                             \
    " AND ($5::timestamptz IS NULL OR e.starts_at <= $5::timestamptz)"

static const char search_sql[] =
    "WITH live AS (" LIVE_SQL "),"
    " fts AS (SELECT l.*, ts_rank_cd(l.document, websearch_to_tsquery('english', $1))::float8"
    " AS score FROM live l WHERE $1::text IS NULL"
    " OR l.document @@ websearch_to_tsquery('english', $1)),"
    " fuzzy AS (SELECT l.*, similarity(l.name, $1)::float8 AS score FROM live l"
    " WHERE $1::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM fts)"
    " AND similarity(l.name, $1) > 0.2),"
    " hits AS (SELECT * FROM fts UNION ALL SELECT * FROM fuzzy),"
    " page AS (SELECT * FROM hits ORDER BY score DESC NULLS LAST, starts_at ASC NULLS LAST, id"
    " LIMIT $6::int OFFSET $7::int)"
    " SELECT json_build_object('items', COALESCE((SELECT json_agg(json_build_object('id', p.id,"
    " 'name', p.name, 'description', p.description, 'category', p.category, 'tags', p.tags,"
    " 'status', p.status, 'starts_at', to_json(p.starts_at)#>>'{}',"
    " 'ends_at', to_json(p.ends_at)#>>'{}', 'venue', CASE WHEN p.venue_id IS NULL THEN NULL"
    " ELSE json_build_object('id', p.venue_id, 'name', p.venue_name, 'city', p.city,"
    " 'country', p.country) END, 'score', p.score) ORDER BY p.score DESC NULLS LAST,"
    " p.starts_at ASC NULLS LAST, p.id) FROM page p), '[]'::json),"
    " 'total', (SELECT count(*) FROM hits),"
    " 'facets', json_build_object("
    "'category', COALESCE((SELECT json_object_agg(category, n ORDER BY category) FROM"
    " (SELECT category, count(*) AS n FROM hits GROUP BY category) c), '{}'::json),"
    " 'city', COALESCE((SELECT json_object_agg(city, n ORDER BY city) FROM"
    " (SELECT city, count(*) AS n FROM hits WHERE city IS NOT NULL GROUP BY city) c),"
    " '{}'::json)))::text";

static const char suggest_sql[] =
    "SELECT json_build_object('items', COALESCE(json_agg(json_build_object('id', s.id,"
    " 'name', s.name) ORDER BY s.score DESC, s.name, s.id), '[]'::json))::text FROM ("
    "SELECT e.id, e.name, similarity(e.name, $1) AS score FROM rm.search_events e"
    " WHERE e.visibility = 'public' AND e.status IN ('published', 'on_sale', 'sold_out')"
    " AND NOT e.is_deleted AND (e.name % $1 OR e.name ILIKE $2 || '%')"
    " ORDER BY score DESC, e.name, e.id LIMIT 10) s";

struct search_args {
    char *q, *category, *city, *from, *to; /* NULL: not given */
    char limit[24], offset[24];
};

static void invalid_param(struct tix_req *req, const char *field, const char *message)
{
    tix_gw_problem_fields(req, 422, "the request has invalid parameters",
                          json_pack("[{ss ss}]", "field", field, "message", message));
}

/* Characters of a valid UTF-8 string; -1 when it is not UTF-8 (jansson checks it). */
static long utf8_chars(const char *s)
{
    json_t *j = json_string(s);
    if (j == NULL)
        return -1;
    json_decref(j);
    long n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

/* Reads a text parameter of min_chars..max_chars characters into *out (NULL when absent or
 * empty); false after answering 422. */
static bool read_text(struct tix_req *req, const char *name, long min_chars, long max_chars,
                      char **out)
{
    char *v = tix_gw_query(req, name);
    if (v != NULL && v[0] == '\0' && min_chars == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    long n = v != NULL ? utf8_chars(v) : (min_chars > 0 ? -1 : 0);
    if (n >= min_chars && n <= max_chars)
        return true;
    char message[96];
    snprintf(message, sizeof(message), "must be UTF-8 text of %ld to %ld characters",
             min_chars > 0 ? min_chars : 1, max_chars);
    invalid_param(req, name, message);
    return false;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool is_date(const char *s)
{
    static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
    if (y < 1 || s[4] != '-' || s[7] != '-' || m < 1 || m > 12 || d < 1 || d > month_days[m - 1])
        return false;
    bool is_leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m != 2 || d <= 28 || is_leap;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM). */
static bool is_rfc3339(const char *s)
{
    size_t len = strlen(s);
    if (len < 20 || !is_date(s) || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return false;
    int hh = digits(s + 11, 2), mm = digits(s + 14, 2), ss = digits(s + 17, 2);
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        const char *f = ++p;
        while (*p >= '0' && *p <= '9' && p - f < 9)
            p++;
        if (p == f)
            return false;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return true;
    return (*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2) >= 0 &&
           digits(p + 1, 2) <= 23 && p[3] == ':' && digits(p + 4, 2) >= 0 && digits(p + 4, 2) <= 59;
}

static bool read_time(struct tix_req *req, const char *name, char **out)
{
    *out = tix_gw_query(req, name);
    if (*out == NULL || is_rfc3339(*out))
        return true;
    invalid_param(req, name, "must be an RFC 3339 date-time, e.g. 2030-06-05T19:00:00Z");
    return false;
}

/* Reads an integer parameter of min..max (def when absent) as text into out. */
static bool read_int(struct tix_req *req, const char *name, long min, long max, long def,
                     char out[24])
{
    char *v = tix_gw_query(req, name);
    long n = def;
    bool is_ok = true;
    if (v != NULL) {
        char *end = NULL;
        n = strtol(v, &end, 10);
        is_ok =
            v[0] >= '0' && v[0] <= '9' && strlen(v) <= 9 && *end == '\0' && n >= min && n <= max;
        free(v);
    }
    if (!is_ok) {
        char message[96];
        snprintf(message, sizeof(message), "must be an integer from %ld to %ld", min, max);
        invalid_param(req, name, message);
        return false;
    }
    snprintf(out, 24, "%ld", n);
    return true;
}

static void args_deinit(struct search_args *a)
{
    free(a->q);
    free(a->category);
    free(a->city);
    free(a->from);
    free(a->to);
}

static bool read_args(struct tix_req *req, struct search_args *a)
{
    return read_text(req, "q", 0, SEARCH_Q_MAX_CHARS, &a->q) &&
           read_text(req, "category", 0, SEARCH_TERM_MAX_CHARS, &a->category) &&
           read_text(req, "city", 0, SEARCH_TERM_MAX_CHARS, &a->city) &&
           read_time(req, "from", &a->from) && read_time(req, "to", &a->to) &&
           read_int(req, "limit", 1, SEARCH_LIMIT_MAX, SEARCH_LIMIT_DEFAULT, a->limit) &&
           read_int(req, "offset", 0, SEARCH_OFFSET_MAX, 0, a->offset);
}

/* Runs sql and answers 200 with the JSON text of its only cell (or 503). */
static void reply_cell(struct tix_req *req, const char *sql, int n, const char *const *params)
{
    PGresult *res = NULL;
    if (tix_db_exec(req->th->db, sql, n, params, &res, NULL) != TIX_OK) {
        tix_gw_problem(req, 503, "unavailable", "the search index can't be read right now");
        return;
    }
    const char *text = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
    json_t *doc = tix_json_parse(text, strlen(text), NULL);
    PQclear(res);
    if (doc == NULL) {
        tix_gw_problem(req, 500, "internal", "the search index gave an unreadable answer");
        return;
    }
    tix_gw_reply_json(req, 200, doc);
}

void tix_http_search_events(struct tix_req *req)
{
    struct search_args a = {0};
    if (read_args(req, &a)) {
        const char *params[] = {a.q, a.category, a.city, a.from, a.to, a.limit, a.offset};
        reply_cell(req, search_sql, 7, params);
    }
    args_deinit(&a);
}

/* The prefix pattern's special characters (% _ \) escaped for ILIKE (a new string). */
static char *like_escape(const char *s)
{
    size_t len = strlen(s);
    char *out = tix_xmalloc(2 * len + 1);
    char *p = out;
    for (; *s != '\0'; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p = '\0';
    return out;
}

void tix_http_search_autocomplete(struct tix_req *req)
{
    char *q = NULL;
    if (!read_text(req, "q", 1, SUGGEST_MAX_CHARS, &q)) {
        free(q);
        return;
    }
    char *prefix = like_escape(q);
    const char *params[] = {q, prefix};
    reply_cell(req, suggest_sql, 2, params);
    free(prefix);
    free(q);
}
