/* crypto_test.c - password hashes, JWTs, TOTP (SHA-1, HOTP, base32, URIs) and the pure parts
 * of PII (sealing, blind indexes, email normalization)
 *
 * Known-answer vectors come from the RFCs (FIPS 180 for SHA-1, RFC 2202, 4226, 6238, 4648,
 * 7515) or were computed independently with Python's hmac/hashlib/base64 (noted where used),
 * so the code is never only checked against itself.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"
#include "tix/jwt.h"
#include "tix/password.h"
#include "tix/pii.h"
#include "tix/totp.h"

static void setup(void)
{
    cr_assert(sodium_init() >= 0);
}

TestSuite(password, .init = setup);
TestSuite(jwt, .init = setup);
TestSuite(totp, .init = setup);
TestSuite(pii, .init = setup);

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, b, n);
}

/* ---- password ----------------------------------------------------------------------------- */

Test(password, hash_and_verify)
{
    char h1[TIX_PASSWORD_HASH_SIZE], h2[TIX_PASSWORD_HASH_SIZE];
    struct tix_err err;
    cr_assert_eq(tix_password_hash("correct horse battery", h1, &err), TIX_OK);
    cr_assert_eq(strncmp(h1, "$argon2id$v=19$m=65536,t=2,p=1$", 31), 0, "%s", h1);
    cr_assert_eq(tix_password_hash("correct horse battery", h2, NULL), TIX_OK);
    cr_assert_str_neq(h1, h2, "each hash has its own salt");
    cr_assert(tix_password_verify(h1, "correct horse battery"));
    cr_assert(tix_password_verify(h2, "correct horse battery"));
    cr_assert_not(tix_password_verify(h1, "correct horse batterY"));
    cr_assert_not(tix_password_verify(h1, "correct horse battery "));
    cr_assert_not(tix_password_verify(h1, ""));
    cr_assert_not(tix_password_verify(h1, NULL));
    cr_assert_not(tix_password_verify(NULL, "x"));
    cr_assert_not(tix_password_verify("$argon2id$garbage", "correct horse battery"));
    cr_assert_not(tix_password_verify("", "correct horse battery"));
    cr_assert_not(tix_password_needs_rehash(h1));
    cr_assert_eq(tix_password_hash(NULL, h1, &err), TIX_EINVAL);
    cr_assert_str_eq(h1, "");
}

Test(password, needs_rehash_for_weaker_or_foreign_hashes)
{
    char weak[crypto_pwhash_STRBYTES];
    cr_assert_eq(crypto_pwhash_str_alg(weak, "pw", 2, crypto_pwhash_OPSLIMIT_MIN,
                                       crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_ALG_ARGON2ID13),
                 0);
    cr_assert(tix_password_verify(weak, "pw"), "old hashes still verify");
    cr_assert(tix_password_needs_rehash(weak));
    char argon2i[crypto_pwhash_STRBYTES];
    cr_assert_eq(crypto_pwhash_str_alg(argon2i, "pw", 2, 3, crypto_pwhash_MEMLIMIT_MIN,
                                       crypto_pwhash_ALG_ARGON2I13),
                 0);
    cr_assert(tix_password_needs_rehash(argon2i));
    cr_assert(tix_password_needs_rehash("$2b$12$bcrypt"));
    cr_assert(tix_password_needs_rehash(""));
    cr_assert(tix_password_needs_rehash(NULL));
}

static void expect_policy_refused(const char *pw, const char *what)
{
    struct tix_err err;
    tix_err_clear(&err);
    cr_assert_eq(tix_password_check(pw, &err), TIX_EINVAL, "accepted %s", what);
    cr_assert_str_eq(err.field, "password", "%s", what);
    cr_assert_neq(err.msg[0], '\0');
    if (pw != NULL && strlen(pw) >= 4)
        cr_assert_null(strstr(err.msg, pw), "the message never echoes the password");
}

