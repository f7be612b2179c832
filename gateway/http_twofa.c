/* http_twofa.c - TOTP two-factor setup: enable (a pending secret), confirm (with a code, which
 * turns it on and hands out recovery codes once), disable (with a code)
 *
 * The secret is drawn here, sealed under the user's key for the log, and shown to the user
 * once as an otpauth:// URI any authenticator app reads. Recovery codes are shown once and
 * only their hashes are kept; each works once (the user aggregate decides that).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"
#include "tix/pii.h"
#include "tix/totp.h"

#include "identity.h"
#include "routes.h"

#define TIX_2FA_WAIT_S     5
#define TIX_RECOVERY_CODES 10

struct secret_ctx {
    char b32[64];
    char *uri;
    json_t *codes;
};

static void secret_ctx_free(void *arg)
{
    struct secret_ctx *c = arg;
    sodium_memzero(c->b32, sizeof(c->b32));
    free(c->uri);
    json_decref(c->codes);
    free(c);
}

static json_t *pending(struct tix_req *req, const json_t *outcome, void *arg)
{
    req->is_secret = true;
    (void)req;
    (void)outcome;
    struct secret_ctx *c = arg;
    return json_pack("{ss ss ss}", "secret", c->b32, "otpauth_uri", c->uri, "status",
                     "pending: confirm with a code from your app");
}

void tix_http_2fa_enable(struct tix_req *req)
{
    struct secret_ctx *c = calloc(1, sizeof(*c));
    uint8_t secret[20];
    randombytes_buf(secret, sizeof(secret));
    char *sealed = NULL;
    bool ok =
        tix_totp_encode_base32(secret, sizeof(secret), c->b32, sizeof(c->b32), NULL) == TIX_OK &&
        tix_totp_uri("TixMo", req->who.id, c->b32, &c->uri, NULL) == TIX_OK &&
        tix_pii_encrypt(req->th->db, req->th->gw->pii_key, req->who.id, c->b32, &sealed, NULL) ==
            TIX_OK;
    sodium_memzero(secret, sizeof(secret));
    if (!ok) {
        secret_ctx_free(c);
        free(sealed);
        tix_gw_problem(req, 503, "unavailable", "two-factor setup is unavailable right now");
        return;
    }
    json_t *payload = json_pack("{ss ss}", "user_id", req->who.id, "secret_enc", sealed);
    free(sealed);
    struct tix_gw_command cmd = {.type = "user.enable_2fa",
                                 .key = req->who.id,
                                 .payload = payload,
                                 .success_status = 200,
                                 .on_success = pending,
                                 .force_wait_s = TIX_2FA_WAIT_S,
                                 .ctx = c,
                                 .ctx_free = secret_ctx_free};
    tix_gw_submit(req, &cmd);
}

static json_t *confirmed(struct tix_req *req, const json_t *outcome, void *arg)
{
    req->is_secret = true;
    (void)req;
    (void)outcome;
    struct secret_ctx *c = arg;
    return json_pack("{ss sO}", "status", "enabled", "recovery_codes", c->codes);
}

/* Ten codes "XXXXX-XXXXX" (base32 letters and digits) and their hashes. */
static void recovery_codes(json_t *codes, json_t *hashes)
{
    for (int i = 0; i < TIX_RECOVERY_CODES; i++) {
        uint8_t raw[7];
        char b32[16], code[16], hash[TIX_HEX64];
        randombytes_buf(raw, sizeof(raw));
        tix_totp_encode_base32(raw, sizeof(raw), b32, sizeof(b32), NULL);
        snprintf(code, sizeof(code), "%.5s-%.5s", b32, b32 + 5);
        tix_id_recovery_hash(code, hash);
        json_array_append_new(codes, json_string(code));
        json_array_append_new(hashes, json_string(hash));
    }
}

/* Reads the body's code and checks it against the caller's pending secret (is_pending) or
 * active one: true with its TOTP step in *step, else false after answering (the body's problem,
 * or 422 saying why the code is wrong). */
static bool code_checked(struct tix_req *req, bool is_pending, const char *why, int64_t *step)
{
    static const struct tix_field fields[] = {{"code", TIX_F_STRING, true, 6, 8},
                                              {NULL, TIX_F_STRING, false, 0, 0}};
    json_t *body = tix_gw_body(req, fields);
    if (body == NULL)
        return false;
    bool ok = tix_id_totp_check(req, req->who.id, is_pending, tix_json_str(body, "code"), step);
    json_decref(body);
    if (!ok)
        tix_gw_problem_fields(req, 422, "the code is not valid",
                              json_pack("[{ss ss}]", "field", "code", "message", why));
    return ok;
}

void tix_http_2fa_confirm(struct tix_req *req)
{
    int64_t step = 0;
    if (!code_checked(req, true, "not the current code of the pending secret", &step))
        return;
    struct secret_ctx *c = calloc(1, sizeof(*c));
    c->codes = json_array();
    json_t *hashes = json_array();
    recovery_codes(c->codes, hashes);
    json_t *payload = json_pack("{ss sI so}", "user_id", req->who.id, "step", (json_int_t)step,
                                "recovery_code_hashes", hashes);
    struct tix_gw_command cmd = {.type = "user.confirm_2fa",
                                 .key = req->who.id,
                                 .payload = payload,
                                 .success_status = 200,
                                 .on_success = confirmed,
                                 .force_wait_s = TIX_2FA_WAIT_S,
                                 .ctx = c,
                                 .ctx_free = secret_ctx_free};
    tix_gw_submit(req, &cmd);
}

void tix_http_2fa_disable(struct tix_req *req)
{
    int64_t step = 0;
    if (!code_checked(req, false, "not the current code of your authenticator", &step))
        return;
    struct tix_gw_command cmd = {.type = "user.disable_2fa",
                                 .key = req->who.id,
                                 .payload = json_pack("{ss}", "user_id", req->who.id),
                                 .success_status = 200,
                                 .force_wait_s = TIX_2FA_WAIT_S};
    tix_gw_submit(req, &cmd);
}
