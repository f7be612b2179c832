/* recurrence.c - expanding a recurrence rule into sessions (see recurrence.h)
 *
 * Two steps, both pure: read_rule() checks every member and turns it into numbers (days since
 * 1970 for dates, seconds for times); expand() walks the calendar from start_date and converts
 * each kept date through the zone. The walk is bounded: it stops at until, at count, or as soon
 * as more sessions than allowed were produced.
 */
#include <stdio.h>
#include <string.h>

#include "tix/json.h"

#include "event.h"
#include "gateway.h"
#include "recurrence.h"

#define MAX_DURATION_MIN (31 * 24 * 60)
#define MAX_INTERVAL     366

struct rule {
    bool is_weekly;
    int interval;
    bool days[7];                 /* weekly: Monday 0 .. Sunday 6 */
    int64_t start_day, until_day; /* days since 1970; until -1: by count */
    int count;
    int32_t start_s;    /* seconds after local midnight */
    int64_t duration_s; /* seconds */
    int64_t exceptions[TIX_RECURRENCE_MAX];
    int n_exceptions;
};

static enum tix_rc bad(struct tix_err *err, const char *member, const char *message)
{
    char field[64];
    snprintf(field, sizeof(field), "recurrence%s%s", member[0] != '\0' ? "." : "", member);
    return tix_err_set(err, TIX_EINVAL, field, "%s", message);
}

/* "YYYY-MM-DD" (years 1970..9998) into days since 1970; false otherwise. */
static bool read_date(const json_t *v, int64_t *day)
{
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) != 10 || !tix_gw_is_date(s) || strncmp(s, "1970", 4) < 0 ||
        strncmp(s, "9999", 4) >= 0)
        return false;
    int y = 0, m = 0, d = 0;
    if (sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return false;
    *day = tix_days_from_civil(y, m, d);
    return true;
}

static bool read_time(const json_t *v, int32_t *seconds)
{
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) != 5 || s[2] != ':' || strspn(s, "0123456789:") != 5)
        return false;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (s[0] == ':' || s[1] == ':' || s[3] == ':' || s[4] == ':' || h > 23 || m > 59)
        return false;
    *seconds = h * 3600 + m * 60;
    return true;
}

static bool read_int(const json_t *v, json_int_t min, json_int_t max, json_int_t def, int64_t *out)
{
    if (v == NULL) {
        *out = def;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return false;
    *out = json_integer_value(v);
    return true;
}

static enum tix_rc read_by_day(const json_t *v, struct rule *r, struct tix_err *err)
{
    static const char *const names[] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"};
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 7)
        return bad(err, "by_day", "must be a list of 1 to 7 days (MO..SU)");
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *s = json_string_value(json_array_get(v, i));
        int k = 0;
        while (k < 7 && (s == NULL || strcmp(s, names[k]) != 0))
            k++;
        char member[48];
        snprintf(member, sizeof(member), "by_day[%zu]", i);
        if (k == 7)
            return bad(err, member, "must be one of MO, TU, WE, TH, FR, SA, SU");
        if (r->days[k])
            return bad(err, member, "is listed twice");
        r->days[k] = true;
    }
    return TIX_OK;
}

static enum tix_rc read_exceptions(const json_t *v, struct rule *r, struct tix_err *err)
{
    if (v == NULL)
        return TIX_OK;
    if (!json_is_array(v) || json_array_size(v) > TIX_RECURRENCE_MAX)
        return bad(err, "exceptions", "must be a list of at most 500 dates");
    for (size_t i = 0; i < json_array_size(v); i++) {
        char member[48];
        snprintf(member, sizeof(member), "exceptions[%zu]", i);
        if (!read_date(json_array_get(v, i), &r->exceptions[i]))
            return bad(err, member, "must be a date YYYY-MM-DD");
    }
    r->n_exceptions = (int)json_array_size(v);
    return TIX_OK;
}

static enum tix_rc check_members(const json_t *rule, struct tix_err *err)
{
    static const char *const known[] = {"freq",       "interval",   "by_day",
                                        "start_date", "start_time", "duration_minutes",
                                        "until",      "count",      "exceptions"};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)rule, key, v)
    {
        size_t i = 0;
        while (i < sizeof(known) / sizeof(known[0]) && strcmp(known[i], key) != 0)
            i++;
        if (i == sizeof(known) / sizeof(known[0])) {
            char member[48];
            snprintf(member, sizeof(member), "%.40s", key);
            return bad(err, member, "is an unknown field");
        }
    }
    return TIX_OK;
}

/* until or count: exactly one. */
static enum tix_rc read_end(const json_t *rule, struct rule *r, struct tix_err *err)
{
    const json_t *until = json_object_get(rule, "until"), *count = json_object_get(rule, "count");
    if ((until == NULL) == (count == NULL))
        return bad(err, "count", "give until or count, exactly one of them");
    r->until_day = -1;
    int64_t n = 0;
    if (count != NULL && !read_int(count, 1, TIX_RECURRENCE_MAX, 1, &n))
        return bad(err, "count", "must be an integer from 1 to 500");
    r->count = (int)n;
    if (until != NULL && !read_date(until, &r->until_day))
        return bad(err, "until", "must be a date YYYY-MM-DD");
    if (until != NULL && r->until_day < r->start_day)
        return bad(err, "until", "must not be before start_date");
    return TIX_OK;
}

