/* pii_test.c - erasable personal data against the real Postgres (lib/pii.c, 003_identity.sql)
 *
 * Needs a migrated database (scripts/test runs `tixmo migrate` first) and TIXMO_DB_URL for the
 * application role. Every test uses fresh subject ids, so runs never collide. The PII key here
 * is a fixed test key; the tests unwrap stored keys themselves to prove what is (and is not) in
 * the table.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tix/ids.h"
#include "tix/pii.h"

#define TEST_KEY_HEX "9f0e1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100"

static struct tix_db *db;
static uint8_t pii_key[TIX_PII_KEY_BYTES];

static void start(void)
{
    cr_assert(sodium_init() >= 0);
    cr_assert_eq(tix_pii_parse_key(TEST_KEY_HEX, pii_key, NULL), TIX_OK);
    db = tix_test_db("TIXMO_DB_URL");
}

static void stop(void)
{
    tix_db_close(db);
}

TestSuite(pii, .init = start, .fini = stop, .timeout = 60);

static void new_subject(char out[TIX_UUID_LEN + 1])
{
    tix_uuid_v7(out);
}

static void create_key(const char *subject)
{
    struct tix_err err;
    cr_assert_eq(tix_pii_create_key(db, pii_key, subject, &err), TIX_OK, "%s", err.msg);
}

/* The stored wrapped key of subject as bytes; returns its length (0 when NULL or absent). */
static size_t stored_wrapped(const char *subject, uint8_t *out, size_t size)
{
    const char *p[] = {subject};
    PGresult *res = NULL;
    struct tix_err err;
    cr_assert_eq(tix_db_exec(db,
                             "SELECT encode(wrapped_key, 'hex') FROM subject_keys"
                             " WHERE subject_id = $1",
                             1, p, &res, &err),
                 TIX_OK, "%s", err.msg);
    size_t n = 0;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        const char *hex = PQgetvalue(res, 0, 0);
        cr_assert_eq(sodium_hex2bin(out, size, hex, strlen(hex), NULL, &n, NULL), 0);
    }
    PQclear(res);
    return n;
}

static char *encrypt(const char *subject, const char *plaintext)
{
    char *ct = NULL;
    struct tix_err err;
    cr_assert_eq(tix_pii_encrypt(db, pii_key, subject, plaintext, &ct, &err), TIX_OK, "%s",
                 err.msg);
    return ct;
}

Test(pii, create_key_is_idempotent)
{
    char s[TIX_UUID_LEN + 1];
    new_subject(s);
    uint8_t first[128], again[128];
    cr_assert_eq(stored_wrapped(s, first, sizeof(first)), 0);
    create_key(s);
    size_t n = stored_wrapped(s, first, sizeof(first));
    cr_assert_eq(n, 72, "nonce + key + MAC");
    create_key(s);
    create_key(s);
    cr_assert_eq(stored_wrapped(s, again, sizeof(again)), 72);
    cr_assert_eq(memcmp(first, again, n), 0, "the existing key is kept");
    const char *p[] = {s};
    cr_assert_eq(
        tix_test_scalar(db, "SELECT count(*) FROM subject_keys WHERE subject_id = $1", 1, p), 1);
    struct tix_err err;
    cr_assert_eq(tix_pii_create_key(db, pii_key, "", &err), TIX_EINVAL);
    cr_assert_str_eq(err.field, "subject_id");
}

Test(pii, encrypt_and_decrypt_round_trip)
{
    char s[TIX_UUID_LEN + 1];
    new_subject(s);
    create_key(s);
    const char *values[] = {"ana@example.com", "Zo\xc3\xab L\xc3\xb3pez", "", "203.0.113.7"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char *ct = encrypt(s, values[i]);
        cr_assert_eq(strncmp(ct, "v1:", 3), 0);
        cr_assert(strlen(values[i]) < 4 || strstr(ct, values[i]) == NULL);
        char *back = NULL;
        struct tix_err err;
        cr_assert_eq(tix_pii_decrypt(db, pii_key, s, ct, &back, &err), TIX_OK, "%s", err.msg);
        cr_assert_str_eq(back, values[i]);
        free(back);
        free(ct);
    }
    /* Several values under one loaded key. */
    uint8_t key[TIX_PII_KEY_BYTES];
    cr_assert_eq(tix_pii_load_key(db, pii_key, s, key, NULL), TIX_OK);
    char *a = NULL, *b = NULL, *back = NULL;
    cr_assert_eq(tix_pii_seal(key, s, "first", &a, NULL), TIX_OK);
    cr_assert_eq(tix_pii_seal(key, s, "second", &b, NULL), TIX_OK);
    sodium_memzero(key, sizeof(key));
    cr_assert_eq(tix_pii_decrypt(db, pii_key, s, b, &back, NULL), TIX_OK);
    cr_assert_str_eq(back, "second");
    free(back);
    free(a);
    free(b);
}

