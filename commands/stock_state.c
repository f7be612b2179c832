/* stock_state.c - the stock state: its indexes, its deadline heap, names, ids and evolve
 *
 * evolve() checks every known event with the specs of stock_check.c and against the state (ids
 * new or known as the event needs, seats free before they are taken, statuses that allow the
 * step) before it changes anything, so a malformed or impossible event leaves the state as it
 * was and returns TIX_EINVAL. Each event costs O(its own size): lookups go through the hash
 * indexes, counters move by the event's takes, the heap by O(log n).
 *
 * Invariants: an id index maps exactly the elements of its array; holds[h].heap_pos is its place
 * in the heap iff it is active (orders: iff pending_payment); a seat's owner in a session is the
 * active hold or the pending or paid order that took it; the counters equal the sums of the
 * takes of active holds (held), pending orders (held) and paid orders (sold).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/mem.h"

#include "stock_internal.h"

/* ---- names ---------------------------------------------------------------------------------- */

static const char *const kind_names[] = {
    [TIX_STOCK_GENERAL_ADMISSION] = "general_admission",
    [TIX_STOCK_RESERVED] = "reserved",
    [TIX_STOCK_VIP] = "vip",
    [TIX_STOCK_EARLY_BIRD] = "early_bird",
    [TIX_STOCK_GROUP] = "group",
    [TIX_STOCK_SEASON_PASS] = "season_pass",
    [TIX_STOCK_BUNDLE] = "bundle",
};
static const char *const hold_names[] = {"active", "released", "expired", "converted"};
static const char *const order_names[] = {"pending_payment",   "paid",           "expired",
                                          "cancelled",         "refund_pending", "refunded",
                                          "partially_refunded"};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

const char *tix_stock_kind_name(enum tix_stock_kind kind)
{
    return (int)kind >= 0 && (int)kind < N_OF(kind_names) ? kind_names[kind] : "unknown";
}

int tix_stock_kind_parse(const char *s)
{
    for (int i = 0; s != NULL && i < N_OF(kind_names); i++)
        if (strcmp(s, kind_names[i]) == 0)
            return i;
    return -1;
}

const char *tix_hold_status_name(enum tix_hold_status status)
{
    return (int)status >= 0 && (int)status < N_OF(hold_names) ? hold_names[status] : "unknown";
}

const char *tix_order_status_name(enum tix_order_status status)
{
    return (int)status >= 0 && (int)status < N_OF(order_names) ? order_names[status] : "unknown";
}

void tix_stock_order_number(const char *event_id, int64_t n, char out[24])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof(h), (const unsigned char *)event_id, strlen(event_id), NULL, 0);
    snprintf(out, 24, "%c%c%c%c-%06lld", 'A' + h[0] % 26, 'A' + h[1] % 26, 'A' + h[2] % 26,
             'A' + h[3] % 26, (long long)(n % 100000000000LL));
}

void tix_stock_ticket_id(const unsigned char seed[32], const char *order_id, uint32_t i,
                         char out[40])
{
    unsigned char h[32], be[4] = {(unsigned char)(i >> 24), (unsigned char)(i >> 16),
                                  (unsigned char)(i >> 8), (unsigned char)i};
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, seed, 32);
    crypto_generichash_update(&st, (const unsigned char *)order_id, strlen(order_id));
    crypto_generichash_update(&st, be, sizeof(be));
    crypto_generichash_final(&st, h, sizeof(h));
    tix_uuid_format(h, 4, out);
}

/* ---- indexes -------------------------------------------------------------------------------- */

/* The slot hash of key: tix_fnv1a folded to 32 bits. */
static uint32_t hash_str(const char *s)
{
    uint64_t h = tix_fnv1a(s, strlen(s));
    return (uint32_t)(h ^ (h >> 32));
}

int32_t tix_stock_index_get(const struct tix_stock_index *x, const char *key, tix_stock_key_fn fn,
                            const void *ctx)
{
    if (x->cap == 0 || key == NULL)
        return -1;
    for (uint32_t i = hash_str(key) & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
        int32_t e = x->slots[i] - 1;
        if (e < 0)
            return -1;
        if (strcmp(fn(ctx, e), key) == 0)
            return e;
    }
}

static void slot_put(int32_t *slots, uint32_t cap, const char *key, int32_t e)
{
    uint32_t i = hash_str(key) & (cap - 1);
    while (slots[i] != 0)
        i = (i + 1) & (cap - 1);
    slots[i] = e + 1;
}

void tix_stock_index_put(struct tix_stock_index *x, const char *key, int32_t e, tix_stock_key_fn fn,
                         const void *ctx)
{
    if ((x->n + 1) * 2 > x->cap) {
        uint32_t cap = x->cap == 0 ? 64 : x->cap * 2;
        int32_t *slots = tix_xcalloc(cap, sizeof(slots[0]));
        for (uint32_t i = 0; i < x->cap; i++)
            if (x->slots[i] != 0)
                slot_put(slots, cap, fn(ctx, x->slots[i] - 1), x->slots[i] - 1);
        free(x->slots);
        x->slots = slots;
        x->cap = cap;
    }
    slot_put(x->slots, x->cap, key, e);
    x->n++;
}

void tix_stock_index_free(struct tix_stock_index *x)
{
    free(x->slots);
    memset(x, 0, sizeof(*x));
}

#define KEY_FN(name, field, member)                                                                \
    static const char *name(const void *ctx, int32_t i)                                            \
    {                                                                                              \
        return ((const struct tix_stock_state *)ctx)->field[i].member;                             \
    }

KEY_FN(seat_key_cb, seats, id)
KEY_FN(hold_key_cb, holds, id)
KEY_FN(order_key_cb, orders, id)
KEY_FN(ticket_key_cb, tickets, id)
KEY_FN(buyer_key_cb, buyers, id)

int tix_stock_find_seat(const struct tix_stock_state *s, const char *id)
{
    return tix_stock_index_get(&s->seat_index, id, seat_key_cb, s);
}

int tix_stock_find_hold(const struct tix_stock_state *s, const char *id)
{
    return tix_stock_index_get(&s->hold_index, id, hold_key_cb, s);
}

int tix_stock_find_order(const struct tix_stock_state *s, const char *id)
{
    return tix_stock_index_get(&s->order_index, id, order_key_cb, s);
}

int tix_stock_find_ticket(const struct tix_stock_state *s, const char *id)
{
    return tix_stock_index_get(&s->ticket_index, id, ticket_key_cb, s);
}

int tix_stock_find_buyer(const struct tix_stock_state *s, const char *id)
{
    return tix_stock_index_get(&s->buyer_index, id, buyer_key_cb, s);
}

/* Types, pools and sessions are few: a scan is as fast as a hash. */
int tix_stock_find_type(const struct tix_stock_state *s, const char *id)
{
    for (int i = 0; id != NULL && i < s->n_types; i++)
        if (strcmp(s->types[i].id, id) == 0)
            return i;
    return -1;
}

int tix_stock_find_pool(const struct tix_stock_state *s, const char *id)
{
    for (int i = 0; id != NULL && i < s->n_pools; i++)
        if (strcmp(s->pools[i].id, id) == 0)
            return i;
    return -1;
}

int tix_stock_find_session(const struct tix_stock_state *s, const char *id)
{
    for (int i = 0; id != NULL && i < s->n_sessions; i++)
        if (strcmp(s->sessions[i].id, id) == 0)
            return i;
    return -1;
}

/* Grows *p (of *cap elements of size) to hold n elements. */
static void grow(void **p, int *cap, int n, size_t size)
{
    if (n <= *cap)
        return;
    int next = *cap == 0 ? 8 : *cap;
    while (next < n)
        next *= 2;
    *p = tix_xrealloc(*p, (size_t)next * size);
    memset((char *)*p + (size_t)*cap * size, 0, (size_t)(next - *cap) * size);
    *cap = next;
}

/* ---- create, destroy ------------------------------------------------------------------------ */

static const struct tix_stock_settings default_settings = {
    .hold_minutes = 10, .max_extensions = 2, .extension_minutes = 5};

static void *stock_create(void)
{
    struct tix_stock_state *s = tix_xcalloc(1, sizeof(*s));
    s->settings = default_settings;
    s->chart_version = -1;
    return s;
}

