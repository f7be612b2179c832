/* shop.c - catalog fixtures over HTTP for integration tests (see shop.h) */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "harness.h"
#include "shop.h"
#include "tix/bus.h"
#include "tix/json.h"

const char *const tix_shop_wait5[] = {"Prefer: wait=5", NULL};

struct visible {
    const char *token;
    char path[400];
    size_t want;
    long status;
};

static bool answers(void *ctx)
{
    struct visible *v = ctx;
    struct tix_http_resp r;
    long status = tix_http("GET", v->path, v->token, NULL, NULL, &r);
    tix_http_resp_deinit(&r);
    return status == v->status;
}

void tix_shop_wait_status(const char *token, const char *path, long want)
{
    struct visible v = {.token = token, .status = want};
    snprintf(v.path, sizeof(v.path), "%s", path);
    cr_assert(tix_test_wait(answers, &v, 15000), "GET %s never answered %ld", path, want);
}

void tix_shop_wait_visible(const char *token, const char *path)
{
    tix_shop_wait_status(token, path, 200);
}

static bool has_count(void *ctx)
{
    struct visible *v = ctx;
    struct tix_http_resp r;
    tix_http("GET", v->path, v->token, NULL, NULL, &r);
    bool is_done = r.status == 200 && json_array_size(json_object_get(r.json, "items")) == v->want;
    tix_http_resp_deinit(&r);
    return is_done;
}

bool tix_shop_wait_count(const char *token, const char *path, size_t want, int timeout_ms)
{
    struct visible v = {.token = token, .want = want};
    snprintf(v.path, sizeof(v.path), "%s", path);
    return tix_test_wait(has_count, &v, timeout_ms);
}

char *tix_shop_user(char id[TIX_UUID_LEN + 1])
{
    tix_uuid_v7(id);
    return tix_test_token(id, 600);
}

void tix_shop_org(const char *token, const char *name, const char *slug, char org[TIX_UUID_LEN + 1])
{
    char fresh[32], body[256], path[96];
    if (slug == NULL) {
        char id[TIX_UUID_LEN + 1];
        tix_uuid_v7(id);
        snprintf(fresh, sizeof(fresh), "o-%.8s%.4s", id + 24, id + 9);
        slug = fresh;
    }
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"slug\":\"%s\",\"type\":\"promoter\"}", name,
             slug);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", "/api/v1/organizations", token, body, tix_shop_wait5, &r), 201,
                 "%s", r.body);
    snprintf(org, TIX_UUID_LEN + 1, "%s", tix_http_str(&r, "id"));
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org);
    cr_assert_str_eq(r.location, path);
    tix_http_resp_deinit(&r);
    tix_shop_wait_visible(token, path);
}

void tix_shop_member(const char *owner, const char *org, const char *user_id, const char *role,
                     const char *token)
{
    char path[160], body[128];
    snprintf(path, sizeof(path), "/api/v1/organizations/%s/members", org);
    snprintf(body, sizeof(body), "{\"user_id\":\"%s\",\"role\":\"%s\"}", user_id, role);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, owner, body, tix_shop_wait5, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org);
    tix_shop_wait_visible(token, path);
}

void tix_shop_register(struct tix_db *db, const char *email, const char *password, const char *name,
                       char id[TIX_UUID_LEN + 1])
{
    char body[400], named[160] = "";
    if (name != NULL)
        snprintf(named, sizeof(named), ",\"name\":\"%s\"", name);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"%s}", email, password,
             named);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", "/api/v1/auth/register", NULL, body, tix_shop_wait5, &r), 201,
                 "%s", r.body);
    snprintf(id, TIX_UUID_LEN + 1, "%s", tix_http_str(&r, "user_id"));
    tix_http_resp_deinit(&r);
    tix_test_wait_scalar(db, "SELECT count(*) FROM rm.users WHERE id = $1::uuid", id, 1, 30000);
}

