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
struct tix_aredis;
struct tix_apg;
struct tix_gw_cache;
struct tix_ratelimiter;
struct tix_ratelimit_async;
struct tix_ratelimit_local;
struct tix_avail_hub;

/* Who may call a route. */
enum tix_gw_auth {
    TIX_AUTH_PUBLIC,   /* anyone; credentials are ignored (login works with a stale token) */
    TIX_AUTH_OPTIONAL, /* anyone; credentials, when sent, must be valid (401) and say who calls */
    TIX_AUTH_USER,     /* an authenticated user (access JWT) or API key with the route's scope */
    TIX_AUTH_ORG,      /* a member of the organization in path parameter "id" with min_role,
                          or an API key of that organization with the route's scope */
    TIX_AUTH_EVENT,    /* the same in the organization that owns the event in path parameter
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
    int step;       /* the pipeline step running or waiting (gateway/pipeline.c) */
    char idem_caller[130];
    char idem_key[256];
    uint8_t idem_hash[32];
};

/* Per-thread state; handlers use db, bus and redis directly (all owned by the thread). db and
 * redis block the thread while they wait: the hot paths use apg and aredis instead, through
 * tix_gw_read_async / tix_gw_read_cached and the pipeline. */
/* Buckets of a thread's pending commands by command id (submit.c): a reply finds its command
 * without walking the hundreds a thread has in flight during an on-sale. */
#define TIX_GW_PENDING_BUCKETS 1024

