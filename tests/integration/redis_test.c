/* redis_test.c - the Redis wrapper, GCRA rate limits and idempotency keys against a real Redis
 *
 * TIXMO_REDIS_URL must name a reachable server (the test fails, never skips, otherwise). Dead
 * servers are played by 127.0.0.1:1 (nothing listens: connect is refused) and by a socket of
 * this process that listens but never answers (every command times out). Keys carry a fresh
 * UUID, so runs never see each other's state.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "tix/idempotency.h"
#include "tix/ids.h"
#include "tix/ratelimit.h"
#include "tix/redis.h"

#define DEAD_URL "redis://127.0.0.1:1"

static char run_id[TIX_UUID_LEN + 1];

static void setup(void)
{
    cr_assert(sodium_init() >= 0);
    signal(SIGPIPE, SIG_IGN); /* see redis.h */
    tix_uuid_v7(run_id);
}

TestSuite(redis, .init = setup, .timeout = 60);
TestSuite(ratelimit, .init = setup, .timeout = 60);
TestSuite(idem, .init = setup, .timeout = 60);

static struct tix_redis *open_url(const char *url, int timeout_ms)
{
    struct tix_redis *r = NULL;
    struct tix_err err;
    if (tix_redis_open(url, timeout_ms, &r, &err) != TIX_OK)
        cr_assert_fail("tix_redis_open(%s): %s", url, err.msg);
    return r;
}

/* A connection to the test server; fails the test when it does not answer PING. */
static struct tix_redis *open_redis(void)
{
    struct tix_redis *r = open_url(tix_test_env("TIXMO_REDIS_URL"), 1000);
    struct tix_err err;
    if (tix_redis_cmd(r, NULL, &err, "PING") != TIX_OK)
        cr_assert_fail("cannot reach redis via TIXMO_REDIS_URL: %s", err.msg);
    return r;
}

static long long cmd_int(struct tix_redis *r, const char *fmt_key_cmd, const char *key)
{
    redisReply *reply = NULL;
    struct tix_err err;
    cr_assert_eq(tix_redis_cmd(r, &reply, &err, fmt_key_cmd, key), TIX_OK, "%s", err.msg);
    cr_assert_eq(reply->type, REDIS_REPLY_INTEGER);
    long long v = reply->integer;
    freeReplyObject(reply);
    return v;
}

/* A socket that accepts connections (in the kernel backlog) and never answers. */
static int silent_server(char *url, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    cr_assert(listen(fd, 16) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    snprintf(url, size, "redis://127.0.0.1:%d", ntohs(a.sin_port));
    return fd;
}

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* ---- the wrapper */

Test(redis, commands_round_trip_binary_safe_values)
{
    struct tix_redis *r = open_redis();
    char key[80];
    snprintf(key, sizeof(key), "test:%s:bin", run_id);
    static const char value[] = "a\0b\r\n%s %b \xff";
    redisReply *reply = NULL;
    cr_assert_eq(tix_redis_cmd(r, NULL, NULL, "SET %s %b EX 60", key, value, sizeof(value)),
                 TIX_OK);
    cr_assert_eq(tix_redis_cmd(r, &reply, NULL, "GET %s", key), TIX_OK);
    cr_assert_eq(reply->type, REDIS_REPLY_STRING);
    cr_assert_eq(reply->len, sizeof(value));
    cr_assert_arr_eq(reply->str, value, sizeof(value));
    freeReplyObject(reply);

    const char *argv[] = {"GET", key};
    cr_assert_eq(tix_redis_cmd_argv(r, 2, argv, NULL, &reply, NULL), TIX_OK);
    cr_assert_eq(reply->len, sizeof(value));
    freeReplyObject(reply);
    cr_assert_eq(cmd_int(r, "DEL %s", key), 1);
    cr_assert_eq(tix_redis_cmd(r, &reply, NULL, "GET %s", key), TIX_OK);
    cr_assert_eq(reply->type, REDIS_REPLY_NIL);
    freeReplyObject(reply);
    tix_redis_close(r);
}

Test(redis, error_replies_are_internal_errors_with_the_message_and_keep_the_connection)
{
    struct tix_redis *r = open_redis();
    char key[80];
    snprintf(key, sizeof(key), "test:%s:str", run_id);
    cr_assert_eq(tix_redis_cmd(r, NULL, NULL, "SET %s %s EX 60", key, "abc"), TIX_OK);
    redisReply *reply = (redisReply *)1;
    struct tix_err err;
    cr_assert_eq(tix_redis_cmd(r, &reply, &err, "INCR %s", key), TIX_EINTERNAL);
    cr_assert_null(reply, "nothing to free on failure");
    cr_assert(strstr(err.msg, "not an integer") != NULL, "%s", err.msg);
    cr_assert_eq(tix_redis_cmd(r, NULL, &err, "NOSUCHCOMMAND %s", key), TIX_EINTERNAL);
    cr_assert(strstr(err.msg, "unknown command") != NULL, "%s", err.msg);
    cr_assert_eq(tix_redis_cmd_argv(r, 0, NULL, NULL, NULL, &err), TIX_EINVAL);
    cr_assert(tix_redis_is_up(r));
    /* hiredis 0.14 poisons its context on a bad format: a bug of ours, repaired at once. */
    cr_assert_eq(tix_redis_cmd(r, NULL, &err, "GET %q", key), TIX_EINTERNAL);
    cr_assert(strstr(err.msg, "Invalid format string") != NULL, "%s", err.msg);
    cr_assert_eq(tix_redis_cmd(r, NULL, NULL, "PING"), TIX_OK);
    tix_redis_cmd(r, NULL, NULL, "DEL %s", key);
    tix_redis_close(r);
}

Test(redis, malformed_urls_and_timeouts_are_invalid)
{
    static const char *const bad[] = {
        "http://127.0.0.1:6379", "redis://",
        "redis://:6379",         "redis://host:0",
        "redis://host:65536",    "redis://host:12a",
        "redis://host:1/x",      "redis://[::1",
        "redis://user@host",     NULL,
    };
    struct tix_redis *r = (struct tix_redis *)1;
    struct tix_err err;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(tix_redis_open(bad[i], 100, &r, &err), TIX_EINVAL, "%s",
                     bad[i] ? bad[i] : "NULL");
        cr_assert_null(r);
    }
    cr_assert_eq(tix_redis_open(DEAD_URL, 0, &r, &err), TIX_EINVAL);
    tix_redis_close(NULL);
}

