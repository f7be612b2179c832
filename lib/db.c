/* db.c - libpq wrapper: parameters only, errors translated once
 *
 * Every PGresult is either handed to the caller (success) or cleared here (failure), so no
 * path leaks a result.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/db.h"
#include "tix/log.h"
#include "tix/mem.h"

#define MAX_PREPARED       32
#define MAX_BATCH_PREPARED 256

struct tix_db {
    PGconn *conn;
    int n_prepared;
    const char *prepared[MAX_PREPARED]; /* names prepared on this connection (static strings) */
    int n_batch_prepared;
    /* static sql texts tix_db_exec_batch prepared, by address (NULL: a failed one's slot);
     * the one at index i is named "tix_batch_<i>" */
    const char *batch_prepared[MAX_BATCH_PREPARED];
};

static void quiet_notice_cb(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Connects to url with the session options (NULL: none), kept across PQreset. */
static enum tix_rc open_with(const char *url, const char *options, struct tix_db **out,
                             struct tix_err *err)
{
    *out = NULL;
    const char *keys[] = {"dbname", options != NULL ? "options" : NULL, NULL};
    const char *values[] = {url, options, NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        enum tix_rc rc = tix_err_set(err, TIX_ETRANSIENT, "", "postgres: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return rc;
    }
    PQsetNoticeProcessor(conn, quiet_notice_cb, NULL);
    struct tix_db *db = tix_xcalloc(1, sizeof(*db));
    db->conn = conn;
    *out = db;
    return TIX_OK;
}

enum tix_rc tix_db_open(const char *url, struct tix_db **out, struct tix_err *err)
{
    return open_with(url, TIX_DB_SESSION_OPTIONS, out, err);
}

enum tix_rc tix_db_open_relaxed(const char *url, struct tix_db **out, struct tix_err *err)
{
    return open_with(url, TIX_DB_SESSION_OPTIONS " -c synchronous_commit=off -c enable_hashagg=off",
                     out, err);
}

void tix_db_close(struct tix_db *db)
{
    if (db == NULL)
        return;
    PQfinish(db->conn);
    free(db);
}

PGconn *tix_db_conn(struct tix_db *db)
{
    return db->conn;
}

static bool starts(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

enum tix_rc tix_db_rc_of(const PGresult *res, struct tix_err *err)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (msg == NULL)
        msg = PQresultErrorMessage(res);
    enum tix_rc rc = TIX_EINTERNAL;
    if (state == NULL || starts(state, "08") || starts(state, "53") || starts(state, "57P") ||
        strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
        rc = TIX_ETRANSIENT;
    else if (strcmp(state, "23505") == 0)
        rc = TIX_ECONFLICT;
    else if (starts(state, "22") || starts(state, "23") || strcmp(state, "P0001") == 0 ||
             strcmp(state, "42501") == 0)
        rc = TIX_EINVAL;
    return tix_err_set(err, rc, constraint, "postgres %s: %s", state != NULL ? state : "-", msg);
}

/* Resets a lost connection (the call then fails with TIX_ETRANSIENT); else returns rc. */
static enum tix_rc reset_if_lost(struct tix_db *db, enum tix_rc rc, struct tix_err *err)
{
    if (PQstatus(db->conn) != CONNECTION_BAD)
        return rc;
    tix_log_warn("postgres connection lost, resetting", NULL);
    PQreset(db->conn);
    db->n_prepared = 0; /* a new session has no prepared statements */
    db->n_batch_prepared = 0;
    return tix_err_set(err, TIX_ETRANSIENT, "", "postgres connection lost");
}

static enum tix_rc check(struct tix_db *db, PGresult *res, PGresult **out, struct tix_err *err)
{
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (out != NULL)
            *out = res;
        else
            PQclear(res);
        return TIX_OK;
    }
    enum tix_rc rc = tix_db_rc_of(res, err);
    PQclear(res);
    return reset_if_lost(db, rc, err);
}

enum tix_rc tix_db_exec(struct tix_db *db, const char *sql, int n, const char *const *params,
                        PGresult **out, struct tix_err *err)
{
    if (out != NULL)
        *out = NULL;
    PGresult *res = PQexecParams(db->conn, sql, n, NULL, params, NULL, NULL, 0);
    return check(db, res, out, err);
}

static bool is_prepared(const struct tix_db *db, const char *name)
{
    for (int i = 0; i < db->n_prepared; i++)
        if (strcmp(db->prepared[i], name) == 0)
            return true;
    return false;
}

enum tix_rc tix_db_exec_prepared(struct tix_db *db, const char *name, const char *sql, int n,
                                 const char *const *params, PGresult **out, struct tix_err *err)
{
    if (!is_prepared(db, name)) {
        if (db->n_prepared == MAX_PREPARED)
            return tix_db_exec(db, sql, n, params, out, err);
        enum tix_rc rc = check(db, PQprepare(db->conn, name, sql, n, NULL), NULL, err);
        if (rc != TIX_OK)
            return rc;
        db->prepared[db->n_prepared++] = name;
    }
    if (out != NULL)
        *out = NULL;
    PGresult *res = PQexecPrepared(db->conn, name, n, params, NULL, NULL, 0);
    return check(db, res, out, err);
}

/* Reads the results of one pipelined message up to its end; the first error (if rc is still
 * TIX_OK) goes to rc and err. *is_ok tells whether it succeeded (not failed, not skipped); a
 * success's result goes to *keep when keep is not NULL. */
static enum tix_rc drain_one(struct tix_db *db, enum tix_rc rc, bool *is_ok, PGresult **keep,
                             struct tix_err *err)
{
    PGresult *res;
    *is_ok = true;
    while ((res = PQgetResult(db->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        *is_ok = *is_ok && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
        if (rc == TIX_OK && st == PGRES_FATAL_ERROR)
            rc = tix_db_rc_of(res, err);
        if (keep != NULL && *is_ok) {
            PQclear(*keep);
            *keep = res;
        } else {
            PQclear(res);
        }
    }
    return rc;
}

/* Queues st: by name when its sql is static (*is_preparing when it is prepared first, in the
 * pipeline, under slot *slot), else with its text. Returns libpq's 1 on success. */
static int send_stmt(struct tix_db *db, const struct tix_db_stmt *st, bool *is_preparing, int *slot)
{
    *is_preparing = false;
    *slot = -1;
    for (int i = 0; st->is_static && i < db->n_batch_prepared && *slot < 0; i++)
        if (db->batch_prepared[i] == st->sql)
            *slot = i;
    if (st->is_static && *slot < 0 && db->n_batch_prepared < MAX_BATCH_PREPARED) {
        *slot = db->n_batch_prepared++;
        db->batch_prepared[*slot] = st->sql;
        *is_preparing = true;
    }
    if (*slot < 0)
        return PQsendQueryParams(db->conn, st->sql, st->n, NULL, st->params, NULL, NULL, 0);
    char name[32];
    snprintf(name, sizeof(name), "tix_batch_%d", *slot);
    if (*is_preparing && PQsendPrepare(db->conn, name, st->sql, st->n, NULL) != 1)
        return 0;
    return PQsendQueryPrepared(db->conn, name, st->n, st->params, NULL, NULL, 0);
}

enum tix_rc tix_db_exec_batch(struct tix_db *db, const struct tix_db_stmt *stmts, int n,
                              int *failed, PGresult **last, struct tix_err *err)
{
    if (failed != NULL)
        *failed = -1;
    if (last != NULL)
        *last = NULL;
    if (n == 0)
        return TIX_OK;
    if (PQenterPipelineMode(db->conn) != 1)
        return tix_err_set(err, TIX_EINTERNAL, "", "postgres: %s", PQerrorMessage(db->conn));
    bool *is_preparing = tix_xcalloc((size_t)n, sizeof(*is_preparing));
    int *slots = tix_xcalloc((size_t)n, sizeof(*slots));
    int sent = 0;
    while (sent < n && send_stmt(db, &stmts[sent], &is_preparing[sent], &slots[sent]) == 1)
        sent++;
    enum tix_rc rc = TIX_OK;
    if (sent < n)
        rc = tix_err_set(err, TIX_ETRANSIENT, "", "postgres: %s", PQerrorMessage(db->conn));
    if (PQpipelineSync(db->conn) != 1 && rc == TIX_OK)
        rc = tix_err_set(err, TIX_ETRANSIENT, "", "postgres: %s", PQerrorMessage(db->conn));
    for (int i = 0; i < sent; i++) {
        enum tix_rc was = rc;
        bool is_ok = true;
        if (is_preparing[i])
            rc = drain_one(db, rc, &is_ok, NULL, err);
        if (!is_ok) /* not prepared: prepared again next time */
            db->batch_prepared[slots[i]] = NULL;
        rc = drain_one(db, rc, &is_ok, i == n - 1 ? last : NULL, err);
        if (was == TIX_OK && rc != TIX_OK && failed != NULL)
            *failed = i;
    }
    free(slots);
    free(is_preparing);
    PGresult *res;
    while ((res = PQgetResult(db->conn)) != NULL) { /* the sync's result */
        bool is_sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        PQclear(res);
        if (is_sync)
            break;
    }
    PQexitPipelineMode(db->conn);
    rc = reset_if_lost(db, rc, err);
    if (rc != TIX_OK && last != NULL) {
        PQclear(*last);
        *last = NULL;
    }
    return rc;
}

enum tix_rc tix_db_script(struct tix_db *db, const char *sql, struct tix_err *err)
{
    return check(db, PQexec(db->conn, sql), NULL, err);
}

bool tix_db_wait_partitions(struct tix_db *db, const char *channel, int timeout_ms, bool *hot,
                            int partitions)
{
    PGconn *conn = tix_db_conn(db);
    struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
    if (pfd.fd >= 0 && poll(&pfd, 1, timeout_ms) > 0)
        PQconsumeInput(conn);
    PGnotify *n;
    bool is_notified = false;
    while ((n = PQnotifies(conn)) != NULL) {
        char *end = NULL;
        long part = strtol(n->extra, &end, 10);
        if (hot != NULL && end != n->extra && part >= 0 && part < partitions)
            hot[part] = true;
        is_notified = true;
        PQfreemem(n);
    }
    if (PQstatus(conn) == CONNECTION_BAD) {
        PQreset(conn);
        char *quoted = PQescapeIdentifier(conn, channel, strlen(channel));
        if (quoted != NULL) {
            char sql[160];
            snprintf(sql, sizeof(sql), "LISTEN %s", quoted);
            tix_db_script(db, sql, NULL);
            PQfreemem(quoted);
        }
    }
    return is_notified;
}
