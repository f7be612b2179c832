/* payments_crypto_test.c - Stripe webhook signatures, ticket keys and payloads, QR rendering
 *
 * Known answers were computed independently with Python (hmac/hashlib for the Stripe HMAC and
 * the BLAKE2b seed; the cryptography package's Ed25519 for the public key and whole payloads),
 * so the code is never only checked against itself. The QR tests compare our matrix, SVG path
 * and PNG pixels (decoded again with libpng) with libqrencode's own output.
 */
#include <criterion/criterion.h>
#include <png.h>
#include <qrencode.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/qr.h"
#include "tix/stripe_sig.h"
#include "tix/ticket_sign.h"

static void setup(void)
{
    cr_assert(sodium_init() >= 0);
}

TestSuite(stripe_sig, .init = setup);
TestSuite(ticket_sign, .init = setup);
TestSuite(qr, .init = setup);

/* ---- Stripe-Signature --------------------------------------------------------------------- */

static const char secret[] = "whsec_test_secret_0123456789";
static const char body[] = "{\"id\":\"evt_1\",\"type\":\"payment_intent.succeeded\"}";
/* Python: hmac.new(secret, b"1700000000." + body, sha256).hexdigest() */
static const char known_v1[] = "59a90dff743f748f8d6083812e877d28ff9bfa61e3dc6089626fd31f3ebb8a95";
#define T0 1700000000

static enum tix_rc verify_at(const char *header, int64_t now, struct tix_err *err)
{
    return tix_stripe_sig_verify(header, body, strlen(body), secret, now, 0, err);
}

