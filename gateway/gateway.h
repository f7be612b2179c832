/* gateway.h - the HTTP gateway's internal API: routes, requests, replies, commands
 *
 * The gateway is the only door into TixMo. Several event-loop threads (libevent evhttp) share
 * one listening port (SO_REUSEPORT); each thread owns its own Postgres, RabbitMQ and Redis
 * connections and its own pending-command table, so a request is handled start to finish by
 * one thread without locks. Handlers (gateway/http_*.c) parse, validate, authorize and build a
 * command or a query; everything else (routing, authentication, rate limits, idempotency,
 * errors, logs, metrics) happens here, once, for every route.
 *
 * A request is answered exactly once, through tix_gw_reply() or one of its wrappers, either
 * inside the handler or later (a command's outcome). After the answer the request is freed:
 * a handler must not touch it again.
 */
#ifndef TIX_GATEWAY_H
#define TIX_GATEWAY_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "tix/buf.h"
#include "tix/bus.h"
#include "tix/config.h"
#include "tix/db.h"

struct tix_req;
struct tix_redis;
struct tix_ratelimiter;
struct tix_ratelimit_local;
struct tix_avail_hub;

/* Who may call a route. */
enum tix_gw_auth {
    TIX_AUTH_PUBLIC, /* anyone; a valid token is still read when present */
    TIX_AUTH_USER,   /* an authenticated user (access JWT) or API key with the route's scope */
    TIX_AUTH_ORG,    /* a member of the organization in path parameter "id" with min_role,
                        or an API key of that organization with the route's scope */
    TIX_AUTH_EVENT,  /* the same in the organization that owns the event in path parameter
                        "eventId" (a stranger gets 404 "no such event") */
};

/* Organization roles, ordered: a higher role can do what a lower one can. */
enum tix_gw_role {
    TIX_ROLE_CUSTOMER = 0, /* any authenticated user; not a member */
    TIX_ROLE_SCANNER,
    TIX_ROLE_PROMOTER,
    TIX_ROLE_ADMIN,
    TIX_ROLE_OWNER,
};

/* Rate-limit classes. */
enum tix_gw_rl { TIX_RL_NONE, TIX_RL_AUTH, TIX_RL_GENERAL, TIX_RL_HOLDS };

struct tix_route {
    const char *method;  /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *pattern; /* "/api/v1/organizations/{id}/members/{userId}" */
    void (*handler)(struct tix_req *req);
    enum tix_gw_auth auth;
    enum tix_gw_role min_role; /* TIX_AUTH_ORG only */
    const char *scope;         /* API-key scope that grants the route; NULL: keys refused */
    enum tix_gw_rl rl;
};

/* The route table (gateway/routes.c), terminated by a row whose method is NULL. */
extern const struct tix_route tix_routes[];

enum tix_principal_kind { TIX_PRINCIPAL_NONE, TIX_PRINCIPAL_USER, TIX_PRINCIPAL_APIKEY };

/* The authenticated caller. */
struct tix_principal {
    enum tix_principal_kind kind;
    char id[40];               /* user id or API key id */
    char org_id[40];           /* the API key's organization */
    char session_id[40];       /* the refresh-token family of the access token (users) */
    char actor[48];            /* "user:<id>" or "apikey:<id>": who commands are issued by */
    char scopes[256];          /* API key scopes, space separated */
    enum tix_gw_role org_role; /* resolved for TIX_AUTH_ORG routes */
};

#define TIX_GW_MAX_PARAMS 4