Test(redis, a_database_number_selects_that_database)
{
    char url[300];
    snprintf(url, sizeof(url), "%s/3", tix_test_env("TIXMO_REDIS_URL"));
    struct tix_redis *r3 = open_url(url, 1000);
    struct tix_redis *r0 = open_redis();
    char key[80];
    snprintf(key, sizeof(key), "test:%s:db", run_id);
    cr_assert_eq(tix_redis_cmd(r3, NULL, NULL, "SET %s 1 EX 60", key), TIX_OK);
    cr_assert_eq(cmd_int(r3, "EXISTS %s", key), 1);
    cr_assert_eq(cmd_int(r0, "EXISTS %s", key), 0);
    tix_redis_cmd(r3, NULL, NULL, "DEL %s", key);
    tix_redis_close(r3);
    tix_redis_close(r0);
}

Test(redis, a_refused_password_leaves_the_handle_down_with_the_reason)
{
    const char *url = tix_test_env("TIXMO_REDIS_URL");
    cr_assert(strncmp(url, "redis://", 8) == 0 && strchr(url + 8, '@') == NULL,
              "this test needs a server without a password");
    char bad[300];
    snprintf(bad, sizeof(bad), "redis://someone:nope@%s", url + 8);
    struct tix_redis *r = open_url(bad, 500);
    cr_assert_not(tix_redis_is_up(r));
    struct tix_err err;
    cr_assert_eq(tix_redis_cmd(r, NULL, &err, "PING"), TIX_ETRANSIENT);
    cr_assert(strstr(err.msg, "WRONGPASS") != NULL, "%s", err.msg);
    tix_redis_close(r);
}

Test(redis, a_dead_server_fails_fast_and_is_retried_once_per_second)
{
    struct tix_redis *r = open_url(DEAD_URL, 500);
    cr_assert_not(tix_redis_is_up(r));
    struct tix_err err;
    int64_t t0 = tix_mono_ms();
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(tix_redis_cmd(r, NULL, &err, "PING"), TIX_ETRANSIENT);
    cr_assert_lt(tix_mono_ms() - t0, 100, "1000 calls against a dead server");
    cr_assert(strstr(err.msg, "127.0.0.1:1") != NULL, "%s", err.msg);
    sleep_ms(1100);
    cr_assert_eq(tix_redis_cmd(r, NULL, &err, "PING"), TIX_ETRANSIENT, "retried, still dead");
    cr_assert(strstr(err.msg, "connect") != NULL, "%s", err.msg);
    tix_redis_close(r);
}

