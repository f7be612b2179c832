/* reply.c - answering requests: JSON, RFC 9457 problems, bodies checked against field specs
 *
 * Every answer goes through tix_gw_reply, which adds X-Request-Id, stores the idempotent
 * response, writes the request's one log line, counts metrics and frees the request. A request
 * whose client went away (ev == NULL) is still logged and freed, never written to.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/log.h"
#include "tix/mem.h"

#include "pipeline.h"

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 423:
        return "Locked";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

void tix_gw_header(struct tix_req *req, const char *name, const char *value)
{
    if (req->ev == NULL)
        return;
    struct evkeyvalq *out = evhttp_request_get_output_headers(req->ev);
    evhttp_remove_header(out, name);
    evhttp_add_header(out, name, value);
}

static void log_request(const struct tix_req *req, int status)
{
    int64_t us = tix_now_us() - req->start_us;
    const char *path = "-";
    if (req->ev != NULL)
        path = evhttp_request_get_uri(req->ev);
    tix_log(status >= 500 ? TIX_LOG_WARN : TIX_LOG_INFO, "request",
            "request_id=%s route=\"%s %s\" path=\"%.200s\" status=%d duration_us=%lld ip=%s "
            "actor=%s",
            req->id, req->route ? req->route->method : "-", req->route ? req->route->pattern : "-",
            path, status, (long long)us, req->ip, req->who.actor[0] ? req->who.actor : "-");
}

/* An answer held until Redis stored it as the Idempotency-Key's answer. */
struct held {
    struct evhttp_request *ev;
    int status;
    struct evbuffer *buf;
    char request_id[72];
};

static void send_held(void *ctx, enum tix_rc rc)
{
    struct held *h = ctx;
    if (rc != TIX_OK && rc != TIX_ENOTFOUND)
        tix_log_warn("idempotent response not stored", "request_id=%s rc=%s", h->request_id,
                     tix_rc_name(rc));
    evhttp_send_reply(h->ev, h->status, reason_of(h->status), h->buf);
    evbuffer_free(h->buf);
    free(h);
}

/* An answer under an Idempotency-Key goes out only once Redis has it: a client that retries
 * the moment it has the answer must get it replayed, not "in progress". */
void tix_gw_reply(struct tix_req *req, int status, const char *content_type, const char *body,
                  size_t len)
{
    const char *location = NULL;
    struct held *h = NULL;
    if (req->ev != NULL) {
        struct evkeyvalq *out = evhttp_request_get_output_headers(req->ev);
        if (body != NULL && len > 0)
            tix_gw_header(req, "Content-Type", content_type);
        tix_gw_header(req, "X-Request-Id", req->id);
        tix_gw_header(req, "Cache-Control", "no-store");
        location = evhttp_find_header(out, "Location");
        h = tix_xcalloc(1, sizeof(*h));
        h->ev = req->ev;
        h->status = status;
        h->buf = evbuffer_new();
        snprintf(h->request_id, sizeof(h->request_id), "%s", req->id);
        if (body != NULL)
            evbuffer_add(h->buf, body, len);
    }
    if (!req->has_idem || !tix_gw_idem_finish(req, status, content_type, location, body, len,
                                              h != NULL ? send_held : NULL, h)) {
        if (h != NULL)
            send_held(h, TIX_OK);
    }
    log_request(req, status);
    tix_gw_metrics_count(req->th, req->route, status, tix_now_us() - req->start_us);
    tix_buf_deinit(&req->body);
    free(req);
}

/* Sends a stream's small writes at once: with Nagle's algorithm a push written while the last
 * one is unacknowledged waits for that ack, which the client may delay by up to 40 ms. */
static void send_at_once(struct evhttp_request *ev)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(ev);
    struct bufferevent *bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;
    evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
    int one = 1;
    if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        tix_log_debug("stream sent with Nagle's algorithm", "errno=%d", errno);
}

struct evhttp_request *tix_gw_reply_stream(struct tix_req *req, const char *content_type)
{
    struct evhttp_request *ev = req->ev;
    if (ev != NULL) {
        send_at_once(ev);
        tix_gw_header(req, "Content-Type", content_type);
        tix_gw_header(req, "X-Request-Id", req->id);
        tix_gw_header(req, "Cache-Control", "no-store");
        tix_gw_header(req, "X-Accel-Buffering", "no");
        evhttp_send_reply_start(ev, 200, reason_of(200));
    }
    log_request(req, 200);
    tix_gw_metrics_count(req->th, req->route, 200, tix_now_us() - req->start_us);
    tix_buf_deinit(&req->body);
    free(req);
    return ev;
}

void tix_gw_reply_json(struct tix_req *req, int status, json_t *body)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    tix_gw_reply(req, status, "application/json", text, text != NULL ? strlen(text) : 0);
    free(text);
}

static json_t *problem_body(const struct tix_req *req, int status, const char *type,
                            const char *detail)
{
    char uri[160];
    snprintf(uri, sizeof(uri), "https://tixmo.org/problems/%s", type);
    return json_pack("{ss ss si ss ss}", "type", uri, "title", reason_of(status), "status", status,
                     "detail", detail, "request_id", req->id);
}

static void reply_problem(struct tix_req *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    tix_gw_reply(req, status, "application/problem+json", text, strlen(text));
    free(text);
}

void tix_gw_problem(struct tix_req *req, int status, const char *type, const char *detail)
{
    reply_problem(req, status, problem_body(req, status, type, detail));
}

void tix_gw_problem_ex(struct tix_req *req, int status, const char *type, const char *detail,
                       json_t *errors)
{
    json_t *body = problem_body(req, status, type, detail);
    if (errors != NULL)
        json_object_set_new(body, "errors", errors);
    reply_problem(req, status, body);
}

void tix_gw_problem_fields(struct tix_req *req, int status, const char *detail, json_t *errors)
{
    tix_gw_problem_ex(req, status, "validation-failed", detail, errors);
}
