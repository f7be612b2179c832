/* stock_pay.c - payments (system:payments), tickets, and the door
 *
 * payment.apply is idempotent per Stripe event id (an id the order already recorded succeeds
 * with no events). A success pays a pending order (lapsed or not: its stock is still its own
 * until an expiry event ends it) and issues one ticket per seat or unit; on an expired or
 * cancelled order it pays only when every seat and unit can still be had (expiring lapsed holds
 * first), else it asks for a refund (order.refund_required, reason stock_unavailable; reason
 * event_cancelled, whatever the stock, once the event is cancelled; session_cancelled once its
 * session is called off). A
 * success with the wrong amount or currency, a second payment of a paid order through another
 * intent, or a payment of an order being refunded also asks for a refund. A failure on a pending
 * order is recorded (order.payment_failed); the buyer may retry until the hold lapses.
 *
 * ticket.check_in admits a valid ticket once per session: "in" while inside is refused with
 * already_used ("already used at <RFC 3339> by <device>"); "out" needs allows_reentry. A ticket
 * of a called-off session is refused (session_cancelled) before anything else about it, also
 * once void, so the door says why; the same ticket can't be transferred either.
 *
 * order.refund with session_id (the process manager's, after stock.session_cancelled) voids
 * the order's live tickets of that session, whatever else the order holds: the amount is
 * exactly their share, and the whole rest of the total when they are the last live tickets.
 * Tickets of a called-off session are refunded even when scanned (the show stopped).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"
#include "tix/mem.h"

#include "stock_internal.h"

/* The order named by the payload's order_id; -1 after rejecting not_found. */
static int payload_order(const struct stock_ctx *c, struct tix_decision *out)
{
    const char *id = tix_json_str(c->cmd->payload, "order_id");
    int o = tix_stock_find_order(c->s, id);
    if (o < 0)
        tix_decision_reject(out, "not_found", "order_id", "no order %s", id);
    return o;
}

/* The order of a command only system:payments may send; -1 after rejecting. */
static int payments_order(const struct tix_command *cmd, const struct tix_view *view,
                          struct stock_ctx *c, struct tix_decision *out)
{
    if (!tix_stock_load(cmd, view, c, out) || !tix_stock_require_system(c, "payments", NULL, out))
        return -1;
    return payload_order(c, out);
}

