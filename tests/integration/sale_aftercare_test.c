/* sale_aftercare_test.c - after the purchase: free orders, refunds, ticket transfers
 *
 * Real gateway, processor, projector and tixmo-payment against the Stripe stand-in (WireMock,
 * tests/stripe). An organization (owner, promoter, scanner over HTTP) sells an event set up by
 * commands; buyers place orders over HTTP and pay through the worker's PaymentIntent and a
 * signed webhook. Then: a free order is paid at once with no intent; the owner refunds one ticket
 * then the rest (Stripe refunds with keys derived from each refund, stock back on sale, the void
 * ticket refused at the door); Stripe declining, failing once, never answering or having
 * refunded the charge already, or failing a refund while other orders are paid meanwhile; a
 * cancelled event refunds every buyer once (and its buyer asking too changes nothing); a holder
 * offers a ticket to an email, the same answer whether an account has it or not, and its verified
 * owner (at once, or after registering) accepts it. Every route is tried with bad input, a member
 * without the role and another organization.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "http.h"
#include "sale.h"
#include "shop.h"
#include "stripe_mock.h"
#include "tix/bus.h"
#include "tix/ids.h"
#include "tix/json.h"

static struct tix_test_stack stack;
static struct tix_db *db;

static void start(void)
{
    cr_assert(sodium_init() >= 0);
    tix_test_stack_start(&stack, NULL);
    /* one HTTP try per round, three rounds: the worker's own retries show in the journal */
    static const char *const env[] = {"TIXMO_STRIPE_ATTEMPTS=1", "TIXMO_REFUND_ATTEMPTS=3", NULL};
    stack.worker = tix_test_spawn("tixmo-payment", env);
    tix_sale_rig_open("aftercare");
    db = tix_sale_rig_db();
}

static void stop(void)
{
    tix_test_stack_stop(&stack);
    tix_sale_rig_close();
}

TestSuite(sale_aftercare, .init = start, .fini = stop, .timeout = 240);

/* ---- free orders --------------------------------------------------------------------------- */

Test(sale_aftercare, a_free_order_is_paid_at_placement_without_a_payment)
{
    struct tix_show s;
    tix_show_open(&s, 0, 1);
    char status[32];
    tix_show_place_order(&s, 0, 2, status);
    cr_assert_str_eq(status, "paid");
    tix_sale_wait_sql("SELECT count(*) FROM rm.tickets WHERE order_id = $1 AND status = 'valid'",
                      s.order, 2);
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'paid'"
                      " AND payment_intent_id IS NULL",
                      s.order, 1);
    cr_assert(tix_shop_wait_count(s.buyer, "/api/v1/users/me/tickets", 2, 10000));
    sleep(1); /* the worker saw order.placed by now: it asked Stripe for nothing */
    tix_sale_wait_sql("SELECT count(*) FROM payments WHERE order_id = $1", s.order, 0);
    tix_sale_wait_events(s.order, "order.payment_attached", 0);
    tix_show_close(&s);
}

/* ---- refunds ------------------------------------------------------------------------------- */

/* Stripe was asked exactly once for the refund of order (same key every time). */
static void refunded_once_by_stripe(const char *order)
{
    json_t *calls = tix_sale_refund_calls(order);
    cr_assert_eq(json_array_size(calls), 1, "%s: %zu refund calls", order, json_array_size(calls));
    json_decref(calls);
}

