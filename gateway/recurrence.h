/* recurrence.h - a series of sessions from a recurrence rule in the event's time zone
 *
 * The rule (the "recurrence" member of POST .../events), every field checked, unknown ones
 * refused:
 *   freq             "daily" | "weekly"                               (required)
 *   interval         1..366, default 1: every n-th day or week
 *   by_day           weekly only: 1..7 distinct of "MO" "TU" "WE" "TH" "FR" "SA" "SU";
 *                    default: the weekday of start_date
 *   start_date       "YYYY-MM-DD", local, 1970..9998                  (required)
 *   start_time       "HH:MM", local wall clock                        (required)
 *   duration_minutes 1..44640 (31 days)                               (required)
 *   until            "YYYY-MM-DD" (inclusive, not before start_date) | count 1..500: one of them
 *   exceptions       up to 500 local dates "YYYY-MM-DD" that have no session
 *
 * Occurrences are the dates from start_date on (weeks counted from the Monday of start_date's
 * week, days in by_day order within a week); count counts them before exceptions are taken out,
 * as in RFC 5545 (COUNT with EXDATE). Each date's start_time becomes a UTC instant through the
 * zone (lib/tz.c): a start in a spring-forward gap is moved forward by the gap (02:30 becomes
 * 03:30 in Europe/Berlin), an ambiguous one on a fall-back night takes its first occurrence
 * (the summer-time one); the end is start + duration (elapsed time, so a session across a
 * change lasts exactly duration_minutes). At most 500 sessions (the event's limit).
 */
#ifndef TIX_GATEWAY_RECURRENCE_H
#define TIX_GATEWAY_RECURRENCE_H

#include <jansson.h>

#include "tix/rc.h"
#include "tix/tz.h"

#define TIX_RECURRENCE_MAX 500

/* A new array of {"starts_at", "ends_at"} (RFC 3339 UTC, whole seconds) in *sessions, in time
 * order; TIX_EINVAL with err->field naming the offending member ("recurrence.by_day[1]", or
 * "recurrence" when the series as a whole is empty or too long). Pure. */
enum tix_rc tix_recurrence_expand(const json_t *rule, const struct tix_tz *tz, json_t **sessions,
                                  struct tix_err *err);

#endif
