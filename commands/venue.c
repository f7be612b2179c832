/* venue.c - the venue aggregate: payload and chart checks, decide and evolve
 *
 * Three layers, all pure. streams() checks a payload against tables of field specs that nest
 * (address, location, accessibility, and a chart's sections, rows, seats and GA areas), naming
 * the first bad field by its path, and names the venue stream. decide() checks, in this order,
 * the actor (forbidden), existence (not_found), deletion (deleted), then the command's rules, and
 * emits complete events. evolve() checks every known event against the same specs before
 * touching the state, so a malformed event leaves the state as it was.
 *
 * Invariants: the state never aliases JSON owned by a decision or an event (deep copies); a
 * published chart version never changes and binding never moves an event to another version;
 * a chart's checksum is BLAKE2b-256 over tix_json_dump of the chart (sorted keys, compact), so
 * the same document always gives the same checksum. Uniqueness of ids is checked with an
 * open-addressing hash set over the borrowed id strings, linear in the size of the chart.
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/mem.h"

#include "payload.h"
#include "venue.h"

/* ---- text rules --------------------------------------------------------------------------- */

/* True when v is a plain string of min..max code points without control characters (tab and
 * line breaks allowed when is_multiline) and, when non-empty, not only white space. */
static bool is_text(const json_t *v, size_t min, size_t max, bool is_multiline)
{
    if (!tix_payload_is_text(v, min, max, false, is_multiline))
        return false;
    size_t len = json_string_length(v), all = len;
    tix_payload_trim(json_string_value(v), &len);
    return all == 0 || len > 0;
}

static bool is_id(const char *s, size_t len)
{
    return len >= 1 && len <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == len;
}

