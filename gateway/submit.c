/* submit.c - commands from requests: publish with confirms, answer accepted or the outcome
 *
 * Each thread keeps a list of pending commands (newest first, and indexed by command id for the
 * replies). A command is answered 202 only once the broker confirmed it (never before: a 202 is
 * a promise that the command will be decided), or, with Prefer: wait=N, with its outcome when
 * the processor's direct reply comes within N seconds.
 * The bus socket is watched by the thread's event loop; nothing here blocks.
 *
 * Commands are not published one by one: each goes into its partition's slot of the thread's
 * outbox, and once the loop has run every callback of its round, each slot leaves as one message
 * (TIX_BUS_BATCH_TYPE, bus.h): one publish, one confirm and one queue entry for the commands of
 * a round, however many clients sent them. Nothing waits for a batch to fill.
 *
 * Broker failures are answered 503. When the broker reports a nack or a return, the gateway
 * can't tell which messages it hit, so every command settled since the last check is answered
 * 503: the client retries with its Idempotency-Key and the processor deduplicates.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/log.h"
#include "tix/mem.h"
#include "tix/aredis.h"

#include "envelope.h"
#include "gateway.h"

#define CONFIRM_TIMEOUT_MS 10000
#define OUTBOX_MAX_BYTES   (512 * 1024)

struct tix_pending {
    struct tix_pending *next, *prev; /* th->pending (or, before publishing, an outbox slot) */
    struct tix_pending *next_in_bucket;
    bool is_listed; /* on th->pending and in th->pending_index */
    struct tix_req *req;
    char command_id[40];
    uint64_t seq;
    int64_t published_us;
    bool is_confirmed;
    int64_t confirm_deadline_ms;
    int64_t wait_deadline_ms; /* 0: answer 202 at confirm */
    int success_status;
    json_t *(*on_success)(struct tix_req *req, const json_t *outcome, void *ctx);
    bool is_forced; /* no 202: the outcome or 503 */
    int accepted_status;
    int rejected_status;
    void *ctx;
    void (*ctx_free)(void *ctx);
};

/* Commands of one partition (with or without a wanted reply) waiting for the round's end. */
struct slot {
    struct tix_buf body;       /* envelopes, one per line */
    struct tix_pending *first; /* in submission order, linked by next */
    struct tix_pending **tail;
    int n;
};

struct tix_gw_outbox {
    int partitions;
    struct slot *slots; /* [partition * 2 + wants_reply] */
    struct event *flush_ev;
    bool is_scheduled;
};

static json_t chained_marker;
json_t *const TIX_GW_CHAINED = &chained_marker;

/* Seconds asked for by "Prefer: wait=N" (capped), or 0. */
static int prefer_wait(struct tix_req *req)
{
    const char *p = evhttp_find_header(evhttp_request_get_input_headers(req->ev), "Prefer");
    const char *w = p != NULL ? strstr(p, "wait=") : NULL;
    if (w == NULL || !isdigit((unsigned char)w[5]))
        return 0;
    long n = strtol(w + 5, NULL, 10);
    int cap = req->th->gw->cfg->wait_max_s;
    return n > cap ? cap : (int)n;
}

void tix_gw_derived_id(const char *scope, const char *name, char out[TIX_UUID_LEN + 1])
{
    unsigned char h[16];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const unsigned char *)scope, strlen(scope) + 1);
    crypto_generichash_update(&st, (const unsigned char *)name, strlen(name));
    crypto_generichash_final(&st, h, sizeof(h));
    tix_uuid_format(h, 8, out);
}

/* A stable command id for (caller, Idempotency-Key). */
static void idem_command_id(const struct tix_req *req, char out[TIX_UUID_LEN + 1])
{
    tix_gw_derived_id(req->idem_caller, req->idem_key, out);
}

/* The bucket of command_id in th->pending_index. */
static struct tix_pending **bucket_of(struct tix_gw_thread *th, const char *command_id)
{
    return &th->pending_index[tix_partition_of(command_id, strlen(command_id),
                                               TIX_GW_PENDING_BUCKETS)];
}

