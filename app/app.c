/*
 * app.c - the login application: setup after fork and request routing.
 *
 * Routing is the route table's (route.c): app_handle hands each request to
 * route_dispatch with the worker's shm slot, where the running route's id
 * is published for the profiler's labels.
 */
#include "app/app.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "app/route.h"
#include "app/delivery.h"
#include "app/page.h"
#include "app/rate_check.h"
#include "core/ratelimit.h"
#include "app/routes.h"
#include "app/session.h"
#include "app/store.h"
#include "app/store_pg.h"
#include "app/store_pgw.h"
#include "app/session_cache.h"
#include "app/user_cache.h"
#include "core/revoke.h"

int app_open(app_t *app, const conf_t *c, const keyring_t *keys, shm_t *shm, unsigned slot,
             char *err, size_t errsz)
{
    memset(app, 0, sizeof *app);
    app->conf = c;
    app->shm = shm;
    app->self = shm_slot(shm, slot);
    request_id_init(&app->rid);
    app->conns = shm_slot_conns(shm, slot);
    app->rl_zone = shm_ratelimit_zone(shm);
    app->rv_zone = shm_revoke_zone(shm);
    app->sl_zone = shm_sesslive_zone(shm);
    app->keys = *keys;
    /* __Host- cookies are refused by browsers unless Secure, Path=/ and
     * without Domain, which is how page_set_cookie writes them. */
    app->ck_csrf = c->auth.cookie_secure ? "__Host-csrf" : "csrf";
    /* A __Host- cookie may not carry Domain: with cookie_domain (single
     * sign-on) the session cookie is __Secure- instead, still refused by
     * browsers over plain HTTP; the CSRF cookie stays __Host-. */
    app->ck_session = !c->auth.cookie_secure     ? "session"
                      : c->auth.cookie_domain[0] ? "__Secure-session"
                                                 : "__Host-session";
    app->users = user_cache_new();       /* NULL: every lookup asks the store */
    app->sessions = session_cache_new(); /* NULL: every cookie is opened */
    if (store_pg_is_url(c->auth.users_db)) {
        /* Connected from the loop, by app_start: the database may well be
         * down now, and the worker serves (503 for sign-in) until it is
         * back. Revocations come from it the same way (store_pgw.c). */
    } else if (!(app->store = store_open(c->auth.users_db, 0, err, errsz)) ||
               store_async_sqlite(&app->sa, app->store, app->users) < 0) {
        if (app->store)
            snprintf(err, errsz, "out of memory");
        return -1;
    }
    /* Every revocation in force before this worker serves its first
     * request (a fresh shared set after a restart or upgrade is empty). */
    if (app->store && session_poll(app, 0, 1) < 0) {
        snprintf(err, errsz, "reading the session revocations from %s: %s", c->auth.users_db,
                 store_errmsg(app->store));
        return -1;
    }
    app->deliver = deliver_open(c, err, errsz);
    if (!app->deliver)
        return -1;
    deliver_set_lock(app->deliver, &shm->hdr->outbox_lock);
    if (tpl_load_set(&app->tpl, c->http.html_root, err, errsz) < 0)
        return -1;
    if (mail_load(&app->mail, c->http.html_root, err, errsz) < 0)
        return -1;
    char dir[CONF_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/static", c->http.html_root);
    if (static_load(&app->statics, dir, err, errsz) < 0)
        return -1;
    return 0;
}

int app_start(app_t *app, ev_loop_t *loop, char *err, size_t errsz)
{
    if (store_pg_is_url(app->conf->auth.users_db)) {
        app->pgw =
            store_pgw_open(app->conf, loop, app->users, app->rv_zone, app->sl_zone, err, errsz);
        if (!app->pgw)
            return -1;
        store_pgw_async(app->pgw, &app->sa);
    }
    return rate_check_start(app, loop, err, errsz);
}

void app_close(app_t *app)
{
    rate_check_stop(app);
    sa_close(&app->sa);
    if (app->pgw)
        store_pgw_close(app->pgw);
    if (app->store)
        store_close(app->store);
    user_cache_free(app->users);
    session_cache_free(app->sessions);
    if (app->deliver)
        deliver_close(app->deliver);
    tpl_free_set(&app->tpl);
    mail_free(&app->mail);
    buf_free(&app->render);
    static_free(&app->statics);
    keyring_wipe(&app->keys);
}

void app_reopen(app_t *app)
{
    if (app->deliver && deliver_reopen(app->deliver) < 0)
        log_err("reopening the outbox failed: %s", deliver_error(app->deliver));
}

void app_tick(app_t *app, uint64_t mono_ms)
{
    session_poll(app, mono_ms, 0);
    if (app->pgw)
        store_pgw_tick(app->pgw, mono_ms);
}

void app_handle(http_conn_t *c, http_request_t *req, void *ctx)
{
    app_t *app = ctx;
    /* named for the access log and the CPU samples taken while it runs */
    /* kept in the connection's shm entry, where the access log takes it */
    char local[REQUEST_ID_MAX];
    char *id = c->slot >= 0 && (uint32_t)c->slot < app->shm->hdr->conns_per_slot
                   ? app->conns[c->slot].request_id
                   : local;
    request_id_assign(&app->rid, req, id);
    request_id_publish(app->self, id);
    route_dispatch(app, c, req, &app->self->route);
    request_id_clear(app->self);
}
