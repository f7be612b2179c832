/* stock_take.c - what holds take, what has lapsed, whether a request fits, what a unit costs
 *
 * A decision never changes the state: holds and orders whose deadline passed but that no
 * hold.expired / order.expired event ended yet ("lapsed") are found by walking the deadline heap
 * down from its root while deadlines are <= now (O(lapsed)), and their takes are subtracted
 * from the counters when a request is checked. The decision then emits the expiry events before
 * its own, so evolve sees the same arithmetic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"
#include "tix/mem.h"

#include "stock_internal.h"

bool tix_stock_hold_is_live(const struct tix_stock_state *s, int h, int64_t now)
{
    return h >= 0 && s->holds[h].status == TIX_HOLD_ACTIVE && s->holds[h].expires_at > now;
}

bool tix_stock_owner_is_free(const struct tix_stock_state *s, int32_t owner, int64_t now)
{
    if (owner == 0)
        return true;
    if (owner > 0)
        return s->holds[owner - 1].status == TIX_HOLD_ACTIVE &&
               s->holds[owner - 1].expires_at <= now;
    const struct tix_stock_order *o = &s->orders[-owner - 1];
    return o->status == TIX_ORDER_PENDING_PAYMENT && o->expires_at <= now;
}

static void push_id(int32_t **v, int *n, int *cap, int32_t x)
{
    if (*n == *cap) {
        *cap = *cap == 0 ? 16 : *cap * 2;
        *v = tix_xrealloc(*v, (size_t)*cap * sizeof(**v));
    }
    (*v)[(*n)++] = x;
}

void tix_stock_lapse_collect(const struct tix_stock_state *s, int64_t now, struct stock_lapse *l)
{
    memset(l, 0, sizeof(*l));
    int32_t *stack = NULL;
    int n = 0, cap = 0;
    if (s->n_deadlines > 0)
        push_id(&stack, &n, &cap, 0);
    while (n > 0) {
        int i = stack[--n];
        if (i >= s->n_deadlines || s->deadlines[i].at > now)
            continue; /* a heap: nothing below is due either */
        int32_t item = s->deadlines[i].item;
        if (item % 2 == 0) {
            push_id(&l->holds, &l->n_holds, &l->cap_holds, item / 2);
            tix_stock_hold_takes(s, item / 2, &l->takes, &l->n_takes, &l->cap_takes);
        } else {
            push_id(&l->orders, &l->n_orders, &l->cap_orders, item / 2);
            tix_stock_hold_takes(s, s->orders[item / 2].hold, &l->takes, &l->n_takes,
                                 &l->cap_takes);
        }
        push_id(&stack, &n, &cap, 2 * i + 1);
        push_id(&stack, &n, &cap, 2 * i + 2);
    }
    free(stack);
}

void tix_stock_lapse_free(struct stock_lapse *l)
{
    free(l->holds);
    free(l->orders);
    free(l->takes);
    memset(l, 0, sizeof(*l));
}

void tix_stock_lapse_emit(const struct stock_ctx *c, const struct stock_lapse *l,
                          struct tix_decision *out)
{
    if (l->n_holds > 0) {
        json_t *ids = json_array();
        for (int i = 0; i < l->n_holds; i++)
            json_array_append_new(ids, json_string(c->s->holds[l->holds[i]].id));
        tix_stock_emit(
            c, out, "hold.expired",
            json_pack("{s:o, s:o}", "hold_ids", ids, "at", tix_stock_instant_json(c->now)));
    }
    if (l->n_orders > 0) {
        json_t *ids = json_array();
        for (int i = 0; i < l->n_orders; i++)
            json_array_append_new(ids, json_string(c->s->orders[l->orders[i]].id));
        tix_stock_emit(c, out, "order.expired", json_pack("{s:o}", "order_ids", ids));
    }
}

/* ---- availability --------------------------------------------------------------------------- */

/* What the lapsed holds and orders release in session slot: units of type (type >= 0), places
 * on pool (pool >= 0), or places in the session (both -1). */
static int64_t released(const struct tix_stock_state *s, const struct stock_lapse *l, int slot,
                        int type, int pool)
{
    int64_t sum = 0;
    for (int i = 0; slot >= 0 && i < l->n_takes; i++) {
        const struct stock_take *k = &l->takes[i];
        if (k->session != slot)
            continue;
        if (type >= 0 && k->type == type)
            sum += k->units;
        else if (pool >= 0 && s->types[k->type].pool == pool)
            sum += k->places;
        else if (type < 0 && pool < 0)
            sum += k->places;
    }
    return sum;
}