Test(redis, a_command_that_times_out_drops_the_connection_and_it_comes_back)
{
    struct tix_redis *r = open_redis();
    tix_redis_close(r);
    r = open_url(tix_test_env("TIXMO_REDIS_URL"), 200);
    char key[80];
    snprintf(key, sizeof(key), "test:%s:never", run_id);
    struct tix_err err;
    int64_t t0 = tix_mono_ms();
    cr_assert_eq(tix_redis_cmd(r, NULL, &err, "BLPOP %s 5", key), TIX_ETRANSIENT);
    int64_t took = tix_mono_ms() - t0;
    cr_assert(took >= 150 && took < 700, "timed out after %lld ms", (long long)took);
    cr_assert_not(tix_redis_is_up(r));
    t0 = tix_mono_ms();
    cr_assert_eq(tix_redis_cmd(r, NULL, &err, "PING"), TIX_ETRANSIENT, "no reconnect yet");
    cr_assert_lt(tix_mono_ms() - t0, 20);
    sleep_ms(1100);
    cr_assert_eq(tix_redis_cmd(r, NULL, &err, "PING"), TIX_OK, "%s", err.msg);
    cr_assert(tix_redis_is_up(r));
    tix_redis_close(r);
}

Test(redis, a_silent_server_costs_one_timeout_then_fast_failures)
{
    char url[64];
    int fd = silent_server(url, sizeof(url));
    struct tix_redis *r = open_url(url, 200);
    cr_assert(tix_redis_is_up(r), "the kernel accepted the connection");
    int64_t t0 = tix_mono_ms();
    cr_assert_eq(tix_redis_cmd(r, NULL, NULL, "PING"), TIX_ETRANSIENT);
    int64_t took = tix_mono_ms() - t0;
    cr_assert(took >= 150 && took < 700, "timed out after %lld ms", (long long)took);
    t0 = tix_mono_ms();
    for (int i = 0; i < 100; i++)
        cr_assert_eq(tix_redis_cmd(r, NULL, NULL, "PING"), TIX_ETRANSIENT);
    cr_assert_lt(tix_mono_ms() - t0, 50);
    tix_redis_close(r);
    close(fd);
}

Test(redis, a_connection_the_server_closed_reconnects_on_the_next_call)
{
    struct tix_redis *r = open_redis();
    struct tix_redis *admin = open_redis();
    redisReply *reply = NULL;
    cr_assert_eq(tix_redis_cmd(r, &reply, NULL, "CLIENT ID"), TIX_OK);
    char id[32];
    snprintf(id, sizeof(id), "%lld", reply->integer);
    freeReplyObject(reply);
    cr_assert_eq(tix_redis_cmd(admin, NULL, NULL, "CLIENT KILL ID %s", id), TIX_OK);
    struct tix_err err;
    cr_assert_eq(tix_redis_cmd(r, NULL, &err, "PING"), TIX_ETRANSIENT, "the loss is reported");
    cr_assert_eq(tix_redis_cmd(r, NULL, &err, "PING"), TIX_OK, "and repaired at once: %s", err.msg);
    tix_redis_close(admin);
    tix_redis_close(r);
}

static const struct tix_redis_script echo_script = {
    .name = "echo",
    .src = "return {KEYS[1], ARGV[1], #ARGV[1]}",
};

static const struct tix_redis_script broken_script = {
    .name = "broken",
    .src = "return redis.error_reply('BROKEN on purpose')",
};

Test(redis, scripts_run_by_sha_and_survive_a_script_flush)
{
    struct tix_redis *r = open_redis();
    static const char bin[] = "x\0y";
    const char *argv[] = {"k", bin};
    const size_t len[] = {1, 3};
    for (int round = 0; round < 2; round++) {
        redisReply *reply = NULL;
        struct tix_err err;
        cr_assert_eq(tix_redis_eval(r, &echo_script, 1, 2, argv, len, &reply, &err), TIX_OK,
                     "round %d: %s", round, err.msg);
        cr_assert_eq(reply->elements, 3);
        cr_assert_str_eq(reply->element[0]->str, "k");
        cr_assert_eq(reply->element[1]->len, 3);
        cr_assert_arr_eq(reply->element[1]->str, bin, 3);
        cr_assert_eq(reply->element[2]->integer, 3);
        freeReplyObject(reply);
        cr_assert_eq(tix_redis_cmd(r, NULL, NULL, "SCRIPT FLUSH"), TIX_OK); /* NOSCRIPT next */
    }
    struct tix_err err;
    cr_assert_eq(tix_redis_eval(r, &broken_script, 0, 0, NULL, NULL, NULL, &err), TIX_EINTERNAL);
    cr_assert(strstr(err.msg, "broken") && strstr(err.msg, "BROKEN on purpose"), "%s", err.msg);
    cr_assert_eq(tix_redis_eval(r, &echo_script, 2, 1, argv, len, NULL, &err), TIX_EINVAL);
    cr_assert_eq(tix_redis_script_load(r, &echo_script, &err), TIX_OK);
    tix_redis_close(r);
}