Test(stripe_sig, known_answer_and_sign)
{
    char h[TIX_STRIPE_SIG_SIGNED_MAX], want[160];
    tix_stripe_sig_sign(body, strlen(body), secret, T0, h, sizeof(h));
    snprintf(want, sizeof(want), "t=%d,v1=%s", T0, known_v1);
    cr_assert_str_eq(h, want);
    struct tix_err err;
    cr_assert_eq(verify_at(h, T0, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(verify_at(h, T0 + 300, &err), TIX_OK, "the edge of the window is inside");
    cr_assert_eq(verify_at(h, T0 - 300, &err), TIX_OK, "a clock a little behind is fine");
}

Test(stripe_sig, several_v1_one_matching_and_v0_ignored)
{
    char h[512];
    snprintf(h, sizeof(h), "t=%d,v1=%064d,v0=%s,v1=%s,x=1", T0, 0, known_v1, known_v1);
    struct tix_err err;
    cr_assert_eq(verify_at(h, T0 + 5, &err), TIX_OK, "%s", err.msg);
    /* the matching value only as v0: v0 is not a scheme we accept */
    snprintf(h, sizeof(h), "t=%d,v0=%s,v1=%064d", T0, known_v1, 0);
    cr_assert_eq(verify_at(h, T0, &err), TIX_EINVAL);
    cr_assert_str_eq(err.msg, "no signature matches the payload");
    cr_assert_str_eq(err.field, "Stripe-Signature");
}

Test(stripe_sig, refusals_say_why)
{
    struct tix_err err;
    char h[256];
    cr_assert_eq(verify_at(NULL, T0, &err), TIX_EINVAL);
    cr_assert_str_eq(err.msg, "missing Stripe-Signature header");
    cr_assert_eq(verify_at("", T0, &err), TIX_EINVAL);
    snprintf(h, sizeof(h), "v1=%s", known_v1);
    cr_assert_eq(verify_at(h, T0, &err), TIX_EINVAL);
    cr_assert(strstr(err.msg, "timestamp") != NULL, "%s", err.msg);
    snprintf(h, sizeof(h), "t=17x,v1=%s", known_v1);
    cr_assert_eq(verify_at(h, T0, &err), TIX_EINVAL);
    cr_assert(strstr(err.msg, "malformed") != NULL, "%s", err.msg);
    snprintf(h, sizeof(h), "t=%d,t=%d,v1=%s", T0, T0, known_v1);
    cr_assert_eq(verify_at(h, T0, &err), TIX_EINVAL, "two timestamps are ambiguous");
    snprintf(h, sizeof(h), "t=%d,v0=%s", T0, known_v1);
    cr_assert_eq(verify_at(h, T0, &err), TIX_EINVAL);
    cr_assert_str_eq(err.msg, "no v1 signature in Stripe-Signature");
    snprintf(h, sizeof(h), "t=%d,v1=%s", T0, known_v1);
    cr_assert_eq(verify_at(h, T0 + 301, &err), TIX_EINVAL, "expired");
    cr_assert_str_eq(err.msg, "timestamp outside the tolerance window");
    cr_assert_eq(verify_at(h, T0 - 301, &err), TIX_EINVAL, "from the future");
    cr_assert_eq(tix_stripe_sig_verify(h, body, strlen(body), secret, T0 + 1000, 3600, &err),
                 TIX_OK, "a wider tolerance");
    char *long_h = malloc(TIX_STRIPE_SIG_HEADER_MAX + 2);
    memset(long_h, 'a', TIX_STRIPE_SIG_HEADER_MAX + 1);
    long_h[TIX_STRIPE_SIG_HEADER_MAX + 1] = '\0';
    cr_assert_eq(verify_at(long_h, T0, &err), TIX_EINVAL);
    cr_assert_str_eq(err.msg, "Stripe-Signature header too long");
    free(long_h);
}

Test(stripe_sig, tampering_is_refused)
{
    char h[TIX_STRIPE_SIG_SIGNED_MAX];
    tix_stripe_sig_sign(body, strlen(body), secret, T0, h, sizeof(h));
    struct tix_err err;
    const char other[] = "{\"id\":\"evt_1\",\"type\":\"payment_intent.succeedeD\"}";
    cr_assert_eq(tix_stripe_sig_verify(h, other, strlen(other), secret, T0, 0, &err), TIX_EINVAL);
    cr_assert_eq(tix_stripe_sig_verify(h, body, strlen(body), "whsec_other", T0, 0, &err),
                 TIX_EINVAL, "another endpoint's secret");
    /* the same signature under another timestamp (t is signed) */
    char moved[160];
    snprintf(moved, sizeof(moved), "t=%d,%s", T0 + 1, strchr(h, ',') + 1);
    cr_assert_eq(verify_at(moved, T0, &err), TIX_EINVAL);
    /* one flipped hex digit */
    h[strlen(h) - 1] = h[strlen(h) - 1] == '0' ? '1' : '0';
    cr_assert_eq(verify_at(h, T0, &err), TIX_EINVAL);
    cr_assert_str_eq(err.msg, "no signature matches the payload");
}

/* ---- ticket keys and payloads ------------------------------------------------------------- */

static const char event_id[] = "0190c0de-0000-7000-8000-000000000001";
/* Python: blake2b(b"ticket-sign:" + event_id, key=bytes(range(32)), digest_size=32), then the
 * Ed25519 public key of that seed (cryptography) and whole payloads signed with it. */
static const char known_pk[] = "71731cdfd2a6d6af96f8ee3c45ba82a80abc1565302120f41405d3d582b885cc";
static const char known_seated[] =
    "TIX1.eyJlIjoiMDE5MGMwZGUtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAxIiwicyI6IjAxOTBjMGRlLTAwMDAtNzAw"
    "MC04MDAwLTAwMDAwMDAwMDBiYiIsInQiOiIwMTkwYzBkZS0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwYWEiLCJ6Ijoi"
    "QS0xMi03In0.g9BHjlBqChiLL4qd8bd_JirCRq84bMmv8gKxQ4t-AHegwLdC_JRawrqw11IGWQI7dDroRlISAam5GBm8"
    "8LyCDg";
static const char known_ga[] =
    "TIX1.eyJlIjoiMDE5MGMwZGUtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAxIiwicyI6IjAxOTBjMGRlLTAwMDAtNzAw"
    "MC04MDAwLTAwMDAwMDAwMDBiYiIsInQiOiIwMTkwYzBkZS0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwYWEiLCJ6Ijpu"
    "dWxsfQ.Q0siusuYD0pG7eMGEmQwS9SSOfOuwpQYiOm4GbjJEsDAUKP4F8xzDHIj0-YF3u2r9QqnSIwOH_n60sVYzZNhBg";

static void master_key(uint8_t m[TIX_TICKET_MASTER_LEN])
{
    for (int i = 0; i < TIX_TICKET_MASTER_LEN; i++)
        m[i] = (uint8_t)i;
}

static struct tix_ticket_claims claims(const char *seat)
{
    struct tix_ticket_claims c;
    memset(&c, 0, sizeof(c));
    snprintf(c.ticket_id, sizeof(c.ticket_id), "0190c0de-0000-7000-8000-0000000000aa");
    snprintf(c.event_id, sizeof(c.event_id), "%s", event_id);
    snprintf(c.session_id, sizeof(c.session_id), "0190c0de-0000-7000-8000-0000000000bb");
    snprintf(c.seat, sizeof(c.seat), "%s", seat);
    return c;
}

static void keys_of(const char *ev, struct tix_ticket_keys *k)
{
    uint8_t m[TIX_TICKET_MASTER_LEN];
    master_key(m);
    struct tix_err err;
    cr_assert_eq(tix_ticket_keys_derive(m, ev, k, &err), TIX_OK, "%s", err.msg);
}

Test(ticket_sign, master_key_parse)
{
    uint8_t m[TIX_TICKET_MASTER_LEN];
    struct tix_err err;
    cr_assert_eq(tix_ticket_master_parse(
                     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", m, &err),
                 TIX_OK);
    cr_assert_eq(m[31], 31);
    cr_assert_eq(tix_ticket_master_parse("00", m, &err), TIX_EINVAL);
    cr_assert_str_eq(err.field, "TIXMO_TICKET_KEY");
    cr_assert_eq(tix_ticket_master_parse(
                     "000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f", m, &err),
                 TIX_EINVAL, "uppercase is refused, as for TIXMO_PII_KEY");
}

Test(ticket_sign, derived_key_known_answer)
{
    struct tix_ticket_keys k;
    keys_of(event_id, &k);
    char hex[2 * TIX_TICKET_PK_LEN + 1];
    sodium_bin2hex(hex, sizeof(hex), k.pk, sizeof(k.pk));
    cr_assert_str_eq(hex, known_pk);
    struct tix_ticket_keys other;
    keys_of("0190c0de-0000-7000-8000-000000000002", &other);
    cr_assert_neq(memcmp(k.pk, other.pk, sizeof(k.pk)), 0, "each event has its own key");
    uint8_t m[TIX_TICKET_MASTER_LEN];
    master_key(m);
    struct tix_err err;
    cr_assert_eq(tix_ticket_keys_derive(m, "not-a-uuid", &k, &err), TIX_EINVAL);
    tix_ticket_keys_wipe(&k);
    uint8_t zero[TIX_TICKET_SK_LEN] = {0};
    cr_assert_eq(memcmp(k.sk, zero, sizeof(zero)), 0);
}

Test(ticket_sign, build_known_payloads_and_verify)
{
    struct tix_ticket_keys k;
    keys_of(event_id, &k);
    char out[TIX_TICKET_PAYLOAD_MAX];
    struct tix_err err;
    struct tix_ticket_claims c = claims("A-12-7");
    cr_assert_eq(tix_ticket_payload_build(&k, &c, out, sizeof(out), &err), TIX_OK, "%s", err.msg);
    cr_assert_str_eq(out, known_seated);
    c = claims("");
    cr_assert_eq(tix_ticket_payload_build(&k, &c, out, sizeof(out), &err), TIX_OK, "%s", err.msg);
    cr_assert_str_eq(out, known_ga, "no seat is z: null");
    struct tix_ticket_claims got;
    cr_assert_eq(tix_ticket_payload_verify(known_seated, k.pk, &got, &err), TIX_OK, "%s", err.msg);
    cr_assert_str_eq(got.ticket_id, "0190c0de-0000-7000-8000-0000000000aa");
    cr_assert_str_eq(got.event_id, event_id);
    cr_assert_str_eq(got.session_id, "0190c0de-0000-7000-8000-0000000000bb");
    cr_assert_str_eq(got.seat, "A-12-7");
    cr_assert_eq(tix_ticket_payload_verify(known_ga, k.pk, &got, &err), TIX_OK, "%s", err.msg);
    cr_assert_str_eq(got.seat, "");
    cr_assert_eq(tix_ticket_payload_peek(known_seated, &got, &err), TIX_OK);
    cr_assert_str_eq(got.event_id, event_id);
}

static void expect_refused(const char *payload, const uint8_t *pk, const char *reason)
{
    struct tix_ticket_claims got;
    memset(&got, 0x5a, sizeof(got));
    struct tix_err err;
    cr_assert_eq(tix_ticket_payload_verify(payload, pk, &got, &err), TIX_EINVAL, "%s", payload);
    cr_assert_str_eq(err.field, "payload");
    cr_assert(strstr(err.msg, reason) != NULL, "'%s' lacks '%s'", err.msg, reason);
    cr_assert_eq(got.ticket_id[0], 0x5a, "nothing is written on refusal");
}

Test(ticket_sign, tampered_truncated_or_other_key_refused)
{
    struct tix_ticket_keys k, other;
    keys_of(event_id, &k);
    keys_of("0190c0de-0000-7000-8000-000000000002", &other);
    expect_refused(known_seated, other.pk, "signature does not match");
    /* swap the claims of the seated ticket into the GA ticket's signature */
    char mixed[TIX_TICKET_PAYLOAD_MAX];
    snprintf(mixed, sizeof(mixed), "%.*s%s", (int)(strrchr(known_seated, '.') - known_seated),
             known_seated, strrchr(known_ga, '.'));
    expect_refused(mixed, k.pk, "signature does not match");
    /* one character of the claims changed (still valid base64url and JSON: t=...ab) */
    char tampered[TIX_TICKET_PAYLOAD_MAX];
    snprintf(tampered, sizeof(tampered), "%s", known_ga);
    char *pos = strstr(tampered, "YWEiLCJ6"); /* "aa","z */
    cr_assert_not_null(pos);
    pos[2] = 'I'; /* "ab" */
    expect_refused(tampered, k.pk, "signature does not match");
    char cut[TIX_TICKET_PAYLOAD_MAX];
    snprintf(cut, sizeof(cut), "%.*s", (int)strlen(known_ga) - 3, known_ga);
    expect_refused(cut, k.pk, "signature");
    snprintf(cut, sizeof(cut), "%.*s", (int)(strrchr(known_ga, '.') - known_ga), known_ga);
    expect_refused(cut, k.pk, "truncated payload");
    expect_refused("TIX2.abc.def", k.pk, "not a TIX1");
    expect_refused("", k.pk, "not a TIX1");
    expect_refused("TIX1..", k.pk, "truncated");
    expect_refused("TIX1.a.b.c", k.pk, "more than three parts");
    expect_refused("TIX1.e30.Q0siusuYD0pG7eMGEmQwS9SSOfOuwpQYiOm4GbjJEsDAUKP4F8xzDHIj0-YF3u2r9QqnSI"
                   "wOH_n60sVYzZNhBg",
                   k.pk, "claims are not");
    char padded[TIX_TICKET_PAYLOAD_MAX];
    snprintf(padded, sizeof(padded), "%s==", known_ga);
    expect_refused(padded, k.pk, "signature");
}

Test(ticket_sign, bad_claims_named)
{
    struct tix_ticket_keys k;
    keys_of(event_id, &k);
    char out[TIX_TICKET_PAYLOAD_MAX];
    struct tix_err err;
    struct tix_ticket_claims c = claims("");
    c.ticket_id[3] = 'X';
    cr_assert_eq(tix_ticket_payload_build(&k, &c, out, sizeof(out), &err), TIX_EINVAL);
    cr_assert_str_eq(err.field, "ticket_id");
    c = claims("");
    c.session_id[0] = '\0';
    cr_assert_eq(tix_ticket_payload_build(&k, &c, out, sizeof(out), &err), TIX_EINVAL);
    cr_assert_str_eq(err.field, "session_id");
    c = claims("");
    cr_assert_eq(tix_ticket_payload_build(&k, &c, out, 40, &err), TIX_EINVAL, "small buffer");
}

/* ---- QR ----------------------------------------------------------------------------------- */

static struct tix_qr encode_ok(const char *text)
{
    struct tix_qr qr;
    struct tix_err err;
    cr_assert_eq(tix_qr_encode(text, &qr, &err), TIX_OK, "%s", err.msg);
    return qr;
}

Test(qr, matrix_is_libqrencode_s)
{
    struct tix_qr qr = encode_ok(known_seated);
    QRcode *ref = QRcode_encodeString8bit(known_seated, 0, QR_ECLEVEL_M);
    cr_assert_not_null(ref);
    cr_assert_eq(qr.width, ref->width);
    cr_assert_eq(qr.width, 17 + 4 * ref->version);
    int dark = 0;
    for (int y = 0; y < qr.width; y++)
        for (int x = 0; x < qr.width; x++) {
            cr_assert_eq(tix_qr_is_dark(&qr, x, y), (ref->data[y * ref->width + x] & 1) != 0);
            dark += tix_qr_is_dark(&qr, x, y);
        }
    cr_assert(dark > qr.width * qr.width / 4 && dark < qr.width * qr.width * 3 / 4);
    /* the three finder patterns: dark 7x7 outlines at three corners */
    cr_assert(tix_qr_is_dark(&qr, 0, 0) && tix_qr_is_dark(&qr, qr.width - 1, 0) &&
              tix_qr_is_dark(&qr, 0, qr.width - 1));
    cr_assert_not(tix_qr_is_dark(&qr, -1, 0), "the quiet zone is light");
    QRcode_free(ref);
    struct tix_qr other = encode_ok(known_ga);
    cr_assert(other.width != qr.width ||
                  memcmp(other.dark, qr.dark, (size_t)(qr.width * qr.width)) != 0,
              "another payload, another code");
    tix_qr_deinit(&other);
    tix_qr_deinit(&qr);
    struct tix_err err;
    cr_assert_eq(tix_qr_encode("", &qr, &err), TIX_EINVAL);
}

/* Rebuilds the matrix from the SVG path's runs "M<x> <y>h<n>v1h-<n>z". */
Test(qr, svg_path_draws_exactly_the_dark_modules)
{
    struct tix_qr qr = encode_ok(known_seated);
    struct tix_buf svg;
    tix_buf_init(&svg, 0);
    struct tix_err err;
    cr_assert_eq(tix_qr_svg(&qr, TIX_QR_MARGIN, &svg, &err), TIX_OK);
    int side = qr.width + 2 * TIX_QR_MARGIN;
    char head[128];
    snprintf(head, sizeof(head), "viewBox=\"0 0 %d %d\"", side, side);
    cr_assert(strstr(svg.ptr, head) != NULL, "%s", head);
    bool *seen = calloc((size_t)(side * side), sizeof(bool));
    const char *p = strstr(svg.ptr, " d=\"") + 4;
    while (*p == 'M') {
        int x, y, n, n2, used;
        cr_assert_eq(sscanf(p, "M%d %dh%dv1h-%dz%n", &x, &y, &n, &n2, &used), 4);
        cr_assert_eq(n, n2);
        for (int i = 0; i < n; i++)
            seen[y * side + x + i] = true;
        p += used;
    }
    cr_assert_eq(*p, '"', "the path ends after its runs");
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++)
            cr_assert_eq(seen[y * side + x],
                         tix_qr_is_dark(&qr, x - TIX_QR_MARGIN, y - TIX_QR_MARGIN), "(%d,%d)", x,
                         y);
    free(seen);
    tix_buf_deinit(&svg);
    tix_qr_deinit(&qr);
}

struct png_src {
    const unsigned char *p;
    size_t len, off;
};

static void read_cb(png_structp png, png_bytep out, png_size_t n)
{
    struct png_src *s = png_get_io_ptr(png);
    cr_assert(s->off + n <= s->len, "the PNG is truncated");
    memcpy(out, s->p + s->off, n);
    s->off += n;
}

Test(qr, png_header_and_pixels)
{
    struct tix_qr qr = encode_ok(known_ga);
    struct tix_buf png_buf;
    tix_buf_init(&png_buf, 0);
    struct tix_err err;
    const int scale = 3;
    cr_assert_eq(tix_qr_png(&qr, TIX_QR_MARGIN, scale, &png_buf, &err), TIX_OK, "%s", err.msg);
    const unsigned char *b = (const unsigned char *)png_buf.ptr;
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    cr_assert_eq(memcmp(b, sig, 8), 0, "PNG signature");
    cr_assert_eq(memcmp(b + 12, "IHDR", 4), 0, "IHDR first");
    unsigned px = (unsigned)((qr.width + 2 * TIX_QR_MARGIN) * scale);
    unsigned w = (unsigned)b[16] << 24 | (unsigned)b[17] << 16 | (unsigned)b[18] << 8 | b[19];
    unsigned h = (unsigned)b[20] << 24 | (unsigned)b[21] << 16 | (unsigned)b[22] << 8 | b[23];
    cr_assert_eq(w, px);
    cr_assert_eq(h, px);
    cr_assert_eq(b[24], 8, "bit depth");
    cr_assert_eq(b[25], 0, "grayscale");
    /* decode and compare every pixel with its module */
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    struct png_src src = {b, png_buf.len, 0};
    png_set_read_fn(png, &src, read_cb);
    png_read_info(png, info);
    unsigned char *row = malloc(px);
    for (unsigned y = 0; y < px; y++) {
        png_read_row(png, row, NULL);
        for (unsigned x = 0; x < px; x++) {
            bool dark = tix_qr_is_dark(&qr, (int)(x / scale) - TIX_QR_MARGIN,
                                       (int)(y / scale) - TIX_QR_MARGIN);
            cr_assert_eq(row[x], dark ? 0 : 255, "pixel (%u,%u)", x, y);
        }
    }
    free(row);
    png_destroy_read_struct(&png, &info, NULL);
    cr_assert_eq(tix_qr_png(&qr, TIX_QR_MARGIN, 0, &png_buf, &err), TIX_EINVAL);
    cr_assert_str_eq(err.field, "scale");
    struct tix_buf small;
    tix_buf_init(&small, 64);
    cr_assert_eq(tix_qr_png(&qr, TIX_QR_MARGIN, scale, &small, &err), TIX_EINVAL, "capped buffer");
    tix_buf_deinit(&small);
    tix_buf_deinit(&png_buf);
    tix_qr_deinit(&qr);
}
