/* main.c - bench/flash_sale: an on-sale surge against the running stack, next to the classic
 * design on the same Postgres
 *
 * 1. Sets up one show through the command bus (an organization, a venue whose chart has 20,000
 *    reserved seats and a 30,000-person floor, an on-sale event, three general-admission ticket
 *    types sharing the floor's pool and one reserved type over every seat).
 * 2. Runs the buyers (buyers.c) over HTTP: hold 1-4, order, pay by signed webhook.
 * 3. Runs the classic design (classic.c) at 50 clients for the same time on the same server.
 * 4. Checks the log: tickets sold <= capacity, every sold seat in exactly one paid order, no
 *    order paid twice; and prints the figures with the ratio to the classic design.
 * 5. Sets up a second show where the buyers only hold (no order, no payment: an on-sale's first
 *    seconds, and the classic design's work per decision), prints its ratio and checks that no
 *    seat and no place was held twice.
 * 6. Sets up a third show and runs the same buyers paced (buyers.h): holds start at a fixed
 *    rate, half the surge's unless given, so the latency is that of a stack keeping up; checks
 *    that show's log too.
 *
 * Usage: bench-flash_sale [seconds, default 20] [buyers, default 1000] [paced holds/s, default
 * half the surge's; 0: no paced run]. Reads TIXMO_* (the
 * stack's database, broker and gateway port, JWT and webhook secrets); scripts/bench flash-sale
 * starts a stack of its own for it. Exit status 0 only when every check holds.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tix/bus.h"
#include "tix/config.h"
#include "tix/ids.h"
#include "tix/json.h"

#include "buyers.h"
#include "classic.h"
#include "client.h"
#include "event.h"

#define SECTIONS       20
#define ROWS           40
#define SEATS_PER_ROW  25
#define FLOOR          30000
#define CAPACITY       (SECTIONS * ROWS * SEATS_PER_ROW + FLOOR)
#define CLASSIC_CLIENT 50
/* How long a run waits for the payment worker to make the intents of its orders (print_intents). */
#define INTENTS_WAIT_S 120

struct setup {
    struct tix_bus *bus;
    const struct tix_config *cfg;
    char org[37], venue[37], event[37], session[37];
    int failures;
};

/* Sends one command and waits for its outcome; counts and prints a rejection. */
static void send(struct setup *s, const char *type, const char *key, json_t *payload,
                 const char *actor)
{
    char cmd_id[TIX_UUID_LEN + 1];
    tix_uuid_v7(cmd_id);
    json_t *outcome = NULL;
    struct tix_err err;
    enum tix_rc rc = tix_client_call(s->bus, s->cfg->partitions, cmd_id, type, key, payload, actor,
                                     30000, &outcome, &err);
    json_decref(payload);
    const char *status = rc == TIX_OK ? tix_json_str(outcome, "status") : NULL;
    if (status == NULL || strcmp(status, "succeeded") != 0) {
        char *o = outcome != NULL ? json_dumps(outcome, JSON_COMPACT) : NULL;
        fprintf(stderr, "flash-sale setup: %s failed: %s\n", type, o != NULL ? o : err.msg);
        free(o);
        s->failures++;
    }
    json_decref(outcome);
}

