/* stock_test.c - the sale's aggregate (docs/sale.md) driven like the processor
 *
 * Runs commands through the shared in-memory world (support/world.h): an event is created,
 * published and put on sale through the event aggregate, then the stock commands name two
 * streams (event-<id>, stock-<id>) and evolve the stock state. After the interesting steps
 * check_invariants() recomputes every counter and seat owner from the holds and orders and
 * compares, and checks nothing is oversold; the random test does that after every step of a long
 * mixed sequence, then rebuilds the state from the log and compares the counters again.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/json.h"
#include "world.h"

#include "event.h"
#include "stock.h"
#include "stock_internal.h"

#define EV       "0190c1e2-7a3b-7c4d-8e5f-00000000e001"
#define STOCK    TIX_STOCK_STREAM_PREFIX EV
#define ORG      "0190c1e2-7a3b-7c4d-8e5f-0123456789ab"
#define VENUE    "0190c1e2-7a3b-7c4d-8e5f-00000000a001"
#define SES1     "0190c1e2-0000-7000-8000-000000000011"
#define SES2     "0190c1e2-0000-7000-8000-000000000012"
#define SES_X    "0190c1e2-0000-7000-8000-000000000019"
#define A_ORG    "user:0190c1e2-0000-7000-8000-000000000001"
#define B1       "0190c1e2-0000-7000-8000-0000000000b1"
#define B2       "0190c1e2-0000-7000-8000-0000000000b2"
#define A_B1     "user:" B1
#define A_B2     "user:" B2
#define A_CLOCK  "system:clock"
#define A_PAY    "system:payments"
#define A_CAT    "system:catalog"
#define T_GA     "0190c1e2-0000-7000-8000-0000000000a1"
#define T_EARLY  "0190c1e2-0000-7000-8000-0000000000a2"
#define T_RES    "0190c1e2-0000-7000-8000-0000000000a3"
#define T_VIP    "0190c1e2-0000-7000-8000-0000000000a4"
#define T_SEASON "0190c1e2-0000-7000-8000-0000000000a5"
#define T_BUNDLE "0190c1e2-0000-7000-8000-0000000000a6"
#define T_GROUP  "0190c1e2-0000-7000-8000-0000000000a7"
#define T_PREM   "0190c1e2-0000-7000-8000-0000000000a8"
#define POOL     "0190c1e2-0000-7000-8000-0000000000f1"
#define H1       "0190c1e2-0000-7000-8000-000000000d01"
#define H2       "0190c1e2-0000-7000-8000-000000000d02"
#define H3       "0190c1e2-0000-7000-8000-000000000d03"
#define O1       "0190c1e2-0000-7000-8000-000000000c01"
#define O2       "0190c1e2-0000-7000-8000-000000000c02"
#define SEED     "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

#define EARLY    "2026-06-01T00:00:00Z"
#define T1_START "2026-12-31T19:30:00Z"
#define T1_END   "2026-12-31T23:00:00Z"
#define T2_START "2027-01-01T19:30:00Z"
#define T2_END   "2027-01-01T23:00:00Z"

/* ---- the world ---------------------------------------------------------------------------- */

static int64_t secs(const char *instant)
{
    int64_t s = -1;
    cr_assert(tix_event_parse_instant(instant, &s), "bad test instant %s", instant);
    return s;
}

static void at(const char *instant)
{
    tix_world_set_now(secs(instant) * 1000000);
}

static void later(int64_t seconds)
{
    tix_world_set_now(tix_world_now() + seconds * 1000000);
}

static void setup(void)
{
    tix_world_reset(0);
    at(EARLY);
}

TestSuite(stock, .init = setup, .fini = tix_world_teardown);

/* JSON from a format where ' stands for " (test payloads read better that way). */
static json_t *jf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *jf(const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    for (char *p = buf; *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    return tix_json_of(buf);
}

static const struct tix_stock_state *stock(void)
{
    return tix_world_stream(STOCK)->state;
}

static const struct tix_event_state *ev(void)
{
    return tix_world_stream(TIX_EVENT_STREAM_PREFIX EV)->state;
}

static void ok(const char *actor, const char *type, json_t *payload)
{
    tix_world_accept_quietly(EV, type, actor, payload);
}

/* Runs an accepted command and returns its decision (deinit it). */
static struct tix_decision run_ok(const char *actor, const char *type, json_t *payload)
{
    struct tix_decision d;
    tix_world_accept(EV, type, actor, payload, &d);
    return d;
}

static void no_events(const char *actor, const char *type, json_t *payload)
{
    tix_world_accept_no_events(EV, type, actor, payload);
}

static void rejected(const char *actor, const char *type, json_t *payload, const char *code,
                     const char *field)
{
    tix_world_expect_rejected(EV, type, actor, payload, code, field);
}

static void invalid(const char *actor, const char *type, json_t *payload, const char *field)
{
    tix_world_expect_invalid(EV, type, actor, payload, field);
}

/* ---- givens ------------------------------------------------------------------------------- */

/* An event with a venue (chart 1), capacity cap, SES1 and SES2 (capacity cap2 when > 0). */
static void given_event(int cap, int cap2, bool is_on_sale)
{
    char extra[64] = "";
    if (cap2 > 0)
        snprintf(extra, sizeof(extra), ", 'capacity': %d", cap2);
    ok(A_ORG, "event.create",
       jf("{'event_id':'%s','organization_id':'%s','venue_id':'%s','chart_version':1,"
          "'name':'Gala','category':'music','timezone':'Europe/Berlin','visibility':'public',"
          "'capacity':%d,'sessions':[{'session_id':'%s','starts_at':'%s','ends_at':'%s'},"
          "{'session_id':'%s','starts_at':'%s','ends_at':'%s'%s}]}",
          EV, ORG, VENUE, cap, SES1, T1_START, T1_END, SES2, T2_START, T2_END, extra));
    ok(A_ORG, "event.publish", jf("{'event_id':'%s'}", EV));
    if (is_on_sale)
        ok(A_ORG, "event.open_sales", jf("{'event_id':'%s'}", EV));
}

/* Section A: rows 1 and 2 of 6 seats (A-r-1..A-r-6); section B: row 1 of 4 premium seats. */
static json_t *chart_seats(void)
{
    json_t *seats = json_array();
    for (int r = 1; r <= 2; r++)
        for (int k = 1; k <= 6; k++)
            json_array_append_new(seats, jf("{'seat_id':'A-%d-%d','section':'A','row':'%d',"
                                            "'label':'%d','category':null,'accessible':false}",
                                            r, k, r, k));
    for (int k = 1; k <= 4; k++)
        json_array_append_new(seats, jf("{'seat_id':'B-1-%d','section':'B','row':'1','label':"
                                        "'%d','category':'premium','accessible':%s}",
                                        k, k, k == 1 ? "true" : "false"));
    return seats;
}

static void given_seats(void)
{
    json_t *p = jf("{'event_id':'%s','chart_version':1}", EV);
    json_object_set_new(p, "seats", chart_seats());
    ok(A_CAT, "stock.load_seats", p);
}

/* A type payload: kind, price, quantity ("null" for none) and extra members ("" or ",..."). */
static json_t *type_payload(const char *id, const char *kind, int price, const char *quantity,
                            const char *extra)
{
    return jf("{'event_id':'%s','ticket_type_id':'%s','name':'T %s','kind':'%s','price_minor':%d,"
              "'currency':'EUR','quantity':%s%s}",
              EV, id, kind, kind, price, quantity, extra);
}

static void given_type(const char *id, const char *kind, int price, const char *quantity,
                       const char *extra)
{
    ok(A_ORG, "ticket_type.create", type_payload(id, kind, price, quantity, extra));
}

static json_t *hold_payload(const char *hold, const char *session, const char *lines)
{
    return jf("{'event_id':'%s','hold_id':'%s','session_id':'%s','lines':%s}", EV, hold, session,
              lines);
}

static void hold(const char *actor, const char *id, const char *session, const char *lines)
{
    ok(actor, "hold.place", hold_payload(id, session, lines));
}

static void order(const char *actor, const char *id, const char *hold_id)
{
    ok(actor, "order.place",
       jf("{'event_id':'%s','order_id':'%s','hold_id':'%s'}", EV, id, hold_id));
}

static json_t *pay_payload(const char *order_id, const char *stripe, const char *outcome,
                           long long amount)
{
    return jf("{'event_id':'%s','order_id':'%s','stripe_event_id':'%s','outcome':'%s',"
              "'payment_intent_id':'pi_1','amount_minor':%lld,'currency':'EUR',"
              "'ticket_seed':'%s'}",
              EV, order_id, stripe, outcome, amount, SEED);
}

static int64_t total_of(const char *order_id)
{
    int o = tix_stock_find_order(stock(), order_id);
    cr_assert_geq(o, 0);
    return stock()->orders[o].total_minor;
}

static void pay(const char *order_id, const char *stripe)
{
    ok(A_PAY, "payment.apply", pay_payload(order_id, stripe, "succeeded", total_of(order_id)));
}

static const struct tix_world_event *last_event(void)
{
    return tix_world_log(tix_world_n_log() - 1);
}

/* held + sold of type id in session sid. */
static int64_t taken(const char *sid, const char *type)
{
    const struct tix_stock_state *s = stock();
    int slot = tix_stock_find_session(s, sid), t = tix_stock_find_type(s, type);
    cr_assert_geq(t, 0);
    return slot < 0 ? 0 : s->sessions[slot].type_held[t] + s->sessions[slot].type_sold[t];
}

static int64_t sold(const char *sid, const char *type)
{
    const struct tix_stock_state *s = stock();
    int slot = tix_stock_find_session(s, sid), t = tix_stock_find_type(s, type);
    return slot < 0 ? 0 : s->sessions[slot].type_sold[t];
}

/* ---- invariants --------------------------------------------------------------------------- */

static int64_t expected_tickets(const struct tix_stock_state *s, int h)
{
    int64_t n = 0;
    for (int i = 0; i < s->holds[h].n_lines; i++) {
        const struct tix_stock_line *l = &s->holds[h].lines[i];
        const struct tix_stock_type *t = &s->types[l->type];
        int64_t per = t->n_components > 0 ? 0 : 1;
        for (int k = 0; k < t->n_components; k++)
            per += t->components[k].quantity;
        n += l->n_seats > 0 ? l->n_seats : l->quantity * per;
    }
    return n;
}

/* Adds takes times sign to the expected counters (is_sold picks the column); frees takes. */
static void add_takes(const struct tix_stock_state *s, struct stock_take *takes, int n,
                      int64_t sign, bool is_sold, int64_t *types, int64_t *pools, int64_t *places)
{
    int nt = s->n_types, np = s->n_pools, col = is_sold ? 1 : 0;
    for (int i = 0; i < n; i++) {
        int slot = takes[i].session;
        cr_assert_geq(slot, 0);
        types[(slot * nt + takes[i].type) * 2 + col] += sign * takes[i].units;
        int p = s->types[takes[i].type].pool;
        if (p >= 0)
            pools[(slot * np + p) * 2 + col] += sign * takes[i].places;
        places[slot * 2 + col] += sign * takes[i].places;
    }
    free(takes);
}

/* Adds hold h's takes to the expected counters (is_sold picks the column). */
static void expect_takes(const struct tix_stock_state *s, int h, bool is_sold, int64_t *types,
                         int64_t *pools, int64_t *places)
{
    struct stock_take *takes = NULL;
    int n = 0, cap = 0;
    tix_stock_hold_takes(s, h, &takes, &n, &cap);
    add_takes(s, takes, n, 1, is_sold, types, pools, places);
}

/* Takes what the voided tickets of order o gave back off the expected sold counters. */
static void expect_voids(const struct tix_stock_state *s, int o, int64_t *types, int64_t *pools,
                         int64_t *places)
{
    const struct tix_stock_order *x = &s->orders[o];
    int ks[TIX_STOCK_TICKETS_MAX], n = 0;
    for (int k = x->first_ticket; x->n_tickets > 0 && k < x->first_ticket + x->n_tickets; k++)
        if (s->tickets[k].is_void)
            ks[n++] = k;
    cr_assert_eq(n, x->n_void);
    struct stock_take *takes = NULL;
    int nt = 0, cap = 0;
    tix_stock_void_takes(s, o, ks, n, &takes, &nt, &cap);
    add_takes(s, takes, nt, -1, true, types, pools, places);
}

/* Whether the seat of hold h's order o was given back by a refund. */
static bool is_void_seat(const struct tix_stock_state *s, int o, int seat)
{
    const struct tix_stock_order *x = &s->orders[o];
    for (int k = x->first_ticket; x->n_tickets > 0 && k < x->first_ticket + x->n_tickets; k++)
        if (s->tickets[k].seat == seat && s->tickets[k].is_void)
            return true;
    return false;
}

static bool is_selling(const struct tix_stock_order *o)
{
    return o->status == TIX_ORDER_PENDING_PAYMENT || o->status == TIX_ORDER_PAID ||
           o->status == TIX_ORDER_PARTIALLY_REFUNDED;
}

static bool hold_has_seat(const struct tix_stock_state *s, int h, int seat)
{
    for (int i = 0; i < s->holds[h].n_seats; i++)
        if (s->holds[h].seats[i] == seat)
            return true;
    return false;
}

static void check_seats(const struct tix_stock_state *s)
{
    for (int slot = 0; slot < s->n_sessions; slot++) {
        const int32_t *owner = s->sessions[slot].owner;
        for (int k = 0; owner != NULL && k < s->n_seats; k++) {
            if (owner[k] > 0) {
                int h = owner[k] - 1;
                cr_assert_eq(s->holds[h].status, TIX_HOLD_ACTIVE);
                cr_assert_eq(s->holds[h].session, slot);
                cr_assert(hold_has_seat(s, h, k));
            } else if (owner[k] < 0) {
                const struct tix_stock_order *o = &s->orders[-owner[k] - 1];
                cr_assert(is_selling(o));
                cr_assert(hold_has_seat(s, o->hold, k));
                cr_assert(!is_void_seat(s, -owner[k] - 1, k));
            }
        }
    }
    for (int h = 0; h < s->n_holds; h++) { /* every live seat is owned by its hold or order */
        const struct tix_stock_hold *hd = &s->holds[h];
        int32_t want = 0;
        if (hd->status == TIX_HOLD_ACTIVE)
            want = h + 1;
        else if (hd->order >= 0 && is_selling(&s->orders[hd->order]))
            want = -(hd->order + 1);
        for (int i = 0; want != 0 && i < hd->n_seats; i++)
            if (want > 0 || !is_void_seat(s, hd->order, hd->seats[i]))
                cr_assert_eq(s->sessions[hd->session].owner[hd->seats[i]], want,
                             "seat %s of hold %d", s->seats[hd->seats[i]].id, h);
    }
}

static void compare_counters(const struct tix_stock_state *s, const int64_t *types,
                             const int64_t *pools, const int64_t *places)
{
    const struct tix_event_state *e = ev();
    int nt = s->n_types, np = s->n_pools;
    for (int slot = 0; slot < s->n_sessions; slot++) {
        const struct tix_stock_session *x = &s->sessions[slot];
        for (int t = 0; t < nt; t++) {
            cr_assert_eq(x->type_held[t], types[(slot * nt + t) * 2], "held type %d", t);
            cr_assert_eq(x->type_sold[t], types[(slot * nt + t) * 2 + 1], "sold type %d", t);
            if (s->types[t].quantity >= 0)
                cr_assert_leq(x->type_held[t] + x->type_sold[t], s->types[t].quantity,
                              "type %d oversold", t);
        }
        for (int p = 0; p < np; p++) {
            cr_assert_eq(x->pool_held[p], pools[(slot * np + p) * 2]);
            cr_assert_eq(x->pool_sold[p], pools[(slot * np + p) * 2 + 1]);
            cr_assert_leq(x->pool_held[p] + x->pool_sold[p], s->pools[p].capacity, "pool oversold");
        }
        cr_assert_eq(x->places_held, places[slot * 2]);
        cr_assert_eq(x->places_sold, places[slot * 2 + 1]);
        int i = tix_stock_event_session(e, x->id);
        cr_assert_leq(x->places_held + x->places_sold, tix_stock_session_capacity(e, i),
                      "session %s oversold", x->id);
    }
}

/* Recomputes every counter from the holds and orders, and checks seats and tickets. */
static void check_invariants(void)
{
    const struct tix_stock_state *s = stock();
    int ns = s->n_sessions > 0 ? s->n_sessions : 1;
    int64_t *types = calloc((size_t)(ns * (s->n_types + 1) * 2), sizeof(int64_t));
    int64_t *pools = calloc((size_t)(ns * (s->n_pools + 1) * 2), sizeof(int64_t));
    int64_t *places = calloc((size_t)(ns * 2), sizeof(int64_t));
    for (int h = 0; h < s->n_holds; h++)
        if (s->holds[h].status == TIX_HOLD_ACTIVE)
            expect_takes(s, h, false, types, pools, places);
    for (int o = 0; o < s->n_orders; o++) {
        const struct tix_stock_order *x = &s->orders[o];
        if (is_selling(x) || x->n_void > 0)
            expect_takes(s, x->hold, x->status != TIX_ORDER_PENDING_PAYMENT, types, pools, places);
        if (x->n_void > 0)
            expect_voids(s, o, types, pools, places);
        if (x->status == TIX_ORDER_PAID || x->status == TIX_ORDER_PARTIALLY_REFUNDED)
            cr_assert_eq(x->n_tickets, expected_tickets(s, x->hold), "tickets of order %d", o);
    }
    compare_counters(s, types, pools, places);
    check_seats(s);
    free(types);
    free(pools);
    free(places);
}

/* ---- registry, names, ids ----------------------------------------------------------------- */

Test(stock, registry_and_streams)
{
    cr_assert_eq(tix_registry_stream_kind(STOCK), &tix_stock_stream_kind);
    const char *types[] = {
        "stock.configure",      "ticket_type.create", "ticket_type.update",  "ticket_type.delete",
        "pool.define",          "stock.load_seats",   "hold.place",          "hold.release",
        "hold.extend",          "hold.expire",        "order.place",         "order.cancel",
        "order.attach_payment", "payment.apply",      "order.mark_refunded", "ticket.check_in"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        cr_assert_not_null(tix_registry_handler(types[i]), "%s", types[i]);
    given_event(100, 0, true);
    tix_world_require_streams(2);
    no_events(A_ORG, "stock.configure", jf("{'event_id':'%s'}", EV));
    invalid(A_ORG, "stock.configure", jf("{'event_id':'%s','hold_minutes':1}", SES1), "event_id");
    invalid(A_ORG, "stock.configure", jf("{'hold_minutes':1}"), "event_id");
}

Test(stock, order_numbers_and_ticket_ids)
{
    char n[24];
    tix_stock_order_number(EV, 42, n);
    cr_assert_eq(strlen(n), 11);
    cr_assert_str_eq(n + 4, "-000042");
    for (int i = 0; i < 4; i++)
        cr_assert(n[i] >= 'A' && n[i] <= 'Z');
    char again[24];
    tix_stock_order_number(EV, 7, again);
    cr_assert_eq(memcmp(n, again, 4), 0, "the letters come from the event id only");
    /* the ticket id, computed here independently from docs/sale.md */
    unsigned char seed[32], h[32], in[32 + 36 + 4];
    sodium_hex2bin(seed, 32, SEED, 64, NULL, NULL, NULL);
    memcpy(in, seed, 32);
    memcpy(in + 32, O1, 36);
    memcpy(in + 68, "\0\0\0\3", 4);
    crypto_generichash(h, 32, in, sizeof(in), NULL, 0);
    h[6] = (unsigned char)((h[6] & 0x0f) | 0x40);
    h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);
    char want[40];
    snprintf(want, sizeof(want),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1],
             h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14],
             h[15]);
    char got[40];
    tix_stock_ticket_id(seed, O1, 3, got);
    cr_assert_str_eq(got, want);
    cr_assert_eq(got[14], '4');
    cr_assert(strchr("89ab", got[19]) != NULL);
}

