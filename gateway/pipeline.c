/* pipeline.c - the steps every request goes through before its handler
 *
 * Order matters: the route decides the rate-limit class and the access rule; authentication
 * (a JWT check costs microseconds and no I/O) comes before the limits so that a signed-in user
 * is limited as a user and everybody else by address (guessing passwords or keys is throttled
 * by address); the per-user limit runs after authorization; the idempotency key is honored only
 * once the caller is known (keys are per caller), right before the handler.
 *
 * No step blocks the thread: a step that needs Redis (limits, the idempotency claim) or Postgres
 * (an API key, a role) starts the call and returns TIX_STEP_WAITING; the call's callback answers
 * the request or continues it with the next step (tix_gw_continue), on the same thread. The
 * callback may run before the step returns (a cached row, Redis known down): a step touches
 * nothing of the request after starting its call.
 */
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "tix/aredis.h"
#include "tix/ids.h"
#include "tix/idempotency.h"
#include "tix/log.h"
#include "tix/mem.h"
#include "tix/ratelimit.h"

#include "pipeline.h"

#define IDEM_TTL_S  86400
#define IDEM_LOCK_S 60

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
    case EVHTTP_REQ_HEAD:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    default:
        return "OTHER";
    }
}

static bool is_safe_id(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static void identify(struct tix_req *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req->ev);
    const char *given = evhttp_find_header(in, "X-Request-Id");
    if (is_safe_id(given))
        snprintf(req->id, sizeof(req->id), "%s", given);
    else
        tix_uuid_v7(req->id);
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(req->ev), &addr, &port);
    snprintf(req->ip, sizeof(req->ip), "%s", addr != NULL ? addr : "-");
}

/* Sets the RateLimit-* headers of a decision; answers 429 when it denies. */
static enum tix_gw_step apply_limit(struct tix_req *req, const struct tix_ratelimit_result *r)
{
    char v[32];
    snprintf(v, sizeof(v), "%d", r->limit);
    tix_gw_header(req, "RateLimit-Limit", v);
    snprintf(v, sizeof(v), "%d", r->remaining);
    tix_gw_header(req, "RateLimit-Remaining", v);
    snprintf(v, sizeof(v), "%d", r->reset_s);
    tix_gw_header(req, "RateLimit-Reset", v);
    if (r->is_allowed)
        return TIX_STEP_NEXT;
    snprintf(v, sizeof(v), "%d", r->retry_after_s > 0 ? r->retry_after_s : 1);
    tix_gw_header(req, "Retry-After", v);
    tix_gw_problem(req, 429, "rate-limited", "too many requests; retry after the delay given");
    return TIX_STEP_ANSWERED;
}

static void limit_cb(void *ctx, const struct tix_ratelimit_result *r)
{
    struct tix_req *req = ctx;
    req->th->waiting--;
    if (apply_limit(req, r) == TIX_STEP_NEXT)
        tix_gw_continue(req);
}

/* Applies one limit: in Redis through the thread's batched limiter (the request waits, the loop
 * doesn't), locally once the thread's Redis handle is gone (shutdown). */
