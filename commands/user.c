/* user.c - the user aggregate: payload checks, decide and evolve
 *
 * Same three layers as organization.c, all pure. streams() checks a payload against a table of
 * field specs (payload.h) and names the streams the command needs: the user stream, plus the
 * email claim stream for register and erase. decide() applies the rules in a fixed order:
 * not_found, forbidden, erased, then the command's own rules; its events are complete, so
 * evolve never needs the command. evolve() checks an event before touching the state, so a
 * malformed event leaves the state as it was.
 *
 * Invariants kept here: single-use secrets stay single-use (a verification token is cleared
 * when used, a reset token is marked used, a recovery code is marked used, a TOTP step must be
 * later than the last one used); a state never aliases JSON or strings owned by a decision or
 * an event (everything is copied); nothing is decided for an erased user, and erasure drops
 * every personal field from the state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/json.h"
#include "tix/mem.h"

#include "payload.h"
#include "user.h"

#define N_SPECS(a) (sizeof(a) / sizeof((a)[0]))

static void stream_id(char out[TIX_STREAM_ID_MAX], const char *prefix, const char *key)
{
    snprintf(out, TIX_STREAM_ID_MAX, "%s%s", prefix, key);
}

/* ---- payload shapes ----------------------------------------------------------------------- */

#define USER_ID                                                                                    \
    {                                                                                              \
        "user_id", TIX_FIELD_UUID, true                                                            \
    }

static const struct tix_field_spec register_fields[] = {
    USER_ID,
    {"email_index", TIX_FIELD_HEX64, true},
    {"email_enc", TIX_FIELD_ENC, true},
    {"name_enc", TIX_FIELD_ENC, false},
    {"password_hash", TIX_FIELD_PASSWORD_HASH, true},
    {"verification_token_hash", TIX_FIELD_HEX64, true},
    {"verification_expires_at", TIX_FIELD_UNIX_S, true},
    {"token_enc", TIX_FIELD_ENC, true},
};
static const struct tix_field_spec token_request_fields[] = {
    USER_ID,
    {"token_hash", TIX_FIELD_HEX64, true},
    {"token_enc", TIX_FIELD_ENC, true},
    {"expires_at", TIX_FIELD_UNIX_S, true},
};
static const struct tix_field_spec verify_fields[] = {
    USER_ID,
    {"token_hash", TIX_FIELD_HEX64, true},
};
static const struct tix_field_spec reset_fields[] = {
    USER_ID,
    {"token_hash", TIX_FIELD_HEX64, true},
    {"password_hash", TIX_FIELD_PASSWORD_HASH, true},
};
static const struct tix_field_spec change_password_fields[] = {
    USER_ID,
    {"password_hash", TIX_FIELD_PASSWORD_HASH, true},
};
static const struct tix_field_spec profile_fields[] = {
    USER_ID,
    {"name_enc", TIX_FIELD_ENC_OR_NULL, false},
    {"locale", TIX_FIELD_LOCALE, false},
    {"timezone", TIX_FIELD_TIMEZONE, false},
};
static const struct tix_field_spec preferences_fields[] = {
    USER_ID,
    {"preferences", TIX_FIELD_PREFERENCES, true},
};
static const struct tix_field_spec enable_2fa_fields[] = {
    USER_ID,
    {"secret_enc", TIX_FIELD_ENC, true},
};
static const struct tix_field_spec confirm_2fa_fields[] = {
    USER_ID,
    {"step", TIX_FIELD_STEP, true},
    {"recovery_code_hashes", TIX_FIELD_CODE_HASHES, true},
};
static const struct tix_field_spec id_fields[] = {
    USER_ID,
};
static const struct tix_field_spec totp_fields[] = {
    USER_ID,
    {"step", TIX_FIELD_STEP, true},
};
static const struct tix_field_spec recovery_fields[] = {
    USER_ID,
    {"code_hash", TIX_FIELD_HEX64, true},
};
static const struct tix_field_spec login_fields[] = {
    USER_ID,
    {"ip_enc", TIX_FIELD_ENC, false},
};
static const struct tix_field_spec erase_fields[] = {
    USER_ID,
    {"email_index", TIX_FIELD_HEX64, true},
};

/* Checks cmd's payload against specs and that its user_id equals cmd->key. */
static enum tix_rc check_user_payload(const struct tix_command *cmd,
                                      const struct tix_field_spec *specs, size_t n,
                                      struct tix_err *err)
{
    if (tix_payload_check(cmd->payload, specs, n, err) != TIX_OK)
        return TIX_EINVAL;
    const char *id = tix_json_str(cmd->payload, "user_id");
    if (cmd->key == NULL || strcmp(id, cmd->key) != 0)
        return tix_err_set(err, TIX_EINVAL, "user_id", "user_id must equal the command key");
    return TIX_OK;
}

