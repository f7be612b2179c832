/* search_test.c - public search and autocomplete over HTTP against the running stack
 *
 * Real gateway, processor and projector processes; real Postgres (with pg_trgm), RabbitMQ and
 * Redis. An organization creates venues in two cities and five events on one random day far
 * ahead (every search filters on that day, so rows of other tests and runs stay out): three
 * public published events, a draft and one that is cancelled while the test watches, some with
 * ticket types. Full-text search ranks and filters, a typo falls back to trigram similarity,
 * facets (price buckets too) count the filtered set, autocomplete suggests, bad parameters are
 * 422 and a replay rebuilds identical tables. Prices: hidden types do not count, a tier that
 * ended by date gives way to the next price, and one that ends while the test watches moves its
 * event to another bucket with no event recorded.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

TestSuite(search, .init = start, .fini = stop, .timeout = 240);

/* A shop (its owner runs the lifecycle), with the day its events happen on. */
struct shop {
    struct tix_shop shop;
    char day[16]; /* YYYY-MM-DD */
    char window[128];
};

static void open_shop(struct shop *s)
{
    tix_shop_open(&s->shop);
    unsigned long seed = strtoul(s->shop.owner_id + 28, NULL, 16); /* random bits of the v7 id */
    snprintf(s->day, sizeof(s->day), "%04lu-%02lu-%02lu", 2100 + seed % 800, 1 + seed / 800 % 12,
             1 + seed / 9600 % 28);
    snprintf(s->window, sizeof(s->window), "from=%sT00:00:00Z&to=%sT23:59:59Z", s->day, s->day);
}

static void make_venue(const struct shop *s, const char *city, char venue[TIX_UUID_LEN + 1])
{
    tix_shop_venue(&s->shop, city, NULL, venue);
}

/* POSTs suffix of the event (publish, cancel) as the owner; returns the status. */
static long lifecycle(const struct shop *s, const char *event, const char *suffix, const char *body)
{
    char path[220];
    snprintf(path, sizeof(path), "%s/events/%s/%s", s->shop.base, event, suffix);
    struct tix_http_resp r;
    long status = tix_http("POST", path, s->shop.owner, body, tix_shop_wait5, &r);
    cr_assert_eq(status, 200, "%s %s: %s", suffix, event, r.body);
    tix_http_resp_deinit(&r);
    return status;
}

/* Creates a public event (general admission at venue) on the shop's day at hour; publishes it
 * when is_published. Returns its id in event. */
static void make_event(const struct shop *s, const char *name, const char *category,
                       const char *venue, int hour, bool is_published, char event[TIX_UUID_LEN + 1])
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"name\":\"%s\",\"category\":\"%s\",\"description\":\"An evening of %s.\","
             "\"tags\":[\"live\"],\"venue_id\":\"%s\",\"chart_version\":0,"
             "\"timezone\":\"Europe/Paris\",\"visibility\":\"public\",\"capacity\":100,"
             "\"sessions\":[{\"starts_at\":\"%sT%02d:00:00Z\",\"ends_at\":\"%sT%02d:30:00Z\"}]}",
             name, category, category, venue, s->day, hour, s->day, hour);
    tix_shop_event(&s->shop, body, event);
    if (is_published)
        lifecycle(s, event, "publish", NULL);
}

/* Adds a ticket type to event as the owner: general admission, EUR, price_minor, and extra
 * (more JSON members, each after a comma, or ""). */
static void add_type(const struct shop *s, const char *event, long price_minor, const char *extra)
{
    char path[200], body[600];
    snprintf(path, sizeof(path), "/api/v1/events/%s/ticket-types", event);
    snprintf(body, sizeof(body),
             "{\"name\":\"Entry\",\"kind\":\"general_admission\",\"price_minor\":%ld,"
             "\"currency\":\"EUR\",\"quantity\":50%s}",
             price_minor, extra);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, s->shop.owner, body, tix_shop_wait5, &r), 201, "%s",
                 r.body);
    tix_http_resp_deinit(&r);
}

/* GETs /api/v1/search/events?<query>&<the shop's window>; asserts 200. */
static void search(const struct shop *s, const char *query, struct tix_http_resp *r)
{
    char path[600];
    snprintf(path, sizeof(path), "/api/v1/search/events?%s%s%s", query, query[0] ? "&" : "",
             s->window);
    cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, r), 200, "%s: %s", path, r->body);
}

static long long total_of(const struct tix_http_resp *r)
{
    return json_integer_value(json_object_get(r->json, "total"));
}

static const char *name_at(const struct tix_http_resp *r, size_t i)
{
    return tix_json_str(json_array_get(json_object_get(r->json, "items"), i), "name");
}

