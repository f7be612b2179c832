/* buyers.c - simulated buyers over HTTP for bench/flash_sale (see buyers.h)
 *
 * Invariants: a buyer has at most one request in flight; every request's latency is measured
 * from the moment it was handed to libevent to its complete response; the figures count
 * answers by their status only (201/200 succeeded, 409/422 refused, anything else failed).
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tix/ids.h"
#include "tix/jwt.h"
#include "tix/stripe_sig.h"

#include "buyers.h"

#define SOLD_OUT_STREAK 400 /* refusals in a row after which the show counts as sold out */
#define LAT_CAP         (1 << 20)

enum step { STEP_HOLD, STEP_ORDER, STEP_PAY };

struct run;

struct buyer {
    struct run *run;
    struct evhttp_connection *conn;
    enum step step;
    char user_id[TIX_UUID_LEN + 1];
    char *token;
    char hold_id[64];
    char order_id[64];
    char intent_id[64];
    int order_tries;
    int64_t total_minor;
    char currency[8];
    int quantity;
    int seat; /* the hold's first seat (index in run->seat_*), -1 for general admission */
    int64_t sent_ns;
};

struct run {
    const struct sale_plan *plan;
    struct event_base *base;
    struct sale_figures *fig;
    int64_t start_ns, deadline_ns;
    int refused_streak;
    bool is_stopping;
    int active; /* buyers with a request in flight or due (paced: only those in flight) */
    /* Paced runs (rate > 0): holds start on a schedule, each by an idle buyer. */
    int rate;
    int64_t n_due;
    struct buyer **idle;
    int n_idle;
    struct event *tick;
    int64_t *lat_us;
    size_t n_lat;
    unsigned seed;
    /* The live stream: per seat, when its hold was answered and when a push showed it taken
     * (0: not yet); the delays measured; the unread rest of the stream. */
    struct evhttp_connection *stream;
    int64_t *seat_answered_ns, *seat_pushed_ns;
    int n_seats;
    int64_t *push_us;
    size_t n_push;
    struct evbuffer *sse;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void note_error(struct run *run, const char *what, int status, const char *body)
{
    if (run->fig->first_error[0] == '\0')
        snprintf(run->fig->first_error, sizeof(run->fig->first_error), "%s: %d %.200s", what,
                 status, body != NULL ? body : "");
}

static char *mint_token(const struct sale_plan *plan, const char *user_id)
{
    int64_t now = tix_now_us() / 1000000;
    json_t *claims =
        json_pack("{ss ss sI sI ss}", "sub", user_id, "typ", "access", "iat", (json_int_t)now,
                  "exp", (json_int_t)(now + 3600), "sid", "00000000-0000-7000-8000-000000000000");
    char *token = NULL;
    tix_jwt_sign(claims, (const uint8_t *)plan->jwt_secret, strlen(plan->jwt_secret), &token, NULL);
    json_decref(claims);
    return token;
}

static void on_response(struct evhttp_request *req, void *arg);

static void send_json(struct buyer *b, const char *uri, const char *body, const char *signature)
{
    struct evhttp_request *req = evhttp_request_new(on_response, b);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", "127.0.0.1");
    evhttp_add_header(h, "Content-Type", "application/json");
    if (signature != NULL) {
        evhttp_add_header(h, "Stripe-Signature", signature);
    } else {
        char auth[2048];
        snprintf(auth, sizeof(auth), "Bearer %s", b->token);
        evhttp_add_header(h, "Authorization", auth);
    }
    evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    b->sent_ns = mono_ns();
    if (evhttp_make_request(b->conn, req, EVHTTP_REQ_POST, uri) != 0)
        note_error(b->run, "send", 0, uri);
}

/* The index of seat "<section letter>-<row>-<n>" (section from 0, row and n from 1). */
static int seat_index(const struct sale_plan *p, int section, int row, int n)
{
    return (section * p->rows + row - 1) * p->seats_per_row + n - 1;
}

/* A seat's delay from its hold's answer to the push showing it held, once both are known. */
static void note_push(struct run *run, int seat)
{
    int64_t answered = run->seat_answered_ns[seat], pushed = run->seat_pushed_ns[seat];
    if (answered == 0 || pushed == 0 || run->n_push >= LAT_CAP)
        return;
    run->push_us[run->n_push++] = pushed > answered ? (pushed - answered) / 1000 : 0;
}

/* One event of the stream: the seats an "availability" push shows taken (held, or already sold
 * when the buyer paid before the push). */
static void on_stream_event(struct run *run, const char *block)
{
    const char *data = strstr(block, "data: ");
    if (strncmp(block, "event: availability", 19) != 0 || data == NULL)
        return;
    json_t *j = json_loads(data + 6, JSON_DISABLE_EOF_CHECK, NULL);
    const char *id;
    json_t *status;
    int64_t now = mono_ns();
    json_object_foreach(json_object_get(j, "seats"), id, status)
    {
        char letter;
        int row, n;
        const char *st = json_string_value(status) ? json_string_value(status) : "";
        if ((strcmp(st, "held") != 0 && strcmp(st, "sold") != 0) ||
            sscanf(id, "%c-%d-%d", &letter, &row, &n) != 3)
            continue;
        int section = letter - 'A';
        if (section < 0 || section >= run->plan->sections || row < 1 || row > run->plan->rows ||
            n < 1 || n > run->plan->seats_per_row)
            continue;
        int seat = seat_index(run->plan, section, row, n);
        if (run->seat_pushed_ns[seat] == 0) {
            run->seat_pushed_ns[seat] = now;
            note_push(run, seat);
        }
    }
    json_decref(j);
}

/* Reads the stream as it comes: events end with an empty line. */
static void on_stream_chunk(struct evhttp_request *req, void *arg)
{
    struct run *run = arg;
    evbuffer_add_buffer(run->sse, evhttp_request_get_input_buffer(req));
    for (;;) {
        struct evbuffer_ptr end = evbuffer_search(run->sse, "\n\n", 2, NULL);
        if (end.pos < 0)
            return;
        char *block = malloc((size_t)end.pos + 1);
        evbuffer_remove(run->sse, block, (size_t)end.pos);
        block[end.pos] = '\0';
        evbuffer_drain(run->sse, 2);
        on_stream_event(run, block);
        free(block);
    }
}

static void on_stream_end(struct evhttp_request *req, void *arg)
{
    (void)req;
    (void)arg;
}

/* Starts watching the show's live availability (a seat map's stream). */
static void watch_stream(struct run *run)
{
    const struct sale_plan *p = run->plan;
    run->n_seats = p->sections * p->rows * p->seats_per_row;
    run->seat_answered_ns = calloc((size_t)run->n_seats, sizeof(int64_t));
    run->seat_pushed_ns = calloc((size_t)run->n_seats, sizeof(int64_t));
    run->push_us = calloc(LAT_CAP, sizeof(int64_t));
    run->sse = evbuffer_new();
    run->stream = evhttp_connection_base_new(run->base, NULL, "127.0.0.1", (uint16_t)p->port);
    struct evhttp_request *req = evhttp_request_new(on_stream_end, run);
    evhttp_request_set_chunked_cb(req, on_stream_chunk);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Accept", "text/event-stream");
    char uri[128];
    snprintf(uri, sizeof(uri), "/api/v1/events/%s/availability/stream", p->event_id);
    if (evhttp_make_request(run->stream, req, EVHTTP_REQ_GET, uri) != 0)
        note_error(run, "stream", 0, uri);
}

/* A new person asks for 1-4 tickets. */
static void start_hold(struct buyer *b)
{
    struct run *run = b->run;
    const struct sale_plan *p = run->plan;
    free(b->token);
    tix_uuid_v7(b->user_id);
    b->token = mint_token(p, b->user_id);
    b->step = STEP_HOLD;
    b->quantity = 1 + (int)(rand_r(&run->seed) % 4);
    b->seat = -1;
    json_t *body;
    if ((int)(rand_r(&run->seed) % 100) < p->ga_share_pct || p->reserved_type[0] == '\0') {
        const char *type = p->ga_types[rand_r(&run->seed) % (unsigned)p->n_ga_types];
        body = json_pack("{ss ss ss si}", "event_id", p->event_id, "session_id", p->session_id,
                         "ticket_type_id", type, "quantity", b->quantity);
    } else {
        int section = (int)(rand_r(&run->seed) % (unsigned)p->sections);
        int row = 1 + (int)(rand_r(&run->seed) % (unsigned)p->rows);
        int first = 1 + (int)(rand_r(&run->seed) % (unsigned)(p->seats_per_row - b->quantity + 1));
        b->seat = seat_index(p, section, row, first);
        json_t *seats = json_array();
        for (int i = 0; i < b->quantity; i++) {
            char id[32];
            snprintf(id, sizeof(id), "%c-%d-%d", 'A' + section, row, first + i);
            json_array_append_new(seats, json_string(id));
        }
        body = json_pack("{ss ss ss so}", "event_id", p->event_id, "session_id", p->session_id,
                         "ticket_type_id", p->reserved_type, "seats", seats);
    }
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    send_json(b, "/api/v1/cart/items", s, NULL);
    free(s);
}

static void place_order(struct buyer *b)
{
    b->step = STEP_ORDER;
    char body[192];
    snprintf(body, sizeof(body), "{\"hold_id\":\"%s\",\"event_id\":\"%s\"}", b->hold_id,
             b->run->plan->event_id);
    send_json(b, "/api/v1/orders", body, NULL);
}

static void retry_order(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    place_order(arg);
}

static void pay(struct buyer *b)
{
    b->step = STEP_PAY;
    snprintf(b->intent_id, sizeof(b->intent_id), "pi_%.8s%.4s%.4s%.4s%.12s", b->order_id,
             b->order_id + 9, b->order_id + 14, b->order_id + 19, b->order_id + 24);
    char uuid[TIX_UUID_LEN + 1], evt[TIX_UUID_LEN + 8];
    tix_uuid_v7(uuid);
    snprintf(evt, sizeof(evt), "evt_%.8s%.4s%.4s%.4s%.12s", uuid, uuid + 9, uuid + 14, uuid + 19,
             uuid + 24);
    json_t *event = json_pack(
        "{ss ss ss s{s{ss ss sI ss ss s{ss ss}}}}", "id", evt, "object", "event", "type",
        "payment_intent.succeeded", "data", "object", "id", b->intent_id, "object",
        "payment_intent", "amount", (json_int_t)b->total_minor, "currency", b->currency, "status",
        "succeeded", "metadata", "order_id", b->order_id, "event_id", b->run->plan->event_id);
    char *payload = json_dumps(event, JSON_COMPACT);
    json_decref(event);
    char sig[TIX_STRIPE_SIG_SIGNED_MAX];
    tix_stripe_sig_sign(payload, strlen(payload), b->run->plan->webhook_secret,
                        tix_now_us() / 1000000, sig, sizeof(sig));
    send_json(b, "/api/v1/payments/webhook", payload, sig);
    free(payload);
}

static void next_or_stop(struct buyer *b)
{
    struct run *run = b->run;
    if (run->rate > 0) {
        /* Paced: the buyer waits for the schedule's next hold. */
        run->idle[run->n_idle++] = b;
        if (--run->active == 0 && run->is_stopping)
            event_base_loopbreak(run->base);
        return;
    }
    if (run->is_stopping || mono_ns() >= run->deadline_ns) {
        run->is_stopping = true;
        if (--run->active == 0)
            event_base_loopbreak(run->base);
        return;
    }
    start_hold(b);
}

static json_t *body_json(struct evhttp_request *req, char **text)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    *text = malloc(n + 1);
    evbuffer_remove(in, *text, n);
    (*text)[n] = '\0';
    return json_loads(*text, 0, NULL);
}

