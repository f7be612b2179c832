/* payments_test.c - the Stripe client and the payment worker against the real stand-in
 *
 * The Stripe stand-in is WireMock (tests/stripe), whose request journal shows what was really
 * sent. stripe_client: an intent is created with its Idempotency-Key, Bearer key and form body;
 * a 500 is retried with the SAME key and yields one intent; a declined card, a bad key and an
 * unreachable Stripe map to the right codes; refunds. payment_worker: a real tixmo-payment
 * process fed order events on the real broker creates the intent once (a redelivered event
 * reuses it), stores it, sends order.attach_payment with a derived id (seen on a copy of the
 * partition's command queue), refunds and sends order.mark_refunded, follows the sale's
 * outcomes, and dead-letters a malformed event without stopping. An intent Stripe keeps failing
 * reads 'retrying' between rounds, then (TIXMO_PAYMENT_INTENT_ROUNDS=3) 'failed', and the worker
 * sends order.cancel with the reason; so does an intent Stripe refuses; a redelivered event
 * sends the same command (same id) without asking Stripe again.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "provider.h"
#include "stripe_mock.h"
#include "tix/bus.h"
#include "tix/ids.h"
#include "tix/json.h"

/* ---- stripe_client ------------------------------------------------------------------------ */

static struct tix_payment_provider pv;

static void provider_with(const char *key, const char *url, int attempts)
{
    struct tix_stripe_options o = {.base_url = url,
                                   .secret_key = key,
                                   .timeout_ms = 5000,
                                   .attempts = attempts,
                                   .backoff_ms = 20};
    tix_stripe_provider_init(&pv, &o);
}

