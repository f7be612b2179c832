/* route_audit_test.c - every route of the gateway's table, audited for access and input
 *
 * The audit walks tix_routes, the very table the gateway routes by, never a hand list: a route
 * added tomorrow is audited tomorrow. Path parameters are filled with real objects of
 * organization A (an event on sale, its venue, session and ticket type, an order, a ticket, a
 * hold, an API key, a member, a command), chosen by the collection the parameter follows
 * ("/events/{eventId}" takes the event); a parameter after a collection the audit doesn't know
 * fails the test until a fixture is added here. Request bodies come from the route's schema in
 * docs/openapi.yaml (which unit/openapi_test keeps equal to the table).
 *
 *   (a) no credentials: every route that isn't public answers 401 problem+json; an optional
 *       route answers 401 to a credential that isn't one;
 *   (b) a caller without the right (a plain customer, the owner of organization B, B's API key
 *       with every scope, A's API key with one scope, A's members below the route's role, and B's
 *       owner addressing A's objects through B's own path) answers 403 or 404, never 2xx, never
 *       5xx, and no command of theirs is ever decided; whatever a stranger may read (public and
 *       own-data routes) never mentions A's private objects; public reads don't know B's draft
 *       event; a customer's body naming A's hold, order or ticket is refused;
 *   (c) a malformed body (invalid JSON, not an object, an unknown field, each documented field
 *       with a wrong type) answers 400/422 problem+json naming the field, sent by a caller who
 *       has the right (A's owner, who is also the buyer), never accepted.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apikey.h"
#include "gateway.h"
#include "harness.h"
#include "http.h"
#include "shop.h"
#include "tix/json.h"
#include "tix/yaml.h"

static struct tix_test_stack stack;
static struct tix_db *db;

/* The audit sends hundreds of requests from one address: no limit may answer for the gateway. */
static void start(void)
{
    static const char *const unlimited[] = {
        "TIXMO_RL_AUTH_PER_IP=1000000", "TIXMO_RL_GENERAL_PER_IP=1000000",
        "TIXMO_RL_GENERAL_PER_USER=1000000", "TIXMO_RL_HOLDS_PER_USER=1000000", NULL};
    cr_assert(sodium_init() >= 0);
    curl_global_init(CURL_GLOBAL_ALL);
    tix_test_stack_start(&stack, unlimited);
    db = tix_test_db("TIXMO_DB_URL");
}

static void stop(void)
{
    tix_db_close(db);
    tix_test_stack_stop(&stack);
}

TestSuite(route_audit, .init = start, .fini = stop, .timeout = 300);

#define ID_SIZE (TIX_UUID_LEN + 1)

/* Organization A with everything a path can name, and the callers who must be refused. */
struct world {
    struct tix_shop a; /* owner (also the buyer), promoter, scanner */
    char admin_id[ID_SIZE], *admin;
    char customer_id[ID_SIZE], *customer; /* a plain user */
    char outsider_id[ID_SIZE], *outsider; /* the owner of organization B */
    char venue[ID_SIZE], event[ID_SIZE], session[ID_SIZE], type[ID_SIZE];
    char order[ID_SIZE], ticket[ID_SIZE], hold[ID_SIZE], command[ID_SIZE];
    char transfer[ID_SIZE]; /* the ticket offered to an email nobody has */
    char key_a_id[ID_SIZE], key_b_id[ID_SIZE];
    char *key_a; /* A's key with the single scope orgs:read */
    char *key_b; /* B's key with every scope */
    char org_b[ID_SIZE], venue_b[ID_SIZE], event_b[ID_SIZE];
};

/* The object a path parameter names, by the collection segment before it; B's offset is 0
 * where organization B has no such object. A member is a user, who belongs to no organization:
 * B may name any user in its own paths. */
