/* reactor_test.c - the venue-binding and sale-cancel process managers (projections/reactor.c)
 * are pure: an event in, commands with derived ids out */
#include <criterion/criterion.h>
#include <string.h>

#include "reactor.h"
#include "tix/json.h"

#define EV    "0190c1e2-7a3b-7c4d-8e5f-00000000e001"
#define VENUE "0190c1e2-7a3b-7c4d-8e5f-00000000a001"

static const struct tix_reactor *named(const char *name)
{
    for (int i = 0; tix_reactors[i] != NULL; i++)
        if (strcmp(tix_reactors[i]->name, name) == 0)
            return tix_reactors[i];
    cr_assert_fail("no %s reactor", name);
    return NULL;
}

/* The commands of reactor name for one event of type with data. */
static json_t *react_by(const char *name, const char *type, const char *data, enum tix_rc want)
{
    struct tix_event e = {.type = type, .data = data, .stream_id = "event-" EV};
    json_t *out = json_array();
    cr_assert_eq(named(name)->react(&e, NULL, out), want, "%s %s", type, data);
    return out;
}

/* The venue-binding reactor's commands for one event. */
static json_t *react(const char *type, const char *data, enum tix_rc want)
{
    return react_by("pm_venue_binding", type, data, want);
}

Test(reactor, a_created_event_binds_its_venue)
{
    json_t *out =
        react("event.created",
              "{\"event_id\":\"" EV "\",\"venue_id\":\"" VENUE "\",\"chart_version\":2}", TIX_OK);
    cr_assert_eq(json_array_size(out), 1);
    json_t *c = json_array_get(out, 0);
    cr_assert_str_eq(tix_json_str(c, "command_id"), "pm.venue.bind." EV);
    cr_assert_str_eq(tix_json_str(c, "type"), "venue.bind_event");
    cr_assert_str_eq(tix_json_str(c, "key"), VENUE);
    json_t *want = json_pack("{ss ss si}", "venue_id", VENUE, "event_id", EV, "chart_version", 2);
    cr_assert(json_equal(json_object_get(c, "payload"), want));
    json_decref(want);
    json_decref(out);
}

Test(reactor, a_deleted_draft_unbinds_its_venue)
{
    json_t *out =
        react("event.deleted", "{\"event_id\":\"" EV "\",\"venue_id\":\"" VENUE "\"}", TIX_OK);
    cr_assert_eq(json_array_size(out), 1);
    json_t *c = json_array_get(out, 0);
    cr_assert_str_eq(tix_json_str(c, "command_id"), "pm.venue.unbind." EV);
    cr_assert_str_eq(tix_json_str(c, "type"), "venue.unbind_event");
    cr_assert_str_eq(tix_json_str(c, "key"), VENUE);
    json_t *want = json_pack("{ss ss}", "venue_id", VENUE, "event_id", EV);
    cr_assert(json_equal(json_object_get(c, "payload"), want));
    json_decref(want);
    json_decref(out);
}

Test(reactor, events_without_a_venue_or_of_other_types_make_nothing)
{
    json_t *out = react("event.deleted", "{\"event_id\":\"" EV "\"}", TIX_OK); /* old event */
    cr_assert_eq(json_array_size(out), 0);
    json_decref(out);
    out = react("event.created", "{\"event_id\":\"" EV "\"}", TIX_OK); /* online */
    cr_assert_eq(json_array_size(out), 0);
    json_decref(out);
    out = react("event.cancelled", "{\"event_id\":\"" EV "\",\"venue_id\":\"" VENUE "\"}", TIX_OK);
    cr_assert_eq(json_array_size(out), 0);
    json_decref(out);
    out = react("event.deleted", "{\"event_id\":\"nope\"}", TIX_EINVAL);
    json_decref(out);
}

#define ORDER1 "0190c1e2-0000-7000-8000-000000000c01"
#define ORDER2 "0190c1e2-0000-7000-8000-000000000c02"

