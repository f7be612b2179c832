/* provider.h - what the payment worker needs from a payment service, as function pointers
 *
 * The worker talks to Stripe through this interface only, so a stand-in that speaks Stripe's
 * protocol (WireMock in tests) or another provider can take its place. Every call carries an
 * idempotency key: calling again with the same key and the same request must return the same
 * object and create nothing new (Stripe guarantees it for 24 h).
 *
 * Errors: TIX_ETRANSIENT when the service could not be reached or failed (5xx, 429, network)
 * even after the implementation's own retries: call again later with the SAME key.
 * TIX_EINVAL when the service refused the request for good (4xx: a declined card, a bad
 * parameter, a bad key); the provider's error code goes to the result's error_code (and
 * decline_code) and "<type> <code>: <message>" to err->msg.
 *
 * A provider is used by one thread at a time.
 */
#ifndef TIX_WORKERS_PAYMENT_PROVIDER_H
#define TIX_WORKERS_PAYMENT_PROVIDER_H

#include <stdint.h>

#include "tix/rc.h"

struct tix_intent_request {
    const char *idempotency_key; /* "tixmo-order-<order_id>" */
    int64_t amount_minor;
    const char *currency; /* ISO 4217, any case (sent lowercase) */
    const char *order_id; /* metadata */
    const char *event_id; /* metadata */
};

struct tix_intent {
    char id[128];            /* "pi_..." */
    char client_secret[256]; /* "pi_..._secret_..." */
    char status[40];         /* "requires_payment_method", ... */
    int64_t amount_minor;
    char currency[8];
    int http_status;       /* of the last attempt; 0 when none got an answer */
    int attempts;          /* HTTP attempts made */
    char error_code[64];   /* on TIX_EINVAL: Stripe's error code ("card_declined"), or "" */
    char decline_code[64]; /* on a card error: "generic_decline", ... */
};

struct tix_refund_request {
    const char *idempotency_key; /* "tixmo-refund-<order_id>" */
    const char *payment_intent_id;
    int64_t amount_minor;
    const char *order_id; /* metadata */
    const char *event_id; /* metadata */
};

struct tix_refund {
    char id[128];    /* "re_..." */
    char status[40]; /* "succeeded", "pending", ... */
    int64_t amount_minor;
    int http_status;
    int attempts;
    char error_code[64];
};

struct tix_payment_provider {
    const char *name;
    void *ctx;
    enum tix_rc (*create_intent)(void *ctx, const struct tix_intent_request *req,
                                 struct tix_intent *out, struct tix_err *err);
    enum tix_rc (*create_refund)(void *ctx, const struct tix_refund_request *req,
                                 struct tix_refund *out, struct tix_err *err);
    void (*destroy)(void *ctx);
};

/* Settings of the Stripe implementation; strings borrowed for the call. */
struct tix_stripe_options {
    const char *base_url;   /* "https://api.stripe.com" or the stand-in's */
    const char *secret_key; /* "sk_..." */
    int timeout_ms;         /* per attempt */
    int attempts;           /* 1.. tries on 5xx, 429 and network errors */
    int backoff_ms;         /* first wait between tries (doubles, with jitter); 0 = 200 */
};

/* Fills p with the Stripe implementation (libcurl; one connection kept alive). Call
 * curl_global_init once per process before. Release with p->destroy(p->ctx). */
void tix_stripe_provider_init(struct tix_payment_provider *p, const struct tix_stripe_options *o);

#endif
