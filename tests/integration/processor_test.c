/* processor_test.c - the command path end to end: bus, processor, store, projections
 *
 * Real RabbitMQ and Postgres, real tixmo-processor and tixmo-projector processes. Covers
 * decisions and rejections, idempotent command ids, platform-wide slug uniqueness across
 * partitions, poison messages, kill -9 failover with exactly-once outcomes, and replaying a
 * projection from zero.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "envelope.h"
#include "harness.h"
#include "tix/buf.h"
#include "tix/bus.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/store.h"

#define PARTITIONS 16

static pid_t processor_pid, projector_pid;
static struct tix_bus *bus;
static struct tix_db *db;

static void start(void)
{
    cr_assert(sodium_init() >= 0);
    struct tix_err err;
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), "processor-test", &bus, &err), TIX_OK,
                 "%s", err.msg);
    cr_assert_eq(tix_bus_declare_topology(bus, PARTITIONS, 5, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_enable_replies(bus, &err), TIX_OK, "%s", err.msg);
    db = tix_test_db("TIXMO_DB_URL");
    processor_pid = tix_test_spawn("tixmo-processor", NULL);
    projector_pid = tix_test_spawn("tixmo-projector", NULL);
}

static void stop(void)
{
    const pid_t pids[] = {processor_pid, projector_pid};
    tix_test_stop_all(pids, 2);
    tix_bus_close(bus);
    tix_db_close(db);
}

TestSuite(processor, .init = start, .fini = stop, .timeout = 180);

/* Sends a command and returns its outcome (new reference); fails the test on timeout. */
static json_t *call(const char *id, const char *type, const char *key, json_t *payload,
                    const char *actor)
{
    json_t *outcome = NULL;
    struct tix_err err;
    enum tix_rc rc =
        tix_client_call(bus, PARTITIONS, id, type, key, payload, actor, 20000, &outcome, &err);
    json_decref(payload);
    cr_assert_eq(rc, TIX_OK, "%s %s: %s", type, key, err.msg);
    return outcome;
}

static json_t *create_org(const char *org, const char *slug)
{
    return call(NULL, "organization.create", org,
                json_pack("{ss ss ss ss}", "organization_id", org, "name", "Test Org", "slug", slug,
                          "type", "promoter"),
                "system:test");
}

static void new_slug(char *out, size_t size, const char *prefix)
{
    char id[TIX_UUID_LEN + 1];
    tix_uuid_v7(id);
    snprintf(out, size, "%s-%.8s%.4s", prefix, id + 24, id + 9);
}

static const char *status_of(const json_t *outcome)
{
    return tix_json_str(outcome, "status");
}

Test(processor, create_succeeds_and_projects)
{
    char org[TIX_UUID_LEN + 1], slug[64];
    tix_uuid_v7(org);
    new_slug(slug, sizeof(slug), "proj");
    json_t *o = create_org(org, slug);
    cr_assert_str_eq(status_of(o), "succeeded");
    cr_assert_str_eq(tix_json_str(json_object_get(o, "result"), "organization_id"), org);
    cr_assert_eq(json_array_size(json_object_get(o, "events")), 2);
    json_decref(o);
    cr_assert(tix_test_wait_projected(db, 10000), "projector did not catch up");
    const char *p[] = {org, slug};
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM rm.organizations WHERE id = $1 AND "
                                 "slug = $2 AND name = 'Test Org' AND version = 1",
                                 2, p),
                 1);
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM rm.command_status s JOIN events e ON "
                                 "e.command_id = s.command_id WHERE e.stream_id = "
                                 "'organization-' || $1 AND s.status = 'succeeded'",
                                 1, p),
                 1);
}

Test(processor, rejection_has_a_reason_and_appends_nothing)
{
    char org[TIX_UUID_LEN + 1], slug[64];
    tix_uuid_v7(org);
    new_slug(slug, sizeof(slug), "rej");
    json_decref(create_org(org, slug));
    long long before = tix_test_scalar(db, "SELECT count(*) FROM events", 0, NULL);
    json_t *o = create_org(org, slug);
    cr_assert_str_eq(status_of(o), "rejected");
    cr_assert_str_eq(tix_json_str(json_object_get(o, "reason"), "code"), "already_exists");
    json_decref(o);
    o = call(NULL, "organization.rename", org,
             json_pack("{ss si}", "organization_id", org, "name", 42), "system:test");
    cr_assert_str_eq(status_of(o), "rejected");
    cr_assert_str_eq(tix_json_str(json_object_get(o, "reason"), "code"), "invalid");
    cr_assert_str_eq(tix_json_str(json_object_get(o, "reason"), "field"), "name");
    json_decref(o);
    cr_assert_eq(tix_test_scalar(db, "SELECT count(*) FROM events", 0, NULL), before);
}