/* ---- configure -------------------------------------------------------------------------- */

Test(stock, configure_merges_into_whole_settings)
{
    given_event(100, 0, false);
    struct tix_decision d =
        run_ok(A_ORG, "stock.configure",
               jf("{'event_id':'%s','hold_minutes':15,'fee_percent_bp':250,'no_single_seat_gap':"
                  "true}",
                  EV));
    tix_world_expect_event(&d, 0, STOCK, "stock.configured",
                           jf("{'event_id':'%s','settings':{'hold_minutes':15,'max_extensions':2,"
                              "'extension_minutes':5,'fee_fixed_minor':0,'fee_percent_bp':250,"
                              "'tax_percent_bp':0,'no_single_seat_gap':true}}",
                              EV));
    tix_decision_deinit(&d);
    cr_assert_eq(stock()->settings.hold_minutes, 15);
    cr_assert(stock()->settings.no_single_seat_gap);
    no_events(A_ORG, "stock.configure", jf("{'event_id':'%s','hold_minutes':15}", EV));
    invalid(A_ORG, "stock.configure", jf("{'event_id':'%s','hold_minutes':0}", EV), "hold_minutes");
    invalid(A_ORG, "stock.configure", jf("{'event_id':'%s','tax_percent_bp':10001}", EV),
            "tax_percent_bp");
    invalid(A_ORG, "stock.configure", jf("{'event_id':'%s','color':1}", EV), "color");
    rejected("nobody", "stock.configure", jf("{'event_id':'%s'}", EV), "forbidden", NULL);
    ok(A_ORG, "event.cancel", jf("{'event_id':'%s','reason':'storm'}", EV));
    rejected(A_ORG, "stock.configure", jf("{'event_id':'%s','hold_minutes':5}", EV), "not_editable",
             NULL);
}

Test(stock, commands_need_the_event)
{
    rejected(A_ORG, "stock.configure", jf("{'event_id':'%s','hold_minutes':5}", EV), "not_found",
             "event_id");
    rejected(A_B1, "hold.place",
             hold_payload(H1, SES1,
                          "[{'ticket_type_id':'" T_GA "',"
                          "'quantity':1}]"),
             "not_found", "event_id");
}

/* ---- ticket types ----------------------------------------------------------------------- */

Test(stock, type_create_records_the_whole_type)
{
    given_event(100, 0, false);
    struct tix_decision d =
        run_ok(A_ORG, "ticket_type.create",
               type_payload(T_GA, "general_admission", 2500, "50", ",'max_per_order':4"));
    tix_world_expect_event(
        &d, 0, STOCK, "ticket_type.created",
        jf("{'event_id':'%s','ticket_type':{'ticket_type_id':'%s','name':'T general_admission',"
           "'kind':'general_admission','price_minor':2500,'currency':'EUR','quantity':50,"
           "'pool_id':null,'session_ids':null,'sales_start':null,'sales_end':null,"
           "'min_per_order':1,'max_per_order':4,'hidden':false,'sections':null,"
           "'categories':null,'tiers':null,'components':null,'group_size':null,"
           "'allows_reentry':false}}",
           EV, T_GA));
    tix_world_expect_json(d.result, jf("{'ticket_type_id':'%s'}", T_GA));
    tix_decision_deinit(&d);
    rejected(A_ORG, "ticket_type.create", type_payload(T_GA, "vip", 1, "1", ""), "already_exists",
             "ticket_type_id");
    rejected(A_ORG, "ticket_type.create",
             jf("{'event_id':'%s','ticket_type_id':'%s','name':'X','kind':'vip','price_minor':1,"
                "'currency':'USD','quantity':1}",
                EV, T_VIP),
             "currency_mismatch", "currency");
    rejected(A_ORG, "ticket_type.create",
             type_payload(T_VIP, "vip", 1, "null", ",'pool_id':'" POOL "'"), "pool_not_found",
             "pool_id");
    rejected(A_ORG, "ticket_type.create",
             type_payload(T_VIP, "vip", 1, "5", ",'session_ids':['" SES_X "']"),
             "session_not_found", "session_ids[0]");
    rejected(A_ORG, "ticket_type.create",
             type_payload(T_BUNDLE, "bundle", 1, "null",
                          ",'components':[{'ticket_type_id':'" T_VIP "','quantity':1}]"),
             "invalid_component", "components[0].ticket_type_id");
}

Test(stock, type_shapes_are_checked)
{
    given_event(100, 0, false);
    const char *T = "ticket_type.create";
    invalid(A_ORG, T, type_payload(T_GA, "standing", 1, "5", ""), "kind");
    invalid(A_ORG, T, type_payload(T_GA, "reserved", 1, "5", ""), "quantity");
    invalid(A_ORG, T, type_payload(T_GA, "general_admission", 1, "null", ""), "quantity");
    invalid(A_ORG, T, type_payload(T_GA, "general_admission", -1, "5", ""), "price_minor");
    invalid(A_ORG, T, type_payload(T_GA, "bundle", 1, "null", ""), "components");
    invalid(A_ORG, T, type_payload(T_GA, "group", 1, "5", ""), "group_size");
    invalid(A_ORG, T, type_payload(T_GA, "vip", 1, "5", ",'group_size':3"), "group_size");
    invalid(A_ORG, T, type_payload(T_GA, "vip", 1, "5", ",'sections':['A']"), "sections");
    invalid(A_ORG, T, type_payload(T_GA, "vip", 1, "5", ",'min_per_order':5,'max_per_order':4"),
            "min_per_order");
    invalid(
        A_ORG, T,
        type_payload(T_GA, "vip", 1, "5",
                     ",'sales_start':'2026-07-01T00:00:00Z','sales_end':'2026-07-01T00:00:00Z'"),
        "sales_end");
    invalid(A_ORG, T,
            type_payload(T_GA, "vip", 1, "5", ",'tiers':[{'price_minor':1},{'price_minor':2}]"),
            "tiers[0]");
    invalid(A_ORG, T, type_payload(T_GA, "vip", 1, "5", ",'tiers':[{'price_minor':1,'x':1}]"),
            "tiers[0].x");
    invalid(A_ORG, T, type_payload(T_GA, "vip", 1, "5", ",'session_ids':['" SES1 "','" SES1 "']"),
            "session_ids[1]");
    invalid(A_ORG, T,
            jf("{'event_id':'%s','ticket_type_id':'%s','name':'x','kind':'vip',"
               "'price_minor':1,'currency':'eur','quantity':1}",
               EV, T_GA),
            "currency");
}

Test(stock, type_update_and_its_locks)
{
    given_event(100, 0, true);
    ok(A_ORG, "pool.define",
       jf("{'event_id':'%s','pool_id':'%s','name':'Floor','capacity':10}", EV, POOL));
    given_type(T_GA, "general_admission", 2500, "5", "");
    struct tix_decision d = run_ok(A_ORG, "ticket_type.update",
                                   jf("{'event_id':'%s','ticket_type_id':'%s','price_minor':3000,"
                                      "'max_per_order':8,'sales_end':null}",
                                      EV, T_GA));
    cr_assert_eq(d.n_events, 1);
    cr_assert_str_eq(d.events[0].type, "ticket_type.updated");
    const json_t *doc = json_object_get(d.events[0].data, "ticket_type");
    cr_assert_eq(tix_json_int(doc, "price_minor", 0), 3000);
    cr_assert_eq(tix_json_int(doc, "max_per_order", 0), 8);
    cr_assert(json_is_null(json_object_get(doc, "sales_end")));
    cr_assert_str_eq(tix_json_str(doc, "name"), "T general_admission");
    tix_decision_deinit(&d);
    cr_assert_eq(stock()->types[0].price_minor, 3000);
    no_events(A_ORG, "ticket_type.update",
              jf("{'event_id':'%s','ticket_type_id':'%s','price_minor':3000}", EV, T_GA));
    rejected(A_ORG, "ticket_type.update",
             jf("{'event_id':'%s','ticket_type_id':'%s','kind':'vip'}", EV, T_GA), "locked",
             "kind");
    rejected(A_ORG, "ticket_type.update",
             jf("{'event_id':'%s','ticket_type_id':'%s','min_per_order':20}", EV, T_GA), "invalid",
             "min_per_order");
    rejected(A_ORG, "ticket_type.update",
             jf("{'event_id':'%s','ticket_type_id':'%s','quantity':1}", EV, SES1), "not_found",
             "ticket_type_id");
    invalid(A_ORG, "ticket_type.update", jf("{'event_id':'%s','price_minor':1}", EV),
            "ticket_type_id");
    hold(A_B1, H1, SES1, "[{'ticket_type_id':'" T_GA "','quantity':3}]");
    rejected(A_ORG, "ticket_type.update",
             jf("{'event_id':'%s','ticket_type_id':'%s','pool_id':'%s'}", EV, T_GA, POOL), "in_use",
             "pool_id");
    rejected(A_ORG, "ticket_type.update",
             jf("{'event_id':'%s','ticket_type_id':'%s','quantity':2}", EV, T_GA), "below_taken",
             "quantity");
    ok(A_ORG, "ticket_type.update",
       jf("{'event_id':'%s','ticket_type_id':'%s','quantity':3}", EV, T_GA));
    cr_assert_eq(stock()->types[0].taken, 3, "an update keeps what is taken");
}

Test(stock, type_delete)
{
    given_event(100, 0, true);
    given_type(T_GA, "general_admission", 100, "5", "");
    given_type(T_VIP, "vip", 100, "5", "");
    given_type(T_BUNDLE, "bundle", 100, "null",
               ",'components':[{'ticket_type_id':'" T_VIP "','quantity':1}]");
    rejected(A_ORG, "ticket_type.delete", jf("{'event_id':'%s','ticket_type_id':'%s'}", EV, T_VIP),
             "in_use", "ticket_type_id");
    hold(A_B1, H1, SES1, "[{'ticket_type_id':'" T_GA "','quantity':1}]");
    rejected(A_ORG, "ticket_type.delete", jf("{'event_id':'%s','ticket_type_id':'%s'}", EV, T_GA),
             "in_use", "ticket_type_id");
    ok(A_B1, "hold.release", jf("{'event_id':'%s','hold_id':'%s'}", EV, H1));
    ok(A_ORG, "ticket_type.delete", jf("{'event_id':'%s','ticket_type_id':'%s'}", EV, T_GA));
    cr_assert(stock()->types[0].is_deleted);
    rejected(A_ORG, "ticket_type.delete", jf("{'event_id':'%s','ticket_type_id':'%s'}", EV, T_GA),
             "not_found", "ticket_type_id");
    rejected(A_B1, "hold.place",
             hold_payload(H2, SES1,
                          "[{'ticket_type_id':'" T_GA "',"
                          "'quantity':1}]"),
             "ticket_type_not_found", "lines[0].ticket_type_id");
}

Test(stock, pools_define_and_resize)
{
    given_event(100, 0, true);
    struct tix_decision d =
        run_ok(A_ORG, "pool.define",
               jf("{'event_id':'%s','pool_id':'%s','name':'Floor','capacity':4}", EV, POOL));
    tix_world_expect_event(&d, 0, STOCK, "pool.defined",
                           jf("{'event_id':'%s','pool':{'pool_id':'%s','name':'Floor',"
                              "'capacity':4}}",
                              EV, POOL));
    tix_decision_deinit(&d);
    no_events(A_ORG, "pool.define",
              jf("{'event_id':'%s','pool_id':'%s','name':'Floor','capacity':4}", EV, POOL));
    given_type(T_GA, "general_admission", 100, "null", ",'pool_id':'" POOL "'");
    hold(A_B1, H1, SES1, "[{'ticket_type_id':'" T_GA "','quantity':3}]");
    rejected(A_ORG, "pool.define",
             jf("{'event_id':'%s','pool_id':'%s','name':'Floor','capacity':2}", EV, POOL),
             "below_taken", "capacity");
    ok(A_ORG, "pool.define",
       jf("{'event_id':'%s','pool_id':'%s','name':'Floor','capacity':3}", EV, POOL));
    cr_assert_eq(stock()->pools[0].capacity, 3);
    invalid(A_ORG, "pool.define",
            jf("{'event_id':'%s','pool_id':'%s','name':'Floor','capacity':0}", EV, POOL),
            "capacity");
}

