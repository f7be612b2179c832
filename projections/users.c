/* users.c - read model of user accounts
 *
 * Table users: one row per user stream, with what the gateway needs to log people in and show
 * their account: the email's blind index (for lookup by address), the encrypted email and name,
 * the password hash, verification and two-factor state, profile and preferences, and the stream
 * version. Personal fields are stored exactly as the log has them (ciphertexts); user.erased
 * sets every personal field to NULL (or its empty default), so the read model forgets what the
 * log can no longer decrypt. recovery_code_hashes lists the unused recovery codes only. Times
 * come from the events' recorded_at: a replay from zero writes identical rows.
 *
 * email_index is UNIQUE and set from the claim streams ("useremail-<index>"), not from
 * user.registered. Partitions are projected independently and in any order, so the claim of a
 * new owner of an address (partition B) may be applied before, or after, the claim and erasure
 * of its previous owner (partition A). The claim stream's version orders them: a row keeps the
 * version of the claim that gave it the index (email_claim_version, set exactly when
 * email_index is); a claim takes the index from rows holding it under an older claim and is
 * ignored when a newer claim holds it; a release (or erasure) drops both. Whatever order
 * partitions are applied in, the rows end the same, the index on the row of the latest live
 * claim; they are applied one at a time (is_cross_partition), so each claim sees the rows the
 * others committed. user.registered precedes user.email_claimed in the same
 * partition (one decision), so the row exists when its claim is applied.
 *
 * Events applied: those of user streams ("user-<id>"), and user.email_claimed and
 * user.email_released of claim streams, which do not touch version or updated_at (those follow
 * the user stream).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "projection.h"

static const char ddl[] =
    "CREATE TABLE IF NOT EXISTS users ("
    " id uuid PRIMARY KEY, email_index text UNIQUE, email_claim_version bigint,"
    " email_enc text, name_enc text,"
    " password_hash text, email_verified boolean NOT NULL DEFAULT false,"
    " is_erased boolean NOT NULL DEFAULT false, twofa_enabled boolean NOT NULL DEFAULT false,"
    " twofa_secret_enc text, twofa_pending_secret_enc text,"
    " recovery_code_hashes jsonb NOT NULL DEFAULT '[]', last_totp_step bigint, locale text,"
    " timezone text, preferences jsonb NOT NULL DEFAULT '{}', last_login_at timestamptz,"
    " erased_at timestamptz, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,"
    " version bigint NOT NULL);"
    /* the gateway caches profiles: tell it which changed (schema/008) */
    "CREATE OR REPLACE TRIGGER users_notify AFTER INSERT OR UPDATE OR DELETE ON users"
    " FOR EACH ROW EXECUTE FUNCTION public.tix_rm_notify('id');";

static const char *const tables[] = {"users", NULL};

/* Every event of a user stream also bumps the row's version and updated_at. */
static const char touch_sql[] =
    "UPDATE users SET version = $2, updated_at = $3 WHERE id = $1::uuid";

static void on_registered(const json_t *d, const char *at, const char *ver, struct tix_stmts *out)
{
    tix_stmts_add(out,
                  "INSERT INTO users (id, email_enc, name_enc, password_hash, created_at,"
                  " updated_at, version) VALUES ($1, $2, $3, $4, $5, $5, $6)"
                  " ON CONFLICT (id) DO NOTHING",
                  6, tix_json_str(d, "user_id"), tix_json_str(d, "email_enc"),
                  tix_json_str(d, "name_enc"), tix_json_str(d, "password_hash"), at, ver);
}

/* A claim stream's event; ver is its version in the claim stream (see the header). */
static void on_claim(const char *type, const json_t *d, const char *ver, struct tix_stmts *out)
{
    const char *id = tix_json_str(d, "user_id");
    const char *index = tix_json_str(d, "email_index");
    if (strcmp(type, "user.email_claimed") == 0) {
        tix_stmts_add(out,
                      "UPDATE users SET email_index = NULL, email_claim_version = NULL"
                      " WHERE email_index = $1 AND email_claim_version < $2::bigint",
                      2, index, ver);
        tix_stmts_add(out,
                      "UPDATE users SET email_index = $2, email_claim_version = $3::bigint"
                      " WHERE id = $1 AND NOT is_erased AND NOT EXISTS (SELECT 1 FROM users"
                      " WHERE email_index = $2 AND email_claim_version > $3::bigint)",
                      3, id, index, ver);
    } else if (strcmp(type, "user.email_released") == 0) {
        tix_stmts_add(out,
                      "UPDATE users SET email_index = NULL, email_claim_version = NULL"
                      " WHERE id = $1 AND email_index = $2 AND email_claim_version < $3::bigint",
                      3, id, index, ver);
    }
}

static void on_profile_updated(const json_t *d, struct tix_stmts *out)
{
    const char *id = tix_json_str(d, "user_id");
    if (json_object_get(d, "name_enc") != NULL)
        tix_stmts_add(out, "UPDATE users SET name_enc = $2 WHERE id = $1", 2, id,
                      tix_json_str(d, "name_enc"));
    if (json_object_get(d, "locale") != NULL)
        tix_stmts_add(out, "UPDATE users SET locale = $2 WHERE id = $1", 2, id,
                      tix_json_str(d, "locale"));
    if (json_object_get(d, "timezone") != NULL)
        tix_stmts_add(out, "UPDATE users SET timezone = $2 WHERE id = $1", 2, id,
                      tix_json_str(d, "timezone"));
}

