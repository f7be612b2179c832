/* event.h - the event aggregate: lifecycle, sessions and descriptive metadata
 *
 * Stream: "event-<uuid>"; every command's key is the event id and its payload carries the same id
 * as "event_id" (everything a sale touches will live in this partition). Everything here is pure:
 * no I/O, no clocks but cmd->now_us.
 *
 * Times are UTC instants written as RFC 3339 with a 'Z' and whole seconds
 * ("2026-12-31T19:30:00Z", years 1970..9999, no leap second); the venue's IANA time zone name
 * travels as data. decide only checks order and ranges: local times are the gateway's business.
 *
 * Lifecycle: draft -> published -> on_sale <-> sold_out (by the promoter, or by the stock when the
 * last place goes and comes back); published, on_sale and sold_out may be
 * completed (after the last session ended) or cancelled; published may go back to draft; only a
 * draft may be deleted, after which every command is rejected with "deleted".
 *
 * Commands: event.create, .update, .delete, .add_session, .update_session, .remove_session,
 * .cancel_session {event_id, session_id, reason}, .publish, .unpublish, .open_sales,
 * .mark_sold_out, .reopen_sales, .complete, .cancel, .feature {event_id, rank 1..1000},
 * .unfeature.
 *
 * Sessions: a session of a published, on-sale or sold-out event that has not ended may be called
 * off on its own (event.cancel_session); the other sessions go on. A draft's sessions are removed
 * instead (is_draft), a completed or cancelled event's are not_editable, a session called off
 * already is already_cancelled, one that has ended is session_over, and the last session not
 * called off is refused (last_session: cancel the event instead, so that "cancelled" always
 * means the event's status and every buyer is refunded by one rule). A called-off session stays
 * in the list (marked cancelled), can't be updated (session_cancelled), and no longer counts for
 * completing the event.
 * Payload shapes are checked by the handlers' streams() (TIX_EINVAL naming the field, nested
 * fields as "sessions[2].starts_at" or "images[0].url"); rules that need the state are checked by
 * decide. Rejection codes: forbidden, not_found, deleted, already_exists, illegal_transition,
 * not_editable, locked, not_draft, is_draft, no_future_session, sales_not_started, sales_ended,
 * not_over, session_not_found, session_exists, last_session, too_many_sessions, duplicate_start,
 * capacity_exceeded, sales_window, invalid_span, not_featurable (completed or cancelled),
 * already_cancelled, session_cancelled, session_over. A command
 * that would change nothing succeeds with no events.
 *
 * Events (schema_version 1; every payload carries event_id):
 *   event.created   {event_id, organization_id, venue_id?, chart_version?, name, description?,
 *                    category, tags?, images?, videos?, metadata?, timezone, visibility, capacity,
 *                    sales_start?, sales_end?, sessions (sorted by starts_at), created_by}
 *   event.updated   {event_id, <only the changed fields>}
 *   event.deleted   {event_id, venue_id?} (venue_id: the venue it was bound to; events recorded
 *                    before it was added lack it)
 *   event.session_added / event.session_updated {event_id, session} (the whole new session)
 *   event.session_removed {event_id, session_id}
 *   event.session_cancelled {event_id, session_id, reason} (the stock winds the session's sale
 *                   down: commands/stock_cancel.c, projections/reactor.c)
 *   event.published, .unpublished, .sales_opened, .completed {event_id}
 *   event.sold_out, .sales_reopened {event_id, automatic?}: automatic true when the stock
 *                   decided it (commands/stock_room.c: its last place taken, places back after
 *                   an automatic sold-out); absent or false for the promoter's commands. Only an
 *                   automatic sold-out is reopened automatically; the promoter may reopen either.
 *   event.cancelled {event_id, reason}
 *   event.featured  {event_id, rank}   (lower ranks come first in the featured list)
 *   event.unfeatured {event_id}
 */
#ifndef TIX_COMMANDS_EVENT_H
#define TIX_COMMANDS_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "tix/aggregate.h"

