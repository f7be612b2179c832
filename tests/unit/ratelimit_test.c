/* ratelimit_test.c - the GCRA math and the local fallback table, on a fake clock */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>

#include "tix/ratelimit.h"

#define SEC 1000000LL
#define T0  (1000 * SEC) /* an arbitrary monotonic instant */

/* Runs n requests at now against *tat; returns how many were allowed. */
static int run(int64_t *tat, int64_t now, int n, int limit, int64_t period_us,
               struct tix_ratelimit_gcra *last)
{
    int allowed = 0;
    for (int i = 0; i < n; i++) {
        tix_ratelimit_gcra(*tat, now, limit, period_us, last);
        *tat = last->tat_us;
        allowed += last->is_allowed;
    }
    return allowed;
}

Test(gcra, a_fresh_subject_gets_exactly_the_burst_with_remaining_counting_down)
{
    int64_t tat = 0;
    struct tix_ratelimit_gcra g;
    for (int i = 0; i < 5; i++) {
        tix_ratelimit_gcra(tat, T0, 5, SEC, &g);
        cr_assert(g.is_allowed, "request %d", i + 1);
        cr_assert_eq(g.remaining, 4 - i);
        cr_assert_eq(g.reset_us, (i + 1) * 200000LL, "full again after %d intervals", i + 1);
        tat = g.tat_us;
    }
    tix_ratelimit_gcra(tat, T0, 5, SEC, &g);
    cr_assert_not(g.is_allowed);
    cr_assert_eq(g.remaining, 0);
    cr_assert_eq(g.tat_us, tat, "a denied request changes nothing");
    cr_assert_eq(g.retry_after_us, 200000, "one emission interval");
    cr_assert_eq(g.reset_us, SEC);
}

Test(gcra, retry_after_is_exact_to_the_microsecond)
{
    int64_t tat = 0;
    struct tix_ratelimit_gcra g;
    cr_assert_eq(run(&tat, T0, 5, 5, SEC, &g), 5);
    tix_ratelimit_gcra(tat, T0 + 199999, 5, SEC, &g);
    cr_assert_not(g.is_allowed);
    cr_assert_eq(g.retry_after_us, 1);
    tix_ratelimit_gcra(tat, T0 + 200000, 5, SEC, &g);
    cr_assert(g.is_allowed, "allowed exactly when retry_after says");
    cr_assert_eq(g.remaining, 0);
}

Test(gcra, steady_rate_is_one_request_per_interval_after_the_burst)
{
    int64_t tat = 0;
    struct tix_ratelimit_gcra g;
    cr_assert_eq(run(&tat, T0, 10, 5, SEC, &g), 5);
    int allowed = 0;
    for (int64_t t = T0; t <= T0 + 10 * SEC; t += 10000) /* every 10 ms for 10 s */
        allowed += run(&tat, t, 1, 5, SEC, &g);
    cr_assert_eq(allowed, 50, "5 per second over 10 s");
}

Test(gcra, partial_refill_gives_back_whole_intervals_only)
{
    int64_t tat = 0;
    struct tix_ratelimit_gcra g;
    run(&tat, T0, 5, 5, SEC, &g);
    cr_assert_eq(run(&tat, T0 + 450000, 5, 5, SEC, &g), 2, "2.25 intervals passed");
    cr_assert_eq(g.retry_after_us, 150000);
}

Test(gcra, reset_is_when_the_bucket_is_full_again)
{
    int64_t tat = 0;
    struct tix_ratelimit_gcra g;
    run(&tat, T0, 3, 5, SEC, &g);
    cr_assert_eq(g.reset_us, 600000);
    tix_ratelimit_gcra(tat, T0 + 600000, 5, SEC, &g);
    cr_assert(g.is_allowed);
    cr_assert_eq(g.remaining, 4, "a full bucket again");
    cr_assert_eq(run(&tat, T0 + 600000, 10, 5, SEC, &g), 5, "a whole burst again");
}