/* ---- rate limits */

struct limiter {
    struct tix_redis *redis;
    struct tix_ratelimit_local *local;
    struct tix_ratelimiter *rl;
};

static struct limiter limiter_on(struct tix_redis *redis)
{
    struct limiter l = {.redis = redis, .local = tix_ratelimit_local_create(1024)};
    l.rl = tix_ratelimiter_create(redis, l.local);
    return l;
}

static void limiter_close(struct limiter *l)
{
    tix_ratelimiter_destroy(l->rl);
    tix_ratelimit_local_destroy(l->local);
    tix_redis_close(l->redis);
}

static struct tix_ratelimit_result check(struct limiter *l, const char *class, const char *who,
                                         int limit, int period_s)
{
    char subject[128];
    snprintf(subject, sizeof(subject), "%s:%s", who, run_id);
    struct tix_ratelimit_result r;
    struct tix_err err;
    cr_assert_eq(tix_ratelimit_check(l->rl, class, subject, limit, period_s, &r, &err), TIX_OK,
                 "%s", err.msg);
    return r;
}

static int count_allowed(struct limiter *l, const char *class, const char *who, int n, int limit,
                         int period_s)
{
    int allowed = 0;
    for (int i = 0; i < n; i++)
        allowed += check(l, class, who, limit, period_s).is_allowed;
    return allowed;
}

Test(ratelimit, a_burst_gets_exactly_the_limit_then_429_with_retry_after)
{
    struct limiter l = limiter_on(open_redis());
    for (int i = 0; i < 5; i++) {
        struct tix_ratelimit_result r = check(&l, "auth", "ip:burst", 5, 1);
        cr_assert(r.is_allowed && !r.is_local, "request %d", i + 1);
        cr_assert_eq(r.limit, 5);
        cr_assert_eq(r.remaining, 4 - i);
        cr_assert_eq(r.retry_after_s, 0);
        cr_assert_eq(r.reset_s, 1);
    }
    struct tix_ratelimit_result r = check(&l, "auth", "ip:burst", 5, 1);
    cr_assert_not(r.is_allowed);
    cr_assert_eq(r.remaining, 0);
    cr_assert_eq(r.retry_after_s, 1);
    cr_assert_eq(r.reset_s, 1);
    r = check(&l, "auth", "ip:burst-60", 3, 60);
    r = check(&l, "auth", "ip:burst-60", 3, 60);
    r = check(&l, "auth", "ip:burst-60", 3, 60);
    r = check(&l, "auth", "ip:burst-60", 3, 60);
    cr_assert_not(r.is_allowed);
    cr_assert_eq(r.retry_after_s, 20, "one interval of 60 s / 3");
    cr_assert_eq(r.reset_s, 60);
    limiter_close(&l);
}

Test(ratelimit, the_bucket_refills_at_the_configured_rate)
{
    struct limiter l = limiter_on(open_redis());
    cr_assert_eq(count_allowed(&l, "holds", "user:refill", 8, 5, 1), 5);
    sleep_ms(100); /* half an interval (200 ms) */
    cr_assert_not(check(&l, "holds", "user:refill", 5, 1).is_allowed, "not refilled yet");
    sleep_ms(200); /* 300 ms: one interval */
    cr_assert(check(&l, "holds", "user:refill", 5, 1).is_allowed, "one request back");
    cr_assert_not(check(&l, "holds", "user:refill", 5, 1).is_allowed, "only one");
    sleep_ms(1100);
    cr_assert_eq(count_allowed(&l, "holds", "user:refill", 8, 5, 1), 5, "a whole burst again");
    limiter_close(&l);
}

