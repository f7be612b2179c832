/* qr.c - QR module matrices (libqrencode) rendered to SVG (our writer) and PNG (libpng)
 *
 * The SVG is one path: for each row, each horizontal run of dark modules becomes
 * "M<x> <y>h<n>v1h-<n>z", in module units, offset by the margin. The PNG is written by libpng
 * into memory through a write callback; a libpng error longjmps back to write_image, and
 * tix_qr_png returns TIX_EINTERNAL (what was appended stays in the caller's buffer).
 */
#include <png.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

#include "tix/mem.h"
#include "tix/qr.h"

#define TEXT_MAX 2000

enum tix_rc tix_qr_encode(const char *text, struct tix_qr *out, struct tix_err *err)
{
    memset(out, 0, sizeof(*out));
    size_t n = text != NULL ? strlen(text) : 0;
    if (n == 0 || n > TEXT_MAX)
        return tix_err_set(err, TIX_EINVAL, "text", "must be 1 to %d bytes", TEXT_MAX);
    QRcode *q = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
    if (q == NULL)
        return tix_err_set(err, TIX_EINVAL, "text", "does not fit in a QR code");
    out->width = q->width;
    out->dark = tix_xcalloc((size_t)q->width * (size_t)q->width, sizeof(bool));
    for (int i = 0; i < q->width * q->width; i++)
        out->dark[i] = (q->data[i] & 1) != 0;
    QRcode_free(q);
    return TIX_OK;
}

void tix_qr_deinit(struct tix_qr *qr)
{
    if (qr == NULL)
        return;
    free(qr->dark);
    memset(qr, 0, sizeof(*qr));
}

bool tix_qr_is_dark(const struct tix_qr *qr, int x, int y)
{
    if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
        return false;
    return qr->dark[(size_t)y * (size_t)qr->width + (size_t)x];
}

static enum tix_rc svg_row(const struct tix_qr *qr, int y, int margin, struct tix_buf *out)
{
    enum tix_rc rc = TIX_OK;
    for (int x = 0; x < qr->width && rc == TIX_OK;) {
        if (!tix_qr_is_dark(qr, x, y)) {
            x++;
            continue;
        }
        int run = 0;
        while (tix_qr_is_dark(qr, x + run, y))
            run++;
        rc = tix_buf_printf(out, "M%d %dh%dv1h-%dz", x + margin, y + margin, run, run);
        x += run;
    }
    return rc;
}

enum tix_rc tix_qr_svg(const struct tix_qr *qr, int margin, struct tix_buf *out,
                       struct tix_err *err)
{
    if (margin < 0 || margin > 64)
        return tix_err_set(err, TIX_EINVAL, "margin", "must be 0 to 64 modules");
    int side = qr->width + 2 * margin;
    enum tix_rc rc = tix_buf_printf(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
        "shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
        "<path fill=\"#000\" d=\"",
        side, side, side, side);
    for (int y = 0; y < qr->width && rc == TIX_OK; y++)
        rc = svg_row(qr, y, margin, out);
    if (rc == TIX_OK)
        rc = tix_buf_puts(out, "\"/></svg>\n");
    return rc == TIX_OK ? TIX_OK : tix_err_set(err, rc, NULL, "SVG too large for the buffer");
}

struct png_sink {
    struct tix_buf *out;
    bool is_full;
};

static void png_write_cb(png_structp png, png_bytep data, png_size_t len)
{
    struct png_sink *s = png_get_io_ptr(png);
    if (!s->is_full && tix_buf_append(s->out, data, len) != TIX_OK)
        s->is_full = true;
}

static void png_flush_cb(png_structp png)
{
    (void)png;
}

/* Writes every pixel row. */
static void png_rows(png_structp png, const struct tix_qr *qr, int margin, int scale, png_bytep row)
{
    int side = qr->width + 2 * margin;
    for (int my = 0; my < side; my++) {
        for (int mx = 0; mx < side; mx++) {
            png_byte v = tix_qr_is_dark(qr, mx - margin, my - margin) ? 0 : 255;
            memset(row + (size_t)mx * (size_t)scale, v, (size_t)scale);
        }
        for (int k = 0; k < scale; k++)
            png_write_row(png, row);
    }
}

/* The whole image; -1 when libpng failed (it longjmps here; no local changes after setjmp). */
static int write_image(png_structp png, png_infop info, struct png_sink *sink,
                       const struct tix_qr *qr, int margin, int scale, png_bytep row)
{
    if (setjmp(png_jmpbuf(png)) != 0)
        return -1;
    png_uint_32 px = (png_uint_32)((qr->width + 2 * margin) * scale);
    png_set_write_fn(png, sink, png_write_cb, png_flush_cb);
    png_set_IHDR(png, info, px, px, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_rows(png, qr, margin, scale, row);
    png_write_end(png, NULL);
    return 0;
}

enum tix_rc tix_qr_png(const struct tix_qr *qr, int margin, int scale, struct tix_buf *out,
                       struct tix_err *err)
{
    if (margin < 0 || margin > 64 || scale < 1 || scale > 32)
        return tix_err_set(err, TIX_EINVAL, scale < 1 || scale > 32 ? "scale" : "margin",
                           "out of range");
    size_t px = (size_t)((qr->width + 2 * margin) * scale);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png != NULL ? png_create_info_struct(png) : NULL;
    png_bytep row = tix_xmalloc(px);
    struct png_sink sink = {out, false};
    enum tix_rc rc = TIX_EINTERNAL;
    if (info != NULL && write_image(png, info, &sink, qr, margin, scale, row) == 0)
        rc = sink.is_full ? TIX_EINVAL : TIX_OK;
    png_destroy_write_struct(&png, &info);
    free(row);
    if (rc == TIX_EINVAL)
        return tix_err_set(err, rc, NULL, "PNG too large for the buffer");
    return rc == TIX_OK ? TIX_OK : tix_err_set(err, rc, NULL, "libpng failed to write the PNG");
}
