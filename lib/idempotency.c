/* idempotency.c - Idempotency-Key records in Redis, moved only by Lua scripts
 *
 * Invariants:
 * - A record is a hash whose `state` is "in_progress" or "done"; it is created only by the begin
 *   script (when absent) and changed only by complete/abandon when its caller and body hash are
 *   the ones given (compare-and-set), so a stale owner can never overwrite a newer answer.
 * - Every record expires: a placeholder after the lock TTL, an answer after ttl_s.
 * - The body hash is stored as 64 lowercase hex digits (readable with redis-cli).
 * - A replayed response is copied out of the reply: the caller's result owns its bytes.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aredis.h"
#include "tix/idempotency.h"
#include "tix/mem.h"

#define RKEY_MAX (5 + TIX_IDEM_CALLER_MAX + 1 + TIX_IDEM_KEY_MAX)
#define HEX_LEN  (2 * TIX_IDEM_HASH_LEN)

/* KEYS[1] = record; ARGV = caller, body hash, lock TTL in ms.
 * Returns {"new"}, {"mismatch"}, {"in_progress"} or {"done", status, content_type, location,
 * body}. */
static const struct tix_redis_script begin_script = {
    .name = "idem_begin",
    .src = "if redis.replicate_commands then redis.replicate_commands() end\n"
           "local v = redis.call('HMGET', KEYS[1], 'state', 'caller', 'body_hash', 'status',\n"
           "                     'content_type', 'location', 'body')\n"
           "if not v[1] then\n"
           "  local t = redis.call('TIME')\n"
           "  redis.call('DEL', KEYS[1])\n"
           "  redis.call('HSET', KEYS[1], 'state', 'in_progress', 'caller', ARGV[1],\n"
           "             'body_hash', ARGV[2], 'started_at', t[1])\n"
           "  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
           "  return {'new'}\n"
           "end\n"
           "if v[2] ~= ARGV[1] or v[3] ~= ARGV[2] then return {'mismatch'} end\n"
           "if v[1] ~= 'done' then return {'in_progress'} end\n"
           "return {'done', v[4], v[5], v[6], v[7]}\n",
};

/* KEYS[1] = record; ARGV = caller, body hash, status, content type, location, body, TTL in ms.
 * Returns 1 when stored, 0 when the placeholder is not ours. */
static const struct tix_redis_script complete_script = {
    .name = "idem_complete",
    .src = "if redis.replicate_commands then redis.replicate_commands() end\n"
           "local v = redis.call('HMGET', KEYS[1], 'state', 'caller', 'body_hash')\n"
           "if v[1] ~= 'in_progress' or v[2] ~= ARGV[1] or v[3] ~= ARGV[2] then return 0 end\n"
           "local t = redis.call('TIME')\n"
           "redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[3], 'content_type',\n"
           "           ARGV[4], 'location', ARGV[5], 'body', ARGV[6], 'completed_at', t[1])\n"
           "redis.call('PEXPIRE', KEYS[1], ARGV[7])\n"
           "return 1\n",
};

/* KEYS[1] = record; ARGV = caller, body hash. Returns 1 when deleted, 0 when not ours. */
static const struct tix_redis_script abandon_script = {
    .name = "idem_abandon",
    .src = "local v = redis.call('HMGET', KEYS[1], 'state', 'caller', 'body_hash')\n"
           "if v[1] ~= 'in_progress' or v[2] ~= ARGV[1] or v[3] ~= ARGV[2] then return 0 end\n"
           "redis.call('DEL', KEYS[1])\n"
           "return 1\n",
};

/* The validated pieces every script call needs. */
struct record {
    char rkey[RKEY_MAX + 1];
    size_t rkey_len;
    char hash_hex[HEX_LEN + 1];
};

void tix_idem_hash(const char *method, const char *path, const void *body, size_t len,
                   uint8_t out[TIX_IDEM_HASH_LEN])
{
    static const unsigned char nul = 0;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, TIX_IDEM_HASH_LEN);
    crypto_generichash_update(&st, (const unsigned char *)method, strlen(method));
    crypto_generichash_update(&st, &nul, 1);
    crypto_generichash_update(&st, (const unsigned char *)path, strlen(path));
    crypto_generichash_update(&st, &nul, 1);
    if (len > 0)
        crypto_generichash_update(&st, body, len);
    crypto_generichash_final(&st, out, TIX_IDEM_HASH_LEN);
}

void tix_idem_begin_result_deinit(struct tix_idem_begin_result *res)
{
    if (res == NULL)
        return;
    free(res->content_type);
    free(res->location);
    free(res->body);
    *res = (struct tix_idem_begin_result){.outcome = TIX_IDEM_NEW};
}

