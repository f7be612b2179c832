/* catalog_list_test.c - the public events listing and a venue's events over HTTP
 *
 * Real gateway, processor and projector processes; real Postgres, RabbitMQ and Redis. Each
 * test's events carry a tag (or sit at a venue) of their own, so rows of other tests and runs
 * stay out of every assertion. Checked: visibility (the public sees public live events only; an
 * organization's drafts and private events only by its members, through organization_id; never
 * by a member of another organization), every filter, every sort, a keyset cursor that neither
 * repeats nor skips rows while events are added between pages, bad parameters naming
 * themselves, and a venue's upcoming and past events.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
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

TestSuite(catalog_list, .init = start, .fini = stop, .timeout = 240);

/* An event body: name "<word> <tag>", one session of an hour at start (RFC 3339). */
static void body_of(char *out, size_t size, const struct tix_shop *s, const char *word,
                    const char *category, const char *venue, const char *visibility,
                    const char *start, const char *end)
{
    char where[128] = "";
    if (venue != NULL)
        snprintf(where, sizeof(where), "\"venue_id\":\"%s\",\"chart_version\":0,", venue);
    snprintf(out, size,
             "{\"name\":\"%s %s\",\"category\":\"%s\",\"tags\":[\"%s\",\"x%s\"],%s"
             "\"timezone\":\"Europe/Paris\",\"visibility\":\"%s\",\"capacity\":50,"
             "\"sessions\":[{\"starts_at\":\"%s\",\"ends_at\":\"%s\"}]}",
             word, s->tag, category, s->tag, word, where, visibility, start, end);
}

/* Creates an event on day (of March 2031) at 19:00 UTC; publishes it when is_published. */
static void make(const struct tix_shop *s, const char *word, const char *category,
                 const char *venue, const char *visibility, int day, bool is_published,
                 char id[TIX_UUID_LEN + 1])
{
    char body[1024], start[32], end[32];
    snprintf(start, sizeof(start), "2031-03-%02dT19:00:00Z", day);
    snprintf(end, sizeof(end), "2031-03-%02dT20:00:00Z", day);
    body_of(body, sizeof(body), s, word, category, venue, visibility, start, end);
    tix_shop_event(s, body, id);
    if (is_published)
        cr_assert_eq(tix_shop_act(s, s->promoter, id, "publish", NULL), 200);
}

/* GETs path as token (200 expected) and returns the words of the items' names, in order,
 * joined by spaces ("Alpha Bravo"). */
static void words(const char *token, const char *path, char *out, size_t size,
                  struct tix_http_resp *keep)
{
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", path, token, NULL, NULL, &r), 200, "%s: %s", path, r.body);
    json_t *items = json_object_get(r.json, "items");
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *name = tix_json_str(json_array_get(items, i), "name");
        size_t word = strcspn(name, " ");
        int n = snprintf(out + used, size - used, "%s%.*s", i > 0 ? " " : "", (int)word, name);
        used += n > 0 ? (size_t)n : 0;
    }
    if (keep != NULL)
        *keep = r;
    else
        tix_http_resp_deinit(&r);
}

static void expect_words(const char *token, const char *path, const char *want)
{
    char got[256];
    words(token, path, got, sizeof(got), NULL);
    cr_assert_str_eq(got, want, "%s: got \"%s\", want \"%s\"", path, got, want);
}

struct fixture {
    struct tix_shop a, b;
    char venue[TIX_UUID_LEN + 1], city[40];
    char alpha[TIX_UUID_LEN + 1], bravo[TIX_UUID_LEN + 1], charlie[TIX_UUID_LEN + 1],
        delta[TIX_UUID_LEN + 1];
};

/* a: Alpha (concert at the venue, 10th, published), Bravo (theatre, 12th, published), Charlie
 * (concert at the venue, 11th, draft), Delta (concert, 9th, private, published). */
static void setup(struct fixture *f)
{
    tix_shop_open(&f->a);
    tix_shop_open(&f->b);
    snprintf(f->city, sizeof(f->city), "C%s", f->a.tag);
    tix_shop_venue(&f->a, f->city, NULL, f->venue);
    make(&f->a, "Alpha", "concert", f->venue, "public", 10, true, f->alpha);
    make(&f->a, "Bravo", "theatre", NULL, "public", 12, true, f->bravo);
    make(&f->a, "Charlie", "concert", f->venue, "public", 11, false, f->charlie);
    make(&f->a, "Delta", "concert", NULL, "private", 9, true, f->delta);
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/events?tag=%s", f->a.tag);
    cr_assert(tix_shop_wait_count(NULL, path, 2, 10000), "the public events never showed");
    snprintf(path, sizeof(path), "/api/v1/events?organization_id=%s&status=published", f->a.org);
    cr_assert(tix_shop_wait_count(f->a.scanner, path, 3, 10000), "Delta was never published");
}

