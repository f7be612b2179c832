/* http_tickets.c - tickets: the holder's wallet, and the door (validation and scans)
 *
 * A ticket is readable by its holder and by members of the organization that owns its event
 * with the scanner role or higher; anybody else gets 404. Checking a ticket in sends
 * ticket.check_in (keyed by the event) with the scanner's device id and waits for the decision:
 * 200 when admitted (or let out), 409 "already-used" naming when and by which device it was
 * used. Only scanners (or promoters, admins, owners) of the event's organization may do it:
 * POST /events/{eventId}/scan is an event route (the route table checks the role), POST
 * /tickets/{id}/validate checks the role in the ticket's event here.
 *
 * The scan endpoint takes the ticket's signed QR payload ("TIX1. ...", docs/sale.md), verified
 * with the event's public key (lib/ticket_sign: a forged, altered or other event's payload is
 * refused, naming "qr"), or, for a door without a camera, the ticket's id. GET
 * /tickets/{id}/qr-code draws the payload (SVG, PNG, or the text itself) for the holder, GET
 * /tickets/{id}/pdf the ticket's printable page (lib/ticket_pdf, as the email worker attaches
 * it) for the holder only.
 *
 * POST /tickets/{id}/transfer (the holder only; anybody else gets 404) offers the ticket to an
 * email (ticket.offer_transfer with the email's blind index and a random transfer id, answered
 * with the decision): nobody looks the email up, so the answer is the same whether an account
 * has it or not. Its verified owner accepts it (http_transfers.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/pii.h"
#include "tix/qr.h"
#include "tix/ticket_pdf.h"
#include "tix/ticket_sign.h"

#include "gateway.h"
#include "routes.h"
#include "sale_http.h"

void tix_http_tickets_list(struct tix_req *req)
{
    struct tix_gw_page page;
    char *event = NULL;
    if (!tix_gw_page_params(req, &page) || !tix_sale_uuid_param(req, "event_id", &event))
        return;
    char fetch[24];
    snprintf(fetch, sizeof(fetch), "%ld", page.limit + 1);
    const char *params[] = {req->who.id, event, page.after_us, page.after_id, fetch};
    PGresult *res = NULL;
    bool is_ok = tix_gw_read(
        req,
        "SELECT (extract(epoch FROM k.issued_at) * 1000000)::bigint, k.id, " TIX_SALE_TICKET_JSON
        "::text FROM rm.tickets k WHERE k.holder_id = $1 AND k.status <> 'transferred'"
        " AND ($2::uuid IS NULL OR k.event_id = $2::uuid)"
        " AND ($3::bigint IS NULL OR (k.issued_at, k.id) <"
        " ('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::uuid))"
        " ORDER BY k.issued_at DESC, k.id DESC LIMIT $5::int",
        5, params, &res);
    free(event);
    if (is_ok)
        tix_gw_reply_page(req, res, page.limit);
}

/* The ticket in path parameter "id": its event into event, whether the caller holds it. False
 * after answering 404/503 (no such ticket). */
static bool find_ticket(struct tix_req *req, char event[TIX_UUID_LEN + 1], bool *is_holder)
{
    const char *id = tix_gw_param(req, "id");
    if (!tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", "no such ticket");
        return false;
    }
    const char *params[] = {id};
    PGresult *res = NULL;
    if (!tix_gw_read(req, "SELECT event_id, holder_id FROM rm.tickets WHERE id = $1", 1, params,
                     &res))
        return false;
    bool found = PQntuples(res) == 1;
    if (found) {
        snprintf(event, TIX_UUID_LEN + 1, "%s", PQgetvalue(res, 0, 0));
        *is_holder = strcmp(PQgetvalue(res, 0, 1), req->who.id) == 0;
    }
    PQclear(res);
    if (!found)
        tix_gw_problem(req, 404, "not-found", "no such ticket");
    return found;
}

/* Whether the caller is a scanner or more of event's organization; answers 404/503 if not. */
static bool is_door_staff(struct tix_req *req, const char *event)
{
    int role = tix_gw_event_role(req, event);
    if (role == -2)
        tix_gw_problem(req, 503, "unavailable", "access can't be checked right now");
    else if (role < TIX_ROLE_SCANNER)
        tix_gw_problem(req, 404, "not-found", "no such ticket");
    return role >= TIX_ROLE_SCANNER;
}

