/*
 * rate_check.c - generate's limits, local or shared by every node (see
 * rate_check.h).
 *
 * The Redis key names are a keyed hash of the limiter's keys, keyed with a
 * sub-key of the key file: every node holds the same file, so every node
 * names a key the same way, and whoever reads Redis learns neither the
 * addresses nor the IPs that ask. (A key rotation renames them all, which
 * hands every key a fresh burst once: the limits are about floods, and a
 * rotation is rare.)
 */
#include "app/rate_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/keyfile.h"
#include "core/metrics.h"
#include "core/ratelimit.h"
#include "core/rlstore.h"

typedef struct {
    app_t *app;
    http_conn_t *c;
    http_request_t *req;
    rate_done_fn done;
    rls_req_t *rq;
    int n;
    rate_limit_t lims[RATE_CHECK_MAX];
} rate_wait_t;

static void rate_local(app_t *app, http_conn_t *c, http_request_t *req, const rate_limit_t *lims,
                       int n, rate_done_fn done)
{
    uint64_t now = ev_now(http_server_loop(c->srv)), retry = 0;

    for (int i = 0; i < n; i++)
        if (!rl_hit(app->rl_zone, lims[i].key, lims[i].klen, lims[i].limit, lims[i].window_ms, now,
                    &retry)) {
            done(app, c, req, i, retry);
            return;
        }
    done(app, c, req, RATE_PASSED, 0);
}

static void rate_abort(http_conn_t *c)
{
    rate_wait_t *w = c->user;

    if (!w)
        return;
    rlstore_cancel(w->rq);
    c->user = NULL;
    free(w);
}

static void rate_answered(void *arg, int verdict, uint64_t retry_ms)
{
    rate_wait_t *w = arg;
    http_conn_t *c = w->c;

    c->user = NULL;
    c->on_abort = NULL;
    if (verdict == RLS_UNAVAILABLE) {
        mx_inc(&w->app->self->metrics, MX_RATE_FALLBACK);
        rate_local(w->app, c, w->req, w->lims, w->n, w->done);
    } else {
        w->done(w->app, c, w->req, verdict == RLS_ALLOWED ? RATE_PASSED : verdict, retry_ms);
    }
    free(w);
}

void rate_check(app_t *app, http_conn_t *c, http_request_t *req, const rate_limit_t *lims, int n,
                rate_done_fn done)
{
    rls_limit_t rl[RATE_CHECK_MAX];
    rate_wait_t *w;

    if (!app->rls || n > RATE_CHECK_MAX) {
        rate_local(app, c, req, lims, n, done);
        return;
    }
    w = malloc(sizeof *w);
    if (!w)
        goto local;
    w->app = app;
    w->c = c;
    w->req = req;
    w->done = done;
    w->n = n;
    memcpy(w->lims, lims, (size_t)n * sizeof *lims);
    for (int i = 0; i < n; i++) {
        rl[i].key = w->lims[i].key;
        rl[i].klen = w->lims[i].klen;
        rl[i].limit = w->lims[i].limit;
        rl[i].window_ms = w->lims[i].window_ms;
    }
    if (rlstore_hit(app->rls, rl, n, rate_answered, w, &w->rq) == 0) {
        c->user = w;
        c->on_abort = rate_abort;
        return;
    }
    free(w);
local:
    mx_inc(&app->self->metrics, MX_RATE_FALLBACK);
    rate_local(app, c, req, lims, n, done);
}

int rate_check_start(app_t *app, ev_loop_t *loop, char *err, size_t errsz)
{
    static const char info[] = "magicd rate-limit key names";
    const conf_rate_t *r = &app->conf->rate;
    uint8_t name_key[32];

    if (!r->store_on)
        return 0;
    if (keyfile_hkdf(app->keys.cur.csrf, sizeof app->keys.cur.csrf, NULL, 0, (const uint8_t *)info,
                     sizeof info - 1, name_key, sizeof name_key) < 0) {
        snprintf(err, errsz, "rate_limit_store: deriving the key names failed");
        return -1;
    }
    app->rls = rlstore_new(loop, r->store.host, r->store.port, r->store_timeout_ms, name_key,
                           &app->shm->hdr->metrics.rl_store_state, err, errsz);
    memset(name_key, 0, sizeof name_key);
    return app->rls ? 0 : -1;
}

void rate_check_stop(app_t *app)
{
    rlstore_free(app->rls);
    app->rls = NULL;
}