Test(processor, repeated_command_id_returns_the_first_outcome)
{
    char org[TIX_UUID_LEN + 1], slug[64], cmd[TIX_UUID_LEN + 1];
    tix_uuid_v7(org);
    tix_uuid_v7(cmd);
    new_slug(slug, sizeof(slug), "dup");
    json_decref(create_org(org, slug));
    json_t *first =
        call(cmd, "organization.rename", org,
             json_pack("{ss ss}", "organization_id", org, "name", "First"), "system:test");
    json_t *again =
        call(cmd, "organization.rename", org,
             json_pack("{ss ss}", "organization_id", org, "name", "Second"), "system:test");
    cr_assert(json_equal(first, again), "a retry must get the first outcome");
    json_decref(first);
    json_decref(again);
    const char *p[] = {cmd};
    cr_assert_eq(tix_test_scalar(db, "SELECT count(*) FROM events WHERE command_id = $1", 1, p), 1,
                 "applied once");
}

/* Publishes n encoded commands without waiting in between, then waits for every reply. */
static void call_many(int n, char ids[][TIX_UUID_LEN + 1], const char *const *keys,
                      json_t **payloads, json_t **outcomes)
{
    struct tix_err err;
    for (int i = 0; i < n; i++) {
        tix_uuid_v7(ids[i]);
        char *body = tix_envelope_encode(ids[i], "organization.create", keys[i], payloads[i],
                                         "system:test", NULL, NULL, "test");
        cr_assert_eq(tix_client_send(bus, PARTITIONS, ids[i], "organization.create", keys[i], body,
                                     true, &err),
                     TIX_OK, "%s", err.msg);
        free(body);
        outcomes[i] = NULL;
    }
    for (int got = 0; got < n;) {
        struct tix_bus_delivery d;
        cr_assert_eq(tix_bus_next(bus, 20000, &d, &err), TIX_OK, "reply missing: %s", err.msg);
        for (int i = 0; i < n; i++) {
            if (outcomes[i] == NULL && d.correlation_id && strcmp(d.correlation_id, ids[i]) == 0) {
                outcomes[i] = tix_json_parse(d.body, d.body_len, NULL);
                got++;
            }
        }
        tix_bus_delivery_deinit(&d);
    }
}

static int partition_of(const char *key)
{
    return (int)tix_partition_of(key, strlen(key), PARTITIONS);
}

Test(processor, a_slug_is_unique_across_partitions_under_concurrency)
{
    for (int round = 0; round < 10; round++) {
        char a[TIX_UUID_LEN + 1], b[TIX_UUID_LEN + 1], slug[64];
        tix_uuid_v7(a);
        do
            tix_uuid_v7(b);
        while (partition_of(a) == partition_of(b));
        new_slug(slug, sizeof(slug), "race");
        const char *keys[] = {a, b};
        json_t *payloads[2], *outcomes[2];
        for (int i = 0; i < 2; i++)
            payloads[i] = json_pack("{ss ss ss ss}", "organization_id", keys[i], "name", "Racer",
                                    "slug", slug, "type", "venue");
        char ids[2][TIX_UUID_LEN + 1];
        call_many(2, ids, keys, payloads, outcomes);
        int wins = 0, taken = 0;
        for (int i = 0; i < 2; i++) {
            wins += strcmp(status_of(outcomes[i]), "succeeded") == 0;
            const char *code = tix_json_str(json_object_get(outcomes[i], "reason"), "code");
            taken += code != NULL && strcmp(code, "slug_taken") == 0;
            json_decref(outcomes[i]);
            json_decref(payloads[i]);
        }
        cr_assert_eq(wins, 1, "round %d: exactly one claim of %s wins", round, slug);
        cr_assert_eq(taken, 1, "round %d: the other is told the slug is taken", round);
    }
}

struct dead_search {
    const char *message_id;
    char reason[512];
};