static bool has_name(const struct tix_http_resp *r, const char *name)
{
    json_t *items = json_object_get(r->json, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        if (strcmp(tix_json_str(json_array_get(items, i), "name"), name) == 0)
            return true;
    return false;
}

static long long facet(const struct tix_http_resp *r, const char *kind, const char *name)
{
    json_t *f = json_object_get(json_object_get(r->json, "facets"), kind);
    return json_integer_value(json_object_get(f, name));
}

struct count_ctx {
    const struct shop *shop;
    const char *query;
    long long want;
};

static bool has_total(void *ctx)
{
    struct count_ctx *c = ctx;
    struct tix_http_resp r;
    search(c->shop, c->query, &r);
    bool is_done = total_of(&r) == c->want;
    tix_http_resp_deinit(&r);
    return is_done;
}

static void setup_catalog(struct shop *s)
{
    char paris[TIX_UUID_LEN + 1], lyon[TIX_UUID_LEN + 1], id[TIX_UUID_LEN + 1];
    char doomed[TIX_UUID_LEN + 1];
    make_venue(s, "Paris", paris);
    make_venue(s, "Lyon", lyon);
    make_event(s, "Midnight Jazz Quartet", "jazz", paris, 20, true, id);
    add_type(s, id, 1500, "");
    add_type(s, id, 4000, "");
    make_event(s, "Rock Festival", "festival", lyon, 14, true, id);
    add_type(s, id, 12000, "");
    make_event(s, "Jazz Brunch", "jazz", lyon, 10, true, id);
    make_event(s, "Secret Jazz Night", "jazz", paris, 22, false, id);
    make_event(s, "Jazz Farewell", "jazz", paris, 18, true, doomed);
    struct count_ctx c = {.shop = s, .query = "", .want = 4};
    cr_assert(tix_test_wait(has_total, &c, 10000), "the four published events never showed");

    lifecycle(s, doomed, "cancel", "{\"reason\":\"storm\"}");
    c.query = "q=farewell";
    c.want = 0;
    cr_assert(tix_test_wait(has_total, &c, 1000), "a cancelled event stayed in search for 1 s");
}

static void check_full_text(const struct shop *s)
{
    struct tix_http_resp r;
    search(s, "q=jazz", &r);
    cr_assert_eq(total_of(&r), 2, "%s", r.body);
    cr_assert(has_name(&r, "Midnight Jazz Quartet") && has_name(&r, "Jazz Brunch"), "%s", r.body);
    cr_assert_eq(facet(&r, "category", "jazz"), 2, "%s", r.body);
    cr_assert_eq(facet(&r, "category", "festival"), 0, "%s", r.body);
    cr_assert_eq(facet(&r, "city", "Paris") + facet(&r, "city", "Lyon"), 2, "%s", r.body);
    tix_http_resp_deinit(&r);

    search(s, "q=midnight%20jazz%20quartet", &r);
    cr_assert_geq(total_of(&r), 1, "%s", r.body);
    cr_assert_str_eq(name_at(&r, 0), "Midnight Jazz Quartet", "%s", r.body);
    tix_http_resp_deinit(&r);

    search(s, "q=midnite%20jaz", &r);
    cr_assert_geq(total_of(&r), 1, "%s", r.body);
    cr_assert_str_eq(name_at(&r, 0), "Midnight Jazz Quartet", "%s", r.body);
    tix_http_resp_deinit(&r);

    search(s, "", &r); /* without q: by start time */
    cr_assert_eq(total_of(&r), 3, "%s", r.body);
    cr_assert_str_eq(name_at(&r, 0), "Jazz Brunch", "%s", r.body);
    cr_assert_str_eq(name_at(&r, 2), "Midnight Jazz Quartet", "%s", r.body);
    cr_assert(!has_name(&r, "Secret Jazz Night") && !has_name(&r, "Jazz Farewell"), "%s", r.body);
    tix_http_resp_deinit(&r);

    search(s, "q=secret", &r);
    cr_assert(!has_name(&r, "Secret Jazz Night"), "%s", r.body);
    tix_http_resp_deinit(&r);
}

/* The price buckets (docs/openapi.yaml) and their ranges in minor units. */
static const struct {
    const char *name, *range;
} buckets[] = {
    {"free", "price_min=0&price_max=0"},           {"under_20", "price_min=1&price_max=1999"},
    {"20_to_50", "price_min=2000&price_max=4999"}, {"50_to_100", "price_min=5000&price_max=9999"},
    {"100_and_over", "price_min=10000"},
};

#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

/* Each price bucket's count in a search (query, with total want) equals the total of the same
 * search within that bucket's range, and only buckets with events are named. */
static void check_price_facet(const struct shop *s, const char *query, long long want)
{
    struct tix_http_resp r, in;
    search(s, query, &r);
    cr_assert_eq(total_of(&r), want, "%s", r.body);
    json_t *price = json_object_get(json_object_get(r.json, "facets"), "price");
    cr_assert(json_is_object(price), "%s", r.body);
    for (size_t i = 0; i < N_BUCKETS; i++) {
        char narrowed[300];
        snprintf(narrowed, sizeof(narrowed), "%s%s%s", query, query[0] ? "&" : "",
                 buckets[i].range);
        search(s, narrowed, &in);
        cr_assert_eq(facet(&r, "price", buckets[i].name), total_of(&in), "%s: %s against %s",
                     buckets[i].name, r.body, in.body);
        cr_assert_eq(json_object_get(price, buckets[i].name) != NULL, total_of(&in) > 0, "%s",
                     r.body);
        tix_http_resp_deinit(&in);
    }
    tix_http_resp_deinit(&r);
}

static void check_filters(const struct shop *s)
{
    struct tix_http_resp r;
    search(s, "category=jazz", &r);
    cr_assert_eq(total_of(&r), 2, "%s", r.body);
    cr_assert_eq(facet(&r, "category", "jazz"), total_of(&r), "%s", r.body);
    cr_assert_eq(facet(&r, "city", "Paris") + facet(&r, "city", "Lyon"), total_of(&r), "%s",
                 r.body);
    tix_http_resp_deinit(&r);

    search(s, "city=lyon", &r);
    cr_assert_eq(total_of(&r), 2, "%s", r.body);
    cr_assert_eq(facet(&r, "city", "Lyon"), 2, "%s", r.body);
    cr_assert_eq(facet(&r, "category", "jazz") + facet(&r, "category", "festival"), 2, "%s",
                 r.body);
    tix_http_resp_deinit(&r);

    check_price_facet(s, "", 3);
    check_price_facet(s, "q=jazz", 2);

    search(s, "limit=1&offset=1", &r);
    cr_assert_eq(total_of(&r), 3, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    cr_assert_str_eq(name_at(&r, 0), "Rock Festival", "%s", r.body);
    tix_http_resp_deinit(&r);
}

static bool suggests_jazz(void *ctx)
{
    (void)ctx;
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", "/api/v1/search/autocomplete?q=jaz", NULL, NULL, NULL, &r), 200,
                 "%s", r.body);
    json_t *items = json_object_get(r.json, "items");
    bool is_ok = json_array_size(items) >= 1 && json_array_size(items) <= 10;
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *name = tix_json_str(json_array_get(items, i), "name");
        cr_assert(strstr(name, "Jazz") != NULL, "%s", r.body);
        cr_assert_str_neq(name, "Secret Jazz Night", "%s", r.body);
    }
    tix_http_resp_deinit(&r);
    return is_ok;
}

