/* search.c - bench/search: public search on a catalog of 100k events, next to a lookup by id
 *
 * Seeds the search read model (projections/search.c, version 1, in a fresh database) directly
 * with COPY: 2,000 venues in 20 cities (real coordinates, jittered), 100,000 events whose
 * names are an artist (14,400 possible), a noun (40) and a genre (20), so an artist matches a
 * handful of events and a genre about 5% of the catalog, and 0 to 3 ticket types per event; then
 * makes the hit rows and the name words with the projection's own statements and VACUUMs and
 * ANALYZEs. The data is
 * the same on every run (a fixed pseudo-random seed).
 *
 * Then, one after the other on one connection, each query kind runs for the given seconds with
 * fresh random parameters: the plain indexed lookup of an event by id (the baseline), full-text
 * search, autocomplete (a word's prefix with a typo), filtered facets (category, city and a
 * month, no text), a price range (a price bucket and a month, no text), a search near a point and
 * a venue search. Search queries are the gateway's
 * own statements (gateway/search_sql.c) sent the gateway's way (tix_db_exec: PQexecParams,
 * text parameters, planned per call), so the figures are the SQL side of an HTTP search, without
 * the HTTP and JSON parsing around it. Printed per kind: queries/s, p50, p99 and max in ms, and
 * p99 and throughput as a ratio to the lookup.
 *
 * Usage: bench-search [seconds per query kind, default 5]. Uses TIXMO_DB_URL (a database that
 * may be written to: scripts/bench makes a fresh one).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/buf.h"
#include "tix/config.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/mem.h"
#include "tix/store.h"

#include "gateway.h"
#include "projection.h"
#include "search.h"
#include "search_sql.h"

#define N_EVENTS      100000
#define N_VENUES      2000
#define MAX_SAMPLES   2000000
#define SCHEMA        "rm_search_v1"
#define TARGET_P99_MS 20.0

static const struct {
    const char *name;
    double lat, lon;
} cities[] = {
    {"Paris", 48.8566, 2.3522},     {"Lyon", 45.7640, 4.8357},
    {"Berlin", 52.5200, 13.4050},   {"Munich", 48.1351, 11.5820},
    {"Madrid", 40.4168, -3.7038},   {"Barcelona", 41.3874, 2.1686},
    {"Rome", 41.9028, 12.4964},     {"Milan", 45.4642, 9.1900},
    {"London", 51.5072, -0.1276},   {"Manchester", 53.4808, -2.2426},
    {"Amsterdam", 52.3676, 4.9041}, {"Brussels", 50.8503, 4.3517},
    {"Vienna", 48.2082, 16.3738},   {"Prague", 50.0755, 14.4378},
    {"Warsaw", 52.2297, 21.0122},   {"Lisbon", 38.7223, -9.1393},
    {"Dublin", 53.3498, -6.2603},   {"Stockholm", 59.3293, 18.0686},
    {"New York", 40.7128, -74.006}, {"Chicago", 41.8781, -87.6298},
};

static const char *const adjectives[] = {
    "Midnight", "Golden",  "Electric",  "Silent",  "Wild",    "Velvet",   "Crimson", "Broken",
    "Neon",     "Frozen",  "Hidden",    "Burning", "Lunar",   "Solar",    "Savage",  "Gentle",
    "Hollow",   "Radiant", "Restless",  "Sacred",  "Scarlet", "Shadow",   "Silver",  "Thunder",
    "Urban",    "Vintage", "Wandering", "Amber",   "Blue",    "Cosmic",   "Crystal", "Distant",
    "Emerald",  "Fading",  "Iron",      "Jade",    "Magic",   "Northern", "Ocean",   "Paper"};
static const char *const nouns[] = {
    "Quartet",   "Orchestra", "Festival", "Nights",   "Sessions", "Collective", "Ensemble",
    "Choir",     "Parade",    "Carnival", "Revue",    "Gala",     "Rhapsody",   "Symphony",
    "Ballad",    "Echoes",    "Dreams",   "Voyage",   "Garden",   "Harbor",     "Kingdom",
    "Lanterns",  "Machines",  "Mirrors",  "Pilots",   "Rivers",   "Saints",     "Sirens",
    "Strangers", "Tigers",    "Wolves",   "Wires",    "Bridges",  "Castles",    "Comets",
    "Deserts",   "Engines",   "Forests",  "Horizons", "Islands"};
static const char *const genres[] = {"jazz",    "rock",    "opera",  "techno",  "blues",
                                     "folk",    "ballet",  "comedy", "theatre", "circus",
                                     "hip-hop", "classic", "soul",   "reggae",  "punk",
                                     "metal",   "gospel",  "swing",  "salsa",   "tango"};
static const char *const categories[] = {"concert", "festival",   "theatre",  "comedy",
                                         "sports",  "conference", "opera",    "dance",
                                         "family",  "film",       "workshop", "exhibition"};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Artists' names are two or three of these (14,400 names): diverse, as real names are, next
 * to the few genre and noun words that many events share. */