static void on_hold(struct buyer *b, int status, const json_t *j, const char *text)
{
    struct run *run = b->run;
    const char *hold = json_string_value(json_object_get(j, "hold_id"));
    if (hold == NULL)
        hold = json_string_value(json_object_get(j, "id"));
    if ((status == 201 || status == 200) && hold != NULL) {
        snprintf(b->hold_id, sizeof(b->hold_id), "%s", hold);
        b->order_tries = 0;
        run->fig->holds_ok++;
        run->fig->tickets_held += b->quantity;
        int64_t now = mono_ns();
        for (int k = 0; b->seat >= 0 && k < b->quantity; k++) {
            run->seat_answered_ns[b->seat + k] = now;
            note_push(run, b->seat + k);
        }
        run->refused_streak = 0;
        if (run->n_lat < LAT_CAP)
            run->lat_us[run->n_lat++] = (now - b->sent_ns) / 1000;
        if (run->plan->holds_only)
            next_or_stop(b);
        else
            place_order(b);
        return;
    }
    if (status == 409 || status == 422) {
        run->fig->holds_refused++;
        if (strstr(text, "insufficient_stock") != NULL && ++run->refused_streak >= SOLD_OUT_STREAK)
            run->is_stopping = true;
    } else {
        run->fig->holds_failed++;
        note_error(run, "hold", status, text);
    }
    next_or_stop(b);
}