static bool has_string(char *const *v, int n, const char *s)
{
    for (int i = 0; s != NULL && i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

void tix_stock_decide_attach_payment(const struct tix_command *cmd, const struct tix_view *view,
                                     struct tix_decision *out)
{
    struct stock_ctx c;
    int o = payments_order(cmd, view, &c, out);
    if (o < 0)
        return;
    const char *intent = tix_json_str(cmd->payload, "payment_intent_id");
    const char *now = c.s->orders[o].payment_intent_id;
    if (now != NULL && strcmp(now, intent) == 0)
        return;
    if (now != NULL) {
        tix_decision_reject(out, "already_attached", "payment_intent_id",
                            "the order has payment intent %s", now);
        return;
    }
    tix_stock_emit(
        &c, out, "order.payment_attached",
        json_pack("{s:s, s:s}", "order_id", c.s->orders[o].id, "payment_intent_id", intent));
}

/* ---- payment.apply -------------------------------------------------------------------------- */

static void refund(const struct stock_ctx *c, int o, const char *reason, struct tix_decision *out)
{
    const json_t *p = c->cmd->payload;
    tix_stock_emit(c, out, "order.refund_required",
                   json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "order_id", c->s->orders[o].id,
                             "payment_intent_id", tix_json_str(p, "payment_intent_id"),
                             "amount_minor", (json_int_t)tix_json_int(p, "amount_minor", 0),
                             "currency", tix_json_str(p, "currency"), "reason", reason,
                             "stripe_event_id", tix_json_str(p, "stripe_event_id")));
    tix_decision_set_result(
        out, json_pack("{s:s, s:s}", "order_id", c->s->orders[o].id, "status", "refund_required"));
}

struct ticket_maker {
    unsigned char seed[32];
    const char *order_id;
    const char *holder;
    uint32_t next;
    json_t *tickets;
};

static void make_ticket(struct ticket_maker *m, const char *type, const char *session,
                        const char *seat)
{
    char id[40];
    tix_stock_ticket_id(m->seed, m->order_id, m->next++, id);
    json_array_append_new(m->tickets, json_pack("{s:s, s:s, s:s?, s:s?, s:s}", "ticket_id", id,
                                                "ticket_type_id", type, "session_id", session,
                                                "seat_id", seat, "holder_id", m->holder));
}

/* One ticket per seat or unit of hold h: a season pass for every session it covers (no
 * session), a bundle as its components' units. */
static json_t *tickets_of(const struct tix_stock_state *s, int h, struct ticket_maker *m)
{
    const struct tix_stock_hold *hd = &s->holds[h];
    const char *sid = s->sessions[hd->session].id;
    for (int i = 0; i < hd->n_lines; i++) {
        const struct tix_stock_line *l = &hd->lines[i];
        const struct tix_stock_type *t = &s->types[l->type];
        for (int k = 0; k < l->n_seats; k++)
            make_ticket(m, t->id, sid, s->seats[hd->seats[l->first_seat + k]].id);
        for (int u = 0; l->n_seats == 0 && u < l->quantity; u++) {
            if (t->kind == TIX_STOCK_SEASON_PASS)
                make_ticket(m, t->id, NULL, NULL);
            for (int k = 0; k < t->n_components; k++)
                for (int q = 0; q < t->components[k].quantity; q++)
                    make_ticket(m, s->types[t->components[k].type].id, sid, NULL);
            if (t->kind != TIX_STOCK_SEASON_PASS && t->kind != TIX_STOCK_BUNDLE)
                make_ticket(m, t->id, sid, NULL);
        }
    }
    return m->tickets;
}

int tix_stock_emit_paid(const struct stock_ctx *c, const char *order_id, int h, const char *buyer,
                        const char *seed_hex, const char *intent, const char *stripe,
                        struct tix_decision *out)
{
    struct ticket_maker m = {.order_id = order_id, .holder = buyer, .tickets = json_array()};
    sodium_hex2bin(m.seed, sizeof(m.seed), seed_hex, 64, NULL, NULL, NULL);
    tix_stock_emit(c, out, "order.paid",
                   json_pack("{s:s, s:s*, s:s*, s:o, s:o}", "order_id", order_id,
                             "payment_intent_id", intent, "stripe_event_id", stripe, "paid_at",
                             tix_stock_instant_json(c->now), "tickets", tickets_of(c->s, h, &m)));
    return (int)m.next;
}

static void pay(const struct stock_ctx *c, int o, struct tix_decision *out)
{
    const json_t *p = c->cmd->payload;
    const struct tix_stock_order *x = &c->s->orders[o];
    int n = tix_stock_emit_paid(
        c, x->id, x->hold, c->s->buyers[x->buyer].id, tix_json_str(p, "ticket_seed"),
        tix_json_str(p, "payment_intent_id"), tix_json_str(p, "stripe_event_id"), out);
    tix_decision_set_result(
        out, json_pack("{s:s, s:s, s:i}", "order_id", x->id, "status", "paid", "tickets", n));
}

/* An expired or cancelled order paid late: pays when its seats and units can still be had. */
static void pay_late(const struct stock_ctx *c, int o, struct tix_decision *out)
{
    const struct tix_stock_order *x = &c->s->orders[o];
    const struct tix_stock_hold *hd = &c->s->holds[x->hold];
    const int32_t *owner = c->s->sessions[hd->session].owner;
    bool is_free = true;
    for (int k = 0; owner != NULL && k < hd->n_seats && is_free; k++)
        is_free = tix_stock_owner_is_free(c->s, owner[hd->seats[k]], c->now);
    struct stock_lapse l;
    tix_stock_lapse_collect(c->s, c->now, &l);
    struct stock_take *takes = NULL;
    int n = 0, cap = 0;
    tix_stock_hold_takes(c->s, x->hold, &takes, &n, &cap);
    struct tix_decision probe;
    tix_decision_init(&probe);
    if (is_free && tix_stock_check_takes(c, &l, takes, n, &probe)) {
        tix_stock_lapse_emit(c, &l, out);
        pay(c, o, out);
    } else {
        refund(c, o, "stock_unavailable", out);
    }
    tix_decision_deinit(&probe);
    free(takes);
    tix_stock_lapse_free(&l);
}

static void apply_success(const struct stock_ctx *c, int o, struct tix_decision *out)
{
    const json_t *p = c->cmd->payload;
    const struct tix_stock_order *x = &c->s->orders[o];
    const char *intent = tix_json_str(p, "payment_intent_id");
    if (tix_json_int(p, "amount_minor", -1) != x->total_minor ||
        strcmp(tix_json_str(p, "currency"), x->currency) != 0) {
        refund(c, o, "amount_mismatch", out);
        return;
    }
    switch (x->status) {
    case TIX_ORDER_PENDING_PAYMENT:
        pay(c, o, out);
        return;
    case TIX_ORDER_EXPIRED:
    case TIX_ORDER_CANCELLED:
        if (c->ev->status == TIX_EVENT_CANCELLED)
            refund(c, o, "event_cancelled", out);
        else if (tix_stock_is_called_off(c->ev, c->s->sessions[c->s->holds[x->hold].session].id))
            refund(c, o, "session_cancelled", out);
        else
            pay_late(c, o, out);
        return;
    case TIX_ORDER_PAID:
        if (x->payment_intent_id == NULL || strcmp(x->payment_intent_id, intent) != 0)
            refund(c, o, "duplicate_payment", out);
        return;
    default:
        refund(c, o, "not_payable", out);
        return;
    }
}

void tix_stock_decide_payment_apply(const struct tix_command *cmd, const struct tix_view *view,
                                    struct tix_decision *out)
{
    struct stock_ctx c;
    int o = payments_order(cmd, view, &c, out);
    if (o < 0)
        return;
    const struct tix_stock_order *x = &c.s->orders[o];
    const char *stripe = tix_json_str(cmd->payload, "stripe_event_id");
    if (has_string(x->stripe_events, x->n_stripe_events, stripe))
        return; /* applied already */
    if (strcmp(tix_json_str(cmd->payload, "outcome"), "succeeded") == 0) {
        apply_success(&c, o, out);
        return;
    }
    if (x->status != TIX_ORDER_PENDING_PAYMENT)
        return;
    const char *why = tix_json_str(cmd->payload, "failure_reason");
    tix_stock_emit(&c, out, "order.payment_failed",
                   json_pack("{s:s, s:s, s:s}", "order_id", x->id, "stripe_event_id", stripe,
                             "reason", why != NULL ? why : "payment failed"));
}

/* True when order x awaits a refund's outcome; rejects no_refund_pending otherwise. */
static bool awaits_refund(const struct tix_stock_order *x, struct tix_decision *out)
{
    if (x->n_refunds + x->n_refund_failures < x->refunds_required)
        return true;
    tix_decision_reject(out, "no_refund_pending", "order_id", "the order awaits no refund");
    return false;
}

void tix_stock_decide_mark_refunded(const struct tix_command *cmd, const struct tix_view *view,
                                    struct tix_decision *out)
{
    struct stock_ctx c;
    int o = payments_order(cmd, view, &c, out);
    if (o < 0)
        return;
    const struct tix_stock_order *x = &c.s->orders[o];
    const char *refund_id = tix_json_str(cmd->payload, "refund_id");
    if (has_string(x->refunds, x->n_refunds, refund_id))
        return;
    if (!awaits_refund(x, out))
        return;
    tix_stock_emit(&c, out, "order.refunded",
                   json_pack("{s:s, s:s, s:s*}", "order_id", x->id, "refund_id", refund_id,
                             "request_id", tix_json_str(cmd->payload, "request_id")));
}

void tix_stock_decide_mark_refund_failed(const struct tix_command *cmd, const struct tix_view *view,
                                         struct tix_decision *out)
{
    struct stock_ctx c;
    int o = payments_order(cmd, view, &c, out);
    if (o < 0)
        return;
    const struct tix_stock_order *x = &c.s->orders[o];
    if (!awaits_refund(x, out))
        return;
    tix_stock_emit(&c, out, "order.refund_failed",
                   json_pack("{s:s, s:s*, s:s}", "order_id", x->id, "request_id",
                             tix_json_str(cmd->payload, "request_id"), "reason",
                             tix_json_str(cmd->payload, "reason")));
}

/* ---- refunds asked for by the organizer (or the buyer of a cancelled event) ----------------- */

/* The share of ticket k in its line's price and fees (the line's first tickets take the
 * remainder), before tax. */
static int64_t ticket_value(const struct tix_stock_state *s, int k)
{
    const struct tix_stock_ticket *t = &s->tickets[k];
    const struct tix_stock_order *x = &s->orders[t->order];
    const struct tix_stock_line *l = &s->holds[x->hold].lines[t->line];
    int64_t value = l->quantity * l->unit_price_minor + l->fees_minor;
    int64_t n = tix_stock_line_ticket_count(s, x->hold, t->line), j = 0;
    for (int i = x->first_ticket; i < k; i++)
        j += s->tickets[i].line == t->line;
    return value / n + (j < value % n ? 1 : 0);
}

/* What voiding tickets ks of order o gives back: their share of price, fees and tax; the rest
 * of the order's total when they are its last live tickets. */
static int64_t refund_amount(const struct tix_stock_state *s, int o, const int *ks, int n)
{
    const struct tix_stock_order *x = &s->orders[o];
    int64_t left = x->total_minor - x->refunded_minor;
    if (x->n_void + n == x->n_tickets)
        return left;
    int64_t base = 0, pre = x->subtotal_minor + x->fees_minor;
    for (int i = 0; i < n; i++)
        base += ticket_value(s, ks[i]);
    __int128 tax = pre > 0 ? ((__int128)base * x->tax_minor + pre / 2) / pre : 0;
    int64_t amount = base + (int64_t)tax;
    return amount < left ? amount : left;
}

/* Rejects field (ticket_ids[i], or order_id when the tickets were implied) with code. */
static bool reject_ticket(const struct stock_ctx *c, int i, const char *code, const char *why,
                          struct tix_decision *out)
{
    char field[TIX_FIELD_PATH_MAX];
    if (json_object_get(c->cmd->payload, "ticket_ids") != NULL)
        snprintf(field, sizeof(field), "ticket_ids[%d]", i);
    else
        snprintf(field, sizeof(field), "order_id");
    tix_decision_reject(out, code, field, "%s", why);
    return false;
}

/* A bundle line's tickets are refunded all together: true when ks holds every live ticket of
 * the line of ks[i] (or that line is no bundle). */
static bool has_whole_bundle(const struct tix_stock_state *s, const int *ks, int n, int i)
{
    const struct tix_stock_ticket *t = &s->tickets[ks[i]];
    const struct tix_stock_order *x = &s->orders[t->order];
    if (s->types[s->holds[x->hold].lines[t->line].type].kind != TIX_STOCK_BUNDLE)
        return true;
    for (int k = x->first_ticket; k < x->first_ticket + x->n_tickets; k++) {
        bool is_in = false;
        for (int j = 0; j < n && !is_in; j++)
            is_in = ks[j] == k;
        if (s->tickets[k].line == t->line && !s->tickets[k].is_void && !is_in)
            return false;
    }
    return true;
}

/* The tickets a refund of order o voids into *ks (n): those named, else every live one. Each
 * belongs to the order, is live and was never scanned; false after rejecting. */
static bool refund_tickets(const struct stock_ctx *c, int o, int **ks, int *n,
                           struct tix_decision *out)
{
    const struct tix_stock_order *x = &c->s->orders[o];
    const json_t *ids = json_object_get(c->cmd->payload, "ticket_ids");
    const char *sid = tix_json_str(c->cmd->payload, "session_id");
    if (ids != NULL && sid != NULL) {
        tix_decision_reject(out, "invalid", "session_id", "give ticket_ids or session_id");
        return false;
    }
    int slot = sid != NULL ? tix_stock_find_session(c->s, sid) : -1;
    *ks = tix_xcalloc((size_t)x->n_tickets + json_array_size(ids) + 1, sizeof(int));
    *n = 0;
    for (int k = x->first_ticket; ids == NULL && k < x->first_ticket + x->n_tickets; k++)
        if (!c->s->tickets[k].is_void &&
            (sid == NULL || (slot >= 0 && c->s->tickets[k].session == slot)))
            (*ks)[(*n)++] = k;
    for (size_t i = 0; i < json_array_size(ids); i++) {
        int k = tix_stock_find_ticket(c->s, json_string_value(json_array_get(ids, i)));
        if (k < 0 || c->s->tickets[k].order != o)
            return reject_ticket(c, (int)i, "not_found", "no such ticket in the order", out);
        (*ks)[(*n)++] = k;
    }
    if (*n == 0) {
        tix_decision_reject(out, "already_refunded", "order_id", "every ticket is refunded");
        return false;
    }
    for (int i = 0; i < *n; i++) {
        const struct tix_stock_ticket *t = &c->s->tickets[(*ks)[i]];
        if (t->is_void)
            return reject_ticket(c, i, "already_refunded", "the ticket is refunded", out);
        bool is_called_off =
            c->ev->status == TIX_EVENT_CANCELLED ||
            (t->session >= 0 && tix_stock_is_called_off(c->ev, c->s->sessions[t->session].id));
        if ((t->last_scan_at != 0 || t->inside >= 0) && !is_called_off)
            return reject_ticket(c, i, "checked_in", "the ticket was used at the door", out);
        if (!has_whole_bundle(c->s, *ks, *n, i))
            return reject_ticket(c, i, "whole_bundle", "a bundle's tickets are refunded together",
                                 out);
    }
    return true;
}

/* A buyer may ask only for the whole order, and only once the event is cancelled. */
static bool buyer_may_refund(const struct stock_ctx *c, int o, struct tix_decision *out)
{
    const struct tix_stock_order *x = &c->s->orders[o];
    if (c->actor.is_system || strcmp(c->s->buyers[x->buyer].id, c->actor.user_id) != 0) {
        tix_decision_reject(out, "not_found", "order_id", "no order %s", x->id);
        return false;
    }
    if (c->ev->status != TIX_EVENT_CANCELLED) {
        tix_decision_reject(out, "forbidden", NULL, "only the organizer refunds before a cancel");
        return false;
    }
    const char *extra = json_object_get(c->cmd->payload, "ticket_ids") != NULL   ? "ticket_ids"
                        : json_object_get(c->cmd->payload, "session_id") != NULL ? "session_id"
                                                                                 : NULL;
    if (extra != NULL) {
        tix_decision_reject(out, "invalid", extra, "a buyer refunds the whole order");
        return false;
    }
    return true;
}

/* The lines ks give back, in the shape of order.placed's lines. */
static json_t *void_lines(const struct tix_stock_state *s, int o, const int *ks, int n)
{
    struct stock_take *takes = NULL;
    int nt = 0, cap = 0;
    tix_stock_void_takes(s, o, ks, n, &takes, &nt, &cap);
    const struct tix_stock_hold *hd = &s->holds[s->orders[o].hold];
    json_t *lines = json_array();
    for (int i = 0; i < nt; i++) {
        const struct tix_stock_line *l = &hd->lines[takes[i].line];
        if (takes[i].type != l->type || (i > 0 && takes[i - 1].line == takes[i].line))
            continue; /* a component's or another session's take of the same line */
        json_t *seats = json_array();
        for (int j = 0; j < n; j++)
            if (s->tickets[ks[j]].line == takes[i].line && s->tickets[ks[j]].seat >= 0)
                json_array_append_new(seats, json_string(s->seats[s->tickets[ks[j]].seat].id));
        json_t *line = json_pack("{s:s, s:I, s:o, s:I}", "ticket_type_id", s->types[l->type].id,
                                 "quantity", (json_int_t)takes[i].units, "seats", seats,
                                 "unit_price_minor", (json_int_t)l->unit_price_minor);
        if (l->n_sessions > 0) {
            json_t *a = json_array();
            for (int k = 0; k < l->n_sessions; k++)
                json_array_append_new(a, json_string(s->sessions[l->sessions[k]].id));
            json_object_set_new(line, "session_ids", a);
        }
        json_array_append_new(lines, line);
    }
    free(takes);
    return lines;
}

/* Emits order.refund_granted for tickets ks of order o, and order.refund_required when money
 * goes back. */
static void grant_refund(const struct stock_ctx *c, int o, const int *ks, int n,
                         struct tix_decision *out)
{
    const json_t *p = c->cmd->payload;
    const struct tix_stock_order *x = &c->s->orders[o];
    int64_t amount = refund_amount(c->s, o, ks, n);
    json_t *ids = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(ids, json_string(c->s->tickets[ks[i]].id));
    const char *request = tix_json_str(p, "request_id");
    tix_stock_emit(c, out, "order.refund_granted",
                   json_pack("{s:s, s:s, s:o, s:o, s:I, s:s, s:s*, s:s}", "order_id", x->id,
                             "request_id", request, "ticket_ids", ids, "lines",
                             void_lines(c->s, o, ks, n), "amount_minor", (json_int_t)amount,
                             "currency", x->currency, "reason", tix_json_str(p, "reason"),
                             "requested_by", tix_json_str(p, "requested_by")));
    if (amount > 0 && x->payment_intent_id != NULL)
        tix_stock_emit(c, out, "order.refund_required",
                       json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "order_id", x->id,
                                 "payment_intent_id", x->payment_intent_id, "amount_minor",
                                 (json_int_t)amount, "currency", x->currency, "reason", "requested",
                                 "request_id", request));
    tix_decision_set_result(out, json_pack("{s:s, s:s, s:I, s:s, s:i, s:s}", "order_id", x->id,
                                           "request_id", request, "amount_minor",
                                           (json_int_t)amount, "currency", x->currency, "tickets",
                                           n, "refund", amount > 0 ? "pending" : "none"));
}

