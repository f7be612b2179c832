/* search.c - read model for public search: events with a full-text document, and venues
 *
 * Tables: search_events (one row per event with the fields search filters on and a weighted
 * tsvector document: name A, tags and category B, description D), search_sessions (the
 * sessions' spans, so starts_at and ends_at stay the min of starts and the max of ends) and
 * search_venues (live venues with city, country and location; a deleted venue's row goes).
 * Venues are searched by an expression index over name, city and country ('simple' text search
 * configuration: place names are not English words) and trigram indexes on name and city; the
 * index on (lat, lon) cuts a search near a point to a bounding box.
 *
 * Invariants: rows are a function of the events alone (times from the payload's RFC 3339
 * strings, cast by Postgres), so a replay from zero writes identical rows; the document is
 * recomputed in SQL after every statement list that touches an event, from the row itself;
 * an event.updated names only the changed fields, and only those columns change. The trigram
 * index needs pg_trgm (schema/004_search.sql), installed in schema public.
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

static const char ddl[] =
    "CREATE TABLE IF NOT EXISTS search_venues ("
    " id uuid PRIMARY KEY, name text NOT NULL, city text, country text,"
    " lat double precision, lon double precision);"
    "CREATE TABLE IF NOT EXISTS search_events ("
    " id uuid PRIMARY KEY, organization_id uuid NOT NULL, venue_id uuid, name text NOT NULL,"
    " description text, category text NOT NULL, tags text[] NOT NULL DEFAULT '{}',"
    " status text NOT NULL, visibility text NOT NULL, starts_at timestamptz,"
    " ends_at timestamptz, is_deleted boolean NOT NULL DEFAULT false,"
    " document tsvector NOT NULL DEFAULT ''::tsvector);"
    "CREATE TABLE IF NOT EXISTS search_sessions ("
    " event_id uuid NOT NULL, session_id uuid NOT NULL, starts_at timestamptz NOT NULL,"
    " ends_at timestamptz NOT NULL, PRIMARY KEY (event_id, session_id));"
    /* Indexes (redone at every start-up: a version made before one was added gets it). Search
     * only ever reads live public events, so the big ones are partial on exactly the search's
     * condition (the planner proves the implication); the first release's full ones go. */
    "DROP INDEX IF EXISTS search_events_document;"
    "DROP INDEX IF EXISTS search_events_name_trgm;"
    "DROP INDEX IF EXISTS search_events_status_starts;"
    "CREATE INDEX IF NOT EXISTS search_events_live_document ON search_events USING gin (document)"
    " WHERE " LIVE ";"
    "CREATE INDEX IF NOT EXISTS search_events_live_name_trgm ON search_events"
    " USING gin (name public.gin_trgm_ops) WHERE " LIVE ";"
    "CREATE INDEX IF NOT EXISTS search_events_live_starts ON search_events (starts_at) WHERE " LIVE
    ";"
    "CREATE INDEX IF NOT EXISTS search_events_live_category ON search_events (category, starts_at)"
    " WHERE " LIVE ";"
    "CREATE INDEX IF NOT EXISTS search_events_live_name_gist ON search_events"
    " USING gist (name public.gist_trgm_ops) WHERE " LIVE ";"
    "CREATE INDEX IF NOT EXISTS search_events_live_name_prefix ON search_events"
    " (lower(name) text_pattern_ops) WHERE " LIVE ";"
    "CREATE INDEX IF NOT EXISTS search_venues_city ON search_venues (lower(city));"
    "CREATE INDEX IF NOT EXISTS search_events_venue ON search_events (venue_id);"
    "CREATE INDEX IF NOT EXISTS search_venues_lat_lon ON search_venues (lat, lon);"
    "CREATE INDEX IF NOT EXISTS search_venues_document ON search_venues USING gin"
    " ((to_tsvector('simple', name || ' ' || coalesce(city, '') || ' ' || coalesce(country,"
    " ''))));"
    "CREATE INDEX IF NOT EXISTS search_venues_name_trgm ON search_venues"
    " USING gin (name public.gin_trgm_ops);"
    "CREATE INDEX IF NOT EXISTS search_venues_city_trgm ON search_venues"
    " USING gin (city public.gin_trgm_ops);";