/* The names autocomplete suggests for q (a new JSON array: decref it). */
static json_t *suggestions(const char *q)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/search/autocomplete?q=%s", q);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, &r), 200, "%s", r.body);
    json_t *names = json_array();
    json_t *items = json_object_get(r.json, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        json_array_append(names, json_object_get(json_array_get(items, i), "name"));
    tix_http_resp_deinit(&r);
    return names;
}

static bool is_in(const json_t *names, const char *name)
{
    for (size_t i = 0; i < json_array_size(names); i++)
        if (strcmp(json_string_value(json_array_get(names, i)), name) == 0)
            return true;
    return false;
}

/* A typo'd start of any word of a live name finds it (through the word table); the words of a
 * cancelled event and of a private one are not there to be found. */
static void check_typos(void)
{
    json_t *names = suggestions("quartx");
    cr_assert(is_in(names, "Midnight Jazz Quartet"), "quartx");
    json_decref(names);
    names = suggestions("Midnigth");
    cr_assert(is_in(names, "Midnight Jazz Quartet"), "Midnigth");
    json_decref(names);
    names = suggestions("farewel");
    cr_assert_eq(json_array_size(names), 0, "a cancelled event's word was suggested");
    json_decref(names);
    names = suggestions("secrte");
    cr_assert_eq(json_array_size(names), 0, "a private event's word was suggested");
    json_decref(names);
}

static void expect_invalid(const char *path, const char *field)
{
    struct tix_http_resp r;
    tix_http("GET", path, NULL, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, field), "%s: %s", path, r.body);
    tix_http_resp_deinit(&r);
}

static void check_bad_parameters(void)
{
    char path[400] = "/api/v1/search/events?q=";
    size_t len = strlen(path);
    memset(path + len, 'a', 201);
    path[len + 201] = '\0';
    expect_invalid(path, "q");
    expect_invalid("/api/v1/search/events?limit=0", "limit");
    expect_invalid("/api/v1/search/events?limit=101", "limit");
    expect_invalid("/api/v1/search/events?limit=ten", "limit");
    expect_invalid("/api/v1/search/events?offset=-1", "offset");
    expect_invalid("/api/v1/search/events?offset=10001", "offset");
    expect_invalid("/api/v1/search/events?from=yesterday", "from");
    expect_invalid("/api/v1/search/events?to=2030-02-30T00:00:00Z", "to");
    expect_invalid("/api/v1/search/events?q=%FF%FE", "q");
    expect_invalid("/api/v1/search/events?price_min=-1", "price_min");
    expect_invalid("/api/v1/search/events?price_max=cheap", "price_max");
    expect_invalid("/api/v1/search/events?price_min=1.5", "price_min");
    expect_invalid("/api/v1/events/search?price_min=5000&price_max=100", "price_max");
    expect_invalid("/api/v1/events?price_min=5000&price_max=100", "price_max");
    expect_invalid("/api/v1/search/autocomplete", "q");
    expect_invalid("/api/v1/search/autocomplete?q=", "q");
}

/* ---- replay ------------------------------------------------------------------------------- */

/* Replays search and compares tables (NULL-terminated) of the old and new versions. */
static void check_replay(const char *const *tables)
{
    static const char version_sql[] = "SELECT active_version FROM projections WHERE name = $1";
    /* The old version stops following the log once the views move to the new one, so the two
     * are compared only when nothing was appended meanwhile (the processor's clock or a process
     * manager may append at any time); otherwise the replay is tried again. */
    static const char heads_sql[] =
        "SELECT sum(last_seq) + sum(last_outcome_seq) FROM partition_heads";
    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    const char *p[] = {"search"};
    int old_v = 0, new_v = 0;
    bool is_still = false;
    for (int attempt = 0; attempt < 5 && !is_still; attempt++) {
        cr_assert(tix_test_wait_projected(db, 10000), "projector did not catch up");
        long long before = tix_test_scalar(db, heads_sql, 0, NULL);
        old_v = (int)tix_test_scalar(db, version_sql, 1, p);
        char out[1024];
        cr_assert_eq(tix_test_sh(out, sizeof(out), "tixmo replay search"), 0, "%s", out);
        new_v = (int)tix_test_scalar(db, version_sql, 1, p);
        cr_assert_eq(new_v, old_v + 1);
        is_still = tix_test_scalar(db, heads_sql, 0, NULL) == before;
    }
    cr_assert(is_still, "the log kept moving during every replay");
    for (size_t t = 0; tables[t] != NULL; t++)
        tix_test_expect_same_tables(db, "search", old_v, new_v, tables[t]);
    tix_db_close(db);
}

