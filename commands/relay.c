/* relay.c - the log's events onto the bus (see relay.h) */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tix/buf.h"
#include "tix/bus.h"
#include "tix/db.h"
#include "tix/ids.h"
#include "tix/log.h"
#include "tix/mem.h"
#include "tix/store.h"

#include "relay.h"

/* Advisory lock class of "this session relays partition N" (the key's second half is N). */
#define RELAY_LOCK_CLASS   7310
#define CONFIRM_TIMEOUT_MS 30000
#define IDLE_WAIT_MS       1000

static const char init_sql[] =
    "INSERT INTO public.bus_relay (partition, last_seq)"
    " SELECT partition, 0 FROM public.partition_heads ON CONFLICT (partition) DO NOTHING";

static const char pending_sql[] =
    "SELECT h.partition, r.last_seq FROM public.partition_heads h"
    " JOIN public.bus_relay r USING (partition) WHERE h.last_seq > r.last_seq"
    " ORDER BY h.partition";

static const char lock_sql[] = "SELECT pg_try_advisory_lock($1::int, $2::int),"
                               " (SELECT last_seq FROM public.bus_relay WHERE partition = $2::int)";

static const char advance_sql[] = "UPDATE public.bus_relay r SET last_seq = v.seq"
                                  " FROM unnest($1::int[], $2::bigint[]) AS v(part, seq)"
                                  " WHERE r.partition = v.part AND r.last_seq < v.seq";

struct tix_relay {
    const struct tix_config *cfg;
    volatile sig_atomic_t *stop;
    atomic_bool is_quitting;
    pthread_t thread;
    struct tix_db *db;
    struct tix_bus *bus;
    bool *is_owned; /* per partition: this session holds its advisory lock */
    struct tix_buf body;
};

struct round {
    struct tix_relay *r;
    struct tix_buf parts, seqs; /* the advanced cursors, as Postgres array literals */
    int64_t last_seq;           /* of the partition being read */
    int published;
    bool is_full; /* a partition had more than one batch waiting */
};

static bool is_quitting(struct tix_relay *r)
{
    return *r->stop || atomic_load(&r->is_quitting);
}

/* The bus message of one recorded event: what workers read (data and metadata as written). */
static enum tix_rc publish_cb(const struct tix_event *e, void *ctx)
{
    struct round *rd = ctx;
    struct tix_buf *b = &rd->r->body;
    tix_buf_reset(b);
    tix_buf_puts(b, "{\"data\":");
    tix_buf_puts(b, e->data);
    tix_buf_puts(b, ",\"event_id\":");
    tix_buf_json_str(b, e->event_id);
    tix_buf_puts(b, ",\"metadata\":");
    tix_buf_puts(b, e->metadata);
    tix_buf_printf(b,
                   ",\"partition\":%d,\"partition_seq\":%" PRId64 ",\"recorded_at_us\":%" PRId64
                   ",\"stream_id\":",
                   e->partition, e->partition_seq, e->recorded_at_us);
    tix_buf_json_str(b, e->stream_id);
    tix_buf_printf(b, ",\"stream_version\":%" PRId64 ",\"type\":", e->stream_version);
    tix_buf_json_str(b, e->type);
    if (tix_buf_puts(b, "}") != TIX_OK)
        return TIX_EINTERNAL;
    struct tix_bus_props props = {.message_id = e->event_id, .type = e->type};
    struct tix_err err;
    enum tix_rc rc = tix_bus_publish(rd->r->bus, TIX_BUS_EVENTS_EXCHANGE, e->type, false, &props,
                                     b->ptr, b->len, &err);
    if (rc == TIX_OK) {
        rd->last_seq = e->partition_seq;
        rd->published++;
    }
    return rc;
}

/* Takes partition part's lock if this session does not hold it yet; *cursor gets the cursor as
 * the lock's new holder sees it. *is_mine is false when another relay holds the partition. */
static enum tix_rc own(struct tix_relay *r, int part, int64_t *cursor, bool *is_mine,
                       struct tix_err *err)
{
    *is_mine = r->is_owned[part];
    if (*is_mine)
        return TIX_OK;
    char cls[16], p[16];
    snprintf(cls, sizeof(cls), "%d", RELAY_LOCK_CLASS);
    snprintf(p, sizeof(p), "%d", part);
    const char *params[] = {cls, p};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec(r->db, lock_sql, 2, params, &res, err);
    if (rc != TIX_OK)
        return rc;
    *is_mine = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    *cursor = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    r->is_owned[part] = *is_mine;
    if (*is_mine)
        tix_log_info("relaying partition", "partition=%d from_seq=%" PRId64, part, *cursor);
    return TIX_OK;
}

/* Publishes one partition's next batch into the round. */
static enum tix_rc relay_partition(struct round *rd, int part, int64_t cursor, struct tix_err *err)
{
    bool is_mine = false;
    enum tix_rc rc = own(rd->r, part, &cursor, &is_mine, err);
    if (rc != TIX_OK || !is_mine)
        return rc;
    int count = 0;
    rd->last_seq = cursor;
    rc = tix_store_read_partition(rd->r->db, part, cursor, TIX_RELAY_BATCH, publish_cb, rd, &count,
                                  err);
    if (rc == TIX_OK && rd->last_seq > cursor) {
        tix_buf_printf(&rd->parts, "%s%d", rd->parts.len > 1 ? "," : "", part);
        tix_buf_printf(&rd->seqs, "%s%" PRId64, rd->seqs.len > 1 ? "," : "", rd->last_seq);
    }
    rd->is_full = rd->is_full || count >= TIX_RELAY_BATCH;
    return rc;
}

