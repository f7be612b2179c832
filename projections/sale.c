/* sale.c - read model of the sale: settings, ticket types, pools, sessions, seats, availability
 *
 * See sale.h for the tables and counting rules; holds, orders and tickets are applied by
 * sale_orders.c. This file owns the DDL (tables, and the triggers that record in avail_outbox
 * every (event, session) whose availability row or seat statuses changed), the dispatch, and
 * the statements of the catalog side of the sale.
 *
 * Invariants: rows are a function of the events alone (times from recorded_at or the payload,
 * JSON stored as jsonb), so a replay from zero writes identical rows, the two outboxes excepted
 * (drained by the projector once Redis has the change); every statement list that changes
 * what a session can sell asks for a refresh of that session's available column (deferred: the
 * runtime runs it once per pass, after the pass's last event, in the same transaction); an
 * availability row exists for every (session, ticket type) the type is sold in.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"

#include "sale.h"

static const char ddl[] =
    "CREATE TABLE IF NOT EXISTS sale_settings ("
    " event_id uuid PRIMARY KEY, settings jsonb NOT NULL, updated_at timestamptz NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sale_sessions ("
    " event_id uuid NOT NULL, session_id uuid NOT NULL, starts_at timestamptz,"
    " own_capacity int, event_capacity int, PRIMARY KEY (event_id, session_id));"
    "CREATE TABLE IF NOT EXISTS ticket_types ("
    " event_id uuid NOT NULL, id uuid NOT NULL, name text NOT NULL, kind text NOT NULL,"
    " description text, currency text, price_minor bigint NOT NULL, quantity int,"
    " pool_id text, session_ids jsonb, sections jsonb, categories jsonb, tiers jsonb,"
    " components jsonb, group_size int, allows_reentry boolean NOT NULL DEFAULT false,"
    " sales_start timestamptz, sales_end timestamptz, min_per_order int, max_per_order int,"
    " hidden boolean NOT NULL DEFAULT false, doc jsonb NOT NULL,"
    " is_deleted boolean NOT NULL DEFAULT false, created_at timestamptz NOT NULL,"
    " updated_at timestamptz NOT NULL, version bigint NOT NULL, PRIMARY KEY (event_id, id));"
    "CREATE TABLE IF NOT EXISTS pools ("
    " event_id uuid NOT NULL, pool_id text NOT NULL, name text, capacity int NOT NULL,"
    " PRIMARY KEY (event_id, pool_id));"
    "CREATE TABLE IF NOT EXISTS seats ("
    " event_id uuid NOT NULL, seat_id text NOT NULL, section text, row_label text, label text,"
    " category text, accessible boolean NOT NULL DEFAULT false, chart_version int,"
    " PRIMARY KEY (event_id, seat_id));"
    "CREATE TABLE IF NOT EXISTS seat_status ("
    " event_id uuid NOT NULL, session_id uuid NOT NULL, seat_id text NOT NULL,"
    " status text NOT NULL, hold_id uuid, order_id uuid,"
    " PRIMARY KEY (event_id, session_id, seat_id));"
    "CREATE INDEX IF NOT EXISTS seat_status_hold ON seat_status (hold_id);"
    "CREATE INDEX IF NOT EXISTS seat_status_order ON seat_status (order_id);"
    "CREATE TABLE IF NOT EXISTS availability ("
    " event_id uuid NOT NULL, session_id uuid NOT NULL, ticket_type_id uuid NOT NULL,"
    " held int NOT NULL DEFAULT 0, sold int NOT NULL DEFAULT 0, available int,"
    " PRIMARY KEY (event_id, session_id, ticket_type_id));"
    "CREATE TABLE IF NOT EXISTS holds ("
    " id uuid PRIMARY KEY, event_id uuid NOT NULL, session_id uuid NOT NULL,"
    " buyer_id text NOT NULL, lines jsonb NOT NULL, expires_at timestamptz NOT NULL,"
    " extensions int NOT NULL DEFAULT 0, state text NOT NULL, end_reason text, order_id uuid,"
    " created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);"
    "CREATE INDEX IF NOT EXISTS holds_buyer ON holds (buyer_id, state);"
    "CREATE INDEX IF NOT EXISTS holds_event ON holds (event_id);"
    "CREATE INDEX IF NOT EXISTS holds_due ON holds (expires_at) WHERE state = 'active';"
    "CREATE TABLE IF NOT EXISTS orders ("
    " id uuid PRIMARY KEY, event_id uuid NOT NULL, number text NOT NULL, buyer_id text NOT NULL,"
    " hold_id uuid, session_id uuid NOT NULL, currency text, lines jsonb NOT NULL,"
    " subtotal_minor bigint NOT NULL, fees_minor bigint NOT NULL, tax_minor bigint NOT NULL,"
    " total_minor bigint NOT NULL, status text NOT NULL, expires_at timestamptz,"
    " payment_intent_id text, paid_at timestamptz, failure_reason text, refund_reason text,"
    " refund_id text, refunds_required int NOT NULL DEFAULT 0,"
    " refunds_done int NOT NULL DEFAULT 0, refunds_failed int NOT NULL DEFAULT 0,"
    " refunded_minor bigint NOT NULL DEFAULT 0, created_at timestamptz NOT NULL,"
    " updated_at timestamptz NOT NULL);"
    "CREATE INDEX IF NOT EXISTS orders_buyer ON orders (buyer_id, created_at);"
    "CREATE INDEX IF NOT EXISTS orders_event ON orders (event_id, created_at);"
    "CREATE INDEX IF NOT EXISTS orders_due ON orders (expires_at)"
    " WHERE status = 'pending_payment';"
    "CREATE TABLE IF NOT EXISTS tickets ("
    " id uuid PRIMARY KEY, event_id uuid NOT NULL, order_id uuid NOT NULL,"
    " ticket_type_id uuid NOT NULL, session_id uuid, seat_id text,"
    " holder_id text NOT NULL, status text NOT NULL, is_inside boolean NOT NULL DEFAULT false,"
    " scans int NOT NULL DEFAULT 0, first_in_at timestamptz, last_scan_at timestamptz,"
    " last_scan_device text, last_direction text, issued_at timestamptz NOT NULL,"
    " voided_at timestamptz, transferred_from uuid, transferred_to uuid,"
    " transferred_at timestamptz);"
    "CREATE INDEX IF NOT EXISTS tickets_holder ON tickets (holder_id, issued_at);"
    "CREATE INDEX IF NOT EXISTS tickets_order ON tickets (order_id);"
    "CREATE INDEX IF NOT EXISTS tickets_event ON tickets (event_id);"
    /* refunds' and transfers' columns on a version made before them, altered only when missing
     * (an ALTER takes an exclusive lock even when it has nothing to do) */
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = 'tickets'"
    " AND column_name = 'transferred_at') THEN"
    " ALTER TABLE orders ADD COLUMN IF NOT EXISTS refunds_failed int NOT NULL DEFAULT 0,"
    " ADD COLUMN IF NOT EXISTS refunded_minor bigint NOT NULL DEFAULT 0;"
    " ALTER TABLE tickets ADD COLUMN IF NOT EXISTS voided_at timestamptz,"
    " ADD COLUMN IF NOT EXISTS transferred_from uuid, ADD COLUMN IF NOT EXISTS transferred_to uuid,"
    " ADD COLUMN IF NOT EXISTS transferred_at timestamptz; END IF; END $$;"
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = 'sale_sessions'"
    " AND column_name = 'is_cancelled') THEN ALTER TABLE sale_sessions"
    " ADD COLUMN is_cancelled boolean NOT NULL DEFAULT false; END IF; END $$;"
    "CREATE TABLE IF NOT EXISTS refunds ("
    " request_id uuid PRIMARY KEY, event_id uuid NOT NULL, order_id uuid NOT NULL,"
    " ticket_ids jsonb NOT NULL, amount_minor bigint NOT NULL, currency text,"
    " reason text, requested_by text NOT NULL, status text NOT NULL, refund_id text,"
    " failure_reason text, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);"
    "CREATE INDEX IF NOT EXISTS refunds_order ON refunds (order_id);"
    "CREATE TABLE IF NOT EXISTS ticket_transfers ("
    " id uuid PRIMARY KEY, event_id uuid NOT NULL, ticket_id uuid NOT NULL,"
    " from_user_id text NOT NULL, to_email_index text NOT NULL, status text NOT NULL,"
    " new_ticket_id uuid, offered_at timestamptz NOT NULL, accepted_at timestamptz);"
    "CREATE INDEX IF NOT EXISTS ticket_transfers_to ON ticket_transfers (to_email_index)"
    " WHERE status = 'pending';"
    "CREATE INDEX IF NOT EXISTS ticket_transfers_ticket ON ticket_transfers (ticket_id);"
    "CREATE TABLE IF NOT EXISTS avail_outbox ("
    " event_id uuid NOT NULL, session_id uuid NOT NULL,"
    " touches bigint NOT NULL DEFAULT 1, PRIMARY KEY (event_id, session_id));"
    "CREATE TABLE IF NOT EXISTS avail_seat_outbox ("
    " event_id uuid NOT NULL, session_id uuid NOT NULL, seat_id text NOT NULL,"
    " PRIMARY KEY (event_id, session_id, seat_id));"
    /* a version made when the outbox kept its seats in an array column (rewritten whole, with
     * its TOAST, at every seat a statement touched): its seats move over and the column goes,
     * once, with the rm view showing it if that view is this version's (the view is made
     * again after the DDL: runtime.c, point_views) */
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = 'avail_outbox'"
    " AND column_name = 'seats') THEN INSERT INTO avail_seat_outbox"
    " SELECT o.event_id, o.session_id, s FROM avail_outbox o, unnest(o.seats) s"
    " ON CONFLICT DO NOTHING; IF EXISTS (SELECT 1 FROM information_schema.view_table_usage"
    " WHERE view_schema = 'rm' AND view_name = 'avail_outbox'"
    " AND table_schema = current_schema()) THEN DROP VIEW rm.avail_outbox; END IF;"
    " ALTER TABLE avail_outbox DROP COLUMN seats; END IF; END $$;"
    /* The outbox is filled by triggers, so no statement can forget it; by statement, from its
     * transition table (named changed by every trigger below), so a statement touching many
     * rows of a session bumps its outbox row once. */
    "CREATE OR REPLACE FUNCTION avail_touched() RETURNS trigger LANGUAGE plpgsql"
    " SET search_path FROM CURRENT AS $$ BEGIN"
    " INSERT INTO avail_outbox AS o (event_id, session_id) SELECT DISTINCT event_id, session_id"
    " FROM changed ON CONFLICT (event_id, session_id) DO UPDATE SET touches = o.touches + 1"
    " WHERE" ONCE_PER_TRANSACTION "; RETURN NULL; END $$;"
    "CREATE OR REPLACE TRIGGER availability_touched AFTER INSERT ON availability"
    " REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION avail_touched();"
    "CREATE OR REPLACE TRIGGER availability_touched_update AFTER UPDATE ON availability"
    " REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION avail_touched();"
    /* Seats are recorded by the statements that change them (sale.h: SEAT_CHANGES): the
     * triggers of the first releases go (five plpgsql calls a seat statement, most of its
     * time in an on-sale). */
    "DROP TRIGGER IF EXISTS seat_status_touched ON seat_status;"
    "DROP TRIGGER IF EXISTS seat_status_touched_update ON seat_status;"
    "DROP TRIGGER IF EXISTS seat_status_touched_delete ON seat_status;"
    "DROP TRIGGER IF EXISTS seat_status_counted ON seat_status;"
    "DROP TRIGGER IF EXISTS seat_status_counted_delete ON seat_status;"
    "DROP FUNCTION IF EXISTS seat_touched();"
    "DROP FUNCTION IF EXISTS seat_counted();"
    /* Free seats by group, so a refresh costs O(groups), not O(seats): seat_groups counts the
     * chart's seats per (section, category), seat_taken the session's held or sold ones (moved by
     * every statement that adds or removes a seat_status row, whose rows never change seat or
     * session). Category "" is none. */
    "CREATE TABLE IF NOT EXISTS seat_groups ("
    " event_id uuid NOT NULL, section text NOT NULL, category text NOT NULL, total int NOT NULL,"
    " PRIMARY KEY (event_id, section, category));"
    "CREATE TABLE IF NOT EXISTS seat_taken ("
    " event_id uuid NOT NULL, session_id uuid NOT NULL, section text NOT NULL,"
    " category text NOT NULL, n int NOT NULL,"
    " PRIMARY KEY (event_id, session_id, section, category));"
    /* Moves of availability's held and sold and of seat_taken's n, added up once at the end of
     * a pass (apply_moves_sql): a counter row updated at every hold of a pass would grow a
     * chain of versions within its transaction, each update walking it (an on-sale's passes
     * update the same few rows hundreds of times). Empty at every commit, so unlogged. */
    "CREATE UNLOGGED TABLE IF NOT EXISTS availability_moves ("
    " event_id uuid NOT NULL, session_id uuid NOT NULL, ticket_type_id uuid NOT NULL,"
    " held int NOT NULL, sold int NOT NULL);"
    "CREATE UNLOGGED TABLE IF NOT EXISTS seat_taken_moves ("
    " event_id uuid NOT NULL, session_id uuid NOT NULL, section text NOT NULL,"
    " category text NOT NULL, n int NOT NULL);";

