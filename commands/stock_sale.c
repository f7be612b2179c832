/* stock_sale.c - buyers' holds and orders, and the clock's expiry
 *
 * hold.place checks, in this order: forbidden (a user actor), not_found/deleted (the event), the
 * hold id (the buyer's own: returned again; else already_exists), not_on_sale, the event's
 * sales window, session_not_found / session_started, each line's type (ticket_type_not_found,
 * invalid_line, the type's window), the buyer's seats again (idempotent), below_min / above_max
 * over the buyer's other live holds, seat_unavailable, insufficient_stock, single_seat_gap.
 * Lapsed holds and orders are expired in the same decision (hold.expired / order.expired before
 * hold.placed). Buyers touch only their own holds and orders: anyone else's is not_found.
 *
 * Prices: a hold fixes each line's unit price (the first open tier, else the type's price); an
 * order adds per ticket fee_fixed_minor + round(unit price x fee_percent_bp / 10000) and a tax
 * of round((subtotal + fees) x tax_percent_bp / 10000), rounding halves up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"
#include "tix/mem.h"

#include "stock_internal.h"

/* ---- the request of hold.place -------------------------------------------------------------- */

struct req_line {
    int type;
    int64_t quantity;
    int n_seats;
    int32_t seats[TIX_STOCK_PER_ORDER_MAX];
};

struct request {
    int session;     /* event session index */
    int slot;        /* stock session slot or -1 */
    const char *sid; /* the session id */
    int n_lines;
    struct req_line lines[TIX_STOCK_LINES_MAX];
    int n_seats; /* every seat of the request, sorted */
    int32_t seats[TIX_STOCK_LINES_MAX * TIX_STOCK_PER_ORDER_MAX];
};

static void reject_line(struct tix_decision *out, const char *code, int i, const char *member,
                        const char *fmt_reason)
{
    char field[TIX_FIELD_PATH_MAX];
    snprintf(field, sizeof(field), "lines[%d].%s", i, member);
    tix_decision_reject(out, code, field, "%s", fmt_reason);
}

/* The event sells now: on sale, inside its sales window. */
static bool sale_open(const struct stock_ctx *c, struct tix_decision *out)
{
    const struct tix_event_state *ev = c->ev;
    if (ev->status != TIX_EVENT_ON_SALE) {
        tix_decision_reject(out, "not_on_sale", NULL, "the event is %s",
                            tix_event_status_name(ev->status));
        return false;
    }
    if (ev->has_sales_start && c->now < ev->sales_start) {
        tix_decision_reject(out, "sales_not_started", NULL, "sales have not started");
        return false;
    }
    if (ev->has_sales_end && c->now >= ev->sales_end) {
        tix_decision_reject(out, "sales_ended", NULL, "sales have ended");
        return false;
    }
    return true;
}

static bool pick_session(const struct stock_ctx *c, struct request *r, struct tix_decision *out)
{
    r->sid = tix_json_str(c->cmd->payload, "session_id");
    r->session = tix_stock_event_session(c->ev, r->sid);
    r->slot = tix_stock_find_session(c->s, r->sid);
    if (r->session < 0) {
        tix_decision_reject(out, "session_not_found", "session_id", "no session %s", r->sid);
        return false;
    }
    if (c->ev->sessions[r->session].is_cancelled) {
        tix_decision_reject(out, "session_cancelled", "session_id", "the session was called off");
        return false;
    }
    if (c->ev->sessions[r->session].starts_at <= c->now) {
        tix_decision_reject(out, "session_started", "session_id", "the session has started");
        return false;
    }
    return true;
}

/* Type t can be held in session sid now (for line i); rejects otherwise. */
static bool type_on_sale(const struct stock_ctx *c, int t, const char *sid, int i,
                         struct tix_decision *out)
{
    const struct tix_stock_type *x = t >= 0 ? &c->s->types[t] : NULL;
    bool is_visible = x != NULL && !x->is_deleted && tix_stock_type_covers(x, sid);
    for (int k = 0; is_visible && k < x->n_components; k++)
        is_visible = tix_stock_type_covers(&c->s->types[x->components[k].type], sid);
    if (!is_visible) {
        reject_line(out, "ticket_type_not_found", i, "ticket_type_id",
                    "no such ticket type in this session");
        return false;
    }
    if (x->sales_start >= 0 && c->now < x->sales_start) {
        reject_line(out, "sales_not_started", i, "ticket_type_id", "this type is not on sale yet");
        return false;
    }
    if (x->sales_end >= 0 && c->now >= x->sales_end) {
        reject_line(out, "sales_ended", i, "ticket_type_id", "this type is no longer on sale");
        return false;
    }
    return true;
}

