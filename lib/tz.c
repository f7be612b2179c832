/* tz.c - TZif version 2+ reader, POSIX TZ rules, wall clock to UTC
 *
 * Invariants of a parsed zone: transitions are strictly increasing; every transition's type
 * index and the default type (0) name an existing type; offsets lie within +-26 hours. The
 * footer rule, when present, decides every instant at or after the last transition (and every
 * instant when the file has no transitions); before the first transition type 0 applies.
 *
 * The footer grammar (POSIX.1-2017 TZ, with RFC 8536's extensions: hours up to 167 and signed
 * rule times): std offset [dst [offset] [,start[/time],end[/time]]]; names are 3+ letters or
 * <quoted> (+-digits allowed); dates are Jn (1..365, no Feb 29), n (0..365) or Mm.w.d. A dst
 * name without rules takes the US default M3.2.0,M11.1.0; a dst offset defaults to one hour
 * ahead of standard time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/mem.h"
#include "tix/tz.h"

#define MAX_OFFSET (26 * 3600)
#define MAX_FILE   (256 * 1024)

enum rule_kind { RULE_JULIAN_NO_LEAP, RULE_ZERO_BASED, RULE_MONTH_WEEK_DAY };

struct rule {
    enum rule_kind kind;
    int day, month, week; /* Jn/n: day; Mm.w.d: month, week, day (0 = Sunday) */
    int32_t time;         /* seconds after local midnight, in the time in force before */
};

struct posix_tz {
    bool has_dst;
    int32_t std_off, dst_off; /* east positive */
    struct rule start, end;
};

struct tix_tz {
    int64_t *times;
    uint8_t *idx;
    int32_t *offsets;
    uint32_t n_times, n_types;
    bool has_footer;
    struct posix_tz footer;
};

/* ---- calendar ------------------------------------------------------------------------------ */

int64_t tix_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tix_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ---- POSIX TZ strings ---------------------------------------------------------------------- */

static bool parse_name(const char **p)
{
    const char *s = *p;
    if (*s == '<') {
        const char *end = strchr(s, '>');
        if (end == NULL || end - s < 4)
            return false;
        for (const char *c = s + 1; c < end; c++)
            if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-", *c) ==
                NULL)
                return false;
        *p = end + 1;
        return true;
    }
    size_t n = 0;
    while ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z'))
        n++;
    *p = s + n;
    return n >= 3;
}

/* [+-]h[h[h]][:mm[:ss]] with hours up to max_hours; *out in seconds. */
static bool parse_hms(const char **p, int max_hours, int32_t *out)
{
    const char *s = *p;
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    long parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i > 0 && *s != ':')
            break;
        if (i > 0)
            s++;
        int digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 3) {
            parts[i] = parts[i] * 10 + (*s++ - '0');
            digits++;
        }
        if (digits == 0 || (i > 0 && (digits != 2 || parts[i] > 59)))
            return false;
    }
    if (parts[0] > max_hours)
        return false;
    *out = (int32_t)(sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]));
    *p = s;
    return true;
}

static bool parse_int(const char **p, int min, int max, int *out)
{
    const char *s = *p;
    long v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 4) {
        v = v * 10 + (*s++ - '0');
        digits++;
    }
    if (digits == 0 || v < min || v > max)
        return false;
    *out = (int)v;
    *p = s;
    return true;
}

static bool parse_rule(const char **p, struct rule *r)
{
    const char *s = *p;
    bool ok;
    if (*s == 'J') {
        s++;
        r->kind = RULE_JULIAN_NO_LEAP;
        ok = parse_int(&s, 1, 365, &r->day);
    } else if (*s == 'M') {
        s++;
        r->kind = RULE_MONTH_WEEK_DAY;
        ok = parse_int(&s, 1, 12, &r->month) && *s++ == '.' && parse_int(&s, 1, 5, &r->week) &&
             *s++ == '.' && parse_int(&s, 0, 6, &r->day);
    } else {
        r->kind = RULE_ZERO_BASED;
        ok = parse_int(&s, 0, 365, &r->day);
    }
    r->time = 7200;
    if (ok && *s == '/') {
        s++;
        ok = parse_hms(&s, 167, &r->time);
    }
    *p = s;
    return ok;
}

