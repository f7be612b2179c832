/* apikey.c - the API key aggregate: payload checks, decide and evolve
 *
 * The same three pure layers as organization.c. streams() checks a payload against a table of
 * field specs (type, value rules, no unknown keys; expires_at against cmd->now_us) and names the
 * one stream a command needs. decide() checks the actor first, then the key's state, and emits
 * complete events: evolve never needs the command. evolve() checks an event before touching the
 * state, so a malformed event leaves the state as it was.
 *
 * Invariants kept here: a key belongs to one organization for ever (revoke names it and must
 * match); a revoked key stays revoked; the aggregate never sees a secret, only its hash and its
 * 8-character prefix; every event is schema_version 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/mem.h"

#include "apikey.h"
#include "payload.h"

const char *const tix_apikey_scope_names[] = {
    "orgs:read",   "members:read", "commands:read", "events:read",  "events:write",
    "orders:read", "tickets:read", "tickets:scan",  "reports:read", NULL,
};

_Static_assert(sizeof(tix_apikey_scope_names) / sizeof(tix_apikey_scope_names[0]) ==
                   TIX_APIKEY_N_SCOPES + 1,
               "TIX_APIKEY_N_SCOPES counts the scope table");
_Static_assert(TIX_APIKEY_N_SCOPES <= 32, "scopes are bits of a uint32_t");

int tix_apikey_scope_parse(const char *s)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < TIX_APIKEY_N_SCOPES; i++)
        if (strcmp(s, tix_apikey_scope_names[i]) == 0)
            return i;
    return -1;
}

static void stream_id(char out[TIX_STREAM_ID_MAX], const char *key)
{
    snprintf(out, TIX_STREAM_ID_MAX, "%s%s", TIX_APIKEY_STREAM_PREFIX, key);
}

/* ---- text rules ------------------------------------------------------------------------- */

static bool is_valid_prefix(const json_t *v)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_";
    const char *s = json_string_value(v);
    return json_string_length(v) == TIX_APIKEY_PREFIX_LEN &&
           strspn(s, alphabet) == TIX_APIKEY_PREFIX_LEN;
}

/* NULL when v is an array of 1..TIX_APIKEY_MAX_SCOPES distinct known scopes, else what is
 * wrong with it. */
static const char *check_scopes(const json_t *v)
{
    if (!json_is_array(v))
        return "must be an array of scopes";
    size_t n = json_array_size(v);
    if (n < 1 || n > TIX_APIKEY_MAX_SCOPES)
        return "must hold 1..16 scopes";
    uint32_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(v, i);
        int bit =
            tix_payload_is_plain_string(s) ? tix_apikey_scope_parse(json_string_value(s)) : -1;
        if (bit < 0)
            return "holds an unknown scope";
        if (seen & (1u << bit))
            return "holds a scope twice";
        seen |= 1u << bit;
    }
    return NULL;
}

/* ---- payload shapes --------------------------------------------------------------------- */

enum field_kind { F_UUID, F_NAME, F_SCOPES, F_HEX64, F_PREFIX, F_EXPIRES };

/* NULL when v is acceptable for kind (at now_us), else what is wrong with it. */
static const char *check_value(enum field_kind kind, const json_t *v, int64_t now_us)
{
    if (kind == F_SCOPES)
        return check_scopes(v);
    if (kind == F_EXPIRES) {
        if (!json_is_integer(v))
            return "must be an integer (Unix seconds)";
        json_int_t s = json_integer_value(v);
        if (s > TIX_APIKEY_EXPIRES_MAX)
            return "is too far in the future";
        return s > now_us / 1000000 ? NULL : "must be in the future";
    }
    if (!json_is_string(v))
        return "must be a string";
    bool is_plain = tix_payload_is_plain_string(v);
    const char *s = json_string_value(v);
    switch (kind) {
    case F_UUID:
        return is_plain && tix_uuid_is_valid(s) ? NULL : "must be a lowercase UUID";
    case F_NAME:
        return tix_payload_is_text(v, 1, TIX_APIKEY_NAME_MAX_CHARS, true, false)
                   ? NULL
                   : "must be 1..100 characters without control characters";
    case F_HEX64:
        return is_plain && tix_payload_is_hex64(s) ? NULL : "must be 64 lowercase hex characters";
    case F_PREFIX:
        return is_plain && is_valid_prefix(v) ? NULL : "must be 8 base64url characters";
    case F_SCOPES:
    case F_EXPIRES:
        break;
    }
    return "is not supported";
}

static enum tix_rc check_field_cb(int kind, const json_t *v, const char *path, const void *ctx,
                                  struct tix_err *err)
{
    const int64_t *now_us = ctx;
    return tix_payload_field_problem(err, path, check_value((enum field_kind)kind, v, *now_us));
}