void tix_http_ticket_get(struct tix_req *req)
{
    char event[TIX_UUID_LEN + 1];
    bool is_holder = false;
    if (!find_ticket(req, event, &is_holder) || (!is_holder && !is_door_staff(req, event)))
        return;
    const char *params[] = {tix_gw_param(req, "id")};
    PGresult *res = NULL;
    if (tix_gw_read(req, "SELECT " TIX_SALE_TICKET_JSON "::text FROM rm.tickets k WHERE k.id = $1",
                    1, params, &res))
        tix_gw_reply_row(req, res, "no such ticket");
}

/* ---- check-in ------------------------------------------------------------------------------ */

static const struct tix_field checkin_fields[] = {
    {"device_id", TIX_F_STRING, true, 1, 64}, {"direction", TIX_F_STRING, false, 2, 3},
    {"session_id", TIX_F_UUID, false, 0, 0},  {"ticket_id", TIX_F_UUID, false, 0, 0},
    {"qr", TIX_F_STRING, false, 1, 1024},     {NULL, TIX_F_STRING, false, 0, 0}};

static json_t *checked_in(struct tix_req *req, const json_t *outcome, void *ctx)
{
    (void)req;
    json_t *body = tix_sale_result(outcome);
    json_object_update_missing(body, ctx);
    json_object_set_new(body, "admitted", json_true());
    return body;
}

/* Sends ticket.check_in for ticket of event with the checked body (stolen). */
static void check_in(struct tix_req *req, const char *event, const char *ticket, json_t *body)
{
    const char *direction = tix_json_str(body, "direction");
    if (direction != NULL && strcmp(direction, "in") != 0 && strcmp(direction, "out") != 0) {
        json_decref(body);
        tix_gw_invalid(req, "direction", "must be in or out");
        return;
    }
    json_object_del(body, "qr");
    json_object_set_new(body, "ticket_id", json_string(ticket));
    if (direction == NULL)
        json_object_set_new(body, "direction", json_string("in"));
    struct tix_gw_command cmd = {.type = "ticket.check_in",
                                 .success_status = 200,
                                 .on_success = checked_in,
                                 .force_wait_s = TIX_SALE_WAIT_S,
                                 .ctx = json_pack("{ss sO}", "ticket_id", ticket, "direction",
                                                  json_object_get(body, "direction")),
                                 .ctx_free = tix_sale_json_free};
    tix_sale_submit(req, event, body, &cmd);
}

void tix_http_ticket_validate(struct tix_req *req)
{
    json_t *body = tix_gw_body(req, checkin_fields);
    if (body == NULL)
        return;
    char event[TIX_UUID_LEN + 1];
    bool is_holder = false;
    if (json_object_get(body, "ticket_id") != NULL || json_object_get(body, "qr") != NULL) {
        json_decref(body);
        tix_gw_invalid(req, "ticket_id", "the ticket is the one in the path");
        return;
    }
    if (!find_ticket(req, event, &is_holder) || !is_door_staff(req, event)) {
        json_decref(body);
        return;
    }
    check_in(req, event, tix_gw_param(req, "id"), body);
}

/* The ticket id a verified QR payload names, into ticket; false after answering 422 (field
 * "qr": malformed, forged, or a ticket of another event). */
static bool qr_ticket(struct tix_req *req, const char *event, const char *qr,
                      char ticket[TIX_UUID_LEN + 1])
{
    struct tix_ticket_claims claims;
    struct tix_ticket_keys keys;
    struct tix_err err;
    bool is_ok = tix_ticket_payload_peek(qr, &claims, &err) == TIX_OK;
    if (is_ok && strcmp(claims.event_id, event) != 0) {
        tix_gw_invalid(req, "qr", "the ticket is for another event");
        return false;
    }
    is_ok =
        is_ok && tix_ticket_keys_derive(req->th->gw->ticket_master, event, &keys, &err) == TIX_OK;
    is_ok = is_ok && tix_ticket_payload_verify(qr, keys.pk, &claims, &err) == TIX_OK;
    tix_ticket_keys_wipe(&keys);
    if (!is_ok) {
        tix_gw_invalid(req, "qr", err.msg);
        return false;
    }
    snprintf(ticket, TIX_UUID_LEN + 1, "%s", claims.ticket_id);
    return true;
}