static enum tix_gw_step limit(struct tix_req *req, const char *class, const char *subject,
                              int per_minute)
{
    struct tix_gw_thread *th = req->th;
    if (th->aredis == NULL || th->limits == NULL) {
        struct tix_ratelimit_result r;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        tix_ratelimit_local_check(th->gw->local_limits, class, subject, per_minute, 60,
                                  (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, &r, NULL);
        return apply_limit(req, &r);
    }
    th->waiting++;
    /* only bad arguments fail, and ours are fixed: the callback runs either way */
    tix_ratelimit_check_async(th->limits, class, subject, per_minute, 60, limit_cb, req, NULL);
    return TIX_STEP_WAITING;
}

/* Anonymous callers, API keys and every auth route are limited by address; a caller with a
 * valid access token is limited as a user instead (one Redis call, not two, on the hot path). */
static enum tix_gw_step limit_by_ip(struct tix_req *req)
{
    const struct tix_config *cfg = req->th->gw->cfg;
    if (req->who.kind == TIX_PRINCIPAL_USER && req->route->rl != TIX_RL_AUTH)
        return TIX_STEP_NEXT;
    char subject[80];
    snprintf(subject, sizeof(subject), "ip:%s", req->ip);
    switch (req->route->rl) {
    case TIX_RL_AUTH:
        return limit(req, "auth", subject, cfg->rl_auth_per_ip);
    case TIX_RL_GENERAL:
    case TIX_RL_HOLDS:
        return limit(req, "general", subject, cfg->rl_general_per_ip);
    case TIX_RL_NONE:
        break;
    }
    return TIX_STEP_NEXT;
}

static enum tix_gw_step limit_by_user(struct tix_req *req)
{
    const struct tix_config *cfg = req->th->gw->cfg;
    if (req->who.kind == TIX_PRINCIPAL_NONE || req->route->rl == TIX_RL_NONE ||
        req->route->rl == TIX_RL_AUTH)
        return TIX_STEP_NEXT;
    if (req->route->rl == TIX_RL_HOLDS)
        return limit(req, "holds", req->who.actor, cfg->rl_holds_per_user);
    return limit(req, "general", req->who.actor, cfg->rl_general_per_user);
}

static void replay(struct tix_req *req, const struct tix_idem_begin_result *r)
{
    tix_gw_header(req, "Idempotent-Replayed", "true");
    if (r->location != NULL)
        tix_gw_header(req, "Location", r->location);
    tix_gw_reply(req, r->status, r->content_type ? r->content_type : "application/json", r->body,
                 r->body_len);
}

static void idem_unavailable(struct tix_req *req)
{
    tix_gw_problem(req, 503, "idempotency-unavailable",
                   "idempotency keys can't be honored right now; retry later");
}

static void idem_begin_cb(void *ctx, enum tix_rc rc, struct tix_idem_begin_result *r)
{
    struct tix_req *req = ctx;
    req->th->waiting--;
    if (rc != TIX_OK) {
        idem_unavailable(req);
    } else if (r->outcome == TIX_IDEM_NEW) {
        req->has_idem = true;
        tix_gw_continue(req);
    } else if (r->outcome == TIX_IDEM_REPLAY) {
        replay(req, r);
    } else if (r->outcome == TIX_IDEM_IN_PROGRESS) {
        tix_gw_problem(req, 409, "idempotency-in-progress",
                       "a request with this Idempotency-Key is still being processed");
    } else {
        tix_gw_problem(req, 422, "idempotency-mismatch",
                       "this Idempotency-Key was used with a different request");
    }
}

/* Honors Idempotency-Key on writes: the request waits for Redis' claim (replay, 400, 409, 422,
 * 503 are answered here). */
static enum tix_gw_step idempotency(struct tix_req *req)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req->ev);
    if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)
        return TIX_STEP_NEXT;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req->ev);
    const char *key = evhttp_find_header(in, "Idempotency-Key");
    if (key == NULL)
        return TIX_STEP_NEXT;
    if (req->who.kind != TIX_PRINCIPAL_NONE)
        snprintf(req->idem_caller, sizeof(req->idem_caller), "%s", req->who.actor);
    else
        snprintf(req->idem_caller, sizeof(req->idem_caller), "ip:%s", req->ip);
    snprintf(req->idem_key, sizeof(req->idem_key), "%s", key);
    tix_idem_hash(method_name(cmd), evhttp_request_get_uri(req->ev), req->body.ptr, req->body.len,
                  req->idem_hash);
    if (req->th->aredis == NULL) {
        idem_unavailable(req);
        return TIX_STEP_ANSWERED;
    }
    req->th->waiting++;
    enum tix_rc rc = tix_idem_begin_async(req->th->aredis, req->idem_caller, key, req->idem_hash,
                                          IDEM_LOCK_S, idem_begin_cb, req, NULL);
    if (rc == TIX_EINVAL) {
        req->th->waiting--;
        json_t *errors = json_pack("[{ss ss}]", "field", "Idempotency-Key", "message",
                                   "must be 1 to 255 printable ASCII characters");
        tix_gw_problem_fields(req, 400, "invalid Idempotency-Key header", errors);
        return TIX_STEP_ANSWERED;
    }
    return TIX_STEP_WAITING;
}

