/* search_sql.c - the statements of public search (see search_sql.h)
 *
 * Events: only public, not deleted events in a live status (published, on_sale, sold_out) are
 * ever seen. With q, events match websearch_to_tsquery('english', q) on their weighted document
 * (GIN index) and rank by ts_rank (ts_rank_cd ranked no better here and cost twice as much); when
 * nothing matches, events whose name is trigram-similar to q (the % operator: similarity at or
 * above pg_trgm.similarity_threshold, 0.3 by default; GIN trigram index) come by similarity
 * instead, so a typo still finds its event. Near a point, venues are first cut to the bounding box
 * (index on lat, lon), then to the great-circle radius, and the nearest come first. Facets
 * (category, city, month of the first session in UTC) and the total count every match, before limit
 * and offset; one statement, so items, total and facets come from the same snapshot.
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

/* What a hit carries: enough to order, count and facet; the page's rows get the rest. */
#define EVENT_HIT_COLUMNS "e.id, e.category, e.venue_id, e.starts_at, v.city," DISTANCE("$8", "$9")

#define LIVE_EVENT                                                                                 \
    "e.visibility = 'public' AND e.status IN ('published', 'on_sale', 'sold_out')"                 \
    " AND NOT e.is_deleted"

/* Categories are lowercase by the event aggregate's rule, so lower($2) meets the index. */
#define EVENT_FROM                                                                                 \
    " FROM rm.search_events e LEFT JOIN rm.search_venues v ON v.id = e.venue_id"                   \
    " WHERE " LIVE_EVENT " AND ($2::text IS NULL OR e.category = lower($2))"                       \
    " AND ($3::text IS NULL OR lower(v.city) = lower($3))"                                         \
    " AND ($4::timestamptz IS NULL OR e.starts_at >= $4::timestamptz)"                             \
    " AND ($5::timestamptz IS NULL OR e.starts_at <= $5::timestamptz)" NEAR_FILTER(                \
        "$8", "$9", "$10", "$11", "$12", "$13", "$14")

/* The order of hits: nearest first (near given), then best score, then soonest. */
#define HIT_ORDER "distance_km ASC NULLS LAST, score DESC NULLS LAST, starts_at ASC NULLS LAST, id"

/* hits is narrow (no text but the city) and read once by a grouping-sets scan that yields
 * the total and every facet together; only the page's rows are joined back for display. */
const char tix_search_events_sql[] =
    "WITH fts AS (SELECT " EVENT_HIT_COLUMNS
    ", ts_rank(e.document, websearch_to_tsquery('english', $1))::float8 AS score" EVENT_FROM
    " AND ($1::text IS NULL OR e.document @@ websearch_to_tsquery('english', $1))),"
    " fuzzy AS (SELECT " EVENT_HIT_COLUMNS ", similarity(e.name, $1)::float8 AS score" EVENT_FROM
    " AND $1::text IS NOT NULL AND e.name % $1 AND NOT EXISTS (SELECT 1 FROM fts)),"
    " hits AS (SELECT * FROM fts UNION ALL SELECT * FROM fuzzy),"
    " page AS (SELECT * FROM hits ORDER BY " HIT_ORDER " LIMIT $6::int OFFSET $7::int),"
    " counts AS (SELECT grouping(category, city, m) AS g, category, city, m, count(*) AS n FROM"
    " (SELECT category, city, date_trunc('month', starts_at AT TIME ZONE 'UTC') AS m FROM hits) h"
    " GROUP BY GROUPING SETS ((category), (city), (m), ()))"
    " SELECT json_build_object('items', COALESCE((SELECT json_agg(json_build_object('id', p.id,"
    " 'name', e.name, 'description', e.description, 'category', e.category, 'tags', e.tags,"
    " 'status', e.status, 'starts_at', to_json(e.starts_at)#>>'{}',"
    " 'ends_at', to_json(e.ends_at)#>>'{}', 'venue', CASE WHEN e.venue_id IS NULL THEN NULL"
    " ELSE json_build_object('id', e.venue_id, 'name', v.name, 'city', v.city,"
    " 'country', v.country) END, 'distance_km', p.distance_km, 'score', p.score)"
    " ORDER BY p.distance_km ASC NULLS LAST, p.score DESC NULLS LAST, p.starts_at ASC NULLS"
    " LAST, p.id) FROM page p JOIN rm.search_events e ON e.id = p.id"
    " LEFT JOIN rm.search_venues v ON v.id = e.venue_id), '[]'::json),"
    " 'total', COALESCE((SELECT n FROM counts WHERE g = 7), 0),"
    " 'facets', json_build_object("
    "'category', COALESCE((SELECT json_object_agg(category, n ORDER BY category) FROM counts"
    " WHERE g = 3), '{}'::json),"
    " 'city', COALESCE((SELECT json_object_agg(city, n ORDER BY city) FROM counts"
    " WHERE g = 5 AND city IS NOT NULL), '{}'::json),"
    " 'month', COALESCE((SELECT json_object_agg(to_char(m, 'YYYY-MM'), n ORDER BY m) FROM counts"
    " WHERE g = 6 AND m IS NOT NULL), '{}'::json)))::text";

/* Two branches of at most 10 rows each: names starting with q (case-insensitive, through the
 * lower(name) text_pattern_ops index, alphabetically) and, once q has 4 characters or more (a
 * typo in fewer says nothing, and their trigrams match half the catalog), names trigram-similar
 * to q (most similar first: the trigram distance <->, 1 - similarity, walked in order by the
 * GiST index, so the ten nearest cost ten, not every similar name); merged by similarity to q. */
const char tix_search_suggest_sql[] =
    "SELECT json_build_object('items', COALESCE(json_agg(json_build_object('id', s.id,"
    " 'name', s.name) ORDER BY s.score DESC, s.name, s.id), '[]'::json))::text FROM ("
    "SELECT DISTINCT ON (id) id, name, similarity(name, $1) AS score FROM ("
    "(SELECT e.id, e.name FROM rm.search_events e WHERE " LIVE_EVENT
    " AND lower(e.name) LIKE lower($2) || '%' ORDER BY lower(e.name), e.id LIMIT 10)"
    " UNION ALL (SELECT e.id, e.name FROM rm.search_events e WHERE " LIVE_EVENT
    " AND char_length($1) >= 4 AND e.name % $1 ORDER BY e.name <-> $1, e.id LIMIT 10)) b"
    " ORDER BY id) s";

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
    "WITH fts AS (SELECT " VENUE_COLUMNS ", ts_rank(" VENUE_DOCUMENT
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
