/* organization.c - the organization aggregate: payload checks, decide and evolve
 *
 * Three layers, all pure. streams() checks a payload against a table of field specs (type, value
 * rules, no unknown keys) and names the streams the command needs. decide() reads the states,
 * applies the domain rules in a fixed order (not_found, forbidden, suspended, then the command's
 * own rules) and emits events whose payloads are complete: evolve never needs the command.
 * evolve() applies one recorded event and checks it first, so a malformed event leaves the state
 * untouched.
 *
 * Invariants kept here: a state never aliases JSON owned by a decision or an event (settings are
 * deep-copied); stored settings never contain null members (they are built by RFC 7386 merge
 * patch, which drops them); once an organization has an owner it keeps at least one (nobody,
 * not even a system actor, may remove or demote the last one); every event is schema_version 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/mem.h"

#include "organization.h"
#include "payload.h"

static const char *const role_names[] = {
    [TIX_ORG_ROLE_OWNER] = "owner",
    [TIX_ORG_ROLE_ADMIN] = "admin",
    [TIX_ORG_ROLE_PROMOTER] = "promoter",
    [TIX_ORG_ROLE_SCANNER] = "scanner",
};

#define N_ROLES ((int)(sizeof(role_names) / sizeof(role_names[0])))

int tix_org_role_parse(const char *s)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < N_ROLES; i++)
        if (strcmp(s, role_names[i]) == 0)
            return i;
    return -1;
}

const char *tix_org_role_name(enum tix_org_role role)
{
    if ((int)role < 0 || (int)role >= N_ROLES)
        return "unknown";
    return role_names[role];
}

/* ---- text rules ------------------------------------------------------------------------- */

/* Copies the trimmed text of a JSON string into out (truncating at out_size - 1 bytes). */
static void trimmed_copy(const json_t *v, char *out, size_t out_size)
{
    size_t len = json_string_length(v);
    const char *s =
        tix_payload_trim(json_string_value(v) != NULL ? json_string_value(v) : "", &len);
    snprintf(out, out_size, "%.*s", (int)len, s);
}

