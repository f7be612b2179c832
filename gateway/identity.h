/* identity.h - the gateway's share of identity: tokens, hashes, personal data (gateway/identity.c)
 *
 * Secrets never reach the event log: tokens are drawn here and only their SHA-256 (hex) is
 * sent in commands; personal data is sealed under the user's key (lib/pii) before it leaves.
 * Token formats (the user id inside tells the gateway the partition without a lookup):
 *   refresh token      "rt1.<user id>.<family id>.<secret>"
 *   email/reset token  "<user id>.<secret>"
 * where <secret> is 32 random bytes in unpadded base64url (a refreshed token's secret is derived
 * from the token it replaces: tix_id_successor_secret).
 */
#ifndef TIX_GATEWAY_IDENTITY_H
#define TIX_GATEWAY_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>

#include "gateway.h"
#include "tix/ids.h"

#define TIX_TOKEN_SECRET_CHARS 43
#define TIX_HEX64              65

/* Lowercase hex SHA-256 of s. */
void tix_id_sha256_hex(const char *s, char out[TIX_HEX64]);
/* 32 random bytes as unpadded base64url (43 characters and a NUL). */
void tix_id_random_secret(char out[TIX_TOKEN_SECRET_CHARS + 1]);
/* The secret of the refresh token that succeeds presented: a BLAKE2b MAC of it under a key
 * derived from TIXMO_JWT_SECRET, base64url like tix_id_random_secret. The same token always has
 * the same successor on every gateway, so two tabs refreshing with one token at once both get
 * it (commands/session.c accepts the repeat within the grace window); nobody without the
 * secret can compute it. */
void tix_id_successor_secret(const struct tix_gw *gw, const char *presented,
                             char out[TIX_TOKEN_SECRET_CHARS + 1]);
/* A new access JWT for user (session sid); a new string (free()). */
char *tix_id_access_token(const struct tix_gw *gw, const char *user_id, const char *sid);
/* Parses "<user id>.<secret>" into user; false when malformed. */
bool tix_id_parse_user_token(const char *token, char user[TIX_UUID_LEN + 1]);
/* Parses "rt1.<user id>.<family id>.<secret>"; false when malformed. */
bool tix_id_parse_refresh(const char *token, char user[TIX_UUID_LEN + 1],
                          char family[TIX_UUID_LEN + 1]);
/* The token pair body {"access_token", "refresh_token", "token_type", "expires_in"}. */
json_t *tix_id_token_body(const struct tix_gw *gw, const char *user_id, const char *family_id,
                          const char *refresh_token);
/* Builds a session.start payload with a new refresh token for user; *refresh is the token
 * (new string) to hand to the client once the session is decided; *family its id. */
json_t *tix_id_session_start(const struct tix_gw *gw, struct tix_req *req, const char *user_id,
                             char **refresh, char family[TIX_UUID_LEN + 1]);

/* Makes an unauthenticated request act as user for its commands (actor "user:<id>"): used once
 * the request proved it speaks for that user (a password, a token from their mailbox, a refresh
 * token), or creates them (registration). */
void tix_id_act_as(struct tix_req *req, const char *user_id);
/* user's unwrapped personal-data key into key (wipe after use), from a per-thread cache of
 * TIX_ID_KEY_CACHE entries kept TIX_ID_KEY_TTL_S seconds, else from the database. False when
 * the user has no key or was erased. A cached key can outlive an erasure by the TTL at most,
 * and by then the read models hold nothing it opens. */
bool tix_id_subject_key(struct tix_req *req, const char *user_id, uint8_t key[32]);
/* Checks a TOTP code against user's active (or pending) secret from the users read model;
 * the matched time step goes to *step (the user aggregate refuses a step used before). */
bool tix_id_totp_check(struct tix_req *req, const char *user, bool is_pending, const char *code,
                       int64_t *step);
/* The hash of a recovery code: SHA-256 hex of it upper-cased without dashes or spaces. */
void tix_id_recovery_hash(const char *code, char out[TIX_HEX64]);

/* Password work for the worker pool (tix_gw_offload with tix_pw_work): verifies verify_pw
 * against verify_hash (when verify_pw is set), then hashes hash_pw into hash (when set and the
 * verification, if any, matched). Passwords are wiped when the job is freed. */
struct tix_pw_job {
    char *verify_pw;
    char verify_hash[160];
    char *hash_pw;
    char hash[160];
    bool is_match;
    json_t *body;                /* the request's body, kept for the done callback */
    char user[TIX_UUID_LEN + 1]; /* handler state */
    char key[80];
    bool flag;
};

struct tix_pw_job *tix_pw_job_new(json_t *body);
void tix_pw_job_free(struct tix_pw_job *job);
void tix_pw_work(void *job);
/* A valid Argon2id hash of a random password: verifying against it costs what a real
 * verification costs, so an unknown account answers as slowly as a known one. */
const char *tix_pw_dummy_hash(void);

#endif