void tix_stock_decide_order_refund(const struct tix_command *cmd, const struct tix_view *view,
                                   struct tix_decision *out)
{
    struct stock_ctx c;
    if (!tix_stock_load(cmd, view, &c, out))
        return;
    int o = payload_order(&c, out);
    if (o < 0)
        return;
    const struct tix_stock_order *x = &c.s->orders[o];
    bool is_buyer = strcmp(tix_json_str(cmd->payload, "requested_by"), "buyer") == 0;
    if (is_buyer && !buyer_may_refund(&c, o, out))
        return;
    if (has_string(x->requests, x->n_requests, tix_json_str(cmd->payload, "request_id")))
        return; /* granted already */
    if (x->status != TIX_ORDER_PAID && x->status != TIX_ORDER_PARTIALLY_REFUNDED) {
        tix_decision_reject(out, "not_refundable", "order_id", "the order is %s",
                            tix_order_status_name(x->status));
        return;
    }
    int *ks = NULL, n = 0;
    if (refund_tickets(&c, o, &ks, &n, out))
        grant_refund(&c, o, ks, n, out);
    free(ks);
}

/* ---- the door ------------------------------------------------------------------------------- */

/* The session a scan is for: the ticket's own, or for a season pass the one the payload names
 * (covered by its type). NULL after rejecting. */