/* streams() for commands that touch the user stream and, when is_claim, the email's claim. */
static int user_streams(const struct tix_command *cmd, const struct tix_field_spec *specs, size_t n,
                        bool is_claim, char ids[][TIX_STREAM_ID_MAX], struct tix_err *err)
{
    if (check_user_payload(cmd, specs, n, err) != TIX_OK)
        return -1;
    stream_id(ids[0], TIX_USER_STREAM_PREFIX, cmd->key);
    if (!is_claim)
        return 1;
    stream_id(ids[1], TIX_USEREMAIL_STREAM_PREFIX, tix_json_str(cmd->payload, "email_index"));
    return 2;
}

/* One streams() function per field table. */
#define STREAMS(fn, specs, is_claim)                                                               \
    static int fn(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],                    \
                  struct tix_err *err)                                                             \
    {                                                                                              \
        return user_streams(cmd, specs, N_SPECS(specs), is_claim, ids, err);                       \
    }

STREAMS(register_streams, register_fields, true)
STREAMS(token_request_streams, token_request_fields, false)
STREAMS(verify_streams, verify_fields, false)
STREAMS(reset_streams, reset_fields, false)
STREAMS(change_password_streams, change_password_fields, false)
STREAMS(profile_streams, profile_fields, false)
STREAMS(preferences_streams, preferences_fields, false)
STREAMS(enable_2fa_streams, enable_2fa_fields, false)
STREAMS(confirm_2fa_streams, confirm_2fa_fields, false)
STREAMS(id_streams, id_fields, false)
STREAMS(totp_streams, totp_fields, false)
STREAMS(recovery_streams, recovery_fields, false)
STREAMS(login_streams, login_fields, false)
STREAMS(erase_streams, erase_fields, true)

/* ---- decide: shared steps ----------------------------------------------------------------- */

/* The existing, non-erased user of cmd that the actor may act for; NULL after rejecting out. */
static const struct tix_user_state *load_user(const struct tix_command *cmd,
                                              const struct tix_view *view, struct tix_decision *out)
{
    char id[TIX_STREAM_ID_MAX];
    stream_id(id, TIX_USER_STREAM_PREFIX, cmd->key);
    const struct tix_user_state *s = tix_view_state(view, id, NULL);
    struct tix_actor a = tix_payload_parse_actor(cmd->actor);
    if (s == NULL || !s->exists) {
        tix_decision_reject(out, "not_found", "user_id", "no user %s", cmd->key);
        return NULL;
    }
    if (!tix_payload_is_self_or_system(&a, cmd->key)) {
        tix_decision_reject(out, "forbidden", NULL, "the actor may not act for this user");
        return NULL;
    }
    if (s->is_erased) {
        tix_decision_reject(out, "erased", NULL, "the user was erased");
        return NULL;
    }
    return s;
}

static void emit_user(struct tix_decision *out, const struct tix_command *cmd, const char *type,
                      json_t *data)
{
    char id[TIX_STREAM_ID_MAX];
    stream_id(id, TIX_USER_STREAM_PREFIX, cmd->key);
    tix_decision_emit(out, id, type, data);
}

static bool is_expired(const struct tix_command *cmd, int64_t expires_at_s)
{
    return cmd->now_us >= expires_at_s * 1000000;
}

static const char *payload_str(const struct tix_command *cmd, const char *key)
{
    return tix_json_str(cmd->payload, key);
}

static json_int_t payload_int(const struct tix_command *cmd, const char *key)
{
    return json_integer_value(json_object_get(cmd->payload, key));
}

/* ---- decide: registration and email ------------------------------------------------------- */

