/* apikey_test.c - the API key aggregate's pure functions, driven like the processor
 *
 * Runs commands through the shared in-memory world (support/world.h): tix_world_run() calls
 * streams() (which must name exactly one stream here), builds a view from the world's states,
 * calls decide() and evolves accepted events into the states and a log. States are only ever
 * built by evolving events, so every test also exercises evolve. The world's clock
 * (tix_world_now()) is what decide sees as cmd->now_us.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/json.h"
#include "world.h"

#include "apikey.h"

#define ORG        "0190c1e2-7a3b-7c4d-8e5f-0123456789ab"
#define ORG2       "0190c1e2-7a3b-7c4d-8e5f-0123456789ac"
#define KEY        "0190c1e2-0000-7000-8000-00000000aa01"
#define KEY2       "0190c1e2-0000-7000-8000-00000000aa02"
#define KEY_STREAM TIX_APIKEY_STREAM_PREFIX KEY
#define U_ADMIN    "0190c1e2-0000-7000-8000-000000000002"
#define A_ADMIN    "user:" U_ADMIN
#define A_SYSTEM   "system:test"
#define A_APIKEY   "apikey:" KEY2
#define HASH       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define PREFIX     "Ab-_09xZ"
#define NOW_S      1700000000LL

/* ---- the world: tests/unit/support/world.c, keyed on ORG by default ---------------------- */

static void setup(void)
{
    tix_world_reset(NOW_S * 1000000 + 250000);
    tix_world_require_streams(1);
}

TestSuite(apikey, .init = setup, .fini = tix_world_teardown);

static void accept(const char *type, const char *actor, json_t *payload, struct tix_decision *d)
{
    tix_world_accept(ORG, type, actor, payload, d);
}

static void accept_quietly(const char *type, const char *actor, json_t *payload)
{
    tix_world_accept_quietly(ORG, type, actor, payload);
}

static void expect_rejected(const char *type, const char *actor, json_t *payload, const char *code,
                            const char *field)
{
    tix_world_expect_rejected(ORG, type, actor, payload, code, field);
}

static void expect_invalid_for(const char *key, const char *type, json_t *payload,
                               const char *field)
{
    tix_world_expect_invalid(key, type, A_SYSTEM, payload, field);
}

static void expect_invalid(const char *type, json_t *payload, const char *field)
{
    tix_world_expect_invalid(ORG, type, A_SYSTEM, payload, field);
}

static const struct tix_apikey_state *key_state(const char *key)
{
    char id[TIX_STREAM_ID_MAX];
    snprintf(id, sizeof(id), "%s%s", TIX_APIKEY_STREAM_PREFIX, key);
    return tix_world_stream(id)->state;
}

/* ---- payloads and givens ------------------------------------------------------------------ */

static json_t *create_payload_for(const char *key, const char *org)
{
    return json_pack("{s:s, s:s, s:s, s:[s, s], s:s, s:s}", "api_key_id", key, "organization_id",
                     org, "name", "Box office sync", "scopes", "orgs:read", "members:read",
                     "secret_hash", HASH, "prefix", PREFIX);
}

static json_t *create_payload(void)
{
    return create_payload_for(KEY, ORG);
}

static json_t *revoke_payload_for(const char *key, const char *org)
{
    return json_pack("{s:s, s:s}", "api_key_id", key, "organization_id", org);
}

static json_t *revoke_payload(void)
{
    return revoke_payload_for(KEY, ORG);
}

static void given_key(void)
{
    accept_quietly("apikey.create", A_ADMIN, create_payload());
}

/* ---- scopes and registry ------------------------------------------------------------------ */