static const char *const tables[] = {"sale_settings",
                                     "sale_sessions",
                                     "ticket_types",
                                     "pools",
                                     "seats",
                                     "seat_status",
                                     "availability",
                                     "holds",
                                     "orders",
                                     "tickets",
                                     "avail_outbox",
                                     "avail_seat_outbox",
                                     "seat_groups",
                                     "seat_taken",
                                     "refunds",
                                     "ticket_transfers",
                                     NULL};

/* ---- availability -------------------------------------------------------------------------- */

/* Rows for every (session, type) a live type is sold in. */
static const char ensure_rows_sql[] =
    "INSERT INTO availability (event_id, session_id, ticket_type_id)"
    " SELECT t.event_id, s.session_id, t.id FROM ticket_types t"
    " JOIN sale_sessions s ON s.event_id = t.event_id"
    " WHERE t.event_id = $1::uuid AND NOT t.is_deleted AND (t.session_ids IS NULL"
    " OR jsonb_array_length(t.session_ids) = 0 OR t.session_ids ? s.session_id::text)"
    " ON CONFLICT DO NOTHING";

/* The moves recorded since the last apply, added up (see availability_moves above). */
static const char apply_moves_sql[] =
    "WITH m AS (DELETE FROM availability_moves RETURNING *)"
    " INSERT INTO availability AS a (event_id, session_id, ticket_type_id, held, sold)"
    " SELECT event_id, session_id, ticket_type_id, sum(held)::int, sum(sold)::int FROM m"
    " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 ON CONFLICT (event_id, session_id, ticket_type_id)"
    " DO UPDATE SET held = a.held + EXCLUDED.held, sold = a.sold + EXCLUDED.sold";
