/* http.h - a small HTTP client for gateway tests (libcurl), and a gateway to talk to
 *
 * tix_test_gateway_start() spawns tixmo-gateway (plus a processor and a projector) from the
 * build folder on TIXMO_HTTP_PORT and waits until /healthz answers. Requests return the
 * status, the body (parsed as JSON when it is), and selected response headers. A stream
 * (text/event-stream) is cut after its first chunk: its status and first event are returned.
 */
#ifndef TIX_TEST_HTTP_H
#define TIX_TEST_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

struct tix_http_resp {
    long status;
    char *body;   /* NUL-terminated */
    json_t *json; /* NULL when the body isn't JSON */
    char content_type[128];
    char location[256];
    char request_id[80];
    char retry_after[32];
    char ratelimit_remaining[32];
    char allow[64];
    char replayed[16];
};

struct tix_test_stack {
    pid_t gateway;
    pid_t processor;
    pid_t projector;
    pid_t worker; /* a worker the test started itself (0: none), stopped with the rest */
};

/* Starts gateway, processor and projector; fails the test when the gateway doesn't come up. */
void tix_test_stack_start(struct tix_test_stack *s, const char *const *extra_env);
/* Stops the stack's processes (and its worker) together. */
void tix_test_stack_stop(struct tix_test_stack *s);

/* Sends a request. token may be NULL (no Authorization); body may be NULL. extra_headers is
 * NULL or a NULL-terminated list of "Name: value". Returns the status (0 on transport error). */
long tix_http(const char *method, const char *path, const char *token, const char *body,
              const char *const *extra_headers, struct tix_http_resp *out);
void tix_http_resp_deinit(struct tix_http_resp *r);
/* Posts body to the payment webhook signed as Stripe would sign it now, with
 * TIXMO_STRIPE_WEBHOOK_SECRET. out (may be NULL) as for tix_http. Returns the status. */
long tix_http_stripe_webhook(const char *body, struct tix_http_resp *out);
/* Posts, signed as above, Stripe's event evt of type type (payment_intent.succeeded, ...) about
 * PaymentIntent intent of amount minor EUR units, with the order's and the event's ids in its
 * metadata. Returns the status. */
long tix_http_stripe_intent_event(const char *evt, const char *type, const char *intent,
                                  long long amount, const char *order, const char *event);
/* A string member of the JSON body, or NULL. */
const char *tix_http_str(const struct tix_http_resp *r, const char *key);
/* Whether the problem body's errors list names field. */
bool tix_http_has_error_field(const struct tix_http_resp *r, const char *field);

/* Mints an access JWT for user_id with the test's TIXMO_JWT_SECRET (or the default). */
char *tix_test_token(const char *user_id, int ttl_s);

#endif
