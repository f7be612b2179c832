/* bare_http.c - bench/gateway's baseline: the least a libevent HTTP server can do per request
 *
 * One event-loop thread answering every request with a small JSON body and the same headers
 * the gateway sends. Whatever the gateway adds (routing, authentication, limits, database
 * reads, logging) shows as the ratio between the two in the same run.
 *
 * Usage: bench-bare_http PORT   (runs until killed)
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>

static void reply_cb(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", "application/json");
    evhttp_add_header(out, "X-Request-Id", "01a1fd04-e456-7e99-87e4-df37890b0471");
    evhttp_add_header(out, "Cache-Control", "no-store");
    struct evbuffer *buf = evbuffer_new();
    evbuffer_add_printf(buf, "{\"id\":\"01a1fd04-e456-7e99-87e4-df37890b0471\",\"ok\":true}");
    evhttp_send_reply(req, 200, "OK", buf);
    evbuffer_free(buf);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 28090;
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_gencb(http, reply_cb, NULL);
    if (evhttp_bind_socket(http, "127.0.0.1", (ev_uint16_t)port) != 0) {
        fprintf(stderr, "bench-bare_http: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    event_base_dispatch(base);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}