static const char *const syllables[] = {"ka", "lo",  "mir", "ta",  "ven", "sa",  "ri",   "dor",
                                        "el", "nu",  "bra", "zo",  "fin", "ga",  "mo",   "ley",
                                        "an", "tor", "vi",  "shu", "pe",  "ral", "quin", "ob"};

/* xorshift64*: the same catalog on every run. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static int pick(int n)
{
    return (int)(rnd() % (uint64_t)n);
}

static double jitter(double span)
{
    return ((double)(rnd() % 2000001) / 1000000.0 - 1.0) * span;
}

static void die(const char *what, const struct tix_err *err)
{
    fprintf(stderr, "bench-search: %s: %s\n", what, err != NULL ? err->msg : "");
    exit(1);
}

/* ---- seeding -------------------------------------------------------------------------------- */

struct catalog {
    char (*event_ids)[TIX_UUID_LEN + 1];
    char (*venue_ids)[TIX_UUID_LEN + 1];
    int64_t base_s; /* now, whole seconds */
};

static void copy_rows(struct tix_db *db, const char *copy_sql, struct tix_buf *rows)
{
    PGconn *conn = tix_db_conn(db);
    PGresult *res = PQexec(conn, copy_sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        fprintf(stderr, "bench-search: %s: %s", copy_sql, PQerrorMessage(conn));
        exit(1);
    }
    PQclear(res);
    if (PQputCopyData(conn, rows->ptr, (int)rows->len) != 1 || PQputCopyEnd(conn, NULL) != 1) {
        fprintf(stderr, "bench-search: COPY: %s", PQerrorMessage(conn));
        exit(1);
    }
    res = PQgetResult(conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "bench-search: COPY: %s", PQerrorMessage(conn));
        exit(1);
    }
    PQclear(res);
    while ((res = PQgetResult(conn)) != NULL)
        PQclear(res);
}

static void seed_venues(struct tix_db *db, struct catalog *c)
{
    struct tix_buf rows;
    tix_buf_init(&rows, 0);
    for (int i = 0; i < N_VENUES; i++) {
        int k = i % N_OF(cities);
        tix_uuid_v7(c->venue_ids[i]);
        tix_buf_printf(&rows, "%s\t%s %s Hall %d\t%s\tXX\t%.6f\t%.6f\n", c->venue_ids[i],
                       adjectives[pick(N_OF(adjectives))], cities[k].name, i, cities[k].name,
                       cities[k].lat + jitter(0.2), cities[k].lon + jitter(0.3));
    }
    copy_rows(db, "COPY " SCHEMA ".search_venues (id, name, city, country, lat, lon) FROM STDIN",
              &rows);
    tix_buf_deinit(&rows);
}

/* 70% on sale, 15% published, 5% sold out, 5% draft, 5% cancelled. */
static const char *some_status(void)
{
    int r = pick(100);
    return r < 70   ? "on_sale"
           : r < 85 ? "published"
           : r < 90 ? "sold_out"
           : r < 95 ? "draft"
                    : "cancelled";
}

