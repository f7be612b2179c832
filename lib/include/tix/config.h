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
    char *db_url;         /* TIXMO_DB_URL: the application role's connection string */
    char *db_admin_url;   /* TIXMO_DB_ADMIN_URL: the owner role, for migrations */
    char *amqp_url;       /* TIXMO_AMQP_URL: amqp://user:pass@host:port/vhost */
    char *redis_url;      /* TIXMO_REDIS_URL: redis://host:port */
    int redis_timeout_ms; /* TIXMO_REDIS_TIMEOUT_MS: per call, then local fallback (250) */
    char *schema_dir;     /* TIXMO_SCHEMA_DIR: folder of migrations (default: compiled-in) */
    int partitions;       /* TIXMO_PARTITIONS: fixed at install (default 16) */
    int batch_max;        /* TIXMO_BATCH_MAX: commands decided per transaction (default 256) */
    int prefetch;         /* TIXMO_PREFETCH: unacked deliveries per partition queue (default 512) */
    int delivery_limit;   /* TIXMO_DELIVERY_LIMIT: redeliveries before dead-lettering (default 5) */
    int clock_offset_s;   /* TIXMO_CLOCK_OFFSET_S: seconds the processor's clock runs ahead of
                             the wall clock (0; tests of deadlines only, never in production) */
    int log_level;        /* TIXMO_LOG_LEVEL: debug|info|warn|error (default info) */
    /* gateway */
    char *http_host;     /* TIXMO_HTTP_HOST (default 127.0.0.1) */
    int http_port;       /* TIXMO_HTTP_PORT (default 28080) */
    int http_threads;    /* TIXMO_HTTP_THREADS: event-loop threads, 0 = one per core */
    int http_max_body;   /* TIXMO_HTTP_MAX_BODY: bytes (default 65536) */
    int http_timeout_s;  /* TIXMO_HTTP_TIMEOUT: read/write timeout, seconds (default 30) */
    int wait_max_s;      /* TIXMO_WAIT_MAX: cap of Prefer: wait=N, seconds (default 10) */
    int gw_cache_ttl_ms; /* TIXMO_GW_CACHE_TTL_MS: oldest cached read-model row, 0 = no cache
                            (default 5000; notifications drop changed rows sooner) */
    /* identity */
    char *jwt_secret;    /* TIXMO_JWT_SECRET: HS256 key, at least 32 bytes */
    char *pii_key;       /* TIXMO_PII_KEY: 64 hex chars, wraps per-subject keys */
    int access_ttl_s;    /* TIXMO_ACCESS_TTL: access token lifetime (default 900) */
    int refresh_ttl_s;   /* TIXMO_REFRESH_TTL: refresh token lifetime (default 2592000) */
    int refresh_grace_s; /* TIXMO_REFRESH_GRACE_S: a just-rotated refresh token may be presented
                            again this long for the same successor (default 10; 0: never) */
    /* rate limits, requests per minute */
    int rl_auth_per_ip;      /* TIXMO_RL_AUTH_PER_IP (default 20) */
    int rl_general_per_user; /* TIXMO_RL_GENERAL_PER_USER (default 600) */
    int rl_general_per_ip;   /* TIXMO_RL_GENERAL_PER_IP (default 1200) */
    int rl_holds_per_user;   /* TIXMO_RL_HOLDS_PER_USER (default 10) */
    /* payments (workers/payment, the gateway's webhook) */
    char *stripe_url;        /* TIXMO_STRIPE_URL: Stripe's API base (default the dev stand-in) */
    char *stripe_secret_key; /* TIXMO_STRIPE_SECRET_KEY: sk_... sent as Bearer */
    char *stripe_webhook_secret; /* TIXMO_STRIPE_WEBHOOK_SECRET: whsec_..., signs webhooks */
    int stripe_timeout_ms;       /* TIXMO_STRIPE_TIMEOUT_MS: one HTTP attempt (default 10000) */
    int stripe_attempts;         /* TIXMO_STRIPE_ATTEMPTS: tries per call on 5xx/network (3) */
    int refund_attempts;         /* TIXMO_REFUND_ATTEMPTS: rounds of those tries per refund (10) */
    int intent_rounds;           /* TIXMO_PAYMENT_INTENT_ROUNDS: rounds per PaymentIntent (8) */
    int webhook_tolerance_s;     /* TIXMO_STRIPE_WEBHOOK_TOLERANCE: signature age (default 300) */
    /* tickets */
    char *ticket_key; /* TIXMO_TICKET_KEY: 64 hex chars, derives each event's signing key */
    /* email (workers/email) */
    char *smtp_url;      /* TIXMO_SMTP_URL: smtp://host:port or smtps://... (default the dev
                            stand-in, maildev) */
    char *mail_from;     /* TIXMO_MAIL_FROM: the sender's address (default tickets@tixmo.test) */
    char *app_url;       /* TIXMO_APP_URL: http(s) base of the links in mails (default the dev
                            gateway) */
    int smtp_timeout_ms; /* TIXMO_SMTP_TIMEOUT_MS: one SMTP conversation (default 15000) */
};

/* Fills cfg from the environment. Returns TIX_EINVAL after printing every problem found. */
enum tix_rc tix_config_load(struct tix_config *cfg, struct tix_err *err);
void tix_config_deinit(struct tix_config *cfg);

#endif
