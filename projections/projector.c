/* projector.c - catch-up and live wake-up for every projection
 *
 * One connection applies (transactions, checkpoints); a second one only LISTENs, so waiting for
 * a notification never sits inside an applying transaction. A notification names the partition
 * a commit wrote: only those partitions are caught up right away (a commit is applied and
 * published within milliseconds), and every partition at least once a second (which also covers
 * a missed notification). After each pass the process managers run (under a stream of commits
 * at most every REACT_MIN_MS, on every partition a commit marked meanwhile).
 *
 * A pass steps, per partition, every lagging projection's live version in one group step
 * (runtime.c: one transaction, the events read once, the statements sent in one round trip),
 * then any version being rebuilt in another, and asks for the versions once per pass.
 *
 * The sale's live version is the exception: a thread of its own (sale_loop, with its own
 * connections) applies it, one step per partition per pass, and pushes the availability it
 * changed to Redis (availability.h) after every pass, so a seat map's live stream waits only for
 * the sale's own statements, never for the other read models' or the process managers' (under an
 * on-sale those took most of a pass: a pass of every projection lasted 150-220 ms in
 * bench/flash-sale's surge). The two loops touch different checkpoint rows, as two projectors
 * would. A rebuilt sale version is stepped by the main loop like any other.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tix/db.h"
#include "tix/ids.h"
#include "tix/log.h"
#include "tix/mem.h"
#include "tix/redis.h"
#include "tix/store.h"

#include "availability.h"
#include "projection.h"
#include "projector.h"
#include "reactor.h"

#define FULL_SWEEP_MS 1000
/* How often the passes' figures are logged (info "projector passes"), when there were any. */
#define STATS_PERIOD_MS 5000
/* Passes start at least this far apart: under a stream of commits one pass applies what several
 * commits wrote, instead of every projection's transaction once per commit. */
#define PASS_MIN_MS 25
/* The sale loop's passes start at least this far apart (its passes are short: one projection). */
#define SALE_PASS_MIN_MS 10
/* A partition whose sale events the loop just applied is stepped at every pass for this long,
 * notified or not: a live on-sale's partition is then never left to the once-a-second sweep
 * should a notification be late or lost. */
#define SALE_BUSY_MS 500
/* Under a stream of commits the process managers run at most this often (each run is a
 * transaction per manager and hot partition); a full sweep runs them at once. */
#define REACT_MIN_MS 50

/* The checkpoints (of projections and process managers) behind their partition's head, as
 * "name/version/partition" rows: a full sweep steps only those, so an idle sweep costs one
 * query instead of a transaction per projection and partition. */
static const char lagging_sql[] =
    "SELECT k.projection || '/' || k.version || '/' || k.partition,"
    " h.last_seq > k.last_seq, h.last_outcome_seq > k.last_seq"
    " FROM public.projection_checkpoints k JOIN public.partition_heads h"
    " ON h.partition = k.partition WHERE h.last_seq > k.last_seq"
    " OR h.last_outcome_seq > k.last_seq";

/* Whether the checkpoint of name, version and part is behind its partition's events (or, with
 * is_outcomes, its outcomes) in lagging (NULL: assume it is). */
static bool is_lagging(const PGresult *lagging, const char *name, int version, int part,
                       bool is_outcomes)
{
    if (lagging == NULL)
        return true;
    char key[128];
    snprintf(key, sizeof(key), "%s/%d/%d", name, version, part);
    for (int i = 0; i < PQntuples(lagging); i++)
        if (strcmp(PQgetvalue(lagging, i, 0), key) == 0)
            return strcmp(PQgetvalue(lagging, i, is_outcomes ? 2 : 1), "t") == 0;
    return false;
}

#define MAX_PROJECTIONS 32
#define STEP_LIMIT      1000
/* The sale loop's steps are shorter: under an on-sale's stream of commits a push waits for the
 * step in progress and its own, so the step's length is the live streams' delay. */
#define SALE_STEP_LIMIT 250
#define REACT_LIMIT     500
#define MAX_REACTORS    16