/* ---- seats ---------------------------------------------------------------------------------- */

Test(stock, load_seats)
{
    given_event(100, 0, true);
    json_t *p = jf("{'event_id':'%s','chart_version':1}", EV);
    json_object_set_new(p, "seats", chart_seats());
    rejected(A_ORG, "stock.load_seats", json_deep_copy(p), "forbidden", NULL);
    struct tix_decision d = run_ok(A_CAT, "stock.load_seats", json_deep_copy(p));
    cr_assert_str_eq(d.events[0].type, "stock.seats_loaded");
    cr_assert_eq(json_array_size(json_object_get(d.events[0].data, "seats")), 16);
    tix_decision_deinit(&d);
    const struct tix_stock_state *s = stock();
    cr_assert_eq(s->n_seats, 16);
    int a13 = tix_stock_find_seat(s, "A-1-3");
    cr_assert_eq(s->seats[a13].row_first, 0);
    cr_assert_eq(s->seats[a13].row_last, 5);
    cr_assert_str_eq(s->seats[tix_stock_find_seat(s, "B-1-2")].category, "premium");
    cr_assert(s->seats[tix_stock_find_seat(s, "B-1-1")].is_accessible);
    no_events(A_CAT, "stock.load_seats", json_deep_copy(p));
    json_object_set_new(p, "chart_version", json_integer(2));
    rejected(A_CAT, "stock.load_seats", json_deep_copy(p), "chart_mismatch", "chart_version");
    json_t *seats = json_object_get(p, "seats");
    json_array_append(seats, json_array_get(seats, 0));
    invalid(A_CAT, "stock.load_seats", json_deep_copy(p), "seats[16].seat_id");
    json_array_remove(seats, 16);
    json_object_set_new(json_array_get(seats, 13), "row", json_string("1"));
    json_object_set_new(json_array_get(seats, 13), "section", json_string("A"));
    invalid(A_CAT, "stock.load_seats", p, "seats[13]");
}

/* ---- holds ------------------------------------------------------------------------------ */

#define GA1      "[{'ticket_type_id':'" T_GA "','quantity':1}]"
#define GA2      "[{'ticket_type_id':'" T_GA "','quantity':2}]"
#define SEAT(id) "[{'ticket_type_id':'" T_RES "','seats':['" id "']}]"

/* On sale with seats, GA (quantity 10) and reserved seating of section A. */
static void given_sale(void)
{
    given_event(100, 0, true);
    given_seats();
    given_type(T_GA, "general_admission", 2500, "10", "");
    given_type(T_RES, "reserved", 4000, "null", ",'sections':['A']");
}

Test(stock, hold_place_records_prices_and_expiry)
{
    given_sale();
    struct tix_decision d =
        run_ok(A_B1, "hold.place",
               hold_payload(H1, SES1,
                            "[{'ticket_type_id':'" T_GA "','quantity':2},{'ticket_type_id':'" T_RES
                            "','seats':['A-1-1','A-1-2'],'quantity':2}]"));
    tix_world_expect_event(
        &d, 0, STOCK, "hold.placed",
        jf("{'event_id':'%s','hold_id':'%s','buyer_id':'%s','session_id':'%s','lines':["
           "{'ticket_type_id':'%s','quantity':2,'seats':[],'unit_price_minor':2500},"
           "{'ticket_type_id':'%s','quantity':2,'seats':['A-1-1','A-1-2'],"
           "'unit_price_minor':4000}],'expires_at':'2026-06-01T00:10:00Z'}",
           EV, H1, B1, SES1, T_GA, T_RES));
    tix_world_expect_json(d.result, jf("{'hold_id':'%s','expires_at':'2026-06-01T00:10:00Z'}", H1));
    tix_decision_deinit(&d);
    cr_assert_eq(taken(SES1, T_GA), 2);
    cr_assert_eq(taken(SES1, T_RES), 2);
    cr_assert_eq(taken(SES2, T_GA), 0);
    check_invariants();
}

Test(stock, hold_place_rejections)
{
    given_event(100, 0, false);
    given_seats();
    given_type(T_GA, "general_admission", 2500, "3", ",'max_per_order':4,'min_per_order':2");
    given_type(T_RES, "reserved", 4000, "null", ",'sections':['A']");
    given_type(T_VIP, "vip", 9000, "5", ",'session_ids':['" SES2 "']");
    const char *H = "hold.place";
    rejected(A_B1, H, hold_payload(H1, SES1, GA2), "not_on_sale", NULL);
    ok(A_ORG, "event.open_sales", jf("{'event_id':'%s'}", EV));
    rejected("system:clock", H, hold_payload(H1, SES1, GA2), "forbidden", NULL);
    rejected(A_B1, H, hold_payload(H1, SES_X, GA2), "session_not_found", "session_id");
    rejected(A_B1, H, hold_payload(H1, SES1, "[{'ticket_type_id':'" T_EARLY "','quantity':1}]"),
             "ticket_type_not_found", "lines[0].ticket_type_id");
    rejected(A_B1, H, hold_payload(H1, SES1, "[{'ticket_type_id':'" T_VIP "','quantity':1}]"),
             "ticket_type_not_found", "lines[0].ticket_type_id");
    rejected(A_B1, H, hold_payload(H1, SES1, "[{'ticket_type_id':'" T_GA "','seats':['A-1-1']}]"),
             "invalid_line", "lines[0].seats");
    rejected(A_B1, H, hold_payload(H1, SES1, "[{'ticket_type_id':'" T_RES "','quantity':1}]"),
             "invalid_line", "lines[0].seats");
    rejected(A_B1, H, hold_payload(H1, SES1, GA1), "below_min", "lines[0].quantity");
    rejected(A_B1, H, hold_payload(H1, SES1, "[{'ticket_type_id':'" T_GA "','quantity':5}]"),
             "above_max", "lines[0].quantity");
    rejected(A_B1, H, hold_payload(H1, SES1, "[{'ticket_type_id':'" T_GA "','quantity':4}]"),
             "insufficient_stock", "lines[0]");
    cr_assert(strstr(tix_world_last_reason(), "has 3 left") != NULL, "%s", tix_world_last_reason());
    rejected(A_B1, H, hold_payload(H1, SES1, SEAT("Z-9-9")), "seat_unavailable",
             "lines[0].seats[0]");
    rejected(A_B1, H, hold_payload(H1, SES1, SEAT("B-1-1")), "seat_unavailable",
             "lines[0].seats[0]");
    invalid(A_B1, H, hold_payload(H1, SES1, "[{'ticket_type_id':'" T_GA "'}]"),
            "lines[0].quantity");
    invalid(
        A_B1, H,
        hold_payload(H1, SES1, "[{'ticket_type_id':'" T_RES "','quantity':2,'seats':['A-1-1']}]"),
        "lines[0].quantity");
    invalid(A_B1, H, hold_payload(H1, SES1, "[]"), "lines");
    invalid(A_B1, H,
            hold_payload(H1, SES1,
                         "[{'ticket_type_id':'" T_GA "','quantity':2},"
                         "{'ticket_type_id':'" T_GA "','quantity':2}]"),
            "lines[1].ticket_type_id");
    hold(A_B1, H1, SES1, SEAT("A-1-1"));
    rejected(A_B2, H, hold_payload(H2, SES1, SEAT("A-1-1")), "seat_unavailable",
             "lines[0].seats[0]");
    rejected(A_B2, H, hold_payload(H1, SES1, SEAT("A-1-5")), "already_exists", "hold_id");
    at(T1_START);
    rejected(A_B2, H, hold_payload(H2, SES1, GA2), "session_started", "session_id");
    check_invariants();
}

Test(stock, sales_windows)
{
    given_event(100, 0, true);
    given_type(T_GA, "general_admission", 100, "10",
               ",'sales_start':'2026-06-02T00:00:00Z','sales_end':'2026-06-03T00:00:00Z'");
    rejected(A_B1, "hold.place", hold_payload(H1, SES1, GA1), "sales_not_started",
             "lines[0].ticket_type_id");
    at("2026-06-02T12:00:00Z");
    hold(A_B1, H1, SES1, GA1);
    at("2026-06-03T00:00:00Z");
    rejected(A_B1, "hold.place", hold_payload(H2, SES1, GA1), "sales_ended",
             "lines[0].ticket_type_id");
    ok(A_ORG, "event.update", jf("{'event_id':'%s','name':'Gala 2'}", EV));
}

Test(stock, min_and_max_count_the_buyers_other_holds)
{
    given_event(100, 0, true);
    given_type(T_GA, "general_admission", 100, "50", ",'max_per_order':4");
    hold(A_B1, H1, SES1, "[{'ticket_type_id':'" T_GA "','quantity':3}]");
    rejected(A_B1, "hold.place", hold_payload(H2, SES1, GA2), "above_max", "lines[0].quantity");
    hold(A_B2, H3, SES1, GA2); /* another buyer has their own allowance */
    hold(A_B1, H2, SES1, GA1);
    cr_assert_eq(taken(SES1, T_GA), 6);
}

Test(stock, same_buyer_same_seats_gets_the_same_hold)
{
    given_sale();
    hold(A_B1, H1, SES1, "[{'ticket_type_id':'" T_RES "','seats':['A-1-1','A-1-2']}]");
    int before = tix_world_n_log();
    struct tix_decision d = run_ok(
        A_B1, "hold.place",
        hold_payload(H2, SES1, "[{'ticket_type_id':'" T_RES "','seats':['A-1-2','A-1-1']}]"));
    cr_assert_eq(d.n_events, 0);
    cr_assert_str_eq(tix_json_str(d.result, "hold_id"), H1);
    tix_decision_deinit(&d);
    cr_assert_eq(tix_world_n_log(), before);
    d = run_ok(A_B1, "hold.place", hold_payload(H1, SES1, SEAT("A-2-2")));
    cr_assert_eq(d.n_events, 0, "a hold id asked again answers the hold");
    cr_assert_str_eq(tix_json_str(d.result, "hold_id"), H1);
    tix_decision_deinit(&d);
    rejected(A_B1, "hold.place",
             hold_payload(H2, SES1, "[{'ticket_type_id':'" T_RES "','seats':['A-1-1','A-1-3']}]"),
             "seat_unavailable", "lines[0].seats[0]");
    rejected(A_B2, "hold.place", hold_payload(H3, SES1, SEAT("A-1-2")), "seat_unavailable",
             "lines[0].seats[0]");
    hold(A_B2, H3, SES2, SEAT("A-1-2")); /* another session has its own seats */
    check_invariants();
}

Test(stock, single_seat_gap_rule_looks_at_the_row)
{
    given_sale();
    ok(A_ORG, "stock.configure", jf("{'event_id':'%s','no_single_seat_gap':true}", EV));
    hold(A_B1, H1, SES1, SEAT("A-1-1"));
    rejected(A_B2, "hold.place", hold_payload(H2, SES1, SEAT("A-1-3")), "single_seat_gap", "lines");
    cr_assert(strstr(tix_world_last_reason(), "A-1-2") != NULL);
    hold(A_B2, H2, SES1, SEAT("A-1-2"));
    hold(A_B2, H3, SES1, SEAT("A-1-6")); /* the row's end is not a gap */
    rejected(A_B1, "hold.place", hold_payload(O1, SES1, SEAT("A-1-4")), "single_seat_gap", "lines");
}

Test(stock, pools_are_shared_between_types)
{
    given_event(100, 0, true);
    ok(A_ORG, "pool.define",
       jf("{'event_id':'%s','pool_id':'%s','name':'Floor','capacity':5}", EV, POOL));
    given_type(T_EARLY, "early_bird", 1500, "3", ",'pool_id':'" POOL "'");
    given_type(T_GA, "general_admission", 2500, "null", ",'pool_id':'" POOL "'");
    hold(A_B1, H1, SES1, "[{'ticket_type_id':'" T_EARLY "','quantity':3}]");
    rejected(A_B2, "hold.place",
             hold_payload(H2, SES1, "[{'ticket_type_id':'" T_EARLY "','quantity':1}]"),
             "insufficient_stock", "lines[0]");
    cr_assert(strstr(tix_world_last_reason(), "ticket type") != NULL);
    hold(A_B2, H2, SES1, GA2);
    rejected(A_B2, "hold.place", hold_payload(H3, SES1, GA1), "insufficient_stock", "lines[0]");
    cr_assert(strstr(tix_world_last_reason(), "pool Floor has 0 left") != NULL, "%s",
              tix_world_last_reason());
    hold(A_B2, H3, SES2, GA2); /* per session */
    const struct tix_stock_state *s = stock();
    cr_assert_eq(s->sessions[tix_stock_find_session(s, SES1)].pool_held[0], 5);
    check_invariants();
}

Test(stock, session_capacity_limits_every_type)
{
    given_event(100, 3, true); /* SES2 admits 3 */
    given_type(T_GA, "general_admission", 100, "10", "");
    given_type(T_VIP, "vip", 100, "10", "");
    hold(A_B1, H1, SES2, GA2);
    rejected(A_B2, "hold.place",
             hold_payload(H2, SES2, "[{'ticket_type_id':'" T_VIP "','quantity':2}]"),
             "insufficient_stock", "lines[0]");
    cr_assert(strstr(tix_world_last_reason(), "session") != NULL);
    hold(A_B2, H2, SES1, "[{'ticket_type_id':'" T_VIP "','quantity':2}]");
}

/* The unit price of the first line of the last hold.placed. */
static int64_t last_unit_price(void)
{
    const struct tix_world_event *e = last_event();
    cr_assert_str_eq(e->type, "hold.placed");
    return tix_json_int(json_array_get(json_object_get(e->data, "lines"), 0), "unit_price_minor",
                        -1);
}

#define EARLY1 "[{'ticket_type_id':'" T_EARLY "','quantity':1}]"

Test(stock, tiers_switch_by_date_and_by_count)
{
    given_event(100, 0, true);
    given_type(T_EARLY, "early_bird", 3000, "100",
               ",'max_per_order':10,'tiers':[{'price_minor':1000,'until':'2026-06-02T00:00:00Z'},"
               "{'price_minor':1500,'until_sold':3},{'price_minor':2000}]");
    at("2026-06-01T23:55:00Z");
    hold(A_B1, H1, SES1, "[{'ticket_type_id':'" T_EARLY "','quantity':2}]");
    cr_assert_eq(last_unit_price(), 1000);
    at("2026-06-02T00:00:00Z");
    hold(A_B1, H2, SES1, EARLY1);
    cr_assert_eq(last_unit_price(), 1500, "the date step closed, the count step is open");
    hold(A_B1, H3, SES1, EARLY1);
    cr_assert_eq(last_unit_price(), 2000, "3 taken: the count step closed");
    hold(A_B2, O1, SES2, EARLY1);
    cr_assert_eq(last_unit_price(), 1500, "counts are per session");
    ok(A_B1, "hold.release", jf("{'event_id':'%s','hold_id':'%s'}", EV, H3));
    ok(A_B1, "hold.release", jf("{'event_id':'%s','hold_id':'%s'}", EV, H2));
    hold(A_B2, O2, SES1, EARLY1);
    cr_assert_eq(last_unit_price(), 1500, "released units reopen the count step");
}