struct tix_gw_thread {
    struct tix_gw *gw;
    int index;
    struct event_base *base;
    struct evhttp *http;
    struct tix_db *db;
    struct tix_apg *apg; /* pipelined reads on the loop; LISTENs for read-model changes */
    struct tix_bus *bus;
    struct tix_redis *redis;
    struct tix_aredis *aredis; /* Redis on the loop: limits, idempotency, fire-and-forget writes */
    struct tix_ratelimiter *limiter; /* unused by the pipeline; kept for handlers */
    struct tix_ratelimit_async *limits;
    struct tix_gw_cache *cache; /* read-model rows of security decisions and hot reads */
    uint64_t waiting;           /* requests paused on apg or aredis */
    struct tix_avail_hub *hub;  /* live availability streams (avail_stream.c) */
    struct event *bus_ev;
    struct event *tick_ev;
    struct tix_gw_outbox *outbox; /* commands of this round, not published yet (submit.c) */
    struct tix_pending *pending;  /* commands waiting for a confirm or an outcome, newest first */
    struct tix_pending *pending_index[TIX_GW_PENDING_BUCKETS]; /* the same, by command id */
    uint64_t failures_seen_at; /* bus seq when failures were last taken */
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
    uint64_t confirm_buckets[16]; /* publish -> broker confirm */
    uint64_t confirm_sum_us;
    uint64_t confirm_count;
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

/* ---- query parameters (gateway/query.c) ----
 * Readers return false after answering 422 naming the parameter; an absent parameter is fine
 * (out NULL, or the default) unless said otherwise. Strings they hand out are the caller's to
 * free(). */

#define TIX_GW_CURSOR_MAX 1024 /* bytes of a decoded cursor */

/* UTF-8 text of min_chars..max_chars characters; min_chars 0 turns an empty value into NULL,
 * min_chars > 0 makes the parameter required. */
bool tix_gw_query_text(struct tix_req *req, const char *name, long min_chars, long max_chars,
                       char **out);
/* An RFC 3339 date-time with a real calendar date (any offset, optional fraction). */
bool tix_gw_query_time(struct tix_req *req, const char *name, char **out);
/* The largest price a filter takes, in minor units. */
#define TIX_GW_PRICE_MAX 999999999L
/* The ticket price range price_min..price_max (minor units, 0..TIX_GW_PRICE_MAX, each "-1" when
 * absent) into min and max; 422 naming the parameter when one is not such an integer or
 * price_max is below price_min. */
bool tix_gw_query_price_range(struct tix_req *req, char min[24], char max[24]);
/* A decimal integer min..max (def when absent), as text in out. */
bool tix_gw_query_int(struct tix_req *req, const char *name, long min, long max, long def,
                      char out[24]);
/* A UUID (any version, lowercase or uppercase hex). */
bool tix_gw_query_uuid(struct tix_req *req, const char *name, char **out);
/* The index of the parameter's value in choices (NULL-terminated); 0 when absent; -1 after
 * answering 422 with message. */
int tix_gw_query_choice(struct tix_req *req, const char *name, const char *const *choices,
                        const char *message);
/* Whether s starts with a real calendar date "YYYY-MM-DD" (years 0001..9999). Thread-safe. */
bool tix_gw_is_date(const char *s);

/* A search around a point: ?near=lat,lng&radius_km=N (default 25, at most 20000). */
struct tix_gw_near {
    bool is_given;
    char lat[32], lon[32], radius_km[32];
    char min_lat[32], max_lat[32], min_lon[32], max_lon[32]; /* the bounding box */
};
/* The latitude/longitude box around a point that holds every point within radius_km on the
 * sphere of radius 6371.0088 km; longitudes are unbounded (-180..180) when the circle holds a
 * pole or crosses the antimeridian. Pure. */
struct tix_gw_geo_box {
    double min_lat, max_lat, min_lon, max_lon;
};
void tix_gw_geo_box(double lat, double lon, double radius_km, struct tix_gw_geo_box *box);
/* Parses "lat,lng" (decimal degrees, -90..90 and -180..180). Pure. */
bool tix_gw_parse_point(const char *s, double *lat, double *lon);
bool tix_gw_query_near(struct tix_req *req, struct tix_gw_near *near);
/* The seven SQL parameters of a near search (lat, lon, radius_km, min_lat, max_lat, min_lon,
 * max_lon), all NULL when near was not given; borrowed from near. */
void tix_gw_near_params(const struct tix_gw_near *near, const char *out[7]);

/* A new JSON string: the opaque cursor of parts (joined by '|'; only the last may hold '|'),
 * or JSON null when they do not fit TIX_GW_CURSOR_MAX. */
json_t *tix_gw_cursor_make(const char *const *parts, int n);
/* Reads ?cursor into buf and points parts[0..n) into it; *is_given says whether there was one.
 * The parts' contents are the caller's to check. */
bool tix_gw_query_cursor(struct tix_req *req, char buf[TIX_GW_CURSOR_MAX], const char **parts,
                         int n, bool *is_given);

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

/* ---- reads that don't block the thread (gateway/cache.c) ---- */

/* A read's rows: res is borrowed, valid until the callback returns or starts another read
 * (copy what you need first); NULL when the read model can't be read (answer 503). Runs on the
 * request's thread, possibly before the call returns. */
typedef void (*tix_gw_rows_cb)(struct tix_req *req, const PGresult *res, void *ctx);

/* Runs sql (prepared on the thread's asynchronous connection as `name`, a static string always
 * given with the same sql) and calls done with its rows; the thread serves other requests
 * meanwhile. The request must not be touched after this call but in done. */
void tix_gw_read_async(struct tix_req *req, const char *name, const char *sql, int n,
                       const char *const *params, tix_gw_rows_cb done, void *ctx);

/* What a cached row is, which decides which read-model changes drop it (see gateway/cache.c). */
enum tix_gw_cache_kind {
    TIX_CACHE_USER,    /* key: user id; dropped by changes to users and subject_keys rows */
    TIX_CACHE_MEMBER,  /* key: "<org id>:<user id>", group: org id; dropped by changes to that
                          organization_members row and by the organization closing */
    TIX_CACHE_APIKEY,  /* key: key id, group: org id; dropped by changes to the api_keys row and
                          by the organization closing */
    TIX_CACHE_SESSION, /* key: session family id; dropped by changes to that sessions row */
    TIX_CACHE_KINDS,
};

/* Like tix_gw_read_async, through the thread's cache of kind under key (at most 79 characters):
 * rows read before are answered from memory (done runs before this returns). The rows' group is
 * the text of column group_col of the first row (-1 or no row: none). A cached answer is dropped
 * when Postgres notifies a change of it (the notification travels on the connection that read
 * it, after any result that predates the change), when that connection is lost, and after
 * TIXMO_GW_CACHE_TTL_MS whatever happens. Only cache what the notifications cover (see the
 * kinds), and nothing that depends on the clock (compare times in C). */
void tix_gw_read_cached(struct tix_req *req, enum tix_gw_cache_kind kind, const char *key,
                        int group_col, const char *name, const char *sql, int n,
                        const char *const *params, tix_gw_rows_cb done, void *ctx);

/* Text derived from the rows cached under (kind, key) (say, an answer rendered from them), kept
 * with them and dropped with them (wiped: it may hold personal data). NULL when there is none or
 * the rows are gone; *len gets its length. Borrowed until the thread's next read. */
const char *tix_gw_cache_memo(struct tix_gw_thread *th, enum tix_gw_cache_kind kind,
                              const char *key, size_t *len);
/* Keeps a copy of text as the memo of the rows cached under (kind, key); a no-op when those rows
 * are not cached (any more) or already have one. */
void tix_gw_cache_set_memo(struct tix_gw_thread *th, enum tix_gw_cache_kind kind, const char *key,
                           const char *text, size_t len);

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
/* The thread's outbox (after its event base exists); destroying it answers what it still holds
 * 503 (call while evhttp still holds those requests). */
struct tix_gw_outbox *tix_gw_outbox_create(struct tix_gw_thread *th);
void tix_gw_outbox_destroy(struct tix_gw_thread *th);
/* Submits command type for event (partition key; payload gets "event_id", stolen), answering
 * 200 with the outcome (gateway/http_events.c). */
void tix_gw_event_command(struct tix_req *req, const char *event, const char *type,
                          json_t *payload);
/* Called by the thread's loop: bus readable, or the periodic tick. */
void tix_gw_pending_poll(struct tix_gw_thread *th);
void tix_gw_pending_tick(struct tix_gw_thread *th);
/* Answers 202 now for every pending command the broker confirmed (shutdown). */
void tix_gw_pending_answer_confirmed(struct tix_gw_thread *th);
/* Answers every pending request 503 (bus lost) or 202 (shutdown). */
void tix_gw_pending_flush(struct tix_gw_thread *th, int status);

/* ---- access (gateway/auth.c; the pipeline's steps are in pipeline.h) ---- */

/* The caller's role in organization org: a user's membership role (from the members read
 * model; a closed organization has no members), TIX_ROLE_ADMIN for an API key of org holding
 * scope (any scope when NULL); -1 for anyone else (anonymous callers included), -2 when the read
 * model can't be read. Answers nothing. Blocking: for handlers deciding what an optional or
 * event-scoped caller may see. */
int tix_gw_org_role(struct tix_req *req, const char *org, const char *scope);
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
/* A command's wait for the broker's confirm. */
void tix_gw_metrics_confirm(struct tix_gw_thread *th, int64_t elapsed_us);
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
