/* ratelimit.h - GCRA rate limits in Redis, with a local fallback that never fails open
 *
 * The generic cell rate algorithm keeps one number per key, the theoretical arrival time (TAT).
 * A limit of N requests per period P with a burst of N gives an emission interval T = P / N
 * (whole microseconds, rounded down) and a tolerance of N * T: a fresh subject may make N
 * requests at once, then one every T. A denied request changes nothing. The bucket is full again
 * (reset) when the TAT is reached.
 *
 * Where the state lives:
 * - Normally in Redis, key "rl:<class>:<subject>", updated by one Lua script (atomic, Redis
 *   server time via TIME), so every gateway instance shares one limit. The key expires when its
 *   bucket is full again.
 * - When Redis is down or answers with an error, in a process-wide local table with the same
 *   math on the monotonic clock. Limits are then per gateway instance (N instances let N times
 *   the traffic through) but still limits: the limiter never fails open and never blocks longer
 *   than the Redis timeout. The switch is logged once when the first limiter of the process falls
 *   back, and once when the last one that fell back sees Redis again.
 *
 * Objects and threads:
 * - struct tix_ratelimit_local is the fallback table, one per process, shared by every thread:
 *   a fixed number of slots (no allocation after create), protected by a mutex; thread-safe.
 *   Subjects are identified by a 128-bit SipHash under a random per-table key (attackers cannot
 *   aim collisions). Each subject probes 8 slots; when all are in use the victim is the entry
 *   whose bucket is closest to full (smallest TAT, roughly the least recently used). An evicted
 *   subject starts with a full bucket again: size the table above the number of subjects active
 *   within one period.
 * - struct tix_ratelimiter is one per thread: it borrows that thread's struct tix_redis and the
 *   shared table. Not thread-safe itself.
 */
#ifndef TIX_RATELIMIT_H
#define TIX_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tix/rc.h"
#include "tix/redis.h"

#define TIX_RATELIMIT_CLASS_MAX   32  /* class: 1..32 of [a-z0-9_-] */
#define TIX_RATELIMIT_SUBJECT_MAX 200 /* subject: 1..200 visible ASCII (0x21..0x7e) */
#define TIX_RATELIMIT_LIMIT_MAX   1000000
#define TIX_RATELIMIT_PERIOD_MAX  86400 /* seconds */
#define TIX_RATELIMIT_KEY_MAX     (3 + TIX_RATELIMIT_CLASS_MAX + 1 + TIX_RATELIMIT_SUBJECT_MAX)

/* Everything the gateway needs for 429, Retry-After and RateLimit-Limit/-Remaining/-Reset. */
struct tix_ratelimit_result {
    bool is_allowed;
    int limit;         /* N */
    int remaining;     /* requests still allowed right now (0 when denied) */
    int reset_s;       /* seconds until the bucket is full again, rounded up */
    int retry_after_s; /* 0 when allowed; else seconds until one request is allowed, >= 1 */
    bool is_local;     /* decided by the local fallback table, not by Redis */
};

/* The exact outcome of one GCRA step, in microseconds. */
struct tix_ratelimit_gcra {
    bool is_allowed;
    int remaining;
    int64_t tat_us;         /* the TAT to store: the new one if allowed, the old one if not */
    int64_t retry_after_us; /* 0 when allowed */
    int64_t reset_us;       /* until the bucket is full again */
};

/* One GCRA step for a request at now_us against stored TAT tat_us (any value <= now_us,
 * e.g. 0, means a full bucket), limit N in 1..TIX_RATELIMIT_LIMIT_MAX per period_us >= N.
 * Pure: no clock, no state, thread-safe. */
void tix_ratelimit_gcra(int64_t tat_us, int64_t now_us, int limit, int64_t period_us,
                        struct tix_ratelimit_gcra *out);
/* How many of n requests arriving together at now_us are allowed (0..n): what n GCRA steps in a
 * row allow (a denied step changes nothing, so the allowed ones are the first k). Pure. */
int tix_ratelimit_gcra_n(int64_t tat_us, int64_t now_us, int limit, int64_t period_us, int n);
/* Converts a step into the gateway's result (seconds rounded up, retry_after at least 1). */
void tix_ratelimit_result_of(const struct tix_ratelimit_gcra *g, int limit,
                             struct tix_ratelimit_result *out);

/* Checks class, subject, limit and period_s (see tix_ratelimit_check) and writes the Redis key
 * "rl:<class>:<subject>" and its length. TIX_EINVAL naming the bad argument. Pure. */
enum tix_rc tix_ratelimit_key(const char *class, const char *subject, int limit, int period_s,
                              char key[TIX_RATELIMIT_KEY_MAX + 1], size_t *len,
                              struct tix_err *err);