static const char apply_seat_moves_sql[] =
    "WITH m AS (DELETE FROM seat_taken_moves RETURNING *)"
    " INSERT INTO seat_taken AS k (event_id, session_id, section, category, n)"
    " SELECT event_id, session_id, section, category, sum(n)::int FROM m GROUP BY 1, 2, 3, 4"
    " ORDER BY 1, 2, 3, 4 ON CONFLICT (event_id, session_id, section, category)"
    " DO UPDATE SET n = k.n + EXCLUDED.n";

/* Drops rows nothing is held or sold in whose type or session is gone or no longer sells it. */
static const char prune_rows_sql[] =
    "DELETE FROM availability a WHERE a.event_id = $1::uuid AND a.held = 0 AND a.sold = 0"
    " AND NOT EXISTS (SELECT 1 FROM ticket_types t JOIN sale_sessions s"
    " ON s.event_id = t.event_id WHERE t.event_id = a.event_id AND t.id = a.ticket_type_id"
    " AND s.session_id = a.session_id AND NOT t.is_deleted AND (t.session_ids IS NULL"
    " OR jsonb_array_length(t.session_ids) = 0 OR t.session_ids ? s.session_id::text))";

/* The parts of a row b's available (t its type, ss its session), as the stock aggregate checks
 * a request: free seats the type may sell (types that sell seats), what its own quantity
 * leaves, what its pool leaves, and the places the session has left (a group unit takes
 * group_size places, a bundle none of its own). NULL parts don't bound. */
