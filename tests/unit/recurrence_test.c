/* recurrence_test.c - gateway/recurrence.c: series across DST changes, counts, exceptions,
 * and every bad member named */
#include <criterion/criterion.h>
#include <string.h>

#include "recurrence.h"
#include "tix/json.h"

static struct tix_tz *zone(const char *name)
{
    struct tix_tz *tz = NULL;
    cr_assert_eq(tix_tz_load(NULL, name, &tz, NULL), TIX_OK, "%s", name);
    return tz;
}

/* Expands rule (JSON text) in zone; returns the sessions (new reference). */
static json_t *expand(const char *zone_name, const char *rule_text)
{
    json_t *rule = tix_json_parse(rule_text, strlen(rule_text), NULL);
    cr_assert_not_null(rule, "%s", rule_text);
    struct tix_tz *tz = zone(zone_name);
    json_t *sessions = NULL;
    struct tix_err err;
    enum tix_rc rc = tix_recurrence_expand(rule, tz, &sessions, &err);
    cr_assert_eq(rc, TIX_OK, "%s: %s %s", rule_text, err.field, err.msg);
    tix_tz_destroy(tz);
    json_decref(rule);
    return sessions;
}

static void expect_starts(const json_t *sessions, const char *const *want, size_t n)
{
    cr_assert_eq(json_array_size(sessions), n, "%zu sessions", json_array_size(sessions));
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(tix_json_str(json_array_get(sessions, i), "starts_at"), want[i], "#%zu",
                         i);
}

Test(recurrence, weekly_in_berlin_across_the_spring_change)
{
    /* 2031: CEST from Sunday 30 March; Saturdays and Sundays at 19:30 from Saturday the 22nd */
    json_t *s =
        expand("Europe/Berlin", "{\"freq\":\"weekly\",\"by_day\":[\"SU\",\"SA\"],\"start_date\":"
                                "\"2031-03-22\",\"start_time\":\"19:30\",\"duration_minutes\":120,"
                                "\"count\":6,\"exceptions\":[\"2031-04-05\"]}");
    static const char *const want[] = {"2031-03-22T18:30:00Z", "2031-03-23T18:30:00Z",
                                       "2031-03-29T18:30:00Z", "2031-03-30T17:30:00Z",
                                       "2031-04-06T17:30:00Z"};
    expect_starts(s, want, 5);
    cr_assert_str_eq(tix_json_str(json_array_get(s, 3), "ends_at"), "2031-03-30T19:30:00Z");
    json_decref(s);
}

Test(recurrence, daily_in_berlin_across_the_autumn_change)
{
    json_t *s =
        expand("Europe/Berlin", "{\"freq\":\"daily\",\"start_date\":\"2031-10-25\",\"start_time\":"
                                "\"19:30\",\"duration_minutes\":60,\"until\":\"2031-10-27\"}");
    static const char *const want[] = {"2031-10-25T17:30:00Z", "2031-10-26T18:30:00Z",
                                       "2031-10-27T18:30:00Z"};
    expect_starts(s, want, 3);
    json_decref(s);
}

Test(recurrence, gaps_move_forward_and_ambiguous_times_take_the_first)
{
    json_t *s = expand("Europe/Berlin",
                       "{\"freq\":\"daily\",\"interval\":210,\"start_date\":\"2031-03-30\","
                       "\"start_time\":\"02:30\",\"duration_minutes\":30,\"count\":2}");
    /* 30 March 02:30 does not exist (03:30 CEST); 26 October 02:30 exists twice (CEST first) */
    static const char *const want[] = {"2031-03-30T01:30:00Z", "2031-10-26T00:30:00Z"};
    expect_starts(s, want, 2);
    json_decref(s);
}

Test(recurrence, new_york_every_other_week_by_default_on_the_start_weekday)
{
    /* Thursday 2031-03-06; every second Thursday; EDT from Sunday 9 March 2031 */
    json_t *s = expand("America/New_York",
                       "{\"freq\":\"weekly\",\"interval\":2,\"start_date\":\"2031-03-06\","
                       "\"start_time\":\"19:30\",\"duration_minutes\":90,\"count\":3}");
    static const char *const want[] = {"2031-03-07T00:30:00Z", "2031-03-20T23:30:00Z",
                                       "2031-04-03T23:30:00Z"};
    expect_starts(s, want, 3);
    json_decref(s);
}

