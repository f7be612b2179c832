/* http_orgs.c - organizations and their members
 *
 * Reads come from the organizations read model; writes become organization.* commands decided
 * by the organization aggregate, which also enforces the finer rules (only an owner grants or
 * revokes the owner role; the last owner stays). Access (membership, role, other
 * organizations' data) is checked by the route table before these handlers run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "gateway.h"
#include "routes.h"

static const char org_columns[] =
    "SELECT o.id, o.name, o.slug, o.type, o.settings::text, o.is_suspended, "
    "to_json(o.created_at)#>>'{}', to_json(o.updated_at)#>>'{}', o.version";

static json_t *org_json(PGresult *res, int i)
{
    const char *settings = PQgetvalue(res, i, 4);
    json_t *s = tix_json_parse(settings, strlen(settings), NULL);
    return json_pack("{ss ss ss ss so sb ss ss sI}", "id", PQgetvalue(res, i, 0), "name",
                     PQgetvalue(res, i, 1), "slug", PQgetvalue(res, i, 2), "type",
                     PQgetvalue(res, i, 3), "settings", s != NULL ? s : json_object(),
                     "is_suspended", strcmp(PQgetvalue(res, i, 5), "t") == 0, "created_at",
                     PQgetvalue(res, i, 6), "updated_at", PQgetvalue(res, i, 7), "version",
                     (json_int_t)strtoll(PQgetvalue(res, i, 8), NULL, 10));
}

void tix_http_orgs_list(struct tix_req *req)
{
    PGresult *res = NULL;
    char sql[512];
    bool is_key = req->who.kind == TIX_PRINCIPAL_APIKEY;
    snprintf(sql, sizeof(sql), "%s, %s FROM rm.organizations o %s ORDER BY o.name, o.id",
             org_columns, is_key ? "'apikey'" : "m.role",
             is_key ? "WHERE o.id = $1::uuid AND NOT o.is_closed"
                    : "JOIN rm.organization_members m ON m.organization_id = o.id AND "
                      "m.user_id = $1::uuid WHERE NOT o.is_closed");
    const char *params[] = {is_key ? req->who.org_id : req->who.id};
    if (!tix_gw_read(req, sql, 1, params, &res))
        return;
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *o = org_json(res, i);
        json_object_set_new(o, "my_role", json_string(PQgetvalue(res, i, 9)));
        json_array_append_new(items, o);
    }
    PQclear(res);
    tix_gw_reply_json(req, 200, json_pack("{so}", "items", items));
}

void tix_http_org_get(struct tix_req *req)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "%s FROM rm.organizations o WHERE o.id = $1 AND NOT o.is_closed",
             org_columns);
    const char *params[] = {tix_gw_param(req, "id")};
    PGresult *res = NULL;
    if (!tix_gw_read(req, sql, 1, params, &res))
        return;
    if (PQntuples(res) == 0) {
        PQclear(res);
        tix_gw_problem(req, 404, "not-found", "no such organization");
        return;
    }
    json_t *o = org_json(res, 0);
    PQclear(res);
    json_object_set_new(o, "my_role", json_string(tix_gw_role_name(req->who.org_role)));
    tix_gw_reply_json(req, 200, o);
}

static json_t *created_org(struct tix_req *req, const json_t *outcome, void *ctx)
{
    (void)ctx;
    const char *id = tix_json_str(json_object_get(outcome, "result"), "organization_id");
    char location[96];
    snprintf(location, sizeof(location), "/api/v1/organizations/%s", id ? id : "");
    tix_gw_header(req, "Location", location);
    return json_pack("{ss ss}", "id", id ? id : "", "status", "created");
}

void tix_http_org_create(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"name", TIX_F_STRING, true, 1, 200},
                                              {"slug", TIX_F_STRING, true, 3, 63},
                                              {"type", TIX_F_STRING, true, 1, 16},
                                              {"settings", TIX_F_OBJECT, false, 0, 0},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return;
    char id[TIX_UUID_LEN + 1];
    tix_uuid_v7(id);
    json_object_set_new(body, "organization_id", json_string(id));
    struct tix_gw_command cmd = {.type = "organization.create",
                                 .key = id,
                                 .payload = body,
                                 .success_status = 201,
                                 .on_success = created_org};
    tix_gw_submit(req, &cmd);
}

/* Sends type for the organization in the path with body's fields plus organization_id. */
static void org_command(struct tix_req *req, const char *type, json_t *payload)
{
    const char *org = tix_gw_param(req, "id");
    json_object_set_new(payload, "organization_id", json_string(org));
    const char *user = tix_gw_param(req, "userId");
    if (user != NULL)
        json_object_set_new(payload, "user_id", json_string(user));
    struct tix_gw_command cmd = {
        .type = type, .key = org, .payload = payload, .success_status = 200};
    tix_gw_submit(req, &cmd);
}

void tix_http_org_update(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"name", TIX_F_STRING, true, 1, 200},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body != NULL)
        org_command(req, "organization.rename", body);
}

void tix_http_org_settings(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"settings", TIX_F_OBJECT, true, 0, 0},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body != NULL)
        org_command(req, "organization.change_settings", body);
}

void tix_http_members_list(struct tix_req *req)
{
    const char *params[] = {tix_gw_param(req, "id")};
    PGresult *res = NULL;
    if (!tix_gw_read(
            req,
            "SELECT user_id, role, to_json(added_at)#>>'{}', to_json(updated_at)#>>'{}' FROM "
            "rm.organization_members WHERE "
            "organization_id = $1 ORDER BY added_at, user_id",
            1, params, &res))
        return;
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(items,
                              json_pack("{ss ss ss ss}", "user_id", PQgetvalue(res, i, 0), "role",
                                        PQgetvalue(res, i, 1), "added_at", PQgetvalue(res, i, 2),
                                        "updated_at", PQgetvalue(res, i, 3)));
    PQclear(res);
    tix_gw_reply_json(req, 200, json_pack("{so}", "items", items));
}

void tix_http_member_add(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"user_id", TIX_F_UUID, true, 0, 0},
                                              {"role", TIX_F_STRING, true, 1, 16},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body != NULL)
        org_command(req, "organization.add_member", body);
}

void tix_http_member_update(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"role", TIX_F_STRING, true, 1, 16},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body != NULL)
        org_command(req, "organization.change_member_role", body);
}

void tix_http_member_remove(struct tix_req *req)
{
    const char *user = tix_gw_param(req, "userId");
    if (!tix_uuid_is_valid(user)) {
        tix_gw_problem(req, 404, "not-found", "no such member");
        return;
    }
    org_command(req, "organization.remove_member", json_object());
}

void tix_http_org_close(struct tix_req *req)
{
    org_command(req, "organization.close", json_object());
}