static bool is_country(const char *s, size_t len)
{
    return len == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

static bool is_timezone(const char *s, size_t len)
{
    if (strcmp(s, "UTC") == 0)
        return true;
    return len >= 3 && len <= TIX_VENUE_TZ_MAX && strchr(s, '/') != NULL && s[0] != '/' &&
           s[len - 1] != '/' && strstr(s, "//") == NULL &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") == len;
}

/* ---- field specs -------------------------------------------------------------------------- */

enum kind {
    K_UUID,
    K_NAME,      /* 1..200 */
    K_AREA_NAME, /* 1..100 */
    K_LABEL,     /* 1..32 */
    K_CATEGORY,  /* 1..64 */
    K_LINE,      /* 1..200 */
    K_LINE_OPT,  /* 0..200 */
    K_CITY,      /* 1..100 */
    K_REGION,    /* 0..100 */
    K_POSTAL,    /* 1..20 */
    K_NOTES,     /* 0..1000, multi-line */
    K_ID,
    K_COUNTRY,
    K_TIMEZONE,
    K_LAT,
    K_LON,
    K_COORD,    /* any finite number */
    K_CAPACITY, /* integer 1..1,000,000 */
    K_COUNT,    /* integer 0..1,000,000,000 */
    K_VERSION,  /* integer 0..INT32_MAX */
    K_BOOL,
    K_ARRAY, /* checked item by item by the chart walk */
    K_CHART, /* an object; checked by the chart walk */
    K_ADDRESS,
    K_LOCATION,
    K_ACCESSIBILITY,
    K_LOCATION_OR_NULL,
    K_ACCESSIBILITY_OR_NULL,
};

#define N_SPECS(a) (sizeof(a) / sizeof((a)[0]))

static const struct tix_field_spec address_fields[] = {
    {"line1", K_LINE, true},     {"line2", K_LINE_OPT, false},    {"city", K_CITY, true},
    {"region", K_REGION, false}, {"postal_code", K_POSTAL, true}, {"country", K_COUNTRY, true},
};
static const struct tix_field_spec location_fields[] = {{"lat", K_LAT, true}, {"lon", K_LON, true}};
static const struct tix_field_spec access_fields[] = {
    {"wheelchair_spaces", K_COUNT, true},
    {"step_free", K_BOOL, true},
    {"hearing_loop", K_BOOL, true},
    {"notes", K_NOTES, false},
};

static const char *check_text(enum kind kind, const json_t *v)
{
    switch (kind) {
    case K_NAME:
    case K_LINE:
        return is_text(v, 1, 200, false) ? NULL : "must be 1..200 characters";
    case K_AREA_NAME:
    case K_CITY:
        return is_text(v, 1, 100, false) ? NULL : "must be 1..100 characters";
    case K_LABEL:
        return is_text(v, 1, 32, false) ? NULL : "must be 1..32 characters";
    case K_CATEGORY:
        return is_text(v, 1, 64, false) ? NULL : "must be 1..64 characters";
    case K_LINE_OPT:
        return is_text(v, 0, 200, false) ? NULL : "must be at most 200 characters";
    case K_REGION:
        return is_text(v, 0, 100, false) ? NULL : "must be at most 100 characters";
    case K_POSTAL:
        return is_text(v, 1, 20, false) ? NULL : "must be 1..20 characters";
    case K_NOTES:
        return is_text(v, 0, 1000, true) ? NULL : "must be at most 1000 characters";
    default:
        return "is not supported";
    }
}

/* NULL when v is acceptable for a scalar kind, else what is wrong with it. */
static const char *check_scalar(enum kind kind, const json_t *v)
{
    const char *s = tix_payload_is_plain_string(v) ? json_string_value(v) : NULL;
    size_t len = s != NULL ? json_string_length(v) : 0;
    double x = json_number_value(v);
    switch (kind) {
    case K_UUID:
        return s != NULL && tix_uuid_is_valid(s) ? NULL : "must be a lowercase UUID";
    case K_ID:
        return s != NULL && is_id(s, len) ? NULL : "must be 1..64 of A-Z a-z 0-9 _ . -";
    case K_COUNTRY:
        return s != NULL && is_country(s, len) ? NULL : "must be an ISO 3166-1 alpha-2 code";
    case K_TIMEZONE:
        return s != NULL && is_timezone(s, len) ? NULL : "must be an IANA time zone";
    case K_LAT:
        return json_is_number(v) && x >= -90 && x <= 90 ? NULL : "must be a number -90..90";
    case K_LON:
        return json_is_number(v) && x >= -180 && x <= 180 ? NULL : "must be a number -180..180";
    case K_COORD:
        return json_is_number(v) && isfinite(x) ? NULL : "must be a finite number";
    case K_CAPACITY:
        return json_is_integer(v) && json_integer_value(v) >= 1 &&
                       json_integer_value(v) <= TIX_VENUE_CAPACITY_MAX
                   ? NULL
                   : "must be an integer 1..1000000";
    case K_COUNT:
        return json_is_integer(v) && json_integer_value(v) >= 0 &&
                       json_integer_value(v) <= 1000000000
                   ? NULL
                   : "must be an integer 0..1000000000";
    case K_VERSION:
        return json_is_integer(v) && json_integer_value(v) >= 0 &&
                       json_integer_value(v) <= INT32_MAX
                   ? NULL
                   : "must be a chart version (an integer, 0 for none)";
    case K_BOOL:
        return json_is_boolean(v) ? NULL : "must be true or false";
    case K_ARRAY:
        return json_is_array(v) ? NULL : "must be an array";
    case K_CHART:
        return json_is_object(v) ? NULL : "must be an object";
    default:
        return check_text(kind, v);
    }
}

/* out = "<path>.<name>[<i>]" (cut at TIX_FIELD_PATH_MAX - 1 bytes like every path). */
static void join_index(char out[TIX_FIELD_PATH_MAX], const char *path, const char *name, size_t i)
{
    if (snprintf(out, TIX_FIELD_PATH_MAX, "%s.%s[%zu]", path, name, i) >= TIX_FIELD_PATH_MAX)
        out[TIX_FIELD_PATH_MAX - 1] = '\0';
}

static enum tix_rc check_object(const json_t *obj, const char *path,
                                const struct tix_field_spec *specs, size_t n, struct tix_err *err);

/* Checks the value v of the field path against kind; objects nest through check_object. */
static enum tix_rc check_field_cb(int kind, const json_t *v, const char *path, const void *ctx,
                                  struct tix_err *err)
{
    switch ((enum kind)kind) {
    case K_LOCATION_OR_NULL:
        return json_is_null(v) ? TIX_OK : check_field_cb(K_LOCATION, v, path, ctx, err);
    case K_ACCESSIBILITY_OR_NULL:
        return json_is_null(v) ? TIX_OK : check_field_cb(K_ACCESSIBILITY, v, path, ctx, err);
    case K_ADDRESS:
        return check_object(v, path, address_fields, N_SPECS(address_fields), err);
    case K_LOCATION:
        return check_object(v, path, location_fields, N_SPECS(location_fields), err);
    case K_ACCESSIBILITY:
        return check_object(v, path, access_fields, N_SPECS(access_fields), err);
    default:
        return tix_payload_field_problem(err, path, check_scalar((enum kind)kind, v));
    }
}

/* Checks obj against specs (tix_payload_check_object); fields are named path.name. */
static enum tix_rc check_object(const json_t *obj, const char *path,
                                const struct tix_field_spec *specs, size_t n, struct tix_err *err)
{
    static const struct tix_field_rules rules = {.check = check_field_cb};
    return tix_payload_check_object(obj, path, specs, n, &rules, err);
}

/* ---- id sets: open addressing over borrowed NUL-terminated strings ------------------------ */

struct idset {
    size_t cap; /* a power of two, or 0 */
    size_t n;
    const char **keys;
};

static void idset_put(const char **keys, size_t cap, const char *key)
{
    size_t i = (size_t)tix_fnv1a(key, strlen(key)) & (cap - 1);
    while (keys[i] != NULL)
        i = (i + 1) & (cap - 1);
    keys[i] = key;
}

/* Adds key (borrowed); false when it is already present. */
static bool idset_add(struct idset *set, const char *key)
{
    if ((set->n + 1) * 2 > set->cap) {
        size_t cap = set->cap == 0 ? 64 : set->cap * 2;
        const char **keys = tix_xcalloc(cap, sizeof(keys[0]));
        for (size_t i = 0; i < set->cap; i++)
            if (set->keys[i] != NULL)
                idset_put(keys, cap, set->keys[i]);
        free(set->keys);
        set->keys = keys;
        set->cap = cap;
    }
    size_t i = (size_t)tix_fnv1a(key, strlen(key)) & (set->cap - 1);
    for (; set->keys[i] != NULL; i = (i + 1) & (set->cap - 1))
        if (strcmp(set->keys[i], key) == 0)
            return false;
    set->keys[i] = key;
    set->n++;
    return true;
}

static void idset_clear(struct idset *set)
{
    if (set->n > 0)
        memset(set->keys, 0, set->cap * sizeof(set->keys[0]));
    set->n = 0;
}

/* ---- charts ------------------------------------------------------------------------------- */

static const struct tix_field_spec chart_fields[] = {
    {"sections", K_ARRAY, false},
    {"ga_areas", K_ARRAY, false},
    {"capacity", K_COUNT, true},
};
static const struct tix_field_spec section_fields[] = {
    {"id", K_ID, true},
    {"name", K_AREA_NAME, true},
    {"category", K_CATEGORY, false},
    {"rows", K_ARRAY, true},
};
static const struct tix_field_spec row_fields[] = {
    {"id", K_ID, true},
    {"label", K_LABEL, true},
    {"seats", K_ARRAY, true},
};
static const struct tix_field_spec seat_fields[] = {
    {"id", K_ID, true},   {"label", K_LABEL, true},      {"x", K_COORD, true},
    {"y", K_COORD, true}, {"accessible", K_BOOL, false}, {"category", K_CATEGORY, false},
};
static const struct tix_field_spec ga_fields[] = {
    {"id", K_ID, true},
    {"name", K_AREA_NAME, true},
    {"capacity", K_CAPACITY, true},
    {"category", K_CATEGORY, false},
};

struct chart_walk {
    struct idset areas; /* section and GA area ids */
    struct idset rows;  /* row ids of the current section */
    struct idset seats; /* every seat id */
    struct tix_err *err;
};

/* Adds obj's "id" to set; TIX_EINVAL naming "<path>.id" when it is taken. */
static enum tix_rc claim_id(struct idset *set, const json_t *obj, const char *path,
                            const char *what, struct tix_err *err)
{
    if (idset_add(set, tix_json_str(obj, "id")))
        return TIX_OK;
    char field[TIX_FIELD_PATH_MAX];
    tix_payload_join(field, path, "id", 0);
    return tix_err_set(err, TIX_EINVAL, field, "%s repeats another %s id", field, what);
}

static enum tix_rc check_row(struct chart_walk *cw, const json_t *row, const char *path)
{
    char field[TIX_FIELD_PATH_MAX];
    if (check_object(row, path, row_fields, N_SPECS(row_fields), cw->err) != TIX_OK ||
        claim_id(&cw->rows, row, path, "row", cw->err) != TIX_OK)
        return TIX_EINVAL;
    const json_t *seats = json_object_get(row, "seats");
    for (size_t k = 0; k < json_array_size(seats); k++) {
        if (cw->seats.n >= TIX_VENUE_CHART_MAX_SEATS) {
            tix_payload_join(field, path, "seats", 0);
            return tix_err_set(cw->err, TIX_EINVAL, field, "a chart holds at most %d seats",
                               TIX_VENUE_CHART_MAX_SEATS);
        }
        join_index(field, path, "seats", k);
        const json_t *seat = json_array_get(seats, k);
        if (check_object(seat, field, seat_fields, N_SPECS(seat_fields), cw->err) != TIX_OK ||
            claim_id(&cw->seats, seat, field, "seat", cw->err) != TIX_OK)
            return TIX_EINVAL;
    }
    return TIX_OK;
}

static enum tix_rc check_section(struct chart_walk *cw, const json_t *section, const char *path)
{
    char field[TIX_FIELD_PATH_MAX];
    if (check_object(section, path, section_fields, N_SPECS(section_fields), cw->err) != TIX_OK ||
        claim_id(&cw->areas, section, path, "section or GA area", cw->err) != TIX_OK)
        return TIX_EINVAL;
    idset_clear(&cw->rows);
    const json_t *rows = json_object_get(section, "rows");
    for (size_t j = 0; j < json_array_size(rows); j++) {
        join_index(field, path, "rows", j);
        if (check_row(cw, json_array_get(rows, j), field) != TIX_OK)
            return TIX_EINVAL;
    }
    return TIX_OK;
}

static enum tix_rc check_areas(struct chart_walk *cw, const json_t *chart)
{
    char field[TIX_FIELD_PATH_MAX];
    const json_t *sections = json_object_get(chart, "sections");
    const json_t *ga = json_object_get(chart, "ga_areas");
    if (json_array_size(sections) > TIX_VENUE_CHART_MAX_AREAS)
        return tix_err_set(cw->err, TIX_EINVAL, "chart.sections", "at most %d sections",
                           TIX_VENUE_CHART_MAX_AREAS);
    if (json_array_size(ga) > TIX_VENUE_CHART_MAX_AREAS)
        return tix_err_set(cw->err, TIX_EINVAL, "chart.ga_areas", "at most %d GA areas",
                           TIX_VENUE_CHART_MAX_AREAS);
    for (size_t i = 0; i < json_array_size(sections); i++) {
        join_index(field, "chart", "sections", i);
        if (check_section(cw, json_array_get(sections, i), field) != TIX_OK)
            return TIX_EINVAL;
    }
    for (size_t i = 0; i < json_array_size(ga); i++) {
        join_index(field, "chart", "ga_areas", i);
        const json_t *area = json_array_get(ga, i);
        if (check_object(area, field, ga_fields, N_SPECS(ga_fields), cw->err) != TIX_OK ||
            claim_id(&cw->areas, area, field, "section or GA area", cw->err) != TIX_OK)
            return TIX_EINVAL;
    }
    if (cw->seats.n == 0 && json_array_size(ga) == 0)
        return tix_err_set(cw->err, TIX_EINVAL, "chart", "a chart needs a seat or a GA area");
    return TIX_OK;
}

/* Checks a chart document's shape (not its capacity against its content: decide does that). */
static enum tix_rc check_chart(const json_t *chart, struct tix_err *err)
{
    if (check_object(chart, "chart", chart_fields, N_SPECS(chart_fields), err) != TIX_OK)
        return TIX_EINVAL;
    struct chart_walk cw = {.err = err};
    enum tix_rc rc = check_areas(&cw, chart);
    free(cw.areas.keys);
    free(cw.rows.keys);
    free(cw.seats.keys);
    return rc;
}

struct chart_summary {
    int64_t seats;
    int64_t ga_capacity;
    int64_t sections;
    char checksum[65];
};

/* Counts a checked chart and hashes its canonical bytes. */
static void summarize_chart(const json_t *chart, struct chart_summary *sum)
{
    memset(sum, 0, sizeof(*sum));
    const json_t *sections = json_object_get(chart, "sections");
    const json_t *ga = json_object_get(chart, "ga_areas");
    sum->sections = (int64_t)json_array_size(sections);
    for (size_t i = 0; i < json_array_size(sections); i++) {
        const json_t *rows = json_object_get(json_array_get(sections, i), "rows");
        for (size_t j = 0; j < json_array_size(rows); j++)
            sum->seats +=
                (int64_t)json_array_size(json_object_get(json_array_get(rows, j), "seats"));
    }
    for (size_t i = 0; i < json_array_size(ga); i++)
        sum->ga_capacity += tix_json_int(json_array_get(ga, i), "capacity", 0);
    char *bytes = tix_json_dump(chart);
    unsigned char hash[32];
    crypto_generichash(hash, sizeof(hash), (const unsigned char *)bytes, strlen(bytes), NULL, 0);
    free(bytes);
    sodium_bin2hex(sum->checksum, sizeof(sum->checksum), hash, sizeof(hash));
}

/* ---- streams ------------------------------------------------------------------------------ */

static const struct tix_field_spec create_fields[] = {
    {"venue_id", K_UUID, true},     {"organization_id", K_UUID, true},
    {"name", K_NAME, true},         {"address", K_ADDRESS, true},
    {"timezone", K_TIMEZONE, true}, {"location", K_LOCATION, false},
    {"capacity", K_CAPACITY, true}, {"accessibility", K_ACCESSIBILITY, false},
};
static const struct tix_field_spec update_fields[] = {
    {"venue_id", K_UUID, true},
    {"name", K_NAME, false},
    {"address", K_ADDRESS, false},
    {"timezone", K_TIMEZONE, false},
    {"location", K_LOCATION_OR_NULL, false},
    {"capacity", K_CAPACITY, false},
    {"accessibility", K_ACCESSIBILITY_OR_NULL, false},
};
static const struct tix_field_spec id_fields[] = {{"venue_id", K_UUID, true}};
static const struct tix_field_spec bind_fields[] = {
    {"venue_id", K_UUID, true},
    {"event_id", K_UUID, true},
    {"chart_version", K_VERSION, true},
};
static const struct tix_field_spec unbind_fields[] = {
    {"venue_id", K_UUID, true},
    {"event_id", K_UUID, true},
};
static const struct tix_field_spec publish_fields[] = {
    {"venue_id", K_UUID, true},
    {"chart", K_CHART, true},
};

static void stream_id(char out[TIX_STREAM_ID_MAX], const char *key)
{
    snprintf(out, TIX_STREAM_ID_MAX, "%s%s", TIX_VENUE_STREAM_PREFIX, key);
}

static int venue_streams(const struct tix_command *cmd, const struct tix_field_spec *specs,
                         size_t n, char ids[][TIX_STREAM_ID_MAX], struct tix_err *err)
{
    if (check_object(cmd->payload, "", specs, n, err) != TIX_OK ||
        tix_payload_check_key(cmd->payload, "venue_id", cmd->key, err) != TIX_OK)
        return -1;
    if (specs == publish_fields &&
        check_chart(json_object_get(cmd->payload, "chart"), err) != TIX_OK)
        return -1;
    stream_id(ids[0], cmd->key);
    return 1;
}

static int create_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                          struct tix_err *err)
{
    return venue_streams(cmd, create_fields, N_SPECS(create_fields), ids, err);
}

