/* stock_room.c - the event sells out by itself, and sells again when places come back
 *
 * The stock knows when the last place goes, so the decision that takes it also records the
 * lifecycle change: after a sale command's own events, tix_stock_decide_with_room works out
 * whether the event has room left once those events are applied, and emits on the event stream
 * (in the same decision, so the same batch and transaction):
 *   - event.sold_out {automatic: true} when the event is on sale and the decision took places
 *     (hold.placed) leaving none;
 *   - event.sales_reopened {automatic: true} when the stock itself sold the event out and the
 *     decision gave places back (a hold released or expired, an order cancelled or expired, a
 *     refund) or added some (ticket_type.create, ticket_type.update raising a quantity or
 *     widening what a type sells, pool.define growing a pool) so that some are free again. The
 *     catalog's new places are weighed on a copy of the state with the decision's types and
 *     pools in it (struct room_after), the sessions' counters shared (a new type or pool has
 *     taken nothing).
 * A promoter's sold-out (event.mark_sold_out) is never reopened here, and the promoter may reopen
 * either kind (event.reopen_sales).
 *
 * Room: the event has room when a session that has not started has a ticket type (not deleted,
 * covering the session, its sales not over) that could sell one more unit: its quantity, its
 * pool and the session's places leave a unit (group_size places for a group ticket), a bundle's
 * components leave theirs, a reserved type has a free seat that suits it. Held counts as taken,
 * also a lapsed hold that no event has expired yet (the clock's hold.expire gives it back).
 * A session called off (event.session_cancelled) has no room. Sessions and the event's capacity
 * are locked once sales open, so only ticket types and pools can add places to a sold-out
 * event; lowering them never sells an event out by itself.
 *
 * Cost: the decision's own events give the change (takes and seats, O(their size)); the search
 * stops at the first type with room, trying the types counted by counters before the reserved
 * ones, so a sale far from sold out costs one type's counters. Once only reserved types are left,
 * a hold scans its session's seats until a free one that suits (O(seats) near the end, and only
 * while the session still has places).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"
#include "tix/mem.h"

#include "stock_internal.h"

/* What a decision changes: takes added (sign 1) or given back (sign -1) and seats taken or
 * freed, per session id. */
struct room_seat {
    int32_t seat;
    const char *session_id;
};

struct room_delta {
    int counted_types, counted_pools; /* what the sessions' counters know (more may be new) */
    struct stock_take *added, *back;
    int n_added, cap_added, n_back, cap_back;
    struct room_seat *taken, *freed;
    int n_taken, cap_taken, n_freed, cap_freed;
};

static void push_seat(struct room_seat **v, int *n, int *cap, int32_t seat, const char *sid)
{
    if (*n == *cap) {
        *cap = *cap == 0 ? 16 : *cap * 2;
        *v = tix_xrealloc(*v, (size_t)*cap * sizeof(**v));
    }
    (*v)[(*n)++] = (struct room_seat){seat, sid};
}

/* Hold h's takes and seats come back. */
static void give_back_hold(const struct tix_stock_state *s, int h, struct room_delta *d)
{
    if (h < 0)
        return;
    const struct tix_stock_hold *hd = &s->holds[h];
    tix_stock_hold_takes(s, h, &d->back, &d->n_back, &d->cap_back);
    for (int k = 0; k < hd->n_seats; k++)
        push_seat(&d->freed, &d->n_freed, &d->cap_freed, hd->seats[k], s->sessions[hd->session].id);
}