Test(sale_aftercare, the_owner_refunds_a_ticket_then_the_rest_through_stripe)
{
    struct tix_show s;
    tix_show_open(&s, 4500, 1);
    tix_show_paid_order(&s, 0, 2, 9000);
    char ids[2][TIX_UUID_LEN + 1], path[120], body[200];
    cr_assert_eq(tix_show_order_tickets(&s, ids, 2), 2);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/refund", s.order);

    /* bad input, wrong role, another organization, the buyer before any cancel */
    tix_sale_post(path, s.shop.owner, "{\"ticket_ids\":\"all\"}", 422, "ticket_ids", NULL);
    tix_sale_post(path, s.shop.owner, "{\"ticket_ids\":[\"nope\"]}", 422, "ticket_ids[0]", NULL);
    tix_sale_post(path, s.shop.owner, "{\"reason\":\"\"}", 422, "reason", NULL);
    tix_sale_post("/api/v1/orders/not-a-uuid/refund", s.shop.owner, "{}", 404, NULL, NULL);
    tix_sale_post(path, s.shop.promoter, "{}", 403, NULL, NULL);
    tix_sale_post(path, s.shop.scanner, "{}", 404, NULL, NULL);
    struct tix_shop other;
    tix_shop_open(&other);
    tix_sale_post(path, other.owner, "{}", 404, NULL, NULL);
    tix_shop_close(&other);
    tix_sale_post(path, s.buyer, "{}", 403, NULL, NULL);

    /* one ticket */
    snprintf(body, sizeof(body), "{\"ticket_ids\":[\"%s\"],\"reason\":\"can't come\"}", ids[0]);
    struct tix_http_resp r;
    tix_sale_post(path, s.shop.owner, body, 200, NULL, &r);
    json_t *result = json_object_get(r.json, "result");
    cr_assert_eq(tix_json_int(result != NULL ? result : r.json, "amount_minor", 0), 4500, "%s",
                 r.body);
    tix_http_resp_deinit(&r);
    tix_sale_wait_events(s.order, "order.refunded", 1);
    tix_sale_wait_sql(
        "SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'partially_refunded'"
        " AND refunded_minor = 4500",
        s.order, 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.refunds WHERE order_id = $1 AND status = 'succeeded'"
                      " AND refund_id LIKE 're_%' AND reason = 'can''t come'",
                      s.order, 1);
    tix_sale_wait_sql("SELECT sold FROM rm.availability WHERE ticket_type_id = $1", s.type, 1);
    tix_sale_post(path, s.shop.owner, body, 409, "ticket_ids[0]", NULL); /* already refunded */

    /* the void ticket never admits */
    char scan[200], scan_path[120];
    snprintf(scan_path, sizeof(scan_path), "/api/v1/events/%s/scan", s.event);
    snprintf(scan, sizeof(scan), "{\"ticket_id\":\"%s\",\"device_id\":\"gate-1\"}", ids[0]);
    tix_sale_post(scan_path, s.shop.scanner, scan, 409, NULL, &r);
    cr_assert(strstr(r.body, "void") != NULL, "%s", r.body);
    tix_http_resp_deinit(&r);

    /* the rest: the whole order is refunded, one Stripe refund per request */
    tix_sale_post(path, s.shop.owner, "{}", 200, NULL, NULL);
    tix_sale_wait_events(s.order, "order.refunded", 2);
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'refunded'"
                      " AND refunded_minor = 9000",
                      s.order, 1);
    tix_sale_wait_sql("SELECT count(DISTINCT refund_id) FROM payment_refunds WHERE order_id = $1"
                      " AND status = 'succeeded'",
                      s.order, 2);
    tix_sale_wait_sql("SELECT sold FROM rm.availability WHERE ticket_type_id = $1", s.type, 0);
    tix_sale_post(path, s.shop.owner, "{}", 409, "order_id", NULL); /* not refundable any more */
    sleep(1);
    tix_sale_wait_events(s.order, "order.refunded", 2); /* still two */
    tix_show_close(&s);
}

/* A paid order at price refunded whole by the owner. */
static void refund_whole_order(struct tix_show *s, long long price)
{
    tix_show_open(s, price, 1);
    tix_show_paid_order(s, 0, 1, price);
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/orders/%s/refund", s->order);
    tix_sale_post(path, s->shop.owner, "{}", 200, NULL, NULL);
}

Test(sale_aftercare, a_refund_stripe_declines_for_good_is_recorded_at_once)
{
    struct tix_show s;
    refund_whole_order(&s, 1978); /* the stand-in declines refunds of amounts ending in 78 */
    tix_sale_wait_events(s.order, "order.refund_failed", 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.refunds WHERE order_id = $1 AND status = 'failed'"
                      " AND failure_reason = 'charge_disputed'",
                      s.order, 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'refund_pending'",
                      s.order, 1);
    tix_sale_wait_sql(
        "SELECT count(*) FROM payment_refunds WHERE order_id = $1 AND status = 'failed'"
        " AND attempts = 1",
        s.order, 1);
    tix_sale_wait_events(s.order, "order.refunded", 0);
    json_t *calls = tix_sale_refund_calls(s.order);
    cr_assert_eq(json_array_size(calls), 1); /* a decline is not retried */
    json_decref(calls);
    tix_show_close(&s);
}

