/* event.c - the event aggregate: instants, payload checks, decide and evolve
 *
 * Three layers, all pure. streams() checks a payload field by field (type, value rules, nested
 * arrays and objects, no unknown keys) plus the rules a create payload must keep on its own
 * (sales window, distinct session starts and ids, session capacities), and names the event
 * stream. decide() applies the rules in a fixed order (forbidden, not_found, deleted, then the
 * command's own) and emits complete events. evolve() checks each known event with the same field
 * checks before touching the state, so a malformed event changes nothing.
 *
 * Invariants kept here: a state never aliases JSON owned by a decision or an event (values are
 * deep-copied); sessions stay sorted by starts_at with distinct starts and ids; an event keeps at
 * least one session; sales_end never passes the last session's end; every session capacity fits
 * the event capacity; every event is schema_version 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/mem.h"
#include "tix/tz.h"

#include "event.h"
#include "payload.h"

/* ---- statuses and instants ------------------------------------------------------------- */

static const char *const status_names[] = {
    [TIX_EVENT_DRAFT] = "draft",         [TIX_EVENT_PUBLISHED] = "published",
    [TIX_EVENT_ON_SALE] = "on_sale",     [TIX_EVENT_SOLD_OUT] = "sold_out",
    [TIX_EVENT_COMPLETED] = "completed", [TIX_EVENT_CANCELLED] = "cancelled",
};

/* The status with its article, for messages ("cannot publish an on-sale event"). */
static const char *const status_phrases[] = {
    [TIX_EVENT_DRAFT] = "a draft",         [TIX_EVENT_PUBLISHED] = "a published",
    [TIX_EVENT_ON_SALE] = "an on-sale",    [TIX_EVENT_SOLD_OUT] = "a sold-out",
    [TIX_EVENT_COMPLETED] = "a completed", [TIX_EVENT_CANCELLED] = "a cancelled",
};

#define N_STATUSES ((int)(sizeof(status_names) / sizeof(status_names[0])))

const char *tix_event_status_name(enum tix_event_status status)
{
    if ((int)status < 0 || (int)status >= N_STATUSES)
        return "unknown";
    return status_names[status];
}

int tix_event_status_parse(const char *s)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < N_STATUSES; i++)
        if (strcmp(s, status_names[i]) == 0)
            return i;
    return -1;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Reads n decimal digits at s into *out; false unless all n are digits. */
static bool read_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool tix_event_parse_instant(const char *s, int64_t *out)
{
    if (s == NULL || strlen(s) != TIX_EVENT_INSTANT_LEN)
        return false;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z')
        return false;
    int y, mo, d, h, mi, sec;
    if (!read_digits(s, 4, &y) || !read_digits(s + 5, 2, &mo) || !read_digits(s + 8, 2, &d) ||
        !read_digits(s + 11, 2, &h) || !read_digits(s + 14, 2, &mi) ||
        !read_digits(s + 17, 2, &sec))
        return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 59)
        return false;
    *out = tix_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    return true;
}