#define FREE_SEATS                                                                                 \
    "CASE WHEN t.kind = 'reserved' OR jsonb_array_length(COALESCE(t.sections, '[]')) > 0"          \
    " OR jsonb_array_length(COALESCE(t.categories, '[]')) > 0"                                     \
    " THEN (SELECT COALESCE(sum(g.total - COALESCE(k.n, 0)), 0) FROM seat_groups g"                \
    " LEFT JOIN seat_taken k ON k.event_id = g.event_id AND k.session_id = b.session_id"           \
    " AND k.section = g.section AND k.category = g.category WHERE g.event_id = b.event_id"         \
    " AND (jsonb_array_length(COALESCE(t.sections, '[]')) = 0 OR t.sections ? g.section)"          \
    " AND (jsonb_array_length(COALESCE(t.categories, '[]')) = 0"                                   \
    " OR t.categories ? g.category))::int END"
#define OWN_LEFT "t.quantity - b.held - b.sold"
#define POOL_LEFT                                                                                  \
    "(SELECT p.capacity - (SELECT COALESCE(sum(c.held + c.sold), 0) FROM availability c"           \
    " JOIN ticket_types ct ON ct.event_id = c.event_id AND ct.id = c.ticket_type_id"               \
    " WHERE c.event_id = b.event_id AND c.session_id = b.session_id"                               \
    " AND ct.pool_id = p.pool_id)::int FROM pools p WHERE p.event_id = b.event_id"                 \
    " AND p.pool_id = t.pool_id)"
