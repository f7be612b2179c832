/* tixmo_pg.c - TixMo's functions inside Postgres (a loadable module, scripts/pg-functions.sql)
 *
 * tix_hits(distance, score, starts_at, id, category, city, month, buckets, keep): the aggregate
 * behind an event search (gateway/search_sql.c). In one pass over the matching hits it keeps
 * the best `keep` of them in a bounded heap and counts the total and every facet, where plain
 * SQL needed the matches materialized, sorted for the page and read again by a grouping-sets
 * aggregate: on a search matching 11,000 of 100,000 events that was half of the statement's
 * time (docs/benchmarks.md). Its result is JSON:
 *
 *   {"total": n, "page": [[id, distance, score], ...],
 *    "facets": {"category": {..}, "city": {..}, "month": {..}, "price": {..}}}
 *
 * The page is the first `keep` hits in the order distance ascending, score descending,
 * starts_at ascending (NULLs last each time, NaN above every number: float8_cmp_internal)
 * and then id: the order of ORDER BY ... NULLS LAST, id, which is total because ids are unique.
 * A facet counts the hits per value (NULL values are not counted); the price facet counts, for
 * each bit i of buckets (schema/010_search_prices.sql), the hits having it. Facet keys come out
 * in byte order. Scores and distances are printed as Postgres prints a float8 (the shortest text
 * that reads back to the same number), so the caller's ::float8 gets exactly the value.
 *
 * Memory lives in the aggregate's context; an error (keep out of range) is an ereport, never a
 * crash of the backend.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_MODULE_MAGIC;

#define KEEP_MAX    1000000
#define N_BUCKETS   5
#define NULL_DIST   0x1
#define NULL_SCORE  0x2
#define NULL_STARTS 0x4
#define TABLE_START 16

static const char *const bucket_names[N_BUCKETS] = {"free", "under_20", "20_to_50", "50_to_100",
                                                    "100_and_over"};

struct hit {
    double distance, score;
    TimestampTz starts;
    pg_uuid_t id;
    int nulls;
};

struct counter {
    uint32 hash;
    int len;
    char *key; /* NULL: an empty slot */
    int64 n;
};

/* An open-addressing table of text keys and their counts (linear probing, at most half full). */
struct table {
    struct counter *slots;
    int cap, used;
};

struct state {
    int64 total;
    int keep, n_page, page_cap;
    struct hit *page; /* a heap: the worst kept hit at the root */
    struct table category, city, month;
    int64 price[N_BUCKETS];
};

/* <0 when a comes before b in the page's order. */
static int cmp_hits(const struct hit *a, const struct hit *b)
{
    int c;
    if ((a->nulls & NULL_DIST) != (b->nulls & NULL_DIST))
        return (a->nulls & NULL_DIST) ? 1 : -1;
    if (!(a->nulls & NULL_DIST) && (c = float8_cmp_internal(a->distance, b->distance)) != 0)
        return c;
    if ((a->nulls & NULL_SCORE) != (b->nulls & NULL_SCORE))
        return (a->nulls & NULL_SCORE) ? 1 : -1;
    if (!(a->nulls & NULL_SCORE) && (c = float8_cmp_internal(b->score, a->score)) != 0)
        return c;
    if ((a->nulls & NULL_STARTS) != (b->nulls & NULL_STARTS))
        return (a->nulls & NULL_STARTS) ? 1 : -1;
    if (!(a->nulls & NULL_STARTS) && a->starts != b->starts)
        return a->starts < b->starts ? -1 : 1;
    return memcmp(a->id.data, b->id.data, UUID_LEN);
}

static int cmp_hits_cb(const void *a, const void *b)
{
    return cmp_hits(a, b);
}

static void swap_hits(struct hit *a, struct hit *b)
{
    struct hit t = *a;
    *a = *b;
    *b = t;
}

/* Keeps h if it is among the best st->keep seen so far (the heap grows as hits come, up to keep:
 * a deep page may ask for far more than there are). */
