/* http_api_keys.c - an organization's API keys: list, create (the key shown once), revoke
 *
 * A key is "tixmo_<key id>_<secret>": the secret is 32 random bytes in base64url without
 * padding (43 characters), made here and never sent anywhere but to the client that created
 * it, once. The apikey.create command carries only its BLAKE2b-256 hash (what auth.c compares
 * against) and its first 8 characters (the prefix lists show, so people can tell keys apart).
 *
 * Because the answer to a create is the only place the secret ever appears, the create waits
 * for the outcome whatever Prefer says (force_wait_s): a 202 would lose the key. When the
 * outcome does not come in time submit.c answers 503 and the client lists the keys to see
 * whether one was made. A retry with the same Idempotency-Key after such a 503 is deduplicated
 * by the processor into the first attempt's outcome, a key whose secret this request does not
 * have: that is answered 409, never with a secret that would not work.
 *
 * Access (admin or owner of the organization in the path; API keys are refused because the
 * routes have no scope) is checked by the route table before these handlers run; a revoke
 * naming another organization's key in rm.api_keys is 404 and sends no command (its admin must
 * not even get a 202); a key the read model doesn't know yet is left to the aggregate. Lists come
 * from rm.api_keys (never the hash) and the last-use times auth.c records in Redis.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/mem.h"
#include "tix/redis.h"

#include "apikey.h"
#include "gateway.h"
#include "routes.h"

#define SECRET_BYTES  32
#define SECRET_LEN    43 /* base64url of 32 bytes, no padding */
#define KEY_LEN       (6 + TIX_UUID_LEN + 1 + SECRET_LEN)
#define CREATE_WAIT_S 10
#define LIST_MAX      1000 /* keys per answer, newest first */

/* ---- list ------------------------------------------------------------------------------- */

/* Times as RFC 3339 in UTC with microseconds, like tix_time_format. */
static const char list_sql[] =
    "SELECT id, name, prefix, scopes,"
    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " created_by, revoked_by,"
    " CASE WHEN revoked_at IS NOT NULL THEN 'revoked'"
    "      WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired'"
    "      ELSE 'active' END"
    " FROM rm.api_keys WHERE organization_id = $1 ORDER BY created_at DESC, id LIMIT $2";

static json_t *text_or_null(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

/* "a b c" -> ["a", "b", "c"] */
static json_t *split_scopes(const char *s)
{
    json_t *out = json_array();
    while (*s != '\0') {
        size_t n = strcspn(s, " ");
        if (n > 0)
            json_array_append_new(out, json_stringn(s, n));
        s += n;
        s += *s == ' ';
    }
    return out;
}

static json_t *key_json(PGresult *res, int i)
{
    return json_pack("{ss so ss so so so so so so ss so}", "id", PQgetvalue(res, i, 0), "name",
                     text_or_null(res, i, 1), "prefix", PQgetvalue(res, i, 2), "scopes",
                     split_scopes(PQgetvalue(res, i, 3)), "created_at", text_or_null(res, i, 4),
                     "expires_at", text_or_null(res, i, 5), "revoked_at", text_or_null(res, i, 6),
                     "created_by", text_or_null(res, i, 7), "revoked_by", text_or_null(res, i, 8),
                     "status", PQgetvalue(res, i, 9), "last_used_at", json_null());
}

/* Sets each item's last_used_at from Redis ("tix:apikey:used:<id>" = Unix seconds, written by
 * auth.c); leaves null when Redis is away or has nothing. */
static void fill_last_used(struct tix_req *req, json_t *items)
{
    size_t n = json_array_size(items);
    if (n == 0 || req->th->redis == NULL)
        return;
    char(*keys)[64] = tix_xcalloc(n, sizeof(*keys));
    const char **argv = tix_xcalloc(n + 1, sizeof(*argv));
    argv[0] = "MGET";
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof(keys[i]), "tix:apikey:used:%s",
                 tix_json_str(json_array_get(items, i), "id"));
        argv[i + 1] = keys[i];
    }
    redisReply *r = NULL;
    if (tix_redis_cmd_argv(req->th->redis, (int)n + 1, argv, NULL, &r, NULL) == TIX_OK &&
        r->type == REDIS_REPLY_ARRAY && r->elements == n) {
        for (size_t i = 0; i < n; i++) {
            const redisReply *e = r->element[i];
            char *end = NULL;
            long long s = e->type == REDIS_REPLY_STRING ? strtoll(e->str, &end, 10) : 0;
            if (end == NULL || *end != '\0' || s <= 0 || s > TIX_APIKEY_EXPIRES_MAX)
                continue;
            char at[32];
            tix_time_format((int64_t)s * 1000000, at);
            json_object_set_new(json_array_get(items, i), "last_used_at", json_string(at));
        }
    }
    if (r != NULL)
        freeReplyObject(r);
    free(argv);
    free(keys);
}

