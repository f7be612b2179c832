/* catalog_test.c - venues, seating charts and events from command to read model
 *
 * Real RabbitMQ and Postgres, real tixmo-processor and tixmo-projector processes. Builds a
 * venue with a published chart and bound events, walks events through their sessions and
 * lifecycle, checks the rm.venues, rm.seating_charts, rm.venue_events, rm.events and
 * rm.event_sessions rows field by field, then replays both projections from zero and expects
 * the same rows. The test connection runs with TimeZone UTC so timestamps read back as
 * "2030-06-02 19:00:00+00".
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "tix/bus.h"
#include "tix/ids.h"
#include "tix/json.h"

#define PARTITIONS 16
#define ACTOR      "system:test"

static pid_t processor_pid, projector_pid;
static struct tix_bus *bus;
static struct tix_db *db;

static void start(void)
{
    cr_assert(sodium_init() >= 0);
    struct tix_err err;
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), "catalog-test", &bus, &err), TIX_OK,
                 "%s", err.msg);
    cr_assert_eq(tix_bus_declare_topology(bus, PARTITIONS, 5, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_enable_replies(bus, &err), TIX_OK, "%s", err.msg);
    db = tix_test_db("TIXMO_DB_URL");
    PGresult *res = NULL;
    cr_assert_eq(tix_db_exec(db, "SET TIME ZONE 'UTC'", 0, NULL, &res, &err), TIX_OK, "%s",
                 err.msg);
    PQclear(res);
    processor_pid = tix_test_spawn("tixmo-processor", NULL);
    projector_pid = tix_test_spawn("tixmo-projector", NULL);
    /* the read models exist once the projector prepared them (a fresh database has none) */
    cr_assert(tix_test_wait_projected(db, 30000), "the projector did not prepare its read models");
}

static void stop(void)
{
    const pid_t pids[] = {processor_pid, projector_pid};
    tix_test_stop_all(pids, 2);
    tix_bus_close(bus);
    tix_db_close(db);
}

TestSuite(catalog, .init = start, .fini = stop, .timeout = 240);

/* Sends a command and expects it to succeed; takes ownership of payload. */
static void send_ok(const char *type, const char *key, json_t *payload)
{
    cr_assert_not_null(payload, "%s: bad json_pack format", type);
    tix_test_command_ok(bus, type, key, payload, ACTOR);
}

/* The first column of the first row of sql as text ("<none>" without a row, "<null>"). */
static void row_text(char *out, size_t size, const char *sql, int n, const char *const *params)
{
    PGresult *res = NULL;
    struct tix_err err;
    cr_assert_eq(tix_db_exec(db, sql, n, params, &res, &err), TIX_OK, "%s: %s", sql, err.msg);
    const char *v = "<none>";
    if (PQntuples(res) > 0)
        v = PQgetisnull(res, 0, 0) ? "<null>" : PQgetvalue(res, 0, 0);
    snprintf(out, size, "%s", v);
    PQclear(res);
}

static void expect_row(const char *want, const char *sql, const char *id)
{
    char got[4096];
    const char *params[] = {id};
    row_text(got, sizeof(got), sql, 1, params);
    cr_assert_str_eq(got, want, "%s", sql);
}

/* ---- the history -------------------------------------------------------------------------- */

struct catalog {
    char org[TIX_UUID_LEN + 1];
    char venue[TIX_UUID_LEN + 1];
    char show[TIX_UUID_LEN + 1];  /* sessions changed, published, on sale, cancelled */
    char other[TIX_UUID_LEN + 1]; /* on sale, sold out, on sale again; unbound */
    char draft[TIX_UUID_LEN + 1]; /* deleted */
    char s1[TIX_UUID_LEN + 1], s2[TIX_UUID_LEN + 1], s3[TIX_UUID_LEN + 1];
    json_t *chart; /* owned */
};

/* 5 rows of 10 seats in one section plus a standing area of 100. */
static json_t *make_chart(void)
{
    json_t *rows = json_array();
    for (int r = 1; r <= 5; r++) {
        json_t *seats = json_array();
        for (int s = 1; s <= 10; s++) {
            char id[32], label[16];
            snprintf(id, sizeof(id), "A-%d-%d", r, s);
            snprintf(label, sizeof(label), "%d", s);
            json_array_append_new(seats, json_pack("{ss ss si si}", "id", id, "label", label, "x",
                                                   s * 10, "y", r * 10));
        }
        char id[16], label[16];
        snprintf(id, sizeof(id), "r%d", r);
        snprintf(label, sizeof(label), "%c", 'A' + r - 1);
        json_array_append_new(rows,
                              json_pack("{ss ss so}", "id", id, "label", label, "seats", seats));
    }
    return json_pack("{s[{ss ss so}] s[{ss ss si}] si}", "sections", "id", "stalls", "name",
                     "Stalls", "rows", rows, "ga_areas", "id", "floor", "name", "Floor", "capacity",
                     100, "capacity", 150);
}