Test(reactor, a_cancelled_event_asks_its_stock_to_wind_down_then_refunds_each_order)
{
    json_t *out = react_by("pm_sale_cancel", "event.cancelled",
                           "{\"event_id\":\"" EV "\",\"reason\":\"storm\"}", TIX_OK);
    cr_assert_eq(json_array_size(out), 1);
    json_t *c = json_array_get(out, 0);
    cr_assert_str_eq(tix_json_str(c, "command_id"), "pm.sale.cancel." EV);
    cr_assert_str_eq(tix_json_str(c, "type"), "stock.cancel_sale");
    cr_assert_str_eq(tix_json_str(c, "key"), EV);
    json_decref(out);

    const char *listed = "{\"event_id\":\"" EV "\",\"order_ids\":[\"" ORDER1 "\",\"" ORDER2 "\"]}";
    out = react_by("pm_sale_cancel", "stock.sale_cancelled", listed, TIX_OK);
    json_t *again = react_by("pm_sale_cancel", "stock.sale_cancelled", listed, TIX_OK);
    cr_assert(json_equal(out, again), "the same commands every time");
    cr_assert_eq(json_array_size(out), 2);
    c = json_array_get(out, 0);
    cr_assert_str_eq(tix_json_str(c, "command_id"), "pm.sale.refund." EV "." ORDER1);
    cr_assert_str_eq(tix_json_str(c, "type"), "order.refund");
    json_t *p = json_object_get(c, "payload");
    cr_assert_str_eq(tix_json_str(p, "order_id"), ORDER1);
    cr_assert_str_eq(tix_json_str(p, "requested_by"), "organizer");
    cr_assert_str_eq(tix_json_str(p, "reason"), "event_cancelled");
    const char *r1 = tix_json_str(p, "request_id");
    const char *r2 = tix_json_str(json_object_get(json_array_get(out, 1), "payload"), "request_id");
    cr_assert(r1 != NULL && r2 != NULL && strlen(r1) == 36 && strcmp(r1, r2) != 0);
    json_decref(again);
    json_decref(out);

    out = react_by("pm_sale_cancel", "stock.sale_cancelled", "{\"event_id\":\"" EV "\"}", TIX_OK);
    cr_assert_eq(json_array_size(out), 0, "nothing listed, nothing refunded");
    json_decref(out);
    json_decref(react_by("pm_sale_cancel", "event.cancelled", "{}", TIX_EINVAL));
}

#define SES1 "0190c1e2-0000-7000-8000-000000000011"

Test(reactor, a_called_off_session_winds_its_sale_down_then_refunds_its_tickets)
{
    json_t *out = react_by(
        "pm_sale_cancel", "event.session_cancelled",
        "{\"event_id\":\"" EV "\",\"session_id\":\"" SES1 "\",\"reason\":\"rain\"}", TIX_OK);
    cr_assert_eq(json_array_size(out), 1);
    json_t *c = json_array_get(out, 0);
    cr_assert_str_eq(tix_json_str(c, "command_id"), "pm.session.cancel." EV "." SES1);
    cr_assert_str_eq(tix_json_str(c, "type"), "stock.cancel_session");
    json_t *want = json_pack("{ss ss}", "event_id", EV, "session_id", SES1);
    cr_assert(json_equal(json_object_get(c, "payload"), want));
    json_decref(want);
    json_decref(out);

    const char *listed =
        "{\"event_id\":\"" EV "\",\"session_id\":\"" SES1 "\",\"order_ids\":[\"" ORDER1 "\"]}";
    out = react_by("pm_sale_cancel", "stock.session_cancelled", listed, TIX_OK);
    json_t *again = react_by("pm_sale_cancel", "stock.session_cancelled", listed, TIX_OK);
    cr_assert(json_equal(out, again), "the same commands every time");
    cr_assert_eq(json_array_size(out), 1);
    c = json_array_get(out, 0);
    cr_assert_str_eq(tix_json_str(c, "command_id"), "pm.session.refund." EV "." SES1 "." ORDER1);
    json_t *p = json_object_get(c, "payload");
    cr_assert_str_eq(tix_json_str(p, "session_id"), SES1);
    cr_assert_str_eq(tix_json_str(p, "reason"), "session_cancelled");
    cr_assert_str_eq(tix_json_str(p, "requested_by"), "organizer");
    /* not the request id the whole event's cancellation would use for the same order */
    json_t *whole = react_by("pm_sale_cancel", "stock.sale_cancelled",
                             "{\"event_id\":\"" EV "\",\"order_ids\":[\"" ORDER1 "\"]}", TIX_OK);
    const char *r1 = tix_json_str(p, "request_id");
    const char *r2 =
        tix_json_str(json_object_get(json_array_get(whole, 0), "payload"), "request_id");
    cr_assert(r1 != NULL && r2 != NULL && strlen(r1) == 36 && strcmp(r1, r2) != 0);
    json_decref(whole);
    json_decref(again);
    json_decref(out);
    json_decref(react_by("pm_sale_cancel", "event.session_cancelled",
                         "{\"event_id\":\"" EV "\",\"session_id\":\"x\"}", TIX_EINVAL));
}
