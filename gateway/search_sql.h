/* search_sql.h - the SQL of public search, shared by the gateway (gateway/http_search.c) and
 * the search benchmark (bench/search.c), so the benchmark measures exactly what is served
 *
 * Each statement answers one request with one row, one column: the JSON text of the answer.
 * Parameters are text (NULL: not given) and checked by the caller before they reach SQL.
 * Every statement reads the rm views of the search projection (projections/search.c) and the
 * distance function of schema/005_geo.sql.
 */
#ifndef TIX_GATEWAY_SEARCH_SQL_H
#define TIX_GATEWAY_SEARCH_SQL_H

/* Public live events. $1 q, $2 category, $3 city, $4 from, $5 to (RFC 3339), $6 limit,
 * $7 offset, $8 lat, $9 lon, $10 radius_km, $11 min_lat, $12 max_lat, $13 min_lon, $14 max_lon
 * (the near parameters all given or all NULL), $15 price_min, $16 price_max (minor units, -1:
 * unbounded). Answer: {items, total, facets}. */
#define TIX_SEARCH_EVENTS_PARAMS 16
extern const char tix_search_events_sql[];
/* The fallback when a search with q finds nothing: events whose name is trigram-similar to q,
 * most similar first, with the same parameters, filters and answer. */
extern const char tix_search_events_fuzzy_sql[];

/* Up to 10 public live event names like $1 (trigram) or starting with $2 (an ILIKE prefix, its
 * % _ \ escaped). Answer: {items: [{id, name}]}. */
#define TIX_SEARCH_SUGGEST_PARAMS 2
extern const char tix_search_suggest_sql[];

/* Venues. $1 q, $2 city, $3 limit, $4 offset, $5..$11 as $8..$14 of the events search.
 * Answer: {items, total, facets: {city}}. */
#define TIX_SEARCH_VENUES_PARAMS 11
extern const char tix_search_venues_sql[];

/* s with the ILIKE pattern characters % _ \ escaped (a new string, free()). Thread-safe. */
char *tix_search_like_escape(const char *s);

#endif
