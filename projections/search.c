/* search.c - read model for public search: events with a full-text document, and venues
 *
 * Tables: search_events (one row per event with what search shows and filters on),
 * search_sessions (the sessions' spans, so starts_at and ends_at stay the min of starts and the
 * max of ends), search_ticket_types (each live type's price, tiers and hidden flag, from the sale
 * stream stock-<event_id>), search_hits (one narrow row per live public event: what search
 * filters, ranks and counts facets on, with a weighted tsvector document: name A, tags and
 * category B, description D; the city and location of its venue; the current prices of its
 * visible types), search_venues (live venues with city, country and location; a deleted
 * venue's row goes) and search_words (each distinct word of live public events' names, with the
 * number of those events whose name has it: what autocomplete corrects a typo against; an
 * event's words column holds the words it counts in, none while it is not live, so a renamed or
 * removed event takes back exactly what it added and a word no event has any more goes). A
 * search scans search_hits only and joins the display columns for the page's rows, so the rows
 * it reads are small. Venues are searched by an expression index over name,
 * city and country ('simple' text search configuration: place names are not English words) and
 * trigram indexes on name and city; the index on (lat, lon) cuts a search near a point to a
 * bounding box.
 *
 * Prices: a type's current price is its tier price (public.tix_tier_price_sold, schema/
 * 011_search_sold_tiers.sql) at the recorded time of the event's latest event and at its units
 * taken; prices_until says when the first of those prices changes by date, and a search past it
 * recomputes them (gateway/search_sql.c). Units taken follow the sale stream (same partition, so
 * in the log's order): search_holds keeps each hold's lines (and its order once placed),
 * search_takes the units held and sold per type and session (hold.placed adds, a release,
 * expiry, cancellation or refund subtracts; a bundle counts in its components as the stock
 * does), and a type's taken is the fewest of its sessions (where its price is lowest). Those
 * moves go to the unlogged search_take_moves and are added up once per pass (an on-sale's pass
 * would otherwise update the same few search_takes rows hundreds of times); each event's taken and
 * its hit's prices are then recomputed once per pass (deferred), the prices only when a type of
 * it has a step that ends after a number sold (search_ticket_types.tiers).
 *
 * Invariants: rows are a function of the events alone (times from the payload's RFC 3339
 * strings or the recorded time, cast by Postgres), so a replay from zero writes identical rows:
 * an event's hit row is recomputed from its other rows after every statement list that touches
 * the event or its ticket types, at the recorded time of that event (the event and its sale
 * share a partition, so their order is the log's), and a venue's change rewrites only the city
 * and location of its events' hits; an event.updated names only the changed fields, and only those
 * columns change. The trigram index needs pg_trgm (schema/004_search.sql), installed in schema
 * public.
 */
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "projection.h"
#include "search.h"

/* The rows search shows: the condition of gateway/search_sql.c, word for word. */
#define LIVE                                                                                       \
    "visibility = 'public' AND status IN ('published', 'on_sale', 'sold_out') AND NOT is_deleted"

/* The current prices of event id's visible types at instant at (SQL), each at its units taken,
 * and when the first of them changes by date (prices, until). */
#define PRICES_OF(id, at)                                                                          \
    "SELECT COALESCE(array_agg(DISTINCT public.tix_tier_price_sold(t.price_minor, t.tiers, " at    \
    ", t.taken)), '{}') AS prices, min(public.tix_tier_until(t.tiers, " at ")) AS until"           \
    " FROM search_ticket_types t WHERE t.event_id = " id " AND NOT t.hidden"

/* The hit rows of live public events, prices at instant at (SQL): what a search reads. */
#define HITS_INSERT(at)                                                                            \
    "INSERT INTO search_hits (id, category, city, lat, lon, starts_at, month, prices,"             \
    " price_buckets, prices_until, document) SELECT e.id, e.category, v.city, v.lat, v.lon,"       \
    " e.starts_at, to_char(e.starts_at AT TIME ZONE 'UTC', 'YYYY-MM'), p.prices,"                  \
    " public.tix_price_buckets(p.prices), p.until,"                                                \
    " setweight(to_tsvector('english', e.name), 'A') || setweight(to_tsvector('english',"          \
    " array_to_string(e.tags, ' ') || ' ' || e.category), 'B') || setweight(to_tsvector("          \
    "'english', coalesce(e.description, '')), 'D')"                                                \
    " FROM search_events e LEFT JOIN search_venues v ON v.id = e.venue_id"                         \
    " CROSS JOIN LATERAL (" PRICES_OF("e.id", at) ") p WHERE " LIVE

/* The distinct words of a row's name as a sorted text[]: lowercase, split at every run of
 * characters that are not letters or digits. */
#define NAME_WORDS                                                                                 \
    "ARRAY(SELECT DISTINCT w FROM regexp_split_to_table(lower(name), '[^[:alnum:]]+') w"           \
    " WHERE w <> '' ORDER BY w)"