static bool find_dead_letter(void *ctx)
{
    struct dead_search *s = ctx;
    struct tix_bus *peek = NULL;
    struct tix_err err;
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), "dlq-peek", &peek, &err), TIX_OK);
    struct tix_bus_delivery d;
    bool found = false;
    while (!found && tix_bus_get(peek, TIX_BUS_DEAD_QUEUE, &d, &err) == TIX_OK) {
        if (d.message_id != NULL && strcmp(d.message_id, s->message_id) == 0) {
            snprintf(s->reason, sizeof(s->reason), "%s", d.reason ? d.reason : "");
            found = true;
        }
        tix_bus_delivery_deinit(&d);
    }
    tix_bus_close(peek); /* unacked gets go back to the queue */
    return found;
}

/* Publishes body to partition's queue under message id `id` and expects it dead-lettered with
 * a reason containing `expect`. */
static void expect_dead(int partition, const char *id, const char *body, const char *expect)
{
    char rk[8];
    tix_bus_partition_key(partition, rk, sizeof(rk));
    struct tix_bus_props props = {.message_id = id, .type = "garbage"};
    struct tix_err err;
    cr_assert_eq(
        tix_bus_publish(bus, TIX_BUS_COMMANDS_EXCHANGE, rk, true, &props, body, strlen(body), &err),
        TIX_OK);
    cr_assert_eq(tix_bus_wait_confirms(bus, 5000, &err), TIX_OK, "%s", err.msg);
    struct dead_search s = {.message_id = id};
    cr_assert(tix_test_wait(find_dead_letter, &s, 15000), "%s never reached %s", id,
              TIX_BUS_DEAD_QUEUE);
    cr_assert(strstr(s.reason, expect) != NULL, "reason \"%s\" should mention \"%s\"", s.reason,
              expect);
}

Test(processor, poison_messages_go_to_the_dead_letter_queue_with_a_reason)
{
    char id[3][TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1];
    for (int i = 0; i < 3; i++)
        tix_uuid_v7(id[i]);
    expect_dead(0, id[0], "this is not json {", "malformed command");
    tix_uuid_v7(org);
    json_t *payload = json_pack("{ss}", "organization_id", org);
    char *body = tix_envelope_encode(id[1], "organization.explode", org, payload, "system:test",
                                     NULL, NULL, "test");
    expect_dead(partition_of(org), id[1], body, "unknown command type organization.explode");
    free(body);
    body = tix_envelope_encode(id[2], "organization.rename", org, payload, "system:test", NULL,
                               NULL, "test");
    expect_dead((partition_of(org) + 1) % PARTITIONS, id[2], body, "another partition");
    free(body);
    json_decref(payload);
    char slug[64];
    new_slug(slug, sizeof(slug), "alive");
    json_t *o = create_org(org, slug);
    cr_assert_str_eq(status_of(o), "succeeded", "the processor still serves after poison");
    json_decref(o);
}

