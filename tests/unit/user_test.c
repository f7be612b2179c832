/* user_test.c - the user aggregate's pure functions, driven like the processor
 *
 * Runs commands through the shared in-memory world (support/world.h): tix_world_run() calls
 * streams(), builds a view from the world's states, calls decide() with the world's clock, and
 * evolves accepted events into the states and a log. States are only ever built by evolving
 * events, so every test also exercises evolve. Commands default to the U key.
 * Secrets and personal data appear only as the hashes and "v1:" ciphertexts the gateway sends.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/json.h"
#include "world.h"

#include "user.h"

#define U        "0190c1e2-0000-7000-8000-00000000000a"
#define U2       "0190c1e2-0000-7000-8000-00000000000b"
#define U_STREAM TIX_USER_STREAM_PREFIX U
#define A_SELF   "user:" U
#define A_OTHER  "user:" U2
#define A_SYSTEM "system:gateway"

#define NOW_S  1700000000LL
#define NOW_US (NOW_S * 1000000)

/* Hashes are "%064x" of a number: EMAIL for the address, T_* for tokens. */
#define EMAIL       "00000000000000000000000000000000000000000000000000000000000e3a11"
#define EMAIL2      "00000000000000000000000000000000000000000000000000000000000e3a12"
#define EMAIL_CLAIM TIX_USEREMAIL_STREAM_PREFIX EMAIL
#define T_VERIFY    "0000000000000000000000000000000000000000000000000000000000000001"
#define T_VERIFY2   "0000000000000000000000000000000000000000000000000000000000000002"
#define T_RESET     "0000000000000000000000000000000000000000000000000000000000000003"
#define T_RESET2    "0000000000000000000000000000000000000000000000000000000000000004"
#define T_WRONG     "00000000000000000000000000000000000000000000000000000000000000ff"
#define PAD54       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define ENC(tag)    "v1:" PAD54 tag
#define PW1         "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaDE"
#define PW2         "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaDI"

/* ---- the world: tests/unit/support/world.c, keyed on U by default ----------------------- */

static void setup(void)
{
    tix_world_reset(NOW_US);
}

TestSuite(user, .init = setup, .fini = tix_world_teardown);

static void accept(const char *type, const char *actor, json_t *payload, struct tix_decision *d)
{
    tix_world_accept(U, type, actor, payload, d);
}

static void accept_quietly(const char *type, const char *actor, json_t *payload)
{
    tix_world_accept_quietly(U, type, actor, payload);
}

static void accept_no_events(const char *type, const char *actor, json_t *payload)
{
    tix_world_accept_no_events(U, type, actor, payload);
}

static void expect_rejected(const char *type, const char *actor, json_t *payload, const char *code,
                            const char *field)
{
    tix_world_expect_rejected(U, type, actor, payload, code, field);
}

static void expect_invalid_for(const char *key, const char *type, json_t *payload,
                               const char *field)
{
    tix_world_expect_invalid(key, type, A_SYSTEM, payload, field);
}

static void expect_invalid(const char *type, json_t *payload, const char *field)
{
    tix_world_expect_invalid(U, type, A_SYSTEM, payload, field);
}

static const struct tix_user_state *user_state(void)
{
    return tix_world_stream(U_STREAM)->state;
}

static const struct tix_useremail_state *claim_state(const char *email_index)
{
    char id[TIX_STREAM_ID_MAX];
    snprintf(id, sizeof(id), "%s%s", TIX_USEREMAIL_STREAM_PREFIX, email_index);
    return tix_world_stream(id)->state;
}

/* ---- payloads and givens ------------------------------------------------------------------ */

static json_t *register_payload(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "user_id", U, "email_index", EMAIL,
                     "email_enc", ENC("email"), "name_enc", ENC("name"), "password_hash", PW1,
                     "verification_token_hash", T_VERIFY, "verification_expires_at",
                     (json_int_t)(NOW_S + 3600), "token_enc", ENC("vtoken"));
}

static json_t *id_payload(void)
{
    return json_pack("{s:s}", "user_id", U);
}

static json_t *token_payload(const char *hash)
{
    return json_pack("{s:s, s:s}", "user_id", U, "token_hash", hash);
}

static json_t *token_request_payload(const char *hash, int64_t expires_at)
{
    return json_pack("{s:s, s:s, s:s, s:I}", "user_id", U, "token_hash", hash, "token_enc",
                     ENC("token"), "expires_at", (json_int_t)expires_at);
}

static json_t *reset_payload(const char *hash, const char *password_hash)
{
    return json_pack("{s:s, s:s, s:s}", "user_id", U, "token_hash", hash, "password_hash",
                     password_hash);
}

static json_t *password_payload(const char *password_hash)
{
    return json_pack("{s:s, s:s}", "user_id", U, "password_hash", password_hash);
}

static json_t *prefs_payload(const char *prefs)
{
    return json_pack("{s:s, s:o}", "user_id", U, "preferences", tix_json_of(prefs));
}

static json_t *secret_payload(const char *secret_enc)
{
    return json_pack("{s:s, s:s}", "user_id", U, "secret_enc", secret_enc);
}

static json_t *codes(unsigned first)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < TIX_RECOVERY_CODES; i++)
        json_array_append_new(a, json_string(tix_world_hx(first + i)));
    return a;
}

static json_t *confirm_payload(int64_t step)
{
    return json_pack("{s:s, s:I, s:o}", "user_id", U, "step", (json_int_t)step,
                     "recovery_code_hashes", codes(100));
}

static json_t *step_payload(int64_t step)
{
    return json_pack("{s:s, s:I}", "user_id", U, "step", (json_int_t)step);
}

static json_t *code_payload(const char *hash)
{
    return json_pack("{s:s, s:s}", "user_id", U, "code_hash", hash);
}

static json_t *erase_payload(const char *email_index)
{
    return json_pack("{s:s, s:s}", "user_id", U, "email_index", email_index);
}

static void given_user(void)
{
    accept_quietly("user.register", A_SYSTEM, register_payload());
}

static void given_2fa(void)
{
    given_user();
    accept_quietly("user.enable_2fa", A_SELF, secret_payload(ENC("secret")));
    accept_quietly("user.confirm_2fa", A_SELF, confirm_payload(1000));
}

/* ---- registry ----------------------------------------------------------------------------- */

static const char *const all_types[] = {
    "user.register",
    "user.request_email_verification",
    "user.verify_email",
    "user.request_password_reset",
    "user.reset_password",
    "user.change_password",
    "user.update_profile",
    "user.set_preferences",
    "user.enable_2fa",
    "user.confirm_2fa",
    "user.disable_2fa",
    "user.use_totp",
    "user.use_recovery_code",
    "user.record_login",
    "user.erase",
};
#define N_TYPES ((int)(sizeof(all_types) / sizeof(all_types[0])))

