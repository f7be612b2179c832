/* tz_test.c - lib/tz.c against known DST days and against the C library
 *
 * Known answers: 19:30 local on the days around the last Sundays of March and October in
 * Europe/Berlin and around the second Sunday of March and first of November in America/New_York
 * (before, on and after each change, this year's and far-future ones the footer rule decides),
 * a time in the spring-forward gap (moved forward) and an ambiguous one (the first occurrence).
 * Oracle: glibc's localtime_r with TZ set (this test is single-threaded) must agree with
 * tix_tz_offset every 6 hours from 1995 to 2045 and in 2090 for zones of every kind.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tix/tz.h"

static struct tix_tz *load(const char *name)
{
    struct tix_tz *tz = NULL;
    struct tix_err err;
    cr_assert_eq(tix_tz_load(NULL, name, &tz, &err), TIX_OK, "%s: %s", name, err.msg);
    return tz;
}

/* The Unix time of y-m-d hh:mm in tz, asserting how it fit. */
static int64_t at(const struct tix_tz *tz, int y, int m, int d, int hh, int mm,
                  enum tix_tz_fit want_fit)
{
    enum tix_tz_fit fit;
    int64_t local = tix_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60;
    int64_t utc = tix_tz_to_utc(tz, local, &fit);
    cr_assert_eq(fit, want_fit, "%04d-%02d-%02d %02d:%02d: fit %d", y, m, d, hh, mm, fit);
    return utc;
}

/* Unix time of y-m-d hh:mm UTC. */
static int64_t utc(int y, int m, int d, int hh, int mm)
{
    return tix_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60;
}

Test(tz, berlin_around_the_last_sundays_of_march_and_october)
{
    struct tix_tz *tz = load("Europe/Berlin");
    /* 2025: CEST from Sunday 30 March 01:00 UTC to Sunday 26 October 01:00 UTC */
    cr_assert_eq(at(tz, 2025, 3, 29, 19, 30, TIX_TZ_EXACT), utc(2025, 3, 29, 18, 30));
    cr_assert_eq(at(tz, 2025, 3, 30, 19, 30, TIX_TZ_EXACT), utc(2025, 3, 30, 17, 30));
    cr_assert_eq(at(tz, 2025, 3, 31, 19, 30, TIX_TZ_EXACT), utc(2025, 3, 31, 17, 30));
    cr_assert_eq(at(tz, 2025, 10, 25, 19, 30, TIX_TZ_EXACT), utc(2025, 10, 25, 17, 30));
    cr_assert_eq(at(tz, 2025, 10, 26, 19, 30, TIX_TZ_EXACT), utc(2025, 10, 26, 18, 30));
    cr_assert_eq(at(tz, 2025, 10, 27, 19, 30, TIX_TZ_EXACT), utc(2025, 10, 27, 18, 30));
    /* 02:30 does not exist on 30 March: 03:30 CEST; it exists twice on 26 October: CEST */
    cr_assert_eq(at(tz, 2025, 3, 30, 2, 30, TIX_TZ_GAP), utc(2025, 3, 30, 1, 30));
    cr_assert_eq(at(tz, 2025, 10, 26, 2, 30, TIX_TZ_AMBIGUOUS), utc(2025, 10, 26, 0, 30));
    cr_assert_eq(at(tz, 2025, 10, 26, 3, 0, TIX_TZ_EXACT), utc(2025, 10, 26, 2, 0));
    /* 2091, after the file's last transition: the footer rule (last Sundays: 25 March, 28
     * October) */
    cr_assert_eq(at(tz, 2091, 3, 24, 19, 30, TIX_TZ_EXACT), utc(2091, 3, 24, 18, 30));
    cr_assert_eq(at(tz, 2091, 3, 25, 19, 30, TIX_TZ_EXACT), utc(2091, 3, 25, 17, 30));
    cr_assert_eq(at(tz, 2091, 3, 25, 2, 15, TIX_TZ_GAP), utc(2091, 3, 25, 1, 15));
    cr_assert_eq(at(tz, 2091, 10, 27, 19, 30, TIX_TZ_EXACT), utc(2091, 10, 27, 17, 30));
    cr_assert_eq(at(tz, 2091, 10, 28, 19, 30, TIX_TZ_EXACT), utc(2091, 10, 28, 18, 30));
    cr_assert_eq(at(tz, 2091, 10, 28, 2, 59, TIX_TZ_AMBIGUOUS), utc(2091, 10, 28, 0, 59));
    tix_tz_destroy(tz);
}

Test(tz, new_york_around_its_changes)
{
    struct tix_tz *tz = load("America/New_York");
    /* 2025: EDT from Sunday 9 March 07:00 UTC to Sunday 2 November 06:00 UTC */
    cr_assert_eq(at(tz, 2025, 3, 8, 19, 30, TIX_TZ_EXACT), utc(2025, 3, 9, 0, 30));
    cr_assert_eq(at(tz, 2025, 3, 9, 19, 30, TIX_TZ_EXACT), utc(2025, 3, 9, 23, 30));
    cr_assert_eq(at(tz, 2025, 3, 9, 2, 30, TIX_TZ_GAP), utc(2025, 3, 9, 7, 30));
    cr_assert_eq(at(tz, 2025, 11, 1, 19, 30, TIX_TZ_EXACT), utc(2025, 11, 1, 23, 30));
    cr_assert_eq(at(tz, 2025, 11, 2, 19, 30, TIX_TZ_EXACT), utc(2025, 11, 3, 0, 30));
    cr_assert_eq(at(tz, 2025, 11, 2, 1, 30, TIX_TZ_AMBIGUOUS), utc(2025, 11, 2, 5, 30));
    cr_assert_eq(at(tz, 2025, 11, 2, 2, 0, TIX_TZ_EXACT), utc(2025, 11, 2, 7, 0));
    /* 2090 (footer rule: second Sunday of March is the 12th, first of November the 5th) */
    cr_assert_eq(at(tz, 2090, 3, 12, 19, 30, TIX_TZ_EXACT), utc(2090, 3, 12, 23, 30));
    cr_assert_eq(at(tz, 2090, 3, 11, 19, 30, TIX_TZ_EXACT), utc(2090, 3, 12, 0, 30));
    cr_assert_eq(at(tz, 2090, 11, 5, 1, 30, TIX_TZ_AMBIGUOUS), utc(2090, 11, 5, 5, 30));
    tix_tz_destroy(tz);
}

