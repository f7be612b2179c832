/* gateway_cache_test.c - what the gateway caches never outlives a change of the read model
 *
 * The gateway keeps roles, API keys and profiles in memory (gateway/cache.c). These tests run
 * it with one thread (every request meets the same cache) and a cache lifetime of ten minutes,
 * so only the read model's notifications can drop a row: each test makes the gateway cache a
 * fact, changes it through the API, waits until the read model has the change (polling
 * Postgres, not the gateway), then expects the new answer from the gateway within the
 * notification's trip: Postgres makes a commit visible a moment before it signals the listeners,
 * so a request sent the instant the change shows may still meet the old row. SETTLE_MS (far
 * under the ten minutes a row would otherwise live) bounds that trip.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "http.h"
#include "shop.h"
#include "tix/ids.h"
#include "tix/json.h"

static struct tix_test_stack stack;
static struct tix_db *db;

static void start(void)
{
    cr_assert(sodium_init() >= 0);
    const char *const env[] = {"TIXMO_HTTP_THREADS=1",
                               "TIXMO_GW_CACHE_TTL_MS=600000",
                               "TIXMO_RL_GENERAL_PER_IP=1000000",
                               "TIXMO_RL_AUTH_PER_IP=1000000",
                               "TIXMO_RL_GENERAL_PER_USER=1000000",
                               NULL};
    tix_test_stack_start(&stack, env);
    db = tix_test_db("TIXMO_DB_URL");
}

static void stop(void)
{
    tix_db_close(db);
    tix_test_stack_stop(&stack);
}

TestSuite(cache, .init = start, .fini = stop, .timeout = 120);

static long call(const char *method, const char *path, const char *token, const char *body)
{
    struct tix_http_resp r;
    long status = tix_http(method, path, token, body, tix_shop_wait5, &r);
    tix_http_resp_deinit(&r);
    return status;
}

/* The gateway's own answer to a command: without Prefer: wait it is 202 once authorized (the
 * aggregate's own checks come later), so only the gateway can refuse it. */
static long call_now(const char *method, const char *path, const char *token, const char *body)
{
    struct tix_http_resp r;
    long status = tix_http(method, path, token, body, NULL, &r);
    tix_http_resp_deinit(&r);
    return status;
}

#define SETTLE_MS 250

/* Asks (call_now when is_now, else call) until the answer is want or SETTLE_MS passed; returns
 * the last answer. */
static long settled(bool is_now, const char *method, const char *path, const char *token,
                    const char *body, long want)
{
    int64_t deadline = tix_mono_ms() + SETTLE_MS;
    long status;
    while ((status = is_now ? call_now(method, path, token, body)
                            : call(method, path, token, body)) != want &&
           tix_mono_ms() < deadline)
        usleep(2000);
    return status;
}

/* Waits until the read model answers sql ($1 = a, $2 = b unless NULL) with a count of want. */
struct count_is {
    const char *sql;
    const char *params[2];
    int n;
    long long want;
};

static bool count_matches(void *ctx)
{
    struct count_is *c = ctx;
    return tix_test_scalar(db, c->sql, c->n, c->params) == c->want;
}

static void wait_read_model(const char *sql, const char *a, const char *b, long long want)
{
    struct count_is c = {.sql = sql, .params = {a, b}, .n = b != NULL ? 2 : 1, .want = want};
    cr_assert(tix_test_wait(count_matches, &c, 10000), "the read model never had it: %s", sql);
}

