/* payload.h - the payload checker of every aggregate, and small pure helpers they share
 *
 * Every aggregate checks its payloads (and its recorded events) with the one checker here, against
 * tables of field specs: a JSON object, every required field present, every present field of its
 * kind, and no field the table does not name. The kinds are each aggregate's own; the value
 * check it hands over may nest (objects in arrays in objects), naming fields by their path
 * ("sessions[2].starts_at"). The first problem is reported as TIX_EINVAL with the offending field
 * in err->field ("" when the payload is not an object), which the processor turns into an
 * "invalid" outcome.
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

#define TIX_FIELD_PATH_MAX 64 /* sizeof(struct tix_err.field): paths are cut to 63 bytes */

/* One field of an object a command or an event carries. kind is the owning aggregate's own
 * enumeration (enum tix_field_kind here, enum field_kind in apikey.c, ...), which only that
 * aggregate's check (struct tix_field_rules) reads. */
struct tix_field_spec {
    const char *name;
    int kind;
    bool is_required;
};

/* Checks the present value v of the field named path against kind; returns TIX_OK, or
 * TIX_EINVAL with err naming path (or a path below it, for a nested value). */
typedef enum tix_rc (*tix_field_check_fn)(int kind, const json_t *v, const char *path,
                                          const void *ctx, struct tix_err *err);

/* How an aggregate checks its objects: its value check, and how an unknown field is worded. */
struct tix_field_rules {
    tix_field_check_fn check;
    const void *ctx; /* handed to check as is (apikey: the command's clock) */
    bool is_terse;   /* "unknown field" rather than "<path> is an unknown field" */
    size_t key_max;  /* > 0: an unknown key is named by its first key_max bytes only */
};

/* Checks that obj is a JSON object holding no key specs does not name, then each spec in table
 * order: a missing required field, or a present value rules->check refuses, is the answer.
 * Fields are named path + "." + name (just name when path is ""). The first problem wins:
 * TIX_EINVAL with err; a non-object says "<path> must be a JSON object" ("the payload" at the
 * top, field ""). Pure and thread-safe; recursion happens through rules->check. */
enum tix_rc tix_payload_check_object(const json_t *obj, const char *path,
                                     const struct tix_field_spec *specs, size_t n,
                                     const struct tix_field_rules *rules, struct tix_err *err);

/* Checks payload against specs of enum tix_field_kind (tix_payload_check_object, terse), the
 * identity aggregates' fields. Returns TIX_OK or TIX_EINVAL with err. */
enum tix_rc tix_payload_check(const json_t *payload, const struct tix_field_spec *specs, size_t n,
                              struct tix_err *err);

/* TIX_OK when problem is NULL, else TIX_EINVAL with err naming path: "<path> <problem>". */
enum tix_rc tix_payload_field_problem(struct tix_err *err, const char *path, const char *problem);

/* TIX_OK when the string member field of payload equals the command's key (which may be NULL),
 * else TIX_EINVAL with err: "<field> must equal the command key". */
enum tix_rc tix_payload_check_key(const json_t *payload, const char *field, const char *key,
                                  struct tix_err *err);

/* out = path + "." + name (name alone when path is ""), or path + "[i]" when name is NULL;
 * cut to TIX_FIELD_PATH_MAX - 1 bytes. */
void tix_payload_join(char out[TIX_FIELD_PATH_MAX], const char *path, const char *name, size_t i);

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
/* Narrows s[0..*len) to its part without leading and trailing ASCII white space. */
const char *tix_payload_trim(const char *s, size_t *len);
/* True when v is a plain string that, trimmed of ASCII white space when is_trimmed, holds
 * min..max code points and no control characters (tab and line breaks allowed when
 * is_multiline). jansson guarantees valid UTF-8. */
bool tix_payload_is_text(const json_t *v, size_t min, size_t max, bool is_trimmed,
                         bool is_multiline);
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
