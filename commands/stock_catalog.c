/* stock_catalog.c - the decision context, and what organizers set up: settings, ticket types,
 * pools, and the chart's seats
 *
 * Rules in order: forbidden (no valid actor; stock.load_seats only from system:catalog or the
 * process manager), not_found / deleted (the event), not_editable (a completed or cancelled
 * event), then the command's own. A command that changes nothing succeeds with no events.
 * Ticket types keep what is sold sound: kind never changes; pool, sessions, group size,
 * components and currency are locked while units are held or sold (in_use); a quantity or a pool
 * capacity never drops below what a session has taken (below_taken); a type is deleted only
 * while none is held or sold and no bundle uses it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"
#include "tix/mem.h"

#include "stock_internal.h"

/* ---- the context ---------------------------------------------------------------------------- */

bool tix_stock_load(const struct tix_command *cmd, const struct tix_view *view, struct stock_ctx *c,
                    struct tix_decision *out)
{
    memset(c, 0, sizeof(*c));
    c->cmd = cmd;
    c->actor = tix_payload_parse_actor(cmd->actor);
    c->now = cmd->now_us / 1000000;
    char ev_id[TIX_STREAM_ID_MAX];
    snprintf(ev_id, sizeof(ev_id), "%s%s", TIX_EVENT_STREAM_PREFIX, cmd->key);
    snprintf(c->stream, sizeof(c->stream), "%s%s", TIX_STOCK_STREAM_PREFIX, cmd->key);
    c->ev = tix_view_state(view, ev_id, NULL);
    c->s = tix_view_state(view, c->stream, NULL);
    if (!c->actor.is_valid) {
        tix_decision_reject(out, "forbidden", NULL, "the actor may not sell tickets");
        return false;
    }
    if (c->ev == NULL || c->s == NULL || !c->ev->exists) {
        tix_decision_reject(out, "not_found", "event_id", "no event %s", cmd->key);
        return false;
    }
    if (c->ev->is_deleted) {
        tix_decision_reject(out, "deleted", "event_id", "event %s was deleted", cmd->key);
        return false;
    }
    return true;
}

void tix_stock_emit(const struct stock_ctx *c, struct tix_decision *out, const char *type,
                    json_t *data)
{
    json_object_set_new(data, "event_id", json_string(c->cmd->key));
    tix_decision_emit(out, c->stream, type, data);
}

bool tix_stock_require_system(const struct stock_ctx *c, const char *name, const char *alt,
                              struct tix_decision *out)
{
    const char *a = c->cmd->actor;
    bool is_ok = c->actor.is_system &&
                 (strcmp(a + 7, name) == 0 || (alt != NULL && strcmp(a + 7, alt) == 0));
    if (!is_ok)
        tix_decision_reject(out, "forbidden", NULL, "only system:%s may do this", name);
    return is_ok;
}

bool tix_stock_require_user(const struct stock_ctx *c, struct tix_decision *out)
{
    if (c->actor.is_system)
        tix_decision_reject(out, "forbidden", NULL, "only a buyer may do this");
    return !c->actor.is_system;
}

json_t *tix_stock_instant_json(int64_t t)
{
    char s[TIX_EVENT_INSTANT_LEN + 1];
    tix_event_format_instant(t, s);
    return json_string(s);
}

int tix_stock_event_session(const struct tix_event_state *ev, const char *id)
{
    for (int i = 0; id != NULL && i < ev->n_sessions; i++)
        if (strcmp(ev->sessions[i].id, id) == 0)
            return i;
    return -1;
}

bool tix_stock_is_called_off(const struct tix_event_state *ev, const char *id)
{
    int i = tix_stock_event_session(ev, id);
    return i >= 0 && ev->sessions[i].is_cancelled;
}

int64_t tix_stock_session_capacity(const struct tix_event_state *ev, int i)
{
    return i >= 0 && ev->sessions[i].capacity > 0 ? ev->sessions[i].capacity : ev->capacity;
}

bool tix_stock_type_covers(const struct tix_stock_type *t, const char *session_id)
{
    for (int i = 0; i < t->n_sessions; i++)
        if (strcmp(t->session_ids[i], session_id) == 0)
            return true;
    return t->n_sessions == 0;
}

