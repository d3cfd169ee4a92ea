/*
 * route_pages.c - the plain pages: GET / (home), GET /login, GET /healthz,
 * and the static files under GET /static/.
 *
 * /login is where a browser gets its CSRF secret (HttpOnly cookie) and the
 * matching token (in <meta name="csrf-token">), which the page script sends
 * back as X-CSRF-Token on every POST. It also carries the return-to
 * (`?rd=URL`, when allowed) in a hidden field of the form, and turns the
 * original URL a proxy passes (X-Original-URL, X-Forwarded-*) into a
 * redirect to /login?rd=<that URL, escaped> (why: app/return_to.c).
 */
#include <string.h>

#include "app/page.h"
#include "app/return_to.h"
#include "app/routes.h"
#include "app/static.h"
#include "core/log.h"

void route_home(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg)
{
    (void)arg; /* an exact path: nothing after it */
    (void)req;
    page_render(app, c, 200, TPL_INDEX, NULL, 0);
}

void route_login(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg)
{
    (void)arg; /* an exact path: nothing after it */
    char raw[RETURN_URL_MAX + 1], rd[RETURN_URL_MAX + 1] = "";
    int proxied = return_to_from_proxy(req, raw, sizeof raw);
    if (proxied < 0 || (proxied && !return_to_is_login(raw))) {
        char loc[sizeof "/login?rd=" + 3 * RETURN_URL_MAX];
        memcpy(loc, "/login?rd=", 11);
        if (proxied < 0 || return_url_escape(raw, loc + 10, sizeof loc - 10) < 0)
            loc[6] = 0; /* too long to come back to: plain /login */
        http_reply_start(c, 302);
        page_redirect(c, loc);
        return;
    }
    if (http_form_value(req->query.p, req->query.n, "rd", raw, sizeof raw) == 1) {
        return_to_allowed(&app->conf->auth, raw, strlen(raw), rd);
        /* Return-to is off without allowed_return_urls: the browser is told
         * nothing, the operator once per worker (behind nginx, a missing
         * line sent every sign-in to default_return_url without a word). */
        static int said;
        if (!app->conf->auth.nallowed_return_urls && raw[0] && !said) {
            said = 1;
            log_notice("a return-to (/login?rd=) was dropped: allowed_return_urls is not set, "
                       "so every sign-in lands on default_return_url %s; allow the "
                       "application's URLs, e.g. allowed_return_urls https://app.example.com/*; "
                       "(docs/nginx.md)",
                       app->conf->auth.default_return_url);
        }
    }
    char token[CSRF_LEN + 1];
    page_csrf_for_page(app, c, req, token);
    tpl_var_t v[] = {{"csrf_token", token, 0}, {"rd", rd, 0}};
    page_render(app, c, 200, TPL_LOGIN, v, 2);
}

void route_healthz(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg)
{
    (void)arg; /* an exact path: nothing after it */
    (void)req;
    static const char ok[] = "{\"status\":\"ok\"}";
    static const char down[] = "{\"status\":\"unavailable\",\"store\":\"down\"}";
    if (!sa_up(&app->sa)) { /* sign-in cannot work: take this node out */
        http_reply_start(c, 503);
        http_reply_header(c, "Cache-Control", "no-store");
        http_reply(c, 503, "application/json", down, sizeof down - 1);
        return;
    }
    http_reply_start(c, 200);
    http_reply_header(c, "Cache-Control", "no-store");
    http_reply(c, 200, "application/json", ok, sizeof ok - 1);
}

/* GET /static/... : the page scripts and CSS, from memory. */
void route_static(app_t *app, http_conn_t *c, http_request_t *req, http_str_t path)
{
    static_serve(&app->statics, c, req, path.p, path.n);
}