static int update_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                          struct tix_err *err)
{
    return venue_streams(cmd, update_fields, N_SPECS(update_fields), ids, err);
}

static int id_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                      struct tix_err *err)
{
    return venue_streams(cmd, id_fields, N_SPECS(id_fields), ids, err);
}

static int bind_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                        struct tix_err *err)
{
    return venue_streams(cmd, bind_fields, N_SPECS(bind_fields), ids, err);
}

static int unbind_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                          struct tix_err *err)
{
    return venue_streams(cmd, unbind_fields, N_SPECS(unbind_fields), ids, err);
}

static int publish_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                           struct tix_err *err)
{
    return venue_streams(cmd, publish_fields, N_SPECS(publish_fields), ids, err);
}

/* ---- decide ------------------------------------------------------------------------------- */

static int find_binding(const struct tix_venue_state *s, const char *event_id)
{
    for (int i = 0; i < s->n_bindings; i++)
        if (strcmp(s->bindings[i].event_id, event_id) == 0)
            return i;
    return -1;
}

/* The venue's state when the actor may act, it exists and is not deleted; NULL after rejecting
 * out. With is_create, a missing venue is returned and an existing one rejected. */
static const struct tix_venue_state *load_venue(const struct tix_command *cmd,
                                                const struct tix_view *view, bool is_create,
                                                struct tix_decision *out)
{
    char id[TIX_STREAM_ID_MAX];
    stream_id(id, cmd->key);
    const struct tix_venue_state *s = tix_view_state(view, id, NULL);
    struct tix_actor a = tix_payload_parse_actor(cmd->actor);
    if (!a.is_valid) {
        tix_decision_reject(out, "forbidden", NULL, "the actor may not manage venues");
        return NULL;
    }
    if (s == NULL || (!s->exists && !is_create)) {
        tix_decision_reject(out, "not_found", "venue_id", "venue %s does not exist", cmd->key);
        return NULL;
    }
    if (s->is_deleted) {
        tix_decision_reject(out, "deleted", "venue_id", "venue %s is deleted", cmd->key);
        return NULL;
    }
    if (s->exists && is_create) {
        tix_decision_reject(out, "already_exists", "venue_id", "venue %s exists", cmd->key);
        return NULL;
    }
    return s;
}

