/* sale.h - integration test support for the sale: an on-sale show set up by commands, buyers'
 * orders over HTTP paid through the payment worker and a signed webhook, and waiting for the
 * log and the read models
 *
 * A test suite opens the rig once (a bus with replies and a database connection, after its
 * stack is up) and closes it at the end; every helper fails the test (Criterion assertions) when
 * something answers otherwise than expected. Writes over HTTP are sent with "Prefer: wait=5".
 */
#ifndef TIX_TEST_SALE_H
#define TIX_TEST_SALE_H

#include <jansson.h>

#include "http.h"
#include "shop.h"
#include "tix/bus.h"
#include "tix/db.h"
#include "tix/ids.h"

/* Opens the bus (named name, replies enabled, topology declared) and the database. */
void tix_sale_rig_open(const char *name);
void tix_sale_rig_close(void);
/* Borrowed, valid until tix_sale_rig_close. */
struct tix_bus *tix_sale_rig_bus(void);
struct tix_db *tix_sale_rig_db(void);

/* Sends a command (payload stolen) as actor and fails unless it succeeded. */
void tix_sale_send_ok(const char *type, const char *key, json_t *payload, const char *actor);
/* Sends a command with command id id as system:process-manager (payload stolen) and fails
 * unless its outcome is "succeeded" (a redelivery gets the first outcome again). */
void tix_sale_resend_pm(const char *id, const char *type, const char *key, json_t *payload);
/* Waits (30 s at most) until sql ($1 = param) gives want. */
void tix_sale_wait_sql(const char *sql, const char *param, long long want);
/* Waits until the log holds want events of type about order (data->>'order_id'). */
void tix_sale_wait_events(const char *order, const char *type, long long want);
/* POSTs body as token (Prefer: wait=5) and expects status (a problem naming field when >= 400;
 * field NULL: any); keeps the answer in keep when not NULL (deinit it). */
void tix_sale_post(const char *path, const char *token, const char *body, long status,
                   const char *field, struct tix_http_resp *keep);

/* The one refund key the payment worker recorded for order into key (fails unless exactly one). */
void tix_sale_refund_key(const char *order, char key[80]);
/* The Stripe stand-in's journal of calls for the one refund of order, oldest first (new
 * reference). */
json_t *tix_sale_refund_calls(const char *order);

#define TIX_SHOW_SESSIONS_MAX 2

/* An on-sale event of a shop, its sessions (5 and 6 June 2030), one general-admission type of
 * 50 a session sold in every session at the show's price, and a buyer. */
struct tix_show {
    struct tix_shop shop;
    char event[TIX_UUID_LEN + 1], type[TIX_UUID_LEN + 1];
    char session[TIX_SHOW_SESSIONS_MAX][TIX_UUID_LEN + 1];
    int n_sessions;
    char buyer_id[TIX_UUID_LEN + 1], order[TIX_UUID_LEN + 1];
    char *buyer; /* access token */
    char actor[48];
};

void tix_show_open(struct tix_show *s, long long price, int n_sessions);
void tix_show_close(struct tix_show *s);
/* The buyer holds quantity units of the show's type in session slot i (a command) and places
 * the order over HTTP (s->order); status receives the answer's status ("pending_payment" or
 * "paid"). */
void tix_show_place_order(struct tix_show *s, int i, int quantity, char status[32]);
/* The buyer holds quantity units of the show's type in session slot i (a cart nobody turns into
 * an order); its id in hold. */
void tix_show_hold(struct tix_show *s, int i, int quantity, char hold[TIX_UUID_LEN + 1]);
/* A free order of one unit in session slot i, paid at once, of a new free type (a guest list of
 * 10); its id in order (and s->order). */
void tix_show_free_order(struct tix_show *s, int i, char order[TIX_UUID_LEN + 1]);
/* The same, then paid (total in EUR) through the worker's PaymentIntent and a signed webhook;
 * waits until the order reads paid. */
void tix_show_paid_order(struct tix_show *s, int i, int quantity, long long total);
/* The ids of the order's tickets (rm), in id order, into ids (up to n); returns how many. */
int tix_show_order_tickets(const struct tix_show *s, char ids[][TIX_UUID_LEN + 1], int n);

#endif