bool tix_stock_seat_suits(const struct tix_stock_type *t, const struct tix_stock_seat *seat)
{
    bool is_section = t->n_sections == 0, is_category = t->n_categories == 0;
    for (int i = 0; i < t->n_sections; i++)
        is_section = is_section || strcmp(t->sections[i], seat->section) == 0;
    for (int i = 0; i < t->n_categories; i++)
        is_category = is_category ||
                      (seat->category != NULL && strcmp(t->categories[i], seat->category) == 0);
    return is_section && is_category;
}

static bool read_seats(const struct stock_ctx *c, const json_t *seats, int i, struct req_line *l,
                       struct tix_decision *out)
{
    l->n_seats = (int)json_array_size(seats);
    l->quantity = l->n_seats;
    for (int k = 0; k < l->n_seats; k++) {
        const char *id = json_string_value(json_array_get(seats, (size_t)k));
        int seat = tix_stock_find_seat(c->s, id);
        char field[TIX_FIELD_PATH_MAX];
        snprintf(field, sizeof(field), "lines[%d].seats[%d]", i, k);
        if (seat < 0 || !tix_stock_seat_suits(&c->s->types[l->type], &c->s->seats[seat])) {
            tix_decision_reject(out, "seat_unavailable", field, "seat %s is not sold by this type",
                                id);
            return false;
        }
        l->seats[k] = seat;
    }
    return true;
}

