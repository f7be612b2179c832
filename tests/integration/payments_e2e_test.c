/* payments_e2e_test.c - a sale paid end to end: hold, order, intent, webhook, tickets
 *
 * NEEDS THE STOCK AGGREGATE (branch stock): until the processor knows payment.apply, every test
 * here is skipped (reported as skipped, never as passed). Payloads follow docs/sale.md; the
 * ticket type's and order.place's exact shapes are the stock branch's to confirm when merging.
 *
 * Real processor, projector, gateway and tixmo-payment, real Stripe stand-in. A buyer holds two
 * general-admission tickets and places the order; the worker creates the PaymentIntent and
 * attaches it (order.payment_attached in the show's stream); a signed
 * payment_intent.succeeded webhook pays the order (order.paid with two tickets whose ids come
 * from the seed); Stripe delivering the webhook again changes nothing; a declined payment
 * records order.payment_failed and leaves the order pending. An intent Stripe keeps failing
 * (TIXMO_PAYMENT_INTENT_ROUNDS=3) shows the buyer status retrying, then failed, and the worker
 * cancels the order with the reason (GET /orders/{id}): its units sell again at once; so does an
 * intent Stripe refuses; a redelivered order.placed cancels nothing twice. order.cancel stays
 * refused to anyone but the order's buyer and system:payments, and for an unknown order.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "http.h"
#include "stripe_mock.h"
#include "tix/aggregate.h"
#include "tix/bus.h"
#include "tix/ids.h"
#include "tix/json.h"

static struct tix_test_stack stack;
static struct tix_bus *bus;
static struct tix_db *db;

static bool has_stock(void)
{
    return tix_registry_handler("payment.apply") != NULL;
}

static void start(void)
{
    if (!has_stock())
        return;
    cr_assert(sodium_init() >= 0);
    tix_test_stack_start(&stack, NULL);
    /* one HTTP try per round, three rounds (1 s and 2 s apart) before an intent is given up */
    static const char *const env[] = {"TIXMO_STRIPE_ATTEMPTS=1", "TIXMO_PAYMENT_INTENT_ROUNDS=3",
                                      NULL};
    stack.worker = tix_test_spawn("tixmo-payment", env);
    struct tix_err err;
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), "payments-e2e", &bus, &err), TIX_OK);
    cr_assert_eq(tix_bus_enable_replies(bus, &err), TIX_OK);
    /* the worker's queue, as the worker declares it, before the first order: an order placed
     * while the worker is still starting must wait for it in the queue, not be dropped */
    cr_assert_eq(tix_bus_declare_topology(bus, atoi(tix_test_env("TIXMO_PARTITIONS")), 5, &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_declare_queue(bus, "tixmo.payments", TIX_BUS_EVENTS_EXCHANGE,
                                       "order.placed", 5, &err),
                 TIX_OK, "%s", err.msg);
    db = tix_test_db("TIXMO_DB_URL");
}

static void stop(void)
{
    if (!has_stock())
        return;
    tix_test_stack_stop(&stack);
    tix_bus_close(bus);
    tix_db_close(db);
}

TestSuite(payments_e2e, .init = start, .fini = stop, .timeout = 180);

#define SKIP_WITHOUT_STOCK()                                                                       \
    do {                                                                                           \
        if (!has_stock())                                                                          \
            cr_skip_test("needs the stock aggregate (branch stock): payment.apply is unknown");    \
    } while (0)

static void send_ok(const char *type, const char *key, json_t *payload, const char *actor)
{
    tix_test_command_ok(bus, type, key, payload, actor);
}

struct sale {
    char org[TIX_UUID_LEN + 1], show[TIX_UUID_LEN + 1], session[TIX_UUID_LEN + 1];
    char type[TIX_UUID_LEN + 1], buyer[TIX_UUID_LEN + 1], hold[TIX_UUID_LEN + 1];
    char order[TIX_UUID_LEN + 1], actor[48];
};

/* A show with one general-admission type of `stock` units at price, and a buyer's order of
 * quantity of them. */
