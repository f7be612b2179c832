/* buf.h - counted strings and capped growable buffers
 *
 * struct tix_str is a borrowed view (pointer + length, not necessarily NUL-terminated).
 * struct tix_buf owns its bytes, is always NUL-terminated after any successful call, and refuses
 * to grow past `max` (0 = unlimited), so untrusted input can never make it grow without bound.
 */
#ifndef TIX_BUF_H
#define TIX_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "tix/rc.h"

struct tix_str {
    const char *ptr;
    size_t len;
};

struct tix_buf {
    char *ptr;
    size_t len;
    size_t cap;
    size_t max;
};

/* Initializes an empty buffer in caller memory; max = 0 means no limit. */
void tix_buf_init(struct tix_buf *b, size_t max);
/* Frees the bytes; the buffer may be initialized again. */
void tix_buf_deinit(struct tix_buf *b);
/* Empties the buffer, keeping its memory. */
void tix_buf_reset(struct tix_buf *b);
/* Appends n bytes; TIX_EINVAL (buffer unchanged) if that would pass max. */
enum tix_rc tix_buf_append(struct tix_buf *b, const void *data, size_t n);
enum tix_rc tix_buf_puts(struct tix_buf *b, const char *s);
enum tix_rc tix_buf_printf(struct tix_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum tix_rc tix_buf_vprintf(struct tix_buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal (quoted, escaped). s must be valid UTF-8. */
enum tix_rc tix_buf_json_str(struct tix_buf *b, const char *s);
/* Takes the bytes out (caller frees with free()); the buffer is left empty. */
char *tix_buf_steal(struct tix_buf *b);

#endif
