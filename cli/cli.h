/* cli.h - the tixmo command-line tool: shared context and subcommand table
 *
 * Each subcommand is a function taking argc/argv after its own name and the loaded config;
 * it prints results on stdout, errors on stderr, and returns the process exit code
 * (0 ok, 1 failure, 2 usage).
 */
#ifndef TIX_CLI_H
#define TIX_CLI_H

#include "tix/config.h"
#include <jansson.h>

#include "tix/db.h"

struct tix_cli_cmd {
    const char *name;
    const char *usage;
    int (*run)(int argc, char **argv, const struct tix_config *cfg);
};

int tix_cli_migrate(int argc, char **argv, const struct tix_config *cfg);
int tix_cli_export(int argc, char **argv, const struct tix_config *cfg);
int tix_cli_audit(int argc, char **argv, const struct tix_config *cfg);
int tix_cli_stream(int argc, char **argv, const struct tix_config *cfg);
int tix_cli_replay(int argc, char **argv, const struct tix_config *cfg);
int tix_cli_projections(int argc, char **argv, const struct tix_config *cfg);
int tix_cli_command(int argc, char **argv, const struct tix_config *cfg);
int tix_cli_dlq(int argc, char **argv, const struct tix_config *cfg);
int tix_cli_demo(int argc, char **argv, const struct tix_config *cfg);

/* Demo data (cli/cmd_demo.c, cli/demo_catalog.c): a stable UUID for a name, and one command
 * sent under a command id derived from cmd_name (so a second load is answered from the first
 * outcome); steals payload; 0 when it succeeded. */
struct tix_bus;
void tix_cli_demo_id(const char *name, char out[37]);
int tix_cli_demo_send(struct tix_bus *bus, const struct tix_config *cfg, const char *cmd_name,
                      const char *type, const char *key, json_t *payload);
int tix_cli_demo_catalog(struct tix_bus *bus, const struct tix_config *cfg);

/* Opens url or prints why not; NULL on failure. */
struct tix_db *tix_cli_db(const char *url);
/* Prints "tixmo: <what>: <err>" on stderr and returns 1. */
int tix_cli_fail(const char *what, const struct tix_err *err);

#endif