static void free_strings(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void tix_stock_type_free(struct tix_stock_type *t)
{
    free(t->session_ids);
    free_strings(t->sections, t->n_sections);
    free_strings(t->categories, t->n_categories);
    free(t->tiers);
    free(t->components);
    json_decref(t->doc);
}

static void seats_free(struct tix_stock_state *s)
{
    for (int i = 0; i < s->n_seats; i++)
        free(s->seats[i].id); /* the block of the seat's strings */
    free(s->seats);
    s->seats = NULL;
    s->n_seats = 0;
    tix_stock_index_free(&s->seat_index);
}

static void stock_destroy(void *p)
{
    struct tix_stock_state *s = p;
    if (s == NULL)
        return;
    for (int i = 0; i < s->n_types; i++)
        tix_stock_type_free(&s->types[i]);
    free(s->types);
    for (int i = 0; i < s->n_pools; i++)
        free(s->pools[i].name);
    free(s->pools);
    seats_free(s);
    for (int i = 0; i < s->n_sessions; i++) {
        struct tix_stock_session *x = &s->sessions[i];
        free(x->owner);
        free(x->type_held);
        free(x->type_sold);
        free(x->pool_held);
        free(x->pool_sold);
    }
    free(s->sessions);
    for (int i = 0; i < s->n_holds; i++) {
        for (int k = 0; k < s->holds[i].n_lines; k++)
            free(s->holds[i].lines[k].sessions);
        free(s->holds[i].lines);
        free(s->holds[i].seats);
    }
    free(s->holds);
    for (int i = 0; i < s->n_orders; i++) {
        free(s->orders[i].payment_intent_id);
        free_strings(s->orders[i].stripe_events, s->orders[i].n_stripe_events);
        free_strings(s->orders[i].refunds, s->orders[i].n_refunds);
        free_strings(s->orders[i].requests, s->orders[i].n_requests);
    }
    free(s->orders);
    free(s->tickets);
    free(s->buyers);
    free(s->deadlines);
    tix_stock_index_free(&s->hold_index);
    tix_stock_index_free(&s->order_index);
    tix_stock_index_free(&s->ticket_index);
    tix_stock_index_free(&s->buyer_index);
    free(s);
}

/* ---- sessions and counters ------------------------------------------------------------------ */

/* The counters of every session sized for cap_types and cap_pools. */
static void size_counters(struct tix_stock_state *s, struct tix_stock_session *x)
{
    size_t nt = (size_t)(s->cap_types > 0 ? s->cap_types : 1);
    size_t np = (size_t)(s->cap_pools > 0 ? s->cap_pools : 1);
    x->type_held = tix_xrealloc(x->type_held, nt * sizeof(int64_t));
    x->type_sold = tix_xrealloc(x->type_sold, nt * sizeof(int64_t));
    x->pool_held = tix_xrealloc(x->pool_held, np * sizeof(int64_t));
    x->pool_sold = tix_xrealloc(x->pool_sold, np * sizeof(int64_t));
}

/* After types or pools grew: zero the new counters of every session. */
static void grow_counters(struct tix_stock_state *s, int old_types, int old_pools)
{
    for (int i = 0; i < s->n_sessions; i++) {
        struct tix_stock_session *x = &s->sessions[i];
        size_counters(s, x);
        for (int t = old_types; t < s->cap_types; t++)
            x->type_held[t] = x->type_sold[t] = 0;
        for (int p = old_pools; p < s->cap_pools; p++)
            x->pool_held[p] = x->pool_sold[p] = 0;
    }
}

/* The slot of session id, created on first use. */
static int session_slot(struct tix_stock_state *s, const char *id)
{
    int i = tix_stock_find_session(s, id);
    if (i >= 0)
        return i;
    grow((void **)&s->sessions, &s->cap_sessions, s->n_sessions + 1, sizeof(s->sessions[0]));
    struct tix_stock_session *x = &s->sessions[s->n_sessions];
    memset(x, 0, sizeof(*x));
    snprintf(x->id, sizeof(x->id), "%s", id);
    size_counters(s, x);
    memset(x->type_held, 0, (size_t)(s->cap_types > 0 ? s->cap_types : 1) * sizeof(int64_t));
    memset(x->type_sold, 0, (size_t)(s->cap_types > 0 ? s->cap_types : 1) * sizeof(int64_t));
    memset(x->pool_held, 0, (size_t)(s->cap_pools > 0 ? s->cap_pools : 1) * sizeof(int64_t));
    memset(x->pool_sold, 0, (size_t)(s->cap_pools > 0 ? s->cap_pools : 1) * sizeof(int64_t));
    return s->n_sessions++;
}

/* The owner array of a session, allocated (all free) on first use. */
static int32_t *owners(struct tix_stock_state *s, int slot)
{
    struct tix_stock_session *x = &s->sessions[slot];
    if (x->owner == NULL && s->n_seats > 0)
        x->owner = tix_xcalloc((size_t)s->n_seats, sizeof(int32_t));
    return x->owner;
}

static void count(struct tix_stock_state *s, const struct stock_take *k, int64_t sign, bool is_sold)
{
    struct tix_stock_session *x = &s->sessions[k->session];
    struct tix_stock_type *t = &s->types[k->type];
    (is_sold ? x->type_sold : x->type_held)[k->type] += sign * k->units;
    t->taken += sign * k->units;
    if (t->pool >= 0)
        (is_sold ? x->pool_sold : x->pool_held)[t->pool] += sign * k->places;
    if (is_sold)
        x->places_sold += sign * k->places;
    else
        x->places_held += sign * k->places;
}

/* Moves hold h's takes: sign +1 adds, -1 removes, on the held or the sold counters. */
static void count_hold(struct tix_stock_state *s, int h, int64_t sign, bool is_sold)
{
    struct stock_take *takes = NULL;
    int n = 0, cap = 0;
    tix_stock_hold_takes(s, h, &takes, &n, &cap);
    for (int i = 0; i < n; i++)
        count(s, &takes[i], sign, is_sold);
    free(takes);
}

/* Sets the owner of hold h's seats in its session. */
static void own_seats(struct tix_stock_state *s, int h, int32_t owner)
{
    const struct tix_stock_hold *hd = &s->holds[h];
    int32_t *o = hd->n_seats > 0 ? owners(s, hd->session) : NULL;
    for (int i = 0; i < hd->n_seats; i++)
        o[hd->seats[i]] = owner;
}

/* ---- the deadline heap ---------------------------------------------------------------------- */

static void set_heap_pos(struct tix_stock_state *s, int32_t item, int pos)
{
    if (item % 2 == 0)
        s->holds[item / 2].heap_pos = pos;
    else
        s->orders[item / 2].heap_pos = pos;
}

static void heap_swap(struct tix_stock_state *s, int a, int b)
{
    struct tix_stock_deadline t = s->deadlines[a];
    s->deadlines[a] = s->deadlines[b];
    s->deadlines[b] = t;
    set_heap_pos(s, s->deadlines[a].item, a);
    set_heap_pos(s, s->deadlines[b].item, b);
}

static void heap_fix(struct tix_stock_state *s, int i)
{
    while (i > 0 && s->deadlines[(i - 1) / 2].at > s->deadlines[i].at) {
        heap_swap(s, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->n_deadlines && s->deadlines[l].at < s->deadlines[m].at)
            m = l;
        if (r < s->n_deadlines && s->deadlines[r].at < s->deadlines[m].at)
            m = r;
        if (m == i)
            return;
        heap_swap(s, i, m);
        i = m;
    }
}

static void heap_push(struct tix_stock_state *s, int32_t item, int64_t at)
{
    grow((void **)&s->deadlines, &s->cap_deadlines, s->n_deadlines + 1, sizeof(s->deadlines[0]));
    int i = s->n_deadlines++;
    s->deadlines[i] = (struct tix_stock_deadline){at, item};
    set_heap_pos(s, item, i);
    heap_fix(s, i);
}

static void heap_remove(struct tix_stock_state *s, int pos)
{
    if (pos < 0)
        return;
    set_heap_pos(s, s->deadlines[pos].item, -1);
    int last = --s->n_deadlines;
    if (pos == last)
        return;
    s->deadlines[pos] = s->deadlines[last];
    set_heap_pos(s, s->deadlines[pos].item, pos);
    heap_fix(s, pos);
}

/* ---- buyers --------------------------------------------------------------------------------- */

static int buyer_slot(struct tix_stock_state *s, const char *id)
{
    int b = tix_stock_find_buyer(s, id);
    if (b >= 0)
        return b;
    grow((void **)&s->buyers, &s->cap_buyers, s->n_buyers + 1, sizeof(s->buyers[0]));
    b = s->n_buyers++;
    snprintf(s->buyers[b].id, sizeof(s->buyers[b].id), "%s", id);
    s->buyers[b].first_active = -1;
    tix_stock_index_put(&s->buyer_index, id, b, buyer_key_cb, s);
    return b;
}

static void unlink_active(struct tix_stock_state *s, int h)
{
    struct tix_stock_hold *hd = &s->holds[h];
    if (hd->prev_active >= 0)
        s->holds[hd->prev_active].next_active = hd->next_active;
    else
        s->buyers[hd->buyer].first_active = hd->next_active;
    if (hd->next_active >= 0)
        s->holds[hd->next_active].prev_active = hd->prev_active;
    hd->prev_active = hd->next_active = -1;
}

/* ---- reading types -------------------------------------------------------------------------- */

static char **strings_of(const json_t *a, int *n)
{
    *n = (int)json_array_size(a);
    char **v = *n > 0 ? tix_xcalloc((size_t)*n, sizeof(v[0])) : NULL;
    for (int i = 0; i < *n; i++)
        v[i] = tix_xstrdup(json_string_value(json_array_get(a, (size_t)i)));
    return v;
}

/* Reads a checked type document into t (fresh), resolving its pool and components against s;
 * false (t freed) when one is unknown or deleted. t keeps a reference to doc. */
bool tix_stock_type_read(const struct tix_stock_state *s, const json_t *doc,
                         struct tix_stock_type *t)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->id, sizeof(t->id), "%s", tix_json_str(doc, "ticket_type_id"));
    t->kind = (enum tix_stock_kind)tix_stock_kind_parse(tix_json_str(doc, "kind"));
    t->price_minor = tix_json_int(doc, "price_minor", 0);
    snprintf(t->currency, sizeof(t->currency), "%s", tix_json_str(doc, "currency"));
    t->quantity = tix_json_int(doc, "quantity", -1);
    t->pool = tix_stock_find_pool(s, tix_json_str(doc, "pool_id"));
    const json_t *ids = json_object_get(doc, "session_ids");
    t->n_sessions = (int)json_array_size(ids);
    t->session_ids = t->n_sessions > 0 ? tix_xcalloc((size_t)t->n_sessions, 40) : NULL;
    for (int i = 0; i < t->n_sessions; i++)
        snprintf(t->session_ids[i], 40, "%s", json_string_value(json_array_get(ids, (size_t)i)));
    t->sales_start = tix_stock_instant(doc, "sales_start", -1);
    t->sales_end = tix_stock_instant(doc, "sales_end", -1);
    t->min_per_order = (int)tix_json_int(doc, "min_per_order", 1);
    t->max_per_order = (int)tix_json_int(doc, "max_per_order", 10);
    t->is_hidden = json_is_true(json_object_get(doc, "hidden"));
    t->allows_reentry = json_is_true(json_object_get(doc, "allows_reentry"));
    t->group_size = (int)tix_json_int(doc, "group_size", 1);
    t->sections = strings_of(json_object_get(doc, "sections"), &t->n_sections);
    t->categories = strings_of(json_object_get(doc, "categories"), &t->n_categories);
    const json_t *tiers = json_object_get(doc, "tiers");
    t->n_tiers = (int)json_array_size(tiers);
    t->tiers = t->n_tiers > 0 ? tix_xcalloc((size_t)t->n_tiers, sizeof(t->tiers[0])) : NULL;
    for (int i = 0; i < t->n_tiers; i++) {
        const json_t *x = json_array_get(tiers, (size_t)i);
        t->tiers[i] = (struct tix_stock_tier){tix_json_int(x, "price_minor", 0),
                                              tix_stock_instant(x, "until", -1),
                                              tix_json_int(x, "until_sold", -1)};
    }
    const json_t *parts = json_object_get(doc, "components");
    t->n_components = (int)json_array_size(parts);
    t->components =
        t->n_components > 0 ? tix_xcalloc((size_t)t->n_components, sizeof(t->components[0])) : NULL;
    bool is_ok = t->pool >= 0 || !json_is_string(json_object_get(doc, "pool_id"));
    for (int i = 0; i < t->n_components; i++) {
        const json_t *x = json_array_get(parts, (size_t)i);
        int c = tix_stock_find_type(s, tix_json_str(x, "ticket_type_id"));
        t->components[i] = (struct tix_stock_component){c, (int)tix_json_int(x, "quantity", 1)};
        is_ok = is_ok && c >= 0 && !s->types[c].is_deleted;
    }
    t->doc = json_incref((json_t *)doc);
    if (!is_ok)
        tix_stock_type_free(t);
    return is_ok;
}

