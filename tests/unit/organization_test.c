/* organization_test.c - the organization aggregate's pure functions, driven like the processor
 *
 * Runs commands through the shared in-memory world (support/world.h): tix_world_run() calls
 * streams(), builds a view from the world's states, calls decide(), and evolves accepted events
 * into the states and a log. States are only ever built by evolving events, never poked, so every
 * test also exercises evolve. Each Criterion test runs in its own process; setup resets the world
 * with the clock at 1 and commands default to the ORG key.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/json.h"
#include "world.h"

#include "organization.h"

#define ORG        "0190c1e2-7a3b-7c4d-8e5f-0123456789ab"
#define ORG2       "0190c1e2-7a3b-7c4d-8e5f-0123456789ac"
#define ORG_STREAM TIX_ORG_STREAM_PREFIX ORG
#define U_OWNER    "0190c1e2-0000-7000-8000-000000000001"
#define U_ADMIN    "0190c1e2-0000-7000-8000-000000000002"
#define U_PROMOTER "0190c1e2-0000-7000-8000-000000000003"
#define U_SCANNER  "0190c1e2-0000-7000-8000-000000000004"
#define U_OTHER    "0190c1e2-0000-7000-8000-000000000005"
#define A_OWNER    "user:" U_OWNER
#define A_ADMIN    "user:" U_ADMIN
#define A_PROMOTER "user:" U_PROMOTER
#define A_SCANNER  "user:" U_SCANNER
#define A_OTHER    "user:" U_OTHER
#define A_SYSTEM   "system:test"

/* ---- the world: tests/unit/support/world.c, keyed on ORG by default -------------------- */

static void setup(void)
{
    tix_world_reset(1);
}

TestSuite(organization, .init = setup, .fini = tix_world_teardown);

static void accept(const char *type, const char *actor, json_t *payload, struct tix_decision *d)
{
    tix_world_accept(ORG, type, actor, payload, d);
}

static void accept_quietly(const char *type, const char *actor, json_t *payload)
{
    tix_world_accept_quietly(ORG, type, actor, payload);
}

static void accept_no_events(const char *type, const char *actor, json_t *payload)
{
    tix_world_accept_no_events(ORG, type, actor, payload);
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

static const struct tix_org_state *org_state(void)
{
    return tix_world_stream(ORG_STREAM)->state;
}

static const struct tix_orgslug_state *slug_state(const char *slug)
{
    char id[TIX_STREAM_ID_MAX];
    snprintf(id, sizeof(id), "%s%s", TIX_SLUG_STREAM_PREFIX, slug);
    return tix_world_stream(id)->state;
}

/* The role of user in ORG, or -1 when not a member. */
static int role_of(const char *user)
{
    const struct tix_org_state *s = org_state();
    for (int i = 0; i < s->n_members; i++)
        if (strcmp(s->members[i].user_id, user) == 0)
            return (int)s->members[i].role;
    return -1;
}

/* ---- payloads and givens ------------------------------------------------------------------ */

static json_t *create_payload(void)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "organization_id", ORG, "name", "Acme Events", "slug",
                     "acme", "type", "promoter");
}

static json_t *id_payload(void)
{
    return json_pack("{s:s}", "organization_id", ORG);
}

static json_t *rename_payload(const char *name)
{
    return json_pack("{s:s, s:s}", "organization_id", ORG, "name", name);
}

static json_t *settings_payload(const char *settings)
{
    return json_pack("{s:s, s:o}", "organization_id", ORG, "settings", tix_json_of(settings));
}

static json_t *member_payload(const char *user, const char *role)
{
    return json_pack("{s:s, s:s, s:s}", "organization_id", ORG, "user_id", user, "role", role);
}

static json_t *user_payload(const char *user)
{
    return json_pack("{s:s, s:s}", "organization_id", ORG, "user_id", user);
}

static json_t *suspend_payload(const char *reason)
{
    return json_pack("{s:s, s:s}", "organization_id", ORG, "reason", reason);
}

static void given_org(const char *actor)
{
    accept_quietly("organization.create", actor, create_payload());
}

/* ORG created by U_OWNER, with an admin, a promoter and a scanner. */
static void given_team(void)
{
    given_org(A_OWNER);
    accept_quietly("organization.add_member", A_OWNER, member_payload(U_ADMIN, "admin"));
    accept_quietly("organization.add_member", A_OWNER, member_payload(U_PROMOTER, "promoter"));
    accept_quietly("organization.add_member", A_OWNER, member_payload(U_SCANNER, "scanner"));
}

static void given_suspended_team(void)
{
    given_team();
    accept_quietly("organization.suspend", A_SYSTEM, suspend_payload("chargebacks"));
}

/* ---- roles and registry ------------------------------------------------------------------- */

Test(organization, role_names_round_trip)
{
    const char *names[] = {"owner", "admin", "promoter", "scanner"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(tix_org_role_parse(names[i]), i);
        cr_assert_str_eq(tix_org_role_name((enum tix_org_role)i), names[i]);
    }
    cr_assert_eq(tix_org_role_parse("Owner"), -1);
    cr_assert_eq(tix_org_role_parse(""), -1);
    cr_assert_eq(tix_org_role_parse("owners"), -1);
    cr_assert_eq(tix_org_role_parse(NULL), -1);
    cr_assert_str_eq(tix_org_role_name((enum tix_org_role)99), "unknown");
}

Test(organization, registry_hosts_every_command_and_both_streams)
{
    const char *types[] = {"organization.create",
                           "organization.rename",
                           "organization.change_settings",
                           "organization.add_member",
                           "organization.change_member_role",
                           "organization.remove_member",
                           "organization.suspend",
                           "organization.reinstate",
                           "organization.close"};
    int n = 0;
    while (tix_organization_handlers[n].type != NULL)
        n++;
    cr_assert_eq(n, 9);
    for (int i = 0; i < 9; i++) {
        const struct tix_command_handler *h = tix_registry_handler(types[i]);
        cr_assert_not_null(h, "%s", types[i]);
        cr_assert_str_eq(h->type, types[i]);
        cr_assert_not_null(h->streams);
        cr_assert_not_null(h->decide);
    }
    cr_assert_null(tix_registry_handler("organization.delete"));
    cr_assert_eq(tix_registry_stream_kind(ORG_STREAM), &tix_organization_stream_kind);
    cr_assert_eq(tix_registry_stream_kind("orgslug-acme"), &tix_orgslug_stream_kind);
    cr_assert_str_eq(tix_organization_stream_kind.prefix, "organization-");
    cr_assert_str_eq(tix_orgslug_stream_kind.prefix, "orgslug-");
}