static json_t *chart(void)
{
    json_t *sections = json_array();
    for (int sec = 0; sec < SECTIONS; sec++) {
        json_t *rows = json_array();
        for (int r = 1; r <= ROWS; r++) {
            json_t *seats = json_array();
            for (int n = 1; n <= SEATS_PER_ROW; n++) {
                char id[32], label[16];
                snprintf(id, sizeof(id), "%c-%d-%d", 'A' + sec, r, n);
                snprintf(label, sizeof(label), "%d", n);
                json_array_append_new(seats, json_pack("{ss ss si si}", "id", id, "label", label,
                                                       "x", sec * 300 + n * 10, "y", r * 12));
            }
            char id[32], label[16];
            snprintf(id, sizeof(id), "%c-%d", 'A' + sec, r);
            snprintf(label, sizeof(label), "%d", r);
            json_array_append_new(
                rows, json_pack("{ss ss so}", "id", id, "label", label, "seats", seats));
        }
        char id[4] = {(char)('A' + sec), '\0'}, name[24];
        snprintf(name, sizeof(name), "Block %c", 'A' + sec);
        json_array_append_new(sections, json_pack("{ss ss ss so}", "id", id, "name", name,
                                                  "category", "seated", "rows", rows));
    }
    return json_pack("{so s[{ss ss si ss}] si}", "sections", sections, "ga_areas", "id", "floor",
                     "name", "Floor", "capacity", FLOOR, "category", "standing", "capacity",
                     CAPACITY);
}

static json_t *ticket_type(const char *event, const char *id, const char *name, const char *kind,
                           int price, int quantity, const char *pool)
{
    json_t *t = json_pack("{ss ss ss ss si ss si si}", "event_id", event, "ticket_type_id", id,
                          "name", name, "kind", kind, "price_minor", price, "currency", "EUR",
                          "min_per_order", 1, "max_per_order", 4);
    if (quantity > 0)
        json_object_set_new(t, "quantity", json_integer(quantity));
    if (pool != NULL)
        json_object_set_new(t, "pool_id", json_string(pool));
    return t;
}

static int set_up(struct setup *s, struct sale_plan *plan)
{
    tix_uuid_v7(s->org);
    tix_uuid_v7(s->venue);
    tix_uuid_v7(s->event);
    tix_uuid_v7(s->session);
    const char *actor = "system:bench";
    char slug[48];
    snprintf(slug, sizeof(slug), "bench-%.8s", s->org + 28);
    send(s, "organization.create", s->org,
         json_pack("{ss ss ss ss}", "organization_id", s->org, "name", "Bench Promotions", "slug",
                   slug, "type", "promoter"),
         actor);
    send(s, "venue.create", s->venue,
         json_pack("{ss ss ss s{ss ss ss ss} ss si}", "venue_id", s->venue, "organization_id",
                   s->org, "name", "Bench Stadium", "address", "line1", "Stadionweg 1", "city",
                   "Berlin", "postal_code", "10243", "country", "DE", "timezone", "Europe/Berlin",
                   "capacity", CAPACITY),
         actor);
    send(s, "venue.publish_chart", s->venue,
         json_pack("{ss so}", "venue_id", s->venue, "chart", chart()), actor);
    int64_t now = tix_now_us() / 1000000;
    char sales_start[TIX_EVENT_INSTANT_LEN + 1], starts[TIX_EVENT_INSTANT_LEN + 1],
        ends[TIX_EVENT_INSTANT_LEN + 1];
    tix_event_format_instant(now - 3600, sales_start);
    tix_event_format_instant(now + 30 * 86400, starts);
    tix_event_format_instant(now + 30 * 86400 + 4 * 3600, ends);
    send(s, "event.create", s->event,
         json_pack("{ss ss ss si ss ss ss ss si ss ss s[{ss ss ss ss}]}", "event_id", s->event,
                   "organization_id", s->org, "venue_id", s->venue, "chart_version", 1, "name",
                   "The Surge Tour", "category", "concert", "timezone", "Europe/Berlin",
                   "visibility", "public", "capacity", CAPACITY, "sales_start", sales_start,
                   "sales_end", ends, "sessions", "session_id", s->session, "name", "Show",
                   "starts_at", starts, "ends_at", ends),
         actor);
    send(s, "stock.configure", s->event,
         json_pack("{ss si}", "event_id", s->event, "hold_minutes", 10), actor);
    char pool[TIX_UUID_LEN + 1];
    tix_uuid_v7(pool);
    send(s, "pool.define", s->event,
         json_pack("{ss ss ss si}", "event_id", s->event, "pool_id", pool, "name", "Floor",
                   "capacity", FLOOR),
         actor);
    static const char *const ga[][2] = {
        {"Early bird", "early_bird"}, {"Floor", "general_admission"}, {"VIP floor", "vip"}};
    static const int prices[] = {3900, 5900, 14900};
    plan->n_ga_types = 3;
    for (int i = 0; i < 3; i++) {
        tix_uuid_v7(plan->ga_types[i]);
        send(s, "ticket_type.create", s->event,
             ticket_type(s->event, plan->ga_types[i], ga[i][0], ga[i][1], prices[i], FLOOR, pool),
             actor);
    }
    tix_uuid_v7(plan->reserved_type);
    json_t *seated =
        ticket_type(s->event, plan->reserved_type, "Seated", "reserved", 7900, 0, NULL);
    json_object_set_new(seated, "categories", json_pack("[s]", "seated"));
    send(s, "ticket_type.create", s->event, seated, actor);
    send(s, "event.publish", s->event, json_pack("{ss}", "event_id", s->event), actor);
    send(s, "event.open_sales", s->event, json_pack("{ss}", "event_id", s->event), actor);
    snprintf(plan->event_id, sizeof(plan->event_id), "%s", s->event);
    snprintf(plan->session_id, sizeof(plan->session_id), "%s", s->session);
    plan->sections = SECTIONS;
    plan->rows = ROWS;
    plan->seats_per_row = SEATS_PER_ROW;
    plan->ga_share_pct = 60;
    return s->failures == 0 ? 0 : -1;
}