static void page_offer(struct state *st, const struct hit *h)
{
    if (st->n_page == st->page_cap && st->page_cap < st->keep) {
        st->page_cap = Min(st->keep, 2 * st->page_cap);
        st->page = repalloc(st->page, sizeof(struct hit) * st->page_cap + 1);
    }
    struct hit *p = st->page;
    int i;
    if (st->n_page < st->keep) {
        i = st->n_page++;
        p[i] = *h;
        while (i > 0 && cmp_hits(&p[(i - 1) / 2], &p[i]) < 0) {
            swap_hits(&p[(i - 1) / 2], &p[i]);
            i = (i - 1) / 2;
        }
        return;
    }
    if (st->keep == 0 || cmp_hits(h, &p[0]) >= 0)
        return;
    p[0] = *h;
    i = 0;
    for (;;) {
        int worst = i, l = 2 * i + 1, r = 2 * i + 2;
        if (l < st->n_page && cmp_hits(&p[l], &p[worst]) > 0)
            worst = l;
        if (r < st->n_page && cmp_hits(&p[r], &p[worst]) > 0)
            worst = r;
        if (worst == i)
            return;
        swap_hits(&p[i], &p[worst]);
        i = worst;
    }
}

static void table_init(MemoryContext cx, struct table *t)
{
    t->cap = TABLE_START;
    t->used = 0;
    t->slots = MemoryContextAllocZero(cx, sizeof(struct counter) * TABLE_START);
}

static struct counter *table_slot(struct counter *slots, int cap, uint32 hash, const char *key,
                                  int len)
{
    int i = (int)(hash & (uint32)(cap - 1));
    while (slots[i].key != NULL &&
           !(slots[i].hash == hash && slots[i].len == len && memcmp(slots[i].key, key, len) == 0))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static void table_grow(MemoryContext cx, struct table *t)
{
    int cap = t->cap * 2;
    struct counter *slots = MemoryContextAllocZero(cx, sizeof(struct counter) * cap);
    for (int i = 0; i < t->cap; i++)
        if (t->slots[i].key != NULL)
            *table_slot(slots, cap, t->slots[i].hash, t->slots[i].key, t->slots[i].len) =
                t->slots[i];
    pfree(t->slots);
    t->slots = slots;
    t->cap = cap;
}

/* Counts the text argument arg of the call (if not NULL) in t. */
static void table_count(MemoryContext cx, struct table *t, FunctionCallInfo fcinfo, int arg)
{
    if (PG_ARGISNULL(arg))
        return;
    text *value = PG_GETARG_TEXT_PP(arg);
    const char *key = VARDATA_ANY(value);
    int len = (int)VARSIZE_ANY_EXHDR(value);
    uint32 hash = hash_bytes((const unsigned char *)key, len);
    struct counter *c = table_slot(t->slots, t->cap, hash, key, len);
    if (c->key == NULL) {
        if (2 * (t->used + 1) > t->cap) {
            table_grow(cx, t);
            c = table_slot(t->slots, t->cap, hash, key, len);
        }
        c->hash = hash;
        c->len = len;
        c->key = MemoryContextAlloc(cx, len + 1);
        memcpy(c->key, key, len);
        c->key[len] = '\0';
        t->used++;
    }
    c->n++;
}

PG_FUNCTION_INFO_V1(tix_hits_step);

Datum tix_hits_step(PG_FUNCTION_ARGS)
{
    MemoryContext cx;
    if (!AggCheckCallContext(fcinfo, &cx))
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("tix_hits_step called outside an aggregate")));
    struct state *st;
    if (PG_ARGISNULL(0)) {
        int64 keep = PG_ARGISNULL(9) ? 0 : PG_GETARG_INT32(9);
        if (keep < 0 || keep > KEEP_MAX)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("tix_hits: keep must be between 0 and %d", KEEP_MAX)));
        st = MemoryContextAllocZero(cx, sizeof(*st));
        st->keep = (int)keep;
        st->page_cap = Min(st->keep, 64);
        st->page = MemoryContextAlloc(cx, sizeof(struct hit) * st->page_cap + 1);
        table_init(cx, &st->category);
        table_init(cx, &st->city);
        table_init(cx, &st->month);
    } else {
        st = (struct state *)PG_GETARG_POINTER(0);
    }
    st->total++;

    struct hit h = {0};
    if (PG_ARGISNULL(1))
        h.nulls |= NULL_DIST;
    else
        h.distance = PG_GETARG_FLOAT8(1);
    if (PG_ARGISNULL(2))
        h.nulls |= NULL_SCORE;
    else
        h.score = PG_GETARG_FLOAT8(2);
    if (PG_ARGISNULL(3))
        h.nulls |= NULL_STARTS;
    else
        h.starts = PG_GETARG_TIMESTAMPTZ(3);
    if (!PG_ARGISNULL(4))
        h.id = *PG_GETARG_UUID_P(4);
    page_offer(st, &h);

    table_count(cx, &st->category, fcinfo, 5);
    table_count(cx, &st->city, fcinfo, 6);
    table_count(cx, &st->month, fcinfo, 7);
    if (!PG_ARGISNULL(8)) {
        int32 bits = PG_GETARG_INT32(8);
        for (int i = 0; i < N_BUCKETS; i++)
            if (bits & (1 << i))
                st->price[i]++;
    }
    PG_RETURN_POINTER(st);
}

