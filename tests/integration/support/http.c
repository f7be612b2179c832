/* http.c - see http.h */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "harness.h"
#include "http.h"
#include "projection.h"
#include "tix/buf.h"
#include "tix/ids.h"
#include "tix/jwt.h"
#include "tix/stripe_sig.h"

static bool is_stream(const struct tix_http_resp *r)
{
    return strncmp(r->content_type, "text/event-stream", 17) == 0;
}

struct sink {
    struct tix_buf buf;
    const struct tix_http_resp *resp;
};

/* Keeps the body; a stream (text/event-stream) is cut after its first chunk. */
static size_t write_cb(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    tix_buf_append(&s->buf, data, size * n);
    return is_stream(s->resp) ? 0 : size * n;
}

static void copy_header(const char *line, size_t len, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return;
    const char *v = line + n + 1;
    while (*v == ' ')
        v++;
    size_t vlen = len - (size_t)(v - line);
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
        vlen--;
    snprintf(out, size, "%.*s", (int)vlen, v);
}

static size_t header_cb(char *line, size_t size, size_t n, void *arg)
{
    struct tix_http_resp *r = arg;
    size_t len = size * n;
    copy_header(line, len, "Content-Type", r->content_type, sizeof(r->content_type));
    copy_header(line, len, "Location", r->location, sizeof(r->location));
    copy_header(line, len, "X-Request-Id", r->request_id, sizeof(r->request_id));
    copy_header(line, len, "Retry-After", r->retry_after, sizeof(r->retry_after));
    copy_header(line, len, "RateLimit-Remaining", r->ratelimit_remaining,
                sizeof(r->ratelimit_remaining));
    copy_header(line, len, "Allow", r->allow, sizeof(r->allow));
    copy_header(line, len, "Idempotent-Replayed", r->replayed, sizeof(r->replayed));
    return len;
}

long tix_http(const char *method, const char *path, const char *token, const char *body,
              const char *const *extra_headers, struct tix_http_resp *out)
{
    memset(out, 0, sizeof(*out));
    char url[1024], auth[2048];
    snprintf(url, sizeof(url), "http://127.0.0.1:%s%s", tix_test_env("TIXMO_HTTP_PORT"), path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    bool has_type = false;
    for (int i = 0; extra_headers != NULL && extra_headers[i] != NULL; i++) {
        h = curl_slist_append(h, extra_headers[i]);
        has_type = has_type || strncasecmp(extra_headers[i], "Content-Type:", 13) == 0;
    }
    if (body != NULL && !has_type)
        h = curl_slist_append(h, "Content-Type: application/json");
    struct sink sink = {.resp = out};
    tix_buf_init(&sink.buf, 0);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && is_stream(out)))
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    out->body = tix_buf_steal(&sink.buf);
    out->json = json_loads(out->body, 0, NULL);
    return out->status;
}

long tix_http_stripe_webhook(const char *body, struct tix_http_resp *out)
{
    char sig[TIX_STRIPE_SIG_SIGNED_MAX], header[TIX_STRIPE_SIG_SIGNED_MAX + 32];
    tix_stripe_sig_sign(body, strlen(body), tix_test_env("TIXMO_STRIPE_WEBHOOK_SECRET"),
                        tix_now_us() / 1000000, sig, sizeof(sig));
    snprintf(header, sizeof(header), "Stripe-Signature: %s", sig);
    const char *const headers[] = {header, NULL};
    struct tix_http_resp r;
    long status =
        tix_http("POST", "/api/v1/payments/webhook", NULL, body, headers, out != NULL ? out : &r);
    if (out == NULL)
        tix_http_resp_deinit(&r);
    return status;
}

long tix_http_stripe_intent_event(const char *evt, const char *type, const char *intent,
                                  long long amount, const char *order, const char *event)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"id\":\"%s\",\"object\":\"event\",\"type\":\"%s\",\"data\":{\"object\":{\"id\":"
             "\"%s\",\"object\":\"payment_intent\",\"amount\":%lld,\"currency\":\"eur\","
             "\"metadata\":{\"order_id\":\"%s\",\"event_id\":\"%s\"}}}}",
             evt, type, intent, amount, order, event);
    return tix_http_stripe_webhook(body, NULL);
}

void tix_http_resp_deinit(struct tix_http_resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

const char *tix_http_str(const struct tix_http_resp *r, const char *key)
{
    return json_string_value(json_object_get(r->json, key));
}

bool tix_http_has_error_field(const struct tix_http_resp *r, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(r->json, "errors"), i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        if (f != NULL && strcmp(f, field) == 0)
            return true;
    }
    return false;
}

static bool gateway_up(void *ctx)
{
    (void)ctx;
    struct tix_http_resp r;
    long status = tix_http("GET", "/readyz", NULL, NULL, NULL, &r);
    tix_http_resp_deinit(&r);
    return status == 200;
}

/* Whether the projector made every projection's read model (the rm views queries read). */
static bool read_models_up(void *ctx)
{
    struct tix_db *db = ctx;
    int n = 0;
    while (tix_projections[n] != NULL)
        n++;
    return tix_test_scalar(db, "SELECT count(*) FROM projections", 0, NULL) == n;
}

void tix_test_stack_start(struct tix_test_stack *s, const char *const *extra_env)
{
    s->processor = tix_test_spawn("tixmo-processor", NULL);
    s->projector = tix_test_spawn("tixmo-projector", NULL);
    s->gateway = tix_test_spawn("tixmo-gateway", extra_env);
    cr_assert(tix_test_wait(gateway_up, NULL, 20000), "the gateway did not become ready");
    struct tix_db *db = tix_test_db("TIXMO_DB_URL");
    cr_assert(tix_test_wait(read_models_up, db, 20000),
              "the projector did not make the read models");
    tix_db_close(db);
}

void tix_test_stack_stop(struct tix_test_stack *s)
{
    const pid_t pids[] = {s->gateway, s->processor, s->projector, s->worker};
    tix_test_stop_all(pids, sizeof(pids) / sizeof(pids[0]));
}

char *tix_test_token(const char *user_id, int ttl_s)
{
    const char *secret = getenv("TIXMO_JWT_SECRET");
    if (secret == NULL || secret[0] == '\0')
        secret = "dev-only-jwt-secret-change-me-0123456789abcdef";
    int64_t now = tix_now_us() / 1000000;
    json_t *claims =
        json_pack("{ss ss sI sI ss}", "sub", user_id, "typ", "access", "iat", (json_int_t)now,
                  "exp", (json_int_t)(now + ttl_s), "sid", "00000000-0000-7000-8000-000000000000");
    char *token = NULL;
    tix_jwt_sign(claims, (const uint8_t *)secret, strlen(secret), &token, NULL);
    json_decref(claims);
    return token;
}