void tix_http_event_scan(struct tix_req *req)
{
    json_t *body = tix_gw_body(req, checkin_fields);
    if (body == NULL)
        return;
    const char *event = tix_gw_param(req, "eventId"), *qr = tix_json_str(body, "qr");
    const char *given = tix_json_str(body, "ticket_id");
    char ticket[TIX_UUID_LEN + 1] = "";
    if (qr == NULL && given == NULL) {
        json_decref(body);
        tix_gw_invalid(req, "ticket_id", "send the ticket's qr payload or its ticket_id");
        return;
    }
    if (qr != NULL && !qr_ticket(req, event, qr, ticket)) {
        json_decref(body);
        return;
    }
    if (qr == NULL)
        snprintf(ticket, sizeof(ticket), "%s", given);
    else if (given != NULL && strcmp(given, ticket) != 0) {
        json_decref(body);
        tix_gw_invalid(req, "ticket_id", "is not the ticket of the qr payload");
        return;
    }
    const char *params[] = {ticket, event};
    PGresult *res = NULL;
    if (!tix_gw_read(req, "SELECT 1 FROM rm.tickets WHERE id = $1 AND event_id = $2", 2, params,
                     &res)) {
        json_decref(body);
        return;
    }
    bool found = PQntuples(res) == 1;
    PQclear(res);
    if (!found) {
        json_decref(body);
        tix_gw_problem(req, 404, "not-found", "no such ticket for this event");
        return;
    }
    check_in(req, event, ticket, body);
}

/* ---- transfers ----------------------------------------------------------------------------- */

