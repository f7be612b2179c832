/* pipeline.h - what happens to every request before its handler (gateway/pipeline.c) */
#ifndef TIX_GATEWAY_PIPELINE_H
#define TIX_GATEWAY_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "gateway.h"

/* Runs the request through routing, limits, authentication, authorization and idempotency,
 * then its handler. Always ends with the request answered or handed to the handler. */
void tix_gw_dispatch(struct tix_req *req);

/* Finds the route for method and path, filling req's path parameters. When none matches,
 * *is_path_known tells whether another method would have matched, and allow lists those
 * methods ("GET, POST"). */
const struct tix_route *tix_gw_route_match(const char *method, const char *path,
                                           struct tix_req *req, bool *is_path_known, char *allow,
                                           size_t allow_size);

/* Stores or abandons the request's idempotent response (called by tix_gw_reply). */
void tix_gw_idem_finish(struct tix_req *req, int status, const char *content_type,
                        const char *location, const char *body, size_t len);

#endif
