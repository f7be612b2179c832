/* gateway_test.c - the HTTP gateway against the running stack
 *
 * Real gateway, processor and projector processes; real Postgres, RabbitMQ and Redis. Covers
 * the error model (problem+json for every failure), authentication (missing, forged, expired,
 * alg none), organizations and members end to end, role checks and other organizations' data
 * on every organization route, command status for its issuer only, idempotent retries.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway.h"
#include "harness.h"
#include "http.h"
#include "shop.h"
#include "tix/ids.h"
#include "tix/json.h"

static struct tix_test_stack stack;

static void start(void)
{
    cr_assert(sodium_init() >= 0);
    tix_test_stack_start(&stack, NULL);
}

static void stop(void)
{
    tix_test_stack_stop(&stack);
}

TestSuite(gateway, .init = start, .fini = stop, .timeout = 180);

static void expect_problem(const struct tix_http_resp *r, long status)
{
    cr_assert_eq(r->status, status, "expected %ld, got %ld: %s", status, r->status, r->body);
    cr_assert_str_eq(r->content_type, "application/problem+json", "%s", r->body);
    cr_assert_eq(json_integer_value(json_object_get(r->json, "status")), status);
    cr_assert(tix_http_str(r, "type") != NULL && tix_http_str(r, "title") != NULL);
    cr_assert(r->request_id[0] != '\0', "every answer carries X-Request-Id");
}

Test(gateway, operations_endpoints_answer)
{
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", "/healthz", NULL, NULL, NULL, &r), 200);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("GET", "/readyz", NULL, NULL, NULL, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("GET", "/metrics", NULL, NULL, NULL, &r), 200);
    cr_assert(strstr(r.body, "tixmo_http_requests_total{route=\"/readyz\"") != NULL, "%s", r.body);
    cr_assert(strstr(r.body, "tixmo_http_request_duration_seconds_bucket") != NULL);
    cr_assert(strstr(r.body, "tixmo_commands_pending") != NULL);
    tix_http_resp_deinit(&r);
}

Test(gateway, unknown_routes_and_methods_are_problems)
{
    struct tix_http_resp r;
    tix_http("GET", "/api/v1/nothing-here", NULL, NULL, NULL, &r);
    expect_problem(&r, 404);
    tix_http_resp_deinit(&r);
    tix_http("DELETE", "/api/v1/organizations", NULL, NULL, NULL, &r);
    expect_problem(&r, 405);
    cr_assert(strstr(r.allow, "GET") && strstr(r.allow, "POST"), "Allow: %s", r.allow);
    tix_http_resp_deinit(&r);
    const char *const given[] = {"X-Request-Id: test-trace-42", NULL};
    tix_http("GET", "/healthz", NULL, NULL, given, &r);
    cr_assert_str_eq(r.request_id, "test-trace-42");
    tix_http_resp_deinit(&r);
}

Test(gateway, credentials_are_checked)
{
    struct tix_http_resp r;
    tix_http("GET", "/api/v1/organizations", NULL, NULL, NULL, &r);
    expect_problem(&r, 401);
    tix_http_resp_deinit(&r);
    char id[TIX_UUID_LEN + 1];
    char *good = tix_shop_user(id);
    char forged[2048];
    snprintf(forged, sizeof(forged), "%s", good);
    forged[strlen(forged) - 2] = forged[strlen(forged) - 2] == 'A' ? 'B' : 'A';
    char *expired = tix_test_token(id, -120);
    /* {"alg":"none","typ":"JWT"} . {"sub":id,"typ":"access","exp":far} . (empty) */
    char none[512], claims[256], b64[400];
    snprintf(claims, sizeof(claims), "{\"sub\":\"%s\",\"typ\":\"access\",\"exp\":9999999999}", id);
    sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)claims, strlen(claims),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(none, sizeof(none), "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.%s.", b64);
    const char *bad[] = {forged, expired, none, "not-a-token", "a.b.c"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tix_http("GET", "/api/v1/organizations", bad[i], NULL, NULL, &r);
        expect_problem(&r, 401);
        tix_http_resp_deinit(&r);
    }
    cr_assert_eq(tix_http("GET", "/api/v1/organizations", good, NULL, NULL, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    free(good);
    free(expired);
}

Test(gateway, bad_bodies_get_the_right_4xx)
{
    char id[TIX_UUID_LEN + 1];
    char *token = tix_shop_user(id);
    struct tix_http_resp r;
    tix_http("POST", "/api/v1/organizations", token, "{\"name\": ", NULL, &r);
    expect_problem(&r, 400);
    tix_http_resp_deinit(&r);
    tix_http("POST", "/api/v1/organizations", token, "[1,2]", NULL, &r);
    expect_problem(&r, 400);
    tix_http_resp_deinit(&r);
    tix_http("POST", "/api/v1/organizations", token, "{\"name\":\"\xff\xfe\"}", NULL, &r);
    expect_problem(&r, 400);
    tix_http_resp_deinit(&r);
    tix_http("POST", "/api/v1/organizations", token,
             "{\"name\":42,\"slug\":\"ok-slug\",\"type\":\"venue\",\"colour\":\"red\"}", NULL, &r);
    expect_problem(&r, 422);
    cr_assert(tix_http_has_error_field(&r, "name"), "%s", r.body);
    cr_assert(tix_http_has_error_field(&r, "colour"), "unknown fields are named: %s", r.body);
    tix_http_resp_deinit(&r);
    tix_http("POST", "/api/v1/organizations", token, "{\"name\":\"x\"}", NULL, &r);
    expect_problem(&r, 422);
    cr_assert(tix_http_has_error_field(&r, "slug") && tix_http_has_error_field(&r, "type"));
    tix_http_resp_deinit(&r);
    tix_http("POST", "/api/v1/organizations", token, "{\"name\":\"a\",\"name\":\"b\"}", NULL, &r);
    expect_problem(&r, 400);
    tix_http_resp_deinit(&r);
    const char *const text[] = {"Content-Type: text/plain", NULL};
    tix_http("POST", "/api/v1/organizations", token, "{}", text, &r);
    expect_problem(&r, 415);
    tix_http_resp_deinit(&r);
    size_t big = 70000;
    char *huge = malloc(big + 1);
    memset(huge, 'a', big);
    huge[0] = '"';
    huge[big - 1] = '"';
    huge[big] = '\0';
    tix_http("POST", "/api/v1/organizations", token, huge, NULL, &r);
    expect_problem(&r, 413);
    tix_http_resp_deinit(&r);
    free(huge);
    /* the business rule's rejection names its field too */
    tix_http("POST", "/api/v1/organizations", token,
             "{\"name\":\"x\",\"slug\":\"Not A Slug\",\"type\":\"venue\"}", tix_shop_wait5, &r);
    expect_problem(&r, 422);
    cr_assert(tix_http_has_error_field(&r, "slug"), "%s", r.body);
    tix_http_resp_deinit(&r);
    free(token);
}

struct cmd_wait {
    const char *token;
    const char *url;
};

static bool decided(void *ctx)
{
    struct cmd_wait *w = ctx;
    struct tix_http_resp r;
    tix_http("GET", w->url, w->token, NULL, NULL, &r);
    bool done = r.status == 200 && tix_http_str(&r, "status") != NULL &&
                strcmp(tix_http_str(&r, "status"), "succeeded") == 0;
    tix_http_resp_deinit(&r);
    return done;
}

Test(gateway, a_command_is_accepted_then_its_status_is_for_its_issuer_only)
{
    char me[TIX_UUID_LEN + 1], other[TIX_UUID_LEN + 1], id[TIX_UUID_LEN + 1], body[256];
    char *token = tix_shop_user(me), *stranger = tix_shop_user(other);
    tix_uuid_v7(id);
    snprintf(body, sizeof(body),
             "{\"name\":\"Async\",\"slug\":\"async-%.8s%.4s\",\"type\":\"venue\"}", id + 24,
             id + 9);
    struct tix_http_resp r;
    tix_http("POST", "/api/v1/organizations", token, body, NULL, &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    cr_assert_str_eq(tix_http_str(&r, "status"), "accepted");
    cr_assert(strncmp(r.location, "/api/v1/commands/", 17) == 0, "%s", r.location);
    char url[300];
    snprintf(url, sizeof(url), "%s", r.location);
    tix_http_resp_deinit(&r);
    struct cmd_wait w = {token, url};
    cr_assert(tix_test_wait(decided, &w, 10000), "the command was never decided");
    tix_http("GET", url, token, NULL, NULL, &r);
    cr_assert(json_array_size(json_object_get(r.json, "events")) == 3, "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_http("GET", url, stranger, NULL, NULL, &r);
    expect_problem(&r, 404);
    tix_http_resp_deinit(&r);
    free(token);
    free(stranger);
}

Test(gateway, organizations_and_members_end_to_end)
{
    char owner_id[TIX_UUID_LEN + 1], scanner_id[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1];
    char *owner = tix_shop_user(owner_id), *scanner = tix_shop_user(scanner_id);
    tix_shop_org(owner, "Gateway Org", NULL, org);
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org);
    struct tix_http_resp r;
    tix_http("GET", path, owner, NULL, NULL, &r);
    cr_assert_str_eq(tix_http_str(&r, "my_role"), "owner");
    cr_assert_str_eq(tix_http_str(&r, "name"), "Gateway Org");
    tix_http_resp_deinit(&r);
    char members[200];
    snprintf(members, sizeof(members), "%s/members", path);
    tix_shop_member(owner, org, scanner_id, "scanner", scanner);
    tix_http("PATCH", path, scanner, "{\"name\":\"Scanner's rename\"}", tix_shop_wait5, &r);
    expect_problem(&r, 403);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("GET", members, scanner, NULL, NULL, &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 2, "%s", r.body);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("PATCH", path, owner, "{\"name\":\"Renamed\"}", tix_shop_wait5, &r), 200,
                 "%s", r.body);
    tix_http_resp_deinit(&r);
    char settings[200];
    snprintf(settings, sizeof(settings), "%s/settings", path);
    cr_assert_eq(tix_http("PATCH", settings, owner, "{\"settings\":{\"currency\":\"EUR\"}}",
                          tix_shop_wait5, &r),
                 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    char me_path[260];
    snprintf(me_path, sizeof(me_path), "%s/%s", members, owner_id);
    tix_http("DELETE", me_path, owner, NULL, tix_shop_wait5, &r);
    expect_problem(&r, 409); /* the last owner stays */
    cr_assert(strstr(r.body, "last-owner") != NULL, "%s", r.body);
    tix_http_resp_deinit(&r);
    char sc_path[260];
    snprintf(sc_path, sizeof(sc_path), "%s/%s", members, scanner_id);
    cr_assert_eq(tix_http("PATCH", sc_path, owner, "{\"role\":\"promoter\"}", tix_shop_wait5, &r),
                 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("DELETE", sc_path, owner, NULL, tix_shop_wait5, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    free(owner);
    free(scanner);
}

/* Every organization route, called by a member of another organization: never 2xx. */
Test(gateway, a_member_of_one_organization_never_reaches_another)
{
    char a_id[TIX_UUID_LEN + 1], b_id[TIX_UUID_LEN + 1], org_a[TIX_UUID_LEN + 1];
    char org_b[TIX_UUID_LEN + 1];
    char *a = tix_shop_user(a_id), *b = tix_shop_user(b_id);
    tix_shop_org(a, "Gateway Org", NULL, org_a);
    tix_shop_org(b, "Gateway Org", NULL, org_b);
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org_b);
    char add_me[128], b_member[80];
    snprintf(add_me, sizeof(add_me), "{\"user_id\":\"%s\",\"role\":\"owner\"}", a_id);
    snprintf(b_member, sizeof(b_member), "/members/%s", b_id);
    const struct {
        const char *method, *suffix, *body;
    } calls[] = {
        {"GET", "", NULL},
        {"PATCH", "", "{\"name\":\"Hijacked\"}"},
        {"PATCH", "/settings", "{\"settings\":{\"x\":1}}"},
        {"GET", "/members", NULL},
        {"POST", "/members", add_me},
        {"PATCH", b_member, "{\"role\":\"admin\"}"},
        {"DELETE", b_member, NULL},
    };
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        char p[320];
        snprintf(p, sizeof(p), "/api/v1/organizations/%s%s", org_b, calls[i].suffix);
        struct tix_http_resp r;
        tix_http(calls[i].method, p, a, calls[i].body, tix_shop_wait5, &r);
        expect_problem(&r, 404);
        tix_http_resp_deinit(&r);
    }
    struct tix_http_resp r;
    tix_http("GET", "/api/v1/organizations", a, NULL, NULL, &r);
    cr_assert(strstr(r.body, org_b) == NULL, "B's organization leaked into A's list");
    tix_http_resp_deinit(&r);
    tix_http("GET", path, b, NULL, NULL, &r);
    cr_assert_str_eq(tix_http_str(&r, "name"), "Gateway Org", "nothing of B changed");
    tix_http_resp_deinit(&r);
    free(a);
    free(b);
}

Test(gateway, idempotent_retries_return_the_first_answer)
{
    char me[TIX_UUID_LEN + 1], id[TIX_UUID_LEN + 1], key[80], body[256], other[256];
    char *token = tix_shop_user(me);
    tix_uuid_v7(id);
    snprintf(key, sizeof(key), "Idempotency-Key: create-%s", id);
    snprintf(body, sizeof(body),
             "{\"name\":\"Once\",\"slug\":\"once-%.8s%.4s\",\"type\":\"venue\"}", id + 24, id + 9);
    snprintf(other, sizeof(other),
             "{\"name\":\"Twice\",\"slug\":\"twice-%.8s\",\"type\":\"venue\"}", id + 24);
    const char *const headers[] = {key, "Prefer: wait=5", NULL};
    struct tix_http_resp first, again, mismatch;
    tix_http("POST", "/api/v1/organizations", token, body, headers, &first);
    cr_assert_eq(first.status, 201, "%s", first.body);
    tix_http("POST", "/api/v1/organizations", token, body, headers, &again);
    cr_assert_eq(again.status, 201);
    cr_assert_str_eq(again.replayed, "true");
    cr_assert_str_eq(again.body, first.body, "the replay is byte for byte the first answer");
    cr_assert_str_eq(again.location, first.location);
    tix_http("POST", "/api/v1/organizations", token, other, headers, &mismatch);
    expect_problem(&mismatch, 422);
    tix_http_resp_deinit(&first);
    tix_http_resp_deinit(&again);
    tix_http_resp_deinit(&mismatch);
    struct tix_http_resp r;
    tix_http("GET", "/api/v1/organizations", token, NULL, NULL, &r);
    free(token);
    tix_http_resp_deinit(&r);
}

/* Fills pattern's {parameters} with fresh UUIDs. */
static void concrete_path(const char *pattern, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = pattern; *p != '\0' && o + 40 < size;) {
        if (*p == '{') {
            char id[TIX_UUID_LEN + 1];
            tix_uuid_v7(id);
            o += (size_t)snprintf(out + o, size - o, "%s", id);
            while (*p != '\0' && *p != '}')
                p++;
            if (*p == '}')
                p++;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

/* Every route of the table that needs a caller refuses one without credentials, and every
 * organization or event route refuses a signed-in user who is not a member: no route is
 * forgotten. */
Test(gateway, every_protected_route_refuses_callers_without_the_right)
{
    char outsider_id[TIX_UUID_LEN + 1];
    char *outsider = tix_shop_user(outsider_id);
    int checked = 0;
    for (const struct tix_route *r = tix_routes; r->method != NULL; r++) {
        if (r->auth == TIX_AUTH_PUBLIC)
            continue;
        char path[512];
        concrete_path(r->pattern, path, sizeof(path));
        const char *body = strcmp(r->method, "GET") == 0 ? NULL : "{}";
        struct tix_http_resp resp;
        if (r->auth != TIX_AUTH_OPTIONAL) { /* optional: anonymous callers are welcome */
            tix_http(r->method, path, NULL, body, NULL, &resp);
            expect_problem(&resp, 401);
            tix_http_resp_deinit(&resp);
        }
        tix_http(r->method, path, "tixmo_not-a-key", body, NULL, &resp);
        expect_problem(&resp, 401);
        tix_http_resp_deinit(&resp);
        if (r->auth == TIX_AUTH_ORG || r->auth == TIX_AUTH_EVENT) {
            tix_http(r->method, path, outsider, body, NULL, &resp);
            expect_problem(&resp, 404);
            tix_http_resp_deinit(&resp);
        }
        checked++;
    }
    cr_assert_gt(checked, 20, "the route table has %d protected routes", checked);
    free(outsider);
}

Test(gateway, the_api_description_is_served_as_json)
{
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", "/api/v1/openapi.json", NULL, NULL, NULL, &r), 200);
    cr_assert_str_eq(tix_http_str(&r, "openapi"), "3.1.0");
    json_t *paths = json_object_get(r.json, "paths");
    for (const struct tix_route *route = tix_routes; route->method != NULL; route++)
        cr_assert_not_null(json_object_get(paths, route->pattern), "%s", route->pattern);
    tix_http_resp_deinit(&r);
}

struct inflight {
    const char *token;
    char path[160];
    long status;
};

static void *send_waiting(void *arg)
{
    struct inflight *f = arg;
    struct tix_http_resp r;
    const char *const slow[] = {"Prefer: wait=8", NULL};
    f->status = tix_http("PATCH", f->path, f->token, "{\"name\":\"In flight\"}", slow, &r);
    tix_http_resp_deinit(&r);
    return NULL;
}

/* SIGTERM: the gateway stops accepting, answers the command in flight (its outcome can't come:
 * the processor is paused), then exits. */
Test(gateway, a_graceful_stop_answers_requests_in_flight)
{
    char owner_id[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1];
    char *owner = tix_shop_user(owner_id);
    tix_shop_org(owner, "Gateway Org", NULL, org);
    struct inflight f = {.token = owner};
    snprintf(f.path, sizeof(f.path), "/api/v1/organizations/%s", org);
    kill(stack.processor, SIGSTOP);
    pthread_t t;
    pthread_create(&t, NULL, send_waiting, &f);
    usleep(300000); /* the command is published and waiting for its outcome */
    kill(stack.gateway, SIGTERM);
    pthread_join(t, NULL);
    kill(stack.processor, SIGCONT);
    cr_assert_eq(f.status, 202, "the request in flight was answered (accepted), got %ld", f.status);
    usleep(200000);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", "/healthz", NULL, NULL, NULL, &r), 0,
                 "a stopped gateway accepts nothing");
    tix_http_resp_deinit(&r);
    free(owner);
}

Test(gateway, only_an_owner_closes_an_organization_and_then_it_is_gone)
{
    char owner_id[TIX_UUID_LEN + 1], admin_id[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1];
    char *owner = tix_shop_user(owner_id), *admin = tix_shop_user(admin_id);
    tix_shop_org(owner, "Gateway Org", NULL, org);
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org);
    tix_shop_member(owner, org, admin_id, "admin", admin);
    struct tix_http_resp r;
    tix_http("DELETE", path, admin, NULL, tix_shop_wait5, &r);
    expect_problem(&r, 403);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("DELETE", path, owner, NULL, tix_shop_wait5, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    bool gone = false;
    for (int i = 0; i < 200 && !gone; i++) {
        gone = tix_http("GET", path, owner, NULL, NULL, &r) == 404;
        tix_http_resp_deinit(&r);
        if (!gone)
            usleep(25000);
    }
    cr_assert(gone, "a closed organization is no longer visible");
    tix_http("GET", "/api/v1/organizations", owner, NULL, NULL, &r);
    cr_assert(strstr(r.body, org) == NULL, "nor listed: %s", r.body);
    tix_http_resp_deinit(&r);
    tix_http("PATCH", path, owner, "{\"name\":\"Back from the dead\"}", tix_shop_wait5, &r);
    expect_problem(&r, 404);
    tix_http_resp_deinit(&r);
    free(owner);
    free(admin);
}