void tix_http_ticket_transfer(struct tix_req *req)
{
    static const struct tix_field fields[] = {{"email", TIX_F_STRING, true, 3, 254},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    char event[TIX_UUID_LEN + 1], id[TIX_UUID_LEN + 1], email[TIX_PII_EMAIL_MAX + 1];
    char index[TIX_PII_BLIND_INDEX_SIZE];
    bool is_holder = false;
    struct tix_err err;
    if (body == NULL)
        return;
    bool is_ok = find_ticket(req, event, &is_holder);
    if (is_ok && !is_holder)
        tix_gw_problem(req, 404, "not-found", "no such ticket");
    is_ok = is_ok && is_holder;
    if (is_ok && tix_pii_normalize_email(tix_json_str(body, "email"), email, sizeof(email), &err) !=
                     TIX_OK) {
        tix_gw_invalid(req, "email", err.msg);
        is_ok = false;
    }
    json_decref(body);
    if (!is_ok)
        return;
    tix_pii_blind_index(req->th->gw->pii_key, "email", email, index);
    /* the address itself, sealed under the sender's key, for the mail to the recipient */
    char *sealed = NULL;
    enum tix_rc rc = tix_pii_create_key(req->th->db, req->th->gw->pii_key, req->who.id, &err);
    if (rc == TIX_OK)
        rc = tix_pii_encrypt(req->th->db, req->th->gw->pii_key, req->who.id, email, &sealed, &err);
    if (rc != TIX_OK && rc != TIX_ENOTFOUND) { /* an erased sender's offer goes unmailed */
        sodium_memzero(email, sizeof(email));
        tix_gw_problem(req, 503, "unavailable", "the transfer can't be offered right now");
        return;
    }
    sodium_memzero(email, sizeof(email));
    tix_sale_random_id(id);
    struct tix_gw_command cmd = {
        .type = "ticket.offer_transfer", .success_status = 200, .force_wait_s = TIX_SALE_WAIT_S};
    tix_sale_submit(req, event,
                    json_pack("{ss ss ss ss*}", "ticket_id", tix_gw_param(req, "id"), "transfer_id",
                              id, "to_email_index", index, "to_email_sealed", sealed),
                    &cmd);
    free(sealed);
}

/* ---- the QR code --------------------------------------------------------------------------- */

/* The signed payload of the ticket in the path into out (holder or door staff only); false
 * after answering. A season pass (no session of its own) says "*" for its session. */
static bool ticket_payload(struct tix_req *req, char *out, size_t size)
{
    char event[TIX_UUID_LEN + 1];
    bool is_holder = false;
    if (!find_ticket(req, event, &is_holder) || (!is_holder && !is_door_staff(req, event)))
        return false;
    const char *params[] = {tix_gw_param(req, "id")};
    PGresult *res = NULL;
    if (!tix_gw_read(req,
                     "SELECT COALESCE(session_id::text, '*'), COALESCE(seat_id, '')"
                     " FROM rm.tickets WHERE id = $1",
                     1, params, &res))
        return false;
    struct tix_ticket_claims c;
    snprintf(c.ticket_id, sizeof(c.ticket_id), "%s", tix_gw_param(req, "id"));
    snprintf(c.event_id, sizeof(c.event_id), "%s", event);
    snprintf(c.session_id, sizeof(c.session_id), "%s", PQgetvalue(res, 0, 0));
    snprintf(c.seat, sizeof(c.seat), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    struct tix_ticket_keys keys;
    struct tix_err err;
    enum tix_rc rc = tix_ticket_keys_derive(req->th->gw->ticket_master, event, &keys, &err);
    if (rc == TIX_OK)
        rc = tix_ticket_payload_build(&keys, &c, out, size, &err);
    tix_ticket_keys_wipe(&keys);
    if (rc != TIX_OK)
        tix_gw_problem(req, 500, "internal", "the ticket's payload can't be signed");
    return rc == TIX_OK;
}

void tix_http_ticket_qr(struct tix_req *req)
{
    static const char *const formats[] = {"svg", "png", "text", NULL};
    char *format = NULL;
    if (!tix_sale_enum_param(req, "format", formats, &format))
        return;
    char payload[TIX_TICKET_PAYLOAD_MAX];
    if (!ticket_payload(req, payload, sizeof(payload))) {
        free(format);
        return;
    }
    bool is_png = format != NULL && strcmp(format, "png") == 0;
    bool is_text = format != NULL && strcmp(format, "text") == 0;
    free(format);
    if (is_text) {
        tix_gw_reply_json(req, 200, json_pack("{ss}", "payload", payload));
        return;
    }
    struct tix_qr qr;
    struct tix_buf out;
    struct tix_err err;
    tix_buf_init(&out, 0);
    enum tix_rc rc = tix_qr_encode(payload, &qr, &err);
    if (rc == TIX_OK) {
        rc = is_png ? tix_qr_png(&qr, TIX_QR_MARGIN, 8, &out, &err)
                    : tix_qr_svg(&qr, TIX_QR_MARGIN, &out, &err);
        tix_qr_deinit(&qr);
    }
    if (rc == TIX_OK)
        tix_gw_reply(req, 200, is_png ? "image/png" : "image/svg+xml", out.ptr, out.len);
    else
        tix_gw_problem(req, 500, "internal", "the QR code can't be drawn");
    tix_buf_deinit(&out);
}

/* ---- the printable ticket ------------------------------------------------------------------ */

/* Renders the rows of res (the ticket) as a PDF into out; false after answering 500. */
static bool render_pdf(struct tix_req *req, const PGresult *res, struct tix_buf *out)
{
    struct tix_ticket_pdf_doc doc;
    struct tix_err err;
    enum tix_rc rc =
        tix_ticket_pdf_doc_init(&doc, res, req->th->gw->pii_key, req->th->gw->ticket_master, &err);
    if (rc == TIX_OK) {
        rc = tix_ticket_pdf_render(doc.items, doc.n, out, &err);
        tix_ticket_pdf_doc_deinit(&doc);
    }
    if (rc != TIX_OK)
        tix_gw_problem(req, 500, "internal", "the ticket's PDF can't be drawn");
    return rc == TIX_OK;
}

void tix_http_ticket_pdf(struct tix_req *req)
{
    char event[TIX_UUID_LEN + 1];
    bool is_holder = false;
    if (!find_ticket(req, event, &is_holder))
        return;
    if (!is_holder) {
        tix_gw_problem(req, 404, "not-found", "no such ticket");
        return;
    }
    const char *params[] = {tix_gw_param(req, "id")};
    PGresult *res = NULL;
    if (!tix_gw_read(req, TIX_TICKET_PDF_SELECT " WHERE k.id = $1", 1, params, &res))
        return;
    struct tix_buf out;
    tix_buf_init(&out, 0);
    if (PQntuples(res) != 1)
        tix_gw_problem(req, 404, "not-found", "no such ticket");
    else if (render_pdf(req, res, &out))
        tix_gw_reply(req, 200, "application/pdf", out.ptr, out.len);
    PQclear(res);
    tix_buf_deinit(&out);
}
