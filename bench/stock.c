/* stock.c - bench/stock: holds decided and evolved per second on one event, in memory
 *
 * Builds an event on sale and its stock with 50,000 seats (rows of 50) through evolve, then
 * decides and evolves hold.place commands exactly as the processor's hot path does (streams,
 * decide on the cached states, evolve each emitted event), with one buyer per hold: first
 * 50,000 holds of one reserved seat each (every seat of the event), then as many general
 * admission holds of two units. Payloads are built before the clock starts. The baseline, in
 * the same run, inserts the same hold ids and seat ids into a plain open-addressing hash table
 * (strdup'd keys, FNV-1a), the least any hold could cost; the ratio is printed.
 *
 * Usage: bench-stock [holds, default 50000]. No services needed. Target: >= 5,000 holds/s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tix/aggregate.h"
#include "tix/ids.h"
#include "tix/json.h"

#include "event.h"
#include "stock.h"

#define EV      "0190c1e2-7a3b-7c4d-8e5f-00000000e001"
#define SESSION "0190c1e2-0000-7000-8000-000000000011"
#define T_RES   "0190c1e2-0000-7000-8000-0000000000a3"
#define T_GA    "0190c1e2-0000-7000-8000-0000000000a1"
#define ROW     50

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void uid(char out[40], unsigned kind, unsigned n)
{
    snprintf(out, 40, "0190c1e2-0000-7000-8%03x-%012x", kind, n);
}

static void must(enum tix_rc rc, const char *what)
{
    if (rc != TIX_OK) {
        fprintf(stderr, "bench-stock: %s refused\n", what);
        exit(1);
    }
}

static void evolve(const struct tix_stream_kind *k, void *state, const char *type, json_t *data)
{
    must(k->evolve(state, type, 1, data), type);
    json_decref(data);
}

static void *event_on_sale(void)
{
    const struct tix_stream_kind *k = &tix_event_stream_kind;
    void *s = k->create();
    evolve(k, s, "event.created",
           json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:[{s:s, s:s, s:s}], s:s}",
                     "event_id", EV, "organization_id", EV, "venue_id", EV, "chart_version", 1,
                     "name", "Flash sale", "category", "music", "timezone", "Europe/Berlin",
                     "visibility", "public", "capacity", 1000000, "sessions", "session_id", SESSION,
                     "starts_at", "2030-01-01T20:00:00Z", "ends_at", "2030-01-01T23:00:00Z",
                     "created_by", "user:bench"));
    evolve(k, s, "event.published", json_pack("{s:s}", "event_id", EV));
    evolve(k, s, "event.sales_opened", json_pack("{s:s}", "event_id", EV));
    return s;
}

static void *stock_with_seats(int n_seats)
{
    const struct tix_stream_kind *k = &tix_stock_stream_kind;
    void *s = k->create();
    json_t *seats = json_array();
    for (int i = 0; i < n_seats; i++) {
        char id[32], row[16], label[16];
        snprintf(id, sizeof(id), "S-%d-%d", i / ROW, i % ROW);
        snprintf(row, sizeof(row), "%d", i / ROW);
        snprintf(label, sizeof(label), "%d", i % ROW + 1);
        json_array_append_new(seats, json_pack("{s:s, s:s, s:s, s:s}", "seat_id", id, "section",
                                               "S", "row", row, "label", label));
    }
    evolve(k, s, "stock.seats_loaded",
           json_pack("{s:s, s:i, s:o}", "event_id", EV, "chart_version", 1, "seats", seats));
    const char *types[][3] = {{T_RES, "reserved", NULL}, {T_GA, "general_admission", "x"}};
    for (int i = 0; i < 2; i++) {
        json_t *t =
            json_pack("{s:s, s:s, s:s, s:i, s:s}", "ticket_type_id", types[i][0], "name",
                      types[i][1], "kind", types[i][1], "price_minor", 5000, "currency", "EUR");
        if (types[i][2] != NULL)
            json_object_set_new(t, "quantity", json_integer(1000000));
        evolve(k, s, "ticket_type.created",
               json_pack("{s:s, s:o}", "event_id", EV, "ticket_type", t));
    }
    return s;
}

struct cmd {
    char actor[48];
    json_t *payload;
};

static struct cmd *build_holds(int n, bool is_seated)
{
    struct cmd *c = calloc((size_t)n, sizeof(*c));
    for (int i = 0; i < n; i++) {
        char buyer[40], hold[40], seat[32];
        uid(buyer, 0xb, (unsigned)i);
        uid(hold, is_seated ? 0xd : 0xe, (unsigned)i);
        snprintf(c[i].actor, sizeof(c[i].actor), "user:%s", buyer);
        snprintf(seat, sizeof(seat), "S-%d-%d", i / ROW, i % ROW);
        json_t *line = is_seated ? json_pack("{s:s, s:[s]}", "ticket_type_id", T_RES, "seats", seat)
                                 : json_pack("{s:s, s:i}", "ticket_type_id", T_GA, "quantity", 2);
        c[i].payload = json_pack("{s:s, s:s, s:s, s:[o]}", "event_id", EV, "hold_id", hold,
                                 "session_id", SESSION, "lines", line);
    }
    return c;
}

/* Decides and evolves every command; returns holds per second. */
static double run_holds(void *ev, void *stock, struct cmd *c, int n)
{
    const struct tix_command_handler *h = tix_registry_handler("hold.place");
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        struct tix_command cmd = {"bench",      "hold.place", EV,
                                  c[i].payload, c[i].actor,   1893456000LL * 1000000};
        char ids[TIX_DECISION_MAX_STREAMS][TIX_STREAM_ID_MAX];
        struct tix_err err;
        if (h->streams(&cmd, ids, &err) != 2) {
            fprintf(stderr, "bench-stock: invalid hold: %s\n", err.msg);
            exit(1);
        }
        struct tix_view view = {2, {ids[0], ids[1]}, {ev, stock}, {3, (int64_t)i}};
        struct tix_decision d;
        tix_decision_init(&d);
        h->decide(&cmd, &view, &d);
        if (d.is_rejected || d.n_events != 1) {
            fprintf(stderr, "bench-stock: hold %d: %s %s\n", i, d.code, d.reason);
            exit(1);
        }
        must(tix_stock_stream_kind.evolve(stock, d.events[0].type, 1, d.events[0].data),
             "hold.placed");
        tix_decision_deinit(&d);
    }
    return n / (now_s() - t0);
}

