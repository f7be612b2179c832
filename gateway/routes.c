/* routes.c - the route table: method, path, handler, who may call it, rate-limit class
 *
 * This table is the whole access policy of the HTTP API in one place; docs/openapi.yaml must
 * list exactly these routes (tests/unit/openapi_test.c checks both ways).
 */
#include <stddef.h>

#include "routes.h"

#define PUB TIX_AUTH_PUBLIC
#define USR TIX_AUTH_USER
#define ORG TIX_AUTH_ORG
#define OPT TIX_AUTH_OPTIONAL

const struct tix_route tix_routes[] = {
    {"GET", "/healthz", tix_http_healthz, PUB, 0, NULL, TIX_RL_NONE},
    {"GET", "/readyz", tix_http_readyz, PUB, 0, NULL, TIX_RL_NONE},
    {"GET", "/metrics", tix_http_metrics, PUB, 0, NULL, TIX_RL_NONE},
    {"GET", "/api/v1/openapi.json", tix_http_openapi, PUB, 0, NULL, TIX_RL_GENERAL},
    {"GET", "/api/v1/commands/{id}", tix_http_command_get, USR, 0, "commands:read", TIX_RL_GENERAL},

    {"POST", "/api/v1/auth/register", tix_http_register, PUB, 0, NULL, TIX_RL_AUTH},
    {"POST", "/api/v1/auth/verify-email", tix_http_verify_email, PUB, 0, NULL, TIX_RL_AUTH},
    {"POST", "/api/v1/auth/login", tix_http_login, PUB, 0, NULL, TIX_RL_AUTH},
    {"POST", "/api/v1/auth/2fa/verify", tix_http_login_2fa, PUB, 0, NULL, TIX_RL_AUTH},
    {"POST", "/api/v1/auth/refresh", tix_http_refresh, PUB, 0, NULL, TIX_RL_AUTH},
    {"POST", "/api/v1/auth/logout", tix_http_logout, USR, 0, NULL, TIX_RL_AUTH},
    {"POST", "/api/v1/auth/forgot-password", tix_http_forgot_password, PUB, 0, NULL, TIX_RL_AUTH},
    {"POST", "/api/v1/auth/reset-password", tix_http_reset_password, PUB, 0, NULL, TIX_RL_AUTH},
    {"POST", "/api/v1/auth/2fa/enable", tix_http_2fa_enable, USR, 0, NULL, TIX_RL_AUTH},
    {"POST", "/api/v1/auth/2fa/confirm", tix_http_2fa_confirm, USR, 0, NULL, TIX_RL_AUTH},
    {"POST", "/api/v1/auth/2fa/disable", tix_http_2fa_disable, USR, 0, NULL, TIX_RL_AUTH},

    {"GET", "/api/v1/users/me", tix_http_me_get, USR, 0, NULL, TIX_RL_GENERAL},
    {"PATCH", "/api/v1/users/me", tix_http_me_update, USR, 0, NULL, TIX_RL_GENERAL},
    {"DELETE", "/api/v1/users/me", tix_http_me_delete, USR, 0, NULL, TIX_RL_AUTH},
    {"PATCH", "/api/v1/users/me/password", tix_http_me_password, USR, 0, NULL, TIX_RL_AUTH},
    {"PATCH", "/api/v1/users/me/preferences", tix_http_me_preferences, USR, 0, NULL,
     TIX_RL_GENERAL},

    {"GET", "/api/v1/organizations", tix_http_orgs_list, USR, 0, "orgs:read", TIX_RL_GENERAL},
    {"POST", "/api/v1/organizations", tix_http_org_create, USR, 0, NULL, TIX_RL_GENERAL},
    {"GET", "/api/v1/organizations/{id}", tix_http_org_get, ORG, TIX_ROLE_SCANNER, "orgs:read",
     TIX_RL_GENERAL},
    {"PATCH", "/api/v1/organizations/{id}", tix_http_org_update, ORG, TIX_ROLE_ADMIN, NULL,
     TIX_RL_GENERAL},
    {"DELETE", "/api/v1/organizations/{id}", tix_http_org_close, ORG, TIX_ROLE_OWNER, NULL,
     TIX_RL_GENERAL},
    {"PATCH", "/api/v1/organizations/{id}/settings", tix_http_org_settings, ORG, TIX_ROLE_ADMIN,
     NULL, TIX_RL_GENERAL},
    {"GET", "/api/v1/organizations/{id}/members", tix_http_members_list, ORG, TIX_ROLE_SCANNER,
     "members:read", TIX_RL_GENERAL},
    {"POST", "/api/v1/organizations/{id}/members", tix_http_member_add, ORG, TIX_ROLE_ADMIN, NULL,
     TIX_RL_GENERAL},
    {"PATCH", "/api/v1/organizations/{id}/members/{userId}", tix_http_member_update, ORG,
     TIX_ROLE_ADMIN, NULL, TIX_RL_GENERAL},
    {"DELETE", "/api/v1/organizations/{id}/members/{userId}", tix_http_member_remove, ORG,
     TIX_ROLE_ADMIN, NULL, TIX_RL_GENERAL},
    {"GET", "/api/v1/organizations/{id}/api-keys", tix_http_api_keys_list, ORG, TIX_ROLE_ADMIN,
     NULL, TIX_RL_GENERAL},
    {"POST", "/api/v1/organizations/{id}/api-keys", tix_http_api_key_create, ORG, TIX_ROLE_ADMIN,
     NULL, TIX_RL_GENERAL},
    {"DELETE", "/api/v1/organizations/{id}/api-keys/{keyId}", tix_http_api_key_revoke, ORG,
     TIX_ROLE_ADMIN, NULL, TIX_RL_GENERAL},

    {"POST", "/api/v1/organizations/{id}/venues", tix_http_venue_create, ORG, TIX_ROLE_PROMOTER,
     NULL, TIX_RL_GENERAL},
    {"PATCH", "/api/v1/organizations/{id}/venues/{venueId}", tix_http_venue_update, ORG,
     TIX_ROLE_PROMOTER, NULL, TIX_RL_GENERAL},
    {"DELETE", "/api/v1/organizations/{id}/venues/{venueId}", tix_http_venue_delete, ORG,
     TIX_ROLE_ADMIN, NULL, TIX_RL_GENERAL},
    {"POST", "/api/v1/organizations/{id}/venues/{venueId}/seating-chart",
     tix_http_venue_chart_publish, ORG, TIX_ROLE_PROMOTER, NULL, TIX_RL_GENERAL},
    {"GET", "/api/v1/venues/{id}", tix_http_venue_get, PUB, 0, NULL, TIX_RL_GENERAL},
    {"GET", "/api/v1/venues/{id}/seating-chart", tix_http_venue_chart_get, PUB, 0, NULL,
     TIX_RL_GENERAL},
    {"GET", "/api/v1/venues/{id}/events", tix_http_venue_events, PUB, 0, NULL, TIX_RL_GENERAL},

    {"GET", "/api/v1/organizations/{id}/events", tix_http_org_events_list, ORG, TIX_ROLE_SCANNER,
     "events:read", TIX_RL_GENERAL},
    {"POST", "/api/v1/organizations/{id}/events", tix_http_event_create, ORG, TIX_ROLE_PROMOTER,
     "events:write", TIX_RL_GENERAL},
    {"GET", "/api/v1/organizations/{id}/events/{eventId}", tix_http_org_event_get, ORG,
     TIX_ROLE_SCANNER, "events:read", TIX_RL_GENERAL},
    {"PATCH", "/api/v1/organizations/{id}/events/{eventId}", tix_http_event_update, ORG,
     TIX_ROLE_PROMOTER, "events:write", TIX_RL_GENERAL},
    {"DELETE", "/api/v1/organizations/{id}/events/{eventId}", tix_http_event_delete, ORG,
     TIX_ROLE_PROMOTER, "events:write", TIX_RL_GENERAL},
    {"PATCH", "/api/v1/organizations/{id}/events/{eventId}/sessions/{sessionId}",
     tix_http_event_session_update, ORG, TIX_ROLE_PROMOTER, "events:write", TIX_RL_GENERAL},
    {"POST", "/api/v1/organizations/{id}/events/{eventId}/publish", tix_http_event_publish, ORG,
     TIX_ROLE_PROMOTER, "events:write", TIX_RL_GENERAL},
    {"POST", "/api/v1/organizations/{id}/events/{eventId}/unpublish", tix_http_event_unpublish, ORG,
     TIX_ROLE_PROMOTER, "events:write", TIX_RL_GENERAL},
    {"POST", "/api/v1/organizations/{id}/events/{eventId}/cancel", tix_http_event_cancel, ORG,
     TIX_ROLE_ADMIN, "events:write", TIX_RL_GENERAL},
    /* literal segments before {id}: the first matching row wins */
    {"GET", "/api/v1/events", tix_http_events_list, OPT, 0, NULL, TIX_RL_GENERAL},
    {"GET", "/api/v1/events/featured", tix_http_events_featured, OPT, 0, NULL, TIX_RL_GENERAL},
    {"GET", "/api/v1/events/search", tix_http_search_events, PUB, 0, NULL, TIX_RL_GENERAL},
    {"GET", "/api/v1/events/{id}", tix_http_event_get, PUB, 0, NULL, TIX_RL_GENERAL},
    {"POST", "/api/v1/events/{id}/feature", tix_http_event_feature, USR, 0, "events:write",
     TIX_RL_GENERAL},
    {"DELETE", "/api/v1/events/{id}/feature", tix_http_event_unfeature, USR, 0, "events:write",
     TIX_RL_GENERAL},

    {"GET", "/api/v1/search/events", tix_http_search_events, PUB, 0, NULL, TIX_RL_GENERAL},
    {"GET", "/api/v1/search/venues", tix_http_search_venues, PUB, 0, NULL, TIX_RL_GENERAL},
    {"GET", "/api/v1/search/autocomplete", tix_http_search_autocomplete, PUB, 0, NULL,
     TIX_RL_GENERAL},

    {"POST", "/api/v1/payments/webhook", tix_http_payments_webhook, PUB, 0, NULL, TIX_RL_NONE},
    {"GET", "/api/v1/payments/{id}", tix_http_payment_get, USR, 0, NULL, TIX_RL_GENERAL},

    {NULL, NULL, NULL, 0, 0, NULL, 0},
};
