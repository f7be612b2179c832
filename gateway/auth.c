/* auth.c - who is calling, and may they call this route: checked here, once, for every route
 *
 * Credentials arrive as "Authorization: Bearer <credential>": an access JWT (HS256, typ
 * "access") or an API key "tixmo_<key id>_<secret>" (stored as a BLAKE2b hash, compared in
 * constant time). Organization routes resolve the caller's role in the organization named by
 * the path parameter "id" from the members read model: a non-member gets 404 (an organization
 * the caller can't see does not exist for them), a member below the route's role gets 403.
 * Event routes do the same in the organization that owns the event in "eventId" (rm.events).
 * An API key acts only inside its own organization and only with the route's scope.
 *
 * Key rows and roles are read through the thread's cache (gateway/cache.c), never blocking the
 * loop: a revoked key, a changed role, a closed organization drop the cached row as soon as
 * Postgres' notification of the read-model change arrives. A key's expiry is compared here at
 * every request, so a cached key still expires on time.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/jwt.h"
#include "tix/aredis.h"
#include "tix/mem.h"

#include "pipeline.h"

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

static enum tix_gw_step unauthorized(struct tix_req *req, const char *detail)
{
    tix_gw_header(req, "WWW-Authenticate", "Bearer realm=\"tixmo\"");
    tix_gw_problem(req, 401, "unauthorized", detail);
    return TIX_STEP_ANSWERED;
}

static void session_cb(struct tix_req *req, const PGresult *res, void *ctx)
{
    (void)ctx;
    if (res == NULL) {
        tix_gw_problem(req, 503, "unavailable", "credentials can't be checked right now");
        return;
    }
    if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        unauthorized(req, "this session has ended (logged out or revoked): log in again");
        return;
    }
    tix_gw_continue(req);
}

/* An access token dies with its session: a family that was logged out or revoked (reuse of a
 * rotated refresh token, password change, erasure) refuses its access tokens at once, not when
 * they expire. A family the read model does not know yet (a login a few milliseconds old) is
 * not refused: only a recorded revocation is. */
static enum tix_gw_step check_session(struct tix_req *req)
{
    const char *sid = req->who.session_id;
    if (!tix_uuid_is_valid(sid))
        return TIX_STEP_NEXT;
    const char *params[] = {sid};
    tix_gw_read_cached(req, TIX_CACHE_SESSION, sid, -1, "gw_session_revoked",
                       "SELECT is_revoked FROM rm.sessions WHERE family_id = $1::uuid", 1, params,
                       session_cb, NULL);
    return TIX_STEP_WAITING;
}

static enum tix_gw_step from_jwt(struct tix_req *req, const char *token)
{
    json_t *claims = NULL;
    struct tix_err err;
    const struct tix_gw *gw = req->th->gw;
    int64_t now_s = tix_now_us() / 1000000;
    if (tix_gw_cache_token_get(req->th->cache, token, now_s, &req->who))
        return check_session(req);
    if (tix_jwt_verify(token, gw->jwt_key, gw->jwt_key_len, now_s, &claims, &err) != TIX_OK)
        return unauthorized(req, err.msg);
    const char *sub = tix_json_str(claims, "sub"), *typ = tix_json_str(claims, "typ");
    const char *sid = tix_json_str(claims, "sid");
    bool ok = tix_uuid_is_valid(sub) && typ != NULL && strcmp(typ, "access") == 0;
    if (ok) {
        req->who.kind = TIX_PRINCIPAL_USER;
        snprintf(req->who.id, sizeof(req->who.id), "%s", sub);
        snprintf(req->who.session_id, sizeof(req->who.session_id), "%s", sid ? sid : "");
        snprintf(req->who.actor, sizeof(req->who.actor), "user:%s", sub);
        tix_gw_cache_token_put(req->th->cache, token,
                               (int64_t)json_integer_value(json_object_get(claims, "exp")),
                               &req->who);
    }
    json_decref(claims);
    return ok ? check_session(req) : unauthorized(req, "not an access token");
}

/* A key's row: organization, scopes, secret hash, expiry in Unix milliseconds ("" = never).
 * Expiry is compared here, not in SQL, so the row can be cached (gateway/cache.c). */
static const char api_key_sql[] =
    "SELECT k.organization_id, k.scopes, k.secret_hash, "
    "COALESCE(floor(extract(epoch FROM k.expires_at) * 1000)::bigint::text, '') "
    "FROM rm.api_keys k JOIN rm.organizations o ON o.id = k.organization_id "
    "WHERE k.id = $1 AND k.revoked_at IS NULL AND NOT o.is_closed";

struct key_check {
    char id[TIX_UUID_LEN + 1];
    unsigned char hash[32]; /* of the secret presented */
};

