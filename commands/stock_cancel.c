/* stock_cancel.c - the sale of a cancelled event winds down (stock.cancel_sale)
 *
 * The process manager pm_sale_cancel (projections/reactor.c) sends stock.cancel_sale once
 * event.cancelled is recorded (command id "pm.sale.cancel.<event_id>", actor
 * system:process-manager, the only actor allowed). For a cancelled event one decision releases
 * every active hold (hold.released, reason event_cancelled), cancels every pending order
 * (order.cancelled: its seats come back, a payment arriving later is refunded) and records
 * sale.cancelled {order_ids} listing the orders that still have live tickets (paid or partially
 * refunded), free ones included; pm_sale_cancel then sends each its own order.refund. An event
 * that is not cancelled is refused with not_cancelled. Decided again, it ends only what is
 * left, so a second decision lists no order the first refunded.
 */
#include <string.h>

#include "tix/json.h"

#include "stock_internal.h"

/* Releases the active holds and cancels the pending orders; the order ids still to refund. */
static json_t *wind_down(const struct stock_ctx *c, struct tix_decision *out)
{
    const struct tix_stock_state *s = c->s;
    for (int h = 0; h < s->n_holds; h++)
        if (s->holds[h].status == TIX_HOLD_ACTIVE)
            tix_stock_emit(
                c, out, "hold.released",
                json_pack("{s:s, s:s}", "hold_id", s->holds[h].id, "reason", "event_cancelled"));
    json_t *refund = json_array();
    for (int o = 0; o < s->n_orders; o++) {
        enum tix_order_status st = s->orders[o].status;
        if (st == TIX_ORDER_PENDING_PAYMENT)
            tix_stock_emit(c, out, "order.cancelled",
                           json_pack("{s:s}", "order_id", s->orders[o].id));
        else if (st == TIX_ORDER_PAID || st == TIX_ORDER_PARTIALLY_REFUNDED)
            json_array_append_new(refund, json_string(s->orders[o].id));
    }
    return refund;
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
    json_t *refund = wind_down(&c, out);
    size_t n = json_array_size(refund);
    tix_stock_emit(&c, out, "sale.cancelled", json_pack("{s:o}", "order_ids", refund));
    tix_decision_set_result(out, json_pack("{s:I}", "orders_to_refund", (json_int_t)n));
}
