/* compose.c - the email worker's mails (see compose.h) */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "tix/buf.h"
#include "tix/mem.h"

#include "compose.h"

/* Appends s with &, <, >, " and ' escaped. */
static void html_escaped(struct tix_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        const char *e = *s == '&'    ? "&amp;"
                        : *s == '<'  ? "&lt;"
                        : *s == '>'  ? "&gt;"
                        : *s == '"'  ? "&quot;"
                        : *s == '\'' ? "&#39;"
                                     : NULL;
        if (e != NULL)
            tix_buf_puts(b, e);
        else
            tix_buf_append(b, s, 1);
    }
}

/* Appends "<p>Hello NAME,</p>" (or "Hello,") to html and the plain line to text. */
static void greeting(struct tix_buf *text, struct tix_buf *html, const char *name)
{
    bool has_name = name != NULL && name[0] != '\0';
    tix_buf_printf(text, "Hello%s%s,\n\n", has_name ? " " : "", has_name ? name : "");
    tix_buf_puts(html, "<!DOCTYPE html><html><body style=\"font-family:sans-serif\"><p>Hello");
    if (has_name) {
        tix_buf_puts(html, " ");
        html_escaped(html, name);
    }
    tix_buf_puts(html, ",</p>");
}

/* Moves the built subject, text and HTML into out and releases the buffers. */
static void take_mail(struct tix_buf *subject, struct tix_buf *text, struct tix_buf *html,
                      struct tix_mail_text *out)
{
    out->subject = tix_buf_steal(subject);
    out->text = tix_buf_steal(text);
    out->html = tix_buf_steal(html);
    tix_buf_deinit(subject);
    tix_buf_deinit(text);
    tix_buf_deinit(html);
}

void tix_compose_token_mail(bool is_reset, const char *app_url, const char *token, const char *name,
                            struct tix_mail_text *out)
{
    struct tix_buf text, html, link;
    tix_buf_init(&text, 0);
    tix_buf_init(&html, 0);
    tix_buf_init(&link, 0);
    char *escaped = curl_easy_escape(NULL, token, 0);
    tix_buf_printf(&link, "%s/%s?token=%s", app_url, is_reset ? "reset-password" : "verify-email",
                   escaped);
    curl_free(escaped);
    const char *what = is_reset ? "choose a new password for your TixMo account"
                                : "confirm the email address of your TixMo account";
    greeting(&text, &html, name);
    tix_buf_printf(&text, "Please %s by opening this link:\n\n%s\n\n", what, link.ptr);
    tix_buf_puts(&text, "If you did not ask for this, ignore this mail.\n\nTixMo\n");
    tix_buf_printf(&html, "<p>Please %s:</p><p><a href=\"", what);
    html_escaped(&html, link.ptr);
    tix_buf_printf(&html, "\">%s</a></p>", is_reset ? "Choose a new password" : "Confirm my email");
    tix_buf_puts(&html, "<p>If you did not ask for this, ignore this mail.</p></body></html>");
    out->subject =
        tix_xstrdup(is_reset ? "Reset your TixMo password" : "Confirm your email address");
    out->text = tix_buf_steal(&text);
    out->html = tix_buf_steal(&html);
    tix_buf_deinit(&text);
    tix_buf_deinit(&html);
    tix_buf_deinit(&link);
}

/* One ticket as a text line and an HTML list item. */
static void ticket_line(struct tix_buf *text, struct tix_buf *html,
                        const struct tix_ticket_pdf_item *it)
{
    tix_buf_printf(text, "- %s, %s (ticket %s)\n", it->ticket_type, it->place, it->ticket_id);
    tix_buf_puts(html, "<li>");
    html_escaped(html, it->ticket_type);
    tix_buf_puts(html, ", ");
    html_escaped(html, it->place);
    tix_buf_printf(html, " <small>(ticket %s)</small></li>", it->ticket_id);
}

void tix_compose_tickets_mail(bool is_transfer, const char *name, const char *order_number,
                              const char *total, const struct tix_ticket_pdf_doc *doc,
                              struct tix_mail_text *out)
{
    const struct tix_ticket_pdf_item *first = &doc->items[0];
    struct tix_buf text, html, subject;
    tix_buf_init(&text, 0);
    tix_buf_init(&html, 0);
    tix_buf_init(&subject, 0);
    greeting(&text, &html, name);
    if (is_transfer) {
        tix_buf_printf(&subject, "Tickets for %s", first->event_name);
        tix_buf_printf(&text, "You were given %zu ticket(s) for %s, %s, %s:\n\n", doc->n,
                       first->event_name, first->venue, first->starts);
        tix_buf_puts(&html, "<p>You were given tickets for <b>");
    } else {
        tix_buf_printf(&subject, "Your order %s: %s", order_number, first->event_name);
        tix_buf_printf(&text,
                       "Thank you for your order %s (%s). Your %zu ticket(s) for %s, %s, %s:\n\n",
                       order_number, total, doc->n, first->event_name, first->venue, first->starts);
        tix_buf_puts(&html, "<p>Thank you for your order <b>");
        html_escaped(&html, order_number);
        tix_buf_puts(&html, "</b> (");
        html_escaped(&html, total);
        tix_buf_puts(&html, "). Your tickets for <b>");
    }
    html_escaped(&html, first->event_name);
    tix_buf_puts(&html, "</b>, ");
    html_escaped(&html, first->venue);
    tix_buf_puts(&html, ", ");
    html_escaped(&html, first->starts);
    tix_buf_puts(&html, ":</p><ul>");
    for (size_t i = 0; i < doc->n; i++)
        ticket_line(&text, &html, &doc->items[i]);
    tix_buf_puts(&text, "\nThe attached PDF holds every ticket with its QR code: show it at the "
                        "door.\n\nTixMo\n");
    tix_buf_puts(&html, "</ul><p>The attached PDF holds every ticket with its QR code: show it at "
                        "the door.</p></body></html>");
    take_mail(&subject, &text, &html, out);
}

void tix_compose_offer_mail(const char *app_url, const char *sender, const char *event,
                            struct tix_mail_text *out)
{
    struct tix_buf text, html, subject;
    tix_buf_init(&text, 0);
    tix_buf_init(&html, 0);
    tix_buf_init(&subject, 0);
    const char *who = sender != NULL && sender[0] != '\0' ? sender : "Somebody";
    greeting(&text, &html, "");
    tix_buf_printf(&subject, "%s sent you a ticket for %s", who, event);
    tix_buf_printf(&text,
                   "%s sent you a ticket for %s. To accept it, sign in to TixMo with this email "
                   "address (or create an account with it) and open:\n\n%s/ticket-transfers\n\n"
                   "The ticket becomes yours, with a new QR code, once you accept it.\n\nTixMo\n",
                   who, event, app_url);
    tix_buf_puts(&html, "<p>");
    html_escaped(&html, who);
    tix_buf_puts(&html, " sent you a ticket for <b>");
    html_escaped(&html, event);
    tix_buf_puts(&html, "</b>. To accept it, sign in to TixMo with this email address (or create "
                        "an account with it):</p><p><a href=\"");
    html_escaped(&html, app_url);
    tix_buf_puts(&html, "/ticket-transfers\">See the ticket and accept it</a></p><p>The ticket "
                        "becomes yours, with a new QR code, once you accept it.</p></body></html>");
    take_mail(&subject, &text, &html, out);
}

void tix_mail_text_deinit(struct tix_mail_text *t)
{
    free(t->subject);
    free(t->text);
    free(t->html);
    t->subject = t->text = t->html = NULL;
}