/* The words of every live public event and their counts, from search_events (words empty). */
#define WORDS_FILL                                                                                 \
    "UPDATE search_events SET words = " NAME_WORDS " WHERE " LIVE ";"                              \
    " INSERT INTO search_words (word, n) SELECT w, count(*) FROM search_events, unnest(words) w"   \
    " GROUP BY w"

/* A version made before search_words: its words from its events, once. */
#define FILL_OLD_WORDS                                                                             \
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM search_words) THEN " WORDS_FILL "; END IF; END $$;"

/* A version made before search_hits: its hits from its rows, once. */
#define FILL_OLD_VERSION                                                                           \
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM search_hits) THEN " HITS_INSERT(                     \
        "now()") "; END IF; END $$;"

static const char ddl[] =
    "CREATE TABLE IF NOT EXISTS search_venues ("
    " id uuid PRIMARY KEY, name text NOT NULL, city text, country text,"
    " lat double precision, lon double precision);"
    "CREATE TABLE IF NOT EXISTS search_events ("
    " id uuid PRIMARY KEY, organization_id uuid NOT NULL, venue_id uuid, name text NOT NULL,"
    " description text, category text NOT NULL, tags text[] NOT NULL DEFAULT '{}',"
    " status text NOT NULL, visibility text NOT NULL, starts_at timestamptz,"
    " ends_at timestamptz, is_deleted boolean NOT NULL DEFAULT false);"
    "ALTER TABLE search_events ADD COLUMN IF NOT EXISTS words text[] NOT NULL DEFAULT '{}';"
    "CREATE TABLE IF NOT EXISTS search_words (word text PRIMARY KEY, n int NOT NULL);"
    "CREATE TABLE IF NOT EXISTS search_sessions ("
    " event_id uuid NOT NULL, session_id uuid NOT NULL, starts_at timestamptz NOT NULL,"
    " ends_at timestamptz NOT NULL, PRIMARY KEY (event_id, session_id));"
    "CREATE TABLE IF NOT EXISTS search_ticket_types ("
    " event_id uuid NOT NULL, id uuid NOT NULL, price_minor bigint NOT NULL, tiers jsonb,"
    " hidden boolean NOT NULL, PRIMARY KEY (event_id, id));"
    "ALTER TABLE search_ticket_types ADD COLUMN IF NOT EXISTS session_ids uuid[],"
    " ADD COLUMN IF NOT EXISTS components jsonb,"
    " ADD COLUMN IF NOT EXISTS taken bigint NOT NULL DEFAULT 0;"
    "CREATE TABLE IF NOT EXISTS search_holds ("
    " event_id uuid NOT NULL, hold_id uuid NOT NULL, order_id uuid, session_id uuid NOT NULL,"
    " lines jsonb NOT NULL, PRIMARY KEY (event_id, hold_id));"
    "CREATE INDEX IF NOT EXISTS search_holds_order ON search_holds (event_id, order_id);"
    "CREATE TABLE IF NOT EXISTS search_takes ("
    " event_id uuid NOT NULL, type_id uuid NOT NULL, session_id uuid NOT NULL,"
    " units bigint NOT NULL, PRIMARY KEY (event_id, type_id, session_id));"
    /* moves of search_takes, added up once at the end of a pass (apply_takes_sql): empty at
     * every commit, so unlogged */
    "CREATE UNLOGGED TABLE IF NOT EXISTS search_take_moves ("
    " event_id uuid NOT NULL, type_id uuid NOT NULL, session_id uuid NOT NULL,"
    " units bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS search_hits ("
    " id uuid PRIMARY KEY, category text NOT NULL, city text, lat double precision,"
    " lon double precision, starts_at timestamptz, month text, prices bigint[] NOT NULL,"
    " price_buckets int NOT NULL, prices_until timestamptz, document tsvector NOT NULL);"
    /* Indexes (redone at every start-up: a version made before one was added gets it). The
     * first releases kept the document and its indexes in search_events: they go (the column's
     * drop takes the rm view along; the runtime remakes it), and such a version's hits are made
     * from its rows at once (without prices: its ticket types come with a replay). The GIN index
     * takes every change at once (no pending list for a search to scan). */
    FILL_OLD_VERSION "ALTER TABLE search_events DROP COLUMN IF EXISTS document CASCADE;"
    "DROP INDEX IF EXISTS search_events_name_trgm;"
    "DROP INDEX IF EXISTS search_events_status_starts;"
    "DROP INDEX IF EXISTS search_events_live_starts;"
    "DROP INDEX IF EXISTS search_events_live_category;"
    "CREATE INDEX IF NOT EXISTS search_hits_document ON search_hits USING gin (document)"
    " WITH (fastupdate = off);"
    /* No parallel scans of hits: on a shared box a worker for a search of a few thousand hits
     * costs more than it saves (full text on 11,000 hits: 27 against 30 ms, docs/benchmarks.md). */
    "ALTER TABLE search_hits SET (parallel_workers = 0);"
    "CREATE INDEX IF NOT EXISTS search_hits_category ON search_hits (category, starts_at);"
    "CREATE INDEX IF NOT EXISTS search_hits_starts ON search_hits (starts_at);"
    "CREATE INDEX IF NOT EXISTS search_hits_city ON search_hits (lower(city));"
    "CREATE INDEX IF NOT EXISTS search_hits_lat_lon ON search_hits (lat, lon);"
    /* Names are still matched in search_events (typos, autocomplete), on live public rows: the
     * typo fallback through the GIN index on lower(name) (pg_trgm lowercases anyway, so
     * lower(name) % q is name % q). Autocomplete corrects a typo against the small word table
     * (GiST trigram index: nearest words first), then finds the names by word (GIN on words). */
    "DROP INDEX IF EXISTS search_events_live_name_trgm;"
    "DROP INDEX IF EXISTS search_events_live_name_gist;"
    "CREATE INDEX IF NOT EXISTS search_events_live_lower_name_trgm ON search_events"
    " USING gin (lower(name) public.gin_trgm_ops) WHERE " LIVE ";"
    "CREATE INDEX IF NOT EXISTS search_events_live_words ON search_events USING gin (words)"
    " WHERE " LIVE ";"
    "CREATE INDEX IF NOT EXISTS search_words_trgm ON search_words"
    " USING gist (word public.gist_trgm_ops);"
    "CREATE INDEX IF NOT EXISTS search_events_live_name_prefix ON search_events"
    " (lower(name) text_pattern_ops) WHERE " LIVE ";"
    "CREATE INDEX IF NOT EXISTS search_words_gone ON search_words (word) WHERE n <= 0;"
    /* A version made before search_words gets its words from its events, once. */
    FILL_OLD_WORDS "CREATE INDEX IF NOT EXISTS search_venues_city ON search_venues (lower(city));"
    "CREATE INDEX IF NOT EXISTS search_events_venue ON search_events (venue_id);"
    "CREATE INDEX IF NOT EXISTS search_venues_lat_lon ON search_venues (lat, lon);"
    "CREATE INDEX IF NOT EXISTS search_venues_document ON search_venues USING gin"
    " ((to_tsvector('simple', name || ' ' || coalesce(city, '') || ' ' || coalesce(country,"
    " ''))));"
    "CREATE INDEX IF NOT EXISTS search_venues_name_trgm ON search_venues"
    " USING gin (name public.gin_trgm_ops);"
    "CREATE INDEX IF NOT EXISTS search_venues_city_trgm ON search_venues"
    " USING gin (city public.gin_trgm_ops);";

