/* venue.h - the venue aggregate: a place, its seating charts and the events bound to it
 *
 * Stream: "venue-<uuid>", keyed by the venue id. Commands: venue.create, .update, .delete,
 * .bind_event, .unbind_event, .publish_chart. Everything here is pure: no I/O, no clocks.
 *
 * Every command's key is the venue id and its payload carries the same id as "venue_id".
 * Payload shapes are checked by the handlers' streams(): a JSON object, required fields present
 * with the right types and ranges, no unknown fields at any depth; the first problem is reported
 * as TIX_EINVAL with the field's path in err->field ("address.country",
 * "chart.sections[2].rows[0].seats[5].id").
 *
 * Text rules: names 1..200 code points (areas 1..100, labels 1..32), no control characters and
 * not only white space, stored as given; ids 1..64 of [A-Za-z0-9_.-]; country two uppercase
 * letters; timezone 1..64 of [A-Za-z0-9/_+-] containing '/' unless "UTC". Charts: section ids
 * and GA area ids share one namespace and are unique in the chart, row ids are unique in their
 * section, seat ids unique in the whole chart; at most TIX_VENUE_CHART_MAX_SEATS seats and
 * TIX_VENUE_CHART_MAX_AREAS sections (and as many GA areas); at least one seat or GA area.
 *
 * Rejection codes: forbidden (actor neither "user:<uuid>" nor "system:*"), not_found, deleted
 * (every command once deleted), already_exists, in_use, chart_not_found, already_bound,
 * capacity_mismatch, over_capacity (a chart larger than the venue, or a capacity update below a
 * chart bound to an event). A command that changes nothing (update to the same values, binding
 * an event again with the same version, unbinding an unknown event) succeeds with no events.
 *
 * Events (schema_version 1; every payload carries venue_id):
 *   venue.created         {venue_id, organization_id, name, address, timezone, capacity,
 *                          location?, accessibility?}      (the create payload itself)
 *   venue.updated         {venue_id, <changed fields>}    (location/accessibility null: cleared)
 *   venue.deleted         {venue_id}
 *   venue.event_bound     {venue_id, event_id, chart_version}
 *   venue.event_unbound   {venue_id, event_id, chart_version} (the version it was bound to)
 *   venue.chart_published {venue_id, version, chart, capacity, seats, ga_capacity, sections,
 *                          checksum}  (checksum: hex BLAKE2b-256 of the canonical chart bytes)
 */
#ifndef TIX_COMMANDS_VENUE_H
#define TIX_COMMANDS_VENUE_H

#include <stdbool.h>
#include <stdint.h>

#include "tix/aggregate.h"

#define TIX_VENUE_STREAM_PREFIX   "venue-"
#define TIX_VENUE_NAME_MAX_CHARS  200
#define TIX_VENUE_TZ_MAX          64
#define TIX_VENUE_CAPACITY_MAX    1000000
#define TIX_VENUE_CHART_MAX_SEATS 200000
#define TIX_VENUE_CHART_MAX_AREAS 1000

/* What the state keeps of a published chart (the document itself lives only in its event). */
struct tix_venue_chart {
    int64_t version;
    int64_t capacity;
    int64_t seats;
    int64_t ga_capacity;
    char checksum[65];
};

struct tix_venue_binding {
    char event_id[40];
    int64_t chart_version; /* 0: general admission by capacity only */
};

/* The state of one venue stream (read-only for callers outside this module).
 * Invariants: address is an object once the venue exists (NULL before); location and
 * accessibility are objects or NULL; charts[i].version == i + 1; bindings hold each event at
 * most once, each with version 0 or an existing chart version. */
struct tix_venue_state {
    bool exists;
    bool is_deleted;
    char id[40];
    char organization_id[40];
    char name[TIX_VENUE_NAME_MAX_CHARS * 4 + 1]; /* UTF-8: up to 4 bytes per character */
    char timezone[TIX_VENUE_TZ_MAX + 1];
    int64_t capacity;
    json_t *address;       /* owned */
    json_t *location;      /* owned or NULL */
    json_t *accessibility; /* owned or NULL */
    int n_bindings;
    int cap_bindings;
    struct tix_venue_binding *bindings;
    int n_charts;
    int cap_charts;
    struct tix_venue_chart *charts;
};

extern const struct tix_stream_kind tix_venue_stream_kind;
/* Terminated by a row whose type is NULL. */
extern const struct tix_command_handler tix_venue_handlers[];

#endif
