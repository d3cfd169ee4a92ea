/*
 * page.c - shared pieces of the login app's answers (see page.h).
 *
 * Security headers: a strict CSP (the pages load only their own scripts and
 * styles, no inline code, no framing), nosniff, and no-referrer, because
 * magic-link tokens travel in URLs and must not leak through Referer.
 * Dynamic pages are never cached (no-store): they carry per-browser tokens.
 *
 * Cookies are HttpOnly and SameSite=Lax, and with cookie_secure on they
 * are Secure and named with the `__Host-` prefix (app.c picks the names):
 * a browser then accepts them only from this very host over HTTPS, with
 * Path=/ and no Domain, so neither a sibling subdomain nor a plain-HTTP
 * man-in-the-middle can plant one. Lax, not Strict, because the
 * magic link is opened from a mail client: that top-level navigation is
 * cross-site, and the browser must still send the CSRF cookie with it or the
 * link could not be matched to the browser that asked for it.
 */
#include "app/page.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"

#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

void page_security_headers(http_conn_t *c)
{
    static const char hdrs[] = "Content-Security-Policy: " CSP "\r\n"
                               "X-Content-Type-Options: nosniff\r\n"
                               "X-Frame-Options: DENY\r\n"
                               "Referrer-Policy: no-referrer\r\n"
                               "Cache-Control: no-store\r\n";
    http_reply_headers_raw(c, hdrs, sizeof hdrs - 1);
}

void page_render(app_t *app, http_conn_t *c, int status, int which, const tpl_var_t *vars,
                 int nvars)
{
    buf_t *out = &app->render; /* the reply copies it out, so it can be reused */
    out->len = 0;
    if (tpl_render(&app->tpl.t[which], out, vars, nvars) < 0) {
        http_reply_error(c, 500, "out of memory rendering the page");
        return;
    }
    if (!c->resp_started)
        http_reply_start(c, status);
    page_security_headers(c);
    http_reply(c, status, "text/html; charset=utf-8", out->data, out->len);
}

void page_refuse(app_t *app, http_conn_t *c, int status, const char *title, const char *message)
{
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    tpl_var_t v[] = {{"status", st, 0}, {"title", title, 0}, {"message", message, 0}};
    page_render(app, c, status, TPL_ERROR, v, 3);
}

void page_error(app_t *app, http_conn_t *c, int status, const char *message)
{
    page_refuse(app, c, status, http_status_text(status), message);
}

void page_store_down(app_t *app, http_conn_t *c)
{
    http_reply_start(c, 503);
    http_reply_header(c, "Retry-After", "2");
    page_refuse(app, c, 503, "Sign-in is temporarily unavailable",
                "The sign-in service is unavailable right now. Try again in a moment.");
}

void page_rate_limited(app_t *app, http_conn_t *c, uint64_t retry_after_ms, const char *what)
{
    uint64_t s = (retry_after_ms + 999) / 1000;
    if (s == 0)
        s = 1;
    char msg[200];
    snprintf(msg, sizeof msg, "Too many sign-in requests %s. Try again in %llu seconds.", what,
             (unsigned long long)s);
    http_reply_start(c, 429);
    http_reply_header(c, "Retry-After", "%llu", (unsigned long long)s);
    page_error(app, c, 429, msg);
}

void page_redirect(http_conn_t *c, const char *location)
{
    if (!c->resp_started)
        http_reply_start(c, 303);
    int status = c->resp_status; /* 303 unless the caller started another 3xx */
    http_reply_header(c, "Location", "%s", location);
    http_reply_header(c, "Cache-Control", "no-store");
    http_reply_header(c, "Referrer-Policy", "no-referrer");
    http_reply(c, status, NULL, NULL, 0);
}

/* cookie_domain applies to the session cookie only: that is what the
 * subdomains share (single sign-on; it is then named __Secure-, as a
 * __Host- cookie may not carry a Domain). The CSRF cookie binds a link to
 * the browser on the host that asked for it and stays host-only. */
static const char *cookie_domain(const app_t *app, const char *name)
{
    return !strcmp(name, app->ck_session) ? app->conf->auth.cookie_domain : "";
}

void page_set_cookie(app_t *app, http_conn_t *c, const char *name, const char *value,
                     uint64_t max_age_s)
{
    const char *dom = cookie_domain(app, name);
    http_reply_header(c, "Set-Cookie", "%s=%s; Path=/; Max-Age=%llu; HttpOnly; SameSite=Lax%s%s%s",
                      name, value, (unsigned long long)max_age_s,
                      app->conf->auth.cookie_secure ? "; Secure" : "", dom[0] ? "; Domain=" : "",
                      dom);
}

void page_clear_cookie(app_t *app, http_conn_t *c, const char *name)
{
    const char *dom = cookie_domain(app, name);
    http_reply_header(c, "Set-Cookie", "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax%s%s%s", name,
                      app->conf->auth.cookie_secure ? "; Secure" : "", dom[0] ? "; Domain=" : "",
                      dom);
}

/* The browser's CSRF secret, if it holds one this server issued. */
static int csrf_cookie(const app_t *app, const http_request_t *req, http_str_t *v)
{
    return http_cookie(&req->cookie, app->ck_csrf, v) && v->n == CSRF_LEN &&
           csrf_secret_ok(&app->keys, v->p, v->n);
}

void page_csrf_for_page(app_t *app, http_conn_t *c, const http_request_t *req,
                        char token[CSRF_LEN + 1])
{
    http_str_t v;
    char secret[CSRF_LEN + 1];
    if (csrf_cookie(app, req, &v)) {
        memcpy(secret, v.p, CSRF_LEN);
        secret[CSRF_LEN] = 0;
    } else {
        /* None, or not one of ours (planted, tampered, from an old key):
         * replace it. */
        if (csrf_new_secret(&app->keys, secret) < 0) {
            log_err("no randomness for a CSRF secret");
            token[0] = 0;
            return;
        }
        if (!c->resp_started)
            http_reply_start(c, 200);
        page_set_cookie(app, c, app->ck_csrf, secret, 86400);
    }
    csrf_token_for(&app->keys.cur, secret, CSRF_LEN, token);
}

int page_csrf_ok(app_t *app, const http_request_t *req)
{
    http_str_t v;
    if (!http_cookie(&req->cookie, app->ck_csrf, &v) || !req->csrf_header.n)
        return 0;
    return csrf_check(&app->keys, v.p, v.n, req->csrf_header.p, req->csrf_header.n);
}