static void on_order(struct buyer *b, int status, const json_t *j, const char *text)
{
    const char *id = json_string_value(json_object_get(j, "order_id"));
    const char *currency = json_string_value(json_object_get(j, "currency"));
    if ((status == 201 || status == 200) && id != NULL && currency != NULL) {
        b->run->fig->orders_ok++;
        snprintf(b->order_id, sizeof(b->order_id), "%s", id);
        snprintf(b->currency, sizeof(b->currency), "%s", currency);
        b->total_minor = json_integer_value(json_object_get(j, "total_minor"));
        pay(b);
        return;
    }
    if (status == 404 && ++b->order_tries < 100) {
        /* the hold is decided but not yet in the read model the gateway looks it up in */
        b->run->fig->order_retries++;
        struct timeval tv = {0, 20000};
        event_base_once(b->run->base, -1, EV_TIMEOUT, retry_order, b, &tv);
        return;
    }
    b->run->fig->orders_failed++;
    note_error(b->run, "order", status, text);
    next_or_stop(b);
}

static void on_response(struct evhttp_request *req, void *arg)
{
    struct buyer *b = arg;
    int status = req != NULL ? evhttp_request_get_response_code(req) : 0;
    char *text = NULL;
    json_t *j = req != NULL ? body_json(req, &text) : NULL;
    const char *t = text != NULL ? text : "";
    switch (b->step) {
    case STEP_HOLD:
        on_hold(b, status, j, t);
        break;
    case STEP_ORDER:
        on_order(b, status, j, t);
        break;
    case STEP_PAY:
        if (status == 200) {
            b->run->fig->payments_ok++;
        } else {
            b->run->fig->payments_failed++;
            note_error(b->run, "payment", status, t);
        }
        next_or_stop(b);
        break;
    }
    json_decref(j);
    free(text);
}