/* ---- takes ---------------------------------------------------------------------------------- */

static void push_take(struct stock_take **takes, int *n, int *cap, struct stock_take k)
{
    grow((void **)takes, cap, *n + 1, sizeof(**takes));
    (*takes)[(*n)++] = k;
}

void tix_stock_line_takes(const struct tix_stock_state *s, int type, int64_t quantity,
                          const char *const *session_ids, int n_sessions, int line,
                          struct stock_take **takes, int *n, int *cap)
{
    const struct tix_stock_type *t = &s->types[type];
    for (int k = 0; k < n_sessions; k++) {
        int slot = tix_stock_find_session(s, session_ids[k]);
        bool is_bundle = t->kind == TIX_STOCK_BUNDLE;
        push_take(takes, n, cap,
                  (struct stock_take){slot, session_ids[k], type, quantity,
                                      is_bundle ? 0 : quantity * t->group_size, line});
        for (int c = 0; is_bundle && c < t->n_components; c++) {
            const struct tix_stock_type *part = &s->types[t->components[c].type];
            int64_t units = quantity * t->components[c].quantity;
            push_take(takes, n, cap,
                      (struct stock_take){slot, session_ids[k], t->components[c].type, units,
                                          units * part->group_size, line});
        }
    }
}

void tix_stock_hold_takes(const struct tix_stock_state *s, int h, struct stock_take **takes, int *n,
                          int *cap)
{
    const struct tix_stock_hold *hd = &s->holds[h];
    for (int i = 0; i < hd->n_lines; i++) {
        const struct tix_stock_line *l = &hd->lines[i];
        int m = l->n_sessions > 0 ? l->n_sessions : 1;
        const char *ids[TIX_EVENT_SESSIONS_MAX];
        for (int k = 0; k < m; k++)
            ids[k] = s->sessions[l->n_sessions > 0 ? l->sessions[k] : hd->session].id;
        tix_stock_line_takes(s, l->type, l->quantity, ids, m, i, takes, n, cap);
    }
}

int64_t tix_stock_line_ticket_count(const struct tix_stock_state *s, int h, int line)
{
    const struct tix_stock_line *l = &s->holds[h].lines[line];
    const struct tix_stock_type *t = &s->types[l->type];
    if (l->n_seats > 0)
        return l->n_seats;
    int64_t per = t->kind == TIX_STOCK_BUNDLE ? 0 : 1;
    for (int k = 0; t->kind == TIX_STOCK_BUNDLE && k < t->n_components; k++)
        per += t->components[k].quantity;
    return l->quantity * per;
}

void tix_stock_void_takes(const struct tix_stock_state *s, int o, const int *tickets, int n,
                          struct stock_take **takes, int *nt, int *cap)
{
    const struct tix_stock_hold *hd = &s->holds[s->orders[o].hold];
    for (int i = 0; i < hd->n_lines; i++) {
        const struct tix_stock_line *l = &hd->lines[i];
        int64_t k = 0;
        for (int j = 0; j < n; j++)
            k += s->tickets[tickets[j]].line == i;
        if (k == 0)
            continue;
        if (s->types[l->type].kind == TIX_STOCK_BUNDLE) /* whole bundles only */
            k = k * l->quantity / tix_stock_line_ticket_count(s, s->orders[o].hold, i);
        int m = l->n_sessions > 0 ? l->n_sessions : 1;
        const char *ids[TIX_EVENT_SESSIONS_MAX];
        for (int x = 0; x < m; x++)
            ids[x] = s->sessions[l->n_sessions > 0 ? l->sessions[x] : hd->session].id;
        tix_stock_line_takes(s, l->type, k, ids, m, i, takes, nt, cap);
    }
}

