/* bus_test.c - tix_bus against a real RabbitMQ (TIXMO_AMQP_URL)
 *
 * Nothing is skipped: without TIXMO_AMQP_URL or a reachable broker every test fails with a
 * message saying so. Tests that need a private queue declare one named
 * tixmo.test.<what>.<pid>.<microseconds> (each Criterion test runs in its own process) and delete
 * it at the end, so runs and parallel tests never share queues; the topology test uses the real
 * names, and the dead-letter tests share tixmo.dead, where they look for their own message id
 * and put back anything else they see.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tix/bus.h"
#include "tix/ids.h"
#include "tix/mem.h"

#define PARTITIONS     16
#define DELIVERY_LIMIT 5
#define WAIT_MS        10000

static const char *amqp_url(void)
{
    const char *url = getenv("TIXMO_AMQP_URL");
    cr_assert(url != NULL && url[0] != '\0', "TIXMO_AMQP_URL is not set: start RabbitMQ and export "
                                             "TIXMO_AMQP_URL=amqp://user:pass@host:port/vhost");
    return url;
}

static struct tix_bus *open_bus(const char *name)
{
    struct tix_bus *bus = NULL;
    struct tix_err err = {0};
    enum tix_rc rc = tix_bus_open(amqp_url(), name, &bus, &err);
    cr_assert_eq(rc, TIX_OK, "cannot open the bus at TIXMO_AMQP_URL (is RabbitMQ running?): %s",
                 err.msg);
    cr_assert_not_null(bus);
    return bus;
}

static void unique_name(char *out, size_t size, const char *what)
{
    snprintf(out, size, "tixmo.test.%s.%d.%lld", what, (int)getpid(), (long long)tix_now_us());
}

/* Declares a private partition-shaped queue named after what; bound to tixmo.commands with the
 * queue name as key when bind is set. */
static void private_queue(struct tix_bus *bus, char *out, size_t size, const char *what,
                          int delivery_limit, bool bind)
{
    struct tix_err err = {0};
    unique_name(out, size, what);
    cr_assert_eq(tix_bus_declare_topology(bus, PARTITIONS, DELIVERY_LIMIT, &err), TIX_OK, "%s",
                 err.msg);
    enum tix_rc rc = tix_bus_declare_queue(bus, out, bind ? TIX_BUS_COMMANDS_EXCHANGE : NULL, out,
                                           delivery_limit, &err);
    cr_assert_eq(rc, TIX_OK, "declare %s: %s", out, err.msg);
}

static void drop_queue(struct tix_bus *bus, const char *queue)
{
    struct tix_err err = {0};
    cr_expect_eq(tix_bus_delete_queue(bus, queue, &err), TIX_OK, "delete %s: %s", queue, err.msg);
}

static void publish_ok(struct tix_bus *bus, const char *exchange, const char *key,
                       const struct tix_bus_props *props, const char *body)
{
    struct tix_err err = {0};
    enum tix_rc rc = tix_bus_publish(bus, exchange, key, true, props, body, strlen(body), &err);
    cr_assert_eq(rc, TIX_OK, "publish: %s", err.msg);
    cr_assert_eq(tix_bus_wait_confirms(bus, WAIT_MS, &err), TIX_OK, "confirms: %s", err.msg);
}

static void next_ok(struct tix_bus *bus, struct tix_bus_delivery *d)
{
    struct tix_err err = {0};
    enum tix_rc rc = tix_bus_next(bus, WAIT_MS, d, &err);
    cr_assert_eq(rc, TIX_OK, "next: %s (%s)", tix_rc_name(rc), err.msg);
}

static long depth(struct tix_bus *bus, const char *queue)
{
    struct tix_err err = {0};
    long n = tix_bus_queue_depth(bus, queue, &err);
    cr_assert_geq(n, 0, "depth of %s: %s", queue, err.msg);
    return n;
}

static bool is_id(const struct tix_bus_delivery *d, const char *message_id)
{
    return d->message_id != NULL && strcmp(d->message_id, message_id) == 0;
}

/* Gets the message with message_id from tixmo.dead into *out, acked when ack is set, else put
 * back; puts back every other message seen (another test's or run's). Fails after 10 s. */
static void take_dead(struct tix_bus *bus, const char *message_id, bool ack,
                      struct tix_bus_delivery *out)
{
    struct tix_err err = {0};
    int64_t deadline = tix_mono_ms() + WAIT_MS;
    for (;;) {
        uint64_t *others = NULL;
        size_t n = 0;
        bool is_found = false;
        for (;;) {
            enum tix_rc rc = tix_bus_get(bus, TIX_BUS_DEAD_QUEUE, out, &err);
            if (rc == TIX_ENOTFOUND)
                break;
            cr_assert_eq(rc, TIX_OK, "get from %s: %s", TIX_BUS_DEAD_QUEUE, err.msg);
            if (is_id(out, message_id)) {
                is_found = true;
                break;
            }
            others = tix_xrealloc(others, (n + 1) * sizeof(*others));
            others[n++] = out->delivery_tag;
            tix_bus_delivery_deinit(out);
        }
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(tix_bus_reject(bus, others[i], true, &err), TIX_OK, "%s", err.msg);
        free(others);
        if (is_found) {
            enum tix_rc rc = ack ? tix_bus_ack(bus, out->delivery_tag, false, &err)
                                 : tix_bus_reject(bus, out->delivery_tag, true, &err);
            cr_assert_eq(rc, TIX_OK, "%s", err.msg);
            return;
        }
        cr_assert_lt(tix_mono_ms(), deadline, "%s never reached %s", message_id,
                     TIX_BUS_DEAD_QUEUE);
        usleep(100 * 1000);
    }
}