static int cmp_counters_cb(const void *a, const void *b)
{
    const struct counter *x = *(const struct counter *const *)a;
    const struct counter *y = *(const struct counter *const *)b;
    int c = memcmp(x->key, y->key, Min(x->len, y->len));
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static void float8_json(StringInfo out, double v, bool is_null)
{
    if (is_null || isnan(v) || isinf(v))
        appendStringInfoString(out, "null");
    else
        appendStringInfoString(out, float8out_internal(v));
}

static void table_json(StringInfo out, const struct table *t)
{
    struct counter **sorted = palloc(sizeof(*sorted) * (t->used + 1));
    int n = 0;
    for (int i = 0; i < t->cap; i++)
        if (t->slots[i].key != NULL)
            sorted[n++] = &t->slots[i];
    qsort(sorted, n, sizeof(*sorted), cmp_counters_cb);
    appendStringInfoChar(out, '{');
    for (int i = 0; i < n; i++) {
        if (i > 0)
            appendStringInfoChar(out, ',');
        escape_json(out, sorted[i]->key);
        appendStringInfo(out, ":" INT64_FORMAT, sorted[i]->n);
    }
    appendStringInfoChar(out, '}');
    pfree(sorted);
}

/* Sorts the heap in place: the aggregate is declared FINALFUNC_MODIFY = READ_WRITE. */
PG_FUNCTION_INFO_V1(tix_hits_final);

Datum tix_hits_final(PG_FUNCTION_ARGS)
{
    struct state empty = {0};
    struct state *st = PG_ARGISNULL(0) ? &empty : (struct state *)PG_GETARG_POINTER(0);
    StringInfoData out;
    initStringInfo(&out);
    appendStringInfo(&out, "{\"total\":" INT64_FORMAT ",\"page\":[", st->total);
    if (st->n_page > 0)
        qsort(st->page, st->n_page, sizeof(struct hit), cmp_hits_cb);
    for (int i = 0; i < st->n_page; i++) {
        const struct hit *h = &st->page[i];
        char *id = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&h->id)));
        appendStringInfo(&out, "%s[\"%s\",", i > 0 ? "," : "", id);
        float8_json(&out, h->distance, h->nulls & NULL_DIST);
        appendStringInfoChar(&out, ',');
        float8_json(&out, h->score, h->nulls & NULL_SCORE);
        appendStringInfoChar(&out, ']');
    }
    /* (no hits: the empty state's tables have no slots, so they print as {}) */
    appendStringInfoString(&out, "],\"facets\":{\"category\":");
    table_json(&out, &st->category);
    appendStringInfoString(&out, ",\"city\":");
    table_json(&out, &st->city);
    appendStringInfoString(&out, ",\"month\":");
    table_json(&out, &st->month);
    appendStringInfoString(&out, ",\"price\":{");
    bool first = true;
    for (int i = 0; i < N_BUCKETS; i++) {
        if (st->price[i] == 0)
            continue;
        appendStringInfo(&out, "%s\"%s\":" INT64_FORMAT, first ? "" : ",", bucket_names[i],
                         st->price[i]);
        first = false;
    }
    appendStringInfoString(&out, "}}}");
    PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
