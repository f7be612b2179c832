/* store.c - appending to and reading from the event store
 *
 * An append is one SQL statement of data-modifying CTEs: a compare-and-set on the partition's
 * head row, the events, the outcomes and a pg_notify, all joined on the head update so that a
 * stale head writes nothing. One statement is one transaction and one round trip; a unique
 * violation anywhere aborts all of it. Sequence numbers and hashes are computed here, before
 * the statement, from the head the caller holds: if that head is stale the CAS fails. Every
 * table is named with its schema (public.events): projections run with search_path set to their
 * own schema, which may hold a read model called events.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/buf.h"
#include "tix/chain.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/store.h"

#define EVENT_COLUMNS                                                                              \
    "partition, partition_seq, global_pos, stream_id, stream_version, event_id::text, "            \
    "coalesce(command_id, ''), type, schema_version, data::text, metadata::text, "                 \
    "(extract(epoch FROM recorded_at) * 1000000)::bigint, encode(prev_hash, 'hex'), "              \
    "encode(hash, 'hex')"

static const char append_sql[] =
    "WITH head AS ("
    "  UPDATE public.partition_heads SET last_seq = $2, last_hash = decode($3, 'hex'),"
    "         last_outcome_seq = $5"
    "   WHERE partition = $1 AND last_seq = $4 AND last_outcome_seq = $6"
    "  RETURNING partition),"
    " ev AS ("
    "  INSERT INTO public.events (partition, partition_seq, stream_id, stream_version, event_id,"
    "         command_id, type, schema_version, data, metadata, recorded_at, prev_hash, hash)"
    "  SELECT head.partition, e.seq, e.stream_id, e.stream_version, e.event_id::uuid,"
    "         nullif(e.command_id, ''), e.type, e.schema_version, e.data::json, e.metadata::json,"
    "         $9::timestamptz, decode(e.prev_hash, 'hex'), decode(e.hash, 'hex')"
    "    FROM head, json_to_recordset($7::json) AS e(seq bigint, stream_id text,"
    "         stream_version bigint, event_id text, command_id text, type text,"
    "         schema_version int, data text, metadata text, prev_hash text, hash text)"
    "  RETURNING 1),"
    " oc AS ("
    "  INSERT INTO public.processed_commands (command_id, partition, outcome_seq, command_type, "
    "actor,"
    "         status, outcome, decided_at)"
    "  SELECT o.command_id, head.partition, o.seq, o.command_type, o.actor, o.status,"
    "         o.outcome::json, $9::timestamptz"
    "    FROM head, json_to_recordset($8::json) AS o(seq bigint, command_id text,"
    "         command_type text, actor text, status text, outcome text)"
    "  RETURNING 1),"
    " nt AS (SELECT pg_notify('tixmo_events', head.partition::text) FROM head)"
    " SELECT (SELECT count(*) FROM head), (SELECT count(*) FROM ev), (SELECT count(*) FROM oc),"
    "        (SELECT count(*) FROM nt)";

enum tix_rc tix_store_head(struct tix_db *db, int partition, struct tix_partition_head *out,
                           struct tix_err *err)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", partition);
    const char *params[] = {p};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec(db,
                                 "SELECT last_seq, encode(last_hash, 'hex'), last_outcome_seq "
                                 "FROM public.partition_heads WHERE partition = $1",
                                 1, params, &res, err);
    if (rc != TIX_OK)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return tix_err_set(err, TIX_ENOTFOUND, "partition", "partition %d is not installed",
                           partition);
    }
    out->last_seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    out->last_outcome_seq = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    int bad = tix_chain_unhex(PQgetvalue(res, 0, 1), out->last_hash);
    PQclear(res);
    return bad ? tix_err_set(err, TIX_EINTERNAL, "", "malformed head hash") : TIX_OK;
}

/* Appends "key":"value" (value JSON-escaped) with a leading comma unless first. */
static void put_str(struct tix_buf *b, const char *key, const char *value, bool is_first)
{
    tix_buf_printf(b, "%s\"%s\":", is_first ? "" : ",", key);
    tix_buf_json_str(b, value);
}

/* Writes the events' JSON records into b, assigning seqs and chaining hashes from *h. The
 * records are written by hand: this is the hottest loop of the append path. */