#define PLACES_LEFT                                                                                \
    "(COALESCE(ss.own_capacity, ss.event_capacity) - (SELECT COALESCE(sum((c.held + c.sold)"       \
    " * CASE WHEN ct.kind = 'group' THEN COALESCE(ct.group_size, 1) ELSE 1 END), 0)"               \
    " FROM availability c JOIN ticket_types ct ON ct.event_id = c.event_id"                        \
    " AND ct.id = c.ticket_type_id WHERE c.event_id = b.event_id"                                  \
    " AND c.session_id = b.session_id AND ct.kind <> 'bundle')::int)"                              \
    " / CASE WHEN t.kind = 'group' THEN COALESCE(t.group_size, 1) ELSE 1 END"
/* What every component leaves for a bundle: the least of its available over its quantity. */
#define COMPONENTS_LEFT                                                                            \
    "(SELECT min(ca.available / GREATEST((c->>'quantity')::int, 1))"                               \
    " FROM jsonb_array_elements(COALESCE(t.components, '[]')) c JOIN availability ca"              \
    " ON ca.event_id = b.event_id AND ca.session_id = b.session_id"                                \
    " AND ca.ticket_type_id = (c->>'ticket_type_id')::uuid)"

/* Sets a.available to v.n for the rows of the event ($1), one session ($2) or all (NULL) whose
 * type is (or, with NOT, is not) a bundle; bundles go second, once their components are. A
 * session called off sells nothing: 0. */
#define REFRESH_SQL(least, bundle_test)                                                            \
    "UPDATE availability a SET available = v.n FROM (SELECT b.event_id, b.session_id,"             \
    " b.ticket_type_id, CASE WHEN ss.is_cancelled THEN 0 WHEN " least " IS NULL THEN NULL"         \
    " ELSE GREATEST(0, " least ") END AS n FROM availability b JOIN ticket_types t"                \
    " ON t.event_id = b.event_id"                                                                  \
    " AND t.id = b.ticket_type_id JOIN sale_sessions ss ON ss.event_id = b.event_id"               \
    " AND ss.session_id = b.session_id WHERE b.event_id = $1::uuid"                                \
    " AND ($2::uuid IS NULL OR b.session_id = $2::uuid) AND " bundle_test ") v"                    \
    " WHERE a.event_id = v.event_id AND a.session_id = v.session_id"                               \
    " AND a.ticket_type_id = v.ticket_type_id AND a.available IS DISTINCT FROM v.n"

static const char refresh_sql[] = REFRESH_SQL(
    "LEAST(" FREE_SEATS ", " OWN_LEFT ", " POOL_LEFT ", " PLACES_LEFT ")", "t.kind <> 'bundle'");
static const char refresh_bundles_sql[] =
    REFRESH_SQL("LEAST(" OWN_LEFT ", " POOL_LEFT ", " COMPONENTS_LEFT ")", "t.kind = 'bundle'");

/* Every row nothing is held or sold in whose type or session went (prune_rows_sql), once the
 * moves so far are added up (the prune reads the counts). */
static void prune_rows(const struct sale_ctx *c)
{
    tix_stmts_add(c->out, apply_moves_sql, 0);
    tix_stmts_add(c->out, apply_seat_moves_sql, 0);
    tix_stmts_add(c->out, prune_rows_sql, 1, c->event_id);
}

void tix_sale_refresh(const struct sale_ctx *c, const char *session_id)
{
    tix_stmts_defer(c->out, refresh_sql, 2, c->event_id, session_id);
    tix_stmts_defer(c->out, refresh_bundles_sql, 2, c->event_id, session_id);
}

/* ---- instants ------------------------------------------------------------------------------ */

const char *tix_sale_instant(const json_t *v, char out[40])
{
    if (json_is_string(v)) {
        snprintf(out, 40, "%s", json_string_value(v));
        return out;
    }
    if (!json_is_integer(v))
        return NULL;
    int64_t n = json_integer_value(v);
    char tmp[32];
    tix_time_format(n > 100000000000000LL ? n : n * 1000000, tmp); /* microseconds or seconds */
    snprintf(out, 40, "%s", tmp);
    return out;
}

/* ---- sessions (from the event stream) ------------------------------------------------------ */