static void make_venue(struct catalog *c)
{
    send_ok("venue.create", c->venue,
            json_pack("{ss ss ss s{ss ss ss ss} ss si s{sf sf} s{si sb sb}}", "venue_id", c->venue,
                      "organization_id", c->org, "name", "Salle Pleyel", "address", "line1",
                      "252 Rue du Faubourg Saint-Honore", "city", "Paris", "postal_code", "75008",
                      "country", "FR", "timezone", "Europe/Paris", "capacity", 500, "location",
                      "lat", 48.8772, "lon", 2.3004, "accessibility", "wheelchair_spaces", 4,
                      "step_free", 1, "hearing_loop", 0));
    send_ok("venue.update", c->venue,
            json_pack("{ss ss sn}", "venue_id", c->venue, "name", "Salle Pleyel Paris",
                      "accessibility"));
    send_ok("venue.publish_chart", c->venue,
            json_pack("{ss sO}", "venue_id", c->venue, "chart", c->chart));
    send_ok("venue.bind_event", c->venue,
            json_pack("{ss ss si}", "venue_id", c->venue, "event_id", c->show, "chart_version", 1));
    send_ok(
        "venue.bind_event", c->venue,
        json_pack("{ss ss si}", "venue_id", c->venue, "event_id", c->other, "chart_version", 0));
    send_ok("venue.unbind_event", c->venue,
            json_pack("{ss ss}", "venue_id", c->venue, "event_id", c->other));
}

static json_t *session(const char *id, const char *starts, const char *ends)
{
    return json_pack("{ss ss ss}", "session_id", id, "starts_at", starts, "ends_at", ends);
}

static void create_event(const struct catalog *c, const char *id, const char *name)
{
    char s[TIX_UUID_LEN + 1];
    tix_uuid_v7(s);
    send_ok("event.create", id,
            json_pack("{ss ss ss si ss ss ss s[ss] s[{ss ss}] s{ss} ss ss si ss ss s[o]}",
                      "event_id", id, "organization_id", c->org, "venue_id", c->venue,
                      "chart_version", 1, "name", name, "description", "An evening of songs",
                      "category", "concert", "tags", "rock", "live", "images", "url",
                      "https://img.example/poster.jpg", "alt", "Poster", "metadata", "promoter",
                      "Acme", "timezone", "Europe/Paris", "visibility", "public", "capacity", 150,
                      "sales_start", "2025-06-01T10:00:00Z", "sales_end", "2030-06-01T18:00:00Z",
                      "sessions", session(s, "2030-06-05T19:00:00Z", "2030-06-05T22:00:00Z")));
}

static void make_show(struct catalog *c)
{
    json_t *s1 = session(c->s1, "2030-06-01T19:00:00Z", "2030-06-01T22:00:00Z");
    json_object_set_new(s1, "capacity", json_integer(100));
    json_object_set_new(s1, "name", json_string("Opening night"));
    send_ok("event.create", c->show,
            json_pack("{ss ss ss si ss ss s[ss] ss ss si ss ss s[oo]}", "event_id", c->show,
                      "organization_id", c->org, "venue_id", c->venue, "chart_version", 1, "name",
                      "Night Show", "category", "concert", "tags", "rock", "live", "timezone",
                      "Europe/Paris", "visibility", "public", "capacity", 150, "sales_start",
                      "2025-06-01T10:00:00Z", "sales_end", "2030-06-01T18:00:00Z", "sessions", s1,
                      session(c->s2, "2030-06-02T19:00:00Z", "2030-06-02T22:00:00Z")));
    send_ok("event.update", c->show,
            json_pack("{ss ss s[ss] si ss}", "event_id", c->show, "name", "Night Show II", "tags",
                      "rock", "indie", "capacity", 140, "description", "Two nights"));
    send_ok("event.add_session", c->show,
            json_pack("{ss so}", "event_id", c->show, "session",
                      session(c->s3, "2030-06-03T19:00:00Z", "2030-06-03T23:30:00Z")));
    send_ok("event.update_session", c->show,
            json_pack("{ss ss ss}", "event_id", c->show, "session_id", c->s2, "name", "Matinee"));
    send_ok("event.remove_session", c->show,
            json_pack("{ss ss}", "event_id", c->show, "session_id", c->s1));
    const char *steps[] = {"event.publish", "event.open_sales"};
    for (int i = 0; i < 2; i++)
        send_ok(steps[i], c->show, json_pack("{ss}", "event_id", c->show));
    send_ok("event.cancel", c->show,
            json_pack("{ss ss}", "event_id", c->show, "reason", "Artist unwell"));
}