/* A random artist's name, capitalized, into out. */
static void artist(char out[32])
{
    int n = 2 + pick(2);
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        strncat(out, syllables[pick(N_OF(syllables))], 31 - strlen(out));
    out[0] = (char)(out[0] - 'a' + 'A');
}

static void event_row(struct tix_buf *rows, const struct catalog *c, int i, const char *org)
{
    char who[32];
    artist(who);
    const char *adj = adjectives[pick(N_OF(adjectives))], *noun = nouns[pick(N_OF(nouns))];
    const char *genre = genres[pick(N_OF(genres))];
    int venue = pick(N_VENUES);
    char starts[32], ends[32];
    int64_t start = c->base_s + 3600 + (int64_t)pick(730 * 24) * 3600;
    tix_time_format(start * 1000000, starts);
    tix_time_format((start + 3 * 3600) * 1000000, ends);
    tix_buf_printf(rows, "%s\t%s\t", c->event_ids[i], org);
    if (pick(20) == 0)
        tix_buf_puts(rows, "\\N"); /* online */
    else
        tix_buf_puts(rows, c->venue_ids[venue]);
    tix_buf_printf(rows,
                   "\t%s %s %s\tAn evening of %s with the %s %s in %s.\t%s\t{%s,%s}\t%s\t%s\t%s"
                   "\t%s\n",
                   who, noun, genre, genre, adj, noun, cities[venue % N_OF(cities)].name,
                   categories[pick(N_OF(categories))], genre, adj, some_status(),
                   pick(20) == 0 ? "private" : "public", starts, ends);
}

static void seed_events(struct tix_db *db, struct catalog *c)
{
    char org[TIX_UUID_LEN + 1];
    tix_uuid_v7(org);
    struct tix_buf rows;
    tix_buf_init(&rows, 0);
    for (int i = 0; i < N_EVENTS; i++) {
        tix_uuid_v7(c->event_ids[i]);
        event_row(&rows, c, i, org);
    }
    copy_rows(db,
              "COPY " SCHEMA ".search_events (id, organization_id, venue_id, name, description,"
              " category, tags, status, visibility, starts_at, ends_at) FROM STDIN",
              &rows);
    tix_buf_deinit(&rows);
}

/* 0 to 3 ticket types per event: one in ten free, the rest 5 to 250 in major units; one in five
 * with an early-bird step 30% cheaper until a day ahead; one in ten hidden. */
static void seed_ticket_types(struct tix_db *db, const struct catalog *c)
{
    struct tix_buf rows;
    tix_buf_init(&rows, 0);
    char until[32], id[TIX_UUID_LEN + 1];
    tix_time_format((c->base_s + 86400) * 1000000, until);
    for (int i = 0; i < N_EVENTS; i++) {
        for (int n = pick(4); n > 0; n--) {
            int64_t price = pick(10) == 0 ? 0 : (5 + pick(246)) * 100;
            tix_uuid_v7(id);
            tix_buf_printf(&rows, "%s\t%s\t%" PRId64 "\t", c->event_ids[i], id, price);
            if (price > 0 && pick(5) == 0)
                tix_buf_printf(&rows, "[{\"price_minor\": %" PRId64 ", \"until\": \"%s\"}]",
                               price * 7 / 10, until);
            else
                tix_buf_puts(&rows, "\\N");
            tix_buf_printf(&rows, "\t%s\n", pick(10) == 0 ? "t" : "f");
        }
    }
    copy_rows(db,
              "COPY " SCHEMA ".search_ticket_types (event_id, id, price_minor, tiers, hidden)"
              " FROM STDIN",
              &rows);
    tix_buf_deinit(&rows);
}

/* The hit rows and the name words, as the projection keeps them (its own statements), then
 * VACUUM and ANALYZE (what autovacuum does to a settled read model). */
