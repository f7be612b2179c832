/* cmd_store.c - tixmo migrate, export, audit verify, stream show */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tix/chain.h"
#include "tix/ids.h"
#include "tix/json.h"
#include "tix/migrate.h"
#include "tix/store.h"

#include "cli.h"

int tix_cli_migrate(int argc, char **argv, const struct tix_config *cfg)
{
    (void)argc;
    (void)argv;
    struct tix_db *db = tix_cli_db(cfg->db_admin_url);
    if (db == NULL)
        return 1;
    struct tix_err err;
    int applied = 0;
    enum tix_rc rc = tix_migrate(db, cfg->schema_dir, cfg->partitions, &applied, &err);
    tix_db_close(db);
    if (rc != TIX_OK)
        return tix_cli_fail("migrate", &err);
    printf("migrated: %d new migration(s), %d partitions\n", applied, cfg->partitions);
    return 0;
}

/* Writes s as a JSON string literal. */
static void put_json_str(FILE *out, const char *s)
{
    json_t *v = json_string(s);
    char *text = json_dumps(v, JSON_ENCODE_ANY);
    fputs(text != NULL ? text : "\"\"", out);
    free(text);
    json_decref(v);
}

/* One event as a JSON line; data and metadata are embedded byte for byte, so an export is
 * enough to recompute every hash. */
static enum tix_rc export_cb(const struct tix_event *e, void *ctx)
{
    FILE *out = ctx;
    char at[32], prev[65], hash[65];
    tix_time_format(e->recorded_at_us, at);
    tix_chain_hex(e->prev_hash, prev);
    tix_chain_hex(e->hash, hash);
    fprintf(out,
            "{\"partition\":%d,\"partition_seq\":%" PRId64 ",\"global_pos\":%" PRId64
            ",\"stream_id\":",
            e->partition, e->partition_seq, e->global_pos);
    put_json_str(out, e->stream_id);
    fprintf(out, ",\"stream_version\":%" PRId64 ",\"event_id\":\"%s\",\"command_id\":",
            e->stream_version, e->event_id);
    put_json_str(out, e->command_id);
    fputs(",\"type\":", out);
    put_json_str(out, e->type);
    fprintf(out,
            ",\"schema_version\":%d,\"recorded_at\":\"%s\",\"recorded_at_us\":%" PRId64
            ",\"data\":%s,\"metadata\":%s,\"prev_hash\":\"%s\",\"hash\":\"%s\"}\n",
            e->schema_version, at, e->recorded_at_us, e->data, e->metadata, prev, hash);
    return ferror(out) ? TIX_ETRANSIENT : TIX_OK;
}

static int export_usage(void)
{
    fprintf(stderr, "usage: tixmo export [--stream ID] [--type TYPE|PREFIX*] [--partition N]\n"
                    "                    [--since RFC3339] [--until RFC3339] [--output FILE]\n"
                    "Events as JSON lines, ordered by partition then sequence.\n");
    return 2;
}