static void make_history(struct catalog *c)
{
    memset(c, 0, sizeof(*c));
    char *ids[] = {c->org, c->venue, c->show, c->other, c->draft, c->s1, c->s2, c->s3};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        tix_uuid_v7(ids[i]);
    c->chart = make_chart();
    make_venue(c);
    make_show(c);
    create_event(c, c->other, "Other Show");
    const char *steps[] = {"event.publish", "event.open_sales", "event.mark_sold_out",
                           "event.reopen_sales"};
    for (int i = 0; i < 4; i++)
        send_ok(steps[i], c->other, json_pack("{ss}", "event_id", c->other));
    create_event(c, c->draft, "Draft Show");
    send_ok("event.delete", c->draft, json_pack("{ss}", "event_id", c->draft));
    cr_assert(tix_test_wait_projected(db, 15000), "projector did not catch up");
}

/* ---- checks ------------------------------------------------------------------------------- */

static void check_venue(const struct catalog *c)
{
    expect_row("Salle Pleyel Paris|Paris|FR|Europe/Paris|48.8772|2.3004|500|<none>|f|9",
               "SELECT concat_ws('|', name, city, country, timezone, location_lat, location_lon,"
               " capacity, COALESCE(accessibility::text, '<none>'), is_deleted, version)"
               " FROM rm.venues WHERE id = $1",
               c->venue);
    expect_row("t",
               "SELECT address = '{\"line1\": \"252 Rue du Faubourg Saint-Honore\", \"city\":"
               " \"Paris\", \"postal_code\": \"75008\", \"country\": \"FR\"}'::jsonb AND"
               " created_at <= updated_at FROM rm.venues WHERE id = $1",
               c->venue);
    char *chart = tix_json_dump(c->chart);
    const char *params[] = {c->venue, chart, c->org};
    char got[512];
    row_text(got, sizeof(got),
             "SELECT concat_ws('|', version, chart = $2::jsonb, capacity, seats, ga_capacity,"
             " length(checksum), (SELECT organization_id = $3::uuid FROM rm.venues WHERE id ="
             " $1::uuid)) FROM rm.seating_charts WHERE venue_id = $1::uuid",
             3, params);
    free(chart);
    cr_assert_str_eq(got, "1|t|150|50|100|64|t", "the chart document is stored whole");
    expect_row("1", "SELECT count(*) FROM rm.seating_charts WHERE venue_id = $1", c->venue);
    const char *bind[] = {c->venue, c->show};
    row_text(got, sizeof(got),
             "SELECT concat_ws('|', count(*), bool_or(event_id = $2::uuid), min(chart_version),"
             " max(chart_version)) FROM rm.venue_events WHERE venue_id = $1",
             2, bind);
    /* the show, bound by hand; "other", unbound by hand, then bound again by the process
     * manager when it was created with the venue; the draft, bound by the process manager,
     * then unbound by it when the draft was deleted */
    cr_assert_str_eq(got, "2|t|1|1", "every live event created with the venue is bound");
}

static bool reactions_done(void *venue)
{
    const char *params[] = {venue};
    return tix_test_scalar(db,
                           "SELECT count(*) FROM rm.venue_events WHERE venue_id = $1 AND "
                           "(SELECT version FROM rm.venues WHERE id = $1) = 9",
                           1, params) == 2;
}