struct tix_req {
    struct evhttp_request *ev; /* NULL once the client went away */
    struct tix_gw_thread *th;
    const struct tix_route *route;
    char id[72]; /* request id: X-Request-Id, also the correlation id of its commands */
    char ip[64]; /* the peer's address */
    int n_params;
    const char *param_names[TIX_GW_MAX_PARAMS]; /* borrowed from the route pattern */
    size_t param_name_lens[TIX_GW_MAX_PARAMS];
    char params[TIX_GW_MAX_PARAMS][128]; /* decoded path parameter values */
    struct tix_principal who;
    struct tix_buf body; /* the raw request body */
    int64_t start_us;
    int status;
    bool is_secret; /* the answer holds a secret shown once: never stored for replay */
    bool has_idem;  /* an Idempotency-Key is being honored for this request */
    char idem_caller[130];
    char idem_key[256];
    uint8_t idem_hash[32];
};

/* Per-thread state; handlers use db, bus and redis directly (all owned by the thread). */
struct tix_gw_thread {
    struct tix_gw *gw;
    int index;
    struct event_base *base;
    struct evhttp *http;
    struct tix_db *db;
    struct tix_bus *bus;
    struct tix_redis *redis;
    struct tix_ratelimiter *limiter;
    struct tix_avail_hub *hub; /* live availability streams (avail_stream.c) */
    struct event *bus_ev;
    struct event *tick_ev;
    struct tix_pending *pending; /* commands waiting for a confirm or an outcome */
    uint64_t failures_seen_at;   /* bus seq when failures were last taken */
    bool is_bus_ok;
    struct evhttp_bound_socket *bound;
    int64_t drain_started_ms;
    int64_t drained_ms;
    uint64_t offloads; /* jobs handed to the worker pool and not finished yet */
    /* metrics, written by this thread only (relaxed atomics), read by /metrics */
    uint64_t *requests; /* [route index + 1][status slot]; row 0 = unmatched */
    uint64_t latency_buckets[16];
    uint64_t latency_sum_us;
    uint64_t latency_count;
    uint64_t commands_published;
    uint64_t commands_pending;
};

struct tix_gw {
    const struct tix_config *cfg;
    volatile sig_atomic_t *stop;
    int n_threads;
    struct tix_gw_thread *threads;
    struct tix_ratelimit_local *local_limits; /* shared fallback when Redis is down */
    struct tix_gw_pool *pool;                 /* workers for slow CPU work (Argon2id) */
    int listen_fd;                            /* shared listening socket; -1 once closed */
    uint8_t pii_key[32];                      /* TIXMO_PII_KEY: wraps per-person keys (lib/pii) */
    uint8_t ticket_master[32];                /* TIXMO_TICKET_KEY: signs tickets (ticket_sign) */
    const uint8_t *jwt_key;                   /* borrowed from the config */
    size_t jwt_key_len;
    int64_t started_us;
    int n_routes;
};

/* ---- replies (gateway/reply.c) ---- */

/* Answers the request: status, content type and body (copied), plus X-Request-Id; records
 * the idempotent response, logs one line and counts metrics; then frees req. */
void tix_gw_reply(struct tix_req *req, int status, const char *content_type, const char *body,
                  size_t len);
/* Starts a streamed 200 answer of content_type (chunked; the caller writes the body with
 * evhttp_send_reply_chunk and owns the returned libevent request from then on): logs and counts
 * the request like any answer and frees req. Returns NULL when the client already left. */
struct evhttp_request *tix_gw_reply_stream(struct tix_req *req, const char *content_type);
/* Answers with body as JSON (steals body; NULL = no body). */
void tix_gw_reply_json(struct tix_req *req, int status, json_t *body);
/* Answers an RFC 9457 problem: type "https://tixmo.org/problems/<type>", the status's title,
 * detail. */
void tix_gw_problem(struct tix_req *req, int status, const char *type, const char *detail);
/* A validation problem listing the offending fields: errors is [{"field", "message"}] (stolen). */
void tix_gw_problem_fields(struct tix_req *req, int status, const char *detail, json_t *errors);
/* A problem of any type with an optional errors list (stolen, may be NULL). */
void tix_gw_problem_ex(struct tix_req *req, int status, const char *type, const char *detail,
                       json_t *errors);
