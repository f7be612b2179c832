/* aredis.h - a hiredis asynchronous connection on a libevent loop: Redis without blocking
 *
 * The event-loop twin of redis.h for callers that must never wait on Redis (the gateway's
 * threads): a command is queued and its callback runs later on the same loop, when the reply
 * comes. Commands issued in one pass of the loop leave in one write (hiredis buffers them until
 * the socket is writable), so many requests share a round trip.
 *
 * The rules are redis.h's: Redis is never the source of truth and every caller has an answer for
 * "Redis is away". A broken connection is dropped and every command waiting on it is failed; the
 * next command reconnects, at most once per second, so while Redis is dead a command fails at
 * once (its callback runs before the call returns) and costs no syscall. No command waits longer
 * than about timeout_ms: a reply later than that drops the connection (the commands behind it
 * fail too), checked by a timer of the loop every timeout_ms / 4 (at least 5 ms).
 *
 * Errors, once, here: connection trouble and timeouts -> TIX_ETRANSIENT; error replies ->
 * TIX_EINTERNAL, or TIX_ETRANSIENT for LOADING, BUSY, TRYAGAIN, MASTERDOWN, CLUSTERDOWN (the
 * connection stays up). A callback never sees a REDIS_REPLY_ERROR.
 *
 * Threads: a struct tix_aredis belongs to its loop's thread; create, use and close it there.
 */
#ifndef TIX_AREDIS_H
#define TIX_AREDIS_H

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "tix/rc.h"
#include "tix/redis.h"

struct tix_aredis;

/* A command's outcome: rc TIX_OK with reply (borrowed: valid until the callback returns), or a
 * failure with reply NULL. Runs exactly once per command, on the loop's thread. */
typedef void (*tix_aredis_cb)(void *ctx, enum tix_rc rc, const redisReply *reply);

/* A handle to url (see tix_redis_open) on base; timeout_ms 1..60000. The connection opens in the
 * background: a server that can't be reached is not an error here. TIX_EINVAL for a malformed
 * url or timeout. Free with tix_aredis_close. */
enum tix_rc tix_aredis_open(struct event_base *base, const char *url, int timeout_ms,
                            struct tix_aredis **out, struct tix_err *err);
/* Fails every waiting command (TIX_ETRANSIENT), closes and frees. NULL is a no-op. */
void tix_aredis_close(struct tix_aredis *ar);
/* Whether the connection is up or being opened (commands are not failed at once). No I/O. */
bool tix_aredis_is_up(const struct tix_aredis *ar);

/* Queues one command of argc binary-safe arguments (argv_len may be NULL: C strings); the
 * arguments are copied. cb may be NULL (nobody waits for the answer); otherwise it may run
 * before this returns, when Redis is known to be down. */
void tix_aredis_cmd_argv(struct tix_aredis *ar, int argc, const char *const *argv,
                         const size_t *argv_len, tix_aredis_cb cb, void *ctx);
/* Runs script (KEYS = argv[0..n_keys), ARGV = the rest; argc <= TIX_REDIS_EVAL_MAX_ARGS): by
 * SHA1 once this connection loaded it, by source until then and after NOSCRIPT (a flushed or
 * restarted server). Callback rules as tix_aredis_cmd_argv. */
void tix_aredis_eval(struct tix_aredis *ar, const struct tix_redis_script *script, int n_keys,
                     int argc, const char *const *argv, const size_t *argv_len, tix_aredis_cb cb,
                     void *ctx);

#endif