/* The event can still change its sale (not completed or cancelled); rejects not_editable. */
static bool load_editable(const struct tix_command *cmd, const struct tix_view *view,
                          struct stock_ctx *c, struct tix_decision *out)
{
    if (!tix_stock_load(cmd, view, c, out))
        return false;
    if (c->ev->status == TIX_EVENT_COMPLETED || c->ev->status == TIX_EVENT_CANCELLED) {
        tix_decision_reject(out, "not_editable", NULL, "the event is %s",
                            tix_event_status_name(c->ev->status));
        return false;
    }
    return true;
}

/* ---- stock.configure ------------------------------------------------------------------------ */

static json_t *settings_json(const struct tix_stock_settings *x)
{
    return json_pack("{s:i, s:i, s:i, s:I, s:i, s:i, s:b}", "hold_minutes", x->hold_minutes,
                     "max_extensions", x->max_extensions, "extension_minutes", x->extension_minutes,
                     "fee_fixed_minor", (json_int_t)x->fee_fixed_minor, "fee_percent_bp",
                     x->fee_percent_bp, "tax_percent_bp", x->tax_percent_bp, "no_single_seat_gap",
                     x->no_single_seat_gap);
}

void tix_stock_decide_configure(const struct tix_command *cmd, const struct tix_view *view,
                                struct tix_decision *out)
{
    struct stock_ctx c;
    if (!load_editable(cmd, view, &c, out))
        return;
    json_t *before = settings_json(&c.s->settings);
    json_t *after = json_deep_copy(before);
    json_object_update_existing(after, (json_t *)cmd->payload);
    if (!json_equal(before, after))
        tix_stock_emit(&c, out, "stock.configured", json_pack("{s:O}", "settings", after));
    json_decref(before);
    json_decref(after);
}

/* ---- ticket types --------------------------------------------------------------------------- */

/* Every optional field of a type with its default. */
static json_t *type_defaults(void)
{
    return json_pack("{s:n, s:n, s:n, s:n, s:n, s:i, s:i, s:b, s:n, s:n, s:n, s:n, s:n, s:b}",
                     "quantity", "pool_id", "session_ids", "sales_start", "sales_end",
                     "min_per_order", 1, "max_per_order", 10, "hidden", 0, "sections", "categories",
                     "tiers", "components", "group_size", "allows_reentry", 0);
}

/* Sets every field of fields (but event_id) on doc; a null takes the field's default. */
static void put_fields(json_t *doc, const json_t *fields)
{
    json_t *defaults = type_defaults();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)fields, key, v)
    {
        if (strcmp(key, "event_id") == 0)
            continue;
        json_t *def = json_object_get(defaults, key);
        json_object_set(doc, key, json_is_null(v) && def != NULL ? def : v);
    }
    json_decref(defaults);
}

/* Which component kinds a bundle may hold: units of a type sold per session. */
static bool is_component_kind(enum tix_stock_kind k)
{
    return k == TIX_STOCK_GENERAL_ADMISSION || k == TIX_STOCK_VIP || k == TIX_STOCK_EARLY_BIRD ||
           k == TIX_STOCK_GROUP;
}

static bool check_components(const struct stock_ctx *c, const json_t *doc, struct tix_decision *out)
{
    const json_t *parts = json_object_get(doc, "components");
    for (size_t i = 0; i < json_array_size(parts); i++) {
        const char *id = tix_json_str(json_array_get(parts, i), "ticket_type_id");
        int t = tix_stock_find_type(c->s, id);
        if (t < 0 || c->s->types[t].is_deleted || !is_component_kind(c->s->types[t].kind)) {
            char field[TIX_FIELD_PATH_MAX];
            snprintf(field, sizeof(field), "components[%zu].ticket_type_id", i);
            tix_decision_reject(out, "invalid_component", field,
                                "a bundle holds existing general admission, vip, early bird or "
                                "group types");
            return false;
        }
    }
    return true;
}