void tix_shop_verify(struct tix_db *db, const char *token, const char *user)
{
    char body[300];
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", "/api/v1/auth/verify-email", NULL, body, tix_shop_wait5, &r), 200,
                 "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_test_wait_scalar(db, "SELECT count(*) FROM rm.users WHERE id = $1::uuid AND email_verified",
                         user, 1, 30000);
}

void tix_shop_offer(const char *who, const char *ticket, const char *email,
                    char transfer[TIX_UUID_LEN + 1])
{
    char path[200], body[160];
    snprintf(path, sizeof(path), "/api/v1/tickets/%s/transfer", ticket);
    snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, who, body, NULL, &r), 200, "%s", r.body);
    snprintf(transfer, TIX_UUID_LEN + 1, "%s",
             tix_json_str(json_object_get(r.json, "result"), "transfer_id"));
    tix_http_resp_deinit(&r);
}

void tix_shop_accept(const char *who, const char *transfer, char ticket[TIX_UUID_LEN + 1])
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/ticket-transfers/%s/accept", transfer);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, who, "{}", NULL, &r), 200, "%s", r.body);
    snprintf(ticket, TIX_UUID_LEN + 1, "%s",
             tix_json_str(json_object_get(r.json, "result"), "ticket_id"));
    tix_http_resp_deinit(&r);
    cr_assert(tix_uuid_is_valid(ticket), "no new ticket id");
}

void tix_shop_open(struct tix_shop *s)
{
    s->owner = tix_shop_user(s->owner_id);
    s->promoter = tix_shop_user(s->promoter_id);
    s->scanner = tix_shop_user(s->scanner_id);
    snprintf(s->tag, sizeof(s->tag), "t%.8s%.4s", s->owner_id + 24, s->owner_id + 9);
    char name[32];
    snprintf(name, sizeof(name), "Shop %s", s->tag);
    tix_shop_org(s->owner, name, s->tag, s->org);
    snprintf(s->base, sizeof(s->base), "/api/v1/organizations/%s", s->org);
    tix_shop_member(s->owner, s->org, s->promoter_id, "promoter", s->promoter);
    tix_shop_member(s->owner, s->org, s->scanner_id, "scanner", s->scanner);
}

void tix_shop_close(struct tix_shop *s)
{
    free(s->owner);
    free(s->promoter);
    free(s->scanner);
}

void tix_shop_venue(const struct tix_shop *s, const char *city, const char *location,
                    char venue[TIX_UUID_LEN + 1])
{
    char path[200], body[768], where[160] = "";
    if (location != NULL)
        snprintf(where, sizeof(where), ",\"location\":%s", location);
    snprintf(path, sizeof(path), "%s/venues", s->base);
    snprintf(body, sizeof(body),
             "{\"name\":\"Hall of %s\",\"address\":{\"line1\":\"1 Main Street\",\"city\":\"%s\","
             "\"postal_code\":\"75008\",\"country\":\"FR\"},\"timezone\":\"Europe/Paris\","
             "\"capacity\":500%s}",
             city, city, where);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, s->promoter, body, tix_shop_wait5, &r), 201, "%s", r.body);
    snprintf(venue, TIX_UUID_LEN + 1, "%s", tix_http_str(&r, "id"));
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/venues/%s", venue);
    tix_shop_wait_visible(NULL, path);
}

void tix_shop_event(const struct tix_shop *s, const char *body, char event[TIX_UUID_LEN + 1])
{
    char path[200];
    snprintf(path, sizeof(path), "%s/events", s->base);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, s->promoter, body, tix_shop_wait5, &r), 201, "%s", r.body);
    snprintf(event, TIX_UUID_LEN + 1, "%s", tix_http_str(&r, "id"));
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "%s/events/%s", s->base, event);
    tix_shop_wait_visible(s->promoter, path);
}

