/* events.c - read model of events (the shows) and their sessions
 *
 * Tables: events (one row per event with its current descriptive fields, lifecycle status,
 * sales window and the span of its sessions) and event_sessions (the sessions as they are now;
 * status "scheduled", or "cancelled" with cancel_reason once called off on its own: it stays
 * listed, and counts for the event's span as announced).
 *
 * Invariants: rows are a function of the events alone (times from recorded_at or the payload's
 * RFC 3339 UTC strings, JSON stored as jsonb), so a replay from zero writes identical rows;
 * every event bumps events.version and updated_at; events.starts_at and ends_at are the min of
 * the sessions' starts and the max of their ends after every statement list that touches a
 * session; an event.updated names only the changed fields, and only those columns change;
 * featured_rank is the rank of the last event.featured, NULL when never featured or unfeatured.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "projection.h"

static const char ddl[] =
    "CREATE TABLE IF NOT EXISTS events ("
    " id uuid PRIMARY KEY, organization_id uuid NOT NULL, venue_id uuid, chart_version int,"
    " name text NOT NULL, description text, category text NOT NULL,"
    " tags text[] NOT NULL DEFAULT '{}', images jsonb NOT NULL DEFAULT '[]',"
    " videos jsonb NOT NULL DEFAULT '[]', metadata jsonb NOT NULL DEFAULT '{}',"
    " timezone text NOT NULL, visibility text NOT NULL, status text NOT NULL,"
    " capacity int NOT NULL, sales_start timestamptz, sales_end timestamptz,"
    " starts_at timestamptz, ends_at timestamptz, cancel_reason text,"
    " is_deleted boolean NOT NULL DEFAULT false, created_by text NOT NULL,"
    " created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, version bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_organization ON events (organization_id);"
    "CREATE INDEX IF NOT EXISTS events_status_starts ON events (status, starts_at);"
    "CREATE INDEX IF NOT EXISTS events_category ON events (category);"
    "CREATE INDEX IF NOT EXISTS events_tags ON events USING gin (tags);"
    "CREATE TABLE IF NOT EXISTS event_sessions ("
    " event_id uuid NOT NULL, session_id uuid NOT NULL, name text,"
    " starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL, capacity int,"
    " PRIMARY KEY (event_id, session_id));"
    /* columns and indexes added after the first release: every version gets them at start-up,
     * a column only when missing (an ALTER takes an exclusive lock even when it has nothing to
     * do) */
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = 'events'"
    " AND column_name = 'featured_rank') THEN ALTER TABLE events ADD COLUMN featured_rank int; END "
    "IF; END $$;"
    "CREATE INDEX IF NOT EXISTS events_featured ON events (featured_rank, id)"
    " WHERE featured_rank IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS events_venue ON events (venue_id, starts_at);"
    "CREATE INDEX IF NOT EXISTS events_starts ON events (starts_at, id);"
    "CREATE INDEX IF NOT EXISTS events_session_starts ON event_sessions (event_id, starts_at);"
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = 'event_sessions'"
    " AND column_name = 'status') THEN ALTER TABLE event_sessions"
    " ADD COLUMN status text NOT NULL DEFAULT 'scheduled', ADD COLUMN cancel_reason text; END IF;"
    " END $$;";

static const char *const tables[] = {"events", "event_sessions", NULL};

static const char touch_sql[] =
    "UPDATE events SET version = $2, updated_at = $3 WHERE id = $1::uuid";

/* Keeps the event's span equal to its sessions'. */
static const char span_sql[] =
    "UPDATE events e SET starts_at = s.lo, ends_at = s.hi FROM (SELECT min(starts_at) AS lo,"
    " max(ends_at) AS hi FROM event_sessions WHERE event_id = $1::uuid) s WHERE e.id = $1::uuid";

