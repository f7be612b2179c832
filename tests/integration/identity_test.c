/* identity_test.c - users and sessions end to end: bus, processor, store, projections, PII
 *
 * Real RabbitMQ and Postgres, real tixmo-processor and tixmo-projector. The test plays the
 * gateway: it hashes tokens, encrypts personal data under per-user keys (lib/pii) and computes
 * blind indexes, then sends commands and reads the users and sessions read models. Covers the
 * verification token travelling encrypted through the log, refresh rotation and reuse detection,
 * a password change revoking sessions in the read model, erasure (read models forget, the log's
 * ciphertexts stop decrypting, the address can register again from another partition), and
 * replaying both projections from zero.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "tix/bus.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/pii.h"

#define PARTITIONS   16
#define TEST_KEY_HEX "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000"
#define PW1          "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaDE"
#define PW2          "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaDI"

static pid_t processor_pid, projector_pid;
static struct tix_bus *bus;
static struct tix_db *db;
static uint8_t pii_key[TIX_PII_KEY_BYTES];

static void start(void)
{
    cr_assert(sodium_init() >= 0);
    cr_assert_eq(tix_pii_parse_key(TEST_KEY_HEX, pii_key, NULL), TIX_OK);
    struct tix_err err;
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), "identity-test", &bus, &err), TIX_OK,
                 "%s", err.msg);
    cr_assert_eq(tix_bus_declare_topology(bus, PARTITIONS, 5, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_enable_replies(bus, &err), TIX_OK, "%s", err.msg);
    db = tix_test_db("TIXMO_DB_URL");
    processor_pid = tix_test_spawn("tixmo-processor", NULL);
    projector_pid = tix_test_spawn("tixmo-projector", NULL);
}

static void stop(void)
{
    const pid_t pids[] = {processor_pid, projector_pid};
    tix_test_stop_all(pids, 2);
    tix_bus_close(bus);
    tix_db_close(db);
}

TestSuite(identity, .init = start, .fini = stop, .timeout = 180);

/* ---- the gateway's side ------------------------------------------------------------------- */

/* Sends a command keyed by the user and returns its outcome (new reference). Steals payload. */
static json_t *call(const char *type, const char *user, json_t *payload, const char *actor)
{
    json_t *outcome = NULL;
    struct tix_err err;
    enum tix_rc rc =
        tix_client_call(bus, PARTITIONS, NULL, type, user, payload, actor, 20000, &outcome, &err);
    json_decref(payload);
    cr_assert_eq(rc, TIX_OK, "%s %s: %s", type, user, err.msg);
    return outcome;
}

static void expect_status(json_t *outcome, const char *type, const char *status, const char *code)
{
    cr_assert_str_eq(tix_json_str(outcome, "status"), status, "%s: %s", type,
                     tix_json_str(json_object_get(outcome, "reason"), "code"));
    if (code != NULL)
        cr_assert_str_eq(tix_json_str(json_object_get(outcome, "reason"), "code"), code);
    json_decref(outcome);
}

static void send_ok(const char *type, const char *user, json_t *payload)
{
    expect_status(call(type, user, payload, "system:gateway"), type, "succeeded", NULL);
}

/* SHA-256 hex of a token, as the gateway stores it. */
static void token_hash(const char *token, char out[65])
{
    uint8_t h[32];
    crypto_hash_sha256(h, (const uint8_t *)token, strlen(token));
    sodium_bin2hex(out, 65, h, sizeof(h));
}

static char *enc(const char *user, const char *plaintext)
{
    char *ct = NULL;
    struct tix_err err;
    cr_assert_eq(tix_pii_encrypt(db, pii_key, user, plaintext, &ct, &err), TIX_OK, "%s", err.msg);
    return ct;
}

