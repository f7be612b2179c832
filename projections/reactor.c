/* reactor.c - the runner of process managers (see reactor.h) and the catalog's reactors
 *
 * pm_venue_binding: an event created with a venue asks that venue (another partition) to
 * record the binding (venue.bind_event, command id "pm.venue.bind.<event>"), so the venue can
 * refuse to be deleted while events use it and keeps the chart version each event chose; a
 * deleted draft that names its venue asks it to drop the binding (venue.unbind_event, command id
 * "pm.venue.unbind.<event>"), so the venue can be deleted afterwards. Commands to one venue
 * travel on its partition in log order, so an unbind never overtakes its bind. An event.deleted
 * recorded before it carried venue_id unbinds nothing: that venue stays bound.
 *
 * pm_stock_seats: an event created with a venue and a chart version gets that chart's seats
 * (stock.load_seats, in the event's own partition, command id derived from the event and the
 * version) from the published chart in the venues read model: section and row ids, the seat's
 * label, its category (or its section's), whether it is accessible.
 *
 * pm_sale_cancel: a cancelled event winds its sale down in two steps, both in the event's own
 * partition. event.cancelled asks the stock to end it (stock.cancel_sale, command id
 * "pm.sale.cancel.<event>": holds released, pending orders cancelled), whose
 * stock.sale_cancelled lists the orders with live tickets; each gets its own order.refund (command
 * id "pm.sale.refund.<event>.<order>", requested_by organizer, reason event_cancelled) with a
 * request id derived from the event and the order (BLAKE2b-128 of "tixmo-cancel-refund:",
 * the event id and the order id, shaped as a UUID), so the payment worker's Stripe
 * idempotency key (tixmo-refund-<request id>) is the same however often the log is replayed.
 * A session called off alone goes the same two steps: event.session_cancelled sends
 * stock.cancel_session (command id "pm.session.cancel.<event>.<session>"), whose
 * stock.session_cancelled lists the orders with live tickets of that session; each gets an
 * order.refund of that session's tickets only (session_id; command id
 * "pm.session.refund.<event>.<session>.<order>", reason session_cancelled, request id the
 * BLAKE2b-128 of "tixmo-session-refund:", the event, session and order ids).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/mem.h"

#include "client.h"
#include "envelope.h"
#include "projection.h"
#include "reactor.h"

static enum tix_rc venue_binding(const struct tix_event *e, struct tix_db *db, json_t *out)
{
    (void)db;
    bool is_created = strcmp(e->type, "event.created") == 0;
    if (!is_created && strcmp(e->type, "event.deleted") != 0)
        return TIX_OK;
    json_t *d = tix_json_parse(e->data, strlen(e->data), NULL);
    const char *event_id = tix_json_str(d, "event_id"), *venue = tix_json_str(d, "venue_id");
    enum tix_rc rc = tix_uuid_is_valid(event_id) ? TIX_OK : TIX_EINVAL;
    if (rc == TIX_OK && tix_uuid_is_valid(venue)) {
        char id[96];
        snprintf(id, sizeof(id), "pm.venue.%s.%s", is_created ? "bind" : "unbind", event_id);
        json_t *payload = json_pack("{ss ss}", "venue_id", venue, "event_id", event_id);
        if (is_created)
            json_object_set_new(payload, "chart_version",
                                json_integer(tix_json_int(d, "chart_version", 0)));
        json_array_append_new(out, json_pack("{ss ss ss so}", "command_id", id, "type",
                                             is_created ? "venue.bind_event" : "venue.unbind_event",
                                             "key", venue, "payload", payload));
    }
    json_decref(d);
    return rc;
}

static const struct tix_reactor venue_binding_reactor = {"pm_venue_binding", venue_binding};

/* The seats of a chart document in the shape of stock.load_seats. */
static json_t *chart_seats(const json_t *chart)
{
    json_t *seats = json_array();
    size_t i, j, k;
    const json_t *section, *row, *seat;
    json_array_foreach(json_object_get(chart, "sections"), i, section)
    {
        const char *category = tix_json_str(section, "category");
        json_array_foreach(json_object_get(section, "rows"), j, row)
        {
            json_array_foreach(json_object_get(row, "seats"), k, seat)
            {
                const char *own = tix_json_str(seat, "category");
                const json_t *acc = json_object_get(seat, "accessible");
                json_t *s =
                    json_pack("{ss ss ss ss sb}", "seat_id", tix_json_str(seat, "id"), "section",
                              tix_json_str(section, "id"), "row", tix_json_str(row, "id"), "label",
                              tix_json_str(seat, "label"), "accessible", json_is_true(acc));
                if (s == NULL)
                    continue; /* a published chart always has these; never a partial seat */
                if (own != NULL || category != NULL)
                    json_object_set_new(s, "category", json_string(own ? own : category));
                json_array_append_new(seats, s);
            }
        }
    }
    return seats;
}

