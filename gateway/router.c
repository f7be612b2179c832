/* router.c - matching a method and path against the route table
 *
 * Patterns are literal segments and {name} parameters; the match is segment by segment, exact
 * for literals, so "/api/v1/organizations/{id}" never matches ".../organizations/x/members".
 * Parameter values are percent-decoded and refused when empty, longer than 127 bytes or when
 * they hold a slash or a control character (such a path matches no route: 404).
 */
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

/* The next segment of *p (without slashes) into seg/len; false at the end. */
static bool next_segment(const char **p, const char **seg, size_t *len)
{
    if (**p != '/')
        return false;
    (*p)++;
    *seg = *p;
    while (**p != '\0' && **p != '/')
        (*p)++;
    *len = (size_t)(*p - *seg);
    return true;
}

static bool decode_param(const char *seg, size_t len, char *out, size_t size)
{
    char raw[512];
    if (len == 0 || len >= sizeof(raw))
        return false;
    memcpy(raw, seg, len);
    raw[len] = '\0';
    size_t n = 0;
    char *dec = evhttp_uridecode(raw, 0, &n);
    bool ok = dec != NULL && n > 0 && n < size && strlen(dec) == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)dec[i] >= 0x20 && dec[i] != '/' && dec[i] != 0x7f;
    if (ok)
        memcpy(out, dec, n + 1);
    free(dec);
    return ok;
}

/* Matches path against pattern, filling req's parameters. */
static bool match(const char *pattern, const char *path, struct tix_req *req)
{
    const char *pp = pattern, *ps = path, *pseg = NULL, *sseg = NULL;
    size_t plen = 0, slen = 0;
    req->n_params = 0;
    for (;;) {
        bool has_p = next_segment(&pp, &pseg, &plen);
        bool has_s = next_segment(&ps, &sseg, &slen);
        if (!has_p || !has_s)
            return !has_p && !has_s && *ps == '\0';
        if (plen > 2 && pseg[0] == '{' && pseg[plen - 1] == '}') {
            if (req->n_params == TIX_GW_MAX_PARAMS ||
                !decode_param(sseg, slen, req->params[req->n_params], sizeof(req->params[0])))
                return false;
            req->param_names[req->n_params] = pseg + 1;
            req->param_name_lens[req->n_params] = plen - 2;
            req->n_params++;
        } else if (plen != slen || memcmp(pseg, sseg, plen) != 0) {
            return false;
        }
    }
}

const struct tix_route *tix_gw_route_match(const char *method, const char *path,
                                           struct tix_req *req, bool *is_path_known, char *allow,
                                           size_t allow_size)
{
    *is_path_known = false;
    size_t used = 0;
    allow[0] = '\0';
    for (const struct tix_route *r = tix_routes; r->method != NULL; r++) {
        if (!match(r->pattern, path, req))
            continue;
        if (strcmp(r->method, method) == 0)
            return r;
        *is_path_known = true;
        if (strstr(allow, r->method) == NULL && used + strlen(r->method) + 3 < allow_size)
            used += (size_t)snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "",
                                     r->method);
    }
    req->n_params = 0;
    return NULL;
}

const char *tix_gw_param(const struct tix_req *req, const char *name)
{
    size_t len = strlen(name);
    for (int i = 0; i < req->n_params; i++)
        if (req->param_name_lens[i] == len && memcmp(req->param_names[i], name, len) == 0)
            return req->params[i];
    return NULL;
}