static void open_sale_of(struct sale *s, long long price, int stock, int quantity)
{
    char *ids[] = {s->org, s->show, s->session, s->type, s->buyer, s->hold, s->order};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        tix_uuid_v7(ids[i]);
    snprintf(s->actor, sizeof(s->actor), "user:%s", s->buyer);
    send_ok("event.create", s->show,
            json_pack("{ss ss ss ss ss ss si ss ss s[{ss ss ss}]}", "event_id", s->show,
                      "organization_id", s->org, "name", "Paid Show", "category", "concert",
                      "timezone", "Europe/Paris", "visibility", "public", "capacity", 100,
                      "sales_start", "2025-06-01T10:00:00Z", "sales_end", "2030-06-01T18:00:00Z",
                      "sessions", "session_id", s->session, "starts_at", "2030-06-05T19:00:00Z",
                      "ends_at", "2030-06-05T22:00:00Z"),
            "system:test");
    send_ok("event.publish", s->show, json_pack("{ss}", "event_id", s->show), "system:test");
    send_ok("event.open_sales", s->show, json_pack("{ss}", "event_id", s->show), "system:test");
    send_ok("stock.configure", s->show, json_pack("{ss}", "event_id", s->show), "system:test");
    send_ok("ticket_type.create", s->show,
            json_pack("{ss ss ss ss sI ss si}", "event_id", s->show, "ticket_type_id", s->type,
                      "name", "Floor", "kind", "general_admission", "price_minor",
                      (json_int_t)price, "currency", "EUR", "quantity", stock),
            "system:test");
    send_ok("hold.place", s->show,
            json_pack("{ss ss ss s[{ss si}]}", "event_id", s->show, "hold_id", s->hold,
                      "session_id", s->session, "lines", "ticket_type_id", s->type, "quantity",
                      quantity),
            s->actor);
    send_ok("order.place", s->show,
            json_pack("{ss ss ss}", "event_id", s->show, "order_id", s->order, "hold_id", s->hold),
            s->actor);
}

static void open_sale(struct sale *s)
{
    open_sale_of(s, 4500, 50, 2);
}

struct seen {
    const struct sale *s;
    const char *type;
    int want;
};

static bool has_events(void *ctx)
{
    struct seen *w = ctx;
    char stream[64];
    snprintf(stream, sizeof(stream), "stock-%s", w->s->show);
    const char *p[] = {stream, w->type, w->s->order};
    return tix_test_scalar(db,
                           "SELECT count(*) FROM events WHERE stream_id = $1 AND type = $2 AND "
                           "data->>'order_id' = $3",
                           3, p) == w->want;
}

static void wait_events(const struct sale *s, const char *type, int want)
{
    struct seen w = {s, type, want};
    cr_assert(tix_test_wait(has_events, &w, 30000), "never %d %s for order %s", want, type,
              s->order);
}

static char *intent_of(const struct sale *s)
{
    const char *p[] = {s->order};
    char v[128];
    tix_test_text(db, "SELECT payment_intent_id FROM payments WHERE order_id = $1", 1, p, v,
                  sizeof(v));
    return strdup(v);
}

static long webhook(const struct sale *s, const char *evt, const char *type, const char *intent)
{
    return tix_http_stripe_intent_event(evt, type, intent, 9000, s->order, s->show);
}

Test(payments_e2e, order_paid_through_stripe_and_the_webhook)
{
    SKIP_WITHOUT_STOCK();
    struct sale s;
    open_sale(&s);
    wait_events(&s, "order.payment_attached", 1);
    char *intent = intent_of(&s);
    cr_assert_eq(webhook(&s, "evt_e2e_paid_1", "payment_intent.succeeded", intent), 200);
    wait_events(&s, "order.paid", 1);
    cr_assert_eq(webhook(&s, "evt_e2e_paid_1", "payment_intent.succeeded", intent), 200,
                 "Stripe delivering again is fine");
    sleep(1);
    wait_events(&s, "order.paid", 1); /* still one: the same command, and the same Stripe event */
    free(intent);
}

Test(payments_e2e, declined_payment_leaves_the_order_pending)
{
    SKIP_WITHOUT_STOCK();
    struct sale s;
    open_sale(&s);
    wait_events(&s, "order.payment_attached", 1);
    char *intent = intent_of(&s);
    cr_assert_eq(webhook(&s, "evt_e2e_declined_1", "payment_intent.payment_failed", intent), 200);
    wait_events(&s, "order.payment_failed", 1);
    wait_events(&s, "order.paid", 0);
    free(intent);
}

/* ---- an intent that cannot be made ------------------------------------------------------- */

/* The outcome of command type (payload stolen) sent as actor (new reference). */
static json_t *outcome_of(const char *type, const char *key, json_t *payload, const char *actor)
{
    json_t *outcome = NULL;
    struct tix_err err;
    cr_assert_eq(tix_client_call(bus, atoi(tix_test_env("TIXMO_PARTITIONS")), NULL, type, key,
                                 payload, actor, 20000, &outcome, &err),
                 TIX_OK, "%s: %s", type, err.msg);
    json_decref(payload);
    return outcome;
}

