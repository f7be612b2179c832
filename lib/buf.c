/* buf.c - capped growable buffers
 *
 * Invariants: ptr is NULL or holds len bytes plus a NUL; len < cap when ptr is set; len never
 * exceeds max when max is set. A failed append leaves the buffer exactly as it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/buf.h"
#include "tix/mem.h"

void tix_buf_init(struct tix_buf *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void tix_buf_deinit(struct tix_buf *b)
{
    free(b->ptr);
    tix_buf_init(b, b->max);
}

void tix_buf_reset(struct tix_buf *b)
{
    b->len = 0;
    if (b->ptr != NULL)
        b->ptr[0] = '\0';
}

static enum tix_rc reserve(struct tix_buf *b, size_t extra)
{
    if (b->max != 0 && b->len + extra > b->max)
        return TIX_EINVAL;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return TIX_OK;
    size_t cap = b->cap == 0 ? 64 : b->cap;
    while (cap < need)
        cap *= 2;
    b->ptr = tix_xrealloc(b->ptr, cap);
    b->cap = cap;
    return TIX_OK;
}

enum tix_rc tix_buf_append(struct tix_buf *b, const void *data, size_t n)
{
    if (reserve(b, n) != TIX_OK)
        return TIX_EINVAL;
    if (n > 0)
        memcpy(b->ptr + b->len, data, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return TIX_OK;
}

enum tix_rc tix_buf_puts(struct tix_buf *b, const char *s)
{
    return tix_buf_append(b, s, strlen(s));
}

enum tix_rc tix_buf_vprintf(struct tix_buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0 || reserve(b, (size_t)n) != TIX_OK)
        return TIX_EINVAL;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return TIX_OK;
}

enum tix_rc tix_buf_printf(struct tix_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum tix_rc rc = tix_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

enum tix_rc tix_buf_json_str(struct tix_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    enum tix_rc rc = tix_buf_append(b, "\"", 1);
    const char *run = s;
    for (; rc == TIX_OK && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = tix_buf_append(b, run, (size_t)(s - run));
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t n = 2;
        if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        if (rc == TIX_OK)
            rc = tix_buf_append(b, esc, n);
        run = s + 1;
    }
    if (rc == TIX_OK)
        rc = tix_buf_append(b, run, (size_t)(s - run));
    return rc == TIX_OK ? tix_buf_append(b, "\"", 1) : rc;
}

char *tix_buf_steal(struct tix_buf *b)
{
    char *p = b->ptr != NULL ? b->ptr : tix_xstrdup("");
    tix_buf_init(b, b->max);
    return p;
}
