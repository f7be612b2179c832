/* sale_projection_test.c - the sale read model and its Redis copy, from a written history
 *
 * Real Postgres and Redis, a real tixmo-projector. The test appends a sale's history directly
 * to the log in the shapes of docs/sale.md (an event with two sessions, settings, a pool shared
 * by two general-admission types, seats and a reserved type, a bundle; holds placed, released,
 * expired, converted; orders paid and cancelled; a check-in), then checks holds, orders,
 * tickets, seat statuses and every availability count against the arithmetic of the contract,
 * the Redis hashes the projector pushed, and that a replay from zero writes the same rows.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/redis.h"
#include "tix/store.h"

#define PARTITIONS 16

static pid_t projector_pid;
static struct tix_db *db;

static bool is_prepared(void *ctx)
{
    (void)ctx;
    return tix_test_scalar(db, "SELECT count(*) FROM projections WHERE name = 'sale'", 0, NULL) ==
           1;
}

static void start(void)
{
    cr_assert(sodium_init() >= 0);
    db = tix_test_db("TIXMO_DB_URL");
    projector_pid = tix_test_spawn("tixmo-projector", NULL);
    cr_assert(tix_test_wait(is_prepared, NULL, 15000), "the projector never prepared the sale");
}

static void stop(void)
{
    tix_test_kill(projector_pid, SIGTERM);
    tix_db_close(db);
}

TestSuite(sale_projection, .init = start, .fini = stop, .timeout = 240);

struct history {
    char event[TIX_UUID_LEN + 1], org[TIX_UUID_LEN + 1];
    char s1[TIX_UUID_LEN + 1], s2[TIX_UUID_LEN + 1];
    char early[TIX_UUID_LEN + 1], regular[TIX_UUID_LEN + 1], stalls[TIX_UUID_LEN + 1];
    char bundle[TIX_UUID_LEN + 1];
    char h1[TIX_UUID_LEN + 1], h2[TIX_UUID_LEN + 1], h3[TIX_UUID_LEN + 1], h4[TIX_UUID_LEN + 1];
    char h5[TIX_UUID_LEN + 1];
    char o1[TIX_UUID_LEN + 1], o2[TIX_UUID_LEN + 1], k1[TIX_UUID_LEN + 1], k2[TIX_UUID_LEN + 1];
    char u1[TIX_UUID_LEN + 1], u2[TIX_UUID_LEN + 1], u3[TIX_UUID_LEN + 1];
    int64_t event_version, stock_version;
};

/* Appends n events of type, data[i] (stolen; event_id added), to the event's stream kind, as
 * one command's. */
static void append_many(struct history *h, const char *kind, const char *type, json_t **data, int n)
{
    struct tix_append_event *evs = calloc((size_t)n, sizeof(*evs));
    char(*ids)[TIX_UUID_LEN + 1] = calloc((size_t)n, sizeof(*ids));
    char **texts = calloc((size_t)n, sizeof(*texts));
    char stream[64], command_id[TIX_UUID_LEN + 1];
    snprintf(stream, sizeof(stream), "%s-%s", kind, h->event);
    int64_t *version = strcmp(kind, "event") == 0 ? &h->event_version : &h->stock_version;
    tix_uuid_v7(command_id);
    for (int i = 0; i < n; i++) {
        cr_assert_not_null(data[i], "%s: bad json_pack format", type);
        json_object_set_new(data[i], "event_id", json_string(h->event));
        texts[i] = tix_json_dump(data[i]);
        json_decref(data[i]);
        tix_uuid_v7(ids[i]);
        evs[i] =
            (struct tix_append_event){stream, ++*version, ids[i],   command_id,
                                      type,   1,          texts[i], "{\"actor\":\"system:test\"}"};
    }
    int part = (int)tix_partition_of(h->event, strlen(h->event), PARTITIONS);
    struct tix_partition_head head;
    struct tix_err err;
    cr_assert_eq(tix_store_head(db, part, &head, &err), TIX_OK, "%s", err.msg);
    struct tix_append_outcome oc = {command_id, type, "system:test", true,
                                    "{\"status\":\"succeeded\"}"};
    cr_assert_eq(tix_store_append(db, part, &head, evs, n, &oc, 1, tix_now_us(), &err), TIX_OK,
                 "%s: %s", type, err.msg);
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(ids);
    free(evs);
}