static void emit_registered(const struct tix_command *cmd, struct tix_decision *out)
{
    json_t *registered =
        json_pack("{s:s, s:s, s:s, s:s}", "user_id", cmd->key, "email_index",
                  payload_str(cmd, "email_index"), "email_enc", payload_str(cmd, "email_enc"),
                  "password_hash", payload_str(cmd, "password_hash"));
    if (payload_str(cmd, "name_enc") != NULL)
        json_object_set_new(registered, "name_enc", json_string(payload_str(cmd, "name_enc")));
    emit_user(out, cmd, "user.registered", registered);
    char claim[TIX_STREAM_ID_MAX];
    stream_id(claim, TIX_USEREMAIL_STREAM_PREFIX, payload_str(cmd, "email_index"));
    tix_decision_emit(out, claim, "user.email_claimed",
                      json_pack("{s:s, s:s}", "email_index", payload_str(cmd, "email_index"),
                                "user_id", cmd->key));
    emit_user(out, cmd, "user.email_verification_requested",
              json_pack("{s:s, s:s, s:s, s:I}", "user_id", cmd->key, "token_hash",
                        payload_str(cmd, "verification_token_hash"), "token_enc",
                        payload_str(cmd, "token_enc"), "expires_at",
                        payload_int(cmd, "verification_expires_at")));
    tix_decision_set_result(out, json_pack("{s:s}", "user_id", cmd->key));
}

static void decide_register(const struct tix_command *cmd, const struct tix_view *view,
                            struct tix_decision *out)
{
    char user_id[TIX_STREAM_ID_MAX], claim_id[TIX_STREAM_ID_MAX];
    stream_id(user_id, TIX_USER_STREAM_PREFIX, cmd->key);
    stream_id(claim_id, TIX_USEREMAIL_STREAM_PREFIX, payload_str(cmd, "email_index"));
    const struct tix_user_state *user = tix_view_state(view, user_id, NULL);
    const struct tix_useremail_state *claim = tix_view_state(view, claim_id, NULL);
    struct tix_actor a = tix_payload_parse_actor(cmd->actor);
    if (!tix_payload_is_self_or_system(&a, cmd->key)) {
        tix_decision_reject(out, "forbidden", NULL, "the actor may not register this user");
        return;
    }
    if (user != NULL && user->exists) {
        tix_decision_reject(out, "already_exists", "user_id", "user %s already exists", cmd->key);
        return;
    }
    if (claim != NULL && claim->is_claimed) {
        tix_decision_reject(out, "email_taken", "email", "the email address is taken");
        return;
    }
    emit_registered(cmd, out);
}

static void emit_token_requested(const struct tix_command *cmd, const char *type,
                                 struct tix_decision *out)
{
    emit_user(out, cmd, type,
              json_pack("{s:s, s:s, s:s, s:I}", "user_id", cmd->key, "token_hash",
                        payload_str(cmd, "token_hash"), "token_enc", payload_str(cmd, "token_enc"),
                        "expires_at", payload_int(cmd, "expires_at")));
}

static void decide_request_email_verification(const struct tix_command *cmd,
                                              const struct tix_view *view, struct tix_decision *out)
{
    const struct tix_user_state *s = load_user(cmd, view, out);
    if (s == NULL)
        return;
    if (s->is_email_verified) {
        tix_decision_reject(out, "already_verified", NULL, "the email address is verified");
        return;
    }
    emit_token_requested(cmd, "user.email_verification_requested", out);
}

static void decide_verify_email(const struct tix_command *cmd, const struct tix_view *view,
                                struct tix_decision *out)
{
    const struct tix_user_state *s = load_user(cmd, view, out);
    if (s == NULL)
        return;
    if (s->is_email_verified) {
        tix_decision_reject(out, "already_verified", NULL, "the email address is verified");
        return;
    }
    if (s->verify_hash[0] == '\0' ||
        !tix_payload_is_same_hash(s->verify_hash, payload_str(cmd, "token_hash"))) {
        tix_decision_reject(out, "invalid_token", "token", "the verification token is invalid");
        return;
    }
    if (is_expired(cmd, s->verify_expires_at)) {
        tix_decision_reject(out, "token_expired", "token", "the verification token expired");
        return;
    }
    emit_user(out, cmd, "user.email_verified", json_pack("{s:s}", "user_id", cmd->key));
}

/* ---- decide: passwords -------------------------------------------------------------------- */

static void decide_request_password_reset(const struct tix_command *cmd,
                                          const struct tix_view *view, struct tix_decision *out)
{
    if (load_user(cmd, view, out) != NULL)
        emit_token_requested(cmd, "user.password_reset_requested", out);
}

static void emit_password_changed(const struct tix_command *cmd, const char *reason,
                                  const char *revoke_reason, struct tix_decision *out)
{
    emit_user(out, cmd, "user.password_changed",
              json_pack("{s:s, s:s, s:s}", "user_id", cmd->key, "password_hash",
                        payload_str(cmd, "password_hash"), "reason", reason));
    emit_user(out, cmd, "user.sessions_revoked",
              json_pack("{s:s, s:s}", "user_id", cmd->key, "reason", revoke_reason));
}

