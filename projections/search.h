/* search.h - what the search projection (projections/search.c) shares with others */
#ifndef TIX_PROJECTIONS_SEARCH_H
#define TIX_PROJECTIONS_SEARCH_H

#include "projection.h"

extern const struct tix_projection tix_projection_search;

/* Fills search_hits (empty) from the other tables: one row per live public event, with its
 * current prices at instant $1 (timestamptz text). What the projection keeps per event, for a
 * bulk load (bench/search.c) to do at once. */
extern const char tix_search_hits_sql[];

/* Fills search_words (empty) and every live public event's words from search_events (words
 * empty): what the projection keeps per event, at once. Two statements, no parameters (for
 * tix_db_script). */
extern const char tix_search_words_sql[];

#endif