static const char *const tables[] = {"search_venues",       "search_events", "search_sessions",
                                     "search_ticket_types", "search_hits",   "search_holds",
                                     "search_takes",        "search_words",  NULL};

const char tix_search_hits_sql[] = HITS_INSERT("$1::timestamptz");

const char tix_search_words_sql[] = WORDS_FILL;

/* The event's words now (none unless live) replace the ones it counted: each word's count moves
 * by the difference (all CTEs see the rows as they were, so old is the words before). */
static const char words_sql[] =
    "WITH old AS (SELECT words FROM search_events WHERE id = $1::uuid),"
    " new AS (UPDATE search_events SET words = CASE WHEN " LIVE " THEN " NAME_WORDS
    " ELSE '{}' END WHERE id = $1::uuid RETURNING words),"
    " d AS (SELECT w, sum(s)::int AS s FROM (SELECT unnest(words) AS w, -1 AS s FROM old"
    " UNION ALL SELECT unnest(words), 1 FROM new) x GROUP BY w HAVING sum(s) <> 0)"
    " INSERT INTO search_words (word, n) SELECT w, s FROM d ORDER BY w"
    " ON CONFLICT (word) DO UPDATE SET n = search_words.n + EXCLUDED.n";

/* A word no live event's name has any more goes (through the partial index on n <= 0). */
static const char words_gone_sql[] = "DELETE FROM search_words WHERE n <= 0";

/* One event's hit row: $1 the instant, $2 the event. */
static const char hit_sql[] = HITS_INSERT("$1::timestamptz") " AND e.id = $2::uuid";

/* Recomputes the event's span from its sessions. */
static const char refresh_sql[] =
    "UPDATE search_events e SET starts_at = s.lo, ends_at = s.hi"
    " FROM (SELECT min(starts_at) AS lo, max(ends_at) AS hi FROM search_sessions"
    " WHERE event_id = $1::uuid) s WHERE e.id = $1::uuid";

/* A venue's change reaches the hits of its events. */
static const char venue_hits_sql[] =
    "UPDATE search_hits h SET city = v.city, lat = v.lat, lon = v.lon FROM search_events e"
    " LEFT JOIN search_venues v ON v.id = e.venue_id WHERE e.venue_id = $1::uuid AND h.id = e.id";