/* Paced runs, every millisecond: starts the holds the schedule (rate a second since the start)
 * has made due, each by an idle buyer; a hold due while every buyer is busy is counted as
 * missed (the stack is not keeping up with the rate). */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct run *run = arg;
    int64_t now = mono_ns();
    if (run->is_stopping || now >= run->deadline_ns) {
        run->is_stopping = true;
        event_del(run->tick);
        if (run->active == 0)
            event_base_loopbreak(run->base);
        return;
    }
    int64_t due = (now - run->start_ns) * run->rate / 1000000000;
    for (; run->n_due < due; run->n_due++) {
        if (run->n_idle == 0) {
            run->fig->holds_missed++;
            continue;
        }
        run->active++;
        start_hold(run->idle[--run->n_idle]);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The live stream's figures; frees what watch_stream made. */
static void stream_figures(struct run *run, struct sale_figures *out)
{
    for (int i = 0; i < run->n_seats; i++)
        out->pushes_missing += run->seat_answered_ns[i] != 0 && run->seat_pushed_ns[i] == 0;
    out->pushes = (int64_t)run->n_push;
    qsort(run->push_us, run->n_push, sizeof(int64_t), cmp_i64);
    if (run->n_push > 0) {
        out->push_p50_ms = (double)run->push_us[run->n_push / 2] / 1000.0;
        out->push_p99_ms = (double)run->push_us[(run->n_push * 99) / 100] / 1000.0;
        out->push_max_ms = (double)run->push_us[run->n_push - 1] / 1000.0;
    }
    evhttp_connection_free(run->stream);
    evbuffer_free(run->sse);
    free(run->seat_answered_ns);
    free(run->seat_pushed_ns);
    free(run->push_us);
}

int tix_bench_buyers_run(const struct sale_plan *plan, int buyers, int seconds, int rate,
                         struct sale_figures *out)
{
    memset(out, 0, sizeof(*out));
    struct run run = {.plan = plan, .fig = out, .seed = 12345, .rate = rate};
    run.base = event_base_new();
    run.lat_us = calloc(LAT_CAP, sizeof(int64_t));
    run.idle = calloc((size_t)buyers, sizeof(*run.idle));
    struct buyer *b = calloc((size_t)buyers, sizeof(*b));
    watch_stream(&run);
    struct timeval settle = {0, 300000}; /* the stream's snapshot, and its subscription */
    event_base_loopexit(run.base, &settle);
    event_base_dispatch(run.base);
    run.start_ns = mono_ns();
    run.deadline_ns = run.start_ns + (int64_t)seconds * 1000000000;
    for (int i = 0; i < buyers; i++) {
        b[i].run = &run;
        b[i].conn = evhttp_connection_base_new(run.base, NULL, "127.0.0.1", (uint16_t)plan->port);
        evhttp_connection_set_timeout(b[i].conn, 60);
        if (rate > 0) {
            run.idle[run.n_idle++] = &b[i];
        } else {
            run.active++;
            start_hold(&b[i]);
        }
    }
    if (rate > 0) {
        struct timeval ms = {0, 1000};
        run.tick = event_new(run.base, -1, EV_PERSIST, on_tick, &run);
        event_add(run.tick, &ms);
    }
    event_base_dispatch(run.base);
    if (run.tick != NULL)
        event_free(run.tick);
    out->elapsed_s = (double)(mono_ns() - run.start_ns) / 1e9;
    struct timeval drain = {STREAM_DRAIN_S, 0}; /* pushes still on their way */
    event_base_loopexit(run.base, &drain);
    event_base_dispatch(run.base);
    stream_figures(&run, out);
    qsort(run.lat_us, run.n_lat, sizeof(int64_t), cmp_i64);
    if (run.n_lat > 0) {
        out->hold_p50_ms = (double)run.lat_us[run.n_lat / 2] / 1000.0;
        out->hold_p99_ms = (double)run.lat_us[(run.n_lat * 99) / 100] / 1000.0;
    }
    out->holds_per_s = (double)out->holds_ok / out->elapsed_s;
    out->decisions_per_s = (double)(out->holds_ok + out->holds_refused) / out->elapsed_s;
    out->orders_per_s = (double)out->orders_ok / out->elapsed_s;
    for (int i = 0; i < buyers; i++) {
        evhttp_connection_free(b[i].conn);
        free(b[i].token);
    }
    free(b);
    free(run.idle);
    free(run.lat_us);
    event_base_free(run.base);
    return 0;
}