Test(password, policy_accepts_10_to_128_bytes_of_utf8)
{
    char p128[129];
    memset(p128, 'x', 128);
    p128[0] = 'y';
    p128[128] = '\0';
    const char *good[] = {
        "0123456789",
        "correct horse battery staple",
        p128,
        "\xc3\xa9t\xc3\xa9 \xc3\xa0 Paris",   /* été à Paris */
        "\xf0\x9f\x8e\xab\xf0\x9f\x8e\xb5!!", /* two emoji and !! (10 bytes) */
        "aaaaaaaaab",
        "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
        "1", /* four euros and a 1 */
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert_eq(tix_password_check(good[i], NULL), TIX_OK, "refused case %zu", i);
}

Test(password, policy_refuses_length_encoding_and_repetition)
{
    char p129[130];
    memset(p129, 'x', 129);
    p129[0] = 'y';
    p129[129] = '\0';
    expect_policy_refused(NULL, "NULL");
    expect_policy_refused("", "empty");
    expect_policy_refused("012345678", "9 bytes");
    expect_policy_refused(p129, "129 bytes");
    expect_policy_refused("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "8 bytes of 4 characters");
    expect_policy_refused("abcdefghi\x80", "a lone continuation byte");
    expect_policy_refused("abcdefgh\xc0\xaf", "an overlong slash");
    expect_policy_refused("abcdefg\xe0\x80\xaf", "an overlong 3-byte form");
    expect_policy_refused("abcdefg\xed\xa0\x80", "a surrogate");
    expect_policy_refused("abcdef\xf4\x90\x80\x80", "past U+10FFFF");
    expect_policy_refused("abcdefghi\xc3", "a truncated sequence");
    expect_policy_refused("abcdefgh\xff\xfe", "bytes that never occur in UTF-8");
    expect_policy_refused("aaaaaaaaaa", "one ASCII character repeated");
    expect_policy_refused("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "one accented repeated");
    expect_policy_refused("\xf0\x9f\x8e\xab\xf0\x9f\x8e\xab\xf0\x9f\x8e\xab", "one emoji x3");
    expect_policy_refused("                ", "spaces");
}

/* ---- JWT ---------------------------------------------------------------------------------- */

static const uint8_t key32[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                  16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
#define NOW 1700000000

/* Computed with Python: hmac.new(bytes(range(32)), header.claims, sha256), base64url. */
#define PY_TOKEN                                                                                   \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjIwMDAwMDAwMDAsImlhdCI6MTcwMDAwMDAwMCwic3ViIj"  \
    "oidXNlcjowMTkwYzFlMi0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDEifQ.GfvCszCJVl-Ec93pnW1PcgKlGdx84B"  \
    "m57mlaSXpuGA8"

static char *sign(json_t *claims)
{
    char *tok = NULL;
    struct tix_err err;
    cr_assert_eq(tix_jwt_sign(claims, key32, sizeof(key32), &tok, &err), TIX_OK, "%s", err.msg);
    json_decref(claims);
    return tok;
}

static void expect_refused(const char *token, int64_t now, const char *reason)
{
    json_t *claims = (json_t *)1;
    struct tix_err err;
    tix_err_clear(&err);
    cr_assert_eq(tix_jwt_verify(token, key32, sizeof(key32), now, &claims, &err), TIX_EINVAL,
                 "accepted %.200s", token != NULL ? token : "NULL");
    cr_assert_null(claims);
    cr_assert_str_eq(err.field, "token");
    cr_assert_str_eq(err.msg, reason, "%.200s: got %s, want %s", token != NULL ? token : "NULL",
                     err.msg, reason);
}

static json_t *verified(const char *token, int64_t now)
{
    json_t *claims = NULL;
    struct tix_err err;
    tix_err_clear(&err);
    cr_assert_eq(tix_jwt_verify(token, key32, sizeof(key32), now, &claims, &err), TIX_OK,
                 "%s refused: %s", token, err.msg);
    cr_assert(json_is_object(claims));
    return claims;
}

static char *b64url(const void *data, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(n);
    sodium_bin2base64(out, n, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

/* A token made by hand: header and claims as given (raw JSON text), signed with key32 as
 * HS256 unless sig is not NULL (then sig is the third part verbatim). */
static char *forge(const char *header, const char *claims, const char *sig)
{
    char *h = b64url(header, strlen(header)), *c = b64url(claims, strlen(claims));
    char signing[4096];
    snprintf(signing, sizeof(signing), "%s.%s", h, c);
    free(h);
    free(c);
    char *s;
    if (sig == NULL) {
        uint8_t mac[32];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, key32, sizeof(key32));
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)signing, strlen(signing));
        crypto_auth_hmacsha256_final(&st, mac);
        s = b64url(mac, sizeof(mac));
    } else {
        s = strdup(sig);
    }
    size_t size = strlen(signing) + strlen(s) + 2;
    char *tok = malloc(size);
    snprintf(tok, size, "%s.%s", signing, s);
    free(s);
    return tok;
}

#define HS256       "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define GOOD_CLAIMS "{\"sub\":\"u\",\"exp\":1700000100}"

Test(jwt, sign_matches_an_independent_implementation)
{
    json_t *claims =
        json_pack("{s:s, s:I, s:I}", "sub", "user:0190c1e2-0000-7000-8000-000000000001", "exp",
                  (json_int_t)2000000000, "iat", (json_int_t)1700000000);
    char *tok = sign(claims);
    cr_assert_str_eq(tok, PY_TOKEN);
    json_t *back = verified(tok, NOW);
    cr_assert_str_eq(json_string_value(json_object_get(back, "sub")),
                     "user:0190c1e2-0000-7000-8000-000000000001");
    cr_assert_eq(json_integer_value(json_object_get(back, "exp")), 2000000000);
    json_decref(back);
    free(tok);
}

Test(jwt, verifies_the_rfc7515_example)
{
    /* RFC 7515 appendix A.1: an HS256 JWS with a 64-byte key and CRLFs inside the JSON. */
    static const char key_hex[] = "0323354b2b0fa5bc837e0665777ba68f5ab328e6f054c928a90f84b2d2502e"
                                  "bfd3fb5a92d20647ef968ab4c377623d223d2e2172052e4f08c0cd9af567d0"
                                  "80a3";
    static const char token[] =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQo"
        "gImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOE"
        "jXk";
    uint8_t key[64];
    size_t n;
    cr_assert_eq(sodium_hex2bin(key, sizeof(key), key_hex, strlen(key_hex), NULL, &n, NULL), 0);
    cr_assert_eq(n, 64);
    json_t *claims = NULL;
    struct tix_err err;
    cr_assert_eq(tix_jwt_verify(token, key, n, 1300819380 - 60, &claims, &err), TIX_OK, "%s",
                 err.msg);
    cr_assert_str_eq(json_string_value(json_object_get(claims, "iss")), "joe");
    cr_assert(json_is_true(json_object_get(claims, "http://example.com/is_root")));
    json_decref(claims);
    cr_assert_eq(tix_jwt_verify(token, key, n, 1300819380 + 30, &claims, &err), TIX_EINVAL);
    cr_assert_str_eq(err.msg, "expired");
}

Test(jwt, expiry_with_30_seconds_of_leeway)
{
    char *tok = sign(json_pack("{s:I}", "exp", (json_int_t)NOW));
    json_decref(verified(tok, NOW - 1000));
    json_decref(verified(tok, NOW));
    json_decref(verified(tok, NOW + 29));
    expect_refused(tok, NOW + 30, "expired");
    expect_refused(tok, NOW + 100000, "expired");
    free(tok);
}

Test(jwt, exp_is_required_and_must_be_an_integer)
{
    char *a = sign(json_pack("{s:s}", "sub", "u"));
    char *b = sign(json_pack("{s:s}", "exp", "1700000100"));
    char *c = sign(json_pack("{s:f}", "exp", 1700000100.5));
    char *d = sign(json_pack("{s:n}", "exp"));
    expect_refused(a, NOW, "malformed");
    expect_refused(b, NOW, "malformed");
    expect_refused(c, NOW, "malformed");
    expect_refused(d, NOW, "malformed");
    free(a);
    free(b);
    free(c);
    free(d);
}

Test(jwt, nbf_and_iat_must_not_be_in_the_future)
{
    const char *names[] = {"nbf", "iat"};
    for (int i = 0; i < 2; i++) {
        char *ok = sign(
            json_pack("{s:I, s:I}", "exp", (json_int_t)NOW + 900, names[i], (json_int_t)NOW + 30));
        json_decref(verified(ok, NOW));
        char *late = sign(
            json_pack("{s:I, s:I}", "exp", (json_int_t)NOW + 900, names[i], (json_int_t)NOW + 31));
        expect_refused(late, NOW, "not yet valid");
        json_decref(verified(late, NOW + 1));
        char *bad = sign(json_pack("{s:I, s:s}", "exp", (json_int_t)NOW + 900, names[i], "now"));
        expect_refused(bad, NOW, "malformed");
        free(ok);
        free(late);
        free(bad);
    }
}

Test(jwt, bad_signatures)
{
    char *tok = sign(json_pack("{s:I}", "exp", (json_int_t)NOW + 60));
    /* Another key. */
    uint8_t other[32];
    memcpy(other, key32, 32);
    other[31] ^= 1;
    json_t *claims = NULL;
    struct tix_err err;
    cr_assert_eq(tix_jwt_verify(tok, other, sizeof(other), NOW, &claims, &err), TIX_EINVAL);
    cr_assert_str_eq(err.msg, "bad signature");
    cr_assert_null(claims);
    /* A flipped signature character. */
    char *flip = strdup(tok);
    char *sig = strrchr(flip, '.') + 1;
    sig[3] = sig[3] == 'A' ? 'B' : 'A';
    expect_refused(flip, NOW, "bad signature");
    /* A non-canonical spelling of the same 32 bytes: the last character carries 2 unused bits. */
    memcpy(flip, tok, strlen(tok) + 1);
    char *last = flip + strlen(flip) - 1;
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    *last = alphabet[(strchr(alphabet, *last) - alphabet) ^ 1];
    expect_refused(flip, NOW, "bad signature");
    /* Truncated, empty and over-long signatures, and padding. */
    memcpy(flip, tok, strlen(tok) + 1);
    flip[strlen(flip) - 1] = '\0';
    expect_refused(flip, NOW, "bad signature");
    memcpy(flip, tok, strlen(tok) + 1);
    strrchr(flip, '.')[1] = '\0';
    expect_refused(flip, NOW, "bad signature");
    size_t longer_size = strlen(tok) + 8;
    char *longer = malloc(longer_size);
    snprintf(longer, longer_size, "%sAAAA", tok);
    expect_refused(longer, NOW, "bad signature");
    snprintf(longer, longer_size, "%s=", tok);
    expect_refused(longer, NOW, "bad signature");
    /* The claims changed under the original signature. */
    char *tampered = forge(HS256, "{\"exp\":1800000000}", strrchr(tok, '.') + 1);
    expect_refused(tampered, NOW, "bad signature");
    free(tampered);
    free(longer);
    free(flip);
    free(tok);
}

Test(jwt, only_hs256_is_accepted)
{
    const char *headers[] = {
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"none\"}",
        "{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS384\"}",
        "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"ES256\"}",
        "{\"alg\":\"hs256\"}",
        "{\"alg\":\"HS256 \"}",
        "{\"alg\":\"\"}",
        "{\"alg\":null}",
        "{\"alg\":[\"HS256\"]}",
        "{\"typ\":\"JWT\"}",
        "{}",
    };
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        /* Correctly MACed with our key, so only the header can be the reason. */
        char *tok = forge(headers[i], GOOD_CLAIMS, NULL);
        expect_refused(tok, NOW, "unsupported algorithm");
        free(tok);
    }
    char *none_empty = forge("{\"alg\":\"none\"}", GOOD_CLAIMS, "");
    expect_refused(none_empty, NOW, "unsupported algorithm");
    free(none_empty);
    char *nul = forge("{\"alg\":\"HS256\\u0000\"}", GOOD_CLAIMS, NULL);
    expect_refused(nul, NOW, "unsupported algorithm");
    free(nul);
}

Test(jwt, the_header_holds_alg_and_typ_only)
{
    char *ok1 = forge("{\"alg\":\"HS256\"}", GOOD_CLAIMS, NULL);
    char *ok2 = forge("{ \"typ\" : \"JWT\", \"alg\" : \"HS256\" }", GOOD_CLAIMS, NULL);
    json_decref(verified(ok1, NOW));
    json_decref(verified(ok2, NOW));
    const char *bad[] = {
        "{\"alg\":\"HS256\",\"typ\":\"JWS\"}",
        "{\"alg\":\"HS256\",\"typ\":1}",
        "{\"alg\":\"HS256\",\"kid\":\"k1\"}",
        "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
        "{\"alg\":\"HS256\",\"jku\":\"https://evil.example/keys\"}",
        "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
        "[\"HS256\"]",
        "\"HS256\"",
        "{\"alg\":\"HS256\"",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *tok = forge(bad[i], GOOD_CLAIMS, NULL);
        expect_refused(tok, NOW, "malformed");
        free(tok);
    }
    /* The header re-encoded (same meaning, other bytes) under the original signature. */
    char *signed_tok = forge(HS256, GOOD_CLAIMS, NULL);
    char *swapped =
        forge("{\"typ\":\"JWT\",\"alg\":\"HS256\"}", GOOD_CLAIMS, strrchr(signed_tok, '.') + 1);
    expect_refused(swapped, NOW, "bad signature");
    free(swapped);
    free(signed_tok);
    free(ok1);
    free(ok2);
}

Test(jwt, claims_must_be_an_object_without_duplicate_keys)
{
    const char *bad[] = {
        "{\"exp\":1700000100,\"sub\":\"a\",\"sub\":\"b\"}",
        "{\"exp\":1700000100,\"exp\":1900000000}",
        "[1700000100]",
        "1700000100",
        "{\"exp\":1700000100",
        "{\"exp\":1700000100}x",
        "\xff",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *tok = forge(HS256, bad[i], NULL);
        expect_refused(tok, NOW, "malformed");
        free(tok);
    }
}

Test(jwt, structure_is_three_base64url_parts)
{
    char *tok = sign(json_pack("{s:I}", "exp", (json_int_t)NOW + 60));
    char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char buf[1024];
    /* Two parts. */
    snprintf(buf, sizeof(buf), "%.*s", (int)(dot2 - tok), tok);
    expect_refused(buf, NOW, "malformed");
    /* Four parts. */
    snprintf(buf, sizeof(buf), "%s.%s", tok, dot2 + 1);
    expect_refused(buf, NOW, "malformed");
    snprintf(buf, sizeof(buf), "%s.", tok);
    expect_refused(buf, NOW, "malformed");
    /* Empty header or claims. */
    snprintf(buf, sizeof(buf), "%s", dot1);
    expect_refused(buf, NOW, "malformed");
    snprintf(buf, sizeof(buf), "%.*s.%s", (int)(dot1 - tok), tok, dot2);
    expect_refused(buf, NOW, "malformed");
    /* Characters outside base64url, padding, white space. */
    snprintf(buf, sizeof(buf), "%.*s=%s", (int)(dot1 - tok), tok, dot1);
    expect_refused(buf, NOW, "malformed");
    snprintf(buf, sizeof(buf), " %s", tok);
    expect_refused(buf, NOW, "malformed");
    snprintf(buf, sizeof(buf), "%s", tok);
    buf[dot1 - tok + 2] = '+';
    expect_refused(buf, NOW, "bad signature");
    expect_refused("", NOW, "malformed");
    expect_refused(".", NOW, "malformed");
    expect_refused("..", NOW, "malformed");
    expect_refused("a.b.c", NOW, "malformed");
    expect_refused(NULL, NOW, "malformed");
    /* Too long. */
    char *huge = malloc(TIX_JWT_MAX_TOKEN_BYTES + 100);
    memset(huge, 'A', TIX_JWT_MAX_TOKEN_BYTES + 99);
    huge[TIX_JWT_MAX_TOKEN_BYTES + 99] = '\0';
    memcpy(huge, tok, strlen(tok));
    expect_refused(huge, NOW, "malformed");
    free(huge);
    free(tok);
}

Test(jwt, keys_must_be_long_enough_and_claims_an_object)
{
    char *tok = NULL;
    struct tix_err err;
    json_t *claims = json_pack("{s:I}", "exp", (json_int_t)NOW);
    cr_assert_eq(tix_jwt_sign(claims, key32, 31, &tok, &err), TIX_EINVAL);
    cr_assert_str_eq(err.field, "key");
    cr_assert_null(tok);
    cr_assert_eq(tix_jwt_sign(claims, NULL, 32, &tok, &err), TIX_EINVAL);
    json_t *arr = json_array();
    cr_assert_eq(tix_jwt_sign(arr, key32, 32, &tok, &err), TIX_EINVAL);
    cr_assert_str_eq(err.field, "claims");
    json_decref(arr);
    uint8_t key64[64] = {1};
    cr_assert_eq(tix_jwt_sign(claims, key64, sizeof(key64), &tok, NULL), TIX_OK);
    json_t *back = NULL;
    cr_assert_eq(tix_jwt_verify(tok, key64, sizeof(key64), NOW, &back, NULL), TIX_OK);
    json_decref(back);
    back = NULL;
    cr_assert_eq(tix_jwt_verify(tok, key64, 31, NOW, &back, &err), TIX_EINVAL);
    cr_assert_str_eq(err.field, "key");
    cr_assert_eq(tix_jwt_verify(tok, key32, 32, NOW, &back, &err), TIX_EINVAL);
    cr_assert_str_eq(err.msg, "bad signature");
    free(tok);
    /* Claims too large for a token. */
    char *big = malloc(TIX_JWT_MAX_TOKEN_BYTES);
    memset(big, 'x', TIX_JWT_MAX_TOKEN_BYTES - 1);
    big[TIX_JWT_MAX_TOKEN_BYTES - 1] = '\0';
    json_object_set_new(claims, "big", json_string(big));
    cr_assert_eq(tix_jwt_sign(claims, key32, 32, &tok, &err), TIX_EINVAL);
    cr_assert_null(tok);
    free(big);
    json_decref(claims);
}

/* ---- SHA-1 and HMAC-SHA1 ------------------------------------------------------------------ */

static void expect_sha1(const void *data, size_t len, const char *want)
{
    uint8_t h[TIX_SHA1_BYTES];
    char hex[41];
    tix_totp_sha1(data, len, h);
    hex_of(h, sizeof(h), hex);
    cr_assert_str_eq(hex, want);
}

Test(totp, sha1_fips_vectors)
{
    expect_sha1("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    expect_sha1("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    expect_sha1(m448, strlen(m448), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    const char *m896 =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklm"
        "nopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    expect_sha1(m896, strlen(m896), "a49b2446a02c645bf419f995b67091253a04a259");
    char *million = malloc(1000000);
    memset(million, 'a', 1000000);
    expect_sha1(million, 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    free(million);
    /* Lengths around the padding boundary (55, 56, 63, 64 bytes), against Python's hashlib. */
    char x[64];
    memset(x, 'x', sizeof(x));
    expect_sha1(x, 55, "cef734ba81a024479e09eb5a75b6ddae62e6abf1");
    expect_sha1(x, 56, "901305367c259952f4e7af8323f480d59f81335b");
    expect_sha1(x, 64, "bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163");
}

static void expect_hmac(const uint8_t *key, size_t key_len, const char *msg, const char *want)
{
    uint8_t h[TIX_SHA1_BYTES];
    char hex[41];
    tix_totp_hmac_sha1(key, key_len, msg, strlen(msg), h);
    hex_of(h, sizeof(h), hex);
    cr_assert_str_eq(hex, want, "%s", msg);
}

Test(totp, hmac_sha1_rfc2202_vectors)
{
    uint8_t k20[20], kaa80[80];
    memset(k20, 0x0b, sizeof(k20));
    expect_hmac(k20, 20, "Hi There", "b617318655057264e28bc0b6fb378c8ef146be00");
    expect_hmac((const uint8_t *)"Jefe", 4, "what do ya want for nothing?",
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    memset(kaa80, 0xaa, sizeof(kaa80));
    expect_hmac(kaa80, 80, "Test Using Larger Than Block-Size Key - Hash Key First",
                "aa4ae5e15272d00e95705637ce8a3b55ed402112");
    expect_hmac(kaa80, 80,
                "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
                "e8e99d0f45237d786d6bbaa7965c7808bbff1a91");
}

/* ---- HOTP and TOTP ------------------------------------------------------------------------ */

static const uint8_t rfc_secret[] = "12345678901234567890";

Test(totp, hotp_rfc4226_vectors)
{
    const uint32_t want[] = {755224, 287082, 359152, 969429, 338314,
                             254676, 287922, 162583, 399871, 520489};
    for (uint64_t c = 0; c < 10; c++)
        cr_assert_eq(tix_totp_hotp(rfc_secret, 20, c, 6), want[c], "counter %d", (int)c);
}

Test(totp, totp_rfc6238_sha1_vectors)
{
    const struct {
        int64_t t;
        uint32_t code8;
    } v[] = {
        {59, 94287082},         {1111111109, 7081804},  {1111111111, 14050471},
        {1234567890, 89005924}, {2000000000, 69279037}, {20000000000LL, 65353130},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int64_t step = tix_totp_step(v[i].t);
        cr_assert_eq(tix_totp_hotp(rfc_secret, 20, (uint64_t)step, 8), v[i].code8, "t=%lld",
                     (long long)v[i].t);
        /* The 6-digit code is the same truncation, modulo 10^6. */
        cr_assert_eq(tix_totp_code(rfc_secret, 20, step), v[i].code8 % 1000000);
        char code[8];
        snprintf(code, sizeof(code), "%06u", (unsigned)(v[i].code8 % 1000000));
        int64_t matched = -1;
        cr_assert(tix_totp_verify(rfc_secret, 20, code, v[i].t, 0, &matched), "t=%lld",
                  (long long)v[i].t);
        cr_assert_eq(matched, step);
    }
}

Test(totp, steps_are_floors_of_30_seconds)
{
    cr_assert_eq(tix_totp_step(0), 0);
    cr_assert_eq(tix_totp_step(29), 0);
    cr_assert_eq(tix_totp_step(30), 1);
    cr_assert_eq(tix_totp_step(59), 1);
    cr_assert_eq(tix_totp_step(-1), -1);
    cr_assert_eq(tix_totp_step(-30), -1);
    cr_assert_eq(tix_totp_step(-31), -2);
    cr_assert_eq(tix_totp_step(1111111109), 37037036);
}

static void code_at(int64_t step, char out[8])
{
    snprintf(out, 8, "%06u", (unsigned)tix_totp_code(rfc_secret, 20, step));
}

Test(totp, verify_accepts_the_window_and_reports_the_step)
{
    const int64_t now = 1700000015; /* step 56666667, 15 s into it */
    const int64_t step = tix_totp_step(now);
    char code[8];
    int64_t matched = 0;
    for (int d = -1; d <= 1; d++) {
        code_at(step + d, code);
        matched = 0;
        cr_assert(tix_totp_verify(rfc_secret, 20, code, now, 1, &matched), "offset %d", d);
        cr_assert_eq(matched, step + d);
        cr_assert_eq(tix_totp_verify(rfc_secret, 20, code, now, 0, NULL), d == 0);
    }
    for (int d = -3; d <= 3; d += 6) {
        code_at(step + d, code);
        matched = 42;
        cr_assert_not(tix_totp_verify(rfc_secret, 20, code, now, 1, &matched), "offset %d", d);
        cr_assert_eq(matched, 42, "untouched on failure");
        cr_assert(tix_totp_verify(rfc_secret, 20, code, now, 3, &matched));
        cr_assert_eq(matched, step + d);
    }
    code_at(step, code);
    uint8_t other[20];
    memcpy(other, rfc_secret, 20);
    other[0] ^= 1;
    cr_assert_not(tix_totp_verify(other, 20, code, now, 1, NULL), "another secret");
    cr_assert_not(tix_totp_verify(rfc_secret, 20, code, now, -1, NULL));
    cr_assert_not(tix_totp_verify(rfc_secret, 20, code, now, 11, NULL));
}

Test(totp, verify_refuses_malformed_codes_and_negative_steps)
{
    const char *bad[] = {NULL,     "",        "12345",  "1234567", "12345a",
                         " 12345", "123456 ", "+12345", "-12345",  "١٢٣٤٥٦"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(tix_totp_verify(rfc_secret, 20, bad[i], 1700000000, 1, NULL), "%zu", i);
    /* At time 10 (step 0) the window reaches step -1, which does not exist. */
    char code[8];
    code_at(-1, code);
    cr_assert_not(tix_totp_verify(rfc_secret, 20, code, 10, 1, NULL));
    code_at(0, code);
    cr_assert(tix_totp_verify(rfc_secret, 20, code, 10, 1, NULL));
}

/* ---- base32 and URIs ---------------------------------------------------------------------- */

Test(totp, base32_rfc4648_vectors)
{
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI"};
    const char *padded[] = {
        "", "MY======", "MZXQ====", "MZXW6===", "MZXW6YQ=", "MZXW6YTB", "MZXW6YTBOI======"};
    for (int i = 0; i < 7; i++) {
        char out[32];
        cr_assert_eq(tix_totp_encode_base32((const uint8_t *)plain[i], strlen(plain[i]), out,
                                            sizeof(out), NULL),
                     TIX_OK);
        cr_assert_str_eq(out, enc[i]);
        uint8_t bin[16];
        size_t n = 99;
        cr_assert_eq(tix_totp_decode_base32(enc[i], bin, sizeof(bin), &n, NULL), TIX_OK);
        cr_assert_eq(n, strlen(plain[i]));
        cr_assert_eq(memcmp(bin, plain[i], n), 0);
        cr_assert_eq(tix_totp_decode_base32(padded[i], bin, sizeof(bin), &n, NULL), TIX_OK);
        cr_assert_eq(n, strlen(plain[i]));
        char lower[32];
        for (size_t k = 0; k <= strlen(enc[i]); k++)
            lower[k] = (char)(enc[i][k] >= 'A' && enc[i][k] <= 'Z' ? enc[i][k] + 32 : enc[i][k]);
        cr_assert_eq(tix_totp_decode_base32(lower, bin, sizeof(bin), &n, NULL), TIX_OK);
        cr_assert_eq(memcmp(bin, plain[i], n), 0);
    }
}

Test(totp, base32_round_trips_random_bytes)
{
    for (size_t len = 0; len <= 64; len++) {
        uint8_t in[64], back[64];
        char text[128];
        randombytes_buf(in, len);
        cr_assert_eq(tix_totp_encode_base32(in, len, text, (len * 8 + 4) / 5 + 1, NULL), TIX_OK);
        cr_assert_eq(strlen(text), (len * 8 + 4) / 5);
        size_t n = 0;
        cr_assert_eq(tix_totp_decode_base32(text, back, len, &n, NULL), TIX_OK, "len %zu", len);
        cr_assert_eq(n, len);
        cr_assert_eq(memcmp(in, back, len), 0);
    }
}

Test(totp, base32_refuses_bad_text_and_small_buffers)
{
    const char *bad[] = {"MZ", "M", "MZX", "MZXW6Y", "MY1", "MY0", "MY8", "MY ", "M=Y", "MY-"};
    uint8_t bin[16];
    size_t n = 7;
    struct tix_err err;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(tix_totp_decode_base32(bad[i], bin, sizeof(bin), &n, &err), TIX_EINVAL, "%s",
                     bad[i]);
        cr_assert_str_eq(err.field, "secret");
        cr_assert_eq(n, 0);
    }
    cr_assert_eq(tix_totp_decode_base32(NULL, bin, sizeof(bin), &n, &err), TIX_EINVAL);
    cr_assert_eq(tix_totp_decode_base32("MZXW6YTBOI", bin, 5, &n, &err), TIX_EINVAL);
    cr_assert_eq(tix_totp_decode_base32("MZXW6YTBOI", bin, 6, &n, &err), TIX_OK);
    char out[8] = "zzz";
    cr_assert_eq(tix_totp_encode_base32((const uint8_t *)"foobar", 6, out, 8, &err), TIX_EINVAL);
    cr_assert_str_eq(out, "");
}

Test(totp, otpauth_uri)
{
    char *uri = NULL;
    struct tix_err err;
    cr_assert_eq(tix_totp_uri("TixMo", "ana@example.com", "JBSWY3DPEHPK3PXP", &uri, &err), TIX_OK);
    cr_assert_str_eq(uri, "otpauth://totp/TixMo:ana%40example.com?secret=JBSWY3DPEHPK3PXP"
                          "&issuer=TixMo&algorithm=SHA1&digits=6&period=30");
    free(uri);
    cr_assert_eq(tix_totp_uri("Tix Mo & Co", "Zo\xc3\xab+1/x?y", "MZXW6", &uri, NULL), TIX_OK);
    cr_assert_str_eq(uri, "otpauth://totp/Tix%20Mo%20%26%20Co:Zo%C3%AB%2B1%2Fx%3Fy?secret=MZXW6"
                          "&issuer=Tix%20Mo%20%26%20Co&algorithm=SHA1&digits=6&period=30");
    free(uri);
    const char *cases[][4] = {
        {"", "a", "MZXW6", "issuer"},  {"T:x", "a", "MZXW6", "issuer"},
        {"T", "", "MZXW6", "account"}, {"T", "a:b", "MZXW6", "account"},
        {"T", "a", "mzxw6", "secret"}, {"T", "a", "MZXW6===", "secret"},
        {"T", "a", "", "secret"},      {"T", "a", "MZ XW6", "secret"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uri = (char *)1;
        cr_assert_eq(tix_totp_uri(cases[i][0], cases[i][1], cases[i][2], &uri, &err), TIX_EINVAL,
                     "case %zu", i);
        cr_assert_null(uri);
        cr_assert_str_eq(err.field, cases[i][3], "case %zu", i);
    }
    cr_assert_eq(tix_totp_uri(NULL, "a", "MZXW6", &uri, &err), TIX_EINVAL);
    cr_assert_eq(tix_totp_uri("T", NULL, "MZXW6", &uri, &err), TIX_EINVAL);
    cr_assert_eq(tix_totp_uri("T", "a", NULL, &uri, &err), TIX_EINVAL);
}

/* ---- PII: keys, sealing, blind indexes, email --------------------------------------------- */

#define PII_KEY_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define SUBJECT     "0190c1e2-0000-7000-8000-000000000001"
#define SUBJECT2    "0190c1e2-0000-7000-8000-000000000002"

Test(pii, parse_key)
{
    uint8_t k[TIX_PII_KEY_BYTES];
    struct tix_err err;
    cr_assert_eq(tix_pii_parse_key(PII_KEY_HEX, k, &err), TIX_OK);
    cr_assert_eq(k[0], 0x00);
    cr_assert_eq(k[1], 0x11);
    cr_assert_eq(k[31], 0xff);
    const char *bad[] = {NULL, "", "0011", PII_KEY_HEX "00",
                         "zz112233445566778899aabbccddeeff"
                         "00112233445566778899aabbccddeeff"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(tix_pii_parse_key(bad[i], k, &err), TIX_EINVAL);
        cr_assert_str_eq(err.field, "pii_key");
    }
}

static bool is_b64url(const char *s)
{
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
           strlen(s);
}

Test(pii, seal_and_open)
{
    uint8_t key[TIX_PII_KEY_BYTES], other[TIX_PII_KEY_BYTES];
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    crypto_aead_xchacha20poly1305_ietf_keygen(other);
    const char *values[] = {"ana@example.com", "", "Zo\xc3\xab \xf0\x9f\x8e\xab"};
    for (size_t i = 0; i < 3; i++) {
        char *a = NULL, *b = NULL, *back = NULL;
        cr_assert_eq(tix_pii_seal(key, SUBJECT, values[i], &a, NULL), TIX_OK);
        cr_assert_eq(tix_pii_seal(key, SUBJECT, values[i], &b, NULL), TIX_OK);
        cr_assert_eq(strncmp(a, "v1:", 3), 0);
        cr_assert(is_b64url(a + 3), "%s", a);
        cr_assert_eq(strlen(a + 3), (24 + strlen(values[i]) + 16) * 4 / 3 +
                                        ((24 + strlen(values[i]) + 16) % 3 != 0));
        cr_assert_str_neq(a, b, "a fresh nonce each time");
        cr_assert_null(strstr(a, "example"));
        cr_assert_eq(tix_pii_open(key, SUBJECT, a, &back, NULL), TIX_OK);
        cr_assert_str_eq(back, values[i]);
        free(back);
        struct tix_err err;
        back = (char *)1;
        cr_assert_eq(tix_pii_open(key, SUBJECT2, a, &back, &err), TIX_EINVAL, "other subject");
        cr_assert_null(back);
        cr_assert_str_eq(err.field, "ciphertext");
        cr_assert_eq(tix_pii_open(other, SUBJECT, a, &back, &err), TIX_EINVAL, "other key");
        a[strlen(a) - 2] = a[strlen(a) - 2] == 'A' ? 'B' : 'A';
        cr_assert_eq(tix_pii_open(key, SUBJECT, a, &back, &err), TIX_EINVAL, "tampered");
        free(a);
        free(b);
    }
}

Test(pii, open_refuses_malformed_ciphertexts)
{
    uint8_t key[TIX_PII_KEY_BYTES];
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    char *good = NULL;
    cr_assert_eq(tix_pii_seal(key, SUBJECT, "x", &good, NULL), TIX_OK);
    char v2[256], padded[256], cut[256];
    snprintf(v2, sizeof(v2), "v2:%s", good + 3);
    snprintf(padded, sizeof(padded), "%s=", good);
    snprintf(cut, sizeof(cut), "%.30s", good);
    const char *bad[] = {NULL, "",     "v1", "v1:",    "v1:AAAA", "V1:AAAA",
                         v2,   padded, cut,  good + 3, "v1:!!!!"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = (char *)1;
        struct tix_err err;
        cr_assert_eq(tix_pii_open(key, SUBJECT, bad[i], &out, &err), TIX_EINVAL, "case %zu", i);
        cr_assert_null(out);
        cr_assert_str_eq(err.field, "ciphertext");
    }
    char *out = NULL;
    struct tix_err err;
    cr_assert_eq(tix_pii_open(key, "", good, &out, &err), TIX_EINVAL);
    cr_assert_str_eq(err.field, "subject_id");
    cr_assert_eq(tix_pii_seal(key, NULL, "x", &out, &err), TIX_EINVAL);
    cr_assert_eq(tix_pii_seal(key, SUBJECT, NULL, &out, &err), TIX_EINVAL);
    free(good);
}

Test(pii, blind_index_is_keyed_deterministic_and_separated_by_kind)
{
    uint8_t k[TIX_PII_KEY_BYTES], k2[TIX_PII_KEY_BYTES];
    cr_assert_eq(tix_pii_parse_key(PII_KEY_HEX, k, NULL), TIX_OK);
    memcpy(k2, k, sizeof(k));
    k2[0] ^= 1;
    char a[TIX_PII_BLIND_INDEX_SIZE], b[TIX_PII_BLIND_INDEX_SIZE];
    /* Computed with Python: BLAKE2b(key=pii, salt=id 1 LE, person="tixblind") as the subkey,
     * then HMAC-SHA256(subkey, "email\0ana@example.com"). */
    tix_pii_blind_index(k, "email", "ana@example.com", a);
    cr_assert_str_eq(a, "b5ebfb46fd86fbc5902a397fcf54d3ac24f943f4b891b647168b56d5fd9909bb");
    tix_pii_blind_index(k, "email", "ana@example.com", b);
    cr_assert_str_eq(a, b);
    tix_pii_blind_index(k, "phone", "ana@example.com", b);
    cr_assert_str_neq(a, b);
    tix_pii_blind_index(k2, "email", "ana@example.com", b);
    cr_assert_str_neq(a, b);
    tix_pii_blind_index(k, "email", "ana@example.co", b);
    cr_assert_str_neq(a, b);
    /* The separator keeps (kind, value) pairs apart. */
    tix_pii_blind_index(k, "ab", "c", a);
    tix_pii_blind_index(k, "a", "bc", b);
    cr_assert_str_neq(a, b);
    cr_assert_eq(strlen(a), 64);
    cr_assert_eq(strspn(a, "0123456789abcdef"), 64);
}

Test(pii, normalize_email)
{
    const char *cases[][2] = {
        {"ana@example.com", "ana@example.com"},
        {"  Ana.Lopez+Tix@Example.COM \t\n", "ana.lopez+tix@example.com"},
        {"a@b.co", "a@b.co"},
        {"ZO\xc3\x8b@EXAMPLE.org", "zo\xc3\x8b@example.org"},
        {"x@sub.domain.example", "x@sub.domain.example"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[TIX_PII_EMAIL_MAX + 1];
        struct tix_err err;
        cr_assert_eq(tix_pii_normalize_email(cases[i][0], out, sizeof(out), &err), TIX_OK, "%s: %s",
                     cases[i][0], err.msg);
        cr_assert_str_eq(out, cases[i][1]);
    }
}

Test(pii, normalize_email_refuses_bad_addresses)
{
    char local250[256], long_ok[256];
    memset(local250, 'a', 250);
    snprintf(local250 + 250, 6, "@b.co"); /* 255 bytes */
    memset(long_ok, 'a', 249);
    snprintf(long_ok + 249, 6, "@b.co"); /* 254 bytes */
    const char *bad[] = {NULL,      "",          "   ",        "ana",          "@example.com",
                         "ana@",    "ana@com",   "a@@b.co",    "a@b@c.co",     "ana@.example",
                         "ana@ex.", "an a@b.co", "ana@b\t.co", "ana\x01@b.co", local250};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[TIX_PII_EMAIL_MAX + 1] = "x";
        struct tix_err err;
        cr_assert_eq(tix_pii_normalize_email(bad[i], out, sizeof(out), &err), TIX_EINVAL,
                     "accepted case %zu", i);
        cr_assert_str_eq(err.field, "email");
        cr_assert_str_eq(out, "");
    }
    char out[TIX_PII_EMAIL_MAX + 1];
    cr_assert_eq(tix_pii_normalize_email(long_ok, out, sizeof(out), NULL), TIX_OK);
    cr_assert_eq(tix_pii_normalize_email("ana@example.com", out, 15, NULL), TIX_EINVAL,
                 "no room for the NUL");
    cr_assert_eq(tix_pii_normalize_email("ana@example.com", out, 16, NULL), TIX_OK);
}
