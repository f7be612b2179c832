/* session.c - the session aggregate: payload checks, decide and evolve
 *
 * Each command needs two streams of the same partition: the family ("session-<family_id>") and
 * its user ("user-<user_id>"), whose sessions_epoch and erasure revoke families without an
 * event per family. decide applies: not_found, forbidden, then the command's rules; a family
 * counts as revoked when it was revoked explicitly, its user was erased, or the user's epoch
 * moved past the family's.
 *
 * Invariants kept here: the current hash never appears among the rotated ones of its family
 * (a refresh must present a new hash different from the one it presents); once revoked a
 * family never becomes usable again; evolve refuses events for another family or user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/json.h"
#include "tix/mem.h"

#include "payload.h"
#include "session.h"
#include "user.h"

#define N_SPECS(a) (sizeof(a) / sizeof((a)[0]))

static void stream_id(char out[TIX_STREAM_ID_MAX], const char *prefix, const char *key)
{
    snprintf(out, TIX_STREAM_ID_MAX, "%s%s", prefix, key);
}

/* ---- payload shapes ----------------------------------------------------------------------- */

static const struct tix_field_spec start_fields[] = {
    {"family_id", TIX_FIELD_UUID, true},
    {"user_id", TIX_FIELD_UUID, true},
    {"token_hash", TIX_FIELD_HEX64, true},
    {"expires_at", TIX_FIELD_UNIX_S, true},
    {"user_agent", TIX_FIELD_USER_AGENT, false},
    {"ip_enc", TIX_FIELD_ENC, false},
    {"password_hash", TIX_FIELD_PASSWORD_HASH, false},
};
static const struct tix_field_spec refresh_fields[] = {
    {"family_id", TIX_FIELD_UUID, true},       {"user_id", TIX_FIELD_UUID, true},
    {"presented_hash", TIX_FIELD_HEX64, true}, {"new_hash", TIX_FIELD_HEX64, true},
    {"expires_at", TIX_FIELD_UNIX_S, true},    {"grace_s", TIX_FIELD_GRACE_S, false},
};
static const struct tix_field_spec revoke_fields[] = {
    {"family_id", TIX_FIELD_UUID, true},
    {"user_id", TIX_FIELD_UUID, true},
    {"reason", TIX_FIELD_REASON, true},
};

static int session_streams(const struct tix_command *cmd, const struct tix_field_spec *specs,
                           size_t n, char ids[][TIX_STREAM_ID_MAX], struct tix_err *err)
{
    if (tix_payload_check(cmd->payload, specs, n, err) != TIX_OK)
        return -1;
    const char *user = tix_json_str(cmd->payload, "user_id");
    if (cmd->key == NULL || strcmp(user, cmd->key) != 0) {
        tix_err_set(err, TIX_EINVAL, "user_id", "user_id must equal the command key");
        return -1;
    }
    stream_id(ids[0], TIX_SESSION_STREAM_PREFIX, tix_json_str(cmd->payload, "family_id"));
    stream_id(ids[1], TIX_USER_STREAM_PREFIX, cmd->key);
    return 2;
}

static int start_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                         struct tix_err *err)
{
    return session_streams(cmd, start_fields, N_SPECS(start_fields), ids, err);
}

static int refresh_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                           struct tix_err *err)
{
    if (session_streams(cmd, refresh_fields, N_SPECS(refresh_fields), ids, err) < 0)
        return -1;
    if (strcmp(tix_json_str(cmd->payload, "presented_hash"),
               tix_json_str(cmd->payload, "new_hash")) == 0) {
        tix_err_set(err, TIX_EINVAL, "new_hash", "new_hash must differ from presented_hash");
        return -1;
    }
    return 2;
}

static int revoke_streams(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                          struct tix_err *err)
{
    return session_streams(cmd, revoke_fields, N_SPECS(revoke_fields), ids, err);
}

/* ---- decide ------------------------------------------------------------------------------- */

struct loaded {
    char family_stream[TIX_STREAM_ID_MAX];
    const struct tix_session_state *family;
    const struct tix_user_state *user;
};

