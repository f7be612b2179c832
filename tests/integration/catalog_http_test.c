/* catalog_http_test.c - venues, seating charts and events over HTTP against the running stack
 *
 * Real gateway, processor and projector processes; real Postgres, RabbitMQ and Redis. A
 * promoter creates a venue, publishes a chart, creates and publishes an event bound to it; the
 * public sees published public events only, members see drafts; roles are checked; members of
 * another organization get 404 on every organization-scoped catalog route; bad bodies name
 * their field; illegal lifecycle transitions are 409; the organization's list pages through
 * every event exactly once.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "http.h"
#include "shop.h"
#include "tix/ids.h"
#include "tix/json.h"

static struct tix_test_stack stack;

static void start(void)
{
    tix_test_stack_start(&stack, NULL);
}

static void stop(void)
{
    tix_test_stack_stop(&stack);
}

TestSuite(catalog_http, .init = start, .fini = stop, .timeout = 240);

static const char venue_body[] =
    "{\"name\":\"Salle Pleyel\",\"address\":{\"line1\":\"252 Rue du Faubourg Saint-Honore\","
    "\"city\":\"Paris\",\"postal_code\":\"75008\",\"country\":\"FR\"},"
    "\"timezone\":\"Europe/Paris\",\"capacity\":500}";

/* Four seats in one row plus a GA area of 20. */
static const char chart_body[] =
    "{\"chart\":{\"capacity\":24,\"sections\":[{\"id\":\"stalls\",\"name\":\"Stalls\","
    "\"rows\":[{\"id\":\"a\",\"label\":\"A\",\"seats\":["
    "{\"id\":\"a1\",\"label\":\"1\",\"x\":0,\"y\":0},{\"id\":\"a2\",\"label\":\"2\",\"x\":1,\"y\":"
    "0},"
    "{\"id\":\"a3\",\"label\":\"3\",\"x\":2,\"y\":0},{\"id\":\"a4\",\"label\":\"4\",\"x\":3,\"y\":"
    "0}"
    "]}]}],\"ga_areas\":[{\"id\":\"floor\",\"name\":\"Floor\",\"capacity\":20}]}}";

/* Creates a venue as token and publishes chart version 1; returns its id in venue. */
static void make_venue(const struct tix_shop *s, const char *token, char venue[TIX_UUID_LEN + 1])
{
    char path[200];
    snprintf(path, sizeof(path), "%s/venues", s->base);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, token, venue_body, tix_shop_wait5, &r), 201, "%s", r.body);
    snprintf(venue, TIX_UUID_LEN + 1, "%s", tix_http_str(&r, "id"));
    char expected[96];
    snprintf(expected, sizeof(expected), "/api/v1/venues/%s", venue);
    cr_assert_str_eq(r.location, expected);
    tix_http_resp_deinit(&r);
    tix_shop_wait_visible(NULL, expected);
    snprintf(path, sizeof(path), "%s/venues/%s/seating-chart", s->base, venue);
    cr_assert_eq(tix_http("POST", path, token, chart_body, tix_shop_wait5, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/venues/%s/seating-chart", venue);
    tix_shop_wait_visible(NULL, path);
}

/* The body of a new public event with two sessions starting on day (1..28) of June 2030. */
static void event_body(char *out, size_t size, const char *venue, int day)
{
    char where[128] = "";
    if (venue != NULL)
        snprintf(where, sizeof(where), "\"venue_id\":\"%s\",\"chart_version\":1,", venue);
    snprintf(out, size,
             "{\"name\":\"Show %d\",\"category\":\"concert\",%s\"timezone\":\"Europe/Paris\","
             "\"visibility\":\"public\",\"capacity\":24,\"sessions\":["
             "{\"starts_at\":\"2030-06-%02dT19:00:00Z\",\"ends_at\":\"2030-06-%02dT22:00:00Z\"},"
             "{\"name\":\"Late\",\"starts_at\":\"2030-06-%02dT22:30:00Z\","
             "\"ends_at\":\"2030-06-%02dT23:30:00Z\"}]}",
             day, where, day, day, day, day);
}

/* Creates an event as token and waits until members see it; returns its id in event. */
static void make_event(const struct tix_shop *s, const char *token, const char *venue, int day,
                       char event[TIX_UUID_LEN + 1])
{
    char path[200], body[1024];
    snprintf(path, sizeof(path), "%s/events", s->base);
    event_body(body, sizeof(body), venue, day);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, token, body, tix_shop_wait5, &r), 201, "%s", r.body);
    snprintf(event, TIX_UUID_LEN + 1, "%s", tix_http_str(&r, "id"));
    cr_assert_eq(json_array_size(json_object_get(r.json, "session_ids")), 2, "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "%s/events/%s", s->base, event);
    tix_shop_wait_visible(token, path);
}