static void client_start(void)
{
    cr_assert(sodium_init() >= 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    provider_with(tix_test_env("TIXMO_STRIPE_SECRET_KEY"), tix_test_env("TIXMO_STRIPE_URL"), 3);
}

static void client_stop(void)
{
    pv.destroy(pv.ctx);
    curl_global_cleanup();
}

TestSuite(stripe_client, .init = client_start, .fini = client_stop, .timeout = 60);

struct order_ids {
    char order[TIX_UUID_LEN + 1], event[TIX_UUID_LEN + 1], key[64];
};

static void new_order(struct order_ids *o)
{
    tix_uuid_v7(o->order);
    tix_uuid_v7(o->event);
    snprintf(o->key, sizeof(o->key), "tixmo-order-%s", o->order);
}

static enum tix_rc intent(const struct order_ids *o, int64_t amount, struct tix_intent *out,
                          struct tix_err *err)
{
    struct tix_intent_request req = {o->key, amount, "EUR", o->order, o->event};
    return pv.create_intent(pv.ctx, &req, out, err);
}

Test(stripe_client, intent_created_with_idempotency_key)
{
    struct order_ids o;
    new_order(&o);
    struct tix_intent in;
    struct tix_err err;
    cr_assert_eq(intent(&o, 4500, &in, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(strncmp(in.id, "pi_", 3), 0, "%s", in.id);
    cr_assert_eq(strncmp(in.client_secret, in.id, strlen(in.id)), 0);
    cr_assert(strstr(in.client_secret, "_secret_") != NULL);
    cr_assert_str_eq(in.status, "requires_payment_method");
    cr_assert_eq(in.amount_minor, 4500);
    cr_assert_str_eq(in.currency, "eur", "sent lowercase, as Stripe wants");
    cr_assert_eq(in.attempts, 1);
    json_t *reqs = tix_stripe_mock_requests("/v1/payment_intents", o.key);
    cr_assert_eq(json_array_size(reqs), 1, "one request with key %s", o.key);
    json_t *r = json_array_get(reqs, 0);
    const char *auth = tix_stripe_mock_header(r, "Authorization");
    char want[160];
    snprintf(want, sizeof(want), "Bearer %s", tix_test_env("TIXMO_STRIPE_SECRET_KEY"));
    cr_assert_str_eq(auth, want);
    cr_assert(strstr(tix_stripe_mock_header(r, "Content-Type"), "x-www-form-urlencoded"));
    const char *body = tix_json_str(json_object_get(r, "request"), "body");
    char meta[96];
    snprintf(meta, sizeof(meta), "metadata%%5Border_id%%5D=%s", o.order);
    cr_assert(strstr(body, "amount=4500") && strstr(body, "currency=eur") && strstr(body, meta),
              "%s", body);
    json_decref(reqs);
}

Test(stripe_client, a_500_is_retried_with_the_same_key_and_yields_one_intent)
{
    tix_stripe_mock_reset_scenarios();
    struct order_ids o;
    new_order(&o);
    struct tix_intent in, again;
    struct tix_err err;
    cr_assert_eq(intent(&o, 1099, &in, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(in.attempts, 2, "one 500, then the retry");
    json_t *reqs = tix_stripe_mock_requests("/v1/payment_intents", o.key);
    cr_assert_eq(json_array_size(reqs), 2);
    cr_assert_eq(tix_json_int(json_object_get(json_array_get(reqs, 0), "response"), "status", 0),
                 500);
    cr_assert_eq(tix_json_int(json_object_get(json_array_get(reqs, 1), "response"), "status", 0),
                 200);
    json_decref(reqs);
    /* the same key later (a redelivered order.placed) gets the same intent back */
    cr_assert_eq(intent(&o, 1099, &again, &err), TIX_OK, "%s", err.msg);
    cr_assert_str_eq(again.id, in.id);
    cr_assert_str_eq(again.client_secret, in.client_secret);
}

Test(stripe_client, retries_exhausted_and_unreachable_are_transient)
{
    tix_stripe_mock_reset_scenarios();
    pv.destroy(pv.ctx);
    provider_with(tix_test_env("TIXMO_STRIPE_SECRET_KEY"), tix_test_env("TIXMO_STRIPE_URL"), 1);
    struct order_ids o;
    new_order(&o);
    struct tix_intent in;
    struct tix_err err;
    cr_assert_eq(intent(&o, 2099, &in, &err), TIX_ETRANSIENT, "one try only, and it was a 500");
    cr_assert_eq(in.http_status, 500);
    tix_stripe_mock_reset_scenarios();
    pv.destroy(pv.ctx);
    provider_with(tix_test_env("TIXMO_STRIPE_SECRET_KEY"), "http://127.0.0.1:9", 3);
    cr_assert_eq(intent(&o, 2000, &in, &err), TIX_ETRANSIENT);
    cr_assert_eq(in.attempts, 3);
    cr_assert_eq(in.http_status, 0);
    cr_assert(strstr(err.msg, "after 3 attempt(s)") != NULL, "%s", err.msg);
}

Test(stripe_client, a_declined_card_is_final_with_stripe_s_reason_and_a_bad_key_waits)
{
    struct order_ids o;
    new_order(&o);
    struct tix_intent in;
    struct tix_err err;
    cr_assert_eq(intent(&o, 1002, &in, &err), TIX_EINVAL);
    cr_assert_eq(in.http_status, 402);
    cr_assert_eq(in.attempts, 1, "a decline is not retried");
    cr_assert_str_eq(in.error_code, "card_declined");
    cr_assert_str_eq(in.decline_code, "generic_decline");
    cr_assert(strstr(err.msg, "card_error card_declined: Your card was declined.") != NULL, "%s",
              err.msg);
    pv.destroy(pv.ctx);
    provider_with("sk_live_wrong-key", tix_test_env("TIXMO_STRIPE_URL"), 3);
    new_order(&o);
    cr_assert_eq(intent(&o, 4500, &in, &err), TIX_ETRANSIENT,
                 "a refused key is the operator's to fix: set aside, not failed for the buyer");
    cr_assert_eq(in.http_status, 401);
    cr_assert_eq(in.attempts, 1, "not retried in place");
    cr_assert(strstr(err.msg, "secret key was refused") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "sk_live") == NULL, "the key never reaches an error");
}

Test(stripe_client, refund)
{
    struct order_ids o;
    new_order(&o);
    char key[64];
    snprintf(key, sizeof(key), "tixmo-refund-%s", o.order);
    struct tix_refund_request req = {key, "pi_0123abcd", 4500, o.order, o.event};
    struct tix_refund out;
    struct tix_err err;
    cr_assert_eq(pv.create_refund(pv.ctx, &req, &out, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(strncmp(out.id, "re_", 3), 0, "%s", out.id);
    cr_assert_str_eq(out.status, "succeeded");
    cr_assert_eq(out.amount_minor, 4500);
    json_t *reqs = tix_stripe_mock_requests("/v1/refunds", key);
    cr_assert_eq(json_array_size(reqs), 1);
    const char *body = tix_json_str(json_object_get(json_array_get(reqs, 0), "request"), "body");
    cr_assert(strstr(body, "payment_intent=pi_0123abcd") && strstr(body, "amount=4500"), "%s",
              body);
    json_decref(reqs);
}

/* ---- payment_worker ----------------------------------------------------------------------- */

static pid_t worker_pid;
static struct tix_bus *bus; /* publishes events */
static struct tix_bus *tap; /* consumes a copy of one partition's commands */
static struct tix_db *db;
static char tap_queue[64];
static int tap_partition = -1;

static void worker_start(void)
{
    cr_assert(sodium_init() >= 0);
    struct tix_err err;
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), "payments-test", &bus, &err), TIX_OK,
                 "%s", err.msg);
    cr_assert_eq(tix_bus_declare_topology(bus, atoi(tix_test_env("TIXMO_PARTITIONS")), 5, &err),
                 TIX_OK, "%s", err.msg);
    db = tix_test_db("TIXMO_DB_URL");
    static const char *const env[] = {"TIXMO_PAYMENT_INTENT_ROUNDS=3", NULL}; /* 1 s + 2 s */
    worker_pid = tix_test_spawn("tixmo-payment", env);
    for (int i = 0; i < 200 && tix_bus_queue_depth(bus, "tixmo.payments", NULL) < 0; i++)
        usleep(50000);
    cr_assert(tix_bus_queue_depth(bus, "tixmo.payments", &err) >= 0,
              "tixmo-payment did not declare its queue: %s", err.msg);
}

static void worker_stop(void)
{
    tix_test_kill(worker_pid, SIGTERM);
    if (tap != NULL) {
        tix_bus_delete_queue(bus, tap_queue, NULL);
        tix_bus_close(tap);
    }
    tix_bus_close(bus);
    tix_db_close(db);
}

TestSuite(payment_worker, .init = worker_start, .fini = worker_stop, .timeout = 120);

/* Consumes a copy of every command sent to `event`'s partition (a queue of our own bound to
 * the partition's routing key). One tap per test process: every test uses one show. */
static void tap_partition_of(const char *event)
{
    int parts = atoi(tix_test_env("TIXMO_PARTITIONS"));
    int p = (int)tix_partition_of(event, strlen(event), (uint32_t)parts);
    cr_assert(tap == NULL || p == tap_partition);
    if (tap != NULL)
        return;
    struct tix_err err;
    char key[8];
    tix_bus_partition_key(p, key, sizeof(key));
    snprintf(tap_queue, sizeof(tap_queue), "tixmo.test.payments.%d", (int)getpid());
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), "payments-tap", &tap, &err), TIX_OK);
    cr_assert_eq(tix_bus_declare_queue(tap, tap_queue, TIX_BUS_COMMANDS_EXCHANGE, key, 5, &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_consume(tap, tap_queue, 100, &err), TIX_OK, "%s", err.msg);
    tap_partition = p;
}

/* The next command with message id `id` on the tap (envelope, new reference), or NULL. */
static json_t *tapped(const char *id, int timeout_ms)
{
    int64_t deadline = tix_mono_ms() + timeout_ms;
    while (tix_mono_ms() < deadline) {
        struct tix_bus_delivery d;
        if (tix_bus_next(tap, 200, &d, NULL) != TIX_OK)
            continue;
        tix_bus_ack(tap, d.delivery_tag, false, NULL);
        json_t *env = NULL;
        if (d.message_id != NULL && strcmp(d.message_id, id) == 0)
            env = tix_json_parse(d.body, d.body_len, NULL);
        tix_bus_delivery_deinit(&d);
        if (env != NULL)
            return env;
    }
    return NULL;
}

/* Publishes a recorded event of `type` with data, as the processor does. */
static void publish(const char *type, json_t *data, char event_msg_id[TIX_UUID_LEN + 1])
{
    tix_uuid_v7(event_msg_id);
    json_t *msg =
        json_pack("{ss ss ss si so s{ss} sI}", "event_id", event_msg_id, "type", type, "stream_id",
                  "stock-test", "stream_version", 1, "data", data, "metadata", "correlation_id",
                  "payments-test", "recorded_at_us", (json_int_t)tix_now_us());
    char *body = tix_json_dump(msg);
    struct tix_bus_props props = {.message_id = event_msg_id, .type = type};
    struct tix_err err;
    cr_assert_eq(
        tix_bus_publish(bus, TIX_BUS_EVENTS_EXCHANGE, type, true, &props, body, strlen(body), &err),
        TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_wait_confirms(bus, 10000, &err), TIX_OK, "%s (unroutable?)", err.msg);
    free(body);
    json_decref(msg);
}

static json_t *placed(const struct order_ids *o, const char *buyer, int64_t total)
{
    return json_pack("{ss ss ss ss ss sI}", "event_id", o->event, "order_id", o->order, "buyer_id",
                     buyer, "number", "TEST-000001", "currency", "EUR", "total_minor",
                     (json_int_t)total);
}

struct row_wait {
    const char *order;
    const char *sql_cond; /* a condition on the payments row */
};

static bool row_matches(void *ctx)
{
    struct row_wait *w = ctx;
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM payments WHERE order_id = $1 AND %s",
             w->sql_cond);
    const char *p[] = {w->order};
    return tix_test_scalar(db, sql, 1, p) == 1;
}