/* Checks cmd's payload against specs; organization_id must also equal cmd->key. Returns TIX_OK
 * or TIX_EINVAL with the offending field in err. */
static enum tix_rc check_payload(const struct tix_command *cmd, const struct tix_field_spec *specs,
                                 size_t n, struct tix_err *err)
{
    const struct tix_field_rules rules = {
        .check = check_field_cb, .ctx = &cmd->now_us, .is_terse = true};
    if (tix_payload_check_object(cmd->payload, "", specs, n, &rules, err) != TIX_OK)
        return TIX_EINVAL;
    return tix_payload_check_key(cmd->payload, "organization_id", cmd->key, err);
}

#define N_SPECS(a) (sizeof(a) / sizeof((a)[0]))

static const struct tix_field_spec create_fields[] = {
    {.name = "api_key_id", .kind = F_UUID, .is_required = true},
    {.name = "organization_id", .kind = F_UUID, .is_required = true},
    {.name = "name", .kind = F_NAME, .is_required = true},
    {.name = "scopes", .kind = F_SCOPES, .is_required = true},
    {.name = "secret_hash", .kind = F_HEX64, .is_required = true},
    {.name = "prefix", .kind = F_PREFIX, .is_required = true},
    {.name = "expires_at", .kind = F_EXPIRES, .is_required = false},
};
static const struct tix_field_spec revoke_fields[] = {
    {.name = "api_key_id", .kind = F_UUID, .is_required = true},
    {.name = "organization_id", .kind = F_UUID, .is_required = true},
};

static int key_streams(const struct tix_command *cmd, const struct tix_field_spec *specs, size_t n,
                       char ids[][TIX_STREAM_ID_MAX], struct tix_err *err)
{
    if (check_payload(cmd, specs, n, err) != TIX_OK)
        return -1;
    stream_id(ids[0], tix_json_str(cmd->payload, "api_key_id"));
    return 1;
}

static int create_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                          struct tix_err *err)
{
    return key_streams(cmd, create_fields, N_SPECS(create_fields), ids, err);
}

static int revoke_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                          struct tix_err *err)
{
    return key_streams(cmd, revoke_fields, N_SPECS(revoke_fields), ids, err);
}

/* ---- decide ----------------------------------------------------------------------------- */

/* The state of the key the payload names; NULL after rejecting out when the actor may not
 * manage keys. *id gets the key's stream id. */
static const struct tix_apikey_state *load_key(const struct tix_command *cmd,
                                               const struct tix_view *view,
                                               char id[TIX_STREAM_ID_MAX], struct tix_decision *out)
{
    stream_id(id, tix_json_str(cmd->payload, "api_key_id"));
    struct tix_actor a = tix_payload_parse_actor(cmd->actor);
    if (!a.is_valid) {
        tix_decision_reject(out, "forbidden", NULL, "only users and the system manage API keys");
        return NULL;
    }
    static const struct tix_apikey_state none = {0};
    const struct tix_apikey_state *s = tix_view_state(view, id, NULL);
    return s != NULL ? s : &none;
}

static void emit_created(const struct tix_command *cmd, const char *id, struct tix_decision *out)
{
    const json_t *p = cmd->payload;
    char name[sizeof(((struct tix_apikey_state *)0)->name)];
    size_t len = json_string_length(json_object_get(p, "name"));
    const char *trimmed = tix_payload_trim(tix_json_str(p, "name"), &len);
    snprintf(name, sizeof(name), "%.*s", (int)len, trimmed);
    const json_t *expires = json_object_get(p, "expires_at");
    tix_decision_emit(
        out, id, "apikey.created",
        json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:o, s:s}", "api_key_id",
                  tix_json_str(p, "api_key_id"), "organization_id", cmd->key, "name", name,
                  "scopes", json_deep_copy(json_object_get(p, "scopes")), "secret_hash",
                  tix_json_str(p, "secret_hash"), "prefix", tix_json_str(p, "prefix"), "expires_at",
                  expires != NULL ? json_integer(json_integer_value(expires)) : json_null(),
                  "created_by", cmd->actor));
    char at[32];
    tix_time_format(cmd->now_us, at);
    tix_decision_set_result(out, json_pack("{s:s, s:s}", "api_key_id",
                                           tix_json_str(p, "api_key_id"), "created_at", at));
}

