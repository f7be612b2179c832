/* query.c - query-string parameters of the read routes: text, numbers, times, ids, points,
 * opaque cursors
 *
 * Every reader takes one parameter by name, checks it completely before it can reach SQL and,
 * when it is wrong, answers 422 naming the parameter itself and returns false (the handler then
 * only frees what it holds). An absent parameter is never an error unless the reader says so;
 * values come back as text because they travel to Postgres as text parameters.
 *
 * Cursors are base64url (no padding) of their parts joined by '|'; only the last part may hold a
 * '|' itself. They are opaque to clients, and each list checks the parts it gets back.
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "gateway.h"

/* Characters of a valid UTF-8 string; -1 when it is not UTF-8 (jansson checks it). */
static long utf8_chars(const char *s)
{
    json_t *j = json_string(s);
    if (j == NULL)
        return -1;
    json_decref(j);
    long n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

bool tix_gw_query_text(struct tix_req *req, const char *name, long min_chars, long max_chars,
                       char **out)
{
    char *v = tix_gw_query(req, name);
    if (v != NULL && v[0] == '\0' && min_chars == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    long n = v != NULL ? utf8_chars(v) : (min_chars > 0 ? -1 : 0);
    if (n >= min_chars && n <= max_chars)
        return true;
    char message[96];
    snprintf(message, sizeof(message), "must be UTF-8 text of %ld to %ld characters",
             min_chars > 0 ? min_chars : 1, max_chars);
    tix_gw_invalid(req, name, message);
    return false;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool tix_gw_is_date(const char *s)
{
    static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strnlen(s, 10) < 10)
        return false;
    int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
    if (y < 1 || s[4] != '-' || s[7] != '-' || m < 1 || m > 12 || d < 1 || d > month_days[m - 1])
        return false;
    bool is_leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m != 2 || d <= 28 || is_leap;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM). */
static bool is_rfc3339(const char *s)
{
    size_t len = strlen(s);
    if (len < 20 || !tix_gw_is_date(s) || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return false;
    int hh = digits(s + 11, 2), mm = digits(s + 14, 2), ss = digits(s + 17, 2);
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        const char *f = ++p;
        while (*p >= '0' && *p <= '9' && p - f < 9)
            p++;
        if (p == f)
            return false;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return true;
    return (*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2) >= 0 &&
           digits(p + 1, 2) <= 23 && p[3] == ':' && digits(p + 4, 2) >= 0 && digits(p + 4, 2) <= 59;
}

bool tix_gw_query_time(struct tix_req *req, const char *name, char **out)
{
    *out = tix_gw_query(req, name);
    if (*out == NULL || is_rfc3339(*out))
        return true;
    tix_gw_invalid(req, name, "must be an RFC 3339 date-time, e.g. 2030-06-05T19:00:00Z");
    return false;
}

bool tix_gw_query_int(struct tix_req *req, const char *name, long min, long max, long def,
                      char out[24])
{
    char *v = tix_gw_query(req, name);
    long n = def;
    bool is_ok = true;
    if (v != NULL) {
        char *end = NULL;
        n = strtol(v, &end, 10);
        is_ok =
            v[0] >= '0' && v[0] <= '9' && strlen(v) <= 9 && *end == '\0' && n >= min && n <= max;
        free(v);
    }
    if (!is_ok) {
        char message[96];
        snprintf(message, sizeof(message), "must be an integer from %ld to %ld", min, max);
        tix_gw_invalid(req, name, message);
        return false;
    }
    snprintf(out, 24, "%ld", n);
    return true;
}

bool tix_gw_query_price_range(struct tix_req *req, char min[24], char max[24])
{
    if (!tix_gw_query_int(req, "price_min", 0, TIX_GW_PRICE_MAX, -1, min) ||
        !tix_gw_query_int(req, "price_max", 0, TIX_GW_PRICE_MAX, -1, max))
        return false;
    long lo = strtol(min, NULL, 10), hi = strtol(max, NULL, 10);
    if (lo >= 0 && hi >= 0 && hi < lo) {
        tix_gw_invalid(req, "price_max", "must be at least price_min");
        return false;
    }
    return true;
}

bool tix_gw_query_uuid(struct tix_req *req, const char *name, char **out)
{
    *out = tix_gw_query(req, name);
    if (*out == NULL || tix_uuid_is_valid(*out))
        return true;
    tix_gw_invalid(req, name, "must be a UUID");
    return false;
}

int tix_gw_query_choice(struct tix_req *req, const char *name, const char *const *choices,
                        const char *message)
{
    char *v = tix_gw_query(req, name);
    if (v == NULL)
        return 0;
    int found = -1;
    for (int i = 0; choices[i] != NULL && found < 0; i++)
        if (strcmp(v, choices[i]) == 0)
            found = i;
    free(v);
    if (found < 0)
        tix_gw_invalid(req, name, message);
    return found;
}

/* Reads a finite decimal number that fills s; false otherwise. */
static bool read_number(const char *s, double *out)
{
    if (s == NULL || *s == '\0' || strlen(s) > 24)
        return false;
    for (const char *p = s; *p != '\0'; p++)
        if (strchr("0123456789.-+", *p) == NULL)
            return false;
    char *end = NULL;
    *out = strtod(s, &end);
    return end != s && *end == '\0' && isfinite(*out);
}

bool tix_gw_parse_point(const char *s, double *lat, double *lon)
{
    const char *comma = s != NULL ? strchr(s, ',') : NULL;
    if (comma == NULL || comma - s > 24)
        return false;
    char first[32];
    snprintf(first, sizeof(first), "%.*s", (int)(comma - s), s);
    return read_number(first, lat) && read_number(comma + 1, lon) && *lat >= -90 && *lat <= 90 &&
           *lon >= -180 && *lon <= 180;
}

void tix_gw_geo_box(double lat, double lon, double radius_km, struct tix_gw_geo_box *box)
{
    const double km_per_degree = 111.19492664455873; /* 2 pi 6371.0088 / 360 */
    double dlat = radius_km / km_per_degree;
    box->min_lat = lat - dlat < -90 ? -90 : lat - dlat;
    box->max_lat = lat + dlat > 90 ? 90 : lat + dlat;
    double c = cos(fmax(fabs(box->min_lat), fabs(box->max_lat)) * M_PI / 180);
    double dlon = c > 1e-9 ? dlat / c : 360;
    if (box->min_lat <= -90 || box->max_lat >= 90 || dlon >= 180 || lon - dlon < -180 ||
        lon + dlon > 180) {
        box->min_lon = -180; /* a pole or the antimeridian inside: no longitude bound */
        box->max_lon = 180;
    } else {
        box->min_lon = lon - dlon;
        box->max_lon = lon + dlon;
    }
}

bool tix_gw_query_near(struct tix_req *req, struct tix_gw_near *near)
{
    memset(near, 0, sizeof(*near));
    char *v = tix_gw_query(req, "near");
    char *r = tix_gw_query(req, "radius_km");
    double lat = 0, lon = 0, radius = 25;
    bool has_point = v != NULL && tix_gw_parse_point(v, &lat, &lon);
    bool has_radius_ok = r == NULL || (read_number(r, &radius) && radius > 0 && radius <= 20000);
    bool is_given = v != NULL;
    bool is_orphan_radius = v == NULL && r != NULL;
    free(v);
    free(r);
    if (is_given && !has_point) {
        tix_gw_invalid(req, "near", "must be \"lat,lng\" in degrees, -90..90 and -180..180");
        return false;
    }
    if (!has_radius_ok || is_orphan_radius) {
        tix_gw_invalid(req, "radius_km",
                       is_orphan_radius ? "needs near"
                                        : "must be a number of kilometres above 0, at most "
                                          "20000");
        return false;
    }
    if (!is_given)
        return true;
    near->is_given = true;
    struct tix_gw_geo_box box;
    tix_gw_geo_box(lat, lon, radius, &box);
    snprintf(near->lat, sizeof(near->lat), "%.7f", lat);
    snprintf(near->lon, sizeof(near->lon), "%.7f", lon);
    snprintf(near->radius_km, sizeof(near->radius_km), "%.4f", radius);
    snprintf(near->min_lat, sizeof(near->min_lat), "%.7f", box.min_lat);
    snprintf(near->max_lat, sizeof(near->max_lat), "%.7f", box.max_lat);
    snprintf(near->min_lon, sizeof(near->min_lon), "%.7f", box.min_lon);
    snprintf(near->max_lon, sizeof(near->max_lon), "%.7f", box.max_lon);
    return true;
}

void tix_gw_near_params(const struct tix_gw_near *near, const char *out[7])
{
    const char *const values[] = {near->lat,     near->lon,     near->radius_km, near->min_lat,
                                  near->max_lat, near->min_lon, near->max_lon};
    for (int i = 0; i < 7; i++)
        out[i] = near->is_given ? values[i] : NULL;
}

json_t *tix_gw_cursor_make(const char *const *parts, int n)
{
    char raw[TIX_GW_CURSOR_MAX];
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        int w = snprintf(raw + used, sizeof(raw) - used, "%s%s", i > 0 ? "|" : "", parts[i]);
        if (w < 0 || (size_t)w >= sizeof(raw) - used)
            return json_null();
        used += (size_t)w;
    }
    char out[TIX_GW_CURSOR_MAX * 4 / 3 + 8];
    sodium_bin2base64(out, sizeof(out), (const unsigned char *)raw, used,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return json_string(out);
}

bool tix_gw_query_cursor(struct tix_req *req, char buf[TIX_GW_CURSOR_MAX], const char **parts,
                         int n, bool *is_given)
{
    *is_given = false;
    char *v = tix_gw_query(req, "cursor");
    if (v == NULL)
        return true;
    *is_given = true;
    size_t len = 0;
    bool is_ok = sodium_base642bin((unsigned char *)buf, TIX_GW_CURSOR_MAX - 1, v, strlen(v), NULL,
                                   &len, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0;
    free(v);
    if (is_ok) {
        buf[len] = '\0';
        is_ok = strlen(buf) == len;
    }
    char *p = buf;
    for (int i = 0; is_ok && i < n; i++) {
        parts[i] = p;
        char *bar = i + 1 < n ? strchr(p, '|') : NULL;
        if (i + 1 < n && bar == NULL)
            is_ok = false;
        else if (bar != NULL) {
            *bar = '\0';
            p = bar + 1;
        }
    }
    if (!is_ok)
        tix_gw_invalid(req, "cursor", "is not a cursor from this list");
    return is_ok;
}
