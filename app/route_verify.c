/*
 * route_verify.c - GET|POST /magic/verify/:token, where a link is redeemed.
 *
 * GET answers a small page ("Checking authorization…") whose script POSTs
 * back to the same URL with the CSRF header: a link is never redeemed by a
 * plain GET, so mail scanners that prefetch links cannot burn them.
 *
 * POST checks, in this order, so that no failed attempt consumes the link:
 *   CSRF cookie + header match                    else 403
 *   token decrypts and authenticates              else 400 (malformed/tampered)
 *   not expired                                   else 410
 *   bound to this browser's CSRF token            else 410 if it was used (the
 *                                                 browser then holds the fresh
 *                                                 secret of that sign-in), else
 *                                                 403 (different browser)
 *   the address may still sign in (app/access.h)  else 403 (a clear page)
 *   first use (recorded in the used-link ledger)  else 410 (already used)
 *   the user still exists, is enabled, and the link
 *   was not voided (user removed or disabled since)  else 403
 * then starts a server-side session (app/session.c: a record in the store,
 * the sealed cookie, and a fresh CSRF secret the session is bound to) and
 * sends the browser to the link's return-to when allowed_return_urls still
 * allows it, else to default_return_url (303; or 200 {"location": URL} for
 * the page script, see app/return_to.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "app/access.h"
#include "app/page.h"
#include "app/park.h"
#include "app/return_to.h"
#include "app/routes.h"
#include "app/session.h"
#include "app/signin_code.h"
#include "app/store_session.h"
#include "app/store_async.h"
#include "app/token.h"

#define TOKEN_MAX TOKEN_LINK_MAX

void route_verify_page(app_t *app, http_conn_t *c, http_request_t *req, http_str_t token)
{
    (void)token; /* the page's script posts it back; nothing is checked on GET */
    char csrf[CSRF_LEN + 1];
    page_csrf_for_page(app, c, req, csrf);
    tpl_var_t v[] = {{"csrf_token", csrf, 0}};
    page_render(app, c, 200, TPL_VERIFY, v, 1);
}

/* A redeem waiting for the store: the ledger, then (on a replay) the
 * code's tries, or (on a link from another browser) whether it was used. */
typedef struct {
    park_t park;
    app_t *app;
    uint64_t now;
    link_claims_t cl;
} verify_wait_t;

static verify_wait_t *verify_wait(app_t *app, http_conn_t *c, const link_claims_t *cl, uint64_t now)
{
    verify_wait_t *w = malloc(sizeof *w);

    if (!w) {
        page_error(app, c, 503, "The sign-in service is unavailable. Try again shortly.");
        return NULL;
    }
    w->app = app;
    w->now = now;
    w->cl = *cl;
    park_hold(&w->park, c);
    return w;
}

/* Unbound link: a replay (its browser now holds the secret of that
 * sign-in) or another browser. */
static void verify_used(void *arg, int used)
{
    verify_wait_t *w = arg;
    http_conn_t *c = park_conn(&w->park);
    app_t *app = w->app;

    if (c && used == 1) {
        mx_inc(&app->self->metrics, MX_REFUSED_USED);
        page_error(app, c, 410, "This sign-in link was already used. Ask for a new one.");
    } else if (c) {
        mx_inc(&app->self->metrics, MX_REFUSED_BROWSER);
        page_error(app, c, 403,
                   "This sign-in link was requested from a different browser. Open "
                   "it in the browser where you asked for it.");
    }
    free(w);
}

/* A replay: a link whose code was guessed at too often is dead too: say so. */
static void verify_tries(void *arg, int tries)
{
    verify_wait_t *w = arg;
    http_conn_t *c = park_conn(&w->park);
    app_t *app = w->app;

    if (c && tries >= SIGNIN_CODE_TRIES) {
        mx_inc(&app->self->metrics, MX_REFUSED_LOCKED);
        page_error(app, c, 410,
                   "Too many wrong codes were entered for this sign-in link, so it no "
                   "longer works. Ask for a new one.");
    } else if (c) {
        mx_inc(&app->self->metrics, MX_REFUSED_USED);
        page_error(app, c, 410, "This sign-in link was already used. Ask for a new one.");
    }
    free(w);
}

