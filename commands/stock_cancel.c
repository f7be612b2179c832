/* stock_cancel.c - the sale of a cancelled event winds down (stock.cancel_sale)
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
 */
#include <string.h>

#include "tix/json.h"

#include "stock_internal.h"

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
    const struct tix_stock_state *s = c.s;
    json_t *holds = json_array(), *cancelled = json_array(), *refund = json_array();
    for (int h = 0; h < s->n_holds; h++)
        if (s->holds[h].status == TIX_HOLD_ACTIVE)
            json_array_append_new(holds, json_string(s->holds[h].id));
    for (int o = 0; o < s->n_orders; o++) {
        enum tix_order_status st = s->orders[o].status;
        if (st == TIX_ORDER_PENDING_PAYMENT)
            json_array_append_new(cancelled, json_string(s->orders[o].id));
        else if (st == TIX_ORDER_PAID || st == TIX_ORDER_PARTIALLY_REFUNDED)
            json_array_append_new(refund, json_string(s->orders[o].id));
    }
    tix_decision_set_result(
        out, json_pack("{s:I, s:I, s:I}", "holds_released", (json_int_t)json_array_size(holds),
                       "orders_cancelled", (json_int_t)json_array_size(cancelled),
                       "orders_to_refund", (json_int_t)json_array_size(refund)));
    json_t *data = json_object();
    const char *keys[] = {"hold_ids", "cancelled_order_ids", "order_ids"};
    json_t *lists[] = {holds, cancelled, refund};
    for (int i = 0; i < 3; i++)
        if (json_array_size(lists[i]) > 0)
            json_object_set(data, keys[i], lists[i]); /* an empty list is left out */
    for (int i = 0; i < 3; i++)
        json_decref(lists[i]);
    if (json_object_size(data) > 0)
        tix_stock_emit(&c, out, "stock.sale_cancelled", data);
    else
        json_decref(data); /* nothing sold, held or pending: nothing to record */
}
