/* sale_http_test.c - the sale over HTTP against the running stack
 *
 * Real gateway, processor and projector; real Postgres, RabbitMQ and Redis. An organization sets
 * up an event bound to a seated chart (the process manager loads its seats), ticket types and
 * settings, opens the sale; buyers hold, order, cancel; the processor's clock expires holds;
 * scanners check tickets in. The payment worker is played by the test (payment.apply sent as
 * system:payments, as the webhook will). Every route is tried with bad input, a member without
 * the role, and a member of another organization.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "http.h"
#include "shop.h"
#include "tix/buf.h"
#include "tix/ids.h"
#include "tix/json.h"

#define PARTITIONS 16
#define SEATS      10

static struct tix_test_stack stack;
static struct tix_db *db;

static const char *const stack_env[] = {"TIXMO_RL_HOLDS_PER_USER=100000",
                                        "TIXMO_RL_GENERAL_PER_IP=1000000",
                                        "TIXMO_RL_GENERAL_PER_USER=1000000", NULL};

static void start(void)
{
    cr_assert(sodium_init() >= 0);
    curl_global_init(CURL_GLOBAL_ALL);
    db = tix_test_db("TIXMO_DB_URL");
    tix_test_stack_start(&stack, stack_env);
}

static void stop(void)
{
    tix_test_stack_stop(&stack);
    tix_db_close(db);
}

TestSuite(sale_http, .init = start, .fini = stop, .timeout = 300);

/* Sends a request, expects status, frees the answer. */
static void expect(long status, const char *method, const char *path, const char *token,
                   const char *body)
{
    struct tix_http_resp r;
    tix_http(method, path, token, body, tix_shop_wait5, &r);
    cr_assert_eq(r.status, status, "%s %s: expected %ld, got %ld: %s", method, path, status,
                 r.status, r.body);
    tix_http_resp_deinit(&r);
}

/* Waits until sql ($1 = param) gives want. */
static void wait_sql(const char *sql, const char *param, long long want)
{
    tix_test_wait_scalar(db, sql, param, want, 15000);
}

/* ---- the shop ------------------------------------------------------------------------------ */

struct shop {
    char owner_id[TIX_UUID_LEN + 1], promoter_id[TIX_UUID_LEN + 1], scanner_id[TIX_UUID_LEN + 1];
    char stranger_id[TIX_UUID_LEN + 1]; /* owner of another organization */
    char *owner, *promoter, *scanner, *stranger;
    char org[TIX_UUID_LEN + 1], venue[TIX_UUID_LEN + 1], event[TIX_UUID_LEN + 1];
    char session[TIX_UUID_LEN + 1], stalls[TIX_UUID_LEN + 1], floor[TIX_UUID_LEN + 1];
    char base[160];  /* /api/v1/organizations/<org> */
    char types[160]; /* /api/v1/events/<event>/ticket-types */
};

/* A chart of SEATS seats in one row plus a standing floor of 100. */
static void make_venue(struct shop *s)
{
    char path[240], body[2048];
    snprintf(path, sizeof(path), "%s/venues", s->base);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, s->promoter,
                          "{\"name\":\"Hall\",\"address\":{\"line1\":\"1 Rue\",\"city\":\"Paris\","
                          "\"postal_code\":\"75001\",\"country\":\"FR\"},\"timezone\":"
                          "\"Europe/Paris\",\"capacity\":500}",
                          tix_shop_wait5, &r),
                 201, "%s", r.body);
    snprintf(s->venue, sizeof(s->venue), "%s", tix_http_str(&r, "id"));
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/venues/%s", s->venue);
    tix_shop_wait_visible(NULL, path);
    size_t n = (size_t)snprintf(body, sizeof(body),
                                "{\"chart\":{\"capacity\":%d,\"sections\":[{\"id\":\"stalls\","
                                "\"name\":\"Stalls\",\"rows\":[{\"id\":\"a\",\"label\":\"A\","
                                "\"seats\":[",
                                SEATS + 100);
    for (int i = 1; i <= SEATS; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              "%s{\"id\":\"a%d\",\"label\":\"%d\",\"x\":%d,\"y\":0}",
                              i > 1 ? "," : "", i, i, i);
    snprintf(body + n, sizeof(body) - n,
             "]}]}],\"ga_areas\":[{\"id\":\"floor\",\"name\":\"Floor\",\"capacity\":100}]}}");
    snprintf(path, sizeof(path), "%s/venues/%s/seating-chart", s->base, s->venue);
    expect(200, "POST", path, s->promoter, body);
    snprintf(path, sizeof(path), "/api/v1/venues/%s/seating-chart", s->venue);
    tix_shop_wait_visible(NULL, path);
}

