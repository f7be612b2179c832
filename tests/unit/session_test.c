/* session_test.c - the session aggregate's pure functions, driven like the processor
 *
 * The in-memory world of organization_test.c and user_test.c. Users are made with real
 * user.register commands, so every session command reads a user state built by evolve, and
 * password changes and erasures revoke families the way they do in production.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/json.h"

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

/* ---- the world ---------------------------------------------------------------------------- */

struct stream {
    char id[TIX_STREAM_ID_MAX];
    const struct tix_stream_kind *kind;
    void *state;
    int64_t version;
};

struct logged {
    char stream_id[TIX_STREAM_ID_MAX];
    const char *type;
    int schema_version;
    json_t *data;
};

static struct {
    int n_streams;
    struct stream streams[16];
    int n_log;
    struct logged log[256];
    int64_t now_us;
} w;

static void setup(void)
{
    memset(&w, 0, sizeof(w));
    w.now_us = NOW_US;
}

static void teardown(void)
{
    for (int i = 0; i < w.n_streams; i++)
        w.streams[i].kind->destroy(w.streams[i].state);
    for (int i = 0; i < w.n_log; i++)
        json_decref(w.log[i].data);
}

TestSuite(session, .init = setup, .fini = teardown);

static struct stream *stream_get(const char *id)
{
    for (int i = 0; i < w.n_streams; i++)
        if (strcmp(w.streams[i].id, id) == 0)
            return &w.streams[i];
    cr_assert_lt(w.n_streams, 16);
    struct stream *s = &w.streams[w.n_streams++];
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->kind = tix_registry_stream_kind(id);
    cr_assert_not_null(s->kind, "no stream kind for %s", id);
    s->state = s->kind->create();
    cr_assert_not_null(s->state);
    return s;
}

static void apply(const struct tix_decision *d, char ids[][TIX_STREAM_ID_MAX], int n)
{
    for (int i = 0; i < d->n_events; i++) {
        const struct tix_new_event *e = &d->events[i];
        bool is_requested = false;
        for (int j = 0; j < n; j++)
            is_requested = is_requested || strcmp(ids[j], e->stream_id) == 0;
        cr_assert(is_requested, "%s emitted on unrequested stream %s", e->type, e->stream_id);
        struct stream *s = stream_get(e->stream_id);
        cr_assert_eq(s->kind->evolve(s->state, e->type, e->schema_version, e->data), TIX_OK,
                     "evolve refused %s", e->type);
        s->version++;
        cr_assert_lt(w.n_log, 256);
        struct logged *l = &w.log[w.n_log++];
        snprintf(l->stream_id, sizeof(l->stream_id), "%s", e->stream_id);
        l->type = e->type;
        l->schema_version = e->schema_version;
        l->data = json_incref(e->data);
    }
}

/* Runs one command through streams/decide/evolve. Steals payload. Returns streams()' result. */
static int run(const char *type, const char *key, const char *actor, json_t *payload,
               struct tix_decision *d, struct tix_err *err)
{
    const struct tix_command_handler *h = tix_registry_handler(type);
    cr_assert_not_null(h, "no handler for %s", type);
    struct tix_command cmd = {.command_id = "cmd-1",
                              .type = type,
                              .key = key,
                              .payload = payload,
                              .actor = actor,
                              .now_us = w.now_us};
    char ids[TIX_DECISION_MAX_STREAMS][TIX_STREAM_ID_MAX];
    tix_err_clear(err);
    tix_decision_init(d);
    int n = h->streams(&cmd, ids, err);
    if (n >= 0) {
        cr_assert_leq(n, TIX_DECISION_MAX_STREAMS);
        struct tix_view view = {.n = n};
        for (int i = 0; i < n; i++) {
            struct stream *s = stream_get(ids[i]);
            view.id[i] = s->id;
            view.state[i] = s->state;
            view.version[i] = s->version;
        }
        h->decide(&cmd, &view, d);
        if (!d->is_rejected)
            apply(d, ids, n);
    }
    json_decref(payload);
    return n;
}

static void accept_for(const char *key, const char *type, const char *actor, json_t *payload,
                       struct tix_decision *d)
{
    struct tix_err err;
    int n = run(type, key, actor, payload, d, &err);
    cr_assert_geq(n, 0, "%s invalid: field '%s': %s", type, err.field, err.msg);
    cr_assert_not(d->is_rejected, "%s rejected: %s (%s)", type, d->code, d->reason);
}

