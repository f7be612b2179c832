/* http_auth.c - register, verify email, log in (with 2FA), refresh, log out, reset passwords
 *
 * Passwords are checked here against the users read model (Argon2id); everything that changes
 * state is a command decided by the user or session aggregate, waited for, because the answer
 * (tokens) only exists with the outcome. Login failures count per account (by the email's blind
 * index, so the count exists whether or not the account does) and lock the account for a while
 * after TIX_LOGIN_MAX_FAILS: a locked account says so, and an unknown email gets exactly the
 * same answers as a wrong password.
 *
 * Argon2id runs on the event-loop thread (tens of milliseconds): auth routes are rate limited
 * per IP; moving hashing to a worker pool is a known follow-up (docs/architecture.md).
 */
#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"
#include "tix/jwt.h"
#include "tix/password.h"
#include "tix/pii.h"
#include "tix/redis.h"
#include "tix/totp.h"

#include "identity.h"
#include "routes.h"

#define TIX_LOGIN_MAX_FAILS 5
#define TIX_LOGIN_LOCK_S    900
#define TIX_EMAIL_TOKEN_TTL 86400
#define TIX_RESET_TOKEN_TTL 3600
#define TIX_MFA_TOKEN_TTL   300
#define TIX_COMMAND_WAIT_S  5

static void problem_field(struct tix_req *req, int status, const char *field, const char *msg)
{
    tix_gw_problem_fields(req, status, msg, json_pack("[{ss ss}]", "field", field, "message", msg));
}

/* A user token "<user>.<secret>" and its sealed copy for the email worker. */
static bool user_token(struct tix_req *req, const char *user, char **token, char hash[TIX_HEX64],
                       char **token_enc)
{
    char secret[TIX_TOKEN_SECRET_CHARS + 1];
    tix_id_random_secret(secret);
    size_t n = TIX_UUID_LEN + 2 + TIX_TOKEN_SECRET_CHARS;
    *token = malloc(n);
    snprintf(*token, n, "%s.%s", user, secret);
    tix_id_sha256_hex(*token, hash);
    struct tix_err err;
    if (tix_pii_encrypt(req->th->db, req->th->gw->pii_key, user, *token, token_enc, &err) == TIX_OK)
        return true;
    free(*token);
    *token = NULL;
    tix_gw_problem(req, 503, "unavailable", "personal data can't be protected right now");
    return false;
}

static json_t *registered(struct tix_req *req, const json_t *outcome, void *ctx)
{
    (void)ctx;
    const char *id = tix_json_str(json_object_get(outcome, "result"), "user_id");
    tix_gw_header(req, "Location", "/api/v1/users/me");
    return json_pack("{ss ss}", "user_id", id ? id : "", "status", "registered");
}

/* Registration, second half: on the loop thread once the password is hashed. */
static void register_hashed(struct tix_req *req, void *arg)
{
    struct tix_pw_job *job = arg;
    const struct tix_gw *gw = req->th->gw;
    const char *email = tix_json_str(job->body, "email"), *name = tix_json_str(job->body, "name");
    char index[TIX_PII_BLIND_INDEX_SIZE], hash[TIX_HEX64], user[TIX_UUID_LEN + 1];
    struct tix_err err;
    tix_pii_blind_index(gw->pii_key, "email", email, index);
    tix_uuid_v7(user);
    char *token = NULL, *token_enc = NULL, *email_enc = NULL, *name_enc = NULL;
    bool ok = tix_pii_create_key(req->th->db, gw->pii_key, user, &err) == TIX_OK &&
              tix_pii_encrypt(req->th->db, gw->pii_key, user, email, &email_enc, &err) == TIX_OK;
    if (ok && name != NULL)
        ok = tix_pii_encrypt(req->th->db, gw->pii_key, user, name, &name_enc, &err) == TIX_OK;
    if (!ok || !user_token(req, user, &token, hash, &token_enc)) {
        if (!ok)
            tix_gw_problem(req, 503, "unavailable", "personal data can't be protected right now");
        free(email_enc);
        free(name_enc);
        tix_pw_job_free(job);
        return;
    }
    json_t *payload = json_pack(
        "{ss ss ss ss ss ss sI}", "user_id", user, "email_index", index, "email_enc", email_enc,
        "password_hash", job->hash, "verification_token_hash", hash, "token_enc", token_enc,
        "verification_expires_at", (json_int_t)(tix_now_us() / 1000000 + TIX_EMAIL_TOKEN_TTL));
    if (name_enc != NULL)
        json_object_set_new(payload, "name_enc", json_string(name_enc));
    free(token);
    free(token_enc);
    free(email_enc);
    free(name_enc);
    tix_pw_job_free(job);
    tix_id_act_as(req, user);
    struct tix_gw_command cmd = {.type = "user.register",
                                 .key = user,
                                 .payload = payload,
                                 .success_status = 201,
                                 .on_success = registered};
    tix_gw_submit(req, &cmd);
}