Test(search, finds_ranks_filters_and_replays)
{
    struct shop s;
    open_shop(&s);
    setup_catalog(&s);
    check_full_text(&s);
    check_filters(&s);
    cr_assert(tix_test_wait(suggests_jazz, NULL, 5000), "autocomplete never suggested jazz");
    check_typos();
    check_bad_parameters();
    static const char *const tables[] = {"search_venues",
                                         "search_events",
                                         "search_sessions",
                                         "search_ticket_types",
                                         "search_hits",
                                         "search_words",
                                         NULL};
    check_replay(tables);
    struct tix_http_resp r;
    search(&s, "q=jazz", &r); /* the rm views now point at the replayed version */
    cr_assert_eq(total_of(&r), 2, "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_shop_close(&s.shop);
}

/* ---- autocomplete's words follow a rename -------------------------------------------------- */

struct typo_ctx {
    const char *q, *name;
    bool is_wanted;
};

/* True once autocomplete for c->q suggests c->name (is_wanted) or no longer does. */
static bool suggests_as_wanted(void *ctx)
{
    const struct typo_ctx *c = ctx;
    json_t *names = suggestions(c->q);
    bool is_there = is_in(names, c->name);
    json_decref(names);
    return is_there == c->is_wanted;
}

Test(search, autocomplete_words_follow_a_rename)
{
    struct shop s;
    open_shop(&s);
    char venue[TIX_UUID_LEN + 1], event[TIX_UUID_LEN + 1], path[300];
    make_venue(&s, "Nantes", venue);
    make_event(&s, "Zephyrine Matinee", "theatre", venue, 15, true, event);
    struct typo_ctx c = {.q = "zephyrinx", .name = "Zephyrine Matinee", .is_wanted = true};
    cr_assert(tix_test_wait(suggests_as_wanted, &c, 5000), "a typo'd word did not find its event");

    snprintf(path, sizeof(path), "%s/events/%s", s.shop.base, event);
    struct tix_http_resp r;
    cr_assert_eq(
        tix_http("PATCH", path, s.shop.owner, "{\"name\":\"Quillon Matinee\"}", tix_shop_wait5, &r),
        200, "%s", r.body);
    tix_http_resp_deinit(&r);
    c = (struct typo_ctx){.q = "quillonx", .name = "Quillon Matinee", .is_wanted = true};
    cr_assert(tix_test_wait(suggests_as_wanted, &c, 5000), "the new name's word was not found");
    json_t *names = suggestions("zephyrinx");
    cr_assert_eq(json_array_size(names), 0, "the old name's word stayed after the rename");
    json_decref(names);
    tix_shop_close(&s.shop);
}

/* ---- near a point, venues --------------------------------------------------------------- */

static double distance_at(const struct tix_http_resp *r, size_t i)
{
    return json_number_value(
        json_object_get(json_array_get(json_object_get(r->json, "items"), i), "distance_km"));
}

/* A place of its own for this run (seeded by the owner id), venues at 0, ~5.6 and ~333.6 km
 * north of it and one without a location, an event at each. */
struct places {
    double lat, lon;
    char near[96];
    char cities[4][40];
    char venues[4][TIX_UUID_LEN + 1];
};

static void setup_places(const struct shop *s, struct places *p)
{
    unsigned long seed = strtoul(s->shop.owner_id + 26, NULL, 16);
    p->lat = -50.0 + (double)(seed % 10000) / 100.0;        /* -50 .. 50 */
    p->lon = -170.0 + (double)(seed / 10000 % 34000) / 100; /* -170 .. 170 */
    snprintf(p->near, sizeof(p->near), "near=%.4f,%.4f", p->lat, p->lon);
    static const char *const prefixes[] = {"At", "Bt", "Ct", "Dt"};
    static const double north[] = {0, 0.05, 3.0};
    static const char *const names[] = {"Near One", "Near Two", "Far Three", "Nowhere Four"};
    for (int i = 0; i < 4; i++) {
        char location[128], id[TIX_UUID_LEN + 1];
        snprintf(p->cities[i], sizeof(p->cities[i]), "%s%.12s", prefixes[i], s->shop.owner_id + 24);
        snprintf(location, sizeof(location), "{\"lat\":%.4f,\"lon\":%.4f}", p->lat + north[i % 3],
                 p->lon);
        tix_shop_venue(&s->shop, p->cities[i], i < 3 ? location : NULL, p->venues[i]);
        make_event(s, names[i], "concert", p->venues[i], 10 + i, true, id);
    }
    struct count_ctx c = {.shop = s, .query = "", .want = 4};
    cr_assert(tix_test_wait(has_total, &c, 10000), "the four events never showed");
}

static void check_near(const struct shop *s, const struct places *p)
{
    char query[200];
    struct tix_http_resp r;
    snprintf(query, sizeof(query), "%s&radius_km=30", p->near);
    search(s, query, &r);
    cr_assert_eq(total_of(&r), 2, "%s", r.body);
    cr_assert_str_eq(name_at(&r, 0), "Near One", "%s", r.body);
    cr_assert_str_eq(name_at(&r, 1), "Near Two", "%s", r.body);
    cr_assert_lt(distance_at(&r, 0), 0.01, "%s", r.body);
    cr_assert(distance_at(&r, 1) > 5.5 && distance_at(&r, 1) < 5.6, "%s", r.body);
    tix_http_resp_deinit(&r);

    snprintf(query, sizeof(query), "%s&radius_km=400", p->near);
    search(s, query, &r);
    cr_assert_eq(total_of(&r), 3, "%s", r.body);
    cr_assert_str_eq(name_at(&r, 2), "Far Three", "%s", r.body);
    cr_assert(distance_at(&r, 2) > 333 && distance_at(&r, 2) < 334.2, "%s", r.body);
    cr_assert_eq(facet(&r, "city", p->cities[2]), 1, "%s", r.body);
    tix_http_resp_deinit(&r);

    search(s, p->near, &r); /* 25 km by default */
    cr_assert_eq(total_of(&r), 2, "%s", r.body);
    tix_http_resp_deinit(&r);

    snprintf(query, sizeof(query), "q=far&%s&radius_km=400", p->near);
    search(s, query, &r);
    cr_assert_eq(total_of(&r), 1, "%s", r.body);
    cr_assert_str_eq(name_at(&r, 0), "Far Three", "%s", r.body);
    tix_http_resp_deinit(&r);

    char path[400];
    snprintf(path, sizeof(path), "/api/v1/events/search?%s&radius_km=30&%s", p->near, s->window);
    cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert_eq(total_of(&r), 2, "%s", r.body); /* the alias */
    tix_http_resp_deinit(&r);
}

static void search_venues(const char *query, struct tix_http_resp *r)
{
    char path[400];
    snprintf(path, sizeof(path), "/api/v1/search/venues?%s", query);
    cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, r), 200, "%s: %s", path, r->body);
}

static const char *venue_id_at(const struct tix_http_resp *r, size_t i)
{
    return tix_json_str(json_array_get(json_object_get(r->json, "items"), i), "id");
}

