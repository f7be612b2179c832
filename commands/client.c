/* client.c - publish a command with confirms, await its reply */
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "client.h"
#include "envelope.h"

enum tix_rc tix_client_send(struct tix_bus *bus, int partitions, const char *command_id,
                            const char *type, const char *key, const char *body, bool want_reply,
                            struct tix_err *err)
{
    char rk[8];
    tix_bus_partition_key((int)tix_partition_of(key, strlen(key), (uint32_t)partitions), rk,
                          sizeof(rk));
    struct tix_bus_props props = {
        .message_id = command_id,
        .type = type,
        .reply_to = want_reply ? TIX_BUS_REPLY_TO : NULL,
    };
    enum tix_rc rc =
        tix_bus_publish(bus, TIX_BUS_COMMANDS_EXCHANGE, rk, true, &props, body, strlen(body), err);
    if (rc != TIX_OK)
        return rc;
    return tix_bus_wait_confirms(bus, 10000, err);
}

enum tix_rc tix_client_wait_reply(struct tix_bus *bus, const char *command_id, int timeout_ms,
                                  json_t **outcome, struct tix_err *err)
{
    *outcome = NULL;
    int64_t deadline = tix_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - tix_mono_ms();
        if (left < 0)
            left = 0;
        struct tix_bus_delivery d;
        enum tix_rc rc = tix_bus_next(bus, (int)left, &d, err);
        if (rc != TIX_OK)
            return rc;
        bool mine = d.correlation_id != NULL && strcmp(d.correlation_id, command_id) == 0;
        if (mine)
            *outcome = tix_json_parse(d.body, d.body_len, err);
        tix_bus_delivery_deinit(&d);
        if (mine)
            return *outcome != NULL ? TIX_OK : TIX_EINTERNAL;
    }
}

enum tix_rc tix_client_call(struct tix_bus *bus, int partitions, const char *command_id,
                            const char *type, const char *key, const json_t *payload,
                            const char *actor, int timeout_ms, json_t **outcome,
                            struct tix_err *err)
{
    char id[TIX_UUID_LEN + 1];
    if (command_id == NULL) {
        tix_uuid_v7(id);
        command_id = id;
    }
    char *body = tix_envelope_encode(command_id, type, key, payload, actor, NULL, NULL, "cli");
    enum tix_rc rc = tix_client_send(bus, partitions, command_id, type, key, body, true, err);
    free(body);
    if (rc != TIX_OK) {
        *outcome = NULL;
        return rc;
    }
    return tix_client_wait_reply(bus, command_id, timeout_ms, outcome, err);
}