void tix_event_format_instant(int64_t s, char out[TIX_EVENT_INSTANT_LEN + 1])
{
    int64_t y, secs = s % 86400; /* s >= 0 */
    int m, d;
    tix_civil_from_days(s / 86400, &y, &m, &d);
    snprintf(out, TIX_EVENT_INSTANT_LEN + 1, "%04u-%02u-%02uT%02u:%02u:%02uZ",
             (unsigned)(y % 10000), (unsigned)(m % 13), (unsigned)(d % 32),
             (unsigned)(secs / 3600 % 24), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
}

/* ---- text rules ------------------------------------------------------------------------- */

/* A new JSON string holding v's text trimmed of ASCII white space. */
static json_t *trimmed(const json_t *v)
{
    size_t len = json_string_length(v);
    const char *s = tix_payload_trim(json_string_value(v), &len);
    return json_stringn(s, len);
}

static bool is_category(const json_t *v)
{
    if (!tix_payload_is_plain_string(v))
        return false;
    size_t len = json_string_length(v);
    return len >= 1 && len <= TIX_EVENT_CATEGORY_MAX &&
           strspn(json_string_value(v), "abcdefghijklmnopqrstuvwxyz0123456789-") == len;
}

static bool is_https_url(const json_t *v)
{
    if (!tix_payload_is_plain_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len <= 8 || len > TIX_EVENT_URL_MAX || strncmp(s, "https://", 8) != 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
            return false;
    return true;
}

/* The timezone rule of payload.c (IANA-ish, 1..64 bytes), reused through its field table. */
static bool is_timezone(const json_t *v)
{
    static const struct tix_field_spec spec[] = {{"timezone", TIX_FIELD_TIMEZONE, true}};
    json_t *o = json_pack("{s:O}", "timezone", (json_t *)v);
    bool ok = tix_payload_check(o, spec, 1, NULL) == TIX_OK;
    json_decref(o);
    return ok;
}

static bool is_instant(const json_t *v, int64_t *out)
{
    int64_t ignored;
    return tix_payload_is_plain_string(v) &&
           tix_event_parse_instant(json_string_value(v), out != NULL ? out : &ignored);
}

static bool is_int_in(const json_t *v, json_int_t min, json_int_t max)
{
    return json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max;
}

/* ---- payload shapes --------------------------------------------------------------------- */

enum field_kind {
    F_UUID,
    F_NAME,
    F_DESCRIPTION,
    F_CATEGORY,
    F_TAGS,
    F_IMAGES,
    F_VIDEOS,
    F_URL,
    F_ALT,
    F_METADATA,
    F_TIMEZONE,
    F_VISIBILITY,
    F_CAPACITY,
    F_CHART_VERSION,
    F_INSTANT,
    F_SESSIONS,
    F_SESSION,
    F_REASON,
    F_RANK,
};

#define N_SPECS(a) (sizeof(a) / sizeof((a)[0]))

static const struct tix_field_spec image_fields[] = {
    {.name = "url", .kind = F_URL, .is_required = true},
    {.name = "alt", .kind = F_ALT, .is_required = false},
};
static const struct tix_field_spec video_fields[] = {
    {.name = "url", .kind = F_URL, .is_required = true},
};
static const struct tix_field_spec session_fields[] = {
    {.name = "session_id", .kind = F_UUID, .is_required = true},
    {.name = "name", .kind = F_NAME, .is_required = false},
    {.name = "starts_at", .kind = F_INSTANT, .is_required = true},
    {.name = "ends_at", .kind = F_INSTANT, .is_required = true},
    {.name = "capacity", .kind = F_CAPACITY, .is_required = false},
};

static enum tix_rc check_object(const json_t *obj, const struct tix_field_spec *specs, size_t n,
                                const char *path, struct tix_err *err);

/* Sets err for the field path.name (or path[i] when name is NULL); returns TIX_EINVAL. */
static enum tix_rc bad(struct tix_err *err, const char *path, const char *name, size_t i,
                       const char *problem)
{
    char field[TIX_FIELD_PATH_MAX];
    tix_payload_join(field, path, name, i);
    return tix_payload_field_problem(err, field, problem);
}

/* Checks an array of at most max members, each distinct and acceptable to item (tags) or an
 * object of specs (images, videos, sessions); path names the array. */
static enum tix_rc check_array(const json_t *v, const char *path, size_t min, size_t max,
                               const struct tix_field_spec *specs, size_t n, struct tix_err *err)
{
    if (!json_is_array(v) || json_array_size(v) < min || json_array_size(v) > max) {
        char problem[64];
        snprintf(problem, sizeof(problem), "must be an array of %zu..%zu items", min, max);
        return bad(err, "", path, 0, problem);
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *item = json_array_get(v, i);
        char item_path[TIX_FIELD_PATH_MAX];
        tix_payload_join(item_path, path, NULL, i);
        if (specs == NULL && !tix_payload_is_text(item, 1, TIX_EVENT_TAG_MAX_CHARS, false, false))
            return bad(err, path, NULL, i, "must be 1..40 characters");
        if (specs != NULL && check_object(item, specs, n, item_path, err) != TIX_OK)
            return TIX_EINVAL;
        for (size_t k = 0; specs == NULL && k < i; k++)
            if (json_equal(item, json_array_get(v, k)))
                return bad(err, path, NULL, i, "must be distinct");
    }
    return TIX_OK;
}

/* A session's own rule: it ends after it starts, at most 31 days later. */
static enum tix_rc check_session_span(const json_t *session, const char *path, struct tix_err *err)
{
    int64_t starts = 0, ends = 0;
    is_instant(json_object_get(session, "starts_at"), &starts);
    is_instant(json_object_get(session, "ends_at"), &ends);
    if (ends <= starts)
        return bad(err, path, "ends_at", 0, "must be after starts_at");
    if (ends - starts > TIX_EVENT_SESSION_MAX_SECONDS)
        return bad(err, path, "ends_at", 0, "must be at most 31 days after starts_at");
    return TIX_OK;
}

/* NULL when the scalar v is acceptable for kind, else what is wrong with it. */
static const char *check_scalar(enum field_kind kind, const json_t *v)
{
    switch (kind) {
    case F_UUID:
        return tix_payload_is_plain_string(v) && tix_uuid_is_valid(json_string_value(v))
                   ? NULL
                   : "must be a lowercase UUID";
    case F_NAME:
        return tix_payload_is_text(v, 1, TIX_EVENT_NAME_MAX_CHARS, true, false)
                   ? NULL
                   : "must be 1..200 characters without control characters";
    case F_DESCRIPTION:
        return tix_payload_is_text(v, 0, TIX_EVENT_DESCRIPTION_MAX, false, true)
                   ? NULL
                   : "must be 0..20000 characters";
    case F_ALT:
        return tix_payload_is_text(v, 0, TIX_EVENT_ALT_MAX_CHARS, false, false)
                   ? NULL
                   : "must be 0..200 characters";
    case F_REASON:
        return tix_payload_is_text(v, 1, TIX_EVENT_REASON_MAX_CHARS, true, true)
                   ? NULL
                   : "must be 1..500 characters";
    case F_CATEGORY:
        return is_category(v) ? NULL : "must be 1..50 of a-z, 0-9 and -";
    case F_URL:
        return is_https_url(v) ? NULL : "must be an https:// URL of at most 2000 bytes";
    case F_TIMEZONE:
        return is_timezone(v) ? NULL : "must be an IANA time zone like Europe/Berlin";
    case F_VISIBILITY:
        return tix_payload_is_plain_string(v) && (strcmp(json_string_value(v), "public") == 0 ||
                                                  strcmp(json_string_value(v), "private") == 0)
                   ? NULL
                   : "must be public or private";
    case F_CAPACITY:
        return is_int_in(v, 1, TIX_EVENT_CAPACITY_MAX) ? NULL : "must be an integer 1..1000000";
    case F_CHART_VERSION:
        return is_int_in(v, 0, INT32_MAX) ? NULL : "must be an integer >= 0";
    case F_RANK:
        return is_int_in(v, 1, TIX_EVENT_RANK_MAX) ? NULL : "must be an integer 1..1000";
    case F_INSTANT:
        return is_instant(v, NULL) ? NULL : "must be an instant like 2026-12-31T19:30:00Z";
    case F_METADATA:
        if (!json_is_object(v))
            return "must be an object";
        return json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS) > TIX_EVENT_METADATA_MAX_BYTES
                   ? "is too large (16 KiB at most)"
                   : NULL;
    default:
        return "is not supported";
    }
}

/* Checks the value v of the field path against kind. */
static enum tix_rc check_field_cb(int kind, const json_t *v, const char *path, const void *ctx,
                                  struct tix_err *err)
{
    (void)ctx;
    switch ((enum field_kind)kind) {
    case F_TAGS:
        return check_array(v, path, 0, TIX_EVENT_TAGS_MAX, NULL, 0, err);
    case F_IMAGES:
        return check_array(v, path, 0, TIX_EVENT_IMAGES_MAX, image_fields, N_SPECS(image_fields),
                           err);
    case F_VIDEOS:
        return check_array(v, path, 0, TIX_EVENT_VIDEOS_MAX, video_fields, N_SPECS(video_fields),
                           err);
    case F_SESSIONS:
        return check_array(v, path, 1, TIX_EVENT_SESSIONS_MAX, session_fields,
                           N_SPECS(session_fields), err);
    case F_SESSION:
        return check_object(v, session_fields, N_SPECS(session_fields), path, err);
    default:
        return tix_payload_field_problem(err, path, check_scalar((enum field_kind)kind, v));
    }
}

/* Checks obj against specs (tix_payload_check_object; an unknown key is named by its first 47
 * bytes); fields are named path.name. A session object also keeps its span. */
static enum tix_rc check_object(const json_t *obj, const struct tix_field_spec *specs, size_t n,
                                const char *path, struct tix_err *err)
{
    static const struct tix_field_rules rules = {.check = check_field_cb, .key_max = 47};
    if (tix_payload_check_object(obj, path, specs, n, &rules, err) != TIX_OK)
        return TIX_EINVAL;
    if (specs == session_fields)
        return check_session_span(obj, path, err);
    return TIX_OK;
}

/* ---- commands' payloads ----------------------------------------------------------------- */

static const struct tix_field_spec create_fields[] = {
    {.name = "event_id", .kind = F_UUID, .is_required = true},
    {.name = "organization_id", .kind = F_UUID, .is_required = true},
    {.name = "venue_id", .kind = F_UUID, .is_required = false},
    {.name = "chart_version", .kind = F_CHART_VERSION, .is_required = false},
    {.name = "name", .kind = F_NAME, .is_required = true},
    {.name = "description", .kind = F_DESCRIPTION, .is_required = false},
    {.name = "category", .kind = F_CATEGORY, .is_required = true},
    {.name = "tags", .kind = F_TAGS, .is_required = false},
    {.name = "images", .kind = F_IMAGES, .is_required = false},
    {.name = "videos", .kind = F_VIDEOS, .is_required = false},
    {.name = "metadata", .kind = F_METADATA, .is_required = false},
    {.name = "timezone", .kind = F_TIMEZONE, .is_required = true},
    {.name = "visibility", .kind = F_VISIBILITY, .is_required = true},
    {.name = "capacity", .kind = F_CAPACITY, .is_required = true},
    {.name = "sales_start", .kind = F_INSTANT, .is_required = false},
    {.name = "sales_end", .kind = F_INSTANT, .is_required = false},
    {.name = "sessions", .kind = F_SESSIONS, .is_required = true},
};
/* Every field but event_id is optional: an update names what it changes. */
static const struct tix_field_spec update_fields[] = {
    {.name = "event_id", .kind = F_UUID, .is_required = true},
    {.name = "name", .kind = F_NAME, .is_required = false},
    {.name = "description", .kind = F_DESCRIPTION, .is_required = false},
    {.name = "category", .kind = F_CATEGORY, .is_required = false},
    {.name = "tags", .kind = F_TAGS, .is_required = false},
    {.name = "images", .kind = F_IMAGES, .is_required = false},
    {.name = "videos", .kind = F_VIDEOS, .is_required = false},
    {.name = "metadata", .kind = F_METADATA, .is_required = false},
    {.name = "visibility", .kind = F_VISIBILITY, .is_required = false},
    {.name = "capacity", .kind = F_CAPACITY, .is_required = false},
    {.name = "sales_start", .kind = F_INSTANT, .is_required = false},
    {.name = "sales_end", .kind = F_INSTANT, .is_required = false},
};
static const struct tix_field_spec add_session_fields[] = {
    {.name = "event_id", .kind = F_UUID, .is_required = true},
    {.name = "session", .kind = F_SESSION, .is_required = true},
};
static const struct tix_field_spec update_session_fields[] = {
    {.name = "event_id", .kind = F_UUID, .is_required = true},
    {.name = "session_id", .kind = F_UUID, .is_required = true},
    {.name = "name", .kind = F_NAME, .is_required = false},
    {.name = "starts_at", .kind = F_INSTANT, .is_required = false},
    {.name = "ends_at", .kind = F_INSTANT, .is_required = false},
    {.name = "capacity", .kind = F_CAPACITY, .is_required = false},
};
static const struct tix_field_spec session_id_fields[] = {
    {.name = "event_id", .kind = F_UUID, .is_required = true},
    {.name = "session_id", .kind = F_UUID, .is_required = true},
};
static const struct tix_field_spec cancel_fields[] = {
    {.name = "event_id", .kind = F_UUID, .is_required = true},
    {.name = "reason", .kind = F_REASON, .is_required = true},
};
static const struct tix_field_spec cancel_session_fields[] = {
    {.name = "event_id", .kind = F_UUID, .is_required = true},
    {.name = "session_id", .kind = F_UUID, .is_required = true},
    {.name = "reason", .kind = F_REASON, .is_required = true},
};
static const struct tix_field_spec id_fields[] = {
    {.name = "event_id", .kind = F_UUID, .is_required = true},
};
static const struct tix_field_spec feature_fields[] = {
    {.name = "event_id", .kind = F_UUID, .is_required = true},
    {.name = "rank", .kind = F_RANK, .is_required = true},
};

/* The Unix seconds of the instant member key of obj, or def when absent. */
static int64_t instant_of(const json_t *obj, const char *key, int64_t def)
{
    int64_t s;
    return is_instant(json_object_get(obj, key), &s) ? s : def;
}

/* The latest end among the sessions array. */
static int64_t last_end_of(const json_t *sessions)
{
    int64_t last = 0;
    for (size_t i = 0; i < json_array_size(sessions); i++)
        if (instant_of(json_array_get(sessions, i), "ends_at", 0) > last)
            last = instant_of(json_array_get(sessions, i), "ends_at", 0);
    return last;
}

/* Sessions of a create payload: distinct ids, distinct starts, capacities within capacity. */
static enum tix_rc check_sessions_together(const json_t *sessions, json_int_t capacity,
                                           struct tix_err *err)
{
    for (size_t i = 0; i < json_array_size(sessions); i++) {
        const json_t *s = json_array_get(sessions, i);
        char path[TIX_FIELD_PATH_MAX];
        tix_payload_join(path, "sessions", NULL, i);
        if (tix_json_int(s, "capacity", 0) > capacity)
            return bad(err, path, "capacity", 0, "must not exceed the event's capacity");
        for (size_t k = 0; k < i; k++) {
            const json_t *o = json_array_get(sessions, k);
            if (json_equal(json_object_get(s, "session_id"), json_object_get(o, "session_id")))
                return bad(err, path, "session_id", 0, "must be distinct");
            if (instant_of(s, "starts_at", 0) == instant_of(o, "starts_at", 0))
                return bad(err, path, "starts_at", 0, "must differ from every other start");
        }
    }
    return TIX_OK;
}

/* The rules a create payload keeps on its own, beyond each field's shape. */
static enum tix_rc check_create_rules(const json_t *p, struct tix_err *err)
{
    bool has_venue = json_object_get(p, "venue_id") != NULL;
    bool has_chart = json_object_get(p, "chart_version") != NULL;
    if (has_venue && !has_chart)
        return bad(err, "", "chart_version", 0, "is required with venue_id");
    if (has_chart && !has_venue)
        return bad(err, "", "chart_version", 0, "requires venue_id");
    int64_t start = instant_of(p, "sales_start", -1), end = instant_of(p, "sales_end", -1);
    if (start >= 0 && end >= 0 && end <= start)
        return bad(err, "", "sales_end", 0, "must be after sales_start");
    const json_t *sessions = json_object_get(p, "sessions");
    if (end >= 0 && end > last_end_of(sessions))
        return bad(err, "", "sales_end", 0, "must not be after the last session ends");
    return check_sessions_together(sessions, json_integer_value(json_object_get(p, "capacity")),
                                   err);
}

/* Checks cmd's payload against specs; event_id must also equal cmd->key. */
static enum tix_rc check_payload(const struct tix_command *cmd, const struct tix_field_spec *specs,
                                 size_t n, struct tix_err *err)
{
    if (check_object(cmd->payload, specs, n, "", err) != TIX_OK ||
        tix_payload_check_key(cmd->payload, "event_id", cmd->key, err) != TIX_OK)
        return TIX_EINVAL;
    if (specs == create_fields)
        return check_create_rules(cmd->payload, err);
    return TIX_OK;
}

static void stream_id(char out[TIX_STREAM_ID_MAX], const char *key)
{
    snprintf(out, TIX_STREAM_ID_MAX, "%s%s", TIX_EVENT_STREAM_PREFIX, key);
}

static int event_streams(const struct tix_command *cmd, const struct tix_field_spec *specs,
                         size_t n, char ids[][TIX_STREAM_ID_MAX], struct tix_err *err)
{
    if (check_payload(cmd, specs, n, err) != TIX_OK)
        return -1;
    stream_id(ids[0], cmd->key);
    return 1;
}

#define STREAMS_FN(fn, specs)                                                                      \
    static int fn(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],                    \
                  struct tix_err *err)                                                             \
    {                                                                                              \
        return event_streams(cmd, specs, N_SPECS(specs), ids, err);                                \
    }

