/* ticket_pdf.c - PDF tickets: rows into items, items into pages (see ticket_pdf.h)
 *
 * The PDF is written by cairo's PDF surface straight into the caller's buffer. Each page is
 * drawn the same way: a dark band with the event's name, the facts as label and value lines,
 * the QR code (one rectangle per dark module, filled at once), the ticket id under it. The
 * document's strings (holder names, payloads) live in one block owned by the doc.
 */
#include <cairo-pdf.h>
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/mem.h"
#include "tix/pii.h"
#include "tix/qr.h"
#include "tix/ticket_pdf.h"
#include "tix/ticket_sign.h"

#define PAGE_W  595.28 /* A4 in points */
#define PAGE_H  841.89
#define MARGIN  56.0
#define QR_SIZE 220.0

#define HOLDER_MAX 256
#define SLOT       (HOLDER_MAX + TIX_TICKET_PAYLOAD_MAX)

/* ---- drawing ------------------------------------------------------------------------------- */

static cairo_status_t write_cb(void *closure, const unsigned char *data, unsigned int len)
{
    return tix_buf_append(closure, data, len) == TIX_OK ? CAIRO_STATUS_SUCCESS
                                                        : CAIRO_STATUS_WRITE_ERROR;
}

static void text_at(cairo_t *cr, double x, double y, double size, bool is_bold, const char *s)
{
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           is_bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
}

/* Draws qr's dark modules as rectangles in a square of side size at (x, y), quiet zone
 * included. */
static void draw_qr(cairo_t *cr, const struct tix_qr *qr, double x, double y, double size)
{
    int span = qr->width + 2 * TIX_QR_MARGIN;
    double m = size / span;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, x, y, size, size);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (int r = 0; r < qr->width; r++)
        for (int c = 0; c < qr->width; c++)
            if (tix_qr_is_dark(qr, c, r))
                cairo_rectangle(cr, x + (c + TIX_QR_MARGIN) * m, y + (r + TIX_QR_MARGIN) * m, m, m);
    cairo_fill(cr);
}

/* Draws one ticket's page (the QR code already encoded). */
static void draw_page(cairo_t *cr, const struct tix_ticket_pdf_item *it, const struct tix_qr *qr)
{
    cairo_set_source_rgb(cr, 0.10, 0.12, 0.20);
    cairo_rectangle(cr, 0, 0, PAGE_W, 110);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    text_at(cr, MARGIN, 42, 12, false, "TixMo ticket");
    text_at(cr, MARGIN, 80, 24, true, it->event_name);
    const char *facts[][2] = {
        {"Venue", it->venue},        {"Starts", it->starts}, {"Seat", it->place},
        {"Ticket", it->ticket_type}, {"Holder", it->holder}, {"Order", it->order_number},
    };
    double y = 160;
    for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++) {
        if (facts[i][1] == NULL || facts[i][1][0] == '\0')
            continue;
        cairo_set_source_rgb(cr, 0.45, 0.45, 0.50);
        text_at(cr, MARGIN, y, 10, false, facts[i][0]);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, MARGIN + 70, y, 14, i == 2, facts[i][1]);
        y += 30;
    }
    double qx = (PAGE_W - QR_SIZE) / 2, qy = y + 30;
    draw_qr(cr, qr, qx, qy, QR_SIZE);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_at(cr, qx, qy + QR_SIZE + 22, 9, false, it->ticket_id);
    cairo_set_source_rgb(cr, 0.45, 0.45, 0.50);
    text_at(cr, MARGIN, PAGE_H - MARGIN, 9, false,
            "Show this code at the door: it admits one person. A transferred ticket gets a new "
            "code.");
}

/* The ticket ids, space separated, into the document's Keywords. */
static void set_metadata(cairo_surface_t *s, const struct tix_ticket_pdf_item *items, size_t n)
{
    struct tix_buf ids;
    tix_buf_init(&ids, 0);
    for (size_t i = 0; i < n; i++)
        tix_buf_printf(&ids, "%s%s", i > 0 ? " " : "", items[i].ticket_id);
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, "TixMo tickets");
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATOR, "TixMo");
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_KEYWORDS, ids.ptr);
    tix_buf_deinit(&ids);
}

