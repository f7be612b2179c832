/* availability.c - rm.avail_outbox to Redis hashes and the avail:<event_id> channel
 *
 * See availability.h. One query reads a batch of outbox rows with the message each one becomes
 * (built by Postgres from rm.availability, rm.avail_seat_outbox and rm.seat_status); each row is
 * then written to Redis and published; the rows published are then deleted with their seats,
 * each on a compare of its touch counter, in one statement. A changed seat's status is looked up by
 * its whole key (a subquery per seat): as a join, the planner (which finds the outbox tables empty
 * whenever it looks at them) matched the seat ids as a filter over every seat row of the session,
 * O(changed x held) per publish, which kept an on-sale's read model seconds behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/buf.h"
#include "tix/json.h"
#include "tix/log.h"
#include "tix/mem.h"

#include "availability.h"
#include "projection.h"

static const char batch_sql[] =
    "SELECT o.event_id, o.session_id, o.touches, json_build_object('event_id', o.event_id,"
    " 'session_id', o.session_id, 'ticket_types', (SELECT COALESCE(json_agg(json_build_object("
    "'ticket_type_id', a.ticket_type_id, 'available', a.available, 'held', a.held,"
    " 'sold', a.sold) ORDER BY a.ticket_type_id), '[]'::json) FROM rm.availability a"
    " WHERE a.event_id = o.event_id AND a.session_id = o.session_id),"
    " 'seats', (SELECT COALESCE(json_object_agg(s.seat_id, COALESCE((SELECT ss.status"
    " FROM rm.seat_status ss WHERE ss.event_id = s.event_id AND ss.session_id = s.session_id"
    " AND ss.seat_id = s.seat_id), 'free')), '{}'::json) FROM rm.avail_seat_outbox s"
    " WHERE s.event_id = o.event_id AND s.session_id = o.session_id))::text"
    " FROM rm.avail_outbox o ORDER BY o.event_id, o.session_id LIMIT $1::int";

/* HSET avail:<event> <session>:<type> {...} for every type of the message. */
static enum tix_rc write_counts(struct tix_redis *redis, const char *event, const char *session,
                                const json_t *types, struct tix_err *err)
{
    size_t n = json_array_size(types);
    if (n == 0)
        return TIX_OK;
    char key[96];
    snprintf(key, sizeof(key), "avail:%s", event);
    const char **argv = tix_xcalloc(2 + 2 * n, sizeof(*argv));
    char **owned = tix_xcalloc(2 * n, sizeof(*owned));
    argv[0] = "HSET";
    argv[1] = key;
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(types, i);
        size_t len = strlen(session) + 1 + 40;
        owned[2 * i] = tix_xmalloc(len);
        snprintf(owned[2 * i], len, "%s:%s", session, tix_json_str(t, "ticket_type_id"));
        json_t *v = json_pack("{sO sO sO}", "available", json_object_get(t, "available"), "held",
                              json_object_get(t, "held"), "sold", json_object_get(t, "sold"));
        owned[2 * i + 1] = tix_json_dump(v);
        json_decref(v);
        argv[2 + 2 * i] = owned[2 * i];
        argv[3 + 2 * i] = owned[2 * i + 1];
    }
    enum tix_rc rc = tix_redis_cmd_argv(redis, (int)(2 + 2 * n), argv, NULL, NULL, err);
    for (size_t i = 0; i < 2 * n; i++)
        free(owned[i]);
    free(owned);
    free(argv);
    return rc;
}

/* Seats held or sold go in seats:<event>:<session>, free ones leave it: one HSET and one HDEL
 * for all of them (a pass of an on-sale changes thousands of seats). */
static enum tix_rc write_seats(struct tix_redis *redis, const char *event, const char *session,
                               const json_t *seats, struct tix_err *err)
{
    char key[128];
    snprintf(key, sizeof(key), "seats:%s:%s", event, session);
    size_t n = json_object_size(seats);
    const char **set = tix_xcalloc(2 + 2 * n, sizeof(*set));
    const char **del = tix_xcalloc(2 + n, sizeof(*del));
    int n_set = 2, n_del = 2;
    set[0] = "HSET";
    del[0] = "HDEL";
    set[1] = del[1] = key;
    const char *seat;
    const json_t *status;
    json_object_foreach((json_t *)seats, seat, status)
    {
        const char *st = json_string_value(status);
        if (st == NULL)
            continue;
        if (strcmp(st, "free") == 0) {
            del[n_del++] = seat;
        } else {
            set[n_set++] = seat;
            set[n_set++] = st;
        }
    }
    enum tix_rc rc = TIX_OK;
    if (n_set > 2)
        rc = tix_redis_cmd_argv(redis, n_set, set, NULL, NULL, err);
    if (rc == TIX_OK && n_del > 2)
        rc = tix_redis_cmd_argv(redis, n_del, del, NULL, NULL, err);
    free(set);
    free(del);
    return rc;
}