static const struct {
    const char *collection;
    size_t a, b;
    bool is_owned; /* the object belongs to A */
} objects[] = {
    {"organizations", offsetof(struct world, a.org), offsetof(struct world, org_b), true},
    {"venues", offsetof(struct world, venue), offsetof(struct world, venue_b), true},
    {"events", offsetof(struct world, event), offsetof(struct world, event_b), true},
    {"sessions", offsetof(struct world, session), 0, true},
    {"ticket-types", offsetof(struct world, type), 0, true},
    {"members", offsetof(struct world, a.promoter_id), 0, false},
    {"api-keys", offsetof(struct world, key_a_id), 0, true},
    {"orders", offsetof(struct world, order), 0, true},
    {"payments", offsetof(struct world, order), 0, true},
    {"tickets", offsetof(struct world, ticket), 0, true},
    {"ticket-transfers", offsetof(struct world, transfer), 0, true},
    {"items", offsetof(struct world, hold), 0, true},
    {"commands", offsetof(struct world, command), 0, true},
};

/* The id for a parameter after collection: A's object, or B's when from_b (NULL: B has none,
 * or, with from_b, no parameter after the first names an object of A). */
static const char *object_for(const struct world *w, const char *collection, size_t len,
                              bool from_b, int *n_owned)
{
    for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
        if (strlen(objects[i].collection) != len ||
            memcmp(objects[i].collection, collection, len) != 0)
            continue;
        size_t off = from_b ? objects[i].b : objects[i].a;
        *n_owned += objects[i].is_owned;
        return off == 0 ? NULL : (const char *)w + off;
    }
    cr_assert_fail("the audit has no object for a parameter after \"%.*s\": add one to objects[]",
                   (int)len, collection);
    return NULL;
}

/* Fills pattern's parameters into out: A's objects, except the first parameter from B when
 * first_from_b. w NULL: fresh random ids. Returns the number of parameters; with first_from_b,
 * -1 when B has no object for the first one or the others name no object of A. */
static int fill_path(const char *pattern, const struct world *w, bool first_from_b, char *out,
                     size_t size)
{
    const char *p = pattern, *prev = "";
    size_t prev_len = 0, n = 0;
    int params = 0, n_owned = 0;
    out[0] = '\0';
    while (*p == '/') {
        const char *seg = ++p;
        while (*p != '\0' && *p != '/')
            p++;
        size_t len = (size_t)(p - seg);
        if (len > 2 && seg[0] == '{') {
            char fresh[ID_SIZE];
            const char *id = fresh;
            if (w == NULL)
                tix_uuid_v7(fresh);
            else
                id = object_for(w, prev, prev_len, first_from_b && params == 0, &n_owned);
            if (id == NULL)
                return -1;
            n += (size_t)snprintf(out + n, size - n, "/%s", id);
            params++;
        } else {
            n += (size_t)snprintf(out + n, size - n, "/%.*s", (int)len, seg);
            prev = seg;
            prev_len = len;
        }
        cr_assert_lt(n, size, "path too long for %s", pattern);
    }
    return first_from_b && n_owned < 2 ? -1 : params;
}

static bool is_write(const struct tix_route *r)
{
    return strcmp(r->method, "GET") != 0;
}

/* ---- bodies from docs/openapi.yaml --------------------------------------------------------- */

static json_t *openapi;

static const json_t *resolve(const json_t *schema)
{
    const char *ref = tix_json_str(schema, "$ref");
    if (ref == NULL || strncmp(ref, "#/components/schemas/", 21) != 0)
        return schema;
    return json_object_get(json_object_get(json_object_get(openapi, "components"), "schemas"),
                           ref + 21);
}

/* The route's request body schema (resolved), or NULL when it takes none. */
static const json_t *body_schema(const struct tix_route *r, bool *is_required)
{
    char method[8];
    size_t i = 0;
    for (; r->method[i] != '\0' && i + 1 < sizeof(method); i++)
        method[i] = (char)(r->method[i] | 0x20);
    method[i] = '\0';
    const json_t *op =
        json_object_get(json_object_get(json_object_get(openapi, "paths"), r->pattern), method);
    const json_t *rb = json_object_get(op, "requestBody");
    *is_required = json_is_true(json_object_get(rb, "required"));
    return rb == NULL ? NULL
                      : resolve(json_object_get(
                            json_object_get(json_object_get(rb, "content"), "application/json"),
                            "schema"));
}