static void decide_reset_password(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out)
{
    const struct tix_user_state *s = load_user(cmd, view, out);
    if (s == NULL)
        return;
    if (s->reset_hash[0] == '\0' ||
        !tix_payload_is_same_hash(s->reset_hash, payload_str(cmd, "token_hash"))) {
        tix_decision_reject(out, "invalid_token", "token", "the reset token is invalid");
        return;
    }
    if (s->is_reset_used) {
        tix_decision_reject(out, "token_used", "token", "the reset token was used");
        return;
    }
    if (is_expired(cmd, s->reset_expires_at)) {
        tix_decision_reject(out, "token_expired", "token", "the reset token expired");
        return;
    }
    emit_password_changed(cmd, "reset", "password_reset", out);
}

static void decide_change_password(const struct tix_command *cmd, const struct tix_view *view,
                                   struct tix_decision *out)
{
    if (load_user(cmd, view, out) != NULL)
        emit_password_changed(cmd, "change", "password_changed", out);
}

/* ---- decide: profile and preferences ------------------------------------------------------ */

/* Adds key to changes when the payload's string value differs from current ("" = unset). */
static void diff_text(const struct tix_command *cmd, const char *key, const char *current,
                      json_t *changes)
{
    const char *v = payload_str(cmd, key);
    if (v != NULL && strcmp(v, current) != 0)
        json_object_set_new(changes, key, json_string(v));
}

static void decide_update_profile(const struct tix_command *cmd, const struct tix_view *view,
                                  struct tix_decision *out)
{
    const struct tix_user_state *s = load_user(cmd, view, out);
    if (s == NULL)
        return;
    json_t *changes = json_object();
    const json_t *name = json_object_get(cmd->payload, "name_enc");
    if (json_is_null(name) && s->name_enc != NULL)
        json_object_set_new(changes, "name_enc", json_null());
    else if (json_is_string(name))
        diff_text(cmd, "name_enc", s->name_enc != NULL ? s->name_enc : "", changes);
    diff_text(cmd, "locale", s->locale, changes);
    diff_text(cmd, "timezone", s->timezone, changes);
    if (json_object_size(changes) == 0) {
        json_decref(changes);
        return;
    }
    json_object_set_new(changes, "user_id", json_string(cmd->key));
    emit_user(out, cmd, "user.profile_updated", changes);
}

static void decide_set_preferences(const struct tix_command *cmd, const struct tix_view *view,
                                   struct tix_decision *out)
{
    const struct tix_user_state *s = load_user(cmd, view, out);
    if (s == NULL)
        return;
    json_t *next = json_deep_copy(s->preferences);
    tix_payload_merge_patch(next, json_object_get(cmd->payload, "preferences"));
    if (json_equal(next, s->preferences)) {
        json_decref(next);
        return;
    }
    if (json_dumpb(next, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS) > TIX_PREFERENCES_MAX_BYTES) {
        json_decref(next);
        tix_decision_reject(out, "preferences_too_large", "preferences",
                            "the preferences would exceed %d bytes", TIX_PREFERENCES_MAX_BYTES);
        return;
    }
    emit_user(out, cmd, "user.preferences_changed",
              json_pack("{s:s, s:o}", "user_id", cmd->key, "preferences", next));
}

/* ---- decide: two-factor authentication ---------------------------------------------------- */

static void decide_enable_2fa(const struct tix_command *cmd, const struct tix_view *view,
                              struct tix_decision *out)
{
    const struct tix_user_state *s = load_user(cmd, view, out);
    if (s == NULL)
        return;
    if (s->is_2fa_enabled) {
        tix_decision_reject(out, "2fa_already_enabled", NULL, "two-factor is already enabled");
        return;
    }
    emit_user(
        out, cmd, "user.2fa_pending",
        json_pack("{s:s, s:s}", "user_id", cmd->key, "secret_enc", payload_str(cmd, "secret_enc")));
}

/* Rejects out unless step is later than the last step used; returns whether it is. */
static bool is_fresh_step(const struct tix_user_state *s, json_int_t step, struct tix_decision *out)
{
    if (step > s->last_totp_step)
        return true;
    tix_decision_reject(out, "code_reused", "code", "this code was already used");
    return false;
}

