/* reactor.c - the runner of process managers (see reactor.h) and the venue-binding reactor
 *
 * pm_venue_binding: an event created with a venue asks that venue (another partition) to
 * record the binding (venue.bind_event, command id "pm.venue.bind.<event>"), so the venue can
 * refuse to be deleted while events use it and keeps the chart version each event chose; a
 * deleted draft that names its venue asks it to drop the binding (venue.unbind_event, command id
 * "pm.venue.unbind.<event>"), so the venue can be deleted afterwards. Commands to one venue
 * travel on its partition in log order, so an unbind never overtakes its bind. An event.deleted
 * recorded before it carried venue_id unbinds nothing: that venue stays bound.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "client.h"
#include "envelope.h"
#include "reactor.h"

static enum tix_rc venue_binding(const struct tix_event *e, json_t *out)
{
    bool is_created = strcmp(e->type, "event.created") == 0;
    if (!is_created && strcmp(e->type, "event.deleted") != 0)
        return TIX_OK;
    json_t *d = tix_json_parse(e->data, strlen(e->data), NULL);
    const char *event_id = tix_json_str(d, "event_id"), *venue = tix_json_str(d, "venue_id");
    enum tix_rc rc = tix_uuid_is_valid(event_id) ? TIX_OK : TIX_EINVAL;
    if (rc == TIX_OK && tix_uuid_is_valid(venue)) {
        char id[96];
        snprintf(id, sizeof(id), "pm.venue.%s.%s", is_created ? "bind" : "unbind", event_id);
        json_t *payload = json_pack("{ss ss}", "venue_id", venue, "event_id", event_id);
        if (is_created)
            json_object_set_new(payload, "chart_version",
                                json_integer(tix_json_int(d, "chart_version", 0)));
        json_array_append_new(out, json_pack("{ss ss ss so}", "command_id", id, "type",
                                             is_created ? "venue.bind_event" : "venue.unbind_event",
                                             "key", venue, "payload", payload));
    }
    json_decref(d);
    return rc;
}

static const struct tix_reactor venue_binding_reactor = {"pm_venue_binding", venue_binding};

const struct tix_reactor *const tix_reactors[] = {&venue_binding_reactor, NULL};

enum tix_rc tix_reactor_prepare(struct tix_db *db, const struct tix_reactor *r, int partitions,
                                struct tix_err *err)
{
    char n[16];
    snprintf(n, sizeof(n), "%d", partitions);
    const char *params[] = {r->name, n};
    return tix_db_exec(db,
                       "INSERT INTO public.projection_checkpoints (projection, version, partition) "
                       "SELECT $1, 1, generate_series(0, $2::int - 1) ON CONFLICT DO NOTHING",
                       2, params, NULL, err);
}

struct collect {
    const struct tix_reactor *r;
    json_t *commands;
    int64_t last_seq;
    struct tix_err *err;
};

static enum tix_rc collect_cb(const struct tix_event *e, void *arg)
{
    struct collect *c = arg;
    c->last_seq = e->partition_seq;
    enum tix_rc rc = c->r->react(e, c->commands);
    return rc == TIX_OK ? rc
                        : tix_err_set(c->err, rc, "", "%s cannot react to %s at %d/%" PRId64,
                                      c->r->name, e->type, e->partition, e->partition_seq);
}

/* Publishes every command of the batch and waits for the broker's confirms. */
static enum tix_rc publish_all(struct tix_bus *bus, int partitions, json_t *commands,
                               struct tix_err *err)
{
    size_t i;
    json_t *c;
    enum tix_rc rc = TIX_OK;
    json_array_foreach(commands, i, c)
    {
        const char *id = tix_json_str(c, "command_id"), *type = tix_json_str(c, "type");
        const char *key = tix_json_str(c, "key");
        char *body = tix_envelope_encode(id, type, key, json_object_get(c, "payload"),
                                         "system:process-manager", NULL, NULL, "projector");
        if (rc == TIX_OK)
            rc = tix_client_send(bus, partitions, id, type, key, body, false, err);
        free(body);
    }
    return rc;
}

enum tix_rc tix_reactor_step(struct tix_db *db, struct tix_bus *bus, int partitions,
                             const struct tix_reactor *r, int partition, int limit, int *applied,
                             struct tix_err *err)
{
    char p[16], old_seq[24], new_seq[24];
    snprintf(p, sizeof(p), "%d", partition);
    const char *key[] = {r->name, p};
    *applied = 0;
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_script(db, "BEGIN", err);
    if (rc == TIX_OK)
        rc = tix_db_exec(db,
                         "SELECT last_seq FROM public.projection_checkpoints WHERE projection = "
                         "$1 AND version = 1 AND partition = $2 FOR UPDATE SKIP LOCKED",
                         2, key, &res, err);
    if (rc != TIX_OK || PQntuples(res) != 1) { /* busy elsewhere, or not prepared */
        PQclear(res);
        tix_db_script(db, "ROLLBACK", NULL);
        return rc;
    }
    struct collect c = {r, json_array(), strtoll(PQgetvalue(res, 0, 0), NULL, 10), err};
    PQclear(res);
    snprintf(old_seq, sizeof(old_seq), "%" PRId64, c.last_seq);
    rc = tix_store_read_partition(db, partition, c.last_seq, limit, collect_cb, &c, applied, err);
    if (rc == TIX_OK && json_array_size(c.commands) > 0)
        rc = publish_all(bus, partitions, c.commands, err);
    json_decref(c.commands);
    snprintf(new_seq, sizeof(new_seq), "%" PRId64, c.last_seq);
    const char *params[] = {r->name, p, old_seq, new_seq};
    if (rc == TIX_OK && *applied > 0)
        rc = tix_db_exec(db,
                         "UPDATE public.projection_checkpoints SET last_seq = $4, updated_at = "
                         "now() WHERE projection = $1 AND version = 1 AND partition = $2 AND "
                         "last_seq = $3",
                         4, params, NULL, err);
    if (rc != TIX_OK) {
        *applied = 0;
        tix_db_script(db, "ROLLBACK", NULL);
        return rc;
    }
    return tix_db_script(db, "COMMIT", err);
}
