/* runtime.c - checkpoints, versions and transactions around pure projections
 *
 * Invariants:
 *  - a (projection, version, partition) checkpoint advances only in the transaction that wrote
 *    the rows of the events it covers, with a compare-and-set on its old value: the read model
 *    is exactly the fold of events 1..last_seq, whatever crashed or ran twice;
 *  - the checkpoint row is taken FOR UPDATE SKIP LOCKED, so two workers never apply the same
 *    partition of the same version at once, and neither waits for the other;
 *  - a step of a cross-partition projection's version first takes that version's advisory lock
 *    (by name, then version, when it steps several), so its steps on different partitions run
 *    one after the other and each sees the rows the previous one committed;
 *  - a step, of one pair or a group, is one transaction: the events read once, every statement
 *    and the checkpoints' compare-and-set sent in one pipelined batch, all or nothing;
 *  - identifiers (schema names) are built only from compiled-in projection names and integers.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tix/buf.h"
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

static struct tix_stmt *push(struct tix_stmts *s, const char *sql, int n, bool is_deferred,
                             bool is_last_latest)
{
    if (s->n == s->cap) {
        s->cap = s->cap == 0 ? 8 : 2 * s->cap;
        s->items = tix_xrealloc(s->items, (size_t)s->cap * sizeof(*s->items));
    }
    struct tix_stmt *st = &s->items[s->n++];
    st->sql = sql;
    st->n = n < TIX_STMT_MAX_PARAMS ? n : TIX_STMT_MAX_PARAMS;
    st->is_deferred = is_deferred;
    st->is_last_latest = is_last_latest;
    return st;
}

/* Adds sql with the n const char * parameters of ap (copied). */
static void add_v(struct tix_stmts *s, bool is_deferred, bool is_last_latest, const char *sql,
                  int n, va_list ap)
{
    struct tix_stmt *st = push(s, sql, n, is_deferred, is_last_latest);
    for (int i = 0; i < st->n; i++)
        st->params[i] = tix_xstrdup(va_arg(ap, const char *));
}

void tix_stmts_add(struct tix_stmts *s, const char *sql, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    add_v(s, false, false, sql, n, ap);
    va_end(ap);
}

void tix_stmts_defer(struct tix_stmts *s, const char *sql, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    add_v(s, true, false, sql, n, ap);
    va_end(ap);
}

void tix_stmts_defer_latest(struct tix_stmts *s, const char *sql, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    add_v(s, true, true, sql, n, ap);
    va_end(ap);
}

