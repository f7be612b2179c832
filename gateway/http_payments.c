/* http_payments.c - Stripe's webhook and the buyer's view of an order's payment
 *
 * POST /api/v1/payments/webhook is public: Stripe proves itself with Stripe-Signature over the
 * raw body (lib/stripe_sig.c, TIXMO_STRIPE_WEBHOOK_SECRET, TIXMO_STRIPE_WEBHOOK_TOLERANCE). A
 * bad, missing or expired signature is 400 and nothing is sent. payment_intent.succeeded and
 * payment_intent.payment_failed become the command payment.apply (actor system:payments) keyed
 * by the show in the intent's metadata, with a command id derived from Stripe's event id, so a
 * delivery Stripe repeats is the same command and the processor answers it from the first
 * outcome; the answer is 200 once the broker confirmed the command (Stripe retries any non-2xx).
 * Every other event type is answered 200 and ignored. ticket_seed is 32 random bytes chosen
 * here (the sale derives ticket ids from it; only the first delivery's seed is ever used).
 *
 * GET /api/v1/payments/{id} shows the payment worker's row for order id to the order's buyer
 * only (anyone else: 404), with the client secret the buyer's browser confirms the payment with,
 * or, while Stripe could not create the intent, status retrying (the last failure and the rounds
 * so far), then failed (the order is cancelled).
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/stripe_sig.h"

#include "gateway.h"
#include "routes.h"

#define STRIPE_ID_MAX 255

/* What the webhook takes from a payment_intent event. */
struct intent_event {
    const char *stripe_event_id;
    const char *type;
    const char *intent_id;
    const char *currency;
    const char *order_id;
    const char *event_id;
    json_int_t amount;
    char failure_reason[220];
};

static bool is_stripe_id(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0 && strlen(s) > strlen(prefix) &&
           strlen(s) <= STRIPE_ID_MAX;
}

static void failure_reason(const json_t *intent, char *out, size_t size)
{
    const json_t *e = json_object_get(intent, "last_payment_error");
    const char *code = tix_json_str(e, "code"), *decline = tix_json_str(e, "decline_code");
    const char *msg = tix_json_str(e, "message");
    snprintf(out, size, "%s%s%s: %s", code ? code : "payment_failed", decline ? "/" : "",
             decline ? decline : "", msg ? msg : "the payment failed");
}

/* Checks the intent's fields; returns the first offending field's path, or NULL. */
static const char *read_intent(const json_t *root, struct intent_event *ev)
{
    const json_t *obj = json_object_get(json_object_get(root, "data"), "object");
    const json_t *meta = json_object_get(obj, "metadata");
    ev->intent_id = tix_json_str(obj, "id");
    ev->currency = tix_json_str(obj, "currency");
    ev->order_id = tix_json_str(meta, "order_id");
    ev->event_id = tix_json_str(meta, "event_id");
    const json_t *amount = json_object_get(obj, "amount");
    ev->amount = json_integer_value(amount);
    if (!json_is_object(obj))
        return "data.object";
    if (!is_stripe_id(ev->intent_id, "pi_"))
        return "data.object.id";
    if (!json_is_integer(amount) || ev->amount < 0)
        return "data.object.amount";
    if (ev->currency == NULL || strlen(ev->currency) != 3)
        return "data.object.currency";
    if (!tix_uuid_is_valid(ev->order_id))
        return "data.object.metadata.order_id";
    if (!tix_uuid_is_valid(ev->event_id))
        return "data.object.metadata.event_id";
    if (strcmp(ev->type, "payment_intent.payment_failed") == 0)
        failure_reason(obj, ev->failure_reason, sizeof(ev->failure_reason));
    return NULL;
}

static void bad_field(struct tix_req *req, int status, const char *field, const char *msg)
{
    tix_gw_problem_fields(req, status, msg, json_pack("[{ss ss}]", "field", field, "message", msg));
}