/* Whether the schema's type (a name or a list of names) allows type; false without a type. */
static bool allows(const json_t *schema, const char *type)
{
    const json_t *t = json_object_get(schema, "type");
    if (json_is_string(t))
        return strcmp(json_string_value(t), type) == 0 ||
               (strcmp(type, "integer") == 0 && strcmp(json_string_value(t), "number") == 0);
    size_t i;
    const json_t *one;
    json_array_foreach(t, i, one)
    {
        if (strcmp(json_string_value(one), type) == 0)
            return true;
    }
    return false;
}

/* A plausible value for schema (required members only): the audit's valid body. */
static json_t *sample(const json_t *schema)
{
    schema = resolve(schema);
    const json_t *given = json_object_get(schema, "example");
    if (given == NULL)
        given = json_array_get(json_object_get(schema, "enum"), 0);
    if (given != NULL)
        return json_deep_copy(given);
    if (allows(schema, "object") || json_object_get(schema, "properties") != NULL) {
        json_t *obj = json_object();
        size_t i;
        const json_t *name;
        json_array_foreach(json_object_get(schema, "required"), i, name)
        {
            const char *key = json_string_value(name);
            json_object_set_new(
                obj, key, sample(json_object_get(json_object_get(schema, "properties"), key)));
        }
        return obj;
    }
    if (allows(schema, "array")) {
        json_t *arr = json_array();
        for (json_int_t i = 0; i < json_integer_value(json_object_get(schema, "minItems")); i++)
            json_array_append_new(arr, sample(json_object_get(schema, "items")));
        return arr;
    }
    if (allows(schema, "integer")) {
        const json_t *min = json_object_get(schema, "minimum");
        return json_integer(min != NULL ? json_integer_value(min) : 1);
    }
    if (allows(schema, "boolean"))
        return json_true();
    const char *format = tix_json_str(schema, "format");
    char id[ID_SIZE];
    if (format != NULL && strcmp(format, "uuid") == 0) {
        tix_uuid_v7(id);
        return json_string(id);
    }
    if (format != NULL && strcmp(format, "date-time") == 0)
        return json_string("2031-01-01T10:00:00Z");
    if (format != NULL && strcmp(format, "email") == 0)
        return json_string("audit@example.org");
    return json_string("audit-value-long-enough");
}

/* A value of a JSON type schema refuses, or NULL when its type is not plain. */
static json_t *wrong_value(const json_t *schema)
{
    schema = resolve(schema);
    if (json_object_get(schema, "type") == NULL)
        return NULL;
    if (!allows(schema, "integer"))
        return json_integer(12345);
    if (!allows(schema, "string"))
        return json_string("wrong type");
    return allows(schema, "object") ? NULL : json_object();
}

/* ---- requests ------------------------------------------------------------------------------ */

/* Sends body (may be NULL) and frees the answer after checking the common rules: never 5xx, an
 * error is problem+json. Returns the status; the answer stays in *r when r is not NULL. */
static long request(const struct tix_route *route, const char *path, const char *token,
                    const char *body, struct tix_http_resp *r)
{
    struct tix_http_resp own;
    struct tix_http_resp *out = r != NULL ? r : &own;
    long status = tix_http(route->method, path, token, body, NULL, out);
    cr_assert(status > 0 && status < 500, "%s %s (%s): %ld %s", route->method, path, route->pattern,
              status, out->body);
    if (status >= 400)
        cr_assert_str_eq(out->content_type, "application/problem+json", "%s %s: %ld %s",
                         route->method, path, status, out->body);
    if (r == NULL)
        tix_http_resp_deinit(&own);
    return status;
}

/* The valid-looking body of a route, as text (NULL: it takes none); free(). */
static char *valid_body(const struct tix_route *r)
{
    bool is_required = false;
    const json_t *schema = body_schema(r, &is_required);
    if (schema == NULL)
        return NULL;
    json_t *v = sample(schema);
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return text;
}

/* ---- the world ----------------------------------------------------------------------------- */