/* Appends one event of type with data (stolen; event_id added) to the event's stream kind. */
static void append(struct history *h, const char *kind, const char *type, json_t *data)
{
    append_many(h, kind, type, &data, 1);
}

static void new_ids(struct history *h)
{
    char *ids[] = {h->event,  h->org, h->s1, h->s2, h->early, h->regular, h->stalls,
                   h->bundle, h->h1,  h->h2, h->h3, h->h4,    h->o1,      h->o2,
                   h->k1,     h->k2,  h->u1, h->u2, h->u3,    h->h5};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        tix_uuid_v7(ids[i]);
    h->event_version = 0;
    h->stock_version = 0;
}

/* The event, its sale settings, a pool, two pooled types, seats, a reserved type, a bundle. */
static void catalog(struct history *h)
{
    append(h, "event", "event.created",
           json_pack("{ss ss ss ss ss si s[{ss ss ss} {ss ss ss si}] ss}", "organization_id",
                     h->org, "name", "Sale", "category", "concert", "timezone", "Europe/Paris",
                     "visibility", "public", "capacity", 100, "sessions", "session_id", h->s1,
                     "starts_at", "2030-06-01T19:00:00Z", "ends_at", "2030-06-01T22:00:00Z",
                     "session_id", h->s2, "starts_at", "2030-06-02T19:00:00Z", "ends_at",
                     "2030-06-02T22:00:00Z", "capacity", 50, "created_by", "user:x"));
    append(h, "stock", "stock.configured",
           json_pack("{s{si si si}}", "settings", "hold_minutes", 10, "max_extensions", 2,
                     "extension_minutes", 5));
    append(h, "stock", "pool.defined",
           json_pack("{s{ss ss si}}", "pool", "pool_id", "floor", "name", "Floor", "capacity", 30));
    append(h, "stock", "ticket_type.created",
           json_pack("{s{ss ss ss si ss si ss s[{si si} {si}]}}", "ticket_type", "ticket_type_id",
                     h->early, "name", "Early bird", "kind", "early_bird", "price_minor", 2000,
                     "currency", "EUR", "quantity", 20, "pool_id", "floor", "tiers", "price_minor",
                     1500, "until_sold", 5, "price_minor", 2000));
    append(h, "stock", "ticket_type.created",
           json_pack("{s{ss ss ss si ss si ss}}", "ticket_type", "ticket_type_id", h->regular,
                     "name", "Regular", "kind", "general_admission", "price_minor", 2500,
                     "currency", "EUR", "quantity", 30, "pool_id", "floor"));
    json_t *seats = json_array();
    for (int i = 1; i <= 4; i++) {
        char id[16], label[16];
        snprintf(id, sizeof(id), "a%d", i);
        snprintf(label, sizeof(label), "%d", i);
        json_array_append_new(seats, json_pack("{ss ss ss ss ss sb}", "seat_id", id, "section",
                                               "stalls", "row", "A", "label", label, "category",
                                               "std", "accessible", i == 1));
    }
    append(h, "stock", "stock.seats_loaded",
           json_pack("{si so}", "chart_version", 1, "seats", seats));
    append(h, "stock", "ticket_type.created",
           json_pack("{s{ss ss ss si ss s[s]}}", "ticket_type", "ticket_type_id", h->stalls, "name",
                     "Stalls", "kind", "reserved", "price_minor", 5000, "currency", "EUR",
                     "sections", "stalls"));
    append(h, "stock", "ticket_type.created",
           json_pack("{s{ss ss ss si ss s[{ss si}]}}", "ticket_type", "ticket_type_id", h->bundle,
                     "name", "Pair", "kind", "bundle", "price_minor", 4500, "currency", "EUR",
                     "components", "ticket_type_id", h->regular, "quantity", 2));
}

static json_t *line(const char *type, int quantity, json_t *seats, int price)
{
    return json_pack("{ss si so si}", "ticket_type_id", type, "quantity", quantity, "seats",
                     seats != NULL ? seats : json_array(), "unit_price_minor", price);
}

static void hold(struct history *h, const char *id, const char *buyer, json_t *ln)
{
    append(h, "stock", "hold.placed",
           json_pack("{ss ss ss s[o] ss}", "hold_id", id, "buyer_id", buyer, "session_id", h->s1,
                     "lines", ln, "expires_at", "2030-01-01T10:10:00Z"));
}

