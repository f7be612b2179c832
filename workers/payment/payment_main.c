/* payment_main.c - the tixmo-payment program: the payment worker with the Stripe provider */
#include <curl/curl.h>

#include "tix/daemon.h"

#include "provider.h"
#include "worker.h"

int main(void)
{
    struct tix_config cfg;
    volatile sig_atomic_t *stop = tix_daemon_init("payment", &cfg);
    if (stop == NULL)
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct tix_stripe_options o = {
        .base_url = cfg.stripe_url,
        .secret_key = cfg.stripe_secret_key,
        .timeout_ms = cfg.stripe_timeout_ms,
        .attempts = cfg.stripe_attempts,
    };
    struct tix_payment_provider pv;
    tix_stripe_provider_init(&pv, &o);
    struct tix_err err;
    enum tix_rc rc = tix_payment_run(&cfg, &pv, stop, &err);
    pv.destroy(pv.ctx);
    curl_global_cleanup();
    return tix_daemon_exit("payment worker failed", rc, &err, &cfg);
}