/* method path as token with body (wait 5 s); asserts want and returns string member key. */
static void call(const char *method, const char *path, const char *token, const char *body,
                 long want, const char *key, char out[ID_SIZE])
{
    struct tix_http_resp r;
    long status = tix_http(method, path, token, body, tix_shop_wait5, &r);
    cr_assert_eq(status, want, "%s %s: %ld %s", method, path, status, r.body);
    if (key != NULL) {
        const char *v = tix_http_str(&r, key);
        cr_assert_not_null(v, "%s %s: no %s in %s", method, path, key, r.body);
        snprintf(out, ID_SIZE, "%s", v);
    }
    tix_http_resp_deinit(&r);
}

/* An event of org (base path) as token; its first session into session (may be NULL). */
static void create_event(const char *base, const char *token, char event[ID_SIZE],
                         char session[ID_SIZE])
{
    char path[200], body[600];
    snprintf(path, sizeof(path), "%s/events", base);
    snprintf(body, sizeof(body),
             "{\"name\":\"Audit Night\",\"category\":\"concert\","
             "\"timezone\":\"Europe/Paris\",\"visibility\":\"public\",\"capacity\":100,"
             "\"sessions\":[{\"starts_at\":\"2031-06-05T19:00:00Z\","
             "\"ends_at\":\"2031-06-05T22:00:00Z\"}]}");
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, token, body, tix_shop_wait5, &r), 201, "%s", r.body);
    snprintf(event, ID_SIZE, "%s", tix_http_str(&r, "id"));
    if (session != NULL)
        snprintf(session, ID_SIZE, "%s",
                 json_string_value(json_array_get(json_object_get(r.json, "session_ids"), 0)));
    tix_http_resp_deinit(&r);
    snprintf(path, sizeof(path), "%s/events/%s", base, event);
    tix_shop_wait_visible(token, path);
}

/* An API key of org (base path) with scopes (a JSON array), made by token. */
static char *create_key(const char *base, const char *token, const char *scopes, char id[ID_SIZE])
{
    char path[200], body[400];
    snprintf(path, sizeof(path), "%s/api-keys", base);
    snprintf(body, sizeof(body), "{\"name\":\"audit\",\"scopes\":%s}", scopes);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, token, body, NULL, &r), 201, "%s", r.body);
    snprintf(id, ID_SIZE, "%s", tix_http_str(&r, "id"));
    char *key = strdup(tix_http_str(&r, "key"));
    tix_http_resp_deinit(&r);
    return key;
}

/* Stripe's word that the order is paid, through the signed webhook. */
static void pay(const struct world *w, long long total)
{
    char evt[40], intent[40];
    snprintf(evt, sizeof(evt), "evt_audit%.12s", w->order + 24);
    snprintf(intent, sizeof(intent), "pi_audit%.12s", w->order + 24);
    cr_assert_eq(tix_http_stripe_intent_event(evt, "payment_intent.succeeded", intent, total,
                                              w->order, w->event),
                 200);
}

/* The sale side of A: a type on sale, an order paid for by the owner (so a ticket), a hold. */
static void buy(struct world *w)
{
    char path[240];
    tix_shop_type(w->a.promoter, w->event,
                  "{\"name\":\"Floor\",\"kind\":\"general_admission\",\"price_minor\":2000,"
                  "\"currency\":\"EUR\",\"quantity\":50}",
                  w->type);
    char first[ID_SIZE];
    tix_shop_hold(w->a.owner, w->event, w->type, 1, first);
    pay(w, tix_shop_order(w->a.owner, w->event, first, w->order));
    struct tix_http_resp r;
    snprintf(path, sizeof(path), "/api/v1/orders/%s/tickets", w->order);
    cr_assert(tix_shop_wait_count(w->a.owner, path, 1, 15000), "no ticket for the order");
    cr_assert_eq(tix_http("GET", path, w->a.owner, NULL, NULL, &r), 200);
    snprintf(w->ticket, sizeof(w->ticket), "%s",
             tix_json_str(json_array_get(json_object_get(r.json, "items"), 0), "id"));
    tix_http_resp_deinit(&r);
    char nobody[96];
    snprintf(nobody, sizeof(nobody), "nobody-%s@example.org", w->a.tag);
    tix_shop_offer(w->a.owner, w->ticket, nobody, w->transfer);
    tix_shop_hold(w->a.owner, w->event, w->type, 1, w->hold);
}