static const char *scan_session(const struct stock_ctx *c, const struct tix_stock_ticket *t,
                                struct tix_decision *out)
{
    const char *given = tix_json_str(c->cmd->payload, "session_id");
    if (t->session >= 0) {
        const char *own = c->s->sessions[t->session].id;
        if (given == NULL || strcmp(given, own) == 0)
            return own;
    } else if (given == NULL) {
        tix_decision_reject(out, "session_required", "session_id",
                            "a season pass is scanned for a session");
        return NULL;
    } else if (tix_stock_event_session(c->ev, given) >= 0 &&
               tix_stock_type_covers(&c->s->types[t->type], given)) {
        return given;
    }
    tix_decision_reject(out, "wrong_session", "session_id", "the ticket is not for this session");
    return NULL;
}

/* Whether ticket t's session is called off: its own, or for a season pass the one given (may
 * be NULL). */
static bool is_called_off(const struct stock_ctx *c, const struct tix_stock_ticket *t,
                          const char *given)
{
    const char *sid = t->session >= 0 ? c->s->sessions[t->session].id : given;
    return sid != NULL && tix_stock_is_called_off(c->ev, sid);
}

/* Rejects a scan that the ticket's state refuses. */
static bool scan_allowed(const struct stock_ctx *c, const struct tix_stock_ticket *t, int slot,
                         bool is_in, struct tix_decision *out)
{
    bool is_inside = slot >= 0 && t->inside == slot;
    if (is_in && is_inside) {
        char at[TIX_EVENT_INSTANT_LEN + 1];
        tix_event_format_instant(t->last_scan_at, at);
        tix_decision_reject(out, "already_used", "ticket_id", "already used at %s by %s", at,
                            t->last_device);
        return false;
    }
    if (!is_in && !c->s->types[t->type].allows_reentry) {
        tix_decision_reject(out, "no_reentry", "direction", "this ticket admits once");
        return false;
    }
    if (!is_in && !is_inside) {
        tix_decision_reject(out, "not_inside", "direction", "the ticket is not inside");
        return false;
    }
    return true;
}

