/* auth.c - who is calling, and may they call this route: checked here, once, for every route
 *
 * Credentials arrive as "Authorization: Bearer <credential>": an access JWT (HS256, typ
 * "access") or an API key "tixmo_<key id>_<secret>" (stored as a BLAKE2b hash, compared in
 * constant time). Organization routes resolve the caller's role in the organization named by
 * the path parameter "id" from the members read model: a non-member gets 404 (an organization
 * the caller can't see does not exist for them), a member below the route's role gets 403.
 * Event routes do the same in the organization that owns the event in "eventId" (rm.events).
 * An API key acts only inside its own organization and only with the route's scope.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/jwt.h"
#include "tix/redis.h"

#include "gateway.h"

static const char *const role_names[] = {"customer", "scanner", "promoter", "admin", "owner"};

const char *tix_gw_role_name(enum tix_gw_role role)
{
    return role_names[role];
}

int tix_gw_role_parse(const char *s)
{
    for (int i = 0; s != NULL && i < 5; i++)
        if (strcmp(role_names[i], s) == 0)
            return i;
    return -1;
}

static bool unauthorized(struct tix_req *req, const char *detail)
{
    tix_gw_header(req, "WWW-Authenticate", "Bearer realm=\"tixmo\"");
    tix_gw_problem(req, 401, "unauthorized", detail);
    return false;
}

static bool from_jwt(struct tix_req *req, const char *token)
{
    json_t *claims = NULL;
    struct tix_err err;
    const struct tix_gw *gw = req->th->gw;
    if (tix_jwt_verify(token, gw->jwt_key, gw->jwt_key_len, tix_now_us() / 1000000, &claims,
                       &err) != TIX_OK)
        return unauthorized(req, err.msg);
    const char *sub = tix_json_str(claims, "sub"), *typ = tix_json_str(claims, "typ");
    const char *sid = tix_json_str(claims, "sid");
    bool ok = tix_uuid_is_valid(sub) && typ != NULL && strcmp(typ, "access") == 0;
    if (ok) {
        req->who.kind = TIX_PRINCIPAL_USER;
        snprintf(req->who.id, sizeof(req->who.id), "%s", sub);
        snprintf(req->who.session_id, sizeof(req->who.session_id), "%s", sid ? sid : "");
        snprintf(req->who.actor, sizeof(req->who.actor), "user:%s", sub);
    }
    json_decref(claims);
    return ok ? true : unauthorized(req, "not an access token");
}

/* "tixmo_<uuid>_<secret>" -> the key's row; constant-time hash compare. */
static bool from_api_key(struct tix_req *req, const char *key)
{
    char id[TIX_UUID_LEN + 1];
    const char *secret = strlen(key) > 6 + TIX_UUID_LEN + 1 ? key + 6 + TIX_UUID_LEN + 1 : "";
    snprintf(id, sizeof(id), "%.*s", TIX_UUID_LEN, key + 6);
    if (!tix_uuid_is_valid(id) || key[6 + TIX_UUID_LEN] != '_' || strlen(secret) < 20)
        return unauthorized(req, "malformed API key");
    const char *params[] = {id};
    PGresult *res = NULL;
    if (tix_db_exec_prepared(
            req->th->db, "gw_api_key",
            "SELECT k.organization_id, k.scopes, k.secret_hash FROM rm.api_keys k JOIN "
            "rm.organizations o ON o.id = k.organization_id WHERE k.id = $1 AND "
            "k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()) AND "
            "NOT o.is_closed",
            1, params, &res, NULL) != TIX_OK) {
        tix_gw_problem(req, 503, "unavailable", "credentials can't be checked right now");
        return false;
    }
    unsigned char h[32];
    char hex[65];
    crypto_generichash(h, sizeof(h), (const unsigned char *)secret, strlen(secret), NULL, 0);
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    bool ok = PQntuples(res) == 1 && strlen(PQgetvalue(res, 0, 2)) == 64 &&
              sodium_memcmp(hex, PQgetvalue(res, 0, 2), 64) == 0;
    if (ok) {
        req->who.kind = TIX_PRINCIPAL_APIKEY;
        snprintf(req->who.id, sizeof(req->who.id), "%s", id);
        snprintf(req->who.org_id, sizeof(req->who.org_id), "%s", PQgetvalue(res, 0, 0));
        snprintf(req->who.scopes, sizeof(req->who.scopes), "%s", PQgetvalue(res, 0, 1));
        snprintf(req->who.actor, sizeof(req->who.actor), "apikey:%s", id);
        if (req->th->redis != NULL)
            tix_redis_cmd(req->th->redis, NULL, NULL, "SET tix:apikey:used:%s %lld", id,
                          (long long)(tix_now_us() / 1000000));
    }
    PQclear(res);
    return ok ? true : unauthorized(req, "unknown or revoked API key");
}

