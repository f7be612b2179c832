/* projection_runtime_test.c - the projection runtime's transactions against a real Postgres
 *
 * A real tixmo-projector applies the log with group steps. The tests check that a batch of
 * statements stops at its first failure and names it (and prepares again a statement whose
 * preparation failed), that steps of one version of a
 * cross-partition projection (search) wait for each other's transaction on any partition while
 * other projections never wait, and that stepping a new version one projection at a time
 * (tix_projection_step, as a replay does) writes the same rows as the projector's live group
 * steps, for every projection; and that a reactors' group step takes its checkpoint (skipping
 * one another worker holds), hands over the events after it once and advances it.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "projection.h"
#include "reactor.h"
#include "tix/ids.h"
#include "tix/store.h"

static pid_t projector_pid;
static struct tix_db *db;

static bool is_prepared(void *ctx)
{
    (void)ctx;
    int n = 0;
    while (tix_projections[n] != NULL)
        n++;
    return tix_test_scalar(db, "SELECT count(*) FROM projections", 0, NULL) >= n;
}

static void start(void)
{
    db = tix_test_db("TIXMO_DB_URL");
    projector_pid = tix_test_spawn("tixmo-projector", NULL);
    cr_assert(tix_test_wait(is_prepared, NULL, 15000), "the projector never prepared");
}

static void stop(void)
{
    tix_test_kill(projector_pid, SIGTERM);
    tix_db_close(db);
}

TestSuite(projection_runtime, .init = start, .fini = stop, .timeout = 240);

static int partitions(void)
{
    int n = 0;
    struct tix_err err;
    cr_assert_eq(tix_store_partitions(db, &n, &err), TIX_OK, "%s", err.msg);
    return n;
}

/* Drops a version spare_version made. */
static void drop_version(const struct tix_projection *proj, int version)
{
    char sql[160], v[16];
    snprintf(sql, sizeof(sql), "DROP SCHEMA rm_%s_v%d CASCADE", proj->name, version);
    snprintf(v, sizeof(v), "%d", version);
    const char *params[] = {proj->name, v};
    struct tix_err err;
    cr_assert_eq(tix_db_script(db, sql, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_db_exec(db,
                             "DELETE FROM projection_checkpoints WHERE projection = $1 AND "
                             "version = $2::int",
                             2, params, NULL, &err),
                 TIX_OK, "%s", err.msg);
}

/* A version of proj nobody else steps (neither active nor building), prepared. */
static int spare_version(const struct tix_projection *proj)
{
    const char *params[] = {proj->name};
    int version = (int)tix_test_scalar(db,
                                       "SELECT coalesce(max(version), 0) + 100 FROM "
                                       "projection_checkpoints WHERE projection = $1",
                                       1, params);
    struct tix_err err;
    cr_assert_eq(tix_projection_prepare(db, proj, version, partitions(), &err), TIX_OK, "%s",
                 err.msg);
    return version;
}

Test(projection_runtime, batch_stops_at_its_first_failure)
{
    struct tix_err err;
    cr_assert_eq(tix_db_script(db, "BEGIN; CREATE TEMP TABLE batch_t (x int PRIMARY KEY)", &err),
                 TIX_OK, "%s", err.msg);
    static const char insert_sql[] = "INSERT INTO batch_t VALUES ($1::int)";
    const char *one[] = {"1"}, *two[] = {"2"};
    const struct tix_db_stmt stmts[] = {
        {insert_sql, 1, one, true},  /* prepared here */
        {insert_sql, 1, two, false}, /* by its text */
        {insert_sql, 1, one, true},  /* by name */
        {insert_sql, 1, two, true},
    };
    int failed = 99;
    cr_assert_eq(tix_db_exec_batch(db, stmts, 2, &failed, NULL, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(failed, -1);
    const struct tix_db_stmt count = {"SELECT count(*) FROM batch_t", 0, NULL, false};
    PGresult *last = NULL;
    cr_assert_eq(tix_db_exec_batch(db, &count, 1, &failed, &last, &err), TIX_OK, "%s", err.msg);
    cr_assert_str_eq(PQgetvalue(last, 0, 0), "2", "the last result is kept");
    PQclear(last);
    cr_assert_eq(tix_db_exec_batch(db, stmts + 2, 2, &failed, NULL, &err), TIX_ECONFLICT);
    cr_assert_eq(failed, 0, "the first statement of the second batch failed, not %d", failed);
    cr_assert(strstr(err.msg, "23505") != NULL, "%s", err.msg);
    cr_assert_eq(tix_db_script(db, "ROLLBACK", &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_test_scalar(db, "SELECT 1", 0, NULL), 1, "the connection is usable after");
    cr_assert_eq(tix_db_exec_batch(db, stmts, 0, &failed, NULL, &err), TIX_OK);
}

Test(projection_runtime, batch_prepares_again_what_failed_to_prepare)
{
    static const char later_sql[] = "INSERT INTO batch_later VALUES ($1::int)";
    const char *one[] = {"1"};
    const struct tix_db_stmt st = {later_sql, 1, one, true};
    struct tix_err err;
    int failed = 99;
    cr_assert_eq(tix_db_script(db, "BEGIN", &err), TIX_OK, "%s", err.msg);
    cr_assert_neq(tix_db_exec_batch(db, &st, 1, &failed, NULL, &err), TIX_OK, "no table yet");
    cr_assert_eq(failed, 0);
    cr_assert_eq(tix_db_script(db, "ROLLBACK; BEGIN; CREATE TEMP TABLE batch_later (x int)", &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_db_exec_batch(db, &st, 1, &failed, NULL, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_test_scalar(db, "SELECT count(*) FROM batch_later", 0, NULL), 1);
    cr_assert_eq(tix_db_script(db, "ROLLBACK", &err), TIX_OK, "%s", err.msg);
}

struct stepper {
    const struct tix_projection *proj;
    int version;
    int partition;
    bool is_group;
    int backend_pid;
    atomic_bool is_done;
    enum tix_rc rc;
    char msg[256];
};

/* Steps one (projection, version) on a connection of its own, singly or as a group. */
static void *step_thread(void *arg)
{
    struct stepper *s = arg;
    struct tix_db *own = tix_test_db("TIXMO_DB_URL");
    s->backend_pid = PQbackendPID(tix_db_conn(own));
    struct tix_err err = {0};
    struct tix_step_target t = {.proj = s->proj, .version = s->version};
    bool is_full = false;
    int applied = 0;
    s->rc = s->is_group
                ? tix_projection_step_group(own, &t, 1, s->partition, 100, &is_full, &err)
                : tix_projection_step(own, s->proj, s->version, s->partition, 100, &applied, &err);
    snprintf(s->msg, sizeof(s->msg), "%s", err.msg);
    tix_db_close(own);
    atomic_store(&s->is_done, true);
    return NULL;
}

static bool is_waiting_on_advisory(void *ctx)
{
    struct stepper *s = ctx;
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", s->backend_pid);
    const char *params[] = {pid};
    return s->backend_pid != 0 &&
           tix_test_scalar(db,
                           "SELECT count(*) FROM pg_locks WHERE pid = $1::int AND "
                           "locktype = 'advisory' AND NOT granted",
                           1, params) == 1;
}

static bool is_done(void *ctx)
{
    return atomic_load(&((struct stepper *)ctx)->is_done);
}

/* Holds the version lock of (proj, version) in a transaction of its own while another
 * connection steps that version on partition; the step must wait for it (is_cross) or not. */
static void expect_step_waits(const struct tix_projection *proj, int version, int partition,
                              bool is_group, bool is_cross)
{
    struct tix_db *holder = tix_test_db("TIXMO_DB_URL");
    struct tix_err err;
    cr_assert_eq(tix_db_script(holder, "BEGIN", &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_projection_lock_version(holder, proj, version, &err), TIX_OK, "%s", err.msg);
    struct stepper s = {
        .proj = proj, .version = version, .partition = partition, .is_group = is_group};
    atomic_init(&s.is_done, false);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, step_thread, &s), 0);
    if (is_cross) {
        cr_assert(tix_test_wait(is_waiting_on_advisory, &s, 10000),
                  "the %s step of %s v%d on partition %d did not wait for the version lock",
                  is_group ? "group" : "single", proj->name, version, partition);
        cr_assert_not(atomic_load(&s.is_done), "the step ended while the lock was held");
    } else {
        cr_assert(tix_test_wait(is_done, &s, 10000), "%s waited for another version's lock",
                  proj->name);
    }
    cr_assert_eq(tix_db_script(holder, "COMMIT", &err), TIX_OK, "%s", err.msg);
    pthread_join(th, NULL);
    cr_assert_eq(s.rc, TIX_OK, "%s", s.msg);
    tix_db_close(holder);
}

Test(projection_runtime, steps_of_a_cross_partition_version_wait_for_each_other)
{
    const struct tix_projection *search = tix_projection_find("search");
    const struct tix_projection *venues = tix_projection_find("venues");
    cr_assert(search->is_cross_partition);
    cr_assert_not(venues->is_cross_partition);
    int version = spare_version(search);
    expect_step_waits(search, version, 0, false, true);
    expect_step_waits(search, version, 1, true, true);
    int other = spare_version(venues);
    expect_step_waits(venues, other, 0, false, false);
    expect_step_waits(venues, other, 1, true, false);
    drop_version(search, version);
    drop_version(venues, other);
}

/* Steps version of proj on every partition one projection at a time until nothing is left. */
static void step_singly(const struct tix_projection *proj, int version)
{
    struct tix_err err;
    for (int part = 0; part < partitions(); part++) {
        int applied = 1;
        while (applied > 0)
            cr_assert_eq(tix_projection_step(db, proj, version, part, 7, &applied, &err), TIX_OK,
                         "%s: %s", proj->name, err.msg);
    }
}

/* The outboxes the projector drains once published (sale.c), so only a version it never
 * published from keeps their rows. */
static bool is_drained(const char *table)
{
    return strcmp(table, "avail_outbox") == 0 || strcmp(table, "avail_seat_outbox") == 0;
}

static const char heads_sql[] = "SELECT sum(last_seq) + sum(last_outcome_seq) FROM partition_heads";

Test(projection_runtime, single_steps_write_what_group_steps_wrote)
{
    for (int i = 0; tix_projections[i] != NULL; i++) {
        const struct tix_projection *proj = tix_projections[i];
        const char *params[] = {proj->name};
        bool is_still = false;
        for (int attempt = 0; attempt < 5 && !is_still; attempt++) {
            cr_assert(tix_test_wait_projected(db, 20000), "the projector did not catch up");
            long long before = tix_test_scalar(db, heads_sql, 0, NULL);
            int active = (int)tix_test_scalar(
                db, "SELECT active_version FROM projections WHERE name = $1", 1, params);
            int version = spare_version(proj);
            step_singly(proj, version);
            cr_assert(tix_test_wait_projected(db, 20000), "the projector did not catch up");
            is_still = tix_test_scalar(db, heads_sql, 0, NULL) == before;
            for (int t = 0; is_still && proj->tables[t] != NULL; t++)
                if (!is_drained(proj->tables[t]))
                    cr_assert_eq(
                        tix_test_differences(db, proj->name, active, version, proj->tables[t]), 0,
                        "%s.%s: the group steps (v%d) and single steps (v%d) differ", proj->name,
                        proj->tables[t], active, version);
            drop_version(proj, version);
        }
        cr_assert(is_still, "the log kept moving while %s was stepped", proj->name);
    }
}

/* The events of type test.reacted count_cb was handed. */
static atomic_int reacted;

/* The test's reactor: counts the test.reacted events it is handed and sends nothing. */
static enum tix_rc count_cb(const struct tix_event *e, struct tix_db *rdb, json_t *out)
{
    (void)rdb;
    (void)out;
    if (strcmp(e->type, "test.reacted") == 0)
        atomic_fetch_add(&reacted, 1);
    return TIX_OK;
}

/* Appends n test.reacted events to a new stream; returns its partition. */
static int append_reacted(int n)
{
    char stream[64], command[TIX_UUID_LEN + 1];
    tix_uuid_v7(command);
    snprintf(stream, sizeof(stream), "test-reacted-%s", command);
    int part = (int)tix_partition_of(stream, strlen(stream), (uint32_t)partitions());
    struct tix_append_event ev[3];
    char ids[3][TIX_UUID_LEN + 1];
    cr_assert_leq(n, 3);
    for (int i = 0; i < n; i++) {
        tix_uuid_v7(ids[i]);
        ev[i] = (struct tix_append_event){
            stream, i + 1, ids[i], command, "test.reacted", 1, "{}", "{\"actor\":\"system:test\"}"};
    }
    struct tix_append_outcome oc = {command, "test.react", "system:test", true,
                                    "{\"status\":\"succeeded\"}"};
    struct tix_partition_head head;
    struct tix_err err;
    cr_assert_eq(tix_store_head(db, part, &head, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_store_append(db, part, &head, ev, n, &oc, 1, tix_now_us(), &err), TIX_OK, "%s",
                 err.msg);
    return part;
}

static const char counter_seq_sql[] = "SELECT last_seq FROM projection_checkpoints WHERE "
                                      "projection = 'pm_test_counter' AND partition = $1::int";

Test(projection_runtime, reactor_steps_take_hand_over_and_advance_their_checkpoints)
{
    static const struct tix_reactor counter = {"pm_test_counter", count_cb};
    const struct tix_reactor *rs[] = {&counter};
    struct tix_err err;
    cr_assert_eq(tix_db_script(db,
                               "DELETE FROM projection_checkpoints WHERE projection = "
                               "'pm_test_counter'",
                               &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_reactor_prepare(db, &counter, partitions(), &err), TIX_OK, "%s", err.msg);
    int part = append_reacted(3);
    char p[16];
    snprintf(p, sizeof(p), "%d", part);
    const char *params[] = {p};
    long long head = tix_test_scalar(
        db, "SELECT last_seq FROM partition_heads WHERE partition = $1::int", 1, params);
    char before[24];
    snprintf(before, sizeof(before), "%lld", head - 3);
    const char *start_at[] = {p, before};
    cr_assert_eq(tix_db_exec(db,
                             "UPDATE projection_checkpoints SET last_seq = $2::bigint WHERE "
                             "projection = 'pm_test_counter' AND partition = $1::int",
                             2, start_at, NULL, &err),
                 TIX_OK, "%s", err.msg);

    struct tix_db *other = tix_test_db("TIXMO_DB_URL");
    cr_assert_eq(tix_db_script(other, "BEGIN", &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_db_exec(other,
                             "SELECT 1 FROM projection_checkpoints WHERE projection = "
                             "'pm_test_counter' AND partition = $1::int FOR UPDATE",
                             1, params, NULL, &err),
                 TIX_OK, "%s", err.msg);
    int applied = -1;
    cr_assert_eq(tix_reactor_step_group(db, NULL, partitions(), rs, 1, part, 100, &applied, &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(applied, 0, "a checkpoint another worker holds is skipped");
    cr_assert_eq(atomic_load(&reacted), 0);
    tix_db_script(other, "ROLLBACK", NULL);
    tix_db_close(other);

    cr_assert_eq(tix_reactor_step_group(db, NULL, partitions(), rs, 1, part, 100, &applied, &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(applied, 3);
    cr_assert_eq(atomic_load(&reacted), 3);
    cr_assert_eq(tix_test_scalar(db, counter_seq_sql, 1, params), head, "advanced to the head");
    cr_assert_eq(tix_reactor_step_group(db, NULL, partitions(), rs, 1, part, 100, &applied, &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(applied, 0, "nothing after the checkpoint");
    cr_assert_eq(atomic_load(&reacted), 3, "no event handed over twice");
    tix_db_script(db, "DELETE FROM projection_checkpoints WHERE projection = 'pm_test_counter'",
                  NULL);
}