static void emit(struct tix_decision *out, const struct tix_command *cmd, const char *type,
                 json_t *data)
{
    char id[TIX_STREAM_ID_MAX];
    stream_id(id, cmd->key);
    tix_decision_emit(out, id, type, data);
}

static void decide_create(const struct tix_command *cmd, const struct tix_view *view,
                          struct tix_decision *out)
{
    if (load_venue(cmd, view, true, out) == NULL)
        return;
    emit(out, cmd, "venue.created", json_deep_copy(cmd->payload));
}

/* True when the update value v differs from the state's current (NULL: absent). */
static bool differs(const json_t *v, const json_t *current)
{
    if (json_is_null(v))
        return current != NULL;
    return current == NULL || !json_equal(v, current);
}

/* The largest capacity among charts bound to events (0 when none). */
static int64_t bound_chart_capacity(const struct tix_venue_state *s)
{
    int64_t max = 0;
    for (int i = 0; i < s->n_bindings; i++) {
        int64_t v = s->bindings[i].chart_version;
        if (v > 0 && v <= s->n_charts && s->charts[v - 1].capacity > max)
            max = s->charts[v - 1].capacity;
    }
    return max;
}

static void decide_update(const struct tix_command *cmd, const struct tix_view *view,
                          struct tix_decision *out)
{
    const struct tix_venue_state *s = load_venue(cmd, view, false, out);
    if (s == NULL)
        return;
    const json_t *p = cmd->payload;
    json_t *data = json_object();
    const char *name = tix_json_str(p, "name");
    const char *tz = tix_json_str(p, "timezone");
    const json_t *capacity = json_object_get(p, "capacity");
    if (name != NULL && strcmp(name, s->name) != 0)
        json_object_set(data, "name", json_object_get(p, "name"));
    if (tz != NULL && strcmp(tz, s->timezone) != 0)
        json_object_set(data, "timezone", json_object_get(p, "timezone"));
    if (capacity != NULL && json_integer_value(capacity) != s->capacity)
        json_object_set(data, "capacity", (json_t *)capacity);
    const char *objects[] = {"address", "location", "accessibility"};
    const json_t *current[] = {s->address, s->location, s->accessibility};
    for (int i = 0; i < 3; i++) {
        const json_t *v = json_object_get(p, objects[i]);
        if (v != NULL && differs(v, current[i]))
            json_object_set_new(data, objects[i], json_deep_copy(v));
    }
    if (capacity != NULL && json_integer_value(capacity) < bound_chart_capacity(s)) {
        json_decref(data);
        tix_decision_reject(out, "over_capacity", "capacity",
                            "a chart bound to an event holds more than %lld places",
                            (long long)json_integer_value(capacity));
        return;
    }
    if (json_object_size(data) == 0) {
        json_decref(data);
        return;
    }
    json_object_set_new(data, "venue_id", json_string(cmd->key));
    emit(out, cmd, "venue.updated", data);
}

