/* processor_main.c - the tixmo-processor program: config, signals, run */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "tix/config.h"
#include "tix/log.h"

#include "processor.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int main(void)
{
    struct tix_config cfg;
    struct tix_err err;
    if (sodium_init() < 0 || tix_config_load(&cfg, &err) != TIX_OK)
        return 2;
    tix_log_init("processor", (enum tix_log_level)cfg.log_level);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    enum tix_rc rc = tix_processor_run(&cfg, &stop_requested, &err);
    if (rc != TIX_OK)
        tix_log_error("processor failed", "rc=%s detail=\"%s\"", tix_rc_name(rc), err.msg);
    tix_config_deinit(&cfg);
    return rc == TIX_OK ? 0 : 1;
}