/* POSTs suffix of the event (publish, unpublish, cancel) as token; returns the status. */
static long lifecycle(const struct tix_shop *s, const char *token, const char *event,
                      const char *suffix, const char *body, struct tix_http_resp *r)
{
    char path[220];
    snprintf(path, sizeof(path), "%s/events/%s/%s", s->base, event, suffix);
    return tix_http("POST", path, token, body, tix_shop_wait5, r);
}

Test(catalog_http, a_promoter_publishes_an_event_the_public_sees)
{
    struct tix_shop s;
    tix_shop_open(&s);
    char venue[TIX_UUID_LEN + 1], event[TIX_UUID_LEN + 1], path[220];
    make_venue(&s, s.promoter, venue);
    struct tix_http_resp r;
    snprintf(path, sizeof(path), "/api/v1/venues/%s", venue);
    cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, &r), 200);
    cr_assert_str_eq(tix_http_str(&r, "name"), "Salle Pleyel");
    cr_assert_str_eq(tix_http_str(&r, "organization_id"), s.org);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/venues/%s/seating-chart", venue);
    cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, &r), 200);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "version")), 1, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "capacity")), 24, "%s", r.body);
    cr_assert_eq(strlen(tix_http_str(&r, "checksum")), 64, "%s", r.body);
    cr_assert(json_is_object(json_object_get(r.json, "chart")), "%s", r.body);
    tix_http_resp_deinit(&r);

    make_event(&s, s.promoter, venue, 5, event);
    char public_path[96];
    snprintf(public_path, sizeof(public_path), "/api/v1/events/%s", event);
    tix_http("GET", public_path, NULL, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 404, NULL); /* a draft */
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "%s/events/%s", s.base, event);
    cr_assert_eq(tix_http("GET", path, s.scanner, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert_str_eq(tix_http_str(&r, "status"), "draft");
    tix_http_resp_deinit(&r);

    cr_assert_eq(tix_http("PATCH", path, s.promoter, "{\"name\":\"Gala\"}", tix_shop_wait5, &r),
                 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "%s/venues/%s", s.base, venue);
    cr_assert_eq(tix_http("PATCH", path, s.promoter, "{\"capacity\":600}", tix_shop_wait5, &r), 200,
                 "%s", r.body);
    tix_http_resp_deinit(&r);
    cr_assert_eq(lifecycle(&s, s.promoter, event, "publish", NULL, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_shop_wait_visible(NULL, public_path);
    tix_http("GET", public_path, NULL, NULL, NULL, &r);
    cr_assert_str_eq(tix_http_str(&r, "status"), "published", "%s", r.body);
    cr_assert_str_eq(tix_http_str(&r, "venue_id"), venue);
    cr_assert_str_eq(tix_http_str(&r, "name"), "Gala");
    json_t *sessions = json_object_get(r.json, "sessions");
    cr_assert_eq(json_array_size(sessions), 2, "%s", r.body);
    cr_assert_str_eq(tix_json_str(json_array_get(sessions, 0), "starts_at"),
                     "2030-06-05T19:00:00+00:00", "%s", r.body);
    cr_assert_str_eq(tix_json_str(json_array_get(sessions, 1), "name"), "Late");
    tix_http_resp_deinit(&r);
    tix_shop_close(&s);
}

Test(catalog_http, roles_are_checked)
{
    struct tix_shop s;
    tix_shop_open(&s);
    char path[200], body[1024];
    struct tix_http_resp r;
    snprintf(path, sizeof(path), "%s/venues", s.base);
    tix_http("POST", path, s.scanner, venue_body, tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 403, NULL);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "%s/events", s.base);
    event_body(body, sizeof(body), NULL, 7);
    tix_http("POST", path, s.scanner, body, tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 403, NULL);
    tix_http_resp_deinit(&r);
    char venue[TIX_UUID_LEN + 1], event[TIX_UUID_LEN + 1];
    make_venue(&s, s.promoter, venue);
    snprintf(path, sizeof(path), "%s/venues/%s", s.base, venue);
    tix_http("DELETE", path, s.promoter, NULL, tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 403, NULL); /* deleting a venue needs admin */
    tix_http_resp_deinit(&r);
    make_event(&s, s.promoter, NULL, 7, event);
    cr_assert_eq(lifecycle(&s, s.promoter, event, "publish", NULL, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    lifecycle(&s, s.promoter, event, "cancel", "{\"reason\":\"storm\"}", &r);
    tix_shop_expect_problem(&r, 403, NULL); /* cancelling needs admin */
    tix_http_resp_deinit(&r);
    tix_shop_close(&s);
}

/* Every organization-scoped catalog route, called by a member of another organization. */
Test(catalog_http, a_member_of_another_organization_gets_404)
{
    struct tix_shop a, b;
    tix_shop_open(&a);
    tix_shop_open(&b);
    char venue[TIX_UUID_LEN + 1], event[TIX_UUID_LEN + 1], body[1024];
    make_venue(&b, b.promoter, venue);
    make_event(&b, b.promoter, venue, 9, event);
    event_body(body, sizeof(body), NULL, 9);
    char v[80], e[80], e_publish[96], e_unpublish[96], e_cancel[96], v_chart[96];
    snprintf(v, sizeof(v), "/venues/%s", venue);
    snprintf(v_chart, sizeof(v_chart), "/venues/%s/seating-chart", venue);
    snprintf(e, sizeof(e), "/events/%s", event);
    snprintf(e_publish, sizeof(e_publish), "/events/%s/publish", event);
    snprintf(e_unpublish, sizeof(e_unpublish), "/events/%s/unpublish", event);
    snprintf(e_cancel, sizeof(e_cancel), "/events/%s/cancel", event);
    const struct {
        const char *method, *suffix, *body;
    } calls[] = {
        {"POST", "/venues", venue_body},
        {"PATCH", v, "{\"name\":\"Hijacked\"}"},
        {"DELETE", v, NULL},
        {"POST", v_chart, chart_body},
        {"GET", "/events", NULL},
        {"POST", "/events", body},
        {"GET", e, NULL},
        {"PATCH", e, "{\"name\":\"Hijacked\"}"},
        {"DELETE", e, NULL},
        {"POST", e_publish, NULL},
        {"POST", e_unpublish, NULL},
        {"POST", e_cancel, "{\"reason\":\"hijack\"}"},
    };
    /* a's owner on b's organization, and on its own organization with b's ids */
    const char *bases[] = {b.base, a.base};
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
            if (k == 1 && (strcmp(calls[i].suffix, "/venues") == 0 ||
                           strcmp(calls[i].suffix, "/events") == 0))
                continue; /* a's own collections are a's */
            char p[320];
            snprintf(p, sizeof(p), "%s%s", bases[k], calls[i].suffix);
            struct tix_http_resp r;
            tix_http(calls[i].method, p, a.owner, calls[i].body, tix_shop_wait5, &r);
            cr_assert_eq(r.status, 404, "%s %s: %ld %s", calls[i].method, p, r.status, r.body);
            tix_http_resp_deinit(&r);
        }
    }
    /* b's venue can't be used by a's events */
    char path[200];
    snprintf(path, sizeof(path), "%s/events", a.base);
    event_body(body, sizeof(body), venue, 10);
    struct tix_http_resp r;
    tix_http("POST", path, a.owner, body, tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "venue_id"), "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_shop_close(&a);
    tix_shop_close(&b);
}

Test(catalog_http, bad_bodies_name_their_field)
{
    struct tix_shop s;
    tix_shop_open(&s);
    char path[200];
    snprintf(path, sizeof(path), "%s/events", s.base);
    struct tix_http_resp r;
    tix_http("POST", path, s.promoter,
             "{\"name\":\"Backwards\",\"category\":\"concert\",\"timezone\":\"UTC\","
             "\"visibility\":\"public\",\"capacity\":10,\"sessions\":[{\"starts_at\":"
             "\"2030-06-05T22:00:00Z\",\"ends_at\":\"2030-06-05T19:00:00Z\"}]}",
             tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "sessions[0].ends_at"), "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_http("POST", path, s.promoter, "{\"name\":7,\"colour\":\"red\"}", tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "name") && tix_http_has_error_field(&r, "colour") &&
                  tix_http_has_error_field(&r, "sessions"),
              "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "%s/venues", s.base);
    tix_http("POST", path, s.promoter,
             "{\"name\":\"No country\",\"address\":{\"line1\":\"1 Main St\",\"city\":\"Oslo\","
             "\"postal_code\":\"0150\"},\"timezone\":\"Europe/Oslo\",\"capacity\":10}",
             tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "address.country"), "%s", r.body);
    tix_http_resp_deinit(&r);
    char venue[TIX_UUID_LEN + 1];
    make_venue(&s, s.promoter, venue);
    snprintf(path, sizeof(path), "%s/venues/%s/seating-chart", s.base, venue);
    tix_http("POST", path, s.promoter,
             "{\"chart\":{\"capacity\":1,\"ga_areas\":[{\"id\":\"bad id!\",\"name\":\"GA\","
             "\"capacity\":1}]}}",
             tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "chart.ga_areas[0].id"), "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_shop_close(&s);
}

Test(catalog_http, illegal_transitions_are_409)
{
    struct tix_shop s;
    tix_shop_open(&s);
    char event[TIX_UUID_LEN + 1];
    make_event(&s, s.promoter, NULL, 12, event);
    struct tix_http_resp r;
    lifecycle(&s, s.promoter, event, "unpublish", NULL, &r);
    tix_shop_expect_problem(&r, 409, NULL); /* a draft */
    tix_http_resp_deinit(&r);
    cr_assert_eq(lifecycle(&s, s.promoter, event, "publish", NULL, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    cr_assert_eq(lifecycle(&s, s.owner, event, "cancel", "{\"reason\":\"storm\"}", &r), 200, "%s",
                 r.body);
    tix_http_resp_deinit(&r);
    lifecycle(&s, s.promoter, event, "unpublish", NULL, &r);
    tix_shop_expect_problem(&r, 409, NULL);
    const char *type = tix_http_str(&r, "type");
    cr_assert(type != NULL && strstr(type, "/illegal-transition") != NULL, "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_shop_close(&s);
}

Test(catalog_http, the_list_pages_through_every_event_once)
{
    struct tix_shop s;
    tix_shop_open(&s);
    enum { N = 5 };
    char ids[N][TIX_UUID_LEN + 1];
    for (int i = 0; i < N; i++)
        make_event(&s, s.promoter, NULL, 14 + i, ids[i]);
    struct tix_http_resp r;
    cr_assert_eq(lifecycle(&s, s.promoter, ids[0], "publish", NULL, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    char path[1024], cursor[300] = "";
    snprintf(path, sizeof(path), "%s/events?status=published", s.base);
    cr_assert(tix_shop_wait_count(s.scanner, path, 1, 10000), "the published event never showed");
    bool seen[N] = {false};
    int pages = 0, total = 0;
    do {
        snprintf(path, sizeof(path), "%s/events?limit=2%s%s", s.base, cursor[0] ? "&cursor=" : "",
                 cursor);
        cr_assert_eq(tix_http("GET", path, s.scanner, NULL, NULL, &r), 200, "%s", r.body);
        json_t *items = json_object_get(r.json, "items");
        cr_assert(json_array_size(items) <= 2, "%s", r.body);
        for (size_t i = 0; i < json_array_size(items); i++) {
            const char *id = tix_json_str(json_array_get(items, i), "id");
            int k = 0;
            while (k < N && strcmp(ids[k], id) != 0)
                k++;
            cr_assert(k < N && !seen[k], "unknown or repeated %s", id);
            cr_assert(k == N - 1 - total, "newest first: %s at %d", id, total);
            seen[k] = true;
            total++;
        }
        const char *next = tix_http_str(&r, "next_cursor");
        snprintf(cursor, sizeof(cursor), "%s", next != NULL ? next : "");
        tix_http_resp_deinit(&r);
        pages++;
    } while (cursor[0] != '\0' && pages < 10);
    cr_assert_eq(total, N);
    cr_assert_eq(pages, 3);
    snprintf(path, sizeof(path), "%s/events?limit=0", s.base);
    tix_http("GET", path, s.scanner, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    tix_http_resp_deinit(&r);
    /* base64url of "x|<not a uuid>" */
    snprintf(path, sizeof(path), "%s/events?cursor=eHxub3QtYS11dWlk", s.base);
    tix_http("GET", path, s.scanner, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "cursor"), "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "%s/events?status=nope", s.base);
    tix_http("GET", path, s.scanner, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    tix_http_resp_deinit(&r);
    tix_shop_close(&s);
}
