/* worker.c - the email worker's loop and its handlers (see worker.h)
 *
 * One thread, one broker connection, one Postgres connection. Deliveries are handled one at a
 * time; each ends acked (sent, skipped, already sent, or dead-lettered), returned to the queue
 * after TIX_EMAIL_TRIES transient failures, or unacked after a broker failure (redelivered to
 * whoever consumes the queue next). Handlers never trust the event: every field they use is
 * checked, and personal data (addresses, names, tokens) never reaches a log line.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/consumer.h"
#include "tix/db.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/log.h"
#include "tix/money.h"
#include "tix/pii.h"
#include "tix/ticket_pdf.h"
#include "tix/ticket_sign.h"

#include "compose.h"
#include "worker.h"

#define PREFETCH       8
#define BACKOFF_MAX_MS 10000

struct worker {
    struct tix_consumer c; /* first: settle gets it */
    const struct tix_config *cfg;
    const struct tix_mailer *mailer;
    uint8_t pii_key[TIX_PII_KEY_BYTES];
    uint8_t ticket_master[TIX_TICKET_MASTER_LEN];
};

/* Whom a mail goes to, opened with their key (wiped by recipient_wipe). */
struct recipient {
    const char *id;
    bool is_erased;
    char email[TIX_PII_EMAIL_MAX + 1];
    char name[256];
    uint8_t key[TIX_PII_KEY_BYTES];
};

/* The event being handled and the mail it leads to. */
struct job {
    json_t *root;
    const json_t *data;
    const char *event_id;
    const struct kind *kind;
    char message_id[160];
    struct tix_mail_text text;
    struct tix_buf pdf;
    char filename[96];
    char to[TIX_PII_EMAIL_MAX + 1]; /* "" : the recipient's own address */
};

struct kind {
    const char *event_type;
    const char *name; /* email_messages.kind, the message id's prefix */
    const char *recipient_field;
    enum tix_rc (*compose)(struct worker *w, struct job *j, const struct recipient *r,
                           struct tix_err *err);
};

/* ---- the recipient ------------------------------------------------------------------------- */

/* Opens column col of row 0 (a ciphertext of r->id) into out; "" when NULL. */
static enum tix_rc open_cell(const PGresult *res, int col, const struct recipient *r, char *out,
                             size_t size, struct tix_err *err)
{
    out[0] = '\0';
    if (PQgetisnull(res, 0, col))
        return TIX_OK;
    char *plain = NULL;
    enum tix_rc rc = tix_pii_open(r->key, r->id, PQgetvalue(res, 0, col), &plain, err);
    if (rc == TIX_OK)
        snprintf(out, size, "%s", plain);
    if (plain != NULL)
        sodium_memzero(plain, strlen(plain));
    free(plain);
    return rc;
}

/* Reads r->id's address, name and key; r->is_erased when the subject was erased. TIX_ETRANSIENT
 * while the users read model lacks them. */
static enum tix_rc load_recipient(struct worker *w, struct recipient *r, struct tix_err *err)
{
    const char *p[] = {r->id};
    PGresult *res = NULL;
    enum tix_rc rc =
        tix_db_exec(w->c.db,
                    "SELECT sk.wrapped_key, sk.subject_id IS NOT NULL, u.email_enc, u.name_enc,"
                    " COALESCE(u.is_erased, false) FROM (SELECT $1::text AS id) q"
                    " LEFT JOIN subject_keys sk ON sk.subject_id = q.id"
                    " LEFT JOIN rm.users u ON u.id::text = q.id",
                    1, p, &res, err);
    if (rc != TIX_OK)
        return rc;
    bool has_key_row = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    r->is_erased =
        strcmp(PQgetvalue(res, 0, 4), "t") == 0 || (has_key_row && PQgetisnull(res, 0, 0));
    if (!r->is_erased && (!has_key_row || PQgetisnull(res, 0, 2)))
        rc = tix_err_set(err, TIX_ETRANSIENT, "user", "the user is not in the read model yet");
    if (rc == TIX_OK && !r->is_erased)
        rc = tix_pii_unwrap_key(w->pii_key, PQgetvalue(res, 0, 0), r->key, err);
    if (rc == TIX_OK && !r->is_erased)
        rc = open_cell(res, 2, r, r->email, sizeof(r->email), err);
    if (rc == TIX_OK && !r->is_erased)
        rc = open_cell(res, 3, r, r->name, sizeof(r->name), err);
    PQclear(res);
    if (rc == TIX_EINVAL)
        rc = TIX_EINTERNAL; /* our own ciphertext does not open: not the event's fault */
    return rc;
}