static void order(struct history *h, const char *id, const char *hold_id, const char *buyer,
                  json_t *ln, int total)
{
    append(h, "stock", "order.placed",
           json_pack("{ss ss ss ss ss ss s[o] si si si si ss}", "order_id", id, "number",
                     "ABCD-000001", "hold_id", hold_id, "buyer_id", buyer, "session_id", h->s1,
                     "currency", "EUR", "lines", ln, "subtotal_minor", total, "fees_minor", 0,
                     "tax_minor", 0, "total_minor", total, "expires_at", "2030-01-01T10:10:00Z"));
}

static void sale(struct history *h)
{
    hold(h, h->h1, h->u1, line(h->early, 3, NULL, 1500));
    hold(h, h->h2, h->u2, line(h->stalls, 2, json_pack("[ss]", "a1", "a2"), 5000));
    hold(h, h->h3, h->u1, line(h->bundle, 1, NULL, 4500));
    append(h, "stock", "hold.released", json_pack("{ss ss}", "hold_id", h->h3, "reason", "buyer"));
    order(h, h->o1, h->h2, h->u2, line(h->stalls, 2, json_pack("[ss]", "a1", "a2"), 5000), 10000);
    append(h, "stock", "order.payment_attached",
           json_pack("{ss ss}", "order_id", h->o1, "payment_intent_id", "pi_1"));
    append(h, "stock", "order.paid",
           json_pack("{ss ss ss ss s[{ss ss ss ss ss} {ss ss ss ss ss}]}", "order_id", h->o1,
                     "payment_intent_id", "pi_1", "stripe_event_id", "evt_1", "paid_at",
                     "2030-01-01T10:05:00Z", "tickets", "ticket_id", h->k1, "ticket_type_id",
                     h->stalls, "session_id", h->s1, "seat_id", "a1", "holder_id", h->u2,
                     "ticket_id", h->k2, "ticket_type_id", h->stalls, "session_id", h->s1,
                     "seat_id", "a2", "holder_id", h->u2));
    append(h, "stock", "hold.expired",
           json_pack("{s[s] ss}", "hold_ids", h->h1, "at", "2030-01-01T10:10:00Z"));
    append(h, "stock", "ticket.checked_in",
           json_pack("{ss ss ss ss ss}", "ticket_id", h->k1, "session_id", h->s1, "device_id",
                     "gate-1", "at", "2030-06-01T18:30:00Z", "direction", "in"));
    hold(h, h->h4, h->u3, line(h->regular, 5, NULL, 2500));
    order(h, h->o2, h->h4, h->u3, line(h->regular, 5, NULL, 2500), 12500);
    hold(h, h->h5, h->u3, line(h->stalls, 1, json_pack("[s]", "a3"), 5000));
    append(h, "stock", "hold.released", json_pack("{ss ss}", "hold_id", h->h5, "reason", "buyer"));
}

static void expect_text(const char *want, const char *sql, const char *a, const char *b)
{
    const char *params[] = {a, b};
    PGresult *res = NULL;
    struct tix_err err;
    cr_assert_eq(tix_db_exec(db, sql, b != NULL ? 2 : 1, params, &res, &err), TIX_OK, "%s: %s", sql,
                 err.msg);
    const char *got = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "<none>";
    cr_assert_str_eq(got, want, "%s", sql);
    PQclear(res);
}

/* "held/sold/available" of type in session. */
static void expect_counts(const struct history *h, const char *session, const char *type,
                          const char *want)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT concat_ws('/', held, sold, COALESCE(available::text, 'null'))"
             " FROM rm.availability WHERE event_id = $1 AND session_id = '%s'"
             " AND ticket_type_id = $2",
             session);
    expect_text(want, sql, h->event, type);
}

static bool is_projected(void *ctx)
{
    const struct history *h = ctx;
    const char *params[] = {h->o2};
    return tix_test_scalar(db, "SELECT count(*) FROM rm.orders WHERE id = $1", 1, params) == 1;
}

/* Before O2 is cancelled: early: H1 (3) expired; regular: O2 (5) held by the order, the pool
 * floor leaves 30 - 5 = 25 and the bundle 25 / 2 pairs. After: everything back. */
static void check_counts(const struct history *h, bool is_cancelled)
{
    expect_counts(h, h->s1, h->early, "0/0/20");
    expect_counts(h, h->s1, h->regular, is_cancelled ? "0/0/30" : "5/0/25");
    expect_counts(h, h->s1, h->stalls, "0/2/2"); /* a1 a2 sold, a3 a4 free */
    expect_counts(h, h->s1, h->bundle, is_cancelled ? "0/0/15" : "0/0/12");
    expect_counts(h, h->s2, h->early, "0/0/20");
    expect_counts(h, h->s2, h->regular, "0/0/30");
    expect_text("sold|sold",
                "SELECT string_agg(status, '|' ORDER BY seat_id) FROM rm.seat_status"
                " WHERE event_id = $1 AND session_id = $2",
                h->event, h->s1);
}

