/* event_sale_changes_test.c - the sale of an event that changes under way: one session called
 * off, places added to a sold-out event
 *
 * Real gateway, processor, projector and tixmo-payment against the Stripe stand-in (WireMock,
 * tests/stripe), with the sale fixtures of support/sale.h (the same as sale_aftercare_test). A
 * two-session show sells in both sessions, then its promoter calls the first one off over HTTP:
 * that session's cart is released, its pending order cancelled, its paid and free orders
 * refunded once (Stripe for the paid one, none for the free one), its tickets refused at the
 * door, its availability 0; the other session's order, tickets and stock go on. The route is
 * tried with bad input, a member without the role and another organization. Then a show the
 * stock sold out reopens when its promoter raises the ticket type's quantity.
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
#include "tix/ids.h"
#include "tix/json.h"

static struct tix_test_stack stack;

static void start(void)
{
    cr_assert(sodium_init() >= 0);
    tix_test_stack_start(&stack, NULL);
    stack.worker = tix_test_spawn("tixmo-payment", NULL);
    tix_sale_rig_open("sale-changes");
}

static void stop(void)
{
    tix_test_stack_stop(&stack);
    tix_sale_rig_close();
}

TestSuite(event_sale_changes, .init = start, .fini = stop, .timeout = 240);

/* How many times Stripe was asked for the one refund of order. */
static size_t stripe_refund_calls(const char *order)
{
    json_t *calls = tix_sale_refund_calls(order);
    size_t n = json_array_size(calls);
    json_decref(calls);
    return n;
}

/* The door's answer to ticket as the show's scanner: the status, the body kept in r. */
static void scan(const struct tix_show *s, const char *ticket, long status, const char *needle)
{
    char path[120], body[200];
    snprintf(path, sizeof(path), "/api/v1/events/%s/scan", s->event);
    snprintf(body, sizeof(body), "{\"ticket_id\":\"%s\",\"device_id\":\"gate-1\"}", ticket);
    struct tix_http_resp r;
    tix_sale_post(path, s->shop.scanner, body, status, NULL, &r);
    if (needle != NULL)
        cr_assert(strstr(r.body, needle) != NULL, "%s", r.body);
    tix_http_resp_deinit(&r);
}

/* The route's refusals: bad input naming the field, callers without the right. */
static void refusals(const struct tix_show *s, const char *path)
{
    char other_path[160], unknown[TIX_UUID_LEN + 1];
    tix_sale_post(path, s->shop.promoter, "{}", 422, "reason", NULL);
    tix_sale_post(path, s->shop.promoter, "{\"reason\":\"\"}", 422, "reason", NULL);
    tix_sale_post(path, s->shop.promoter, "{\"reason\":7}", 422, "reason", NULL);
    tix_sale_post(path, s->shop.promoter, "{\"reason\":\"rain\",\"when\":1}", 422, "when", NULL);
    snprintf(other_path, sizeof(other_path), "/api/v1/events/%s/sessions/nope/cancel", s->event);
    tix_sale_post(other_path, s->shop.promoter, "{\"reason\":\"rain\"}", 404, NULL, NULL);
    tix_uuid_v7(unknown);
    snprintf(other_path, sizeof(other_path), "/api/v1/events/%s/sessions/%s/cancel", s->event,
             unknown);
    tix_sale_post(other_path, s->shop.promoter, "{\"reason\":\"rain\"}", 404, NULL, NULL);
    tix_sale_post(path, s->shop.scanner, "{\"reason\":\"rain\"}", 403, NULL, NULL);
    tix_sale_post(path, s->buyer, "{\"reason\":\"rain\"}", 404, NULL, NULL);
    tix_sale_post(path, NULL, "{\"reason\":\"rain\"}", 401, NULL, NULL);
    struct tix_shop other;
    tix_shop_open(&other);
    tix_sale_post(path, other.owner, "{\"reason\":\"rain\"}", 404, NULL, NULL);
    tix_shop_close(&other);
}