Test(user, registry_hosts_every_command_and_both_streams)
{
    int n = 0;
    while (tix_user_handlers[n].type != NULL)
        n++;
    cr_assert_eq(n, N_TYPES);
    for (int i = 0; i < N_TYPES; i++) {
        const struct tix_command_handler *h = tix_registry_handler(all_types[i]);
        cr_assert_not_null(h, "%s", all_types[i]);
        cr_assert_str_eq(h->type, all_types[i]);
        cr_assert_eq(h, &tix_user_handlers[i]);
    }
    cr_assert_null(tix_registry_handler("user.delete"));
    cr_assert_not_null(tix_registry_handler("organization.create"), "organizations stay");
    cr_assert_eq(tix_registry_stream_kind(U_STREAM), &tix_user_stream_kind);
    cr_assert_eq(tix_registry_stream_kind(EMAIL_CLAIM), &tix_useremail_stream_kind);
    cr_assert_str_eq(tix_user_stream_kind.prefix, "user-");
    cr_assert_str_eq(tix_useremail_stream_kind.prefix, "useremail-");
}

Test(user, streams_names_the_user_and_the_claim)
{
    const struct tix_command_handler *h = tix_registry_handler("user.register");
    json_t *p = register_payload();
    struct tix_command cmd = {.type = h->type, .key = U, .payload = p, .actor = A_SYSTEM};
    char ids[TIX_DECISION_MAX_STREAMS][TIX_STREAM_ID_MAX];
    cr_assert_eq(h->streams(&cmd, ids, NULL), 2);
    cr_assert_str_eq(ids[0], "user-" U);
    cr_assert_str_eq(ids[1], "useremail-" EMAIL);
    json_decref(p);

    h = tix_registry_handler("user.erase");
    p = erase_payload(EMAIL);
    cmd.payload = p;
    cr_assert_eq(h->streams(&cmd, ids, NULL), 2);
    cr_assert_str_eq(ids[1], "useremail-" EMAIL);
    json_decref(p);

    h = tix_registry_handler("user.verify_email");
    p = token_payload(T_VERIFY);
    cmd.payload = p;
    cr_assert_eq(h->streams(&cmd, ids, NULL), 1);
    cr_assert_str_eq(ids[0], "user-" U);
    json_decref(p);
}

/* ---- register ----------------------------------------------------------------------------- */

Test(user, register_emits_the_account_the_claim_and_a_verification_request)
{
    struct tix_decision d;
    accept("user.register", A_SYSTEM, register_payload(), &d);
    cr_assert_eq(d.n_events, 3);
    tix_world_expect_event(&d, 0, U_STREAM, "user.registered",
                           json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", U, "email_index",
                                     EMAIL, "email_enc", ENC("email"), "name_enc", ENC("name"),
                                     "password_hash", PW1));
    tix_world_expect_event(&d, 1, EMAIL_CLAIM, "user.email_claimed",
                           json_pack("{s:s, s:s}", "email_index", EMAIL, "user_id", U));
    tix_world_expect_event(&d, 2, U_STREAM, "user.email_verification_requested",
                           json_pack("{s:s, s:s, s:s, s:I}", "user_id", U, "token_hash", T_VERIFY,
                                     "token_enc", ENC("vtoken"), "expires_at",
                                     (json_int_t)(NOW_S + 3600)));
    tix_world_expect_json(d.result, json_pack("{s:s}", "user_id", U));
    tix_decision_deinit(&d);

    const struct tix_user_state *s = user_state();
    cr_assert(s->exists);
    cr_assert_not(s->is_erased);
    cr_assert_str_eq(s->id, U);
    cr_assert_str_eq(s->email_index, EMAIL);
    cr_assert_not(s->is_email_verified);
    cr_assert_str_eq(s->password_hash, PW1);
    cr_assert_str_eq(s->verify_hash, T_VERIFY);
    cr_assert_eq(s->verify_expires_at, NOW_S + 3600);
    cr_assert_str_eq(s->reset_hash, "");
    cr_assert_str_eq(s->name_enc, ENC("name"));
    cr_assert_str_eq(s->locale, "");
    cr_assert_not(s->is_2fa_enabled);
    cr_assert_null(s->pending_secret_enc);
    cr_assert_eq(s->last_totp_step, -1);
    cr_assert_eq(s->sessions_epoch, 0);
    tix_world_expect_json(s->preferences, json_object());
    cr_assert(claim_state(EMAIL)->is_claimed);
    cr_assert_str_eq(claim_state(EMAIL)->user_id, U);
    cr_assert_eq(tix_world_stream(U_STREAM)->version, 2);
    cr_assert_eq(tix_world_stream(EMAIL_CLAIM)->version, 1);
}

Test(user, register_without_a_name_by_the_user_themself)
{
    struct tix_decision d;
    accept("user.register", A_SELF, tix_json_with(register_payload(), "name_enc", NULL), &d);
    cr_assert_null(json_object_get(d.events[0].data, "name_enc"));
    tix_decision_deinit(&d);
    cr_assert_null(user_state()->name_enc);
}

Test(user, register_is_for_the_user_or_a_system_only)
{
    const char *actors[] = {A_OTHER,   "anonymous", "user:", "user:not-a-uuid",
                            "system:", "User:" U,   ""};
    for (size_t i = 0; i < sizeof(actors) / sizeof(actors[0]); i++)
        expect_rejected("user.register", actors[i], register_payload(), "forbidden", NULL);
    expect_rejected("user.register", NULL, register_payload(), "forbidden", NULL);
    cr_assert_not(user_state()->exists);
    cr_assert_not(claim_state(EMAIL)->is_claimed);
}

Test(user, register_rejects_an_existing_user)
{
    given_user();
    expect_rejected("user.register", A_SYSTEM,
                    tix_json_with(register_payload(), "email_index", json_string(EMAIL2)),
                    "already_exists", "user_id");
    cr_assert_not(claim_state(EMAIL2)->is_claimed);
}

Test(user, register_rejects_a_taken_email)
{
    given_user();
    json_t *p = tix_json_with(register_payload(), "user_id", json_string(U2));
    tix_world_expect_rejected(U2, "user.register", A_SYSTEM, p, "email_taken", "email");
    cr_assert_not(((const struct tix_user_state *)tix_world_stream("user-" U2)->state)->exists);
    cr_assert_str_eq(claim_state(EMAIL)->user_id, U);
    struct tix_decision d;
    p = tix_json_with(tix_json_with(register_payload(), "user_id", json_string(U2)), "email_index",
                      json_string(EMAIL2));
    tix_world_accept(U2, "user.register", "user:" U2, p, &d);
    tix_decision_deinit(&d);
}