static void recipient_wipe(struct recipient *r)
{
    sodium_memzero(r->email, sizeof(r->email));
    sodium_memzero(r->name, sizeof(r->name));
    sodium_memzero(r->key, sizeof(r->key));
}

/* ---- composing ----------------------------------------------------------------------------- */

static enum tix_rc token_mail(struct worker *w, struct job *j, const struct recipient *r,
                              struct tix_err *err)
{
    const char *sealed = tix_json_str(j->data, "token_enc");
    char *token = NULL;
    if (sealed == NULL || tix_pii_open(r->key, r->id, sealed, &token, NULL) != TIX_OK)
        return tix_err_set(err, TIX_EINVAL, "token_enc", "the event's token does not open");
    bool is_reset = strcmp(j->kind->name, "password_reset") == 0;
    tix_compose_token_mail(is_reset, w->cfg->app_url, token, r->name, &j->text);
    sodium_memzero(token, strlen(token));
    free(token);
    return TIX_OK;
}

/* The ticket ids the event names, as a Postgres array literal into out; their count. */
static size_t ticket_ids(const struct job *j, struct tix_buf *out)
{
    const char *one = tix_json_str(j->data, "new_ticket_id");
    const json_t *list = json_object_get(j->data, "tickets");
    size_t n = one != NULL ? 1 : json_array_size(list);
    tix_buf_puts(out, "{");
    for (size_t i = 0; i < n; i++) {
        const char *id = one != NULL ? one : tix_json_str(json_array_get(list, i), "ticket_id");
        if (!tix_uuid_is_valid(id))
            return 0;
        tix_buf_printf(out, "%s%s", i > 0 ? "," : "", id);
    }
    tix_buf_puts(out, "}");
    return n;
}

/* The order's total as "EUR 45.00" (or "JPY 1200": the currency's own minor unit) into out. */
static enum tix_rc order_total(struct worker *w, const char *order, char *out, size_t size,
                               struct tix_err *err)
{
    const char *p[] = {order};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec(w->c.db,
                                 "SELECT COALESCE(currency, ''), total_minor FROM rm.orders "
                                 "WHERE id = $1::uuid",
                                 1, p, &res, err);
    if (rc != TIX_OK)
        return rc;
    if (PQntuples(res) == 1) {
        tix_money_format(strtoll(PQgetvalue(res, 0, 1), NULL, 10), PQgetvalue(res, 0, 0), out,
                         size);
    } else {
        rc = tix_err_set(err, TIX_ETRANSIENT, "order", "the order is not in the read model yet");
    }
    PQclear(res);
    return rc;
}

/* Reads the tickets the event names, renders their PDF and composes the mail. */
static enum tix_rc render_tickets(struct worker *w, struct job *j, const struct recipient *r,
                                  const PGresult *res, struct tix_err *err)
{
    struct tix_ticket_pdf_doc doc;
    enum tix_rc rc = tix_ticket_pdf_doc_init(&doc, res, w->pii_key, w->ticket_master, err);
    if (rc != TIX_OK)
        return rc;
    rc = tix_ticket_pdf_render(doc.items, doc.n, &j->pdf, err);
    bool is_transfer = strcmp(j->kind->name, "ticket_transfer") == 0;
    char total[64] = "";
    const char *order = tix_json_str(j->data, "order_id");
    if (rc == TIX_OK && !is_transfer)
        rc = order_total(w, order, total, sizeof(total), err);
    if (rc == TIX_OK) {
        tix_compose_tickets_mail(is_transfer, r->name, doc.items[0].order_number, total, &doc,
                                 &j->text);
        snprintf(j->filename, sizeof(j->filename), "%s%s.pdf", is_transfer ? "ticket-" : "tickets-",
                 is_transfer ? doc.items[0].ticket_id : doc.items[0].order_number);
    }
    tix_ticket_pdf_doc_deinit(&doc);
    return rc;
}

