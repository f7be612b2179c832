/* demo_catalog.c - the demo catalog: two venues with seating charts, a concert on sale, a
 * three-day festival, a weekly jazz series and a draft
 *
 * Everything is sent as commands with ids derived from fixed names (tix_cli_demo_send), so a
 * second load changes nothing. Times are UTC instants; the venues' zone is Europe/Berlin.
 */
#include <stdio.h>
#include <string.h>

#include "tix/bus.h"

#include "cli.h"

#define ARENA_SECTIONS 6
#define ARENA_ROWS     20
#define ARENA_SEATS    20
#define ARENA_FLOOR    200

/* 6 sections x 20 rows x 20 seats around a 200-person standing floor: 2,600 places. */
static json_t *arena_chart(void)
{
    json_t *sections = json_array();
    for (int s = 0; s < ARENA_SECTIONS; s++) {
        json_t *rows = json_array();
        for (int r = 0; r < ARENA_ROWS; r++) {
            json_t *seats = json_array();
            for (int n = 0; n < ARENA_SEATS; n++) {
                char id[48], label[16];
                snprintf(id, sizeof(id), "%c-%d-%d", 'A' + s, r + 1, n + 1);
                snprintf(label, sizeof(label), "%d", n + 1);
                json_array_append_new(seats, json_pack("{ss ss si si sb}", "id", id, "label", label,
                                                       "x", s * 220 + n * 10, "y", r * 12,
                                                       "accessible", r == 0 && n < 2));
            }
            char id[32], label[16];
            snprintf(id, sizeof(id), "%c-%d", 'A' + s, r + 1);
            snprintf(label, sizeof(label), "%d", r + 1);
            json_array_append_new(
                rows, json_pack("{ss ss so}", "id", id, "label", label, "seats", seats));
        }
        char id[4] = {(char)('A' + s), '\0'}, name[24];
        snprintf(name, sizeof(name), "Block %c", 'A' + s);
        json_array_append_new(sections,
                              json_pack("{ss ss ss so}", "id", id, "name", name, "category",
                                        s < 2 ? "premium" : "standard", "rows", rows));
    }
    return json_pack("{so s[{ss ss si ss}] si}", "sections", sections, "ga_areas", "id", "floor",
                     "name", "Standing floor", "capacity", ARENA_FLOOR, "category", "standing",
                     "capacity", ARENA_SECTIONS * ARENA_ROWS * ARENA_SEATS + ARENA_FLOOR);
}

static int venue(struct tix_bus *bus, const struct tix_config *cfg, const char *slug,
                 const char *org_slug, const char *name, const char *line1, int capacity,
                 json_t *chart)
{
    char id[37], org[37], cmd[96];
    tix_cli_demo_id(slug, id);
    tix_cli_demo_id(org_slug, org);
    snprintf(cmd, sizeof(cmd), "venue %s", slug);
    int bad = tix_cli_demo_send(
        bus, cfg, cmd, "venue.create", id,
        json_pack("{ss ss ss s{ss ss ss ss} ss si s{sf sf} s{si sb sb}}", "venue_id", id,
                  "organization_id", org, "name", name, "address", "line1", line1, "city", "Berlin",
                  "postal_code", "10243", "country", "DE", "timezone", "Europe/Berlin", "capacity",
                  capacity, "location", "lat", 52.5051, "lon", 13.4438, "accessibility",
                  "wheelchair_spaces", 12, "step_free", 1, "hearing_loop", 1));
    snprintf(cmd, sizeof(cmd), "chart %s", slug);
    if (!bad)
        bad = tix_cli_demo_send(bus, cfg, cmd, "venue.publish_chart", id,
                                json_pack("{ss so}", "venue_id", id, "chart", chart));
    else
        json_decref(chart);
    return bad;
}

struct demo_event {
    const char *slug, *org, *venue, *name, *category, *description;
    int capacity;
    int n_sessions;
    const char *first_start; /* "YYYY-MM-DDTHH:MM:SSZ" */
    int days_between;        /* 1: a festival's days, 7: a weekly series */
    int hours;
    const char *lifecycle[2]; /* commands after create: publish, open_sales */
};