/* $2 = the sessions, $3 = the event's capacity (NULL: as the event's other sessions say). */
static const char session_upsert_sql[] =
    "INSERT INTO sale_sessions (event_id, session_id, starts_at, own_capacity, event_capacity)"
    " SELECT $1::uuid, (s->>'session_id')::uuid, (s->>'starts_at')::timestamptz,"
    " NULLIF((s->>'capacity')::int, 0), COALESCE($3::int, (SELECT max(o.event_capacity)"
    " FROM sale_sessions o WHERE o.event_id = $1::uuid))"
    " FROM jsonb_array_elements($2::jsonb) s WHERE s ? 'session_id'"
    " ON CONFLICT (event_id, session_id) DO UPDATE SET starts_at = EXCLUDED.starts_at,"
    " own_capacity = EXCLUDED.own_capacity,"
    " event_capacity = COALESCE(EXCLUDED.event_capacity, sale_sessions.event_capacity)";

static enum tix_rc on_capacity(const struct sale_ctx *c)
{
    const json_t *cap = json_object_get(c->d, "capacity");
    if (cap == NULL)
        return TIX_OK;
    if (!json_is_integer(cap))
        return TIX_EINVAL;
    char n[24];
    snprintf(n, sizeof(n), "%" PRId64, (int64_t)json_integer_value(cap));
    tix_stmts_add(c->out, "UPDATE sale_sessions SET event_capacity = $2::int WHERE event_id = $1",
                  2, c->event_id, n);
    tix_sale_refresh(c, NULL);
    return TIX_OK;
}

/* A session called off: it sells nothing any more. */
static enum tix_rc on_session_cancelled(const struct sale_ctx *c)
{
    const char *sid = tix_json_str(c->d, "session_id");
    if (!tix_uuid_is_valid(sid))
        return TIX_EINVAL;
    tix_stmts_add(c->out,
                  "UPDATE sale_sessions SET is_cancelled = true WHERE event_id = $1"
                  " AND session_id = $2",
                  2, c->event_id, sid);
    tix_sale_refresh(c, sid);
    return TIX_OK;
}

static enum tix_rc on_sessions(const char *type, const struct sale_ctx *c)
{
    if (strcmp(type, "event.session_removed") == 0) {
        const char *sid = tix_json_str(c->d, "session_id");
        if (!tix_uuid_is_valid(sid))
            return TIX_EINVAL;
        tix_stmts_add(c->out, "DELETE FROM sale_sessions WHERE event_id = $1 AND session_id = $2",
                      2, c->event_id, sid);
        prune_rows(c);
        return TIX_OK;
    }
    const json_t *list = json_object_get(c->d, "sessions");
    json_t *one = NULL;
    if (list == NULL) {
        const json_t *s = json_object_get(c->d, "session");
        if (!json_is_object(s))
            return TIX_EINVAL;
        one = json_pack("[O]", s);
        list = one;
    }
    if (!json_is_array(list)) {
        json_decref(one);
        return TIX_EINVAL;
    }
    char *doc = tix_json_dump(list), cap[24];
    const json_t *capacity = json_object_get(c->d, "capacity");
    snprintf(cap, sizeof(cap), "%" PRId64, (int64_t)json_integer_value(capacity));
    tix_stmts_add(c->out, session_upsert_sql, 3, c->event_id, doc,
                  json_is_integer(capacity) ? cap : NULL);
    free(doc);
    json_decref(one);
    tix_stmts_add(c->out, ensure_rows_sql, 1, c->event_id);
    tix_sale_refresh(c, NULL);
    return TIX_OK;
}

/* ---- settings, types, pools, seats --------------------------------------------------------- */

static enum tix_rc on_configured(const struct sale_ctx *c)
{
    const json_t *settings = json_object_get(c->d, "settings");
    if (!json_is_object(settings))
        return TIX_EINVAL;
    char *doc = tix_json_dump(settings);
    tix_stmts_add(c->out,
                  "INSERT INTO sale_settings (event_id, settings, updated_at) VALUES ($1, $2, $3)"
                  " ON CONFLICT (event_id) DO UPDATE SET settings = sale_settings.settings ||"
                  " EXCLUDED.settings, updated_at = EXCLUDED.updated_at",
                  3, c->event_id, doc, c->at);
    free(doc);
    return TIX_OK;
}

