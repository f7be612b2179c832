/* processor.c - hosts the aggregates: decide a batch per partition, append once, then ack
 *
 * Invariants:
 *  - a delivery is acked only after its outcome is committed (or it was dead-lettered with a
 *    confirm) and its reply sent; the events reach the bus through the relay (relay.h), which
 *    follows the log, so no batch waits for the broker and no committed event is left out;
 *  - cached states are evolved only by decisions; if an append fails, every stream the batch
 *    touched is evicted, so the cache never holds an uncommitted future;
 *  - a head conflict (another processor wrote the partition) empties the cache and reloads the
 *    head before deciding again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tix/buf.h"
#include "tix/bus.h"
#include "tix/db.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/log.h"
#include "tix/mem.h"
#include "tix/store.h"

#include "cache.h"
#include "envelope.h"
#include "expiry.h"
#include "processor.h"
#include "relay.h"

#define BATCH_RETRIES 3

/* One command: a delivery's body, or one line of a batch delivery (TIX_BUS_BATCH_TYPE). */
struct item {
    struct tix_bus_delivery *d; /* borrowed from proc.deliveries */
    const char *body;           /* inside d->body */
    size_t body_len;
    bool is_batch; /* its outcome goes back in one reply with the others of its caller */
    int partition;
    struct tix_envelope env;
    bool is_poison;
    char poison_reason[300];
    bool is_done;  /* outcome known */
    char *outcome; /* canonical JSON, owned */
    char *staged;  /* outcome of the current attempt, owned */
};

/* Everything one attempt at a partition batch appends, with the strings it owns. Sized for
 * batch_max commands of TIX_DECISION_MAX_EVENTS events each. */
struct stage {
    struct tix_append_event *ev;
    int n_ev;
    struct tix_append_outcome *oc;
    int n_oc;
    char **owned;
    int n_owned;
    char (*touched)[TIX_STREAM_ID_MAX];
    int n_touched;
};

/* Where batches spend their time, logged every TIX_STATS_PERIOD_MS at info level. */
struct proc_stats {
    int64_t since_ms;
    long batches, commands;
    int64_t wait_us, store_us, finish_us;
    int64_t dedup_us, decide_us, append_us; /* parts of store_us */
};

#define TIX_STATS_PERIOD_MS 5000
/* How long an idle processor waits for a delivery before it looks at the stop flag again. */
#define IDLE_WAIT_MS 100

struct proc {
    const struct tix_config *cfg;
    struct tix_db *db;
    struct tix_bus *in;
    struct tix_bus *out;
    int partitions;
    struct tix_partition_head *heads;
    bool *is_head_loaded;
    struct tix_cache cache;
    struct tix_bus_delivery *deliveries; /* batch_max */
    struct item *items;                  /* batch_max + TIX_BUS_BATCH_MAX: a batch's last delivery
                                            may carry a whole gateway batch */
    int item_cap;
    struct stage stage;
    volatile sig_atomic_t *stop;
    int64_t next_expiry_ms; /* monotonic: when to look for due holds next (expiry.h) */
    struct proc_stats stats;
};

/* The processor's clock: the wall clock, plus TIXMO_CLOCK_OFFSET_S for deadline tests. */
static int64_t proc_now_us(const struct proc *p)
{
    return tix_now_us() + (int64_t)p->cfg->clock_offset_s * 1000000;
}

static const char *keep(struct stage *s, char *str)
{
    s->owned[s->n_owned++] = str;
    return str;
}

static void stage_reset(struct stage *s)
{
    for (int i = 0; i < s->n_owned; i++)
        free(s->owned[i]);
    s->n_owned = 0;
    s->n_ev = 0;
    s->n_oc = 0;
    s->n_touched = 0;
}