static int cmp_int32_cb(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static bool read_lines(const struct stock_ctx *c, struct request *r, struct tix_decision *out)
{
    const json_t *lines = json_object_get(c->cmd->payload, "lines");
    r->n_lines = (int)json_array_size(lines);
    for (int i = 0; i < r->n_lines; i++) {
        const json_t *l = json_array_get(lines, (size_t)i);
        struct req_line *x = &r->lines[i];
        x->type = tix_stock_find_type(c->s, tix_json_str(l, "ticket_type_id"));
        if (!type_on_sale(c, x->type, r->sid, i, out))
            return false;
        const json_t *seats = json_object_get(l, "seats");
        bool is_reserved = c->s->types[x->type].kind == TIX_STOCK_RESERVED;
        if (is_reserved != (seats != NULL)) {
            reject_line(out, "invalid_line", i, "seats",
                        is_reserved ? "reserved seating is held by seats"
                                    : "this type is held by quantity, without seats");
            return false;
        }
        x->quantity = tix_json_int(l, "quantity", 0);
        if (is_reserved && !read_seats(c, seats, i, x, out))
            return false;
        memcpy(&r->seats[r->n_seats], x->seats, (size_t)x->n_seats * sizeof(int32_t));
        r->n_seats += x->n_seats;
    }
    qsort(r->seats, (size_t)r->n_seats, sizeof(int32_t), cmp_int32_cb);
    for (int k = 1; k < r->n_seats; k++) {
        if (r->seats[k] == r->seats[k - 1]) {
            tix_decision_reject(out, "seat_unavailable", "lines", "seat %s is asked for twice",
                                c->s->seats[r->seats[k]].id);
            return false;
        }
    }
    return true;
}

static bool is_requested(const struct request *r, int32_t seat)
{
    return bsearch(&seat, r->seats, (size_t)r->n_seats, sizeof(int32_t), cmp_int32_cb) != NULL;
}

static int32_t owner_of(const struct stock_ctx *c, const struct request *r, int32_t seat)
{
    return r->slot >= 0 && c->s->sessions[r->slot].owner != NULL
               ? c->s->sessions[r->slot].owner[seat]
               : 0;
}

/* The buyer's live hold that holds every requested seat (the request is only seats), or -1. */
static int same_seats_hold(const struct stock_ctx *c, const struct request *r, int buyer)
{
    if (buyer < 0 || r->n_seats == 0)
        return -1;
    for (int i = 0; i < r->n_lines; i++)
        if (r->lines[i].n_seats == 0)
            return -1;
    int32_t first = owner_of(c, r, r->seats[0]);
    for (int k = 0; k < r->n_seats; k++)
        if (owner_of(c, r, r->seats[k]) != first)
            return -1;
    int h = first - 1;
    return first > 0 && c->s->holds[h].buyer == buyer && tix_stock_hold_is_live(c->s, h, c->now)
               ? h
               : -1;
}

static bool seats_free(const struct stock_ctx *c, const struct request *r, struct tix_decision *out)
{
    for (int i = 0; i < r->n_lines; i++) {
        for (int k = 0; k < r->lines[i].n_seats; k++) {
            int32_t seat = r->lines[i].seats[k];
            if (tix_stock_owner_is_free(c->s, owner_of(c, r, seat), c->now))
                continue;
            char field[TIX_FIELD_PATH_MAX];
            snprintf(field, sizeof(field), "lines[%d].seats[%d]", i, k);
            tix_decision_reject(out, "seat_unavailable", field, "seat %s is taken",
                                c->s->seats[seat].id);
            return false;
        }
    }
    return true;
}

/* Units of type t in the buyer's live holds. */
static int64_t buyer_units(const struct stock_ctx *c, int buyer, int t)
{
    int64_t sum = 0;
    for (int h = buyer >= 0 ? c->s->buyers[buyer].first_active : -1; h >= 0;
         h = c->s->holds[h].next_active) {
        if (!tix_stock_hold_is_live(c->s, h, c->now))
            continue;
        for (int i = 0; i < c->s->holds[h].n_lines; i++)
            if (c->s->holds[h].lines[i].type == t)
                sum += c->s->holds[h].lines[i].quantity;
    }
    return sum;
}

/* Tickets a line turns into: seats or units, a bundle's units times its components' units. */
static int64_t line_tickets(const struct tix_stock_type *types, int t, int64_t quantity)
{
    const struct tix_stock_type *x = &types[t];
    int64_t per = x->n_components > 0 ? 0 : 1;
    for (int k = 0; k < x->n_components; k++)
        per += x->components[k].quantity;
    return quantity * per;
}

static bool within_limits(const struct stock_ctx *c, const struct request *r, int buyer,
                          struct tix_decision *out)
{
    int64_t tickets = 0;
    for (int i = 0; i < r->n_lines; i++) {
        const struct req_line *l = &r->lines[i];
        const struct tix_stock_type *t = &c->s->types[l->type];
        int64_t total = l->quantity + buyer_units(c, buyer, l->type);
        const char *member = l->n_seats > 0 ? "seats" : "quantity";
        char reason[128];
        snprintf(reason, sizeof(reason), "%lld with your other holds; this type sells %d..%d",
                 (long long)total, t->min_per_order, t->max_per_order);
        if (total > t->max_per_order) {
            reject_line(out, "above_max", i, member, reason);
            return false;
        }
        if (total < t->min_per_order) {
            reject_line(out, "below_min", i, member, reason);
            return false;
        }
        tickets += line_tickets(c->s->types, l->type, l->quantity);
    }
    if (tickets > TIX_STOCK_TICKETS_MAX) {
        tix_decision_reject(out, "above_max", "lines", "a hold turns into at most %d tickets",
                            TIX_STOCK_TICKETS_MAX);
        return false;
    }
    return true;
}

/* The sessions a line takes stock in: every session a season pass covers that has not ended
 * and is not called off, else the hold's own. */
static int line_sessions(const struct stock_ctx *c, const struct request *r, int t,
                         const char **ids)
{
    const struct tix_stock_type *x = &c->s->types[t];
    if (x->kind != TIX_STOCK_SEASON_PASS) {
        ids[0] = r->sid;
        return 1;
    }
    int n = 0;
    for (int i = 0; i < c->ev->n_sessions; i++)
        if ((i == r->session ||
             (c->ev->sessions[i].ends_at > c->now && !c->ev->sessions[i].is_cancelled)) &&
            tix_stock_type_covers(x, c->ev->sessions[i].id))
            ids[n++] = c->ev->sessions[i].id;
    return n;
}

static bool stock_fits(const struct stock_ctx *c, const struct request *r,
                       const struct stock_lapse *l, struct tix_decision *out)
{
    struct stock_take *takes = NULL;
    int n = 0, cap = 0;
    const char *ids[TIX_EVENT_SESSIONS_MAX];
    for (int i = 0; i < r->n_lines; i++) {
        int m = line_sessions(c, r, r->lines[i].type, ids);
        tix_stock_line_takes(c->s, r->lines[i].type, r->lines[i].quantity, ids, m, i, &takes, &n,
                             &cap);
    }
    bool is_ok = tix_stock_check_takes(c, l, takes, n, out);
    free(takes);
    return is_ok;
}

/* Taken once the request holds its seats: requested, or owned by someone live. */
static bool is_taken_after(const struct stock_ctx *c, const struct request *r, int32_t seat)
{
    return is_requested(r, seat) || !tix_stock_owner_is_free(c->s, owner_of(c, r, seat), c->now);
}

/* No seat of a touched row is left free between two taken seats. */
static bool leaves_no_gap(const struct stock_ctx *c, const struct request *r,
                          struct tix_decision *out)
{
    if (!c->s->settings.no_single_seat_gap)
        return true;
    for (int k = 0; k < r->n_seats; k++) {
        const struct tix_stock_seat *seat = &c->s->seats[r->seats[k]];
        for (int d = -1; d <= 1; d += 2) {
            int32_t f = r->seats[k] + d, beyond = r->seats[k] + 2 * d;
            if (f < seat->row_first || f > seat->row_last || beyond < seat->row_first ||
                beyond > seat->row_last)
                continue;
            if (!is_taken_after(c, r, f) && is_taken_after(c, r, beyond)) {
                tix_decision_reject(out, "single_seat_gap", "lines",
                                    "seat %s would be left alone between taken seats",
                                    c->s->seats[f].id);
                return false;
            }
        }
    }
    return true;
}

static json_t *seat_ids_json(const struct tix_stock_state *s, const int32_t *seats, int n)
{
    json_t *a = json_array();
    for (int k = 0; k < n; k++)
        json_array_append_new(a, json_string(s->seats[seats[k]].id));
    return a;
}

static json_t *placed_lines(const struct stock_ctx *c, const struct request *r)
{
    json_t *lines = json_array();
    const char *ids[TIX_EVENT_SESSIONS_MAX];
    for (int i = 0; i < r->n_lines; i++) {
        const struct req_line *l = &r->lines[i];
        const struct tix_stock_type *t = &c->s->types[l->type];
        json_t *o = json_pack("{s:s, s:I, s:o, s:I}", "ticket_type_id", t->id, "quantity",
                              (json_int_t)l->quantity, "seats",
                              seat_ids_json(c->s, l->seats, l->n_seats), "unit_price_minor",
                              (json_int_t)tix_stock_unit_price(c->s, l->type, r->slot, c->now));
        if (t->kind == TIX_STOCK_SEASON_PASS) {
            int m = line_sessions(c, r, l->type, ids);
            json_t *a = json_array();
            for (int k = 0; k < m; k++)
                json_array_append_new(a, json_string(ids[k]));
            json_object_set_new(o, "session_ids", a);
        }
        json_array_append_new(lines, o);
    }
    return lines;
}

static void emit_placed(const struct stock_ctx *c, const struct request *r,
                        const struct stock_lapse *l, struct tix_decision *out)
{
    const char *hold_id = tix_json_str(c->cmd->payload, "hold_id");
    int64_t expires = c->now + (int64_t)c->s->settings.hold_minutes * 60;
    tix_stock_lapse_emit(c, l, out);
    tix_stock_emit(c, out, "hold.placed",
                   json_pack("{s:s, s:s, s:s, s:o, s:o}", "hold_id", hold_id, "buyer_id",
                             c->actor.user_id, "session_id", r->sid, "lines", placed_lines(c, r),
                             "expires_at", tix_stock_instant_json(expires)));
    tix_decision_set_result(out, json_pack("{s:s, s:o}", "hold_id", hold_id, "expires_at",
                                           tix_stock_instant_json(expires)));
}

static void hold_result(const struct stock_ctx *c, int h, struct tix_decision *out)
{
    tix_decision_set_result(out, json_pack("{s:s, s:o}", "hold_id", c->s->holds[h].id, "expires_at",
                                           tix_stock_instant_json(c->s->holds[h].expires_at)));
}

/* The hold id is new, or the buyer's own (answered again); false when decided here. */
static bool is_new_hold(const struct stock_ctx *c, int buyer, struct tix_decision *out)
{
    const char *id = tix_json_str(c->cmd->payload, "hold_id");
    int h = tix_stock_find_hold(c->s, id);
    if (h < 0 && tix_stock_find_order(c->s, id) < 0)
        return true;
    if (h >= 0 && c->s->holds[h].buyer == buyer)
        hold_result(c, h, out);
    else
        tix_decision_reject(out, "already_exists", "hold_id", "hold %s exists", id);
    return false;
}

void tix_stock_decide_hold_place(const struct tix_command *cmd, const struct tix_view *view,
                                 struct tix_decision *out)
{
    struct stock_ctx c;
    if (!tix_stock_load(cmd, view, &c, out) || !tix_stock_require_user(&c, out))
        return;
    int buyer = tix_stock_find_buyer(c.s, c.actor.user_id);
    struct request *r = tix_xcalloc(1, sizeof(*r));
    if (is_new_hold(&c, buyer, out) && sale_open(&c, out) && pick_session(&c, r, out) &&
        read_lines(&c, r, out)) {
        int h = same_seats_hold(&c, r, buyer);
        struct stock_lapse l;
        tix_stock_lapse_collect(c.s, c.now, &l);
        if (h >= 0)
            hold_result(&c, h, out);
        else if (within_limits(&c, r, buyer, out) && seats_free(&c, r, out) &&
                 stock_fits(&c, r, &l, out) && leaves_no_gap(&c, r, out))
            emit_placed(&c, r, &l, out);
        tix_stock_lapse_free(&l);
    }
    free(r);
}

/* ---- release, extend, expire ---------------------------------------------------------------- */

/* The actor's own hold named by the payload's hold_id; -1 after rejecting not_found. */
static int own_hold(const struct stock_ctx *c, struct tix_decision *out)
{
    const char *id = tix_json_str(c->cmd->payload, "hold_id");
    int h = tix_stock_find_hold(c->s, id);
    if (h < 0 || strcmp(c->s->buyers[c->s->holds[h].buyer].id, c->actor.user_id) != 0) {
        tix_decision_reject(out, "not_found", "hold_id", "no hold %s of yours", id);
        return -1;
    }
    return h;
}

void tix_stock_decide_hold_release(const struct tix_command *cmd, const struct tix_view *view,
                                   struct tix_decision *out)
{
    struct stock_ctx c;
    if (!tix_stock_load(cmd, view, &c, out) || !tix_stock_require_user(&c, out))
        return;
    int h = own_hold(&c, out);
    if (h < 0 || c.s->holds[h].status != TIX_HOLD_ACTIVE)
        return; /* released, expired or ordered already: nothing to give back */
    const char *reason = tix_json_str(cmd->payload, "reason");
    tix_stock_emit(&c, out, "hold.released",
                   json_pack("{s:s, s:s}", "hold_id", c.s->holds[h].id, "reason",
                             reason != NULL ? reason : "buyer"));
}

void tix_stock_decide_hold_extend(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out)
{
    struct stock_ctx c;
    if (!tix_stock_load(cmd, view, &c, out) || !tix_stock_require_user(&c, out))
        return;
    int h = own_hold(&c, out);
    if (h < 0)
        return;
    const struct tix_stock_hold *hd = &c.s->holds[h];
    if (hd->status != TIX_HOLD_ACTIVE) {
        tix_decision_reject(out, "not_active", "hold_id", "the hold is %s",
                            tix_hold_status_name(hd->status));
        return;
    }
    if (hd->expires_at <= c.now) {
        tix_decision_reject(out, "hold_expired", "hold_id", "the hold has lapsed");
        return;
    }
    if (hd->extensions >= c.s->settings.max_extensions) {
        tix_decision_reject(out, "max_extensions", "hold_id", "a hold is extended at most %d times",
                            c.s->settings.max_extensions);
        return;
    }
    int64_t expires = hd->expires_at + (int64_t)c.s->settings.extension_minutes * 60;
    tix_stock_emit(&c, out, "hold.extended",
                   json_pack("{s:s, s:o, s:i}", "hold_id", hd->id, "expires_at",
                             tix_stock_instant_json(expires), "extensions", hd->extensions + 1));
    hold_result(&c, h, out);
    json_object_set_new(out->result, "expires_at", tix_stock_instant_json(expires));
}

/* Keeps in l only the holds the payload names (and no orders). */
static void keep_named(const struct stock_ctx *c, const json_t *ids, struct stock_lapse *l)
{
    int n = 0;
    for (int i = 0; i < l->n_holds; i++) {
        bool is_named = false;
        for (size_t k = 0; k < json_array_size(ids) && !is_named; k++)
            is_named =
                strcmp(json_string_value(json_array_get(ids, k)), c->s->holds[l->holds[i]].id) == 0;
        if (is_named)
            l->holds[n++] = l->holds[i];
    }
    l->n_holds = n;
    l->n_orders = 0;
}

void tix_stock_decide_hold_expire(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out)
{
    struct stock_ctx c;
    if (!tix_stock_load(cmd, view, &c, out) || !tix_stock_require_system(&c, "clock", NULL, out))
        return;
    struct stock_lapse l;
    tix_stock_lapse_collect(c.s, c.now, &l);
    const json_t *ids = json_object_get(cmd->payload, "hold_ids");
    if (ids != NULL)
        keep_named(&c, ids, &l);
    tix_stock_lapse_emit(&c, &l, out);
    tix_decision_set_result(
        out, json_pack("{s:i, s:i}", "expired_holds", l.n_holds, "expired_orders", l.n_orders));
    tix_stock_lapse_free(&l);
}

/* ---- orders --------------------------------------------------------------------------------- */

static int64_t percent_of(int64_t amount, int bp)
{
    return (amount * bp + 5000) / 10000;
}

struct pricing {
    int64_t subtotal, fees, tax, total;
    json_t *lines;
};

/* Prices hold h's lines at its unit prices with the event's fees and tax. */
static void price_hold(const struct stock_ctx *c, int h, struct pricing *p)
{
    const struct tix_stock_hold *hd = &c->s->holds[h];
    const struct tix_stock_settings *x = &c->s->settings;
    memset(p, 0, sizeof(*p));
    p->lines = json_array();
    for (int i = 0; i < hd->n_lines; i++) {
        const struct tix_stock_line *l = &hd->lines[i];
        int64_t fee = x->fee_fixed_minor + percent_of(l->unit_price_minor, x->fee_percent_bp);
        p->subtotal += l->quantity * l->unit_price_minor;
        p->fees += l->quantity * fee;
        json_t *o = json_pack("{s:s, s:i, s:o, s:I, s:I}", "ticket_type_id",
                              c->s->types[l->type].id, "quantity", l->quantity, "seats",
                              seat_ids_json(c->s, &hd->seats[l->first_seat], l->n_seats),
                              "unit_price_minor", (json_int_t)l->unit_price_minor, "fees_minor",
                              (json_int_t)(l->quantity * fee));
        if (l->n_sessions > 0) {
            json_t *a = json_array();
            for (int k = 0; k < l->n_sessions; k++)
                json_array_append_new(a, json_string(c->s->sessions[l->sessions[k]].id));
            json_object_set_new(o, "session_ids", a);
        }
        json_array_append_new(p->lines, o);
    }
    p->tax = percent_of(p->subtotal + p->fees, x->tax_percent_bp);
    p->total = p->subtotal + p->fees + p->tax;
}

static void order_result(const struct tix_stock_order *o, struct tix_decision *out)
{
    tix_decision_set_result(out, json_pack("{s:s, s:s, s:I, s:s, s:o}", "order_id", o->id, "number",
                                           o->number, "total_minor", (json_int_t)o->total_minor,
                                           "currency", o->currency, "expires_at",
                                           tix_stock_instant_json(o->expires_at)));
}

/* The order id is new, or the buyer's own from the same hold (answered again). */
static bool is_new_order(const struct stock_ctx *c, int h, struct tix_decision *out)
{
    const char *id = tix_json_str(c->cmd->payload, "order_id");
    int o = tix_stock_find_order(c->s, id);
    if (o < 0 && tix_stock_find_hold(c->s, id) < 0)
        return true;
    if (o >= 0 && c->s->orders[o].hold == h)
        order_result(&c->s->orders[o], out);
    else
        tix_decision_reject(out, "already_exists", "order_id", "order %s exists", id);
    return false;
}

/* Hold h may become an order now. */
static bool is_orderable(const struct stock_ctx *c, int h, struct tix_decision *out)
{
    const struct tix_stock_hold *hd = &c->s->holds[h];
    if (c->ev->status != TIX_EVENT_ON_SALE && c->ev->status != TIX_EVENT_SOLD_OUT) {
        tix_decision_reject(out, "not_on_sale", NULL, "the event is %s",
                            tix_event_status_name(c->ev->status));
        return false;
    }
    if (hd->status != TIX_HOLD_ACTIVE) {
        tix_decision_reject(out, "hold_not_active", "hold_id", "the hold is %s",
                            tix_hold_status_name(hd->status));
        return false;
    }
    if (hd->expires_at <= c->now) {
        tix_decision_reject(out, "hold_expired", "hold_id", "the hold has lapsed");
        return false;
    }
    if (tix_stock_is_called_off(c->ev, c->s->sessions[hd->session].id)) {
        tix_decision_reject(out, "session_cancelled", "hold_id", "the session was called off");
        return false;
    }
    return true;
}

void tix_stock_decide_order_place(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out)
{
    struct stock_ctx c;
    if (!tix_stock_load(cmd, view, &c, out) || !tix_stock_require_user(&c, out))
        return;
    int h = own_hold(&c, out);
    if (h < 0 || !is_new_order(&c, h, out) || !is_orderable(&c, h, out))
        return;
    const struct tix_stock_hold *hd = &c.s->holds[h];
    struct pricing p;
    price_hold(&c, h, &p);
    const char *seed = tix_json_str(cmd->payload, "ticket_seed");
    if (p.total == 0 && seed == NULL) {
        json_decref(p.lines);
        tix_decision_reject(out, "invalid", "ticket_seed", "a free order needs a ticket_seed");
        return;
    }
    struct tix_stock_order o = {.total_minor = p.total, .expires_at = hd->expires_at};
    snprintf(o.id, sizeof(o.id), "%s", tix_json_str(cmd->payload, "order_id"));
    tix_stock_order_number(cmd->key, c.s->n_orders + 1, o.number);
    snprintf(o.currency, sizeof(o.currency), "%s", c.s->types[hd->lines[0].type].currency);
    json_t *data = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:o}", "order_id", o.id, "number",
        o.number, "hold_id", hd->id, "buyer_id", c.actor.user_id, "session_id",
        c.s->sessions[hd->session].id, "currency", o.currency, "lines", p.lines, "subtotal_minor",
        (json_int_t)p.subtotal, "fees_minor", (json_int_t)p.fees, "tax_minor", (json_int_t)p.tax,
        "total_minor", (json_int_t)p.total, "expires_at", tix_stock_instant_json(hd->expires_at));
    tix_stock_emit(&c, out, "order.placed", data);
    order_result(&o, out);
    if (p.total == 0) { /* free: paid at once, no payment to wait for */
        int n = tix_stock_emit_paid(&c, o.id, h, c.actor.user_id, seed, NULL, NULL, out);
        json_object_set_new(out->result, "status", json_string("paid"));
        json_object_set_new(out->result, "tickets", json_integer(n));
    }
}

