/* http_commands.c - GET /api/v1/commands/{id}: a command's status, for its issuer only
 *
 * Decided commands come from the command status read model (status, resulting streams and
 * versions, or the rejection's reason). A command the broker confirmed but the processor has
 * not decided yet is "accepted": the gateway noted its issuer in Redis when it published it.
 * Anybody but the issuer gets 404, as for an unknown id.
 */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"
#include "tix/redis.h"

#include "gateway.h"
#include "routes.h"

static bool accepted_by(struct tix_req *req, const char *id)
{
    redisReply *r = NULL;
    bool mine = false;
    if (req->th->redis != NULL &&
        tix_redis_cmd(req->th->redis, &r, NULL, "GET tix:cmd:%s", id) == TIX_OK && r != NULL &&
        r->type == REDIS_REPLY_STRING)
        mine = strcmp(r->str, req->who.actor) == 0;
    if (r != NULL)
        freeReplyObject(r);
    return mine;
}

void tix_http_command_get(struct tix_req *req)
{
    const char *id = tix_gw_param(req, "id");
    const char *params[] = {id, req->who.actor};
    PGresult *res = NULL;
    if (tix_db_exec(req->th->db,
                    "SELECT status, command_type, outcome::text, decided_at FROM "
                    "rm.command_status WHERE command_id = $1 AND actor = $2",
                    2, params, &res, NULL) != TIX_OK) {
        tix_gw_problem(req, 503, "unavailable", "command status can't be read right now");
        return;
    }
    if (PQntuples(res) == 1) {
        json_t *outcome =
            tix_json_parse(PQgetvalue(res, 0, 2), strlen(PQgetvalue(res, 0, 2)), NULL);
        json_t *body =
            json_pack("{ss ss ss ss}", "command_id", id, "status", PQgetvalue(res, 0, 0), "type",
                      PQgetvalue(res, 0, 1), "decided_at", PQgetvalue(res, 0, 3));
        const char *keys[] = {"events", "result", "reason"};
        for (int i = 0; i < 3; i++)
            if (json_object_get(outcome, keys[i]) != NULL)
                json_object_set(body, keys[i], json_object_get(outcome, keys[i]));
        json_decref(outcome);
        PQclear(res);
        tix_gw_reply_json(req, 200, body);
        return;
    }
    PQclear(res);
    if (accepted_by(req, id))
        tix_gw_reply_json(req, 200, json_pack("{ss ss}", "command_id", id, "status", "accepted"));
    else
        tix_gw_problem(req, 404, "not-found", "no such command");
}