/* One number from a query (0 on error, printed). */
static int64_t scalar(PGconn *c, const char *sql, const char *event_id)
{
    char stream[64];
    snprintf(stream, sizeof(stream), "stock-%s", event_id);
    const char *params[] = {stream};
    PGresult *r = PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
    int64_t v = 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        fprintf(stderr, "flash-sale check: %s", PQerrorMessage(c));
    PQclear(r);
    return v;
}

/* Waits (up to 60 s) for the process manager to load the chart's seats into the stock. */
static bool seats_loaded(const char *url, const char *event_id)
{
    PGconn *c = PQconnectdb(url);
    bool ok = false;
    for (int i = 0; i < 600 && !ok; i++) {
        ok = scalar(c,
                    "SELECT count(*) FROM public.events WHERE stream_id = $1"
                    " AND type = 'stock.seats_loaded'",
                    event_id) > 0;
        if (!ok)
            usleep(100000);
    }
    PQfinish(c);
    return ok;
}

struct checks {
    int64_t tickets, paid_orders, seats_twice, orders_paid_twice;
};

static void check_log(const char *url, const char *event_id, struct checks *out)
{
    PGconn *c = PQconnectdb(url);
    out->tickets = scalar(c,
                          "SELECT coalesce(sum(jsonb_array_length(data::jsonb->'tickets')), 0)"
                          " FROM public.events WHERE stream_id = $1 AND type = 'order.paid'",
                          event_id);
    out->paid_orders = scalar(c,
                              "SELECT count(*) FROM public.events WHERE stream_id = $1"
                              " AND type = 'order.paid'",
                              event_id);
    out->orders_paid_twice =
        scalar(c,
               "SELECT count(*) FROM (SELECT data::jsonb->>'order_id' FROM public.events"
               " WHERE stream_id = $1 AND type = 'order.paid' GROUP BY 1 HAVING count(*) > 1) x",
               event_id);
    out->seats_twice =
        scalar(c,
               "SELECT count(*) FROM (SELECT t->>'seat_id' FROM public.events e,"
               " jsonb_array_elements(e.data::jsonb->'tickets') t WHERE e.stream_id = $1"
               " AND e.type = 'order.paid' AND t->>'seat_id' IS NOT NULL GROUP BY 1"
               " HAVING count(*) > 1) x",
               event_id);
    PQfinish(c);
}