static bool is_valid_caller(const char *caller)
{
    size_t n = caller != NULL ? strnlen(caller, TIX_IDEM_CALLER_MAX + 1) : 0;
    if (n == 0 || n > TIX_IDEM_CALLER_MAX)
        return false;
    size_t i = 0;
    while (i < n && caller[i] >= 'a' && caller[i] <= 'z')
        i++;
    if (i == 0 || i + 1 >= n || caller[i] != ':')
        return false;
    for (i++; i < n; i++)
        if (caller[i] < 0x21 || caller[i] > 0x7e)
            return false;
    return true;
}

bool tix_idem_key_is_valid(const char *key)
{
    size_t n = key != NULL ? strnlen(key, TIX_IDEM_KEY_MAX + 1) : 0;
    if (n == 0 || n > TIX_IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x20 || key[i] > 0x7e)
            return false;
    return true;
}

static enum tix_rc prepare(const char *caller, const char *key,
                           const uint8_t body_hash[TIX_IDEM_HASH_LEN], struct record *rec,
                           struct tix_err *err)
{
    if (!tix_idem_key_is_valid(key))
        return tix_err_set(err, TIX_EINVAL, "idempotency_key",
                           "Idempotency-Key must be 1..%d printable ASCII characters",
                           TIX_IDEM_KEY_MAX);
    if (!is_valid_caller(caller))
        return tix_err_set(err, TIX_EINVAL, "caller", "idempotency caller must be <kind>:<id>");
    int n = snprintf(rec->rkey, sizeof(rec->rkey), "idem:%s:%s", caller, key);
    rec->rkey_len = (size_t)n;
    sodium_bin2hex(rec->hash_hex, sizeof(rec->hash_hex), body_hash, TIX_IDEM_HASH_LEN);
    return TIX_OK;
}

/* A copy of a string element, NULL when empty. */
static char *copy_opt(const redisReply *e)
{
    return e->len > 0 ? tix_xstrndup(e->str, e->len) : NULL;
}

/* Fills out from {"done", status, content_type, location, body}. */
static bool parse_replay(const redisReply *reply, struct tix_idem_begin_result *out)
{
    if (reply->elements != 5)
        return false;
    for (size_t i = 1; i < 5; i++)
        if (reply->element[i]->type != REDIS_REPLY_STRING)
            return false;
    const redisReply *st = reply->element[1];
    char digits[8];
    if (st->len != 3)
        return false;
    memcpy(digits, st->str, 3);
    digits[3] = '\0';
    char *end;
    long status = strtol(digits, &end, 10);
    if (*end != '\0' || status < 100 || status > 599)
        return false;
    const redisReply *body = reply->element[4];
    out->outcome = TIX_IDEM_REPLAY;
    out->status = (int)status;
    out->content_type = copy_opt(reply->element[2]);
    out->location = copy_opt(reply->element[3]);
    out->body = tix_xmalloc(body->len + 1);
    memcpy(out->body, body->str, body->len);
    out->body[body->len] = '\0';
    out->body_len = body->len;
    return true;
}

static bool parse_begin(const redisReply *reply, struct tix_idem_begin_result *out)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return false;
    const char *s = reply->element[0]->str;
    if (strcmp(s, "done") == 0)
        return parse_replay(reply, out);
    if (reply->elements != 1)
        return false;
    if (strcmp(s, "new") == 0)
        out->outcome = TIX_IDEM_NEW;
    else if (strcmp(s, "mismatch") == 0)
        out->outcome = TIX_IDEM_MISMATCH;
    else if (strcmp(s, "in_progress") == 0)
        out->outcome = TIX_IDEM_IN_PROGRESS;
    else
        return false;
    return true;
}

/* The arguments of every call: the record, the caller and the body hash, then extra ones. */
struct call_args {
    struct record rec;
    int argc;
    const char *argv[8];
    size_t len[8];
    char num[2][24];
};

static void args_init(struct call_args *a, const char *caller)
{
    a->argc = 3;
    a->argv[0] = a->rec.rkey;
    a->len[0] = a->rec.rkey_len;
    a->argv[1] = caller;
    a->len[1] = strlen(caller);
    a->argv[2] = a->rec.hash_hex;
    a->len[2] = HEX_LEN;
}

static void args_add(struct call_args *a, const char *v, size_t len)
{
    a->argv[a->argc] = v;
    a->len[a->argc++] = len;
}

static enum tix_rc begin_args(const char *caller, const char *key,
                              const uint8_t body_hash[TIX_IDEM_HASH_LEN], int lock_ttl_s,
                              struct call_args *a, struct tix_err *err)
{
    enum tix_rc rc = prepare(caller, key, body_hash, &a->rec, err);
    if (rc != TIX_OK)
        return rc;
    if (lock_ttl_s < 1)
        return tix_err_set(err, TIX_EINVAL, "lock_ttl_s", "lock TTL must be at least 1 s");
    if (lock_ttl_s > TIX_IDEM_LOCK_TTL_MAX)
        lock_ttl_s = TIX_IDEM_LOCK_TTL_MAX;
    args_init(a, caller);
    snprintf(a->num[0], sizeof(a->num[0]), "%lld", (long long)lock_ttl_s * 1000);
    args_add(a, a->num[0], strlen(a->num[0]));
    return TIX_OK;
}

