/* redis.c - hiredis wrapper: bounded waits, throttled reconnects, errors translated once
 *
 * Invariants:
 * - r->ctx is either NULL (down) or a connected context with no error flag: a context whose
 *   err is set is freed at once (drop()), since hiredis refuses every later call on it anyway.
 * - While down, no call reconnects before r->next_attempt_ms (monotonic): a dead server costs a
 *   fast failure per call and one connect attempt per second. A connection the server closed
 *   (EOF, e.g. an idle timeout or a restart) may be re-opened by the very next call; failed
 *   connects, timeouts and resets wait a second.
 * - A freshly opened connection carries only what is left of timeout_ms for the rest of the call
 *   that opened it (has_short_timeout), then the full timeout_ms again.
 * - Every reply is either handed to the caller (success) or freed here; error replies never
 *   reach the caller.
 * - No global mutable state: scripts' SHA1s are cached per connection.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "tix/ids.h"
#include "tix/log.h"
#include "tix/mem.h"
#include "tix/redis.h"

#define RECONNECT_MS 1000
#define MAX_SCRIPTS  16
#define SHA_LEN      40

struct script_sha {
    const struct tix_redis_script *script;
    char sha[SHA_LEN + 1];
};

struct tix_redis {
    redisContext *ctx; /* NULL while down */
    char host[256];
    int port;
    int db;
    char *user;     /* NULL: AUTH with the password only */
    char *password; /* NULL: no AUTH */
    int timeout_ms;
    int64_t next_attempt_ms; /* monotonic: no reconnect before this */
    bool has_short_timeout;  /* the socket timeout is what was left after connecting */
    bool is_lost;            /* a loss was logged; log the recovery */
    char last_error[272];    /* why the connection is down, for fast failures */
    int n_scripts;
    struct script_sha scripts[MAX_SCRIPTS];
};

/* ---- url */

static bool parse_uint(const char *s, size_t len, long hi, int *out)
{
    if (len == 0 || len > 9)
        return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > hi)
        return false;
    *out = (int)v;
    return true;
}

static enum tix_rc bad_url(struct tix_err *err, const char *why)
{
    return tix_err_set(err, TIX_EINVAL, "redis_url", "redis url: %s", why);
}

/* "user:password" or ":password" between "redis://" and '@'. */
static enum tix_rc parse_userinfo(struct tix_redis *r, const char *p, const char *at,
                                  struct tix_err *err)
{
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (colon == NULL || colon + 1 == at)
        return bad_url(err, "userinfo must be [user]:password");
    if (colon > p)
        r->user = tix_xstrndup(p, (size_t)(colon - p));
    r->password = tix_xstrndup(colon + 1, (size_t)(at - colon - 1));
    return TIX_OK;
}

/* "host", "host:port", "[v6]" or "[v6]:port" in [p, end). */
static enum tix_rc parse_hostport(struct tix_redis *r, const char *p, const char *end,
                                  struct tix_err *err)
{
    const char *host = p, *host_end, *rest;
    if (*p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (host_end == NULL)
            return bad_url(err, "unterminated [ipv6 address]");
        rest = host_end + 1;
    } else {
        host_end = memchr(p, ':', (size_t)(end - p));
        if (host_end == NULL)
            host_end = end;
        rest = host_end;
    }
    size_t len = (size_t)(host_end - host);
    if (len == 0 || len >= sizeof(r->host))
        return bad_url(err, "missing or overlong host");
    memcpy(r->host, host, len);
    r->host[len] = '\0';
    r->port = 6379;
    if (rest == end)
        return TIX_OK;
    if (*rest != ':' || !parse_uint(rest + 1, (size_t)(end - rest - 1), 65535, &r->port) ||
        r->port == 0)
        return bad_url(err, "port must be 1..65535");
    return TIX_OK;
}