static void seed_hits(struct tix_db *db, const struct catalog *c)
{
    char now[32], sql[2048];
    tix_time_format(c->base_s * 1000000, now);
    const char *params[] = {now};
    struct tix_err err;
    if (tix_db_script(db, "SET search_path = " SCHEMA ", public", &err) != TIX_OK ||
        tix_db_exec(db, tix_search_hits_sql, 1, params, NULL, &err) != TIX_OK ||
        tix_db_script(db, tix_search_words_sql, &err) != TIX_OK ||
        tix_db_script(db, "RESET search_path", &err) != TIX_OK)
        die("hits", &err);
    static const char *const tables[] = {"search_events", "search_venues", "search_ticket_types",
                                         "search_hits", "search_words"};
    for (int i = 0; i < N_OF(tables); i++) {
        snprintf(sql, sizeof(sql), "VACUUM ANALYZE " SCHEMA ".%s", tables[i]);
        if (tix_db_script(db, sql, &err) != TIX_OK)
            die("vacuum", &err);
    }
}

static void seed(struct tix_db *db, struct catalog *c)
{
    struct tix_err err;
    int partitions = 0;
    if (tix_store_partitions(db, &partitions, &err) != TIX_OK ||
        tix_projection_prepare(db, &tix_projection_search, 1, partitions, &err) != TIX_OK)
        die("prepare the search read model", &err);
    if (tix_db_script(db,
                      "TRUNCATE " SCHEMA ".search_events, " SCHEMA ".search_venues, " SCHEMA
                      ".search_sessions, " SCHEMA ".search_ticket_types, " SCHEMA
                      ".search_hits, " SCHEMA ".search_words",
                      &err) != TIX_OK)
        die("truncate", &err);
    int64_t t0 = tix_now_us();
    seed_venues(db, c);
    seed_events(db, c);
    seed_ticket_types(db, c);
    seed_hits(db, c);
    printf("seeded %d events and %d venues in %.1f s (COPY, hits, VACUUM ANALYZE)\n", N_EVENTS,
           N_VENUES, (double)(tix_now_us() - t0) / 1e6);
}

/* ---- measuring ------------------------------------------------------------------------------ */

/* One query kind: fills params (text; up to 14) for a fresh random query. */
struct kind {
    const char *name;
    const char *sql;
    const char *fallback; /* run as the gateway does when sql's total is 0, or NULL */
    int n_params;
    void (*make)(const struct catalog *c, char buf[][64], const char **params);
};

static void make_lookup(const struct catalog *c, char buf[][64], const char **params)
{
    (void)buf;
    params[0] = c->event_ids[pick(N_EVENTS)];
}

static void search_defaults(char buf[][64], const char **params)
{
    for (int i = 0; i < TIX_SEARCH_EVENTS_PARAMS; i++)
        params[i] = NULL;
    snprintf(buf[5], 64, "20");
    snprintf(buf[6], 64, "0");
    snprintf(buf[14], 64, "-1");
    snprintf(buf[15], 64, "-1");
    params[5] = buf[5];
    params[6] = buf[6];
    params[14] = buf[14];
    params[15] = buf[15];
}

static void make_full_text(const struct catalog *c, char buf[][64], const char **params)
{
    (void)c;
    search_defaults(buf, params);
    int r = pick(3);
    if (r == 0) /* about 4,000 live matches: the heavy case */
        snprintf(buf[0], 64, "%s", genres[pick(N_OF(genres))]);
    else if (r == 1) /* an artist: a handful */
        artist(buf[0]);
    else /* about 100 */
        snprintf(buf[0], 64, "%s %s", nouns[pick(N_OF(nouns))], genres[pick(N_OF(genres))]);
    params[0] = buf[0];
}

/* An artist's first 3..8 letters, one of them changed half of the time: typing, with typos. */
static void make_suggest(const struct catalog *c, char buf[][64], const char **params)
{
    (void)c;
    char w[32];
    artist(w);
    int len = 3 + pick(6);
    snprintf(buf[0], 64, "%.*s", len, w);
    len = (int)strlen(buf[0]);
    if (len > 3 && pick(2) == 0)
        buf[0][1 + pick(len - 1)] = (char)('a' + pick(26));
    char *prefix = tix_search_like_escape(buf[0]);
    snprintf(buf[1], 64, "%s", prefix);
    free(prefix);
    params[0] = buf[0];
    params[1] = buf[1];
}