static bool parse_posix(const char *s, struct posix_tz *out)
{
    memset(out, 0, sizeof(*out));
    int32_t west = 0;
    if (!parse_name(&s) || !parse_hms(&s, 24, &west))
        return false;
    out->std_off = -west;
    if (*s == '\0')
        return true;
    out->has_dst = true;
    if (!parse_name(&s))
        return false;
    out->dst_off = out->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (!parse_hms(&s, 24, &west))
            return false;
        out->dst_off = -west;
    }
    if (*s == '\0') { /* the POSIX default: the US rules */
        out->start = (struct rule){RULE_MONTH_WEEK_DAY, 0, 3, 2, 7200};
        out->end = (struct rule){RULE_MONTH_WEEK_DAY, 0, 11, 1, 7200};
        return true;
    }
    return *s++ == ',' && parse_rule(&s, &out->start) && *s++ == ',' && parse_rule(&s, &out->end) &&
           *s == '\0';
}

/* Days since 1970 of the rule's date in year y. */
static int64_t rule_day(const struct rule *r, int64_t y)
{
    int64_t jan1 = tix_days_from_civil(y, 1, 1);
    if (r->kind == RULE_JULIAN_NO_LEAP)
        return jan1 + r->day - 1 + (is_leap(y) && r->day >= 60);
    if (r->kind == RULE_ZERO_BASED)
        return jan1 + r->day;
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t first = tix_days_from_civil(y, r->month, 1);
    int weekday = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    int64_t day = first + (r->day - weekday + 7) % 7 + (int64_t)(r->week - 1) * 7;
    int len = month_days[r->month - 1] + (r->month == 2 && is_leap(y));
    while (day >= first + len)
        day -= 7;
    return day;
}

static int32_t posix_offset(const struct posix_tz *z, int64_t utc)
{
    if (!z->has_dst)
        return z->std_off;
    int64_t y;
    int m, d;
    tix_civil_from_days(floor_div(utc + z->std_off, 86400), &y, &m, &d);
    int64_t start = rule_day(&z->start, y) * 86400 + z->start.time - z->std_off;
    int64_t end = rule_day(&z->end, y) * 86400 + z->end.time - z->dst_off;
    bool is_dst = start < end ? utc >= start && utc < end : !(utc >= end && utc < start);
    return is_dst ? z->dst_off : z->std_off;
}

/* ---- TZif ---------------------------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct header {
    uint32_t isut, isstd, leap, time, type, chars;
};

static bool read_header(const unsigned char *p, size_t len, struct header *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    h->isut = be32(p + 20);
    h->isstd = be32(p + 24);
    h->leap = be32(p + 28);
    h->time = be32(p + 32);
    h->type = be32(p + 36);
    h->chars = be32(p + 40);
    return h->type >= 1 && h->type <= 256 && h->time <= 100000 && h->leap <= 10000 &&
           h->chars <= 65536 && (h->isut == 0 || h->isut == h->type) &&
           (h->isstd == 0 || h->isstd == h->type);
}

static size_t block_size(const struct header *h, size_t time_size)
{
    return h->time * (time_size + 1) + h->type * 6 + h->chars + h->leap * (time_size + 4) +
           h->isstd + h->isut;
}

static enum tix_rc bad(struct tix_err *err, const char *why)
{
    return tix_err_set(err, TIX_EINVAL, "timezone", "not a usable TZif file: %s", why);
}

/* Reads the v2+ data block at p (header h) into tz. */
static enum tix_rc read_block(struct tix_tz *tz, const struct header *h, const unsigned char *p,
                              struct tix_err *err)
{
    tz->n_times = h->time;
    tz->n_types = h->type;
    tz->times = tix_xcalloc(h->time + 1, sizeof(*tz->times));
    tz->idx = tix_xcalloc(h->time + 1, 1);
    tz->offsets = tix_xcalloc(h->type, sizeof(*tz->offsets));
    for (uint32_t i = 0; i < h->time; i++) {
        tz->times[i] = be64(p + 8 * i);
        if (i > 0 && tz->times[i] <= tz->times[i - 1])
            return bad(err, "transitions out of order");
    }
    const unsigned char *q = p + 8 * h->time;
    for (uint32_t i = 0; i < h->time; i++) {
        tz->idx[i] = q[i];
        if (q[i] >= h->type)
            return bad(err, "a transition names no type");
    }
    q += h->time;
    for (uint32_t i = 0; i < h->type; i++) {
        int32_t off = (int32_t)be32(q + 6 * i);
        if (off < -MAX_OFFSET || off > MAX_OFFSET || q[6 * i + 4] > 1 || q[6 * i + 5] >= h->chars)
            return bad(err, "a type is out of range");
        tz->offsets[i] = off;
    }
    return TIX_OK;
}