static bool is_valid_slug(const char *s, size_t len)
{
    if (len < TIX_ORG_SLUG_MIN_LEN || len > TIX_ORG_SLUG_MAX_LEN)
        return false;
    if (s[0] == '-' || s[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '-' && s[i + 1] == '-')
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static bool is_org_type(const char *s)
{
    return strcmp(s, "promoter") == 0 || strcmp(s, "venue") == 0 || strcmp(s, "reseller") == 0;
}

/* ---- payload shapes --------------------------------------------------------------------- */

enum field_kind { F_UUID, F_NAME, F_SLUG, F_ORG_TYPE, F_ROLE, F_REASON, F_SETTINGS };

/* NULL when v is acceptable for kind, else what is wrong with it. */
static const char *check_value(enum field_kind kind, const json_t *v)
{
    if (kind == F_SETTINGS) {
        if (!json_is_object(v))
            return "must be an object";
        size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
        return n > TIX_ORG_SETTINGS_MAX_BYTES ? "is too large" : NULL;
    }
    if (!json_is_string(v))
        return "must be a string";
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    switch (kind) {
    case F_UUID:
        return tix_payload_is_plain_string(v) && tix_uuid_is_valid(s) ? NULL
                                                                      : "must be a lowercase UUID";
    case F_NAME:
        return tix_payload_is_text(v, 1, TIX_ORG_NAME_MAX_CHARS, true, false)
                   ? NULL
                   : "must be 1..200 characters without control characters";
    case F_REASON:
        return tix_payload_is_text(v, 1, TIX_ORG_REASON_MAX_CHARS, true, true)
                   ? NULL
                   : "must be 1..500 characters";
    case F_SLUG:
        return tix_payload_is_plain_string(v) && is_valid_slug(s, len)
                   ? NULL
                   : "must be 3..63 of a-z, 0-9 and single inner hyphens";
    case F_ORG_TYPE:
        return tix_payload_is_plain_string(v) && is_org_type(s)
                   ? NULL
                   : "must be promoter, venue or reseller";
    case F_ROLE:
        return tix_payload_is_plain_string(v) && tix_org_role_parse(s) >= 0
                   ? NULL
                   : "must be owner, admin, promoter or scanner";
    case F_SETTINGS:
        break;
    }
    return "is not supported";
}

static enum tix_rc check_field_cb(int kind, const json_t *v, const char *path, const void *ctx,
                                  struct tix_err *err)
{
    (void)ctx;
    return tix_payload_field_problem(err, path, check_value((enum field_kind)kind, v));
}

/* Checks cmd's payload against specs; organization_id must also equal cmd->key. Returns TIX_OK
 * or TIX_EINVAL with the offending field in err. */
static enum tix_rc check_payload(const struct tix_command *cmd, const struct tix_field_spec *specs,
                                 size_t n, struct tix_err *err)
{
    static const struct tix_field_rules rules = {.check = check_field_cb, .is_terse = true};
    if (tix_payload_check_object(cmd->payload, "", specs, n, &rules, err) != TIX_OK)
        return TIX_EINVAL;
    return tix_payload_check_key(cmd->payload, "organization_id", cmd->key, err);
}

static void stream_id(char out[TIX_STREAM_ID_MAX], const char *prefix, const char *key)
{
    snprintf(out, TIX_STREAM_ID_MAX, "%s%s", prefix, key);
}

/* streams() for every command that touches only the organization stream. */
static int org_streams(const struct tix_command *cmd, const struct tix_field_spec *specs, size_t n,
                       char ids[][TIX_STREAM_ID_MAX], struct tix_err *err)
{
    if (check_payload(cmd, specs, n, err) != TIX_OK)
        return -1;
    stream_id(ids[0], TIX_ORG_STREAM_PREFIX, cmd->key);
    return 1;
}

#define N_SPECS(a) (sizeof(a) / sizeof((a)[0]))

static const struct tix_field_spec create_fields[] = {
    {.name = "organization_id", .kind = F_UUID, .is_required = true},
    {.name = "name", .kind = F_NAME, .is_required = true},
    {.name = "slug", .kind = F_SLUG, .is_required = true},
    {.name = "type", .kind = F_ORG_TYPE, .is_required = true},
    {.name = "settings", .kind = F_SETTINGS, .is_required = false},
};
static const struct tix_field_spec rename_fields[] = {
    {.name = "organization_id", .kind = F_UUID, .is_required = true},
    {.name = "name", .kind = F_NAME, .is_required = true},
};
static const struct tix_field_spec settings_fields[] = {
    {.name = "organization_id", .kind = F_UUID, .is_required = true},
    {.name = "settings", .kind = F_SETTINGS, .is_required = true},
};
static const struct tix_field_spec member_role_fields[] = {
    {.name = "organization_id", .kind = F_UUID, .is_required = true},
    {.name = "user_id", .kind = F_UUID, .is_required = true},
    {.name = "role", .kind = F_ROLE, .is_required = true},
};
static const struct tix_field_spec member_fields[] = {
    {.name = "organization_id", .kind = F_UUID, .is_required = true},
    {.name = "user_id", .kind = F_UUID, .is_required = true},
};
static const struct tix_field_spec suspend_fields[] = {
    {.name = "organization_id", .kind = F_UUID, .is_required = true},
    {.name = "reason", .kind = F_REASON, .is_required = true},
};
static const struct tix_field_spec id_fields[] = {
    {.name = "organization_id", .kind = F_UUID, .is_required = true},
};

static int create_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                          struct tix_err *err)
{
    if (check_payload(cmd, create_fields, N_SPECS(create_fields), err) != TIX_OK)
        return -1;
    stream_id(ids[0], TIX_ORG_STREAM_PREFIX, cmd->key);
    stream_id(ids[1], TIX_SLUG_STREAM_PREFIX, tix_json_str(cmd->payload, "slug"));
    return 2;
}

static int rename_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                          struct tix_err *err)
{
    return org_streams(cmd, rename_fields, N_SPECS(rename_fields), ids, err);
}

static int settings_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                            struct tix_err *err)
{
    return org_streams(cmd, settings_fields, N_SPECS(settings_fields), ids, err);
}

static int member_role_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                               struct tix_err *err)
{
    return org_streams(cmd, member_role_fields, N_SPECS(member_role_fields), ids, err);
}

