/* consumer.h - the loop of a worker that consumes one queue of events
 *
 * A worker (workers/payment, workers/email) embeds a struct tix_consumer as its FIRST member,
 * fills the fields marked "caller" and calls tix_consumer_run. The loop opens Postgres, connects
 * to the broker (declaring the whole topology, so the queue exists), consumes the queue with the
 * given prefetch and hands each delivery to settle_cb, one at a time, in order. settle_cb must
 * end every delivery: ack it (tix_consumer_finish), set it aside in a delay queue
 * (tix_consumer_delay), reject it, or set is_bus_broken to have the connection dropped and the
 * delivery redelivered after the reconnect. Unreachable Postgres or
 * broker are retried every second, logged once per try.
 *
 * One thread; the struct is owned by the worker. db and bus are valid inside settle_cb.
 */
#ifndef TIX_CONSUMER_H
#define TIX_CONSUMER_H

#include <signal.h>
#include <stdbool.h>

#include "tix/bus.h"
#include "tix/config.h"
#include "tix/db.h"
#include "tix/rc.h"

struct tix_consumer {
    const struct tix_config *cfg; /* caller */
    const char *service;          /* caller: the connection's name, "tixmo-email" */
    const char *queue;            /* caller */
    int prefetch;                 /* caller */
    volatile sig_atomic_t *stop;  /* caller */
    void (*settle_cb)(struct tix_consumer *c, const struct tix_bus_delivery *d); /* caller */
    struct tix_db *db;                                                           /* the loop's */
    struct tix_bus *bus;                                                         /* the loop's */
    bool is_bus_broken; /* set it when the broker failed: the loop reconnects */
};

/* Runs until *c->stop is set, then closes the connections. */
void tix_consumer_run(struct tix_consumer *c);

/* Waits ms while keeping the broker connection alive; false when asked to stop. */
bool tix_consumer_pause_ms(struct tix_consumer *c, int ms);

/* Ends d for good: when rc is not TIX_OK, logs it and dead-letters d with err's message as the
 * reason first; then acks it. A broker failure sets is_bus_broken (d is then redelivered). */
void tix_consumer_finish(struct tix_consumer *c, const struct tix_bus_delivery *d, enum tix_rc rc,
                         const struct tix_err *err);

/* Sets d aside for later: publishes its body to the default exchange with routing key
 * delay_queue (mandatory), with d's message id and correlation id, type = event_type and header
 * x-tixmo-attempt = attempt, waits for the broker's confirm, then acks d. A delay queue whose
 * TTL dead-letters back to c->queue brings it round again while the loop goes on with the next
 * delivery. A broker failure sets is_bus_broken (d is then redelivered; the copy, if it was
 * confirmed, comes back too, which idempotent handlers tolerate). */
void tix_consumer_delay(struct tix_consumer *c, const struct tix_bus_delivery *d,
                        const char *event_type, const char *delay_queue, int attempt);

#endif