static enum tix_rc parse_url(struct tix_redis *r, const char *url, struct tix_err *err)
{
    static const char scheme[] = "redis://";
    if (url == NULL || strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        return bad_url(err, "must start with redis://");
    const char *p = url + sizeof(scheme) - 1;
    const char *end = p + strcspn(p, "/");
    const char *at = memrchr(p, '@', (size_t)(end - p));
    enum tix_rc rc = TIX_OK;
    if (at != NULL) {
        rc = parse_userinfo(r, p, at, err);
        p = at + 1;
    }
    if (rc == TIX_OK)
        rc = parse_hostport(r, p, end, err);
    if (rc != TIX_OK || *end == '\0' || end[1] == '\0')
        return rc;
    if (!parse_uint(end + 1, strlen(end + 1), 1000000, &r->db))
        return bad_url(err, "database must be a number");
    return TIX_OK;
}

enum tix_rc tix_redis_addr_parse(const char *url, struct tix_redis_addr *out, struct tix_err *err)
{
    struct tix_redis r = {0};
    memset(out, 0, sizeof(*out));
    enum tix_rc rc = parse_url(&r, url, err);
    if (rc == TIX_OK) {
        memcpy(out->host, r.host, sizeof(out->host));
        out->port = r.port;
        out->db = r.db;
        out->user = r.user;
        out->password = r.password;
    } else {
        free(r.user);
        free(r.password);
    }
    return rc;
}

void tix_redis_addr_deinit(struct tix_redis_addr *a)
{
    free(a->user);
    free(a->password);
    memset(a, 0, sizeof(*a));
}

/* ---- connection state */

static struct timeval ms_tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static enum tix_rc fail_down(struct tix_redis *r, enum tix_rc rc, struct tix_err *err)
{
    return tix_err_set(err, rc, "", "redis %s:%d: %s", r->host, r->port, r->last_error);
}

/* Frees a context whose error flag is set and marks the handle down. */
static enum tix_rc drop(struct tix_redis *r, struct tix_err *err)
{
    redisContext *c = r->ctx;
    bool is_bug = c->err == REDIS_ERR_OTHER && strstr(c->errstr, "format") != NULL;
    bool is_eof = c->err == REDIS_ERR_EOF;
    if (c->err == REDIS_ERR_IO && strstr(c->errstr, "temporarily unavailable") != NULL)
        snprintf(r->last_error, sizeof(r->last_error), "timed out (%d ms)", r->timeout_ms);
    else
        snprintf(r->last_error, sizeof(r->last_error), "%s", c->errstr);
    redisFree(c);
    r->ctx = NULL;
    r->has_short_timeout = false;
    int64_t now = tix_mono_ms();
    r->next_attempt_ms = is_eof || is_bug ? now : now + RECONNECT_MS;
    if (!r->is_lost && !is_bug)
        tix_log_warn("redis connection lost", "redis=%s:%d err=\"%s\"", r->host, r->port,
                     r->last_error);
    r->is_lost = r->is_lost || !is_bug;
    return fail_down(r, is_bug ? TIX_EINTERNAL : TIX_ETRANSIENT, err);
}

static enum tix_rc error_reply_rc(const char *msg)
{
    static const char *const transient[] = {"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN",
                                            "CLUSTERDOWN"};
    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++) {
        size_t n = strlen(transient[i]);
        if (strncmp(msg, transient[i], n) == 0 && (msg[n] == ' ' || msg[n] == '\0'))
            return TIX_ETRANSIENT;
    }
    return TIX_EINTERNAL;
}

/* Takes reply (NULL after a connection error) and hands it to *out or frees it. */
static enum tix_rc finish(struct tix_redis *r, redisReply *reply, redisReply **out,
                          struct tix_err *err)
{
    if (reply == NULL)
        return drop(r, err);
    if (reply->type == REDIS_REPLY_ERROR) {
        enum tix_rc rc = tix_err_set(err, error_reply_rc(reply->str), "", "redis: %s", reply->str);
        freeReplyObject(reply);
        return rc;
    }
    if (out != NULL)
        *out = reply;
    else
        freeReplyObject(reply);
    return TIX_OK;
}

/* AUTH and SELECT on a fresh connection. */
static enum tix_rc setup_session(struct tix_redis *r, struct tix_err *err)
{
    enum tix_rc rc = TIX_OK;
    if (r->password != NULL) {
        const char *argv[] = {"AUTH", r->user != NULL ? r->user : r->password, r->password};
        rc = finish(r, redisCommandArgv(r->ctx, r->user != NULL ? 3 : 2, argv, NULL), NULL, err);
    }
    if (rc == TIX_OK && r->db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->db);
        const char *argv[] = {"SELECT", db};
        rc = finish(r, redisCommandArgv(r->ctx, 2, argv, NULL), NULL, err);
    }
    return rc;
}