static void check_visibility(const struct fixture *f)
{
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/events?tag=%s", f->a.tag);
    expect_words(NULL, path, "Alpha Bravo");
    expect_words(f->a.scanner, path, "Alpha Bravo"); /* drafts only through organization_id */
    snprintf(path, sizeof(path), "/api/v1/events?organization_id=%s", f->a.org);
    expect_words(NULL, path, "Alpha Bravo");
    expect_words(f->b.owner, path, "Alpha Bravo"); /* a member of another organization */
    expect_words(f->a.scanner, path, "Delta Alpha Charlie Bravo");
    expect_words(f->a.owner, path, "Delta Alpha Charlie Bravo");
    char outsider_id[TIX_UUID_LEN + 1];
    tix_uuid_v7(outsider_id);
    char *outsider = tix_test_token(outsider_id, 600);
    expect_words(outsider, path, "Alpha Bravo");
    free(outsider);
    char event_path[96];
    snprintf(event_path, sizeof(event_path), "/api/v1/events/%s", f->alpha);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", event_path, NULL, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "sessions")), 1, "%s", r.body);
    tix_http_resp_deinit(&r);
}

static void check_filters(const struct fixture *f)
{
    char path[400];
    const char *t = f->a.tag;
    snprintf(path, sizeof(path), "/api/v1/events?tag=%s&category=CONCERT", t);
    expect_words(NULL, path, "Alpha");
    snprintf(path, sizeof(path), "/api/v1/events?tag=xBravo&organization_id=%s", f->a.org);
    expect_words(NULL, path, "Bravo");
    snprintf(path, sizeof(path), "/api/v1/events?city=%s", f->city);
    expect_words(NULL, path, "Alpha");
    snprintf(path, sizeof(path), "/api/v1/events?venue_id=%s", f->venue);
    expect_words(NULL, path, "Alpha");
    snprintf(path, sizeof(path), "/api/v1/events?venue_id=%s&organization_id=%s", f->venue,
             f->a.org);
    expect_words(f->a.scanner, path, "Alpha Charlie");
    snprintf(path, sizeof(path), "/api/v1/events?organization_id=%s&status=draft", f->a.org);
    expect_words(f->a.scanner, path, "Charlie");
    expect_words(NULL, path, "");
    snprintf(path, sizeof(path), "/api/v1/events?tag=%s&from=2031-03-11T00:00:00Z", t);
    expect_words(NULL, path, "Bravo");
    snprintf(path, sizeof(path), "/api/v1/events?tag=%s&to=2031-03-11T00:00:00%%2B01:00", t);
    expect_words(NULL, path, "Alpha");
    snprintf(path, sizeof(path),
             "/api/v1/events?tag=%s&from=2031-03-10T19:00:00Z&to=2031-03-10T19:00:01Z", t);
    expect_words(NULL, path, "Alpha");
}

static void check_sorts(const struct fixture *f)
{
    char path[300];
    const char *org = f->a.org;
    snprintf(path, sizeof(path), "/api/v1/events?organization_id=%s&sort=name", org);
    expect_words(f->a.scanner, path, "Alpha Bravo Charlie Delta");
    snprintf(path, sizeof(path), "/api/v1/events?organization_id=%s&sort=-name", org);
    expect_words(f->a.scanner, path, "Delta Charlie Bravo Alpha");
    snprintf(path, sizeof(path), "/api/v1/events?organization_id=%s&sort=-starts_at", org);
    expect_words(f->a.scanner, path, "Bravo Charlie Alpha Delta");
    snprintf(path, sizeof(path), "/api/v1/events?organization_id=%s&sort=created", org);
    expect_words(f->a.scanner, path, "Alpha Bravo Charlie Delta");
    snprintf(path, sizeof(path), "/api/v1/events?organization_id=%s&sort=-created", org);
    expect_words(f->a.scanner, path, "Delta Charlie Bravo Alpha");
}

/* One page of limit 1 after cursor (may be ""); its word into word, the next cursor into
 * cursor ("" at the end). */
static void page(const struct tix_shop *s, const char *sort, char *cursor, size_t size, char *word,
                 size_t word_size)
{
    char path[1600];
    snprintf(path, sizeof(path), "/api/v1/events?organization_id=%s&sort=%s&limit=1%s%s", s->org,
             sort, cursor[0] ? "&cursor=" : "", cursor);
    struct tix_http_resp r;
    words(s->scanner, path, word, word_size, &r);
    const char *next = tix_http_str(&r, "next_cursor");
    snprintf(cursor, size, "%s", next != NULL ? next : "");
    tix_http_resp_deinit(&r);
}

