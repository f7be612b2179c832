/* async_io_test.c - Redis and Postgres on an event loop (lib/aredis.c, lib/apg.c) and the
 * batched, leasing rate limiter on top of them (lib/ratelimit_async.c), against real servers
 *
 * Each test runs its own libevent loop until what it started is answered. Two limiters on two
 * connections play two gateways sharing one Redis. Keys carry a fresh UUID.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <event2/event.h>
#include <signal.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "tix/apg.h"
#include "tix/aredis.h"
#include "tix/ids.h"
#include "tix/ratelimit.h"

static char run_id[TIX_UUID_LEN + 1];
static struct event_base *base;

static void setup(void)
{
    cr_assert(sodium_init() >= 0);
    signal(SIGPIPE, SIG_IGN);
    tix_uuid_v7(run_id);
    base = event_base_new();
}

static void teardown(void)
{
    event_base_free(base);
}

TestSuite(aredis, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(alimits, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(apg, .init = setup, .fini = teardown, .timeout = 60);

/* Runs the loop until *pending drops to 0 (or 10 s passed). */
static void run_until_done(const int *pending)
{
    int64_t until = tix_mono_ms() + 10000;
    while (*pending > 0 && tix_mono_ms() < until)
        event_base_loop(base, EVLOOP_ONCE);
    cr_assert_eq(*pending, 0, "%d callbacks never ran", *pending);
}

static struct tix_aredis *open_aredis(const char *url, int timeout_ms)
{
    struct tix_aredis *ar = NULL;
    struct tix_err err;
    cr_assert_eq(tix_aredis_open(base, url, timeout_ms, &ar, &err), TIX_OK, "%s", err.msg);
    return ar;
}

/* ---- aredis */

struct answer {
    int *pending;
    enum tix_rc rc;
    int type;
    char str[64];
    long long integer;
    bool was_called;
};

static void answer_cb(void *ctx, enum tix_rc rc, const redisReply *reply)
{
    struct answer *a = ctx;
    a->rc = rc;
    a->was_called = true;
    if (reply != NULL) {
        a->type = reply->type;
        a->integer = reply->integer;
        if (reply->str != NULL)
            snprintf(a->str, sizeof(a->str), "%.*s", (int)reply->len, reply->str);
    }
    (*a->pending)--;
}

static void cmd(struct tix_aredis *ar, struct answer *a, int argc, const char *const *argv)
{
    (*a->pending)++;
    tix_aredis_cmd_argv(ar, argc, argv, NULL, answer_cb, a);
}

Test(aredis, commands_are_answered_in_order_and_errors_are_translated)
{
    struct tix_aredis *ar = open_aredis(tix_test_env("TIXMO_REDIS_URL"), 1000);
    char key[64];
    snprintf(key, sizeof(key), "t:%s:a", run_id);
    int pending = 0;
    struct answer set = {.pending = &pending}, get = {.pending = &pending},
                  bad = {.pending = &pending}, incr = {.pending = &pending};
    cmd(ar, &set, 3, (const char *const[]){"SET", key, "41"});
    cmd(ar, &incr, 2, (const char *const[]){"INCR", key});
    cmd(ar, &get, 2, (const char *const[]){"GET", key});
    cmd(ar, &bad, 2, (const char *const[]){"NOSUCHCOMMAND", key});
    cr_assert_eq(pending, 4, "nothing answered before the loop ran");
    run_until_done(&pending);
    cr_assert_eq(set.rc, TIX_OK);
    cr_assert_eq(incr.integer, 42);
    cr_assert_str_eq(get.str, "42");
    cr_assert_eq(bad.rc, TIX_EINTERNAL, "an error reply is an internal error, never a reply");
    struct answer after = {.pending = &pending};
    cmd(ar, &after, 2, (const char *const[]){"DEL", key});
    run_until_done(&pending);
    cr_assert_eq(after.rc, TIX_OK, "the connection survived the error reply");
    tix_aredis_close(ar);
}