Test(ratelimit, subjects_and_classes_are_independent_and_keys_expire)
{
    struct limiter l = limiter_on(open_redis());
    cr_assert_eq(count_allowed(&l, "general", "ip:a", 4, 2, 10), 2);
    cr_assert_eq(count_allowed(&l, "general", "ip:b", 4, 2, 10), 2);
    cr_assert_eq(count_allowed(&l, "auth", "ip:a", 4, 2, 10), 2);
    char key[128];
    snprintf(key, sizeof(key), "rl:general:ip:a:%s", run_id);
    long long pttl = cmd_int(l.redis, "PTTL %s", key);
    cr_assert(pttl > 9000 && pttl <= 10000, "expires when full again: %lld ms", pttl);
    limiter_close(&l);
}

Test(ratelimit, a_dead_redis_falls_back_to_local_limits_quickly)
{
    struct limiter l = limiter_on(open_url(DEAD_URL, 200));
    int allowed = 0;
    int64_t t0 = tix_mono_ms();
    for (int i = 0; i < 200; i++) {
        struct tix_ratelimit_result r = check(&l, "auth", "ip:dead", 5, 60);
        cr_assert(r.is_local);
        allowed += r.is_allowed;
        if (i == 5)
            cr_assert_eq(r.retry_after_s, 12);
    }
    cr_assert_lt(tix_mono_ms() - t0, 100, "200 checks against a dead redis");
    cr_assert_eq(allowed, 5, "still limited, never allow-all");
    limiter_close(&l);
}

Test(ratelimit, a_hanging_redis_costs_at_most_one_timeout_per_second)
{
    char url[64];
    int fd = silent_server(url, sizeof(url));
    struct limiter l = limiter_on(open_url(url, 200));
    int64_t t0 = tix_mono_ms();
    int allowed = count_allowed(&l, "holds", "user:hang", 50, 3, 60);
    int64_t took = tix_mono_ms() - t0;
    cr_assert_eq(allowed, 3);
    cr_assert(took < 600, "50 checks took %lld ms", (long long)took);
    limiter_close(&l);
    close(fd);
}

Test(ratelimit, limits_move_back_to_redis_when_it_returns)
{
    struct limiter l = limiter_on(open_redis());
    char id[32];
    redisReply *reply = NULL;
    cr_assert_eq(tix_redis_cmd(l.redis, &reply, NULL, "CLIENT ID"), TIX_OK);
    snprintf(id, sizeof(id), "%lld", reply->integer);
    freeReplyObject(reply);
    struct tix_redis *admin = open_redis();
    cr_assert_eq(tix_redis_cmd(admin, NULL, NULL, "CLIENT KILL ID %s", id), TIX_OK);
    cr_assert(check(&l, "general", "ip:flap", 100, 60).is_local, "the lost connection");
    cr_assert_not(check(&l, "general", "ip:flap", 100, 60).is_local, "reconnected");
    tix_redis_close(admin);
    limiter_close(&l);
}

Test(ratelimit, bad_arguments_deny)
{
    struct limiter l = limiter_on(open_redis());
    struct tix_ratelimit_result r;
    struct tix_err err;
    cr_assert_eq(tix_ratelimit_check(l.rl, "auth", "ip:x", 0, 60, &r, &err), TIX_EINVAL);
    cr_assert_str_eq(err.field, "limit");
    cr_assert_not(r.is_allowed);
    cr_assert_eq(tix_ratelimit_check(l.rl, "a b", "ip:x", 5, 60, &r, &err), TIX_EINVAL);
    cr_assert_not(r.is_allowed);
    limiter_close(&l);
}

/* ---- idempotency keys */

static void idem_key(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s-%s", name, run_id);
}

static long long idem_pttl(struct tix_redis *r, const char *caller, const char *key)
{
    char rkey[512];
    snprintf(rkey, sizeof(rkey), "idem:%s:%s", caller, key);
    return cmd_int(r, "PTTL %s", rkey);
}

static enum tix_idem_outcome begin(struct tix_redis *r, const char *caller, const char *key,
                                   const uint8_t *hash, struct tix_idem_begin_result *out)
{
    struct tix_err err;
    cr_assert_eq(tix_idem_begin(r, caller, key, hash, 60, out, &err), TIX_OK, "%s", err.msg);
    return out->outcome;
}

