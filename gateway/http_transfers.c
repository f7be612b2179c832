/* http_transfers.c - ticket transfers offered to an email, seen and accepted by its owner
 *
 * POST /tickets/{id}/transfer (http_tickets.c) offers a ticket to an email's blind index without
 * looking the email up, so it answers the same for every email. The offer waits in the sale read
 * model (rm.ticket_transfers) until the owner of that email, once verified, lists it (GET
 * /users/me/ticket-transfers) and accepts it (POST /ticket-transfers/{id}/accept:
 * ticket.claim_transfer with a new random ticket id, answered with the decision). Somebody who
 * registers the email later sees the offer the same way. A caller whose email is not verified
 * gets 403 (email-not-verified) on both; an offer made to another email is 404, as is an
 * unknown one, so nobody learns what was offered to whom.
 */
#include <stdio.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/pii.h"

#include "gateway.h"
#include "routes.h"
#include "sale_http.h"

/* The caller's email blind index into index when the email is verified; false after answering
 * 403 (not verified) or 404 (no account row yet). */
static bool verified_index(struct tix_req *req, char index[TIX_PII_BLIND_INDEX_SIZE])
{
    const char *params[] = {req->who.id};
    PGresult *res = NULL;
    if (!tix_gw_read(req,
                     "SELECT email_index, email_verified FROM rm.users WHERE id = $1"
                     " AND NOT is_erased AND email_index IS NOT NULL",
                     1, params, &res))
        return false;
    bool is_found = PQntuples(res) == 1;
    bool is_verified = is_found && strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    if (is_verified)
        snprintf(index, TIX_PII_BLIND_INDEX_SIZE, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (!is_found)
        tix_gw_problem(req, 404, "not-found", "no account for this caller");
    else if (!is_verified)
        tix_gw_problem(req, 403, "email-not-verified", "verify your email to receive tickets");
    return is_verified;
}

void tix_http_ticket_transfers_list(struct tix_req *req)
{
    char index[TIX_PII_BLIND_INDEX_SIZE];
    if (!verified_index(req, index))
        return;
    const char *params[] = {index};
    PGresult *res = NULL;
    if (!tix_gw_read(req,
                     "SELECT COALESCE(json_agg(json_build_object('id', x.id, 'status', x.status,"
                     " 'offered_at', x.offered_at, 'ticket', " TIX_SALE_TICKET_JSON
                     ") ORDER BY x.offered_at, x.id), '[]')::text FROM (SELECT * FROM"
                     " rm.ticket_transfers WHERE to_email_index = $1 AND status = 'pending'"
                     " ORDER BY offered_at LIMIT 100) x JOIN rm.tickets k ON k.id = x.ticket_id"
                     " AND k.status = 'valid'",
                     1, params, &res))
        return;
    tix_sale_reply_items(req, res);
}

void tix_http_ticket_transfer_accept(struct tix_req *req)
{
    const char *id = tix_gw_param(req, "id");
    char index[TIX_PII_BLIND_INDEX_SIZE], event[TIX_UUID_LEN + 1], ticket[TIX_UUID_LEN + 1];
    if (!tix_uuid_is_valid(id)) {
        tix_gw_problem(req, 404, "not-found", "no such transfer");
        return;
    }
    if (!verified_index(req, index))
        return;
    const char *params[] = {id, index};
    PGresult *res = NULL;
    if (!tix_gw_read(req,
                     "SELECT event_id FROM rm.ticket_transfers WHERE id = $1"
                     " AND to_email_index = $2",
                     2, params, &res))
        return;
    bool is_found = PQntuples(res) == 1;
    if (is_found)
        snprintf(event, sizeof(event), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (!is_found) {
        tix_gw_problem(req, 404, "not-found", "no such transfer");
        return;
    }
    tix_sale_random_id(ticket);
    struct tix_gw_command cmd = {
        .type = "ticket.claim_transfer", .success_status = 200, .force_wait_s = TIX_SALE_WAIT_S};
    tix_sale_submit(req, event,
                    json_pack("{ss ss ss}", "transfer_id", id, "new_ticket_id", ticket,
                              "to_email_index", index),
                    &cmd);
}