int tix_cli_export(int argc, char **argv, const struct tix_config *cfg)
{
    static const struct option opts[] = {{"stream", required_argument, NULL, 's'},
                                         {"type", required_argument, NULL, 't'},
                                         {"partition", required_argument, NULL, 'p'},
                                         {"since", required_argument, NULL, 'f'},
                                         {"until", required_argument, NULL, 'u'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct tix_event_filter f = {.partition = -1};
    const char *output = NULL;
    int c;
    optind = 0;
    char **args = argv - 1; /* getopt wants a program name at [0] */
    while ((c = getopt_long(argc + 1, args, "", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 's':
            f.stream_id = optarg;
            break;
        case 't':
            f.type = optarg;
            break;
        case 'f':
            f.since = optarg;
            break;
        case 'u':
            f.until = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'p':
            f.partition = (int)strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || f.partition < 0)
                return export_usage();
            break;
        default:
            return export_usage();
        }
    }
    FILE *out = output != NULL ? fopen(output, "w") : stdout;
    if (out == NULL) {
        fprintf(stderr, "tixmo: cannot write %s\n", output);
        return 1;
    }
    struct tix_db *db = tix_cli_db(cfg->db_url);
    struct tix_err err;
    enum tix_rc rc = db != NULL ? tix_store_scan(db, &f, export_cb, out, &err) : TIX_ETRANSIENT;
    tix_db_close(db);
    if (out != stdout)
        fclose(out);
    return db == NULL ? 1 : rc != TIX_OK ? tix_cli_fail("export", &err) : 0;
}

struct verify {
    int partition;
    int64_t expected_seq;
    uint8_t prev[TIX_HASH_LEN];
    int64_t checked;
    int64_t total;
    bool is_tty;
    char failure[512];
};

static enum tix_rc verify_cb(const struct tix_event *e, void *ctx)
{
    struct verify *v = ctx;
    uint8_t h[TIX_HASH_LEN];
    tix_chain_hash(v->prev, e, h);
    const char *why = e->partition_seq != v->expected_seq                ? "sequence gap"
                      : memcmp(e->prev_hash, v->prev, TIX_HASH_LEN) != 0 ? "broken link"
                      : memcmp(h, e->hash, TIX_HASH_LEN) != 0            ? "hash mismatch"
                                                                         : NULL;
    if (why != NULL) {
        snprintf(v->failure, sizeof(v->failure),
                 "FAILED partition %d seq %" PRId64 ": %s (stream %s version %" PRId64
                 ", event %s)",
                 v->partition, v->expected_seq, why, e->stream_id, e->stream_version, e->event_id);
        return TIX_EINVAL;
    }
    memcpy(v->prev, h, TIX_HASH_LEN);
    v->expected_seq++;
    if (++v->checked % 10000 == 0 && v->is_tty)
        fprintf(stderr, "\rverifying: %" PRId64 "/%" PRId64 " events", v->checked, v->total);
    return TIX_OK;
}

/* Walks one partition's chain and compares its end with the partition head. */
static enum tix_rc verify_partition(struct tix_db *db, struct verify *v, struct tix_err *err)
{
    memset(v->prev, 0, sizeof(v->prev));
    v->expected_seq = 1;
    enum tix_rc rc = TIX_OK;
    for (int n = 1; n > 0 && rc == TIX_OK;)
        rc = tix_store_read_partition(db, v->partition, v->expected_seq - 1, 5000, verify_cb, v, &n,
                                      err);
    if (rc != TIX_OK)
        return rc;
    struct tix_partition_head head;
    rc = tix_store_head(db, v->partition, &head, err);
    if (rc == TIX_OK && (head.last_seq != v->expected_seq - 1 ||
                         memcmp(head.last_hash, v->prev, TIX_HASH_LEN) != 0)) {
        snprintf(v->failure, sizeof(v->failure),
                 "FAILED partition %d seq %" PRId64 ": head says seq %" PRId64
                 " with another hash (events missing or head altered)",
                 v->partition, v->expected_seq, head.last_seq);
        rc = TIX_EINVAL;
    }
    return rc;
}

int tix_cli_audit(int argc, char **argv, const struct tix_config *cfg)
{
    if (argc < 1 || strcmp(argv[0], "verify") != 0) {
        fprintf(stderr, "usage: tixmo audit verify\n");
        return 2;
    }
    struct tix_db *db = tix_cli_db(cfg->db_url);
    if (db == NULL)
        return 1;
    struct tix_err err;
    tix_err_clear(&err);
    struct verify v = {.is_tty = isatty(STDERR_FILENO)};
    int partitions = 0;
    PGresult *res = NULL;
    enum tix_rc rc = tix_store_partitions(db, &partitions, &err);
    if (rc == TIX_OK)
        rc = tix_db_exec(db, "SELECT coalesce(sum(last_seq), 0) FROM partition_heads", 0, NULL,
                         &res, &err);
    if (rc == TIX_OK)
        v.total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    for (v.partition = 0; v.partition < partitions && rc == TIX_OK; v.partition++)
        rc = verify_partition(db, &v, &err);
    tix_db_close(db);
    if (v.is_tty)
        fprintf(stderr, "\r\033[K");
    if (v.failure[0] != '\0') {
        printf("%s\n", v.failure);
        return 1;
    }
    if (rc != TIX_OK)
        return tix_cli_fail("audit verify", &err);
    printf("ok: %" PRId64 " events in %d partitions, every hash chain intact\n", v.checked,
           partitions);
    return 0;
}

static enum tix_rc show_cb(const struct tix_event *e, void *ctx)
{
    (void)ctx;
    char at[32];
    tix_time_format(e->recorded_at_us, at);
    printf("v%-4" PRId64 " %s  %-36s p%d/%" PRId64 "  %s\n", e->stream_version, at, e->type,
           e->partition, e->partition_seq, e->data);
    printf("      metadata %s\n", e->metadata);
    return TIX_OK;
}

int tix_cli_stream(int argc, char **argv, const struct tix_config *cfg)
{
    if (argc < 2 || strcmp(argv[0], "show") != 0) {
        fprintf(stderr, "usage: tixmo stream show <stream-id>\n");
        return 2;
    }
    struct tix_db *db = tix_cli_db(cfg->db_url);
    if (db == NULL)
        return 1;
    struct tix_err err;
    enum tix_rc rc = tix_store_read_stream(db, argv[1], 0, show_cb, NULL, &err);
    tix_db_close(db);
    return rc != TIX_OK ? tix_cli_fail("stream show", &err) : 0;
}
