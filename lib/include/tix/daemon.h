/* daemon.h - what every TixMo program does first
 *
 * Initializes libsodium, loads and checks the TIXMO_* configuration (printing every problem),
 * starts logging as `service`, makes SIGTERM and SIGINT set the returned stop flag and ignores
 * SIGPIPE (a peer that closed a socket is an error code, not a death).
 */
#ifndef TIX_DAEMON_H
#define TIX_DAEMON_H

#include <signal.h>

#include "tix/config.h"
#include "tix/rc.h"

/* Fills cfg (free with tix_config_deinit) and returns the process-wide stop flag, or NULL
 * when start-up must stop (exit status 2). Call once, from main. */
volatile sig_atomic_t *tix_daemon_init(const char *service, struct tix_config *cfg);
/* Logs how a program ended and returns its exit status (0 for TIX_OK, 1 otherwise). */
int tix_daemon_exit(const char *what, enum tix_rc rc, const struct tix_err *err,
                    struct tix_config *cfg);

#endif