/* The whole created payload goes in as one jsonb parameter; SQL picks the columns. */
static const char created_sql[] =
    "INSERT INTO events (id, organization_id, venue_id, chart_version, name, description,"
    " category, tags, images, videos, metadata, timezone, visibility, status, capacity,"
    " sales_start, sales_end, created_by, created_at, updated_at, version)"
    " SELECT (x.d->>'event_id')::uuid, (x.d->>'organization_id')::uuid,"
    " (x.d->>'venue_id')::uuid, (x.d->>'chart_version')::int, x.d->>'name',"
    " x.d->>'description', x.d->>'category',"
    " ARRAY(SELECT jsonb_array_elements_text(COALESCE(x.d->'tags', '[]'))),"
    " COALESCE(x.d->'images', '[]'), COALESCE(x.d->'videos', '[]'),"
    " COALESCE(x.d->'metadata', '{}'), x.d->>'timezone', x.d->>'visibility', 'draft',"
    " (x.d->>'capacity')::int, (x.d->>'sales_start')::timestamptz,"
    " (x.d->>'sales_end')::timestamptz, COALESCE(x.d->>'created_by', ''), $2, $2, $3"
    " FROM (SELECT $1::jsonb AS d) x ON CONFLICT (id) DO NOTHING";

/* An absent key keeps its column; a present one (even null) replaces it. */
static const char updated_sql[] =
    "UPDATE events SET"
    " name = CASE WHEN x.d ? 'name' THEN x.d->>'name' ELSE name END,"
    " description = CASE WHEN x.d ? 'description' THEN x.d->>'description' ELSE description END,"
    " category = CASE WHEN x.d ? 'category' THEN x.d->>'category' ELSE category END,"
    " tags = CASE WHEN x.d ? 'tags' THEN ARRAY(SELECT jsonb_array_elements_text("
    "COALESCE(NULLIF(x.d->'tags', 'null'), '[]'))) ELSE tags END,"
    " images = CASE WHEN x.d ? 'images' THEN COALESCE(NULLIF(x.d->'images', 'null'), '[]')"
    " ELSE images END,"
    " videos = CASE WHEN x.d ? 'videos' THEN COALESCE(NULLIF(x.d->'videos', 'null'), '[]')"
    " ELSE videos END,"
    " metadata = CASE WHEN x.d ? 'metadata' THEN COALESCE(NULLIF(x.d->'metadata', 'null'), '{}')"
    " ELSE metadata END,"
    " visibility = CASE WHEN x.d ? 'visibility' THEN x.d->>'visibility' ELSE visibility END,"
    " capacity = CASE WHEN x.d ? 'capacity' THEN (x.d->>'capacity')::int ELSE capacity END,"
    " sales_start = CASE WHEN x.d ? 'sales_start' THEN (x.d->>'sales_start')::timestamptz"
    " ELSE sales_start END,"
    " sales_end = CASE WHEN x.d ? 'sales_end' THEN (x.d->>'sales_end')::timestamptz"
    " ELSE sales_end END"
    " FROM (SELECT $2::jsonb AS d) x WHERE id = $1::uuid";

static const char session_sql[] =
    "INSERT INTO event_sessions (event_id, session_id, name, starts_at, ends_at, capacity)"
    " VALUES ($1::uuid, $2::uuid, $3, $4::timestamptz, $5::timestamptz, $6::int)"
    " ON CONFLICT (event_id, session_id) DO UPDATE SET name = EXCLUDED.name,"
    " starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, capacity = EXCLUDED.capacity";

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

const char *tix_event_status_after(const char *type)
{
    for (size_t i = 0; i < N_TRANSITIONS; i++)
        if (strcmp(transitions[i].type, type) == 0)
            return transitions[i].status;
    return NULL;
}

/* "YYYY-MM-DDTHH:MM:SSZ" by shape; Postgres checks the calendar when it parses it. */
static bool is_instant(const char *s)
{
    static const char pattern[] = "dddd-dd-ddTdd:dd:ddZ";
    if (s == NULL || strlen(s) != sizeof(pattern) - 1)
        return false;
    for (size_t i = 0; i < sizeof(pattern) - 1; i++) {
        bool is_digit = s[i] >= '0' && s[i] <= '9';
        if (pattern[i] == 'd' ? !is_digit : s[i] != pattern[i])
            return false;
    }
    return true;
}

static bool is_optional_instant(const json_t *d, const char *key)
{
    const json_t *v = json_object_get(d, key);
    return v == NULL || json_is_null(v) || is_instant(json_string_value(v));
}

