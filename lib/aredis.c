/* aredis.c - hiredis async on libevent: queued commands, bounded waits, throttled reconnects
 *
 * Invariants:
 * - ar->ac is NULL (down) or a context being opened or open; it is set to NULL before any
 *   hiredis call that frees it, so a command issued from a failing command's callback fails at
 *   once instead of joining a dying connection.
 * - Every command is a struct call in ar's FIFO from the moment hiredis queued it until its
 *   hiredis callback ran (hiredis answers in order, so the head is the oldest unanswered one);
 *   the timer only looks at the head. A call's user callback runs exactly once.
 * - While down, no connect is attempted before ar->next_attempt_ms.
 * - Scripts' SHA1s are learned per handle (SCRIPT LOAD, once) and kept across reconnects; a
 *   NOSCRIPT reply resends the same call by source.
 */
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aredis.h"
#include "tix/ids.h"
#include "tix/log.h"
#include "tix/mem.h"

#define RECONNECT_MS 1000
#define MAX_SCRIPTS  16
#define SHA_LEN      40

struct script_sha {
    const struct tix_redis_script *script;
    char sha[SHA_LEN + 1]; /* "" until SCRIPT LOAD answered */
    bool is_loading;
};

struct call {
    struct call *next;
    struct tix_aredis *ar;
    int64_t queued_ms;
    tix_aredis_cb cb;
    void *ctx;
    /* scripts only, to resend by source after NOSCRIPT */
    const struct tix_redis_script *script;
    int n_keys;
    int argc;
    char *args; /* the arguments, back to back */
    size_t lens[TIX_REDIS_EVAL_MAX_ARGS];
};

struct tix_aredis {
    struct event_base *base;
    redisAsyncContext *ac; /* NULL while down */
    struct tix_redis_addr addr;
    int timeout_ms;
    int64_t next_attempt_ms;
    bool is_lost; /* a loss was logged; log the recovery */
    struct call *head, *tail;
    struct event *timer;
    int n_scripts;
    struct script_sha scripts[MAX_SCRIPTS];
};

/* ---- the FIFO of unanswered calls */

static void push(struct tix_aredis *ar, struct call *c)
{
    c->next = NULL;
    c->queued_ms = tix_mono_ms();
    if (ar->tail != NULL)
        ar->tail->next = c;
    else
        ar->head = c;
    ar->tail = c;
}

static void unlink_call(struct tix_aredis *ar, struct call *c)
{
    struct call *prev = NULL;
    for (struct call *p = ar->head; p != NULL; prev = p, p = p->next) {
        if (p != c)
            continue;
        if (prev != NULL)
            prev->next = p->next;
        else
            ar->head = p->next;
        if (ar->tail == p)
            ar->tail = prev;
        return;
    }
}

static void finish(struct call *c, enum tix_rc rc, const redisReply *reply)
{
    if (c->cb != NULL)
        c->cb(c->ctx, rc, reply);
    free(c->args);
    free(c);
}

/* ---- connection */

static void drop(struct tix_aredis *ar, const char *why)
{
    redisAsyncContext *ac = ar->ac;
    ar->ac = NULL;
    ar->next_attempt_ms = tix_mono_ms() + RECONNECT_MS;
    if (!ar->is_lost)
        tix_log_warn("redis connection lost", "redis=%s:%d err=\"%s\"", ar->addr.host,
                     ar->addr.port, why);
    ar->is_lost = true;
    if (ac != NULL)
        redisAsyncFree(ac); /* fails every waiting call through its hiredis callback */
}

static void connect_cb(const redisAsyncContext *ac, int status)
{
    struct tix_aredis *ar = ac->data;
    if (status != REDIS_OK) {
        if (ar->ac == ac) { /* hiredis frees the context after this returns */
            ar->ac = NULL;
            ar->next_attempt_ms = tix_mono_ms() + RECONNECT_MS;
            if (!ar->is_lost)
                tix_log_warn("redis unreachable, will retry", "redis=%s:%d err=\"%s\"",
                             ar->addr.host, ar->addr.port, ac->errstr);
            ar->is_lost = true;
        }
        return;
    }
    if (ar->is_lost)
        tix_log_info("redis connection restored", "redis=%s:%d", ar->addr.host, ar->addr.port);
    ar->is_lost = false;
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct tix_aredis *ar = ac->data;
    if (ar->ac != ac)
        return; /* dropped by us: already accounted for */
    ar->ac = NULL;
    bool is_eof = status == REDIS_OK || ac->err == REDIS_ERR_EOF;
    ar->next_attempt_ms = is_eof ? tix_mono_ms() : tix_mono_ms() + RECONNECT_MS;
    if (!ar->is_lost)
        tix_log_warn("redis connection lost", "redis=%s:%d err=\"%s\"", ar->addr.host,
                     ar->addr.port, ac->errstr[0] ? ac->errstr : "closed");
    ar->is_lost = true;
}

