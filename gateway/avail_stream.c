/* avail_stream.c - live availability: Server-Sent Events fed by Redis pub/sub
 *
 * GET /api/v1/events/{eventId}/availability/stream answers text/event-stream: first an
 * "snapshot" event (every session's counts from the sale read model), then an "availability"
 * event for every message the projector publishes on Redis channel avail:<event_id>
 * (projections/availability.h), and a comment line every 15 s so idle proxies keep the stream.
 *
 * Each event-loop thread has one hub: a hiredis asynchronous connection attached to the
 * thread's event base (no thread ever blocks on it), subscribed to the channels its clients
 * watch (one subscription per channel, however many clients). When Redis goes away the hub
 * reconnects once a second, subscribes again, and sends every client a fresh snapshot, so a
 * client never keeps counts older than the outage. A client that goes away is dropped by the
 * connection's close callback; the last client of a channel unsubscribes it.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/log.h"
#include "tix/mem.h"
#include "tix/redis.h"

#include "avail_stream.h"
#include "gateway.h"
#include "routes.h"

#define KEEPALIVE_S      15
#define STREAM_TIMEOUT_S 3600

struct client {
    struct client *next;
    struct tix_avail_hub *hub;
    struct evhttp_request *ev;
    char event_id[TIX_UUID_LEN + 1];
};

struct tix_avail_hub {
    struct tix_gw_thread *th;
    struct tix_redis_addr addr;
    redisAsyncContext *ac; /* NULL while down */
    bool is_ready;         /* connected (and authenticated) */
    bool is_closing;
    struct event *timer;
    int64_t last_keepalive_ms;
    struct client *clients;
};

/* Counts per session of a public, non-draft event, as one JSON text (NULL row: no such event). */
static const char snapshot_sql[] =
    "SELECT json_build_object('event_id', e.id, 'sessions', (SELECT COALESCE(json_agg("
    "json_build_object('session_id', s.session_id, 'ticket_types', (SELECT COALESCE(json_agg("
    "json_build_object('ticket_type_id', a.ticket_type_id, 'available', a.available,"
    " 'held', a.held, 'sold', a.sold) ORDER BY a.ticket_type_id), '[]'::json)"
    " FROM rm.availability a WHERE a.event_id = s.event_id AND a.session_id = s.session_id))"
    " ORDER BY s.starts_at), '[]'::json) FROM rm.sale_sessions s WHERE s.event_id = e.id))::text"
    " FROM rm.events e WHERE e.id = $1 AND NOT e.is_deleted AND e.visibility = 'public'"
    " AND e.status <> 'draft'";

static void send_text(struct evhttp_request *ev, const char *kind, const char *data)
{
    struct evbuffer *buf = evbuffer_new();
    if (kind != NULL)
        evbuffer_add_printf(buf, "event: %s\ndata: %s\n\n", kind, data);
    else
        evbuffer_add_printf(buf, "%s", data);
    evhttp_send_reply_chunk(ev, buf);
    evbuffer_free(buf);
}

/* The snapshot of event as JSON text (new string), or NULL (no such event, or unreadable). */
static char *snapshot(struct tix_db *db, const char *event)
{
    const char *params[] = {event};
    PGresult *res = NULL;
    if (tix_db_exec_prepared(db, "gw_avail_snapshot", snapshot_sql, 1, params, &res, NULL) !=
        TIX_OK)
        return NULL;
    char *text = PQntuples(res) == 1 ? tix_xstrdup(PQgetvalue(res, 0, 0)) : NULL;
    PQclear(res);
    return text;
}

/* ---- Redis --------------------------------------------------------------------------------- */

static int channel_clients(const struct tix_avail_hub *hub, const char *event)
{
    int n = 0;
    for (const struct client *c = hub->clients; c != NULL; c = c->next)
        n += strcmp(c->event_id, event) == 0;
    return n;
}

static void on_message(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct tix_avail_hub *hub = privdata;
    redisReply *reply = r;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(reply->element[0]->str, "message") != 0)
        return;
    const char *channel = reply->element[1]->str, *data = reply->element[2]->str;
    if (channel == NULL || data == NULL || strncmp(channel, "avail:", 6) != 0)
        return;
    for (struct client *c = hub->clients; c != NULL; c = c->next)
        if (strcmp(c->event_id, channel + 6) == 0)
            send_text(c->ev, "availability", data);
}

