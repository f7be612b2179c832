/* ratelimit_async.c - GCRA limits on an event loop: batched per key, never waiting on Redis
 *
 * Invariants:
 * - A key has an entry only while a decision for it is on its way or checks wait for one; at
 *   most one script call per key is in flight. Checks arriving meanwhile wait in arrival order
 *   and leave together as the next batch.
 * - A batch of n is decided by one script call that charges k = tix_ratelimit_gcra_n(...) cells
 *   and returns k and the TAT it started from (relative to Redis' now). The checks then get, in
 *   order, what n single steps from that TAT give (tix_ratelimit_gcra, with now = 0): the same
 *   numbers a call per check would have given, headers included. The script's k caps the local
 *   replay, so a check is never allowed that Redis did not charge.
 * - Redis trouble decides the batch in the process's local table, one check at a time.
 * - An entry stays in the table while its batch's callbacks run and its next batch leaves after
 *   them, so a callback may check again (the same key included: it joins the next batch).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tix/aredis.h"
#include "tix/mem.h"
#include "tix/ratelimit.h"

#define BUCKETS 256

/* KEYS[1] = rl:<class>:<subject>, ARGV = limit, period in microseconds, n. Charges the first k
 * of n requests (see tix_ratelimit_gcra_n) and returns {k, TAT - now} (microseconds, >= 0). */
static const struct tix_redis_script gcra_n_script = {
    .name = "ratelimit_gcra_n",
    .src = "if redis.replicate_commands then redis.replicate_commands() end\n"
           "local limit = tonumber(ARGV[1])\n"
           "local interval = math.floor(tonumber(ARGV[2]) / limit)\n"
           "local tolerance = interval * limit\n"
           "local n = tonumber(ARGV[3])\n"
           "local t = redis.call('TIME')\n"
           "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
           "local tat = tonumber(redis.call('GET', KEYS[1])) or now\n"
           "if tat < now then tat = now end\n"
           "local k = math.floor((now + tolerance - tat) / interval)\n"
           "if k > n then k = n end\n"
           "if k < 0 then k = 0 end\n"
           "if k > 0 then\n"
           "  local new_tat = tat + k * interval\n"
           "  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',\n"
           "             string.format('%.0f', math.ceil((new_tat - now) / 1000)))\n"
           "end\n"
           "return {k, tat - now}\n",
};

struct waiter {
    struct waiter *next;
    tix_ratelimit_cb cb;
    void *ctx;
};

struct entry {
    struct entry *next; /* in its bucket */
    struct tix_ratelimit_async *rl;
    uint32_t hash;
    char key[TIX_RATELIMIT_KEY_MAX + 1];
    size_t len;
    char class[TIX_RATELIMIT_CLASS_MAX + 1];
    const char *subject; /* inside key */
    int limit;
    int period_s;
    struct waiter *head, *tail; /* waiting for the next batch */
    int n_waiting;
    struct waiter *batch; /* on its way */
    int n_batch;
};

struct tix_ratelimit_async {
    struct tix_aredis *ar; /* borrowed, may be NULL */
    struct tix_ratelimit_local *local;
    bool is_local; /* the last decision came from the local table */
    struct entry *buckets[BUCKETS];
};

struct tix_ratelimit_async *tix_ratelimit_async_create(struct tix_aredis *ar,
                                                       struct tix_ratelimit_local *local)
{
    struct tix_ratelimit_async *rl = tix_xcalloc(1, sizeof(*rl));
    rl->ar = ar;
    rl->local = local;
    return rl;
}