/* One round: every pending partition's next batch published, confirmed, cursors moved. */
static enum tix_rc relay_round(struct tix_relay *r, bool *is_full, struct tix_err *err)
{
    struct round rd = {.r = r};
    tix_buf_init(&rd.parts, 0);
    tix_buf_init(&rd.seqs, 0);
    tix_buf_puts(&rd.parts, "{");
    tix_buf_puts(&rd.seqs, "{");
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec_prepared(r->db, "relay_pending", pending_sql, 0, NULL, &res, err);
    for (int i = 0; rc == TIX_OK && i < PQntuples(res); i++) {
        int part = atoi(PQgetvalue(res, i, 0));
        if (part >= 0 && part < r->cfg->partitions)
            rc = relay_partition(&rd, part, strtoll(PQgetvalue(res, i, 1), NULL, 10), err);
    }
    PQclear(res);
    if (rc == TIX_OK && rd.published > 0)
        rc = tix_bus_wait_confirms(r->bus, CONFIRM_TIMEOUT_MS, err);
    tix_buf_puts(&rd.parts, "}");
    tix_buf_puts(&rd.seqs, "}");
    if (rc == TIX_OK && rd.published > 0) {
        const char *params[] = {rd.parts.ptr, rd.seqs.ptr};
        rc = tix_db_exec_prepared(r->db, "relay_advance", advance_sql, 2, params, NULL, err);
    }
    tix_buf_deinit(&rd.parts);
    tix_buf_deinit(&rd.seqs);
    *is_full = rd.is_full;
    return rc;
}

static void disconnect(struct tix_relay *r)
{
    tix_bus_close(r->bus);
    tix_db_close(r->db);
    r->bus = NULL;
    r->db = NULL;
    memset(r->is_owned, 0, (size_t)r->cfg->partitions * sizeof(*r->is_owned));
}

/* Opens both connections. Cursor updates commit without waiting for the disk: a lost update
 * only makes the next relay publish some events again. */
static enum tix_rc connect(struct tix_relay *r, struct tix_err *err)
{
    enum tix_rc rc = tix_db_open_relaxed(r->cfg->db_url, &r->db, err);
    if (rc == TIX_OK)
        rc = tix_db_script(r->db, "LISTEN tixmo_events", err);
    if (rc == TIX_OK)
        rc = tix_db_exec(r->db, init_sql, 0, NULL, NULL, err);
    if (rc == TIX_OK)
        rc = tix_bus_open(r->cfg->amqp_url, "tixmo-processor-relay", &r->bus, err);
    if (rc == TIX_OK)
        rc = tix_bus_declare_topology(r->bus, r->cfg->partitions, r->cfg->delivery_limit, err);
    if (rc != TIX_OK)
        disconnect(r);
    return rc;
}

static void *relay_main(void *arg)
{
    struct tix_relay *r = arg;
    struct tix_err err;
    while (!is_quitting(r)) {
        if (r->db == NULL && connect(r, &err) != TIX_OK) {
            tix_log_warn("relay cannot connect, retrying", "detail=\"%s\"", err.msg);
            for (int i = 0; i < 10 && !is_quitting(r); i++)
                usleep(IDLE_WAIT_MS * 100);
            continue;
        }
        bool is_full = false;
        if (relay_round(r, &is_full, &err) != TIX_OK) {
            tix_log_warn("relay round failed, reconnecting", "rc=%s detail=\"%s\"",
                         tix_rc_name(err.rc), err.msg);
            disconnect(r);
            continue;
        }
        if (is_full)
            continue;
        int session = PQbackendPID(tix_db_conn(r->db));
        tix_db_wait_partitions(r->db, "tixmo_events", IDLE_WAIT_MS, NULL, 0);
        if (PQbackendPID(tix_db_conn(r->db)) != session) {
            /* the wait reconnected: the partition locks and settings went with the old session */
            tix_log_warn("relay lost its database session, reconnecting", NULL);
            disconnect(r);
        }
    }
    disconnect(r);
    return NULL;
}

enum tix_rc tix_relay_start(const struct tix_config *cfg, volatile sig_atomic_t *stop,
                            struct tix_relay **out, struct tix_err *err)
{
    struct tix_relay *r = tix_xcalloc(1, sizeof(*r));
    r->cfg = cfg;
    r->stop = stop;
    atomic_init(&r->is_quitting, false);
    r->is_owned = tix_xcalloc((size_t)cfg->partitions, sizeof(*r->is_owned));
    tix_buf_init(&r->body, 0);
    if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
        tix_buf_deinit(&r->body);
        free(r->is_owned);
        free(r);
        return tix_err_set(err, TIX_EINTERNAL, "", "cannot start the relay thread");
    }
    *out = r;
    return TIX_OK;
}

void tix_relay_stop(struct tix_relay *r)
{
    if (r == NULL)
        return;
    atomic_store(&r->is_quitting, true);
    pthread_join(r->thread, NULL);
    tix_buf_deinit(&r->body);
    free(r->is_owned);
    free(r);
}
