/* idempotency.h - the HTTP API's Idempotency-Key, kept in Redis
 *
 * The promise: the same key and body from the same caller within 24 h returns the first answer
 * and creates nothing new; the same key with another body is 422; a concurrent duplicate is 409.
 *
 * One Redis hash per (caller, key), "idem:<caller>:<key>", moved by Lua scripts (atomic):
 *   begin:    absent -> {state=in_progress, caller, body_hash, started_at}, expiring after the
 *             short lock TTL (a crashed gateway frees the key by itself);
 *   complete: in_progress with our caller and body hash -> {state=done, status, content_type,
 *             location, body, completed_at}, expiring after ttl_s (24 h);
 *   abandon:  in_progress with our caller and body hash -> deleted.
 * The stored caller is compared too, so two callers whose "<caller>:<key>" strings happen to
 * coincide (IPv6 addresses contain ':') see MISMATCH, never each other's responses.
 *
 * Ownership of a placeholder is proven by (caller, body hash), not by a per-request token: a
 * second identical request can only take over after the lock TTL, which must exceed the longest
 * time a request can run (HTTP timeout); then either request may complete it, and the other's
 * complete returns TIX_ECONFLICT.
 *
 * Redis down: tix_idem_begin returns TIX_ETRANSIENT (fast, see redis.h) and the gateway answers
 * 503 to requests that carry an Idempotency-Key. The guarantee is never silently dropped: a
 * request is processed only after begin said TIX_IDEM_NEW.
 *
 * Threads: the functions are thread-safe as far as this module goes (no global state); each call
 * uses the caller's struct tix_redis, which belongs to one thread.
 */
#ifndef TIX_IDEMPOTENCY_H
#define TIX_IDEMPOTENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tix/rc.h"
#include "tix/redis.h"

#define TIX_IDEM_HASH_LEN     32      /* BLAKE2b-256 */
#define TIX_IDEM_KEY_MAX      255     /* Idempotency-Key: 1..255 printable ASCII (0x20..0x7e) */
#define TIX_IDEM_CALLER_MAX   128     /* "<kind>:<id>": kind [a-z]+, id visible ASCII */
#define TIX_IDEM_BODY_MAX     1048576 /* the largest response body stored for replay */
#define TIX_IDEM_TTL_MAX      604800  /* seconds */
#define TIX_IDEM_LOCK_TTL_MAX 600     /* seconds; longer lock TTLs are cut to this */

enum tix_idem_outcome {
    TIX_IDEM_NEW,         /* ours now: process the request, then complete or abandon */
    TIX_IDEM_IN_PROGRESS, /* the same request is being processed elsewhere: 409 */
    TIX_IDEM_MISMATCH,    /* the key was used with another body (or caller): 422 */
    TIX_IDEM_REPLAY,      /* answered before: send the stored response */
};

/* For TIX_IDEM_REPLAY, the stored response; the strings are owned by the result (free with
 * tix_idem_begin_result_deinit). For the other outcomes everything is NULL/0. */
struct tix_idem_begin_result {
    enum tix_idem_outcome outcome;
    int status;
    char *content_type; /* NULL when the response had none */
    char *location;     /* NULL when the response had none */
    char *body;         /* body_len bytes plus a NUL (not counted); never NULL on REPLAY */
    size_t body_len;
};

/* Whether key is a valid Idempotency-Key value: 1..255 printable ASCII (0x20..0x7e). Pure. */
bool tix_idem_key_is_valid(const char *key);

/* Frees the strings of a result filled by tix_idem_begin; the result may be reused. */
void tix_idem_begin_result_deinit(struct tix_idem_begin_result *res);

/* The body hash: BLAKE2b-256 over method, a NUL, path (the request target as received,
 * query included), a NUL, and the len body bytes. Pure, thread-safe (after sodium_init()). */
void tix_idem_hash(const char *method, const char *path, const void *body, size_t len,
                   uint8_t out[TIX_IDEM_HASH_LEN]);