void tix_stock_decide_check_in(const struct tix_command *cmd, const struct tix_view *view,
                               struct tix_decision *out)
{
    struct stock_ctx c;
    if (!tix_stock_load(cmd, view, &c, out))
        return;
    const char *id = tix_json_str(cmd->payload, "ticket_id");
    int k = tix_stock_find_ticket(c.s, id);
    if (k < 0) {
        tix_decision_reject(out, "not_found", "ticket_id", "no ticket %s", id);
        return;
    }
    const struct tix_stock_ticket *t = &c.s->tickets[k];
    if (c.ev->status == TIX_EVENT_CANCELLED) {
        tix_decision_reject(out, "event_cancelled", NULL, "the event was cancelled");
        return;
    }
    if (is_called_off(&c, t, tix_json_str(cmd->payload, "session_id"))) {
        tix_decision_reject(out, "session_cancelled", "ticket_id", "the session was called off");
        return;
    }
    if (t->is_void) {
        tix_decision_reject(out, "ticket_void", "ticket_id", "the ticket is void");
        return;
    }
    const char *sid = scan_session(&c, t, out);
    if (sid == NULL)
        return;
    const char *direction = tix_json_str(cmd->payload, "direction");
    bool is_in = strcmp(direction, "in") == 0;
    if (!scan_allowed(&c, t, tix_stock_find_session(c.s, sid), is_in, out))
        return;
    tix_stock_emit(&c, out, "ticket.checked_in",
                   json_pack("{s:s, s:s, s:s, s:o, s:s}", "ticket_id", t->id, "session_id", sid,
                             "device_id", tix_json_str(cmd->payload, "device_id"), "at",
                             tix_stock_instant_json(c.now), "direction", direction));
}