/* A holds-only show's log: tickets held <= capacity and no seat in two holds (nothing is
 * released in such a run: no buyer lets go and a hold lasts ten minutes). */
static bool checked_holds(const struct tix_config *cfg, const struct sale_plan *plan)
{
    PGconn *c = PQconnectdb(cfg->db_url);
    int64_t held = scalar(c,
                          "SELECT coalesce(sum((l->>'quantity')::int), 0) FROM public.events e,"
                          " jsonb_array_elements(e.data::jsonb->'lines') l WHERE e.stream_id = $1"
                          " AND e.type = 'hold.placed'",
                          plan->event_id);
    int64_t twice = scalar(c,
                           "SELECT count(*) FROM (SELECT s FROM public.events e,"
                           " jsonb_array_elements(e.data::jsonb->'lines') l,"
                           " jsonb_array_elements_text(l->'seats') s WHERE e.stream_id = $1"
                           " AND e.type = 'hold.placed' GROUP BY 1 HAVING count(*) > 1) x",
                           plan->event_id);
    PQfinish(c);
    bool ok = held > 0 && held <= CAPACITY && twice == 0;
    printf("  checks:  tickets held %" PRId64 " <= capacity %d; seats in two holds %" PRId64
           ": %s\n",
           held, CAPACITY, twice, ok ? "OK" : "FAILED");
    return ok;
}

/* Waits (polling every 5 ms, at most 120 s) until the sale read model (availability, seat map,
 * the live stream's source) has applied every event of the show's partition; *behind gets how
 * many it had still to apply, *waited_ms how long it took. Returns whether it caught up. */
static bool sale_read_model_catch_up(const struct tix_config *cfg, const struct sale_plan *plan,
                                     int64_t *behind, double *waited_ms)
{
    PGconn *c = PQconnectdb(cfg->db_url);
    int64_t start = tix_now_us();
    char stream[64];
    snprintf(stream, sizeof(stream), "stock-%s", plan->event_id);
    const char *p[] = {stream};
    PGresult *r = PQexecParams(c,
                               "SELECT h.partition, h.last_seq, h.last_seq - k.last_seq FROM"
                               " public.partition_heads h JOIN public.projection_checkpoints k"
                               " USING (partition) JOIN public.projections j ON j.name ="
                               " k.projection AND j.active_version = k.version WHERE j.name ="
                               " 'sale' AND h.partition = (SELECT partition FROM public.events"
                               " WHERE stream_id = $1 LIMIT 1)",
                               1, NULL, p, NULL, NULL, 0);
    *behind = 0;
    *waited_ms = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "flash-sale: read model lag: %s", PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return false;
    }
    const char *q[] = {PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1)};
    *behind = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    if (*behind < 0)
        *behind = 0;
    bool done = *behind == 0;
    while (!done && tix_now_us() - start < 120 * 1000000LL) {
        PGresult *k = PQexecParams(c,
                                   "SELECT k.last_seq >= $2::bigint FROM"
                                   " public.projection_checkpoints k JOIN public.projections j"
                                   " ON j.name = k.projection AND j.active_version = k.version"
                                   " WHERE j.name = 'sale' AND k.partition = $1::int",
                                   2, NULL, q, NULL, NULL, 0);
        done = PQresultStatus(k) == PGRES_TUPLES_OK && PQntuples(k) == 1 &&
               PQgetvalue(k, 0, 0)[0] == 't';
        PQclear(k);
        if (!done)
            usleep(5000);
    }
    *waited_ms = (double)(tix_now_us() - start) / 1000.0;
    PQclear(r);
    PQfinish(c);
    return done;
}

/* How far the sale read model is behind once the buying stops, and how long it took to catch
 * up. */
