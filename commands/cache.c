/* cache.c - chained hash table of aggregate states
 *
 * FNV-1a over the stream id picks the slot. When the table holds max_entries it is emptied
 * wholesale: crude, but always correct, because every state can be reloaded from the log.
 */
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/mem.h"

#include "cache.h"

void tix_cache_init(struct tix_cache *c, size_t max_entries)
{
    c->n_slots = 4096;
    while (c->n_slots < max_entries)
        c->n_slots *= 2;
    c->slots = tix_xcalloc(c->n_slots, sizeof(*c->slots));
    c->count = 0;
    c->max_entries = max_entries;
}

static size_t slot_of(const struct tix_cache *c, const char *id)
{
    return tix_partition_of(id, strlen(id), (uint32_t)c->n_slots);
}

static void entry_free(struct tix_cache_entry *e)
{
    e->kind->destroy(e->state);
    free(e->stream_id);
    free(e);
}

void tix_cache_clear(struct tix_cache *c)
{
    for (size_t i = 0; i < c->n_slots; i++) {
        struct tix_cache_entry *e = c->slots[i];
        while (e != NULL) {
            struct tix_cache_entry *next = e->next;
            entry_free(e);
            e = next;
        }
        c->slots[i] = NULL;
    }
    c->count = 0;
}

void tix_cache_deinit(struct tix_cache *c)
{
    tix_cache_clear(c);
    free(c->slots);
    c->slots = NULL;
}

struct tix_cache_entry *tix_cache_get(struct tix_cache *c, const char *stream_id)
{
    for (struct tix_cache_entry *e = c->slots[slot_of(c, stream_id)]; e != NULL; e = e->next)
        if (strcmp(e->stream_id, stream_id) == 0)
            return e;
    return NULL;
}

struct tix_cache_entry *tix_cache_add(struct tix_cache *c, const char *stream_id,
                                      const struct tix_stream_kind *kind)
{
    if (c->count >= c->max_entries)
        tix_cache_clear(c);
    struct tix_cache_entry *e = tix_xcalloc(1, sizeof(*e));
    e->stream_id = tix_xstrdup(stream_id);
    e->kind = kind;
    e->state = kind->create();
    size_t s = slot_of(c, stream_id);
    e->next = c->slots[s];
    c->slots[s] = e;
    c->count++;
    return e;
}

void tix_cache_evict(struct tix_cache *c, const char *stream_id)
{
    struct tix_cache_entry **pp = &c->slots[slot_of(c, stream_id)];
    for (; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->stream_id, stream_id) == 0) {
            struct tix_cache_entry *e = *pp;
            *pp = e->next;
            entry_free(e);
            c->count--;
            return;
        }
    }
}
