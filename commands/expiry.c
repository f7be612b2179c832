/* expiry.c - hold.expire commands for what the sale read model says is due (see expiry.h) */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "client.h"
#include "envelope.h"
#include "expiry.h"

/* Per event: the due (hold id, expires_at) pairs, as one text in a fixed order. Orders are
 * named by their hold. */
static const char due_sql[] =
    "SELECT d.event_id, string_agg(d.hold_id::text || '@' || d.at, ',' ORDER BY d.hold_id)"
    " FROM (SELECT h.event_id, h.id AS hold_id, (extract(epoch FROM h.expires_at))::bigint AS at"
    " FROM rm.holds h WHERE h.state = 'active' AND h.expires_at <= to_timestamp($1::bigint)"
    " UNION ALL SELECT o.event_id, o.hold_id, (extract(epoch FROM o.expires_at))::bigint"
    " FROM rm.orders o WHERE o.status = 'pending_payment' AND o.hold_id IS NOT NULL"
    " AND o.expires_at <= to_timestamp($1::bigint)) d"
    " GROUP BY d.event_id ORDER BY d.event_id LIMIT $2::int";

/* "clock.expire.<event>.<32 hex of BLAKE2b-128(event, due)>". */
static void command_id(const char *event, const char *due, char out[96])
{
    unsigned char h[16];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const unsigned char *)event, strlen(event) + 1);
    crypto_generichash_update(&st, (const unsigned char *)due, strlen(due));
    crypto_generichash_final(&st, h, sizeof(h));
    char hex[33];
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    snprintf(out, 96, "clock.expire.%s.%s", event, hex);
}

static enum tix_rc send_expire(struct tix_bus *bus, int partitions, const char *event,
                               const char *due, struct tix_err *err)
{
    char id[96];
    command_id(event, due, id);
    json_t *payload = json_pack("{ss}", "event_id", event);
    char *body = tix_envelope_encode(id, "hold.expire", event, payload, "system:clock", id, NULL,
                                     "processor");
    json_decref(payload);
    enum tix_rc rc = tix_client_send(bus, partitions, id, "hold.expire", event, body, false, err);
    free(body);
    return rc;
}

enum tix_rc tix_expiry_sweep(struct tix_db *db, struct tix_bus *bus, int partitions, int64_t now_us,
                             int *sent, struct tix_err *err)
{
    *sent = 0;
    char now[24], limit[16];
    snprintf(now, sizeof(now), "%lld", (long long)(now_us / 1000000));
    snprintf(limit, sizeof(limit), "%d", TIX_EXPIRY_MAX_EVENTS);
    const char *params[] = {now, limit};
    PGresult *res = NULL;
    enum tix_rc rc = tix_db_exec(db, due_sql, 2, params, &res, err);
    if (rc == TIX_ENOTFOUND || (rc != TIX_OK && strstr(err->msg, "42P01") != NULL))
        return TIX_OK; /* the sale read model does not exist yet: nothing can be due */
    for (int i = 0; rc == TIX_OK && i < PQntuples(res); i++) {
        rc = send_expire(bus, partitions, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), err);
        *sent += rc == TIX_OK;
    }
    PQclear(res);
    return rc;
}