Test(sale_aftercare, a_charge_already_refunded_counts_as_refunded)
{
    struct tix_show s;
    refund_whole_order(&s, 1977); /* the stand-in answers charge_already_refunded for ..77 */
    tix_sale_wait_events(s.order, "order.refunded", 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'refunded'",
                      s.order, 1);
    tix_sale_wait_sql(
        "SELECT count(*) FROM payment_refunds WHERE order_id = $1 AND status = 'succeeded'"
        " AND refund_id LIKE 'already_refunded_%'",
        s.order, 1);
    tix_sale_wait_events(s.order, "order.refund_failed", 0);
    tix_show_close(&s);
}

Test(sale_aftercare, a_refund_stripe_fails_once_is_retried_with_the_same_key)
{
    tix_stripe_mock_reset_scenarios();
    struct tix_show s;
    refund_whole_order(&s, 2588); /* ..88: a 500 first, then the refund */
    tix_sale_wait_events(s.order, "order.refunded", 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'refunded'",
                      s.order, 1);
    tix_sale_wait_sql(
        "SELECT count(*) FROM payment_refunds WHERE order_id = $1 AND status = 'succeeded'"
        " AND attempts = 2",
        s.order, 1);
    json_t *calls = tix_sale_refund_calls(s.order);
    cr_assert_eq(json_array_size(calls), 2);
    cr_assert_eq(tix_json_int(json_object_get(json_array_get(calls, 0), "response"), "status", 0),
                 500);
    cr_assert_eq(tix_json_int(json_object_get(json_array_get(calls, 1), "response"), "status", 0),
                 200);
    json_decref(calls);
    tix_sale_wait_events(s.order, "order.refund_failed", 0);
    tix_show_close(&s);
}

Test(sale_aftercare, a_refund_stripe_never_answers_is_given_up_after_the_last_attempt)
{
    struct tix_show s;
    refund_whole_order(&s, 2589); /* ..89: Stripe answers 503 every time */
    tix_sale_wait_events(s.order, "order.refund_failed", 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.refunds WHERE order_id = $1 AND status = 'failed'"
                      " AND failure_reason = 'stripe_unavailable'",
                      s.order, 1);
    tix_sale_wait_sql(
        "SELECT count(*) FROM payment_refunds WHERE order_id = $1 AND status = 'failed'"
        " AND attempts = 3",
        s.order, 1);
    json_t *calls = tix_sale_refund_calls(s.order);
    cr_assert_eq(json_array_size(calls), 3); /* TIXMO_REFUND_ATTEMPTS rounds of one try */
    json_decref(calls);
    /* the promoter sees it */
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/orders/%s", s.order);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", path, s.shop.promoter, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert(strstr(r.body, "stripe_unavailable") != NULL, "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_show_close(&s);
}

/* Makes the stand-in answer 503 to every refund of order (its metadata), ahead of the other
 * refund stubs, until stripe_stub_remove(id). */
static void stripe_down_for_refunds_of(const char *order, char id[64])
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"priority\":1,\"request\":{\"method\":\"POST\",\"url\":\"/v1/refunds\","
             "\"formParameters\":{\"metadata[order_id]\":{\"equalTo\":\"%s\"}}},"
             "\"response\":{\"status\":503,\"headers\":{\"Content-Type\":\"application/json\"},"
             "\"jsonBody\":{\"error\":{\"type\":\"api_error\",\"message\":\"down\"}}}}",
             order);
    json_t *stub = NULL;
    cr_assert_eq(tix_stripe_mock_call("POST", "/__admin/mappings", body, &stub), 201);
    snprintf(id, 64, "%s", tix_json_str(stub, "id") ? tix_json_str(stub, "id") : "");
    json_decref(stub);
    cr_assert(id[0] != '\0');
}

static void stripe_stub_remove(const char *id)
{
    char path[120];
    snprintf(path, sizeof(path), "/__admin/mappings/%s", id);
    cr_assert_eq(tix_stripe_mock_call("DELETE", path, NULL, NULL), 200);
}

static long long order_scalar(const char *sql, const char *order)
{
    const char *p[] = {order};
    return tix_test_scalar(db, sql, 1, p);
}

