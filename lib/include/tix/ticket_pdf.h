/* ticket_pdf.h - PDF tickets: what a ticket's page says, read from the read models, drawn
 * with cairo
 *
 * A document is one A4 page per ticket: the event, the venue, the start in the venue's time
 * zone, the seat (or general admission), the ticket type, the holder's name, the order number,
 * the ticket's id and the QR code of its signed payload (lib/ticket_sign), drawn with
 * libqrencode's modules as vector rectangles. The ticket ids are also listed in the PDF's
 * metadata (Keywords), so a program can tell which tickets a file holds without reading pages.
 *
 * Reading: TIX_TICKET_PDF_SELECT is the statement's head; append a WHERE on rm.tickets k (and an
 * ORDER BY), run it, and turn the rows into items with tix_ticket_pdf_doc_init, which opens
 * each holder's name with the holder's personal-data key (an erased holder's name is left out)
 * and signs each payload with the event's key.
 *
 * Thread-safety: the functions are pure apart from the result they read and may run in any
 * thread (cairo's PDF surface and libqrencode are reentrant); libsodium must be initialized.
 */
#ifndef TIX_TICKET_PDF_H
#define TIX_TICKET_PDF_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "tix/buf.h"
#include "tix/rc.h"

/* What one page shows; every string borrowed, "" when unknown. */
struct tix_ticket_pdf_item {
    const char *ticket_id;
    const char *event_name;
    const char *venue;
    const char *starts;       /* "Friday 5 June 2030, 21:00 (Europe/Paris)" */
    const char *place;        /* "stalls, row A, seat 3" or "General admission" */
    const char *ticket_type;  /* the type's name */
    const char *holder;       /* the holder's name */
    const char *order_number; /* "ABCD-000001" */
    const char *payload;      /* the signed QR payload ("TIX1. ...") */
};

/* Appends a PDF of n >= 1 pages (items[i] on page i) to out. TIX_EINVAL when n is 0 or a
 * payload does not fit a QR code; TIX_EINTERNAL when cairo fails. */
enum tix_rc tix_ticket_pdf_render(const struct tix_ticket_pdf_item *items, size_t n,
                                  struct tix_buf *out, struct tix_err *err);

/* Releases the font caches cairo and fontconfig keep for the process (they are built at the
 * first render and otherwise live until exit, which leak checkers report). Call once at the end
 * of a program that rendered, after every thread that did has stopped. */
void tix_ticket_pdf_cleanup(void);

/* The head of the statement that reads tickets for PDFs (rm.tickets k joined to the event,
 * venue, session, order, type, seat, holder and the holder's wrapped key). */
#define TIX_TICKET_PDF_SELECT                                                                      \
    "SELECT k.id, k.event_id, COALESCE(k.session_id::text, '*'), COALESCE(k.seat_id, ''),"         \
    " e.name, COALESCE(v.name, ''),"                                                               \
    " COALESCE(to_char(COALESCE(s.starts_at, e.starts_at) AT TIME ZONE"                            \
    " COALESCE(v.timezone, e.timezone), 'FMDay FMDD FMMonth YYYY, HH24:MI') || ' ('"               \
    " || COALESCE(v.timezone, e.timezone) || ')', ''),"                                            \
    " CASE WHEN k.seat_id IS NULL THEN 'General admission' ELSE concat_ws(', ', st.section,"       \
    " 'row ' || st.row_label, 'seat ' || COALESCE(st.label, k.seat_id)) END,"                      \
    " COALESCE(tt.name, ''), COALESCE(o.number, ''), k.holder_id, u.name_enc, sk.wrapped_key"      \
    " FROM rm.tickets k JOIN rm.events e ON e.id = k.event_id"                                     \
    " LEFT JOIN rm.venues v ON v.id = e.venue_id"                                                  \
    " LEFT JOIN rm.event_sessions s ON s.event_id = k.event_id AND s.session_id = k.session_id"    \
    " LEFT JOIN rm.orders o ON o.id = k.order_id"                                                  \
    " LEFT JOIN rm.ticket_types tt ON tt.event_id = k.event_id AND tt.id = k.ticket_type_id"       \
    " LEFT JOIN rm.seats st ON st.event_id = k.event_id AND st.seat_id = k.seat_id"                \
    " LEFT JOIN rm.users u ON u.id::text = k.holder_id"                                            \
    " LEFT JOIN subject_keys sk ON sk.subject_id = k.holder_id"

/* Items made from the rows of a TIX_TICKET_PDF_SELECT statement. */
struct tix_ticket_pdf_doc {
    size_t n;
    struct tix_ticket_pdf_item *items;
    char *strings; /* the holders' names and the payloads the items point into */
};

/* Fills doc from res (borrowed: it must outlive doc) with the installation's PII key and
 * ticket master key. TIX_EINVAL when a row can't be signed (a bad id). Release with
 * tix_ticket_pdf_doc_deinit. */
enum tix_rc tix_ticket_pdf_doc_init(struct tix_ticket_pdf_doc *doc, const PGresult *res,
                                    const uint8_t pii_key[32], const uint8_t ticket_master[32],
                                    struct tix_err *err);
void tix_ticket_pdf_doc_deinit(struct tix_ticket_pdf_doc *doc);

#endif