/* A fresh user id in another partition than avoid (or any when avoid is NULL). */
static void new_user(char out[TIX_UUID_LEN + 1], const char *avoid)
{
    do
        tix_uuid_v7(out);
    while (avoid != NULL && tix_partition_of(out, TIX_UUID_LEN, PARTITIONS) ==
                                tix_partition_of(avoid, TIX_UUID_LEN, PARTITIONS));
}

static void email_index_of(const char *email, char out[TIX_PII_BLIND_INDEX_SIZE])
{
    char norm[TIX_PII_EMAIL_MAX + 1];
    cr_assert_eq(tix_pii_normalize_email(email, norm, sizeof(norm), NULL), TIX_OK);
    tix_pii_blind_index(pii_key, "email", norm, out);
}

/* Registers user with email and verification token; returns the outcome. */
static json_t *register_user(const char *user, const char *email, const char *token)
{
    struct tix_err err;
    cr_assert_eq(tix_pii_create_key(db, pii_key, user, &err), TIX_OK, "%s", err.msg);
    char index[TIX_PII_BLIND_INDEX_SIZE], hash[65];
    email_index_of(email, index);
    token_hash(token, hash);
    char *email_enc = enc(user, email), *name_enc = enc(user, "Ana"), *token_enc = enc(user, token);
    json_t *p =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "user_id", user, "email_index", index,
                  "email_enc", email_enc, "name_enc", name_enc, "password_hash", PW1,
                  "verification_token_hash", hash, "verification_expires_at",
                  (json_int_t)(tix_now_us() / 1000000 + 3600), "token_enc", token_enc);
    free(email_enc);
    free(name_enc);
    free(token_enc);
    return call("user.register", user, p, "system:gateway");
}

static void unique_email(char *out, size_t size, const char *tag)
{
    char id[TIX_UUID_LEN + 1];
    tix_uuid_v7(id);
    snprintf(out, size, "%s.%.8s%.4s@Example.com", tag, id + 24, id + 9);
}

static void start_session(const char *user, const char *family, const char *token)
{
    char hash[65];
    token_hash(token, hash);
    send_ok("session.start", user,
            json_pack("{s:s, s:s, s:s, s:I, s:s}", "family_id", family, "user_id", user,
                      "token_hash", hash, "expires_at",
                      (json_int_t)(tix_now_us() / 1000000 + 86400), "user_agent", "curl/8.0"));
}

/* session.refresh from presented to next with a grace window of grace_s seconds. */
static json_t *refresh_within(const char *user, const char *family, const char *presented,
                              const char *next, int grace_s)
{
    char a[65], b[65];
    token_hash(presented, a);
    token_hash(next, b);
    return call("session.refresh", user,
                json_pack("{s:s, s:s, s:s, s:s, s:I, s:i}", "family_id", family, "user_id", user,
                          "presented_hash", a, "new_hash", b, "expires_at",
                          (json_int_t)(tix_now_us() / 1000000 + 86400), "grace_s", grace_s),
                "system:gateway");
}

static json_t *refresh(const char *user, const char *family, const char *presented,
                       const char *next)
{
    return refresh_within(user, family, presented, next, 0);
}

/* A registered user (tag names the email) with a session family started on token. */
static void given_session(char user[TIX_UUID_LEN + 1], char family[TIX_UUID_LEN + 1],
                          const char *tag, const char *token)
{
    char email[96];
    new_user(user, NULL);
    tix_uuid_v7(family);
    unique_email(email, sizeof(email), tag);
    expect_status(register_user(user, email, "t"), "user.register", "succeeded", NULL);
    start_session(user, family, token);
}

static long long count(const char *sql, const char *a, const char *b)
{
    const char *p[] = {a, b};
    return tix_test_scalar(db, sql, b != NULL ? 2 : 1, p);
}

/* ---- tests -------------------------------------------------------------------------------- */

