/* session_test.c - the session aggregate's pure functions, driven like the processor
 *
 * Runs commands through the shared in-memory world (support/world.h). Users are made with real
 * user.register commands, so every session command reads a user state built by evolve, and
 * password changes and erasures revoke families the way they do in production.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/json.h"
#include "world.h"

#include "session.h"
#include "user.h"

#define U        "0190c1e2-0000-7000-8000-00000000000a"
#define U2       "0190c1e2-0000-7000-8000-00000000000b"
#define F        "0190c1e2-0000-7000-8000-0000000000f1"
#define F2       "0190c1e2-0000-7000-8000-0000000000f2"
#define F_STREAM TIX_SESSION_STREAM_PREFIX F
#define A_SELF   "user:" U
#define A_OTHER  "user:" U2
#define A_SYSTEM "system:gateway"

#define NOW_S  1700000000LL
#define NOW_US (NOW_S * 1000000)
#define TTL    2592000

#define PAD54    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define ENC(tag) "v1:" PAD54 tag
#define PW1      "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaDE"
#define PW2      "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaDI"

/* ---- the world: tests/unit/support/world.c, keyed on U by default ----------------------- */

static void setup(void)
{
    tix_world_reset(NOW_US);
}

TestSuite(session, .init = setup, .fini = tix_world_teardown);

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

static const struct tix_session_state *family(const char *family_id)
{
    char id[TIX_STREAM_ID_MAX];
    snprintf(id, sizeof(id), "%s%s", TIX_SESSION_STREAM_PREFIX, family_id);
    return tix_world_stream(id)->state;
}

/* ---- payloads and givens ------------------------------------------------------------------ */

static void given_user_of(const char *user, const char *email_index)
{
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "user_id", user, "email_index",
                          email_index, "email_enc", ENC("email"), "password_hash", PW1,
                          "verification_token_hash", tix_world_hx(7), "verification_expires_at",
                          (json_int_t)(NOW_S + 3600), "token_enc", ENC("token"));
    struct tix_decision d;
    tix_world_accept(user, "user.register", A_SYSTEM, p, &d);
    tix_decision_deinit(&d);
}

static void given_user(void)
{
    given_user_of(U, tix_world_hx(0xe1));
}

static json_t *start_payload(const char *family_id, const char *token_hash)
{
    return json_pack("{s:s, s:s, s:s, s:I}", "family_id", family_id, "user_id", U, "token_hash",
                     token_hash, "expires_at", (json_int_t)(NOW_S + TTL));
}

static json_t *refresh_payload(const char *presented, const char *next, int64_t expires_at)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I}", "family_id", F, "user_id", U, "presented_hash",
                     presented, "new_hash", next, "expires_at", (json_int_t)expires_at);
}

static json_t *revoke_payload(const char *reason)
{
    return json_pack("{s:s, s:s, s:s}", "family_id", F, "user_id", U, "reason", reason);
}

/* U with family F whose current hash is tix_world_hx(1). */
static void given_session(void)
{
    given_user();
    accept_quietly("session.start", A_SYSTEM, start_payload(F, tix_world_hx(1)));
}

/* Rotates F from tix_world_hx(from) to tix_world_hx(from + 1). */
static void rotate(unsigned from)
{
    accept_quietly("session.refresh", A_SELF,
                   refresh_payload(tix_world_hx(from), tix_world_hx(from + 1), NOW_S + TTL + from));
}

/* ---- registry and streams ----------------------------------------------------------------- */

Test(session, registry_hosts_the_commands_and_the_stream)
{
    const char *types[] = {"session.start", "session.refresh", "session.revoke"};
    int n = 0;
    while (tix_session_handlers[n].type != NULL)
        n++;
    cr_assert_eq(n, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tix_registry_handler(types[i]), &tix_session_handlers[i], "%s", types[i]);
    cr_assert_null(tix_registry_handler("session.end"));
    cr_assert_eq(tix_registry_stream_kind(F_STREAM), &tix_session_stream_kind);
    cr_assert_str_eq(tix_session_stream_kind.prefix, "session-");
}

Test(session, streams_are_the_family_and_its_user)
{
    const struct tix_command_handler *h = tix_registry_handler("session.refresh");
    json_t *p = refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S);
    struct tix_command cmd = {.type = h->type, .key = U, .payload = p, .actor = A_SELF};
    char ids[TIX_DECISION_MAX_STREAMS][TIX_STREAM_ID_MAX];
    cr_assert_eq(h->streams(&cmd, ids, NULL), 2);
    cr_assert_str_eq(ids[0], "session-" F);
    cr_assert_str_eq(ids[1], "user-" U);
    json_decref(p);
}

