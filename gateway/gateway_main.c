/* gateway_main.c - the tixmo-gateway program */
#include "tix/daemon.h"
#include "tix/ticket_pdf.h"

#include "gateway.h"

int main(void)
{
    struct tix_config cfg;
    volatile sig_atomic_t *stop = tix_daemon_init("gateway", &cfg);
    if (stop == NULL)
        return 2;
    struct tix_err err;
    enum tix_rc rc = tix_gw_run(&cfg, stop, &err);
    tix_ticket_pdf_cleanup();
    return tix_daemon_exit("gateway failed", rc, &err, &cfg);
}