static void decide_confirm_2fa(const struct tix_command *cmd, const struct tix_view *view,
                               struct tix_decision *out)
{
    const struct tix_user_state *s = load_user(cmd, view, out);
    if (s == NULL)
        return;
    if (s->is_2fa_enabled) {
        tix_decision_reject(out, "2fa_already_enabled", NULL, "two-factor is already enabled");
        return;
    }
    if (s->pending_secret_enc == NULL) {
        tix_decision_reject(out, "2fa_not_pending", NULL, "enable two-factor first");
        return;
    }
    json_int_t step = payload_int(cmd, "step");
    if (!is_fresh_step(s, step, out))
        return;
    emit_user(out, cmd, "user.2fa_enabled",
              json_pack("{s:s, s:s, s:o, s:I}", "user_id", cmd->key, "secret_enc",
                        s->pending_secret_enc, "recovery_code_hashes",
                        json_deep_copy(json_object_get(cmd->payload, "recovery_code_hashes")),
                        "step", step));
}

static void decide_disable_2fa(const struct tix_command *cmd, const struct tix_view *view,
                               struct tix_decision *out)
{
    const struct tix_user_state *s = load_user(cmd, view, out);
    if (s == NULL || (!s->is_2fa_enabled && s->pending_secret_enc == NULL))
        return;
    emit_user(out, cmd, "user.2fa_disabled", json_pack("{s:s}", "user_id", cmd->key));
}

/* The enabled-2FA user of cmd; NULL after rejecting out. */
static const struct tix_user_state *
load_2fa_user(const struct tix_command *cmd, const struct tix_view *view, struct tix_decision *out)
{
    const struct tix_user_state *s = load_user(cmd, view, out);
    if (s != NULL && !s->is_2fa_enabled) {
        tix_decision_reject(out, "2fa_not_enabled", NULL, "two-factor is not enabled");
        return NULL;
    }
    return s;
}

static void decide_use_totp(const struct tix_command *cmd, const struct tix_view *view,
                            struct tix_decision *out)
{
    const struct tix_user_state *s = load_2fa_user(cmd, view, out);
    json_int_t step = payload_int(cmd, "step");
    if (s == NULL || !is_fresh_step(s, step, out))
        return;
    emit_user(out, cmd, "user.totp_used",
              json_pack("{s:s, s:I}", "user_id", cmd->key, "step", step));
}

/* The index of an unused recovery code equal to hash, or -1. */
static int find_recovery_code(const struct tix_user_state *s, const char *hash)
{
    int found = -1;
    for (int i = 0; i < s->n_recovery; i++)
        if (!s->recovery[i].is_used && tix_payload_is_same_hash(s->recovery[i].hash, hash))
            found = i;
    return found;
}

static void decide_use_recovery_code(const struct tix_command *cmd, const struct tix_view *view,
                                     struct tix_decision *out)
{
    const struct tix_user_state *s = load_2fa_user(cmd, view, out);
    if (s == NULL)
        return;
    const char *hash = payload_str(cmd, "code_hash");
    if (find_recovery_code(s, hash) < 0) {
        tix_decision_reject(out, "invalid_code", "code", "the recovery code is invalid");
        return;
    }
    emit_user(out, cmd, "user.recovery_code_used",
              json_pack("{s:s, s:s}", "user_id", cmd->key, "code_hash", hash));
}

/* ---- decide: logins and erasure ----------------------------------------------------------- */

static void decide_record_login(const struct tix_command *cmd, const struct tix_view *view,
                                struct tix_decision *out)
{
    if (load_user(cmd, view, out) == NULL)
        return;
    json_t *data = json_pack("{s:s}", "user_id", cmd->key);
    if (payload_str(cmd, "ip_enc") != NULL)
        json_object_set_new(data, "ip_enc", json_string(payload_str(cmd, "ip_enc")));
    emit_user(out, cmd, "user.logged_in", data);
}

static void decide_erase(const struct tix_command *cmd, const struct tix_view *view,
                         struct tix_decision *out)
{
    const struct tix_user_state *s = load_user(cmd, view, out);
    if (s == NULL)
        return;
    const char *index = payload_str(cmd, "email_index");
    if (strcmp(index, s->email_index) != 0) {
        tix_decision_reject(out, "email_mismatch", "email_index", "email_index is not the user's");
        return;
    }
    char claim_id[TIX_STREAM_ID_MAX];
    stream_id(claim_id, TIX_USEREMAIL_STREAM_PREFIX, index);
    const struct tix_useremail_state *claim = tix_view_state(view, claim_id, NULL);
    emit_user(out, cmd, "user.erased", json_pack("{s:s}", "user_id", cmd->key));
    if (claim != NULL && claim->is_claimed && strcmp(claim->user_id, cmd->key) == 0)
        tix_decision_emit(out, claim_id, "user.email_released",
                          json_pack("{s:s, s:s}", "email_index", index, "user_id", cmd->key));
}