Test(identity, registration_verification_and_sessions_reach_the_read_models)
{
    char user[TIX_UUID_LEN + 1], family[TIX_UUID_LEN + 1], email[96], vhash[65];
    new_user(user, NULL);
    tix_uuid_v7(family);
    unique_email(email, sizeof(email), "ana");
    json_t *o = register_user(user, email, "verify-token-1");
    cr_assert_str_eq(tix_json_str(json_object_get(o, "result"), "user_id"), user);
    expect_status(o, "user.register", "succeeded", NULL);
    expect_status(register_user(user, email, "x"), "user.register", "rejected", "already_exists");

    /* The email worker's view: the token travels encrypted in the log. */
    PGresult *res = NULL;
    const char *p[] = {user};
    cr_assert_eq(tix_db_exec(db,
                             "SELECT data->>'token_enc' FROM events WHERE stream_id ="
                             " 'user-' || $1 AND type = 'user.email_verification_requested'",
                             1, p, &res, NULL),
                 TIX_OK);
    cr_assert_eq(PQntuples(res), 1);
    char *token = NULL;
    cr_assert_eq(tix_pii_decrypt(db, pii_key, user, PQgetvalue(res, 0, 0), &token, NULL), TIX_OK);
    PQclear(res);
    cr_assert_str_eq(token, "verify-token-1");
    token_hash(token, vhash);
    free(token);
    send_ok("user.verify_email", user,
            json_pack("{s:s, s:s}", "user_id", user, "token_hash", vhash));

    start_session(user, family, "refresh-1");
    expect_status(refresh(user, family, "refresh-1", "refresh-2"), "session.refresh", "succeeded",
                  NULL);
    cr_assert(tix_test_wait_projected(db, 15000), "projector did not catch up");
    char index[TIX_PII_BLIND_INDEX_SIZE], h2[65];
    email_index_of(email, index);
    token_hash("refresh-2", h2);
    cr_assert_eq(count("SELECT count(*) FROM rm.users WHERE id = $1 AND email_index = $2 AND"
                       " email_verified AND NOT is_erased AND password_hash = '" PW1 "'"
                       " AND email_enc LIKE 'v1:%' AND version = 3",
                       user, index),
                 1);
    cr_assert_eq(count("SELECT count(*) FROM rm.sessions WHERE family_id = $1 AND current_hash ="
                       " $2 AND NOT is_revoked AND user_agent = 'curl/8.0' AND version = 2",
                       family, h2),
                 1);

    /* A password change revokes the family in the read model, and the aggregate agrees. */
    send_ok("user.change_password", user,
            json_pack("{s:s, s:s}", "user_id", user, "password_hash", PW2));
    expect_status(refresh(user, family, "refresh-2", "refresh-3"), "session.refresh", "rejected",
                  "revoked");
    cr_assert(tix_test_wait_projected(db, 15000), "projector did not catch up");
    cr_assert_eq(count("SELECT count(*) FROM rm.sessions WHERE family_id = $1 AND is_revoked AND"
                       " revoked_reason = 'password_changed'",
                       family, NULL),
                 1);
    cr_assert_eq(count("SELECT count(*) FROM rm.users WHERE id = $1 AND password_hash = '" PW2 "'",
                       user, NULL),
                 1);
}

Test(identity, reusing_a_rotated_refresh_token_revokes_the_family)
{
    char user[TIX_UUID_LEN + 1], family[TIX_UUID_LEN + 1];
    given_session(user, family, "reuse", "r1");
    expect_status(refresh(user, family, "r1", "r2"), "session.refresh", "succeeded", NULL);
    json_t *o = refresh(user, family, "r1", "r3");
    cr_assert_str_eq(tix_json_str(o, "status"), "succeeded");
    json_t *result = json_object_get(o, "result");
    cr_assert_str_eq(tix_json_str(result, "status"), "revoked");
    cr_assert_str_eq(tix_json_str(result, "reason"), "reuse_detected");
    json_decref(o);
    expect_status(refresh(user, family, "r2", "r4"), "session.refresh", "rejected", "revoked");
    cr_assert(tix_test_wait_projected(db, 15000), "projector did not catch up");
    cr_assert_eq(count("SELECT count(*) FROM rm.sessions WHERE family_id = $1 AND is_revoked AND"
                       " revoked_reason = 'reuse_detected'",
                       family, NULL),
                 1);
}

