/* worker.h - tixmo-payment: the sale's payments against a payment provider
 *
 * The worker consumes its own durable queue, tixmo.payments (quorum, single active consumer,
 * dead-letter exchange tixmo.dlx), bound to the events exchange tixmo.events for the sale's
 * payment events (events are published with their type as routing key):
 *
 *   order.placed          -> row in payments, PaymentIntent (Idempotency-Key
 *                            tixmo-order-<order_id>), its id and client secret stored, then the
 *                            command order.attach_payment (id payments.attach.<order_id>); an
 *                            intent Stripe refuses, or fails for TIXMO_PAYMENT_INTENT_ROUNDS
 *                            rounds (status 'retrying' between them), leaves the row 'failed'
 *                            and sends order.cancel with the reason (id
 *                            payments.intent_failed.<order_id>): the seats come back at once
 *   order.refund_required -> row in payment_refunds keyed by the event's request_id (else the
 *                            order id), refund (Idempotency-Key tixmo-refund-<key>), refund id
 *                            stored, then the command order.mark_refunded (id
 *                            payments.refund.<key>); a refund Stripe refuses for good sends
 *                            order.mark_refund_failed (id payments.refund_failed.<key>)
 *   order.placed of a total of 0 (a free order, paid already) -> nothing
 *   order.paid / order.payment_failed / order.refunded -> the row's status follows
 *
 * Delivery is at least once: every step is idempotent (ON CONFLICT, the idempotency keys, the
 * derived command ids the processor deduplicates), and a delivery is acked only after the
 * command it leads to was confirmed by the broker. A Stripe failure after the client's short
 * retries sets the delivery aside: republished (confirmed) to the delay queue of its round
 * (TIX_BUS_PAYMENT_DELAYS, 1 s doubling to 60 s), then acked, so the queue goes on; the broker
 * brings it back to tixmo.payments for the next round with the same idempotency key. A refund
 * gives up after TIXMO_REFUND_ATTEMPTS rounds (order.mark_refund_failed, stripe_unavailable),
 * an intent after TIXMO_PAYMENT_INTENT_ROUNDS (order.cancel). Postgres failures keep the
 * delivery and try again in place after a backoff; a broker failure reconnects and the broker
 * redelivers. A malformed event is dead-lettered with the reason and acked; what Stripe refuses
 * for good is recorded on the row and answered with a command (order.cancel,
 * order.mark_refund_failed).
 */
#ifndef TIX_WORKERS_PAYMENT_WORKER_H
#define TIX_WORKERS_PAYMENT_WORKER_H

#include <signal.h>

#include "tix/bus.h"
#include "tix/config.h"
#include "tix/rc.h"

#include "provider.h"

#define TIX_PAYMENT_QUEUE TIX_BUS_PAYMENTS_QUEUE
#define TIX_PAYMENT_ACTOR "system:payments"

/* Runs until *stop is set; reconnects to the broker and Postgres as needed. Uses provider
 * (borrowed) for every Stripe call. Returns TIX_OK after a requested stop. */
enum tix_rc tix_payment_run(const struct tix_config *cfg, const struct tix_payment_provider *pv,
                            volatile sig_atomic_t *stop, struct tix_err *err);

#endif
