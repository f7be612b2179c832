/* event_test.c - the event aggregate's pure functions, driven like the processor
 *
 * Runs commands through the shared in-memory world (support/world.h): tix_world_run() calls
 * streams() (which must name exactly one stream here), builds a view from the world's states,
 * calls decide() at the world's clock (set with at()), and evolves accepted events into the states
 * and a log. States are only ever built by evolving events, so every test also exercises evolve.
 * Each Criterion test runs in its own process; setup resets the world.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/json.h"
#include "world.h"

#include "event.h"

#define EV        "0190c1e2-7a3b-7c4d-8e5f-00000000e001"
#define EV2       "0190c1e2-7a3b-7c4d-8e5f-00000000e002"
#define EV_STREAM TIX_EVENT_STREAM_PREFIX EV
#define ORG       "0190c1e2-7a3b-7c4d-8e5f-0123456789ab"
#define VENUE     "0190c1e2-7a3b-7c4d-8e5f-00000000a001"
#define SES1      "0190c1e2-0000-7000-8000-000000000011"
#define SES2      "0190c1e2-0000-7000-8000-000000000012"
#define SES3      "0190c1e2-0000-7000-8000-000000000013"
#define A_USER    "user:0190c1e2-0000-7000-8000-000000000001"
#define A_SYSTEM  "system:test"

/* Session times: SES1 on new year's eve, SES2 the evening after. */
#define T1_START "2026-12-31T19:30:00Z"
#define T1_END   "2026-12-31T23:00:00Z"
#define T2_START "2027-01-01T19:30:00Z"
#define T2_END   "2027-01-01T23:00:00Z"
#define T3_START "2027-01-02T19:30:00Z"
#define T3_END   "2027-01-02T23:00:00Z"
#define EARLY    "2026-06-01T00:00:00Z" /* before everything */
#define LATE     "2027-02-01T00:00:00Z" /* after everything */

/* ---- the world: tests/unit/support/world.c, keyed on EV by default ----------------------- */

static int64_t secs(const char *instant)
{
    int64_t s = -1;
    cr_assert(tix_event_parse_instant(instant, &s), "bad test instant %s", instant);
    return s;
}

static void at(const char *instant)
{
    tix_world_set_now(secs(instant) * 1000000);
}

static void setup(void)
{
    tix_world_reset(0);
    tix_world_require_streams(1);
    at(EARLY);
}

TestSuite(event, .init = setup, .fini = tix_world_teardown);

static void accept(const char *type, json_t *payload, struct tix_decision *d)
{
    tix_world_accept(EV, type, A_USER, payload, d);
}

/* Runs an accepted command; returns how many events it emitted. */
static int accept_quietly(const char *type, json_t *payload)
{
    return tix_world_accept_quietly(EV, type, A_USER, payload);
}

/* Runs a command that must be rejected with code and field (see tix_world_expect_rejected).
 * reason_out (may be NULL) receives the reason. */
static void expect_rejected_as(const char *actor, const char *type, json_t *payload,
                               const char *code, const char *field, char reason_out[256])
{
    tix_world_expect_rejected(EV, type, actor, payload, code, field);
    if (reason_out != NULL)
        snprintf(reason_out, 256, "%s", tix_world_last_reason());
}

static void expect_rejected(const char *type, json_t *payload, const char *code, const char *field)
{
    expect_rejected_as(A_USER, type, payload, code, field, NULL);
}

static void expect_invalid_for(const char *key, const char *type, json_t *payload,
                               const char *field)
{
    tix_world_expect_invalid(key, type, A_SYSTEM, payload, field);
}

static void expect_invalid(const char *type, json_t *payload, const char *field)
{
    tix_world_expect_invalid(EV, type, A_SYSTEM, payload, field);
}

static const struct tix_event_state *ev(void)
{
    return tix_world_stream(EV_STREAM)->state;
}

/* ---- payloads and givens ------------------------------------------------------------------ */

static json_t *session(const char *id, const char *starts, const char *ends)
{
    return json_pack("{s:s, s:s, s:s}", "session_id", id, "starts_at", starts, "ends_at", ends);
}

/* A venue event with two sessions, given out of order. */
static json_t *create_payload(void)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:[o, o]}", "event_id", EV,
                     "organization_id", ORG, "venue_id", VENUE, "chart_version", 3, "name",
                     "  New Year Gala ", "category", "music", "timezone", "Europe/Berlin",
                     "visibility", "public", "capacity", 1000, "sessions",
                     session(SES2, T2_START, T2_END), session(SES1, T1_START, T1_END));
}

/* create_payload() with one session replaced: sessions[i] key = value (stolen). */
static json_t *with_session(int i, const char *key, json_t *value)
{
    json_t *p = create_payload();
    tix_json_with(json_array_get(json_object_get(p, "sessions"), (size_t)i), key, value);
    return p;
}

static json_t *id_payload(void)
{
    return json_pack("{s:s}", "event_id", EV);
}

/* {event_id, key: value (stolen)} */
static json_t *payload1(const char *key, json_t *value)
{
    return tix_json_with(id_payload(), key, value);
}

static json_t *cancel_payload(void)
{
    return payload1("reason", json_string("  storm warning "));
}

static json_t *repeated(const char *unit, int times)
{
    char *s = tix_world_repeat(unit, times);
    json_t *v = json_string(s);
    free(s);
    return v;
}

static const char *const lifecycle[] = {
    "event.publish",      "event.unpublish", "event.open_sales", "event.mark_sold_out",
    "event.reopen_sales", "event.complete",  "event.cancel",
};
#define N_LIFECYCLE 7

static json_t *lifecycle_payload(const char *type)
{
    return strcmp(type, "event.cancel") == 0 ? cancel_payload() : id_payload();
}

/* Brings EV into status (created at EARLY; the clock is left at EARLY unless completed). */
static void given_status(enum tix_event_status status)
{
    accept_quietly("event.create", create_payload());
    if (status == TIX_EVENT_DRAFT)
        return;
    accept_quietly("event.publish", id_payload());
    if (status == TIX_EVENT_ON_SALE || status == TIX_EVENT_SOLD_OUT)
        accept_quietly("event.open_sales", id_payload());
    if (status == TIX_EVENT_SOLD_OUT)
        accept_quietly("event.mark_sold_out", id_payload());
    if (status == TIX_EVENT_CANCELLED)
        accept_quietly("event.cancel", cancel_payload());
    if (status == TIX_EVENT_COMPLETED) {
        at(LATE);
        accept_quietly("event.complete", id_payload());
        at(EARLY);
    }
    cr_assert_eq(ev()->status, status);
}

/* ---- names, registry, instants ------------------------------------------------------------ */

Test(event, status_names_round_trip)
{
    const char *names[] = {"draft", "published", "on_sale", "sold_out", "completed", "cancelled"};
    for (int i = 0; i < 6; i++) {
        cr_assert_str_eq(tix_event_status_name((enum tix_event_status)i), names[i]);
        cr_assert_eq(tix_event_status_parse(names[i]), i);
    }
    cr_assert_str_eq(tix_event_status_name((enum tix_event_status)6), "unknown");
    cr_assert_eq(tix_event_status_parse("open"), -1);
    cr_assert_eq(tix_event_status_parse(NULL), -1);
}

Test(event, registry_hosts_every_command_and_the_stream)
{
    const char *types[] = {"event.create",        "event.update",         "event.delete",
                           "event.add_session",   "event.update_session", "event.remove_session",
                           "event.cancel_session"};
    for (int i = 0; i < 7; i++)
        cr_assert_not_null(tix_registry_handler(types[i]), "%s", types[i]);
    for (int i = 0; i < N_LIFECYCLE; i++)
        cr_assert_not_null(tix_registry_handler(lifecycle[i]), "%s", lifecycle[i]);
    cr_assert_eq(tix_registry_stream_kind(EV_STREAM), &tix_event_stream_kind);
}

Test(event, parse_instant_gives_unix_seconds)
{
    const struct {
        const char *text;
        int64_t seconds;
    } good[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:01Z", 1},
        {"2000-02-29T00:00:00Z", 951782400},
        {"2000-03-01T00:00:00Z", 951868800},
        {"2024-02-29T12:00:00Z", 1709208000},
        {"2026-12-31T19:30:00Z", 1798745400},
        {"2038-01-19T03:14:08Z", 2147483648LL},
        {"2100-02-28T23:59:59Z", 4107542399LL},
        {"2100-03-01T00:00:00Z", 4107542400LL},
        {"9999-12-31T23:59:59Z", 253402300799LL},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t s = -1;
        cr_assert(tix_event_parse_instant(good[i].text, &s), "%s refused", good[i].text);
        cr_assert_eq(s, good[i].seconds, "%s: %lld", good[i].text, (long long)s);
        char back[TIX_EVENT_INSTANT_LEN + 1];
        tix_event_format_instant(s, back);
        cr_assert_str_eq(back, good[i].text);
    }
}