Test(user, register_requires_its_fields)
{
    const char *required[] = {"user_id",
                              "email_index",
                              "email_enc",
                              "password_hash",
                              "verification_token_hash",
                              "verification_expires_at",
                              "token_enc"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        expect_invalid("user.register", tix_json_with(register_payload(), required[i], NULL),
                       required[i]);
    expect_invalid("user.register",
                   tix_json_with(register_payload(), "email", json_string("a@b.co")), "email");
    expect_invalid("user.register", tix_json_with(register_payload(), "password", json_string("x")),
                   "password");
    expect_invalid("user.register", json_array(), "");
    expect_invalid("user.register", json_string("x"), "");
    expect_invalid("user.register", NULL, "");
    expect_invalid_for(U2, "user.register", register_payload(), "user_id");
    given_user();
}

Test(user, register_checks_every_value)
{
    char *enc_long = tix_world_repeat("A", TIX_ENC_MAX - 2),
         *hash_long = tix_world_repeat("a", 120);
    char long_enc[TIX_ENC_MAX + 8], long_hash[200];
    snprintf(long_enc, sizeof(long_enc), "v1:%s", enc_long);
    snprintf(long_hash, sizeof(long_hash), "$argon2id$%s", hash_long);
    static const struct {
        const char *key, *value;
    } cases[] = {
        {"user_id", "\"0190C1E2-0000-7000-8000-00000000000A\""},
        {"user_id", "7"},
        {"email_index", "\"" EMAIL "0\""},
        {"email_index", "\"00000000000000000000000000000000000000000000000000000000000E3A11\""},
        {"email_index", "\"ana@example.com\""},
        {"email_index", "null"},
        {"email_enc", "\"ana@example.com\""},
        {"email_enc", "\"v1:short\""},
        {"email_enc", "\"v2:" PAD54 "xx\""},
        {"email_enc", "\"v1:" PAD54 "a+b\""},
        {"email_enc", "\"v1:" PAD54 "ab=\""},
        {"email_enc", "[\"v1:" PAD54 "\"]"},
        {"name_enc", "\"Ana Lopez\""},
        {"name_enc", "null"},
        {"password_hash", "\"hunter2hunter2\""},
        {"password_hash", "\"$argon2i$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA\""},
        {"password_hash", "\"$argon2id$v=19$m=65536 t=2\""},
        {"password_hash", "\"$argon2id$\""},
        {"verification_token_hash", "\"secret-token\""},
        {"verification_expires_at", "0"},
        {"verification_expires_at", "-5"},
        {"verification_expires_at", "1700000000.5"},
        {"verification_expires_at", "\"1700000000\""},
        {"verification_expires_at", "100000000000"},
        {"token_enc", "\"plain-token\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_invalid("user.register",
                       tix_json_with(register_payload(), cases[i].key, tix_json_of(cases[i].value)),
                       cases[i].key);
    expect_invalid("user.register",
                   tix_json_with(register_payload(), "email_enc", json_string(long_enc)),
                   "email_enc");
    expect_invalid("user.register",
                   tix_json_with(register_payload(), "password_hash", json_string(long_hash)),
                   "password_hash");
    expect_invalid("user.register",
                   tix_json_with(register_payload(), "email_enc",
                                 json_stringn(ENC("a\0b"), sizeof(ENC("a\0b")) - 1)),
                   "email_enc");
    /* The largest values pass. */
    long_enc[TIX_ENC_MAX] = '\0';
    json_t *p = tix_json_with(register_payload(), "email_enc", json_string(long_enc));
    tix_json_with(p, "verification_expires_at", json_integer(TIX_UNIX_S_MAX));
    accept_quietly("user.register", A_SYSTEM, p);
    free(enc_long);
    free(hash_long);
}

/* ---- email verification ------------------------------------------------------------------- */

Test(user, verify_email_with_the_right_token)
{
    given_user();
    struct tix_decision d;
    accept("user.verify_email", A_SELF, token_payload(T_VERIFY), &d);
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(&d, 0, U_STREAM, "user.email_verified",
                           json_pack("{s:s}", "user_id", U));
    tix_decision_deinit(&d);
    cr_assert(user_state()->is_email_verified);
    cr_assert_str_eq(user_state()->verify_hash, "");
    expect_rejected("user.verify_email", A_SELF, token_payload(T_VERIFY), "already_verified", NULL);
    expect_rejected("user.request_email_verification", A_SYSTEM,
                    token_request_payload(T_VERIFY2, NOW_S + 60), "already_verified", NULL);
}

Test(user, verify_email_refuses_wrong_and_expired_tokens)
{
    given_user();
    expect_rejected("user.verify_email", A_SELF, token_payload(T_WRONG), "invalid_token", "token");
    tix_world_set_now((NOW_S + 3600) * 1000000);
    expect_rejected("user.verify_email", A_SELF, token_payload(T_VERIFY), "token_expired", "token");
    tix_world_set_now((NOW_S + 3600) * 1000000 - 1);
    accept_quietly("user.verify_email", A_SELF, token_payload(T_VERIFY));
    cr_assert(user_state()->is_email_verified);
}

Test(user, a_new_verification_request_replaces_the_token)
{
    given_user();
    struct tix_decision d;
    accept("user.request_email_verification", A_SYSTEM,
           token_request_payload(T_VERIFY2, NOW_S + 60), &d);
    tix_world_expect_event(&d, 0, U_STREAM, "user.email_verification_requested",
                           json_pack("{s:s, s:s, s:s, s:I}", "user_id", U, "token_hash", T_VERIFY2,
                                     "token_enc", ENC("token"), "expires_at",
                                     (json_int_t)(NOW_S + 60)));
    tix_decision_deinit(&d);
    expect_rejected("user.verify_email", A_SELF, token_payload(T_VERIFY), "invalid_token", "token");
    accept_quietly("user.verify_email", A_SELF, token_payload(T_VERIFY2));
}

/* ---- passwords ---------------------------------------------------------------------------- */

Test(user, reset_password_with_a_requested_token)
{
    given_user();
    struct tix_decision d;
    accept("user.request_password_reset", A_SYSTEM, token_request_payload(T_RESET, NOW_S + 900),
           &d);
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(&d, 0, U_STREAM, "user.password_reset_requested",
                           json_pack("{s:s, s:s, s:s, s:I}", "user_id", U, "token_hash", T_RESET,
                                     "token_enc", ENC("token"), "expires_at",
                                     (json_int_t)(NOW_S + 900)));
    tix_decision_deinit(&d);
    cr_assert_str_eq(user_state()->reset_hash, T_RESET);
    cr_assert_not(user_state()->is_reset_used);

    accept("user.reset_password", A_SYSTEM, reset_payload(T_RESET, PW2), &d);
    cr_assert_eq(d.n_events, 2);
    tix_world_expect_event(
        &d, 0, U_STREAM, "user.password_changed",
        json_pack("{s:s, s:s, s:s}", "user_id", U, "password_hash", PW2, "reason", "reset"));
    tix_world_expect_event(&d, 1, U_STREAM, "user.sessions_revoked",
                           json_pack("{s:s, s:s}", "user_id", U, "reason", "password_reset"));
    tix_decision_deinit(&d);
    cr_assert_str_eq(user_state()->password_hash, PW2);
    cr_assert(user_state()->is_reset_used);
    cr_assert_eq(user_state()->sessions_epoch, 1);
}

Test(user, reset_password_refuses_bad_expired_and_used_tokens)
{
    given_user();
    expect_rejected("user.reset_password", A_SYSTEM, reset_payload(T_RESET, PW2), "invalid_token",
                    "token");
    accept_quietly("user.request_password_reset", A_SYSTEM,
                   token_request_payload(T_RESET, NOW_S + 900));
    expect_rejected("user.reset_password", A_SYSTEM, reset_payload(T_WRONG, PW2), "invalid_token",
                    "token");
    expect_rejected("user.reset_password", A_SYSTEM, reset_payload(T_VERIFY, PW2), "invalid_token",
                    "token");
    tix_world_set_now((NOW_S + 900) * 1000000);
    expect_rejected("user.reset_password", A_SYSTEM, reset_payload(T_RESET, PW2), "token_expired",
                    "token");
    tix_world_set_now(NOW_US);
    accept_quietly("user.reset_password", A_SYSTEM, reset_payload(T_RESET, PW2));
    expect_rejected("user.reset_password", A_SYSTEM, reset_payload(T_RESET, PW1), "token_used",
                    "token");
    cr_assert_str_eq(user_state()->password_hash, PW2);
    /* A new request gives a new, unused token; the old one stays dead. */
    accept_quietly("user.request_password_reset", A_SYSTEM,
                   token_request_payload(T_RESET2, NOW_S + 900));
    expect_rejected("user.reset_password", A_SYSTEM, reset_payload(T_RESET, PW1), "invalid_token",
                    "token");
    accept_quietly("user.reset_password", A_SYSTEM, reset_payload(T_RESET2, PW1));
    cr_assert_eq(user_state()->sessions_epoch, 2);
}

Test(user, change_password_revokes_sessions)
{
    given_user();
    struct tix_decision d;
    accept("user.change_password", A_SELF, password_payload(PW2), &d);
    cr_assert_eq(d.n_events, 2);
    tix_world_expect_event(
        &d, 0, U_STREAM, "user.password_changed",
        json_pack("{s:s, s:s, s:s}", "user_id", U, "password_hash", PW2, "reason", "change"));
    tix_world_expect_event(&d, 1, U_STREAM, "user.sessions_revoked",
                           json_pack("{s:s, s:s}", "user_id", U, "reason", "password_changed"));
    tix_decision_deinit(&d);
    cr_assert_str_eq(user_state()->password_hash, PW2);
    cr_assert_not(user_state()->is_reset_used);
    cr_assert_eq(user_state()->sessions_epoch, 1);
    expect_invalid("user.change_password", password_payload("plaintext-password"), "password_hash");
    expect_invalid("user.change_password", id_payload(), "password_hash");
    expect_invalid("user.reset_password", reset_payload("x", PW1), "token_hash");
    expect_invalid("user.reset_password",
                   tix_json_with(reset_payload(T_RESET, PW1), "token_hash", NULL), "token_hash");
    expect_invalid("user.request_password_reset",
                   tix_json_with(token_request_payload(T_RESET, NOW_S), "token_enc", NULL),
                   "token_enc");
    expect_invalid(
        "user.request_password_reset",
        tix_json_with(token_request_payload(T_RESET, NOW_S), "expires_at", json_string("x")),
        "expires_at");
}

/* ---- profile and preferences -------------------------------------------------------------- */

static json_t *profile_payload(const char *name_enc, const char *locale, const char *timezone)
{
    json_t *p = id_payload();
    if (name_enc != NULL)
        json_object_set_new(p, "name_enc", json_string(name_enc));
    if (locale != NULL)
        json_object_set_new(p, "locale", json_string(locale));
    if (timezone != NULL)
        json_object_set_new(p, "timezone", json_string(timezone));
    return p;
}

Test(user, update_profile_emits_only_what_changes)
{
    given_user();
    struct tix_decision d;
    accept("user.update_profile", A_SELF, profile_payload(ENC("name2"), "pt-BR", "Europe/Paris"),
           &d);
    tix_world_expect_event(&d, 0, U_STREAM, "user.profile_updated",
                           json_pack("{s:s, s:s, s:s, s:s}", "user_id", U, "name_enc", ENC("name2"),
                                     "locale", "pt-BR", "timezone", "Europe/Paris"));
    tix_decision_deinit(&d);
    accept_no_events("user.update_profile", A_SELF,
                     profile_payload(ENC("name2"), "pt-BR", "Europe/Paris"));
    accept_no_events("user.update_profile", A_SELF, id_payload());
    accept("user.update_profile", A_SYSTEM, profile_payload(ENC("name2"), "en", NULL), &d);
    tix_world_expect_event(&d, 0, U_STREAM, "user.profile_updated",
                           json_pack("{s:s, s:s}", "user_id", U, "locale", "en"));
    tix_decision_deinit(&d);
    accept("user.update_profile", A_SELF, tix_json_with(id_payload(), "name_enc", json_null()), &d);
    tix_world_expect_event(&d, 0, U_STREAM, "user.profile_updated",
                           json_pack("{s:s, s:n}", "user_id", U, "name_enc"));
    tix_decision_deinit(&d);
    cr_assert_null(user_state()->name_enc);
    accept_no_events("user.update_profile", A_SELF,
                     tix_json_with(id_payload(), "name_enc", json_null()));
    const struct tix_user_state *s = user_state();
    cr_assert_str_eq(s->locale, "en");
    cr_assert_str_eq(s->timezone, "Europe/Paris");
}

Test(user, update_profile_checks_locales_time_zones_and_names)
{
    char *tz64 = tix_world_repeat("A", 64), *tz65 = tix_world_repeat("A", 65);
    const char *good_locales[] = {"en", "pt-BR", "zh-Hant-TW", "es-419", "de-CH-1996", "sgn-BE-FR"};
    const char *bad_locales[] = {"",
                                 "e",
                                 "en_US",
                                 "en-",
                                 "-en",
                                 "e1",
                                 "en--US",
                                 "en-123456789",
                                 "en US",
                                 "englishes",
                                 "aa-bbbbbbbb-cccccccc-dddddddd-eeeeee"};
    const char *good_zones[] = {"UTC",       "Europe/Paris", "America/Argentina/Buenos_Aires",
                                "Etc/GMT+3", "Etc/GMT-14",   tz64};
    const char *bad_zones[] = {
        "",        "/Europe",       "Europe/", "Europe//Paris", "Europe/Par is", "../etc/passwd",
        "1Europe", "Europe\\Paris", tz65};
    given_user();
    for (size_t i = 0; i < sizeof(good_locales) / sizeof(good_locales[0]); i++)
        accept_quietly("user.update_profile", A_SELF, profile_payload(NULL, good_locales[i], NULL));
    for (size_t i = 0; i < sizeof(bad_locales) / sizeof(bad_locales[0]); i++)
        expect_invalid("user.update_profile", profile_payload(NULL, bad_locales[i], NULL),
                       "locale");
    for (size_t i = 0; i < sizeof(good_zones) / sizeof(good_zones[0]); i++)
        accept_quietly("user.update_profile", A_SELF, profile_payload(NULL, NULL, good_zones[i]));
    for (size_t i = 0; i < sizeof(bad_zones) / sizeof(bad_zones[0]); i++)
        expect_invalid("user.update_profile", profile_payload(NULL, NULL, bad_zones[i]),
                       "timezone");
    expect_invalid("user.update_profile", profile_payload("Ana", NULL, NULL), "name_enc");
    expect_invalid("user.update_profile", tix_json_with(id_payload(), "name_enc", json_integer(1)),
                   "name_enc");
    expect_invalid("user.update_profile", tix_json_with(id_payload(), "locale", json_null()),
                   "locale");
    expect_invalid("user.update_profile",
                   tix_json_with(id_payload(), "email_enc", json_string(ENC("x"))), "email_enc");
    free(tz64);
    free(tz65);
}

Test(user, set_preferences_merges_and_sends_the_whole)
{
    given_user();
    struct tix_decision d;
    accept("user.set_preferences", A_SELF,
           prefs_payload("{\"theme\":\"dark\",\"notify\":{\"email\":true,\"sms\":false}}"), &d);
    tix_world_expect_event(
        &d, 0, U_STREAM, "user.preferences_changed",
        json_pack("{s:s, s:o}", "user_id", U, "preferences",
                  tix_json_of("{\"theme\":\"dark\",\"notify\":{\"email\":true,\"sms\":false}}")));
    tix_decision_deinit(&d);
    accept("user.set_preferences", A_SELF,
           prefs_payload("{\"theme\":null,\"notify\":{\"sms\":true}}"), &d);
    tix_world_expect_event(&d, 0, U_STREAM, "user.preferences_changed",
                           json_pack("{s:s, s:o}", "user_id", U, "preferences",
                                     tix_json_of("{\"notify\":{\"email\":true,\"sms\":true}}")));
    tix_decision_deinit(&d);
    accept_no_events("user.set_preferences", A_SELF, prefs_payload("{\"notify\":{\"sms\":true}}"));
    accept_no_events("user.set_preferences", A_SELF, prefs_payload("{\"gone\":null}"));
    accept_no_events("user.set_preferences", A_SELF, prefs_payload("{}"));
    tix_world_expect_json(user_state()->preferences,
                          tix_json_of("{\"notify\":{\"email\":true,\"sms\":true}}"));
}

Test(user, preferences_have_a_size_limit)
{
    given_user();
    char *big = tix_world_repeat("x", 5000);
    json_t *p = json_pack("{s:s, s:{s:s}}", "user_id", U, "preferences", "a", big);
    accept_quietly("user.set_preferences", A_SELF, p);
    p = json_pack("{s:s, s:{s:s}}", "user_id", U, "preferences", "b", big);
    expect_rejected("user.set_preferences", A_SELF, p, "preferences_too_large", "preferences");
    free(big);
    big = tix_world_repeat("x", TIX_PREFERENCES_MAX_BYTES);
    expect_invalid("user.set_preferences",
                   json_pack("{s:s, s:{s:s}}", "user_id", U, "preferences", "c", big),
                   "preferences");
    expect_invalid("user.set_preferences", tix_json_with(id_payload(), "preferences", json_array()),
                   "preferences");
    expect_invalid("user.set_preferences", id_payload(), "preferences");
    free(big);
}

/* ---- two-factor authentication ------------------------------------------------------------ */

Test(user, enable_then_confirm_2fa)
{
    given_user();
    struct tix_decision d;
    accept("user.enable_2fa", A_SELF, secret_payload(ENC("secret")), &d);
    tix_world_expect_event(&d, 0, U_STREAM, "user.2fa_pending",
                           json_pack("{s:s, s:s}", "user_id", U, "secret_enc", ENC("secret")));
    tix_decision_deinit(&d);
    cr_assert_str_eq(user_state()->pending_secret_enc, ENC("secret"));
    cr_assert_not(user_state()->is_2fa_enabled);
    /* Enabling again replaces the pending secret. */
    accept_quietly("user.enable_2fa", A_SELF, secret_payload(ENC("secret2")));
    cr_assert_str_eq(user_state()->pending_secret_enc, ENC("secret2"));

    accept("user.confirm_2fa", A_SELF, confirm_payload(1000), &d);
    tix_world_expect_event(&d, 0, U_STREAM, "user.2fa_enabled",
                           json_pack("{s:s, s:s, s:o, s:i}", "user_id", U, "secret_enc",
                                     ENC("secret2"), "recovery_code_hashes", codes(100), "step",
                                     1000));
    tix_decision_deinit(&d);
    const struct tix_user_state *s = user_state();
    cr_assert(s->is_2fa_enabled);
    cr_assert_str_eq(s->secret_enc, ENC("secret2"));
    cr_assert_null(s->pending_secret_enc);
    cr_assert_eq(s->n_recovery, TIX_RECOVERY_CODES);
    for (int i = 0; i < TIX_RECOVERY_CODES; i++) {
        cr_assert_str_eq(s->recovery[i].hash, tix_world_hx(100 + (unsigned)i));
        cr_assert_not(s->recovery[i].is_used);
    }
    cr_assert_eq(s->last_totp_step, 1000);
    expect_rejected("user.enable_2fa", A_SELF, secret_payload(ENC("s3")), "2fa_already_enabled",
                    NULL);
    expect_rejected("user.confirm_2fa", A_SELF, confirm_payload(1001), "2fa_already_enabled", NULL);
}

Test(user, confirm_2fa_needs_a_pending_secret_and_a_fresh_step)
{
    given_user();
    expect_rejected("user.confirm_2fa", A_SELF, confirm_payload(5), "2fa_not_pending", NULL);
    accept_quietly("user.enable_2fa", A_SELF, secret_payload(ENC("secret")));
    accept_quietly("user.confirm_2fa", A_SELF, confirm_payload(1000));
    accept_quietly("user.disable_2fa", A_SELF, id_payload());
    accept_quietly("user.enable_2fa", A_SELF, secret_payload(ENC("secret")));
    expect_rejected("user.confirm_2fa", A_SELF, confirm_payload(1000), "code_reused", "code");
    expect_rejected("user.confirm_2fa", A_SELF, confirm_payload(999), "code_reused", "code");
    accept_quietly("user.confirm_2fa", A_SELF, confirm_payload(1001));
}

Test(user, confirm_2fa_checks_its_payload)
{
    json_t *nine = codes(1), *eleven = codes(1), *dup = codes(1), *upper = codes(1);
    json_array_remove(nine, 0);
    json_array_append_new(eleven, json_string(tix_world_hx(999)));
    json_array_set_new(dup, 9, json_string(tix_world_hx(1)));
    json_array_set_new(
        upper, 3, json_string("00000000000000000000000000000000000000000000000000000000000000AB"));
    json_t *bad_codes[] = {
        nine, eleven, dup, upper, json_array(), json_object(), json_string(tix_world_hx(1))};
    for (size_t i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++)
        expect_invalid("user.confirm_2fa",
                       tix_json_with(confirm_payload(1), "recovery_code_hashes", bad_codes[i]),
                       "recovery_code_hashes");
    json_t *mixed = codes(1);
    json_array_set_new(mixed, 5, json_integer(5));
    expect_invalid("user.confirm_2fa",
                   tix_json_with(confirm_payload(1), "recovery_code_hashes", mixed),
                   "recovery_code_hashes");
    const char *bad_steps[] = {"-1", "\"5\"", "1.5", "null", "33333333334"};
    for (size_t i = 0; i < sizeof(bad_steps) / sizeof(bad_steps[0]); i++)
        expect_invalid("user.confirm_2fa",
                       tix_json_with(confirm_payload(1), "step", tix_json_of(bad_steps[i])),
                       "step");
    expect_invalid("user.enable_2fa", secret_payload("JBSWY3DPEHPK3PXP"), "secret_enc");
    expect_invalid("user.enable_2fa", id_payload(), "secret_enc");
}

Test(user, totp_steps_are_single_use)
{
    given_user();
    expect_rejected("user.use_totp", A_SELF, step_payload(5), "2fa_not_enabled", NULL);
    accept_quietly("user.enable_2fa", A_SELF, secret_payload(ENC("secret")));
    expect_rejected("user.use_totp", A_SELF, step_payload(5), "2fa_not_enabled", NULL);
    accept_quietly("user.confirm_2fa", A_SELF, confirm_payload(1000));
    expect_rejected("user.use_totp", A_SELF, step_payload(1000), "code_reused", "code");
    struct tix_decision d;
    accept("user.use_totp", A_SYSTEM, step_payload(1001), &d);
    tix_world_expect_event(&d, 0, U_STREAM, "user.totp_used",
                           json_pack("{s:s, s:i}", "user_id", U, "step", 1001));
    tix_decision_deinit(&d);
    expect_rejected("user.use_totp", A_SELF, step_payload(1001), "code_reused", "code");
    expect_rejected("user.use_totp", A_SELF, step_payload(999), "code_reused", "code");
    accept_quietly("user.use_totp", A_SELF, step_payload(1003));
    cr_assert_eq(user_state()->last_totp_step, 1003);
    expect_invalid("user.use_totp", step_payload(-1), "step");
    expect_invalid("user.use_totp", tix_json_with(step_payload(1), "code", json_string("123456")),
                   "code");
}

Test(user, recovery_codes_are_single_use)
{
    given_user();
    expect_rejected("user.use_recovery_code", A_SELF, code_payload(tix_world_hx(100)),
                    "2fa_not_enabled", NULL);
    accept_quietly("user.enable_2fa", A_SELF, secret_payload(ENC("secret")));
    accept_quietly("user.confirm_2fa", A_SELF, confirm_payload(1000));
    struct tix_decision d;
    accept("user.use_recovery_code", A_SELF, code_payload(tix_world_hx(104)), &d);
    tix_world_expect_event(&d, 0, U_STREAM, "user.recovery_code_used",
                           json_pack("{s:s, s:s}", "user_id", U, "code_hash", tix_world_hx(104)));
    tix_decision_deinit(&d);
    cr_assert(user_state()->recovery[4].is_used);
    expect_rejected("user.use_recovery_code", A_SELF, code_payload(tix_world_hx(104)),
                    "invalid_code", "code");
    expect_rejected("user.use_recovery_code", A_SELF, code_payload(tix_world_hx(110)),
                    "invalid_code", "code");
    for (unsigned i = 100; i < 110; i++)
        if (i != 104)
            accept_quietly("user.use_recovery_code", A_SYSTEM, code_payload(tix_world_hx(i)));
    expect_rejected("user.use_recovery_code", A_SELF, code_payload(tix_world_hx(100)),
                    "invalid_code", "code");
    expect_invalid("user.use_recovery_code", code_payload("ABCD"), "code_hash");
}

Test(user, disable_2fa_clears_it_and_is_idempotent)
{
    given_user();
    accept_no_events("user.disable_2fa", A_SELF, id_payload());
    accept_quietly("user.enable_2fa", A_SELF, secret_payload(ENC("secret")));
    struct tix_decision d;
    accept("user.disable_2fa", A_SELF, id_payload(), &d);
    tix_world_expect_event(&d, 0, U_STREAM, "user.2fa_disabled", json_pack("{s:s}", "user_id", U));
    tix_decision_deinit(&d);
    cr_assert_null(user_state()->pending_secret_enc);
    accept_quietly("user.enable_2fa", A_SELF, secret_payload(ENC("secret")));
    accept_quietly("user.confirm_2fa", A_SELF, confirm_payload(1000));
    accept_quietly("user.use_totp", A_SELF, step_payload(1002));
    accept_quietly("user.disable_2fa", A_SYSTEM, id_payload());
    const struct tix_user_state *s = user_state();
    cr_assert_not(s->is_2fa_enabled);
    cr_assert_null(s->secret_enc);
    cr_assert_eq(s->n_recovery, 0);
    cr_assert_eq(s->last_totp_step, 1002, "the last step survives, so codes never replay");
    accept_no_events("user.disable_2fa", A_SELF, id_payload());
    expect_rejected("user.use_totp", A_SELF, step_payload(1003), "2fa_not_enabled", NULL);
    expect_rejected("user.use_recovery_code", A_SELF, code_payload(tix_world_hx(100)),
                    "2fa_not_enabled", NULL);
}

/* ---- logins and erasure ------------------------------------------------------------------- */

Test(user, record_login_with_and_without_an_address)
{
    given_user();
    struct tix_decision d;
    accept("user.record_login", A_SYSTEM,
           tix_json_with(id_payload(), "ip_enc", json_string(ENC("ip"))), &d);
    tix_world_expect_event(&d, 0, U_STREAM, "user.logged_in",
                           json_pack("{s:s, s:s}", "user_id", U, "ip_enc", ENC("ip")));
    tix_decision_deinit(&d);
    accept("user.record_login", A_SELF, id_payload(), &d);
    tix_world_expect_event(&d, 0, U_STREAM, "user.logged_in", json_pack("{s:s}", "user_id", U));
    tix_decision_deinit(&d);
    expect_invalid("user.record_login",
                   tix_json_with(id_payload(), "ip_enc", json_string("10.0.0.1")), "ip_enc");
}

Test(user, erase_wipes_the_user_and_releases_the_email)
{
    given_2fa();
    accept_quietly("user.update_profile", A_SELF, profile_payload(ENC("n"), "fr", "UTC"));
    accept_quietly("user.set_preferences", A_SELF, prefs_payload("{\"a\":1}"));
    accept_quietly("user.request_password_reset", A_SYSTEM,
                   token_request_payload(T_RESET, NOW_S + 60));
    struct tix_decision d;
    accept("user.erase", A_SELF, erase_payload(EMAIL), &d);
    cr_assert_eq(d.n_events, 2);
    tix_world_expect_event(&d, 0, U_STREAM, "user.erased", json_pack("{s:s}", "user_id", U));
    tix_world_expect_event(&d, 1, EMAIL_CLAIM, "user.email_released",
                           json_pack("{s:s, s:s}", "email_index", EMAIL, "user_id", U));
    tix_decision_deinit(&d);
    const struct tix_user_state *s = user_state();
    cr_assert(s->exists);
    cr_assert(s->is_erased);
    cr_assert_str_eq(s->id, U);
    cr_assert_str_eq(s->email_index, "");
    cr_assert_str_eq(s->password_hash, "");
    cr_assert_str_eq(s->verify_hash, "");
    cr_assert_str_eq(s->reset_hash, "");
    cr_assert_null(s->name_enc);
    cr_assert_null(s->secret_enc);
    cr_assert_null(s->pending_secret_enc);
    cr_assert_not(s->is_2fa_enabled);
    cr_assert_eq(s->n_recovery, 0);
    cr_assert_str_eq(s->locale, "");
    cr_assert_str_eq(s->timezone, "");
    tix_world_expect_json(s->preferences, json_object());
    cr_assert_eq(s->sessions_epoch, 1, "erasure ends every session");
    cr_assert_not(claim_state(EMAIL)->is_claimed);
    /* Someone else may now register the address; the id stays taken. */
    expect_rejected("user.register", A_SYSTEM, register_payload(), "already_exists", "user_id");
    json_t *p = tix_json_with(register_payload(), "user_id", json_string(U2));
    tix_world_accept(U2, "user.register", A_SYSTEM, p, &d);
    tix_decision_deinit(&d);
    cr_assert_str_eq(claim_state(EMAIL)->user_id, U2);
    cr_assert_eq(tix_world_stream(EMAIL_CLAIM)->version, 3);
}

Test(user, erase_checks_the_email_index)
{
    given_user();
    expect_rejected("user.erase", A_SELF, erase_payload(EMAIL2), "email_mismatch", "email_index");
    expect_invalid("user.erase", id_payload(), "email_index");
    cr_assert_not(user_state()->is_erased);
}

/* Every command but register, with a payload that would otherwise be accepted. */
static json_t *payload_for(const char *type)
{
    if (strcmp(type, "user.request_email_verification") == 0 ||
        strcmp(type, "user.request_password_reset") == 0)
        return token_request_payload(T_VERIFY2, NOW_S + 60);
    if (strcmp(type, "user.verify_email") == 0)
        return token_payload(T_VERIFY);
    if (strcmp(type, "user.reset_password") == 0)
        return reset_payload(T_RESET, PW2);
    if (strcmp(type, "user.change_password") == 0)
        return password_payload(PW2);
    if (strcmp(type, "user.update_profile") == 0)
        return profile_payload(NULL, "fr", NULL);
    if (strcmp(type, "user.set_preferences") == 0)
        return prefs_payload("{\"a\":1}");
    if (strcmp(type, "user.enable_2fa") == 0)
        return secret_payload(ENC("s"));
    if (strcmp(type, "user.confirm_2fa") == 0)
        return confirm_payload(10);
    if (strcmp(type, "user.use_totp") == 0)
        return step_payload(10);
    if (strcmp(type, "user.use_recovery_code") == 0)
        return code_payload(tix_world_hx(100));
    if (strcmp(type, "user.erase") == 0)
        return erase_payload(EMAIL);
    return id_payload();
}

/* A payload every command (register included) would accept. */
static json_t *any_payload(const char *type)
{
    return strcmp(type, "user.register") == 0 ? register_payload() : payload_for(type);
}

Test(user, every_command_but_register_needs_an_existing_user)
{
    for (int i = 1; i < N_TYPES; i++) {
        expect_rejected(all_types[i], A_SYSTEM, payload_for(all_types[i]), "not_found", "user_id");
        expect_rejected(all_types[i], A_SELF, payload_for(all_types[i]), "not_found", "user_id");
    }
    cr_assert_not(user_state()->exists);
}

Test(user, every_command_is_for_the_user_or_a_system_only)
{
    given_user();
    const char *actors[] = {A_OTHER, "anonymous", "user:", "system:", "", NULL};
    for (int i = 1; i < N_TYPES; i++)
        for (size_t k = 0; k < sizeof(actors) / sizeof(actors[0]); k++)
            expect_rejected(all_types[i], actors[k], payload_for(all_types[i]), "forbidden", NULL);
}

Test(user, an_erased_user_refuses_everything)
{
    given_user();
    accept_quietly("user.erase", A_SYSTEM, erase_payload(EMAIL));
    for (int i = 1; i < N_TYPES; i++) {
        expect_rejected(all_types[i], A_SYSTEM, payload_for(all_types[i]), "erased", NULL);
        expect_rejected(all_types[i], A_SELF, payload_for(all_types[i]), "erased", NULL);
        expect_rejected(all_types[i], A_OTHER, payload_for(all_types[i]), "forbidden", NULL);
    }
}

Test(user, every_command_rejects_unknown_fields_non_objects_and_other_keys)
{
    for (int i = 0; i < N_TYPES; i++) {
        const char *t = all_types[i];
        expect_invalid(t, tix_json_with(any_payload(t), "extra", json_null()), "extra");
        expect_invalid(t, json_array(), "");
        expect_invalid(t, tix_json_with(any_payload(t), "user_id", json_integer(7)), "user_id");
        expect_invalid_for(U2, t, any_payload(t), "user_id");
        expect_invalid(t, tix_json_with(any_payload(t), "user_id", NULL), "user_id");
    }
}

/* ---- evolve ------------------------------------------------------------------------------- */

static enum tix_rc evolve_user(void *s, const char *type, const char *data)
{
    json_t *v = tix_json_of(data);
    enum tix_rc rc = tix_user_stream_kind.evolve(s, type, 1, v);
    json_decref(v);
    return rc;
}

#define REGISTERED                                                                                 \
    "{\"user_id\":\"" U "\",\"email_index\":\"" EMAIL                                              \
    "\",\"email_enc\":\"" ENC("e") "\",\"password_hash\":\"" PW1 "\"}"
#define OF_U(rest) "{\"user_id\":\"" U "\"" rest "}"

Test(user, evolve_ignores_unknown_event_types)
{
    struct tix_user_state *s = tix_user_stream_kind.create();
    cr_assert_eq(evolve_user(s, "user.avatar_changed", "{\"x\":1}"), TIX_OK);
    cr_assert_eq(evolve_user(s, "user.email_claimed", OF_U(",\"email_index\":\"" EMAIL "\"")),
                 TIX_OK, "claim events belong to the claim stream");
    cr_assert_not(s->exists);
    cr_assert_eq(evolve_user(s, "user.registered", REGISTERED), TIX_OK);
    cr_assert_eq(evolve_user(s, "user.future_thing", "[]"), TIX_OK);
    cr_assert_str_eq(s->email_index, EMAIL);
    tix_user_stream_kind.destroy(s);
    tix_user_stream_kind.destroy(NULL);
    tix_useremail_stream_kind.destroy(NULL);
}

Test(user, evolve_refuses_malformed_known_events)
{
    struct tix_user_state *s = tix_user_stream_kind.create();
    cr_assert_eq(evolve_user(s, "user.email_verified", OF_U("")), TIX_EINVAL, "before registered");
    cr_assert_eq(evolve_user(s, "user.registered", OF_U("")), TIX_EINVAL);
    cr_assert_eq(evolve_user(s, "user.registered", "[]"), TIX_EINVAL);
    json_t *v = tix_json_of(REGISTERED);
    cr_assert_eq(tix_user_stream_kind.evolve(s, "user.registered", 2, v), TIX_EINVAL);
    json_object_set_new(v, "email_index", json_string("nope"));
    cr_assert_eq(tix_user_stream_kind.evolve(s, "user.registered", 1, v), TIX_EINVAL);
    json_decref(v);
    cr_assert_not(s->exists, "a refused event changes nothing");
    cr_assert_eq(evolve_user(s, "user.registered", REGISTERED), TIX_OK);
    cr_assert_eq(evolve_user(s, "user.registered", REGISTERED), TIX_EINVAL, "registered twice");
    const char *bad[][2] = {
        {"user.email_verified", "{\"user_id\":\"" U2 "\"}"},
        {"user.email_verified", "{}"},
        {"user.email_verification_requested", OF_U(",\"token_hash\":\"x\",\"expires_at\":1")},
        {"user.email_verification_requested", OF_U(",\"token_hash\":\"" T_VERIFY "\"")},
        {"user.password_reset_requested",
         OF_U(",\"token_hash\":\"" T_RESET "\",\"expires_at\":\"1\",\"token_enc\":\"x\"")},
        {"user.password_changed", OF_U(",\"reason\":\"change\"")},
        {"user.password_changed", OF_U(",\"password_hash\":\"" PW2 "\"")},
        {"user.sessions_revoked", OF_U("")},
        {"user.profile_updated", OF_U(",\"locale\":7")},
        {"user.profile_updated", OF_U(",\"name_enc\":[]")},
        {"user.preferences_changed", OF_U(",\"preferences\":[]")},
        {"user.2fa_pending", OF_U("")},
        {"user.2fa_enabled", OF_U(",\"secret_enc\":\"s\",\"recovery_code_hashes\":[],"
                                  "\"step\":\"1\"")},
        {"user.2fa_enabled", OF_U(",\"secret_enc\":\"s\",\"recovery_code_hashes\":[\"x\"],"
                                  "\"step\":1")},
        {"user.totp_used", OF_U(",\"step\":null")},
        {"user.recovery_code_used", OF_U(",\"code_hash\":\"" T_RESET "\"")},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(evolve_user(s, bad[i][0], bad[i][1]), TIX_EINVAL, "%s %s", bad[i][0],
                     bad[i][1]);
    cr_assert_not(s->is_email_verified);
    cr_assert_str_eq(s->password_hash, PW1);
    cr_assert_eq(s->sessions_epoch, 0);
    cr_assert_eq(evolve_user(s, "user.erased", OF_U("")), TIX_OK);
    cr_assert_eq(evolve_user(s, "user.email_verified", OF_U("")), TIX_EINVAL, "after erasure");
    cr_assert_eq(evolve_user(s, "user.erased", OF_U("")), TIX_EINVAL, "erased twice");
    tix_user_stream_kind.destroy(s);
}

static enum tix_rc evolve_claim(void *s, const char *type, const char *data)
{
    json_t *v = tix_json_of(data);
    enum tix_rc rc = tix_useremail_stream_kind.evolve(s, type, 1, v);
    json_decref(v);
    return rc;
}

#define CLAIM(user) "{\"email_index\":\"" EMAIL "\",\"user_id\":\"" user "\"}"

Test(user, evolve_keeps_claims_consistent)
{
    struct tix_useremail_state *s = tix_useremail_stream_kind.create();
    cr_assert_eq(evolve_claim(s, "user.email_released", CLAIM(U)), TIX_EINVAL, "not claimed");
    cr_assert_eq(evolve_claim(s, "user.email_claimed", "{\"email_index\":\"" EMAIL "\"}"),
                 TIX_EINVAL);
    cr_assert_eq(
        evolve_claim(s, "user.email_claimed", "{\"email_index\":\"x\",\"user_id\":\"" U "\"}"),
        TIX_EINVAL);
    cr_assert_eq(evolve_claim(s, "user.email_claimed", "[]"), TIX_EINVAL);
    cr_assert_not(s->is_claimed);
    cr_assert_eq(evolve_claim(s, "user.registered", REGISTERED), TIX_OK, "ignored");
    cr_assert_eq(evolve_claim(s, "user.email_claimed", CLAIM(U)), TIX_OK);
    cr_assert_eq(evolve_claim(s, "user.email_claimed", CLAIM(U2)), TIX_EINVAL, "claimed twice");
    cr_assert_eq(evolve_claim(s, "user.email_released", CLAIM(U2)), TIX_EINVAL, "not theirs");
    json_t *v = tix_json_of(CLAIM(U));
    cr_assert_eq(tix_useremail_stream_kind.evolve(s, "user.email_released", 2, v), TIX_EINVAL);
    json_decref(v);
    cr_assert_str_eq(s->user_id, U);
    cr_assert_eq(evolve_claim(s, "user.email_released", CLAIM(U)), TIX_OK);
    cr_assert_not(s->is_claimed);
    cr_assert_eq(evolve_claim(s, "user.email_claimed", CLAIM(U2)), TIX_OK);
    cr_assert_str_eq(s->user_id, U2);
    tix_useremail_stream_kind.destroy(s);
}

/* ---- replay ------------------------------------------------------------------------------- */

static void expect_same_owned(const char *a, const char *b)
{
    cr_assert_eq(a == NULL, b == NULL);
    if (a != NULL)
        cr_assert_str_eq(a, b);
}

static void expect_same_user(const struct tix_user_state *a, const struct tix_user_state *b)
{
    cr_assert_eq(a->exists, b->exists);
    cr_assert_eq(a->is_erased, b->is_erased);
    cr_assert_str_eq(a->id, b->id);
    cr_assert_str_eq(a->email_index, b->email_index);
    cr_assert_eq(a->is_email_verified, b->is_email_verified);
    cr_assert_str_eq(a->password_hash, b->password_hash);
    cr_assert_str_eq(a->verify_hash, b->verify_hash);
    cr_assert_eq(a->verify_expires_at, b->verify_expires_at);
    cr_assert_str_eq(a->reset_hash, b->reset_hash);
    cr_assert_eq(a->reset_expires_at, b->reset_expires_at);
    cr_assert_eq(a->is_reset_used, b->is_reset_used);
    expect_same_owned(a->pending_secret_enc, b->pending_secret_enc);
    cr_assert_eq(a->is_2fa_enabled, b->is_2fa_enabled);
    expect_same_owned(a->secret_enc, b->secret_enc);
    cr_assert_eq(a->n_recovery, b->n_recovery);
    for (int i = 0; i < a->n_recovery; i++) {
        cr_assert_str_eq(a->recovery[i].hash, b->recovery[i].hash);
        cr_assert_eq(a->recovery[i].is_used, b->recovery[i].is_used);
    }
    cr_assert_eq(a->last_totp_step, b->last_totp_step);
    expect_same_owned(a->name_enc, b->name_enc);
    cr_assert_str_eq(a->locale, b->locale);
    cr_assert_str_eq(a->timezone, b->timezone);
    tix_world_expect_json(a->preferences, json_incref(b->preferences));
    cr_assert_eq(a->sessions_epoch, b->sessions_epoch);
}

Test(user, replaying_the_log_gives_the_live_state)
{
    given_user();
    accept_quietly("user.verify_email", A_SELF, token_payload(T_VERIFY));
    accept_quietly("user.request_password_reset", A_SYSTEM,
                   token_request_payload(T_RESET, NOW_S + 60));
    accept_quietly("user.reset_password", A_SYSTEM, reset_payload(T_RESET, PW2));
    accept_quietly("user.change_password", A_SELF, password_payload(PW1));
    accept_quietly("user.update_profile", A_SELF, profile_payload(ENC("n2"), "de", "UTC"));
    accept_quietly("user.set_preferences", A_SELF, prefs_payload("{\"a\":{\"b\":1},\"c\":2}"));
    accept_quietly("user.set_preferences", A_SELF, prefs_payload("{\"a\":{\"b\":null}}"));
    accept_quietly("user.enable_2fa", A_SELF, secret_payload(ENC("s1")));
    accept_quietly("user.confirm_2fa", A_SELF, confirm_payload(50));
    accept_quietly("user.use_totp", A_SELF, step_payload(52));
    accept_quietly("user.use_recovery_code", A_SELF, code_payload(tix_world_hx(107)));
    accept_quietly("user.record_login", A_SYSTEM, id_payload());
    cr_assert_eq(tix_world_stream(U_STREAM)->version, 16);

    struct tix_user_state *again = tix_world_replay(U_STREAM);
    expect_same_user(again, user_state());
    cr_assert(again->recovery[7].is_used);
    cr_assert_eq(again->sessions_epoch, 2);
    tix_world_expect_json(again->preferences, tix_json_of("{\"a\":{},\"c\":2}"));
    tix_user_stream_kind.destroy(again);

    accept_quietly("user.erase", A_SELF, erase_payload(EMAIL));
    again = tix_world_replay(U_STREAM);
    expect_same_user(again, user_state());
    tix_user_stream_kind.destroy(again);
    struct tix_useremail_state *claim = tix_world_replay(EMAIL_CLAIM);
    cr_assert_not(claim->is_claimed);
    tix_useremail_stream_kind.destroy(claim);
}