/* Pages one by one; after the second page adds Echo (before the cursor) and Foxtrot (after). */
static void check_cursor(struct fixture *f)
{
    char cursor[1200] = "", word[64], seen[256] = "";
    char echo[TIX_UUID_LEN + 1], foxtrot[TIX_UUID_LEN + 1];
    for (int i = 0; i < 10; i++) {
        page(&f->a, "starts_at", cursor, sizeof(cursor), word, sizeof(word));
        cr_assert_neq(word[0], '\0', "an empty page before the end");
        size_t used = strlen(seen);
        snprintf(seen + used, sizeof(seen) - used, "%s%s", used ? " " : "", word);
        if (i == 1) {
            make(&f->a, "Echo", "concert", NULL, "public", 8, false, echo);
            make(&f->a, "Foxtrot", "concert", NULL, "public", 13, false, foxtrot);
        }
        if (cursor[0] == '\0')
            break;
    }
    cr_assert_str_eq(seen, "Delta Alpha Charlie Bravo Foxtrot");

    page(&f->a, "name", cursor, sizeof(cursor), word, sizeof(word)); /* a name cursor... */
    cr_assert_str_eq(word, "Alpha");
    char path[1600];
    snprintf(path, sizeof(path), "/api/v1/events?organization_id=%s&sort=-name&cursor=%s", f->a.org,
             cursor);
    struct tix_http_resp r;
    tix_http("GET", path, f->a.scanner, NULL, NULL, &r); /* ...is refused by another sort */
    tix_shop_expect_problem(&r, 422, "cursor");
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/events?organization_id=%s&sort=name&cursor=%s", f->a.org,
             cursor);
    expect_words(f->a.scanner, path, "Bravo Charlie Delta Echo Foxtrot");
}

static void expect_invalid(const char *path, const char *field)
{
    struct tix_http_resp r;
    tix_http("GET", path, NULL, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 422, field);
    tix_http_resp_deinit(&r);
}

static void check_bad_parameters(void)
{
    expect_invalid("/api/v1/events?limit=0", "limit");
    expect_invalid("/api/v1/events?limit=101", "limit");
    expect_invalid("/api/v1/events?sort=price", "sort");
    expect_invalid("/api/v1/events?cursor=eHxub3QtYS11dWlk", "cursor");
    expect_invalid("/api/v1/events?cursor=%%%%%%", "cursor");
    expect_invalid("/api/v1/events?organization_id=acme", "organization_id");
    expect_invalid("/api/v1/events?venue_id=1", "venue_id");
    expect_invalid("/api/v1/events?from=yesterday", "from");
    expect_invalid("/api/v1/events?to=2031-02-30T00:00:00Z", "to");
    expect_invalid("/api/v1/events?status=nope", "status");
    expect_invalid("/api/v1/events?category=%FF", "category");
    expect_invalid("/api/v1/events/featured?limit=1000", "limit");
}

Test(catalog_list, filters_sorts_pages_and_hides_drafts)
{
    struct fixture f;
    setup(&f);
    check_visibility(&f);
    check_filters(&f);
    check_sorts(&f);
    check_cursor(&f);
    check_bad_parameters();
    tix_shop_close(&f.a);
    tix_shop_close(&f.b);
}

/* ---- a venue's events ------------------------------------------------------------------- */

static void instant_in(int seconds, char out[32])
{
    time_t t = time(NULL) + seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

Test(catalog_list, a_venue_lists_its_upcoming_then_past_events)
{
    struct tix_shop s;
    tix_shop_open(&s);
    char venue[TIX_UUID_LEN + 1], other[TIX_UUID_LEN + 1], id[TIX_UUID_LEN + 1];
    char city[40], body[1024], start[32], end[32];
    snprintf(city, sizeof(city), "V%s", s.tag);
    tix_shop_venue(&s, city, NULL, venue);
    tix_shop_venue(&s, city, NULL, other);
    make(&s, "Later", "concert", venue, "public", 20, true, id);
    make(&s, "Hidden", "concert", venue, "public", 21, false, id);
    make(&s, "Elsewhere", "concert", other, "public", 22, true, id);
    instant_in(8, start);
    instant_in(9, end);
    body_of(body, sizeof(body), &s, "Soon", "concert", venue, "public", start, end);
    tix_shop_event(&s, body, id);
    cr_assert_eq(tix_shop_act(&s, s.promoter, id, "publish", NULL), 200);

    char path[200], past[200];
    snprintf(path, sizeof(path), "/api/v1/venues/%s/events", venue);
    snprintf(past, sizeof(past), "/api/v1/venues/%s/events?past=true", venue);
    cr_assert(tix_shop_wait_count(NULL, path, 2, 10000), "the venue's events never showed");
    expect_words(NULL, path, "Soon Later");
    cr_assert(tix_shop_wait_count(NULL, past, 1, 20000), "Soon never ended");
    expect_words(NULL, past, "Soon");
    expect_words(NULL, path, "Later");

    char first[300];
    snprintf(first, sizeof(first), "%s?limit=1", path);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", first, NULL, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert(json_is_null(json_object_get(r.json, "next_cursor")), "%s", r.body);
    tix_http_resp_deinit(&r);

    snprintf(first, sizeof(first), "%s?past=maybe", path);
    expect_invalid(first, "past");
    /* a cursor of the upcoming list ("starts_at|<id>|0") is refused by the past list */
    const char *parts[] = {"starts_at", id, "0"};
    json_t *c = tix_gw_cursor_make(parts, 3);
    snprintf(first, sizeof(first), "%s&cursor=%s", past, json_string_value(c));
    json_decref(c);
    expect_invalid(first, "cursor");
    tix_http("GET", "/api/v1/venues/00000000-0000-7000-8000-000000000000/events", NULL, NULL, NULL,
             &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    tix_http("GET", "/api/v1/venues/not-a-venue/events", NULL, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    tix_shop_close(&s);
}
