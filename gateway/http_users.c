/* http_users.c - the signed-in user: profile, password, preferences, 2FA setup, erasure
 *
 * Personal fields are sealed under the user's key before they leave the gateway and opened
 * here when read. Erasure (DELETE /users/me) is decided by the user aggregate, then the user's
 * key is destroyed: every copy of their personal data, in the log and elsewhere, becomes noise.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"
#include "tix/password.h"
#include "tix/pii.h"
#include "tix/totp.h"

#include "identity.h"
#include "routes.h"

#define TIX_USER_WAIT_S 5

static void problem_field(struct tix_req *req, int status, const char *field, const char *msg)
{
    tix_gw_problem_fields(req, status, msg, json_pack("[{ss ss}]", "field", field, "message", msg));
}

/* Opens a sealed column value of the user, or NULL. */
static json_t *opened(struct tix_req *req, const uint8_t key[TIX_PII_KEY_BYTES], const char *sealed)
{
    char *plain = NULL;
    if (sealed == NULL || sealed[0] == '\0' ||
        tix_pii_open(key, req->who.id, sealed, &plain, NULL) != TIX_OK)
        return json_null();
    json_t *v = json_string(plain);
    free(plain);
    return v != NULL ? v : json_null();
}

static json_t *text_or_null(const PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? json_null() : json_string(PQgetvalue(res, 0, col));
}

/* The profile and the user's wrapped personal-data key, in one read; cached per thread
 * (gateway/cache.c: a change of the users row or of the key, erasure included, drops it). */
static const char me_sql[] =
    "SELECT u.email_enc, u.name_enc, u.email_verified, u.twofa_enabled, u.locale, u.timezone, "
    "u.preferences::text, to_json(u.created_at)#>>'{}', to_json(u.updated_at)#>>'{}', "
    "k.wrapped_key FROM rm.users u LEFT JOIN subject_keys k ON k.subject_id = u.id::text "
    "WHERE u.id = $1 AND NOT u.is_erased";

static void me_cb(struct tix_req *req, const PGresult *res, void *ctx)
{
    (void)ctx;
    if (res == NULL) {
        tix_gw_problem(req, 503, "unavailable", "your profile can't be read right now");
        return;
    }
    uint8_t key[TIX_PII_KEY_BYTES];
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 9) ||
        tix_pii_unwrap_key(req->th->gw->pii_key, PQgetvalue(res, 0, 9), key, NULL) != TIX_OK) {
        tix_gw_problem(req, 404, "not-found", "no such user (erased, or not yet registered)");
        return;
    }
    const char *prefs = PQgetvalue(res, 0, 6);
    json_t *p = tix_json_parse(prefs, strlen(prefs), NULL);
    json_t *body = json_pack(
        "{ss so so sb sb so so so ss ss}", "id", req->who.id, "email",
        opened(req, key, PQgetvalue(res, 0, 0)), "name", opened(req, key, PQgetvalue(res, 0, 1)),
        "email_verified", strcmp(PQgetvalue(res, 0, 2), "t") == 0, "twofa_enabled",
        strcmp(PQgetvalue(res, 0, 3), "t") == 0, "locale", text_or_null(res, 4), "timezone",
        text_or_null(res, 5), "preferences", p != NULL ? p : json_object(), "created_at",
        PQgetvalue(res, 0, 7), "updated_at", PQgetvalue(res, 0, 8));
    sodium_memzero(key, sizeof(key));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    size_t len = strlen(text);
    tix_gw_cache_set_memo(req->th, TIX_CACHE_USER, req->who.id, text, len);
    tix_gw_reply(req, 200, "application/json", text, len);
    sodium_memzero(text, len);
    free(text);
}

void tix_http_me_get(struct tix_req *req)
{
    size_t len;
    const char *memo = tix_gw_cache_memo(req->th, TIX_CACHE_USER, req->who.id, &len);
    if (memo != NULL) { /* rendered from the same cached rows before */
        tix_gw_reply(req, 200, "application/json", memo, len);
        return;
    }
    const char *params[] = {req->who.id};
    tix_gw_read_cached(req, TIX_CACHE_USER, req->who.id, -1, "gw_me", me_sql, 1, params, me_cb,
                       NULL);
}

static void user_command(struct tix_req *req, const char *type, json_t *payload, int wait_s)
{
    json_object_set_new(payload, "user_id", json_string(req->who.id));
    struct tix_gw_command cmd = {.type = type,
                                 .key = req->who.id,
                                 .payload = payload,
                                 .success_status = 200,
                                 .force_wait_s = wait_s};
    tix_gw_submit(req, &cmd);
}

