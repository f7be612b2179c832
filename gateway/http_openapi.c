/* http_openapi.c - GET /api/v1/openapi.json: docs/openapi.yaml, served as JSON
 *
 * The document is read and converted once per process (the first request), then served from
 * memory. TIXMO_OPENAPI overrides its path (default: docs/openapi.yaml of the source tree).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tix/log.h"
#include "tix/yaml.h"

#include "gateway.h"
#include "routes.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *document;

static void load(void)
{
    const char *path = getenv("TIXMO_OPENAPI");
    struct tix_err err;
    json_t *doc = tix_yaml_load_file(path != NULL ? path : TIX_OPENAPI_PATH, &err);
    if (doc == NULL) {
        tix_log_error("cannot load the OpenAPI document", "detail=\"%s\"", err.msg);
        return;
    }
    document = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
}

void tix_http_openapi(struct tix_req *req)
{
    pthread_once(&once, load);
    if (document == NULL)
        tix_gw_problem(req, 503, "unavailable", "the API description could not be loaded");
    else
        tix_gw_reply(req, 200, "application/json", document, strlen(document));
}
