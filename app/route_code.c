/*
 * route_code.c - POST /magic/code: sign in with the code from the mail.
 *
 * The "link sent" page posts back the ticket it was given (see
 * signin_code.h) and the code the user typed. Checks, in this order, so
 * that nothing but a wrong code for a live link costs a try:
 *
 *   CSRF cookie + header match                     else 403
 *   per-client-IP limit on code tries              else 429
 *   the code is 6 digits (spaces, dashes dropped)  else 400, no try counted
 *   the ticket opens (authentic, ours)             else 400
 *   not past the link's expiry                     else 410 "expired"
 *   bound to this browser's CSRF token             else 403, no try counted
 *   fewer than SIGNIN_CODE_TRIES tries so far      else 410 "too many" (a
 *                                                   read: a dead code costs
 *                                                   no write)
 *   the try is counted (one atomic increment of the
 *   link id's row, whatever the code) and is one of
 *   the first SIGNIN_CODE_TRIES                    else 410 "too many"
 *   the code matches                               else 403 "not right, N
 *                                                   left", or on the last try
 *                                                   the link id goes into the
 *                                                   used-link ledger, 410
 *   first use of the link id                       else 410 "already used"
 *
 * and then signs the browser in exactly as the link would
 * (route_sign_in). The tries row and the ledger entry are keyed by the
 * link id, which is in the ticket and in the link alike: that is what
 * burns the other when one of them is used.
 *
 * The try is counted before its code is judged, and the count the
 * increment returns is what decides: a read of the count followed by an
 * increment for a wrong code let every guess that arrived while the others
 * were in flight (other workers, other connections, a PostgreSQL store's
 * round trips) read "fewer than 5" and be judged, so a burst of 40 guesses
 * at once was 40 tries at one link. Now at most SIGNIN_CODE_TRIES codes
 * are ever compared per link, however many arrive together. The right
 * code takes a try too (its link is used up by it anyway). The read before
 * the increment only spares the store a write for a code already dead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/client.h"
#include "app/page.h"
#include "app/park.h"
#include "app/store_async.h"
#include "app/routes.h"
#include "app/signin_code.h"
#include "app/store.h"
#include "app/store_session.h"
#include "app/token.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/ratelimit.h"

#define CODE_TICKET_MAX TOKEN_CODE_MAX

static void code_refuse(app_t *app, http_conn_t *c, unsigned mx, int status, const char *msg)
{
    mx_inc(&app->self->metrics, mx);
    page_error(app, c, status, msg);
}

static void code_unavailable(app_t *app, http_conn_t *c)
{
    log_err("sign-in code store failed: %s", sa_error(&app->sa));
    page_store_down(app, c);
}

/* A code waiting for the store: each stage is one call, its answer the
 * next stage's input. */
enum { CODE_USED, CODE_TRIES, CODE_TRY, CODE_LOCK, CODE_REDEEM };

typedef struct {
    park_t park;
    app_t *app;
    int stage;
    int good; /* the code matches (computed before any store call) */
    int tries;
    uint64_t now;
    code_ticket_t t;
} code_wait_t;

static void code_step(void *arg, int r);

/* Run the store call of the stage w is in now. */
static void code_call(code_wait_t *w)
{
    const store_async_t *sa = &w->app->sa;

    park_hold(&w->park, w->park.c);
    switch (w->stage) {
    case CODE_USED:
        SA_CALL(sa, link_used, w->t.id, code_step, w);
        break;
    case CODE_TRIES:
        SA_CALL(sa, code_tries, w->t.id, code_step, w);
        break;
    case CODE_TRY: /* counts the try and answers the count with it */
        SA_CALL(sa, code_fail, w->t.id, w->t.exp, w->now, code_step, w);
        break;
    default: /* CODE_LOCK, CODE_REDEEM: the id goes into the ledger */
        SA_CALL(sa, link_consume, w->t.id, w->t.exp, w->now, code_step, w);
        break;
    }
}

/* A wrong code on try number `tries` (at most SIGNIN_CODE_TRIES): lock
 * code and link on the last allowed try. 1 when the next stage runs. */
static int code_wrong(code_wait_t *w, http_conn_t *c, int tries)
{
    if (tries >= SIGNIN_CODE_TRIES) {
        w->tries = tries;
        w->stage = CODE_LOCK;
        return 1;
    }
    char msg[160];
    int left = SIGNIN_CODE_TRIES - tries;
    snprintf(msg, sizeof msg, "That code is not right. Check the mail and try again: %d %s left.",
             left, left == 1 ? "try" : "tries");
    code_refuse(w->app, c, MX_CODE_WRONG, 403, msg);
    return 0;
}

