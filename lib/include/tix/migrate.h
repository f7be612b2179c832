/* migrate.h - forward-only schema migrations and the install of partitions
 *
 * Migrations are the files schema/NNN_name.sql, applied in name order, each in its own
 * transaction, recorded in schema_migrations with a BLAKE2b checksum of the file. An applied
 * file that changed afterwards is an error: migrations only move forward. The number of
 * partitions is fixed at the first migrate; a later different number is refused. A session
 * advisory lock makes concurrent migrates wait for each other.
 */
#ifndef TIX_MIGRATE_H
#define TIX_MIGRATE_H

#include "tix/db.h"
#include "tix/rc.h"

/* Applies pending migrations from dir and installs partitions. *applied gets the count of files
 * applied now. Must run as the database owner role. */
enum tix_rc tix_migrate(struct tix_db *db, const char *dir, int partitions, int *applied,
                        struct tix_err *err);

#endif