Test(bus, partition_names)
{
    char queue[32];
    char key[8];
    tix_bus_partition_queue(7, queue, sizeof(queue));
    tix_bus_partition_key(7, key, sizeof(key));
    cr_assert_str_eq(queue, "tixmo.commands.p07");
    cr_assert_str_eq(key, "p07");
    tix_bus_partition_queue(15, queue, sizeof(queue));
    cr_assert_str_eq(queue, "tixmo.commands.p15");
}

Test(bus, open_refuses_bad_urls_and_unreachable_brokers, .timeout = 30)
{
    struct tix_bus *bus = NULL;
    struct tix_err err = {0};
    amqp_url(); /* fails clearly when the environment is missing */
    cr_assert_eq(tix_bus_open("http://nowhere", "t", &bus, &err), TIX_EINVAL);
    cr_assert_null(bus);
    cr_assert_eq(tix_bus_open("amqps://guest:guest@127.0.0.1:1/", "t", &bus, &err), TIX_EINVAL);
    cr_assert_eq(tix_bus_open("amqp://guest:guest@127.0.0.1:1/%2f", "t", &bus, &err),
                 TIX_ETRANSIENT);
    cr_assert_null(bus);
    cr_assert(strstr(err.msg, "127.0.0.1:1") != NULL, "%s", err.msg);
}

Test(bus, open_refuses_wrong_credentials, .timeout = 30)
{
    struct tix_bus *bus = open_bus("tixmo-test-creds"); /* the broker is up */
    tix_bus_close(bus);
    char url[512];
    const char *at = strchr(amqp_url(), '@');
    cr_assert_not_null(at, "TIXMO_AMQP_URL has no user:pass@");
    snprintf(url, sizeof(url), "amqp://nobody:wrong%s", at);
    struct tix_err err = {0};
    bus = NULL;
    cr_assert_eq(tix_bus_open(url, "t", &bus, &err), TIX_EINVAL, "%s", err.msg);
    cr_assert_null(bus);
    cr_assert(strstr(err.msg, "ACCESS_REFUSED") != NULL, "%s", err.msg);
}

Test(bus, topology_is_idempotent, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-topology");
    struct tix_err err = {0};
    cr_assert_eq(tix_bus_declare_topology(bus, PARTITIONS, DELIVERY_LIMIT, &err), TIX_OK, "%s",
                 err.msg);
    cr_assert_eq(tix_bus_declare_topology(bus, PARTITIONS, DELIVERY_LIMIT, &err), TIX_OK, "%s",
                 err.msg);
    char queue[32];
    for (int p = 0; p < PARTITIONS; p++) {
        tix_bus_partition_queue(p, queue, sizeof(queue));
        depth(bus, queue);
    }
    depth(bus, TIX_BUS_DEAD_QUEUE);
    /* A missing queue is TIX_ENOTFOUND on the side channel, and the bus stays usable. */
    char missing[96];
    unique_name(missing, sizeof(missing), "missing");
    cr_assert_eq(tix_bus_queue_depth(bus, missing, &err), -1);
    cr_assert_eq(err.rc, TIX_ENOTFOUND, "%s", err.msg);
    cr_assert(strstr(err.msg, "NOT_FOUND") != NULL, "%s", err.msg);
    cr_assert_eq(tix_bus_declare_topology(bus, PARTITIONS, DELIVERY_LIMIT, &err), TIX_OK, "%s",
                 err.msg);
    cr_assert_eq(tix_bus_declare_topology(bus, 0, DELIVERY_LIMIT, &err), TIX_EINVAL);
    tix_bus_close(bus);
}

