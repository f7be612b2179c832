/* mem.h - allocation that never returns NULL
 *
 * Servers abort on out-of-memory (as redis' zmalloc does): a half-handled allocation failure is
 * worse than a clean restart, and the log plus the broker make a restart lose nothing.
 */
#ifndef TIX_MEM_H
#define TIX_MEM_H

#include <stddef.h>

void *tix_xmalloc(size_t n);
void *tix_xcalloc(size_t count, size_t size);
void *tix_xrealloc(void *p, size_t n);
/* Returns a new NUL-terminated copy; free with free(). tix_xstrdup(NULL) returns NULL. */
char *tix_xstrdup(const char *s);
char *tix_xstrndup(const char *s, size_t n);

#endif
