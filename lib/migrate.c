/* migrate.c - apply schema/NNN_*.sql once each, in order, forward only */
#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/buf.h"
#include "tix/log.h"
#include "tix/mem.h"
#include "tix/migrate.h"

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted *.sql names of dir; *n gets their count. Free each and the array. */
static char **list_sql(const char *dir, int *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    char **names = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".sql") != 0)
            continue;
        names = tix_xrealloc(names, (size_t)(*n + 1) * sizeof(*names));
        names[(*n)++] = tix_xstrdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)*n, sizeof(*names), cmp_names);
    return names;
}

static enum tix_rc read_file(const char *path, struct tix_buf *out, struct tix_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return tix_err_set(err, TIX_ENOTFOUND, "", "cannot open %s", path);
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        tix_buf_append(out, chunk, got);
    fclose(f);
    return TIX_OK;
}

static void checksum(const struct tix_buf *b, char out[65])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof(h), (const unsigned char *)b->ptr, b->len, NULL, 0);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

/* Applies one file unless recorded; refuses a recorded file whose bytes changed. */
static enum tix_rc apply_one(struct tix_db *db, const char *dir, const char *name, int *applied,
                             struct tix_err *err)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct tix_buf sql;
    tix_buf_init(&sql, 0);
    enum tix_rc rc = read_file(path, &sql, err);
    char sum[65];
    if (rc == TIX_OK)
        checksum(&sql, sum);
    PGresult *res = NULL;
    const char *params[] = {name, sum};
    if (rc == TIX_OK)
        rc = tix_db_exec(db, "SELECT checksum FROM schema_migrations WHERE version = $1", 1, params,
                         &res, err);
    if (rc == TIX_OK && PQntuples(res) == 1) {
        if (strcmp(PQgetvalue(res, 0, 0), sum) != 0)
            rc = tix_err_set(err, TIX_EINVAL, name,
                             "%s changed after it was applied; migrations are forward-only: "
                             "add a new file instead",
                             name);
    } else if (rc == TIX_OK) {
        rc = tix_db_script(db, "BEGIN", err);
        if (rc == TIX_OK)
            rc = tix_db_script(db, sql.ptr, err);
        if (rc == TIX_OK)
            rc =
                tix_db_exec(db, "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                            2, params, NULL, err);
        if (rc == TIX_OK)
            rc = tix_db_script(db, "COMMIT", err);
        if (rc != TIX_OK)
            tix_db_script(db, "ROLLBACK", NULL);
        else
            (*applied)++;
        tix_log_info(rc == TIX_OK ? "migration applied" : "migration failed", "file=%s", name);
    }
    PQclear(res);
    tix_buf_deinit(&sql);
    return rc;
}

static enum tix_rc install_partitions(struct tix_db *db, int partitions, struct tix_err *err)
{
    char n[16];
    snprintf(n, sizeof(n), "%d", partitions);
    const char *params[] = {n};
    enum tix_rc rc = tix_db_exec(db,
                                 "INSERT INTO install_settings (key, value) VALUES "
                                 "('partitions', $1) ON CONFLICT (key) DO NOTHING",
                                 1, params, NULL, err);
    PGresult *res = NULL;
    if (rc == TIX_OK)
        rc = tix_db_exec(db, "SELECT value FROM install_settings WHERE key = 'partitions'", 0, NULL,
                         &res, err);
    if (rc == TIX_OK && strcmp(PQgetvalue(res, 0, 0), n) != 0)
        rc = tix_err_set(err, TIX_EINVAL, "TIXMO_PARTITIONS",
                         "installed with %s partitions; the count is fixed at install",
                         PQgetvalue(res, 0, 0));
    PQclear(res);
    if (rc == TIX_OK)
        rc = tix_db_exec(db,
                         "INSERT INTO partition_heads (partition) SELECT generate_series(0, "
                         "$1::int - 1) ON CONFLICT (partition) DO NOTHING",
                         1, params, NULL, err);
    return rc;
}

enum tix_rc tix_migrate(struct tix_db *db, const char *dir, int partitions, int *applied,
                        struct tix_err *err)
{
    *applied = 0;
    enum tix_rc rc = tix_db_script(db,
                                   "SELECT pg_advisory_lock(717171);"
                                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   " version text PRIMARY KEY, checksum text NOT NULL,"
                                   " applied_at timestamptz NOT NULL DEFAULT now())",
                                   err);
    int n = 0;
    char **names = rc == TIX_OK ? list_sql(dir, &n) : NULL;
    if (rc == TIX_OK && n == 0)
        rc = tix_err_set(err, TIX_ENOTFOUND, "", "no migrations in %s", dir);
    for (int i = 0; i < n; i++) {
        if (rc == TIX_OK)
            rc = apply_one(db, dir, names[i], applied, err);
        free(names[i]);
    }
    free(names);
    if (rc == TIX_OK)
        rc = install_partitions(db, partitions, err);
    tix_db_script(db, "SELECT pg_advisory_unlock(717171)", NULL);
    return rc;
}