/* A new local table of at least `slots` entries (rounded up to a power of two, minimum 64;
 * 24 bytes each). Calls sodium_init(). Free with tix_ratelimit_local_destroy once no limiter
 * uses it. */
struct tix_ratelimit_local *tix_ratelimit_local_create(size_t slots);
/* NULL is a no-op. */
void tix_ratelimit_local_destroy(struct tix_ratelimit_local *t);
/* Checks and charges one request against the local table at monotonic time now_us (> 0).
 * Thread-safe. TIX_EINVAL for bad arguments (see tix_ratelimit_check). */
enum tix_rc tix_ratelimit_local_check(struct tix_ratelimit_local *t, const char *class,
                                      const char *subject, int limit, int period_s, int64_t now_us,
                                      struct tix_ratelimit_result *out, struct tix_err *err);

/* Counts a limiter falling back to the table (is_fallen_back) or coming back to Redis; logs the
 * process-wide edges (the first to fall back, the last to come back). Thread-safe. */
void tix_ratelimit_local_note(struct tix_ratelimit_local *t, bool is_fallen_back, const char *why);
/* A fallen-back limiter goes away (no log: it did not see Redis come back). */
void tix_ratelimit_local_forget(struct tix_ratelimit_local *t);

/* A new limiter for one thread. redis (may be NULL: local only) and local are borrowed and must
 * outlive it. Free with tix_ratelimiter_destroy. */
struct tix_ratelimiter *tix_ratelimiter_create(struct tix_redis *redis,
                                               struct tix_ratelimit_local *local);
/* NULL is a no-op. */
void tix_ratelimiter_destroy(struct tix_ratelimiter *rl);

/* Checks and charges one request of subject (e.g. "ip:1.2.3.4", "user:<uuid>") in class (e.g.
 * "auth", "holds", "general") against limit requests per period_s seconds (burst = limit).
 * Returns TIX_OK with *out filled, whether Redis answered or the local table did; Redis trouble
 * is never an error here. TIX_EINVAL when class, subject, limit (1..TIX_RATELIMIT_LIMIT_MAX) or
 * period_s (1..TIX_RATELIMIT_PERIOD_MAX) is out of range: a caller bug, and *out then denies
 * (never fails open). Not thread-safe per limiter (one per thread). */
enum tix_rc tix_ratelimit_check(struct tix_ratelimiter *rl, const char *class, const char *subject,
                                int limit, int period_s, struct tix_ratelimit_result *out,
                                struct tix_err *err);

/* ---- the asynchronous limiter (lib/ratelimit_async.c)
 *
 * The same limits, shared by every gateway through Redis, for an event loop that must never wait
 * on Redis: a check's callback runs when the decision is made. Checks of one key that arrive
 * while a call for that key is on its way are decided together when it comes back, by one script
 * call that charges all of them at once: what n checks in a row would decide. A busy key also
 * leases cells ahead (charged in Redis, used locally for TIX_RATELIMIT_LEASE_MS at most, at most
 * limit / TIX_RATELIMIT_LEASE_SHARE of them), and a key found empty is denied locally until the
 * moment Redis would allow it again, so most checks of a busy key are decided without a round
 * trip; together the gateways still never allow more than the limit. Redis trouble (down,
 * timeout, error) decides the waiting checks in the local table, as tix_ratelimit_check does. */

#define TIX_RATELIMIT_LEASE_MS    1000
#define TIX_RATELIMIT_LEASE_SHARE 8

struct tix_aredis;
struct tix_ratelimit_async;

/* A decision; r is borrowed (valid until the callback returns). */
typedef void (*tix_ratelimit_cb)(void *ctx, const struct tix_ratelimit_result *r);

/* A new limiter for the thread of ar's loop; ar (may be NULL: local only) and local are borrowed
 * and must outlive it. Free with tix_ratelimit_async_destroy after closing ar (which decides
 * every waiting check locally). */
struct tix_ratelimit_async *tix_ratelimit_async_create(struct tix_aredis *ar,
                                                       struct tix_ratelimit_local *local);
/* NULL is a no-op. */
void tix_ratelimit_async_destroy(struct tix_ratelimit_async *rl);
/* Checks and charges one request, like tix_ratelimit_check; cb runs exactly once, possibly before
 * this returns (Redis known to be down). TIX_EINVAL for bad arguments (see tix_ratelimit_check):
 * cb then runs at once with a denial. Not thread-safe (one per loop thread). */
enum tix_rc tix_ratelimit_check_async(struct tix_ratelimit_async *rl, const char *class,
                                      const char *subject, int limit, int period_s,
                                      tix_ratelimit_cb cb, void *ctx, struct tix_err *err);

#endif