Test(event, parse_instant_refuses_every_other_form)
{
    const char *bad[] = {
        "2026-12-31T19:30:00",       /* missing Z */
        "2026-12-31T19:30:00z",      /* lowercase z */
        "2026-12-31t19:30:00Z",      /* lowercase t */
        "2026-12-31 19:30:00Z",      /* space */
        "2026-12-31T19:30:00+00:00", /* an offset */
        "2026-12-31T19:30:00.5Z",    /* fractions */
        "2026-12-31T19:30Z",         /* no seconds */
        "2026-02-30T10:00:00Z",      /* Feb 30 */
        "2027-02-29T10:00:00Z",      /* not a leap year */
        "2100-02-29T10:00:00Z",      /* a century, not a leap year */
        "2026-04-31T10:00:00Z",      /* April has 30 days */
        "2026-13-01T10:00:00Z",      "2026-00-10T10:00:00Z", "2026-01-00T10:00:00Z",
        "2026-12-31T24:00:00Z",                              /* 24:00 */
        "2026-12-31T23:60:00Z",      "2026-12-31T23:59:60Z", /* no leap seconds */
        "2026-1-31T10:00:00Z",                               /* not zero-padded */
        "2026-01-3T10:00:00Z",       "2026-01-31T9:00:00Z",  " 2026-01-31T09:00:00Z",
        "+2026-01-31T09:00:00Z",     "1969-12-31T23:59:59Z", "2026-01-31T09:00:00Z ",
        "2026-01-31T0a:00:00Z",      "2026/01/31T09:00:00Z", "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t s = 42;
        cr_assert_not(tix_event_parse_instant(bad[i], &s), "%s accepted", bad[i]);
        cr_assert_eq(s, 42, "a refused instant leaves the output alone");
    }
    cr_assert_not(tix_event_parse_instant(NULL, NULL));
}

Test(event, leap_years_follow_the_gregorian_rules)
{
    int64_t s;
    cr_assert(tix_event_parse_instant("2024-02-29T00:00:00Z", &s));
    cr_assert(tix_event_parse_instant("2000-02-29T00:00:00Z", &s));
    cr_assert(tix_event_parse_instant("2400-02-29T00:00:00Z", &s));
    cr_assert_not(tix_event_parse_instant("2100-02-29T00:00:00Z", &s));
    cr_assert_not(tix_event_parse_instant("1900-02-29T00:00:00Z", &s));
    cr_assert_not(tix_event_parse_instant("2023-02-29T00:00:00Z", &s));
    /* Every day from 1970 to 2400 formats and parses back to itself, one day apart. */
    int64_t prev = -86400;
    for (int64_t day = 0; day < 157000; day++) {
        char text[TIX_EVENT_INSTANT_LEN + 1];
        tix_event_format_instant(day * 86400 + 3723, text);
        cr_assert(tix_event_parse_instant(text, &s), "%s", text);
        cr_assert_eq(s - 3723, prev + 86400, "%s", text);
        prev = s - 3723;
    }
}

/* ---- create ------------------------------------------------------------------------------- */

Test(event, create_emits_everything_with_sorted_sessions)
{
    json_t *p = create_payload();
    tix_json_with(p, "description", json_string("Dinner,\nthen dancing"));
    tix_json_with(p, "tags", tix_json_of("[\"gala\",\"new-year\"]"));
    tix_json_with(p, "images",
                  tix_json_of("[{\"url\":\"https://img.example/a.png\",\"alt\":\"Stage\"}]"));
    tix_json_with(p, "videos", tix_json_of("[{\"url\":\"https://video.example/v\"}]"));
    tix_json_with(p, "metadata", tix_json_of("{\"dress_code\":\"black tie\"}"));
    tix_json_with(p, "sales_start", json_string("2026-07-01T08:00:00Z"));
    tix_json_with(p, "sales_end", json_string(T2_START));
    struct tix_decision d;
    accept("event.create", p, &d);
    cr_assert_eq(d.n_events, 1);
    cr_assert_str_eq(d.events[0].stream_id, EV_STREAM);
    cr_assert_str_eq(d.events[0].type, "event.created");
    cr_assert_eq(d.events[0].schema_version, 1);
    tix_world_expect_json(
        d.events[0].data,
        json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:s, s:i,"
                  " s:s, s:s, s:[o, o], s:s}",
                  "event_id", EV, "organization_id", ORG, "venue_id", VENUE, "chart_version", 3,
                  "name", "New Year Gala", "description", "Dinner,\nthen dancing", "category",
                  "music", "tags", tix_json_of("[\"gala\",\"new-year\"]"), "images",
                  tix_json_of("[{\"url\":\"https://img.example/a.png\",\"alt\":\"Stage\"}]"),
                  "videos", tix_json_of("[{\"url\":\"https://video.example/v\"}]"), "metadata",
                  tix_json_of("{\"dress_code\":\"black tie\"}"), "timezone", "Europe/Berlin",
                  "visibility", "public", "capacity", 1000, "sales_start", "2026-07-01T08:00:00Z",
                  "sales_end", T2_START, "sessions", session(SES1, T1_START, T1_END),
                  session(SES2, T2_START, T2_END), "created_by", A_USER));
    tix_world_expect_json(d.result, json_pack("{s:s}", "event_id", EV));
    tix_decision_deinit(&d);

    const struct tix_event_state *s = ev();
    cr_assert(s->exists);
    cr_assert_not(s->is_deleted);
    cr_assert_eq(s->status, TIX_EVENT_DRAFT);
    cr_assert_str_eq(s->id, EV);
    cr_assert_str_eq(s->organization_id, ORG);
    cr_assert_str_eq(s->venue_id, VENUE);
    cr_assert_eq(s->chart_version, 3);
    cr_assert_eq(s->capacity, 1000);
    cr_assert(s->has_sales_start && s->has_sales_end);
    cr_assert_eq(s->sales_start, secs("2026-07-01T08:00:00Z"));
    cr_assert_eq(s->sales_end, secs(T2_START));
    cr_assert_str_eq(tix_json_str(s->info, "name"), "New Year Gala");
    cr_assert_str_eq(tix_json_str(s->info, "timezone"), "Europe/Berlin");
    cr_assert_str_eq(tix_json_str(s->info, "created_by"), A_USER);
    tix_world_expect_json(json_object_get(s->info, "tags"), tix_json_of("[\"gala\",\"new-year\"]"));
    cr_assert_eq(s->n_sessions, 2);
    cr_assert_str_eq(s->sessions[0].id, SES1);
    cr_assert_eq(s->sessions[0].starts_at, secs(T1_START));
    cr_assert_eq(s->sessions[0].ends_at, secs(T1_END));
    cr_assert_null(s->sessions[0].name);
    cr_assert_eq(s->sessions[0].capacity, 0);
    cr_assert_str_eq(s->sessions[1].id, SES2);
}

Test(event, create_an_online_event_without_venue)
{
    json_t *p =
        tix_json_with(tix_json_with(create_payload(), "venue_id", NULL), "chart_version", NULL);
    json_decref(with_session(0, "name", NULL));
    accept_quietly("event.create", p);
    cr_assert_str_eq(ev()->venue_id, "");
    cr_assert_eq(ev()->chart_version, -1);
    expect_invalid("event.create", tix_json_with(create_payload(), "chart_version", NULL),
                   "chart_version");
    expect_invalid("event.create", tix_json_with(create_payload(), "venue_id", NULL),
                   "chart_version");
}

Test(event, create_keeps_session_names_and_capacities)
{
    json_t *p = with_session(0, "name", json_string(" Second night "));
    tix_json_with(json_array_get(json_object_get(p, "sessions"), 0), "capacity",
                  json_integer(1000));
    accept_quietly("event.create", p);
    const struct tix_event_state *s = ev();
    cr_assert_str_eq(s->sessions[1].name, "Second night");
    cr_assert_eq(s->sessions[1].capacity, 1000);
}

Test(event, create_rejects_an_existing_event_and_bad_actors)
{
    accept_quietly("event.create", create_payload());
    expect_rejected("event.create", create_payload(), "already_exists", "event_id");
    const char *actors[] = {"apikey:x", "user:nobody", "", "system:", "User:" ORG};
    for (int i = 0; i < 5; i++) {
        expect_rejected_as(actors[i], "event.create",
                           tix_json_with(create_payload(), "event_id", json_string(EV)),
                           "forbidden", NULL, NULL);
        expect_rejected_as(actors[i], "event.publish", id_payload(), "forbidden", NULL, NULL);
    }
    expect_rejected_as(NULL, "event.update", id_payload(), "forbidden", NULL, NULL);
    struct tix_decision d;
    struct tix_err err;
    cr_assert_eq(tix_world_run("event.create", EV2, A_SYSTEM,
                               tix_json_with(create_payload(), "event_id", json_string(EV2)), &d,
                               &err),
                 1);
    cr_assert_not(d.is_rejected, "system actors may create events");
    tix_decision_deinit(&d);
}