static void accept(const char *type, const char *actor, json_t *payload, struct tix_decision *d)
{
    accept_for(U, type, actor, payload, d);
}

static void accept_quietly(const char *type, const char *actor, json_t *payload)
{
    struct tix_decision d;
    accept(type, actor, payload, &d);
    tix_decision_deinit(&d);
}

static void accept_no_events(const char *type, const char *actor, json_t *payload)
{
    struct tix_decision d;
    int before = w.n_log;
    accept(type, actor, payload, &d);
    int n = d.n_events;
    tix_decision_deinit(&d);
    cr_assert_eq(n, 0, "%s emitted %d events", type, n);
    cr_assert_eq(w.n_log, before);
}

static void expect_rejected_for(const char *key, const char *type, const char *actor,
                                json_t *payload, const char *code, const char *field)
{
    struct tix_decision d;
    struct tix_err err;
    int before = w.n_log;
    int n = run(type, key, actor, payload, &d, &err);
    cr_assert_geq(n, 0, "%s invalid: field '%s': %s", type, err.field, err.msg);
    cr_assert(d.is_rejected, "%s accepted, expected %s", type, code);
    cr_assert_str_eq(d.code, code, "%s: code %s, expected %s", type, d.code, code);
    cr_assert_str_eq(d.field, field != NULL ? field : "", "%s: field", type);
    cr_assert_eq(d.n_events, 0);
    cr_assert_null(d.result);
    cr_assert_eq(w.n_log, before);
    cr_assert_neq(d.reason[0], '\0', "a rejection explains itself");
    tix_decision_deinit(&d);
}

static void expect_rejected(const char *type, const char *actor, json_t *payload, const char *code,
                            const char *field)
{
    expect_rejected_for(U, type, actor, payload, code, field);
}

static void expect_invalid_for(const char *key, const char *type, json_t *payload,
                               const char *field)
{
    struct tix_decision d;
    struct tix_err err;
    char shown[256] = "";
    char *dump = payload != NULL ? tix_json_dump(payload) : NULL;
    snprintf(shown, sizeof(shown), "%.200s", dump != NULL ? dump : "NULL");
    free(dump);
    int n = run(type, key, A_SYSTEM, payload, &d, &err);
    tix_decision_deinit(&d);
    cr_assert_eq(n, -1, "%s accepted payload %s", type, shown);
    cr_assert_eq(err.rc, TIX_EINVAL, "%s %s", type, shown);
    cr_assert_str_eq(err.field, field, "%s %s: field '%s', expected '%s' (%s)", type, shown,
                     err.field, field, err.msg);
    cr_assert_neq(err.msg[0], '\0');
}

static void expect_invalid(const char *type, json_t *payload, const char *field)
{
    expect_invalid_for(U, type, payload, field);
}

static void expect_json(const json_t *got, json_t *want)
{
    cr_assert_not_null(want, "bad expectation");
    bool is_equal = json_equal(got, want);
    char *g = got != NULL ? tix_json_dump(got) : NULL;
    char *x = tix_json_dump(want);
    char msg[2048];
    snprintf(msg, sizeof(msg), "got %.1000s, want %.1000s", g != NULL ? g : "NULL", x);
    free(g);
    free(x);
    json_decref(want);
    cr_assert(is_equal, "%s", msg);
}

static void expect_event(const struct tix_decision *d, int i, const char *stream_id,
                         const char *type, json_t *data)
{
    cr_assert_lt(i, d->n_events, "event %d missing", i);
    cr_assert_str_eq(d->events[i].stream_id, stream_id);
    cr_assert_str_eq(d->events[i].type, type);
    cr_assert_eq(d->events[i].schema_version, 1);
    expect_json(d->events[i].data, data);
}

static const struct tix_session_state *family(const char *family_id)
{
    char id[TIX_STREAM_ID_MAX];
    snprintf(id, sizeof(id), "%s%s", TIX_SESSION_STREAM_PREFIX, family_id);
    return stream_get(id)->state;
}

/* ---- payloads and givens ------------------------------------------------------------------ */

static json_t *with(json_t *p, const char *key, json_t *value)
{
    if (value == NULL)
        json_object_del(p, key);
    else
        json_object_set_new(p, key, value);
    return p;
}