static void wait_row(const char *order, const char *cond)
{
    struct row_wait w = {order, cond};
    cr_assert(tix_test_wait(row_matches, &w, 20000), "payments row %s never had %s", order, cond);
}

static char *row_value(const char *order, const char *column)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT coalesce(%s::text, '') FROM payments WHERE order_id = $1",
             column);
    const char *p[] = {order};
    PGresult *res = NULL;
    cr_assert_eq(tix_db_exec(db, sql, 1, p, &res, NULL), TIX_OK);
    cr_assert_eq(PQntuples(res), 1);
    char *v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

/* One order for one show, the show shared by every test so one tap sees every command. */
static char show[TIX_UUID_LEN + 1];

static void order_for_show(struct order_ids *o)
{
    if (show[0] == '\0')
        tix_uuid_v7(show);
    new_order(o);
    memcpy(o->event, show, sizeof(show));
    tap_partition_of(show);
}

static void check_command(json_t *env, const char *type, const struct order_ids *o)
{
    cr_assert_not_null(env, "no %s command for %s", type, o->order);
    cr_assert_str_eq(tix_json_str(env, "type"), type);
    cr_assert_str_eq(tix_json_str(env, "key"), o->event, "keyed by the show");
    cr_assert_str_eq(tix_json_str(env, "actor"), "system:payments");
    const json_t *p = json_object_get(env, "payload");
    cr_assert_str_eq(tix_json_str(p, "event_id"), o->event);
    cr_assert_str_eq(tix_json_str(p, "order_id"), o->order);
}

