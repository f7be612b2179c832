/* compose.h - the email worker's mails: subject, plain text and HTML, from what it read
 *
 * Pure: no I/O, no clock. Every value put into HTML is escaped. Results are owned by the
 * struct tix_mail_text (release with tix_mail_text_deinit).
 */
#ifndef TIX_WORKERS_EMAIL_COMPOSE_H
#define TIX_WORKERS_EMAIL_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>

#include "tix/ticket_pdf.h"

struct tix_mail_text {
    char *subject, *text, *html;
};

/* The verify-email (is_reset false) or password-reset mail: a link
 * <app_url>/verify-email?token=<token> or <app_url>/reset-password?token=<token>, the token
 * URL-escaped. name may be "" (no greeting by name). */
void tix_compose_token_mail(bool is_reset, const char *app_url, const char *token, const char *name,
                            struct tix_mail_text *out);

/* The order confirmation (is_transfer false: order_number and total, e.g. "EUR 45.00") or the
 * tickets a transfer gave the recipient, listing the tickets of doc (at least one). */
void tix_compose_tickets_mail(bool is_transfer, const char *name, const char *order_number,
                              const char *total, const struct tix_ticket_pdf_doc *doc,
                              struct tix_mail_text *out);

/* The mail to the address a ticket was offered to: sender (may be "") sent a ticket for event;
 * a link <app_url>/ticket-transfers to sign in or register with that address and accept it. */
void tix_compose_offer_mail(const char *app_url, const char *sender, const char *event,
                            struct tix_mail_text *out);

void tix_mail_text_deinit(struct tix_mail_text *t);

#endif
