/* payments_http_test.c - Stripe's webhook and the buyer's payment over HTTP
 *
 * Real gateway (and processor, projector). The webhook: a correctly signed
 * payment_intent.succeeded/payment_failed is answered 200 once the broker confirmed the command
 * payment.apply, seen on a copy of the show's partition queue with every field the sale needs
 * (a 32-byte hex ticket seed, actor system:payments, a command id derived from the Stripe
 * event); a repeated delivery is the same command; forged, expired, missing or malformed
 * signatures are 400 naming Stripe-Signature, and no command leaves; other event types are 200
 * and ignored; a bad intent names its field (422). The payment read: the buyer sees the worker's
 * row with the client secret; another user, an anonymous caller and a malformed id do not.
 *
 * Until the stock aggregate exists the processor dead-letters payment.apply as an unknown
 * command type: what is checked here is what the gateway controls.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "http.h"
#include "tix/bus.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/stripe_sig.h"

static struct tix_test_stack stack;
static struct tix_bus *tap;
static char tap_queue[64];
static char show[TIX_UUID_LEN + 1];

/* Consumes a copy of every command sent to the show's partition. */
static void start(void)
{
    cr_assert(sodium_init() >= 0);
    tix_test_stack_start(&stack, NULL);
    tix_uuid_v7(show);
    int parts = atoi(tix_test_env("TIXMO_PARTITIONS"));
    char key[8];
    tix_bus_partition_key((int)tix_partition_of(show, strlen(show), (uint32_t)parts), key,
                          sizeof(key));
    snprintf(tap_queue, sizeof(tap_queue), "tixmo.test.webhook.%d", (int)getpid());
    struct tix_err err;
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), "webhook-tap", &tap, &err), TIX_OK);
    cr_assert_eq(tix_bus_declare_queue(tap, tap_queue, TIX_BUS_COMMANDS_EXCHANGE, key, 5, &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_consume(tap, tap_queue, 100, &err), TIX_OK, "%s", err.msg);
}

static void stop(void)
{
    tix_bus_delete_queue(tap, tap_queue, NULL);
    tix_bus_close(tap);
    tix_test_stack_stop(&stack);
}

TestSuite(payments_http, .init = start, .fini = stop, .timeout = 120);

/* Every command on the tap within timeout_ms (new reference: an array of envelopes). */
static json_t *tapped(int timeout_ms)
{
    json_t *all = json_array();
    int64_t deadline = tix_mono_ms() + timeout_ms;
    while (tix_mono_ms() < deadline) {
        struct tix_bus_delivery d;
        if (tix_bus_next(tap, 100, &d, NULL) != TIX_OK)
            continue;
        tix_bus_ack(tap, d.delivery_tag, false, NULL);
        json_t *env = tix_json_parse(d.body, d.body_len, NULL);
        json_object_set_new(env, "message_id", json_string(d.message_id ? d.message_id : ""));
        json_array_append_new(all, env);
        tix_bus_delivery_deinit(&d);
    }
    return all;
}

static char *intent_event(const char *evt, const char *type, const char *order)
{
    json_t *obj = json_pack(
        "{ss ss si ss ss s{ss ss}}", "id", "pi_3Pz0123456789", "object", "payment_intent", "amount",
        12050, "currency", "eur", "status",
        strcmp(type, "payment_intent.succeeded") == 0 ? "succeeded" : "requires_payment_method",
        "metadata", "order_id", order, "event_id", show);
    if (strcmp(type, "payment_intent.payment_failed") == 0)
        json_object_set_new(obj, "last_payment_error",
                            json_pack("{ss ss ss ss}", "type", "card_error", "code",
                                      "card_declined", "decline_code", "generic_decline", "message",
                                      "Your card was declined."));
    json_t *ev = json_pack("{ss ss ss sI s{so}}", "id", evt, "object", "event", "type", type,
                           "created", (json_int_t)(tix_now_us() / 1000000), "data", "object", obj);
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return text;
}

/* Posts body to the webhook with a signature made with secret at time t (secret NULL: no
 * Stripe-Signature header). */
static long post_hook(const char *body, const char *secret, int64_t t, struct tix_http_resp *r)
{
    char sig[TIX_STRIPE_SIG_SIGNED_MAX], header[TIX_STRIPE_SIG_SIGNED_MAX + 32];
    const char *headers[] = {header, NULL};
    if (secret != NULL) {
        tix_stripe_sig_sign(body, strlen(body), secret, t, sig, sizeof(sig));
        snprintf(header, sizeof(header), "Stripe-Signature: %s", sig);
    }
    return tix_http("POST", "/api/v1/payments/webhook", NULL, body, secret ? headers : NULL, r);
}

static const char *whsec(void)
{
    return tix_test_env("TIXMO_STRIPE_WEBHOOK_SECRET");
}