static int member_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                          struct tix_err *err)
{
    return org_streams(cmd, member_fields, N_SPECS(member_fields), ids, err);
}

static int suspend_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                           struct tix_err *err)
{
    return org_streams(cmd, suspend_fields, N_SPECS(suspend_fields), ids, err);
}

static int id_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                      struct tix_err *err)
{
    return org_streams(cmd, id_fields, N_SPECS(id_fields), ids, err);
}

/* ---- decide: actors, access, the organization being changed ---------------------------- */

static int find_member(const struct tix_org_state *s, const char *user_id)
{
    for (int i = 0; i < s->n_members; i++)
        if (strcmp(s->members[i].user_id, user_id) == 0)
            return i;
    return -1;
}

static int count_owners(const struct tix_org_state *s)
{
    int n = 0;
    for (int i = 0; i < s->n_members; i++)
        n += s->members[i].role == TIX_ORG_ROLE_OWNER;
    return n;
}

/* True for a system actor, an owner, or (unless is_owner_needed) an admin of s. */
static bool may_manage(const struct tix_org_state *s, const struct tix_actor *a,
                       bool is_owner_needed)
{
    if (a->is_system)
        return true;
    int i = find_member(s, a->user_id);
    if (i < 0)
        return false;
    enum tix_org_role r = s->members[i].role;
    return r == TIX_ORG_ROLE_OWNER || (r == TIX_ORG_ROLE_ADMIN && !is_owner_needed);
}

enum access { ACCESS_ADMIN, ACCESS_SYSTEM };

/* The existing organization of cmd, checked for access and suspension (unless allow_suspended);
 * NULL after rejecting out. Fills *a with the parsed actor. */
static const struct tix_org_state *load_org(const struct tix_command *cmd,
                                            const struct tix_view *view, enum access need,
                                            bool allow_suspended, struct tix_actor *a,
                                            struct tix_decision *out)
{
    char id[TIX_STREAM_ID_MAX];
    stream_id(id, TIX_ORG_STREAM_PREFIX, cmd->key);
    const struct tix_org_state *s = tix_view_state(view, id, NULL);
    *a = tix_payload_parse_actor(cmd->actor);
    if (s == NULL || !s->exists) {
        tix_decision_reject(out, "not_found", "organization_id", "no organization %s", cmd->key);
        return NULL;
    }
    bool is_allowed = need == ACCESS_SYSTEM ? a->is_system : may_manage(s, a, false);
    if (!a->is_valid || !is_allowed) {
        tix_decision_reject(out, "forbidden", NULL, "the actor may not do this");
        return NULL;
    }
    if (s->is_closed) {
        tix_decision_reject(out, "closed", NULL, "the organization is closed");
        return NULL;
    }
    if (s->is_suspended && !allow_suspended) {
        tix_decision_reject(out, "suspended", NULL, "the organization is suspended");
        return NULL;
    }
    return s;
}

static void emit_org(struct tix_decision *out, const struct tix_command *cmd, const char *type,
                     json_t *data)
{
    char id[TIX_STREAM_ID_MAX];
    stream_id(id, TIX_ORG_STREAM_PREFIX, cmd->key);
    tix_decision_emit(out, id, type, data);
}

/* ---- decide: one function per command ----------------------------------------------------- */

static void emit_created(const struct tix_command *cmd, const struct tix_actor *a,
                         struct tix_decision *out)
{
    const json_t *p = cmd->payload;
    char name[sizeof(((struct tix_org_state *)0)->name)];
    trimmed_copy(json_object_get(p, "name"), name, sizeof(name));
    json_t *settings = json_object();
    const json_t *given = json_object_get(p, "settings");
    if (json_is_object(given))
        tix_payload_merge_patch(settings, given);
    const char *slug = tix_json_str(p, "slug");
    emit_org(out, cmd, "organization.created",
             json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "organization_id", cmd->key, "name", name,
                       "slug", slug, "type", tix_json_str(p, "type"), "settings", settings,
                       "created_by", cmd->actor));
    if (!a->is_system)
        emit_org(out, cmd, "organization.member_added",
                 json_pack("{s:s, s:s, s:s}", "organization_id", cmd->key, "user_id", a->user_id,
                           "role", "owner"));
    char slug_id[TIX_STREAM_ID_MAX];
    stream_id(slug_id, TIX_SLUG_STREAM_PREFIX, slug);
    tix_decision_emit(out, slug_id, "organization.slug_claimed",
                      json_pack("{s:s, s:s}", "slug", slug, "organization_id", cmd->key));
    tix_decision_set_result(out, json_pack("{s:s}", "organization_id", cmd->key));
}

