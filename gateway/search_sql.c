/* search_sql.c - the statements of public search (see search_sql.h)
 *
 * Events: only public, not deleted events in a live status (published, on_sale, sold_out) are
 * ever seen. With q, events match websearch_to_tsquery('english', q) on their weighted document
 * (GIN index) and rank by ts_rank_cd; when nothing matches, events whose name is trigram-similar
 * to q (the % operator: similarity at or above pg_trgm.similarity_threshold, 0.3 by default;
 * GIN trigram index) come by similarity instead, so a typo still finds its event. Near a point,
 * venues are first cut to the bounding box (index on lat, lon), then to the great-circle radius,
 * and the nearest come first. Facets (category, city, month of the first session in UTC) and
 * the total count every match, before limit and offset; one statement, so items, total and
 * facets come from the same snapshot.
 *
 * Each branch (full text, fuzzy) repeats the filters in its own scan instead of reading a
 * shared CTE, so each can use its own index: a CTE read twice is materialized first.
 */
#include <string.h>

#include "tix/mem.h"

#include "search_sql.h"

/* The near filter on venue alias v; the parameter numbers of lat, lon, radius and the box. */
#define NEAR_FILTER(lat, lon, r, a, b, c, d)                                                       \
    " AND (" lat "::float8 IS NULL OR (v.lat BETWEEN " a "::float8 AND " b "::float8"              \
    " AND v.lon BETWEEN " c "::float8 AND " d "::float8"                                           \
    " AND public.tix_distance_km(" lat "::float8, " lon "::float8, v.lat, v.lon) <= " r            \
    "::float8))"

#define DISTANCE(lat, lon)                                                                         \
    " CASE WHEN " lat "::float8 IS NULL THEN NULL ELSE round(public.tix_distance_km(" lat          \
    "::float8, " lon "::float8, v.lat, v.lon)::numeric, 3)::float8 END AS distance_km"

#define EVENT_COLUMNS                                                                              \
    "e.id, e.name, e.description, e.category, e.tags, e.status, e.starts_at, e.ends_at,"           \
    " e.venue_id, v.name AS venue_name, v.city, v.country," DISTANCE("$8", "$9")

#define EVENT_FROM                                                                                 \
    " FROM rm.search_events e LEFT JOIN rm.search_venues v ON v.id = e.venue_id"                   \
    " WHERE e.visibility = 'public' AND e.status IN ('published', 'on_sale', 'sold_out')"          \
    " AND NOT e.is_deleted AND ($2::text IS NULL OR lower(e.category) = lower($2))"                \
    " AND ($3::text IS NULL OR lower(v.city) = lower($3))"                                         \
    " AND ($4::timestamptz IS NULL OR e.starts_at >= $4::timestamptz)"                             \
    " AND ($5::timestamptz IS NULL OR e.starts_at <= $5::timestamptz)" NEAR_FILTER(                \
        "$8", "$9", "$10", "$11", "$12", "$13", "$14")

/* The order of hits: nearest first (near given), then best score, then soonest. */
#define HIT_ORDER "distance_km ASC NULLS LAST, score DESC NULLS LAST, starts_at ASC NULLS LAST, id"

const char tix_search_events_sql[] =
    "WITH fts AS (SELECT " EVENT_COLUMNS
    ", ts_rank_cd(e.document, websearch_to_tsquery('english', $1))::float8 AS score" EVENT_FROM
    " AND ($1::text IS NULL OR e.document @@ websearch_to_tsquery('english', $1))),"
    " fuzzy AS (SELECT " EVENT_COLUMNS ", similarity(e.name, $1)::float8 AS score" EVENT_FROM
    " AND $1::text IS NOT NULL AND e.name % $1 AND NOT EXISTS (SELECT 1 FROM fts)),"
    " hits AS (SELECT * FROM fts UNION ALL SELECT * FROM fuzzy),"
    " page AS (SELECT * FROM hits ORDER BY " HIT_ORDER " LIMIT $6::int OFFSET $7::int)"
    " SELECT json_build_object('items', COALESCE((SELECT json_agg(json_build_object('id', p.id,"
    " 'name', p.name, 'description', p.description, 'category', p.category, 'tags', p.tags,"
    " 'status', p.status, 'starts_at', to_json(p.starts_at)#>>'{}',"
    " 'ends_at', to_json(p.ends_at)#>>'{}', 'venue', CASE WHEN p.venue_id IS NULL THEN NULL"
    " ELSE json_build_object('id', p.venue_id, 'name', p.venue_name, 'city', p.city,"
    " 'country', p.country) END, 'distance_km', p.distance_km, 'score', p.score)"
    " ORDER BY " HIT_ORDER ") FROM page p), '[]'::json),"
    " 'total', (SELECT count(*) FROM hits),"
    " 'facets', json_build_object("
    "'category', COALESCE((SELECT json_object_agg(category, n ORDER BY category) FROM"
    " (SELECT category, count(*) AS n FROM hits GROUP BY category) c), '{}'::json),"
    " 'city', COALESCE((SELECT json_object_agg(city, n ORDER BY city) FROM"
    " (SELECT city, count(*) AS n FROM hits WHERE city IS NOT NULL GROUP BY city) c),"
    " '{}'::json),"
    " 'month', COALESCE((SELECT json_object_agg(m, n ORDER BY m) FROM"
    " (SELECT to_char(starts_at AT TIME ZONE 'UTC', 'YYYY-MM') AS m, count(*) AS n FROM hits"
    " WHERE starts_at IS NOT NULL GROUP BY 1) c), '{}'::json)))::text";