static bool is_signed(struct tix_req *req)
{
    const struct tix_config *cfg = req->th->gw->cfg;
    const char *h =
        evhttp_find_header(evhttp_request_get_input_headers(req->ev), TIX_STRIPE_SIG_HEADER);
    struct tix_err err;
    if (tix_stripe_sig_verify(h, req->body.ptr, req->body.len, cfg->stripe_webhook_secret,
                              tix_now_us() / 1000000, cfg->webhook_tolerance_s, &err) == TIX_OK)
        return true;
    tix_gw_problem_ex(req, 400, "invalid-signature", err.msg,
                      json_pack("[{ss ss}]", "field", TIX_STRIPE_SIG_HEADER, "message", err.msg));
    return false;
}

static json_t *apply_payload(const struct intent_event *ev)
{
    unsigned char seed[32];
    char seed_hex[65];
    randombytes_buf(seed, sizeof(seed));
    sodium_bin2hex(seed_hex, sizeof(seed_hex), seed, sizeof(seed));
    bool is_success = strcmp(ev->type, "payment_intent.succeeded") == 0;
    char currency[4]; /* Stripe writes currencies in lower case, TixMo in ISO 4217 upper case */
    for (int i = 0; i < 3; i++)
        currency[i] = (char)toupper((unsigned char)ev->currency[i]);
    currency[3] = '\0';
    json_t *p =
        json_pack("{ss ss ss ss ss sI ss ss}", "event_id", ev->event_id, "order_id", ev->order_id,
                  "stripe_event_id", ev->stripe_event_id, "outcome",
                  is_success ? "succeeded" : "failed", "payment_intent_id", ev->intent_id,
                  "amount_minor", ev->amount, "currency", currency, "ticket_seed", seed_hex);
    if (!is_success)
        json_object_set_new(p, "failure_reason", json_string(ev->failure_reason));
    return p;
}

void tix_http_payments_webhook(struct tix_req *req)
{
    if (!is_signed(req))
        return;
    json_t *root = tix_json_parse(req->body.ptr, req->body.len, NULL);
    struct intent_event ev = {.stripe_event_id = tix_json_str(root, "id"),
                              .type = tix_json_str(root, "type")};
    if (!json_is_object(root) || !is_stripe_id(ev.stripe_event_id, "evt_") || ev.type == NULL) {
        json_decref(root);
        bad_field(req, 400, "body", "not a Stripe event: id evt_... and type are required");
        return;
    }
    if (strcmp(ev.type, "payment_intent.succeeded") != 0 &&
        strcmp(ev.type, "payment_intent.payment_failed") != 0) {
        tix_gw_reply_json(req, 200, json_pack("{ss ss}", "status", "ignored", "type", ev.type));
        json_decref(root);
        return;
    }
    const char *bad = read_intent(root, &ev);
    if (bad != NULL) {
        json_decref(root);
        bad_field(req, 422, bad, "missing or malformed in this payment_intent event");
        return;
    }
    char id[TIX_UUID_LEN + 1];
    tix_gw_derived_id("payment.apply", ev.stripe_event_id, id);
    struct tix_gw_command cmd = {.type = "payment.apply",
                                 .key = ev.event_id,
                                 .payload = apply_payload(&ev),
                                 .success_status = 200,
                                 .command_id = id,
                                 .actor = "system:payments",
                                 .accepted_status = 200};
    tix_gw_submit(req, &cmd); /* copies what it keeps: root may go */
    json_decref(root);
}

void tix_http_payment_get(struct tix_req *req)
{
    const char *id = tix_gw_param(req, "id");
    if (!tix_uuid_is_valid(id) || req->who.kind != TIX_PRINCIPAL_USER) {
        tix_gw_problem(req, 404, "not-found", "no such payment");
        return;
    }
    const char *params[] = {id, req->who.id};
    PGresult *res = NULL;
    if (tix_gw_read(req,
                    "SELECT json_build_object('order_id', order_id, 'event_id', event_id, "
                    "'payment_intent_id', payment_intent_id, 'client_secret', client_secret, "
                    "'status', status, 'amount_minor', amount_minor, 'currency', currency, "
                    "'failure_reason', failure_reason, 'intent_rounds', intent_rounds, "
                    "'refund_id', refund_id, 'updated_at', updated_at) FROM payments WHERE "
                    "order_id = $1 AND buyer_id = $2",
                    2, params, &res))
        tix_gw_reply_row(req, res, "no such payment");
}
