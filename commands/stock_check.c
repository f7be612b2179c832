/* stock_check.c - payload and event shapes of the stock aggregate
 *
 * One table of field specs per object (commands, events and the objects they nest: ticket types,
 * tiers, components, seats, lines, tickets), walked by payload.c's checker. The first problem is
 * reported as TIX_EINVAL with the field's path ("lines[1].seats[0]", "ticket_type.tiers[2].until")
 * and a message. Shapes only: rules that need a state are decide's. evolve() runs the same checks
 * on recorded events, so a malformed event changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/ids.h"
#include "tix/json.h"
#include "tix/mem.h"

#include "stock_internal.h"

/* ---- value rules ---------------------------------------------------------------------------- */

/* A plain string of min..max code points, no control characters, not only spaces. */
static bool is_text(const json_t *v, size_t min, size_t max)
{
    if (!tix_payload_is_text(v, min, max, false, false))
        return false;
    size_t len = json_string_length(v);
    tix_payload_trim(json_string_value(v), &len);
    return len > 0;
}

static bool is_made_of(const json_t *v, size_t max, const char *alphabet)
{
    if (!tix_payload_is_plain_string(v))
        return false;
    size_t len = json_string_length(v);
    return len >= 1 && len <= max && strspn(json_string_value(v), alphabet) == len;
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

static bool is_int_in(const json_t *v, json_int_t min, json_int_t max)
{
    return json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max;
}

static bool is_uuid(const json_t *v)
{
    return tix_payload_is_plain_string(v) && tix_uuid_is_valid(json_string_value(v));
}

static bool is_instant(const json_t *v)
{
    int64_t t;
    return tix_payload_is_plain_string(v) && tix_event_parse_instant(json_string_value(v), &t);
}

static bool is_one_of(const json_t *v, const char *a, const char *b)
{
    const char *s = tix_payload_is_plain_string(v) ? json_string_value(v) : "";
    return strcmp(s, a) == 0 || strcmp(s, b) == 0;
}

int64_t tix_stock_instant(const json_t *obj, const char *key, int64_t def)
{
    int64_t t;
    const char *s = tix_json_str(obj, key);
    return s != NULL && tix_event_parse_instant(s, &t) ? t : def;
}

/* NULL when the scalar v suits kind, else what is wrong with it. */
static const char *check_scalar(enum stock_kind kind, const json_t *v)
{
    switch (kind) {
    case SK_UUID:
        return is_uuid(v) ? NULL : "must be a lowercase UUID";
    case SK_NAME:
        return is_text(v, 1, 200) ? NULL : "must be 1..200 characters";
    case SK_TYPE_KIND:
        return tix_payload_is_plain_string(v) && tix_stock_kind_parse(json_string_value(v)) >= 0
                   ? NULL
                   : "must be general_admission, reserved, vip, early_bird, group, season_pass "
                     "or bundle";
    case SK_PRICE:
        return is_int_in(v, 0, TIX_STOCK_PRICE_MAX) ? NULL : "must be an amount in minor units";
    case SK_CURRENCY:
        return is_made_of(v, 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && json_string_length(v) == 3
                   ? NULL
                   : "must be an ISO 4217 code like EUR";
    case SK_INSTANT:
        return is_instant(v) ? NULL : "must be an instant like 2026-12-31T19:30:00Z";
    case SK_PER_ORDER:
    case SK_LINE_QUANTITY:
        return is_int_in(v, 1, TIX_STOCK_PER_ORDER_MAX) ? NULL : "must be an integer 1..100";
    case SK_COMPONENT_QUANTITY:
        return is_int_in(v, 1, 10) ? NULL : "must be an integer 1..10";
    case SK_BOOL:
        return json_is_boolean(v) ? NULL : "must be true or false";
    case SK_MINUTES:
        return is_int_in(v, 1, TIX_STOCK_HOLD_MINUTES_MAX) ? NULL : "must be an integer 1..60";
    case SK_EXTENSIONS:
        return is_int_in(v, 0, 10) ? NULL : "must be an integer 0..10";
    case SK_BP:
        return is_int_in(v, 0, 10000) ? NULL : "must be basis points 0..10000";
    case SK_CAPACITY:
    case SK_COUNT:
        return is_int_in(v, 1, TIX_STOCK_QUANTITY_MAX) ? NULL : "must be an integer 1..1000000";
    case SK_CHART_VERSION:
        return is_int_in(v, 1, INT32_MAX) ? NULL : "must be a chart version (an integer >= 1)";
    case SK_TEXT_ID:
        return is_made_of(v, TIX_STOCK_TEXT_ID_MAX, ALNUM "_.-")
                   ? NULL
                   : "must be 1..64 of A-Z a-z 0-9 _ . -";
    case SK_LABEL:
    case SK_ORDER_NUMBER:
        return is_text(v, 1, 32) ? NULL : "must be 1..32 characters";
    case SK_CATEGORY:
        return is_text(v, 1, 64) ? NULL : "must be 1..64 characters";
    case SK_AMOUNT:
        return is_int_in(v, 0, INT64_MAX / 4) ? NULL : "must be an amount in minor units";
    case SK_EXTERNAL_ID:
        return is_made_of(v, TIX_STOCK_EXTERNAL_ID_MAX, ALNUM "_-")
                   ? NULL
                   : "must be 1..255 of A-Z a-z 0-9 _ -";
    case SK_HEX64:
        return tix_payload_is_plain_string(v) && tix_payload_is_hex64(json_string_value(v))
                   ? NULL
                   : "must be 64 lowercase hex characters";
    case SK_SEALED:
        return is_made_of(v, 1024, ALNUM ":_-") ? NULL : "must be a sealed value (v1:base64url)";
    case SK_OUTCOME:
        return is_one_of(v, "succeeded", "failed") ? NULL : "must be succeeded or failed";
    case SK_DIRECTION:
        return is_one_of(v, "in", "out") ? NULL : "must be in or out";
    case SK_RELEASE_REASON:
        return is_one_of(v, "buyer", "cart_cleared") ? NULL : "must be buyer or cart_cleared";
    case SK_REASON:
        return is_text(v, 1, 500) ? NULL : "must be 1..500 characters";
    case SK_REQUESTER:
        return is_one_of(v, "organizer", "buyer") ? NULL : "must be organizer or buyer";
    default:
        return "is not supported";
    }
}

/* ---- nested objects ------------------------------------------------------------------------- */

static const struct tix_field_spec tier_specs[] = {
    {"price_minor", SK_PRICE, true},
    {"until", SK_INSTANT, false},
    {"until_sold", SK_COUNT, false},
};
static const struct tix_field_spec component_specs[] = {
    {"ticket_type_id", SK_UUID, true},
    {"quantity", SK_COMPONENT_QUANTITY, true},
};
static const struct tix_field_spec seat_specs[] = {
    {"seat_id", SK_TEXT_ID, true},
    {"section", SK_TEXT_ID, true},
    {"row", SK_TEXT_ID, true},
    {"label", SK_LABEL, true},
    {"category", SK_CATEGORY_OR_NULL, false},
    {"accessible", SK_BOOL, false},
};
static const struct tix_field_spec line_specs[] = {
    {"ticket_type_id", SK_UUID, true},
    {"quantity", SK_LINE_QUANTITY, false},
    {"seats", SK_SEAT_IDS, false},
};
static const struct tix_field_spec placed_line_specs[] = {
    {"ticket_type_id", SK_UUID, true},
    {"quantity", SK_LINE_QUANTITY, true},
    {"seats", SK_SEAT_LIST, true},
    {"unit_price_minor", SK_PRICE, true},
    {"session_ids", SK_SESSION_IDS_OR_NULL, false},
    {"fees_minor", SK_AMOUNT, false},
};
static const struct tix_field_spec pool_specs[] = {
    {"pool_id", SK_UUID, true},
    {"name", SK_NAME, true},
    {"capacity", SK_CAPACITY, true},
};
static const struct tix_field_spec ticket_specs[] = {
    {"ticket_id", SK_UUID, true},          {"ticket_type_id", SK_UUID, true},
    {"session_id", SK_UUID_OR_NULL, true}, {"seat_id", SK_TEXT_ID_OR_NULL, true},
    {"holder_id", SK_UUID, true},
};

const struct tix_field_spec tix_stock_type_specs[] = {
    {"ticket_type_id", SK_UUID, true},
    {"name", SK_NAME, true},
    {"kind", SK_TYPE_KIND, true},
    {"price_minor", SK_PRICE, true},
    {"currency", SK_CURRENCY, true},
    {"quantity", SK_QUANTITY_OR_NULL, false},
    {"pool_id", SK_UUID_OR_NULL, false},
    {"session_ids", SK_SESSION_IDS_OR_NULL, false},
    {"sales_start", SK_INSTANT_OR_NULL, false},
    {"sales_end", SK_INSTANT_OR_NULL, false},
    {"min_per_order", SK_PER_ORDER, false},
    {"max_per_order", SK_PER_ORDER, false},
    {"hidden", SK_BOOL, false},
    {"sections", SK_TEXT_IDS_OR_NULL, false},
    {"categories", SK_CATEGORIES_OR_NULL, false},
    {"tiers", SK_TIERS_OR_NULL, false},
    {"components", SK_COMPONENTS_OR_NULL, false},
    {"group_size", SK_GROUP_SIZE_OR_NULL, false},
    {"allows_reentry", SK_BOOL, false},
};
const size_t tix_stock_n_type_specs = N_SPECS(tix_stock_type_specs);

const struct tix_field_spec tix_stock_settings_specs[] = {
    {"hold_minutes", SK_MINUTES, false},      {"max_extensions", SK_EXTENSIONS, false},
    {"extension_minutes", SK_MINUTES, false}, {"fee_fixed_minor", SK_PRICE, false},
    {"fee_percent_bp", SK_BP, false},         {"tax_percent_bp", SK_BP, false},
    {"no_single_seat_gap", SK_BOOL, false},
};
const size_t tix_stock_n_settings_specs = N_SPECS(tix_stock_settings_specs);

/* ---- arrays --------------------------------------------------------------------------------- */

static const char *json_item_str_cb(const void *ctx, int32_t i)
{
    return json_string_value(json_array_get(ctx, (size_t)i));
}

static const char *json_member_str_cb(const void *ctx, int32_t i)
{
    const json_t *const *c = ctx; /* {array, key as a JSON string} */
    return tix_json_str(json_array_get(c[0], (size_t)i), json_string_value(c[1]));
}

/* Checks that member key of every object of a (already checked) is distinct; path names a. */
static enum tix_rc check_distinct_member(const json_t *a, const char *key, const char *path,
                                         struct tix_err *err)
{
    struct tix_stock_index x = {0};
    json_t *k = json_string(key);
    const json_t *ctx[2] = {a, k};
    enum tix_rc rc = TIX_OK;
    for (size_t i = 0; i < json_array_size(a) && rc == TIX_OK; i++) {
        const char *v = json_member_str_cb(ctx, (int32_t)i);
        if (v == NULL)
            continue;
        if (tix_stock_index_get(&x, v, json_member_str_cb, ctx) >= 0) {
            char item[TIX_FIELD_PATH_MAX], field[TIX_FIELD_PATH_MAX];
            tix_payload_join(item, path, NULL, i);
            tix_payload_join(field, item, key, 0);
            rc = tix_err_set(err, TIX_EINVAL, field, "%s repeats another %s", field, key);
        } else {
            tix_stock_index_put(&x, v, (int32_t)i, json_member_str_cb, ctx);
        }
    }
    json_decref(k);
    tix_stock_index_free(&x);
    return rc;
}

/* Checks that the strings of a (already checked) are distinct. */
static enum tix_rc check_distinct_items(const json_t *a, const char *path, struct tix_err *err)
{
    struct tix_stock_index x = {0};
    enum tix_rc rc = TIX_OK;
    for (size_t i = 0; i < json_array_size(a) && rc == TIX_OK; i++) {
        const char *v = json_string_value(json_array_get(a, i));
        if (tix_stock_index_get(&x, v, json_item_str_cb, a) >= 0) {
            char field[TIX_FIELD_PATH_MAX];
            tix_payload_join(field, path, NULL, i);
            rc = tix_err_set(err, TIX_EINVAL, field, "%s repeats an earlier item", field);
        } else {
            tix_stock_index_put(&x, v, (int32_t)i, json_item_str_cb, a);
        }
    }
    tix_stock_index_free(&x);
    return rc;
}

/* The seats of a row come together: a (section, row) seen before must be the previous seat's. */
static enum tix_rc check_rows_together(const json_t *seats, const char *path, struct tix_err *err)
{
    size_t n = json_array_size(seats);
    json_t *keys = json_array();
    struct tix_stock_index x = {0};
    enum tix_rc rc = TIX_OK;
    for (size_t i = 0; i < n && rc == TIX_OK; i++) {
        const json_t *seat = json_array_get(seats, i);
        json_t *key =
            json_sprintf("%s\x1f%s", tix_json_str(seat, "section"), tix_json_str(seat, "row"));
        size_t last = json_array_size(keys);
        bool is_same = last > 0 && json_equal(json_array_get(keys, last - 1), key);
        if (!is_same &&
            tix_stock_index_get(&x, json_string_value(key), json_item_str_cb, keys) >= 0) {
            char field[TIX_FIELD_PATH_MAX];
            tix_payload_join(field, path, NULL, i);
            rc = tix_err_set(err, TIX_EINVAL, field,
                             "%s: the seats of a row must come one after another", field);
        } else if (!is_same) {
            json_array_append(keys, key);
            tix_stock_index_put(&x, json_string_value(key), (int32_t)last, json_item_str_cb, keys);
        }
        json_decref(key);
    }
    tix_stock_index_free(&x);
    json_decref(keys);
    return rc;
}

/* An array of min..max items, each an object of specs (specs != NULL) or a scalar of kind. */
static enum tix_rc check_array(const json_t *v, const char *path, size_t min, size_t max,
                               const struct tix_field_spec *specs, size_t n, enum stock_kind kind,
                               struct tix_err *err)
{
    if (!json_is_array(v) || json_array_size(v) < min || json_array_size(v) > max)
        return tix_err_set(err, TIX_EINVAL, path, "%s must be an array of %zu..%zu items", path,
                           min, max);
    for (size_t i = 0; i < json_array_size(v); i++) {
        char field[TIX_FIELD_PATH_MAX];
        tix_payload_join(field, path, NULL, i);
        const json_t *item = json_array_get(v, i);
        enum tix_rc rc = specs != NULL ? tix_stock_check_object(item, field, specs, n, err)
                                       : tix_stock_check_value(kind, item, field, err);
        if (rc != TIX_OK)
            return rc;
    }
    return specs == NULL ? check_distinct_items(v, path, err) : TIX_OK;
}

static enum tix_rc check_composite(enum stock_kind kind, const json_t *v, const char *path,
                                   struct tix_err *err)
{
    enum tix_rc rc;
    switch (kind) {
    case SK_SESSION_IDS_OR_NULL:
        return check_array(v, path, 1, TIX_EVENT_SESSIONS_MAX, NULL, 0, SK_UUID, err);
    case SK_HOLD_IDS:
        return check_array(v, path, 1, 100000, NULL, 0, SK_UUID, err);
    case SK_TEXT_IDS_OR_NULL:
        return check_array(v, path, 1, 1000, NULL, 0, SK_TEXT_ID, err);
    case SK_CATEGORIES_OR_NULL:
        return check_array(v, path, 1, 100, NULL, 0, SK_CATEGORY, err);
    case SK_SEAT_IDS:
        return check_array(v, path, 1, TIX_STOCK_PER_ORDER_MAX, NULL, 0, SK_TEXT_ID, err);
    case SK_SEAT_LIST:
        return check_array(v, path, 0, TIX_STOCK_PER_ORDER_MAX, NULL, 0, SK_TEXT_ID, err);
    case SK_PLACED_LINES:
        rc = check_array(v, path, 1, TIX_STOCK_LINES_MAX, placed_line_specs,
                         N_SPECS(placed_line_specs), 0, err);
        return rc == TIX_OK ? check_distinct_member(v, "ticket_type_id", path, err) : rc;
    case SK_TIERS_OR_NULL:
        return check_array(v, path, 1, TIX_STOCK_TIERS_MAX, tier_specs, N_SPECS(tier_specs), 0,
                           err);
    case SK_COMPONENTS_OR_NULL:
        rc = check_array(v, path, 1, TIX_STOCK_COMPONENTS_MAX, component_specs,
                         N_SPECS(component_specs), 0, err);
        return rc == TIX_OK ? check_distinct_member(v, "ticket_type_id", path, err) : rc;
    case SK_LINES:
        rc = check_array(v, path, 1, TIX_STOCK_LINES_MAX, line_specs, N_SPECS(line_specs), 0, err);
        return rc == TIX_OK ? check_distinct_member(v, "ticket_type_id", path, err) : rc;
    case SK_SEATS:
        rc = check_array(v, path, 0, TIX_STOCK_SEATS_MAX, seat_specs, N_SPECS(seat_specs), 0, err);
        if (rc == TIX_OK)
            rc = check_distinct_member(v, "seat_id", path, err);
        return rc == TIX_OK ? check_rows_together(v, path, err) : rc;
    case SK_TICKETS:
        return check_array(v, path, 1, 1000000, ticket_specs, N_SPECS(ticket_specs), 0, err);
    case SK_SETTINGS:
        return tix_stock_check_object(v, path, tix_stock_settings_specs, tix_stock_n_settings_specs,
                                      err);
    case SK_TYPE:
        rc = tix_stock_check_object(v, path, tix_stock_type_specs, tix_stock_n_type_specs, err);
        return rc == TIX_OK ? tix_stock_check_type_rules(v, path, err) : rc;
    case SK_POOL:
        return tix_stock_check_object(v, path, pool_specs, N_SPECS(pool_specs), err);
    default:
        return TIX_EINTERNAL;
    }
}

enum tix_rc tix_stock_check_value(enum stock_kind kind, const json_t *v, const char *path,
                                  struct tix_err *err)
{
    switch (kind) {
    case SK_UUID_OR_NULL:
        return json_is_null(v) ? TIX_OK : tix_stock_check_value(SK_UUID, v, path, err);
    case SK_INSTANT_OR_NULL:
        return json_is_null(v) ? TIX_OK : tix_stock_check_value(SK_INSTANT, v, path, err);
    case SK_QUANTITY_OR_NULL:
        return json_is_null(v) ? TIX_OK : tix_stock_check_value(SK_CAPACITY, v, path, err);
    case SK_GROUP_SIZE_OR_NULL:
        if (json_is_null(v) || is_int_in(v, 2, TIX_STOCK_GROUP_MAX))
            return TIX_OK;
        return tix_err_set(err, TIX_EINVAL, path, "%s must be an integer 2..100", path);
    case SK_CATEGORY_OR_NULL:
        return json_is_null(v) ? TIX_OK : tix_stock_check_value(SK_CATEGORY, v, path, err);
    case SK_TEXT_ID_OR_NULL:
        return json_is_null(v) ? TIX_OK : tix_stock_check_value(SK_TEXT_ID, v, path, err);
    case SK_SESSION_IDS_OR_NULL:
    case SK_TEXT_IDS_OR_NULL:
    case SK_CATEGORIES_OR_NULL:
    case SK_TIERS_OR_NULL:
    case SK_COMPONENTS_OR_NULL:
        if (json_is_null(v))
            return TIX_OK;
        return check_composite(kind, v, path, err);
    case SK_HOLD_IDS:
    case SK_SEAT_IDS:
    case SK_SEAT_LIST:
    case SK_PLACED_LINES:
    case SK_LINES:
    case SK_SEATS:
    case SK_TICKETS:
    case SK_SETTINGS:
    case SK_TYPE:
    case SK_POOL:
        return check_composite(kind, v, path, err);
    default:
        break;
    }
    return tix_payload_field_problem(err, path, check_scalar(kind, v));
}

static enum tix_rc check_field_cb(int kind, const json_t *v, const char *path, const void *ctx,
                                  struct tix_err *err)
{
    (void)ctx;
    return tix_stock_check_value((enum stock_kind)kind, v, path, err);
}

enum tix_rc tix_stock_check_object(const json_t *obj, const char *path,
                                   const struct tix_field_spec *specs, size_t n,
                                   struct tix_err *err)
{
    static const struct tix_field_rules rules = {.check = check_field_cb};
    return tix_payload_check_object(obj, path, specs, n, &rules, err);
}

/* ---- a type's own rules --------------------------------------------------------------------- */

static bool has(const json_t *type, const char *key)
{
    const json_t *v = json_object_get(type, key);
    return v != NULL && !json_is_null(v);
}

static enum tix_rc type_rule(struct tix_err *err, const char *path, const char *name,
                             const char *problem)
{
    char field[TIX_FIELD_PATH_MAX];
    tix_payload_join(field, path, name, 0);
    return tix_err_set(err, TIX_EINVAL, field, "%s %s", field, problem);
}

/* Which optional fields a kind takes: the rest must be absent or null. */
static enum tix_rc check_kind_fields(const json_t *type, enum tix_stock_kind kind, const char *path,
                                     struct tix_err *err)
{
    bool is_reserved = kind == TIX_STOCK_RESERVED, is_bundle = kind == TIX_STOCK_BUNDLE;
    if (is_reserved && has(type, "quantity"))
        return type_rule(err, path, "quantity", "must be null for reserved seating (its seats)");
    if ((is_reserved || is_bundle) && has(type, "pool_id"))
        return type_rule(err, path, "pool_id", "is not for reserved seating or bundles");
    if (!is_reserved && has(type, "sections"))
        return type_rule(err, path, "sections", "are only for reserved seating");
    if (!is_reserved && has(type, "categories"))
        return type_rule(err, path, "categories", "are only for reserved seating");
    if (is_bundle != has(type, "components"))
        return type_rule(err, path, "components",
                         is_bundle ? "are required for a bundle" : "are only for bundles");
    if ((kind == TIX_STOCK_GROUP) != has(type, "group_size"))
        return type_rule(err, path, "group_size",
                         kind == TIX_STOCK_GROUP ? "is required for group tickets"
                                                 : "is only for group tickets");
    if (!is_reserved && !is_bundle && !has(type, "quantity") && !has(type, "pool_id"))
        return type_rule(err, path, "quantity", "is required unless the type draws on a pool");
    return TIX_OK;
}

enum tix_rc tix_stock_check_type_rules(const json_t *type, const char *path, struct tix_err *err)
{
    enum tix_stock_kind kind =
        (enum tix_stock_kind)tix_stock_kind_parse(tix_json_str(type, "kind"));
    enum tix_rc rc = check_kind_fields(type, kind, path, err);
    if (rc != TIX_OK)
        return rc;
    if (tix_json_int(type, "min_per_order", 1) > tix_json_int(type, "max_per_order", 10))
        return type_rule(err, path, "min_per_order", "must not exceed max_per_order");
    int64_t start = tix_stock_instant(type, "sales_start", -1);
    int64_t end = tix_stock_instant(type, "sales_end", -1);
    if (start >= 0 && end >= 0 && end <= start)
        return type_rule(err, path, "sales_end", "must be after sales_start");
    const json_t *tiers = json_object_get(type, "tiers");
    for (size_t i = 0; i + 1 < json_array_size(tiers); i++) {
        const json_t *tier = json_array_get(tiers, i);
        if (json_object_get(tier, "until") == NULL && json_object_get(tier, "until_sold") == NULL) {
            char tiers_path[TIX_FIELD_PATH_MAX], field[TIX_FIELD_PATH_MAX];
            tix_payload_join(tiers_path, path, "tiers", 0);
            tix_payload_join(field, tiers_path, NULL, i);
            return tix_err_set(err, TIX_EINVAL, field,
                               "%s needs until or until_sold (only the last step is open-ended)",
                               field);
        }
    }
    return TIX_OK;
}

/* ---- commands' streams ---------------------------------------------------------------------- */

/* A rule a payload keeps beyond its fields' shapes. */
typedef enum tix_rc (*payload_rule_fn)(const json_t *payload, struct tix_err *err);

/* Checks event_id (a UUID equal to the key), then the rest of the payload against specs (with
 * is_partial every field is optional), then rule; writes the two streams. */
static int stock_streams(const struct tix_command *cmd, const struct tix_field_spec *specs,
                         size_t n, bool is_partial, payload_rule_fn rule,
                         char ids[][TIX_STREAM_ID_MAX], struct tix_err *err)
{
    const json_t *p = cmd->payload;
    if (!json_is_object(p)) {
        tix_err_set(err, TIX_EINVAL, "", "the payload must be a JSON object");
        return -1;
    }
    if (tix_stock_check_value(SK_UUID, json_object_get(p, "event_id"), "event_id", err) != TIX_OK ||
        tix_payload_check_key(p, "event_id", cmd->key, err) != TIX_OK)
        return -1;
    const char *id = tix_json_str(p, "event_id");
    json_t *rest = json_copy((json_t *)p);
    json_object_del(rest, "event_id");
    struct tix_field_spec optional[32];
    for (size_t i = 0; is_partial && i < n && i < 32; i++)
        optional[i] = (struct tix_field_spec){specs[i].name, specs[i].kind, i == 0};
    enum tix_rc rc = tix_stock_check_object(rest, "", is_partial ? optional : specs, n, err);
    json_decref(rest);
    if (rc == TIX_OK && rule != NULL)
        rc = rule(p, err);
    if (rc != TIX_OK)
        return -1;
    snprintf(ids[0], TIX_STREAM_ID_MAX, "%s%s", TIX_EVENT_STREAM_PREFIX, id);
    snprintf(ids[1], TIX_STREAM_ID_MAX, "%s%s", TIX_STOCK_STREAM_PREFIX, id);
    return 2;
}

static enum tix_rc type_rules_cb(const json_t *p, struct tix_err *err)
{
    return tix_stock_check_type_rules(p, "", err);
}

/* Each line names a quantity or seats; with both, as many seats as the quantity. */
static enum tix_rc lines_rule_cb(const json_t *p, struct tix_err *err)
{
    const json_t *lines = json_object_get(p, "lines");
    for (size_t i = 0; i < json_array_size(lines); i++) {
        const json_t *l = json_array_get(lines, i);
        const json_t *q = json_object_get(l, "quantity"), *seats = json_object_get(l, "seats");
        char field[TIX_FIELD_PATH_MAX];
        snprintf(field, sizeof(field), "lines[%zu].quantity", i);
        if (q == NULL && seats == NULL)
            return tix_err_set(err, TIX_EINVAL, field, "%s or seats is required", field);
        if (q != NULL && seats != NULL && (size_t)json_integer_value(q) != json_array_size(seats))
            return tix_err_set(err, TIX_EINVAL, field, "%s must count the seats", field);
    }
    return TIX_OK;
}

/* A success carries the seed of its tickets. */
static enum tix_rc payment_rule_cb(const json_t *p, struct tix_err *err)
{
    if (strcmp(tix_json_str(p, "outcome"), "succeeded") == 0 &&
        json_object_get(p, "ticket_seed") == NULL)
        return tix_err_set(err, TIX_EINVAL, "ticket_seed", "ticket_seed is required on success");
    return TIX_OK;
}

static const struct tix_field_spec type_id_specs[] = {{"ticket_type_id", SK_UUID, true}};
static const struct tix_field_spec pool_define_specs[] = {
    {"pool_id", SK_UUID, true}, {"name", SK_NAME, true}, {"capacity", SK_CAPACITY, true}};
static const struct tix_field_spec load_seats_specs[] = {{"chart_version", SK_CHART_VERSION, true},
                                                         {"seats", SK_SEATS, true}};
static const struct tix_field_spec hold_place_specs[] = {
    {"hold_id", SK_UUID, true}, {"session_id", SK_UUID, true}, {"lines", SK_LINES, true}};
static const struct tix_field_spec hold_release_specs[] = {{"hold_id", SK_UUID, true},
                                                           {"reason", SK_RELEASE_REASON, false}};
static const struct tix_field_spec hold_id_specs[] = {{"hold_id", SK_UUID, true}};
static const struct tix_field_spec hold_expire_specs[] = {{"hold_ids", SK_HOLD_IDS, false}};
static const struct tix_field_spec order_place_specs[] = {
    {"order_id", SK_UUID, true}, {"hold_id", SK_UUID, true}, {"ticket_seed", SK_HEX64, false}};
static const struct tix_field_spec order_cancel_specs[] = {{"order_id", SK_UUID, true},
                                                           {"reason", SK_REASON, false}};
static const struct tix_field_spec attach_specs[] = {{"order_id", SK_UUID, true},
                                                     {"payment_intent_id", SK_EXTERNAL_ID, true}};
static const struct tix_field_spec payment_specs[] = {
    {"order_id", SK_UUID, true},       {"stripe_event_id", SK_EXTERNAL_ID, true},
    {"outcome", SK_OUTCOME, true},     {"payment_intent_id", SK_EXTERNAL_ID, true},
    {"amount_minor", SK_AMOUNT, true}, {"currency", SK_CURRENCY, true},
    {"ticket_seed", SK_HEX64, false},  {"failure_reason", SK_REASON, false},
};
static const struct tix_field_spec refunded_specs[] = {{"order_id", SK_UUID, true},
                                                       {"refund_id", SK_EXTERNAL_ID, true},
                                                       {"request_id", SK_UUID, false}};
static const struct tix_field_spec refund_failed_specs[] = {
    {"order_id", SK_UUID, true}, {"request_id", SK_UUID, false}, {"reason", SK_REASON, true}};
static const struct tix_field_spec refund_specs[] = {
    {"order_id", SK_UUID, true},          {"request_id", SK_UUID, true},
    {"ticket_ids", SK_HOLD_IDS, false},   {"reason", SK_REASON, false},
    {"requested_by", SK_REQUESTER, true}, {"session_id", SK_UUID, false},
};
static const struct tix_field_spec cancel_session_specs[] = {{"session_id", SK_UUID, true}};
static const struct tix_field_spec offer_specs[] = {{"ticket_id", SK_UUID, true},
                                                    {"transfer_id", SK_UUID, true},
                                                    {"to_email_index", SK_HEX64, true},
                                                    {"to_email_sealed", SK_SEALED, false}};
static const struct tix_field_spec claim_specs[] = {{"transfer_id", SK_UUID, true},
                                                    {"new_ticket_id", SK_UUID, true},
                                                    {"to_email_index", SK_HEX64, true}};
static const struct tix_field_spec check_in_specs[] = {
    {"ticket_id", SK_UUID, true},
    {"session_id", SK_UUID, false},
    {"device_id", SK_TEXT_ID, true},
    {"direction", SK_DIRECTION, true},
};

#define STREAMS_FN(fn, specs, n, is_partial, rule)                                                 \
    static int fn(const struct tix_command *cmd, char ids[][TIX_STREAM_ID_MAX],                    \
                  struct tix_err *err)                                                             \
    {                                                                                              \
        return stock_streams(cmd, specs, n, is_partial, rule, ids, err);                           \
    }

STREAMS_FN(configure_streams, tix_stock_settings_specs, N_SPECS(tix_stock_settings_specs), false,
           NULL)
STREAMS_FN(type_create_streams, tix_stock_type_specs, N_SPECS(tix_stock_type_specs), false,
           type_rules_cb)
STREAMS_FN(type_update_streams, tix_stock_type_specs, N_SPECS(tix_stock_type_specs), true, NULL)
STREAMS_FN(type_id_streams, type_id_specs, N_SPECS(type_id_specs), false, NULL)
STREAMS_FN(pool_streams, pool_define_specs, N_SPECS(pool_define_specs), false, NULL)
STREAMS_FN(seats_streams, load_seats_specs, N_SPECS(load_seats_specs), false, NULL)
STREAMS_FN(hold_place_streams, hold_place_specs, N_SPECS(hold_place_specs), false, lines_rule_cb)
STREAMS_FN(hold_release_streams, hold_release_specs, N_SPECS(hold_release_specs), false, NULL)
STREAMS_FN(hold_id_streams, hold_id_specs, N_SPECS(hold_id_specs), false, NULL)
STREAMS_FN(hold_expire_streams, hold_expire_specs, N_SPECS(hold_expire_specs), false, NULL)
STREAMS_FN(order_place_streams, order_place_specs, N_SPECS(order_place_specs), false, NULL)
STREAMS_FN(order_cancel_streams, order_cancel_specs, N_SPECS(order_cancel_specs), false, NULL)
STREAMS_FN(attach_streams, attach_specs, N_SPECS(attach_specs), false, NULL)
STREAMS_FN(payment_streams, payment_specs, N_SPECS(payment_specs), false, payment_rule_cb)
STREAMS_FN(refunded_streams, refunded_specs, N_SPECS(refunded_specs), false, NULL)
STREAMS_FN(refund_failed_streams, refund_failed_specs, N_SPECS(refund_failed_specs), false, NULL)
STREAMS_FN(refund_streams, refund_specs, N_SPECS(refund_specs), false, NULL)
STREAMS_FN(check_in_streams, check_in_specs, N_SPECS(check_in_specs), false, NULL)
STREAMS_FN(cancel_sale_streams, NULL, 0, false, NULL)
STREAMS_FN(cancel_session_streams, cancel_session_specs, N_SPECS(cancel_session_specs), false, NULL)
STREAMS_FN(offer_streams, offer_specs, N_SPECS(offer_specs), false, NULL)
STREAMS_FN(claim_streams, claim_specs, N_SPECS(claim_specs), false, NULL)

const struct tix_command_handler tix_stock_handlers[] = {
    {"stock.configure", configure_streams, tix_stock_decide_configure},
    {"ticket_type.create", type_create_streams, tix_stock_decide_with_room},
    {"ticket_type.update", type_update_streams, tix_stock_decide_with_room},
    {"ticket_type.delete", type_id_streams, tix_stock_decide_type_delete},
    {"pool.define", pool_streams, tix_stock_decide_with_room},
    {"stock.load_seats", seats_streams, tix_stock_decide_load_seats},
    {"hold.place", hold_place_streams, tix_stock_decide_with_room},
    {"hold.release", hold_release_streams, tix_stock_decide_with_room},
    {"hold.extend", hold_id_streams, tix_stock_decide_hold_extend},
    {"hold.expire", hold_expire_streams, tix_stock_decide_with_room},
    {"order.place", order_place_streams, tix_stock_decide_order_place},
    {"order.cancel", order_cancel_streams, tix_stock_decide_with_room},
    {"order.attach_payment", attach_streams, tix_stock_decide_attach_payment},
    {"payment.apply", payment_streams, tix_stock_decide_with_room},
    {"order.mark_refunded", refunded_streams, tix_stock_decide_mark_refunded},
    {"order.mark_refund_failed", refund_failed_streams, tix_stock_decide_mark_refund_failed},
    {"order.refund", refund_streams, tix_stock_decide_with_room},
    {"ticket.check_in", check_in_streams, tix_stock_decide_check_in},
    {"stock.cancel_sale", cancel_sale_streams, tix_stock_decide_cancel_sale},
    {"stock.cancel_session", cancel_session_streams, tix_stock_decide_cancel_session},
    {"ticket.offer_transfer", offer_streams, tix_stock_decide_offer_transfer},
    {"ticket.claim_transfer", claim_streams, tix_stock_decide_claim_transfer},
    {NULL, NULL, NULL},
};
