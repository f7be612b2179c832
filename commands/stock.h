/* stock.h - the sale of one event: ticket types, pools, seats, holds, orders, payments, tickets
 *
 * Stream: "stock-<event_id>" (docs/sale.md is the contract: commands, payloads, events). Every
 * command is keyed by the event id, carries it as "event_id", and reads two streams:
 * "event-<id>" (status, sessions, sales window, capacity; never written here) and "stock-<id>".
 * Everything here is pure: no I/O, no clocks but cmd->now_us.
 *
 * Files: stock_state.c (the state, its indexes, takes and evolve), stock_take.c (lapsed holds,
 * availability, prices), stock_check.c (payload shapes, the handler table), stock_catalog.c
 * (configure, ticket types, pools, seats), stock_sale.c (holds, orders, expiry), stock_pay.c
 * (payments, tickets, check-in); stock_internal.h holds what they share.
 *
 * Performance: the state is cached by the processor and evolved one event at a time, so every
 * event costs O(its own size): seats, holds, orders, tickets and buyers are found through
 * open-addressing hash indexes, counters (held/sold per session per type and pool, places per
 * session) are kept up to date, and active holds and pending orders sit in a binary heap by
 * deadline so a decision finds the lapsed ones in O(lapsed). Deciding a hold costs O(its lines,
 * seats and the rows of its seats), never O(seats of the event).
 *
 * Invariants kept by decide (and checked by the unit tests after random sequences): per session,
 * held + sold <= quantity of each ticket type, <= capacity of each pool, places <= the session's
 * capacity; a seat belongs to at most one active hold or live order per session; a paid order has
 * exactly one ticket per seat or unit. Holds and orders are never forgotten (ids stay taken).
 */
#ifndef TIX_COMMANDS_STOCK_H
#define TIX_COMMANDS_STOCK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "tix/aggregate.h"

#define TIX_STOCK_STREAM_PREFIX    "stock-"
#define TIX_STOCK_TYPES_MAX        200
#define TIX_STOCK_POOLS_MAX        100
#define TIX_STOCK_SEATS_MAX        200000
#define TIX_STOCK_LINES_MAX        10
#define TIX_STOCK_PER_ORDER_MAX    100 /* max_per_order at most */
#define TIX_STOCK_TICKETS_MAX      500 /* tickets one hold may turn into */
#define TIX_STOCK_TIERS_MAX        20
#define TIX_STOCK_COMPONENTS_MAX   10
#define TIX_STOCK_QUANTITY_MAX     1000000
#define TIX_STOCK_PRICE_MAX        100000000000LL /* minor units */
#define TIX_STOCK_GROUP_MAX        100
#define TIX_STOCK_TEXT_ID_MAX      64  /* seat, section, row ids; device ids */
#define TIX_STOCK_EXTERNAL_ID_MAX  255 /* Stripe ids (pi_..., evt_..., re_...) */
#define TIX_STOCK_HOLD_MINUTES_MAX 60

enum tix_stock_kind {
    TIX_STOCK_GENERAL_ADMISSION,
    TIX_STOCK_RESERVED,
    TIX_STOCK_VIP,
    TIX_STOCK_EARLY_BIRD,
    TIX_STOCK_GROUP,
    TIX_STOCK_SEASON_PASS,
    TIX_STOCK_BUNDLE,
};

enum tix_hold_status {
    TIX_HOLD_ACTIVE,
    TIX_HOLD_RELEASED,
    TIX_HOLD_EXPIRED,
    TIX_HOLD_CONVERTED,
};

enum tix_order_status {
    TIX_ORDER_PENDING_PAYMENT,
    TIX_ORDER_PAID,
    TIX_ORDER_EXPIRED,
    TIX_ORDER_CANCELLED,
    TIX_ORDER_REFUND_PENDING,
    TIX_ORDER_REFUNDED,
    TIX_ORDER_PARTIALLY_REFUNDED,
};

struct tix_stock_settings {
    int hold_minutes;      /* 1..60, default 10 */
    int max_extensions;    /* 0..10, default 2 */
    int extension_minutes; /* 1..60, default 5 */
    int64_t fee_fixed_minor;
    int fee_percent_bp;
    int tax_percent_bp;
    bool no_single_seat_gap;
};

