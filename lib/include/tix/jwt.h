/* jwt.h - JSON Web Tokens, HS256 only (RFC 7519, RFC 7515 compact form)
 *
 * The access tokens of the gateway. One algorithm, one key: a token whose header says anything
 * but {"alg":"HS256"} (with an optional "typ":"JWT") is refused before its signature is looked
 * at, so "none", "HS512", "RS256" and key-confusion tricks never reach the MAC. The key is raw
 * bytes (TIXMO_JWT_SECRET), at least TIX_JWT_MIN_KEY_BYTES long.
 *
 * Verification is strict: exactly three base64url parts without padding (canonical encodings
 * only), header and claims parsed with duplicate keys rejected, the MAC compared in constant
 * time, "exp" required. Times are Unix seconds; a clock skew of TIX_JWT_LEEWAY_S is tolerated
 * both ways ("exp" up to that long in the past, "nbf" and "iat" up to that long in the future).
 *
 * Errors are TIX_EINVAL with field "token" and one of these messages, safe to log or show:
 * "malformed", "unsupported algorithm", "bad signature", "expired", "not yet valid"; and
 * TIX_EINVAL with field "key" for a key shorter than the minimum.
 * Every function is thread-safe (libsodium must be initialized).
 */
#ifndef TIX_JWT_H
#define TIX_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "tix/rc.h"

#define TIX_JWT_MIN_KEY_BYTES   32
#define TIX_JWT_LEEWAY_S        30
#define TIX_JWT_MAX_TOKEN_BYTES 8192

/* Signs claims (a JSON object, borrowed; dumped compact with sorted keys) with HMAC-SHA256
 * under key and writes the compact token into *out, a new string to free with free().
 * Does not add or check any claim: set "exp" yourself, tix_jwt_verify requires it.
 * TIX_EINVAL when claims is not an object, the key is too short or the token would exceed
 * TIX_JWT_MAX_TOKEN_BYTES; *out is NULL on failure. */
enum tix_rc tix_jwt_sign(const json_t *claims, const uint8_t *key, size_t key_len, char **out,
                         struct tix_err *err);

/* Verifies token (NUL-terminated) under key at time now_s. On TIX_OK, *claims is a new
 * reference to the claims object (json_decref it); on failure *claims is NULL and err says why
 * (see above). */
enum tix_rc tix_jwt_verify(const char *token, const uint8_t *key, size_t key_len, int64_t now_s,
                           json_t **claims, struct tix_err *err);

#endif
