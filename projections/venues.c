/* venues.c - read model of venues, their seating charts and the events bound to them
 *
 * Tables: venues (one row per venue with its current fields; city and country copied out of the
 * address, latitude and longitude out of the location, for filtering), seating_charts (every
 * published chart version with its whole document, never changed once written) and
 * venue_events (the events bound now, with the chart version each uses).
 *
 * Invariants: rows are a function of the events alone (times from recorded_at, JSON stored as
 * jsonb, numbers extracted by SQL from the JSON text), so a replay from zero writes identical
 * rows; every venue event bumps venues.version and updated_at; a venue.updated names only the
 * fields that changed, and a location or accessibility given as null clears it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "projection.h"

static const char ddl[] =
    "CREATE TABLE IF NOT EXISTS venues ("
    " id uuid PRIMARY KEY, organization_id uuid NOT NULL, name text NOT NULL,"
    " address jsonb NOT NULL, city text, country text, timezone text NOT NULL,"
    " location_lat double precision, location_lon double precision, capacity int NOT NULL,"
    " accessibility jsonb, is_deleted boolean NOT NULL DEFAULT false,"
    " created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, version bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS venues_organization ON venues (organization_id);"
    "CREATE INDEX IF NOT EXISTS venues_city ON venues (lower(city));"
    "CREATE TABLE IF NOT EXISTS seating_charts ("
    " venue_id uuid NOT NULL, version int NOT NULL, chart jsonb NOT NULL, capacity int NOT NULL,"
    " seats int NOT NULL, ga_capacity int NOT NULL, checksum text NOT NULL,"
    " published_at timestamptz NOT NULL, PRIMARY KEY (venue_id, version));"
    "CREATE TABLE IF NOT EXISTS venue_events ("
    " venue_id uuid NOT NULL, event_id uuid NOT NULL, chart_version int NOT NULL,"
    " PRIMARY KEY (venue_id, event_id));"
    "CREATE INDEX IF NOT EXISTS venue_events_event ON venue_events (event_id);";

static const char *const tables[] = {"venues", "seating_charts", "venue_events", NULL};

static const char touch_sql[] =
    "UPDATE venues SET version = $2, updated_at = $3 WHERE id = $1::uuid";

/* JSON text of d's member key (new string, free it); NULL when absent. */
static char *member_json(const json_t *d, const char *key)
{
    const json_t *v = json_object_get(d, key);
    return v != NULL ? tix_json_dump(v) : NULL;
}

static void int_text(const json_t *d, const char *key, char out[24])
{
    snprintf(out, 24, "%" PRId64, tix_json_int(d, key, 0));
}

static bool is_int(const json_t *d, const char *key)
{
    return json_is_integer(json_object_get(d, key));
}

static bool is_object_or_absent(const json_t *d, const char *key)
{
    const json_t *v = json_object_get(d, key);
    return v == NULL || json_is_object(v) || json_is_null(v);
}

static enum tix_rc on_created(const json_t *d, const char *at, const char *ver,
                              struct tix_stmts *out)
{
    if (!tix_uuid_is_valid(tix_json_str(d, "organization_id")) || tix_json_str(d, "name") == NULL ||
        !json_is_object(json_object_get(d, "address")) || tix_json_str(d, "timezone") == NULL ||
        !is_int(d, "capacity") || !is_object_or_absent(d, "location") ||
        !is_object_or_absent(d, "accessibility"))
        return TIX_EINVAL;
    char *address = member_json(d, "address");
    char *location = member_json(d, "location");
    char *access = member_json(d, "accessibility");
    char capacity[24];
    int_text(d, "capacity", capacity);
    tix_stmts_add(out,
                  "INSERT INTO venues (id, organization_id, name, address, city, country,"
                  " timezone, location_lat, location_lon, capacity, accessibility, created_at,"
                  " updated_at, version) SELECT $1::uuid, $2::uuid, $3, $4::jsonb,"
                  " $4::jsonb->>'city', $4::jsonb->>'country', $5,"
                  " ($6::jsonb->>'lat')::double precision, ($6::jsonb->>'lon')::double precision,"
                  " $7::int, NULLIF($8::jsonb, 'null'::jsonb), $9, $9, $10"
                  " ON CONFLICT (id) DO NOTHING",
                  10, tix_json_str(d, "venue_id"), tix_json_str(d, "organization_id"),
                  tix_json_str(d, "name"), address, tix_json_str(d, "timezone"), location, capacity,
                  access, at, ver);
    free(address);
    free(location);
    free(access);
    return TIX_OK;
}