STREAMS_FN(create_streams, create_fields)
STREAMS_FN(update_streams, update_fields)
STREAMS_FN(add_session_streams, add_session_fields)
STREAMS_FN(update_session_streams, update_session_fields)
STREAMS_FN(session_id_streams, session_id_fields)
STREAMS_FN(cancel_streams, cancel_fields)
STREAMS_FN(cancel_session_streams, cancel_session_fields)
STREAMS_FN(id_streams, id_fields)
STREAMS_FN(feature_streams, feature_fields)

/* ---- sessions as JSON ------------------------------------------------------------------- */

/* A new JSON object for session, as the events carry it. */
static json_t *session_json(const struct tix_event_session *s)
{
    char starts[TIX_EVENT_INSTANT_LEN + 1], ends[TIX_EVENT_INSTANT_LEN + 1];
    tix_event_format_instant(s->starts_at, starts);
    tix_event_format_instant(s->ends_at, ends);
    json_t *o =
        json_pack("{s:s, s:s, s:s}", "session_id", s->id, "starts_at", starts, "ends_at", ends);
    if (s->name != NULL)
        json_object_set_new(o, "name", json_string(s->name));
    if (s->capacity > 0)
        json_object_set_new(o, "capacity", json_integer(s->capacity));
    return o;
}

