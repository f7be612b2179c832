/* sale_http.c - helpers shared by the sale's handlers (see sale_http.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tix/json.h"

#include "sale_http.h"

void tix_sale_submit(struct tix_req *req, const char *event_id, json_t *payload,
                     struct tix_gw_command *cmd)
{
    json_object_set_new(payload, "event_id", json_string(event_id));
    cmd->key = event_id;
    cmd->payload = payload;
    tix_gw_submit(req, cmd);
}

bool tix_sale_only_session(struct tix_req *req, const char *event, char out[TIX_UUID_LEN + 1])
{
    const char *params[] = {event};
    PGresult *res = NULL;
    if (!tix_gw_read(req,
                     "SELECT s.session_id FROM rm.event_sessions s JOIN rm.events e"
                     " ON e.id = s.event_id AND NOT e.is_deleted WHERE s.event_id = $1::uuid"
                     " ORDER BY s.starts_at LIMIT 2",
                     1, params, &res))
        return false;
    int n = PQntuples(res);
    if (n == 1)
        snprintf(out, TIX_UUID_LEN + 1, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (n == 0)
        tix_gw_problem(req, 404, "not-found", "no such event");
    else if (n > 1)
        tix_gw_invalid(req, "session_id", "is required: the event has several sessions");
    return n == 1;
}

json_t *tix_sale_result(const json_t *outcome)
{
    const json_t *r = json_object_get(outcome, "result");
    return json_is_object(r) ? json_deep_copy(r) : json_object();
}

void tix_sale_random_id(char out[TIX_UUID_LEN + 1])
{
    unsigned char raw[16];
    randombytes_buf(raw, sizeof(raw));
    tix_uuid_format(raw, 4, out); /* version 4: random */
}

void tix_sale_json_free(void *ctx)
{
    json_decref(ctx);
}

bool tix_sale_find_hold(struct tix_req *req, const char *hold_id, const char *event_id,
                        char hold[TIX_UUID_LEN + 1], char event[TIX_UUID_LEN + 1])
{
    if (hold_id != NULL && event_id != NULL) { /* the aggregate checks it is theirs */
        snprintf(hold, TIX_UUID_LEN + 1, "%s", hold_id);
        snprintf(event, TIX_UUID_LEN + 1, "%s", event_id);
        return true;
    }
    const char *params[] = {req->who.id, hold_id, event_id};
    PGresult *res = NULL;
    if (!tix_gw_read(
            req,
            "SELECT id, event_id FROM rm.holds WHERE buyer_id = $1 AND " TIX_SQL_HOLD_IS_ACTIVE
            " AND ($2::uuid IS NULL OR id = $2::uuid)"
            " AND ($3::uuid IS NULL OR event_id = $3::uuid) ORDER BY created_at LIMIT 2",
            3, params, &res))
        return false;
    int n = PQntuples(res);
    if (n >= 1) {
        snprintf(hold, TIX_UUID_LEN + 1, "%s", PQgetvalue(res, 0, 0));
        snprintf(event, TIX_UUID_LEN + 1, "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    if (n == 0)
        tix_gw_problem(req, 404, "not-found",
                       hold_id != NULL ? "no such hold in your cart" : "your cart is empty");
    else if (n > 1)
        tix_gw_invalid(req, "hold_id", "is required: your cart holds several holds");
    return n == 1;
}

bool tix_sale_enum_param(struct tix_req *req, const char *name, const char *const *allowed,
                         char **out)
{
    *out = tix_gw_query(req, name);
    for (int i = 0; *out != NULL && allowed[i] != NULL; i++)
        if (strcmp(*out, allowed[i]) == 0)
            return true;
    if (*out == NULL)
        return true;
    free(*out);
    *out = NULL;
    char message[256] = "must be one of:";
    for (int i = 0; allowed[i] != NULL; i++) {
        size_t n = strlen(message);
        snprintf(message + n, sizeof(message) - n, "%s %s", i > 0 ? "," : "", allowed[i]);
    }
    tix_gw_invalid(req, name, message);
    return false;
}

bool tix_sale_uuid_param(struct tix_req *req, const char *name, char **out)
{
    *out = tix_gw_query(req, name);
    if (*out == NULL || tix_uuid_is_valid(*out))
        return true;
    free(*out);
    *out = NULL;
    tix_gw_invalid(req, name, "must be a UUID");
    return false;
}

bool tix_sale_body_hold(struct tix_req *req, char hold[TIX_UUID_LEN + 1],
                        char event[TIX_UUID_LEN + 1])
{
    static const struct tix_field fields[] = {{"hold_id", TIX_F_UUID, false, 0, 0},
                                              {"event_id", TIX_F_UUID, false, 0, 0},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = req->body.len > 0 ? tix_gw_body(req, fields) : json_object();
    if (body == NULL)
        return false;
    bool is_found = tix_sale_find_hold(req, tix_json_str(body, "hold_id"),
                                       tix_json_str(body, "event_id"), hold, event);
    json_decref(body);
    return is_found;
}

void tix_sale_reply_items(struct tix_req *req, PGresult *res)
{
    const char *text = PQgetvalue(res, 0, 0);
    json_t *items = tix_json_parse(text, strlen(text), NULL);
    PQclear(res);
    tix_gw_reply_json(req, 200, json_pack("{so}", "items", items ? items : json_array()));
}