static bool is_session(const json_t *s)
{
    const json_t *name = json_object_get(s, "name");
    const json_t *cap = json_object_get(s, "capacity");
    return json_is_object(s) && tix_uuid_is_valid(tix_json_str(s, "session_id")) &&
           is_instant(tix_json_str(s, "starts_at")) && is_instant(tix_json_str(s, "ends_at")) &&
           (name == NULL || json_is_null(name) || json_is_string(name)) &&
           (cap == NULL || json_is_null(cap) || json_is_integer(cap));
}

static void add_session(const char *event_id, const json_t *s, struct tix_stmts *out)
{
    char capacity[24];
    const json_t *cap = json_object_get(s, "capacity");
    snprintf(capacity, sizeof(capacity), "%" PRId64, (int64_t)json_integer_value(cap));
    tix_stmts_add(out, session_sql, 6, event_id, tix_json_str(s, "session_id"),
                  tix_json_str(s, "name"), tix_json_str(s, "starts_at"), tix_json_str(s, "ends_at"),
                  json_is_integer(cap) ? capacity : NULL);
}

static bool is_valid_created(const json_t *d)
{
    static const char *const strings[] = {"organization_id", "name", "category", "timezone",
                                          "visibility"};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        if (tix_json_str(d, strings[i]) == NULL)
            return false;
    const json_t *venue = json_object_get(d, "venue_id");
    const json_t *tags = json_object_get(d, "tags");
    const json_t *sessions = json_object_get(d, "sessions");
    if (!tix_uuid_is_valid(tix_json_str(d, "organization_id")) ||
        (venue != NULL && !json_is_null(venue) && !tix_uuid_is_valid(json_string_value(venue))) ||
        !json_is_integer(json_object_get(d, "capacity")) ||
        (tags != NULL && !json_is_array(tags)) || !is_optional_instant(d, "sales_start") ||
        !is_optional_instant(d, "sales_end") || json_array_size(sessions) == 0)
        return false;
    for (size_t i = 0; i < json_array_size(tags); i++)
        if (!json_is_string(json_array_get(tags, i)))
            return false;
    for (size_t i = 0; i < json_array_size(sessions); i++)
        if (!is_session(json_array_get(sessions, i)))
            return false;
    return true;
}

static enum tix_rc on_created(const char *id, const json_t *d, const char *at, const char *ver,
                              struct tix_stmts *out)
{
    if (!is_valid_created(d))
        return TIX_EINVAL;
    char *doc = tix_json_dump(d);
    tix_stmts_add(out, created_sql, 3, doc, at, ver);
    free(doc);
    const json_t *sessions = json_object_get(d, "sessions");
    for (size_t i = 0; i < json_array_size(sessions); i++)
        add_session(id, json_array_get(sessions, i), out);
    tix_stmts_add(out, span_sql, 1, id);
    return TIX_OK;
}

static enum tix_rc on_updated(const char *id, const json_t *d, struct tix_stmts *out)
{
    const json_t *tags = json_object_get(d, "tags");
    const json_t *cap = json_object_get(d, "capacity");
    if ((tags != NULL && !json_is_array(tags) && !json_is_null(tags)) ||
        (cap != NULL && !json_is_integer(cap)) || !is_optional_instant(d, "sales_start") ||
        !is_optional_instant(d, "sales_end"))
        return TIX_EINVAL;
    for (size_t i = 0; i < json_array_size(tags); i++)
        if (!json_is_string(json_array_get(tags, i)))
            return TIX_EINVAL;
    char *doc = tix_json_dump(d);
    tix_stmts_add(out, updated_sql, 2, id, doc);
    free(doc);
    return TIX_OK;
}

