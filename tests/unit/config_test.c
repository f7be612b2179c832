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
