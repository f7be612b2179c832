/* stripe_sig.c - Stripe-Signature verification: HMAC-SHA256 over "t.payload" (see stripe_sig.h)
 *
 * The header is split on ',' into key=value items; "t" must appear once, as decimal seconds;
 * every "v1" value that is 64 hex characters is a candidate. The expected MAC is computed once
 * and compared with each candidate by sodium_memcmp (constant time), every candidate being
 * checked even after a match so the time taken does not depend on which one matched.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tix/stripe_sig.h"

#define MAC_LEN crypto_auth_hmacsha256_BYTES

static void expected_mac(const void *payload, size_t len, const char *secret, int64_t t,
                         unsigned char mac[MAC_LEN])
{
    char stamp[24];
    int n = snprintf(stamp, sizeof(stamp), "%" PRId64 ".", t);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)stamp, (size_t)n);
    crypto_auth_hmacsha256_update(&st, payload, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));
}

void tix_stripe_sig_sign(const void *payload, size_t len, const char *secret, int64_t t, char *out,
                         size_t size)
{
    unsigned char mac[MAC_LEN];
    char hex[2 * MAC_LEN + 1];
    expected_mac(payload, len, secret, t, mac);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(out, size, "t=%" PRId64 ",v1=%s", t, hex);
}

/* Parses decimal seconds (1 to 18 digits, nothing else). */
static bool parse_time(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

struct parsed {
    int64_t t;
    int n_time;
    int n_v1;
    unsigned char v1[16][MAC_LEN]; /* the first 16 well-formed v1 values */
};

static void take_item(struct parsed *p, const char *item, size_t n)
{
    const char *eq = memchr(item, '=', n);
    if (eq == NULL)
        return;
    size_t klen = (size_t)(eq - item), vlen = n - klen - 1;
    const char *v = eq + 1;
    if (klen == 1 && item[0] == 't') {
        p->n_time += parse_time(v, vlen, &p->t) ? 1 : 2; /* a bad one makes it malformed */
    } else if (klen == 2 && memcmp(item, "v1", 2) == 0 && vlen == 2 * MAC_LEN &&
               p->n_v1 < (int)(sizeof(p->v1) / sizeof(p->v1[0]))) {
        size_t got = 0;
        if (sodium_hex2bin(p->v1[p->n_v1], MAC_LEN, v, vlen, NULL, &got, NULL) == 0 &&
            got == MAC_LEN)
            p->n_v1++;
    }
}

static void parse_header(const char *h, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    while (*h != '\0') {
        const char *end = strchr(h, ',');
        size_t n = end != NULL ? (size_t)(end - h) : strlen(h);
        while (n > 0 && *h == ' ') {
            h++;
            n--;
        }
        take_item(p, h, n);
        h += n;
        if (*h == ',')
            h++;
    }
}

static enum tix_rc refuse(struct tix_err *err, const char *why)
{
    return tix_err_set(err, TIX_EINVAL, TIX_STRIPE_SIG_HEADER, "%s", why);
}

enum tix_rc tix_stripe_sig_verify(const char *header, const void *payload, size_t len,
                                  const char *secret, int64_t now_s, int tolerance_s,
                                  struct tix_err *err)
{
    if (header == NULL || header[0] == '\0')
        return refuse(err, "missing Stripe-Signature header");
    if (strlen(header) > TIX_STRIPE_SIG_HEADER_MAX)
        return refuse(err, "Stripe-Signature header too long");
    if (secret == NULL || secret[0] == '\0')
        return tix_err_set(err, TIX_EINTERNAL, NULL, "no webhook secret configured");
    struct parsed p;
    parse_header(header, &p);
    if (p.n_time != 1)
        return refuse(err, "malformed Stripe-Signature: one timestamp t=<seconds> is required");
    if (p.n_v1 == 0)
        return refuse(err, "no v1 signature in Stripe-Signature");
    int64_t tol = tolerance_s > 0 ? tolerance_s : TIX_STRIPE_SIG_TOLERANCE_S;
    if (p.t < now_s - tol || p.t > now_s + tol)
        return refuse(err, "timestamp outside the tolerance window");
    unsigned char mac[MAC_LEN];
    expected_mac(payload, len, secret, p.t, mac);
    bool is_match = false;
    for (int i = 0; i < p.n_v1; i++)
        is_match |= sodium_memcmp(mac, p.v1[i], MAC_LEN) == 0;
    sodium_memzero(mac, sizeof(mac));
    return is_match ? TIX_OK : refuse(err, "no signature matches the payload");
}