static const struct demo_event events[] = {
    {"aurora-live-2027",
     "northern-lights",
     "riverside-arena-venue",
     "Aurora Live 2027",
     "concert",
     "The northern lights tour, one night only.",
     2600,
     1,
     "2027-03-12T19:00:00Z",
     1,
     3,
     {"event.publish", "event.open_sales"}},
    {"sunset-festival-2027",
     "sunset-festival",
     "riverside-arena-venue",
     "Sunset Festival 2027",
     "festival",
     "Three days of music by the river.",
     2600,
     3,
     "2027-07-09T13:00:00Z",
     1,
     9,
     {"event.publish", "event.open_sales"}},
    {"jazz-at-the-cellar",
     "northern-lights",
     "the-cellar-venue",
     "Jazz at the Cellar",
     "jazz",
     "Every Thursday: a quartet, a late set, no phones.",
     450,
     8,
     "2027-01-07T19:00:00Z",
     7,
     3,
     {"event.publish", NULL}},
    {"unannounced-tour",
     "northern-lights",
     "riverside-arena-venue",
     "Unannounced Tour",
     "concert",
     "Still a secret.",
     2600,
     1,
     "2027-10-01T19:00:00Z",
     1,
     3,
     {NULL, NULL}},
};

/* start + days (at most a few weeks into a month of 28+ days is fine for the demo dates) */
static void instant(const char *start, int add_days, int add_hours, char out[24])
{
    int y, mo, d, h;
    sscanf(start, "%4d-%2d-%2dT%2d", &y, &mo, &d, &h);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    d += add_days;
    h += add_hours;
    d += h / 24;
    h %= 24;
    while (d > mdays[mo - 1]) {
        d -= mdays[mo - 1];
        if (++mo > 12) {
            mo = 1;
            y++;
        }
    }
    snprintf(out, 24, "%04d-%02d-%02dT%02d:00:00Z", y, mo, d, h);
}

static json_t *sessions_of(const struct demo_event *e)
{
    json_t *sessions = json_array();
    for (int i = 0; i < e->n_sessions; i++) {
        char name[96], id[37], starts[24], ends[24];
        snprintf(name, sizeof(name), "%s session %d", e->slug, i + 1);
        tix_cli_demo_id(name, id);
        instant(e->first_start, i * e->days_between, 0, starts);
        instant(e->first_start, i * e->days_between, e->hours, ends);
        snprintf(name, sizeof(name), "%s %d", e->n_sessions > 1 ? "Day" : "Show", i + 1);
        json_array_append_new(sessions, json_pack("{ss ss ss ss}", "session_id", id, "name", name,
                                                  "starts_at", starts, "ends_at", ends));
    }
    return sessions;
}

static int event(struct tix_bus *bus, const struct tix_config *cfg, const struct demo_event *e)
{
    char id[37], org[37], venue_id[37], cmd[96], last_end[24];
    tix_cli_demo_id(e->slug, id);
    tix_cli_demo_id(e->org, org);
    tix_cli_demo_id(e->venue, venue_id);
    instant(e->first_start, (e->n_sessions - 1) * e->days_between, e->hours, last_end);
    snprintf(cmd, sizeof(cmd), "event %s", e->slug);
    int bad = tix_cli_demo_send(
        bus, cfg, cmd, "event.create", id,
        json_pack("{ss ss ss si ss ss ss s[ss] ss ss si ss ss so}", "event_id", id,
                  "organization_id", org, "venue_id", venue_id, "chart_version", 1, "name", e->name,
                  "description", e->description, "category", e->category, "tags", e->category,
                  "berlin", "timezone", "Europe/Berlin", "visibility", "public", "capacity",
                  e->capacity, "sales_start", "2026-11-01T00:00:00Z", "sales_end", last_end,
                  "sessions", sessions_of(e)));
    for (int i = 0; i < 2 && !bad && e->lifecycle[i] != NULL; i++) {
        snprintf(cmd, sizeof(cmd), "%s %s", e->lifecycle[i], e->slug);
        bad = tix_cli_demo_send(bus, cfg, cmd, e->lifecycle[i], id,
                                json_pack("{ss}", "event_id", id));
    }
    return bad;
}