Test(pii, a_ciphertext_does_not_decrypt_as_another_subject)
{
    char a[TIX_UUID_LEN + 1], b[TIX_UUID_LEN + 1], nobody[TIX_UUID_LEN + 1];
    new_subject(a);
    new_subject(b);
    new_subject(nobody);
    create_key(a);
    create_key(b);
    char *ct = encrypt(a, "ana@example.com");
    char *out = (char *)1;
    struct tix_err err;
    cr_assert_eq(tix_pii_decrypt(db, pii_key, b, ct, &out, &err), TIX_EINVAL);
    cr_assert_null(out);
    cr_assert_str_eq(err.field, "ciphertext");
    cr_assert_eq(tix_pii_decrypt(db, pii_key, nobody, ct, &out, &err), TIX_ENOTFOUND);
    cr_assert_str_eq(err.msg, "no key");
    cr_assert_eq(tix_pii_encrypt(db, pii_key, nobody, "x", &out, &err), TIX_ENOTFOUND);
    cr_assert_null(out);
    /* Tampering is detected too. */
    ct[10] = ct[10] == 'A' ? 'B' : 'A';
    cr_assert_eq(tix_pii_decrypt(db, pii_key, a, ct, &out, &err), TIX_EINVAL);
    free(ct);
}

Test(pii, erasure_makes_ciphertexts_unreadable_for_good)
{
    char s[TIX_UUID_LEN + 1];
    new_subject(s);
    create_key(s);
    char *ct = encrypt(s, "ana@example.com");
    struct tix_err err;
    cr_assert_eq(tix_pii_erase(db, s, &err), TIX_OK, "%s", err.msg);
    char *out = (char *)1;
    cr_assert_eq(tix_pii_decrypt(db, pii_key, s, ct, &out, &err), TIX_ENOTFOUND);
    cr_assert_null(out);
    cr_assert_str_eq(err.msg, "erased");
    cr_assert_eq(tix_pii_encrypt(db, pii_key, s, "new data", &out, &err), TIX_ENOTFOUND);
    cr_assert_str_eq(err.msg, "erased");
    cr_assert_eq(tix_pii_create_key(db, pii_key, s, &err), TIX_ENOTFOUND, "no key after erasure");
    cr_assert_str_eq(err.msg, "erased");
    const char *p[] = {s};
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM subject_keys WHERE subject_id = $1 AND"
                                 " wrapped_key IS NULL AND erased_at IS NOT NULL",
                                 1, p),
                 1);
    long long at = tix_test_scalar(
        db, "SELECT extract(epoch FROM erased_at)::bigint FROM subject_keys WHERE subject_id = $1",
        1, p);
    cr_assert_eq(tix_pii_erase(db, s, &err), TIX_OK, "idempotent");
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT extract(epoch FROM erased_at)::bigint FROM subject_keys"
                                 " WHERE subject_id = $1",
                                 1, p),
                 at, "the first erasure time stays");
    free(ct);
}