/* The published chart of venue at version (new reference); NULL with TIX_ETRANSIENT in *rc
 * while the venues read model has not caught up, NULL with TIX_OK when there is none. */
static json_t *published_chart(struct tix_db *db, const char *venue, int64_t version,
                               enum tix_rc *rc)
{
    char v[24];
    snprintf(v, sizeof(v), "%lld", (long long)version);
    const char *params[] = {venue, v};
    PGresult *res = NULL;
    *rc = tix_db_exec(db,
                      "SELECT c.chart::text, (SELECT coalesce(sum(h.last_seq - k.last_seq), 0)"
                      " FROM public.partition_heads h JOIN public.projection_checkpoints k"
                      " ON k.partition = h.partition JOIN public.projections p"
                      " ON p.name = k.projection AND p.active_version = k.version"
                      " WHERE k.projection = 'venues') FROM (SELECT 1) one"
                      " LEFT JOIN rm.seating_charts c ON c.venue_id = $1::uuid"
                      " AND c.version = $2::int",
                      2, params, &res, NULL);
    if (*rc != TIX_OK)
        return NULL;
    json_t *chart = NULL;
    if (!PQgetisnull(res, 0, 0))
        chart = tix_json_parse(PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)), NULL);
    else if (strcmp(PQgetvalue(res, 0, 1), "0") != 0)
        *rc = TIX_ETRANSIENT;
    PQclear(res);
    return chart;
}

static enum tix_rc stock_seats(const struct tix_event *e, struct tix_db *db, json_t *out)
{
    if (strcmp(e->type, "event.created") != 0)
        return TIX_OK;
    json_t *d = tix_json_parse(e->data, strlen(e->data), NULL);
    const char *event_id = tix_json_str(d, "event_id"), *venue = tix_json_str(d, "venue_id");
    int64_t version = tix_json_int(d, "chart_version", 0);
    enum tix_rc rc = tix_uuid_is_valid(event_id) ? TIX_OK : TIX_EINVAL;
    json_t *chart = NULL;
    if (rc == TIX_OK && tix_uuid_is_valid(venue) && version > 0)
        chart = published_chart(db, venue, version, &rc);
    if (chart != NULL) {
        char id[128];
        snprintf(id, sizeof(id), "pm.stock.seats.%s.%lld", event_id, (long long)version);
        json_array_append_new(out, json_pack("{ss ss ss s{ss sI so}}", "command_id", id, "type",
                                             "stock.load_seats", "key", event_id, "payload",
                                             "event_id", event_id, "chart_version",
                                             (json_int_t)version, "seats", chart_seats(chart)));
    }
    json_decref(chart);
    json_decref(d);
    return rc;
}

static const struct tix_reactor stock_seats_reactor = {"pm_stock_seats", stock_seats};

/* The refund request id of order for the cancellation of event (session NULL) or of its
 * session: a UUID-shaped BLAKE2b-128. */
