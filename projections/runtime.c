/* runtime.c - checkpoints, versions and transactions around pure projections
 *
 * Invariants:
 *  - a (projection, version, partition) checkpoint advances only in the transaction that wrote
 *    the rows of the events it covers, with a compare-and-set on its old value: the read model
 *    is exactly the fold of events 1..last_seq, whatever crashed or ran twice;
 *  - the checkpoint row is taken FOR UPDATE SKIP LOCKED, so two workers never apply the same
 *    partition of the same version at once, and neither waits for the other;
 *  - identifiers (schema names) are built only from compiled-in projection names and integers.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tix/json.h"
#include "tix/mem.h"

#include "projection.h"

void tix_stmts_init(struct tix_stmts *s)
{
    memset(s, 0, sizeof(*s));
}

void tix_stmts_reset(struct tix_stmts *s)
{
    for (int i = 0; i < s->n; i++)
        for (int j = 0; j < s->items[i].n; j++)
            free(s->items[i].params[j]);
    s->n = 0;
}

void tix_stmts_deinit(struct tix_stmts *s)
{
    tix_stmts_reset(s);
    free(s->items);
    memset(s, 0, sizeof(*s));
}

static struct tix_stmt *push(struct tix_stmts *s, const char *sql, int n, bool is_deferred)
{
    if (s->n == s->cap) {
        s->cap = s->cap == 0 ? 8 : 2 * s->cap;
        s->items = tix_xrealloc(s->items, (size_t)s->cap * sizeof(*s->items));
    }
    struct tix_stmt *st = &s->items[s->n++];
    st->sql = sql;
    st->n = n < TIX_STMT_MAX_PARAMS ? n : TIX_STMT_MAX_PARAMS;
    st->is_deferred = is_deferred;
    return st;
}

/* Adds sql with the n const char * parameters of ap (copied). */
static void add_v(struct tix_stmts *s, bool is_deferred, const char *sql, int n, va_list ap)
{
    struct tix_stmt *st = push(s, sql, n, is_deferred);
    for (int i = 0; i < st->n; i++)
        st->params[i] = tix_xstrdup(va_arg(ap, const char *));
}

void tix_stmts_add(struct tix_stmts *s, const char *sql, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    add_v(s, false, sql, n, ap);
    va_end(ap);
}

void tix_stmts_defer(struct tix_stmts *s, const char *sql, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    add_v(s, true, sql, n, ap);
    va_end(ap);
}