static void print_read_model_lag(const struct tix_config *cfg, const struct sale_plan *plan)
{
    int64_t behind = 0;
    double waited_ms = 0;
    bool done = sale_read_model_catch_up(cfg, plan, &behind, &waited_ms);
    printf("           sale read model: %" PRId64 " events behind when the buying stopped,"
           " caught up %s%.0f ms later\n",
           behind, done ? "" : "not even ", waited_ms);
    fflush(stdout);
}

/* The orders of the show and those whose PaymentIntent the payment worker has made (the
 * client secret a real buyer waits for before paying; its row in payments gets the intent a
 * Stripe call after it is made, so its created_at stands for it), the latter also as of the last
 * order placed, and the p50/p99 ms from an order to its intent. Not order.payment_attached: the
 * bench's buyers pay by webhook at once, so most orders are paid before their intent is made and
 * the attach changes nothing. */
static const char intents_sql[] =
    "WITH p AS (SELECT (data::jsonb->>'order_id')::uuid AS id, recorded_at FROM public.events"
    " WHERE stream_id = $1 AND type = 'order.placed')"
    " SELECT count(*), count(y.payment_intent_id), count(y.payment_intent_id) FILTER (WHERE"
    " y.created_at <= (SELECT max(recorded_at) FROM p)), COALESCE(percentile_cont(0.5) WITHIN"
    " GROUP (ORDER BY extract(epoch FROM y.created_at - p.recorded_at) * 1000) FILTER (WHERE"
    " y.payment_intent_id IS NOT NULL), 0), COALESCE(percentile_cont(0.99) WITHIN GROUP (ORDER BY"
    " extract(epoch FROM y.created_at - p.recorded_at) * 1000) FILTER (WHERE y.payment_intent_id"
    " IS NOT NULL), 0) FROM p LEFT JOIN public.payments y ON y.order_id = p.id";

/* The payment worker's pace: how many orders had their PaymentIntent (the client secret a real
 * buyer needs before paying; the bench's buyers pay by webhook without waiting for it) by the
 * last order placed, how long an order waited for it, and how long the worker took to catch up
 * after the buying (polled every 100 ms, at most wait_s: its backlog otherwise eats into the next
 * phase's CPU). */
static void print_intents(const struct tix_config *cfg, const struct sale_plan *plan, int wait_s)
{
    PGconn *c = PQconnectdb(cfg->db_url);
    char stream[64];
    snprintf(stream, sizeof(stream), "stock-%s", plan->event_id);
    const char *p[] = {stream};
    int64_t start = tix_now_us(), orders = 0, made = 0, in_time = 0;
    double p50 = 0, p99 = 0;
    bool is_read = false;
    for (;;) {
        PGresult *r = PQexecParams(c, intents_sql, 1, NULL, p, NULL, NULL, 0);
        is_read = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        if (is_read) {
            orders = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
            made = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
            in_time = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
            p50 = strtod(PQgetvalue(r, 0, 3), NULL);
            p99 = strtod(PQgetvalue(r, 0, 4), NULL);
        } else {
            fprintf(stderr, "flash-sale: intents: %s", PQerrorMessage(c));
        }
        PQclear(r);
        if (!is_read || made >= orders || tix_now_us() - start > (int64_t)wait_s * 1000000)
            break;
        usleep(100000);
    }
    PQfinish(c);
    if (!is_read)
        return;
    printf("           payment intents: %" PRId64 " of %" PRId64 " orders had theirs by the last"
           " order placed; order to intent p50 %.0f ms p99 %.0f ms; %s %.1f s after\n",
           in_time, orders, p50, p99, made >= orders ? "all made" : "still missing",
           (double)(tix_now_us() - start) / 1e6);
    fflush(stdout);
}

/* Sets up a show (fresh organization, venue and event) and waits for its seats, in the stock
 * and in the sale read model (the live stream's snapshot is the published show, and no push of
 * the buying waits behind the chart's 20,000 seats); 0 when ready. */