long tix_shop_act(const struct tix_shop *s, const char *token, const char *event,
                  const char *action, const char *body)
{
    char path[240];
    snprintf(path, sizeof(path), "%s/events/%s/%s", s->base, event, action);
    struct tix_http_resp r;
    long status = tix_http("POST", path, token, body, tix_shop_wait5, &r);
    tix_http_resp_deinit(&r);
    return status;
}

void tix_shop_type(const char *token, const char *event, const char *body,
                   char type[TIX_UUID_LEN + 1])
{
    char path[200], want[240];
    snprintf(path, sizeof(path), "/api/v1/events/%s/ticket-types", event);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, token, body, tix_shop_wait5, &r), 201, "%s", r.body);
    snprintf(type, TIX_UUID_LEN + 1, "%s", tix_http_str(&r, "id"));
    snprintf(want, sizeof(want), "%s/%s", path, type);
    cr_assert_str_eq(r.location, want);
    tix_http_resp_deinit(&r);
    tix_shop_wait_visible(NULL, want);
}

void tix_shop_hold(const char *buyer, const char *event, const char *type, int quantity,
                   char hold[TIX_UUID_LEN + 1])
{
    char body[256];
    snprintf(body, sizeof(body), "{\"event_id\":\"%s\",\"ticket_type_id\":\"%s\",\"quantity\":%d}",
             event, type, quantity);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", "/api/v1/cart/items", buyer, body, NULL, &r), 201, "%s", r.body);
    snprintf(hold, TIX_UUID_LEN + 1, "%s", tix_http_str(&r, "id"));
    tix_http_resp_deinit(&r);
}

long long tix_shop_order(const char *buyer, const char *event, const char *hold,
                         char order[TIX_UUID_LEN + 1])
{
    char body[160];
    snprintf(body, sizeof(body), "{\"hold_id\":\"%s\",\"event_id\":\"%s\"}", hold, event);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", "/api/v1/orders", buyer, body, NULL, &r), 201, "%s", r.body);
    snprintf(order, TIX_UUID_LEN + 1, "%s", tix_http_str(&r, "id"));
    long long total = json_integer_value(json_object_get(r.json, "total_minor"));
    tix_http_resp_deinit(&r);
    return total;
}

void tix_shop_expect_problem(const struct tix_http_resp *r, long status, const char *field)
{
    cr_assert_eq(r->status, status, "expected %ld, got %ld: %s", status, r->status, r->body);
    cr_assert_str_eq(r->content_type, "application/problem+json", "%s", r->body);
    if (field != NULL)
        cr_assert(tix_http_has_error_field(r, field), "no error on %s: %s", field, r->body);
}

void tix_shop_pay(const char *event, const char *order, long long total_minor)
{
    struct tix_bus *bus = NULL;
    struct tix_err err;
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), "shop-pay", &bus, &err), TIX_OK);
    cr_assert_eq(tix_bus_enable_replies(bus, &err), TIX_OK, "%s", err.msg);
    unsigned char seed[32];
    char hex[65], evt[64];
    randombytes_buf(seed, sizeof(seed));
    sodium_bin2hex(hex, sizeof(hex), seed, sizeof(seed));
    snprintf(evt, sizeof(evt), "evt_%.16s", hex);
    json_t *payload =
        json_pack("{ss ss ss ss ss sI ss ss}", "event_id", event, "order_id", order,
                  "stripe_event_id", evt, "outcome", "succeeded", "payment_intent_id", "pi_test",
                  "amount_minor", (json_int_t)total_minor, "currency", "EUR", "ticket_seed", hex);
    json_t *outcome = NULL;
    cr_assert_eq(tix_client_call(bus, atoi(tix_test_env("TIXMO_PARTITIONS")), NULL, "payment.apply",
                                 event, payload, "system:payments", 20000, &outcome, &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_str_eq(tix_json_str(outcome, "status"), "succeeded");
    json_decref(outcome);
    json_decref(payload);
    tix_bus_close(bus);
}
