/* consumer.c - the loop of a worker that consumes one queue of events (see consumer.h) */
#include <unistd.h>

#include "tix/consumer.h"
#include "tix/log.h"

/* How long an idle worker waits for a delivery before it looks at the stop flag again. */
#define IDLE_WAIT_MS 100

bool tix_consumer_pause_ms(struct tix_consumer *c, int ms)
{
    for (int waited = 0; waited < ms && !*c->stop; waited += 200) {
        usleep(200000);
        struct tix_err err;
        if (!c->is_bus_broken && tix_bus_poll(c->bus, &err) != TIX_OK)
            c->is_bus_broken = true;
    }
    return !*c->stop;
}

void tix_consumer_finish(struct tix_consumer *c, const struct tix_bus_delivery *d, enum tix_rc rc,
                         const struct tix_err *err)
{
    struct tix_err e;
    if (rc != TIX_OK) {
        tix_log_error("event dead-lettered", "type=%s message_id=%s rc=%s detail=\"%s\"",
                      d->routing_key, d->message_id ? d->message_id : "-", tix_rc_name(rc),
                      err->msg);
        rc = tix_bus_dead_letter(c->bus, d, c->queue, err->msg, &e);
    }
    if (rc == TIX_OK)
        rc = tix_bus_ack(c->bus, d->delivery_tag, false, &e);
    if (rc != TIX_OK)
        c->is_bus_broken = true;
}

void tix_consumer_delay(struct tix_consumer *c, const struct tix_bus_delivery *d,
                        const char *event_type, const char *delay_queue, int attempt)
{
    struct tix_bus_props props = {.message_id = d->message_id,
                                  .correlation_id = d->correlation_id,
                                  .type = event_type,
                                  .attempt = attempt};
    struct tix_err e;
    enum tix_rc rc =
        tix_bus_publish(c->bus, "", delay_queue, true, &props, d->body, d->body_len, &e);
    if (rc == TIX_OK)
        rc = tix_bus_wait_confirms(c->bus, TIX_BUS_DEAD_LETTER_TIMEOUT_MS, &e);
    if (rc == TIX_OK)
        rc = tix_bus_ack(c->bus, d->delivery_tag, false, &e);
    if (rc != TIX_OK) {
        tix_log_warn("event not set aside", "type=%s message_id=%s detail=\"%s\"", event_type,
                     d->message_id ? d->message_id : "-", e.msg);
        c->is_bus_broken = true;
    }
}

static void disconnect(struct tix_consumer *c)
{
    tix_bus_close(c->bus);
    c->bus = NULL;
    c->is_bus_broken = false;
}

static enum tix_rc connect_bus(struct tix_consumer *c, struct tix_err *err)
{
    enum tix_rc rc = tix_bus_open(c->cfg->amqp_url, c->service, &c->bus, err);
    if (rc == TIX_OK)
        rc = tix_bus_declare_topology(c->bus, c->cfg->partitions, c->cfg->delivery_limit, err);
    if (rc == TIX_OK)
        rc = tix_bus_consume(c->bus, c->queue, c->prefetch, err);
    if (rc != TIX_OK)
        disconnect(c);
    return rc;
}

/* One turn of the loop: (re)connect, then settle the next delivery if one comes. */
static void turn(struct tix_consumer *c)
{
    struct tix_err err;
    if (c->db == NULL && tix_db_open(c->cfg->db_url, &c->db, &err) != TIX_OK) {
        tix_log_warn("postgres unreachable, retrying", "detail=\"%s\"", err.msg);
        sleep(1);
        return;
    }
    if (c->bus == NULL && connect_bus(c, &err) != TIX_OK) {
        tix_log_warn("broker unreachable, retrying", "detail=\"%s\"", err.msg);
        sleep(1);
        return;
    }
    struct tix_bus_delivery d;
    enum tix_rc rc = tix_bus_next(c->bus, IDLE_WAIT_MS, &d, &err);
    if (rc == TIX_OK) {
        c->settle_cb(c, &d);
        tix_bus_delivery_deinit(&d);
    } else if (rc != TIX_ENOTFOUND) {
        c->is_bus_broken = true;
    }
    if (c->is_bus_broken) {
        tix_log_warn("broker connection lost, reconnecting", NULL);
        disconnect(c);
    }
}

void tix_consumer_run(struct tix_consumer *c)
{
    while (!*c->stop)
        turn(c);
    disconnect(c);
    tix_db_close(c->db);
    c->db = NULL;
}
