/* bus.h - the command bus and event fan-out over RabbitMQ (rabbitmq-c)
 *
 * Topology (declared idempotently by tix_bus_declare_topology):
 *   exchange tixmo.commands (direct) -> queues tixmo.commands.pNN (NN = 00..N-1, routing key
 *     "pNN"), each a quorum queue with x-single-active-consumer, x-dead-letter-exchange
 *     tixmo.dlx and x-delivery-limit;
 *   exchange tixmo.dlx (fanout) -> queue tixmo.dead (quorum), the dead-letter queue;
 *   exchange tixmo.events (topic), routing key = event type;
 *   the payment worker's delay queues tixmo.payments.delay.<n>s (quorum, x-message-ttl of the
 *     tier, at-least-once dead-lettering to exchange tixmo.payments.retry (direct) with routing
 *     key tixmo.payments, which routes back to the queue tixmo.payments): a message the worker
 *     could not settle yet waits there, off the worker's queue, then comes back.
 *
 * One struct tix_bus is one AMQP connection with one channel for messages (plus an internal one
 * for declarations). It is not thread-safe: one thread owns it. Publishing uses publisher
 * confirms: tix_bus_publish() only sends, and tix_bus_wait_confirms() returns TIX_OK only once
 * the broker confirmed every message published so far (a nack or an unroutable mandatory
 * message is TIX_ETRANSIENT). Replies to waiting callers use direct reply-to
 * (amq.rabbitmq.reply-to), enabled with tix_bus_enable_replies().
 *
 * Errors: a lost connection, a channel closed by the broker or a consumer cancelled by the
 * broker (its queue deleted) leaves the bus broken: that call and every later call return
 * TIX_ETRANSIENT with the broker's reply text in err->msg; close the bus and open a new one.
 * A broker refusal of a synchronous call on the main channel (tix_bus_consume, tix_bus_get,
 * tix_bus_enable_replies on a missing queue, say) returns its translated code (404 NOT_FOUND is
 * TIX_ENOTFOUND, 405/406 are TIX_ECONFLICT, 403/530 are TIX_EINVAL) and also breaks the bus.
 * Declarations, deletes, tix_bus_queue_depth and tix_bus_purge run on a second channel, so a
 * refusal there (a missing queue, inequivalent arguments) returns its code and the bus stays
 * usable.
 *
 * Timeouts: timeout_ms < 0 waits without limit. rabbitmq-c sends heartbeats (30 s) only from
 * inside calls that read, so a bus that makes no such call for 60 to 90 s is dropped by the
 * broker and its next call returns TIX_ETRANSIENT: a bus that may stay idle (a gateway's, between
 * requests) should call tix_bus_poll every 10 s or so.
 */
#ifndef TIX_BUS_H
#define TIX_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tix/rc.h"

#define TIX_BUS_COMMANDS_EXCHANGE "tixmo.commands"
#define TIX_BUS_EVENTS_EXCHANGE   "tixmo.events"
/* The payment worker's queue and the event types bound to it. Part of the topology every
 * process declares, so events published before the worker first starts wait for it. */
#define TIX_BUS_PAYMENTS_QUEUE "tixmo.payments"
extern const char *const tix_bus_payment_events[]; /* NULL-terminated */
/* Where a payment message waits before its next round: TIX_BUS_PAYMENT_DELAYS delay queues with
 * growing TTLs (tix_bus_payment_delay_ms), whose expired messages the broker dead-letters through
 * TIX_BUS_PAYMENTS_RETRY_EXCHANGE back to TIX_BUS_PAYMENTS_QUEUE with routing key
 * TIX_BUS_PAYMENTS_QUEUE: publish them with the event type in the type property. */
