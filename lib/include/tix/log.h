/* log.h - one logfmt line per event on stderr
 *
 * Every line carries ts, level, service and msg; callers add key=value pairs. Never log a secret
 * or personal data. Thread-safe: each line is written with a single write(2).
 */
#ifndef TIX_LOG_H
#define TIX_LOG_H

enum tix_log_level { TIX_LOG_DEBUG, TIX_LOG_INFO, TIX_LOG_WARN, TIX_LOG_ERROR };

/* Sets the service name (borrowed; must outlive logging) and the minimum level. */
void tix_log_init(const char *service, enum tix_log_level min_level);
/* Parses "debug", "info", "warn", "error"; returns -1 when unknown. */
int tix_log_level_parse(const char *s);
/* Logs msg (quoted for you) followed by the optional logfmt pairs produced by kv_fmt. */
void tix_log(enum tix_log_level level, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define tix_log_debug(msg, ...) tix_log(TIX_LOG_DEBUG, msg, __VA_ARGS__)
#define tix_log_info(msg, ...)  tix_log(TIX_LOG_INFO, msg, __VA_ARGS__)
#define tix_log_warn(msg, ...)  tix_log(TIX_LOG_WARN, msg, __VA_ARGS__)
#define tix_log_error(msg, ...) tix_log(TIX_LOG_ERROR, msg, __VA_ARGS__)

#endif