static enum tix_rc evolve_cb(const struct tix_event *e, void *ctx)
{
    struct tix_cache_entry *entry = ctx;
    json_t *data = tix_json_parse(e->data, strlen(e->data), NULL);
    if (data == NULL)
        return TIX_EINTERNAL;
    enum tix_rc rc = entry->kind->evolve(entry->state, e->type, e->schema_version, data);
    json_decref(data);
    entry->version = e->stream_version;
    return rc;
}

/* The cached entry of stream_id, loading it from the log when cold; a shared stream is caught
 * up from the log every time (another partition's processor may have appended to it). */
static enum tix_rc load_stream(struct proc *p, const char *stream_id, struct tix_cache_entry **out,
                               struct tix_err *err)
{
    *out = tix_cache_get(&p->cache, stream_id);
    if (*out != NULL && !(*out)->kind->is_shared)
        return TIX_OK;
    struct tix_cache_entry *e = *out;
    if (e == NULL) {
        const struct tix_stream_kind *kind = tix_registry_stream_kind(stream_id);
        if (kind == NULL)
            return tix_err_set(err, TIX_EINTERNAL, "", "no stream kind for %s", stream_id);
        e = tix_cache_add(&p->cache, stream_id, kind);
    }
    enum tix_rc rc = tix_store_read_stream(p->db, stream_id, e->version, evolve_cb, e, err);
    if (rc != TIX_OK) {
        tix_cache_evict(&p->cache, stream_id);
        *out = NULL;
        return rc;
    }
    *out = e;
    return TIX_OK;
}

static char *rejection(const char *command_id, const char *code, const char *field,
                       const char *reason)
{
    json_t *o = json_pack("{ss ss s{ss ss ss}}", "command_id", command_id, "status", "rejected",
                          "reason", "code", code, "field", field ? field : "", "message", reason);
    char *text = tix_json_dump(o);
    json_decref(o);
    return text;
}

static json_t *event_metadata(const struct tix_envelope *env)
{
    return json_pack("{ss ss ss ss ss ss}", "command_id", env->command_id, "command_type",
                     env->type, "correlation_id", env->correlation_id, "causation_id",
                     env->causation_id, "actor", env->actor, "source", env->source);
}

/* Stages the decision's events with versions following the cached ones, evolves the cache. */
static enum tix_rc stage_events(struct proc *p, struct stage *s, struct item *it,
                                struct tix_decision *dec, json_t *summary)
{
    json_t *md = event_metadata(&it->env);
    const char *metadata = keep(s, tix_json_dump(md));
    json_decref(md);
    for (int i = 0; i < dec->n_events; i++) {
        struct tix_new_event *ne = &dec->events[i];
        struct tix_cache_entry *e = tix_cache_get(&p->cache, ne->stream_id);
        if (e == NULL)
            return TIX_EINTERNAL; /* decide wrote a stream it did not ask for */
        char id[TIX_UUID_LEN + 1];
        tix_uuid_v7(id);
        struct tix_append_event *a = &s->ev[s->n_ev];
        *a = (struct tix_append_event){
            .stream_id = keep(s, tix_xstrdup(ne->stream_id)),
            .stream_version = e->version + 1,
            .event_id = keep(s, tix_xstrdup(id)),
            .command_id = it->env.command_id,
            .type = ne->type,
            .schema_version = ne->schema_version,
            .data = keep(s, tix_json_dump(ne->data)),
            .metadata = metadata,
        };
        if (e->kind->evolve(e->state, ne->type, ne->schema_version, ne->data) != TIX_OK)
            return TIX_EINTERNAL;
        e->version++;
        snprintf(s->touched[s->n_touched++], TIX_STREAM_ID_MAX, "%s", ne->stream_id);
        json_array_append_new(summary, json_pack("{ss sI ss ss}", "stream_id", a->stream_id,
                                                 "version", (json_int_t)a->stream_version, "type",
                                                 a->type, "event_id", a->event_id));
        s->n_ev++;
    }
    return TIX_OK;
}