static int take_cmp_cb(const void *a, const void *b)
{
    const struct stock_take *x = a, *y = b;
    int c = strcmp(x->session_id, y->session_id);
    return c != 0 ? c : (x->type > y->type) - (x->type < y->type);
}

/* Rejects insufficient_stock for line: what (a ticket type, pool or session) has left. */
static bool run_out(struct tix_decision *out, int line, const char *kind, const char *what,
                    const char *session, int64_t left)
{
    char field[TIX_FIELD_PATH_MAX];
    tix_payload_join(field, "lines", NULL, (size_t)line);
    tix_decision_reject(out, "insufficient_stock", field, "%s %s has %lld left in session %s", kind,
                        what, (long long)(left > 0 ? left : 0), session);
    return false;
}

/* Checks the takes [g, e) of one session. */
static bool check_session(const struct stock_ctx *c, const struct stock_lapse *l,
                          const struct stock_take *takes, int g, int e, struct tix_decision *out)
{
    const struct tix_stock_state *s = c->s;
    int slot = takes[g].session;
    const struct tix_stock_session *x = slot >= 0 ? &s->sessions[slot] : NULL;
    int64_t pool_need[TIX_STOCK_POOLS_MAX] = {0}, places = 0;
    int pool_line[TIX_STOCK_POOLS_MAX] = {0};
    for (int i = g; i < e;) {
        int type = takes[i].type, line = takes[i].line;
        const struct tix_stock_type *t = &s->types[type];
        int64_t need = 0;
        for (; i < e && takes[i].type == type; i++) {
            need += takes[i].units;
            places += takes[i].places;
            if (t->pool >= 0 && pool_need[t->pool] == 0)
                pool_line[t->pool] = takes[i].line;
            if (t->pool >= 0)
                pool_need[t->pool] += takes[i].places;
        }
        int64_t taken = x != NULL ? x->type_held[type] + x->type_sold[type] : 0;
        taken -= released(s, l, slot, type, -1);
        if (t->quantity >= 0 && taken + need > t->quantity)
            return run_out(out, line, "ticket type", tix_json_str(t->doc, "name"),
                           takes[g].session_id, t->quantity - taken);
    }
    for (int p = 0; p < s->n_pools; p++) {
        if (pool_need[p] == 0)
            continue;
        int64_t taken = x != NULL ? x->pool_held[p] + x->pool_sold[p] : 0;
        taken -= released(s, l, slot, -1, p);
        if (taken + pool_need[p] > s->pools[p].capacity)
            return run_out(out, pool_line[p], "pool", s->pools[p].name, takes[g].session_id,
                           s->pools[p].capacity - taken);
    }
    int ev_session = tix_stock_event_session(c->ev, takes[g].session_id);
    int64_t capacity = tix_stock_session_capacity(c->ev, ev_session);
    int64_t taken = x != NULL ? x->places_held + x->places_sold : 0;
    taken -= released(s, l, slot, -1, -1);
    if (places > 0 && taken + places > capacity)
        return run_out(out, takes[g].line, "session", takes[g].session_id, takes[g].session_id,
                       capacity - taken);
    return true;
}

bool tix_stock_check_takes(const struct stock_ctx *c, const struct stock_lapse *l,
                           struct stock_take *takes, int n, struct tix_decision *out)
{
    qsort(takes, (size_t)n, sizeof(takes[0]), take_cmp_cb);
    for (int g = 0; g < n;) {
        int e = g + 1;
        while (e < n && strcmp(takes[e].session_id, takes[g].session_id) == 0)
            e++;
        if (!check_session(c, l, takes, g, e, out))
            return false;
        g = e;
    }
    return true;
}

int64_t tix_stock_unit_price(const struct tix_stock_state *s, int t, int slot, int64_t now)
{
    const struct tix_stock_type *type = &s->types[t];
    int64_t taken = slot >= 0 ? s->sessions[slot].type_held[t] + s->sessions[slot].type_sold[t] : 0;
    for (int i = 0; i < type->n_tiers; i++) {
        const struct tix_stock_tier *x = &type->tiers[i];
        if ((x->until < 0 || now < x->until) && (x->until_sold < 0 || taken < x->until_sold))
            return x->price_minor;
    }
    return type->price_minor;
}
