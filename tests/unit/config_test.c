/* config_test.c - the TIXMO_* table: defaults and bounds (lib/config.c) */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "tix/config.h"

static int load_grace(const char *value)
{
    if (value != NULL)
        setenv("TIXMO_REFRESH_GRACE_S", value, 1);
    else
        unsetenv("TIXMO_REFRESH_GRACE_S");
    struct tix_config cfg;
    struct tix_err err;
    if (tix_config_load(&cfg, &err) != TIX_OK)
        return -1;
    int grace = cfg.refresh_grace_s;
    tix_config_deinit(&cfg);
    return grace;
}

Test(config, the_refresh_grace_window_defaults_to_ten_seconds_within_0_to_300)
{
    cr_assert_eq(load_grace(NULL), 10);
    cr_assert_eq(load_grace("0"), 0, "0 turns the window off");
    cr_assert_eq(load_grace("300"), 300);
    cr_assert_eq(load_grace("301"), -1);
    cr_assert_eq(load_grace("-1"), -1);
    cr_assert_eq(load_grace("10s"), -1);
}

/* Loads with name=value; returns whether the table accepted it. */
static bool loads_with(const char *name, const char *value)
{
    setenv(name, value, 1);
    struct tix_config cfg;
    struct tix_err err;
    bool is_ok = tix_config_load(&cfg, &err) == TIX_OK;
    if (is_ok)
        tix_config_deinit(&cfg);
    unsetenv(name);
    return is_ok;
}

Test(config, the_smtp_url_and_the_sender_are_checked)
{
    cr_assert(loads_with("TIXMO_SMTP_URL", "smtp://127.0.0.1:38125"));
    cr_assert(loads_with("TIXMO_SMTP_URL", "smtps://mail.example.org"));
    cr_assert_not(loads_with("TIXMO_SMTP_URL", "http://127.0.0.1:38125"), "not SMTP");
    cr_assert_not(loads_with("TIXMO_SMTP_URL", "127.0.0.1:25"), "no scheme");
    cr_assert_not(loads_with("TIXMO_SMTP_URL", "smtp://"), "no host");
    cr_assert(loads_with("TIXMO_MAIL_FROM", "box-office@example.org"));
    cr_assert_not(loads_with("TIXMO_MAIL_FROM", "box-office"), "no domain");
    cr_assert_not(loads_with("TIXMO_MAIL_FROM", "a@b.org\r\nBcc: x@y.org"), "header injection");
    cr_assert_not(loads_with("TIXMO_MAIL_FROM", "Box <a@b.org>"), "a display name");
    cr_assert(loads_with("TIXMO_APP_URL", "https://tickets.example.org"));
    cr_assert_not(loads_with("TIXMO_APP_URL", "ftp://example.org"));
}
