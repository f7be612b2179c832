/* worker.h - tixmo-email: the mails the platform sends, through a mailer (SMTP)
 *
 * The worker consumes its own durable queue, tixmo.emails (quorum, single active consumer,
 * dead-letter exchange tixmo.dlx), bound to the events exchange tixmo.events for:
 *
 *   user.email_verification_requested -> "Confirm your email address", a link with the token
 *   user.password_reset_requested     -> "Reset your TixMo password", a link with the token
 *   order.paid                        -> the buyer's order confirmation (text + HTML) with one
 *                                        PDF holding every ticket of the order
 *   ticket.transferred                -> the recipient's ticket as a PDF
 *   ticket.transfer_offered           -> the offer, to the address it was made to
 *
 * Tokens travel in the log sealed under the user's personal-data key (token_enc); addresses and
 * names are read from the users read model and opened with the same key. An erased subject
 * gets nothing (recorded as skipped). Tickets are read from the sale's read model
 * (lib/ticket_pdf.h); a user or a ticket the projector has not written yet is waited for.
 *
 * Delivery is at least once, one mail per event: each mail's id is derived from the event
 * ("<kind>.<event id>@tixmo", also its Message-ID), looked up in email_messages first ('sent'
 * or 'skipped': acked without a mail), recorded 'sending' before the SMTP server gets the mail
 * and 'sent' once it took it (that mark is retried alone on a Postgres failure). Only a crash
 * between the server's answer and the mark leaves 'sending': the redelivered event then sends
 * the mail again under the same Message-ID, which lets receivers fold the copies. A transient
 * failure (SMTP down or 4xx, Postgres, a row not projected yet) is retried with a backoff (250 ms
 * doubling to 10 s) up to TIX_EMAIL_TRIES times, then the delivery is returned to the queue (nack,
 * requeue); the queue's delivery limit dead-letters it in the end. A permanent failure (a malformed
 * event, SMTP 5xx) is dead-lettered with the reason at once.
 */
#ifndef TIX_WORKERS_EMAIL_WORKER_H
#define TIX_WORKERS_EMAIL_WORKER_H

#include <signal.h>

#include "tix/bus.h"
#include "tix/config.h"
#include "tix/rc.h"

#include "mailer.h"

#define TIX_EMAIL_QUEUE TIX_BUS_EMAILS_QUEUE
#define TIX_EMAIL_TRIES 8

/* Runs until *stop is set; reconnects to the broker and Postgres as needed. Sends through
 * mailer (borrowed). Returns TIX_OK after a requested stop. */
enum tix_rc tix_email_run(const struct tix_config *cfg, const struct tix_mailer *mailer,
                          volatile sig_atomic_t *stop, struct tix_err *err);

#endif