/* Puts p (just published) at the head of th->pending and in its bucket. */
static void link_pending(struct tix_gw_thread *th, struct tix_pending *p)
{
    p->prev = NULL;
    p->next = th->pending;
    if (th->pending != NULL)
        th->pending->prev = p;
    th->pending = p;
    struct tix_pending **b = bucket_of(th, p->command_id);
    p->next_in_bucket = *b;
    *b = p;
    p->is_listed = true;
}

static void unlink_pending(struct tix_gw_thread *th, struct tix_pending *p)
{
    if (p->is_listed) {
        if (p->prev != NULL)
            p->prev->next = p->next;
        else
            th->pending = p->next;
        if (p->next != NULL)
            p->next->prev = p->prev;
        for (struct tix_pending **pp = bucket_of(th, p->command_id); *pp != NULL;
             pp = &(*pp)->next_in_bucket) {
            if (*pp == p) {
                *pp = p->next_in_bucket;
                break;
            }
        }
    }
    __atomic_sub_fetch(&th->commands_pending, 1, __ATOMIC_RELAXED);
    if (p->ctx_free != NULL)
        p->ctx_free(p->ctx);
    free(p);
}

static void answer_accepted(struct tix_gw_thread *th, struct tix_pending *p)
{
    if (p->is_forced) {
        char detail[160];
        snprintf(detail, sizeof(detail),
                 "the outcome did not come in time; see GET /api/v1/commands/%s", p->command_id);
        tix_gw_problem(p->req, 503, "outcome-timeout", detail);
        unlink_pending(th, p);
        return;
    }
    char location[96];
    snprintf(location, sizeof(location), "/api/v1/commands/%s", p->command_id);
    tix_gw_header(p->req, "Location", location);
    tix_gw_reply_json(p->req, p->accepted_status != 0 ? p->accepted_status : 202,
                      json_pack("{ss ss ss}", "command_id", p->command_id, "status", "accepted",
                                "status_url", location));
    unlink_pending(th, p);
}

static int rejection_status(const char *code)
{
    if (code == NULL)
        return 409;
    size_t len = strlen(code);
    if (len >= 9 && strcmp(code + len - 9, "not_found") == 0)
        return 404; /* not_found, session_not_found, chart_not_found... */
    if (strcmp(code, "forbidden") == 0)
        return 403;
    if (strcmp(code, "invalid") == 0)
        return 422;
    return 409;
}

static void answer_outcome(struct tix_gw_thread *th, struct tix_pending *p, json_t *outcome)
{
    struct tix_req *req = p->req;
    const char *status = tix_json_str(outcome, "status");
    if (status != NULL && strcmp(status, "succeeded") == 0) {
        json_t *body = p->on_success != NULL ? p->on_success(req, outcome, p->ctx) : NULL;
        if (body == TIX_GW_CHAINED) {
            unlink_pending(th, p); /* the request belongs to the next command now */
            return;
        }
        if (body == NULL)
            body = json_incref(outcome);
        tix_gw_reply_json(req, p->success_status, body);
    } else {
        json_t *reason = json_object_get(outcome, "reason");
        const char *code = tix_json_str(reason, "code"), *field = tix_json_str(reason, "field");
        const char *msg = tix_json_str(reason, "message");
        int http = p->rejected_status != 0 ? p->rejected_status : rejection_status(code);
        char type[80];
        snprintf(type, sizeof(type), "%s",
                 code == NULL                   ? "rejected"
                 : strcmp(code, "invalid") == 0 ? "validation-failed"
                                                : code);
        for (char *c = type; *c; c++)
            *c = *c == '_' ? '-' : *c;
        json_t *errors = NULL;
        if (field != NULL && field[0] != '\0')
            errors = json_pack("[{ss ss ss}]", "field", field, "message", msg ? msg : "", "code",
                               code ? code : "rejected");
        tix_gw_problem_ex(req, http, type, msg ? msg : "the command was rejected", errors);
    }
    unlink_pending(th, p);
}

