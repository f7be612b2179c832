/* apg.c - libpq pipeline mode on a libevent loop
 *
 * Invariants:
 * - pg->conn is NULL (down) or a connection in nonblocking pipeline mode whose socket is watched
 *   for reading (always) and for writing (only while libpq holds unsent bytes).
 * - pg's FIFO mirrors what was sent, in order: PREPARE items (a result, then NULL), QUERY items
 *   (a result, then NULL) and SYNC items (one PGRES_PIPELINE_SYNC). Results are matched to the
 *   head only, so a callback can never get another query's result.
 * - A statement name is marked prepared when its PREPARE was sent (later queries in the same
 *   pipeline may use it) and unmarked when that PREPARE fails or the connection is lost.
 * - A query's callback runs exactly once: with its result, with a failure, or with
 *   TIX_ETRANSIENT when the connection is lost or closed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/apg.h"
#include "tix/db.h"
#include "tix/ids.h"
#include "tix/log.h"
#include "tix/mem.h"

#define RECONNECT_MS 1000
#define MAX_PREPARED 32

enum item_kind { ITEM_PREPARE, ITEM_QUERY, ITEM_SYNC };

struct item {
    struct item *next;
    enum item_kind kind;
    const char *name; /* PREPARE: the statement */
    tix_apg_cb cb;    /* QUERY */
    void *ctx;
    bool is_answered;
};

struct tix_apg {
    struct event_base *base;
    char *url;
    struct tix_apg_listener listener;
    PGconn *conn; /* NULL while down */
    struct event *read_ev, *write_ev;
    int64_t next_attempt_ms;
    struct item *head, *tail;
    int n_prepared;
    const char *prepared[MAX_PREPARED];
};

static void push(struct tix_apg *pg, enum item_kind kind, const char *name, tix_apg_cb cb,
                 void *ctx)
{
    struct item *it = tix_xcalloc(1, sizeof(*it));
    *it = (struct item){.kind = kind, .name = name, .cb = cb, .ctx = ctx};
    if (pg->tail != NULL)
        pg->tail->next = it;
    else
        pg->head = it;
    pg->tail = it;
}

static struct item *pop(struct tix_apg *pg)
{
    struct item *it = pg->head;
    pg->head = it->next;
    if (pg->head == NULL)
        pg->tail = NULL;
    return it;
}

static void forget_prepared(struct tix_apg *pg, const char *name)
{
    for (int i = 0; i < pg->n_prepared; i++) {
        if (strcmp(pg->prepared[i], name) == 0) {
            pg->prepared[i] = pg->prepared[--pg->n_prepared];
            return;
        }
    }
}

static bool is_prepared(const struct tix_apg *pg, const char *name)
{
    for (int i = 0; i < pg->n_prepared; i++)
        if (strcmp(pg->prepared[i], name) == 0)
            return true;
    return false;
}

/* ---- connection */

static void read_cb(evutil_socket_t fd, short what, void *arg);
static void write_cb(evutil_socket_t fd, short what, void *arg);

/* Fails every item, closes the connection and tells the listener. */
static void lose(struct tix_apg *pg, const char *why)
{
    PGconn *conn = pg->conn;
    if (conn == NULL)
        return;
    if (why != NULL) /* NULL: closed on purpose */
        tix_log_warn("postgres connection lost", "what=async err=\"%s\"", why);
    pg->conn = NULL;
    pg->next_attempt_ms = tix_mono_ms() + RECONNECT_MS;
    pg->n_prepared = 0;
    event_free(pg->read_ev);
    event_free(pg->write_ev);
    pg->read_ev = pg->write_ev = NULL;
    while (pg->head != NULL) {
        struct item *it = pop(pg);
        if (it->kind == ITEM_QUERY && !it->is_answered)
            it->cb(it->ctx, TIX_ETRANSIENT, NULL);
        free(it);
    }
    PQfinish(conn);
    if (pg->listener.on_reset != NULL)
        pg->listener.on_reset(pg->listener.ctx);
}

static void quiet_notice_cb(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static enum tix_rc listen_all(PGconn *conn, const struct tix_apg_listener *l, struct tix_err *err)
{
    for (int i = 0; l->channels != NULL && l->channels[i] != NULL; i++) {
        char *id = PQescapeIdentifier(conn, l->channels[i], strlen(l->channels[i]));
        char sql[160];
        snprintf(sql, sizeof(sql), "LISTEN %s", id != NULL ? id : "\"\"");
        PQfreemem(id);
        PGresult *res = PQexec(conn, sql);
        bool is_ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!is_ok)
            return tix_err_set(err, TIX_ETRANSIENT, "", "postgres LISTEN: %s",
                               PQerrorMessage(conn));
    }
    return TIX_OK;
}