static json_t *j(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    cr_assert_not_null(v, "bad test JSON %s: %s", text, e.text);
    return v;
}

/* A 64-hex hash of n from a small ring of buffers (valid for the next 15 calls). */
static const char *hx(unsigned n)
{
    static char ring[16][65];
    static int next;
    char *out = ring[next++ % 16];
    snprintf(out, 65, "%064x", n);
    return out;
}

static void given_user_of(const char *user, const char *email_index)
{
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "user_id", user, "email_index",
                          email_index, "email_enc", ENC("email"), "password_hash", PW1,
                          "verification_token_hash", hx(7), "verification_expires_at",
                          (json_int_t)(NOW_S + 3600), "token_enc", ENC("token"));
    struct tix_decision d;
    accept_for(user, "user.register", A_SYSTEM, p, &d);
    tix_decision_deinit(&d);
}

static void given_user(void)
{
    given_user_of(U, hx(0xe1));
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

/* U with family F whose current hash is hx(1). */
static void given_session(void)
{
    given_user();
    accept_quietly("session.start", A_SYSTEM, start_payload(F, hx(1)));
}

/* Rotates F from hx(from) to hx(from + 1). */
static void rotate(unsigned from)
{
    accept_quietly("session.refresh", A_SELF,
                   refresh_payload(hx(from), hx(from + 1), NOW_S + TTL + from));
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
    json_t *p = refresh_payload(hx(1), hx(2), NOW_S);
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
    json_t *p = with(start_payload(F, hx(1)), "user_agent", json_string("Mozilla/5.0 (X11)"));
    with(p, "ip_enc", json_string(ENC("ip")));
    accept("session.start", A_SYSTEM, p, &d);
    cr_assert_eq(d.n_events, 1);
    expect_event(&d, 0, F_STREAM, "session.started",
                 json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:i}", "family_id", F, "user_id", U,
                           "token_hash", hx(1), "expires_at", (json_int_t)(NOW_S + TTL),
                           "user_agent", "Mozilla/5.0 (X11)", "ip_enc", ENC("ip"), "user_epoch",
                           0));
    expect_json(d.result, json_pack("{s:s}", "family_id", F));
    tix_decision_deinit(&d);
    const struct tix_session_state *s = family(F);
    cr_assert(s->exists);
    cr_assert_not(s->is_revoked);
    cr_assert_str_eq(s->family_id, F);
    cr_assert_str_eq(s->user_id, U);
    cr_assert_str_eq(s->current_hash, hx(1));
    cr_assert_eq(s->expires_at, NOW_S + TTL);
    cr_assert_eq(s->user_epoch, 0);
    cr_assert_eq(s->n_rotated, 0);
    /* The user may start their own, without the optional fields. */
    accept("session.start", A_SELF, start_payload(F2, hx(2)), &d);
    cr_assert_null(json_object_get(d.events[0].data, "user_agent"));
    cr_assert_null(json_object_get(d.events[0].data, "ip_enc"));
    tix_decision_deinit(&d);
}

Test(session, start_rejections)
{
    expect_rejected("session.start", A_SYSTEM, start_payload(F, hx(1)), "not_found", "user_id");
    given_user();
    expect_rejected("session.start", A_OTHER, start_payload(F, hx(1)), "forbidden", NULL);
    expect_rejected("session.start", "anonymous", start_payload(F, hx(1)), "forbidden", NULL);
    expect_rejected("session.start", NULL, start_payload(F, hx(1)), "forbidden", NULL);
    accept_quietly("session.start", A_SYSTEM, start_payload(F, hx(1)));
    expect_rejected("session.start", A_SYSTEM, start_payload(F, hx(9)), "already_exists",
                    "family_id");
    cr_assert_str_eq(family(F)->current_hash, hx(1));
    /* Another user may not take over the family id either. */
    given_user_of(U2, hx(0xe2));
    json_t *p = with(start_payload(F, hx(9)), "user_id", json_string(U2));
    expect_rejected_for(U2, "session.start", "user:" U2, p, "already_exists", "family_id");
    accept_quietly("user.erase", A_SYSTEM,
                   json_pack("{s:s, s:s}", "user_id", U, "email_index", hx(0xe1)));
    expect_rejected("session.start", A_SYSTEM, start_payload(F2, hx(1)), "erased", NULL);
}

