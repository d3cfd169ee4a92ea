/*
 * route_pages.c - the plain pages: GET / (home), GET /login, GET /healthz,
 * and the static files under GET /static/.
 *
 * /login is where a browser gets its CSRF secret (HttpOnly cookie) and the
 * matching token (in <meta name="csrf-token">), which the page script sends
 * back as X-CSRF-Token on every POST.
 */
#include <string.h>

#include "app/page.h"
#include "app/routes.h"
#include "app/static.h"

void route_home(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg)
{
    (void)arg; /* an exact path: nothing after it */
    (void)req;
    page_render(app, c, 200, TPL_INDEX, NULL, 0);
}

void route_login(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg)
{
    (void)arg; /* an exact path: nothing after it */
    char token[CSRF_LEN + 1];
    page_csrf_for_page(app, c, req, token);
    tpl_var_t v[] = {{"csrf_token", token, 0}};
    page_render(app, c, 200, TPL_LOGIN, v, 1);
}

void route_healthz(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg)
{
    (void)arg; /* an exact path: nothing after it */
    (void)app;
    (void)req;
    static const char ok[] = "{\"status\":\"ok\"}";
    http_reply_start(c, 200);
    http_reply_header(c, "Cache-Control", "no-store");
    http_reply(c, 200, "application/json", ok, sizeof ok - 1);
}

/* GET /static/... : the page scripts and CSS, from memory. */
void route_static(app_t *app, http_conn_t *c, http_request_t *req, http_str_t path)
{
    static_serve(&app->statics, c, req, path.p, path.n);
}
