/*
 * return_to.c - return-to in the login flow (see return_to.h).
 *
 * Proxies: nginx's auth_request answers a 401 with
 *     error_page 401 =302 /login?rd=$scheme://$http_host$request_uri;
 * which is an internal redirect, not a real one: the browser would get a 302
 * with no Location, and the unescaped $request_uri would split the rd value
 * at its first '&'. The /login location also sends X-Original-URL (nginx
 * keeps $request_uri across the internal redirect), so route_login sees the
 * original URL whole and answers with a real redirect to /login?rd=<escaped
 * URL>; when the browser comes back, X-Original-URL names /login itself and
 * the page is served. A client that talks to magicd directly can send the
 * same headers, which gains it nothing: the redirect always goes to
 * magicd's own /login, and the URL is checked there like any rd.
 */
#include "app/return_to.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int return_to_allowed(const conf_auth_t *c, const char *url, size_t n, char out[RETURN_URL_MAX + 1])
{
    const char *pats[CONF_MAX_RETURN_URLS];
    for (int i = 0; i < c->nallowed_return_urls; i++)
        pats[i] = c->allowed_return_urls[i];
    out[0] = 0;
    return return_url_allowed(url, n, pats, c->nallowed_return_urls, out, RETURN_URL_MAX + 1);
}

static int rt_copy(char *out, size_t outsz, size_t at, http_str_t s)
{
    if (at + s.n >= outsz)
        return -1;
    memcpy(out + at, s.p, s.n);
    out[at + s.n] = 0;
    return (int)(at + s.n);
}

int return_to_from_proxy(const http_request_t *req, char *out, size_t outsz)
{
    const http_str_t *orig = http_header(req, "x-original-url");
    if (orig && orig->n)
        return rt_copy(out, outsz, 0, *orig) > 0 ? 1 : -1;
    const http_str_t *proto = http_header(req, "x-forwarded-proto");
    const http_str_t *host = http_header(req, "x-forwarded-host");
    const http_str_t *uri = http_header(req, "x-forwarded-uri");
    if (!proto || !host || !uri || !proto->n || !host->n || !uri->n)
        return 0;
    int at = rt_copy(out, outsz, 0, *proto);
    if (at < 0 || (size_t)at + 3 >= outsz)
        return -1;
    memcpy(out + at, "://", 4);
    at = rt_copy(out, outsz, (size_t)at + 3, *host);
    return at > 0 && rt_copy(out, outsz, (size_t)at, *uri) > 0 ? 1 : -1;
}

int return_to_is_login(const char *url)
{
    const char *p = url;
    const char *s = strstr(url, "://");
    if (s) {
        p = strchr(s + 3, '/');
        if (!p)
            return 0;
    }
    size_t n = strcspn(p, "?#");
    return n == 6 && !memcmp(p, "/login", 6);
}

int return_to_wants_json(const http_request_t *req)
{
    const http_str_t *a = http_header(req, "accept");
    return a && a->n >= 16 && !strncasecmp(a->p, "application/json", 16);
}

int return_to_status(int json)
{
    return json ? 200 : 303;
}

void return_to_finish(const conf_auth_t *c, http_conn_t *conn, int json, const char *rd)
{
    char dest[RETURN_URL_MAX + 1];
    if (!rd[0] || return_to_allowed(c, rd, strlen(rd), dest) < 0)
        snprintf(dest, sizeof dest, "%s", c->default_return_url);
    http_reply_header(conn, "Cache-Control", "no-store");
    http_reply_header(conn, "Referrer-Policy", "no-referrer");
    if (!json) {
        http_reply_header(conn, "Location", "%s", dest);
        http_reply(conn, 303, NULL, NULL, 0);
        return;
    }
    /* A canonical URL holds no '"', '\\' or control byte: it is a JSON
     * string as it is. */
    char body[RETURN_URL_MAX + 32];
    int n = snprintf(body, sizeof body, "{\"location\":\"%s\"}", dest);
    http_reply(conn, 200, "application/json", body, (size_t)n);
}
