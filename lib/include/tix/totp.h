/* totp.h - one-time passwords for authenticator apps (RFC 4226 HOTP, RFC 6238 TOTP)
 *
 * The parameters every authenticator app understands: HMAC-SHA1, 30-second steps, 6 digits,
 * steps counted from the Unix epoch. SHA-1 is here only because HOTP is defined over it; the
 * HMAC construction does not rely on SHA-1's collision resistance. Use nothing here for
 * anything else.
 *
 * Replay protection is not done here: tix_totp_verify reports the step that matched and the
 * user aggregate refuses a step at or before the last one used (user.use_totp).
 *
 * Secrets are raw bytes (20 recommended, as RFC 4226 does); apps get them in base32 (RFC 4648
 * alphabet, no padding) inside an otpauth:// URI. Every function is pure and thread-safe.
 */
#ifndef TIX_TOTP_H
#define TIX_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tix/rc.h"

#define TIX_TOTP_STEP_S      30
#define TIX_TOTP_DIGITS      6
#define TIX_TOTP_SECRET_SIZE 20
#define TIX_SHA1_BYTES       20

/* SHA-1 of len bytes into out. */
void tix_totp_sha1(const void *data, size_t len, uint8_t out[TIX_SHA1_BYTES]);
/* HMAC-SHA1 (RFC 2104) of msg under key (any length) into out. */
void tix_totp_hmac_sha1(const uint8_t *key, size_t key_len, const void *msg, size_t len,
                        uint8_t out[TIX_SHA1_BYTES]);

/* The RFC 4226 HOTP value of counter with `digits` digits (1..9), as a number below 10^digits;
 * print it zero-padded to `digits` characters. */
uint32_t tix_totp_hotp(const uint8_t *secret, size_t len, uint64_t counter, int digits);
/* The time step of Unix time now_s: floor(now_s / 30) (negative times give negative steps). */
int64_t tix_totp_step(int64_t now_s);
/* The 6-digit TOTP code of step (tix_totp_hotp with 6 digits). */
uint32_t tix_totp_code(const uint8_t *secret, size_t len, int64_t step);

/* True when code (exactly 6 ASCII digits) is the code of one of the steps
 * tix_totp_step(now_s) - window .. + window (window 0..10; 1 tolerates one step of clock skew
 * each way); *matched_step (may be NULL) gets that step. Every candidate step is computed and
 * compared in constant time, whatever matches. Negative steps never match. */
bool tix_totp_verify(const uint8_t *secret, size_t len, const char *code, int64_t now_s, int window,
                     int64_t *matched_step);

/* Writes the base32 of len bytes (A-Z2-7, no padding) and a NUL into out (out_size at least
 * (len * 8 + 4) / 5 + 1). TIX_EINVAL when out is too small (out is then ""). */
enum tix_rc tix_totp_encode_base32(const uint8_t *in, size_t len, char *out, size_t out_size,
                                   struct tix_err *err);
/* Decodes base32 text (either case; trailing '=' padding allowed; no other characters; unused
 * trailing bits must be zero) into out; *out_len gets the byte count. TIX_EINVAL (field
 * "secret") when malformed or when out_size is too small. */
enum tix_rc tix_totp_decode_base32(const char *text, uint8_t *out, size_t out_size, size_t *out_len,
                                   struct tix_err *err);

/* Builds "otpauth://totp/<issuer>:<account>?secret=<secret_b32>&issuer=<issuer>&algorithm=SHA1
 * &digits=6&period=30" with issuer and account percent-encoded (RFC 3986 unreserved characters
 * kept, everything else %XX). *out is a new string (free()). TIX_EINVAL (field named) when
 * issuer or account is empty, longer than 256 bytes or holds a ':' (the label separator), or
 * secret_b32 is not upper-case unpadded base32. */
enum tix_rc tix_totp_uri(const char *issuer, const char *account, const char *secret_b32,
                         char **out, struct tix_err *err);

#endif