static void decide_create(const struct tix_command *cmd, const struct tix_view *view,
                          struct tix_decision *out)
{
    char org_id[TIX_STREAM_ID_MAX], slug_id[TIX_STREAM_ID_MAX];
    const char *slug = tix_json_str(cmd->payload, "slug");
    stream_id(org_id, TIX_ORG_STREAM_PREFIX, cmd->key);
    stream_id(slug_id, TIX_SLUG_STREAM_PREFIX, slug != NULL ? slug : "");
    const struct tix_org_state *org = tix_view_state(view, org_id, NULL);
    const struct tix_orgslug_state *claim = tix_view_state(view, slug_id, NULL);
    struct tix_actor a = tix_payload_parse_actor(cmd->actor);
    if (!a.is_valid) {
        tix_decision_reject(out, "forbidden", NULL, "the actor may not create organizations");
        return;
    }
    if (org != NULL && org->exists) {
        tix_decision_reject(out, "already_exists", "organization_id",
                            "organization %s already exists", cmd->key);
        return;
    }
    if (claim != NULL && claim->is_claimed) {
        tix_decision_reject(out, "slug_taken", "slug", "the slug is taken");
        return;
    }
    emit_created(cmd, &a, out);
}

static void decide_rename(const struct tix_command *cmd, const struct tix_view *view,
                          struct tix_decision *out)
{
    struct tix_actor a;
    const struct tix_org_state *s = load_org(cmd, view, ACCESS_ADMIN, false, &a, out);
    if (s == NULL)
        return;
    char name[sizeof(s->name)];
    trimmed_copy(json_object_get(cmd->payload, "name"), name, sizeof(name));
    if (strcmp(name, s->name) == 0)
        return;
    emit_org(out, cmd, "organization.renamed",
             json_pack("{s:s, s:s, s:s}", "organization_id", cmd->key, "name", name,
                       "previous_name", s->name));
}

static void decide_change_settings(const struct tix_command *cmd, const struct tix_view *view,
                                   struct tix_decision *out)
{
    struct tix_actor a;
    const struct tix_org_state *s = load_org(cmd, view, ACCESS_ADMIN, false, &a, out);
    if (s == NULL)
        return;
    json_t *next = json_deep_copy(s->settings);
    tix_payload_merge_patch(next, json_object_get(cmd->payload, "settings"));
    if (json_equal(next, s->settings)) {
        json_decref(next);
        return;
    }
    if (json_dumpb(next, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS) > TIX_ORG_SETTINGS_MAX_BYTES) {
        json_decref(next);
        tix_decision_reject(out, "settings_too_large", "settings",
                            "the settings would exceed %d bytes", TIX_ORG_SETTINGS_MAX_BYTES);
        return;
    }
    emit_org(out, cmd, "organization.settings_changed",
             json_pack("{s:s, s:o}", "organization_id", cmd->key, "settings", next));
}

static void decide_add_member(const struct tix_command *cmd, const struct tix_view *view,
                              struct tix_decision *out)
{
    struct tix_actor a;
    const struct tix_org_state *s = load_org(cmd, view, ACCESS_ADMIN, false, &a, out);
    if (s == NULL)
        return;
    const char *user_id = tix_json_str(cmd->payload, "user_id");
    const char *role = tix_json_str(cmd->payload, "role");
    if (tix_org_role_parse(role) == TIX_ORG_ROLE_OWNER && !may_manage(s, &a, true)) {
        tix_decision_reject(out, "forbidden", "role", "only an owner may grant the owner role");
        return;
    }
    if (find_member(s, user_id) >= 0) {
        tix_decision_reject(out, "already_member", "user_id", "the user is already a member");
        return;
    }
    emit_org(out, cmd, "organization.member_added",
             json_pack("{s:s, s:s, s:s}", "organization_id", cmd->key, "user_id", user_id, "role",
                       role));
}