static void make_event(struct shop *s)
{
    char path[240], body[1024];
    snprintf(path, sizeof(path), "%s/events", s->base);
    snprintf(body, sizeof(body),
             "{\"name\":\"Sale Night\",\"category\":\"concert\",\"venue_id\":\"%s\","
             "\"chart_version\":1,\"timezone\":\"Europe/Paris\",\"visibility\":\"public\","
             "\"capacity\":%d,\"sessions\":[{\"starts_at\":\"2030-06-05T19:00:00Z\","
             "\"ends_at\":\"2030-06-05T22:00:00Z\"}]}",
             s->venue, SEATS + 100);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, s->promoter, body, tix_shop_wait5, &r), 201, "%s", r.body);
    snprintf(s->event, sizeof(s->event), "%s", tix_http_str(&r, "id"));
    snprintf(s->session, sizeof(s->session), "%s",
             json_string_value(json_array_get(json_object_get(r.json, "session_ids"), 0)));
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "%s/events/%s", s->base, s->event);
    tix_shop_wait_visible(s->promoter, path);
    snprintf(path, sizeof(path), "%s/events/%s/publish", s->base, s->event);
    expect(200, "POST", path, s->promoter, NULL);
    snprintf(path, sizeof(path), "%s/events/%s/open-sales", s->base, s->event);
    expect(200, "POST", path, s->promoter, NULL);
    snprintf(path, sizeof(path), "/api/v1/events/%s", s->event);
    tix_shop_wait_visible(NULL, path);
    /* the process manager loads the chart's seats into the sale */
    wait_sql("SELECT count(*) FROM rm.seats WHERE event_id = $1", s->event, SEATS);
}

/* An organization with an event on sale: a reserved type over the seats, a floor type of
 * floor_quantity, holds of hold_minutes. */
static void open_shop(struct shop *s, int floor_quantity, int hold_minutes)
{
    s->owner = tix_shop_user(s->owner_id);
    s->promoter = tix_shop_user(s->promoter_id);
    s->scanner = tix_shop_user(s->scanner_id);
    s->stranger = tix_shop_user(s->stranger_id);
    tix_shop_org(s->owner, "Sale Org", NULL, s->org);
    snprintf(s->base, sizeof(s->base), "/api/v1/organizations/%s", s->org);
    char other[TIX_UUID_LEN + 1];
    tix_shop_org(s->stranger, "Sale Org", NULL, other);
    tix_shop_member(s->owner, s->org, s->promoter_id, "promoter", s->promoter);
    tix_shop_member(s->owner, s->org, s->scanner_id, "scanner", s->scanner);
    make_venue(s);
    make_event(s);
    snprintf(s->types, sizeof(s->types), "/api/v1/events/%s/ticket-types", s->event);
    char path[200], body[512];
    snprintf(path, sizeof(path), "/api/v1/events/%s/sale-settings", s->event);
    snprintf(body, sizeof(body), "{\"hold_minutes\":%d,\"fee_fixed_minor\":100}", hold_minutes);
    expect(200, "PUT", path, s->promoter, body);
    tix_shop_type(s->promoter, s->event,
                  "{\"name\":\"Stalls\",\"kind\":\"reserved\",\"price_minor\":5000,"
                  "\"currency\":\"EUR\",\"sections\":[\"stalls\"]}",
                  s->stalls);
    snprintf(body, sizeof(body),
             "{\"name\":\"Floor\",\"kind\":\"general_admission\",\"price_minor\":2000,"
             "\"currency\":\"EUR\",\"quantity\":%d}",
             floor_quantity);
    tix_shop_type(s->promoter, s->event, body, s->floor);
}

static void close_shop(struct shop *s)
{
    free(s->owner);
    free(s->promoter);
    free(s->scanner);
    free(s->stranger);
}

/* ---- buying -------------------------------------------------------------------------------- */

/* POSTs a hold of quantity of type for token; returns the status, hold id in id (if 201). */
static long hold_qty(const struct shop *s, const char *token, const char *type, int quantity,
                     char id[TIX_UUID_LEN + 1], struct tix_http_resp *out)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"event_id\":\"%s\",\"ticket_type_id\":\"%s\",\"quantity\":%d}",
             s->event, type, quantity);
    struct tix_http_resp r;
    long status = tix_http("POST", "/api/v1/cart/items", token, body, NULL, &r);
    if (status == 201 && id != NULL)
        snprintf(id, TIX_UUID_LEN + 1, "%s", tix_http_str(&r, "id"));
    if (out != NULL)
        *out = r;
    else
        tix_http_resp_deinit(&r);
    return status;
}

/* Places an order from the hold; returns its id and total. */
static void place_order(const char *token, const char *event, const char *hold,
                        char id[TIX_UUID_LEN + 1], long long *total)
{
    char body[160];
    snprintf(body, sizeof(body), "{\"hold_id\":\"%s\",\"event_id\":\"%s\"}", hold, event);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", "/api/v1/orders", token, body, NULL, &r), 201, "%s", r.body);
    snprintf(id, TIX_UUID_LEN + 1, "%s", tix_http_str(&r, "id"));
    cr_assert_eq(strlen(tix_http_str(&r, "number")), 11, "%s", r.body); /* ABCD-000001 */
    *total = json_integer_value(json_object_get(r.json, "total_minor"));
    tix_http_resp_deinit(&r);
}