/* ---- evolve: catalog ------------------------------------------------------------------------ */

static void put_setting(struct tix_stock_settings *x, const char *key, const json_t *v)
{
    int64_t n = json_integer_value(v);
    if (strcmp(key, "hold_minutes") == 0)
        x->hold_minutes = (int)n;
    else if (strcmp(key, "max_extensions") == 0)
        x->max_extensions = (int)n;
    else if (strcmp(key, "extension_minutes") == 0)
        x->extension_minutes = (int)n;
    else if (strcmp(key, "fee_fixed_minor") == 0)
        x->fee_fixed_minor = n;
    else if (strcmp(key, "fee_percent_bp") == 0)
        x->fee_percent_bp = (int)n;
    else if (strcmp(key, "tax_percent_bp") == 0)
        x->tax_percent_bp = (int)n;
    else if (strcmp(key, "no_single_seat_gap") == 0)
        x->no_single_seat_gap = json_is_true(v);
}

static enum tix_rc apply_configured(struct tix_stock_state *s, const json_t *d)
{
    struct tix_stock_settings x = default_settings;
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(d, "settings"), key, v)
    {
        put_setting(&x, key, v);
    }
    s->settings = x;
    return TIX_OK;
}

static enum tix_rc apply_type_created(struct tix_stock_state *s, const json_t *d)
{
    const json_t *doc = json_object_get(d, "ticket_type");
    struct tix_stock_type t;
    if (tix_stock_find_type(s, tix_json_str(doc, "ticket_type_id")) >= 0 ||
        s->n_types >= TIX_STOCK_TYPES_MAX || !tix_stock_type_read(s, doc, &t))
        return TIX_EINVAL;
    int old = s->cap_types;
    grow((void **)&s->types, &s->cap_types, s->n_types + 1, sizeof(s->types[0]));
    if (s->cap_types != old)
        grow_counters(s, old, s->cap_pools);
    s->types[s->n_types++] = t;
    return TIX_OK;
}

static enum tix_rc apply_type_updated(struct tix_stock_state *s, const json_t *d)
{
    const json_t *doc = json_object_get(d, "ticket_type");
    int i = tix_stock_find_type(s, tix_json_str(doc, "ticket_type_id"));
    struct tix_stock_type t;
    if (i < 0 || s->types[i].is_deleted || !tix_stock_type_read(s, doc, &t))
        return TIX_EINVAL;
    if (t.kind != s->types[i].kind) {
        tix_stock_type_free(&t);
        return TIX_EINVAL;
    }
    t.taken = s->types[i].taken;
    tix_stock_type_free(&s->types[i]);
    s->types[i] = t;
    return TIX_OK;
}

static enum tix_rc apply_type_deleted(struct tix_stock_state *s, const json_t *d)
{
    int i = tix_stock_find_type(s, tix_json_str(d, "ticket_type_id"));
    if (i < 0 || s->types[i].is_deleted || s->types[i].taken != 0)
        return TIX_EINVAL;
    s->types[i].is_deleted = true;
    return TIX_OK;
}

static enum tix_rc apply_pool_defined(struct tix_stock_state *s, const json_t *d)
{
    const json_t *pool = json_object_get(d, "pool");
    int i = tix_stock_find_pool(s, tix_json_str(pool, "pool_id"));
    if (i < 0) {
        if (s->n_pools >= TIX_STOCK_POOLS_MAX)
            return TIX_EINVAL;
        int old = s->cap_pools;
        grow((void **)&s->pools, &s->cap_pools, s->n_pools + 1, sizeof(s->pools[0]));
        if (s->cap_pools != old)
            grow_counters(s, s->cap_types, old);
        i = s->n_pools++;
        snprintf(s->pools[i].id, sizeof(s->pools[i].id), "%s", tix_json_str(pool, "pool_id"));
    }
    free(s->pools[i].name);
    s->pools[i].name = tix_xstrdup(tix_json_str(pool, "name"));
    s->pools[i].capacity = tix_json_int(pool, "capacity", 0);
    return TIX_OK;
}

/* True when some session has a seat taken. */
static bool has_taken_seat(const struct tix_stock_state *s)
{
    for (int i = 0; i < s->n_sessions; i++)
        for (int k = 0; s->sessions[i].owner != NULL && k < s->n_seats; k++)
            if (s->sessions[i].owner[k] != 0)
                return true;
    return false;
}

/* One allocation holds a seat's strings: id, section, row, label, category. */
static void seat_read(const json_t *o, struct tix_stock_seat *seat)
{
    const char *f[5] = {tix_json_str(o, "seat_id"), tix_json_str(o, "section"),
                        tix_json_str(o, "row"), tix_json_str(o, "label"),
                        tix_json_str(o, "category")};
    size_t len[5], total = 0;
    for (int i = 0; i < 5; i++) {
        len[i] = f[i] != NULL ? strlen(f[i]) + 1 : 0;
        total += len[i];
    }
    char *block = tix_xmalloc(total), *p = block;
    char **dst[5] = {&seat->id, &seat->section, &seat->row, &seat->label, &seat->category};
    for (int i = 0; i < 5; i++) {
        *dst[i] = f[i] != NULL ? memcpy(p, f[i], len[i]) : NULL;
        p += len[i];
    }
    seat->is_accessible = json_is_true(json_object_get(o, "accessible"));
}

static enum tix_rc apply_seats_loaded(struct tix_stock_state *s, const json_t *d)
{
    if (has_taken_seat(s))
        return TIX_EINVAL;
    seats_free(s);
    for (int i = 0; i < s->n_sessions; i++) {
        free(s->sessions[i].owner);
        s->sessions[i].owner = NULL;
    }
    const json_t *seats = json_object_get(d, "seats");
    s->n_seats = (int)json_array_size(seats);
    s->seats = tix_xcalloc((size_t)(s->n_seats > 0 ? s->n_seats : 1), sizeof(s->seats[0]));
    for (int i = 0; i < s->n_seats; i++) {
        seat_read(json_array_get(seats, (size_t)i), &s->seats[i]);
        tix_stock_index_put(&s->seat_index, s->seats[i].id, i, seat_key_cb, s);
        bool is_same_row = i > 0 && strcmp(s->seats[i].section, s->seats[i - 1].section) == 0 &&
                           strcmp(s->seats[i].row, s->seats[i - 1].row) == 0;
        s->seats[i].row_first = is_same_row ? s->seats[i - 1].row_first : i;
    }
    for (int i = s->n_seats - 1; i >= 0; i--) {
        bool is_last = i == s->n_seats - 1 || s->seats[i + 1].row_first != s->seats[i].row_first;
        s->seats[i].row_last = is_last ? i : s->seats[i + 1].row_last;
    }
    s->chart_version = tix_json_int(d, "chart_version", -1);
    return TIX_OK;
}

/* ---- evolve: holds -------------------------------------------------------------------------- */

