/* cmd_projection.c - tixmo replay <projection>, tixmo projections */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tix/store.h"

#include "cli.h"
#include "projection.h"

static void progress_cb(int64_t done, int64_t total, void *ctx)
{
    (void)ctx;
    if (!isatty(STDERR_FILENO))
        return;
    int pct = total > 0 ? (int)(done * 100 / total) : 100;
    fprintf(stderr, "\rreplaying: %" PRId64 "/%" PRId64 " (%d%%)", done, total,
            pct > 100 ? 100 : pct);
}

int tix_cli_replay(int argc, char **argv, const struct tix_config *cfg)
{
    const struct tix_projection *proj = argc >= 1 ? tix_projection_find(argv[0]) : NULL;
    if (proj == NULL) {
        fprintf(stderr, "usage: tixmo replay <projection>\nprojections:");
        for (int i = 0; tix_projections[i] != NULL; i++)
            fprintf(stderr, " %s", tix_projections[i]->name);
        fprintf(stderr, "\n");
        return 2;
    }
    struct tix_db *db = tix_cli_db(cfg->db_url);
    if (db == NULL)
        return 1;
    struct tix_err err;
    int partitions = 0, version = 0;
    enum tix_rc rc = tix_store_partitions(db, &partitions, &err);
    if (rc == TIX_OK)
        rc = tix_projection_rebuild(db, proj, partitions, &version, progress_cb, NULL, &err);
    tix_db_close(db);
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "\r\033[K");
    if (rc != TIX_OK)
        return tix_cli_fail("replay", &err);
    printf("replayed %s into version %d, now active (schema rm_%s_v%d)\n", proj->name, version,
           proj->name, version);
    return 0;
}

int tix_cli_projections(int argc, char **argv, const struct tix_config *cfg)
{
    (void)argc;
    (void)argv;
    struct tix_db *db = tix_cli_db(cfg->db_url);
    if (db == NULL)
        return 1;
    struct tix_err err;
    enum tix_rc rc = TIX_OK;
    printf("%-20s %8s %8s %10s\n", "projection", "active", "building", "lag");
    for (int i = 0; tix_projections[i] != NULL && rc == TIX_OK; i++) {
        int active = 0, building = 0;
        int64_t lag = 0;
        rc = tix_projection_versions(db, tix_projections[i]->name, &active, &building, &err);
        if (rc == TIX_ENOTFOUND) {
            printf("%-20s %8s\n", tix_projections[i]->name, "-");
            rc = TIX_OK;
            continue;
        }
        if (rc == TIX_OK)
            rc = tix_projection_lag(db, tix_projections[i], active, &lag, &err);
        if (rc == TIX_OK)
            printf("%-20s %8d %8d %10" PRId64 "\n", tix_projections[i]->name, active, building,
                   lag);
    }
    tix_db_close(db);
    return rc != TIX_OK ? tix_cli_fail("projections", &err) : 0;
}