static void make_facets(const struct catalog *c, char buf[][64], const char **params)
{
    search_defaults(buf, params);
    snprintf(buf[1], 64, "%s", categories[pick(N_OF(categories))]);
    snprintf(buf[2], 64, "%s", cities[pick(N_OF(cities))].name);
    int64_t from = c->base_s + (int64_t)pick(700) * 86400;
    tix_time_format(from * 1000000, buf[3]);
    tix_time_format((from + 30 * 86400) * 1000000, buf[4]);
    params[1] = buf[1];
    params[2] = buf[2];
    params[3] = buf[3];
    params[4] = buf[4];
}

/* A price bucket's range (20 to 50, say) and a 30-day window, no text. */
static void make_price(const struct catalog *c, char buf[][64], const char **params)
{
    static const int64_t bounds[] = {0, 0, 1, 1999, 2000, 4999, 5000, 9999, 10000, -1};
    search_defaults(buf, params);
    int b = pick(5);
    snprintf(buf[14], 64, "%" PRId64, bounds[2 * b]);
    snprintf(buf[15], 64, "%" PRId64, bounds[2 * b + 1]);
    int64_t from = c->base_s + (int64_t)pick(700) * 86400;
    tix_time_format(from * 1000000, buf[3]);
    tix_time_format((from + 30 * 86400) * 1000000, buf[4]);
    params[3] = buf[3];
    params[4] = buf[4];
}

static void near_params(char buf[][64], const char **params, int at)
{
    int k = pick(N_OF(cities));
    struct tix_gw_geo_box box;
    double lat = cities[k].lat + jitter(0.1), lon = cities[k].lon + jitter(0.1), r = 10;
    tix_gw_geo_box(lat, lon, r, &box);
    const double values[] = {lat, lon, r, box.min_lat, box.max_lat, box.min_lon, box.max_lon};
    for (int i = 0; i < 7; i++) {
        snprintf(buf[at + i], 64, "%.7f", values[i]);
        params[at + i] = buf[at + i];
    }
}

static void make_near(const struct catalog *c, char buf[][64], const char **params)
{
    (void)c;
    search_defaults(buf, params);
    near_params(buf, params, 7);
}

static void make_venues(const struct catalog *c, char buf[][64], const char **params)
{
    (void)c;
    for (int i = 0; i < TIX_SEARCH_VENUES_PARAMS; i++)
        params[i] = NULL;
    snprintf(buf[2], 64, "20");
    snprintf(buf[3], 64, "0");
    params[2] = buf[2];
    params[3] = buf[3];
    if (pick(2) == 0) {
        snprintf(buf[0], 64, "%s hall", adjectives[pick(N_OF(adjectives))]);
        params[0] = buf[0];
    } else {
        near_params(buf, params, 4);
    }
}

static const struct kind kinds[] = {
    {"lookup by id (baseline)",
     "SELECT json_build_object('id', e.id, 'name', e.name, 'status', e.status,"
     " 'starts_at', e.starts_at)::text FROM rm.search_events e WHERE e.id = $1",
     NULL, 1, make_lookup},
    {"full text", tix_search_events_sql, tix_search_events_fuzzy_sql, TIX_SEARCH_EVENTS_PARAMS,
     make_full_text},
    {"autocomplete (typo)", tix_search_suggest_sql, NULL, TIX_SEARCH_SUGGEST_PARAMS, make_suggest},
    {"filtered facets", tix_search_events_sql, NULL, TIX_SEARCH_EVENTS_PARAMS, make_facets},
    {"price range (30 days)", tix_search_events_sql, NULL, TIX_SEARCH_EVENTS_PARAMS, make_price},
    {"near a point (10 km)", tix_search_events_sql, NULL, TIX_SEARCH_EVENTS_PARAMS, make_near},
    {"venues", tix_search_venues_sql, NULL, TIX_SEARCH_VENUES_PARAMS, make_venues},
};

