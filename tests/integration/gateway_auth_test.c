/* gateway_auth_test.c - accounts over HTTP: register, verify, log in, refresh, log out, lockout,
 * password reset, TOTP two-factor with recovery codes, profile and erasure
 *
 * Tokens that would arrive by email are read where the email worker reads them: from the log,
 * sealed under the user's key. The stack runs with a high auth rate limit (these tests log in a
 * lot from one address); gateway_limits_test.c covers the limits themselves.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "http.h"
#include "shop.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/pii.h"
#include "tix/totp.h"

#define PII_KEY  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define PASSWORD "correct horse battery staple"
#define GRACE_S  "2" /* the refresh grace window of this suite's gateway, seconds */

static struct tix_test_stack stack;
static struct tix_db *db;

static void start(void)
{
    cr_assert(sodium_init() >= 0);
    static const char *const env[] = {"TIXMO_RL_AUTH_PER_IP=100000",
                                      "TIXMO_REFRESH_GRACE_S=" GRACE_S, NULL};
    tix_test_stack_start(&stack, env);
    db = tix_test_db("TIXMO_DB_URL");
}

static void stop(void)
{
    tix_db_close(db);
    tix_test_stack_stop(&stack);
}

TestSuite(auth, .init = start, .fini = stop, .timeout = 180);

static void new_email(char *out, size_t size)
{
    char id[TIX_UUID_LEN + 1];
    tix_uuid_v7(id);
    snprintf(out, size, "Ada.%.8s%.4s@Example.org", id + 24, id + 9);
}

