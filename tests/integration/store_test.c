/* store_test.c - the event store against a real Postgres
 *
 * Optimistic concurrency under real concurrent writers, idempotent command outcomes, the
 * append-only guarantees for the application role and for everybody, and the hash chain
 * catching a superuser's tampering.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tix/chain.h"
#include "tix/ids.h"
#include "tix/store.h"

static int partition_of_stream(const char *stream)
{
    return (int)tix_partition_of(stream, strlen(stream), 16);
}

static void setup(void)
{
    cr_assert(sodium_init() >= 0);
}

TestSuite(store, .init = setup, .timeout = 120);

/* Appends one event (and its outcome) at expected version `version - 1`. */
static enum tix_rc append_one(struct tix_db *db, const char *stream, int64_t version,
                              const char *command_id, struct tix_err *err)
{
    int part = partition_of_stream(stream);
    struct tix_partition_head head;
    enum tix_rc rc = tix_store_head(db, part, &head, err);
    if (rc != TIX_OK)
        return rc;
    char event_id[TIX_UUID_LEN + 1];
    tix_uuid_v7(event_id);
    struct tix_append_event ev = {
        stream,          version, event_id,    command_id,
        "test.appended", 1,       "{\"n\":1}", "{\"actor\":\"system:test\"}"};
    struct tix_append_outcome oc = {command_id, "test.append", "system:test", true,
                                    "{\"status\":\"succeeded\"}"};
    return tix_store_append(db, part, &head, &ev, 1, &oc, 1, tix_now_us(), err);
}

struct racer {
    const char *stream;
    pthread_barrier_t *start;
    enum tix_rc rc;
    char field[64];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    char cmd[TIX_UUID_LEN + 1];
    tix_uuid_v7(cmd);
    struct tix_err err;
    tix_err_clear(&err);
    pthread_barrier_wait(r->start);
    r->rc = append_one(db, r->stream, 1, cmd, &err);
    snprintf(r->field, sizeof(r->field), "%s", err.field);
    tix_db_close(db);
    return NULL;
}

Test(store, concurrent_appends_to_one_stream_exactly_one_wins)
{
    enum { N = 12 };
    char stream[64], id[TIX_UUID_LEN + 1];
    tix_uuid_v7(id);
    snprintf(stream, sizeof(stream), "test-%s", id);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    struct racer racers[N];
    pthread_t threads[N];
    for (int i = 0; i < N; i++) {
        racers[i] = (struct racer){.stream = stream, .start = &start};
        pthread_create(&threads[i], NULL, race, &racers[i]);
    }
    int wins = 0, conflicts = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(threads[i], NULL);
        wins += racers[i].rc == TIX_OK;
        conflicts += racers[i].rc == TIX_ECONFLICT;
    }
    pthread_barrier_destroy(&start);
    cr_assert_eq(wins, 1, "exactly one writer must win, got %d", wins);
    cr_assert_eq(conflicts, N - 1, "every loser must see a conflict, got %d", conflicts);
    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    const char *p[] = {stream};
    cr_assert_eq(tix_test_scalar(db, "SELECT count(*) FROM events WHERE stream_id = $1", 1, p), 1);
    tix_db_close(db);
}