static const char type_upsert_sql[] =
    "INSERT INTO search_ticket_types (event_id, id, price_minor, tiers, hidden, session_ids,"
    " components) SELECT $1::uuid, $2::uuid, COALESCE((t->>'price_minor')::bigint, 0),"
    " NULLIF(t->'tiers', 'null'), COALESCE((t->>'hidden')::boolean, false),"
    " CASE WHEN jsonb_typeof(t->'session_ids') = 'array' THEN ARRAY(SELECT"
    " jsonb_array_elements_text(t->'session_ids')::uuid) END, NULLIF(t->'components', 'null')"
    " FROM (SELECT $3::jsonb AS t) x ON CONFLICT (event_id, id) DO UPDATE"
    " SET price_minor = EXCLUDED.price_minor, tiers = EXCLUDED.tiers, hidden = EXCLUDED.hidden,"
    " session_ids = EXCLUDED.session_ids, components = EXCLUDED.components";

/* ---- units taken (for tiers that end after a number sold) -------------------------------- */

/* The units a hold's lines take per (type, session), from the rows of h (session_id, lines):
 * each line's units of its type in its session (a season pass: in each of its session_ids) and
 * a bundle's quantity x component quantity of each component, as commands/stock_state.c counts
 * them. One row per line and type, not grouped: the moves are added up once per pass anyway. */
#define HOLD_UNITS(h)                                                                              \
    "SELECT l.type_id, s.sid AS session_id, l0.q * l.n AS units FROM " h " CROSS JOIN LATERAL"     \
    " (SELECT (y->>'ticket_type_id')::uuid AS own, (y->>'quantity')::bigint AS q,"                 \
    " y->'session_ids' AS sids FROM jsonb_array_elements(" h ".lines) y) l0 CROSS JOIN LATERAL"    \
    " (SELECT l0.own AS type_id, 1::bigint AS n UNION ALL SELECT (c->>'ticket_type_id')::uuid,"    \
    " (c->>'quantity')::bigint FROM search_ticket_types b, jsonb_array_elements(COALESCE("         \
    "b.components, '[]')) c WHERE b.event_id = $1::uuid AND b.id = l0.own) l CROSS JOIN LATERAL"   \
    " (SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof(l0.sids) = 'array' THEN l0.sids"    \
    " ELSE jsonb_build_array(" h ".session_id) END)::uuid AS sid) s"

/* Records sign x the units of the holds h as moves of search_takes (apply_takes_sql adds them
 * up at the end of the pass). */
#define ADD_UNITS(h, sign)                                                                         \
    "INSERT INTO search_take_moves (event_id, type_id, session_id, units) SELECT $1::uuid,"        \
    " u.type_id, u.session_id, " sign " * u.units FROM (" HOLD_UNITS(h) ") u"

/* The moves recorded since the last apply, added up: a search_takes row updated at every hold
 * of a pass would grow a chain of row versions within its transaction, each update walking it
 * (an on-sale's passes take the same few rows hundreds of times). A row whose units come back
 * to 0 stays, as it did when every hold moved it. */
static const char apply_takes_sql[] =
    "WITH m AS (DELETE FROM search_take_moves RETURNING *)"
    " INSERT INTO search_takes AS k (event_id, type_id, session_id, units)"
    " SELECT event_id, type_id, session_id, sum(units)::bigint FROM m GROUP BY 1, 2, 3"
    " ORDER BY 1, 2, 3 ON CONFLICT (event_id, type_id, session_id)"
    " DO UPDATE SET units = k.units + EXCLUDED.units";

/* hold.placed: $1 event, $2 hold, $3 session, $4 lines. */
static const char hold_placed_sql[] =
    "WITH h AS (INSERT INTO search_holds (event_id, hold_id, session_id, lines) VALUES"
    " ($1::uuid, $2::uuid, $3::uuid, $4::jsonb) ON CONFLICT DO NOTHING RETURNING session_id,"
    " lines) " ADD_UNITS("h", "1");

/* The holds $2 (uuid[]) end (released or expired): their units come back. */
static const char holds_ended_sql[] =
    "WITH h AS (DELETE FROM search_holds WHERE event_id = $1::uuid AND hold_id = ANY($2::uuid[])"
    " AND order_id IS NULL RETURNING session_id, lines) " ADD_UNITS("h", "-1");

/* The pending orders $2 (uuid[]) end (cancelled or expired): their holds' units come back. */
static const char orders_ended_sql[] =
    "WITH h AS (DELETE FROM search_holds WHERE event_id = $1::uuid AND order_id = ANY($2::uuid[])"
    " RETURNING session_id, lines) " ADD_UNITS("h", "-1");

/* order.placed: $2 the order, $3 its hold. */
static const char order_placed_sql[] =
    "UPDATE search_holds SET order_id = $2::uuid WHERE event_id = $1::uuid AND hold_id = $3::uuid";

