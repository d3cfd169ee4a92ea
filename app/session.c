/*
 * session.c - server-side sessions (see session.h).
 *
 * The checks of session_get are ordered cheapest first and all but the
 * last are arithmetic on the opened claims; the revocation check is a
 * lock-free probe of the shared set (core/revoke.c). Only when the set
 * cannot answer (it overflowed, or a writer died in it) does a use cost a
 * store lookup, which keeps the answer right rather than fast.
 *
 * The absolute end is checked twice: against the end sealed at sign-in and
 * against sign-in + the session_ttl configured now, so shortening the
 * lifetime in the config (and reloading) shortens sessions already issued.
 *
 * Sign-in (session_begin) writes the session's record with a statement
 * that inserts it only if the user exists, is enabled and the link is not
 * void (store_session_create), so a `magicd user remove` racing with a
 * sign-in either happens first and the sign-in is refused, or second and
 * its trigger revokes the new session.
 */
#include "app/client.h"
#include "app/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "app/csrf.h"
#include "app/page.h"
#include "app/park.h"
#include "app/session_cache.h"
#include "app/store_async.h"
#include "app/store.h"
#include "app/store_session.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/revoke.h"
#include "core/sesslive.h"

#define SESS_POLL_BATCH 128
#define SESS_POLL_ROUNDS 4 /* batches per turn; a force poll reads them all */
#define SESS_CSRF_MIN_AGE 86400

uint64_t session_now_ms(void)
{
    return clock_wall_ns() / 1000000ull;
}

sess_state_t session_get(app_t *app, const http_request_t *req, uint64_t now_ms,
                         session_claims_t *sc, int *refresh)
{
    const conf_auth_t *a = &app->conf->auth;
    uint64_t idle = a->session_idle_timeout_ms;
    http_str_t v;
    tok_result_t r;
    int rv;

    *refresh = 0;
    if (!http_cookie(&req->cookie, app->ck_session, &v) || v.n == 0 || v.n >= TOKEN_SESSION_MAX)
        return SESS_NONE;
    if (session_cache_get(app->sessions, v.p, v.n, sc)) {
        if (now_ms >= sc->exp_ms)
            return SESS_EXPIRED; /* what token_session_open says of it */
    } else {
        r = token_session_open(&app->keys, v.p, v.n, now_ms, sc);
        if (r == TOK_EXPIRED)
            return SESS_EXPIRED;
        if (r != TOK_OK)
            return SESS_NONE;
        session_cache_put(app->sessions, v.p, v.n, sc);
    }
    if (now_ms >= sc->iat_ms + a->session_ttl_ms)
        return SESS_EXPIRED;
    if (idle && now_ms >= sc->seen_ms + idle)
        return SESS_IDLE;
    rv = revoke_has(app->rv_zone, sc->id);
    if (rv < 0 && !app->store) {
        /* A shared store (PostgreSQL) is not asked from here: the caller
         * parks the request on session_ask, or decides by
         * session_store_down. */
        if (idle && now_ms > sc->seen_ms && now_ms - sc->seen_ms > idle / 2)
            *refresh = 1;
        return SESS_ASK;
    } else if (rv < 0) {
        int active = store_session_active(app->store, sc->id);
        if (active < 0) {
            log_err("session check: the revocation set cannot answer and the store failed: %s",
                    store_errmsg(app->store));
            return SESS_ERROR;
        }
        rv = !active;
    }
    if (rv)
        return SESS_REVOKED;
    if (idle && now_ms > sc->seen_ms && now_ms - sc->seen_ms > idle / 2)
        *refresh = 1;
    return SESS_OK;
}

sess_state_t session_store_down(const app_t *app)
{
    return app->conf->auth.store_down_open ? SESS_OK : SESS_ERROR;
}

typedef struct {
    park_t park;
    app_t *app;
    session_asked_fn done;
    void *arg;
} ask_wait_t;

static void session_asked(void *arg, int active)
{
    ask_wait_t *w = arg;
    http_conn_t *c = park_conn(&w->park);

    w->done(w->arg, c, active < 0 ? session_store_down(w->app) : active ? SESS_OK : SESS_REVOKED);
    free(w);
}

void session_ask(app_t *app, http_conn_t *c, const session_claims_t *sc, session_asked_fn done,
                 void *arg)
{
    ask_wait_t *w;

    if (!sa_up(&app->sa) || !(w = malloc(sizeof *w))) {
        done(arg, c, session_store_down(app));
        return;
    }
    w->app = app;
    w->done = done;
    w->arg = arg;
    park_hold(&w->park, c);
    SA_CALL(&app->sa, session_active, sc->id, session_asked, w);
}