Test(idem, new_complete_replay_returns_the_stored_response_byte_for_byte)
{
    struct tix_redis *r = open_redis();
    char key[128];
    idem_key(key, sizeof(key), "replay");
    static const char body[] = "{\"id\":\"x\"}\0binary\xff\r\n";
    uint8_t h[TIX_IDEM_HASH_LEN];
    tix_idem_hash("POST", "/api/v1/orders?x=1", "{\"a\":1}", 7, h);
    struct tix_idem_begin_result res;
    cr_assert_eq(begin(r, "user:u1", key, h, &res), TIX_IDEM_NEW);
    cr_assert_null(res.body);
    tix_idem_begin_result_deinit(&res);
    struct tix_err err;
    cr_assert_eq(tix_idem_complete(r, "user:u1", key, h, 201, "application/json",
                                   "/api/v1/orders/x", body, sizeof(body), 86400, &err),
                 TIX_OK, "%s", err.msg);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(begin(r, "user:u1", key, h, &res), TIX_IDEM_REPLAY);
        cr_assert_eq(res.status, 201);
        cr_assert_str_eq(res.content_type, "application/json");
        cr_assert_str_eq(res.location, "/api/v1/orders/x");
        cr_assert_eq(res.body_len, sizeof(body));
        cr_assert_arr_eq(res.body, body, sizeof(body));
        tix_idem_begin_result_deinit(&res);
    }
    cr_assert_eq(tix_idem_complete(r, "user:u1", key, h, 201, NULL, NULL, "", 0, 86400, &err),
                 TIX_ECONFLICT, "completed already");
    tix_redis_close(r);
}

Test(idem, an_answer_without_body_or_headers_replays_as_such)
{
    struct tix_redis *r = open_redis();
    char key[128];
    idem_key(key, sizeof(key), "empty");
    uint8_t h[TIX_IDEM_HASH_LEN];
    tix_idem_hash("DELETE", "/api/v1/holds/1", NULL, 0, h);
    struct tix_idem_begin_result res;
    cr_assert_eq(begin(r, "apikey:k1", key, h, &res), TIX_IDEM_NEW);
    cr_assert_eq(tix_idem_complete(r, "apikey:k1", key, h, 204, NULL, NULL, NULL, 0, 60, NULL),
                 TIX_OK);
    cr_assert_eq(begin(r, "apikey:k1", key, h, &res), TIX_IDEM_REPLAY);
    cr_assert_eq(res.status, 204);
    cr_assert_null(res.content_type);
    cr_assert_null(res.location);
    cr_assert_eq(res.body_len, 0);
    cr_assert_str_eq(res.body, "");
    tix_idem_begin_result_deinit(&res);
    tix_redis_close(r);
}

Test(idem, the_same_key_with_another_body_or_caller_is_a_mismatch)
{
    struct tix_redis *r = open_redis();
    char key[128];
    idem_key(key, sizeof(key), "mismatch");
    uint8_t h1[TIX_IDEM_HASH_LEN], h2[TIX_IDEM_HASH_LEN];
    tix_idem_hash("POST", "/api/v1/holds", "{\"n\":1}", 7, h1);
    tix_idem_hash("POST", "/api/v1/holds", "{\"n\":2}", 7, h2);
    struct tix_idem_begin_result res;
    cr_assert_eq(begin(r, "user:u1", key, h1, &res), TIX_IDEM_NEW);
    cr_assert_eq(begin(r, "user:u1", key, h2, &res), TIX_IDEM_MISMATCH, "while in progress");
    cr_assert_eq(tix_idem_complete(r, "user:u1", key, h2, 200, NULL, NULL, "x", 1, 60, NULL),
                 TIX_ECONFLICT, "another body cannot complete it");
    cr_assert_eq(tix_idem_complete(r, "user:u1", key, h1, 200, NULL, NULL, "x", 1, 60, NULL),
                 TIX_OK);
    cr_assert_eq(begin(r, "user:u1", key, h2, &res), TIX_IDEM_MISMATCH, "once done");
    cr_assert_eq(begin(r, "user:u2", key, h1, &res), TIX_IDEM_NEW, "callers have own keys");
    /* "ip:2001:db8::1" + "5:k" and "ip:2001:db8::1:5" + "k" make the same Redis key. */
    char k1[140], k2[140];
    snprintf(k1, sizeof(k1), "5:%s", key);
    snprintf(k2, sizeof(k2), "%s", key);
    cr_assert_eq(begin(r, "ip:2001:db8::1", k1, h1, &res), TIX_IDEM_NEW);
    cr_assert_eq(
        tix_idem_complete(r, "ip:2001:db8::1", k1, h1, 200, NULL, NULL, "secret", 6, 60, NULL),
        TIX_OK);
    cr_assert_eq(begin(r, "ip:2001:db8::1:5", k2, h1, &res), TIX_IDEM_MISMATCH,
                 "never another caller's response");
    tix_redis_close(r);
}