static void cancel_request_id(const char *event, const char *session, const char *order,
                              char out[TIX_UUID_LEN + 1])
{
    unsigned char h[16];
    const char *label = session == NULL ? "tixmo-cancel-refund:" : "tixmo-session-refund:";
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const unsigned char *)label, strlen(label));
    crypto_generichash_update(&st, (const unsigned char *)event, strlen(event));
    if (session != NULL)
        crypto_generichash_update(&st, (const unsigned char *)session, strlen(session));
    crypto_generichash_update(&st, (const unsigned char *)order, strlen(order));
    crypto_generichash_final(&st, h, sizeof(h));
    tix_uuid_format(h, 8, out); /* version 8: custom */
}

/* One order.refund per order stock.sale_cancelled (session NULL) or stock.session_cancelled
 * lists: the whole order, or that session's tickets of it. */
static void refund_orders(const char *event, const char *session, const json_t *orders, json_t *out)
{
    size_t i;
    const json_t *o;
    json_array_foreach(orders, i, o)
    {
        const char *order = json_string_value(o);
        if (!tix_uuid_is_valid(order))
            continue;
        char id[160], request[TIX_UUID_LEN + 1];
        if (session == NULL)
            snprintf(id, sizeof(id), "pm.sale.refund.%s.%s", event, order);
        else
            snprintf(id, sizeof(id), "pm.session.refund.%s.%s.%s", event, session, order);
        cancel_request_id(event, session, order, request);
        json_t *payload =
            json_pack("{ss ss ss ss ss}", "event_id", event, "order_id", order, "request_id",
                      request, "reason", session == NULL ? "event_cancelled" : "session_cancelled",
                      "requested_by", "organizer");
        if (session != NULL)
            json_object_set_new(payload, "session_id", json_string(session));
        json_array_append_new(out, json_pack("{ss ss ss so}", "command_id", id, "type",
                                             "order.refund", "key", event, "payload", payload));
    }
}

/* The stock's command for a cancelled event (session NULL) or a called-off session. */
static void wind_down(const char *event, const char *session, json_t *out)
{
    char id[160];
    json_t *payload = json_pack("{ss}", "event_id", event);
    if (session == NULL) {
        snprintf(id, sizeof(id), "pm.sale.cancel.%s", event);
    } else {
        snprintf(id, sizeof(id), "pm.session.cancel.%s.%s", event, session);
        json_object_set_new(payload, "session_id", json_string(session));
    }
    json_array_append_new(out,
                          json_pack("{ss ss ss so}", "command_id", id, "type",
                                    session == NULL ? "stock.cancel_sale" : "stock.cancel_session",
                                    "key", event, "payload", payload));
}

static enum tix_rc sale_cancel(const struct tix_event *e, struct tix_db *db, json_t *out)
{
    (void)db;
    static const char *const types[] = {"event.cancelled", "stock.sale_cancelled",
                                        "event.session_cancelled", "stock.session_cancelled"};
    int k = 0;
    while (k < 4 && strcmp(e->type, types[k]) != 0)
        k++;
    if (k == 4)
        return TIX_OK;
    bool is_session = k >= 2, is_stock = k % 2 == 1;
    json_t *d = tix_json_parse(e->data, strlen(e->data), NULL);
    const char *event_id = tix_json_str(d, "event_id");
    const char *session = is_session ? tix_json_str(d, "session_id") : NULL;
    enum tix_rc rc = tix_uuid_is_valid(event_id) && (!is_session || tix_uuid_is_valid(session))
                         ? TIX_OK
                         : TIX_EINVAL;
    if (rc == TIX_OK && !is_stock)
        wind_down(event_id, session, out);
    else if (rc == TIX_OK)
        refund_orders(event_id, session, json_object_get(d, "order_ids"), out);
    json_decref(d);
    return rc;
}

static const struct tix_reactor sale_cancel_reactor = {"pm_sale_cancel", sale_cancel};

const struct tix_reactor *const tix_reactors[] = {&venue_binding_reactor, &stock_seats_reactor,
                                                  &sale_cancel_reactor, NULL};

