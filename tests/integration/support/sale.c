/* sale.c - sale fixtures for integration tests (see sale.h) */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "harness.h"
#include "sale.h"
#include "stripe_mock.h"
#include "tix/json.h"

static struct tix_bus *bus;
static struct tix_db *db;

void tix_sale_rig_open(const char *name)
{
    struct tix_err err;
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), name, &bus, &err), TIX_OK);
    cr_assert_eq(tix_bus_enable_replies(bus, &err), TIX_OK);
    cr_assert_eq(tix_bus_declare_topology(bus, atoi(tix_test_env("TIXMO_PARTITIONS")), 5, &err),
                 TIX_OK, "%s", err.msg);
    db = tix_test_db("TIXMO_DB_URL");
}

void tix_sale_rig_close(void)
{
    tix_bus_close(bus);
    tix_db_close(db);
    bus = NULL;
    db = NULL;
}

struct tix_bus *tix_sale_rig_bus(void)
{
    return bus;
}

struct tix_db *tix_sale_rig_db(void)
{
    return db;
}

void tix_sale_send_ok(const char *type, const char *key, json_t *payload, const char *actor)
{
    tix_test_command_ok(bus, type, key, payload, actor);
}

void tix_sale_resend_pm(const char *id, const char *type, const char *key, json_t *payload)
{
    json_t *outcome = NULL;
    struct tix_err err;
    cr_assert_eq(tix_client_call(bus, atoi(tix_test_env("TIXMO_PARTITIONS")), id, type, key,
                                 payload, "system:process-manager", 20000, &outcome, &err),
                 TIX_OK, "%s", err.msg);
    json_decref(payload);
    cr_assert_str_eq(tix_json_str(outcome, "status"), "succeeded");
    json_decref(outcome);
}

void tix_sale_wait_sql(const char *sql, const char *param, long long want)
{
    tix_test_wait_scalar(db, sql, param, want, 30000);
}

void tix_sale_wait_events(const char *order, const char *type, long long want)
{
    char sql[200];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM events WHERE type = '%s' AND data->>'order_id' = $1", type);
    tix_sale_wait_sql(sql, order, want);
}

void tix_sale_post(const char *path, const char *token, const char *body, long status,
                   const char *field, struct tix_http_resp *keep)
{
    struct tix_http_resp r;
    tix_http("POST", path, token, body, tix_shop_wait5, &r);
    if (status >= 400)
        tix_shop_expect_problem(&r, status, field);
    else
        cr_assert_eq(r.status, status, "POST %s: %ld %s", path, r.status, r.body);
    if (keep != NULL)
        *keep = r;
    else
        tix_http_resp_deinit(&r);
}

/* ---- the show ------------------------------------------------------------------------------ */

