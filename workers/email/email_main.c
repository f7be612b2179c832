/* email_main.c - the tixmo-email program: the email worker with the SMTP mailer */
#include <curl/curl.h>

#include "tix/daemon.h"
#include "tix/ticket_pdf.h"

#include "mailer.h"
#include "worker.h"

int main(void)
{
    struct tix_config cfg;
    volatile sig_atomic_t *stop = tix_daemon_init("email", &cfg);
    if (stop == NULL)
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct tix_smtp_options o = {
        .url = cfg.smtp_url, .from = cfg.mail_from, .timeout_ms = cfg.smtp_timeout_ms};
    struct tix_mailer m;
    tix_smtp_mailer_init(&m, &o);
    struct tix_err err;
    enum tix_rc rc = tix_email_run(&cfg, &m, stop, &err);
    m.destroy(m.ctx);
    tix_ticket_pdf_cleanup();
    curl_global_cleanup();
    return tix_daemon_exit("email worker failed", rc, &err, &cfg);
}