Test(bus, a_payment_set_aside_comes_back_after_its_delay_with_its_type_and_attempt, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-delay");
    struct tix_err err = {0};
    cr_assert_eq(tix_bus_declare_topology(bus, PARTITIONS, DELIVERY_LIMIT, &err), TIX_OK, "%s",
                 err.msg);
    char delay[64], id[96];
    tix_bus_payment_delay_queue(0, delay, sizeof(delay));
    cr_assert_str_eq(delay, "tixmo.payments.delay.1s");
    tix_bus_payment_delay_queue(99, delay, sizeof(delay));
    cr_assert_str_eq(delay, "tixmo.payments.delay.60s");
    tix_bus_payment_delay_queue(0, delay, sizeof(delay));
    unique_name(id, sizeof(id), "delayed");
    struct tix_bus_props props = {.message_id = id, .type = "order.refund_required", .attempt = 2};
    int64_t t0 = tix_mono_ms();
    publish_ok(bus, "", delay, &props, "{\"later\":true}");
    cr_assert_eq(tix_bus_consume(bus, TIX_BUS_PAYMENTS_QUEUE, 0, &err), TIX_OK, "%s", err.msg);
    struct tix_bus_delivery d = {0};
    for (;;) { /* anything else in the queue is left unacked: closing the bus puts it back */
        next_ok(bus, &d);
        if (is_id(&d, id))
            break;
        tix_bus_delivery_deinit(&d);
    }
    cr_assert_geq(tix_mono_ms() - t0, 900, "came back after its TTL, not at once");
    cr_assert_str_eq(d.routing_key, TIX_BUS_PAYMENTS_QUEUE);
    cr_assert_str_eq(d.type, "order.refund_required");
    cr_assert_eq(d.attempt, 2);
    cr_assert_str_eq(d.death_reason, "expired");
    cr_assert_str_eq(d.death_queue, delay);
    cr_assert_str_eq(d.body, "{\"later\":true}");
    cr_assert_eq(tix_bus_ack(bus, d.delivery_tag, false, &err), TIX_OK);
    tix_bus_delivery_deinit(&d);
    tix_bus_close(bus);
}

Test(bus, redeclare_with_other_arguments_conflicts, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-conflict");
    struct tix_err err = {0};
    char q[96];
    private_queue(bus, q, sizeof(q), "conflict", 5, false);
    cr_assert_eq(tix_bus_declare_queue(bus, q, NULL, NULL, 5, &err), TIX_OK, "%s", err.msg);
    enum tix_rc rc = tix_bus_declare_queue(bus, q, NULL, NULL, 6, &err);
    cr_assert_eq(rc, TIX_ECONFLICT, "%s: %s", tix_rc_name(rc), err.msg);
    cr_assert(strstr(err.msg, "PRECONDITION_FAILED") != NULL, "%s", err.msg);
    cr_assert_eq(depth(bus, q), 0); /* the bus survived */
    drop_queue(bus, q);
    tix_bus_close(bus);
}