Test(aredis, a_dead_server_fails_at_once_and_a_silent_one_after_the_timeout)
{
    struct tix_aredis *ar = open_aredis("redis://127.0.0.1:1", 200);
    int pending = 0;
    struct answer a = {.pending = &pending};
    run_until_done(&pending); /* let the first connect fail */
    for (int i = 0; i < 20 && tix_aredis_is_up(ar); i++)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    cmd(ar, &a, 1, (const char *const[]){"PING"});
    cr_assert(a.was_called, "a known-dead server fails before the call returns");
    cr_assert_eq(a.rc, TIX_ETRANSIENT);
    tix_aredis_close(ar);

    /* a socket that accepts and never answers */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 16) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", ntohs(sa.sin_port));
    ar = open_aredis(url, 200);
    struct answer b = {.pending = &pending};
    int64_t t0 = tix_mono_ms();
    cmd(ar, &b, 1, (const char *const[]){"PING"});
    run_until_done(&pending);
    int64_t waited = tix_mono_ms() - t0;
    cr_assert_eq(b.rc, TIX_ETRANSIENT);
    cr_assert(waited >= 200 && waited < 1000, "failed after %lld ms", (long long)waited);
    tix_aredis_close(ar);
    close(fd);
}

/* ---- the limiter */

struct decision {
    int *pending;
    struct tix_ratelimit_result r;
};

static void decision_cb(void *ctx, const struct tix_ratelimit_result *r)
{
    struct decision *d = ctx;
    d->r = *r;
    (*d->pending)--;
}

/* Starts n checks of subject on rl without running the loop. */
static void start_checks(struct tix_ratelimit_async *rl, const char *subject, int limit,
                         int period_s, struct decision *d, int n, int *pending)
{
    for (int i = 0; i < n; i++) {
        d[i].pending = pending;
        (*pending)++;
        cr_assert_eq(tix_ratelimit_check_async(rl, "general", subject, limit, period_s, decision_cb,
                                               &d[i], NULL),
                     TIX_OK);
    }
}

Test(alimits, checks_decided_together_get_what_one_by_one_would_give)
{
    struct tix_aredis *ar = open_aredis(tix_test_env("TIXMO_REDIS_URL"), 1000);
    struct tix_ratelimit_local *local = tix_ratelimit_local_create(64);
    struct tix_ratelimit_async *rl = tix_ratelimit_async_create(ar, local);
    char subject[64];
    snprintf(subject, sizeof(subject), "user:%s", run_id);
    struct decision d[9];
    int pending = 0;
    start_checks(rl, subject, 5, 60, d, 9, &pending);
    cr_assert_eq(pending, 9, "nobody is answered before Redis is");
    run_until_done(&pending);
    for (int i = 0; i < 9; i++) {
        cr_assert_eq(d[i].r.is_allowed, i < 5, "check %d", i);
        cr_assert_not(d[i].r.is_local);
        cr_assert_eq(d[i].r.remaining, i < 5 ? 4 - i : 0, "check %d", i);
        cr_assert_eq(d[i].r.retry_after_s, i < 5 ? 0 : 12, "check %d: one interval of 60 s / 5", i);
    }
    /* the bucket is known empty: denied at once, with the same Retry-After */
    struct decision late = {.pending = &pending};
    start_checks(rl, subject, 5, 60, &late, 1, &pending);
    cr_assert_eq(pending, 0, "decided without a round trip");
    cr_assert_not(late.r.is_allowed);
    cr_assert(late.r.retry_after_s >= 11 && late.r.retry_after_s <= 12);
    tix_ratelimit_async_destroy(rl);
    tix_aredis_close(ar);
    tix_ratelimit_local_destroy(local);
}

Test(alimits, two_gateways_leasing_ahead_never_allow_more_than_the_limit)
{
    struct tix_aredis *ar1 = open_aredis(tix_test_env("TIXMO_REDIS_URL"), 1000);
    struct tix_aredis *ar2 = open_aredis(tix_test_env("TIXMO_REDIS_URL"), 1000);
    struct tix_ratelimit_local *local = tix_ratelimit_local_create(64);
    struct tix_ratelimit_async *g1 = tix_ratelimit_async_create(ar1, local);
    struct tix_ratelimit_async *g2 = tix_ratelimit_async_create(ar2, local);
    char subject[64];
    snprintf(subject, sizeof(subject), "user:%s", run_id);
    enum { LIMIT = 400, ROUNDS = 60, PER_ROUND = 10 };
    static struct decision d[2][ROUNDS][PER_ROUND];
    int allowed = 0, without_wait = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int pending = 0;
        start_checks(g1, subject, LIMIT, 3600, d[0][round], PER_ROUND, &pending);
        int before = pending;
        start_checks(g2, subject, LIMIT, 3600, d[1][round], PER_ROUND, &pending);
        without_wait += PER_ROUND - (pending - before);
        run_until_done(&pending);
        for (int g = 0; g < 2; g++)
            for (int i = 0; i < PER_ROUND; i++)
                allowed += d[g][round][i].r.is_allowed;
    }
    cr_assert_eq(
        allowed, LIMIT,
        "1200 checks, 9 s apart at most one refill: the limit exactly (%d, %d without waiting)",
        allowed, without_wait);
    cr_assert_gt(without_wait, 0, "leased cells decide checks without a round trip");
    tix_ratelimit_async_destroy(g1);
    tix_ratelimit_async_destroy(g2);
    tix_aredis_close(ar1);
    tix_aredis_close(ar2);
    tix_ratelimit_local_destroy(local);
}