/* Decides one command into the stage; a rejection is staged as an outcome too. */
static enum tix_rc decide_one(struct proc *p, struct stage *s, struct item *it, int64_t now_us,
                              struct tix_err *err)
{
    const struct tix_command_handler *h = tix_registry_handler(it->env.type);
    struct tix_command cmd = {it->env.command_id, it->env.type,  it->env.key,
                              it->env.payload,    it->env.actor, now_us};
    char ids[TIX_DECISION_MAX_STREAMS][TIX_STREAM_ID_MAX];
    struct tix_err verr;
    tix_err_clear(&verr);
    int n = h->streams(&cmd, ids, &verr);
    bool is_succeeded = false;
    if (n < 0) {
        it->staged = rejection(cmd.command_id, "invalid", verr.field, verr.msg);
    } else {
        struct tix_view view = {.n = n};
        for (int i = 0; i < n; i++) {
            struct tix_cache_entry *e = NULL;
            enum tix_rc rc = load_stream(p, ids[i], &e, err);
            if (rc != TIX_OK)
                return rc;
            view.id[i] = e->stream_id;
            view.state[i] = e->state;
            view.version[i] = e->version;
        }
        struct tix_decision dec;
        tix_decision_init(&dec);
        h->decide(&cmd, &view, &dec);
        if (dec.is_rejected) {
            it->staged = rejection(cmd.command_id, dec.code, dec.field, dec.reason);
        } else {
            json_t *summary = json_array();
            if (stage_events(p, s, it, &dec, summary) != TIX_OK) {
                json_decref(summary);
                tix_decision_deinit(&dec);
                return tix_err_set(err, TIX_EINTERNAL, "",
                                   "decide of %s wrote a stream it "
                                   "did not load or an unreadable event",
                                   cmd.type);
            }
            json_t *o = json_pack("{ss ss so sO*}", "command_id", cmd.command_id, "status",
                                  "succeeded", "events", summary, "result", dec.result);
            it->staged = tix_json_dump(o);
            json_decref(o);
            is_succeeded = true;
        }
        tix_decision_deinit(&dec);
    }
    s->oc[s->n_oc++] =
        (struct tix_append_outcome){cmd.command_id, cmd.type, cmd.actor, is_succeeded, it->staged};
    return TIX_OK;
}

static void drop_staged(struct item *it)
{
    free(it->staged);
    it->staged = NULL;
}

/* The earlier item of the same partition batch with the same command id, or NULL. */
static struct item *first_of(struct item **list, int i)
{
    for (int j = 0; j < i; j++)
        if (!list[j]->is_poison && strcmp(list[j]->env.command_id, list[i]->env.command_id) == 0)
            return list[j];
    return NULL;
}

static enum tix_rc ensure_head(struct proc *p, int part, struct tix_err *err)
{
    if (p->is_head_loaded[part])
        return TIX_OK;
    enum tix_rc rc = tix_store_head(p->db, part, &p->heads[part], err);
    p->is_head_loaded[part] = rc == TIX_OK;
    return rc;
}

/* One attempt: decide every open item of list and append them in one transaction. */
static enum tix_rc run_batch(struct proc *p, int part, struct item **list, int n,
                             struct tix_err *err)
{
    enum tix_rc rc = ensure_head(p, part, err);
    if (rc != TIX_OK)
        return rc;
    struct stage *s = &p->stage;
    stage_reset(s);
    int64_t now_us = proc_now_us(p);
    int64_t t0 = tix_mono_us();
    for (int i = 0; i < n && rc == TIX_OK; i++)
        if (!list[i]->is_poison && !list[i]->is_done && first_of(list, i) == NULL)
            rc = decide_one(p, s, list[i], now_us, err);
    int64_t t1 = tix_mono_us();
    if (rc == TIX_OK && s->n_oc > 0)
        rc = tix_store_append(p->db, part, &p->heads[part], s->ev, s->n_ev, s->oc, s->n_oc, now_us,
                              err);
    p->stats.decide_us += t1 - t0;
    p->stats.append_us += tix_mono_us() - t1;
    if (rc != TIX_OK) {
        for (int i = 0; i < s->n_touched; i++)
            tix_cache_evict(&p->cache, s->touched[i]);
        for (int i = 0; i < n; i++)
            drop_staged(list[i]);
        return rc;
    }
    for (int i = 0; i < n; i++) {
        struct item *it = list[i];
        if (it->is_poison || it->is_done)
            continue;
        struct item *orig = first_of(list, i);
        it->outcome = orig != NULL ? tix_xstrdup(orig->outcome) : it->staged;
        it->staged = NULL;
        it->is_done = true;
    }
    return TIX_OK;
}