/* Fails unless outcome (stolen) is a rejection with code. */
static void expect_rejected(json_t *outcome, const char *code, const char *what)
{
    char *doc = tix_json_dump(outcome);
    const char *status = tix_json_str(outcome, "status");
    const char *got = tix_json_str(json_object_get(outcome, "reason"), "code");
    cr_assert(status != NULL && strcmp(status, "rejected") == 0 && got != NULL &&
                  strcmp(got, code) == 0,
              "%s: %s", what, doc);
    free(doc);
    json_decref(outcome);
}

/* Another buyer's hold of quantity units of s's type; returns its outcome (new reference). */
static json_t *other_hold(const struct sale *s, int quantity)
{
    char buyer[TIX_UUID_LEN + 1], hold[TIX_UUID_LEN + 1], actor[48];
    tix_uuid_v7(buyer);
    tix_uuid_v7(hold);
    snprintf(actor, sizeof(actor), "user:%s", buyer);
    return outcome_of("hold.place", s->show,
                      json_pack("{ss ss ss s[{ss si}]}", "event_id", s->show, "hold_id", hold,
                                "session_id", s->session, "lines", "ticket_type_id", s->type,
                                "quantity", quantity),
                      actor);
}

struct payment_wait {
    const struct sale *s;
    const char *token;
    const char *status;
    const char *reason_prefix;
    long long rounds; /* 0: any */
    char last[512];
};

/* Whether GET /payments/{order} shows the buyer the wanted status, reason and rounds. */
static bool payment_shows(void *ctx)
{
    struct payment_wait *w = ctx;
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/payments/%s", w->s->order);
    struct tix_http_resp r;
    long st = tix_http("GET", path, w->token, NULL, NULL, &r);
    snprintf(w->last, sizeof(w->last), "%ld %s", st, r.body ? r.body : "");
    const char *status = tix_http_str(&r, "status"), *why = tix_http_str(&r, "failure_reason");
    bool is_ok = st == 200 && status != NULL && strcmp(status, w->status) == 0 && why != NULL &&
                 strncmp(why, w->reason_prefix, strlen(w->reason_prefix)) == 0 &&
                 (w->rounds == 0 || tix_json_int(r.json, "intent_rounds", -1) == w->rounds) &&
                 json_is_null(json_object_get(r.json, "client_secret"));
    tix_http_resp_deinit(&r);
    return is_ok;
}

static void wait_payment(const struct sale *s, const char *token, const char *status,
                         const char *reason_prefix, long long rounds)
{
    struct payment_wait w = {s, token, status, reason_prefix, rounds, ""};
    cr_assert(tix_test_wait(payment_shows, &w, 30000), "payment never %s (%s...): last %s", status,
              reason_prefix, w.last);
}

/* The order was cancelled once, by the payment worker's command, with a reason starting with
 * prefix; the buyer reads it (GET /orders/{id}) and another buyer can hold its units. */
static void expect_cancelled_by_payments(const struct sale *s, const char *token,
                                         const char *prefix)
{
    wait_events(s, "order.cancelled", 1);
    char like[64], cmd_id[96];
    snprintf(like, sizeof(like), "%s%%", prefix);
    snprintf(cmd_id, sizeof(cmd_id), "payments.intent_failed.%s", s->order);
    const char *p[] = {s->order, like, cmd_id};
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM events WHERE type = 'order.cancelled' AND "
                                 "data->>'order_id' = $1 AND data->>'reason' LIKE $2 AND "
                                 "command_id = $3 AND metadata->>'actor' = 'system:payments'",
                                 3, p),
                 1);
    char sql[200];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM rm.orders WHERE id = $1::uuid AND status = 'cancelled'"
             " AND failure_reason LIKE '%s%%'",
             prefix);
    tix_test_wait_scalar(db, sql, s->order, 1, 20000);
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/orders/%s", s->order);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", path, token, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert_str_eq(tix_http_str(&r, "status"), "cancelled");
    const char *why = tix_http_str(&r, "failure_reason");
    cr_assert(why != NULL && strncmp(why, prefix, strlen(prefix)) == 0, "%s", r.body);
    tix_http_resp_deinit(&r);
    json_t *out = other_hold(s, 1);
    cr_assert_str_eq(tix_json_str(out, "status"), "succeeded", "the unit is free again");
    json_decref(out);
}