Test(payment_worker, order_placed_creates_one_intent_and_attaches_it)
{
    struct order_ids o;
    order_for_show(&o);
    char buyer[TIX_UUID_LEN + 1], msg[TIX_UUID_LEN + 1], cmd_id[96];
    tix_uuid_v7(buyer);
    publish("order.placed", placed(&o, buyer, 12050), msg);
    wait_row(o.order, "payment_intent_id IS NOT NULL");
    char *intent = row_value(o.order, "payment_intent_id");
    char *secret = row_value(o.order, "client_secret");
    char *status = row_value(o.order, "status");
    char *buyer_row = row_value(o.order, "buyer_id");
    cr_assert_eq(strncmp(intent, "pi_", 3), 0);
    cr_assert(strstr(secret, "_secret_") != NULL);
    cr_assert_str_eq(status, "requires_payment_method");
    cr_assert_str_eq(buyer_row, buyer);
    snprintf(cmd_id, sizeof(cmd_id), "payments.attach.%s", o.order);
    json_t *env = tapped(cmd_id, 20000);
    check_command(env, "order.attach_payment", &o);
    cr_assert_str_eq(tix_json_str(json_object_get(env, "payload"), "payment_intent_id"), intent);
    json_decref(env);
    json_t *reqs = tix_stripe_mock_requests("/v1/payment_intents", o.key);
    cr_assert_eq(json_array_size(reqs), 1, "Stripe asked once, with tixmo-order-<order_id>");
    json_decref(reqs);
    /* a redelivery: the same command again (deduplicated by the processor), Stripe not asked */
    publish("order.placed", placed(&o, buyer, 12050), msg);
    env = tapped(cmd_id, 20000);
    check_command(env, "order.attach_payment", &o);
    json_decref(env);
    reqs = tix_stripe_mock_requests("/v1/payment_intents", o.key);
    cr_assert_eq(json_array_size(reqs), 1, "still one request: the row already had the intent");
    json_decref(reqs);
    free(intent);
    free(secret);
    free(status);
    free(buyer_row);
}

