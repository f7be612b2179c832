/* shop.h - integration test support for the catalog: users, organizations with members,
 * venues, events and ticket types made over HTTP, accounts, holds, orders and transfers, and
 * waiting for the read models to show them
 *
 * Every helper fails the test (Criterion assertions) when the gateway answers otherwise than
 * expected; writes are sent with "Prefer: wait=5" so they answer with their outcome.
 */
#ifndef TIX_TEST_SHOP_H
#define TIX_TEST_SHOP_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "tix/db.h"
#include "tix/ids.h"

/* An organization owned by a new user, with a promoter and a scanner. */
struct tix_shop {
    char owner_id[TIX_UUID_LEN + 1], promoter_id[TIX_UUID_LEN + 1], scanner_id[TIX_UUID_LEN + 1];
    char *owner, *promoter, *scanner; /* access tokens */
    char org[TIX_UUID_LEN + 1];
    char base[120]; /* /api/v1/organizations/<org> */
    char tag[16];   /* a word unique to this shop, for names, cities and tags */
};

extern const char *const tix_shop_wait5[]; /* {"Prefer: wait=5", NULL} */

/* A new user's id into id and its access token (valid 600 s; a new string, free()). */
char *tix_shop_user(char id[TIX_UUID_LEN + 1]);
/* Creates an organization named name with slug (NULL: a fresh one) as token (201 and its
 * Location expected); waits until token sees it; its id into org. */
void tix_shop_org(const char *token, const char *name, const char *slug,
                  char org[TIX_UUID_LEN + 1]);
/* Adds user_id to org as role (the owner's token; 200 expected); waits until the member (its
 * token) sees the organization. */
void tix_shop_member(const char *owner, const char *org, const char *user_id, const char *role,
                     const char *token);
/* Registers an account over HTTP (201 expected; name NULL: none) and waits until the users read
 * model (db) has it; its id into id. */
void tix_shop_register(struct tix_db *db, const char *email, const char *password, const char *name,
                       char id[TIX_UUID_LEN + 1]);
/* Verifies user's address with token (its mail's or the log's; 200 expected) and waits until
 * the users read model (db) says so. */
void tix_shop_verify(struct tix_db *db, const char *token, const char *user);
/* who (a token) offers ticket to email (200 expected); the transfer's id into transfer. */
void tix_shop_offer(const char *who, const char *ticket, const char *email,
                    char transfer[TIX_UUID_LEN + 1]);
/* who (a token) accepts transfer (200 expected); the moved ticket's new id into ticket. */
void tix_shop_accept(const char *who, const char *transfer, char ticket[TIX_UUID_LEN + 1]);
/* Opens s: three new users, the owner's organization (slug s->tag), its promoter and scanner. */
void tix_shop_open(struct tix_shop *s);
/* Frees the shop's tokens. */
void tix_shop_close(struct tix_shop *s);
/* Waits (15 s at most) until GET path answers want for token (NULL: anonymous). */
void tix_shop_wait_status(const char *token, const char *path, long want);
/* Waits (15 s at most) until path answers 200 for token (NULL: anonymous). */
void tix_shop_wait_visible(const char *token, const char *path);
/* Waits (timeout_ms at most) until GET path (as token) lists exactly want items. */
bool tix_shop_wait_count(const char *token, const char *path, size_t want, int timeout_ms);
/* Creates a venue in city (location: a JSON object text or NULL) as the promoter; waits until
 * the public sees it. */
void tix_shop_venue(const struct tix_shop *s, const char *city, const char *location,
                    char venue[TIX_UUID_LEN + 1]);
/* POSTs body to <base>/events as the promoter (201 expected) and waits until members see it. */
void tix_shop_event(const struct tix_shop *s, const char *body, char event[TIX_UUID_LEN + 1]);
/* POSTs <base>/events/<event>/<action> (publish, cancel...) as token; returns the status. */
long tix_shop_act(const struct tix_shop *s, const char *token, const char *event,
                  const char *action, const char *body);
/* Creates a ticket type of event from body (JSON) as token (201 and its Location expected);
 * waits until the public sees it; its id into type. */
void tix_shop_type(const char *token, const char *event, const char *body,
                   char type[TIX_UUID_LEN + 1]);
/* buyer (a token) holds quantity of type of event (201 expected); the hold's id into hold. */
void tix_shop_hold(const char *buyer, const char *event, const char *type, int quantity,
                   char hold[TIX_UUID_LEN + 1]);
/* buyer orders hold of event (201 expected); the order's id into order; returns its total. */
long long tix_shop_order(const char *buyer, const char *event, const char *hold,
                         char order[TIX_UUID_LEN + 1]);
/* The payment worker's part, played by the test: payment.apply succeeded for order of event
 * (total_minor in EUR, a fresh ticket seed), sent as system:payments; waits for the outcome. */
void tix_shop_pay(const char *event, const char *order, long long total_minor);
/* Asserts r is a problem with status naming field (NULL: any). */
void tix_shop_expect_problem(const struct tix_http_resp *r, long status, const char *field);

#endif