static void event_records(struct tix_buf *b, int partition, struct tix_partition_head *h,
                          const struct tix_append_event *events, int n, int64_t recorded_at_us)
{
    tix_buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        const struct tix_append_event *a = &events[i];
        struct tix_event e = {
            .partition = partition,
            .partition_seq = h->last_seq + 1,
            .stream_id = a->stream_id,
            .stream_version = a->stream_version,
            .event_id = a->event_id,
            .command_id = a->command_id != NULL ? a->command_id : "",
            .type = a->type,
            .schema_version = a->schema_version,
            .data = a->data,
            .metadata = a->metadata,
            .recorded_at_us = recorded_at_us,
        };
        uint8_t hash[TIX_HASH_LEN];
        tix_chain_hash(h->last_hash, &e, hash);
        char prev_hex[2 * TIX_HASH_LEN + 1], hash_hex[2 * TIX_HASH_LEN + 1];
        tix_chain_hex(h->last_hash, prev_hex);
        tix_chain_hex(hash, hash_hex);
        tix_buf_printf(b,
                       "%s{\"seq\":%" PRId64 ",\"stream_version\":%" PRId64
                       ",\"schema_version\":%d,\"prev_hash\":\"%s\",\"hash\":\"%s\"",
                       i ? "," : "", e.partition_seq, e.stream_version, e.schema_version, prev_hex,
                       hash_hex);
        put_str(b, "stream_id", e.stream_id, false);
        put_str(b, "event_id", e.event_id, false);
        put_str(b, "command_id", e.command_id, false);
        put_str(b, "type", e.type, false);
        put_str(b, "data", e.data, false);
        put_str(b, "metadata", e.metadata, false);
        tix_buf_puts(b, "}");
        h->last_seq = e.partition_seq;
        memcpy(h->last_hash, hash, TIX_HASH_LEN);
    }
    tix_buf_puts(b, "]");
}

static void outcome_records(struct tix_buf *b, struct tix_partition_head *h,
                            const struct tix_append_outcome *outcomes, int n)
{
    tix_buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        const struct tix_append_outcome *o = &outcomes[i];
        h->last_outcome_seq++;
        tix_buf_printf(b, "%s{\"seq\":%" PRId64 ",\"status\":\"%s\"", i ? "," : "",
                       h->last_outcome_seq, o->is_succeeded ? "succeeded" : "rejected");
        put_str(b, "command_id", o->command_id, false);
        put_str(b, "command_type", o->command_type, false);
        put_str(b, "actor", o->actor != NULL ? o->actor : "", false);
        put_str(b, "outcome", o->outcome, false);
        tix_buf_puts(b, "}");
    }
    tix_buf_puts(b, "]");
}

static enum tix_rc conflict_of(struct tix_err *err)
{
    const char *c = err != NULL ? err->field : "";
    const char *why = strcmp(c, "events_stream_version_key") == 0 ? "stream"
                      : strcmp(c, "processed_commands_pkey") == 0 ? "command"
                      : strcmp(c, "events_event_id_key") == 0     ? "event"
                                                                  : "head";
    char msg[sizeof(err->msg)];
    snprintf(msg, sizeof(msg), "%s", err != NULL ? err->msg : "");
    return tix_err_set(err, TIX_ECONFLICT, why, "%s", msg);
}