Test(apikey, the_scope_table_round_trips)
{
    const char *names[] = {"orgs:read",    "members:read", "commands:read",
                           "events:read",  "events:write", "orders:read",
                           "tickets:read", "tickets:scan", "reports:read"};
    cr_assert_eq(TIX_APIKEY_N_SCOPES, 9);
    for (int i = 0; i < 9; i++) {
        cr_assert_str_eq(tix_apikey_scope_names[i], names[i]);
        cr_assert_eq(tix_apikey_scope_parse(names[i]), i);
    }
    cr_assert_null(tix_apikey_scope_names[9], "the table is NULL-terminated");
    const char *unknown[] = {
        "", "orgs", "orgs:write", "ORGS:READ", " orgs:read", "orgs:read ", "orgs:read members:read",
        "*"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
        cr_assert_eq(tix_apikey_scope_parse(unknown[i]), -1, "%s", unknown[i]);
    cr_assert_eq(tix_apikey_scope_parse(NULL), -1);
}

Test(apikey, registry_hosts_both_commands_and_the_stream)
{
    const char *types[] = {"apikey.create", "apikey.revoke"};
    int n = 0;
    while (tix_apikey_handlers[n].type != NULL)
        n++;
    cr_assert_eq(n, 2);
    for (int i = 0; i < 2; i++) {
        const struct tix_command_handler *h = tix_registry_handler(types[i]);
        cr_assert_not_null(h, "%s", types[i]);
        cr_assert_str_eq(h->type, types[i]);
        cr_assert_not_null(h->streams);
        cr_assert_not_null(h->decide);
    }
    cr_assert_null(tix_registry_handler("apikey.delete"));
    cr_assert_eq(tix_registry_stream_kind(KEY_STREAM), &tix_apikey_stream_kind);
    cr_assert_str_eq(tix_apikey_stream_kind.prefix, "apikey-");
}

Test(apikey, streams_names_the_key_stream_only)
{
    const char *types[] = {"apikey.create", "apikey.revoke"};
    for (int i = 0; i < 2; i++) {
        const struct tix_command_handler *h = tix_registry_handler(types[i]);
        json_t *p = i == 0 ? create_payload() : revoke_payload();
        struct tix_command cmd = {
            .type = h->type, .key = ORG, .payload = p, .actor = A_ADMIN, .now_us = tix_world_now()};
        char ids[TIX_DECISION_MAX_STREAMS][TIX_STREAM_ID_MAX];
        cr_assert_eq(h->streams(&cmd, ids, NULL), 1, "err may be NULL");
        cr_assert_str_eq(ids[0], "apikey-" KEY);
        json_decref(p);
    }
}

/* ---- create ------------------------------------------------------------------------------- */

Test(apikey, create_emits_created_with_everything_and_its_author)
{
    struct tix_decision d;
    accept("apikey.create", A_ADMIN, create_payload(), &d);
    cr_assert_eq(d.n_events, 1);
    cr_assert_str_eq(d.events[0].stream_id, KEY_STREAM);
    cr_assert_str_eq(d.events[0].type, "apikey.created");
    cr_assert_eq(d.events[0].schema_version, 1);
    tix_world_expect_json(d.events[0].data,
                          json_pack("{s:s, s:s, s:s, s:[s, s], s:s, s:s, s:n, s:s}", "api_key_id",
                                    KEY, "organization_id", ORG, "name", "Box office sync",
                                    "scopes", "orgs:read", "members:read", "secret_hash", HASH,
                                    "prefix", PREFIX, "expires_at", "created_by", A_ADMIN));
    tix_world_expect_json(d.result, json_pack("{s:s, s:s}", "api_key_id", KEY, "created_at",
                                              "2023-11-14T22:13:20.250000Z"));
    tix_decision_deinit(&d);

    const struct tix_apikey_state *s = key_state(KEY);
    cr_assert(s->exists);
    cr_assert_not(s->is_revoked);
    cr_assert_str_eq(s->id, KEY);
    cr_assert_str_eq(s->organization_id, ORG);
    cr_assert_str_eq(s->name, "Box office sync");
    cr_assert_str_eq(s->prefix, PREFIX);
    cr_assert_eq(s->scopes, (1u << 0) | (1u << 1));
    cr_assert_eq(s->expires_at, 0);
    cr_assert_eq(tix_world_stream(KEY_STREAM)->version, 1);
}

Test(apikey, create_by_the_system_with_an_expiry_and_every_scope)
{
    json_t *all = json_array();
    for (int i = TIX_APIKEY_N_SCOPES - 1; i >= 0; i--)
        json_array_append_new(all, json_string(tix_apikey_scope_names[i]));
    json_t *p = tix_json_with(tix_json_with(create_payload(), "scopes", json_incref(all)),
                              "expires_at", json_integer(NOW_S + 1));
    struct tix_decision d;
    accept("apikey.create", A_SYSTEM, p, &d);
    tix_world_expect_json(json_object_get(d.events[0].data, "scopes"), all);
    tix_world_expect_json(json_object_get(d.events[0].data, "expires_at"), json_integer(NOW_S + 1));
    tix_world_expect_json(json_object_get(d.events[0].data, "created_by"), json_string(A_SYSTEM));
    tix_decision_deinit(&d);
    cr_assert_eq(key_state(KEY)->scopes, (1u << TIX_APIKEY_N_SCOPES) - 1);
    cr_assert_eq(key_state(KEY)->expires_at, NOW_S + 1);
}

Test(apikey, create_trims_the_name)
{
    struct tix_decision d;
    accept("apikey.create", A_ADMIN,
           tix_json_with(create_payload(), "name", json_string(" \t Box  office \n")), &d);
    tix_world_expect_json(json_object_get(d.events[0].data, "name"), json_string("Box  office"));
    tix_decision_deinit(&d);
    cr_assert_str_eq(key_state(KEY)->name, "Box  office");
}

Test(apikey, create_rejects_a_taken_id_whatever_its_organization)
{
    given_key();
    expect_rejected("apikey.create", A_ADMIN, create_payload(), "already_exists", "api_key_id");
    tix_world_expect_rejected(ORG2, "apikey.create", A_SYSTEM, create_payload_for(KEY, ORG2),
                              "already_exists", "api_key_id");
    accept_quietly("apikey.revoke", A_ADMIN, revoke_payload());
    expect_rejected("apikey.create", A_ADMIN, create_payload(), "already_exists", "api_key_id");
    cr_assert_str_eq(key_state(KEY)->organization_id, ORG);
}

Test(apikey, api_keys_and_strangers_may_not_create_keys)
{
    const char *actors[] = {A_APIKEY,          "apikey:", "anonymous",     "user:",
                            "user:not-a-uuid", "system:", "User:" U_ADMIN, ""};
    for (size_t i = 0; i < sizeof(actors) / sizeof(actors[0]); i++)
        expect_rejected("apikey.create", actors[i], create_payload(), "forbidden", NULL);
    expect_rejected("apikey.create", NULL, create_payload(), "forbidden", NULL);
    cr_assert_not(key_state(KEY)->exists);
}

/* ---- create: payload validation ---------------------------------------------------------- */

Test(apikey, create_payload_must_be_an_object)
{
    expect_invalid("apikey.create", json_array(), "");
    expect_invalid("apikey.create", json_string("key"), "");
    expect_invalid("apikey.create", NULL, "");
}

Test(apikey, create_requires_every_field_but_expires_at)
{
    const char *required[] = {"api_key_id", "organization_id", "name",
                              "scopes",     "secret_hash",     "prefix"};
    for (int i = 0; i < 6; i++)
        expect_invalid("apikey.create", tix_json_with(create_payload(), required[i], NULL),
                       required[i]);
    given_key();
}

Test(apikey, create_rejects_unknown_fields)
{
    const char *extra[] = {"secret", "created_by", "Name", "key", "expires"};
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        expect_invalid("apikey.create", tix_json_with(create_payload(), extra[i], json_string("x")),
                       extra[i]);
}

Test(apikey, create_checks_json_types)
{
    static const struct {
        const char *key, *value;
    } cases[] = {
        {"api_key_id", "1"},
        {"api_key_id", "null"},
        {"organization_id", "[]"},
        {"name", "5"},
        {"name", "[\"x\"]"},
        {"name", "null"},
        {"scopes", "\"orgs:read\""},
        {"scopes", "{}"},
        {"scopes", "null"},
        {"scopes", "true"},
        {"secret_hash", "1"},
        {"secret_hash", "{}"},
        {"prefix", "12345678"},
        {"prefix", "null"},
        {"expires_at", "\"1800000000\""},
        {"expires_at", "null"},
        {"expires_at", "1.8e9"},
        {"expires_at", "1800000000.5"},
        {"expires_at", "true"},
        {"expires_at", "[1800000000]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_invalid("apikey.create",
                       tix_json_with(create_payload(), cases[i].key, tix_json_of(cases[i].value)),
                       cases[i].key);
}

Test(apikey, create_requires_uuids_and_the_key_to_be_the_organization_id)
{
    expect_invalid_for(ORG2, "apikey.create", create_payload(), "organization_id");
    expect_invalid_for(NULL, "apikey.create", create_payload(), "organization_id");
    const char *bad[] = {"0190C1E2-7A3B-7C4D-8E5F-0123456789AB", "0190c1e2-7a3b-7c4d-8e5f",
                         "0190c1e27a3b7c4d8e5f0123456789ab", "", "not-a-uuid"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_invalid_for(bad[i], "apikey.create",
                           tix_json_with(create_payload(), "organization_id", json_string(bad[i])),
                           "organization_id");
        expect_invalid("apikey.create",
                       tix_json_with(create_payload(), "api_key_id", json_string(bad[i])),
                       "api_key_id");
    }
    expect_invalid("apikey.create",
                   tix_json_with(create_payload(), "api_key_id", json_stringn(KEY "\0", 37)),
                   "api_key_id");
}

Test(apikey, create_checks_name_length_and_characters)
{
    char *name100 = tix_world_repeat("a", 100), *name101 = tix_world_repeat("a", 101);
    char *accents100 = tix_world_repeat("\xc3\xa9", 100),
         *accents101 = tix_world_repeat("\xc3\xa9", 101);
    const char *bad[] = {"", "   ", "\t\n", name101, accents101, "Bo\x01x", "Bo\nx", "Bo\x7fx"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_invalid("apikey.create",
                       tix_json_with(create_payload(), "name", json_string(bad[i])), "name");
    expect_invalid("apikey.create",
                   tix_json_with(create_payload(), "name", json_stringn("Bo\0x", 4)), "name");
    char padded[300];
    snprintf(padded, sizeof(padded), "  %s  ", name100);
    accept_quietly("apikey.create", A_ADMIN,
                   tix_json_with(create_payload(), "name", json_string(padded)));
    cr_assert_str_eq(key_state(KEY)->name, name100);
    accept_quietly("apikey.create", A_ADMIN,
                   tix_json_with(create_payload_for(KEY2, ORG), "name", json_string(accents100)));
    cr_assert_str_eq(key_state(KEY2)->name, accents100);
    free(name100);
    free(name101);
    free(accents100);
    free(accents101);
}

Test(apikey, create_checks_the_scopes)
{
    static const char *const bad[] = {
        "[]",
        "[\"orgs:write\"]",
        "[\"orgs:read\", \"ORGS:READ\"]",
        "[\" orgs:read\"]",
        "[\"orgs:read members:read\"]",
        "[\"orgs:read\", \"orgs:read\"]",
        "[\"orgs:read\", \"members:read\", \"orgs:read\"]",
        "[\"orgs:read\", 1]",
        "[\"orgs:read\", null]",
        "[[\"orgs:read\"]]",
        "[\"orgs:read\\u0000\"]",
        "[\"\"]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_invalid("apikey.create",
                       tix_json_with(create_payload(), "scopes", tix_json_of(bad[i])), "scopes");
    json_t *many = json_array();
    for (int i = 0; i < TIX_APIKEY_MAX_SCOPES + 1; i++)
        json_array_append_new(many, json_string(tix_apikey_scope_names[i % TIX_APIKEY_N_SCOPES]));
    expect_invalid("apikey.create", tix_json_with(create_payload(), "scopes", many), "scopes");
    accept_quietly("apikey.create", A_ADMIN,
                   tix_json_with(create_payload(), "scopes", tix_json_of("[\"tickets:scan\"]")));
    cr_assert_eq(key_state(KEY)->scopes, 1u << tix_apikey_scope_parse("tickets:scan"));
}

Test(apikey, create_checks_the_hash_and_the_prefix)
{
    char *hex63 = tix_world_repeat("a", 63), *hex65 = tix_world_repeat("a", 65),
         *upper = tix_world_repeat("A", 64);
    char *not_hex = tix_world_repeat("g", 64);
    const char *bad_hashes[] = {"", hex63, hex65, upper, not_hex};
    for (size_t i = 0; i < sizeof(bad_hashes) / sizeof(bad_hashes[0]); i++)
        expect_invalid("apikey.create",
                       tix_json_with(create_payload(), "secret_hash", json_string(bad_hashes[i])),
                       "secret_hash");
    char nul_hash[64];
    memcpy(nul_hash, HASH, 64);
    nul_hash[10] = '\0';
    expect_invalid("apikey.create",
                   tix_json_with(create_payload(), "secret_hash", json_stringn(nul_hash, 64)),
                   "secret_hash");
    const char *bad_prefixes[] = {"",         "Ab-_09x",  "Ab-_09xZz", "Ab+_09xZ",      "Ab/_09xZ",
                                  "Ab-_09x=", "Ab-_09x.", "Ab _09xZ",  "Ab-_09\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad_prefixes) / sizeof(bad_prefixes[0]); i++)
        expect_invalid("apikey.create",
                       tix_json_with(create_payload(), "prefix", json_string(bad_prefixes[i])),
                       "prefix");
    expect_invalid("apikey.create",
                   tix_json_with(create_payload(), "prefix", json_stringn("Ab\0_09xZ", 8)),
                   "prefix");
    free(hex63);
    free(hex65);
    free(upper);
    free(not_hex);
}

Test(apikey, create_needs_expires_at_in_the_future)
{
    const long long bad[] = {NOW_S, NOW_S - 1, 0, -1, TIX_APIKEY_EXPIRES_MAX + 1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_invalid("apikey.create",
                       tix_json_with(create_payload(), "expires_at", json_integer(bad[i])),
                       "expires_at");
    accept_quietly(
        "apikey.create", A_ADMIN,
        tix_json_with(create_payload(), "expires_at", json_integer(TIX_APIKEY_EXPIRES_MAX)));
    cr_assert_eq(key_state(KEY)->expires_at, TIX_APIKEY_EXPIRES_MAX);
    /* The command's clock decides: the same expiry is fine a second earlier. */
    tix_world_set_now((NOW_S - 1) * 1000000);
    accept_quietly("apikey.create", A_ADMIN,
                   tix_json_with(create_payload_for(KEY2, ORG), "expires_at", json_integer(NOW_S)));
    cr_assert_eq(key_state(KEY2)->expires_at, NOW_S);
}

/* ---- revoke ------------------------------------------------------------------------------- */

Test(apikey, revoke_emits_revoked)
{
    given_key();
    struct tix_decision d;
    accept("apikey.revoke", A_ADMIN, revoke_payload(), &d);
    cr_assert_eq(d.n_events, 1);
    cr_assert_str_eq(d.events[0].stream_id, KEY_STREAM);
    cr_assert_str_eq(d.events[0].type, "apikey.revoked");
    cr_assert_eq(d.events[0].schema_version, 1);
    tix_world_expect_json(d.events[0].data,
                          json_pack("{s:s, s:s, s:s}", "api_key_id", KEY, "organization_id", ORG,
                                    "revoked_by", A_ADMIN));
    tix_world_expect_json(d.result, json_pack("{s:s}", "api_key_id", KEY));
    tix_decision_deinit(&d);
    cr_assert(key_state(KEY)->is_revoked);
    cr_assert_eq(tix_world_stream(KEY_STREAM)->version, 2);
}

Test(apikey, revoking_a_revoked_key_succeeds_with_no_events)
{
    given_key();
    accept_quietly("apikey.revoke", A_SYSTEM, revoke_payload());
    int before = tix_world_n_log();
    struct tix_decision d;
    accept("apikey.revoke", A_ADMIN, revoke_payload(), &d);
    cr_assert_eq(d.n_events, 0);
    tix_world_expect_json(d.result, json_pack("{s:s}", "api_key_id", KEY));
    tix_decision_deinit(&d);
    cr_assert_eq(tix_world_n_log(), before);
    cr_assert(key_state(KEY)->is_revoked);
}

Test(apikey, revoke_of_an_unknown_key_is_not_found)
{
    expect_rejected("apikey.revoke", A_ADMIN, revoke_payload(), "not_found", "api_key_id");
    given_key();
    expect_rejected("apikey.revoke", A_SYSTEM, revoke_payload_for(KEY2, ORG), "not_found",
                    "api_key_id");
}

Test(apikey, revoke_of_another_organizations_key_is_not_found)
{
    given_key();
    tix_world_expect_rejected(ORG2, "apikey.revoke", A_ADMIN, revoke_payload_for(KEY, ORG2),
                              "not_found", "api_key_id");
    tix_world_expect_rejected(ORG2, "apikey.revoke", A_SYSTEM, revoke_payload_for(KEY, ORG2),
                              "not_found", "api_key_id");
    cr_assert_not(key_state(KEY)->is_revoked);
}

Test(apikey, api_keys_and_strangers_may_not_revoke_keys)
{
    given_key();
    const char *actors[] = {A_APIKEY, "apikey:" KEY, "anonymous", "user:nope", "system:", ""};
    for (size_t i = 0; i < sizeof(actors) / sizeof(actors[0]); i++)
        expect_rejected("apikey.revoke", actors[i], revoke_payload(), "forbidden", NULL);
    expect_rejected("apikey.revoke", NULL, revoke_payload(), "forbidden", NULL);
    /* the actor is checked first: a key learns nothing about other keys */
    expect_rejected("apikey.revoke", A_APIKEY, revoke_payload_for(KEY2, ORG), "forbidden", NULL);
    cr_assert_not(key_state(KEY)->is_revoked);
}

Test(apikey, revoke_validates_its_payload)
{
    expect_invalid("apikey.revoke", json_array(), "");
    expect_invalid("apikey.revoke", NULL, "");
    expect_invalid("apikey.revoke", tix_json_with(revoke_payload(), "api_key_id", NULL),
                   "api_key_id");
    expect_invalid("apikey.revoke", tix_json_with(revoke_payload(), "organization_id", NULL),
                   "organization_id");
    expect_invalid("apikey.revoke", tix_json_with(revoke_payload(), "api_key_id", json_integer(1)),
                   "api_key_id");
    expect_invalid("apikey.revoke", tix_json_with(revoke_payload(), "api_key_id", json_string("k")),
                   "api_key_id");
    expect_invalid("apikey.revoke", tix_json_with(revoke_payload(), "reason", json_string("x")),
                   "reason");
    expect_invalid("apikey.revoke", tix_json_with(revoke_payload(), "name", json_string("x")),
                   "name");
    expect_invalid_for(ORG2, "apikey.revoke", revoke_payload(), "organization_id");
}

/* ---- evolve ------------------------------------------------------------------------------- */

static enum tix_rc evolve_key(void *s, const char *type, const char *data)
{
    json_t *v = tix_json_of(data);
    enum tix_rc rc = tix_apikey_stream_kind.evolve(s, type, 1, v);
    json_decref(v);
    return rc;
}

#define CREATED_WITH(extra)                                                                        \
    "{\"api_key_id\":\"" KEY "\",\"organization_id\":\"" ORG "\",\"name\":\"Sync\","               \
    "\"scopes\":[\"orgs:read\"],\"secret_hash\":\"" HASH "\",\"prefix\":\"" PREFIX "\","           \
    "\"created_by\":\"system:test\"" extra "}"
#define CREATED CREATED_WITH(",\"expires_at\":null")

Test(apikey, evolve_ignores_unknown_event_types)
{
    struct tix_apikey_state *s = tix_apikey_stream_kind.create();
    cr_assert_eq(evolve_key(s, "apikey.renamed", "{\"whatever\":1}"), TIX_OK);
    cr_assert_eq(evolve_key(s, "organization.created", "[]"), TIX_OK);
    cr_assert_not(s->exists);
    cr_assert_eq(evolve_key(s, "apikey.created", CREATED), TIX_OK);
    cr_assert_eq(evolve_key(s, "apikey.future_thing", "null"), TIX_OK);
    cr_assert_str_eq(s->name, "Sync");
    tix_apikey_stream_kind.destroy(s);
    tix_apikey_stream_kind.destroy(NULL);
}

Test(apikey, evolve_accepts_a_missing_expiry_and_skips_retired_scopes)
{
    struct tix_apikey_state *s = tix_apikey_stream_kind.create();
    json_t *v = tix_json_of(CREATED_WITH(""));
    json_object_set_new(v, "scopes",
                        tix_json_of("[\"orgs:read\", \"retired:scope\", \"tickets:scan\"]"));
    cr_assert_eq(tix_apikey_stream_kind.evolve(s, "apikey.created", 1, v), TIX_OK);
    json_decref(v);
    cr_assert_eq(s->expires_at, 0);
    cr_assert_eq(s->scopes, 1u | (1u << tix_apikey_scope_parse("tickets:scan")));
    tix_apikey_stream_kind.destroy(s);
}

Test(apikey, evolve_refuses_malformed_known_events)
{
    struct tix_apikey_state *s = tix_apikey_stream_kind.create();
    const char *revoked = "{\"api_key_id\":\"" KEY "\",\"organization_id\":\"" ORG "\","
                          "\"revoked_by\":\"system:test\"}";
    cr_assert_eq(evolve_key(s, "apikey.revoked", revoked), TIX_EINVAL, "revoked before created");
    const char *bad_created[] = {
        "[]",
        "{}",
        CREATED_WITH(",\"expires_at\":\"soon\""),
        "{\"api_key_id\":\"x\",\"organization_id\":\"" ORG "\",\"name\":\"S\",\"scopes\":[],"
        "\"secret_hash\":\"" HASH "\",\"prefix\":\"" PREFIX "\"}",
        "{\"api_key_id\":\"" KEY "\",\"organization_id\":\"" ORG "\",\"name\":\"S\","
        "\"scopes\":\"orgs:read\",\"secret_hash\":\"" HASH "\",\"prefix\":\"" PREFIX "\"}",
        "{\"api_key_id\":\"" KEY "\",\"organization_id\":\"" ORG "\",\"name\":\"S\","
        "\"scopes\":[1],\"secret_hash\":\"" HASH "\",\"prefix\":\"" PREFIX "\"}",
        "{\"api_key_id\":\"" KEY "\",\"organization_id\":\"" ORG "\",\"name\":\"S\","
        "\"scopes\":[],\"secret_hash\":\"abc\",\"prefix\":\"" PREFIX "\"}",
        "{\"api_key_id\":\"" KEY "\",\"organization_id\":\"" ORG "\",\"name\":\"S\","
        "\"scopes\":[],\"secret_hash\":\"" HASH "\",\"prefix\":\"toolongprefix\"}",
        "{\"api_key_id\":\"" KEY "\",\"organization_id\":\"" ORG "\","
        "\"scopes\":[],\"secret_hash\":\"" HASH "\",\"prefix\":\"" PREFIX "\"}",
    };
    for (size_t i = 0; i < sizeof(bad_created) / sizeof(bad_created[0]); i++)
        cr_assert_eq(evolve_key(s, "apikey.created", bad_created[i]), TIX_EINVAL, "%s",
                     bad_created[i]);
    json_t *v = tix_json_of(CREATED);
    cr_assert_eq(tix_apikey_stream_kind.evolve(s, "apikey.created", 2, v), TIX_EINVAL,
                 "unknown schema version");
    json_decref(v);
    cr_assert_not(s->exists, "a refused event changes nothing");
    cr_assert_eq(evolve_key(s, "apikey.created", CREATED), TIX_OK);
    cr_assert_eq(evolve_key(s, "apikey.created", CREATED), TIX_EINVAL, "created twice");
    const char *bad_revoked[] = {
        "{}",
        "{\"api_key_id\":\"" KEY "\"}",
        "{\"api_key_id\":\"" KEY2 "\",\"organization_id\":\"" ORG "\"}",
        "{\"api_key_id\":\"" KEY "\",\"organization_id\":\"" ORG2 "\"}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad_revoked) / sizeof(bad_revoked[0]); i++)
        cr_assert_eq(evolve_key(s, "apikey.revoked", bad_revoked[i]), TIX_EINVAL, "%s",
                     bad_revoked[i]);
    cr_assert_not(s->is_revoked);
    cr_assert_str_eq(s->organization_id, ORG);
    cr_assert_eq(evolve_key(s, "apikey.revoked", revoked), TIX_OK);
    cr_assert(s->is_revoked);
    tix_apikey_stream_kind.destroy(s);
}

/* ---- replay ------------------------------------------------------------------------------- */

static void expect_same_key(const struct tix_apikey_state *a, const struct tix_apikey_state *b)
{
    cr_assert_eq(a->exists, b->exists);
    cr_assert_eq(a->is_revoked, b->is_revoked);
    cr_assert_str_eq(a->id, b->id);
    cr_assert_str_eq(a->organization_id, b->organization_id);
    cr_assert_str_eq(a->name, b->name);
    cr_assert_str_eq(a->prefix, b->prefix);
    cr_assert_eq(a->scopes, b->scopes);
    cr_assert_eq(a->expires_at, b->expires_at);
}

Test(apikey, replaying_the_log_gives_the_live_state)
{
    given_key();
    accept_quietly("apikey.create", A_SYSTEM,
                   tix_json_with(tix_json_with(create_payload_for(KEY2, ORG), "expires_at",
                                               json_integer(NOW_S + 60)),
                                 "scopes", tix_json_of("[\"reports:read\", \"tickets:read\"]")));
    accept_quietly("apikey.revoke", A_ADMIN, revoke_payload());
    accept_quietly("apikey.revoke", A_ADMIN, revoke_payload());
    cr_assert_eq(tix_world_n_log(), 3);
    const char *keys[] = {KEY, KEY2};
    for (int i = 0; i < 2; i++) {
        char id[TIX_STREAM_ID_MAX];
        snprintf(id, sizeof(id), "%s%s", TIX_APIKEY_STREAM_PREFIX, keys[i]);
        struct tix_apikey_state *again = tix_world_replay(id);
        expect_same_key(again, key_state(keys[i]));
        tix_apikey_stream_kind.destroy(again);
    }
    cr_assert(key_state(KEY)->is_revoked);
    cr_assert_not(key_state(KEY2)->is_revoked);
    cr_assert_eq(key_state(KEY2)->expires_at, NOW_S + 60);
}
