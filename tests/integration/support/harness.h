/* harness.h - integration test support: real services, real processes
 *
 * Everything reads the TIXMO_* environment the test scripts export; a missing variable or an
 * unreachable service fails the test (never skips it). Programs under test are spawned from
 * the build folder the test binary was built in, and die with the test (PR_SET_PDEATHSIG).
 */
#ifndef TIX_TEST_HARNESS_H
#define TIX_TEST_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "tix/bus.h"
#include "tix/db.h"

/* The value of an environment variable; fails the test when unset. */
const char *tix_test_env(const char *name);
/* A connection to the URL in env var `url_env`; fails the test when unreachable. */
struct tix_db *tix_test_db(const char *url_env);
/* Runs sql (text params) and returns the first column of the first row as a number. */
long long tix_test_scalar(struct tix_db *db, const char *sql, int n, const char *const *params);
/* The same, as text into out (size bytes). */
void tix_test_text(struct tix_db *db, const char *sql, int n, const char *const *params, char *out,
                   size_t size);
/* Spawns a program of the build folder (e.g. "tixmo-processor") with the test's environment
 * plus extra "NAME=value" entries (NULL-terminated, may be NULL). Output goes to a log file in
 * $TIXMO_RUN_DIR/log (or /tmp). */
pid_t tix_test_spawn(const char *program, const char *const *extra_env);
/* Sends sig and reaps the process. */
void tix_test_kill(pid_t pid, int sig);
/* Sends SIGTERM to each of the n processes of pids (those <= 0 skipped), then reaps them all:
 * they shut down side by side, not one after another. */
void tix_test_stop_all(const pid_t *pids, size_t n);
/* Runs a shell command line with the build folder first on PATH; captures up to size-1 bytes
 * of stdout into out (may be NULL); returns the exit status (or -1). */
int tix_test_sh(char *out, size_t size, const char *cmdline);
/* Polls cond every 20 ms until it is true or timeout_ms passed; returns the last result. */
bool tix_test_wait(bool (*cond)(void *ctx), void *ctx, int timeout_ms);
/* Waits until every projection's lag is 0 (the projector caught up). */
bool tix_test_wait_projected(struct tix_db *db, int timeout_ms);
/* Fails the test unless sql ($1 = param) gives want within timeout_ms (polled). */
void tix_test_wait_scalar(struct tix_db *db, const char *sql, const char *param, long long want,
                          int timeout_ms);
/* Rows of rm_<proj>_v<a>.<table> that v<b> lacks plus rows v<b> has that v<a> lacks. */
long long tix_test_differences(struct tix_db *db, const char *proj, int a, int b,
                               const char *table);
/* Fails the test unless rm_<proj>_v<old_v>.<table> and rm_<proj>_v<new_v>.<table> hold the same
 * rows and the new one is not empty. */
void tix_test_expect_same_tables(struct tix_db *db, const char *proj, int old_v, int new_v,
                                 const char *table);
/* Runs `tixmo replay proj`, expects the next active version and the same rows in each of tables
 * (NULL-terminated) as in the version it replaced. */
void tix_test_replay_and_compare(struct tix_db *db, const char *proj, const char *const *tables);
/* Sends command type keyed by key with payload (stolen) as actor over bus (replies enabled) and
 * fails the test unless it succeeded within 20 s. */
void tix_test_command_ok(struct tix_bus *bus, const char *type, const char *key, json_t *payload,
                         const char *actor);

/* The token of user's latest event of type (e.g. "user.email_verification_requested"),
 * decrypted with the PII key (hex); a new string, free(). Fails the test when there is none. */
char *tix_test_user_token(struct tix_db *db, const char *pii_key_hex, const char *user,
                          const char *type);

#endif
