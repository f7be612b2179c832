/* config.c - the TIXMO_* environment, read and checked in one table
 *
 * Each row names a variable, where it goes, its default and its bounds. Every row is checked
 * and every problem printed before tix_config_load() fails, so one start-up shows them all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/config.h"
#include "tix/log.h"
#include "tix/mem.h"

enum kind { STR, INT, LEVEL };

struct row {
    const char *name;
    enum kind kind;
    size_t offset;
    const char *def; /* NULL = required */
    long min, max;
};

#define ROW_STR(n, f, d)                                                                           \
    {                                                                                              \
        n, STR, offsetof(struct tix_config, f), d, 0, 0                                            \
    }
#define ROW_INT(n, f, d, lo, hi)                                                                   \
    {                                                                                              \
        n, INT, offsetof(struct tix_config, f), d, lo, hi                                          \
    }

static const struct row rows[] = {
    ROW_STR("TIXMO_DB_URL", db_url, "postgresql://tixmo_app@127.0.0.1:25432/tixmo"),
    ROW_STR("TIXMO_DB_ADMIN_URL", db_admin_url, "postgresql://tixmo_owner@127.0.0.1:25432/tixmo"),
    ROW_STR("TIXMO_AMQP_URL", amqp_url, "amqp://guest:guest@127.0.0.1:25672/%2f"),
    ROW_STR("TIXMO_REDIS_URL", redis_url, "redis://127.0.0.1:26379"),
    ROW_STR("TIXMO_SCHEMA_DIR", schema_dir, TIX_SCHEMA_DIR),
    ROW_INT("TIXMO_PARTITIONS", partitions, "16", 1, 1024),
    ROW_INT("TIXMO_BATCH_MAX", batch_max, "256", 1, 4096),
    ROW_INT("TIXMO_PREFETCH", prefetch, "512", 1, 65535),
    ROW_INT("TIXMO_DELIVERY_LIMIT", delivery_limit, "5", 1, 1000),
    {"TIXMO_LOG_LEVEL", LEVEL, offsetof(struct tix_config, log_level), "info", 0, 0},
};

static int load_row(const struct row *r, struct tix_config *cfg)
{
    const char *v = getenv(r->name);
    if (v == NULL || v[0] == '\0')
        v = r->def;
    if (v == NULL) {
        fprintf(stderr, "config: %s is required\n", r->name);
        return 1;
    }
    char *base = (char *)cfg + r->offset;
    if (r->kind == STR) {
        *(char **)base = tix_xstrdup(v);
        return 0;
    }
    if (r->kind == LEVEL) {
        int lvl = tix_log_level_parse(v);
        if (lvl < 0) {
            fprintf(stderr, "config: %s must be debug, info, warn or error (got \"%s\")\n", r->name,
                    v);
            return 1;
        }
        *(int *)base = lvl;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < r->min || n > r->max) {
        fprintf(stderr, "config: %s must be an integer from %ld to %ld (got \"%s\")\n", r->name,
                r->min, r->max, v);
        return 1;
    }
    *(int *)base = (int)n;
    return 0;
}

enum tix_rc tix_config_load(struct tix_config *cfg, struct tix_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    int problems = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        problems += load_row(&rows[i], cfg);
    if (problems > 0) {
        tix_config_deinit(cfg);
        return tix_err_set(err, TIX_EINVAL, "", "%d configuration problem(s)", problems);
    }
    return TIX_OK;
}

void tix_config_deinit(struct tix_config *cfg)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (rows[i].kind == STR) {
            char **p = (char **)((char *)cfg + rows[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}
