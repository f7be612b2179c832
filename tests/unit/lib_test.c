/* lib_test.c - the pure parts of libtix: buffers, JSON escaping, ids, partitions, the chain, money
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "tix/buf.h"
#include "tix/bus.h"
#include "tix/chain.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/money.h"

static void setup(void)
{
    cr_assert(sodium_init() >= 0);
}

TestSuite(lib, .init = setup);

Test(lib, buf_respects_its_maximum_and_stays_unchanged_on_failure)
{
    struct tix_buf b;
    tix_buf_init(&b, 8);
    cr_assert_eq(tix_buf_puts(&b, "12345"), TIX_OK);
    cr_assert_eq(tix_buf_puts(&b, "6789"), TIX_EINVAL);
    cr_assert_str_eq(b.ptr, "12345");
    cr_assert_eq(tix_buf_printf(&b, "%d", 678), TIX_OK);
    cr_assert_str_eq(b.ptr, "12345678");
    tix_buf_deinit(&b);
}

Test(lib, json_str_escapes_what_json_requires_and_round_trips)
{
    static const char *const inputs[] = {"plain",
                                         "quote \" backslash \\ slash /",
                                         "tab\tnewline\ncr\r",
                                         "\x01\x1f control",
                                         "unicode \xc3\xa9\xe2\x82\xac\xf0\x9f\x8e\xab",
                                         ""};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct tix_buf b;
        tix_buf_init(&b, 0);
        tix_buf_puts(&b, "[");
        cr_assert_eq(tix_buf_json_str(&b, inputs[i]), TIX_OK);
        tix_buf_puts(&b, "]");
        json_t *v = tix_json_parse(b.ptr, b.len, NULL);
        cr_assert(json_is_string(json_array_get(v, 0)), "not a JSON string: %s", b.ptr);
        cr_assert_str_eq(json_string_value(json_array_get(v, 0)), inputs[i]);
        json_decref(v);
        tix_buf_deinit(&b);
    }
}

Test(lib, json_parse_rejects_duplicate_keys)
{
    struct tix_err err;
    cr_assert_null(tix_json_parse("{\"a\":1,\"a\":2}", 13, &err));
    cr_assert_eq(err.rc, TIX_EINVAL);
}

Test(lib, uuid_v7_is_well_formed_unique_and_time_ordered)
{
    char a[TIX_UUID_LEN + 1], b[TIX_UUID_LEN + 1];
    tix_uuid_v7(a);
    usleep(2000);
    tix_uuid_v7(b);
    cr_assert(tix_uuid_is_valid(a) && tix_uuid_is_valid(b));
    cr_assert_eq(a[14], '7', "version 7");
    cr_assert(strchr("89ab", a[19]) != NULL, "RFC 9562 variant");
    cr_assert_lt(strcmp(a, b), 0, "later ids sort later");
    cr_assert_not(tix_uuid_is_valid("0190C1E2-0000-7000-8000-000000000001"), "uppercase");
    cr_assert_not(tix_uuid_is_valid("0190c1e2-0000-7000-8000-00000000001"));
}

Test(lib, partition_of_is_stable_across_releases)
{
    /* FNV-1a 64 of "acme" is 0x0724d383f4f6de0f: changing this breaks every install. */
    cr_assert_eq(tix_partition_of("acme", 4, 16), (uint32_t)(0x0724d383f4f6de0fULL % 16));
    cr_assert_eq(tix_partition_of("", 0, 16), (uint32_t)(14695981039346656037ULL % 16));
    cr_assert_eq(tix_fnv1a("acme", 4), 0x0724d383f4f6de0fULL);
}

Test(lib, uuid_format_sets_version_and_variant_only)
{
    unsigned char b[16];
    for (int i = 0; i < 16; i++)
        b[i] = (unsigned char)(0xf0 | i);
    char out[TIX_UUID_LEN + 1];
    tix_uuid_format(b, 8, out);
    cr_assert_str_eq(out, "f0f1f2f3-f4f5-86f7-b8f9-fafbfcfdfeff");
    tix_uuid_format(b, 4, out);
    cr_assert_str_eq(out, "f0f1f2f3-f4f5-46f7-b8f9-fafbfcfdfeff");
    cr_assert_eq(b[6], 0xf6, "the bytes given are left as they are");
}

Test(lib, chain_hash_covers_every_field)
{
    uint8_t prev[TIX_HASH_LEN] = {0}, base[TIX_HASH_LEN], h[TIX_HASH_LEN];
    struct tix_event e = {.partition = 3,
                          .partition_seq = 7,
                          .stream_id = "s-1",
                          .stream_version = 2,
                          .event_id = "e",
                          .command_id = "c",
                          .type = "t",
                          .schema_version = 1,
                          .data = "{\"a\":1}",
                          .metadata = "{}",
                          .recorded_at_us = 1000};
    tix_chain_hash(prev, &e, base);
    tix_chain_hash(prev, &e, h);
    cr_assert_eq(memcmp(base, h, TIX_HASH_LEN), 0, "deterministic");
    struct tix_event v[] = {e, e, e, e, e, e, e, e, e, e, e};
    v[0].partition = 4;
    v[1].partition_seq = 8;
    v[2].stream_id = "s-2";
    v[3].stream_version = 3;
    v[4].event_id = "f";
    v[5].command_id = "d";
    v[6].type = "u";
    v[7].schema_version = 2;
    v[8].data = "{\"a\":2}";
    v[9].metadata = "{\"x\":1}";
    v[10].recorded_at_us = 1001;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        tix_chain_hash(prev, &v[i], h);
        cr_assert_neq(memcmp(base, h, TIX_HASH_LEN), 0, "field %zu not covered", i);
    }
    prev[0] = 1;
    tix_chain_hash(prev, &e, h);
    cr_assert_neq(memcmp(base, h, TIX_HASH_LEN), 0, "the previous hash is covered");
    struct tix_event shifted = e; /* length prefixes: moving bytes between fields changes it */
    shifted.stream_id = "s-1t";
    shifted.type = "";
    tix_chain_hash((uint8_t[TIX_HASH_LEN]){0}, &shifted, h);
    cr_assert_neq(memcmp(base, h, TIX_HASH_LEN), 0);
}