/* ---- the baseline: a plain hash table ------------------------------------------------------- */

struct plain {
    size_t cap, n;
    char **keys;
};

static void plain_put(struct plain *p, const char *key)
{
    if ((p->n + 1) * 2 > p->cap) {
        size_t cap = p->cap == 0 ? 1024 : p->cap * 2;
        char **keys = calloc(cap, sizeof(keys[0]));
        for (size_t i = 0; i < p->cap; i++) {
            if (p->keys[i] == NULL)
                continue;
            size_t k = (size_t)tix_fnv1a(p->keys[i], strlen(p->keys[i])) & (cap - 1);
            while (keys[k] != NULL)
                k = (k + 1) & (cap - 1);
            keys[k] = p->keys[i];
        }
        free(p->keys);
        p->keys = keys;
        p->cap = cap;
    }
    size_t k = (size_t)tix_fnv1a(key, strlen(key)) & (p->cap - 1);
    while (p->keys[k] != NULL)
        k = (k + 1) & (p->cap - 1);
    p->keys[k] = strdup(key);
    p->n++;
}

static double run_plain(struct cmd *c, int n)
{
    struct plain holds = {0}, seats = {0};
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        plain_put(&holds, tix_json_str(c[i].payload, "hold_id"));
        const json_t *line = json_array_get(json_object_get(c[i].payload, "lines"), 0);
        plain_put(&seats, json_string_value(json_array_get(json_object_get(line, "seats"), 0)));
    }
    double rate = n / (now_s() - t0);
    for (size_t i = 0; i < holds.cap; i++)
        free(holds.keys[i]);
    for (size_t i = 0; i < seats.cap; i++)
        free(seats.keys[i]);
    free(holds.keys);
    free(seats.keys);
    return rate;
}

static void free_cmds(struct cmd *c, int n)
{
    for (int i = 0; i < n; i++)
        json_decref(c[i].payload);
    free(c);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 50000;
    if (n < 1 || n > 200000) {
        fprintf(stderr, "usage: bench-stock [holds 1..200000]\n");
        return 2;
    }
    void *ev = event_on_sale();
    void *stock = stock_with_seats(n);
    struct cmd *seated = build_holds(n, true), *ga = build_holds(n, false);
    double plain = run_plain(seated, n);
    double seats_rate = run_holds(ev, stock, seated, n);
    double ga_rate = run_holds(ev, stock, ga, n);
    printf("seats %d, holds %d per run\n", n, n);
    printf("plain hash inserts (hold + seat): %10.0f holds/s\n", plain);
    printf("hold.place, one reserved seat:    %10.0f holds/s  (%.1f%% of plain)\n", seats_rate,
           100.0 * seats_rate / plain);
    printf("hold.place, two GA units:         %10.0f holds/s  (%.1f%% of plain)\n", ga_rate,
           100.0 * ga_rate / plain);
    free_cmds(seated, n);
    free_cmds(ga, n);
    tix_stock_stream_kind.destroy(stock);
    tix_event_stream_kind.destroy(ev);
    return seats_rate >= 5000 && ga_rate >= 5000 ? 0 : 1;
}