struct dedup_ctx {
    struct item **list;
    int n;
};

static enum tix_rc dedup_cb(const char *command_id, const char *outcome, void *ctx)
{
    struct dedup_ctx *d = ctx;
    for (int i = 0; i < d->n; i++) {
        struct item *it = d->list[i];
        if (!it->is_poison && !it->is_done && strcmp(it->env.command_id, command_id) == 0) {
            it->outcome = tix_xstrdup(outcome);
            it->is_done = true;
        }
    }
    return TIX_OK;
}

/* Marks the items whose command already has a recorded outcome (redelivery, client retry). */
static enum tix_rc dedup(struct proc *p, struct item **list, int n, struct tix_err *err)
{
    int64_t t0 = tix_mono_us();
    const char **ids = tix_xcalloc((size_t)n, sizeof(*ids));
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!list[i]->is_poison && !list[i]->is_done)
            ids[k++] = list[i]->env.command_id;
    struct dedup_ctx ctx = {list, n};
    enum tix_rc rc = k > 0 ? tix_store_find_outcomes(p->db, ids, k, dedup_cb, &ctx, err) : TIX_OK;
    free(ids);
    p->stats.dedup_us += tix_mono_us() - t0;
    return rc;
}

static void backoff(struct proc *p, int attempt, const struct tix_err *err)
{
    tix_log_warn("append failed, retrying", "attempt=%d rc=%s detail=\"%s\"", attempt,
                 tix_rc_name(err->rc), err->msg);
    usleep((useconds_t)(attempt < 10 ? attempt : 10) * 100000);
}

/* Decides one command per transaction: the slow path after a stream or command conflict. */
static enum tix_rc one_by_one(struct proc *p, int part, struct item **list, int n,
                              struct tix_err *err)
{
    for (int i = 0; i < n; i++) {
        enum tix_rc rc = TIX_OK;
        for (int attempt = 1; !list[i]->is_poison && !list[i]->is_done; attempt++) {
            if (*p->stop && rc == TIX_ETRANSIENT)
                return rc;
            rc = dedup(p, &list[i], 1, err);
            if (rc == TIX_OK && !list[i]->is_done)
                rc = run_batch(p, part, &list[i], 1, err);
            if (rc == TIX_EINTERNAL || (rc == TIX_ECONFLICT && attempt >= BATCH_RETRIES)) {
                list[i]->is_poison = true;
                snprintf(list[i]->poison_reason, sizeof(list[i]->poison_reason),
                         "cannot be decided: %s", err->msg);
            } else if (rc == TIX_ECONFLICT && strcmp(err->field, "head") == 0) {
                p->is_head_loaded[part] = false;
                tix_cache_clear(&p->cache);
            } else if (rc == TIX_ETRANSIENT) {
                backoff(p, attempt, err);
            }
        }
    }
    return TIX_OK;
}