Test(idem, a_concurrent_duplicate_is_in_progress)
{
    struct tix_redis *a = open_redis(), *b = open_redis();
    char key[128];
    idem_key(key, sizeof(key), "concurrent");
    uint8_t h[TIX_IDEM_HASH_LEN];
    tix_idem_hash("POST", "/api/v1/orders", "{}", 2, h);
    struct tix_idem_begin_result res;
    cr_assert_eq(begin(a, "user:u1", key, h, &res), TIX_IDEM_NEW);
    cr_assert_eq(begin(b, "user:u1", key, h, &res), TIX_IDEM_IN_PROGRESS);
    cr_assert_eq(begin(a, "user:u1", key, h, &res), TIX_IDEM_IN_PROGRESS, "even for the owner");
    cr_assert_eq(
        tix_idem_complete(a, "user:u1", key, h, 202, "application/json", NULL, "{}", 2, 60, NULL),
        TIX_OK);
    cr_assert_eq(begin(b, "user:u1", key, h, &res), TIX_IDEM_REPLAY);
    tix_idem_begin_result_deinit(&res);
    tix_redis_close(a);
    tix_redis_close(b);
}

Test(idem, abandon_makes_the_key_reusable)
{
    struct tix_redis *r = open_redis();
    char key[128];
    idem_key(key, sizeof(key), "abandon");
    uint8_t h[TIX_IDEM_HASH_LEN];
    tix_idem_hash("POST", "/api/v1/orders", "{}", 2, h);
    struct tix_idem_begin_result res;
    cr_assert_eq(begin(r, "user:u1", key, h, &res), TIX_IDEM_NEW);
    cr_assert_eq(tix_idem_abandon(r, "user:u1", key, h, NULL), TIX_OK);
    cr_assert_eq(tix_idem_abandon(r, "user:u1", key, h, NULL), TIX_ENOTFOUND);
    cr_assert_eq(tix_idem_complete(r, "user:u1", key, h, 200, NULL, NULL, "x", 1, 60, NULL),
                 TIX_ECONFLICT, "abandoned: no longer ours");
    cr_assert_eq(begin(r, "user:u1", key, h, &res), TIX_IDEM_NEW, "reusable");
    cr_assert_eq(tix_idem_complete(r, "user:u1", key, h, 200, NULL, NULL, "x", 1, 60, NULL),
                 TIX_OK);
    cr_assert_eq(tix_idem_abandon(r, "user:u1", key, h, NULL), TIX_ENOTFOUND,
                 "a stored answer is never abandoned");
    tix_redis_close(r);
}

Test(idem, placeholders_and_answers_expire)
{
    struct tix_redis *r = open_redis();
    char key[128];
    idem_key(key, sizeof(key), "ttl");
    uint8_t h[TIX_IDEM_HASH_LEN];
    tix_idem_hash("POST", "/api/v1/orders", "{}", 2, h);
    struct tix_idem_begin_result res;
    cr_assert_eq(begin(r, "user:u1", key, h, &res), TIX_IDEM_NEW);
    long long pttl = idem_pttl(r, "user:u1", key);
    cr_assert(pttl > 59000 && pttl <= 60000, "lock TTL: %lld ms", pttl);
    cr_assert_eq(tix_idem_complete(r, "user:u1", key, h, 200, NULL, NULL, "x", 1, 86400, NULL),
                 TIX_OK);
    pttl = idem_pttl(r, "user:u1", key);
    cr_assert(pttl > 86300000 && pttl <= 86400000, "answer TTL: %lld ms", pttl);

    idem_key(key, sizeof(key), "ttl-cap");
    cr_assert_eq(tix_idem_begin(r, "user:u1", key, h, 86400, &res, NULL), TIX_OK);
    pttl = idem_pttl(r, "user:u1", key);
    cr_assert(pttl > 0 && pttl <= TIX_IDEM_LOCK_TTL_MAX * 1000LL, "lock TTL capped: %lld", pttl);

    idem_key(key, sizeof(key), "ttl-short");
    cr_assert_eq(tix_idem_begin(r, "user:u1", key, h, 1, &res, NULL), TIX_OK);
    sleep_ms(1100);
    cr_assert_eq(begin(r, "user:u1", key, h, &res), TIX_IDEM_NEW, "a dead owner's lock expired");
    tix_redis_close(r);
}

