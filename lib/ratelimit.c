/* ratelimit.c - GCRA in one Lua script, and the same math in a local table when Redis is away
 *
 * Invariants:
 * - The Lua script and tix_ratelimit_gcra() compute the same thing (integer microseconds; the
 *   script's numbers stay below 2^53, so Lua's doubles are exact). Change both or neither.
 * - A request is denied, never allowed, when the arguments are bad; Redis trouble switches to
 *   the local table, never to "allow".
 * - Local slots: tat_us == 0 means empty; any tat_us <= now is a full bucket, worth no more than
 *   an empty slot, so "smallest TAT" picks empty, then expired, then least-used victims.
 * - n_fallen_back counts the limiters whose last decision was local; only its 0 <-> 1 edges log.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tix/log.h"
#include "tix/mem.h"
#include "tix/ratelimit.h"

#define PROBE 8

/* KEYS[1] = rl:<class>:<subject>, ARGV[1] = limit, ARGV[2] = period in microseconds.
 * Returns {allowed 0|1, remaining, retry_after_us, reset_us}. */
static const struct tix_redis_script gcra_script = {
    .name = "ratelimit_gcra",
    .src = "if redis.replicate_commands then redis.replicate_commands() end\n"
           "local limit = tonumber(ARGV[1])\n"
           "local interval = math.floor(tonumber(ARGV[2]) / limit)\n"
           "local tolerance = interval * limit\n"
           "local t = redis.call('TIME')\n"
           "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
           "local tat = tonumber(redis.call('GET', KEYS[1])) or now\n"
           "if tat < now then tat = now end\n"
           "local new_tat = tat + interval\n"
           "local allow_at = new_tat - tolerance\n"
           "if now < allow_at then return {0, 0, allow_at - now, tat - now} end\n"
           "local reset = new_tat - now\n"
           "redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',\n"
           "           string.format('%.0f', math.ceil(reset / 1000)))\n"
           "return {1, math.floor((tolerance - reset) / interval), 0, reset}\n",
};

struct slot {
    uint64_t h0, h1; /* 128-bit keyed hash of the key */
    int64_t tat_us;  /* 0: empty */
};

struct tix_ratelimit_local {
    pthread_mutex_t mu;
    size_t mask;
    struct slot *slots;
    unsigned char hash_key[crypto_shorthash_siphashx24_KEYBYTES];
    atomic_int n_fallen_back;
};

struct tix_ratelimiter {
    struct tix_redis *redis; /* borrowed, may be NULL */
    struct tix_ratelimit_local *local;
    bool is_local; /* the last decision came from the local table */
};

/* ---- the pure math */

void tix_ratelimit_gcra(int64_t tat_us, int64_t now_us, int limit, int64_t period_us,
                        struct tix_ratelimit_gcra *out)
{
    int64_t interval = period_us / limit;
    int64_t tolerance = interval * limit;
    int64_t tat = tat_us > now_us ? tat_us : now_us;
    int64_t new_tat = tat + interval;
    int64_t allow_at = new_tat - tolerance;
    if (now_us < allow_at) {
        *out = (struct tix_ratelimit_gcra){.is_allowed = false,
                                           .remaining = 0,
                                           .tat_us = tat_us,
                                           .retry_after_us = allow_at - now_us,
                                           .reset_us = tat - now_us};
        return;
    }
    int64_t reset = new_tat - now_us;
    *out = (struct tix_ratelimit_gcra){.is_allowed = true,
                                       .remaining = (int)((tolerance - reset) / interval),
                                       .tat_us = new_tat,
                                       .retry_after_us = 0,
                                       .reset_us = reset};
}

int tix_ratelimit_gcra_n(int64_t tat_us, int64_t now_us, int limit, int64_t period_us, int n)
{
    int64_t interval = period_us / limit;
    int64_t tolerance = interval * limit;
    int64_t tat = tat_us > now_us ? tat_us : now_us;
    int64_t k = (now_us + tolerance - tat) / interval;
    return (int)(k < 0 ? 0 : k > n ? n : k);
}

static int ceil_s(int64_t us)
{
    return (int)((us + 999999) / 1000000);
}

void tix_ratelimit_result_of(const struct tix_ratelimit_gcra *g, int limit,
                             struct tix_ratelimit_result *out)
{
    int retry = ceil_s(g->retry_after_us);
    *out = (struct tix_ratelimit_result){
        .is_allowed = g->is_allowed,
        .limit = limit,
        .remaining = g->is_allowed ? g->remaining : 0,
        .reset_s = ceil_s(g->reset_us),
        .retry_after_s = g->is_allowed ? 0 : (retry > 0 ? retry : 1),
        .is_local = false,
    };
}