/* Decides and appends every open item of one partition. */
static enum tix_rc process_partition(struct proc *p, int part, struct item **list, int n)
{
    struct tix_err err;
    tix_err_clear(&err);
    enum tix_rc rc = TIX_ETRANSIENT;
    for (int attempt = 1; attempt <= BATCH_RETRIES && rc != TIX_OK; attempt++) {
        rc = dedup(p, list, n, &err);
        if (rc == TIX_OK)
            rc = run_batch(p, part, list, n, &err);
        if (rc == TIX_ECONFLICT && strcmp(err.field, "head") == 0) {
            tix_log_info("partition moved by another writer, reloading", "partition=%d", part);
            p->is_head_loaded[part] = false;
            tix_cache_clear(&p->cache);
        } else if (rc == TIX_ECONFLICT || rc == TIX_EINTERNAL) {
            break;
        } else if (rc == TIX_ETRANSIENT) {
            backoff(p, attempt, &err);
        }
    }
    if (rc == TIX_OK)
        return TIX_OK;
    return one_by_one(p, part, list, n, &err);
}

static int queue_partition(const char *queue)
{
    const char *prefix = TIX_BUS_COMMANDS_EXCHANGE ".p";
    size_t n = strlen(prefix);
    if (queue == NULL || strncmp(queue, prefix, n) != 0)
        return -1;
    char *end = NULL;
    long part = strtol(queue + n, &end, 10);
    return end != queue + n && *end == '\0' ? (int)part : -1;
}

static void poison(struct item *it, const char *what, const char *detail)
{
    it->is_poison = true;
    snprintf(it->poison_reason, sizeof(it->poison_reason), "%s%s", what, detail);
}

/* Decodes a delivery; anything that can never be decided is marked poison with the reason. */
static void classify(struct proc *p, struct item *it)
{
    struct tix_err err;
    it->partition = queue_partition(it->d->consumer_tag);
    if (it->partition < 0 || it->partition >= p->partitions) {
        poison(it, "arrived on unknown queue ", it->d->consumer_tag);
        return;
    }
    if (tix_envelope_decode(it->body, it->body_len, &it->env, &err) != TIX_OK) {
        poison(it, "malformed command: ", err.msg);
        return;
    }
    if (tix_registry_handler(it->env.type) == NULL) {
        poison(it, "unknown command type ", it->env.type);
        return;
    }
    uint32_t want = tix_partition_of(it->env.key, strlen(it->env.key), (uint32_t)p->partitions);
    if ((int)want != it->partition)
        poison(it, "key belongs to another partition than queue ", it->d->consumer_tag);
}

static bool is_batch_delivery(const struct tix_bus_delivery *d)
{
    return d->type != NULL && strcmp(d->type, TIX_BUS_BATCH_TYPE) == 0;
}

/* Adds the commands of delivery d to p->items from *n on: the whole body, or each line of a
 * batch (one that holds more than TIX_BUS_BATCH_MAX lines is poison as a whole). */
static void split(struct proc *p, struct tix_bus_delivery *d, int *n)
{
    bool is_batch = is_batch_delivery(d);
    int lines = 0;
    for (size_t i = 0; is_batch && i < d->body_len; i++)
        lines += d->body[i] == '\n';
    if (!is_batch || lines >= TIX_BUS_BATCH_MAX) {
        struct item *it = &p->items[(*n)++];
        *it = (struct item){.d = d, .body = d->body, .body_len = d->body_len};
        char why[64];
        snprintf(why, sizeof(why), "batch holds more than %d commands", TIX_BUS_BATCH_MAX);
        if (is_batch)
            poison(it, why, "");
        else
            classify(p, it);
        return;
    }
    const char *at = d->body, *line;
    size_t len;
    while ((line = tix_bus_batch_line(&at, d->body + d->body_len, &len)) != NULL) {
        struct item *it = &p->items[(*n)++];
        *it = (struct item){.d = d, .body = line, .body_len = len, .is_batch = true};
        classify(p, it);
    }
}

static void item_deinit(struct item *it)
{
    tix_envelope_deinit(&it->env);
    free(it->outcome);
    drop_staged(it);
    memset(it, 0, sizeof(*it));
}

