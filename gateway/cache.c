/* cache.c - reads that don't block the loop, and the thread's cache of read-model rows
 *
 * Each thread reads through its own asynchronous connection (lib/apg.c), which also LISTENs on
 * channel "tix_rm". Read-model tables notify "<table>:<key>" on every change of a row that
 * matters here (triggers from schema/008 and the projections' DDL) and "*" when a projection's
 * views move to another version. A notification drops the cached rows it names; "*" and a lost
 * connection drop everything.
 *
 * Why a cached row is never staler than the read model, beyond the notification's trip: the
 * rows are read on the connection that receives the notifications, and Postgres sends a
 * notification after its transaction committed and only between the listener's statements. A
 * read whose snapshot missed a change is therefore followed, on the same connection, by that
 * change's notification, which drops the row it had put in. A row read after the change is
 * already new. So a role taken away, a key revoked or an organization closed is seen by every
 * request this thread starts after the notification arrived (normally well under a millisecond
 * after the commit). TIXMO_GW_CACHE_TTL_MS (default 5 s) bounds the age of a row in any case (a
 * notification that never comes, e.g. a table without its trigger).
 *
 * Invariants: slots are direct-mapped per kind (a colliding key replaces the older row); a slot
 * owns its PGresult; nothing here is shared between threads.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix/apg.h"
#include "tix/ids.h"
#include "tix/jwt.h"
#include "tix/mem.h"

#include "pipeline.h"

#define SLOTS     4096 /* per kind and thread */
#define TOKENS    1024 /* verified access tokens per thread */
#define TOKEN_MAX 4096 /* longer tokens are verified every time */

struct slot {
    char key[80];
    char group[80];
    PGresult *res; /* NULL: empty */
    int64_t loaded_ms;
    char *memo; /* derived from res (an answer rendered from it), or NULL; wiped when dropped */
    size_t memo_len;
};

/* A verified access token, known by a keyed 128-bit hash: the claims the gateway uses, until
 * exp. */
struct token_slot {
    unsigned char hash[crypto_shorthash_siphashx24_BYTES];
    size_t len; /* 0: empty */
    char sub[40];
    char sid[40];
    int64_t exp_s;
};

struct tix_gw_cache {
    int ttl_ms;
    struct slot *slots[TIX_CACHE_KINDS];
    struct token_slot *tokens;
    unsigned char token_key[crypto_shorthash_siphashx24_KEYBYTES]; /* random: no aimed hashes */
};

/* Which tables' notifications drop a kind's rows by key, and which by group. */
static const char *const key_tables[TIX_CACHE_KINDS][3] = {
    [TIX_CACHE_USER] = {"users", "subject_keys", NULL},
    [TIX_CACHE_MEMBER] = {"organization_members", NULL},
    [TIX_CACHE_APIKEY] = {"api_keys", NULL},
    [TIX_CACHE_SESSION] = {"sessions", NULL},
};
static const char *const group_tables[TIX_CACHE_KINDS][2] = {
    [TIX_CACHE_USER] = {NULL},
    [TIX_CACHE_MEMBER] = {"organizations", NULL},
    [TIX_CACHE_APIKEY] = {"organizations", NULL},
    [TIX_CACHE_SESSION] = {NULL},
};

struct tix_gw_cache *tix_gw_cache_create(int ttl_ms)
{
    struct tix_gw_cache *c = tix_xcalloc(1, sizeof(*c));
    c->ttl_ms = ttl_ms;
    for (int k = 0; k < TIX_CACHE_KINDS; k++)
        c->slots[k] = tix_xcalloc(SLOTS, sizeof(struct slot));
    c->tokens = tix_xcalloc(TOKENS, sizeof(*c->tokens));
    randombytes_buf(c->token_key, sizeof(c->token_key));
    return c;
}

static void empty(struct slot *s)
{
    PQclear(s->res);
    s->res = NULL;
    s->key[0] = '\0';
    if (s->memo != NULL) {
        sodium_memzero(s->memo, s->memo_len);
        free(s->memo);
        s->memo = NULL;
    }
}