Test(gcra, a_period_that_does_not_divide_still_gives_exactly_the_burst)
{
    int64_t tat = 0;
    struct tix_ratelimit_gcra g;
    cr_assert_eq(run(&tat, T0, 20, 7, 60 * SEC, &g), 7);
    cr_assert_eq(g.retry_after_us, 60 * SEC / 7);
    tat = 0;
    cr_assert_eq(run(&tat, T0, 2000, 1000, SEC, &g), 1000);
    tat = 0;
    cr_assert_eq(run(&tat, T0, 3, 1, 86400 * SEC, &g), 1);
}

Test(gcra, result_rounds_seconds_up_and_never_says_retry_after_0_when_denied)
{
    struct tix_ratelimit_result r;
    struct tix_ratelimit_gcra denied = {.is_allowed = false, .retry_after_us = 1, .reset_us = 1};
    tix_ratelimit_result_of(&denied, 5, &r);
    cr_assert_not(r.is_allowed);
    cr_assert_eq(r.retry_after_s, 1);
    cr_assert_eq(r.reset_s, 1);
    cr_assert_eq(r.limit, 5);
    struct tix_ratelimit_gcra allowed = {.is_allowed = true, .remaining = 3, .reset_us = 1000001};
    tix_ratelimit_result_of(&allowed, 5, &r);
    cr_assert(r.is_allowed);
    cr_assert_eq(r.retry_after_s, 0);
    cr_assert_eq(r.remaining, 3);
    cr_assert_eq(r.reset_s, 2);
    struct tix_ratelimit_gcra exact = {.is_allowed = false, .retry_after_us = 2 * SEC};
    tix_ratelimit_result_of(&exact, 5, &r);
    cr_assert_eq(r.retry_after_s, 2);
}

/* ---- the local table */

Test(local, limits_each_class_and_subject_separately)
{
    struct tix_ratelimit_local *t = tix_ratelimit_local_create(1024);
    struct tix_ratelimit_result r;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tix_ratelimit_local_check(t, "auth", "ip:1.2.3.4", 3, 60, T0, &r, NULL),
                     TIX_OK);
    cr_assert(r.is_allowed && r.is_local);
    tix_ratelimit_local_check(t, "auth", "ip:1.2.3.4", 3, 60, T0, &r, NULL);
    cr_assert_not(r.is_allowed);
    cr_assert_eq(r.retry_after_s, 20);
    cr_assert_eq(r.reset_s, 60);
    tix_ratelimit_local_check(t, "auth", "ip:1.2.3.5", 3, 60, T0, &r, NULL);
    cr_assert(r.is_allowed, "another subject");
    tix_ratelimit_local_check(t, "general", "ip:1.2.3.4", 3, 60, T0, &r, NULL);
    cr_assert(r.is_allowed, "another class");
    tix_ratelimit_local_check(t, "auth", "ip:1.2.3.4", 3, 60, T0 + 20 * SEC, &r, NULL);
    cr_assert(r.is_allowed, "refilled one interval later");
    tix_ratelimit_local_destroy(t);
}