static void check_rows(const struct history *h)
{
    expect_text("expired|converted|released|converted|released",
                "SELECT string_agg(state, '|' ORDER BY created_at, id) FROM rm.holds"
                " WHERE event_id = $1",
                h->event, NULL);
    const char *params[] = {h->o1};
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM rm.orders WHERE id = $1 AND status = 'paid'"
                                 " AND payment_intent_id = 'pi_1' AND total_minor = 10000",
                                 1, params),
                 1);
    expect_text("pending_payment", "SELECT status FROM rm.orders WHERE id = $1", h->o2, NULL);
    expect_text("valid|t|1|gate-1",
                "SELECT concat_ws('|', status, is_inside, scans,"
                " last_scan_device) FROM rm.tickets WHERE id = $1",
                h->k1, NULL);
    expect_text("a2|f", "SELECT concat_ws('|', seat_id, is_inside) FROM rm.tickets WHERE id = $1",
                h->k2, NULL);
}

/* Whether field of hash key is want (NULL: absent). */
static bool redis_has(const char *key, const char *field, const char *want)
{
    struct tix_redis *r = NULL;
    struct tix_err err;
    cr_assert_eq(tix_redis_open(tix_test_env("TIXMO_REDIS_URL"), 1000, &r, &err), TIX_OK);
    redisReply *reply = NULL;
    bool ok = tix_redis_cmd(r, &reply, &err, "HGET %s %s", key, field) == TIX_OK &&
              (want == NULL ? reply->type == REDIS_REPLY_NIL
                            : reply->type == REDIS_REPLY_STRING && strcmp(reply->str, want) == 0);
    if (reply != NULL)
        freeReplyObject(reply);
    tix_redis_close(r);
    return ok;
}

struct redis_probe {
    const struct history *h;
    char field[80];
};

/* The counts of the stalls, and the seats: a1 and a2 sold, a3 free again (held, released). */
static bool redis_caught_up(void *ctx)
{
    struct redis_probe *p = ctx;
    char counts[80], seats[128];
    snprintf(counts, sizeof(counts), "avail:%s", p->h->event);
    snprintf(seats, sizeof(seats), "seats:%s:%s", p->h->event, p->h->s1);
    return redis_has(counts, p->field, "{\"available\":2,\"held\":0,\"sold\":2}") &&
           redis_has(seats, "a1", "sold") && redis_has(seats, "a2", "sold") &&
           redis_has(seats, "a3", NULL);
}

static void replay_and_compare(void)
{
    static const char *const tables[] = {"sale_settings", "sale_sessions", "ticket_types", "pools",
                                         "seats",         "seat_status",   "availability", "holds",
                                         "orders",        "tickets",       "seat_taken",   NULL};
    tix_test_replay_and_compare(db, "sale", tables);
}

Test(sale_projection, a_sale_projects_counts_rows_redis_and_replays_identically)
{
    struct history h;
    new_ids(&h);
    catalog(&h);
    sale(&h);
    cr_assert(tix_test_wait(is_projected, &h, 15000), "the sale was never projected");
    cr_assert(tix_test_wait_projected(db, 10000));
    check_counts(&h, false);
    check_rows(&h);
    struct redis_probe probe = {.h = &h};
    snprintf(probe.field, sizeof(probe.field), "%s:%s", h.s1, h.stalls);
    cr_assert(tix_test_wait(redis_caught_up, &probe, 5000), "Redis never got the counts");
    append(&h, "stock", "order.cancelled", json_pack("{ss}", "order_id", h.o2));
    cr_assert(tix_test_wait_projected(db, 10000));
    check_counts(&h, true);
    replay_and_compare();
    check_counts(&h, true); /* the rm views now point at the replayed version */
}

/* The figure col of the active version's table (pg_stat_user_tables) or, for an idx_ figure,
 * index (pg_stat_user_indexes) relation in schema. */
