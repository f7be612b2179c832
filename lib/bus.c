/* bus.c - the command bus over rabbitmq-c 0.11: confirms, deliveries and replies
 *
 * One connection, two channels. Channel 1 (MAIN_CH) carries everything with per-channel state:
 * confirm mode, publishes, consumers, basic.get, acks. Channel 2 (SIDE_CH, opened on first use)
 * carries declarations, deletes, depth and purge, so a refusal there (404, 406) closes only that
 * channel and the next side call reopens it.
 *
 * All reading goes through one frame loop, pump(), in arrival order: basic.deliver is read with
 * its content into an owned delivery queued for tix_bus_next; basic.ack / basic.nack settle
 * delivery tags; basic.return is read and discarded and fails the current confirm batch (the
 * broker still acks the returned message, after the return); channel.close / connection.close
 * are answered with close-ok and break the bus; the reply an RPC waits for is handed back.
 * Our own RPCs go through that loop too (never amqp_simple_rpc on channel 1), because the
 * library's RPC queues acks and deliveries aside and a later amqp_read_message would then pick
 * a queued frame of the wrong message.
 *
 * Invariants:
 *   - published is the last delivery tag used (tags start at 1); every tag <= confirmed is
 *     settled, and ahead[] holds settled tags > confirmed + 1, ascending, without duplicates, so
 *     unconfirmed = published - confirmed - n_ahead.
 *   - nacked / returned count failures since the last tix_bus_wait_confirms that reported.
 *   - is_broken is final: every public call then returns TIX_ETRANSIENT with broken_msg.
 *   - Decoded frames live in rabbitmq-c pools released at the start of each pump(): a reply
 *     handed to an RPC is valid until the next frame is read.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include "tix/bus.h"
#include "tix/ids.h"
#include "tix/mem.h"

enum {
    MAIN_CH = 1,
    SIDE_CH = 2,
    HEARTBEAT_S = 30,
    CONNECT_TIMEOUT_MS = 10000,
    RPC_TIMEOUT_MS = 30000,
    DRAIN_EVERY = 128,
    MAX_PARTITIONS = 1024,
};

struct queued {
    struct tix_bus_delivery d;
    struct queued *next;
};

struct tix_bus {
    amqp_connection_state_t conn;
    bool is_broken;
    bool is_side_open;
    bool has_replies;
    char broken_msg[256];
    uint64_t published;
    uint64_t confirmed;
    uint64_t *ahead;
    size_t n_ahead;
    size_t cap_ahead;
    uint64_t nacked;
    uint64_t returned;
    char failure[160]; /* the first nack or return since the last report */
    struct queued *head;
    struct queued *tail;
};

/* A reply an RPC waits for: one of two methods on one channel. */
struct await {
    amqp_channel_t channel;
    amqp_method_number_t ids[2];
    amqp_method_t reply;
    bool is_done;
};

/* ---- errors: AMQP codes and library statuses are translated here, once ---- */

static enum tix_rc code_rc(uint16_t code)
{
    switch (code) {
    case AMQP_NOT_FOUND:
        return TIX_ENOTFOUND;
    case AMQP_RESOURCE_LOCKED:
    case AMQP_PRECONDITION_FAILED:
        return TIX_ECONFLICT;
    case AMQP_ACCESS_REFUSED:
    case AMQP_NOT_ALLOWED:
    case AMQP_CONTENT_TOO_LARGE:
    case AMQP_INVALID_PATH:
        return TIX_EINVAL;
    case AMQP_FRAME_ERROR:
    case AMQP_SYNTAX_ERROR:
    case AMQP_COMMAND_INVALID:
    case AMQP_CHANNEL_ERROR:
    case AMQP_UNEXPECTED_FRAME:
    case AMQP_NOT_IMPLEMENTED:
        return TIX_EINTERNAL;
    default:
        return TIX_ETRANSIENT;
    }
}

static enum tix_rc broken_err(const struct tix_bus *bus, struct tix_err *err)
{
    return tix_err_set(err, TIX_ETRANSIENT, NULL, "%s", bus->broken_msg);
}

static void set_broken(struct tix_bus *bus, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_broken(struct tix_bus *bus, const char *fmt, ...)
{
    if (bus->is_broken)
        return;
    bus->is_broken = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bus->broken_msg, sizeof(bus->broken_msg), fmt, ap);
    va_end(ap);
}

/* A library status other than OK: the socket is gone or the stream is corrupt. */
static enum tix_rc lost(struct tix_bus *bus, int status, struct tix_err *err)
{
    set_broken(bus, "AMQP connection lost: %s", amqp_error_string2(status));
    return broken_err(bus, err);
}

/* The result of amqp_login / amqp_connection_close style calls. */
static enum tix_rc reply_rc(const amqp_rpc_reply_t *r, const char *what, struct tix_err *err)
{
    if (r->reply_type == AMQP_RESPONSE_NORMAL)
        return TIX_OK;
    if (r->reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        return tix_err_set(err, TIX_ETRANSIENT, NULL, "%s: %s", what,
                           amqp_error_string2(r->library_error));
    if (r->reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        r->reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *m = r->reply.decoded;
        return tix_err_set(err, code_rc(m->reply_code), NULL, "%s refused: %u %.*s", what,
                           m->reply_code, (int)m->reply_text.len,
                           (const char *)m->reply_text.bytes);
    }
    return tix_err_set(err, TIX_EINTERNAL, NULL, "%s: unexpected AMQP reply", what);
}

/* ---- small helpers ---- */

static int64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : tix_mono_ms() + timeout_ms;
}

static char *bytes_dup(amqp_bytes_t b)
{
    return b.len == 0 ? tix_xstrdup("") : tix_xstrndup(b.bytes, b.len);
}

static bool is_blank(const char *s)
{
    return s == NULL || s[0] == '\0';
}

static amqp_table_entry_t str_entry(const char *key, const char *value)
{
    amqp_table_entry_t e = {.key = amqp_cstring_bytes(key)};
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = amqp_cstring_bytes(value);
    return e;
}

/* ---- confirms ---- */

