/* validate.c - request bodies and query strings, checked against field specs
 *
 * Every problem of a body is reported in one answer (the client fixes everything at once):
 * unknown fields, missing required fields, wrong JSON types, lengths and ranges. Lengths count
 * Unicode characters, not bytes. Strings holding NUL are refused by the parser.
 */
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tix/ids.h"

#include "gateway.h"

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void add_error(json_t *errors, const char *field, const char *message)
{
    json_array_append_new(errors, json_pack("{ss ss}", "field", field, "message", message));
}

static const struct tix_field *spec_of(const struct tix_field *fields, const char *name)
{
    for (; fields->name != NULL; fields++)
        if (strcmp(fields->name, name) == 0)
            return fields;
    return NULL;
}

static void check_string(const struct tix_field *f, const json_t *v, json_t *errors)
{
    const char *s = json_string_value(v);
    char msg[96];
    size_t n = utf8_chars(s);
    if (f->type == TIX_F_UUID && !tix_uuid_is_valid(s)) {
        add_error(errors, f->name, "must be a lowercase UUID");
    } else if ((long)n < f->min) {
        snprintf(msg, sizeof(msg), "must be at least %ld characters", f->min);
        add_error(errors, f->name, msg);
    } else if (f->max > 0 && (long)n > f->max) {
        snprintf(msg, sizeof(msg), "must be at most %ld characters", f->max);
        add_error(errors, f->name, msg);
    }
}

static void check_field(const struct tix_field *f, const json_t *v, json_t *errors)
{
    static const char *const type_msgs[] = {"must be a string",  "must be an integer",
                                            "must be a boolean", "must be an object",
                                            "must be an array",  "must be a string (a UUID)"};
    bool ok = (f->type == TIX_F_STRING && json_is_string(v)) ||
              (f->type == TIX_F_UUID && json_is_string(v)) ||
              (f->type == TIX_F_INT && json_is_integer(v)) ||
              (f->type == TIX_F_BOOL && json_is_boolean(v)) ||
              (f->type == TIX_F_OBJECT && json_is_object(v)) ||
              (f->type == TIX_F_ARRAY && json_is_array(v));
    if (!ok) {
        add_error(errors, f->name, type_msgs[f->type]);
        return;
    }
    if (f->type == TIX_F_STRING || f->type == TIX_F_UUID) {
        check_string(f, v, errors);
    } else if (f->type == TIX_F_INT) {
        json_int_t i = json_integer_value(v);
        char msg[96];
        if (i < f->min || (f->max != 0 && i > f->max)) {
            snprintf(msg, sizeof(msg), "must be from %ld to %ld", f->min, f->max);
            add_error(errors, f->name, msg);
        }
    }
}

static bool is_json_content(struct tix_req *req)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req->ev), "Content-Type");
    return ct != NULL && strncasecmp(ct, "application/json", 16) == 0 &&
           (ct[16] == '\0' || ct[16] == ';');
}

json_t *tix_gw_body(struct tix_req *req, const struct tix_field *fields)
{
    if (req->body.len == 0) {
        tix_gw_problem(req, 400, "body-required", "a JSON object body is required");
        return NULL;
    }
    if (!is_json_content(req)) {
        tix_gw_problem(req, 415, "unsupported-media-type",
                       "send the body as Content-Type: application/json");
        return NULL;
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->body.ptr, req->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL || !json_is_object(body)) {
        char detail[256];
        snprintf(detail, sizeof(detail), "%s%s", body == NULL ? "malformed JSON: " : "",
                 body == NULL ? jerr.text : "the body must be a JSON object");
        json_decref(body);
        tix_gw_problem(req, 400, "malformed-body", detail);
        return NULL;
    }
    json_t *errors = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (spec_of(fields, key) == NULL)
            add_error(errors, key, "unknown field");
    }
    for (const struct tix_field *f = fields; f->name != NULL; f++) {
        v = json_object_get(body, f->name);
        if (v == NULL) {
            if (f->is_required)
                add_error(errors, f->name, "is required");
        } else {
            check_field(f, v, errors);
        }
    }
    if (json_array_size(errors) == 0) {
        json_decref(errors);
        return body;
    }
    json_decref(body);
    tix_gw_problem_fields(req, 422, "the request body has invalid fields", errors);
    return NULL;
}

char *tix_gw_query(const struct tix_req *req, const char *name)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req->ev);
    const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    if (q == NULL)
        return NULL;
    struct evkeyvalq params;
    if (evhttp_parse_query_str(q, &params) != 0)
        return NULL;
    const char *v = evhttp_find_header(&params, name);
    char *out = v != NULL ? strdup(v) : NULL;
    evhttp_clear_headers(&params);
    return out;
}
