/* mem.c - allocation that aborts on out-of-memory
 *
 * Every allocation in TixMo goes through here, so an exhausted heap is one log line and an
 * abort instead of a NULL dereference somewhere far away.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/mem.h"

static void oom(size_t n)
{
    fprintf(stderr, "level=error msg=\"out of memory\" bytes=%zu\n", n);
    abort();
}

void *tix_xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);
    if (p == NULL)
        oom(n);
    return p;
}

void *tix_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
    if (p == NULL)
        oom(count * size);
    return p;
}

void *tix_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n == 0 ? 1 : n);
    if (q == NULL)
        oom(n);
    return q;
}

char *tix_xstrdup(const char *s)
{
    if (s == NULL)
        return NULL;
    return tix_xstrndup(s, strlen(s));
}

char *tix_xstrndup(const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    char *p = tix_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
