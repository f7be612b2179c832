/* ticket_sign.h - signed ticket payloads (what a ticket's QR code holds) and their keys
 *
 * Each event has its own Ed25519 key pair, derived, never stored: seed = BLAKE2b-256 keyed with
 * the 32-byte TIXMO_TICKET_KEY over "ticket-sign:" || event_id, then crypto_sign_seed_keypair.
 * Anyone holding TIXMO_TICKET_KEY can sign for any event; a scanner is given only its events'
 * public keys and checks tickets offline.
 *
 * Payload: "TIX1." || base64url(json) || "." || base64url(signature), base64url without
 * padding, json = {"e": event_id, "s": session_id, "t": ticket_id, "z": seat_id or null}
 * (compact, keys sorted), signature = Ed25519 over the ASCII bytes "TIX1." || base64url(json),
 * so the version prefix is signed too.
 *
 * Pure (no clock, no I/O); thread-safe after sodium_init().
 */
#ifndef TIX_TICKET_SIGN_H
#define TIX_TICKET_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tix/rc.h"

#define TIX_TICKET_PK_LEN      32
#define TIX_TICKET_SK_LEN      64
#define TIX_TICKET_MASTER_LEN  32  /* TIXMO_TICKET_KEY, decoded */
#define TIX_TICKET_SESSION_MAX 64  /* characters of a session id */
#define TIX_TICKET_SEAT_MAX    96  /* characters of a seat id */
#define TIX_TICKET_PAYLOAD_MAX 512 /* the longest payload this module builds or accepts */

struct tix_ticket_keys {
    uint8_t pk[TIX_TICKET_PK_LEN];
    uint8_t sk[TIX_TICKET_SK_LEN]; /* secret: wipe with tix_ticket_keys_wipe */
};

/* What a ticket payload says. seat is "" for a ticket without a seat (z = null). */
struct tix_ticket_claims {
    char ticket_id[37];
    char event_id[37];
    char session_id[TIX_TICKET_SESSION_MAX + 1];
    char seat[TIX_TICKET_SEAT_MAX + 1];
};

/* Decodes TIXMO_TICKET_KEY (64 lowercase hex characters) into out. TIX_EINVAL otherwise. */
enum tix_rc tix_ticket_master_parse(const char *hex, uint8_t out[TIX_TICKET_MASTER_LEN],
                                    struct tix_err *err);

/* Derives event_id's key pair (see above) into out. TIX_EINVAL when event_id is not a UUID. */
enum tix_rc tix_ticket_keys_derive(const uint8_t master[TIX_TICKET_MASTER_LEN],
                                   const char *event_id, struct tix_ticket_keys *out,
                                   struct tix_err *err);
/* Zeroes the secret key. */
void tix_ticket_keys_wipe(struct tix_ticket_keys *keys);

/* Builds and signs c's payload into out (at least TIX_TICKET_PAYLOAD_MAX bytes). TIX_EINVAL
 * naming the field when ticket_id/event_id are not UUIDs, session_id is empty or too long or
 * the seat is too long; the keys must be event_id's (not checked: a wrong key makes a payload
 * that verification refuses). */
enum tix_rc tix_ticket_payload_build(const struct tix_ticket_keys *keys,
                                     const struct tix_ticket_claims *c, char *out, size_t size,
                                     struct tix_err *err);

/* Reads payload's claims WITHOUT checking the signature (to pick the event's public key);
 * never trust them before tix_ticket_payload_verify. TIX_EINVAL with the reason otherwise. */
enum tix_rc tix_ticket_payload_peek(const char *payload, struct tix_ticket_claims *out,
                                    struct tix_err *err);

/* Checks payload's shape and its signature with the event's public key pk, then fills out.
 * TIX_EINVAL (field "payload") with the reason: not a TIX1 payload, truncated or malformed,
 * bad base64url, bad JSON or claims, signature does not match (tampered or another event's key).
 * out is only written on TIX_OK. */
enum tix_rc tix_ticket_payload_verify(const char *payload, const uint8_t pk[TIX_TICKET_PK_LEN],
                                      struct tix_ticket_claims *out, struct tix_err *err);

#endif