static void add_placed(const struct tix_stock_state *s, const json_t *data, struct room_delta *d)
{
    const char *sid = tix_json_str(data, "session_id");
    const json_t *lines = json_object_get(data, "lines");
    for (size_t i = 0; i < json_array_size(lines); i++) {
        const json_t *l = json_array_get(lines, i);
        int t = tix_stock_find_type(s, tix_json_str(l, "ticket_type_id"));
        const json_t *sessions = json_object_get(l, "session_ids");
        const char *ids[TIX_EVENT_SESSIONS_MAX];
        int m = 0;
        for (size_t k = 0; k < json_array_size(sessions) && m < TIX_EVENT_SESSIONS_MAX; k++)
            ids[m++] = json_string_value(json_array_get(sessions, k));
        if (m == 0)
            ids[m++] = sid;
        if (t >= 0)
            tix_stock_line_takes(s, t, tix_json_int(l, "quantity", 0), ids, m, (int)i, &d->added,
                                 &d->n_added, &d->cap_added);
        const json_t *seats = json_object_get(l, "seats");
        for (size_t k = 0; k < json_array_size(seats); k++) {
            int seat = tix_stock_find_seat(s, json_string_value(json_array_get(seats, k)));
            if (seat >= 0)
                push_seat(&d->taken, &d->n_taken, &d->cap_taken, seat, sid);
        }
    }
}

static void add_refunded(const struct tix_stock_state *s, const json_t *data, struct room_delta *d)
{
    int o = tix_stock_find_order(s, tix_json_str(data, "order_id"));
    const json_t *ids = json_object_get(data, "ticket_ids");
    int n = 0, *ks = tix_xcalloc(json_array_size(ids) + 1, sizeof(int));
    for (size_t i = 0; o >= 0 && i < json_array_size(ids); i++) {
        int k = tix_stock_find_ticket(s, json_string_value(json_array_get(ids, i)));
        if (k < 0)
            continue;
        ks[n++] = k;
        const struct tix_stock_ticket *t = &s->tickets[k];
        if (t->seat >= 0 && t->session >= 0)
            push_seat(&d->freed, &d->n_freed, &d->cap_freed, t->seat, s->sessions[t->session].id);
    }
    if (o >= 0)
        tix_stock_void_takes(s, o, ks, n, &d->back, &d->n_back, &d->cap_back);
    free(ks);
}

static void give_back_order(const struct tix_stock_state *s, int o, struct room_delta *d)
{
    give_back_hold(s, o >= 0 ? s->orders[o].hold : -1, d);
}

/* The holds (or orders: their holds) named by ids give their takes and seats back. */
static void add_ended(const struct tix_stock_state *s, const json_t *ids, bool is_order,
                      struct room_delta *d)
{
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        if (is_order)
            give_back_order(s, tix_stock_find_order(s, id), d);
        else
            give_back_hold(s, tix_stock_find_hold(s, id), d);
    }
}

/* The change the decision's events on the stock stream make. */
static void delta_of(const struct stock_ctx *c, const struct tix_decision *out,
                     struct room_delta *d)
{
    for (int i = 0; i < out->n_events; i++) {
        const struct tix_new_event *e = &out->events[i];
        const json_t *data = e->data;
        if (strcmp(e->stream_id, c->stream) != 0)
            continue;
        if (strcmp(e->type, "hold.placed") == 0)
            add_placed(c->s, data, d);
        else if (strcmp(e->type, "hold.released") == 0)
            give_back_hold(c->s, tix_stock_find_hold(c->s, tix_json_str(data, "hold_id")), d);
        else if (strcmp(e->type, "hold.expired") == 0)
            add_ended(c->s, json_object_get(data, "hold_ids"), false, d);
        else if (strcmp(e->type, "order.expired") == 0)
            add_ended(c->s, json_object_get(data, "order_ids"), true, d);
        else if (strcmp(e->type, "order.cancelled") == 0)
            give_back_order(c->s, tix_stock_find_order(c->s, tix_json_str(data, "order_id")), d);
        else if (strcmp(e->type, "order.refund_granted") == 0)
            add_refunded(c->s, data, d);
    }
}

/* ---- room ----------------------------------------------------------------------------------- */

/* What one session has taken after the decision, for the checks below. */
struct room_session {
    const struct stock_ctx *c;
    const struct room_delta *d;
    const char *sid;
    int slot; /* stock session slot, -1 when nothing was ever taken in it */
    int64_t places_left;
};

/* The delta's units of type (type >= 0), places on pool (pool >= 0) or places (both -1) in the
 * session. */