/* ---- transfers ------------------------------------------------------------------------------ */

/* Whether every session ticket t is good for has ended by now. */
static bool is_over(const struct stock_ctx *c, const struct tix_stock_ticket *t)
{
    const struct tix_stock_type *type = &c->s->types[t->type];
    for (int i = 0; i < c->ev->n_sessions; i++) {
        const struct tix_event_session *x = &c->ev->sessions[i];
        bool is_its = t->session >= 0 ? strcmp(c->s->sessions[t->session].id, x->id) == 0
                                      : tix_stock_type_covers(type, x->id);
        if (is_its && x->ends_at > c->now)
            return false;
    }
    return true;
}

/* Rejects a transfer the ticket's state or the event refuses: to (NULL while only offered) must
 * not hold it already, new_id (NULL likewise) must be free. */
static bool is_transferable(const struct stock_ctx *c, const struct tix_stock_ticket *t,
                            const char *to, const char *new_id, struct tix_decision *out)
{
    if (t->is_void)
        tix_decision_reject(out, "ticket_void", "ticket_id", "the ticket is void");
    else if (t->last_scan_at != 0 || t->inside >= 0)
        tix_decision_reject(out, "already_used", "ticket_id", "the ticket was used at the door");
    else if (c->ev->status == TIX_EVENT_CANCELLED)
        tix_decision_reject(out, "event_cancelled", NULL, "the event was cancelled");
    else if (is_called_off(c, t, NULL))
        tix_decision_reject(out, "session_cancelled", "ticket_id", "the session was called off");
    else if (c->ev->status == TIX_EVENT_COMPLETED || is_over(c, t))
        tix_decision_reject(out, "event_over", "ticket_id", "the event is over");
    else if (to != NULL && strcmp(to, c->s->buyers[t->holder].id) == 0)
        tix_decision_reject(out, "same_holder", "to_user_id", "the ticket is already yours");
    else if (new_id != NULL && tix_stock_find_ticket(c->s, new_id) >= 0)
        tix_decision_reject(out, "already_exists", "new_ticket_id", "the new id is taken");
    else
        return true;
    return false;
}