struct figures {
    double qps, p50_ms, p99_ms, max_ms;
    long n;
};

static int by_value_cb(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Runs one query of kind k (and its fallback when it found nothing, as the gateway does). */
static void run(struct tix_db *db, const struct kind *k, const char *sql, const char **params)
{
    PGresult *res = NULL;
    struct tix_err err;
    if (tix_db_exec(db, sql, k->n_params, params, &res, &err) != TIX_OK)
        die(k->name, &err);
    if (PQntuples(res) != 1)
        die(k->name, NULL);
    bool is_empty = false;
    if (sql == k->sql && k->fallback != NULL) {
        json_t *doc = tix_json_parse(PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)), NULL);
        is_empty = json_integer_value(json_object_get(doc, "total")) == 0;
        json_decref(doc);
    }
    PQclear(res);
    if (is_empty)
        run(db, k, k->fallback, params);
}

static struct figures measure(struct tix_db *db, const struct catalog *c, const struct kind *k,
                              double seconds, int64_t *samples)
{
    char buf[16][64];
    const char *params[16];
    long n = 0;
    int64_t start = tix_now_us(), end = start + (int64_t)(seconds * 1e6), now = start;
    while (now < end && n < MAX_SAMPLES) {
        k->make(c, buf, params);
        run(db, k, k->sql, params);
        int64_t after = tix_now_us();
        samples[n++] = after - now;
        now = after;
    }
    qsort(samples, (size_t)n, sizeof(samples[0]), by_value_cb);
    struct figures f = {.n = n};
    f.qps = (double)n / ((double)(now - start) / 1e6);
    f.p50_ms = (double)samples[n / 2] / 1000.0;
    f.p99_ms = (double)samples[n * 99 / 100] / 1000.0;
    f.max_ms = (double)samples[n - 1] / 1000.0;
    return f;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? strtod(argv[1], NULL) : 5;
    if (seconds <= 0 || seconds > 3600) {
        fprintf(stderr, "usage: bench-search [seconds per query kind, default 5]\n");
        return 2;
    }
    const char *url = getenv("TIXMO_DB_URL");
    struct tix_db *db = NULL;
    struct tix_err err;
    if (url == NULL || tix_db_open(url, &db, &err) != TIX_OK)
        die("TIXMO_DB_URL", url != NULL ? &err : NULL);
    struct catalog c = {.base_s = tix_now_us() / 1000000};
    c.event_ids = tix_xcalloc(N_EVENTS, sizeof(c.event_ids[0]));
    c.venue_ids = tix_xcalloc(N_VENUES, sizeof(c.venue_ids[0]));
    seed(db, &c);
    int64_t *samples = tix_xcalloc(MAX_SAMPLES, sizeof(samples[0]));
    printf("%-26s %9s %9s %9s %9s %11s %10s\n", "query", "q/s", "p50 ms", "p99 ms", "max ms",
           "p99/lookup", "q/s ratio");
    struct figures base = {0};
    bool is_met = true;
    for (int i = 0; i < N_OF(kinds); i++) {
        struct figures f = measure(db, &c, &kinds[i], seconds, samples);
        if (i == 0)
            base = f;
        else
            is_met = is_met && f.p99_ms < TARGET_P99_MS;
        printf("%-26s %9.0f %9.2f %9.2f %9.2f %10.1fx %9.1f%%\n", kinds[i].name, f.qps, f.p50_ms,
               f.p99_ms, f.max_ms, f.p99_ms / base.p99_ms, 100.0 * f.qps / base.qps);
    }
    printf("target: every search p99 under %.0f ms: %s\n", TARGET_P99_MS,
           is_met ? "met" : "MISSED");
    free(samples);
    free(c.event_ids);
    free(c.venue_ids);
    tix_db_close(db);
    return 0;
}