static enum tix_rc connect_now(struct tix_apg *pg, struct tix_err *err)
{
    pg->next_attempt_ms = tix_mono_ms() + RECONNECT_MS;
    const char *keys[] = {"dbname", "connect_timeout", "options", NULL};
    const char *vals[] = {pg->url, "2", TIX_DB_SESSION_OPTIONS, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    enum tix_rc rc = TIX_OK;
    if (PQstatus(conn) != CONNECTION_OK)
        rc = tix_err_set(err, TIX_ETRANSIENT, "", "postgres: %s", PQerrorMessage(conn));
    if (rc == TIX_OK)
        rc = listen_all(conn, &pg->listener, err);
    if (rc == TIX_OK && (PQsetnonblocking(conn, 1) != 0 || PQenterPipelineMode(conn) != 1))
        rc = tix_err_set(err, TIX_EINTERNAL, "", "postgres: no pipeline mode: %s",
                         PQerrorMessage(conn));
    if (rc != TIX_OK) {
        PQfinish(conn);
        return rc;
    }
    PQsetNoticeProcessor(conn, quiet_notice_cb, NULL);
    pg->conn = conn;
    pg->read_ev = event_new(pg->base, PQsocket(conn), EV_READ | EV_PERSIST, read_cb, pg);
    pg->write_ev = event_new(pg->base, PQsocket(conn), EV_WRITE, write_cb, pg);
    event_add(pg->read_ev, NULL);
    return TIX_OK;
}

/* Pushes what libpq holds; watches for writability while some is left. */
static void flush(struct tix_apg *pg)
{
    int r = PQflush(pg->conn);
    if (r < 0)
        lose(pg, PQerrorMessage(pg->conn));
    else if (r > 0)
        event_add(pg->write_ev, NULL);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush(arg);
}

/* ---- results */

/* Hands one result (or the end of an item's results, res NULL) to the head item. */
static void take_result(struct tix_apg *pg, PGresult *res)
{
    struct item *it = pg->head;
    if (it->kind == ITEM_SYNC || res == NULL) {
        free(pop(pg)); /* a Sync has no trailing NULL; other items end with one */
        PQclear(res);
        return;
    }
    ExecStatusType st = PQresultStatus(res);
    bool is_ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (it->kind == ITEM_PREPARE && !is_ok)
        forget_prepared(pg, it->name);
    if (it->kind == ITEM_QUERY && !it->is_answered) {
        it->is_answered = true;
        if (is_ok) {
            it->cb(it->ctx, TIX_OK, res);
            return; /* the callback's now */
        } else {
            struct tix_err err;
            enum tix_rc rc =
                st == PGRES_PIPELINE_ABORTED ? TIX_ETRANSIENT : tix_db_rc_of(res, &err);
            it->cb(it->ctx, rc, NULL);
        }
    }
    PQclear(res);
}

static void take_notifications(struct tix_apg *pg)
{
    PGnotify *n;
    while (pg->conn != NULL && (n = PQnotifies(pg->conn)) != NULL) {
        if (pg->listener.on_notify != NULL)
            pg->listener.on_notify(pg->listener.ctx, n->relname, n->extra);
        PQfreemem(n);
    }
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct tix_apg *pg = arg;
    if (PQconsumeInput(pg->conn) != 1) {
        lose(pg, PQerrorMessage(pg->conn));
        return;
    }
    while (pg->conn != NULL && pg->head != NULL && !PQisBusy(pg->conn))
        take_result(pg, PQgetResult(pg->conn));
    take_notifications(pg);
    if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_BAD)
        lose(pg, PQerrorMessage(pg->conn));
}

/* ---- public */

enum tix_rc tix_apg_open(struct event_base *base, const char *url,
                         const struct tix_apg_listener *listener, struct tix_apg **out,
                         struct tix_err *err)
{
    *out = NULL;
    struct tix_apg *pg = tix_xcalloc(1, sizeof(*pg));
    pg->base = base;
    pg->url = tix_xstrdup(url);
    if (listener != NULL)
        pg->listener = *listener;
    enum tix_rc rc = connect_now(pg, err);
    if (rc != TIX_OK) {
        free(pg->url);
        free(pg);
        return rc;
    }
    *out = pg;
    return TIX_OK;
}

void tix_apg_close(struct tix_apg *pg)
{
    if (pg == NULL)
        return;
    pg->listener.on_reset = NULL;
    pg->listener.on_notify = NULL;
    lose(pg, NULL);
    free(pg->url);
    free(pg);
}

/* Reconnects when it is time to; false while down. */
static bool ensure(struct tix_apg *pg)
{
    if (pg->conn != NULL)
        return true;
    if (tix_mono_ms() < pg->next_attempt_ms)
        return false;
    struct tix_err err;
    if (connect_now(pg, &err) != TIX_OK)
        return false;
    tix_log_info("postgres connection restored", "what=async");
    if (pg->listener.on_reset != NULL)
        pg->listener.on_reset(pg->listener.ctx);
    return true;
}

void tix_apg_query(struct tix_apg *pg, const char *name, const char *sql, int n,
                   const char *const *params, tix_apg_cb cb, void *ctx)
{
    if (!ensure(pg)) {
        cb(ctx, TIX_ETRANSIENT, NULL);
        return;
    }
    if (!is_prepared(pg, name)) {
        if (pg->n_prepared == MAX_PREPARED || PQsendPrepare(pg->conn, name, sql, n, NULL) != 1) {
            cb(ctx, TIX_EINTERNAL, NULL);
            return;
        }
        pg->prepared[pg->n_prepared++] = name;
        push(pg, ITEM_PREPARE, name, NULL, NULL);
    }
    if (PQsendQueryPrepared(pg->conn, name, n, params, NULL, NULL, 0) != 1) {
        cb(ctx, TIX_ETRANSIENT, NULL);
        lose(pg, PQerrorMessage(pg->conn));
        return;
    }
    push(pg, ITEM_QUERY, NULL, cb, ctx);
    if (PQpipelineSync(pg->conn) != 1) {
        lose(pg, PQerrorMessage(pg->conn));
        return;
    }
    push(pg, ITEM_SYNC, NULL, NULL, NULL);
    flush(pg);
}