/* Pushes the sale's changed availability to Redis and its channels; a Redis outage only delays
 * it (the outbox keeps every change until it was published). */
static void publish_availability(struct tix_db *db, struct tix_redis *redis)
{
    struct tix_err err;
    int published = 500;
    enum tix_rc rc = TIX_OK;
    while (rc == TIX_OK && published == 500)
        rc = tix_avail_publish(db, redis, 500, &published, &err);
    if (rc != TIX_OK && rc != TIX_ETRANSIENT)
        tix_log_warn("availability not published, retrying", "detail=\"%s\"", err.msg);
}

/* Steps targets on part in group steps of at most limit events until a read comes back short. */
static enum tix_rc catch_up(struct tix_db *db, struct tix_step_target *targets, int n, int part,
                            int limit, struct tix_err *err)
{
    bool is_full = n > 0;
    enum tix_rc rc = TIX_OK;
    while (is_full && rc == TIX_OK)
        rc = tix_projection_step_group(db, targets, n, part, limit, &is_full, err);
    return rc;
}

extern const struct tix_projection tix_projection_sale;

/* Applies the backlog of every projection on the partitions only[] marks, or (only NULL) on
 * every partition lagging names: per partition, one group step for the active versions (but
 * the sale's, which the sale loop applies), then one for the building ones (a rebuild's backlog
 * does not hold up the live read models). */
static enum tix_rc sweep(struct tix_db *db, int partitions, const bool *only,
                         const PGresult *lagging, struct tix_err *err)
{
    int active[MAX_PROJECTIONS], building[MAX_PROJECTIONS];
    enum tix_rc rc = tix_projection_versions_all(db, active, building, err);
    for (int part = 0; part < partitions && rc == TIX_OK; part++) {
        if (only != NULL && !only[part])
            continue;
        struct tix_step_target live[MAX_PROJECTIONS], rebuilt[MAX_PROJECTIONS];
        int n_live = 0, n_rebuilt = 0;
        for (int i = 0; tix_projections[i] != NULL; i++) {
            const struct tix_projection *proj = tix_projections[i];
            bool is_outcomes = proj->source != TIX_SOURCE_EVENTS;
            if (proj != &tix_projection_sale &&
                (only != NULL || is_lagging(lagging, proj->name, active[i], part, is_outcomes)))
                live[n_live++] = (struct tix_step_target){.proj = proj, .version = active[i]};
            if (building[i] > 0 &&
                (only != NULL || is_lagging(lagging, proj->name, building[i], part, is_outcomes)))
                rebuilt[n_rebuilt++] =
                    (struct tix_step_target){.proj = proj, .version = building[i]};
        }
        rc = catch_up(db, live, n_live, part, STEP_LIMIT, err);
        if (rc == TIX_OK)
            rc = catch_up(db, rebuilt, n_rebuilt, part, STEP_LIMIT, err);
    }
    return rc;
}

/* Runs the reactors over every partition, those of a partition in one group step (its events
 * read once for all of them); the bus is (re)opened on demand and a failure only delays
 * reactions: their checkpoints don't move until their commands are confirmed. */
static void react(struct tix_db *db, struct tix_bus **bus, const struct tix_config *cfg,
                  int partitions, const bool *only, const PGresult *lagging)
{
    struct tix_err err;
    if (*bus == NULL && tix_bus_open(cfg->amqp_url, "tixmo-projector", bus, &err) != TIX_OK) {
        tix_log_warn("process managers wait for the broker", "detail=\"%s\"", err.msg);
        *bus = NULL;
        return;
    }
    enum tix_rc rc = TIX_OK;
    for (int part = 0; part < partitions && rc == TIX_OK; part++) {
        const struct tix_reactor *due[MAX_REACTORS];
        int n = 0;
        for (int i = 0; tix_reactors[i] != NULL; i++) /* at most MAX_REACTORS (checked at start) */
            if (only != NULL ? only[part]
                             : is_lagging(lagging, tix_reactors[i]->name, 1, part, false))
                due[n++] = tix_reactors[i];
        int applied = n > 0 ? REACT_LIMIT : 0; /* again only while a step read all it asked for */
        while (applied == REACT_LIMIT && rc == TIX_OK)
            rc = tix_reactor_step_group(db, *bus, partitions, due, n, part, REACT_LIMIT, &applied,
                                        &err);
    }
    if (rc != TIX_OK) {
        tix_log_warn("process manager step failed, retrying", "detail=\"%s\"", err.msg);
        tix_bus_close(*bus);
        *bus = NULL;
    }
}