const char tix_search_suggest_sql[] =
    "SELECT json_build_object('items', COALESCE(json_agg(json_build_object('id', s.id,"
    " 'name', s.name) ORDER BY s.score DESC, s.name, s.id), '[]'::json))::text FROM ("
    "SELECT e.id, e.name, similarity(e.name, $1) AS score FROM rm.search_events e"
    " WHERE e.visibility = 'public' AND e.status IN ('published', 'on_sale', 'sold_out')"
    " AND NOT e.is_deleted AND (e.name % $1 OR e.name ILIKE $2 || '%')"
    " ORDER BY score DESC, e.name, e.id LIMIT 10) s";

/* The venue's document: the expression of the search_venues_document index. */
#define VENUE_DOCUMENT                                                                             \
    "to_tsvector('simple', v.name || ' ' || coalesce(v.city, '') || ' ' || coalesce(v.country,"    \
    " ''))"

#define VENUE_COLUMNS "v.id, v.name, v.city, v.country, v.lat, v.lon," DISTANCE("$5", "$6")

#define VENUE_FROM                                                                                 \
    " FROM rm.search_venues v WHERE ($2::text IS NULL OR lower(v.city) = lower($2))" NEAR_FILTER(  \
        "$5", "$6", "$7", "$8", "$9", "$10", "$11")

#define VENUE_ORDER "distance_km ASC NULLS LAST, score DESC NULLS LAST, name, id"

const char tix_search_venues_sql[] =
    "WITH fts AS (SELECT " VENUE_COLUMNS ", ts_rank_cd(" VENUE_DOCUMENT
    ", websearch_to_tsquery('simple', $1))::float8 AS score" VENUE_FROM
    " AND ($1::text IS NULL OR " VENUE_DOCUMENT " @@ websearch_to_tsquery('simple', $1))),"
    " fuzzy AS (SELECT " VENUE_COLUMNS ", greatest(similarity(v.name, $1),"
    " similarity(coalesce(v.city, ''), $1))::float8 AS score" VENUE_FROM
    " AND $1::text IS NOT NULL AND (v.name % $1"
    " OR v.city % $1) AND NOT EXISTS (SELECT 1 FROM fts)),"
    " hits AS (SELECT * FROM fts UNION ALL SELECT * FROM fuzzy),"
    " page AS (SELECT * FROM hits ORDER BY " VENUE_ORDER " LIMIT $3::int OFFSET $4::int)"
    " SELECT json_build_object('items', COALESCE((SELECT json_agg(json_build_object('id', p.id,"
    " 'name', p.name, 'city', p.city, 'country', p.country, 'location', CASE WHEN p.lat IS NULL"
    " OR p.lon IS NULL THEN NULL ELSE json_build_object('lat', p.lat, 'lon', p.lon) END,"
    " 'distance_km', p.distance_km, 'score', p.score) ORDER BY " VENUE_ORDER
    ") FROM page p), '[]'::json),"
    " 'total', (SELECT count(*) FROM hits),"
    " 'facets', json_build_object('city', COALESCE((SELECT json_object_agg(city, n ORDER BY city)"
    " FROM (SELECT city, count(*) AS n FROM hits WHERE city IS NOT NULL GROUP BY city) c),"
    " '{}'::json)))::text";

char *tix_search_like_escape(const char *s)
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
