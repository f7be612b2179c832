/* relay.h - the log's events onto the bus, at least once, in partition order
 *
 * The events table is the outbox. The processor appends a batch and answers its callers without
 * waiting for the broker; the relay, a thread of its own with its own Postgres and AMQP
 * connections, follows every partition's head and publishes what lies past the partition's
 * cursor (table bus_relay) to the events exchange, waits for the broker's confirms, and only then
 * moves the cursor. A process that dies anywhere in between leaves the cursor behind, so the
 * next relay publishes those events again: workers see every event at least once (they dedupe
 * by message id = event id), in partition_seq order within a partition, and never miss one.
 *
 * Several processors may run; one relay publishes a partition at a time, kept so by a session
 * advisory lock per partition that dies with the relay's connection. The relay wakes on the
 * store's tixmo_events notification and looks at every head at least once a second.
 */
#ifndef TIX_COMMANDS_RELAY_H
#define TIX_COMMANDS_RELAY_H

#include <signal.h>

#include "tix/config.h"
#include "tix/rc.h"

/* Most events one partition contributes to a relay round. */
#define TIX_RELAY_BATCH 2000

struct tix_relay;

/* Starts the relay thread; it runs until *stop becomes non-zero or tix_relay_stop. *out is new. */
enum tix_rc tix_relay_start(const struct tix_config *cfg, volatile sig_atomic_t *stop,
                            struct tix_relay **out, struct tix_err *err);
/* Stops the thread (after its current round), joins it and frees r. NULL is a no-op. */
void tix_relay_stop(struct tix_relay *r);

#endif