/* ---- start -------------------------------------------------------------------------------- */

Test(session, start_records_the_family)
{
    given_user();
    struct tix_decision d;
    json_t *p = tix_json_with(start_payload(F, tix_world_hx(1)), "user_agent",
                              json_string("Mozilla/5.0 (X11)"));
    tix_json_with(p, "ip_enc", json_string(ENC("ip")));
    accept("session.start", A_SYSTEM, p, &d);
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(&d, 0, F_STREAM, "session.started",
                           json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:i}", "family_id", F,
                                     "user_id", U, "token_hash", tix_world_hx(1), "expires_at",
                                     (json_int_t)(NOW_S + TTL), "user_agent", "Mozilla/5.0 (X11)",
                                     "ip_enc", ENC("ip"), "user_epoch", 0));
    tix_world_expect_json(d.result, json_pack("{s:s}", "family_id", F));
    tix_decision_deinit(&d);
    const struct tix_session_state *s = family(F);
    cr_assert(s->exists);
    cr_assert_not(s->is_revoked);
    cr_assert_str_eq(s->family_id, F);
    cr_assert_str_eq(s->user_id, U);
    cr_assert_str_eq(s->current_hash, tix_world_hx(1));
    cr_assert_eq(s->expires_at, NOW_S + TTL);
    cr_assert_eq(s->user_epoch, 0);
    cr_assert_eq(s->n_rotated, 0);
    /* The user may start their own, without the optional fields. */
    accept("session.start", A_SELF, start_payload(F2, tix_world_hx(2)), &d);
    cr_assert_null(json_object_get(d.events[0].data, "user_agent"));
    cr_assert_null(json_object_get(d.events[0].data, "ip_enc"));
    tix_decision_deinit(&d);
}

Test(session, start_rejections)
{
    expect_rejected("session.start", A_SYSTEM, start_payload(F, tix_world_hx(1)), "not_found",
                    "user_id");
    given_user();
    expect_rejected("session.start", A_OTHER, start_payload(F, tix_world_hx(1)), "forbidden", NULL);
    expect_rejected("session.start", "anonymous", start_payload(F, tix_world_hx(1)), "forbidden",
                    NULL);
    expect_rejected("session.start", NULL, start_payload(F, tix_world_hx(1)), "forbidden", NULL);
    accept_quietly("session.start", A_SYSTEM, start_payload(F, tix_world_hx(1)));
    expect_rejected("session.start", A_SYSTEM, start_payload(F, tix_world_hx(9)), "already_exists",
                    "family_id");
    cr_assert_str_eq(family(F)->current_hash, tix_world_hx(1));
    /* Another user may not take over the family id either. */
    given_user_of(U2, tix_world_hx(0xe2));
    json_t *p = tix_json_with(start_payload(F, tix_world_hx(9)), "user_id", json_string(U2));
    tix_world_expect_rejected(U2, "session.start", "user:" U2, p, "already_exists", "family_id");
    accept_quietly("user.erase", A_SYSTEM,
                   json_pack("{s:s, s:s}", "user_id", U, "email_index", tix_world_hx(0xe1)));
    expect_rejected("session.start", A_SYSTEM, start_payload(F2, tix_world_hx(1)), "erased", NULL);
}

Test(session, start_refuses_a_password_checked_against_a_stale_hash)
{
    given_user();
    expect_rejected(
        "session.start", A_SYSTEM,
        tix_json_with(start_payload(F, tix_world_hx(1)), "password_hash", json_string(PW2)),
        "stale_credentials", "password");
    accept_quietly(
        "session.start", A_SYSTEM,
        tix_json_with(start_payload(F, tix_world_hx(1)), "password_hash", json_string(PW1)));
    cr_assert_str_eq(family(F)->current_hash, tix_world_hx(1));
}