void tix_ratelimit_async_destroy(struct tix_ratelimit_async *rl)
{
    if (rl == NULL)
        return;
    if (rl->is_local)
        tix_ratelimit_local_note(rl->local, false, NULL);
    free(rl);
}

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static struct entry *find(struct tix_ratelimit_async *rl, const char *key, size_t len,
                          uint32_t hash)
{
    for (struct entry *e = rl->buckets[hash % BUCKETS]; e != NULL; e = e->next)
        if (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

static void unlink_entry(struct entry *e)
{
    for (struct entry **p = &e->rl->buckets[e->hash % BUCKETS]; *p != NULL; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            return;
        }
    }
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void note_source(struct tix_ratelimit_async *rl, bool is_local)
{
    if (rl->is_local == is_local)
        return;
    rl->is_local = is_local;
    tix_ratelimit_local_note(rl->local, is_local, "redis unavailable");
}

/* Answers every check of the batch: from Redis' {k, TAT - now} when reply is usable, else from
 * the local table. Frees the waiters. */
static void decide_batch(struct entry *e, struct waiter *batch, const redisReply *reply)
{
    bool is_ok = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
                 reply->element[0]->type == REDIS_REPLY_INTEGER &&
                 reply->element[1]->type == REDIS_REPLY_INTEGER;
    note_source(e->rl, !is_ok);
    int64_t period_us = (int64_t)e->period_s * 1000000;
    int64_t tat = is_ok ? reply->element[1]->integer : 0;
    long long charged = is_ok ? reply->element[0]->integer : 0;
    for (int i = 0; batch != NULL; i++) {
        struct waiter *w = batch;
        batch = w->next;
        struct tix_ratelimit_result r;
        if (is_ok) {
            struct tix_ratelimit_gcra g;
            tix_ratelimit_gcra(tat, 0, e->limit, period_us, &g);
            if (g.is_allowed && i >= charged) /* never allow what Redis did not charge */
                g = (struct tix_ratelimit_gcra){.is_allowed = false,
                                                .tat_us = tat,
                                                .retry_after_us = period_us / e->limit,
                                                .reset_us = tat};
            if (g.is_allowed)
                tat = g.tat_us;
            tix_ratelimit_result_of(&g, e->limit, &r);
        } else {
            tix_ratelimit_local_check(e->rl->local, e->class, e->subject, e->limit, e->period_s,
                                      mono_us(), &r, NULL);
        }
        w->cb(w->ctx, &r);
        free(w);
    }
}

static void send_batch(struct entry *e);

static void batch_cb(void *ctx, enum tix_rc rc, const redisReply *reply)
{
    struct entry *e = ctx;
    struct waiter *batch = e->batch;
    e->batch = NULL;
    e->n_batch = 0;
    decide_batch(e, batch, rc == TIX_OK ? reply : NULL);
    if (e->head != NULL) {
        send_batch(e);
        return;
    }
    unlink_entry(e);
    free(e);
}

static void send_batch(struct entry *e)
{
    e->batch = e->head;
    e->n_batch = e->n_waiting;
    e->head = e->tail = NULL;
    e->n_waiting = 0;
    if (e->rl->ar == NULL) {
        batch_cb(e, TIX_ETRANSIENT, NULL);
        return;
    }
    char limit[16], period_us[24], n[16];
    snprintf(limit, sizeof(limit), "%d", e->limit);
    snprintf(period_us, sizeof(period_us), "%lld", (long long)e->period_s * 1000000);
    snprintf(n, sizeof(n), "%d", e->n_batch);
    const char *argv[] = {e->key, limit, period_us, n};
    const size_t len[] = {e->len, strlen(limit), strlen(period_us), strlen(n)};
    tix_aredis_eval(e->rl->ar, &gcra_n_script, 1, 4, argv, len, batch_cb, e);
}

enum tix_rc tix_ratelimit_check_async(struct tix_ratelimit_async *rl, const char *class,
                                      const char *subject, int limit, int period_s,
                                      tix_ratelimit_cb cb, void *ctx, struct tix_err *err)
{
    char key[TIX_RATELIMIT_KEY_MAX + 1];
    size_t len;
    enum tix_rc rc = tix_ratelimit_key(class, subject, limit, period_s, key, &len, err);
    if (rc != TIX_OK) {
        struct tix_ratelimit_result r = {
            .is_allowed = false, .limit = limit, .reset_s = 1, .retry_after_s = 1};
        cb(ctx, &r);
        return rc;
    }
    uint32_t hash = fnv1a(key, len);
    struct entry *e = find(rl, key, len, hash);
    bool is_new = e == NULL;
    if (is_new) {
        e = tix_xcalloc(1, sizeof(*e));
        e->rl = rl;
        e->hash = hash;
        memcpy(e->key, key, len + 1);
        e->len = len;
        snprintf(e->class, sizeof(e->class), "%s", class);
        e->subject = e->key + 3 + strlen(class) + 1;
        e->limit = limit;
        e->period_s = period_s;
        e->next = rl->buckets[hash % BUCKETS];
        rl->buckets[hash % BUCKETS] = e;
    }
    struct waiter *w = tix_xcalloc(1, sizeof(*w));
    w->cb = cb;
    w->ctx = ctx;
    if (e->tail != NULL)
        e->tail->next = w;
    else
        e->head = w;
    e->tail = w;
    e->n_waiting++;
    if (is_new)
        send_batch(e);
    return TIX_OK;
}