static enum tix_rc connect_now(struct tix_redis *r, struct tix_err *err)
{
    int64_t start = tix_mono_ms();
    r->next_attempt_ms = start + RECONNECT_MS;
    redisContext *c = redisConnectWithTimeout(r->host, r->port, ms_tv(r->timeout_ms));
    if (c == NULL) {
        tix_log_error("out of memory", "what=redisContext");
        abort();
    }
    int left = r->timeout_ms - (int)(tix_mono_ms() - start);
    if (c->err == 0)
        redisSetTimeout(c, ms_tv(left > 0 ? left : 1)); /* sets c->err when it fails */
    if (c->err != 0) {
        snprintf(r->last_error, sizeof(r->last_error), "connect: %s", c->errstr);
        redisFree(c);
        return fail_down(r, TIX_ETRANSIENT, err);
    }
    redisEnableKeepAlive(c);
    r->ctx = c;
    r->has_short_timeout = true;
    struct tix_err serr;
    enum tix_rc rc = setup_session(r, &serr);
    if (rc != TIX_OK) {
        if (r->ctx != NULL) { /* AUTH or SELECT refused: a configuration error */
            snprintf(r->last_error, sizeof(r->last_error), "%s", serr.msg);
            redisFree(r->ctx);
            r->ctx = NULL;
            r->next_attempt_ms = tix_mono_ms() + RECONNECT_MS;
        }
        return tix_err_set(err, rc, "", "%s", serr.msg);
    }
    if (r->is_lost)
        tix_log_info("redis connection restored", "redis=%s:%d", r->host, r->port);
    r->is_lost = false;
    return TIX_OK;
}

/* Makes sure r->ctx is usable, reconnecting if it is time to. The call that opened a connection
 * runs with what was left of its timeout; the next call restores the full one. */
static enum tix_rc ensure(struct tix_redis *r, struct tix_err *err)
{
    if (r->ctx != NULL) {
        if (r->has_short_timeout && redisSetTimeout(r->ctx, ms_tv(r->timeout_ms)) == REDIS_OK)
            r->has_short_timeout = false;
        return TIX_OK;
    }
    if (tix_mono_ms() < r->next_attempt_ms)
        return fail_down(r, TIX_ETRANSIENT, err);
    return connect_now(r, err);
}

/* ---- public */

enum tix_rc tix_redis_open(const char *url, int timeout_ms, struct tix_redis **out,
                           struct tix_err *err)
{
    *out = NULL;
    if (timeout_ms < 1 || timeout_ms > 60000)
        return tix_err_set(err, TIX_EINVAL, "timeout_ms", "redis timeout must be 1..60000 ms");
    struct tix_redis *r = tix_xcalloc(1, sizeof(*r));
    r->timeout_ms = timeout_ms;
    enum tix_rc rc = parse_url(r, url, err);
    if (rc != TIX_OK) {
        tix_redis_close(r);
        return rc;
    }
    if (connect_now(r, NULL) != TIX_OK) {
        tix_log_warn("redis unreachable, will retry", "redis=%s:%d err=\"%s\"", r->host, r->port,
                     r->last_error);
        r->is_lost = true;
    }
    *out = r;
    return TIX_OK;
}

void tix_redis_close(struct tix_redis *r)
{
    if (r == NULL)
        return;
    if (r->ctx != NULL)
        redisFree(r->ctx);
    free(r->user);
    free(r->password);
    free(r);
}

bool tix_redis_is_up(const struct tix_redis *r)
{
    return r->ctx != NULL;
}

enum tix_rc tix_redis_cmd(struct tix_redis *r, redisReply **out, struct tix_err *err,
                          const char *fmt, ...)
{
    if (out != NULL)
        *out = NULL;
    enum tix_rc rc = ensure(r, err);
    if (rc != TIX_OK)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(r->ctx, fmt, ap);
    va_end(ap);
    return finish(r, reply, out, err);
}

