/* envelope.h - a command as it travels on the bus
 *
 * The body of a command message is a JSON object:
 *   {"command_id", "type", "key", "payload": {...}, "actor", "correlation_id",
 *    "causation_id", "source", "issued_at"}
 * The partition is tix_partition_of(key); the sender routes to that partition's queue and the
 * processor refuses (dead-letters) a command that arrives on another partition's queue.
 */
#ifndef TIX_COMMANDS_ENVELOPE_H
#define TIX_COMMANDS_ENVELOPE_H

#include <jansson.h>

#include "tix/rc.h"

#define TIX_COMMAND_ID_MAX 200

/* A decoded envelope. Strings are borrowed from `root`, which the envelope owns. */
struct tix_envelope {
    json_t *root;
    const char *command_id;
    const char *type;
    const char *key;
    const json_t *payload;
    const char *actor;
    const char *correlation_id;
    const char *causation_id;
    const char *source;
};

/* Parses and checks a message body. On failure returns TIX_EINVAL with the offending field;
 * nothing to release. On success release with tix_envelope_deinit. */
enum tix_rc tix_envelope_decode(const char *body, size_t len, struct tix_envelope *out,
                                struct tix_err *err);
void tix_envelope_deinit(struct tix_envelope *env);

/* Builds a body. command_id/correlation_id/causation_id may be NULL (a new id is made, the
 * correlation defaults to the command id). Borrows payload. Returns a new string (free()). */
char *tix_envelope_encode(const char *command_id, const char *type, const char *key,
                          const json_t *payload, const char *actor, const char *correlation_id,
                          const char *causation_id, const char *source);

#endif