void tix_http_register(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"email", TIX_F_STRING, true, 3, 254},
                                              {"password", TIX_F_STRING, true, 1, 128},
                                              {"name", TIX_F_STRING, false, 1, 200},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    char email[TIX_PII_EMAIL_MAX + 1];
    struct tix_err err;
    if (tix_pii_normalize_email(tix_json_str(body, "email"), email, sizeof(email), &err) !=
            TIX_OK ||
        tix_password_check(tix_json_str(body, "password"), &err) != TIX_OK) {
        json_decref(body);
        problem_field(req, 422, err.field, err.msg);
        return;
    }
    json_object_set_new(body, "email", json_string(email));
    struct tix_pw_job *job = tix_pw_job_new(body);
    job->hash_pw = strdup(tix_json_str(body, "password"));
    json_object_del(body, "password");
    tix_gw_offload(req, tix_pw_work, register_hashed, job);
}

/* Sends a token command for the user named inside the token; field "token" on bad tokens. */
static void token_command(struct tix_req *req, const char *type, const char *token, json_t *extra)
{
    char user[TIX_UUID_LEN + 1], hash[TIX_HEX64];
    if (!tix_id_parse_user_token(token, user)) {
        json_decref(extra);
        problem_field(req, 422, "token", "the token is malformed");
        return;
    }
    tix_id_sha256_hex(token, hash);
    json_object_set_new(extra, "user_id", json_string(user));
    json_object_set_new(extra, "token_hash", json_string(hash));
    tix_id_act_as(req, user);
    struct tix_gw_command cmd = {.type = type,
                                 .key = user,
                                 .payload = extra,
                                 .success_status = 200,
                                 .force_wait_s = TIX_COMMAND_WAIT_S};
    tix_gw_submit(req, &cmd);
}

void tix_http_verify_email(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"token", TIX_F_STRING, true, 1, 200},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    token_command(req, "user.verify_email", tix_json_str(body, "token"), json_object());
    json_decref(body);
}

static void reset_hashed(struct tix_req *req, void *arg)
{
    struct tix_pw_job *job = arg;
    token_command(req, "user.reset_password", tix_json_str(job->body, "token"),
                  json_pack("{ss}", "password_hash", job->hash));
    tix_pw_job_free(job);
}

void tix_http_reset_password(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"token", TIX_F_STRING, true, 1, 200},
                                              {"password", TIX_F_STRING, true, 1, 128},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    struct tix_err err;
    if (tix_password_check(tix_json_str(body, "password"), &err) != TIX_OK) {
        json_decref(body);
        problem_field(req, 422, "password", err.msg);
        return;
    }
    struct tix_pw_job *job = tix_pw_job_new(body);
    job->hash_pw = strdup(tix_json_str(body, "password"));
    json_object_del(body, "password");
    tix_gw_offload(req, tix_pw_work, reset_hashed, job);
}

/* ---- login ---- */

/* Failures counted per key ("login:<email index>", "mfa:<user>"); true when locked. */
static bool is_locked(struct tix_req *req, const char *key)
{
    redisReply *r = NULL;
    bool locked = false;
    if (tix_redis_cmd(req->th->redis, &r, NULL, "GET tix:fail:%s", key) == TIX_OK && r != NULL &&
        r->type == REDIS_REPLY_STRING)
        locked = strtol(r->str, NULL, 10) >= TIX_LOGIN_MAX_FAILS;
    if (r != NULL)
        freeReplyObject(r);
    return locked;
}