static void build(struct world *w)
{
    memset(w, 0, sizeof(*w));
    tix_shop_open(&w->a);
    w->admin = tix_shop_user(w->admin_id);
    w->customer = tix_shop_user(w->customer_id);
    w->outsider = tix_shop_user(w->outsider_id);
    char path[240];
    tix_shop_member(w->a.owner, w->a.org, w->admin_id, "admin", w->admin);
    tix_shop_venue(&w->a, w->a.tag, NULL, w->venue);
    create_event(w->a.base, w->a.promoter, w->event, w->session);
    cr_assert_eq(tix_shop_act(&w->a, w->a.promoter, w->event, "publish", NULL), 200);
    cr_assert_eq(tix_shop_act(&w->a, w->a.promoter, w->event, "open-sales", NULL), 200);
    snprintf(path, sizeof(path), "/api/v1/events/%s", w->event);
    tix_shop_wait_visible(NULL, path);
    buy(w);
    char slug[40];
    snprintf(slug, sizeof(slug), "audit-b-%.12s", w->outsider_id + 24);
    tix_shop_org(w->outsider, "Audit B", slug, w->org_b);
    char base_b[100];
    snprintf(base_b, sizeof(base_b), "/api/v1/organizations/%s", w->org_b);
    snprintf(path, sizeof(path), "%s/venues", base_b);
    call("POST", path, w->outsider,
         "{\"name\":\"Hall B\",\"address\":{\"line1\":\"2 Rue\",\"city\":\"Lyon\","
         "\"postal_code\":\"69001\",\"country\":\"FR\"},\"timezone\":\"Europe/Paris\","
         "\"capacity\":100}",
         201, "id", w->venue_b);
    create_event(base_b, w->outsider, w->event_b, NULL);
    char all[400];
    size_t n = (size_t)snprintf(all, sizeof(all), "[");
    for (int i = 0; i < TIX_APIKEY_N_SCOPES; i++)
        n += (size_t)snprintf(all + n, sizeof(all) - n, "%s\"%s\"", i ? "," : "",
                              tix_apikey_scope_names[i]);
    snprintf(all + n, sizeof(all) - n, "]");
    w->key_b = create_key(base_b, w->outsider, all, w->key_b_id);
    w->key_a = create_key(w->a.base, w->a.owner, "[\"orgs:read\"]", w->key_a_id);
    /* a command of A's owner, for GET /commands/{id} (no wait: 202 and its id) */
    struct tix_http_resp r;
    cr_assert_eq(tix_http("PATCH", w->a.base, w->a.owner, "{\"name\":\"Audit A\"}", NULL, &r), 202,
                 "%s", r.body);
    snprintf(w->command, sizeof(w->command), "%s", tix_http_str(&r, "command_id"));
    tix_http_resp_deinit(&r);
    cr_assert(tix_test_wait_projected(db, 15000));
}

static void destroy(struct world *w)
{
    tix_shop_close(&w->a);
    free(w->admin);
    free(w->customer);
    free(w->outsider);
    free(w->key_a);
    free(w->key_b);
}

/* ---- (a) the door ------------------------------------------------------------------------- */

Test(route_audit, no_route_lets_a_caller_without_credentials_in)
{
    int audited = 0;
    for (const struct tix_route *r = tix_routes; r->method != NULL; r++) {
        char path[400];
        fill_path(r->pattern, NULL, false, path, sizeof(path));
        if (r->auth == TIX_AUTH_PUBLIC)
            continue;
        const char *token = r->auth == TIX_AUTH_OPTIONAL ? "not-a-credential" : NULL;
        struct tix_http_resp resp;
        long status = request(r, path, token, NULL, &resp);
        cr_assert_eq(status, 401, "%s %s without credentials: %ld %s", r->method, r->pattern,
                     status, resp.body);
        tix_http_resp_deinit(&resp);
        audited++;
    }
    cr_assert_gt(audited, 50, "only %d routes audited", audited);
}

/* Rules a route's place in the tree sets for its class: organization paths are organization
 * routes, writes under an event are event (or organization) routes, and nothing public writes
 * outside the auth flows and Stripe's signed webhook. */