/* GET /api/v1/events/{id}: the status of session i and the event's. */
static void expect_statuses(const struct tix_show *s, const char *first, const char *second)
{
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/events/%s", s->event);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert_str_eq(tix_json_str(r.json, "status"), "on_sale");
    const json_t *sessions = json_object_get(r.json, "sessions");
    cr_assert_eq(json_array_size(sessions), 2);
    const json_t *a = json_array_get(sessions, 0), *b = json_array_get(sessions, 1);
    cr_assert_str_eq(tix_json_str(a, "session_id"), s->session[0]);
    cr_assert_str_eq(tix_json_str(a, "status"), first);
    cr_assert_str_eq(tix_json_str(b, "status"), second);
    if (strcmp(first, "cancelled") == 0)
        cr_assert_str_eq(tix_json_str(a, "cancel_reason"), "rain");
    tix_http_resp_deinit(&r);
}

Test(event_sale_changes, calling_off_a_session_refunds_its_buyers_and_the_other_goes_on)
{
    struct tix_show s;
    tix_show_open(&s, 3100, 2);
    char paid1[TIX_UUID_LEN + 1], paid2[TIX_UUID_LEN + 1], pending[TIX_UUID_LEN + 1];
    char free_order[TIX_UUID_LEN + 1];
    char hold[TIX_UUID_LEN + 1], status[32], ids1[2][TIX_UUID_LEN + 1], ids2[1][TIX_UUID_LEN + 1];
    tix_show_paid_order(&s, 0, 2, 6200);
    snprintf(paid1, sizeof(paid1), "%s", s.order);
    cr_assert_eq(tix_show_order_tickets(&s, ids1, 2), 2);
    tix_show_paid_order(&s, 1, 1, 3100);
    snprintf(paid2, sizeof(paid2), "%s", s.order);
    cr_assert_eq(tix_show_order_tickets(&s, ids2, 1), 1);
    tix_show_place_order(&s, 0, 1, status);
    cr_assert_str_eq(status, "pending_payment");
    snprintf(pending, sizeof(pending), "%s", s.order);
    tix_show_free_order(&s, 0, free_order); /* paid at once, nothing to give back */
    tix_show_hold(&s, 0, 2, hold); /* a cart of the first session nobody turned into an order */

    char path[160];
    snprintf(path, sizeof(path), "/api/v1/events/%s/sessions/%s/cancel", s.event, s.session[0]);
    refusals(&s, path);
    expect_statuses(&s, "scheduled", "scheduled");
    tix_sale_post(path, s.shop.promoter, "{\"reason\":\" rain \"}", 200, NULL, NULL);
    tix_sale_post(path, s.shop.promoter, "{\"reason\":\"rain\"}", 409, "session_id", NULL);
    snprintf(path, sizeof(path), "/api/v1/events/%s/sessions/%s/cancel", s.event, s.session[1]);
    tix_sale_post(path, s.shop.owner, "{\"reason\":\"rain\"}", 409, "session_id", NULL);

    /* the first session's buyers: refunded once, cart released, pending order cancelled */
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'refunded'"
                      " AND refunded_minor = 6200",
                      paid1, 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.refunds WHERE order_id = $1 AND status ="
                      " 'succeeded' AND reason = 'session_cancelled'",
                      paid1, 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'refunded'",
                      free_order, 1);
    tix_sale_wait_sql("SELECT count(*) FROM payment_refunds WHERE order_id = $1", free_order, 0);
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'cancelled'",
                      pending, 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.holds WHERE id = $1::uuid AND state = 'released'"
                      " AND end_reason = 'session_cancelled'",
                      hold, 1);
    cr_assert_eq(stripe_refund_calls(paid1), 1);
    /* the other session's order is untouched */
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'paid'"
                      " AND refunded_minor = 0",
                      paid2, 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.tickets WHERE order_id = $1 AND status = 'valid'",
                      paid2, 1);
    expect_statuses(&s, "cancelled", "scheduled");
    tix_sale_wait_sql("SELECT count(*) FROM rm.availability WHERE event_id = $1::uuid"
                      " AND session_id = (SELECT session_id FROM rm.event_sessions"
                      " WHERE event_id = $1::uuid AND status = 'cancelled')"
                      " AND (available <> 0 OR held + sold <> 0)",
                      s.event, 0);
    tix_sale_wait_sql("SELECT count(*) FROM rm.availability WHERE event_id = $1::uuid"
                      " AND available > 0",
                      s.event, 2); /* both types in the second session */
    tix_sale_wait_sql("SELECT count(*) FROM rm.search_events WHERE id = $1::uuid"
                      " AND status = 'on_sale'",
                      s.event, 1);
    /* search dates the show by the session that goes on only */
    tix_sale_wait_sql("SELECT count(*) FROM rm.search_hits WHERE id = $1::uuid"
                      " AND starts_at = '2030-06-06T19:00:00Z'",
                      s.event, 1);
    tix_sale_wait_sql("SELECT count(*) FROM rm.search_sessions WHERE event_id = $1::uuid", s.event,
                      1);

    /* the door: the first session's tickets say why, the second's admit */
    scan(&s, ids1[0], 409, "session-cancelled");
    scan(&s, ids2[0], 200, NULL);
    /* the second session still sells; the first takes no cart */
    tix_show_place_order(&s, 1, 1, status);
    cr_assert_str_eq(status, "pending_payment");
    char cart[300];
    snprintf(cart, sizeof(cart),
             "{\"event_id\":\"%s\",\"session_id\":\"%s\",\"ticket_type_id\":\"%s\","
             "\"quantity\":1}",
             s.event, s.session[0], s.type);
    tix_sale_post("/api/v1/cart/items", s.buyer, cart, 409, "session_id", NULL);

    /* the process manager's commands delivered again decide nothing new */
    char id[200];
    snprintf(id, sizeof(id), "pm.session.cancel.%s.%s", s.event, s.session[0]);
    tix_sale_resend_pm(id, "stock.cancel_session", s.event,
                       json_pack("{ss ss}", "event_id", s.event, "session_id", s.session[0]));
    sleep(1);
    tix_sale_wait_events(paid1, "order.refund_granted", 1);
    tix_sale_wait_events(paid1, "order.refunded", 1);
    cr_assert_eq(stripe_refund_calls(paid1), 1);
    tix_show_close(&s);
}

