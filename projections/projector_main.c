/* projector_main.c - the tixmo-projector program */
#include "tix/daemon.h"

#include "projector.h"

int main(void)
{
    struct tix_config cfg;
    volatile sig_atomic_t *stop = tix_daemon_init("projector", &cfg);
    if (stop == NULL)
        return 2;
    struct tix_err err;
    enum tix_rc rc = tix_projector_run(&cfg, stop, &err);
    return tix_daemon_exit("projector failed", rc, &err, &cfg);
}
