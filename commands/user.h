/* user.h - the user aggregate: accounts, email verification, passwords, 2FA, erasure
 *
 * Streams: "user-<uuid>" (the account; every command's key is the user id and its payload
 * carries the same id as "user_id") and "useremail-<blind index>" (the claim on an email
 * address, which makes addresses unique platform-wide through the expected version of that
 * stream; claimed at registration, released at erasure so the address can register again).
 *
 * Nothing secret or personal arrives in clear. The gateway does all the work that needs keys or
 * randomness: it hashes passwords (lib/password), draws tokens and sends only their SHA-256
 * (hex), verifies TOTP codes and sends the matched time step, encrypts personal data under the
 * user's key (lib/pii: "v1:..." strings) and computes the email's blind index. decide stays
 * pure: it compares hashes, steps and times (cmd->now_us) and keeps single-use rules.
 *
 * Commands (payload fields; ? = optional) and their events (schema_version 1, every payload
 * carries user_id):
 *   user.register {email_index, email_enc, name_enc?, password_hash, verification_token_hash,
 *       verification_expires_at, token_enc}
 *     -> user.registered {email_index, email_enc, name_enc?, password_hash},
 *        user.email_claimed {email_index} (claim stream),
 *        user.email_verification_requested {token_hash, token_enc, expires_at};
 *        result {"user_id"}
 *   user.request_email_verification {token_hash, token_enc, expires_at}
 *     -> user.email_verification_requested (a new token replaces the previous one)
 *   user.verify_email {token_hash} -> user.email_verified
 *   user.request_password_reset {token_hash, token_enc, expires_at}
 *     -> user.password_reset_requested {token_hash, token_enc, expires_at}
 *   user.reset_password {token_hash, password_hash}
 *     -> user.password_changed {password_hash, reason "reset"},
 *        user.sessions_revoked {reason "password_reset"}
 *   user.change_password {password_hash}
 *     -> user.password_changed {reason "change"}, user.sessions_revoked {"password_changed"}
 *   user.update_profile {name_enc? (null clears), locale?, timezone?}
 *     -> user.profile_updated {only the fields that change}; nothing when none does
 *   user.set_preferences {preferences (merge patch)} -> user.preferences_changed {preferences}
 *   user.enable_2fa {secret_enc} -> user.2fa_pending {secret_enc}
 *   user.confirm_2fa {step, recovery_code_hashes}
 *     -> user.2fa_enabled {secret_enc, recovery_code_hashes, step}
 *   user.disable_2fa {} -> user.2fa_disabled; nothing when 2FA is neither on nor pending
 *   user.use_totp {step} -> user.totp_used {step}
 *   user.use_recovery_code {code_hash} -> user.recovery_code_used {code_hash}
 *   user.record_login {ip_enc?} -> user.logged_in {ip_enc?}
 *   user.erase {email_index} -> user.erased, user.email_released {email_index} (claim stream)
 * user.erase carries the email's blind index because streams() must name the claim stream
 * before any state is loaded; decide checks it against the state.
 *
 * Rejection codes: forbidden (the actor is neither the user nor a system actor), not_found
 * (field user_id), erased, already_exists (user_id), email_taken (email), already_verified,
 * invalid_token (token), token_expired (token), token_used (token), preferences_too_large
 * (preferences), 2fa_already_enabled, 2fa_not_pending, 2fa_not_enabled, code_reused (code),
 * invalid_code (code), email_mismatch (email_index). A token is valid while
 * cmd->now_us < expires_at seconds.
 *
 * State kept per user: see struct tix_user_state. sessions_epoch counts user.sessions_revoked
 * and user.erased events: a session family started at an older epoch is revoked (session.h).
 */
#ifndef TIX_COMMANDS_USER_H
#define TIX_COMMANDS_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "tix/aggregate.h"

#include "payload.h"

#define TIX_USER_STREAM_PREFIX      "user-"
#define TIX_USEREMAIL_STREAM_PREFIX "useremail-"

struct tix_user_recovery_code {
    char hash[TIX_HEX64_SIZE];
    bool is_used;
};

/* The state of one user stream (read-only outside this module). Invariants: preferences is
 * always an object; owned strings are NULL when absent; after erasure every personal field is
 * empty and only id, exists, is_erased and sessions_epoch remain meaningful. */
struct tix_user_state {
    bool exists;
    bool is_erased;
    char id[TIX_UUID_LEN + 1];
    char email_index[TIX_HEX64_SIZE];
    bool is_email_verified;
    char password_hash[TIX_PASSWORD_HASH_MAX + 1];
    char verify_hash[TIX_HEX64_SIZE]; /* "" when no verification is pending */
    int64_t verify_expires_at;        /* Unix seconds */
    char reset_hash[TIX_HEX64_SIZE];  /* "" when no reset was requested */
    int64_t reset_expires_at;
    bool is_reset_used;
    char *pending_secret_enc; /* owned; 2FA secret waiting for confirmation */
    bool is_2fa_enabled;
    char *secret_enc; /* owned; the active 2FA secret */
    int n_recovery;
    struct tix_user_recovery_code recovery[TIX_RECOVERY_CODES];
    int64_t last_totp_step; /* -1 before any */
    char *name_enc;         /* owned */
    char locale[36];
    char timezone[65];
    json_t *preferences; /* owned; an object */
    int64_t sessions_epoch;
};

/* The state of one email claim stream. */
struct tix_useremail_state {
    bool is_claimed;
    char user_id[TIX_UUID_LEN + 1];
};

extern const struct tix_stream_kind tix_user_stream_kind;
extern const struct tix_stream_kind tix_useremail_stream_kind;
/* Terminated by a row whose type is NULL. */
extern const struct tix_command_handler tix_user_handlers[];

#endif
