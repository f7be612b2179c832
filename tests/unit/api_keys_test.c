/* api_keys_test.c - the api_keys projection's apply(): events in, statements out
 *
 * Pure: no database. The statements' SQL runs against Postgres in the integration tests
 * (tests/integration/api_keys_test.c); here the parameters are checked, and that malformed
 * events are refused and unrelated ones ignored.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "projection.h"

#define KEY  "0190c1e2-0000-7000-8000-00000000aa01"
#define ORG  "0190c1e2-7a3b-7c4d-8e5f-0123456789ab"
#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct tix_projection *proj(void)
{
    const struct tix_projection *p = tix_projection_find("api_keys");
    cr_assert_not_null(p, "api_keys is registered");
    return p;
}

/* Applies one event (recorded at 2023-11-14T22:13:20.25Z, stream version 3) into out. */
static enum tix_rc apply(const char *type, const char *data, struct tix_stmts *out)
{
    struct tix_event e = {.stream_id = "apikey-" KEY,
                          .stream_version = 3,
                          .type = type,
                          .schema_version = 1,
                          .data = data,
                          .metadata = "{}",
                          .recorded_at_us = 1700000000250000LL};
    tix_stmts_init(out);
    return proj()->apply(&e, out);
}

static void expect_param(const struct tix_stmt *st, int i, const char *want)
{
    cr_assert_lt(i, st->n);
    if (want == NULL)
        cr_assert_null(st->params[i], "param %d is %s", i + 1, st->params[i]);
    else
        cr_assert_str_eq(st->params[i], want, "param %d", i + 1);
}

#define CREATED(scopes, expires)                                                                   \
    "{\"api_key_id\":\"" KEY "\",\"organization_id\":\"" ORG "\",\"name\":\"Sync\","               \
    "\"scopes\":" scopes ",\"secret_hash\":\"" HASH "\",\"prefix\":\"Ab-_09xZ\","                  \
    "\"expires_at\":" expires ",\"created_by\":\"user:" ORG "\"}"

Test(api_keys, the_projection_exposes_its_table)
{
    cr_assert_str_eq(proj()->tables[0], "api_keys");
    cr_assert_null(proj()->tables[1]);
    cr_assert_eq(proj()->source, TIX_SOURCE_EVENTS);
    cr_assert(strstr(proj()->ddl, "CREATE INDEX IF NOT EXISTS") != NULL);
}

Test(api_keys, created_inserts_a_row_with_space_separated_scopes)
{
    struct tix_stmts out;
    cr_assert_eq(
        apply("apikey.created", CREATED("[\"orgs:read\",\"members:read\"]", "1800000000"), &out),
        TIX_OK);
    cr_assert_eq(out.n, 1);
    const struct tix_stmt *st = &out.items[0];
    cr_assert(strncmp(st->sql, "INSERT INTO api_keys", 20) == 0);
    const char *want[] = {KEY,
                          ORG,
                          "Sync",
                          "Ab-_09xZ",
                          "orgs:read members:read",
                          HASH,
                          "user:" ORG,
                          "2023-11-14T22:13:20.250000Z",
                          "1800000000",
                          "3"};
    cr_assert_eq(st->n, 10);
    for (int i = 0; i < 10; i++)
        expect_param(st, i, want[i]);
    tix_stmts_deinit(&out);
}

Test(api_keys, a_key_without_expiry_gets_a_null)
{
    struct tix_stmts out;
    cr_assert_eq(apply("apikey.created", CREATED("[\"tickets:scan\"]", "null"), &out), TIX_OK);
    expect_param(&out.items[0], 4, "tickets:scan");
    expect_param(&out.items[0], 8, NULL);
    tix_stmts_deinit(&out);
}

Test(api_keys, revoked_sets_when_and_by_whom)
{
    struct tix_stmts out;
    cr_assert_eq(apply("apikey.revoked",
                       "{\"api_key_id\":\"" KEY "\",\"organization_id\":\"" ORG "\","
                       "\"revoked_by\":\"system:ops\"}",
                       &out),
                 TIX_OK);
    cr_assert_eq(out.n, 1);
    const struct tix_stmt *st = &out.items[0];
    cr_assert(strncmp(st->sql, "UPDATE api_keys SET revoked_at", 30) == 0);
    const char *want[] = {KEY, "2023-11-14T22:13:20.250000Z", "system:ops", "3", ORG};
    for (int i = 0; i < 5; i++)
        expect_param(st, i, want[i]);
    tix_stmts_deinit(&out);
}

Test(api_keys, other_events_add_nothing)
{
    const char *types[] = {"organization.created", "apikey.renamed", "user.registered",
                           "apikey.created.v2"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct tix_stmts out;
        cr_assert_eq(apply(types[i], "not json at all", &out), TIX_OK, "%s", types[i]);
        cr_assert_eq(out.n, 0);
        tix_stmts_deinit(&out);
    }
}

Test(api_keys, malformed_events_are_refused)
{
    const char *bad_created[] = {
        "not json",
        "[]",
        "{\"api_key_id\":\"x\",\"organization_id\":\"" ORG "\"}",
        CREATED("\"orgs:read\"", "null"),
        CREATED("[\"orgs:read\",1]", "null"),
        CREATED("[\"orgs:read members:read\"]", "null"),
        CREATED("[\"\"]", "null"),
        CREATED("[\"orgs:read\"]", "\"soon\""),
        "{\"api_key_id\":\"" KEY "\",\"organization_id\":\"" ORG "\",\"scopes\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad_created) / sizeof(bad_created[0]); i++) {
        struct tix_stmts out;
        cr_assert_eq(apply("apikey.created", bad_created[i], &out), TIX_EINVAL, "%s",
                     bad_created[i]);
        tix_stmts_deinit(&out);
    }
    struct tix_stmts out;
    cr_assert_eq(apply("apikey.revoked", "{\"api_key_id\":\"" KEY "\"}", &out), TIX_EINVAL);
    tix_stmts_deinit(&out);
}
