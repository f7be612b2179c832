/* projector.h - the tixmo-projector loop: catch up, then follow commits live
 *
 * Prepares every projection (version 1 on a fresh store), then repeatedly applies every
 * partition's backlog for each projection's active version and any version being rebuilt.
 * It LISTENs on "tixmo_events" (notified by every append at commit), so a commit is applied
 * within milliseconds; a sweep every second covers missed notifications.
 */
#ifndef TIX_PROJECTIONS_PROJECTOR_H
#define TIX_PROJECTIONS_PROJECTOR_H

#include <signal.h>

#include "tix/config.h"
#include "tix/rc.h"

enum tix_rc tix_projector_run(const struct tix_config *cfg, volatile sig_atomic_t *stop,
                              struct tix_err *err);

#endif