Test(recurrence, weekly_days_before_the_start_date_are_skipped)
{
    /* Wednesday start, Mondays and Fridays: the first is that Friday */
    json_t *s = expand("UTC", "{\"freq\":\"weekly\",\"by_day\":[\"MO\",\"FR\"],\"start_date\":"
                              "\"2031-01-01\",\"start_time\":\"10:00\",\"duration_minutes\":30,"
                              "\"until\":\"2031-01-13\"}");
    static const char *const want[] = {"2031-01-03T10:00:00Z", "2031-01-06T10:00:00Z",
                                       "2031-01-10T10:00:00Z", "2031-01-13T10:00:00Z"};
    expect_starts(s, want, 4);
    json_decref(s);
}

static void expect_bad(const char *rule_text, const char *field)
{
    json_t *rule = tix_json_parse(rule_text, strlen(rule_text), NULL);
    struct tix_tz *tz = zone("Europe/Berlin");
    json_t *sessions = NULL;
    struct tix_err err;
    cr_assert_eq(tix_recurrence_expand(rule, tz, &sessions, &err), TIX_EINVAL, "%s", rule_text);
    cr_assert_str_eq(err.field, field, "%s: %s", rule_text, err.msg);
    cr_assert_null(sessions);
    tix_tz_destroy(tz);
    json_decref(rule);
}

#define BASE "\"start_date\":\"2031-01-01\",\"start_time\":\"19:30\",\"duration_minutes\":60"

Test(recurrence, bad_members_are_named)
{
    expect_bad("{\"freq\":\"monthly\"," BASE ",\"count\":1}", "recurrence.freq");
    expect_bad("{\"freq\":\"daily\",\"interval\":0," BASE ",\"count\":1}", "recurrence.interval");
    expect_bad("{\"freq\":\"weekly\",\"by_day\":[\"MO\",\"XX\"]," BASE ",\"count\":1}",
               "recurrence.by_day[1]");
    expect_bad("{\"freq\":\"weekly\",\"by_day\":[\"MO\",\"MO\"]," BASE ",\"count\":1}",
               "recurrence.by_day[1]");
    expect_bad("{\"freq\":\"daily\",\"by_day\":[\"MO\"]," BASE ",\"count\":1}",
               "recurrence.by_day");
    expect_bad("{\"freq\":\"daily\",\"start_date\":\"2031-02-30\",\"start_time\":\"19:30\","
               "\"duration_minutes\":60,\"count\":1}",
               "recurrence.start_date");
    expect_bad("{\"freq\":\"daily\",\"start_date\":\"2031-01-01\",\"start_time\":\"24:00\","
               "\"duration_minutes\":60,\"count\":1}",
               "recurrence.start_time");
    expect_bad("{\"freq\":\"daily\",\"start_date\":\"2031-01-01\",\"start_time\":\"19:30\","
               "\"duration_minutes\":0,\"count\":1}",
               "recurrence.duration_minutes");
    expect_bad("{\"freq\":\"daily\"," BASE "}", "recurrence.count");
    expect_bad("{\"freq\":\"daily\"," BASE ",\"count\":2,\"until\":\"2031-02-01\"}",
               "recurrence.count");
    expect_bad("{\"freq\":\"daily\"," BASE ",\"count\":501}", "recurrence.count");
    expect_bad("{\"freq\":\"daily\"," BASE ",\"until\":\"2030-12-31\"}", "recurrence.until");
    expect_bad("{\"freq\":\"daily\"," BASE ",\"until\":\"2033-01-01\"}", "recurrence");
    expect_bad("{\"freq\":\"daily\"," BASE ",\"count\":1,\"exceptions\":[\"2031-01-01\"]}",
               "recurrence");
    expect_bad("{\"freq\":\"daily\"," BASE ",\"count\":1,\"exceptions\":[\"soon\"]}",
               "recurrence.exceptions[0]");
    expect_bad("{\"freq\":\"daily\"," BASE ",\"count\":1,\"colour\":\"red\"}", "recurrence.colour");
}
