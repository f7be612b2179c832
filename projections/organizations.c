/* organizations.c - read model of organizations and their members
 *
 * Tables: organizations (one row per organization, with its current name, slug, type,
 * settings, suspension and stream version) and organization_members. Times come from the
 * events' recorded_at, so a replay from zero writes identical rows.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "projection.h"

static const char ddl[] =
    "CREATE TABLE IF NOT EXISTS organizations ("
    " id uuid PRIMARY KEY, name text NOT NULL, slug text NOT NULL UNIQUE, type text NOT NULL,"
    " settings jsonb NOT NULL DEFAULT '{}', is_suspended boolean NOT NULL DEFAULT false,"
    " suspended_reason text, created_by text NOT NULL, created_at timestamptz NOT NULL,"
    " updated_at timestamptz NOT NULL, version bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS organization_members ("
    " organization_id uuid NOT NULL, user_id uuid NOT NULL, role text NOT NULL,"
    " added_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,"
    " PRIMARY KEY (organization_id, user_id));"
    "CREATE INDEX IF NOT EXISTS organization_members_user ON organization_members (user_id);"
    /* columns added after the first release: every version gets them at start-up, only when
     * missing (an ALTER takes an exclusive lock even when it has nothing to do) */
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = 'organizations'"
    " AND column_name = 'is_closed') THEN ALTER TABLE organizations ADD COLUMN is_closed boolean "
    "NOT NULL DEFAULT false; END IF; END $$;"
    /* the gateway caches roles: tell it which changed, and which organization closed
       (schema/008) */
    "CREATE OR REPLACE TRIGGER organization_members_notify"
    " AFTER INSERT OR UPDATE OR DELETE ON organization_members"
    " FOR EACH ROW EXECUTE FUNCTION public.tix_rm_notify('organization_id', 'user_id');"
    "CREATE OR REPLACE TRIGGER organizations_notify AFTER UPDATE OF is_closed ON organizations"
    " FOR EACH ROW WHEN (OLD.is_closed IS DISTINCT FROM NEW.is_closed)"
    " EXECUTE FUNCTION public.tix_rm_notify('id');";

static const char *const tables[] = {"organizations", "organization_members", NULL};

/* Every statement also bumps the organization's version and updated_at. */
static const char touch_sql[] =
    "UPDATE organizations SET version = $2, updated_at = $3 WHERE id = $1::uuid";

static void on_created(const json_t *d, const char *at, const char *ver, struct tix_stmts *out)
{
    char *settings = tix_json_dump(json_object_get(d, "settings"));
    tix_stmts_add(out,
                  "INSERT INTO organizations (id, name, slug, type, settings, created_by,"
                  " created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7,"
                  " $7, $8) ON CONFLICT (id) DO NOTHING",
                  8, tix_json_str(d, "organization_id"), tix_json_str(d, "name"),
                  tix_json_str(d, "slug"), tix_json_str(d, "type"),
                  settings != NULL && strcmp(settings, "null") != 0 ? settings : "{}",
                  tix_json_str(d, "created_by") ? tix_json_str(d, "created_by") : "", at, ver);
    free(settings);
}

static void on_member(const char *type, const json_t *d, const char *at, struct tix_stmts *out)
{
    const char *org = tix_json_str(d, "organization_id");
    const char *user = tix_json_str(d, "user_id");
    if (strcmp(type, "organization.member_added") == 0)
        tix_stmts_add(
            out,
            "INSERT INTO organization_members (organization_id, user_id, role, added_at,"
            " updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (organization_id,"
            " user_id) DO UPDATE SET role = EXCLUDED.role, updated_at = EXCLUDED.updated_at",
            4, org, user, tix_json_str(d, "role"), at);
    else if (strcmp(type, "organization.member_role_changed") == 0)
        tix_stmts_add(out,
                      "UPDATE organization_members SET role = $3, updated_at = $4 WHERE"
                      " organization_id = $1 AND user_id = $2",
                      4, org, user, tix_json_str(d, "role"), at);
    else
        tix_stmts_add(out,
                      "DELETE FROM organization_members WHERE organization_id = $1 AND"
                      " user_id = $2",
                      2, org, user);
}

static void on_change(const char *type, const json_t *d, struct tix_stmts *out)
{
    const char *org = tix_json_str(d, "organization_id");
    if (strcmp(type, "organization.renamed") == 0) {
        tix_stmts_add(out, "UPDATE organizations SET name = $2 WHERE id = $1", 2, org,
                      tix_json_str(d, "name"));
    } else if (strcmp(type, "organization.settings_changed") == 0) {
        char *settings = tix_json_dump(json_object_get(d, "settings"));
        tix_stmts_add(out, "UPDATE organizations SET settings = $2::jsonb WHERE id = $1", 2, org,
                      settings);
        free(settings);
    } else if (strcmp(type, "organization.suspended") == 0) {
        tix_stmts_add(out,
                      "UPDATE organizations SET is_suspended = true, suspended_reason = $2"
                      " WHERE id = $1",
                      2, org, tix_json_str(d, "reason"));
    } else if (strcmp(type, "organization.closed") == 0) {
        tix_stmts_add(out, "UPDATE organizations SET is_closed = true WHERE id = $1", 1, org);
    } else if (strcmp(type, "organization.reinstated") == 0) {
        tix_stmts_add(out,
                      "UPDATE organizations SET is_suspended = false, suspended_reason = NULL"
                      " WHERE id = $1",
                      1, org);
    }
}

static enum tix_rc apply(const struct tix_event *e, struct tix_stmts *out)
{
    if (strncmp(e->type, "organization.", 13) != 0 ||
        strcmp(e->type, "organization.slug_claimed") == 0)
        return TIX_OK;
    json_t *d = tix_json_parse(e->data, strlen(e->data), NULL);
    if (d == NULL || !tix_uuid_is_valid(tix_json_str(d, "organization_id"))) {
        json_decref(d);
        return TIX_EINVAL;
    }
    char at[32], ver[24];
    tix_time_format(e->recorded_at_us, at);
    snprintf(ver, sizeof(ver), "%" PRId64, e->stream_version);
    if (strcmp(e->type, "organization.created") == 0)
        on_created(d, at, ver, out);
    else if (strncmp(e->type, "organization.member_", 20) == 0)
        on_member(e->type, d, at, out);
    else
        on_change(e->type, d, out);
    tix_stmts_add(out, touch_sql, 3, tix_json_str(d, "organization_id"), ver, at);
    json_decref(d);
    return TIX_OK;
}

const struct tix_projection tix_projection_organizations = {
    .name = "organizations",
    .source = TIX_SOURCE_EVENTS,
    .ddl = ddl,
    .tables = tables,
    .apply = apply,
};