static void check_venues(const struct places *p)
{
    char query[200], typo[40];
    struct tix_http_resp r;
    snprintf(query, sizeof(query), "q=%s", p->cities[0]);
    search_venues(query, &r);
    cr_assert_eq(total_of(&r), 1, "%s", r.body);
    cr_assert_str_eq(venue_id_at(&r, 0), p->venues[0], "%s", r.body);
    tix_http_resp_deinit(&r);

    snprintf(typo, sizeof(typo), "%s", p->cities[0]);
    typo[strlen(typo) - 1] = typo[strlen(typo) - 1] == 'x' ? 'y' : 'x';
    snprintf(query, sizeof(query), "q=%s", typo);
    search_venues(query, &r);
    cr_assert_geq(total_of(&r), 1, "%s", r.body);
    cr_assert_str_eq(venue_id_at(&r, 0), p->venues[0], "%s", r.body);
    tix_http_resp_deinit(&r);

    snprintf(query, sizeof(query), "%s&radius_km=30", p->near);
    search_venues(query, &r);
    cr_assert_eq(total_of(&r), 2, "%s", r.body);
    cr_assert_str_eq(venue_id_at(&r, 0), p->venues[0], "%s", r.body);
    cr_assert_str_eq(venue_id_at(&r, 1), p->venues[1], "%s", r.body);
    cr_assert_eq(facet(&r, "city", p->cities[1]), 1, "%s", r.body);
    tix_http_resp_deinit(&r);

    snprintf(query, sizeof(query), "city=%s", p->cities[3]);
    search_venues(query, &r);
    cr_assert_eq(total_of(&r), 1, "%s", r.body);
    cr_assert(json_is_null(
                  json_object_get(json_array_get(json_object_get(r.json, "items"), 0), "location")),
              "%s", r.body);
    tix_http_resp_deinit(&r);
}

static void check_bad_geo_parameters(void)
{
    expect_invalid("/api/v1/search/events?near=91,0", "near");
    expect_invalid("/api/v1/search/events?near=10", "near");
    expect_invalid("/api/v1/search/events?near=a,b", "near");
    expect_invalid("/api/v1/search/events?near=10,20&radius_km=0", "radius_km");
    expect_invalid("/api/v1/search/events?near=10,20&radius_km=20001", "radius_km");
    expect_invalid("/api/v1/search/events?radius_km=5", "radius_km");
    expect_invalid("/api/v1/events/search?limit=0", "limit");
    expect_invalid("/api/v1/search/venues?near=0,181", "near");
    expect_invalid("/api/v1/search/venues?limit=101", "limit");
    expect_invalid("/api/v1/search/venues?q=%FF", "q");
}

/* The venue without a location gets one 11 km from the point: its event's hit moves along. */
static void check_venue_moves(const struct shop *s, const struct places *p)
{
    char path[300], body[160], query[200];
    snprintf(path, sizeof(path), "%s/venues/%s", s->shop.base, p->venues[3]);
    snprintf(body, sizeof(body), "{\"location\":{\"lat\":%.4f,\"lon\":%.4f}}", p->lat + 0.1,
             p->lon);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("PATCH", path, s->shop.owner, body, tix_shop_wait5, &r), 200, "%s",
                 r.body);
    tix_http_resp_deinit(&r);
    snprintf(query, sizeof(query), "%s&radius_km=30", p->near);
    struct count_ctx c = {.shop = s, .query = query, .want = 3};
    cr_assert(tix_test_wait(has_total, &c, 5000), "an event did not move with its venue");
}

Test(search, near_a_point_and_venues)
{
    struct shop s;
    open_shop(&s);
    struct places p;
    setup_places(&s, &p);
    check_near(&s, &p);
    check_venues(&p);
    check_bad_geo_parameters();
    check_venue_moves(&s, &p);
    tix_shop_close(&s.shop);
}

/* ---- prices --------------------------------------------------------------------------------- */

