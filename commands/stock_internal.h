/* stock_internal.h - what the stock files share: indexes, payload specs, the decision context,
 * takes (what a line consumes) and lapsed holds and orders
 *
 * Not a public interface: only commands/stock*.c include it. Everything is pure and works on
 * states and JSON the caller owns.
 */
#ifndef TIX_COMMANDS_STOCK_INTERNAL_H
#define TIX_COMMANDS_STOCK_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tix/aggregate.h"

#include "event.h"
#include "payload.h"
#include "stock.h"

#define N_SPECS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- indexes (stock_state.c) ---------------------------------------------------------------- */

/* The key of element i of ctx (a state's array or a JSON array). */
typedef const char *(*tix_stock_key_fn)(const void *ctx, int32_t i);

/* The element whose key is key, or -1. */
int32_t tix_stock_index_get(const struct tix_stock_index *x, const char *key, tix_stock_key_fn fn,
                            const void *ctx);
/* Adds element i under key (not present yet). */
void tix_stock_index_put(struct tix_stock_index *x, const char *key, int32_t i, tix_stock_key_fn fn,
                         const void *ctx);
void tix_stock_index_free(struct tix_stock_index *x);

/* ---- payload specs (stock_check.c) ---------------------------------------------------------- */

enum stock_kind {
    SK_UUID,
    SK_UUID_OR_NULL,
    SK_NAME,
    SK_TYPE_KIND,
    SK_PRICE,
    SK_CURRENCY,
    SK_QUANTITY_OR_NULL,
    SK_SESSION_IDS_OR_NULL,
    SK_INSTANT,
    SK_INSTANT_OR_NULL,
    SK_PER_ORDER,
    SK_BOOL,
    SK_TEXT_IDS_OR_NULL, /* sections */
    SK_CATEGORIES_OR_NULL,
    SK_TIERS_OR_NULL,
    SK_COMPONENTS_OR_NULL,
    SK_GROUP_SIZE_OR_NULL,
    SK_MINUTES,
    SK_EXTENSIONS,
    SK_BP,
    SK_CAPACITY,
    SK_CHART_VERSION,
    SK_SEATS,
    SK_LINES,
    SK_SEAT_IDS,
    SK_LINE_QUANTITY,
    SK_COMPONENT_QUANTITY,
    SK_COUNT,
    SK_TEXT_ID,
    SK_LABEL,
    SK_CATEGORY,
    SK_CATEGORY_OR_NULL,
    SK_TEXT_ID_OR_NULL,
    SK_EXTERNAL_ID,
    SK_HEX64,
    SK_SEALED, /* a lib/pii ciphertext ("v1:" and base64url) */
    SK_OUTCOME,
    SK_DIRECTION,
    SK_REASON,
    SK_HOLD_IDS,
    SK_SETTINGS,
    SK_TYPE,
    SK_POOL,
    SK_TICKETS,
    SK_RELEASE_REASON,
    SK_PLACED_LINES, /* lines of hold.placed and order.placed */
    SK_SEAT_LIST,    /* 0..100 distinct seat ids */
    SK_ORDER_NUMBER,
    SK_AMOUNT,    /* any integer amount >= 0 */
    SK_REQUESTER, /* who asked for a refund: organizer or buyer */
};

/* Checks obj against specs of enum stock_kind (tix_payload_check_object): an object, required
 * fields present, each of its kind, no unknown keys; fields are named path + "." + name ("" at
 * the top). TIX_EINVAL with err otherwise. */
enum tix_rc tix_stock_check_object(const json_t *obj, const char *path,
                                   const struct tix_field_spec *specs, size_t n,
                                   struct tix_err *err);
/* The same for one value of kind named path. */
enum tix_rc tix_stock_check_value(enum stock_kind kind, const json_t *v, const char *path,
                                  struct tix_err *err);
/* The whole-type specs (ticket_type.created/updated's ticket_type, without event_id), and the
 * rules between a type's fields; TIX_EINVAL naming the field (prefixed with path). */
extern const struct tix_field_spec tix_stock_type_specs[];
extern const size_t tix_stock_n_type_specs;
enum tix_rc tix_stock_check_type_rules(const json_t *type, const char *path, struct tix_err *err);
extern const struct tix_field_spec tix_stock_settings_specs[];
extern const size_t tix_stock_n_settings_specs;

/* Parses a checked instant member; def when absent or null. */
int64_t tix_stock_instant(const json_t *obj, const char *key, int64_t def);