bool tix_gw_authenticate(struct tix_req *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req->ev), "Authorization");
    bool is_public = req->route->auth == TIX_AUTH_PUBLIC;
    if (h == NULL)
        return is_public ? true : unauthorized(req, "authentication required");
    if (strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0')
        return is_public ? true : unauthorized(req, "use Authorization: Bearer <token>");
    const char *cred = h + 7;
    if (is_public)
        return true; /* public routes ignore credentials: login must work with a stale token */
    return strncmp(cred, "tixmo_", 6) == 0 ? from_api_key(req, cred) : from_jwt(req, cred);
}

static bool has_scope(const struct tix_principal *who, const char *scope)
{
    size_t n = strlen(scope);
    for (const char *p = who->scopes; (p = strstr(p, scope)) != NULL; p += n)
        if ((p == who->scopes || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return true;
    return false;
}

/* The caller's role in org (users), from the members read model. */
static int member_role(struct tix_req *req, const char *org)
{
    const char *params[] = {org, req->who.id};
    PGresult *res = NULL;
    if (tix_db_exec_prepared(
            req->th->db, "gw_member_role",
            "SELECT m.role FROM rm.organization_members m JOIN rm.organizations o ON "
            "o.id = m.organization_id WHERE m.organization_id = $1 AND m.user_id = $2 AND "
            "NOT o.is_closed",
            2, params, &res, NULL) != TIX_OK)
        return -2;
    int role = PQntuples(res) == 1 ? tix_gw_role_parse(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return role;
}

/* The organization owning event (not deleted) into org; false when none (or -2 via *is_down). */
static bool event_org(struct tix_req *req, const char *event, char org[40], bool *is_down)
{
    *is_down = false;
    if (event == NULL || !tix_uuid_is_valid(event))
        return false;
    const char *params[] = {event};
    PGresult *res = NULL;
    if (tix_db_exec_prepared(req->th->db, "gw_event_org",
                             "SELECT organization_id FROM rm.events WHERE id = $1 AND "
                             "NOT is_deleted",
                             1, params, &res, NULL) != TIX_OK) {
        *is_down = true;
        return false;
    }
    bool found = PQntuples(res) == 1;
    if (found)
        snprintf(org, 40, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return found;
}

int tix_gw_event_role(struct tix_req *req, const char *event_id)
{
    char org[40];
    bool is_down = false;
    if (!event_org(req, event_id, org, &is_down))
        return is_down ? -2 : TIX_ROLE_CUSTOMER;
    if (req->who.kind == TIX_PRINCIPAL_APIKEY)
        return strcmp(req->who.org_id, org) == 0 ? TIX_ROLE_ADMIN : TIX_ROLE_CUSTOMER;
    int role = member_role(req, org);
    return role == -1 ? TIX_ROLE_CUSTOMER : role;
}

/* The route's role check inside org; what names the resource a stranger must not see. */
static bool authorize_in(struct tix_req *req, const char *org, const char *what)
{
    if (req->who.kind == TIX_PRINCIPAL_APIKEY) {
        req->who.org_role = TIX_ROLE_ADMIN;
        if (strcmp(req->who.org_id, org) == 0)
            return true;
        tix_gw_problem(req, 404, "not-found", what);
        return false;
    }
    int role = member_role(req, org);
    if (role == -2) {
        tix_gw_problem(req, 503, "unavailable", "access can't be checked right now");
        return false;
    }
    if (role < 0) {
        tix_gw_problem(req, 404, "not-found", what);
        return false;
    }
    req->who.org_role = (enum tix_gw_role)role;
    if (role >= (int)req->route->min_role)
        return true;
    char detail[128];
    snprintf(detail, sizeof(detail), "this needs the %s role or higher in the organization",
             tix_gw_role_name(req->route->min_role));
    tix_gw_problem(req, 403, "forbidden", detail);
    return false;
}

static bool authorize_org(struct tix_req *req)
{
    const char *org = tix_gw_param(req, "id");
    if (org == NULL || !tix_uuid_is_valid(org)) {
        tix_gw_problem(req, 404, "not-found", "no such organization");
        return false;
    }
    return authorize_in(req, org, "no such organization");
}

/* Event routes: the role in the organization that owns the event in path parameter eventId. */
static bool authorize_event(struct tix_req *req)
{
    char org[40];
    bool is_down = false;
    if (event_org(req, tix_gw_param(req, "eventId"), org, &is_down))
        return authorize_in(req, org, "no such event");
    if (is_down)
        tix_gw_problem(req, 503, "unavailable", "access can't be checked right now");
    else
        tix_gw_problem(req, 404, "not-found", "no such event");
    return false;
}

bool tix_gw_authorize(struct tix_req *req)
{
    if (req->route->auth == TIX_AUTH_PUBLIC)
        return true;
    if (req->who.kind == TIX_PRINCIPAL_APIKEY &&
        (req->route->scope == NULL || !has_scope(&req->who, req->route->scope))) {
        tix_gw_problem(req, 403, "forbidden", "this API key lacks the scope for this route");
        return false;
    }
    if (req->route->auth == TIX_AUTH_ORG)
        return authorize_org(req);
    return req->route->auth == TIX_AUTH_EVENT ? authorize_event(req) : true;
}
