/* client.h - sending commands and waiting for their outcome (CLI, tests, gateway)
 *
 * A command is published to its partition's queue with publisher confirms: TIX_OK from
 * tix_client_send means the broker has it durably. The outcome comes back by direct reply-to
 * when asked for (the bus must have had tix_bus_enable_replies called), or can be read later
 * from the command status read model.
 */
#ifndef TIX_COMMANDS_CLIENT_H
#define TIX_COMMANDS_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "tix/bus.h"
#include "tix/rc.h"

/* Publishes an encoded envelope (see envelope.h) for key to its partition and waits for the
 * broker's confirm. want_reply asks the processor to reply to this bus. */
enum tix_rc tix_client_send(struct tix_bus *bus, int partitions, const char *command_id,
                            const char *type, const char *key, const char *body, bool want_reply,
                            struct tix_err *err);

/* Waits up to timeout_ms for the reply to command_id; replies to other commands are dropped.
 * On TIX_OK *outcome is a new reference: {"command_id", "status": "succeeded"|"rejected", ...}.
 * TIX_ENOTFOUND on timeout. */
enum tix_rc tix_client_wait_reply(struct tix_bus *bus, const char *command_id, int timeout_ms,
                                  json_t **outcome, struct tix_err *err);

/* Builds, sends and waits: the whole round trip. command_id may be NULL (a new one is made). */
enum tix_rc tix_client_call(struct tix_bus *bus, int partitions, const char *command_id,
                            const char *type, const char *key, const json_t *payload,
                            const char *actor, int timeout_ms, json_t **outcome,
                            struct tix_err *err);

#endif