Test(bus, publish_with_confirms_and_consume_back, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-roundtrip");
    struct tix_err err = {0};
    char q[96];
    private_queue(bus, q, sizeof(q), "roundtrip", DELIVERY_LIMIT, true);
    struct tix_bus_props props = {
        .message_id = "m-1",
        .correlation_id = "c-1",
        .reply_to = "somewhere",
        .type = "event.create",
        .reason = "because",
        .origin_queue = "tixmo.commands.p03",
    };
    static const char body[] = "{\"a\":1}\0tail";
    cr_assert_eq(tix_bus_publish(bus, TIX_BUS_COMMANDS_EXCHANGE, q, true, &props, body,
                                 sizeof(body) - 1, &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_unconfirmed(bus), 1);
    cr_assert_eq(tix_bus_wait_confirms(bus, WAIT_MS, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_unconfirmed(bus), 0);
    publish_ok(bus, "", q, NULL, ""); /* default exchange, no properties, empty body */
    cr_assert_eq(depth(bus, q), 2);

    cr_assert_eq(tix_bus_consume(bus, q, 10, &err), TIX_OK, "%s", err.msg);
    struct tix_bus_delivery d;
    next_ok(bus, &d);
    cr_assert_str_eq(d.consumer_tag, q);
    cr_assert_str_eq(d.exchange, TIX_BUS_COMMANDS_EXCHANGE);
    cr_assert_str_eq(d.routing_key, q);
    cr_assert_str_eq(d.message_id, "m-1");
    cr_assert_str_eq(d.correlation_id, "c-1");
    cr_assert_str_eq(d.reply_to, "somewhere");
    cr_assert_str_eq(d.type, "event.create");
    cr_assert_str_eq(d.reason, "because");
    cr_assert_str_eq(d.origin_queue, "tixmo.commands.p03");
    cr_assert_null(d.death_queue);
    cr_assert_eq(d.body_len, sizeof(body) - 1);
    cr_assert_eq(memcmp(d.body, body, sizeof(body)), 0); /* bytes and the trailing NUL */
    cr_assert_not(d.is_redelivered);
    cr_assert_eq(d.delivery_count, 0);
    cr_assert_eq(tix_bus_ack(bus, d.delivery_tag, false, &err), TIX_OK, "%s", err.msg);
    tix_bus_delivery_deinit(&d);

    next_ok(bus, &d);
    cr_assert_str_eq(d.exchange, "");
    cr_assert_null(d.message_id);
    cr_assert_null(d.reason);
    cr_assert_eq(d.body_len, 0);
    cr_assert_str_eq(d.body, "");
    cr_assert_eq(tix_bus_ack(bus, d.delivery_tag, false, &err), TIX_OK, "%s", err.msg);
    tix_bus_delivery_deinit(&d);
    cr_assert_eq(tix_bus_next(bus, 200, &d, &err), TIX_ENOTFOUND);
    drop_queue(bus, q);
    tix_bus_close(bus);
}

Test(bus, many_messages_one_wait, .timeout = 120)
{
    struct tix_bus *bus = open_bus("tixmo-test-many");
    struct tix_err err = {0};
    char q[96];
    private_queue(bus, q, sizeof(q), "many", DELIVERY_LIMIT, false);
    enum { N = 2000 };
    for (int i = 0; i < N; i++) {
        char body[32];
        int len = snprintf(body, sizeof(body), "{\"i\":%d}", i);
        cr_assert_eq(tix_bus_publish(bus, "", q, true, NULL, body, (size_t)len, &err), TIX_OK,
                     "publish %d: %s", i, err.msg);
    }
    cr_assert_leq(tix_bus_unconfirmed(bus), N);
    cr_assert_eq(tix_bus_wait_confirms(bus, 60000, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_unconfirmed(bus), 0);
    cr_assert_eq(depth(bus, q), N);
    drop_queue(bus, q);
    tix_bus_close(bus);
}

Test(bus, throughput_10k_with_confirms, .timeout = 120)
{
    struct tix_bus *bus = open_bus("tixmo-test-throughput");
    struct tix_err err = {0};
    char q[96];
    private_queue(bus, q, sizeof(q), "throughput", DELIVERY_LIMIT, true);
    enum { N = 10000 };
    static char body[256];
    memset(body, 'x', sizeof(body));
    struct tix_bus_props props = {.message_id = "0190b3c2-7d1e-7c4a-9f3e-1a2b3c4d5e6f",
                                  .type = "ticket_type.hold"};
    int64_t t0 = tix_now_us();
    for (int i = 0; i < N; i++)
        cr_assert_eq(tix_bus_publish(bus, TIX_BUS_COMMANDS_EXCHANGE, q, true, &props, body,
                                     sizeof(body), &err),
                     TIX_OK, "publish %d: %s", i, err.msg);
    cr_assert_eq(tix_bus_wait_confirms(bus, 60000, &err), TIX_OK, "%s", err.msg);
    int64_t us = tix_now_us() - t0;
    cr_log_info("published %d persistent 256-byte messages with confirms (one wait) in %.3f s: "
                "%.0f msgs/s",
                N, (double)us / 1e6, N * 1e6 / (double)us);
    cr_assert_eq(depth(bus, q), N);
    drop_queue(bus, q);
    tix_bus_close(bus);
}

Test(bus, mandatory_unroutable_fails_the_batch, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-unroutable");
    struct tix_err err = {0};
    char q[96];
    private_queue(bus, q, sizeof(q), "unroutable", DELIVERY_LIMIT, true);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(tix_bus_publish(bus, TIX_BUS_COMMANDS_EXCHANGE, q, true, NULL, "ok", 2, &err),
                     TIX_OK);
    cr_assert_eq(
        tix_bus_publish(bus, TIX_BUS_COMMANDS_EXCHANGE, "p-none", true, NULL, "x", 1, &err), TIX_OK,
        "%s", err.msg);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(tix_bus_publish(bus, TIX_BUS_COMMANDS_EXCHANGE, q, true, NULL, "ok", 2, &err),
                     TIX_OK);
    enum tix_rc rc = tix_bus_wait_confirms(bus, WAIT_MS, &err);
    cr_assert_eq(rc, TIX_ETRANSIENT, "%s", tix_rc_name(rc));
    cr_assert(strstr(err.msg, "NO_ROUTE") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "p-none") != NULL, "%s", err.msg);
    cr_assert_eq(tix_bus_unconfirmed(bus), 0, "the return is still acked");
    /* Reported once: the next batch starts clean. */
    publish_ok(bus, TIX_BUS_COMMANDS_EXCHANGE, q, NULL, "after");
    /* Without mandatory an unroutable message is simply dropped. */
    cr_assert_eq(
        tix_bus_publish(bus, TIX_BUS_COMMANDS_EXCHANGE, "p-none", false, NULL, "x", 1, &err),
        TIX_OK);
    cr_assert_eq(tix_bus_wait_confirms(bus, WAIT_MS, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(depth(bus, q), 21);
    drop_queue(bus, q);
    tix_bus_close(bus);
}

/* Declares a classic queue that holds one message and makes the broker nack publishes beyond
 * it (x-max-length 1, x-overflow reject-publish). Raw rabbitmq-c: tix_bus only declares
 * partition-shaped queues. */
static void declare_tiny_queue(const char *name)
{
    char *copy = tix_xstrdup(amqp_url());
    struct amqp_connection_info info;
    cr_assert_eq(amqp_parse_url(copy, &info), AMQP_STATUS_OK);
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(c);
    cr_assert_eq(amqp_socket_open(sock, info.host, info.port), AMQP_STATUS_OK);
    amqp_rpc_reply_t r = amqp_login(c, info.vhost, 0, AMQP_DEFAULT_FRAME_SIZE, 0,
                                    AMQP_SASL_METHOD_PLAIN, info.user, info.password);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    amqp_channel_open(c, 1);
    amqp_table_entry_t e[2] = {{.key = amqp_cstring_bytes("x-max-length")},
                               {.key = amqp_cstring_bytes("x-overflow")}};
    e[0].value.kind = AMQP_FIELD_KIND_I64;
    e[0].value.value.i64 = 1;
    e[1].value.kind = AMQP_FIELD_KIND_UTF8;
    e[1].value.value.bytes = amqp_cstring_bytes("reject-publish");
    amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 0, 1, 0, 0,
                       (amqp_table_t){.num_entries = 2, .entries = e});
    cr_assert_eq(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL, "declare %s", name);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
    free(copy);
}

Test(bus, nack_fails_the_batch, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-nack");
    struct tix_err err = {0};
    char q[96];
    unique_name(q, sizeof(q), "nack");
    declare_tiny_queue(q);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tix_bus_publish(bus, "", q, true, NULL, "n", 1, &err), TIX_OK);
    enum tix_rc rc = tix_bus_wait_confirms(bus, WAIT_MS, &err);
    cr_assert_eq(rc, TIX_ETRANSIENT, "%s", tix_rc_name(rc));
    cr_assert(strstr(err.msg, "2 nacked") != NULL, "%s", err.msg);
    cr_assert_eq(tix_bus_unconfirmed(bus), 0);
    cr_assert_eq(depth(bus, q), 1);
    cr_assert_eq(tix_bus_purge(bus, q, &err), TIX_OK, "%s", err.msg);
    publish_ok(bus, "", q, NULL, "fits"); /* reported once */
    drop_queue(bus, q);
    tix_bus_close(bus);
}

Test(bus, channel_closed_by_broker_is_transient, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-closed");
    struct tix_err err = {0};
    char exchange[96];
    unique_name(exchange, sizeof(exchange), "no-exchange");
    cr_assert_eq(tix_bus_publish(bus, exchange, "k", true, NULL, "x", 1, &err), TIX_OK);
    enum tix_rc rc = tix_bus_wait_confirms(bus, WAIT_MS, &err);
    cr_assert_eq(rc, TIX_ETRANSIENT, "%s", tix_rc_name(rc));
    cr_assert(strstr(err.msg, "NOT_FOUND - no exchange") != NULL, "%s", err.msg);
    /* Broken for good: every later call says so. */
    cr_assert_eq(tix_bus_publish(bus, "", "k", false, NULL, "x", 1, &err), TIX_ETRANSIENT);
    cr_assert(strstr(err.msg, "NOT_FOUND") != NULL, "%s", err.msg);
    struct tix_bus_delivery d;
    cr_assert_eq(tix_bus_next(bus, 0, &d, &err), TIX_ETRANSIENT);
    cr_assert_eq(tix_bus_queue_depth(bus, TIX_BUS_DEAD_QUEUE, &err), -1);
    cr_assert_eq(err.rc, TIX_ETRANSIENT);
    tix_bus_close(bus);
}

Test(bus, get_missing_queue_breaks_the_bus, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-get-missing");
    struct tix_err err = {0};
    char missing[96];
    unique_name(missing, sizeof(missing), "missing");
    struct tix_bus_delivery d;
    cr_assert_eq(tix_bus_get(bus, missing, &d, &err), TIX_ENOTFOUND);
    cr_assert(strstr(err.msg, "NOT_FOUND - no queue") != NULL, "%s", err.msg);
    cr_assert_eq(tix_bus_wait_confirms(bus, 0, &err), TIX_ETRANSIENT);
    tix_bus_close(bus);
}

Test(bus, direct_reply_to_round_trip, .timeout = 60)
{
    struct tix_bus *client = open_bus("tixmo-test-client");
    struct tix_bus *responder = open_bus("tixmo-test-responder");
    struct tix_err err = {0};
    char q[96];
    private_queue(responder, q, sizeof(q), "rpc", DELIVERY_LIMIT, true);
    cr_assert_eq(tix_bus_consume(responder, q, 16, &err), TIX_OK, "%s", err.msg);

    struct tix_bus_props req = {.message_id = "cmd-42", .reply_to = TIX_BUS_REPLY_TO};
    cr_assert_eq(tix_bus_publish(client, TIX_BUS_COMMANDS_EXCHANGE, q, true, &req, "{}", 2, &err),
                 TIX_EINVAL, "reply_to needs tix_bus_enable_replies");
    cr_assert_eq(tix_bus_enable_replies(client, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_enable_replies(client, &err), TIX_OK, "%s", err.msg);
    publish_ok(client, TIX_BUS_COMMANDS_EXCHANGE, q, &req, "{\"cmd\":1}");

    struct tix_bus_delivery d;
    next_ok(responder, &d);
    cr_assert_str_eq(d.message_id, "cmd-42");
    cr_assert_not_null(d.reply_to);
    cr_assert(strncmp(d.reply_to, TIX_BUS_REPLY_TO ".", strlen(TIX_BUS_REPLY_TO) + 1) == 0, "%s",
              d.reply_to);
    struct tix_bus_props rep = {.correlation_id = d.message_id, .type = "outcome"};
    cr_assert_eq(tix_bus_publish(responder, "", d.reply_to, false, &rep, "{\"ok\":true}", 11, &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_wait_confirms(responder, WAIT_MS, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_ack(responder, d.delivery_tag, false, &err), TIX_OK, "%s", err.msg);
    tix_bus_delivery_deinit(&d);

    next_ok(client, &d);
    cr_assert_str_eq(d.consumer_tag, TIX_BUS_REPLY_TO);
    cr_assert_str_eq(d.correlation_id, "cmd-42");
    cr_assert_str_eq(d.type, "outcome");
    cr_assert_str_eq(d.body, "{\"ok\":true}");
    tix_bus_delivery_deinit(&d);
    drop_queue(responder, q);
    tix_bus_close(responder);
    tix_bus_close(client);
}

Test(bus, reject_dead_letters_with_x_death, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-reject");
    struct tix_err err = {0};
    char q[96];
    char id[96];
    private_queue(bus, q, sizeof(q), "reject", DELIVERY_LIMIT, false);
    unique_name(id, sizeof(id), "rejected-msg");
    struct tix_bus_props props = {.message_id = id, .type = "poison"};
    publish_ok(bus, "", q, &props, "{\"bad\":true}");
    cr_assert_eq(tix_bus_consume(bus, q, 1, &err), TIX_OK, "%s", err.msg);
    struct tix_bus_delivery d;
    next_ok(bus, &d);
    cr_assert_eq(tix_bus_reject(bus, d.delivery_tag, false, &err), TIX_OK, "%s", err.msg);
    tix_bus_delivery_deinit(&d);

    take_dead(bus, id, true, &d);
    cr_assert_str_eq(d.death_queue, q);
    cr_assert_str_eq(d.death_reason, "rejected");
    cr_assert_str_eq(d.type, "poison");
    cr_assert_str_eq(d.body, "{\"bad\":true}");
    cr_assert_null(d.reason);
    tix_bus_delivery_deinit(&d);
    drop_queue(bus, q);
    tix_bus_close(bus);
}

Test(bus, dead_letter_adds_reason, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-dead-letter");
    struct tix_err err = {0};
    char q[96];
    char id[96];
    private_queue(bus, q, sizeof(q), "deadletter", DELIVERY_LIMIT, false);
    unique_name(id, sizeof(id), "dead-msg");
    struct tix_bus_props props = {.message_id = id, .correlation_id = "corr", .type = "order.pay"};
    publish_ok(bus, "", q, &props, "{\"order\":7}");
    cr_assert_eq(tix_bus_consume(bus, q, 1, &err), TIX_OK, "%s", err.msg);
    struct tix_bus_delivery d;
    next_ok(bus, &d);
    cr_assert_eq(tix_bus_dead_letter(bus, &d, q, "decide failed: schema", &err), TIX_OK, "%s",
                 err.msg);
    cr_assert_eq(tix_bus_ack(bus, d.delivery_tag, false, &err), TIX_OK, "%s", err.msg);
    tix_bus_delivery_deinit(&d);

    take_dead(bus, id, true, &d);
    cr_assert_str_eq(d.reason, "decide failed: schema");
    cr_assert_str_eq(d.origin_queue, q);
    cr_assert_str_eq(d.exchange, TIX_BUS_DLX_EXCHANGE);
    cr_assert_str_eq(d.routing_key, q);
    cr_assert_str_eq(d.correlation_id, "corr");
    cr_assert_str_eq(d.type, "order.pay");
    cr_assert_str_eq(d.body, "{\"order\":7}");
    cr_assert_null(d.death_queue);
    cr_assert_null(d.consumer_tag);
    tix_bus_delivery_deinit(&d);
    cr_assert_eq(depth(bus, q), 0);
    drop_queue(bus, q);
    tix_bus_close(bus);
}

Test(bus, redelivery_after_close_counts, .timeout = 60)
{
    struct tix_bus *admin = open_bus("tixmo-test-redeliver-admin");
    struct tix_err err = {0};
    char q[96];
    private_queue(admin, q, sizeof(q), "redeliver", DELIVERY_LIMIT, false);
    publish_ok(admin, "", q, &(struct tix_bus_props){.message_id = "again"}, "{}");
    for (int64_t round = 0; round < 3; round++) {
        struct tix_bus *bus = open_bus("tixmo-test-redeliver");
        cr_assert_eq(tix_bus_consume(bus, q, 1, &err), TIX_OK, "%s", err.msg);
        struct tix_bus_delivery d;
        next_ok(bus, &d);
        cr_assert_str_eq(d.message_id, "again");
        cr_assert_eq(d.delivery_count, round, "round %lld: delivery_count %lld", (long long)round,
                     (long long)d.delivery_count);
        cr_assert_eq(d.is_redelivered, round > 0);
        if (round == 2)
            cr_assert_eq(tix_bus_ack(bus, d.delivery_tag, false, &err), TIX_OK, "%s", err.msg);
        tix_bus_delivery_deinit(&d);
        tix_bus_close(bus); /* without ack: the broker returns the message */
    }
    cr_assert_eq(depth(admin, q), 0);
    drop_queue(admin, q);
    tix_bus_close(admin);
}

Test(bus, delivery_limit_dead_letters, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-limit");
    struct tix_err err = {0};
    char q[96];
    char id[96];
    private_queue(bus, q, sizeof(q), "limit", 1, false);
    unique_name(id, sizeof(id), "limit-msg");
    publish_ok(bus, "", q, &(struct tix_bus_props){.message_id = id}, "{}");
    cr_assert_eq(tix_bus_consume(bus, q, 1, &err), TIX_OK, "%s", err.msg);
    struct tix_bus_delivery d;
    for (int i = 0; i < 2; i++) {
        next_ok(bus, &d);
        cr_assert_eq(d.delivery_count, i);
        cr_assert_eq(tix_bus_reject(bus, d.delivery_tag, true, &err), TIX_OK, "%s", err.msg);
        tix_bus_delivery_deinit(&d);
    }
    cr_assert_eq(tix_bus_next(bus, 500, &d, &err), TIX_ENOTFOUND, "past the limit: dead");
    take_dead(bus, id, true, &d);
    cr_assert_str_eq(d.death_queue, q);
    cr_assert_str_eq(d.death_reason, "delivery_limit");
    tix_bus_delivery_deinit(&d);
    drop_queue(bus, q);
    tix_bus_close(bus);
}

Test(bus, single_active_consumer, .timeout = 60)
{
    struct tix_bus *pub = open_bus("tixmo-test-sac-pub");
    struct tix_bus *first = open_bus("tixmo-test-sac-1");
    struct tix_bus *second = open_bus("tixmo-test-sac-2");
    struct tix_err err = {0};
    char q[96];
    private_queue(pub, q, sizeof(q), "sac", DELIVERY_LIMIT, false);
    cr_assert_eq(tix_bus_consume(first, q, 8, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_consume(second, q, 8, &err), TIX_OK, "%s", err.msg);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(tix_bus_publish(pub, "", q, true, NULL, "one", 3, &err), TIX_OK);
    cr_assert_eq(tix_bus_wait_confirms(pub, WAIT_MS, &err), TIX_OK, "%s", err.msg);

    struct tix_bus_delivery d;
    for (int i = 0; i < 4; i++) {
        next_ok(first, &d);
        cr_assert_eq(tix_bus_ack(first, d.delivery_tag, false, &err), TIX_OK, "%s", err.msg);
        tix_bus_delivery_deinit(&d);
    }
    cr_assert_eq(tix_bus_next(second, 500, &d, &err), TIX_ENOTFOUND, "second must be idle");
    tix_bus_close(first);

    publish_ok(pub, "", q, NULL, "two");
    next_ok(second, &d);
    cr_assert_str_eq(d.body, "two");
    cr_assert_eq(tix_bus_ack(second, d.delivery_tag, false, &err), TIX_OK, "%s", err.msg);
    tix_bus_delivery_deinit(&d);
    tix_bus_close(second);
    drop_queue(pub, q);
    tix_bus_close(pub);
}

Test(bus, queue_depth_and_purge, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-depth");
    struct tix_err err = {0};
    char q[96];
    private_queue(bus, q, sizeof(q), "depth", DELIVERY_LIMIT, false);
    cr_assert_eq(depth(bus, q), 0);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(tix_bus_publish(bus, "", q, true, NULL, "b", 1, &err), TIX_OK);
    cr_assert_eq(tix_bus_wait_confirms(bus, WAIT_MS, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(depth(bus, q), 5);
    cr_assert_eq(tix_bus_purge(bus, q, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(depth(bus, q), 0);
    char missing[96];
    unique_name(missing, sizeof(missing), "missing");
    cr_assert_eq(tix_bus_purge(bus, missing, &err), TIX_ENOTFOUND, "%s", err.msg);
    cr_assert_eq(depth(bus, q), 0, "the bus survives side-channel refusals");
    /* basic.get is refused on single-active-consumer quorum queues, and breaks the bus. */
    struct tix_bus_delivery d;
    enum tix_rc rc = tix_bus_get(bus, q, &d, &err);
    cr_assert_eq(rc, TIX_ECONFLICT, "%s: %s", tix_rc_name(rc), err.msg);
    cr_assert_eq(tix_bus_wait_confirms(bus, 0, &err), TIX_ETRANSIENT);
    tix_bus_close(bus);
    bus = open_bus("tixmo-test-depth-cleanup");
    drop_queue(bus, q);
    tix_bus_close(bus);
}

Test(bus, get_requeue_and_ack_on_dead_queue, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-get");
    struct tix_err err = {0};
    char id[96];
    unique_name(id, sizeof(id), "get-msg");
    cr_assert_eq(tix_bus_declare_topology(bus, PARTITIONS, DELIVERY_LIMIT, &err), TIX_OK, "%s",
                 err.msg);
    publish_ok(bus, TIX_BUS_DLX_EXCHANGE, "anywhere", &(struct tix_bus_props){.message_id = id},
               "dead");
    struct tix_bus_delivery d;
    take_dead(bus, id, false, &d);
    cr_assert_null(d.consumer_tag);
    cr_assert_str_eq(d.exchange, TIX_BUS_DLX_EXCHANGE);
    cr_assert_str_eq(d.routing_key, "anywhere");
    cr_assert_not(d.is_redelivered);
    tix_bus_delivery_deinit(&d);
    take_dead(bus, id, true, &d); /* it was put back */
    cr_assert(d.is_redelivered);
    cr_assert_str_eq(d.body, "dead");
    tix_bus_delivery_deinit(&d);
    tix_bus_close(bus);
}

Test(bus, deliveries_and_confirms_interleave_in_order, .timeout = 60)
{
    struct tix_bus *bus = open_bus("tixmo-test-interleave");
    struct tix_err err = {0};
    char q[96];
    private_queue(bus, q, sizeof(q), "interleave", DELIVERY_LIMIT, false);
    cr_assert_eq(tix_bus_consume(bus, q, 0, &err), TIX_OK, "%s", err.msg);
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        char body[16];
        int len = snprintf(body, sizeof(body), "%d", i);
        cr_assert_eq(tix_bus_publish(bus, "", q, true, NULL, body, (size_t)len, &err), TIX_OK, "%s",
                     err.msg);
    }
    /* Deliveries that arrive while waiting for confirms are kept, in order. */
    cr_assert_eq(tix_bus_wait_confirms(bus, WAIT_MS, &err), TIX_OK, "%s", err.msg);
    struct tix_bus_delivery d;
    for (int i = 0; i < N; i++) {
        next_ok(bus, &d);
        char want[16];
        snprintf(want, sizeof(want), "%d", i);
        cr_assert_str_eq(d.body, want);
        cr_assert_eq(tix_bus_ack(bus, d.delivery_tag, false, &err), TIX_OK, "%s", err.msg);
        tix_bus_delivery_deinit(&d);
    }
    /* Confirms that arrive while waiting for deliveries are recorded. */
    cr_assert_eq(
        tix_bus_publish(bus, TIX_BUS_COMMANDS_EXCHANGE, "p-none", false, NULL, "x", 1, &err),
        TIX_OK);
    cr_assert_eq(tix_bus_unconfirmed(bus), 1);
    cr_assert_eq(tix_bus_next(bus, 300, &d, &err), TIX_ENOTFOUND);
    cr_assert_eq(tix_bus_unconfirmed(bus), 0);
    cr_assert_eq(tix_bus_wait_confirms(bus, 0, &err), TIX_OK, "%s", err.msg);
    /* ... and so are those tix_bus_poll finds, without blocking. */
    cr_assert_eq(
        tix_bus_publish(bus, TIX_BUS_COMMANDS_EXCHANGE, "p-none", false, NULL, "x", 1, &err),
        TIX_OK);
    int64_t deadline = tix_mono_ms() + WAIT_MS;
    while (tix_bus_unconfirmed(bus) > 0 && tix_mono_ms() < deadline) {
        cr_assert_eq(tix_bus_poll(bus, &err), TIX_OK, "%s", err.msg);
        usleep(1000);
    }
    cr_assert_eq(tix_bus_unconfirmed(bus), 0);
    drop_queue(bus, q);
    tix_bus_close(bus);
}

Test(bus, deleted_queue_cancels_the_consumer, .timeout = 60)
{
    struct tix_bus *admin = open_bus("tixmo-test-cancel-admin");
    struct tix_bus *bus = open_bus("tixmo-test-cancel");
    struct tix_err err = {0};
    char q[96];
    private_queue(admin, q, sizeof(q), "cancel", DELIVERY_LIMIT, false);
    cr_assert_eq(tix_bus_consume(bus, q, 1, &err), TIX_OK, "%s", err.msg);
    drop_queue(admin, q);
    struct tix_bus_delivery d;
    enum tix_rc rc = tix_bus_next(bus, WAIT_MS, &d, &err);
    cr_assert_eq(rc, TIX_ETRANSIENT, "%s: %s", tix_rc_name(rc), err.msg);
    cr_assert(strstr(err.msg, "cancelled") != NULL, "%s", err.msg);
    tix_bus_close(bus);
    tix_bus_close(admin);
}