static void reply_cb(redisAsyncContext *ac, void *r, void *privdata);

static bool send_raw(struct tix_aredis *ar, struct call *c, int argc, const char **argv,
                     const size_t *lens)
{
    if (redisAsyncCommandArgv(ar->ac, reply_cb, c, argc, argv, lens) != REDIS_OK)
        return false;
    push(ar, c);
    return true;
}

static void internal_cb(void *ctx, enum tix_rc rc, const redisReply *reply)
{
    struct tix_aredis *ar = ctx;
    if (rc == TIX_EINTERNAL)
        tix_log_warn("redis refused the session setup", "redis=%s:%d", ar->addr.host,
                     ar->addr.port);
    (void)reply;
}

/* AUTH and SELECT, queued first on a new connection. */
static void setup_session(struct tix_aredis *ar)
{
    if (ar->addr.password != NULL) {
        const char *argv[] = {"AUTH", ar->addr.user != NULL ? ar->addr.user : ar->addr.password,
                              ar->addr.password};
        struct call *c = tix_xcalloc(1, sizeof(*c));
        *c = (struct call){.ar = ar, .cb = internal_cb, .ctx = ar};
        if (!send_raw(ar, c, ar->addr.user != NULL ? 3 : 2, argv, NULL))
            free(c);
    }
    if (ar->addr.db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", ar->addr.db);
        const char *argv[] = {"SELECT", db};
        struct call *c = tix_xcalloc(1, sizeof(*c));
        *c = (struct call){.ar = ar, .cb = internal_cb, .ctx = ar};
        if (!send_raw(ar, c, 2, argv, NULL))
            free(c);
    }
}

/* Makes sure a connection is up or being opened; false when down and not yet time to retry. */
static bool ensure(struct tix_aredis *ar)
{
    if (ar->ac != NULL)
        return true;
    int64_t now = tix_mono_ms();
    if (now < ar->next_attempt_ms)
        return false;
    ar->next_attempt_ms = now + RECONNECT_MS;
    redisAsyncContext *ac = redisAsyncConnect(ar->addr.host, ar->addr.port);
    if (ac == NULL) {
        tix_log_error("out of memory", "what=redisAsyncContext");
        abort();
    }
    if (ac->err != 0) {
        if (!ar->is_lost)
            tix_log_warn("redis unreachable, will retry", "redis=%s:%d err=\"%s\"", ar->addr.host,
                         ar->addr.port, ac->errstr);
        ar->is_lost = true;
        redisAsyncFree(ac);
        return false;
    }
    ac->data = ar;
    redisLibeventAttach(ac, ar->base);
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
    ar->ac = ac;
    setup_session(ar);
    return ar->ac != NULL;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct tix_aredis *ar = arg;
    if (ar->ac != NULL && ar->head != NULL &&
        tix_mono_ms() - ar->head->queued_ms > ar->timeout_ms) {
        char why[64];
        snprintf(why, sizeof(why), "timed out (%d ms)", ar->timeout_ms);
        drop(ar, why);
    }
}

/* ---- scripts */

static struct script_sha *script_entry(struct tix_aredis *ar, const struct tix_redis_script *s)
{
    for (int i = 0; i < ar->n_scripts; i++)
        if (ar->scripts[i].script == s)
            return &ar->scripts[i];
    if (ar->n_scripts == MAX_SCRIPTS)
        return NULL; /* plain EVAL from then on */
    struct script_sha *e = &ar->scripts[ar->n_scripts++];
    *e = (struct script_sha){.script = s};
    return e;
}

static void loaded_cb(void *ctx, enum tix_rc rc, const redisReply *reply)
{
    struct script_sha *e = ctx;
    e->is_loading = false;
    if (rc == TIX_OK && reply->type == REDIS_REPLY_STRING && reply->len == SHA_LEN)
        memcpy(e->sha, reply->str, SHA_LEN + 1);
}

/* Sends c's script call by SHA1 when known (else by source, and learns the SHA1). */
static bool send_eval(struct tix_aredis *ar, struct call *c, bool is_by_source)
{
    struct script_sha *e = script_entry(ar, c->script);
    if (e != NULL && e->sha[0] == '\0' && !e->is_loading) {
        struct call *load = tix_xcalloc(1, sizeof(*load));
        *load = (struct call){.ar = ar, .cb = loaded_cb, .ctx = e};
        const char *argv[] = {"SCRIPT", "LOAD", c->script->src};
        if (send_raw(ar, load, 3, argv, NULL))
            e->is_loading = true;
        else
            free(load);
    }
    bool is_sha = !is_by_source && e != NULL && e->sha[0] != '\0';
    char nkeys[16];
    snprintf(nkeys, sizeof(nkeys), "%d", c->n_keys);
    const char *av[3 + TIX_REDIS_EVAL_MAX_ARGS] = {is_sha ? "EVALSHA" : "EVAL",
                                                   is_sha ? e->sha : c->script->src, nkeys};
    size_t len[3 + TIX_REDIS_EVAL_MAX_ARGS] = {strlen(av[0]), strlen(av[1]), strlen(nkeys)};
    const char *p = c->args;
    for (int i = 0; i < c->argc; i++) {
        av[3 + i] = p;
        len[3 + i] = c->lens[i];
        p += c->lens[i];
    }
    return send_raw(ar, c, 3 + c->argc, av, len);
}