/* Adds a response header (copied) before the reply. */
void tix_gw_header(struct tix_req *req, const char *name, const char *value);

/* ---- request bodies and validation (gateway/reply.c) ---- */

enum tix_field_type { TIX_F_STRING, TIX_F_INT, TIX_F_BOOL, TIX_F_OBJECT, TIX_F_ARRAY, TIX_F_UUID };

struct tix_field {
    const char *name;
    enum tix_field_type type;
    bool is_required;
    long min; /* strings: min length in characters; ints: min value */
    long max; /* strings: max length in characters; ints: max value; 0 = no bound */
};

/* Parses the body as a JSON object and checks it against fields (terminated by a NULL name):
 * unknown fields, missing required fields, wrong types and out-of-bounds values are all
 * reported at once (422, with every offending field). A malformed body is 400, a wrong
 * Content-Type 415. Returns a new reference, or NULL after answering the problem. */
json_t *tix_gw_body(struct tix_req *req, const struct tix_field *fields);
/* The decoded path parameter `name`, or NULL. */
const char *tix_gw_param(const struct tix_req *req, const char *name);
/* The query-string parameter `name` (a new string, free()), or NULL. */
char *tix_gw_query(const struct tix_req *req, const char *name);

/* ---- read models (gateway/readmodel.c) ---- */

/* Runs sql (text params) on the thread's connection; false after answering 503. On true *res is
 * the caller's to PQclear. */
bool tix_gw_read(struct tix_req *req, const char *sql, int n, const char *const *params,
                 PGresult **res);
/* Answers 200 with the JSON text in the first column of res's only row, 404 (what) without a
 * row, 500 for unreadable JSON. Clears res. */
void tix_gw_reply_row(struct tix_req *req, PGresult *res, const char *what);
/* Whether the resource in path parameter `param` is a row of sql ($1 = it, $2 = the
 * organization in path parameter "id"); answers 404 (what) or 503 itself when not. */
bool tix_gw_is_owned(struct tix_req *req, const char *param, const char *sql, const char *what);

/* Answers 422 naming one invalid field (body or query) with message. */
void tix_gw_invalid(struct tix_req *req, const char *field, const char *message);

/* A keyset page, newest first: ?limit (1..100, default 20) and ?cursor (opaque). */
struct tix_gw_page {
    long limit;
    char after[128];
    const char *after_us; /* the last row's sort key in Unix microseconds, or NULL */
    const char *after_id; /* the last row's id, or NULL */
};

/* Reads ?limit and ?cursor into page; false after answering 422 naming the parameter. */
bool tix_gw_page_params(struct tix_req *req, struct tix_gw_page *page);
/* Answers {"items", "next_cursor"} from res, whose rows (up to limit + 1 of them, in order)
 * have the columns: sort key in Unix microseconds, id, the item as JSON text. Clears res. */
void tix_gw_reply_page(struct tix_req *req, PGresult *res, long limit);

/* ---- commands (gateway/submit.c) ---- */

struct tix_gw_command {
    const char *type;
    const char *key;    /* partition key */
    json_t *payload;    /* stolen */
    int success_status; /* 201 or 200 when the outcome comes in time */
    /* Builds the success body from the outcome; NULL = the outcome itself. May be NULL. May
     * instead hand req to another tix_gw_submit and return TIX_GW_CHAINED. */
    json_t *(*on_success)(struct tix_req *req, const json_t *outcome, void *ctx);
    /* Seconds to wait for the outcome whatever the client's Prefer says (0 = none). When the
     * outcome does not come in time the answer is 503, not 202: for answers that only exist
     * with the outcome (tokens, a key shown once). */
    int force_wait_s;
    int rejected_status;         /* HTTP status for every rejection (0: by code, see above) */
    void *ctx;                   /* handed to on_success; owned by the command */
    void (*ctx_free)(void *ctx); /* frees ctx once the command is answered; may be NULL */
    /* Optional, for callers that are not the request's principal (webhooks): */
    const char *command_id; /* a derived id (a redelivery sends the same command); NULL: from
                               the Idempotency-Key or new */
    const char *actor;      /* "system:payments"; NULL: the authenticated caller */
    int accepted_status;    /* the status of the confirmed-but-not-decided answer; 0: 202 */
};

