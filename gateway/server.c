/* server.c - event-loop threads, the listening socket, dispatch and graceful shutdown
 *
 * Every thread has its own event base and evhttp accepting on one shared listening socket
 * (whichever loop is free takes the next connection; a second gateway on the same port fails
 * to start instead of silently sharing it), its own Postgres/RabbitMQ/Redis connections and
 * its own pending commands. The hot paths never wait on a peer: Postgres reads go through the
 * thread's pipelined connection and its cache (gateway/cache.c), Redis through its asynchronous
 * connection (limits batched per key, idempotency claims, writes nobody waits for), commands
 * through the broker with confirms; a request waits, the loop goes on with the others. Dispatch for
 * every request, in order: request id, route match (404/405), body size, rate limit by IP,
 * authentication (401), authorization (403/404), rate limit by user, idempotency key, then the
 * route's handler.
 *
 * Shutdown: on the stop flag each thread stops accepting (its socket is removed), lets
 * in-flight commands finish for up to 5 s, answers what is left, then leaves its loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tix/apg.h"
#include "tix/aredis.h"
#include "tix/ids.h"
#include "tix/log.h"
#include "tix/mem.h"
#include "tix/pii.h"
#include "tix/ratelimit.h"
#include "tix/redis.h"
#include "tix/ticket_sign.h"

#include "avail_stream.h"
#include "gateway.h"
#include "pipeline.h"

#define DRAIN_MAX_MS   5000
#define DRAIN_WRITE_MS 200

static int open_socket(const char *host, int port, struct tix_err *err)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        tix_err_set(err, TIX_EINVAL, "TIXMO_HTTP_HOST", "not an IPv4 address: %s", host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 1024) != 0) {
        tix_err_set(err, TIX_ETRANSIENT, "TIXMO_HTTP_PORT", "cannot listen on %s:%d: %s", host,
                    port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void request_cb(struct evhttp_request *ev, void *arg)
{
    struct tix_gw_thread *th = arg;
    struct tix_req *req = tix_xcalloc(1, sizeof(*req));
    req->ev = ev;
    req->th = th;
    req->start_us = tix_now_us();
    tix_buf_init(&req->body, 0);
    tix_gw_dispatch(req);
}

static void bus_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tix_gw_pending_poll(arg);
}

static void watch_bus(struct tix_gw_thread *th)
{
    if (th->bus_ev != NULL)
        event_free(th->bus_ev);
    th->bus_ev = event_new(th->base, tix_bus_fd(th->bus), EV_READ | EV_PERSIST, bus_cb, th);
    event_add(th->bus_ev, NULL);
}

/* (Re)connects the thread's bus; logs only transitions. */
static void ensure_bus(struct tix_gw_thread *th)
{
    if (th->is_bus_ok)
        return;
    struct tix_err err;
    struct tix_bus *bus = NULL;
    enum tix_rc rc = tix_bus_open(th->gw->cfg->amqp_url, "tixmo-gateway", &bus, &err);
    if (rc == TIX_OK && th->index == 0)
        rc = tix_bus_declare_topology(bus, th->gw->cfg->partitions, th->gw->cfg->delivery_limit,
                                      &err);
    if (rc == TIX_OK)
        rc = tix_bus_enable_replies(bus, &err);
    if (rc != TIX_OK) {
        tix_bus_close(bus);
        return;
    }
    tix_bus_close(th->bus);
    th->bus = bus;
    th->failures_seen_at = 0;
    th->is_bus_ok = true;
    watch_bus(th);
    tix_log_info("gateway thread connected to the broker", "thread=%d", th->index);
}