/* The references of a type document: pool, sessions, components, one currency per event. */
static bool check_refs(const struct stock_ctx *c, const json_t *doc, struct tix_decision *out)
{
    const char *pool = tix_json_str(doc, "pool_id");
    if (pool != NULL && tix_stock_find_pool(c->s, pool) < 0) {
        tix_decision_reject(out, "pool_not_found", "pool_id", "no pool %s", pool);
        return false;
    }
    const json_t *ids = json_object_get(doc, "session_ids");
    for (size_t i = 0; i < json_array_size(ids); i++) {
        if (tix_stock_event_session(c->ev, json_string_value(json_array_get(ids, i))) < 0) {
            char field[TIX_FIELD_PATH_MAX];
            snprintf(field, sizeof(field), "session_ids[%zu]", i);
            tix_decision_reject(out, "session_not_found", field, "the event has no such session");
            return false;
        }
    }
    const char *id = tix_json_str(doc, "ticket_type_id"), *cur = tix_json_str(doc, "currency");
    for (int t = 0; t < c->s->n_types; t++) {
        const struct tix_stock_type *x = &c->s->types[t];
        if (!x->is_deleted && strcmp(x->id, id) != 0 && strcmp(x->currency, cur) != 0) {
            tix_decision_reject(out, "currency_mismatch", "currency", "the event sells in %s",
                                x->currency);
            return false;
        }
    }
    return check_components(c, doc, out);
}

void tix_stock_decide_type_create(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out)
{
    struct stock_ctx c;
    if (!load_editable(cmd, view, &c, out))
        return;
    const char *id = tix_json_str(cmd->payload, "ticket_type_id");
    if (tix_stock_find_type(c.s, id) >= 0) {
        tix_decision_reject(out, "already_exists", "ticket_type_id", "ticket type %s exists", id);
        return;
    }
    if (c.s->n_types >= TIX_STOCK_TYPES_MAX) {
        tix_decision_reject(out, "too_many", "ticket_type_id", "an event has at most %d types",
                            TIX_STOCK_TYPES_MAX);
        return;
    }
    json_t *doc = type_defaults();
    put_fields(doc, cmd->payload);
    if (check_refs(&c, doc, out)) {
        tix_stock_emit(&c, out, "ticket_type.created", json_pack("{s:O}", "ticket_type", doc));
        tix_decision_set_result(out, json_pack("{s:s}", "ticket_type_id", id));
    }
    json_decref(doc);
}

/* The live type of the command's ticket_type_id; -1 after rejecting not_found. */
static int live_type(const struct stock_ctx *c, struct tix_decision *out)
{
    const char *id = tix_json_str(c->cmd->payload, "ticket_type_id");
    int t = tix_stock_find_type(c->s, id);
    if (t < 0 || c->s->types[t].is_deleted) {
        tix_decision_reject(out, "not_found", "ticket_type_id", "no ticket type %s", id);
        return -1;
    }
    return t;
}

/* The most a session has taken of type t (or of pool p when t < 0). */
static int64_t most_taken(const struct tix_stock_state *s, int t, int p)
{
    int64_t most = 0;
    for (int i = 0; i < s->n_sessions; i++) {
        const struct tix_stock_session *x = &s->sessions[i];
        int64_t n = t >= 0 ? x->type_held[t] + x->type_sold[t] : x->pool_held[p] + x->pool_sold[p];
        most = n > most ? n : most;
    }
    return most;
}

/* What may not change while units of a type are held or sold. */
static bool check_locked(const struct stock_ctx *c, int t, const json_t *doc,
                         struct tix_decision *out)
{
    static const char *const locked[] = {"pool_id",  "session_ids", "group_size", "components",
                                         "currency", "sections",    "categories"};
    const json_t *old = c->s->types[t].doc;
    for (size_t i = 0; c->s->types[t].taken > 0 && i < N_SPECS(locked); i++) {
        if (!json_equal(json_object_get(old, locked[i]), json_object_get(doc, locked[i]))) {
            tix_decision_reject(out, "in_use", locked[i],
                                "%s cannot change while tickets are held or sold", locked[i]);
            return false;
        }
    }
    int64_t quantity = tix_json_int(doc, "quantity", -1), most = most_taken(c->s, t, -1);
    if (quantity >= 0 && quantity < most) {
        tix_decision_reject(out, "below_taken", "quantity", "a session holds or sold %lld",
                            (long long)most);
        return false;
    }
    return true;
}

