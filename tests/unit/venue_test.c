/* venue_test.c - the venue aggregate's pure functions, driven like the processor
 *
 * Runs commands through the shared in-memory world (support/world.h): tix_world_run() calls
 * streams() (which must name exactly one stream here), builds a view from the world's states,
 * calls decide(), and evolves accepted events into the states and a log. States are only built
 * by evolving events, so every test also exercises evolve; the replay test rebuilds a state from
 * the log and compares it with the live one. Each Criterion test runs in its own process.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tix/aggregate.h"
#include "tix/json.h"
#include "world.h"

#include "venue.h"

#define VENUE    "0190c1e2-7a3b-7c4d-8e5f-0123456789ab"
#define VENUE2   "0190c1e2-7a3b-7c4d-8e5f-0123456789ac"
#define ORG      "0190c1e2-0000-7000-8000-0000000000aa"
#define EV1      "0190c1e2-0000-7000-8000-0000000000e1"
#define EV2      "0190c1e2-0000-7000-8000-0000000000e2"
#define VSTREAM  TIX_VENUE_STREAM_PREFIX VENUE
#define A_USER   "user:0190c1e2-0000-7000-8000-000000000001"
#define A_SYSTEM "system:process-manager"

/* The small chart below, its canonical bytes hashed by Python's hashlib.blake2b(digest_size=32). */
#define SMALL_CHART                                                                                \
    "{\"sections\": [{\"id\": \"A\", \"name\": \"Stalls\", \"rows\": [{\"id\": \"r1\", "           \
    "\"label\": \"1\", \"seats\": [{\"id\": \"A-1-1\", \"label\": \"1\", \"x\": 0, \"y\": 0}, "    \
    "{\"id\": \"A-1-2\", \"label\": \"2\", \"x\": 1, \"y\": 0, \"accessible\": true}]}]}], "       \
    "\"ga_areas\": [{\"id\": \"pit\", \"name\": \"Pit\", \"capacity\": 3}], \"capacity\": 5}"
#define SMALL_CHART_SUM "9d3d095182e2a8c94172c449de8ce5f90d0d589d91a9a605a511e1a3570fe86b"

/* ---- the world: tests/unit/support/world.c, keyed on VENUE by default -------------------- */

static void setup(void)
{
    tix_world_reset(1);
    tix_world_require_streams(1);
}

TestSuite(venue, .init = setup, .fini = tix_world_teardown);

static void accept(const char *type, const char *actor, json_t *payload, struct tix_decision *d)
{
    tix_world_accept(VENUE, type, actor, payload, d);
}

static void accept_quietly(const char *type, json_t *payload)
{
    tix_world_accept_quietly(VENUE, type, A_USER, payload);
}

static void accept_no_events(const char *type, json_t *payload)
{
    tix_world_accept_no_events(VENUE, type, A_USER, payload);
}

static void expect_rejected_as(const char *type, const char *actor, json_t *payload,
                               const char *code, const char *field)
{
    tix_world_expect_rejected(VENUE, type, actor, payload, code, field);
}

static void expect_rejected(const char *type, json_t *payload, const char *code, const char *field)
{
    tix_world_expect_rejected(VENUE, type, A_USER, payload, code, field);
}

static void expect_invalid(const char *type, json_t *payload, const char *field)
{
    tix_world_expect_invalid(VENUE, type, A_SYSTEM, payload, field);
}

/* Asserts d emitted exactly one event, the i-th, a type on the venue stream with data (stolen). */
static void expect_event(const struct tix_decision *d, int i, const char *type, json_t *data)
{
    cr_assert_eq(d->n_events, 1, "%d events", d->n_events);
    tix_world_expect_event(d, i, VSTREAM, type, data);
}

static const struct tix_venue_state *vstate(void)
{
    return tix_world_stream(VSTREAM)->state;
}

/* ---- payloads ----------------------------------------------------------------------------- */

/* Sets the dotted path key ("address.country") to value (stolen; NULL removes) in p. */
static json_t *with(json_t *p, const char *path, json_t *value)
{
    char head[64];
    const char *dot = strchr(path, '.');
    if (dot != NULL) {
        snprintf(head, sizeof(head), "%.*s", (int)(dot - path), path);
        with(json_object_get(p, head), dot + 1, value);
    } else if (value == NULL) {
        json_object_del(p, path);
    } else {
        json_object_set_new(p, path, value);
    }
    return p;
}

static json_t *address(void)
{
    return tix_json_of("{\"line1\": \"1 Main St\", \"city\": \"Lyon\", \"postal_code\": \"69001\", "
                       "\"country\": \"FR\"}");
}

static json_t *create_payload(void)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:i}", "venue_id", VENUE, "organization_id", ORG,
                     "name", "Le Transbordeur", "address", address(), "timezone", "Europe/Paris",
                     "capacity", 1800);
}

static json_t *full_create_payload(void)
{
    json_t *p = create_payload();
    with(p, "address",
         tix_json_of("{\"line1\": \"3 Bd Stalingrad\", \"line2\": \"Bat. B\", \"city\": "
                     "\"Villeurbanne\", \"postal_code\": \"69100\", \"region\": \"ARA\", "
                     "\"country\": \"FR\"}"));
    with(p, "location", tix_json_of("{\"lat\": 45.78, \"lon\": 4.86}"));
    with(p, "accessibility",
         tix_json_of("{\"wheelchair_spaces\": 12, \"step_free\": true, "
                     "\"hearing_loop\": false, \"notes\": \"Lift at gate 2\"}"));
    return p;
}

static json_t *id_payload(void)
{
    return json_pack("{s:s}", "venue_id", VENUE);
}

static json_t *update_payload(const char *fields)
{
    return with(tix_json_of(fields), "venue_id", json_string(VENUE));
}