static bool wants_reply(const struct item *it)
{
    return !it->is_poison && it->d->reply_to != NULL && it->d->reply_to[0] != '\0';
}

/* One reply to it's caller: its outcome alone, or, for a batch command, the outcomes of every
 * batch command from items[from..n) with the same reply_to, one per line (those are marked). */
static enum tix_rc reply(struct proc *p, struct item *items, int from, int n, bool *is_replied,
                         struct tix_err *err)
{
    struct item *it = &items[from];
    struct tix_bus_props props = {.correlation_id = it->env.command_id};
    if (!it->is_batch)
        return tix_bus_publish(p->out, "", it->d->reply_to, false, &props, it->outcome,
                               strlen(it->outcome), err);
    struct tix_buf body;
    tix_buf_init(&body, 0);
    for (int i = from; i < n; i++) {
        struct item *o = &items[i];
        if (is_replied[i] || !o->is_batch || !wants_reply(o) ||
            strcmp(o->d->reply_to, it->d->reply_to) != 0)
            continue;
        if (body.len > 0)
            tix_buf_puts(&body, "\n");
        tix_buf_puts(&body, o->outcome);
        is_replied[i] = true;
    }
    props.type = TIX_BUS_BATCH_TYPE;
    enum tix_rc rc =
        tix_bus_publish(p->out, "", it->d->reply_to, false, &props, body.ptr, body.len, err);
    tix_buf_deinit(&body);
    return rc;
}

/* Dead-letters one poison command (a batch's line alone) and waits for its confirm. */
static enum tix_rc dead_letter(struct proc *p, const struct item *it, struct tix_err *err)
{
    tix_log_warn("dead-lettering command", "queue=%s message_id=%s reason=\"%s\"",
                 it->d->consumer_tag, it->d->message_id ? it->d->message_id : "-",
                 it->poison_reason);
    struct tix_bus_delivery one = *it->d;
    one.body = (char *)it->body;
    one.body_len = it->body_len;
    if (it->is_batch && it->env.command_id != NULL)
        one.message_id = (char *)it->env.command_id;
    return tix_bus_dead_letter(p->out, &one, it->d->consumer_tag, it->poison_reason, err);
}

/* Replies to waiting callers and dead-letters poison (with a confirm each), then acks the
 * deliveries. Replies are not confirmed: a lost one leaves the caller to read the command's
 * status. */
static enum tix_rc finish(struct proc *p, int n_deliveries, int n, struct tix_err *err)
{
    enum tix_rc rc = TIX_OK;
    bool *is_replied = tix_xcalloc((size_t)(n > 0 ? n : 1), sizeof(*is_replied));
    for (int i = 0; i < n && rc == TIX_OK; i++) {
        if (p->items[i].is_poison)
            rc = dead_letter(p, &p->items[i], err);
        else if (!is_replied[i] && wants_reply(&p->items[i]))
            rc = reply(p, p->items, i, n, is_replied, err);
    }
    free(is_replied);
    uint64_t max_tag = 0;
    for (int i = 0; i < n_deliveries; i++)
        if (p->deliveries[i].delivery_tag > max_tag)
            max_tag = p->deliveries[i].delivery_tag;
    if (rc == TIX_OK && max_tag > 0)
        rc = tix_bus_ack(p->in, max_tag, true, err);
    return rc;
}

static void disconnect(struct proc *p)
{
    tix_bus_close(p->in);
    tix_bus_close(p->out);
    p->in = NULL;
    p->out = NULL;
    for (int i = 0; i < p->partitions; i++)
        p->is_head_loaded[i] = false;
}