static bool same_text(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* Moves st's sql and parameters to the end of to (st is left without parameters). */
static struct tix_stmt *move_stmt(struct tix_stmts *to, struct tix_stmt *st)
{
    struct tix_stmt *copy = push(to, st->sql, st->n, st->is_deferred, st->is_last_latest);
    for (int j = 0; j < st->n; j++) {
        copy->params[j] = st->params[j];
        st->params[j] = NULL;
    }
    return copy;
}

/* Moves st into later unless an equal statement is already there (st is left empty); of a
 * statement deferred with tix_stmts_defer_latest the last parameter is not compared but taken
 * over. */
static void keep_for_later(struct tix_stmts *later, struct tix_stmt *st)
{
    int compared = st->is_last_latest && st->n > 0 ? st->n - 1 : st->n;
    for (int i = 0; i < later->n; i++) {
        struct tix_stmt *o = &later->items[i];
        bool is_same = o->sql == st->sql && o->n == st->n;
        for (int j = 0; is_same && j < compared; j++)
            is_same = same_text(o->params[j], st->params[j]);
        if (!is_same)
            continue;
        if (compared < st->n) { /* the latest ask's last parameter wins */
            free(o->params[compared]);
            o->params[compared] = st->params[compared];
            st->params[compared] = NULL;
        }
        return; /* st's other params are freed with the per-event list */
    }
    move_stmt(later, st);
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
    enum tix_rc rc = tix_db_script(
        db, "BEGIN; SELECT pg_advisory_xact_lock(" TIX_PROJECTION_VIEWS_LOCK ")", err);
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

enum tix_rc tix_projection_versions_all(struct tix_db *db, int *active, int *building,
                                        struct tix_err *err)
{
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec_prepared(db, "tix_projection_versions_all",
                                          "SELECT name, active_version, "
                                          "coalesce(building_version, 0) FROM public.projections",
                                          0, NULL, &res, err);
    for (int i = 0; rc == TIX_OK && tix_projections[i] != NULL; i++) {
        const char *name = tix_projections[i]->name;
        int row = 0;
        while (row < PQntuples(res) && strcmp(PQgetvalue(res, row, 0), name) != 0)
            row++;
        if (row == PQntuples(res))
            rc = tix_err_set(err, TIX_ENOTFOUND, "projection", "projection %s is not prepared",
                             name);
        else {
            active[i] = atoi_safe(PQgetvalue(res, row, 1));
            building[i] = atoi_safe(PQgetvalue(res, row, 2));
        }
    }
    PQclear(res);
    return rc;
}

/* Where a statement to send came from, named when it fails. */
struct origin {
    char type[48]; /* the event's type; "" for a deferred statement */
    int partition;
    int64_t seq;
};

/* One (projection, version) of a step: its checkpoint and the statements its events asked for. */
struct run {
    struct tix_step_target *t;
    struct tix_checkpoint *cp; /* in the step's array, parallel to the runs */
    struct tix_stmts stmts;    /* to send, in the events' order */
    struct origin *origins;    /* parallel to stmts */
    struct tix_stmts later;    /* deferred statements of the pass, each once */
};

struct step_ctx {
    struct run *runs;
    struct tix_checkpoint *cps;
    int n;
    enum tix_projection_source source; /* the runs the current read feeds */
    struct tix_stmts scratch;          /* one event's statements */
    struct tix_err *err;
};

/* Adds e's statements for r: the plain ones to send, the deferred ones for after the pass. */
static enum tix_rc apply_one(struct step_ctx *c, struct run *r, const struct tix_event *e)
{
    tix_stmts_reset(&c->scratch);
    const struct tix_projection *proj = r->t->proj;
    enum tix_rc rc = proj->apply(e, &c->scratch);
    if (rc != TIX_OK)
        return tix_err_set(c->err, rc, "", "%s cannot apply %s at %d/%" PRId64, proj->name, e->type,
                           e->partition, e->partition_seq);
    for (int i = 0; i < c->scratch.n; i++) {
        struct tix_stmt *st = &c->scratch.items[i];
        if (st->is_deferred) {
            keep_for_later(&r->later, st);
            continue;
        }
        int cap = r->stmts.cap;
        move_stmt(&r->stmts, st);
        if (r->stmts.cap != cap)
            r->origins = tix_xrealloc(r->origins, (size_t)r->stmts.cap * sizeof(*r->origins));
        struct origin *o = &r->origins[r->stmts.n - 1];
        snprintf(o->type, sizeof(o->type), "%s", e->type);
        o->partition = e->partition;
        o->seq = e->partition_seq;
    }
    r->cp->last_seq = e->partition_seq;
    if (r->t->applied++ == 0)
        r->t->first_recorded_us = e->recorded_at_us;
    return TIX_OK;
}

/* Hands one event to every run of the current source whose checkpoint is before it. */
static enum tix_rc apply_cb(const struct tix_event *e, void *arg)
{
    struct step_ctx *c = arg;
    enum tix_rc rc = TIX_OK;
    for (int i = 0; i < c->n && rc == TIX_OK; i++) {
        struct run *r = &c->runs[i];
        if (r->cp->is_held && r->t->proj->source == c->source && e->partition_seq > r->cp->from)
            rc = apply_one(c, r, e);
    }
    return rc;
}
/* Reads up to limit outcomes after after as events (see projection.h) and applies them. */
static enum tix_rc read_outcomes(struct tix_db *db, int partition, int64_t after, int limit,
                                 struct step_ctx *c, int *count, struct tix_err *err)
{
    char p[16], a[24], l[16];
    snprintf(p, sizeof(p), "%d", partition);
    snprintf(a, sizeof(a), "%" PRId64, after);
    snprintf(l, sizeof(l), "%d", limit);
    const char *params[] = {p, a, l};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec_prepared(
        db, "tix_projection_outcomes",
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

enum col { COL_NAME, COL_VERSION, COL_FROM, COL_LAST };

/* True when cp is held and an event after it was handed over. */
static bool is_moved(const struct tix_checkpoint *cp)
{
    return cp->is_held && cp->last_seq > cp->from;
}

/* One column of the checkpoints (all, or only those that moved) as a Postgres array literal;
 * names are compiled-in identifiers, so nothing needs quoting. Free with free(). */
static char *array_of(const struct tix_checkpoint *cps, int n, enum col col, bool is_moved_only)
{
    struct tix_buf b;
    tix_buf_init(&b, 0);
    tix_buf_puts(&b, "{");
    const char *sep = "";
    for (int i = 0; i < n; i++) {
        const struct tix_checkpoint *cp = &cps[i];
        if (is_moved_only && !is_moved(cp))
            continue;
        if (col == COL_NAME)
            tix_buf_printf(&b, "%s%s", sep, cp->name);
        else if (col == COL_VERSION)
            tix_buf_printf(&b, "%s%d", sep, cp->version);
        else
            tix_buf_printf(&b, "%s%" PRId64, sep, col == COL_FROM ? cp->from : cp->last_seq);
        sep = ",";
    }
    tix_buf_puts(&b, "}");
    return tix_buf_steal(&b);
}

/* Orders runs by projection name, then version: the order their locks are taken in. */
static int by_name_version(const void *a, const void *b)
{
    const struct run *x = a, *y = b;
    int d = strcmp(x->t->proj->name, y->t->proj->name);
    return d != 0 ? d : x->t->version - y->t->version;
}

static const char lock_version_sql[] =
    "SELECT pg_advisory_xact_lock(hashtext('tix_projection:' || $1), $2::int)";

enum tix_rc tix_projection_lock_version(struct tix_db *db, const struct tix_projection *proj,
                                        int version, struct tix_err *err)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", version);
    const char *params[] = {proj->name, v};
    return tix_db_exec(db, lock_version_sql, 2, params, NULL, err);
}

/* Opens the step's transaction, takes the version lock of every run whose projection joins
 * rows across partitions, in the runs' order (by name, then version, so two steps never wait
 * for each other in a circle), then the runs' checkpoint rows, all in one round trip. */
static enum tix_rc begin_step(struct tix_db *db, struct step_ctx *c, int partition,
                              struct tix_err *err)
{
    int n = c->n;
    struct tix_db_stmt *batch = tix_xcalloc((size_t)n + 2, sizeof(*batch)); /* + the query */
    char(*versions)[16] = tix_xcalloc((size_t)n + 1, sizeof(*versions));
    const char **params = tix_xcalloc(2 * (size_t)n + 1, sizeof(*params));
    int k = 0;
    batch[k++] = (struct tix_db_stmt){"BEGIN", 0, NULL, false};
    for (int i = 0; i < n; i++) {
        const struct run *r = &c->runs[i];
        if (!r->t->proj->is_cross_partition)
            continue;
        snprintf(versions[i], sizeof(versions[i]), "%d", r->t->version);
        params[2 * i] = r->t->proj->name;
        params[2 * i + 1] = versions[i];
        batch[k++] = (struct tix_db_stmt){lock_version_sql, 2, &params[2 * i], true};
    }
    enum tix_rc rc = tix_checkpoints_lock(db, batch, k, c->cps, n, partition, err);
    free(params);
    free(versions);
    free(batch);
    return rc;
}

static const char checkpoints_sql[] =
    "SELECT k.projection, k.version, k.last_seq FROM public.projection_checkpoints k"
    " WHERE k.partition = $1 AND (k.projection, k.version) IN"
    " (SELECT * FROM unnest($2::text[], $3::int[])) FOR UPDATE OF k SKIP LOCKED";

enum tix_rc tix_checkpoints_lock(struct tix_db *db, struct tix_db_stmt *batch, int k,
                                 struct tix_checkpoint *cps, int n, int partition,
                                 struct tix_err *err)
{
    char part[16];
    snprintf(part, sizeof(part), "%d", partition);
    char *names = array_of(cps, n, COL_NAME, false);
    char *versions = array_of(cps, n, COL_VERSION, false);
    const char *params[] = {part, names, versions};
    batch[k++] = (struct tix_db_stmt){checkpoints_sql, 3, params, true};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec_batch(db, batch, k, NULL, &res, err);
    free(names);
    free(versions);
    for (int row = 0; rc == TIX_OK && row < PQntuples(res); row++) {
        int version = atoi_safe(PQgetvalue(res, row, 1));
        for (int i = 0; i < n; i++) {
            struct tix_checkpoint *cp = &cps[i];
            if (cp->version == version && strcmp(cp->name, PQgetvalue(res, row, 0)) == 0) {
                cp->is_held = true;
                cp->from = cp->last_seq = strtoll(PQgetvalue(res, row, 2), NULL, 10);
            }
        }
    }
    PQclear(res);
    return rc;
}

/* Reads the partition's events (or outcomes) after the smallest checkpoint of the held runs
 * that read them, up to limit, and applies them; *is_full is set when limit rows came. */
static enum tix_rc read_and_apply(struct tix_db *db, struct step_ctx *c,
                                  enum tix_projection_source source, int partition, int limit,
                                  bool *is_full, struct tix_err *err)
{
    int64_t from = INT64_MAX;
    for (int i = 0; i < c->n; i++)
        if (c->runs[i].cp->is_held && c->runs[i].t->proj->source == source &&
            c->runs[i].cp->from < from)
            from = c->runs[i].cp->from;
    if (from == INT64_MAX)
        return TIX_OK;
    c->source = source;
    int count = 0;
    enum tix_rc rc =
        source == TIX_SOURCE_EVENTS
            ? tix_store_read_partition(db, partition, from, limit, apply_cb, c, &count, err)
            : read_outcomes(db, partition, from, limit, c, &count, err);
    *is_full = *is_full || count == limit;
    return rc;
}

/* The error of the failed statement at index failed of the batch apply_and_advance sent: the
 * projection, and the event it came from. */
static enum tix_rc blame(const struct run *runs, int n, int failed, const struct tix_err *cause,
                         struct tix_err *err)
{
    for (int i = 0; i < n; i++) {
        const struct run *r = &runs[i];
        if (!r->cp->is_held || r->stmts.n + r->later.n == 0)
            continue;
        int size = 1 + r->stmts.n + r->later.n; /* search_path, the events', the deferred */
        if (failed >= size) {
            failed -= size;
            continue;
        }
        const char *name = r->t->proj->name;
        if (failed >= 1 && failed <= r->stmts.n) {
            const struct origin *o = &r->origins[failed - 1];
            return tix_err_set(err, cause->rc, cause->field,
                               "%s cannot apply %s at %d/%" PRId64 ": %s", name, o->type,
                               o->partition, o->seq, cause->msg);
        }
        return tix_err_set(err, cause->rc, cause->field, "%s cannot apply up to %" PRId64 ": %s",
                           name, r->cp->last_seq, cause->msg);
    }
    return tix_err_set(err, cause->rc, cause->field, "%s", cause->msg);
}

static const char advance_sql[] =
    "UPDATE public.projection_checkpoints k SET last_seq = x.new_seq, updated_at = now() "
    "FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[]) "
    "AS x(projection, version, old_seq, new_seq) WHERE k.partition = $1 AND "
    "k.projection = x.projection AND k.version = x.version AND k.last_seq = x.old_seq "
    "RETURNING k.projection, k.version";

/* TIX_ECONFLICT naming the first checkpoint that moved but is not among the rows advance_sql
 * returned (someone else moved it meanwhile); else TIX_OK. */
static enum tix_rc check_advanced(const struct tix_checkpoint *cps, int n, const PGresult *res,
                                  struct tix_err *err)
{
    for (int i = 0; i < n; i++) {
        const struct tix_checkpoint *cp = &cps[i];
        bool is_done = !is_moved(cp);
        for (int row = 0; !is_done && row < PQntuples(res); row++)
            is_done = strcmp(PQgetvalue(res, row, 0), cp->name) == 0 &&
                      atoi_safe(PQgetvalue(res, row, 1)) == cp->version;
        if (!is_done)
            return tix_err_set(err, TIX_ECONFLICT, "checkpoint", "checkpoint of %s moved",
                               cp->name);
    }
    return TIX_OK;
}

enum tix_rc tix_checkpoints_advance(struct tix_db *db, struct tix_db_stmt *batch, int k,
                                    const struct tix_checkpoint *cps, int n, int partition,
                                    int *failed, struct tix_err *err)
{
    char part[16];
    snprintf(part, sizeof(part), "%d", partition);
    int moved = 0;
    for (int i = 0; i < n; i++)
        moved += is_moved(&cps[i]);
    char *cols[] = {array_of(cps, n, COL_NAME, true), array_of(cps, n, COL_VERSION, true),
                    array_of(cps, n, COL_FROM, true), array_of(cps, n, COL_LAST, true)};
    const char *params[] = {part, cols[0], cols[1], cols[2], cols[3]};
    if (moved > 0)
        batch[k++] = (struct tix_db_stmt){advance_sql, 5, params, true};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec_batch(db, batch, k, failed, moved > 0 ? &res : NULL, err);
    for (int i = 0; i < 4; i++)
        free(cols[i]);
    if (rc == TIX_OK && moved > 0)
        rc = check_advanced(cps, n, res, err);
    PQclear(res);
    return rc;
}

/* Adds each held run's statements to batch (its search_path, its events' statements, then its
 * deferred ones); paths holds the search_path statements. Returns the new count. */
static int add_runs(struct tix_db_stmt *batch, const struct run *runs, int n, char (*paths)[160])
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        const struct run *r = &runs[i];
        if (!r->cp->is_held || r->stmts.n + r->later.n == 0)
            continue;
        char schema[96];
        schema_name(r->t->proj, r->t->version, schema, sizeof(schema));
        snprintf(paths[i], sizeof(paths[i]), "SET LOCAL search_path = %s, public", schema);
        batch[k++] = (struct tix_db_stmt){paths[i], 0, NULL, false};
        for (int j = 0; j < r->stmts.n; j++)
            batch[k++] = (struct tix_db_stmt){r->stmts.items[j].sql, r->stmts.items[j].n,
                                              (const char *const *)r->stmts.items[j].params, true};
        for (int j = 0; j < r->later.n; j++)
            batch[k++] = (struct tix_db_stmt){r->later.items[j].sql, r->later.items[j].n,
                                              (const char *const *)r->later.items[j].params, true};
    }
    return k;
}

/* Sends every held run's statements and then, when a checkpoint moved, the compare-and-set
 * that advances all of them, in one round trip. */
static enum tix_rc apply_and_advance(struct tix_db *db, const struct step_ctx *c, int partition,
                                     struct tix_err *err)
{
    int total = 1; /* the compare-and-set */
    for (int i = 0; i < c->n; i++)
        total += c->cps[i].is_held ? 1 + c->runs[i].stmts.n + c->runs[i].later.n : 0;
    struct tix_db_stmt *batch = tix_xcalloc((size_t)total, sizeof(*batch));
    char(*paths)[160] = tix_xcalloc((size_t)c->n + 1, sizeof(*paths));
    int k = add_runs(batch, c->runs, c->n, paths);
    struct tix_err cause;
    tix_err_clear(&cause);
    int failed = -1;
    enum tix_rc rc =
        tix_checkpoints_advance(db, batch, k, c->cps, c->n, partition, &failed, &cause);
    free(paths);
    free(batch);
    if (rc == TIX_OK)
        return TIX_OK;
    if (failed >= 0)
        return blame(c->runs, c->n, failed, &cause, err);
    return tix_err_set(err, rc, cause.field, "%s", cause.msg);
}

/* The step's transaction after begin_step: reads, statements, checkpoints. */
static enum tix_rc step_runs(struct tix_db *db, struct step_ctx *c, int partition, int limit,
                             bool *is_full, struct tix_err *err)
{
    enum tix_rc rc = read_and_apply(db, c, TIX_SOURCE_EVENTS, partition, limit, is_full, err);
    if (rc == TIX_OK)
        rc = read_and_apply(db, c, TIX_SOURCE_OUTCOMES, partition, limit, is_full, err);
    if (rc == TIX_OK)
        rc = apply_and_advance(db, c, partition, err);
    return rc;
}

enum tix_rc tix_projection_step_group(struct tix_db *db, struct tix_step_target *targets, int n,
                                      int partition, int limit, bool *is_full, struct tix_err *err)
{
    *is_full = false;
    struct step_ctx c = {.runs = tix_xcalloc((size_t)n + 1, sizeof(*c.runs)),
                         .cps = tix_xcalloc((size_t)n + 1, sizeof(*c.cps)),
                         .n = n,
                         .err = err};
    tix_stmts_init(&c.scratch);
    for (int i = 0; i < n; i++) {
        targets[i].applied = 0;
        targets[i].first_recorded_us = 0;
        c.runs[i].t = &targets[i];
        tix_stmts_init(&c.runs[i].stmts);
        tix_stmts_init(&c.runs[i].later);
    }
    qsort(c.runs, (size_t)n, sizeof(*c.runs), by_name_version);
    for (int i = 0; i < n; i++) {
        c.cps[i] = (struct tix_checkpoint){.name = c.runs[i].t->proj->name,
                                           .version = c.runs[i].t->version};
        c.runs[i].cp = &c.cps[i];
    }
    enum tix_rc rc = begin_step(db, &c, partition, err);
    if (rc == TIX_OK)
        rc = step_runs(db, &c, partition, limit, is_full, err);
    for (int i = 0; i < n; i++) {
        if (rc != TIX_OK)
            targets[i].applied = 0;
        tix_stmts_deinit(&c.runs[i].stmts);
        tix_stmts_deinit(&c.runs[i].later);
        free(c.runs[i].origins);
    }
    tix_stmts_deinit(&c.scratch);
    free(c.cps);
    free(c.runs);
    if (rc != TIX_OK)
        *is_full = false;
    return finish_tx(db, rc, err);
}

enum tix_rc tix_projection_step(struct tix_db *db, const struct tix_projection *proj, int version,
                                int partition, int limit, int *applied, struct tix_err *err)
{
    struct tix_step_target t = {.proj = proj, .version = version};
    bool is_full = false;
    enum tix_rc rc = tix_projection_step_group(db, &t, 1, partition, limit, &is_full, err);
    *applied = t.applied;
    return rc;
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
    enum tix_rc rc = tix_db_script(
        db, "BEGIN; SELECT pg_advisory_xact_lock(" TIX_PROJECTION_VIEWS_LOCK ")", err);
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