/* The index of the payload's user_id among s's members; -1 after rejecting out. */
static int target_member(const struct tix_org_state *s, const struct tix_command *cmd,
                         struct tix_decision *out)
{
    int i = find_member(s, tix_json_str(cmd->payload, "user_id"));
    if (i < 0)
        tix_decision_reject(out, "not_member", "user_id", "the user is not a member");
    return i;
}

static void decide_change_member_role(const struct tix_command *cmd, const struct tix_view *view,
                                      struct tix_decision *out)
{
    struct tix_actor a;
    const struct tix_org_state *s = load_org(cmd, view, ACCESS_ADMIN, false, &a, out);
    if (s == NULL)
        return;
    int i = target_member(s, cmd, out);
    if (i < 0)
        return;
    enum tix_org_role from = s->members[i].role;
    int to = tix_org_role_parse(tix_json_str(cmd->payload, "role"));
    bool touches_owner = from == TIX_ORG_ROLE_OWNER || to == TIX_ORG_ROLE_OWNER;
    if (touches_owner && !may_manage(s, &a, true)) {
        tix_decision_reject(out, "forbidden", "role", "only an owner may change owners");
        return;
    }
    if ((int)from == to)
        return;
    if (from == TIX_ORG_ROLE_OWNER && count_owners(s) == 1) {
        tix_decision_reject(out, "last_owner", "user_id", "the last owner cannot be demoted");
        return;
    }
    emit_org(out, cmd, "organization.member_role_changed",
             json_pack("{s:s, s:s, s:s, s:s}", "organization_id", cmd->key, "user_id",
                       s->members[i].user_id, "role", tix_org_role_name((enum tix_org_role)to),
                       "previous_role", tix_org_role_name(from)));
}

static void decide_remove_member(const struct tix_command *cmd, const struct tix_view *view,
                                 struct tix_decision *out)
{
    struct tix_actor a;
    const struct tix_org_state *s = load_org(cmd, view, ACCESS_ADMIN, false, &a, out);
    if (s == NULL)
        return;
    int i = target_member(s, cmd, out);
    if (i < 0)
        return;
    enum tix_org_role role = s->members[i].role;
    if (role == TIX_ORG_ROLE_OWNER && !may_manage(s, &a, true)) {
        tix_decision_reject(out, "forbidden", "user_id", "only an owner may remove an owner");
        return;
    }
    if (role == TIX_ORG_ROLE_OWNER && count_owners(s) == 1) {
        tix_decision_reject(out, "last_owner", "user_id", "the last owner cannot be removed");
        return;
    }
    emit_org(out, cmd, "organization.member_removed",
             json_pack("{s:s, s:s, s:s}", "organization_id", cmd->key, "user_id",
                       s->members[i].user_id, "role", tix_org_role_name(role)));
}

static void decide_suspend(const struct tix_command *cmd, const struct tix_view *view,
                           struct tix_decision *out)
{
    struct tix_actor a;
    const struct tix_org_state *s = load_org(cmd, view, ACCESS_SYSTEM, true, &a, out);
    if (s == NULL)
        return;
    if (s->is_suspended) {
        tix_decision_reject(out, "already_suspended", NULL, "the organization is suspended");
        return;
    }
    char reason[TIX_ORG_REASON_MAX_CHARS * 4 + 1];
    trimmed_copy(json_object_get(cmd->payload, "reason"), reason, sizeof(reason));
    emit_org(out, cmd, "organization.suspended",
             json_pack("{s:s, s:s}", "organization_id", cmd->key, "reason", reason));
}

static void decide_reinstate(const struct tix_command *cmd, const struct tix_view *view,
                             struct tix_decision *out)
{
    struct tix_actor a;
    const struct tix_org_state *s = load_org(cmd, view, ACCESS_SYSTEM, true, &a, out);
    if (s == NULL)
        return;
    if (!s->is_suspended) {
        tix_decision_reject(out, "not_suspended", NULL, "the organization is not suspended");
        return;
    }
    emit_org(out, cmd, "organization.reinstated", json_pack("{s:s}", "organization_id", cmd->key));
}

