/* submit.c - commands from requests: publish with confirms, answer accepted or the outcome
 *
 * Each thread keeps a list of pending commands. A command is answered 202 only once the broker
 * confirmed it (never before: a 202 is a promise that the command will be decided), or, with
 * Prefer: wait=N, with its outcome when the processor's direct reply comes within N seconds.
 * The bus socket is watched by the thread's event loop; nothing here blocks.
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
#include "tix/redis.h"

#include "envelope.h"
#include "gateway.h"

#define CONFIRM_TIMEOUT_MS 10000

struct tix_pending {
    struct tix_pending *next;
    struct tix_req *req;
    char command_id[40];
    uint64_t seq;
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
    h[6] = (unsigned char)(0x80 | (h[6] & 0x0f));
    h[8] = (unsigned char)(0x80 | (h[8] & 0x3f));
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[h[i] >> 4];
        out[o++] = hex[h[i] & 15];
    }
    out[o] = '\0';
}

/* A stable command id for (caller, Idempotency-Key). */
static void idem_command_id(const struct tix_req *req, char out[TIX_UUID_LEN + 1])
{
    tix_gw_derived_id(req->idem_caller, req->idem_key, out);
}

static void unlink_pending(struct tix_gw_thread *th, struct tix_pending *p)
{
    for (struct tix_pending **pp = &th->pending; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
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
    if (strcmp(code, "not_found") == 0)
        return 404;
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
    char rk[8];
    tix_bus_partition_key(
        (int)tix_partition_of(cmd->key, strlen(cmd->key), (uint32_t)th->gw->cfg->partitions), rk,
        sizeof(rk));
    struct tix_bus_props props = {.message_id = p->command_id,
                                  .type = cmd->type,
                                  .reply_to = wait_s > 0 ? TIX_BUS_REPLY_TO : NULL};
    struct tix_err err;
    enum tix_rc rc = tix_bus_publish(th->bus, TIX_BUS_COMMANDS_EXCHANGE, rk, true, &props, body,
                                     strlen(body), &err);
    free(body);
    if (rc != TIX_OK) {
        free(p);
        if (cmd->ctx_free != NULL)
            cmd->ctx_free(cmd->ctx);
        th->is_bus_ok = false;
        tix_gw_problem(req, 503, "broker-unavailable", "commands can't be accepted right now");
        tix_gw_pending_flush(th, 503);
        return;
    }
    if (th->redis != NULL)
        tix_redis_cmd(th->redis, NULL, NULL, "SET tix:cmd:%s %s EX 86400", p->command_id, actor);
    p->req = req;
    p->seq = tix_bus_published(th->bus);
    p->confirm_deadline_ms = tix_mono_ms() + CONFIRM_TIMEOUT_MS;
    p->wait_deadline_ms = wait_s > 0 ? tix_mono_ms() + 1000LL * wait_s : 0;
    p->success_status = cmd->success_status;
    p->on_success = cmd->on_success;
    p->is_forced = cmd->force_wait_s > 0;
    p->accepted_status = cmd->accepted_status;
    p->rejected_status = cmd->rejected_status;
    p->ctx = cmd->ctx;
    p->ctx_free = cmd->ctx_free;
    p->next = th->pending;
    th->pending = p;
    __atomic_add_fetch(&th->commands_published, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&th->commands_pending, 1, __ATOMIC_RELAXED);
}

static struct tix_pending *find_pending(struct tix_gw_thread *th, const char *command_id)
{
    for (struct tix_pending *p = th->pending; p != NULL; p = p->next)
        if (command_id != NULL && strcmp(p->command_id, command_id) == 0)
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

static void take_replies(struct tix_gw_thread *th)
{
    struct tix_bus_delivery d;
    struct tix_err err;
    while (tix_bus_next(th->bus, 0, &d, &err) == TIX_OK) {
        struct tix_pending *p = find_pending(th, d.correlation_id);
        json_t *outcome = p != NULL ? tix_json_parse(d.body, d.body_len, NULL) : NULL;
        if (outcome != NULL)
            answer_outcome(th, p, outcome); /* a reply means the broker had it */
        json_decref(outcome);
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
    struct tix_pending *p = th->pending;
    while (p != NULL) {
        struct tix_pending *next = p->next;
        if (!p->is_confirmed && tix_bus_is_settled(th->bus, p->seq)) {
            p->is_confirmed = true;
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