static int64_t now_s(void)
{
    return tix_now_us() / 1000000;
}

static void evt_id(char *out, size_t size)
{
    unsigned char r[10];
    char hex[21];
    randombytes_buf(r, sizeof(r));
    sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
    snprintf(out, size, "evt_%s", hex);
}

static json_t *find_apply(json_t *cmds, const char *stripe_evt)
{
    size_t i;
    json_t *c;
    json_array_foreach(cmds, i, c)
    {
        const json_t *p = json_object_get(c, "payload");
        if (strcmp(tix_json_str(c, "type"), "payment.apply") == 0 &&
            strcmp(tix_json_str(p, "stripe_event_id"), stripe_evt) == 0)
            return c;
    }
    return NULL;
}

Test(payments_http, signed_success_is_sent_once_per_stripe_event)
{
    char evt[40], order[TIX_UUID_LEN + 1];
    evt_id(evt, sizeof(evt));
    tix_uuid_v7(order);
    char *body = intent_event(evt, "payment_intent.succeeded", order);
    struct tix_http_resp r1, r2;
    cr_assert_eq(post_hook(body, whsec(), now_s(), &r1), 200, "%s", r1.body);
    cr_assert_str_eq(tix_http_str(&r1, "status"), "accepted");
    cr_assert_eq(post_hook(body, whsec(), now_s(), &r2), 200, "a repeated delivery: %s", r2.body);
    cr_assert_str_eq(tix_http_str(&r2, "command_id"), tix_http_str(&r1, "command_id"),
                     "the same Stripe event is the same command");
    json_t *cmds = tapped(1500);
    size_t i, seen = 0;
    json_t *c;
    json_array_foreach(cmds, i, c)
    {
        if (strcmp(tix_json_str(c, "message_id"), tix_http_str(&r1, "command_id")) == 0)
            seen++;
    }
    cr_assert_eq(seen, 2, "both deliveries are published under one command id");
    c = find_apply(cmds, evt);
    cr_assert_not_null(c);
    cr_assert_str_eq(tix_json_str(c, "key"), show);
    cr_assert_str_eq(tix_json_str(c, "actor"), "system:payments");
    const json_t *p = json_object_get(c, "payload");
    cr_assert_str_eq(tix_json_str(p, "event_id"), show);
    cr_assert_str_eq(tix_json_str(p, "order_id"), order);
    cr_assert_str_eq(tix_json_str(p, "outcome"), "succeeded");
    cr_assert_str_eq(tix_json_str(p, "payment_intent_id"), "pi_3Pz0123456789");
    cr_assert_eq(tix_json_int(p, "amount_minor", 0), 12050);
    cr_assert_str_eq(tix_json_str(p, "currency"), "EUR"); /* ISO 4217, as the sale expects */
    const char *seed = tix_json_str(p, "ticket_seed");
    cr_assert(seed != NULL && strlen(seed) == 64 && strspn(seed, "0123456789abcdef") == 64);
    cr_assert_null(json_object_get(p, "failure_reason"));
    json_decref(cmds);
    tix_http_resp_deinit(&r1);
    tix_http_resp_deinit(&r2);
    free(body);
}

Test(payments_http, declined_payment_carries_the_reason)
{
    char evt[40], order[TIX_UUID_LEN + 1];
    evt_id(evt, sizeof(evt));
    tix_uuid_v7(order);
    char *body = intent_event(evt, "payment_intent.payment_failed", order);
    struct tix_http_resp r;
    cr_assert_eq(post_hook(body, whsec(), now_s(), &r), 200, "%s", r.body);
    json_t *cmds = tapped(1000);
    json_t *c = find_apply(cmds, evt);
    cr_assert_not_null(c);
    const json_t *p = json_object_get(c, "payload");
    cr_assert_str_eq(tix_json_str(p, "outcome"), "failed");
    cr_assert_str_eq(tix_json_str(p, "failure_reason"),
                     "card_declined/generic_decline: Your card was declined.");
    json_decref(cmds);
    tix_http_resp_deinit(&r);
    free(body);
}

static void expect_refused(long status, const struct tix_http_resp *r, const char *field,
                           const char *reason)
{
    cr_assert_eq(r->status, status, "%s", r->body);
    cr_assert_str_eq(r->content_type, "application/problem+json");
    cr_assert(tix_http_has_error_field(r, field), "%s", r->body);
    if (reason != NULL)
        cr_assert(strstr(r->body, reason) != NULL, "'%s' lacks '%s'", r->body, reason);
}