/* Answers 503 for every command still in the outbox. */
static void outbox_fail(struct tix_gw_thread *th)
{
    struct tix_gw_outbox *ob = th->outbox;
    for (int i = 0; ob != NULL && i < 2 * ob->partitions; i++) {
        struct slot *sl = &ob->slots[i];
        while (sl->first != NULL) {
            struct tix_pending *p = sl->first;
            sl->first = p->next;
            tix_gw_problem(p->req, 503, "broker-unavailable",
                           "commands can't be accepted right now");
            p->next = NULL;
            unlink_pending(th, p); /* not on th->pending: only counted and freed */
        }
        sl->tail = &sl->first;
        sl->n = 0;
        tix_buf_reset(&sl->body);
    }
}

/* Publishes slot i of the outbox as one message; its commands join th->pending with the
 * message's sequence number. A failed publish answers everything 503. */
static void publish_slot(struct tix_gw_thread *th, int i)
{
    struct tix_gw_outbox *ob = th->outbox;
    struct slot *sl = &ob->slots[i];
    char rk[8];
    tix_bus_partition_key(i / 2, rk, sizeof(rk));
    struct tix_bus_props props = {.message_id = sl->first->command_id,
                                  .type = TIX_BUS_BATCH_TYPE,
                                  .reply_to = i % 2 == 1 ? TIX_BUS_REPLY_TO : NULL};
    struct tix_err err;
    enum tix_rc rc = th->is_bus_ok ? tix_bus_publish(th->bus, TIX_BUS_COMMANDS_EXCHANGE, rk, true,
                                                     &props, sl->body.ptr, sl->body.len, &err)
                                   : TIX_ETRANSIENT;
    if (rc != TIX_OK) {
        th->is_bus_ok = false;
        outbox_fail(th);
        tix_gw_pending_flush(th, 503);
        return;
    }
    uint64_t seq = tix_bus_published(th->bus);
    int64_t now_us = tix_now_us();
    __atomic_add_fetch(&th->commands_published, (uint64_t)sl->n, __ATOMIC_RELAXED);
    while (sl->first != NULL) {
        struct tix_pending *p = sl->first;
        sl->first = p->next;
        p->seq = seq;
        p->published_us = now_us;
        link_pending(th, p);
    }
    sl->tail = &sl->first;
    sl->n = 0;
    tix_buf_reset(&sl->body);
}

/* Publishes every slot of the outbox: runs once the round's other callbacks are done. */
static void outbox_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct tix_gw_thread *th = arg;
    th->outbox->is_scheduled = false;
    for (int i = 0; i < 2 * th->outbox->partitions; i++)
        if (th->outbox->slots[i].first != NULL)
            publish_slot(th, i);
}

/* Queues p's envelope in its partition's slot; a full slot leaves at once, else the flush is
 * scheduled for the end of the round. */
static void outbox_add(struct tix_gw_thread *th, int part, bool wants_reply, struct tix_pending *p,
                       const char *envelope)
{
    struct tix_gw_outbox *ob = th->outbox;
    int i = part * 2 + (wants_reply ? 1 : 0);
    struct slot *sl = &ob->slots[i];
    if (sl->n > 0)
        tix_buf_puts(&sl->body, "\n");
    tix_buf_puts(&sl->body, envelope);
    p->next = NULL;
    *sl->tail = p;
    sl->tail = &p->next;
    sl->n++;
    if (sl->n >= TIX_BUS_BATCH_MAX || sl->body.len >= OUTBOX_MAX_BYTES) {
        publish_slot(th, i);
    } else if (!ob->is_scheduled) {
        ob->is_scheduled = true;
        event_active(ob->flush_ev, EV_TIMEOUT, 0);
    }
}

