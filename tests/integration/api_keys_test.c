/* api_keys_test.c - API keys end to end: created and shown once, listed without secrets, used
 * within their scopes and organization, revoked and expired, refused when malformed
 *
 * Real gateway, processor and projector processes; real Postgres, RabbitMQ and Redis. A key
 * authenticates against the api_keys read model, so every step that needs a new key, or a
 * revocation, to take effect polls for a few seconds while the projector catches up.
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

static void start(void)
{
    cr_assert(sodium_init() >= 0);
    /* the polls below make many requests from one address in a short time */
    const char *const env[] = {"TIXMO_RL_GENERAL_PER_IP=1000000",
                               "TIXMO_RL_GENERAL_PER_USER=1000000", NULL};
    tix_test_stack_start(&stack, env);
}

static void stop(void)
{
    tix_test_stack_stop(&stack);
}

TestSuite(api_keys, .init = start, .fini = stop, .timeout = 180);

#define KEY_LEN (6 + TIX_UUID_LEN + 1 + 43)

static void expect_problem(const struct tix_http_resp *r, long status)
{
    cr_assert_eq(r->status, status, "expected %ld, got %ld: %s", status, r->status, r->body);
    cr_assert_str_eq(r->content_type, "application/problem+json", "%s", r->body);
    cr_assert_eq(json_integer_value(json_object_get(r->json, "status")), status);
}

static void keys_path(char *out, size_t size, const char *org)
{
    snprintf(out, size, "/api/v1/organizations/%s/api-keys", org);
}

/* Creates a key with body (expecting 201) and returns the created answer in r. */
static void create_key(const char *token, const char *org, const char *body,
                       struct tix_http_resp *r)
{
    char path[128];
    keys_path(path, sizeof(path), org);
    tix_http("POST", path, token, body, NULL, r);
    cr_assert_eq(r->status, 201, "%s", r->body);
}

/* Creates a key with scopes (a JSON array) and waits until it works; its key goes to key. */
static void working_key(const char *owner, const char *org, const char *scopes,
                        char key[KEY_LEN + 1])
{
    char body[256], path[128];
    snprintf(body, sizeof(body), "{\"name\":\"Integration\",\"scopes\":%s}", scopes);
    struct tix_http_resp r;
    create_key(owner, org, body, &r);
    snprintf(key, KEY_LEN + 1, "%s", tix_http_str(&r, "key"));
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org);
    tix_shop_wait_status(key, path, strstr(scopes, "orgs:read") != NULL ? 200 : 403);
}

/* The item of the list answer with id, or NULL. Borrowed from r. */
static json_t *listed(const struct tix_http_resp *r, const char *id)
{
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(r->json, "items"), i, item)
    {
        if (strcmp(json_string_value(json_object_get(item, "id")), id) == 0)
            return item;
    }
    return NULL;
}

/* Calls method path with token (body may be NULL) and expects a problem with status. */
static void expect_call(const char *method, const char *path, const char *token, const char *body,
                        long status)
{
    struct tix_http_resp r;
    tix_http(method, path, token, body, tix_shop_wait5, &r);
    expect_problem(&r, status);
    tix_http_resp_deinit(&r);
}

