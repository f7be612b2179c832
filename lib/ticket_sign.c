/* ticket_sign.c - per-event Ed25519 keys and TIX1 ticket payloads (see ticket_sign.h)
 *
 * Parsing is strict so that one ticket has exactly one accepted payload: exactly three parts,
 * base64url without padding, the JSON object with exactly the keys e, s, t, z and nothing else,
 * and the signature checked over the received bytes of the first two parts. The JSON is built
 * with jansson (sorted keys, compact).
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/ticket_sign.h"

#define PREFIX     "TIX1."
#define PREFIX_LEN 5
#define SIG_LEN    crypto_sign_BYTES
#define B64        sodium_base64_VARIANT_URLSAFE_NO_PADDING

enum tix_rc tix_ticket_master_parse(const char *hex, uint8_t out[TIX_TICKET_MASTER_LEN],
                                    struct tix_err *err)
{
    size_t got = 0;
    if (hex == NULL || strlen(hex) != 2 * TIX_TICKET_MASTER_LEN ||
        strspn(hex, "0123456789abcdef") != 2 * TIX_TICKET_MASTER_LEN ||
        sodium_hex2bin(out, TIX_TICKET_MASTER_LEN, hex, strlen(hex), NULL, &got, NULL) != 0 ||
        got != TIX_TICKET_MASTER_LEN)
        return tix_err_set(err, TIX_EINVAL, "TIXMO_TICKET_KEY",
                           "must be 64 lowercase hex characters");
    return TIX_OK;
}

enum tix_rc tix_ticket_keys_derive(const uint8_t master[TIX_TICKET_MASTER_LEN],
                                   const char *event_id, struct tix_ticket_keys *out,
                                   struct tix_err *err)
{
    if (!tix_uuid_is_valid(event_id))
        return tix_err_set(err, TIX_EINVAL, "event_id", "must be a UUID");
    static const char label[] = "ticket-sign:";
    unsigned char seed[crypto_sign_SEEDBYTES];
    crypto_generichash_state st;
    crypto_generichash_init(&st, master, TIX_TICKET_MASTER_LEN, sizeof(seed));
    crypto_generichash_update(&st, (const unsigned char *)label, sizeof(label) - 1);
    crypto_generichash_update(&st, (const unsigned char *)event_id, strlen(event_id));
    crypto_generichash_final(&st, seed, sizeof(seed));
    crypto_sign_seed_keypair(out->pk, out->sk, seed);
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(&st, sizeof(st));
    return TIX_OK;
}

void tix_ticket_keys_wipe(struct tix_ticket_keys *keys)
{
    sodium_memzero(keys->sk, sizeof(keys->sk));
}

static enum tix_rc check_claims(const struct tix_ticket_claims *c, struct tix_err *err)
{
    if (!tix_uuid_is_valid(c->ticket_id))
        return tix_err_set(err, TIX_EINVAL, "ticket_id", "must be a UUID");
    if (!tix_uuid_is_valid(c->event_id))
        return tix_err_set(err, TIX_EINVAL, "event_id", "must be a UUID");
    size_t s = strnlen(c->session_id, sizeof(c->session_id));
    if (s == 0 || s > TIX_TICKET_SESSION_MAX)
        return tix_err_set(err, TIX_EINVAL, "session_id", "must be 1 to %d characters",
                           TIX_TICKET_SESSION_MAX);
    if (strnlen(c->seat, sizeof(c->seat)) > TIX_TICKET_SEAT_MAX)
        return tix_err_set(err, TIX_EINVAL, "seat", "must be at most %d characters",
                           TIX_TICKET_SEAT_MAX);
    return TIX_OK;
}

enum tix_rc tix_ticket_payload_build(const struct tix_ticket_keys *keys,
                                     const struct tix_ticket_claims *c, char *out, size_t size,
                                     struct tix_err *err)
{
    enum tix_rc rc = check_claims(c, err);
    if (rc != TIX_OK)
        return rc;
    json_t *j = json_pack("{ss ss ss so}", "e", c->event_id, "s", c->session_id, "t", c->ticket_id,
                          "z", c->seat[0] ? json_string(c->seat) : json_null());
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (text == NULL)
        return tix_err_set(err, TIX_EINVAL, "session_id", "claims are not valid UTF-8");
    size_t tlen = strlen(text);
    size_t body_len = sodium_base64_ENCODED_LEN(tlen, B64) - 1;
    size_t need = PREFIX_LEN + body_len + 1 + sodium_base64_ENCODED_LEN(SIG_LEN, B64);
    if (need > size || need > TIX_TICKET_PAYLOAD_MAX) {
        free(text);
        return tix_err_set(err, TIX_EINVAL, "seat", "the payload would be too long");
    }
    memcpy(out, PREFIX, PREFIX_LEN);
    sodium_bin2base64(out + PREFIX_LEN, size - PREFIX_LEN, (const unsigned char *)text, tlen, B64);
    free(text);
    size_t signed_len = PREFIX_LEN + body_len;
    unsigned char sig[SIG_LEN];
    crypto_sign_detached(sig, NULL, (const unsigned char *)out, signed_len, keys->sk);
    out[signed_len] = '.';
    sodium_bin2base64(out + signed_len + 1, size - signed_len - 1, sig, SIG_LEN, B64);
    return TIX_OK;
}

static enum tix_rc bad(struct tix_err *err, const char *why)
{
    return tix_err_set(err, TIX_EINVAL, "payload", "%s", why);
}

/* Copies string member key of obj into out (size bytes); JSON null gives "" when allowed. */
static bool copy_member(const json_t *obj, const char *key, char *out, size_t size, bool is_null_ok)
{
    const json_t *v = json_object_get(obj, key);
    if (is_null_ok && json_is_null(v)) {
        out[0] = '\0';
        return true;
    }
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) >= size || (!is_null_ok && s[0] == '\0'))
        return false;
    memcpy(out, s, strlen(s) + 1);
    return true;
}