/* ---- arguments and keys */

static void deny(struct tix_ratelimit_result *out, int limit)
{
    *out = (struct tix_ratelimit_result){
        .is_allowed = false, .limit = limit, .reset_s = 1, .retry_after_s = 1};
}

static bool is_class_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

enum tix_rc tix_ratelimit_key(const char *class, const char *subject, int limit, int period_s,
                              char key[TIX_RATELIMIT_KEY_MAX + 1], size_t *len, struct tix_err *err)
{
    size_t nc = class != NULL ? strnlen(class, TIX_RATELIMIT_CLASS_MAX + 1) : 0;
    size_t ns = subject != NULL ? strnlen(subject, TIX_RATELIMIT_SUBJECT_MAX + 1) : 0;
    if (nc == 0 || nc > TIX_RATELIMIT_CLASS_MAX)
        return tix_err_set(err, TIX_EINVAL, "class", "rate limit class must be 1..%d chars",
                           TIX_RATELIMIT_CLASS_MAX);
    for (size_t i = 0; i < nc; i++)
        if (!is_class_char(class[i]))
            return tix_err_set(err, TIX_EINVAL, "class", "rate limit class: [a-z0-9_-] only");
    if (ns == 0 || ns > TIX_RATELIMIT_SUBJECT_MAX)
        return tix_err_set(err, TIX_EINVAL, "subject", "rate limit subject must be 1..%d chars",
                           TIX_RATELIMIT_SUBJECT_MAX);
    for (size_t i = 0; i < ns; i++)
        if (subject[i] < 0x21 || subject[i] > 0x7e)
            return tix_err_set(err, TIX_EINVAL, "subject", "rate limit subject: visible ASCII");
    if (limit < 1 || limit > TIX_RATELIMIT_LIMIT_MAX)
        return tix_err_set(err, TIX_EINVAL, "limit", "rate limit must be 1..%d",
                           TIX_RATELIMIT_LIMIT_MAX);
    if (period_s < 1 || period_s > TIX_RATELIMIT_PERIOD_MAX)
        return tix_err_set(err, TIX_EINVAL, "period_s", "rate limit period must be 1..%d s",
                           TIX_RATELIMIT_PERIOD_MAX);
    int n = snprintf(key, TIX_RATELIMIT_KEY_MAX + 1, "rl:%s:%s", class, subject);
    *len = (size_t)n;
    return TIX_OK;
}

/* ---- the local table */

struct tix_ratelimit_local *tix_ratelimit_local_create(size_t slots)
{
    if (sodium_init() < 0) {
        tix_log_error("libsodium failed to initialize", NULL);
        abort();
    }
    size_t n = 64;
    while (n < slots && n < ((size_t)1 << 30))
        n <<= 1;
    struct tix_ratelimit_local *t = tix_xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    t->mask = n - 1;
    t->slots = tix_xcalloc(n, sizeof(*t->slots));
    randombytes_buf(t->hash_key, sizeof(t->hash_key));
    atomic_init(&t->n_fallen_back, 0);
    return t;
}

void tix_ratelimit_local_destroy(struct tix_ratelimit_local *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t->slots);
    free(t);
}

/* The slot holding (h0, h1), else the probe window's slot with the smallest TAT. */
static struct slot *find_slot(struct tix_ratelimit_local *t, uint64_t h0, uint64_t h1)
{
    struct slot *victim = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        struct slot *s = &t->slots[(h0 + i) & t->mask];
        if (s->tat_us != 0 && s->h0 == h0 && s->h1 == h1)
            return s;
        if (victim == NULL || s->tat_us < victim->tat_us)
            victim = s;
    }
    return victim;
}

static void local_check_key(struct tix_ratelimit_local *t, const char *key, size_t len, int limit,
                            int period_s, int64_t now_us, struct tix_ratelimit_result *out)
{
    unsigned char h[crypto_shorthash_siphashx24_BYTES];
    crypto_shorthash_siphashx24(h, (const unsigned char *)key, len, t->hash_key);
    uint64_t h0, h1;
    memcpy(&h0, h, 8);
    memcpy(&h1, h + 8, 8);
    struct tix_ratelimit_gcra g;
    pthread_mutex_lock(&t->mu);
    struct slot *s = find_slot(t, h0, h1);
    bool is_ours = s->tat_us != 0 && s->h0 == h0 && s->h1 == h1;
    tix_ratelimit_gcra(is_ours ? s->tat_us : 0, now_us, limit, (int64_t)period_s * 1000000, &g);
    if (g.is_allowed)
        *s = (struct slot){.h0 = h0, .h1 = h1, .tat_us = g.tat_us};
    pthread_mutex_unlock(&t->mu);
    tix_ratelimit_result_of(&g, limit, out);
    out->is_local = true;
}