Test(local, bad_arguments_are_refused_and_denied)
{
    struct tix_ratelimit_local *t = tix_ratelimit_local_create(64);
    struct tix_ratelimit_result r;
    struct tix_err err;
    static const struct {
        const char *class, *subject;
        int limit, period_s;
        const char *field;
    } cases[] = {
        {"", "ip:1", 5, 60, "class"},
        {"Auth", "ip:1", 5, 60, "class"},
        {"a:b", "ip:1", 5, 60, "class"},
        {"auth", "", 5, 60, "subject"},
        {"auth", "ip 1", 5, 60, "subject"},
        {"auth", "ip:\x7f", 5, 60, "subject"},
        {"auth", "ip:1", 0, 60, "limit"},
        {"auth", "ip:1", TIX_RATELIMIT_LIMIT_MAX + 1, 60, "limit"},
        {"auth", "ip:1", 5, 0, "period_s"},
        {"auth", "ip:1", 5, TIX_RATELIMIT_PERIOD_MAX + 1, "period_s"},
        {NULL, "ip:1", 5, 60, "class"},
        {"auth", NULL, 5, 60, "subject"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(tix_ratelimit_local_check(t, cases[i].class, cases[i].subject, cases[i].limit,
                                               cases[i].period_s, T0, &r, &err),
                     TIX_EINVAL, "case %zu", i);
        cr_assert_str_eq(err.field, cases[i].field, "case %zu", i);
        cr_assert_not(r.is_allowed, "case %zu must deny", i);
        cr_assert_geq(r.retry_after_s, 1);
    }
    char long_subject[TIX_RATELIMIT_SUBJECT_MAX + 2];
    memset(long_subject, 'x', sizeof(long_subject) - 1);
    long_subject[sizeof(long_subject) - 1] = '\0';
    cr_assert_eq(tix_ratelimit_local_check(t, "auth", long_subject, 5, 60, T0, &r, NULL),
                 TIX_EINVAL);
    long_subject[TIX_RATELIMIT_SUBJECT_MAX] = '\0';
    cr_assert_eq(tix_ratelimit_local_check(t, "auth", long_subject, 5, 60, T0, &r, NULL), TIX_OK);
    tix_ratelimit_local_destroy(t);
}

Test(local, a_full_table_evicts_but_keeps_limiting_the_subject_in_use)
{
    struct tix_ratelimit_local *t = tix_ratelimit_local_create(64);
    struct tix_ratelimit_result r;
    char subject[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(subject, sizeof(subject), "ip:10.0.%d.%d", i / 256, i % 256);
        tix_ratelimit_local_check(t, "general", subject, 1, 60, T0 + i, &r, NULL);
        cr_assert(r.is_allowed, "a new subject has a full bucket (%d)", i);
        tix_ratelimit_local_check(t, "general", subject, 1, 60, T0 + i, &r, NULL);
        cr_assert_not(r.is_allowed, "the subject just charged is remembered (%d)", i);
    }
    tix_ratelimit_local_destroy(t);
}

Test(local, expired_entries_are_reused_before_live_ones)
{
    /* The table's hash key is random, so where subjects land differs from run to run. 100 live
     * subjects in 1,024 slots leave an expired slot in every probe window whatever the key
     * (5,000 simulated tables: all 100 stayed every time), so all must stay. With 40 in 64
     * slots, as this test had it, probe windows full of live subjects rightly evicted up to 14
     * (200,000 simulated tables), and its bound of 4 failed about one run in 40. */
    struct tix_ratelimit_local *t = tix_ratelimit_local_create(1024);
    struct tix_ratelimit_result r;
    char subject[32];
    /* Fill the table with buckets that are full again 1 s later. */
    for (int i = 0; i < 20000; i++) {
        snprintf(subject, sizeof(subject), "user:old-%d", i);
        tix_ratelimit_local_check(t, "general", subject, 1, 1, T0, &r, NULL);
    }
    /* 100 live subjects (far fewer than the slots): each must stay remembered. */
    for (int i = 0; i < 100; i++) {
        snprintf(subject, sizeof(subject), "user:live-%d", i);
        tix_ratelimit_local_check(t, "general", subject, 1, 3600, T0 + 2 * SEC, &r, NULL);
        cr_assert(r.is_allowed);
    }
    int remembered = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(subject, sizeof(subject), "user:live-%d", i);
        tix_ratelimit_local_check(t, "general", subject, 1, 3600, T0 + 3 * SEC, &r, NULL);
        remembered += !r.is_allowed;
    }
    cr_assert_eq(remembered, 100,
                 "a live subject was evicted while expired ones were left (%d of 100)", remembered);
    tix_ratelimit_local_destroy(t);
}

struct hammer {
    struct tix_ratelimit_local *t;
    int allowed;
};