static enum tix_rc begin_reply(const redisReply *reply, struct tix_idem_begin_result *out,
                               struct tix_err *err)
{
    *out = (struct tix_idem_begin_result){.outcome = TIX_IDEM_NEW};
    if (!parse_begin(reply, out)) {
        tix_idem_begin_result_deinit(out);
        return tix_err_set(err, TIX_EINTERNAL, "", "script %s: unexpected reply",
                           begin_script.name);
    }
    return TIX_OK;
}

enum tix_rc tix_idem_begin(struct tix_redis *r, const char *caller, const char *key,
                           const uint8_t body_hash[TIX_IDEM_HASH_LEN], int lock_ttl_s,
                           struct tix_idem_begin_result *out, struct tix_err *err)
{
    *out = (struct tix_idem_begin_result){.outcome = TIX_IDEM_NEW};
    struct call_args a;
    enum tix_rc rc = begin_args(caller, key, body_hash, lock_ttl_s, &a, err);
    if (rc != TIX_OK)
        return rc;
    redisReply *reply = NULL;
    rc = tix_redis_eval(r, &begin_script, 1, a.argc, a.argv, a.len, &reply, err);
    if (rc != TIX_OK)
        return rc;
    rc = begin_reply(reply, out, err);
    freeReplyObject(reply);
    return rc;
}

static enum tix_rc check_response(int status, const char *body, size_t len, int ttl_s,
                                  struct tix_err *err)
{
    if (status < 100 || status > 599)
        return tix_err_set(err, TIX_EINVAL, "status", "HTTP status must be 100..599");
    if (len > TIX_IDEM_BODY_MAX || (body == NULL && len > 0))
        return tix_err_set(err, TIX_EINVAL, "body", "response body too large to store (%zu)", len);
    if (ttl_s < 1 || ttl_s > TIX_IDEM_TTL_MAX)
        return tix_err_set(err, TIX_EINVAL, "ttl_s", "TTL must be 1..%d s", TIX_IDEM_TTL_MAX);
    return TIX_OK;
}

static enum tix_rc complete_args(const char *caller, const char *key,
                                 const uint8_t body_hash[TIX_IDEM_HASH_LEN], int status,
                                 const char *content_type, const char *location, const char *body,
                                 size_t len, int ttl_s, struct call_args *a, struct tix_err *err)
{
    enum tix_rc rc = prepare(caller, key, body_hash, &a->rec, err);
    if (rc == TIX_OK)
        rc = check_response(status, body, len, ttl_s, err);
    if (rc != TIX_OK)
        return rc;
    args_init(a, caller);
    snprintf(a->num[0], sizeof(a->num[0]), "%d", status);
    snprintf(a->num[1], sizeof(a->num[1]), "%lld", (long long)ttl_s * 1000);
    const char *ct = content_type != NULL ? content_type : "";
    const char *loc = location != NULL ? location : "";
    args_add(a, a->num[0], strlen(a->num[0]));
    args_add(a, ct, strlen(ct));
    args_add(a, loc, strlen(loc));
    args_add(a, body != NULL ? body : "", len);
    args_add(a, a->num[1], strlen(a->num[1]));
    return TIX_OK;
}

/* 1 stored / deleted, 0 not ours: TIX_OK, or `none` (TIX_ECONFLICT, TIX_ENOTFOUND). */
static enum tix_rc flag_reply(const redisReply *reply, const char *script, enum tix_rc none,
                              struct tix_err *err)
{
    if (reply->type != REDIS_REPLY_INTEGER)
        return tix_err_set(err, TIX_EINTERNAL, "", "script %s: unexpected reply", script);
    if (reply->integer == 1)
        return TIX_OK;
    if (none == TIX_ECONFLICT)
        return tix_err_set(err, TIX_ECONFLICT, "idempotency_key",
                           "the idempotency placeholder is no longer ours");
    return tix_err_set(err, TIX_ENOTFOUND, "idempotency_key", "no placeholder of ours");
}