void tix_sale_refund_key(const char *order, char key[80])
{
    const char *p[] = {order};
    PGresult *res = NULL;
    cr_assert_eq(tix_db_exec(db, "SELECT refund_key FROM payment_refunds WHERE order_id = $1", 1, p,
                             &res, NULL),
                 TIX_OK);
    cr_assert_eq(PQntuples(res), 1, "refunds of %s: %d", order, PQntuples(res));
    snprintf(key, 80, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

json_t *tix_sale_refund_calls(const char *order)
{
    char key[80], idem[100];
    tix_sale_refund_key(order, key);
    snprintf(idem, sizeof(idem), "tixmo-refund-%s", key);
    return tix_stripe_mock_requests("/v1/refunds", idem);
}

void tix_show_open(struct tix_show *s, long long price, int n_sessions)
{
    static const char *const starts[] = {"2030-06-05T19:00:00Z", "2030-06-06T19:00:00Z"};
    static const char *const ends[] = {"2030-06-05T22:00:00Z", "2030-06-06T22:00:00Z"};
    cr_assert(n_sessions >= 1 && n_sessions <= TIX_SHOW_SESSIONS_MAX);
    tix_shop_open(&s->shop);
    tix_uuid_v7(s->event);
    tix_uuid_v7(s->type);
    tix_uuid_v7(s->buyer_id);
    s->n_sessions = n_sessions;
    s->buyer = tix_test_token(s->buyer_id, 600);
    snprintf(s->actor, sizeof(s->actor), "user:%s", s->buyer_id);
    json_t *sessions = json_array();
    for (int i = 0; i < n_sessions; i++) {
        tix_uuid_v7(s->session[i]);
        json_array_append_new(sessions, json_pack("{ss ss ss}", "session_id", s->session[i],
                                                  "starts_at", starts[i], "ends_at", ends[i]));
    }
    tix_sale_send_ok("event.create", s->event,
                     json_pack("{ss ss ss ss ss ss si ss ss so}", "event_id", s->event,
                               "organization_id", s->shop.org, "name", "Sale Show", "category",
                               "concert", "timezone", "Europe/Paris", "visibility", "public",
                               "capacity", 100, "sales_start", "2025-06-01T10:00:00Z", "sales_end",
                               "2030-06-01T18:00:00Z", "sessions", sessions),
                     "system:test");
    tix_sale_send_ok("event.publish", s->event, json_pack("{ss}", "event_id", s->event),
                     "system:test");
    tix_sale_send_ok("event.open_sales", s->event, json_pack("{ss}", "event_id", s->event),
                     "system:test");
    tix_sale_send_ok("ticket_type.create", s->event,
                     json_pack("{ss ss ss ss sI ss si}", "event_id", s->event, "ticket_type_id",
                               s->type, "name", "Floor", "kind", "general_admission", "price_minor",
                               (json_int_t)price, "currency", "EUR", "quantity", 50),
                     "system:test");
    cr_assert(tix_test_wait_projected(db, 15000));
}

void tix_show_close(struct tix_show *s)
{
    tix_shop_close(&s->shop);
    free(s->buyer);
}

void tix_show_hold(struct tix_show *s, int i, int quantity, char hold[TIX_UUID_LEN + 1])
{
    tix_uuid_v7(hold);
    tix_sale_send_ok("hold.place", s->event,
                     json_pack("{ss ss ss s[{ss si}]}", "event_id", s->event, "hold_id", hold,
                               "session_id", s->session[i], "lines", "ticket_type_id", s->type,
                               "quantity", quantity),
                     s->actor);
}

void tix_show_place_order(struct tix_show *s, int i, int quantity, char status[32])
{
    char hold[TIX_UUID_LEN + 1], body[160];
    tix_show_hold(s, i, quantity, hold);
    snprintf(body, sizeof(body), "{\"event_id\":\"%s\",\"hold_id\":\"%s\"}", s->event, hold);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("POST", "/api/v1/orders", s->buyer, body, tix_shop_wait5, &r), 201, "%s",
                 r.body);
    snprintf(s->order, sizeof(s->order), "%s", tix_http_str(&r, "id"));
    snprintf(status, 32, "%s", tix_http_str(&r, "status"));
    tix_http_resp_deinit(&r);
}

void tix_show_free_order(struct tix_show *s, int i, char order[TIX_UUID_LEN + 1])
{
    char paid_type[TIX_UUID_LEN + 1], status[32];
    snprintf(paid_type, sizeof(paid_type), "%s", s->type);
    tix_uuid_v7(s->type);
    tix_sale_send_ok("ticket_type.create", s->event,
                     json_pack("{ss ss ss ss si ss si}", "event_id", s->event, "ticket_type_id",
                               s->type, "name", "Guest list", "kind", "general_admission",
                               "price_minor", 0, "currency", "EUR", "quantity", 10),
                     "system:test");
    tix_show_place_order(s, i, 1, status);
    cr_assert_str_eq(status, "paid");
    snprintf(order, TIX_UUID_LEN + 1, "%s", s->order);
    snprintf(s->type, sizeof(s->type), "%s", paid_type);
}

void tix_show_paid_order(struct tix_show *s, int i, int quantity, long long total)
{
    char status[32];
    tix_show_place_order(s, i, quantity, status);
    cr_assert_str_eq(status, "pending_payment");
    tix_sale_wait_events(s->order, "order.payment_attached", 1);
    const char *p[] = {s->order};
    char intent[128], evt[64];
    tix_test_text(db, "SELECT payment_intent_id FROM payments WHERE order_id = $1", 1, p, intent,
                  sizeof(intent));
    snprintf(evt, sizeof(evt), "evt_%.8s%.12s", s->order + 24, s->order);
    cr_assert_eq(tix_http_stripe_intent_event(evt, "payment_intent.succeeded", intent, total,
                                              s->order, s->event),
                 200);
    tix_sale_wait_sql("SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'paid'", s->order,
                      1);
}

int tix_show_order_tickets(const struct tix_show *s, char ids[][TIX_UUID_LEN + 1], int n)
{
    const char *p[] = {s->order};
    PGresult *res = NULL;
    cr_assert_eq(tix_db_exec(db, "SELECT id FROM rm.tickets WHERE order_id = $1 ORDER BY id", 1, p,
                             &res, NULL),
                 TIX_OK);
    int got = PQntuples(res) < n ? PQntuples(res) : n;
    for (int i = 0; i < got; i++)
        snprintf(ids[i], TIX_UUID_LEN + 1, "%s", PQgetvalue(res, i, 0));
    PQclear(res);
    return got;
}
