/* password.c - Argon2id password hashes and the password policy
 *
 * A thin layer over libsodium's crypto_pwhash_str_alg, pinned to Argon2id and the INTERACTIVE
 * cost (see password.h for what that costs). The policy check walks the UTF-8 itself so that it
 * can name the first problem without ever echoing the password. Nothing here keeps state, and
 * nothing here logs.
 */
#include <sodium.h>
#include <string.h>

#include "tix/password.h"

_Static_assert(TIX_PASSWORD_HASH_SIZE == crypto_pwhash_STRBYTES, "hash buffer size");

#define OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

enum tix_rc tix_password_hash(const char *password, char out[TIX_PASSWORD_HASH_SIZE],
                              struct tix_err *err)
{
    out[0] = '\0';
    if (password == NULL)
        return tix_err_set(err, TIX_EINVAL, "password", "password is required");
    if (crypto_pwhash_str_alg(out, password, strlen(password), OPSLIMIT, MEMLIMIT,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        out[0] = '\0';
        return tix_err_set(err, TIX_EINTERNAL, "", "argon2id: out of memory");
    }
    return TIX_OK;
}

/* True when hash is a NUL-terminated string that fits the hash buffer. */
static bool is_hash_string(const char *hash)
{
    return hash != NULL && memchr(hash, '\0', TIX_PASSWORD_HASH_SIZE) != NULL;
}

bool tix_password_verify(const char *hash, const char *password)
{
    if (!is_hash_string(hash) || password == NULL)
        return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

bool tix_password_needs_rehash(const char *hash)
{
    if (!is_hash_string(hash) || strncmp(hash, "$argon2id$", 10) != 0)
        return true;
    return crypto_pwhash_str_needs_rehash(hash, OPSLIMIT, MEMLIMIT) != 0;
}

/* Decodes the UTF-8 sequence at s[*i] (bounded by len) into *cp and advances *i; false when the
 * bytes there are not the shortest encoding of a Unicode scalar value. */
static bool next_code_point(const unsigned char *s, size_t len, size_t *i, unsigned long *cp)
{
    unsigned char c = s[*i];
    size_t n;
    unsigned long min, v;
    if (c < 0x80) {
        *cp = c;
        (*i)++;
        return true;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, min = 0x80, v = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, min = 0x800, v = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, v = c & 0x07;
    } else {
        return false;
    }
    if (len - *i < n)
        return false;
    for (size_t k = 1; k < n; k++) {
        if ((s[*i + k] & 0xc0) != 0x80)
            return false;
        v = (v << 6) | (s[*i + k] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return false;
    *cp = v;
    *i += n;
    return true;
}

enum tix_rc tix_password_check(const char *password, struct tix_err *err)
{
    if (password == NULL)
        return tix_err_set(err, TIX_EINVAL, "password", "password is required");
    size_t len = strlen(password);
    if (len < TIX_PASSWORD_MIN_BYTES || len > TIX_PASSWORD_MAX_BYTES)
        return tix_err_set(err, TIX_EINVAL, "password", "password must be %d to %d bytes long",
                           TIX_PASSWORD_MIN_BYTES, TIX_PASSWORD_MAX_BYTES);
    const unsigned char *s = (const unsigned char *)password;
    unsigned long first = 0, cp = 0;
    bool is_repeated = true;
    for (size_t i = 0; i < len;) {
        bool is_first = i == 0;
        if (!next_code_point(s, len, &i, &cp))
            return tix_err_set(err, TIX_EINVAL, "password", "password must be valid UTF-8");
        if (is_first)
            first = cp;
        is_repeated = is_repeated && cp == first;
    }
    if (is_repeated)
        return tix_err_set(err, TIX_EINVAL, "password",
                           "password must not be one character repeated");
    return TIX_OK;
}
