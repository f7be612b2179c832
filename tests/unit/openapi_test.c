/* openapi_test.c - docs/openapi.yaml describes exactly the gateway's route table */
#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>

#include "gateway.h"
#include "tix/yaml.h"

static json_t *load(void)
{
    struct tix_err err;
    json_t *doc = tix_yaml_load_file(TIX_OPENAPI_PATH, &err);
    cr_assert_not_null(doc, "docs/openapi.yaml: %s", err.msg);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    return doc;
}

static void lower(const char *in, char *out, size_t size)
{
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < size; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

Test(openapi, every_route_is_documented)
{
    json_t *doc = load();
    json_t *paths = json_object_get(doc, "paths");
    for (const struct tix_route *r = tix_routes; r->method != NULL; r++) {
        char method[16];
        lower(r->method, method, sizeof(method));
        json_t *item = json_object_get(paths, r->pattern);
        cr_assert_not_null(item, "%s is not in docs/openapi.yaml", r->pattern);
        cr_assert_not_null(json_object_get(item, method), "%s %s is not documented", r->method,
                           r->pattern);
    }
    json_decref(doc);
}

Test(openapi, every_documented_operation_is_a_route)
{
    static const char *const verbs[] = {"get", "post", "put", "patch", "delete"};
    json_t *doc = load();
    json_t *paths = json_object_get(doc, "paths");
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item)
    {
        for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
            if (json_object_get(item, verbs[v]) == NULL)
                continue;
            bool found = false;
            for (const struct tix_route *r = tix_routes; r->method != NULL && !found; r++) {
                char method[16];
                lower(r->method, method, sizeof(method));
                found = strcmp(method, verbs[v]) == 0 && strcmp(r->pattern, path) == 0;
            }
            cr_assert(found, "%s %s is documented but not routed", verbs[v], path);
        }
    }
    json_decref(doc);
}

Test(openapi, every_operation_documents_its_errors)
{
    json_t *doc = load();
    json_t *paths = json_object_get(doc, "paths");
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item)
    {
        const char *verb;
        json_t *op;
        json_object_foreach(item, verb, op)
        {
            json_t *responses = json_object_get(op, "responses");
            if (responses == NULL)
                continue; /* path-level parameters */
            bool has_error = false;
            const char *code;
            json_t *resp;
            json_object_foreach(responses, code, resp) has_error |=
                code[0] == '4' || code[0] == '5';
            bool is_public = json_is_array(json_object_get(op, "security"));
            cr_assert(has_error || (is_public && strncmp(path, "/api", 4) != 0),
                      "%s %s documents no error response", verb, path);
        }
    }
    json_decref(doc);
}