#define TIX_EVENT_STREAM_PREFIX       "event-"
#define TIX_EVENT_NAME_MAX_CHARS      200
#define TIX_EVENT_DESCRIPTION_MAX     20000 /* characters */
#define TIX_EVENT_CATEGORY_MAX        50
#define TIX_EVENT_TAGS_MAX            20
#define TIX_EVENT_TAG_MAX_CHARS       40
#define TIX_EVENT_IMAGES_MAX          20
#define TIX_EVENT_VIDEOS_MAX          10
#define TIX_EVENT_URL_MAX             2000 /* bytes */
#define TIX_EVENT_ALT_MAX_CHARS       200
#define TIX_EVENT_METADATA_MAX_BYTES  16384 /* canonical (sorted, compact) JSON */
#define TIX_EVENT_CAPACITY_MAX        1000000
#define TIX_EVENT_SESSIONS_MAX        500
#define TIX_EVENT_SESSION_MAX_SECONDS (31 * 86400)
#define TIX_EVENT_REASON_MAX_CHARS    500
#define TIX_EVENT_INSTANT_LEN         20 /* "2026-12-31T19:30:00Z" */
#define TIX_EVENT_RANK_MAX            1000

enum tix_event_status {
    TIX_EVENT_DRAFT,
    TIX_EVENT_PUBLISHED,
    TIX_EVENT_ON_SALE,
    TIX_EVENT_SOLD_OUT,
    TIX_EVENT_COMPLETED,
    TIX_EVENT_CANCELLED,
};

struct tix_event_session {
    char id[40];
    char *name;        /* owned; NULL when the session has no name of its own */
    int64_t starts_at; /* Unix seconds */
    int64_t ends_at;   /* Unix seconds, > starts_at */
    int64_t capacity;  /* 0 when the event's capacity applies */
    bool is_cancelled; /* called off on its own (event.session_cancelled) */
};

/* The state of one event stream (read-only for callers outside this module).
 * Invariants: info is always an object (also before creation) holding name, category,
 * visibility, timezone and created_by, plus description, tags, images, videos and metadata when
 * set; sessions are sorted by starts_at, with distinct ids and distinct starts; once created an
 * event has at least one session. */
struct tix_event_state {
    bool exists;
    bool is_deleted;
    enum tix_event_status status;
    char id[40];
    char organization_id[40];
    char venue_id[40];     /* "" for an online event */
    int64_t chart_version; /* -1 without a venue */
    json_t *info;          /* owned */
    int64_t capacity;
    bool has_sales_start;
    bool has_sales_end;
    int64_t sales_start; /* Unix seconds */
    int64_t sales_end;
    int64_t featured_rank;      /* 1..TIX_EVENT_RANK_MAX; 0 when not featured */
    bool is_sold_out_automatic; /* sold out by the stock itself (event.sold_out automatic) */
    int n_sessions;
    int cap_sessions;
    struct tix_event_session *sessions;
};

extern const struct tix_stream_kind tix_event_stream_kind;
/* Terminated by a row whose type is NULL. */
extern const struct tix_command_handler tix_event_handlers[];

/* The static name of status ("draft", "published", "on_sale", "sold_out", "completed",
 * "cancelled"); "unknown" for a value outside the enum. Thread-safe. */
const char *tix_event_status_name(enum tix_event_status status);
/* "draft" -> TIX_EVENT_DRAFT...; -1 when unknown (or NULL). Thread-safe. */
int tix_event_status_parse(const char *s);

/* Parses an RFC 3339 UTC instant "YYYY-MM-DDTHH:MM:SSZ" (exactly that form, zero-padded, years
 * 1970..9999, real calendar days, hours 00..23, seconds 00..59) into Unix seconds. Returns false
 * (leaving *out alone) when s is NULL or malformed. No time zone database is used. Thread-safe. */
bool tix_event_parse_instant(const char *s, int64_t *out);
/* Formats Unix seconds (0..253402300799) as "YYYY-MM-DDTHH:MM:SSZ" into out. Thread-safe. */
void tix_event_format_instant(int64_t s, char out[TIX_EVENT_INSTANT_LEN + 1]);

#endif
