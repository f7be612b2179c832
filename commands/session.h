/* session.h - the session aggregate: refresh-token families with rotation and reuse detection
 *
 * Stream "session-<family uuid>". Every command's key is the USER id, so a user's sessions are
 * decided in the user's partition, next to the user stream, which each command also reads:
 * a family started before the user's last user.sessions_revoked (password change or reset), or
 * of an erased user, is revoked without any event on the family (see tix_user_state's
 * sessions_epoch). Payloads carry family_id and user_id; user_id must equal the key.
 *
 * A family holds one current refresh-token hash (SHA-256 hex of the token the client holds).
 * Refreshing with the current hash rotates it; refreshing with a hash that was current before
 * (a stolen, replayed token) revokes the whole family. Only the last TIX_SESSION_MAX_ROTATED
 * rotated hashes are remembered: an older one is reported as invalid_token, not as reuse.
 *
 * Two tabs refreshing at once: within grace_s seconds (the command's, chosen by the gateway from
 * TIXMO_REFRESH_GRACE_S) of a rotation, measured with the command's now_us, presenting the hash
 * rotated away by it and asking for the current hash again (the gateway derives a successor
 * from the token presented, so both tabs ask for the same) is answered as that rotation was,
 * with nothing appended. Anything else presenting a rotated hash still revokes: after the window,
 * a hash two rotations back, or another successor.
 *
 * Commands and events (schema_version 1; every payload carries family_id and user_id):
 *   session.start {token_hash, expires_at, user_agent?, ip_enc?, password_hash?} (the hash the
 *       gateway verified the password against: rejected "stale_credentials" unless it is still
 *       the user's, which closes the window of a lagging read model after a password change)
 *     -> session.started {token_hash, expires_at, user_agent?, ip_enc?, user_epoch};
 *        result {"family_id"}
 *   session.refresh {presented_hash, new_hash, expires_at, grace_s? (0..300, default 0)}
 *     -> session.rotated {token_hash (the new one), previous_hash, expires_at, rotated_at_us
 *        (the command's now_us; absent from events of before the grace window)};
 *        result {"status":"rotated", "family_id", "expires_at"}
 *     -> within the grace window, the last rotation asked again: nothing; the same result
 *     -> on reuse: session.revoked {reason "reuse_detected"};
 *        result {"status":"revoked", "reason":"reuse_detected"} (a success that appends the
 *        revocation; the gateway answers 401)
 *   session.revoke {reason} -> session.revoked {reason}; nothing when already revoked
 * Rejection codes: not_found (user_id for start: no such user; family_id: no such family or
 * another user's), forbidden (the actor is neither the user nor a system actor), erased
 * (start for an erased user), already_exists (family_id), revoked, expired (token),
 * invalid_token (token). Expiry: the current token is expired once cmd->now_us >= expires_at
 * seconds.
 */
#ifndef TIX_COMMANDS_SESSION_H
#define TIX_COMMANDS_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "tix/aggregate.h"

#include "payload.h"

#define TIX_SESSION_STREAM_PREFIX "session-"
#define TIX_SESSION_MAX_ROTATED   50

/* The state of one session family (read-only outside this module). rotated is a ring of the
 * last n_rotated hashes that were current before, oldest overwritten first. */
struct tix_session_state {
    bool exists;
    bool is_revoked;
    char family_id[TIX_UUID_LEN + 1];
    char user_id[TIX_UUID_LEN + 1];
    char current_hash[TIX_HEX64_SIZE];
    int64_t expires_at;    /* Unix seconds */
    int64_t rotated_at_us; /* when the last rotation was decided (0: none, or not recorded) */
    int64_t user_epoch;    /* the user's sessions_epoch when the family started */
    char revoked_reason[TIX_REASON_MAX + 1];
    int n_rotated;
    int next_rotated; /* where the next rotated hash goes */
    char rotated[TIX_SESSION_MAX_ROTATED][TIX_HEX64_SIZE];
};

extern const struct tix_stream_kind tix_session_stream_kind;
/* Terminated by a row whose type is NULL. */
extern const struct tix_command_handler tix_session_handlers[];

#endif