static void create_org(const char *token, char org[TIX_UUID_LEN + 1])
{
    char slug[64], body[256], id[TIX_UUID_LEN + 1];
    tix_uuid_v7(id);
    snprintf(slug, sizeof(slug), "ca-%.8s%.4s", id + 24, id + 9);
    snprintf(body, sizeof(body), "{\"name\":\"Cache Org\",\"slug\":\"%s\",\"type\":\"promoter\"}",
             slug);
    struct tix_http_resp r;
    tix_http("POST", "/api/v1/organizations", token, body, tix_shop_wait5, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(org, TIX_UUID_LEN + 1, "%s", tix_http_str(&r, "id"));
    tix_http_resp_deinit(&r);
    wait_read_model("SELECT count(*) FROM rm.organization_members WHERE organization_id = $1 "
                    "AND role = $2",
                    org, "owner", 1);
}

static const char role_sql[] = "SELECT count(*) FROM rm.organization_members WHERE "
                               "organization_id = $1 AND user_id = $2 AND role = '%s'";

static void wait_role(const char *org, const char *user, const char *role)
{
    char sql[256];
    snprintf(sql, sizeof(sql), role_sql, role);
    wait_read_model(sql, org, user, 1);
}

Test(cache, a_role_taken_away_counts_from_the_next_request)
{
    char owner_id[TIX_UUID_LEN + 1], admin_id[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1];
    char *owner = tix_shop_user(owner_id), *admin = tix_shop_user(admin_id);
    create_org(owner, org);
    char path[128], members[160], member[220], body[160];
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org);
    snprintf(members, sizeof(members), "%s/members", path);
    snprintf(member, sizeof(member), "%s/%s", members, admin_id);
    snprintf(body, sizeof(body), "{\"user_id\":\"%s\",\"role\":\"admin\"}", admin_id);
    cr_assert_eq(call("POST", members, owner, body), 200);
    wait_role(org, admin_id, "admin");
    /* the gateway now holds "admin" for this member */
    cr_assert_eq(call("PATCH", path, admin, "{\"name\":\"By the admin\"}"), 200);
    cr_assert_eq(call_now("PATCH", path, admin, "{\"name\":\"By the admin again\"}"), 202);

    cr_assert_eq(call("PATCH", member, owner, "{\"role\":\"scanner\"}"), 200);
    wait_role(org, admin_id, "scanner");
    cr_assert_eq(settled(true, "PATCH", path, admin, "{\"name\":\"By a scanner\"}", 403), 403,
                 "a demoted admin is refused from the next request");
    cr_assert_eq(call("GET", path, admin, NULL), 200, "a scanner still reads");

    cr_assert_eq(call("DELETE", member, owner, NULL), 200);
    wait_read_model("SELECT count(*) FROM rm.organization_members WHERE organization_id = $1 "
                    "AND user_id = $2",
                    org, admin_id, 0);
    cr_assert_eq(settled(false, "GET", path, admin, NULL, 404), 404,
                 "a removed member sees nothing from the next request");

    cr_assert_eq(call("POST", members, owner, body), 200);
    wait_role(org, admin_id, "admin");
    cr_assert_eq(settled(true, "PATCH", path, admin, "{\"name\":\"Back\"}", 202), 202,
                 "and a member added back counts from the next request too");
    free(owner);
    free(admin);
}