/* Decodes the JSON part (len base64url characters at b64) into claims. */
static enum tix_rc decode_claims(const char *b64, size_t len, struct tix_ticket_claims *c,
                                 struct tix_err *err)
{
    unsigned char raw[TIX_TICKET_PAYLOAD_MAX];
    size_t raw_len = 0;
    if (sodium_base642bin(raw, sizeof(raw), b64, len, NULL, &raw_len, NULL, B64) != 0)
        return bad(err, "malformed payload: the claims are not base64url");
    json_t *j = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
    bool is_ok = json_is_object(j) && json_object_size(j) == 4 &&
                 copy_member(j, "t", c->ticket_id, sizeof(c->ticket_id), false) &&
                 copy_member(j, "e", c->event_id, sizeof(c->event_id), false) &&
                 copy_member(j, "s", c->session_id, sizeof(c->session_id), false) &&
                 copy_member(j, "z", c->seat, sizeof(c->seat), true);
    json_decref(j);
    if (!is_ok)
        return bad(err, "malformed payload: the claims are not {e, s, t, z}");
    struct tix_err cerr;
    if (check_claims(c, &cerr) != TIX_OK)
        return tix_err_set(err, TIX_EINVAL, "payload", "malformed payload: %s %s", cerr.field,
                           cerr.msg);
    return TIX_OK;
}

/* Splits payload into its claims and signature parts. */
static enum tix_rc split(const char *payload, const char **dot, struct tix_err *err)
{
    if (payload == NULL || strncmp(payload, PREFIX, PREFIX_LEN) != 0)
        return bad(err, "not a TIX1 ticket payload");
    if (strlen(payload) > TIX_TICKET_PAYLOAD_MAX)
        return bad(err, "payload too long");
    *dot = strchr(payload + PREFIX_LEN, '.');
    if (*dot == NULL || *dot == payload + PREFIX_LEN)
        return bad(err, "truncated payload: no signature part");
    if (strchr(*dot + 1, '.') != NULL)
        return bad(err, "malformed payload: more than three parts");
    return TIX_OK;
}

enum tix_rc tix_ticket_payload_peek(const char *payload, struct tix_ticket_claims *out,
                                    struct tix_err *err)
{
    const char *dot = NULL;
    enum tix_rc rc = split(payload, &dot, err);
    if (rc != TIX_OK)
        return rc;
    return decode_claims(payload + PREFIX_LEN, (size_t)(dot - payload - PREFIX_LEN), out, err);
}

enum tix_rc tix_ticket_payload_verify(const char *payload, const uint8_t pk[TIX_TICKET_PK_LEN],
                                      struct tix_ticket_claims *out, struct tix_err *err)
{
    const char *dot = NULL;
    enum tix_rc rc = split(payload, &dot, err);
    if (rc != TIX_OK)
        return rc;
    unsigned char sig[SIG_LEN + 1];
    size_t sig_len = 0;
    const char *s = dot + 1;
    if (sodium_base642bin(sig, sizeof(sig), s, strlen(s), NULL, &sig_len, NULL, B64) != 0 ||
        sig_len != SIG_LEN)
        return bad(err, "truncated or malformed signature");
    struct tix_ticket_claims c;
    rc = decode_claims(payload + PREFIX_LEN, (size_t)(dot - payload - PREFIX_LEN), &c, err);
    if (rc != TIX_OK)
        return rc;
    if (crypto_sign_verify_detached(sig, (const unsigned char *)payload, (size_t)(dot - payload),
                                    pk) != 0)
        return bad(err, "signature does not match: tampered payload or another event's key");
    *out = c;
    return TIX_OK;
}
