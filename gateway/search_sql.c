/* search_sql.c - the statements of public search (see search_sql.h)
 *
 * Events: only public, not deleted events in a live status (published, on_sale, sold_out) are
 * ever seen: their narrow rows of search_hits (projections/search.c), which carry everything a
 * search filters, ranks and counts on. With q, hits match websearch_to_tsquery('english', q) on
 * their weighted document (GIN index) and rank by ts_rank (ts_rank_cd ranked no better here and
 * cost twice as much); when nothing matches, events whose name is trigram-similar to q (the %
 * operator: similarity at or above pg_trgm.similarity_threshold, 0.3 by default) come by
 * similarity instead, so a typo still finds its event: written lower(e.name) % $1 (the same
 * test: pg_trgm lowercases both sides) so that the GIN trigram index on lower(name) serves it
 * (a GiST trigram index's % search reads the whole index: about 2.5 times the CPU on 100k
 * events). Near a
 * point, hits are first cut to the bounding box (index on lat, lon), then to the great-circle
 * radius, and the nearest come first. A price range keeps the events one of whose visible ticket
 * types currently costs that much (as GET /events does). Facets (category, city, month of the
 * first session in UTC, price bucket) and the total count every match, before limit and offset;
 * one statement, so items, total and facets come from the same snapshot. An event counts in each
 * price bucket one of its prices falls in, so a bucket's count is the total of a search for its
 * range.
 *
 * Full text and the fuzzy fallback are two statements (the caller runs the second when the
 * first finds nothing): each plans less and reads its matches once.
 */
#include <string.h>

#include "tix/mem.h"

#include "search_sql.h"

/* The near filter on alias a (lat, lon columns); the parameter numbers of lat, lon, radius and
 * the box. */
#define NEAR_FILTER(a, lat, lon, r, b1, b2, b3, b4)                                                \
    " AND (" lat "::float8 IS NULL OR (" a ".lat BETWEEN " b1 "::float8 AND " b2 "::float8"        \
    " AND " a ".lon BETWEEN " b3 "::float8 AND " b4 "::float8"                                     \
    " AND public.tix_distance_km(" lat "::float8, " lon "::float8, " a ".lat, " a ".lon) <= " r    \
    "::float8))"

#define DISTANCE(a, lat, lon)                                                                      \
    " CASE WHEN " lat "::float8 IS NULL THEN NULL ELSE round(public.tix_distance_km(" lat          \
    "::float8, " lon "::float8, " a ".lat, " a ".lon)::numeric, 3)::float8 END AS distance_km"

/* A hit's prices are current until prices_until; past it, they are its visible types' tier
 * prices now (schema/010_search_prices.sql). */
#define IS_CURRENT " (h.prices_until IS NULL OR h.prices_until > now())"
#define PRICES_NOW "public.tix_search_prices_now(h.id)"

#define PRICES "CASE WHEN" IS_CURRENT " THEN h.prices ELSE " PRICES_NOW " END"

/* What a hit carries: enough to order, count and facet; the page's rows get the rest. */
#define HIT_COLUMNS                                                                                \
    "h.id, h.category, h.city, h.month, h.starts_at, CASE WHEN" IS_CURRENT " THEN h.price_buckets" \
    " ELSE public.tix_price_buckets(" PRICES_NOW ") END AS buckets," DISTANCE("h", "$8", "$9")

#define LIVE_EVENT                                                                                 \
    "e.visibility = 'public' AND e.status IN ('published', 'on_sale', 'sold_out')"                 \
    " AND NOT e.is_deleted"

/* The bits of the price buckets (schema/010_search_prices.sql) that meet the range [$15, $16]
 * (-1: unbounded): computed once per statement. */
#define RANGE_BUCKETS                                                                              \
    "(SELECT COALESCE(bit_or(1 << b.i), 0) FROM (VALUES (0, 0, 0), (1, 1, 1999), (2, 2000, 4999)," \
    " (3, 5000, 9999), (4, 10000, NULL)) b(i, lo, hi) WHERE ($16::bigint < 0 OR b.lo <="           \
    " $16::bigint) AND ($15::bigint < 0 OR b.hi IS NULL OR b.hi >= $15::bigint))"

/* Categories are lowercase by the event aggregate's rule, so lower($2) meets the index. A price
 * range keeps hits one of whose prices is in [$15, $16] (-1: unbounded); a hit whose prices are
 * current and none of whose buckets meets the range is dropped by its bucket bits before its
 * prices are looked at. */
#define HIT_FILTERS                                                                                \
    " ($2::text IS NULL OR h.category = lower($2))"                                                \
    " AND ($3::text IS NULL OR lower(h.city) = lower($3))"                                         \
    " AND ($4::timestamptz IS NULL OR h.starts_at >= $4::timestamptz)"                             \
    " AND ($5::timestamptz IS NULL OR h.starts_at <= $5::timestamptz)" NEAR_FILTER(                \
        "h", "$8", "$9", "$10", "$11", "$12", "$13",                                               \
        "$14") " AND (($15::bigint < 0 AND $16::bigint < 0) OR ((NOT" IS_CURRENT                   \
               " OR h.price_buckets & " RANGE_BUCKETS " <> 0) AND EXISTS (SELECT 1 FROM "          \
               "unnest(" PRICES ") p"                                                              \
               " WHERE ($15::bigint < 0 OR p >= $15::bigint) AND ($16::bigint < 0 OR p <= "        \
               "$16::bigint))))"