Test(session, start_checks_its_payload)
{
    char ua256[257], ua257[258];
    memset(ua256, 'u', 256);
    ua256[256] = '\0';
    memset(ua257, 'u', 257);
    ua257[257] = '\0';
    const char *required[] = {"family_id", "user_id", "token_hash", "expires_at"};
    for (int i = 0; i < 4; i++)
        expect_invalid("session.start",
                       tix_json_with(start_payload(F, tix_world_hx(1)), required[i], NULL),
                       required[i]);
    static const struct {
        const char *key, *value;
    } cases[] = {
        {"family_id", "\"F\""}, {"token_hash", "\"refresh-token\""},
        {"expires_at", "0"},    {"expires_at", "\"soon\""},
        {"user_agent", "\"\""}, {"user_agent", "\"Mozilla\\n5.0\""},
        {"user_agent", "7"},    {"ip_enc", "\"127.0.0.1\""},
        {"token", "\"x\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_invalid("session.start",
                       tix_json_with(start_payload(F, tix_world_hx(1)), cases[i].key,
                                     tix_json_of(cases[i].value)),
                       cases[i].key);
    expect_invalid(
        "session.start",
        tix_json_with(start_payload(F, tix_world_hx(1)), "user_agent", json_string(ua257)),
        "user_agent");
    expect_invalid_for(U2, "session.start", start_payload(F, tix_world_hx(1)), "user_id");
    expect_invalid("session.start", json_array(), "");
    given_user();
    accept_quietly(
        "session.start", A_SYSTEM,
        tix_json_with(start_payload(F, tix_world_hx(1)), "user_agent", json_string(ua256)));
}

/* ---- refresh ------------------------------------------------------------------------------ */

Test(session, refresh_rotates_the_current_token)
{
    given_session();
    struct tix_decision d;
    accept("session.refresh", A_SELF,
           refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S + TTL + 60), &d);
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(&d, 0, F_STREAM, "session.rotated",
                           json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "family_id", F, "user_id", U,
                                     "token_hash", tix_world_hx(2), "previous_hash",
                                     tix_world_hx(1), "expires_at", (json_int_t)(NOW_S + TTL + 60),
                                     "rotated_at_us", (json_int_t)NOW_US));
    tix_world_expect_json(d.result, json_pack("{s:s, s:s, s:I}", "status", "rotated", "family_id",
                                              F, "expires_at", (json_int_t)(NOW_S + TTL + 60)));
    tix_decision_deinit(&d);
    const struct tix_session_state *s = family(F);
    cr_assert_str_eq(s->current_hash, tix_world_hx(2));
    cr_assert_eq(s->expires_at, NOW_S + TTL + 60);
    cr_assert_eq(s->n_rotated, 1);
    cr_assert_str_eq(s->rotated[0], tix_world_hx(1));
    cr_assert_eq(s->rotated_at_us, NOW_US);
    accept_quietly("session.refresh", A_SYSTEM,
                   refresh_payload(tix_world_hx(2), tix_world_hx(3), NOW_S + TTL));
    cr_assert_str_eq(family(F)->current_hash, tix_world_hx(3));
}

Test(session, reusing_a_rotated_token_revokes_the_family)
{
    given_session();
    rotate(1);
    rotate(2);
    struct tix_decision d;
    accept("session.refresh", A_SELF,
           refresh_payload(tix_world_hx(1), tix_world_hx(9), NOW_S + TTL), &d);
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(
        &d, 0, F_STREAM, "session.revoked",
        json_pack("{s:s, s:s, s:s}", "family_id", F, "user_id", U, "reason", "reuse_detected"));
    tix_world_expect_json(d.result,
                          json_pack("{s:s, s:s}", "status", "revoked", "reason", "reuse_detected"));
    tix_decision_deinit(&d);
    const struct tix_session_state *s = family(F);
    cr_assert(s->is_revoked);
    cr_assert_str_eq(s->revoked_reason, "reuse_detected");
    cr_assert_str_eq(s->current_hash, tix_world_hx(3), "the reuse did not rotate");
    /* The legitimate holder's current token is dead too, and so is every other. */
    expect_rejected("session.refresh", A_SELF,
                    refresh_payload(tix_world_hx(3), tix_world_hx(4), NOW_S + TTL), "revoked",
                    NULL);
    expect_rejected("session.refresh", A_SELF,
                    refresh_payload(tix_world_hx(2), tix_world_hx(4), NOW_S + TTL), "revoked",
                    NULL);
    expect_rejected("session.refresh", A_SELF,
                    refresh_payload(tix_world_hx(77), tix_world_hx(4), NOW_S + TTL), "revoked",
                    NULL);
}

/* ---- two tabs: the grace window -------------------------------------------------------------- */

#define GRACE_S 10