void tix_http_api_keys_list(struct tix_req *req)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", LIST_MAX);
    const char *params[] = {tix_gw_param(req, "id"), limit};
    PGresult *res = NULL;
    if (tix_db_exec(req->th->db, list_sql, 2, params, &res, NULL) != TIX_OK) {
        tix_gw_problem(req, 503, "unavailable", "the API keys can't be read right now");
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(items, key_json(res, i));
    PQclear(res);
    fill_last_used(req, items);
    tix_gw_reply_json(req, 200, json_pack("{so}", "items", items));
}

/* ---- create ----------------------------------------------------------------------------- */

/* What only this request knows until the outcome comes: the key (wiped when freed) and the
 * answer's other fields. */
struct new_key {
    char id[TIX_UUID_LEN + 1];
    char key[KEY_LEN + 1];
    json_t *shown; /* {id, name, scopes, prefix, expires_at} */
};

static void new_key_free(void *p)
{
    struct new_key *k = p;
    if (k == NULL)
        return;
    json_decref(k->shown);
    sodium_memzero(k, sizeof(*k));
    free(k);
}

static json_t *key_created(struct tix_req *req, const json_t *outcome, void *ctx)
{
    struct new_key *k = ctx;
    const json_t *result = json_object_get(outcome, "result");
    const char *id = tix_json_str(result, "api_key_id");
    if (id == NULL || strcmp(id, k->id) != 0) {
        char detail[160];
        snprintf(detail, sizeof(detail),
                 "an earlier request with this Idempotency-Key created API key %.36s; its secret "
                 "can't be shown again",
                 id != NULL ? id : "?");
        tix_gw_problem(req, 409, "key-already-created", detail);
        return TIX_GW_CHAINED;
    }
    req->is_secret = true; /* the key is shown once: never replayed from Redis */
    char location[160];
    snprintf(location, sizeof(location), "/api/v1/organizations/%s/api-keys/%s",
             tix_gw_param(req, "id"), k->id);
    tix_gw_header(req, "Location", location);
    json_t *body = json_deep_copy(k->shown);
    json_object_set_new(body, "key", json_string(k->key));
    const char *at = tix_json_str(result, "created_at");
    json_object_set_new(body, "created_at", at != NULL ? json_string(at) : json_null());
    return body;
}

/* Adds {field, message} to errors. */
static void add_error(json_t *errors, const char *field, const char *message)
{
    json_array_append_new(errors, json_pack("{ss ss}", "field", field, "message", message));
}

/* Checks what the field specs can't: the scopes one by one and the expiry against now. */
static void check_create(const json_t *body, json_t *errors)
{
    const json_t *scopes = json_object_get(body, "scopes");
    size_t n = json_array_size(scopes);
    uint32_t seen = 0;
    char msg[128];
    if (n == 0 || n > TIX_APIKEY_MAX_SCOPES)
        add_error(errors, "scopes", "must hold 1 to 16 scopes");
    for (size_t i = 0; i < n && n <= TIX_APIKEY_MAX_SCOPES; i++) {
        const char *s = json_string_value(json_array_get(scopes, i));
        int bit = tix_apikey_scope_parse(s);
        if (bit < 0) {
            snprintf(msg, sizeof(msg), "unknown scope %s%.40s%s", s ? "\"" : "",
                     s ? s : "(not a string)", s ? "\"" : "");
            add_error(errors, "scopes", msg);
            return;
        }
        if (seen & (1u << bit)) {
            snprintf(msg, sizeof(msg), "scope \"%s\" is listed twice", s);
            add_error(errors, "scopes", msg);
            return;
        }
        seen |= 1u << bit;
    }
    const json_t *expires = json_object_get(body, "expires_at");
    if (expires != NULL && json_integer_value(expires) <= tix_now_us() / 1000000)
        add_error(errors, "expires_at", "must be in the future (Unix seconds)");
}

/* The name without leading and trailing ASCII white space (the aggregate trims the same way). */
static json_t *trimmed(const json_t *name)
{
    const char *s = json_string_value(name);
    size_t len = json_string_length(name);
    while (len > 0 && strchr(" \t\n\r\v\f", s[0]) != NULL) {
        s++;
        len--;
    }
    while (len > 0 && strchr(" \t\n\r\v\f", s[len - 1]) != NULL)
        len--;
    return json_stringn(s, len);
}