/* The full-text branch's rows: every hit without q. */
#define FTS_FROM                                                                                   \
    " FROM rm.search_hits h WHERE" HIT_FILTERS                                                     \
    " AND ($1::text IS NULL OR h.document @@ websearch_to_tsquery('english', $1))"

/* The answer from the matches, which the statement hits selects (narrow rows: no text but the
 * category, city and month): one aggregate (public.tix_hits, pg/tixmo_pg.c) reads them once and
 * returns the total, every facet and the first limit + offset hits in the page's order; only
 * the page's rows are joined back for display. */
#define EVENTS_ANSWER(hits)                                                                        \
    "WITH agg AS (SELECT public.tix_hits(distance_km, score, starts_at, id, category, city,"       \
    " month, buckets, $6::int + $7::int) AS j FROM (" hits ") hits),"                              \
    " page AS (SELECT (x.p->>0)::uuid AS id, (x.p->>1)::float8 AS distance_km,"                    \
    " (x.p->>2)::float8 AS score, x.o FROM agg, json_array_elements(agg.j->'page')"                \
    " WITH ORDINALITY x(p, o) WHERE x.o > $7::int)"                                                \
    " SELECT json_build_object('items', COALESCE((SELECT json_agg(json_build_object('id', p.id,"   \
    " 'name', e.name, 'description', e.description, 'category', e.category, 'tags', e.tags,"       \
    " 'status', e.status, 'starts_at', to_json(e.starts_at)#>>'{}',"                               \
    " 'ends_at', to_json(e.ends_at)#>>'{}', 'venue', CASE WHEN e.venue_id IS NULL THEN NULL"       \
    " ELSE json_build_object('id', e.venue_id, 'name', v.name, 'city', v.city,"                    \
    " 'country', v.country) END, 'price_min_minor', (SELECT min(x) FROM unnest(" PRICES ") x),"    \
    " 'price_max_minor', (SELECT max(x) FROM unnest(" PRICES ") x),"                               \
    " 'distance_km', p.distance_km, 'score', p.score) ORDER BY p.o)"                               \
    " FROM page p JOIN rm.search_events e ON e.id = p.id JOIN rm.search_hits h ON h.id = p.id"     \
    " LEFT JOIN rm.search_venues v ON v.id = e.venue_id), '[]'::json),"                            \
    " 'total', (SELECT j->'total' FROM agg), 'facets', (SELECT j->'facets' FROM agg))::text"

const char tix_search_events_sql[] = EVENTS_ANSWER(
    "SELECT " HIT_COLUMNS
    ", ts_rank(h.document, websearch_to_tsquery('english', $1))::float8 AS score" FTS_FROM);

const char tix_search_events_fuzzy_sql[] =
    EVENTS_ANSWER("SELECT " HIT_COLUMNS ", similarity(e.name, $1)::float8 AS score"
                  " FROM rm.search_events e JOIN rm.search_hits h ON h.id = e.id WHERE " LIVE_EVENT
                  " AND" HIT_FILTERS " AND lower(e.name) % $1");

/* Two branches: names starting with q (case-insensitive, through the lower(name)
 * text_pattern_ops index, alphabetically, at most 10) and, once q has 4 characters or more (a
 * typo in fewer says nothing, and their trigrams match half the catalog), q corrected to a word:
 * the 3 words of live names (rm.search_words, about one row per distinct word, not per event)
 * that q is most like as the start of a word (pg_trgm's word similarity <%, at or above
 * pg_trgm.word_similarity_threshold, 0.6 by default; nearest first through the GiST index), and
 * for each, at most 10 live events whose name has it (GIN index on words), alphabetically. Then
 * the 10 most similar to q (similarity of the whole name), each event once. */
const char tix_search_suggest_sql[] =
    "SELECT json_build_object('items', COALESCE(json_agg(json_build_object('id', s.id,"
    " 'name', s.name) ORDER BY s.score DESC, s.name, s.id), '[]'::json))::text FROM ("
    "SELECT id, name, score FROM (SELECT DISTINCT ON (id) id, name, similarity(name, $1) AS score"
    " FROM ((SELECT e.id, e.name FROM rm.search_events e WHERE " LIVE_EVENT
    " AND lower(e.name) LIKE lower($2) || '%' ORDER BY lower(e.name), e.id LIMIT 10)"
    " UNION ALL (SELECT e.id, e.name FROM (SELECT w.word FROM rm.search_words w"
    " WHERE char_length($1) >= 4 AND $1 <% w.word ORDER BY $1 <<-> w.word, w.word LIMIT 3) w"
    " CROSS JOIN LATERAL (SELECT e.id, e.name FROM rm.search_events e WHERE " LIVE_EVENT
    " AND e.words @> ARRAY[w.word] ORDER BY lower(e.name), e.id LIMIT 10) e)) b ORDER BY id) d"
    " ORDER BY score DESC, name, id LIMIT 10) s";

/* The venue's document: the expression of the search_venues_document index. */
#define VENUE_DOCUMENT                                                                             \
    "to_tsvector('simple', v.name || ' ' || coalesce(v.city, '') || ' ' || coalesce(v.country,"    \
    " ''))"

#define VENUE_COLUMNS "v.id, v.name, v.city, v.country, v.lat, v.lon," DISTANCE("v", "$5", "$6")

#define VENUE_FROM                                                                                 \
    " FROM rm.search_venues v WHERE ($2::text IS NULL OR lower(v.city) = lower($2))" NEAR_FILTER(  \
        "v", "$5", "$6", "$7", "$8", "$9", "$10", "$11")

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