static int new_show(const struct tix_config *cfg, struct sale_plan *plan)
{
    struct setup s = {.cfg = cfg};
    struct tix_err err;
    if (tix_bus_open(cfg->amqp_url, "bench-flash-sale", &s.bus, &err) != TIX_OK ||
        tix_bus_enable_replies(s.bus, &err) != TIX_OK) {
        fprintf(stderr, "flash-sale: %s\n", err.msg);
        return -1;
    }
    int bad = set_up(&s, plan);
    tix_bus_close(s.bus);
    if (!bad && !seats_loaded(cfg->db_url, plan->event_id)) {
        fprintf(stderr, "flash-sale: the chart's seats never reached the event's stock\n");
        bad = 1;
    }
    int64_t behind = 0;
    double waited_ms = 0;
    if (!bad && !sale_read_model_catch_up(cfg, plan, &behind, &waited_ms)) {
        fprintf(stderr, "flash-sale: the sale read model never applied the show's setup\n");
        bad = 1;
    }
    return bad ? -1 : 0;
}

static void print_buyers(const char *label, const struct sale_figures *f)
{
    printf("  %-8s %" PRId64 " holds (%" PRId64 " tickets), %" PRId64 " refused, %" PRId64
           " failed in %.1f s\n",
           label, f->holds_ok, f->tickets_held, f->holds_refused, f->holds_failed, f->elapsed_s);
    printf("           holds/s %.0f (decisions/s %.0f), hold p50 %.1f ms p99 %.1f ms\n",
           f->holds_per_s, f->decisions_per_s, f->hold_p50_ms, f->hold_p99_ms);
    printf("           orders %" PRId64 " (%.0f/s, %" PRId64 " failed, %" PRId64
           " retried while the hold reached the read model), payments %" PRId64 " (%" PRId64
           " failed)\n",
           f->orders_ok, f->orders_per_s, f->orders_failed, f->order_retries, f->payments_ok,
           f->payments_failed);
    printf("           live stream: %" PRId64 " held seats pushed, p50 %.1f ms p99 %.1f ms max %.1f"
           " ms after the hold's answer; %" PRId64 " not pushed within %d s of the end\n",
           f->pushes, f->push_p50_ms, f->push_p99_ms, f->push_max_ms, f->pushes_missing,
           STREAM_DRAIN_S);
    if (f->first_error[0] != '\0')
        printf("           first error: %s\n", f->first_error);
    fflush(stdout);
}