Test(payment_worker, stripe_500_is_retried_by_the_worker_with_the_same_key)
{
    tix_stripe_mock_reset_scenarios();
    struct order_ids o;
    order_for_show(&o);
    char msg[TIX_UUID_LEN + 1];
    publish("order.placed", placed(&o, "buyer-flaky", 7799), msg);
    wait_row(o.order, "payment_intent_id IS NOT NULL");
    json_t *reqs = tix_stripe_mock_requests("/v1/payment_intents", o.key);
    cr_assert_eq(json_array_size(reqs), 2, "a 500, then the same key again");
    json_decref(reqs);
}

Test(payment_worker, refund_then_outcomes)
{
    struct order_ids o;
    order_for_show(&o);
    char msg[TIX_UUID_LEN + 1], cmd_id[96], key[64];
    publish("order.placed", placed(&o, "buyer-refund", 9000), msg);
    wait_row(o.order, "payment_intent_id IS NOT NULL");
    char *intent = row_value(o.order, "payment_intent_id");
    publish("order.payment_failed",
            json_pack("{ss ss ss ss}", "event_id", o.event, "order_id", o.order, "stripe_event_id",
                      "evt_x", "reason", "card_declined/generic_decline: Your card was declined."),
            msg);
    wait_row(o.order, "status = 'payment_failed' AND failure_reason LIKE 'card_declined%'");
    publish("order.paid", json_pack("{ss ss}", "event_id", o.event, "order_id", o.order), msg);
    wait_row(o.order, "status = 'succeeded' AND failure_reason IS NULL");
    publish("order.refund_required",
            json_pack("{ss ss ss sI ss ss}", "event_id", o.event, "order_id", o.order,
                      "payment_intent_id", intent, "amount_minor", (json_int_t)9000, "currency",
                      "EUR", "reason", "seats_gone"),
            msg);
    wait_row(o.order, "status = 'refund_pending' AND refund_id LIKE 're_%'");
    char *refund = row_value(o.order, "refund_id");
    snprintf(cmd_id, sizeof(cmd_id), "payments.refund.%s", o.order);
    json_t *env = tapped(cmd_id, 20000);
    check_command(env, "order.mark_refunded", &o);
    cr_assert_str_eq(tix_json_str(json_object_get(env, "payload"), "refund_id"), refund);
    json_decref(env);
    snprintf(key, sizeof(key), "tixmo-refund-%s", o.order);
    json_t *reqs = tix_stripe_mock_requests("/v1/refunds", key);
    cr_assert_eq(json_array_size(reqs), 1);
    json_decref(reqs);
    publish("order.refunded",
            json_pack("{ss ss ss}", "event_id", o.event, "order_id", o.order, "refund_id", refund),
            msg);
    wait_row(o.order, "status = 'refunded'");
    publish("order.paid", json_pack("{ss ss}", "event_id", o.event, "order_id", o.order), msg);
    usleep(500000);
    wait_row(o.order, "status = 'refunded'"); /* a late order.paid does not undo the refund */
    free(intent);
    free(refund);
}

static bool dead_has(const char *message_id, char *reason, size_t size)
{
    struct tix_bus *peek = NULL;
    struct tix_err err;
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), "payments-dlq-peek", &peek, &err),
                 TIX_OK);
    bool found = false;
    struct tix_bus_delivery d;
    while (!found && tix_bus_get(peek, TIX_BUS_DEAD_QUEUE, &d, NULL) == TIX_OK) {
        found = d.message_id != NULL && strcmp(d.message_id, message_id) == 0;
        if (found) {
            snprintf(reason, size, "%s", d.reason ? d.reason : "");
            tix_bus_ack(peek, d.delivery_tag, false, NULL);
        }
        tix_bus_delivery_deinit(&d);
    }
    tix_bus_close(peek); /* what we did not ack goes back to the queue */
    return found;
}