/* ---- the decision context (stock_catalog.c) ------------------------------------------------- */

struct stock_ctx {
    const struct tix_command *cmd;
    const struct tix_event_state *ev; /* exists and is not deleted */
    const struct tix_stock_state *s;
    struct tix_actor actor;
    int64_t now; /* Unix seconds */
    char stream[TIX_STREAM_ID_MAX];
};

/* Loads the two states of cmd: rejects forbidden (no valid actor), not_found or deleted. */
bool tix_stock_load(const struct tix_command *cmd, const struct tix_view *view, struct stock_ctx *c,
                    struct tix_decision *out);
/* Emits an event of type on the stock stream, adding event_id to data (stolen). */
void tix_stock_emit(const struct stock_ctx *c, struct tix_decision *out, const char *type,
                    json_t *data);
/* True when the actor is exactly "system:<name>" (or "system:<alt>" when alt is not NULL);
 * rejects forbidden otherwise. */
bool tix_stock_require_system(const struct stock_ctx *c, const char *name, const char *alt,
                              struct tix_decision *out);
/* True when the actor is a user (a buyer); rejects forbidden otherwise. */
bool tix_stock_require_user(const struct stock_ctx *c, struct tix_decision *out);
/* A new JSON string of the instant at Unix seconds t. */
json_t *tix_stock_instant_json(int64_t t);

/* The event session of id, or -1. */
int tix_stock_event_session(const struct tix_event_state *ev, const char *id);
/* True when the event called off its session id (event.session_cancelled). */
bool tix_stock_is_called_off(const struct tix_event_state *ev, const char *id);
/* The places a session admits: its own capacity or the event's. */
int64_t tix_stock_session_capacity(const struct tix_event_state *ev, int i);
/* True when type t is sold in event session id (its session_ids or every session). */
bool tix_stock_type_covers(const struct tix_stock_type *t, const char *session_id);

/* ---- types (stock_state.c) ------------------------------------------------------------------ */

/* Reads a checked type document into t (fresh), resolving its pool and components against s;
 * false (t freed) when one is unknown or deleted. t takes a reference to doc; free it with
 * tix_stock_type_free. */
bool tix_stock_type_read(const struct tix_stock_state *s, const json_t *doc,
                         struct tix_stock_type *t);
/* Frees what t owns (not t itself). */
void tix_stock_type_free(struct tix_stock_type *t);

/* ---- takes (stock_state.c); lapses, availability, prices (stock_take.c) -------------- */

/* What one line consumes in one session: units of a type (held/sold counters and the type's
 * quantity) and places (the session's capacity and the type's pool). */
struct stock_take {
    int session; /* stock session slot, -1 when the session has no slot yet */
    const char *session_id;
    int type;
    int64_t units;
    int64_t places;
    int line;
};

/* Appends the takes of a line to *takes (grown as needed): a bundle takes its own units and
 * quantity x component units of each component; a season pass takes in every session of
 * sessions (n > 0) or else in session; group units take group_size places each. */
void tix_stock_line_takes(const struct tix_stock_state *s, int type, int64_t quantity,
                          const char *const *session_ids, int n_sessions, int line,
                          struct stock_take **takes, int *n, int *cap);
/* The tickets line `line` of hold h turns into: one per seat, else per unit (a bundle's unit
 * gives one per component unit). */
int64_t tix_stock_line_ticket_count(const struct tix_stock_state *s, int h, int line);
/* What voiding tickets (indexes, all of order o; a bundle line's only all together) gives back:
 * per line of the order's hold, the units of its voided tickets. */
void tix_stock_void_takes(const struct tix_stock_state *s, int o, const int *tickets, int n,
                          struct stock_take **takes, int *nt, int *cap);
/* The takes of every line of hold h. */
void tix_stock_hold_takes(const struct tix_stock_state *s, int h, struct stock_take **takes, int *n,
                          int *cap);

/* Active holds and pending orders whose deadline has passed (not yet expired by an event). */
struct stock_lapse {
    int n_holds, n_orders, cap_holds, cap_orders;
    int32_t *holds;
    int32_t *orders;
    int n_takes, cap_takes;
    struct stock_take *takes; /* everything they take */
};

void tix_stock_lapse_collect(const struct tix_stock_state *s, int64_t now, struct stock_lapse *l);
void tix_stock_lapse_free(struct stock_lapse *l);
/* Emits hold.expired and order.expired for l (nothing when empty). */
void tix_stock_lapse_emit(const struct stock_ctx *c, const struct stock_lapse *l,
                          struct tix_decision *out);