struct bad_field {
    const char *key;
    const char *value; /* JSON text; NULL removes the key */
    const char *field;
};

Test(event, create_names_the_offending_field)
{
    char *long_name = tix_world_repeat("x", 201);
    char *long_desc = tix_world_repeat("d", 20001);
    char *long_tag = tix_world_repeat("t", 41);
    char *long_url = tix_world_repeat("u", 2000);
    char big[64], name_json[300], desc_json[20100], tag_json[100], url_json[2100];
    snprintf(name_json, sizeof(name_json), "\"%s\"", long_name);
    snprintf(desc_json, sizeof(desc_json), "\"%s\"", long_desc);
    snprintf(tag_json, sizeof(tag_json), "[\"%s\"]", long_tag);
    snprintf(url_json, sizeof(url_json), "[{\"url\":\"https://%s\"}]", long_url);
    snprintf(big, sizeof(big), "x");
    const struct bad_field table[] = {
        {"event_id", "7", "event_id"},
        {"event_id", "\"" EV2 "\"", "event_id"},
        {"event_id", NULL, "event_id"},
        {"organization_id", "\"ACME\"", "organization_id"},
        {"organization_id", NULL, "organization_id"},
        {"venue_id", "\"x\"", "venue_id"},
        {"chart_version", "-1", "chart_version"},
        {"chart_version", "\"3\"", "chart_version"},
        {"name", "\"   \"", "name"},
        {"name", "\"a\\u0001b\"", "name"},
        {"name", name_json, "name"},
        {"name", NULL, "name"},
        {"description", desc_json, "description"},
        {"description", "\"a\\u0000b\"", "description"},
        {"category", "\"Music\"", "category"},
        {"category", "\"\"", "category"},
        {"category", "\"live music\"", "category"},
        {"category", NULL, "category"},
        {"tags", "\"gala\"", "tags"},
        {"tags",
         "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\","
         "\"m\",\"n\",\"o\",\"p\",\"q\",\"r\",\"s\",\"t\",\"u\"]",
         "tags"},
        {"tags", "[\"gala\",\"gala\"]", "tags[1]"},
        {"tags", "[\"\"]", "tags[0]"},
        {"tags", "[3]", "tags[0]"},
        {"tags", tag_json, "tags[0]"},
        {"images", "[{\"url\":\"http://img.example/a.png\"}]", "images[0].url"},
        {"images", "[{\"url\":\"https://\"}]", "images[0].url"},
        {"images", "[{\"url\":\"https://a b\"}]", "images[0].url"},
        {"images", "[{\"alt\":\"x\"}]", "images[0].url"},
        {"images", "[{\"url\":\"https://a\",\"caption\":\"x\"}]", "images[0].caption"},
        {"images", "[\"https://a\"]", "images[0]"},
        {"images", url_json, "images[0].url"},
        {"videos", "[{\"url\":\"https://v\",\"alt\":\"x\"}]", "videos[0].alt"},
        {"videos", "[{\"url\":\"ftp://v\"}]", "videos[0].url"},
        {"videos", "{}", "videos"},
        {"metadata", "[]", "metadata"},
        {"timezone", "\"\"", "timezone"},
        {"timezone", "\"Europe//Berlin\"", "timezone"},
        {"timezone", NULL, "timezone"},
        {"visibility", "\"hidden\"", "visibility"},
        {"visibility", NULL, "visibility"},
        {"capacity", "0", "capacity"},
        {"capacity", "1000001", "capacity"},
        {"capacity", "10.5", "capacity"},
        {"capacity", NULL, "capacity"},
        {"sales_start", "\"2026-07-01\"", "sales_start"},
        {"sales_end", "\"2026-12-31T25:00:00Z\"", "sales_end"},
        {"sessions", "[]", "sessions"},
        {"sessions", "{}", "sessions"},
        {"sessions", NULL, "sessions"},
        {"surprise", "1", "surprise"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        json_t *v = table[i].value != NULL ? tix_json_of(table[i].value) : NULL;
        expect_invalid("event.create", tix_json_with(create_payload(), table[i].key, v),
                       table[i].field);
    }
    expect_invalid("event.create", json_array(), "");
    expect_invalid("event.create", tix_json_of("\"x\""), "");
    free(long_name);
    free(long_desc);
    free(long_tag);
    free(long_url);
}

Test(event, create_accepts_the_limits)
{
    json_t *p = create_payload();
    tix_json_with(p, "name", repeated("\xc3\xa9", 200)); /* 200 characters, 400 bytes */
    tix_json_with(p, "description", repeated("d", 20000));
    json_t *tags = json_array();
    for (int i = 0; i < 20; i++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "t%d", i);
        json_array_append_new(tags, json_string(tag));
    }
    tix_json_with(p, "tags", tags);
    tix_json_with(p, "capacity", json_integer(1000000));
    tix_json_with(p, "description", json_string(""));
    accept_quietly("event.create", p);
    cr_assert_eq(ev()->capacity, 1000000);
}

Test(event, create_refuses_metadata_over_16_kib)
{
    json_t *meta = json_object();
    json_object_set_new(meta, "k", repeated("m", 16384 - 8)); /* {"k":"..."} is 8 + n bytes */
    json_t *ok = json_deep_copy(meta);
    accept_quietly("event.create", tix_json_with(create_payload(), "metadata", ok));
    json_object_set_new(meta, "k", repeated("m", 16384 - 7));
    expect_invalid_for(EV2, "event.create",
                       tix_json_with(tix_json_with(create_payload(), "event_id", json_string(EV2)),
                                     "metadata", meta),
                       "metadata");
}