/* Runs the process managers on a full sweep (lagging), else at most every REACT_MIN_MS on the
 * partitions commits marked in hot since they last ran (collected in pending). Returns whether
 * some partition still waits for them. */
static bool react_paced(struct tix_db *db, struct tix_bus **bus, const struct tix_config *cfg,
                        int partitions, const bool *hot, bool *pending, const PGresult *lagging,
                        int64_t *last_ms)
{
    for (int part = 0; hot != NULL && part < partitions; part++)
        pending[part] = pending[part] || hot[part];
    if (hot != NULL && tix_mono_ms() - *last_ms < REACT_MIN_MS)
        return true;
    react(db, bus, cfg, partitions, hot != NULL ? pending : NULL, lagging);
    memset(pending, 0, (size_t)partitions * sizeof(*pending));
    *last_ms = tix_mono_ms();
    return false;
}

/* Where a loop's passes went since the last log line: applying, then what follows (the process
 * managers, or the sale loop's publishing), over the passes a commit started. */
struct pass_stats {
    const char *msg;   /* the log line's message */
    const char *after; /* its second part's name */
    int64_t since_ms, passes, apply_ms, after_ms, max_pass_ms;
    /* The sale loop's: over the passes that applied events, the age (since it was recorded) of
     * the oldest event a pass applied, once the pass published: the live streams' delay. */
    int64_t aged, age_ms, max_age_ms;
};

/* Counts one pass: started, applied and ended (monotonic ms). */
static void pass_stats_add(struct pass_stats *st, int64_t started_ms, int64_t applied_ms,
                           int64_t end_ms)
{
    st->passes++;
    st->apply_ms += applied_ms - started_ms;
    st->after_ms += end_ms - applied_ms;
    if (end_ms - started_ms > st->max_pass_ms)
        st->max_pass_ms = end_ms - started_ms;
}

/* Counts the age of a pass's oldest event (recorded at recorded_us) once it was published. */
static void pass_stats_age(struct pass_stats *st, int64_t recorded_us)
{
    int64_t age_ms = (tix_now_us() - recorded_us) / 1000;
    st->aged++;
    st->age_ms += age_ms;
    if (age_ms > st->max_age_ms)
        st->max_age_ms = age_ms;
}

/* Logs the figures (info) every STATS_PERIOD_MS, when there were passes, and starts anew. */
static void pass_stats_log(struct pass_stats *st)
{
    int64_t now = tix_mono_ms();
    if (now - st->since_ms < STATS_PERIOD_MS)
        return;
    if (st->passes > 0) {
        double n = (double)st->passes;
        char age[96] = "";
        if (st->aged > 0)
            snprintf(age, sizeof(age), " avg_event_age_ms=%.1f max_event_age_ms=%ld",
                     (double)st->age_ms / (double)st->aged, (long)st->max_age_ms);
        tix_log_info(
            st->msg, "seconds=%.1f passes=%ld avg_apply_ms=%.1f avg_%s_ms=%.1f max_pass_ms=%ld%s",
            (double)(now - st->since_ms) / 1000.0, (long)st->passes, (double)st->apply_ms / n,
            st->after, (double)st->after_ms / n, (long)st->max_pass_ms, age);
    }
    st->since_ms = now;
    st->passes = st->apply_ms = st->after_ms = st->max_pass_ms = 0;
    st->aged = st->age_ms = st->max_age_ms = 0;
}

/* Waits for the next pass, at most left ms: a commit's notification marks its partition in hot
 * (cleared first). Under a stream of commits the next pass starts at least min_ms after
 * started_ms, gathering the notifications meanwhile, so one pass applies what several commits
 * wrote. Returns whether a commit came. */
