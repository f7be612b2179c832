/* worker.c - the payment worker's loop and its handlers (see worker.h)
 *
 * One thread, one broker connection (consumer and command publisher), one Postgres
 * connection. Deliveries are handled one at a time, in order; each ends acked (done,
 * dead-lettered for good, or set aside in a delay queue after Stripe failed) or, after a broker
 * failure, unacked and redelivered to whoever consumes the queue next. No delivery waits for
 * Stripe to recover in front of the others: only a Postgres outage, which every delivery would
 * meet, is waited out in place. Handlers never trust the event: every field they use is checked
 * and a malformed event is a permanent failure, not a crash.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/bus.h"
#include "tix/consumer.h"
#include "tix/db.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/log.h"

#include "client.h"
#include "envelope.h"
#include "worker.h"

#define PREFETCH       16
#define BACKOFF_MAX_MS 10000

struct worker {
    struct tix_consumer c; /* first: settle gets it */
    const struct tix_config *cfg;
    const struct tix_payment_provider *pv;
    bool is_provider_down; /* the delivery's Stripe call failed transiently (after its retries) */
};

/* The event being handled: its parsed body and the fields every handler needs. */
struct event_msg {
    json_t *root;
    const json_t *data;
    const char *event_id; /* of the bus message (the recorded event), for causation */
    const char *correlation_id;
    const char *order_id;
    const char *sale_event_id; /* data.event_id: the show, the command key */
    const char *key;           /* what the effect's ids derive from: request_id, else order_id */
    char refused[384];         /* why the provider refused for good, or the worker gave up */
};

/* ---- commands ---- */

/* Sends command `type` keyed by the show with a derived id, and waits for the broker. */
static enum tix_rc send_command(struct worker *w, const struct event_msg *m, const char *id,
                                const char *type, json_t *payload, struct tix_err *err)
{
    char *body = tix_envelope_encode(id, type, m->sale_event_id, payload, TIX_PAYMENT_ACTOR,
                                     m->correlation_id, m->event_id, "tixmo-payment");
    json_decref(payload);
    enum tix_rc rc =
        tix_client_send(w->c.bus, w->cfg->partitions, id, type, m->sale_event_id, body, false, err);
    free(body);
    if (rc != TIX_OK)
        w->c.is_bus_broken = true;
    else
        tix_log_info("command sent", "type=%s command_id=%s order_id=%s", type, id, m->order_id);
    return rc;
}

/* ---- the payments table ---- */

static enum tix_rc exec(struct worker *w, const char *sql, int n, const char *const *params,
                        PGresult **res, struct tix_err *err)
{
    return tix_db_exec(w->c.db, sql, n, params, res, err);
}

/* Copies column col of row 0 into out ("" when NULL or no row). */
static void cell(const PGresult *res, int col, char *out, size_t size)
{
    const char *v = PQntuples(res) > 0 && !PQgetisnull(res, 0, col) ? PQgetvalue(res, 0, col) : "";
    snprintf(out, size, "%s", v);
}

/* Records that the intent of order_id will not be made: status 'failed' and why. */
static enum tix_rc record_failure(struct worker *w, const char *order_id, const char *why,
                                  struct tix_err *err)
{
    const char *p[] = {order_id, why};
    return exec(w,
                "UPDATE payments SET status = 'failed', failure_reason = left($2, 300), "
                "updated_at = now() WHERE order_id = $1 AND payment_intent_id IS NULL",
                2, p, NULL, err);
}

/* ---- order.placed: the intent ---- */

/* Opens a round of an intent or a refund: row_sql, with the 5 parameters p, makes the effect's
 * row if new and selects its provider id and (an intent's) why the worker gave up on it; the id
 * goes into id ("" while the provider was not asked or did not answer), the reason into
 * m->refused. While neither is set, round_sql (an UPDATE of the row keyed $1 = key RETURNING
 * the count of rounds so far) counts this round into *rounds. */