static json_t *bind_payload(const char *event, int version)
{
    return json_pack("{s:s, s:s, s:i}", "venue_id", VENUE, "event_id", event, "chart_version",
                     version);
}

static json_t *unbind_payload(const char *event)
{
    return json_pack("{s:s, s:s}", "venue_id", VENUE, "event_id", event);
}

static json_t *publish_payload(json_t *chart)
{
    return json_pack("{s:s, s:o}", "venue_id", VENUE, "chart", chart);
}

static json_t *ga_chart(int capacity)
{
    return json_pack("{s:[{s:s, s:s, s:i}], s:i}", "ga_areas", "id", "floor", "name", "Floor",
                     "capacity", capacity, "capacity", capacity);
}

static void given_venue(void)
{
    accept_quietly("venue.create", create_payload());
}

static char *repeat(char c, int times)
{
    char *s = malloc((size_t)times + 1);
    memset(s, c, (size_t)times);
    s[times] = '\0';
    return s;
}

static json_t *str_of(char c, int times)
{
    char *s = repeat(c, times);
    json_t *v = json_string(s);
    free(s);
    return v;
}

/* ---- registry ----------------------------------------------------------------------------- */

Test(venue, registry_hosts_every_command_and_the_stream)
{
    const char *types[] = {"venue.create",     "venue.update",       "venue.delete",
                           "venue.bind_event", "venue.unbind_event", "venue.publish_chart"};
    int n = 0;
    while (tix_venue_handlers[n].type != NULL)
        n++;
    cr_assert_eq(n, 6);
    for (int i = 0; i < 6; i++) {
        const struct tix_command_handler *h = tix_registry_handler(types[i]);
        cr_assert_not_null(h, "%s", types[i]);
        cr_assert_str_eq(h->type, types[i]);
    }
    cr_assert_eq(tix_registry_stream_kind(VSTREAM), &tix_venue_stream_kind);
    cr_assert_str_eq(tix_venue_stream_kind.prefix, "venue-");
    cr_assert_not(tix_venue_stream_kind.is_shared);
}

/* ---- create ------------------------------------------------------------------------------- */

Test(venue, create_emits_the_payload_and_builds_the_state)
{
    struct tix_decision d;
    accept("venue.create", A_USER, full_create_payload(), &d);
    expect_event(&d, 0, "venue.created", full_create_payload());
    tix_decision_deinit(&d);
    const struct tix_venue_state *s = vstate();
    cr_assert(s->exists);
    cr_assert_not(s->is_deleted);
    cr_assert_str_eq(s->id, VENUE);
    cr_assert_str_eq(s->organization_id, ORG);
    cr_assert_str_eq(s->name, "Le Transbordeur");
    cr_assert_str_eq(s->timezone, "Europe/Paris");
    cr_assert_eq(s->capacity, 1800);
    cr_assert_str_eq(tix_json_str(s->address, "line2"), "Bat. B");
    cr_assert_float_eq(json_number_value(json_object_get(s->location, "lat")), 45.78, 1e-9);
    cr_assert_eq(tix_json_int(s->accessibility, "wheelchair_spaces", -1), 12);
    cr_assert_eq(s->n_charts, 0);
    cr_assert_eq(s->n_bindings, 0);
}

Test(venue, create_minimal_and_boundaries)
{
    json_t *p = create_payload();
    with(p, "timezone", json_string("UTC"));
    with(p, "capacity", json_integer(TIX_VENUE_CAPACITY_MAX));
    with(p, "location", tix_json_of("{\"lat\": -90, \"lon\": 180}"));
    with(p, "name", str_of('n', 200));
    struct tix_decision d;
    accept("venue.create", A_SYSTEM, json_deep_copy(p), &d);
    expect_event(&d, 0, "venue.created", p);
    tix_decision_deinit(&d);
    cr_assert_null(vstate()->accessibility);
    cr_assert_eq(vstate()->capacity, TIX_VENUE_CAPACITY_MAX);
}

Test(venue, create_twice_is_already_exists)
{
    given_venue();
    expect_rejected("venue.create", create_payload(), "already_exists", "venue_id");
}

Test(venue, actors_other_than_users_and_systems_are_forbidden)
{
    const char *actors[] = {"guest:x", "user:not-a-uuid", "system:", "", "anonymous"};
    for (int i = 0; i < 5; i++)
        expect_rejected_as("venue.create", actors[i], create_payload(), "forbidden", NULL);
    expect_rejected_as("venue.create", NULL, create_payload(), "forbidden", NULL);
    given_venue();
    expect_rejected_as("venue.delete", "guest:x", id_payload(), "forbidden", NULL);
    expect_rejected_as("venue.publish_chart", "user:x", publish_payload(ga_chart(5)), "forbidden",
                       NULL);
}

