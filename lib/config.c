/* config.c - the TIXMO_* environment, read and checked in one table
 *
 * Each row names a variable, where it goes, its default and its bounds. Every row is checked
 * and every problem printed before tix_config_load() fails, so one start-up shows them all.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/config.h"
#include "tix/log.h"
#include "tix/mem.h"

enum kind { STR, INT, LEVEL, SECRET, HEX32, URL, MAILBOX };

struct row {
    const char *name;
    enum kind kind;
    size_t offset;
    const char *def; /* NULL = required */
    long min, max;
    const char *schemes; /* URL: the accepted schemes, "a|b" */
};

#define ROW_STR(n, f, d)                                                                           \
    {                                                                                              \
        n, STR, offsetof(struct tix_config, f), d, 0, 0, NULL                                      \
    }
#define ROW_INT(n, f, d, lo, hi)                                                                   \
    {                                                                                              \
        n, INT, offsetof(struct tix_config, f), d, lo, hi, NULL                                    \
    }

static const struct row rows[] = {
    ROW_STR("TIXMO_DB_URL", db_url, "postgresql://tixmo_app@127.0.0.1:25432/tixmo"),
    ROW_STR("TIXMO_DB_ADMIN_URL", db_admin_url, "postgresql://tixmo_owner@127.0.0.1:25432/tixmo"),
    ROW_STR("TIXMO_AMQP_URL", amqp_url, "amqp://guest:guest@127.0.0.1:25672/%2f"),
    ROW_STR("TIXMO_REDIS_URL", redis_url, "redis://127.0.0.1:26379"),
    ROW_INT("TIXMO_REDIS_TIMEOUT_MS", redis_timeout_ms, "250", 1, 60000),
    ROW_STR("TIXMO_SCHEMA_DIR", schema_dir, TIX_SCHEMA_DIR),
    ROW_INT("TIXMO_PARTITIONS", partitions, "16", 1, 1024),
    ROW_INT("TIXMO_BATCH_MAX", batch_max, "256", 1, 4096),
    ROW_INT("TIXMO_PREFETCH", prefetch, "512", 1, 65535),
    ROW_INT("TIXMO_DELIVERY_LIMIT", delivery_limit, "5", 1, 1000),
    ROW_INT("TIXMO_CLOCK_OFFSET_S", clock_offset_s, "0", 0, 31536000),
    {"TIXMO_LOG_LEVEL", LEVEL, offsetof(struct tix_config, log_level), "info", 0, 0, NULL},
    ROW_STR("TIXMO_HTTP_HOST", http_host, "127.0.0.1"),
    ROW_INT("TIXMO_HTTP_PORT", http_port, "28080", 1, 65535),
    ROW_INT("TIXMO_HTTP_THREADS", http_threads, "0", 0, 64),
    ROW_INT("TIXMO_HTTP_MAX_BODY", http_max_body, "65536", 1024, 16777216),
    ROW_INT("TIXMO_HTTP_TIMEOUT", http_timeout_s, "30", 1, 600),
    ROW_INT("TIXMO_WAIT_MAX", wait_max_s, "10", 0, 60),
    ROW_INT("TIXMO_GW_CACHE_TTL_MS", gw_cache_ttl_ms, "5000", 0, 600000),
    {"TIXMO_JWT_SECRET", SECRET, offsetof(struct tix_config, jwt_secret),
     "dev-only-jwt-secret-change-me-0123456789abcdef", 32, 0, NULL},
    {"TIXMO_PII_KEY", HEX32, offsetof(struct tix_config, pii_key),
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 0, 0, NULL},
    ROW_INT("TIXMO_ACCESS_TTL", access_ttl_s, "900", 10, 86400),
    ROW_INT("TIXMO_REFRESH_TTL", refresh_ttl_s, "2592000", 60, 31536000),
    ROW_INT("TIXMO_REFRESH_GRACE_S", refresh_grace_s, "10", 0, 300),
    ROW_INT("TIXMO_RL_AUTH_PER_IP", rl_auth_per_ip, "20", 1, 1000000),
    ROW_INT("TIXMO_RL_GENERAL_PER_USER", rl_general_per_user, "600", 1, 1000000),
    ROW_INT("TIXMO_RL_GENERAL_PER_IP", rl_general_per_ip, "1200", 1, 1000000),
    ROW_INT("TIXMO_RL_HOLDS_PER_USER", rl_holds_per_user, "10", 1, 1000000),
    ROW_STR("TIXMO_STRIPE_URL", stripe_url, "http://127.0.0.1:28111"),
    {"TIXMO_STRIPE_SECRET_KEY", SECRET, offsetof(struct tix_config, stripe_secret_key),
     "sk_test_tixmo_dev_0123456789", 8, 0, NULL},
    {"TIXMO_STRIPE_WEBHOOK_SECRET", SECRET, offsetof(struct tix_config, stripe_webhook_secret),
     "whsec_tixmo_dev_0123456789abcdef", 16, 0, NULL},
    ROW_INT("TIXMO_STRIPE_TIMEOUT_MS", stripe_timeout_ms, "10000", 100, 120000),
    ROW_INT("TIXMO_STRIPE_ATTEMPTS", stripe_attempts, "3", 1, 10),
    ROW_INT("TIXMO_REFUND_ATTEMPTS", refund_attempts, "10", 1, 100),
    ROW_INT("TIXMO_PAYMENT_INTENT_ROUNDS", intent_rounds, "8", 1, 100),
    ROW_INT("TIXMO_STRIPE_WEBHOOK_TOLERANCE", webhook_tolerance_s, "300", 1, 86400),
    {"TIXMO_TICKET_KEY", HEX32, offsetof(struct tix_config, ticket_key),
     "7469786d6f2d6465762d7469636b65742d6b65792d6e6f742d666f722d70726f", 0, 0, NULL},
    {"TIXMO_SMTP_URL", URL, offsetof(struct tix_config, smtp_url), "smtp://127.0.0.1:28125", 0, 0,
     "smtp|smtps"},
    {"TIXMO_MAIL_FROM", MAILBOX, offsetof(struct tix_config, mail_from), "tickets@tixmo.test", 0, 0,
     NULL},
    {"TIXMO_APP_URL", URL, offsetof(struct tix_config, app_url), "http://127.0.0.1:28080", 0, 0,
     "http|https"},
    ROW_INT("TIXMO_SMTP_TIMEOUT_MS", smtp_timeout_ms, "15000", 100, 300000),
};

