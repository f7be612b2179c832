/* aggregate.h - how a domain aggregate plugs into the processor
 *
 * An aggregate is a set of pure functions with no I/O:
 *   - a stream kind (`struct tix_stream_kind`) knows how to make an empty state and how to evolve
 *     a state by one event;
 *   - a command handler (`struct tix_command_handler`) names the streams a command needs and
 *     decides, from their states, either the events to append or a rejection.
 * The processor loads the named streams (from its cache or the log), calls decide, appends the
 * emitted events with expected versions, then evolves its cached states with them. decide must
 * not keep pointers into the view or the command after it returns; it must not read clocks or
 * random sources other than what the command carries (cmd->now_us, cmd->command_id).
 *
 * Stream ids are "<kind prefix><key>", e.g. "organization-0190c1e2-...". A decision may touch
 * several streams; uniqueness across the platform (a slug, an email) is a stream of its own
 * ("orgslug-acme") whose expected version makes a concurrent second claim fail.
 */
#ifndef TIX_AGGREGATE_H
#define TIX_AGGREGATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "tix/rc.h"

#define TIX_STREAM_ID_MAX        160
#define TIX_DECISION_MAX_STREAMS 4
#define TIX_DECISION_MAX_EVENTS  16

/* A command as decide sees it. All borrowed, valid during the call. */
struct tix_command {
    const char *command_id;
    const char *type;      /* "organization.create" */
    const char *key;       /* the partition key, e.g. the organization id */
    const json_t *payload; /* the command's fields (a JSON object) */
    const char *actor;     /* "user:<uuid>" or "system:<name>" */
    int64_t now_us;        /* the processor's clock at decision time */
};

/* The states decide may read: state[i] belongs to stream id[i] at version[i] (0 = no events). */
struct tix_view {
    int n;
    const char *id[TIX_DECISION_MAX_STREAMS];
    const void *state[TIX_DECISION_MAX_STREAMS];
    int64_t version[TIX_DECISION_MAX_STREAMS];
};

struct tix_new_event {
    char stream_id[TIX_STREAM_ID_MAX];
    const char *type; /* static string */
    int schema_version;
    json_t *data; /* owned by the decision */
};

/* What decide produced. Initialize with tix_decision_init, free with tix_decision_deinit. */
struct tix_decision {
    int n_events;
    struct tix_new_event events[TIX_DECISION_MAX_EVENTS];
    bool is_rejected;
    char code[64];    /* machine-readable reason, e.g. "slug_taken" */
    char field[64];   /* offending payload field or "" */
    char reason[256]; /* human-readable reason */
    json_t *result;   /* optional, owned: returned to the caller, e.g. {"organization_id": ...} */
};

void tix_decision_init(struct tix_decision *d);
void tix_decision_deinit(struct tix_decision *d);
/* Appends an event to stream_id. Steals data. type must be a static string. Aborts when more
 * than TIX_DECISION_MAX_EVENTS are emitted (a programming error). */
void tix_decision_emit(struct tix_decision *d, const char *stream_id, const char *type,
                       json_t *data);
/* Rejects the command: drops any emitted events; code is machine-readable, field may be NULL. */
void tix_decision_reject(struct tix_decision *d, const char *code, const char *field,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Sets the caller-visible result. Steals result. */
void tix_decision_set_result(struct tix_decision *d, json_t *result);

/* Finds the state of stream id in view; NULL when decide did not ask for it. */
const void *tix_view_state(const struct tix_view *view, const char *id, int64_t *version);

struct tix_stream_kind {
    const char *prefix; /* "organization-" */
    /* A new empty state (version 0). Never NULL. */
    void *(*create)(void);
    void (*destroy)(void *state);
    /* Applies one recorded event. Events of unknown type are ignored (forward compatible);
     * older schema versions are upcast here. Returns TIX_EINVAL for a malformed event. */
    enum tix_rc (*evolve)(void *state, const char *type, int schema_version, const json_t *data);
    /* True for streams written from several partitions (uniqueness claims such as a slug or an
     * email address, released in one partition and claimed again in another): the processor
     * catches such a stream up from the log before every decision instead of trusting its
     * cache, since another processor may have appended to it. */
    bool is_shared;
};

struct tix_command_handler {
    const char *type; /* command type, e.g. "organization.create" */
    /* Validates the payload's shape and writes the stream ids decide needs (at most
     * TIX_DECISION_MAX_STREAMS) into ids; returns their count, or -1 with err (TIX_EINVAL and the
     * offending field) when the payload is malformed. */
    int (*streams)(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],
                   struct tix_err *err);
    /* Pure: decide from the view. Either emits events or rejects. */
    void (*decide)(const struct tix_command *cmd, const struct tix_view *view,
                   struct tix_decision *out);
};

/* The registry of everything the processor hosts (commands/registry.c). */
const struct tix_stream_kind *tix_registry_stream_kind(const char *stream_id);
const struct tix_command_handler *tix_registry_handler(const char *command_type);

#endif