static int64_t delta_sum(const struct room_session *r, int type, int pool)
{
    int64_t sum = 0;
    for (int pass = 0; pass < 2; pass++) {
        const struct stock_take *v = pass == 0 ? r->d->added : r->d->back;
        int n = pass == 0 ? r->d->n_added : r->d->n_back;
        for (int i = 0; i < n; i++) {
            if (strcmp(v[i].session_id, r->sid) != 0)
                continue;
            int64_t x = 0;
            if (type >= 0)
                x = v[i].type == type ? v[i].units : 0;
            else if (pool >= 0)
                x = r->c->s->types[v[i].type].pool == pool ? v[i].places : 0;
            else
                x = v[i].places;
            sum += pass == 0 ? x : -x;
        }
    }
    return sum;
}

/* Units of type t left in the session by its quantity; INT64_MAX without one. */
static int64_t units_left(const struct room_session *r, int t)
{
    const struct tix_stock_type *x = &r->c->s->types[t];
    if (x->quantity < 0)
        return INT64_MAX;
    const struct tix_stock_session *ss = r->slot >= 0 ? &r->c->s->sessions[r->slot] : NULL;
    int64_t taken = ss != NULL && t < r->d->counted_types ? ss->type_held[t] + ss->type_sold[t] : 0;
    return x->quantity - taken - delta_sum(r, t, -1);
}

/* Places left in type t's pool; INT64_MAX without one. */
static int64_t pool_left(const struct room_session *r, int t)
{
    int p = r->c->s->types[t].pool;
    if (p < 0)
        return INT64_MAX;
    const struct tix_stock_session *ss = r->slot >= 0 ? &r->c->s->sessions[r->slot] : NULL;
    int64_t taken = ss != NULL && p < r->d->counted_pools ? ss->pool_held[p] + ss->pool_sold[p] : 0;
    return r->c->s->pools[p].capacity - taken - delta_sum(r, -1, p);
}

/* True when the session can give `units` units of general type t. */
static bool general_fits(const struct room_session *r, int t, int64_t units)
{
    int64_t places = units * r->c->s->types[t].group_size;
    return units_left(r, t) >= units && pool_left(r, t) >= places && r->places_left >= places;
}

static bool in_seats(const struct room_seat *v, int n, int32_t seat, const char *sid)
{
    for (int i = 0; i < n; i++)
        if (v[i].seat == seat && strcmp(v[i].session_id, sid) == 0)
            return true;
    return false;
}

/* True when a seat that suits reserved type t is free after the decision. */
static bool has_free_seat(const struct room_session *r, int t)
{
    const struct tix_stock_state *s = r->c->s;
    const struct room_delta *d = r->d;
    for (int i = 0; i < d->n_freed; i++)
        if (strcmp(d->freed[i].session_id, r->sid) == 0 &&
            tix_stock_seat_suits(&s->types[t], &s->seats[d->freed[i].seat]) &&
            !in_seats(d->taken, d->n_taken, d->freed[i].seat, r->sid))
            return true;
    const int32_t *owner = r->slot >= 0 ? s->sessions[r->slot].owner : NULL;
    for (int32_t k = 0; k < s->n_seats; k++)
        if ((owner == NULL || owner[k] == 0) && tix_stock_seat_suits(&s->types[t], &s->seats[k]) &&
            !in_seats(d->taken, d->n_taken, k, r->sid))
            return true;
    return false;
}

/* True when type t could sell one more unit in the session. */
static bool type_has_room(const struct room_session *r, int t)
{
    const struct tix_stock_type *x = &r->c->s->types[t];
    if (x->is_deleted || !tix_stock_type_covers(x, r->sid) ||
        (x->sales_end >= 0 && r->c->now >= x->sales_end))
        return false;
    if (x->kind == TIX_STOCK_RESERVED)
        return r->places_left > 0 && has_free_seat(r, t);
    if (x->kind != TIX_STOCK_BUNDLE)
        return general_fits(r, t, 1);
    int64_t places = 0;
    for (int k = 0; k < x->n_components; k++) {
        int part = x->components[k].type;
        places += x->components[k].quantity * r->c->s->types[part].group_size;
        if (!general_fits(r, part, x->components[k].quantity))
            return false;
    }
    return units_left(r, t) >= 1 && r->places_left >= places;
}