/* The instant seconds from now, as "2026-12-31T19:30:00Z", into out. */
static void instant_in(long seconds, char out[32])
{
    time_t t = time(NULL) + seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct bucket_ctx {
    const struct shop *shop;
    const char *bucket;
    long long want;
};

static bool has_bucket_count(void *ctx)
{
    struct bucket_ctx *c = ctx;
    struct tix_http_resp r;
    search(c->shop, "", &r);
    bool is_done = facet(&r, "price", c->bucket) == c->want;
    tix_http_resp_deinit(&r);
    return is_done;
}

static long long item_int(const struct tix_http_resp *r, size_t i, const char *key)
{
    return json_integer_value(
        json_object_get(json_array_get(json_object_get(r->json, "items"), i), key));
}

/* Five events: two visible prices (15 and 40), a dear one with a hidden free type, a free one
 * with a type whose early-bird step ended in 2001 (so 60, not 30), one without types, and one
 * whose early bird (5) ends in about 15 s (then 70): setup and checks take about 1 s, the wait
 * for the prices at most 10 s. */
static void setup_prices(const struct shop *s, char early[TIX_UUID_LEN + 1])
{
    char venue[TIX_UUID_LEN + 1], id[TIX_UUID_LEN + 1], tiers[160], until[32];
    make_venue(s, "Paris", venue);
    make_event(s, "Cheap Duo", "concert", venue, 10, true, id);
    add_type(s, id, 1500, "");
    add_type(s, id, 4000, "");
    make_event(s, "Grand Gala", "concert", venue, 11, true, id);
    add_type(s, id, 12000, "");
    add_type(s, id, 0, ",\"hidden\":true");
    make_event(s, "Free Fair", "festival", venue, 12, true, id);
    add_type(s, id, 0, "");
    add_type(s, id, 6000,
             ",\"tiers\":[{\"price_minor\":3000,\"until\":\"2001-01-01T00:00:00Z\"},"
             "{\"price_minor\":6000}]");
    make_event(s, "No Tickets Yet", "concert", venue, 13, true, id);
    make_event(s, "Early Bird Night", "concert", venue, 14, true, early);
    instant_in(15, until);
    snprintf(tiers, sizeof(tiers),
             ",\"tiers\":[{\"price_minor\":500,\"until\":\"%s\"},{\"price_minor\":7000}]", until);
    add_type(s, early, 7000, tiers);
    struct bucket_ctx c = {.shop = s, .bucket = "under_20", .want = 2};
    cr_assert(tix_test_wait(has_bucket_count, &c, 10000), "the prices never showed");
}

static void check_prices(const struct shop *s)
{
    struct tix_http_resp r;
    search(s, "", &r);
    cr_assert_eq(total_of(&r), 5, "%s", r.body);
    cr_assert_eq(facet(&r, "price", "free"), 1, "the hidden free type counted: %s", r.body);
    cr_assert_eq(facet(&r, "price", "under_20"), 2, "%s", r.body);
    cr_assert_eq(facet(&r, "price", "20_to_50"), 1, "an ended tier counted: %s", r.body);
    cr_assert_eq(facet(&r, "price", "50_to_100"), 1, "%s", r.body);
    cr_assert_eq(facet(&r, "price", "100_and_over"), 1, "%s", r.body);
    tix_http_resp_deinit(&r);
    check_price_facet(s, "", 5);
    check_price_facet(s, "category=concert", 4);

    search(s, "price_min=4000&price_max=4000", &r); /* one of its types costs that much */
    cr_assert_eq(total_of(&r), 1, "%s", r.body);
    cr_assert_str_eq(name_at(&r, 0), "Cheap Duo", "%s", r.body);
    cr_assert_eq(item_int(&r, 0, "price_min_minor"), 1500, "%s", r.body);
    cr_assert_eq(item_int(&r, 0, "price_max_minor"), 4000, "%s", r.body);
    tix_http_resp_deinit(&r);

    search(s, "q=gala&price_min=10000", &r);
    cr_assert_eq(total_of(&r), 1, "%s", r.body);
    tix_http_resp_deinit(&r);
    search(s, "q=gala&price_max=9999", &r);
    cr_assert_eq(total_of(&r), 0, "%s", r.body);
    tix_http_resp_deinit(&r);

    search(s, "q=tickets", &r); /* no types: no price, in no bucket */
    cr_assert_eq(total_of(&r), 1, "%s", r.body);
    cr_assert(json_is_null(json_object_get(json_array_get(json_object_get(r.json, "items"), 0),
                                           "price_min_minor")),
              "%s", r.body);
    cr_assert_eq(json_object_size(json_object_get(json_object_get(r.json, "facets"), "price")), 0,
                 "%s", r.body);
    tix_http_resp_deinit(&r);
}

Test(search, prices)
{
    struct shop s;
    open_shop(&s);
    char early[TIX_UUID_LEN + 1];
    setup_prices(&s, early);
    check_prices(&s);
    /* the early bird ends with nothing recorded: the search recomputes its price */
    struct bucket_ctx c = {.shop = &s, .bucket = "50_to_100", .want = 2};
    cr_assert(tix_test_wait(has_bucket_count, &c, 45000), "the early bird never ended");
    check_price_facet(&s, "", 5);
    struct tix_http_resp r;
    search(&s, "q=early", &r);
    cr_assert_eq(item_int(&r, 0, "price_min_minor"), 7000, "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_shop_close(&s.shop);
}

/* ---- sold out by itself ------------------------------------------------------------------- */

struct status_ctx {
    const struct shop *shop;
    const char *event;
    const char *want;
};

/* The event's status agrees everywhere: GET /events/{id}, the listing filtered by status and a
 * search by its name. */
static bool shows_status(void *ctx)
{
    struct status_ctx *c = ctx;
    char path[300];
    struct tix_http_resp r;
    snprintf(path, sizeof(path), "/api/v1/events/%s", c->event);
    tix_http("GET", path, NULL, NULL, NULL, &r);
    bool is_same = r.status == 200 && strcmp(tix_json_str(r.json, "status"), c->want) == 0;
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/events?organization_id=%s&status=%s", c->shop->shop.org,
             c->want);
    tix_http("GET", path, NULL, NULL, NULL, &r);
    is_same = is_same && r.status == 200 && json_array_size(json_object_get(r.json, "items")) == 1;
    tix_http_resp_deinit(&r);
    search(c->shop, "q=lantern", &r);
    const char *status =
        tix_json_str(json_array_get(json_object_get(r.json, "items"), 0), "status");
    is_same = is_same && total_of(&r) == 1 && status != NULL && strcmp(status, c->want) == 0;
    tix_http_resp_deinit(&r);
    return is_same;
}

/* A buyer's hold of quantity of type; returns the HTTP status, the hold id in id. */
static long hold_of(const char *buyer, const char *event, const char *type, int quantity,
                    char id[TIX_UUID_LEN + 1])
{
    char body[256];
    snprintf(body, sizeof(body), "{\"event_id\":\"%s\",\"ticket_type_id\":\"%s\",\"quantity\":%d}",
             event, type, quantity);
    struct tix_http_resp r;
    long status = tix_http("POST", "/api/v1/cart/items", buyer, body, NULL, &r);
    if (status == 201)
        snprintf(id, TIX_UUID_LEN + 1, "%s", tix_http_str(&r, "id"));
    tix_http_resp_deinit(&r);
    return status;
}

struct release_ctx {
    const char *buyer;
    char path[200];
};

static bool is_released(void *ctx)
{
    struct release_ctx *c = ctx;
    struct tix_http_resp r;
    long status = tix_http("DELETE", c->path, c->buyer, NULL, tix_shop_wait5, &r);
    tix_http_resp_deinit(&r);
    return status == 200;
}

/* Releases the buyer's hold (once the cart shows it: the cart is a read model). */
static void release(const char *buyer, const char *hold)
{
    struct release_ctx c = {.buyer = buyer};
    snprintf(c.path, sizeof(c.path), "/api/v1/cart/items/%s", hold);
    cr_assert(tix_test_wait(is_released, &c, 5000), "hold %s was never released", hold);
}

Test(search, an_event_sells_out_when_its_last_place_is_held_and_reopens_by_itself)
{
    struct shop s;
    open_shop(&s);
    char venue[TIX_UUID_LEN + 1], event[TIX_UUID_LEN + 1], type[TIX_UUID_LEN + 1];
    char buyer_id[TIX_UUID_LEN + 1], h1[TIX_UUID_LEN + 1], h2[TIX_UUID_LEN + 1], path[200];
    make_venue(&s, "Paris", venue);
    make_event(&s, "Paper Lanterns", "concert", venue, 19, true, event);
    snprintf(path, sizeof(path), "/api/v1/events/%s/ticket-types", event);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, s.shop.owner,
                          "{\"name\":\"Entry\",\"kind\":\"general_admission\",\"price_minor\":"
                          "1000,\"currency\":\"EUR\",\"quantity\":2}",
                          tix_shop_wait5, &r),
                 201, "%s", r.body);
    snprintf(type, sizeof(type), "%s", tix_http_str(&r, "id"));
    tix_http_resp_deinit(&r);
    lifecycle(&s, event, "open-sales", NULL);
    struct status_ctx c = {.shop = &s, .event = event, .want = "on_sale"};
    cr_assert(tix_test_wait(shows_status, &c, 10000), "the event never showed on sale");
    tix_uuid_v7(buyer_id);
    char *buyer = tix_test_token(buyer_id, 600);

    cr_assert_eq(hold_of(buyer, event, type, 1, h1), 201);
    cr_assert_eq(hold_of(buyer, event, type, 1, h2), 201); /* the last place */
    c.want = "sold_out";
    cr_assert(tix_test_wait(shows_status, &c, 5000), "the event did not sell out by itself");
    cr_assert_eq(hold_of(buyer, event, type, 1, h1), 409, "a sold-out event sells nothing");

    release(buyer, h2);
    c.want = "on_sale";
    cr_assert(tix_test_wait(shows_status, &c, 5000), "the event did not reopen by itself");

    /* the promoter's own sold-out stays when places come back */
    cr_assert_eq(hold_of(buyer, event, type, 1, h2), 201);
    c.want = "sold_out";
    cr_assert(tix_test_wait(shows_status, &c, 5000));
    lifecycle(&s, event, "reopen-sales", NULL);
    c.want = "on_sale";
    cr_assert(tix_test_wait(shows_status, &c, 5000));
    lifecycle(&s, event, "mark-sold-out", NULL);
    release(buyer, h2);
    c.want = "sold_out";
    cr_assert(tix_test_wait(shows_status, &c, 5000));
    snprintf(path, sizeof(path), "%s/events/%s/mark-sold-out", s.shop.base, event);
    cr_assert_eq(tix_http("POST", path, s.shop.owner, NULL, tix_shop_wait5, &r), 409, "%s", r.body);
    tix_http_resp_deinit(&r);
    free(buyer);
    tix_shop_close(&s.shop);
}

