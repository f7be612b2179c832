/* stripe_mock.h - integration test support: the WireMock Stripe stand-in's admin API
 *
 * The stand-in runs at $TIXMO_STRIPE_URL (started by scripts/lib.sh, stubs in tests/stripe).
 * Its request journal (/__admin/requests) shows what our clients really sent: headers, form
 * bodies, and the answers they got.
 */
#ifndef TIX_TEST_STRIPE_MOCK_H
#define TIX_TEST_STRIPE_MOCK_H

#include <jansson.h>

/* Sends method path (body may be NULL) to the stand-in; returns the HTTP status and, when out
 * is not NULL, the JSON answer (new reference, NULL if not JSON). Fails the test when the
 * stand-in does not answer. */
long tix_stripe_mock_call(const char *method, const char *path, const char *body, json_t **out);
/* Journal entries (new reference, an array, oldest first) of requests to url whose
 * Idempotency-Key is key, each {"request": {...}, "response": {"status": ...}}. */
json_t *tix_stripe_mock_requests(const char *url, const char *key);
/* A request header of a journal entry, or NULL. */
const char *tix_stripe_mock_header(const json_t *entry, const char *name);
/* Resets WireMock's scenarios (the 500-once stub starts over). */
void tix_stripe_mock_reset_scenarios(void);

#endif