/* Checks one show's log and prints the verdict; true when it holds. */
static bool checked(const struct tix_config *cfg, const struct sale_plan *plan)
{
    struct checks k;
    check_log(cfg->db_url, plan->event_id, &k);
    bool ok = k.tickets <= CAPACITY && k.seats_twice == 0 && k.orders_paid_twice == 0 &&
              k.paid_orders > 0;
    printf("  checks:  tickets sold %" PRId64 " <= capacity %d; paid orders %" PRId64
           "; seats in two paid orders %" PRId64 "; orders paid twice %" PRId64 ": %s\n",
           k.tickets, CAPACITY, k.paid_orders, k.seats_twice, k.orders_paid_twice,
           ok ? "OK" : "FAILED");
    return ok;
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 20, buyers = argc > 2 ? atoi(argv[2]) : 1000;
    int paced = argc > 3 ? atoi(argv[3]) : -1;
    if (seconds < 1 || buyers < 1 || (argc > 3 && paced < 0) || sodium_init() < 0) {
        fprintf(stderr, "usage: bench-flash_sale [seconds] [buyers] [paced holds/s]\n");
        return 2;
    }
    struct tix_config cfg;
    struct tix_err err;
    if (tix_config_load(&cfg, &err) != TIX_OK) {
        fprintf(stderr, "flash-sale: %s: %s\n", err.field, err.msg);
        return 2;
    }
    const char *webhook = getenv("TIXMO_STRIPE_WEBHOOK_SECRET");
    struct sale_plan plan = {.port = cfg.http_port,
                             .jwt_secret = cfg.jwt_secret,
                             .webhook_secret = webhook != NULL ? webhook : ""};
    struct sale_plan paced_plan = plan;
    if (new_show(&cfg, &plan) != 0) {
        tix_config_deinit(&cfg);
        return 1;
    }
    printf("bench/flash_sale: one show, %d places (%d reserved seats, %d on the floor), %d"
           " concurrent buyers over HTTP for at most %d s\n",
           CAPACITY, CAPACITY - FLOOR, FLOOR, buyers, seconds);
    fflush(stdout);
    struct sale_figures f;
    tix_bench_buyers_run(&plan, buyers, seconds, 0, &f);
    print_buyers("tixmo:", &f);
    print_read_model_lag(&cfg, &plan);
    print_intents(&cfg, &plan, INTENTS_WAIT_S);
    struct tix_bench_classic c;
    int classic_s = seconds < 10 ? seconds : 10;
    if (tix_bench_classic(cfg.db_admin_url, CLASSIC_CLIENT, classic_s, &c) != 0) {
        fprintf(stderr, "flash-sale: the classic baseline could not run\n");
        tix_config_deinit(&cfg);
        return 1;
    }
    printf("  classic: %" PRId64 " holds in %d s at %d clients: holds/s %.0f, p50 %.1f ms p99"
           " %.1f ms\n",
           c.holds, classic_s, CLASSIC_CLIENT, c.holds_per_s, c.p50_ms, c.p99_ms);
    printf("  ratio:   tixmo/classic holds/s = %.1fx\n",
           c.holds_per_s > 0 ? f.holds_per_s / c.holds_per_s : 0.0);
    bool ok = checked(&cfg, &plan);

    /* Holds only, on a show of its own: every buyer holds and makes way for the next person, as
     * in an on-sale's first seconds; the same work per decision as the classic design's. */
    struct sale_plan holds_plan = paced_plan;
    if (new_show(&cfg, &holds_plan) != 0) {
        tix_config_deinit(&cfg);
        return 1;
    }
    holds_plan.holds_only = true;
    printf("  holds only: a show of its own, the same %d buyers holding, no order or payment,"
           " for at most %d s\n",
           buyers, classic_s);
    fflush(stdout);
    struct sale_figures hf;
    tix_bench_buyers_run(&holds_plan, buyers, classic_s, 0, &hf);
    print_buyers("held:", &hf);
    print_read_model_lag(&cfg, &holds_plan);
    printf("  ratio:   tixmo holds only/classic holds/s = %.1fx\n",
           c.holds_per_s > 0 ? hf.holds_per_s / c.holds_per_s : 0.0);
    ok = checked_holds(&cfg, &holds_plan) && ok;

    /* The same buyers on a third show, holds starting at a fixed rate below the surge's
     * (half of it unless given): the latency of a decision when the stack keeps up. */
    if (paced < 0)
        paced = (int)(f.holds_per_s / 2);
    if (paced > 0) {
        if (new_show(&cfg, &paced_plan) != 0) {
            tix_config_deinit(&cfg);
            return 1;
        }
        printf("  paced:   a third show, holds starting at %d/s by the same %d buyers for %d s\n",
               paced, buyers, seconds);
        fflush(stdout);
        struct sale_figures pf;
        tix_bench_buyers_run(&paced_plan, buyers, seconds, paced, &pf);
        print_buyers("", &pf);
        print_read_model_lag(&cfg, &paced_plan);
        print_intents(&cfg, &paced_plan, INTENTS_WAIT_S);
        printf("           missed (due while every buyer was busy): %" PRId64 "\n",
               pf.holds_missed);
        ok = checked(&cfg, &paced_plan) && ok;
    }
    tix_config_deinit(&cfg);
    return ok ? 0 : 1;
}