static long post(const char *path, const char *token, struct tix_http_resp *r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static long post(const char *path, const char *token, struct tix_http_resp *r, const char *fmt, ...)
{
    char body[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    return tix_http("POST", path, token, body, tix_shop_wait5, r);
}

/* Registers email and waits until the read model has the account; returns the user id (new
 * string). */
static char *register_user(const char *email)
{
    char id[TIX_UUID_LEN + 1];
    tix_shop_register(db, email, PASSWORD, NULL, id);
    return strdup(id);
}

/* The newest token of event type for user, opened with the user's key, as the email worker
 * would. */
static char *token_from_log(const char *user, const char *type)
{
    return tix_test_user_token(db, PII_KEY, user, type);
}

/* Logs in; the response stays in r (tokens). */
static void login(const char *email, const char *password, struct tix_http_resp *r)
{
    post("/api/v1/auth/login", NULL, r, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
}

struct me_wait {
    const char *token;
    const char *key;
    const char *want;
};

static bool me_has(void *ctx)
{
    struct me_wait *w = ctx;
    struct tix_http_resp r;
    tix_http("GET", "/api/v1/users/me", w->token, NULL, NULL, &r);
    json_t *v = json_object_get(r.json, w->key);
    bool ok = r.status == 200 &&
              (json_is_string(v) ? strcmp(json_string_value(v), w->want) == 0
                                 : strcmp(json_is_true(v) ? "true" : "false", w->want) == 0);
    tix_http_resp_deinit(&r);
    return ok;
}

static void expect_me(const char *token, const char *key, const char *want)
{
    struct me_wait w = {token, key, want};
    cr_assert(tix_test_wait(me_has, &w, 10000), "users/me never showed %s = %s", key, want);
}

/* Whether GET /users/me with this access token is refused (401). */
static bool is_refused(void *token)
{
    struct tix_http_resp r;
    long status = tix_http("GET", "/api/v1/users/me", token, NULL, NULL, &r);
    tix_http_resp_deinit(&r);
    return status == 401;
}

Test(auth, register_verify_login_refresh_and_logout)
{
    char email[96];
    new_email(email, sizeof(email));
    char *user = register_user(email);
    struct tix_http_resp r, again;
    post("/api/v1/auth/register", NULL, &r, "{\"email\":\"%s\",\"password\":\"%s\"}", email,
         PASSWORD);
    cr_assert_eq(r.status, 409, "the address is taken: %s", r.body);
    tix_http_resp_deinit(&r);
    post("/api/v1/auth/register", NULL, &r, "{\"email\":\"%s\",\"password\":\"%s\"}",
         "not-an-address", PASSWORD);
    cr_assert(r.status == 422 && tix_http_has_error_field(&r, "email"), "%s", r.body);
    tix_http_resp_deinit(&r);
    post("/api/v1/auth/register", NULL, &r, "{\"email\":\"%s\",\"password\":\"%s\"}", "x@y.org",
         "short");
    cr_assert(r.status == 422 && tix_http_has_error_field(&r, "password"), "%s", r.body);
    tix_http_resp_deinit(&r);

    char *token = token_from_log(user, "user.email_verification_requested");
    post("/api/v1/auth/verify-email", NULL, &r, "{\"token\":\"%s\"%s}", token, "");
    cr_assert_eq(r.status, 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    post("/api/v1/auth/verify-email", NULL, &r, "{\"token\":\"%s\"%s}", token, "");
    cr_assert_eq(r.status, 409, "a second verification is refused: %s", r.body);
    tix_http_resp_deinit(&r);
    free(token);

    login(email, "wrong password!", &r);
    cr_assert_eq(r.status, 401);
    char unknown[96];
    new_email(unknown, sizeof(unknown));
    login(unknown, PASSWORD, &again);
    cr_assert_eq(again.status, 401);
    cr_assert_str_eq(tix_http_str(&r, "detail"), tix_http_str(&again, "detail"),
                     "an unknown address looks like a wrong password");
    tix_http_resp_deinit(&r);
    tix_http_resp_deinit(&again);

    login(email, PASSWORD, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char *access = strdup(tix_http_str(&r, "access_token"));
    char *refresh = strdup(tix_http_str(&r, "refresh_token"));
    tix_http_resp_deinit(&r);
    char lower[96];
    snprintf(lower, sizeof(lower), "%s", email);
    for (char *c = lower; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    expect_me(access, "email", lower);
    expect_me(access, "email_verified", "true");

    post("/api/v1/auth/refresh", NULL, &r, "{\"refresh_token\":\"%s\"%s}", refresh, "");
    cr_assert_eq(r.status, 200, "%s", r.body);
    char *refresh2 = strdup(tix_http_str(&r, "refresh_token"));
    tix_http_resp_deinit(&r);
    post("/api/v1/auth/refresh", NULL, &r, "{\"refresh_token\":\"%s\"%s}", refresh, "");
    cr_assert_eq(r.status, 200, "a second tab within the grace window: %s", r.body);
    cr_assert_str_eq(tix_http_str(&r, "refresh_token"), refresh2, "the same successor");
    tix_http_resp_deinit(&r);
    sleep(atoi(GRACE_S) + 1);
    post("/api/v1/auth/refresh", NULL, &r, "{\"refresh_token\":\"%s\"%s}", refresh, "");
    cr_assert_eq(r.status, 401, "replaying a rotated refresh token later is refused: %s", r.body);
    tix_http_resp_deinit(&r);
    post("/api/v1/auth/refresh", NULL, &r, "{\"refresh_token\":\"%s\"%s}", refresh2, "");
    cr_assert_eq(r.status, 401, "and it revoked the whole family: %s", r.body);
    tix_http_resp_deinit(&r);

    login(email, PASSWORD, &r);
    char *access3 = strdup(tix_http_str(&r, "access_token"));
    char *refresh3 = strdup(tix_http_str(&r, "refresh_token"));
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("POST", "/api/v1/auth/logout", access3, NULL, tix_shop_wait5, &r), 200,
                 "%s", r.body);
    tix_http_resp_deinit(&r);
    post("/api/v1/auth/refresh", NULL, &r, "{\"refresh_token\":\"%s\"%s}", refresh3, "");
    cr_assert_eq(r.status, 401, "a logged-out session can't refresh: %s", r.body);
    tix_http_resp_deinit(&r);
    cr_assert(tix_test_wait(is_refused, access3, 5000),
              "a logged-out session's access token is refused once the log says so");
    cr_assert(tix_test_wait(is_refused, access, 5000),
              "so is one of a family revoked for a replayed refresh token");
    free(access);
    free(refresh);
    free(refresh2);
    free(access3);
    free(refresh3);
    free(user);
}

/* A verified, logged-in account: its tokens (new strings). */
static void logged_in(char **access, char **refresh)
{
    char email[96];
    new_email(email, sizeof(email));
    char *user = register_user(email);
    char *token = token_from_log(user, "user.email_verification_requested");
    tix_shop_verify(db, token, user);
    struct tix_http_resp r;
    login(email, PASSWORD, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    *access = strdup(tix_http_str(&r, "access_token"));
    *refresh = strdup(tix_http_str(&r, "refresh_token"));
    tix_http_resp_deinit(&r);
    free(token);
    free(user);
}

struct tab {
    const char *refresh;
    pthread_barrier_t *go;
    struct tix_http_resp r;
};

static void *refresh_tab(void *arg)
{
    struct tab *t = arg;
    pthread_barrier_wait(t->go);
    post("/api/v1/auth/refresh", NULL, &t->r, "{\"refresh_token\":\"%s\"%s}", t->refresh, "");
    return NULL;
}

/* Refreshes with refresh (200 expected); returns the successor (new string). */
static char *refreshed(const char *refresh)
{
    struct tix_http_resp r;
    post("/api/v1/auth/refresh", NULL, &r, "{\"refresh_token\":\"%s\"%s}", refresh, "");
    cr_assert_eq(r.status, 200, "%s", r.body);
    char *next = strdup(tix_http_str(&r, "refresh_token"));
    tix_http_resp_deinit(&r);
    return next;
}

static long refresh_status(const char *refresh)
{
    struct tix_http_resp r;
    long status =
        post("/api/v1/auth/refresh", NULL, &r, "{\"refresh_token\":\"%s\"%s}", refresh, "");
    tix_http_resp_deinit(&r);
    return status;
}

Test(auth, two_tabs_refreshing_at_once_both_get_the_successor_and_the_session_lives)
{
    char *access = NULL, *refresh = NULL;
    logged_in(&access, &refresh);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    struct tab tabs[2] = {{.refresh = refresh, .go = &go}, {.refresh = refresh, .go = &go}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, refresh_tab, &tabs[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(tabs[i].r.status, 200, "tab %d: %s", i, tabs[i].r.body);
    const char *next = tix_http_str(&tabs[0].r, "refresh_token");
    cr_assert_str_eq(next, tix_http_str(&tabs[1].r, "refresh_token"), "one successor");
    /* the family is alive: the successor refreshes, both tabs' access tokens work */
    char *third = refreshed(next);
    for (int i = 0; i < 2; i++) {
        struct tix_http_resp me;
        cr_assert_eq(tix_http("GET", "/api/v1/users/me", tix_http_str(&tabs[i].r, "access_token"),
                              NULL, NULL, &me),
                     200, "%s", me.body);
        tix_http_resp_deinit(&me);
    }
    /* a token two rotations back revokes at once, even inside the window */
    cr_assert_eq(refresh_status(refresh), 401);
    cr_assert_eq(refresh_status(third), 401, "the whole family was revoked");
    cr_assert(tix_test_wait(is_refused, access, 5000), "and its access tokens die with it");
    for (int i = 0; i < 2; i++)
        tix_http_resp_deinit(&tabs[i].r);
    free(third);
    free(access);
    free(refresh);
}

Test(auth, failed_logins_lock_the_account_whether_or_not_it_exists)
{
    char email[96], unknown[96];
    new_email(email, sizeof(email));
    new_email(unknown, sizeof(unknown));
    free(register_user(email));
    struct tix_http_resp r;
    for (int i = 0; i < 5; i++) {
        login(email, "wrong password!", &r);
        cr_assert_eq(r.status, 401);
        tix_http_resp_deinit(&r);
        login(unknown, "wrong password!", &r);
        cr_assert_eq(r.status, 401);
        tix_http_resp_deinit(&r);
    }
    login(email, PASSWORD, &r);
    cr_assert_eq(r.status, 423, "locked even with the right password: %s", r.body);
    cr_assert(r.retry_after[0] != '\0');
    struct tix_http_resp u;
    login(unknown, PASSWORD, &u);
    cr_assert_eq(u.status, 423, "an unknown address locks the same way");
    cr_assert_str_eq(tix_http_str(&r, "detail"), tix_http_str(&u, "detail"));
    tix_http_resp_deinit(&r);
    tix_http_resp_deinit(&u);
}

Test(auth, a_password_reset_works_once_and_revokes_sessions)
{
    char email[96], unknown[96];
    new_email(email, sizeof(email));
    new_email(unknown, sizeof(unknown));
    char *user = register_user(email);
    struct tix_http_resp r, u;
    login(email, PASSWORD, &r);
    char *refresh = strdup(tix_http_str(&r, "refresh_token"));
    tix_http_resp_deinit(&r);
    post("/api/v1/auth/forgot-password", NULL, &r, "{\"email\":\"%s\"%s}", email, "");
    post("/api/v1/auth/forgot-password", NULL, &u, "{\"email\":\"%s\"%s}", unknown, "");
    cr_assert_eq(r.status, 202, "%s", r.body);
    cr_assert_eq(u.status, 202);
    cr_assert_str_eq(r.body, u.body, "the same answer whether the address has an account");
    tix_http_resp_deinit(&r);
    tix_http_resp_deinit(&u);
    char *token = token_from_log(user, "user.password_reset_requested");
    post("/api/v1/auth/reset-password", NULL, &r, "{\"token\":\"%s\",\"password\":\"%s\"}", token,
         "a brand new passphrase");
    cr_assert_eq(r.status, 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    post("/api/v1/auth/reset-password", NULL, &r, "{\"token\":\"%s\",\"password\":\"%s\"}", token,
         "yet another passphrase");
    cr_assert_eq(r.status, 409, "a reset token works once: %s", r.body);
    tix_http_resp_deinit(&r);
    login(email, PASSWORD, &r); /* even before the read model caught up: the aggregate refuses */
    cr_assert_eq(r.status, 401, "the old password is gone at once: %s", r.body);
    tix_http_resp_deinit(&r);
    cr_assert(tix_test_wait_projected(db, 10000));
    login(email, PASSWORD, &r);
    cr_assert_eq(r.status, 401, "the old password is gone");
    tix_http_resp_deinit(&r);
    login(email, "a brand new passphrase", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    post("/api/v1/auth/refresh", NULL, &r, "{\"refresh_token\":\"%s\"%s}", refresh, "");
    cr_assert_eq(r.status, 401, "sessions from before the reset are revoked: %s", r.body);
    tix_http_resp_deinit(&r);
    free(token);
    free(refresh);
    free(user);
}

static void code_at(const char *b32, int64_t step, char out[8])
{
    uint8_t secret[64];
    size_t len = 0;
    cr_assert_eq(tix_totp_decode_base32(b32, secret, sizeof(secret), &len, NULL), TIX_OK);
    snprintf(out, 8, "%06u", (unsigned)tix_totp_code(secret, len, step));
}

Test(auth, two_factor_with_totp_and_single_use_recovery_codes)
{
    char email[96];
    new_email(email, sizeof(email));
    free(register_user(email));
    struct tix_http_resp r;
    login(email, PASSWORD, &r);
    char *access = strdup(tix_http_str(&r, "access_token"));
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("POST", "/api/v1/auth/2fa/enable", access, NULL, tix_shop_wait5, &r), 200,
                 "%s", r.body);
    char *secret = strdup(tix_http_str(&r, "secret"));
    cr_assert(strncmp(tix_http_str(&r, "otpauth_uri"), "otpauth://totp/", 15) == 0);
    tix_http_resp_deinit(&r);
    int64_t step = 0;
    char code[8];
    for (int i = 0; i < 100; i++) { /* until the projector has the pending secret */
        step = tix_totp_step(tix_now_us() / 1000000);
        code_at(secret, step, code);
        post("/api/v1/auth/2fa/confirm", access, &r, "{\"code\":\"%s\"}", code);
        if (r.status != 422)
            break;
        tix_http_resp_deinit(&r);
        usleep(50000);
    }
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *codes = json_incref(json_object_get(r.json, "recovery_codes"));
    cr_assert_eq(json_array_size(codes), 10);
    tix_http_resp_deinit(&r);
    expect_me(access, "twofa_enabled", "true");

    login(email, PASSWORD, &r);
    cr_assert(json_is_true(json_object_get(r.json, "mfa_required")), "%s", r.body);
    char *mfa = strdup(tix_http_str(&r, "mfa_token"));
    tix_http_resp_deinit(&r);
    post("/api/v1/auth/2fa/verify", NULL, &r, "{\"mfa_token\":\"%s\",\"code\":\"%s\"}", mfa,
         "123456");
    cr_assert_eq(r.status, 401, "a wrong code: %s", r.body);
    tix_http_resp_deinit(&r);
    post("/api/v1/auth/2fa/verify", NULL, &r, "{\"mfa_token\":\"%s\",\"code\":\"%s\"}", mfa, code);
    cr_assert_eq(r.status, 401, "the step used to confirm can't be replayed: %s", r.body);
    tix_http_resp_deinit(&r);
    const char *recovery = json_string_value(json_array_get(codes, 0));
    post("/api/v1/auth/2fa/verify", NULL, &r, "{\"mfa_token\":\"%s\",\"recovery_code\":\"%s\"}",
         mfa, recovery);
    cr_assert_eq(r.status, 200, "a recovery code works: %s", r.body);
    cr_assert_not_null(tix_http_str(&r, "access_token"));
    tix_http_resp_deinit(&r);
    post("/api/v1/auth/2fa/verify", NULL, &r, "{\"mfa_token\":\"%s\",\"recovery_code\":\"%s\"}",
         mfa, recovery);
    cr_assert_eq(r.status, 401, "once: %s", r.body);
    tix_http_resp_deinit(&r);
    char next[8];
    code_at(secret, step + 1, next); /* the window tolerates one step of clock skew */
    post("/api/v1/auth/2fa/verify", NULL, &r, "{\"mfa_token\":\"%s\",\"code\":\"%s\"}", mfa, next);
    cr_assert_eq(r.status, 200, "a fresh code works: %s", r.body);
    tix_http_resp_deinit(&r);
    json_decref(codes);
    free(mfa);
    free(secret);
    free(access);
}

Test(auth, profile_password_change_and_erasure)
{
    char email[96];
    new_email(email, sizeof(email));
    char *user = register_user(email);
    struct tix_http_resp r;
    login(email, PASSWORD, &r);
    char *access = strdup(tix_http_str(&r, "access_token"));
    char *refresh = strdup(tix_http_str(&r, "refresh_token"));
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("PATCH", "/api/v1/users/me", access,
                          "{\"name\":\"Ada Lovelace\",\"timezone\":\"Europe/London\"}",
                          tix_shop_wait5, &r),
                 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    expect_me(access, "name", "Ada Lovelace");
    tix_http("PATCH", "/api/v1/users/me", access, "{\"nickname\":\"x\"}", tix_shop_wait5, &r);
    cr_assert(r.status == 422 && tix_http_has_error_field(&r, "nickname"), "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_http("PATCH", "/api/v1/users/me/password", access,
             "{\"current_password\":\"nope nope nope\",\"new_password\":\"a new passphrase\"}",
             tix_shop_wait5, &r);
    cr_assert_eq(r.status, 403, "%s", r.body);
    tix_http_resp_deinit(&r);
    char body[256];
    snprintf(body, sizeof(body),
             "{\"current_password\":\"%s\",\"new_password\":\"a new passphrase\"}", PASSWORD);
    cr_assert_eq(tix_http("PATCH", "/api/v1/users/me/password", access, body, tix_shop_wait5, &r),
                 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    post("/api/v1/auth/refresh", NULL, &r, "{\"refresh_token\":\"%s\"%s}", refresh, "");
    cr_assert_eq(r.status, 401, "a password change revokes sessions: %s", r.body);
    tix_http_resp_deinit(&r);
    cr_assert(tix_test_wait(is_refused, access, 5000), "and their access tokens");
    free(access);
    access = NULL;
    /* until the read model has the new hash; few tries, spaced: failures count towards the lock */
    for (int i = 0; i < 3 && access == NULL; i++) {
        usleep(300000);
        login(email, "a new passphrase", &r);
        if (r.status == 200)
            access = strdup(tix_http_str(&r, "access_token"));
        tix_http_resp_deinit(&r);
    }
    cr_assert_not_null(access, "the new password logs in");

    tix_http("DELETE", "/api/v1/users/me", access, "{\"password\":\"wrong one\"}", tix_shop_wait5,
             &r);
    cr_assert_eq(r.status, 403);
    tix_http_resp_deinit(&r);
    for (int i = 0; i < 200; i++) { /* until the read model has the new password's hash */
        tix_http("DELETE", "/api/v1/users/me", access, "{\"password\":\"a new passphrase\"}",
                 tix_shop_wait5, &r);
        if (r.status != 403)
            break;
        tix_http_resp_deinit(&r);
        usleep(25000);
    }
    cr_assert_eq(r.status, 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    login(email, "a new passphrase", &r);
    cr_assert_eq(r.status, 401, "an erased account can't log in");
    tix_http_resp_deinit(&r);
    char *again = NULL;
    for (int i = 0; i < 100 && again == NULL; i++) { /* the address is released */
        post("/api/v1/auth/register", NULL, &r, "{\"email\":\"%s\",\"password\":\"%s\"}", email,
             PASSWORD);
        if (r.status == 201)
            again = strdup(tix_http_str(&r, "user_id"));
        tix_http_resp_deinit(&r);
    }
    cr_assert_not_null(again, "the address could not register again");
    cr_assert_str_neq(again, user);
    uint8_t key[TIX_PII_KEY_BYTES];
    tix_pii_parse_key(PII_KEY, key, NULL);
    char *plain = NULL;
    const char *params[] = {user};
    PGresult *res = NULL;
    tix_db_exec(db,
                "SELECT data::json->>'email_enc' FROM events WHERE stream_id = 'user-' || $1 AND "
                "type = 'user.registered'",
                1, params, &res, NULL);
    cr_assert_eq(tix_pii_decrypt(db, key, user, PQgetvalue(res, 0, 0), &plain, NULL), TIX_ENOTFOUND,
                 "the log's copy of the address no longer opens");
    PQclear(res);
    free(again);
    free(access);
    free(refresh);
    free(user);
}