static enum tix_rc tickets_mail(struct worker *w, struct job *j, const struct recipient *r,
                                struct tix_err *err)
{
    struct tix_buf ids;
    tix_buf_init(&ids, 0);
    size_t n = ticket_ids(j, &ids);
    if (n == 0 || (strcmp(j->kind->name, "order_confirmation") == 0 &&
                   !tix_uuid_is_valid(tix_json_str(j->data, "order_id")))) {
        tix_buf_deinit(&ids);
        return tix_err_set(err, TIX_EINVAL, "data", "the event lacks UUID ticket or order ids");
    }
    const char *p[] = {ids.ptr};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec(
        w->c.db, TIX_TICKET_PDF_SELECT " WHERE k.id = ANY($1::uuid[]) ORDER BY k.issued_at, k.id",
        1, p, &res, err);
    tix_buf_deinit(&ids);
    if (rc != TIX_OK)
        return rc;
    if ((size_t)PQntuples(res) < n)
        rc = tix_err_set(err, TIX_ETRANSIENT, "tickets",
                         "the tickets are not in the read model yet");
    else
        rc = render_tickets(w, j, r, res, err);
    PQclear(res);
    return rc;
}

/* A ticket offered to an address: the address is sealed under the sender's key (the recipient
 * r here is the sender), so erasing the sender erases it too. */
static enum tix_rc offer_mail(struct worker *w, struct job *j, const struct recipient *r,
                              struct tix_err *err)
{
    const char *sealed = tix_json_str(j->data, "to_email_sealed");
    const char *ticket = tix_json_str(j->data, "ticket_id");
    char *to = NULL;
    if (sealed == NULL || !tix_uuid_is_valid(ticket) ||
        tix_pii_open(r->key, r->id, sealed, &to, NULL) != TIX_OK)
        return tix_err_set(err, TIX_EINVAL, "to_email_sealed",
                           "the event's address or ticket is missing or does not open");
    snprintf(j->to, sizeof(j->to), "%s", to);
    sodium_memzero(to, strlen(to));
    free(to);
    const char *p[] = {ticket};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec(w->c.db,
                                 "SELECT e.name FROM rm.tickets k JOIN rm.events e ON e.id = "
                                 "k.event_id WHERE k.id = $1::uuid",
                                 1, p, &res, err);
    if (rc == TIX_OK && PQntuples(res) != 1)
        rc = tix_err_set(err, TIX_ETRANSIENT, "ticket", "the ticket is not in the read model yet");
    if (rc == TIX_OK)
        tix_compose_offer_mail(w->cfg->app_url, r->name, PQgetvalue(res, 0, 0), &j->text);
    PQclear(res);
    return rc;
}

static const struct kind kinds[] = {
    {"user.email_verification_requested", "verify_email", "user_id", token_mail},
    {"user.password_reset_requested", "password_reset", "user_id", token_mail},
    {"order.paid", "order_confirmation", NULL, tickets_mail},
    {"ticket.transferred", "ticket_transfer", "to_user_id", tickets_mail},
    {"ticket.transfer_offered", "transfer_offer", "from_user_id", offer_mail},
};

/* ---- the record of sent mails -------------------------------------------------------------- */