enum tix_rc tix_ratelimit_local_check(struct tix_ratelimit_local *t, const char *class,
                                      const char *subject, int limit, int period_s, int64_t now_us,
                                      struct tix_ratelimit_result *out, struct tix_err *err)
{
    char key[TIX_RATELIMIT_KEY_MAX + 1];
    size_t len;
    enum tix_rc rc = tix_ratelimit_key(class, subject, limit, period_s, key, &len, err);
    if (rc != TIX_OK) {
        deny(out, limit);
        return rc;
    }
    local_check_key(t, key, len, limit, period_s, now_us, out);
    return TIX_OK;
}

/* ---- the limiter */

struct tix_ratelimiter *tix_ratelimiter_create(struct tix_redis *redis,
                                               struct tix_ratelimit_local *local)
{
    struct tix_ratelimiter *rl = tix_xcalloc(1, sizeof(*rl));
    rl->redis = redis;
    rl->local = local;
    return rl;
}

void tix_ratelimiter_destroy(struct tix_ratelimiter *rl)
{
    if (rl == NULL)
        return;
    if (rl->is_local)
        tix_ratelimit_local_forget(rl->local);
    free(rl);
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static enum tix_rc redis_check(struct tix_redis *r, const char *key, size_t len, int limit,
                               int period_s, struct tix_ratelimit_result *out, struct tix_err *err)
{
    char limit_s[16], period_us[24];
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    snprintf(period_us, sizeof(period_us), "%lld", (long long)period_s * 1000000);
    const char *argv[] = {key, limit_s, period_us};
    const size_t argv_len[] = {len, strlen(limit_s), strlen(period_us)};
    redisReply *reply = NULL;
    enum tix_rc rc = tix_redis_eval(r, &gcra_script, 1, 3, argv, argv_len, &reply, err);
    if (rc != TIX_OK)
        return rc;
    bool is_ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == 4;
    for (size_t i = 0; is_ok && i < 4; i++)
        is_ok = reply->element[i]->type == REDIS_REPLY_INTEGER;
    if (is_ok) {
        struct tix_ratelimit_gcra g = {.is_allowed = reply->element[0]->integer == 1,
                                       .remaining = (int)reply->element[1]->integer,
                                       .retry_after_us = reply->element[2]->integer,
                                       .reset_us = reply->element[3]->integer};
        tix_ratelimit_result_of(&g, limit, out);
    }
    freeReplyObject(reply);
    if (!is_ok)
        return tix_err_set(err, TIX_EINTERNAL, "", "script ratelimit_gcra: unexpected reply");
    return TIX_OK;
}

void tix_ratelimit_local_note(struct tix_ratelimit_local *t, bool is_fallen_back, const char *why)
{
    if (is_fallen_back) {
        if (atomic_fetch_add(&t->n_fallen_back, 1) == 0)
            tix_log_warn("rate limiting locally: redis unavailable, limits are per instance",
                         "err=\"%s\"", why != NULL ? why : "-");
    } else if (atomic_fetch_sub(&t->n_fallen_back, 1) == 1) {
        tix_log_info("rate limiting in redis again", NULL);
    }
}

void tix_ratelimit_local_forget(struct tix_ratelimit_local *t)
{
    atomic_fetch_sub(&t->n_fallen_back, 1);
}

/* Records where this limiter's decision came from; logs the process-wide edges. */
static void note_source(struct tix_ratelimiter *rl, bool is_local, const struct tix_err *why)
{
    if (rl->is_local == is_local)
        return;
    rl->is_local = is_local;
    tix_ratelimit_local_note(rl->local, is_local, why != NULL ? why->msg : NULL);
}

enum tix_rc tix_ratelimit_check(struct tix_ratelimiter *rl, const char *class, const char *subject,
                                int limit, int period_s, struct tix_ratelimit_result *out,
                                struct tix_err *err)
{
    char key[TIX_RATELIMIT_KEY_MAX + 1];
    size_t len;
    enum tix_rc rc = tix_ratelimit_key(class, subject, limit, period_s, key, &len, err);
    if (rc != TIX_OK) {
        deny(out, limit);
        return rc;
    }
    if (rl->redis != NULL) {
        struct tix_err rerr;
        if (redis_check(rl->redis, key, len, limit, period_s, out, &rerr) == TIX_OK) {
            note_source(rl, false, NULL);
            return TIX_OK;
        }
        note_source(rl, true, &rerr);
    }
    local_check_key(rl->local, key, len, limit, period_s, mono_us(), out);
    return TIX_OK;
}
