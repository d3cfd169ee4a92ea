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
    app->store = store_open(c->auth.users_db, 0, err, errsz);
    if (!app->store)
        return -1;
    app->deliver = deliver_open(c, err, errsz);
    if (!app->deliver)
        return -1;
    deliver_set_lock(app->deliver, &shm->hdr->outbox_lock);
    if (tpl_load_set(&app->tpl, c->http.html_root, err, errsz) < 0)
        return -1;
    char dir[CONF_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/static", c->http.html_root);
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

void app_handle(http_conn_t *c, http_request_t *req, void *ctx)
{
    app_t *app = ctx;
    route_dispatch(app, c, req, &app->self->route);
}
