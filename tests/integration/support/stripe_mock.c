/* stripe_mock.c - see stripe_mock.h */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "harness.h"
#include "stripe_mock.h"
#include "tix/buf.h"

static size_t write_cb(char *data, size_t size, size_t n, void *arg)
{
    tix_buf_append(arg, data, size * n);
    return size * n;
}

long tix_stripe_mock_call(const char *method, const char *path, const char *body, json_t **out)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", tix_test_env("TIXMO_STRIPE_URL"), path);
    CURL *c = curl_easy_init();
    struct tix_buf buf;
    tix_buf_init(&buf, 0);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    cr_assert_eq(rc, CURLE_OK, "the Stripe stand-in at %s does not answer: %s", url,
                 curl_easy_strerror(rc));
    if (out != NULL)
        *out = buf.len > 0 ? json_loadb(buf.ptr, buf.len, 0, NULL) : NULL;
    tix_buf_deinit(&buf);
    return status;
}

const char *tix_stripe_mock_header(const json_t *entry, const char *name)
{
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(json_object_get(entry, "request"), "headers"), key, v)
    {
        if (strcasecmp(key, name) == 0)
            return json_is_array(v) ? json_string_value(json_array_get(v, 0))
                                    : json_string_value(v);
    }
    return NULL;
}

json_t *tix_stripe_mock_requests(const char *url, const char *key)
{
    json_t *all = NULL;
    cr_assert_eq(tix_stripe_mock_call("GET", "/__admin/requests", NULL, &all), 200);
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(all, "requests"), i, e)
    {
        const char *u = json_string_value(json_object_get(json_object_get(e, "request"), "url"));
        const char *k = tix_stripe_mock_header(e, "Idempotency-Key");
        if (u != NULL && strcmp(u, url) == 0 && k != NULL && strcmp(k, key) == 0)
            json_array_insert(out, 0, e); /* the journal lists the newest first */
    }
    json_decref(all);
    return out;
}

void tix_stripe_mock_reset_scenarios(void)
{
    cr_assert_eq(tix_stripe_mock_call("POST", "/__admin/scenarios/reset", NULL, NULL), 200);
}