int session_bound(app_t *app, const http_request_t *req, const session_claims_t *sc)
{
    http_str_t v;
    uint8_t id[CSRF_ID_LEN];

    if (!http_cookie(&req->cookie, app->ck_csrf, &v) || csrf_secret_id(v.p, v.n, id) < 0)
        return 0;
    return CRYPTO_memcmp(id, sc->csrf, CSRF_ID_LEN) == 0;
}

static uint64_t session_end_ms(const app_t *app, const session_claims_t *sc)
{
    uint64_t cap = sc->iat_ms + app->conf->auth.session_ttl_ms;
    return sc->exp_ms < cap ? sc->exp_ms : cap;
}

/* Seal sc and queue its Set-Cookie, living as long as the session has left. */
static int session_cookie(app_t *app, http_conn_t *c, const session_claims_t *sc, uint64_t now_ms)
{
    char tok[TOKEN_SESSION_MAX];
    uint64_t end = session_end_ms(app, sc);

    if (token_session_seal(&app->keys, sc, tok, sizeof tok) < 0)
        return -1;
    page_set_cookie(app, c, app->ck_session, tok, end > now_ms ? (end - now_ms + 999) / 1000 : 0);
    return 0;
}

/* Until when the session is live with the cookie it was just given: its
 * end, or sooner its idle end. This is what the sessions gauge counts. */
static void session_live(app_t *app, const session_claims_t *sc, uint64_t now_ms)
{
    uint64_t end = session_end_ms(app, sc), idle = app->conf->auth.session_idle_timeout_ms;

    if (idle && sc->seen_ms + idle < end)
        end = sc->seen_ms + idle;
    sesslive_set(app->sl_zone, sc->id, end, now_ms);
}

void session_refresh(app_t *app, http_conn_t *c, session_claims_t *sc, uint64_t now_ms)
{
    sc->seen_ms = now_ms;
    if (session_cookie(app, c, sc, now_ms) < 0) {
        log_err("could not reseal a session cookie");
        return;
    }
    session_live(app, sc, now_ms);
}