static void decide_create(const struct tix_command *cmd, const struct tix_view *view,
                          struct tix_decision *out)
{
    char id[TIX_STREAM_ID_MAX];
    const struct tix_apikey_state *s = load_key(cmd, view, id, out);
    if (s == NULL)
        return;
    if (s->exists) {
        tix_decision_reject(out, "already_exists", "api_key_id", "the API key id is taken");
        return;
    }
    emit_created(cmd, id, out);
}

static void decide_revoke(const struct tix_command *cmd, const struct tix_view *view,
                          struct tix_decision *out)
{
    char id[TIX_STREAM_ID_MAX];
    const struct tix_apikey_state *s = load_key(cmd, view, id, out);
    if (s == NULL)
        return;
    const char *key_id = tix_json_str(cmd->payload, "api_key_id");
    if (!s->exists || strcmp(s->organization_id, cmd->key) != 0) {
        tix_decision_reject(out, "not_found", "api_key_id", "no API key %s in the organization",
                            key_id);
        return;
    }
    tix_decision_set_result(out, json_pack("{s:s}", "api_key_id", key_id));
    if (s->is_revoked)
        return;
    tix_decision_emit(out, id, "apikey.revoked",
                      json_pack("{s:s, s:s, s:s}", "api_key_id", key_id, "organization_id",
                                cmd->key, "revoked_by", cmd->actor));
}

const struct tix_command_handler tix_apikey_handlers[] = {
    {"apikey.create", create_streams, decide_create},
    {"apikey.revoke", revoke_streams, decide_revoke},
    {NULL, NULL, NULL},
};

/* ---- evolve ----------------------------------------------------------------------------- */

static void *key_create(void)
{
    return tix_xcalloc(1, sizeof(struct tix_apikey_state));
}

static void key_destroy(void *p)
{
    free(p);
}

/* The scopes of an event as bits; known scopes only (a scope retired later still replays).
 * False when scopes is not an array of strings. */
static bool read_scopes(const json_t *scopes, uint32_t *bits)
{
    if (!json_is_array(scopes))
        return false;
    *bits = 0;
    for (size_t i = 0; i < json_array_size(scopes); i++) {
        const json_t *s = json_array_get(scopes, i);
        if (!json_is_string(s))
            return false;
        int bit = tix_apikey_scope_parse(json_string_value(s));
        if (bit >= 0)
            *bits |= 1u << bit;
    }
    return true;
}

static enum tix_rc apply_created(struct tix_apikey_state *s, const json_t *data)
{
    const char *id = tix_payload_str_fitting(data, "api_key_id", sizeof(s->id));
    const char *org = tix_payload_str_fitting(data, "organization_id", sizeof(s->organization_id));
    const char *name = tix_payload_str_fitting(data, "name", sizeof(s->name));
    const char *prefix = tix_payload_str_fitting(data, "prefix", sizeof(s->prefix));
    const json_t *expires = json_object_get(data, "expires_at");
    uint32_t scopes = 0;
    if (s->exists || !tix_uuid_is_valid(id) || !tix_uuid_is_valid(org) || name == NULL ||
        prefix == NULL || !read_scopes(json_object_get(data, "scopes"), &scopes) ||
        !tix_payload_is_hex64(tix_json_str(data, "secret_hash")) ||
        !(expires == NULL || json_is_null(expires) || json_is_integer(expires)))
        return TIX_EINVAL;
    s->exists = true;
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->organization_id, sizeof(s->organization_id), "%s", org);
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
    s->scopes = scopes;
    s->expires_at = json_is_integer(expires) ? (int64_t)json_integer_value(expires) : 0;
    return TIX_OK;
}

static enum tix_rc apply_revoked(struct tix_apikey_state *s, const json_t *data)
{
    const char *id = tix_json_str(data, "api_key_id");
    const char *org = tix_json_str(data, "organization_id");
    if (!s->exists || id == NULL || org == NULL || strcmp(id, s->id) != 0 ||
        strcmp(org, s->organization_id) != 0)
        return TIX_EINVAL;
    s->is_revoked = true;
    return TIX_OK;
}

static enum tix_rc key_evolve(void *p, const char *type, int schema_version, const json_t *data)
{
    enum tix_rc (*apply)(struct tix_apikey_state *, const json_t *) = NULL;
    if (strcmp(type, "apikey.created") == 0)
        apply = apply_created;
    else if (strcmp(type, "apikey.revoked") == 0)
        apply = apply_revoked;
    else
        return TIX_OK;
    if (schema_version != 1 || !json_is_object(data))
        return TIX_EINVAL;
    return apply(p, data);
}

const struct tix_stream_kind tix_apikey_stream_kind = {
    .prefix = TIX_APIKEY_STREAM_PREFIX,
    .create = key_create,
    .destroy = key_destroy,
    .evolve = key_evolve,
};