struct tix_gw_outbox *tix_gw_outbox_create(struct tix_gw_thread *th)
{
    struct tix_gw_outbox *ob = tix_xcalloc(1, sizeof(*ob));
    ob->partitions = th->gw->cfg->partitions;
    ob->slots = tix_xcalloc((size_t)(2 * ob->partitions), sizeof(*ob->slots));
    for (int i = 0; i < 2 * ob->partitions; i++) {
        tix_buf_init(&ob->slots[i].body, 0);
        ob->slots[i].tail = &ob->slots[i].first;
    }
    ob->flush_ev = event_new(th->base, -1, 0, outbox_flush, th);
    return ob;
}

void tix_gw_outbox_destroy(struct tix_gw_thread *th)
{
    struct tix_gw_outbox *ob = th->outbox;
    if (ob == NULL)
        return;
    outbox_fail(th);
    for (int i = 0; i < 2 * ob->partitions; i++)
        tix_buf_deinit(&ob->slots[i].body);
    event_free(ob->flush_ev);
    free(ob->slots);
    free(ob);
    th->outbox = NULL;
}

void tix_gw_submit(struct tix_req *req, struct tix_gw_command *cmd)
{
    struct tix_gw_thread *th = req->th;
    if (!th->is_bus_ok) {
        json_decref(cmd->payload);
        if (cmd->ctx_free != NULL)
            cmd->ctx_free(cmd->ctx);
        tix_gw_problem(req, 503, "broker-unavailable", "commands can't be accepted right now");
        return;
    }
    struct tix_pending *p = tix_xcalloc(1, sizeof(*p));
    if (cmd->command_id != NULL)
        snprintf(p->command_id, sizeof(p->command_id), "%s", cmd->command_id);
    else if (req->has_idem)
        idem_command_id(req, p->command_id);
    else
        tix_uuid_v7(p->command_id);
    int wait_s = prefer_wait(req);
    if (cmd->force_wait_s > wait_s)
        wait_s = cmd->force_wait_s;
    const char *actor = cmd->actor != NULL  ? cmd->actor
                        : req->who.actor[0] ? req->who.actor
                                            : "anonymous";
    char *body = tix_envelope_encode(p->command_id, cmd->type, cmd->key, cmd->payload, actor,
                                     req->id, NULL, req->ip);
    json_decref(cmd->payload);
    int part = (int)tix_partition_of(cmd->key, strlen(cmd->key), (uint32_t)th->gw->cfg->partitions);
    if (th->aredis != NULL) { /* who may read the command's status; nobody waits for Redis */
        char key[64];
        snprintf(key, sizeof(key), "tix:cmd:%s", p->command_id);
        const char *argv[] = {"SET", key, actor, "EX", "86400"};
        tix_aredis_cmd_argv(th->aredis, 5, argv, NULL, NULL, NULL);
    }
    p->req = req;
    p->confirm_deadline_ms = tix_mono_ms() + CONFIRM_TIMEOUT_MS;
    p->wait_deadline_ms = wait_s > 0 ? tix_mono_ms() + 1000LL * wait_s : 0;
    p->success_status = cmd->success_status;
    p->on_success = cmd->on_success;
    p->is_forced = cmd->force_wait_s > 0;
    p->accepted_status = cmd->accepted_status;
    p->rejected_status = cmd->rejected_status;
    p->ctx = cmd->ctx;
    p->ctx_free = cmd->ctx_free;
    __atomic_add_fetch(&th->commands_pending, 1, __ATOMIC_RELAXED);
    outbox_add(th, part, wait_s > 0, p, body);
    free(body);
}

static struct tix_pending *find_pending(struct tix_gw_thread *th, const char *command_id)
{
    if (command_id == NULL)
        return NULL;
    for (struct tix_pending *p = *bucket_of(th, command_id); p != NULL; p = p->next_in_bucket)
        if (strcmp(p->command_id, command_id) == 0)
            return p;
    return NULL;
}

static void bus_lost(struct tix_gw_thread *th, const struct tix_err *err)
{
    tix_log_warn("gateway lost the broker", "thread=%d detail=\"%s\"", th->index, err->msg);
    th->is_bus_ok = false;
    if (th->bus_ev != NULL)
        event_del(th->bus_ev);
    tix_gw_pending_flush(th, 503);
}