Test(sale_aftercare, a_refund_stripe_fails_waits_aside_while_other_orders_are_paid)
{
    struct tix_show s;
    tix_show_open(&s, 2400, 1);
    tix_show_paid_order(&s, 0, 1, 2400);
    char refunded[TIX_UUID_LEN + 1], stub[64], status[32];
    snprintf(refunded, sizeof(refunded), "%s", s.order);
    stripe_down_for_refunds_of(refunded, stub);
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/orders/%s/refund", refunded);
    tix_sale_post(path, s.shop.owner, "{}", 200, NULL, NULL);
    /* Stripe failed the first round: the refund waits in a delay queue (1 s, then 2 s) */
    tix_sale_wait_sql("SELECT count(*) FROM payment_refunds WHERE order_id = $1 AND attempts >= 1",
                      refunded, 1);
    int64_t t0 = tix_now_us();
    tix_show_place_order(&s, 0, 1,
                         status); /* another order meanwhile gets its PaymentIntent at once */
    cr_assert_str_eq(status, "pending_payment");
    tix_test_wait_scalar(db,
                         "SELECT count(*) FROM payments WHERE order_id = $1 AND "
                         "payment_intent_id IS NOT NULL",
                         s.order, 1, 2000);
    int64_t took_ms = (tix_now_us() - t0) / 1000;
    cr_assert_eq(order_scalar("SELECT count(*) FROM payment_refunds WHERE order_id = $1 AND "
                              "status = 'creating' AND attempts < 3",
                              refunded),
                 1, "the refund ended before the other order was paid (%lld ms)",
                 (long long)took_ms);
    cr_assert_eq(order_scalar("SELECT count(*) FROM events WHERE data->>'order_id' = $1 AND type "
                              "IN ('order.refunded', 'order.refund_failed')",
                              refunded),
                 0);
    /* Stripe recovers: a later round refunds, once, under the same key */
    stripe_stub_remove(stub);
    tix_sale_wait_events(refunded, "order.refunded", 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'refunded'",
                      refunded, 1);
    json_t *calls = tix_sale_refund_calls(refunded);
    size_t i, ok = 0;
    json_t *call;
    json_array_foreach(calls, i, call)
    {
        long st = (long)tix_json_int(json_object_get(call, "response"), "status", 0);
        cr_assert(st == 503 || st == 200, "status %ld", st);
        ok += st == 200;
    }
    cr_assert_geq(json_array_size(calls), 2);
    cr_assert_eq(ok, 1);
    cr_assert_eq((long long)json_array_size(calls),
                 order_scalar("SELECT attempts FROM payment_refunds WHERE order_id = $1", refunded),
                 "one call per round");
    json_decref(calls);
    tix_sale_wait_events(refunded, "order.refund_failed", 0);
    tix_show_close(&s);
}

Test(sale_aftercare, the_buyer_of_a_cancelled_event_refunds_the_order)
{
    struct tix_show s;
    tix_show_open(&s, 2500, 1);
    tix_show_paid_order(&s, 0, 1, 2500);
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/orders/%s/refund", s.order);
    tix_sale_send_ok("event.cancel", s.event,
                     json_pack("{ss ss}", "event_id", s.event, "reason", "storm"), "system:test");
    char body[120];
    snprintf(body, sizeof(body), "{\"ticket_ids\":[\"%s\"]}", s.order);
    tix_sale_post(path, s.buyer, body, 422, "ticket_ids",
                  NULL); /* a buyer refunds the whole order */
    /* the cancellation refunds the order by itself too: whoever comes first, one refund */
    struct tix_http_resp r;
    tix_http("POST", path, s.buyer, "{}", tix_shop_wait5, &r);
    cr_assert(r.status == 200 || (r.status == 409 && strstr(r.body, "not-refundable") != NULL),
              "%ld %s", r.status, r.body);
    tix_http_resp_deinit(&r);
    tix_sale_wait_events(s.order, "order.refunded", 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'refunded'",
                      s.order, 1);
    sleep(1);
    tix_sale_wait_events(s.order, "order.refund_granted", 1);
    tix_sale_wait_sql("SELECT count(*) FROM payment_refunds WHERE order_id = $1", s.order, 1);
    tix_show_close(&s);
}

/* ---- an event cancelled ------------------------------------------------------------------ */

