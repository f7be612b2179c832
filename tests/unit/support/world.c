/* world.c - the unit tests' in-memory processor: streams, states, versions and an event log
 *
 * Guarantees: a state is only ever changed by evolving an event of an accepted decision, each
 * such event bumps its stream's version by one and lands in the log in order, an event on a
 * stream streams() did not ask for fails the test, and a rejected or invalid command leaves the
 * world as it was. Payloads handed to run and its wrappers are always released, and teardown
 * frees every state and logged event, so the suites stay clean under LeakSanitizer.
 */
#include "world.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/json.h"

#define MAX_STREAMS 16
#define MAX_LOG     5000

static struct {
    int n_streams;
    struct tix_world_stream streams[MAX_STREAMS];
    int n_log;
    struct tix_world_event log[MAX_LOG];
    int64_t now_us;
    int required_streams;
    char last_reason[256];
} w;

void tix_world_reset(int64_t now_us)
{
    memset(&w, 0, sizeof(w));
    w.now_us = now_us;
}

void tix_world_teardown(void)
{
    for (int i = 0; i < w.n_streams; i++)
        w.streams[i].kind->destroy(w.streams[i].state);
    for (int i = 0; i < w.n_log; i++)
        json_decref(w.log[i].data);
    memset(&w, 0, sizeof(w));
}

void tix_world_set_now(int64_t now_us)
{
    w.now_us = now_us;
}

int64_t tix_world_now(void)
{
    return w.now_us;
}

void tix_world_require_streams(int n)
{
    w.required_streams = n;
}

struct tix_world_stream *tix_world_stream(const char *id)
{
    for (int i = 0; i < w.n_streams; i++)
        if (strcmp(w.streams[i].id, id) == 0)
            return &w.streams[i];
    cr_assert_lt(w.n_streams, MAX_STREAMS);
    struct tix_world_stream *s = &w.streams[w.n_streams++];
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->kind = tix_registry_stream_kind(id);
    cr_assert_not_null(s->kind, "no stream kind for %s", id);
    s->state = s->kind->create();
    cr_assert_not_null(s->state);
    return s;
}

int tix_world_n_log(void)
{
    return w.n_log;
}

const struct tix_world_event *tix_world_log(int i)
{
    cr_assert(i >= 0 && i < w.n_log, "log entry %d of %d", i, w.n_log);
    return &w.log[i];
}

/* Evolves the world with an accepted decision, as the processor does after appending. */
static void apply(const struct tix_decision *d, char ids[][TIX_STREAM_ID_MAX], int n)
{
    for (int i = 0; i < d->n_events; i++) {
        const struct tix_new_event *e = &d->events[i];
        bool is_requested = false;
        for (int k = 0; k < n; k++)
            is_requested = is_requested || strcmp(ids[k], e->stream_id) == 0;
        cr_assert(is_requested, "%s emitted on unrequested stream %s", e->type, e->stream_id);
        struct tix_world_stream *s = tix_world_stream(e->stream_id);
        cr_assert_eq(s->kind->evolve(s->state, e->type, e->schema_version, e->data), TIX_OK,
                     "evolve refused %s", e->type);
        s->version++;
        cr_assert_lt(w.n_log, MAX_LOG);
        struct tix_world_event *l = &w.log[w.n_log++];
        snprintf(l->stream_id, sizeof(l->stream_id), "%s", e->stream_id);
        l->type = e->type;
        l->schema_version = e->schema_version;
        l->data = json_incref(e->data);
    }
}

int tix_world_run(const char *type, const char *key, const char *actor, json_t *payload,
                  struct tix_decision *d, struct tix_err *err)
{
    const struct tix_command_handler *h = tix_registry_handler(type);
    cr_assert_not_null(h, "no handler for %s", type);
    struct tix_command cmd = {.command_id = "cmd-1",
                              .type = type,
                              .key = key,
                              .payload = payload,
                              .actor = actor,
                              .now_us = w.now_us};
    char ids[TIX_DECISION_MAX_STREAMS][TIX_STREAM_ID_MAX];
    tix_err_clear(err);
    tix_decision_init(d);
    int n = h->streams(&cmd, ids, err);
    if (n >= 0) {
        if (w.required_streams > 0)
            cr_assert_eq(n, w.required_streams);
        cr_assert_leq(n, TIX_DECISION_MAX_STREAMS);
        struct tix_view view = {.n = n};
        for (int i = 0; i < n; i++) {
            struct tix_world_stream *s = tix_world_stream(ids[i]);
            view.id[i] = s->id;
            view.state[i] = s->state;
            view.version[i] = s->version;
        }
        h->decide(&cmd, &view, d);
        if (!d->is_rejected)
            apply(d, ids, n);
    }
    json_decref(payload);
    return n;
}

int tix_world_accept(const char *key, const char *type, const char *actor, json_t *payload,
                     struct tix_decision *d)
{
    struct tix_err err;
    int n = tix_world_run(type, key, actor, payload, d, &err);
    cr_assert_geq(n, 0, "%s invalid: field '%s': %s", type, err.field, err.msg);
    cr_assert_not(d->is_rejected, "%s rejected: %s (%s)", type, d->code, d->reason);
    return n;
}

