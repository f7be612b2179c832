/* rc.c - the error code space and error details
 *
 * tix_err is optional everywhere: every function here accepts NULL and still returns the code.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tix/rc.h"

enum tix_rc tix_err_set(struct tix_err *err, enum tix_rc rc, const char *field, const char *fmt,
                        ...)
{
    if (err == NULL)
        return rc;
    err->rc = rc;
    snprintf(err->field, sizeof(err->field), "%s", field != NULL ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return rc;
}

void tix_err_clear(struct tix_err *err)
{
    if (err == NULL)
        return;
    err->rc = TIX_OK;
    err->field[0] = '\0';
    err->msg[0] = '\0';
}

const char *tix_rc_name(enum tix_rc rc)
{
    switch (rc) {
    case TIX_OK:
        return "ok";
    case TIX_EINVAL:
        return "invalid";
    case TIX_ENOTFOUND:
        return "not_found";
    case TIX_ECONFLICT:
        return "conflict";
    case TIX_ETRANSIENT:
        return "transient";
    case TIX_EINTERNAL:
        return "internal";
    }
    return "unknown";
}