static enum tix_rc open_round(struct worker *w, struct event_msg *m, const char *row_sql,
                              const char *const *p, const char *round_sql, const char *key,
                              char *id, size_t size, int *rounds, struct tix_err *err)
{
    PGresult *res = NULL;
    enum tix_rc rc = exec(w, row_sql, 5, p, &res, err);
    if (rc != TIX_OK)
        return rc;
    cell(res, 0, id, size);
    if (PQnfields(res) > 1)
        cell(res, 1, m->refused, sizeof(m->refused));
    PQclear(res);
    if (id[0] != '\0' || m->refused[0] != '\0')
        return TIX_OK;
    const char *k[] = {key};
    rc = exec(w, round_sql, 1, k, &res, err);
    if (rc == TIX_OK)
        *rounds = PQntuples(res) == 1 ? (int)strtol(PQgetvalue(res, 0, 0), NULL, 10) : 1;
    PQclear(res);
    return rc;
}

/* Makes s fit for the log's reason: control characters become spaces, and a UTF-8 sequence a
 * cut left incomplete at the end goes. */
static void plain_reason(char *s)
{
    size_t n = strlen(s), lead = n;
    for (size_t i = 0; i < n; i++)
        s[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
    while (lead > 0 && ((unsigned char)s[lead - 1] & 0xc0) == 0x80)
        lead--;
    if (lead == 0 || (unsigned char)s[lead - 1] < 0x80)
        return;
    unsigned char c = (unsigned char)s[lead - 1];
    size_t want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    if (n - (lead - 1) < want)
        s[lead - 1] = '\0';
}

/* Stripe did not create m's intent in round `rounds`: a transient failure before the last round
 * shows 'retrying' and sets the delivery aside (TIX_ETRANSIENT); after the last round, or a
 * refusal, the row reads 'failed' with the reason, also put in m->refused (TIX_EINVAL). */
static enum tix_rc intent_not_made(struct worker *w, struct event_msg *m, int rounds,
                                   enum tix_rc rc, const struct tix_intent *in, struct tix_err *err)
{
    bool is_last = rc == TIX_EINVAL || rounds >= w->cfg->intent_rounds;
    const char *code = rc == TIX_ETRANSIENT ? "stripe_unavailable"
                       : in->error_code[0]  ? in->error_code
                                            : "stripe_refused";
    char why[sizeof(m->refused)];
    snprintf(why, sizeof(why), "%s: %s", code, err->msg);
    plain_reason(why);
    if (!is_last) {
        const char *p[] = {m->order_id, why};
        enum tix_rc db = exec(w,
                              "UPDATE payments SET status = 'retrying', failure_reason = left($2, "
                              "300), updated_at = now() WHERE order_id = $1 AND "
                              "payment_intent_id IS NULL",
                              2, p, NULL, NULL);
        tix_log_warn("payment intent not made yet", "order_id=%s round=%d of=%d detail=\"%s\"",
                     m->order_id, rounds, w->cfg->intent_rounds, err->msg);
        w->is_provider_down = db == TIX_OK; /* a Postgres failure is waited out in place */
        return TIX_ETRANSIENT;
    }
    tix_log_warn("payment intent given up: the order is cancelled",
                 "order_id=%s round=%d reason=\"%s\"", m->order_id, rounds, why);
    enum tix_rc db = record_failure(w, m->order_id, why, err);
    if (db != TIX_OK)
        return db;
    snprintf(m->refused, sizeof(m->refused), "%s", why);
    return tix_err_set(err, TIX_EINVAL, "payment_intent", "%s", why);
}

static enum tix_rc intent_for(struct worker *w, struct event_msg *m, char *intent_id, size_t size,
                              struct tix_err *err)
{
    const json_t *d = m->data;
    int64_t amount = tix_json_int(d, "total_minor", -1);
    const char *buyer = tix_json_str(d, "buyer_id"), *currency = tix_json_str(d, "currency");
    if (amount < 1 || buyer == NULL || buyer[0] == '\0' || currency == NULL ||
        strlen(currency) != 3)
        return tix_err_set(err, TIX_EINVAL, "data",
                           "order.placed needs buyer_id, currency and "
                           "total_minor >= 1");
    char amount_s[24];
    snprintf(amount_s, sizeof(amount_s), "%" PRId64, amount);
    const char *row[] = {m->order_id, m->sale_event_id, buyer, amount_s, currency};
    int rounds = 0;
    enum tix_rc rc = open_round(
        w, m,
        "WITH ins AS (INSERT INTO payments (order_id, event_id, buyer_id, amount_minor, currency, "
        "status) VALUES ($1, $2, $3, $4, upper($5), 'creating') ON CONFLICT (order_id) DO "
        "NOTHING) SELECT payment_intent_id, CASE WHEN status = 'failed' THEN failure_reason END "
        "FROM payments WHERE order_id = $1",
        row,
        "UPDATE payments SET intent_rounds = intent_rounds + 1, updated_at = now() WHERE "
        "order_id = $1 RETURNING intent_rounds",
        m->order_id, intent_id, size, &rounds, err);
    if (rc == TIX_OK && m->refused[0] != '\0') /* given up already: the same cancel again */
        return tix_err_set(err, TIX_EINVAL, "payment_intent", "%s", m->refused);
    if (rc != TIX_OK || intent_id[0] != '\0')
        return rc; /* a redelivery: Stripe was already asked and answered */
    char key[96];
    snprintf(key, sizeof(key), "tixmo-order-%s", m->order_id);
    struct tix_intent_request req = {key, amount, currency, m->order_id, m->sale_event_id};
    struct tix_intent in;
    rc = w->pv->create_intent(w->pv->ctx, &req, &in, err);
    if (rc == TIX_ETRANSIENT || rc == TIX_EINVAL)
        return intent_not_made(w, m, rounds, rc, &in, err);
    if (rc != TIX_OK)
        return rc;
    const char *upd[] = {m->order_id, in.id, in.client_secret, in.status};
    rc = exec(w,
              "UPDATE payments SET payment_intent_id = $2, client_secret = $3, status = CASE "
              "WHEN status IN ('creating', 'retrying') THEN $4 ELSE status END, failure_reason = "
              "CASE WHEN status = 'retrying' THEN NULL ELSE failure_reason END, updated_at = "
              "now() WHERE order_id = $1",
              4, upd, NULL, err);
    snprintf(intent_id, size, "%s", in.id);
    tix_log_info("payment intent created", "order_id=%s payment_intent_id=%s attempts=%d round=%d",
                 m->order_id, in.id, in.attempts, rounds);
    return rc;
}

/* ---- order.refund_required: the refund ---- */

/* Records the outcome of the refund keyed m->key: Stripe's refund, or why it refused. */
static enum tix_rc refund_record(struct worker *w, const struct event_msg *m,
                                 const struct tix_refund *out, const char *refused,
                                 struct tix_err *err)
{
    const char *upd[] = {m->key, refused != NULL ? NULL : out->id,
                         refused != NULL                         ? "failed"
                         : strcmp(out->status, "succeeded") == 0 ? "succeeded"
                                                                 : "pending",
                         refused};
    enum tix_rc rc = exec(w,
                          "UPDATE payment_refunds SET refund_id = COALESCE(refund_id, $2), status "
                          "= $3, failure_reason = left($4, 300), updated_at = now() WHERE "
                          "refund_key = $1",
                          4, upd, NULL, err);
    const char *pay[] = {m->order_id, out->id};
    if (rc == TIX_OK && refused == NULL)
        rc = exec(w,
                  "UPDATE payments SET refund_id = $2, updated_at = now() WHERE order_id = $1 "
                  "AND refund_id IS NULL",
                  2, pay, NULL, err);
    return rc;
}

/* Stripe's answer read as final: a charge already refunded is a refund done (recorded under a
 * refund id derived from the key); a transient failure after the last round gives up. */
static enum tix_rc settle_refund(struct worker *w, const struct event_msg *m, int attempts,
                                 enum tix_rc rc, struct tix_refund *out, struct tix_err *err)
{
    if (rc == TIX_EINVAL && strcmp(out->error_code, "charge_already_refunded") == 0) {
        snprintf(out->id, sizeof(out->id), "already_refunded_%s", m->key);
        snprintf(out->status, sizeof(out->status), "succeeded");
        tix_log_info("charge already refunded: counted as done", "order_id=%s refund_key=%s",
                     m->order_id, m->key);
        tix_err_clear(err);
        return TIX_OK;
    }
    if (rc == TIX_ETRANSIENT && attempts >= w->cfg->refund_attempts) {
        snprintf(out->error_code, sizeof(out->error_code), "stripe_unavailable");
        tix_log_warn("refund given up", "order_id=%s refund_key=%s attempts=%d detail=\"%s\"",
                     m->order_id, m->key, attempts, err->msg);
        return TIX_EINVAL;
    }
    return rc;
}

static enum tix_rc refund_for(struct worker *w, struct event_msg *m, char *refund_id, size_t size,
                              struct tix_err *err)
{
    const char *intent = tix_json_str(m->data, "payment_intent_id");
    int64_t amount = tix_json_int(m->data, "amount_minor", -1);
    if (intent == NULL || intent[0] == '\0' || amount < 1)
        return tix_err_set(err, TIX_EINVAL, "data",
                           "order.refund_required needs payment_intent_id and amount_minor >= 1");
    char amount_s[24];
    snprintf(amount_s, sizeof(amount_s), "%" PRId64, amount);
    const char *row[] = {m->key, m->order_id, m->sale_event_id, intent, amount_s};
    int attempts = 0; /* the row's statement also marks the order's payment refund_pending */
    enum tix_rc rc = open_round(
        w, m,
        "WITH ins AS (INSERT INTO payment_refunds (refund_key, order_id, event_id, "
        "payment_intent_id, amount_minor, status) VALUES ($1, $2, $3, $4, $5, 'creating') ON "
        "CONFLICT (refund_key) DO NOTHING), pay AS (UPDATE payments SET status = CASE WHEN "
        "status = 'refunded' THEN status ELSE 'refund_pending' END, updated_at = now() WHERE "
        "order_id = $2) SELECT refund_id FROM payment_refunds WHERE refund_key = $1",
        row,
        "UPDATE payment_refunds SET attempts = attempts + 1, updated_at = now() WHERE "
        "refund_key = $1 RETURNING attempts",
        m->key, refund_id, size, &attempts, err);
    if (rc != TIX_OK || refund_id[0] != '\0')
        return rc;
    char key[96];
    snprintf(key, sizeof(key), "tixmo-refund-%s", m->key);
    struct tix_refund_request req = {key, intent, amount, m->order_id, m->sale_event_id};
    struct tix_refund out;
    rc = w->pv->create_refund(w->pv->ctx, &req, &out, err);
    w->is_provider_down = rc == TIX_ETRANSIENT;
    rc = settle_refund(w, m, attempts, rc, &out, err);
    if (rc == TIX_EINVAL) {
        snprintf(m->refused, sizeof(m->refused), "%s",
                 out.error_code[0] ? out.error_code : err->msg);
        tix_log_warn("refund refused", "order_id=%s refund_key=%s detail=\"%s\"", m->order_id,
                     m->key, err->msg);
        return refund_record(w, m, &out, err->msg, err) == TIX_OK ? TIX_EINVAL : TIX_ETRANSIENT;
    }
    if (rc != TIX_OK)
        return rc;
    rc = refund_record(w, m, &out, NULL, err);
    snprintf(refund_id, size, "%s", out.id);
    tix_log_info("refund created", "order_id=%s refund_id=%s status=%s attempts=%d", m->order_id,
                 out.id, out.status, out.attempts);
    return rc;
}

/* ---- effects: a call to the provider, then a command that records its result ---- */

struct effect {
    const char *event_type;
    enum tix_rc (*call)(struct worker *w, struct event_msg *m, char *result, size_t size,
                        struct tix_err *err);
    const char *id_prefix; /* command id = prefix || key (request_id, else order id) */
    const char
        *command_type; /* payload {event_id, order_id, <result_field>: result, request_id?} */
    const char *result_field;
    const char *refused_prefix; /* when the provider refused: this command id prefix, */
    const char *refused_type;   /* command and payload {event_id, order_id, reason, request_id?} */
};

static const struct effect effects[] = {
    {"order.placed", intent_for, "payments.attach.", "order.attach_payment", "payment_intent_id",
     "payments.intent_failed.", "order.cancel"},
    {"order.refund_required", refund_for, "payments.refund.", "order.mark_refunded", "refund_id",
     "payments.refund_failed.", "order.mark_refund_failed"},
};

static enum tix_rc run_effect(struct worker *w, const struct effect *e, struct event_msg *m,
                              struct tix_err *err)
{
    char result[128], id[96];
    const char *request = tix_json_str(m->data, "request_id");
    m->key = tix_uuid_is_valid(request) ? request : m->order_id;
    enum tix_rc rc = e->call(w, m, result, sizeof(result), err);
    const char *type = e->command_type;
    json_t *payload = json_pack("{ss ss}", "event_id", m->sale_event_id, "order_id", m->order_id);
    if (rc == TIX_EINVAL && m->refused[0] != '\0' && e->refused_type != NULL) {
        snprintf(id, sizeof(id), "%s%s", e->refused_prefix, m->key);
        type = e->refused_type;
        json_object_set_new(payload, "reason", json_string(m->refused));
    } else if (rc == TIX_OK) {
        snprintf(id, sizeof(id), "%s%s", e->id_prefix, m->key);
        json_object_set_new(payload, e->result_field, json_string(result));
    } else {
        json_decref(payload);
        return rc;
    }
    if (request != NULL && m->key == request)
        json_object_set_new(payload, "request_id", json_string(request));
    tix_err_clear(err);
    return send_command(w, m, id, type, payload, err);
}

/* ---- outcomes recorded by the sale ---- */

static enum tix_rc on_outcome(struct worker *w, const char *type, const struct event_msg *m,
                              struct tix_err *err)
{
    const char *reason = tix_json_str(m->data, "reason");
    const char *refund = tix_json_str(m->data, "refund_id");
    const char *p[] = {m->order_id, reason};
    const char *r[] = {m->order_id, refund};
    if (strcmp(type, "order.paid") == 0)
        return exec(w,
                    "UPDATE payments SET status = 'succeeded', failure_reason = NULL, updated_at "
                    "= now() WHERE order_id = $1 AND status NOT IN ('refund_pending', "
                    "'refunded')",
                    1, p, NULL, err);
    if (strcmp(type, "order.payment_failed") == 0)
        return exec(w,
                    "UPDATE payments SET status = 'payment_failed', failure_reason = left($2, "
                    "300), updated_at = now() WHERE order_id = $1 AND status NOT IN "
                    "('succeeded', 'refund_pending', 'refunded')",
                    2, p, NULL, err);
    return exec(w,
                "UPDATE payments SET status = 'refunded', refund_id = coalesce(refund_id, $2), "
                "updated_at = now() WHERE order_id = $1",
                2, r, NULL, err);
}

/* ---- one delivery ---- */

static enum tix_rc parse(const struct tix_bus_delivery *d, struct event_msg *m, struct tix_err *err)
{
    memset(m, 0, sizeof(*m));
    m->root = tix_json_parse(d->body, d->body_len, err);
    if (m->root == NULL)
        return TIX_EINVAL;
    m->data = json_object_get(m->root, "data");
    m->event_id = tix_json_str(m->root, "event_id");
    m->correlation_id = tix_json_str(json_object_get(m->root, "metadata"), "correlation_id");
    m->order_id = tix_json_str(m->data, "order_id");
    m->sale_event_id = tix_json_str(m->data, "event_id");
    if (!tix_uuid_is_valid(m->order_id) || !tix_uuid_is_valid(m->sale_event_id))
        return tix_err_set(err, TIX_EINVAL, "data", "the event lacks a UUID order_id/event_id");
    return TIX_OK;
}

/* The event type: the routing key as the relay published it, or, for a delivery back from a
 * delay queue (routing key TIX_PAYMENT_QUEUE), the type property it was set aside with. */
static const char *event_type(const struct tix_bus_delivery *d)
{
    return strcmp(d->routing_key, TIX_PAYMENT_QUEUE) == 0 && d->type != NULL ? d->type
                                                                             : d->routing_key;
}

static enum tix_rc handle(struct worker *w, const struct tix_bus_delivery *d, struct tix_err *err)
{
    const char *type = event_type(d);
    bool is_known = false;
    for (int i = 0; tix_bus_payment_events[i] != NULL; i++)
        is_known = is_known || strcmp(type, tix_bus_payment_events[i]) == 0;
    if (!is_known)
        return TIX_OK; /* bound by someone else: not ours */
    struct event_msg m;
    enum tix_rc rc = parse(d, &m, err);
    const struct effect *e = NULL;
    for (size_t i = 0; i < sizeof(effects) / sizeof(effects[0]); i++)
        e = strcmp(type, effects[i].event_type) == 0 ? &effects[i] : e;
    bool is_free = rc == TIX_OK && strcmp(type, "order.placed") == 0 &&
                   tix_json_int(m.data, "total_minor", -1) == 0;
    if (rc == TIX_OK && is_free)
        tix_log_info("free order: nothing to charge", "order_id=%s", m.order_id);
    else if (rc == TIX_OK && e != NULL)
        rc = run_effect(w, e, &m, err);
    else if (rc == TIX_OK)
        rc = on_outcome(w, type, &m, err);
    json_decref(m.root);
    return rc;
}

/* Sets d aside after Stripe failed it in round d->attempt + 1: into the delay queue of that
 * round (the last round of an intent or a refund was settled by intent_for or refund_for). */
static void set_aside(struct worker *w, const struct tix_bus_delivery *d, struct tix_err *err)
{
    int attempt = (int)(d->attempt < 0 ? 0 : d->attempt) + 1;
    char queue[64];
    tix_bus_payment_delay_queue(attempt - 1, queue, sizeof(queue));
    tix_log_warn("stripe failed, event set aside",
                 "type=%s message_id=%s attempt=%d delay_queue=%s detail=\"%s\"", event_type(d),
                 d->message_id ? d->message_id : "-", attempt, queue, err->msg);
    tix_consumer_delay(&w->c, d, event_type(d), queue, attempt);
}

/* Handles d until it is done, dead-lettered, set aside for a later round (Stripe failed), or
 * the broker connection is lost; a Postgres failure is waited out here. */
static void settle(struct tix_consumer *c, const struct tix_bus_delivery *d)
{
    struct worker *w = (struct worker *)c;
    struct tix_err err;
    int backoff = 250;
    for (;;) {
        tix_err_clear(&err);
        w->is_provider_down = false;
        enum tix_rc rc = handle(w, d, &err);
        if (rc == TIX_OK || rc == TIX_EINVAL || rc == TIX_EINTERNAL) {
            tix_consumer_finish(c, d, rc, &err);
            return;
        }
        if (w->is_provider_down && !c->is_bus_broken) {
            set_aside(w, d, &err);
            return;
        }
        tix_log_warn("event not handled yet, retrying",
                     "type=%s message_id=%s detail=\"%s\" "
                     "wait_ms=%d",
                     event_type(d), d->message_id ? d->message_id : "-", err.msg, backoff);
        if (c->is_bus_broken || !tix_consumer_pause_ms(c, backoff) || c->is_bus_broken)
            return; /* unacked: redelivered after the reconnect */
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}

enum tix_rc tix_payment_run(const struct tix_config *cfg, const struct tix_payment_provider *pv,
                            volatile sig_atomic_t *stop, struct tix_err *err)
{
    (void)err;
    struct worker w = {.c = {.cfg = cfg,
                             .service = "tixmo-payment",
                             .queue = TIX_PAYMENT_QUEUE,
                             .prefetch = PREFETCH,
                             .stop = stop,
                             .settle_cb = settle},
                       .cfg = cfg,
                       .pv = pv};
    tix_log_info("payment worker started", "provider=%s queue=%s", pv->name, TIX_PAYMENT_QUEUE);
    tix_consumer_run(&w.c);
    tix_log_info("payment worker stopped", NULL);
    return TIX_OK;
}