/* The User-Agent as the session list shows it: printable ASCII, bounded. */
static void session_agent(const http_request_t *req, char *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < req->user_agent.n && n + 1 < cap; i++) {
        unsigned char ch = (unsigned char)req->user_agent.p[i];
        out[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    out[n] = 0;
}

/* A sign-in waiting for the store's record of its session. */
typedef struct {
    park_t park;
    app_t *app;
    session_claims_t sc;
    char secret[CSRF_LEN + 1];
    uint64_t now_ms;
    session_begun_fn done;
    void *arg;
} begin_wait_t;

static signin_t session_finish(app_t *app, http_conn_t *c, begin_wait_t *w,
                               const store_user_info_t *ui)
{
    const conf_auth_t *a = &app->conf->auth;
    session_claims_t *sc = &w->sc;

    sc->uid = (uint64_t)ui->id;
    store_groups_copy(sc->groups, sizeof sc->groups, ui->groups); /* what a cookie carries */
    if (session_cookie(app, c, sc, w->now_ms) < 0)
        return SIGNIN_ERROR;
    session_live(app, sc, w->now_ms);
    /* A fresh CSRF secret: whatever the browser held before sign-in (maybe
     * planted) is not what this session accepts. */
    uint64_t csrf_age = a->session_ttl_ms / 1000;
    page_set_cookie(app, c, app->ck_csrf, w->secret,
                    csrf_age > SESS_CSRF_MIN_AGE ? csrf_age : SESS_CSRF_MIN_AGE);
    /* Non-browser clients (the load generator) read the matching page
     * token here rather than loading a page. */
    char token[CSRF_LEN + 1];
    csrf_token_for(&app->keys.cur, w->secret, CSRF_LEN, token);
    http_reply_header(c, "X-CSRF-Token", "%s", token);
    return SIGNIN_OK;
}

static void session_started(void *arg, int r, const store_user_info_t *ui)
{
    begin_wait_t *w = arg;
    http_conn_t *c = park_conn(&w->park);
    signin_t si = r < 0 ? SIGNIN_ERROR : r == 0 ? SIGNIN_REFUSED : SIGNIN_OK;

    if (c && si == SIGNIN_OK)
        si = session_finish(w->app, c, w, ui);
    w->done(w->arg, c, si);
    OPENSSL_cleanse(w->secret, sizeof w->secret);
    free(w);
}

void session_begin(app_t *app, http_conn_t *c, const http_request_t *req, const char *email,
                   uint64_t link_iat_s, uint64_t now_ms, session_begun_fn done, void *arg)
{
    const conf_auth_t *a = &app->conf->auth;
    store_session_t row;
    char agent[STORE_AGENT_MAX];
    begin_wait_t *w = calloc(1, sizeof *w);

    if (!w) {
        done(arg, c, SIGNIN_ERROR);
        return;
    }
    session_claims_t *sc = &w->sc;
    if (token_new_id(sc->id) < 0 || csrf_new_secret(&app->keys, w->secret) < 0 ||
        csrf_secret_id(w->secret, CSRF_LEN, sc->csrf) < 0) {
        free(w);
        done(arg, c, SIGNIN_ERROR);
        return;
    }
    w->app = app;
    w->now_ms = now_ms;
    w->done = done;
    w->arg = arg;
    sc->iat_ms = sc->seen_ms = now_ms;
    sc->exp_ms = now_ms + a->session_ttl_ms;
    snprintf(sc->email, sizeof sc->email, "%s", email);

    session_agent(req, agent, sizeof agent);
    memset(&row, 0, sizeof row);
    memcpy(row.id, sc->id, sizeof row.id);
    row.email = sc->email;
    row.created_at = (int64_t)(now_ms / 1000);
    row.expires_at = (int64_t)((sc->exp_ms + 999) / 1000);
    char ip[64];
    client_addr(app->conf, c, req, ip, sizeof ip);
    row.ip = ip;
    row.user_agent = agent;
    park_hold(&w->park, c);
    SA_CALL(&app->sa, session_start, &row, (int64_t)link_iat_s, session_started, w);
}

/* A logout waiting for the store to record it. */
typedef struct {
    park_t park;
    app_t *app;
    uint64_t now_ms;
    char email[TOKEN_EMAIL_MAX + 1];
    session_ended_fn done;
    void *arg;
} end_wait_t;

static void session_revoked(void *arg, int r)
{
    end_wait_t *w = arg;
    http_conn_t *c = park_conn(&w->park);

    if (r < 0)
        log_err("recording a logout failed: %s", sa_error(&w->app->sa));
    else
        SA_CALL(&w->app->sa, event, "logout", w->email, w->now_ms / 1000);
    w->done(w->arg, c, r < 0 ? -1 : 0);
    free(w);
}

void session_end(app_t *app, http_conn_t *c, const session_claims_t *sc, uint64_t now_ms,
                 session_ended_fn done, void *arg)
{
    end_wait_t *w = malloc(sizeof *w);

    /* First the shared set: every worker refuses the id from now on. A
     * full set still leaves it refused, through the store fallback. */
    revoke_add(app->rv_zone, sc->id, session_end_ms(app, sc), now_ms);
    sesslive_end(app->sl_zone, sc->id);
    session_cache_forget(app->sessions, sc->id);
    mx_inc(&app->self->metrics, MX_SESSIONS_REVOKED);
    if (!w) {
        done(arg, c, -1);
        return;
    }
    w->app = app;
    w->now_ms = now_ms;
    snprintf(w->email, sizeof w->email, "%s", sc->email);
    w->done = done;
    w->arg = arg;
    park_hold(&w->park, c);
    SA_CALL(&app->sa, session_revoke, sc->id, (int64_t)(now_ms / 1000), session_revoked, w);
}

int session_poll(app_t *app, uint64_t mono_ms, int force)
{
    revoke_entry_t batch[SESS_POLL_BATCH];

    if (!app->store) /* a shared store brings revocations itself (store_pgw.c) */
        return 0;
    if (!force && !revoke_poll_claim(app->rv_zone, mono_ms, REVOKE_POLL_MS))
        return 0;
    for (int round = 0; force || round < SESS_POLL_ROUNDS; round++) {
        uint64_t from = revoke_seq(app->rv_zone), last;
        int n = store_revocations(app->store, from, batch, SESS_POLL_BATCH, &last);
        if (n < 0) {
            if (!app->poll_failing)
                log_err("reading the session revocation log failed: %s (sessions are checked "
                        "against what was read before)",
                        store_errmsg(app->store));
            app->poll_failing = 1;
            return -1;
        }
        if (app->poll_failing)
            log_notice("reading the session revocation log works again");
        app->poll_failing = 0;
        if (last == from)
            return 0;
        int r = revoke_apply(app->rv_zone, from, batch, n, last, session_now_ms());
        if (r != 1)
            for (int i = 0; i < n; i++)
                sesslive_end(app->sl_zone, batch[i].id);
        if (r < 0)
            log_warn("session revocation set full: revoked sessions are checked in the store "
                     "until some expire");
        if (r != 1 && n < SESS_POLL_BATCH)
            return 0;
    }
    return 0;
}