/* Looks both streams up and checks the actor; false after rejecting out. */
static bool load(const struct tix_command *cmd, const struct tix_view *view, struct loaded *l,
                 struct tix_decision *out)
{
    char user_stream[TIX_STREAM_ID_MAX];
    stream_id(l->family_stream, TIX_SESSION_STREAM_PREFIX, tix_json_str(cmd->payload, "family_id"));
    stream_id(user_stream, TIX_USER_STREAM_PREFIX, cmd->key);
    l->family = tix_view_state(view, l->family_stream, NULL);
    l->user = tix_view_state(view, user_stream, NULL);
    struct tix_actor a = tix_payload_parse_actor(cmd->actor);
    if (l->user == NULL || !l->user->exists) {
        tix_decision_reject(out, "not_found", "user_id", "no user %s", cmd->key);
        return false;
    }
    if (!tix_payload_is_self_or_system(&a, cmd->key)) {
        tix_decision_reject(out, "forbidden", NULL, "the actor may not act for this user");
        return false;
    }
    return true;
}

/* The existing family of cmd's user; NULL after rejecting out. */
static const struct tix_session_state *load_family(const struct tix_command *cmd,
                                                   const struct tix_view *view, struct loaded *l,
                                                   struct tix_decision *out)
{
    if (!load(cmd, view, l, out))
        return NULL;
    if (l->family == NULL || !l->family->exists || strcmp(l->family->user_id, cmd->key) != 0) {
        tix_decision_reject(out, "not_found", "family_id", "no such session");
        return NULL;
    }
    return l->family;
}

static bool is_revoked(const struct tix_session_state *s, const struct tix_user_state *u)
{
    return s->is_revoked || u->is_erased || u->sessions_epoch > s->user_epoch;
}

static void decide_start(const struct tix_command *cmd, const struct tix_view *view,
                         struct tix_decision *out)
{
    struct loaded l;
    if (!load(cmd, view, &l, out))
        return;
    if (l.user->is_erased) {
        tix_decision_reject(out, "erased", NULL, "the user was erased");
        return;
    }
    if (l.family != NULL && l.family->exists) {
        tix_decision_reject(out, "already_exists", "family_id", "the session family exists");
        return;
    }
    /* The gateway checked the password against a read model that may lag: the hash it checked
     * must still be the user's, or a password changed a moment ago would still log in. */
    const char *checked = tix_json_str(cmd->payload, "password_hash");
    if (checked != NULL && strcmp(checked, l.user->password_hash) != 0) {
        tix_decision_reject(out, "stale_credentials", "password",
                            "the password changed since it was checked");
        return;
    }
    const char *family = tix_json_str(cmd->payload, "family_id");
    json_t *data = json_pack("{s:s, s:s, s:s, s:I, s:I}", "family_id", family, "user_id", cmd->key,
                             "token_hash", tix_json_str(cmd->payload, "token_hash"), "expires_at",
                             json_integer_value(json_object_get(cmd->payload, "expires_at")),
                             "user_epoch", (json_int_t)l.user->sessions_epoch);
    const char *const optional[] = {"user_agent", "ip_enc"};
    for (int i = 0; i < 2; i++)
        if (tix_json_str(cmd->payload, optional[i]) != NULL)
            json_object_set_new(data, optional[i],
                                json_string(tix_json_str(cmd->payload, optional[i])));
    tix_decision_emit(out, l.family_stream, "session.started", data);
    tix_decision_set_result(out, json_pack("{s:s}", "family_id", family));
}

/* Whether hash is one of s's remembered rotated hashes (every slot is compared). */
static bool was_rotated(const struct tix_session_state *s, const char *hash)
{
    bool found = false;
    for (int i = 0; i < s->n_rotated; i++)
        found |= tix_payload_is_same_hash(s->rotated[i], hash);
    return found;
}

/* Whether a refresh presenting the hash rotated away last, asking for the current hash again,
 * comes within the command's grace window of that rotation (measured with the command's clock):
 * a second tab refreshing with the token the first tab just rotated. */