static bool same_text(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* Moves st into later unless an equal statement is already there (st is left empty). */
static void keep_for_later(struct tix_stmts *later, struct tix_stmt *st)
{
    for (int i = 0; i < later->n; i++) {
        const struct tix_stmt *o = &later->items[i];
        bool is_same = o->sql == st->sql && o->n == st->n;
        for (int j = 0; is_same && j < st->n; j++)
            is_same = same_text(o->params[j], st->params[j]);
        if (is_same)
            return; /* st's params are freed with the per-event list */
    }
    struct tix_stmt *copy = push(later, st->sql, st->n, true);
    for (int j = 0; j < st->n; j++) {
        copy->params[j] = st->params[j];
        st->params[j] = NULL;
    }
}

const struct tix_projection *tix_projection_find(const char *name)
{
    for (int i = 0; tix_projections[i] != NULL; i++)
        if (strcmp(tix_projections[i]->name, name) == 0)
            return tix_projections[i];
    return NULL;
}

static void schema_name(const struct tix_projection *proj, int version, char *out, size_t size)
{
    snprintf(out, size, "rm_%s_v%d", proj->name, version);
}

static enum tix_rc set_path(struct tix_db *db, const struct tix_projection *proj, int version,
                            struct tix_err *err)
{
    char schema[96], sql[160];
    schema_name(proj, version, schema, sizeof(schema));
    snprintf(sql, sizeof(sql), "SET LOCAL search_path = %s, public", schema);
    return tix_db_script(db, sql, err);
}

/* Points rm.<table> at version's tables; inside the caller's transaction. The view is replaced
 * in place where its columns allow (same relation, so a reader's prepared statement carries on
 * after a short wait on the lock); only a switch whose columns differ drops and recreates it. */
static enum tix_rc point_views(struct tix_db *db, const struct tix_projection *proj, int version,
                               struct tix_err *err)
{
    char schema[96];
    schema_name(proj, version, schema, sizeof(schema));
    enum tix_rc rc = tix_db_script(db, "CREATE SCHEMA IF NOT EXISTS rm", err);
    for (int i = 0; proj->tables[i] != NULL && rc == TIX_OK; i++) {
        const char *t = proj->tables[i];
        char sql[512];
        snprintf(sql, sizeof(sql), "CREATE OR REPLACE VIEW rm.%s AS SELECT * FROM %s.%s", t, schema,
                 t);
        rc = tix_db_script(db, "SAVEPOINT point_view", err);
        if (rc == TIX_OK && tix_db_script(db, sql, NULL) == TIX_OK) {
            rc = tix_db_script(db, "RELEASE SAVEPOINT point_view", err);
            continue;
        }
        if (rc == TIX_OK)
            rc = tix_db_script(db, "ROLLBACK TO SAVEPOINT point_view", err);
        snprintf(sql, sizeof(sql),
                 "DROP VIEW IF EXISTS rm.%s; CREATE VIEW rm.%s AS SELECT * FROM %s.%s", t, t,
                 schema, t);
        if (rc == TIX_OK)
            rc = tix_db_script(db, sql, err);
    }
    if (rc == TIX_OK) /* caches of the old version's rows must go (gateway/cache.c) */
        rc = tix_db_script(db, "SELECT pg_notify('tix_rm', '*')", err);
    return rc;
}

static enum tix_rc finish_tx(struct tix_db *db, enum tix_rc rc, struct tix_err *err)
{
    if (rc == TIX_OK)
        return tix_db_script(db, "COMMIT", err);
    tix_db_script(db, "ROLLBACK", NULL);
    return rc;
}

static int atoi_safe(const char *s)
{
    return (int)strtol(s != NULL ? s : "0", NULL, 10);
}

enum tix_rc tix_projection_prepare(struct tix_db *db, const struct tix_projection *proj,
                                   int version, int partitions, struct tix_err *err)
{
    char schema[96], sql[160], v[16], n[16];
    schema_name(proj, version, schema, sizeof(schema));
    snprintf(v, sizeof(v), "%d", version);
    snprintf(n, sizeof(n), "%d", partitions);
    enum tix_rc rc = tix_db_script(db, "BEGIN; SELECT pg_advisory_xact_lock(727272)", err);
    snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s", schema);
    if (rc == TIX_OK)
        rc = tix_db_script(db, sql, err);
    if (rc == TIX_OK)
        rc = set_path(db, proj, version, err);
    if (rc == TIX_OK)
        rc = tix_db_script(db, proj->ddl, err);
    const char *params[] = {proj->name, v, n};
    if (rc == TIX_OK)
        rc = tix_db_exec(db,
                         "INSERT INTO public.projection_checkpoints (projection, version, "
                         "partition) SELECT $1, $2, generate_series(0, $3::int - 1) "
                         "ON CONFLICT DO NOTHING",
                         3, params, NULL, err);
    PGresult *res = NULL;
    if (rc == TIX_OK)
        rc = tix_db_exec(db,
                         "WITH ins AS (INSERT INTO public.projections (name, active_version) "
                         "VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING 1) "
                         "SELECT count(*) FROM ins",
                         2, params, &res, err);
    PGresult *active = NULL;
    if (rc == TIX_OK)
        rc = tix_db_exec(db, "SELECT active_version FROM public.projections WHERE name = $1", 1,
                         params, &active, err);
    /* the views of the active version are redone at every start-up: a column added to its
     * tables by the DDL above shows through them */
    if (rc == TIX_OK &&
        (strcmp(PQgetvalue(res, 0, 0), "1") == 0 || atoi_safe(PQgetvalue(active, 0, 0)) == version))
        rc = point_views(db, proj, version, err);
    PQclear(active);
    PQclear(res);
    return finish_tx(db, rc, err);
}

enum tix_rc tix_projection_versions(struct tix_db *db, const char *name, int *active, int *building,
                                    struct tix_err *err)
{
    const char *params[] = {name};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec(db,
                                 "SELECT active_version, coalesce(building_version, 0) "
                                 "FROM public.projections WHERE name = $1",
                                 1, params, &res, err);
    if (rc != TIX_OK)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return tix_err_set(err, TIX_ENOTFOUND, "projection", "projection %s is not prepared", name);
    }
    *active = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    *building = (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    return TIX_OK;
}

struct apply_ctx {
    struct tix_db *db;
    const struct tix_projection *proj;
    struct tix_stmts stmts;
    struct tix_stmts later; /* deferred statements of the pass, each once */
    int64_t last_seq;
    struct tix_err *err;
};

static enum tix_rc apply_cb(const struct tix_event *e, void *arg)
{
    struct apply_ctx *c = arg;
    tix_stmts_reset(&c->stmts);
    enum tix_rc rc = c->proj->apply(e, &c->stmts);
    if (rc != TIX_OK)
        return tix_err_set(c->err, rc, "", "%s cannot apply %s at %d/%" PRId64, c->proj->name,
                           e->type, e->partition, e->partition_seq);
    for (int i = 0; i < c->stmts.n && rc == TIX_OK; i++) {
        struct tix_stmt *st = &c->stmts.items[i];
        if (st->is_deferred)
            keep_for_later(&c->later, st);
        else
            rc = tix_db_exec(c->db, st->sql, st->n, (const char *const *)st->params, NULL, c->err);
    }
    c->last_seq = e->partition_seq;
    return rc;
}

/* Runs the pass's deferred statements, in the order first asked for. */
static enum tix_rc run_later(struct apply_ctx *c)
{
    enum tix_rc rc = TIX_OK;
    for (int i = 0; i < c->later.n && rc == TIX_OK; i++) {
        struct tix_stmt *st = &c->later.items[i];
        rc = tix_db_exec(c->db, st->sql, st->n, (const char *const *)st->params, NULL, c->err);
    }
    return rc;
}

/* Reads outcomes as events (see projection.h) and applies them. */
static enum tix_rc read_outcomes(struct tix_db *db, int partition, int64_t after, int limit,
                                 struct apply_ctx *c, int *count, struct tix_err *err)
{
    char p[16], a[24], l[16];
    snprintf(p, sizeof(p), "%d", partition);
    snprintf(a, sizeof(a), "%" PRId64, after);
    snprintf(l, sizeof(l), "%d", limit);
    const char *params[] = {p, a, l};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec(
        db,
        "SELECT outcome_seq, command_id, status, outcome::text, command_type, actor, "
        "(extract(epoch FROM decided_at) * 1000000)::bigint FROM public.processed_commands "
        "WHERE partition = $1 AND outcome_seq > $2 ORDER BY outcome_seq LIMIT $3",
        3, params, &res, err);
    *count = rc == TIX_OK ? PQntuples(res) : 0;
    for (int i = 0; i < *count && rc == TIX_OK; i++) {
        json_t *md = json_pack("{ss ss}", "command_type", PQgetvalue(res, i, 4), "actor",
                               PQgetvalue(res, i, 5));
        char *metadata = tix_json_dump(md);
        json_decref(md);
        char type[32];
        snprintf(type, sizeof(type), "command.%s", PQgetvalue(res, i, 2));
        struct tix_event e = {
            .partition = partition,
            .partition_seq = strtoll(PQgetvalue(res, i, 0), NULL, 10),
            .stream_id = PQgetvalue(res, i, 1),
            .command_id = PQgetvalue(res, i, 1),
            .event_id = "",
            .type = type,
            .schema_version = 1,
            .data = PQgetvalue(res, i, 3),
            .metadata = metadata,
            .recorded_at_us = strtoll(PQgetvalue(res, i, 6), NULL, 10),
        };
        rc = apply_cb(&e, c);
        free(metadata);
    }
    PQclear(res);
    return rc;
}

static enum tix_rc lock_checkpoint(struct tix_db *db, const char *const *params, bool *is_held,
                                   int64_t *last_seq, struct tix_err *err)
{
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec(db,
                                 "SELECT last_seq FROM public.projection_checkpoints WHERE "
                                 "projection = $1 AND version = $2 AND partition = $3 "
                                 "FOR UPDATE SKIP LOCKED",
                                 3, params, &res, err);
    if (rc != TIX_OK)
        return rc;
    *is_held = PQntuples(res) == 1;
    *last_seq = *is_held ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return TIX_OK;
}

enum tix_rc tix_projection_step(struct tix_db *db, const struct tix_projection *proj, int version,
                                int partition, int limit, int *applied, struct tix_err *err)
{
    char v[16], p[16];
    snprintf(v, sizeof(v), "%d", version);
    snprintf(p, sizeof(p), "%d", partition);
    const char *key[] = {proj->name, v, p};
    *applied = 0;
    bool is_held = false;
    int64_t from = 0;
    enum tix_rc rc = tix_db_script(db, "BEGIN", err);
    if (rc == TIX_OK)
        rc = lock_checkpoint(db, key, &is_held, &from, err);
    if (rc != TIX_OK || !is_held) { /* busy: another worker holds this partition */
        tix_db_script(db, "ROLLBACK", NULL);
        return rc;
    }
    rc = set_path(db, proj, version, err);
    struct apply_ctx c = {.db = db, .proj = proj, .last_seq = from, .err = err};
    tix_stmts_init(&c.stmts);
    tix_stmts_init(&c.later);
    if (rc == TIX_OK && proj->source == TIX_SOURCE_EVENTS)
        rc = tix_store_read_partition(db, partition, from, limit, apply_cb, &c, applied, err);
    else if (rc == TIX_OK)
        rc = read_outcomes(db, partition, from, limit, &c, applied, err);
    if (rc == TIX_OK)
        rc = run_later(&c);
    tix_stmts_deinit(&c.stmts);
    tix_stmts_deinit(&c.later);
    char old_seq[24], new_seq[24];
    snprintf(old_seq, sizeof(old_seq), "%" PRId64, from);
    snprintf(new_seq, sizeof(new_seq), "%" PRId64, c.last_seq);
    const char *params[] = {proj->name, v, p, old_seq, new_seq};
    PGresult *res = NULL;
    if (rc == TIX_OK && *applied > 0)
        rc = tix_db_exec(db,
                         "UPDATE public.projection_checkpoints SET last_seq = $5, updated_at = "
                         "now() WHERE projection = $1 AND version = $2 AND partition = $3 AND "
                         "last_seq = $4",
                         5, params, &res, err);
    if (res != NULL && strcmp(PQcmdTuples(res), "1") != 0)
        rc = tix_err_set(err, TIX_ECONFLICT, "checkpoint", "checkpoint of %s moved", proj->name);
    PQclear(res);
    if (rc != TIX_OK)
        *applied = 0;
    return finish_tx(db, rc, err);
}

enum tix_rc tix_projection_lag(struct tix_db *db, const struct tix_projection *proj, int version,
                               int64_t *lag, struct tix_err *err)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", version);
    const char *params[] = {proj->name, v,
                            proj->source == TIX_SOURCE_EVENTS ? "events" : "outcomes"};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec(
        db,
        "SELECT coalesce(sum(CASE WHEN $3 = 'events' THEN h.last_seq ELSE h.last_outcome_seq "
        "END - c.last_seq), 0) FROM public.partition_heads h JOIN public.projection_checkpoints c "
        "ON c.partition = h.partition WHERE c.projection = $1 AND c.version = $2",
        3, params, &res, err);
    if (rc != TIX_OK)
        return rc;
    *lag = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return TIX_OK;
}