/* order.refund_granted: $2 the order, $3 the lines its voided tickets give back. */
static const char refund_granted_sql[] =
    "WITH h AS (SELECT session_id, $3::jsonb AS lines FROM search_holds WHERE event_id = $1::uuid"
    " AND order_id = $2::uuid) " ADD_UNITS("h", "-1");

/* True (SQL) when a type of event $1 has a step that ends after a number sold. */
#define HAS_COUNT_STEP                                                                             \
    " EXISTS (SELECT 1 FROM search_ticket_types x WHERE x.event_id = $1::uuid AND"                 \
    " jsonb_path_exists(x.tiers, '$[*].until_sold'))"

/* Each type's units taken: the fewest of the sessions it is sold in (where its price is lowest).
 * Deferred (once per pass, after the moves are added up) and kept for every event, count step or
 * not: a pass's last ask sees the tables as the pass leaves them whatever its other events did,
 * so live and replay write the same rows. A type whose figure did not move is not rewritten. */
static const char taken_sql[] =
    "UPDATE search_ticket_types t SET taken = v.taken FROM (SELECT y.id, COALESCE((SELECT"
    " min(COALESCE(k.units, 0)) FROM search_sessions s LEFT JOIN search_takes k"
    " ON k.event_id = s.event_id AND k.type_id = y.id AND k.session_id = s.session_id"
    " WHERE s.event_id = y.event_id AND (y.session_ids IS NULL OR"
    " s.session_id = ANY(y.session_ids))), 0) AS taken FROM search_ticket_types y"
    " WHERE y.event_id = $1::uuid) v WHERE t.event_id = $1::uuid AND t.id = v.id"
    " AND t.taken <> v.taken";

/* The event's hit prices at $2, when a type of it has a step that ends after a number sold.
 * Deferred with the time of the pass's last event that asked (tix_stmts_defer_latest), after
 * taken_sql: what the last of the per-event rewrites would have left. */
#define HIT_PRICES_FROM PRICES_OF("$1::uuid", "$2::timestamptz")
static const char hit_prices_sql[] =
    "UPDATE search_hits h SET prices = p.prices, price_buckets = public.tix_price_buckets("
    "p.prices), prices_until = p.until FROM (" HIT_PRICES_FROM
    ") p WHERE h.id = $1::uuid AND" HAS_COUNT_STEP;

static const char event_created_sql[] =
    "INSERT INTO search_events (id, organization_id, venue_id, name, description, category, tags,"
    " status, visibility) SELECT (x.d->>'event_id')::uuid, (x.d->>'organization_id')::uuid,"
    " (x.d->>'venue_id')::uuid, x.d->>'name', x.d->>'description', x.d->>'category',"
    " ARRAY(SELECT jsonb_array_elements_text(COALESCE(NULLIF(x.d->'tags', 'null'), '[]'))),"
    " 'draft', x.d->>'visibility' FROM (SELECT $1::jsonb AS d) x ON CONFLICT (id) DO NOTHING";

/* An absent key keeps its column; a present one replaces it. */
static const char event_updated_sql[] =
    "UPDATE search_events SET"
    " name = CASE WHEN x.d ? 'name' THEN x.d->>'name' ELSE name END,"
    " description = CASE WHEN x.d ? 'description' THEN x.d->>'description' ELSE description END,"
    " category = CASE WHEN x.d ? 'category' THEN x.d->>'category' ELSE category END,"
    " tags = CASE WHEN x.d ? 'tags' THEN ARRAY(SELECT jsonb_array_elements_text("
    "COALESCE(NULLIF(x.d->'tags', 'null'), '[]'))) ELSE tags END,"
    " visibility = CASE WHEN x.d ? 'visibility' THEN x.d->>'visibility' ELSE visibility END,"
    " venue_id = CASE WHEN x.d ? 'venue_id' THEN (x.d->>'venue_id')::uuid ELSE venue_id END"
    " FROM (SELECT $2::jsonb AS d) x WHERE id = $1::uuid";

static const char session_sql[] =
    "INSERT INTO search_sessions (event_id, session_id, starts_at, ends_at)"
    " VALUES ($1::uuid, $2::uuid, $3::timestamptz, $4::timestamptz)"
    " ON CONFLICT (event_id, session_id) DO UPDATE SET starts_at = EXCLUDED.starts_at,"
    " ends_at = EXCLUDED.ends_at";

static const char venue_upsert_sql[] =
    "INSERT INTO search_venues (id, name, city, country, lat, lon) SELECT $1::uuid, $2,"
    " $3::jsonb->>'city', $3::jsonb->>'country', ($4::jsonb->>'lat')::double precision,"
    " ($4::jsonb->>'lon')::double precision ON CONFLICT (id) DO NOTHING";