int tix_world_accept_quietly(const char *key, const char *type, const char *actor, json_t *payload)
{
    struct tix_decision d;
    tix_world_accept(key, type, actor, payload, &d);
    int n = d.n_events;
    tix_decision_deinit(&d);
    return n;
}

void tix_world_accept_no_events(const char *key, const char *type, const char *actor,
                                json_t *payload)
{
    int before = w.n_log;
    int n = tix_world_accept_quietly(key, type, actor, payload);
    cr_assert_eq(n, 0, "%s emitted %d events", type, n);
    cr_assert_eq(w.n_log, before);
}

int tix_world_expect_rejected(const char *key, const char *type, const char *actor, json_t *payload,
                              const char *code, const char *field)
{
    struct tix_decision d;
    struct tix_err err;
    int before = w.n_log;
    int n = tix_world_run(type, key, actor, payload, &d, &err);
    cr_assert_geq(n, 0, "%s invalid: field '%s': %s", type, err.field, err.msg);
    cr_assert(d.is_rejected, "%s accepted, expected %s", type, code);
    cr_assert_str_eq(d.code, code, "%s: code %s (%s), expected %s", type, d.code, d.reason, code);
    cr_assert_str_eq(d.field, field != NULL ? field : "", "%s: field '%s'", type, d.field);
    cr_assert_eq(d.n_events, 0);
    cr_assert_null(d.result);
    cr_assert_eq(w.n_log, before);
    cr_assert_neq(d.reason[0], '\0', "a rejection explains itself");
    snprintf(w.last_reason, sizeof(w.last_reason), "%s", d.reason);
    tix_decision_deinit(&d);
    return n;
}

const char *tix_world_last_reason(void)
{
    return w.last_reason;
}

void tix_world_expect_invalid(const char *key, const char *type, const char *actor, json_t *payload,
                              const char *field)
{
    struct tix_decision d;
    struct tix_err err;
    char shown[256] = "";
    char *dump = payload != NULL ? tix_json_dump(payload) : NULL;
    snprintf(shown, sizeof(shown), "%.200s", dump != NULL ? dump : "NULL");
    free(dump);
    int n = tix_world_run(type, key, actor, payload, &d, &err);
    tix_decision_deinit(&d);
    cr_assert_eq(n, -1, "%s accepted payload %s", type, shown);
    cr_assert_eq(err.rc, TIX_EINVAL, "%s %s", type, shown);
    cr_assert_str_eq(err.field, field, "%s %s: field '%s', expected '%s' (%s)", type, shown,
                     err.field, field, err.msg);
    cr_assert_neq(err.msg[0], '\0');
}

void tix_world_expect_json(const json_t *got, json_t *want)
{
    cr_assert_not_null(want, "bad expectation");
    bool is_equal = json_equal(got, want);
    char *g = got != NULL ? tix_json_dump(got) : NULL;
    char *x = tix_json_dump(want);
    char msg[2048];
    snprintf(msg, sizeof(msg), "got %.1000s, want %.1000s", g != NULL ? g : "NULL", x);
    free(g);
    free(x);
    json_decref(want);
    cr_assert(is_equal, "%s", msg);
}

void tix_world_expect_event(const struct tix_decision *d, int i, const char *stream_id,
                            const char *type, json_t *want)
{
    cr_assert_lt(i, d->n_events, "event %d missing", i);
    cr_assert_str_eq(d->events[i].stream_id, stream_id);
    cr_assert_str_eq(d->events[i].type, type);
    cr_assert_eq(d->events[i].schema_version, 1);
    tix_world_expect_json(d->events[i].data, want);
}

void *tix_world_replay(const char *id)
{
    const struct tix_stream_kind *kind = tix_registry_stream_kind(id);
    cr_assert_not_null(kind, "no stream kind for %s", id);
    void *state = kind->create();
    for (int i = 0; i < w.n_log; i++) {
        if (strcmp(w.log[i].stream_id, id) != 0)
            continue;
        char *bytes = tix_json_dump(w.log[i].data);
        json_t *data = tix_json_parse(bytes, strlen(bytes), NULL);
        free(bytes);
        cr_assert_eq(kind->evolve(state, w.log[i].type, w.log[i].schema_version, data), TIX_OK);
        json_decref(data);
    }
    return state;
}

json_t *tix_json_of(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    cr_assert_not_null(v, "bad test JSON %s: %s", text, e.text);
    return v;
}

json_t *tix_json_with(json_t *p, const char *key, json_t *value)
{
    if (value == NULL)
        json_object_del(p, key);
    else
        json_object_set_new(p, key, value);
    return p;
}

char *tix_world_repeat(const char *unit, int times)
{
    size_t len = strlen(unit);
    char *s = malloc(len * (size_t)times + 1);
    cr_assert_not_null(s);
    for (int i = 0; i < times; i++)
        memcpy(s + len * (size_t)i, unit, len);
    s[len * (size_t)times] = '\0';
    return s;
}

const char *tix_world_hx(unsigned n)
{
    static char ring[16][65];
    static int next;
    char *out = ring[next++ % 16];
    snprintf(out, 65, "%064x", n);
    return out;
}