/* A refresh of F from presented to next with the gateway's grace window. */
static json_t *tab_payload(unsigned presented, unsigned next)
{
    return tix_json_with(refresh_payload(tix_world_hx(presented), tix_world_hx(next), NOW_S + TTL),
                         "grace_s", json_integer(GRACE_S));
}

/* Rotates F from 1 to 2 at NOW_US, as the first tab does. */
static void given_first_tab_refreshed(void)
{
    given_session();
    accept_quietly("session.refresh", A_SELF,
                   tix_json_with(refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S + 100),
                                 "grace_s", json_integer(GRACE_S)));
}

static void expect_reuse_revokes(json_t *payload)
{
    struct tix_decision d;
    accept("session.refresh", A_SELF, payload, &d);
    cr_assert_eq(d.n_events, 1);
    cr_assert_str_eq(d.events[0].type, "session.revoked");
    tix_world_expect_json(d.result,
                          json_pack("{s:s, s:s}", "status", "revoked", "reason", "reuse_detected"));
    tix_decision_deinit(&d);
    cr_assert(family(F)->is_revoked);
}

Test(session, the_second_tab_within_the_window_gets_the_same_successor)
{
    given_first_tab_refreshed();
    for (int64_t late_us = 0; late_us <= GRACE_S * 1000000LL; late_us += GRACE_S * 500000LL) {
        tix_world_set_now(NOW_US + late_us);
        struct tix_decision d;
        accept("session.refresh", A_SELF, tab_payload(1, 2), &d);
        cr_assert_eq(d.n_events, 0, "nothing appended %lld us after the rotation",
                     (long long)late_us);
        tix_world_expect_json(d.result,
                              json_pack("{s:s, s:s, s:I}", "status", "rotated", "family_id", F,
                                        "expires_at", (json_int_t)(NOW_S + 100)));
        tix_decision_deinit(&d);
    }
    const struct tix_session_state *s = family(F);
    cr_assert_not(s->is_revoked);
    cr_assert_str_eq(s->current_hash, tix_world_hx(2));
    cr_assert_eq(s->n_rotated, 1);
    /* the family lives on: either tab's successor (the same token) rotates */
    accept_quietly("session.refresh", A_SELF, tab_payload(2, 3));
    cr_assert_str_eq(family(F)->current_hash, tix_world_hx(3));
}

Test(session, the_previous_token_after_the_window_revokes)
{
    given_first_tab_refreshed();
    tix_world_set_now(NOW_US + GRACE_S * 1000000LL + 1);
    expect_reuse_revokes(tab_payload(1, 2));
}

Test(session, a_token_two_rotations_back_revokes_at_once)
{
    given_first_tab_refreshed();
    accept_quietly("session.refresh", A_SELF, tab_payload(2, 3));
    expect_reuse_revokes(tab_payload(1, 2));
}

Test(session, within_the_window_another_successor_revokes)
{
    given_first_tab_refreshed();
    expect_reuse_revokes(tab_payload(1, 9));
}

Test(session, without_a_grace_the_previous_token_revokes_at_once)
{
    given_first_tab_refreshed();
    expect_reuse_revokes(refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S + TTL));
}

Test(session, a_rotation_logged_without_its_time_has_no_window)
{
    /* an event from before rotated_at_us existed replays, and leaves no window open */
    json_t *started = json_pack("{s:s, s:s, s:s, s:I, s:I}", "family_id", F, "user_id", U,
                                "token_hash", tix_world_hx(1), "expires_at",
                                (json_int_t)(NOW_S + TTL), "user_epoch", (json_int_t)0);
    json_t *rotated = json_pack("{s:s, s:s, s:s, s:s, s:I}", "family_id", F, "user_id", U,
                                "token_hash", tix_world_hx(2), "previous_hash", tix_world_hx(1),
                                "expires_at", (json_int_t)(NOW_S + TTL));
    struct tix_session_state *old = tix_session_stream_kind.create();
    cr_assert_eq(tix_session_stream_kind.evolve(old, "session.started", 1, started), TIX_OK);
    cr_assert_eq(tix_session_stream_kind.evolve(old, "session.rotated", 1, rotated), TIX_OK);
    cr_assert_eq(old->rotated_at_us, 0);
    json_object_set_new(rotated, "previous_hash", json_string(tix_world_hx(2)));
    json_object_set_new(rotated, "token_hash", json_string(tix_world_hx(3)));
    json_object_set_new(rotated, "rotated_at_us", json_string("now"));
    cr_assert_eq(tix_session_stream_kind.evolve(old, "session.rotated", 1, rotated), TIX_EINVAL);
    tix_session_stream_kind.destroy(old);
    json_decref(started);
    json_decref(rotated);
}