/* Reads a checked session object into out; the name is borrowed from o (or NULL). */
static void session_read(const json_t *o, struct tix_event_session *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", tix_json_str(o, "session_id"));
    out->name = (char *)tix_json_str(o, "name");
    out->starts_at = instant_of(o, "starts_at", 0);
    out->ends_at = instant_of(o, "ends_at", 0);
    out->capacity = tix_json_int(o, "capacity", 0);
}

/* A new session object from a checked one, its name trimmed. */
static json_t *session_normalized(const json_t *given)
{
    json_t *o = json_deep_copy(given);
    const json_t *name = json_object_get(given, "name");
    if (name != NULL)
        json_object_set_new(o, "name", trimmed(name));
    return o;
}

static int by_start_cb(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    /* Canonical instants sort as text in time order. */
    return strcmp(tix_json_str(x, "starts_at"), tix_json_str(y, "starts_at"));
}

/* A new array of the normalized sessions, sorted by starts_at. */
static json_t *sessions_sorted(const json_t *given)
{
    size_t n = json_array_size(given);
    json_t **items = tix_xcalloc(n > 0 ? n : 1, sizeof(items[0]));
    for (size_t i = 0; i < n; i++)
        items[i] = session_normalized(json_array_get(given, i));
    qsort(items, n, sizeof(items[0]), by_start_cb);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, items[i]);
    free(items);
    return out;
}

static int find_session(const struct tix_event_state *s, const char *id)
{
    for (int i = 0; s != NULL && id != NULL && i < s->n_sessions; i++)
        if (strcmp(s->sessions[i].id, id) == 0)
            return i;
    return -1;
}

/* The latest end among s's sessions but skip (-1: none skipped) and extra (may be NULL). */
static int64_t last_end(const struct tix_event_state *s, int skip,
                        const struct tix_event_session *extra)
{
    int64_t last = extra != NULL ? extra->ends_at : 0;
    for (int i = 0; i < s->n_sessions; i++)
        if (i != skip && s->sessions[i].ends_at > last)
            last = s->sessions[i].ends_at;
    return last;
}

/* The latest end among s's sessions that are not called off. */
static int64_t last_live_end(const struct tix_event_state *s)
{
    int64_t last = 0;
    for (int i = 0; i < s->n_sessions; i++)
        if (!s->sessions[i].is_cancelled && s->sessions[i].ends_at > last)
            last = s->sessions[i].ends_at;
    return last;
}

/* How many of s's sessions but skip (-1: none skipped) are not called off. */
static int live_sessions(const struct tix_event_state *s, int skip)
{
    int n = 0;
    for (int i = 0; i < s->n_sessions; i++)
        n += i != skip && !s->sessions[i].is_cancelled;
    return n;
}

/* ---- decide: common steps --------------------------------------------------------------- */

/* The existing, undeleted event of cmd for a valid actor; NULL after rejecting out. */
static const struct tix_event_state *
load_event(const struct tix_command *cmd, const struct tix_view *view, struct tix_decision *out)
{
    char id[TIX_STREAM_ID_MAX];
    stream_id(id, cmd->key);
    const struct tix_event_state *s = tix_view_state(view, id, NULL);
    if (!tix_payload_parse_actor(cmd->actor).is_valid) {
        tix_decision_reject(out, "forbidden", NULL, "the actor may not manage events");
        return NULL;
    }
    if (s == NULL || !s->exists) {
        tix_decision_reject(out, "not_found", "event_id", "no event %s", cmd->key);
        return NULL;
    }
    if (s->is_deleted) {
        tix_decision_reject(out, "deleted", "event_id", "event %s was deleted", cmd->key);
        return NULL;
    }
    return s;
}

static void emit_event(struct tix_decision *out, const struct tix_command *cmd, const char *type,
                       json_t *data)
{
    char id[TIX_STREAM_ID_MAX];
    stream_id(id, cmd->key);
    json_object_set_new(data, "event_id", json_string(cmd->key));
    tix_decision_emit(out, id, type, data);
}

/* ---- decide: create, update, delete ----------------------------------------------------- */

static void decide_create(const struct tix_command *cmd, const struct tix_view *view,
                          struct tix_decision *out)
{
    char id[TIX_STREAM_ID_MAX];
    stream_id(id, cmd->key);
    const struct tix_event_state *s = tix_view_state(view, id, NULL);
    if (!tix_payload_parse_actor(cmd->actor).is_valid) {
        tix_decision_reject(out, "forbidden", NULL, "the actor may not create events");
        return;
    }
    if (s != NULL && s->is_deleted) {
        tix_decision_reject(out, "deleted", "event_id", "event %s was deleted", cmd->key);
        return;
    }
    if (s != NULL && s->exists) {
        tix_decision_reject(out, "already_exists", "event_id", "event %s already exists", cmd->key);
        return;
    }
    json_t *data = json_deep_copy(cmd->payload);
    json_object_set_new(data, "name", trimmed(json_object_get(cmd->payload, "name")));
    json_object_set_new(data, "sessions", sessions_sorted(json_object_get(data, "sessions")));
    json_object_set_new(data, "created_by", json_string(cmd->actor));
    emit_event(out, cmd, "event.created", data);
    tix_decision_set_result(out, json_pack("{s:s}", "event_id", cmd->key));
}