Test(session, start_refuses_a_password_checked_against_a_stale_hash)
{
    given_user();
    expect_rejected("session.start", A_SYSTEM,
                    with(start_payload(F, hx(1)), "password_hash", json_string(PW2)),
                    "stale_credentials", "password");
    accept_quietly("session.start", A_SYSTEM,
                   with(start_payload(F, hx(1)), "password_hash", json_string(PW1)));
    cr_assert_str_eq(family(F)->current_hash, hx(1));
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
        expect_invalid("session.start", with(start_payload(F, hx(1)), required[i], NULL),
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
                       with(start_payload(F, hx(1)), cases[i].key, j(cases[i].value)),
                       cases[i].key);
    expect_invalid("session.start", with(start_payload(F, hx(1)), "user_agent", json_string(ua257)),
                   "user_agent");
    expect_invalid_for(U2, "session.start", start_payload(F, hx(1)), "user_id");
    expect_invalid("session.start", json_array(), "");
    given_user();
    accept_quietly("session.start", A_SYSTEM,
                   with(start_payload(F, hx(1)), "user_agent", json_string(ua256)));
}

/* ---- refresh ------------------------------------------------------------------------------ */

Test(session, refresh_rotates_the_current_token)
{
    given_session();
    struct tix_decision d;
    accept("session.refresh", A_SELF, refresh_payload(hx(1), hx(2), NOW_S + TTL + 60), &d);
    cr_assert_eq(d.n_events, 1);
    expect_event(&d, 0, F_STREAM, "session.rotated",
                 json_pack("{s:s, s:s, s:s, s:s, s:I}", "family_id", F, "user_id", U, "token_hash",
                           hx(2), "previous_hash", hx(1), "expires_at",
                           (json_int_t)(NOW_S + TTL + 60)));
    expect_json(d.result, json_pack("{s:s, s:s, s:I}", "status", "rotated", "family_id", F,
                                    "expires_at", (json_int_t)(NOW_S + TTL + 60)));
    tix_decision_deinit(&d);
    const struct tix_session_state *s = family(F);
    cr_assert_str_eq(s->current_hash, hx(2));
    cr_assert_eq(s->expires_at, NOW_S + TTL + 60);
    cr_assert_eq(s->n_rotated, 1);
    cr_assert_str_eq(s->rotated[0], hx(1));
    accept_quietly("session.refresh", A_SYSTEM, refresh_payload(hx(2), hx(3), NOW_S + TTL));
    cr_assert_str_eq(family(F)->current_hash, hx(3));
}

Test(session, reusing_a_rotated_token_revokes_the_family)
{
    given_session();
    rotate(1);
    rotate(2);
    struct tix_decision d;
    accept("session.refresh", A_SELF, refresh_payload(hx(1), hx(9), NOW_S + TTL), &d);
    cr_assert_eq(d.n_events, 1);
    expect_event(
        &d, 0, F_STREAM, "session.revoked",
        json_pack("{s:s, s:s, s:s}", "family_id", F, "user_id", U, "reason", "reuse_detected"));
    expect_json(d.result, json_pack("{s:s, s:s}", "status", "revoked", "reason", "reuse_detected"));
    tix_decision_deinit(&d);
    const struct tix_session_state *s = family(F);
    cr_assert(s->is_revoked);
    cr_assert_str_eq(s->revoked_reason, "reuse_detected");
    cr_assert_str_eq(s->current_hash, hx(3), "the reuse did not rotate");
    /* The legitimate holder's current token is dead too, and so is every other. */
    expect_rejected("session.refresh", A_SELF, refresh_payload(hx(3), hx(4), NOW_S + TTL),
                    "revoked", NULL);
    expect_rejected("session.refresh", A_SELF, refresh_payload(hx(2), hx(4), NOW_S + TTL),
                    "revoked", NULL);
    expect_rejected("session.refresh", A_SELF, refresh_payload(hx(77), hx(4), NOW_S + TTL),
                    "revoked", NULL);
}