void tix_http_me_update(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"name", TIX_F_STRING, false, 1, 200},
                                              {"locale", TIX_F_STRING, false, 2, 35},
                                              {"timezone", TIX_F_STRING, false, 1, 64},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    const char *name = tix_json_str(body, "name");
    if (name != NULL) {
        char *sealed = NULL;
        if (tix_pii_encrypt(req->th->db, req->th->gw->pii_key, req->who.id, name, &sealed, NULL) !=
            TIX_OK) {
            json_decref(body);
            tix_gw_problem(req, 503, "unavailable", "personal data can't be protected now");
            return;
        }
        json_object_del(body, "name");
        json_object_set_new(body, "name_enc", json_string(sealed));
        free(sealed);
    }
    user_command(req, "user.update_profile", body, 0);
}

void tix_http_me_preferences(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"preferences", TIX_F_OBJECT, true, 0, 0},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body != NULL)
        user_command(req, "user.set_preferences", body, 0);
}

/* A job verifying password against the user's hash (read here); NULL after answering. */
static struct tix_pw_job *password_job(struct tix_req *req, json_t *body, const char *password)
{
    const char *params[] = {req->who.id};
    PGresult *res = NULL;
    if (tix_db_exec(req->th->db,
                    "SELECT password_hash FROM rm.users WHERE id = $1 AND NOT is_erased", 1, params,
                    &res, NULL) != TIX_OK) {
        json_decref(body);
        tix_gw_problem(req, 503, "unavailable", "the password can't be checked right now");
        return NULL;
    }
    struct tix_pw_job *job = tix_pw_job_new(body);
    snprintf(job->verify_hash, sizeof(job->verify_hash), "%s",
             PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : tix_pw_dummy_hash());
    job->verify_pw = strdup(password);
    PQclear(res);
    return job;
}

static void password_checked(struct tix_req *req, void *arg)
{
    struct tix_pw_job *job = arg;
    if (!job->is_match)
        problem_field(req, 403, "current_password", "the password is not right");
    else
        user_command(req, "user.change_password", json_pack("{ss}", "password_hash", job->hash),
                     TIX_USER_WAIT_S);
    tix_pw_job_free(job);
}

void tix_http_me_password(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"current_password", TIX_F_STRING, true, 1, 128},
                                              {"new_password", TIX_F_STRING, true, 1, 128},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    struct tix_err err;
    if (tix_password_check(tix_json_str(body, "new_password"), &err) != TIX_OK) {
        json_decref(body);
        problem_field(req, 422, "new_password", err.msg);
        return;
    }
    struct tix_pw_job *job = password_job(req, body, tix_json_str(body, "current_password"));
    if (job == NULL)
        return;
    job->hash_pw = strdup(tix_json_str(body, "new_password"));
    tix_gw_offload(req, tix_pw_work, password_checked, job);
}

static json_t *erased(struct tix_req *req, const json_t *outcome, void *ctx)
{
    (void)outcome;
    (void)ctx;
    tix_pii_erase(req->th->db, req->who.id, NULL);
    return json_pack("{ss}", "status", "erased");
}

static void erase_checked(struct tix_req *req, void *arg)
{
    struct tix_pw_job *job = arg;
    bool ok = job->is_match;
    tix_pw_job_free(job);
    if (!ok) {
        problem_field(req, 403, "password", "the password is not right");
        return;
    }
    const char *params[] = {req->who.id};
    PGresult *res = NULL;
    if (tix_db_exec(req->th->db, "SELECT email_index FROM rm.users WHERE id = $1", 1, params, &res,
                    NULL) != TIX_OK ||
        PQntuples(res) != 1) {
        PQclear(res);
        tix_gw_problem(req, 503, "unavailable", "the account can't be erased right now");
        return;
    }
    json_t *payload =
        json_pack("{ss ss}", "user_id", req->who.id, "email_index", PQgetvalue(res, 0, 0));
    PQclear(res);
    struct tix_gw_command cmd = {.type = "user.erase",
                                 .key = req->who.id,
                                 .payload = payload,
                                 .success_status = 200,
                                 .on_success = erased,
                                 .force_wait_s = TIX_USER_WAIT_S};
    tix_gw_submit(req, &cmd);
}

void tix_http_me_delete(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"password", TIX_F_STRING, true, 1, 128},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    struct tix_pw_job *job = password_job(req, body, tix_json_str(body, "password"));
    if (job != NULL)
        tix_gw_offload(req, tix_pw_work, erase_checked, job);
}
