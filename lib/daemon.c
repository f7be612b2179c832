/* daemon.c - start-up and exit shared by every program */
#include <signal.h>
#include <sodium.h>
#include <string.h>

#include "tix/daemon.h"
#include "tix/log.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

volatile sig_atomic_t *tix_daemon_init(const char *service, struct tix_config *cfg)
{
    struct tix_err err;
    if (sodium_init() < 0 || tix_config_load(cfg, &err) != TIX_OK)
        return NULL;
    tix_log_init(service, (enum tix_log_level)cfg->log_level);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return &stop_requested;
}

int tix_daemon_exit(const char *what, enum tix_rc rc, const struct tix_err *err,
                    struct tix_config *cfg)
{
    if (rc != TIX_OK)
        tix_log_error(what, "rc=%s detail=\"%s\"", tix_rc_name(rc), err->msg);
    tix_config_deinit(cfg);
    return rc == TIX_OK ? 0 : 1;
}