enum tix_rc tix_store_append(struct tix_db *db, int partition, struct tix_partition_head *head,
                             const struct tix_append_event *events, int n_events,
                             const struct tix_append_outcome *outcomes, int n_outcomes,
                             int64_t recorded_at_us, struct tix_err *err)
{
    struct tix_partition_head next = *head;
    struct tix_buf ev, oc;
    tix_buf_init(&ev, 0);
    tix_buf_init(&oc, 0);
    event_records(&ev, partition, &next, events, n_events, recorded_at_us);
    outcome_records(&oc, &next, outcomes, n_outcomes);

    char p[16], seq[24], old_seq[24], oseq[24], old_oseq[24], hash_hex[2 * TIX_HASH_LEN + 1];
    char at[32];
    snprintf(p, sizeof(p), "%d", partition);
    snprintf(seq, sizeof(seq), "%" PRId64, next.last_seq);
    snprintf(old_seq, sizeof(old_seq), "%" PRId64, head->last_seq);
    snprintf(oseq, sizeof(oseq), "%" PRId64, next.last_outcome_seq);
    snprintf(old_oseq, sizeof(old_oseq), "%" PRId64, head->last_outcome_seq);
    tix_chain_hex(next.last_hash, hash_hex);
    tix_time_format(recorded_at_us, at);
    const char *params[] = {p, seq, hash_hex, old_seq, oseq, old_oseq, ev.ptr, oc.ptr, at};

    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec_prepared(db, "tix_store_append", append_sql, 9, params, &res, err);
    tix_buf_deinit(&ev);
    tix_buf_deinit(&oc);
    if (rc == TIX_ECONFLICT)
        return conflict_of(err);
    if (rc != TIX_OK)
        return rc;
    long heads = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (heads != 1)
        return tix_err_set(err, TIX_ECONFLICT, "head",
                           "partition %d moved past seq %" PRId64 " (another writer)", partition,
                           head->last_seq);
    *head = next;
    return TIX_OK;
}

static enum tix_rc emit_rows(PGresult *res, tix_event_cb cb, void *ctx)
{
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        struct tix_event e = {
            .partition = (int)strtol(PQgetvalue(res, i, 0), NULL, 10),
            .partition_seq = strtoll(PQgetvalue(res, i, 1), NULL, 10),
            .global_pos = strtoll(PQgetvalue(res, i, 2), NULL, 10),
            .stream_id = PQgetvalue(res, i, 3),
            .stream_version = strtoll(PQgetvalue(res, i, 4), NULL, 10),
            .event_id = PQgetvalue(res, i, 5),
            .command_id = PQgetvalue(res, i, 6),
            .type = PQgetvalue(res, i, 7),
            .schema_version = (int)strtol(PQgetvalue(res, i, 8), NULL, 10),
            .data = PQgetvalue(res, i, 9),
            .metadata = PQgetvalue(res, i, 10),
            .recorded_at_us = strtoll(PQgetvalue(res, i, 11), NULL, 10),
        };
        if (tix_chain_unhex(PQgetvalue(res, i, 12), e.prev_hash) != 0 ||
            tix_chain_unhex(PQgetvalue(res, i, 13), e.hash) != 0)
            return TIX_EINTERNAL;
        enum tix_rc rc = cb(&e, ctx);
        if (rc != TIX_OK)
            return rc;
    }
    return TIX_OK;
}

enum tix_rc tix_store_read_stream(struct tix_db *db, const char *stream_id, int64_t after_version,
                                  tix_event_cb cb, void *ctx, struct tix_err *err)
{
    char after[24];
    snprintf(after, sizeof(after), "%" PRId64, after_version);
    const char *params[] = {stream_id, after};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec(db,
                                 "SELECT " EVENT_COLUMNS " FROM public.events WHERE stream_id = $1 "
                                 "AND stream_version > $2 ORDER BY stream_version",
                                 2, params, &res, err);
    if (rc != TIX_OK)
        return rc;
    rc = emit_rows(res, cb, ctx);
    PQclear(res);
    return rc == TIX_OK ? rc : tix_err_set(err, rc, "", "reading stream %s failed", stream_id);
}

enum tix_rc tix_store_read_partition(struct tix_db *db, int partition, int64_t after_seq, int limit,
                                     tix_event_cb cb, void *ctx, int *count, struct tix_err *err)
{
    char p[16], after[24], lim[16];
    snprintf(p, sizeof(p), "%d", partition);
    snprintf(after, sizeof(after), "%" PRId64, after_seq);
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *params[] = {p, after, lim};
    PGresult *res = NULL;
    *count = 0;
    enum tix_rc rc = tix_db_exec(db,
                                 "SELECT " EVENT_COLUMNS " FROM public.events WHERE partition = $1 "
                                 "AND partition_seq > $2 ORDER BY partition_seq LIMIT $3",
                                 3, params, &res, err);
    if (rc != TIX_OK)
        return rc;
    *count = PQntuples(res);
    rc = emit_rows(res, cb, ctx);
    PQclear(res);
    return rc == TIX_OK ? rc : tix_err_set(err, rc, "", "reading partition %d failed", partition);
}