/* Whether v is "<scheme>://<host>..." with a scheme of the "a|b" list and a host. */
static bool is_url(const char *v, const char *schemes)
{
    const char *sep = strstr(v, "://");
    if (sep == NULL || sep == v || sep[3] == '\0' || sep[3] == '/' || strpbrk(v, " \t\r\n"))
        return false;
    size_t n = (size_t)(sep - v);
    for (const char *s = schemes; *s != '\0';) {
        size_t len = strcspn(s, "|");
        if (len == n && strncmp(s, v, n) == 0)
            return true;
        s += len + (s[len] == '|');
    }
    return false;
}

/* Whether v is a plain address: one '@' between a local part and a dotted domain, no spaces
 * or header characters (it goes into a mail header). */
static bool is_mailbox(const char *v)
{
    const char *at = strchr(v, '@');
    return at != NULL && at != v && strchr(at + 1, '@') == NULL && strchr(at + 1, '.') != NULL &&
           at[1] != '.' && v[strlen(v) - 1] != '.' && strlen(v) <= 254 &&
           strpbrk(v, " \t\r\n<>,;:\"()[]\\") == NULL;
}

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
    if (r->kind == SECRET && strlen(v) < (size_t)r->min) {
        fprintf(stderr, "config: %s must be at least %ld bytes\n", r->name, r->min);
        return 1;
    }
    if (r->kind == HEX32 && (strlen(v) != 64 || strspn(v, "0123456789abcdef") != 64)) {
        fprintf(stderr, "config: %s must be 64 lowercase hex characters\n", r->name);
        return 1;
    }
    if (r->kind == URL && !is_url(v, r->schemes)) {
        fprintf(stderr, "config: %s must be a %s:// URL with a host (got \"%s\")\n", r->name,
                r->schemes, v);
        return 1;
    }
    if (r->kind == MAILBOX && !is_mailbox(v)) {
        fprintf(stderr, "config: %s must be an email address like name@example.org\n", r->name);
        return 1;
    }
    if (r->kind != INT && r->kind != LEVEL) {
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
        if (rows[i].kind != INT && rows[i].kind != LEVEL) {
            char **p = (char **)((char *)cfg + rows[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}