Test(identity, erasure_forgets_the_user_and_frees_the_address)
{
    char a[TIX_UUID_LEN + 1], b[TIX_UUID_LEN + 1], family[TIX_UUID_LEN + 1], email[96];
    char index[TIX_PII_BLIND_INDEX_SIZE];
    new_user(a, NULL);
    new_user(b, a);
    tix_uuid_v7(family);
    unique_email(email, sizeof(email), "gone");
    email_index_of(email, index);
    expect_status(register_user(a, email, "t"), "user.register", "succeeded", NULL);
    start_session(a, family, "ra");
    send_ok("user.update_profile", a,
            json_pack("{s:s, s:s, s:s}", "user_id", a, "locale", "pt-BR", "timezone",
                      "America/Sao_Paulo"));

    /* The gateway erases the subject key and sends user.erase. */
    cr_assert_eq(tix_pii_erase(db, a, NULL), TIX_OK);
    send_ok("user.erase", a, json_pack("{s:s, s:s}", "user_id", a, "email_index", index));
    cr_assert(tix_test_wait_projected(db, 15000), "projector did not catch up");
    cr_assert_eq(count("SELECT count(*) FROM rm.users WHERE id = $1 AND is_erased AND"
                       " email_index IS NULL AND email_enc IS NULL AND name_enc IS NULL AND"
                       " password_hash IS NULL AND locale IS NULL AND timezone IS NULL AND"
                       " erased_at IS NOT NULL",
                       a, NULL),
                 1);
    cr_assert_eq(count("SELECT count(*) FROM rm.sessions WHERE family_id = $1 AND is_revoked AND"
                       " revoked_reason = 'user_erased' AND user_agent IS NULL",
                       family, NULL),
                 1);
    /* What the log still holds no longer decrypts. */
    PGresult *res = NULL;
    const char *p[] = {a};
    cr_assert_eq(tix_db_exec(db,
                             "SELECT data->>'email_enc' FROM events WHERE stream_id = 'user-' || $1"
                             " AND type = 'user.registered'",
                             1, p, &res, NULL),
                 TIX_OK);
    char *plain = NULL;
    struct tix_err err;
    cr_assert_eq(tix_pii_decrypt(db, pii_key, a, PQgetvalue(res, 0, 0), &plain, &err),
                 TIX_ENOTFOUND);
    cr_assert_str_eq(err.msg, "erased");
    PQclear(res);
    expect_status(call("user.update_profile", a,
                       json_pack("{s:s, s:s}", "user_id", a, "locale", "en"), "system:gateway"),
                  "user.update_profile", "rejected", "erased");

    /* Another user, decided in another partition, may take the address now. */
    expect_status(register_user(b, email, "t"), "user.register", "succeeded", NULL);
    cr_assert(tix_test_wait_projected(db, 15000), "projector did not catch up");
    cr_assert_eq(
        count("SELECT count(*) FROM rm.users WHERE email_index = $1 AND id = $2", index, b), 1);
}