/* Applies version's backlog on every partition; returns once nothing was left to read. */
static enum tix_rc drain(struct tix_db *db, const struct tix_projection *proj, int version,
                         int partitions, int64_t *done, int64_t total, tix_progress_cb progress,
                         void *ctx, struct tix_err *err)
{
    enum tix_rc rc = TIX_OK;
    for (int part = 0; part < partitions && rc == TIX_OK; part++) {
        int applied = 1;
        while (applied > 0 && rc == TIX_OK) {
            rc = tix_projection_step(db, proj, version, part, 2000, &applied, err);
            *done += applied;
            if (progress != NULL && applied > 0)
                progress(*done, total, ctx);
        }
    }
    return rc;
}

/* Makes version active if it has caught up; *is_switched tells whether it did. */
static enum tix_rc try_switch(struct tix_db *db, const struct tix_projection *proj, int version,
                              bool *is_switched, struct tix_err *err)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", version);
    const char *params[] = {proj->name, v};
    enum tix_rc rc = tix_db_script(db, "BEGIN", err);
    if (rc == TIX_OK)
        rc = tix_db_exec(db, "SELECT 1 FROM public.projections WHERE name = $1 FOR UPDATE", 1,
                         params, NULL, err);
    int64_t lag = 0;
    if (rc == TIX_OK)
        rc = tix_projection_lag(db, proj, version, &lag, err);
    *is_switched = rc == TIX_OK && lag == 0;
    if (*is_switched)
        rc = tix_db_exec(db,
                         "UPDATE public.projections SET active_version = $2, building_version = "
                         "NULL WHERE name = $1",
                         2, params, NULL, err);
    if (*is_switched && rc == TIX_OK)
        rc = point_views(db, proj, version, err);
    return finish_tx(db, rc, err);
}