static void count_failure(struct tix_req *req, const char *key)
{
    redisReply *r = NULL;
    if (tix_redis_cmd(req->th->redis, &r, NULL, "INCR tix:fail:%s", key) == TIX_OK && r != NULL &&
        r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        tix_redis_cmd(req->th->redis, NULL, NULL, "EXPIRE tix:fail:%s %d", key, TIX_LOGIN_LOCK_S);
    if (r != NULL)
        freeReplyObject(r);
}

static void locked(struct tix_req *req)
{
    char after[16];
    snprintf(after, sizeof(after), "%d", TIX_LOGIN_LOCK_S);
    tix_gw_header(req, "Retry-After", after);
    tix_gw_problem(req, 423, "account-locked",
                   "too many failed attempts: this account is locked for a while");
}

struct session_ctx {
    char user[TIX_UUID_LEN + 1];
    char family[TIX_UUID_LEN + 1];
    char fail_key[80];
    char *refresh;
};

static void session_ctx_free(void *arg)
{
    struct session_ctx *c = arg;
    free(c->refresh);
    free(c);
}

static json_t *session_started(struct tix_req *req, const json_t *outcome, void *arg)
{
    req->is_secret = true;
    (void)outcome;
    struct session_ctx *c = arg;
    if (c->fail_key[0] != '\0')
        tix_redis_cmd(req->th->redis, NULL, NULL, "DEL tix:fail:%s", c->fail_key);
    return tix_id_token_body(req->th->gw, c->user, c->family, c->refresh);
}

/* Starts a session for user and answers the token pair; password_hash (may be NULL) is the
 * hash the password was verified against, re-checked by the session aggregate. */
static void start_session(struct tix_req *req, const char *user, const char *fail_key,
                          const char *password_hash)
{
    struct session_ctx *c = calloc(1, sizeof(*c));
    snprintf(c->user, sizeof(c->user), "%s", user);
    snprintf(c->fail_key, sizeof(c->fail_key), "%s", fail_key ? fail_key : "");
    json_t *payload = tix_id_session_start(req->th->gw, req, user, &c->refresh, c->family);
    if (password_hash != NULL)
        json_object_set_new(payload, "password_hash", json_string(password_hash));
    tix_id_act_as(req, user);
    struct tix_gw_command cmd = {.type = "session.start",
                                 .key = user,
                                 .payload = payload,
                                 .success_status = 200,
                                 .on_success = session_started,
                                 .force_wait_s = TIX_COMMAND_WAIT_S,
                                 .rejected_status = 401, /* e.g. erased since the read */
                                 .ctx = c,
                                 .ctx_free = session_ctx_free};
    tix_gw_submit(req, &cmd);
}

static char *mfa_token(const struct tix_gw *gw, const char *user)
{
    int64_t now = tix_now_us() / 1000000;
    json_t *claims = json_pack("{ss ss sI sI}", "sub", user, "typ", "mfa", "iat", (json_int_t)now,
                               "exp", (json_int_t)(now + TIX_MFA_TOKEN_TTL));
    char *token = NULL;
    tix_jwt_sign(claims, gw->jwt_key, gw->jwt_key_len, &token, NULL);
    json_decref(claims);
    return token;
}

/* Login, second half: on the loop thread once the password was checked. */
static void login_checked(struct tix_req *req, void *arg)
{
    struct tix_pw_job *job = arg;
    bool ok = job->is_match && job->flag;
    bool has_2fa = json_is_true(json_object_get(job->body, "has_2fa"));
    if (!ok) {
        count_failure(req, job->key);
        tix_gw_problem(req, 401, "invalid-credentials", "invalid email or password");
    } else if (!has_2fa) {
        start_session(req, job->user, job->key, job->verify_hash);
    } else {
        char *mfa = mfa_token(req->th->gw, job->user);
        req->is_secret = true;
        tix_redis_cmd(req->th->redis, NULL, NULL, "DEL tix:fail:%s", job->key);
        tix_gw_reply_json(req, 200,
                          json_pack("{sb ss si}", "mfa_required", 1, "mfa_token", mfa, "expires_in",
                                    TIX_MFA_TOKEN_TTL));
        free(mfa);
    }
    tix_pw_job_free(job);
}

void tix_http_login(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"email", TIX_F_STRING, true, 3, 254},
                                              {"password", TIX_F_STRING, true, 1, 128},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    char email[TIX_PII_EMAIL_MAX + 1], index[TIX_PII_BLIND_INDEX_SIZE];
    struct tix_err err;
    if (tix_pii_normalize_email(tix_json_str(body, "email"), email, sizeof(email), &err) !=
        TIX_OK) {
        json_decref(body);
        problem_field(req, 422, "email", err.msg);
        return;
    }
    tix_pii_blind_index(req->th->gw->pii_key, "email", email, index);
    struct tix_pw_job *job = tix_pw_job_new(json_object());
    snprintf(job->key, sizeof(job->key), "login:%.64s", index);
    job->verify_pw = strdup(tix_json_str(body, "password"));
    json_decref(body);
    if (is_locked(req, job->key)) {
        tix_pw_job_free(job);
        locked(req);
        return;
    }
    const char *params[] = {index};
    PGresult *res = NULL;
    if (tix_db_exec_prepared(req->th->db, "gw_login",
                             "SELECT id, password_hash, twofa_enabled FROM rm.users WHERE "
                             "email_index = $1 AND NOT is_erased",
                             1, params, &res, NULL) != TIX_OK) {
        tix_pw_job_free(job);
        tix_gw_problem(req, 503, "unavailable", "log in is unavailable right now");
        return;
    }
    job->flag = PQntuples(res) == 1; /* found */
    snprintf(job->verify_hash, sizeof(job->verify_hash), "%s",
             job->flag ? PQgetvalue(res, 0, 1) : tix_pw_dummy_hash());
    snprintf(job->user, sizeof(job->user), "%s", job->flag ? PQgetvalue(res, 0, 0) : "");
    json_object_set_new(job->body, "has_2fa",
                        json_boolean(job->flag && strcmp(PQgetvalue(res, 0, 2), "t") == 0));
    PQclear(res);
    tix_gw_offload(req, tix_pw_work, login_checked, job);
}

