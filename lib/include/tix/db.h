/* db.h - a libpq connection and the one place SQLSTATEs become tix_rc
 *
 * Parameters only: every value goes through PQexecParams, never into the SQL text. One
 * struct tix_db per thread. A lost connection is reset once per call; the call itself then
 * fails with TIX_ETRANSIENT so the caller decides whether its work can be retried.
 *
 * SQLSTATE translation: 23505 unique_violation -> TIX_ECONFLICT (err->field = constraint name);
 * 40001, 40P01, 55P03, class 08, class 53, 57P0x -> TIX_ETRANSIENT; classes 22 and 23, P0001,
 * 42501 -> TIX_EINVAL; anything else -> TIX_EINTERNAL.
 */
#ifndef TIX_DB_H
#define TIX_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "tix/rc.h"

struct tix_db;

/* Every TixMo session runs without JIT compilation. The read models' statements expand jsonb
 * arrays, which the planner counts at 100 rows a call, so their estimated cost passes
 * jit_above_cost and each execution compiled its expressions with LLVM: 13% of Postgres's CPU
 * in bench/flash_sale's on-sale, for statements that touch a few rows. */
#define TIX_DB_SESSION_OPTIONS "-c jit=off"

/* SQL: an active hold (rm.holds) and an order awaiting payment (rm.orders), for look-ups by key
 * or by buyer. IS NOT DISTINCT FROM (the columns are NOT NULL: the same test as `=`) keeps the
 * planner from matching them to the predicates of the partial indexes holds_due and orders_due:
 * with statistics taken while few holds were active (before an on-sale's surge of holds),
 * `state = 'active'` made it read a hold named by its key through holds_due, every active hold
 * in turn, per statement. The sweep for what is due (commands/expiry.c) keeps `=`. */
#define TIX_SQL_HOLD_IS_ACTIVE   "state IS NOT DISTINCT FROM 'active'"
#define TIX_SQL_ORDER_IS_PENDING "status IS NOT DISTINCT FROM 'pending_payment'"

/* Opens a connection to url. *out is new; free with tix_db_close. */
enum tix_rc tix_db_open(const char *url, struct tix_db **out, struct tix_err *err);
/* Like tix_db_open, but the session's commits return before their WAL reaches the disk
 * (synchronous_commit off): for writers whose rows the log rebuilds after a crash (read models
 * with their checkpoints in the same transaction, the relay's cursors), so they don't queue for
 * the disk behind the appends that must wait. A crash may lose their last ~200 ms, as a whole
 * transaction: the rows and the checkpoint together, re-done from the log.
 * These writers' statements each group a few rows of one event (its lines, the seats a statement
 * changed), which the planner, counting 100 rows a jsonb array and a transition table, hashes
 * into a table sized for thousands of groups, zeroed and walked at every execution: the session
 * groups by sorting instead (enable_hashagg off), which costs nothing for a few rows. */
enum tix_rc tix_db_open_relaxed(const char *url, struct tix_db **out, struct tix_err *err);
/* NULL is a no-op. */
void tix_db_close(struct tix_db *db);
/* The underlying connection, borrowed (valid until tix_db_close). */
PGconn *tix_db_conn(struct tix_db *db);

/* Runs one statement with n text parameters (NULL entries are SQL NULL). On TIX_OK, *out (if
 * out is not NULL) is a result the caller must PQclear; on failure nothing is left to free. */
enum tix_rc tix_db_exec(struct tix_db *db, const char *sql, int n, const char *const *params,
                        PGresult **out, struct tix_err *err);
/* Like tix_db_exec, but prepares sql once per connection under `name` (a static string naming
 * this statement; the same name must always come with the same sql) and executes the prepared
 * plan: hot statements skip parsing and planning. */
enum tix_rc tix_db_exec_prepared(struct tix_db *db, const char *name, const char *sql, int n,
                                 const char *const *params, PGresult **out, struct tix_err *err);
/* One statement of a batch: sql with n text parameters (NULL entries are SQL NULL), borrowed.
 * is_static: sql is a static string (its address names it), prepared on the connection the
 * first time a batch runs it and executed by name after that (no parsing; Postgres parses it
 * again by itself when search_path or a table it uses changed). */
struct tix_db_stmt {
    const char *sql;
    int n;
    const char *const *params;
    bool is_static;
};
/* Runs n statements in one round trip (libpq pipeline mode: all sent, one sync, then every
 * result read), in order. Meant for a transaction the caller opened: the first statement that
 * fails skips the rest (Postgres aborts the transaction, which the caller rolls back) and its
 * error is returned, *failed (if not NULL) getting its index; -1 when none failed or the batch
 * could not be sent. On TIX_OK, *last (if last is not NULL) is the last statement's result, for
 * the caller to PQclear; the other results are discarded. n == 0 costs nothing. */
enum tix_rc tix_db_exec_batch(struct tix_db *db, const struct tix_db_stmt *stmts, int n,
                              int *failed, PGresult **last, struct tix_err *err);
/* Runs a script of one or more statements without parameters (migrations, BEGIN/COMMIT). */
enum tix_rc tix_db_script(struct tix_db *db, const char *sql, struct tix_err *err);
/* Waits up to timeout_ms for notifications on db, which LISTENs to channel. For each one whose
 * payload is a partition number below partitions, sets hot[partition] (hot may be NULL). A
 * broken connection is reset and LISTENs again. Returns whether any notification came. */
bool tix_db_wait_partitions(struct tix_db *db, const char *channel, int timeout_ms, bool *hot,
                            int partitions);
/* Translates a failed result's SQLSTATE (see above) into err and returns the code. */
enum tix_rc tix_db_rc_of(const PGresult *res, struct tix_err *err);

#endif