static void decide_delete(const struct tix_command *cmd, const struct tix_view *view,
                          struct tix_decision *out)
{
    const struct tix_venue_state *s = load_venue(cmd, view, false, out);
    if (s == NULL)
        return;
    if (s->n_bindings > 0) {
        tix_decision_reject(out, "in_use", "venue_id", "%d events are bound to the venue",
                            s->n_bindings);
        return;
    }
    emit(out, cmd, "venue.deleted", json_pack("{s:s}", "venue_id", cmd->key));
}

static void decide_bind(const struct tix_command *cmd, const struct tix_view *view,
                        struct tix_decision *out)
{
    const struct tix_venue_state *s = load_venue(cmd, view, false, out);
    if (s == NULL)
        return;
    const char *event_id = tix_json_str(cmd->payload, "event_id");
    json_int_t version = tix_json_int(cmd->payload, "chart_version", -1);
    if (version > s->n_charts) {
        tix_decision_reject(out, "chart_not_found", "chart_version",
                            "chart version %lld does not exist", (long long)version);
        return;
    }
    int i = find_binding(s, event_id);
    if (i >= 0 && s->bindings[i].chart_version == version)
        return;
    if (i >= 0) {
        tix_decision_reject(out, "already_bound", "event_id",
                            "the event is bound to chart version %lld",
                            (long long)s->bindings[i].chart_version);
        return;
    }
    emit(out, cmd, "venue.event_bound",
         json_pack("{s:s, s:s, s:I}", "venue_id", cmd->key, "event_id", event_id, "chart_version",
                   version));
}

