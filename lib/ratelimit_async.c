/* ratelimit_async.c - GCRA limits on an event loop: batched and leased per key, never waiting
 *
 * Invariants:
 * - At most one script call per key is in flight. Checks that can't be decided locally wait in
 *   arrival order and leave together as the next call, which charges up to n cells at once
 *   (k = tix_ratelimit_gcra_n(...)) and returns k and the TAT it started from (relative to
 *   Redis' now). The waiting checks then get, in order, what single GCRA steps from that TAT
 *   give (tix_ratelimit_gcra with now = 0): the numbers a call per check would have given,
 *   headers included. The script's k caps the replay: a check is never allowed unless Redis
 *   charged a cell for it.
 * - A call may ask for cells beyond its waiting checks (as many as were wanted since the last
 *   call, at most limit / TIX_RATELIMIT_LEASE_SHARE): the leased cells are charged in Redis at
 *   once and used by the next checks without a round trip, for TIX_RATELIMIT_LEASE_MS at most,
 *   then given up unused. So every gateway together never allows more than the limit; a gateway
 *   may hold back at most its lease from the others for that long. A limit below
 *   TIX_RATELIMIT_LEASE_SHARE leases nothing: one cell per check, exactly.
 * - When a call comes back short (k < n) the bucket is empty: checks before the moment it
 *   allows one again are denied locally, as Redis would deny them (a denial changes nothing and
 *   only time refills a bucket; other gateways can only push that moment later).
 * - Redis trouble decides the waiting checks in the process's local table, one at a time.
 * - An entry stays in the table while its callbacks run and its next call leaves after them, so
 *   a callback may check again (the same key included). Idle entries are freed a bucket at a
 *   time by later checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tix/aredis.h"
#include "tix/ids.h"
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
    uint64_t hash;
    char key[TIX_RATELIMIT_KEY_MAX + 1];
    size_t len;
    char class[TIX_RATELIMIT_CLASS_MAX + 1];
    const char *subject; /* inside key */
    int limit;
    int period_s;
    struct waiter *head, *tail; /* waiting for the next call */
    int n_waiting;
    bool is_in_flight;
    struct waiter *batch; /* waiting for the call in flight */
    int n_extra;          /* cells that call asks for beyond its batch */
    int demand;           /* checks since the last call was sent */
    /* cells Redis charged for us that no check has used yet */
    int cells;
    int64_t tat_rel_us;     /* the next cell is a GCRA step from this TAT, with now = 0 */
    int64_t lease_until_us; /* local monotonic time: unused cells are given up then */
    /* the bucket was found empty: checks are denied until deny_until_us (local monotonic) */
    int64_t deny_until_us;
    int64_t deny_reset_us;
};

struct tix_ratelimit_async {
    struct tix_aredis *ar; /* borrowed, may be NULL */
    struct tix_ratelimit_local *local;
    bool is_local; /* the last decision came from the local table */
    unsigned sweep;
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
        tix_ratelimit_local_forget(rl->local);
    for (int i = 0; i < BUCKETS; i++) {
        while (rl->buckets[i] != NULL) {
            struct entry *e = rl->buckets[i];
            rl->buckets[i] = e->next;
            free(e); /* idle: the Redis handle closed first and answered every call */
        }
    }
    free(rl);
}

