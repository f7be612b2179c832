/* pii.c - per-subject keys in subject_keys, envelope encryption, blind indexes
 *
 * Layout of a stored wrapped key (72 bytes): secretbox nonce (24) || secretbox of the 32-byte
 * subject key (32 + 16 MAC). Layout of a ciphertext: "v1:" || base64url-nopad(XChaCha20
 * nonce (24) || ciphertext || Poly1305 tag (16)), the subject id as associated data. Unwrapped
 * keys live on the stack only as long as one call needs them and are wiped before returning.
 *
 * The SQL is three statements: create (insert unless present, then report erasure), load, and
 * erase (upsert a tombstone). Erasure being final is enforced by the table (003_identity.sql),
 * not only here.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tix/mem.h"
#include "tix/pii.h"

#define WRAPPED_BYTES (crypto_secretbox_NONCEBYTES + TIX_PII_KEY_BYTES + crypto_secretbox_MACBYTES)
#define NONCE_BYTES   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES     crypto_aead_xchacha20poly1305_ietf_ABYTES
#define B64_VARIANT   sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define PREFIX        "v1:"

_Static_assert(crypto_secretbox_KEYBYTES == TIX_PII_KEY_BYTES, "secretbox key size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == TIX_PII_KEY_BYTES, "aead key size");

enum tix_rc tix_pii_parse_key(const char *hex, uint8_t out[TIX_PII_KEY_BYTES], struct tix_err *err)
{
    size_t n = 0;
    if (hex == NULL || strlen(hex) != 2 * TIX_PII_KEY_BYTES ||
        sodium_hex2bin(out, TIX_PII_KEY_BYTES, hex, 2 * TIX_PII_KEY_BYTES, NULL, &n, NULL) != 0 ||
        n != TIX_PII_KEY_BYTES) {
        sodium_memzero(out, TIX_PII_KEY_BYTES);
        return tix_err_set(err, TIX_EINVAL, "pii_key", "the PII key must be 64 hex characters");
    }
    return TIX_OK;
}

static enum tix_rc check_subject(const char *subject_id, struct tix_err *err)
{
    if (subject_id == NULL || subject_id[0] == '\0' ||
        strnlen(subject_id, TIX_PII_SUBJECT_MAX + 1) > TIX_PII_SUBJECT_MAX)
        return tix_err_set(err, TIX_EINVAL, "subject_id", "subject_id must be 1..%d bytes",
                           TIX_PII_SUBJECT_MAX);
    return TIX_OK;
}

/* ---- keys in the database ------------------------------------------------------------------ */

