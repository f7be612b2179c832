/* yaml.h - load a YAML document as JSON (for docs/openapi.yaml)
 *
 * Supports the YAML an OpenAPI document uses: mappings, sequences, scalars. Plain scalars
 * become null, booleans, integers or reals when they read as such (YAML 1.2 core schema);
 * quoted and block scalars stay strings. Anchors, aliases and tags are refused.
 */
#ifndef TIX_YAML_H
#define TIX_YAML_H

#include <jansson.h>

#include "tix/rc.h"

/* Reads path; returns a new reference or NULL with err (file, line and column named). */
json_t *tix_yaml_load_file(const char *path, struct tix_err *err);

#endif