static bool wait_for_commits(struct tix_db *listener, bool *hot, int partitions, int64_t left,
                             int64_t started_ms, int min_ms)
{
    memset(hot, 0, (size_t)partitions * sizeof(*hot));
    bool is_notified =
        left > 0 && tix_db_wait_partitions(listener, "tixmo_events", (int)left, hot, partitions);
    int64_t rest_ms = min_ms - (tix_mono_ms() - started_ms);
    if (is_notified && rest_ms > 0) {
        usleep((useconds_t)rest_ms * 1000);
        tix_db_wait_partitions(listener, "tixmo_events", 0, hot, partitions);
    }
    return is_notified;
}

/* The sale loop: its own connections, the stop flag it shares with the main loop. */
struct sale_loop {
    const struct tix_config *cfg;
    volatile sig_atomic_t *stop;
    int partitions;
    pthread_t thread;
};

/* Opens the sale loop's connections: one applying, one LISTENing, and Redis. */
static enum tix_rc sale_loop_open(const struct tix_config *cfg, struct tix_db **db,
                                  struct tix_db **listener, struct tix_redis **redis,
                                  struct tix_err *err)
{
    enum tix_rc rc = tix_db_open_relaxed(cfg->db_url, db, err);
    if (rc == TIX_OK)
        rc = tix_db_open(cfg->db_url, listener, err);
    if (rc == TIX_OK)
        rc = tix_db_script(*listener, "LISTEN tixmo_events", err);
    if (rc == TIX_OK)
        rc = tix_redis_open(cfg->redis_url, cfg->redis_timeout_ms, redis, err);
    return rc;
}

/* The partitions whose events the sale's version $2 has not applied yet. */
static const char sale_lagging_sql[] =
    "SELECT k.partition FROM public.projection_checkpoints k JOIN public.partition_heads h"
    " ON h.partition = k.partition WHERE k.projection = $1 AND k.version = $2::int"
    " AND h.last_seq > k.last_seq";

/* Applies one step of the sale's live version on each partition hot marks (when is_full, on
 * those its checkpoints lag: one query, not a step per partition); a partition where it applied
 * events stays busy (busy_until) for SALE_BUSY_MS. One step each, not each partition's whole
 * backlog: a backlog on one partition (a sweep's) must not hold another's live stream back for
 * seconds, so *has_more tells that some step read its whole limit and the next pass is due at
 * once. *oldest_us gets when the oldest event applied was recorded (0: none). */
static enum tix_rc sale_pass(struct tix_db *db, int partitions, const bool *hot, bool is_full,
                             int64_t *busy_until, bool *has_more, int64_t *oldest_us,
                             struct tix_err *err)
{
    *has_more = false;
    *oldest_us = 0;
    int active = 1, building = 0;
    enum tix_rc rc = tix_projection_versions(db, tix_projection_sale.name, &active, &building, err);
    bool *due = tix_xcalloc((size_t)partitions, sizeof(*due));
    for (int part = 0; part < partitions; part++)
        due[part] = !is_full && hot[part];
    PGresult *res = NULL;
    char version[16];
    snprintf(version, sizeof(version), "%d", active);
    const char *params[] = {tix_projection_sale.name, version};
    if (rc == TIX_OK && is_full)
        rc = tix_db_exec(db, sale_lagging_sql, 2, params, &res, err);
    for (int i = 0; res != NULL && i < PQntuples(res); i++) {
        long part = strtol(PQgetvalue(res, i, 0), NULL, 10);
        if (part >= 0 && part < partitions)
            due[part] = true;
    }
    PQclear(res);
    for (int part = 0; part < partitions && rc == TIX_OK; part++) {
        if (!due[part])
            continue;
        struct tix_step_target target = {.proj = &tix_projection_sale, .version = active};
        bool is_step_full = false;
        rc = tix_projection_step_group(db, &target, 1, part, SALE_STEP_LIMIT, &is_step_full, err);
        if (rc == TIX_OK && target.applied > 0) {
            busy_until[part] = tix_mono_ms() + SALE_BUSY_MS;
            if (*oldest_us == 0 || target.first_recorded_us < *oldest_us)
                *oldest_us = target.first_recorded_us;
        }
        *has_more = *has_more || (rc == TIX_OK && is_step_full);
    }
    free(due);
    return rc;
}