static void decide_close(const struct tix_command *cmd, const struct tix_view *view,
                         struct tix_decision *out)
{
    struct tix_actor a;
    const struct tix_org_state *s = load_org(cmd, view, ACCESS_ADMIN, true, &a, out);
    if (s == NULL)
        return;
    if (!a.is_system && !may_manage(s, &a, true)) {
        tix_decision_reject(out, "forbidden", NULL, "only an owner closes an organization");
        return;
    }
    emit_org(out, cmd, "organization.closed",
             json_pack("{s:s, s:s}", "organization_id", cmd->key, "closed_by", cmd->actor));
}

const struct tix_command_handler tix_organization_handlers[] = {
    {"organization.create", create_streams, decide_create},
    {"organization.rename", rename_streams, decide_rename},
    {"organization.change_settings", settings_streams, decide_change_settings},
    {"organization.add_member", member_role_streams, decide_add_member},
    {"organization.change_member_role", member_role_streams, decide_change_member_role},
    {"organization.remove_member", member_streams, decide_remove_member},
    {"organization.suspend", suspend_streams, decide_suspend},
    {"organization.reinstate", id_streams, decide_reinstate},
    {"organization.close", id_streams, decide_close},
    {NULL, NULL, NULL},
};

/* ---- evolve: the organization stream ---------------------------------------------------- */

static void *org_create(void)
{
    struct tix_org_state *s = tix_xcalloc(1, sizeof(*s));
    s->settings = json_object();
    return s;
}

static void org_destroy(void *p)
{
    struct tix_org_state *s = p;
    if (s == NULL)
        return;
    json_decref(s->settings);
    free(s->members);
    free(s);
}

static enum tix_rc apply_created(struct tix_org_state *s, const json_t *data)
{
    const char *id = tix_payload_str_fitting(data, "organization_id", sizeof(s->id));
    const char *name = tix_payload_str_fitting(data, "name", sizeof(s->name));
    const char *slug = tix_payload_str_fitting(data, "slug", sizeof(s->slug));
    const char *type = tix_payload_str_fitting(data, "type", sizeof(s->type));
    const json_t *settings = json_object_get(data, "settings");
    if (s->exists || id == NULL || name == NULL || slug == NULL || type == NULL ||
        !json_is_object(settings))
        return TIX_EINVAL;
    s->exists = true;
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->slug, sizeof(s->slug), "%s", slug);
    snprintf(s->type, sizeof(s->type), "%s", type);
    json_decref(s->settings);
    s->settings = json_deep_copy(settings);
    return TIX_OK;
}

static enum tix_rc apply_renamed(struct tix_org_state *s, const json_t *data)
{
    const char *name = tix_payload_str_fitting(data, "name", sizeof(s->name));
    if (name == NULL)
        return TIX_EINVAL;
    snprintf(s->name, sizeof(s->name), "%s", name);
    return TIX_OK;
}

static enum tix_rc apply_settings_changed(struct tix_org_state *s, const json_t *data)
{
    const json_t *settings = json_object_get(data, "settings");
    if (!json_is_object(settings))
        return TIX_EINVAL;
    json_decref(s->settings);
    s->settings = json_deep_copy(settings);
    return TIX_OK;
}

/* The member named by data's user_id (-1 when absent) and data's role (-1 when absent or
 * unknown); false when user_id is not a UUID. */
static bool read_member(const struct tix_org_state *s, const json_t *data, int *index, int *role)
{
    const char *user_id = tix_payload_str_fitting(data, "user_id", TIX_UUID_LEN + 1);
    if (user_id == NULL || !tix_uuid_is_valid(user_id))
        return false;
    *index = find_member(s, user_id);
    *role = tix_org_role_parse(tix_json_str(data, "role"));
    return true;
}

static enum tix_rc apply_member_added(struct tix_org_state *s, const json_t *data)
{
    int i, role;
    if (!read_member(s, data, &i, &role) || i >= 0 || role < 0)
        return TIX_EINVAL;
    if (s->n_members == s->cap_members) {
        s->cap_members = s->cap_members == 0 ? 4 : s->cap_members * 2;
        s->members = tix_xrealloc(s->members, (size_t)s->cap_members * sizeof(s->members[0]));
    }
    struct tix_org_member *m = &s->members[s->n_members++];
    snprintf(m->user_id, sizeof(m->user_id), "%s", tix_json_str(data, "user_id"));
    m->role = (enum tix_org_role)role;
    return TIX_OK;
}