/* True when a seat with this owner may be taken at now (free, or its holder lapsed). */
bool tix_stock_owner_is_free(const struct tix_stock_state *s, int32_t owner, int64_t now);
/* True when hold h is active and its deadline is after now. */
bool tix_stock_hold_is_live(const struct tix_stock_state *s, int h, int64_t now);

/* Checks that takes (sorted here) fit: per session, every type's quantity, every pool's
 * capacity and the session's places, counting what is held and sold, less what l releases.
 * Rejects insufficient_stock naming what ran out (field lines[i].quantity) and returns false. */
bool tix_stock_check_takes(const struct stock_ctx *c, const struct stock_lapse *l,
                           struct stock_take *takes, int n, struct tix_decision *out);

/* True when seat suits reserved type t: its section and category are among those t sells. */
bool tix_stock_seat_suits(const struct tix_stock_type *t, const struct tix_stock_seat *seat);

/* The unit price of type t in session slot (for count steps) at now. */
int64_t tix_stock_unit_price(const struct tix_stock_state *s, int t, int slot, int64_t now);

/* ---- handlers of each file ------------------------------------------------------------------ */

void tix_stock_decide_configure(const struct tix_command *cmd, const struct tix_view *view,
                                struct tix_decision *out);
void tix_stock_decide_type_create(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out);
void tix_stock_decide_type_update(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out);
void tix_stock_decide_type_delete(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out);
void tix_stock_decide_pool_define(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out);
void tix_stock_decide_load_seats(const struct tix_command *cmd, const struct tix_view *view,
                                 struct tix_decision *out);
void tix_stock_decide_hold_place(const struct tix_command *cmd, const struct tix_view *view,
                                 struct tix_decision *out);
void tix_stock_decide_hold_release(const struct tix_command *cmd, const struct tix_view *view,
                                   struct tix_decision *out);
void tix_stock_decide_hold_extend(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out);
void tix_stock_decide_hold_expire(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out);
void tix_stock_decide_order_place(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out);
void tix_stock_decide_order_cancel(const struct tix_command *cmd, const struct tix_view *view,
                                   struct tix_decision *out);
void tix_stock_decide_attach_payment(const struct tix_command *cmd, const struct tix_view *view,
                                     struct tix_decision *out);
void tix_stock_decide_payment_apply(const struct tix_command *cmd, const struct tix_view *view,
                                    struct tix_decision *out);
void tix_stock_decide_mark_refunded(const struct tix_command *cmd, const struct tix_view *view,
                                    struct tix_decision *out);
void tix_stock_decide_order_refund(const struct tix_command *cmd, const struct tix_view *view,
                                   struct tix_decision *out);
void tix_stock_decide_mark_refund_failed(const struct tix_command *cmd, const struct tix_view *view,
                                         struct tix_decision *out);
void tix_stock_decide_cancel_sale(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out);
void tix_stock_decide_cancel_session(const struct tix_command *cmd, const struct tix_view *view,
                                     struct tix_decision *out);
void tix_stock_decide_offer_transfer(const struct tix_command *cmd, const struct tix_view *view,
                                     struct tix_decision *out);
void tix_stock_decide_claim_transfer(const struct tix_command *cmd, const struct tix_view *view,
                                     struct tix_decision *out);
/* Decides cmd with the handler of its type, then follows the event's lifecycle in the same
 * decision (stock_room.c): event.sold_out {automatic: true} on the event stream when the decision
 * took the event's last place while on sale, event.sales_reopened {automatic: true} when it gave
 * places back to an event the stock itself sold out. */
void tix_stock_decide_with_room(const struct tix_command *cmd, const struct tix_view *view,
                                struct tix_decision *out);
/* Emits order.paid for order_id (hold h, of buyer) with one ticket per seat or unit, ids from
 * seed_hex (64 hex characters); intent and stripe may be NULL (a free order). Returns the
 * number of tickets. */
int tix_stock_emit_paid(const struct stock_ctx *c, const char *order_id, int h, const char *buyer,
                        const char *seed_hex, const char *intent, const char *stripe,
                        struct tix_decision *out);
void tix_stock_decide_check_in(const struct tix_command *cmd, const struct tix_view *view,
                               struct tix_decision *out);

#endif
