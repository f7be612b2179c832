/* envelope.c - encoding and checking command envelopes
 *
 * Checking is strict: unknown top-level fields, wrong types and oversized ids are refused, so
 * whatever reaches decide has a known shape.
 */
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "envelope.h"

static bool id_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > TIX_COMMAND_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

enum tix_rc tix_envelope_decode(const char *body, size_t len, struct tix_envelope *out,
                                struct tix_err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *root = tix_json_parse(body, len, err);
    if (root == NULL)
        return TIX_EINVAL;
    json_error_t jerr;
    json_t *payload = NULL;
    const char *issued_at = NULL;
    if (json_unpack_ex(root, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s:o, s:s, s:s, s?s, s?s, s?s}",
                       "command_id", &out->command_id, "type", &out->type, "key", &out->key,
                       "payload", &payload, "actor", &out->actor, "correlation_id",
                       &out->correlation_id, "causation_id", &out->causation_id, "source",
                       &out->source, "issued_at", &issued_at) != 0) {
        json_decref(root);
        memset(out, 0, sizeof(*out));
        return tix_err_set(err, TIX_EINVAL, "envelope", "malformed envelope: %s", jerr.text);
    }
    const char *bad = !id_ok(out->command_id)       ? "command_id"
                      : !id_ok(out->correlation_id) ? "correlation_id"
                      : !json_is_object(payload)    ? "payload"
                      : out->key[0] == '\0'         ? "key"
                      : out->actor[0] == '\0'       ? "actor"
                                                    : NULL;
    if (bad != NULL) {
        json_decref(root);
        memset(out, 0, sizeof(*out));
        return tix_err_set(err, TIX_EINVAL, bad, "envelope field %s is malformed", bad);
    }
    out->root = root;
    out->payload = payload;
    if (out->causation_id == NULL)
        out->causation_id = out->command_id;
    if (out->source == NULL)
        out->source = "";
    return TIX_OK;
}

void tix_envelope_deinit(struct tix_envelope *env)
{
    json_decref(env->root);
    memset(env, 0, sizeof(*env));
}

char *tix_envelope_encode(const char *command_id, const char *type, const char *key,
                          const json_t *payload, const char *actor, const char *correlation_id,
                          const char *causation_id, const char *source)
{
    char id[TIX_UUID_LEN + 1];
    if (command_id == NULL) {
        tix_uuid_v7(id);
        command_id = id;
    }
    char at[32];
    tix_time_format(tix_now_us(), at);
    json_t *root = json_pack("{ss ss ss sO ss ss ss ss ss}", "command_id", command_id, "type", type,
                             "key", key, "payload", payload, "actor", actor, "correlation_id",
                             correlation_id ? correlation_id : command_id, "causation_id",
                             causation_id ? causation_id : command_id, "source",
                             source ? source : "", "issued_at", at);
    char *text = tix_json_dump(root);
    json_decref(root);
    return text;
}