Test(stock, season_pass_takes_a_unit_in_every_session)
{
    given_event(100, 2, true); /* SES2 admits 2 */
    given_type(T_SEASON, "season_pass", 20000, "5", "");
    given_type(T_GA, "general_admission", 100, "10", "");
    struct tix_decision d =
        run_ok(A_B1, "hold.place",
               hold_payload(H1, SES1, "[{'ticket_type_id':'" T_SEASON "','quantity':1}]"));
    const json_t *line = json_array_get(json_object_get(d.events[0].data, "lines"), 0);
    tix_world_expect_json(json_object_get(line, "session_ids"), jf("['%s','%s']", SES1, SES2));
    tix_decision_deinit(&d);
    cr_assert_eq(taken(SES1, T_SEASON), 1);
    cr_assert_eq(taken(SES2, T_SEASON), 1);
    hold(A_B2, H2, SES2, GA1);
    rejected(A_B2, "hold.place",
             hold_payload(H3, SES1, "[{'ticket_type_id':'" T_SEASON "','quantity':1}]"),
             "insufficient_stock", "lines[0]");
    cr_assert(strstr(tix_world_last_reason(), SES2) != NULL, "%s", tix_world_last_reason());
    order(A_B1, O1, H1);
    pay(O1, "evt_1");
    const json_t *tickets = json_object_get(last_event()->data, "tickets");
    cr_assert_eq(json_array_size(tickets), 1);
    cr_assert(json_is_null(json_object_get(json_array_get(tickets, 0), "session_id")));
    cr_assert_eq(sold(SES1, T_SEASON), 1);
    cr_assert_eq(sold(SES2, T_SEASON), 1);
    check_invariants();
}

Test(stock, bundle_takes_its_components_stock)
{
    given_event(100, 0, true);
    given_type(T_GA, "general_admission", 2500, "5", "");
    given_type(T_VIP, "vip", 9000, "2", "");
    given_type(T_BUNDLE, "bundle", 10000, "null",
               ",'components':[{'ticket_type_id':'" T_GA "','quantity':2},{'ticket_type_id':'" T_VIP
               "','quantity':1}]");
    hold(A_B1, H1, SES1, "[{'ticket_type_id':'" T_BUNDLE "','quantity':2}]");
    cr_assert_eq(taken(SES1, T_GA), 4);
    cr_assert_eq(taken(SES1, T_VIP), 2);
    cr_assert_eq(taken(SES1, T_BUNDLE), 2);
    rejected(A_B2, "hold.place",
             hold_payload(H2, SES1,
                          "[{'ticket_type_id':'" T_BUNDLE "',"
                          "'quantity':1}]"),
             "insufficient_stock", "lines[0]");
    rejected(A_B2, "hold.place", hold_payload(H2, SES1, GA2), "insufficient_stock", "lines[0]");
    hold(A_B2, H2, SES1, GA1);
    order(A_B1, O1, H1);
    pay(O1, "evt_1");
    const json_t *tickets = json_object_get(last_event()->data, "tickets");
    cr_assert_eq(json_array_size(tickets), 6);
    int ga = 0, vip = 0;
    for (size_t i = 0; i < 6; i++) {
        const char *t = tix_json_str(json_array_get(tickets, i), "ticket_type_id");
        ga += strcmp(t, T_GA) == 0;
        vip += strcmp(t, T_VIP) == 0;
    }
    cr_assert_eq(ga, 4);
    cr_assert_eq(vip, 2);
    cr_assert_eq(total_of(O1), 20000, "a bundle costs its own price");
    check_invariants();
}

Test(stock, group_units_take_group_size_places)
{
    given_event(100, 0, true);
    ok(A_ORG, "pool.define",
       jf("{'event_id':'%s','pool_id':'%s','name':'Floor','capacity':10}", EV, POOL));
    given_type(T_GROUP, "group", 10000, "5", ",'group_size':4,'pool_id':'" POOL "'");
    hold(A_B1, H1, SES1, "[{'ticket_type_id':'" T_GROUP "','quantity':2}]");
    cr_assert_eq(taken(SES1, T_GROUP), 2);
    const struct tix_stock_state *s = stock();
    cr_assert_eq(s->sessions[tix_stock_find_session(s, SES1)].pool_held[0], 8);
    cr_assert_eq(s->sessions[tix_stock_find_session(s, SES1)].places_held, 8);
    rejected(A_B2, "hold.place",
             hold_payload(H2, SES1,
                          "[{'ticket_type_id':'" T_GROUP "',"
                          "'quantity':1}]"),
             "insufficient_stock", "lines[0]");
    order(A_B1, O1, H1);
    pay(O1, "evt_1");
    cr_assert_eq(json_array_size(json_object_get(last_event()->data, "tickets")), 2,
                 "one ticket per group");
    check_invariants();
}

/* ---- expiry, release, extend ---------------------------------------------------------------- */

Test(stock, lapsed_holds_are_expired_inside_the_next_decision)
{
    given_sale();
    given_type(T_VIP, "vip", 100, "1", "");
    hold(A_B1, H1, SES1, SEAT("A-1-1"));
    hold(A_B1, H2, SES1, "[{'ticket_type_id':'" T_VIP "','quantity':1}]");
    rejected(A_B2, "hold.place", hold_payload(H3, SES1, SEAT("A-1-1")), "seat_unavailable",
             "lines[0].seats[0]");
    later(10 * 60);
    struct tix_decision d = run_ok(A_B2, "hold.place", hold_payload(H3, SES1, SEAT("A-1-1")));
    cr_assert_eq(d.n_events, 2);
    cr_assert_str_eq(d.events[0].type, "hold.expired");
    tix_world_expect_json(json_object_get(d.events[0].data, "hold_ids"), jf("['%s','%s']", H1, H2));
    cr_assert_str_eq(tix_json_str(d.events[0].data, "at"), "2026-06-01T00:10:00Z");
    cr_assert_str_eq(d.events[1].type, "hold.placed");
    tix_decision_deinit(&d);
    const struct tix_stock_state *s = stock();
    cr_assert_eq(s->holds[0].status, TIX_HOLD_EXPIRED);
    cr_assert_eq(taken(SES1, T_VIP), 0);
    check_invariants();
    hold(A_B2, O1, SES1, "[{'ticket_type_id':'" T_VIP "','quantity':1}]");
}

Test(stock, lapsed_stock_counts_as_free_before_the_expiry_event)
{
    given_event(100, 0, true);
    given_type(T_VIP, "vip", 100, "2", "");
    hold(A_B1, H1, SES1, "[{'ticket_type_id':'" T_VIP "','quantity':2}]");
    later(11 * 60);
    struct tix_decision d =
        run_ok(A_B2, "hold.place",
               hold_payload(H2, SES1, "[{'ticket_type_id':'" T_VIP "','quantity':2}]"));
    cr_assert_str_eq(d.events[0].type, "hold.expired");
    tix_decision_deinit(&d);
    check_invariants();
}

Test(stock, hold_expire_from_the_clock)
{
    given_sale();
    hold(A_B1, H1, SES1, GA1);
    later(60);
    hold(A_B2, H2, SES1, GA1);
    no_events(A_CLOCK, "hold.expire", jf("{'event_id':'%s'}", EV));
    rejected(A_B1, "hold.expire", jf("{'event_id':'%s'}", EV), "forbidden", NULL);
    rejected("system:payments", "hold.expire", jf("{'event_id':'%s'}", EV), "forbidden", NULL);
    later(20 * 60);
    no_events(A_CLOCK, "hold.expire", jf("{'event_id':'%s','hold_ids':['%s']}", EV, H3));
    struct tix_decision d =
        run_ok(A_CLOCK, "hold.expire", jf("{'event_id':'%s','hold_ids':['%s']}", EV, H2));
    tix_world_expect_event(
        &d, 0, STOCK, "hold.expired",
        jf("{'event_id':'%s','hold_ids':['%s'],'at':'2026-06-01T00:21:00Z'}", EV, H2));
    tix_decision_deinit(&d);
    d = run_ok(A_CLOCK, "hold.expire", jf("{'event_id':'%s'}", EV));
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_json(d.result, jf("{'expired_holds':1,'expired_orders':0}"));
    tix_decision_deinit(&d);
    cr_assert_eq(taken(SES1, T_GA), 0);
    cr_assert_eq(stock()->n_deadlines, 0);
}

Test(stock, hold_release_only_by_its_buyer)
{
    given_sale();
    hold(A_B1, H1, SES1, SEAT("A-1-1"));
    rejected(A_B2, "hold.release", jf("{'event_id':'%s','hold_id':'%s'}", EV, H1), "not_found",
             "hold_id");
    rejected(A_PAY, "hold.release", jf("{'event_id':'%s','hold_id':'%s'}", EV, H1), "forbidden",
             NULL);
    struct tix_decision d =
        run_ok(A_B1, "hold.release",
               jf("{'event_id':'%s','hold_id':'%s','reason':'cart_cleared'}", EV, H1));
    tix_world_expect_event(&d, 0, STOCK, "hold.released",
                           jf("{'event_id':'%s','hold_id':'%s','reason':'cart_cleared'}", EV, H1));
    tix_decision_deinit(&d);
    no_events(A_B1, "hold.release", jf("{'event_id':'%s','hold_id':'%s'}", EV, H1));
    hold(A_B2, H2, SES1, SEAT("A-1-1"));
    check_invariants();
}

Test(stock, hold_extend_up_to_max_extensions)
{
    given_sale();
    ok(A_ORG, "stock.configure",
       jf("{'event_id':'%s','max_extensions':2,'extension_minutes':3}", EV));
    hold(A_B1, H1, SES1, GA1);
    struct tix_decision d =
        run_ok(A_B1, "hold.extend", jf("{'event_id':'%s','hold_id':'%s'}", EV, H1));
    tix_world_expect_event(&d, 0, STOCK, "hold.extended",
                           jf("{'event_id':'%s','hold_id':'%s','expires_at':'2026-06-01T00:13:00Z',"
                              "'extensions':1}",
                              EV, H1));
    tix_world_expect_json(d.result, jf("{'hold_id':'%s','expires_at':'2026-06-01T00:13:00Z'}", H1));
    tix_decision_deinit(&d);
    ok(A_B1, "hold.extend", jf("{'event_id':'%s','hold_id':'%s'}", EV, H1));
    rejected(A_B1, "hold.extend", jf("{'event_id':'%s','hold_id':'%s'}", EV, H1), "max_extensions",
             "hold_id");
    later(15 * 60);
    hold(A_B2, H2, SES1, GA1);
    cr_assert_eq(stock()->holds[0].status, TIX_HOLD_ACTIVE, "extended to 00:16, still live");
    later(60);
    rejected(A_B1, "hold.extend", jf("{'event_id':'%s','hold_id':'%s'}", EV, H1), "hold_expired",
             "hold_id");
    rejected(A_B2, "hold.extend", jf("{'event_id':'%s','hold_id':'%s'}", EV, H1), "not_found",
             "hold_id");
}

/* ---- orders ------------------------------------------------------------------------------- */

Test(stock, order_place_prices_fees_and_tax)
{
    given_sale();
    ok(A_ORG, "stock.configure",
       jf("{'event_id':'%s','fee_fixed_minor':100,'fee_percent_bp':500,'tax_percent_bp':2000}",
          EV));
    hold(A_B1, H1, SES1,
         "[{'ticket_type_id':'" T_GA "','quantity':2},{'ticket_type_id':'" T_RES
         "','seats':['A-1-1']}]");
    struct tix_decision d = run_ok(
        A_B1, "order.place", jf("{'event_id':'%s','order_id':'%s','hold_id':'%s'}", EV, O1, H1));
    /* GA 2 x 2500, fee 100 + 125 each; seat 4000, fee 100 + 200; tax 20% of 9000 + 750 */
    const json_t *data = d.events[0].data;
    char number[24];
    tix_stock_order_number(EV, 1, number);
    tix_world_expect_event(
        &d, 0, STOCK, "order.placed",
        jf("{'event_id':'%s','order_id':'%s','number':'%s','hold_id':'%s','buyer_id':'%s',"
           "'session_id':'%s','currency':'EUR','lines':[{'ticket_type_id':'%s','quantity':2,"
           "'seats':[],'unit_price_minor':2500,'fees_minor':450},{'ticket_type_id':'%s',"
           "'quantity':1,'seats':['A-1-1'],'unit_price_minor':4000,'fees_minor':300}],"
           "'subtotal_minor':9000,'fees_minor':750,'tax_minor':1950,'total_minor':11700,"
           "'expires_at':'2026-06-01T00:10:00Z'}",
           EV, O1, number, H1, B1, SES1, T_GA, T_RES));
    (void)data;
    tix_world_expect_json(d.result, jf("{'order_id':'%s','number':'%s','total_minor':11700,"
                                       "'currency':'EUR','expires_at':'2026-06-01T00:10:00Z'}",
                                       O1, number));
    tix_decision_deinit(&d);
    cr_assert_eq(stock()->holds[0].status, TIX_HOLD_CONVERTED);
    cr_assert_eq(taken(SES1, T_GA), 2, "an unpaid order keeps its units held");
    check_invariants();
    no_events(A_B1, "order.place",
              jf("{'event_id':'%s','order_id':'%s','hold_id':'%s'}", EV, O1, H1));
    rejected(A_B1, "order.place",
             jf("{'event_id':'%s','order_id':'%s','hold_id':'%s'}", EV, O2, H1), "hold_not_active",
             "hold_id");
    rejected(A_B2, "order.place",
             jf("{'event_id':'%s','order_id':'%s','hold_id':'%s'}", EV, O2, H1), "not_found",
             "hold_id");
    hold(A_B1, H2, SES1, GA1);
    rejected(A_B1, "order.place",
             jf("{'event_id':'%s','order_id':'%s','hold_id':'%s'}", EV, O1, H2), "already_exists",
             "order_id");
    order(A_B1, O2, H2);
    cr_assert_str_eq(stock()->orders[1].number + 4, "-000002");
}

Test(stock, fees_round_half_up)
{
    given_event(100, 0, true);
    given_type(T_GA, "general_admission", 999, "10", "");
    ok(A_ORG, "stock.configure",
       jf("{'event_id':'%s','fee_percent_bp':250,'tax_percent_bp':1900}", EV));
    hold(A_B1, H1, SES1, "[{'ticket_type_id':'" T_GA "','quantity':3}]");
    order(A_B1, O1, H1);
    /* fee per ticket round(24.975) = 25; tax round((2997 + 75) * 0.19 = 583.68) = 584 */
    const struct tix_stock_order *o = &stock()->orders[0];
    cr_assert_eq(o->subtotal_minor, 2997);
    cr_assert_eq(o->fees_minor, 75);
    cr_assert_eq(o->tax_minor, 584);
    cr_assert_eq(o->total_minor, 3656);
}

Test(stock, order_place_needs_a_live_hold)
{
    given_sale();
    hold(A_B1, H1, SES1, GA1);
    later(10 * 60);
    rejected(A_B1, "order.place",
             jf("{'event_id':'%s','order_id':'%s','hold_id':'%s'}", EV, O1, H1), "hold_expired",
             "hold_id");
    rejected(A_PAY, "order.place",
             jf("{'event_id':'%s','order_id':'%s','hold_id':'%s'}", EV, O1, H1), "forbidden", NULL);
}

Test(stock, order_cancel_gives_the_seats_back)
{
    given_sale();
    hold(A_B1, H1, SES1, SEAT("A-1-1"));
    order(A_B1, O1, H1);
    rejected(A_B2, "order.cancel", jf("{'event_id':'%s','order_id':'%s'}", EV, O1), "not_found",
             "order_id");
    ok(A_B1, "order.cancel", jf("{'event_id':'%s','order_id':'%s'}", EV, O1));
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_CANCELLED);
    no_events(A_B1, "order.cancel", jf("{'event_id':'%s','order_id':'%s'}", EV, O1));
    hold(A_B2, H2, SES1, SEAT("A-1-1"));
    order(A_B2, O2, H2);
    pay(O2, "evt_1");
    rejected(A_B2, "order.cancel", jf("{'event_id':'%s','order_id':'%s'}", EV, O2), "already_paid",
             "order_id");
    check_invariants();
}