static void subscribe(struct tix_avail_hub *hub, const char *event)
{
    if (hub->ac != NULL)
        redisAsyncCommand(hub->ac, on_message, hub, "SUBSCRIBE avail:%s", event);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct tix_avail_hub *hub = ac->data;
    if (status != REDIS_OK)
        return; /* the disconnect callback follows */
    hub->is_ready = true;
    tix_log_info("availability stream connected to Redis", "thread=%d", hub->th->index);
    for (struct client *c = hub->clients; c != NULL; c = c->next) {
        bool is_first = true;
        for (struct client *d = hub->clients; d != c; d = d->next)
            is_first = is_first && strcmp(d->event_id, c->event_id) != 0;
        if (is_first)
            subscribe(hub, c->event_id);
        char *text = snapshot(hub->th->db, c->event_id);
        if (text != NULL)
            send_text(c->ev, "snapshot", text);
        free(text);
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct tix_avail_hub *hub = ac->data;
    hub->ac = NULL; /* hiredis frees it */
    if (hub->is_ready && !hub->is_closing)
        tix_log_warn("availability stream lost Redis, reconnecting", "thread=%d", hub->th->index);
    hub->is_ready = false;
}

static void hub_connect(struct tix_avail_hub *hub)
{
    redisAsyncContext *ac = redisAsyncConnect(hub->addr.host, hub->addr.port);
    if (ac == NULL)
        return;
    if (ac->err != 0) {
        redisAsyncFree(ac);
        return;
    }
    ac->data = hub;
    redisLibeventAttach(ac, hub->th->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    hub->ac = ac;
    if (hub->addr.password != NULL && hub->addr.user != NULL)
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s", hub->addr.user, hub->addr.password);
    else if (hub->addr.password != NULL)
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", hub->addr.password);
}

/* Once a second: reconnect when down, keep idle streams alive. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct tix_avail_hub *hub = arg;
    if (hub->ac == NULL && hub->clients != NULL)
        hub_connect(hub);
    int64_t now = tix_mono_ms();
    if (now - hub->last_keepalive_ms < KEEPALIVE_S * 1000)
        return;
    hub->last_keepalive_ms = now;
    for (struct client *c = hub->clients; c != NULL; c = c->next)
        send_text(c->ev, NULL, ": keepalive\n\n");
}

struct tix_avail_hub *tix_avail_hub_create(struct tix_gw_thread *th)
{
    struct tix_avail_hub *hub = tix_xcalloc(1, sizeof(*hub));
    hub->th = th;
    struct tix_err err;
    if (tix_redis_parse_url(th->gw->cfg->redis_url, &hub->addr, &err) != TIX_OK)
        tix_log_warn("availability streams disabled", "detail=\"%s\"", err.msg);
    hub->timer = event_new(th->base, -1, EV_PERSIST, timer_cb, hub);
    struct timeval tv = {1, 0};
    event_add(hub->timer, &tv);
    hub->last_keepalive_ms = tix_mono_ms();
    return hub;
}

void tix_avail_hub_destroy(struct tix_avail_hub *hub)
{
    if (hub == NULL)
        return;
    hub->is_closing = true;
    while (hub->clients != NULL) { /* evhttp_free closed them all; nothing should be left */
        struct client *c = hub->clients;
        hub->clients = c->next;
        free(c);
    }
    if (hub->ac != NULL)
        redisAsyncFree(hub->ac);
    event_free(hub->timer);
    tix_redis_addr_deinit(&hub->addr);
    free(hub);
}

/* ---- clients ------------------------------------------------------------------------------- */

/* The client went away (or the server is stopping). A request whose connection failed under it
 * was detached by libevent and is ours to free (evhttp_send_reply_end frees a detached one). */
static void on_close(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    struct client *c = arg;
    if (evhttp_request_get_connection(c->ev) == NULL)
        evhttp_send_reply_end(c->ev);
    struct tix_avail_hub *hub = c->hub;
    for (struct client **pp = &hub->clients; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    if (hub->ac != NULL && hub->is_ready && channel_clients(hub, c->event_id) == 0)
        redisAsyncCommand(hub->ac, NULL, NULL, "UNSUBSCRIBE avail:%s", c->event_id);
    free(c);
}

void tix_http_availability_stream(struct tix_req *req)
{
    const char *event = tix_gw_param(req, "eventId");
    struct tix_avail_hub *hub = req->th->hub;
    if (!tix_uuid_is_valid(event)) {
        tix_gw_problem(req, 404, "not-found", "no such event");
        return;
    }
    char *text = snapshot(req->th->db, event);
    if (text == NULL) {
        tix_gw_problem(req, 404, "not-found", "no such event");
        return;
    }
    if (hub == NULL || hub->addr.host[0] == '\0') {
        free(text);
        tix_gw_problem(req, 503, "unavailable", "live availability is not available right now");
        return;
    }
    struct client *c = tix_xcalloc(1, sizeof(*c));
    c->hub = hub;
    snprintf(c->event_id, sizeof(c->event_id), "%s", event);
    c->ev = tix_gw_reply_stream(req, "text/event-stream"); /* frees req: event is gone */
    event = c->event_id;
    if (c->ev == NULL) {
        free(text);
        free(c);
        return;
    }
    struct evhttp_connection *conn = evhttp_request_get_connection(c->ev);
    evhttp_connection_set_timeout(conn, STREAM_TIMEOUT_S);
    evhttp_connection_set_closecb(conn, on_close, c);
    bool is_first = channel_clients(hub, event) == 0;
    c->next = hub->clients;
    hub->clients = c;
    send_text(c->ev, NULL, "retry: 2000\n\n");
    send_text(c->ev, "snapshot", text);
    free(text);
    if (hub->ac == NULL)
        hub_connect(hub); /* subscribes every client's channel once connected */
    else if (is_first && hub->is_ready)
        subscribe(hub, event);
}