static bool is_noscript(const redisReply *reply)
{
    return reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

static void reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct call *c = privdata;
    struct tix_aredis *ar = c->ar;
    unlink_call(ar, c);
    const redisReply *reply = r;
    if (reply == NULL) {
        finish(c, TIX_ETRANSIENT, NULL);
        return;
    }
    if (c->script != NULL && is_noscript(reply)) {
        struct script_sha *e = script_entry(ar, c->script);
        if (e != NULL)
            e->sha[0] = '\0'; /* the server forgot it: learn it again */
        if (ar->ac != NULL && send_eval(ar, c, true))
            return;
        finish(c, TIX_ETRANSIENT, NULL);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        finish(c, tix_redis_error_rc(reply->str), NULL);
        return;
    }
    finish(c, TIX_OK, reply);
}

/* ---- public */

enum tix_rc tix_aredis_open(struct event_base *base, const char *url, int timeout_ms,
                            struct tix_aredis **out, struct tix_err *err)
{
    *out = NULL;
    if (timeout_ms < 1 || timeout_ms > 60000)
        return tix_err_set(err, TIX_EINVAL, "timeout_ms", "redis timeout must be 1..60000 ms");
    struct tix_aredis *ar = tix_xcalloc(1, sizeof(*ar));
    enum tix_rc rc = tix_redis_parse_url(url, &ar->addr, err);
    if (rc != TIX_OK) {
        tix_redis_addr_deinit(&ar->addr);
        free(ar);
        return rc;
    }
    ar->base = base;
    ar->timeout_ms = timeout_ms;
    int period_ms = timeout_ms / 4 > 5 ? timeout_ms / 4 : 5;
    ar->timer = event_new(base, -1, EV_PERSIST, timer_cb, ar);
    struct timeval tv = {period_ms / 1000, (period_ms % 1000) * 1000};
    event_add(ar->timer, &tv);
    ensure(ar);
    *out = ar;
    return TIX_OK;
}

void tix_aredis_close(struct tix_aredis *ar)
{
    if (ar == NULL)
        return;
    redisAsyncContext *ac = ar->ac;
    ar->ac = NULL;
    ar->next_attempt_ms = INT64_MAX; /* callbacks can't reconnect */
    if (ac != NULL)
        redisAsyncFree(ac);
    event_free(ar->timer);
    tix_redis_addr_deinit(&ar->addr);
    free(ar);
}

bool tix_aredis_is_up(const struct tix_aredis *ar)
{
    return ar->ac != NULL;
}

void tix_aredis_cmd_argv(struct tix_aredis *ar, int argc, const char *const *argv,
                         const size_t *argv_len, tix_aredis_cb cb, void *ctx)
{
    struct call *c = tix_xcalloc(1, sizeof(*c));
    *c = (struct call){.ar = ar, .cb = cb, .ctx = ctx};
    if (argc < 1 || !ensure(ar) || !send_raw(ar, c, argc, (const char **)argv, argv_len))
        finish(c, argc < 1 ? TIX_EINVAL : TIX_ETRANSIENT, NULL);
}

void tix_aredis_eval(struct tix_aredis *ar, const struct tix_redis_script *script, int n_keys,
                     int argc, const char *const *argv, const size_t *argv_len, tix_aredis_cb cb,
                     void *ctx)
{
    struct call *c = tix_xcalloc(1, sizeof(*c));
    *c = (struct call){.ar = ar, .cb = cb, .ctx = ctx, .script = script, .n_keys = n_keys};
    if (argc < 0 || argc > TIX_REDIS_EVAL_MAX_ARGS || n_keys < 0 || n_keys > argc) {
        finish(c, TIX_EINVAL, NULL);
        return;
    }
    size_t total = 0;
    for (int i = 0; i < argc; i++) {
        c->lens[i] = argv_len != NULL ? argv_len[i] : strlen(argv[i]);
        total += c->lens[i];
    }
    c->argc = argc;
    c->args = tix_xmalloc(total + 1);
    char *p = c->args;
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i], c->lens[i]);
        p += c->lens[i];
    }
    if (!ensure(ar) || !send_eval(ar, c, false))
        finish(c, TIX_ETRANSIENT, NULL);
}