Test(organization, streams_names_the_org_and_slug_streams)
{
    const struct tix_command_handler *h = tix_registry_handler("organization.create");
    json_t *p = create_payload();
    struct tix_command cmd = {.type = h->type, .key = ORG, .payload = p, .actor = A_OWNER};
    char ids[TIX_DECISION_MAX_STREAMS][TIX_STREAM_ID_MAX];
    struct tix_err err;
    cr_assert_eq(h->streams(&cmd, ids, &err), 2);
    cr_assert_str_eq(ids[0], "organization-" ORG);
    cr_assert_str_eq(ids[1], "orgslug-acme");
    json_decref(p);

    h = tix_registry_handler("organization.rename");
    p = rename_payload("New");
    cmd.type = h->type;
    cmd.payload = p;
    cr_assert_eq(h->streams(&cmd, ids, NULL), 1, "err may be NULL");
    cr_assert_str_eq(ids[0], "organization-" ORG);
    json_decref(p);
}

/* ---- create ------------------------------------------------------------------------------- */

Test(organization, create_by_user_makes_the_user_owner)
{
    struct tix_decision d;
    accept("organization.create", A_OWNER, create_payload(), &d);
    cr_assert_eq(d.n_events, 3);
    tix_world_expect_event(&d, 0, ORG_STREAM, "organization.created",
                           json_pack("{s:s, s:s, s:s, s:s, s:{}, s:s}", "organization_id", ORG,
                                     "name", "Acme Events", "slug", "acme", "type", "promoter",
                                     "settings", "created_by", A_OWNER));
    tix_world_expect_event(
        &d, 1, ORG_STREAM, "organization.member_added",
        json_pack("{s:s, s:s, s:s}", "organization_id", ORG, "user_id", U_OWNER, "role", "owner"));
    tix_world_expect_event(&d, 2, "orgslug-acme", "organization.slug_claimed",
                           json_pack("{s:s, s:s}", "slug", "acme", "organization_id", ORG));
    tix_world_expect_json(d.result, json_pack("{s:s}", "organization_id", ORG));
    tix_decision_deinit(&d);

    const struct tix_org_state *s = org_state();
    cr_assert(s->exists);
    cr_assert_not(s->is_suspended);
    cr_assert_str_eq(s->id, ORG);
    cr_assert_str_eq(s->name, "Acme Events");
    cr_assert_str_eq(s->slug, "acme");
    cr_assert_str_eq(s->type, "promoter");
    tix_world_expect_json(s->settings, json_object());
    cr_assert_eq(s->n_members, 1);
    cr_assert_str_eq(s->members[0].user_id, U_OWNER);
    cr_assert_eq(s->members[0].role, TIX_ORG_ROLE_OWNER);
    cr_assert(slug_state("acme")->is_claimed);
    cr_assert_str_eq(slug_state("acme")->organization_id, ORG);
    cr_assert_eq(tix_world_stream(ORG_STREAM)->version, 2);
}

Test(organization, create_by_system_has_no_members)
{
    struct tix_decision d;
    json_t *p = tix_json_with(create_payload(), "type", json_string("venue"));
    accept("organization.create", A_SYSTEM, p, &d);
    cr_assert_eq(d.n_events, 2);
    tix_world_expect_event(&d, 0, ORG_STREAM, "organization.created",
                           json_pack("{s:s, s:s, s:s, s:s, s:{}, s:s}", "organization_id", ORG,
                                     "name", "Acme Events", "slug", "acme", "type", "venue",
                                     "settings", "created_by", A_SYSTEM));
    tix_world_expect_event(&d, 1, "orgslug-acme", "organization.slug_claimed",
                           json_pack("{s:s, s:s}", "slug", "acme", "organization_id", ORG));
    tix_decision_deinit(&d);
    cr_assert_eq(org_state()->n_members, 0);
    cr_assert_str_eq(org_state()->type, "venue");
    /* Members are added afterwards, by the system. */
    accept_quietly("organization.add_member", A_SYSTEM, member_payload(U_OWNER, "owner"));
    cr_assert_eq(role_of(U_OWNER), TIX_ORG_ROLE_OWNER);
}

Test(organization, create_trims_the_name_and_drops_null_settings)
{
    struct tix_decision d;
    json_t *p = tix_json_with(create_payload(), "name", json_string(" \t Acme  Events \n"));
    tix_json_with(p, "type", json_string("reseller"));
    tix_json_with(p, "settings",
                  tix_json_of("{\"locale\":\"fr\",\"theme\":{\"color\":\"red\",\"font\":null},"
                              "\"gone\":null,\"tags\":[1,null]}"));
    accept("organization.create", A_OWNER, p, &d);
    json_t *want =
        tix_json_of("{\"locale\":\"fr\",\"theme\":{\"color\":\"red\"},\"tags\":[1,null]}");
    tix_world_expect_json(json_object_get(d.events[0].data, "settings"), json_incref(want));
    tix_world_expect_json(json_object_get(d.events[0].data, "name"), json_string("Acme  Events"));
    tix_decision_deinit(&d);
    cr_assert_str_eq(org_state()->name, "Acme  Events");
    cr_assert_str_eq(org_state()->type, "reseller");
    tix_world_expect_json(org_state()->settings, want);
}

Test(organization, create_rejects_an_existing_organization)
{
    given_org(A_OWNER);
    json_t *p = tix_json_with(create_payload(), "slug", json_string("acme-two"));
    expect_rejected("organization.create", A_OWNER, p, "already_exists", "organization_id");
    cr_assert_not(slug_state("acme-two")->is_claimed);
}

Test(organization, create_rejects_a_taken_slug)
{
    given_org(A_OWNER);
    json_t *p = tix_json_with(create_payload(), "organization_id", json_string(ORG2));
    tix_world_expect_rejected(ORG2, "organization.create", A_OTHER, p, "slug_taken", "slug");
    char id[TIX_STREAM_ID_MAX];
    snprintf(id, sizeof(id), "%s", TIX_ORG_STREAM_PREFIX ORG2);
    cr_assert_not(((const struct tix_org_state *)tix_world_stream(id)->state)->exists);
    cr_assert_str_eq(slug_state("acme")->organization_id, ORG);
    /* Another slug is fine. */
    struct tix_decision d;
    struct tix_err err;
    p = tix_json_with(tix_json_with(create_payload(), "organization_id", json_string(ORG2)), "slug",
                      json_string("acme-2"));
    cr_assert_eq(tix_world_run("organization.create", ORG2, A_OTHER, p, &d, &err), 2);
    cr_assert_not(d.is_rejected);
    tix_decision_deinit(&d);
}