static const char *const tables[] = {"search_venues", "search_events", "search_sessions", NULL};

#define DOCUMENT                                                                                   \
    "setweight(to_tsvector('english', name), 'A')"                                                 \
    " || setweight(to_tsvector('english', array_to_string(tags, ' ') || ' ' || category), 'B')"    \
    " || setweight(to_tsvector('english', coalesce(description, '')), 'D')"

const char tix_search_document_sql[] = DOCUMENT;

/* Recomputes the event's span and document from its row and sessions. */
static const char refresh_sql[] =
    "UPDATE search_events e SET starts_at = s.lo, ends_at = s.hi, document = " DOCUMENT
    " FROM (SELECT min(starts_at) AS lo, max(ends_at) AS hi FROM search_sessions"
    " WHERE event_id = $1::uuid) s WHERE e.id = $1::uuid";

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

/* Lifecycle events and the status each one leads to. */
static const struct {
    const char *type;
    const char *status;
} transitions[] = {
    {"event.published", "published"},    {"event.unpublished", "draft"},
    {"event.sales_opened", "on_sale"},   {"event.sold_out", "sold_out"},
    {"event.sales_reopened", "on_sale"}, {"event.completed", "completed"},
    {"event.cancelled", "cancelled"},
};

#define N_TRANSITIONS (sizeof(transitions) / sizeof(transitions[0]))

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
    if (strcmp(type, "event.session_removed") == 0) {
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
    if (strcmp(type, "event.session_added") == 0 || strcmp(type, "event.session_updated") == 0 ||
        strcmp(type, "event.session_removed") == 0)
        return on_session(type, id, d, out);
    if (strcmp(type, "event.deleted") == 0) {
        tix_stmts_add(out, "UPDATE search_events SET is_deleted = true WHERE id = $1::uuid", 1, id);
        return TIX_OK;
    }
    for (size_t i = 0; i < N_TRANSITIONS; i++) {
        if (strcmp(transitions[i].type, type) == 0) {
            tix_stmts_add(out, "UPDATE search_events SET status = $2 WHERE id = $1::uuid", 2, id,
                          transitions[i].status);
            return TIX_OK;
        }
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

static bool is_known(const char *type)
{
    static const char *const types[] = {
        "event.created",       "event.updated",         "event.deleted",
        "event.session_added", "event.session_updated", "event.session_removed",
        "venue.created",       "venue.updated",         "venue.deleted",
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i], type) == 0)
            return true;
    for (size_t i = 0; i < N_TRANSITIONS; i++)
        if (strcmp(transitions[i].type, type) == 0)
            return true;
    return false;
}

static enum tix_rc apply(const struct tix_event *e, struct tix_stmts *out)
{
    if (!is_known(e->type))
        return TIX_OK;
    bool is_event = strncmp(e->type, "event.", strlen("event.")) == 0;
    json_t *d = tix_json_parse(e->data, strlen(e->data), NULL);
    const char *id = tix_json_str(d, is_event ? "event_id" : "venue_id");
    enum tix_rc rc = TIX_EINVAL;
    if (json_is_object(d) && tix_uuid_is_valid(id))
        rc = is_event ? on_event(e->type, id, d, out) : on_venue(e->type, id, d, out);
    if (rc == TIX_OK && is_event)
        tix_stmts_add(out, refresh_sql, 1, id);
    json_decref(d);
    return rc == TIX_OK ? TIX_OK : TIX_EINVAL;
}

const struct tix_projection tix_projection_search = {
    .name = "search",
    .source = TIX_SOURCE_EVENTS,
    .ddl = ddl,
    .tables = tables,
    .apply = apply,
};