#define TIX_BUS_PAYMENTS_RETRY_EXCHANGE "tixmo.payments.retry"
#define TIX_BUS_PAYMENT_DELAYS          7
extern const int tix_bus_payment_delay_ms[TIX_BUS_PAYMENT_DELAYS]; /* 1 s doubling to 60 s */
/* Writes the name of delay queue tier (0..TIX_BUS_PAYMENT_DELAYS-1, clamped) into out:
 * "tixmo.payments.delay.4s". */
void tix_bus_payment_delay_queue(int tier, char *out, size_t size);
/* The email worker's queue and the event types bound to it, declared the same way. */
#define TIX_BUS_EMAILS_QUEUE "tixmo.emails"
extern const char *const tix_bus_email_events[]; /* NULL-terminated */
#define TIX_BUS_DLX_EXCHANGE "tixmo.dlx"
#define TIX_BUS_DEAD_QUEUE   "tixmo.dead"
#define TIX_BUS_REPLY_TO     "amq.rabbitmq.reply-to"

/* A command message of type TIX_BUS_BATCH_TYPE carries up to TIX_BUS_BATCH_MAX command envelopes
 * of one partition, one compact JSON object per line (the gateway gathers the commands of a loop
 * round into one message: one publish, one confirm, one queue entry for all of them). A reply to
 * it carries the outcomes of those commands, one per line, each naming its command_id. Any other
 * command message is one envelope, and its reply one outcome under its correlation_id. */
#define TIX_BUS_BATCH_TYPE "tixmo.batch"
#define TIX_BUS_BATCH_MAX  64

/* The next non-empty line of a batch body from *at (lines end at '\n' or at end) into *len,
 * moving *at past it; NULL once no line is left. */
const char *tix_bus_batch_line(const char **at, const char *end, size_t *len);

/* How long tix_bus_dead_letter waits for its confirm. */
#define TIX_BUS_DEAD_LETTER_TIMEOUT_MS 10000

struct tix_bus;

/* Message properties; every pointer borrowed and may be NULL. */
struct tix_bus_props {
    const char *message_id;     /* the command id or event id */
    const char *correlation_id; /* the command id, on replies */
    const char *reply_to;
    const char *type;         /* command or event type */
    const char *reason;       /* header x-tixmo-reason (dead letters) */
    const char *origin_queue; /* header x-tixmo-queue (dead letters) */
    int64_t attempt;          /* header x-tixmo-attempt when > 0 (rounds a worker made) */
};

/* A received message. All strings and the body are owned by the delivery; a property the
 * message lacks is NULL (exchange and routing_key are never NULL, "" for the default exchange). */
struct tix_bus_delivery {
    uint64_t delivery_tag;
    char *consumer_tag; /* the queue name for tix_bus_consume, TIX_BUS_REPLY_TO for replies,
                           NULL for tix_bus_get */
    char *exchange;
    char *routing_key;
    char *message_id;
    char *correlation_id;
    char *reply_to;
    char *type;
    char *reason;       /* x-tixmo-reason header, or NULL */
    char *origin_queue; /* x-tixmo-queue header, or NULL */
    char *death_queue;  /* queue of the latest x-death entry (broker dead-lettering), or NULL */
    char *death_reason; /* its reason ("rejected", "delivery_limit", "expired"...), or NULL */
    char *body;         /* NUL-terminated copy of the body */
    size_t body_len;
    bool is_redelivered;
    int64_t delivery_count; /* x-delivery-count (quorum queues), 0 on first delivery */
    int64_t attempt;        /* x-tixmo-attempt header, 0 when absent */
};

/* Opens a connection to url (amqp://user:pass@host:port/vhost, vhost URL-encoded) with a
 * heartbeat of 30 s and a channel with confirms enabled; connection_name (borrowed, may be NULL)
 * is shown by the broker. *out is new; free with tix_bus_close. TIX_EINVAL for a malformed or
 * amqps URL and for refused credentials or vhost (403, 530), TIX_ETRANSIENT when the broker is
 * unreachable. The URL is never copied into err (it holds the password). */