/* Publishes lines (envelopes) to partition's queue as one batch message wanting replies. */
static void publish_batch(int partition, const char *first_id, const char *lines)
{
    char rk[8];
    tix_bus_partition_key(partition, rk, sizeof(rk));
    struct tix_bus_props props = {
        .message_id = first_id, .type = TIX_BUS_BATCH_TYPE, .reply_to = TIX_BUS_REPLY_TO};
    struct tix_err err;
    cr_assert_eq(tix_bus_publish(bus, TIX_BUS_COMMANDS_EXCHANGE, rk, true, &props, lines,
                                 strlen(lines), &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_wait_confirms(bus, 5000, &err), TIX_OK, "%s", err.msg);
}

static char *org_create_line(const char *id, const char *org, const char *type)
{
    char slug[64];
    new_slug(slug, sizeof(slug), "batch");
    json_t *payload = json_pack("{ss ss ss ss}", "organization_id", org, "name", "Batch Org",
                                "slug", slug, "type", "promoter");
    char *line = tix_envelope_encode(id, type, org, payload, "system:test", NULL, NULL, "test");
    json_decref(payload);
    return line;
}

Test(processor, a_batch_message_is_decided_command_by_command_with_one_reply)
{
    /* three commands of one partition in one message: two good ones around a poison one */
    char id[3][TIX_UUID_LEN + 1], org[3][TIX_UUID_LEN + 1];
    tix_uuid_v7(org[0]);
    int part = partition_of(org[0]);
    for (int i = 0; i < 3; i++) {
        tix_uuid_v7(id[i]);
        do
            tix_uuid_v7(org[i]);
        while (partition_of(org[i]) != part);
    }
    char *l0 = org_create_line(id[0], org[0], "organization.create");
    char *l1 = org_create_line(id[1], org[1], "organization.explode");
    char *l2 = org_create_line(id[2], org[2], "organization.create");
    char body[8192];
    snprintf(body, sizeof(body), "%s\n%s\n%s", l0, l1, l2);
    free(l0);
    free(l1);
    free(l2);
    publish_batch(part, id[0], body);

    /* one reply, the two outcomes one per line, each naming its command */
    struct tix_bus_delivery d;
    struct tix_err err;
    cr_assert_eq(tix_bus_next(bus, 20000, &d, &err), TIX_OK, "no reply: %s", err.msg);
    cr_assert_str_eq(d.consumer_tag, TIX_BUS_REPLY_TO);
    const char *nl = strchr(d.body, '\n');
    cr_assert(nl != NULL && strchr(nl + 1, '\n') == NULL, "two lines expected: %s", d.body);
    json_t *first = tix_json_parse(d.body, (size_t)(nl - d.body), NULL);
    json_t *second = tix_json_parse(nl + 1, strlen(nl + 1), NULL);
    cr_assert_str_eq(tix_json_str(first, "command_id"), id[0]);
    cr_assert_str_eq(tix_json_str(second, "command_id"), id[2]);
    cr_assert_str_eq(status_of(first), "succeeded");
    cr_assert_str_eq(status_of(second), "succeeded");
    json_decref(first);
    json_decref(second);
    tix_bus_delivery_deinit(&d);

    /* the poison line alone is dead-lettered, under its own command id */
    struct dead_search s = {.message_id = id[1]};
    cr_assert(tix_test_wait(find_dead_letter, &s, 15000), "the poison line was not dead-lettered");
    cr_assert(strstr(s.reason, "unknown command type organization.explode") != NULL, "%s",
              s.reason);
    const char *both[] = {org[0], org[2]};
    cr_assert(tix_test_wait_projected(db, 10000), "projector did not catch up");
    cr_assert_eq(
        tix_test_scalar(db, "SELECT count(*) FROM rm.organizations WHERE id IN ($1, $2)", 2, both),
        2);
}

Test(processor, a_batch_over_the_limit_is_dead_lettered_whole)
{
    char first[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1];
    tix_uuid_v7(first);
    tix_uuid_v7(org);
    struct tix_buf body;
    tix_buf_init(&body, 0);
    for (int i = 0; i <= TIX_BUS_BATCH_MAX; i++) {
        char id[TIX_UUID_LEN + 1];
        tix_uuid_v7(id);
        char *line = org_create_line(id, org, "organization.create");
        if (i > 0)
            tix_buf_puts(&body, "\n");
        tix_buf_puts(&body, line);
        free(line);
    }
    publish_batch(partition_of(org), first, body.ptr);
    tix_buf_deinit(&body);
    struct dead_search s = {.message_id = first};
    cr_assert(tix_test_wait(find_dead_letter, &s, 15000), "the batch was not dead-lettered");
    cr_assert(strstr(s.reason, "more than") != NULL, "%s", s.reason);
    const char *p[] = {org};
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM events WHERE stream_id = "
                                 "'organization-' || $1",
                                 1, p),
                 0, "nothing of an oversized batch is decided");
}

struct progress {
    const char *like;
    long long want;
};

static bool decided_at_least(void *ctx)
{
    struct progress *p = ctx;
    const char *params[] = {p->like};
    return tix_test_scalar(db, "SELECT count(*) FROM processed_commands WHERE command_id LIKE $1",
                           1, params) >= p->want;
}

/* Publishes n organization.create commands with ids "<prefix>-<i>", confirmed in chunks. */
static void publish_creates(const char *prefix, int n)
{
    struct tix_err err;
    for (int i = 0; i < n; i++) {
        char id[64], org[TIX_UUID_LEN + 1], rk[8];
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        tix_uuid_v7(org);
        json_t *payload = json_pack("{ss ss ss ss}", "organization_id", org, "name", "Failover",
                                    "slug", id, "type", "promoter");
        char *body = tix_envelope_encode(id, "organization.create", org, payload, "system:test",
                                         NULL, NULL, "test");
        tix_bus_partition_key(partition_of(org), rk, sizeof(rk));
        struct tix_bus_props props = {.message_id = id, .type = "organization.create"};
        cr_assert_eq(tix_bus_publish(bus, TIX_BUS_COMMANDS_EXCHANGE, rk, true, &props, body,
                                     strlen(body), &err),
                     TIX_OK, "%s", err.msg);
        free(body);
        json_decref(payload);
        if (i % 250 == 249 || i == n - 1)
            cr_assert_eq(tix_bus_wait_confirms(bus, 10000, &err), TIX_OK, "%s", err.msg);
    }
}