/* Writes row i of the batch to Redis and publishes it. */
static enum tix_rc publish_row(struct tix_redis *redis, PGresult *res, int i, struct tix_err *err)
{
    const char *event = PQgetvalue(res, i, 0), *session = PQgetvalue(res, i, 1);
    const char *text = PQgetvalue(res, i, 3);
    json_t *msg = tix_json_parse(text, strlen(text), NULL);
    if (msg == NULL)
        return tix_err_set(err, TIX_EINTERNAL, "", "unreadable availability of %s", event);
    enum tix_rc rc = write_counts(redis, event, session, json_object_get(msg, "ticket_types"), err);
    if (rc == TIX_OK)
        rc = write_seats(redis, event, session, json_object_get(msg, "seats"), err);
    char channel[96], *compact = tix_json_dump(msg);
    json_decref(msg);
    snprintf(channel, sizeof(channel), "avail:%s", event);
    if (rc == TIX_OK)
        rc = tix_redis_cmd(redis, NULL, err, "PUBLISH %s %s", channel, compact);
    free(compact);
    return rc;
}

/* The published outbox rows ($1 events, $2 sessions, $3 touches) and their seats, each only
 * if nothing touched it since it was read. */
static const char delete_sql[] =
    "WITH v AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[])"
    " AS v(event_id, session_id, touches)),"
    " d AS (DELETE FROM rm.avail_outbox o USING v WHERE o.event_id = v.event_id"
    " AND o.session_id = v.session_id AND o.touches = v.touches"
    " RETURNING o.event_id, o.session_id)"
    " DELETE FROM rm.avail_seat_outbox s USING d WHERE s.event_id = d.event_id"
    " AND s.session_id = d.session_id";

/* Deletes the first n rows of the batch res (published) and commits the transaction that
 * read them (two views in one statement, so under the views lock the read took). */
static enum tix_rc delete_published(struct tix_db *db, PGresult *res, int n, struct tix_err *err)
{
    if (n == 0)
        return tix_db_script(db, "COMMIT", err);
    struct tix_buf cols[3];
    for (int c = 0; c < 3; c++) {
        tix_buf_init(&cols[c], 0);
        for (int i = 0; i < n; i++)
            tix_buf_printf(&cols[c], "%c%s", i == 0 ? '{' : ',', PQgetvalue(res, i, c));
        tix_buf_puts(&cols[c], "}");
    }
    const char *params[] = {cols[0].ptr, cols[1].ptr, cols[2].ptr};
    const struct tix_db_stmt batch[] = {
        {delete_sql, 3, params, true},
        {"COMMIT", 0, NULL, false},
    };
    enum tix_rc rc = tix_db_exec_batch(db, batch, 2, NULL, NULL, err);
    for (int c = 0; c < 3; c++)
        tix_buf_deinit(&cols[c]);
    return rc;
}

enum tix_rc tix_avail_publish(struct tix_db *db, struct tix_redis *redis, int limit, int *published,
                              struct tix_err *err)
{
    *published = 0;
    char n[16];
    snprintf(n, sizeof(n), "%d", limit);
    const char *params[] = {n};
    /* One transaction, two round trips: the read under the views lock (four views in one
     * statement: not while their re-pointing is under way, projection.h), then, once Redis has
     * the rows, their delete and the commit. */
    const struct tix_db_stmt read[] = {
        {"BEGIN", 0, NULL, false},
        {"SELECT pg_advisory_xact_lock_shared(" TIX_PROJECTION_VIEWS_LOCK ")", 0, NULL, true},
        {batch_sql, 1, params, true},
    };
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec_batch(db, read, 3, NULL, &res, err);
    if (rc != TIX_OK) {
        tix_db_script(db, "ROLLBACK", NULL);
        return rc;
    }
    int sent = 0;
    while (rc == TIX_OK && sent < PQntuples(res)) {
        rc = publish_row(redis, res, sent, err);
        sent += rc == TIX_OK;
    }
    struct tix_err end_err;
    enum tix_rc end_rc = delete_published(db, res, sent, &end_err);
    PQclear(res);
    if (end_rc != TIX_OK) {
        tix_db_script(db, "ROLLBACK", NULL);
        if (rc == TIX_OK) {
            *err = end_err;
            rc = end_rc;
        }
    }
    if (rc == TIX_OK)
        *published = sent;
    return rc;
}
