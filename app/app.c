/*
 * app.c - the login application: setup after fork and request routing.
 *
 * Routing is a few string comparisons on the path: the route set is small
 * and fixed (DESIGN.md §2), so a table-driven router would only add
 * indirection. Before a handler runs, the route's id is published in the
 * worker's shm slot so CPU samples taken during it carry the `route` label;
 * it is cleared when the handler returns.
 *
 * Method handling: GET routes also answer HEAD; a known path with the wrong
 * method gets 405 with Allow; a method we do not implement at all gets 501.
 */
#include "app/app.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "app/route.h"
#include "app/delivery.h"
#include "app/page.h"
#include "core/ratelimit.h"
#include "app/routes.h"
#include "app/store.h"

int app_open(app_t *app, const conf_t *c, const keyring_t *keys, shm_t *shm, unsigned slot,
             char *err, size_t errsz)
{
    memset(app, 0, sizeof *app);
    app->conf = c;
    app->shm = shm;
    app->self = shm_slot(shm, slot);
    app->rl_zone = shm_ratelimit_zone(shm);
    app->keys = *keys;
    app->store = store_open(c->users_db, 0, err, errsz);
    if (!app->store)
        return -1;
    app->deliver = deliver_open(c, err, errsz);
    if (!app->deliver)
        return -1;
    deliver_set_lock(app->deliver, &shm->hdr->outbox_lock);
    if (tpl_load_set(&app->tpl, c->html_root, err, errsz) < 0)
        return -1;
    char dir[CONF_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/static", c->html_root);
    if (static_load(&app->statics, dir, err, errsz) < 0)
        return -1;
    return 0;
}

void app_close(app_t *app)
{
    if (app->store)
        store_close(app->store);
    if (app->deliver)
        deliver_close(app->deliver);
    tpl_free_set(&app->tpl);
    buf_free(&app->render);
    static_free(&app->statics);
    keyring_wipe(&app->keys);
}

void app_reopen(app_t *app)
{
    if (app->deliver && deliver_reopen(app->deliver) < 0)
        log_err("reopening the outbox failed: %s", deliver_error(app->deliver));
}

static int prefix(http_str_t p, const char *lit, http_str_t *rest)
{
    size_t n = strlen(lit);
    if (p.n < n || memcmp(p.p, lit, n))
        return 0;
    rest->p = p.p + n;
    rest->n = p.n - n;
    return 1;
}

/* A path parameter: non-empty and no further '/'. */
static int one_segment(http_str_t s)
{
    return s.n > 0 && !memchr(s.p, '/', s.n);
}

static void dispatch(app_t *app, http_conn_t *c, http_request_t *req)
{
    http_method_t m = req->method;
    int get = m == HTTP_M_GET || m == HTTP_M_HEAD, post = m == HTTP_M_POST;
    http_str_t path = req->path, rest;
    unsigned route = ROUTE_OTHER;
    int allowed = 0; /* path known */

#define RUN(id, call)                                                                              \
    do {                                                                                           \
        route = (id);                                                                              \
        atomic_store_explicit(&app->self->route, route, memory_order_relaxed);                     \
        call;                                                                                      \
        atomic_store_explicit(&app->self->route, ROUTE_NONE, memory_order_relaxed);                \
        return;                                                                                    \
    } while (0)

    if (m == HTTP_M_OTHER) {
        http_reply_error(c, 501, "method not implemented");
        return;
    }
    if (http_str_eq(path, "/")) {
        allowed = 1;
        if (get)
            RUN(ROUTE_HOME, route_home(app, c, req));
    } else if (http_str_eq(path, "/login")) {
        allowed = 1;
        if (get)
            RUN(ROUTE_LOGIN, route_login(app, c, req));
    } else if (http_str_eq(path, "/magic/generate")) {
        allowed = 1;
        if (post)
            RUN(ROUTE_GENERATE, route_generate(app, c, req));
    } else if (prefix(path, "/magic/verify/", &rest) && one_segment(rest)) {
        allowed = 1;
        if (get)
            RUN(ROUTE_VERIFY_PAGE, route_verify_page(app, c, req, rest));
        if (post)
            RUN(ROUTE_VERIFY, route_verify(app, c, req, rest));
    } else if (prefix(path, "/secure/", &rest) && one_segment(rest)) {
        allowed = 1;
        if (get)
            RUN(ROUTE_SECURE_PAGE, route_secure_page(app, c, req, rest));
        if (post)
            RUN(ROUTE_SECURE, route_secure(app, c, req, rest));
    } else if (http_str_eq(path, "/logout")) {
        allowed = 1;
        if (post)
            RUN(ROUTE_LOGOUT, route_logout(app, c, req));
    } else if (http_str_eq(path, "/healthz")) {
        allowed = 1;
        if (get)
            RUN(ROUTE_HEALTHZ, route_healthz(app, c, req));
    } else if (prefix(path, "/static/", &rest)) {
        allowed = 1;
        if (get)
            RUN(ROUTE_STATIC, static_serve(&app->statics, c, req, rest.p, rest.n));
    }
#undef RUN
    if (allowed) {
        http_reply_start(c, 405);
        http_reply_header(c, "Allow", "GET, HEAD, POST");
        page_error(app, c, 405, "This page does not accept that method.");
    } else {
        page_error(app, c, 404, "There is no such page.");
    }
}

void app_handle(http_conn_t *c, http_request_t *req, void *ctx)
{
    dispatch(ctx, c, req);
}