Test(payment_worker, malformed_event_is_dead_lettered_and_the_worker_goes_on)
{
    struct order_ids bad, good;
    order_for_show(&bad);
    order_for_show(&good);
    char msg[TIX_UUID_LEN + 1], ok_msg[TIX_UUID_LEN + 1], reason[300];
    publish("order.placed",
            json_pack("{ss ss ss}", "event_id", bad.event, "order_id", bad.order, "buyer_id", "b"),
            msg);
    publish("order.placed", placed(&good, "buyer-good", 5000), ok_msg);
    wait_row(good.order, "payment_intent_id IS NOT NULL");
    bool found = false;
    for (int i = 0; i < 50 && !(found = dead_has(msg, reason, sizeof(reason))); i++)
        usleep(100000);
    cr_assert(found, "the malformed order.placed is in tixmo.dead");
    cr_assert(strstr(reason, "total_minor") != NULL, "%s", reason);
    const char *p[] = {bad.order};
    cr_assert_eq(tix_test_scalar(db, "SELECT count(*) FROM payments WHERE order_id = $1", 1, p), 0);
}

/* The Stripe stand-in's journal of intent requests with Idempotency-Key key: how many. */
static size_t intent_calls(const struct order_ids *o)
{
    json_t *reqs = tix_stripe_mock_requests("/v1/payment_intents", o->key);
    size_t n = json_array_size(reqs);
    json_decref(reqs);
    return n;
}

/* The order.cancel the worker sends for o (command id payments.intent_failed.<order_id>): its
 * reason starts with want. */
static void expect_cancel(const struct order_ids *o, const char *want)
{
    char cmd_id[96];
    snprintf(cmd_id, sizeof(cmd_id), "payments.intent_failed.%s", o->order);
    json_t *env = tapped(cmd_id, 20000);
    check_command(env, "order.cancel", o);
    const char *reason = tix_json_str(json_object_get(env, "payload"), "reason");
    cr_assert(reason != NULL && strncmp(reason, want, strlen(want)) == 0, "reason %s", reason);
    json_decref(env);
}

Test(payment_worker, an_intent_stripe_keeps_failing_retries_then_fails_and_cancels_the_order)
{
    struct order_ids o;
    order_for_show(&o);
    char buyer[TIX_UUID_LEN + 1], msg[TIX_UUID_LEN + 1];
    tix_uuid_v7(buyer);
    publish("order.placed", placed(&o, buyer, 2579), msg); /* ..79: Stripe answers 500 */
    wait_row(o.order, "status = 'retrying' AND intent_rounds = 1 AND payment_intent_id IS NULL"
                      " AND failure_reason LIKE 'stripe_unavailable: %'");
    wait_row(o.order, "status = 'failed' AND intent_rounds = 3"
                      " AND failure_reason LIKE 'stripe_unavailable: %server error%'");
    expect_cancel(&o, "stripe_unavailable: ");
    cr_assert_eq(intent_calls(&o), 9, "3 rounds of 3 tries, all with tixmo-order-<order_id>");
    /* a redelivery: the same command (the processor answers it from its first outcome), and
     * Stripe is not asked again */
    publish("order.placed", placed(&o, buyer, 2579), msg);
    expect_cancel(&o, "stripe_unavailable: ");
    cr_assert_eq(intent_calls(&o), 9);
    wait_row(o.order, "status = 'failed' AND intent_rounds = 3");
}

Test(payment_worker, an_intent_stripe_refuses_fails_at_once_and_cancels_the_order)
{
    struct order_ids o;
    order_for_show(&o);
    char msg[TIX_UUID_LEN + 1];
    publish("order.placed", placed(&o, "buyer-refused", 2576), msg); /* ..76: amount_too_large */
    wait_row(o.order, "status = 'failed' AND intent_rounds = 1"
                      " AND failure_reason LIKE 'amount_too_large: %Amount must be no more%'");
    expect_cancel(&o, "amount_too_large: ");
    cr_assert_eq(intent_calls(&o), 1, "a refusal is not retried");
}
