/* world.h - a tiny in-memory processor for driving aggregates' pure functions in unit tests
 *
 * The world is a table of streams (id, stream kind, state, version) and a log of the events
 * accepted so far. tix_world_run() does what the processor does: it looks the handler up in the
 * registry, calls streams(), builds a view from the world's states, calls decide() with the
 * world's clock and, when the decision is accepted, evolves every event into its stream's state
 * (asserting the stream was one streams() asked for) and appends it to the log. States are only
 * ever built by evolving events, so every test also exercises evolve.
 *
 * One world per process, reset by each suite's .init and freed by its .fini; Criterion runs the
 * tests of a unit binary one at a time (--jobs 1), so nothing here is thread-safe. Failed checks
 * are Criterion assertions and end the test.
 */
#ifndef TIX_TEST_WORLD_H
#define TIX_TEST_WORLD_H

#include <jansson.h>
#include <stdint.h>

#include "tix/aggregate.h"

struct tix_world_stream {
    char id[TIX_STREAM_ID_MAX];
    const struct tix_stream_kind *kind;
    void *state;
    int64_t version;
};

struct tix_world_event {
    char stream_id[TIX_STREAM_ID_MAX];
    const char *type;
    int schema_version;
    json_t *data;
};

/* Empties the world and sets its clock. Call from a suite's .init. */
void tix_world_reset(int64_t now_us);
/* Destroys every state and drops the log. Call from a suite's .fini. */
void tix_world_teardown(void);

/* The clock every command sees as now_us. */
void tix_world_set_now(int64_t now_us);
int64_t tix_world_now(void);

/* When n > 0, every successful streams() must name exactly n streams (0, the default after
 * reset, only checks the TIX_DECISION_MAX_STREAMS limit). */
void tix_world_require_streams(int n);

/* The stream with this id, created empty through the registry on first use. Borrowed, valid
 * until tix_world_teardown. */
struct tix_world_stream *tix_world_stream(const char *id);

/* How many events were accepted so far, and the i-th one (borrowed). */
int tix_world_n_log(void);
const struct tix_world_event *tix_world_log(int i);

/* Runs one command through streams/decide/evolve. Steals payload; d is initialised here and the
 * caller deinits it. Returns streams()' result (negative with err set when the payload is
 * invalid, in which case decide never ran). */
int tix_world_run(const char *type, const char *key, const char *actor, json_t *payload,
                  struct tix_decision *d, struct tix_err *err);

/* Runs a command that must be valid and accepted; the caller deinits d. Returns streams()'
 * result. Steals payload. */
int tix_world_accept(const char *key, const char *type, const char *actor, json_t *payload,
                     struct tix_decision *d);
/* Same, dropping the decision; returns how many events it emitted. */
int tix_world_accept_quietly(const char *key, const char *type, const char *actor, json_t *payload);
/* Same, and asserts it emitted nothing and logged nothing. */
void tix_world_accept_no_events(const char *key, const char *type, const char *actor,
                                json_t *payload);

/* Runs a command that must be valid and rejected with code and field (NULL for none), with a
 * reason, no events, no result, and nothing logged. Returns streams()' result. Steals payload. */
int tix_world_expect_rejected(const char *key, const char *type, const char *actor, json_t *payload,
                              const char *code, const char *field);
/* The reason of the last rejection tix_world_expect_rejected saw; borrowed, valid until the next
 * call. */
const char *tix_world_last_reason(void);

/* Runs a command whose payload streams() must refuse as TIX_EINVAL on field, with a message.
 * Steals payload. */
void tix_world_expect_invalid(const char *key, const char *type, const char *actor, json_t *payload,
                              const char *field);

/* Asserts got equals want (stolen), showing both on failure. */
void tix_world_expect_json(const json_t *got, json_t *want);
/* Asserts d's i-th event is a schema-1 type on stream_id with data equal to want (stolen). */
void tix_world_expect_event(const struct tix_decision *d, int i, const char *stream_id,
                            const char *type, json_t *want);

/* Rebuilds stream id's state from the log, through canonical bytes as the store keeps them.
 * Returns a new state; free it with the stream kind's destroy. */
void *tix_world_replay(const char *id);

/* Parses test JSON (any value, NUL allowed); asserts it parses. Returns a new reference. */
json_t *tix_json_of(const char *text);
/* Sets p[key] to value (stolen), or deletes key when value is NULL. Returns p. */
json_t *tix_json_with(json_t *p, const char *key, json_t *value);
/* unit repeated times times; a new string, free it. */
char *tix_world_repeat(const char *unit, int times);
/* "%064x" of n, in one of 16 rotating static buffers. */
const char *tix_world_hx(unsigned n);

#endif
