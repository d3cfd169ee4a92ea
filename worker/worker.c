/*
 * worker.c - the worker process: event loop, signals, shm bookkeeping.
 *
 * A worker installs the profiler's samplers (the one place that happens,
 * first, so its setup's allocations are profiled), builds its application
 * state (keys, SQLite, delivery, templates) after fork,
 * registers the master's listening sockets in its epoll loop and serves
 * until told to stop:
 *
 *   QUIT        stop accepting, finish in-flight requests, close idle
 *               keep-alive connections, exit when none are left (or when
 *               shutdown_timeout passes)
 *   TERM, INT   exit now
 *   USR1        reopen the access log, error log and outbox
 *
 * A QUIT that retires the worker for a new generation (the master sets
 * `handoff` in our shm slot first: HUP, WINCH) stops reading the hand-off
 * channel and passes each connection, at its next request boundary, to a
 * current worker instead of closing it (core/handoff.h); a QUIT that stops
 * the server closes them as before. Current workers take connections from
 * the channel and serve them as their own.
 *
 * Signals are the child-process skeleton's (core/child_proc.h): they arrive
 * as an event in the loop and call the hooks below. The loop also wakes
 * every 100 ms so the profiler hook can start or stop sampling promptly.
 *
 * The connection observer mirrors each connection into the worker's shm
 * connection table (state, peer, request line, route) — what the profiler's
 * goroutine view shows — and keeps the counters the master reports.
 */
#include "worker/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/access_log.h"
#include "core/child_exit.h"
#include "core/child_proc.h"
#include "core/clock.h"
#include "core/event.h"
#include "core/handoff.h"
#include "core/http_conn.h"
#include "core/log.h"
#include "core/strcat.h"
#include "app/route.h"
#include "sampler/sampler.h"
#include "app/app.h"
#include "app/store.h"

#define LOOP_WAKE_MS 100
#define RETIRE_WAKE_MS 10 /* while handing connections off */
#define ADOPT_BATCH 64

typedef struct {
    const conf_t *conf;
    shm_t *shm;
    unsigned slot;
    shm_worker_t *self;
    shm_conn_t *conns;
    uint32_t nconns_tab;
    ev_loop_t *loop;
    http_server_t *srv[CONF_MAX_LISTEN];
    int srv_port[CONF_MAX_LISTEN];
    int nsrv;
    int hofd[2]; /* hand-off channel: [0] read (current), [1] write (retiring) */
    ev_io_t hio; /* reading [0]; fd -1 when not */
    char *hbuf;  /* bytes of a connection being taken over */
    access_log_t *alog;
    ev_timer_t flush_timer;
    app_t app;
    cproc_t cproc;
} worker_t;

/* ---- connection observer: shm table and counters ---- */

/* ip:port for the connection table, so a goroutine dump tells a client's
 * connections apart (peer_str, used for logs and rate limits, is the IP). */
static void peer_with_port(const http_conn_t *c, char *out, size_t n)
{
    unsigned port = 0;
    if (c->peer.ss_family == AF_INET)
        port = ntohs(((const struct sockaddr_in *)&c->peer)->sin_port);
    else if (c->peer.ss_family == AF_INET6)
        port = ntohs(((const struct sockaddr_in6 *)&c->peer)->sin6_port);
    snprintf(out, n, c->peer.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", c->peer_str, port);
}

static void conn_open(http_conn_t *c, void *ctx)
{
    worker_t *w = ctx;
    atomic_fetch_add_explicit(&w->self->accepted, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->self->active, 1, memory_order_relaxed);
    uint32_t n = w->nconns_tab;
    uint32_t start = (uint32_t)c->fd % n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = (start + i) % n;
        if (atomic_load_explicit(&w->conns[k].state, memory_order_relaxed) == SHM_CONN_FREE) {
            shm_conn_t *sc = &w->conns[k];
            sc->fd = c->fd;
            sc->route = 0;
            sc->nrequests = 0;
            sc->accepted_ms = c->accepted_ms;
            sc->state_ms = c->accepted_ms;
            peer_with_port(c, sc->peer, sizeof sc->peer);
            sc->request[0] = 0;
            atomic_store_explicit(&sc->state, SHM_CONN_READING, memory_order_release);
            c->slot = (int)k;
            return;
        }
    }
}