Test(event, create_checks_each_session)
{
    const struct bad_field table[] = {
        {"session_id", "\"s1\"", "sessions[1].session_id"},
        {"session_id", NULL, "sessions[1].session_id"},
        {"starts_at", "\"2026-12-31T19:30:00\"", "sessions[1].starts_at"},
        {"starts_at", "\"2026-02-30T19:30:00Z\"", "sessions[1].starts_at"},
        {"starts_at", "\"2027-02-29T19:30:00Z\"", "sessions[1].starts_at"},
        {"starts_at", "\"2026-12-31T24:00:00Z\"", "sessions[1].starts_at"},
        {"starts_at", "\"2026-12-31T9:30:00Z\"", "sessions[1].starts_at"},
        {"starts_at", "1798745400", "sessions[1].starts_at"},
        {"starts_at", NULL, "sessions[1].starts_at"},
        {"ends_at", "\"2026-12-31T19:30:00Z\"", "sessions[1].ends_at"}, /* equal to the start */
        {"ends_at", "\"2026-12-31T19:00:00Z\"", "sessions[1].ends_at"}, /* before the start */
        {"ends_at", "\"2027-01-31T19:30:01Z\"", "sessions[1].ends_at"}, /* 31 days + 1 s */
        {"ends_at", NULL, "sessions[1].ends_at"},
        {"name", "\"\"", "sessions[1].name"},
        {"capacity", "0", "sessions[1].capacity"},
        {"capacity", "1001", "sessions[1].capacity"}, /* over the event's capacity */
        {"price", "5", "sessions[1].price"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        json_t *v = table[i].value != NULL ? tix_json_of(table[i].value) : NULL;
        expect_invalid("event.create", with_session(1, table[i].key, v), table[i].field);
    }
    /* sessions[1] is SES1 as given; a start equal to SES2's is refused. */
    expect_invalid("event.create",
                   tix_json_with(with_session(1, "starts_at", json_string(T2_START)), "sessions",
                                 json_pack("[o, o]", session(SES2, T2_START, T2_END),
                                           session(SES1, T2_START, T3_END))),
                   "sessions[1].starts_at");
    expect_invalid("event.create", with_session(1, "session_id", json_string(SES2)),
                   "sessions[1].session_id");
    json_t *p = create_payload();
    json_array_set_new(json_object_get(p, "sessions"), 1, json_string("x"));
    expect_invalid("event.create", p, "sessions[1]");
    accept_quietly("event.create", with_session(1, "ends_at", json_string("2027-01-31T19:30:00Z")));
}

Test(event, create_checks_the_sales_window)
{
    json_t *p = tix_json_with(create_payload(), "sales_start", json_string("2026-08-01T00:00:00Z"));
    expect_invalid("event.create",
                   tix_json_with(p, "sales_end", json_string("2026-08-01T00:00:00Z")), "sales_end");
    p = tix_json_with(create_payload(), "sales_end", json_string("2027-01-01T23:00:01Z"));
    expect_invalid("event.create", p, "sales_end");
    p = create_payload();
    json_t *sessions =
        json_pack("[o, o]", session(SES1, T1_START, T1_END), session(SES2, T2_START, T2_END));
    tix_json_with(p, "sessions", sessions);
    tix_json_with(p, "sales_end", json_string(T2_END)); /* exactly the last end */
    accept_quietly("event.create", p);
    cr_assert_eq(ev()->sales_end, secs(T2_END));
}

Test(event, create_refuses_more_than_500_sessions)
{
    json_t *p = create_payload();
    json_t *sessions = json_array();
    for (int i = 0; i < 501; i++) {
        char id[40], start[24], end[24];
        snprintf(id, sizeof(id), "0190c1e2-0000-7000-8000-%012d", i);
        tix_event_format_instant(secs(T1_START) + i * 7200, start);
        tix_event_format_instant(secs(T1_START) + i * 7200 + 3600, end);
        json_array_append_new(sessions, session(id, start, end));
    }
    tix_json_with(p, "sessions", json_deep_copy(sessions));
    expect_invalid("event.create", p, "sessions");
    json_array_remove(sessions, 500);
    accept_quietly("event.create", tix_json_with(create_payload(), "sessions", sessions));
    cr_assert_eq(ev()->n_sessions, 500);
}

/* Europe/Berlin leaves summer time on 2026-10-25 at 01:00 UTC: 00:30 UTC and 01:30 UTC are both
 * 02:30 local time. As instants they are an hour apart, so both sessions are fine; likewise on
 * 2026-03-29, when 01:30 local time to 03:30 local time is one hour in UTC. */
Test(event, sessions_across_a_dst_change_are_instants)
{
    json_t *p = create_payload();
    tix_json_with(p, "sessions",
                  json_pack("[o, o, o, o]",
                            session(SES1, "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z"),
                            session(SES2, "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z"),
                            session(SES3, "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z"),
                            session("0190c1e2-0000-7000-8000-000000000014", "2026-03-29T01:30:00Z",
                                    "2026-03-29T02:00:00Z")));
    at("2026-01-01T00:00:00Z");
    accept_quietly("event.create", p);
    const struct tix_event_state *s = ev();
    cr_assert_eq(s->n_sessions, 4);
    cr_assert_str_eq(s->sessions[0].id, SES3);
    cr_assert_eq(s->sessions[3].starts_at - s->sessions[2].starts_at, 3600);
    cr_assert_eq(s->sessions[1].starts_at - s->sessions[0].starts_at, 3600);
}

/* ---- update ------------------------------------------------------------------------------- */

Test(event, update_emits_only_changed_fields)
{
    accept_quietly("event.create", create_payload());
    json_t *p = id_payload();
    tix_json_with(p, "name", json_string(" New Year Gala")); /* the same, trimmed */
    tix_json_with(p, "capacity", json_integer(1000));        /* the same */
    tix_json_with(p, "category", json_string("party"));
    tix_json_with(p, "tags", tix_json_of("[\"late\"]"));
    tix_json_with(p, "sales_end", json_string(T1_END));
    struct tix_decision d;
    accept("event.update", p, &d);
    cr_assert_eq(d.n_events, 1);
    cr_assert_str_eq(d.events[0].type, "event.updated");
    tix_world_expect_json(d.events[0].data,
                          json_pack("{s:s, s:s, s:o, s:s}", "event_id", EV, "category", "party",
                                    "tags", tix_json_of("[\"late\"]"), "sales_end", T1_END));
    tix_decision_deinit(&d);
    cr_assert_str_eq(tix_json_str(ev()->info, "category"), "party");
    cr_assert(ev()->has_sales_end);
    cr_assert_eq(ev()->sales_end, secs(T1_END));
    cr_assert_eq(accept_quietly("event.update", payload1("category", json_string("party"))), 0);
    cr_assert_eq(accept_quietly("event.update", id_payload()), 0);
    cr_assert_eq(accept_quietly("event.update", payload1("metadata", tix_json_of("{\"a\":1}"))), 1);
    cr_assert_eq(accept_quietly("event.update", payload1("metadata", tix_json_of("{\"b\":2}"))), 1);
    tix_world_expect_json(json_object_get(ev()->info, "metadata"), tix_json_of("{\"b\":2}"));
    cr_assert_eq(accept_quietly("event.update", payload1("capacity", json_integer(5))), 1);
    cr_assert_eq(ev()->capacity, 5);
}

Test(event, update_keeps_the_rules_with_the_state)
{
    json_t *p = with_session(0, "capacity", json_integer(800));
    tix_json_with(p, "sales_start", json_string("2026-08-01T00:00:00Z"));
    accept_quietly("event.create", p);
    expect_rejected("event.update", payload1("capacity", json_integer(799)), "capacity_exceeded",
                    "capacity");
    expect_rejected("event.update", payload1("sales_end", json_string("2026-08-01T00:00:00Z")),
                    "sales_window", "sales_end");
    expect_rejected("event.update", payload1("sales_end", json_string("2027-01-01T23:00:01Z")),
                    "sales_window", "sales_end");
    accept_quietly("event.update", payload1("capacity", json_integer(800)));
    accept_quietly("event.update", payload1("sales_end", json_string(T2_END)));
    expect_rejected("event.update", payload1("sales_start", json_string(T2_END)), "sales_window",
                    "sales_start");
}

Test(event, update_validates_its_payload)
{
    expect_invalid("event.update", payload1("venue_id", json_string(VENUE)), "venue_id");
    expect_invalid("event.update", payload1("timezone", json_string("UTC")), "timezone");
    expect_invalid("event.update", payload1("sessions", json_array()), "sessions");
    expect_invalid("event.update", payload1("name", json_null()), "name");
    expect_invalid("event.update", payload1("capacity", json_integer(0)), "capacity");
    expect_invalid("event.update", payload1("images", tix_json_of("[{\"url\":\"http://x\"}]")),
                   "images[0].url");
    expect_invalid("event.update", payload1("sales_start", json_string("2026-02-30T00:00:00Z")),
                   "sales_start");
    expect_invalid("event.update", json_object(), "event_id");
}

/* For each status, whether each field may be updated; "not_editable" stops all of them. */
Test(event, update_locks_fields_by_status)
{
    const struct {
        const char *key;
        const char *value;
        bool is_open_on_sale;
    } fields[] = {
        {"name", "\"Renamed\"", true},
        {"description", "\"More\"", true},
        {"images", "[{\"url\":\"https://i\"}]", true},
        {"videos", "[{\"url\":\"https://v\"}]", true},
        {"tags", "[\"x\"]", true},
        {"metadata", "{\"x\":1}", true},
        {"category", "\"party\"", false},
        {"visibility", "\"private\"", false},
        {"capacity", "900", false},
        {"sales_start", "\"2026-06-01T00:00:00Z\"", false},
        {"sales_end", "\"2026-12-31T23:00:00Z\"", false},
    };
    for (int st = 0; st <= TIX_EVENT_CANCELLED; st++) {
        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
            tix_world_teardown();
            setup();
            given_status((enum tix_event_status)st);
            json_t *p = payload1(fields[f].key, tix_json_of(fields[f].value));
            bool is_selling = st == TIX_EVENT_ON_SALE || st == TIX_EVENT_SOLD_OUT;
            if (st == TIX_EVENT_COMPLETED || st == TIX_EVENT_CANCELLED)
                expect_rejected("event.update", p, "not_editable", NULL);
            else if (is_selling && !fields[f].is_open_on_sale)
                expect_rejected("event.update", p, "locked", fields[f].key);
            else
                cr_assert_eq(accept_quietly("event.update", p), 1, "%s in %s", fields[f].key,
                             tix_event_status_name((enum tix_event_status)st));
        }
    }
}

/* ---- delete ------------------------------------------------------------------------------- */

Test(event, only_drafts_are_deleted)
{
    for (int st = TIX_EVENT_PUBLISHED; st <= TIX_EVENT_CANCELLED; st++) {
        tix_world_teardown();
        setup();
        given_status((enum tix_event_status)st);
        expect_rejected("event.delete", id_payload(), "not_draft", NULL);
    }
    tix_world_teardown();
    setup();
    given_status(TIX_EVENT_PUBLISHED);
    accept_quietly("event.unpublish", id_payload());
    struct tix_decision d;
    accept("event.delete", id_payload(), &d);
    cr_assert_eq(d.n_events, 1);
    cr_assert_str_eq(d.events[0].type, "event.deleted");
    /* the venue it was bound to, for the process manager that unbinds it */
    tix_world_expect_json(d.events[0].data,
                          json_pack("{s:s, s:s}", "event_id", EV, "venue_id", VENUE));
    tix_decision_deinit(&d);
    cr_assert(ev()->is_deleted);
}

