/* cmd_demo.c - tixmo demo load: a small, realistic starting world, safe to load again
 *
 * Every id and command id is derived from a fixed name (BLAKE2b, formatted as a UUID), so a
 * second load sends the same commands and the processor answers them with their first outcome:
 * nothing is created twice.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "tix/bus.h"
#include "tix/ids.h"
#include "tix/json.h"

#include "cli.h"
#include "client.h"

/* A stable UUID (version 8, RFC 9562 custom) for name. */
void tix_cli_demo_id(const char *name, char out[37])
{
    unsigned char h[16];
    crypto_generichash(h, sizeof(h), (const unsigned char *)name, strlen(name),
                       (const unsigned char *)"tixmo-demo-ids-1", 16);
    tix_uuid_format(h, 8, out);
}

struct demo_org {
    const char *slug;
    const char *name;
    const char *type;
    const char *owner; /* a demo user's name */
    const char *scanner;
};

static const struct demo_org orgs[] = {
    {"riverside-arena", "Riverside Arena", "venue", "ada", "sam"},
    {"northern-lights", "Northern Lights Promotions", "promoter", "grace", "lin"},
    {"sunset-festival", "Sunset Festival Collective", "promoter", "alan", "noor"},
    {"resale-hub", "ResaleHub Partners", "reseller", "barbara", NULL},
};

int tix_cli_demo_send(struct tix_bus *bus, const struct tix_config *cfg, const char *cmd_name,
                      const char *type, const char *key, json_t *payload)
{
    char cmd_id[37];
    tix_cli_demo_id(cmd_name, cmd_id);
    json_t *outcome = NULL;
    struct tix_err err;
    enum tix_rc rc = tix_client_call(bus, cfg->partitions, cmd_id, type, key, payload,
                                     "system:demo", 15000, &outcome, &err);
    json_decref(payload);
    if (rc != TIX_OK)
        return tix_cli_fail(type, &err);
    const char *status = tix_json_str(outcome, "status");
    int ok = status != NULL && strcmp(status, "succeeded") == 0;
    if (!ok)
        fprintf(stderr, "tixmo demo: %s rejected: %s\n", type,
                tix_json_str(json_object_get(outcome, "reason"), "message"));
    json_decref(outcome);
    return ok ? 0 : 1;
}

static int load_org(struct tix_bus *bus, const struct tix_config *cfg, const struct demo_org *o)
{
    char org[37], user[37], name[128];
    tix_cli_demo_id(o->slug, org);
    snprintf(name, sizeof(name), "create %s", o->slug);
    int bad = tix_cli_demo_send(bus, cfg, name, "organization.create", org,
                                json_pack("{ss ss ss ss s{ss ss}}", "organization_id", org, "name",
                                          o->name, "slug", o->slug, "type", o->type, "settings",
                                          "currency", "EUR", "timezone", "Europe/Berlin"));
    const char *members[2][2] = {{o->owner, "owner"}, {o->scanner, "scanner"}};
    for (int i = 0; i < 2 && !bad; i++) {
        if (members[i][0] == NULL)
            continue;
        tix_cli_demo_id(members[i][0], user);
        snprintf(name, sizeof(name), "member %s %s", o->slug, members[i][0]);
        bad = tix_cli_demo_send(bus, cfg, name, "organization.add_member", org,
                                json_pack("{ss ss ss}", "organization_id", org, "user_id", user,
                                          "role", members[i][1]));
    }
    return bad;
}

int tix_cli_demo(int argc, char **argv, const struct tix_config *cfg)
{
    if (argc < 1 || strcmp(argv[0], "load") != 0) {
        fprintf(stderr, "usage: tixmo demo load\n");
        return 2;
    }
    struct tix_err err;
    struct tix_bus *bus = NULL;
    if (tix_bus_open(cfg->amqp_url, "tixmo-demo", &bus, &err) != TIX_OK ||
        tix_bus_enable_replies(bus, &err) != TIX_OK) {
        tix_bus_close(bus);
        return tix_cli_fail("cannot connect to rabbitmq", &err);
    }
    int bad = 0;
    for (size_t i = 0; i < sizeof(orgs) / sizeof(orgs[0]) && !bad; i++)
        bad = load_org(bus, cfg, &orgs[i]);
    if (!bad)
        bad = tix_cli_demo_catalog(bus, cfg);
    tix_bus_close(bus);
    if (!bad)
        printf("demo: %zu organizations with their members, venues with seating charts, a "
               "concert, a festival and a weekly series\n",
               sizeof(orgs) / sizeof(orgs[0]));
    return bad;
}