enum tix_rc tix_bus_open(const char *url, const char *connection_name, struct tix_bus **out,
                         struct tix_err *err);
/* Closes the channel and connection; NULL is a no-op. */
void tix_bus_close(struct tix_bus *bus);

/* Declares the topology above for `partitions` queues (1..1024, delivery_limit >= 1). Safe to
 * call from every process at start: declaring what exists with the same arguments changes
 * nothing. TIX_ECONFLICT when a queue exists with other arguments. */
enum tix_rc tix_bus_declare_topology(struct tix_bus *bus, int partitions, int delivery_limit,
                                     struct tix_err *err);
/* Declares one queue shaped like a partition queue (durable quorum, x-single-active-consumer,
 * x-dead-letter-exchange tixmo.dlx, x-delivery-limit) and, when exchange is not NULL, binds it
 * to exchange with binding_key. Idempotent; TIX_ECONFLICT when it exists with other arguments.
 * For tools and tests; tix_bus_declare_topology uses it. */
enum tix_rc tix_bus_declare_queue(struct tix_bus *bus, const char *queue, const char *exchange,
                                  const char *binding_key, int delivery_limit, struct tix_err *err);
/* Deletes queue and its messages (consumers are cancelled). */
enum tix_rc tix_bus_delete_queue(struct tix_bus *bus, const char *queue, struct tix_err *err);
/* Writes the queue name of partition p ("tixmo.commands.p07") into out (at least 32 bytes). */
void tix_bus_partition_queue(int partition, char *out, size_t size);
/* Writes the routing key of partition p ("p07") into out (at least 8 bytes). */
void tix_bus_partition_key(int partition, char *out, size_t size);

/* Publishes a persistent message (delivery mode 2). mandatory = true makes an unroutable message
 * a failure at tix_bus_wait_confirms. Returns once the frames are written (not yet confirmed);
 * every 128 publishes it also reads what the broker sent meanwhile (confirms, deliveries).
 * reply_to = TIX_BUS_REPLY_TO needs tix_bus_enable_replies first (TIX_EINVAL otherwise).
 * Publish replies to a direct reply-to address with mandatory = false: with mandatory = true
 * RabbitMQ delivers the reply and still returns it (312 NO_ROUTE), failing the batch. */
enum tix_rc tix_bus_publish(struct tix_bus *bus, const char *exchange, const char *routing_key,
                            bool mandatory, const struct tix_bus_props *props, const void *body,
                            size_t len, struct tix_err *err);
/* Waits until every message published on this bus so far is confirmed, up to timeout_ms.
 * Deliveries that arrive meanwhile (replies, consumed messages) are kept for tix_bus_next.
 * TIX_ETRANSIENT on nack, return or timeout. A nack or a return (an unroutable mandatory
 * message, which the broker still acks) fails the call that covers it, after every outstanding
 * confirm has arrived; it is reported once, so the next call starts clean. Nothing published:
 * TIX_OK at once. */
enum tix_rc tix_bus_wait_confirms(struct tix_bus *bus, int timeout_ms, struct tix_err *err);
/* Number of published messages not yet confirmed. */
uint64_t tix_bus_unconfirmed(const struct tix_bus *bus);
/* Handles what the broker sent so far without blocking (records confirms, keeps deliveries for
 * tix_bus_next) and sends a heartbeat when one is due. */
enum tix_rc tix_bus_poll(struct tix_bus *bus, struct tix_err *err);

/* ---- for event loops (the gateway): publish without blocking, learn the outcome later ---- */

/* The socket to watch for readability; call tix_bus_poll when it is readable. */
int tix_bus_fd(const struct tix_bus *bus);
/* The delivery tag of the last published message (1, 2, ...); 0 before the first. */
uint64_t tix_bus_published(const struct tix_bus *bus);
/* True once the broker settled (acked or nacked) the message with delivery tag seq. */
bool tix_bus_is_settled(const struct tix_bus *bus, uint64_t seq);
/* Number of nacks and returns noted since the last call (or tix_bus_wait_confirms), which
 * clears them; the first one's description goes to msg. A caller that saw failures can't tell
 * which settled messages they hit, so it must treat every message settled since its previous
 * call as failed (safe: the client retries with its idempotency key). */