static void decide_unbind(const struct tix_command *cmd, const struct tix_view *view,
                          struct tix_decision *out)
{
    const struct tix_venue_state *s = load_venue(cmd, view, false, out);
    if (s == NULL)
        return;
    int i = find_binding(s, tix_json_str(cmd->payload, "event_id"));
    if (i < 0)
        return;
    emit(out, cmd, "venue.event_unbound",
         json_pack("{s:s, s:s, s:I}", "venue_id", cmd->key, "event_id", s->bindings[i].event_id,
                   "chart_version", (json_int_t)s->bindings[i].chart_version));
}

static void decide_publish(const struct tix_command *cmd, const struct tix_view *view,
                           struct tix_decision *out)
{
    const struct tix_venue_state *s = load_venue(cmd, view, false, out);
    if (s == NULL)
        return;
    const json_t *chart = json_object_get(cmd->payload, "chart");
    json_int_t capacity = tix_json_int(chart, "capacity", -1);
    struct chart_summary sum;
    summarize_chart(chart, &sum);
    if (capacity != sum.seats + sum.ga_capacity) {
        tix_decision_reject(out, "capacity_mismatch", "chart.capacity",
                            "capacity %lld is not %lld seats plus %lld GA places",
                            (long long)capacity, (long long)sum.seats, (long long)sum.ga_capacity);
        return;
    }
    if (capacity > s->capacity) {
        tix_decision_reject(out, "over_capacity", "chart.capacity",
                            "the chart holds %lld places, the venue %lld", (long long)capacity,
                            (long long)s->capacity);
        return;
    }
    emit(out, cmd, "venue.chart_published",
         json_pack("{s:s, s:I, s:O, s:I, s:I, s:I, s:I, s:s}", "venue_id", cmd->key, "version",
                   (json_int_t)s->n_charts + 1, "chart", chart, "capacity", capacity, "seats",
                   (json_int_t)sum.seats, "ga_capacity", (json_int_t)sum.ga_capacity, "sections",
                   (json_int_t)sum.sections, "checksum", sum.checksum));
}