static void verify_consumed(void *arg, int first)
{
    verify_wait_t *w = arg;
    app_t *app = w->app;

    if (first == 0 && w->park.c) {
        park_hold(&w->park, w->park.c);
        SA_CALL(&app->sa, code_tries, w->cl.id, verify_tries, w);
        return;
    }
    http_conn_t *c = park_conn(&w->park);
    if (c && first < 0) {
        log_err("used-link ledger failed: %s", sa_error(&app->sa));
        page_store_down(app, c);
    } else if (c && first == 1) {
        mx_inc(&app->self->metrics, MX_REDEEMED_LINK);
        route_sign_in(app, c, c->req, w->cl.email, w->cl.iat, w->cl.rd, w->now);
    }
    free(w);
}

void route_verify(app_t *app, http_conn_t *c, http_request_t *req, http_str_t token)
{
    mx_worker_t *mx = &app->self->metrics;
    if (!page_csrf_ok(app, req)) {
        mx_inc(mx, MX_REFUSED_CSRF);
        page_error(app, c, 403,
                   "Missing or invalid CSRF token. Open the link in the browser "
                   "where you asked for it.");
        return;
    }
    uint64_t now = (uint64_t)time(NULL);
    link_claims_t cl;
    tok_result_t r = token.n > TOKEN_MAX ? TOK_MALFORMED
                                         : token_link_open(&app->keys, token.p, token.n, now, &cl);
    if (r == TOK_MALFORMED || r == TOK_FORGED) {
        mx_inc(mx, MX_REFUSED_MALFORMED);
        page_error(app, c, 400,
                   "This sign-in link is malformed or was altered. Ask for a new "
                   "one.");
        return;
    }
    if (r == TOK_EXPIRED) {
        mx_inc(mx, MX_REFUSED_EXPIRED);
        page_error(app, c, 410, "This sign-in link has expired. Ask for a new one.");
        return;
    }
    /* The binding is checked against the browser's CSRF secret under the
     * current and the previous key, so links survive a key rotation. */
    http_str_t ck;
    if (!http_cookie(&req->cookie, app->ck_csrf, &ck) ||
        !csrf_binding_match(&app->keys, ck.p, ck.n, cl.bind)) {
        verify_wait_t *w = verify_wait(app, c, &cl, now);
        if (w)
            SA_CALL(&app->sa, link_used, cl.id, verify_used, w);
        return;
    }
    /* The rules may have changed since the link was mailed (a reload). */
    if (!access_domain_ok(&app->conf->auth, cl.email)) {
        char msg[CONF_MAX_EMAIL_DOMAINS * 260];
        access_refusal(&app->conf->auth, msg, sizeof msg);
        page_refuse(app, c, 403, "Not allowed to sign in here", msg);
        return;
    }
    verify_wait_t *w = verify_wait(app, c, &cl, now);
    if (w)
        SA_CALL(&app->sa, link_consume, cl.id, cl.exp, now, verify_consumed, w);
}

/* A sign-in waiting for its session record. */
typedef struct {
    app_t *app;
    int json;
    uint64_t now;
    char email[TOKEN_EMAIL_MAX + 1];
    char rd[RETURN_URL_MAX + 1];
} sign_in_wait_t;

static void sign_in_done(void *arg, http_conn_t *c, signin_t si)
{
    sign_in_wait_t *w = arg;
    app_t *app = w->app;

    if (!c) {
        free(w);
        return;
    }
    if (si != SIGNIN_OK) {
        /* An error page replaces the 303 (http_reply_start drops what was
         * queued for it). */
        http_reply_start(c, si == SIGNIN_REFUSED ? 403 : 503);
        if (si == SIGNIN_REFUSED)
            page_error(app, c, 403,
                       "This account cannot sign in any more. If you think it should, "
                       "ask whoever runs this site.");
        else {
            log_err("starting a session failed: %s", sa_error(&app->sa));
            page_store_down(app, c);
        }
        free(w);
        return;
    }
    SA_CALL(&app->sa, event, "login", w->email, w->now);
    mx_inc(&app->self->metrics, MX_SESSIONS_STARTED);
    return_to_finish(&app->conf->auth, c, w->json, w->rd);
    free(w);
}

void route_sign_in(app_t *app, http_conn_t *c, const http_request_t *req, const char *email,
                   uint64_t link_iat, const char *rd, uint64_t now)
{
    sign_in_wait_t *w = malloc(sizeof *w);

    if (!w) {
        page_error(app, c, 503, "The sign-in service is unavailable. Try again shortly.");
        return;
    }
    w->app = app;
    w->json = return_to_wants_json(req);
    w->now = now;
    snprintf(w->email, sizeof w->email, "%s", email);
    snprintf(w->rd, sizeof w->rd, "%s", rd);
    http_reply_start(c, return_to_status(w->json));
    session_begin(app, c, req, w->email, link_iat, session_now_ms(), sign_in_done, w);
}