/* The status of j's record into out ("" when none: never tried). */
static enum tix_rc recorded_status(struct worker *w, const struct job *j, char *out, size_t size,
                                   struct tix_err *err)
{
    const char *p[] = {j->message_id};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec(w->c.db, "SELECT status FROM email_messages WHERE message_id = $1",
                                 1, p, &res, err);
    if (rc == TIX_OK)
        snprintf(out, size, "%s", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return rc;
}

/* Records j as status: 'skipped' for good, or 'sending' before a hand-over to SMTP (a row
 * 'sending' already counts one more attempt). A final row stays as it is. */
static enum tix_rc record(struct worker *w, const struct job *j, const char *subject,
                          const char *status, struct tix_err *err)
{
    const char *p[] = {j->message_id, j->kind->name, j->event_id,
                       subject,       status,        j->pdf.len > 0 ? "1" : "0"};
    return tix_db_exec(w->c.db,
                       "INSERT INTO email_messages (message_id, kind, event_id, subject_id, "
                       "status, attachments) VALUES ($1, $2, $3::uuid, $4, $5, $6::int) "
                       "ON CONFLICT (message_id) DO UPDATE SET status = EXCLUDED.status, "
                       "attempts = email_messages.attempts + (EXCLUDED.status = 'sending')::int, "
                       "attachments = EXCLUDED.attachments WHERE email_messages.status = "
                       "'sending'",
                       6, p, NULL, err);
}

/* Marks j sent once the server accepted it. A Postgres failure is waited out here, never by
 * sending again: only a crash (or a stop) before this commits leaves the row 'sending'. */
static enum tix_rc record_sent(struct worker *w, const struct job *j, struct tix_err *err)
{
    const char *p[] = {j->message_id};
    int backoff = 250;
    for (;;) {
        enum tix_rc rc = tix_db_exec(w->c.db,
                                     "UPDATE email_messages SET status = 'sent', sent_at = now() "
                                     "WHERE message_id = $1 AND status = 'sending'",
                                     1, p, NULL, err);
        if (rc != TIX_ETRANSIENT || w->c.is_bus_broken || !tix_consumer_pause_ms(&w->c, backoff))
            return rc;
        tix_log_warn("mail sent but not recorded yet, retrying the record",
                     "message_id=%s detail=\"%s\"", j->message_id, err->msg);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}

/* ---- one delivery -------------------------------------------------------------------------- */

/* The subject the mail goes to: the kind's field, or the holder of an order's first ticket. */
static const char *recipient_of(const struct job *j)
{
    if (j->kind->recipient_field != NULL)
        return tix_json_str(j->data, j->kind->recipient_field);
    return tix_json_str(json_array_get(json_object_get(j->data, "tickets"), 0), "holder_id");
}

/* Composes the mail of job j to r, records it 'sending', sends it, records it 'sent'. */
static enum tix_rc deliver(struct worker *w, struct job *j, struct recipient *r,
                           struct tix_err *err)
{
    enum tix_rc rc = j->kind->compose(w, j, r, err);
    if (rc == TIX_OK)
        rc = record(w, j, r->id, "sending", err);
    if (rc != TIX_OK)
        return rc;
    struct tix_mail_attachment a = {j->filename, "application/pdf", j->pdf.ptr, j->pdf.len};
    struct tix_mail mail = {j->message_id,   j->to[0] != '\0' ? j->to : r->email,
                            j->text.subject, j->text.text,
                            j->text.html,    j->pdf.len > 0 ? &a : NULL};
    rc = w->mailer->send(w->mailer->ctx, &mail, err);
    if (rc == TIX_OK)
        rc = record_sent(w, j, err);
    if (rc == TIX_OK)
        tix_log_info("mail sent", "kind=%s message_id=%s subject_id=%s attachment_bytes=%zu",
                     j->kind->name, j->message_id, r->id, j->pdf.len);
    return rc;
}

static enum tix_rc run_job(struct worker *w, struct job *j, struct tix_err *err)
{
    struct recipient r = {.id = recipient_of(j)};
    if (!tix_uuid_is_valid(j->event_id) || r.id == NULL || r.id[0] == '\0' ||
        strlen(r.id) > TIX_PII_SUBJECT_MAX)
        return tix_err_set(err, TIX_EINVAL, "data", "the event lacks its id or recipient");
    snprintf(j->message_id, sizeof(j->message_id), "%s.%s@tixmo", j->kind->name, j->event_id);
    char status[16];
    enum tix_rc rc = recorded_status(w, j, status, sizeof(status), err);
    if (rc != TIX_OK)
        return rc;
    if (strcmp(status, "sent") == 0 || strcmp(status, "skipped") == 0) {
        tix_log_info("mail already sent", "message_id=%s status=%s", j->message_id, status);
        return TIX_OK;
    }
    if (strcmp(status, "sending") == 0)
        tix_log_warn("mail handed over before without a record of its outcome: sending it "
                     "again under the same Message-ID",
                     "message_id=%s", j->message_id);
    rc = load_recipient(w, &r, err);
    if (rc == TIX_OK && r.is_erased) {
        tix_log_info("mail skipped: the subject was erased", "message_id=%s", j->message_id);
        rc = record(w, j, r.id, "skipped", err);
    } else if (rc == TIX_OK) {
        rc = deliver(w, j, &r, err);
    }
    recipient_wipe(&r);
    return rc;
}

static enum tix_rc handle(struct worker *w, const struct tix_bus_delivery *d, struct tix_err *err)
{
    struct job j = {0};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        j.kind = strcmp(d->routing_key, kinds[i].event_type) == 0 ? &kinds[i] : j.kind;
    if (j.kind == NULL)
        return TIX_OK; /* bound by someone else: not ours */
    j.root = tix_json_parse(d->body, d->body_len, err);
    if (j.root == NULL)
        return TIX_EINVAL;
    j.data = json_object_get(j.root, "data");
    j.event_id = tix_json_str(j.root, "event_id");
    tix_buf_init(&j.pdf, 0);
    enum tix_rc rc = run_job(w, &j, err);
    tix_mail_text_deinit(&j.text);
    tix_buf_deinit(&j.pdf);
    json_decref(j.root);
    return rc;
}

/* Handles d until it is done or dead-lettered; after TIX_EMAIL_TRIES transient failures it
 * goes back to the queue (its delivery count grows towards the limit). */
static void settle(struct tix_consumer *c, const struct tix_bus_delivery *d)
{
    struct worker *w = (struct worker *)c;
    struct tix_err err;
    int backoff = 250;
    for (int tries = 1;; tries++) {
        tix_err_clear(&err);
        enum tix_rc rc = handle(w, d, &err);
        if (rc == TIX_OK || rc == TIX_EINVAL || rc == TIX_EINTERNAL) {
            tix_consumer_finish(c, d, rc, &err);
            return;
        }
        tix_log_warn("mail not sent yet, retrying",
                     "type=%s message_id=%s try=%d detail=\"%s\" wait_ms=%d", d->routing_key,
                     d->message_id ? d->message_id : "-", tries, err.msg, backoff);
        if (c->is_bus_broken || !tix_consumer_pause_ms(c, backoff) || c->is_bus_broken)
            return; /* unacked: redelivered after the reconnect */
        if (tries >= TIX_EMAIL_TRIES) {
            if (tix_bus_reject(c->bus, d->delivery_tag, true, &err) != TIX_OK)
                c->is_bus_broken = true;
            return;
        }
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}

enum tix_rc tix_email_run(const struct tix_config *cfg, const struct tix_mailer *mailer,
                          volatile sig_atomic_t *stop, struct tix_err *err)
{
    struct worker w = {.c = {.cfg = cfg,
                             .service = "tixmo-email",
                             .queue = TIX_EMAIL_QUEUE,
                             .prefetch = PREFETCH,
                             .stop = stop,
                             .settle_cb = settle},
                       .cfg = cfg,
                       .mailer = mailer};
    enum tix_rc rc = tix_pii_parse_key(cfg->pii_key, w.pii_key, err);
    if (rc == TIX_OK)
        rc = tix_ticket_master_parse(cfg->ticket_key, w.ticket_master, err);
    if (rc != TIX_OK)
        return rc;
    tix_log_info("email worker started", "mailer=%s queue=%s", mailer->name, TIX_EMAIL_QUEUE);
    tix_consumer_run(&w.c);
    sodium_memzero(w.pii_key, sizeof(w.pii_key));
    sodium_memzero(w.ticket_master, sizeof(w.ticket_master));
    tix_log_info("email worker stopped", NULL);
    return TIX_OK;
}
