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
/* Writes bytes as a UUID of version (1 to 15) and a NUL into out[37]: its version nibble and the
 * RFC 9562 variant bits set, the rest of the 16 bytes as given, lowercase 8-4-4-4-12 hex. */
void tix_uuid_format(const unsigned char bytes[16], int version, char out[TIX_UUID_LEN + 1]);
/* True when s is a canonical lowercase 8-4-4-4-12 hex UUID. */
bool tix_uuid_is_valid(const char *s);
/* FNV-1a 64 of len bytes of key: the one hash of the project, for partitions and in-memory
 * tables alike. Never changes between releases (partitions depend on it). Thread-safe. */
uint64_t tix_fnv1a(const char *key, size_t len);
/* The partition of a key: tix_fnv1a of its bytes, mod n (n > 0). */
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