static void *hammer_cb(void *arg)
{
    struct hammer *h = arg;
    struct tix_ratelimit_result r;
    for (int i = 0; i < 2000; i++) {
        tix_ratelimit_local_check(h->t, "holds", "user:shared", 1000, 60, T0, &r, NULL);
        h->allowed += r.is_allowed;
    }
    return NULL;
}

Test(local, threads_sharing_a_table_never_let_more_than_the_limit_through)
{
    struct tix_ratelimit_local *t = tix_ratelimit_local_create(256);
    pthread_t th[4];
    struct hammer h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){.t = t};
        pthread_create(&th[i], NULL, hammer_cb, &h[i]);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += h[i].allowed;
    }
    cr_assert_eq(total, 1000);
    tix_ratelimit_local_destroy(t);
}

Test(local, a_limiter_without_redis_decides_locally)
{
    struct tix_ratelimit_local *t = tix_ratelimit_local_create(64);
    struct tix_ratelimiter *rl = tix_ratelimiter_create(NULL, t);
    struct tix_ratelimit_result r;
    int allowed = 0;
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(tix_ratelimit_check(rl, "auth", "ip:127.0.0.1", 4, 60, &r, NULL), TIX_OK);
        cr_assert(r.is_local);
        allowed += r.is_allowed;
    }
    cr_assert_eq(allowed, 4);
    cr_assert_eq(tix_ratelimit_check(rl, "auth", "", 4, 60, &r, NULL), TIX_EINVAL);
    cr_assert_not(r.is_allowed);
    tix_ratelimiter_destroy(rl);
    tix_ratelimiter_destroy(NULL);
    tix_ratelimit_local_destroy(t);
    tix_ratelimit_local_destroy(NULL);
}

static void record_cb(void *ctx, const struct tix_ratelimit_result *r)
{
    *(struct tix_ratelimit_result *)ctx = *r;
}

Test(gcra, n_requests_at_once_allow_what_n_steps_in_a_row_allow)
{
    /* every stored TAT around now, several limits, batch sizes 0..40 */
    const int limits[] = {1, 5, 7, 600};
    for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
        for (int64_t back = -2 * SEC; back <= 2 * SEC; back += 37123) {
            for (int n = 0; n <= 40; n++) {
                int64_t tat = T0 + back;
                struct tix_ratelimit_gcra g;
                int steps = run(&tat, T0, n, limits[l], SEC, &g);
                int k = tix_ratelimit_gcra_n(T0 + back, T0, limits[l], SEC, n);
                cr_assert_eq(k, steps, "limit %d, tat %+lld us, n %d", limits[l], (long long)back,
                             n);
            }
        }
    }
    cr_assert_eq(tix_ratelimit_gcra_n(0, T0, 5, SEC, 3), 3, "an empty slot is a full bucket");
}

Test(local, the_async_limiter_without_redis_decides_locally_and_at_once)
{
    struct tix_ratelimit_local *t = tix_ratelimit_local_create(64);
    struct tix_ratelimit_async *rl = tix_ratelimit_async_create(NULL, t);
    struct tix_ratelimit_result results[6];
    int n = 0;
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(tix_ratelimit_check_async(rl, "auth", "ip:127.0.0.2", 4, 60, record_cb,
                                               &results[i], NULL),
                     TIX_OK);
        n += results[i].limit == 4; /* the callback ran before the call returned */
    }
    cr_assert_eq(n, 6);
    for (int i = 0; i < 6; i++) {
        cr_assert(results[i].is_local);
        cr_assert_eq(results[i].is_allowed, i < 4, "check %d", i);
    }
    struct tix_ratelimit_result bad = {.limit = -1};
    cr_assert_eq(tix_ratelimit_check_async(rl, "auth", "", 4, 60, record_cb, &bad, NULL),
                 TIX_EINVAL);
    cr_assert_eq(bad.limit, 4, "the callback ran");
    cr_assert_not(bad.is_allowed, "bad arguments deny");
    tix_ratelimit_async_destroy(rl);
    tix_ratelimit_async_destroy(NULL);
    tix_ratelimit_local_destroy(t);
}