Test(stock, order_cancel_by_the_payment_worker_carries_its_reason)
{
    given_sale();
    hold(A_B1, H1, SES1, SEAT("A-1-1"));
    order(A_B1, O1, H1);
    const char *why = "stripe_unavailable: stripe /v1/payment_intents: server error";
    rejected(A_CLOCK, "order.cancel", jf("{'event_id':'%s','order_id':'%s','reason':'x'}", EV, O1),
             "forbidden", NULL);
    rejected(A_PAY, "order.cancel", jf("{'event_id':'%s','order_id':'%s','reason':'x'}", EV, H1),
             "not_found", "order_id");
    invalid(A_PAY, "order.cancel", jf("{'event_id':'%s','order_id':'%s','reason':''}", EV, O1),
            "reason");
    ok(A_PAY, "order.cancel", jf("{'event_id':'%s','order_id':'%s','reason':'%s'}", EV, O1, why));
    cr_assert_str_eq(last_event()->type, "order.cancelled");
    cr_assert_str_eq(tix_json_str(last_event()->data, "reason"), why);
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_CANCELLED);
    no_events(A_PAY, "order.cancel",
              jf("{'event_id':'%s','order_id':'%s','reason':'%s'}", EV, O1, why));
    /* the seat is free again; a payment that comes late is refunded, the seat being sold */
    hold(A_B2, H2, SES1, SEAT("A-1-1"));
    order(A_B2, O2, H2);
    pay(O2, "evt_2");
    pay(O1, "evt_1");
    cr_assert_str_eq(last_event()->type, "order.refund_required");
    cr_assert_str_eq(tix_json_str(last_event()->data, "reason"), "stock_unavailable");
    rejected(A_PAY, "order.cancel", jf("{'event_id':'%s','order_id':'%s','reason':'x'}", EV, O2),
             "already_paid", "order_id");
    check_invariants();
}

Test(stock, a_late_payment_of_an_order_the_worker_cancelled_pays_it_while_the_seats_are_free)
{
    given_sale();
    hold(A_B1, H1, SES1, SEAT("A-1-1"));
    order(A_B1, O1, H1);
    ok(A_PAY, "order.cancel", jf("{'event_id':'%s','order_id':'%s','reason':'x'}", EV, O1));
    pay(O1, "evt_1");
    cr_assert_str_eq(last_event()->type, "order.paid");
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_PAID);
    check_invariants();
}

/* ---- payments ----------------------------------------------------------------------------- */

Test(stock, attach_payment)
{
    given_sale();
    hold(A_B1, H1, SES1, GA1);
    order(A_B1, O1, H1);
    json_t *p = jf("{'event_id':'%s','order_id':'%s','payment_intent_id':'pi_1'}", EV, O1);
    rejected(A_B1, "order.attach_payment", json_deep_copy(p), "forbidden", NULL);
    rejected(A_CLOCK, "order.attach_payment", json_deep_copy(p), "forbidden", NULL);
    ok(A_PAY, "order.attach_payment", json_deep_copy(p));
    cr_assert_str_eq(stock()->orders[0].payment_intent_id, "pi_1");
    no_events(A_PAY, "order.attach_payment", p);
    rejected(A_PAY, "order.attach_payment",
             jf("{'event_id':'%s','order_id':'%s','payment_intent_id':'pi_2'}", EV, O1),
             "already_attached", "payment_intent_id");
    rejected(A_PAY, "order.attach_payment",
             jf("{'event_id':'%s','order_id':'%s','payment_intent_id':'pi_2'}", EV, O2),
             "not_found", "order_id");
    invalid(A_PAY, "order.attach_payment",
            jf("{'event_id':'%s','order_id':'%s','payment_intent_id':'pi 2'}", EV, O1),
            "payment_intent_id");
}

Test(stock, payment_success_issues_one_ticket_per_seat_and_unit)
{
    given_sale();
    hold(A_B1, H1, SES1,
         "[{'ticket_type_id':'" T_GA "','quantity':2},{'ticket_type_id':'" T_RES
         "','seats':['A-1-1','A-1-2']}]");
    order(A_B1, O1, H1);
    invalid(A_PAY, "payment.apply",
            jf("{'event_id':'%s','order_id':'%s','stripe_event_id':'evt_1','outcome':'succeeded',"
               "'payment_intent_id':'pi_1','amount_minor':1,'currency':'EUR'}",
               EV, O1),
            "ticket_seed");
    rejected(A_B1, "payment.apply", pay_payload(O1, "evt_1", "succeeded", 13000), "forbidden",
             NULL);
    struct tix_decision d =
        run_ok(A_PAY, "payment.apply", pay_payload(O1, "evt_1", "succeeded", total_of(O1)));
    cr_assert_eq(d.n_events, 1);
    cr_assert_str_eq(d.events[0].type, "order.paid");
    const json_t *data = d.events[0].data;
    cr_assert_str_eq(tix_json_str(data, "paid_at"), EARLY);
    cr_assert_str_eq(tix_json_str(data, "stripe_event_id"), "evt_1");
    const json_t *tickets = json_object_get(data, "tickets");
    cr_assert_eq(json_array_size(tickets), 4);
    unsigned char seed[32];
    sodium_hex2bin(seed, 32, SEED, 64, NULL, NULL, NULL);
    for (size_t i = 0; i < 4; i++) {
        const json_t *t = json_array_get(tickets, i);
        char want[40];
        tix_stock_ticket_id(seed, O1, (uint32_t)i, want);
        cr_assert_str_eq(tix_json_str(t, "ticket_id"), want);
        cr_assert_str_eq(tix_json_str(t, "holder_id"), B1);
        cr_assert_str_eq(tix_json_str(t, "session_id"), SES1);
    }
    cr_assert(json_is_null(json_object_get(json_array_get(tickets, 0), "seat_id")));
    cr_assert_str_eq(tix_json_str(json_array_get(tickets, 2), "seat_id"), "A-1-1");
    cr_assert_str_eq(tix_json_str(json_array_get(tickets, 3), "seat_id"), "A-1-2");
    tix_world_expect_json(d.result, jf("{'order_id':'%s','status':'paid','tickets':4}", O1));
    tix_decision_deinit(&d);
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_PAID);
    cr_assert_eq(sold(SES1, T_GA), 2);
    cr_assert_eq(stock()->n_tickets, 4);
    no_events(A_PAY, "payment.apply", pay_payload(O1, "evt_1", "succeeded", total_of(O1)));
    no_events(A_PAY, "payment.apply", pay_payload(O1, "evt_9", "succeeded", total_of(O1)));
    cr_assert_eq(stock()->n_tickets, 4, "exactly one ticket per seat or unit");
    check_invariants();
}

Test(stock, payment_failure_then_retry)
{
    given_sale();
    hold(A_B1, H1, SES1, GA1);
    order(A_B1, O1, H1);
    json_t *fail = pay_payload(O1, "evt_1", "failed", total_of(O1));
    json_object_del(fail, "ticket_seed");
    json_object_set_new(fail, "failure_reason", json_string("card_declined"));
    struct tix_decision d = run_ok(A_PAY, "payment.apply", json_deep_copy(fail));
    tix_world_expect_event(&d, 0, STOCK, "order.payment_failed",
                           jf("{'event_id':'%s','order_id':'%s','stripe_event_id':'evt_1',"
                              "'reason':'card_declined'}",
                              EV, O1));
    tix_decision_deinit(&d);
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_PENDING_PAYMENT);
    no_events(A_PAY, "payment.apply", fail);
    pay(O1, "evt_2");
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_PAID);
}

Test(stock, late_success_pays_when_the_seats_are_still_free)
{
    given_sale();
    hold(A_B1, H1, SES1, SEAT("A-1-1"));
    order(A_B1, O1, H1);
    later(11 * 60);
    ok(A_CLOCK, "hold.expire", jf("{'event_id':'%s'}", EV));
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_EXPIRED);
    cr_assert_str_eq(last_event()->type, "order.expired");
    cr_assert_eq(taken(SES1, T_RES), 0);
    pay(O1, "evt_1");
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_PAID);
    cr_assert_eq(sold(SES1, T_RES), 1);
    rejected(A_B2, "hold.place", hold_payload(H2, SES1, SEAT("A-1-1")), "seat_unavailable",
             "lines[0].seats[0]");
    check_invariants();
}

Test(stock, lapsed_pending_order_is_paid_before_any_expiry_event)
{
    given_sale();
    hold(A_B1, H1, SES1, SEAT("A-1-1"));
    order(A_B1, O1, H1);
    later(11 * 60);
    pay(O1, "evt_1");
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_PAID);
    check_invariants();
}

Test(stock, late_success_without_the_seats_asks_for_a_refund)
{
    given_sale();
    hold(A_B1, H1, SES1, SEAT("A-1-1"));
    order(A_B1, O1, H1);
    later(11 * 60);
    struct tix_decision d = run_ok(A_B2, "hold.place", hold_payload(H2, SES1, SEAT("A-1-1")));
    cr_assert_str_eq(d.events[0].type, "order.expired");
    tix_decision_deinit(&d);
    d = run_ok(A_PAY, "payment.apply", pay_payload(O1, "evt_1", "succeeded", total_of(O1)));
    tix_world_expect_event(&d, 0, STOCK, "order.refund_required",
                           jf("{'event_id':'%s','order_id':'%s','payment_intent_id':'pi_1',"
                              "'amount_minor':%lld,'currency':'EUR','reason':'stock_unavailable',"
                              "'stripe_event_id':'evt_1'}",
                              EV, O1, (long long)total_of(O1)));
    tix_decision_deinit(&d);
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_REFUND_PENDING);
    no_events(A_PAY, "payment.apply", pay_payload(O1, "evt_1", "succeeded", total_of(O1)));
    json_t *r = jf("{'event_id':'%s','order_id':'%s','refund_id':'re_1'}", EV, O1);
    rejected(A_B1, "order.mark_refunded", json_deep_copy(r), "forbidden", NULL);
    d = run_ok(A_PAY, "order.mark_refunded", json_deep_copy(r));
    tix_world_expect_event(&d, 0, STOCK, "order.refunded",
                           jf("{'event_id':'%s','order_id':'%s','refund_id':'re_1'}", EV, O1));
    tix_decision_deinit(&d);
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_REFUNDED);
    no_events(A_PAY, "order.mark_refunded", r);
    rejected(A_PAY, "order.mark_refunded",
             jf("{'event_id':'%s','order_id':'%s','refund_id':'re_2'}", EV, O1),
             "no_refund_pending", "order_id");
    cr_assert_eq(stock()->n_tickets, 0);
    check_invariants();
}

Test(stock, late_success_without_units_asks_for_a_refund)
{
    given_event(100, 0, true);
    given_type(T_VIP, "vip", 100, "1", "");
    hold(A_B1, H1, SES1, "[{'ticket_type_id':'" T_VIP "','quantity':1}]");
    order(A_B1, O1, H1);
    ok(A_B1, "order.cancel", jf("{'event_id':'%s','order_id':'%s'}", EV, O1));
    hold(A_B2, H2, SES1, "[{'ticket_type_id':'" T_VIP "','quantity':1}]");
    pay(O1, "evt_1");
    cr_assert_str_eq(last_event()->type, "order.refund_required");
    ok(A_B2, "hold.release", jf("{'event_id':'%s','hold_id':'%s'}", EV, H2));
    pay(O1, "evt_2");
    cr_assert_str_eq(last_event()->type, "order.refund_required",
                     "an order being refunded is not paid");
    check_invariants();
}

Test(stock, wrong_amounts_and_double_payments_are_refunded)
{
    given_sale();
    hold(A_B1, H1, SES1, GA1);
    order(A_B1, O1, H1);
    ok(A_PAY, "payment.apply", pay_payload(O1, "evt_1", "succeeded", 1));
    cr_assert_str_eq(tix_json_str(last_event()->data, "reason"), "amount_mismatch");
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_PENDING_PAYMENT);
    pay(O1, "evt_2");
    json_t *other = pay_payload(O1, "evt_3", "succeeded", total_of(O1));
    json_object_set_new(other, "payment_intent_id", json_string("pi_2"));
    ok(A_PAY, "payment.apply", other);
    cr_assert_str_eq(tix_json_str(last_event()->data, "reason"), "duplicate_payment");
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_PAID);
    ok(A_PAY, "order.mark_refunded",
       jf("{'event_id':'%s','order_id':'%s','refund_id':'re_1'}", EV, O1));
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_PAID, "the extra payment went back");
}

/* ---- the door ----------------------------------------------------------------------------- */

static const char *ticket_of(int i)
{
    cr_assert_lt(i, stock()->n_tickets);
    return stock()->tickets[i].id;
}

static json_t *scan(const char *ticket, const char *direction, const char *device)
{
    return jf("{'event_id':'%s','ticket_id':'%s','device_id':'%s','direction':'%s'}", EV, ticket,
              device, direction);
}

Test(stock, check_in_admits_once)
{
    given_sale();
    hold(A_B1, H1, SES1, GA1);
    order(A_B1, O1, H1);
    pay(O1, "evt_1");
    later(3600);
    struct tix_decision d = run_ok("user:0190c1e2-0000-7000-8000-00000000005c", "ticket.check_in",
                                   scan(ticket_of(0), "in", "gate-1"));
    tix_world_expect_event(&d, 0, STOCK, "ticket.checked_in",
                           jf("{'event_id':'%s','ticket_id':'%s','session_id':'%s',"
                              "'device_id':'gate-1','at':'2026-06-01T01:00:00Z','direction':'in'}",
                              EV, ticket_of(0), SES1));
    tix_decision_deinit(&d);
    later(60);
    rejected(A_ORG, "ticket.check_in", scan(ticket_of(0), "in", "gate-2"), "already_used",
             "ticket_id");
    cr_assert_str_eq(tix_world_last_reason(), "already used at 2026-06-01T01:00:00Z by gate-1");
    rejected(A_ORG, "ticket.check_in", scan(ticket_of(0), "out", "gate-2"), "no_reentry",
             "direction");
    rejected(A_ORG, "ticket.check_in", scan(SES1, "in", "gate-2"), "not_found", "ticket_id");
    json_t *p = scan(ticket_of(0), "in", "gate-2");
    json_object_set_new(p, "session_id", json_string(SES2));
    rejected(A_ORG, "ticket.check_in", p, "wrong_session", "session_id");
    invalid(A_ORG, "ticket.check_in", scan(ticket_of(0), "sideways", "gate-2"), "direction");
    invalid(A_ORG, "ticket.check_in", scan(ticket_of(0), "in", "gate 2"), "device_id");
}

Test(stock, check_in_reentry)
{
    given_event(100, 0, true);
    given_type(T_GA, "general_admission", 100, "10", ",'allows_reentry':true");
    given_type(T_SEASON, "season_pass", 100, "10", ",'allows_reentry':true");
    hold(A_B1, H1, SES1,
         "[{'ticket_type_id':'" T_GA "','quantity':1},{'ticket_type_id':'" T_SEASON
         "','quantity':1}]");
    order(A_B1, O1, H1);
    pay(O1, "evt_1");
    const char *ga = ticket_of(0), *pass = ticket_of(1);
    rejected(A_ORG, "ticket.check_in", scan(ga, "out", "g"), "not_inside", "direction");
    ok(A_ORG, "ticket.check_in", scan(ga, "in", "g"));
    ok(A_ORG, "ticket.check_in", scan(ga, "out", "g"));
    ok(A_ORG, "ticket.check_in", scan(ga, "in", "g"));
    rejected(A_ORG, "ticket.check_in", scan(ga, "in", "g"), "already_used", "ticket_id");
    rejected(A_ORG, "ticket.check_in", scan(pass, "in", "g"), "session_required", "session_id");
    json_t *p = scan(pass, "in", "g");
    json_object_set_new(p, "session_id", json_string(SES1));
    ok(A_ORG, "ticket.check_in", json_deep_copy(p));
    rejected(A_ORG, "ticket.check_in", json_deep_copy(p), "already_used", "ticket_id");
    json_object_set_new(p, "session_id", json_string(SES2));
    ok(A_ORG, "ticket.check_in", json_deep_copy(p)); /* the next session admits it again */
    json_object_set_new(p, "session_id", json_string(SES_X));
    rejected(A_ORG, "ticket.check_in", p, "wrong_session", "session_id");
    ok(A_ORG, "event.cancel", jf("{'event_id':'%s','reason':'storm'}", EV));
    rejected(A_ORG, "ticket.check_in", scan(ga, "out", "g"), "event_cancelled", NULL);
}