struct range_ctx {
    const struct shop *shop;
    const char *query;
    bool is_found;
};

static bool finds_lanterns(void *ctx)
{
    struct range_ctx *c = ctx;
    struct tix_http_resp r;
    search(c->shop, c->query, &r);
    bool is_done = (total_of(&r) == 1) == c->is_found;
    tix_http_resp_deinit(&r);
    return is_done;
}

Test(search, an_early_bird_that_ends_after_two_sold_leaves_the_cheap_range)
{
    struct shop s;
    open_shop(&s);
    char venue[TIX_UUID_LEN + 1], event[TIX_UUID_LEN + 1], type[TIX_UUID_LEN + 1];
    char buyer_id[TIX_UUID_LEN + 1], hold[TIX_UUID_LEN + 1], path[200];
    make_venue(&s, "Paris", venue);
    make_event(&s, "Paper Lanterns", "concert", venue, 19, true, event);
    snprintf(path, sizeof(path), "/api/v1/events/%s/ticket-types", event);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, s.shop.owner,
                          "{\"name\":\"Entry\",\"kind\":\"early_bird\",\"price_minor\":2000,"
                          "\"currency\":\"EUR\",\"quantity\":10,\"tiers\":[{\"price_minor\":1000,"
                          "\"until_sold\":2},{\"price_minor\":2000}]}",
                          tix_shop_wait5, &r),
                 201, "%s", r.body);
    snprintf(type, sizeof(type), "%s", tix_http_str(&r, "id"));
    tix_http_resp_deinit(&r);
    lifecycle(&s, event, "open-sales", NULL);
    struct range_ctx c = {.shop = &s, .query = "q=lantern&price_max=1500", .is_found = true};
    cr_assert(tix_test_wait(finds_lanterns, &c, 10000), "the early bird never showed at 10.00");
    c.query = "q=lantern&price_min=1500";
    c.is_found = false;
    cr_assert(tix_test_wait(finds_lanterns, &c, 1000));

    tix_uuid_v7(buyer_id);
    char *buyer = tix_test_token(buyer_id, 600);
    cr_assert_eq(hold_of(buyer, event, type, 1, hold), 201);
    cr_assert_eq(hold_of(buyer, event, type, 1, hold), 201); /* the second sold ends the step */
    c.query = "q=lantern&price_max=1500";
    cr_assert(tix_test_wait(finds_lanterns, &c, 5000), "still found at 10.00 after 2 sold");
    c.query = "q=lantern&price_min=1500";
    c.is_found = true;
    cr_assert(tix_test_wait(finds_lanterns, &c, 1000), "not found at 20.00 after 2 sold");
    search(&s, "q=lantern", &r);
    cr_assert_eq(item_int(&r, 0, "price_min_minor"), 2000, "%s", r.body);
    cr_assert_eq(facet(&r, "price", "20_to_50"), 1, "%s", r.body);
    tix_http_resp_deinit(&r);

    release(buyer, hold); /* one comes back: 10.00 again */
    c.query = "q=lantern&price_max=1500";
    cr_assert(tix_test_wait(finds_lanterns, &c, 5000), "a released unit did not reopen the step");
    /* units taken and prices are added up once per pass: a replay from zero writes the same */
    static const char *const taken[] = {"search_holds", "search_takes", "search_ticket_types",
                                        "search_hits", NULL};
    check_replay(taken);
    free(buyer);
    tix_shop_close(&s.shop);
}

/* ---- the hits aggregate (pg/tixmo_pg.c) against plain SQL ---------------------------------- */

/* 500 made-up hits with ties, NULLs and NaN in every sort key, an empty city, one with quotes,
 * a backslash and one outside ASCII, and every combination of price bits. */
