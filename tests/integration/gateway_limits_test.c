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
    /* A generous Redis timeout: a stall on a busy machine must not switch a request to the
     * local limiter (a budget of its own) in the middle of the burst. */
    static const char *const env[] = {"TIXMO_RL_GENERAL_PER_USER=5", "TIXMO_RL_GENERAL_PER_IP=1000",
                                      "TIXMO_REDIS_TIMEOUT_MS=3000", NULL};
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

/* Sends n authenticated reads; returns how many were allowed; *last gets the last answer and
 * seen[] (64 bytes) the statuses in order, for the failure message. */
static int burst(const char *token, int n, struct tix_http_resp *last, char *seen)
{
    int allowed = 0;
    size_t used = 0;
    seen[0] = '\0';
    for (int i = 0; i < n; i++) {
        tix_http_resp_deinit(last);
        long status = tix_http("GET", "/api/v1/organizations", token, NULL, NULL, last);
        allowed += status == 200;
        if (used < 60)
            used += (size_t)snprintf(seen + used, 64 - used, "%s%ld", i ? "," : "", status);
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
    char seen[64];
    cr_assert_eq(burst(token, 8, &r, seen), 5, "exactly the limit is allowed in a burst: %s", seen);
    cr_assert_eq(r.status, 429);
    cr_assert_str_eq(r.content_type, "application/problem+json");
    cr_assert(strtol(r.retry_after, NULL, 10) >= 1, "Retry-After: %s", r.retry_after);
    cr_assert_str_eq(r.ratelimit_remaining, "0");
    tix_http_resp_deinit(&r);
    cr_assert_eq(burst(token2, 1, &r, seen), 1, "another user has a budget of their own: %s", seen);
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
    char seen[64];
    cr_assert_eq(burst(token, 8, &r, seen), 5, "the local limiter holds the same line: %s", seen);
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
