/* mailer.h - what the email worker needs from a mail service, as function pointers
 *
 * The worker sends through this interface only, so a stand-in that speaks SMTP (MailDev in
 * tests and dev) or another transport can take its place. A mail has a plain text body, an
 * optional HTML alternative and at most one attachment.
 *
 * Errors: TIX_ETRANSIENT when the server could not be reached, timed out or answered 4xx
 * (try again later: the worker records nothing until a send succeeded); TIX_EINVAL when it
 * refused the mail for good (5xx: a bad recipient, a mail too large). err->msg never holds the
 * recipient's address.
 *
 * A mailer is used by one thread at a time.
 */
#ifndef TIX_WORKERS_EMAIL_MAILER_H
#define TIX_WORKERS_EMAIL_MAILER_H

#include <stddef.h>

#include "tix/rc.h"

struct tix_mail_attachment {
    const char *filename;     /* "tickets-ABCD-000001.pdf" */
    const char *content_type; /* "application/pdf" */
    const char *data;
    size_t len;
};

/* A mail; every pointer borrowed for the call. */
struct tix_mail {
    const char *message_id;                       /* "kind.event@tixmo", sent as Message-ID <...> */
    const char *to;                               /* a normalized address */
    const char *subject;                          /* UTF-8 */
    const char *text;                             /* UTF-8 plain text */
    const char *html;                             /* UTF-8 HTML alternative, or NULL */
    const struct tix_mail_attachment *attachment; /* or NULL */
};

struct tix_mailer {
    const char *name;
    void *ctx;
    enum tix_rc (*send)(void *ctx, const struct tix_mail *mail, struct tix_err *err);
    void (*destroy)(void *ctx);
};

/* Settings of the SMTP implementation; strings copied. */
struct tix_smtp_options {
    const char *url;  /* smtp://host:port or smtps://host:port */
    const char *from; /* the sender's address */
    int timeout_ms;   /* one whole conversation */
};

/* Fills m with the SMTP implementation (libcurl: MAIL FROM, RCPT TO, a MIME message). Call
 * curl_global_init once per process before. Release with m->destroy(m->ctx). */
void tix_smtp_mailer_init(struct tix_mailer *m, const struct tix_smtp_options *o);

#endif
