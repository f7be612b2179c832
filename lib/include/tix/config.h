/* config.h - the TIXMO_* environment, read and checked in one place
 *
 * tix_config_load() reads every variable of its table, reports every problem (not just the first)
 * to stderr, and fails if any was found. Strings in the struct are owned by it and freed by
 * tix_config_deinit().
 */
#ifndef TIX_CONFIG_H
#define TIX_CONFIG_H

#include "tix/rc.h"

struct tix_config {
    char *db_url;       /* TIXMO_DB_URL: the application role's connection string */
    char *db_admin_url; /* TIXMO_DB_ADMIN_URL: the owner role, for migrations */
    char *amqp_url;     /* TIXMO_AMQP_URL: amqp://user:pass@host:port/vhost */
    char *redis_url;    /* TIXMO_REDIS_URL: redis://host:port */
    char *schema_dir;   /* TIXMO_SCHEMA_DIR: folder of migrations (default: compiled-in) */
    int partitions;     /* TIXMO_PARTITIONS: fixed at install (default 16) */
    int batch_max;      /* TIXMO_BATCH_MAX: commands decided per transaction (default 256) */
    int prefetch;       /* TIXMO_PREFETCH: unacked deliveries per partition queue (default 512) */
    int delivery_limit; /* TIXMO_DELIVERY_LIMIT: redeliveries before dead-lettering (default 5) */
    int log_level;      /* TIXMO_LOG_LEVEL: debug|info|warn|error (default info) */
};

/* Fills cfg from the environment. Returns TIX_EINVAL after printing every problem found. */
enum tix_rc tix_config_load(struct tix_config *cfg, struct tix_err *err);
void tix_config_deinit(struct tix_config *cfg);

#endif
