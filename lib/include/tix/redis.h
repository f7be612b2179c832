/* redis.h - a hiredis connection and the one place Redis errors become tix_rc
 *
 * Redis is a cache and a rate-limit store, never the source of truth: every caller must have an
 * answer for "Redis is away". This wrapper makes that cheap to answer. A broken connection is
 * marked and dropped; the next call reconnects, but at most one attempt per second, so while
 * Redis is dead a call costs one fast failure (no syscall) and no call waits longer than about
 * timeout_ms (a reconnecting call shares one timeout_ms between connect and command).
 *
 * Error translation (once, here): connection errors, timeouts and protocol errors ->
 * TIX_ETRANSIENT (the connection is dropped); error replies (REDIS_REPLY_ERROR) ->
 * TIX_EINTERNAL with Redis' message in err->msg, except those that mean "retry later"
 * (LOADING, BUSY, TRYAGAIN, MASTERDOWN, CLUSTERDOWN) -> TIX_ETRANSIENT; the connection stays up.
 * Error replies nested inside an array reply (EXEC, scripts) are not inspected.
 *
 * Threads: a struct tix_redis belongs to one thread at a time (one per gateway event-loop thread);
 * nothing in this module has global mutable state. hiredis 0.14 writes with write(2): a process
 * using this module must ignore SIGPIPE (servers do anyway), or a peer reset kills it.
 */
#ifndef TIX_REDIS_H
#define TIX_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "tix/rc.h"

struct tix_redis;

/* A Lua script with a static lifetime (declare it `static const`). Each connection loads it once
 * (SCRIPT LOAD), then runs it by SHA1 (EVALSHA), falling back to EVAL on NOSCRIPT (a restarted or
 * flushed server). */
struct tix_redis_script {
    const char *name; /* for error messages, e.g. "ratelimit_gcra" */
    const char *src;
};

/* Most arguments tix_redis_eval accepts (keys plus values). */
#define TIX_REDIS_EVAL_MAX_ARGS 16

/* Opens a handle to url, "redis://[[user]:password@]host[:port][/db]" (port 6379, db 0 by
 * default; host may be a [bracketed] IPv6 address). timeout_ms (1..60000) bounds the connect and
 * every wait for a reply. *out is new; free with tix_redis_close.
 *
 * Returns TIX_EINVAL for a malformed url or timeout. A server that cannot be reached is NOT an
 * error here: the handle starts down (tix_redis_is_up() is false, a warning is logged) and calls
 * reconnect as described above, so a gateway starts while its cache is away. Callers that need
 * the server now send a PING. */
enum tix_rc tix_redis_open(const char *url, int timeout_ms, struct tix_redis **out,
                           struct tix_err *err);
/* The parts of a redis:// url, for connections this module does not make (hiredis async). */
struct tix_redis_addr {
    char host[256];
    int port;
    int db;
    char *user;     /* new string or NULL */
    char *password; /* new string or NULL */
};

/* Parses url as tix_redis_open does into *out (free with tix_redis_addr_deinit). TIX_EINVAL
 * for a malformed url. */
enum tix_rc tix_redis_addr_parse(const char *url, struct tix_redis_addr *out, struct tix_err *err);
void tix_redis_addr_deinit(struct tix_redis_addr *a);

/* Closes the connection and frees r. NULL is a no-op. */
void tix_redis_close(struct tix_redis *r);

/* Whether the last connect or command left the connection usable. No I/O. */
bool tix_redis_is_up(const struct tix_redis *r);

/* Runs one command in redisCommand format. fmt must be a string literal: every value goes
 * through %s (C string) or %b (pointer, size_t length), never into the format itself.
 * On TIX_OK, *out (if out is not NULL) is a new reply the caller frees with freeReplyObject
 * (it is never a REDIS_REPLY_ERROR); on failure *out is NULL and nothing is left to free. */
enum tix_rc tix_redis_cmd(struct tix_redis *r, redisReply **out, struct tix_err *err,
                          const char *fmt, ...);
/* Same, with argc binary-safe arguments; argv_len may be NULL (then each is a C string). */
enum tix_rc tix_redis_cmd_argv(struct tix_redis *r, int argc, const char *const *argv,
                               const size_t *argv_len, redisReply **out, struct tix_err *err);

/* Loads script on this connection (SCRIPT LOAD) and remembers its SHA1. Optional: eval loads
 * on first use; call it at start to fail early on a script that does not compile. */
enum tix_rc tix_redis_script_load(struct tix_redis *r, const struct tix_redis_script *script,
                                  struct tix_err *err);
/* Runs script with argv[0..n_keys) as KEYS and argv[n_keys..argc) as ARGV (binary-safe;
 * argv_len may be NULL). argc <= TIX_REDIS_EVAL_MAX_ARGS. EVALSHA, and EVAL on NOSCRIPT.
 * Reply ownership and errors as tix_redis_cmd (an error raised by the script is TIX_EINTERNAL). */
enum tix_rc tix_redis_eval(struct tix_redis *r, const struct tix_redis_script *script, int n_keys,
                           int argc, const char *const *argv, const size_t *argv_len,
                           redisReply **out, struct tix_err *err);

#endif
