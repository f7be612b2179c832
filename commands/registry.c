/* registry.c - every stream kind and command handler the processor hosts
 *
 * One table per concept, looked up by prefix or type. Adding an aggregate means adding its
 * rows here and nothing else in the processor.
 */
#include <string.h>

#include "tix/aggregate.h"

#include "organization.h"

static const struct tix_stream_kind *const kinds[] = {
    &tix_organization_stream_kind,
    &tix_orgslug_stream_kind,
};

const struct tix_stream_kind *tix_registry_stream_kind(const char *stream_id)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strncmp(stream_id, kinds[i]->prefix, strlen(kinds[i]->prefix)) == 0)
            return kinds[i];
    return NULL;
}

const struct tix_command_handler *tix_registry_handler(const char *command_type)
{
    for (const struct tix_command_handler *h = tix_organization_handlers; h->type != NULL; h++)
        if (strcmp(h->type, command_type) == 0)
            return h;
    return NULL;
}