static void conn_state(http_conn_t *c, http_conn_state_t st, void *ctx)
{
    worker_t *w = ctx;
    if (c->slot < 0)
        return;
    shm_conn_t *sc = &w->conns[c->slot];
    uint32_t s;
    switch (st) {
    case HTTP_CONN_READING:
        s = SHM_CONN_READING;
        break;
    case HTTP_CONN_BODY:
        s = SHM_CONN_BODY;
        break;
    case HTTP_CONN_HANDLING: {
        s = SHM_CONN_HANDLING;
        sc_t r = sc_init(sc->request, sizeof sc->request); /* per request: no printf */
        sc_mem(&r, c->req->method_str.p, c->req->method_str.n);
        sc_mem(&r, " ", 1);
        sc_mem(&r, c->req->target.p, c->req->target.n);
        sc->nrequests++;
        break;
    }
    case HTTP_CONN_WRITING:
        s = SHM_CONN_WRITING;
        break;
    case HTTP_CONN_IDLE:
        s = SHM_CONN_IDLE;
        break;
    default:
        return;
    }
    sc->state_ms = ev_now(w->loop); /* the loop's clock: no clock_gettime per change */
    atomic_store_explicit(&sc->state, s, memory_order_release);
}

static void conn_closed(http_conn_t *c, void *ctx)
{
    worker_t *w = ctx;
    atomic_fetch_sub_explicit(&w->self->active, 1, memory_order_relaxed);
    if (c->slot >= 0)
        atomic_store_explicit(&w->conns[c->slot].state, SHM_CONN_FREE, memory_order_release);
    c->slot = -1;
}

static void conn_done(http_conn_t *c, int status, size_t bytes, uint64_t usec, void *ctx)
{
    worker_t *w = ctx;
    shm_worker_t *s = w->self;
    /* This worker is the slot's only writer (the master and the profiler
     * only read it while the worker lives): a load and a store, as mx_add
     * does for the metrics block, not a locked read-modify-write each. */
    mx_add(&s->requests, 1);
    mx_add(&s->bytes_out, bytes);
    int cls = status / 100 - 1;
    if (cls >= 0 && cls < SHM_ST_N)
        mx_add(&s->status[cls], 1);
    /* The route the request was dispatched to (0: answered before any
     * route, e.g. a malformed request). Not the shm slot's running route:
     * that is cleared when a handler returns, before a parked request
     * (smtp, outbox, a PostgreSQL store) is answered. */
    uint32_t route = c->tag;
    if (c->slot >= 0)
        w->conns[c->slot].route = route;
    mx_request(&s->metrics, route, status, usec);
    access_log_write(w->alog, c->peer_str, c->req,
                     c->slot >= 0 ? w->conns[c->slot].request_id : NULL, status, bytes, usec);
}

static void flush_log(ev_loop_t *l, ev_timer_t *t)
{
    worker_t *w = t->data;
    access_log_flush(w->alog);
    if (w->app.store)
        store_flush(w->app.store); /* queued auth events (SQLite) */
    ev_timer_set(l, t, w->conf->log.access_log_flush_ms ? w->conf->log.access_log_flush_ms : 1000);
}

/* ---- setup ---- */

/* What the configuration names cannot be used (templates, user store,
 * outbox, access log): starting again would fail the same way, so the
 * master is told why and stops instead of respawning (core/child_exit.h). */
static int config_failure(const char *err)
{
    log_emerg("worker cannot start: %s", err);
    child_exit_tell("%s", err);
    return CHILD_EXIT_CONFIG;
}