void tix_stock_decide_type_update(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out)
{
    struct stock_ctx c;
    int t = load_editable(cmd, view, &c, out) ? live_type(&c, out) : -1;
    if (t < 0)
        return;
    json_t *doc = json_deep_copy(c.s->types[t].doc);
    put_fields(doc, cmd->payload);
    struct tix_err err;
    if (!json_equal(json_object_get(doc, "kind"), json_object_get(c.s->types[t].doc, "kind")))
        tix_decision_reject(out, "locked", "kind", "a ticket type keeps its kind");
    else if (tix_stock_check_type_rules(doc, "", &err) != TIX_OK)
        tix_decision_reject(out, "invalid", err.field, "%s", err.msg);
    else if (!json_equal(doc, c.s->types[t].doc) && check_locked(&c, t, doc, out) &&
             check_refs(&c, doc, out))
        tix_stock_emit(&c, out, "ticket_type.updated", json_pack("{s:O}", "ticket_type", doc));
    json_decref(doc);
}

void tix_stock_decide_type_delete(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out)
{
    struct stock_ctx c;
    int t = load_editable(cmd, view, &c, out) ? live_type(&c, out) : -1;
    if (t < 0)
        return;
    if (c.s->types[t].taken > 0) {
        tix_decision_reject(out, "in_use", "ticket_type_id",
                            "tickets of this type are held or sold");
        return;
    }
    for (int b = 0; b < c.s->n_types; b++) {
        const struct tix_stock_type *x = &c.s->types[b];
        for (int k = 0; !x->is_deleted && k < x->n_components; k++) {
            if (x->components[k].type == t) {
                tix_decision_reject(out, "in_use", "ticket_type_id", "bundle %s holds this type",
                                    x->id);
                return;
            }
        }
    }
    tix_stock_emit(&c, out, "ticket_type.deleted",
                   json_pack("{s:s}", "ticket_type_id", c.s->types[t].id));
}

/* ---- pools ---------------------------------------------------------------------------------- */

void tix_stock_decide_pool_define(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out)
{
    struct stock_ctx c;
    if (!load_editable(cmd, view, &c, out))
        return;
    const json_t *p = cmd->payload;
    int i = tix_stock_find_pool(c.s, tix_json_str(p, "pool_id"));
    int64_t capacity = tix_json_int(p, "capacity", 0);
    if (i < 0 && c.s->n_pools >= TIX_STOCK_POOLS_MAX) {
        tix_decision_reject(out, "too_many", "pool_id", "an event has at most %d pools",
                            TIX_STOCK_POOLS_MAX);
        return;
    }
    if (i >= 0 && capacity == c.s->pools[i].capacity &&
        strcmp(c.s->pools[i].name, tix_json_str(p, "name")) == 0)
        return;
    int64_t most = i >= 0 ? most_taken(c.s, -1, i) : 0;
    if (capacity < most) {
        tix_decision_reject(out, "below_taken", "capacity", "a session holds or sold %lld places",
                            (long long)most);
        return;
    }
    json_t *pool = json_pack("{s:s, s:s, s:I}", "pool_id", tix_json_str(p, "pool_id"), "name",
                             tix_json_str(p, "name"), "capacity", (json_int_t)capacity);
    tix_stock_emit(&c, out, "pool.defined", json_pack("{s:o}", "pool", pool));
}

/* ---- seats ---------------------------------------------------------------------------------- */

void tix_stock_decide_load_seats(const struct tix_command *cmd, const struct tix_view *view,
                                 struct tix_decision *out)
{
    struct stock_ctx c;
    if (!tix_stock_load(cmd, view, &c, out) ||
        !tix_stock_require_system(&c, "catalog", "process-manager", out))
        return;
    int64_t version = tix_json_int(cmd->payload, "chart_version", 0);
    if (version == c.s->chart_version)
        return;
    if (version != c.ev->chart_version) {
        tix_decision_reject(out, "chart_mismatch", "chart_version",
                            "the event is bound to chart version %lld",
                            (long long)c.ev->chart_version);
        return;
    }
    for (int t = 0; t < c.s->n_types; t++) {
        if (c.s->types[t].kind == TIX_STOCK_RESERVED && c.s->types[t].taken > 0) {
            tix_decision_reject(out, "in_use", "chart_version", "seats are held or sold");
            return;
        }
    }
    tix_stock_emit(&c, out, "stock.seats_loaded",
                   json_pack("{s:I, s:o}", "chart_version", (json_int_t)version, "seats",
                             json_deep_copy(json_object_get(cmd->payload, "seats"))));
}
