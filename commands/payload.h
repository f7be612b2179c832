/* payload.h - command payload checks and small pure helpers shared by the identity aggregates
 *
 * A command's payload is checked against a table of field specs: it must be a JSON object,
 * every required field present, every present field of its kind, and no field the table does
 * not name. The first problem is reported as TIX_EINVAL with the offending field in err->field
 * ("" when the payload is not an object), which the processor turns into an "invalid" outcome.
 * Everything here is pure and thread-safe.
 */
#ifndef TIX_COMMANDS_PAYLOAD_H
#define TIX_COMMANDS_PAYLOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tix/ids.h"
#include "tix/rc.h"

#define TIX_HEX64_SIZE        65   /* 64 lowercase hex characters (a SHA-256 / blind index) + NUL */
#define TIX_ENC_MAX           4096 /* bytes of an encrypted field ("v1:" + base64url) */
#define TIX_ENC_MIN           57   /* "v1:" + base64url of a nonce and a tag around nothing */
#define TIX_PASSWORD_HASH_MAX 127  /* bytes of an Argon2id PHC string */
#define TIX_UNIX_S_MAX        99999999999LL /* the year 5138: room enough, no overflow in us */
#define TIX_STEP_MAX          (TIX_UNIX_S_MAX / 30)
#define TIX_GRACE_S_MAX       300 /* seconds of a grace window */

enum tix_field_kind {
    TIX_FIELD_UUID,          /* canonical lowercase UUID */
    TIX_FIELD_HEX64,         /* 64 lowercase hex characters */
    TIX_FIELD_ENC,           /* "v1:" + base64url, TIX_ENC_MIN..TIX_ENC_MAX bytes (lib/pii) */
    TIX_FIELD_ENC_OR_NULL,   /* the same, or null (clears the value) */
    TIX_FIELD_PASSWORD_HASH, /* "$argon2id$..." printable ASCII, at most 127 bytes */
    TIX_FIELD_UNIX_S,        /* integer Unix seconds, 1..TIX_UNIX_S_MAX */
    TIX_FIELD_STEP,          /* integer TOTP step, 0..TIX_STEP_MAX */
    TIX_FIELD_GRACE_S,       /* integer seconds of a grace window, 0..TIX_GRACE_S_MAX */
    TIX_FIELD_LOCALE,        /* BCP 47-ish: [A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*, at most 35 */
    TIX_FIELD_TIMEZONE,      /* IANA-ish: [A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*, <= 64 */
    TIX_FIELD_PREFERENCES,   /* an object of at most 8 KiB canonical bytes */
    TIX_FIELD_CODE_HASHES,   /* an array of 10 distinct TIX_FIELD_HEX64 strings */
    TIX_FIELD_USER_AGENT,    /* 1..256 bytes of printable text (no control characters) */
    TIX_FIELD_REASON,        /* 1..32 of [a-z_] */
};

#define TIX_PREFERENCES_MAX_BYTES 8192
#define TIX_RECOVERY_CODES        10
#define TIX_USER_AGENT_MAX        256
#define TIX_REASON_MAX            32

struct tix_field_spec {
    const char *name;
    enum tix_field_kind kind;
    bool is_required;
};

/* Checks payload against specs (see above). Returns TIX_OK or TIX_EINVAL with err. */
enum tix_rc tix_payload_check(const json_t *payload, const struct tix_field_spec *specs, size_t n,
                              struct tix_err *err);

/* The actor of a command: "user:<uuid>" or "system:<name>"; anything else is not valid. */
struct tix_actor {
    bool is_valid;
    bool is_system;
    char user_id[TIX_UUID_LEN + 1];
};
struct tix_actor tix_payload_parse_actor(const char *s);
/* True for a system actor or the user user_id themself. */
bool tix_payload_is_self_or_system(const struct tix_actor *a, const char *user_id);

/* A JSON string with no NUL inside, so C string functions see all of it. */
bool tix_payload_is_plain_string(const json_t *v);
/* The string member key of data when it is a plain string shorter than size; NULL else. */
const char *tix_payload_str_fitting(const json_t *data, const char *key, size_t size);
/* True when s is 64 lowercase hex characters. */
bool tix_payload_is_hex64(const char *s);
/* Compares two NUL-terminated hashes in time that depends only on their lengths. */
bool tix_payload_is_same_hash(const char *a, const char *b);
/* Applies an RFC 7386 merge patch to target (an object, changed in place): null members
 * remove keys, object members merge recursively, anything else replaces. */
void tix_payload_merge_patch(json_t *target, const json_t *patch);

#endif