Test(store, expected_version_mismatch_is_a_stream_conflict)
{
    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    char stream[64], id[TIX_UUID_LEN + 1], c1[40], c2[40];
    tix_uuid_v7(id);
    tix_uuid_v7(c1);
    tix_uuid_v7(c2);
    snprintf(stream, sizeof(stream), "test-%s", id);
    struct tix_err err;
    cr_assert_eq(append_one(db, stream, 1, c1, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(append_one(db, stream, 1, c2, &err), TIX_ECONFLICT);
    cr_assert_str_eq(err.field, "stream");
    const char *p[] = {stream};
    cr_assert_eq(
        tix_test_scalar(db, "SELECT max(stream_version) FROM events WHERE stream_id = $1", 1, p), 1,
        "the loser wrote nothing");
    tix_db_close(db);
}

Test(store, duplicate_command_id_appends_nothing)
{
    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    char s1[64], s2[64], id[TIX_UUID_LEN + 1], cmd[TIX_UUID_LEN + 1];
    tix_uuid_v7(id);
    snprintf(s1, sizeof(s1), "test-%s-a", id);
    snprintf(s2, sizeof(s2), "test-%s-b", id);
    tix_uuid_v7(cmd);
    struct tix_err err;
    cr_assert_eq(append_one(db, s1, 1, cmd, &err), TIX_OK, "%s", err.msg);
    long long before = tix_test_scalar(db, "SELECT count(*) FROM events", 0, NULL);
    cr_assert_eq(append_one(db, s2, 1, cmd, &err), TIX_ECONFLICT);
    cr_assert_str_eq(err.field, "command");
    cr_assert_eq(tix_test_scalar(db, "SELECT count(*) FROM events", 0, NULL), before);
    tix_db_close(db);
}

Test(store, partition_sequence_is_gap_free_and_chained)
{
    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    char stream[64], id[TIX_UUID_LEN + 1];
    tix_uuid_v7(id);
    snprintf(stream, sizeof(stream), "test-%s", id);
    struct tix_err err;
    for (int v = 1; v <= 5; v++) {
        char cmd[TIX_UUID_LEN + 1];
        tix_uuid_v7(cmd);
        cr_assert_eq(append_one(db, stream, v, cmd, &err), TIX_OK, "%s", err.msg);
    }
    char part[8];
    snprintf(part, sizeof(part), "%d", partition_of_stream(stream));
    const char *p[] = {part};
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM events WHERE partition = $1 AND "
                                 "partition_seq <> 1 AND NOT EXISTS (SELECT 1 FROM events e2 "
                                 "WHERE e2.partition = events.partition AND e2.partition_seq = "
                                 "events.partition_seq - 1 AND e2.hash = events.prev_hash)",
                                 1, p),
                 0, "every event links to its predecessor's hash");
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT max(partition_seq) - count(*) FROM events WHERE "
                                 "partition = $1",
                                 1, p),
                 0, "no gaps");
    tix_db_close(db);
}

Test(store, application_role_cannot_update_delete_or_truncate)
{
    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    struct tix_err err;
    cr_assert_neq(tix_db_script(db, "UPDATE events SET type = 'x'", &err), TIX_OK);
    cr_assert(strstr(err.msg, "permission denied") != NULL, "%s", err.msg);
    cr_assert_neq(tix_db_script(db, "DELETE FROM events", &err), TIX_OK);
    cr_assert_neq(tix_db_script(db, "TRUNCATE events", &err), TIX_OK);
    cr_assert_neq(tix_db_script(db, "DELETE FROM processed_commands", &err), TIX_OK);
    tix_db_close(db);
}

Test(store, triggers_refuse_changes_even_for_the_owner_and_superuser)
{
    const char *urls[] = {"TIXMO_DB_ADMIN_URL", "TIXMO_DB_SUPER_URL"};
    for (int i = 0; i < 2; i++) {
        struct tix_db *db = tix_test_db(urls[i]);
        struct tix_err err;
        cr_assert_neq(tix_db_script(db, "UPDATE events SET type = 'x'", &err), TIX_OK);
        cr_assert(strstr(err.msg, "append-only") != NULL, "%s: %s", urls[i], err.msg);
        cr_assert_neq(tix_db_script(db, "DELETE FROM events", &err), TIX_OK);
        cr_assert(strstr(err.msg, "append-only") != NULL, "%s", err.msg);
        cr_assert_neq(tix_db_script(db, "TRUNCATE events", &err), TIX_OK);
        cr_assert(strstr(err.msg, "append-only") != NULL, "%s", err.msg);
        tix_db_close(db);
    }
}

