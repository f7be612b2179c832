/* smtp.c - the mailer over SMTP with libcurl (see mailer.h)
 *
 * One easy handle per mail: the envelope (MAIL FROM, RCPT TO), the header lines (From, To,
 * Subject in RFC 2047 when it is not ASCII, Date, Message-ID) and the body as curl_mime: a
 * multipart/mixed of a multipart/alternative (text, HTML) and the attachment (base64).
 * CURLcode and the server's reply code are translated here, once.
 */
#include <curl/curl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tix/buf.h"
#include "tix/mem.h"

#include "mailer.h"

struct smtp {
    char *url, *from;
    int timeout_ms;
};

/* Appends "Subject: <s>", encoded as one RFC 2047 word when s is not printable ASCII. */
static void subject_header(struct tix_buf *b, const char *s)
{
    bool is_ascii = true;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        is_ascii = is_ascii && *p >= 0x20 && *p < 0x7f;
    if (is_ascii) {
        tix_buf_printf(b, "Subject: %s", s);
        return;
    }
    size_t n = strlen(s), size = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *enc = tix_xmalloc(size);
    sodium_bin2base64(enc, size, (const unsigned char *)s, n, sodium_base64_VARIANT_ORIGINAL);
    tix_buf_printf(b, "Subject: =?UTF-8?B?%s?=", enc);
    free(enc);
}

/* The header lines of mail, as a new list. */
static struct curl_slist *headers(const struct smtp *s, const struct tix_mail *mail)
{
    struct tix_buf b;
    tix_buf_init(&b, 0);
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "Date: %a, %d %b %Y %H:%M:%S +0000", &tm);
    struct curl_slist *h = curl_slist_append(NULL, date);
    tix_buf_printf(&b, "From: TixMo <%s>", s->from);
    h = curl_slist_append(h, b.ptr);
    tix_buf_reset(&b);
    tix_buf_printf(&b, "To: <%s>", mail->to);
    h = curl_slist_append(h, b.ptr);
    tix_buf_reset(&b);
    tix_buf_printf(&b, "Message-ID: <%s>", mail->message_id);
    h = curl_slist_append(h, b.ptr);
    tix_buf_reset(&b);
    subject_header(&b, mail->subject);
    h = curl_slist_append(h, b.ptr);
    tix_buf_deinit(&b);
    return curl_slist_append(h, "MIME-Version: 1.0");
}

static void add_text(curl_mime *m, const char *text, const char *type)
{
    curl_mimepart *p = curl_mime_addpart(m);
    curl_mime_data(p, text, CURL_ZERO_TERMINATED);
    curl_mime_type(p, type);
    curl_mime_encoder(p, "quoted-printable");
}

/* The body of mail as MIME parts of handle c. */
static curl_mime *body(CURL *c, const struct tix_mail *mail)
{
    curl_mime *top = curl_mime_init(c), *alt = curl_mime_init(c);
    add_text(alt, mail->text, "text/plain; charset=utf-8");
    if (mail->html != NULL)
        add_text(alt, mail->html, "text/html; charset=utf-8");
    curl_mimepart *p = curl_mime_addpart(top);
    curl_mime_subparts(p, alt);
    curl_mime_type(p, "multipart/alternative");
    const struct tix_mail_attachment *a = mail->attachment;
    if (a != NULL) {
        p = curl_mime_addpart(top);
        curl_mime_data(p, a->data, a->len);
        curl_mime_type(p, a->content_type);
        curl_mime_filename(p, a->filename);
        curl_mime_encoder(p, "base64");
    }
    return top;
}

/* Whether s holds a character that would end a header line or an SMTP command. */
static bool is_unsafe(const char *s)
{
    return s == NULL || s[0] == '\0' || strpbrk(s, "\r\n<>") != NULL;
}

static enum tix_rc smtp_send(void *ctx, const struct tix_mail *mail, struct tix_err *err)
{
    const struct smtp *s = ctx;
    if (is_unsafe(mail->to) || is_unsafe(mail->message_id) || strpbrk(mail->subject, "\r\n"))
        return tix_err_set(err, TIX_EINVAL, "mail", "the recipient, id or subject is malformed");
    CURL *c = curl_easy_init();
    char from[300], to[300];
    snprintf(from, sizeof(from), "<%s>", s->from);
    snprintf(to, sizeof(to), "<%s>", mail->to);
    struct curl_slist *rcpt = curl_slist_append(NULL, to), *h = headers(s, mail);
    curl_mime *mime = body(c, mail);
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    long reply = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply);
    curl_mime_free(mime);
    curl_slist_free_all(h);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    if (cc == CURLE_OK)
        return TIX_OK;
    return tix_err_set(err, reply >= 500 ? TIX_EINVAL : TIX_ETRANSIENT, "smtp",
                       "smtp: %s (reply %ld)", curl_easy_strerror(cc), reply);
}

static void smtp_destroy(void *ctx)
{
    struct smtp *s = ctx;
    if (s == NULL)
        return;
    free(s->url);
    free(s->from);
    free(s);
}

void tix_smtp_mailer_init(struct tix_mailer *m, const struct tix_smtp_options *o)
{
    struct smtp *s = tix_xcalloc(1, sizeof(*s));
    s->url = tix_xstrdup(o->url);
    s->from = tix_xstrdup(o->from);
    s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 15000;
    *m = (struct tix_mailer){.name = "smtp", .ctx = s, .send = smtp_send, .destroy = smtp_destroy};
}