enum tix_rc tix_idem_complete(struct tix_redis *r, const char *caller, const char *key,
                              const uint8_t body_hash[TIX_IDEM_HASH_LEN], int status,
                              const char *content_type, const char *location, const char *body,
                              size_t len, int ttl_s, struct tix_err *err)
{
    struct call_args a;
    enum tix_rc rc = complete_args(caller, key, body_hash, status, content_type, location, body,
                                   len, ttl_s, &a, err);
    if (rc != TIX_OK)
        return rc;
    redisReply *reply = NULL;
    rc = tix_redis_eval(r, &complete_script, 1, a.argc, a.argv, a.len, &reply, err);
    if (rc != TIX_OK)
        return rc;
    rc = flag_reply(reply, complete_script.name, TIX_ECONFLICT, err);
    freeReplyObject(reply);
    return rc;
}

enum tix_rc tix_idem_abandon(struct tix_redis *r, const char *caller, const char *key,
                             const uint8_t body_hash[TIX_IDEM_HASH_LEN], struct tix_err *err)
{
    struct call_args a;
    enum tix_rc rc = prepare(caller, key, body_hash, &a.rec, err);
    if (rc != TIX_OK)
        return rc;
    args_init(&a, caller);
    redisReply *reply = NULL;
    rc = tix_redis_eval(r, &abandon_script, 1, a.argc, a.argv, a.len, &reply, err);
    if (rc != TIX_OK)
        return rc;
    rc = flag_reply(reply, abandon_script.name, TIX_ENOTFOUND, err);
    freeReplyObject(reply);
    return rc;
}

/* ---- on an event loop */

struct async_call {
    void *ctx;
    tix_idem_begin_cb begin_cb;
    tix_idem_done_cb done_cb;
    const char *script;
    enum tix_rc none;
};

static void begin_async_cb(void *arg, enum tix_rc rc, const redisReply *reply)
{
    struct async_call *c = arg;
    struct tix_idem_begin_result out = {.outcome = TIX_IDEM_NEW};
    struct tix_err err;
    if (rc == TIX_OK)
        rc = begin_reply(reply, &out, &err);
    c->begin_cb(c->ctx, rc, &out);
    tix_idem_begin_result_deinit(&out);
    free(c);
}

static void flag_async_cb(void *arg, enum tix_rc rc, const redisReply *reply)
{
    struct async_call *c = arg;
    struct tix_err err;
    if (rc == TIX_OK)
        rc = flag_reply(reply, c->script, c->none, &err);
    if (c->done_cb != NULL)
        c->done_cb(c->ctx, rc);
    free(c);
}

enum tix_rc tix_idem_begin_async(struct tix_aredis *ar, const char *caller, const char *key,
                                 const uint8_t body_hash[TIX_IDEM_HASH_LEN], int lock_ttl_s,
                                 tix_idem_begin_cb cb, void *ctx, struct tix_err *err)
{
    struct call_args a;
    enum tix_rc rc = begin_args(caller, key, body_hash, lock_ttl_s, &a, err);
    if (rc != TIX_OK)
        return rc;
    struct async_call *c = tix_xcalloc(1, sizeof(*c));
    *c = (struct async_call){.ctx = ctx, .begin_cb = cb};
    tix_aredis_eval(ar, &begin_script, 1, a.argc, a.argv, a.len, begin_async_cb, c);
    return TIX_OK;
}

enum tix_rc tix_idem_complete_async(struct tix_aredis *ar, const char *caller, const char *key,
                                    const uint8_t body_hash[TIX_IDEM_HASH_LEN], int status,
                                    const char *content_type, const char *location,
                                    const char *body, size_t len, int ttl_s, tix_idem_done_cb cb,
                                    void *ctx, struct tix_err *err)
{
    struct call_args a;
    enum tix_rc rc = complete_args(caller, key, body_hash, status, content_type, location, body,
                                   len, ttl_s, &a, err);
    if (rc != TIX_OK)
        return rc;
    struct async_call *c = tix_xcalloc(1, sizeof(*c));
    *c = (struct async_call){
        .ctx = ctx, .done_cb = cb, .script = complete_script.name, .none = TIX_ECONFLICT};
    tix_aredis_eval(ar, &complete_script, 1, a.argc, a.argv, a.len, flag_async_cb, c);
    return TIX_OK;
}

enum tix_rc tix_idem_abandon_async(struct tix_aredis *ar, const char *caller, const char *key,
                                   const uint8_t body_hash[TIX_IDEM_HASH_LEN], tix_idem_done_cb cb,
                                   void *ctx, struct tix_err *err)
{
    struct call_args a;
    enum tix_rc rc = prepare(caller, key, body_hash, &a.rec, err);
    if (rc != TIX_OK)
        return rc;
    args_init(&a, caller);
    struct async_call *c = tix_xcalloc(1, sizeof(*c));
    *c = (struct async_call){
        .ctx = ctx, .done_cb = cb, .script = abandon_script.name, .none = TIX_ENOTFOUND};
    tix_aredis_eval(ar, &abandon_script, 1, a.argc, a.argv, a.len, flag_async_cb, c);
    return TIX_OK;
}
