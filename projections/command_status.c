/* command_status.c - read model of command outcomes
 *
 * One row per decided command: succeeded (with the events it appended, stream and version) or
 * rejected (with the reason). Fed by the recorded outcomes, because a rejection appends no
 * event. A command that was accepted by the broker but not decided yet has no row here; the
 * gateway reports it as "accepted".
 */
#include <stdio.h>
#include <string.h>

#include "tix/ids.h"

#include "projection.h"

static const char ddl[] =
    "CREATE TABLE IF NOT EXISTS command_status ("
    " command_id text PRIMARY KEY, command_type text NOT NULL, actor text NOT NULL,"
    " status text NOT NULL, outcome jsonb NOT NULL, decided_at timestamptz NOT NULL,"
    " partition int NOT NULL, outcome_seq bigint NOT NULL);";

static const char *const tables[] = {"command_status", NULL};

static enum tix_rc apply(const struct tix_event *e, struct tix_stmts *out)
{
    const char *status = strcmp(e->type, "command.succeeded") == 0  ? "succeeded"
                         : strcmp(e->type, "command.rejected") == 0 ? "rejected"
                                                                    : NULL;
    if (status == NULL)
        return TIX_EINVAL;
    char at[32], part[16], seq[24];
    tix_time_format(e->recorded_at_us, at);
    snprintf(part, sizeof(part), "%d", e->partition);
    snprintf(seq, sizeof(seq), "%lld", (long long)e->partition_seq);
    tix_stmts_add(out,
                  "INSERT INTO command_status (command_id, command_type, actor, status, outcome,"
                  " decided_at, partition, outcome_seq) SELECT $1, m.command_type, m.actor, $2,"
                  " $3::jsonb, $5, $6, $7 FROM json_to_record($4::json) AS m(command_type text,"
                  " actor text) ON CONFLICT (command_id) DO NOTHING",
                  7, e->command_id, status, e->data, e->metadata, at, part, seq);
    return TIX_OK;
}

const struct tix_projection tix_projection_command_status = {
    .name = "command_status",
    .source = TIX_SOURCE_OUTCOMES,
    .ddl = ddl,
    .tables = tables,
    .apply = apply,
};