struct tix_stock_tier {
    int64_t price_minor;
    int64_t until;      /* Unix seconds; -1: no date limit */
    int64_t until_sold; /* -1: no count limit */
};

struct tix_stock_component {
    int type; /* index into types */
    int quantity;
};

struct tix_stock_type {
    char id[40];
    bool is_deleted;
    enum tix_stock_kind kind;
    int64_t price_minor;
    char currency[4];
    int64_t quantity; /* per session; -1: no limit of its own (reserved, pooled, bundle) */
    int pool;         /* index into pools, -1 for none */
    int n_sessions;   /* 0: every session */
    char (*session_ids)[40];
    int64_t sales_start; /* Unix seconds, -1 for none */
    int64_t sales_end;
    int min_per_order;
    int max_per_order;
    bool is_hidden;
    bool allows_reentry;
    int group_size; /* places one unit takes: group_size for group tickets, else 1 */
    int n_sections;
    char **sections;
    int n_categories;
    char **categories;
    int n_tiers;
    struct tix_stock_tier *tiers;
    int n_components;
    struct tix_stock_component *components;
    json_t *doc;   /* the whole type as last recorded (owned) */
    int64_t taken; /* held + sold units over every session */
};

struct tix_stock_pool {
    char id[40];
    char *name;
    int64_t capacity; /* per session */
};

/* A seat of the loaded chart; the strings point into one owned block (category may be NULL).
 * The seats of a row are consecutive: [row_first, row_last]. */
struct tix_stock_seat {
    char *id;
    char *section;
    char *row;
    char *label;
    char *category;
    bool is_accessible;
    int32_t row_first;
    int32_t row_last;
};

/* What one session has taken. owner[i] of seat i: 0 free, h + 1 held by hold h, -(o + 1) taken
 * by order o (NULL while every seat is free). held/sold are per ticket type and per pool. */
struct tix_stock_session {
    char id[40];
    int32_t *owner;
    int64_t *type_held;
    int64_t *type_sold;
    int64_t *pool_held;
    int64_t *pool_sold;
    int64_t places_held;
    int64_t places_sold;
};

struct tix_stock_line {
    int type;
    int quantity;
    int64_t unit_price_minor;
    int64_t fees_minor; /* the line's fees, fixed when the order is placed */
    int first_seat;     /* into the hold's seats */
    int n_seats;
    int n_sessions; /* season passes: the sessions a unit is taken in; 0: the hold's session */
    int *sessions;
};

struct tix_stock_hold {
    char id[40];
    int buyer;
    int session;
    int64_t expires_at; /* Unix seconds */
    int extensions;
    enum tix_hold_status status;
    int n_lines;
    struct tix_stock_line *lines;
    int n_seats;
    int32_t *seats;
    int order;       /* the order it became, -1 */
    int heap_pos;    /* -1 when not in the deadline heap */
    int prev_active; /* the buyer's active holds, a doubly linked list; -1 ends */
    int next_active;
};

struct tix_stock_order {
    char id[40];
    char number[24];
    int buyer;
    int hold; /* the lines, seats and session are the hold's */
    enum tix_order_status status;
    char currency[4];
    int64_t subtotal_minor;
    int64_t fees_minor;
    int64_t tax_minor;
    int64_t total_minor;
    int64_t expires_at;
    int heap_pos;
    char *payment_intent_id; /* NULL until known */
    int n_stripe_events;
    char **stripe_events; /* applied Stripe event ids */
    int first_ticket;
    int n_tickets;
    int refunds_required;
    int n_refunds;
    char **refunds;
    int n_refund_failures;
    int n_void;             /* its tickets voided by refunds */
    int64_t refunded_minor; /* granted by refunds so far */
    int n_requests;
    char **requests; /* refund request ids granted */
};

