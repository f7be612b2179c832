/* classic.c - the classic design's hold, measured for bench/flash_sale
 *
 * The design most ticketing systems start with: a hold is one transaction on the shared
 * database that locks the ticket type's row (SELECT ... FOR UPDATE), checks the remaining stock,
 * counts the hold and records it. Every buyer of a show queues on the same few rows, so the
 * database's lock and commit rate is the ceiling. Each client thread has its own connection and
 * loops until the deadline; commits are durable (synchronous_commit on), as TixMo's appends are.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classic.h"

#define TYPES 4 /* ticket types the buyers spread over, as in the TixMo run */

static const char ddl[] =
    "DROP TABLE IF EXISTS classic_holds, classic_ticket_types;"
    "CREATE TABLE classic_ticket_types (id int PRIMARY KEY, capacity int NOT NULL,"
    " held int NOT NULL DEFAULT 0);"
    "CREATE TABLE classic_holds (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " ticket_type_id int NOT NULL REFERENCES classic_ticket_types, buyer text NOT NULL,"
    " quantity int NOT NULL, created_at timestamptz NOT NULL DEFAULT now());"
    "INSERT INTO classic_ticket_types (id, capacity) SELECT g, 1000000000 FROM"
    " generate_series(0, 3) g;";

struct client {
    const char *url;
    int64_t deadline_ns;
    unsigned seed;
    int64_t holds;
    int64_t failures;
    int64_t *lat_us; /* one per hold, up to cap */
    size_t n_lat, cap_lat;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "classic: %s", PQerrorMessage(c));
    PQclear(r);
    return ok;
}

/* One hold: lock the type's row, check, count, record; true when committed. */
static bool hold_once(PGconn *c, int type, int qty, const char *buyer)
{
    char t[12], q[12];
    snprintf(t, sizeof(t), "%d", type);
    snprintf(q, sizeof(q), "%d", qty);
    const char *lock[] = {t};
    const char *ins[] = {t, buyer, q};
    if (!exec_ok(c, "BEGIN"))
        return false;
    PGresult *r = PQexecPrepared(c, "lock", 1, lock, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
              atoi(PQgetvalue(r, 0, 1)) + qty <= atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (ok) {
        r = PQexecPrepared(c, "count", 2, (const char *[]){t, q}, NULL, NULL, 0);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
    }
    if (ok) {
        r = PQexecPrepared(c, "record", 3, ins, NULL, NULL, 0);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
    }
    return exec_ok(c, ok ? "COMMIT" : "ROLLBACK") && ok;
}

static void *client_main(void *arg)
{
    struct client *cl = arg;
    PGconn *c = PQconnectdb(cl->url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "classic: %s", PQerrorMessage(c));
        PQfinish(c);
        cl->failures = -1;
        return NULL;
    }
    PGresult *r = PQprepare(c, "lock",
                            "SELECT capacity, held FROM classic_ticket_types WHERE id = $1::int"
                            " FOR UPDATE",
                            1, NULL);
    PQclear(r);
    r = PQprepare(c, "count",
                  "UPDATE classic_ticket_types SET held = held + $2::int WHERE id = $1::int", 2,
                  NULL);
    PQclear(r);
    r = PQprepare(c, "record",
                  "INSERT INTO classic_holds (ticket_type_id, buyer, quantity)"
                  " VALUES ($1::int, $2, $3::int)",
                  3, NULL);
    PQclear(r);
    char buyer[32];
    while (mono_ns() < cl->deadline_ns) {
        int type = (int)(rand_r(&cl->seed) % TYPES), qty = 1 + (int)(rand_r(&cl->seed) % 4);
        snprintf(buyer, sizeof(buyer), "buyer-%u", rand_r(&cl->seed));
        int64_t t0 = mono_ns();
        if (hold_once(c, type, qty, buyer)) {
            cl->holds++;
            if (cl->n_lat < cl->cap_lat)
                cl->lat_us[cl->n_lat++] = (mono_ns() - t0) / 1000;
        } else {
            cl->failures++;
        }
    }
    PQfinish(c);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int tix_bench_classic(const char *url, int clients, int seconds, struct tix_bench_classic *out)
{
    memset(out, 0, sizeof(*out));
    PGconn *c = PQconnectdb(url);
    bool ok = PQstatus(c) == CONNECTION_OK && exec_ok(c, ddl);
    if (!ok)
        fprintf(stderr, "classic: setup failed: %s", PQerrorMessage(c));
    PQfinish(c);
    if (!ok)
        return -1;
    struct client *cl = calloc((size_t)clients, sizeof(*cl));
    pthread_t *th = calloc((size_t)clients, sizeof(*th));
    int64_t start = mono_ns(), deadline = start + (int64_t)seconds * 1000000000;
    for (int i = 0; i < clients; i++) {
        cl[i] = (struct client){
            .url = url, .deadline_ns = deadline, .seed = 7u * (unsigned)i + 1, .cap_lat = 200000};
        cl[i].lat_us = calloc(cl[i].cap_lat, sizeof(int64_t));
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    size_t n = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        if (cl[i].failures < 0)
            ok = false;
        out->holds += cl[i].holds;
        out->failures += cl[i].failures > 0 ? cl[i].failures : 0;
        n += cl[i].n_lat;
    }
    double elapsed = (double)(mono_ns() - start) / 1e9;
    int64_t *all = calloc(n > 0 ? n : 1, sizeof(int64_t));
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, cl[i].lat_us, cl[i].n_lat * sizeof(int64_t));
        k += cl[i].n_lat;
        free(cl[i].lat_us);
    }
    qsort(all, n, sizeof(int64_t), cmp_i64);
    out->holds_per_s = (double)out->holds / elapsed;
    out->p50_ms = n > 0 ? (double)all[n / 2] / 1000.0 : 0;
    out->p99_ms = n > 0 ? (double)all[(n * 99) / 100] / 1000.0 : 0;
    free(all);
    free(cl);
    free(th);
    return ok ? 0 : -1;
}