static void on_2fa_enabled(const json_t *d, struct tix_stmts *out)
{
    char *codes = tix_json_dump(json_object_get(d, "recovery_code_hashes"));
    char step[24];
    snprintf(step, sizeof(step), "%" PRId64, tix_json_int(d, "step", -1));
    tix_stmts_add(out,
                  "UPDATE users SET twofa_enabled = true, twofa_secret_enc = $2,"
                  " twofa_pending_secret_enc = NULL, recovery_code_hashes = $3::jsonb,"
                  " last_totp_step = GREATEST(COALESCE(last_totp_step, -1), $4::bigint)"
                  " WHERE id = $1",
                  4, tix_json_str(d, "user_id"), tix_json_str(d, "secret_enc"), codes, step);
    free(codes);
}

static void on_erased(const json_t *d, const char *at, struct tix_stmts *out)
{
    tix_stmts_add(out,
                  "UPDATE users SET is_erased = true, erased_at = $2, email_index = NULL,"
                  " email_claim_version = NULL,"
                  " email_enc = NULL, name_enc = NULL, password_hash = NULL,"
                  " twofa_enabled = false, twofa_secret_enc = NULL,"
                  " twofa_pending_secret_enc = NULL, recovery_code_hashes = '[]', locale = NULL,"
                  " timezone = NULL, preferences = '{}', last_login_at = NULL WHERE id = $1",
                  2, tix_json_str(d, "user_id"), at);
}

/* Statements of the events that change one or two columns. */
static void on_simple(const char *type, const json_t *d, const char *at, struct tix_stmts *out)
{
    const char *id = tix_json_str(d, "user_id");
    char num[24];
    if (strcmp(type, "user.email_verified") == 0) {
        tix_stmts_add(out, "UPDATE users SET email_verified = true WHERE id = $1", 1, id);
    } else if (strcmp(type, "user.password_changed") == 0) {
        tix_stmts_add(out, "UPDATE users SET password_hash = $2 WHERE id = $1", 2, id,
                      tix_json_str(d, "password_hash"));
    } else if (strcmp(type, "user.preferences_changed") == 0) {
        char *prefs = tix_json_dump(json_object_get(d, "preferences"));
        tix_stmts_add(out, "UPDATE users SET preferences = $2::jsonb WHERE id = $1", 2, id, prefs);
        free(prefs);
    } else if (strcmp(type, "user.2fa_pending") == 0) {
        tix_stmts_add(out, "UPDATE users SET twofa_pending_secret_enc = $2 WHERE id = $1", 2, id,
                      tix_json_str(d, "secret_enc"));
    } else if (strcmp(type, "user.2fa_disabled") == 0) {
        tix_stmts_add(out,
                      "UPDATE users SET twofa_enabled = false, twofa_secret_enc = NULL,"
                      " twofa_pending_secret_enc = NULL, recovery_code_hashes = '[]'"
                      " WHERE id = $1",
                      1, id);
    } else if (strcmp(type, "user.totp_used") == 0) {
        snprintf(num, sizeof(num), "%" PRId64, tix_json_int(d, "step", -1));
        tix_stmts_add(out,
                      "UPDATE users SET last_totp_step ="
                      " GREATEST(COALESCE(last_totp_step, -1), $2::bigint) WHERE id = $1",
                      2, id, num);
    } else if (strcmp(type, "user.recovery_code_used") == 0) {
        tix_stmts_add(out,
                      "UPDATE users SET recovery_code_hashes = recovery_code_hashes - $2"
                      " WHERE id = $1",
                      2, id, tix_json_str(d, "code_hash"));
    } else if (strcmp(type, "user.logged_in") == 0) {
        tix_stmts_add(out, "UPDATE users SET last_login_at = $2 WHERE id = $1", 2, id, at);
    }
}

static enum tix_rc apply(const struct tix_event *e, struct tix_stmts *out)
{
    bool is_claim = strncmp(e->stream_id, "useremail-", 10) == 0;
    if ((!is_claim && strncmp(e->stream_id, "user-", 5) != 0) || strncmp(e->type, "user.", 5) != 0)
        return TIX_OK;
    json_t *d = tix_json_parse(e->data, strlen(e->data), NULL);
    if (d == NULL || !tix_uuid_is_valid(tix_json_str(d, "user_id")) ||
        (is_claim && tix_json_str(d, "email_index") == NULL)) {
        json_decref(d);
        return TIX_EINVAL;
    }
    char at[32], ver[24];
    tix_time_format(e->recorded_at_us, at);
    snprintf(ver, sizeof(ver), "%" PRId64, e->stream_version);
    if (is_claim) {
        on_claim(e->type, d, ver, out);
        json_decref(d);
        return TIX_OK;
    }
    if (strcmp(e->type, "user.registered") == 0)
        on_registered(d, at, ver, out);
    else if (strcmp(e->type, "user.profile_updated") == 0)
        on_profile_updated(d, out);
    else if (strcmp(e->type, "user.2fa_enabled") == 0)
        on_2fa_enabled(d, out);
    else if (strcmp(e->type, "user.erased") == 0)
        on_erased(d, at, out);
    else
        on_simple(e->type, d, at, out);
    tix_stmts_add(out, touch_sql, 3, tix_json_str(d, "user_id"), ver, at);
    json_decref(d);
    return TIX_OK;
}

const struct tix_projection tix_projection_users = {
    .name = "users",
    .source = TIX_SOURCE_EVENTS,
    .ddl = ddl,
    .tables = tables,
    .apply = apply,
    /* A claim reads and clears the rows of other partitions' users (the address's previous
     * holders): two partitions' steps at once could each miss the other's uncommitted claim and
     * the second would break the UNIQUE index (seen in a replay under ASan). */
    .is_cross_partition = true,
};