/* A new key: id, secret, and the payload of apikey.create for it (into *payload). */
static struct new_key *make_key(struct tix_req *req, const json_t *body, json_t **payload)
{
    struct new_key *k = tix_xcalloc(1, sizeof(*k));
    tix_uuid_v7(k->id);
    unsigned char raw[SECRET_BYTES], hash[32];
    char secret[SECRET_LEN + 1], hash_hex[65], prefix[TIX_APIKEY_PREFIX_LEN + 1];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(secret, sizeof(secret), raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_generichash(hash, sizeof(hash), (const unsigned char *)secret, SECRET_LEN, NULL, 0);
    sodium_bin2hex(hash_hex, sizeof(hash_hex), hash, sizeof(hash));
    memcpy(prefix, secret, TIX_APIKEY_PREFIX_LEN);
    prefix[TIX_APIKEY_PREFIX_LEN] = '\0';
    snprintf(k->key, sizeof(k->key), "tixmo_%s_%s", k->id, secret);
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(secret, sizeof(secret));
    const json_t *expires = json_object_get(body, "expires_at");
    json_t *expires_at = json_null();
    if (expires != NULL) {
        char at[32];
        tix_time_format((int64_t)json_integer_value(expires) * 1000000, at);
        expires_at = json_string(at);
    }
    json_t *name = trimmed(json_object_get(body, "name"));
    json_t *scopes = json_object_get(body, "scopes");
    k->shown = json_pack("{ss sO sO ss so}", "id", k->id, "name", name, "scopes", scopes, "prefix",
                         prefix, "expires_at", expires_at);
    *payload = json_pack("{ss ss so sO ss ss}", "api_key_id", k->id, "organization_id",
                         tix_gw_param(req, "id"), "name", name, "scopes", scopes, "secret_hash",
                         hash_hex, "prefix", prefix);
    if (expires != NULL)
        json_object_set(*payload, "expires_at", (json_t *)expires);
    return k;
}

void tix_http_api_key_create(struct tix_req *req)
{
    static const struct tix_field fields[] = {
        {"name", TIX_F_STRING, true, 1, TIX_APIKEY_NAME_MAX_CHARS},
        {"scopes", TIX_F_ARRAY, true, 0, 0},
        {"expires_at", TIX_F_INT, false, 1, TIX_APIKEY_EXPIRES_MAX},
        {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    json_t *errors = json_array();
    check_create(body, errors);
    if (json_array_size(errors) > 0) {
        json_decref(body);
        tix_gw_problem_fields(req, 422, "the request body has invalid fields", errors);
        return;
    }
    json_decref(errors);
    json_t *payload = NULL;
    struct new_key *k = make_key(req, body, &payload);
    json_decref(body);
    struct tix_gw_command cmd = {.type = "apikey.create",
                                 .key = tix_gw_param(req, "id"),
                                 .payload = payload,
                                 .success_status = 201,
                                 .on_success = key_created,
                                 .force_wait_s = CREATE_WAIT_S,
                                 .ctx = k,
                                 .ctx_free = new_key_free};
    tix_gw_submit(req, &cmd);
}

/* ---- revoke ----------------------------------------------------------------------------- */

static json_t *key_revoked(struct tix_req *req, const json_t *outcome, void *ctx)
{
    return json_pack("{ss ss}", "id", tix_gw_param(req, "keyId"), "status", "revoked");
}

void tix_http_api_key_revoke(struct tix_req *req)
{
    const char *key_id = tix_gw_param(req, "keyId");
    const char *org = tix_gw_param(req, "id");
    if (!tix_uuid_is_valid(key_id)) {
        tix_gw_problem(req, 404, "not-found", "no such API key");
        return;
    }
    /* another organization's key does not exist here: 404, no command (a key too new for the
     * read model is left to the aggregate) */
    const char *params[] = {key_id, org};
    PGresult *res = NULL;
    if (!tix_gw_read(req, "SELECT 1 FROM rm.api_keys WHERE id = $1 AND organization_id <> $2", 2,
                     params, &res))
        return;
    bool is_foreign = PQntuples(res) > 0;
    PQclear(res);
    if (is_foreign) {
        tix_gw_problem(req, 404, "not-found", "no such API key");
        return;
    }
    struct tix_gw_command cmd = {
        .type = "apikey.revoke",
        .key = org,
        .payload = json_pack("{ss ss}", "api_key_id", key_id, "organization_id", org),
        .success_status = 200,
        .on_success = key_revoked};
    tix_gw_submit(req, &cmd);
}