uint64_t tix_bus_take_failures(struct tix_bus *bus, char *msg, size_t size);

/* Starts consuming queue with manual acks and the given prefetch (per consumer, 0..65535,
 * 0 = unlimited). The consumer tag is the queue name, so a bus consumes a queue at most once. */
enum tix_rc tix_bus_consume(struct tix_bus *bus, const char *queue, int prefetch,
                            struct tix_err *err);
/* Starts consuming direct replies (no-ack) so that messages published with
 * reply_to = TIX_BUS_REPLY_TO get their replies on this bus. Call once, before publishing;
 * later calls do nothing. Replies come from tix_bus_next with consumer_tag TIX_BUS_REPLY_TO
 * and must not be acked. */
enum tix_rc tix_bus_enable_replies(struct tix_bus *bus, struct tix_err *err);

/* Waits up to timeout_ms (0 = don't block) for the next delivery (consumed message or reply),
 * in arrival order. TIX_ENOTFOUND when none came in time. Confirms that arrive meanwhile are
 * recorded. On TIX_OK, *out is filled; release it with tix_bus_delivery_deinit. */
enum tix_rc tix_bus_next(struct tix_bus *bus, int timeout_ms, struct tix_bus_delivery *out,
                         struct tix_err *err);
/* Frees what d owns and zeroes it; NULL is a no-op. */
void tix_bus_delivery_deinit(struct tix_bus_delivery *d);

/* Acks a delivery of tix_bus_consume or tix_bus_get (multiple: every one up to delivery_tag).
 * Only sends: an unknown tag closes the channel, reported by a later call. */
enum tix_rc tix_bus_ack(struct tix_bus *bus, uint64_t delivery_tag, bool multiple,
                        struct tix_err *err);
/* Rejects a delivery; requeue = false dead-letters it through the queue's DLX. */
enum tix_rc tix_bus_reject(struct tix_bus *bus, uint64_t delivery_tag, bool requeue,
                           struct tix_err *err);

/* Publishes d's body to the dead-letter exchange (routing key origin_queue, mandatory) with d's
 * message id, correlation id and type, x-tixmo-reason = reason and x-tixmo-queue =
 * origin_queue, and waits up to TIX_BUS_DEAD_LETTER_TIMEOUT_MS for every outstanding confirm.
 * The caller then acks d. */
enum tix_rc tix_bus_dead_letter(struct tix_bus *bus, const struct tix_bus_delivery *d,
                                const char *origin_queue, const char *reason, struct tix_err *err);

/* basic.get with manual ack: fetches one ready message from queue; tix_bus_ack removes it,
 * tix_bus_reject(..., true) or closing the bus puts it back. TIX_ENOTFOUND when the queue is
 * empty (a missing queue is TIX_ENOTFOUND too, and breaks the bus). RabbitMQ refuses basic.get
 * on single-active-consumer quorum queues, so on the partition queues this is TIX_ECONFLICT
 * (405 RESOURCE_LOCKED) and breaks the bus: it is meant for tixmo.dead. */
enum tix_rc tix_bus_get(struct tix_bus *bus, const char *queue, struct tix_bus_delivery *out,
                        struct tix_err *err);
/* Number of ready messages in queue (passive declare); -1 with err on failure (TIX_ENOTFOUND
 * when the queue does not exist). */
long tix_bus_queue_depth(struct tix_bus *bus, const char *queue, struct tix_err *err);
/* Deletes every ready message of queue (not the unacked ones). */
enum tix_rc tix_bus_purge(struct tix_bus *bus, const char *queue, struct tix_err *err);

#endif
