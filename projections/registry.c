/* registry.c - every projection the projector runs */
#include <stddef.h>

#include "projection.h"

extern const struct tix_projection tix_projection_organizations;
extern const struct tix_projection tix_projection_command_status;
extern const struct tix_projection tix_projection_users;
extern const struct tix_projection tix_projection_sessions;
extern const struct tix_projection tix_projection_api_keys;
extern const struct tix_projection tix_projection_venues;
extern const struct tix_projection tix_projection_events;
extern const struct tix_projection tix_projection_search;
extern const struct tix_projection tix_projection_sale;

const struct tix_projection *const tix_projections[] = {
    &tix_projection_organizations, &tix_projection_command_status,
    &tix_projection_users,         &tix_projection_sessions,
    &tix_projection_api_keys,      &tix_projection_venues,
    &tix_projection_events,        &tix_projection_search,
    &tix_projection_sale,          NULL,
};