/* Publishes the order's order.placed again, as a relay redelivering it would. */
static void republish_placed(const struct sale *s)
{
    const char *p[] = {s->order};
    char body[4096], id[TIX_UUID_LEN + 1];
    tix_test_text(db,
                  "SELECT json_build_object('event_id', event_id, 'type', type, 'stream_id', "
                  "stream_id, 'stream_version', stream_version, 'data', data::json, 'metadata', "
                  "metadata::json)::text FROM events WHERE type = 'order.placed' AND "
                  "data->>'order_id' = $1",
                  1, p, body, sizeof(body));
    tix_test_text(db,
                  "SELECT event_id::text FROM events WHERE type = 'order.placed' AND "
                  "data->>'order_id' = $1",
                  1, p, id, sizeof(id));
    struct tix_bus_props props = {.message_id = id, .type = "order.placed"};
    struct tix_err err;
    cr_assert_eq(tix_bus_publish(bus, TIX_BUS_EVENTS_EXCHANGE, "order.placed", true, &props, body,
                                 strlen(body), &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_wait_confirms(bus, 10000, &err), TIX_OK, "%s", err.msg);
}

static size_t intent_calls(const struct sale *s)
{
    char key[64];
    snprintf(key, sizeof(key), "tixmo-order-%s", s->order);
    json_t *reqs = tix_stripe_mock_requests("/v1/payment_intents", key);
    size_t n = json_array_size(reqs);
    json_decref(reqs);
    return n;
}

Test(payments_e2e, an_intent_stripe_keeps_failing_cancels_the_order_and_frees_its_units)
{
    SKIP_WITHOUT_STOCK();
    struct sale s;
    open_sale_of(&s, 2579, 1, 1); /* ..79: Stripe answers 500 every time */
    char *token = tix_test_token(s.buyer, 600);
    wait_payment(&s, token, "retrying", "stripe_unavailable: ", 0);
    expect_rejected(other_hold(&s, 1), "not_on_sale", "the unit is still the order's: sold out");
    wait_payment(&s, token, "failed", "stripe_unavailable: ", 3);
    expect_cancelled_by_payments(&s, token, "stripe_unavailable: ");
    cr_assert_eq(intent_calls(&s), 3, "three rounds of one try, one key");
    /* a redelivered order.placed sends the same command again: nothing more happens */
    republish_placed(&s);
    sleep(1);
    wait_events(&s, "order.cancelled", 1);
    cr_assert_eq(intent_calls(&s), 3, "Stripe is not asked again");
    const char *p[] = {s.order};
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM processed_commands WHERE command_id = "
                                 "'payments.intent_failed.' || $1",
                                 1, p),
                 1);
    free(token);
}

Test(payments_e2e, an_intent_stripe_refuses_cancels_the_order_at_once)
{
    SKIP_WITHOUT_STOCK();
    struct sale s;
    open_sale_of(&s, 2576, 1, 1); /* ..76: 400 amount_too_large */
    char *token = tix_test_token(s.buyer, 600);
    wait_payment(&s, token, "failed", "amount_too_large: ", 1);
    expect_cancelled_by_payments(&s, token, "amount_too_large: ");
    cr_assert_eq(intent_calls(&s), 1, "a refusal is not retried");
    free(token);
}

Test(payments_e2e, order_cancel_stays_refused_to_strangers_and_for_unknown_orders)
{
    SKIP_WITHOUT_STOCK();
    struct sale s;
    open_sale(&s);
    wait_events(&s, "order.payment_attached", 1);
    char stranger[TIX_UUID_LEN + 1], actor[48], unknown[TIX_UUID_LEN + 1], path[96];
    tix_uuid_v7(stranger);
    tix_uuid_v7(unknown);
    snprintf(actor, sizeof(actor), "user:%s", stranger);
    expect_rejected(outcome_of("order.cancel", s.show,
                               json_pack("{ss ss}", "event_id", s.show, "order_id", s.order),
                               actor),
                    "not_found", "a stranger");
    json_t *out =
        outcome_of("order.cancel", s.show,
                   json_pack("{ss ss ss}", "event_id", s.show, "order_id", unknown, "reason", "x"),
                   "system:payments");
    expect_rejected(out, "not_found", "an unknown order");
    expect_rejected(outcome_of("order.cancel", s.show,
                               json_pack("{ss ss}", "event_id", s.show, "order_id", s.order),
                               "system:clock"),
                    "forbidden", "another system actor");
    char *token = tix_test_token(stranger, 600);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/cancel", s.order);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", path, token, "{}", NULL, &r), 404, "%s", r.body);
    tix_http_resp_deinit(&r);
    free(token);
    wait_events(&s, "order.cancelled", 0);
    /* the buyer's own cancel, as before: no reason */
    send_ok("order.cancel", s.show, json_pack("{ss ss}", "event_id", s.show, "order_id", s.order),
            s.actor);
    wait_events(&s, "order.cancelled", 1);
    const char *p[] = {s.order};
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM events WHERE type = 'order.cancelled' AND "
                                 "data->>'order_id' = $1 AND data->'reason' IS NULL",
                                 1, p),
                 1);
}
