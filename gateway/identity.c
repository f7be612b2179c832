/* identity.c - tokens and hashes shared by the auth and user routes */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/jwt.h"
#include "tix/mem.h"
#include "tix/password.h"
#include "tix/pii.h"
#include "tix/totp.h"

#include "identity.h"

void tix_id_sha256_hex(const char *s, char out[TIX_HEX64])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)s, strlen(s));
    sodium_bin2hex(out, TIX_HEX64, h, sizeof(h));
}

void tix_id_random_secret(char out[TIX_TOKEN_SECRET_CHARS + 1])
{
    unsigned char b[32];
    randombytes_buf(b, sizeof(b));
    sodium_bin2base64(out, TIX_TOKEN_SECRET_CHARS + 1, b, sizeof(b),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(b, sizeof(b));
}

void tix_id_successor_secret(const struct tix_gw *gw, const char *presented,
                             char out[TIX_TOKEN_SECRET_CHARS + 1])
{
    static const char context[] = "tixmo refresh successor v1";
    unsigned char key[crypto_generichash_KEYBYTES], b[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(key));
    crypto_generichash_update(&st, (const unsigned char *)context, sizeof(context));
    crypto_generichash_update(&st, gw->jwt_key, gw->jwt_key_len);
    crypto_generichash_final(&st, key, sizeof(key));
    crypto_generichash(b, sizeof(b), (const unsigned char *)presented, strlen(presented), key,
                       sizeof(key));
    sodium_bin2base64(out, TIX_TOKEN_SECRET_CHARS + 1, b, sizeof(b),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(b, sizeof(b));
}

char *tix_id_access_token(const struct tix_gw *gw, const char *user_id, const char *sid)
{
    int64_t now = tix_now_us() / 1000000;
    json_t *claims =
        json_pack("{ss ss ss sI sI}", "sub", user_id, "sid", sid, "typ", "access", "iat",
                  (json_int_t)now, "exp", (json_int_t)(now + gw->cfg->access_ttl_s));
    char *token = NULL;
    tix_jwt_sign(claims, gw->jwt_key, gw->jwt_key_len, &token, NULL);
    json_decref(claims);
    return token;
}

static bool is_secret(const char *s)
{
    return strlen(s) == TIX_TOKEN_SECRET_CHARS &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
               TIX_TOKEN_SECRET_CHARS;
}

bool tix_id_parse_user_token(const char *token, char user[TIX_UUID_LEN + 1])
{
    if (token == NULL || strlen(token) != TIX_UUID_LEN + 1 + TIX_TOKEN_SECRET_CHARS ||
        token[TIX_UUID_LEN] != '.')
        return false;
    snprintf(user, TIX_UUID_LEN + 1, "%.*s", TIX_UUID_LEN, token);
    return tix_uuid_is_valid(user) && is_secret(token + TIX_UUID_LEN + 1);
}

bool tix_id_parse_refresh(const char *token, char user[TIX_UUID_LEN + 1],
                          char family[TIX_UUID_LEN + 1])
{
    size_t want = 4 + 2 * (TIX_UUID_LEN + 1) + TIX_TOKEN_SECRET_CHARS;
    if (token == NULL || strlen(token) != want || strncmp(token, "rt1.", 4) != 0 ||
        token[4 + TIX_UUID_LEN] != '.' || token[5 + 2 * TIX_UUID_LEN] != '.')
        return false;
    snprintf(user, TIX_UUID_LEN + 1, "%.*s", TIX_UUID_LEN, token + 4);
    snprintf(family, TIX_UUID_LEN + 1, "%.*s", TIX_UUID_LEN, token + 5 + TIX_UUID_LEN);
    return tix_uuid_is_valid(user) && tix_uuid_is_valid(family) &&
           is_secret(token + 6 + 2 * TIX_UUID_LEN);
}

json_t *tix_id_token_body(const struct tix_gw *gw, const char *user_id, const char *family_id,
                          const char *refresh_token)
{
    char *access = tix_id_access_token(gw, user_id, family_id);
    json_t *body =
        json_pack("{ss ss ss si ss}", "access_token", access, "refresh_token", refresh_token,
                  "token_type", "Bearer", "expires_in", gw->cfg->access_ttl_s, "user_id", user_id);
    free(access);
    return body;
}

json_t *tix_id_session_start(const struct tix_gw *gw, struct tix_req *req, const char *user_id,
                             char **refresh, char family[TIX_UUID_LEN + 1])
{
    char secret[TIX_TOKEN_SECRET_CHARS + 1], hash[TIX_HEX64];
    tix_uuid_v7(family);
    tix_id_random_secret(secret);
    size_t n = 4 + 2 * (TIX_UUID_LEN + 1) + TIX_TOKEN_SECRET_CHARS + 1;
    *refresh = tix_xmalloc(n);
    snprintf(*refresh, n, "rt1.%s.%s.%s", user_id, family, secret);
    tix_id_sha256_hex(*refresh, hash);
    const char *agent = evhttp_find_header(evhttp_request_get_input_headers(req->ev), "User-Agent");
    char ua[257];
    size_t k = 0;
    for (const char *c = agent; c != NULL && *c != '\0' && k + 1 < sizeof(ua); c++)
        if (*c >= 0x20 && *c < 0x7f) /* printable ASCII only: it goes into JSON and logs */
            ua[k++] = *c;
    ua[k] = '\0';
    json_t *payload =
        json_pack("{ss ss ss sI}", "family_id", family, "user_id", user_id, "token_hash", hash,
                  "expires_at", (json_int_t)(tix_now_us() / 1000000 + gw->cfg->refresh_ttl_s));
    if (k > 0)
        json_object_set_new(payload, "user_agent", json_string(ua));
    return payload;
}

bool tix_id_totp_check(struct tix_req *req, const char *user, bool is_pending, const char *code,
                       int64_t *step)
{
    const char *params[] = {user};
    PGresult *res = NULL;
    const char *sql = is_pending
                          ? "SELECT twofa_pending_secret_enc FROM rm.users WHERE id = $1"
                          : "SELECT twofa_secret_enc FROM rm.users WHERE id = $1 AND twofa_enabled";
    if (tix_db_exec(req->th->db, sql, 1, params, &res, NULL) != TIX_OK)
        return false;
    char *b32 = NULL;
    uint8_t secret[64];
    size_t len = 0;
    bool ok = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
              tix_pii_decrypt(req->th->db, req->th->gw->pii_key, user, PQgetvalue(res, 0, 0), &b32,
                              NULL) == TIX_OK &&
              tix_totp_decode_base32(b32, secret, sizeof(secret), &len, NULL) == TIX_OK &&
              tix_totp_verify(secret, len, code, tix_now_us() / 1000000, 1, step);
    sodium_memzero(secret, sizeof(secret));
    free(b32);
    PQclear(res);
    return ok;
}

void tix_id_recovery_hash(const char *code, char out[TIX_HEX64])
{
    char norm[64];
    size_t n = 0;
    for (const char *c = code; *c != '\0' && n + 1 < sizeof(norm); c++)
        if (*c != '-' && *c != ' ')
            norm[n++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
    norm[n] = '\0';
    tix_id_sha256_hex(norm, out);
}

void tix_id_act_as(struct tix_req *req, const char *user_id)
{
    if (req->who.kind == TIX_PRINCIPAL_NONE)
        snprintf(req->who.actor, sizeof(req->who.actor), "user:%s", user_id);
}

#define TIX_ID_KEY_CACHE 1024
#define TIX_ID_KEY_TTL_S 60

struct key_slot {
    char user[TIX_UUID_LEN + 1];
    uint8_t key[TIX_PII_KEY_BYTES];
    int64_t loaded_ms;
};

static __thread struct key_slot *key_cache; /* one per gateway thread, never shared */

bool tix_id_subject_key(struct tix_req *req, const char *user_id, uint8_t key[32])
{
    if (key_cache == NULL)
        key_cache = tix_xcalloc(TIX_ID_KEY_CACHE, sizeof(*key_cache));
    struct key_slot *slot =
        &key_cache[tix_partition_of(user_id, strlen(user_id), TIX_ID_KEY_CACHE)];
    int64_t now = tix_mono_ms();
    if (strcmp(slot->user, user_id) == 0 && now - slot->loaded_ms < TIX_ID_KEY_TTL_S * 1000) {
        memcpy(key, slot->key, TIX_PII_KEY_BYTES);
        return true;
    }
    if (tix_pii_load_key(req->th->db, req->th->gw->pii_key, user_id, key, NULL) != TIX_OK)
        return false;
    snprintf(slot->user, sizeof(slot->user), "%s", user_id);
    memcpy(slot->key, key, TIX_PII_KEY_BYTES);
    slot->loaded_ms = now;
    return true;
}

struct tix_pw_job *tix_pw_job_new(json_t *body)
{
    struct tix_pw_job *job = tix_xcalloc(1, sizeof(*job));
    job->body = body;
    return job;
}

static void wipe_free(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

void tix_pw_job_free(struct tix_pw_job *job)
{
    if (job == NULL)
        return;
    wipe_free(job->verify_pw);
    wipe_free(job->hash_pw);
    json_decref(job->body);
    free(job);
}

void tix_pw_work(void *arg)
{
    struct tix_pw_job *job = arg;
    if (job->verify_pw != NULL)
        job->is_match = tix_password_verify(job->verify_hash, job->verify_pw);
    if (job->hash_pw != NULL && (job->verify_pw == NULL || job->is_match))
        tix_password_hash(job->hash_pw, job->hash, NULL);
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[TIX_PASSWORD_HASH_SIZE];

static void make_dummy(void)
{
    char pw[TIX_TOKEN_SECRET_CHARS + 1];
    tix_id_random_secret(pw);
    tix_password_hash(pw, dummy_hash, NULL);
}

const char *tix_pw_dummy_hash(void)
{
    pthread_once(&dummy_once, make_dummy);
    return dummy_hash;
}
