/* metrics.c - Prometheus counters, written lock-free per thread, summed at scrape time
 *
 * Each thread only ever increments its own counters (relaxed atomics); /metrics reads every
 * thread's counters and sums them. Exported: tixmo_http_requests_total{route,method,status},
 * tixmo_http_request_duration_seconds (histogram), tixmo_broker_confirm_duration_seconds
 * (histogram: from publishing a command to the broker's confirm, the part of an accepted
 * command's answer time the gateway does not control), tixmo_commands_published_total,
 * tixmo_commands_pending (published, not yet answered: confirms and outcomes outstanding),
 * tixmo_gateway_threads, tixmo_gateway_uptime_seconds.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/mem.h"

#include "gateway.h"

static const int status_slots[] = {200, 201, 202, 204, 400, 401, 403, 404, 405,
                                   409, 413, 415, 422, 423, 429, 500, 503};
#define N_SLOTS ((int)(sizeof(status_slots) / sizeof(status_slots[0])) + 1)

static const double bounds_s[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                  0.1,    0.2,   0.5,   1,     2,    5};
#define N_BOUNDS ((int)(sizeof(bounds_s) / sizeof(bounds_s[0])))

void tix_gw_metrics_init(struct tix_gw_thread *th, int n_routes)
{
    th->requests = tix_xcalloc((size_t)(n_routes + 1) * N_SLOTS, sizeof(*th->requests));
}

void tix_gw_metrics_deinit(struct tix_gw_thread *th)
{
    free(th->requests);
    th->requests = NULL;
}

static int slot_of(int status)
{
    for (int i = 0; i < N_SLOTS - 1; i++)
        if (status_slots[i] == status)
            return i;
    return N_SLOTS - 1;
}

/* Counts elapsed_us into a histogram of buckets (N_BOUNDS + 1), its sum and its count. */
static void observe(uint64_t *buckets, uint64_t *sum_us, uint64_t *count, int64_t elapsed_us)
{
    int b = 0;
    while (b < N_BOUNDS && (double)elapsed_us / 1e6 > bounds_s[b])
        b++;
    __atomic_add_fetch(&buckets[b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(sum_us, (uint64_t)elapsed_us, __ATOMIC_RELAXED);
    __atomic_add_fetch(count, 1, __ATOMIC_RELAXED);
}

void tix_gw_metrics_count(struct tix_gw_thread *th, const struct tix_route *route, int status,
                          int64_t elapsed_us)
{
    int row = route != NULL ? (int)(route - tix_routes) + 1 : 0;
    __atomic_add_fetch(&th->requests[row * N_SLOTS + slot_of(status)], 1, __ATOMIC_RELAXED);
    observe(th->latency_buckets, &th->latency_sum_us, &th->latency_count, elapsed_us);
}

void tix_gw_metrics_confirm(struct tix_gw_thread *th, int64_t elapsed_us)
{
    observe(th->confirm_buckets, &th->confirm_sum_us, &th->confirm_count, elapsed_us);
}

static uint64_t sum(struct tix_gw *gw, size_t offset, int index)
{
    uint64_t total = 0;
    for (int t = 0; t < gw->n_threads; t++) {
        const uint64_t *base = (const uint64_t *)((const char *)&gw->threads[t] + offset);
        total += __atomic_load_n(&base[index], __ATOMIC_RELAXED);
    }
    return total;
}

static void render_requests(struct tix_gw *gw, struct tix_buf *out)
{
    tix_buf_puts(out, "# HELP tixmo_http_requests_total HTTP requests by route and status.\n"
                      "# TYPE tixmo_http_requests_total counter\n");
    for (int row = 0; row <= gw->n_routes; row++) {
        for (int s = 0; s < N_SLOTS; s++) {
            uint64_t n = 0;
            for (int t = 0; t < gw->n_threads; t++)
                n += __atomic_load_n(&gw->threads[t].requests[row * N_SLOTS + s], __ATOMIC_RELAXED);
            if (n == 0)
                continue;
            const struct tix_route *r = row > 0 ? &tix_routes[row - 1] : NULL;
            char status[8];
            snprintf(status, sizeof(status), "%d", s < N_SLOTS - 1 ? status_slots[s] : 0);
            tix_buf_printf(out,
                           "tixmo_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"}"
                           " %" PRIu64 "\n",
                           r ? r->pattern : "unmatched", r ? r->method : "",
                           s < N_SLOTS - 1 ? status : "other", n);
        }
    }
}

/* One histogram from every thread's buckets, sum and count (offsets into the thread). */
struct histogram {
    const char *name;
    const char *help;
    size_t buckets, sum_us, count;
};

static void render_histogram(struct tix_gw *gw, const struct histogram *h, struct tix_buf *out)
{
    tix_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
    uint64_t cumulative = 0;
    for (int b = 0; b <= N_BOUNDS; b++) {
        cumulative += sum(gw, h->buckets, b);
        if (b < N_BOUNDS)
            tix_buf_printf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", h->name, bounds_s[b],
                           cumulative);
        else
            tix_buf_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", h->name, cumulative);
    }
    tix_buf_printf(out, "%s_sum %.6f\n", h->name, (double)sum(gw, h->sum_us, 0) / 1e6);
    tix_buf_printf(out, "%s_count %" PRIu64 "\n", h->name, sum(gw, h->count, 0));
}

static void render_latency(struct tix_gw *gw, struct tix_buf *out)
{
    static const struct histogram answer = {"tixmo_http_request_duration_seconds",
                                            "Time to answer a request.",
                                            offsetof(struct tix_gw_thread, latency_buckets),
                                            offsetof(struct tix_gw_thread, latency_sum_us),
                                            offsetof(struct tix_gw_thread, latency_count)};
    static const struct histogram confirm = {
        "tixmo_broker_confirm_duration_seconds",
        "Time from publishing a command to the broker's confirm.",
        offsetof(struct tix_gw_thread, confirm_buckets),
        offsetof(struct tix_gw_thread, confirm_sum_us),
        offsetof(struct tix_gw_thread, confirm_count)};
    render_histogram(gw, &answer, out);
    render_histogram(gw, &confirm, out);
}

void tix_gw_metrics_render(struct tix_gw *gw, struct tix_buf *out)
{
    render_requests(gw, out);
    render_latency(gw, out);
    tix_buf_printf(out,
                   "# HELP tixmo_commands_published_total Commands published to the broker.\n"
                   "# TYPE tixmo_commands_published_total counter\n"
                   "tixmo_commands_published_total %" PRIu64 "\n"
                   "# HELP tixmo_commands_pending Commands awaiting a confirm or an outcome.\n"
                   "# TYPE tixmo_commands_pending gauge\n"
                   "tixmo_commands_pending %" PRIu64 "\n"
                   "# TYPE tixmo_gateway_threads gauge\ntixmo_gateway_threads %d\n"
                   "# TYPE tixmo_gateway_uptime_seconds gauge\n"
                   "tixmo_gateway_uptime_seconds %lld\n",
                   sum(gw, offsetof(struct tix_gw_thread, commands_published), 0),
                   sum(gw, offsetof(struct tix_gw_thread, commands_pending), 0), gw->n_threads,
                   (long long)((tix_now_us() - gw->started_us) / 1000000));
}
