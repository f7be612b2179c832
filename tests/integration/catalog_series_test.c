/* catalog_series_test.c - recurring series over HTTP: expanded in the event's time zone across
 * a DST change, sessions edited one by one, bad rules named, roles and outsiders refused
 *
 * Real gateway, processor and projector processes; real Postgres, RabbitMQ and Redis.
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

TestSuite(catalog_series, .init = start, .fini = stop, .timeout = 240);

/* Saturdays and Sundays at 19:30 in Berlin from Saturday 22 March 2031, six dates, 5 April
 * excepted; CEST starts on Sunday 30 March 2031. */
static const char series_body[] =
    "{\"name\":\"Weekend Jazz\",\"category\":\"concert\",\"timezone\":\"Europe/Berlin\","
    "\"visibility\":\"public\",\"capacity\":40,\"recurrence\":{\"freq\":\"weekly\","
    "\"by_day\":[\"SA\",\"SU\"],\"start_date\":\"2031-03-22\",\"start_time\":\"19:30\","
    "\"duration_minutes\":120,\"count\":6,\"exceptions\":[\"2031-04-05\"]}}";

static json_t *sessions_of(const struct tix_shop *s, const char *token, const char *event)
{
    char path[200];
    snprintf(path, sizeof(path), "%s/events/%s", s->base, event);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", path, token, NULL, NULL, &r), 200, "%s", r.body);
    json_t *sessions = json_incref(json_object_get(r.json, "sessions"));
    tix_http_resp_deinit(&r);
    return sessions;
}

static const char *start_at(const json_t *sessions, size_t i)
{
    return tix_json_str(json_array_get(sessions, i), "starts_at");
}

struct moved {
    const struct tix_shop *s;
    const char *event, *want;
};

static bool is_moved(void *ctx)
{
    struct moved *m = ctx;
    json_t *sessions = sessions_of(m->s, m->s->scanner, m->event);
    bool is_done = strcmp(start_at(sessions, 0), m->want) == 0;
    json_decref(sessions);
    return is_done;
}

Test(catalog_series, a_weekly_series_across_the_spring_change)
{
    struct tix_shop s, other;
    tix_shop_open(&s);
    tix_shop_open(&other);
    char path[200], event[TIX_UUID_LEN + 1];
    snprintf(path, sizeof(path), "%s/events", s.base);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, s.promoter, series_body, tix_shop_wait5, &r), 201, "%s",
                 r.body);
    snprintf(event, sizeof(event), "%s", tix_http_str(&r, "id"));
    json_t *ids = json_incref(json_object_get(r.json, "session_ids"));
    cr_assert_eq(json_array_size(ids), 5, "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "%s/events/%s", s.base, event);
    tix_shop_wait_visible(s.scanner, path);

    json_t *sessions = sessions_of(&s, s.scanner, event);
    static const char *const want[] = {"2031-03-22T18:30:00+00:00", "2031-03-23T18:30:00+00:00",
                                       "2031-03-29T18:30:00+00:00", "2031-03-30T17:30:00+00:00",
                                       "2031-04-06T17:30:00+00:00"};
    cr_assert_eq(json_array_size(sessions), 5);
    for (size_t i = 0; i < 5; i++)
        cr_assert_str_eq(start_at(sessions, i), want[i], "#%zu", i);
    json_decref(sessions);

    /* one session of the series moves on its own: the first, to 18:00 local (17:00 UTC) */
    char session_path[320];
    snprintf(session_path, sizeof(session_path), "%s/events/%s/sessions/%s", s.base, event,
             json_string_value(json_array_get(ids, 0)));
    static const char move[] =
        "{\"starts_at\":\"2031-03-22T17:00:00Z\",\"ends_at\":\"2031-03-22T19:00:00Z\"}";
    tix_http("PATCH", session_path, s.scanner, move, tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 403, NULL); /* scanners only read */
    tix_http_resp_deinit(&r);
    char outsider_path[320];
    snprintf(outsider_path, sizeof(outsider_path), "%s/events/%s/sessions/%s", other.base, event,
             json_string_value(json_array_get(ids, 0)));
    tix_http("PATCH", outsider_path, other.owner, move, tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 404, NULL); /* another organization's event */
    tix_http_resp_deinit(&r);
    tix_http("PATCH", session_path, s.promoter, "{\"starts_at\":7}", tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 422, "starts_at");
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("PATCH", session_path, s.promoter, move, tix_shop_wait5, &r), 200, "%s",
                 r.body);
    tix_http_resp_deinit(&r);
    struct moved m = {&s, event, "2031-03-22T17:00:00+00:00"};
    cr_assert(tix_test_wait(is_moved, &m, 10000), "the session never moved");
    sessions = sessions_of(&s, s.scanner, event);
    cr_assert_str_eq(start_at(sessions, 1), want[1]); /* the others stay */
    json_decref(sessions);

    char unknown[320];
    snprintf(unknown, sizeof(unknown), "%s/events/%s/sessions/%s", s.base, event, event);
    tix_http("PATCH", unknown, s.promoter, move, tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 404, NULL); /* no such session */
    tix_http_resp_deinit(&r);
    json_decref(ids);
    tix_shop_close(&s);
    tix_shop_close(&other);
}

static void expect_refused(const struct tix_shop *s, const char *body, const char *field)
{
    char path[200];
    snprintf(path, sizeof(path), "%s/events", s->base);
    struct tix_http_resp r;
    tix_http("POST", path, s->promoter, body, tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 422, field);
    tix_http_resp_deinit(&r);
}

#define HEAD "{\"name\":\"Bad\",\"category\":\"concert\",\"visibility\":\"public\",\"capacity\":40,"

Test(catalog_series, bad_rules_are_named)
{
    struct tix_shop s;
    tix_shop_open(&s);
    static const char rule[] = "\"recurrence\":{\"freq\":\"weekly\",\"by_day\":[\"XX\"],"
                               "\"start_date\":\"2031-03-22\",\"start_time\":\"19:30\","
                               "\"duration_minutes\":60,\"count\":2}}";
    static const char good[] = "\"recurrence\":{\"freq\":\"daily\",\"start_date\":\"2031-03-22\","
                               "\"start_time\":\"19:30\",\"duration_minutes\":60,\"count\":2}";
    char body[1024];
    snprintf(body, sizeof(body), HEAD "\"timezone\":\"Europe/Berlin\",%s", rule);
    expect_refused(&s, body, "recurrence.by_day[0]");
    snprintf(body, sizeof(body), HEAD "\"timezone\":\"Mars/Olympus\",%s}", good);
    expect_refused(&s, body, "timezone");
    snprintf(body, sizeof(body),
             HEAD "\"timezone\":\"UTC\",%s,\"sessions\":[{\"starts_at\":\"2031-03-22T10:00:00Z\","
                  "\"ends_at\":\"2031-03-22T11:00:00Z\"}]}",
             good);
    expect_refused(&s, body, "recurrence");
    expect_refused(&s, HEAD "\"timezone\":\"UTC\"}", "sessions");
    tix_shop_close(&s);
}