/* What an update may still change once sales opened. */
static bool is_unlocked_field(const char *name)
{
    static const char *const names[] = {"name",   "description", "images",
                                        "videos", "tags",        "metadata"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* The current value of an updatable field as a new reference; NULL when unset. */
static json_t *current_value(const struct tix_event_state *s, const char *name)
{
    char t[TIX_EVENT_INSTANT_LEN + 1];
    if (strcmp(name, "capacity") == 0)
        return json_integer(s->capacity);
    if (strcmp(name, "sales_start") == 0 || strcmp(name, "sales_end") == 0) {
        bool is_start = name[6] == 's';
        if (!(is_start ? s->has_sales_start : s->has_sales_end))
            return NULL;
        tix_event_format_instant(is_start ? s->sales_start : s->sales_end, t);
        return json_string(t);
    }
    return json_incref(json_object_get(s->info, name));
}

/* The rules an update keeps with the rest of the state; false after rejecting out. */
static bool update_fits(const struct tix_event_state *s, const json_t *changes,
                        struct tix_decision *out)
{
    int64_t capacity = tix_json_int(changes, "capacity", s->capacity);
    for (int i = 0; i < s->n_sessions; i++) {
        if (s->sessions[i].capacity > capacity) {
            tix_decision_reject(out, "capacity_exceeded", "capacity",
                                "session %s holds %lld places", s->sessions[i].id,
                                (long long)s->sessions[i].capacity);
            return false;
        }
    }
    int64_t start = instant_of(changes, "sales_start", s->has_sales_start ? s->sales_start : -1);
    int64_t end = instant_of(changes, "sales_end", s->has_sales_end ? s->sales_end : -1);
    const char *field = json_object_get(changes, "sales_end") != NULL ? "sales_end" : "sales_start";
    if (start >= 0 && end >= 0 && end <= start) {
        tix_decision_reject(out, "sales_window", field, "sales must end after they start");
        return false;
    }
    if (end > last_end(s, -1, NULL)) {
        tix_decision_reject(out, "sales_window", "sales_end",
                            "sales must end by the end of the last session");
        return false;
    }
    return true;
}

static void decide_update(const struct tix_command *cmd, const struct tix_view *view,
                          struct tix_decision *out)
{
    const struct tix_event_state *s = load_event(cmd, view, out);
    if (s == NULL)
        return;
    if (s->status == TIX_EVENT_COMPLETED || s->status == TIX_EVENT_CANCELLED) {
        tix_decision_reject(out, "not_editable", NULL, "cannot update %s event",
                            status_phrases[s->status]);
        return;
    }
    bool is_selling = s->status == TIX_EVENT_ON_SALE || s->status == TIX_EVENT_SOLD_OUT;
    json_t *changes = json_object();
    for (size_t i = 1; i < N_SPECS(update_fields); i++) {
        const char *name = update_fields[i].name;
        const json_t *v = json_object_get(cmd->payload, name);
        if (v == NULL)
            continue;
        if (is_selling && !is_unlocked_field(name)) {
            json_decref(changes);
            tix_decision_reject(out, "locked", name, "cannot change %s of %s event", name,
                                status_phrases[s->status]);
            return;
        }
        json_t *next = strcmp(name, "name") == 0 ? trimmed(v) : json_deep_copy(v);
        json_t *now = current_value(s, name);
        if (!json_equal(next, now))
            json_object_set(changes, name, next);
        json_decref(next);
        json_decref(now);
    }
    if (json_object_size(changes) == 0 || !update_fits(s, changes, out)) {
        json_decref(changes);
        return;
    }
    emit_event(out, cmd, "event.updated", changes);
}

static void decide_delete(const struct tix_command *cmd, const struct tix_view *view,
                          struct tix_decision *out)
{
    const struct tix_event_state *s = load_event(cmd, view, out);
    if (s == NULL)
        return;
    if (s->status != TIX_EVENT_DRAFT) {
        tix_decision_reject(out, "not_draft", NULL, "cannot delete %s event; cancel it",
                            status_phrases[s->status]);
        return;
    }
    json_t *data = json_object();
    if (s->venue_id[0] != '\0') /* so the venue-binding process manager can unbind it */
        json_object_set_new(data, "venue_id", json_string(s->venue_id));
    emit_event(out, cmd, "event.deleted", data);
}

/* ---- decide: featuring ------------------------------------------------------------------ */

/* Featuring is the organization's choice of rank in the public featured list; a completed or
 * cancelled event can't be featured (one that is stays so, and the list hides it). */
static void decide_feature(const struct tix_command *cmd, const struct tix_view *view,
                           struct tix_decision *out)
{
    const struct tix_event_state *s = load_event(cmd, view, out);
    if (s == NULL)
        return;
    if (s->status == TIX_EVENT_COMPLETED || s->status == TIX_EVENT_CANCELLED) {
        tix_decision_reject(out, "not_featurable", NULL, "cannot feature %s event",
                            status_phrases[s->status]);
        return;
    }
    json_int_t rank = json_integer_value(json_object_get(cmd->payload, "rank"));
    if (rank != s->featured_rank)
        emit_event(out, cmd, "event.featured", json_pack("{s:I}", "rank", rank));
}

static void decide_unfeature(const struct tix_command *cmd, const struct tix_view *view,
                             struct tix_decision *out)
{
    const struct tix_event_state *s = load_event(cmd, view, out);
    if (s != NULL && s->featured_rank > 0)
        emit_event(out, cmd, "event.unfeatured", json_object());
}

/* ---- decide: sessions ------------------------------------------------------------------- */

/* The event of cmd when its sessions may change (draft or published); NULL after rejecting. */
static const struct tix_event_state *load_for_sessions(const struct tix_command *cmd,
                                                       const struct tix_view *view,
                                                       struct tix_decision *out)
{
    const struct tix_event_state *s = load_event(cmd, view, out);
    if (s != NULL && s->status != TIX_EVENT_DRAFT && s->status != TIX_EVENT_PUBLISHED) {
        tix_decision_reject(out, "locked", NULL, "cannot change the sessions of %s event",
                            status_phrases[s->status]);
        return NULL;
    }
    return s;
}

/* Whether session c may take the place of session skip (-1: be added) in s; fields are named
 * prefix+name. False after rejecting out. */
static bool session_fits(const struct tix_event_state *s, int skip,
                         const struct tix_event_session *c, const char *prefix,
                         struct tix_decision *out)
{
    char field[64];
    if (c->ends_at <= c->starts_at || c->ends_at - c->starts_at > TIX_EVENT_SESSION_MAX_SECONDS) {
        snprintf(field, sizeof(field), "%sends_at", prefix);
        tix_decision_reject(out, "invalid_span", field,
                            "a session ends after it starts, at most 31 days later");
        return false;
    }
    for (int i = 0; i < s->n_sessions; i++) {
        if (i != skip && s->sessions[i].starts_at == c->starts_at) {
            snprintf(field, sizeof(field), "%sstarts_at", prefix);
            tix_decision_reject(out, "duplicate_start", field, "session %s starts then too",
                                s->sessions[i].id);
            return false;
        }
    }
    if (c->capacity > s->capacity) {
        snprintf(field, sizeof(field), "%scapacity", prefix);
        tix_decision_reject(out, "capacity_exceeded", field, "the event holds %lld places",
                            (long long)s->capacity);
        return false;
    }
    if (s->has_sales_end && s->sales_end > last_end(s, skip, c)) {
        snprintf(field, sizeof(field), "%sends_at", prefix);
        tix_decision_reject(out, "sales_window", field,
                            "sales would end after the last session ends");
        return false;
    }
    return true;
}

static void decide_add_session(const struct tix_command *cmd, const struct tix_view *view,
                               struct tix_decision *out)
{
    const struct tix_event_state *s = load_for_sessions(cmd, view, out);
    if (s == NULL)
        return;
    json_t *given = json_object_get(cmd->payload, "session");
    struct tix_event_session c;
    session_read(given, &c);
    if (s->n_sessions >= TIX_EVENT_SESSIONS_MAX) {
        tix_decision_reject(out, "too_many_sessions", "session", "an event has at most %d sessions",
                            TIX_EVENT_SESSIONS_MAX);
        return;
    }
    if (find_session(s, c.id) >= 0) {
        tix_decision_reject(out, "session_exists", "session.session_id", "session %s exists", c.id);
        return;
    }
    if (!session_fits(s, -1, &c, "session.", out))
        return;
    emit_event(out, cmd, "event.session_added",
               json_pack("{s:o}", "session", session_normalized(given)));
}

/* The session of cmd's session_id; -1 after rejecting out. */
static int target_session(const struct tix_event_state *s, const struct tix_command *cmd,
                          struct tix_decision *out)
{
    int i = find_session(s, tix_json_str(cmd->payload, "session_id"));
    if (i < 0)
        tix_decision_reject(out, "session_not_found", "session_id", "no such session");
    return i;
}

static void decide_update_session(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out)
{
    const struct tix_event_state *s = load_for_sessions(cmd, view, out);
    int i = s != NULL ? target_session(s, cmd, out) : -1;
    if (i < 0)
        return;
    if (s->sessions[i].is_cancelled) {
        tix_decision_reject(out, "session_cancelled", "session_id", "the session was called off");
        return;
    }
    const json_t *p = cmd->payload;
    json_t *name = json_object_get(p, "name") != NULL ? trimmed(json_object_get(p, "name")) : NULL;
    struct tix_event_session c = s->sessions[i];
    c.name = name != NULL ? (char *)json_string_value(name) : c.name;
    c.starts_at = instant_of(p, "starts_at", c.starts_at);
    c.ends_at = instant_of(p, "ends_at", c.ends_at);
    c.capacity = tix_json_int(p, "capacity", c.capacity);
    json_t *before = session_json(&s->sessions[i]);
    json_t *after = session_json(&c);
    json_decref(name);
    if (!json_equal(before, after) && session_fits(s, i, &c, "", out))
        emit_event(out, cmd, "event.session_updated", json_pack("{s:O}", "session", after));
    json_decref(before);
    json_decref(after);
}

static void decide_remove_session(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out)
{
    const struct tix_event_state *s = load_for_sessions(cmd, view, out);
    int i = s != NULL ? target_session(s, cmd, out) : -1;
    if (i < 0)
        return;
    if (s->n_sessions == 1 || live_sessions(s, i) == 0) {
        tix_decision_reject(out, "last_session", "session_id", "an event keeps one session");
        return;
    }
    if (s->has_sales_end && s->sales_end > last_end(s, i, NULL)) {
        tix_decision_reject(out, "sales_window", "session_id",
                            "sales would end after the last session ends");
        return;
    }
    emit_event(out, cmd, "event.session_removed",
               json_pack("{s:s}", "session_id", s->sessions[i].id));
}

/* A live session of a live event is called off; the event and its other sessions go on. */
static void decide_cancel_session(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out)
{
    const struct tix_event_state *s = load_event(cmd, view, out);
    if (s == NULL)
        return;
    if (s->status == TIX_EVENT_DRAFT) {
        tix_decision_reject(out, "is_draft", NULL, "a draft's sessions are removed, not cancelled");
        return;
    }
    if (s->status == TIX_EVENT_COMPLETED || s->status == TIX_EVENT_CANCELLED) {
        tix_decision_reject(out, "not_editable", NULL, "cannot cancel a session of %s event",
                            status_phrases[s->status]);
        return;
    }
    int i = target_session(s, cmd, out);
    if (i < 0)
        return;
    if (s->sessions[i].is_cancelled) {
        tix_decision_reject(out, "already_cancelled", "session_id", "the session is cancelled");
        return;
    }
    if (s->sessions[i].ends_at <= cmd->now_us / 1000000) {
        tix_decision_reject(out, "session_over", "session_id", "the session has ended");
        return;
    }
    if (live_sessions(s, i) == 0) {
        tix_decision_reject(out, "last_session", "session_id",
                            "it is the event's last session: cancel the event instead");
        return;
    }
    emit_event(out, cmd, "event.session_cancelled",
               json_pack("{s:s, s:o}", "session_id", s->sessions[i].id, "reason",
                         trimmed(json_object_get(cmd->payload, "reason"))));
}

/* ---- decide: lifecycle ------------------------------------------------------------------ */

#define BIT(status) (1u << (status))

/* One lifecycle step: the command, the statuses it leaves, where it goes, what it records and
 * how a message names it ("cannot <verb> <a status> event<tail>"). */
struct transition {
    const char *command;
    unsigned from;
    enum tix_event_status to;
    const char *event;
    const char *verb;
    const char *tail;
};

static const struct transition transitions[] = {
    {"event.publish", BIT(TIX_EVENT_DRAFT), TIX_EVENT_PUBLISHED, "event.published", "publish", ""},
    {"event.unpublish", BIT(TIX_EVENT_PUBLISHED), TIX_EVENT_DRAFT, "event.unpublished", "unpublish",
     ""},
    {"event.open_sales", BIT(TIX_EVENT_PUBLISHED), TIX_EVENT_ON_SALE, "event.sales_opened",
     "open sales of", ""},
    {"event.mark_sold_out", BIT(TIX_EVENT_ON_SALE), TIX_EVENT_SOLD_OUT, "event.sold_out", "mark",
     " as sold out"},
    {"event.reopen_sales", BIT(TIX_EVENT_SOLD_OUT), TIX_EVENT_ON_SALE, "event.sales_reopened",
     "reopen sales of", ""},
    {"event.complete", BIT(TIX_EVENT_PUBLISHED) | BIT(TIX_EVENT_ON_SALE) | BIT(TIX_EVENT_SOLD_OUT),
     TIX_EVENT_COMPLETED, "event.completed", "complete", ""},
    {"event.cancel", BIT(TIX_EVENT_PUBLISHED) | BIT(TIX_EVENT_ON_SALE) | BIT(TIX_EVENT_SOLD_OUT),
     TIX_EVENT_CANCELLED, "event.cancelled", "cancel", ""},
};

#define N_TRANSITIONS (sizeof(transitions) / sizeof(transitions[0]))

/* The clock rules of a step that is legal by status; false after rejecting out. */
static bool transition_guard(const struct tix_event_state *s, const struct transition *t,
                             int64_t now_s, struct tix_decision *out)
{
    if (t->to == TIX_EVENT_PUBLISHED && s->sessions[s->n_sessions - 1].starts_at <= now_s) {
        tix_decision_reject(out, "no_future_session", NULL, "no session starts in the future");
        return false;
    }
    if (t->to == TIX_EVENT_ON_SALE && s->has_sales_start && now_s < s->sales_start) {
        tix_decision_reject(out, "sales_not_started", "sales_start", "sales have not started");
        return false;
    }
    if (t->to == TIX_EVENT_ON_SALE && s->has_sales_end && now_s >= s->sales_end) {
        tix_decision_reject(out, "sales_ended", "sales_end", "sales have ended");
        return false;
    }
    if (t->to == TIX_EVENT_COMPLETED && last_live_end(s) > now_s) {
        tix_decision_reject(out, "not_over", NULL, "the last session has not ended");
        return false;
    }
    return true;
}

static void decide_transition(const struct tix_command *cmd, const struct tix_view *view,
                              struct tix_decision *out)
{
    const struct transition *t = NULL;
    for (size_t i = 0; i < N_TRANSITIONS && t == NULL; i++)
        if (strcmp(cmd->type, transitions[i].command) == 0)
            t = &transitions[i];
    const struct tix_event_state *s = t != NULL ? load_event(cmd, view, out) : NULL;
    if (s == NULL)
        return;
    if (t->to == TIX_EVENT_CANCELLED && s->status == TIX_EVENT_DRAFT) {
        tix_decision_reject(out, "is_draft", NULL, "a draft event is deleted, not cancelled");
        return;
    }
    if ((t->from & BIT(s->status)) == 0) {
        tix_decision_reject(out, "illegal_transition", NULL, "cannot %s %s event%s", t->verb,
                            status_phrases[s->status], t->tail);
        return;
    }
    int64_t now_s = cmd->now_us / 1000000;
    if (!transition_guard(s, t, now_s, out))
        return;
    json_t *data = json_object();
    if (t->to == TIX_EVENT_CANCELLED)
        json_object_set_new(data, "reason", trimmed(json_object_get(cmd->payload, "reason")));
    emit_event(out, cmd, t->event, data);
}

const struct tix_command_handler tix_event_handlers[] = {
    {"event.create", create_streams, decide_create},
    {"event.update", update_streams, decide_update},
    {"event.delete", id_streams, decide_delete},
    {"event.add_session", add_session_streams, decide_add_session},
    {"event.update_session", update_session_streams, decide_update_session},
    {"event.remove_session", session_id_streams, decide_remove_session},
    {"event.cancel_session", cancel_session_streams, decide_cancel_session},
    {"event.publish", id_streams, decide_transition},
    {"event.unpublish", id_streams, decide_transition},
    {"event.open_sales", id_streams, decide_transition},
    {"event.mark_sold_out", id_streams, decide_transition},
    {"event.reopen_sales", id_streams, decide_transition},
    {"event.complete", id_streams, decide_transition},
    {"event.cancel", cancel_streams, decide_transition},
    {"event.feature", feature_streams, decide_feature},
    {"event.unfeature", id_streams, decide_unfeature},
    {NULL, NULL, NULL},
};

/* ---- evolve ----------------------------------------------------------------------------- */

static void *event_create(void)
{
    struct tix_event_state *s = tix_xcalloc(1, sizeof(*s));
    s->info = json_object();
    s->chart_version = -1;
    return s;
}

static void event_destroy(void *p)
{
    struct tix_event_state *s = p;
    if (s == NULL)
        return;
    for (int i = 0; i < s->n_sessions; i++)
        free(s->sessions[i].name);
    free(s->sessions);
    json_decref(s->info);
    free(s);
}

/* Inserts a checked session object, keeping the order by starts_at; false when its id or start
 * is taken. */
static bool insert_session(struct tix_event_state *s, const json_t *o)
{
    struct tix_event_session c;
    session_read(o, &c);
    int at = 0;
    for (int i = 0; i < s->n_sessions; i++) {
        if (strcmp(s->sessions[i].id, c.id) == 0 || s->sessions[i].starts_at == c.starts_at)
            return false;
        if (s->sessions[i].starts_at < c.starts_at)
            at = i + 1;
    }
    if (s->n_sessions == s->cap_sessions) {
        s->cap_sessions = s->cap_sessions == 0 ? 4 : s->cap_sessions * 2;
        s->sessions = tix_xrealloc(s->sessions, (size_t)s->cap_sessions * sizeof(s->sessions[0]));
    }
    memmove(&s->sessions[at + 1], &s->sessions[at],
            (size_t)(s->n_sessions - at) * sizeof(s->sessions[0]));
    c.name = tix_xstrdup(c.name);
    s->sessions[at] = c;
    s->n_sessions++;
    return true;
}

static void remove_session_at(struct tix_event_state *s, int i)
{
    free(s->sessions[i].name);
    memmove(&s->sessions[i], &s->sessions[i + 1],
            (size_t)(s->n_sessions - i - 1) * sizeof(s->sessions[0]));
    s->n_sessions--;
}

/* Applies one checked field of event.created or event.updated. */
static void set_field(struct tix_event_state *s, const char *name, const json_t *v)
{
    if (strcmp(name, "capacity") == 0) {
        s->capacity = json_integer_value(v);
    } else if (strcmp(name, "sales_start") == 0) {
        s->has_sales_start = is_instant(v, &s->sales_start);
    } else if (strcmp(name, "sales_end") == 0) {
        s->has_sales_end = is_instant(v, &s->sales_end);
    } else if (strcmp(name, "venue_id") == 0) {
        snprintf(s->venue_id, sizeof(s->venue_id), "%s", json_string_value(v));
    } else if (strcmp(name, "chart_version") == 0) {
        s->chart_version = json_integer_value(v);
    } else if (strcmp(name, "organization_id") == 0) {
        snprintf(s->organization_id, sizeof(s->organization_id), "%s", json_string_value(v));
    } else if (strcmp(name, "event_id") != 0 && strcmp(name, "sessions") != 0) {
        json_object_set_new(s->info, name, json_deep_copy(v));
    }
}

static enum tix_rc apply_created(struct tix_event_state *s, const json_t *data)
{
    const json_t *by = json_object_get(data, "created_by");
    if (s->exists || !tix_payload_is_plain_string(by))
        return TIX_EINVAL;
    json_t *copy = json_deep_copy(data);
    json_object_del(copy, "created_by");
    enum tix_rc rc = check_object(copy, create_fields, N_SPECS(create_fields), "", NULL);
    if (rc == TIX_OK)
        rc = check_create_rules(copy, NULL);
    json_decref(copy);
    if (rc != TIX_OK)
        return TIX_EINVAL;
    s->exists = true;
    snprintf(s->id, sizeof(s->id), "%s", tix_json_str(data, "event_id"));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)data, key, v)
    {
        set_field(s, key, v);
    }
    const json_t *sessions = json_object_get(data, "sessions");
    for (size_t i = 0; i < json_array_size(sessions); i++)
        insert_session(s, json_array_get(sessions, i));
    return TIX_OK;
}