/* True when the event has room left once the decision's events are applied. */
static bool event_has_room(const struct stock_ctx *c, const struct room_delta *d)
{
    for (int i = 0; i < c->ev->n_sessions; i++) {
        const struct tix_event_session *es = &c->ev->sessions[i];
        if (es->starts_at <= c->now || es->is_cancelled)
            continue;
        struct room_session r = {c, d, es->id, tix_stock_find_session(c->s, es->id), 0};
        const struct tix_stock_session *ss = r.slot >= 0 ? &c->s->sessions[r.slot] : NULL;
        int64_t taken = ss != NULL ? ss->places_held + ss->places_sold : 0;
        r.places_left = tix_stock_session_capacity(c->ev, i) - taken - delta_sum(&r, -1, -1);
        for (int pass = 0; pass < 2; pass++) /* counters first; seats, which cost a scan, last */
            for (int t = 0; t < c->s->n_types && r.places_left > 0; t++)
                if ((c->s->types[t].kind == TIX_STOCK_RESERVED) == (pass == 1) &&
                    type_has_room(&r, t))
                    return true;
    }
    return false;
}

/* ---- capacity added ------------------------------------------------------------------------- */

/* The stock as the decision's catalog events leave it: a shallow copy of the state whose types
 * and pools are its own arrays (own[i]: type i was read here and is freed with the copy). */
struct room_after {
    struct tix_stock_state s;
    bool *own;
    bool is_grown; /* a ticket type or a pool was created or changed */
};

/* Gives a its own types and pools arrays, copies of the state's with room for the decision's. */
static void after_copy(const struct stock_ctx *c, const struct tix_decision *out,
                       struct room_after *a)
{
    a->is_grown = true;
    size_t nt = (size_t)c->s->n_types + (size_t)out->n_events;
    size_t np = (size_t)c->s->n_pools + (size_t)out->n_events;
    a->s.types = tix_xcalloc(nt, sizeof(a->s.types[0]));
    a->own = tix_xcalloc(nt, sizeof(a->own[0]));
    a->s.pools = tix_xcalloc(np, sizeof(a->s.pools[0]));
    if (c->s->n_types > 0)
        memcpy(a->s.types, c->s->types, (size_t)c->s->n_types * sizeof(a->s.types[0]));
    if (c->s->n_pools > 0)
        memcpy(a->s.pools, c->s->pools, (size_t)c->s->n_pools * sizeof(a->s.pools[0]));
}

/* Applies one ticket_type.created/updated or pool.defined (data) to the copy. */
static void after_apply(const struct stock_ctx *c, const char *type, const json_t *data,
                        struct room_after *a)
{
    if (strcmp(type, "pool.defined") == 0) {
        const json_t *pool = json_object_get(data, "pool");
        int i = tix_stock_find_pool(c->s, tix_json_str(pool, "pool_id"));
        if (i < 0) { /* new: its counters are 0 (room_delta.counted_pools) */
            i = a->s.n_pools++;
            memset(&a->s.pools[i], 0, sizeof(a->s.pools[i]));
        }
        a->s.pools[i].capacity = tix_json_int(pool, "capacity", 0);
        return;
    }
    const json_t *doc = json_object_get(data, "ticket_type");
    int i = strcmp(type, "ticket_type.created") == 0
                ? a->s.n_types
                : tix_stock_find_type(c->s, tix_json_str(doc, "ticket_type_id"));
    struct tix_stock_type t;
    if (i < 0 || !tix_stock_type_read(c->s, doc, &t))
        return;
    if (a->own[i])
        tix_stock_type_free(&a->s.types[i]);
    a->s.types[i] = t;
    a->own[i] = true;
    if (i == a->s.n_types)
        a->s.n_types++;
}

/* Fills a with the stock after the decision's catalog events (the state itself, shared, when it
 * has none). */
