/* totp.c - SHA-1, HMAC-SHA1, HOTP/TOTP, base32 and otpauth URIs
 *
 * libsodium has no SHA-1, so a compact one (FIPS 180-4, section 6.1) lives here: a 64-byte
 * block buffer, 80 rounds per block, big-endian everything. It is only ever fed short
 * messages (an 8-byte counter under a padded key), but it is complete and tested against the
 * FIPS vectors, including the million-'a' one. HOTP's dynamic truncation (RFC 4226 5.3) picks
 * 4 bytes at an offset given by the low nibble of the last MAC byte.
 *
 * Verification computes every candidate step of the window and folds the comparisons with
 * bitwise operations, so its timing says nothing about which step (if any) matched.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "tix/buf.h"
#include "tix/totp.h"

/* ---- SHA-1 -------------------------------------------------------------------------------- */

struct sha1 {
    uint32_t h[5];
    uint8_t block[64];
    size_t used;    /* bytes in block */
    uint64_t total; /* bytes hashed so far */
};

static uint32_t rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(struct sha1 *s, const uint8_t *p)
{
    uint32_t w[80];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
    for (int t = 16; t < 80; t++)
        w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
    for (int t = 0; t < 80; t++) {
        uint32_t f, k;
        if (t < 20)
            f = (b & c) | (~b & d), k = 0x5a827999;
        else if (t < 40)
            f = b ^ c ^ d, k = 0x6ed9eba1;
        else if (t < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
        else
            f = b ^ c ^ d, k = 0xca62c1d6;
        uint32_t tmp = rol(a, 5) + f + e + k + w[t];
        e = d, d = c, c = rol(b, 30), b = a, a = tmp;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d, s->h[4] += e;
}

static void sha1_init(struct sha1 *s)
{
    static const uint32_t iv[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    memcpy(s->h, iv, sizeof(iv));
    s->used = 0;
    s->total = 0;
}

static void sha1_update(struct sha1 *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    s->total += len;
    while (len > 0) {
        size_t n = 64 - s->used < len ? 64 - s->used : len;
        memcpy(s->block + s->used, p, n);
        s->used += n, p += n, len -= n;
        if (s->used == 64) {
            sha1_block(s, s->block);
            s->used = 0;
        }
    }
}

/* Pads with 0x80, zeros and the 64-bit big-endian bit length, then writes the digest. */
static void sha1_final(struct sha1 *s, uint8_t out[TIX_SHA1_BYTES])
{
    uint64_t bits = s->total * 8;
    uint8_t pad = 0x80;
    sha1_update(s, &pad, 1);
    pad = 0;
    while (s->used != 56)
        sha1_update(s, &pad, 1);
    uint8_t len_be[8];
    for (int i = 0; i < 8; i++)
        len_be[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha1_update(s, len_be, 8);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(s->h[i] >> (24 - 8 * j));
    sodium_memzero(s, sizeof(*s));
}

void tix_totp_sha1(const void *data, size_t len, uint8_t out[TIX_SHA1_BYTES])
{
    struct sha1 s;
    sha1_init(&s);
    sha1_update(&s, data, len);
    sha1_final(&s, out);
}

void tix_totp_hmac_sha1(const uint8_t *key, size_t key_len, const void *msg, size_t len,
                        uint8_t out[TIX_SHA1_BYTES])
{
    uint8_t k[64] = {0}, pad[64], inner[TIX_SHA1_BYTES];
    if (key_len > sizeof(k))
        tix_totp_sha1(key, key_len, k);
    else if (key_len > 0)
        memcpy(k, key, key_len);
    struct sha1 s;
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    sha1_init(&s);
    sha1_update(&s, pad, sizeof(pad));
    sha1_update(&s, msg, len);
    sha1_final(&s, inner);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    sha1_init(&s);
    sha1_update(&s, pad, sizeof(pad));
    sha1_update(&s, inner, sizeof(inner));
    sha1_final(&s, out);
    sodium_memzero(k, sizeof(k));
    sodium_memzero(pad, sizeof(pad));
}

/* ---- HOTP and TOTP ------------------------------------------------------------------------ */

uint32_t tix_totp_hotp(const uint8_t *secret, size_t len, uint64_t counter, int digits)
{
    uint8_t msg[8], mac[TIX_SHA1_BYTES];
    for (int i = 0; i < 8; i++)
        msg[i] = (uint8_t)(counter >> (56 - 8 * i));
    tix_totp_hmac_sha1(secret, len, msg, sizeof(msg), mac);
    int off = mac[TIX_SHA1_BYTES - 1] & 0x0f;
    uint32_t bin = (uint32_t)(mac[off] & 0x7f) << 24 | (uint32_t)mac[off + 1] << 16 |
                   (uint32_t)mac[off + 2] << 8 | mac[off + 3];
    uint32_t mod = 1;
    for (int i = 0; i < digits && i < 9; i++)
        mod *= 10;
    return bin % mod;
}

int64_t tix_totp_step(int64_t now_s)
{
    int64_t q = now_s / TIX_TOTP_STEP_S;
    return now_s % TIX_TOTP_STEP_S < 0 ? q - 1 : q;
}

uint32_t tix_totp_code(const uint8_t *secret, size_t len, int64_t step)
{
    return tix_totp_hotp(secret, len, (uint64_t)step, TIX_TOTP_DIGITS);
}

bool tix_totp_verify(const uint8_t *secret, size_t len, const char *code, int64_t now_s, int window,
                     int64_t *matched_step)
{
    if (code == NULL || strnlen(code, TIX_TOTP_DIGITS + 1) != TIX_TOTP_DIGITS || window < 0 ||
        window > 10)
        return false;
    uint32_t given = 0;
    for (int i = 0; i < TIX_TOTP_DIGITS; i++) {
        if (code[i] < '0' || code[i] > '9')
            return false;
        given = given * 10 + (uint32_t)(code[i] - '0');
    }
    int64_t now_step = tix_totp_step(now_s);
    uint32_t found = 0;
    int64_t step_found = 0;
    for (int d = -window; d <= window; d++) {
        int64_t step = now_step + d;
        uint32_t diff = tix_totp_code(secret, len, step) ^ given;
        /* 1 when diff == 0 and the step is not negative, without branching on the code. */
        uint32_t hit = (uint32_t)(((uint64_t)diff - 1) >> 63) & (uint32_t)(step >= 0);
        uint64_t mask = (uint64_t)0 - (uint64_t)(hit & ~found);
        step_found = (int64_t)(((uint64_t)step & mask) | ((uint64_t)step_found & ~mask));
        found |= hit;
    }
    if (found && matched_step != NULL)
        *matched_step = step_found;
    return found != 0;
}

/* ---- base32 ------------------------------------------------------------------------------- */

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

enum tix_rc tix_totp_encode_base32(const uint8_t *in, size_t len, char *out, size_t out_size,
                                   struct tix_err *err)
{
    size_t need = (len * 8 + 4) / 5 + 1;
    if (out_size < need) {
        if (out_size > 0)
            out[0] = '\0';
        return tix_err_set(err, TIX_EINVAL, "", "base32 output buffer too small");
    }
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32_alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return TIX_OK;
}

/* The 5-bit value of a base32 character (either case), or -1. */
static int b32_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

enum tix_rc tix_totp_decode_base32(const char *text, uint8_t *out, size_t out_size, size_t *out_len,
                                   struct tix_err *err)
{
    *out_len = 0;
    if (text == NULL)
        return tix_err_set(err, TIX_EINVAL, "secret", "secret is required");
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == '=')
        len--;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b32_value(text[i]);
        if (v < 0)
            return tix_err_set(err, TIX_EINVAL, "secret", "secret is not base32");
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            if (o == out_size)
                return tix_err_set(err, TIX_EINVAL, "secret", "secret is too long");
            out[o++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    /* A valid length leaves fewer than 5 bits, all zero (canonical encoding). */
    if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
        return tix_err_set(err, TIX_EINVAL, "secret", "secret is not canonical base32");
    *out_len = o;
    return TIX_OK;
}

/* ---- otpauth URI -------------------------------------------------------------------------- */

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void put_percent_encoded(struct tix_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (is_unreserved(*p))
            tix_buf_append(b, p, 1);
        else
            tix_buf_append(b, enc, 3);
    }
}

static enum tix_rc check_label_part(const char *s, const char *field, struct tix_err *err)
{
    if (s == NULL || s[0] == '\0' || strnlen(s, 257) > 256 || strchr(s, ':') != NULL)
        return tix_err_set(err, TIX_EINVAL, field, "%s must be 1..256 bytes without ':'", field);
    return TIX_OK;
}

enum tix_rc tix_totp_uri(const char *issuer, const char *account, const char *secret_b32,
                         char **out, struct tix_err *err)
{
    *out = NULL;
    if (check_label_part(issuer, "issuer", err) != TIX_OK ||
        check_label_part(account, "account", err) != TIX_OK)
        return TIX_EINVAL;
    size_t n = secret_b32 != NULL ? strnlen(secret_b32, 257) : 0;
    if (n == 0 || n > 256 || strspn(secret_b32, b32_alphabet) != n)
        return tix_err_set(err, TIX_EINVAL, "secret", "secret must be upper-case base32");
    struct tix_buf b;
    tix_buf_init(&b, 0);
    tix_buf_puts(&b, "otpauth://totp/");
    put_percent_encoded(&b, issuer);
    tix_buf_puts(&b, ":");
    put_percent_encoded(&b, account);
    tix_buf_printf(&b, "?secret=%s&issuer=", secret_b32);
    put_percent_encoded(&b, issuer);
    tix_buf_printf(&b, "&algorithm=SHA1&digits=%d&period=%d", TIX_TOTP_DIGITS, TIX_TOTP_STEP_S);
    *out = tix_buf_steal(&b);
    return TIX_OK;
}