static enum tix_rc apply_updated(struct tix_event_state *s, const json_t *data)
{
    if (check_object(data, update_fields, N_SPECS(update_fields), "", NULL) != TIX_OK)
        return TIX_EINVAL;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)data, key, v)
    {
        set_field(s, key, v);
    }
    return TIX_OK;
}

static enum tix_rc apply_session_added(struct tix_event_state *s, const json_t *data)
{
    if (check_object(data, add_session_fields, N_SPECS(add_session_fields), "", NULL) != TIX_OK ||
        s->n_sessions >= TIX_EVENT_SESSIONS_MAX)
        return TIX_EINVAL;
    return insert_session(s, json_object_get(data, "session")) ? TIX_OK : TIX_EINVAL;
}

static enum tix_rc apply_session_updated(struct tix_event_state *s, const json_t *data)
{
    if (check_object(data, add_session_fields, N_SPECS(add_session_fields), "", NULL) != TIX_OK)
        return TIX_EINVAL;
    const json_t *o = json_object_get(data, "session");
    int i = find_session(s, tix_json_str(o, "session_id"));
    if (i < 0 || s->sessions[i].is_cancelled)
        return TIX_EINVAL;
    struct tix_event_session old = s->sessions[i];
    old.name = tix_xstrdup(old.name);
    remove_session_at(s, i);
    if (insert_session(s, o)) {
        free(old.name);
        return TIX_OK;
    }
    json_t *back = session_json(&old); /* the new start is taken: put the old session back */
    free(old.name);
    insert_session(s, back);
    json_decref(back);
    return TIX_EINVAL;
}