Test(session, refresh_refuses_unknown_and_expired_tokens)
{
    given_session();
    expect_rejected("session.refresh", A_SELF, refresh_payload(hx(99), hx(2), NOW_S + TTL),
                    "invalid_token", "token");
    w.now_us = (NOW_S + TTL) * 1000000;
    expect_rejected("session.refresh", A_SELF, refresh_payload(hx(1), hx(2), NOW_S + 2 * TTL),
                    "expired", "token");
    cr_assert_not(family(F)->is_revoked);
    w.now_us = (NOW_S + TTL) * 1000000 - 1;
    rotate(1);
    /* A rotated token is reuse even once the family expired. */
    w.now_us = (NOW_S + 10 * TTL) * 1000000;
    struct tix_decision d;
    accept("session.refresh", A_SELF, refresh_payload(hx(1), hx(5), NOW_S + 11 * TTL), &d);
    cr_assert_str_eq(d.events[0].type, "session.revoked");
    tix_decision_deinit(&d);
}

Test(session, only_the_last_50_rotated_tokens_are_remembered)
{
    given_session();
    for (unsigned i = 1; i <= 60; i++)
        rotate(i);
    const struct tix_session_state *s = family(F);
    cr_assert_str_eq(s->current_hash, hx(61));
    cr_assert_eq(s->n_rotated, TIX_SESSION_MAX_ROTATED);
    /* hx(11)..hx(60) are remembered; hx(1)..hx(10) fell out of the window. */
    for (unsigned i = 1; i <= 10; i++)
        expect_rejected("session.refresh", A_SELF, refresh_payload(hx(i), hx(500), NOW_S + TTL),
                        "invalid_token", "token");
    cr_assert_not(s->is_revoked);
    struct tix_decision d;
    accept("session.refresh", A_SELF, refresh_payload(hx(11), hx(500), NOW_S + TTL), &d);
    cr_assert_str_eq(d.events[0].type, "session.revoked");
    tix_decision_deinit(&d);
}

Test(session, the_newest_rotated_token_is_reuse_too)
{
    given_session();
    for (unsigned i = 1; i <= 55; i++)
        rotate(i);
    struct tix_decision d;
    accept("session.refresh", A_SELF, refresh_payload(hx(55), hx(500), NOW_S + TTL), &d);
    cr_assert_str_eq(d.events[0].type, "session.revoked");
    tix_decision_deinit(&d);
}

Test(session, refresh_checks_its_payload)
{
    expect_invalid("session.refresh", refresh_payload(hx(1), hx(1), NOW_S + TTL), "new_hash");
    const char *required[] = {"family_id", "user_id", "presented_hash", "new_hash", "expires_at"};
    for (int i = 0; i < 5; i++)
        expect_invalid("session.refresh",
                       with(refresh_payload(hx(1), hx(2), NOW_S), required[i], NULL), required[i]);
    expect_invalid("session.refresh",
                   with(refresh_payload(hx(1), hx(2), NOW_S), "presented_hash",
                        json_string("the-refresh-token")),
                   "presented_hash");
    expect_invalid("session.refresh",
                   with(refresh_payload(hx(1), hx(2), NOW_S), "user_agent", json_string("x")),
                   "user_agent");
    expect_invalid_for(U2, "session.refresh", refresh_payload(hx(1), hx(2), NOW_S), "user_id");
}

/* ---- revoke ------------------------------------------------------------------------------- */

Test(session, revoke_is_idempotent)
{
    given_session();
    struct tix_decision d;
    accept("session.revoke", A_SELF, revoke_payload("logout"), &d);
    cr_assert_eq(d.n_events, 1);
    expect_event(&d, 0, F_STREAM, "session.revoked",
                 json_pack("{s:s, s:s, s:s}", "family_id", F, "user_id", U, "reason", "logout"));
    cr_assert_null(d.result);
    tix_decision_deinit(&d);
    cr_assert(family(F)->is_revoked);
    cr_assert_str_eq(family(F)->revoked_reason, "logout");
    accept_no_events("session.revoke", A_SELF, revoke_payload("logout"));
    accept_no_events("session.revoke", A_SYSTEM, revoke_payload("admin"));
    cr_assert_str_eq(family(F)->revoked_reason, "logout");
    expect_rejected("session.refresh", A_SELF, refresh_payload(hx(1), hx(2), NOW_S + TTL),
                    "revoked", NULL);
}