static bool is_sibling_refresh(const struct tix_command *cmd, const struct tix_session_state *s,
                               const char *presented)
{
    int64_t grace_us =
        (int64_t)json_integer_value(json_object_get(cmd->payload, "grace_s")) * 1000000;
    if (grace_us <= 0 || s->n_rotated == 0 || s->rotated_at_us <= 0 ||
        cmd->now_us - s->rotated_at_us > grace_us)
        return false;
    const char *last =
        s->rotated[(s->next_rotated + TIX_SESSION_MAX_ROTATED - 1) % TIX_SESSION_MAX_ROTATED];
    return tix_payload_is_same_hash(last, presented) &&
           tix_payload_is_same_hash(s->current_hash, tix_json_str(cmd->payload, "new_hash"));
}

static void emit_revoked(const struct tix_command *cmd, const struct loaded *l, const char *reason,
                         struct tix_decision *out)
{
    tix_decision_emit(out, l->family_stream, "session.revoked",
                      json_pack("{s:s, s:s, s:s}", "family_id", l->family->family_id, "user_id",
                                cmd->key, "reason", reason));
}

static void decide_refresh(const struct tix_command *cmd, const struct tix_view *view,
                           struct tix_decision *out)
{
    struct loaded l;
    const struct tix_session_state *s = load_family(cmd, view, &l, out);
    if (s == NULL)
        return;
    if (is_revoked(s, l.user)) {
        tix_decision_reject(out, "revoked", NULL, "the session was revoked");
        return;
    }
    const char *presented = tix_json_str(cmd->payload, "presented_hash");
    if (tix_payload_is_same_hash(s->current_hash, presented)) {
        if (cmd->now_us >= s->expires_at * 1000000) {
            tix_decision_reject(out, "expired", "token", "the refresh token expired");
            return;
        }
        json_int_t expires_at = json_integer_value(json_object_get(cmd->payload, "expires_at"));
        tix_decision_emit(out, l.family_stream, "session.rotated",
                          json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "family_id", s->family_id,
                                    "user_id", cmd->key, "token_hash",
                                    tix_json_str(cmd->payload, "new_hash"), "previous_hash",
                                    presented, "expires_at", expires_at, "rotated_at_us",
                                    (json_int_t)cmd->now_us));
        tix_decision_set_result(out, json_pack("{s:s, s:s, s:I}", "status", "rotated", "family_id",
                                               s->family_id, "expires_at", expires_at));
    } else if (is_sibling_refresh(cmd, s, presented)) {
        /* the same successor again, nothing appended: the family stays as it is */
        tix_decision_set_result(out,
                                json_pack("{s:s, s:s, s:I}", "status", "rotated", "family_id",
                                          s->family_id, "expires_at", (json_int_t)s->expires_at));
    } else if (was_rotated(s, presented)) {
        emit_revoked(cmd, &l, "reuse_detected", out);
        tix_decision_set_result(
            out, json_pack("{s:s, s:s}", "status", "revoked", "reason", "reuse_detected"));
    } else {
        tix_decision_reject(out, "invalid_token", "token", "the refresh token is invalid");
    }
}

static void decide_revoke(const struct tix_command *cmd, const struct tix_view *view,
                          struct tix_decision *out)
{
    struct loaded l;
    const struct tix_session_state *s = load_family(cmd, view, &l, out);
    if (s == NULL || is_revoked(s, l.user))
        return;
    emit_revoked(cmd, &l, tix_json_str(cmd->payload, "reason"), out);
}

const struct tix_command_handler tix_session_handlers[] = {
    {"session.start", start_streams, decide_start},
    {"session.refresh", refresh_streams, decide_refresh},
    {"session.revoke", revoke_streams, decide_revoke},
    {NULL, NULL, NULL},
};

/* ---- evolve ------------------------------------------------------------------------------- */

static void *session_create(void)
{
    return tix_xcalloc(1, sizeof(struct tix_session_state));
}

static void session_destroy(void *p)
{
    free(p);
}