const struct tix_command_handler tix_user_handlers[] = {
    {"user.register", register_streams, decide_register},
    {"user.request_email_verification", token_request_streams, decide_request_email_verification},
    {"user.verify_email", verify_streams, decide_verify_email},
    {"user.request_password_reset", token_request_streams, decide_request_password_reset},
    {"user.reset_password", reset_streams, decide_reset_password},
    {"user.change_password", change_password_streams, decide_change_password},
    {"user.update_profile", profile_streams, decide_update_profile},
    {"user.set_preferences", preferences_streams, decide_set_preferences},
    {"user.enable_2fa", enable_2fa_streams, decide_enable_2fa},
    {"user.confirm_2fa", confirm_2fa_streams, decide_confirm_2fa},
    {"user.disable_2fa", id_streams, decide_disable_2fa},
    {"user.use_totp", totp_streams, decide_use_totp},
    {"user.use_recovery_code", recovery_streams, decide_use_recovery_code},
    {"user.record_login", login_streams, decide_record_login},
    {"user.erase", erase_streams, decide_erase},
    {NULL, NULL, NULL},
};

/* ---- evolve: the user stream -------------------------------------------------------------- */

static void *user_create(void)
{
    struct tix_user_state *s = tix_xcalloc(1, sizeof(*s));
    s->preferences = json_object();
    s->last_totp_step = -1;
    return s;
}

static void clear_2fa(struct tix_user_state *s)
{
    free(s->pending_secret_enc);
    free(s->secret_enc);
    s->pending_secret_enc = s->secret_enc = NULL;
    s->is_2fa_enabled = false;
    s->n_recovery = 0;
    memset(s->recovery, 0, sizeof(s->recovery));
}

static void user_destroy(void *p)
{
    struct tix_user_state *s = p;
    if (s == NULL)
        return;
    clear_2fa(s);
    free(s->name_enc);
    json_decref(s->preferences);
    free(s);
}

/* Replaces the owned string *slot with a copy of v (NULL clears). */
static void set_owned(char **slot, const char *v)
{
    free(*slot);
    *slot = tix_xstrdup(v);
}

static bool is_hex64_member(const json_t *data, const char *key)
{
    return tix_payload_is_hex64(tix_payload_str_fitting(data, key, TIX_HEX64_SIZE));
}

static enum tix_rc apply_registered(struct tix_user_state *s, const json_t *data)
{
    const char *id = tix_payload_str_fitting(data, "user_id", sizeof(s->id));
    const char *hash = tix_payload_str_fitting(data, "password_hash", sizeof(s->password_hash));
    const json_t *name = json_object_get(data, "name_enc");
    if (s->exists || !tix_uuid_is_valid(id) || hash == NULL ||
        !is_hex64_member(data, "email_index") ||
        !tix_payload_is_plain_string(json_object_get(data, "email_enc")) ||
        (name != NULL && !tix_payload_is_plain_string(name)))
        return TIX_EINVAL;
    s->exists = true;
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->email_index, sizeof(s->email_index), "%s", tix_json_str(data, "email_index"));
    snprintf(s->password_hash, sizeof(s->password_hash), "%s", hash);
    set_owned(&s->name_enc, json_string_value(name));
    return TIX_OK;
}

/* Reads a token request's hash and expiry; false when malformed. */
static bool read_token(const json_t *data, char hash[TIX_HEX64_SIZE], int64_t *expires_at)
{
    const json_t *exp = json_object_get(data, "expires_at");
    if (!is_hex64_member(data, "token_hash") || !json_is_integer(exp) ||
        !json_is_string(json_object_get(data, "token_enc")))
        return false;
    snprintf(hash, TIX_HEX64_SIZE, "%s", tix_json_str(data, "token_hash"));
    *expires_at = (int64_t)json_integer_value(exp);
    return true;
}

static enum tix_rc apply_verification_requested(struct tix_user_state *s, const json_t *data)
{
    return read_token(data, s->verify_hash, &s->verify_expires_at) ? TIX_OK : TIX_EINVAL;
}

static enum tix_rc apply_email_verified(struct tix_user_state *s, const json_t *data)
{
    s->is_email_verified = true;
    s->verify_hash[0] = '\0';
    s->verify_expires_at = 0;
    return TIX_OK;
}

