/* sessions.c - read model of refresh-token families
 *
 * Table sessions: one row per family with its user, the current refresh-token hash and expiry,
 * whether and why it was revoked, the user agent and encrypted address it started from, and the
 * family stream's version. The gateway reads it to list a user's sessions and to refuse a
 * refresh early; the session aggregate decides (rotation, reuse detection, revocation by a
 * password change). Only the current hash is kept here: the refresh token a client holds should
 * carry its family id (e.g. "<family_id>.<secret>") so that the gateway can name the family even
 * for an old, rotated token, which is how reuse gets detected.
 *
 * Besides the session.* events, two user events touch every family of a user:
 * user.sessions_revoked (password change or reset) revokes them, and user.erased revokes them
 * and forgets their user agent and address. Both are in the same partition as the families
 * (sessions are keyed by the user id), so the order of application is the order of the log.
 * Times come from recorded_at: a replay from zero writes identical rows.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "projection.h"

static const char ddl[] =
    "CREATE TABLE IF NOT EXISTS sessions ("
    " family_id uuid PRIMARY KEY, user_id uuid NOT NULL, current_hash text NOT NULL,"
    " expires_at timestamptz NOT NULL, is_revoked boolean NOT NULL DEFAULT false,"
    " revoked_reason text, user_agent text, ip_enc text, created_at timestamptz NOT NULL,"
    " updated_at timestamptz NOT NULL, version bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);"
    /* gateways cache whether a family is revoked (gateway/auth.c): tell them when it changes */
    "CREATE OR REPLACE TRIGGER sessions_notify AFTER INSERT OR UPDATE OR DELETE ON sessions"
    " FOR EACH ROW EXECUTE FUNCTION public.tix_rm_notify('family_id');";

static const char *const tables[] = {"sessions", NULL};

static void on_session(const char *type, const json_t *d, const char *at, const char *ver,
                       struct tix_stmts *out)
{
    const char *family = tix_json_str(d, "family_id");
    char exp[24];
    snprintf(exp, sizeof(exp), "%" PRId64, tix_json_int(d, "expires_at", 0));
    if (strcmp(type, "session.started") == 0)
        tix_stmts_add(out,
                      "INSERT INTO sessions (family_id, user_id, current_hash, expires_at,"
                      " user_agent, ip_enc, created_at, updated_at, version) VALUES ($1, $2, $3,"
                      " to_timestamp($4::bigint), $5, $6, $7, $7, $8)"
                      " ON CONFLICT (family_id) DO NOTHING",
                      8, family, tix_json_str(d, "user_id"), tix_json_str(d, "token_hash"), exp,
                      tix_json_str(d, "user_agent"), tix_json_str(d, "ip_enc"), at, ver);
    else if (strcmp(type, "session.rotated") == 0)
        tix_stmts_add(
            out,
            "UPDATE sessions SET current_hash = $2, expires_at = to_timestamp($3::bigint),"
            " updated_at = $4, version = $5 WHERE family_id = $1",
            5, family, tix_json_str(d, "token_hash"), exp, at, ver);
    else if (strcmp(type, "session.revoked") == 0)
        tix_stmts_add(out,
                      "UPDATE sessions SET is_revoked = true, revoked_reason = CASE WHEN"
                      " is_revoked THEN revoked_reason ELSE $2 END, updated_at = $3, version = $4"
                      " WHERE family_id = $1",
                      4, family, tix_json_str(d, "reason"), at, ver);
}

static void on_user(const char *type, const json_t *d, const char *at, struct tix_stmts *out)
{
    const char *user = tix_json_str(d, "user_id");
    if (strcmp(type, "user.sessions_revoked") == 0) {
        tix_stmts_add(out,
                      "UPDATE sessions SET is_revoked = true, revoked_reason = $2, updated_at = $3"
                      " WHERE user_id = $1 AND NOT is_revoked",
                      3, user, tix_json_str(d, "reason"), at);
    } else {
        tix_stmts_add(out,
                      "UPDATE sessions SET is_revoked = true, revoked_reason = 'user_erased',"
                      " updated_at = $2 WHERE user_id = $1 AND NOT is_revoked",
                      2, user, at);
        tix_stmts_add(out,
                      "UPDATE sessions SET user_agent = NULL, ip_enc = NULL, updated_at = $2"
                      " WHERE user_id = $1",
                      2, user, at);
    }
}

static enum tix_rc apply(const struct tix_event *e, struct tix_stmts *out)
{
    bool is_session = strncmp(e->type, "session.", 8) == 0;
    bool is_user =
        strcmp(e->type, "user.sessions_revoked") == 0 || strcmp(e->type, "user.erased") == 0;
    if (!is_session && !is_user)
        return TIX_OK;
    json_t *d = tix_json_parse(e->data, strlen(e->data), NULL);
    if (d == NULL || !tix_uuid_is_valid(tix_json_str(d, "user_id")) ||
        (is_session && !tix_uuid_is_valid(tix_json_str(d, "family_id")))) {
        json_decref(d);
        return TIX_EINVAL;
    }
    char at[32], ver[24];
    tix_time_format(e->recorded_at_us, at);
    snprintf(ver, sizeof(ver), "%" PRId64, e->stream_version);
    if (is_session)
        on_session(e->type, d, at, ver, out);
    else
        on_user(e->type, d, at, out);
    json_decref(d);
    return TIX_OK;
}

const struct tix_projection tix_projection_sessions = {
    .name = "sessions",
    .source = TIX_SOURCE_EVENTS,
    .ddl = ddl,
    .tables = tables,
    .apply = apply,
};