enum tix_rc tix_projection_rebuild(struct tix_db *db, const struct tix_projection *proj,
                                   int partitions, int *new_version, tix_progress_cb progress,
                                   void *ctx, struct tix_err *err)
{
    int active = 0, building = 0;
    enum tix_rc rc = tix_projection_prepare(db, proj, 1, partitions, err);
    if (rc == TIX_OK)
        rc = tix_projection_versions(db, proj->name, &active, &building, err);
    *new_version = (active > building ? active : building) + 1;
    char v[16];
    snprintf(v, sizeof(v), "%d", *new_version);
    const char *params[] = {proj->name, v};
    if (rc == TIX_OK)
        rc = tix_projection_prepare(db, proj, *new_version, partitions, err);
    if (rc == TIX_OK)
        rc = tix_db_exec(db, "UPDATE public.projections SET building_version = $2 WHERE name = $1",
                         2, params, NULL, err);
    int64_t total = 0, done = 0;
    if (rc == TIX_OK)
        rc = tix_projection_lag(db, proj, *new_version, &total, err);
    bool is_switched = false;
    while (rc == TIX_OK && !is_switched) {
        rc = drain(db, proj, *new_version, partitions, &done, total, progress, ctx, err);
        if (rc == TIX_OK)
            rc = try_switch(db, proj, *new_version, &is_switched, err);
        if (rc == TIX_OK && !is_switched)
            usleep(20000); /* another worker holds a partition, or new events came */
    }
    return rc;
}