static enum tix_rc apply_session_removed(struct tix_event_state *s, const json_t *data)
{
    if (check_object(data, session_id_fields, N_SPECS(session_id_fields), "", NULL) != TIX_OK)
        return TIX_EINVAL;
    int i = find_session(s, tix_json_str(data, "session_id"));
    if (i < 0 || s->n_sessions == 1)
        return TIX_EINVAL;
    remove_session_at(s, i);
    return TIX_OK;
}

static enum tix_rc apply_session_cancelled(struct tix_event_state *s, const json_t *data)
{
    if (check_object(data, cancel_session_fields, N_SPECS(cancel_session_fields), "", NULL) !=
        TIX_OK)
        return TIX_EINVAL;
    int i = find_session(s, tix_json_str(data, "session_id"));
    if (i < 0 || s->sessions[i].is_cancelled)
        return TIX_EINVAL;
    s->sessions[i].is_cancelled = true;
    return TIX_OK;
}

static enum tix_rc apply_featured(struct tix_event_state *s, const json_t *data)
{
    if (check_object(data, feature_fields, N_SPECS(feature_fields), "", NULL) != TIX_OK)
        return TIX_EINVAL;
    s->featured_rank = json_integer_value(json_object_get(data, "rank"));
    return TIX_OK;
}