/* The sale loop's thread: like the main loop, for the sale's live version alone. */
static void *sale_loop_run(void *arg)
{
    struct sale_loop *l = arg;
    struct tix_db *db = NULL, *listener = NULL;
    struct tix_redis *redis = NULL;
    struct tix_err err;
    while (!*l->stop && sale_loop_open(l->cfg, &db, &listener, &redis, &err) != TIX_OK) {
        tix_log_warn("sale loop waits for its connections", "detail=\"%s\"", err.msg);
        tix_db_close(db);
        tix_db_close(listener);
        db = listener = NULL;
        sleep(1);
    }
    bool *hot = tix_xcalloc((size_t)l->partitions, sizeof(*hot));
    int64_t *busy_until = tix_xcalloc((size_t)l->partitions, sizeof(*busy_until));
    bool is_full = true;
    int64_t last_full_ms = 0;
    struct pass_stats stats = {.msg = "sale passes", .after = "publish", .since_ms = tix_mono_ms()};
    while (!*l->stop) {
        int64_t started_ms = tix_mono_ms();
        bool has_more = false;
        int64_t oldest_us = 0;
        if (sale_pass(db, l->partitions, hot, is_full, busy_until, &has_more, &oldest_us, &err) !=
            TIX_OK) {
            tix_log_warn("sale projection step failed, retrying", "rc=%s detail=\"%s\"",
                         tix_rc_name(err.rc), err.msg);
            sleep(1);
        }
        int64_t applied_ms = tix_mono_ms();
        publish_availability(db, redis);
        if (!is_full)
            pass_stats_add(&stats, started_ms, applied_ms, tix_mono_ms());
        if (oldest_us > 0)
            pass_stats_age(&stats, oldest_us);
        pass_stats_log(&stats);
        if (is_full)
            last_full_ms = tix_mono_ms();
        int64_t now = tix_mono_ms(), left = FULL_SWEEP_MS - (now - last_full_ms);
        bool is_busy = false;
        for (int part = 0; part < l->partitions; part++)
            is_busy = is_busy || busy_until[part] > now;
        if (is_busy && left > SALE_PASS_MIN_MS) /* the busy partitions' next pass */
            left = SALE_PASS_MIN_MS;
        if (has_more) /* a backlog: the next step at once, commits or not */
            left = 0;
        bool is_notified =
            wait_for_commits(listener, hot, l->partitions, left, started_ms, SALE_PASS_MIN_MS);
        now = tix_mono_ms();
        for (int part = 0; part < l->partitions; part++)
            hot[part] = hot[part] || busy_until[part] > now;
        is_full = !(is_notified || is_busy) || now - last_full_ms >= FULL_SWEEP_MS;
    }
    free(busy_until);
    free(hot);
    tix_redis_close(redis);
    tix_db_close(listener);
    tix_db_close(db);
    return NULL;
}

