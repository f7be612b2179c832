/* payload.c - the payload checker of every aggregate; the identity aggregates' field kinds,
 * actors, hashes, merge patches
 *
 * The checker walks one table of field specs; what a kind means is the aggregate's business (its
 * value check), so nesting, context (a clock) and wording stay with the aggregate while the walk,
 * its order and its answers are the same everywhere.
 *
 * The identity kinds are deliberately narrow: secrets and personal data reach the aggregates only
 * as hashes (64 hex) or ciphertexts ("v1:" + base64url), never in clear, so a payload that carries
 * anything else in those fields is refused before decide sees it.
 */
#include <stdio.h>
#include <string.h>

#include "payload.h"

bool tix_payload_is_plain_string(const json_t *v)
{
    return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

static bool is_ascii_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

const char *tix_payload_trim(const char *s, size_t *len)
{
    while (*len > 0 && is_ascii_space(s[0])) {
        s++;
        (*len)--;
    }
    while (*len > 0 && is_ascii_space(s[*len - 1]))
        (*len)--;
    return s;
}

bool tix_payload_is_text(const json_t *v, size_t min, size_t max, bool is_trimmed,
                         bool is_multiline)
{
    if (!tix_payload_is_plain_string(v))
        return false;
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (is_trimmed)
        s = tix_payload_trim(s, &len);
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool is_break = c == '\t' || c == '\n' || c == '\r';
        if ((c < 0x20 && !(is_multiline && is_break)) || c == 0x7f)
            return false;
        if ((c & 0xc0) != 0x80)
            chars++;
    }
    return chars >= min && chars <= max;
}

const char *tix_payload_str_fitting(const json_t *data, const char *key, size_t size)
{
    const json_t *v = json_object_get(data, key);
    if (!tix_payload_is_plain_string(v) || json_string_length(v) >= size)
        return NULL;
    return json_string_value(v);
}

bool tix_payload_is_hex64(const char *s)
{
    if (s == NULL || strlen(s) != 64)
        return false;
    return strspn(s, "0123456789abcdef") == 64;
}