static int cmp_int32_cb(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Resolves the lines of a placed hold (checked shape) into lines and seats; false when a type,
 * seat or the count of seats does not fit, or a seat repeats or is not free in session slot. */
static bool read_lines(struct tix_stock_state *s, const json_t *lines, int slot,
                       struct tix_stock_hold *h)
{
    h->n_lines = (int)json_array_size(lines);
    h->lines = tix_xcalloc((size_t)h->n_lines, sizeof(h->lines[0]));
    for (int i = 0; i < h->n_lines; i++)
        h->n_seats +=
            (int)json_array_size(json_object_get(json_array_get(lines, (size_t)i), "seats"));
    h->seats = tix_xcalloc((size_t)(h->n_seats > 0 ? h->n_seats : 1), sizeof(h->seats[0]));
    int at = 0;
    for (int i = 0; i < h->n_lines; i++) {
        const json_t *l = json_array_get(lines, (size_t)i);
        struct tix_stock_line *x = &h->lines[i];
        x->type = tix_stock_find_type(s, tix_json_str(l, "ticket_type_id"));
        x->quantity = (int)tix_json_int(l, "quantity", 0);
        x->unit_price_minor = tix_json_int(l, "unit_price_minor", 0);
        x->fees_minor = tix_json_int(l, "fees_minor", 0);
        const json_t *seats = json_object_get(l, "seats");
        x->first_seat = at;
        x->n_seats = (int)json_array_size(seats);
        if (x->type < 0 || s->types[x->type].is_deleted)
            return false;
        bool is_reserved = s->types[x->type].kind == TIX_STOCK_RESERVED;
        if (is_reserved != (x->n_seats > 0) || (is_reserved && x->n_seats != x->quantity))
            return false;
        for (int k = 0; k < x->n_seats; k++) {
            int seat = tix_stock_find_seat(s, json_string_value(json_array_get(seats, (size_t)k)));
            if (seat < 0 || (s->sessions[slot].owner != NULL && s->sessions[slot].owner[seat] != 0))
                return false;
            h->seats[at++] = seat;
        }
        const json_t *ids = json_object_get(l, "session_ids");
        x->n_sessions = (int)json_array_size(ids);
        if (x->n_sessions > 0 && s->types[x->type].kind != TIX_STOCK_SEASON_PASS)
            return false;
        x->sessions = x->n_sessions > 0 ? tix_xcalloc((size_t)x->n_sessions, sizeof(int)) : NULL;
        for (int k = 0; k < x->n_sessions; k++)
            x->sessions[k] = session_slot(s, json_string_value(json_array_get(ids, (size_t)k)));
    }
    int32_t *sorted = tix_xcalloc((size_t)(h->n_seats > 0 ? h->n_seats : 1), sizeof(int32_t));
    memcpy(sorted, h->seats, (size_t)h->n_seats * sizeof(int32_t));
    qsort(sorted, (size_t)h->n_seats, sizeof(int32_t), cmp_int32_cb);
    bool is_distinct = true;
    for (int i = 1; i < h->n_seats; i++)
        is_distinct = is_distinct && sorted[i] != sorted[i - 1];
    free(sorted);
    return is_distinct;
}

static void hold_free(struct tix_stock_hold *h)
{
    for (int k = 0; k < h->n_lines; k++)
        free(h->lines[k].sessions);
    free(h->lines);
    free(h->seats);
}

static enum tix_rc apply_hold_placed(struct tix_stock_state *s, const json_t *d)
{
    const char *id = tix_json_str(d, "hold_id");
    int64_t expires = tix_stock_instant(d, "expires_at", -1);
    if (tix_stock_find_hold(s, id) >= 0 || tix_stock_find_order(s, id) >= 0)
        return TIX_EINVAL;
    int slot = session_slot(s, tix_json_str(d, "session_id"));
    struct tix_stock_hold h = {
        .session = slot, .expires_at = expires, .order = -1, .heap_pos = -1, .prev_active = -1};
    snprintf(h.id, sizeof(h.id), "%s", id);
    if (!read_lines(s, json_object_get(d, "lines"), slot, &h)) {
        hold_free(&h);
        return TIX_EINVAL;
    }
    h.buyer = buyer_slot(s, tix_json_str(d, "buyer_id"));
    h.next_active = s->buyers[h.buyer].first_active;
    grow((void **)&s->holds, &s->cap_holds, s->n_holds + 1, sizeof(s->holds[0]));
    int i = s->n_holds++;
    s->holds[i] = h;
    if (h.next_active >= 0)
        s->holds[h.next_active].prev_active = i;
    s->buyers[h.buyer].first_active = i;
    tix_stock_index_put(&s->hold_index, id, i, hold_key_cb, s);
    own_seats(s, i, i + 1);
    count_hold(s, i, 1, false);
    heap_push(s, 2 * i, expires);
    return TIX_OK;
}

/* The active hold named by member key of d, or -1. */
static int active_hold(const struct tix_stock_state *s, const json_t *d, const char *key)
{
    int h = tix_stock_find_hold(s, tix_json_str(d, key));
    return h >= 0 && s->holds[h].status == TIX_HOLD_ACTIVE ? h : -1;
}

static enum tix_rc apply_hold_extended(struct tix_stock_state *s, const json_t *d)
{
    int h = active_hold(s, d, "hold_id");
    if (h < 0)
        return TIX_EINVAL;
    s->holds[h].expires_at = tix_stock_instant(d, "expires_at", s->holds[h].expires_at);
    s->holds[h].extensions = (int)tix_json_int(d, "extensions", s->holds[h].extensions);
    s->deadlines[s->holds[h].heap_pos].at = s->holds[h].expires_at;
    heap_fix(s, s->holds[h].heap_pos);
    return TIX_OK;
}

/* Ends active hold h with status: its seats and units come back. */
static void end_hold(struct tix_stock_state *s, int h, enum tix_hold_status status)
{
    own_seats(s, h, 0);
    count_hold(s, h, -1, false);
    heap_remove(s, s->holds[h].heap_pos);
    unlink_active(s, h);
    s->holds[h].status = status;
}

static enum tix_rc apply_hold_released(struct tix_stock_state *s, const json_t *d)
{
    int h = active_hold(s, d, "hold_id");
    if (h < 0)
        return TIX_EINVAL;
    end_hold(s, h, TIX_HOLD_RELEASED);
    return TIX_OK;
}

static enum tix_rc apply_hold_expired(struct tix_stock_state *s, const json_t *d)
{
    const json_t *ids = json_object_get(d, "hold_ids");
    size_t n = json_array_size(ids);
    for (size_t i = 0; i < n; i++) /* all first, then none changes on a bad one */
        if (tix_stock_find_hold(s, json_string_value(json_array_get(ids, i))) < 0 ||
            s->holds[tix_stock_find_hold(s, json_string_value(json_array_get(ids, i)))].status !=
                TIX_HOLD_ACTIVE)
            return TIX_EINVAL;
    for (size_t i = 0; i < n; i++)
        end_hold(s, tix_stock_find_hold(s, json_string_value(json_array_get(ids, i))),
                 TIX_HOLD_EXPIRED);
    return TIX_OK;
}

/* ---- evolve: orders ------------------------------------------------------------------------- */

static enum tix_rc apply_order_placed(struct tix_stock_state *s, const json_t *d)
{
    const char *id = tix_json_str(d, "order_id");
    int h = active_hold(s, d, "hold_id");
    if (h < 0 || tix_stock_find_order(s, id) >= 0 || tix_stock_find_hold(s, id) >= 0)
        return TIX_EINVAL;
    const json_t *lines = json_object_get(d, "lines");
    if ((int)json_array_size(lines) != s->holds[h].n_lines)
        return TIX_EINVAL;
    grow((void **)&s->orders, &s->cap_orders, s->n_orders + 1, sizeof(s->orders[0]));
    int o = s->n_orders++;
    struct tix_stock_order *x = &s->orders[o];
    memset(x, 0, sizeof(*x));
    snprintf(x->id, sizeof(x->id), "%s", id);
    snprintf(x->number, sizeof(x->number), "%s", tix_json_str(d, "number"));
    snprintf(x->currency, sizeof(x->currency), "%s", tix_json_str(d, "currency"));
    x->buyer = s->holds[h].buyer;
    x->hold = h;
    x->status = TIX_ORDER_PENDING_PAYMENT;
    x->subtotal_minor = tix_json_int(d, "subtotal_minor", 0);
    x->fees_minor = tix_json_int(d, "fees_minor", 0);
    x->tax_minor = tix_json_int(d, "tax_minor", 0);
    x->total_minor = tix_json_int(d, "total_minor", 0);
    x->expires_at = tix_stock_instant(d, "expires_at", 0);
    x->heap_pos = -1;
    x->first_ticket = -1;
    for (int i = 0; i < s->holds[h].n_lines; i++)
        s->holds[h].lines[i].fees_minor =
            tix_json_int(json_array_get(lines, (size_t)i), "fees_minor", 0);
    tix_stock_index_put(&s->order_index, id, o, order_key_cb, s);
    heap_remove(s, s->holds[h].heap_pos);
    unlink_active(s, h);
    s->holds[h].status = TIX_HOLD_CONVERTED;
    s->holds[h].order = o;
    own_seats(s, h, -(o + 1));
    heap_push(s, 2 * o + 1, x->expires_at);
    return TIX_OK;
}

/* The order named by member order_id of d, or -1. */
static int order_of(const struct tix_stock_state *s, const json_t *d)
{
    return tix_stock_find_order(s, tix_json_str(d, "order_id"));
}

/* Ends pending order o with status: its seats and units come back. */
static void end_order(struct tix_stock_state *s, int o, enum tix_order_status status)
{
    own_seats(s, s->orders[o].hold, 0);
    count_hold(s, s->orders[o].hold, -1, false);
    heap_remove(s, s->orders[o].heap_pos);
    s->orders[o].status = status;
}

static enum tix_rc apply_order_cancelled(struct tix_stock_state *s, const json_t *d)
{
    int o = order_of(s, d);
    if (o < 0 || s->orders[o].status != TIX_ORDER_PENDING_PAYMENT)
        return TIX_EINVAL;
    end_order(s, o, TIX_ORDER_CANCELLED);
    return TIX_OK;
}

static enum tix_rc apply_order_expired(struct tix_stock_state *s, const json_t *d)
{
    const json_t *ids = json_object_get(d, "order_ids");
    size_t n = json_array_size(ids);
    for (size_t i = 0; i < n; i++) {
        int o = tix_stock_find_order(s, json_string_value(json_array_get(ids, i)));
        if (o < 0 || s->orders[o].status != TIX_ORDER_PENDING_PAYMENT)
            return TIX_EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        end_order(s, tix_stock_find_order(s, json_string_value(json_array_get(ids, i))),
                  TIX_ORDER_EXPIRED);
    return TIX_OK;
}

static void add_string(char ***v, int *n, const char *s)
{
    *v = tix_xrealloc(*v, (size_t)(*n + 1) * sizeof(**v));
    (*v)[(*n)++] = tix_xstrdup(s);
}

static enum tix_rc apply_payment_attached(struct tix_stock_state *s, const json_t *d)
{
    int o = order_of(s, d);
    if (o < 0)
        return TIX_EINVAL;
    free(s->orders[o].payment_intent_id);
    s->orders[o].payment_intent_id = tix_xstrdup(tix_json_str(d, "payment_intent_id"));
    return TIX_OK;
}

static enum tix_rc apply_payment_failed(struct tix_stock_state *s, const json_t *d)
{
    int o = order_of(s, d);
    if (o < 0)
        return TIX_EINVAL;
    struct tix_stock_order *x = &s->orders[o];
    add_string(&x->stripe_events, &x->n_stripe_events, tix_json_str(d, "stripe_event_id"));
    return TIX_OK;
}

/* The tickets of order.paid: as many as the order's seats and units, new ids, known types and
 * seats. Adds them (after checking all). */
static bool add_tickets(struct tix_stock_state *s, int o, const json_t *tickets)
{
    size_t n = json_array_size(tickets);
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(tickets, i);
        const char *seat = tix_json_str(t, "seat_id");
        const char *session = tix_json_str(t, "session_id");
        if (tix_stock_find_ticket(s, tix_json_str(t, "ticket_id")) >= 0 ||
            tix_stock_find_type(s, tix_json_str(t, "ticket_type_id")) < 0 ||
            (seat != NULL && tix_stock_find_seat(s, seat) < 0))
            return false;
        if (session != NULL)
            session_slot(s, session);
    }
    grow((void **)&s->tickets, &s->cap_tickets, s->n_tickets + (int)n, sizeof(s->tickets[0]));
    s->orders[o].first_ticket = s->n_tickets;
    s->orders[o].n_tickets = (int)n;
    int line = 0;
    int64_t left = s->holds[s->orders[o].hold].n_lines > 0
                       ? tix_stock_line_ticket_count(s, s->orders[o].hold, 0)
                       : 0;
    for (size_t i = 0; i < n; i++) {
        while (left == 0 && line + 1 < s->holds[s->orders[o].hold].n_lines)
            left = tix_stock_line_ticket_count(s, s->orders[o].hold, ++line);
        const json_t *t = json_array_get(tickets, i);
        const char *seat = tix_json_str(t, "seat_id");
        int k = s->n_tickets++;
        struct tix_stock_ticket *x = &s->tickets[k];
        memset(x, 0, sizeof(*x));
        snprintf(x->id, sizeof(x->id), "%s", tix_json_str(t, "ticket_id"));
        x->order = o;
        x->type = tix_stock_find_type(s, tix_json_str(t, "ticket_type_id"));
        x->session = tix_stock_find_session(s, tix_json_str(t, "session_id"));
        x->seat = seat != NULL ? tix_stock_find_seat(s, seat) : -1;
        x->holder = buyer_slot(s, tix_json_str(t, "holder_id"));
        x->line = line;
        left--;
        x->inside = -1;
        tix_stock_index_put(&s->ticket_index, x->id, k, ticket_key_cb, s);
    }
    return true;
}

/* True when every seat of hold h is free in its session (for a late payment). */
static bool seats_are_free(const struct tix_stock_state *s, int h)
{
    const struct tix_stock_hold *hd = &s->holds[h];
    const int32_t *o = s->sessions[hd->session].owner;
    for (int i = 0; o != NULL && i < hd->n_seats; i++)
        if (o[hd->seats[i]] != 0)
            return false;
    return true;
}

static enum tix_rc apply_order_paid(struct tix_stock_state *s, const json_t *d)
{
    int o = order_of(s, d);
    if (o < 0)
        return TIX_EINVAL;
    struct tix_stock_order *x = &s->orders[o];
    bool is_pending = x->status == TIX_ORDER_PENDING_PAYMENT;
    bool is_late = x->status == TIX_ORDER_EXPIRED || x->status == TIX_ORDER_CANCELLED;
    if ((!is_pending && !is_late) || (is_late && !seats_are_free(s, x->hold)))
        return TIX_EINVAL;
    if (!add_tickets(s, o, json_object_get(d, "tickets")))
        return TIX_EINVAL;
    x = &s->orders[o];
    if (is_pending) {
        count_hold(s, x->hold, -1, false);
        heap_remove(s, x->heap_pos);
    } else {
        own_seats(s, x->hold, -(o + 1));
    }
    count_hold(s, x->hold, 1, true);
    x->status = TIX_ORDER_PAID;
    const char *intent = tix_json_str(d, "payment_intent_id");
    const char *stripe = tix_json_str(d, "stripe_event_id");
    if (intent != NULL) {
        free(x->payment_intent_id);
        x->payment_intent_id = tix_xstrdup(intent);
    }
    if (stripe != NULL)
        add_string(&x->stripe_events, &x->n_stripe_events, stripe);
    return TIX_OK;
}

static enum tix_rc apply_refund_required(struct tix_stock_state *s, const json_t *d)
{
    int o = order_of(s, d);
    if (o < 0)
        return TIX_EINVAL;
    struct tix_stock_order *x = &s->orders[o];
    x->refunds_required++;
    if (x->status == TIX_ORDER_EXPIRED || x->status == TIX_ORDER_CANCELLED ||
        x->status == TIX_ORDER_REFUNDED)
        x->status = TIX_ORDER_REFUND_PENDING;
    const char *stripe = tix_json_str(d, "stripe_event_id");
    if (stripe != NULL)
        add_string(&x->stripe_events, &x->n_stripe_events, stripe);
    return TIX_OK;
}

/* Whether order o awaits a refund outcome (a refund or a failure). */
static bool awaits_refund(const struct tix_stock_order *x)
{
    return x->n_refunds + x->n_refund_failures < x->refunds_required;
}

static enum tix_rc apply_refunded(struct tix_stock_state *s, const json_t *d)
{
    int o = order_of(s, d);
    if (o < 0 || !awaits_refund(&s->orders[o]))
        return TIX_EINVAL;
    struct tix_stock_order *x = &s->orders[o];
    add_string(&x->refunds, &x->n_refunds, tix_json_str(d, "refund_id"));
    if (x->status == TIX_ORDER_REFUND_PENDING && !awaits_refund(x))
        x->status = TIX_ORDER_REFUNDED;
    else if (x->status == TIX_ORDER_PAID && tix_json_str(d, "request_id") != NULL)
        x->status = TIX_ORDER_PARTIALLY_REFUNDED;
    return TIX_OK;
}

static enum tix_rc apply_refund_failed(struct tix_stock_state *s, const json_t *d)
{
    int o = order_of(s, d);
    if (o < 0 || !awaits_refund(&s->orders[o]))
        return TIX_EINVAL;
    s->orders[o].n_refund_failures++;
    return TIX_OK;
}

/* The tickets named by d's ticket_ids into ks (n of them): live tickets of order o. */
static bool voided_tickets(const struct tix_stock_state *s, int o, const json_t *ids, int *ks)
{
    for (size_t i = 0; i < json_array_size(ids); i++) {
        int k = tix_stock_find_ticket(s, json_string_value(json_array_get(ids, i)));
        if (k < 0 || s->tickets[k].order != o || s->tickets[k].is_void)
            return false;
        ks[i] = k;
    }
    return true;
}

/* A refund granted: its tickets are void, their seats and units come back. */
static enum tix_rc apply_refund_granted(struct tix_stock_state *s, const json_t *d)
{
    int o = order_of(s, d);
    const json_t *ids = json_object_get(d, "ticket_ids");
    int n = (int)json_array_size(ids);
    if (o < 0 || (s->orders[o].status != TIX_ORDER_PAID &&
                  s->orders[o].status != TIX_ORDER_PARTIALLY_REFUNDED))
        return TIX_EINVAL;
    int *ks = tix_xcalloc((size_t)n, sizeof(int));
    if (!voided_tickets(s, o, ids, ks)) {
        free(ks);
        return TIX_EINVAL;
    }
    struct stock_take *takes = NULL;
    int nt = 0, cap = 0;
    tix_stock_void_takes(s, o, ks, n, &takes, &nt, &cap);
    for (int i = 0; i < nt; i++)
        count(s, &takes[i], -1, true);
    free(takes);
    for (int i = 0; i < n; i++) {
        struct tix_stock_ticket *t = &s->tickets[ks[i]];
        t->is_void = true;
        if (t->seat >= 0 && t->session >= 0 && s->sessions[t->session].owner != NULL &&
            s->sessions[t->session].owner[t->seat] == -(o + 1))
            s->sessions[t->session].owner[t->seat] = 0;
    }
    free(ks);
    struct tix_stock_order *x = &s->orders[o];
    int64_t amount = tix_json_int(d, "amount_minor", 0);
    x->n_void += n;
    x->refunded_minor += amount;
    add_string(&x->requests, &x->n_requests, tix_json_str(d, "request_id"));
    if (x->n_void == x->n_tickets)
        x->status = amount > 0 ? TIX_ORDER_REFUND_PENDING : TIX_ORDER_REFUNDED;
    else if (amount == 0)
        x->status = TIX_ORDER_PARTIALLY_REFUNDED;
    return TIX_OK;
}

/* A ticket handed to another holder under a new id (its old id no longer finds it). */
static enum tix_rc apply_ticket_transferred(struct tix_stock_state *s, const json_t *d)
{
    int k = tix_stock_find_ticket(s, tix_json_str(d, "ticket_id"));
    const char *id = tix_json_str(d, "new_ticket_id");
    if (k < 0 || s->tickets[k].is_void || tix_stock_find_ticket(s, id) >= 0)
        return TIX_EINVAL;
    int holder = buyer_slot(s, tix_json_str(d, "to_user_id"));
    struct tix_stock_ticket *t = &s->tickets[k];
    snprintf(t->id, sizeof(t->id), "%s", id);
    t->holder = holder;
    t->offer_id[0] = t->offer_to[0] = '\0';
    tix_stock_index_put(&s->ticket_index, t->id, k, ticket_key_cb, s);
    return TIX_OK;
}

/* A cancelled event's sale (or a called-off session's): its active holds released, its pending
 * orders cancelled (all checked before any changes). */
static enum tix_rc apply_sale_cancelled(struct tix_stock_state *s, const json_t *d)
{
    const json_t *holds = json_object_get(d, "hold_ids");
    const json_t *orders = json_object_get(d, "cancelled_order_ids");
    for (size_t i = 0; i < json_array_size(holds); i++) {
        int h = tix_stock_find_hold(s, json_string_value(json_array_get(holds, i)));
        if (h < 0 || s->holds[h].status != TIX_HOLD_ACTIVE)
            return TIX_EINVAL;
    }
    for (size_t i = 0; i < json_array_size(orders); i++) {
        int o = tix_stock_find_order(s, json_string_value(json_array_get(orders, i)));
        if (o < 0 || s->orders[o].status != TIX_ORDER_PENDING_PAYMENT)
            return TIX_EINVAL;
    }
    for (size_t i = 0; i < json_array_size(holds); i++)
        end_hold(s, tix_stock_find_hold(s, json_string_value(json_array_get(holds, i))),
                 TIX_HOLD_RELEASED);
    for (size_t i = 0; i < json_array_size(orders); i++)
        end_order(s, tix_stock_find_order(s, json_string_value(json_array_get(orders, i))),
                  TIX_ORDER_CANCELLED);
    return TIX_OK;
}

/* A pending offer replaces the ticket's previous one. */
static enum tix_rc apply_transfer_offered(struct tix_stock_state *s, const json_t *d)
{
    int k = tix_stock_find_ticket(s, tix_json_str(d, "ticket_id"));
    if (k < 0 || s->tickets[k].is_void)
        return TIX_EINVAL;
    struct tix_stock_ticket *t = &s->tickets[k];
    snprintf(t->offer_id, sizeof(t->offer_id), "%s", tix_json_str(d, "transfer_id"));
    snprintf(t->offer_to, sizeof(t->offer_to), "%s", tix_json_str(d, "to_email_index"));
    return TIX_OK;
}

static enum tix_rc apply_checked_in(struct tix_stock_state *s, const json_t *d)
{
    int t = tix_stock_find_ticket(s, tix_json_str(d, "ticket_id"));
    if (t < 0)
        return TIX_EINVAL;
    int slot = session_slot(s, tix_json_str(d, "session_id"));
    struct tix_stock_ticket *x = &s->tickets[t];
    x->inside = strcmp(tix_json_str(d, "direction"), "in") == 0 ? slot : -1;
    x->last_scan_at = tix_stock_instant(d, "at", 0);
    snprintf(x->last_device, sizeof(x->last_device), "%s", tix_json_str(d, "device_id"));
    return TIX_OK;
}

/* ---- evolve: the table ---------------------------------------------------------------------- */

#define EV_ID                                                                                      \
    {                                                                                              \
        "event_id", SK_UUID, true                                                                  \
    }

static const struct tix_field_spec configured_specs[] = {EV_ID, {"settings", SK_SETTINGS, true}};
static const struct tix_field_spec type_specs[] = {EV_ID, {"ticket_type", SK_TYPE, true}};
static const struct tix_field_spec type_id_specs[] = {EV_ID, {"ticket_type_id", SK_UUID, true}};
static const struct tix_field_spec pool_specs[] = {EV_ID, {"pool", SK_POOL, true}};
static const struct tix_field_spec seats_specs[] = {
    EV_ID, {"chart_version", SK_CHART_VERSION, true}, {"seats", SK_SEATS, true}};
static const struct tix_field_spec placed_specs[] = {
    EV_ID,
    {"hold_id", SK_UUID, true},
    {"buyer_id", SK_UUID, true},
    {"session_id", SK_UUID, true},
    {"lines", SK_PLACED_LINES, true},
    {"expires_at", SK_INSTANT, true},
};
static const struct tix_field_spec extended_specs[] = {EV_ID,
                                                       {"hold_id", SK_UUID, true},
                                                       {"expires_at", SK_INSTANT, true},
                                                       {"extensions", SK_EXTENSIONS, true}};
static const struct tix_field_spec released_specs[] = {
    EV_ID, {"hold_id", SK_UUID, true}, {"reason", SK_RELEASE_REASON, true}};
static const struct tix_field_spec expired_specs[] = {
    EV_ID, {"hold_ids", SK_HOLD_IDS, true}, {"at", SK_INSTANT, true}};
static const struct tix_field_spec order_placed_specs[] = {
    EV_ID,
    {"order_id", SK_UUID, true},
    {"number", SK_ORDER_NUMBER, true},
    {"hold_id", SK_UUID, true},
    {"buyer_id", SK_UUID, true},
    {"session_id", SK_UUID, true},
    {"currency", SK_CURRENCY, true},
    {"lines", SK_PLACED_LINES, true},
    {"subtotal_minor", SK_AMOUNT, true},
    {"fees_minor", SK_AMOUNT, true},
    {"tax_minor", SK_AMOUNT, true},
    {"total_minor", SK_AMOUNT, true},
    {"expires_at", SK_INSTANT, true},
};
static const struct tix_field_spec order_cancelled_specs[] = {
    EV_ID, {"order_id", SK_UUID, true}, {"reason", SK_REASON, false}};
static const struct tix_field_spec orders_expired_specs[] = {EV_ID,
                                                             {"order_ids", SK_HOLD_IDS, true}};
static const struct tix_field_spec attached_specs[] = {
    EV_ID, {"order_id", SK_UUID, true}, {"payment_intent_id", SK_EXTERNAL_ID, true}};
static const struct tix_field_spec failed_specs[] = {EV_ID,
                                                     {"order_id", SK_UUID, true},
                                                     {"stripe_event_id", SK_EXTERNAL_ID, true},
                                                     {"reason", SK_REASON, true}};
static const struct tix_field_spec paid_specs[] = {
    EV_ID,
    {"order_id", SK_UUID, true},
    {"payment_intent_id", SK_EXTERNAL_ID, false}, /* absent for a free order */
    {"stripe_event_id", SK_EXTERNAL_ID, false},
    {"paid_at", SK_INSTANT, true},
    {"tickets", SK_TICKETS, true},
};
static const struct tix_field_spec refund_required_specs[] = {
    EV_ID,
    {"order_id", SK_UUID, true},
    {"payment_intent_id", SK_EXTERNAL_ID, true},
    {"amount_minor", SK_AMOUNT, true},
    {"currency", SK_CURRENCY, true},
    {"reason", SK_REASON, true},
    {"stripe_event_id", SK_EXTERNAL_ID, false},
    {"request_id", SK_UUID, false},
};
static const struct tix_field_spec refunded_specs[] = {EV_ID,
                                                       {"order_id", SK_UUID, true},
                                                       {"refund_id", SK_EXTERNAL_ID, true},
                                                       {"request_id", SK_UUID, false}};
static const struct tix_field_spec refund_failed_specs[] = {EV_ID,
                                                            {"order_id", SK_UUID, true},
                                                            {"request_id", SK_UUID, false},
                                                            {"reason", SK_REASON, true}};
static const struct tix_field_spec refund_granted_specs[] = {
    EV_ID,
    {"order_id", SK_UUID, true},
    {"request_id", SK_UUID, true},
    {"ticket_ids", SK_HOLD_IDS, true},
    {"lines", SK_PLACED_LINES, true},
    {"amount_minor", SK_AMOUNT, true},
    {"currency", SK_CURRENCY, true},
    {"reason", SK_REASON, false},
    {"requested_by", SK_REQUESTER, true},
};
static const struct tix_field_spec transferred_specs[] = {
    EV_ID,
    {"ticket_id", SK_UUID, true},
    {"new_ticket_id", SK_UUID, true},
    {"from_user_id", SK_UUID, true},
    {"to_user_id", SK_UUID, true},
    {"at", SK_INSTANT, true},
};
static const struct tix_field_spec sale_cancelled_specs[] = {
    EV_ID,
    {"hold_ids", SK_HOLD_IDS, false},
    {"cancelled_order_ids", SK_HOLD_IDS, false},
    {"order_ids", SK_HOLD_IDS, false},
};
static const struct tix_field_spec session_cancelled_specs[] = {
    EV_ID,
    {"session_id", SK_UUID, true},
    {"hold_ids", SK_HOLD_IDS, false},
    {"cancelled_order_ids", SK_HOLD_IDS, false},
    {"order_ids", SK_HOLD_IDS, false},
};
static const struct tix_field_spec offered_specs[] = {
    EV_ID,
    {"ticket_id", SK_UUID, true},
    {"transfer_id", SK_UUID, true},
    {"from_user_id", SK_UUID, true},
    {"to_email_index", SK_HEX64, true},
    {"to_email_sealed", SK_SEALED, false},
    {"at", SK_INSTANT, true},
};
static const struct tix_field_spec checked_in_specs[] = {
    EV_ID,
    {"ticket_id", SK_UUID, true},
    {"session_id", SK_UUID, true},
    {"device_id", SK_TEXT_ID, true},
    {"at", SK_INSTANT, true},
    {"direction", SK_DIRECTION, true},
};

#define APPLIER(type, specs, fn)                                                                   \
    {                                                                                              \
        type, specs, N_SPECS(specs), fn                                                            \
    }

static const struct {
    const char *type;
    const struct tix_field_spec *specs;
    size_t n;
    enum tix_rc (*apply)(struct tix_stock_state *s, const json_t *data);
} appliers[] = {
    APPLIER("stock.configured", configured_specs, apply_configured),
    APPLIER("ticket_type.created", type_specs, apply_type_created),
    APPLIER("ticket_type.updated", type_specs, apply_type_updated),
    APPLIER("ticket_type.deleted", type_id_specs, apply_type_deleted),
    APPLIER("pool.defined", pool_specs, apply_pool_defined),
    APPLIER("stock.seats_loaded", seats_specs, apply_seats_loaded),
    APPLIER("hold.placed", placed_specs, apply_hold_placed),
    APPLIER("hold.extended", extended_specs, apply_hold_extended),
    APPLIER("hold.released", released_specs, apply_hold_released),
    APPLIER("hold.expired", expired_specs, apply_hold_expired),
    APPLIER("order.placed", order_placed_specs, apply_order_placed),
    APPLIER("order.cancelled", order_cancelled_specs, apply_order_cancelled),
    APPLIER("order.expired", orders_expired_specs, apply_order_expired),
    APPLIER("order.payment_attached", attached_specs, apply_payment_attached),
    APPLIER("order.payment_failed", failed_specs, apply_payment_failed),
    APPLIER("order.paid", paid_specs, apply_order_paid),
    APPLIER("order.refund_required", refund_required_specs, apply_refund_required),
    APPLIER("order.refunded", refunded_specs, apply_refunded),
    APPLIER("order.refund_failed", refund_failed_specs, apply_refund_failed),
    APPLIER("order.refund_granted", refund_granted_specs, apply_refund_granted),
    APPLIER("ticket.transferred", transferred_specs, apply_ticket_transferred),
    APPLIER("ticket.transfer_offered", offered_specs, apply_transfer_offered),
    APPLIER("stock.sale_cancelled", sale_cancelled_specs, apply_sale_cancelled),
    APPLIER("stock.session_cancelled", session_cancelled_specs, apply_sale_cancelled),
    APPLIER("ticket.checked_in", checked_in_specs, apply_checked_in),
};

static enum tix_rc stock_evolve(void *p, const char *type, int schema_version, const json_t *data)
{
    struct tix_stock_state *s = p;
    for (size_t i = 0; i < sizeof(appliers) / sizeof(appliers[0]); i++) {
        if (strcmp(type, appliers[i].type) != 0)
            continue;
        if (schema_version != 1 ||
            tix_stock_check_object(data, "", appliers[i].specs, appliers[i].n, NULL) != TIX_OK)
            return TIX_EINVAL;
        const char *id = tix_json_str(data, "event_id");
        if (s->event_id[0] != '\0' && strcmp(id, s->event_id) != 0)
            return TIX_EINVAL;
        enum tix_rc rc = appliers[i].apply(s, data);
        if (rc == TIX_OK && s->event_id[0] == '\0')
            snprintf(s->event_id, sizeof(s->event_id), "%s", id);
        return rc;
    }
    return TIX_OK; /* unknown: forward compatible */
}

const struct tix_stream_kind tix_stock_stream_kind = {
    .prefix = TIX_STOCK_STREAM_PREFIX,
    .create = stock_create,
    .destroy = stock_destroy,
    .evolve = stock_evolve,
};