static enum tix_rc apply_reset_requested(struct tix_user_state *s, const json_t *data)
{
    if (!read_token(data, s->reset_hash, &s->reset_expires_at))
        return TIX_EINVAL;
    s->is_reset_used = false;
    return TIX_OK;
}

static enum tix_rc apply_password_changed(struct tix_user_state *s, const json_t *data)
{
    const char *hash = tix_payload_str_fitting(data, "password_hash", sizeof(s->password_hash));
    const char *reason = tix_json_str(data, "reason");
    if (hash == NULL || reason == NULL)
        return TIX_EINVAL;
    snprintf(s->password_hash, sizeof(s->password_hash), "%s", hash);
    if (strcmp(reason, "reset") == 0)
        s->is_reset_used = true;
    return TIX_OK;
}

static enum tix_rc apply_sessions_revoked(struct tix_user_state *s, const json_t *data)
{
    if (!json_is_string(json_object_get(data, "reason")))
        return TIX_EINVAL;
    s->sessions_epoch++;
    return TIX_OK;
}

static enum tix_rc apply_profile_updated(struct tix_user_state *s, const json_t *data)
{
    const json_t *name = json_object_get(data, "name_enc");
    const json_t *locale = json_object_get(data, "locale");
    const json_t *tz = json_object_get(data, "timezone");
    if ((name != NULL && !json_is_null(name) && !tix_payload_is_plain_string(name)) ||
        (locale != NULL && tix_payload_str_fitting(data, "locale", sizeof(s->locale)) == NULL) ||
        (tz != NULL && tix_payload_str_fitting(data, "timezone", sizeof(s->timezone)) == NULL))
        return TIX_EINVAL;
    if (name != NULL)
        set_owned(&s->name_enc, json_string_value(name));
    if (locale != NULL)
        snprintf(s->locale, sizeof(s->locale), "%s", json_string_value(locale));
    if (tz != NULL)
        snprintf(s->timezone, sizeof(s->timezone), "%s", json_string_value(tz));
    return TIX_OK;
}

static enum tix_rc apply_preferences_changed(struct tix_user_state *s, const json_t *data)
{
    const json_t *prefs = json_object_get(data, "preferences");
    if (!json_is_object(prefs))
        return TIX_EINVAL;
    json_decref(s->preferences);
    s->preferences = json_deep_copy(prefs);
    return TIX_OK;
}

static enum tix_rc apply_2fa_pending(struct tix_user_state *s, const json_t *data)
{
    const json_t *secret = json_object_get(data, "secret_enc");
    if (!tix_payload_is_plain_string(secret))
        return TIX_EINVAL;
    set_owned(&s->pending_secret_enc, json_string_value(secret));
    return TIX_OK;
}

static enum tix_rc apply_2fa_enabled(struct tix_user_state *s, const json_t *data)
{
    const json_t *secret = json_object_get(data, "secret_enc");
    const json_t *codes = json_object_get(data, "recovery_code_hashes");
    const json_t *step = json_object_get(data, "step");
    if (!tix_payload_is_plain_string(secret) || !json_is_array(codes) ||
        json_array_size(codes) > TIX_RECOVERY_CODES || !json_is_integer(step))
        return TIX_EINVAL;
    for (size_t i = 0; i < json_array_size(codes); i++)
        if (!tix_payload_is_hex64(json_string_value(json_array_get(codes, i))))
            return TIX_EINVAL;
    char *kept = tix_xstrdup(json_string_value(secret));
    clear_2fa(s);
    s->secret_enc = kept;
    s->is_2fa_enabled = true;
    s->n_recovery = (int)json_array_size(codes);
    for (int i = 0; i < s->n_recovery; i++)
        snprintf(s->recovery[i].hash, sizeof(s->recovery[i].hash), "%s",
                 json_string_value(json_array_get(codes, (size_t)i)));
    if (json_integer_value(step) > s->last_totp_step)
        s->last_totp_step = (int64_t)json_integer_value(step);
    return TIX_OK;
}

static enum tix_rc apply_2fa_disabled(struct tix_user_state *s, const json_t *data)
{
    clear_2fa(s);
    return TIX_OK;
}

static enum tix_rc apply_totp_used(struct tix_user_state *s, const json_t *data)
{
    const json_t *step = json_object_get(data, "step");
    if (!json_is_integer(step))
        return TIX_EINVAL;
    if (json_integer_value(step) > s->last_totp_step)
        s->last_totp_step = (int64_t)json_integer_value(step);
    return TIX_OK;
}

