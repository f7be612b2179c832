/* processor.h - the command processor: consume, decide, append, publish, reply, ack
 *
 * A processor consumes every partition queue; RabbitMQ's single-active-consumer keeps exactly
 * one processor active per partition, and hands the queue to a standby when the active one dies.
 * For each batch of deliveries the processor, per partition:
 *   1. dead-letters poison (undecodable envelope, unknown command type, wrong partition) with
 *      the reason, never retrying it;
 *   2. answers commands that already have an outcome with that outcome (redelivery, retry);
 *   3. decides the rest against cached states (loading cold streams from the log);
 *   4. appends all events and outcomes of the partition in one transaction (store.h), which
 *      fails as a whole if another writer moved the partition or took a stream version;
 * then replies to waiting callers and acks. A crash anywhere before the ack makes the broker
 * redeliver; step 2 makes that harmless. The events reach the events exchange through the
 * relay thread the processor runs (relay.h), which publishes from the log, so a batch never
 * waits for the broker and a crash after the commit loses no event.
 */
#ifndef TIX_COMMANDS_PROCESSOR_H
#define TIX_COMMANDS_PROCESSOR_H

#include <signal.h>

#include "tix/config.h"
#include "tix/rc.h"

/* Runs until *stop becomes non-zero (checked between batches). Reconnects to RabbitMQ and
 * Postgres when they go away. Returns TIX_OK after a clean stop, an error if start-up failed. */
enum tix_rc tix_processor_run(const struct tix_config *cfg, volatile sig_atomic_t *stop,
                              struct tix_err *err);

#endif