Test(session, refresh_refuses_unknown_and_expired_tokens)
{
    given_session();
    expect_rejected("session.refresh", A_SELF,
                    refresh_payload(tix_world_hx(99), tix_world_hx(2), NOW_S + TTL),
                    "invalid_token", "token");
    tix_world_set_now((NOW_S + TTL) * 1000000);
    expect_rejected("session.refresh", A_SELF,
                    refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S + 2 * TTL), "expired",
                    "token");
    cr_assert_not(family(F)->is_revoked);
    tix_world_set_now((NOW_S + TTL) * 1000000 - 1);
    rotate(1);
    /* A rotated token is reuse even once the family expired. */
    tix_world_set_now((NOW_S + 10 * TTL) * 1000000);
    struct tix_decision d;
    accept("session.refresh", A_SELF,
           refresh_payload(tix_world_hx(1), tix_world_hx(5), NOW_S + 11 * TTL), &d);
    cr_assert_str_eq(d.events[0].type, "session.revoked");
    tix_decision_deinit(&d);
}

Test(session, only_the_last_50_rotated_tokens_are_remembered)
{
    given_session();
    for (unsigned i = 1; i <= 60; i++)
        rotate(i);
    const struct tix_session_state *s = family(F);
    cr_assert_str_eq(s->current_hash, tix_world_hx(61));
    cr_assert_eq(s->n_rotated, TIX_SESSION_MAX_ROTATED);
    /* tix_world_hx(11)..tix_world_hx(60) are remembered; tix_world_hx(1)..tix_world_hx(10) fell out
     * of the window. */
    for (unsigned i = 1; i <= 10; i++)
        expect_rejected("session.refresh", A_SELF,
                        refresh_payload(tix_world_hx(i), tix_world_hx(500), NOW_S + TTL),
                        "invalid_token", "token");
    cr_assert_not(s->is_revoked);
    struct tix_decision d;
    accept("session.refresh", A_SELF,
           refresh_payload(tix_world_hx(11), tix_world_hx(500), NOW_S + TTL), &d);
    cr_assert_str_eq(d.events[0].type, "session.revoked");
    tix_decision_deinit(&d);
}

Test(session, the_newest_rotated_token_is_reuse_too)
{
    given_session();
    for (unsigned i = 1; i <= 55; i++)
        rotate(i);
    struct tix_decision d;
    accept("session.refresh", A_SELF,
           refresh_payload(tix_world_hx(55), tix_world_hx(500), NOW_S + TTL), &d);
    cr_assert_str_eq(d.events[0].type, "session.revoked");
    tix_decision_deinit(&d);
}

Test(session, refresh_checks_its_payload)
{
    expect_invalid("session.refresh",
                   refresh_payload(tix_world_hx(1), tix_world_hx(1), NOW_S + TTL), "new_hash");
    const char *required[] = {"family_id", "user_id", "presented_hash", "new_hash", "expires_at"};
    for (int i = 0; i < 5; i++)
        expect_invalid("session.refresh",
                       tix_json_with(refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S),
                                     required[i], NULL),
                       required[i]);
    expect_invalid("session.refresh",
                   tix_json_with(refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S),
                                 "presented_hash", json_string("the-refresh-token")),
                   "presented_hash");
    expect_invalid("session.refresh",
                   tix_json_with(refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S),
                                 "user_agent", json_string("x")),
                   "user_agent");
    expect_invalid_for(U2, "session.refresh",
                       refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S), "user_id");
    json_t *graces[] = {json_integer(-1), json_integer(301), json_string("10"), json_real(1.5)};
    for (size_t i = 0; i < sizeof(graces) / sizeof(graces[0]); i++)
        expect_invalid("session.refresh",
                       tix_json_with(refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S),
                                     "grace_s", graces[i]),
                       "grace_s");
}

/* ---- revoke ------------------------------------------------------------------------------- */