const struct tix_command_handler tix_venue_handlers[] = {
    {"venue.create", create_streams, decide_create},
    {"venue.update", update_streams, decide_update},
    {"venue.delete", id_streams, decide_delete},
    {"venue.bind_event", bind_streams, decide_bind},
    {"venue.unbind_event", unbind_streams, decide_unbind},
    {"venue.publish_chart", publish_streams, decide_publish},
    {NULL, NULL, NULL},
};

/* ---- evolve ------------------------------------------------------------------------------- */

static void *venue_create(void)
{
    return tix_xcalloc(1, sizeof(struct tix_venue_state));
}

static void venue_destroy(void *p)
{
    struct tix_venue_state *s = p;
    if (s == NULL)
        return;
    json_decref(s->address);
    json_decref(s->location);
    json_decref(s->accessibility);
    free(s->bindings);
    free(s->charts);
    free(s);
}

/* Replaces *slot with a deep copy of v (NULL or JSON null: cleared). */
static void replace(json_t **slot, const json_t *v)
{
    json_decref(*slot);
    *slot = v != NULL && !json_is_null(v) ? json_deep_copy(v) : NULL;
}

/* Applies the fields of a checked created or updated event. */
static void apply_fields(struct tix_venue_state *s, const json_t *data)
{
    const char *name = tix_json_str(data, "name");
    const char *tz = tix_json_str(data, "timezone");
    if (name != NULL)
        snprintf(s->name, sizeof(s->name), "%s", name);
    if (tz != NULL)
        snprintf(s->timezone, sizeof(s->timezone), "%s", tz);
    s->capacity = tix_json_int(data, "capacity", s->capacity);
    if (json_object_get(data, "address") != NULL)
        replace(&s->address, json_object_get(data, "address"));
    if (json_object_get(data, "location") != NULL)
        replace(&s->location, json_object_get(data, "location"));
    if (json_object_get(data, "accessibility") != NULL)
        replace(&s->accessibility, json_object_get(data, "accessibility"));
}

static enum tix_rc apply_created(struct tix_venue_state *s, const json_t *data)
{
    if (s->exists || check_object(data, "", create_fields, N_SPECS(create_fields), NULL) != TIX_OK)
        return TIX_EINVAL;
    s->exists = true;
    snprintf(s->id, sizeof(s->id), "%s", tix_json_str(data, "venue_id"));
    snprintf(s->organization_id, sizeof(s->organization_id), "%s",
             tix_json_str(data, "organization_id"));
    apply_fields(s, data);
    return TIX_OK;
}

