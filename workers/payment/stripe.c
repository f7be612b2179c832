/* stripe.c - the Stripe payment provider over libcurl (see provider.h)
 *
 * Requests are form-encoded POSTs with "Authorization: Bearer <secret key>", an
 * Idempotency-Key and a pinned Stripe-Version. A network error, a 5xx, a 429 or a 409 (Stripe's
 * answer while the same key is still in flight) is retried, with the SAME key, after a backoff
 * that doubles from backoff_ms with up to 50% random jitter, until `attempts` tries were made;
 * a Stripe-Should-Retry header overrides that choice either way. Every other answer is final:
 * 2xx is parsed, 4xx becomes TIX_EINVAL with Stripe's error type, code and message, except a
 * 401 or 403 (the secret key refused): TIX_ETRANSIENT, so the worker sets the call aside for its
 * later rounds while an operator fixes the key, instead of failing every buyer's payment.
 *
 * The secret key is never logged nor copied into an error.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "tix/buf.h"
#include "tix/log.h"
#include "tix/mem.h"

#include "provider.h"

#define STRIPE_VERSION "2024-06-20"
#define RESPONSE_MAX   (1024 * 1024)
#define BACKOFF_CAP_MS 5000

struct stripe {
    CURL *curl;
    char *base_url;
    char *auth_header; /* "Authorization: Bearer sk_..." */
    int timeout_ms;
    int attempts;
    int backoff_ms;
};

/* One HTTP answer. */
struct answer {
    long status; /* 0: no answer (network error) */
    struct tix_buf body;
    int should_retry; /* Stripe-Should-Retry: -1 absent, 0 false, 1 true */
    char curl_error[CURL_ERROR_SIZE];
};

static size_t body_cb(char *data, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    return tix_buf_append(&a->body, data, size * n) == TIX_OK ? size * n : 0;
}

static size_t header_cb(char *line, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    static const char name[] = "Stripe-Should-Retry:";
    size_t len = size * n;
    if (len > sizeof(name) && strncasecmp(line, name, sizeof(name) - 1) == 0) {
        const char *v = line + sizeof(name) - 1;
        while (*v == ' ')
            v++;
        a->should_retry = strncasecmp(v, "true", 4) == 0 ? 1 : 0;
    }
    return len;
}