/* Answers 503 for every command settled by the broker but not yet answered accepted. */
static void fail_settled(struct tix_gw_thread *th, const char *why)
{
    tix_log_warn("broker refused commands", "thread=%d detail=\"%s\"", th->index, why);
    struct tix_pending *p = th->pending;
    while (p != NULL) {
        struct tix_pending *next = p->next;
        if (!p->is_confirmed && tix_bus_is_settled(th->bus, p->seq)) {
            tix_gw_problem(p->req, 503, "broker-refused", "the command was not accepted");
            unlink_pending(th, p);
        }
        p = next;
    }
}

/* Answers the command of one outcome (a reply means the broker had it); correlation_id names
 * it when the outcome doesn't. */
static void take_outcome(struct tix_gw_thread *th, const char *text, size_t len,
                         const char *correlation_id)
{
    json_t *outcome = tix_json_parse(text, len, NULL);
    const char *id = tix_json_str(outcome, "command_id");
    struct tix_pending *p = find_pending(th, id != NULL ? id : correlation_id);
    if (p != NULL)
        answer_outcome(th, p, outcome);
    json_decref(outcome);
}

static void take_replies(struct tix_gw_thread *th)
{
    struct tix_bus_delivery d;
    struct tix_err err;
    while (tix_bus_next(th->bus, 0, &d, &err) == TIX_OK) {
        const char *at = d.body, *line; /* outcomes of a batch: one per line */
        size_t len;
        while ((line = tix_bus_batch_line(&at, d.body + d.body_len, &len)) != NULL)
            take_outcome(th, line, len, d.correlation_id);
        tix_bus_delivery_deinit(&d);
    }
}

void tix_gw_pending_poll(struct tix_gw_thread *th)
{
    if (!th->is_bus_ok)
        return;
    struct tix_err err;
    if (tix_bus_poll(th->bus, &err) != TIX_OK) {
        bus_lost(th, &err);
        return;
    }
    char why[160];
    if (tix_bus_take_failures(th->bus, why, sizeof(why)) > 0)
        fail_settled(th, why);
    take_replies(th);
    /* Newest first, and the broker confirms in publishing order: the commands not confirmed yet
     * come before every confirmed one, so the walk ends at the first confirmed. */
    struct tix_pending *p = th->pending;
    while (p != NULL && !p->is_confirmed) {
        struct tix_pending *next = p->next;
        if (tix_bus_is_settled(th->bus, p->seq)) {
            p->is_confirmed = true;
            tix_gw_metrics_confirm(th, tix_now_us() - p->published_us);
            if (p->wait_deadline_ms == 0)
                answer_accepted(th, p);
        }
        p = next;
    }
}

void tix_gw_pending_tick(struct tix_gw_thread *th)
{
    tix_gw_pending_poll(th);
    int64_t now = tix_mono_ms();
    struct tix_pending *p = th->pending;
    while (p != NULL) {
        struct tix_pending *next = p->next;
        if (p->is_confirmed && now >= p->wait_deadline_ms) {
            answer_accepted(th, p);
        } else if (!p->is_confirmed && now >= p->confirm_deadline_ms) {
            tix_gw_problem(p->req, 503, "broker-timeout", "the broker did not confirm in time");
            unlink_pending(th, p);
        }
        p = next;
    }
}

void tix_gw_pending_answer_confirmed(struct tix_gw_thread *th)
{
    struct tix_pending *p = th->pending;
    while (p != NULL) {
        struct tix_pending *next = p->next;
        if (p->is_confirmed)
            answer_accepted(th, p);
        p = next;
    }
}

void tix_gw_pending_flush(struct tix_gw_thread *th, int status)
{
    outbox_fail(th);
    while (th->pending != NULL) {
        struct tix_pending *p = th->pending;
        if (status == 202 && p->is_confirmed)
            answer_accepted(th, p);
        else {
            tix_gw_problem(p->req, 503, "broker-unavailable",
                           "the command's fate is unknown; "
                           "retry with the same Idempotency-Key");
            unlink_pending(th, p);
        }
    }
}