Test(payments_http, bad_signatures_are_refused_and_send_nothing)
{
    char evt[40], order[TIX_UUID_LEN + 1];
    evt_id(evt, sizeof(evt));
    tix_uuid_v7(order);
    char *body = intent_event(evt, "payment_intent.succeeded", order);
    struct tix_http_resp r;
    post_hook(body, "whsec_forged_by_someone_else", now_s(), &r);
    expect_refused(400, &r, "Stripe-Signature", "no signature matches");
    tix_http_resp_deinit(&r);
    post_hook(body, whsec(), now_s() - 400, &r);
    expect_refused(400, &r, "Stripe-Signature", "tolerance");
    tix_http_resp_deinit(&r);
    post_hook(body, NULL, 0, &r);
    expect_refused(400, &r, "Stripe-Signature", "missing");
    tix_http_resp_deinit(&r);
    const char *junk[] = {"Stripe-Signature: v1=abc", NULL};
    tix_http("POST", "/api/v1/payments/webhook", NULL, body, junk, &r);
    expect_refused(400, &r, "Stripe-Signature", "timestamp");
    tix_http_resp_deinit(&r);
    /* signed for another body: the amount changed in transit */
    char sig[TIX_STRIPE_SIG_SIGNED_MAX], header[TIX_STRIPE_SIG_SIGNED_MAX + 32];
    tix_stripe_sig_sign(body, strlen(body), whsec(), now_s(), sig, sizeof(sig));
    snprintf(header, sizeof(header), "Stripe-Signature: %s", sig);
    char *changed = strdup(body);
    memcpy(strstr(changed, "12050"), "99999", 5);
    const char *h[] = {header, NULL};
    tix_http("POST", "/api/v1/payments/webhook", NULL, changed, h, &r);
    expect_refused(400, &r, "Stripe-Signature", "no signature matches");
    tix_http_resp_deinit(&r);
    json_t *cmds = tapped(1000);
    cr_assert_null(find_apply(cmds, evt), "a refused delivery sends no command");
    json_decref(cmds);
    free(changed);
    free(body);
}

Test(payments_http, other_types_ignored_bad_events_named)
{
    struct tix_http_resp r;
    const char refund[] =
        "{\"id\":\"evt_refund1\",\"object\":\"event\",\"type\":\"charge.refunded\","
        "\"data\":{\"object\":{\"id\":\"ch_1\"}}}";
    cr_assert_eq(post_hook(refund, whsec(), now_s(), &r), 200, "%s", r.body);
    cr_assert_str_eq(tix_http_str(&r, "status"), "ignored");
    tix_http_resp_deinit(&r);
    char evt[40];
    evt_id(evt, sizeof(evt));
    char *body = intent_event(evt, "payment_intent.succeeded", "not-a-uuid");
    post_hook(body, whsec(), now_s(), &r);
    expect_refused(422, &r, "data.object.metadata.order_id", NULL);
    tix_http_resp_deinit(&r);
    free(body);
    const char not_event[] = "[1,2,3]";
    post_hook(not_event, whsec(), now_s(), &r);
    expect_refused(400, &r, "body", NULL);
    tix_http_resp_deinit(&r);
}

Test(payments_http, the_buyer_alone_reads_the_payment)
{
    char order[TIX_UUID_LEN + 1], buyer[TIX_UUID_LEN + 1], other[TIX_UUID_LEN + 1];
    tix_uuid_v7(order);
    tix_uuid_v7(buyer);
    tix_uuid_v7(other);
    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    const char *p[] = {order, show, buyer};
    cr_assert_eq(tix_db_exec(db,
                             "INSERT INTO payments (order_id, event_id, buyer_id, "
                             "payment_intent_id, client_secret, amount_minor, currency, status) "
                             "VALUES ($1, $2, $3, 'pi_buyer1', 'pi_buyer1_secret_xyz', 4500, "
                             "'EUR', 'requires_payment_method')",
                             3, p, NULL, NULL),
                 TIX_OK);
    tix_db_close(db);
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/payments/%s", order);
    char *t_buyer = tix_test_token(buyer, 600), *t_other = tix_test_token(other, 600);
    struct tix_http_resp r;
    cr_assert_eq(tix_http("GET", path, t_buyer, NULL, NULL, &r), 200, "%s", r.body);
    cr_assert_str_eq(tix_http_str(&r, "client_secret"), "pi_buyer1_secret_xyz");
    cr_assert_str_eq(tix_http_str(&r, "payment_intent_id"), "pi_buyer1");
    cr_assert_str_eq(tix_http_str(&r, "status"), "requires_payment_method");
    cr_assert_str_eq(tix_http_str(&r, "order_id"), order);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("GET", path, t_other, NULL, NULL, &r), 404, "another user: %s", r.body);
    cr_assert_null(strstr(r.body, "secret"));
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("GET", path, NULL, NULL, NULL, &r), 401);
    tix_http_resp_deinit(&r);
    cr_assert_eq(tix_http("GET", "/api/v1/payments/not-a-uuid", t_buyer, NULL, NULL, &r), 404);
    tix_http_resp_deinit(&r);
    free(t_buyer);
    free(t_other);
}