/* ---- second factor ---- */

static json_t *second_factor_used(struct tix_req *req, const json_t *outcome, void *arg)
{
    (void)outcome;
    start_session(req, arg, NULL, NULL);
    return TIX_GW_CHAINED;
}

void tix_http_login_2fa(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"mfa_token", TIX_F_STRING, true, 1, 2048},
                                              {"code", TIX_F_STRING, false, 6, 8},
                                              {"recovery_code", TIX_F_STRING, false, 8, 20},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    const struct tix_gw *gw = req->th->gw;
    json_t *claims = NULL;
    const char *code = tix_json_str(body, "code"), *rc = tix_json_str(body, "recovery_code");
    bool ok = tix_jwt_verify(tix_json_str(body, "mfa_token"), gw->jwt_key, gw->jwt_key_len,
                             tix_now_us() / 1000000, &claims, NULL) == TIX_OK &&
              strcmp(tix_json_str(claims, "typ") ? tix_json_str(claims, "typ") : "", "mfa") == 0;
    char *user = ok ? strdup(tix_json_str(claims, "sub")) : NULL;
    json_decref(claims);
    char key[80];
    snprintf(key, sizeof(key), "mfa:%s", user ? user : "");
    if (!ok || (code == NULL) == (rc == NULL)) {
        json_decref(body);
        free(user);
        tix_gw_problem(req, ok ? 422 : 401, ok ? "validation-failed" : "unauthorized",
                       ok ? "send exactly one of code and recovery_code"
                          : "the mfa_token is invalid or expired");
        return;
    }
    if (is_locked(req, key)) {
        json_decref(body);
        free(user);
        locked(req);
        return;
    }
    int64_t step = 0;
    json_t *payload = NULL;
    const char *type = NULL;
    if (code != NULL && tix_id_totp_check(req, user, false, code, &step)) {
        type = "user.use_totp";
        payload = json_pack("{ss sI}", "user_id", user, "step", (json_int_t)step);
    } else if (rc != NULL) {
        char hash[TIX_HEX64];
        tix_id_recovery_hash(rc, hash);
        type = "user.use_recovery_code";
        payload = json_pack("{ss ss}", "user_id", user, "code_hash", hash);
    }
    json_decref(body);
    if (payload == NULL) {
        count_failure(req, key);
        free(user);
        tix_gw_problem(req, 401, "invalid-code", "the code is not valid");
        return;
    }
    tix_id_act_as(req, user);
    struct tix_gw_command cmd = {.type = type,
                                 .key = user,
                                 .payload = payload,
                                 .success_status = 200,
                                 .on_success = second_factor_used,
                                 .force_wait_s = TIX_COMMAND_WAIT_S,
                                 .rejected_status = 401,
                                 .ctx = user,
                                 .ctx_free = free};
    tix_gw_submit(req, &cmd);
}

/* ---- refresh, logout, forgotten passwords ---- */

static json_t *refreshed(struct tix_req *req, const json_t *outcome, void *arg)
{
    req->is_secret = true;
    struct session_ctx *c = arg;
    const char *status = tix_json_str(json_object_get(outcome, "result"), "status");
    if (status != NULL && strcmp(status, "rotated") == 0)
        return tix_id_token_body(req->th->gw, c->user, c->family, c->refresh);
    tix_gw_problem(req, 401, "refresh-token-reused",
                   "this refresh token was already used: the whole session was revoked");
    return TIX_GW_CHAINED;
}