/* ---- evolve ------------------------------------------------------------------------------- */

Test(stock, evolve_refuses_impossible_events_and_changes_nothing)
{
    given_sale();
    hold(A_B1, H1, SES1, SEAT("A-1-1"));
    struct tix_world_stream *w = tix_world_stream(STOCK);
    json_t *again = json_deep_copy(tix_world_log(tix_world_n_log() - 1)->data);
    json_object_set_new(again, "hold_id", json_string(H2));
    cr_assert_eq(w->kind->evolve(w->state, "hold.placed", 1, again), TIX_EINVAL, "seat taken");
    json_object_set_new(again, "event_id", json_string(SES1));
    cr_assert_eq(w->kind->evolve(w->state, "hold.placed", 1, again), TIX_EINVAL, "other event");
    json_decref(again);
    json_t *bad = jf("{'event_id':'%s','hold_ids':['%s','%s']}", EV, H1, H2);
    cr_assert_eq(w->kind->evolve(w->state, "hold.expired", 1, bad), TIX_EINVAL, "no 'at'");
    json_object_set_new(bad, "at", json_string(EARLY));
    cr_assert_eq(w->kind->evolve(w->state, "hold.expired", 1, bad), TIX_EINVAL, "unknown hold");
    json_decref(bad);
    cr_assert_eq(w->kind->evolve(w->state, "stock.something_new", 1, NULL), TIX_OK);
    cr_assert_eq(stock()->n_holds, 1);
    cr_assert_eq(stock()->holds[0].status, TIX_HOLD_ACTIVE, "the good hold stayed");
    check_invariants();
}

/* ---- overselling is impossible: random sequences ------------------------------------------ */

#define N_BUYERS 5
#define N_STEPS  700

struct chaos {
    unsigned seed;
    int n_holds, n_orders, n_stripe;
    char holds[N_STEPS][40];
    char orders[N_STEPS][40];
    int accepted_holds, paid, short_stock, seat_refusals, late_paid, refunds;
    int n_refunds, voided;
};

static const char *uid_of(char out[40], unsigned kind, unsigned n)
{
    snprintf(out, 40, "0190c1e2-0000-7000-8%03x-%012x", kind, n);
    return out;
}

static const char *buyer_actor(struct chaos *c, char out[64])
{
    char id[40];
    snprintf(out, 64, "user:%s", uid_of(id, 0xb, (unsigned)(rand_r(&c->seed) % N_BUYERS)));
    return out;
}

static void chaos_hold(struct chaos *c)
{
    static const char *const types[] = {T_GA, T_EARLY, T_RES, T_SEASON, T_BUNDLE, T_GROUP};
    char lines[512] = "[", actor[64], id[40];
    int n = 1 + (int)(rand_r(&c->seed) % 2), first = (int)(rand_r(&c->seed) % 6);
    for (int i = 0; i < n; i++) {
        const char *t = types[(first + i * 2) % 6];
        size_t len = strlen(lines);
        if (strcmp(t, T_RES) == 0) {
            int r = 1 + (int)(rand_r(&c->seed) % 2), k = 1 + (int)(rand_r(&c->seed) % 5);
            snprintf(lines + len, sizeof(lines) - len,
                     "%s{'ticket_type_id':'%s','seats':['A-%d-%d','A-%d-%d']}", i ? "," : "", t, r,
                     k, r, k + 1);
        } else {
            snprintf(lines + len, sizeof(lines) - len, "%s{'ticket_type_id':'%s','quantity':%d}",
                     i ? "," : "", t, 1 + (int)(rand_r(&c->seed) % 3));
        }
    }
    strcat(lines, "]");
    uid_of(id, 0xd, (unsigned)c->n_holds);
    struct tix_decision d;
    struct tix_err err;
    int rc =
        tix_world_run("hold.place", EV, buyer_actor(c, actor),
                      hold_payload(id, rand_r(&c->seed) % 3 == 0 ? SES2 : SES1, lines), &d, &err);
    cr_assert_geq(rc, 0, "%s: %s", err.field, err.msg);
    if (!d.is_rejected && d.n_events > 0) {
        snprintf(c->holds[c->n_holds++], 40, "%s", id);
        c->accepted_holds++;
    }
    c->short_stock += d.is_rejected && strcmp(d.code, "insufficient_stock") == 0;
    c->seat_refusals += d.is_rejected && strcmp(d.code, "seat_unavailable") == 0;
    tix_decision_deinit(&d);
}

/* Runs type with payload as actor; rejections are fine, invalid payloads are not. */
static void chaos_run(const char *type, const char *actor, json_t *payload)
{
    struct tix_decision d;
    struct tix_err err;
    int rc = tix_world_run(type, EV, actor, payload, &d, &err);
    cr_assert_geq(rc, 0, "%s invalid: %s: %s", type, err.field, err.msg);
    tix_decision_deinit(&d);
}

/* The actor of the buyer of hold h (sometimes someone else's). */
static void hold_owner(struct chaos *c, const char *hold_id, char actor[64])
{
    int h = tix_stock_find_hold(stock(), hold_id);
    if (h >= 0 && rand_r(&c->seed) % 8 != 0)
        snprintf(actor, 64, "user:%s", stock()->buyers[stock()->holds[h].buyer].id);
    else
        buyer_actor(c, actor);
}

/* An index below n, mostly among the last few (where live holds and orders are). */
static int recent(struct chaos *c, int n)
{
    unsigned draw = rand_r(&c->seed); /* two draws in sequence: every build sees one sequence */
    int back = (int)(draw % (rand_r(&c->seed) % 4 == 0 ? (unsigned)n : 3u));
    return back < n ? n - 1 - back : 0;
}

/* The organizer refunds a random live ticket of paid order o, or the whole order. */
static void chaos_refund(struct chaos *c, int o)
{
    const struct tix_stock_order *x = &stock()->orders[o];
    char id[40];
    uid_of(id, 0xe, (unsigned)c->n_refunds++);
    json_t *p = jf("{'event_id':'%s','order_id':'%s','request_id':'%s','requested_by':'organizer'}",
                   EV, x->id, id);
    unsigned pick = rand_r(&c->seed) % (unsigned)(x->n_tickets + 1);
    if (pick < (unsigned)x->n_tickets)
        json_object_set_new(p, "ticket_ids",
                            json_pack("[s]", stock()->tickets[x->first_ticket + (int)pick].id));
    int before = x->n_void;
    chaos_run("order.refund", A_ORG, p);
    c->voided += stock()->orders[o].n_void > before;
}

static void chaos_order_step(struct chaos *c, unsigned op)
{
    char actor[64], id[40];
    const char *hold_id = c->n_holds > 0 ? c->holds[recent(c, c->n_holds)] : H1;
    if (op < 70) {
        hold_owner(c, hold_id, actor);
        uid_of(id, 0xc, (unsigned)c->n_orders);
        snprintf(c->orders[c->n_orders++], 40, "%s", id);
        chaos_run("order.place", actor,
                  jf("{'event_id':'%s','order_id':'%s','hold_id':'%s'}", EV, id, hold_id));
        return;
    }
    if (c->n_orders == 0)
        return;
    const char *order_id = c->orders[recent(c, c->n_orders)];
    int o = tix_stock_find_order(stock(), order_id);
    if (o < 0)
        return;
    if (op < 73) {
        snprintf(actor, 64, "user:%s", stock()->buyers[stock()->orders[o].buyer].id);
        chaos_run("order.cancel", actor, jf("{'event_id':'%s','order_id':'%s'}", EV, order_id));
        return;
    }
    enum tix_order_status before = stock()->orders[o].status;
    if ((before == TIX_ORDER_PAID || before == TIX_ORDER_PARTIALLY_REFUNDED) && op >= 78) {
        chaos_refund(c, o);
        return;
    }
    bool is_failure = rand_r(&c->seed) % 5 == 0;
    char stripe[32];
    snprintf(stripe, sizeof(stripe), "evt_%u", rand_r(&c->seed) % 4 == 0 ? 0 : c->n_stripe++);
    chaos_run("payment.apply", A_PAY,
              pay_payload(order_id, stripe, is_failure ? "failed" : "succeeded",
                          stock()->orders[o].total_minor));
    enum tix_order_status after = stock()->orders[o].status;
    c->paid += before != TIX_ORDER_PAID && after == TIX_ORDER_PAID;
    c->late_paid +=
        before != TIX_ORDER_PENDING_PAYMENT && before != TIX_ORDER_PAID && after == TIX_ORDER_PAID;
    c->refunds += after == TIX_ORDER_REFUND_PENDING && before != TIX_ORDER_REFUND_PENDING;
}

static void chaos_step(struct chaos *c)
{
    unsigned op = rand_r(&c->seed) % 100;
    char actor[64];
    const char *hold_id = c->n_holds > 0 ? c->holds[rand_r(&c->seed) % (unsigned)c->n_holds] : H1;
    if (op < 40) {
        chaos_hold(c);
    } else if (op < 50) {
        hold_owner(c, hold_id, actor);
        chaos_run("hold.release", actor, jf("{'event_id':'%s','hold_id':'%s'}", EV, hold_id));
    } else if (op < 55) {
        hold_owner(c, hold_id, actor);
        chaos_run("hold.extend", actor, jf("{'event_id':'%s','hold_id':'%s'}", EV, hold_id));
    } else if (op < 88) {
        chaos_order_step(c, op);
    } else if (op < 92) {
        chaos_run("hold.expire", A_CLOCK, jf("{'event_id':'%s'}", EV));
    } else {
        later(60 * (1 + (int64_t)(rand_r(&c->seed) % 6)));
    }
}

/* Compares the counters and statuses of two states of the same stream. */
static void expect_same_state(const struct tix_stock_state *a, const struct tix_stock_state *b)
{
    cr_assert_eq(a->n_holds, b->n_holds);
    cr_assert_eq(a->n_orders, b->n_orders);
    cr_assert_eq(a->n_tickets, b->n_tickets);
    cr_assert_eq(a->n_deadlines, b->n_deadlines);
    for (int h = 0; h < a->n_holds; h++)
        cr_assert_eq(a->holds[h].status, b->holds[h].status);
    for (int o = 0; o < a->n_orders; o++)
        cr_assert_eq(a->orders[o].status, b->orders[o].status);
    for (int i = 0; i < a->n_sessions; i++) {
        int k = tix_stock_find_session(b, a->sessions[i].id);
        cr_assert_geq(k, 0);
        for (int t = 0; t < a->n_types; t++) {
            cr_assert_eq(a->sessions[i].type_held[t], b->sessions[k].type_held[t]);
            cr_assert_eq(a->sessions[i].type_sold[t], b->sessions[k].type_sold[t]);
        }
        cr_assert_eq(a->sessions[i].places_held, b->sessions[k].places_held);
        for (int s = 0; a->sessions[i].owner != NULL && s < a->n_seats; s++)
            cr_assert_eq(a->sessions[i].owner[s],
                         b->sessions[k].owner != NULL ? b->sessions[k].owner[s] : 0);
    }
}

Test(stock, random_sequences_never_oversell)
{
    given_event(100, 16, true); /* SES2 admits 16 */
    given_seats();
    ok(A_ORG, "pool.define",
       jf("{'event_id':'%s','pool_id':'%s','name':'Floor','capacity':14}", EV, POOL));
    given_type(T_GA, "general_admission", 2500, "9", ",'pool_id':'" POOL "'");
    given_type(T_EARLY, "early_bird", 1500, "7", ",'pool_id':'" POOL "'");
    given_type(T_RES, "reserved", 4000, "null", ",'sections':['A']");
    given_type(T_SEASON, "season_pass", 9000, "5", "");
    given_type(T_BUNDLE, "bundle", 3500, "5",
               ",'components':[{'ticket_type_id':'" T_GA
               "','quantity':1},{'ticket_type_id':'" T_EARLY "','quantity':1}]");
    given_type(T_GROUP, "group", 8000, "5", ",'group_size':2");
    ok(A_ORG, "stock.configure",
       jf("{'event_id':'%s','fee_fixed_minor':50,'fee_percent_bp':300,'tax_percent_bp':1000}", EV));
    static struct chaos c;
    memset(&c, 0, sizeof(c));
    c.seed = 20261231;
    for (int i = 0; i < N_STEPS; i++) {
        chaos_step(&c);
        check_invariants();
    }
    cr_log_info("holds %d paid %d short %d seats %d late %d refunds %d voided %d", c.accepted_holds,
                c.paid, c.short_stock, c.seat_refusals, c.late_paid, c.refunds, c.voided);
    cr_assert_gt(c.voided, 3, "refunds granted %d", c.voided);
    cr_assert_gt(c.accepted_holds, 60, "holds %d", c.accepted_holds);
    cr_assert_gt(c.paid, 10, "paid %d", c.paid);
    cr_assert_gt(c.short_stock, 10, "insufficient_stock %d", c.short_stock);
    cr_assert_gt(c.seat_refusals, 5, "seat_unavailable %d", c.seat_refusals);
    cr_assert_gt(c.late_paid + c.refunds, 0, "late payments %d, refunds %d", c.late_paid,
                 c.refunds);
    struct tix_stock_state *replayed = tix_world_replay(STOCK);
    expect_same_state(stock(), replayed);
    tix_stock_stream_kind.destroy(replayed);
}

/* ---- free orders, refunds, transfers ------------------------------------------------------ */

#define T_FREE "0190c1e2-0000-7000-8000-0000000000a9"
#define RQ1    "0190c1e2-0000-7000-8000-000000000e01"
#define RQ2    "0190c1e2-0000-7000-8000-000000000e02"
#define RQ3    "0190c1e2-0000-7000-8000-000000000e03"
#define NEW_T  "0190c1e2-0000-7000-8000-000000000f99"

Test(stock, a_free_order_is_paid_at_once)
{
    given_sale();
    given_type(T_FREE, "general_admission", 0, "5", "");
    hold(A_B1, H1, SES1, "[{'ticket_type_id':'" T_FREE "','quantity':2}]");
    json_t *place = jf("{'event_id':'%s','order_id':'%s','hold_id':'%s'}", EV, O1, H1);
    rejected(A_B1, "order.place", json_deep_copy(place), "invalid", "ticket_seed");
    json_object_set_new(place, "ticket_seed", json_string(SEED));
    struct tix_decision d = run_ok(A_B1, "order.place", place);
    cr_assert_eq(d.n_events, 2);
    cr_assert_str_eq(d.events[0].type, "order.placed");
    cr_assert_str_eq(d.events[1].type, "order.paid");
    cr_assert_null(json_object_get(d.events[1].data, "payment_intent_id"));
    cr_assert_eq(json_array_size(json_object_get(d.events[1].data, "tickets")), 2);
    cr_assert_str_eq(tix_json_str(d.result, "status"), "paid");
    cr_assert_eq(tix_json_int(d.result, "tickets", 0), 2);
    tix_decision_deinit(&d);
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_PAID);
    cr_assert_eq(sold(SES1, T_FREE), 2);
    /* a paid order keeps its seed-less answer: a priced one still waits for Stripe */
    hold(A_B2, H2, SES1, GA2);
    order(A_B2, O2, H2);
    cr_assert_eq(stock()->orders[1].status, TIX_ORDER_PENDING_PAYMENT);
    check_invariants();
}