/* The payment worker's part: payment.apply succeeded for the order (as system:payments). */
static void pay(const struct shop *s, const char *order, long long total)
{
    tix_shop_pay(s->event, order, total);
}

/* "held/sold/available" of type from the public availability route. */
static void expect_availability(const struct shop *s, const char *type, const char *want)
{
    char path[240], got[64] = "";
    snprintf(path, sizeof(path), "%s/%s/availability", s->types, type);
    struct tix_http_resp r;
    for (int i = 0; i < 150 && strcmp(got, want) != 0; i++) {
        if (i > 0)
            usleep(50000);
        cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, &r), 200, "%s", r.body);
        json_t *one = json_array_get(json_object_get(r.json, "sessions"), 0);
        snprintf(got, sizeof(got), "%lld/%lld/%lld",
                 (long long)json_integer_value(json_object_get(one, "held")),
                 (long long)json_integer_value(json_object_get(one, "sold")),
                 (long long)json_integer_value(json_object_get(one, "available")));
        tix_http_resp_deinit(&r);
    }
    cr_assert_str_eq(got, want, "availability of %s", type);
}

/* ---- the race ------------------------------------------------------------------------------ */

#define BUYERS  240
#define THREADS 48

struct race {
    const struct shop *s;
    int first;
    int won, refused, other;
    char holds[BUYERS / THREADS][TIX_UUID_LEN + 1];
    int winners[BUYERS / THREADS]; /* the token index of each hold */
    char *tokens[BUYERS / THREADS];
    pthread_barrier_t *go;
};

static void *buyer(void *arg)
{
    struct race *r = arg;
    pthread_barrier_wait(r->go);
    for (int i = 0; i < BUYERS / THREADS; i++) {
        struct tix_http_resp resp;
        long status = hold_qty(r->s, r->tokens[i], r->s->floor, 1, r->holds[r->won], &resp);
        bool is_stock = status == 409 && strstr(resp.body, "insufficient") != NULL;
        if (status == 201)
            r->winners[r->won] = i;
        r->won += status == 201;
        r->refused += is_stock;
        r->other += status != 201 && !is_stock;
        if (status != 201 && !is_stock)
            fprintf(stderr, "buyer got %ld: %s\n", status, resp.body);
        tix_http_resp_deinit(&resp);
    }
    return NULL;
}

Test(sale_http, hundreds_of_buyers_on_the_last_ten_places_exactly_ten_are_sold)
{
    struct shop s;
    open_shop(&s, 10, 10);
    struct race races[THREADS];
    pthread_t threads[THREADS];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, THREADS);
    char ids[BUYERS][TIX_UUID_LEN + 1];
    for (int t = 0; t < THREADS; t++) {
        races[t] = (struct race){.s = &s, .go = &go};
        for (int i = 0; i < BUYERS / THREADS; i++)
            races[t].tokens[i] = tix_shop_user(ids[t * (BUYERS / THREADS) + i]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_create(&threads[t], NULL, buyer, &races[t]);
    int won = 0, refused = 0, other = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        won += races[t].won;
        refused += races[t].refused;
        other += races[t].other;
    }
    pthread_barrier_destroy(&go);
    cr_assert_eq(won, 10, "%d buyers got a hold", won);
    cr_assert_eq(refused, BUYERS - 10, "%d refused for stock, %d otherwise", refused, other);
    expect_availability(&s, s.floor, "10/0/0");
    /* every winner orders and pays: ten sold, ten tickets, nothing left */
    int paid = 0;
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < races[t].won; i++) {
            char order[TIX_UUID_LEN + 1];
            long long total = 0;
            place_order(races[t].tokens[races[t].winners[i]], s.event, races[t].holds[i], order,
                        &total);
            cr_assert_eq(total, 2000 + 100, "price plus the fixed fee");
            pay(&s, order, total);
            paid++;
        }
    }
    cr_assert_eq(paid, 10);
    expect_availability(&s, s.floor, "0/10/0");
    /* the public event shows its ticket types, the floor sold out */
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/events/%s", s.event);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, &r), 200, "%s", r.body);
    const json_t *types = json_object_get(r.json, "ticket_types"), *floor = NULL;
    cr_assert_eq(json_array_size(types), 2, "%s", r.body);
    for (size_t i = 0; i < json_array_size(types); i++)
        if (strcmp(tix_json_str(json_array_get(types, i), "id"), s.floor) == 0)
            floor = json_array_get(types, i);
    cr_assert_not_null(floor, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(floor, "available")), 0, "%s", r.body);
    tix_http_resp_deinit(&r);
    /* the public listing filters by ticket price (Floor 20.00, Stalls 50.00) */
    static const struct {
        const char *range;
        size_t want;
    } prices[] = {
        {"price_min=4000&price_max=6000", 1}, {"price_max=1999", 0}, {"price_min=5001", 0}};
    for (size_t i = 0; i < sizeof(prices) / sizeof(prices[0]); i++) {
        snprintf(path, sizeof(path), "/api/v1/events?organization_id=%s&%s", s.org,
                 prices[i].range);
        cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, &r), 200, "%s", r.body);
        cr_assert_eq(json_array_size(json_object_get(r.json, "items")), prices[i].want, "%s: %s",
                     prices[i].range, r.body);
        tix_http_resp_deinit(&r);
    }
    snprintf(path, sizeof(path), "/api/v1/events?price_max=cheap");
    cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, &r), 422, "%s", r.body);
    cr_assert(tix_http_has_error_field(&r, "price_max"), "%s", r.body);
    tix_http_resp_deinit(&r);
    wait_sql("SELECT count(*) FROM rm.tickets WHERE event_id = $1", s.event, 10);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < BUYERS / THREADS; i++)
            free(races[t].tokens[i]);
    close_shop(&s);
}

