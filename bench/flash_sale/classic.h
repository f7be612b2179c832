/* classic.h - the classic design's hold (row lock per ticket type), the flash sale's baseline */
#ifndef TIX_BENCH_CLASSIC_H
#define TIX_BENCH_CLASSIC_H

#include <stdbool.h>
#include <stdint.h>

struct tix_bench_classic {
    int64_t holds;    /* committed */
    int64_t failures; /* transactions that failed */
    double holds_per_s;
    double p50_ms, p99_ms; /* request (BEGIN) to COMMIT done */
};

/* Creates its tables in the database at url (dropping earlier ones), runs `clients` threads
 * for `seconds`, each holding 1-4 tickets of one of four types per transaction. Returns 0, or
 * -1 when the database could not be used. */
int tix_bench_classic(const char *url, int clients, int seconds, struct tix_bench_classic *out);

#endif