Test(event_sale_changes, a_sold_out_show_reopens_when_its_promoter_adds_places)
{
    struct tix_show s;
    tix_show_open(&s, 1500, 1);
    tix_sale_send_ok(
        "ticket_type.update", s.event,
        json_pack("{ss ss si}", "event_id", s.event, "ticket_type_id", s.type, "quantity", 2),
        "system:test");
    char status[32];
    tix_show_place_order(&s, 0, 2, status);
    tix_sale_wait_sql("SELECT count(*) FROM rm.events WHERE id = $1::uuid AND status = 'sold_out'",
                      s.event, 1);
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/events/%s/ticket-types/%s", s.event, s.type);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("PATCH", path, s.shop.promoter, "{\"quantity\":3}", tix_shop_wait5, &r),
                 200, "%s", r.body);
    tix_http_resp_deinit(&r);
    tix_sale_wait_sql("SELECT count(*) FROM rm.events WHERE id = $1::uuid AND status = 'on_sale'",
                      s.event, 1);
    tix_sale_wait_sql("SELECT count(*) FROM events WHERE stream_id = 'event-' || $1"
                      " AND type = 'event.sales_reopened' AND data->>'automatic' = 'true'",
                      s.event, 1);
    tix_show_place_order(&s, 0, 1, status); /* the new place sells, and sells the show out */
    tix_sale_wait_sql("SELECT count(*) FROM rm.events WHERE id = $1::uuid AND status = 'sold_out'",
                      s.event, 1);
    tix_show_close(&s);
}
