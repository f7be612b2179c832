/* http_venues.c - venues and their seating charts
 *
 * Writes go through the organization in the path (/api/v1/organizations/{id}/venues/...), so the
 * route table's membership and role check applies; a handler then checks that the venue in the
 * path belongs to that organization (rm.venues) and answers 404 when it does not, so another
 * organization's venues are never reachable. The venue aggregate decides everything else
 * (shapes of addresses and charts, capacity rules). Reads are public: a venue not deleted, and
 * its published charts (every version is kept; the latest by default).
 *
 * Answers carry times as RFC 3339 (built by Postgres with to_json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "gateway.h"
#include "routes.h"
#include "venue.h"

static bool is_own_venue(struct tix_req *req)
{
    return tix_gw_is_owned(req, "venueId",
                           "SELECT 1 FROM rm.venues WHERE id = $1 AND organization_id = $2 AND "
                           "NOT is_deleted",
                           "no such venue");
}

static json_t *created_venue(struct tix_req *req, const json_t *outcome, void *ctx)
{
    (void)outcome;
    const char *id = ctx;
    char location[96];
    snprintf(location, sizeof(location), "/api/v1/venues/%s", id);
    tix_gw_header(req, "Location", location);
    return json_pack("{ss ss}", "id", id, "status", "created");
}

void tix_http_venue_create(struct tix_req *req)
{
    static const struct tix_field fields[] = {
        {"name", TIX_F_STRING, true, 1, TIX_VENUE_NAME_MAX_CHARS},
        {"address", TIX_F_OBJECT, true, 0, 0},
        {"timezone", TIX_F_STRING, true, 1, TIX_VENUE_TZ_MAX},
        {"capacity", TIX_F_INT, true, 1, TIX_VENUE_CAPACITY_MAX},
        {"location", TIX_F_OBJECT, false, 0, 0},
        {"accessibility", TIX_F_OBJECT, false, 0, 0},
        {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    char *id = malloc(TIX_UUID_LEN + 1);
    if (id == NULL)
        abort();
    tix_uuid_v7(id);
    json_object_set_new(body, "venue_id", json_string(id));
    json_object_set_new(body, "organization_id", json_string(tix_gw_param(req, "id")));
    struct tix_gw_command cmd = {.type = "venue.create",
                                 .key = id,
                                 .payload = body,
                                 .success_status = 201,
                                 .on_success = created_venue,
                                 .ctx = id,
                                 .ctx_free = free};
    tix_gw_submit(req, &cmd);
}

/* Sends type for the venue in the path (already checked) with payload plus venue_id. */
static void venue_command(struct tix_req *req, const char *type, json_t *payload)
{
    const char *venue = tix_gw_param(req, "venueId");
    json_object_set_new(payload, "venue_id", json_string(venue));
    struct tix_gw_command cmd = {
        .type = type, .key = venue, .payload = payload, .success_status = 200};
    tix_gw_submit(req, &cmd);
}

void tix_http_venue_update(struct tix_req *req)
{
    static const struct tix_field fields[] = {
        {"name", TIX_F_STRING, false, 1, TIX_VENUE_NAME_MAX_CHARS},
        {"address", TIX_F_OBJECT, false, 0, 0},
        {"timezone", TIX_F_STRING, false, 1, TIX_VENUE_TZ_MAX},
        {"capacity", TIX_F_INT, false, 1, TIX_VENUE_CAPACITY_MAX},
        {"location", TIX_F_OBJECT, false, 0, 0},
        {"accessibility", TIX_F_OBJECT, false, 0, 0},
        {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    if (!is_own_venue(req)) {
        json_decref(body);
        return;
    }
    venue_command(req, "venue.update", body);
}

void tix_http_venue_delete(struct tix_req *req)
{
    if (is_own_venue(req))
        venue_command(req, "venue.delete", json_object());
}

void tix_http_venue_chart_publish(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"chart", TIX_F_OBJECT, true, 0, 0},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    if (!is_own_venue(req)) {
        json_decref(body);
        return;
    }
    venue_command(req, "venue.publish_chart", body);
}

void tix_http_venue_get(struct tix_req *req)
{
    const char *id = tix_gw_param(req, "id");
    if (!tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", "no such venue");
        return;
    }
    const char *params[] = {id};
    PGresult *res = NULL;
    if (!tix_gw_read(
            req,
            "SELECT json_build_object('id', v.id, 'organization_id', v.organization_id,"
            " 'name', v.name, 'address', v.address, 'timezone', v.timezone,"
            " 'capacity', v.capacity, 'location', CASE WHEN v.location_lat IS NULL THEN NULL"
            " ELSE json_build_object('lat', v.location_lat, 'lon', v.location_lon) END,"
            " 'accessibility', v.accessibility, 'chart_version',"
            " (SELECT max(c.version) FROM rm.seating_charts c WHERE c.venue_id = v.id),"
            " 'created_at', v.created_at, 'updated_at', v.updated_at,"
            " 'version', v.version)::text FROM rm.venues v WHERE v.id = $1 AND NOT v.is_deleted",
            1, params, &res))
        return;
    tix_gw_reply_row(req, res, "no such venue");
}

/* The ?version= parameter: NULL when absent (the latest), false after answering 422. */
static bool chart_version_param(struct tix_req *req, char out[24], const char **version)
{
    char *v = tix_gw_query(req, "version");
    *version = NULL;
    if (v == NULL)
        return true;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    bool is_ok = v[0] >= '0' && v[0] <= '9' && *end == '\0' && n >= 1 && n <= INT32_MAX;
    free(v);
    if (!is_ok) {
        tix_gw_problem_fields(req, 422, "the query has invalid parameters",
                              json_pack("[{ss ss}]", "field", "version", "message",
                                        "must be a chart version (an integer from 1)"));
        return false;
    }
    snprintf(out, 24, "%ld", n);
    *version = out;
    return true;
}

void tix_http_venue_chart_get(struct tix_req *req)
{
    const char *id = tix_gw_param(req, "id");
    if (!tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", "no such venue");
        return;
    }
    char buf[24];
    const char *version = NULL;
    if (!chart_version_param(req, buf, &version))
        return;
    const char *params[] = {id, version};
    PGresult *res = NULL;
    if (!tix_gw_read(req,
                     "SELECT json_build_object('venue_id', c.venue_id, 'version', c.version,"
                     " 'chart', c.chart, 'capacity', c.capacity, 'seats', c.seats,"
                     " 'ga_capacity', c.ga_capacity, 'checksum', c.checksum,"
                     " 'published_at', c.published_at)::text FROM rm.seating_charts c"
                     " JOIN rm.venues v ON v.id = c.venue_id AND NOT v.is_deleted"
                     " WHERE c.venue_id = $1 AND ($2::int IS NULL OR c.version = $2::int)"
                     " ORDER BY c.version DESC LIMIT 1",
                     2, params, &res))
        return;
    tix_gw_reply_row(req, res, "no such venue or seating chart");
}