Test(store, audit_verify_names_the_event_a_superuser_tampered_with)
{
    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    char stream[64], id[TIX_UUID_LEN + 1];
    tix_uuid_v7(id);
    snprintf(stream, sizeof(stream), "test-%s", id);
    struct tix_err err;
    for (int v = 1; v <= 3; v++) {
        char cmd[TIX_UUID_LEN + 1];
        tix_uuid_v7(cmd);
        cr_assert_eq(append_one(db, stream, v, cmd, &err), TIX_OK, "%s", err.msg);
    }
    char out[4096];
    cr_assert_eq(tix_test_sh(out, sizeof(out), "tixmo audit verify"), 0, "before: %s", out);
    const char *p[] = {stream};
    long long seq = tix_test_scalar(
        db, "SELECT partition_seq FROM events WHERE stream_id = $1 AND stream_version = 2", 1, p);
    struct tix_db *super = tix_test_db("TIXMO_DB_SUPER_URL");
    /* a script takes no parameters: the stream id is the test's own generated one */
    char script[1024];
    snprintf(script, sizeof(script),
             "SET session_replication_role = replica; UPDATE events SET data = '{\"n\":2}' "
             "WHERE stream_id = '%s' AND stream_version = 2; RESET session_replication_role",
             stream);
    cr_assert_eq(tix_db_script(super, script, &err), TIX_OK, "%s", err.msg);
    int code = tix_test_sh(out, sizeof(out), "tixmo audit verify");
    char expect[128];
    snprintf(expect, sizeof(expect), "seq %lld: hash mismatch", seq);
    cr_assert_eq(code, 1, "tampering must fail the audit: %s", out);
    cr_assert(strstr(out, expect) != NULL, "audit must name the tampered event (%s): %s", expect,
              out);
    snprintf(script, sizeof(script),
             "SET session_replication_role = replica; UPDATE events SET data = '{\"n\":1}' "
             "WHERE stream_id = '%s' AND stream_version = 2; RESET session_replication_role",
             stream);
    cr_assert_eq(tix_db_script(super, script, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_test_sh(out, sizeof(out), "tixmo audit verify"), 0, "restored: %s", out);
    tix_db_close(super);
    tix_db_close(db);
}

Test(store, export_filters_by_stream_and_type)
{
    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    char stream[64], id[TIX_UUID_LEN + 1];
    tix_uuid_v7(id);
    snprintf(stream, sizeof(stream), "test-%s", id);
    struct tix_err err;
    for (int v = 1; v <= 3; v++) {
        char cmd[TIX_UUID_LEN + 1];
        tix_uuid_v7(cmd);
        cr_assert_eq(append_one(db, stream, v, cmd, &err), TIX_OK, "%s", err.msg);
    }
    char cmd[512], out[16384];
    snprintf(cmd, sizeof(cmd), "tixmo export --stream %s --type 'test.*' | wc -l", stream);
    cr_assert_eq(tix_test_sh(out, sizeof(out), cmd), 0);
    cr_assert_eq(strtol(out, NULL, 10), 3, "three lines, got %s", out);
    snprintf(cmd, sizeof(cmd), "tixmo export --stream %s --type other.type | wc -l", stream);
    cr_assert_eq(tix_test_sh(out, sizeof(out), cmd), 0);
    cr_assert_eq(strtol(out, NULL, 10), 0, "%s", out);
    snprintf(cmd, sizeof(cmd), "tixmo export --stream %s --since 2999-01-01T00:00:00Z | wc -l",
             stream);
    cr_assert_eq(tix_test_sh(out, sizeof(out), cmd), 0);
    cr_assert_eq(strtol(out, NULL, 10), 0, "%s", out);
    snprintf(cmd, sizeof(cmd), "tixmo export --stream %s | head -1", stream);
    cr_assert_eq(tix_test_sh(out, sizeof(out), cmd), 0);
    cr_assert(strstr(out, "\"stream_version\":1") != NULL && strstr(out, "\"data\":{\"n\":1}"),
              "%s", out);
    cr_assert_eq(tix_test_sh(out, sizeof(out), "tixmo export --partition x 2>&1"), 2);
    tix_db_close(db);
}

Test(store, escapes_and_unicode_survive_byte_for_byte_and_verify)
{
    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    char stream[64], id[TIX_UUID_LEN + 1], cmd[TIX_UUID_LEN + 1], ev_id[TIX_UUID_LEN + 1];
    tix_uuid_v7(id);
    tix_uuid_v7(cmd);
    tix_uuid_v7(ev_id);
    snprintf(stream, sizeof(stream), "test-%s", id);
    const char *data = "{\"name\":\"Caf\xc3\xa9 \\\"Z\\\" \\\\ \\u0001 \xf0\x9f\x8e\xab\","
                       "\"tab\":\"a\\tb\"}";
    int part = partition_of_stream(stream);
    struct tix_partition_head head;
    struct tix_err err;
    cr_assert_eq(tix_store_head(db, part, &head, &err), TIX_OK);
    struct tix_append_event ev = {stream, 1, ev_id, cmd, "test.unicode", 1, data, "{}"};
    struct tix_append_outcome oc = {cmd, "test.append", "system:test", true, "{}"};
    cr_assert_eq(tix_store_append(db, part, &head, &ev, 1, &oc, 1, tix_now_us(), &err), TIX_OK,
                 "%s", err.msg);
    const char *p[] = {stream, data};
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM events WHERE stream_id = $1 AND "
                                 "data::text = $2",
                                 2, p),
                 1, "stored byte for byte");
    char out[4096];
    cr_assert_eq(tix_test_sh(out, sizeof(out), "tixmo audit verify"), 0, "%s", out);
    tix_db_close(db);
}