/* Who may cancel: the order's buyer, or system:payments when the order's payment cannot be set
 * up (its PaymentIntent was refused or Stripe stayed unavailable); -1 after rejecting. */
static int cancellable_order(const struct stock_ctx *c, struct tix_decision *out)
{
    if (c->actor.is_system && !tix_stock_require_system(c, "payments", NULL, out))
        return -1;
    const char *id = tix_json_str(c->cmd->payload, "order_id");
    int o = tix_stock_find_order(c->s, id);
    if (o < 0 ||
        (!c->actor.is_system && strcmp(c->s->buyers[c->s->orders[o].buyer].id, c->actor.user_id))) {
        tix_decision_reject(out, "not_found", "order_id", "no order %s of yours", id);
        return -1;
    }
    return o;
}

void tix_stock_decide_order_cancel(const struct tix_command *cmd, const struct tix_view *view,
                                   struct tix_decision *out)
{
    struct stock_ctx c;
    if (!tix_stock_load(cmd, view, &c, out))
        return;
    int o = cancellable_order(&c, out);
    if (o < 0)
        return;
    enum tix_order_status st = c.s->orders[o].status;
    if (st == TIX_ORDER_PAID) {
        tix_decision_reject(out, "already_paid", "order_id",
                            "a paid order is refunded, not cancelled");
        return;
    }
    if (st == TIX_ORDER_REFUND_PENDING || st == TIX_ORDER_REFUNDED) {
        tix_decision_reject(out, "not_cancellable", "order_id", "the order is %s",
                            tix_order_status_name(st));
        return;
    }
    if (st != TIX_ORDER_PENDING_PAYMENT)
        return;
    json_t *data = json_pack("{s:s}", "order_id", c.s->orders[o].id);
    const char *reason = tix_json_str(cmd->payload, "reason");
    if (reason != NULL)
        json_object_set_new(data, "reason", json_string(reason));
    tix_stock_emit(&c, out, "order.cancelled", data);
}