static enum tix_rc on_session(const char *type, const char *id, const json_t *d,
                              struct tix_stmts *out)
{
    const char *session_id = tix_json_str(d, "session_id");
    if (strcmp(type, "event.session_cancelled") == 0) {
        if (!tix_uuid_is_valid(session_id))
            return TIX_EINVAL;
        tix_stmts_add(out,
                      "UPDATE event_sessions SET status = 'cancelled', cancel_reason = $3"
                      " WHERE event_id = $1 AND session_id = $2",
                      3, id, session_id, tix_json_str(d, "reason"));
        return TIX_OK;
    }
    if (strcmp(type, "event.session_removed") == 0) {
        if (!tix_uuid_is_valid(session_id))
            return TIX_EINVAL;
        tix_stmts_add(out, "DELETE FROM event_sessions WHERE event_id = $1 AND session_id = $2", 2,
                      id, session_id);
    } else {
        const json_t *session = json_object_get(d, "session");
        if (!is_session(session))
            return TIX_EINVAL;
        add_session(id, session, out);
    }
    tix_stmts_add(out, span_sql, 1, id);
    return TIX_OK;
}

static enum tix_rc on_transition(const char *type, const char *id, const json_t *d,
                                 struct tix_stmts *out)
{
    const char *status = tix_event_status_after(type);
    if (status != NULL) {
        if (strcmp(type, "event.cancelled") == 0)
            tix_stmts_add(out, "UPDATE events SET status = $2, cancel_reason = $3 WHERE id = $1", 3,
                          id, status, tix_json_str(d, "reason"));
        else
            tix_stmts_add(out, "UPDATE events SET status = $2 WHERE id = $1", 2, id, status);
        return TIX_OK;
    }
    return TIX_ENOTFOUND;
}

static enum tix_rc on_featured(const char *type, const char *id, const json_t *d,
                               struct tix_stmts *out)
{
    if (strcmp(type, "event.unfeatured") == 0) {
        tix_stmts_add(out, "UPDATE events SET featured_rank = NULL WHERE id = $1", 1, id);
        return TIX_OK;
    }
    if (!json_is_integer(json_object_get(d, "rank")))
        return TIX_EINVAL;
    char rank[24];
    snprintf(rank, sizeof(rank), "%" PRId64, tix_json_int(d, "rank", 0));
    tix_stmts_add(out, "UPDATE events SET featured_rank = $2::int WHERE id = $1", 2, id, rank);
    return TIX_OK;
}

/* TIX_ENOTFOUND for a type this projection does not know; adds nothing unless TIX_OK. */
static enum tix_rc dispatch(const struct tix_event *e, const char *id, const json_t *d,
                            const char *at, const char *ver, struct tix_stmts *out)
{
    if (strcmp(e->type, "event.created") == 0)
        return on_created(id, d, at, ver, out);
    if (strcmp(e->type, "event.updated") == 0)
        return on_updated(id, d, out);
    if (strncmp(e->type, "event.session_", 14) == 0)
        return on_session(e->type, id, d, out);
    if (strcmp(e->type, "event.deleted") == 0) {
        tix_stmts_add(out, "UPDATE events SET is_deleted = true WHERE id = $1", 1, id);
        return TIX_OK;
    }
    if (strcmp(e->type, "event.featured") == 0 || strcmp(e->type, "event.unfeatured") == 0)
        return on_featured(e->type, id, d, out);
    return on_transition(e->type, id, d, out);
}

static bool is_known(const char *type)
{
    static const char *const types[] = {
        "event.created",       "event.updated",         "event.deleted",
        "event.session_added", "event.session_updated", "event.session_removed",
        "event.featured",      "event.unfeatured",      "event.session_cancelled",
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
    json_t *d = tix_json_parse(e->data, strlen(e->data), NULL);
    const char *id = tix_json_str(d, "event_id");
    if (!json_is_object(d) || !tix_uuid_is_valid(id)) {
        json_decref(d);
        return TIX_EINVAL;
    }
    char at[32], ver[24];
    tix_time_format(e->recorded_at_us, at);
    snprintf(ver, sizeof(ver), "%" PRId64, e->stream_version);
    enum tix_rc rc = dispatch(e, id, d, at, ver, out);
    if (rc == TIX_OK)
        tix_stmts_add(out, touch_sql, 3, id, ver, at);
    json_decref(d);
    return rc == TIX_OK ? TIX_OK : TIX_EINVAL;
}

const struct tix_projection tix_projection_events = {
    .name = "events",
    .source = TIX_SOURCE_EVENTS,
    .ddl = ddl,
    .tables = tables,
    .apply = apply,
};
