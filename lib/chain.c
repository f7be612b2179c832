/* chain.c - BLAKE2b-256 hash chain over canonical event bytes
 *
 * The canonical form is fed to the hash incrementally, field by field, each as
 * "<decimal length>:<bytes>;" after the tag "tixmo.event.v1;". Integers are decimal text.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "tix/chain.h"

static void put(crypto_generichash_state *st, const char *s, size_t len)
{
    char prefix[24];
    int n = snprintf(prefix, sizeof(prefix), "%zu:", len);
    crypto_generichash_update(st, (const unsigned char *)prefix, (size_t)n);
    crypto_generichash_update(st, (const unsigned char *)s, len);
    crypto_generichash_update(st, (const unsigned char *)";", 1);
}

static void put_str(crypto_generichash_state *st, const char *s)
{
    put(st, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

static void put_int(crypto_generichash_state *st, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", (long long)v);
    put(st, num, (size_t)n);
}

void tix_chain_hash(const uint8_t prev[TIX_HASH_LEN], const struct tix_event *e,
                    uint8_t out[TIX_HASH_LEN])
{
    static const char tag[] = "tixmo.event.v1;";
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, TIX_HASH_LEN);
    crypto_generichash_update(&st, (const unsigned char *)tag, sizeof(tag) - 1);
    crypto_generichash_update(&st, prev, TIX_HASH_LEN);
    put_int(&st, e->partition);
    put_int(&st, e->partition_seq);
    put_str(&st, e->stream_id);
    put_int(&st, e->stream_version);
    put_str(&st, e->event_id);
    put_str(&st, e->command_id);
    put_str(&st, e->type);
    put_int(&st, e->schema_version);
    put_int(&st, e->recorded_at_us);
    put_str(&st, e->data);
    put_str(&st, e->metadata);
    crypto_generichash_final(&st, out, TIX_HASH_LEN);
}

void tix_chain_hex(const uint8_t h[TIX_HASH_LEN], char out[2 * TIX_HASH_LEN + 1])
{
    sodium_bin2hex(out, 2 * TIX_HASH_LEN + 1, h, TIX_HASH_LEN);
}

int tix_chain_unhex(const char *s, uint8_t out[TIX_HASH_LEN])
{
    if (s == NULL)
        return -1;
    if (s[0] == '\\' && s[1] == 'x')
        s += 2;
    size_t bin_len = 0;
    if (strlen(s) != 2 * TIX_HASH_LEN ||
        sodium_hex2bin(out, TIX_HASH_LEN, s, 2 * TIX_HASH_LEN, NULL, &bin_len, NULL) != 0 ||
        bin_len != TIX_HASH_LEN)
        return -1;
    return 0;
}