/* The footer "\n<TZ string>\n" at p..end (empty TZ string: none). */
static enum tix_rc read_footer(struct tix_tz *tz, const unsigned char *p, const unsigned char *end,
                               struct tix_err *err)
{
    if (end - p < 2 || p[0] != '\n' || end[-1] != '\n')
        return bad(err, "no footer");
    size_t n = (size_t)(end - p) - 2;
    if (n == 0)
        return TIX_OK;
    char tzs[128];
    if (n >= sizeof(tzs) || memchr(p + 1, '\0', n) != NULL)
        return bad(err, "footer too long");
    memcpy(tzs, p + 1, n);
    tzs[n] = '\0';
    if (!parse_posix(tzs, &tz->footer))
        return bad(err, "unreadable footer rule");
    tz->has_footer = true;
    return TIX_OK;
}

enum tix_rc tix_tz_parse(const unsigned char *data, size_t len, struct tix_tz **out,
                         struct tix_err *err)
{
    *out = NULL;
    struct header h1, h2;
    if (!read_header(data, len, &h1))
        return bad(err, "bad header");
    if (data[4] < '2')
        return bad(err, "version 1 (no 64-bit data)");
    size_t v1 = 44 + block_size(&h1, 4);
    if (v1 > len || !read_header(data + v1, len - v1, &h2))
        return bad(err, "bad second header");
    const unsigned char *p = data + v1 + 44;
    size_t size = block_size(&h2, 8);
    if (size > len - v1 - 44)
        return bad(err, "truncated");
    struct tix_tz *tz = tix_xcalloc(1, sizeof(*tz));
    enum tix_rc rc = read_block(tz, &h2, p, err);
    if (rc == TIX_OK)
        rc = read_footer(tz, p + size, data + len, err);
    if (rc != TIX_OK) {
        tix_tz_destroy(tz);
        return rc;
    }
    *out = tz;
    return TIX_OK;
}

void tix_tz_destroy(struct tix_tz *tz)
{
    if (tz == NULL)
        return;
    free(tz->times);
    free(tz->idx);
    free(tz->offsets);
    free(tz);
}

bool tix_tz_is_name(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > 64 || name[0] == '/' ||
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-.") != n)
        return false;
    for (const char *seg = name; seg != NULL; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL)
        if (seg[0] == '.' || seg[0] == '/' || seg[0] == '\0')
            return false; /* ".", "..", hidden files and empty segments */
    return true;
}

enum tix_rc tix_tz_load(const char *dir, const char *name, struct tix_tz **out, struct tix_err *err)
{
    *out = NULL;
    if (!tix_tz_is_name(name))
        return tix_err_set(err, TIX_EINVAL, "timezone", "not a time zone name");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : "/usr/share/zoneinfo", name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return tix_err_set(err, TIX_ENOTFOUND, "timezone", "no time zone %s", name);
    unsigned char *data = tix_xmalloc(MAX_FILE);
    size_t len = fread(data, 1, MAX_FILE, f);
    bool is_whole = feof(f) && !ferror(f);
    fclose(f);
    enum tix_rc rc = is_whole ? tix_tz_parse(data, len, out, err)
                              : tix_err_set(err, TIX_EINVAL, "timezone", "%s is no zone", name);
    free(data);
    return rc;
}

/* ---- queries ------------------------------------------------------------------------------- */

int32_t tix_tz_offset(const struct tix_tz *tz, int64_t utc)
{
    if (tz->n_times == 0 || utc >= tz->times[tz->n_times - 1]) {
        if (tz->has_footer)
            return posix_offset(&tz->footer, utc);
        return tz->n_times == 0 ? tz->offsets[0] : tz->offsets[tz->idx[tz->n_times - 1]];
    }
    if (utc < tz->times[0])
        return tz->offsets[0];
    uint32_t lo = 0, hi = tz->n_times - 1; /* times[lo] <= utc < times[hi] */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= utc)
            lo = mid;
        else
            hi = mid;
    }
    return tz->offsets[tz->idx[lo]];
}

int64_t tix_tz_to_utc(const struct tix_tz *tz, int64_t local, enum tix_tz_fit *fit)
{
    int32_t before = tix_tz_offset(tz, local - 86400), after = tix_tz_offset(tz, local + 86400);
    int64_t a = local - before, b = local - after;
    bool is_a = tix_tz_offset(tz, a) == before, is_b = tix_tz_offset(tz, b) == after;
    enum tix_tz_fit f = TIX_TZ_EXACT;
    int64_t utc;
    if (is_a && is_b && a != b) {
        f = TIX_TZ_AMBIGUOUS;
        utc = a < b ? a : b;
    } else if (is_a || is_b) {
        utc = is_a ? a : b;
    } else {
        f = TIX_TZ_GAP; /* read with the offset before the gap: lands after it, moved forward */
        utc = a;
    }
    if (fit != NULL)
        *fit = f;
    return utc;
}
