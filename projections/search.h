/* search.h - what the search projection (projections/search.c) shares with others */
#ifndef TIX_PROJECTIONS_SEARCH_H
#define TIX_PROJECTIONS_SEARCH_H

#include "projection.h"

extern const struct tix_projection tix_projection_search;

/* The SQL expression of an event's weighted document over the unqualified columns of
 * search_events (name A, tags and category B, description D): what the projection stores and
 * what a bulk load (bench/search.c) must store too. */
extern const char tix_search_document_sql[];

#endif