static enum tix_rc connect_bus(struct proc *p, struct tix_err *err)
{
    enum tix_rc rc = tix_bus_open(p->cfg->amqp_url, "tixmo-processor-out", &p->out, err);
    if (rc == TIX_OK)
        rc = tix_bus_declare_topology(p->out, p->partitions, p->cfg->delivery_limit, err);
    if (rc == TIX_OK)
        rc = tix_bus_open(p->cfg->amqp_url, "tixmo-processor-in", &p->in, err);
    for (int i = 0; i < p->partitions && rc == TIX_OK; i++) {
        char queue[32];
        tix_bus_partition_queue(i, queue, sizeof(queue));
        rc = tix_bus_consume(p->in, queue, p->cfg->prefetch, err);
    }
    if (rc != TIX_OK)
        disconnect(p);
    return rc;
}

/* Waits for a first delivery, then takes whatever else is already there, until batch_max
 * commands (or deliveries). */
static enum tix_rc collect(struct proc *p, int *n_deliveries, int *n, struct tix_err *err)
{
    *n_deliveries = 0;
    *n = 0;
    enum tix_rc rc = tix_bus_next(p->in, IDLE_WAIT_MS, &p->deliveries[0], err);
    while (rc == TIX_OK) {
        split(p, &p->deliveries[(*n_deliveries)++], n);
        if (*n >= p->cfg->batch_max || *n_deliveries >= p->cfg->batch_max)
            break;
        rc = tix_bus_next(p->in, 0, &p->deliveries[*n_deliveries], err);
    }
    return rc == TIX_ENOTFOUND ? TIX_OK : rc;
}

/* One batch: collect, decide per partition, finish. */
static enum tix_rc step(struct proc *p, struct tix_err *err)
{
    int n = 0, n_deliveries = 0;
    int64_t t0 = tix_mono_us();
    enum tix_rc rc = collect(p, &n_deliveries, &n, err);
    int64_t t1 = tix_mono_us();
    struct item **list = tix_xcalloc((size_t)(n > 0 ? n : 1), sizeof(*list));
    for (int part = 0; part < p->partitions && rc == TIX_OK && n > 0; part++) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (p->items[i].partition == part && !p->items[i].is_poison)
                list[k++] = &p->items[i];
        if (k > 0)
            rc = process_partition(p, part, list, k);
    }
    free(list);
    int64_t t2 = tix_mono_us();
    if (rc == TIX_OK && n > 0)
        rc = finish(p, n_deliveries, n, err);
    if (n > 0) {
        struct proc_stats *st = &p->stats;
        st->batches++;
        st->commands += n;
        st->wait_us += t1 - t0;
        st->store_us += t2 - t1;
        st->finish_us += tix_mono_us() - t2;
    }
    for (int i = 0; i < n; i++)
        item_deinit(&p->items[i]);
    for (int i = 0; i < n_deliveries; i++)
        tix_bus_delivery_deinit(&p->deliveries[i]);
    return rc;
}

static void stats_log(struct proc *p)
{
    struct proc_stats *st = &p->stats;
    int64_t now = tix_mono_ms();
    if (now - st->since_ms < TIX_STATS_PERIOD_MS)
        return;
    if (st->batches > 0) {
        double b = (double)st->batches;
        tix_log_info("processor batches",
                     "seconds=%.1f batches=%ld commands=%ld avg_batch=%.1f "
                     "avg_wait_ms=%.2f avg_store_ms=%.2f (dedup %.2f decide %.2f append %.2f) "
                     "avg_finish_ms=%.2f",
                     (double)(now - st->since_ms) / 1000.0, st->batches, st->commands,
                     (double)st->commands / b, (double)st->wait_us / b / 1000.0,
                     (double)st->store_us / b / 1000.0, (double)st->dedup_us / b / 1000.0,
                     (double)st->decide_us / b / 1000.0, (double)st->append_us / b / 1000.0,
                     (double)st->finish_us / b / 1000.0);
    }
    memset(st, 0, sizeof(*st));
    st->since_ms = now;
}

/* Sends hold.expire for what is due by the processor's clock (expiry.h); the first call after
 * start is the start-up sweep. A failure is retried at the next period. */