void tix_gw_cache_clear(struct tix_gw_cache *c)
{
    for (int k = 0; k < TIX_CACHE_KINDS; k++)
        for (int i = 0; i < SLOTS; i++)
            if (c->slots[k][i].res != NULL)
                empty(&c->slots[k][i]);
}

void tix_gw_cache_destroy(struct tix_gw_cache *c)
{
    if (c == NULL)
        return;
    tix_gw_cache_clear(c);
    for (int k = 0; k < TIX_CACHE_KINDS; k++)
        free(c->slots[k]);
    sodium_memzero(c->tokens, TOKENS * sizeof(*c->tokens));
    free(c->tokens);
    free(c);
}

static struct slot *slot_of(struct tix_gw_cache *c, enum tix_gw_cache_kind kind, const char *key)
{
    return &c->slots[kind][tix_partition_of(key, strlen(key), SLOTS)];
}

static bool is_listed(const char *const *tables, const char *table, size_t len)
{
    for (int i = 0; tables[i] != NULL; i++)
        if (strlen(tables[i]) == len && strncmp(tables[i], table, len) == 0)
            return true;
    return false;
}

static void drop_group(struct tix_gw_cache *c, enum tix_gw_cache_kind kind, const char *group)
{
    for (int i = 0; i < SLOTS; i++) {
        struct slot *s = &c->slots[kind][i];
        if (s->res != NULL && s->group[0] != '\0' && strcmp(s->group, group) == 0)
            empty(s);
    }
}

void tix_gw_cache_invalidate(struct tix_gw_cache *c, const char *payload)
{
    const char *colon = strchr(payload, ':');
    if (colon == NULL) { /* "*", or anything we don't understand: drop everything */
        tix_gw_cache_clear(c);
        return;
    }
    size_t len = (size_t)(colon - payload);
    const char *key = colon + 1;
    for (int k = 0; k < TIX_CACHE_KINDS; k++) {
        if (is_listed(key_tables[k], payload, len)) {
            struct slot *s = slot_of(c, (enum tix_gw_cache_kind)k, key);
            if (s->res != NULL && strcmp(s->key, key) == 0)
                empty(s);
        }
        if (is_listed(group_tables[k], payload, len))
            drop_group(c, (enum tix_gw_cache_kind)k, key);
    }
}

/* ---- reads */

struct read {
    struct tix_req *req;
    tix_gw_rows_cb done;
    void *ctx;
    bool is_cached;
    enum tix_gw_cache_kind kind;
    char key[80];
    int group_col;
};

static void read_cb(void *arg, enum tix_rc rc, PGresult *res)
{
    struct read *r = arg;
    struct tix_gw_thread *th = r->req->th;
    th->waiting--;
    if (rc == TIX_OK && r->is_cached && th->cache != NULL) {
        struct slot *s = slot_of(th->cache, r->kind, r->key);
        empty(s);
        snprintf(s->key, sizeof(s->key), "%s", r->key);
        bool has_group = r->group_col >= 0 && PQntuples(res) > 0 && r->group_col < PQnfields(res);
        snprintf(s->group, sizeof(s->group), "%s",
                 has_group ? PQgetvalue(res, 0, r->group_col) : "");
        s->res = res;
        s->loaded_ms = tix_mono_ms();
        res = NULL; /* the slot's now */
        r->done(r->req, s->res, r->ctx);
    } else {
        r->done(r->req, rc == TIX_OK ? res : NULL, r->ctx);
    }
    PQclear(res);
    free(r);
}

static void start_read(struct read *r, const char *name, const char *sql, int n,
                       const char *const *params)
{
    struct tix_gw_thread *th = r->req->th;
    if (th->apg == NULL) {
        r->done(r->req, NULL, r->ctx);
        free(r);
        return;
    }
    th->waiting++;
    tix_apg_query(th->apg, name, sql, n, params, read_cb, r);
}

void tix_gw_read_async(struct tix_req *req, const char *name, const char *sql, int n,
                       const char *const *params, tix_gw_rows_cb done, void *ctx)
{
    struct read *r = tix_xcalloc(1, sizeof(*r));
    *r = (struct read){.req = req, .done = done, .ctx = ctx};
    start_read(r, name, sql, n, params);
}

