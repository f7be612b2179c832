/* registry.c - every stream kind and command handler the processor hosts
 *
 * One table per concept, looked up by prefix or type. Adding an aggregate means adding its
 * rows here and nothing else in the processor. Prefixes must not be prefixes of each other
 * ("user-" and "useremail-" are fine: the fifth character differs).
 */
#include <string.h>

#include "tix/aggregate.h"

#include "apikey.h"
#include "event.h"
#include "organization.h"
#include "session.h"
#include "stock.h"
#include "user.h"
#include "venue.h"

static const struct tix_stream_kind *const kinds[] = {
    &tix_organization_stream_kind, &tix_orgslug_stream_kind, &tix_user_stream_kind,
    &tix_useremail_stream_kind,    &tix_session_stream_kind, &tix_apikey_stream_kind,
    &tix_venue_stream_kind,        &tix_event_stream_kind,   &tix_stock_stream_kind,
};

/* Every handler table, each terminated by a row whose type is NULL. */
static const struct tix_command_handler *const handler_tables[] = {
    tix_organization_handlers, tix_user_handlers,  tix_session_handlers, tix_apikey_handlers,
    tix_venue_handlers,        tix_event_handlers, tix_stock_handlers,
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
    for (size_t t = 0; t < sizeof(handler_tables) / sizeof(handler_tables[0]); t++)
        for (const struct tix_command_handler *h = handler_tables[t]; h->type != NULL; h++)
            if (strcmp(h->type, command_type) == 0)
                return h;
    return NULL;
}
