/* reactor_test.c - the venue-binding process manager (projections/reactor.c) is pure: an
 * event in, commands with derived ids out */
#include <criterion/criterion.h>
#include <string.h>

#include "reactor.h"
#include "tix/json.h"

#define EV    "0190c1e2-7a3b-7c4d-8e5f-00000000e001"
#define VENUE "0190c1e2-7a3b-7c4d-8e5f-00000000a001"

static const struct tix_reactor *binding(void)
{
    for (int i = 0; tix_reactors[i] != NULL; i++)
        if (strcmp(tix_reactors[i]->name, "pm_venue_binding") == 0)
            return tix_reactors[i];
    cr_assert_fail("no pm_venue_binding reactor");
    return NULL;
}

/* The commands for one event of type with data. */
static json_t *react(const char *type, const char *data, enum tix_rc want)
{
    struct tix_event e = {.type = type, .data = data, .stream_id = "event-" EV};
    json_t *out = json_array();
    cr_assert_eq(binding()->react(&e, NULL, out), want, "%s %s", type, data);
    return out;
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