/* The whole type as one jsonb parameter ($4); SQL picks the columns. */
static const char type_upsert_sql[] =
    "INSERT INTO ticket_types (event_id, id, name, kind, description, currency, price_minor,"
    " quantity, pool_id, session_ids, sections, categories, tiers, components, group_size,"
    " allows_reentry, sales_start, sales_end, min_per_order, max_per_order, hidden, doc,"
    " created_at, updated_at, version)"
    " SELECT $1::uuid, $2::uuid, t->>'name', COALESCE(t->>'kind', 'general_admission'),"
    " t->>'description', t->>'currency', COALESCE((t->>'price_minor')::bigint, 0),"
    " (t->>'quantity')::int, t->>'pool_id', NULLIF(t->'session_ids', 'null'),"
    " NULLIF(t->'sections', 'null'), NULLIF(t->'categories', 'null'),"
    " NULLIF(t->'tiers', 'null'), NULLIF(t->'components', 'null'), (t->>'group_size')::int,"
    " COALESCE((t->>'allows_reentry')::boolean, false), $5::timestamptz, $6::timestamptz,"
    " (t->>'min_per_order')::int, (t->>'max_per_order')::int,"
    " COALESCE((t->>'hidden')::boolean, false), t, $3, $3, $7 FROM (SELECT $4::jsonb AS t) x"
    " ON CONFLICT (event_id, id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,"
    " description = EXCLUDED.description, currency = EXCLUDED.currency,"
    " price_minor = EXCLUDED.price_minor, quantity = EXCLUDED.quantity,"
    " pool_id = EXCLUDED.pool_id, session_ids = EXCLUDED.session_ids,"
    " sections = EXCLUDED.sections, categories = EXCLUDED.categories, tiers = EXCLUDED.tiers,"
    " components = EXCLUDED.components, group_size = EXCLUDED.group_size,"
    " allows_reentry = EXCLUDED.allows_reentry, sales_start = EXCLUDED.sales_start,"
    " sales_end = EXCLUDED.sales_end, min_per_order = EXCLUDED.min_per_order,"
    " max_per_order = EXCLUDED.max_per_order, hidden = EXCLUDED.hidden, doc = EXCLUDED.doc,"
    " updated_at = EXCLUDED.updated_at, version = EXCLUDED.version";

/* The type's id: "ticket_type_id", or "id". */
static const char *type_id_of(const json_t *t)
{
    const char *id = tix_json_str(t, "ticket_type_id");
    return id != NULL ? id : tix_json_str(t, "id");
}

static enum tix_rc on_type(const struct sale_ctx *c)
{
    const json_t *t = json_object_get(c->d, "ticket_type");
    const char *id = type_id_of(t);
    if (!json_is_object(t) || !tix_uuid_is_valid(id) || tix_json_str(t, "name") == NULL)
        return TIX_EINVAL;
    char *doc = tix_json_dump(t);
    char start[40], end[40];
    tix_stmts_add(c->out, type_upsert_sql, 7, c->event_id, id, c->at, doc,
                  tix_sale_instant(json_object_get(t, "sales_start"), start),
                  tix_sale_instant(json_object_get(t, "sales_end"), end), c->ver);
    free(doc);
    tix_stmts_add(c->out, ensure_rows_sql, 1, c->event_id);
    prune_rows(c);
    tix_sale_refresh(c, NULL);
    return TIX_OK;
}

static enum tix_rc on_type_deleted(const struct sale_ctx *c)
{
    const char *id = tix_json_str(c->d, "ticket_type_id");
    if (!tix_uuid_is_valid(id))
        return TIX_EINVAL;
    tix_stmts_add(c->out,
                  "UPDATE ticket_types SET is_deleted = true, updated_at = $3, version = $4"
                  " WHERE event_id = $1 AND id = $2",
                  4, c->event_id, id, c->at, c->ver);
    prune_rows(c);
    tix_sale_refresh(c, NULL);
    return TIX_OK;
}

static enum tix_rc on_pool(const struct sale_ctx *c)
{
    const json_t *p = json_object_get(c->d, "pool");
    const char *id = tix_json_str(p, "pool_id");
    if (id == NULL || !json_is_integer(json_object_get(p, "capacity")))
        return TIX_EINVAL;
    char capacity[24];
    snprintf(capacity, sizeof(capacity), "%" PRId64, tix_json_int(p, "capacity", 0));
    tix_stmts_add(c->out,
                  "INSERT INTO pools (event_id, pool_id, name, capacity) VALUES ($1, $2, $3,"
                  " $4::int) ON CONFLICT (event_id, pool_id) DO UPDATE SET name ="
                  " COALESCE(EXCLUDED.name, pools.name), capacity = EXCLUDED.capacity",
                  4, c->event_id, id, tix_json_str(p, "name"), capacity);
    tix_sale_refresh(c, NULL);
    return TIX_OK;
}