/* One stage's answer: reply, or move to the next stage. 1: next stage. */
static int code_answer(code_wait_t *w, http_conn_t *c, int r)
{
    app_t *app = w->app;

    if (r < 0 && w->stage != CODE_USED) {
        code_unavailable(app, c);
        return 0;
    }
    switch (w->stage) {
    case CODE_USED:
        /* Signing in gives the browser a new CSRF secret, so a used code
         * comes back unbound: say what really happened. */
        if (r == 1)
            code_refuse(app, c, MX_CODE_USED, 410,
                        "This sign-in code (or its link) was already used. Ask for a new link.");
        else
            code_refuse(app, c, MX_CODE_BROWSER, 403,
                        "This sign-in code was requested from a different browser. Enter it in "
                        "the browser where you asked for it.");
        return 0;
    case CODE_TRIES:
    case CODE_TRY:
        if (w->stage == CODE_TRIES ? r >= SIGNIN_CODE_TRIES : r > SIGNIN_CODE_TRIES) {
            code_refuse(app, c, MX_CODE_LOCKED, 410,
                        "Too many wrong codes. This code and its sign-in link no longer work. "
                        "Ask for a new link.");
            return 0;
        }
        if (w->stage == CODE_TRIES) {
            w->stage = CODE_TRY;
            return 1;
        }
        if (w->good) {
            w->stage = CODE_REDEEM;
            return 1;
        }
        return code_wrong(w, c, r);
    case CODE_LOCK: {
        char ip[64];
        client_addr(app->conf, c, c->req, ip, sizeof ip);
        log_notice("sign-in code locked after %d wrong tries from %s", w->tries, ip);
    }
        code_refuse(app, c, MX_CODE_LOCKED, 410,
                    "Too many wrong codes. This code and its sign-in link no longer work. "
                    "Ask for a new link.");
        return 0;
    default: /* CODE_REDEEM */
        if (r == 0) {
            code_refuse(app, c, MX_CODE_USED, 410,
                        "This sign-in code (or its link) was already used. Ask for a new link.");
            return 0;
        }
        mx_inc(&app->self->metrics, MX_CODE_OK);
        mx_inc(&app->self->metrics, MX_REDEEMED_CODE);
        route_sign_in(app, c, c->req, w->t.email, w->t.iat, w->t.rd, w->now);
        return 0;
    }
}

static void code_step(void *arg, int r)
{
    code_wait_t *w = arg;
    http_conn_t *c = park_conn(&w->park); /* unparked before any answer */

    if (c && code_answer(w, c, r)) {
        w->park.c = c;
        code_call(w);
        return;
    }
    free(w);
}

/* Park the request on a new wait at stage and make its first call. */
static void code_start(app_t *app, http_conn_t *c, const code_ticket_t *t, int stage, int good,
                       uint64_t now)
{
    code_wait_t *w = malloc(sizeof *w);

    if (!w) {
        page_error(app, c, 503, "The sign-in service is unavailable. Try again shortly.");
        return;
    }
    w->app = app;
    w->stage = stage;
    w->good = good;
    w->tries = 0;
    w->now = now;
    w->t = *t;
    w->park.c = c;
    code_call(w);
}

void route_code(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg)
{
    (void)arg;
    const conf_t *cf = app->conf;
    char raw[CODE_TICKET_MAX + 1], code[SIGNIN_CODE_DIGITS + 1], ticket[CODE_TICKET_MAX + 1];

    if (!page_csrf_ok(app, req)) {
        code_refuse(app, c, MX_CODE_CSRF, 403,
                    "Missing or invalid CSRF token. Reload the sign-in page.");
        return;
    }
    char key[300];
    uint64_t retry = 0;
    int kn = client_key(cf, c, req, "c:", key, sizeof key);
    if (kn < 0 || !rl_hit(app->rl_zone, key, (size_t)kn, cf->rate.ip_n, cf->rate.ip_window_ms,
                          clock_mono_ms(), &retry)) {
        mx_inc(&app->self->metrics, MX_RATE_CODE);
        page_rate_limited(app, c, retry, "from your address");
        return;
    }
    if (http_form_value(req->body, req->body_len, "code", raw, sizeof raw) != 1 ||
        signin_code_normalize(raw, code) < 0) {
        code_refuse(app, c, MX_CODE_MALFORMED, 400,
                    "Enter the 6 digits of the code from the sign-in mail.");
        return;
    }
    int tn = http_form_value(req->body, req->body_len, "ticket", ticket, sizeof ticket);
    uint64_t now = (uint64_t)time(NULL);
    code_ticket_t t;
    tok_result_t r =
        tn == 1 ? token_code_open(&app->keys, ticket, strlen(ticket), now, &t) : TOK_MALFORMED;
    if (r == TOK_MALFORMED || r == TOK_FORGED) {
        code_refuse(app, c, MX_CODE_MALFORMED, 400,
                    "This sign-in form is malformed or was altered. Ask for a new link.");
        return;
    }
    if (r == TOK_EXPIRED) {
        code_refuse(app, c, MX_CODE_EXPIRED, 410,
                    "This sign-in code has expired. Ask for a new link.");
        return;
    }
    http_str_t ck;
    if (!http_cookie(&req->cookie, app->ck_csrf, &ck) ||
        !csrf_binding_match(&app->keys, ck.p, ck.n, t.bind)) {
        /* Signing in gives the browser a new CSRF secret, so a used code
         * comes back unbound: say what really happened. */
        code_start(app, c, &t, CODE_USED, 0, now);
        return;
    }
    /* The MAC is compared for an address without an account too (its
     * ticket holds a MAC of a code nobody was sent), so a try costs the
     * same whether or not the address is known. */
    int good = signin_code_match(&app->keys, t.id, code, t.mac);
    code_start(app, c, &t, CODE_TRIES, good & t.known, now);
}