Test(api_keys, a_key_is_shown_once_and_listed_without_secrets)
{
    char owner_id[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1], path[256], keys[128];
    char *owner = tix_shop_user(owner_id);
    tix_shop_org(owner, "Keys Org", NULL, org);
    keys_path(keys, sizeof(keys), org);
    struct tix_http_resp r;
    create_key(owner, org,
               "{\"name\":\"  Box office \",\"scopes\":[\"orgs:read\",\"members:read\"]}", &r);
    const char *id = tix_http_str(&r, "id"), *key = tix_http_str(&r, "key");
    cr_assert(tix_uuid_is_valid(id), "%s", r.body);
    cr_assert_not_null(key, "the created answer shows the key: %s", r.body);
    cr_assert_eq(strlen(key), KEY_LEN, "%s", key);
    char start[64], key_copy[KEY_LEN + 1], id_copy[TIX_UUID_LEN + 1];
    snprintf(start, sizeof(start), "tixmo_%s_", id);
    cr_assert(strncmp(key, start, strlen(start)) == 0, "%s", key);
    const char *secret = key + strlen(start);
    cr_assert_eq(strspn(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 43, "%s", secret);
    char prefix[9];
    snprintf(prefix, sizeof(prefix), "%.8s", secret);
    cr_assert_str_eq(tix_http_str(&r, "prefix"), prefix, "%s", r.body);
    cr_assert_str_eq(tix_http_str(&r, "name"), "Box office");
    cr_assert(json_is_null(json_object_get(r.json, "expires_at")), "%s", r.body);
    cr_assert_not_null(tix_http_str(&r, "created_at"), "%s", r.body);
    json_t *scopes = json_pack("[ss]", "orgs:read", "members:read");
    cr_assert(json_equal(json_object_get(r.json, "scopes"), scopes), "%s", r.body);
    json_decref(scopes);
    snprintf(path, sizeof(path), "%s/%s", keys, id);
    cr_assert_str_eq(r.location, path);
    snprintf(key_copy, sizeof(key_copy), "%s", key);
    snprintf(id_copy, sizeof(id_copy), "%s", id);
    char created_at[64];
    snprintf(created_at, sizeof(created_at), "%s", tix_http_str(&r, "created_at"));
    tix_http_resp_deinit(&r);

    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org);
    tix_shop_wait_status(key_copy, path, 200);
    cr_assert_eq(tix_http("GET", keys, owner, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    json_t *item = listed(&r, id_copy);
    cr_assert_not_null(item, "%s", r.body);
    cr_assert(strstr(r.body, key_copy + strlen(start)) == NULL, "the secret leaked: %s", r.body);
    cr_assert(strstr(r.body, "hash") == NULL && json_object_get(item, "key") == NULL, "%s", r.body);
    const struct {
        const char *field, *want;
    } fields[] = {{"status", "active"}, {"name", "Box office"}, {"created_at", created_at},
                  {"prefix", NULL},     {"created_by", NULL},   {"expires_at", NULL},
                  {"revoked_at", NULL}, {"revoked_by", NULL}};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const json_t *v = json_object_get(item, fields[i].field);
        cr_assert_not_null(v, "%s missing: %s", fields[i].field, r.body);
        if (fields[i].want != NULL)
            cr_assert_str_eq(json_string_value(v), fields[i].want, "%s", fields[i].field);
    }
    char by[64];
    snprintf(by, sizeof(by), "user:%s", owner_id);
    cr_assert_str_eq(json_string_value(json_object_get(item, "created_by")), by);
    cr_assert(json_is_null(json_object_get(item, "revoked_at")));
    tix_http_resp_deinit(&r);
    free(owner);
}

Test(api_keys, a_key_acts_only_within_its_scopes_and_records_its_last_use)
{
    char owner_id[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1], key[KEY_LEN + 1], path[256];
    char keys[128];
    char *owner = tix_shop_user(owner_id);
    tix_shop_org(owner, "Keys Org", NULL, org);
    keys_path(keys, sizeof(keys), org);
    working_key(owner, org, "[\"orgs:read\",\"members:read\"]", key);
    struct tix_http_resp r;
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org);
    cr_assert_eq(tix_http("GET", path, key, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert_str_eq(tix_http_str(&r, "id"), org);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/organizations/%s/members", org);
    cr_assert_eq(tix_http("GET", path, key, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("GET", "/api/v1/organizations", key, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    tix_http_resp_deinit(&r);

    /* a scope it lacks, and routes no key may call */
    char cmd[128], member[300], one_key[256], body[128], uid[TIX_UUID_LEN + 1];
    tix_uuid_v7(uid);
    snprintf(cmd, sizeof(cmd), "/api/v1/commands/%s", uid);
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org);
    snprintf(member, sizeof(member), "%s/members", path);
    snprintf(one_key, sizeof(one_key), "%s/%s", keys, uid);
    snprintf(body, sizeof(body), "{\"user_id\":\"%s\",\"role\":\"admin\"}", uid);
    expect_call("GET", cmd, key, NULL, 403);
    expect_call("POST", member, key, body, 403);
    expect_call("PATCH", path, key, "{\"name\":\"By a key\"}", 403);
    expect_call("GET", keys, key, NULL, 403);
    expect_call("POST", keys, key, "{\"name\":\"Minted\",\"scopes\":[\"orgs:read\"]}", 403);
    expect_call("DELETE", one_key, key, NULL, 403);
    expect_call("POST", "/api/v1/organizations", key,
                "{\"name\":\"x\",\"slug\":\"by-a-key\",\"type\":\"venue\"}", 403);

    /* the list records the last use (auth.c writes it to Redis) */
    cr_assert_eq(tix_http("GET", keys, owner, NULL, NULL, &r), 200, "%s", r.body);
    json_t *item = json_array_get(json_object_get(r.json, "items"), 0);
    const char *used = json_string_value(json_object_get(item, "last_used_at"));
    cr_assert(used != NULL && strlen(used) == 27 && used[26] == 'Z', "%s", r.body);
    tix_http_resp_deinit(&r);
    free(owner);
}

Test(api_keys, a_key_never_reaches_another_organization)
{
    char a_id[TIX_UUID_LEN + 1], b_id[TIX_UUID_LEN + 1], org_a[TIX_UUID_LEN + 1];
    char org_b[TIX_UUID_LEN + 1], key[KEY_LEN + 1], path[256];
    char *a = tix_shop_user(a_id), *b = tix_shop_user(b_id);
    tix_shop_org(a, "Keys Org", NULL, org_a);
    tix_shop_org(b, "Keys Org", NULL, org_b);
    working_key(a, org_a, "[\"orgs:read\",\"members:read\"]", key);
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org_b);
    expect_call("GET", path, key, NULL, 404);
    snprintf(path, sizeof(path), "/api/v1/organizations/%s/members", org_b);
    expect_call("GET", path, key, NULL, 404);
    struct tix_http_resp r;
    tix_http("GET", "/api/v1/organizations", key, NULL, NULL, &r);
    cr_assert(strstr(r.body, org_b) == NULL, "B leaked into the key's list: %s", r.body);
    tix_http_resp_deinit(&r);
    free(a);
    free(b);
}

Test(api_keys, only_admins_and_owners_manage_keys)
{
    char owner_id[TIX_UUID_LEN + 1], admin_id[TIX_UUID_LEN + 1], scanner_id[TIX_UUID_LEN + 1];
    char stranger_id[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1], keys[128], one[256];
    char *owner = tix_shop_user(owner_id), *admin = tix_shop_user(admin_id);
    char *scanner = tix_shop_user(scanner_id), *stranger = tix_shop_user(stranger_id);
    tix_shop_org(owner, "Keys Org", NULL, org);
    tix_shop_member(owner, org, admin_id, "admin", admin);
    tix_shop_member(owner, org, scanner_id, "scanner", scanner);
    keys_path(keys, sizeof(keys), org);
    const char *body = "{\"name\":\"Door scanners\",\"scopes\":[\"tickets:scan\"]}";
    struct tix_http_resp r;
    create_key(admin, org, body, &r);
    snprintf(one, sizeof(one), "%s/%s", keys, tix_http_str(&r, "id"));
    tix_http_resp_deinit(&r);
    expect_call("POST", keys, scanner, body, 403);
    expect_call("GET", keys, scanner, NULL, 403);
    expect_call("DELETE", one, scanner, NULL, 403);
    expect_call("POST", keys, stranger, body, 404);
    expect_call("GET", keys, stranger, NULL, 404);
    expect_call("DELETE", one, stranger, NULL, 404);
    cr_assert_eq(tix_http("GET", keys, admin, NULL, NULL, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("DELETE", one, admin, NULL, tix_shop_wait5, &r), 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    free(owner);
    free(admin);
    free(scanner);
    free(stranger);
}

Test(api_keys, a_revoked_key_is_refused)
{
    char owner_id[TIX_UUID_LEN + 1], other_id[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1];
    char other_org[TIX_UUID_LEN + 1], key[KEY_LEN + 1], keys[128], one[256], path[256];
    char *owner = tix_shop_user(owner_id), *other = tix_shop_user(other_id);
    tix_shop_org(owner, "Keys Org", NULL, org);
    tix_shop_org(other, "Keys Org", NULL, other_org);
    keys_path(keys, sizeof(keys), org);
    working_key(owner, org, "[\"orgs:read\"]", key);
    char id[TIX_UUID_LEN + 1];
    snprintf(id, sizeof(id), "%.36s", key + 6);
    snprintf(one, sizeof(one), "%s/%s", keys, id);
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org);

    /* another organization's owner can't revoke it through their own organization */
    char theirs[256];
    snprintf(theirs, sizeof(theirs), "/api/v1/organizations/%s/api-keys/%s", other_org, id);
    expect_call("DELETE", theirs, other, NULL, 404);

    struct tix_http_resp r;
    cr_assert_eq(tix_http("DELETE", one, owner, NULL, tix_shop_wait5, &r), 200, "%s", r.body);
    cr_assert_str_eq(tix_http_str(&r, "status"), "revoked");
    cr_assert_str_eq(tix_http_str(&r, "id"), id);
    tix_http_resp_deinit(&r);
    tix_shop_wait_status(key, path, 401);
    expect_call("GET", path, key, NULL, 401);

    cr_assert_eq(tix_http("DELETE", one, owner, NULL, tix_shop_wait5, &r), 200,
                 "revoking again: %s", r.body);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("DELETE", one, owner, NULL, NULL, &r), 202, "without wait: %s", r.body);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("GET", keys, owner, NULL, NULL, &r), 200);
    json_t *item = listed(&r, id);
    cr_assert_str_eq(json_string_value(json_object_get(item, "status")), "revoked", "%s", r.body);
    cr_assert(json_is_string(json_object_get(item, "revoked_at")), "%s", r.body);
    char by[64];
    snprintf(by, sizeof(by), "user:%s", owner_id);
    cr_assert_str_eq(json_string_value(json_object_get(item, "revoked_by")), by);
    tix_http_resp_deinit(&r);

    char unknown[256], uid[TIX_UUID_LEN + 1];
    tix_uuid_v7(uid);
    snprintf(unknown, sizeof(unknown), "%s/%s", keys, uid);
    expect_call("DELETE", unknown, owner, NULL, 404);
    snprintf(unknown, sizeof(unknown), "%s/not-a-key", keys);
    expect_call("DELETE", unknown, owner, NULL, 404);
    free(owner);
    free(other);
}

Test(api_keys, a_key_expires)
{
    char owner_id[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1], keys[128], path[256], body[160];
    char *owner = tix_shop_user(owner_id);
    tix_shop_org(owner, "Keys Org", NULL, org);
    keys_path(keys, sizeof(keys), org);
    long long expires = tix_now_us() / 1000000 + 3;
    snprintf(body, sizeof(body),
             "{\"name\":\"Short-lived\",\"scopes\":[\"orgs:read\"],\"expires_at\":%lld}", expires);
    struct tix_http_resp r;
    create_key(owner, org, body, &r);
    char key[KEY_LEN + 1], id[TIX_UUID_LEN + 1];
    snprintf(key, sizeof(key), "%s", tix_http_str(&r, "key"));
    snprintf(id, sizeof(id), "%s", tix_http_str(&r, "id"));
    cr_assert(json_is_string(json_object_get(r.json, "expires_at")), "%s", r.body);
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org);
    tix_shop_wait_status(key, path, 200);
    while (tix_now_us() / 1000000 <= expires)
        usleep(100000);
    expect_call("GET", path, key, NULL, 401);
    tix_http("GET", keys, owner, NULL, NULL, &r);
    cr_assert_str_eq(json_string_value(json_object_get(listed(&r, id), "status")), "expired", "%s",
                     r.body);
    tix_http_resp_deinit(&r);
    free(owner);
}

Test(api_keys, bad_inputs_name_the_field)
{
    char owner_id[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1], keys[128], long_name[160];
    char past[160], huge[160];
    char *owner = tix_shop_user(owner_id);
    tix_shop_org(owner, "Keys Org", NULL, org);
    keys_path(keys, sizeof(keys), org);
    char name101[102];
    memset(name101, 'n', 101);
    name101[101] = '\0';
    snprintf(long_name, sizeof(long_name), "{\"name\":\"%s\",\"scopes\":[\"orgs:read\"]}", name101);
    snprintf(past, sizeof(past), "{\"name\":\"k\",\"scopes\":[\"orgs:read\"],\"expires_at\":%lld}",
             (long long)(tix_now_us() / 1000000 - 10));
    snprintf(huge, sizeof(huge),
             "{\"name\":\"k\",\"scopes\":[\"orgs:read\"],\"expires_at\":100000000000}");
    const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"name\":\"k\",\"scopes\":[\"orgs:write\"]}", "scopes"},
        {"{\"name\":\"k\",\"scopes\":[]}", "scopes"},
        {"{\"name\":\"k\",\"scopes\":[\"orgs:read\",\"orgs:read\"]}", "scopes"},
        {"{\"name\":\"k\",\"scopes\":[\"orgs:read\",1]}", "scopes"},
        {"{\"name\":\"k\",\"scopes\":\"orgs:read\"}", "scopes"},
        {"{\"name\":\"k\",\"scopes\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\","
         "\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}",
         "scopes"},
        {"{\"name\":\"k\"}", "scopes"},
        {long_name, "name"},
        {"{\"name\":\"\",\"scopes\":[\"orgs:read\"]}", "name"},
        {"{\"name\":7,\"scopes\":[\"orgs:read\"]}", "name"},
        {"{\"scopes\":[\"orgs:read\"]}", "name"},
        {past, "expires_at"},
        {huge, "expires_at"},
        {"{\"name\":\"k\",\"scopes\":[\"orgs:read\"],\"expires_at\":\"2099-01-01\"}", "expires_at"},
        {"{\"name\":\"k\",\"scopes\":[\"orgs:read\"],\"expires_at\":4102444800.5}", "expires_at"},
        {"{\"name\":\"k\",\"scopes\":[\"orgs:read\"],\"secret\":\"mine\"}", "secret"},
        /* only the aggregate sees that a blank name trims to nothing */
        {"{\"name\":\"   \",\"scopes\":[\"orgs:read\"]}", "name"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tix_http_resp r;
        tix_http("POST", keys, owner, cases[i].body, NULL, &r);
        expect_problem(&r, 422);
        cr_assert(tix_http_has_error_field(&r, cases[i].field), "%s: %s", cases[i].body, r.body);
        tix_http_resp_deinit(&r);
    }
    struct tix_http_resp r;
    tix_http("POST", keys, owner, "{\"name\":", NULL, &r);
    expect_problem(&r, 400);
    tix_http_resp_deinit(&r);
    tix_http("GET", keys, owner, NULL, NULL, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0, "nothing was created: %s",
                 r.body);
    tix_http_resp_deinit(&r);
    free(owner);
}