Test(venue, create_payload_errors_name_the_field)
{
    struct {
        const char *path;
        const char *value; /* NULL: remove */
        const char *field;
    } cases[] = {
        {"name", NULL, "name"},
        {"name", "\"\"", "name"},
        {"name", "\"   \"", "name"},
        {"name", "\"a\\u0001b\"", "name"},
        {"name", "7", "name"},
        {"organization_id", "\"ORG\"", "organization_id"},
        {"venue_id", "\"" VENUE2 "\"", "venue_id"},
        {"extra", "1", "extra"},
        {"address", NULL, "address"},
        {"address", "\"1 Main St\"", "address"},
        {"address.country", "\"fr\"", "address.country"},
        {"address.country", "\"FRA\"", "address.country"},
        {"address.country", NULL, "address.country"},
        {"address.line1", NULL, "address.line1"},
        {"address.city", "\"\"", "address.city"},
        {"address.postal_code", "\"123456789012345678901\"", "address.postal_code"},
        {"address.street", "\"x\"", "address.street"},
        {"address.line2", "null", "address.line2"},
        {"timezone", "\"Paris\"", "timezone"},
        {"timezone", "\"utc\"", "timezone"},
        {"timezone", "\"Europe/Par is\"", "timezone"},
        {"timezone", "\"\"", "timezone"},
        {"location", "{\"lat\": 90.5, \"lon\": 0}", "location.lat"},
        {"location", "{\"lat\": 0, \"lon\": -180.01}", "location.lon"},
        {"location", "{\"lat\": \"1\", \"lon\": 0}", "location.lat"},
        {"location", "{\"lat\": 1}", "location.lon"},
        {"location", "{\"lat\": 1, \"lon\": 2, \"alt\": 3}", "location.alt"},
        {"capacity", "0", "capacity"},
        {"capacity", "1000001", "capacity"},
        {"capacity", "\"10\"", "capacity"},
        {"capacity", "10.0", "capacity"},
        {"accessibility",
         "{\"wheelchair_spaces\": -1, \"step_free\": true, \"hearing_loop\": true}",
         "accessibility.wheelchair_spaces"},
        {"accessibility", "{\"wheelchair_spaces\": 1, \"step_free\": 1, \"hearing_loop\": true}",
         "accessibility.step_free"},
        {"accessibility", "{\"wheelchair_spaces\": 1, \"step_free\": true}",
         "accessibility.hearing_loop"},
        {"accessibility",
         "{\"wheelchair_spaces\": 1, \"step_free\": true, \"hearing_loop\": true, \"lift\": 1}",
         "accessibility.lift"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *p = create_payload();
        with(p, cases[i].path, cases[i].value != NULL ? tix_json_of(cases[i].value) : NULL);
        expect_invalid("venue.create", p, cases[i].field);
    }
    const char *zones[] = {"America/", "/Paris", "Europe//Paris", "Etc/GMT+1\n"};
    for (int i = 0; i < 4; i++)
        expect_invalid("venue.create", with(create_payload(), "timezone", json_string(zones[i])),
                       "timezone");
    json_t *p = with(create_payload(), "timezone", str_of('a', 60));
    expect_invalid("venue.create", p, "timezone");
    char long_zone[80];
    char *tail = repeat('z', 58);
    snprintf(long_zone, sizeof(long_zone), "Europe/%s", tail);
    free(tail);
    cr_assert_eq(strlen(long_zone), 65);
    expect_invalid("venue.create", with(create_payload(), "timezone", json_string(long_zone)),
                   "timezone");
    long_zone[64] = '\0';
    accept_quietly("venue.create", with(create_payload(), "timezone", json_string(long_zone)));
    cr_assert_str_eq(vstate()->timezone, long_zone);
    p = with(create_payload(), "name", str_of('n', 201));
    expect_invalid("venue.create", p, "name");
    p = with(
        create_payload(), "accessibility",
        tix_json_of("{\"wheelchair_spaces\": 1, \"step_free\": true, \"hearing_loop\": true}"));
    with(p, "accessibility.notes", str_of('n', 1001));
    expect_invalid("venue.create", p, "accessibility.notes");
    expect_invalid("venue.create", tix_json_of("[]"), "");
    cr_assert_eq(tix_world_n_log(), 1, "only the 64-character zone was accepted");
}

/* ---- update ------------------------------------------------------------------------------- */

Test(venue, update_emits_only_the_changed_fields)
{
    given_venue();
    struct tix_decision d;
    accept("venue.update", A_USER,
           update_payload("{\"name\": \"Le Transbordeur\", \"capacity\": 2000, \"timezone\": "
                          "\"Europe/Paris\", \"location\": {\"lat\": 1, \"lon\": 2}}"),
           &d);
    expect_event(&d, 0, "venue.updated",
                 tix_json_of("{\"venue_id\": \"" VENUE
                             "\", \"capacity\": 2000, \"location\": {\"lat\": 1, "
                             "\"lon\": 2}}"));
    tix_decision_deinit(&d);
    cr_assert_eq(vstate()->capacity, 2000);
    cr_assert_str_eq(vstate()->name, "Le Transbordeur");
    accept_no_events("venue.update", update_payload("{\"capacity\": 2000, \"name\": \"Le "
                                                    "Transbordeur\", \"location\": {\"lat\": 1, "
                                                    "\"lon\": 2}}"));
    accept_no_events("venue.update", update_payload("{}"));
}

Test(venue, update_replaces_address_and_accessibility_as_a_whole)
{
    accept_quietly("venue.create", full_create_payload());
    struct tix_decision d;
    accept("venue.update", A_USER,
           update_payload("{\"address\": {\"line1\": \"2 Rue\", \"city\": \"Lyon\", "
                          "\"postal_code\": \"69002\", \"country\": \"FR\"}, \"accessibility\": "
                          "{\"wheelchair_spaces\": 0, \"step_free\": false, \"hearing_loop\": "
                          "true}, \"name\": \"Transbo\", \"timezone\": \"Europe/Berlin\"}"),
           &d);
    expect_event(&d, 0, "venue.updated",
                 tix_json_of("{\"venue_id\": \"" VENUE
                             "\", \"address\": {\"line1\": \"2 Rue\", \"city\": "
                             "\"Lyon\", \"postal_code\": \"69002\", \"country\": \"FR\"}, "
                             "\"accessibility\": {\"wheelchair_spaces\": 0, \"step_free\": false, "
                             "\"hearing_loop\": true}, \"name\": \"Transbo\", \"timezone\": "
                             "\"Europe/Berlin\"}"));
    tix_decision_deinit(&d);
    const struct tix_venue_state *s = vstate();
    cr_assert_null(json_object_get(s->address, "line2"), "the old line2 is gone");
    cr_assert_null(json_object_get(s->address, "region"));
    cr_assert_null(json_object_get(s->accessibility, "notes"));
    cr_assert_str_eq(s->timezone, "Europe/Berlin");
    cr_assert_str_eq(s->name, "Transbo");
}

Test(venue, update_clears_location_and_accessibility_with_null)
{
    accept_quietly("venue.create", full_create_payload());
    struct tix_decision d;
    accept("venue.update", A_USER, update_payload("{\"location\": null, \"accessibility\": null}"),
           &d);
    expect_event(
        &d, 0, "venue.updated",
        tix_json_of("{\"venue_id\": \"" VENUE "\", \"location\": null, \"accessibility\": null}"));
    tix_decision_deinit(&d);
    cr_assert_null(vstate()->location);
    cr_assert_null(vstate()->accessibility);
    accept_no_events("venue.update", update_payload("{\"location\": null}"));
}

Test(venue, update_payload_errors_name_the_field)
{
    given_venue();
    expect_invalid("venue.update", update_payload("{\"organization_id\": \"" ORG "\"}"),
                   "organization_id");
    expect_invalid("venue.update", update_payload("{\"timezone\": \"Mars\"}"), "timezone");
    expect_invalid("venue.update", update_payload("{\"address\": null}"), "address");
    expect_invalid("venue.update", update_payload("{\"name\": null}"), "name");
    expect_invalid("venue.update",
                   update_payload("{\"address\": {\"line1\": \"x\", \"city\": \"y\", "
                                  "\"postal_code\": \"1\", \"country\": \"F1\"}}"),
                   "address.country");
    expect_invalid("venue.update", update_payload("{\"location\": {\"lat\": -91, \"lon\": 0}}"),
                   "location.lat");
    expect_invalid("venue.update", tix_json_of("{}"), "venue_id");
}

Test(venue, update_capacity_may_not_drop_below_a_bound_chart)
{
    given_venue();
    accept_quietly("venue.publish_chart", publish_payload(ga_chart(1500)));
    accept_quietly("venue.update", update_payload("{\"capacity\": 1000}"));
    accept_quietly("venue.update", update_payload("{\"capacity\": 1800}"));
    accept_quietly("venue.bind_event", bind_payload(EV1, 1));
    expect_rejected("venue.update", update_payload("{\"capacity\": 1499}"), "over_capacity",
                    "capacity");
    accept_quietly("venue.update", update_payload("{\"capacity\": 1500}"));
    cr_assert_eq(vstate()->capacity, 1500);
}

/* ---- not found and deleted ---------------------------------------------------------------- */

static void every_command_except_create(const char *code)
{
    expect_rejected("venue.update", update_payload("{\"capacity\": 10}"), code, "venue_id");
    expect_rejected("venue.delete", id_payload(), code, "venue_id");
    expect_rejected("venue.bind_event", bind_payload(EV1, 0), code, "venue_id");
    expect_rejected("venue.unbind_event", unbind_payload(EV1), code, "venue_id");
    expect_rejected("venue.publish_chart", publish_payload(ga_chart(5)), code, "venue_id");
}

Test(venue, every_command_on_a_missing_venue_is_not_found)
{
    every_command_except_create("not_found");
    cr_assert_eq(tix_world_n_log(), 0);
}

Test(venue, delete_then_every_command_is_deleted)
{
    given_venue();
    struct tix_decision d;
    accept("venue.delete", A_USER, id_payload(), &d);
    expect_event(&d, 0, "venue.deleted", id_payload());
    tix_decision_deinit(&d);
    cr_assert(vstate()->is_deleted);
    every_command_except_create("deleted");
    expect_rejected("venue.create", create_payload(), "deleted", "venue_id");
}

Test(venue, delete_is_refused_while_an_event_is_bound)
{
    given_venue();
    accept_quietly("venue.bind_event", bind_payload(EV1, 0));
    accept_quietly("venue.bind_event", bind_payload(EV2, 0));
    expect_rejected("venue.delete", id_payload(), "in_use", "venue_id");
    accept_quietly("venue.unbind_event", unbind_payload(EV1));
    expect_rejected("venue.delete", id_payload(), "in_use", "venue_id");
    accept_quietly("venue.unbind_event", unbind_payload(EV2));
    accept_quietly("venue.delete", id_payload());
    cr_assert(vstate()->is_deleted);
}

/* ---- bind and unbind ---------------------------------------------------------------------- */

Test(venue, bind_and_unbind_events)
{
    given_venue();
    struct tix_decision d;
    accept("venue.bind_event", A_SYSTEM, bind_payload(EV1, 0), &d);
    expect_event(
        &d, 0, "venue.event_bound",
        json_pack("{s:s, s:s, s:i}", "venue_id", VENUE, "event_id", EV1, "chart_version", 0));
    tix_decision_deinit(&d);
    accept_no_events("venue.bind_event", bind_payload(EV1, 0));
    accept_quietly("venue.publish_chart", publish_payload(ga_chart(10)));
    expect_rejected("venue.bind_event", bind_payload(EV1, 1), "already_bound", "event_id");
    accept_quietly("venue.bind_event", bind_payload(EV2, 1));
    cr_assert_eq(vstate()->n_bindings, 2);
    cr_assert_str_eq(vstate()->bindings[1].event_id, EV2);
    cr_assert_eq(vstate()->bindings[1].chart_version, 1);

    accept("venue.unbind_event", A_SYSTEM, unbind_payload(EV2), &d);
    expect_event(
        &d, 0, "venue.event_unbound",
        json_pack("{s:s, s:s, s:i}", "venue_id", VENUE, "event_id", EV2, "chart_version", 1));
    tix_decision_deinit(&d);
    accept_no_events("venue.unbind_event", unbind_payload(EV2));
    cr_assert_eq(vstate()->n_bindings, 1);
    cr_assert_str_eq(vstate()->bindings[0].event_id, EV1);
    accept_quietly("venue.bind_event", bind_payload(EV2, 1));
}

Test(venue, bind_needs_an_existing_chart_version)
{
    given_venue();
    expect_rejected("venue.bind_event", bind_payload(EV1, 1), "chart_not_found", "chart_version");
    accept_quietly("venue.publish_chart", publish_payload(ga_chart(10)));
    accept_quietly("venue.bind_event", bind_payload(EV1, 1));
    expect_rejected("venue.bind_event", bind_payload(EV2, 2), "chart_not_found", "chart_version");
    expect_rejected("venue.bind_event", bind_payload(EV2, 2147483647), "chart_not_found",
                    "chart_version");
}

Test(venue, bind_payload_errors_name_the_field)
{
    given_venue();
    expect_invalid("venue.bind_event", bind_payload(EV1, -1), "chart_version");
    expect_invalid("venue.bind_event",
                   with(bind_payload(EV1, 0), "chart_version", tix_json_of("\"1\"")),
                   "chart_version");
    expect_invalid("venue.bind_event", with(bind_payload(EV1, 0), "chart_version", NULL),
                   "chart_version");
    expect_invalid("venue.bind_event", bind_payload("EV1", 0), "event_id");
    expect_invalid("venue.unbind_event",
                   with(unbind_payload(EV1), "chart_version", tix_json_of("1")), "chart_version");
    expect_invalid("venue.unbind_event", with(unbind_payload(EV1), "event_id", NULL), "event_id");
    expect_invalid("venue.delete", with(id_payload(), "force", tix_json_of("true")), "force");
}

/* ---- charts ------------------------------------------------------------------------------- */

Test(venue, publish_emits_the_chart_its_summary_and_checksum)
{
    given_venue();
    struct tix_decision d;
    accept("venue.publish_chart", A_USER, publish_payload(tix_json_of(SMALL_CHART)), &d);
    expect_event(&d, 0, "venue.chart_published",
                 json_pack("{s:s, s:i, s:o, s:i, s:i, s:i, s:i, s:s}", "venue_id", VENUE, "version",
                           1, "chart", tix_json_of(SMALL_CHART), "capacity", 5, "seats", 2,
                           "ga_capacity", 3, "sections", 1, "checksum", SMALL_CHART_SUM));
    tix_decision_deinit(&d);
    const struct tix_venue_state *s = vstate();
    cr_assert_eq(s->n_charts, 1);
    cr_assert_eq(s->charts[0].version, 1);
    cr_assert_eq(s->charts[0].capacity, 5);
    cr_assert_eq(s->charts[0].seats, 2);
    cr_assert_eq(s->charts[0].ga_capacity, 3);
    cr_assert_str_eq(s->charts[0].checksum, SMALL_CHART_SUM);
}

Test(venue, versions_increase_and_old_ones_keep_their_summary)
{
    given_venue();
    accept_quietly("venue.publish_chart", publish_payload(tix_json_of(SMALL_CHART)));
    accept_quietly("venue.bind_event", bind_payload(EV1, 1));
    struct tix_decision d;
    accept("venue.publish_chart", A_USER, publish_payload(ga_chart(100)), &d);
    cr_assert_eq(tix_json_int(d.events[0].data, "version", -1), 2);
    cr_assert_eq(tix_json_int(d.events[0].data, "sections", -1), 0);
    tix_decision_deinit(&d);
    accept("venue.publish_chart", A_USER, publish_payload(tix_json_of(SMALL_CHART)), &d);
    cr_assert_eq(tix_json_int(d.events[0].data, "version", -1), 3);
    tix_decision_deinit(&d);
    const struct tix_venue_state *s = vstate();
    cr_assert_eq(s->n_charts, 3);
    cr_assert_eq(s->charts[0].capacity, 5);
    cr_assert_str_eq(s->charts[0].checksum, SMALL_CHART_SUM);
    cr_assert_eq(s->charts[1].version, 2);
    cr_assert_eq(s->charts[1].capacity, 100);
    cr_assert_eq(s->charts[1].seats, 0);
    cr_assert_eq(s->charts[1].ga_capacity, 100);
    cr_assert_str_neq(s->charts[1].checksum, SMALL_CHART_SUM);
    cr_assert_str_eq(s->charts[2].checksum, SMALL_CHART_SUM, "same document, same checksum");
    cr_assert_eq(s->bindings[0].chart_version, 1, "a bound event keeps its version");
    accept_quietly("venue.bind_event", bind_payload(EV2, 3));
    accept_no_events("venue.bind_event", bind_payload(EV1, 1));
}

Test(venue, capacity_must_match_and_fit_the_venue)
{
    given_venue();
    json_t *chart = tix_json_of(SMALL_CHART);
    with(chart, "capacity", json_integer(6));
    expect_rejected("venue.publish_chart", publish_payload(chart), "capacity_mismatch",
                    "chart.capacity");
    expect_rejected("venue.publish_chart", publish_payload(ga_chart(1801)), "over_capacity",
                    "chart.capacity");
    accept_quietly("venue.publish_chart", publish_payload(ga_chart(1800)));
    cr_assert_eq(vstate()->n_charts, 1);
}

/* A chart text with one section "S" whose seats are given by seats_text. */
static json_t *chart_with_seats(const char *seats_text, int capacity)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"sections\": [{\"id\": \"S\", \"name\": \"Main\", \"rows\": [{\"id\": \"R\", "
             "\"label\": \"A\", \"seats\": %s}]}], \"capacity\": %d}",
             seats_text, capacity);
    return tix_json_of(text);
}

