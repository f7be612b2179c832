/* readmodel.c - reading read models from handlers: one query, one row answer, one ownership
 * check, shared by every resource file so that each says 503, 404 and 500 the same way */
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "gateway.h"

bool tix_gw_read(struct tix_req *req, const char *sql, int n, const char *const *params,
                 PGresult **res)
{
    if (tix_db_exec(req->th->db, sql, n, params, res, NULL) == TIX_OK)
        return true;
    tix_gw_problem(req, 503, "unavailable", "the read model can't be read right now");
    return false;
}

void tix_gw_reply_row(struct tix_req *req, PGresult *res, const char *what)
{
    if (PQntuples(res) == 0) {
        PQclear(res);
        tix_gw_problem(req, 404, "not-found", what);
        return;
    }
    const char *text = PQgetvalue(res, 0, 0);
    json_t *doc = tix_json_parse(text, strlen(text), NULL);
    PQclear(res);
    if (doc == NULL) {
        tix_gw_problem(req, 500, "internal", "the read model holds an unreadable row");
        return;
    }
    tix_gw_reply_json(req, 200, doc);
}

bool tix_gw_is_owned(struct tix_req *req, const char *param, const char *sql, const char *what)
{
    const char *id = tix_gw_param(req, param);
    if (!tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", what);
        return false;
    }
    const char *params[] = {id, tix_gw_param(req, "id")};
    PGresult *res = NULL;
    if (!tix_gw_read(req, sql, 2, params, &res))
        return false;
    bool is_own = PQntuples(res) == 1;
    PQclear(res);
    if (!is_own)
        tix_gw_problem(req, 404, "not-found", what);
    return is_own;
}