/* Records a single ack for a tag beyond confirmed + 1 (out of order), keeping ahead[] sorted. */
static void ahead_insert(struct tix_bus *bus, uint64_t tag)
{
    size_t i = 0;
    while (i < bus->n_ahead && bus->ahead[i] < tag)
        i++;
    if (i < bus->n_ahead && bus->ahead[i] == tag)
        return;
    if (bus->n_ahead == bus->cap_ahead) {
        bus->cap_ahead = bus->cap_ahead == 0 ? 16 : bus->cap_ahead * 2;
        bus->ahead = tix_xrealloc(bus->ahead, bus->cap_ahead * sizeof(*bus->ahead));
    }
    if (i < bus->n_ahead)
        memmove(bus->ahead + i + 1, bus->ahead + i, (bus->n_ahead - i) * sizeof(*bus->ahead));
    bus->ahead[i] = tag;
    bus->n_ahead++;
}

/* Drops ahead[] entries now covered by confirmed and advances confirmed over contiguous ones. */
static void ahead_absorb(struct tix_bus *bus)
{
    size_t used = 0;
    while (used < bus->n_ahead && bus->ahead[used] <= bus->confirmed + 1) {
        if (bus->ahead[used] == bus->confirmed + 1)
            bus->confirmed++;
        used++;
    }
    if (used == 0)
        return;
    bus->n_ahead -= used;
    if (bus->n_ahead > 0)
        memmove(bus->ahead, bus->ahead + used, bus->n_ahead * sizeof(*bus->ahead));
}

/* Settles tag (and every earlier tag when multiple), from a basic.ack or basic.nack. */
static void settle(struct tix_bus *bus, uint64_t tag, bool multiple)
{
    if (multiple || tag == bus->confirmed + 1) {
        if (tag > bus->confirmed)
            bus->confirmed = tag;
        ahead_absorb(bus);
    } else if (tag > bus->confirmed + 1) {
        ahead_insert(bus, tag);
    }
}

