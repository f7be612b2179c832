/* qr.h - QR codes for ticket payloads: a module matrix, rendered as SVG or PNG
 *
 * tix_qr_encode uses libqrencode (8-bit mode, error correction level M, the smallest version
 * that fits). The renderers add a quiet zone of `margin` modules (the standard asks for 4) and
 * draw each module as scale x scale pixels (PNG) or one unit of the SVG's viewBox. Output goes
 * into a caller-owned struct tix_buf. Pure; thread-safe (libqrencode is reentrant).
 */
#ifndef TIX_QR_H
#define TIX_QR_H

#include <stdbool.h>
#include <stdint.h>

#include "tix/buf.h"
#include "tix/rc.h"

#define TIX_QR_MARGIN 4

/* A square of width x width modules, row by row; dark[i] is true for a dark module. */
struct tix_qr {
    int width;
    bool *dark;
};

/* Encodes text (NUL-terminated, 1..2000 bytes). Release with tix_qr_deinit. TIX_EINVAL when it
 * is empty or does not fit in a QR code. */
enum tix_rc tix_qr_encode(const char *text, struct tix_qr *out, struct tix_err *err);
void tix_qr_deinit(struct tix_qr *qr);
/* Whether module (x, y) is dark; false outside the matrix (the quiet zone). */
bool tix_qr_is_dark(const struct tix_qr *qr, int x, int y);

/* Appends an SVG document (viewBox in modules, one <path> of dark runs, crisp edges). */
enum tix_rc tix_qr_svg(const struct tix_qr *qr, int margin, struct tix_buf *out,
                       struct tix_err *err);
/* Appends a PNG (8-bit grayscale, black on white) of (width + 2 margin) * scale pixels a side;
 * scale 1..32. */
enum tix_rc tix_qr_png(const struct tix_qr *qr, int margin, int scale, struct tix_buf *out,
                       struct tix_err *err);

#endif