static enum tix_rc apply_recovery_code_used(struct tix_user_state *s, const json_t *data)
{
    const char *hash = tix_payload_str_fitting(data, "code_hash", TIX_HEX64_SIZE);
    int i = hash != NULL ? find_recovery_code(s, hash) : -1;
    if (i < 0)
        return TIX_EINVAL;
    s->recovery[i].is_used = true;
    return TIX_OK;
}

static enum tix_rc apply_logged_in(struct tix_user_state *s, const json_t *data)
{
    return TIX_OK;
}

/* Drops every personal field; keeps the identity, the erasure and the sessions epoch. */
static enum tix_rc apply_erased(struct tix_user_state *s, const json_t *data)
{
    clear_2fa(s);
    free(s->name_enc);
    json_decref(s->preferences);
    struct tix_user_state kept = {
        .exists = true,
        .is_erased = true,
        .last_totp_step = s->last_totp_step,
        .sessions_epoch = s->sessions_epoch + 1,
        .preferences = json_object(),
    };
    snprintf(kept.id, sizeof(kept.id), "%s", s->id);
    *s = kept;
    return TIX_OK;
}

static const struct {
    const char *type;
    enum tix_rc (*apply)(struct tix_user_state *s, const json_t *data);
} user_appliers[] = {
    {"user.registered", apply_registered},
    {"user.email_verification_requested", apply_verification_requested},
    {"user.email_verified", apply_email_verified},
    {"user.password_reset_requested", apply_reset_requested},
    {"user.password_changed", apply_password_changed},
    {"user.sessions_revoked", apply_sessions_revoked},
    {"user.profile_updated", apply_profile_updated},
    {"user.preferences_changed", apply_preferences_changed},
    {"user.2fa_pending", apply_2fa_pending},
    {"user.2fa_enabled", apply_2fa_enabled},
    {"user.2fa_disabled", apply_2fa_disabled},
    {"user.totp_used", apply_totp_used},
    {"user.recovery_code_used", apply_recovery_code_used},
    {"user.logged_in", apply_logged_in},
    {"user.erased", apply_erased},
};

static enum tix_rc user_evolve(void *p, const char *type, int schema_version, const json_t *data)
{
    struct tix_user_state *s = p;
    for (size_t i = 0; i < N_SPECS(user_appliers); i++) {
        if (strcmp(type, user_appliers[i].type) != 0)
            continue;
        if (schema_version != 1 || !json_is_object(data))
            return TIX_EINVAL;
        if (user_appliers[i].apply != apply_registered) {
            const char *id = tix_json_str(data, "user_id");
            if (!s->exists || s->is_erased || id == NULL || strcmp(id, s->id) != 0)
                return TIX_EINVAL;
        }
        return user_appliers[i].apply(s, data);
    }
    return TIX_OK;
}

const struct tix_stream_kind tix_user_stream_kind = {
    .prefix = TIX_USER_STREAM_PREFIX,
    .create = user_create,
    .destroy = user_destroy,
    .evolve = user_evolve,
};

/* ---- evolve: the email claim stream ------------------------------------------------------- */

static void *useremail_create(void)
{
    return tix_xcalloc(1, sizeof(struct tix_useremail_state));
}

static void useremail_destroy(void *p)
{
    free(p);
}

static enum tix_rc useremail_evolve(void *p, const char *type, int schema_version,
                                    const json_t *data)
{
    struct tix_useremail_state *s = p;
    bool is_claim = strcmp(type, "user.email_claimed") == 0;
    if (!is_claim && strcmp(type, "user.email_released") != 0)
        return TIX_OK;
    if (schema_version != 1 || !json_is_object(data) || !is_hex64_member(data, "email_index"))
        return TIX_EINVAL;
    const char *id = tix_payload_str_fitting(data, "user_id", sizeof(s->user_id));
    if (!tix_uuid_is_valid(id))
        return TIX_EINVAL;
    if (is_claim) {
        if (s->is_claimed)
            return TIX_EINVAL;
        s->is_claimed = true;
        snprintf(s->user_id, sizeof(s->user_id), "%s", id);
        return TIX_OK;
    }
    if (!s->is_claimed || strcmp(s->user_id, id) != 0)
        return TIX_EINVAL;
    s->is_claimed = false;
    s->user_id[0] = '\0';
    return TIX_OK;
}

const struct tix_stream_kind tix_useremail_stream_kind = {
    .prefix = TIX_USEREMAIL_STREAM_PREFIX,
    .create = useremail_create,
    .destroy = useremail_destroy,
    .evolve = useremail_evolve,
    .is_shared = true,
};
