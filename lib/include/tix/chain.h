/* chain.h - the per-partition hash chain over canonical event bytes
 *
 * hash(e) = BLAKE2b-256(prev_hash || canonical(e)), where canonical(e) is a versioned,
 * length-prefixed encoding of every stored field of the event (partition, sequence, stream,
 * version, ids, type, schema version, recorded_at in microseconds, data and metadata bytes).
 * Length prefixes make the encoding unambiguous: no two different events share bytes. The first
 * event of a partition chains to 32 zero bytes. Changing any stored byte of any event changes
 * its hash and breaks every later link.
 */
#ifndef TIX_CHAIN_H
#define TIX_CHAIN_H

#include <stdint.h>

#include "tix/store.h"

/* Computes e's hash from prev (which need not equal e->prev_hash) into out. Thread-safe. */
void tix_chain_hash(const uint8_t prev[TIX_HASH_LEN], const struct tix_event *e,
                    uint8_t out[TIX_HASH_LEN]);
/* Lowercase hex of a hash into out[2 * TIX_HASH_LEN + 1]. */
void tix_chain_hex(const uint8_t h[TIX_HASH_LEN], char out[2 * TIX_HASH_LEN + 1]);
/* Parses 64 hex chars (optionally "\\x"-prefixed, as Postgres prints bytea); -1 when malformed. */
int tix_chain_unhex(const char *s, uint8_t out[TIX_HASH_LEN]);

#endif
