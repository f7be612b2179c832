/* apikey.h - the API key aggregate: keys that let third parties act for one organization
 *
 * Stream: "apikey-<uuid>", one per key. Every command's key (the partition key) is the key's
 * ORGANIZATION id, so an organization's keys are decided in its partition; the payload carries
 * the same id as "organization_id". The secret never reaches the aggregate: the gateway makes
 * it, shows it once and sends only its hash (64 lowercase hex, BLAKE2b-256) and its first 8
 * characters (the prefix shown in lists). Everything here is pure: no I/O, no clocks but
 * cmd->now_us.
 *
 * Commands:
 *   apikey.create {api_key_id, organization_id, name, scopes, secret_hash, prefix,
 *                  expires_at?}
 *   apikey.revoke {api_key_id, organization_id}
 * Payload rules (checked by the handlers' streams(), reported as TIX_EINVAL naming the field):
 * a JSON object with the required fields and no unknown ones; ids are lowercase UUIDs; name is
 * trimmed of ASCII white space and holds 1..100 characters (code points) without control
 * characters; scopes is an array of 1..TIX_APIKEY_MAX_SCOPES distinct known scopes (see
 * tix_apikey_scope_names); secret_hash is 64 lowercase hex; prefix is 8 characters of the
 * base64url alphabet; expires_at, when present, is integer Unix seconds later than
 * cmd->now_us and at most TIX_APIKEY_EXPIRES_MAX.
 *
 * Actors: "user:<uuid>" and "system:<name>" may create and revoke (the gateway checks that a
 * user is an admin or owner of the organization); anything else, API keys ("apikey:<id>")
 * included, is rejected "forbidden": a key can't mint or revoke keys. The actor is checked
 * first.
 *
 * Rejection codes: forbidden; already_exists (create: the id is taken, whatever organization
 * holds it); not_found (revoke: no such key, or a key of another organization). Revoking a
 * revoked key succeeds with no events.
 *
 * Events (schema_version 1):
 *   apikey.created {api_key_id, organization_id, name (trimmed), scopes (as given),
 *                   secret_hash, prefix, expires_at (integer or null), created_by}
 *   apikey.revoked {api_key_id, organization_id, revoked_by}
 * The create decision's result is {api_key_id, created_at} (created_at: cmd->now_us as
 * RFC 3339, which is also the event's recorded_at).
 */
#ifndef TIX_COMMANDS_APIKEY_H
#define TIX_COMMANDS_APIKEY_H

#include <stdbool.h>
#include <stdint.h>

#include "tix/aggregate.h"

#define TIX_APIKEY_STREAM_PREFIX  "apikey-"
#define TIX_APIKEY_NAME_MAX_CHARS 100
#define TIX_APIKEY_MAX_SCOPES     16
#define TIX_APIKEY_PREFIX_LEN     8
#define TIX_APIKEY_EXPIRES_MAX    99999999999LL /* Unix seconds, the year 5138 */

/* The known scopes, in a fixed order (a scope's index is its bit in tix_apikey_state.scopes),
 * terminated by NULL. Shared with the gateway, which checks requests against the same list. */
extern const char *const tix_apikey_scope_names[];
#define TIX_APIKEY_N_SCOPES 9

/* The index of scope s in tix_apikey_scope_names, or -1 when unknown (or NULL). Thread-safe. */
int tix_apikey_scope_parse(const char *s);

/* The state of one API key stream (read-only for callers outside this module).
 * Invariants: before apikey.created nothing else is set; organization_id never changes;
 * is_revoked never goes back to false. */
struct tix_apikey_state {
    bool exists;
    bool is_revoked;
    char id[40];
    char organization_id[40];
    char name[TIX_APIKEY_NAME_MAX_CHARS * 4 + 1]; /* UTF-8: up to 4 bytes per character */
    char prefix[TIX_APIKEY_PREFIX_LEN + 1];
    uint32_t scopes;    /* bit i set: tix_apikey_scope_names[i] granted */
    int64_t expires_at; /* Unix seconds; 0 = never */
};

extern const struct tix_stream_kind tix_apikey_stream_kind;
/* Terminated by a row whose type is NULL. */
extern const struct tix_command_handler tix_apikey_handlers[];

#endif
