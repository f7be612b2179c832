/* api_keys.c - read model of API keys, the table the gateway authenticates keys against
 *
 * Table: api_keys, one row per key with its organization, name, prefix, scopes (space
 * separated: the gateway matches a route's scope as a whole word), the secret's hash, and when
 * and by whom it was created and revoked. Times come from the events (recorded_at; expires_at
 * from the payload's Unix seconds), so a replay from zero writes identical rows. The hash is
 * here for authentication only: nothing may list it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/mem.h"

#include "projection.h"

static const char ddl[] =
    "CREATE TABLE IF NOT EXISTS api_keys ("
    " id uuid PRIMARY KEY, organization_id uuid NOT NULL, name text NOT NULL,"
    " prefix text NOT NULL, scopes text NOT NULL, secret_hash text NOT NULL,"
    " created_by text NOT NULL, created_at timestamptz NOT NULL, expires_at timestamptz,"
    " revoked_at timestamptz, revoked_by text, version bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS api_keys_organization ON api_keys (organization_id);"
    /* the gateway caches keys: tell it which changed (schema/008) */
    "CREATE OR REPLACE TRIGGER api_keys_notify AFTER INSERT OR UPDATE OR DELETE ON api_keys"
    " FOR EACH ROW EXECUTE FUNCTION public.tix_rm_notify('id');";

static const char *const tables[] = {"api_keys", NULL};

/* The scopes array as one space-separated string (new, free()); NULL when scopes is not an
 * array of strings without spaces. */
static char *join_scopes(const json_t *scopes)
{
    if (!json_is_array(scopes))
        return NULL;
    size_t cap = 1;
    for (size_t i = 0; i < json_array_size(scopes); i++) {
        const char *s = json_string_value(json_array_get(scopes, i));
        if (s == NULL || s[0] == '\0' || strchr(s, ' ') != NULL)
            return NULL;
        cap += strlen(s) + 1;
    }
    char *out = tix_xcalloc(1, cap);
    size_t used = 0;
    for (size_t i = 0; i < json_array_size(scopes); i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i > 0 ? " " : "",
                                 json_string_value(json_array_get(scopes, i)));
    return out;
}

static enum tix_rc on_created(const json_t *d, const char *at, const char *ver,
                              struct tix_stmts *out)
{
    const json_t *expires = json_object_get(d, "expires_at");
    char expires_s[24] = "";
    if (json_is_integer(expires))
        snprintf(expires_s, sizeof(expires_s), "%" PRId64, (int64_t)json_integer_value(expires));
    else if (expires != NULL && !json_is_null(expires))
        return TIX_EINVAL;
    char *scopes = join_scopes(json_object_get(d, "scopes"));
    const char *name = tix_json_str(d, "name"), *prefix = tix_json_str(d, "prefix");
    const char *hash = tix_json_str(d, "secret_hash"), *by = tix_json_str(d, "created_by");
    if (scopes == NULL || name == NULL || prefix == NULL || hash == NULL || by == NULL) {
        free(scopes);
        return TIX_EINVAL;
    }
    tix_stmts_add(out,
                  "INSERT INTO api_keys (id, organization_id, name, prefix, scopes, secret_hash,"
                  " created_by, created_at, expires_at, version) VALUES ($1, $2, $3, $4, $5, $6,"
                  " $7, $8, to_timestamp($9::bigint), $10) ON CONFLICT (id) DO NOTHING",
                  10, tix_json_str(d, "api_key_id"), tix_json_str(d, "organization_id"), name,
                  prefix, scopes, hash, by, at, expires_s[0] != '\0' ? expires_s : NULL, ver);
    free(scopes);
    return TIX_OK;
}

static enum tix_rc apply(const struct tix_event *e, struct tix_stmts *out)
{
    bool is_created = strcmp(e->type, "apikey.created") == 0;
    if (!is_created && strcmp(e->type, "apikey.revoked") != 0)
        return TIX_OK;
    json_t *d = tix_json_parse(e->data, strlen(e->data), NULL);
    if (d == NULL || !tix_uuid_is_valid(tix_json_str(d, "api_key_id")) ||
        !tix_uuid_is_valid(tix_json_str(d, "organization_id"))) {
        json_decref(d);
        return TIX_EINVAL;
    }
    char at[32], ver[24];
    tix_time_format(e->recorded_at_us, at);
    snprintf(ver, sizeof(ver), "%" PRId64, e->stream_version);
    enum tix_rc rc = TIX_OK;
    if (is_created) {
        rc = on_created(d, at, ver, out);
    } else {
        const char *by = tix_json_str(d, "revoked_by");
        tix_stmts_add(out,
                      "UPDATE api_keys SET revoked_at = $2, revoked_by = $3, version = $4"
                      " WHERE id = $1 AND organization_id = $5",
                      5, tix_json_str(d, "api_key_id"), at, by != NULL ? by : "", ver,
                      tix_json_str(d, "organization_id"));
    }
    json_decref(d);
    return rc;
}

const struct tix_projection tix_projection_api_keys = {
    .name = "api_keys",
    .source = TIX_SOURCE_EVENTS,
    .ddl = ddl,
    .tables = tables,
    .apply = apply,
};
