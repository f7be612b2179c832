/* readmodel.c - reading read models from handlers: one query, one row answer, one ownership
 * check, one kind of page, shared by every resource file so that each says 503, 404 and 500
 * the same way
 *
 * Pages are keyset pages, newest first: ?limit (1..100, default 20) and an opaque ?cursor,
 * base64url of "<sort key in Unix microseconds>|<id>" of the last row shown, checked (digits,
 * range, UUID) before it reaches SQL.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
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

#define PAGE_LIMIT_DEFAULT 20
#define PAGE_LIMIT_MAX     100
#define CURSOR_MAX_US      253402300799000000LL /* 9999-12-31T23:59:59Z */

void tix_gw_invalid(struct tix_req *req, const char *field, const char *message)
{
    tix_gw_problem_fields(req, 422, "the request has invalid fields",
                          json_pack("[{ss ss}]", "field", field, "message", message));
}

/* Reads ?limit; false after answering 422. */
static bool parse_limit(struct tix_req *req, struct tix_gw_page *page)
{
    char *v = tix_gw_query(req, "limit");
    long n = PAGE_LIMIT_DEFAULT;
    bool is_ok = true;
    if (v != NULL) {
        char *end = NULL;
        n = strtol(v, &end, 10);
        is_ok = v[0] >= '0' && v[0] <= '9' && *end == '\0' && n >= 1 && n <= PAGE_LIMIT_MAX;
        free(v);
    }
    if (!is_ok) {
        tix_gw_invalid(req, "limit", "must be an integer from 1 to 100");
        return false;
    }
    page->limit = n;
    return true;
}

/* Reads ?cursor; false after answering 422. */
static bool parse_cursor(struct tix_req *req, struct tix_gw_page *page)
{
    char *v = tix_gw_query(req, "cursor");
    if (v == NULL)
        return true;
    size_t len = 0;
    bool is_ok =
        sodium_base642bin((unsigned char *)page->after, sizeof(page->after) - 1, v, strlen(v), NULL,
                          &len, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0;
    free(v);
    char *bar = NULL;
    if (is_ok) {
        page->after[len] = '\0';
        bar = strchr(page->after, '|');
        char *end = NULL;
        long long us = bar != NULL ? strtoll(page->after, &end, 10) : -1;
        is_ok = bar != NULL && end == bar && bar != page->after && us >= 0 && us <= CURSOR_MAX_US &&
                tix_uuid_is_valid(bar + 1);
    }
    if (!is_ok) {
        tix_gw_invalid(req, "cursor", "is not a cursor from this list");
        return false;
    }
    *bar = '\0';
    page->after_us = page->after;
    page->after_id = bar + 1;
    return true;
}

bool tix_gw_page_params(struct tix_req *req, struct tix_gw_page *page)
{
    memset(page, 0, sizeof(*page));
    return parse_limit(req, page) && parse_cursor(req, page);
}

/* The cursor after row i of res (columns: sort key in Unix microseconds, id). */
static json_t *cursor_after(PGresult *res, int i)
{
    char raw[128], out[200];
    int n = snprintf(raw, sizeof(raw), "%s|%s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
    if (n < 0 || (size_t)n >= sizeof(raw))
        return json_null();
    sodium_bin2base64(out, sizeof(out), (const unsigned char *)raw, (size_t)n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return json_string(out);
}

void tix_gw_reply_page(struct tix_req *req, PGresult *res, long limit)
{
    json_t *items = json_array();
    int rows = PQntuples(res);
    int shown = rows > limit ? (int)limit : rows;
    for (int i = 0; i < shown; i++) {
        const char *text = PQgetvalue(res, i, 2);
        json_t *e = tix_json_parse(text, strlen(text), NULL);
        if (e != NULL)
            json_array_append_new(items, e);
    }
    json_t *next = rows > limit && shown > 0 ? cursor_after(res, shown - 1) : json_null();
    PQclear(res);
    tix_gw_reply_json(req, 200, json_pack("{so so}", "items", items, "next_cursor", next));
}