Test(route_audit, every_route_has_the_class_its_path_calls_for)
{
    for (const struct tix_route *r = tix_routes; r->method != NULL; r++) {
        if (strncmp(r->pattern, "/api/v1/organizations/{id}", 26) == 0)
            cr_assert_eq(r->auth, TIX_AUTH_ORG, "%s %s is not an organization route", r->method,
                         r->pattern);
        if (strstr(r->pattern, "{eventId}") != NULL && is_write(r))
            cr_assert(r->auth == TIX_AUTH_EVENT || r->auth == TIX_AUTH_ORG,
                      "%s %s changes an event without its organization's role", r->method,
                      r->pattern);
        if (is_write(r) && (r->auth == TIX_AUTH_PUBLIC || r->auth == TIX_AUTH_OPTIONAL))
            cr_assert(strncmp(r->pattern, "/api/v1/auth/", 13) == 0 ||
                          strcmp(r->pattern, "/api/v1/payments/webhook") == 0,
                      "%s %s writes without a caller", r->method, r->pattern);
        if (r->auth == TIX_AUTH_ORG || r->auth == TIX_AUTH_EVENT)
            cr_assert_geq(r->min_role, TIX_ROLE_SCANNER, "%s %s lets customers in", r->method,
                          r->pattern);
    }
}

/* ---- (b) strangers -------------------------------------------------------------------------- */

struct caller {
    const char *name;
    const char *token;
};

/* A's private objects: no answer to a stranger may name them. */
static void expect_no_leak(const struct world *w, const struct tix_route *r, const char *who,
                           const struct tix_http_resp *resp)
{
    const char *const secret[] = {w->order,        w->ticket,        w->hold,
                                  w->key_a_id,     w->command,       w->admin_id,
                                  w->a.scanner_id, w->a.promoter_id, w->transfer};
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
        cr_assert(strstr(resp->body, secret[i]) == NULL, "%s %s shows %s to %s: %s", r->method,
                  r->pattern, secret[i], who, resp->body);
}

/* caller must be refused (403/404) on path; a write must not be accepted. */
static void expect_refused(const struct world *w, const struct tix_route *r, const char *path,
                           const struct caller *c, const char *body)
{
    struct tix_http_resp resp;
    long status = request(r, path, c->token, body, &resp);
    cr_assert(status == 403 || status == 404, "%s %s as %s: %ld %s", r->method, path, c->name,
              status, resp.body);
    expect_no_leak(w, r, c->name, &resp);
    tix_http_resp_deinit(&resp);
}

/* Whoever may use a route that names no object of A (public routes, the caller's own data):
 * whatever they read never shows A's private objects. */
static void expect_nothing_private(const struct world *w, const struct tix_route *r,
                                   const char *path, const struct caller *c)
{
    if (is_write(r))
        return; /* a stranger's own writes are allowed: their own cart, their own account */
    struct tix_http_resp resp;
    long status = request(r, path, c->token, NULL, &resp);
    if (status < 300)
        expect_no_leak(w, r, c->name, &resp);
    tix_http_resp_deinit(&resp);
}

/* The members of A below the route's role: each must get 403 exactly. */
static void expect_roles_refused(const struct world *w, const struct tix_route *r, const char *path,
                                 const char *body)
{
    const struct {
        enum tix_gw_role role;
        const char *name, *token;
    } members[] = {{TIX_ROLE_SCANNER, "A's scanner", w->a.scanner},
                   {TIX_ROLE_PROMOTER, "A's promoter", w->a.promoter},
                   {TIX_ROLE_ADMIN, "A's admin", w->admin}};
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        if (members[i].role >= r->min_role)
            continue;
        struct tix_http_resp resp;
        long status = request(r, path, members[i].token, body, &resp);
        cr_assert_eq(status, 403, "%s %s as %s: %ld %s", r->method, path, members[i].name, status,
                     resp.body);
        tix_http_resp_deinit(&resp);
    }
}

/* A's key holds orgs:read only: every other route refuses it (403), or its organization's
 * reads let it in. */