bool tix_gw_idem_finish(struct tix_req *req, int status, const char *content_type,
                        const char *location, const char *body, size_t len,
                        void (*done)(void *ctx, enum tix_rc rc), void *ctx)
{
    static const char secret_body[] =
        "{\"type\":\"https://tixmo.org/problems/secret-not-replayed\",\"title\":\"Conflict\","
        "\"status\":409,\"detail\":\"the first answer to this Idempotency-Key held a secret "
        "that is shown only once\"}";
    struct tix_aredis *ar = req->th->aredis;
    if (ar == NULL)
        return false; /* shutting down: the placeholder expires after its lock TTL */
    struct tix_err err;
    enum tix_rc rc;
    if (status >= 500)
        rc = tix_idem_abandon_async(ar, req->idem_caller, req->idem_key, req->idem_hash, done, ctx,
                                    &err);
    else if (req->is_secret && status < 300) /* never keep a secret outside this answer */
        rc = tix_idem_complete_async(ar, req->idem_caller, req->idem_key, req->idem_hash, 409,
                                     "application/problem+json", NULL, secret_body,
                                     sizeof(secret_body) - 1, IDEM_TTL_S, done, ctx, &err);
    else
        rc =
            tix_idem_complete_async(ar, req->idem_caller, req->idem_key, req->idem_hash, status,
                                    content_type, location, body, len, IDEM_TTL_S, done, ctx, &err);
    if (rc != TIX_OK)
        tix_log_warn("idempotent response not stored", "request_id=%s detail=\"%s\"", req->id,
                     err.msg);
    return rc == TIX_OK;
}

static bool read_body(struct tix_req *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req->ev);
    size_t len = evbuffer_get_length(in);
    if (len > (size_t)req->th->gw->cfg->http_max_body) {
        tix_gw_problem(req, 413, "body-too-large", "the request body is larger than allowed");
        return false;
    }
    if (len > 0) {
        char *tmp = (char *)evbuffer_pullup(in, (ev_ssize_t)len);
        tix_buf_append(&req->body, tmp, len);
    }
    return true;
}

static enum tix_gw_step run_handler(struct tix_req *req)
{
    req->route->handler(req);
    return TIX_STEP_ANSWERED; /* or handed on: either way not ours any more */
}

/* The steps after routing, in order; a step that waits is continued by its callback. */
static enum tix_gw_step (*const steps[])(struct tix_req *req) = {
    tix_gw_authenticate, limit_by_ip, tix_gw_authorize, limit_by_user, idempotency, run_handler,
};

static void advance(struct tix_req *req)
{
    while (req->step < (int)(sizeof(steps) / sizeof(steps[0]))) {
        if (steps[req->step](req) != TIX_STEP_NEXT)
            return; /* answered, handed on or paused: req may be gone */
        req->step++;
    }
}

void tix_gw_continue(struct tix_req *req)
{
    req->step++;
    advance(req);
}

void tix_gw_dispatch(struct tix_req *req)
{
    identify(req);
    const char *method = method_name(evhttp_request_get_command(req->ev));
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req->ev);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || path[0] != '/') {
        tix_gw_problem(req, 400, "bad-request", "malformed request target");
        return;
    }
    char allow[64];
    bool is_known = false;
    req->route = tix_gw_route_match(method, path, req, &is_known, allow, sizeof(allow));
    if (req->route == NULL) {
        if (is_known)
            tix_gw_header(req, "Allow", allow);
        tix_gw_problem(req, is_known ? 405 : 404, is_known ? "method-not-allowed" : "not-found",
                       is_known ? "this method is not allowed on this resource"
                                : "no such resource");
        return;
    }
    if (!read_body(req))
        return;
    req->step = 0;
    advance(req);
}