static const char venue_updated_sql[] =
    "UPDATE search_venues SET name = COALESCE($2, name),"
    " city = CASE WHEN $3::jsonb IS NULL THEN city ELSE $3::jsonb->>'city' END,"
    " country = CASE WHEN $3::jsonb IS NULL THEN country ELSE $3::jsonb->>'country' END,"
    " lat = CASE WHEN $4::jsonb IS NULL THEN lat ELSE ($4::jsonb->>'lat')::double precision END,"
    " lon = CASE WHEN $4::jsonb IS NULL THEN lon ELSE ($4::jsonb->>'lon')::double precision END"
    " WHERE id = $1::uuid";

/* JSON text of d's member key (new string, free it); NULL when absent. */
static char *member_json(const json_t *d, const char *key)
{
    const json_t *v = json_object_get(d, key);
    return v != NULL ? tix_json_dump(v) : NULL;
}

static bool is_session(const json_t *s)
{
    return json_is_object(s) && tix_uuid_is_valid(tix_json_str(s, "session_id")) &&
           tix_json_str(s, "starts_at") != NULL && tix_json_str(s, "ends_at") != NULL;
}

static void add_session(const char *event_id, const json_t *s, struct tix_stmts *out)
{
    tix_stmts_add(out, session_sql, 4, event_id, tix_json_str(s, "session_id"),
                  tix_json_str(s, "starts_at"), tix_json_str(s, "ends_at"));
}

static bool are_strings(const json_t *a)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        if (!json_is_string(json_array_get(a, i)))
            return false;
    return true;
}

static enum tix_rc on_event_created(const char *id, const json_t *d, struct tix_stmts *out)
{
    const json_t *venue = json_object_get(d, "venue_id");
    const json_t *tags = json_object_get(d, "tags");
    const json_t *sessions = json_object_get(d, "sessions");
    if (!tix_uuid_is_valid(tix_json_str(d, "organization_id")) || tix_json_str(d, "name") == NULL ||
        tix_json_str(d, "category") == NULL || tix_json_str(d, "visibility") == NULL ||
        (venue != NULL && !json_is_null(venue) && !tix_uuid_is_valid(json_string_value(venue))) ||
        (tags != NULL && !json_is_null(tags) && !json_is_array(tags)) || !are_strings(tags) ||
        !json_is_array(sessions))
        return TIX_EINVAL;
    for (size_t i = 0; i < json_array_size(sessions); i++)
        if (!is_session(json_array_get(sessions, i)))
            return TIX_EINVAL;
    char *doc = tix_json_dump(d);
    tix_stmts_add(out, event_created_sql, 1, doc);
    free(doc);
    for (size_t i = 0; i < json_array_size(sessions); i++)
        add_session(id, json_array_get(sessions, i), out);
    return TIX_OK;
}

static enum tix_rc on_event_updated(const char *id, const json_t *d, struct tix_stmts *out)
{
    const json_t *tags = json_object_get(d, "tags");
    const json_t *venue = json_object_get(d, "venue_id");
    if ((tags != NULL && !json_is_array(tags) && !json_is_null(tags)) || !are_strings(tags) ||
        (venue != NULL && !json_is_null(venue) && !tix_uuid_is_valid(json_string_value(venue))))
        return TIX_EINVAL;
    char *doc = tix_json_dump(d);
    tix_stmts_add(out, event_updated_sql, 2, id, doc);
    free(doc);
    return TIX_OK;
}

static enum tix_rc on_session(const char *type, const char *id, const json_t *d,
                              struct tix_stmts *out)
{
    /* a called-off session is no date of the event's any more, and sells nothing */
    if (strcmp(type, "event.session_removed") == 0 ||
        strcmp(type, "event.session_cancelled") == 0) {
        const char *session_id = tix_json_str(d, "session_id");
        if (!tix_uuid_is_valid(session_id))
            return TIX_EINVAL;
        tix_stmts_add(out,
                      "DELETE FROM search_sessions WHERE event_id = $1::uuid AND"
                      " session_id = $2::uuid",
                      2, id, session_id);
        return TIX_OK;
    }
    const json_t *session = json_object_get(d, "session");
    if (!is_session(session))
        return TIX_EINVAL;
    add_session(id, session, out);
    return TIX_OK;
}

/* Adds nothing unless TIX_OK; TIX_ENOTFOUND for a type it does not handle (not reached). */
static enum tix_rc on_event(const char *type, const char *id, const json_t *d,
                            struct tix_stmts *out)
{
    if (strcmp(type, "event.created") == 0)
        return on_event_created(id, d, out);
    if (strcmp(type, "event.updated") == 0)
        return on_event_updated(id, d, out);
    if (strncmp(type, "event.session_", strlen("event.session_")) == 0)
        return on_session(type, id, d, out);
    if (strcmp(type, "event.deleted") == 0) {
        tix_stmts_add(out, "UPDATE search_events SET is_deleted = true WHERE id = $1::uuid", 1, id);
        return TIX_OK;
    }
    const char *status = tix_event_status_after(type);
    if (status != NULL) {
        tix_stmts_add(out, "UPDATE search_events SET status = $2 WHERE id = $1::uuid", 2, id,
                      status);
        return TIX_OK;
    }
    return TIX_ENOTFOUND;
}