Test(venue, chart_and_area_errors_name_the_exact_path)
{
    given_venue();
    struct {
        const char *chart;
        const char *field;
    } cases[] = {
        {"{\"sections\": [{\"id\": \"S1\", \"name\": \"One\", \"rows\": [{\"id\": \"R\", "
         "\"label\": \"A\", \"seats\": [{\"id\": \"s1\", \"label\": \"1\", \"x\": 0, \"y\": "
         "0}]}]}, "
         "{\"id\": \"S2\", \"name\": \"Two\", \"rows\": [{\"id\": \"R\", \"label\": \"A\", "
         "\"seats\": [{\"id\": \"s2\", \"label\": \"1\", \"x\": 0, \"y\": 0}, {\"id\": \"s1\", "
         "\"label\": \"2\", \"x\": 1, \"y\": 0}]}]}], \"capacity\": 3}",
         "chart.sections[1].rows[0].seats[1].id"},
        {"{\"sections\": [{\"id\": \"S\", \"name\": \"One\", \"rows\": [{\"id\": \"R\", "
         "\"label\": \"A\", \"seats\": []}, {\"id\": \"Q\", \"label\": \"B\", \"seats\": []}, "
         "{\"id\": \"R\", \"label\": \"C\", \"seats\": []}]}], \"ga_areas\": [{\"id\": \"g\", "
         "\"name\": \"G\", \"capacity\": 1}], \"capacity\": 1}",
         "chart.sections[0].rows[2].id"},
        {"{\"sections\": [{\"id\": \"S\", \"name\": \"One\", \"rows\": []}], \"ga_areas\": "
         "[{\"id\": \"S\", \"name\": \"G\", \"capacity\": 1}], \"capacity\": 1}",
         "chart.ga_areas[0].id"},
        {"{\"sections\": [{\"id\": \"S\", \"name\": \"A\", \"rows\": []}, {\"id\": \"S\", "
         "\"name\": \"B\", \"rows\": []}], \"capacity\": 0}",
         "chart.sections[1].id"},
        {"{\"sections\": [], \"ga_areas\": [], \"capacity\": 0}", "chart"},
        {"{\"capacity\": 0}", "chart"},
        {"{\"sections\": [{\"id\": \"S\", \"name\": \"A\", \"rows\": []}], \"capacity\": 0}",
         "chart"},
        {"{\"sections\": {}, \"capacity\": 1}", "chart.sections"},
        {"{\"ga_areas\": [{\"id\": \"g\", \"name\": \"G\", \"capacity\": 1}]}", "chart.capacity"},
        {"{\"ga_areas\": [{\"id\": \"g\", \"name\": \"G\", \"capacity\": 1}], \"capacity\": "
         "\"1\"}",
         "chart.capacity"},
        {"{\"ga_areas\": [{\"id\": \"g\", \"name\": \"G\", \"capacity\": 0}], \"capacity\": 0}",
         "chart.ga_areas[0].capacity"},
        {"{\"ga_areas\": [{\"id\": \"g h\", \"name\": \"G\", \"capacity\": 1}], \"capacity\": 1}",
         "chart.ga_areas[0].id"},
        {"{\"ga_areas\": [{\"id\": \"g\", \"capacity\": 1}], \"capacity\": 1}",
         "chart.ga_areas[0].name"},
        {"{\"ga_areas\": [1], \"capacity\": 1}", "chart.ga_areas[0]"},
        {"{\"ga_areas\": [], \"capacity\": 1, \"version\": 2}", "chart.version"},
        {"{\"sections\": [{\"id\": \"S\", \"name\": \"A\"}], \"capacity\": 1}",
         "chart.sections[0].rows"},
        {"{\"sections\": [{\"id\": \"S\", \"name\": \"A\", \"rows\": [], \"tier\": 1}], "
         "\"capacity\": 1}",
         "chart.sections[0].tier"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_invalid("venue.publish_chart", publish_payload(tix_json_of(cases[i].chart)),
                       cases[i].field);
    expect_invalid("venue.publish_chart", with(id_payload(), "chart", tix_json_of("[]")), "chart");
    expect_invalid("venue.publish_chart", id_payload(), "chart");
    cr_assert_eq(vstate()->n_charts, 0);
}

Test(venue, seat_errors_name_the_exact_path)
{
    given_venue();
    struct {
        const char *seats;
        const char *field;
    } seats[] = {
        {"[{\"id\": \"a\", \"x\": 0, \"y\": 0}]", "chart.sections[0].rows[0].seats[0].label"},
        {"[{\"id\": \"a\", \"label\": \"1\", \"x\": 0, \"y\": 0}, {\"id\": \"b\", \"label\": "
         "\"2\", \"x\": \"1\", \"y\": 0}]",
         "chart.sections[0].rows[0].seats[1].x"},
        {"[{\"id\": \"a\", \"label\": \"1\", \"x\": 0, \"y\": null}]",
         "chart.sections[0].rows[0].seats[0].y"},
        {"[{\"id\": \"a\", \"label\": \"1\", \"x\": 0, \"y\": 0, \"price\": 10}]",
         "chart.sections[0].rows[0].seats[0].price"},
        {"[{\"id\": \"a\", \"label\": \"1\", \"x\": 0, \"y\": 0, \"accessible\": 1}]",
         "chart.sections[0].rows[0].seats[0].accessible"},
        {"[{\"id\": \"a\", \"label\": \"1\", \"x\": 0, \"y\": 0, \"category\": \"\"}]",
         "chart.sections[0].rows[0].seats[0].category"},
        {"[{\"id\": \"\", \"label\": \"1\", \"x\": 0, \"y\": 0}]",
         "chart.sections[0].rows[0].seats[0].id"},
        {"[{\"id\": \"a\", \"label\": \"123456789012345678901234567890123\", \"x\": 0, \"y\": "
         "0}]",
         "chart.sections[0].rows[0].seats[0].label"},
        {"[{\"id\": \"a\", \"label\": \"1\", \"x\": 0, \"y\": 0}, {\"id\": \"a\", \"label\": "
         "\"1\", \"x\": 0, \"y\": 0}]",
         "chart.sections[0].rows[0].seats[1].id"},
        {"[\"a\"]", "chart.sections[0].rows[0].seats[0]"},
        {"{}", "chart.sections[0].rows[0].seats"},
    };
    for (size_t i = 0; i < sizeof(seats) / sizeof(seats[0]); i++)
        expect_invalid("venue.publish_chart", publish_payload(chart_with_seats(seats[i].seats, 1)),
                       seats[i].field);
    accept_quietly("venue.publish_chart",
                   publish_payload(chart_with_seats(
                       "[{\"id\": \"a\", \"label\": \"1\", \"x\": -1e300, \"y\": 0}]", 1)));
    cr_assert_eq(vstate()->n_charts, 1, "the same row with a good seat is accepted");
}

Test(venue, row_ids_may_repeat_across_sections_and_ids_allow_dots)
{
    given_venue();
    const char *chart =
        "{\"sections\": [{\"id\": \"S.1\", \"name\": \"One\", \"category\": \"Gold\", \"rows\": "
        "[{\"id\": \"R\", \"label\": \"A\", \"seats\": [{\"id\": \"S.1-R-1\", \"label\": \"1\", "
        "\"x\": 0.5, \"y\": -2.25, \"accessible\": false, \"category\": \"Gold\"}]}]}, {\"id\": "
        "\"S_2\", \"name\": \"Two\", \"rows\": [{\"id\": \"R\", \"label\": \"A\", \"seats\": "
        "[{\"id\": \"S_2-R-1\", \"label\": \"1\", \"x\": 0, \"y\": 0}]}]}], \"capacity\": 2}";
    accept_quietly("venue.publish_chart", publish_payload(tix_json_of(chart)));
    cr_assert_eq(vstate()->charts[0].seats, 2);
}

/* A chart of n_sections sections, each of rows rows of seats_per_row seats. */
static json_t *big_chart(int n_sections, int rows, int seats_per_row)
{
    json_t *sections = json_array();
    char id[64];
    for (int s = 0; s < n_sections; s++) {
        json_t *row_list = json_array();
        for (int r = 0; r < rows; r++) {
            json_t *seat_list = json_array();
            for (int k = 0; k < seats_per_row; k++) {
                snprintf(id, sizeof(id), "s%d-r%d-%d", s, r, k);
                json_array_append_new(seat_list, json_pack("{s:s, s:s, s:i, s:f}", "id", id,
                                                           "label", "1", "x", k, "y", r * 1.5));
            }
            snprintf(id, sizeof(id), "r%d", r);
            json_array_append_new(
                row_list, json_pack("{s:s, s:s, s:o}", "id", id, "label", id, "seats", seat_list));
        }
        snprintf(id, sizeof(id), "sec%d", s);
        json_array_append_new(sections,
                              json_pack("{s:s, s:s, s:o}", "id", id, "name", id, "rows", row_list));
    }
    return json_pack("{s:o, s:i}", "sections", sections, "capacity",
                     n_sections * rows * seats_per_row);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

Test(venue, a_chart_of_5000_seats_is_quick_and_its_checksum_stable)
{
    accept_quietly("venue.create", with(create_payload(), "capacity", json_integer(5000)));
    json_t *chart = big_chart(10, 20, 25);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    accept_quietly("venue.publish_chart", publish_payload(json_deep_copy(chart)));
    accept_quietly("venue.publish_chart", publish_payload(json_deep_copy(chart)));
    double elapsed = seconds_since(&t0);
    cr_assert_lt(elapsed, 1.0, "two publishes of 5000 seats took %.3f s", elapsed);
    const struct tix_venue_state *s = vstate();
    cr_assert_eq(s->n_charts, 2);
    cr_assert_eq(s->charts[0].seats, 5000);
    cr_assert_eq(s->charts[1].capacity, 5000);
    cr_assert_str_eq(s->charts[0].checksum, s->charts[1].checksum);

    char *bytes = tix_json_dump(chart);
    unsigned char hash[32];
    char hex[65];
    crypto_generichash(hash, sizeof(hash), (const unsigned char *)bytes, strlen(bytes), NULL, 0);
    sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
    free(bytes);
    cr_assert_str_eq(s->charts[0].checksum, hex);

    /* a single duplicate at the very end is still found */
    json_t *last_row = json_array_get(
        json_object_get(json_array_get(json_object_get(chart, "sections"), 9), "rows"), 19);
    json_object_set_new(json_array_get(json_object_get(last_row, "seats"), 24), "id",
                        json_string("s0-r0-0"));
    expect_invalid("venue.publish_chart", publish_payload(chart),
                   "chart.sections[9].rows[19].seats[24].id");
}

Test(venue, a_chart_holds_at_most_1000_sections)
{
    given_venue();
    json_t *chart = big_chart(1001, 0, 0);
    expect_invalid("venue.publish_chart", publish_payload(chart), "chart.sections");
}

/* ---- evolve and replay -------------------------------------------------------------------- */

static enum tix_rc evolve_text(void *state, const char *type, const char *data)
{
    json_t *v = tix_json_of(data);
    enum tix_rc rc = tix_venue_stream_kind.evolve(state, type, 1, v);
    json_decref(v);
    return rc;
}

Test(venue, evolve_ignores_unknown_types_and_refuses_malformed_events)
{
    void *s = tix_venue_stream_kind.create();
    cr_assert_eq(evolve_text(s, "venue.renamed", "{\"x\": 1}"), TIX_OK);
    cr_assert_eq(evolve_text(s, "venue.deleted", "{\"venue_id\": \"" VENUE "\"}"), TIX_EINVAL,
                 "nothing to delete yet");
    cr_assert_eq(evolve_text(s, "venue.created", "{\"venue_id\": \"" VENUE "\"}"), TIX_EINVAL);
    json_t *created = create_payload();
    cr_assert_eq(tix_venue_stream_kind.evolve(s, "venue.created", 2, created), TIX_EINVAL);
    cr_assert_eq(tix_venue_stream_kind.evolve(s, "venue.created", 1, created), TIX_OK);
    cr_assert_eq(tix_venue_stream_kind.evolve(s, "venue.created", 1, created), TIX_EINVAL);
    json_decref(created);
    const char *bad[][2] = {
        {"venue.updated", "{\"venue_id\": \"" VENUE2 "\", \"capacity\": 5}"},
        {"venue.updated", "{\"venue_id\": \"" VENUE "\", \"capacity\": \"5\"}"},
        {"venue.updated", "{\"venue_id\": \"" VENUE "\", \"address\": {}}"},
        {"venue.event_bound", "{\"venue_id\": \"" VENUE "\", \"event_id\": \"" EV1 "\"}"},
        {"venue.event_bound",
         "{\"venue_id\": \"" VENUE "\", \"event_id\": \"" EV1 "\", \"chart_version\": 1}"},
        {"venue.event_unbound", "{\"venue_id\": \"" VENUE "\", \"event_id\": \"" EV1 "\"}"},
        {"venue.chart_published", "{\"venue_id\": \"" VENUE "\", \"version\": 2, \"chart\": {}, "
                                  "\"capacity\": 1, \"seats\": 0, \"ga_capacity\": 1, "
                                  "\"checksum\": \"" SMALL_CHART_SUM "\"}"},
        {"venue.chart_published", "{\"venue_id\": \"" VENUE "\", \"version\": 1, \"chart\": {}, "
                                  "\"capacity\": 1, \"seats\": 0, \"ga_capacity\": 1, "
                                  "\"checksum\": \"xyz\"}"},
        {"venue.chart_published", "{\"venue_id\": \"" VENUE "\", \"version\": 1, "
                                  "\"capacity\": 1, \"seats\": 0, \"ga_capacity\": 1, "
                                  "\"checksum\": \"" SMALL_CHART_SUM "\"}"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(evolve_text(s, bad[i][0], bad[i][1]), TIX_EINVAL, "%s %s", bad[i][0],
                     bad[i][1]);
    const struct tix_venue_state *st = s;
    cr_assert_eq(st->capacity, 1800, "refused events leave the state alone");
    cr_assert_eq(st->n_bindings, 0);
    cr_assert_eq(st->n_charts, 0);
    cr_assert_eq(tix_venue_stream_kind.evolve(s, "venue.updated", 1, NULL), TIX_EINVAL);
    tix_venue_stream_kind.destroy(s);
    tix_venue_stream_kind.destroy(NULL);
}

static void expect_same_state(const struct tix_venue_state *a, const struct tix_venue_state *b)
{
    cr_assert_eq(a->exists, b->exists);
    cr_assert_eq(a->is_deleted, b->is_deleted);
    cr_assert_str_eq(a->id, b->id);
    cr_assert_str_eq(a->organization_id, b->organization_id);
    cr_assert_str_eq(a->name, b->name);
    cr_assert_str_eq(a->timezone, b->timezone);
    cr_assert_eq(a->capacity, b->capacity);
    cr_assert(json_equal(a->address, b->address));
    cr_assert((a->location == NULL && b->location == NULL) || json_equal(a->location, b->location));
    cr_assert((a->accessibility == NULL && b->accessibility == NULL) ||
              json_equal(a->accessibility, b->accessibility));
    cr_assert_eq(a->n_bindings, b->n_bindings);
    for (int i = 0; i < a->n_bindings; i++) {
        cr_assert_str_eq(a->bindings[i].event_id, b->bindings[i].event_id);
        cr_assert_eq(a->bindings[i].chart_version, b->bindings[i].chart_version);
    }
    cr_assert_eq(a->n_charts, b->n_charts);
    for (int i = 0; i < a->n_charts; i++) {
        cr_assert_eq(a->charts[i].version, b->charts[i].version);
        cr_assert_eq(a->charts[i].capacity, b->charts[i].capacity);
        cr_assert_eq(a->charts[i].seats, b->charts[i].seats);
        cr_assert_eq(a->charts[i].ga_capacity, b->charts[i].ga_capacity);
        cr_assert_str_eq(a->charts[i].checksum, b->charts[i].checksum);
    }
}

Test(venue, replaying_the_log_gives_the_live_state)
{
    accept_quietly("venue.create", full_create_payload());
    accept_quietly("venue.update", update_payload("{\"name\": \"X\", \"location\": null}"));
    accept_quietly("venue.publish_chart", publish_payload(tix_json_of(SMALL_CHART)));
    accept_quietly("venue.publish_chart", publish_payload(ga_chart(900)));
    accept_quietly("venue.bind_event", bind_payload(EV1, 1));
    accept_quietly("venue.bind_event", bind_payload(EV2, 2));
    accept_quietly("venue.unbind_event", unbind_payload(EV1));
    accept_quietly("venue.update", update_payload("{\"capacity\": 950}"));
    cr_assert_eq(tix_world_n_log(), 8);
    void *replayed = tix_venue_stream_kind.create();
    for (int i = 0; i < tix_world_n_log(); i++)
        cr_assert_eq(tix_venue_stream_kind.evolve(replayed, tix_world_log(i)->type,
                                                  tix_world_log(i)->schema_version,
                                                  tix_world_log(i)->data),
                     TIX_OK, "replay of %s", tix_world_log(i)->type);
    expect_same_state(vstate(), replayed);
    cr_assert_eq(vstate()->n_bindings, 1);
    cr_assert_null(vstate()->location);
    tix_venue_stream_kind.destroy(replayed);
}