struct tix_stock_ticket {
    char id[40];
    int order;
    int type;
    int session; /* -1: every session the type covers (season pass) */
    int seat;    /* -1: no seat */
    int holder;  /* buyer index */
    int line;    /* of its order's hold */
    bool is_void;
    int inside; /* the session slot it is inside of, -1 when outside */
    int64_t last_scan_at;
    char last_device[TIX_STOCK_TEXT_ID_MAX + 1];
    char offer_id[40]; /* the pending transfer offer's id, "" when none */
    char offer_to[65]; /* the blind index of the email it is offered to */
};

struct tix_stock_buyer {
    char id[40];
    int first_active; /* head of the active holds list, -1 */
};

/* An open-addressing index from an id to an element's index (slots hold index + 1, 0 empty). */
struct tix_stock_index {
    uint32_t cap; /* a power of two, or 0 */
    uint32_t n;
    int32_t *slots;
};

struct tix_stock_deadline {
    int64_t at;
    int32_t item; /* hold h: 2h, order o: 2o + 1 */
};

/* The state of one stock stream (read-only outside commands/stock*.c). */
struct tix_stock_state {
    char event_id[40]; /* "" until the first event */
    struct tix_stock_settings settings;
    int64_t chart_version; /* -1 until seats are loaded */
    int n_types, cap_types;
    struct tix_stock_type *types;
    int n_pools, cap_pools;
    struct tix_stock_pool *pools;
    int n_seats;
    struct tix_stock_seat *seats;
    char **seat_blocks;
    struct tix_stock_index seat_index;
    int n_sessions, cap_sessions;
    struct tix_stock_session *sessions;
    int n_holds, cap_holds;
    struct tix_stock_hold *holds;
    struct tix_stock_index hold_index;
    int n_orders, cap_orders;
    struct tix_stock_order *orders;
    struct tix_stock_index order_index;
    int n_tickets, cap_tickets;
    struct tix_stock_ticket *tickets;
    struct tix_stock_index ticket_index;
    int n_buyers, cap_buyers;
    struct tix_stock_buyer *buyers;
    struct tix_stock_index buyer_index;
    int n_deadlines, cap_deadlines;
    struct tix_stock_deadline *deadlines; /* a min-heap by at */
};

extern const struct tix_stream_kind tix_stock_stream_kind;
/* Terminated by a row whose type is NULL. */
extern const struct tix_command_handler tix_stock_handlers[];

/* Lookups by id; -1 when absent. Thread-safe on a state nobody evolves meanwhile. */
int tix_stock_find_type(const struct tix_stock_state *s, const char *id);
int tix_stock_find_pool(const struct tix_stock_state *s, const char *id);
int tix_stock_find_seat(const struct tix_stock_state *s, const char *id);
int tix_stock_find_session(const struct tix_stock_state *s, const char *id);
int tix_stock_find_hold(const struct tix_stock_state *s, const char *id);
int tix_stock_find_order(const struct tix_stock_state *s, const char *id);
int tix_stock_find_ticket(const struct tix_stock_state *s, const char *id);
int tix_stock_find_buyer(const struct tix_stock_state *s, const char *user_id);

/* Static names: "general_admission"..., "active"..., "pending_payment"...; parse returns -1 for
 * an unknown name. Thread-safe. */
const char *tix_stock_kind_name(enum tix_stock_kind kind);
int tix_stock_kind_parse(const char *s);
const char *tix_hold_status_name(enum tix_hold_status status);
const char *tix_order_status_name(enum tix_order_status status);

/* The order number of the n-th order (1-based) of event_id: four letters from BLAKE2b-256 of the
 * event id ('A' + byte % 26 for its first four bytes), '-', n in at least six digits
 * ("KQZD-000042"). Writes at most 24 bytes with the NUL. Thread-safe. */
void tix_stock_order_number(const char *event_id, int64_t n, char out[24]);

/* The id of ticket i (0-based) of order_id: the first 16 bytes of BLAKE2b-256 over the 32 bytes
 * of seed, the 36 characters of order_id and i as 4 bytes big-endian, with the version nibble set
 * to 4 and the variant bits to 10, written as a lowercase UUID. Thread-safe. */
void tix_stock_ticket_id(const unsigned char seed[32], const char *order_id, uint32_t i,
                         char out[40]);

#endif
