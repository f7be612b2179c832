/* apg.h - a Postgres connection on a libevent loop: pipelined queries, LISTEN, no waiting
 *
 * The event-loop twin of db.h for callers that must never wait on Postgres (the gateway's
 * threads). Queries are sent in pipeline mode (libpq 14+): a query is queued and its callback
 * runs later on the same loop when its result comes, and any number of queries are in flight on
 * the one connection at once. Each query runs in its own implicit transaction (a Sync follows
 * it), so one failing query fails no other.
 *
 * The connection LISTENs on the channels given at open. Notifications reach on_notify in the
 * order the server sent them relative to query results: a notification that follows a result
 * in the stream is delivered after that result's callback. Postgres sends a notification only
 * once its transaction committed and only between the listener's own statements, so a result
 * whose snapshot predates a change is always followed by that change's notification: a cache
 * filled through this connection and emptied by its notifications can't keep a stale row
 * (gateway/cache.c relies on this).
 *
 * Failures: a lost connection fails every waiting query (TIX_ETRANSIENT) and calls on_reset
 * (notifications may have been missed: drop what they guard). The next query reconnects, at most
 * once per second (the connect itself is synchronous, bounded by connect_timeout=2). SQLSTATEs
 * are translated as db.h says.
 *
 * Threads: a struct tix_apg belongs to its loop's thread.
 */
#ifndef TIX_APG_H
#define TIX_APG_H

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "tix/rc.h"

struct tix_apg;

/* A query's outcome: TIX_OK with res (the callback's: PQclear it or keep it), or a failure with
 * res NULL. Runs exactly once per query, on the loop's thread. */
typedef void (*tix_apg_cb)(void *ctx, enum tix_rc rc, PGresult *res);
/* A notification (strings borrowed). */
typedef void (*tix_apg_notify_cb)(void *ctx, const char *channel, const char *payload);
/* The connection was lost or re-opened: notifications may have been missed. */
typedef void (*tix_apg_reset_cb)(void *ctx);

struct tix_apg_listener {
    const char *const *channels; /* NULL-terminated, or NULL: LISTEN nothing */
    tix_apg_notify_cb on_notify;
    tix_apg_reset_cb on_reset;
    void *ctx;
};

/* Connects to url, LISTENs on listener's channels (listener may be NULL) and watches the socket
 * on base. TIX_ETRANSIENT when the server can't be reached (nothing to free). Free with
 * tix_apg_close. */
enum tix_rc tix_apg_open(struct event_base *base, const char *url,
                         const struct tix_apg_listener *listener, struct tix_apg **out,
                         struct tix_err *err);
/* Fails every waiting query (TIX_ETRANSIENT), closes and frees. NULL is a no-op. */
void tix_apg_close(struct tix_apg *pg);

/* Queues sql with n text parameters (copied; NULL = SQL NULL), prepared once per connection
 * under name (a static string; the same name always comes with the same sql). cb runs exactly
 * once, possibly before this returns (connection down and not yet time to retry). */
void tix_apg_query(struct tix_apg *pg, const char *name, const char *sql, int n,
                   const char *const *params, tix_apg_cb cb, void *ctx);

#endif