Test(event, a_deleted_event_refuses_everything)
{
    accept_quietly("event.create", create_payload());
    accept_quietly("event.delete", id_payload());
    expect_rejected("event.create", create_payload(), "deleted", "event_id");
    expect_rejected("event.update", payload1("name", json_string("x")), "deleted", "event_id");
    expect_rejected("event.delete", id_payload(), "deleted", "event_id");
    expect_rejected("event.add_session", payload1("session", session(SES3, T3_START, T3_END)),
                    "deleted", "event_id");
    expect_rejected("event.update_session", payload1("session_id", json_string(SES1)), "deleted",
                    "event_id");
    expect_rejected("event.remove_session", payload1("session_id", json_string(SES1)), "deleted",
                    "event_id");
    for (int i = 0; i < N_LIFECYCLE; i++)
        expect_rejected(lifecycle[i], lifecycle_payload(lifecycle[i]), "deleted", "event_id");
}

/* ---- sessions ----------------------------------------------------------------------------- */

static json_t *add_payload(json_t *session_value)
{
    return payload1("session", session_value);
}

static json_t *update_session_payload(const char *id, const char *key, json_t *value)
{
    json_t *p = payload1("session_id", json_string(id));
    return key != NULL ? tix_json_with(p, key, value) : p;
}

Test(event, add_session_inserts_in_start_order)
{
    accept_quietly("event.create", create_payload());
    json_t *s3 = tix_json_with(session(SES3, "2027-01-01T12:00:00Z", "2027-01-01T13:00:00Z"),
                               "name", json_string(" Matinee "));
    struct tix_decision d;
    accept("event.add_session", add_payload(s3), &d);
    cr_assert_eq(d.n_events, 1);
    cr_assert_str_eq(d.events[0].type, "event.session_added");
    tix_world_expect_json(
        d.events[0].data,
        json_pack("{s:s, s:o}", "event_id", EV, "session",
                  tix_json_with(session(SES3, "2027-01-01T12:00:00Z", "2027-01-01T13:00:00Z"),
                                "name", json_string("Matinee"))));
    tix_decision_deinit(&d);
    const struct tix_event_state *s = ev();
    cr_assert_eq(s->n_sessions, 3);
    cr_assert_str_eq(s->sessions[0].id, SES1);
    cr_assert_str_eq(s->sessions[1].id, SES3);
    cr_assert_str_eq(s->sessions[1].name, "Matinee");
    cr_assert_str_eq(s->sessions[2].id, SES2);
}

Test(event, add_session_rules)
{
    json_t *p = tix_json_with(create_payload(), "sales_end", json_string(T2_END));
    tix_json_with(p, "capacity", json_integer(100));
    accept_quietly("event.create", p);
    expect_rejected("event.add_session", add_payload(session(SES1, T3_START, T3_END)),
                    "session_exists", "session.session_id");
    expect_rejected("event.add_session", add_payload(session(SES3, T1_START, T3_END)),
                    "duplicate_start", "session.starts_at");
    expect_rejected(
        "event.add_session",
        add_payload(tix_json_with(session(SES3, T3_START, T3_END), "capacity", json_integer(101))),
        "capacity_exceeded", "session.capacity");
    expect_invalid("event.add_session", add_payload(session(SES3, T3_END, T3_START)),
                   "session.ends_at");
    expect_invalid("event.add_session", add_payload(session(SES3, "2027-01-02T19:30:00", T3_END)),
                   "session.starts_at");
    expect_invalid("event.add_session",
                   add_payload(tix_json_with(session(SES3, T3_START, T3_END), "x", json_true())),
                   "session.x");
    expect_invalid("event.add_session", add_payload(json_array()), "session");
    expect_invalid("event.add_session", id_payload(), "session");
    accept_quietly("event.add_session", add_payload(tix_json_with(session(SES3, T3_START, T3_END),
                                                                  "capacity", json_integer(100))));
    cr_assert_eq(ev()->sessions[2].capacity, 100);
}

Test(event, an_event_holds_at_most_500_sessions)
{
    accept_quietly("event.create", create_payload());
    for (int i = 0; i < 498; i++) {
        char id[40], start[24], end[24];
        snprintf(id, sizeof(id), "0190c1e2-0000-7000-8000-%012d", i + 100);
        tix_event_format_instant(secs(T3_START) + i * 7200, start);
        tix_event_format_instant(secs(T3_START) + i * 7200 + 3600, end);
        accept_quietly("event.add_session", add_payload(session(id, start, end)));
    }
    cr_assert_eq(ev()->n_sessions, 500);
    expect_rejected("event.add_session",
                    add_payload(session(SES3, "2030-01-01T00:00:00Z", "2030-01-01T01:00:00Z")),
                    "too_many_sessions", "session");
    for (int i = 1; i < 500; i++)
        cr_assert_lt(ev()->sessions[i - 1].starts_at, ev()->sessions[i].starts_at);
}

Test(event, update_session_changes_and_reorders)
{
    accept_quietly("event.create", create_payload());
    struct tix_decision d;
    accept("event.update_session",
           tix_json_with(update_session_payload(SES1, "starts_at", json_string(T3_START)),
                         "ends_at", json_string(T3_END)),
           &d);
    cr_assert_eq(d.n_events, 1);
    cr_assert_str_eq(d.events[0].type, "event.session_updated");
    tix_world_expect_json(d.events[0].data, json_pack("{s:s, s:o}", "event_id", EV, "session",
                                                      session(SES1, T3_START, T3_END)));
    tix_decision_deinit(&d);
    cr_assert_str_eq(ev()->sessions[0].id, SES2);
    cr_assert_str_eq(ev()->sessions[1].id, SES1);
    cr_assert_eq(accept_quietly("event.update_session",
                                update_session_payload(SES1, "ends_at", json_string(T3_END))),
                 0, "no change, no event");
    cr_assert_eq(accept_quietly("event.update_session",
                                update_session_payload(SES1, "name", json_string(" Late "))),
                 1);
    cr_assert_eq(accept_quietly("event.update_session",
                                update_session_payload(SES1, "capacity", json_integer(7))),
                 1);
    cr_assert_str_eq(ev()->sessions[1].name, "Late");
    cr_assert_eq(ev()->sessions[1].capacity, 7);
    cr_assert_eq(accept_quietly("event.update_session",
                                update_session_payload(SES1, "name", json_string("Late"))),
                 0);
}

Test(event, update_session_rules)
{
    accept_quietly("event.create",
                   tix_json_with(create_payload(), "sales_end", json_string(T2_END)));
    expect_rejected("event.update_session", update_session_payload(SES3, NULL, NULL),
                    "session_not_found", "session_id");
    expect_rejected("event.update_session",
                    tix_json_with(update_session_payload(SES1, "starts_at", json_string(T2_START)),
                                  "ends_at", json_string(T3_END)),
                    "duplicate_start", "starts_at");
    expect_rejected("event.update_session",
                    update_session_payload(SES1, "ends_at", json_string(T1_START)), "invalid_span",
                    "ends_at");
    expect_rejected("event.update_session",
                    update_session_payload(SES1, "ends_at", json_string("2027-02-01T19:30:00Z")),
                    "invalid_span", "ends_at");
    expect_rejected("event.update_session",
                    update_session_payload(SES1, "capacity", json_integer(1001)),
                    "capacity_exceeded", "capacity");
    expect_rejected("event.update_session",
                    update_session_payload(SES2, "ends_at", json_string("2027-01-01T22:00:00Z")),
                    "sales_window", "ends_at");
    expect_invalid("event.update_session",
                   update_session_payload(SES1, "starts_at", json_string("2026-12-31")),
                   "starts_at");
    expect_invalid("event.update_session", id_payload(), "session_id");
    expect_invalid("event.update_session", update_session_payload(SES1, "session", json_object()),
                   "session");
}

Test(event, remove_session_rules)
{
    accept_quietly("event.create",
                   tix_json_with(create_payload(), "sales_end", json_string(T2_END)));
    expect_rejected("event.remove_session", payload1("session_id", json_string(SES3)),
                    "session_not_found", "session_id");
    expect_rejected("event.remove_session", payload1("session_id", json_string(SES2)),
                    "sales_window", "session_id");
    struct tix_decision d;
    accept("event.remove_session", payload1("session_id", json_string(SES1)), &d);
    cr_assert_eq(d.n_events, 1);
    cr_assert_str_eq(d.events[0].type, "event.session_removed");
    tix_world_expect_json(d.events[0].data,
                          json_pack("{s:s, s:s}", "event_id", EV, "session_id", SES1));
    tix_decision_deinit(&d);
    cr_assert_eq(ev()->n_sessions, 1);
    expect_rejected("event.remove_session", payload1("session_id", json_string(SES2)),
                    "last_session", "session_id");
    expect_invalid("event.remove_session", payload1("session_id", json_string("x")), "session_id");
}

