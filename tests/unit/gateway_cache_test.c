/* gateway_cache_test.c - the thread's memory of verified access tokens (gateway/cache.c)
 *
 * Rows of the read model are cached and dropped against a real Postgres
 * (tests/integration/gateway_cache_test.c); tokens need no peer.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "pipeline.h"
#include "tix/jwt.h"

#define NOW 1800000000LL

static struct tix_principal user(const char *id, const char *sid)
{
    struct tix_principal who = {.kind = TIX_PRINCIPAL_USER};
    snprintf(who.id, sizeof(who.id), "%s", id);
    snprintf(who.session_id, sizeof(who.session_id), "%s", sid);
    snprintf(who.actor, sizeof(who.actor), "user:%s", id);
    return who;
}

Test(tokens, a_verified_token_is_known_until_it_expires_and_no_other_is)
{
    cr_assert(sodium_init() >= 0);
    struct tix_gw_cache *c = tix_gw_cache_create(5000);
    const char *token = "aaaa.bbbb.cccc";
    struct tix_principal who = user("01a1fd04-e456-7e99-87e4-df37890b0471", "s-1");
    tix_gw_cache_token_put(c, token, NOW + 60, &who);

    struct tix_principal got = {0};
    cr_assert(tix_gw_cache_token_get(c, token, NOW, &got));
    cr_assert_eq(got.kind, TIX_PRINCIPAL_USER);
    cr_assert_str_eq(got.id, who.id);
    cr_assert_str_eq(got.session_id, "s-1");
    cr_assert_str_eq(got.actor, who.actor);

    struct tix_principal none = {0};
    cr_assert_not(tix_gw_cache_token_get(c, "aaaa.bbbb.cccd", NOW, &none), "one byte differs");
    cr_assert_not(tix_gw_cache_token_get(c, "aaaa.bbbb.ccc", NOW, &none), "a prefix");
    cr_assert_not(tix_gw_cache_token_get(c, "", NOW, &none));
    cr_assert_eq(none.kind, TIX_PRINCIPAL_NONE, "nothing filled in");

    cr_assert(tix_gw_cache_token_get(c, token, NOW + 60 + TIX_JWT_LEEWAY_S - 1, &got),
              "the same leeway as tix_jwt_verify");
    cr_assert_not(tix_gw_cache_token_get(c, token, NOW + 60 + TIX_JWT_LEEWAY_S, &got),
                  "expired: verified again (and refused) from then on");
    tix_gw_cache_destroy(c);
    tix_gw_cache_destroy(NULL);
}

Test(tokens, a_thread_without_cache_knows_no_token)
{
    struct tix_principal who = user("01a1fd04-e456-7e99-87e4-df37890b0471", "");
    tix_gw_cache_token_put(NULL, "t", NOW + 60, &who);
    cr_assert_not(tix_gw_cache_token_get(NULL, "t", NOW, &who));
}
