/* organization.h - the organization aggregate (promoters, venues, resellers and their members)
 *
 * Streams: "organization-<uuid>" (the organization) and "orgslug-<slug>" (the claim on a slug,
 * which makes slugs unique platform-wide through the expected version of that stream).
 * Commands: organization.create, .rename, .change_settings, .add_member, .change_member_role,
 * .remove_member, .suspend, .reinstate. Everything here is pure: no I/O, no clocks.
 *
 * Every command's key is the organization id and its payload carries the same id as
 * "organization_id". Payload shapes are checked by the handlers' streams(): a JSON object, the
 * required fields with the right types, no unknown fields. Names are trimmed of ASCII white space
 * and hold 1..200 characters (code points) without control characters; reasons 1..500 characters
 * (tab and line breaks allowed); slugs 3..63 of [a-z0-9-] with no leading, trailing or double
 * hyphen; roles owner | admin | promoter | scanner; settings an object of at most
 * TIX_ORG_SETTINGS_MAX_BYTES canonical bytes.
 *
 * organization.close {organization_id} (owners and system actors) -> organization.closed
 *   {organization_id, closed_by}; final: every later command is rejected "closed".
 * Rejection codes: not_found, closed, suspended, forbidden, already_exists, slug_taken,
 * already_member, not_member, last_owner, not_suspended, settings_too_large. A command that would
 * change nothing (rename to the same name, settings patch with no effect, role change to the same
 * role) succeeds with no events.
 *
 * Events (schema_version 1; every payload carries organization_id):
 *   organization.created          {organization_id, name, slug, type, settings, created_by}
 *   organization.renamed          {organization_id, name, previous_name}
 *   organization.settings_changed {organization_id, settings}   (the full new settings)
 *   organization.member_added     {organization_id, user_id, role}
 *   organization.member_role_changed {organization_id, user_id, role, previous_role}
 *   organization.member_removed   {organization_id, user_id, role} (the role the member had)
 *   organization.suspended        {organization_id, reason}
 *   organization.reinstated       {organization_id}
 *   organization.slug_claimed     {slug, organization_id}       (on the orgslug- stream)
 */
#ifndef TIX_COMMANDS_ORGANIZATION_H
#define TIX_COMMANDS_ORGANIZATION_H

#include <stdbool.h>

#include "tix/aggregate.h"

#define TIX_ORG_STREAM_PREFIX      "organization-"
#define TIX_SLUG_STREAM_PREFIX     "orgslug-"
#define TIX_ORG_NAME_MAX_CHARS     200
#define TIX_ORG_REASON_MAX_CHARS   500
#define TIX_ORG_SLUG_MIN_LEN       3
#define TIX_ORG_SLUG_MAX_LEN       63
#define TIX_ORG_SETTINGS_MAX_BYTES 16384

enum tix_org_role {
    TIX_ORG_ROLE_OWNER,
    TIX_ORG_ROLE_ADMIN,
    TIX_ORG_ROLE_PROMOTER,
    TIX_ORG_ROLE_SCANNER,
};

struct tix_org_member {
    char user_id[40];
    enum tix_org_role role;
};

/* The state of one organization stream (read-only for callers outside this module).
 * Invariants: settings is always an object (also before creation); members holds each user at
 * most once, in the order they were added. */
struct tix_org_state {
    bool exists;
    bool is_suspended;
    bool is_closed; /* final: every later command is rejected "closed" */
    char id[40];
    char name[TIX_ORG_NAME_MAX_CHARS * 4 + 1]; /* UTF-8: up to 4 bytes per character */
    char slug[64];
    char type[16];    /* promoter | venue | reseller */
    json_t *settings; /* owned; an object */
    int n_members;
    int cap_members;
    struct tix_org_member *members;
};

/* The state of one slug claim stream. */
struct tix_orgslug_state {
    bool is_claimed;
    char organization_id[40];
};

extern const struct tix_stream_kind tix_organization_stream_kind;
extern const struct tix_stream_kind tix_orgslug_stream_kind;
/* Terminated by a row whose type is NULL. */
extern const struct tix_command_handler tix_organization_handlers[];

/* "owner" -> TIX_ORG_ROLE_OWNER...; -1 when unknown (or NULL). Thread-safe. */
int tix_org_role_parse(const char *s);
/* The static name of role ("owner", ...); "unknown" for a value outside the enum. */
const char *tix_org_role_name(enum tix_org_role role);

#endif