/* Emits ticket.transferred of ticket t to user `to` under new_id, and the decision's result. */
static void transfer(const struct stock_ctx *c, const struct tix_stock_ticket *t, const char *to,
                     const char *new_id, struct tix_decision *out)
{
    tix_decision_set_result(out, json_pack("{s:s, s:s, s:s}", "ticket_id", new_id,
                                           "transferred_from", t->id, "holder_id", to));
    tix_stock_emit(c, out, "ticket.transferred",
                   json_pack("{s:s, s:s, s:s, s:s, s:o}", "ticket_id", t->id, "new_ticket_id",
                             new_id, "from_user_id", c->s->buyers[t->holder].id, "to_user_id", to,
                             "at", tix_stock_instant_json(c->now)));
}

/* The ticket of the payload's ticket_id held by the actor; -1 after rejecting not_found. */
static int held_ticket(const struct stock_ctx *c, struct tix_decision *out)
{
    const char *id = tix_json_str(c->cmd->payload, "ticket_id");
    int k = tix_stock_find_ticket(c->s, id);
    if (k < 0 || strcmp(c->s->buyers[c->s->tickets[k].holder].id, c->actor.user_id) != 0) {
        tix_decision_reject(out, "not_found", "ticket_id", "no ticket %s", id);
        return -1;
    }
    return k;
}

