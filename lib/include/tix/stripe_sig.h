/* stripe_sig.h - Stripe webhook signatures (the Stripe-Signature header)
 *
 * Stripe signs each webhook delivery with the endpoint's secret (whsec_..., used as is, all of
 * its bytes, as the HMAC key): header "t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=...][,v0=...]"
 * where each v1 is HMAC-SHA256(secret, "<t>.<raw body>"). Several v1 entries appear while a
 * secret is being rolled; any one matching is enough. v0 (test-mode legacy) and unknown schemes
 * are ignored. A delivery older (or newer) than the tolerance is refused, so a captured request
 * can't be replayed later.
 *
 * Pure: no clock (the caller passes now), no allocation, no I/O. Thread-safe.
 */
#ifndef TIX_STRIPE_SIG_H
#define TIX_STRIPE_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "tix/rc.h"

#define TIX_STRIPE_SIG_TOLERANCE_S 300
#define TIX_STRIPE_SIG_HEADER      "Stripe-Signature"
/* Longest header accepted (a few signatures and the timestamp fit easily). */
#define TIX_STRIPE_SIG_HEADER_MAX 4096
/* Size of a buffer for tix_stripe_sig_sign: "t=<20 digits>,v1=<64 hex>" and a NUL. */
#define TIX_STRIPE_SIG_SIGNED_MAX 96

/* Verifies header (may be NULL: missing) for the raw payload of len bytes with secret, at time
 * now_s (Unix seconds), accepting timestamps within tolerance_s (<= 0: the default 300) of
 * now_s. TIX_OK when one v1 signature matches (compared in constant time); otherwise TIX_EINVAL
 * with field "Stripe-Signature" and a reason in err->msg: missing, too long, malformed (no or a
 * bad timestamp), no v1 signature, outside the tolerance, or no signature matches. */
enum tix_rc tix_stripe_sig_verify(const char *header, const void *payload, size_t len,
                                  const char *secret, int64_t now_s, int tolerance_s,
                                  struct tix_err *err);

/* Writes "t=<t>,v1=<hex>" for payload into out (at least TIX_STRIPE_SIG_SIGNED_MAX bytes): what
 * Stripe would send. For tests and tools that play Stripe. */
void tix_stripe_sig_sign(const void *payload, size_t len, const char *secret, int64_t t, char *out,
                         size_t size);

#endif