static enum tix_rc apply_unfeatured(struct tix_event_state *s, const json_t *data)
{
    if (check_object(data, id_fields, N_SPECS(id_fields), "", NULL) != TIX_OK)
        return TIX_EINVAL;
    s->featured_rank = 0;
    return TIX_OK;
}

static enum tix_rc apply_deleted(struct tix_event_state *s, const json_t *data)
{
    if (s->status != TIX_EVENT_DRAFT)
        return TIX_EINVAL;
    s->is_deleted = true;
    return TIX_OK;
}

/* A lifecycle event: legal from the current status, a cancellation carries its reason, and
 * "automatic" (a boolean when present) tells the stock's own sold-out from a promoter's. */
static enum tix_rc apply_transition(struct tix_event_state *s, const char *type, const json_t *data)
{
    for (size_t i = 0; i < N_TRANSITIONS; i++) {
        const struct transition *t = &transitions[i];
        if (strcmp(type, t->event) != 0)
            continue;
        if ((t->from & BIT(s->status)) == 0)
            return TIX_EINVAL;
        if (t->to == TIX_EVENT_CANCELLED &&
            !tix_payload_is_text(json_object_get(data, "reason"), 1, TIX_EVENT_REASON_MAX_CHARS,
                                 true, true))
            return TIX_EINVAL;
        const json_t *automatic = json_object_get(data, "automatic");
        if (automatic != NULL && !json_is_boolean(automatic))
            return TIX_EINVAL;
        s->status = t->to;
        s->is_sold_out_automatic = t->to == TIX_EVENT_SOLD_OUT && json_is_true(automatic);
        return TIX_OK;
    }
    return TIX_OK;
}

static const struct {
    const char *type;
    enum tix_rc (*apply)(struct tix_event_state *s, const json_t *data);
} appliers[] = {
    {"event.created", apply_created},
    {"event.updated", apply_updated},
    {"event.deleted", apply_deleted},
    {"event.session_added", apply_session_added},
    {"event.session_updated", apply_session_updated},
    {"event.session_removed", apply_session_removed},
    {"event.session_cancelled", apply_session_cancelled},
    {"event.featured", apply_featured},
    {"event.unfeatured", apply_unfeatured},
};

static bool is_transition_event(const char *type)
{
    for (size_t i = 0; i < N_TRANSITIONS; i++)
        if (strcmp(type, transitions[i].event) == 0)
            return true;
    return false;
}

static enum tix_rc event_evolve(void *p, const char *type, int schema_version, const json_t *data)
{
    struct tix_event_state *s = p;
    enum tix_rc (*apply)(struct tix_event_state *, const json_t *) = NULL;
    for (size_t i = 0; i < sizeof(appliers) / sizeof(appliers[0]); i++)
        if (strcmp(type, appliers[i].type) == 0)
            apply = appliers[i].apply;
    if (apply == NULL && !is_transition_event(type))
        return TIX_OK; /* unknown: forward compatible */
    if (schema_version != 1 || !json_is_object(data))
        return TIX_EINVAL;
    if (apply == apply_created)
        return apply_created(s, data);
    const char *id = tix_json_str(data, "event_id");
    if (!s->exists || s->is_deleted || id == NULL || strcmp(id, s->id) != 0)
        return TIX_EINVAL;
    return apply != NULL ? apply(s, data) : apply_transition(s, type, data);
}

const struct tix_stream_kind tix_event_stream_kind = {
    .prefix = TIX_EVENT_STREAM_PREFIX,
    .create = event_create,
    .destroy = event_destroy,
    .evolve = event_evolve,
};