static void expect_scope_refused(const struct world *w, const struct tix_route *r, const char *path,
                                 const char *body)
{
    if (r->auth == TIX_AUTH_PUBLIC || r->auth == TIX_AUTH_OPTIONAL ||
        (r->scope != NULL && strcmp(r->scope, "orgs:read") == 0))
        return;
    struct tix_http_resp resp;
    long status = request(r, path, w->key_a, body, &resp);
    cr_assert(status == 403 || status == 404, "%s %s with A's orgs:read key: %ld %s", r->method,
              path, status, resp.body);
    tix_http_resp_deinit(&resp);
}

/* How many commands of the strangers were decided as succeeded since instant since. */
static long long strangers_commands(const struct world *w, const char *since)
{
    char actors[600];
    snprintf(actors, sizeof(actors),
             "{user:%s,user:%s,user:%s,user:%s,user:%s,apikey:%s,apikey:%s}", w->customer_id,
             w->outsider_id, w->a.scanner_id, w->a.promoter_id, w->admin_id, w->key_a_id,
             w->key_b_id);
    const char *params[] = {actors, since};
    return tix_test_scalar(db,
                           "SELECT count(*) FROM processed_commands WHERE actor = ANY($1::text[]) "
                           "AND status = 'succeeded' AND decided_at >= $2::timestamptz",
                           2, params);
}

/* A's private objects a body may name, by field. */
static const struct {
    const char *field;
    size_t offset;
} body_objects[] = {
    {"hold_id", offsetof(struct world, hold)},
    {"order_id", offsetof(struct world, order)},
    {"ticket_id", offsetof(struct world, ticket)},
};

/* A write open to any user may name A's private objects in its body (an order from A's owner's
 * hold): a customer sending them, with A's event, is refused. */
static void expect_body_objects_refused(const struct world *w, const struct tix_route *r,
                                        const char *path)
{
    bool is_required = false;
    const json_t *schema = body_schema(r, &is_required);
    const json_t *props = json_object_get(schema, "properties");
    for (size_t i = 0; i < sizeof(body_objects) / sizeof(body_objects[0]); i++) {
        if (json_object_get(props, body_objects[i].field) == NULL)
            continue;
        json_t *v = sample(schema);
        json_object_set_new(v, body_objects[i].field,
                            json_string((const char *)w + body_objects[i].offset));
        if (json_object_get(props, "event_id") != NULL)
            json_object_set_new(v, "event_id", json_string(w->event));
        char *text = json_dumps(v, JSON_COMPACT);
        struct tix_http_resp resp;
        long status = request(r, path, w->customer, text, &resp);
        cr_assert_geq(status, 400, "%s %s with A's %s as a customer: %ld %s", r->method, path,
                      body_objects[i].field, status, resp.body);
        tix_http_resp_deinit(&resp);
        free(text);
        json_decref(v);
    }
}

static void audit_strangers(const struct world *w, const struct tix_route *r)
{
    const struct caller strangers[] = {{"a plain customer", w->customer},
                                       {"B's owner", w->outsider},
                                       {"B's key with every scope", w->key_b}};
    char path[400];
    int n_params = fill_path(r->pattern, w, false, path, sizeof(path));
    char *body = valid_body(r);
    bool is_guarded = r->auth == TIX_AUTH_ORG || r->auth == TIX_AUTH_EVENT;
    bool names_object = n_params > 0 && (is_guarded || r->auth == TIX_AUTH_USER || is_write(r));
    for (size_t i = 0; i < sizeof(strangers) / sizeof(strangers[0]); i++) {
        if (names_object)
            expect_refused(w, r, path, &strangers[i], body);
        else
            expect_nothing_private(w, r, path, &strangers[i]);
    }
    if (is_guarded)
        expect_roles_refused(w, r, path, body);
    else if (is_write(r) && r->auth != TIX_AUTH_PUBLIC)
        expect_body_objects_refused(w, r, path);
    expect_scope_refused(w, r, path, body);
    /* B's owner and B's key reach for A's objects through B's own organization or event */
    char mixed[400];
    if (n_params > 1 && fill_path(r->pattern, w, true, mixed, sizeof(mixed)) > 1) {
        expect_refused(w, r, mixed, &strangers[1], body);
        expect_refused(w, r, mixed, &strangers[2], body);
    }
    /* B's event is a draft: the public reads of an event don't know it */
    if (!is_guarded && strncmp(r->pattern, "/api/v1/events/{", 16) == 0) {
        char draft[400];
        snprintf(draft, sizeof(draft), "/api/v1/events/%s%s", w->event_b,
                 strchr(r->pattern + 16, '}') + 1);
        if (strchr(draft, '{') == NULL)
            expect_refused(w, r, draft, &strangers[0], body);
    }
    free(body);
}