/* One ticket type of a demo event; pool and categories may be NULL, quantity 0 means none. */
struct demo_type {
    const char *event, *name, *kind;
    int price_minor, quantity;
    const char *pool;       /* a pool's name, made an id like the rest */
    const char *categories; /* one seat category of the arena chart */
};

static const struct demo_type types[] = {
    {"aurora-live-2027", "Early bird floor", "early_bird", 3900, 50, "aurora floor", NULL},
    {"aurora-live-2027", "Floor", "general_admission", 4900, 0, "aurora floor", NULL},
    {"aurora-live-2027", "Premium seat", "reserved", 8900, 0, NULL, "premium"},
    {"aurora-live-2027", "Seat", "reserved", 5900, 0, NULL, "standard"},
    {"sunset-festival-2027", "Day ticket", "general_admission", 6900, 2000, NULL, NULL},
    {"sunset-festival-2027", "Festival pass", "season_pass", 17900, 400, NULL, NULL},
};

/* The sale of the on-sale demo events: fees and tax, the shared floor, the ticket types. */
static int sale(struct tix_bus *bus, const struct tix_config *cfg)
{
    static const char *const on_sale[] = {"aurora-live-2027", "sunset-festival-2027"};
    int bad = 0;
    char id[37], pool[37], type_id[37], cmd[128];
    for (size_t i = 0; i < 2 && !bad; i++) {
        tix_cli_demo_id(on_sale[i], id);
        snprintf(cmd, sizeof(cmd), "configure %s", on_sale[i]);
        bad = tix_cli_demo_send(bus, cfg, cmd, "stock.configure", id,
                                json_pack("{ss si si si}", "event_id", id, "fee_fixed_minor", 150,
                                          "fee_percent_bp", 250, "tax_percent_bp", 1900));
    }
    tix_cli_demo_id("aurora-live-2027", id);
    tix_cli_demo_id("aurora floor", pool);
    if (!bad)
        bad = tix_cli_demo_send(bus, cfg, "pool aurora floor", "pool.define", id,
                                json_pack("{ss ss ss si}", "event_id", id, "pool_id", pool, "name",
                                          "Standing floor", "capacity", ARENA_FLOOR));
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]) && !bad; i++) {
        const struct demo_type *t = &types[i];
        tix_cli_demo_id(t->event, id);
        snprintf(cmd, sizeof(cmd), "type %s %s", t->event, t->name);
        tix_cli_demo_id(cmd, type_id);
        json_t *p =
            json_pack("{ss ss ss ss si ss}", "event_id", id, "ticket_type_id", type_id, "name",
                      t->name, "kind", t->kind, "price_minor", t->price_minor, "currency", "EUR");
        if (t->quantity > 0)
            json_object_set_new(p, "quantity", json_integer(t->quantity));
        if (t->pool != NULL) {
            tix_cli_demo_id(t->pool, pool);
            json_object_set_new(p, "pool_id", json_string(pool));
        }
        if (t->categories != NULL)
            json_object_set_new(p, "categories", json_pack("[s]", t->categories));
        bad = tix_cli_demo_send(bus, cfg, cmd, "ticket_type.create", id, p);
    }
    return bad;
}

int tix_cli_demo_catalog(struct tix_bus *bus, const struct tix_config *cfg)
{
    int bad = venue(bus, cfg, "riverside-arena-venue", "riverside-arena", "Riverside Arena",
                    "Muehlenstrasse 12", 2600, arena_chart());
    if (!bad)
        bad = venue(bus, cfg, "the-cellar-venue", "riverside-arena", "The Cellar",
                    "Revaler Strasse 99", 450,
                    json_pack("{s[{ss ss si}] si}", "ga_areas", "id", "room", "name", "The room",
                              "capacity", 450, "capacity", 450));
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]) && !bad; i++)
        bad = event(bus, cfg, &events[i]);
    if (!bad)
        bad = sale(bus, cfg);
    return bad;
}
