/* projector.c - catch-up and live wake-up for every projection
 *
 * One connection applies (transactions, checkpoints); a second one only LISTENs, so waiting for
 * a notification never sits inside an applying transaction.
 */
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "tix/db.h"
#include "tix/log.h"
#include "tix/mem.h"
#include "tix/store.h"

#include "projection.h"
#include "projector.h"

/* Applies the backlog of one version on every partition. */
static enum tix_rc catch_up(struct tix_db *db, const struct tix_projection *proj, int version,
                            int partitions, struct tix_err *err)
{
    enum tix_rc rc = TIX_OK;
    for (int part = 0; part < partitions && rc == TIX_OK; part++) {
        int applied = 1;
        while (applied > 0 && rc == TIX_OK)
            rc = tix_projection_step(db, proj, version, part, 1000, &applied, err);
    }
    return rc;
}

static enum tix_rc sweep(struct tix_db *db, int partitions, struct tix_err *err)
{
    enum tix_rc rc = TIX_OK;
    for (int i = 0; tix_projections[i] != NULL && rc == TIX_OK; i++) {
        const struct tix_projection *proj = tix_projections[i];
        int active = 0, building = 0;
        rc = tix_projection_versions(db, proj->name, &active, &building, err);
        if (rc == TIX_OK)
            rc = catch_up(db, proj, active, partitions, err);
        if (rc == TIX_OK && building > 0)
            rc = catch_up(db, proj, building, partitions, err);
    }
    return rc;
}

/* Waits up to timeout_ms for a notification on the listening connection. */
static void wait_notify(struct tix_db *listener, int timeout_ms)
{
    PGconn *conn = tix_db_conn(listener);
    struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
    if (pfd.fd >= 0 && poll(&pfd, 1, timeout_ms) > 0)
        PQconsumeInput(conn);
    PGnotify *n;
    while ((n = PQnotifies(conn)) != NULL)
        PQfreemem(n);
    if (PQstatus(conn) == CONNECTION_BAD) {
        PQreset(conn);
        tix_db_script(listener, "LISTEN tixmo_events", NULL);
    }
}

enum tix_rc tix_projector_run(const struct tix_config *cfg, volatile sig_atomic_t *stop,
                              struct tix_err *err)
{
    struct tix_db *db = NULL, *listener = NULL;
    int partitions = 0;
    enum tix_rc rc = tix_db_open(cfg->db_url, &db, err);
    if (rc == TIX_OK)
        rc = tix_db_open(cfg->db_url, &listener, err);
    if (rc == TIX_OK)
        rc = tix_store_partitions(db, &partitions, err);
    for (int i = 0; tix_projections[i] != NULL && rc == TIX_OK; i++) {
        int active = 1, building = 0;
        rc = tix_projection_prepare(db, tix_projections[i], 1, partitions, err);
        if (rc == TIX_OK)
            rc = tix_projection_versions(db, tix_projections[i]->name, &active, &building, err);
        if (rc == TIX_OK && active != 1) /* the live version's DDL (new columns) and views */
            rc = tix_projection_prepare(db, tix_projections[i], active, partitions, err);
    }
    if (rc == TIX_OK)
        rc = tix_db_script(listener, "LISTEN tixmo_events", err);
    if (rc == TIX_OK)
        tix_log_info("projector started", "partitions=%d", partitions);
    while (rc == TIX_OK && !*stop) {
        if (sweep(db, partitions, err) != TIX_OK) {
            tix_log_warn("projection step failed, retrying", "rc=%s detail=\"%s\"",
                         tix_rc_name(err->rc), err->msg);
            sleep(1);
        }
        wait_notify(listener, 1000);
    }
    tix_db_close(listener);
    tix_db_close(db);
    return rc;
}