Test(cache, a_revoked_key_and_a_closed_organization_count_from_the_next_request)
{
    char owner_id[TIX_UUID_LEN + 1], scanner_id[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1];
    char *owner = tix_shop_user(owner_id), *scanner = tix_shop_user(scanner_id);
    create_org(owner, org);
    char path[128], keys[160], body[160];
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org);
    snprintf(keys, sizeof(keys), "%s/api-keys", path);
    struct tix_http_resp r;
    tix_http("POST", keys, owner, "{\"name\":\"Cached\",\"scopes\":[\"orgs:read\"]}", NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    char key[128], key_id[TIX_UUID_LEN + 1], second[128];
    snprintf(key, sizeof(key), "%s", tix_http_str(&r, "key"));
    snprintf(key_id, sizeof(key_id), "%s", tix_http_str(&r, "id"));
    tix_http_resp_deinit(&r);
    tix_http("POST", keys, owner, "{\"name\":\"Second\",\"scopes\":[\"orgs:read\"]}", NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(second, sizeof(second), "%s", tix_http_str(&r, "key"));
    tix_http_resp_deinit(&r);
    wait_read_model("SELECT count(*) FROM rm.api_keys WHERE organization_id = $1", org, NULL, 2);
    cr_assert_eq(call("GET", path, key, NULL), 200);
    cr_assert_eq(call("GET", path, key, NULL), 200);

    char one[220];
    snprintf(one, sizeof(one), "%s/%s", keys, key_id);
    cr_assert_eq(call("DELETE", one, owner, NULL), 200);
    wait_read_model("SELECT count(*) FROM rm.api_keys WHERE id = $1 AND revoked_at IS NOT NULL",
                    key_id, NULL, 1);
    cr_assert_eq(settled(false, "GET", path, key, NULL, 401), 401,
                 "a revoked key is refused from the next request");

    snprintf(body, sizeof(body), "{\"user_id\":\"%s\",\"role\":\"scanner\"}", scanner_id);
    char members[160];
    snprintf(members, sizeof(members), "%s/members", path);
    cr_assert_eq(call("POST", members, owner, body), 200);
    wait_role(org, scanner_id, "scanner");
    cr_assert_eq(call("GET", path, scanner, NULL), 200);
    cr_assert_eq(call("GET", path, second, NULL), 200);

    cr_assert_eq(call("DELETE", path, owner, NULL), 200);
    wait_read_model("SELECT count(*) FROM rm.organizations WHERE id = $1 AND is_closed", org, NULL,
                    1);
    cr_assert_eq(settled(false, "GET", path, scanner, NULL, 404), 404,
                 "a closed organization is gone from the next request");
    cr_assert_eq(settled(false, "GET", path, second, NULL, 401), 401, "and so are its keys");
    free(owner);
    free(scanner);
}

/* GET /users/me once; the value of key in the answer (copied into out, "" when absent). */
static long me(const char *token, const char *key, char *out, size_t size)
{
    struct tix_http_resp r;
    long status = tix_http("GET", "/api/v1/users/me", token, NULL, NULL, &r);
    const char *v = tix_http_str(&r, key);
    snprintf(out, size, "%s", v != NULL ? v : "");
    tix_http_resp_deinit(&r);
    return status;
}

/* me until it answers want_status with key = want (NULL: any) or SETTLE_MS passed; returns the
 * last status, its value in out. */
static long me_settled(const char *token, const char *key, long want_status, const char *want,
                       char *out, size_t size)
{
    int64_t deadline = tix_mono_ms() + SETTLE_MS;
    long status;
    while (((status = me(token, key, out, size)) != want_status ||
            (want != NULL && strcmp(out, want) != 0)) &&
           tix_mono_ms() < deadline)
        usleep(2000);
    return status;
}

Test(cache, a_changed_or_erased_profile_counts_from_the_next_request)
{
    char email[96], id[TIX_UUID_LEN + 1], seen[128];
    tix_uuid_v7(id);
    snprintf(email, sizeof(email), "cache.%.8s%.4s@example.org", id + 24, id + 9);
    char user[TIX_UUID_LEN + 1];
    tix_shop_register(db, email, "cache test password", NULL, user);
    char *token = tix_test_token(user, 600);
    cr_assert_eq(me(token, "email", seen, sizeof(seen)), 200);
    cr_assert_str_eq(seen, email);
    cr_assert_eq(me(token, "name", seen, sizeof(seen)), 200, "answered from memory this time");
    cr_assert_str_eq(seen, "");

    cr_assert_eq(call("PATCH", "/api/v1/users/me", token, "{\"name\":\"Grace Hopper\"}"), 200);
    wait_read_model("SELECT count(*) FROM rm.users WHERE id = $1 AND name_enc IS NOT NULL", user,
                    NULL, 1);
    cr_assert_eq(me_settled(token, "name", 200, "Grace Hopper", seen, sizeof(seen)), 200);
    cr_assert_str_eq(seen, "Grace Hopper", "a changed profile shows from the next request");

    cr_assert_eq(
        call("DELETE", "/api/v1/users/me", token, "{\"password\":\"cache test password\"}"), 200);
    wait_read_model("SELECT count(*) FROM rm.users WHERE id = $1 AND is_erased", user, NULL, 1);
    cr_assert_eq(me_settled(token, "email", 404, NULL, seen, sizeof(seen)), 404,
                 "an erased profile is gone from the next request");
    free(token);
}
