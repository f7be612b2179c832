/* append.c - bench/append: events appended per second through tix_store_append
 *
 * For batch sizes 1, 10 and 100 it appends batches of commands (one event and one recorded
 * outcome each, as the processor does) through the project's own append path, and, in the same
 * run on the same server, inserts the same rows with a plain multi-row INSERT into a table of
 * the same shape and indexes (no head row, no hash chain, no outcomes). The ratio is the figure:
 * it stays fair on a noisy machine. Rounds alternate between the two so drift hits both.
 *
 * Usage: bench-append [seconds per batch size, default 7]. Uses TIXMO_DB_URL (a database
 * that may be written to: scripts/bench makes a fresh one).
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/buf.h"
#include "tix/config.h"
#include "tix/ids.h"
#include "tix/store.h"

#define MAX_BATCH 100

static const char plain_ddl[] =
    "DROP TABLE IF EXISTS bench_plain_events;"
    "CREATE TABLE bench_plain_events (partition int NOT NULL, partition_seq bigint NOT NULL,"
    " global_pos bigint GENERATED ALWAYS AS IDENTITY, stream_id text NOT NULL,"
    " stream_version bigint NOT NULL, event_id uuid NOT NULL, command_id text, type text NOT NULL,"
    " schema_version int NOT NULL, data json NOT NULL, metadata json NOT NULL,"
    " recorded_at timestamptz NOT NULL, prev_hash bytea NOT NULL, hash bytea NOT NULL,"
    " PRIMARY KEY (partition, partition_seq), UNIQUE (stream_id, stream_version),"
    " UNIQUE (event_id))";

static const char data[] = "{\"amount_minor\":4500,\"currency\":\"EUR\",\"seat\":\"A-12\","
                           "\"ticket_type_id\":\"0190c1e2-0000-7000-8000-000000000001\"}";
static const char meta[] = "{\"actor\":\"user:0190c1e2-0000-7000-8000-000000000002\","
                           "\"command_type\":\"bench.hold\",\"source\":\"127.0.0.1\"}";

struct run {
    struct tix_db *db;
    int partition;
    int64_t seq; /* plain table's own sequence */
    struct tix_partition_head head;
    char ids[MAX_BATCH][2][TIX_UUID_LEN + 1];
};

static int store_batch(struct run *r, int n)
{
    struct tix_append_event ev[MAX_BATCH];
    struct tix_append_outcome oc[MAX_BATCH];
    for (int i = 0; i < n; i++) {
        tix_uuid_v7(r->ids[i][0]); /* the stream, the command and the event share a fresh id */
        tix_uuid_v7(r->ids[i][1]);
        ev[i] = (struct tix_append_event){r->ids[i][0], 1, r->ids[i][1], r->ids[i][0],
                                          "bench.held", 1, data,         meta};
        oc[i] = (struct tix_append_outcome){r->ids[i][0], "bench.hold", "user:bench", true,
                                            "{\"status\":\"succeeded\"}"};
    }
    struct tix_err err;
    if (tix_store_append(r->db, r->partition, &r->head, ev, n, oc, n, tix_now_us(), &err) !=
        TIX_OK) {
        fprintf(stderr, "append failed: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int plain_batch(struct run *r, int n)
{
    struct tix_buf sql;
    tix_buf_init(&sql, 0);
    tix_buf_puts(&sql, "INSERT INTO bench_plain_events (partition, partition_seq, stream_id,"
                       " stream_version, event_id, command_id, type, schema_version, data,"
                       " metadata, recorded_at, prev_hash, hash) VALUES ");
    const char *params[MAX_BATCH * 6];
    char seqs[MAX_BATCH][24], at[32];
    tix_time_format(tix_now_us(), at);
    for (int i = 0; i < n; i++) {
        tix_uuid_v7(r->ids[i][0]);
        tix_uuid_v7(r->ids[i][1]);
        snprintf(seqs[i], sizeof(seqs[i]), "%" PRId64, ++r->seq);
        params[6 * i] = seqs[i];
        params[6 * i + 1] = r->ids[i][0];
        params[6 * i + 2] = r->ids[i][1];
        params[6 * i + 3] = data;
        params[6 * i + 4] = meta;
        params[6 * i + 5] = at;
        int b = 6 * i;
        tix_buf_printf(&sql,
                       "%s(0, $%d, $%d, 1, $%d::uuid, $%d, 'bench.held', 1, $%d::json, $%d::json,"
                       " $%d::timestamptz, '\\x00', '\\x00')",
                       i ? "," : "", b + 1, b + 2, b + 3, b + 2, b + 4, b + 5, b + 6);
    }
    struct tix_err err;
    enum tix_rc rc = tix_db_exec(r->db, sql.ptr, 6 * n, params, NULL, &err);
    tix_buf_deinit(&sql);
    if (rc != TIX_OK)
        fprintf(stderr, "plain insert failed: %s\n", err.msg);
    return rc == TIX_OK ? 0 : -1;
}

/* Events per second of fn at batch n over `ms` milliseconds. */
static double measure(struct run *r, int (*fn)(struct run *, int), int n, int ms)
{
    int64_t start = tix_mono_ms(), events = 0;
    while (tix_mono_ms() - start < ms) {
        if (fn(r, n) != 0)
            exit(1);
        events += n;
    }
    return (double)events * 1000.0 / (double)(tix_mono_ms() - start);
}

#define ROUNDS 7

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of ROUNDS alternating measurements: robust to a burst of noise in either. */
static double median(double *v)
{
    qsort(v, ROUNDS, sizeof(*v), cmp_double);
    return v[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    struct tix_config cfg;
    struct tix_err err;
    if (sodium_init() < 0 || tix_config_load(&cfg, &err) != TIX_OK)
        return 2;
    int seconds = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 7;
    struct run r = {.partition = 0};
    if (tix_db_open(cfg.db_url, &r.db, &err) != TIX_OK ||
        tix_db_script(r.db, plain_ddl, &err) != TIX_OK ||
        tix_store_head(r.db, r.partition, &r.head, &err) != TIX_OK) {
        fprintf(stderr, "bench-append: %s\n", err.msg);
        return 1;
    }
    printf("bench/append: %d s per batch size (median of %d alternating rounds), one connection,"
           " partition %d\n",
           seconds, ROUNDS, r.partition);
    printf("%-6s %16s %16s %8s\n", "batch", "tixmo events/s", "plain events/s", "ratio");
    static const int sizes[] = {1, 10, 100};
    for (int i = 0; i < 3; i++) {
        double plain[ROUNDS], store[ROUNDS];
        int slice_ms = seconds * 1000 / (2 * ROUNDS);
        for (int k = 0; k < ROUNDS; k++) {
            plain[k] = measure(&r, plain_batch, sizes[i], slice_ms);
            store[k] = measure(&r, store_batch, sizes[i], slice_ms);
        }
        double p = median(plain), s = median(store);
        printf("%-6d %16.0f %16.0f %7.0f%%\n", sizes[i], s, p, 100.0 * s / p);
        fflush(stdout);
    }
    tix_db_script(r.db, "DROP TABLE bench_plain_events", NULL);
    tix_db_close(r.db);
    tix_config_deinit(&cfg);
    return 0;
}