Test(tz, zones_without_changes_and_southern_summers)
{
    struct tix_tz *tz = load("Asia/Kolkata");
    cr_assert_eq(at(tz, 2030, 6, 1, 19, 30, TIX_TZ_EXACT), utc(2030, 6, 1, 14, 0));
    tix_tz_destroy(tz);
    tz = load("UTC");
    cr_assert_eq(at(tz, 2030, 6, 1, 19, 30, TIX_TZ_EXACT), utc(2030, 6, 1, 19, 30));
    tix_tz_destroy(tz);
    tz = load("Australia/Sydney"); /* AEDT +11 in January, AEST +10 in July */
    cr_assert_eq(at(tz, 2095, 1, 15, 19, 30, TIX_TZ_EXACT), utc(2095, 1, 15, 8, 30));
    cr_assert_eq(at(tz, 2095, 7, 15, 19, 30, TIX_TZ_EXACT), utc(2095, 7, 15, 9, 30));
    tix_tz_destroy(tz);
}

/* glibc's offset at t in zone name (TZ is set for this single-threaded test only). */
static long libc_offset(time_t t)
{
    struct tm tm;
    localtime_r(&t, &tm);
    return tm.tm_gmtoff;
}

static void agree_with_libc(const char *name)
{
    struct tix_tz *tz = load(name);
    char env[96];
    snprintf(env, sizeof(env), ":%s", name);
    setenv("TZ", env, 1);
    tzset();
    const int64_t ranges[][2] = {{utc(1995, 1, 1, 0, 0), utc(2045, 1, 1, 0, 0)},
                                 {utc(2090, 1, 1, 0, 0), utc(2091, 1, 1, 0, 0)}};
    for (size_t r = 0; r < 2; r++) {
        for (int64_t t = ranges[r][0]; t < ranges[r][1]; t += 6 * 3600 + 1) {
            int32_t mine = tix_tz_offset(tz, t);
            cr_assert_eq(mine, libc_offset((time_t)t), "%s at %lld", name, (long long)t);
            /* the wall clock it shows maps back to the same instant unless it is ambiguous */
            enum tix_tz_fit fit;
            int64_t back = tix_tz_to_utc(tz, t + mine, &fit);
            cr_assert(fit == TIX_TZ_AMBIGUOUS ? back <= t : back == t, "%s at %lld", name,
                      (long long)t);
        }
    }
    unsetenv("TZ");
    tzset();
    tix_tz_destroy(tz);
}

Test(tz, agrees_with_the_c_library)
{
    static const char *const zones[] = {"Europe/Berlin",     "America/New_York", "Australia/Sydney",
                                        "Pacific/Chatham",   "America/Santiago", "Asia/Tehran",
                                        "Africa/Casablanca", "Europe/Dublin",    "Pacific/Apia",
                                        "America/St_Johns",  "Asia/Kathmandu",   "Europe/London"};
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
        agree_with_libc(zones[i]);
}

Test(tz, names_are_checked_and_files_too)
{
    static const char *const bad[] = {
        "",        "/etc/passwd",    "../etc/passwd", "Europe/../x", "Europe//Berlin",
        ".hidden", "Europe/Berlin ", "Europe/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(!tix_tz_is_name(bad[i]), "%s", bad[i]);
    cr_assert(tix_tz_is_name("America/Argentina/Buenos_Aires"));
    cr_assert(tix_tz_is_name("Etc/GMT+5"));
    struct tix_tz *tz = NULL;
    struct tix_err err;
    cr_assert_eq(tix_tz_load(NULL, "Mars/Olympus_Mons", &tz, &err), TIX_ENOTFOUND);
    cr_assert_eq(tix_tz_load(NULL, "../../etc/passwd", &tz, &err), TIX_EINVAL);
    cr_assert_eq(tix_tz_load("/etc", "hostname", &tz, &err), TIX_EINVAL);
    cr_assert_null(tz);
    static const unsigned char junk[] = "TZif2 and then nothing";
    cr_assert_eq(tix_tz_parse(junk, sizeof(junk), &tz, &err), TIX_EINVAL);
}

/* Every prefix of a real file is refused, never read past its end (ASan watches). */
Test(tz, truncated_files_are_refused)
{
    FILE *f = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
    cr_assert_not_null(f);
    unsigned char data[8192];
    size_t len = fread(data, 1, sizeof(data), f);
    fclose(f);
    for (size_t n = 0; n < len; n += 7) {
        unsigned char *copy = malloc(n + 1);
        memcpy(copy, data, n);
        struct tix_tz *tz = NULL;
        cr_assert_eq(tix_tz_parse(copy, n, &tz, NULL), TIX_EINVAL, "prefix of %zu bytes", n);
        free(copy);
    }
}