static enum tix_rc read_rule(const json_t *rule, struct rule *r, struct tix_err *err)
{
    memset(r, 0, sizeof(*r));
    if (!json_is_object(rule))
        return bad(err, "", "must be an object");
    enum tix_rc rc = check_members(rule, err);
    if (rc != TIX_OK)
        return rc;
    const char *freq = tix_json_str(rule, "freq");
    if (freq == NULL || (strcmp(freq, "daily") != 0 && strcmp(freq, "weekly") != 0))
        return bad(err, "freq", "must be daily or weekly");
    r->is_weekly = freq[0] == 'w';
    int64_t n = 0;
    if (!read_int(json_object_get(rule, "interval"), 1, MAX_INTERVAL, 1, &n))
        return bad(err, "interval", "must be an integer from 1 to 366");
    r->interval = (int)n;
    if (!read_date(json_object_get(rule, "start_date"), &r->start_day))
        return bad(err, "start_date", "must be a date YYYY-MM-DD (1970 to 9998)");
    if (!read_time(json_object_get(rule, "start_time"), &r->start_s))
        return bad(err, "start_time", "must be a local time HH:MM");
    if (!read_int(json_object_get(rule, "duration_minutes"), 1, MAX_DURATION_MIN, 0, &n) || n == 0)
        return bad(err, "duration_minutes", "must be an integer from 1 to 44640");
    r->duration_s = n * 60;
    const json_t *by_day = json_object_get(rule, "by_day");
    if (by_day != NULL && !r->is_weekly)
        return bad(err, "by_day", "is for weekly series only");
    if (by_day != NULL && (rc = read_by_day(by_day, r, err)) != TIX_OK)
        return rc;
    if (r->is_weekly && by_day == NULL)
        r->days[(r->start_day % 7 + 7 + 3) % 7] = true; /* 1970-01-01 was a Thursday */
    if ((rc = read_end(rule, r, err)) != TIX_OK)
        return rc;
    return read_exceptions(json_object_get(rule, "exceptions"), r, err);
}

static bool is_exception(const struct rule *r, int64_t day)
{
    for (int i = 0; i < r->n_exceptions; i++)
        if (r->exceptions[i] == day)
            return true;
    return false;
}

/* The k-th occurrence's day (k from 0), or -1 past the end of a week's list. Dates before
 * start_date in its first week are skipped by the caller. */
static int64_t occurrence_day(const struct rule *r, int64_t week_monday, int weekday)
{
    return r->days[weekday] ? week_monday + weekday : -1;
}

struct walk {
    const struct rule *r;
    const struct tix_tz *tz;
    json_t *out;
    int generated;
};

/* Adds day's session unless it is an exception; false once there are too many. */
static bool emit(struct walk *w, int64_t day)
{
    w->generated++;
    if (is_exception(w->r, day))
        return true;
    if (json_array_size(w->out) >= TIX_RECURRENCE_MAX)
        return false;
    int64_t start = tix_tz_to_utc(w->tz, day * 86400 + w->r->start_s, NULL);
    int64_t end = start + w->r->duration_s;
    if (start < 0 || end > 253402300799LL)
        return false;
    char s[TIX_EVENT_INSTANT_LEN + 1], e[TIX_EVENT_INSTANT_LEN + 1];
    tix_event_format_instant(start, s);
    tix_event_format_instant(end, e);
    json_array_append_new(w->out, json_pack("{ss ss}", "starts_at", s, "ends_at", e));
    return true;
}

/* Whether the walk is over at day (past until, or count reached). */
static bool is_done(const struct walk *w, int64_t day)
{
    return w->r->until_day >= 0 ? day > w->r->until_day : w->generated >= w->r->count;
}

static bool expand(struct walk *w)
{
    const struct rule *r = w->r;
    if (!r->is_weekly) {
        for (int64_t day = r->start_day; !is_done(w, day); day += r->interval)
            if (!emit(w, day))
                return false;
        return true;
    }
    int64_t monday = r->start_day - (r->start_day % 7 + 7 + 3) % 7;
    for (;; monday += 7 * (int64_t)r->interval) {
        for (int wd = 0; wd < 7; wd++) {
            int64_t day = occurrence_day(r, monday, wd);
            if (day < r->start_day)
                continue;
            if (is_done(w, day))
                return true;
            if (!emit(w, day))
                return false;
        }
    }
}

enum tix_rc tix_recurrence_expand(const json_t *rule, const struct tix_tz *tz, json_t **sessions,
                                  struct tix_err *err)
{
    *sessions = NULL;
    struct rule r;
    enum tix_rc rc = read_rule(rule, &r, err);
    if (rc != TIX_OK)
        return rc;
    struct walk w = {.r = &r, .tz = tz, .out = json_array()};
    if (!expand(&w)) {
        json_decref(w.out);
        return bad(err, "", "yields more than 500 sessions (or sessions beyond 9999)");
    }
    if (json_array_size(w.out) == 0) {
        json_decref(w.out);
        return bad(err, "", "yields no session (every date is an exception)");
    }
    *sessions = w.out;
    return TIX_OK;
}