/* Claims (caller, key) for a request with body_hash, or reports why not (out->outcome).
 * caller is "user:<id>", "apikey:<id>" or "ip:<addr>" (checked: "<kind>:<id>", kind [a-z]+, id
 * visible ASCII, at most TIX_IDEM_CALLER_MAX in all); key is the Idempotency-Key header value.
 * lock_ttl_s (>= 1, e.g. 60; values above TIX_IDEM_LOCK_TTL_MAX are cut to it) bounds how long a
 * placeholder survives a gateway that dies before complete/abandon: until then the key answers
 * IN_PROGRESS. It is not the replay TTL (that is complete's ttl_s). TIX_EINVAL (field
 * "idempotency_key", "caller" or "lock_ttl_s") for bad arguments, TIX_ETRANSIENT when Redis is
 * down, TIX_EINTERNAL when it misbehaves. On any error *out holds nothing to free. */
enum tix_rc tix_idem_begin(struct tix_redis *r, const char *caller, const char *key,
                           const uint8_t body_hash[TIX_IDEM_HASH_LEN], int lock_ttl_s,
                           struct tix_idem_begin_result *out, struct tix_err *err);

/* Stores the final response for replay during ttl_s (e.g. 86400), if (caller, key) is still our
 * placeholder. content_type and location may be NULL; body (len <= TIX_IDEM_BODY_MAX bytes,
 * binary-safe) may be NULL when len is 0. TIX_ECONFLICT when the placeholder is no longer ours
 * (it expired, was abandoned, or was completed by a takeover), TIX_EINVAL, TIX_ETRANSIENT,
 * TIX_EINTERNAL as above. */
enum tix_rc tix_idem_complete(struct tix_redis *r, const char *caller, const char *key,
                              const uint8_t body_hash[TIX_IDEM_HASH_LEN], int status,
                              const char *content_type, const char *location, const char *body,
                              size_t len, int ttl_s, struct tix_err *err);

/* Deletes our placeholder so the client may retry (e.g. after a 5xx). TIX_ENOTFOUND when there
 * was no placeholder of ours (expired or completed); other errors as above. */
enum tix_rc tix_idem_abandon(struct tix_redis *r, const char *caller, const char *key,
                             const uint8_t body_hash[TIX_IDEM_HASH_LEN], struct tix_err *err);

/* ---- the same on an event loop (tix/aredis.h): arguments, rules and outcomes as above. A
 * TIX_EINVAL is returned at once and the callback is not called; otherwise the callback runs
 * exactly once on the loop's thread, possibly before the call returns (Redis known down). */

struct tix_aredis;

/* rc and, on TIX_OK, the outcome (res is borrowed: its strings are freed after the callback). */
typedef void (*tix_idem_begin_cb)(void *ctx, enum tix_rc rc, struct tix_idem_begin_result *res);
/* What tix_idem_complete / tix_idem_abandon would have returned. */
typedef void (*tix_idem_done_cb)(void *ctx, enum tix_rc rc);

enum tix_rc tix_idem_begin_async(struct tix_aredis *ar, const char *caller, const char *key,
                                 const uint8_t body_hash[TIX_IDEM_HASH_LEN], int lock_ttl_s,
                                 tix_idem_begin_cb cb, void *ctx, struct tix_err *err);
/* cb may be NULL (nobody waits). The arguments are copied before this returns. */
enum tix_rc tix_idem_complete_async(struct tix_aredis *ar, const char *caller, const char *key,
                                    const uint8_t body_hash[TIX_IDEM_HASH_LEN], int status,
                                    const char *content_type, const char *location,
                                    const char *body, size_t len, int ttl_s, tix_idem_done_cb cb,
                                    void *ctx, struct tix_err *err);
/* cb may be NULL (nobody waits). */
enum tix_rc tix_idem_abandon_async(struct tix_aredis *ar, const char *caller, const char *key,
                                   const uint8_t body_hash[TIX_IDEM_HASH_LEN], tix_idem_done_cb cb,
                                   void *ctx, struct tix_err *err);

#endif