static enum tix_rc on_venue(const char *type, const char *id, const json_t *d,
                            struct tix_stmts *out)
{
    if (strcmp(type, "venue.deleted") == 0) {
        tix_stmts_add(out, "DELETE FROM search_venues WHERE id = $1::uuid", 1, id);
        return TIX_OK;
    }
    bool is_created = strcmp(type, "venue.created") == 0;
    if (!is_created && strcmp(type, "venue.updated") != 0)
        return TIX_ENOTFOUND;
    const json_t *addr = json_object_get(d, "address");
    const json_t *loc = json_object_get(d, "location");
    if ((is_created && (tix_json_str(d, "name") == NULL || !json_is_object(addr))) ||
        (addr != NULL && !json_is_object(addr)) ||
        (loc != NULL && !json_is_object(loc) && !json_is_null(loc)))
        return TIX_EINVAL;
    char *address = member_json(d, "address");
    char *location = member_json(d, "location");
    tix_stmts_add(out, is_created ? venue_upsert_sql : venue_updated_sql, 4, id,
                  tix_json_str(d, "name"), address, location);
    free(address);
    free(location);
    return TIX_OK;
}

/* A type's price, tiers and hidden flag (created, updated: the whole type), or its end. */
static enum tix_rc on_ticket_type(const char *type, const char *id, const json_t *d,
                                  struct tix_stmts *out)
{
    if (strcmp(type, "ticket_type.deleted") == 0) {
        const char *type_id = tix_json_str(d, "ticket_type_id");
        if (!tix_uuid_is_valid(type_id))
            return TIX_EINVAL;
        tix_stmts_add(out,
                      "DELETE FROM search_ticket_types WHERE event_id = $1::uuid AND"
                      " id = $2::uuid",
                      2, id, type_id);
        return TIX_OK;
    }
    const json_t *t = json_object_get(d, "ticket_type");
    const char *type_id = tix_json_str(t, "ticket_type_id");
    if (!json_is_object(t) || !tix_uuid_is_valid(type_id))
        return TIX_EINVAL;
    char *doc = tix_json_dump(t);
    tix_stmts_add(out, type_upsert_sql, 3, id, type_id, doc);
    free(doc);
    return TIX_OK;
}

/* A uuid[] literal of the string array a ("{...}", new string); NULL when a is not one. */
static char *uuid_array(const json_t *a)
{
    if (!json_is_array(a))
        return NULL;
    json_t *copy = json_array();
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *id = json_string_value(json_array_get(a, i));
        if (!tix_uuid_is_valid(id)) {
            json_decref(copy);
            return NULL;
        }
        json_array_append_new(copy, json_string(id));
    }
    char *text = tix_json_dump(copy); /* ["a","b"]: uuids need no quoting */
    json_decref(copy);
    text[0] = '{';
    text[strlen(text) - 1] = '}';
    for (char *p = text; *p != '\0'; p++)
        if (*p == '"')
            *p = ' ';
    return text;
}

/* The stock event's statements on the units taken; TIX_ENOTFOUND for another type. */
static enum tix_rc on_stock(const char *type, const char *id, const json_t *d,
                            struct tix_stmts *out)
{
    bool is_placed = strcmp(type, "hold.placed") == 0;
    if (is_placed || strcmp(type, "order.refund_granted") == 0) {
        const char *key = is_placed ? tix_json_str(d, "hold_id") : tix_json_str(d, "order_id");
        const char *session = tix_json_str(d, "session_id");
        if (!tix_uuid_is_valid(key) || (is_placed && !tix_uuid_is_valid(session)) ||
            !json_is_array(json_object_get(d, "lines")))
            return TIX_EINVAL;
        char *lines = member_json(d, "lines");
        if (is_placed)
            tix_stmts_add(out, hold_placed_sql, 4, id, key, session, lines);
        else
            tix_stmts_add(out, refund_granted_sql, 3, id, key, lines);
        free(lines);
        return TIX_OK;
    }
    if (strcmp(type, "order.placed") == 0) {
        const char *order = tix_json_str(d, "order_id"), *hold = tix_json_str(d, "hold_id");
        if (!tix_uuid_is_valid(order) || !tix_uuid_is_valid(hold))
            return TIX_EINVAL;
        tix_stmts_add(out, order_placed_sql, 3, id, order, hold);
        return TIX_OK;
    }
    /* what ends holds or pending orders; a called-off sale or session names both, each list
     * only when not empty */
    static const struct {
        const char *type, *key;
        bool is_list, is_order, is_optional;
    } ends[] = {
        {"hold.released", "hold_id", false, false, false},
        {"hold.expired", "hold_ids", true, false, false},
        {"order.cancelled", "order_id", false, true, false},
        {"order.expired", "order_ids", true, true, false},
        {"stock.sale_cancelled", "hold_ids", true, false, true},
        {"stock.sale_cancelled", "cancelled_order_ids", true, true, true},
        {"stock.session_cancelled", "hold_ids", true, false, true},
        {"stock.session_cancelled", "cancelled_order_ids", true, true, true},
    };
    enum tix_rc rc = TIX_ENOTFOUND;
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]) && rc != TIX_EINVAL; i++) {
        if (strcmp(type, ends[i].type) != 0)
            continue;
        rc = TIX_OK;
        const json_t *v = json_object_get(d, ends[i].key);
        if (v == NULL && ends[i].is_optional)
            continue;
        json_t *list = ends[i].is_list ? json_incref((json_t *)v) : json_pack("[O?]", v);
        char *ids = uuid_array(list);
        json_decref(list);
        if (ids == NULL)
            return TIX_EINVAL;
        tix_stmts_add(out, ends[i].is_order ? orders_ended_sql : holds_ended_sql, 2, id, ids);
        free(ids);
    }
    return rc;
}