/* 0, CHILD_EXIT_CONFIG, or 1 (anything else: the master respawns it). */
static int worker_setup(worker_t *w, const keyring_t *keys, const int *lfds, int nlfds)
{
    char err[1024];
    const conf_t *c = w->conf;
    if (app_open(&w->app, c, keys, w->shm, w->slot, err, sizeof err) < 0)
        return config_failure(err);
    w->alog = access_log_open(c->log.access_log, c->log.access_log_format, c->log.access_log_buffer,
                              err, sizeof err);
    if (!w->alog && strcmp(c->log.access_log, "off") && c->log.access_log[0])
        return config_failure(err);
    w->loop = ev_loop_new();
    if (!w->loop) {
        log_error(MG_LOG_EMERG, errno, "epoll_create1() failed");
        return 1;
    }
    if (app_start(&w->app, w->loop, err, sizeof err) < 0)
        return config_failure(err);
    http_server_conf_t hc = {
        .lim = {.max_request_line = c->http.max_request_line,
                .max_header_bytes = c->http.max_header_size,
                .max_headers = c->http.max_headers},
        .max_body = c->http.max_body_size,
        .header_timeout_ms = c->http.header_timeout_ms,
        .body_timeout_ms = c->http.body_timeout_ms,
        .body_deadline_ms = c->http.body_deadline_ms,
        .max_connections_per_ip = c->http.max_connections_per_ip,
        .buffer_budget = c->http.worker_connection_memory,
        .idle_timeout_ms = c->http.keepalive_timeout_ms,
        .send_timeout_ms = c->http.send_timeout_ms,
        .max_connections = c->proc.worker_connections,
        .max_keepalive_requests = c->http.keepalive_requests,
        .server_name = "magicd",
    };
    http_observer_t obs = {
        .on_open = conn_open,
        .on_state = conn_state,
        .on_close = conn_closed,
        .on_done = conn_done,
        .ctx = w,
    };
    for (int i = 0; i < nlfds; i++) {
        http_server_t *s = http_server_new(w->loop, lfds[i], &hc, app_handle, &w->app);
        if (s && w->nsrv > 0)
            http_server_share(s, w->srv[0]); /* one budget, one per-IP table */
        if (!s || http_server_listen(s) < 0) {
            log_error(MG_LOG_EMERG, errno, "cannot serve listening socket %d", lfds[i]);
            return 1;
        }
        http_server_set_observer(s, &obs);
        w->srv_port[w->nsrv] = http_server_port(s);
        w->srv[w->nsrv++] = s;
    }
    ev_timer_init(&w->flush_timer, flush_log, w);
    ev_timer_set(w->loop, &w->flush_timer,
                 c->log.access_log_flush_ms ? c->log.access_log_flush_ms : 1000);
    return 0;
}

/* A connection handed off by a retiring worker: serve it on the server of
 * the port it was accepted on. */