void tix_gw_read_cached(struct tix_req *req, enum tix_gw_cache_kind kind, const char *key,
                        int group_col, const char *name, const char *sql, int n,
                        const char *const *params, tix_gw_rows_cb done, void *ctx)
{
    struct tix_gw_cache *c = req->th->cache;
    struct slot *s = c != NULL ? slot_of(c, kind, key) : NULL;
    if (s != NULL && s->res != NULL && strcmp(s->key, key) == 0) {
        if (tix_mono_ms() - s->loaded_ms < c->ttl_ms) {
            done(req, s->res, ctx);
            return;
        }
        empty(s);
    }
    struct read *r = tix_xcalloc(1, sizeof(*r));
    *r = (struct read){.req = req,
                       .done = done,
                       .ctx = ctx,
                       .is_cached = true,
                       .kind = kind,
                       .group_col = group_col};
    snprintf(r->key, sizeof(r->key), "%s", key);
    start_read(r, name, sql, n, params);
}

/* ---- memos */

/* The live slot of (kind, key), or NULL. */
static struct slot *live(struct tix_gw_cache *c, enum tix_gw_cache_kind kind, const char *key)
{
    struct slot *s = c != NULL ? slot_of(c, kind, key) : NULL;
    if (s == NULL || s->res == NULL || strcmp(s->key, key) != 0 ||
        tix_mono_ms() - s->loaded_ms >= c->ttl_ms)
        return NULL;
    return s;
}

const char *tix_gw_cache_memo(struct tix_gw_thread *th, enum tix_gw_cache_kind kind,
                              const char *key, size_t *len)
{
    struct slot *s = live(th->cache, kind, key);
    if (s == NULL || s->memo == NULL)
        return NULL;
    *len = s->memo_len;
    return s->memo;
}

void tix_gw_cache_set_memo(struct tix_gw_thread *th, enum tix_gw_cache_kind kind, const char *key,
                           const char *text, size_t len)
{
    struct slot *s = live(th->cache, kind, key);
    if (s == NULL || s->memo != NULL)
        return;
    s->memo = tix_xmalloc(len + 1);
    memcpy(s->memo, text, len);
    s->memo[len] = '\0';
    s->memo_len = len;
}

/* ---- verified access tokens */

static struct token_slot *token_slot(struct tix_gw_cache *c, const char *token, size_t len,
                                     unsigned char hash[crypto_shorthash_siphashx24_BYTES])
{
    crypto_shorthash_siphashx24(hash, (const unsigned char *)token, len, c->token_key);
    uint64_t h;
    memcpy(&h, hash, sizeof(h));
    return &c->tokens[h % TOKENS];
}

bool tix_gw_cache_token_get(struct tix_gw_cache *c, const char *token, int64_t now_s,
                            struct tix_principal *who)
{
    size_t len = strnlen(token, TOKEN_MAX + 1);
    if (c == NULL || len > TOKEN_MAX || len == 0)
        return false;
    unsigned char hash[crypto_shorthash_siphashx24_BYTES];
    const struct token_slot *t = token_slot(c, token, len, hash);
    if (t->len != len || sodium_memcmp(t->hash, hash, sizeof(hash)) != 0 ||
        t->exp_s <= now_s - TIX_JWT_LEEWAY_S)
        return false;
    who->kind = TIX_PRINCIPAL_USER;
    snprintf(who->id, sizeof(who->id), "%s", t->sub);
    snprintf(who->session_id, sizeof(who->session_id), "%s", t->sid);
    snprintf(who->actor, sizeof(who->actor), "user:%s", t->sub);
    return true;
}

void tix_gw_cache_token_put(struct tix_gw_cache *c, const char *token, int64_t exp_s,
                            const struct tix_principal *who)
{
    size_t len = strnlen(token, TOKEN_MAX + 1);
    if (c == NULL || len > TOKEN_MAX || len == 0)
        return;
    unsigned char hash[crypto_shorthash_siphashx24_BYTES];
    struct token_slot *t = token_slot(c, token, len, hash);
    memcpy(t->hash, hash, sizeof(hash));
    t->len = len;
    snprintf(t->sub, sizeof(t->sub), "%s", who->id);
    snprintf(t->sid, sizeof(t->sid), "%s", who->session_id);
    t->exp_s = exp_s;
}