static struct entry *find(struct tix_ratelimit_async *rl, const char *key, size_t len,
                          uint64_t hash)
{
    for (struct entry *e = rl->buckets[hash % BUCKETS]; e != NULL; e = e->next)
        if (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool is_idle(const struct entry *e, int64_t now)
{
    return !e->is_in_flight && e->head == NULL && (e->cells == 0 || now >= e->lease_until_us) &&
           now >= e->deny_until_us;
}

/* Frees the idle entries of one bucket per call: the table holds about what is in use. */
static void sweep(struct tix_ratelimit_async *rl, int64_t now)
{
    struct entry **p = &rl->buckets[rl->sweep++ % BUCKETS];
    while (*p != NULL) {
        struct entry *e = *p;
        if (is_idle(e, now)) {
            *p = e->next;
            free(e);
        } else {
            p = &e->next;
        }
    }
}

static void note_source(struct tix_ratelimit_async *rl, bool is_local)
{
    if (rl->is_local == is_local)
        return;
    rl->is_local = is_local;
    tix_ratelimit_local_note(rl->local, is_local, "redis unavailable");
}

/* Uses one leased cell: a GCRA step from the lease's TAT. */
static bool take_cell(struct entry *e, int64_t now, struct tix_ratelimit_result *r)
{
    if (e->cells == 0 || now >= e->lease_until_us)
        return false;
    struct tix_ratelimit_gcra g;
    tix_ratelimit_gcra(e->tat_rel_us, 0, e->limit, (int64_t)e->period_s * 1000000, &g);
    if (!g.is_allowed) { /* can't happen: Redis charged it */
        e->cells = 0;
        return false;
    }
    e->tat_rel_us = g.tat_us;
    e->cells--;
    tix_ratelimit_result_of(&g, e->limit, r);
    return true;
}

/* A denial while the bucket is known to be empty: exactly what Redis would say (a denial
 * changes nothing, and nothing but time refills the bucket). */
static bool take_denial(const struct entry *e, int64_t now, struct tix_ratelimit_result *r)
{
    if (now >= e->deny_until_us)
        return false;
    struct tix_ratelimit_gcra g = {.is_allowed = false,
                                   .retry_after_us = e->deny_until_us - now,
                                   .reset_us = e->deny_reset_us - now};
    tix_ratelimit_result_of(&g, e->limit, r);
    return true;
}

/* Answers the batch from Redis' {k, TAT - now}: the first checks get the first cells, what is
 * left becomes the lease; when k falls short the bucket is empty and the rest are denied. */
static void decide_from_redis(struct entry *e, struct waiter *batch, int n_asked, long long k,
                              int64_t tat)
{
    int64_t now = mono_us(), period_us = (int64_t)e->period_s * 1000000;
    struct tix_ratelimit_gcra g = {0};
    int i = 0;
    for (; batch != NULL; i++) {
        struct waiter *w = batch;
        batch = w->next;
        tix_ratelimit_gcra(tat, 0, e->limit, period_us, &g);
        if (g.is_allowed && i >= k) /* never allow what Redis did not charge */
            g = (struct tix_ratelimit_gcra){.is_allowed = false,
                                            .tat_us = tat,
                                            .retry_after_us = period_us / e->limit,
                                            .reset_us = tat};
        if (g.is_allowed)
            tat = g.tat_us;
        struct tix_ratelimit_result r;
        tix_ratelimit_result_of(&g, e->limit, &r);
        w->cb(w->ctx, &r);
        free(w);
    }
    /* the cells left join those still unused; all are replayed as if charged last, so the
       numbers they give are never higher than the bucket's */
    int64_t interval = period_us / e->limit;
    int64_t end = tat + (k > i ? (k - i) * interval : 0);
    if (now >= e->lease_until_us)
        e->cells = 0;
    e->cells += k > i ? (int)(k - i) : 0;
    e->tat_rel_us = end - (int64_t)e->cells * interval;
    e->lease_until_us = now + TIX_RATELIMIT_LEASE_MS * 1000;
    if (k < n_asked) { /* the bucket is empty once the cells are used */
        tix_ratelimit_gcra(end, 0, e->limit, period_us, &g);
        e->deny_until_us = g.is_allowed ? 0 : now + g.retry_after_us;
        e->deny_reset_us = now + g.reset_us;
    }
}

static void decide_locally(struct entry *e, struct waiter *batch)
{
    e->cells = 0;
    while (batch != NULL) {
        struct waiter *w = batch;
        batch = w->next;
        struct tix_ratelimit_result r;
        tix_ratelimit_local_check(e->rl->local, e->class, e->subject, e->limit, e->period_s,
                                  mono_us(), &r, NULL);
        w->cb(w->ctx, &r);
        free(w);
    }
}

static void send_call(struct entry *e);

/* Decides waiting checks from the lease or a known-empty bucket while it can. */
static void serve_waiting(struct entry *e)
{
    struct tix_ratelimit_result r;
    int64_t now = mono_us();
    while (e->head != NULL && (take_cell(e, now, &r) || take_denial(e, now, &r))) {
        struct waiter *w = e->head;
        e->head = w->next;
        if (e->head == NULL)
            e->tail = NULL;
        e->n_waiting--;
        w->cb(w->ctx, &r);
        free(w);
    }
}

static void call_cb(void *ctx, enum tix_rc rc, const redisReply *reply)
{
    struct entry *e = ctx;
    struct waiter *batch = e->batch;
    int n_asked = e->n_extra;
    for (struct waiter *w = batch; w != NULL; w = w->next)
        n_asked++;
    e->batch = NULL;
    bool is_ok = rc == TIX_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
                 reply->element[0]->type == REDIS_REPLY_INTEGER &&
                 reply->element[1]->type == REDIS_REPLY_INTEGER;
    note_source(e->rl, !is_ok);
    if (is_ok)
        decide_from_redis(e, batch, n_asked, reply->element[0]->integer,
                          reply->element[1]->integer);
    else
        decide_locally(e, batch);
    e->is_in_flight = false;
    serve_waiting(e);
    if (e->head != NULL)
        send_call(e); /* checks that came meanwhile (the callbacks' included) */
}

/* Sends the waiting checks as one call, asking for as many cells again as were wanted since the
 * last call (at most TIX_RATELIMIT_LEASE_SHARE of the limit): a busy key then rarely waits. */
static void send_call(struct entry *e)
{
    int cap = e->limit / TIX_RATELIMIT_LEASE_SHARE;
    e->n_extra = e->demand < cap ? e->demand : cap;
    e->demand = 0;
    e->batch = e->head;
    int n = e->n_waiting + e->n_extra;
    e->head = e->tail = NULL;
    e->n_waiting = 0;
    e->is_in_flight = true;
    if (e->rl->ar == NULL) {
        call_cb(e, TIX_ETRANSIENT, NULL);
        return;
    }
    char limit[16], period_us[24], n_s[16];
    snprintf(limit, sizeof(limit), "%d", e->limit);
    snprintf(period_us, sizeof(period_us), "%lld", (long long)e->period_s * 1000000);
    snprintf(n_s, sizeof(n_s), "%d", n);
    const char *argv[] = {e->key, limit, period_us, n_s};
    const size_t len[] = {e->len, strlen(limit), strlen(period_us), strlen(n_s)};
    tix_aredis_eval(e->rl->ar, &gcra_n_script, 1, 4, argv, len, call_cb, e);
}

static struct entry *entry_for(struct tix_ratelimit_async *rl, const char *key, size_t len,
                               const char *class, int limit, int period_s)
{
    uint64_t hash = tix_fnv1a(key, len);
    struct entry *e = find(rl, key, len, hash);
    if (e != NULL)
        return e;
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
    return e;
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
    int64_t now = mono_us();
    sweep(rl, now);
    struct entry *e = entry_for(rl, key, len, class, limit, period_s);
    e->demand++;
    struct tix_ratelimit_result r;
    if (e->head == NULL && (take_cell(e, now, &r) || take_denial(e, now, &r))) {
        if (e->limit >= TIX_RATELIMIT_LEASE_SHARE && e->cells <= e->n_extra / 2 &&
            !e->is_in_flight && e->deny_until_us <= now)
            send_call(e); /* running low: lease more before anybody has to wait */
        cb(ctx, &r);
        return TIX_OK;
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
    if (!e->is_in_flight)
        send_call(e);
    return TIX_OK;
}