/* A history touching every user and session event type. */
static void make_history(void)
{
    char u[TIX_UUID_LEN + 1], f[TIX_UUID_LEN + 1], email[96], index[TIX_PII_BLIND_INDEX_SIZE];
    char h[65];
    new_user(u, NULL);
    tix_uuid_v7(f);
    unique_email(email, sizeof(email), "hist");
    email_index_of(email, index);
    expect_status(register_user(u, email, "t"), "user.register", "succeeded", NULL);
    token_hash("reset", h);
    char *token_enc = enc(u, "reset"), *secret_enc = enc(u, "JBSWY3DPEHPK3PXP");
    send_ok("user.request_password_reset", u,
            json_pack("{s:s, s:s, s:s, s:I}", "user_id", u, "token_hash", h, "token_enc", token_enc,
                      "expires_at", (json_int_t)(tix_now_us() / 1000000 + 600)));
    send_ok("user.reset_password", u,
            json_pack("{s:s, s:s, s:s}", "user_id", u, "token_hash", h, "password_hash", PW2));
    send_ok("user.set_preferences", u,
            json_pack("{s:s, s:{s:s}}", "user_id", u, "preferences", "theme", "dark"));
    send_ok("user.enable_2fa", u, json_pack("{s:s, s:s}", "user_id", u, "secret_enc", secret_enc));
    json_t *codes = json_array();
    for (int i = 0; i < 10; i++) {
        char code[24], ch[65];
        snprintf(code, sizeof(code), "code-%d", i);
        token_hash(code, ch);
        json_array_append_new(codes, json_string(ch));
    }
    send_ok("user.confirm_2fa", u,
            json_pack("{s:s, s:i, s:o}", "user_id", u, "step", 100, "recovery_code_hashes", codes));
    send_ok("user.use_totp", u, json_pack("{s:s, s:i}", "user_id", u, "step", 101));
    token_hash("code-3", h);
    send_ok("user.use_recovery_code", u, json_pack("{s:s, s:s}", "user_id", u, "code_hash", h));
    send_ok("user.record_login", u, json_pack("{s:s}", "user_id", u));
    start_session(u, f, "s1");
    expect_status(refresh(u, f, "s1", "s2"), "session.refresh", "succeeded", NULL);
    send_ok("session.revoke", u,
            json_pack("{s:s, s:s, s:s}", "family_id", f, "user_id", u, "reason", "logout"));
    free(token_enc);
    free(secret_enc);
}

Test(identity, replaying_users_and_sessions_from_zero_equals_the_live_read_models)
{
    make_history();
    cr_assert(tix_test_wait_projected(db, 15000), "projector did not catch up");
    const char *const users[] = {"users", NULL}, *const sessions[] = {"sessions", NULL};
    tix_test_replay_and_compare(db, "users", users);
    tix_test_replay_and_compare(db, "sessions", sessions);
}

/* The result status ("rotated", "revoked") of a succeeded session.refresh outcome (consumed). */
static void expect_refresh(json_t *o, const char *want)
{
    cr_assert_str_eq(tix_json_str(o, "status"), "succeeded");
    cr_assert_str_eq(tix_json_str(json_object_get(o, "result"), "status"), want);
    json_decref(o);
}

Test(identity, two_tabs_within_the_grace_window_share_a_successor_and_later_reuse_revokes)
{
    char user[TIX_UUID_LEN + 1], family[TIX_UUID_LEN + 1];
    given_session(user, family, "tabs", "g1");
    expect_refresh(refresh_within(user, family, "g1", "g2", 1), "rotated");
    expect_refresh(refresh_within(user, family, "g1", "g2", 1), "rotated"); /* the second tab */
    char stream[64];
    snprintf(stream, sizeof(stream), "session-%s", family);
    cr_assert_eq(count("SELECT count(*) FROM events WHERE stream_id = $1", stream, NULL), 2,
                 "the second tab appended nothing");
    usleep(1200000); /* past the window */
    expect_refresh(refresh_within(user, family, "g1", "g2", 1), "revoked");
    expect_status(refresh_within(user, family, "g2", "g3", 1), "session.refresh", "rejected",
                  "revoked");
    cr_assert(tix_test_wait_projected(db, 15000), "projector did not catch up");
    cr_assert_eq(count("SELECT count(*) FROM rm.sessions WHERE family_id = $1 AND is_revoked AND"
                       " revoked_reason = 'reuse_detected'",
                       family, NULL),
                 1);
}