Test(sale_aftercare, cancelling_the_event_refunds_every_buyer_once)
{
    struct tix_show s;
    tix_show_open(&s, 3100, 1);
    char paid1[TIX_UUID_LEN + 1], paid2[TIX_UUID_LEN + 1], pending[TIX_UUID_LEN + 1];
    char free_order[TIX_UUID_LEN + 1];
    char hold[TIX_UUID_LEN + 1], status[32], ids[1][TIX_UUID_LEN + 1];
    tix_show_paid_order(&s, 0, 1, 3100);
    snprintf(paid1, sizeof(paid1), "%s", s.order);
    cr_assert_eq(tix_show_order_tickets(&s, ids, 1), 1);
    tix_show_paid_order(&s, 0, 2, 6200);
    snprintf(paid2, sizeof(paid2), "%s", s.order);
    tix_show_place_order(&s, 0, 1, status);
    cr_assert_str_eq(status, "pending_payment");
    snprintf(pending, sizeof(pending), "%s", s.order);
    tix_show_free_order(&s, 0, free_order); /* paid at once, nothing to give back */
    tix_show_hold(&s, 0, 2, hold);          /* a cart nobody turned into an order */

    tix_sale_send_ok("event.cancel", s.event,
                     json_pack("{ss ss}", "event_id", s.event, "reason", "flood"), "system:test");
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'refunded'"
                      " AND refunded_minor = 3100",
                      paid1, 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'refunded'"
                      " AND refunded_minor = 6200",
                      paid2, 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'refunded'",
                      free_order, 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'cancelled'",
                      pending, 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.holds WHERE id = $1::uuid AND state = 'released'",
                      hold, 1);
    tix_sale_wait_sql(
        "SELECT count(*) FROM rm.tickets WHERE event_id = $1::uuid AND status <> 'void'", s.event,
        0);
    tix_sale_wait_sql(
        "SELECT count(*) FROM rm.tickets WHERE event_id = $1::uuid AND status = 'void'", s.event,
        4);
    tix_sale_wait_sql("SELECT count(*) FROM rm.refunds WHERE order_id = $1 AND status = 'succeeded'"
                      " AND reason = 'event_cancelled'",
                      paid2, 1);
    tix_sale_wait_sql("SELECT sum(sold + held) FROM rm.availability WHERE event_id = $1::uuid",
                      s.event, 0);
    refunded_once_by_stripe(paid1);
    refunded_once_by_stripe(paid2);
    tix_sale_wait_sql("SELECT count(*) FROM payment_refunds WHERE order_id = $1", free_order, 0);

    /* the process manager's commands delivered again decide nothing new */
    char id[160], request[80];
    snprintf(id, sizeof(id), "pm.sale.cancel.%s", s.event);
    tix_sale_resend_pm(id, "stock.cancel_sale", s.event, json_pack("{ss}", "event_id", s.event));
    snprintf(id, sizeof(id), "pm.sale.refund.%s.%s", s.event, paid1);
    tix_sale_refund_key(paid1, request);
    tix_sale_resend_pm(id, "order.refund", s.event,
                       json_pack("{ss ss ss ss ss}", "event_id", s.event, "order_id", paid1,
                                 "request_id", request, "reason", "event_cancelled", "requested_by",
                                 "organizer"));
    sleep(1);
    tix_sale_wait_events(paid1, "order.refund_granted", 1);
    tix_sale_wait_events(paid1, "order.refunded", 1);
    refunded_once_by_stripe(paid1);

    /* the door refuses the void tickets, naming why */
    char scan[200], scan_path[120];
    struct tix_http_resp r;
    snprintf(scan_path, sizeof(scan_path), "/api/v1/events/%s/scan", s.event);
    snprintf(scan, sizeof(scan), "{\"ticket_id\":\"%s\",\"device_id\":\"gate-1\"}", ids[0]);
    tix_sale_post(scan_path, s.shop.scanner, scan, 409, NULL, &r);
    cr_assert(strstr(r.body, "cancelled") != NULL, "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_show_close(&s);
}

/* ---- transfers ----------------------------------------------------------------------------- */

#define PII_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* Registers an account with email and verifies the email; returns its id. */
static void register_user(const char *email, char id[TIX_UUID_LEN + 1])
{
    tix_shop_register(db, email, "a long passphrase", NULL, id);
    char *token = tix_test_user_token(db, PII_KEY, id, "user.email_verification_requested");
    tix_shop_verify(db, token, id);
    free(token);
}

/* The key names of an object, sorted and joined into out. */
static void shape_of(const json_t *o, char *out, size_t size)
{
    const char *keys[32];
    size_t n = 0;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (n < 32)
            keys[n++] = k;
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s,", keys[i]);
}

