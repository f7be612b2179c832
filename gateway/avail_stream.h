/* avail_stream.h - each gateway thread's hub of live availability streams (avail_stream.c) */
#ifndef TIX_GATEWAY_AVAIL_STREAM_H
#define TIX_GATEWAY_AVAIL_STREAM_H

#include "gateway.h"

/* A hub on th's event base (Redis connects on the first client). Free with
 * tix_avail_hub_destroy after evhttp_free (which closes the clients) and before the base. */
struct tix_avail_hub *tix_avail_hub_create(struct tix_gw_thread *th);
void tix_avail_hub_destroy(struct tix_avail_hub *hub);

#endif