Test(event, sessions_are_locked_once_on_sale)
{
    for (int st = 0; st <= TIX_EVENT_CANCELLED; st++) {
        tix_world_teardown();
        setup();
        given_status((enum tix_event_status)st);
        bool is_open = st == TIX_EVENT_DRAFT || st == TIX_EVENT_PUBLISHED;
        json_t *add = add_payload(session(SES3, T3_START, T3_END));
        json_t *upd = update_session_payload(SES1, "name", json_string("x"));
        json_t *rem = payload1("session_id", json_string(SES1));
        if (is_open) {
            cr_assert_eq(accept_quietly("event.add_session", add), 1);
            cr_assert_eq(accept_quietly("event.update_session", upd), 1);
            cr_assert_eq(accept_quietly("event.remove_session", rem), 1);
        } else {
            expect_rejected("event.add_session", add, "locked", NULL);
            expect_rejected("event.update_session", upd, "locked", NULL);
            expect_rejected("event.remove_session", rem, "locked", NULL);
        }
    }
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

/* What each lifecycle command (rows as in lifecycle[]) does from each status (columns as in the
 * enum): the status it leads to, or -1 for "illegal_transition", or -2 for "is_draft". */
static const int transition_table[N_LIFECYCLE][6] = {
    /*                draft  published  on_sale  sold_out  completed  cancelled */
    /* publish */ {TIX_EVENT_PUBLISHED, -1, -1, -1, -1, -1},
    /* unpublish */ {-1, TIX_EVENT_DRAFT, -1, -1, -1, -1},
    /* open_sales */ {-1, TIX_EVENT_ON_SALE, -1, -1, -1, -1},
    /* mark_sold_out */ {-1, -1, TIX_EVENT_SOLD_OUT, -1, -1, -1},
    /* reopen_sales */ {-1, -1, -1, TIX_EVENT_ON_SALE, -1, -1},
    /* complete */ {-1, TIX_EVENT_COMPLETED, TIX_EVENT_COMPLETED, TIX_EVENT_COMPLETED, -1, -1},
    /* cancel */ {-2, TIX_EVENT_CANCELLED, TIX_EVENT_CANCELLED, TIX_EVENT_CANCELLED, -1, -1},
};

static const char *const transition_events[N_LIFECYCLE] = {
    "event.published",      "event.unpublished", "event.sales_opened", "event.sold_out",
    "event.sales_reopened", "event.completed",   "event.cancelled",
};

Test(event, every_lifecycle_command_from_every_status)
{
    int n_legal = 0, n_illegal = 0;
    for (int c = 0; c < N_LIFECYCLE; c++) {
        for (int st = 0; st <= TIX_EVENT_CANCELLED; st++) {
            tix_world_teardown();
            setup();
            given_status((enum tix_event_status)st);
            /* The clock suits the command, so only the status decides. */
            at(strcmp(lifecycle[c], "event.complete") == 0 ? LATE : EARLY);
            int want = transition_table[c][st];
            const char *type = lifecycle[c];
            if (want == -2) {
                expect_rejected(type, lifecycle_payload(type), "is_draft", NULL);
            } else if (want == -1) {
                char reason[256];
                expect_rejected_as(A_USER, type, lifecycle_payload(type), "illegal_transition",
                                   NULL, reason);
                cr_assert(strstr(reason, "cannot ") == reason, "%s", reason);
                n_illegal++;
            } else {
                struct tix_decision d;
                accept(type, lifecycle_payload(type), &d);
                cr_assert_eq(d.n_events, 1);
                cr_assert_str_eq(d.events[0].type, transition_events[c]);
                cr_assert_str_eq(tix_json_str(d.events[0].data, "event_id"), EV);
                tix_decision_deinit(&d);
                cr_assert_eq(ev()->status, want, "%s from %s", type,
                             tix_event_status_name((enum tix_event_status)st));
                n_legal++;
            }
        }
    }
    cr_assert_eq(n_legal, 11);
    cr_assert_eq(n_illegal, 30);
}

Test(event, illegal_transitions_name_both_states)
{
    char reason[256];
    given_status(TIX_EVENT_DRAFT);
    expect_rejected_as(A_USER, "event.open_sales", id_payload(), "illegal_transition", NULL,
                       reason);
    cr_assert_str_eq(reason, "cannot open sales of a draft event");
    expect_rejected_as(A_USER, "event.mark_sold_out", id_payload(), "illegal_transition", NULL,
                       reason);
    cr_assert_str_eq(reason, "cannot mark a draft event as sold out");
    accept_quietly("event.publish", id_payload());
    accept_quietly("event.open_sales", id_payload());
    expect_rejected_as(A_USER, "event.publish", id_payload(), "illegal_transition", NULL, reason);
    cr_assert_str_eq(reason, "cannot publish an on-sale event");
}

Test(event, cancel_records_the_trimmed_reason)
{
    given_status(TIX_EVENT_PUBLISHED);
    struct tix_decision d;
    accept("event.cancel", cancel_payload(), &d);
    tix_world_expect_json(d.events[0].data,
                          json_pack("{s:s, s:s}", "event_id", EV, "reason", "storm warning"));
    tix_decision_deinit(&d);
    expect_invalid("event.cancel", id_payload(), "reason");
    expect_invalid("event.cancel", payload1("reason", json_string(" ")), "reason");
    expect_invalid("event.cancel", payload1("reason", repeated("r", 501)), "reason");
}

Test(event, publish_needs_a_future_session)
{
    accept_quietly("event.create", create_payload());
    at(T2_START); /* SES2 starts now: not after now */
    expect_rejected("event.publish", id_payload(), "no_future_session", NULL);
    tix_world_set_now(tix_world_now() - 1);
    accept_quietly("event.publish", id_payload());
}

Test(event, open_sales_within_the_window)
{
    json_t *p = tix_json_with(create_payload(), "sales_start", json_string("2026-08-01T00:00:00Z"));
    accept_quietly("event.create", tix_json_with(p, "sales_end", json_string(T1_START)));
    accept_quietly("event.publish", id_payload());
    at("2026-07-31T23:59:59Z");
    expect_rejected("event.open_sales", id_payload(), "sales_not_started", "sales_start");
    at(T1_START);
    expect_rejected("event.open_sales", id_payload(), "sales_ended", "sales_end");
    at("2026-08-01T00:00:00Z");
    accept_quietly("event.open_sales", id_payload());
}

Test(event, complete_only_after_the_last_session_ended)
{
    given_status(TIX_EVENT_SOLD_OUT);
    at(T2_START);
    expect_rejected("event.complete", id_payload(), "not_over", NULL);
    tix_world_set_now(secs(T2_END) * 1000000 - 1);
    expect_rejected("event.complete", id_payload(), "not_over", NULL);
    at(T2_END);
    accept_quietly("event.complete", id_payload());
    cr_assert_eq(ev()->status, TIX_EVENT_COMPLETED);
}

/* ---- one session called off ---------------------------------------------------------------- */

static json_t *cancel_session_payload(const char *session_id)
{
    return tix_json_with(cancel_payload(), "session_id", json_string(session_id));
}

Test(event, a_session_is_called_off_and_the_event_goes_on)
{
    given_status(TIX_EVENT_ON_SALE);
    struct tix_decision d;
    accept("event.cancel_session", cancel_session_payload(SES1), &d);
    cr_assert_eq(d.n_events, 1);
    cr_assert_str_eq(d.events[0].type, "event.session_cancelled");
    tix_world_expect_json(d.events[0].data,
                          json_pack("{s:s, s:s, s:s}", "event_id", EV, "session_id", SES1, "reason",
                                    "storm warning"));
    tix_decision_deinit(&d);
    cr_assert_eq(ev()->status, TIX_EVENT_ON_SALE);
    cr_assert_eq(ev()->n_sessions, 2);
    cr_assert(ev()->sessions[0].is_cancelled);
    cr_assert_not(ev()->sessions[1].is_cancelled);
    expect_rejected("event.cancel_session", cancel_session_payload(SES1), "already_cancelled",
                    "session_id");
    /* the last session left is the event's: cancel the event instead */
    expect_rejected("event.cancel_session", cancel_session_payload(SES2), "last_session",
                    "session_id");
    cr_assert_eq(tix_world_stream(EV_STREAM)->version, 4);
}

Test(event, cancel_session_refuses_illegal_cases)
{
    expect_rejected("event.cancel_session", cancel_session_payload(SES1), "not_found", "event_id");
    given_status(TIX_EVENT_DRAFT);
    expect_rejected("event.cancel_session", cancel_session_payload(SES1), "is_draft", NULL);
    accept_quietly("event.publish", id_payload());
    expect_rejected("event.cancel_session", cancel_session_payload(SES3), "session_not_found",
                    "session_id");
    expect_invalid("event.cancel_session", cancel_session_payload("x"), "session_id");
    expect_invalid("event.cancel_session",
                   tix_json_with(cancel_session_payload(SES1), "reason", json_string("  ")),
                   "reason");
    expect_invalid("event.cancel_session", payload1("session_id", json_string(SES1)), "reason");
    at(T1_END); /* the first session is over; the second still to come */
    expect_rejected("event.cancel_session", cancel_session_payload(SES1), "session_over",
                    "session_id");
    at(T2_START); /* under way: still called off (the show stopped) */
    accept_quietly("event.cancel_session", cancel_session_payload(SES2));
    at(EARLY);
    accept_quietly("event.cancel", cancel_payload());
    expect_rejected("event.cancel_session", cancel_session_payload(SES1), "not_editable", NULL);
}

Test(event, a_completed_event_refuses_cancel_session)
{
    given_status(TIX_EVENT_COMPLETED);
    expect_rejected("event.cancel_session", cancel_session_payload(SES1), "not_editable", NULL);
}

Test(event, a_called_off_session_is_kept_but_locked)
{
    given_status(TIX_EVENT_PUBLISHED);
    accept_quietly("event.cancel_session", cancel_session_payload(SES2));
    expect_rejected("event.update_session",
                    update_session_payload(SES2, "name", json_string("Encore")),
                    "session_cancelled", "session_id");
    /* the one session not called off stays */
    expect_rejected("event.remove_session", payload1("session_id", json_string(SES1)),
                    "last_session", "session_id");
    /* completing waits for the sessions that happen, not the one called off */
    accept_quietly("event.open_sales", id_payload());
    at(T1_END);
    accept_quietly("event.complete", id_payload());
    cr_assert_eq(ev()->status, TIX_EVENT_COMPLETED);
}

/* ---- every command ------------------------------------------------------------------------ */

static const char *const all_types[] = {
    "event.update",         "event.delete",       "event.add_session", "event.update_session",
    "event.remove_session", "event.publish",      "event.unpublish",   "event.open_sales",
    "event.mark_sold_out",  "event.reopen_sales", "event.complete",    "event.cancel",
    "event.cancel_session",
};
#define N_ALL 13

/* A valid payload for all_types[i]. */
static json_t *valid_payload(int i)
{
    const char *t = all_types[i];
    if (strcmp(t, "event.add_session") == 0)
        return add_payload(session(SES3, T3_START, T3_END));
    if (strcmp(t, "event.update_session") == 0 || strcmp(t, "event.remove_session") == 0)
        return payload1("session_id", json_string(SES1));
    if (strcmp(t, "event.cancel_session") == 0)
        return tix_json_with(cancel_payload(), "session_id", json_string(SES1));
    return lifecycle_payload(t);
}

Test(event, every_command_needs_an_existing_event)
{
    for (int i = 0; i < N_ALL; i++)
        expect_rejected(all_types[i], valid_payload(i), "not_found", "event_id");
}

Test(event, every_command_refuses_strangers_and_malformed_payloads)
{
    accept_quietly("event.create", create_payload());
    for (int i = 0; i < N_ALL; i++) {
        expect_rejected_as("org:" ORG, all_types[i], valid_payload(i), "forbidden", NULL, NULL);
        expect_invalid(all_types[i], tix_json_with(valid_payload(i), "extra", json_null()),
                       "extra");
        expect_invalid(all_types[i], json_array(), "");
        expect_invalid(all_types[i], tix_json_with(valid_payload(i), "event_id", json_integer(7)),
                       "event_id");
        expect_invalid_for(EV2, all_types[i], valid_payload(i), "event_id");
    }
    cr_assert_eq(tix_world_stream(EV_STREAM)->version, 1);
}

/* ---- evolve ------------------------------------------------------------------------------- */

static enum tix_rc evolve_ev(void *s, const char *type, const char *data)
{
    json_t *v = tix_json_of(data);
    enum tix_rc rc = tix_event_stream_kind.evolve(s, type, 1, v);
    json_decref(v);
    return rc;
}

#define CREATED                                                                                    \
    "{\"event_id\":\"" EV "\",\"organization_id\":\"" ORG "\",\"name\":\"Gala\","                  \
    "\"category\":\"music\",\"timezone\":\"Europe/Berlin\",\"visibility\":\"public\","             \
    "\"capacity\":10,\"created_by\":\"system:test\",\"sessions\":[{\"session_id\":\"" SES1         \
    "\",\"starts_at\":\"" T1_START "\",\"ends_at\":\"" T1_END "\"}]}"
#define WITH_ID(rest) "{\"event_id\":\"" EV "\"" rest "}"

Test(event, evolve_ignores_unknown_event_types)
{
    struct tix_event_state *s = tix_event_stream_kind.create();
    cr_assert_eq(evolve_ev(s, "event.poster_printed", "{\"whatever\":1}"), TIX_OK);
    cr_assert_eq(evolve_ev(s, "venue.created", "[]"), TIX_OK);
    cr_assert_not(s->exists);
    cr_assert_eq(evolve_ev(s, "event.created", CREATED), TIX_OK);
    cr_assert_eq(evolve_ev(s, "event.future_thing", "7"), TIX_OK);
    cr_assert_eq(s->n_sessions, 1);
    tix_event_stream_kind.destroy(s);
    tix_event_stream_kind.destroy(NULL);
}

Test(event, evolve_refuses_malformed_known_events)
{
    struct tix_event_state *s = tix_event_stream_kind.create();
    cr_assert_eq(evolve_ev(s, "event.published", WITH_ID("")), TIX_EINVAL, "before created");
    cr_assert_eq(evolve_ev(s, "event.created", WITH_ID("")), TIX_EINVAL);
    cr_assert_eq(evolve_ev(s, "event.created", "[]"), TIX_EINVAL);
    json_t *v = tix_json_of(CREATED);
    cr_assert_eq(tix_event_stream_kind.evolve(s, "event.created", 2, v), TIX_EINVAL);
    json_object_del(v, "created_by");
    cr_assert_eq(tix_event_stream_kind.evolve(s, "event.created", 1, v), TIX_EINVAL);
    json_object_set_new(v, "created_by", json_string("system:test"));
    json_object_set_new(v, "capacity", json_integer(0));
    cr_assert_eq(tix_event_stream_kind.evolve(s, "event.created", 1, v), TIX_EINVAL);
    json_decref(v);
    cr_assert_not(s->exists, "a refused event changes nothing");
    cr_assert_eq(evolve_ev(s, "event.created", CREATED), TIX_OK);
    cr_assert_eq(evolve_ev(s, "event.created", CREATED), TIX_EINVAL, "created twice");
    const char *bad[][2] = {
        {"event.updated", WITH_ID(",\"capacity\":0")},
        {"event.updated", WITH_ID(",\"venue_id\":\"" VENUE "\"")},
        {"event.updated", "{\"event_id\":\"" EV2 "\",\"name\":\"x\"}"},
        {"event.updated", "{\"name\":\"x\"}"},
        {"event.session_added",
         WITH_ID(",\"session\":{\"session_id\":\"" SES1 "\",\"starts_at\":\"" T3_START
                 "\",\"ends_at\":\"" T3_END "\"}")},
        {"event.session_added",
         WITH_ID(",\"session\":{\"session_id\":\"" SES2 "\",\"starts_at\":\"" T1_START
                 "\",\"ends_at\":\"" T3_END "\"}")},
        {"event.session_added", WITH_ID(",\"session\":{}")},
        {"event.session_updated",
         WITH_ID(",\"session\":{\"session_id\":\"" SES2 "\",\"starts_at\":\"" T3_START
                 "\",\"ends_at\":\"" T3_END "\"}")},
        {"event.session_removed", WITH_ID(",\"session_id\":\"" SES1 "\"")}, /* the last one */
        {"event.session_removed", WITH_ID(",\"session_id\":\"" SES2 "\"")},
        {"event.unpublished", WITH_ID("")},
        {"event.sales_opened", WITH_ID("")},
        {"event.completed", WITH_ID("")},
        {"event.cancelled", WITH_ID("")},
        {"event.published", "{}"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(evolve_ev(s, bad[i][0], bad[i][1]), TIX_EINVAL, "%s %s", bad[i][0], bad[i][1]);
    cr_assert_eq(s->capacity, 10);
    cr_assert_eq(s->n_sessions, 1);
    cr_assert_eq(s->status, TIX_EVENT_DRAFT);
    cr_assert_eq(evolve_ev(s, "event.published", WITH_ID("")), TIX_OK);
    cr_assert_eq(evolve_ev(s, "event.deleted", WITH_ID("")), TIX_EINVAL, "only drafts");
    cr_assert_eq(evolve_ev(s, "event.cancelled", WITH_ID(",\"reason\":\"x\"")), TIX_OK);
    cr_assert_eq(s->status, TIX_EVENT_CANCELLED);
    tix_event_stream_kind.destroy(s);
}

Test(event, evolve_keeps_a_session_whose_new_start_is_taken)
{
    struct tix_event_state *s = tix_event_stream_kind.create();
    cr_assert_eq(evolve_ev(s, "event.created", CREATED), TIX_OK);
    cr_assert_eq(evolve_ev(s, "event.session_added",
                           WITH_ID(",\"session\":{\"session_id\":\"" SES2
                                   "\",\"name\":\"Two\",\"starts_at\":\"" T2_START
                                   "\",\"ends_at\":\"" T2_END "\"}")),
                 TIX_OK);
    cr_assert_eq(
        evolve_ev(s, "event.session_updated",
                  WITH_ID(",\"session\":{\"session_id\":\"" SES2 "\",\"starts_at\":\"" T1_START
                          "\",\"ends_at\":\"" T2_END "\"}")),
        TIX_EINVAL);
    cr_assert_eq(s->n_sessions, 2);
    cr_assert_str_eq(s->sessions[1].id, SES2);
    cr_assert_str_eq(s->sessions[1].name, "Two");
    cr_assert_eq(s->sessions[1].starts_at, secs(T2_START));
    tix_event_stream_kind.destroy(s);
}

/* ---- replay ------------------------------------------------------------------------------- */

static void expect_same_event(const struct tix_event_state *a, const struct tix_event_state *b)
{
    cr_assert_eq(a->exists, b->exists);
    cr_assert_eq(a->is_deleted, b->is_deleted);
    cr_assert_eq(a->status, b->status);
    cr_assert_str_eq(a->id, b->id);
    cr_assert_str_eq(a->organization_id, b->organization_id);
    cr_assert_str_eq(a->venue_id, b->venue_id);
    cr_assert_eq(a->chart_version, b->chart_version);
    tix_world_expect_json(a->info, json_incref(b->info));
    cr_assert_eq(a->capacity, b->capacity);
    cr_assert_eq(a->has_sales_start, b->has_sales_start);
    cr_assert_eq(a->has_sales_end, b->has_sales_end);
    cr_assert_eq(a->sales_start, b->sales_start);
    cr_assert_eq(a->sales_end, b->sales_end);
    cr_assert_eq(a->n_sessions, b->n_sessions);
    for (int i = 0; i < a->n_sessions; i++) {
        cr_assert_str_eq(a->sessions[i].id, b->sessions[i].id);
        cr_assert_eq(a->sessions[i].name == NULL, b->sessions[i].name == NULL);
        if (a->sessions[i].name != NULL)
            cr_assert_str_eq(a->sessions[i].name, b->sessions[i].name);
        cr_assert_eq(a->sessions[i].starts_at, b->sessions[i].starts_at);
        cr_assert_eq(a->sessions[i].ends_at, b->sessions[i].ends_at);
        cr_assert_eq(a->sessions[i].capacity, b->sessions[i].capacity);
    }
}

Test(event, replaying_the_log_gives_the_live_state)
{
    json_t *p = tix_json_with(create_payload(), "metadata", tix_json_of("{\"a\":[1,2]}"));
    accept_quietly("event.create",
                   tix_json_with(p, "sales_start", json_string("2026-05-01T00:00:00Z")));
    accept_quietly("event.update", payload1("tags", tix_json_of("[\"x\",\"y\"]")));
    accept_quietly("event.add_session", add_payload(tix_json_with(session(SES3, T3_START, T3_END),
                                                                  "name", json_string("Third"))));
    accept_quietly("event.update_session",
                   tix_json_with(update_session_payload(SES1, "starts_at", json_string(T1_END)),
                                 "ends_at", json_string("2027-01-01T01:00:00Z")));
    accept_quietly("event.remove_session", payload1("session_id", json_string(SES2)));
    accept_quietly("event.publish", id_payload());
    accept_quietly("event.update", payload1("sales_end", json_string(T3_START)));
    accept_quietly("event.open_sales", id_payload());
    accept_quietly("event.mark_sold_out", id_payload());
    accept_quietly("event.reopen_sales", id_payload());
    accept_quietly("event.update", payload1("name", json_string("Gala, again")));
    cr_assert_eq(tix_world_stream(EV_STREAM)->version, 11);

    struct tix_event_state *again = tix_world_replay(EV_STREAM);
    expect_same_event(again, ev());
    cr_assert_eq(again->status, TIX_EVENT_ON_SALE);
    cr_assert_eq(again->n_sessions, 2);
    cr_assert_str_eq(again->sessions[1].name, "Third");
    cr_assert_str_eq(tix_json_str(again->info, "name"), "Gala, again");
    tix_event_stream_kind.destroy(again);
}

/* ---- featuring ---------------------------------------------------------------------------- */

Test(event, featuring_sets_and_clears_a_rank)
{
    expect_rejected("event.feature", payload1("rank", json_integer(5)), "not_found", "event_id");
    given_status(TIX_EVENT_PUBLISHED);
    struct tix_decision d;
    accept("event.feature", payload1("rank", json_integer(5)), &d);
    cr_assert_eq(d.n_events, 1);
    cr_assert_str_eq(d.events[0].type, "event.featured");
    tix_world_expect_json(d.events[0].data, json_pack("{s:s, s:i}", "event_id", EV, "rank", 5));
    tix_decision_deinit(&d);
    cr_assert_eq(ev()->featured_rank, 5);
    cr_assert_eq(accept_quietly("event.feature", payload1("rank", json_integer(5))), 0,
                 "the same rank changes nothing");
    cr_assert_eq(accept_quietly("event.feature", payload1("rank", json_integer(1))), 1);
    cr_assert_eq(ev()->featured_rank, 1);
    cr_assert_eq(accept_quietly("event.unfeature", id_payload()), 1);
    cr_assert_eq(ev()->featured_rank, 0);
    cr_assert_eq(accept_quietly("event.unfeature", id_payload()), 0, "already not featured");
}

Test(event, ranks_are_checked_and_ended_events_are_not_featured)
{
    given_status(TIX_EVENT_DRAFT); /* a draft may be featured ahead of its publication */
    cr_assert_eq(accept_quietly("event.feature", payload1("rank", json_integer(1000))), 1);
    expect_invalid("event.feature", payload1("rank", json_integer(0)), "rank");
    expect_invalid("event.feature", payload1("rank", json_integer(1001)), "rank");
    expect_invalid("event.feature", payload1("rank", json_string("1")), "rank");
    expect_invalid("event.feature", id_payload(), "rank");
    tix_world_teardown();
    setup();
    given_status(TIX_EVENT_CANCELLED);
    expect_rejected("event.feature", payload1("rank", json_integer(3)), "not_featurable", NULL);
}

Test(event, evolve_checks_featured_events)
{
    struct tix_event_state *s = tix_event_stream_kind.create();
    cr_assert_eq(evolve_ev(s, "event.featured", WITH_ID(",\"rank\":3")), TIX_EINVAL, "no event");
    cr_assert_eq(evolve_ev(s, "event.created", CREATED), TIX_OK);
    cr_assert_eq(evolve_ev(s, "event.featured", WITH_ID(",\"rank\":0")), TIX_EINVAL);
    cr_assert_eq(s->featured_rank, 0);
    cr_assert_eq(evolve_ev(s, "event.featured", WITH_ID(",\"rank\":3")), TIX_OK);
    cr_assert_eq(s->featured_rank, 3);
    cr_assert_eq(evolve_ev(s, "event.unfeatured", WITH_ID(",\"rank\":3")), TIX_EINVAL);
    cr_assert_eq(evolve_ev(s, "event.unfeatured", WITH_ID("")), TIX_OK);
    cr_assert_eq(s->featured_rank, 0);
    tix_event_stream_kind.destroy(s);
}

Test(event, evolve_checks_session_cancelled)
{
    given_status(TIX_EVENT_ON_SALE);
    struct tix_event_state *s = tix_world_stream(EV_STREAM)->state;
    const char *unknown = "{\"event_id\":\"" EV "\",\"session_id\":\"" SES3 "\",\"reason\":\"x\"}";
    const char *good = "{\"event_id\":\"" EV "\",\"session_id\":\"" SES1 "\",\"reason\":\"x\"}";
    cr_assert_eq(evolve_ev(s, "event.session_cancelled", unknown), TIX_EINVAL);
    cr_assert_eq(evolve_ev(s, "event.session_cancelled",
                           "{\"event_id\":\"" EV "\",\"session_id\":\"" SES1 "\"}"),
                 TIX_EINVAL);
    cr_assert_eq(evolve_ev(s, "event.session_cancelled", good), TIX_OK);
    cr_assert(s->sessions[0].is_cancelled);
    cr_assert_eq(evolve_ev(s, "event.session_cancelled", good), TIX_EINVAL); /* twice */
}