static enum tix_rc apply_updated(struct tix_venue_state *s, const json_t *data)
{
    if (check_object(data, "", update_fields, N_SPECS(update_fields), NULL) != TIX_OK)
        return TIX_EINVAL;
    apply_fields(s, data);
    return TIX_OK;
}

static enum tix_rc apply_deleted(struct tix_venue_state *s, const json_t *data)
{
    if (s->n_bindings > 0)
        return TIX_EINVAL;
    s->is_deleted = true;
    return TIX_OK;
}

static enum tix_rc apply_event_bound(struct tix_venue_state *s, const json_t *data)
{
    if (check_object(data, "", bind_fields, N_SPECS(bind_fields), NULL) != TIX_OK)
        return TIX_EINVAL;
    const char *event_id = tix_json_str(data, "event_id");
    int64_t version = tix_json_int(data, "chart_version", -1);
    if (version > s->n_charts || find_binding(s, event_id) >= 0)
        return TIX_EINVAL;
    if (s->n_bindings == s->cap_bindings) {
        s->cap_bindings = s->cap_bindings == 0 ? 4 : s->cap_bindings * 2;
        s->bindings = tix_xrealloc(s->bindings, (size_t)s->cap_bindings * sizeof(s->bindings[0]));
    }
    struct tix_venue_binding *b = &s->bindings[s->n_bindings++];
    snprintf(b->event_id, sizeof(b->event_id), "%s", event_id);
    b->chart_version = version;
    return TIX_OK;
}

static enum tix_rc apply_event_unbound(struct tix_venue_state *s, const json_t *data)
{
    const char *event_id = tix_json_str(data, "event_id");
    int i = event_id != NULL ? find_binding(s, event_id) : -1;
    if (i < 0)
        return TIX_EINVAL;
    memmove(&s->bindings[i], &s->bindings[i + 1],
            (size_t)(s->n_bindings - i - 1) * sizeof(s->bindings[0]));
    s->n_bindings--;
    return TIX_OK;
}

static bool is_count(const json_t *data, const char *key)
{
    const json_t *v = json_object_get(data, key);
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

static enum tix_rc apply_chart_published(struct tix_venue_state *s, const json_t *data)
{
    const char *checksum = tix_payload_str_fitting(data, "checksum", TIX_HEX64_SIZE);
    if (tix_json_int(data, "version", -1) != s->n_charts + 1 || !is_count(data, "capacity") ||
        !is_count(data, "seats") || !is_count(data, "ga_capacity") ||
        !json_is_object(json_object_get(data, "chart")) || !tix_payload_is_hex64(checksum))
        return TIX_EINVAL;
    if (s->n_charts == s->cap_charts) {
        s->cap_charts = s->cap_charts == 0 ? 4 : s->cap_charts * 2;
        s->charts = tix_xrealloc(s->charts, (size_t)s->cap_charts * sizeof(s->charts[0]));
    }
    struct tix_venue_chart *c = &s->charts[s->n_charts++];
    c->version = s->n_charts;
    c->capacity = tix_json_int(data, "capacity", 0);
    c->seats = tix_json_int(data, "seats", 0);
    c->ga_capacity = tix_json_int(data, "ga_capacity", 0);
    snprintf(c->checksum, sizeof(c->checksum), "%s", checksum);
    return TIX_OK;
}

static const struct {
    const char *type;
    enum tix_rc (*apply)(struct tix_venue_state *s, const json_t *data);
} appliers[] = {
    {"venue.created", apply_created},
    {"venue.updated", apply_updated},
    {"venue.deleted", apply_deleted},
    {"venue.event_bound", apply_event_bound},
    {"venue.event_unbound", apply_event_unbound},
    {"venue.chart_published", apply_chart_published},
};

static enum tix_rc venue_evolve(void *p, const char *type, int schema_version, const json_t *data)
{
    struct tix_venue_state *s = p;
    for (size_t i = 0; i < sizeof(appliers) / sizeof(appliers[0]); i++) {
        if (strcmp(type, appliers[i].type) != 0)
            continue;
        if (schema_version != 1 || !json_is_object(data))
            return TIX_EINVAL;
        if (appliers[i].apply != apply_created) {
            const char *id = tix_json_str(data, "venue_id");
            if (!s->exists || s->is_deleted || id == NULL || strcmp(id, s->id) != 0)
                return TIX_EINVAL;
        }
        return appliers[i].apply(s, data);
    }
    return TIX_OK;
}

const struct tix_stream_kind tix_venue_stream_kind = {
    .prefix = TIX_VENUE_STREAM_PREFIX,
    .create = venue_create,
    .destroy = venue_destroy,
    .evolve = venue_evolve,
};
