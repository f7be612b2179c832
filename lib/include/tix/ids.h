/* ids.h - identifiers, partitions and clocks
 *
 * Ids are UUIDv7 strings (time-ordered, so index inserts stay local) made from libsodium's random
 * bytes. The partition of a key is FNV-1a 64 of its bytes mod N: stable across processes,
 * versions and languages, so any gateway routes a key to the same partition.
 */
#ifndef TIX_IDS_H
#define TIX_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIX_UUID_LEN 36

/* Writes a new UUIDv7 and a NUL into out[37]. Thread-safe (after sodium_init()). */
void tix_uuid_v7(char out[TIX_UUID_LEN + 1]);
/* True when s is a canonical lowercase 8-4-4-4-12 hex UUID. */
bool tix_uuid_is_valid(const char *s);
/* The partition of a key: FNV-1a 64 of its bytes, mod n (n > 0). */
uint32_t tix_partition_of(const char *key, size_t len, uint32_t n);
/* Microseconds since the Unix epoch, wall clock. */
int64_t tix_now_us(void);
/* Monotonic milliseconds, for timeouts. */
int64_t tix_mono_ms(void);
/* Monotonic microseconds, for durations. */
int64_t tix_mono_us(void);
/* Formats us as RFC 3339 UTC with microseconds ("2026-11-21T06:57:02.123456Z") into out[32]. */
void tix_time_format(int64_t us, char out[32]);

#endif
