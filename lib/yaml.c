/* yaml.c - YAML to jansson through libyaml's event parser
 *
 * A recursive descent over parser events: a mapping start reads key/value pairs until its end,
 * a sequence start reads values until its end. Nesting is capped at 64 levels.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "tix/yaml.h"

#define MAX_DEPTH 64

static json_t *plain_scalar(const char *s, size_t len)
{
    if (len == 0 || strcmp(s, "null") == 0 || strcmp(s, "~") == 0)
        return json_null();
    if (strcmp(s, "true") == 0)
        return json_true();
    if (strcmp(s, "false") == 0)
        return json_false();
    char *end = NULL;
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (errno == 0 && end == s + len && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
        return json_integer(i);
    double d = strtod(s, &end);
    if (end == s + len && (s[0] == '-' || s[0] == '.' || (s[0] >= '0' && s[0] <= '9')))
        return json_real(d);
    return json_stringn(s, len);
}

static json_t *node(yaml_parser_t *p, yaml_event_t *ev, int depth, struct tix_err *err);

static bool next(yaml_parser_t *p, yaml_event_t *ev, struct tix_err *err)
{
    if (yaml_parser_parse(p, ev))
        return true;
    tix_err_set(err, TIX_EINVAL, "", "YAML error at line %zu column %zu: %s",
                p->problem_mark.line + 1, p->problem_mark.column + 1,
                p->problem ? p->problem : "unknown");
    return false;
}

static json_t *collection(yaml_parser_t *p, bool is_map, int depth, struct tix_err *err)
{
    json_t *out = is_map ? json_object() : json_array();
    yaml_event_type_t end = is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
    for (;;) {
        yaml_event_t ev;
        if (!next(p, &ev, err))
            break;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return out;
        }
        json_t *first = node(p, &ev, depth + 1, err);
        yaml_event_delete(&ev);
        if (first == NULL)
            break;
        if (!is_map) {
            json_array_append_new(out, first);
            continue;
        }
        yaml_event_t vev;
        json_t *value = NULL;
        if (json_is_string(first) && next(p, &vev, err)) {
            value = node(p, &vev, depth + 1, err);
            yaml_event_delete(&vev);
        } else if (!json_is_string(first)) {
            tix_err_set(err, TIX_EINVAL, "", "YAML mapping keys must be strings");
        }
        if (value != NULL)
            json_object_set_new(out, json_string_value(first), value);
        json_decref(first);
        if (value == NULL)
            break;
    }
    json_decref(out);
    return NULL;
}

static json_t *node(yaml_parser_t *p, yaml_event_t *ev, int depth, struct tix_err *err)
{
    if (depth > MAX_DEPTH) {
        tix_err_set(err, TIX_EINVAL, "", "YAML nested too deeply");
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        const char *s = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(s, len)
                                                                : json_stringn(s, len);
    }
    case YAML_MAPPING_START_EVENT:
        return collection(p, true, depth, err);
    case YAML_SEQUENCE_START_EVENT:
        return collection(p, false, depth, err);
    default:
        tix_err_set(err, TIX_EINVAL, "", "unsupported YAML construct (anchor, alias or tag?)");
        return NULL;
    }
}

json_t *tix_yaml_load_file(const char *path, struct tix_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        tix_err_set(err, TIX_ENOTFOUND, "", "cannot open %s", path);
        return NULL;
    }
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    json_t *doc = NULL;
    yaml_event_t ev;
    while (doc == NULL && next(&p, &ev, err)) {
        yaml_event_type_t t = ev.type;
        if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT ||
            t == YAML_SCALAR_EVENT)
            doc = node(&p, &ev, 0, err);
        yaml_event_delete(&ev);
        if (doc == NULL && (t == YAML_STREAM_END_EVENT || t == YAML_MAPPING_START_EVENT ||
                            t == YAML_SEQUENCE_START_EVENT || t == YAML_SCALAR_EVENT))
            break;
    }
    yaml_parser_delete(&p);
    fclose(f);
    return doc;
}