/* Rewrites the event's hit row (or drops it when the event is not live) at instant at. */
static void refresh_hit(const char *id, const char *at, struct tix_stmts *out)
{
    tix_stmts_add(out, "DELETE FROM search_hits WHERE id = $1::uuid", 1, id);
    tix_stmts_add(out, hit_sql, 2, at, id);
}

/* Asks for the event's units taken and its hit's prices at at, once per pass after its last
 * event (the latest ask's instant). */
static void ask_prices(const char *id, const char *at, struct tix_stmts *out)
{
    tix_stmts_defer(out, taken_sql, 1, id);
    tix_stmts_defer_latest(out, hit_prices_sql, 2, id, at);
}

static bool is_known(const char *type)
{
    static const char *const types[] = {
        "event.created",
        "event.updated",
        "event.deleted",
        "event.session_added",
        "event.session_updated",
        "event.session_removed",
        "event.session_cancelled",
        "stock.sale_cancelled",
        "stock.session_cancelled",
        "venue.created",
        "venue.updated",
        "venue.deleted",
        "ticket_type.created",
        "ticket_type.updated",
        "ticket_type.deleted",
        "hold.placed",
        "hold.released",
        "hold.expired",
        "order.placed",
        "order.cancelled",
        "order.expired",
        "order.refund_granted",
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i], type) == 0)
            return true;
    return tix_event_status_after(type) != NULL;
}

static enum tix_rc apply(const struct tix_event *e, struct tix_stmts *out)
{
    if (!is_known(e->type))
        return TIX_OK;
    bool is_venue = strncmp(e->type, "venue.", strlen("venue.")) == 0;
    bool is_type = strncmp(e->type, "ticket_type.", strlen("ticket_type.")) == 0;
    bool is_stock = strncmp(e->type, "hold.", strlen("hold.")) == 0 ||
                    strncmp(e->type, "order.", strlen("order.")) == 0 ||
                    strncmp(e->type, "stock.", strlen("stock.")) == 0;
    /* whatever this event moves, the pass adds up before it ends, ahead of what reads it
     * (deferred statements run in the order first asked, each once) */
    tix_stmts_defer(out, apply_takes_sql, 0);
    json_t *d = tix_json_parse(e->data, strlen(e->data), NULL);
    const char *id = tix_json_str(d, is_venue ? "venue_id" : "event_id");
    enum tix_rc rc = TIX_EINVAL;
    if (json_is_object(d) && tix_uuid_is_valid(id))
        rc = is_venue   ? on_venue(e->type, id, d, out)
             : is_type  ? on_ticket_type(e->type, id, d, out)
             : is_stock ? on_stock(e->type, id, d, out)
                        : on_event(e->type, id, d, out);
    char at[32];
    tix_time_format(e->recorded_at_us, at);
    if (rc == TIX_OK && is_venue) {
        tix_stmts_add(out, venue_hits_sql, 1, id);
    } else if (rc == TIX_OK && is_stock) { /* an order takes what its hold took */
        if (strcmp(e->type, "order.placed") != 0)
            ask_prices(id, at, out);
    } else if (rc == TIX_OK) {
        if (!is_type)
            tix_stmts_add(out, refresh_sql, 1, id);
        refresh_hit(id, at, out);
        ask_prices(id, at, out); /* the hit's prices at the types' units taken */
        if (!is_type) { /* only an event's own events change its name or whether it is live */
            tix_stmts_add(out, words_sql, 1, id);
            tix_stmts_add(out, words_gone_sql, 0);
        }
    }
    json_decref(d);
    return rc == TIX_OK ? TIX_OK : TIX_EINVAL;
}

const struct tix_projection tix_projection_search = {
    .name = "search",
    .source = TIX_SOURCE_EVENTS,
    .ddl = ddl,
    .tables = tables,
    .apply = apply,
    .is_cross_partition = true,
};