enum tix_rc tix_projector_run(const struct tix_config *cfg, volatile sig_atomic_t *stop,
                              struct tix_err *err)
{
    struct tix_db *db = NULL, *listener = NULL;
    int partitions = 0;
    enum tix_rc rc = tix_db_open_relaxed(cfg->db_url, &db, err);
    if (rc == TIX_OK)
        rc = tix_db_open(cfg->db_url, &listener, err);
    if (rc == TIX_OK)
        rc = tix_store_partitions(db, &partitions, err);
    int n_projections = 0;
    while (tix_projections[n_projections] != NULL)
        n_projections++;
    int n_reactors = 0;
    while (tix_reactors[n_reactors] != NULL)
        n_reactors++;
    if (rc == TIX_OK && n_projections > MAX_PROJECTIONS)
        rc = tix_err_set(err, TIX_EINTERNAL, "", "more than %d projections", MAX_PROJECTIONS);
    if (rc == TIX_OK && n_reactors > MAX_REACTORS)
        rc = tix_err_set(err, TIX_EINTERNAL, "", "more than %d process managers", MAX_REACTORS);
    if (rc == TIX_OK && partitions < 1)
        rc = tix_err_set(err, TIX_EINTERNAL, "", "the store has no partitions");
    for (int i = 0; tix_projections[i] != NULL && rc == TIX_OK; i++) {
        int active = 1, building = 0;
        rc = tix_projection_prepare(db, tix_projections[i], 1, partitions, err);
        if (rc == TIX_OK)
            rc = tix_projection_versions(db, tix_projections[i]->name, &active, &building, err);
        if (rc == TIX_OK && active != 1) /* the live version's DDL (new columns) and views */
            rc = tix_projection_prepare(db, tix_projections[i], active, partitions, err);
    }
    for (int i = 0; tix_reactors[i] != NULL && rc == TIX_OK; i++)
        rc = tix_reactor_prepare(db, tix_reactors[i], partitions, err);
    if (rc == TIX_OK)
        rc = tix_db_script(listener, "LISTEN tixmo_events", err);
    struct sale_loop sale = {.cfg = cfg, .stop = stop, .partitions = partitions};
    bool is_sale_running = false;
    if (rc == TIX_OK && pthread_create(&sale.thread, NULL, sale_loop_run, &sale) != 0)
        rc = tix_err_set(err, TIX_EINTERNAL, "", "the sale loop's thread did not start");
    else if (rc == TIX_OK)
        is_sale_running = true;
    struct tix_bus *bus = NULL;
    if (rc == TIX_OK)
        tix_log_info("projector started", "partitions=%d", partitions);
    bool *hot = tix_xcalloc((size_t)(partitions > 0 ? partitions : 1), sizeof(*hot));
    bool *react_pending = tix_xcalloc((size_t)(partitions > 0 ? partitions : 1), sizeof(*hot));
    bool is_full = true;
    int64_t last_full_ms = 0, last_react_ms = 0;
    struct pass_stats stats = {
        .msg = "projector passes", .after = "react", .since_ms = tix_mono_ms()};
    while (rc == TIX_OK && !*stop) {
        int64_t started_ms = tix_mono_ms();
        const bool *only = is_full ? NULL : hot; /* a commit's partition first, the rest later */
        PGresult *lagging = NULL;
        if (is_full && tix_db_exec(db, lagging_sql, 0, NULL, &lagging, err) != TIX_OK)
            lagging = NULL; /* then every partition is stepped */
        if (sweep(db, partitions, only, lagging, err) != TIX_OK) {
            tix_log_warn("projection step failed, retrying", "rc=%s detail=\"%s\"",
                         tix_rc_name(err->rc), err->msg);
            sleep(1);
        }
        int64_t applied_ms = tix_mono_ms();
        bool is_react_due =
            react_paced(db, &bus, cfg, partitions, only, react_pending, lagging, &last_react_ms);
        PQclear(lagging);
        if (!is_full) /* a commit's pass (full sweeps mostly find nothing) */
            pass_stats_add(&stats, started_ms, applied_ms, tix_mono_ms());
        pass_stats_log(&stats);
        if (is_full)
            last_full_ms = tix_mono_ms();
        int64_t left = FULL_SWEEP_MS - (tix_mono_ms() - last_full_ms);
        if (is_react_due && left > REACT_MIN_MS) /* a full sweep soon if no commit comes */
            left = REACT_MIN_MS;
        bool is_notified =
            wait_for_commits(listener, hot, partitions, left, started_ms, PASS_MIN_MS);
        is_full = !is_notified || tix_mono_ms() - last_full_ms >= FULL_SWEEP_MS;
    }
    if (is_sale_running) {
        *stop = 1; /* the main loop ended on an error: the sale loop ends with it */
        pthread_join(sale.thread, NULL);
    }
    free(react_pending);
    free(hot);
    tix_bus_close(bus);
    tix_db_close(listener);
    tix_db_close(db);
    return rc;
}