static long long stat_of(const char *schema, const char *relation, const char *col)
{
    bool is_index = strncmp(col, "idx_", 4) == 0;
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE schemaname = $1 AND %s = $2", col,
             is_index ? "pg_stat_user_indexes" : "pg_stat_user_tables",
             is_index ? "indexrelname" : "relname");
    const char *params[] = {schema, relation};
    return tix_test_scalar(db, sql, 2, params);
}

static void exec_ok(const char *sql)
{
    struct tix_err err;
    cr_assert_eq(tix_db_script(db, sql, &err), TIX_OK, "%s: %s", sql, err.msg);
}

struct tup_probe {
    const char *schema;
    long long at_least;
};

/* Whether the holds' updates counted so far (the projector's statistics reach the shared
 * counters some time after its transactions) reached at_least. */
static bool updates_counted(void *ctx)
{
    const struct tup_probe *p = ctx;
    return stat_of(p->schema, "holds", "n_tup_upd") >= p->at_least;
}

/* Statistics taken while few holds were active, then an on-sale's thousand active holds: the
 * conversion of a hold into an order (found by its key) still reads that hold alone, not every
 * active hold through the partial index the expiry sweep uses (holds_due). */
Test(sale_projection, a_hold_is_found_by_its_key_whatever_the_statistics_say)
{
    enum { N = 1000, CONVERTED = 10 };
    struct history h;
    new_ids(&h);
    catalog(&h);
    char schema[64];
    snprintf(
        schema, sizeof(schema), "rm_sale_v%lld",
        tix_test_scalar(db, "SELECT active_version FROM projections WHERE name = 'sale'", 0, NULL));
    char(*ids)[TIX_UUID_LEN + 1] = calloc(2 * N, sizeof(*ids));
    json_t **data = calloc(N, sizeof(*data));
    for (int i = 0; i < 2 * N; i++)
        tix_uuid_v7(ids[i]);
    for (int i = 0; i < N; i++) /* ended holds: the statistics will say few are active */
        data[i] = json_pack("{ss ss ss s[o] ss}", "hold_id", ids[i], "buyer_id", "user:past",
                            "session_id", h.s1, "lines", line(h.regular, 1, NULL, 2500),
                            "expires_at", "2030-01-01T10:10:00Z");
    append_many(&h, "stock", "hold.placed", data, N);
    for (int i = 0; i < N; i++)
        data[i] = json_pack("{ss ss}", "hold_id", ids[i], "reason", "buyer");
    long long updates = stat_of(schema, "holds", "n_tup_upd");
    append_many(&h, "stock", "hold.released", data, N);
    cr_assert(tix_test_wait_projected(db, 30000));
    struct tup_probe probe = {schema, updates + N};
    cr_assert(tix_test_wait(updates_counted, &probe, 15000), "the releases were never counted");
    char sql[160];
    snprintf(sql, sizeof(sql), "ALTER TABLE %s.holds SET (autovacuum_enabled = false)", schema);
    exec_ok(sql);
    snprintf(sql, sizeof(sql), "ANALYZE %s.holds", schema);
    exec_ok(sql);
    for (int i = 0; i < N; i++) /* the on-sale: active holds the statistics do not know */
        data[i] = json_pack("{ss ss ss s[o] ss}", "hold_id", ids[N + i], "buyer_id", "user:now",
                            "session_id", h.s1, "lines", line(h.regular, 1, NULL, 2500),
                            "expires_at", "2030-01-01T10:10:00Z");
    append_many(&h, "stock", "hold.placed", data, N);
    cr_assert(tix_test_wait_projected(db, 30000));
    updates = stat_of(schema, "holds", "n_tup_upd");
    long long read_due = stat_of(schema, "holds_due", "idx_tup_read");
    for (int i = 0; i < CONVERTED; i++) {
        char order_id[TIX_UUID_LEN + 1];
        tix_uuid_v7(order_id);
        order(&h, order_id, ids[N + i], "user:now", line(h.regular, 1, NULL, 2500), 2500);
    }
    cr_assert(tix_test_wait_projected(db, 30000));
    probe.at_least = updates + CONVERTED;
    cr_assert(tix_test_wait(updates_counted, &probe, 15000), "the conversions were never counted");
    long long read = stat_of(schema, "holds_due", "idx_tup_read") - read_due;
    snprintf(sql, sizeof(sql), "ALTER TABLE %s.holds RESET (autovacuum_enabled)", schema);
    exec_ok(sql);
    cr_assert_lt(read, N, "%d conversions read %lld entries of holds_due", CONVERTED, read);
    free(data);
    free(ids);
}