enum tix_rc tix_redis_cmd_argv(struct tix_redis *r, int argc, const char *const *argv,
                               const size_t *argv_len, redisReply **out, struct tix_err *err)
{
    if (out != NULL)
        *out = NULL;
    if (argc < 1)
        return tix_err_set(err, TIX_EINVAL, "argc", "redis: a command needs a name");
    enum tix_rc rc = ensure(r, err);
    if (rc != TIX_OK)
        return rc;
    redisReply *reply = redisCommandArgv(r->ctx, argc, (const char **)argv, argv_len);
    return finish(r, reply, out, err);
}

/* ---- scripts */

static const char *cached_sha(const struct tix_redis *r, const struct tix_redis_script *script)
{
    for (int i = 0; i < r->n_scripts; i++)
        if (r->scripts[i].script == script)
            return r->scripts[i].sha;
    return NULL;
}

enum tix_rc tix_redis_script_load(struct tix_redis *r, const struct tix_redis_script *script,
                                  struct tix_err *err)
{
    redisReply *reply = NULL;
    struct tix_err lerr;
    enum tix_rc rc = tix_redis_cmd(r, &reply, &lerr, "SCRIPT LOAD %s", script->src);
    if (rc != TIX_OK)
        return tix_err_set(err, rc, "", "script %s: %s", script->name, lerr.msg);
    if (reply->type != REDIS_REPLY_STRING || reply->len != SHA_LEN) {
        freeReplyObject(reply);
        return tix_err_set(err, TIX_EINTERNAL, "", "script %s: SCRIPT LOAD gave no sha1",
                           script->name);
    }
    if (cached_sha(r, script) == NULL && r->n_scripts < MAX_SCRIPTS) {
        struct script_sha *s = &r->scripts[r->n_scripts++];
        s->script = script;
        memcpy(s->sha, reply->str, SHA_LEN + 1);
    }
    freeReplyObject(reply);
    return TIX_OK;
}

static bool is_noscript(const redisReply *reply)
{
    return reply != NULL && reply->type == REDIS_REPLY_ERROR &&
           strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

enum tix_rc tix_redis_eval(struct tix_redis *r, const struct tix_redis_script *script, int n_keys,
                           int argc, const char *const *argv, const size_t *argv_len,
                           redisReply **out, struct tix_err *err)
{
    if (out != NULL)
        *out = NULL;
    if (argc < 0 || argc > TIX_REDIS_EVAL_MAX_ARGS || n_keys < 0 || n_keys > argc)
        return tix_err_set(err, TIX_EINVAL, "argc", "script %s: bad argument count", script->name);
    enum tix_rc rc = ensure(r, err);
    if (rc == TIX_OK && cached_sha(r, script) == NULL)
        rc = tix_redis_script_load(r, script, err);
    if (rc != TIX_OK)
        return rc;
    const char *sha = cached_sha(r, script); /* NULL when the cache is full: plain EVAL */
    char nkeys[16];
    snprintf(nkeys, sizeof(nkeys), "%d", n_keys);
    const char *av[3 + TIX_REDIS_EVAL_MAX_ARGS] = {sha != NULL ? "EVALSHA" : "EVAL",
                                                   sha != NULL ? sha : script->src, nkeys};
    size_t len[3 + TIX_REDIS_EVAL_MAX_ARGS] = {strlen(av[0]), strlen(av[1]), strlen(nkeys)};
    for (int i = 0; i < argc; i++) {
        av[3 + i] = argv[i];
        len[3 + i] = argv_len != NULL ? argv_len[i] : strlen(argv[i]);
    }
    redisReply *reply = redisCommandArgv(r->ctx, 3 + argc, av, len);
    if (is_noscript(reply)) { /* the server forgot it (restart, SCRIPT FLUSH) */
        freeReplyObject(reply);
        av[0] = "EVAL";
        av[1] = script->src;
        len[0] = 4;
        len[1] = strlen(script->src);
        reply = redisCommandArgv(r->ctx, 3 + argc, av, len);
    }
    struct tix_err lerr;
    rc = finish(r, reply, out, &lerr);
    if (rc != TIX_OK)
        tix_err_set(err, rc, "", "script %s: %s", script->name, lerr.msg);
    return rc;
}