static void handoff_ready(ev_loop_t *l, ev_io_t *io, uint32_t ev)
{
    (void)l;
    (void)ev;
    worker_t *w = io->data;
    if (!w->hbuf && !(w->hbuf = malloc(HANDOFF_MAX_BYTES)))
        return;
    for (int i = 0; i < ADOPT_BATCH; i++) {
        int fd;
        size_t n;
        if (handoff_recv(w->hofd[0], &fd, w->hbuf, HANDOFF_MAX_BYTES, &n) < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_error(MG_LOG_WARN, errno, "taking over a handed-off connection");
            return;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int port = -1;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
        http_server_t *s = w->srv[0];
        for (int k = 0; k < w->nsrv; k++)
            if (w->srv_port[k] == port)
                s = w->srv[k];
        http_server_adopt(s, fd, w->hbuf, n);
    }
}

static void handoff_listen(worker_t *w)
{
    if (w->hofd[0] < 0)
        return;
    w->hio = (ev_io_t){.fd = w->hofd[0], .cb = handoff_ready, .data = w};
    if (ev_io_add(w->loop, &w->hio, EPOLLIN | EPOLLEXCLUSIVE) < 0 &&
        ev_io_add(w->loop, &w->hio, EPOLLIN) < 0) {
        log_error(MG_LOG_WARN, errno, "cannot read the hand-off channel");
        w->hio.fd = -1;
    }
}

static int total_conns(worker_t *w)
{
    int n = 0;
    for (int i = 0; i < w->nsrv; i++)
        n += http_server_nconns(w->srv[i]);
    return n;
}

/* ---- the child-process skeleton's hooks ---- */

static void worker_reopen(void *ctx)
{
    worker_t *w = ctx;
    access_log_reopen(w->alog);
    app_reopen(&w->app);
}

static void worker_drain(void *ctx)
{
    worker_t *w = ctx;
    if (w->hio.fd >= 0)
        ev_io_del(w->loop, &w->hio); /* take no more: we are the ones leaving */
    w->hio.fd = -1;
    int handoff = w->hofd[1] >= 0 && atomic_load(&w->self->handoff);
    for (int i = 0; i < w->nsrv; i++) {
        if (handoff)
            http_server_set_handoff(w->srv[i], w->hofd[1]);
        http_server_drain(w->srv[i]);
    }
    if (handoff)
        log_notice("handing connections to the new worker processes");
}

static int worker_busy(void *ctx)
{
    return total_conns(ctx);
}

int worker_main(const conf_t *c, const keyring_t *keys, shm_t *shm, unsigned slot, int worker_no,
                const int *lfds, int nlfds, const int hofd[2])
{
    static worker_t w0;
    worker_t *w = &w0;
    w->conf = c;
    w->shm = shm;
    w->slot = slot;
    w->self = shm_slot(shm, slot);
    w->conns = shm_slot_conns(shm, slot);
    w->nconns_tab = shm->hdr->conns_per_slot;
    w->hofd[0] = hofd ? hofd[0] : -1;
    w->hofd[1] = hofd ? hofd[1] : -1;
    w->hio.fd = -1;
    cproc_ops_t ops = {.name = "worker",
                       .ctx = w,
                       .reopen = worker_reopen,
                       .drain = worker_drain,
                       .busy = worker_busy,
                       .drain_ms = c->proc.shutdown_timeout_ms};
    if (cproc_init(&w->cproc, &ops) < 0) {
        log_error(MG_LOG_EMERG, errno, "worker: signal pipe");
        return 2;
    }

    /* The samplers first, so the heap profile holds what setup allocates
     * (SQLite, OpenSSL, templates) and the heap inherited from the master. */
    prof_worker_init(c, shm, slot);
    int rc = worker_setup(w, keys, lfds, nlfds);
    if (rc != 0)
        return rc;
    handoff_listen(w);
    if (cproc_watch(&w->cproc, w->loop) < 0) {
        log_error(MG_LOG_EMERG, errno, "worker: watching the signal pipe");
        return 2;
    }
    w->self->started_ms = clock_mono_ms();
    log_info("worker %d (slot %u) serving", worker_no, slot);

    for (;;) {
        int draining = cproc_stopping(&w->cproc);
        if (ev_run_once(w->loop, draining ? RETIRE_WAKE_MS : LOOP_WAKE_MS) < 0 && errno != EINTR) {
            log_error(MG_LOG_ALERT, errno, "epoll_wait() failed");
            break;
        }
        uint64_t now = ev_now(w->loop);
        prof_worker_poll(now);
        app_tick(&w->app, now);       /* revocations from the store, every ~200 ms */
        cproc_handle(&w->cproc, now); /* a signal that interrupted epoll_wait */
        if (draining)
            for (int i = 0; i < w->nsrv; i++)
                http_server_retire(w->srv[i]); /* those that reached a boundary */
        if (cproc_done(&w->cproc, now))
            break;
    }
    access_log_close(w->alog);
    for (int i = 0; i < w->nsrv; i++)
        http_server_free(w->srv[i]);
    app_close(&w->app);
    free(w->hbuf);
    ev_loop_free(w->loop);
    log_info("worker %d exiting", worker_no);
    return 0;
}