static void after_of(const struct stock_ctx *c, const struct tix_decision *out,
                     struct room_after *a)
{
    a->s = *c->s;
    a->own = NULL;
    a->is_grown = false;
    for (int i = 0; i < out->n_events; i++) {
        const struct tix_new_event *e = &out->events[i];
        if (strcmp(e->stream_id, c->stream) != 0 ||
            (strcmp(e->type, "ticket_type.created") != 0 &&
             strcmp(e->type, "ticket_type.updated") != 0 && strcmp(e->type, "pool.defined") != 0))
            continue;
        if (!a->is_grown)
            after_copy(c, out, a);
        after_apply(c, e->type, e->data, a);
    }
}

/* Frees what a owns (nothing when it shares the state). */
static void after_free(struct room_after *a)
{
    if (!a->is_grown)
        return;
    for (int i = 0; i < a->s.n_types; i++)
        if (a->own[i])
            tix_stock_type_free(&a->s.types[i]);
    free(a->own);
    free(a->s.types);
    free(a->s.pools);
}

static void delta_free(struct room_delta *d)
{
    free(d->added);
    free(d->back);
    free(d->taken);
    free(d->freed);
}

/* Emits the automatic lifecycle step the decision's events lead to, if any. */
static void follow_room(const struct tix_command *cmd, const struct tix_view *view,
                        struct tix_decision *out)
{
    struct stock_ctx c;
    struct tix_decision scratch;
    tix_decision_init(&scratch);
    bool is_loaded = tix_stock_load(cmd, view, &c, &scratch);
    tix_decision_deinit(&scratch);
    if (!is_loaded)
        return;
    bool is_auto_sold_out = c.ev->status == TIX_EVENT_SOLD_OUT && c.ev->is_sold_out_automatic;
    if (c.ev->status != TIX_EVENT_ON_SALE && !is_auto_sold_out)
        return;
    struct room_delta d = {.counted_types = c.s->n_types, .counted_pools = c.s->n_pools};
    delta_of(&c, out, &d);
    struct room_after a;
    after_of(&c, out, &a);
    struct stock_ctx after = c;
    after.s = &a.s;
    const char *step = NULL;
    if (c.ev->status == TIX_EVENT_ON_SALE && d.n_added > 0 && !event_has_room(&after, &d))
        step = "event.sold_out";
    else if (is_auto_sold_out && (d.n_back > 0 || a.is_grown) && event_has_room(&after, &d))
        step = "event.sales_reopened";
    if (step != NULL) {
        char stream[TIX_STREAM_ID_MAX];
        snprintf(stream, sizeof(stream), "%s%s", TIX_EVENT_STREAM_PREFIX, cmd->key);
        tix_decision_emit(out, stream, step,
                          json_pack("{s:s, s:b}", "event_id", cmd->key, "automatic", 1));
    }
    delta_free(&d);
    after_free(&a);
}

/* The sale commands whose events may take the last place or give places back, and the catalog
 * commands that may add places. */
static const struct {
    const char *type;
    void (*decide)(const struct tix_command *, const struct tix_view *, struct tix_decision *);
} inner[] = {
    {"ticket_type.create", tix_stock_decide_type_create},
    {"ticket_type.update", tix_stock_decide_type_update},
    {"pool.define", tix_stock_decide_pool_define},
    {"hold.place", tix_stock_decide_hold_place},
    {"hold.release", tix_stock_decide_hold_release},
    {"hold.expire", tix_stock_decide_hold_expire},
    {"order.cancel", tix_stock_decide_order_cancel},
    {"order.refund", tix_stock_decide_order_refund},
    {"payment.apply", tix_stock_decide_payment_apply},
};

void tix_stock_decide_with_room(const struct tix_command *cmd, const struct tix_view *view,
                                struct tix_decision *out)
{
    for (size_t i = 0; i < N_SPECS(inner); i++) {
        if (strcmp(cmd->type, inner[i].type) != 0)
            continue;
        inner[i].decide(cmd, view, out);
        if (!out->is_rejected && out->n_events > 0)
            follow_room(cmd, view, out);
        return;
    }
    tix_decision_reject(out, "internal", NULL, "no stock handler for %s", cmd->type);
}