Test(organization, create_rejects_actors_that_are_neither_users_nor_systems)
{
    const char *actors[] = {
        "anonymous", "user:", "user:not-a-uuid", "user:" ORG "x", "system:", "User:" U_OWNER, ""};
    for (size_t i = 0; i < sizeof(actors) / sizeof(actors[0]); i++)
        expect_rejected("organization.create", actors[i], create_payload(), "forbidden", NULL);
    expect_rejected("organization.create", NULL, create_payload(), "forbidden", NULL);
    cr_assert_not(org_state()->exists);
}

/* ---- create: payload validation ---------------------------------------------------------- */

Test(organization, create_payload_must_be_an_object)
{
    expect_invalid("organization.create", json_array(), "");
    expect_invalid("organization.create", json_string("acme"), "");
    expect_invalid("organization.create", NULL, "");
}

Test(organization, create_requires_every_field_but_settings)
{
    const char *required[] = {"organization_id", "name", "slug", "type"};
    for (int i = 0; i < 4; i++)
        expect_invalid("organization.create", tix_json_with(create_payload(), required[i], NULL),
                       required[i]);
    accept_quietly("organization.create", A_OWNER, create_payload());
}

Test(organization, create_rejects_unknown_fields)
{
    expect_invalid("organization.create",
                   tix_json_with(create_payload(), "colour", json_string("red")), "colour");
    expect_invalid("organization.create", tix_json_with(create_payload(), "Name", json_string("x")),
                   "Name");
    expect_invalid("organization.create",
                   tix_json_with(create_payload(), "created_by", json_null()), "created_by");
}