Test(alimits, a_dead_redis_decides_the_waiting_checks_locally)
{
    struct tix_aredis *ar = open_aredis("redis://127.0.0.1:1", 200);
    struct tix_ratelimit_local *local = tix_ratelimit_local_create(64);
    struct tix_ratelimit_async *rl = tix_ratelimit_async_create(ar, local);
    struct decision d[6];
    int pending = 0;
    start_checks(rl, "ip:10.9.8.7", 4, 60, d, 6, &pending);
    run_until_done(&pending);
    for (int i = 0; i < 6; i++) {
        cr_assert(d[i].r.is_local, "check %d", i);
        cr_assert_eq(d[i].r.is_allowed, i < 4, "the local table holds the same line (check %d)", i);
    }
    tix_ratelimit_async_destroy(rl);
    tix_aredis_close(ar);
    tix_ratelimit_local_destroy(local);
}

/* ---- apg */

struct rows {
    int *pending;
    enum tix_rc rc;
    char first[64];
    int n;
};

static void rows_cb(void *ctx, enum tix_rc rc, PGresult *res)
{
    struct rows *r = ctx;
    r->rc = rc;
    if (res != NULL) {
        r->n = PQntuples(res);
        if (r->n > 0)
            snprintf(r->first, sizeof(r->first), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    (*r->pending)--;
}

struct heard {
    char payloads[8][96];
    int n;
    int resets;
};

static void heard_cb(void *ctx, const char *channel, const char *payload)
{
    struct heard *h = ctx;
    (void)channel;
    if (h->n < 8)
        snprintf(h->payloads[h->n++], sizeof(h->payloads[0]), "%s", payload);
}

static void reset_cb(void *ctx)
{
    ((struct heard *)ctx)->resets++;
}

Test(apg, pipelined_queries_fail_alone_and_notifications_arrive)
{
    static const char *const channels[] = {"tix_test_apg", NULL};
    struct heard h = {0};
    struct tix_apg_listener l = {
        .channels = channels, .on_notify = heard_cb, .on_reset = reset_cb, .ctx = &h};
    struct tix_apg *pg = NULL;
    struct tix_err err;
    cr_assert_eq(tix_apg_open(base, tix_test_env("TIXMO_DB_URL"), &l, &pg, &err), TIX_OK, "%s",
                 err.msg);
    int pending = 0;
    struct rows a = {.pending = &pending}, bad = {.pending = &pending}, b = {.pending = &pending};
    pending = 3;
    const char *one[] = {"21"};
    tix_apg_query(pg, "t_double", "SELECT ($1::int * 2)::text", 1, one, rows_cb, &a);
    const char *nan[] = {"not a number"};
    tix_apg_query(pg, "t_double", "SELECT ($1::int * 2)::text", 1, nan, rows_cb, &bad);
    const char *two[] = {"50"};
    tix_apg_query(pg, "t_double", "SELECT ($1::int * 2)::text", 1, two, rows_cb, &b);
    run_until_done(&pending);
    cr_assert_eq(a.rc, TIX_OK);
    cr_assert_str_eq(a.first, "42");
    cr_assert_eq(bad.rc, TIX_EINVAL, "invalid input syntax is the caller's");
    cr_assert_eq(b.rc, TIX_OK, "a failed query fails no other");
    cr_assert_str_eq(b.first, "100");

    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    char payload[64];
    snprintf(payload, sizeof(payload), "users:%s", run_id);
    const char *params[] = {payload};
    tix_db_exec(db, "SELECT pg_notify('tix_test_apg', $1)", 1, params, NULL, NULL);
    int64_t until = tix_mono_ms() + 5000;
    while (h.n == 0 && tix_mono_ms() < until)
        event_base_loop(base, EVLOOP_ONCE);
    cr_assert_eq(h.n, 1);
    cr_assert_str_eq(h.payloads[0], payload);
    cr_assert_eq(h.resets, 0);
    tix_db_close(db);
    tix_apg_close(pg);
}