Test(session, revoke_is_idempotent)
{
    given_session();
    struct tix_decision d;
    accept("session.revoke", A_SELF, revoke_payload("logout"), &d);
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(
        &d, 0, F_STREAM, "session.revoked",
        json_pack("{s:s, s:s, s:s}", "family_id", F, "user_id", U, "reason", "logout"));
    cr_assert_null(d.result);
    tix_decision_deinit(&d);
    cr_assert(family(F)->is_revoked);
    cr_assert_str_eq(family(F)->revoked_reason, "logout");
    accept_no_events("session.revoke", A_SELF, revoke_payload("logout"));
    accept_no_events("session.revoke", A_SYSTEM, revoke_payload("admin"));
    cr_assert_str_eq(family(F)->revoked_reason, "logout");
    expect_rejected("session.refresh", A_SELF,
                    refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S + TTL), "revoked",
                    NULL);
}

Test(session, revoke_checks_its_payload)
{
    const char *bad[] = {"", "Logout", "log-out", "log out", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_invalid("session.revoke", revoke_payload(bad[i]), "reason");
    expect_invalid("session.revoke", tix_json_with(revoke_payload("logout"), "reason", NULL),
                   "reason");
    given_session();
    accept_quietly("session.revoke", A_SYSTEM, revoke_payload("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

/* ---- rejections shared by refresh and revoke ---------------------------------------------- */

static json_t *payload_for(int i)
{
    return i == 0 ? refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S + TTL)
                  : revoke_payload("logout");
}

static const char *const family_types[] = {"session.refresh", "session.revoke"};

Test(session, refresh_and_revoke_need_the_users_family)
{
    for (int i = 0; i < 2; i++)
        expect_rejected(family_types[i], A_SYSTEM, payload_for(i), "not_found", "user_id");
    given_user();
    for (int i = 0; i < 2; i++) {
        expect_rejected(family_types[i], A_SYSTEM, payload_for(i), "not_found", "family_id");
        expect_rejected(family_types[i], A_SELF, payload_for(i), "not_found", "family_id");
    }
    accept_quietly("session.start", A_SYSTEM, start_payload(F, tix_world_hx(1)));
    /* U2 cannot reach U's family, even naming it, even as U2 or as a system. */
    given_user_of(U2, tix_world_hx(0xe2));
    for (int i = 0; i < 2; i++) {
        json_t *p = tix_json_with(payload_for(i), "user_id", json_string(U2));
        tix_world_expect_rejected(U2, family_types[i], "user:" U2, p, "not_found", "family_id");
        p = tix_json_with(payload_for(i), "user_id", json_string(U2));
        tix_world_expect_rejected(U2, family_types[i], A_SYSTEM, p, "not_found", "family_id");
        expect_rejected(family_types[i], A_OTHER, payload_for(i), "forbidden", NULL);
        expect_rejected(family_types[i], "nobody", payload_for(i), "forbidden", NULL);
    }
    cr_assert_not(family(F)->is_revoked);
    cr_assert_str_eq(family(F)->current_hash, tix_world_hx(1));
}

Test(session, a_password_change_revokes_older_families)
{
    given_session();
    accept_quietly("user.change_password", A_SELF,
                   json_pack("{s:s, s:s}", "user_id", U, "password_hash", PW2));
    expect_rejected("session.refresh", A_SELF,
                    refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S + TTL), "revoked",
                    NULL);
    accept_no_events("session.revoke", A_SELF, revoke_payload("logout"));
    /* A family started after the change works, and records the new epoch. */
    accept_quietly("session.start", A_SELF, start_payload(F2, tix_world_hx(20)));
    cr_assert_eq(family(F2)->user_epoch, 1);
    json_t *p = tix_json_with(refresh_payload(tix_world_hx(20), tix_world_hx(21), NOW_S + TTL),
                              "family_id", json_string(F2));
    accept_quietly("session.refresh", A_SELF, p);
    cr_assert_str_eq(family(F2)->current_hash, tix_world_hx(21));
}

Test(session, erasing_the_user_revokes_every_family)
{
    given_session();
    accept_quietly("user.erase", A_SYSTEM,
                   json_pack("{s:s, s:s}", "user_id", U, "email_index", tix_world_hx(0xe1)));
    expect_rejected("session.refresh", A_SYSTEM,
                    refresh_payload(tix_world_hx(1), tix_world_hx(2), NOW_S + TTL), "revoked",
                    NULL);
    accept_no_events("session.revoke", A_SYSTEM, revoke_payload("admin"));
}

/* ---- evolve and replay -------------------------------------------------------------------- */

static enum tix_rc evolve(void *s, const char *type, const char *data)
{
    json_t *v = tix_json_of(data);
    enum tix_rc rc = tix_session_stream_kind.evolve(s, type, 1, v);
    json_decref(v);
    return rc;
}

#define IDS     "\"family_id\":\"" F "\",\"user_id\":\"" U "\""
#define H1      "0000000000000000000000000000000000000000000000000000000000000001"
#define H2      "0000000000000000000000000000000000000000000000000000000000000002"
#define STARTED "{" IDS ",\"token_hash\":\"" H1 "\",\"expires_at\":1800000000,\"user_epoch\":0}"

Test(session, evolve_refuses_malformed_events_and_ignores_unknown_ones)
{
    struct tix_session_state *s = tix_session_stream_kind.create();
    cr_assert_eq(evolve(s, "session.renamed", "{}"), TIX_OK);
    cr_assert_eq(evolve(s, "user.registered", "{}"), TIX_OK);
    cr_assert_eq(evolve(s, "session.revoked", "{" IDS ",\"reason\":\"logout\"}"), TIX_EINVAL,
                 "before started");
    cr_assert_eq(evolve(s, "session.started", "{" IDS "}"), TIX_EINVAL);
    cr_assert_eq(evolve(s, "session.started", "[]"), TIX_EINVAL);
    json_t *v = tix_json_of(STARTED);
    cr_assert_eq(tix_session_stream_kind.evolve(s, "session.started", 2, v), TIX_EINVAL);
    json_decref(v);
    cr_assert_not(s->exists);
    cr_assert_eq(evolve(s, "session.started", STARTED), TIX_OK);
    cr_assert_eq(evolve(s, "session.started", STARTED), TIX_EINVAL, "started twice");
    const char *bad[][2] = {
        {"session.rotated",
         "{" IDS ",\"token_hash\":\"" H2 "\",\"previous_hash\":\"" H2 "\",\"expires_at\":1}"},
        {"session.rotated",
         "{" IDS ",\"token_hash\":\"x\",\"previous_hash\":\"" H1 "\",\"expires_at\":1}"},
        {"session.rotated", "{" IDS ",\"token_hash\":\"" H2 "\",\"previous_hash\":\"" H1 "\"}"},
        {"session.rotated", "{\"family_id\":\"" F2 "\",\"user_id\":\"" U "\",\"token_hash\":\"" H2
                            "\",\"previous_hash\":\"" H1 "\",\"expires_at\":1}"},
        {"session.revoked", "{" IDS "}"},
        {"session.revoked",
         "{\"family_id\":\"" F "\",\"user_id\":\"" U2 "\",\"reason\":\"logout\"}"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(evolve(s, bad[i][0], bad[i][1]), TIX_EINVAL, "%s %s", bad[i][0], bad[i][1]);
    cr_assert_str_eq(s->current_hash, H1);
    cr_assert_eq(s->n_rotated, 0);
    cr_assert_not(s->is_revoked);
    cr_assert_eq(evolve(s, "session.revoked", "{" IDS ",\"reason\":\"logout\"}"), TIX_OK);
    cr_assert_eq(evolve(s, "session.revoked", "{" IDS ",\"reason\":\"logout\"}"), TIX_EINVAL,
                 "revoked twice");
    cr_assert_eq(evolve(s, "session.rotated",
                        "{" IDS ",\"token_hash\":\"" H2 "\",\"previous_hash\":\"" H1
                        "\",\"expires_at\":1}"),
                 TIX_EINVAL, "rotated after revocation");
    tix_session_stream_kind.destroy(s);
    tix_session_stream_kind.destroy(NULL);
}

Test(session, replaying_the_log_gives_the_live_state)
{
    given_session();
    for (unsigned i = 1; i <= 53; i++)
        rotate(i);
    accept_quietly("session.refresh", A_SELF,
                   refresh_payload(tix_world_hx(30), tix_world_hx(999), NOW_S + TTL));
    cr_assert_eq(tix_world_stream(F_STREAM)->version, 55);
    struct tix_session_state *again = tix_world_replay(F_STREAM);
    const struct tix_session_state *live = family(F);
    cr_assert_eq(memcmp(again, live, sizeof(*live)), 0, "byte-identical state");
    cr_assert(again->is_revoked);
    cr_assert_str_eq(again->revoked_reason, "reuse_detected");
    tix_session_stream_kind.destroy(again);
}