/* Appends "&key=value" (both URL-encoded; no '&' before the first pair). */
static void form_add(CURL *c, struct tix_buf *form, const char *key, const char *value)
{
    char *k = curl_easy_escape(c, key, 0), *v = curl_easy_escape(c, value, 0);
    if (k == NULL || v == NULL)
        abort();
    tix_buf_printf(form, "%s%s=%s", form->len > 0 ? "&" : "", k, v);
    curl_free(k);
    curl_free(v);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void attempt(struct stripe *s, const char *path, const char *key, const char *form,
                    struct answer *a)
{
    char url[1024], idem[320];
    snprintf(url, sizeof(url), "%s%s", s->base_url, path);
    snprintf(idem, sizeof(idem), "Idempotency-Key: %s", key);
    struct curl_slist *h = curl_slist_append(NULL, s->auth_header);
    h = curl_slist_append(h, idem);
    h = curl_slist_append(h, "Stripe-Version: " STRIPE_VERSION);
    h = curl_slist_append(h, "Content-Type: application/x-www-form-urlencoded");
    h = curl_slist_append(h, "Expect:");
    tix_buf_reset(&a->body);
    a->status = 0;
    a->should_retry = -1;
    a->curl_error[0] = '\0';
    CURL *c = s->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(s->timeout_ms < 5000 ? s->timeout_ms : 5000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, a->curl_error);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    else if (a->curl_error[0] == '\0')
        snprintf(a->curl_error, sizeof(a->curl_error), "%s", curl_easy_strerror(rc));
    curl_slist_free_all(h);
}

static bool is_retryable(const struct answer *a)
{
    if (a->status == 0)
        return true;
    if (a->should_retry >= 0)
        return a->should_retry == 1;
    return a->status >= 500 || a->status == 429 || a->status == 409;
}

/* POSTs form to path with key, retrying as described above. *tries = attempts made. */
static void post(struct stripe *s, const char *path, const char *key, const char *form,
                 struct answer *a, int *tries)
{
    int64_t wait = s->backoff_ms;
    for (*tries = 1;; (*tries)++) {
        attempt(s, path, key, form, a);
        if (!is_retryable(a) || *tries >= s->attempts)
            return;
        int64_t jitter = (int64_t)randombytes_uniform((uint32_t)(wait / 2 + 1));
        tix_log_warn("stripe call failed, retrying with the same idempotency key",
                     "path=%s idempotency_key=%s attempt=%d status=%ld detail=\"%s\" "
                     "wait_ms=%" PRId64,
                     path, key, *tries, a->status, a->curl_error, wait + jitter);
        sleep_ms(wait + jitter);
        wait = wait * 2 > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : wait * 2;
    }
}

static void copy_str(const json_t *obj, const char *key, char *out, size_t size)
{
    const char *v = json_string_value(json_object_get(obj, key));
    snprintf(out, size, "%s", v != NULL ? v : "");
}

/* Turns a final non-2xx answer (or retries exhausted) into a tix_rc with Stripe's reason. */
static enum tix_rc failure(const struct answer *a, const char *path, int tries, char *code,
                           size_t code_size, char *decline, size_t decline_size,
                           struct tix_err *err)
{
    if (a->status == 0 || is_retryable(a))
        return tix_err_set(err, TIX_ETRANSIENT, NULL, "stripe %s: %s after %d attempt(s)", path,
                           a->status == 0 ? a->curl_error : "server error", tries);
    if (a->status == 401 || a->status == 403) /* ours to fix, not the buyer's: wait for it */
        return tix_err_set(err, TIX_ETRANSIENT, NULL,
                           "stripe %s %ld: the secret key was refused (check "
                           "TIXMO_STRIPE_SECRET_KEY)",
                           path, a->status);
    json_t *root = json_loadb(a->body.ptr, a->body.len, 0, NULL);
    const json_t *e = json_object_get(root, "error");
    char type[64], message[160], param[64];
    copy_str(e, "type", type, sizeof(type));
    copy_str(e, "code", code, code_size);
    copy_str(e, "message", message, sizeof(message));
    copy_str(e, "param", param, sizeof(param));
    if (decline != NULL)
        copy_str(e, "decline_code", decline, decline_size);
    json_decref(root);
    return tix_err_set(err, TIX_EINVAL, param, "stripe %s %ld: %s %s: %s", path, a->status,
                       type[0] ? type : "error", code[0] ? code : "-",
                       message[0] ? message : "no message");
}

/* Parses a 2xx body as a JSON object; NULL with TIX_EINTERNAL when it is not one. */
static json_t *parse_ok(const struct answer *a, const char *path, struct tix_err *err)
{
    json_t *root = json_loadb(a->body.ptr, a->body.len, 0, NULL);
    if (!json_is_object(root) || json_string_value(json_object_get(root, "id")) == NULL) {
        json_decref(root);
        tix_err_set(err, TIX_EINTERNAL, NULL, "stripe %s %ld: unreadable answer", path, a->status);
        return NULL;
    }
    return root;
}

/* What one call reports besides its object. */
struct outcome {
    int *attempts;
    int *http_status;
    char *code;
    size_t code_size;
    char *decline; /* may be NULL */
    size_t decline_size;
};

/* POSTs form to path with key; on a 2xx *root is the answer (new reference). */
static enum tix_rc call(struct stripe *s, const char *path, const char *key,
                        const struct tix_buf *form, const struct outcome *o, json_t **root,
                        struct tix_err *err)
{
    *root = NULL;
    struct answer a = {0};
    tix_buf_init(&a.body, RESPONSE_MAX);
    post(s, path, key, form->ptr, &a, o->attempts);
    *o->http_status = (int)a.status;
    enum tix_rc rc = TIX_OK;
    if (a.status >= 200 && a.status < 300) {
        *root = parse_ok(&a, path, err);
        rc = *root != NULL ? TIX_OK : TIX_EINTERNAL;
    } else {
        rc = failure(&a, path, *o->attempts, o->code, o->code_size, o->decline, o->decline_size,
                     err);
    }
    tix_buf_deinit(&a.body);
    return rc;
}

static enum tix_rc create_intent(void *ctx, const struct tix_intent_request *req,
                                 struct tix_intent *out, struct tix_err *err)
{
    struct stripe *s = ctx;
    memset(out, 0, sizeof(*out));
    char amount[24], currency[8];
    snprintf(amount, sizeof(amount), "%" PRId64, req->amount_minor);
    snprintf(currency, sizeof(currency), "%s", req->currency);
    for (char *c = currency; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    struct tix_buf form;
    tix_buf_init(&form, 0);
    form_add(s->curl, &form, "amount", amount);
    form_add(s->curl, &form, "currency", currency);
    form_add(s->curl, &form, "automatic_payment_methods[enabled]", "true");
    form_add(s->curl, &form, "metadata[order_id]", req->order_id);
    form_add(s->curl, &form, "metadata[event_id]", req->event_id);
    struct outcome o = {&out->attempts,          &out->http_status, out->error_code,
                        sizeof(out->error_code), out->decline_code, sizeof(out->decline_code)};
    json_t *root = NULL;
    enum tix_rc rc = call(s, "/v1/payment_intents", req->idempotency_key, &form, &o, &root, err);
    copy_str(root, "id", out->id, sizeof(out->id));
    copy_str(root, "client_secret", out->client_secret, sizeof(out->client_secret));
    copy_str(root, "status", out->status, sizeof(out->status));
    copy_str(root, "currency", out->currency, sizeof(out->currency));
    out->amount_minor = json_integer_value(json_object_get(root, "amount"));
    json_decref(root);
    tix_buf_deinit(&form);
    return rc;
}

static enum tix_rc create_refund(void *ctx, const struct tix_refund_request *req,
                                 struct tix_refund *out, struct tix_err *err)
{
    struct stripe *s = ctx;
    memset(out, 0, sizeof(*out));
    char amount[24];
    snprintf(amount, sizeof(amount), "%" PRId64, req->amount_minor);
    struct tix_buf form;
    tix_buf_init(&form, 0);
    form_add(s->curl, &form, "payment_intent", req->payment_intent_id);
    form_add(s->curl, &form, "amount", amount);
    form_add(s->curl, &form, "metadata[order_id]", req->order_id);
    form_add(s->curl, &form, "metadata[event_id]", req->event_id);
    struct outcome o = {
        &out->attempts, &out->http_status, out->error_code, sizeof(out->error_code), NULL, 0};
    json_t *root = NULL;
    enum tix_rc rc = call(s, "/v1/refunds", req->idempotency_key, &form, &o, &root, err);
    copy_str(root, "id", out->id, sizeof(out->id));
    copy_str(root, "status", out->status, sizeof(out->status));
    out->amount_minor = json_integer_value(json_object_get(root, "amount"));
    json_decref(root);
    tix_buf_deinit(&form);
    return rc;
}

static void destroy(void *ctx)
{
    struct stripe *s = ctx;
    if (s == NULL)
        return;
    curl_easy_cleanup(s->curl);
    free(s->base_url);
    sodium_memzero(s->auth_header, strlen(s->auth_header));
    free(s->auth_header);
    free(s);
}

void tix_stripe_provider_init(struct tix_payment_provider *p, const struct tix_stripe_options *o)
{
    struct stripe *s = tix_xcalloc(1, sizeof(*s));
    s->curl = curl_easy_init();
    if (s->curl == NULL)
        abort();
    s->base_url = tix_xstrdup(o->base_url);
    size_t n = strlen(s->base_url);
    while (n > 0 && s->base_url[n - 1] == '/')
        s->base_url[--n] = '\0';
    size_t len = strlen(o->secret_key) + 32;
    s->auth_header = tix_xmalloc(len);
    snprintf(s->auth_header, len, "Authorization: Bearer %s", o->secret_key);
    s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    s->attempts = o->attempts > 0 ? o->attempts : 1;
    s->backoff_ms = o->backoff_ms > 0 ? o->backoff_ms : 200;
    *p = (struct tix_payment_provider){
        .name = "stripe",
        .ctx = s,
        .create_intent = create_intent,
        .create_refund = create_refund,
        .destroy = destroy,
    };
}
