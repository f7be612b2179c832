/* processor_main.c - the tixmo-processor program */
#include "tix/daemon.h"

#include "processor.h"

int main(void)
{
    struct tix_config cfg;
    volatile sig_atomic_t *stop = tix_daemon_init("processor", &cfg);
    if (stop == NULL)
        return 2;
    struct tix_err err;
    enum tix_rc rc = tix_processor_run(&cfg, stop, &err);
    return tix_daemon_exit("processor failed", rc, &err, &cfg);
}
