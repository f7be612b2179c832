/* decision.c - building a decision inside a pure decide function
 *
 * A decision owns its events' data and its result. Rejecting drops whatever was emitted, so a
 * decide function can emit as it validates and still reject late without leaking half a change.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/aggregate.h"
#include "tix/log.h"

void tix_decision_init(struct tix_decision *d)
{
    memset(d, 0, sizeof(*d));
}

static void drop_events(struct tix_decision *d)
{
    for (int i = 0; i < d->n_events; i++)
        json_decref(d->events[i].data);
    d->n_events = 0;
}

void tix_decision_deinit(struct tix_decision *d)
{
    drop_events(d);
    json_decref(d->result);
    d->result = NULL;
}

void tix_decision_emit(struct tix_decision *d, const char *stream_id, const char *type,
                       json_t *data)
{
    if (d->n_events >= TIX_DECISION_MAX_EVENTS || strlen(stream_id) >= TIX_STREAM_ID_MAX) {
        tix_log_error("decision overflow", "type=%s", type);
        abort();
    }
    struct tix_new_event *e = &d->events[d->n_events++];
    snprintf(e->stream_id, sizeof(e->stream_id), "%s", stream_id);
    e->type = type;
    e->schema_version = 1;
    e->data = data;
}

void tix_decision_reject(struct tix_decision *d, const char *code, const char *field,
                         const char *fmt, ...)
{
    drop_events(d);
    d->is_rejected = true;
    snprintf(d->code, sizeof(d->code), "%s", code);
    snprintf(d->field, sizeof(d->field), "%s", field != NULL ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
    va_end(ap);
}

void tix_decision_set_result(struct tix_decision *d, json_t *result)
{
    json_decref(d->result);
    d->result = result;
}

const void *tix_view_state(const struct tix_view *view, const char *id, int64_t *version)
{
    for (int i = 0; i < view->n; i++) {
        if (strcmp(view->id[i], id) == 0) {
            if (version != NULL)
                *version = view->version[i];
            return view->state[i];
        }
    }
    return NULL;
}
