/* cmd_bus.c - tixmo command (send one and print its outcome), tixmo dlq */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/bus.h"
#include "tix/json.h"

#include "cli.h"
#include "client.h"

static int command_usage(void)
{
    fprintf(stderr,
            "usage: tixmo command <type> <key> <payload-json> [--actor A] [--id ID] [--wait S]\n"
            "  e.g. tixmo command organization.create $ID "
            "'{\"organization_id\":\"'$ID'\",\"name\":\"Acme\",\"slug\":\"acme\","
            "\"type\":\"promoter\"}'\n"
            "Prints the outcome JSON; exit 0 succeeded, 3 rejected, 1 failure.\n");
    return 2;
}

int tix_cli_command(int argc, char **argv, const struct tix_config *cfg)
{
    static const struct option opts[] = {{"actor", required_argument, NULL, 'a'},
                                         {"id", required_argument, NULL, 'i'},
                                         {"wait", required_argument, NULL, 'w'},
                                         {NULL, 0, NULL, 0}};
    const char *actor = "system:cli", *id = NULL;
    int wait_s = 10, c;
    optind = 0;
    while ((c = getopt_long(argc + 1, argv - 1, "", opts, NULL)) != -1) {
        if (c == 'a')
            actor = optarg;
        else if (c == 'i')
            id = optarg;
        else if (c == 'w')
            wait_s = (int)strtol(optarg, NULL, 10);
        else
            return command_usage();
    }
    int rest = argc + 1 - optind;
    char **pos = argv - 1 + optind;
    if (rest != 3)
        return command_usage();
    struct tix_err err;
    json_t *payload = tix_json_parse(pos[2], strlen(pos[2]), &err);
    if (payload == NULL)
        return tix_cli_fail("payload", &err);
    struct tix_bus *bus = NULL;
    json_t *outcome = NULL;
    enum tix_rc rc = tix_bus_open(cfg->amqp_url, "tixmo-cli", &bus, &err);
    if (rc == TIX_OK)
        rc = tix_bus_enable_replies(bus, &err);
    if (rc == TIX_OK)
        rc = tix_client_call(bus, cfg->partitions, id, pos[0], pos[1], payload, actor,
                             wait_s * 1000, &outcome, &err);
    tix_bus_close(bus);
    json_decref(payload);
    if (rc == TIX_ENOTFOUND) {
        printf("{\"status\":\"accepted\"}\n");
        return 0;
    }
    if (rc != TIX_OK)
        return tix_cli_fail("command", &err);
    char *text = json_dumps(outcome, JSON_SORT_KEYS | JSON_INDENT(2));
    printf("%s\n", text);
    free(text);
    int code = strcmp(tix_json_str(outcome, "status"), "succeeded") == 0 ? 0 : 3;
    json_decref(outcome);
    return code;
}

/* Prints every dead letter with its reason; the messages stay in the queue. */
static int dlq_list(struct tix_bus *bus)
{
    struct tix_err err;
    int count = 0;
    struct tix_bus_delivery d;
    enum tix_rc rc;
    while ((rc = tix_bus_get(bus, TIX_BUS_DEAD_QUEUE, &d, &err)) == TIX_OK) {
        printf("message_id=%s type=%s reason=\"%s\"\n  %s\n", d.message_id ? d.message_id : "-",
               d.type ? d.type : "-", d.reason ? d.reason : "(rejected by the broker)", d.body);
        count++;
        tix_bus_delivery_deinit(&d);
    }
    if (rc != TIX_ENOTFOUND)
        return tix_cli_fail("dlq list", &err);
    printf("%d dead letter(s)\n", count);
    return 0; /* unacked gets are requeued when the connection closes */
}

int tix_cli_dlq(int argc, char **argv, const struct tix_config *cfg)
{
    if (argc < 1 || (strcmp(argv[0], "list") != 0 && strcmp(argv[0], "purge") != 0)) {
        fprintf(stderr, "usage: tixmo dlq list|purge\n");
        return 2;
    }
    struct tix_err err;
    struct tix_bus *bus = NULL;
    if (tix_bus_open(cfg->amqp_url, "tixmo-cli", &bus, &err) != TIX_OK)
        return tix_cli_fail("cannot connect to rabbitmq", &err);
    int code = 0;
    if (strcmp(argv[0], "list") == 0)
        code = dlq_list(bus);
    else if (tix_bus_purge(bus, TIX_BUS_DEAD_QUEUE, &err) != TIX_OK)
        code = tix_cli_fail("dlq purge", &err);
    tix_bus_close(bus);
    return code;
}