/* The ticket whose pending offer is transfer_id, or -1. */
static int offered_ticket(const struct tix_stock_state *s, const char *transfer_id)
{
    for (int k = 0; k < s->n_tickets; k++)
        if (strcmp(s->tickets[k].offer_id, transfer_id) == 0)
            return k;
    return -1;
}

void tix_stock_decide_offer_transfer(const struct tix_command *cmd, const struct tix_view *view,
                                     struct tix_decision *out)
{
    struct stock_ctx c;
    if (!tix_stock_load(cmd, view, &c, out) || !tix_stock_require_user(&c, out))
        return;
    int k = held_ticket(&c, out);
    if (k < 0)
        return;
    const struct tix_stock_ticket *t = &c.s->tickets[k];
    const char *offer = tix_json_str(cmd->payload, "transfer_id");
    int other = offered_ticket(c.s, offer);
    if (other >= 0 && other != k) {
        tix_decision_reject(out, "already_exists", "transfer_id", "the transfer id is taken");
        return;
    }
    if (!is_transferable(&c, t, NULL, NULL, out))
        return;
    tix_decision_set_result(out, json_pack("{s:s, s:s, s:s}", "transfer_id", offer, "ticket_id",
                                           t->id, "status", "pending"));
    if (other == k)
        return; /* offered already */
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:o}", "ticket_id", t->id, "transfer_id", offer,
                          "from_user_id", c.actor.user_id, "to_email_index",
                          tix_json_str(cmd->payload, "to_email_index"), "at",
                          tix_stock_instant_json(c.now));
    const json_t *sealed = json_object_get(cmd->payload, "to_email_sealed");
    if (sealed != NULL) /* the address for the email worker, under the sender's key */
        json_object_set(d, "to_email_sealed", (json_t *)sealed);
    tix_stock_emit(&c, out, "ticket.transfer_offered", d);
}

void tix_stock_decide_claim_transfer(const struct tix_command *cmd, const struct tix_view *view,
                                     struct tix_decision *out)
{
    struct stock_ctx c;
    if (!tix_stock_load(cmd, view, &c, out) || !tix_stock_require_user(&c, out))
        return;
    const char *offer = tix_json_str(cmd->payload, "transfer_id");
    int k = offered_ticket(c.s, offer);
    if (k < 0 ||
        strcmp(c.s->tickets[k].offer_to, tix_json_str(cmd->payload, "to_email_index")) != 0) {
        tix_decision_reject(out, "not_found", "transfer_id", "no transfer %s for you", offer);
        return;
    }
    const struct tix_stock_ticket *t = &c.s->tickets[k];
    const char *new_id = tix_json_str(cmd->payload, "new_ticket_id");
    if (is_transferable(&c, t, c.actor.user_id, new_id, out))
        transfer(&c, t, c.actor.user_id, new_id, out);
}