enum tix_rc tix_ticket_pdf_render(const struct tix_ticket_pdf_item *items, size_t n,
                                  struct tix_buf *out, struct tix_err *err)
{
    if (n == 0)
        return tix_err_set(err, TIX_EINVAL, "tickets", "a PDF needs at least one ticket");
    cairo_surface_t *s = cairo_pdf_surface_create_for_stream(write_cb, out, PAGE_W, PAGE_H);
    cairo_t *cr = cairo_create(s);
    set_metadata(s, items, n);
    enum tix_rc rc = TIX_OK;
    for (size_t i = 0; rc == TIX_OK && i < n; i++) {
        struct tix_qr qr;
        rc = tix_qr_encode(items[i].payload, &qr, err);
        if (rc != TIX_OK)
            break;
        draw_page(cr, &items[i], &qr);
        tix_qr_deinit(&qr);
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_finish(s);
    cairo_status_t st = cairo_surface_status(s);
    cairo_surface_destroy(s);
    if (rc == TIX_OK && st != CAIRO_STATUS_SUCCESS)
        rc = tix_err_set(err, TIX_EINTERNAL, "pdf", "cairo: %s", cairo_status_to_string(st));
    return rc;
}

void tix_ticket_pdf_cleanup(void)
{
    cairo_debug_reset_static_data();
    FcFini();
}

/* ---- rows into items ----------------------------------------------------------------------- */

/* The holder's name of row r into out ("" when none, or erased). */
static void holder_name(const PGresult *res, int r, const uint8_t pii_key[32], char *out)
{
    out[0] = '\0';
    if (PQgetisnull(res, r, 11) || PQgetisnull(res, r, 12))
        return;
    uint8_t key[TIX_PII_KEY_BYTES];
    char *name = NULL;
    if (tix_pii_unwrap_key(pii_key, PQgetvalue(res, r, 12), key, NULL) == TIX_OK &&
        tix_pii_open(key, PQgetvalue(res, r, 10), PQgetvalue(res, r, 11), &name, NULL) == TIX_OK)
        snprintf(out, HOLDER_MAX, "%s", name);
    sodium_memzero(key, sizeof(key));
    free(name);
}

/* Signs row r's payload into out. */
static enum tix_rc payload(const PGresult *res, int r, const uint8_t master[32], char *out,
                           struct tix_err *err)
{
    struct tix_ticket_claims c;
    snprintf(c.ticket_id, sizeof(c.ticket_id), "%s", PQgetvalue(res, r, 0));
    snprintf(c.event_id, sizeof(c.event_id), "%s", PQgetvalue(res, r, 1));
    snprintf(c.session_id, sizeof(c.session_id), "%s", PQgetvalue(res, r, 2));
    snprintf(c.seat, sizeof(c.seat), "%s", PQgetvalue(res, r, 3));
    struct tix_ticket_keys keys;
    enum tix_rc rc = tix_ticket_keys_derive(master, c.event_id, &keys, err);
    if (rc == TIX_OK)
        rc = tix_ticket_payload_build(&keys, &c, out, TIX_TICKET_PAYLOAD_MAX, err);
    tix_ticket_keys_wipe(&keys);
    return rc;
}

enum tix_rc tix_ticket_pdf_doc_init(struct tix_ticket_pdf_doc *doc, const PGresult *res,
                                    const uint8_t pii_key[32], const uint8_t ticket_master[32],
                                    struct tix_err *err)
{
    memset(doc, 0, sizeof(*doc));
    doc->n = (size_t)PQntuples(res);
    doc->items = tix_xcalloc(doc->n + 1, sizeof(*doc->items));
    doc->strings = tix_xcalloc(doc->n + 1, SLOT);
    for (int r = 0; r < (int)doc->n; r++) {
        char *holder = doc->strings + (size_t)r * SLOT, *signed_payload = holder + HOLDER_MAX;
        holder_name(res, r, pii_key, holder);
        enum tix_rc rc = payload(res, r, ticket_master, signed_payload, err);
        if (rc != TIX_OK) {
            tix_ticket_pdf_doc_deinit(doc);
            return rc;
        }
        doc->items[r] = (struct tix_ticket_pdf_item){
            .ticket_id = PQgetvalue(res, r, 0),
            .event_name = PQgetvalue(res, r, 4),
            .venue = PQgetvalue(res, r, 5),
            .starts = PQgetvalue(res, r, 6),
            .place = PQgetvalue(res, r, 7),
            .ticket_type = PQgetvalue(res, r, 8),
            .order_number = PQgetvalue(res, r, 9),
            .holder = holder,
            .payload = signed_payload,
        };
    }
    return TIX_OK;
}

void tix_ticket_pdf_doc_deinit(struct tix_ticket_pdf_doc *doc)
{
    if (doc->strings != NULL)
        sodium_memzero(doc->strings, (doc->n + 1) * SLOT);
    free(doc->strings);
    free(doc->items);
    memset(doc, 0, sizeof(*doc));
}
