/*
 * route_secure.c - the protected area: GET|POST /secure/:id, POST /logout.
 *
 * As in the original app, GET /secure/:id is a check-auth page whose script
 * POSTs to the same URL (with the CSRF header); the POST answers the
 * protected content for the session's user, or sends the browser to /login
 * when there is no valid session (none, expired, idle or revoked: see
 * app/session.h). A POST acting on a session must carry the CSRF secret
 * that session was started with (session_bound), not just any valid pair.
 *
 * POST /logout ends the session server-side (session_end): a copy of the
 * cookie is refused by every worker from then on, not only this browser's.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/page.h"
#include "app/routes.h"
#include "app/session.h"
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
    session_claims_t sc;
    int refresh;
    uint64_t now = session_now_ms();
    sess_state_t st = session_get(app, req, now, &sc, &refresh);
    if (st == SESS_ASK) /* the page is not worth parking for: auth_store_down */
        st = session_store_down(app);
    if (st == SESS_ERROR) {
        page_error(app, c, 503, "The sign-in service is unavailable. Try again shortly.");
        return;
    }
    if (st != SESS_OK) {
        http_str_t tok;
        http_reply_start(c, 303);
        if (http_cookie(&req->cookie, app->ck_session, &tok))
            page_clear_cookie(app, c, app->ck_session);
        page_redirect(c, "/login");
        return;
    }
    if (!session_bound(app, req, &sc)) {
        page_error(app, c, 403, "Missing or invalid CSRF token.");
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
    if (refresh)
        session_refresh(app, c, &sc, now);
    http_reply(c, 200, "text/html; charset=utf-8", body.data, body.len);
    app->render = body; /* keep the (maybe grown) buffer for the next page */
}

static void logout_finish(app_t *app, http_conn_t *c)
{
    http_reply_start(c, 303);
    page_clear_cookie(app, c, app->ck_session);
    page_redirect(c, "/login");
}

static void logout_recorded(void *arg, http_conn_t *c, int r)
{
    app_t *app = arg;

    if (!c)
        return;
    if (r < 0) {
        page_error(app, c, 503, "Signing out could not be recorded. Try again shortly.");
        return;
    }
    logout_finish(app, c);
}

void route_logout(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg)
{
    session_claims_t sc;
    int refresh;
    uint64_t now = session_now_ms();

    (void)arg;
    if (!page_csrf_ok(app, req)) {
        page_error(app, c, 403, "Missing or invalid CSRF token.");
        return;
    }
    /* Whatever state the session is in, it is ended if the cookie names
     * one; only a session this browser's CSRF secret does not belong to is
     * refused (a planted pair must not be able to sign the victim out). */
    if (session_get(app, req, now, &sc, &refresh) != SESS_NONE) {
        if (!session_bound(app, req, &sc)) {
            page_error(app, c, 403, "Missing or invalid CSRF token.");
            return;
        }
        session_end(app, c, &sc, now, logout_recorded, app);
        return;
    }
    logout_finish(app, c);
}