/* One statement for every changed field: an absent field keeps its column (parameter NULL). */
static enum tix_rc on_updated(const json_t *d, struct tix_stmts *out)
{
    const json_t *cap = json_object_get(d, "capacity");
    const json_t *addr = json_object_get(d, "address");
    if ((cap != NULL && !json_is_integer(cap)) || (addr != NULL && !json_is_object(addr)) ||
        !is_object_or_absent(d, "location") || !is_object_or_absent(d, "accessibility"))
        return TIX_EINVAL;
    char *address = member_json(d, "address");
    char *location = member_json(d, "location");
    char *access = member_json(d, "accessibility");
    char capacity[24];
    int_text(d, "capacity", capacity);
    tix_stmts_add(out,
                  "UPDATE venues SET name = COALESCE($2, name),"
                  " address = COALESCE($3::jsonb, address),"
                  " city = COALESCE($3::jsonb->>'city', city),"
                  " country = COALESCE($3::jsonb->>'country', country),"
                  " timezone = COALESCE($4, timezone), capacity = COALESCE($5::int, capacity),"
                  " location_lat = CASE WHEN $6::jsonb IS NULL THEN location_lat"
                  " ELSE ($6::jsonb->>'lat')::double precision END,"
                  " location_lon = CASE WHEN $6::jsonb IS NULL THEN location_lon"
                  " ELSE ($6::jsonb->>'lon')::double precision END,"
                  " accessibility = CASE WHEN $7::jsonb IS NULL THEN accessibility"
                  " ELSE NULLIF($7::jsonb, 'null'::jsonb) END"
                  " WHERE id = $1::uuid",
                  7, tix_json_str(d, "venue_id"), tix_json_str(d, "name"), address,
                  tix_json_str(d, "timezone"), cap != NULL ? capacity : NULL, location, access);
    free(address);
    free(location);
    free(access);
    return TIX_OK;
}

static enum tix_rc on_chart(const json_t *d, const char *at, struct tix_stmts *out)
{
    if (!json_is_object(json_object_get(d, "chart")) || !is_int(d, "version") ||
        !is_int(d, "capacity") || !is_int(d, "seats") || !is_int(d, "ga_capacity") ||
        tix_json_str(d, "checksum") == NULL)
        return TIX_EINVAL;
    char *chart = member_json(d, "chart");
    char version[24], capacity[24], seats[24], ga[24];
    int_text(d, "version", version);
    int_text(d, "capacity", capacity);
    int_text(d, "seats", seats);
    int_text(d, "ga_capacity", ga);
    tix_stmts_add(out,
                  "INSERT INTO seating_charts (venue_id, version, chart, capacity, seats,"
                  " ga_capacity, checksum, published_at) VALUES ($1::uuid, $2::int, $3::jsonb,"
                  " $4::int, $5::int, $6::int, $7, $8) ON CONFLICT (venue_id, version) DO NOTHING",
                  8, tix_json_str(d, "venue_id"), version, chart, capacity, seats, ga,
                  tix_json_str(d, "checksum"), at);
    free(chart);
    return TIX_OK;
}

static enum tix_rc on_binding(const char *type, const json_t *d, struct tix_stmts *out)
{
    if (!tix_uuid_is_valid(tix_json_str(d, "event_id")))
        return TIX_EINVAL;
    if (strcmp(type, "venue.event_unbound") == 0) {
        tix_stmts_add(out, "DELETE FROM venue_events WHERE venue_id = $1 AND event_id = $2", 2,
                      tix_json_str(d, "venue_id"), tix_json_str(d, "event_id"));
        return TIX_OK;
    }
    if (!is_int(d, "chart_version"))
        return TIX_EINVAL;
    char version[24];
    int_text(d, "chart_version", version);
    tix_stmts_add(out,
                  "INSERT INTO venue_events (venue_id, event_id, chart_version) VALUES ($1, $2,"
                  " $3::int) ON CONFLICT (venue_id, event_id) DO UPDATE SET chart_version ="
                  " EXCLUDED.chart_version",
                  3, tix_json_str(d, "venue_id"), tix_json_str(d, "event_id"), version);
    return TIX_OK;
}

static enum tix_rc dispatch(const char *type, const json_t *d, const char *at, const char *ver,
                            struct tix_stmts *out)
{
    if (strcmp(type, "venue.created") == 0)
        return on_created(d, at, ver, out);
    if (strcmp(type, "venue.updated") == 0)
        return on_updated(d, out);
    if (strcmp(type, "venue.chart_published") == 0)
        return on_chart(d, at, out);
    if (strcmp(type, "venue.event_bound") == 0 || strcmp(type, "venue.event_unbound") == 0)
        return on_binding(type, d, out);
    if (strcmp(type, "venue.deleted") == 0) {
        tix_stmts_add(out, "UPDATE venues SET is_deleted = true WHERE id = $1", 1,
                      tix_json_str(d, "venue_id"));
        return TIX_OK;
    }
    return TIX_EINVAL; /* not reached: apply() lets only known types through */
}

static bool is_known(const char *type)
{
    static const char *const types[] = {"venue.created",       "venue.updated",
                                        "venue.deleted",       "venue.event_bound",
                                        "venue.event_unbound", "venue.chart_published"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i], type) == 0)
            return true;
    return false;
}

static enum tix_rc apply(const struct tix_event *e, struct tix_stmts *out)
{
    if (!is_known(e->type))
        return TIX_OK;
    json_t *d = tix_json_parse(e->data, strlen(e->data), NULL);
    if (!json_is_object(d) || !tix_uuid_is_valid(tix_json_str(d, "venue_id"))) {
        json_decref(d);
        return TIX_EINVAL;
    }
    char at[32], ver[24];
    tix_time_format(e->recorded_at_us, at);
    snprintf(ver, sizeof(ver), "%" PRId64, e->stream_version);
    enum tix_rc rc = dispatch(e->type, d, at, ver, out); /* adds nothing when it fails */
    if (rc == TIX_OK)
        tix_stmts_add(out, touch_sql, 3, tix_json_str(d, "venue_id"), ver, at);
    json_decref(d);
    return rc;
}

const struct tix_projection tix_projection_venues = {
    .name = "venues",
    .source = TIX_SOURCE_EVENTS,
    .ddl = ddl,
    .tables = tables,
    .apply = apply,
};
