/* json.h - jansson conventions in one place
 *
 * Parsing always rejects duplicate keys; dumping for storage or hashing always sorts keys and is
 * compact, so the same value always gives the same bytes.
 */
#ifndef TIX_JSON_H
#define TIX_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "tix/rc.h"

/* Parses len bytes. Returns a new reference, or NULL with TIX_EINVAL and the position in err. */
json_t *tix_json_parse(const char *text, size_t len, struct tix_err *err);
/* Canonical bytes: sorted keys, compact. Returns a new string (free with free()). */
char *tix_json_dump(const json_t *value);
/* Borrowed string member, or NULL when missing or not a string. */
const char *tix_json_str(const json_t *obj, const char *key);
/* Integer member or def when missing or not an integer. */
int64_t tix_json_int(const json_t *obj, const char *key, int64_t def);

#endif
