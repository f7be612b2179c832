/* gateway_limits_test.c - rate limits in Redis, and what happens when Redis is away
 *
 * Each test starts its own gateway with small limits. With Redis down, limits still hold
 * (a local limiter takes over: the door is never opened), reads still work, and an
 * Idempotency-Key can't be honored, which is said (503) rather than silently dropped.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "http.h"
#include "tix/ids.h"

static struct tix_test_stack stack;

static void start_limited(void)
{
    cr_assert(sodium_init() >= 0);
    static const char *const env[] = {"TIXMO_RL_GENERAL_PER_USER=5", "TIXMO_RL_GENERAL_PER_IP=1000",
                                      NULL};
    tix_test_stack_start(&stack, env);
}

static void start_without_redis(void)
{
    cr_assert(sodium_init() >= 0);
    static const char *const env[] = {"TIXMO_REDIS_URL=redis://127.0.0.1:1",
                                      "TIXMO_RL_GENERAL_PER_USER=5", "TIXMO_RL_GENERAL_PER_IP=1000",
                                      NULL};
    tix_test_stack_start(&stack, env);
}

static void stop(void)
{
    tix_test_stack_stop(&stack);
}

/* Sends n authenticated reads; returns how many were allowed; *last gets the last answer. */
static int burst(const char *token, int n, struct tix_http_resp *last)
{
    int allowed = 0;
    for (int i = 0; i < n; i++) {
        tix_http_resp_deinit(last);
        allowed += tix_http("GET", "/api/v1/organizations", token, NULL, NULL, last) == 200;
    }
    return allowed;
}

Test(limits, a_user_over_the_limit_gets_429_with_retry_after, .init = start_limited, .fini = stop,
     .timeout = 60)
{
    char me[TIX_UUID_LEN + 1], other[TIX_UUID_LEN + 1];
    tix_uuid_v7(me);
    tix_uuid_v7(other);
    char *token = tix_test_token(me, 600), *token2 = tix_test_token(other, 600);
    struct tix_http_resp r = {0};
    cr_assert_eq(burst(token, 8, &r), 5, "exactly the limit is allowed in a burst");
    cr_assert_eq(r.status, 429);
    cr_assert_str_eq(r.content_type, "application/problem+json");
    cr_assert(strtol(r.retry_after, NULL, 10) >= 1, "Retry-After: %s", r.retry_after);
    cr_assert_str_eq(r.ratelimit_remaining, "0");
    tix_http_resp_deinit(&r);
    cr_assert_eq(burst(token2, 1, &r), 1, "another user has a budget of their own");
    cr_assert_str_eq(r.ratelimit_remaining, "4");
    tix_http_resp_deinit(&r);
    free(token);
    free(token2);
}

Test(limits, redis_down_keeps_limits_and_refuses_idempotency_keys_openly,
     .init = start_without_redis, .fini = stop, .timeout = 60)
{
    char me[TIX_UUID_LEN + 1];
    tix_uuid_v7(me);
    char *token = tix_test_token(me, 600);
    struct tix_http_resp r = {0};
    cr_assert_eq(burst(token, 8, &r), 5, "the local limiter holds the same line");
    cr_assert_eq(r.status, 429);
    tix_http_resp_deinit(&r);
    char other[TIX_UUID_LEN + 1];
    tix_uuid_v7(other);
    char *token2 = tix_test_token(other, 600);
    const char *const idem[] = {"Idempotency-Key: k-1", NULL};
    tix_http("POST", "/api/v1/organizations", token2,
             "{\"name\":\"x\",\"slug\":\"no-redis\",\"type\":\"venue\"}", idem, &r);
    cr_assert_eq(r.status, 503, "%s", r.body);
    tix_http_resp_deinit(&r);
    free(token);
    free(token2);
}