static enum tix_rc on_seats(const struct sale_ctx *c)
{
    const json_t *seats = json_object_get(c->d, "seats");
    if (!json_is_array(seats))
        return TIX_EINVAL;
    char *doc = tix_json_dump(seats);
    char version[24];
    snprintf(version, sizeof(version), "%" PRId64, tix_json_int(c->d, "chart_version", 0));
    tix_stmts_add(
        c->out,
        "INSERT INTO seats (event_id, seat_id, section, row_label, label, category,"
        " accessible, chart_version) SELECT $1::uuid, z->>'seat_id', z->>'section',"
        " z->>'row', z->>'label', z->>'category',"
        " COALESCE((z->>'accessible')::boolean, false), $3::int"
        " FROM jsonb_array_elements($2::jsonb) z ON CONFLICT (event_id, seat_id) DO UPDATE"
        " SET section = EXCLUDED.section, row_label = EXCLUDED.row_label,"
        " label = EXCLUDED.label, category = EXCLUDED.category,"
        " accessible = EXCLUDED.accessible, chart_version = EXCLUDED.chart_version",
        3, c->event_id, doc, version);
    free(doc);
    tix_stmts_add(c->out, "DELETE FROM seat_groups WHERE event_id = $1::uuid", 1, c->event_id);
    tix_stmts_add(c->out,
                  "INSERT INTO seat_groups (event_id, section, category, total)"
                  " SELECT event_id, COALESCE(section, ''), COALESCE(category, ''), count(*)"
                  " FROM seats WHERE event_id = $1::uuid GROUP BY 1, 2, 3",
                  1, c->event_id);
    tix_sale_refresh(c, NULL);
    return TIX_OK;
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static enum tix_rc dispatch(const char *type, const struct sale_ctx *c)
{
    if (strcmp(type, "event.session_cancelled") == 0)
        return on_session_cancelled(c);
    if (strcmp(type, "event.created") == 0 || strncmp(type, "event.session_", 14) == 0)
        return on_sessions(type, c);
    if (strcmp(type, "event.updated") == 0)
        return on_capacity(c);
    if (strcmp(type, "stock.configured") == 0)
        return on_configured(c);
    if (strcmp(type, "ticket_type.created") == 0 || strcmp(type, "ticket_type.updated") == 0)
        return on_type(c);
    if (strcmp(type, "ticket_type.deleted") == 0)
        return on_type_deleted(c);
    if (strcmp(type, "pool.defined") == 0)
        return on_pool(c);
    if (strcmp(type, "stock.seats_loaded") == 0)
        return on_seats(c);
    return tix_sale_orders_apply(type, c);
}

static bool is_relevant(const struct tix_event *e)
{
    static const char *const prefixes[] = {"stock.", "ticket_type.", "pool.", "hold.",
                                           "order.", "ticket.",      NULL};
    if (strncmp(e->stream_id, "event-", 6) == 0)
        return strcmp(e->type, "event.created") == 0 || strcmp(e->type, "event.updated") == 0 ||
               strcmp(e->type, "event.session_added") == 0 ||
               strcmp(e->type, "event.session_updated") == 0 ||
               strcmp(e->type, "event.session_removed") == 0 ||
               strcmp(e->type, "event.session_cancelled") == 0;
    if (strncmp(e->stream_id, "stock-", 6) != 0)
        return false;
    for (int i = 0; prefixes[i] != NULL; i++)
        if (strncmp(e->type, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

static enum tix_rc apply(const struct tix_event *e, struct tix_stmts *out)
{
    if (!is_relevant(e))
        return TIX_OK;
    json_t *d = tix_json_parse(e->data, strlen(e->data), NULL);
    const char *id = tix_json_str(d, "event_id");
    if (!json_is_object(d) || !tix_uuid_is_valid(id)) {
        json_decref(d);
        return TIX_EINVAL;
    }
    char at[32], ver[24];
    tix_time_format(e->recorded_at_us, at);
    snprintf(ver, sizeof(ver), "%" PRId64, e->stream_version);
    struct sale_ctx c = {.event_id = id, .d = d, .at = at, .ver = ver, .out = out};
    /* whatever this event moves, the pass adds up before it ends, ahead of any refresh
     * (deferred statements run in the order first asked, each once) */
    tix_stmts_defer(out, apply_moves_sql, 0);
    tix_stmts_defer(out, apply_seat_moves_sql, 0);
    enum tix_rc rc = dispatch(e->type, &c);
    json_decref(d);
    if (rc == TIX_ENOTFOUND)
        return TIX_OK; /* a sale event this read model has nothing to say about */
    if (rc != TIX_OK)
        tix_stmts_reset(out);
    return rc;
}

const struct tix_projection tix_projection_sale = {
    .name = "sale",
    .source = TIX_SOURCE_EVENTS,
    .ddl = ddl,
    .tables = tables,
    .apply = apply,
};