static enum tix_rc apply_started(struct tix_session_state *s, const json_t *data)
{
    const char *family = tix_payload_str_fitting(data, "family_id", sizeof(s->family_id));
    const char *user = tix_payload_str_fitting(data, "user_id", sizeof(s->user_id));
    const char *hash = tix_payload_str_fitting(data, "token_hash", sizeof(s->current_hash));
    const json_t *exp = json_object_get(data, "expires_at");
    const json_t *epoch = json_object_get(data, "user_epoch");
    if (s->exists || !tix_uuid_is_valid(family) || !tix_uuid_is_valid(user) ||
        !tix_payload_is_hex64(hash) || !json_is_integer(exp) || !json_is_integer(epoch))
        return TIX_EINVAL;
    s->exists = true;
    snprintf(s->family_id, sizeof(s->family_id), "%s", family);
    snprintf(s->user_id, sizeof(s->user_id), "%s", user);
    snprintf(s->current_hash, sizeof(s->current_hash), "%s", hash);
    s->expires_at = (int64_t)json_integer_value(exp);
    s->user_epoch = (int64_t)json_integer_value(epoch);
    return TIX_OK;
}

static enum tix_rc apply_rotated(struct tix_session_state *s, const json_t *data)
{
    const char *hash = tix_payload_str_fitting(data, "token_hash", sizeof(s->current_hash));
    const char *previous = tix_payload_str_fitting(data, "previous_hash", sizeof(s->current_hash));
    const json_t *exp = json_object_get(data, "expires_at");
    const json_t *at = json_object_get(data, "rotated_at_us"); /* absent from older events */
    if (s->is_revoked || !tix_payload_is_hex64(hash) || previous == NULL ||
        strcmp(previous, s->current_hash) != 0 || !json_is_integer(exp) ||
        (at != NULL && !json_is_integer(at)))
        return TIX_EINVAL;
    s->rotated_at_us = at != NULL ? (int64_t)json_integer_value(at) : 0;
    snprintf(s->rotated[s->next_rotated], TIX_HEX64_SIZE, "%s", s->current_hash);
    s->next_rotated = (s->next_rotated + 1) % TIX_SESSION_MAX_ROTATED;
    if (s->n_rotated < TIX_SESSION_MAX_ROTATED)
        s->n_rotated++;
    snprintf(s->current_hash, sizeof(s->current_hash), "%s", hash);
    s->expires_at = (int64_t)json_integer_value(exp);
    return TIX_OK;
}

static enum tix_rc apply_revoked(struct tix_session_state *s, const json_t *data)
{
    const char *reason = tix_payload_str_fitting(data, "reason", sizeof(s->revoked_reason));
    if (reason == NULL || s->is_revoked)
        return TIX_EINVAL;
    s->is_revoked = true;
    snprintf(s->revoked_reason, sizeof(s->revoked_reason), "%s", reason);
    return TIX_OK;
}

static const struct {
    const char *type;
    enum tix_rc (*apply)(struct tix_session_state *s, const json_t *data);
} session_appliers[] = {
    {"session.started", apply_started},
    {"session.rotated", apply_rotated},
    {"session.revoked", apply_revoked},
};

static enum tix_rc session_evolve(void *p, const char *type, int schema_version, const json_t *data)
{
    struct tix_session_state *s = p;
    for (size_t i = 0; i < N_SPECS(session_appliers); i++) {
        if (strcmp(type, session_appliers[i].type) != 0)
            continue;
        if (schema_version != 1 || !json_is_object(data))
            return TIX_EINVAL;
        if (session_appliers[i].apply != apply_started) {
            const char *family = tix_json_str(data, "family_id");
            const char *user = tix_json_str(data, "user_id");
            if (!s->exists || family == NULL || strcmp(family, s->family_id) != 0 || user == NULL ||
                strcmp(user, s->user_id) != 0)
                return TIX_EINVAL;
        }
        return session_appliers[i].apply(s, data);
    }
    return TIX_OK;
}

const struct tix_stream_kind tix_session_stream_kind = {
    .prefix = TIX_SESSION_STREAM_PREFIX,
    .create = session_create,
    .destroy = session_destroy,
    .evolve = session_evolve,
};
