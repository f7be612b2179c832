/* shop.h - integration test support for the catalog: an organization with members, venues
 * and events made over HTTP, and waiting for the read models to show them
 *
 * Every helper fails the test (Criterion assertions) when the gateway answers otherwise than
 * expected; writes are sent with "Prefer: wait=5" so they answer with their outcome.
 */
#ifndef TIX_TEST_SHOP_H
#define TIX_TEST_SHOP_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"
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

void tix_shop_open(struct tix_shop *s);
void tix_shop_close(struct tix_shop *s);
/* Waits (10 s at most) until path answers 200 for token (NULL: anonymous). */
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
/* The payment worker's part, played by the test: payment.apply succeeded for order of event
 * (total_minor in EUR, a fresh ticket seed), sent as system:payments; waits for the outcome. */
void tix_shop_pay(const char *event, const char *order, long long total_minor);
/* Asserts r is a problem with status naming field (NULL: any). */
void tix_shop_expect_problem(const struct tix_http_resp *r, long status, const char *field);

#endif