static json_t *refund_payload(const char *order_id, const char *request, const char *tickets,
                              const char *by)
{
    json_t *p = jf("{'event_id':'%s','order_id':'%s','request_id':'%s','requested_by':'%s'}", EV,
                   order_id, request, by);
    if (tickets != NULL)
        json_object_set_new(p, "ticket_ids", jf("%s", tickets));
    return p;
}

Test(stock, an_organizer_refunds_tickets_and_their_stock_comes_back)
{
    given_sale();
    ok(A_ORG, "stock.configure", jf("{'event_id':'%s','tax_percent_bp':1000}", EV));
    hold(A_B1, H1, SES1,
         "[{'ticket_type_id':'" T_GA "','quantity':2},{'ticket_type_id':'" T_RES
         "','seats':['A-1-1']}]");
    order(A_B1, O1, H1);
    rejected(A_ORG, "order.refund", refund_payload(O1, RQ1, NULL, "organizer"), "not_refundable",
             "order_id");
    pay(O1, "evt_1");
    cr_assert_eq(total_of(O1), 9900);
    char seat_ticket[40], list[128];
    snprintf(seat_ticket, sizeof(seat_ticket), "%s", stock()->tickets[2].id);
    rejected(A_ORG, "order.refund", refund_payload(O1, RQ1, "['" NEW_T "']", "organizer"),
             "not_found", "ticket_ids[0]");
    snprintf(list, sizeof(list), "['%s']", seat_ticket);
    struct tix_decision d =
        run_ok(A_ORG, "order.refund", refund_payload(O1, RQ1, list, "organizer"));
    cr_assert_eq(d.n_events, 2);
    cr_assert_str_eq(d.events[0].type, "order.refund_granted");
    cr_assert_eq(tix_json_int(d.events[0].data, "amount_minor", 0), 4400, "4000 and its tax");
    const json_t *line = json_array_get(json_object_get(d.events[0].data, "lines"), 0);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(line, "seats"), 0)), "A-1-1");
    cr_assert_str_eq(d.events[1].type, "order.refund_required");
    cr_assert_str_eq(tix_json_str(d.events[1].data, "request_id"), RQ1);
    cr_assert_str_eq(tix_json_str(d.events[1].data, "payment_intent_id"), "pi_1");
    tix_decision_deinit(&d);
    cr_assert_eq(sold(SES1, T_RES), 0);
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_PAID);
    no_events(A_ORG, "order.refund", refund_payload(O1, RQ1, list, "organizer"));
    rejected(A_ORG, "order.refund", refund_payload(O1, RQ2, list, "organizer"), "already_refunded",
             "ticket_ids[0]");
    rejected("user:0190c1e2-0000-7000-8000-00000000005c", "ticket.check_in",
             scan(seat_ticket, "in", "gate-1"), "ticket_void", "ticket_id");
    hold(A_B2, H2, SES1, SEAT("A-1-1")); /* the seat is free again */
    ok(A_PAY, "order.mark_refunded",
       jf("{'event_id':'%s','order_id':'%s','refund_id':'re_1','request_id':'%s'}", EV, O1, RQ1));
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_PARTIALLY_REFUNDED);
    ok("user:0190c1e2-0000-7000-8000-00000000005c", "ticket.check_in",
       scan(stock()->tickets[0].id, "in", "gate-1"));
    rejected(A_ORG, "order.refund", refund_payload(O1, RQ2, NULL, "organizer"), "checked_in",
             "order_id");
    snprintf(list, sizeof(list), "['%s']", stock()->tickets[1].id);
    d = run_ok(A_ORG, "order.refund", refund_payload(O1, RQ2, list, "organizer"));
    cr_assert_eq(tix_json_int(d.events[0].data, "amount_minor", 0), 2750);
    tix_decision_deinit(&d);
    cr_assert_eq(sold(SES1, T_GA), 1);
    check_invariants();
}

Test(stock, a_full_refund_then_the_outcome_from_stripe)
{
    given_sale();
    hold(A_B1, H1, SES1, GA2);
    order(A_B1, O1, H1);
    pay(O1, "evt_1");
    rejected(A_B1, "order.refund", refund_payload(O1, RQ1, NULL, "buyer"), "forbidden", NULL);
    rejected(A_B2, "order.refund", refund_payload(O1, RQ1, NULL, "buyer"), "not_found", "order_id");
    struct tix_decision d =
        run_ok(A_ORG, "order.refund", refund_payload(O1, RQ1, NULL, "organizer"));
    cr_assert_eq(tix_json_int(d.events[0].data, "amount_minor", 0), total_of(O1));
    cr_assert_eq(json_array_size(json_object_get(d.events[0].data, "ticket_ids")), 2);
    tix_decision_deinit(&d);
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_REFUND_PENDING);
    cr_assert_eq(sold(SES1, T_GA), 0);
    rejected(A_ORG, "order.refund", refund_payload(O1, RQ2, NULL, "organizer"), "not_refundable",
             "order_id");
    ok(A_PAY, "order.mark_refund_failed",
       jf("{'event_id':'%s','order_id':'%s','request_id':'%s','reason':'charge_already_refunded'}",
          EV, O1, RQ1));
    rejected(A_PAY, "order.mark_refunded",
             jf("{'event_id':'%s','order_id':'%s','refund_id':'re_1'}", EV, O1),
             "no_refund_pending", "order_id");
    /* a buyer whose event is cancelled gets the whole order back */
    hold(A_B2, H2, SES1, GA2);
    order(A_B2, O2, H2);
    pay(O2, "evt_2");
    ok(A_ORG, "event.cancel", jf("{'event_id':'%s','reason':'storm'}", EV));
    char list[64];
    snprintf(list, sizeof(list), "['%s']", stock()->tickets[2].id);
    rejected(A_B2, "order.refund", refund_payload(O2, RQ3, list, "buyer"), "invalid", "ticket_ids");
    ok(A_B2, "order.refund", refund_payload(O2, RQ3, NULL, "buyer"));
    cr_assert_eq(stock()->orders[1].status, TIX_ORDER_REFUND_PENDING);
    ok(A_PAY, "order.mark_refunded",
       jf("{'event_id':'%s','order_id':'%s','refund_id':'re_2','request_id':'%s'}", EV, O2, RQ3));
    cr_assert_eq(stock()->orders[1].status, TIX_ORDER_REFUNDED);
    check_invariants();
}

/* B1's paid order O1 of two GA tickets; the first one's id into first. */
static void given_paid_tickets(char first[40])
{
    given_sale();
    hold(A_B1, H1, SES1, GA2);
    order(A_B1, O1, H1);
    pay(O1, "evt_1");
    snprintf(first, 40, "%s", stock()->tickets[0].id);
}

Test(stock, a_claimed_ticket_takes_a_new_id_and_the_old_one_admits_nobody)
{
    char old[40];
    given_paid_tickets(old);
    const char *mail = "cc00000000000000000000000000000000000000000000000000000000000000";
    ok(A_B1, "ticket.offer_transfer",
       jf("{'event_id':'%s','ticket_id':'%s','transfer_id':'%s','to_email_index':'%s'}", EV, old,
          RQ2, mail));
    ok(A_B2, "ticket.claim_transfer",
       jf("{'event_id':'%s','transfer_id':'%s','new_ticket_id':'%s','to_email_index':'%s'}", EV,
          RQ2, NEW_T, mail));
    cr_assert_eq(tix_stock_find_ticket(stock(), old), -1, "the old id (and QR) is gone");
    const char *scanner = "user:0190c1e2-0000-7000-8000-00000000005c";
    rejected(scanner, "ticket.check_in", scan(old, "in", "gate-1"), "not_found", "ticket_id");
    ok(scanner, "ticket.check_in", scan(NEW_T, "in", "gate-1"));
    rejected(A_B2, "ticket.offer_transfer",
             jf("{'event_id':'%s','ticket_id':'%s','transfer_id':'%s','to_email_index':'%s'}", EV,
                NEW_T, RQ3, mail),
             "already_used", "ticket_id");
    snprintf(old, sizeof(old), "%s", stock()->tickets[1].id);
    later(365 * 86400);
    rejected(A_B1, "ticket.offer_transfer",
             jf("{'event_id':'%s','ticket_id':'%s','transfer_id':'%s','to_email_index':'%s'}", EV,
                old, RQ3, mail),
             "event_over", "ticket_id");
    check_invariants();
}

#define A_PM "system:process-manager"

/* A payment of order_id succeeding now (Stripe event stripe) is refunded for reason. */
static void expect_late_refund(const char *order_id, const char *stripe, const char *reason)
{
    struct tix_decision d = run_ok(A_PAY, "payment.apply",
                                   pay_payload(order_id, stripe, "succeeded", total_of(order_id)));
    cr_assert_str_eq(d.events[0].type, "order.refund_required");
    cr_assert_str_eq(tix_json_str(d.events[0].data, "reason"), reason);
    tix_decision_deinit(&d);
}

Test(stock, a_cancelled_event_winds_its_sale_down)
{
    given_sale();
    hold(A_B1, H1, SES1, GA2);
    order(A_B1, O1, H1);
    pay(O1, "evt_1");
    ok("user:0190c1e2-0000-7000-8000-00000000005c", "ticket.check_in",
       jf("{'event_id':'%s','ticket_id':'%s','device_id':'gate-1','direction':'in'}", EV,
          stock()->tickets[0].id));
    hold(A_B2, H2, SES1, GA1);
    order(A_B2, O2, H2);
    hold(A_B1, H3, SES1, GA1);
    json_t *p = jf("{'event_id':'%s'}", EV);
    rejected(A_PM, "stock.cancel_sale", json_deep_copy(p), "not_cancelled", "event_id");
    ok(A_ORG, "event.cancel", jf("{'event_id':'%s','reason':'storm'}", EV));
    rejected(A_ORG, "stock.cancel_sale", json_deep_copy(p), "forbidden", NULL);
    invalid(A_PM, "stock.cancel_sale", jf("{'event_id':'%s','order_ids':[]}", EV), "order_ids");
    struct tix_decision d = run_ok(A_PM, "stock.cancel_sale", json_deep_copy(p));
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(&d, 0, STOCK, "stock.sale_cancelled",
                           jf("{'event_id':'%s','hold_ids':['%s'],'cancelled_order_ids':['%s'],"
                              "'order_ids':['%s']}",
                              EV, H3, O2, O1));
    tix_decision_deinit(&d);
    cr_assert_eq(stock()->holds[2].status, TIX_HOLD_RELEASED);
    cr_assert_eq(stock()->orders[1].status, TIX_ORDER_CANCELLED);
    cr_assert_eq(taken(SES1, T_GA), 2, "only the paid order's units stay taken");
    /* the process manager refunds the paid order, its scanned ticket too */
    json_t *r = refund_payload(O1, RQ1, NULL, "organizer");
    json_object_set_new(r, "reason", json_string("event_cancelled"));
    ok(A_PM, "order.refund", r);
    cr_assert_eq(stock()->orders[0].status, TIX_ORDER_REFUND_PENDING);
    cr_assert_eq(stock()->orders[0].n_void, 2);
    no_events(A_PM, "stock.cancel_sale", p); /* again: nothing left to end or refund */
    /* the cancelled order paid late is refunded, whatever the stock */
    expect_late_refund(O2, "evt_2", "event_cancelled");
    check_invariants();
}

Test(stock, a_transfer_offered_to_an_email_is_claimed_by_its_owner)
{
    char old[40];
    given_paid_tickets(old);
    const char *mail = "aa00000000000000000000000000000000000000000000000000000000000000";
    const char *other = "bb00000000000000000000000000000000000000000000000000000000000000";
    json_t *p = jf("{'event_id':'%s','ticket_id':'%s','transfer_id':'%s','to_email_index':'%s'}",
                   EV, old, RQ2, mail);
    rejected(A_B2, "ticket.offer_transfer", json_deep_copy(p), "not_found", "ticket_id");
    invalid(A_B1, "ticket.offer_transfer",
            jf("{'event_id':'%s','ticket_id':'%s','transfer_id':'%s','to_email_index':'x'}", EV,
               old, RQ2),
            "to_email_index");
    struct tix_decision d = run_ok(A_B1, "ticket.offer_transfer", json_deep_copy(p));
    tix_world_expect_event(&d, 0, STOCK, "ticket.transfer_offered",
                           jf("{'event_id':'%s','ticket_id':'%s','transfer_id':'%s',"
                              "'from_user_id':'%s','to_email_index':'%s','at':'%s'}",
                              EV, old, RQ2, B1, mail, EARLY));
    tix_decision_deinit(&d);
    no_events(A_B1, "ticket.offer_transfer", json_deep_copy(p)); /* the same offer again */
    rejected(A_B1, "ticket.offer_transfer",
             jf("{'event_id':'%s','ticket_id':'%s','transfer_id':'%s','to_email_index':'%s'}", EV,
                stock()->tickets[1].id, RQ2, mail),
             "already_exists", "transfer_id");
    json_t *claim = jf("{'event_id':'%s','transfer_id':'%s','new_ticket_id':'%s',"
                       "'to_email_index':'%s'}",
                       EV, RQ2, NEW_T, mail);
    rejected(A_B2, "ticket.claim_transfer",
             jf("{'event_id':'%s','transfer_id':'%s','new_ticket_id':'%s','to_email_index':'%s'}",
                EV, RQ2, NEW_T, other),
             "not_found", "transfer_id");
    rejected(A_B1, "ticket.claim_transfer", json_deep_copy(claim), "same_holder", "to_user_id");
    rejected(A_PAY, "ticket.claim_transfer", json_deep_copy(claim), "forbidden", NULL);
    d = run_ok(A_B2, "ticket.claim_transfer", json_deep_copy(claim));
    tix_world_expect_event(&d, 0, STOCK, "ticket.transferred",
                           jf("{'event_id':'%s','ticket_id':'%s','new_ticket_id':'%s',"
                              "'from_user_id':'%s','to_user_id':'%s','at':'%s'}",
                              EV, old, NEW_T, B1, B2, EARLY));
    tix_decision_deinit(&d);
    cr_assert_eq(tix_stock_find_ticket(stock(), old), -1);
    rejected(A_B2, "ticket.claim_transfer", claim, "not_found", "transfer_id"); /* taken */
    rejected(A_B1, "ticket.offer_transfer", p, "not_found", "ticket_id");
    check_invariants();
}

/* ---- sold out by itself (stock_room.c) ----------------------------------------------------- */

/* The event's lifecycle step in decision d (on the event stream), or NULL. */
static const char *lifecycle_step(const struct tix_decision *d)
{
    for (int i = 0; i < d->n_events; i++)
        if (strcmp(d->events[i].stream_id, TIX_EVENT_STREAM_PREFIX EV) == 0)
            return d->events[i].type;
    return NULL;
}

/* Runs an accepted command and checks the lifecycle step it records (NULL: none). */
static void step(const char *actor, const char *type, json_t *payload, const char *want)
{
    struct tix_decision d = run_ok(actor, type, payload);
    const char *got = lifecycle_step(&d);
    if (want == NULL)
        cr_assert_null(got, "%s recorded %s", type, got);
    else
        cr_assert(got != NULL && strcmp(got, want) == 0, "%s recorded %s, not %s", type,
                  got != NULL ? got : "nothing", want);
    for (int i = 0; want != NULL && i < d.n_events; i++)
        if (strcmp(d.events[i].type, want) == 0)
            tix_world_expect_event(&d, i, TIX_EVENT_STREAM_PREFIX EV, want,
                                   jf("{'event_id':'%s','automatic':true}", EV));
    tix_decision_deinit(&d);
}

static json_t *release_payload(const char *hold_id)
{
    return jf("{'event_id':'%s','hold_id':'%s'}", EV, hold_id);
}

/* On sale, one GA type of 2 sold in SES1 only (SES2 sells nothing). */
static void given_two_places(void)
{
    given_event(100, 0, true);
    given_type(T_GA, "general_admission", 2500, "2", ",'session_ids':['" SES1 "']");
}