Test(processor, kill_9_of_the_active_processor_loses_nothing_and_applies_nothing_twice)
{
    enum { N = 3000 };
    char slug[64], org[TIX_UUID_LEN + 1];
    tix_uuid_v7(org);
    new_slug(slug, sizeof(slug), "probe");
    json_t *o = create_org(org, slug); /* the suite's processor is up and active */
    cr_assert_str_eq(status_of(o), "succeeded");
    json_decref(o);
    pid_t standby = tix_test_spawn("tixmo-processor", NULL);
    usleep(700000); /* the standby subscribes behind the active consumer */
    char prefix[32], like[40];
    new_slug(prefix, sizeof(prefix), "k9");
    snprintf(like, sizeof(like), "%s-%%", prefix);
    publish_creates(prefix, N);
    struct progress some = {like, N / 5};
    cr_assert(tix_test_wait(decided_at_least, &some, 30000), "the active processor is stuck");
    tix_test_kill(processor_pid, SIGKILL);
    processor_pid = 0;
    const char *params[] = {like};
    long long at_kill = tix_test_scalar(
        db, "SELECT count(*) FROM processed_commands WHERE command_id LIKE $1", 1, params);
    struct progress all = {like, N};
    cr_assert(tix_test_wait(decided_at_least, &all, 90000), "the standby did not finish");
    cr_assert_lt(at_kill, N, "the kill came too late to test the failover");
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM processed_commands WHERE command_id LIKE "
                                 "$1 AND status = 'succeeded'",
                                 1, params),
                 N, "every accepted command has exactly one outcome, all succeeded");
    cr_assert_eq(
        tix_test_scalar(db, "SELECT count(*) FROM events WHERE command_id LIKE $1", 1, params),
        2 * N, "each command appended its two events exactly once");
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM (SELECT command_id FROM events WHERE "
                                 "command_id LIKE $1 GROUP BY command_id HAVING count(*) <> 2) x",
                                 1, params),
                 0);
    tix_test_kill(standby, SIGTERM);
    char out[4096];
    cr_assert_eq(tix_test_sh(out, sizeof(out), "tixmo audit verify"), 0, "%s", out);
}

static void send_ok(const char *type, const char *org, json_t *payload)
{
    json_t *o = call(NULL, type, org, payload, "system:test");
    cr_assert_str_eq(status_of(o), "succeeded", "%s", type);
    json_decref(o);
}

/* A history touching every organization event type. */
static void make_history(void)
{
    for (int i = 0; i < 3; i++) {
        char org[TIX_UUID_LEN + 1], slug[64], u1[TIX_UUID_LEN + 1], u2[TIX_UUID_LEN + 1];
        tix_uuid_v7(org);
        tix_uuid_v7(u1);
        tix_uuid_v7(u2);
        new_slug(slug, sizeof(slug), "replay");
        json_decref(create_org(org, slug));
        send_ok("organization.add_member", org,
                json_pack("{ss ss ss}", "organization_id", org, "user_id", u1, "role", "owner"));
        send_ok("organization.add_member", org,
                json_pack("{ss ss ss}", "organization_id", org, "user_id", u2, "role", "scanner"));
        send_ok("organization.change_member_role", org,
                json_pack("{ss ss ss}", "organization_id", org, "user_id", u2, "role", "admin"));
        send_ok("organization.rename", org,
                json_pack("{ss ss}", "organization_id", org, "name", "Renamed"));
        send_ok("organization.change_settings", org,
                json_pack("{ss s{ss si}}", "organization_id", org, "settings", "currency", "EUR",
                          "hold_minutes", 10));
        if (i == 1) {
            send_ok("organization.remove_member", org,
                    json_pack("{ss ss}", "organization_id", org, "user_id", u2));
            send_ok("organization.suspend", org,
                    json_pack("{ss ss}", "organization_id", org, "reason", "chargebacks"));
        }
    }
}