Test(api_keys, malformed_keys_are_refused)
{
    char owner_id[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1], key[KEY_LEN + 1], path[128];
    char *owner = tix_shop_user(owner_id);
    tix_shop_org(owner, "Keys Org", NULL, org);
    working_key(owner, org, "[\"orgs:read\"]", key);
    snprintf(path, sizeof(path), "/api/v1/organizations/%s", org);
    char wrong_prefix[KEY_LEN + 1], bad_uuid[KEY_LEN + 1], upper[KEY_LEN + 1];
    char short_secret[64], wrong_secret[KEY_LEN + 1], no_sep[KEY_LEN + 1], other_id[KEY_LEN + 1];
    snprintf(wrong_prefix, sizeof(wrong_prefix), "tixmx_%s", key + 6);
    snprintf(bad_uuid, sizeof(bad_uuid), "%s", key);
    bad_uuid[6 + 8] = 'x'; /* the first hyphen of the uuid */
    snprintf(upper, sizeof(upper), "%s", key);
    for (int i = 6; i < 6 + TIX_UUID_LEN; i++)
        upper[i] = (char)(upper[i] >= 'a' && upper[i] <= 'f' ? upper[i] - 32 : upper[i]);
    snprintf(short_secret, sizeof(short_secret), "%.*s", 6 + TIX_UUID_LEN + 1 + 10, key);
    snprintf(wrong_secret, sizeof(wrong_secret), "%s", key);
    char *last = &wrong_secret[KEY_LEN - 1];
    *last = *last == 'A' ? 'B' : 'A';
    snprintf(no_sep, sizeof(no_sep), "%s", key);
    no_sep[6 + TIX_UUID_LEN] = '-';
    char uid[TIX_UUID_LEN + 1];
    tix_uuid_v7(uid);
    snprintf(other_id, sizeof(other_id), "tixmo_%s%s", uid, key + 6 + TIX_UUID_LEN);
    const char *bad[] = {wrong_prefix, bad_uuid, upper,    short_secret, wrong_secret,
                         no_sep,       other_id, "tixmo_", "tixmo_x",    "tixmo"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tix_http_resp r;
        tix_http("GET", path, bad[i], NULL, NULL, &r);
        expect_problem(&r, 401);
        tix_http_resp_deinit(&r);
    }
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", path, key, NULL, NULL, &r), 200, "the real key still works");
    tix_http_resp_deinit(&r);
    free(owner);
}