static void note_failure(struct tix_bus *bus, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note_failure(struct tix_bus *bus, const char *fmt, ...)
{
    if (bus->nacked + bus->returned > 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bus->failure, sizeof(bus->failure), fmt, ap);
    va_end(ap);
}

uint64_t tix_bus_unconfirmed(const struct tix_bus *bus)
{
    uint64_t settled = bus->confirmed + bus->n_ahead;
    return bus->published > settled ? bus->published - settled : 0;
}

/* ---- deliveries ---- */

static const amqp_field_value_t *table_get(const amqp_table_t *t, const char *key)
{
    size_t len = strlen(key);
    for (int i = 0; i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        if (e->key.len == len && memcmp(e->key.bytes, key, len) == 0)
            return &e->value;
    }
    return NULL;
}

static char *field_str(const amqp_field_value_t *v)
{
    if (v == NULL || (v->kind != AMQP_FIELD_KIND_UTF8 && v->kind != AMQP_FIELD_KIND_BYTES))
        return NULL;
    return bytes_dup(v->value.bytes);
}

/* Reads an integer of any width and signedness; false when v is absent or not an integer. */
static bool field_int(const amqp_field_value_t *v, int64_t *out)
{
    if (v == NULL)
        return false;
    switch (v->kind) {
    case AMQP_FIELD_KIND_I8:
        *out = v->value.i8;
        return true;
    case AMQP_FIELD_KIND_U8:
        *out = v->value.u8;
        return true;
    case AMQP_FIELD_KIND_I16:
        *out = v->value.i16;
        return true;
    case AMQP_FIELD_KIND_U16:
        *out = v->value.u16;
        return true;
    case AMQP_FIELD_KIND_I32:
        *out = v->value.i32;
        return true;
    case AMQP_FIELD_KIND_U32:
        *out = v->value.u32;
        return true;
    case AMQP_FIELD_KIND_I64:
        *out = v->value.i64;
        return true;
    case AMQP_FIELD_KIND_U64:
        *out = v->value.u64 > INT64_MAX ? INT64_MAX : (int64_t)v->value.u64;
        return true;
    default:
        return false;
    }
}

static void fill_headers(struct tix_bus_delivery *d, const amqp_table_t *h)
{
    d->reason = field_str(table_get(h, "x-tixmo-reason"));
    d->origin_queue = field_str(table_get(h, "x-tixmo-queue"));
    int64_t count;
    if (field_int(table_get(h, "x-delivery-count"), &count))
        d->delivery_count = count;
    if (field_int(table_get(h, "x-tixmo-attempt"), &count))
        d->attempt = count;
    const amqp_field_value_t *death = table_get(h, "x-death");
    if (death == NULL || death->kind != AMQP_FIELD_KIND_ARRAY ||
        death->value.array.num_entries < 1 ||
        death->value.array.entries[0].kind != AMQP_FIELD_KIND_TABLE)
        return;
    const amqp_table_t *latest = &death->value.array.entries[0].value.table;
    d->death_queue = field_str(table_get(latest, "queue"));
    d->death_reason = field_str(table_get(latest, "reason"));
}

static char *prop_dup(const amqp_basic_properties_t *p, amqp_flags_t flag, amqp_bytes_t b)
{
    return (p->_flags & flag) != 0 ? bytes_dup(b) : NULL;
}

static void fill_message(struct tix_bus_delivery *d, const amqp_message_t *m)
{
    const amqp_basic_properties_t *p = &m->properties;
    d->message_id = prop_dup(p, AMQP_BASIC_MESSAGE_ID_FLAG, p->message_id);
    d->correlation_id = prop_dup(p, AMQP_BASIC_CORRELATION_ID_FLAG, p->correlation_id);
    d->reply_to = prop_dup(p, AMQP_BASIC_REPLY_TO_FLAG, p->reply_to);
    d->type = prop_dup(p, AMQP_BASIC_TYPE_FLAG, p->type);
    if ((p->_flags & AMQP_BASIC_HEADERS_FLAG) != 0)
        fill_headers(d, &p->headers);
    d->body_len = m->body.len;
    d->body = tix_xmalloc(m->body.len + 1);
    if (m->body.len > 0)
        memcpy(d->body, m->body.bytes, m->body.len);
    d->body[m->body.len] = '\0';
}

void tix_bus_delivery_deinit(struct tix_bus_delivery *d)
{
    if (d == NULL)
        return;
    char *owned[] = {d->consumer_tag,   d->exchange,    d->routing_key,  d->message_id,
                     d->correlation_id, d->reply_to,    d->type,         d->reason,
                     d->origin_queue,   d->death_queue, d->death_reason, d->body};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        free(owned[i]);
    memset(d, 0, sizeof(*d));
}

/* ---- the frame loop ---- */

static enum tix_rc on_close(struct tix_bus *bus, amqp_channel_t ch, const amqp_method_t *m,
                            const struct await *aw, struct tix_err *err)
{
    bool is_conn = m->id == AMQP_CONNECTION_CLOSE_METHOD;
    uint16_t code;
    amqp_bytes_t text;
    if (is_conn) {
        const amqp_connection_close_t *c = m->decoded;
        code = c->reply_code;
        text = c->reply_text;
        amqp_connection_close_ok_t ok = {0};
        amqp_send_method(bus->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    } else {
        const amqp_channel_close_t *c = m->decoded;
        code = c->reply_code;
        text = c->reply_text;
        amqp_channel_close_ok_t ok = {0};
        amqp_send_method(bus->conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    }
    const char *what = is_conn ? "connection" : ch == MAIN_CH ? "channel" : "side channel";
    if (is_conn || ch == MAIN_CH)
        set_broken(bus, "AMQP %s closed by broker: %u %.*s", what, code, (int)text.len,
                   (const char *)text.bytes);
    else
        bus->is_side_open = false;
    bool is_awaited = !is_conn && aw != NULL && aw->channel == ch;
    return tix_err_set(err, is_awaited ? code_rc(code) : TIX_ETRANSIENT, NULL,
                       "AMQP %s closed by broker: %u %.*s", what, code, (int)text.len,
                       (const char *)text.bytes);
}

/* Reads the content (header and body frames) that follows a deliver, return or get-ok. */
static enum tix_rc read_content(struct tix_bus *bus, amqp_message_t *m, struct tix_err *err)
{
    amqp_rpc_reply_t r = amqp_read_message(bus->conn, MAIN_CH, m, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return TIX_OK;
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION)
        return on_close(bus, r.reply.id == AMQP_CONNECTION_CLOSE_METHOD ? 0 : MAIN_CH, &r.reply,
                        NULL, err);
    return lost(bus, r.library_error, err);
}

static enum tix_rc on_deliver(struct tix_bus *bus, const amqp_basic_deliver_t *m,
                              struct tix_err *err)
{
    struct queued *q = tix_xcalloc(1, sizeof(*q));
    q->d.delivery_tag = m->delivery_tag;
    q->d.is_redelivered = m->redelivered != 0;
    q->d.consumer_tag = bytes_dup(m->consumer_tag);
    q->d.exchange = bytes_dup(m->exchange);
    q->d.routing_key = bytes_dup(m->routing_key);
    amqp_message_t msg;
    enum tix_rc rc = read_content(bus, &msg, err);
    if (rc != TIX_OK) {
        tix_bus_delivery_deinit(&q->d);
        free(q);
        return rc;
    }
    fill_message(&q->d, &msg);
    amqp_destroy_message(&msg);
    if (bus->tail != NULL)
        bus->tail->next = q;
    else
        bus->head = q;
    bus->tail = q;
    return TIX_OK;
}

static enum tix_rc on_return(struct tix_bus *bus, const amqp_basic_return_t *m, struct tix_err *err)
{
    bus->returned++;
    note_failure(bus, "returned %u %.*s (exchange '%.*s', routing key '%.*s')", m->reply_code,
                 (int)m->reply_text.len, (const char *)m->reply_text.bytes, (int)m->exchange.len,
                 (const char *)m->exchange.bytes, (int)m->routing_key.len,
                 (const char *)m->routing_key.bytes);
    amqp_message_t msg;
    enum tix_rc rc = read_content(bus, &msg, err);
    if (rc == TIX_OK)
        amqp_destroy_message(&msg);
    return rc;
}

static enum tix_rc on_method(struct tix_bus *bus, const amqp_frame_t *f, struct await *aw,
                             struct tix_err *err)
{
    const amqp_method_t *m = &f->payload.method;
    if (m->id == AMQP_CONNECTION_CLOSE_METHOD || m->id == AMQP_CHANNEL_CLOSE_METHOD)
        return on_close(bus, f->channel, m, aw, err);
    if (aw != NULL && f->channel == aw->channel && (m->id == aw->ids[0] || m->id == aw->ids[1])) {
        aw->reply = *m;
        aw->is_done = true;
        return TIX_OK;
    }
    if (f->channel != MAIN_CH)
        return TIX_OK;
    if (m->id == AMQP_BASIC_DELIVER_METHOD)
        return on_deliver(bus, m->decoded, err);
    if (m->id == AMQP_BASIC_ACK_METHOD) {
        const amqp_basic_ack_t *a = m->decoded;
        settle(bus, a->delivery_tag, a->multiple != 0);
    } else if (m->id == AMQP_BASIC_NACK_METHOD) {
        const amqp_basic_nack_t *n = m->decoded;
        bus->nacked++;
        note_failure(bus, "nacked delivery tag %" PRIu64 "%s", n->delivery_tag,
                     n->multiple ? " and before" : "");
        settle(bus, n->delivery_tag, n->multiple != 0);
    } else if (m->id == AMQP_BASIC_RETURN_METHOD) {
        return on_return(bus, m->decoded, err);
    } else if (m->id == AMQP_BASIC_CANCEL_METHOD) {
        const amqp_basic_cancel_t *c = m->decoded;
        set_broken(bus, "AMQP consumer '%.*s' cancelled by broker (queue deleted?)",
                   (int)c->consumer_tag.len, (const char *)c->consumer_tag.bytes);
    }
    return TIX_OK;
}

/* Reads and handles one frame, waiting until deadline_ms (-1 = no limit). When nothing came in
 * time, sets *is_timeout and returns TIX_OK with err untouched. */
static enum tix_rc pump(struct tix_bus *bus, int64_t deadline_ms, struct await *aw,
                        bool *is_timeout, struct tix_err *err)
{
    *is_timeout = false;
    amqp_maybe_release_buffers(bus->conn);
    struct timeval tv;
    struct timeval *tvp = NULL;
    if (deadline_ms >= 0) {
        int64_t left = deadline_ms - tix_mono_ms();
        if (left < 0)
            left = 0;
        tv.tv_sec = (time_t)(left / 1000);
        tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
        tvp = &tv;
    }
    amqp_frame_t f;
    int st = amqp_simple_wait_frame_noblock(bus->conn, &f, tvp);
    if (st == AMQP_STATUS_TIMEOUT) {
        *is_timeout = true;
        return TIX_OK;
    }
    if (st != AMQP_STATUS_OK)
        return lost(bus, st, err);
    if (f.frame_type != AMQP_FRAME_METHOD)
        return TIX_OK;
    return on_method(bus, &f, aw, err);
}

/* Handles every frame already received, without blocking. */
static enum tix_rc drain(struct tix_bus *bus, struct tix_err *err)
{
    bool is_timeout = false;
    while (!is_timeout) {
        enum tix_rc rc = pump(bus, 0, NULL, &is_timeout, err);
        if (rc != TIX_OK)
            return rc;
    }
    return TIX_OK;
}

/* Sends method req on ch and waits for reply ok1 or ok2 (0 = none); *reply (may be NULL) is
 * valid until the next frame is read. */
static enum tix_rc rpc(struct tix_bus *bus, amqp_channel_t ch, amqp_method_number_t id, void *req,
                       amqp_method_number_t ok1, amqp_method_number_t ok2, amqp_method_t *reply,
                       struct tix_err *err)
{
    if (bus->is_broken)
        return broken_err(bus, err);
    int st = amqp_send_method(bus->conn, ch, id, req);
    if (st != AMQP_STATUS_OK)
        return lost(bus, st, err);
    struct await aw = {.channel = ch, .ids = {ok1, ok2}};
    int64_t deadline = tix_mono_ms() + RPC_TIMEOUT_MS;
    while (!aw.is_done) {
        bool is_timeout;
        enum tix_rc rc = pump(bus, deadline, &aw, &is_timeout, err);
        if (rc != TIX_OK)
            return rc;
        if (is_timeout) {
            set_broken(bus, "AMQP broker did not answer method 0x%08x within %d ms", id,
                       RPC_TIMEOUT_MS);
            return broken_err(bus, err);
        }
    }
    if (reply != NULL)
        *reply = aw.reply;
    return TIX_OK;
}

static enum tix_rc side_open(struct tix_bus *bus, struct tix_err *err)
{
    if (bus->is_broken)
        return broken_err(bus, err);
    if (bus->is_side_open)
        return TIX_OK;
    amqp_channel_open_t req = {.out_of_band = amqp_empty_bytes};
    enum tix_rc rc = rpc(bus, SIDE_CH, AMQP_CHANNEL_OPEN_METHOD, &req, AMQP_CHANNEL_OPEN_OK_METHOD,
                         0, NULL, err);
    if (rc == TIX_OK)
        bus->is_side_open = true;
    return rc;
}

/* ---- open and close ---- */

static enum tix_rc connect_login(struct tix_bus *bus, const struct amqp_connection_info *info,
                                 const char *connection_name, struct tix_err *err)
{
    amqp_socket_t *sock = amqp_tcp_socket_new(bus->conn);
    if (sock == NULL)
        return tix_err_set(err, TIX_EINTERNAL, NULL, "amqp_tcp_socket_new failed");
    struct timeval tv = {.tv_sec = CONNECT_TIMEOUT_MS / 1000};
    int st = amqp_socket_open_noblock(sock, info->host, info->port, &tv);
    if (st != AMQP_STATUS_OK)
        return tix_err_set(err, TIX_ETRANSIENT, NULL, "AMQP connect to %s:%d: %s", info->host,
                           info->port, amqp_error_string2(st));
    amqp_table_entry_t caps_e = {.key = amqp_cstring_bytes("consumer_cancel_notify")};
    caps_e.value.kind = AMQP_FIELD_KIND_BOOLEAN;
    caps_e.value.value.boolean = 1;
    amqp_table_entry_t props_e[2] = {
        str_entry("connection_name", connection_name != NULL ? connection_name : "tixmo"),
        {.key = amqp_cstring_bytes("capabilities")},
    };
    props_e[1].value.kind = AMQP_FIELD_KIND_TABLE;
    props_e[1].value.value.table = (amqp_table_t){.num_entries = 1, .entries = &caps_e};
    amqp_table_t props = {.num_entries = 2, .entries = props_e};
    amqp_rpc_reply_t r = amqp_login_with_properties(
        bus->conn, info->vhost, AMQP_DEFAULT_MAX_CHANNELS, AMQP_DEFAULT_FRAME_SIZE, HEARTBEAT_S,
        &props, AMQP_SASL_METHOD_PLAIN, info->user, info->password);
    return reply_rc(&r, "AMQP login", err);
}

static enum tix_rc open_main(struct tix_bus *bus, struct tix_err *err)
{
    amqp_channel_open_t open = {.out_of_band = amqp_empty_bytes};
    enum tix_rc rc = rpc(bus, MAIN_CH, AMQP_CHANNEL_OPEN_METHOD, &open, AMQP_CHANNEL_OPEN_OK_METHOD,
                         0, NULL, err);
    if (rc != TIX_OK)
        return rc;
    amqp_confirm_select_t sel = {.nowait = 0};
    return rpc(bus, MAIN_CH, AMQP_CONFIRM_SELECT_METHOD, &sel, AMQP_CONFIRM_SELECT_OK_METHOD, 0,
               NULL, err);
}

enum tix_rc tix_bus_open(const char *url, const char *connection_name, struct tix_bus **out,
                         struct tix_err *err)
{
    if (out == NULL || url == NULL)
        return tix_err_set(err, TIX_EINVAL, "url", "no AMQP URL or no output");
    *out = NULL;
    char *copy = tix_xstrdup(url);
    struct amqp_connection_info info;
    if (amqp_parse_url(copy, &info) != AMQP_STATUS_OK || info.ssl) {
        free(copy);
        return tix_err_set(err, TIX_EINVAL, "url", "malformed or amqps AMQP URL");
    }
    struct tix_bus *bus = tix_xcalloc(1, sizeof(*bus));
    bus->conn = amqp_new_connection();
    enum tix_rc rc = bus->conn == NULL
                         ? tix_err_set(err, TIX_EINTERNAL, NULL, "amqp_new_connection failed")
                         : connect_login(bus, &info, connection_name, err);
    free(copy);
    if (rc == TIX_OK)
        rc = open_main(bus, err);
    if (rc != TIX_OK) {
        set_broken(bus, "open failed");
        tix_bus_close(bus);
        return rc;
    }
    *out = bus;
    return TIX_OK;
}

void tix_bus_close(struct tix_bus *bus)
{
    if (bus == NULL)
        return;
    if (bus->conn != NULL) {
        if (!bus->is_broken)
            amqp_connection_close(bus->conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(bus->conn);
    }
    while (bus->head != NULL) {
        struct queued *q = bus->head;
        bus->head = q->next;
        tix_bus_delivery_deinit(&q->d);
        free(q);
    }
    free(bus->ahead);
    free(bus);
}

/* ---- topology (side channel) ---- */

static enum tix_rc declare_exchange(struct tix_bus *bus, const char *name, const char *type,
                                    struct tix_err *err)
{
    amqp_exchange_declare_t req = {
        .exchange = amqp_cstring_bytes(name),
        .type = amqp_cstring_bytes(type),
        .durable = 1,
        .arguments = amqp_empty_table,
    };
    return rpc(bus, SIDE_CH, AMQP_EXCHANGE_DECLARE_METHOD, &req, AMQP_EXCHANGE_DECLARE_OK_METHOD, 0,
               NULL, err);
}

static enum tix_rc declare_quorum(struct tix_bus *bus, const char *name, const amqp_table_t *args,
                                  struct tix_err *err)
{
    amqp_queue_declare_t req = {
        .queue = amqp_cstring_bytes(name),
        .durable = 1,
        .arguments = *args,
    };
    return rpc(bus, SIDE_CH, AMQP_QUEUE_DECLARE_METHOD, &req, AMQP_QUEUE_DECLARE_OK_METHOD, 0, NULL,
               err);
}

static enum tix_rc bind_queue(struct tix_bus *bus, const char *queue, const char *exchange,
                              const char *key, struct tix_err *err)
{
    amqp_queue_bind_t req = {
        .queue = amqp_cstring_bytes(queue),
        .exchange = amqp_cstring_bytes(exchange),
        .routing_key = amqp_cstring_bytes(key),
        .arguments = amqp_empty_table,
    };
    return rpc(bus, SIDE_CH, AMQP_QUEUE_BIND_METHOD, &req, AMQP_QUEUE_BIND_OK_METHOD, 0, NULL, err);
}

enum tix_rc tix_bus_declare_queue(struct tix_bus *bus, const char *queue, const char *exchange,
                                  const char *binding_key, int delivery_limit, struct tix_err *err)
{
    if (is_blank(queue) || delivery_limit < 1)
        return tix_err_set(err, TIX_EINVAL, "queue", "empty queue name or delivery_limit < 1");
    enum tix_rc rc = side_open(bus, err);
    if (rc != TIX_OK)
        return rc;
    amqp_table_entry_t e[4] = {
        str_entry("x-queue-type", "quorum"),
        {.key = amqp_cstring_bytes("x-single-active-consumer")},
        str_entry("x-dead-letter-exchange", TIX_BUS_DLX_EXCHANGE),
        {.key = amqp_cstring_bytes("x-delivery-limit")},
    };
    e[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    e[1].value.value.boolean = 1;
    e[3].value.kind = AMQP_FIELD_KIND_I64;
    e[3].value.value.i64 = delivery_limit;
    amqp_table_t args = {.num_entries = 4, .entries = e};
    rc = declare_quorum(bus, queue, &args, err);
    if (rc == TIX_OK && exchange != NULL)
        rc = bind_queue(bus, queue, exchange, binding_key != NULL ? binding_key : "", err);
    return rc;
}

static enum tix_rc declare_fixed(struct tix_bus *bus, struct tix_err *err)
{
    enum tix_rc rc = side_open(bus, err);
    if (rc == TIX_OK)
        rc = declare_exchange(bus, TIX_BUS_COMMANDS_EXCHANGE, "direct", err);
    if (rc == TIX_OK)
        rc = declare_exchange(bus, TIX_BUS_EVENTS_EXCHANGE, "topic", err);
    if (rc == TIX_OK)
        rc = declare_exchange(bus, TIX_BUS_DLX_EXCHANGE, "fanout", err);
    if (rc != TIX_OK)
        return rc;
    amqp_table_entry_t type = str_entry("x-queue-type", "quorum");
    amqp_table_t args = {.num_entries = 1, .entries = &type};
    rc = declare_quorum(bus, TIX_BUS_DEAD_QUEUE, &args, err);
    if (rc == TIX_OK)
        rc = bind_queue(bus, TIX_BUS_DEAD_QUEUE, TIX_BUS_DLX_EXCHANGE, "", err);
    return rc;
}

const int tix_bus_payment_delay_ms[TIX_BUS_PAYMENT_DELAYS] = {1000,  2000,  4000, 8000,
                                                              16000, 32000, 60000};

void tix_bus_payment_delay_queue(int tier, char *out, size_t size)
{
    tier = tier < 0 ? 0 : tier >= TIX_BUS_PAYMENT_DELAYS ? TIX_BUS_PAYMENT_DELAYS - 1 : tier;
    snprintf(out, size, "%s.delay.%ds", TIX_BUS_PAYMENTS_QUEUE,
             tix_bus_payment_delay_ms[tier] / 1000);
}

/* The retry exchange, the payment queue's binding to it, and the delay queues: quorum, one TTL
 * each (so the head is always the first to expire), dead-lettered at least once (the broker
 * keeps a message until the payment queue confirmed it, which needs reject-publish). */
static enum tix_rc declare_payment_delays(struct tix_bus *bus, int delivery_limit,
                                          struct tix_err *err)
{
    enum tix_rc rc = declare_exchange(bus, TIX_BUS_PAYMENTS_RETRY_EXCHANGE, "direct", err);
    if (rc == TIX_OK)
        rc = tix_bus_declare_queue(bus, TIX_BUS_PAYMENTS_QUEUE, TIX_BUS_PAYMENTS_RETRY_EXCHANGE,
                                   TIX_BUS_PAYMENTS_QUEUE, delivery_limit, err);
    for (int i = 0; rc == TIX_OK && i < TIX_BUS_PAYMENT_DELAYS; i++) {
        char name[64];
        tix_bus_payment_delay_queue(i, name, sizeof(name));
        amqp_table_entry_t e[6] = {
            str_entry("x-queue-type", "quorum"),
            {.key = amqp_cstring_bytes("x-message-ttl")},
            str_entry("x-dead-letter-exchange", TIX_BUS_PAYMENTS_RETRY_EXCHANGE),
            str_entry("x-dead-letter-routing-key", TIX_BUS_PAYMENTS_QUEUE),
            str_entry("x-dead-letter-strategy", "at-least-once"),
            str_entry("x-overflow", "reject-publish"),
        };
        e[1].value.kind = AMQP_FIELD_KIND_I64;
        e[1].value.value.i64 = tix_bus_payment_delay_ms[i];
        amqp_table_t args = {.num_entries = 6, .entries = e};
        rc = declare_quorum(bus, name, &args, err);
    }
    return rc;
}

const char *const tix_bus_payment_events[] = {"order.placed",   "order.refund_required",
                                              "order.paid",     "order.payment_failed",
                                              "order.refunded", NULL};

const char *const tix_bus_email_events[] = {"user.email_verification_requested",
                                            "user.password_reset_requested",
                                            "order.paid",
                                            "ticket.transferred",
                                            "ticket.transfer_offered",
                                            NULL};

enum tix_rc tix_bus_declare_topology(struct tix_bus *bus, int partitions, int delivery_limit,
                                     struct tix_err *err)
{
    if (partitions < 1 || partitions > MAX_PARTITIONS || delivery_limit < 1)
        return tix_err_set(err, TIX_EINVAL, "partitions",
                           "partitions must be 1..%d and delivery_limit >= 1", MAX_PARTITIONS);
    enum tix_rc rc = declare_fixed(bus, err);
    for (int p = 0; rc == TIX_OK && p < partitions; p++) {
        char queue[32];
        char key[8];
        tix_bus_partition_queue(p, queue, sizeof(queue));
        tix_bus_partition_key(p, key, sizeof(key));
        rc = tix_bus_declare_queue(bus, queue, TIX_BUS_COMMANDS_EXCHANGE, key, delivery_limit, err);
    }
    for (int i = 0; rc == TIX_OK && tix_bus_payment_events[i] != NULL; i++)
        rc = tix_bus_declare_queue(bus, TIX_BUS_PAYMENTS_QUEUE, TIX_BUS_EVENTS_EXCHANGE,
                                   tix_bus_payment_events[i], delivery_limit, err);
    for (int i = 0; rc == TIX_OK && tix_bus_email_events[i] != NULL; i++)
        rc = tix_bus_declare_queue(bus, TIX_BUS_EMAILS_QUEUE, TIX_BUS_EVENTS_EXCHANGE,
                                   tix_bus_email_events[i], delivery_limit, err);
    if (rc == TIX_OK)
        rc = declare_payment_delays(bus, delivery_limit, err);
    return rc;
}

const char *tix_bus_batch_line(const char **at, const char *end, size_t *len)
{
    while (*at < end) {
        const char *line = *at;
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        *len = nl != NULL ? (size_t)(nl - line) : (size_t)(end - line);
        *at = line + *len + 1;
        if (*len > 0)
            return line;
    }
    return NULL;
}

void tix_bus_partition_queue(int partition, char *out, size_t size)
{
    snprintf(out, size, "%s.p%02d", TIX_BUS_COMMANDS_EXCHANGE, partition);
}

void tix_bus_partition_key(int partition, char *out, size_t size)
{
    snprintf(out, size, "p%02d", partition);
}

enum tix_rc tix_bus_delete_queue(struct tix_bus *bus, const char *queue, struct tix_err *err)
{
    if (is_blank(queue))
        return tix_err_set(err, TIX_EINVAL, "queue", "empty queue name");
    enum tix_rc rc = side_open(bus, err);
    if (rc != TIX_OK)
        return rc;
    amqp_queue_delete_t req = {.queue = amqp_cstring_bytes(queue)};
    return rpc(bus, SIDE_CH, AMQP_QUEUE_DELETE_METHOD, &req, AMQP_QUEUE_DELETE_OK_METHOD, 0, NULL,
               err);
}

long tix_bus_queue_depth(struct tix_bus *bus, const char *queue, struct tix_err *err)
{
    if (is_blank(queue)) {
        tix_err_set(err, TIX_EINVAL, "queue", "empty queue name");
        return -1;
    }
    amqp_queue_declare_t req = {
        .queue = amqp_cstring_bytes(queue),
        .passive = 1,
        .arguments = amqp_empty_table,
    };
    amqp_method_t reply;
    if (side_open(bus, err) != TIX_OK ||
        rpc(bus, SIDE_CH, AMQP_QUEUE_DECLARE_METHOD, &req, AMQP_QUEUE_DECLARE_OK_METHOD, 0, &reply,
            err) != TIX_OK)
        return -1;
    const amqp_queue_declare_ok_t *ok = reply.decoded;
    return (long)ok->message_count;
}

enum tix_rc tix_bus_purge(struct tix_bus *bus, const char *queue, struct tix_err *err)
{
    if (is_blank(queue))
        return tix_err_set(err, TIX_EINVAL, "queue", "empty queue name");
    enum tix_rc rc = side_open(bus, err);
    if (rc != TIX_OK)
        return rc;
    amqp_queue_purge_t req = {.queue = amqp_cstring_bytes(queue)};
    return rpc(bus, SIDE_CH, AMQP_QUEUE_PURGE_METHOD, &req, AMQP_QUEUE_PURGE_OK_METHOD, 0, NULL,
               err);
}

/* ---- publishing ---- */

static void set_prop(amqp_basic_properties_t *p, amqp_flags_t flag, amqp_bytes_t *field,
                     const char *value)
{
    if (value == NULL)
        return;
    p->_flags |= flag;
    *field = amqp_cstring_bytes(value);
}

/* Fills p from in; p's headers point into hdr[3], which must outlive the publish. */
static void build_props(amqp_basic_properties_t *p, amqp_table_entry_t hdr[3],
                        const struct tix_bus_props *in)
{
    memset(p, 0, sizeof(*p));
    p->_flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    p->delivery_mode = 2;
    if (in == NULL)
        return;
    set_prop(p, AMQP_BASIC_MESSAGE_ID_FLAG, &p->message_id, in->message_id);
    set_prop(p, AMQP_BASIC_CORRELATION_ID_FLAG, &p->correlation_id, in->correlation_id);
    set_prop(p, AMQP_BASIC_REPLY_TO_FLAG, &p->reply_to, in->reply_to);
    set_prop(p, AMQP_BASIC_TYPE_FLAG, &p->type, in->type);
    int n = 0;
    if (in->reason != NULL)
        hdr[n++] = str_entry("x-tixmo-reason", in->reason);
    if (in->origin_queue != NULL)
        hdr[n++] = str_entry("x-tixmo-queue", in->origin_queue);
    if (in->attempt > 0) {
        hdr[n] = (amqp_table_entry_t){.key = amqp_cstring_bytes("x-tixmo-attempt")};
        hdr[n].value.kind = AMQP_FIELD_KIND_I64;
        hdr[n++].value.value.i64 = in->attempt;
    }
    if (n > 0) {
        p->_flags |= AMQP_BASIC_HEADERS_FLAG;
        p->headers = (amqp_table_t){.num_entries = n, .entries = hdr};
    }
}

enum tix_rc tix_bus_publish(struct tix_bus *bus, const char *exchange, const char *routing_key,
                            bool mandatory, const struct tix_bus_props *props, const void *body,
                            size_t len, struct tix_err *err)
{
    if (exchange == NULL || routing_key == NULL || (body == NULL && len > 0))
        return tix_err_set(err, TIX_EINVAL, NULL,
                           "publish needs an exchange, a routing key and "
                           "a body");
    if (bus->is_broken)
        return broken_err(bus, err);
    if (props != NULL && props->reply_to != NULL &&
        strcmp(props->reply_to, TIX_BUS_REPLY_TO) == 0 && !bus->has_replies)
        return tix_err_set(err, TIX_EINVAL, "reply_to",
                           "reply_to %s needs tix_bus_enable_replies first", TIX_BUS_REPLY_TO);
    amqp_basic_properties_t p;
    amqp_table_entry_t hdr[3];
    build_props(&p, hdr, props);
    amqp_bytes_t content = {.len = len, .bytes = (void *)body};
    int st = amqp_basic_publish(bus->conn, MAIN_CH, amqp_cstring_bytes(exchange),
                                amqp_cstring_bytes(routing_key), mandatory, 0, &p, content);
    if (st != AMQP_STATUS_OK)
        return lost(bus, st, err);
    bus->published++;
    if (bus->published % DRAIN_EVERY == 0)
        return drain(bus, err);
    return TIX_OK;
}

enum tix_rc tix_bus_poll(struct tix_bus *bus, struct tix_err *err)
{
    if (bus->is_broken)
        return broken_err(bus, err);
    return drain(bus, err);
}

int tix_bus_fd(const struct tix_bus *bus)
{
    return amqp_get_sockfd(bus->conn);
}

uint64_t tix_bus_published(const struct tix_bus *bus)
{
    return bus->published;
}

bool tix_bus_is_settled(const struct tix_bus *bus, uint64_t seq)
{
    if (seq <= bus->confirmed)
        return true;
    size_t lo = 0, hi = bus->n_ahead;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (bus->ahead[mid] == seq)
            return true;
        if (bus->ahead[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

uint64_t tix_bus_take_failures(struct tix_bus *bus, char *msg, size_t size)
{
    uint64_t n = bus->nacked + bus->returned;
    if (msg != NULL && size > 0)
        snprintf(msg, size, "%s", bus->failure);
    bus->nacked = 0;
    bus->returned = 0;
    bus->failure[0] = '\0';
    return n;
}

static enum tix_rc report_confirms(struct tix_bus *bus, int timeout_ms, struct tix_err *err)
{
    uint64_t left = tix_bus_unconfirmed(bus);
    if (bus->nacked + bus->returned > 0) {
        enum tix_rc rc = tix_err_set(
            err, TIX_ETRANSIENT, NULL, "%" PRIu64 " nacked, %" PRIu64 " returned%s; first: %s",
            bus->nacked, bus->returned, left > 0 ? ", and timed out" : "", bus->failure);
        bus->nacked = 0;
        bus->returned = 0;
        bus->failure[0] = '\0';
        return rc;
    }
    if (left > 0)
        return tix_err_set(err, TIX_ETRANSIENT, NULL,
                           "%" PRIu64 " of %" PRIu64 " messages unconfirmed after %d ms", left,
                           bus->published, timeout_ms);
    return TIX_OK;
}

enum tix_rc tix_bus_wait_confirms(struct tix_bus *bus, int timeout_ms, struct tix_err *err)
{
    if (bus->is_broken)
        return broken_err(bus, err);
    int64_t deadline = deadline_of(timeout_ms);
    bool is_timeout = false;
    while (!is_timeout && tix_bus_unconfirmed(bus) > 0) {
        enum tix_rc rc = pump(bus, deadline, NULL, &is_timeout, err);
        if (rc != TIX_OK)
            return rc;
        if (bus->is_broken)
            return broken_err(bus, err);
    }
    return report_confirms(bus, timeout_ms, err);
}

/* ---- consuming ---- */

static enum tix_rc start_consumer(struct tix_bus *bus, const char *queue, bool no_ack,
                                  struct tix_err *err)
{
    amqp_basic_consume_t req = {
        .queue = amqp_cstring_bytes(queue),
        .consumer_tag = amqp_cstring_bytes(queue),
        .no_ack = no_ack,
        .arguments = amqp_empty_table,
    };
    return rpc(bus, MAIN_CH, AMQP_BASIC_CONSUME_METHOD, &req, AMQP_BASIC_CONSUME_OK_METHOD, 0, NULL,
               err);
}

enum tix_rc tix_bus_consume(struct tix_bus *bus, const char *queue, int prefetch,
                            struct tix_err *err)
{
    if (is_blank(queue) || prefetch < 0 || prefetch > UINT16_MAX)
        return tix_err_set(err, TIX_EINVAL, "queue", "empty queue name or prefetch not 0..65535");
    amqp_basic_qos_t qos = {.prefetch_count = (uint16_t)prefetch};
    enum tix_rc rc =
        rpc(bus, MAIN_CH, AMQP_BASIC_QOS_METHOD, &qos, AMQP_BASIC_QOS_OK_METHOD, 0, NULL, err);
    if (rc != TIX_OK)
        return rc;
    return start_consumer(bus, queue, false, err);
}

enum tix_rc tix_bus_enable_replies(struct tix_bus *bus, struct tix_err *err)
{
    if (bus->is_broken)
        return broken_err(bus, err);
    if (bus->has_replies)
        return TIX_OK;
    enum tix_rc rc = start_consumer(bus, TIX_BUS_REPLY_TO, true, err);
    if (rc == TIX_OK)
        bus->has_replies = true;
    return rc;
}

enum tix_rc tix_bus_next(struct tix_bus *bus, int timeout_ms, struct tix_bus_delivery *out,
                         struct tix_err *err)
{
    memset(out, 0, sizeof(*out));
    int64_t deadline = deadline_of(timeout_ms);
    for (;;) {
        if (bus->is_broken)
            return broken_err(bus, err);
        if (bus->head != NULL)
            break;
        bool is_timeout;
        enum tix_rc rc = pump(bus, deadline, NULL, &is_timeout, err);
        if (rc != TIX_OK)
            return rc;
        if (is_timeout)
            return tix_err_set(err, TIX_ENOTFOUND, NULL, "no delivery within %d ms", timeout_ms);
    }
    struct queued *q = bus->head;
    bus->head = q->next;
    if (bus->head == NULL)
        bus->tail = NULL;
    *out = q->d;
    free(q);
    return TIX_OK;
}

enum tix_rc tix_bus_ack(struct tix_bus *bus, uint64_t delivery_tag, bool multiple,
                        struct tix_err *err)
{
    if (bus->is_broken)
        return broken_err(bus, err);
    int st = amqp_basic_ack(bus->conn, MAIN_CH, delivery_tag, multiple);
    return st == AMQP_STATUS_OK ? TIX_OK : lost(bus, st, err);
}

enum tix_rc tix_bus_reject(struct tix_bus *bus, uint64_t delivery_tag, bool requeue,
                           struct tix_err *err)
{
    if (bus->is_broken)
        return broken_err(bus, err);
    int st = amqp_basic_reject(bus->conn, MAIN_CH, delivery_tag, requeue);
    return st == AMQP_STATUS_OK ? TIX_OK : lost(bus, st, err);
}

enum tix_rc tix_bus_dead_letter(struct tix_bus *bus, const struct tix_bus_delivery *d,
                                const char *origin_queue, const char *reason, struct tix_err *err)
{
    if (d == NULL || is_blank(origin_queue) || reason == NULL)
        return tix_err_set(err, TIX_EINVAL, NULL,
                           "dead letter needs a delivery, a queue and a "
                           "reason");
    struct tix_bus_props props = {
        .message_id = d->message_id,
        .correlation_id = d->correlation_id,
        .type = d->type,
        .reason = reason,
        .origin_queue = origin_queue,
    };
    enum tix_rc rc = tix_bus_publish(bus, TIX_BUS_DLX_EXCHANGE, origin_queue, true, &props, d->body,
                                     d->body_len, err);
    if (rc != TIX_OK)
        return rc;
    return tix_bus_wait_confirms(bus, TIX_BUS_DEAD_LETTER_TIMEOUT_MS, err);
}

enum tix_rc tix_bus_get(struct tix_bus *bus, const char *queue, struct tix_bus_delivery *out,
                        struct tix_err *err)
{
    memset(out, 0, sizeof(*out));
    if (is_blank(queue))
        return tix_err_set(err, TIX_EINVAL, "queue", "empty queue name");
    amqp_basic_get_t req = {.queue = amqp_cstring_bytes(queue), .no_ack = 0};
    amqp_method_t reply;
    enum tix_rc rc = rpc(bus, MAIN_CH, AMQP_BASIC_GET_METHOD, &req, AMQP_BASIC_GET_OK_METHOD,
                         AMQP_BASIC_GET_EMPTY_METHOD, &reply, err);
    if (rc != TIX_OK)
        return rc;
    if (reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
        return tix_err_set(err, TIX_ENOTFOUND, "queue", "queue %s is empty", queue);
    const amqp_basic_get_ok_t *ok = reply.decoded;
    out->delivery_tag = ok->delivery_tag;
    out->is_redelivered = ok->redelivered != 0;
    out->exchange = bytes_dup(ok->exchange);
    out->routing_key = bytes_dup(ok->routing_key);
    amqp_message_t msg;
    rc = read_content(bus, &msg, err);
    if (rc != TIX_OK) {
        tix_bus_delivery_deinit(out);
        return rc;
    }
    fill_message(out, &msg);
    amqp_destroy_message(&msg);
    return TIX_OK;
}