bool tix_payload_is_same_hash(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (n != strlen(b))
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

struct tix_actor tix_payload_parse_actor(const char *s)
{
    struct tix_actor a = {0};
    if (s == NULL)
        return a;
    if (strncmp(s, "system:", 7) == 0 && s[7] != '\0') {
        a.is_valid = a.is_system = true;
    } else if (strncmp(s, "user:", 5) == 0 && tix_uuid_is_valid(s + 5)) {
        a.is_valid = true;
        snprintf(a.user_id, sizeof(a.user_id), "%s", s + 5);
    }
    return a;
}

bool tix_payload_is_self_or_system(const struct tix_actor *a, const char *user_id)
{
    return a->is_valid && (a->is_system || strcmp(a->user_id, user_id) == 0);
}

void tix_payload_merge_patch(json_t *target, const json_t *patch)
{
    const char *key;
    size_t key_len;
    json_t *value;
    json_object_keylen_foreach((json_t *)patch, key, key_len, value)
    {
        if (json_is_null(value)) {
            json_object_deln(target, key, key_len);
        } else if (!json_is_object(value)) {
            json_object_setn_new(target, key, key_len, json_deep_copy(value));
        } else {
            json_t *inner = json_object_getn(target, key, key_len);
            if (!json_is_object(inner)) {
                inner = json_object();
                json_object_setn_new(target, key, key_len, inner);
            }
            tix_payload_merge_patch(inner, value);
        }
    }
}

/* ---- value rules ---------------------------------------------------------------------------- */

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

static bool is_enc(const char *s, size_t len)
{
    return len >= TIX_ENC_MIN && len <= TIX_ENC_MAX && strncmp(s, "v1:", 3) == 0 &&
           strspn(s + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
               len - 3;
}

static bool is_password_hash(const char *s, size_t len)
{
    if (len > TIX_PASSWORD_HASH_MAX || strncmp(s, "$argon2id$", 10) != 0 || len < 20)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return false;
    return true;
}

static bool is_locale(const char *s, size_t len)
{
    if (len > 35)
        return false;
    size_t i = 0;
    while (i < len && is_alpha(s[i]))
        i++;
    if (i < 2 || i > 8)
        return false;
    while (i < len) {
        size_t start = ++i; /* skip the '-' */
        if (s[start - 1] != '-')
            return false;
        while (i < len && is_alnum(s[i]))
            i++;
        if (i - start < 1 || i - start > 8)
            return false;
    }
    return true;
}

static bool is_timezone(const char *s, size_t len)
{
    if (len < 1 || len > 64 || !is_alpha(s[0]) || s[len - 1] == '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '/' && s[i + 1] == '/')
            return false;
        if (!(is_alnum(c) || c == '_' || c == '+' || c == '-' || c == '/'))
            return false;
    }
    return true;
}

static bool is_user_agent(const char *s, size_t len)
{
    if (len < 1 || len > TIX_USER_AGENT_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static bool is_reason(const char *s, size_t len)
{
    return len >= 1 && len <= TIX_REASON_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz_") == len;
}

static const char *check_code_hashes(const json_t *v)
{
    if (!json_is_array(v) || json_array_size(v) != TIX_RECOVERY_CODES)
        return "must be an array of 10 hashes";
    for (size_t i = 0; i < TIX_RECOVERY_CODES; i++) {
        const json_t *h = json_array_get(v, i);
        if (!tix_payload_is_plain_string(h) || !tix_payload_is_hex64(json_string_value(h)))
            return "must hold 64 lowercase hex characters each";
        for (size_t k = 0; k < i; k++)
            if (json_equal(h, json_array_get(v, k)))
                return "must be distinct";
    }
    return NULL;
}

static const char *check_integer(enum tix_field_kind kind, const json_t *v)
{
    if (!json_is_integer(v))
        return "must be an integer";
    json_int_t n = json_integer_value(v);
    if (kind == TIX_FIELD_UNIX_S)
        return n >= 1 && n <= TIX_UNIX_S_MAX ? NULL : "must be Unix seconds";
    if (kind == TIX_FIELD_GRACE_S)
        return n >= 0 && n <= TIX_GRACE_S_MAX ? NULL : "must be 0..300 seconds";
    return n >= 0 && n <= TIX_STEP_MAX ? NULL : "must be a time step";
}

/* NULL when the string v is acceptable for kind, else what is wrong with it. */
static const char *check_string(enum tix_field_kind kind, const json_t *v)
{
    if (!tix_payload_is_plain_string(v))
        return "must be a string";
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    switch (kind) {
    case TIX_FIELD_UUID:
        return tix_uuid_is_valid(s) ? NULL : "must be a lowercase UUID";
    case TIX_FIELD_HEX64:
        return tix_payload_is_hex64(s) ? NULL : "must be 64 lowercase hex characters";
    case TIX_FIELD_ENC:
    case TIX_FIELD_ENC_OR_NULL:
        return is_enc(s, len) ? NULL : "must be an encrypted value (v1:...)";
    case TIX_FIELD_PASSWORD_HASH:
        return is_password_hash(s, len) ? NULL : "must be an Argon2id hash";
    case TIX_FIELD_LOCALE:
        return is_locale(s, len) ? NULL : "must be a language tag like en or pt-BR";
    case TIX_FIELD_TIMEZONE:
        return is_timezone(s, len) ? NULL : "must be an IANA time zone like Europe/Paris";
    case TIX_FIELD_USER_AGENT:
        return is_user_agent(s, len) ? NULL : "must be 1..256 bytes without control characters";
    case TIX_FIELD_REASON:
        return is_reason(s, len) ? NULL : "must be 1..32 of a-z and _";
    default:
        return "is not supported";
    }
}

/* NULL when v is acceptable for kind, else what is wrong with it. */
static const char *check_value(enum tix_field_kind kind, const json_t *v)
{
    switch (kind) {
    case TIX_FIELD_PREFERENCES:
        if (!json_is_object(v))
            return "must be an object";
        return json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS) > TIX_PREFERENCES_MAX_BYTES
                   ? "is too large"
                   : NULL;
    case TIX_FIELD_CODE_HASHES:
        return check_code_hashes(v);
    case TIX_FIELD_UNIX_S:
    case TIX_FIELD_STEP:
    case TIX_FIELD_GRACE_S:
        return check_integer(kind, v);
    case TIX_FIELD_ENC_OR_NULL:
        return json_is_null(v) ? NULL : check_string(kind, v);
    default:
        return check_string(kind, v);
    }
}

static enum tix_rc check_field_cb(int kind, const json_t *v, const char *path, const void *ctx,
                                  struct tix_err *err)
{
    (void)ctx;
    return tix_payload_field_problem(err, path, check_value((enum tix_field_kind)kind, v));
}

enum tix_rc tix_payload_check(const json_t *payload, const struct tix_field_spec *specs, size_t n,
                              struct tix_err *err)
{
    static const struct tix_field_rules rules = {.check = check_field_cb, .is_terse = true};
    return tix_payload_check_object(payload, "", specs, n, &rules, err);
}

/* ---- the checker ---------------------------------------------------------------------------- */

enum tix_rc tix_payload_field_problem(struct tix_err *err, const char *path, const char *problem)
{
    if (problem == NULL)
        return TIX_OK;
    return tix_err_set(err, TIX_EINVAL, path, "%s %s", path, problem);
}

enum tix_rc tix_payload_check_key(const json_t *payload, const char *field, const char *key,
                                  struct tix_err *err)
{
    const char *id = json_string_value(json_object_get(payload, field));
    if (id == NULL || key == NULL || strcmp(id, key) != 0)
        return tix_err_set(err, TIX_EINVAL, field, "%s must equal the command key", field);
    return TIX_OK;
}

void tix_payload_join(char out[TIX_FIELD_PATH_MAX], const char *path, const char *name, size_t i)
{
    int n;
    if (name == NULL)
        n = snprintf(out, TIX_FIELD_PATH_MAX, "%s[%zu]", path, i);
    else
        n = snprintf(out, TIX_FIELD_PATH_MAX, "%s%s%s", path, path[0] != '\0' ? "." : "", name);
    if (n >= TIX_FIELD_PATH_MAX)
        out[TIX_FIELD_PATH_MAX - 1] = '\0';
}

static bool is_known_key(const struct tix_field_spec *specs, size_t n, const char *key, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(specs[i].name) == len && memcmp(specs[i].name, key, len) == 0)
            return true;
    return false;
}

/* TIX_EINVAL naming the unknown key of obj at path, worded as rules say. */
static enum tix_rc unknown_key(const char *path, const char *key, size_t key_len,
                               const struct tix_field_rules *rules, struct tix_err *err)
{
    char name[TIX_FIELD_PATH_MAX], field[TIX_FIELD_PATH_MAX];
    size_t len = rules->key_max > 0 && key_len > rules->key_max ? rules->key_max : key_len;
    snprintf(name, sizeof(name), "%.*s", (int)len, key);
    tix_payload_join(field, path, name, 0);
    if (rules->is_terse)
        return tix_err_set(err, TIX_EINVAL, field, "unknown field");
    return tix_err_set(err, TIX_EINVAL, field, "%s is an unknown field", field);
}

enum tix_rc tix_payload_check_object(const json_t *obj, const char *path,
                                     const struct tix_field_spec *specs, size_t n,
                                     const struct tix_field_rules *rules, struct tix_err *err)
{
    if (!json_is_object(obj))
        return tix_err_set(err, TIX_EINVAL, path, "%s must be a JSON object",
                           path[0] != '\0' ? path : "the payload");
    const char *key;
    size_t key_len;
    json_t *value;
    json_object_keylen_foreach((json_t *)obj, key, key_len, value)
    {
        if (!is_known_key(specs, n, key, key_len))
            return unknown_key(path, key, key_len, rules, err);
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(obj, specs[i].name);
        char field[TIX_FIELD_PATH_MAX];
        tix_payload_join(field, path, specs[i].name, 0);
        if (v == NULL && specs[i].is_required)
            return tix_err_set(err, TIX_EINVAL, field, "%s is required", field);
        if (v != NULL && rules->check(specs[i].kind, v, field, rules->ctx, err) != TIX_OK)
            return TIX_EINVAL;
    }
    return TIX_OK;
}
