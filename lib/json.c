/* json.c - jansson conventions: strict parsing, canonical dumping */
#include <stdlib.h>

#include "tix/json.h"

json_t *tix_json_parse(const char *text, size_t len, struct tix_err *err)
{
    json_error_t jerr;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (v == NULL)
        tix_err_set(err, TIX_EINVAL, "", "malformed JSON at line %d column %d: %s", jerr.line,
                    jerr.column, jerr.text);
    return v;
}

char *tix_json_dump(const json_t *value)
{
    return json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

const char *tix_json_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

int64_t tix_json_int(const json_t *obj, const char *key, int64_t def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}
