/*
 * prof_main.c - the profiler process: loop, signals, timers.
 *
 * profiler_main() runs the same event loop and HTTP code as the workers on
 * the socket the master opened for profiler_listen. Every 100 ms while a
 * CPU profile runs (always, with profile_continuous) it drains the
 * workers' CPU rings into the CPU jobs (prof_drain.c); every 250 ms it
 * archives the records of workers that exited (prof_archive.c).
 *
 * The profiler outlives reloads (the master keeps it while its socket
 * stays), so a profile spanning a HUP sees both generations of workers.
 * Exactly one process may consume the rings (they are single-consumer): a
 * respawned profiler writes its pid into prof_ctl.consumer_pid at start;
 * an older one that sees another pid there stops draining and answers its
 * CPU profiles with what it has, saying so.
 *
 * Signals: QUIT - stop accepting, answer running profiles now with what
 * they collected (their comments say they were cut short), finish
 * writing, exit 0. TERM/INT - the same with a one-second grace. USR1 -
 * reopen the error log (the master relays its own USR1). HUP and USR2 are
 * the master's business and ignored here. Workers keep
 * serving whatever happens here; CPU sampling stops by itself because
 * prof_ctl.cpu_until_ms is a deadline, not a flag.
 */
#include "profiler/profiler.h"
#include "sampler/sampler.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/child_proc.h"
#include "core/clock.h"
#include "core/log.h"
#include "profiler/prof_drain.h"
#include "profiler/prof_server.h"

static void pm_drain_tick(ev_loop_t *loop, ev_timer_t *t)
{
    prof_srv_t *s = t->data;
    prof_drain_history(s);
    prof_drain(s);
    int continuous = (int)atomic_load(&prof_ctl(s->shm)->continuous);
    if (prof_jobs_have(s, JOB_CPU) || continuous)
        ev_timer_set(loop, t, 100);
}

/* Every 250 ms: keep the records of workers that exited before a new
 * worker claims their slot. */
static void pm_archive_tick(ev_loop_t *loop, ev_timer_t *t)
{
    prof_srv_t *s = t->data;
    prof_archive_scan(&s->archive, s->shm);
    if (!atomic_load(&prof_ctl(s->shm)->continuous))
        prof_drain_history(s); /* turned off by a reload: close the open window */
    ev_timer_set(loop, t, 250);
}

static int pm_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "[::1]") == 0 || strcmp(host, "localhost") == 0;
}

/* ---- the child-process skeleton's hooks ---- */

static void pm_drain(void *ctx)
{
    prof_srv_t *s = ctx;
    s->quitting = 1;
    http_server_stop_accepting(s->http);
    prof_jobs_finish(s, 0, "the profiler is stopping (QUIT)");
    http_server_drain(s->http);
}

/* TERM: no drain, but a profile in progress is still answered with what it
 * has, saying so, and given a second to leave. */
static void pm_cut_short(prof_srv_t *s)
{
    if (!s->jobs)
        return;
    http_server_stop_accepting(s->http);
    prof_jobs_finish(s, 0, "the profiler is stopping (TERM)");
    http_server_drain(s->http);
    uint64_t end = clock_mono_ms() + 1000;
    while (http_server_nconns(s->http) > 0 && clock_mono_ms() < end)
        ev_run_once(s->loop, 50);
}

static int pm_busy(void *ctx)
{
    prof_srv_t *s = ctx;
    return http_server_nconns(s->http);
}

int profiler_main(const conf_t *c, shm_t *shm, int listen_fd)
{
    static prof_srv_t srv;
    prof_srv_t *s = &srv;
    memset(s, 0, sizeof *s);
    s->conf = c;
    s->shm = shm;
    cproc_t cp;
    cproc_ops_t ops = {.name = "profiler",
                       .ctx = s,
                       .drain = pm_drain,
                       .busy = pm_busy,
                       .drain_ms = c->proc.shutdown_timeout_ms};
    if (cproc_init(&cp, &ops) < 0)
        return 1;
    if (atomic_load(&prof_ctl(shm)->conf_seq) == 0)
        prof_ctl_init(shm, c);
    if (!pm_loopback(c->prof.listen.host))
        log_warn("profiler_listen %s:%s is not a loopback address: profiles show code, "
                 "memory and request lines to whoever can connect",
                 c->prof.listen.host, c->prof.listen.port);
    s->loop = ev_loop_new();
    if (!s->loop || cproc_watch(&cp, s->loop) < 0)
        return 1;
    http_server_conf_t hc;
    memset(&hc, 0, sizeof hc);
    hc.lim.max_request_line = c->http.max_request_line;
    hc.lim.max_header_bytes = c->http.max_header_size;
    hc.lim.max_headers = c->http.max_headers;
    hc.max_body = 1 << 20; /* symbol POST bodies */
    hc.header_timeout_ms = c->http.header_timeout_ms;
    hc.body_timeout_ms = c->http.body_timeout_ms;
    hc.idle_timeout_ms = c->http.keepalive_timeout_ms;
    hc.send_timeout_ms = c->http.send_timeout_ms;
    hc.max_connections = 64;
    hc.max_keepalive_requests = 0;
    hc.body_deadline_ms = c->http.body_deadline_ms;
    s->http = http_server_new(s->loop, listen_fd, &hc, prof_auth_handler, s);
    if (!s->http || http_server_listen(s->http) < 0) {
        log_err("profiler: cannot serve on the profiler socket");
        return 1;
    }
    /* Take the rings over from any older profiler, and drop what they hold. */
    atomic_store(&prof_ctl(shm)->consumer_pid, (int32_t)getpid());
    ev_timer_init(&s->drain_timer, pm_drain_tick, s);
    ev_timer_init(&s->archive_timer, pm_archive_tick, s);
    pm_archive_tick(s->loop, &s->archive_timer);
    prof_drain(s);
    if (atomic_load(&prof_ctl(shm)->continuous))
        ev_timer_set(s->loop, &s->drain_timer, 100);
    prof_srv_sym(s);
    log_notice("profiler process serving pprof on %s:%s", c->prof.listen.host, c->prof.listen.port);

    for (;;) {
        ev_run_once(s->loop, 100);
        cproc_handle(&cp, ev_now(s->loop));
        if (cproc_done(&cp, ev_now(s->loop)))
            break;
        if (atomic_load(&prof_ctl(shm)->consumer_pid) != (int32_t)getpid()) {
            /* Replaced: answer CPU profiles with what we have. */
            prof_jobs_finish(s, JOB_CPU, "another profiler process took the sample rings over");
        }
    }
    pm_cut_short(s);
    /* Leave no CPU profile wanted on our account. */
    if (atomic_load(&prof_ctl(shm)->consumer_pid) == (int32_t)getpid()) {
        atomic_store(&prof_ctl(shm)->cpu_until_ms, 0);
        atomic_store(&prof_ctl(shm)->consumer_pid, 0);
    }
    prof_hist_free(s->hist);
    s->hist = NULL;
    log_notice("profiler process exiting");
    return 0;
}