Test(organization, create_checks_json_types)
{
    static const struct {
        const char *key, *value;
    } cases[] = {
        {"organization_id", "1"},
        {"organization_id", "null"},
        {"name", "5"},
        {"name", "[\"Acme\"]"},
        {"slug", "true"},
        {"slug", "{}"},
        {"type", "null"},
        {"type", "1.5"},
        {"settings", "\"x\""},
        {"settings", "[]"},
        {"settings", "null"},
        {"settings", "3"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_invalid("organization.create",
                       tix_json_with(create_payload(), cases[i].key, tix_json_of(cases[i].value)),
                       cases[i].key);
}

Test(organization, create_requires_the_key_to_be_the_organization_id)
{
    expect_invalid_for(ORG2, "organization.create", create_payload(), "organization_id");
    const char *bad[] = {"0190C1E2-7A3B-7C4D-8E5F-0123456789AB", "0190c1e2-7a3b-7c4d-8e5f",
                         "0190c1e27a3b7c4d8e5f0123456789ab", "", "not-a-uuid"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_invalid_for(bad[i], "organization.create",
                           tix_json_with(create_payload(), "organization_id", json_string(bad[i])),
                           "organization_id");
}

Test(organization, create_checks_name_length_and_characters)
{
    char *name200 = tix_world_repeat("a", 200), *name201 = tix_world_repeat("a", 201);
    char *accents200 = tix_world_repeat("\xc3\xa9", 200),
         *accents201 = tix_world_repeat("\xc3\xa9", 201);
    const char *bad[] = {"", "   ", "\t\n", name201, accents201, "Ac\x01me", "Ac\nme", "Ac\x7fme"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_invalid("organization.create",
                       tix_json_with(create_payload(), "name", json_string(bad[i])), "name");
    expect_invalid("organization.create",
                   tix_json_with(create_payload(), "name", json_stringn("Ac\0me", 5)), "name");
    char padded[300];
    snprintf(padded, sizeof(padded), "  %s  ", name200);
    accept_quietly("organization.create", A_OWNER,
                   tix_json_with(create_payload(), "name", json_string(padded)));
    cr_assert_str_eq(org_state()->name, name200);
    json_t *p = tix_json_with(tix_json_with(create_payload(), "organization_id", json_string(ORG2)),
                              "slug", json_string("accents"));
    struct tix_decision d;
    struct tix_err err;
    cr_assert_eq(tix_world_run("organization.create", ORG2, A_OWNER,
                               tix_json_with(p, "name", json_string(accents200)), &d, &err),
                 2, "%s", err.msg);
    cr_assert_not(d.is_rejected);
    tix_world_expect_json(json_object_get(d.events[0].data, "name"), json_string(accents200));
    tix_decision_deinit(&d);
    free(name200);
    free(name201);
    free(accents200);
    free(accents201);
}

Test(organization, create_checks_slug_forms)
{
    char *slug63 = tix_world_repeat("a", 63), *slug64 = tix_world_repeat("a", 64);
    const char *bad[] = {"",      "ab",    slug64,  "-acme",       "acme-",  "ac--me", "Acme",
                         "ac me", "ac_me", "ac.me", "acm\xc3\xa9", "acme/x", "-",      "---"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_invalid("organization.create",
                       tix_json_with(create_payload(), "slug", json_string(bad[i])), "slug");
    expect_invalid("organization.create",
                   tix_json_with(create_payload(), "slug", json_stringn("acme\0x", 6)), "slug");
    const char *good[] = {"abc", "a-b", "123", "a1-b2-c3", slug63};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        tix_world_teardown();
        setup();
        accept_quietly("organization.create", A_OWNER,
                       tix_json_with(create_payload(), "slug", json_string(good[i])));
        cr_assert_str_eq(org_state()->slug, good[i]);
        cr_assert(slug_state(good[i])->is_claimed);
    }
    free(slug63);
    free(slug64);
}

Test(organization, create_checks_type_and_settings_size)
{
    const char *bad[] = {"band", "Promoter", "", "venue "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_invalid("organization.create",
                       tix_json_with(create_payload(), "type", json_string(bad[i])), "type");
    char *big = tix_world_repeat("x", TIX_ORG_SETTINGS_MAX_BYTES);
    expect_invalid("organization.create",
                   tix_json_with(create_payload(), "settings", json_pack("{s:s}", "k", big)),
                   "settings");
    free(big);
}

/* ---- rename ------------------------------------------------------------------------------- */

Test(organization, rename_emits_the_new_and_previous_name)
{
    given_team();
    struct tix_decision d;
    accept("organization.rename", A_ADMIN, rename_payload("  Acme Live "), &d);
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(&d, 0, ORG_STREAM, "organization.renamed",
                           json_pack("{s:s, s:s, s:s}", "organization_id", ORG, "name", "Acme Live",
                                     "previous_name", "Acme Events"));
    cr_assert_null(d.result);
    tix_decision_deinit(&d);
    cr_assert_str_eq(org_state()->name, "Acme Live");
    accept_quietly("organization.rename", A_OWNER, rename_payload("Acme Owner"));
    accept_quietly("organization.rename", A_SYSTEM, rename_payload("Acme System"));
    cr_assert_str_eq(org_state()->name, "Acme System");
}

Test(organization, rename_to_the_same_name_is_a_no_op)
{
    given_team();
    int before = tix_world_n_log();
    accept_no_events("organization.rename", A_OWNER, rename_payload("Acme Events"));
    accept_no_events("organization.rename", A_OWNER, rename_payload("  Acme Events\t"));
    cr_assert_eq(tix_world_n_log(), before);
    cr_assert_str_eq(org_state()->name, "Acme Events");
}

Test(organization, rename_requires_owner_or_admin)
{
    given_team();
    const char *actors[] = {A_PROMOTER, A_SCANNER, A_OTHER, "anonymous"};
    for (int i = 0; i < 4; i++)
        expect_rejected("organization.rename", actors[i], rename_payload("Mine"), "forbidden",
                        NULL);
    cr_assert_str_eq(org_state()->name, "Acme Events");
}

Test(organization, rename_validates_its_payload)
{
    char *long_name = tix_world_repeat("n", 201);
    expect_invalid("organization.rename", id_payload(), "name");
    expect_invalid("organization.rename", rename_payload(long_name), "name");
    expect_invalid("organization.rename", rename_payload(" "), "name");
    expect_invalid("organization.rename",
                   tix_json_with(rename_payload("x"), "name", json_integer(1)), "name");
    expect_invalid("organization.rename",
                   tix_json_with(rename_payload("x"), "slug", json_string("x")), "slug");
    expect_invalid("organization.rename",
                   tix_json_with(rename_payload("x"), "organization_id", NULL), "organization_id");
    expect_invalid_for(ORG2, "organization.rename", rename_payload("x"), "organization_id");
    free(long_name);
}

/* ---- change_settings: RFC 7386 merge patch ----------------------------------------------- */

static void given_org_with_settings(const char *settings)
{
    accept_quietly("organization.create", A_OWNER,
                   tix_json_with(create_payload(), "settings", tix_json_of(settings)));
}

Test(organization, change_settings_merges_like_rfc7386)
{
    given_org_with_settings("{\"theme\":{\"color\":\"red\",\"font\":\"serif\"},"
                            "\"locale\":\"en\",\"tags\":[1,2],\"keep\":true}");
    struct tix_decision d;
    accept("organization.change_settings", A_OWNER,
           settings_payload("{\"theme\":{\"color\":\"blue\",\"font\":null},\"locale\":null,"
                            "\"tags\":[3],\"new\":{\"x\":{\"y\":null,\"z\":1}}}"),
           &d);
    const char *want = "{\"theme\":{\"color\":\"blue\"},\"tags\":[3],\"keep\":true,"
                       "\"new\":{\"x\":{\"z\":1}}}";
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(
        &d, 0, ORG_STREAM, "organization.settings_changed",
        json_pack("{s:s, s:o}", "organization_id", ORG, "settings", tix_json_of(want)));
    tix_decision_deinit(&d);
    tix_world_expect_json(org_state()->settings, tix_json_of(want));
}

Test(organization, change_settings_replaces_across_types)
{
    given_org_with_settings("{\"theme\":{\"color\":\"red\"},\"locale\":\"en\"}");
    accept_quietly("organization.change_settings", A_OWNER,
                   settings_payload("{\"theme\":\"dark\",\"locale\":{\"lang\":\"fr\"}}"));
    tix_world_expect_json(org_state()->settings,
                          tix_json_of("{\"theme\":\"dark\",\"locale\":{\"lang\":\"fr\"}}"));
    accept_quietly("organization.change_settings", A_OWNER,
                   settings_payload("{\"theme\":{\"a\":null,\"b\":[]}}"));
    tix_world_expect_json(org_state()->settings,
                          tix_json_of("{\"theme\":{\"b\":[]},\"locale\":{\"lang\":\"fr\"}}"));
}

Test(organization, change_settings_without_effect_emits_nothing)
{
    given_org_with_settings("{\"locale\":\"en\",\"theme\":{\"color\":\"red\"}}");
    int before = tix_world_n_log();
    accept_no_events("organization.change_settings", A_OWNER, settings_payload("{}"));
    accept_no_events("organization.change_settings", A_OWNER,
                     settings_payload("{\"missing\":null,\"theme\":{\"font\":null}}"));
    accept_no_events("organization.change_settings", A_OWNER,
                     settings_payload("{\"locale\":\"en\",\"theme\":{\"color\":\"red\"}}"));
    cr_assert_eq(tix_world_n_log(), before);
}

Test(organization, change_settings_rejects_a_result_too_large)
{
    char *half = tix_world_repeat("x", TIX_ORG_SETTINGS_MAX_BYTES / 2 + 16);
    accept_quietly("organization.create", A_OWNER,
                   tix_json_with(create_payload(), "settings", json_pack("{s:s}", "a", half)));
    json_t *p = json_pack("{s:s, s:{s:s}}", "organization_id", ORG, "settings", "b", half);
    expect_rejected("organization.change_settings", A_OWNER, p, "settings_too_large", "settings");
    /* Replacing the big value instead of adding to it fits. */
    p = json_pack("{s:s, s:{s:s}}", "organization_id", ORG, "settings", "a", half);
    accept_no_events("organization.change_settings", A_OWNER, p);
    free(half);
}

Test(organization, change_settings_requires_owner_or_admin)
{
    given_team();
    accept_quietly("organization.change_settings", A_ADMIN, settings_payload("{\"a\":1}"));
    expect_rejected("organization.change_settings", A_PROMOTER, settings_payload("{\"a\":2}"),
                    "forbidden", NULL);
    expect_rejected("organization.change_settings", A_OTHER, settings_payload("{\"a\":2}"),
                    "forbidden", NULL);
    tix_world_expect_json(org_state()->settings, tix_json_of("{\"a\":1}"));
}

Test(organization, change_settings_validates_its_payload)
{
    expect_invalid("organization.change_settings", id_payload(), "settings");
    const char *bad[] = {"[]", "null", "\"{}\"", "0"};
    for (int i = 0; i < 4; i++)
        expect_invalid("organization.change_settings",
                       tix_json_with(id_payload(), "settings", tix_json_of(bad[i])), "settings");
    expect_invalid("organization.change_settings",
                   tix_json_with(settings_payload("{}"), "name", json_string("x")), "name");
}

/* ---- members ------------------------------------------------------------------------------ */

Test(organization, add_member_emits_member_added)
{
    given_org(A_OWNER);
    struct tix_decision d;
    accept("organization.add_member", A_OWNER, member_payload(U_ADMIN, "admin"), &d);
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(
        &d, 0, ORG_STREAM, "organization.member_added",
        json_pack("{s:s, s:s, s:s}", "organization_id", ORG, "user_id", U_ADMIN, "role", "admin"));
    tix_decision_deinit(&d);
    accept_quietly("organization.add_member", A_ADMIN, member_payload(U_SCANNER, "scanner"));
    cr_assert_eq(org_state()->n_members, 3);
    cr_assert_eq(role_of(U_ADMIN), TIX_ORG_ROLE_ADMIN);
    cr_assert_eq(role_of(U_SCANNER), TIX_ORG_ROLE_SCANNER);
    cr_assert_str_eq(org_state()->members[2].user_id, U_SCANNER);
}

Test(organization, add_member_rejects_an_existing_member)
{
    given_team();
    expect_rejected("organization.add_member", A_OWNER, member_payload(U_PROMOTER, "admin"),
                    "already_member", "user_id");
    expect_rejected("organization.add_member", A_SYSTEM, member_payload(U_OWNER, "owner"),
                    "already_member", "user_id");
    cr_assert_eq(role_of(U_PROMOTER), TIX_ORG_ROLE_PROMOTER);
}

Test(organization, only_owners_grant_the_owner_role)
{
    given_team();
    expect_rejected("organization.add_member", A_ADMIN, member_payload(U_OTHER, "owner"),
                    "forbidden", "role");
    cr_assert_eq(role_of(U_OTHER), -1);
    accept_quietly("organization.add_member", A_ADMIN, member_payload(U_OTHER, "admin"));
    accept_quietly("organization.remove_member", A_OWNER, user_payload(U_OTHER));
    accept_quietly("organization.add_member", A_OWNER, member_payload(U_OTHER, "owner"));
    cr_assert_eq(role_of(U_OTHER), TIX_ORG_ROLE_OWNER);
}

Test(organization, member_management_requires_owner_or_admin)
{
    given_team();
    const char *actors[] = {A_PROMOTER, A_SCANNER, A_OTHER, "user:bad"};
    for (int i = 0; i < 4; i++) {
        expect_rejected("organization.add_member", actors[i], member_payload(U_OTHER, "scanner"),
                        "forbidden", NULL);
        expect_rejected("organization.change_member_role", actors[i],
                        member_payload(U_SCANNER, "promoter"), "forbidden", NULL);
        expect_rejected("organization.remove_member", actors[i], user_payload(U_SCANNER),
                        "forbidden", NULL);
    }
    cr_assert_eq(org_state()->n_members, 4);
}

Test(organization, member_commands_validate_their_payloads)
{
    const char *bad_roles[] = {"boss", "Owner", "", "owner "};
    for (int i = 0; i < 4; i++) {
        expect_invalid("organization.add_member", member_payload(U_OTHER, bad_roles[i]), "role");
        expect_invalid("organization.change_member_role", member_payload(U_OTHER, bad_roles[i]),
                       "role");
    }
    expect_invalid("organization.add_member",
                   tix_json_with(member_payload(U_OTHER, "admin"), "role", json_integer(1)),
                   "role");
    expect_invalid("organization.add_member", user_payload(U_OTHER), "role");
    expect_invalid("organization.change_member_role", user_payload(U_OTHER), "role");
    const char *bad_users[] = {"nobody", "0190C1E2-0000-7000-8000-000000000001", U_OTHER "0"};
    for (int i = 0; i < 3; i++) {
        expect_invalid("organization.add_member", member_payload(bad_users[i], "admin"), "user_id");
        expect_invalid("organization.remove_member", user_payload(bad_users[i]), "user_id");
    }
    expect_invalid("organization.add_member",
                   tix_json_with(member_payload(U_OTHER, "admin"), "user_id", NULL), "user_id");
    expect_invalid("organization.remove_member", member_payload(U_OTHER, "admin"), "role");
    expect_invalid("organization.remove_member", id_payload(), "user_id");
    expect_invalid_for(ORG2, "organization.remove_member", user_payload(U_OTHER),
                       "organization_id");
}

Test(organization, change_member_role_emits_role_and_previous_role)
{
    given_team();
    struct tix_decision d;
    accept("organization.change_member_role", A_ADMIN, member_payload(U_PROMOTER, "scanner"), &d);
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(&d, 0, ORG_STREAM, "organization.member_role_changed",
                           json_pack("{s:s, s:s, s:s, s:s}", "organization_id", ORG, "user_id",
                                     U_PROMOTER, "role", "scanner", "previous_role", "promoter"));
    tix_decision_deinit(&d);
    cr_assert_eq(role_of(U_PROMOTER), TIX_ORG_ROLE_SCANNER);
    accept_no_events("organization.change_member_role", A_ADMIN,
                     member_payload(U_PROMOTER, "scanner"));
    expect_rejected("organization.change_member_role", A_OWNER, member_payload(U_OTHER, "admin"),
                    "not_member", "user_id");
}

Test(organization, only_owners_change_owners)
{
    given_team();
    accept_quietly("organization.add_member", A_OWNER, member_payload(U_OTHER, "owner"));
    expect_rejected("organization.change_member_role", A_ADMIN, member_payload(U_OTHER, "admin"),
                    "forbidden", "role");
    expect_rejected("organization.change_member_role", A_ADMIN, member_payload(U_SCANNER, "owner"),
                    "forbidden", "role");
    expect_rejected("organization.change_member_role", A_ADMIN, member_payload(U_OTHER, "owner"),
                    "forbidden", "role");
    accept_quietly("organization.change_member_role", A_OWNER, member_payload(U_OTHER, "admin"));
    cr_assert_eq(role_of(U_OTHER), TIX_ORG_ROLE_ADMIN);
    accept_quietly("organization.change_member_role", A_OWNER, member_payload(U_SCANNER, "owner"));
    cr_assert_eq(role_of(U_SCANNER), TIX_ORG_ROLE_OWNER);
}

Test(organization, the_last_owner_cannot_be_demoted)
{
    given_team();
    expect_rejected("organization.change_member_role", A_OWNER, member_payload(U_OWNER, "admin"),
                    "last_owner", "user_id");
    expect_rejected("organization.change_member_role", A_SYSTEM, member_payload(U_OWNER, "scanner"),
                    "last_owner", "user_id");
    cr_assert_eq(role_of(U_OWNER), TIX_ORG_ROLE_OWNER);
    /* With a second owner, the first may step down. */
    accept_quietly("organization.change_member_role", A_OWNER, member_payload(U_ADMIN, "owner"));
    accept_quietly("organization.change_member_role", A_OWNER, member_payload(U_OWNER, "admin"));
    cr_assert_eq(role_of(U_OWNER), TIX_ORG_ROLE_ADMIN);
    expect_rejected("organization.change_member_role", A_ADMIN, member_payload(U_ADMIN, "admin"),
                    "last_owner", "user_id");
}

Test(organization, remove_member_emits_member_removed_and_keeps_order)
{
    given_team();
    struct tix_decision d;
    accept("organization.remove_member", A_ADMIN, user_payload(U_PROMOTER), &d);
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(&d, 0, ORG_STREAM, "organization.member_removed",
                           json_pack("{s:s, s:s, s:s}", "organization_id", ORG, "user_id",
                                     U_PROMOTER, "role", "promoter"));
    tix_decision_deinit(&d);
    const struct tix_org_state *s = org_state();
    cr_assert_eq(s->n_members, 3);
    cr_assert_str_eq(s->members[0].user_id, U_OWNER);
    cr_assert_str_eq(s->members[1].user_id, U_ADMIN);
    cr_assert_str_eq(s->members[2].user_id, U_SCANNER);
    expect_rejected("organization.remove_member", A_ADMIN, user_payload(U_PROMOTER), "not_member",
                    "user_id");
    /* An admin may leave on its own. */
    accept_quietly("organization.remove_member", A_ADMIN, user_payload(U_ADMIN));
    cr_assert_eq(role_of(U_ADMIN), -1);
}

Test(organization, the_last_owner_cannot_be_removed)
{
    given_team();
    expect_rejected("organization.remove_member", A_OWNER, user_payload(U_OWNER), "last_owner",
                    "user_id");
    expect_rejected("organization.remove_member", A_SYSTEM, user_payload(U_OWNER), "last_owner",
                    "user_id");
    accept_quietly("organization.add_member", A_OWNER, member_payload(U_OTHER, "owner"));
    expect_rejected("organization.remove_member", A_ADMIN, user_payload(U_OTHER), "forbidden",
                    "user_id");
    accept_quietly("organization.remove_member", A_OTHER, user_payload(U_OWNER));
    cr_assert_eq(role_of(U_OWNER), -1);
    expect_rejected("organization.remove_member", A_OTHER, user_payload(U_OTHER), "last_owner",
                    "user_id");
}

/* ---- suspend and reinstate ---------------------------------------------------------------- */

Test(organization, suspend_and_reinstate_by_the_system)
{
    given_team();
    struct tix_decision d;
    accept("organization.suspend", A_SYSTEM, suspend_payload(" fraud\nreview "), &d);
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(
        &d, 0, ORG_STREAM, "organization.suspended",
        json_pack("{s:s, s:s}", "organization_id", ORG, "reason", "fraud\nreview"));
    tix_decision_deinit(&d);
    cr_assert(org_state()->is_suspended);
    expect_rejected("organization.suspend", A_SYSTEM, suspend_payload("again"), "already_suspended",
                    NULL);

    accept("organization.reinstate", A_SYSTEM, id_payload(), &d);
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(&d, 0, ORG_STREAM, "organization.reinstated",
                           json_pack("{s:s}", "organization_id", ORG));
    tix_decision_deinit(&d);
    cr_assert_not(org_state()->is_suspended);
    expect_rejected("organization.reinstate", A_SYSTEM, id_payload(), "not_suspended", NULL);
    accept_quietly("organization.rename", A_OWNER, rename_payload("Back"));
}

Test(organization, only_an_owner_or_the_system_closes_and_closing_is_final)
{
    given_team();
    expect_rejected("organization.close", A_ADMIN, id_payload(), "forbidden", NULL);
    struct tix_decision d;
    accept("organization.close", A_OWNER, id_payload(), &d);
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(&d, 0, ORG_STREAM, "organization.closed",
                           json_pack("{s:s, s:s}", "organization_id", ORG, "closed_by", A_OWNER));
    tix_decision_deinit(&d);
    cr_assert(org_state()->is_closed);
    expect_rejected("organization.rename", A_OWNER, rename_payload("Again"), "closed", NULL);
    expect_rejected("organization.close", A_SYSTEM, id_payload(), "closed", NULL);
    expect_rejected("organization.reinstate", A_SYSTEM, id_payload(), "closed", NULL);
}

Test(organization, users_may_not_suspend_or_reinstate)
{
    given_team();
    expect_rejected("organization.suspend", A_OWNER, suspend_payload("x"), "forbidden", NULL);
    expect_rejected("organization.suspend", A_ADMIN, suspend_payload("x"), "forbidden", NULL);
    accept_quietly("organization.suspend", A_SYSTEM, suspend_payload("x"));
    expect_rejected("organization.reinstate", A_OWNER, id_payload(), "forbidden", NULL);
    expect_rejected("organization.reinstate", A_OTHER, id_payload(), "forbidden", NULL);
    cr_assert(org_state()->is_suspended);
}

Test(organization, suspend_validates_the_reason)
{
    char *r500 = tix_world_repeat("r", 500), *r501 = tix_world_repeat("r", 501);
    expect_invalid("organization.suspend", id_payload(), "reason");
    expect_invalid("organization.suspend", suspend_payload(""), "reason");
    expect_invalid("organization.suspend", suspend_payload(" \n "), "reason");
    expect_invalid("organization.suspend", suspend_payload(r501), "reason");
    expect_invalid("organization.suspend", suspend_payload("a\x02z"), "reason");
    expect_invalid("organization.suspend", tix_json_with(id_payload(), "reason", json_true()),
                   "reason");
    expect_invalid("organization.reinstate", suspend_payload("x"), "reason");
    given_org(A_OWNER);
    accept_quietly("organization.suspend", A_SYSTEM, suspend_payload(r500));
    free(r500);
    free(r501);
}

/* Every command but create, with a payload that would otherwise be accepted by the system. */
static json_t *payload_for(int i)
{
    switch (i) {
    case 0:
        return rename_payload("Other");
    case 1:
        return settings_payload("{\"a\":1}");
    case 2:
        return member_payload(U_OTHER, "scanner");
    case 3:
        return member_payload(U_SCANNER, "promoter");
    case 4:
        return user_payload(U_SCANNER);
    case 5:
        return suspend_payload("x");
    default:
        return id_payload();
    }
}

static const char *const update_types[] = {
    "organization.rename",        "organization.change_settings",
    "organization.add_member",    "organization.change_member_role",
    "organization.remove_member", "organization.suspend",
    "organization.reinstate",
};

Test(organization, every_command_but_create_needs_an_existing_organization)
{
    for (int i = 0; i < 7; i++) {
        expect_rejected(update_types[i], A_SYSTEM, payload_for(i), "not_found", "organization_id");
        expect_rejected(update_types[i], A_OWNER, payload_for(i), "not_found", "organization_id");
    }
    cr_assert_not(org_state()->exists);
}

Test(organization, a_suspended_organization_refuses_everything_but_reinstate)
{
    given_suspended_team();
    for (int i = 0; i < 5; i++) {
        expect_rejected(update_types[i], A_SYSTEM, payload_for(i), "suspended", NULL);
        expect_rejected(update_types[i], A_OWNER, payload_for(i), "suspended", NULL);
    }
    expect_rejected(update_types[5], A_SYSTEM, payload_for(5), "already_suspended", NULL);
    accept_quietly(update_types[6], A_SYSTEM, payload_for(6));
    for (int i = 0; i < 5; i++)
        accept_quietly(update_types[i], A_SYSTEM, payload_for(i));
}

Test(organization, every_command_rejects_unknown_fields_and_non_objects)
{
    for (int i = 0; i < 7; i++) {
        expect_invalid(update_types[i], tix_json_with(payload_for(i), "extra", json_null()),
                       "extra");
        expect_invalid(update_types[i], json_array(), "");
        expect_invalid(update_types[i],
                       tix_json_with(payload_for(i), "organization_id", json_integer(7)),
                       "organization_id");
        expect_invalid_for(ORG2, update_types[i], payload_for(i), "organization_id");
    }
}

/* ---- evolve ------------------------------------------------------------------------------- */

static enum tix_rc evolve_org(void *s, const char *type, const char *data)
{
    json_t *v = tix_json_of(data);
    enum tix_rc rc = tix_organization_stream_kind.evolve(s, type, 1, v);
    json_decref(v);
    return rc;
}

#define CREATED                                                                                    \
    "{\"organization_id\":\"" ORG "\",\"name\":\"Acme\",\"slug\":\"acme\",\"type\":\"venue\","     \
    "\"settings\":{},\"created_by\":\"system:test\"}"
#define MEMBER(user, role)                                                                         \
    "{\"organization_id\":\"" ORG "\",\"user_id\":\"" user "\",\"role\":\"" role "\"}"

Test(organization, evolve_ignores_unknown_event_types)
{
    void *s = tix_organization_stream_kind.create();
    cr_assert_eq(evolve_org(s, "organization.logo_changed", "{\"whatever\":1}"), TIX_OK);
    cr_assert_eq(evolve_org(s, "organization.slug_claimed", "{\"slug\":\"acme\"}"), TIX_OK);
    cr_assert_not(((struct tix_org_state *)s)->exists);
    cr_assert_eq(evolve_org(s, "organization.created", CREATED), TIX_OK);
    cr_assert_eq(evolve_org(s, "organization.future_thing", "[]"), TIX_OK);
    cr_assert_str_eq(((struct tix_org_state *)s)->name, "Acme");
    tix_organization_stream_kind.destroy(s);

    void *slug = tix_orgslug_stream_kind.create();
    json_t *v = tix_json_of(CREATED);
    cr_assert_eq(tix_orgslug_stream_kind.evolve(slug, "organization.created", 1, v), TIX_OK);
    cr_assert_not(((struct tix_orgslug_state *)slug)->is_claimed);
    json_decref(v);
    tix_orgslug_stream_kind.destroy(slug);
    tix_organization_stream_kind.destroy(NULL);
    tix_orgslug_stream_kind.destroy(NULL);
}

Test(organization, evolve_refuses_malformed_known_events)
{
    struct tix_org_state *s = tix_organization_stream_kind.create();
    cr_assert_eq(
        evolve_org(s, "organization.renamed", "{\"organization_id\":\"" ORG "\",\"name\":\"x\"}"),
        TIX_EINVAL, "renamed before created");
    cr_assert_eq(evolve_org(s, "organization.created", "{\"organization_id\":\"" ORG "\"}"),
                 TIX_EINVAL);
    cr_assert_eq(evolve_org(s, "organization.created", "[]"), TIX_EINVAL);
    json_t *v = tix_json_of(CREATED);
    cr_assert_eq(tix_organization_stream_kind.evolve(s, "organization.created", 2, v), TIX_EINVAL,
                 "unknown schema version");
    json_object_set_new(v, "settings", json_string("x"));
    cr_assert_eq(tix_organization_stream_kind.evolve(s, "organization.created", 1, v), TIX_EINVAL);
    json_decref(v);
    cr_assert_not(s->exists, "a refused event changes nothing");
    cr_assert_eq(evolve_org(s, "organization.created", CREATED), TIX_OK);
    cr_assert_eq(evolve_org(s, "organization.created", CREATED), TIX_EINVAL, "created twice");
    cr_assert_eq(evolve_org(s, "organization.member_added", MEMBER(U_OWNER, "owner")), TIX_OK);
    const char *bad[][2] = {
        {"organization.member_added", MEMBER(U_OWNER, "admin")},
        {"organization.member_added", MEMBER(U_ADMIN, "boss")},
        {"organization.member_added", MEMBER("nobody", "admin")},
        {"organization.member_role_changed", MEMBER(U_ADMIN, "admin")},
        {"organization.member_role_changed", MEMBER(U_OWNER, "chief")},
        {"organization.member_removed", MEMBER(U_ADMIN, "admin")},
        {"organization.renamed", "{\"organization_id\":\"" ORG "\"}"},
        {"organization.renamed", "{\"organization_id\":\"" ORG2 "\",\"name\":\"x\"}"},
        {"organization.renamed", "{\"name\":\"x\"}"},
        {"organization.settings_changed", "{\"organization_id\":\"" ORG "\",\"settings\":[]}"},
        {"organization.suspended", "{\"organization_id\":\"" ORG "\"}"},
        {"organization.reinstated", "{}"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(evolve_org(s, bad[i][0], bad[i][1]), TIX_EINVAL, "%s %s", bad[i][0],
                     bad[i][1]);
    cr_assert_str_eq(s->name, "Acme");
    cr_assert_eq(s->n_members, 1);
    cr_assert_eq(s->members[0].role, TIX_ORG_ROLE_OWNER);
    cr_assert_not(s->is_suspended);
    tix_organization_stream_kind.destroy(s);
}

Test(organization, evolve_refuses_malformed_slug_claims)
{
    struct tix_orgslug_state *s = tix_orgslug_stream_kind.create();
    const char *bad[] = {"{\"slug\":\"acme\"}", "{\"slug\":\"acme\",\"organization_id\":\"x\"}",
                         "{\"organization_id\":\"" ORG "\"}", "[]"};
    for (int i = 0; i < 4; i++) {
        json_t *v = tix_json_of(bad[i]);
        cr_assert_eq(tix_orgslug_stream_kind.evolve(s, "organization.slug_claimed", 1, v),
                     TIX_EINVAL, "%s", bad[i]);
        json_decref(v);
    }
    cr_assert_not(s->is_claimed);
    json_t *v = json_pack("{s:s, s:s}", "slug", "acme", "organization_id", ORG);
    cr_assert_eq(tix_orgslug_stream_kind.evolve(s, "organization.slug_claimed", 2, v), TIX_EINVAL);
    cr_assert_eq(tix_orgslug_stream_kind.evolve(s, "organization.slug_claimed", 1, v), TIX_OK);
    cr_assert_eq(tix_orgslug_stream_kind.evolve(s, "organization.slug_claimed", 1, v), TIX_EINVAL,
                 "claimed twice");
    cr_assert_str_eq(s->organization_id, ORG);
    json_decref(v);
    tix_orgslug_stream_kind.destroy(s);
}

Test(organization, members_grow_and_shrink_in_order)
{
    given_org(A_OWNER);
    char users[40][40];
    for (int i = 0; i < 40; i++) {
        snprintf(users[i], sizeof(users[i]), "0190c1e2-0000-7000-8000-0000000001%02u",
                 (unsigned)i % 100u);
        accept_quietly("organization.add_member", A_OWNER, member_payload(users[i], "scanner"));
    }
    const struct tix_org_state *s = org_state();
    cr_assert_eq(s->n_members, 41);
    cr_assert_geq(s->cap_members, 41);
    for (int i = 0; i < 40; i += 2)
        accept_quietly("organization.remove_member", A_OWNER, user_payload(users[i]));
    cr_assert_eq(s->n_members, 21);
    cr_assert_str_eq(s->members[0].user_id, U_OWNER);
    for (int i = 1; i < 21; i++)
        cr_assert_str_eq(s->members[i].user_id, users[2 * i - 1]);
}

/* ---- replay ------------------------------------------------------------------------------- */

static void expect_same_org(const struct tix_org_state *a, const struct tix_org_state *b)
{
    cr_assert_eq(a->exists, b->exists);
    cr_assert_eq(a->is_suspended, b->is_suspended);
    cr_assert_str_eq(a->id, b->id);
    cr_assert_str_eq(a->name, b->name);
    cr_assert_str_eq(a->slug, b->slug);
    cr_assert_str_eq(a->type, b->type);
    tix_world_expect_json(a->settings, json_incref(b->settings));
    cr_assert_eq(a->n_members, b->n_members);
    for (int i = 0; i < a->n_members; i++) {
        cr_assert_str_eq(a->members[i].user_id, b->members[i].user_id);
        cr_assert_eq(a->members[i].role, b->members[i].role);
    }
}

Test(organization, replaying_the_log_gives_the_live_state)
{
    given_team();
    accept_quietly("organization.rename", A_ADMIN, rename_payload("Acme Live"));
    accept_quietly("organization.change_settings", A_OWNER,
                   settings_payload("{\"theme\":{\"color\":\"red\"},\"locale\":\"en\"}"));
    accept_quietly("organization.change_settings", A_ADMIN,
                   settings_payload("{\"theme\":{\"color\":null,\"font\":\"x\"}}"));
    accept_quietly("organization.add_member", A_OWNER, member_payload(U_OTHER, "owner"));
    accept_quietly("organization.change_member_role", A_OTHER, member_payload(U_OWNER, "admin"));
    accept_quietly("organization.remove_member", A_ADMIN, user_payload(U_PROMOTER));
    accept_quietly("organization.suspend", A_SYSTEM, suspend_payload("audit"));
    accept_quietly("organization.reinstate", A_SYSTEM, id_payload());
    accept_quietly("organization.suspend", A_SYSTEM, suspend_payload("audit again"));
    cr_assert_eq(tix_world_stream(ORG_STREAM)->version, 14);

    struct tix_org_state *again = tix_world_replay(ORG_STREAM);
    expect_same_org(again, org_state());
    cr_assert(again->is_suspended);
    cr_assert_str_eq(again->name, "Acme Live");
    tix_world_expect_json(again->settings,
                          tix_json_of("{\"theme\":{\"font\":\"x\"},\"locale\":\"en\"}"));
    cr_assert_eq(again->n_members, 4);
    tix_organization_stream_kind.destroy(again);

    struct tix_orgslug_state *claim = tix_world_replay("orgslug-acme");
    cr_assert(claim->is_claimed);
    cr_assert_str_eq(claim->organization_id, slug_state("acme")->organization_id);
    tix_orgslug_stream_kind.destroy(claim);
}