static bool is_live_key(const PGresult *res, const struct key_check *k)
{
    if (PQntuples(res) != 1 || strlen(PQgetvalue(res, 0, 2)) != 64)
        return false;
    const char *expires = PQgetvalue(res, 0, 3);
    if (expires[0] != '\0' && tix_now_us() / 1000 >= strtoll(expires, NULL, 10))
        return false;
    char hex[65];
    sodium_bin2hex(hex, sizeof(hex), k->hash, sizeof(k->hash));
    return sodium_memcmp(hex, PQgetvalue(res, 0, 2), 64) == 0;
}

static void api_key_cb(struct tix_req *req, const PGresult *res, void *ctx)
{
    struct key_check *k = ctx;
    if (res == NULL) {
        free(k);
        tix_gw_problem(req, 503, "unavailable", "credentials can't be checked right now");
        return;
    }
    if (!is_live_key(res, k)) {
        free(k);
        unauthorized(req, "unknown or revoked API key");
        return;
    }
    req->who.kind = TIX_PRINCIPAL_APIKEY;
    snprintf(req->who.id, sizeof(req->who.id), "%s", k->id);
    snprintf(req->who.org_id, sizeof(req->who.org_id), "%s", PQgetvalue(res, 0, 0));
    snprintf(req->who.scopes, sizeof(req->who.scopes), "%s", PQgetvalue(res, 0, 1));
    snprintf(req->who.actor, sizeof(req->who.actor), "apikey:%s", k->id);
    free(k);
    if (req->th->aredis != NULL) {
        char key[64], now[24];
        snprintf(key, sizeof(key), "tix:apikey:used:%s", req->who.id);
        snprintf(now, sizeof(now), "%lld", (long long)(tix_now_us() / 1000000));
        const char *argv[] = {"SET", key, now};
        tix_aredis_cmd_argv(req->th->aredis, 3, argv, NULL, NULL, NULL); /* nobody waits */
    }
    tix_gw_continue(req);
}

/* "tixmo_<uuid>_<secret>" -> the key's row (cached); constant-time hash compare. */
static enum tix_gw_step from_api_key(struct tix_req *req, const char *key)
{
    char id[TIX_UUID_LEN + 1];
    const char *secret = strlen(key) > 6 + TIX_UUID_LEN + 1 ? key + 6 + TIX_UUID_LEN + 1 : "";
    snprintf(id, sizeof(id), "%.*s", TIX_UUID_LEN, key + 6);
    if (!tix_uuid_is_valid(id) || key[6 + TIX_UUID_LEN] != '_' || strlen(secret) < 20)
        return unauthorized(req, "malformed API key");
    struct key_check *k = tix_xcalloc(1, sizeof(*k));
    snprintf(k->id, sizeof(k->id), "%s", id);
    crypto_generichash(k->hash, sizeof(k->hash), (const unsigned char *)secret, strlen(secret),
                       NULL, 0);
    const char *params[] = {k->id};
    tix_gw_read_cached(req, TIX_CACHE_APIKEY, k->id, 0, "gw_api_key", api_key_sql, 1, params,
                       api_key_cb, k);
    return TIX_STEP_WAITING;
}