static bool is_drained(struct tix_gw_thread *th)
{
    return __atomic_load_n(&th->commands_pending, __ATOMIC_RELAXED) == 0 && th->waiting == 0 &&
           __atomic_load_n(&th->offloads, __ATOMIC_RELAXED) == 0;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct tix_gw_thread *th = arg;
    ensure_bus(th);
    tix_gw_pending_tick(th);
    if (!*th->gw->stop)
        return;
    int64_t now = tix_mono_ms();
    if (th->drain_started_ms == 0) {
        th->drain_started_ms = now;
        evhttp_del_accept_socket(th->http, th->bound); /* stop accepting; keep connections */
        int lfd = __atomic_exchange_n(&th->gw->listen_fd, -1, __ATOMIC_ACQ_REL);
        if (lfd >= 0)
            close(lfd); /* the last descriptor of the socket: new connections are refused */
        tix_gw_pending_answer_confirmed(th); /* accepted is a full answer: don't hold it */
    }
    if (th->drained_ms == 0 && (is_drained(th) || now - th->drain_started_ms > DRAIN_MAX_MS)) {
        tix_gw_pending_flush(th, 202);
        th->drained_ms = now;
    }
    if (th->drained_ms != 0 && now - th->drained_ms >= DRAIN_WRITE_MS)
        event_base_loopexit(th->base, NULL); /* the last answers had time to be written */
}

static void notify_cb(void *ctx, const char *channel, const char *payload)
{
    (void)channel;
    struct tix_gw_thread *th = ctx;
    tix_gw_cache_invalidate(th->cache, payload);
}

static void reset_cb(void *ctx)
{
    struct tix_gw_thread *th = ctx;
    tix_gw_cache_clear(th->cache);
}

/* The loop's own Postgres (LISTENing for read-model changes) and Redis, the batched limiter
 * and the cache. */
static enum tix_rc open_async(struct tix_gw_thread *th, struct tix_err *err)
{
    static const char *const channels[] = {"tix_rm", NULL};
    const struct tix_config *cfg = th->gw->cfg;
    th->cache = tix_gw_cache_create(cfg->gw_cache_ttl_ms);
    struct tix_apg_listener listener = {
        .channels = channels, .on_notify = notify_cb, .on_reset = reset_cb, .ctx = th};
    enum tix_rc rc = tix_apg_open(th->base, cfg->db_url, &listener, &th->apg, err);
    if (rc != TIX_OK)
        return rc;
    rc = tix_aredis_open(th->base, cfg->redis_url, cfg->redis_timeout_ms, &th->aredis, err);
    if (rc != TIX_OK)
        return rc;
    th->limits = tix_ratelimit_async_create(th->aredis, th->gw->local_limits);
    return TIX_OK;
}