Test(api_keys, a_retried_create_makes_no_second_key_and_never_replays_the_secret)
{
    char owner_id[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1], keys[128], idem[96];
    char *owner = tix_shop_user(owner_id);
    tix_shop_org(owner, "Keys Org", NULL, org);
    keys_path(keys, sizeof(keys), org);
    snprintf(idem, sizeof(idem), "Idempotency-Key: key-%s", org);
    const char *const headers[] = {idem, NULL};
    const char *body = "{\"name\":\"Once\",\"scopes\":[\"reports:read\"]}";
    struct tix_http_resp first, again;
    tix_http("POST", keys, owner, body, headers, &first);
    cr_assert_eq(first.status, 201, "%s", first.body);
    tix_http("POST", keys, owner, body, headers, &again);
    cr_assert_eq(again.status, 409, "%s", again.body);
    cr_assert_str_eq(again.replayed, "true");
    cr_assert(strstr(again.body, "secret-not-replayed") != NULL, "%s", again.body);
    cr_assert(strstr(again.body, "tixmo_") == NULL, "the secret is not stored for replay");
    tix_http_resp_deinit(&first);
    tix_http_resp_deinit(&again);
    struct tix_http_resp list = {0};
    for (int i = 0; i < 100; i++) { /* until the projector has it */
        tix_http_resp_deinit(&list);
        cr_assert_eq(tix_http("GET", keys, owner, NULL, NULL, &list), 200);
        if (json_array_size(json_object_get(list.json, "items")) > 0)
            break;
        usleep(50000);
    }
    usleep(300000); /* a second key, if any, would show by now */
    tix_http_resp_deinit(&list);
    tix_http("GET", keys, owner, NULL, NULL, &list);
    cr_assert_eq(json_array_size(json_object_get(list.json, "items")), 1, "%s", list.body);
    tix_http_resp_deinit(&list);
    free(owner);
}