Test(stock, the_last_place_held_sells_the_event_out_and_a_release_reopens_it)
{
    given_two_places();
    step(A_B1, "hold.place", hold_payload(H1, SES1, GA1), NULL);
    cr_assert_eq(ev()->status, TIX_EVENT_ON_SALE);
    step(A_B2, "hold.place", hold_payload(H2, SES1, GA1), "event.sold_out");
    cr_assert_eq(ev()->status, TIX_EVENT_SOLD_OUT);
    cr_assert(ev()->is_sold_out_automatic);
    rejected(A_B1, "hold.place", hold_payload(H3, SES1, GA1), "not_on_sale", NULL);
    order(A_B2, O2, H2); /* a sold-out event still takes orders of its holds */
    step(A_B1, "hold.release", release_payload(H1), "event.sales_reopened");
    cr_assert_eq(ev()->status, TIX_EVENT_ON_SALE);
    cr_assert(!ev()->is_sold_out_automatic);
    step(A_B1, "hold.place", hold_payload(H3, SES1, GA1), "event.sold_out");
    step(A_B2, "order.cancel", jf("{'event_id':'%s','order_id':'%s'}", EV, O2),
         "event.sales_reopened");
    check_invariants();
}

Test(stock, an_expired_hold_reopens_the_event)
{
    given_two_places();
    step(A_B1, "hold.place", hold_payload(H1, SES1, "[{'ticket_type_id':'" T_GA "','quantity':2}]"),
         "event.sold_out");
    no_events(A_CLOCK, "hold.expire", jf("{'event_id':'%s'}", EV));
    later(11 * 60);
    step(A_CLOCK, "hold.expire", jf("{'event_id':'%s'}", EV), "event.sales_reopened");
    cr_assert_eq(ev()->status, TIX_EVENT_ON_SALE);
    cr_assert_eq(taken(SES1, T_GA), 0);
}

Test(stock, a_refund_reopens_the_event)
{
    given_two_places();
    step(A_B1, "hold.place", hold_payload(H1, SES1, "[{'ticket_type_id':'" T_GA "','quantity':2}]"),
         "event.sold_out");
    order(A_B1, O1, H1);
    pay(O1, "evt_1");
    cr_assert_eq(ev()->status, TIX_EVENT_SOLD_OUT);
    char list[64];
    snprintf(list, sizeof(list), "['%s']", stock()->tickets[0].id);
    step(A_ORG, "order.refund", refund_payload(O1, RQ1, list, "organizer"), "event.sales_reopened");
    cr_assert_eq(taken(SES1, T_GA), 1);
}

Test(stock, a_promoters_sold_out_is_not_reopened_by_itself)
{
    given_two_places();
    step(A_B1, "hold.place", hold_payload(H1, SES1, GA1), NULL);
    ok(A_ORG, "event.mark_sold_out", jf("{'event_id':'%s'}", EV));
    cr_assert(!ev()->is_sold_out_automatic);
    step(A_B1, "hold.release", release_payload(H1), NULL);
    cr_assert_eq(ev()->status, TIX_EVENT_SOLD_OUT);
    rejected(A_ORG, "event.mark_sold_out", jf("{'event_id':'%s'}", EV), "illegal_transition", NULL);
    ok(A_ORG, "event.reopen_sales", jf("{'event_id':'%s'}", EV));
    cr_assert_eq(ev()->status, TIX_EVENT_ON_SALE);
    rejected(A_ORG, "event.reopen_sales", jf("{'event_id':'%s'}", EV), "illegal_transition", NULL);
    /* an automatic sold-out: the promoter may reopen it, and the stock sells out again */
    step(A_B1, "hold.place", hold_payload(H2, SES1, "[{'ticket_type_id':'" T_GA "','quantity':2}]"),
         "event.sold_out");
    rejected(A_ORG, "event.mark_sold_out", jf("{'event_id':'%s'}", EV), "illegal_transition", NULL);
    ok(A_ORG, "event.reopen_sales", jf("{'event_id':'%s'}", EV));
    step(A_B1, "hold.release", release_payload(H2), NULL); /* on sale already */
    cr_assert_eq(ev()->status, TIX_EVENT_ON_SALE);
}

Test(stock, every_session_and_type_must_be_gone)
{
    given_event(3, 0, true);
    given_seats();
    given_type(T_RES, "reserved", 4000, "null", ",'sections':['B'],'session_ids':['" SES1 "']");
    given_type(T_GA, "general_admission", 2500, "10", ",'session_ids':['" SES2 "']");
    /* SES1 sells the four seats of B but admits 3; SES2 sells GA */
    step(A_B1, "hold.place",
         hold_payload(H1, SES1, "[{'ticket_type_id':'" T_RES "','seats':['B-1-1','B-1-2']}]"),
         NULL);
    step(A_B1, "hold.place", hold_payload(H2, SES2, "[{'ticket_type_id':'" T_GA "','quantity':3}]"),
         NULL);
    step(A_B2, "hold.place",
         hold_payload(H3, SES1, "[{'ticket_type_id':'" T_RES "','seats':['B-1-4']}]"),
         "event.sold_out");
    cr_assert_eq(ev()->status, TIX_EVENT_SOLD_OUT, "B-1-3 is free but SES1 admits nobody more");
    step(A_B1, "hold.release", release_payload(H1), "event.sales_reopened");
    check_invariants();
}

#define POOL2 "0190c1e2-0000-7000-8000-0000000000f2"

/* ---- places added (stock_room.c) ------------------------------------------------------------- */

static json_t *quantity_payload(const char *type, int quantity)
{
    return jf("{'event_id':'%s','ticket_type_id':'%s','quantity':%d}", EV, type, quantity);
}

Test(stock, more_places_reopen_an_event_the_stock_sold_out)
{
    given_two_places();
    step(A_B1, "hold.place", hold_payload(H1, SES1, GA2), "event.sold_out");
    step(A_ORG, "ticket_type.update",
         jf("{'event_id':'%s','ticket_type_id':'%s','name':'Floor'}", EV, T_GA), NULL);
    cr_assert_eq(ev()->status, TIX_EVENT_SOLD_OUT, "a new name adds no place");
    step(A_ORG, "ticket_type.update", quantity_payload(T_GA, 3), "event.sales_reopened");
    cr_assert_eq(ev()->status, TIX_EVENT_ON_SALE);
    step(A_B2, "hold.place", hold_payload(H2, SES1, GA1), "event.sold_out");
    /* a new type in a session that still admits people */
    step(A_ORG, "ticket_type.create",
         type_payload(T_VIP, "vip", 9000, "1", ",'session_ids':['" SES2 "']"),
         "event.sales_reopened");
    step(A_B2, "hold.place",
         hold_payload(H3, SES2, "[{'ticket_type_id':'" T_VIP "','quantity':1}]"), "event.sold_out");
    check_invariants();
}

Test(stock, a_grown_pool_reopens_an_event_the_stock_sold_out)
{
    given_event(100, 0, true);
    ok(A_ORG, "pool.define",
       jf("{'event_id':'%s','pool_id':'%s','name':'Floor','capacity':2}", EV, POOL));
    given_type(T_GA, "general_admission", 100, "null",
               ",'pool_id':'" POOL "','session_ids':['" SES1 "']");
    step(A_B1, "hold.place", hold_payload(H1, SES1, GA2), "event.sold_out");
    step(A_ORG, "pool.define",
         jf("{'event_id':'%s','pool_id':'%s','name':'Floor','capacity':3}", EV, POOL),
         "event.sales_reopened");
    cr_assert_eq(ev()->status, TIX_EVENT_ON_SALE);
    /* a new pool holds nothing yet: a type drawing on it sells */
    step(A_B2, "hold.place", hold_payload(H2, SES1, GA1), "event.sold_out");
    step(A_ORG, "pool.define",
         jf("{'event_id':'%s','pool_id':'%s','name':'Balcony','capacity':1}", EV, POOL2), NULL);
    step(A_ORG, "ticket_type.create",
         type_payload(T_VIP, "vip", 9000, "null",
                      ",'pool_id':'" POOL2 "','session_ids':['" SES1 "']"),
         "event.sales_reopened");
    check_invariants();
}

Test(stock, a_promoters_sold_out_stays_when_places_are_added)
{
    given_two_places();
    step(A_B1, "hold.place", hold_payload(H1, SES1, GA1), NULL);
    ok(A_ORG, "event.mark_sold_out", jf("{'event_id':'%s'}", EV));
    step(A_ORG, "ticket_type.update", quantity_payload(T_GA, 30), NULL);
    step(A_ORG, "ticket_type.create", type_payload(T_VIP, "vip", 9000, "5", ""), NULL);
    cr_assert_eq(ev()->status, TIX_EVENT_SOLD_OUT);
}

/* ---- one session called off (stock_cancel.c) ------------------------------------------------- */

#define O3   "0190c1e2-0000-7000-8000-000000000c03"
#define H4   "0190c1e2-0000-7000-8000-000000000d04"
#define RQ_S "0190c1e2-0000-7000-8000-000000000e11"
#define H5   "0190c1e2-0000-7000-8000-000000000d05"
#define O4   "0190c1e2-0000-7000-8000-000000000c04"

static json_t *cancel_session_payload(const char *sid)
{
    return jf("{'event_id':'%s','session_id':'%s'}", EV, sid);
}

static json_t *session_refund_payload(const char *order_id, const char *sid)
{
    json_t *p = refund_payload(order_id, RQ_S, NULL, "organizer");
    json_object_set_new(p, "session_id", json_string(sid));
    json_object_set_new(p, "reason", json_string("session_cancelled"));
    return p;
}

/* The first ticket of order o. */
static const char *first_ticket(const char *order_id)
{
    int o = tix_stock_find_order(stock(), order_id);
    cr_assert_geq(o, 0);
    return stock()->tickets[stock()->orders[o].first_ticket].id;
}

Test(stock, a_called_off_session_winds_its_own_sale_down)
{
    given_sale();
    hold(A_B1, H1, SES1, GA2);
    order(A_B1, O1, H1);
    pay(O1, "evt_1");
    hold(A_B2, H2, SES2, GA1);
    order(A_B2, O2, H2);
    pay(O2, "evt_2");
    hold(A_B2, H3, SES1, GA1);
    order(A_B2, O3, H3);
    hold(A_B1, H4, SES1, GA1);
    rejected(A_PM, "stock.cancel_session", cancel_session_payload(SES1), "not_cancelled",
             "session_id");
    rejected(A_PM, "stock.cancel_session", cancel_session_payload(SES_X), "session_not_found",
             "session_id");
    ok(A_ORG, "event.cancel_session",
       jf("{'event_id':'%s','session_id':'%s','reason':'rain'}", EV, SES1));
    rejected(A_B2, "hold.place", hold_payload(H5, SES1, GA1), "session_cancelled", "session_id");
    rejected(A_B1, "order.place",
             jf("{'event_id':'%s','order_id':'%s','hold_id':'%s'}", EV, O4, H4),
             "session_cancelled", "hold_id");
    rejected(A_ORG, "stock.cancel_session", cancel_session_payload(SES1), "forbidden", NULL);
    invalid(A_PM, "stock.cancel_session", jf("{'event_id':'%s'}", EV), "session_id");
    struct tix_decision d = run_ok(A_PM, "stock.cancel_session", cancel_session_payload(SES1));
    cr_assert_eq(d.n_events, 1);
    tix_world_expect_event(&d, 0, STOCK, "stock.session_cancelled",
                           jf("{'event_id':'%s','session_id':'%s','hold_ids':['%s'],"
                              "'cancelled_order_ids':['%s'],'order_ids':['%s']}",
                              EV, SES1, H4, O3, O1));
    tix_decision_deinit(&d);
    cr_assert_eq(ev()->status, TIX_EVENT_ON_SALE);
    cr_assert_eq(taken(SES1, T_GA), 2, "only the paid order's units stay taken");
    /* the door says why before the refund and after */
    rejected(A_ORG, "ticket.check_in", scan(first_ticket(O1), "in", "gate-1"), "session_cancelled",
             "ticket_id");
    rejected(A_B1, "ticket.offer_transfer",
             jf("{'event_id':'%s','ticket_id':'%s','transfer_id':'%s','to_email_index':'%s'}", EV,
                first_ticket(O1), RQ2,
                "cc00000000000000000000000000000000000000000000000000000000000000"),
             "session_cancelled", "ticket_id");
    ok(A_PM, "order.refund", session_refund_payload(O1, SES1));
    int o1 = tix_stock_find_order(stock(), O1);
    cr_assert_eq(stock()->orders[o1].status, TIX_ORDER_REFUND_PENDING);
    cr_assert_eq(stock()->orders[o1].refunded_minor, total_of(O1));
    cr_assert_eq(taken(SES1, T_GA), 0);
    rejected(A_ORG, "ticket.check_in", scan(first_ticket(O1), "in", "gate-1"), "session_cancelled",
             "ticket_id");
    /* the other session goes on: its ticket admits, its stock sells */
    ok(A_ORG, "ticket.check_in", scan(first_ticket(O2), "in", "gate-1"));
    hold(A_B1, H5, SES2, GA1);
    no_events(A_PM, "stock.cancel_session", cancel_session_payload(SES1));
    /* the cancelled order paid late is refunded */
    expect_late_refund(O3, "evt_3", "session_cancelled");
    check_invariants();
}

Test(stock, a_called_off_session_refunds_only_its_share_of_a_mixed_order)
{
    given_event(100, 0, true);
    given_type(T_SEASON, "season_pass", 20000, "5", "");
    given_type(T_GA, "general_admission", 2500, "10", "");
    hold(A_B1, H1, SES1,
         "[{'ticket_type_id':'" T_GA "','quantity':2},{'ticket_type_id':'" T_SEASON
         "','quantity':1}]");
    order(A_B1, O1, H1);
    pay(O1, "evt_1");
    cr_assert_eq(total_of(O1), 25000);
    ok(A_ORG, "event.cancel_session",
       jf("{'event_id':'%s','session_id':'%s','reason':'rain'}", EV, SES1));
    struct tix_decision d = run_ok(A_PM, "stock.cancel_session", cancel_session_payload(SES1));
    tix_world_expect_json(json_object_get(d.events[0].data, "order_ids"), jf("['%s']", O1));
    tix_decision_deinit(&d);
    json_t *both = session_refund_payload(O1, SES1);
    json_object_set_new(both, "ticket_ids", jf("['%s']", first_ticket(O1)));
    rejected(A_PM, "order.refund", both, "invalid", "session_id");
    d = run_ok(A_PM, "order.refund", session_refund_payload(O1, SES1));
    cr_assert_str_eq(d.events[0].type, "order.refund_granted");
    cr_assert_eq(tix_json_int(d.events[0].data, "amount_minor", 0), 5000, "the two GA tickets");
    cr_assert_eq(json_array_size(json_object_get(d.events[0].data, "ticket_ids")), 2);
    tix_decision_deinit(&d);
    int o1 = tix_stock_find_order(stock(), O1);
    cr_assert_eq(stock()->orders[o1].n_void, 2);
    /* the season pass goes on to the next session */
    int pass = -1;
    for (int k = 0; k < stock()->n_tickets; k++)
        if (!stock()->tickets[k].is_void)
            pass = k;
    cr_assert_geq(pass, 0);
    json_t *p = scan(stock()->tickets[pass].id, "in", "gate-1");
    json_object_set_new(p, "session_id", json_string(SES1));
    rejected(A_ORG, "ticket.check_in", p, "session_cancelled", "ticket_id");
    p = scan(stock()->tickets[pass].id, "in", "gate-1");
    json_object_set_new(p, "session_id", json_string(SES2));
    ok(A_ORG, "ticket.check_in", p);
    no_events(A_PM, "order.refund", session_refund_payload(O1, SES1)); /* redelivered */
    json_t *again = session_refund_payload(O1, SES1);
    json_object_set_new(again, "request_id", json_string(RQ2));
    rejected(A_PM, "order.refund", again, "already_refunded", "order_id");
    check_invariants();
}