#define MADE_UP_HITS                                                                               \
    "WITH r AS (SELECT md5(g::text)::uuid AS id, CASE WHEN g % 11 = 0 THEN NULL"                   \
    " WHEN g % 13 = 0 THEN 'NaN'::float8 ELSE (g % 7)::float8 END AS score,"                       \
    " CASE WHEN g % 2 = 0 THEN NULL WHEN g % 17 = 0 THEN 'NaN'::float8 ELSE (g % 3)::float8 END"   \
    " AS distance, CASE WHEN g % 5 = 0 THEN NULL ELSE timestamptz '2027-01-01 00:00Z'"             \
    " + (g % 3) * interval '1 day' END AS starts_at, (ARRAY['Paris', '', 'Zürich',"               \
    " '\"Q\" \\ x', NULL])[g % 5 + 1] AS city, (ARRAY['opera', 'jazz'])[g % 2 + 1] AS category,"   \
    " CASE WHEN g % 7 = 0 THEN NULL ELSE '2027-0' || (g % 4 + 1) END AS month, g % 32 AS buckets"  \
    " FROM generate_series(1, 500) g),"                                                            \
    " a AS (SELECT public.tix_hits(distance, score, starts_at, id, category, city, month,"         \
    " buckets, $1::int) AS j FROM r) "

/* The page's ids in the order of SQL's ORDER BY, for keep = $1. */
#define SQL_PAGE                                                                                   \
    "(SELECT COALESCE(json_agg(id::text ORDER BY distance ASC NULLS LAST, score DESC NULLS LAST,"  \
    " starts_at ASC NULLS LAST, id), '[]') FROM (SELECT * FROM r ORDER BY distance ASC NULLS "     \
    "LAST,"                                                                                        \
    " score DESC NULLS LAST, starts_at ASC NULLS LAST, id LIMIT $1::int) x)::jsonb"

static long long made_up(struct tix_db *db, const char *keep, const char *check)
{
    char sql[4096];
    snprintf(sql, sizeof sql, "%sSELECT (%s)::int FROM a", MADE_UP_HITS, check);
    const char *params[] = {keep};
    return tix_test_scalar(db, sql, 1, params);
}

Test(search, the_hits_aggregate_orders_counts_and_refuses_as_sql_does)
{
    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    const char *keeps[] = {"0", "1", "40", "499", "1000"};
    for (size_t i = 0; i < sizeof keeps / sizeof keeps[0]; i++) {
        cr_assert_eq(made_up(db, keeps[i],
                             "(SELECT COALESCE(jsonb_agg(p->>0 ORDER BY o), '[]')"
                             " FROM json_array_elements(j->'page') WITH ORDINALITY"
                             " x(p, o)) = " SQL_PAGE),
                     1, "the page for keep %s is not SQL's", keeps[i]);
        cr_assert_eq(made_up(db, keeps[i], "(j->>'total')::int = 500"), 1, "total, keep %s",
                     keeps[i]);
    }
    /* Scores and distances read back exactly. */
    cr_assert_eq(made_up(db, "40",
                         "NOT EXISTS (SELECT 1 FROM json_array_elements(j->'page') p JOIN r"
                         " ON r.id = (p->>0)::uuid WHERE (p->>1)::float8 IS DISTINCT FROM"
                         " CASE WHEN r.distance = 'NaN' THEN NULL ELSE r.distance END"
                         " OR (p->>2)::float8 IS DISTINCT FROM"
                         " CASE WHEN r.score = 'NaN' THEN NULL ELSE r.score END)"),
                 1, "a score or distance changed on its way");
    const char *facets[][2] = {
        {"category", "(SELECT jsonb_object_agg(category, n) FROM (SELECT category, count(*) n"
                     " FROM r GROUP BY category) c)"},
        {"city", "(SELECT jsonb_object_agg(city, n) FROM (SELECT city, count(*) n FROM r"
                 " WHERE city IS NOT NULL GROUP BY city) c)"},
        {"month", "(SELECT jsonb_object_agg(month, n) FROM (SELECT month, count(*) n FROM r"
                  " WHERE month IS NOT NULL GROUP BY month) c)"},
        {"price", "(SELECT jsonb_object_agg(name, n) FROM (SELECT name, (SELECT count(*) FROM r"
                  " WHERE buckets & (1 << i) <> 0) n FROM (VALUES (0, 'free'), (1, 'under_20'),"
                  " (2, '20_to_50'), (3, '50_to_100'), (4, '100_and_over')) v(i, name)) c"
                  " WHERE n > 0)"},
    };
    for (size_t i = 0; i < sizeof facets / sizeof facets[0]; i++) {
        char check[1024];
        snprintf(check, sizeof check, "(j->'facets'->'%s')::jsonb = %s", facets[i][0],
                 facets[i][1]);
        cr_assert_eq(made_up(db, "20", check), 1, "facet %s is not SQL's count", facets[i][0]);
    }

    char out[512];
    tix_test_text(db,
                  "SELECT public.tix_hits(NULL, 1, NULL, NULL, 'x', NULL, NULL, 1, 20)::text"
                  " FROM generate_series(1, 0)",
                  0, NULL, out, sizeof out);
    cr_assert_str_eq(out,
                     "{\"total\":0,\"page\":[],\"facets\":{\"category\":{},\"city\":{},"
                     "\"month\":{},\"price\":{}}}",
                     "no hits");

    PGresult *res = NULL;
    struct tix_err err;
    const char *bad[] = {"-1", "1000001"};
    for (size_t i = 0; i < 2; i++) {
        cr_assert_neq(tix_db_exec(db,
                                  "SELECT public.tix_hits(NULL, 1, NULL, NULL, 'x', NULL, NULL,"
                                  " 1, $1::int) FROM generate_series(1, 3)",
                                  1, &bad[i], &res, &err),
                      TIX_OK, "keep %s was taken", bad[i]);
        cr_assert(strstr(err.msg, "keep must be between") != NULL, "%s", err.msg);
        PQclear(res);
        res = NULL;
    }
    cr_assert_eq(tix_test_scalar(db, "SELECT 1", 0, NULL), 1, "the backend survived");
    tix_db_close(db);
}
