/* registry.c - every projection the projector runs */
#include <stddef.h>

#include "projection.h"

extern const struct tix_projection tix_projection_organizations;
extern const struct tix_projection tix_projection_command_status;

const struct tix_projection *const tix_projections[] = {
    &tix_projection_organizations,
    &tix_projection_command_status,
    NULL,
};