/* Writes a UUID-shaped (version 8) id derived from scope and name (BLAKE2b-128 of scope, a NUL
 * and name) into out: the same inputs always give the same command id. */
void tix_gw_derived_id(const char *scope, const char *name, char out[37]);

/* Returned by on_success when it answered the request itself or handed it to another
 * command: the request must not be answered again. */
extern json_t *const TIX_GW_CHAINED;

/* Publishes the command with confirms and answers: 202 with command_id and Location once the
 * broker confirmed it, or (Prefer: wait=N) the outcome when it comes within N seconds:
 * success_status, or the rejection as a problem (404 not_found, 403 forbidden, 422 invalid,
 * 409 otherwise). 503 when the broker refuses or is down. The command id comes from the
 * request's Idempotency-Key when present (so a retry after a lost answer is deduplicated by
 * the processor even without Redis). */
void tix_gw_submit(struct tix_req *req, struct tix_gw_command *cmd);
/* Called by the thread's loop: bus readable, or the periodic tick. */
void tix_gw_pending_poll(struct tix_gw_thread *th);
void tix_gw_pending_tick(struct tix_gw_thread *th);
/* Answers 202 now for every pending command the broker confirmed (shutdown). */
void tix_gw_pending_answer_confirmed(struct tix_gw_thread *th);
/* Answers every pending request 503 (bus lost) or 202 (shutdown). */
void tix_gw_pending_flush(struct tix_gw_thread *th, int status);

/* ---- access (gateway/auth.c) ---- */

/* Reads Authorization (JWT or API key) into req->who. Returns false after answering 401. */
bool tix_gw_authenticate(struct tix_req *req);
/* Checks the route's auth rule for req->who. Returns false after answering 401/403/404. */
bool tix_gw_authorize(struct tix_req *req);
const char *tix_gw_role_name(enum tix_gw_role role);
/* The caller's role in the organization that owns event_id: TIX_ROLE_CUSTOMER when not a member
 * or no such event; an API key is admin in its own organization. -2 when it can't be checked. */
int tix_gw_event_role(struct tix_req *req, const char *event_id);
int tix_gw_role_parse(const char *s);

/* ---- metrics (gateway/metrics.c) ---- */
void tix_gw_metrics_init(struct tix_gw_thread *th, int n_routes);
void tix_gw_metrics_deinit(struct tix_gw_thread *th);
void tix_gw_metrics_count(struct tix_gw_thread *th, const struct tix_route *route, int status,
                          int64_t elapsed_us);
/* Renders Prometheus text for all threads into out. */
void tix_gw_metrics_render(struct tix_gw *gw, struct tix_buf *out);

/* ---- slow work (gateway/offload.c) ---- */

struct tix_gw_pool;
struct tix_gw_pool *tix_gw_pool_create(int n_workers);
/* Waits for every queued job; call after the event loops stopped dispatching new work. */
void tix_gw_pool_destroy(struct tix_gw_pool *pool);
/* Runs work(ctx) on a worker thread, then done(req, ctx) on req's event-loop thread, which
 * then answers req (or hands it on). work must not touch req or its thread's connections. */
void tix_gw_offload(struct tix_req *req, void (*work)(void *ctx),
                    void (*done)(struct tix_req *req, void *ctx), void *ctx);

/* ---- the server (gateway/server.c) ---- */
enum tix_rc tix_gw_run(const struct tix_config *cfg, volatile sig_atomic_t *stop,
                       struct tix_err *err);

#endif
