/* pipeline.h - what happens to every request before its handler (gateway/pipeline.c) */
#ifndef TIX_GATEWAY_PIPELINE_H
#define TIX_GATEWAY_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "gateway.h"

/* Runs the request through routing, limits, authentication, authorization and idempotency,
 * then its handler. Always ends with the request answered, handed to the handler, or paused on
 * a step that waits for Redis or Postgres (which continues it later). */
void tix_gw_dispatch(struct tix_req *req);

/* What a step of the pipeline did with the request. */
enum tix_gw_step {
    TIX_STEP_NEXT,     /* go on with the next step */
    TIX_STEP_ANSWERED, /* the request was answered (and freed) */
    TIX_STEP_WAITING,  /* paused: a callback will answer it or call tix_gw_continue */
};

/* Runs the steps after the current one (the callback of a paused step calls this). */
void tix_gw_continue(struct tix_req *req);

/* Reads Authorization (JWT or API key) into req->who; answers 401 when it must. */
enum tix_gw_step tix_gw_authenticate(struct tix_req *req);
/* Checks the route's auth rule for req->who; answers 401/403/404 (503) when it must. */
enum tix_gw_step tix_gw_authorize(struct tix_req *req);

/* Finds the route for method and path, filling req's path parameters. When none matches,
 * *is_path_known tells whether another method would have matched, and allow lists those
 * methods ("GET, POST"). */
const struct tix_route *tix_gw_route_match(const char *method, const char *path,
                                           struct tix_req *req, bool *is_path_known, char *allow,
                                           size_t allow_size);

/* Stores or abandons the request's idempotent response (called by tix_gw_reply); done(ctx, rc)
 * runs once Redis answered. Returns false, calling nothing, when nothing was sent (shutting
 * down, or the send failed: then a retry sees the placeholder until its lock expires). */
bool tix_gw_idem_finish(struct tix_req *req, int status, const char *content_type,
                        const char *location, const char *body, size_t len,
                        void (*done)(void *ctx, enum tix_rc rc), void *ctx);

/* The thread's cache (gateway/cache.c): rows live ttl_ms at most (0: nothing is cached). */
struct tix_gw_cache *tix_gw_cache_create(int ttl_ms);
void tix_gw_cache_destroy(struct tix_gw_cache *c);
/* Drops what a "tix_rm" notification names ("<table>:<key>"; anything else drops everything). */
void tix_gw_cache_invalidate(struct tix_gw_cache *c, const char *payload);
void tix_gw_cache_clear(struct tix_gw_cache *c);
/* A verified access token seen before on this thread and not expired at now_s: fills who (as
 * gateway/auth.c does) and returns true. Signatures are deterministic, so a token verified once
 * stays authentic; only its expiry is checked again. A token is known by its 128-bit SipHash
 * under a random per-thread key (no one can make another token match without the key), compared
 * in constant time. */
bool tix_gw_cache_token_get(struct tix_gw_cache *c, const char *token, int64_t now_s,
                            struct tix_principal *who);
/* Remembers a token that tix_jwt_verify accepted, with its exp claim. */
void tix_gw_cache_token_put(struct tix_gw_cache *c, const char *token, int64_t exp_s,
                            const struct tix_principal *who);

#endif
