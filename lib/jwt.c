/* jwt.c - HS256 JSON Web Tokens: sign and strictly verify
 *
 * Verification order matters and is fixed: structure (three non-empty-ish parts, bounded size),
 * then the header (must name HS256 and nothing else), then the MAC over the exact bytes
 * received, and only then the claims. So nothing in the claims is parsed unless the token was
 * made with our key, and nothing in the header can pick another algorithm. libsodium's base64
 * decoder refuses non-canonical trailing bits, so one signature has one spelling.
 *
 * The key may be any length >= 32 bytes, which crypto_auth_hmacsha256_verify (32-byte keys
 * only) cannot take: the MAC is computed with the streaming HMAC API and compared with
 * sodium_memcmp, which runs in constant time.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"
#include "tix/jwt.h"
#include "tix/mem.h"

#define MAC_BYTES crypto_auth_hmacsha256_BYTES

static const char header_json[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static enum tix_rc fail(struct tix_err *err, const char *reason)
{
    return tix_err_set(err, TIX_EINVAL, "token", "%s", reason);
}

/* Appends base64url (no padding) of bin to out at *pos; out must have room. */
static void put_b64(char *out, size_t *pos, const void *bin, size_t len)
{
    size_t room = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_bin2base64(out + *pos, room, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    *pos += strlen(out + *pos);
}

/* Decodes len base64url characters (no padding, canonical) into a new buffer; NULL when
 * malformed. *out_len gets the byte count; the buffer has a NUL after it. */
static unsigned char *get_b64(const char *b64, size_t len, size_t *out_len)
{
    unsigned char *bin = tix_xmalloc(len + 1);
    if (sodium_base642bin(bin, len, b64, len, NULL, out_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        free(bin);
        return NULL;
    }
    bin[*out_len] = '\0';
    return bin;
}

static void mac(const uint8_t *key, size_t key_len, const char *data, size_t len,
                unsigned char out[MAC_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)data, len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

enum tix_rc tix_jwt_sign(const json_t *claims, const uint8_t *key, size_t key_len, char **out,
                         struct tix_err *err)
{
    *out = NULL;
    if (key == NULL || key_len < TIX_JWT_MIN_KEY_BYTES)
        return tix_err_set(err, TIX_EINVAL, "key", "the key must be at least %d bytes",
                           TIX_JWT_MIN_KEY_BYTES);
    if (!json_is_object(claims))
        return tix_err_set(err, TIX_EINVAL, "claims", "claims must be a JSON object");
    char *body = tix_json_dump(claims);
    size_t body_len = strlen(body);
    size_t cap = sodium_base64_ENCODED_LEN(sizeof(header_json) - 1,
                                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
                 sodium_base64_ENCODED_LEN(body_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
                 sodium_base64_ENCODED_LEN(MAC_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING) + 2;
    if (cap > TIX_JWT_MAX_TOKEN_BYTES + 3) {
        free(body);
        return tix_err_set(err, TIX_EINVAL, "claims", "the token would be too long");
    }
    char *tok = tix_xmalloc(cap);
    size_t pos = 0;
    put_b64(tok, &pos, header_json, sizeof(header_json) - 1);
    tok[pos++] = '.';
    put_b64(tok, &pos, body, body_len);
    free(body);
    unsigned char sig[MAC_BYTES];
    mac(key, key_len, tok, pos, sig);
    tok[pos++] = '.';
    put_b64(tok, &pos, sig, sizeof(sig));
    *out = tok;
    return TIX_OK;
}

/* Checks the decoded header: an object with "alg":"HS256" and at most "typ":"JWT" besides. */
static enum tix_rc check_header(const char *b64, size_t len, struct tix_err *err)
{
    size_t n;
    unsigned char *text = get_b64(b64, len, &n);
    json_t *h = text != NULL ? tix_json_parse((const char *)text, n, NULL) : NULL;
    free(text);
    enum tix_rc rc = TIX_OK;
    if (!json_is_object(h)) {
        rc = fail(err, "malformed");
    } else {
        const json_t *alg = json_object_get(h, "alg");
        const json_t *typ = json_object_get(h, "typ");
        size_t known = 1 + (typ != NULL);
        if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0 ||
            json_string_length(alg) != 5)
            rc = fail(err, "unsupported algorithm");
        else if ((typ != NULL &&
                  !(json_is_string(typ) && strcmp(json_string_value(typ), "JWT") == 0 &&
                    json_string_length(typ) == 3)) ||
                 json_object_size(h) != known)
            rc = fail(err, "malformed");
    }
    json_decref(h);
    return rc;
}

/* Checks sig_b64 against the MAC of the signed part. */
static enum tix_rc check_mac(const char *signed_part, size_t signed_len, const char *sig_b64,
                             size_t sig_len, const uint8_t *key, size_t key_len,
                             struct tix_err *err)
{
    size_t n = 0;
    unsigned char *sig = sig_len > 0 ? get_b64(sig_b64, sig_len, &n) : NULL;
    unsigned char want[MAC_BYTES];
    mac(key, key_len, signed_part, signed_len, want);
    bool is_good = sig != NULL && n == MAC_BYTES && sodium_memcmp(sig, want, MAC_BYTES) == 0;
    free(sig);
    return is_good ? TIX_OK : fail(err, "bad signature");
}

/* Checks the time claims of an authentic claims object. */
static enum tix_rc check_times(const json_t *claims, int64_t now_s, struct tix_err *err)
{
    const json_t *exp = json_object_get(claims, "exp");
    if (!json_is_integer(exp))
        return fail(err, "malformed");
    if ((int64_t)json_integer_value(exp) <= now_s - TIX_JWT_LEEWAY_S)
        return fail(err, "expired");
    const char *const future_claims[] = {"nbf", "iat"};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(claims, future_claims[i]);
        if (v == NULL)
            continue;
        if (!json_is_integer(v))
            return fail(err, "malformed");
        if ((int64_t)json_integer_value(v) > now_s + TIX_JWT_LEEWAY_S)
            return fail(err, "not yet valid");
    }
    return TIX_OK;
}

enum tix_rc tix_jwt_verify(const char *token, const uint8_t *key, size_t key_len, int64_t now_s,
                           json_t **claims, struct tix_err *err)
{
    *claims = NULL;
    if (key == NULL || key_len < TIX_JWT_MIN_KEY_BYTES)
        return tix_err_set(err, TIX_EINVAL, "key", "the key must be at least %d bytes",
                           TIX_JWT_MIN_KEY_BYTES);
    if (token == NULL)
        return fail(err, "malformed");
    size_t len = strnlen(token, TIX_JWT_MAX_TOKEN_BYTES + 1);
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 =
        dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (len > TIX_JWT_MAX_TOKEN_BYTES || dot2 == NULL || dot1 == token || dot2 == dot1 + 1 ||
        memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
        return fail(err, "malformed");
    enum tix_rc rc = check_header(token, (size_t)(dot1 - token), err);
    if (rc == TIX_OK)
        rc = check_mac(token, (size_t)(dot2 - token), dot2 + 1, len - (size_t)(dot2 + 1 - token),
                       key, key_len, err);
    if (rc != TIX_OK)
        return rc;
    size_t n;
    unsigned char *text = get_b64(dot1 + 1, (size_t)(dot2 - dot1 - 1), &n);
    json_t *c = text != NULL ? tix_json_parse((const char *)text, n, NULL) : NULL;
    free(text);
    if (!json_is_object(c))
        rc = fail(err, "malformed");
    else
        rc = check_times(c, now_s, err);
    if (rc != TIX_OK) {
        json_decref(c);
        return rc;
    }
    *claims = c;
    return TIX_OK;
}
