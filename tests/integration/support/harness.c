/* harness.c - see harness.h */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "tix/pii.h"
#include "harness.h"
#include "projection.h"
#include "tix/ids.h"
#include "tix/json.h"

const char *tix_test_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        cr_assert_fail("%s is not set: run the suite with scripts/test", name);
    return v;
}

struct tix_db *tix_test_db(const char *url_env)
{
    struct tix_db *db = NULL;
    struct tix_err err;
    if (tix_db_open(tix_test_env(url_env), &db, &err) != TIX_OK)
        cr_assert_fail("cannot reach postgres via %s: %s", url_env, err.msg);
    return db;
}

void tix_test_text(struct tix_db *db, const char *sql, int n, const char *const *params, char *out,
                   size_t size)
{
    PGresult *res = NULL;
    struct tix_err err;
    if (tix_db_exec(db, sql, n, params, &res, &err) != TIX_OK)
        cr_assert_fail("query failed: %s: %s", sql, err.msg);
    cr_assert_eq(PQntuples(res), 1, "expected one row from %s", sql);
    snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

long long tix_test_scalar(struct tix_db *db, const char *sql, int n, const char *const *params)
{
    char v[32];
    tix_test_text(db, sql, n, params, v, sizeof(v));
    return strtoll(v, NULL, 10);
}

static void log_path(const char *program, char *out, size_t size)
{
    const char *run = getenv("TIXMO_RUN_DIR");
    snprintf(out, size, "%s/%s-%d.log", run != NULL ? run : "/tmp", program, (int)getpid());
    if (run != NULL) {
        snprintf(out, size, "%s/log", run);
        if (access(out, W_OK) == 0)
            snprintf(out, size, "%s/log/test-%s-%d.log", run, program, (int)getpid());
        else
            snprintf(out, size, "/tmp/test-%s-%d.log", program, (int)getpid());
    }
}

pid_t tix_test_spawn(const char *program, const char *const *extra_env)
{
    char path[1024], logfile[1024];
    snprintf(path, sizeof(path), "%s/%s", TIX_BUILD_DIR, program);
    log_path(program, logfile, sizeof(logfile));
    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork failed");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        for (int i = 0; extra_env != NULL && extra_env[i] != NULL; i++)
            putenv((char *)extra_env[i]);
        execl(path, program, (char *)NULL);
        _exit(127);
    }
    return pid;
}

void tix_test_kill(pid_t pid, int sig)
{
    if (pid <= 0)
        return;
    kill(pid, sig);
    int status;
    waitpid(pid, &status, 0);
}

void tix_test_stop_all(const pid_t *pids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    for (size_t i = 0; i < n; i++) {
        int status;
        if (pids[i] > 0)
            waitpid(pids[i], &status, 0);
    }
}

