/* cache.h - the processor's in-memory aggregate states, by stream id
 *
 * Each entry holds a stream's evolved state and its version. Owned by one processor thread;
 * not thread-safe. The cache is only an optimization: any entry may be evicted at any time and
 * is rebuilt from the log.
 */
#ifndef TIX_COMMANDS_CACHE_H
#define TIX_COMMANDS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "tix/aggregate.h"

struct tix_cache_entry {
    char *stream_id;
    const struct tix_stream_kind *kind;
    void *state;
    int64_t version;
    struct tix_cache_entry *next;
};

struct tix_cache {
    struct tix_cache_entry **slots;
    size_t n_slots;
    size_t count;
    size_t max_entries; /* past this the cache is emptied before adding */
};

void tix_cache_init(struct tix_cache *c, size_t max_entries);
void tix_cache_deinit(struct tix_cache *c);
/* Borrowed entry or NULL. */
struct tix_cache_entry *tix_cache_get(struct tix_cache *c, const char *stream_id);
/* Adds a fresh entry (version 0, kind's empty state) and returns it, borrowed. */
struct tix_cache_entry *tix_cache_add(struct tix_cache *c, const char *stream_id,
                                      const struct tix_stream_kind *kind);
void tix_cache_evict(struct tix_cache *c, const char *stream_id);
void tix_cache_clear(struct tix_cache *c);

#endif