static void check_show(const struct catalog *c)
{
    expect_row("Night Show II|Two nights|concert|{rock,indie}|[]|[]|{}|Europe/Paris|public|"
               "cancelled|140|2025-06-01 10:00:00+00|2030-06-01 18:00:00+00|"
               "2030-06-02 19:00:00+00|2030-06-03 23:30:00+00|Artist unwell|f|1|8",
               "SELECT concat_ws('|', name, description, category, tags, images, videos,"
               " metadata, timezone, visibility, status, capacity, sales_start, sales_end,"
               " starts_at, ends_at, cancel_reason, is_deleted, chart_version, version)"
               " FROM rm.events WHERE id = $1",
               c->show);
    const char *p[] = {c->show, c->venue, c->org};
    char got[1024];
    row_text(got, sizeof(got),
             "SELECT venue_id = $2::uuid AND organization_id = $3::uuid AND created_at <"
             " updated_at FROM rm.events WHERE id = $1",
             3, p);
    cr_assert_str_eq(got, "t");
    const char *s[] = {c->show, c->s2, c->s3};
    row_text(got, sizeof(got),
             "SELECT string_agg(concat_ws('|', session_id = $2::uuid, session_id = $3::uuid,"
             " COALESCE(name, '<none>'), starts_at, ends_at, COALESCE(capacity::text, '<none>')),"
             " ',' ORDER BY starts_at) FROM rm.event_sessions WHERE event_id = $1",
             3, s);
    cr_assert_str_eq(got,
                     "t|f|Matinee|2030-06-02 19:00:00+00|2030-06-02 22:00:00+00|<none>,"
                     "f|t|<none>|2030-06-03 19:00:00+00|2030-06-03 23:30:00+00|<none>",
                     "s1 removed, s2 renamed, s3 added");
}

static void check_others(const struct catalog *c)
{
    expect_row("on_sale|{rock,live}|[{\"alt\": \"Poster\", \"url\": "
               "\"https://img.example/poster.jpg\"}]|{\"promoter\": \"Acme\"}|An evening of songs|"
               "2030-06-05 19:00:00+00|2030-06-05 22:00:00+00|f|5",
               "SELECT concat_ws('|', status, tags, images, metadata, description, starts_at,"
               " ends_at, is_deleted, version) FROM rm.events WHERE id = $1",
               c->other);
    expect_row("draft|t|<null>",
               "SELECT concat_ws('|', status, is_deleted,"
               " COALESCE(cancel_reason, '<null>')) FROM rm.events WHERE id = $1",
               c->draft);
    expect_row("1", "SELECT count(*) FROM rm.event_sessions WHERE event_id = $1", c->draft);
}

/* ---- replay ------------------------------------------------------------------------------- */

Test(catalog, venues_charts_and_events_project_and_replay_identically)
{
    struct catalog c;
    make_history(&c);
    cr_assert(tix_test_wait(reactions_done, c.venue, 15000),
              "the process manager never bound the events to the venue (and unbound the draft)");
    cr_assert(tix_test_wait_projected(db, 10000));
    check_venue(&c);
    check_show(&c);
    check_others(&c);
    static const char *const venue_tables[] = {"venues", "seating_charts", "venue_events", NULL};
    static const char *const event_tables[] = {"events", "event_sessions", NULL};
    tix_test_replay_and_compare(db, "venues", venue_tables);
    tix_test_replay_and_compare(db, "events", event_tables);
    check_venue(&c); /* the rm views now point at the replayed versions */
    check_show(&c);
    json_decref(c.chart);
}

Test(catalog, a_venue_used_by_an_event_refuses_deletion)
{
    struct catalog c;
    tix_uuid_v7(c.org);
    tix_uuid_v7(c.venue);
    c.chart = make_chart();
    send_ok("venue.create", c.venue,
            json_pack("{ss ss ss s{ss ss ss ss} ss si}", "venue_id", c.venue, "organization_id",
                      c.org, "name", "Hall", "address", "line1", "1 Main St", "city", "Lyon",
                      "postal_code", "69001", "country", "FR", "timezone", "Europe/Paris",
                      "capacity", 500));
    send_ok("venue.publish_chart", c.venue,
            json_pack("{ss sO}", "venue_id", c.venue, "chart", c.chart));
    char event[TIX_UUID_LEN + 1];
    tix_uuid_v7(event);
    create_event(&c, event, "Bound by the process manager");
    const char *params[] = {c.venue, event};
    for (int i = 0; i < 300 && tix_test_scalar(db,
                                               "SELECT count(*) FROM rm.venue_events WHERE "
                                               "venue_id = $1 AND event_id = $2",
                                               2, params) == 0;
         i++)
        usleep(50000);
    json_t *outcome = NULL, *payload = json_pack("{ss}", "venue_id", c.venue);
    struct tix_err err;
    enum tix_rc rc = tix_client_call(bus, PARTITIONS, NULL, "venue.delete", c.venue, payload, ACTOR,
                                     20000, &outcome, &err);
    json_decref(payload);
    cr_assert_eq(rc, TIX_OK, "%s", err.msg);
    cr_assert_str_eq(tix_json_str(json_object_get(outcome, "reason"), "code"), "in_use");
    json_decref(outcome);
    json_decref(c.chart);
}