Test(processor, replaying_projections_from_zero_equals_the_live_read_models)
{
    make_history();
    cr_assert(tix_test_wait_projected(db, 15000), "projector did not catch up");
    const char *const organizations[] = {"organizations", "organization_members", NULL};
    const char *const command_status[] = {"command_status", NULL};
    tix_test_replay_and_compare(db, "organizations", organizations);
    tix_test_replay_and_compare(db, "command_status", command_status);
}

struct depth {
    const char *queue;
    long want;
};

static bool queue_reached(void *ctx)
{
    struct depth *d = ctx;
    struct tix_err err;
    return tix_bus_queue_depth(bus, d->queue, &err) >= d->want;
}

/* A processor that committed a batch and died before anything reached the broker: the events
 * are in the log only. The relay of the running processor publishes them, in order. */
Test(processor, committed_events_reach_the_bus_even_if_their_writer_died_before_publishing)
{
    enum { N = 5, PART = 3 };
    struct tix_err err;
    char queue[64], stream[64], uuid[TIX_UUID_LEN + 1];
    tix_uuid_v7(uuid);
    snprintf(queue, sizeof(queue), "relay-test-%s", uuid);
    snprintf(stream, sizeof(stream), "relaytest-%s", uuid);
    cr_assert_eq(tix_bus_declare_queue(bus, queue, TIX_BUS_EVENTS_EXCHANGE, "relaytest.#", 5, &err),
                 TIX_OK, "%s", err.msg);
    char ids[N][TIX_UUID_LEN + 1], data[N][32];
    struct tix_append_event ev[N];
    for (int i = 0; i < N; i++) {
        tix_uuid_v7(ids[i]);
        snprintf(data[i], sizeof(data[i]), "{\"n\":%d}", i);
        ev[i] = (struct tix_append_event){stream, i + 1,   ids[i], NULL, "relaytest.appended",
                                          1,      data[i], "{}"};
    }
    struct tix_partition_head head;
    enum tix_rc rc = TIX_ECONFLICT;
    for (int attempt = 0; attempt < 5 && rc == TIX_ECONFLICT; attempt++) {
        cr_assert_eq(tix_store_head(db, PART, &head, &err), TIX_OK, "%s", err.msg);
        rc = tix_store_append(db, PART, &head, ev, N, NULL, 0, tix_now_us(), &err);
    }
    cr_assert_eq(rc, TIX_OK, "%s", err.msg);
    struct depth all = {queue, N};
    cr_assert(tix_test_wait(queue_reached, &all, 15000), "the relay did not publish the events");
    struct tix_bus *worker = NULL; /* a worker reads the queue; basic.get is refused on it */
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), "relay-test", &worker, &err), TIX_OK,
                 "%s", err.msg);
    cr_assert_eq(tix_bus_consume(worker, queue, 100, &err), TIX_OK, "%s", err.msg);
    for (int i = 0; i < N; i++) {
        struct tix_bus_delivery d;
        cr_assert_eq(tix_bus_next(worker, 5000, &d, &err), TIX_OK, "%s", err.msg);
        cr_assert_str_eq(d.message_id, ids[i], "published in partition order");
        cr_assert_str_eq(d.routing_key, "relaytest.appended");
        json_t *body = json_loads(d.body, 0, NULL);
        cr_assert_not_null(body);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(body, "data"), "n")), i);
        cr_assert_eq(json_integer_value(json_object_get(body, "partition_seq")),
                     head.last_seq - N + 1 + i);
        cr_assert_str_eq(tix_json_str(body, "stream_id"), stream);
        json_decref(body);
        cr_assert_eq(tix_bus_ack(worker, d.delivery_tag, false, &err), TIX_OK, "%s", err.msg);
        tix_bus_delivery_deinit(&d);
    }
    tix_bus_close(worker);
    char part[8], seq[24];
    snprintf(part, sizeof(part), "%d", PART);
    snprintf(seq, sizeof(seq), "%lld", (long long)head.last_seq);
    const char *params[] = {part, seq};
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM bus_relay WHERE partition = $1::int AND "
                                 "last_seq >= $2::bigint",
                                 2, params),
                 1, "the relay's cursor moved past the events it published");
    cr_assert_eq(tix_bus_delete_queue(bus, queue, &err), TIX_OK, "%s", err.msg);
}
