/* password.h - password hashing (Argon2id) and the password policy
 *
 * Hashes are libsodium's PHC strings ("$argon2id$v=19$m=65536,t=2,p=1$salt$hash"), NUL-terminated
 * and shorter than TIX_PASSWORD_HASH_SIZE. The cost is libsodium's INTERACTIVE preset: 2 passes
 * over 64 MiB, one lane. Measured on the 2-core dev box: about 52 ms of one core per hash and the
 * same per verification, so one core does about 19 per second and every hash in flight holds
 * 64 MiB: a gateway must cap concurrent hashing (threads x 64 MiB) and rate-limit login and
 * registration per address. Raising the preset later is safe: tix_password_needs_rehash says
 * when a stored hash is weaker than the current cost, so the gateway rehashes at the next login.
 *
 * Hashing is slow and uses a fresh random salt: it belongs in the gateway, never in decide.
 * Every function is thread-safe and needs sodium_init() to have succeeded first.
 */
#ifndef TIX_PASSWORD_H
#define TIX_PASSWORD_H

#include <stdbool.h>

#include "tix/rc.h"

/* Bytes of the buffer a hash is written into (crypto_pwhash_STRBYTES). */
#define TIX_PASSWORD_HASH_SIZE 128
#define TIX_PASSWORD_MIN_BYTES 10
#define TIX_PASSWORD_MAX_BYTES 128

/* Hashes password (a NUL-terminated string) into out. TIX_EINTERNAL when libsodium cannot get
 * the memory it needs (out is then an empty string). Does not check the policy: call
 * tix_password_check first for a new password. */
enum tix_rc tix_password_hash(const char *password, char out[TIX_PASSWORD_HASH_SIZE],
                              struct tix_err *err);

/* True when password matches hash (a string produced by tix_password_hash, or any Argon2
 * string libsodium reads). False for a wrong password, a malformed hash, or NULL arguments.
 * Takes as long as hashing, whatever the answer. */
bool tix_password_verify(const char *hash, const char *password);

/* True when hash was made with other parameters than the current cost, or is not an Argon2id
 * hash libsodium can read: the caller should hash the password again after a successful
 * verification. */
bool tix_password_needs_rehash(const char *hash);

/* Checks the policy for a new password: TIX_MIN..MAX_BYTES bytes of valid UTF-8 (no overlong
 * forms, surrogates or code points past U+10FFFF) that is not one character repeated. Returns
 * TIX_OK, or TIX_EINVAL with field "password" and a message safe to show to the user (it never
 * contains the password). */
enum tix_rc tix_password_check(const char *password, struct tix_err *err);

#endif
