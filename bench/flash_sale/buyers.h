/* buyers.h - simulated buyers over HTTP for bench/flash_sale
 *
 * One event loop, one keep-alive connection per concurrent buyer. Each buyer repeats, as a new
 * person each time: hold 1-4 tickets (general admission by quantity, or a run of adjacent seats
 * in a random row), place the order, and pay it by posting a signed payment_intent.succeeded
 * webhook, as Stripe would after the card went through. It stops when the time is up or when
 * holds have been refused for lack of stock long enough for the show to count as sold out.
 *
 * With holds_only set, a buyer stops after the hold (the next person takes the connection): the
 * first seconds of an on-sale, when everybody grabs seats and checkout comes later, and the
 * same work per decision as the classic design's.
 *
 * One more connection watches the show's live availability stream, as a seat map would: for
 * every seat of a granted hold it measures the time from the hold's answer to the push that
 * shows the seat taken, held or already sold (0 when the push came first): the "within
 * 100 ms of the deciding commit" under load. After the buyers stop, the stream is watched
 * STREAM_DRAIN_S more seconds for the pushes still on their way.
 *
 * Two ways to load the stack: closed loop (rate 0), where every buyer starts the next hold as
 * soon as the previous payment is answered, so the stack runs flat out and latency includes
 * the queue; and paced (rate > 0 holds a second), where holds start on a fixed schedule (checked
 * every millisecond), each taken by an idle buyer, whatever the answers' speed: latency at a
 * given load, below saturation. A paced hold that falls due while all buyers are busy is
 * counted as missed.
 */
#ifndef TIX_BENCH_BUYERS_H
#define TIX_BENCH_BUYERS_H

#include <stdbool.h>
#include <stdint.h>

#define BENCH_GA_TYPES_MAX 4
#define STREAM_DRAIN_S     3 /* seconds the stream is watched after the buying */

struct sale_plan {
    int port;
    const char *jwt_secret;
    const char *webhook_secret;
    char event_id[37];
    char session_id[64];
    int n_ga_types;
    char ga_types[BENCH_GA_TYPES_MAX][64];
    char reserved_type[64];
    int sections, rows, seats_per_row; /* seat ids are "<section letter>-<row>-<seat>" */
    int ga_share_pct;                  /* share of buyers going for general admission */
    bool holds_only; /* buyers hold and make way for the next person: no order, no payment */
};

struct sale_figures {
    int64_t holds_ok, holds_refused, holds_failed;
    int64_t orders_ok, orders_failed, order_retries;
    int64_t payments_ok, payments_failed;
    int64_t tickets_held;
    int64_t holds_missed; /* paced runs: due while every buyer was busy */
    /* The live stream (GET /events/{id}/availability/stream, one watcher): seats of granted
     * holds pushed as held, their delay after the hold's answer, and those never pushed
     * within STREAM_DRAIN_S of the end. */
    int64_t pushes, pushes_missing;
    double push_p50_ms, push_p99_ms, push_max_ms;
    double elapsed_s;
    double hold_p50_ms, hold_p99_ms;
    double holds_per_s, decisions_per_s, orders_per_s;
    char first_error[256];
};

/* Runs `buyers` concurrent buyers for at most `seconds`, closed loop (rate 0) or starting
 * `rate` holds a second. Returns 0, or -1 when the run could not start. */
int tix_bench_buyers_run(const struct sale_plan *plan, int buyers, int seconds, int rate,
                         struct sale_figures *out);

#endif
