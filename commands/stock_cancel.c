/* stock_cancel.c - the sale of a cancelled event or of a called-off session winds down
 * (stock.cancel_sale, stock.cancel_session)
 *
 * The process manager pm_sale_cancel (projections/reactor.c) sends stock.cancel_sale once
 * event.cancelled is recorded (command id "pm.sale.cancel.<event_id>", actor
 * system:process-manager, the only actor allowed). For a cancelled event one event,
 * stock.sale_cancelled, releases every active hold (hold_ids), cancels every pending order
 * (cancelled_order_ids: their seats come back, a payment arriving later is refunded) and lists
 * the orders that still have live tickets, paid or partially refunded, free ones included
 * (order_ids; each list left out when empty); pm_sale_cancel then sends each its own
 * order.refund. One event whatever the
 * number of holds and orders, so a decision never outgrows TIX_DECISION_MAX_EVENTS. An event
 * that is not cancelled is refused with not_cancelled. Decided again, it ends only what is left;
 * with nothing left (or nothing ever sold) it records nothing.
 *
 * stock.cancel_session {event_id, session_id} is the same for one session the event called off
 * (event.session_cancelled; command id "pm.session.cancel.<event_id>.<session_id>"): its one
 * event, stock.session_cancelled {session_id, ...the same lists}, names the active holds of that
 * session, the pending orders of holds of that session, and the paid or partially refunded
 * orders that have a live ticket of that session. A season pass's tickets belong to no one
 * session: they stay valid for the sessions that go on and are not listed. Refused with
 * session_not_found for a session the event never had, not_cancelled while it is not called off.
 */
#include <string.h>

#include "tix/json.h"

#include "stock_internal.h"

/* Whether order o has a live ticket of session slot. */
static bool has_live_ticket(const struct tix_stock_state *s, int o, int slot)
{
    const struct tix_stock_order *x = &s->orders[o];
    for (int k = x->first_ticket; k < x->first_ticket + x->n_tickets; k++)
        if (!s->tickets[k].is_void && s->tickets[k].session == slot)
            return true;
    return false;
}

/* Ends what is left of the sale of session slot (-1: every session) with one event of type. */
static void wind_down(const struct stock_ctx *c, int slot, const char *type, json_t *data,
                      struct tix_decision *out)
{
    const struct tix_stock_state *s = c->s;
    json_t *holds = json_array(), *cancelled = json_array(), *refund = json_array();
    for (int h = 0; h < s->n_holds; h++)
        if (s->holds[h].status == TIX_HOLD_ACTIVE && (slot < 0 || s->holds[h].session == slot))
            json_array_append_new(holds, json_string(s->holds[h].id));
    for (int o = 0; o < s->n_orders; o++) {
        enum tix_order_status st = s->orders[o].status;
        bool is_its = slot < 0 || s->holds[s->orders[o].hold].session == slot;
        if (st == TIX_ORDER_PENDING_PAYMENT && is_its)
            json_array_append_new(cancelled, json_string(s->orders[o].id));
        else if ((st == TIX_ORDER_PAID || st == TIX_ORDER_PARTIALLY_REFUNDED) &&
                 (slot < 0 || has_live_ticket(s, o, slot)))
            json_array_append_new(refund, json_string(s->orders[o].id));
    }
    tix_decision_set_result(
        out, json_pack("{s:I, s:I, s:I}", "holds_released", (json_int_t)json_array_size(holds),
                       "orders_cancelled", (json_int_t)json_array_size(cancelled),
                       "orders_to_refund", (json_int_t)json_array_size(refund)));
    const char *keys[] = {"hold_ids", "cancelled_order_ids", "order_ids"};
    json_t *lists[] = {holds, cancelled, refund};
    bool is_empty = true;
    for (int i = 0; i < 3; i++) {
        if (json_array_size(lists[i]) > 0) { /* an empty list is left out */
            json_object_set(data, keys[i], lists[i]);
            is_empty = false;
        }
        json_decref(lists[i]);
    }
    if (!is_empty)
        tix_stock_emit(c, out, type, data);
    else
        json_decref(data); /* nothing sold, held or pending: nothing to record */
}

void tix_stock_decide_cancel_sale(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out)
{
    struct stock_ctx c;
    if (!tix_stock_load(cmd, view, &c, out) ||
        !tix_stock_require_system(&c, "process-manager", NULL, out))
        return;
    if (c.ev->status != TIX_EVENT_CANCELLED) {
        tix_decision_reject(out, "not_cancelled", "event_id", "the event is not cancelled");
        return;
    }
    wind_down(&c, -1, "stock.sale_cancelled", json_object(), out);
}

void tix_stock_decide_cancel_session(const struct tix_command *cmd, const struct tix_view *view,
                                     struct tix_decision *out)
{
    struct stock_ctx c;
    if (!tix_stock_load(cmd, view, &c, out) ||
        !tix_stock_require_system(&c, "process-manager", NULL, out))
        return;
    const char *sid = tix_json_str(cmd->payload, "session_id");
    int i = tix_stock_event_session(c.ev, sid);
    if (i < 0) {
        tix_decision_reject(out, "session_not_found", "session_id", "no session %s", sid);
        return;
    }
    if (!c.ev->sessions[i].is_cancelled) {
        tix_decision_reject(out, "not_cancelled", "session_id", "the session is not called off");
        return;
    }
    int slot = tix_stock_find_session(c.s, sid);
    if (slot < 0) { /* nothing was ever held or sold in it */
        tix_decision_set_result(out, json_pack("{s:i, s:i, s:i}", "holds_released", 0,
                                               "orders_cancelled", 0, "orders_to_refund", 0));
        return;
    }
    wind_down(&c, slot, "stock.session_cancelled", json_pack("{s:s}", "session_id", sid), out);
}