static enum tix_rc thread_init(struct tix_gw_thread *th, int listen_fd, struct tix_err *err)
{
    const struct tix_config *cfg = th->gw->cfg;
    th->base = event_base_new();
    th->http = evhttp_new(th->base);
    evhttp_set_max_headers_size(th->http, 16384);
    evhttp_set_max_body_size(th->http, (ev_ssize_t)cfg->http_max_body * 4);
    evhttp_set_timeout(th->http, cfg->http_timeout_s);
    evhttp_set_allowed_methods(th->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                             EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE |
                                             EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(th->http, request_cb, th);
    int fd = dup(listen_fd); /* each evhttp owns (and closes) its descriptor */
    th->bound = fd >= 0 ? evhttp_accept_socket_with_handle(th->http, fd) : NULL;
    if (th->bound == NULL) {
        close(fd);
        return tix_err_set(err, TIX_EINTERNAL, "", "evhttp_accept_socket failed");
    }
    enum tix_rc rc = tix_db_open(cfg->db_url, &th->db, err);
    if (rc != TIX_OK)
        return rc;
    tix_redis_open(cfg->redis_url, cfg->redis_timeout_ms, &th->redis, NULL); /* down is tolerated */
    th->limiter = tix_ratelimiter_create(th->redis, th->gw->local_limits);
    rc = open_async(th, err);
    if (rc != TIX_OK)
        return rc;
    th->hub = tix_avail_hub_create(th);
    th->outbox = tix_gw_outbox_create(th);
    ensure_bus(th);
    tix_gw_metrics_init(th, th->gw->n_routes);
    th->tick_ev = event_new(th->base, -1, EV_PERSIST, tick_cb, th);
    struct timeval tv = {0, 50000};
    event_add(th->tick_ev, &tv);
    return TIX_OK;
}

static void thread_deinit(struct tix_gw_thread *th)
{
    /* Requests still waiting are answered (503, or a local limit) while evhttp still holds
     * them; each handle is unset before it closes, so what it answers can't reach it again. */
    tix_gw_outbox_destroy(th);
    struct tix_apg *apg = th->apg;
    th->apg = NULL;
    tix_apg_close(apg);
    struct tix_aredis *ar = th->aredis;
    th->aredis = NULL;
    tix_aredis_close(ar);
    tix_ratelimit_async_destroy(th->limits);
    th->limits = NULL;
    tix_gw_cache_destroy(th->cache);
    th->cache = NULL;
    if (th->http != NULL)
        evhttp_free(th->http); /* closes the live streams too: before their hub goes */
    tix_avail_hub_destroy(th->hub);
    if (th->bus_ev != NULL)
        event_free(th->bus_ev);
    if (th->tick_ev != NULL)
        event_free(th->tick_ev);
    tix_bus_close(th->bus);
    tix_db_close(th->db);
    tix_ratelimiter_destroy(th->limiter);
    tix_redis_close(th->redis);
    tix_gw_metrics_deinit(th);
    if (th->base != NULL)
        event_base_free(th->base);
}

static void *thread_main(void *arg)
{
    struct tix_gw_thread *th = arg;
    event_base_dispatch(th->base);
    return NULL;
}

static int count_routes(void)
{
    int n = 0;
    while (tix_routes[n].method != NULL)
        n++;
    return n;
}

enum tix_rc tix_gw_run(const struct tix_config *cfg, volatile sig_atomic_t *stop,
                       struct tix_err *err)
{
    evthread_use_pthreads();
    struct tix_gw gw = {.cfg = cfg, .stop = stop, .started_us = tix_now_us()};
    gw.n_routes = count_routes();
    if (tix_pii_parse_key(cfg->pii_key, gw.pii_key, err) != TIX_OK ||
        tix_ticket_master_parse(cfg->ticket_key, gw.ticket_master, err) != TIX_OK)
        return err->rc;
    gw.jwt_key = (const uint8_t *)cfg->jwt_secret;
    gw.jwt_key_len = strlen(cfg->jwt_secret);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    gw.n_threads = cfg->http_threads > 0 ? cfg->http_threads : (int)(cores > 0 ? cores : 1);
    gw.threads = tix_xcalloc((size_t)gw.n_threads, sizeof(*gw.threads));
    gw.local_limits = tix_ratelimit_local_create(65536);
    gw.pool = tix_gw_pool_create(gw.n_threads);
    int listen_fd = open_socket(cfg->http_host, cfg->http_port, err);
    gw.listen_fd = listen_fd;
    enum tix_rc rc = listen_fd < 0 ? err->rc : TIX_OK;
    for (int i = 0; i < gw.n_threads && rc == TIX_OK; i++) {
        gw.threads[i].gw = &gw;
        gw.threads[i].index = i;
        rc = thread_init(&gw.threads[i], listen_fd, err);
    }
    pthread_t *tids = tix_xcalloc((size_t)gw.n_threads, sizeof(*tids));
    if (rc == TIX_OK) {
        tix_log_info("gateway listening", "host=%s port=%d threads=%d routes=%d", cfg->http_host,
                     cfg->http_port, gw.n_threads, gw.n_routes);
        for (int i = 0; i < gw.n_threads; i++)
            pthread_create(&tids[i], NULL, thread_main, &gw.threads[i]);
        for (int i = 0; i < gw.n_threads; i++)
            pthread_join(tids[i], NULL);
        tix_log_info("gateway stopped", NULL);
    }
    free(tids);
    tix_gw_pool_destroy(gw.pool);
    if (gw.listen_fd >= 0)
        close(gw.listen_fd);
    for (int i = 0; i < gw.n_threads; i++)
        thread_deinit(&gw.threads[i]);
    tix_ratelimit_local_destroy(gw.local_limits);
    free(gw.threads);
    return rc;
}
