/* catalog_admin_test.c - process managers and curation over HTTP: a deleted draft frees its
 * venue; owners and admins feature events, the featured list shows live public ones by rank
 *
 * Real gateway, processor and projector processes (the projector also runs the process
 * managers); real Postgres, RabbitMQ and Redis.
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

TestSuite(catalog_admin, .init = start, .fini = stop, .timeout = 240);

static void event_at(char *out, size_t size, const struct tix_shop *s, const char *word,
                     const char *venue, int day)
{
    char where[128] = "";
    if (venue != NULL)
        snprintf(where, sizeof(where), "\"venue_id\":\"%s\",\"chart_version\":0,", venue);
    snprintf(out, size,
             "{\"name\":\"%s %s\",\"category\":\"concert\",\"tags\":[\"%s\"],%s"
             "\"timezone\":\"Europe/Paris\",\"visibility\":\"public\",\"capacity\":50,"
             "\"sessions\":[{\"starts_at\":\"2032-05-%02dT19:00:00Z\","
             "\"ends_at\":\"2032-05-%02dT20:00:00Z\"}]}",
             word, s->tag, s->tag, where, day, day);
}

struct binding {
    struct tix_db *db;
    const char *event;
    long long want;
};

static bool has_binding(void *ctx)
{
    struct binding *b = ctx;
    const char *params[] = {b->event};
    return tix_test_scalar(b->db, "SELECT count(*) FROM rm.venue_events WHERE event_id = $1", 1,
                           params) == b->want;
}

Test(catalog_admin, deleting_a_draft_frees_its_venue)
{
    struct tix_shop s;
    tix_shop_open(&s);
    char venue[TIX_UUID_LEN + 1], event[TIX_UUID_LEN + 1], body[1024], path[200];
    char city[40];
    snprintf(city, sizeof(city), "U%s", s.tag);
    tix_shop_venue(&s, city, NULL, venue);
    event_at(body, sizeof(body), &s, "Doomed", venue, 3);
    tix_shop_event(&s, body, event);
    struct binding b = {tix_test_db("TIXMO_DB_URL"), event, 1};
    cr_assert(tix_test_wait(has_binding, &b, 10000), "the venue never recorded the binding");

    snprintf(path, sizeof(path), "%s/venues/%s", s.base, venue);
    struct tix_http_resp r;
    tix_http("DELETE", path, s.owner, NULL, tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 409, NULL); /* in use by the draft */
    tix_http_resp_deinit(&r);

    snprintf(path, sizeof(path), "%s/events/%s", s.base, event);
    cr_assert_eq(tix_http("DELETE", path, s.promoter, NULL, tix_shop_wait5, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    b.want = 0;
    cr_assert(tix_test_wait(has_binding, &b, 10000), "the process manager never unbound it");
    snprintf(path, sizeof(path), "%s/venues/%s", s.base, venue);
    cr_assert_eq(tix_http("DELETE", path, s.owner, NULL, tix_shop_wait5, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_db_close(b.db);
    tix_shop_close(&s);
}

/* POST or DELETE /api/v1/events/<event>/feature as token; returns the status. */
static long feature(const char *method, const char *token, const char *event, const char *body,
                    struct tix_http_resp *r)
{
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/events/%s/feature", event);
    return tix_http(method, path, token, body, tix_shop_wait5, r);
}

static void expect_feature(const char *method, const char *token, const char *event,
                           const char *body, long status)
{
    struct tix_http_resp r;
    long got = feature(method, token, event, body, &r);
    cr_assert_eq(got, status, "%s feature %s: %ld %s", method, event, got, r.body);
    tix_http_resp_deinit(&r);
}

/* The featured list filtered to the shop's tag, as "word word". */
static void featured_words(const struct tix_shop *s, char *out, size_t size)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/events/featured?tag=%s", s->tag);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, &r), 200, "%s", r.body);
    json_t *items = json_object_get(r.json, "items");
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *name = tix_json_str(json_array_get(items, i), "name");
        int n = snprintf(out + used, size - used, "%s%.*s", i ? " " : "", (int)strcspn(name, " "),
                         name);
        used += n > 0 ? (size_t)n : 0;
    }
    tix_http_resp_deinit(&r);
}

struct featured {
    const struct tix_shop *s;
    const char *want;
};

static bool shows(void *ctx)
{
    struct featured *f = ctx;
    char got[200];
    featured_words(f->s, got, sizeof(got));
    return strcmp(got, f->want) == 0;
}

static void expect_featured(const struct tix_shop *s, const char *want)
{
    struct featured f = {s, want};
    char got[200];
    bool is_ok = tix_test_wait(shows, &f, 10000);
    featured_words(s, got, sizeof(got));
    cr_assert(is_ok, "featured: got \"%s\", want \"%s\"", got, want);
}

Test(catalog_admin, admins_feature_events_and_the_list_ranks_them)
{
    struct tix_shop s, other;
    tix_shop_open(&s);
    tix_shop_open(&other);
    char one[TIX_UUID_LEN + 1], two[TIX_UUID_LEN + 1], draft[TIX_UUID_LEN + 1];
    char body[1024];
    event_at(body, sizeof(body), &s, "One", NULL, 4);
    tix_shop_event(&s, body, one);
    event_at(body, sizeof(body), &s, "Two", NULL, 5);
    tix_shop_event(&s, body, two);
    event_at(body, sizeof(body), &s, "Draft", NULL, 6);
    tix_shop_event(&s, body, draft);
    cr_assert_eq(tix_shop_act(&s, s.promoter, one, "publish", NULL), 200);
    cr_assert_eq(tix_shop_act(&s, s.promoter, two, "publish", NULL), 200);
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/events/%s", one);
    tix_shop_wait_visible(NULL, path);
    snprintf(path, sizeof(path), "/api/v1/events/%s", two);
    tix_shop_wait_visible(NULL, path);

    expect_feature("POST", s.promoter, one, NULL, 403);    /* promoters can't */
    expect_feature("POST", other.owner, one, NULL, 403);   /* another org: a public event */
    expect_feature("POST", other.owner, draft, NULL, 404); /* ...and a draft it can't see */
    expect_feature("POST", s.owner, one, "{\"rank\":0}", 422);
    expect_feature("POST", s.owner, "not-an-id", NULL, 404);
    expect_feature("POST", NULL, one, NULL, 401);
    expect_feature("POST", s.owner, one, "{\"rank\":20}", 200);
    expect_feature("POST", s.owner, two, "{\"rank\":10}", 200);
    expect_feature("POST", s.owner, draft, "{\"rank\":1}", 200); /* shows once it is live */
    expect_featured(&s, "Two One");

    expect_feature("POST", s.owner, one, "{\"rank\":5}", 200); /* moves up */
    expect_featured(&s, "One Two");
    snprintf(path, sizeof(path), "/api/v1/events/featured?organization_id=%s&tag=%s", s.org, s.tag);
    cr_assert(tix_shop_wait_count(s.scanner, path, 3, 10000), "members see their featured draft");
    cr_assert(tix_shop_wait_count(other.owner, path, 2, 10000), "outsiders never do");

    expect_feature("DELETE", s.promoter, one, NULL, 403);
    expect_feature("DELETE", s.owner, one, NULL, 200);
    expect_featured(&s, "Two");
    cr_assert_eq(tix_shop_act(&s, s.owner, two, "cancel", "{\"reason\":\"rain\"}"), 200);
    expect_featured(&s, ""); /* cancelled: gone from the list */
    expect_feature("POST", s.owner, two, NULL, 409);
    tix_shop_close(&s);
    tix_shop_close(&other);
}
