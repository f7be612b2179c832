/* tz.h - IANA time zones from the system's TZif files, without TZ, tzset or locks
 *
 * A zone is read once from a TZif file (RFC 8536, version 2 or later: 64-bit transition times
 * and a POSIX TZ string footer for the times after the last transition) into an immutable
 * struct tix_tz, so every query is a pure function of that struct and the instant: thread-safe,
 * and testable without touching the process's environment. Leap-second records are skipped (the
 * plain zoneinfo files have none; POSIX time has no leap seconds either).
 *
 * Local times are "wall clock seconds": a local date and time counted like Unix time, as if the
 * wall clock were UTC (2025-03-30T02:30 local = days_from_civil * 86400 + 9000).
 */
#ifndef TIX_TZ_H
#define TIX_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tix/rc.h"

struct tix_tz;

/* How a wall-clock time met the zone. */
enum tix_tz_fit {
    TIX_TZ_EXACT,     /* it happens exactly once */
    TIX_TZ_GAP,       /* it never happens (spring forward): moved forward by the gap's length */
    TIX_TZ_AMBIGUOUS, /* it happens twice (fall back): the first occurrence was taken */
};

/* Whether name is acceptable as a zone name: 1..64 bytes of [A-Za-z0-9/_+-], no leading '/',
 * no "." or ".." segment. Pure. */
bool tix_tz_is_name(const char *name);

/* Parses TZif bytes (version 2 or later). Returns a new zone in *out (free with
 * tix_tz_destroy), or TIX_EINVAL for anything malformed, truncated or inconsistent. Pure. */
enum tix_rc tix_tz_parse(const unsigned char *data, size_t len, struct tix_tz **out,
                         struct tix_err *err);

/* Reads zone name from dir (NULL: /usr/share/zoneinfo) and parses it. TIX_EINVAL for a bad
 * name or a file that is not TZif v2+, TIX_ENOTFOUND when there is no such zone. Thread-safe. */
enum tix_rc tix_tz_load(const char *dir, const char *name, struct tix_tz **out,
                        struct tix_err *err);

/* Frees tz; NULL is a no-op. */
void tix_tz_destroy(struct tix_tz *tz);

/* The offset from UTC in seconds (east positive) in force at Unix time utc. Pure. */
int32_t tix_tz_offset(const struct tix_tz *tz, int64_t utc);

/* The Unix time at which the wall clock of tz shows local (wall-clock seconds, see above).
 * A time in a gap is moved forward by the gap's length (02:30 on a spring-forward night in
 * Europe/Berlin gives 03:30 CEST); an ambiguous time takes its first occurrence (02:30 on a
 * fall-back night gives 02:30 CEST, not CET). *fit (may be NULL) says which case it was.
 * Assumes, as every real zone does, at most one transition within a day of local. Pure. */
int64_t tix_tz_to_utc(const struct tix_tz *tz, int64_t local, enum tix_tz_fit *fit);

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12, d 1..31). Pure. */
int64_t tix_days_from_civil(int64_t y, int m, int d);
/* The date of days since 1970-01-01. Pure. */
void tix_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