Test(session, revoke_checks_its_payload)
{
    const char *bad[] = {"", "Logout", "log-out", "log out", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_invalid("session.revoke", revoke_payload(bad[i]), "reason");
    expect_invalid("session.revoke", with(revoke_payload("logout"), "reason", NULL), "reason");
    given_session();
    accept_quietly("session.revoke", A_SYSTEM, revoke_payload("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

/* ---- rejections shared by refresh and revoke ---------------------------------------------- */

static json_t *payload_for(int i)
{
    return i == 0 ? refresh_payload(hx(1), hx(2), NOW_S + TTL) : revoke_payload("logout");
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
    accept_quietly("session.start", A_SYSTEM, start_payload(F, hx(1)));
    /* U2 cannot reach U's family, even naming it, even as U2 or as a system. */
    given_user_of(U2, hx(0xe2));
    for (int i = 0; i < 2; i++) {
        json_t *p = with(payload_for(i), "user_id", json_string(U2));
        expect_rejected_for(U2, family_types[i], "user:" U2, p, "not_found", "family_id");
        p = with(payload_for(i), "user_id", json_string(U2));
        expect_rejected_for(U2, family_types[i], A_SYSTEM, p, "not_found", "family_id");
        expect_rejected(family_types[i], A_OTHER, payload_for(i), "forbidden", NULL);
        expect_rejected(family_types[i], "nobody", payload_for(i), "forbidden", NULL);
    }
    cr_assert_not(family(F)->is_revoked);
    cr_assert_str_eq(family(F)->current_hash, hx(1));
}

Test(session, a_password_change_revokes_older_families)
{
    given_session();
    accept_quietly("user.change_password", A_SELF,
                   json_pack("{s:s, s:s}", "user_id", U, "password_hash", PW2));
    expect_rejected("session.refresh", A_SELF, refresh_payload(hx(1), hx(2), NOW_S + TTL),
                    "revoked", NULL);
    accept_no_events("session.revoke", A_SELF, revoke_payload("logout"));
    /* A family started after the change works, and records the new epoch. */
    accept_quietly("session.start", A_SELF, start_payload(F2, hx(20)));
    cr_assert_eq(family(F2)->user_epoch, 1);
    json_t *p = with(refresh_payload(hx(20), hx(21), NOW_S + TTL), "family_id", json_string(F2));
    accept_quietly("session.refresh", A_SELF, p);
    cr_assert_str_eq(family(F2)->current_hash, hx(21));
}

Test(session, erasing_the_user_revokes_every_family)
{
    given_session();
    accept_quietly("user.erase", A_SYSTEM,
                   json_pack("{s:s, s:s}", "user_id", U, "email_index", hx(0xe1)));
    expect_rejected("session.refresh", A_SYSTEM, refresh_payload(hx(1), hx(2), NOW_S + TTL),
                    "revoked", NULL);
    accept_no_events("session.revoke", A_SYSTEM, revoke_payload("admin"));
}

/* ---- evolve and replay -------------------------------------------------------------------- */

static enum tix_rc evolve(void *s, const char *type, const char *data)
{
    json_t *v = j(data);
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
    json_t *v = j(STARTED);
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

static void *replay(const char *id)
{
    const struct tix_stream_kind *kind = tix_registry_stream_kind(id);
    void *state = kind->create();
    for (int i = 0; i < w.n_log; i++) {
        if (strcmp(w.log[i].stream_id, id) != 0)
            continue;
        char *bytes = tix_json_dump(w.log[i].data);
        json_t *data = tix_json_parse(bytes, strlen(bytes), NULL);
        free(bytes);
        cr_assert_eq(kind->evolve(state, w.log[i].type, w.log[i].schema_version, data), TIX_OK);
        json_decref(data);
    }
    return state;
}

Test(session, replaying_the_log_gives_the_live_state)
{
    given_session();
    for (unsigned i = 1; i <= 53; i++)
        rotate(i);
    accept_quietly("session.refresh", A_SELF, refresh_payload(hx(30), hx(999), NOW_S + TTL));
    cr_assert_eq(stream_get(F_STREAM)->version, 55);
    struct tix_session_state *again = replay(F_STREAM);
    const struct tix_session_state *live = family(F);
    cr_assert_eq(memcmp(again, live, sizeof(*live)), 0, "byte-identical state");
    cr_assert(again->is_revoked);
    cr_assert_str_eq(again->revoked_reason, "reuse_detected");
    tix_session_stream_kind.destroy(again);
}