enum tix_gw_step tix_gw_authenticate(struct tix_req *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req->ev), "Authorization");
    bool is_public = req->route->auth == TIX_AUTH_PUBLIC;
    if (h == NULL)
        return is_public || req->route->auth == TIX_AUTH_OPTIONAL
                   ? TIX_STEP_NEXT
                   : unauthorized(req, "authentication required");
    if (strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0')
        return is_public ? TIX_STEP_NEXT : unauthorized(req, "use Authorization: Bearer <token>");
    const char *cred = h + 7;
    if (is_public)
        return TIX_STEP_NEXT; /* public routes ignore credentials: login must work with a stale
                                 token */
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

/* The caller's role in an organization and the organization (users), from the members read
 * model; cached, grouped by organization (a closing organization drops its rows). */
static const char member_sql[] =
    "SELECT m.role, m.organization_id FROM rm.organization_members m JOIN rm.organizations o ON "
    "o.id = m.organization_id WHERE m.organization_id = $1 AND m.user_id = $2 AND "
    "NOT o.is_closed";

/* Blocking read of the caller's membership role; -2 when the read model can't be read. */
static int member_role_now(struct tix_req *req, const char *org)
{
    const char *params[] = {org, req->who.id};
    PGresult *res = NULL;
    if (tix_db_exec_prepared(req->th->db, "gw_member_role", member_sql, 2, params, &res, NULL) !=
        TIX_OK)
        return -2;
    int role = PQntuples(res) == 1 ? tix_gw_role_parse(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return role;
}

int tix_gw_org_role(struct tix_req *req, const char *org, const char *scope)
{
    if (org == NULL || !tix_uuid_is_valid(org))
        return -1;
    if (req->who.kind == TIX_PRINCIPAL_APIKEY)
        return strcmp(req->who.org_id, org) == 0 && (scope == NULL || has_scope(&req->who, scope))
                   ? TIX_ROLE_ADMIN
                   : -1;
    if (req->who.kind != TIX_PRINCIPAL_USER)
        return -1;
    return member_role_now(req, org);
}

/* The organization owning event (not deleted) into org; false when none (*is_down when the read
 * model can't be read). Blocking. */
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
    if (req->who.kind != TIX_PRINCIPAL_USER)
        return TIX_ROLE_CUSTOMER;
    int role = member_role_now(req, org);
    return role == -1 ? TIX_ROLE_CUSTOMER : role;
}

/* An API key acts only inside its own organization, as an admin there; what names the
 * resource a stranger must not see. */
static enum tix_gw_step key_verdict(struct tix_req *req, const char *org, const char *what)
{
    req->who.org_role = TIX_ROLE_ADMIN;
    if (strcmp(req->who.org_id, org) == 0)
        return TIX_STEP_NEXT;
    tix_gw_problem(req, 404, "not-found", what);
    return TIX_STEP_ANSWERED;
}

/* The route's rule for a user whose role in the organization is role (-1 not a member, -2 the
 * read model can't be read): 503, 404 (what), 403, or TIX_STEP_NEXT with who.org_role set. */
static enum tix_gw_step role_verdict(struct tix_req *req, int role, const char *what)
{
    if (role == -2) {
        tix_gw_problem(req, 503, "unavailable", "access can't be checked right now");
        return TIX_STEP_ANSWERED;
    }
    if (role < 0) {
        tix_gw_problem(req, 404, "not-found", what);
        return TIX_STEP_ANSWERED;
    }
    req->who.org_role = (enum tix_gw_role)role;
    if (role >= (int)req->route->min_role)
        return TIX_STEP_NEXT;
    char detail[128];
    snprintf(detail, sizeof(detail), "this needs the %s role or higher in the organization",
             tix_gw_role_name(req->route->min_role));
    tix_gw_problem(req, 403, "forbidden", detail);
    return TIX_STEP_ANSWERED;
}

/* The route's role check inside org, blocking; what names the resource a stranger must not
 * see. */
static enum tix_gw_step authorize_in(struct tix_req *req, const char *org, const char *what)
{
    if (req->who.kind == TIX_PRINCIPAL_APIKEY)
        return key_verdict(req, org, what);
    return role_verdict(req, member_role_now(req, org), what);
}

/* Event routes: the role in the organization that owns the event in path parameter eventId. */
static enum tix_gw_step authorize_event(struct tix_req *req)
{
    char org[40];
    bool is_down = false;
    if (event_org(req, tix_gw_param(req, "eventId"), org, &is_down))
        return authorize_in(req, org, "no such event");
    if (is_down)
        tix_gw_problem(req, 503, "unavailable", "access can't be checked right now");
    else
        tix_gw_problem(req, 404, "not-found", "no such event");
    return TIX_STEP_ANSWERED;
}

static void member_cb(struct tix_req *req, const PGresult *res, void *ctx)
{
    (void)ctx;
    int role = res == NULL           ? -2
               : PQntuples(res) == 1 ? tix_gw_role_parse(PQgetvalue(res, 0, 0))
                                     : -1;
    if (role_verdict(req, role, "no such organization") == TIX_STEP_NEXT)
        tix_gw_continue(req);
}

static enum tix_gw_step authorize_org(struct tix_req *req)
{
    const char *org = tix_gw_param(req, "id");
    if (org == NULL || !tix_uuid_is_valid(org)) {
        tix_gw_problem(req, 404, "not-found", "no such organization");
        return TIX_STEP_ANSWERED;
    }
    if (req->who.kind == TIX_PRINCIPAL_APIKEY)
        return key_verdict(req, org, "no such organization");
    char key[2 * TIX_UUID_LEN + 2];
    snprintf(key, sizeof(key), "%s:%s", org, req->who.id);
    const char *params[] = {org, req->who.id};
    tix_gw_read_cached(req, TIX_CACHE_MEMBER, key, 1, "gw_member_role", member_sql, 2, params,
                       member_cb, NULL);
    return TIX_STEP_WAITING;
}

enum tix_gw_step tix_gw_authorize(struct tix_req *req)
{
    if (req->route->auth == TIX_AUTH_PUBLIC || req->route->auth == TIX_AUTH_OPTIONAL)
        return TIX_STEP_NEXT; /* optional: the handler decides what the caller may see */
    if (req->who.kind == TIX_PRINCIPAL_APIKEY &&
        (req->route->scope == NULL || !has_scope(&req->who, req->route->scope))) {
        tix_gw_problem(req, 403, "forbidden", "this API key lacks the scope for this route");
        return TIX_STEP_ANSWERED;
    }
    if (req->route->auth == TIX_AUTH_ORG)
        return authorize_org(req);
    return req->route->auth == TIX_AUTH_EVENT ? authorize_event(req) : TIX_STEP_NEXT;
}
