/*
 * route_secure.c - the protected area: GET|POST /secure/:id, POST /logout.
 *
 * As in the original app, GET /secure/:id is a check-auth page whose script
 * POSTs to the same URL (with the CSRF header); the POST answers the
 * protected content for the session's user, or sends the browser to /login
 * when there is no valid session.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/page.h"
#include "app/routes.h"
#include "app/token.h"

#define ID_MAX 18

/* Ids are decimal numbers, as in the original's /secure/1. */
static int valid_id(http_str_t id, char *out)
{
    if (id.n == 0 || id.n > ID_MAX)
        return 0;
    for (size_t i = 0; i < id.n; i++)
        if (id.p[i] < '0' || id.p[i] > '9')
            return 0;
    memcpy(out, id.p, id.n);
    out[id.n] = 0;
    return 1;
}

void route_secure_page(app_t *app, http_conn_t *c, http_request_t *req, http_str_t id)
{
    char ids[ID_MAX + 1];
    if (!valid_id(id, ids)) {
        page_error(app, c, 404, "No such page.");
        return;
    }
    char csrf[CSRF_LEN + 1];
    page_csrf_for_page(app, c, req, csrf);
    tpl_var_t v[] = {{"csrf_token", csrf, 0}, {"id", ids, 0}};
    page_render(app, c, 200, TPL_SECURE, v, 2);
}

void route_secure(app_t *app, http_conn_t *c, http_request_t *req, http_str_t id)
{
    char ids[ID_MAX + 1];
    if (!valid_id(id, ids)) {
        page_error(app, c, 404, "No such page.");
        return;
    }
    if (!page_csrf_ok(app, req)) {
        page_error(app, c, 403, "Missing or invalid CSRF token.");
        return;
    }
    http_str_t tok;
    session_claims_t sc;
    if (!http_cookie(&req->cookie, "session", &tok) ||
        token_session_open(&app->keys, tok.p, tok.n, (uint64_t)time(NULL), &sc) != TOK_OK) {
        http_reply_start(c, 303);
        if (tok.p && http_cookie(&req->cookie, "session", &tok))
            page_clear_cookie(app, c, "session");
        page_redirect(c, "/login");
        return;
    }
    buf_t body = app->render;
    body.len = 0;
    buf_puts(&body, "<section class=\"secure\"><p>Signed in as <strong id=\"whoami\">");
    html_escape(&body, sc.email, strlen(sc.email));
    buf_printf(&body,
               "</strong>.</p><p>This is protected item #%s. Only a signed-in user "
               "sees it.</p></section>\n",
               ids);
    http_reply_start(c, 200);
    page_security_headers(c);
    http_reply(c, 200, "text/html; charset=utf-8", body.data, body.len);
    app->render = body; /* keep the (maybe grown) buffer for the next page */
}

void route_logout(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg)
{
    (void)arg; /* an exact path: nothing after it */
    if (!page_csrf_ok(app, req)) {
        page_error(app, c, 403, "Missing or invalid CSRF token.");
        return;
    }
    http_reply_start(c, 303);
    page_clear_cookie(app, c, "session");
    page_redirect(c, "/login");
}
