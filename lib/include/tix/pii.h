/* pii.h - erasable personal data: per-subject keys, envelope encryption, blind indexes
 *
 * Personal data never enters the event log in clear. Each subject (a user id) has a random
 * 32-byte key, stored in table subject_keys wrapped (crypto_secretbox, XSalsa20-Poly1305, nonce
 * prepended) under the installation's PII key (TIXMO_PII_KEY). A value is encrypted under the
 * subject's key with XChaCha20-Poly1305, the subject id as associated data (so a ciphertext
 * moved to another subject does not decrypt), and written as "v1:" + base64url(nonce || box)
 * without padding. Erasing a subject sets its wrapped key to NULL: every ciphertext of that
 * subject, wherever it was copied (log, read models, bus, backups of those), becomes noise,
 * and the log is never rewritten. Erasure is final: the table refuses to bring a key back, and
 * creating a key for an erased subject fails.
 *
 * Erasure is logical at once and physical once Postgres has vacuumed the old row version
 * (the table is set to autovacuum eagerly) and WAL and backups older than the erasure have
 * expired: keep base backups and WAL archives of the key table on a retention of days.
 *
 * Lookups by a personal value (log in by email) use a blind index: HMAC-SHA256 under a key
 * derived from the PII key (BLAKE2b KDF, context "tixblind"), over kind || 0x00 || value, as
 * 64 lowercase hex characters. Normalize the value first (tix_pii_normalize_email).
 *
 * Thread-safety: the pure functions are thread-safe; functions taking a struct tix_db follow
 * db.h (one connection per thread). libsodium must be initialized. Keys in caller memory
 * should be wiped with sodium_memzero after use. Errors never contain personal data.
 */
#ifndef TIX_PII_H
#define TIX_PII_H

#include <stddef.h>
#include <stdint.h>

#include "tix/db.h"
#include "tix/rc.h"

#define TIX_PII_KEY_BYTES        32
#define TIX_PII_BLIND_INDEX_SIZE 65  /* 64 hex characters and a NUL */
#define TIX_PII_EMAIL_MAX        254 /* bytes of a normalized address */
#define TIX_PII_SUBJECT_MAX      128 /* bytes of a subject id */
#define TIX_PII_PLAINTEXT_MAX    65536

/* Parses 64 hex characters (TIXMO_PII_KEY) into out. TIX_EINVAL (field "pii_key") else. */
enum tix_rc tix_pii_parse_key(const char *hex, uint8_t out[TIX_PII_KEY_BYTES], struct tix_err *err);

/* Gives subject_id (1..TIX_PII_SUBJECT_MAX bytes) a new random key unless it has one: an
 * existing key is kept (idempotent, also under concurrent calls). TIX_ENOTFOUND ("erased") when
 * the subject was erased; TIX_EINVAL for a bad subject id; database errors as db.h says. */
enum tix_rc tix_pii_create_key(struct tix_db *db, const uint8_t pii_key[TIX_PII_KEY_BYTES],
                               const char *subject_id, struct tix_err *err);

/* Loads and unwraps subject_id's key into key (caller memory; wipe it after use). TIX_ENOTFOUND
 * with message "no key" when the subject has none, "erased" when it was erased; TIX_EINTERNAL
 * when the wrapped key does not open under pii_key (a wrong TIXMO_PII_KEY). One query. */
enum tix_rc tix_pii_load_key(struct tix_db *db, const uint8_t pii_key[TIX_PII_KEY_BYTES],
                             const char *subject_id, uint8_t key[TIX_PII_KEY_BYTES],
                             struct tix_err *err);

/* Unwraps a key as Postgres returns subject_keys.wrapped_key in text ("\x" and hex) into key:
 * what tix_pii_load_key does after its query, for callers that read the column themselves.
 * TIX_EINTERNAL when it does not open under pii_key. Pure. */
enum tix_rc tix_pii_unwrap_key(const uint8_t pii_key[TIX_PII_KEY_BYTES], const char *text,
                               uint8_t key[TIX_PII_KEY_BYTES], struct tix_err *err);

/* Encrypts plaintext (a NUL-terminated string of at most TIX_PII_PLAINTEXT_MAX bytes) for
 * subject_id under its unwrapped key. *out is a new "v1:..." string (free()). Pure apart from
 * the random nonce; use it to encrypt several values with one tix_pii_load_key. */
enum tix_rc tix_pii_seal(const uint8_t key[TIX_PII_KEY_BYTES], const char *subject_id,
                         const char *plaintext, char **out, struct tix_err *err);
/* Decrypts a "v1:..." string of subject_id under its unwrapped key. *plaintext is a new string
 * (free()). TIX_EINVAL (field "ciphertext") when it is malformed, was made for another subject
 * or under another key, or was altered. */
enum tix_rc tix_pii_open(const uint8_t key[TIX_PII_KEY_BYTES], const char *subject_id,
                         const char *ciphertext, char **plaintext, struct tix_err *err);

/* tix_pii_load_key + tix_pii_seal. */
enum tix_rc tix_pii_encrypt(struct tix_db *db, const uint8_t pii_key[TIX_PII_KEY_BYTES],
                            const char *subject_id, const char *plaintext, char **out_b64,
                            struct tix_err *err);
/* tix_pii_load_key + tix_pii_open: TIX_ENOTFOUND ("erased") once the subject was erased. */
enum tix_rc tix_pii_decrypt(struct tix_db *db, const uint8_t pii_key[TIX_PII_KEY_BYTES],
                            const char *subject_id, const char *ciphertext, char **plaintext,
                            struct tix_err *err);

/* Erases subject_id's key (wrapped_key NULL, erased_at now()). Idempotent; a subject that had
 * no key is recorded as erased too, so no key can be created for it later. */
enum tix_rc tix_pii_erase(struct tix_db *db, const char *subject_id, struct tix_err *err);

/* The blind index of a normalized value of the given kind ("email", ...) as 64 lowercase hex
 * characters and a NUL. Deterministic for one PII key; different kinds never collide. */
void tix_pii_blind_index(const uint8_t pii_key[TIX_PII_KEY_BYTES], const char *kind,
                         const char *normalized_value, char out[TIX_PII_BLIND_INDEX_SIZE]);

/* Normalizes an email address into out (size bytes): ASCII white space trimmed, ASCII letters
 * lower-cased, other bytes kept. Requires exactly one '@', a non-empty local part, a domain
 * holding a dot that neither starts nor ends it, no white space or control characters inside,
 * and at most TIX_PII_EMAIL_MAX bytes. TIX_EINVAL with field "email" otherwise (also when out
 * is too small). */
enum tix_rc tix_pii_normalize_email(const char *in, char *out, size_t size, struct tix_err *err);

#endif