enum tix_rc tix_store_find_outcomes(struct tix_db *db, const char *const *command_ids, int n,
                                    tix_outcome_cb cb, void *ctx, struct tix_err *err)
{
    json_t *ids = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(ids, json_string(command_ids[i]));
    char *ids_text = tix_json_dump(ids);
    json_decref(ids);
    const char *params[] = {ids_text};
    PGresult *res = NULL;
    /* One index look-up per id, kept so by a LATERAL subquery the LIMIT stops the planner from
     * flattening: as a join, the planner (counting 100 ids, and statistics that lag a table an
     * on-sale grows by thousands of rows a second) hashed the ids and scanned every outcome. */
    enum tix_rc rc = tix_db_exec(
        db,
        "SELECT p.command_id, p.outcome::text FROM (SELECT DISTINCT "
        "json_array_elements_text($1::json) AS id) i CROSS JOIN LATERAL (SELECT command_id, "
        "outcome FROM public.processed_commands WHERE command_id = i.id LIMIT 1) p",
        1, params, &res, err);
    free(ids_text);
    if (rc != TIX_OK)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == TIX_OK; i++)
        rc = cb(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), ctx);
    PQclear(res);
    return rc;
}

enum tix_rc tix_store_partitions(struct tix_db *db, int *out, struct tix_err *err)
{
    PGresult *res = NULL;
    enum tix_rc rc =
        tix_db_exec(db, "SELECT value FROM public.install_settings WHERE key = 'partitions'", 0,
                    NULL, &res, err);
    if (rc != TIX_OK)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return tix_err_set(err, TIX_ENOTFOUND, "", "the store is not migrated (no partitions)");
    }
    *out = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return TIX_OK;
}

struct scan_pos {
    tix_event_cb cb;
    void *ctx;
    int partition;
    int64_t seq;
};

static enum tix_rc scan_cb(const struct tix_event *e, void *arg)
{
    struct scan_pos *pos = arg;
    pos->partition = e->partition;
    pos->seq = e->partition_seq;
    return pos->cb(e, pos->ctx);
}

enum tix_rc tix_store_scan(struct tix_db *db, const struct tix_event_filter *f, tix_event_cb cb,
                           void *ctx, struct tix_err *err)
{
    char part[16], like[256], after_p[16], after_s[24];
    snprintf(part, sizeof(part), "%d", f->partition);
    size_t tl = f->type != NULL ? strlen(f->type) : 0;
    bool is_prefix = tl > 0 && f->type[tl - 1] == '*';
    if (tl >= sizeof(like) - 1)
        return tix_err_set(err, TIX_EINVAL, "type", "type filter too long");
    snprintf(like, sizeof(like), "%.*s", (int)(is_prefix ? tl - 1 : tl), f->type ? f->type : "");
    struct scan_pos pos = {cb, ctx, -1, 0};
    enum tix_rc rc = TIX_OK;
    for (int n = 1; n > 0 && rc == TIX_OK;) {
        snprintf(after_p, sizeof(after_p), "%d", pos.partition);
        snprintf(after_s, sizeof(after_s), "%" PRId64, pos.seq);
        const char *params[] = {f->stream_id,
                                tl > 0 ? like : NULL,
                                is_prefix ? "1" : "0",
                                f->partition >= 0 ? part : NULL,
                                f->since,
                                f->until,
                                after_p,
                                after_s};
        PGresult *res = NULL;
        rc = tix_db_exec(db,
                         "SELECT " EVENT_COLUMNS " FROM public.events WHERE"
                         " ($1::text IS NULL OR stream_id = $1)"
                         " AND ($2::text IS NULL OR (CASE WHEN $3 = '1' THEN"
                         "  starts_with(type, $2) ELSE type = $2 END))"
                         " AND ($4::int IS NULL OR partition = $4::int)"
                         " AND ($5::timestamptz IS NULL OR recorded_at >= $5::timestamptz)"
                         " AND ($6::timestamptz IS NULL OR recorded_at < $6::timestamptz)"
                         " AND (partition, partition_seq) > ($7::int, $8::bigint)"
                         " ORDER BY partition, partition_seq LIMIT 5000",
                         8, params, &res, err);
        if (rc != TIX_OK)
            break;
        n = PQntuples(res);
        rc = emit_rows(res, scan_cb, &pos);
        PQclear(res);
    }
    return rc;
}
