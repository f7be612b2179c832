/* main.c - tixmo: dispatch to a subcommand from one table */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "tix/log.h"

#include "cli.h"

static const struct tix_cli_cmd commands[] = {
    {"migrate", "migrate                      apply schema migrations, install partitions",
     tix_cli_migrate},
    {"replay", "replay <projection>          rebuild a read model from sequence 0", tix_cli_replay},
    {"projections", "projections                  versions and lag of every read model",
     tix_cli_projections},
    {"export", "export [filters]             events as JSON lines (--help for filters)",
     tix_cli_export},
    {"audit", "audit verify                 check every partition's hash chain", tix_cli_audit},
    {"stream", "stream show <stream-id>      print a stream's events", tix_cli_stream},
    {"command", "command <type> <key> <json>  send a command and print its outcome",
     tix_cli_command},
    {"dlq", "dlq list|purge               inspect the dead-letter queue", tix_cli_dlq},
    {"demo", "demo load                    load demo data (safe to repeat)", tix_cli_demo},
};

static int usage(void)
{
    fprintf(stderr, "usage: tixmo <command> [args]\n\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(stderr, "  tixmo %s\n", commands[i].usage);
    fprintf(stderr, "\nConfiguration comes from TIXMO_* environment variables "
                    "(see docs/operations.md).\n");
    return 2;
}

struct tix_db *tix_cli_db(const char *url)
{
    struct tix_db *db = NULL;
    struct tix_err err;
    if (tix_db_open(url, &db, &err) != TIX_OK)
        tix_cli_fail("cannot connect to postgres", &err);
    return db;
}

int tix_cli_fail(const char *what, const struct tix_err *err)
{
    fprintf(stderr, "tixmo: %s: %s%s%s\n", what, err->msg, err->field[0] ? " field=" : "",
            err->field);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return usage();
    struct tix_config cfg;
    struct tix_err err;
    if (sodium_init() < 0 || tix_config_load(&cfg, &err) != TIX_OK)
        return 2;
    tix_log_init("cli", (enum tix_log_level)cfg.log_level);
    int code = -1;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            code = commands[i].run(argc - 2, argv + 2, &cfg);
    tix_config_deinit(&cfg);
    if (code < 0) {
        fprintf(stderr, "tixmo: unknown command \"%s\"\n\n", argv[1]);
        return usage();
    }
    return code;
}