static enum tix_rc apply_member_role_changed(struct tix_org_state *s, const json_t *data)
{
    int i, role;
    if (!read_member(s, data, &i, &role) || i < 0 || role < 0)
        return TIX_EINVAL;
    s->members[i].role = (enum tix_org_role)role;
    return TIX_OK;
}

static enum tix_rc apply_member_removed(struct tix_org_state *s, const json_t *data)
{
    int i, role;
    if (!read_member(s, data, &i, &role) || i < 0)
        return TIX_EINVAL;
    memmove(&s->members[i], &s->members[i + 1],
            (size_t)(s->n_members - i - 1) * sizeof(s->members[0]));
    s->n_members--;
    return TIX_OK;
}

static enum tix_rc apply_suspended(struct tix_org_state *s, const json_t *data)
{
    if (!json_is_string(json_object_get(data, "reason")))
        return TIX_EINVAL;
    s->is_suspended = true;
    return TIX_OK;
}

static enum tix_rc apply_reinstated(struct tix_org_state *s, const json_t *data)
{
    s->is_suspended = false;
    return TIX_OK;
}

static enum tix_rc apply_closed(struct tix_org_state *s, const json_t *data)
{
    if (!json_is_string(json_object_get(data, "closed_by")))
        return TIX_EINVAL;
    s->is_closed = true;
    return TIX_OK;
}

static const struct {
    const char *type;
    enum tix_rc (*apply)(struct tix_org_state *s, const json_t *data);
} org_appliers[] = {
    {"organization.created", apply_created},
    {"organization.renamed", apply_renamed},
    {"organization.settings_changed", apply_settings_changed},
    {"organization.member_added", apply_member_added},
    {"organization.member_role_changed", apply_member_role_changed},
    {"organization.member_removed", apply_member_removed},
    {"organization.suspended", apply_suspended},
    {"organization.reinstated", apply_reinstated},
    {"organization.closed", apply_closed},
};

static enum tix_rc org_evolve(void *p, const char *type, int schema_version, const json_t *data)
{
    struct tix_org_state *s = p;
    for (size_t i = 0; i < sizeof(org_appliers) / sizeof(org_appliers[0]); i++) {
        if (strcmp(type, org_appliers[i].type) != 0)
            continue;
        if (schema_version != 1 || !json_is_object(data))
            return TIX_EINVAL;
        if (org_appliers[i].apply != apply_created) {
            const char *id = tix_json_str(data, "organization_id");
            if (!s->exists || id == NULL || strcmp(id, s->id) != 0)
                return TIX_EINVAL;
        }
        return org_appliers[i].apply(s, data);
    }
    return TIX_OK;
}

const struct tix_stream_kind tix_organization_stream_kind = {
    .prefix = TIX_ORG_STREAM_PREFIX,
    .create = org_create,
    .destroy = org_destroy,
    .evolve = org_evolve,
};

/* ---- evolve: the slug claim stream ------------------------------------------------------ */

static void *slug_create(void)
{
    return tix_xcalloc(1, sizeof(struct tix_orgslug_state));
}

static void slug_destroy(void *p)
{
    free(p);
}

static enum tix_rc slug_evolve(void *p, const char *type, int schema_version, const json_t *data)
{
    struct tix_orgslug_state *s = p;
    if (strcmp(type, "organization.slug_claimed") != 0)
        return TIX_OK;
    if (schema_version != 1 || !json_is_object(data))
        return TIX_EINVAL;
    const char *id = tix_payload_str_fitting(data, "organization_id", sizeof(s->organization_id));
    if (s->is_claimed || id == NULL || !tix_uuid_is_valid(id) ||
        !tix_payload_is_plain_string(json_object_get(data, "slug")))
        return TIX_EINVAL;
    s->is_claimed = true;
    snprintf(s->organization_id, sizeof(s->organization_id), "%s", id);
    return TIX_OK;
}

const struct tix_stream_kind tix_orgslug_stream_kind = {
    .prefix = TIX_SLUG_STREAM_PREFIX,
    .create = slug_create,
    .destroy = slug_destroy,
    .evolve = slug_evolve,
    .is_shared = true,
};