/* ---- a buyer's way ------------------------------------------------------------------------- */

Test(sale_http, a_buyer_holds_seats_orders_cancels_and_the_seats_come_back)
{
    struct shop s;
    open_shop(&s, 50, 10);
    char buyer_id[TIX_UUID_LEN + 1], rival_id[TIX_UUID_LEN + 1], path[300], body[512];
    char *buyer = tix_shop_user(buyer_id), *rival = tix_shop_user(rival_id);
    /* seats a1, a2 for the buyer; the rival can't have a2 */
    snprintf(body, sizeof(body),
             "{\"event_id\":\"%s\",\"ticket_type_id\":\"%s\",\"seats\":[\"a1\",\"a2\"]}", s.event,
             s.stalls);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", "/api/v1/cart/lock-seats", buyer, body, NULL, &r), 201, "%s",
                 r.body);
    char hold[TIX_UUID_LEN + 1];
    snprintf(hold, sizeof(hold), "%s", tix_http_str(&r, "id"));
    cr_assert_not_null(tix_http_str(&r, "expires_at"), "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(body, sizeof(body),
             "{\"event_id\":\"%s\",\"ticket_type_id\":\"%s\",\"seats\":[\"a2\",\"a3\"]}", s.event,
             s.stalls);
    tix_http("POST", "/api/v1/cart/lock-seats", rival, body, NULL, &r);
    tix_shop_expect_problem(&r, 409, NULL);
    cr_assert(strstr(r.body, "seat-unavailable") != NULL && strstr(r.body, "a2") != NULL, "%s",
              r.body);
    tix_http_resp_deinit(&r);
    expect_availability(&s, s.stalls, "2/0/8");
    /* the seat map shows them held */
    snprintf(path, sizeof(path), "/api/v1/events/%s/seats", s.event);
    cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, &r), 200, "%s", r.body);
    json_t *seats = json_object_get(r.json, "seats");
    cr_assert_eq(json_array_size(seats), SEATS);
    int held = 0;
    for (size_t i = 0; i < json_array_size(seats); i++)
        held += strcmp(tix_json_str(json_array_get(seats, i), "status"), "held") == 0;
    cr_assert_eq(held, 2, "%s", r.body);
    tix_http_resp_deinit(&r);
    /* the cart, an extension, the order */
    wait_sql("SELECT count(*) FROM rm.holds WHERE buyer_id = $1", buyer_id, 1);
    cr_assert_eq(tix_http("GET", "/api/v1/cart", buyer, NULL, NULL, &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    json_t *item = json_array_get(json_object_get(r.json, "items"), 0);
    cr_assert_eq(json_integer_value(json_object_get(item, "subtotal_minor")), 10000, "%s", r.body);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("POST", "/api/v1/cart/extend-lock", buyer, NULL, NULL, &r), 200, "%s",
                 r.body);
    tix_http_resp_deinit(&r);
    wait_sql("SELECT extensions FROM rm.holds WHERE buyer_id = $1", buyer_id, 1);
    char order[TIX_UUID_LEN + 1];
    long long total = 0;
    place_order(buyer, s.event, hold, order, &total);
    cr_assert_eq(total, 10000 + 200, "two seats and two fixed fees");
    snprintf(path, sizeof(path), "/api/v1/orders/%s", order);
    tix_shop_wait_visible(buyer, path);
    cr_assert_eq(tix_http("GET", path, buyer, NULL, NULL, &r), 200);
    cr_assert_str_eq(tix_http_str(&r, "status"), "pending_payment");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "fees_minor")), 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "lines")), 1, "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_http("GET", path, rival, NULL, NULL, &r); /* somebody else's order */
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    expect(200, "GET", path, s.promoter, NULL); /* the organizer's support */
    tix_http("GET", path, s.stranger, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("GET", "/api/v1/users/me/orders", buyer, NULL, NULL, &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/cancel", order);
    tix_http("POST", path, rival, NULL, tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    expect(200, "POST", path, buyer, NULL);
    expect_availability(&s, s.stalls, "0/0/10");
    snprintf(path, sizeof(path), "/api/v1/orders?status=cancelled");
    wait_sql("SELECT count(*) FROM rm.orders WHERE buyer_id = $1 AND status = 'cancelled'",
             buyer_id, 1);
    cr_assert_eq(tix_http("GET", path, buyer, NULL, NULL, &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    tix_http_resp_deinit(&r);
    /* the rival now gets a2 and a3, then clears the cart */
    snprintf(body, sizeof(body),
             "{\"event_id\":\"%s\",\"ticket_type_id\":\"%s\",\"seats\":[\"a2\",\"a3\"]}", s.event,
             s.stalls);
    expect(201, "POST", "/api/v1/cart/lock-seats", rival, body);
    wait_sql("SELECT count(*) FROM rm.holds WHERE buyer_id = $1 AND state = 'active'", rival_id, 1);
    cr_assert_eq(tix_http("DELETE", "/api/v1/cart", rival, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "released")), 1, "%s", r.body);
    tix_http_resp_deinit(&r);
    expect_availability(&s, s.stalls, "0/0/10");
    free(buyer);
    free(rival);
    close_shop(&s);
}

/* ---- the door ------------------------------------------------------------------------------ */

Test(sale_http, scanners_admit_a_ticket_once)
{
    struct shop s;
    open_shop(&s, 50, 10);
    char buyer_id[TIX_UUID_LEN + 1], hold[TIX_UUID_LEN + 1], order[TIX_UUID_LEN + 1];
    char *buyer = tix_shop_user(buyer_id);
    cr_assert_eq(hold_qty(&s, buyer, s.floor, 1, hold, NULL), 201);
    long long total = 0;
    place_order(buyer, s.event, hold, order, &total);
    pay(&s, order, total);
    wait_sql("SELECT count(*) FROM rm.tickets WHERE order_id = $1", order, 1);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", "/api/v1/users/me/tickets", buyer, NULL, NULL, &r), 200);
    json_t *items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 1, "%s", r.body);
    char ticket[TIX_UUID_LEN + 1], path[200], body[1024];
    snprintf(ticket, sizeof(ticket), "%s", tix_json_str(json_array_get(items, 0), "id"));
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/tickets", order);
    cr_assert_eq(tix_http("GET", path, buyer, NULL, NULL, &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/tickets/%s", ticket);
    expect(200, "GET", path, buyer, NULL);
    expect(200, "GET", path, s.scanner, NULL);
    tix_http("GET", path, s.stranger, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    /* the door: the holder can't scan themselves in, a stranger can't know it exists */
    snprintf(path, sizeof(path), "/api/v1/events/%s/scan", s.event);
    snprintf(body, sizeof(body), "{\"ticket_id\":\"%s\",\"device_id\":\"gate-1\"}", ticket);
    tix_http("POST", path, buyer, body, NULL, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    tix_http("POST", path, s.stranger, body, NULL, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    tix_http("POST", path, s.scanner, "{\"device_id\":\"gate-1\"}", NULL, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "ticket_id"), "%s", r.body);
    tix_http_resp_deinit(&r);
    /* the holder's QR code; a tampered payload is refused, the real one admits */
    char qr_path[200], payload[600], forged[700];
    snprintf(qr_path, sizeof(qr_path), "/api/v1/tickets/%s/qr-code?format=text", ticket);
    tix_http("GET", qr_path, s.stranger, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("GET", qr_path, buyer, NULL, NULL, &r), 200, "%s", r.body);
    snprintf(payload, sizeof(payload), "%s", tix_http_str(&r, "payload"));
    cr_assert(strncmp(payload, "TIX1.", 5) == 0, "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(qr_path, sizeof(qr_path), "/api/v1/tickets/%s/qr-code", ticket);
    cr_assert_eq(tix_http("GET", qr_path, buyer, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert_str_eq(r.content_type, "image/svg+xml");
    cr_assert(strstr(r.body, "<svg") != NULL);
    tix_http_resp_deinit(&r);
    snprintf(forged, sizeof(forged), "%s", payload);
    char *sig = strrchr(forged, '.');
    sig[1] = sig[1] == 'A' ? 'B' : 'A';
    snprintf(body, sizeof(body), "{\"qr\":\"%s\",\"device_id\":\"gate-1\"}", forged);
    tix_http("POST", path, s.scanner, body, NULL, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "qr"), "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(body, sizeof(body), "{\"qr\":\"%s\",\"device_id\":\"gate-1\"}", payload);
    cr_assert_eq(tix_http("POST", path, s.scanner, body, NULL, &r), 200, "%s", r.body);
    cr_assert(json_is_true(json_object_get(r.json, "admitted")), "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/tickets/%s/validate", ticket);
    tix_http("POST", path, s.scanner, "{\"device_id\":\"gate-2\"}", NULL, &r);
    tix_shop_expect_problem(&r, 409, NULL);
    cr_assert(strstr(r.body, "already used at") != NULL && strstr(r.body, "gate-1") != NULL, "%s",
              r.body);
    tix_http_resp_deinit(&r);
    tix_http("POST", path, s.stranger, "{\"device_id\":\"gate-2\"}", NULL, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    tix_http("POST", path, s.scanner, "{\"device_id\":\"gate-2\",\"direction\":\"up\"}", NULL, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "direction"), "%s", r.body);
    tix_http_resp_deinit(&r);
    wait_sql("SELECT scans FROM rm.tickets WHERE id = $1", ticket, 1);
    free(buyer);
    close_shop(&s);
}

/* ---- the clock ----------------------------------------------------------------------------- */

/* Restarts the processor with its clock offset_s ahead. */
static void restart_processor(int offset_s)
{
    tix_test_kill(stack.processor, SIGTERM);
    char env[64];
    snprintf(env, sizeof(env), "TIXMO_CLOCK_OFFSET_S=%d", offset_s);
    const char *const extra[] = {env, NULL};
    stack.processor = tix_test_spawn("tixmo-processor", extra);
}

Test(sale_http, the_processor_clock_expires_holds_and_extensions_postpone_it)
{
    struct shop s;
    open_shop(&s, 50, 1);
    char a_id[TIX_UUID_LEN + 1], b_id[TIX_UUID_LEN + 1], ha[TIX_UUID_LEN + 1];
    char hb[TIX_UUID_LEN + 1];
    char *a = tix_shop_user(a_id), *b = tix_shop_user(b_id);
    cr_assert_eq(hold_qty(&s, a, s.floor, 2, ha, NULL), 201);
    cr_assert_eq(hold_qty(&s, b, s.floor, 3, hb, NULL), 201);
    char body[128];
    snprintf(body, sizeof(body), "{\"hold_id\":\"%s\"}", hb);
    wait_sql("SELECT count(*) FROM rm.holds WHERE id = $1", hb, 1);
    expect(200, "POST", "/api/v1/cart/extend-lock", b, body); /* 1 + 5 minutes */
    expect_availability(&s, s.floor, "5/0/45");
    /* 90 s later by the processor's clock: a's hold lapsed, b's did not; nothing else is sent,
     * so only the processor's own hold.expire can end it */
    restart_processor(90);
    wait_sql("SELECT count(*) FROM rm.holds WHERE id = $1 AND state = 'expired'", ha, 1);
    expect_availability(&s, s.floor, "3/0/47");
    const char *params[] = {ha};
    cr_assert_eq(
        tix_test_scalar(db,
                        "SELECT count(*) FROM events WHERE type = 'hold.expired' AND"
                        " data::jsonb->'hold_ids' ? $1 AND metadata->>'actor' = 'system:clock'",
                        1, params),
        1);
    wait_sql("SELECT count(*) FROM rm.holds WHERE id = $1 AND state = 'active'", hb, 1);
    /* a can't order the lapsed hold; b's cart still holds it */
    snprintf(body, sizeof(body), "{\"hold_id\":\"%s\"}", ha);
    struct tix_http_resp r;
    tix_http("POST", "/api/v1/orders", a, body, NULL, &r);
    tix_shop_expect_problem(&r, 404, NULL); /* no active hold of theirs */
    tix_http_resp_deinit(&r);
    restart_processor(0);
    free(a);
    free(b);
    close_shop(&s);
}

/* ---- access and input ---------------------------------------------------------------------- */

Test(sale_http, management_routes_check_roles_organizations_and_input)
{
    struct shop s;
    open_shop(&s, 50, 10);
    char path[300];
    struct tix_http_resp r;
    const char *type_body = "{\"name\":\"VIP\",\"kind\":\"vip\",\"price_minor\":9000,"
                            "\"currency\":\"EUR\",\"quantity\":5}";
    /* a scanner is below the role, another organization's owner does not see the event */
    tix_http("POST", s.types, s.scanner, type_body, tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 403, NULL);
    tix_http_resp_deinit(&r);
    tix_http("POST", s.types, s.stranger, type_body, tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    tix_http("POST", s.types, s.promoter, "{\"name\":\"\",\"price_minor\":-1}", tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "name") && tix_http_has_error_field(&r, "price_minor") &&
                  tix_http_has_error_field(&r, "currency") && tix_http_has_error_field(&r, "kind"),
              "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_http("POST", s.types, s.promoter,
             "{\"name\":\"USD\",\"kind\":\"vip\",\"price_minor\":1,\"currency\":\"USD\","
             "\"quantity\":5}",
             tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 409, NULL); /* one currency per event, decided by the aggregate */
    cr_assert(tix_http_has_error_field(&r, "currency"), "%s", r.body);
    tix_http_resp_deinit(&r);
    /* update and delete */
    snprintf(path, sizeof(path), "%s/%s", s.types, s.floor);
    tix_http("PATCH", path, s.stranger, "{\"price_minor\":2500}", tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    tix_http("PATCH", path, s.promoter, "{\"price_minor\":\"x\"}", tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "price_minor"), "%s", r.body);
    tix_http_resp_deinit(&r);
    expect(200, "PATCH", path, s.promoter, "{\"price_minor\":2500}");
    char vip[TIX_UUID_LEN + 1];
    tix_shop_type(s.promoter, s.event, type_body, vip);
    snprintf(path, sizeof(path), "%s/%s", s.types, vip);
    tix_http("DELETE", path, s.scanner, NULL, tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 403, NULL);
    tix_http_resp_deinit(&r);
    expect(200, "DELETE", path, s.promoter, NULL);
    for (int i = 0; i < 100 && tix_http("GET", path, NULL, NULL, NULL, &r) == 200; i++) {
        tix_http_resp_deinit(&r);
        usleep(50000);
    }
    tix_http_resp_deinit(&r);
    tix_http("GET", path, NULL, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    /* the public list: floor at its new price, stalls; the VIP gone */
    cr_assert_eq(tix_http("GET", s.types, NULL, NULL, NULL, &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 2, "%s", r.body);
    tix_http_resp_deinit(&r);
    /* settings and pools */
    snprintf(path, sizeof(path), "/api/v1/events/%s/sale-settings", s.event);
    tix_http("PUT", path, s.promoter, "{\"hold_minutes\":0}", tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "hold_minutes"), "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_http("PUT", path, s.stranger, "{\"hold_minutes\":5}", tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/events/%s/pools", s.event);
    tix_http("POST", path, s.promoter, "{\"name\":\"Floor\",\"capacity\":0}", tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "capacity"), "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_http("POST", path, s.scanner, "{\"name\":\"Floor\",\"capacity\":40}", tix_shop_wait5, &r);
    tix_shop_expect_problem(&r, 403, NULL);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("POST", path, s.promoter, "{\"name\":\"Floor\",\"capacity\":40}",
                          tix_shop_wait5, &r),
                 200, "%s", r.body);
    cr_assert(tix_uuid_is_valid(tix_http_str(&r, "pool_id")), "%s", r.body);
    tix_http_resp_deinit(&r);
    close_shop(&s);
}

Test(sale_http, buyers_routes_check_their_input)
{
    struct shop s;
    open_shop(&s, 50, 10);
    char buyer_id[TIX_UUID_LEN + 1], body[256];
    char *buyer = tix_shop_user(buyer_id);
    struct tix_http_resp r;
    tix_http("POST", "/api/v1/cart/items", NULL, "{}", NULL, &r);
    tix_shop_expect_problem(&r, 401, NULL);
    tix_http_resp_deinit(&r);
    tix_http("POST", "/api/v1/cart/items", buyer, "{\"quantity\":1}", NULL, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "event_id"), "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(body, sizeof(body),
             "{\"event_id\":\"%s\",\"ticket_type_id\":\"%s\",\"quantity\":1,\"seats\":[\"a1\"]}",
             s.event, s.stalls);
    tix_http("POST", "/api/v1/cart/items", buyer, body, NULL, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "seats"), "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(body, sizeof(body), "{\"event_id\":\"%s\",\"ticket_type_id\":\"%s\",\"quantity\":11}",
             s.event, s.floor);
    tix_http("POST", "/api/v1/cart/items", buyer, body, NULL, &r);
    tix_shop_expect_problem(&r, 409, NULL); /* max_per_order 10 */
    cr_assert(strstr(r.body, "above-max") != NULL, "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_http("POST", "/api/v1/orders", buyer, "{\"hold_id\":\"nope\"}", NULL, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "hold_id"), "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_http("POST", "/api/v1/orders", buyer, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 404, NULL); /* an empty cart */
    tix_http_resp_deinit(&r);
    tix_http("GET", "/api/v1/orders?status=lost", buyer, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "status"), "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_http("GET", "/api/v1/tickets?limit=0", buyer, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 422, NULL);
    cr_assert(tix_http_has_error_field(&r, "limit"), "%s", r.body);
    tix_http_resp_deinit(&r);
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/cart/items/%s", s.event);
    tix_http("DELETE", path, buyer, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    free(buyer);
    close_shop(&s);
}

/* ---- live availability --------------------------------------------------------------------- */

struct stream {
    char url[256];
    struct tix_buf *seen; /* guarded by mu */
    pthread_mutex_t mu;
    int64_t first_change_us; /* when the first "event: availability" arrived */
    volatile int stop;
};

static size_t stream_cb(char *data, size_t size, size_t n, void *arg)
{
    struct stream *st = arg;
    pthread_mutex_lock(&st->mu);
    tix_buf_append(st->seen, data, size * n);
    tix_buf_append(st->seen, "", 1);
    st->seen->len--;
    if (st->first_change_us == 0 && strstr(st->seen->ptr, "event: availability") != NULL)
        st->first_change_us = tix_now_us();
    pthread_mutex_unlock(&st->mu);
    return size * n;
}

static int progress_cb(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return ((struct stream *)arg)->stop;
}

static void *listen_stream(void *arg)
{
    struct stream *st = arg;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, st->url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, st);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, st);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    return NULL;
}

static bool has_snapshot(void *arg)
{
    struct stream *st = arg;
    pthread_mutex_lock(&st->mu);
    bool is_there = st->seen->ptr != NULL && strstr(st->seen->ptr, "event: snapshot") != NULL;
    pthread_mutex_unlock(&st->mu);
    return is_there;
}

/* Watches the live stream of s's event, holds 4 floor tickets once the snapshot came, and
 * returns how long after the hold's answer the first change arrived (0: none within 1 s); sets
 * *has_counts when it carried the new counts. */
static int64_t stream_lag_of_hold(struct shop *s, bool *has_counts)
{
    struct tix_buf seen;
    tix_buf_init(&seen, 0);
    struct stream st = {.seen = &seen};
    pthread_mutex_init(&st.mu, NULL);
    snprintf(st.url, sizeof(st.url), "http://127.0.0.1:%s/api/v1/events/%s/availability/stream",
             tix_test_env("TIXMO_HTTP_PORT"), s->event);
    pthread_t t;
    pthread_create(&t, NULL, listen_stream, &st);
    cr_assert(tix_test_wait(has_snapshot, &st, 10000), "no snapshot came");
    usleep(300000); /* let earlier changes (the set-up's) pass */
    pthread_mutex_lock(&st.mu);
    st.first_change_us = 0;
    tix_buf_reset(&seen);
    pthread_mutex_unlock(&st.mu);
    char buyer_id[TIX_UUID_LEN + 1];
    char *buyer = tix_shop_user(buyer_id);
    cr_assert_eq(hold_qty(s, buyer, s->floor, 4, NULL, NULL), 201);
    int64_t decided_us = tix_now_us();
    for (int i = 0; i < 200 && st.first_change_us == 0; i++)
        usleep(5000);
    pthread_mutex_lock(&st.mu);
    int64_t lag_us = st.first_change_us != 0 ? st.first_change_us - decided_us : 0;
    *has_counts = seen.ptr != NULL && strstr(seen.ptr, "\"held\":4") != NULL;
    if (!*has_counts)
        fprintf(stderr, "the stream carried: %s\n", seen.ptr != NULL ? seen.ptr : "");
    pthread_mutex_unlock(&st.mu);
    st.stop = 1;
    pthread_join(t, NULL);
    tix_buf_deinit(&seen);
    pthread_mutex_destroy(&st.mu);
    free(buyer);
    return lag_us;
}

Test(sale_http, the_availability_stream_carries_a_change_within_100_ms)
{
    struct shop s;
    open_shop(&s, 50, 10);
    bool has_counts = false;
    int64_t lag_us = stream_lag_of_hold(&s, &has_counts);
    cr_assert_neq(lag_us, 0, "no change came");
    cr_assert(has_counts, "the change does not carry the new counts");
    fprintf(stderr, "availability stream: change arrived %lld us after the hold's answer\n",
            (long long)lag_us);
    cr_assert_lt(lag_us, 100000, "the change took %lld us", (long long)lag_us);
    /* an unknown or draft event has no stream */
    struct tix_http_resp r;
    char path[200];
    char unknown[TIX_UUID_LEN + 1];
    tix_uuid_v7(unknown);
    snprintf(path, sizeof(path), "/api/v1/events/%s/availability/stream", unknown);
    tix_http("GET", path, NULL, NULL, NULL, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    close_shop(&s);
}

/* The sale read model has a loop of its own in the projector: a live stream does not wait for
 * the other read models. Search's holds table is locked meanwhile, so the step of every other
 * read model of the event's partition waits; the push still comes within 100 ms. */
Test(sale_http, the_availability_stream_does_not_wait_for_the_other_read_models)
{
    struct shop s;
    open_shop(&s, 50, 10);
    struct tix_db *owner = tix_test_db("TIXMO_DB_URL"); /* the read models' owner */
    PGresult *res = NULL;
    cr_assert_eq(tix_db_exec(owner,
                             "SELECT active_version FROM public.projections WHERE name = 'search'",
                             0, NULL, &res, NULL),
                 TIX_OK);
    char lock[160];
    snprintf(lock, sizeof(lock), "LOCK TABLE rm_search_v%s.search_holds IN ACCESS EXCLUSIVE MODE",
             PQgetvalue(res, 0, 0));
    PQclear(res);
    cr_assert_eq(tix_db_script(owner, "BEGIN", NULL), TIX_OK);
    cr_assert_eq(tix_db_script(owner, lock, NULL), TIX_OK);
    bool has_counts = false;
    int64_t lag_us = stream_lag_of_hold(&s, &has_counts);
    /* meanwhile search has not seen the hold: its step waits for the lock */
    cr_assert_eq(tix_db_exec(owner,
                             "SELECT count(*) FROM rm.search_holds WHERE event_id = $1::uuid", 1,
                             (const char *const[]){s.event}, &res, NULL),
                 TIX_OK);
    cr_assert_str_eq(PQgetvalue(res, 0, 0), "0", "search applied the hold through the lock");
    PQclear(res);
    tix_db_script(owner, "ROLLBACK", NULL);
    tix_db_close(owner);
    cr_assert_neq(lag_us, 0, "no change came while another read model waited");
    cr_assert(has_counts, "the change does not carry the new counts");
    fprintf(stderr, "availability stream, search held back: change arrived %lld us after\n",
            (long long)lag_us);
    cr_assert_lt(lag_us, 100000, "the change took %lld us", (long long)lag_us);
    close_shop(&s);
}
