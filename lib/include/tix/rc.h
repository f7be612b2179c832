/* rc.h - one error code space for TixMo
 *
 * Every function that can fail returns an enum tix_rc and takes an optional, caller-owned
 * struct tix_err as its last argument. Library errors (libpq SQLSTATE, AMQP replies, CURLcode)
 * are translated into this space once, in their wrapper, so callers never see foreign codes.
 */
#ifndef TIX_RC_H
#define TIX_RC_H

#include <stddef.h>

enum tix_rc {
    TIX_OK = 0,
    TIX_EINVAL,     /* the input is malformed or breaks a rule; not worth retrying */
    TIX_ENOTFOUND,  /* the thing named does not exist */
    TIX_ECONFLICT,  /* a concurrent writer won (version mismatch, unique key) */
    TIX_ETRANSIENT, /* a peer is unreachable or busy; retry later */
    TIX_EINTERNAL,  /* a bug or an unexpected state */
};

/* Details of a failure. `field` names the offending input field when there is one ("" else). */
struct tix_err {
    enum tix_rc rc;
    char field[64];
    char msg[256];
};

/* Records rc, field (may be NULL) and a printf-style message in err (may be NULL); returns rc. */
enum tix_rc tix_err_set(struct tix_err *err, enum tix_rc rc, const char *field, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

/* Clears err (may be NULL) to TIX_OK with empty strings. */
void tix_err_clear(struct tix_err *err);

/* A static, lowercase name for rc ("ok", "invalid", "not_found", ...). Thread-safe. */
const char *tix_rc_name(enum tix_rc rc);

#endif