/* ---- (c) bad bodies -------------------------------------------------------------------------- */

/* Sends body as the caller who has the right; it must be refused with 400/422 problem+json
 * naming field (NULL: no field expected). */
static void expect_bad_body(const struct tix_route *r, const char *path, const char *token,
                            const char *body, const char *field)
{
    struct tix_http_resp resp;
    long status = request(r, path, token, body, &resp);
    cr_assert(status == 400 || status == 422, "%s %s with %s: %ld %s", r->method, r->pattern, body,
              status, resp.body);
    if (field != NULL)
        cr_assert(tix_http_has_error_field(&resp, field), "%s %s with %s: %s not named: %s",
                  r->method, r->pattern, body, field, resp.body);
    tix_http_resp_deinit(&resp);
}

static int audit_bodies(const struct world *w, const struct tix_route *r)
{
    bool is_required = false;
    const json_t *schema = body_schema(r, &is_required);
    if (schema == NULL)
        return 0;
    char path[400];
    fill_path(r->pattern, w, false, path, sizeof(path));
    const char *token =
        r->auth == TIX_AUTH_PUBLIC || r->auth == TIX_AUTH_OPTIONAL ? NULL : w->a.owner;
    /* a strict schema names the field at fault; a webhook's signature fails first */
    bool is_strict = json_is_false(json_object_get(schema, "additionalProperties"));
    expect_bad_body(r, path, token, "{\"audit\":", NULL);
    expect_bad_body(r, path, token, "[1]", NULL);
    if (is_strict)
        expect_bad_body(r, path, token, "{\"zz_audit_unknown\":1}", "zz_audit_unknown");
    const char *name;
    const json_t *prop;
    json_object_foreach((json_t *)json_object_get(schema, "properties"), name, prop)
    {
        json_t *wrong = wrong_value(prop);
        if (wrong == NULL)
            continue;
        json_t *obj = json_pack("{so}", name, wrong);
        char *text = json_dumps(obj, JSON_COMPACT);
        expect_bad_body(r, path, token, text, is_strict ? name : NULL);
        free(text);
        json_decref(obj);
    }
    return 1;
}

Test(route_audit, every_route_refuses_strangers_and_bad_bodies)
{
    struct tix_err err;
    openapi = tix_yaml_load_file(TIX_OPENAPI_PATH, &err);
    cr_assert_not_null(openapi, "%s", err.msg);
    struct world w;
    build(&w);
    struct tix_db *clock = tix_test_db("TIXMO_DB_URL");
    char since[64];
    PGresult *res = NULL;
    cr_assert_eq(tix_db_exec(clock, "SELECT now()::text", 0, NULL, &res, &err), TIX_OK);
    snprintf(since, sizeof(since), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    tix_db_close(clock);
    int routes = 0, bodies = 0;
    for (const struct tix_route *r = tix_routes; r->method != NULL; r++, routes++)
        audit_strangers(&w, r);
    for (const struct tix_route *r = tix_routes; r->method != NULL; r++)
        bodies += audit_bodies(&w, r);
    cr_assert_gt(bodies, 20, "only %d routes with a body audited", bodies);
    usleep(1000000); /* anything wrongly accepted has been decided by now */
    cr_assert(tix_test_wait_projected(db, 15000));
    cr_assert_eq(strangers_commands(&w, since), 0, "a caller without the right changed something");
    fprintf(stderr, "route audit: %d routes, %d with bodies\n", routes, bodies);
    destroy(&w);
    json_decref(openapi);
}