enum tix_rc tix_reactor_prepare(struct tix_db *db, const struct tix_reactor *r, int partitions,
                                struct tix_err *err)
{
    char n[16];
    snprintf(n, sizeof(n), "%d", partitions);
    const char *params[] = {r->name, n};
    return tix_db_exec(db,
                       "INSERT INTO public.projection_checkpoints (projection, version, partition) "
                       "SELECT $1, 1, generate_series(0, $2::int - 1) ON CONFLICT DO NOTHING",
                       2, params, NULL, err);
}

/* The reactors of a group step and their checkpoints on its partition. */
struct collect {
    const struct tix_reactor *const *rs;
    struct tix_checkpoint *cps; /* parallel to rs */
    int n;
    struct tix_db *db;
    json_t *commands;
    struct tix_err *err;
};

/* Hands one event to every held reactor whose checkpoint is before it. */
static enum tix_rc collect_cb(const struct tix_event *e, void *arg)
{
    struct collect *c = arg;
    for (int i = 0; i < c->n; i++) {
        struct tix_checkpoint *cp = &c->cps[i];
        if (!cp->is_held || e->partition_seq <= cp->from)
            continue;
        cp->last_seq = e->partition_seq;
        enum tix_rc rc = c->rs[i]->react(e, c->db, c->commands);
        if (rc != TIX_OK)
            return tix_err_set(c->err, rc, "", "%s cannot react to %s at %d/%" PRId64,
                               c->rs[i]->name, e->type, e->partition, e->partition_seq);
    }
    return TIX_OK;
}

/* Publishes every command of the batch and waits for the broker's confirms. */
static enum tix_rc publish_all(struct tix_bus *bus, int partitions, json_t *commands,
                               struct tix_err *err)
{
    size_t i;
    json_t *c;
    enum tix_rc rc = TIX_OK;
    json_array_foreach(commands, i, c)
    {
        const char *id = tix_json_str(c, "command_id"), *type = tix_json_str(c, "type");
        const char *key = tix_json_str(c, "key");
        char *body = tix_envelope_encode(id, type, key, json_object_get(c, "payload"),
                                         "system:process-manager", NULL, NULL, "projector");
        if (rc == TIX_OK)
            rc = tix_client_send(bus, partitions, id, type, key, body, false, err);
        free(body);
    }
    return rc;
}

enum tix_rc tix_reactor_step_group(struct tix_db *db, struct tix_bus *bus, int partitions,
                                   const struct tix_reactor *const *rs, int n, int partition,
                                   int limit, int *applied, struct tix_err *err)
{
    *applied = 0;
    struct tix_checkpoint *cps = tix_xcalloc((size_t)n + 1, sizeof(*cps));
    for (int i = 0; i < n; i++)
        cps[i] = (struct tix_checkpoint){.name = rs[i]->name, .version = 1};
    struct collect c = {rs, cps, n, db, json_array(), err};
    /* BEGIN and the checkpoints' query, then the checkpoints' compare-and-set */
    struct tix_db_stmt batch[2] = {{"BEGIN", 0, NULL, false}};
    enum tix_rc rc = tix_checkpoints_lock(db, batch, 1, cps, n, partition, err);
    int64_t from = INT64_MAX; /* stays so when no row is held: busy elsewhere, or not prepared */
    for (int i = 0; i < n; i++)
        if (cps[i].is_held && cps[i].from < from)
            from = cps[i].from;
    if (rc == TIX_OK && from != INT64_MAX)
        rc = tix_store_read_partition(db, partition, from, limit, collect_cb, &c, applied, err);
    if (rc == TIX_OK && json_array_size(c.commands) > 0)
        rc = publish_all(bus, partitions, c.commands, err);
    if (rc == TIX_OK)
        rc = tix_checkpoints_advance(db, batch, 0, cps, n, partition, NULL, err);
    json_decref(c.commands);
    free(cps);
    if (rc != TIX_OK || from == INT64_MAX) {
        *applied = 0;
        tix_db_script(db, "ROLLBACK", NULL);
        return rc;
    }
    return tix_db_script(db, "COMMIT", err);
}