Test(lib, chain_hex_round_trips_and_accepts_postgres_bytea)
{
    uint8_t h[TIX_HASH_LEN], back[TIX_HASH_LEN];
    randombytes_buf(h, sizeof(h));
    char hex[2 * TIX_HASH_LEN + 1], bytea[2 * TIX_HASH_LEN + 3] = "\\x";
    tix_chain_hex(h, hex);
    cr_assert_eq(tix_chain_unhex(hex, back), 0);
    cr_assert_eq(memcmp(h, back, TIX_HASH_LEN), 0);
    memcpy(bytea + 2, hex, sizeof(hex));
    cr_assert_eq(tix_chain_unhex(bytea, back), 0);
    cr_assert_eq(tix_chain_unhex("abc", back), -1);
}

Test(lib, envelope_round_trips_and_names_the_bad_field)
{
    json_t *payload = json_pack("{ss}", "name", "x");
    char *body = tix_envelope_encode("cmd-1", "organization.rename", "key-1", payload, "user:u",
                                     NULL, NULL, "127.0.0.1");
    struct tix_envelope env;
    struct tix_err err;
    cr_assert_eq(tix_envelope_decode(body, strlen(body), &env, &err), TIX_OK, "%s", err.msg);
    cr_assert_str_eq(env.command_id, "cmd-1");
    cr_assert_str_eq(env.correlation_id, "cmd-1");
    cr_assert_str_eq(env.source, "127.0.0.1");
    cr_assert(json_equal((json_t *)env.payload, payload));
    tix_envelope_deinit(&env);
    free(body);
    json_decref(payload);
    static const char *const bad[][2] = {
        {"{\"command_id\":\"\",\"type\":\"t\",\"key\":\"k\",\"payload\":{},\"actor\":\"a\","
         "\"correlation_id\":\"c\"}",
         "command_id"},
        {"{\"command_id\":\"x\",\"type\":\"t\",\"key\":\"k\",\"payload\":[],\"actor\":\"a\","
         "\"correlation_id\":\"c\"}",
         "payload"},
        {"{\"command_id\":\"x\",\"type\":\"t\",\"key\":\"k\",\"payload\":{},\"actor\":\"a\","
         "\"correlation_id\":\"c\",\"extra\":1}",
         "envelope"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(tix_envelope_decode(bad[i][0], strlen(bad[i][0]), &env, &err), TIX_EINVAL);
        cr_assert_str_eq(err.field, bad[i][1]);
    }
}

Test(lib, money_is_shown_in_the_currency_s_own_minor_unit)
{
    char out[48];
    tix_money_format(4500, "EUR", out, sizeof(out));
    cr_assert_str_eq(out, "EUR 45.00");
    tix_money_format(5, "usd", out, sizeof(out));
    cr_assert_str_eq(out, "usd 0.05");
    tix_money_format(1200, "JPY", out, sizeof(out));
    cr_assert_str_eq(out, "JPY 1200");
    tix_money_format(1250, "KWD", out, sizeof(out));
    cr_assert_str_eq(out, "KWD 1.250");
    tix_money_format(-5, "EUR", out, sizeof(out));
    cr_assert_str_eq(out, "EUR -0.05");
    tix_money_format(-9223372036854775807LL - 1, "JPY", out, sizeof(out));
    cr_assert_str_eq(out, "JPY -9223372036854775808");
    cr_assert_eq(tix_currency_exponent("krw"), 0);
    cr_assert_eq(tix_currency_exponent("BHD"), 3);
    cr_assert_eq(tix_currency_exponent("GBP"), 2);
    cr_assert_eq(tix_currency_exponent(NULL), 2);
}

Test(lib, batch_lines_skip_empty_ones_and_stop_at_the_end)
{
    const char body[] = "one\n\ntwo\nthree\n";
    const char *at = body, *end = body + strlen(body), *line;
    size_t len = 0;
    const char *want[] = {"one", "two", "three"};
    int n = 0;
    while ((line = tix_bus_batch_line(&at, end, &len)) != NULL) {
        cr_assert_lt(n, 3);
        cr_assert_eq(len, strlen(want[n]));
        cr_assert(strncmp(line, want[n], len) == 0);
        n++;
    }
    cr_assert_eq(n, 3);
    at = body;
    cr_assert_null(tix_bus_batch_line(&at, body, &len), "an empty body has no line");
    const char *last = "{\"a\":1}"; /* no newline at the end */
    at = last;
    cr_assert_not_null(tix_bus_batch_line(&at, last + strlen(last), &len));
    cr_assert_eq(len, strlen(last));
}