int tix_test_sh(char *out, size_t size, const char *cmdline)
{
    char full[8192];
    snprintf(full, sizeof(full), "PATH='%s':\"$PATH\"; %s", TIX_BUILD_DIR, cmdline);
    FILE *p = popen(full, "r");
    if (p == NULL)
        return -1;
    size_t got = 0;
    char sink[4096];
    for (;;) {
        char *dst = out != NULL && got + 1 < size ? out + got : sink;
        size_t cap = out != NULL && got + 1 < size ? size - 1 - got : sizeof(sink);
        size_t n = fread(dst, 1, cap, p);
        if (n == 0)
            break;
        if (dst != sink)
            got += n;
    }
    if (out != NULL)
        out[got] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool tix_test_wait(bool (*cond)(void *ctx), void *ctx, int timeout_ms)
{
    int64_t deadline = tix_mono_ms() + timeout_ms;
    for (;;) {
        if (cond(ctx))
            return true;
        if (tix_mono_ms() > deadline)
            return false;
        usleep(20000);
    }
}

static bool projected(void *ctx)
{
    for (int i = 0; tix_projections[i] != NULL; i++) {
        int active = 0, building = 0;
        int64_t lag = 0;
        if (tix_projection_versions(ctx, tix_projections[i]->name, &active, &building, NULL) !=
                TIX_OK ||
            tix_projection_lag(ctx, tix_projections[i], active, &lag, NULL) != TIX_OK || lag != 0)
            return false;
    }
    return true;
}

bool tix_test_wait_projected(struct tix_db *db, int timeout_ms)
{
    return tix_test_wait(projected, db, timeout_ms);
}

struct scalar_wait {
    struct tix_db *db;
    const char *sql;
    const char *param;
    long long want;
};

static bool scalar_is(void *ctx)
{
    struct scalar_wait *w = ctx;
    const char *params[] = {w->param};
    return tix_test_scalar(w->db, w->sql, 1, params) == w->want;
}

void tix_test_wait_scalar(struct tix_db *db, const char *sql, const char *param, long long want,
                          int timeout_ms)
{
    struct scalar_wait w = {db, sql, param, want};
    cr_assert(tix_test_wait(scalar_is, &w, timeout_ms), "%s (%s) never gave %lld", sql, param,
              want);
}

long long tix_test_differences(struct tix_db *db, const char *proj, int a, int b, const char *table)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT (SELECT count(*) FROM (SELECT * FROM rm_%s_v%d.%s EXCEPT ALL SELECT * FROM "
             "rm_%s_v%d.%s) x) + (SELECT count(*) FROM (SELECT * FROM rm_%s_v%d.%s EXCEPT ALL "
             "SELECT * FROM rm_%s_v%d.%s) y)",
             proj, a, table, proj, b, table, proj, b, table, proj, a, table);
    return tix_test_scalar(db, sql, 0, NULL);
}

void tix_test_expect_same_tables(struct tix_db *db, const char *proj, int old_v, int new_v,
                                 const char *table)
{
    cr_assert_eq(tix_test_differences(db, proj, old_v, new_v, table), 0,
                 "%s.%s differs after replay", proj, table);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM rm_%s_v%d.%s", proj, new_v, table);
    cr_assert_gt(tix_test_scalar(db, sql, 0, NULL), 0, "%s.%s is empty", proj, table);
}

void tix_test_replay_and_compare(struct tix_db *db, const char *proj, const char *const *tables)
{
    static const char version_sql[] = "SELECT active_version FROM projections WHERE name = $1";
    const char *p[] = {proj};
    int old_v = (int)tix_test_scalar(db, version_sql, 1, p);
    char cmd[128], out[1024];
    snprintf(cmd, sizeof(cmd), "tixmo replay %s", proj);
    cr_assert_eq(tix_test_sh(out, sizeof(out), cmd), 0, "%s", out);
    int new_v = (int)tix_test_scalar(db, version_sql, 1, p);
    cr_assert_eq(new_v, old_v + 1);
    for (int t = 0; tables[t] != NULL; t++)
        tix_test_expect_same_tables(db, proj, old_v, new_v, tables[t]);
}

void tix_test_command_ok(struct tix_bus *bus, const char *type, const char *key, json_t *payload,
                         const char *actor)
{
    json_t *outcome = NULL;
    struct tix_err err;
    int parts = atoi(tix_test_env("TIXMO_PARTITIONS"));
    cr_assert_eq(
        tix_client_call(bus, parts, NULL, type, key, payload, actor, 20000, &outcome, &err), TIX_OK,
        "%s: %s", type, err.msg);
    json_decref(payload);
    cr_assert_str_eq(tix_json_str(outcome, "status"), "succeeded", "%s rejected: %s", type,
                     tix_json_str(json_object_get(outcome, "reason"), "message"));
    json_decref(outcome);
}

char *tix_test_user_token(struct tix_db *db, const char *pii_key_hex, const char *user,
                          const char *type)
{
    char stream[64];
    snprintf(stream, sizeof(stream), "user-%s", user);
    const char *params[] = {stream, type};
    PGresult *res = NULL;
    struct tix_err err;
    cr_assert_eq(tix_db_exec(db,
                             "SELECT data::json->>'token_enc' FROM events WHERE stream_id = $1 "
                             "AND type = $2 ORDER BY stream_version DESC LIMIT 1",
                             2, params, &res, &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(PQntuples(res), 1, "no %s event for %s", type, user);
    uint8_t key[TIX_PII_KEY_BYTES];
    tix_pii_parse_key(pii_key_hex, key, NULL);
    char *token = NULL;
    cr_assert_eq(tix_pii_decrypt(db, key, user, PQgetvalue(res, 0, 0), &token, &err), TIX_OK, "%s",
                 err.msg);
    PQclear(res);
    return token;
}
