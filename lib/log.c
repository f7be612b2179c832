/* log.c - logfmt lines on stderr
 *
 * A line is built in a stack buffer and written with one write(2), so lines from several
 * threads never interleave. Overlong lines are truncated, never split.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tix/ids.h"
#include "tix/log.h"

static const char *log_service = "tixmo";
static enum tix_log_level log_min = TIX_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void tix_log_init(const char *service, enum tix_log_level min_level)
{
    log_service = service;
    log_min = min_level;
}

int tix_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

static size_t put_quoted(char *out, size_t size, const char *s)
{
    size_t n = 0;
    for (; *s != '\0' && n + 3 < size; s++) {
        char c = *s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = c;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            out[n++] = ' ';
        } else {
            out[n++] = c;
        }
    }
    out[n] = '\0';
    return n;
}

void tix_log(enum tix_log_level level, const char *msg, const char *kv_fmt, ...)
{
    if (level < log_min)
        return;
    char line[2048];
    char ts[32];
    tix_time_format(tix_now_us(), ts);
    int n = snprintf(line, sizeof(line), "ts=%s level=%s service=%s msg=\"", ts, level_names[level],
                     log_service);
    size_t len = (size_t)n;
    len += put_quoted(line + len, sizeof(line) - len - 2, msg);
    line[len++] = '"';
    if (kv_fmt != NULL && kv_fmt[0] != '\0' && len + 2 < sizeof(line)) {
        line[len++] = ' ';
        va_list ap;
        va_start(ap, kv_fmt);
        int m = vsnprintf(line + len, sizeof(line) - len - 1, kv_fmt, ap);
        va_end(ap);
        if (m > 0)
            len += (size_t)m < sizeof(line) - len - 1 ? (size_t)m : sizeof(line) - len - 2;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