static void expire_due(struct proc *p)
{
    struct tix_err err;
    int sent = 0;
    p->next_expiry_ms = tix_mono_ms() + TIX_EXPIRY_PERIOD_MS;
    if (tix_expiry_sweep(p->db, p->out, p->partitions, proc_now_us(p), &sent, &err) != TIX_OK)
        tix_log_warn("expiry sweep failed, retrying", "detail=\"%s\"", err.msg);
    else if (sent > 0)
        tix_log_debug("expiry sweep", "commands=%d", sent);
}

static void stage_init(struct stage *s, int batch_max)
{
    size_t events = (size_t)batch_max * TIX_DECISION_MAX_EVENTS;
    s->ev = tix_xcalloc(events, sizeof(*s->ev));
    s->oc = tix_xcalloc((size_t)batch_max, sizeof(*s->oc));
    s->owned = tix_xcalloc(2 * events + (size_t)batch_max, sizeof(*s->owned));
    s->touched = tix_xcalloc(events, sizeof(*s->touched));
}

static void stage_deinit(struct stage *s)
{
    stage_reset(s);
    free(s->ev);
    free(s->oc);
    free(s->owned);
    free(s->touched);
}

static void proc_deinit(struct proc *p)
{
    disconnect(p);
    tix_db_close(p->db);
    tix_cache_deinit(&p->cache);
    stage_deinit(&p->stage);
    free(p->items);
    free(p->deliveries);
    free(p->heads);
    free(p->is_head_loaded);
}

enum tix_rc tix_processor_run(const struct tix_config *cfg, volatile sig_atomic_t *stop,
                              struct tix_err *err)
{
    struct proc p = {.cfg = cfg, .partitions = cfg->partitions, .stop = stop};
    enum tix_rc rc = tix_db_open(cfg->db_url, &p.db, err);
    int installed = 0;
    if (rc == TIX_OK)
        rc = tix_store_partitions(p.db, &installed, err);
    if (rc == TIX_OK && installed != cfg->partitions)
        rc = tix_err_set(err, TIX_EINVAL, "TIXMO_PARTITIONS",
                         "the store was installed with %d partitions, not %d", installed,
                         cfg->partitions);
    if (rc != TIX_OK) {
        tix_db_close(p.db);
        return rc;
    }
    p.heads = tix_xcalloc((size_t)p.partitions, sizeof(*p.heads));
    p.is_head_loaded = tix_xcalloc((size_t)p.partitions, sizeof(*p.is_head_loaded));
    p.deliveries = tix_xcalloc((size_t)cfg->batch_max, sizeof(*p.deliveries));
    p.item_cap = cfg->batch_max + TIX_BUS_BATCH_MAX;
    p.items = tix_xcalloc((size_t)p.item_cap, sizeof(*p.items));
    tix_cache_init(&p.cache, 100000);
    stage_init(&p.stage, p.item_cap);
    struct tix_relay *relay = NULL;
    rc = tix_relay_start(cfg, stop, &relay, err);
    if (rc != TIX_OK) {
        proc_deinit(&p);
        return rc;
    }
    p.stats.since_ms = tix_mono_ms();
    tix_log_info("processor started", "partitions=%d batch_max=%d", p.partitions, cfg->batch_max);
    while (!*stop) {
        if (p.in == NULL && connect_bus(&p, err) != TIX_OK) {
            tix_log_warn("broker unreachable, retrying", "detail=\"%s\"", err->msg);
            sleep(1);
            continue;
        }
        if (step(&p, err) != TIX_OK) {
            tix_log_warn("batch not finished, reconnecting", "rc=%s detail=\"%s\"",
                         tix_rc_name(err->rc), err->msg);
            disconnect(&p);
        } else {
            stats_log(&p);
        }
        if (p.in != NULL && tix_mono_ms() >= p.next_expiry_ms)
            expire_due(&p);
    }
    tix_relay_stop(relay);
    proc_deinit(&p);
    tix_log_info("processor stopped", NULL);
    return TIX_OK;
}