/* Writes "\x" + hex of a new wrapped random key into out. */
static void new_wrapped_key(const uint8_t pii_key[TIX_PII_KEY_BYTES],
                            char out[2 + 2 * WRAPPED_BYTES + 1])
{
    uint8_t key[TIX_PII_KEY_BYTES], wrapped[WRAPPED_BYTES];
    crypto_secretbox_keygen(key);
    randombytes_buf(wrapped, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(wrapped + crypto_secretbox_NONCEBYTES, key, sizeof(key), wrapped,
                          pii_key);
    sodium_memzero(key, sizeof(key));
    out[0] = '\\';
    out[1] = 'x';
    sodium_bin2hex(out + 2, 2 * WRAPPED_BYTES + 1, wrapped, sizeof(wrapped));
}

enum tix_rc tix_pii_create_key(struct tix_db *db, const uint8_t pii_key[TIX_PII_KEY_BYTES],
                               const char *subject_id, struct tix_err *err)
{
    if (check_subject(subject_id, err) != TIX_OK)
        return TIX_EINVAL;
    char wrapped_hex[2 + 2 * WRAPPED_BYTES + 1];
    new_wrapped_key(pii_key, wrapped_hex);
    const char *params[] = {subject_id, wrapped_hex};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec(
        db,
        "WITH ins AS (INSERT INTO subject_keys (subject_id, wrapped_key) VALUES ($1, $2::bytea)"
        " ON CONFLICT (subject_id) DO NOTHING RETURNING 1)"
        " SELECT (SELECT count(*) FROM ins),"
        " (SELECT erased_at IS NOT NULL FROM subject_keys WHERE subject_id = $1)",
        2, params, &res, err);
    if (rc != TIX_OK)
        return rc;
    bool is_erased = strcmp(PQgetvalue(res, 0, 0), "0") == 0 && !PQgetisnull(res, 0, 1) &&
                     strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    PQclear(res);
    if (is_erased)
        return tix_err_set(err, TIX_ENOTFOUND, "subject_id", "erased");
    return TIX_OK;
}

enum tix_rc tix_pii_unwrap_key(const uint8_t pii_key[TIX_PII_KEY_BYTES], const char *text,
                               uint8_t key[TIX_PII_KEY_BYTES], struct tix_err *err)
{
    uint8_t wrapped[WRAPPED_BYTES];
    size_t n = 0;
    bool is_ok = strncmp(text, "\\x", 2) == 0 && strlen(text + 2) == 2 * WRAPPED_BYTES &&
                 sodium_hex2bin(wrapped, sizeof(wrapped), text + 2, 2 * WRAPPED_BYTES, NULL, &n,
                                NULL) == 0 &&
                 n == WRAPPED_BYTES &&
                 crypto_secretbox_open_easy(key, wrapped + crypto_secretbox_NONCEBYTES,
                                            WRAPPED_BYTES - crypto_secretbox_NONCEBYTES, wrapped,
                                            pii_key) == 0;
    if (!is_ok) {
        sodium_memzero(key, TIX_PII_KEY_BYTES);
        return tix_err_set(err, TIX_EINTERNAL, "",
                           "a subject key does not open under the PII key (wrong TIXMO_PII_KEY?)");
    }
    return TIX_OK;
}

enum tix_rc tix_pii_load_key(struct tix_db *db, const uint8_t pii_key[TIX_PII_KEY_BYTES],
                             const char *subject_id, uint8_t key[TIX_PII_KEY_BYTES],
                             struct tix_err *err)
{
    sodium_memzero(key, TIX_PII_KEY_BYTES);
    if (check_subject(subject_id, err) != TIX_OK)
        return TIX_EINVAL;
    const char *params[] = {subject_id};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec_prepared(
        db, "tix_pii_load_key", "SELECT wrapped_key FROM subject_keys WHERE subject_id = $1", 1,
        params, &res, err);
    if (rc != TIX_OK)
        return rc;
    if (PQntuples(res) == 0)
        rc = tix_err_set(err, TIX_ENOTFOUND, "subject_id", "no key");
    else if (PQgetisnull(res, 0, 0))
        rc = tix_err_set(err, TIX_ENOTFOUND, "subject_id", "erased");
    else
        rc = tix_pii_unwrap_key(pii_key, PQgetvalue(res, 0, 0), key, err);
    PQclear(res);
    return rc;
}

enum tix_rc tix_pii_erase(struct tix_db *db, const char *subject_id, struct tix_err *err)
{
    if (check_subject(subject_id, err) != TIX_OK)
        return TIX_EINVAL;
    const char *params[] = {subject_id};
    return tix_db_exec(db,
                       "INSERT INTO subject_keys (subject_id, wrapped_key, erased_at)"
                       " VALUES ($1, NULL, now()) ON CONFLICT (subject_id) DO UPDATE SET"
                       " wrapped_key = NULL,"
                       " erased_at = COALESCE(subject_keys.erased_at, EXCLUDED.erased_at)",
                       1, params, NULL, err);
}

/* ---- sealing values ------------------------------------------------------------------------ */

enum tix_rc tix_pii_seal(const uint8_t key[TIX_PII_KEY_BYTES], const char *subject_id,
                         const char *plaintext, char **out, struct tix_err *err)
{
    *out = NULL;
    if (check_subject(subject_id, err) != TIX_OK)
        return TIX_EINVAL;
    size_t len = plaintext != NULL ? strnlen(plaintext, TIX_PII_PLAINTEXT_MAX + 1) : 0;
    if (plaintext == NULL || len > TIX_PII_PLAINTEXT_MAX)
        return tix_err_set(err, TIX_EINVAL, "plaintext", "plaintext must be at most %d bytes",
                           TIX_PII_PLAINTEXT_MAX);
    size_t box_len = NONCE_BYTES + len + TAG_BYTES;
    uint8_t *box = tix_xmalloc(box_len);
    randombytes_buf(box, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(box + NONCE_BYTES, NULL, (const uint8_t *)plaintext,
                                               len, (const uint8_t *)subject_id, strlen(subject_id),
                                               NULL, box, key);
    size_t b64_size = sodium_base64_ENCODED_LEN(box_len, B64_VARIANT);
    char *text = tix_xmalloc(sizeof(PREFIX) - 1 + b64_size);
    memcpy(text, PREFIX, sizeof(PREFIX) - 1);
    sodium_bin2base64(text + sizeof(PREFIX) - 1, b64_size, box, box_len, B64_VARIANT);
    free(box);
    *out = text;
    return TIX_OK;
}

enum tix_rc tix_pii_open(const uint8_t key[TIX_PII_KEY_BYTES], const char *subject_id,
                         const char *ciphertext, char **plaintext, struct tix_err *err)
{
    *plaintext = NULL;
    if (check_subject(subject_id, err) != TIX_OK)
        return TIX_EINVAL;
    size_t b64_len = ciphertext != NULL ? strlen(ciphertext) : 0;
    if (b64_len < sizeof(PREFIX) - 1 || strncmp(ciphertext, PREFIX, sizeof(PREFIX) - 1) != 0)
        return tix_err_set(err, TIX_EINVAL, "ciphertext", "malformed");
    b64_len -= sizeof(PREFIX) - 1;
    uint8_t *box = tix_xmalloc(b64_len + 1);
    size_t box_len = 0;
    enum tix_rc rc = TIX_OK;
    if (sodium_base642bin(box, b64_len + 1, ciphertext + sizeof(PREFIX) - 1, b64_len, NULL,
                          &box_len, NULL, B64_VARIANT) != 0 ||
        box_len < NONCE_BYTES + TAG_BYTES) {
        rc = tix_err_set(err, TIX_EINVAL, "ciphertext", "malformed");
    } else {
        size_t len = box_len - NONCE_BYTES - TAG_BYTES;
        char *text = tix_xmalloc(len + 1);
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(
                (uint8_t *)text, NULL, NULL, box + NONCE_BYTES, box_len - NONCE_BYTES,
                (const uint8_t *)subject_id, strlen(subject_id), box, key) != 0 ||
            memchr(text, '\0', len) != NULL) {
            free(text);
            rc = tix_err_set(err, TIX_EINVAL, "ciphertext", "cannot decrypt");
        } else {
            text[len] = '\0';
            *plaintext = text;
        }
    }
    free(box);
    return rc;
}

enum tix_rc tix_pii_encrypt(struct tix_db *db, const uint8_t pii_key[TIX_PII_KEY_BYTES],
                            const char *subject_id, const char *plaintext, char **out_b64,
                            struct tix_err *err)
{
    *out_b64 = NULL;
    uint8_t key[TIX_PII_KEY_BYTES];
    enum tix_rc rc = tix_pii_load_key(db, pii_key, subject_id, key, err);
    if (rc == TIX_OK)
        rc = tix_pii_seal(key, subject_id, plaintext, out_b64, err);
    sodium_memzero(key, sizeof(key));
    return rc;
}

enum tix_rc tix_pii_decrypt(struct tix_db *db, const uint8_t pii_key[TIX_PII_KEY_BYTES],
                            const char *subject_id, const char *ciphertext, char **plaintext,
                            struct tix_err *err)
{
    *plaintext = NULL;
    uint8_t key[TIX_PII_KEY_BYTES];
    enum tix_rc rc = tix_pii_load_key(db, pii_key, subject_id, key, err);
    if (rc == TIX_OK)
        rc = tix_pii_open(key, subject_id, ciphertext, plaintext, err);
    sodium_memzero(key, sizeof(key));
    return rc;
}

/* ---- blind indexes and normalization ------------------------------------------------------- */

void tix_pii_blind_index(const uint8_t pii_key[TIX_PII_KEY_BYTES], const char *kind,
                         const char *normalized_value, char out[TIX_PII_BLIND_INDEX_SIZE])
{
    uint8_t subkey[crypto_auth_hmacsha256_KEYBYTES], mac[crypto_auth_hmacsha256_BYTES];
    crypto_kdf_derive_from_key(subkey, sizeof(subkey), 1, "tixblind", pii_key);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, subkey, sizeof(subkey));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)kind, strlen(kind) + 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)normalized_value, strlen(normalized_value));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(subkey, sizeof(subkey));
    sodium_bin2hex(out, TIX_PII_BLIND_INDEX_SIZE, mac, sizeof(mac));
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* True when the lower-cased address s[0..len) has the shape tix_pii_normalize_email wants. */
static bool is_email_shape(const char *s, size_t len)
{
    const char *at = memchr(s, '@', len);
    if (at == NULL || at == s || memchr(at + 1, '@', len - (size_t)(at + 1 - s)) != NULL)
        return false;
    const char *domain = at + 1;
    size_t dlen = len - (size_t)(domain - s);
    if (dlen < 3 || domain[0] == '.' || domain[dlen - 1] == '.' ||
        memchr(domain, '.', dlen) == NULL)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

enum tix_rc tix_pii_normalize_email(const char *in, char *out, size_t size, struct tix_err *err)
{
    if (size > 0)
        out[0] = '\0';
    if (in == NULL)
        return tix_err_set(err, TIX_EINVAL, "email", "email is required");
    size_t len = strlen(in);
    while (len > 0 && is_space(in[0]))
        in++, len--;
    while (len > 0 && is_space(in[len - 1]))
        len--;
    if (len > TIX_PII_EMAIL_MAX || len + 1 > size)
        return tix_err_set(err, TIX_EINVAL, "email", "email must be at most %d bytes",
                           TIX_PII_EMAIL_MAX);
    for (size_t i = 0; i < len; i++)
        out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (char)(in[i] - 'A' + 'a') : in[i];
    out[len] = '\0';
    if (!is_email_shape(out, len)) {
        out[0] = '\0';
        return tix_err_set(err, TIX_EINVAL, "email", "email is not a valid address");
    }
    return TIX_OK;
}