/* Offers ticket to email: 200, the answer (whose result says pending) kept in r. */
static void offer(const struct tix_show *s, const char *ticket, const char *email,
                  struct tix_http_resp *r)
{
    char path[120], body[160];
    snprintf(path, sizeof(path), "/api/v1/tickets/%s/transfer", ticket);
    snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
    tix_sale_post(path, s->buyer, body, 200, NULL, r);
    json_t *result = json_object_get(r->json, "result");
    cr_assert_str_eq(tix_json_str(result, "status"), "pending", "%s", r->body);
    cr_assert_str_eq(tix_json_str(result, "ticket_id"), ticket);
}

/* The pending offer id of who's list (waits for exactly want offers; the first one's id). */
static void listed_offer(const char *who, int want, char id[TIX_UUID_LEN + 1])
{
    cr_assert(tix_shop_wait_count(who, "/api/v1/users/me/ticket-transfers", want, 10000));
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", "/api/v1/users/me/ticket-transfers", who, NULL, NULL, &r), 200);
    const json_t *first = json_array_get(json_object_get(r.json, "items"), 0);
    snprintf(id, TIX_UUID_LEN + 1, "%s", first ? tix_json_str(first, "id") : "");
    tix_http_resp_deinit(&r);
}

Test(sale_aftercare, a_transfer_answers_alike_for_any_email_and_its_owner_accepts)
{
    struct tix_show s;
    tix_show_open(&s, 0, 1);
    char status[32], ids[2][TIX_UUID_LEN + 1], email[96], later[96];
    char friend_id[TIX_UUID_LEN + 1], later_id[TIX_UUID_LEN + 1];
    tix_show_place_order(&s, 0, 2, status);
    tix_sale_wait_sql("SELECT count(*) FROM rm.tickets WHERE order_id = $1", s.order, 2);
    cr_assert_eq(tix_show_order_tickets(&s, ids, 2), 2);
    snprintf(email, sizeof(email), "friend-%s@example.org", s.shop.tag);
    snprintf(later, sizeof(later), "later-%s@example.org", s.shop.tag);
    register_user(email, friend_id);
    char *friend = tix_test_token(friend_id, 600);

    char path[120], qr_path[120], body[160];
    snprintf(path, sizeof(path), "/api/v1/tickets/%s/transfer", ids[0]);
    snprintf(qr_path, sizeof(qr_path), "/api/v1/tickets/%s/qr-code?format=text", ids[0]);
    struct tix_http_resp r, r2;
    cr_assert_eq(tix_http("GET", qr_path, s.buyer, NULL, NULL, &r), 200, "%s", r.body);
    char qr[1100];
    snprintf(qr, sizeof(qr), "%s", tix_http_str(&r, "payload"));
    tix_http_resp_deinit(&r);

    tix_sale_post(path, s.buyer, "{}", 422, "email", NULL);
    tix_sale_post(path, s.buyer, "{\"email\":\"not an email\"}", 422, "email", NULL);
    snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
    tix_sale_post(path, friend, body, 404, NULL, NULL);       /* not the holder */
    tix_sale_post(path, s.shop.owner, body, 404, NULL, NULL); /* staff are not holders either */

    /* an email with an account and one without: the same answer */
    offer(&s, ids[0], email, &r);
    offer(&s, ids[1], later, &r2);
    cr_assert_eq(r.status, r2.status);
    char a[400], b[400];
    shape_of(r.json, a, sizeof(a));
    shape_of(r2.json, b, sizeof(b));
    cr_assert_str_eq(a, b);
    shape_of(json_object_get(r.json, "result"), a, sizeof(a));
    shape_of(json_object_get(r2.json, "result"), b, sizeof(b));
    cr_assert_str_eq(a, b);
    tix_http_resp_deinit(&r);
    tix_http_resp_deinit(&r2);

    /* the owner of the email sees the offer and accepts it; nobody else can */
    char offer_id[TIX_UUID_LEN + 1], new_id[TIX_UUID_LEN + 1], accept_path[120];
    listed_offer(friend, 1, offer_id);
    snprintf(accept_path, sizeof(accept_path), "/api/v1/ticket-transfers/%s/accept", offer_id);
    tix_sale_post("/api/v1/ticket-transfers/nope/accept", friend, "{}", 404, NULL, NULL);
    tix_sale_post(accept_path, s.buyer, "{}", 404, NULL, NULL); /* offered to another email */
    char stranger_id[TIX_UUID_LEN + 1];
    tix_uuid_v7(stranger_id);
    char *stranger = tix_test_token(stranger_id, 600);
    tix_sale_post(accept_path, stranger, "{}", 404, NULL, NULL); /* no account */
    free(stranger);
    tix_shop_accept(friend, offer_id, new_id);
    cr_assert_str_neq(new_id, ids[0]);
    tix_sale_post(accept_path, friend, "{}", 404, NULL, NULL); /* taken already */
    cr_assert(tix_shop_wait_count(friend, "/api/v1/users/me/tickets", 1, 10000));
    cr_assert(tix_shop_wait_count(friend, "/api/v1/users/me/ticket-transfers", 0, 10000));
    tix_sale_wait_sql(
        "SELECT count(*) FROM rm.tickets WHERE id = $1::uuid AND transferred_from IS NOT NULL"
        " AND transferred_at IS NOT NULL AND status = 'valid'",
        new_id, 1);
    tix_sale_post(path, s.buyer, body, 404, NULL, NULL); /* the old id is gone */

    /* the unknown email registers later, verifies, and takes its ticket */
    register_user(later, later_id);
    char *newcomer = tix_test_token(later_id, 600);
    char later_offer[TIX_UUID_LEN + 1], later_ticket[TIX_UUID_LEN + 1];
    listed_offer(newcomer, 1, later_offer);
    tix_shop_accept(newcomer, later_offer, later_ticket);
    cr_assert(tix_shop_wait_count(newcomer, "/api/v1/users/me/tickets", 1, 10000));
    cr_assert(tix_shop_wait_count(s.buyer, "/api/v1/users/me/tickets", 0, 10000));
    free(newcomer);

    /* the old QR code admits nobody; the new ticket admits once */
    char scan_path[120], scan[1200];
    snprintf(scan_path, sizeof(scan_path), "/api/v1/events/%s/scan", s.event);
    snprintf(scan, sizeof(scan), "{\"qr\":\"%s\",\"device_id\":\"gate-1\"}", qr);
    tix_sale_post(scan_path, s.shop.scanner, scan, 404, NULL, NULL);
    snprintf(scan, sizeof(scan), "{\"ticket_id\":\"%s\",\"device_id\":\"gate-1\"}", new_id);
    tix_sale_post(scan_path, s.shop.scanner, scan, 200, NULL, NULL);
    tix_sale_wait_sql("SELECT count(*) FROM rm.tickets WHERE id = $1::uuid AND is_inside", new_id,
                      1);
    /* a used ticket stays with its holder */
    snprintf(path, sizeof(path), "/api/v1/tickets/%s/transfer", new_id);
    tix_sale_post(path, friend, body, 409, "ticket_id", &r);
    cr_assert(strstr(r.body, "already") != NULL, "%s", r.body);
    tix_http_resp_deinit(&r);
    free(friend);
    tix_show_close(&s);
}

Test(sale_aftercare, an_unverified_email_sees_no_transfers)
{
    char email[96], id[TIX_UUID_LEN + 1], body[200];
    struct tix_shop shop;
    tix_shop_open(&shop);
    snprintf(email, sizeof(email), "unverified-%s@example.org", shop.tag);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"a long passphrase\"}", email);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", "/api/v1/auth/register", NULL, body, tix_shop_wait5, &r), 201,
                 "%s", r.body);
    snprintf(id, sizeof(id), "%s", tix_http_str(&r, "user_id"));
    tix_http_resp_deinit(&r);
    tix_sale_wait_sql("SELECT count(*) FROM rm.users WHERE id = $1::uuid", id, 1);
    char *who = tix_test_token(id, 600);
    cr_assert_eq(tix_http("GET", "/api/v1/users/me/ticket-transfers", who, NULL, NULL, &r), 403);
    tix_http_resp_deinit(&r);
    char path[120], offer_id[TIX_UUID_LEN + 1];
    tix_uuid_v7(offer_id);
    snprintf(path, sizeof(path), "/api/v1/ticket-transfers/%s/accept", offer_id);
    tix_sale_post(path, who, "{}", 403, NULL, NULL);
    free(who);
    tix_shop_close(&shop);
}