void tix_http_refresh(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"refresh_token", TIX_F_STRING, true, 1, 200},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    struct session_ctx *c = calloc(1, sizeof(*c));
    if (!tix_id_parse_refresh(tix_json_str(body, "refresh_token"), c->user, c->family)) {
        json_decref(body);
        free(c);
        tix_gw_problem(req, 401, "unauthorized", "the refresh token is malformed");
        return;
    }
    char presented[TIX_HEX64], next[TIX_HEX64], secret[TIX_TOKEN_SECRET_CHARS + 1];
    tix_id_sha256_hex(tix_json_str(body, "refresh_token"), presented);
    tix_id_successor_secret(req->th->gw, tix_json_str(body, "refresh_token"), secret);
    json_decref(body);
    size_t n = 4 + 2 * (TIX_UUID_LEN + 1) + TIX_TOKEN_SECRET_CHARS + 1;
    c->refresh = malloc(n);
    snprintf(c->refresh, n, "rt1.%s.%s.%s", c->user, c->family, secret);
    tix_id_sha256_hex(c->refresh, next);
    const struct tix_config *cfg = req->th->gw->cfg;
    json_t *payload = json_pack("{ss ss ss ss sI si}", "family_id", c->family, "user_id", c->user,
                                "presented_hash", presented, "new_hash", next, "expires_at",
                                (json_int_t)(tix_now_us() / 1000000 + cfg->refresh_ttl_s),
                                "grace_s", cfg->refresh_grace_s);
    tix_id_act_as(req, c->user);
    struct tix_gw_command cmd = {.type = "session.refresh",
                                 .key = c->user,
                                 .payload = payload,
                                 .success_status = 200,
                                 .on_success = refreshed,
                                 .force_wait_s = TIX_COMMAND_WAIT_S,
                                 .rejected_status = 401,
                                 .ctx = c,
                                 .ctx_free = session_ctx_free};
    tix_gw_submit(req, &cmd);
}

static json_t *logged_out(struct tix_req *req, const json_t *outcome, void *ctx)
{
    (void)req;
    (void)outcome;
    (void)ctx;
    return json_pack("{ss}", "status", "logged_out");
}

void tix_http_logout(struct tix_req *req)
{
    if (!tix_uuid_is_valid(req->who.session_id)) {
        tix_gw_reply_json(req, 200, json_pack("{ss}", "status", "logged_out"));
        return;
    }
    json_t *payload = json_pack("{ss ss ss}", "family_id", req->who.session_id, "user_id",
                                req->who.id, "reason", "logout");
    struct tix_gw_command cmd = {.type = "session.revoke",
                                 .key = req->who.id,
                                 .payload = payload,
                                 .success_status = 200,
                                 .on_success = logged_out,
                                 .force_wait_s = TIX_COMMAND_WAIT_S};
    tix_gw_submit(req, &cmd);
}

static json_t *generic_reset(struct tix_req *req, const json_t *outcome, void *ctx)
{
    (void)req;
    (void)outcome;
    (void)ctx;
    return json_pack("{ss ss}", "status", "accepted", "detail",
                     "if the address belongs to an account, a reset link is on its way");
}

void tix_http_forgot_password(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"email", TIX_F_STRING, true, 3, 254},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    char email[TIX_PII_EMAIL_MAX + 1], index[TIX_PII_BLIND_INDEX_SIZE];
    struct tix_err err;
    enum tix_rc rc =
        tix_pii_normalize_email(tix_json_str(body, "email"), email, sizeof(email), &err);
    json_decref(body);
    if (rc != TIX_OK) {
        problem_field(req, 422, "email", err.msg);
        return;
    }
    tix_pii_blind_index(req->th->gw->pii_key, "email", email, index);
    const char *params[] = {index};
    PGresult *res = NULL;
    char user[TIX_UUID_LEN + 1] = "";
    if (tix_db_exec(req->th->db, "SELECT id FROM rm.users WHERE email_index = $1 AND NOT is_erased",
                    1, params, &res, NULL) == TIX_OK &&
        PQntuples(res) == 1)
        snprintf(user, sizeof(user), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    char *token = NULL, *token_enc = NULL, hash[TIX_HEX64];
    if (user[0] == '\0' || !user_token(req, user, &token, hash, &token_enc)) {
        if (user[0] == '\0')
            tix_gw_reply_json(req, 202, generic_reset(req, NULL, NULL));
        return;
    }
    json_t *payload =
        json_pack("{ss ss ss sI}", "user_id", user, "token_hash", hash, "token_enc", token_enc,
                  "expires_at", (json_int_t)(tix_now_us() / 1000000 + TIX_RESET_TOKEN_TTL));
    free(token);
    free(token_enc);
    tix_id_act_as(req, user);
    struct tix_gw_command cmd = {.type = "user.request_password_reset",
                                 .key = user,
                                 .payload = payload,
                                 .success_status = 202,
                                 .on_success = generic_reset,
                                 .force_wait_s = TIX_COMMAND_WAIT_S};
    tix_gw_submit(req, &cmd);
}