Test(idem, keys_callers_and_responses_are_validated)
{
    struct tix_redis *r = open_redis();
    uint8_t h[TIX_IDEM_HASH_LEN] = {0};
    struct tix_idem_begin_result res;
    struct tix_err err;
    char long_key[TIX_IDEM_KEY_MAX + 2];
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    static const char *const bad_keys[] = {"", "tab\there", "nl\n", "caf\xc3\xa9", "del\x7f", NULL};
    for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
        cr_assert_eq(tix_idem_begin(r, "user:u1", bad_keys[i], h, 60, &res, &err), TIX_EINVAL,
                     "key %zu", i);
        cr_assert_str_eq(err.field, "idempotency_key");
        cr_assert_not(tix_idem_key_is_valid(bad_keys[i]));
    }
    cr_assert_eq(tix_idem_begin(r, "user:u1", long_key, h, 60, &res, &err), TIX_EINVAL);
    long_key[TIX_IDEM_KEY_MAX] = '\0';
    long_key[0] = ' ';
    cr_assert(tix_idem_key_is_valid(long_key), "255 printable characters, spaces included");
    cr_assert(tix_idem_key_is_valid("~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./"));
    static const char *const bad_callers[] = {
        "", "u1", ":u1", "user:", "User:u1", "user:a b", NULL};
    for (size_t i = 0; i < sizeof(bad_callers) / sizeof(bad_callers[0]); i++) {
        cr_assert_eq(tix_idem_begin(r, bad_callers[i], "k", h, 60, &res, &err), TIX_EINVAL,
                     "caller %zu", i);
        cr_assert_str_eq(err.field, "caller");
    }
    cr_assert_eq(tix_idem_begin(r, "user:u1", "k", h, 0, &res, &err), TIX_EINVAL);
    cr_assert_eq(tix_idem_complete(r, "user:u1", "k", h, 99, NULL, NULL, NULL, 0, 60, &err),
                 TIX_EINVAL);
    cr_assert_eq(tix_idem_complete(r, "user:u1", "k", h, 200, NULL, NULL, NULL, 1, 60, &err),
                 TIX_EINVAL);
    cr_assert_eq(tix_idem_complete(r, "user:u1", "k", h, 200, NULL, NULL, "", 0, 0, &err),
                 TIX_EINVAL);
    cr_assert_eq(tix_idem_complete(r, "user:u1", "k", h, 200, NULL, NULL, "", TIX_IDEM_BODY_MAX + 1,
                                   60, &err),
                 TIX_EINVAL);
    tix_redis_close(r);
}

Test(idem, the_body_hash_covers_method_path_and_body_unambiguously)
{
    uint8_t a[TIX_IDEM_HASH_LEN], b[TIX_IDEM_HASH_LEN];
    tix_idem_hash("POST", "/a", "b", 1, a);
    tix_idem_hash("POST", "/ab", "", 0, b);
    cr_assert_arr_neq(a, b, sizeof(a));
    tix_idem_hash("PUT", "/a", "b", 1, b);
    cr_assert_arr_neq(a, b, sizeof(a));
    tix_idem_hash("POST", "/a", "b", 1, b);
    cr_assert_arr_eq(a, b, sizeof(a));
    uint8_t c[TIX_IDEM_HASH_LEN], expect[TIX_IDEM_HASH_LEN];
    tix_idem_hash("GET", "/", NULL, 0, c);
    crypto_generichash(expect, sizeof(expect), (const unsigned char *)"GET\0/\0", 6, NULL, 0);
    cr_assert_arr_eq(c, expect, sizeof(c), "BLAKE2b-256 of method NUL path NUL body");
}

Test(idem, a_dead_redis_is_transient_and_fast)
{
    struct tix_redis *r = open_url(DEAD_URL, 200);
    uint8_t h[TIX_IDEM_HASH_LEN] = {0};
    struct tix_idem_begin_result res;
    struct tix_err err;
    int64_t t0 = tix_mono_ms();
    for (int i = 0; i < 100; i++)
        cr_assert_eq(tix_idem_begin(r, "user:u1", "k", h, 60, &res, &err), TIX_ETRANSIENT);
    cr_assert_lt(tix_mono_ms() - t0, 50);
    cr_assert_eq(tix_idem_complete(r, "user:u1", "k", h, 200, NULL, NULL, "", 0, 60, &err),
                 TIX_ETRANSIENT);
    cr_assert_eq(tix_idem_abandon(r, "user:u1", "k", h, &err), TIX_ETRANSIENT);
    tix_redis_close(r);
}