Test(pii, erasing_a_subject_without_a_key_blocks_later_keys)
{
    char s[TIX_UUID_LEN + 1];
    new_subject(s);
    struct tix_err err;
    cr_assert_eq(tix_pii_erase(db, s, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_pii_create_key(db, pii_key, s, &err), TIX_ENOTFOUND);
    char *out = NULL;
    cr_assert_eq(tix_pii_encrypt(db, pii_key, s, "x", &out, &err), TIX_ENOTFOUND);
    cr_assert_str_eq(err.msg, "erased");
}

Test(pii, the_table_refuses_to_undo_an_erasure_or_replace_a_key)
{
    char live[TIX_UUID_LEN + 1], gone[TIX_UUID_LEN + 1];
    new_subject(live);
    new_subject(gone);
    create_key(live);
    create_key(gone);
    cr_assert_eq(tix_pii_erase(db, gone, NULL), TIX_OK);
    const char *pl[] = {live}, *pg[] = {gone};
    static const char *const refused_for_gone[] = {
        "UPDATE subject_keys SET wrapped_key = decode(repeat('00', 72), 'hex'), erased_at = NULL"
        " WHERE subject_id = $1",
        "UPDATE subject_keys SET erased_at = now() + interval '1 day' WHERE subject_id = $1",
        "UPDATE subject_keys SET erased_at = NULL WHERE subject_id = $1",
        "DELETE FROM subject_keys WHERE subject_id = $1",
    };
    static const char *const refused_for_live[] = {
        "UPDATE subject_keys SET wrapped_key = decode(repeat('00', 72), 'hex')"
        " WHERE subject_id = $1",
        "UPDATE subject_keys SET wrapped_key = decode('00', 'hex') WHERE subject_id = $1",
        "UPDATE subject_keys SET subject_id = 'someone-else' WHERE subject_id = $1",
        "UPDATE subject_keys SET wrapped_key = NULL WHERE subject_id = $1",
        "DELETE FROM subject_keys WHERE subject_id = $1",
        "TRUNCATE subject_keys",
    };
    struct tix_err err;
    for (size_t i = 0; i < sizeof(refused_for_gone) / sizeof(refused_for_gone[0]); i++)
        cr_assert_neq(tix_db_exec(db, refused_for_gone[i], 1, pg, NULL, &err), TIX_OK, "%s",
                      refused_for_gone[i]);
    for (size_t i = 0; i < sizeof(refused_for_live) / sizeof(refused_for_live[0]); i++) {
        int n = strstr(refused_for_live[i], "$1") != NULL ? 1 : 0;
        cr_assert_neq(tix_db_exec(db, refused_for_live[i], n, pl, NULL, &err), TIX_OK, "%s",
                      refused_for_live[i]);
    }
    uint8_t w[128];
    cr_assert_eq(stored_wrapped(live, w, sizeof(w)), 72, "the live key survived");
    cr_assert_eq(stored_wrapped(gone, w, sizeof(w)), 0, "the erased key stayed erased");
}

Test(pii, keys_are_stored_wrapped_never_raw)
{
    char s[TIX_UUID_LEN + 1];
    new_subject(s);
    create_key(s);
    uint8_t wrapped[128], raw[TIX_PII_KEY_BYTES];
    size_t n = stored_wrapped(s, wrapped, sizeof(wrapped));
    cr_assert_eq(n, crypto_secretbox_NONCEBYTES + TIX_PII_KEY_BYTES + crypto_secretbox_MACBYTES);
    /* Unwrap it here, independently of lib/pii, under the PII key. */
    cr_assert_eq(crypto_secretbox_open_easy(raw, wrapped + crypto_secretbox_NONCEBYTES,
                                            n - crypto_secretbox_NONCEBYTES, wrapped, pii_key),
                 0);
    /* It is the subject's real key: it opens what tix_pii_encrypt wrote. */
    char *ct = encrypt(s, "ana@example.com"), *back = NULL;
    cr_assert_eq(tix_pii_open(raw, s, ct, &back, NULL), TIX_OK);
    cr_assert_str_eq(back, "ana@example.com");
    free(back);
    free(ct);
    /* Its bytes appear nowhere in the row, neither raw nor as hex text. */
    cr_assert_null(memmem(wrapped, n, raw, sizeof(raw)));
    char raw_hex[2 * TIX_PII_KEY_BYTES + 1];
    sodium_bin2hex(raw_hex, sizeof(raw_hex), raw, sizeof(raw));
    const char *p[] = {s, raw_hex};
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM subject_keys WHERE subject_id = $1 AND"
                                 " (position(decode($2, 'hex') in wrapped_key) > 0 OR"
                                 " position($2 in encode(wrapped_key, 'hex')) > 0 OR"
                                 " position($2 in row_to_json(subject_keys)::text) > 0)",
                                 2, p),
                 0);
    sodium_memzero(raw, sizeof(raw));
    /* Under another PII key the stored key does not open. */
    uint8_t other[TIX_PII_KEY_BYTES], key[TIX_PII_KEY_BYTES];
    memcpy(other, pii_key, sizeof(other));
    other[0] ^= 1;
    struct tix_err err;
    cr_assert_eq(tix_pii_load_key(db, other, s, key, &err), TIX_EINTERNAL);
    for (size_t i = 0; i < sizeof(key); i++)
        cr_assert_eq(key[i], 0, "no half-unwrapped key is left behind");
}

Test(pii, blind_index_is_deterministic_and_differs_per_kind)
{
    char a[TIX_PII_BLIND_INDEX_SIZE], b[TIX_PII_BLIND_INDEX_SIZE], c[TIX_PII_BLIND_INDEX_SIZE];
    char email[TIX_PII_EMAIL_MAX + 1];
    cr_assert_eq(tix_pii_normalize_email("  Ana@Example.COM ", email, sizeof(email), NULL), TIX_OK);
    tix_pii_blind_index(pii_key, "email", email, a);
    tix_pii_blind_index(pii_key, "email", "ana@example.com", b);
    tix_pii_blind_index(pii_key, "phone", "ana@example.com", c);
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, c);
    cr_assert_eq(strlen(a), 64);
}
